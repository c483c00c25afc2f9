-- Run by store_spec.lua under a real nasrun: a small search that writes to
-- the store given as arg[1], with arg[2] trials; each trial takes about 50 ms
-- (repeats of a graph too) so that the spec can kill the process mid-run.
local nas = require "nas"
local tiny = require "tests.lua.tiny_search"
local evaluators = require "nas.evaluators"
local out, trials = arg[1], math.tointeger(tonumber(arg[2] or "30"))

local ok, system = pcall(require, "system")
local function pause(s)
  if ok and system.sleep then system.sleep(s) return end
  local t = os.clock() + s
  while os.clock() < t do end
end

local space = tiny.space{ bad_rate = 0.1 }
local build = space.build
space.build = function(self, g)
  pause(0.05)
  return build(self, g)
end
local result = nas.search{
  space = space, strategy = tiny.strategy(), seed = 5, out = out, evaluate = evaluators.analytic(),
  objectives = { nas.maximize "accuracy", nas.minimize "params" },
  constraints = { params = 1000 },
  budget = { trials = trials },
}
print(("RESULT best=%d score=%.17g trials=%d pareto=%d"):format(result.best.id, result.best.score, #result.trials,
                                                             #result.pareto))
