-- examples/fashion_mnist.lua: the main job.
--
--   nasrun examples/fashion_mnist.lua                  -- about 10 minutes on 2 CPU cores
--   nasrun examples/fashion_mnist.lua minutes=2 retrain_epochs=1 out=runs/quick
--
-- Regularized evolution over the chain space (conv blocks of chosen depth,
-- width, kernel, downsampling and skips) on Fashion-MNIST. Each candidate is
-- trained for one epoch on a fraction of the training split and scored on a
-- 5000-image validation split (never on the test set). The winner and a
-- hand-designed CNN are then retrained with the same recipe on all 60000
-- training images and measured on the 10000 test images.
--
-- Stop it with Ctrl-C and run it again: it resumes from runs/fmnist/trials.db.
-- See the trials: nasrun -e 'require"nas".show"runs/fmnist"'
local nas = require "nas"

-- key=value overrides from the command line
local opt = {
  trials = 200,          -- at most this many trials ...
  minutes = 5,           -- ... within this many minutes of searching
  fraction = 0.1,        -- fidelity: share of the training split per candidate (1 epoch)
  retrain_epochs = 3,    -- epochs of the final retraining (winner and baseline alike)
  params = 100000,       -- constraint: at most this many parameters
  mmacs = 5,             -- constraint: at most this many million multiply-accumulates per image
  population = 16,
  sample = 4,
  seed = 1,
  out = "runs/fmnist",
  baseline = "yes",      -- "no": skip the baseline
}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if not k or opt[k] == nil then
    error(("unknown argument '%s' (known: trials=, minutes=, fraction=, retrain_epochs=, params=, mmacs=, " ..
           "population=, sample=, seed=, out=, baseline=)"):format(a), 0)
  end
  opt[k] = type(opt[k]) == "number" and (math.tointeger(tonumber(v)) or tonumber(v)) or v
  if opt[k] == nil then error(("argument %s needs a number"):format(k), 0) end
end

local data = nas.data.fashion_mnist{ valid = 5000, seed = opt.seed }

-- One recipe for everything that is trained here.
local recipe = { batch = 128, optimizer = "sgd", lr = 0.05, momentum = 0.9, nesterov = true,
                 weight_decay = 5e-4, schedule = "cosine" }
local function with(t, extra)
  local o = {}
  for k, v in pairs(t) do o[k] = v end
  for k, v in pairs(extra) do o[k] = v end
  return o
end

local evaluator = nas.train(with(recipe, { data = data, epochs = 1, fraction = opt.fraction, latency_runs = 5 }))

local t0 = os.time()
local result = nas.search{
  space = require "spaces.chain",
  strategy = require("strategies.evolution").new{ population = opt.population, sample = opt.sample },
  evaluate = evaluator,
  objectives = function(m) return m.accuracy end,
  constraints = { params = opt.params, flops = opt.mmacs * 1e6 },
  budget = { trials = opt.trials, minutes = opt.minutes },
  seed = opt.seed,
  out = opt.out,
}
local best = result.best
if not best then error("no candidate finished; see " .. opt.out .. "/search.log", 0) end

print(("\nsearch: %d trials in %ds; best #%d: validation accuracy %.4f after 1 epoch on %.0f%% of the data, " ..
       "%d params, %.2f MMACs"):format(#result.trials, os.time() - t0, best.id, best.metrics.accuracy,
                                      opt.fraction * 100, best.metrics.params, best.metrics.flops / 1e6))
print(best:net():summary())

-- The hand-designed baseline: two conv-bn-relu-maxpool blocks and a linear head.
local function baseline_net()
  local net = nas.net{ input = { 1, 28, 28 } }
  net:conv{ out = 32, k = 3, bias = false }; net:bn(); net:relu(); net:maxpool{ k = 2 }
  net:conv{ out = 64, k = 3, bias = false }; net:bn(); net:relu(); net:maxpool{ k = 2 }
  net:gap()
  net:linear{ out = 10 }
  return net
end

print(("\nretraining the winner on all %d training images for %d epochs ..."):format(data.full_train:count(),
                                                                                    opt.retrain_epochs))
local found = best:retrain{ epochs = opt.retrain_epochs, seed = opt.seed }
local base
if opt.baseline ~= "no" then
  print(("retraining the baseline CNN the same way ..."))
  local bnet = baseline_net()
  base = assert(evaluator:retrain(bnet, { epochs = opt.retrain_epochs, seed = opt.seed }))
end

print(("\n%-28s %9s %8s %9s"):format("", "test acc", "params", "MMACs"))
print(("%-28s %9.4f %8d %9.2f"):format(("found (#%d)"):format(best.id), found.test_accuracy, found.params,
                                       found.flops / 1e6))
if base then
  print(("%-28s %9.4f %8d %9.2f"):format("baseline (2 conv + pool)", base.test_accuracy, base.params,
                                         base.flops / 1e6))
  if found.test_accuracy > base.test_accuracy then
    print(("the found net beats the baseline by %.2f points"):format(100 * (found.test_accuracy - base.test_accuracy)))
  else
    print(("the found net does NOT beat the baseline (%.2f points behind)"):format(
      100 * (base.test_accuracy - found.test_accuracy)))
  end
end
print(("total: %ds"):format(os.time() - t0))
return { result = result, found = found, baseline = base }
