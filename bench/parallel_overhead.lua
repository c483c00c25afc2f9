-- bench/parallel_overhead.lua: what one coordinator of a parallel search costs.
--
--   nasrun bench/parallel_overhead.lua mode=search workers=32 [trials=3000] [sleep=0.02] [out=DIR]
--   mpirun --allow-run-as-root --oversubscribe -np 33 nasrun bench/parallel_overhead.lua mode=search workers=32
--   nasrun bench/parallel_overhead.lua mode=micro [n=5000]
--   nasrun bench/parallel_overhead.lua mode=search workers=8 sleep=0 profile=yes
--
-- mode=search: nas.search with `workers` workers (local processes, or the
-- ranks of mpirun: then workers must be the number of ranks - 1) over a
-- trivial space whose every trial is a distinct graph (a linear layer of
-- `id` outputs: a repeated graph would be settled by the coordinator without
-- a worker), asked by a list strategy (trial n is genotype { out = n }). The
-- evaluator sleeps `sleep` seconds (0: a zero-cost evaluator) and returns a
-- fixed metrics table.
--   Worker start-up (each worker is a nasrun that loads libtorch) is kept out
-- of the figures by a barrier: each worker's first trial waits until all
-- `workers` workers run their first trial. The search phase is then from the
-- first start of a later trial to the last finish (the store's worker-side
-- started/finished columns), and
--     utilisation = sum of the later trials' seconds / (workers x search phase)
--     coordinator CPU per trial = os.clock() of the coordinator over nas.search / trials
--     worker CPU per trial = each worker's os.clock() from the end of its barrier
--                            trial to the end of its last, summed, / later trials
--     rate = later trials / search phase (trials/s)
--     gap = a worker's wait from the end of a trial to the start of its next
--           (the round trip through the coordinator), median and 90th percentile
-- One RESULT line on the coordinator.
--
-- mode=micro: the coordinator's steps one by one, in this process, with no
-- workers: the strategy's ask + tell, the coordinator's prepare of a job
-- (space build, hash, to_json) that a worker repeats, the JSON encode/decode
-- of the two messages per trial, and the store's writes per trial (running_add
-- + insert) on a fresh store: each as operations per second.
local nas = require "nas"
local bench = require "bench.common"
local core = require "nas.core"
local json = require "nas.json"

local cpu0 = os.clock()
local o = bench.args{ mode = "search", workers = 32, trials = 3000, sleep = 0.02, out = "", n = 5000, seed = 1,
                      profile = "no" }
local search_mod = require "nas.search"
if o.out == "" then
  -- one name every process of the run derives alike (workers run this script too)
  o.out = ("/tmp/nas_overhead_%s_%d_%d"):format(o.mode, o.workers, o.trials)
end

-- Every genotype a distinct graph: a linear layer of `out` outputs.
local space = nas.space("distinct", function(c)
  local net = nas.net{ input = { 1, 4, 4 } }
  net:flatten()
  net:linear{ out = c:int("out", 1, 1000000000) }
  return net
end)

-- Trial n is { out = n } (asks count up; tells are ignored).
local List = { name = "list" }
List.__index = List
function List.new() return setmetatable({ n = 0 }, List) end
function List:ask() self.n = self.n + 1 return { out = self.n } end
function List:tell() end

local function loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local s = f:read("l")
  f:close()
  return s:match("^(%S+ %S+ %S+)") or s
end

if o.mode == "micro" then
  local n = o.n
  local function rate(name, f)
    collectgarbage("collect")
    local t0, c0 = bench.now(), os.clock()
    f()
    local wall, cpu = bench.now() - t0, os.clock() - c0
    print(("RESULT step=%-28s %9.0f /s  %8.1f us wall  %8.1f us CPU"):format(name, n / wall, 1e6 * wall / n,
      1e6 * cpu / n))
  end
  print(("coordinator steps, %d each (load %s)"):format(n, loadavg()))
  local lst = List.new()
  rate("ask+tell (list)", function()
    for id = 1, n do
      local g = lst:ask(space, nas.rng(1, id))
      lst:tell{ id = id, genotype = g, status = "ok", score = 0, metrics = {} }
    end
  end)
  for _, sname in ipairs{ "random", "evolution" } do
    local chain = require "spaces.chain"
    local st = sname == "random" and require("strategies.random").new()
               or require("strategies.evolution").new{ population = 20, sample = 5 }
    rate("ask+tell (" .. sname .. ", chain)", function()
      for id = 1, n do
        local rng = nas.rng(1, id)
        local _ = nas.rng(1, id, "train"):int(0, 0x7fffffff)
        local g = st:ask(chain, rng)
        st:tell{ id = id, genotype = g, status = "ok", score = (id * 7919 % 1000) / 1000, metrics = {} }
      end
    end)
  end
  local search = require "nas.search"
  local env = { space = space, constraints = require("nas.constraints").normalize(nil, 1), cache = {} }
  rate("prepare (build+hash+json)", function()
    for id = 1, n do search.prepare(env, id, { out = id }, 1, nil) end
  end)
  local done = { t = "done", id = 123, graph = select(2, search.prepare(env, 123, { out = 123 }, 1, nil)),
                 trial = { status = "ok", score = 0.5, metrics = { accuracy = 0.5, loss = 0.5, params = 1234,
                           flops = 1234, memory_mb = 0.01, layers = 2 }, hash = "0123456789abcdef",
                           started = 1.7e9, finished = 1.7e9 + 0.02, seconds = 0.02 } }
  local msg_t = { t = "trial", id = 123, genotype = { out = 123 }, seed = 42 }
  rate("json trial msg enc+dec", function()
    for _ = 1, n do json.decode(json.encode(msg_t)) end
  end)
  local sdone = json.encode(done)
  print(("INFO done message %d bytes"):format(#sdone))
  rate("json done msg enc+dec", function()
    for _ = 1, n do json.decode(json.encode(done)) end
  end)
  local dir = o.out .. "_micro"
  os.execute(("rm -rf '%s'"):format(dir))
  require("nas.store").mkdir(dir)
  local st = nas.store(dir)
  rate("store running_add+insert", function()
    for id = 1, n do
      st:running_add({ id = id, genotype = { out = id }, seed = 42, started = 1.7e9 }, 1)
      local t = { id = id, genotype = { out = id }, metrics = done.trial.metrics, score = 0.5, status = "ok",
                  hash = "0123456789abcdef", started = 1.7e9, finished = 1.7e9, seconds = 0.02, seed = 42, told = id,
                  worker = 1, host = "h", threads = 1 }
      st:insert(t, done.graph)
      st.nrunning = st.nrunning - 1
    end
  end)
  -- the same rows, 32 to a transaction (what a coordinator could do with the
  -- results of one wait): what one commit per trial costs
  local conn, base = st.conn, n
  st.nrunning = 0
  rate("store insert, 32 per commit", function()
    for b = 0, n - 1, 32 do
      assert(conn:execute("BEGIN IMMEDIATE"))
      for id = base + b + 1, base + math.min(b + 32, n) do
        local t = { id = id, genotype = { out = id }, metrics = done.trial.metrics, score = 0.5, status = "ok",
                    hash = "0123456789abcdef", started = 1.7e9, finished = 1.7e9, seconds = 0.02, seed = 42,
                    told = id, worker = 1, host = "h", threads = 1 }
        st:insert(t, done.graph)
      end
      assert(conn:execute("COMMIT"))
    end
  end)
  st:close()
  os.execute(("rm -rf '%s'"):format(dir))
  return
end

-- ---- mode=search ---------------------------------------------------------------

local barrier = o.out .. ".barrier"
local first = true
local function evaluate(_, ctx)
  if first then
    first = false
    local f = assert(io.open(barrier, "a"))
    f:write(core.pid(), "\n")
    f:close()
    while true do
      local n = 0
      for _ in io.lines(barrier) do n = n + 1 end
      if n >= o.workers then break end
      core.sleep(0.01)
    end
    return { accuracy = 0, barrier = 1, cpu = os.clock() }
  end
  if o.sleep > 0 then core.sleep(o.sleep) end
  return { accuracy = (ctx.genotype.out % 1000) / 1000, cpu = os.clock() }
end

-- profile=yes: the coordinator's CPU time inside each step (inclusive: the
-- store's writes include the JSON of the genotype they encode), per trial.
local prof = {}
local function wrap(tbl, key, label)
  local f = tbl[key]
  prof[#prof + 1] = { label = label, cpu = 0, calls = 0 }
  local p = prof[#prof]
  tbl[key] = function(...)
    local c = os.clock()
    local r = table.pack(f(...))
    p.cpu, p.calls = p.cpu + os.clock() - c, p.calls + 1
    return table.unpack(r, 1, r.n)
  end
end
if o.profile == "yes" and nas.role() == "coordinator" then
  local store_mod = require "nas.store"
  wrap(json, "encode", "json.encode")
  wrap(json, "decode", "json.decode")
  local dir = o.out .. ".probe"
  store_mod.mkdir(dir)
  local probe = store_mod.open(dir)
  local Store = getmetatable(probe).__index
  probe:close()
  os.execute(("rm -rf '%s'"):format(dir))
  wrap(Store, "insert", "store insert (trial row)")
  wrap(Store, "running_add", "store running_add")
  wrap(core, "send", "core.send")
  wrap(core, "recv", "core.recv")
  wrap(core, "poll", "core.poll")
  wrap(search_mod, "prepare", "search.prepare")
  wrap(List, "ask", "strategy ask")
  wrap(List, "tell", "strategy tell")
end

if nas.role() == "coordinator" then
  os.remove(barrier)
  os.execute(("rm -rf '%s'"):format(o.out)) -- a fresh run, never a resumed one
end
local c0, t0 = os.clock(), bench.now()
local load0 = loadavg()
nas.search{
  space = space, strategy = List.new(), evaluate = evaluate, objectives = function(m) return m.accuracy end,
  budget = { trials = o.trials }, seed = o.seed, out = o.out, progress = false, log = false, workers = o.workers,
}
if nas.role() ~= "coordinator" then return end
local cpu, wall = os.clock() - c0, bench.now() - t0
os.remove(barrier)

local st = nas.store(o.out)
local rows = st:trials()
st:close()
local t_lo, t_hi, busy, n, nbar, workers = math.huge, -math.huge, 0, 0, 0, {}
-- each worker's CPU seconds (os.clock() at the end of each trial): from its
-- barrier trial to its last trial, over the trials it ran in between
local wcpu = {}
for _, t in ipairs(rows) do
  assert(t.status == "ok" and not t.cached_from, "trial " .. t.id .. " " .. t.status .. " " .. tostring(t.reason))
  local w = t.worker or 0
  workers[w] = true
  local c = wcpu[w] or { lo = math.huge, hi = -math.huge, n = 0 }
  wcpu[w] = c
  c.lo, c.hi = math.min(c.lo, t.metrics.cpu), math.max(c.hi, t.metrics.cpu)
  if t.metrics.barrier then
    nbar = nbar + 1
  else
    c.n = c.n + 1
    n = n + 1
    t_lo, t_hi = math.min(t_lo, t.started), math.max(t_hi, t.finished)
    busy = busy + t.seconds
  end
end
local nw = 0
for _ in pairs(workers) do nw = nw + 1 end
local phase = t_hi - t_lo
local worker_cpu = 0
for _, c in pairs(wcpu) do worker_cpu = worker_cpu + (c.hi - c.lo) end
-- the round trip seen by a worker: from the end of one of its trials to the
-- start of its next (both on the worker's clock), median and 90th percentile
local by_worker, gaps = {}, {}
for _, t in ipairs(rows) do
  local w = t.worker or 0
  by_worker[w] = by_worker[w] or {}
  table.insert(by_worker[w], t)
end
for _, list in pairs(by_worker) do
  table.sort(list, function(a, b) return a.started < b.started end)
  for i = 2, #list do
    if not list[i - 1].metrics.barrier then gaps[#gaps + 1] = list[i].started - list[i - 1].finished end
  end
end
table.sort(gaps)
local function pct(q) return #gaps > 0 and gaps[math.max(1, math.ceil(q * #gaps))] or 0 / 0 end
print(("RESULT transport=%s workers=%d sleep_ms=%g trials=%d barrier_trials=%d workers_seen=%d search_phase_s=%.3f " ..
       "busy_s=%.3f utilisation=%.4f rate_per_s=%.1f coord_cpu_s=%.3f coord_cpu_ms_per_trial=%.4f " ..
       "coord_script_cpu_s=%.3f worker_cpu_ms_per_trial=%.4f gap_ms_median=%.3f gap_ms_p90=%.3f " ..
       "search_call_s=%.2f load_start=%s load_end=%s"):format(
  require("nas.util").config().mpi and "mpi" or "local", o.workers, 1000 * o.sleep, #rows, nbar, nw, phase, busy,
  busy / (o.workers * phase), n / phase, cpu, 1000 * cpu / #rows, os.clock() - cpu0, 1000 * worker_cpu / n,
  1000 * pct(0.5), 1000 * pct(0.9), wall, load0, loadavg()))
if o.profile == "yes" then
  for _, p in ipairs(prof) do
    print(("PROFILE %-26s %8d calls %8.1f us CPU per trial"):format(p.label, p.calls, 1e6 * p.cpu / #rows))
  end
  print(("PROFILE %-26s %8s       %8.1f us CPU per trial"):format("coordinator total", "", 1e6 * cpu / #rows))
end
