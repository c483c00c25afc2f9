-- bench/report_bench.lua: the run report of a long search.
--
--   nasrun bench/report_bench.lua [trials=10000] [reps=3] [out=/tmp/report_bench] [browser=yes]
--
-- Makes a synthetic store of `trials` trials (an NB201-like genotype of six op
-- decisions plus a width and a learning rate, eight metrics and a 10-epoch
-- learning curve each, 5 % failed, 5 % rejected, 10 % repeats, four workers
-- whose trials overlap in time), then times report.write (the median of
-- `reps`), and loads the page in headless Chromium: its own render time (from
-- its script's start until every plot is drawn, and the milliseconds of each
-- section) and Chromium's wall time (browser start included). Targets: write
-- < 3 s, file < 5 MB, render < 3 s. report_write_cpu_s is the writing
-- process's CPU time, the figure to compare on a machine busy with other work.
local common = require "bench.common"
local nas = require "nas"
local json = require "nas.json"
local report = require "nas.report"
local store = require "nas.store"

local o = common.args{ trials = 10000, reps = 3, out = "/tmp/report_bench", browser = "yes" }
local dir = o.out
os.execute("rm -rf '" .. dir .. "'")

-- ---- the synthetic store ----------------------------------------------------------
local OPS = { "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3" }
local GAIN = { none = -0.02, skip_connect = 0, nor_conv_1x1 = 0.01, nor_conv_3x3 = 0.03, avg_pool_3x3 = 0.005 }
local rng = nas.rng(42)
local net = nas.net{ input = { 3, 32, 32 } }
net:conv{ out = 16, k = 3 }
net:bn()
net:relu()
net:conv{ out = 32, k = 3, stride = 2 }
net:relu()
net:gap()
net:linear{ out = 10 }
local graph = net:to_json()

local t_make = common.now()
local st = store.open(dir)
assert(st:fingerprint{ space = "nb201-like", seed = "42", objectives = "maximize accuracy, minimize params",
                       strategy = "synthetic" })
st:begin()
local clock = 1.7e9
local free = { clock, clock, clock, clock } -- when each worker is free
local seen = {}
for id = 1, o.trials do
  local g = { width = rng:choice({ 16, 32, 64 }), lr = 0.001 + 0.1 * rng:uniform() }
  local acc = 0.7
  for e = 1, 6 do
    local op = OPS[rng:int(1, 5)]
    g["edge_" .. e] = op
    acc = acc + GAIN[op]
  end
  acc = acc + 0.02 * math.log(g.width / 16) - 0.3 * (g.lr - 0.03) ^ 2 + 0.01 * rng:normal()
  local w = 1
  for k = 2, 4 do if free[k] < free[w] then w = k end end
  local secs = 5 + 20 * rng:uniform()
  local t = { id = id, genotype = g, seed = id, told = id, worker = w, started = free[w], finished = free[w] + secs,
              seconds = secs }
  free[w] = t.finished + 0.1
  local u = rng:uniform()
  local key = json.encode(g)
  if u < 0.05 then
    t.status, t.reason = "failed", "training loss is not finite (nan)"
    t.metrics = {}
  elseif u < 0.10 then
    t.status, t.reason = "rejected", ("params %d > 1000000"):format(1000000 + rng:int(1, 500000))
    t.metrics = { params = 1000000 + rng:int(1, 500000) }
  elseif u < 0.20 and seen[1] then
    local o_ = seen[rng:int(1, #seen)]
    t.genotype, t.status, t.score, t.cached_from = o_.genotype, "ok", o_.score, o_.id
    t.metrics = {}
  else
    local curve = {}
    for e = 1, 10 do curve[e] = acc * (1 - 0.6 ^ e) end
    local params = g.width * 1000 + rng:int(0, 5000)
    t.status, t.score = "ok", acc
    t.metrics = { accuracy = acc, loss = 1 - acc, params = params, flops = params * 30, latency_ms = 0.1 + params / 2e5,
                  memory_mb = params / 2e5, train_s = secs, epochs = 10, curve = curve }
    seen[#seen + 1] = t
  end
  if t.cached_from then st:insert_repeat(t, key) else st:insert(t, t.status == "ok" and graph or nil, key) end
end
st:commit()
st:close()
common.info("store_trials", o.trials)
common.info("store_seconds", ("%.2f"):format(common.now() - t_make))

-- ---- report.write --------------------------------------------------------------------
local times, cpu = {}, {}
local path
for i = 1, o.reps do
  collectgarbage("collect")
  local t0, c0 = common.now(), os.clock()
  path = report.write(dir)
  times[i], cpu[i] = common.now() - t0, os.clock() - c0
end
local f = assert(io.open(path, "rb"))
local size = f:seek("end")
f:close()
common.result("report_write_s", common.median(times))
common.result("report_write_cpu_s", common.median(cpu)) -- this process's CPU time: unaffected by a busy machine
common.result("report_file_mb", size / 1e6)

-- ---- headless Chromium -----------------------------------------------------------------
if o.browser == "yes" then
  local dom = dir .. "/report.dom.html"
  local t0 = common.now()
  local ok = os.execute(("timeout 300 chromium --headless --no-sandbox --disable-gpu --no-first-run " ..
                         "--virtual-time-budget=10000 --dump-dom 'file://%s' >%s 2>/dev/null"):format(path, dom))
  local wall = common.now() - t0
  local d = assert(io.open(dom, "rb"))
  local s = d:read("a")
  d:close()
  local rec = s:match('<pre id="nas%-selfcheck"[^>]*>(.-)</pre>')
  local r = rec and rec ~= "" and json.decode((rec:gsub("&quot;", '"'):gsub("&lt;", "<"):gsub("&gt;", ">")
                                                   :gsub("&amp;", "&"))) or {}
  if not ok or not r.render_ms then
    io.stderr:write("bench: Chromium did not render the page (is Debian's chromium installed?)\n")
  else
    common.result("report_render_s", r.render_ms / 1000)
    common.result("report_chromium_wall_s", wall)
    common.info("report_rows", r.rows)
    local ph = {}
    for k, v in pairs(r.phases or {}) do ph[#ph + 1] = ("%s=%d"):format(k, v) end
    table.sort(ph)
    common.info("report_render_phases_ms", table.concat(ph, ","))
    common.info("report_script_errors", #r.errors)
  end
end
print(("report of %d trials: write %.2f s (median of %d), %.2f MB%s"):format(o.trials, common.median(times), o.reps,
                                                                            size / 1e6, ""))
