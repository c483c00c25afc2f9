-- strategies/progressive.lua: complexity grows on a schedule.
--
--   strategy = require("strategies.progressive").new{
--     base = "evolution", base_opts = { population = 10 }, stages = 3, unlock_every = 20 }
--
-- Wraps a base strategy and hands it a restricted view of the space whose
-- domains widen with the number of told trials. At level f in (0, 1]:
--   choice  the first ceil(f * n) of its n values (list values from small to large)
--   int     lo .. lo + ceil(f * (hi - lo + 1)) - 1
--   bool    false only while f <= 1/2
--   float   lo .. lo + f * (hi - lo) (on the log scale for log decisions)
-- Every genotype of a view is a genotype of the space, and each view holds the
-- previous ones, so the base strategy's history stays valid as the view widens.
--
-- Options:
--   base          ("evolution") a strategy name (strategies/<name>.lua), a strategy
--                 module (a table with new) or a strategy object
--   base_opts     options for the base when it is a name or a module
--   stages        (3) number of levels: f = stage / stages
--   unlock_every  (25) told trials per stage
--   schedule      function(told) -> f in (0, 1]; replaces stages/unlock_every
-- Parallel workers: asks and tells pass through to the base, which keeps its
-- own pending bookkeeping; the level counts told trials only (pending asks do
-- not widen the view).
local util = require "nas.util"

local S = { name = "progressive" }
S.__index = S

local function check(opts)
  util.check_options(opts, { "base", "base_opts", "stages", "unlock_every", "schedule" }, 1, "progressive.new", 3)
  local o = { base = "evolution", stages = 3, unlock_every = 25 }
  for k, v in pairs(opts or {}) do o[k] = v end
  local function bad(msg) util.argerror(1, "progressive.new", msg, 4) end
  if math.type(o.stages) ~= "integer" or o.stages < 1 then bad("stages must be an integer >= 1") end
  if math.type(o.unlock_every) ~= "integer" or o.unlock_every < 1 then bad("unlock_every must be an integer >= 1") end
  if o.schedule ~= nil and type(o.schedule) ~= "function" then bad("schedule must be a function(told) -> (0, 1]") end
  if o.base_opts ~= nil and type(o.base_opts) ~= "table" then bad("base_opts must be a table") end
  local base = o.base
  if type(base) == "string" then
    local ok, mod = pcall(require, "strategies." .. base)
    if not ok then bad(("base '%s': %s"):format(base, tostring(mod))) end
    base = mod
  end
  if type(base) ~= "table" then bad("base must be a strategy name, module or object") end
  if type(base.ask) == "function" and type(base.tell) == "function" and type(base.new) ~= "function" then
    if o.base_opts then bad("base_opts is for a base given by name or module, not an object") end
  elseif type(base.new) == "function" then
    base = base.new(o.base_opts)
  elseif type(base.ask) ~= "function" then
    bad("base must be a strategy name, module or object")
  end
  o.base = base
  return o
end

function S.new(opts)
  local o = check(opts)
  return setmetatable({ opts = o, base = o.base, told = 0, views = setmetatable({}, { __mode = "k" }) }, S)
end

-- Level f in (0, 1] after `told` trials.
function S:level(told)
  local o = self.opts
  local f
  if o.schedule then
    f = o.schedule(told or self.told)
    if type(f) ~= "number" or f ~= f then error("progressive: schedule must return a number in (0, 1]", 2) end
  else
    f = math.min(o.stages, 1 + (told or self.told) // o.unlock_every) / o.stages
  end
  return math.min(math.max(f, 1e-9), 1)
end

local function restrictor(f)
  return function(d)
    if f >= 1 then return d end
    local k = d.kind
    if k == "choice" then
      local n = math.max(1, math.ceil(f * #d.values - 1e-9))
      return { kind = "choice", values = { table.unpack(d.values, 1, n) } }
    elseif k == "int" then
      local n = math.max(1, math.ceil(f * (d.hi - d.lo + 1) - 1e-9))
      return { kind = "int", lo = d.lo, hi = d.lo + n - 1 }
    elseif k == "bool" then
      if f <= 0.5 then return { kind = "choice", values = { false } } end
      return d
    end
    if d.log then
      return { kind = "float", lo = d.lo, hi = math.exp(math.log(d.lo) + f * (math.log(d.hi) - math.log(d.lo))),
               log = true }
    end
    return { kind = "float", lo = d.lo, hi = d.lo + f * (d.hi - d.lo), log = false }
  end
end

-- The space as the base strategy sees it now.
function S:view(space)
  local f = self:level()
  if f >= 1 then return space end
  local per = self.views[space]
  if not per then
    per = {}
    self.views[space] = per
  end
  if not per[f] then per[f] = space:restrict(restrictor(f), ("level %.3g"):format(f)) end
  return per[f]
end

function S:ask(space, rng)
  return self.base:ask(self:view(space), rng)
end

function S:tell(trial)
  self.told = self.told + 1
  self.base:tell(trial)
end

function S:state_summary()
  local s = ("progressive: %d told, level %.2f"):format(self.told, self:level())
  if type(self.base.state_summary) == "function" then s = s .. "; " .. self.base:state_summary() end
  return s
end

return S
