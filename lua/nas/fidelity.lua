-- nas.fidelity: what the multi-fidelity strategies (strategies/hyperband.lua,
-- strategies/asha.lua) share: the fidelity option, successive-halving
-- arithmetic, ranking a rung, and the sampler that proposes new configurations.
--
-- A fidelity is the resource one trial gets: `epochs` (nas.train trains that
-- many epochs, continuing a promoted survivor from its parent's weights),
-- `fraction` (nas.train trains on that fraction of data.train, from scratch),
-- or `budget` (a plain number for an evaluator of your own to interpret).
-- The strategy returns it as ask's second value:
--   genotype, { epochs = 9, rung = 1, bracket = 3, parent = 17 }
-- See docs/multifidelity.md.
local util = require "nas.util"
local key = require("nas.space").genotype_key

local M = {}

M.RESOURCES = { "epochs", "fraction", "budget" }

-- The resource amount of a fidelity table (nil when it names none).
function M.level(f)
  if type(f) ~= "table" then return nil end
  local v = f.epochs or f.fraction or f.budget
  return type(v) == "number" and v or nil
end

-- Whether stored trial a ranks before trial b, the rule of a search's best
-- (nas.search, nasrun best, the report, export): a larger fidelity first (a
-- 27-epoch accuracy beats any 1-epoch one), then the higher score, then the
-- lower id. A trial's fidelity is trial.fidelity or trial.metrics.fidelity.
local function trial_level(t)
  local f = t.fidelity
  if f == nil and type(t.metrics) == "table" then f = t.metrics.fidelity end
  return M.level(f)
end

function M.ranks_before(a, b)
  local la, lb = trial_level(a), trial_level(b)
  if la ~= lb then
    if la == nil then return false end
    if lb == nil then return true end
    return la > lb
  end
  if a.score ~= b.score then return a.score > b.score end
  return (a.id or 0) < (b.id or 0)
end

-- Parses the fidelity options shared by hyperband and asha:
--   min_epochs, max_epochs              (shorthand for fidelity = {name = "epochs", ...})
--   fidelity = { name = "epochs" | "fraction" | "budget", min =, max = }
--   eta (3, an integer >= 2)
-- Returns { name, min, max, eta, integer } or raises at `level`.
function M.options(o, fname, level)
  level = level + 1
  local function bad(msg) util.argerror(1, fname, msg, level) end
  local f = o.fidelity
  if f ~= nil then
    if o.min_epochs ~= nil or o.max_epochs ~= nil then bad("give fidelity or min_epochs/max_epochs, not both") end
    if type(f) ~= "table" then bad("fidelity must be a table {name =, min =, max =}") end
    util.check_options(f, { "name", "min", "max" }, 1, fname .. " (fidelity)", level)
    f = { name = f.name or "epochs", min = f.min, max = f.max }
  else
    f = { name = "epochs", min = o.min_epochs or 1, max = o.max_epochs or 27 }
  end
  local known = false
  for _, r in ipairs(M.RESOURCES) do if f.name == r then known = true end end
  if not known then bad("fidelity.name must be 'epochs', 'fraction' or 'budget'") end
  if type(f.min) ~= "number" or type(f.max) ~= "number" or f.min <= 0 or f.max < f.min then
    bad("the fidelity needs numbers 0 < min <= max")
  end
  f.integer = f.name == "epochs"
  if f.integer and (math.type(f.min) ~= "integer" or math.type(f.max) ~= "integer") then
    bad("epochs fidelities must be integers")
  end
  if f.name == "fraction" and f.max > 1 then bad("a fraction fidelity must have max <= 1") end
  local eta = o.eta or 3
  if math.type(eta) ~= "integer" or eta < 2 then bad("eta must be an integer >= 2") end
  f.eta = eta
  -- s_max = floor(log_eta(max / min)), computed without log's rounding.
  local s, r = 0, f.min
  while r * eta <= f.max * (1 + 1e-12) do
    s = s + 1
    r = r * eta
  end
  f.s_max = s
  return f
end

-- The resource of a rung: max * eta^-(steps below the top), rounded to an
-- integer (at least min) for epochs.
function M.resource(f, below_top)
  local r = f.max / f.eta ^ below_top
  if f.integer then
    r = math.max(f.min, math.floor(r + 0.5))
    return math.tointeger(r) or r
  end
  return r
end

-- A fidelity table for resource r.
function M.make(f, r, fields)
  local t = { [f.name] = r }
  for k, v in pairs(fields) do t[k] = v end
  return t
end

-- Hyperband (Li et al. 2017, Algorithm 1) with R = max/min (in units of min)
-- and eta: for s = s_max .. 0, n = ceil((s_max + 1) / (s + 1) * eta^s) configs
-- at r = R * eta^-s; rung i has n_i = floor(n * eta^-i) configs at r_i = r * eta^i.
-- Returns { [s] = { n = n, rungs = { {n = n_i, r = r_i (resource units)}, ... } } }.
function M.hyperband_brackets(f)
  local out, eta, smax = {}, f.eta, f.s_max
  for s = smax, 0, -1 do
    local pow = eta ^ s // 1
    local n = ((smax + 1) * pow + s) // (s + 1) -- integer ceil
    n = math.tointeger(n)
    local rungs = {}
    for i = 0, s do
      rungs[#rungs + 1] = { n = n // math.tointeger(eta ^ i // 1), r = M.resource(f, s - i) }
    end
    out[s] = { s = s, n = n, rungs = rungs }
  end
  return out
end

-- Scored trials first (score descending, then id ascending); failed and
-- rejected ones (score nil) after, by id.
function M.rank(trials)
  local list = {}
  for i, t in ipairs(trials) do list[i] = t end
  table.sort(list, function(a, b)
    local sa, sb = a.score, b.score
    if sa ~= nil and sb ~= nil then
      if sa ~= sb then return sa > sb end
      return a.id < b.id
    end
    if sa ~= nil then return true end
    if sb ~= nil then return false end
    return a.id < b.id
  end)
  return list
end

-- The best k of `trials` that have a score (the ones a rung promotes).
function M.top(trials, k)
  local out = {}
  for _, t in ipairs(M.rank(trials)) do
    if #out >= k or t.score == nil then break end
    out[#out + 1] = t
  end
  return out
end

-- ---- the sampler of new configurations ---------------------------------------

-- sampler spec: "random" (default) | a strategy name under strategies/ ("tpe",
-- "bo", ...) | a strategy module (a table with new) | a strategy object.
--   random    one random search told every trial (it only avoids repeats)
--   name / module
--             BOHB-style (Falkner et al. 2018): the model is the strategy fitted
--             on the trials of ONE fidelity, the largest one with at least
--             `min_points` scored trials; until some fidelity has that many,
--             new configurations are random. The model is rebuilt from those
--             trials (replayed through a fresh instance's tell) at every ask of
--             a new configuration, so its state is a function of the told
--             trials only (replay-safe).
--   object    asked and told as is (every trial, all fidelities): it is yours.
local Sampler = {}
Sampler.__index = Sampler

-- load(name) -> module resolves a sampler given by name (the calling strategy
-- knows where strategies live; this module does not).
function M.sampler(spec, opts, min_points, fname, level, load)
  level = level + 1
  local function bad(msg) util.argerror(1, fname, msg, level) end
  local s = setmetatable({ seen = {}, by_level = {}, min_points = min_points or 10, opts = opts }, Sampler)
  if spec == nil or spec == "random" then
    if opts ~= nil then bad("sampler_opts: the random sampler has no options") end
    s.kind, s.name = "random", "random"
    return s
  end
  if type(spec) == "string" then
    local ok, mod = pcall(load, spec)
    if not ok then bad(("sampler '%s': %s"):format(spec, tostring(mod))) end
    s.name = spec
    spec = mod
  end
  if type(spec) ~= "table" then bad("sampler must be 'random', a strategy name, module or object") end
  if type(spec.new) == "function" then
    s.kind, s.module = "model", spec
    s.name = s.name or tostring(spec.name or "?")
    -- Fail now, at the caller's line, on bad sampler options.
    local ok, err = pcall(spec.new, opts)
    if not ok then bad("sampler_opts: " .. tostring(err)) end
  elseif type(spec.ask) == "function" and type(spec.tell) == "function" then
    if opts ~= nil then bad("sampler_opts is for a sampler given by name or module, not an object") end
    s.kind, s.object = "object", spec
    s.name = tostring(spec.name or (getmetatable(spec) and getmetatable(spec).name) or "object")
  else
    bad("sampler must be 'random', a strategy name, module or object")
  end
  return s
end

function Sampler:tell(trial)
  local g = trial.genotype
  if g ~= nil then self.seen[key(g)] = true end
  if self.kind == "object" then self.object:tell(trial) return end
  if self.kind == "model" then
    local lv = M.level(trial.fidelity)
    if lv ~= nil then
      local list = self.by_level[lv]
      if not list then
        list = { scored = 0 }
        self.by_level[lv] = list
      end
      list[#list + 1] = trial
      if trial.score ~= nil then list.scored = list.scored + 1 end
    end
  end
end

local REDRAWS = 8

-- A new configuration (or nil when an object sampler has none left).
function Sampler:ask(space, rng)
  local g
  if self.kind == "object" then
    g = self.object:ask(space, rng)
  elseif self.kind == "model" then
    local best_lv
    for lv, list in pairs(self.by_level) do
      if list.scored >= self.min_points and (best_lv == nil or lv > best_lv) then best_lv = lv end
    end
    if best_lv ~= nil then
      local inst = self.module.new(self.opts)
      for _, t in ipairs(self.by_level[best_lv]) do inst:tell(t) end
      g = inst:ask(space, rng)
      -- A model asks what it has not seen at this fidelity; avoid repeating
      -- a configuration seen at another one.
      local tries = 0
      while g ~= nil and self.seen[key(g)] and tries < REDRAWS do
        g = space:mutate(g, rng)
        tries = tries + 1
      end
    end
  end
  if self.kind ~= "object" and g == nil then
    for _ = 1, REDRAWS do
      g = space:sample(rng)
      if not self.seen[key(g)] then break end
    end
  end
  if g ~= nil then self.seen[key(g)] = true end
  return g
end

return M
