-- nas.report: the HTML report of a run, on real short searches
-- (tests/lua/report_script.lua under nasrun): the page's data against the
-- store, every section, the Pareto front, decision importance, escaping of a
-- hostile run, reports of a running search and of nearly empty runs, and
-- `nasrun report` on good and bad folders. The page in a real browser:
-- tests/browser/run.sh.
local helpers = require "tests.lua.helpers"
local json = require "nas.json"
local report = require "nas.report"
local page = require "nas.report_page"
local rgraph = require "nas.report_graph"
local stats = require "nas.report_stats"
local store = require "nas.store"
local objectives = require "nas.objectives"

local SCRIPT = "tests/lua/report_script.lua"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo EXIT=$?")
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("EXIT=(%d+)%s*$"))
  return out:gsub("EXIT=%d+%s*$", ""), code
end

local function search(kind, dir, n)
  local out, code = sh(("%s %s %s %s %s"):format(helpers.nasrun(), SCRIPT, kind, dir, n or ""))
  assert(code == 0, out)
  return out
end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function data_of(html)
  local s = assert(html:match('<script type="application/json" id="nas%-data">(.-)</script>'), "no data block")
  return json.decode(s)
end

local function count(s, plain)
  local n, i = 0, 1
  while true do
    local j = s:find(plain, i, true)
    if not j then return n end
    n, i = n + 1, j + 1
  end
end

local function stored(dir)
  local st = store.open(dir, { readonly = true })
  local t, info = st:trials(), st:run_info()
  st:close()
  return t, info
end

local function header(data)
  local h = {}
  for _, kv in ipairs(data.header) do h[kv[1]] = kv[2] end
  return h
end

describe("report statistics", function()
  local rng = require("nas.rng").new
  it("rates the decision that drives the score as important and the others near zero", function()
    local r = rng(1)
    local trials = {}
    for i = 1, 300 do
      local g = { a = r:choice({ 1, 2, 3, 4 }), b = r:choice({ "x", "y" }), c = r:uniform() }
      trials[i] = { id = i, status = "ok", genotype = g, metrics = {}, score = g.a * 0.1 + 0.01 * r:uniform() }
    end
    local imp = stats.importance(trials)
    assert.are.equal(300, imp.n)
    local by = {}
    for _, d in ipairs(imp.decisions) do by[d.name] = d end
    assert.are.equal("a", imp.decisions[1].name)
    assert.is_true(by.a.importance > 0.95, by.a.importance)
    assert.is_true(by.b.importance < 0.02, by.b.importance)
    assert.is_true(by.c.importance < 0.02, by.c.importance)
    -- a's marginals: one group per value, in order, each mean near 0.1 * value
    assert.are.equal(4, #by.a.groups)
    for i, g in ipairs(by.a.groups) do
      assert.are.equal(tostring(i), g.label)
      assert.is_true(math.abs(g.mean - 0.1 * i - 0.005) < 0.002, g.mean)
    end
    -- c has 300 distinct numbers: binned into quantile bins
    assert.is_true(by.c.binned)
    assert.are.equal(stats.BINS, #by.c.groups)
    local n = 0
    for _, g in ipairs(by.c.groups) do n = n + g.n end
    assert.are.equal(300, n)
  end)

  it("counts each genotype once, at its largest fidelity; a missing decision is a group of its own", function()
    local trials = {
      { id = 1, status = "ok", genotype = { a = 1 }, metrics = { fidelity = { epochs = 3 } }, score = 0.1 },
      { id = 2, status = "ok", genotype = { a = 1 }, metrics = { fidelity = { epochs = 9, rung = 1 } }, score = 0.9 },
      { id = 3, status = "ok", genotype = { a = 2, b = true }, metrics = {}, score = 0.5 },
      { id = 4, status = "failed", genotype = { a = 3 }, metrics = {}, reason = "x" },
      { id = 5, status = "ok", genotype = { a = 2, b = false }, metrics = {}, score = 0.4, cached_from = 3 },
    }
    local d = stats.distinct(trials)
    assert.are.same({ 2, 3 }, { d[1].id, d[2].id })
    local imp = stats.importance(trials)
    assert.are.equal(2, imp.n)
    for _, dd in ipairs(imp.decisions) do
      assert.is_nil(dd.importance) -- 2 genotypes: too few to rate
      if dd.name == "b" then
        assert.are.same({ "true", "(absent)" }, { dd.groups[1].label, dd.groups[2].label })
      end
    end
    assert.are.equal(2, stats.best(trials).id)
  end)

  it("parses the run's objectives and finds the Pareto front as nas.pareto does", function()
    assert.are.same({ { metric = "accuracy", sense = "max" }, { metric = "latency_ms", sense = "min" } },
                    stats.parse_objectives("maximize accuracy, minimize latency_ms"))
    assert.is_nil(stats.parse_objectives("function"))
    local r = rng(2)
    local trials = {}
    for i = 1, 200 do
      trials[i] = { id = i, status = "ok", score = 0, genotype = {},
                    metrics = { accuracy = r:uniform(), params = r:int(1, 1000) } }
    end
    local set = stats.front(trials, stats.parse_objectives("maximize accuracy, minimize params"))
    local want = objectives.pareto_front(trials, { objectives.maximize "accuracy", objectives.minimize "params" })
    local n = 0
    for _ in pairs(set) do n = n + 1 end
    assert.are.equal(#want, n)
    for _, t in ipairs(want) do assert.is_true(set[t.id]) end
  end)
end)

describe("the report page's JSON", function()
  it("escapes what could end the script element or break JavaScript, and round-trips", function()
    local hostile = "</script><script>alert(1)</script><!-- & \226\128\168\226\128\169 \"q\" \\ \n"
    local s = page.json({ k = hostile, [hostile] = page.array{ page.null, 1.5, 3, true } })
    assert.is_nil(s:find("[<>&]"))
    assert.is_nil(s:find("\226\128\168", 1, true))
    assert.is_nil(s:find("\226\128\169", 1, true))
    local back = json.decode(s)
    assert.are.equal(hostile, back.k)
    assert.are.same({ nil, 1.5, 3, true }, back[hostile])
    assert.are.equal("[]", page.json(page.array{}))
    assert.are.equal("null", page.json(0 / 0))
  end)
end)

describe("nas.report on a real search", function()
  local dir
  setup(function()
    dir = helpers.fresh_dir("report", "basic")
    search("basic", dir)
  end)

  it("writes one page with every section and one data row per stored trial", function()
    local path = report.write(dir)
    assert.are.equal(dir .. "/report.html", path)
    local html = read(path)
    assert.is_true(#html < 2e6, #html)
    for _, s in ipairs(page.sections) do
      assert.is_truthy(html:find(('href="#%s"'):format(s[1]), 1, true), s[1])
      assert.is_truthy(html:find(('id="%s"'):format(s[1]), 1, true), s[1])
    end
    local data = data_of(html)
    local trials, info = stored(dir)
    assert.are.equal(40, #trials)
    assert.are.equal(#trials, #data.trials)
    local statuses = {}
    for i, t in ipairs(trials) do
      local row = data.trials[i]
      assert.are.equal(t.id, row[1])
      assert.are.equal(t.status, row[2])
      statuses[t.status] = (statuses[t.status] or 0) + 1
      if t.status ~= "ok" then
        assert.are.equal(t.reason, row[10])
        assert.is_nil(row[3])
      else
        assert.is_true(math.abs(t.score - row[3]) < 1e-5)
      end
    end
    assert.is_true(statuses.ok > 0 and statuses.failed > 0 and statuses.rejected > 0)
    local h = header(data)
    assert.are.equal(info.strategy, h.strategy)
    assert.are.equal("7", h.seed)
    assert.are.equal("maximize accuracy, minimize params, minimize flops", h.objectives)
    assert.matches("^2", h.workers) -- the run table says 2 (older stores: worker ids counted)
    assert.are.equal(stats.best(trials).id, data.best)
    assert.matches("^#" .. data.best .. " score", h.best)
    -- the front of the three objectives, as nas.pareto finds it
    local ok = {}
    for _, t in ipairs(trials) do if t.status == "ok" and not t.cached_from then ok[#ok + 1] = t end end
    local want = objectives.pareto_front(ok, { objectives.maximize "accuracy", objectives.minimize "params",
                                              objectives.minimize "flops" })
    local ids = {}
    for i, t in ipairs(want) do ids[i] = t.id end
    assert.are.same(ids, data.pareto.front)
    assert.are.equal(3, #data.pareto.axes)
    -- importance over the decisions of the tiny space; curves; two workers
    local names = {}
    for _, d in ipairs(data.importance.decisions) do names[#names + 1] = d.name end
    table.sort(names)
    assert.are.same({ "bad", "depth", "pad", "width" }, names)
    assert.is_true(#data.curves.series > 0)
    assert.are.equal(4, #data.curves.series[1].v)
    local workers = {}
    for _, row in ipairs(data.trials) do if row[7] then workers[row[7]] = true end end
    assert.is_true(workers[1] and workers[2])
    -- the best net, drawn by Graphviz, inline
    local arch = html:match('<section id="architecture">(.-)</section>')
    assert.matches("<svg", arch)
    assert.matches("conv k=3", arch)
    assert.matches("Trial #" .. data.best .. ":", arch)
  end)

  it("says so in the page when Graphviz is missing, and fails clearly without Vega", function()
    local saved = rgraph.dot
    rgraph.dot = "/nonexistent/dot"
    local ok, err = pcall(report.write, dir, { out = dir .. "/nodot.html" })
    rgraph.dot = saved
    assert(ok, err)
    local arch = read(dir .. "/nodot.html"):match('<section id="architecture">(.-)</section>')
    assert.matches("Graphviz is not installed", arch)
    assert.is_nil(arch:find("<svg", 1, true))
    local vdir = page.vega_dir
    page.vega_dir = "/nonexistent/vega"
    local ok2, err2 = pcall(report.write, dir, { out = dir .. "/novega.html" })
    page.vega_dir = vdir
    assert.is_false(ok2)
    assert.matches("libjs%-vega", err2)
    assert.is_nil(io.open(dir .. "/novega.html"))
  end)

  it("escapes every string of a hostile run: nothing reaches the page as markup", function()
    local hdir = dir .. "_hostile"
    os.execute(("rm -rf '%s' && cp -r '%s' '%s' && rm -f '%s/report.html'"):format(hdir, dir, hdir, hdir))
    local evil = "</script><script>document.title='pwned'</script>"
    local img = "<img src=x onerror=\"document.title='pwned'\">"
    local st = store.open(hdir, { create = false })
    local n = st:count()
    st:insert({ id = n + 1, genotype = { depth = evil, width = 4, pad = 0, bad = false, [img] = 1 },
                metrics = { accuracy = 0.9, params = 10, flops = 10, [evil] = img, note = img },
                score = 0.9, status = "ok", started = os.time(), finished = os.time(), seconds = 0 }, nil)
    st:insert({ id = n + 2, genotype = { depth = img, width = evil, pad = 0, bad = false },
                metrics = {}, status = "failed", reason = img .. evil, started = os.time(), finished = os.time() }, nil)
    st:close()
    local env = require("luasql.sqlite3").sqlite3()
    local conn = env:connect(hdir .. "/trials.db")
    local sql = "INSERT OR REPLACE INTO run(key, value) VALUES ('script', '%s')"
    assert(conn:execute(sql:format(evil:gsub("'", "''"))))
    conn:close()
    env:close()
    local html = read(report.write(hdir, { title = evil, note = img }))
    -- the page's own four script elements and nothing else
    assert.are.equal(4, count(html, "<script"))
    assert.are.equal(4, count(html, "</script>"))
    assert.are.equal(0, count(html, "<img"))
    assert.are.equal(0, count(html, "pwned'</script>"))
    local data = data_of(html)
    assert.are.equal(n + 2, #data.trials)
    local found = {}
    for _, d in ipairs(data.decisions) do found[d] = true end
    assert.is_true(found[img])
    local seen_evil, seen_reason = false, false
    for _, row in ipairs(data.trials) do
      for _, v in ipairs(row[12]) do if v == evil then seen_evil = true end end
      if row[10] == img .. evil then seen_reason = true end
    end
    assert.is_true(seen_evil and seen_reason)
    assert.are.equal(evil, header(data).script)
    assert.matches("<title>&lt;/script&gt;&lt;script&gt;", html, 1, true)
  end)

  it("shows a given list of trials (a re-scoring) with its title and note", function()
    local trials = stored(dir)
    local fewest
    for _, t in ipairs(trials) do
      if t.status == "ok" then
        t.score = -t.metrics.params -- rescored: smaller is better
        if not t.cached_from and (fewest == nil or t.metrics.params < fewest.metrics.params or
           (t.metrics.params == fewest.metrics.params and t.id < fewest.id)) then
          fewest = t
        end
      end
    end
    local path = report.write(dir, { trials = trials, out = dir .. "/rescored.html", title = "Re-scored",
                                     note = "score = -params" })
    local html = read(path)
    local data = data_of(html)
    assert.are.equal(fewest.id, data.best)
    assert.matches("<title>Re%-scored</title>", html)
    assert.matches('<p class="note">score = %-params</p>', html)
  end)

  it("checks its options", function()
    assert.has_error(function() report.write(dir, { bogus = 1 }) end,
      "bad argument #2 to 'report' (unknown option 'bogus' (allowed: note, out, title, trials))")
    assert.has_error(function() report.write(nil) end, "bad argument #1 to 'report' (run folder (string) expected)")
    assert.has_error(function() report.write(dir, { trials = 3 }) end,
      "bad argument #2 to 'report' (field 'trials' must be a list of trials (as store:trials() gives))")
    assert.has_error(function() report.write(dir, { trials = { { id = 1, status = "ok" }, { status = "ok" } } }) end,
      "bad argument #2 to 'report' (field 'trials': item 2 is not a trial (a table with an integer id and a " ..
      "status, as store:trials() gives))")
  end)
end)

describe("nasrun report", function()
  local nasrun = helpers.nasrun

  it("writes RUN/report.html or --out FILE and prints the path", function()
    local dir = helpers.fresh_dir("report", "one")
    search("one", dir)
    local out, code = sh(("%s report %s"):format(nasrun(), dir))
    assert.are.equal(0, code, out)
    assert.are.equal(dir .. "/report.html\n", out)
    local data = data_of(read(dir .. "/report.html"))
    assert.are.equal(1, #data.trials)
    assert.are.equal(1, data.best)
    local out2, code2 = sh(("%s report %s/ --out %s/other.html"):format(nasrun(), dir, dir))
    assert.are.equal(0, code2, out2)
    assert.are.equal(dir .. "/other.html\n", out2)
    assert.matches("<svg", read(dir .. "/other.html"))
  end)

  it("gives a clear message and exit status 2 for a bad folder or bad options", function()
    local dir = helpers.fresh_dir("report", "bad")
    local out, code = sh(("%s report %s"):format(nasrun(), dir))
    assert.are.equal(2, code)
    assert.matches("nasrun report: " .. dir:gsub("%p", "%%%0") .. ": no such folder", out)
    os.execute("mkdir -p '" .. dir .. "'")
    out, code = sh(("%s report %s"):format(nasrun(), dir))
    assert.are.equal(2, code)
    assert.matches("is not a run folder: it has no trials.db", out)
    local f = io.open(dir .. "/trials.db", "wb")
    f:write(("not a database "):rep(100))
    f:close()
    out, code = sh(("%s report %s"):format(nasrun(), dir))
    assert.are.equal(2, code)
    assert.matches("damaged or is not a trial store", out)
    out, code = sh(("%s report"):format(nasrun()))
    assert.are.equal(2, code)
    assert.matches("a run folder is needed", out)
    out, code = sh(("%s report %s --colour red"):format(nasrun(), dir))
    assert.are.equal(2, code)
    assert.matches("unknown option %-%-colour", out)
    out, code = sh(("%s report %s %s"):format(nasrun(), dir, dir))
    assert.are.equal(2, code)
    assert.matches("one run folder expected", out)
    out, code = sh(("%s report --help"):format(nasrun()))
    assert.are.equal(0, code)
    assert.matches("^usage: nasrun report RUN %[%-%-out FILE%]", out)
    assert.is_nil(io.open(dir .. "/report.html"))
  end)

  it("reports on a search while it runs, without disturbing it", function()
    local dir = helpers.fresh_dir("report", "running")
    os.execute("mkdir -p '" .. dir .. "'")
    local log = dir .. ".log"
    os.execute(("%s %s slow %s >%s 2>&1 &"):format(nasrun(), SCRIPT, dir, log))
    local n = 0
    for _ = 1, 300 do
      local okr, rows = pcall(helpers.sql_rows, dir .. "/trials.db", "SELECT COUNT(*) AS n FROM trials")
      n = okr and tonumber(rows[1].n) or 0
      if n >= 2 then break end
      os.execute("sleep 0.1")
    end
    assert.is_true(n >= 2, "the search did not start")
    local out, code = sh(("%s report %s"):format(nasrun(), dir))
    assert.are.equal(0, code, out)
    local data = data_of(read(dir .. "/report.html"))
    assert.is_true(#data.trials >= 2 and #data.trials < 12, #data.trials)
    -- the search goes on to its budget
    for _ = 1, 600 do
      if read(log):find("RESULT slow", 1, true) then break end
      os.execute("sleep 0.1")
    end
    assert.matches("RESULT slow 12 trials", read(log))
    assert.are.equal(12, #stored(dir))
  end)

  it("reports on a run without trials", function()
    local dir = helpers.fresh_dir("report", "empty")
    local st = store.open(dir)
    assert(st:fingerprint({ space = "tiny", seed = "1", objectives = "maximize accuracy", strategy = "none" }))
    st:close()
    local html = read(report.write(dir))
    local data = data_of(html)
    assert.are.equal(0, #data.trials)
    assert.is_nil(data.best)
    assert.are.equal("-", header(data).best)
    assert.matches("No trial is ok yet", html:match('<section id="architecture">(.-)</section>'))
  end)

  it("reports on a one-shot (DARTS) run: its candidates and the supernet's epochs", function()
    local dir = helpers.fresh_dir("report", "darts")
    search("darts", dir)
    local html = read(report.write(dir))
    local data = data_of(html)
    local trials = stored(dir)
    assert.are.equal(#trials, #data.trials)
    assert.are.same({ 1, 2 }, { data.supernet[1].x, data.supernet[2].x })
    assert.is_number(data.supernet[1].loss)
    assert.are.equal(stats.best(trials).id, data.best)
    assert.matches("<svg", html:match('<section id="architecture">(.-)</section>'))
  end)

  it("shows a one-shot search's supernet training (the store's phases table)", function()
    local dir = helpers.fresh_dir("report", "oneshot")
    search("one", dir)
    local st = store.open(dir, { create = false })
    for e = 1, 3 do
      st:phase_add("epoch", { epoch = e, epochs = 3, step = 10 * e, loss = 2 / e, accuracy = 0.3 * e })
    end
    st:phase_add("epoch", { epoch = 3.5, partial = true, loss = 0.5 }) -- a stop inside an epoch: not an epoch's end
    st:phase_add("derive", { note = "not an epoch" })
    st:close()
    local data = data_of(read(report.write(dir)))
    assert.are.equal(3, #data.supernet)
    for e, p in ipairs(data.supernet) do
      assert.are.equal(e, p.x)
      assert.is_true(math.abs(p.loss - 2 / e) < 1e-5 and math.abs(p.acc - 0.3 * e) < 1e-5)
    end
    assert.are.equal(1, #data.trials)
  end)

  it("plots score against fidelity for a multi-fidelity run and score against params for one objective", function()
    local dir = helpers.fresh_dir("report", "fidelity")
    search("fidelity", dir)
    local data = data_of(read(report.write(dir)))
    assert.are.equal("epochs", data.fidelity_name)
    assert.is_nil(data.curves)
    assert.is_true(#data.fidelity_curves.points > 0)
    local levels = {}
    for _, p in ipairs(data.fidelity_curves.points) do levels[p.x] = true end
    assert.is_true(levels[3] and levels[9] and levels[27])
    assert.is_true(data.pareto.axes[1].score)
    assert.are.equal("params", data.pareto.axes[2].metric)
    assert.matches("one objective", data.pareto.note)
    assert.are.equal(stats.best(stored(dir)).id, data.best)
  end)

  local nb = os.getenv("NAS_NB201") or "../shared/bench/nb201"
  local f = io.open(nb .. "/nb201.csv")
  if f then
    f:close()
    it("reports on an NB201 run", function()
      local dir = helpers.fresh_dir("report", "nb201")
      search("nb201", dir)
      local html = read(report.write(dir))
      local data = data_of(html)
      assert.are.equal(60, #data.trials)
      assert.are.equal(6, #data.importance.decisions)
      assert.are.same({ "edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2" }, data.decisions)
      assert.matches("<svg", html:match('<section id="architecture">(.-)</section>'))
    end)
  else
    pending("the NB201 run: " .. nb .. "/nb201.csv is absent")
  end
end)
