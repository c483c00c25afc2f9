-- examples/custom_strategy.lua: a search strategy written in the script itself.
--
--   nasrun examples/custom_strategy.lua               -- about a minute on 2 CPU cores
--   nasrun examples/custom_strategy.lua trials=30 out=runs/es
--
-- A (1+1) evolution strategy: keep one parent (the best trial so far), ask a
-- mutant of it, and replace the parent when the mutant scores better. Every
-- few asks without improvement it mutates more decisions at once, and it
-- starts from a random sample. It follows the strategy contract
-- (docs/strategies.md):
--   * all randomness comes from the rng handed to ask (no math.random, no own rng);
--   * its state is only what tell has been told, so a resumed search (a new
--     object fed the stored trials through tell) asks what the original would;
--   * failed and rejected trials (score nil) never become the parent.
local nas = require "nas"

local OnePlusOne = {}
OnePlusOne.__index = OnePlusOne
OnePlusOne.name = "one_plus_one"

function OnePlusOne.new(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "patience" then error(("one_plus_one: unknown option '%s' (known: patience)"):format(tostring(k)), 2) end
  end
  return setmetatable({ patience = opts.patience or 5, parent = nil, stale = 0, told = 0 }, OnePlusOne)
end

function OnePlusOne:ask(space, rng)
  if not self.parent then return space:sample(rng) end
  -- one decision normally; after `patience` failures to improve, about a third of them
  local rate = self.stale >= self.patience and 0.3 or nil
  return space:mutate(self.parent.genotype, rng, rate)
end

function OnePlusOne:tell(trial)
  self.told = self.told + 1
  if trial.status ~= "ok" or trial.score == nil then
    self.stale = self.stale + 1
    return
  end
  if not self.parent or trial.score > self.parent.score then
    self.parent = { id = trial.id, genotype = trial.genotype, score = trial.score }
    self.stale = 0
  else
    self.stale = self.stale + 1
  end
end

function OnePlusOne:state_summary()
  if not self.parent then return ("1+1: %d told, no parent yet"):format(self.told) end
  return ("1+1: %d told, parent trial %s (%.4f), %d without improvement"):format(
    self.told, tostring(self.parent.id), self.parent.score, self.stale)
end

-- key=value overrides from the command line
local opt = { trials = 12, fraction = 0.05, seed = 1, out = "runs/custom_strategy" }
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if not k or opt[k] == nil then
    error(("unknown argument '%s' (known: trials=, fraction=, seed=, out=)"):format(a), 0)
  end
  opt[k] = type(opt[k]) == "number" and (math.tointeger(tonumber(v)) or tonumber(v)) or v
end

local result = nas.search{
  -- a small chain space: at most 4 blocks of 8 to 32 channels
  space = require("spaces.chain").with{ max_depth = 4, widths = { 8, 16, 32 } },
  strategy = OnePlusOne.new{ patience = 4 },
  evaluate = nas.train{ data = nas.data.fashion_mnist{ valid = 5000, seed = opt.seed }, epochs = 1,
                        fraction = opt.fraction, batch = 128, lr = 0.05, momentum = 0.9 },
  objectives = function(m) return m.accuracy end,
  constraints = { params = 100000 },
  budget = { trials = opt.trials },
  seed = opt.seed,
  out = opt.out,
}

local best = result.best
if not best then error("no trial succeeded", 0) end
print(("best: trial %d, validation accuracy %.4f, %d params"):format(best.id, best.metrics.accuracy,
                                                                       best.metrics.params))
local keys = {}
for k in pairs(best.genotype) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do print(("  %-8s = %s"):format(k, tostring(best.genotype[k]))) end
