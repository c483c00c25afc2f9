-- nas.store: the SQLite trial store, its contents after a search, nas.show,
-- and resuming a real nasrun process killed with SIGKILL mid-search.
local nas = require "nas"
local json = require "nas.json"
local tiny = require "tests.lua.tiny_search"
local evaluators = require "nas.evaluators"

local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"
local counter = 0
local function fresh_dir(name)
  counter = counter + 1
  local d = ("%s/store_spec_%d_%s_%d"):format(tmp, os.time(), name, counter)
  os.execute("rm -rf '" .. d .. "'")
  return d
end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

local function find_nasrun()
  local env = os.getenv("NASRUN")
  if env and env ~= "" then return env end
  local newest = sh("ls -t ./build*/nasrun 2>/dev/null | head -1"):gsub("%s+$", "")
  if newest ~= "" then return newest end
  return nil
end

local sql_rows = require("tests.lua.helpers").sql_rows

local function comparable(trials)
  local out = {}
  for i, t in ipairs(trials) do
    out[i] = { id = t.id, genotype = t.genotype, status = t.status, score = t.score, reason = t.reason,
               cached_from = t.cached_from, metrics = t.metrics, hash = t.hash, seed = t.seed,
               graph = t.graph and json.decode(t.graph) }
  end
  return out
end

describe("nas.store", function()
  it("adds the parallel-search columns to a store written before them, keeping its trials", function()
    local dir = fresh_dir("old_format")
    os.execute("mkdir -p '" .. dir .. "'")
    local path = dir .. "/trials.db"
    local env = require("luasql.sqlite3").sqlite3()
    local conn = assert(env:connect(path))
    for _, sql in ipairs{
      "CREATE TABLE run(key TEXT PRIMARY KEY, value TEXT)",
      [[CREATE TABLE trials(id INTEGER PRIMARY KEY, genotype TEXT NOT NULL, graph TEXT, hash TEXT, metrics TEXT,
        score REAL, status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'rejected')), reason TEXT,
        cached_from INTEGER, started REAL, finished REAL, seconds REAL, seed INTEGER)]],
      [[INSERT INTO trials(id, genotype, metrics, score, status) VALUES (1, '{"a":1}', '{"accuracy":0.5}', 0.5, 'ok')]],
      [[INSERT INTO trials(id, genotype, metrics, status, reason) VALUES (2, '{"a":2}', '{}', 'failed', 'boom')]],
    } do assert(conn:execute(sql)) end
    conn:close()
    env:close()
    local st = nas.store(dir)
    local trials = st:trials{ order = "told" }
    assert.are.equal(2, #trials)
    assert.are.equal(1, trials[1].id)
    assert.are.equal(1, trials[1].genotype.a)
    assert.are.equal("boom", trials[2].reason)
    assert.is_nil(trials[1].told)
    assert.are.same({}, st:running())
    st:close()
    local cols = {}
    for _, c in ipairs(sql_rows(path, "PRAGMA table_info(trials)")) do cols[#cols + 1] = c.name end
    assert.are.same({ "told", "worker", "host", "threads" }, { cols[14], cols[15], cols[16], cols[17] })
  end)

  it("holds every trial of a search, in WAL mode, with the run's fingerprint", function()
    local dir = fresh_dir("contents")
    local r = nas.search{ space = tiny.space{ bad_rate = 0.2 }, strategy = tiny.strategy(), seed = 8, out = dir,
                          evaluate = evaluators.analytic(), constraints = { params = 800 },
                          objectives = { nas.maximize "accuracy", nas.minimize "params" },
                          budget = { trials = 15 }, log = false }
    local path = dir .. "/trials.db"
    assert.are.equal("wal", sql_rows(path, "PRAGMA journal_mode")[1].journal_mode)
    local cols = {}
    for _, c in ipairs(sql_rows(path, "PRAGMA table_info(trials)")) do cols[#cols + 1] = c.name end
    assert.are.same({ "id", "genotype", "graph", "hash", "metrics", "score", "status", "reason", "cached_from",
                      "started", "finished", "seconds", "seed", "told", "worker", "host", "threads" }, cols)
    for i, t in ipairs(r.trials) do
      assert.are.equal(i, t.told) -- a sequential search tells in ask order
      assert.is_nil(t.worker)
    end

    local st = nas.store(dir)
    local info = st:run_info()
    assert.are.equal("tiny", info.space)
    assert.are.equal("8", info.seed)
    assert.are.equal("maximize accuracy, minimize params", info.objectives)
    assert.are.equal("tiny-evolution", info.strategy)
    local stored = st:trials()
    st:close()
    assert.are.equal(15, #stored)
    local statuses = {}
    for i, t in ipairs(stored) do
      local orig = r.trials[i]
      assert.are.equal(i, t.id)
      assert.are.same(orig.genotype, t.genotype)
      assert.are.same(orig.metrics, t.metrics)
      assert.are.equal(orig.status, t.status)
      assert.are.equal(orig.score, t.score)
      assert.are.equal(orig.reason, t.reason)
      assert.are.equal(orig.cached_from, t.cached_from)
      assert.are.equal(orig.seed, t.seed)
      assert.is_true(t.finished >= t.started and t.seconds >= 0)
      statuses[t.status] = true
      if t.status ~= "failed" then
        assert.are.equal(orig.hash, t.hash)
        assert.are.equal(t.hash, nas.net_from_json(t.graph):hash())
      end
      if t.status == "ok" then assert.is_number(t.score) else assert.is_string(t.reason) end
    end
    assert.is_true(statuses.ok and statuses.rejected and statuses.failed)

    -- nas.show prints the table
    local buf = {}
    local sink = { write = function(self, ...) for _, s in ipairs({ ... }) do buf[#buf + 1] = s end return self end }
    nas.show(dir, { out = sink })
    local text = table.concat(buf)
    assert.matches("run .*: space tiny, seed 8, objectives: maximize accuracy, minimize params", text)
    assert.matches("15 trials: %d+ ok, %d+ failed, %d+ rejected", text)
    assert.matches("\n%s+" .. r.best.id .. " ok%s+%*", text)
    assert.matches("best: #" .. r.best.id, text)
    assert.matches("pareto front", text)
    assert.has_error(function() nas.show(fresh_dir("none")) end)
  end)

  local nasrun = find_nasrun()
  local maybe = nasrun and it or pending
  maybe("resumes a nasrun process killed with SIGKILL mid-search to the same result", function()
    local script = "tests/lua/resume_script.lua"
    local total = 40
    local killed_dir, whole_dir = fresh_dir("killed"), fresh_dir("whole")
    local log1 = killed_dir .. ".log"
    local pid = sh(("%s %s %s %d > %s 2>&1 & echo $!"):format(nasrun, script, killed_dir, total, log1)):match("%d+")
    assert.is_truthy(pid)
    -- wait for at least 10 stored trials
    local db = killed_dir .. "/trials.db"
    local n, deadline = 0, os.time() + 60
    while os.time() < deadline do
      local f = io.open(db, "rb")
      if f then
        f:close()
        local ok, rows = pcall(sql_rows, db, "SELECT COUNT(*) AS n FROM trials")
        n = ok and math.tointeger(rows[1].n) or 0
        if n >= 10 then break end
      end
      os.execute("sleep 0.05")
    end
    assert.is_true(n >= 10, "the search never stored 10 trials; log: " .. sh("cat " .. log1))
    assert.is_true(os.execute("kill -9 " .. pid))
    -- wait until it is gone (or a zombie)
    for _ = 1, 100 do
      local state = sh("ps -o stat= -p " .. pid .. " 2>/dev/null")
      if state == "" or state:match("Z") then break end
      os.execute("sleep 0.05")
    end
    local st = nas.store(killed_dir)
    local at_kill = st:count()
    st:close()
    assert.is_true(at_kill >= 10 and at_kill < total, "trials at kill: " .. at_kill)

    local out2 = sh(("%s %s %s %d 2>&1"):format(nasrun, script, killed_dir, total))
    assert.matches("resuming .*: " .. at_kill .. " trials replayed", out2)
    local out3 = sh(("%s %s %s %d 2>&1"):format(nasrun, script, whole_dir, total))
    -- not on a terminal: plain lines, one per trial
    local lines = 0
    for _ in out3:gmatch("trial %d+/" .. total .. " %a+") do lines = lines + 1 end
    assert.are.equal(total, lines)
    assert.is_nil(out3:find("\r", 1, true))
    local res2, res3 = out2:match("RESULT [^\n]*"), out3:match("RESULT [^\n]*")
    assert.is_truthy(res3, out3)
    assert.are.equal(res3, res2)

    local a, b = nas.store(killed_dir), nas.store(whole_dir)
    local ta, tb = a:trials(), b:trials()
    a:close()
    b:close()
    assert.are.equal(total, #ta)
    assert.are.same(comparable(tb), comparable(ta))

    -- nasrun prints a run's table through nas.show
    local shown = sh(("%s -e 'require\"nas\".show\"%s\"' 2>&1"):format(nasrun, whole_dir))
    assert.matches(total .. " trials: ", shown)
  end)

  maybe("stops on Ctrl-C (SIGINT) with the store consistent and prints the best so far", function()
    local script = "tests/lua/resume_script.lua"
    local total = 40
    local dir = fresh_dir("sigint")
    local log = dir .. ".log"
    local pid = sh(("%s %s %s %d > %s 2>&1 & echo $!"):format(nasrun, script, dir, total, log)):match("%d+")
    local db = dir .. "/trials.db"
    local n, deadline = 0, os.time() + 60
    while os.time() < deadline do
      local f = io.open(db, "rb")
      if f then
        f:close()
        local ok, rows = pcall(sql_rows, db, "SELECT COUNT(*) AS n FROM trials")
        n = ok and math.tointeger(rows[1].n) or 0
        if n >= 5 then break end
      end
      os.execute("sleep 0.05")
    end
    assert.is_true(n >= 5)
    os.execute("kill -INT " .. pid)
    for _ = 1, 200 do
      local state = sh("ps -o stat= -p " .. pid .. " 2>/dev/null")
      if state == "" or state:match("Z") then break end
      os.execute("sleep 0.05")
    end
    local f = assert(io.open(log))
    local text = f:read("a")
    f:close()
    local stopped = tonumber(text:match("interrupted: search stopped after (%d+) trials"))
    assert.is_truthy(stopped, text)
    assert.is_truthy(text:match("best so far: #%d+ score") or text:match("best so far: none"), text)
    assert.is_nil(text:find("RESULT", 1, true)) -- the script did not go on
    local st = nas.store(dir)
    local stored = st:trials()
    st:close()
    assert.are.equal(stopped, #stored)
    for i, t in ipairs(stored) do assert.are.equal(i, t.id) end
    -- and it resumes to the end
    local out = sh(("%s %s %s %d 2>&1"):format(nasrun, script, dir, total))
    assert.matches("resuming .*: " .. stopped .. " trials replayed", out)
    assert.matches("RESULT best=%d+ score=[%d%.e%-]+ trials=" .. total, out)
  end)
end)
