-- bench/search_overhead.lua: the search loop's own cost per trial (target < 1 ms).
--
--   nasrun bench/search_overhead.lua [trials=10000] [strategy=evolution|random] [space=chain]
--
-- A no-op evaluator (returns a fixed-cost metrics table computed from nothing:
-- no training, no model) over `trials` trials of nas.search on spaces/chain.lua,
-- so what is timed is the loop: ask (evolution: tournament + mutate; random:
-- sample) + build the graph + hash + to_json + analytic metrics + score + store
-- write (one SQLite transaction per trial) + tell + progress/log line.
-- Three runs, each printed as ms/trial (wall, and CPU from os.clock()):
--   store  -- out = a fresh temporary folder (trials.db in WAL mode + search.log)
--   memory -- no out: nothing written
--   ask/tell only -- the strategy alone (no build, no store), for the breakdown
-- The no-op score is a deterministic function of the genotype, so evolution
-- really selects and mutates (a constant score would make every tournament a tie).
local nas = require "nas"
local bench = require "bench.common"

local o = bench.args{ trials = 10000, strategy = "evolution", keep = "no" }
local space = require "spaces.chain"
local function new_strategy()
  if o.strategy == "random" then return require("strategies.random").new() end
  return require("strategies.evolution").new{ population = 16, sample = 4 }
end

-- A made-up score from the genotype: deterministic, cheap, varied.
local function noop(_, ctx)
  local g, s = ctx.genotype, 0
  for k, v in pairs(g) do
    s = s + #k * (type(v) == "number" and v or #tostring(v))
  end
  return { accuracy = (s % 1000) / 1000, loss = 1 - (s % 1000) / 1000 }
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  return p .. "_nas_overhead"
end

local function run(out)
  collectgarbage("collect")
  local c0, t0 = os.clock(), bench.now()
  local r = nas.search{ space = space, strategy = new_strategy(), evaluate = noop, budget = { trials = o.trials },
                        seed = 1, out = out, log = false }
  local wall, cpu = bench.now() - t0, os.clock() - c0
  assert(#r.trials == o.trials, "not all trials ran")
  local ok, rep = 0, 0
  for _, t in ipairs(r.trials) do
    if t.status == "ok" then ok = ok + 1 end
    if t.cached_from then rep = rep + 1 end
  end
  return wall, cpu, ok, rep
end

print(("search-loop overhead: %d trials, strategy %s, space chain, no-op evaluator (clock: %s)"):format(
  o.trials, o.strategy, bench.clock))
local f = io.open("/proc/loadavg")
if f then print("load average: " .. f:read("l")) f:close() end

local dir = tmpdir()
local sw, sc, sok, srep = run(dir)
if o.keep ~= "yes" then os.execute(("rm -rf '%s'"):format(dir)) end
local mw, mc = run(nil)

-- ask + tell alone
local st = new_strategy()
collectgarbage("collect")
local c0, t0 = os.clock(), bench.now()
for id = 1, o.trials do
  local rng = nas.rng(1, id)
  local g = st:ask(space, rng)
  st:tell{ id = id, genotype = g, status = "ok", score = noop(nil, { genotype = g }).accuracy, metrics = {} }
end
local aw, ac = bench.now() - t0, os.clock() - c0

local function row(name, w, c)
  print(("%-34s %9.3f ms/trial wall  %9.3f ms/trial CPU"):format(name, 1e3 * w / o.trials, 1e3 * c / o.trials))
end
row("nas.search with store (out=)", sw, sc)
row("nas.search in memory (no out)", mw, mc)
row("ask + tell only", aw, ac)
print(("(store run: %d ok, %d repeats of an earlier graph)"):format(sok, srep))
bench.result("search_overhead_ms_store", 1e3 * sw / o.trials)
bench.result("search_overhead_ms_memory", 1e3 * mw / o.trials)
bench.result("search_overhead_ms_asktell", 1e3 * aw / o.trials)
-- The loop is single-threaded Lua + SQLite without fsync per commit, so on an idle
-- core wall time ~ CPU time; on a loaded machine wall time is CPU time / the share
-- of a core the process got. Both are judged.
local wall_ms, cpu_ms = 1e3 * sw / o.trials, 1e3 * sc / o.trials
print(("target < 1 ms/trial (with the store): CPU %.3f ms %s, wall %.3f ms %s (this process got %.0f%% of a core)")
  :format(cpu_ms, cpu_ms < 1 and "PASS" or "FAIL", wall_ms, wall_ms < 1 and "PASS" or "FAIL", 100 * sc / sw))
