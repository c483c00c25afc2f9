-- strategies/tpe.lua: Tree-structured Parzen Estimator (Bergstra et al. 2011),
-- with Optuna's definitions (TPESampler / _ParzenEstimator, univariate mode).
--
--   strategy = require("strategies.tpe").new{ startup = 10, candidates = 24 }
--
-- After `startup` random asks, the scored trials are split into the best
-- gamma(n) ("below", l) and the rest ("above", g; failed and rejected trials
-- count as the worst). For each decision of the space, one Parzen estimator is
-- fitted to each group on the trials where that decision is active: a mixture
-- of one kernel per observation plus a prior kernel. `candidates` values are
-- drawn from l, and the one maximising l(x)/g(x) (the expected-improvement
-- criterion of TPE) is taken. Decisions are chosen one after another in the
-- order the space asks them, so a decision that only exists under some choices
-- (a conditional decision) is modelled on the trials where it was active; a
-- decision no told trial has used is drawn uniformly (the space's prior).
--
-- Kernels, as in Optuna:
--   choice / bool   a categorical kernel: mass 1 on the observed value plus prior_weight/(n+1) spread
--                   over all values (renormalised); the prior kernel is uniform
--   int             a normal truncated to [lo - 0.5, hi + 0.5], discretised to the integers
--   float           a truncated normal on [lo, hi] (on log(x) for log floats)
--   bandwidths: the distance to the farther neighbouring observation (the prior's mean and the domain's
--   ends count as neighbours; without consider_endpoints the two outermost kernels use their inner
--   neighbour only), clipped to [range / min(100, n + 2), range] (the "magic clip"); the prior
--   kernel sits at the domain's centre with the whole range as its bandwidth
--   weights: 1 for each observation, except that with more than 25 the older ones ramp linearly from
--   1/n up to 1 (the newest 25 weigh 1); the prior kernel weighs prior_weight
--
-- Options:
--   startup            (10)    random asks before the model is used (Optuna's n_startup_trials)
--   gamma              (nil)   nil: Optuna's min(ceil(0.1 n), 25) trials below; a number in (0, 1):
--                              ceil(gamma * n); a function(n) -> count
--   candidates         (24)    draws from l per decision (n_ei_candidates)
--   prior_weight       (1)     weight of the prior kernel
--   consider_endpoints (false) see bandwidths above
--   magic_clip         (true)  clip bandwidths (consider_magic_clip)
--   model              (true)  false: every ask is a random sample (the control for tests)
-- A genotype already told or pending is not asked again: the draw is repeated a
-- few times, then the last one is mutated until it is new. Everything is
-- derived from the told trials and the rng of the ask: a replay asks the same.
--
-- Parallel workers: pending asks are running trials under a constant liar, as
-- Optuna's TPESampler(constant_liar = True): they join the "above" group (the
-- worst), after the told trials, so l(x)/g(x) drops around them and the next
-- asks spread away; gamma(n) still counts told trials only. A tell releases its
-- pending ask whatever its status. Sequential runs (no pending ask) are unchanged.
local util = require "nas.util"
local la = require "nas.linalg"
local key = require("nas.space").genotype_key
local told = require "nas.told"

local S = { name = "tpe" }
S.__index = S

local REDRAWS = 8
local log, exp, sqrt = math.log, math.exp, math.sqrt
local EPS = 1e-12

local defaults = { startup = 10, gamma = nil, candidates = 24, prior_weight = 1, consider_endpoints = false,
                   magic_clip = true, model = true }
local allowed = { "startup", "gamma", "candidates", "prior_weight", "consider_endpoints", "magic_clip", "model" }

local function check(opts)
  util.check_options(opts, allowed, 1, "tpe.new", 3)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local function bad(msg) util.argerror(1, "tpe.new", msg, 4) end
  if math.type(o.startup) ~= "integer" or o.startup < 1 then bad("startup must be an integer >= 1") end
  if math.type(o.candidates) ~= "integer" or o.candidates < 1 then bad("candidates must be an integer >= 1") end
  if type(o.prior_weight) ~= "number" or not (o.prior_weight > 0) then bad("prior_weight must be a number > 0") end
  if o.gamma ~= nil and type(o.gamma) ~= "function"
     and (type(o.gamma) ~= "number" or not (o.gamma > 0 and o.gamma < 1)) then
    bad("gamma must be nil, a number in (0, 1) or a function(n) -> count")
  end
  for _, k in ipairs({ "consider_endpoints", "magic_clip", "model" }) do
    if type(o[k]) ~= "boolean" then bad(k .. " must be true or false") end
  end
  return o
end

function S.new(opts)
  local o = check(opts)
  return setmetatable(told.state{ opts = o, decs = {}, space = nil }, S)
end

-- self.liars: the pending asks in ask order (nas.told keeps them).
S.tell = told.tell
S._remember = told.remember

-- ---- Optuna's defaults ----------------------------------------------------------------

-- Number of trials in the "below" group.
local function n_below(o, n)
  local g = o.gamma
  local k
  if g == nil then k = math.min(math.ceil(0.1 * n), 25)
  elseif type(g) == "number" then k = math.ceil(g * n)
  else k = math.tointeger(g(n)) or math.floor(g(n)) end
  return math.max(0, math.min(n, k))
end
S.n_below = n_below

-- Weights of n observations in told order (oldest first).
local function weights_of(n)
  local w = {}
  if n < 25 then
    for i = 1, n do w[i] = 1 end
    return w
  end
  local ramp = n - 25
  for i = 1, ramp do
    w[i] = ramp == 1 and 1 / n or 1 / n + (1 - 1 / n) * (i - 1) / (ramp - 1)
  end
  for i = ramp + 1, n do w[i] = 1 end
  return w
end
local weights_memo = {}
-- (a fresh copy: callers append to it)
local function weights(n)
  local w = weights_memo[n]
  if not w then w = weights_of(n); weights_memo[n] = w end
  return table.move(w, 1, n, 1, {})
end
S.weights = weights

-- ---- Parzen estimators ------------------------------------------------------------------

local function norm_cdf(z) return la.norm_cdf(z) end

-- A mixture for one decision `d` (a record of space:decisions) from observed
-- values `obs` (in told order). Returns an object with :sample(rng) and :logpdf(v).
local Parzen = {}
Parzen.__index = Parzen

-- value -> index in the decision's domain (bools: false 1, true 2)
local function index_map(d)
  if d.kind == "bool" then return { [false] = 1, [true] = 2 } end
  local map = {}
  for i, x in ipairs(d.values) do if map[x] == nil then map[x] = i end end
  return map
end

local function categorical(d, obs, o)
  local K = d.kind == "bool" and 2 or #d.values
  local n = #obs
  local w = weights(n)
  local total = o.prior_weight
  for i = 1, n do total = total + w[i] end
  local fill = o.prior_weight / (n + 1)
  local denom = fill * K + 1
  -- the mixture's pmf: prior (uniform) + sum_i W_i (fill + [j == obs_i]) / denom
  local spread = o.prior_weight / total / K + (total - o.prior_weight) / total * fill / denom
  local pmf = {}
  for j = 1, K do pmf[j] = spread end
  for i = 1, n do
    local c = obs[i]
    pmf[c] = pmf[c] + w[i] / total / denom
  end
  return setmetatable({ kind = "cat", d = d, K = K, pmf = pmf }, Parzen)
end

local function numeric(d, obs, o)
  local step = d.kind == "int" and 1 or 0
  local low, high = d.lo, d.hi
  if d.log then low, high = log(low), log(high) end
  local n = #obs
  local mus = {}
  for i = 1, n do mus[i] = obs[i] end
  local prior_mu = 0.5 * (low + high)
  local range = high - low + step
  -- bandwidths: the farther neighbour among the sorted observations, the prior's mean and the ends
  local idx = {}
  for i = 1, n + 1 do idx[i] = i end
  local all = {}
  for i = 1, n do all[i] = mus[i] end
  all[n + 1] = prior_mu
  table.sort(idx, function(a, b)
    if all[a] ~= all[b] then return all[a] < all[b] end
    return a < b
  end)
  local srt = { [0] = low - step / 2, [n + 2] = high + step / 2 }
  for r = 1, n + 1 do srt[r] = all[idx[r]] end
  local sig = {}
  for r = 1, n + 1 do sig[r] = math.max(srt[r] - srt[r - 1], srt[r + 1] - srt[r]) end
  if not o.consider_endpoints and n + 3 >= 4 then
    sig[1] = srt[2] - srt[1]
    sig[n + 1] = srt[n + 1] - srt[n]
  end
  local sigmas = {}
  for r = 1, n + 1 do sigmas[idx[r]] = sig[r] end
  local maxs = range
  local mins = o.magic_clip and range / math.min(100, 1 + n + 1) or EPS
  for i = 1, n do sigmas[i] = math.min(math.max(sigmas[i], mins), maxs) end
  mus[n + 1], sigmas[n + 1] = prior_mu, range
  if not (range > 0) then -- a one-point domain
    for i = 1, n + 1 do sigmas[i] = 1 end
  end
  local w = weights(n)
  w[n + 1] = o.prior_weight
  local total = 0
  for i = 1, n + 1 do total = total + w[i] end
  local lo_t, hi_t = low - step / 2, high + step / 2
  local Z = {}
  for i = 1, n + 1 do
    w[i] = w[i] / total
    local z = norm_cdf((hi_t - mus[i]) / sigmas[i]) - norm_cdf((lo_t - mus[i]) / sigmas[i])
    Z[i] = math.max(z, EPS)
  end
  return setmetatable({ kind = "num", d = d, step = step, low = low, high = high, lo_t = lo_t, hi_t = hi_t,
                        mus = mus, sigmas = sigmas, w = w, Z = Z, m = n + 1 }, Parzen)
end

local function pick_kernel(w, m, rng)
  local u, acc = rng:uniform(), 0
  for i = 1, m do
    acc = acc + w[i]
    if u < acc then return i end
  end
  return m
end

-- A value of the decision drawn from the mixture, in the decision's own terms.
function Parzen:sample(rng)
  if self.kind == "cat" then -- drawing a kernel, then a value from it, is drawing from the pmf
    local j = pick_kernel(self.pmf, self.K, rng)
    if self.d.kind == "bool" then return j == 2 end
    return self.d.values[j]
  end
  local i = pick_kernel(self.w, self.m, rng)
  local mu, sg = self.mus[i], self.sigmas[i]
  local x
  for _ = 1, 100 do
    local y = mu + sg * rng:normal()
    if y >= self.lo_t and y <= self.hi_t then x = y break end
  end
  x = x or math.min(math.max(mu, self.lo_t), self.hi_t)
  if self.step > 0 then
    local v = math.floor(x + 0.5)
    return math.min(math.max(v, self.d.lo), self.d.hi)
  end
  if self.d.log then x = exp(x) end
  return math.min(math.max(x, self.d.lo), self.d.hi) + 0.0
end

-- log of the mixture's probability (mass for choices and ints, density for floats).
function Parzen:logpdf(v)
  if self.kind == "cat" then
    local j = index_map(self.d)[v]
    return log(math.max(j and self.pmf[j] or 0, EPS))
  end
  local s = 0
  if self.step > 0 then
    for i = 1, self.m do
      local mu, sg = self.mus[i], self.sigmas[i]
      s = s + self.w[i] * (norm_cdf((v + 0.5 - mu) / sg) - norm_cdf((v - 0.5 - mu) / sg)) / self.Z[i]
    end
  else
    local x = self.d.log and log(v) or v
    for i = 1, self.m do
      local sg = self.sigmas[i]
      local z = (x - self.mus[i]) / sg
      s = s + self.w[i] * exp(-0.5 * z * z) / (sg * sqrt(2 * math.pi) * self.Z[i])
    end
  end
  return log(math.max(s, EPS))
end

local function estimator(d, obs, o)
  if d.kind == "choice" or d.kind == "bool" then return categorical(d, obs, o) end
  return numeric(d, obs, o)
end

-- ---- asking ----------------------------------------------------------------------------

function S:_decisions(space, m)
  local d = self.decs[m.key]
  if not d then
    d = {}
    for _, r in ipairs(space:decisions(m.genotype) or {}) do d[r.name] = r.value end
    self.decs[m.key] = d
  end
  return d
end

-- Observed values of decision d in a group (told order), in the estimator's terms.
local function observations(self, space, group, d, map)
  local obs = {}
  for _, m in ipairs(group) do
    local v = self:_decisions(space, m)[d.name]
    if v ~= nil then
      if d.kind == "choice" or d.kind == "bool" then
        local j = map[v]
        if j then obs[#obs + 1] = j end
      elseif type(v) == "number" and v >= d.lo and v <= d.hi then
        obs[#obs + 1] = d.log and log(v) or v
      end
    end
  end
  return obs
end

-- The TPE value of one decision, or nil when no told trial has used it.
function S:_choose(space, d, below, above, rng)
  local cat = d.kind == "choice" or d.kind == "bool"
  local map = cat and index_map(d) or nil
  local ob, oa = observations(self, space, below, d, map), observations(self, space, above, d, map)
  if #ob == 0 and #oa == 0 then return nil end
  local o = self.opts
  local l, g = estimator(d, ob, o), estimator(d, oa, o)
  if cat then -- the same criterion, with log l - log g tabulated once per value
    local lr = {}
    for j = 1, l.K do lr[j] = log(math.max(l.pmf[j], EPS)) - log(math.max(g.pmf[j], EPS)) end
    local best, top
    for _ = 1, o.candidates do
      local j = pick_kernel(l.pmf, l.K, rng)
      if not top or lr[j] > top then best, top = j, lr[j] end
    end
    if d.kind == "bool" then return best == 2 end
    return d.values[best]
  end
  local best, top
  for _ = 1, o.candidates do
    local v = l:sample(rng)
    local s = l:logpdf(v) - g:logpdf(v)
    if not top or s > top then best, top = v, s end
  end
  return best
end

-- The pending asks that count as running trials (constant liar): each liar
-- while its key is still pending (pending counts are the reference; at most
-- that many per key), as { key, genotype, order } after every told trial.
function S:_running()
  local out, left = {}, {}
  local n = #self.history
  for _, l in ipairs(self.liars) do
    local c = left[l.key]
    if c == nil then c = self.pending[l.key] or 0 end
    if c > 0 then
      out[#out + 1] = { key = l.key, genotype = l.genotype, order = n + #out + 1 }
      c = c - 1
    end
    left[l.key] = c
  end
  return out
end

-- The two groups: the best n_below(#scored) scored trials, and the rest, failed
-- and rejected trials and the running ones (pending asks, the constant liar)
-- after them; both in told order (running trials last, in ask order).
function S:_split()
  local ranked, failed = {}, {}
  for _, m in ipairs(self.history) do
    if m.score then ranked[#ranked + 1] = m else failed[#failed + 1] = m end
  end
  table.sort(ranked, function(a, b)
    if a.score ~= b.score then return a.score > b.score end
    return a.order < b.order
  end)
  local k = n_below(self.opts, #ranked)
  local below, above = {}, {}
  for i, m in ipairs(ranked) do
    if i <= k then below[#below + 1] = m else above[#above + 1] = m end
  end
  for _, m in ipairs(failed) do above[#above + 1] = m end
  local function by_order(a, b) return a.order < b.order end
  table.sort(below, by_order)
  table.sort(above, by_order)
  if self.npending > 0 then
    for _, m in ipairs(self:_running()) do above[#above + 1] = m end
  end
  return below, above
end

-- One TPE genotype: decisions are chosen in the order the space asks them;
-- space:crossover(g, g, rng) keeps g's valid values and draws the decisions g
-- lacks (those that became active), which are then chosen in the next pass.
function S:_draw(space, rng, below, above)
  local g, chosen = {}, {}
  local full
  for _ = 1, 64 do
    full = space:crossover(g, g, rng)
    local changed = false
    for _, d in ipairs(space:decisions(full) or {}) do
      if not chosen[d.name] then
        chosen[d.name] = true
        local v = self:_choose(space, d, below, above, rng)
        if v == nil then v = full[d.name] end
        g[d.name] = v
        changed = true
      end
    end
    if not changed then break end
  end
  return full
end

function S:_fresh(g)
  return told.fresh(self, key(g))
end

function S:ask(space, rng)
  if self.space ~= space then self.space, self.decs = space, {} end
  local o = self.opts
  local g
  if not o.model or #self.scored < o.startup or #self.history + self.npending < o.startup then
    for _ = 1, REDRAWS do
      g = space:sample(rng)
      if self:_fresh(g) then break end
    end
    return self:_remember(g)
  end
  local below, above = self:_split()
  for _ = 1, REDRAWS do
    g = self:_draw(space, rng, below, above)
    if self:_fresh(g) then return self:_remember(g) end
  end
  for _ = 1, REDRAWS do -- the model keeps proposing told genotypes: step away from them
    g = space:mutate(g, rng)
    if self:_fresh(g) then break end
  end
  return self:_remember(g)
end

function S:state_summary()
  local s = ("tpe: %d told"):format(#self.history)
  if self.best then s = s .. (", best %.4g (trial %s)"):format(self.best.score, tostring(self.best.id)) end
  return s
end

return S
