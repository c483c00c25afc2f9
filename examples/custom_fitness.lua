-- examples/custom_fitness.lua: accuracy traded against latency by a fitness
-- function you write yourself.
--
--   nasrun examples/custom_fitness.lua                 -- about 3 minutes on 2 CPU cores
--   nasrun examples/custom_fitness.lua trials=4 fraction=0.02 out=runs/quick
--
-- The fitness is plain Lua over the trial's metrics (accuracy and loss on the
-- validation split, params, flops, memory_mb, latency_ms, train_s, ...).
-- Whatever it adds to the metrics table is stored with the trial.
local nas = require "nas"

local opt = { trials = 12, minutes = 3, fraction = 0.05, target_ms = 0.25, seed = 2, out = "runs/custom_fitness" }
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if not k or opt[k] == nil then error(("unknown argument '%s'"):format(a), 0) end
  opt[k] = type(opt[k]) == "number" and (math.tointeger(tonumber(v)) or tonumber(v)) or v
end

-- Every millisecond over the target costs 20 points of accuracy; below it,
-- speed earns nothing (a soft, one-sided penalty).
local function fitness(m)
  local over = math.max(0, m.latency_ms - opt.target_ms)
  m.latency_penalty = 0.2 * over
  return m.accuracy - m.latency_penalty
end

local data = nas.data.fashion_mnist{ valid = 5000, seed = opt.seed }
local result = nas.search{
  space = require("spaces.chain").with{ max_depth = 4, widths = { 8, 16, 32 } },
  strategy = require("strategies.random").new(),
  evaluate = nas.train{ data = data, epochs = 1, batch = 128, lr = 0.05, optimizer = "sgd", momentum = 0.9,
                        fraction = opt.fraction, latency_runs = 10 },
  objectives = fitness,
  constraints = { params = 50000 },
  budget = { trials = opt.trials, minutes = opt.minutes },
  seed = opt.seed,
  out = opt.out,
}

print(("\n%5s %9s %9s %9s %9s"):format("trial", "fitness", "accuracy", "lat_ms", "params"))
local ok = {}
for _, t in ipairs(result.trials) do
  if t.status == "ok" and not t.cached_from then ok[#ok + 1] = t end
end
table.sort(ok, function(a, b) return a.score > b.score end)
for _, t in ipairs(ok) do
  print(("%5d %9.4f %9.4f %9.3f %9d"):format(t.id, t.score, t.metrics.accuracy, t.metrics.latency_ms,
                                            t.metrics.params))
end
local b = result.best
if b then
  print(("\nbest trade-off: #%d  accuracy %.4f at %.3f ms (penalty %.4f)"):format(b.id, b.metrics.accuracy,
    b.metrics.latency_ms, b.metrics.latency_penalty))
end
-- The same trials seen as a Pareto front of accuracy against latency:
local front = nas.pareto(ok, { nas.maximize "accuracy", nas.minimize "latency_ms" })
local ids = {}
for _, t in ipairs(front) do ids[#ids + 1] = ("#%d"):format(t.id) end
print("pareto front (accuracy vs latency): " .. table.concat(ids, " "))
return result
