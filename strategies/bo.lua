-- strategies/bo.lua: Bayesian optimisation with a Gaussian-process surrogate.
--
--   strategy = require("strategies.bo").new{ startup = 10, acquisition = "ei" }
--
-- After `startup` random asks, every ask fits a Gaussian process (nas.surrogate:
-- Matern 5/2 kernel on a one-hot / scaled encoding of space:decisions(g); its
-- lengthscale and noise picked from a small grid by marginal likelihood) to the
-- scored trials and asks the candidate of highest acquisition (expected
-- improvement, or an upper confidence bound). The candidates are a pool, as in
-- BANANAS (White et al. 2021): every untried one-decision neighbour
-- (space:neighbours) and `mutations` mutants of each of the `parents` best
-- trials, plus `candidates` random samples. Pooling around the incumbents makes
-- the acquisition optimisation local-search flavoured, which suits NAS spaces
-- (good cells have good neighbours) and keeps each ask cheap.
--
-- Options:
--   startup      (10)     random asks before the model is used
--   candidates   (10)     random samples in each pool
--   parents      (1)      best trials whose neighbours and mutants join the pool (trials whose
--                         neighbours and mutants have all been tried are skipped)
--   mutations    (0)      mutants (space:mutate) of each parent in the pool (for spaces with floats)
--   neighbours   (true)   add the parents' one-decision neighbours to the pool
--   acquisition  ("ei")   "ei" (expected improvement) or "ucb" (mean + beta * sd)
--   xi           (0)      EI margin, in the scores' units
--   beta         (2)      UCB width
--   max_points   (200)    the GP fits at most this many trials: the best half and the most recent rest
--   refit_growth (1.25)   the kernel's lengthscale/noise are re-chosen on the first c scored trials, for
--                         c = startup, then each time the scored trials grow by this factor (1: every ask)
--   lengthscales ({0.5, 1, 2, 4})   grid (in units of "one decision changed")
--   noises       ({1e-4, 1e-2, 0.1}) grid of noise variances relative to the signal variance
--   model        (true)   false: pick a random member of the pool (the control that shows what the GP adds)
-- Failed and rejected trials are never modelled (their score is unknown) but are
-- never asked again. Everything is derived from the told trials and the rng of
-- the ask: a replayed strategy asks the same. Pending asks are left out of the pools.
--
-- Parallel workers: the kriging believer (Ginsbourger et al. 2010). Pending
-- asks are believed to score the GP's posterior mean: the fitted GP is
-- conditioned on them by extending its Cholesky factor one row each (no refit;
-- the mean stays, the sd shrinks around them), so the acquisition turns to
-- other candidates; their believed means count for EI's incumbent. The GP
-- itself is refit (incrementally) only when a new scored trial is told.
local util = require "nas.util"
local key = require("nas.space").genotype_key
local sur = require "nas.surrogate"
local told = require "nas.told"

local S = { name = "bo" }
S.__index = S

local REDRAWS = 8

local defaults = {
  startup = 10, candidates = 10, parents = 1, mutations = 0, neighbours = true, acquisition = "ei", xi = 0,
  beta = 2, max_points = 200, refit_growth = 1.25, lengthscales = nil, noises = nil, model = true,
}
local allowed = { "startup", "candidates", "parents", "mutations", "neighbours", "acquisition", "xi", "beta",
                  "max_points", "refit_growth", "lengthscales", "noises", "model" }

local function positive_list(v)
  if type(v) ~= "table" or #v == 0 then return false end
  for _, x in ipairs(v) do if type(x) ~= "number" or not (x > 0) then return false end end
  return true
end

local function check(opts)
  util.check_options(opts, allowed, 1, "bo.new", 3)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local function bad(msg) util.argerror(1, "bo.new", msg, 4) end
  local function int(name, lo)
    if math.type(o[name]) ~= "integer" or o[name] < lo then bad(("%s must be an integer >= %d"):format(name, lo)) end
  end
  int("startup", 1); int("candidates", 0); int("parents", 0); int("mutations", 0); int("max_points", 2)
  if type(o.refit_growth) ~= "number" or o.refit_growth < 1 then bad("refit_growth must be a number >= 1") end
  if type(o.neighbours) ~= "boolean" then bad("neighbours must be true or false") end
  if type(o.model) ~= "boolean" then bad("model must be true or false") end
  if o.acquisition ~= "ei" and o.acquisition ~= "ucb" then bad("acquisition must be \"ei\" or \"ucb\"") end
  if type(o.xi) ~= "number" or o.xi < 0 then bad("xi must be a number >= 0") end
  if type(o.beta) ~= "number" or o.beta < 0 then bad("beta must be a number >= 0") end
  if o.lengthscales ~= nil and not positive_list(o.lengthscales) then
    bad("lengthscales must be a list of numbers > 0")
  end
  if o.noises ~= nil and not positive_list(o.noises) then bad("noises must be a list of numbers > 0") end
  if o.candidates == 0 and o.parents == 0 then bad("candidates and parents cannot both be 0 (empty pool)") end
  return o
end

function S.new(opts)
  local o = check(opts)
  return setmetatable(told.state{ opts = o, decs = {}, nbrs = {}, space = nil, hyper = nil, hyper_at = nil,
                        gp = sur.gp{ lengthscales = o.lengthscales, noises = o.noises } }, S)
end

S._fresh = told.fresh     -- by genotype key

-- self.liars: the pending asks in ask order (nas.told keeps them).
S.tell = told.tell
S._remember = told.remember

-- The pending asks the GP believes (kriging believer), as { key, genotype }:
-- each liar while its key is still pending, at most as many per key as pending.
function S:_believed()
  local out, left = {}, {}
  for _, l in ipairs(self.liars) do
    local c = left[l.key]
    if c == nil then c = self.pending[l.key] or 0 end
    if c > 0 then
      out[#out + 1] = l
      c = c - 1
    end
    left[l.key] = c
  end
  return out
end

-- Best first; ties by told order.
local function by_score(a, b)
  if a.score ~= b.score then return a.score > b.score end
  return a.order < b.order
end

-- The trials the GP fits, from the first `count` scored ones: all of them, or
-- the best half of max_points and the most recent rest.
function S:_fit_set(count)
  local cap = self.opts.max_points
  local list = {}
  for i = 1, count do list[i] = self.scored[i] end
  if count <= cap then return list end
  local ranked = {}
  for i, m in ipairs(list) do ranked[i] = m end
  table.sort(ranked, by_score)
  local take, out = {}, {}
  for i = 1, cap // 2 do take[ranked[i]] = true end
  local need = cap - cap // 2
  for i = count, 1, -1 do
    if need == 0 then break end
    if not take[list[i]] then take[list[i]] = true; need = need - 1 end
  end
  for _, m in ipairs(list) do if take[m] then out[#out + 1] = m end end
  return out
end

-- Decisions of a genotype (cached by key; the space is fixed per strategy).
function S:_decisions(space, g, k)
  local d = self.decs[k]
  if not d then
    d = space:decisions(g) or {}
    self.decs[k] = d
  end
  return d
end

function S:_neighbours(space, m)
  local n = self.nbrs[m.key]
  if not n then
    n = space:neighbours(m.genotype)
    self.nbrs[m.key] = n
  end
  return n
end

function S:_random(space, rng)
  local g
  for _ = 1, REDRAWS do
    g = space:sample(rng)
    if self:_fresh(key(g)) then break end
  end
  return g
end

-- The candidate pool: neighbours and mutants of the best trials, random samples.
function S:_pool(space, rng)
  local o = self.opts
  local pool, in_pool = {}, {}
  local function add(g)
    local k = key(g)
    if not in_pool[k] and self:_fresh(k) then
      in_pool[k] = true
      pool[#pool + 1] = { genotype = g, key = k }
    end
  end
  local ranked = {}
  for i, m in ipairs(self.scored) do ranked[i] = m end
  table.sort(ranked, by_score)
  -- parents: the best trials that still have an untried neighbour or mutant
  local used = 0
  for _, m in ipairs(ranked) do
    if used >= o.parents then break end
    local before = #pool
    if o.neighbours then
      for _, g in ipairs(self:_neighbours(space, m)) do add(g) end
    end
    for _ = 1, o.mutations do add(space:mutate(m.genotype, rng)) end
    if #pool > before then used = used + 1 end
  end
  for _ = 1, o.candidates do add(space:sample(rng)) end
  return pool
end

function S:ask(space, rng)
  if self.space ~= space then -- caches belong to one space
    self.space, self.decs, self.nbrs, self.hyper, self.hyper_at = space, {}, {}, nil, nil
  end
  local o = self.opts
  local n = #self.scored
  if n < o.startup or #self.history + self.npending < o.startup then
    return self:_remember(self:_random(space, rng))
  end
  local pool = self:_pool(space, rng)
  if #pool == 0 then return self:_remember(self:_random(space, rng)) end
  if not o.model then return self:_remember(pool[rng:int(1, #pool)].genotype) end

  -- the encoding: every told genotype's decisions, in told order
  local enc = sur.encoder()
  for _, m in ipairs(self.history) do enc:add(self:_decisions(space, m.genotype, m.key)) end
  local function fit_data(set)
    local codes, ys = {}, {}
    for i, m in ipairs(set) do
      codes[i] = enc:encode(self:_decisions(space, m.genotype, m.key))
      ys[i] = m.score
    end
    return codes, ys
  end
  -- hyperparameters: re-chosen on the first c scored trials, c on a geometric schedule
  local c = math.max(2, o.startup)
  while true do
    local nxt = math.max(c + 1, math.ceil(c * o.refit_growth))
    if nxt > n then break end
    c = nxt
  end
  if self.hyper_at ~= c then
    local set = self:_fit_set(c)
    local codes, ys = fit_data(set)
    self.gp:fit(codes, ys)
    self.hyper, self.hyper_at = self.gp.hyper, c
    self.fit_keys, self.fit_width = {}, #enc.slots
    for i, m in ipairs(set) do self.fit_keys[i] = m.key end
  end
  local set = self:_fit_set(n)
  local codes, ys = fit_data(set)
  -- the factor of the last fit is extended when the set only grew (and the encoding did not)
  local keep = 0
  if self.fit_width == #enc.slots then
    while keep < #set and self.fit_keys[keep + 1] == set[keep + 1].key do keep = keep + 1 end
  end
  -- asks with no tell in between (parallel workers) find the same set: the fit stands as is
  if not (keep == #set and #self.fit_keys == #set and self.gp.n == #set) then
    self.gp:update(codes, ys, self.hyper, keep)
    self.fit_keys, self.fit_width = {}, #enc.slots
    for i, m in ipairs(set) do self.fit_keys[i] = m.key end
  end
  local best = -math.huge
  for _, y in ipairs(ys) do if y > best then best = y end end

  -- pending asks (parallel workers): the kriging believer. The GP is conditioned
  -- on them with its own posterior mean as their observation (no refit: the
  -- factor is extended by one row each); the mean is unchanged, the sd shrinks
  -- near them, so EI and UCB turn to other candidates. Their believed values
  -- count for the incumbent, as in the original method.
  local gp = self.gp
  if self.npending > 0 then
    local extra = {}
    for i, l in ipairs(self:_believed()) do
      extra[i] = enc:encode(self:_decisions(space, l.genotype, l.key))
      local mean = gp:mean(extra[i])
      if mean > best then best = mean end
    end
    if #extra > 0 then gp = gp:believer(extra) end
  end

  -- acquisition: EI and UCB grow with the sd, and gp:sd_bound caps the sd cheaply,
  -- so candidates are scored in order of that bound and the search stops when no
  -- bound can beat the best exact value (the same pick as scoring them all)
  local ei = o.acquisition == "ei"
  local function acq(mean, sd)
    if ei then return sur.expected_improvement(mean, sd, best, o.xi) end
    return mean + o.beta * sd
  end
  local cands = {}
  for i, cand in ipairs(pool) do
    local mean, k = gp:mean(enc:encode(self:_decisions(space, cand.genotype, cand.key)))
    cands[i] = { i = i, mean = mean, k = k, bound = acq(mean, gp:sd_bound(k)) }
  end
  table.sort(cands, function(a, b)
    if a.bound ~= b.bound then return a.bound > b.bound end
    return a.i < b.i
  end)
  local pick, top = nil, -math.huge
  for _, cd in ipairs(cands) do
    if pick and cd.bound < top then break end
    local a = acq(cd.mean, gp:sd(cd.k))
    if a > top or (a == top and cd.i < pick.i) then pick, top = cd, a end
  end
  return self:_remember(pool[pick and pick.i or 1].genotype)
end

function S:state_summary()
  local s = ("bo: %d told"):format(#self.history)
  if self.hyper then s = s .. (", lengthscale %g, noise %g"):format(self.hyper.lengthscale, self.hyper.noise) end
  if self.best then s = s .. (", best %.4g (trial %s)"):format(self.best.score, tostring(self.best.id)) end
  return s
end

return S
