-- examples/fashion_mnist.lua: the main job.
--
--   nasrun examples/fashion_mnist.lua                  -- ~10 min search + ~7 min retraining on 2 quiet cores
--   nasrun examples/fashion_mnist.lua minutes=2 retrain_epochs=1 out=runs/quick
--   nasrun examples/fashion_mnist.lua retrain_epochs=4 baseline=no    -- shorter: ~12 min in all
--
-- Regularized evolution over the chain space (conv blocks of chosen depth,
-- width, kernel, downsampling and skips, and a gap or flatten head) on
-- Fashion-MNIST. Each candidate is trained for one epoch on a fraction (20%)
-- of the training split and scored on a 5000-image validation split (never on
-- the test set). The winner and a hand-designed CNN (the "2 conv + pooling"
-- kind: conv32-pool-conv64-pool-flatten-linear) are then retrained with the same
-- recipe (retrain_epochs epochs, cosine schedule, horizontal flips) on all
-- 60000 training images and measured on the 10000 test images: the only use of
-- the test set. Target: test accuracy >= 91.6% with < 100k params.
--
-- It uses every core: one worker process per core (each with one intra-op
-- thread) trains candidates side by side, and the re-ranking and the final
-- retraining of the winner and the baseline run on the workers too
-- (workers=1: all in this process; `nasrun --workers N` sets the default).
--
-- Stop it with Ctrl-C and run it again: it resumes from runs/fmnist/trials.db.
-- It ends with runs/fmnist/report.html (the search as plots and a table) and
-- the winner's trained weights in runs/fmnist/best. Then:
--   nasrun show runs/fmnist                              the summary and best trials
--   nasrun export runs/fmnist --to pytorch winner/       model.py + weights.pt for PyTorch
local nas = require "nas"

-- key=value overrides from the command line
local opt = {
  trials = 400,          -- at most this many trials ...
  minutes = 10,          -- ... within this many minutes of searching
  fraction = 0.2,        -- fidelity: share of the training split per candidate (1 epoch)
  retrain_epochs = 8,    -- epochs of the final retraining (winner and baseline alike)
  params = 100000,       -- constraint: fewer than this many parameters
  mmacs = 5,             -- constraint: at most this many million multiply-accumulates per image
  population = 12,
  sample = 4,
  target = 0.916,        -- the issue's bar for the found net's test accuracy
  rerank = 4,            -- re-rank this many of the best at a higher fidelity (1: off)
  rerank_fraction = 0.5, -- ... 1 epoch on this share of the training split
  seed = 1,
  out = "runs/fmnist",
  baseline = "yes",      -- "no": skip the baseline
  workers = nas.config.workers or require("nas.core").cpus(), -- worker processes (1: none)
}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if not k or opt[k] == nil then
    error(("unknown argument '%s' (known: trials=, minutes=, fraction=, retrain_epochs=, params=, mmacs=, " ..
           "population=, sample=, seed=, out=, baseline=, target=, rerank=, rerank_fraction=, workers=)"):format(a), 0)
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

-- The retraining adds horizontal flips (clothes are left-right symmetric); the
-- 1-epoch search trials do without (augmentation only pays over several epochs).
local retrain_recipe = { epochs = opt.retrain_epochs, seed = opt.seed, augment = { flip = true } }

local evaluator = nas.train(with(recipe, { data = data, epochs = 1, fraction = opt.fraction, latency_runs = 5 }))

local has_system, system = pcall(require, "system")
local clock = has_system and system.gettime or os.time -- wall seconds; os.clock() is the process's CPU time
local function loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local s = f:read("l")
  f:close()
  return s:match("^(%S+ %S+ %S+)") or s
end
-- Runs fn(net) for the nets of `builders` (functions that build them) side by
-- side on the workers, through a search that asks each net once; returns
-- fn's metrics tables in order. Every process builds the same list: the
-- script runs on the workers too, up to its last search.
local function side_by_side(builders, fn)
  local list = { name = "list", build = function(_, g) return builders[g.i]() end }
  local asked = 0
  local each = {
    name = "each",
    ask = function() if asked < #builders then asked = asked + 1 return { i = asked } end end,
    tell = function() end,
  }
  local r = nas.search{
    space = list, strategy = each, evaluate = function(net, ctx) return fn(net, ctx.genotype.i) end,
    objectives = function() return 0 end, budget = { trials = #builders }, progress = false, log = false,
    workers = math.max(1, math.min(opt.workers, #builders)),
  }
  local out = {}
  for _, t in ipairs(r.trials) do
    if t.status ~= "ok" then error(("side by side: #%d failed: %s"):format(t.genotype.i, tostring(t.reason)), 0) end
    out[t.genotype.i] = t.metrics
  end
  return out
end

local t0, c0 = clock(), os.clock()
if nas.role() == "coordinator" then print(("load average at start: %s"):format(loadavg())) end
local space = require("spaces.chain").with{ widths = { 16, 32, 48, 64 }, heads = { "gap", "flatten" } }
local result = nas.search{
  space = space,
  strategy = require("strategies.evolution").new{ population = opt.population, sample = opt.sample },
  evaluate = evaluator,
  objectives = function(m) return m.accuracy end,
  constraints = { params = opt.params - 1, flops = opt.mmacs * 1e6 },
  budget = { trials = opt.trials, minutes = opt.minutes },
  seed = opt.seed,
  out = opt.out,
  workers = opt.workers,
  report = true,         -- <out>/report.html (nasrun report <out> writes it again at any time)
}
local best = result.best
if not best then error("no candidate finished; see " .. opt.out .. "/search.log", 0) end

local search_s, search_cpu = clock() - t0, os.clock() - c0
print(("\nsearch: %d trials in %.0fs (CPU %.0fs, load %s); best #%d: validation accuracy %.4f after 1 epoch " ..
       "on %.0f%% of the data, %d params, %.2f MMACs"):format(#result.trials, search_s, search_cpu, loadavg(), best.id,
                                      best.metrics.accuracy, opt.fraction * 100, best.metrics.params,
                                      best.metrics.flops / 1e6))

-- Re-ranking: at 1 epoch on 20% of the data the top candidates are within the
-- validation noise of each other (5000 images: +-0.5 points), and the ranking
-- favours small nets that converge in a few steps. The `rerank` best distinct
-- candidates are trained again at a higher fidelity (1 epoch on `rerank_fraction`
-- of the training split) and the best on the validation split wins. The test
-- split is still untouched.
if opt.rerank > 1 then
  local ok = {}
  for _, t in ipairs(result.trials) do
    if t.status == "ok" and not t.cached_from then ok[#ok + 1] = t end
  end
  table.sort(ok, function(a, b) if a.score ~= b.score then return a.score > b.score end return a.id < b.id end)
  local hi = nas.train(with(recipe, { data = data, epochs = 1, fraction = opt.rerank_fraction, latency = false }))
  print(("\nre-ranking the best %d at 1 epoch on %.0f%% of the training split (validation accuracy):"):format(
    math.min(opt.rerank, #ok), 100 * opt.rerank_fraction))
  local top, top_acc
  local builders = {}
  for i = 1, math.min(opt.rerank, #ok) do
    builders[i] = function() return assert(space:build(ok[i].genotype)) end
  end
  local ms = side_by_side(builders, function(net) return hi:evaluate(net, { seed = opt.seed }) end)
  for i, m in ipairs(ms) do
    local t = ok[i]
    print(("  #%-4d %6d params  search %.4f  re-ranked %.4f"):format(t.id, t.metrics.params, t.score, m.accuracy))
    if not top_acc or m.accuracy > top_acc then top, top_acc = t, m.accuracy end
  end
  best = top
  print(("re-ranking: %.0fs (CPU %.0fs); chosen #%d"):format(clock() - t0 - search_s, os.clock() - c0 - search_cpu,
                                                            best.id))
end
print(best:net():summary())

-- The hand-designed baseline, the "2 Conv+pooling" kind of the Fashion-MNIST
-- benchmark table: two conv-bn-relu-maxpool blocks (32 and 64 channels, 3x3)
-- and a linear classifier on the flattened 64x7x7 map (50.3k params).
local function baseline_net()
  local net = nas.net{ input = { 1, 28, 28 } }
  net:conv{ out = 32, k = 3, bias = false }; net:bn(); net:relu(); net:maxpool{ k = 2 }
  net:conv{ out = 64, k = 3, bias = false }; net:bn(); net:relu(); net:maxpool{ k = 2 }
  net:flatten()
  net:linear{ out = 10 }
  return net
end

print(("\nretraining the winner%s on all %d training images for %d epochs (cosine, flips)%s ..."):format(
  opt.baseline ~= "no" and " and the baseline CNN" or "", data.full_train:count(), opt.retrain_epochs,
  opt.workers > 1 and opt.baseline ~= "no" and ", side by side" or ""))
local winner = best
local finals = { function() return assert(space:build(winner.genotype)) end }
if opt.baseline ~= "no" then finals[2] = baseline_net end
local r0 = clock()
-- The winner's trained weights are kept in <out>/best (nasrun export <out> --to pytorch DIR).
local keep = { out = opt.out .. "/best", trial = winner.id, genotype = winner.genotype }
local done = side_by_side(finals, function(net, i)
  local t1 = clock()
  local m = assert(evaluator:retrain(net, i == 1 and with(retrain_recipe, keep) or retrain_recipe))
  m.history = nil
  m.wall_s = clock() - t1
  return m
end)
local found, base = done[1], done[2]
local found_s, base_s = found.wall_s, base and base.wall_s
local retrain_s = clock() - r0

print(("\n%-28s %9s %8s %9s"):format("", "test acc", "params", "MMACs"))
print(("%-28s %9.4f %8d %9.2f   retrain %.0fs"):format(("found (#%d)"):format(best.id),
  found.test_accuracy, found.params, found.flops / 1e6, found_s))
if base then
  print(("%-28s %9.4f %8d %9.2f   retrain %.0fs"):format("baseline (2 conv + pool)", base.test_accuracy,
    base.params, base.flops / 1e6, base_s))
  if found.test_accuracy > base.test_accuracy then
    print(("the found net beats the baseline by %.2f points"):format(100 * (found.test_accuracy - base.test_accuracy)))
  else
    print(("the found net does NOT beat the baseline (%.2f points behind)"):format(
      100 * (base.test_accuracy - found.test_accuracy)))
  end
end
local pass = found.test_accuracy >= opt.target and found.params < opt.params
print(("target: test accuracy >= %.1f%% with < %d params: %s (found %.2f%%, %d params)"):format(100 * opt.target,
  opt.params, pass and "PASS" or "FAIL", 100 * found.test_accuracy, found.params))
print(("total: %.0fs wall (search %.0fs, retraining %.0fs), %d worker%s; coordinator CPU %.0fs; " ..
       "load average now %s"):format(
  clock() - t0, search_s, retrain_s, opt.workers, opt.workers == 1 and "" or "s", os.clock() - c0, loadavg()))
print(("report: %s; the winner's weights: %s/best (nasrun export %s --to pytorch DIR)"):format(
  result.report or "not written", opt.out, opt.out))
return { result = result, found = found, baseline = base }
