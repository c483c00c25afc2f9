-- bench/search_quality.lua: evolution vs random search on the same budget and seeds.
--
--   nasrun bench/search_quality.lua [seeds=3] [trainings=24] [fraction=0.04] [valid=2000]
--                                   [population=8] [sample=3] [strategies=evolution,random]
--
-- Both strategies search the main job's space (spaces/chain.lua with widths
-- 16/32/48/64 and a gap|flatten head; < 100k params, <= 5 MMACs) with real
-- training at low fidelity: one epoch on `fraction` of the training split,
-- scored on a `valid`-image validation split. Search seed s is the same for both
-- strategies, so trial i trains with the same seed in both. The budget is a
-- number of trainings (trials that pass the analytic constraints and train),
-- not minutes, so the result does not depend on the machine's load; rejected
-- candidates (params/MACs over the limits) cost no training and do not count,
-- so random search is not charged for its many infeasible samples.
-- Prints the best validation accuracy per seed and strategy, the medians and
-- the verdict (evolution wins if its median is higher).
local nas = require "nas"
local bench = require "bench.common"

local o = bench.args{ seeds = 3, trainings = 24, fraction = 0.04, valid = 2000, population = 8, sample = 3,
                      strategies = "evolution,random", mmacs = 5, params = 100000 }
local names = {}
for s in tostring(o.strategies):gmatch("[^,]+") do names[#names + 1] = s end

local data = nas.data.fashion_mnist{ valid = o.valid, seed = 1 }
local evaluator = nas.train{ data = data, epochs = 1, fraction = o.fraction, batch = 128, optimizer = "sgd",
                             lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4, schedule = "cosine",
                             latency = false }
local space = require("spaces.chain").with{ widths = { 16, 32, 48, 64 }, heads = { "gap", "flatten" } }

local function make(name)
  if name == "evolution" then
    return require("strategies.evolution").new{ population = o.population, sample = o.sample }
  end
  return require("strategies." .. name).new()
end

-- Stops the search after `n` trainings: the wrapper's ask returns nil then.
local function budgeted(inner, counter, n)
  return {
    name = inner.name,
    ask = function(_, sp, rng)
      if counter.n >= n then return nil end
      return inner:ask(sp, rng)
    end,
    tell = function(_, t) return inner:tell(t) end,
  }
end

local has_system, system = pcall(require, "system")
local clock = has_system and system.gettime or os.time
local f = io.open("/proc/loadavg")
local load0 = f and f:read("l") or "?"
if f then f:close() end
print(("search quality: %s; %d seeds x %d trainings each; 1 epoch on %.0f%% of the training split, " ..
       "valid %d; evolution population %d, tournament %d; load average %s"):format(table.concat(names, " vs "),
       o.seeds, o.trainings, 100 * o.fraction, o.valid, o.population, o.sample, load0))

local best = {}      -- best[name][seed] = best validation accuracy
local curves = {}    -- curves[name][seed] = best-so-far after each training
local c0, t0 = os.clock(), clock()
for seed = 1, o.seeds do
  for _, name in ipairs(names) do
    local counter = { n = 0 }
    local ev = {
      evaluate = function(_, net, ctx)
        counter.n = counter.n + 1
        return evaluator:evaluate(net, ctx)
      end,
    }
    local ts = clock()
    local r = nas.search{ space = space, strategy = budgeted(make(name), counter, o.trainings), evaluate = ev,
                          constraints = { params = o.params - 1, flops = o.mmacs * 1e6 },
                          budget = { trials = 100000 }, seed = seed, log = false }
    local curve, b = {}, -1
    for _, t in ipairs(r.trials) do
      if t.status == "ok" and not t.cached_from then
        b = math.max(b, t.score)
        curve[#curve + 1] = b
      end
    end
    best[name] = best[name] or {}
    curves[name] = curves[name] or {}
    best[name][seed], curves[name][seed] = r.best and r.best.score or 0 / 0, curve
    local rej = 0
    for _, t in ipairs(r.trials) do if t.status == "rejected" then rej = rej + 1 end end
    print(("seed %d %-10s best valid acc %.4f  (%d trials: %d trained, %d rejected; %.0fs)"):format(seed, name,
      best[name][seed], #r.trials, counter.n, rej, clock() - ts))
    io.stdout:flush()
  end
end

print()
local header = ("%-10s"):format("strategy")
for s = 1, o.seeds do header = header .. ("  seed %-3d"):format(s) end
print(header .. "    median    mean")
local med = {}
for _, name in ipairs(names) do
  local line, sum = ("%-10s"):format(name), 0
  for s = 1, o.seeds do
    line = line .. ("  %8.4f"):format(best[name][s])
    sum = sum + best[name][s]
  end
  med[name] = bench.median(best[name])
  print(line .. ("  %8.4f  %6.4f"):format(med[name], sum / o.seeds))
  bench.result("quality_median_" .. name, med[name])
end
-- the median best-so-far after every quarter of the budget
for _, name in ipairs(names) do
  local line = ("%-10s best-so-far median after"):format(name)
  for _, q in ipairs({ 0.25, 0.5, 0.75, 1 }) do
    local k = math.max(1, math.floor(q * o.trainings + 0.5))
    local vals = {}
    for s = 1, o.seeds do
      local c = curves[name][s]
      vals[#vals + 1] = c[math.min(k, #c)] or 0 / 0
    end
    line = line .. (" %d: %.4f"):format(k, bench.median(vals))
  end
  print(line)
end
if med.evolution and med.random then
  local d = med.evolution - med.random
  print(("verdict: evolution %s random by %.2f points (median best validation accuracy)"):format(
    d > 0 and "beats" or (d == 0 and "ties" or "loses to"), 100 * math.abs(d)))
end
f = io.open("/proc/loadavg")
print(("time: %.0fs wall, CPU %.0fs; load average %s"):format(clock() - t0, os.clock() - c0, f and f:read("l") or "?"))
if f then f:close() end
