-- bench/parallel_throughput.lua: trials per minute of a real Fashion-MNIST search.
--
--   nasrun [--workers N] [--threads T] bench/parallel_throughput.lua [trials=24] [fraction=0.05] [seed=1] [out=DIR]
--
-- Random search over spaces/chain.lua (widths 16/32, depth 2..4), each trial
-- trained for 1 epoch on `fraction` of the training split and scored on a
-- 5000-image validation split. Random search draws the same genotypes for the
-- same trial ids whatever the number of workers, so every configuration trains
-- the same nets. bench/parallel_throughput.sh runs it under several layouts and
-- times the whole command; this script prints, on the coordinator, one RESULT
-- line with the search's own figures read back from the store:
--   trials, ok, repeats, search_s (first trial start to last trial finish),
--   busy_s (sum of the trials' seconds), mean trial seconds, threads, workers.
local nas = require "nas"
local bench = require "bench.common"

local o = bench.args{ trials = 24, fraction = 0.05, seed = 1, out = "" }
if o.out == "" then
  local p = os.tmpname()
  os.remove(p)
  o.out = p .. "_nas_throughput"
end

local data = nas.data.fashion_mnist{ valid = 5000, seed = o.seed }
local evaluator = nas.train{ data = data, epochs = 1, fraction = o.fraction, batch = 128, optimizer = "sgd",
                             lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4, schedule = "cosine",
                             latency = false }
local space = require("spaces.chain").with{ widths = { 16, 32 }, max_depth = 4 }

local t0 = bench.now()
local r = nas.search{
  space = space, strategy = require("strategies.random").new(), evaluate = evaluator,
  objectives = function(m) return m.accuracy end,
  budget = { trials = o.trials }, seed = o.seed, out = o.out, progress = false, log = false,
}
local wall = bench.now() - t0
if nas.role() ~= "coordinator" then return end

local st = nas.store(o.out)
local first, last, busy, ok, rep, threads, workers = math.huge, -math.huge, 0, 0, 0, {}, {}
for _, t in ipairs(st:trials()) do
  if t.status == "ok" and not t.cached_from then ok = ok + 1 end
  if t.cached_from then rep = rep + 1 end
  if t.started and t.finished then
    first, last = math.min(first, t.started), math.max(last, t.finished)
    busy = busy + (t.seconds or 0)
  end
  if t.threads then threads[t.threads] = true end
  workers[t.worker or 0] = true
end
st:close()
local nw = 0
for _ in pairs(workers) do nw = nw + 1 end
local th = {}
for k in pairs(threads) do th[#th + 1] = tostring(k) end
print(("RESULT trials=%d ok=%d repeats=%d search_call_s=%.2f search_s=%.2f busy_s=%.2f mean_trial_s=%.2f " ..
       "workers_seen=%d worker_threads=%s best=%.4f"):format(#r.trials, ok, rep, wall, last - first, busy,
       busy / math.max(1, #r.trials), nw, #th > 0 and table.concat(th, ",") or "-", r.best and r.best.score or 0))
