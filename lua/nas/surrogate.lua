-- nas.surrogate: a genotype encoding and a Gaussian-process regressor over it.
--
--   local sur = require "nas.surrogate"
--   local enc = sur.encoder()
--   enc:add(space:decisions(g))            -- learns the decisions' slots (first seen, first slot)
--   local code = enc:encode(space:decisions(g))
--   local gp = sur.gp{ lengthscales = {...}, noises = {...} }
--   gp:fit(codes, ys [, hyper])            -- hyper = {lengthscale, noise} or nil: pick by marginal likelihood
--   local mean, sd = gp:predict(code)
--   local view = gp:believer{ code1, ... }  -- conditioned on pending points (kriging believer): same mean,
--                                            -- smaller sd near them; view:predict / mean / sd / sd_bound
--   sur.expected_improvement(mean, sd, best, xi)
--
-- The encoding is one slot per decision, in the order decisions were first
-- seen. A choice or bool slot holds the value's index (0: the decision is not
-- active in this genotype); an int or float slot holds the value scaled to
-- [0, 1] (log scale for log floats), or false when inactive. The squared
-- distance between two codes is the number of differing categorical slots plus
-- the squared differences of the numeric ones (1 when only one side is
-- active): the squared Euclidean distance of a one-hot encoding scaled by
-- 1/sqrt(2), so a changed choice and a numeric move across its whole range
-- weigh the same.
--
-- The GP uses a Matern 5/2 kernel on that distance with one lengthscale, a
-- signal variance profiled out of the likelihood, and a noise ratio; the
-- lengthscale and noise come from a small grid, by marginal likelihood of the
-- standardised targets.
local la = require "nas.linalg"

local M = {}

local sqrt, exp, log = math.sqrt, math.exp, math.log

-- ---- encoding -----------------------------------------------------------------------

local Encoder = {}
Encoder.__index = Encoder

function M.encoder()
  return setmetatable({ slots = {}, by_name = {} }, Encoder)
end

-- Registers the decisions of one genotype (the list from space:decisions).
function Encoder:add(decs)
  for _, d in ipairs(decs) do
    if not self.by_name[d.name] then
      local s = { name = d.name, kind = d.kind }
      if d.kind == "choice" then
        s.index = {}
        for i, v in ipairs(d.values) do
          if s.index[v] == nil then s.index[v] = i end
        end
      elseif d.kind == "bool" then
        s.index = { [false] = 1, [true] = 2 }
      else
        s.lo, s.hi, s.log = d.lo, d.hi, d.log
        if s.log then s.lo, s.hi = log(d.lo), log(d.hi) end
        s.numeric = true
      end
      self.slots[#self.slots + 1] = s
      self.by_name[d.name] = s
    end
  end
end

function Encoder:encode(decs)
  local value = {}
  for _, d in ipairs(decs) do value[d.name] = d.value end
  local code = {}
  for i, s in ipairs(self.slots) do
    local v = value[s.name]
    if s.numeric then
      if v == nil then
        code[i] = false
      else
        local x = s.log and log(v) or v
        code[i] = s.hi > s.lo and (x - s.lo) / (s.hi - s.lo) or 0.5
      end
    else
      -- a value the slot has not seen (a decision re-declared with other values) is its own category
      code[i] = v == nil and 0 or (s.index[v] or -1)
    end
  end
  return code
end

function M.sqdist(a, b, n)
  local s = 0
  for i = 1, n do
    local x, y = a[i], b[i]
    if x ~= y then
      if x == false or y == false then s = s + 1
      elseif math.type(x) == "integer" then s = s + 1
      else local d = x - y; s = s + d * d end
    end
  end
  return s
end
local sqdist = M.sqdist

-- ---- kernel -----------------------------------------------------------------------------

local SQRT5 = sqrt(5)
-- Matern 5/2 correlation at squared distance d2 and lengthscale l.
function M.matern52(d2, l)
  local r = sqrt(d2) / l
  return (1 + SQRT5 * r + 5 / 3 * r * r) * exp(-SQRT5 * r)
end
local matern52 = M.matern52

-- The kernel at one lengthscale, memoised on integer squared distances (spaces
-- of choices only have a handful of them).
local function kernel_fn(l)
  local memo = {}
  return function(d2)
    if math.type(d2) == "integer" then
      local v = memo[d2]
      if not v then v = matern52(d2, l); memo[d2] = v end
      return v
    end
    return matern52(d2, l)
  end
end

-- ---- Gaussian process -------------------------------------------------------------------

local GP = {}
GP.__index = GP

-- opts: lengthscales (list, in units of the distance), noises (list of noise
-- variances relative to the signal variance).
function M.gp(opts)
  opts = opts or {}
  return setmetatable({ lengthscales = opts.lengthscales or { 0.5, 1, 2, 4 },
                        noises = opts.noises or { 1e-4, 1e-2, 0.1 } }, GP)
end

-- Profiled log marginal likelihood of standardised targets z under C = R + noise*I,
-- and the factor; nil when C is not positive definite.
local function evidence(D2, n, z, l, noise)
  local C, kf = {}, kernel_fn(l)
  for i = 1, n do
    local row, Di = {}, D2[i]
    for j = 1, i do row[j] = kf(Di[j]) end
    row[i] = 1 + noise
    C[i] = row
  end
  local L = la.cholesky(C, n)
  if not L then return nil end
  local alpha = la.cho_solve(L, z, n)
  local q = la.dot(z, alpha, n)
  if q <= 0 then q = 1e-300 end
  local lml = -0.5 * n * log(q / n) - 0.5 * la.logdet(L, n) - 0.5 * n * (1 + log(2 * math.pi))
  return lml, L, alpha, q / n
end

-- Fits the GP to codes (list of encodings, all of one encoder) and targets ys.
-- hyper = { lengthscale =, noise = } fixes the hyperparameters; otherwise the
-- grid point of highest marginal likelihood is chosen (and kept in self.hyper).
function GP:fit(codes, ys, hyper)
  local n = #codes
  assert(n >= 1 and #ys == n, "gp:fit needs as many targets as codes (at least one)")
  local width = 0
  for _, c in ipairs(codes) do width = math.max(width, #c) end
  local mean = 0
  for i = 1, n do mean = mean + ys[i] end
  mean = mean / n
  local var = 0
  for i = 1, n do var = var + (ys[i] - mean) ^ 2 end
  local sd = n > 1 and sqrt(var / (n - 1)) or 1
  if not (sd > 1e-12) then sd = 1 end
  local z = {}
  for i = 1, n do z[i] = (ys[i] - mean) / sd end
  local D2 = {}
  for i = 1, n do
    local row = {}
    for j = 1, i do row[j] = sqdist(codes[i], codes[j], width) end
    D2[i] = row
  end
  local best
  local grid = {}
  if hyper then
    grid[1] = hyper
  else
    for _, l in ipairs(self.lengthscales) do
      for _, nz in ipairs(self.noises) do grid[#grid + 1] = { lengthscale = l, noise = nz } end
    end
  end
  for _, h in ipairs(grid) do
    local noise = h.noise
    local lml, L, alpha, s2
    -- a grid point whose matrix is singular in floating point gets more jitter
    for _ = 1, 6 do
      lml, L, alpha, s2 = evidence(D2, n, z, h.lengthscale, noise)
      if lml then break end
      noise = math.max(noise * 10, 1e-8)
    end
    if lml and (not best or lml > best.lml) then
      best = { lml = lml, L = L, alpha = alpha, s2 = s2, hyper = { lengthscale = h.lengthscale, noise = noise } }
    end
  end
  assert(best, "gp:fit: no grid point gives a positive definite kernel matrix")
  self.n, self.width, self.codes = n, width, codes
  self.ymean, self.ysd = mean, sd
  self.L, self.alpha, self.s2, self.hyper, self.lml = best.L, best.alpha, best.s2, best.hyper, best.lml
  self.kf = kernel_fn(best.hyper.lengthscale)
  return self
end

-- Refits with fixed hyperparameters when the first `keep` codes are the ones
-- of the last fit (same encoding): the factor is extended row by row, O(n^2)
-- per new point instead of O(n^3). Falls back to a full fit otherwise.
function GP:update(codes, ys, hyper, keep)
  local n = #codes
  local same = self.L and self.hyper and hyper and self.hyper.lengthscale == hyper.lengthscale
               and self.hyper.noise == hyper.noise and keep and keep >= 1 and keep <= self.n and keep <= n
  if not same then return self:fit(codes, ys, hyper) end
  local width = self.width
  for _, c in ipairs(codes) do width = math.max(width, #c) end
  if width ~= self.width then return self:fit(codes, ys, hyper) end
  local L, noise, kf = self.L, hyper.noise, self.kf
  for i = keep + 1, #L do L[i] = nil end
  for i = keep + 1, n do
    local a, ci = {}, codes[i]
    for j = 1, i - 1 do a[j] = kf(sqdist(ci, codes[j], width)) end
    a[i] = 1 + noise
    if not la.cholesky_extend(L, i - 1, a) then
      self.L = nil
      return self:fit(codes, ys, hyper)
    end
  end
  local mean = 0
  for i = 1, n do mean = mean + ys[i] end
  mean = mean / n
  local var = 0
  for i = 1, n do var = var + (ys[i] - mean) ^ 2 end
  local sd = n > 1 and sqrt(var / (n - 1)) or 1
  if not (sd > 1e-12) then sd = 1 end
  local z = {}
  for i = 1, n do z[i] = (ys[i] - mean) / sd end
  self.alpha = la.cho_solve(L, z, n)
  local q = la.dot(z, self.alpha, n)
  self.s2 = q > 0 and q / n or 1e-300
  self.n, self.codes, self.ymean, self.ysd = n, codes, mean, sd
  return self
end

-- Posterior mean (in the targets' units) at `code`, and the correlations with
-- the training points (for GP:sd).
function GP:mean(code)
  local n, kf, codes, width = self.n, self.kf, self.codes, self.width
  local k = {}
  for i = 1, n do k[i] = kf(sqdist(code, codes[i], width)) end
  return self.ymean + self.ysd * la.dot(k, self.alpha, n), k
end

-- Posterior standard deviation of the latent function, from GP:mean's k.
function GP:sd(k)
  local n = self.n
  local v = la.solve_lower(self.L, k, n)
  local var = 1 - la.dot(v, v, n) -- latent variance (the noise is not added)
  if var < 1e-12 then var = 1e-12 end
  return self.ysd * sqrt(self.s2 * var)
end

-- An upper bound on GP:sd(k) without the O(n^2) solve: conditioning on the
-- single most correlated training point leaves at most 1 - k^2/(1 + noise)
-- of the prior variance, and more points only lower it.
function GP:sd_bound(k)
  local kmax = 0
  for i = 1, self.n do if k[i] > kmax then kmax = k[i] end end
  local var = 1 - kmax * kmax / (1 + self.hyper.noise)
  if var < 1e-12 then var = 1e-12 end
  return self.ysd * sqrt(self.s2 * var)
end

-- Posterior mean and standard deviation (in the targets' units) at `code`.
function GP:predict(code)
  local m, k = self:mean(code)
  return m, self:sd(k)
end

-- ---- kriging believer --------------------------------------------------------------------

-- The GP conditioned on extra points (pending asks) whose observations are its
-- own posterior mean there (the "kriging believer" of Ginsbourger, Le Riche and
-- Carraro 2010). Such observations leave the posterior mean unchanged
-- everywhere; only the variance shrinks around the extra points, so an
-- acquisition that grows with the sd turns away from them. The view shares the
-- fitted factor and extends a copy of its row list by one row per extra point
-- (O(n^2) each, no refit; the GP itself is not changed). An extra point that is
-- numerically a repeat of a point already in is skipped (it adds nothing).
-- Returns a view with the GP's mean / sd / sd_bound / predict.
local Believer = {}
Believer.__index = Believer

function GP:believer(extra)
  local n, width, kf, noise = self.n, self.width, self.kf, self.hyper.noise
  local L, codes = {}, {}
  for i = 1, n do L[i], codes[i] = self.L[i], self.codes[i] end
  local N = n
  for _, c in ipairs(extra or {}) do
    local a = {}
    for j = 1, N do a[j] = kf(sqdist(c, codes[j], width)) end
    a[N + 1] = 1 + noise
    if la.cholesky_extend(L, N, a) then
      N = N + 1
      codes[N] = c
    end
  end
  return setmetatable({ gp = self, L = L, codes = codes, N = N, n = n, width = width, kf = kf, s2 = self.s2,
                        ysd = self.ysd, noise = noise }, Believer)
end

-- Posterior mean (the GP's own) and the correlations with all points, real and believed.
function Believer:mean(code)
  local m, k = self.gp:mean(code)
  local codes, kf, width = self.codes, self.kf, self.width
  for i = self.n + 1, self.N do k[i] = kf(sqdist(code, codes[i], width)) end
  return m, k
end

function Believer:sd(k)
  local N = self.N
  local v = la.solve_lower(self.L, k, N)
  local var = 1 - la.dot(v, v, N)
  if var < 1e-12 then var = 1e-12 end
  return self.ysd * sqrt(self.s2 * var)
end

function Believer:sd_bound(k)
  local kmax = 0
  for i = 1, self.N do if k[i] > kmax then kmax = k[i] end end
  local var = 1 - kmax * kmax / (1 + self.noise)
  if var < 1e-12 then var = 1e-12 end
  return self.ysd * sqrt(self.s2 * var)
end

function Believer:predict(code)
  local m, k = self:mean(code)
  return m, self:sd(k)
end

-- Expected improvement over `best` (maximisation) with margin xi.
function M.expected_improvement(mean, sd, best, xi)
  local d = mean - best - (xi or 0)
  if sd <= 0 then return math.max(d, 0) end
  local z = d / sd
  return d * la.norm_cdf(z) + sd * la.norm_pdf(z)
end

return M
