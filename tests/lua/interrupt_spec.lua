-- Ctrl-C (SIGINT) at chosen and at random moments of a real nasrun search
-- (tests/lua/interrupt_script.lua: real training on a slice of Fashion-MNIST,
-- then a retrain of the best): nasrun stops with an "interrupted" message and
-- exit status 130, no traceback; the store passes SQLite's integrity check and
-- holds whole trials 1..n only; running the same command again ends with
-- exactly the trials and best (and retrain result) of an uninterrupted run.
-- And a parallel search stopped inside its coordinator's transaction
-- (tests/lua/storm_script.lua): the running table is left consistent.
local nas = require "nas"

local helpers = require "tests.lua.helpers"
local nasrun, sql_rows = helpers.nasrun, helpers.sql_rows
local function fresh_dir(name) return helpers.fresh_dir("interrupt", name) end

local SCRIPT = "tests/lua/interrupt_script.lua"
local TRIALS = 10

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function have_data()
  local root = os.getenv("NAS_DATA_ROOT") or "/usr/share/datasets"
  return exists(root .. "/fashion-mnist/train-labels-idx1-ubyte.gz") or exists(root .. "/train-labels-idx1-ubyte.gz")
end
local maybe = have_data() and it or pending

local function command(mode, dir, at, trials)
  return ("%s --threads 1 %s %s %s %d %d"):format(nasrun(), SCRIPT, mode, dir, trials or TRIALS, at or 0)
end

local function run(mode, dir, at, trials)
  local p = io.popen(command(mode, dir, at, trials) .. " 2>&1; echo EXIT=$?")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("EXIT=(%d+)%s*$")), out
end

local function result(out) return out:match("RESULT ([^\n]*)") end
local function retrain(out) return out:match("RETRAIN ([^\n]*)") end

-- The store after an interrupt: SQLite's full integrity check passes, the
-- trials are 1..n with nothing half-written, nothing is left running.
local function check_store(dir, n)
  local db = dir .. "/trials.db"
  assert.are.same({ { integrity_check = "ok" } }, sql_rows(db, "PRAGMA integrity_check"))
  local st = nas.store(dir, { create = false })
  local trials, running = st:trials(), st:running()
  st:close()
  assert.are.equal(0, #running)
  if n then assert.are.equal(n, #trials) end
  for i, t in ipairs(trials) do
    assert.are.equal(i, t.id)
    assert.is_truthy(t.status == "ok" or t.status == "failed" or t.status == "rejected")
    assert.is_table(t.genotype)
    assert.is_truthy(t.told)
    if t.status == "ok" and not t.cached_from then
      assert.is_number(t.score)
      assert.is_number(t.metrics.accuracy)
      assert.is_string(t.graph)
    end
    assert.is_nil(t.reason and t.reason:find("interrupt"), "trial " .. t.id .. " stored as " .. tostring(t.reason))
  end
  return #trials
end

-- Trials in the store now (0 before it exists), read as another process would.
local function count(dir)
  if not exists(dir .. "/trials.db") then return 0 end
  local ok, rows = pcall(sql_rows, dir .. "/trials.db", "SELECT COUNT(*) AS n FROM trials")
  return ok and math.tointeger(rows[1].n) or 0
end

-- An interrupted run's output: the message, exit status 130 and no traceback.
local function check_interrupted(code, out)
  assert.are.equal(130, code, out)
  assert.matches("nasrun: [^\n]*interrupted", out)
  assert.is_nil(out:find("stack traceback", 1, true), out)
end

describe("Ctrl-C", function()
  local reference = {}
  local function uninterrupted(trials)
    trials = trials or TRIALS
    if not reference[trials] then
      local code, out = run("none", fresh_dir("whole"), 0, trials)
      assert.are.equal(0, code, out)
      reference[trials] = { result = result(out), retrain = retrain(out) }
      assert.is_truthy(reference[trials].result and reference[trials].retrain, out)
    end
    return reference[trials]
  end

  -- Trial 7 is evaluated (not a repeat of an earlier graph) in this seeded search.
  local moments = {
    { "train", 7, "during a trial's training (between two steps)" },
    { "write", 7, "right after a trial's row was written, before the search kept it" },
    { "tell", 7, "while the strategy is told a stored trial" },
    { "swallow", 7, "inside an evaluator that catches every error" },
  }
  for _, m in ipairs(moments) do
    maybe("stops " .. m[3] .. ", the store consistent; the same command resumes to the uninterrupted result",
      function()
        local dir = fresh_dir(m[1])
        local code, out = run(m[1], dir, m[2])
        check_interrupted(code, out)
        local stopped = tonumber(out:match("interrupted: search stopped after (%d+) trials"))
        assert.is_truthy(stopped, out)
        assert.matches("run the script again to resume", out)
        assert.is_nil(out:find("is the disk full", 1, true), out)
        assert.is_nil(result(out), out) -- the script did not go on
        -- Whole trials only, and as many as the message says: trial 7 when
        -- SIGINT came after its row was written, else 6.
        local expect = (m[1] == "write" or m[1] == "tell") and m[2] or m[2] - 1
        assert.are.equal(expect, stopped)
        check_store(dir, stopped)
        local code2, out2 = run("none", dir)
        assert.are.equal(0, code2, out2)
        assert.matches("resuming .*: " .. stopped .. " trials replayed", read(dir .. "/search.log"))
        assert.are.equal(uninterrupted().result, result(out2))
        assert.are.equal(uninterrupted().retrain, retrain(out2))
        check_store(dir, TRIALS)
      end)
  end

  maybe("stops during the retrain of the best; the search is whole and the rerun retrains alike", function()
    local dir = fresh_dir("retrain")
    local code, out = run("retrain", dir, 1)
    check_interrupted(code, out)
    assert.are.equal(uninterrupted().result, result(out)) -- the search itself had ended
    assert.is_nil(retrain(out), out)
    check_store(dir, TRIALS)
    local code2, out2 = run("none", dir)
    assert.are.equal(0, code2, out2)
    assert.are.equal(uninterrupted().result, result(out2))
    assert.are.equal(uninterrupted().retrain, retrain(out2))
  end)

  -- A parallel search (tests/lua/storm_script.lua, 2 local workers): the
  -- coordinator's store writes of one turn of its loop are one transaction.
  local function parallel(dir, at)
    local p = io.popen(("%s tests/lua/storm_script.lua %s 30 0.3 %s 2>&1; echo EXIT=$?"):format(nasrun(), dir,
                                                                                              at or ""))
    local out = p:read("a")
    p:close()
    return tonumber(out:match("EXIT=(%d+)%s*$")), out
  end
  local function alive(tag)
    local p = io.popen("grep -l -s -F " .. ("%q"):format(tag) .. " /proc/[0-9]*/cmdline")
    local list = p:read("a")
    p:close()
    local n = 0
    for pid in list:gmatch("/proc/(%d+)/") do
      local f = io.open("/proc/" .. pid .. "/stat")
      local stat = f and f:read("a")
      if f then f:close() end
      if stat and stat:match("^%d+ %b() (%a)") ~= "Z" then n = n + 1 end
    end
    return n
  end

  it("stops a parallel search inside a turn's transaction: the turn is dropped whole, its trials resumed as lost",
    function()
      local dir = fresh_dir("parallel")
      local code, out = parallel(dir, 6) -- SIGINT right after trial 6's INSERT, before its running row goes
      check_interrupted(code, out)
      local stopped = tonumber(out:match("interrupted: search stopped after (%d+) trials"))
      assert.is_truthy(stopped and stopped < 6, out)
      assert.are.equal(0, alive(dir)) -- the workers went with it
      local db = dir .. "/trials.db"
      assert.are.same({ { integrity_check = "ok" } }, sql_rows(db, "PRAGMA integrity_check"))
      local st = nas.store(dir, { create = false })
      local trials, running = st:trials(), st:running()
      st:close()
      assert.are.equal(stopped, #trials)
      assert.is_true(#running >= 1, "nothing left running")
      local ids = {}
      for i, t in ipairs(trials) do
        assert.are.equal(i, t.id)
        ids[t.id] = true
      end
      for _, r in ipairs(running) do assert.is_nil(ids[r.id], "trial " .. r.id .. " is both stored and running") end
      local code2, out2 = parallel(dir)
      assert.are.equal(0, code2, out2)
      assert.matches(#running .. " trials that were running when the search stopped are recorded as lost", out2)
      assert.matches("RESULT role=coordinator best=%d+ score=[%d%.e%-]+ trials=30", out2)
      st = nas.store(dir, { create = false })
      local after = st:trials()
      st:close()
      local lost = 0
      for _, t in ipairs(after) do
        if t.reason == "lost: the search stopped while this trial ran" then lost = lost + 1 end
      end
      assert.are.equal(#running, lost)
    end)

  maybe("stops at random moments (seeded delays), 4 times in a row, and still ends as uninterrupted", function()
    local dir = fresh_dir("random")
    local trials = 3 * TRIALS -- work left for every run
    math.randomseed(11)
    local interrupted, stored = 0, {}
    for i = 1, 4 do
      local log, pidfile, codefile = dir .. ".log" .. i, dir .. ".pid" .. i, dir .. ".code" .. i
      os.execute(("(%s >%s 2>&1 & echo $! >%s; wait $!; echo $? >%s) &"):format(command("none", dir, 0, trials), log,
                                                                               pidfile, codefile))
      local pid
      for _ = 1, 100 do
        pid = tonumber(read(pidfile))
        if pid then break end
        os.execute("sleep 0.02")
      end
      -- A background job starts with SIGINT ignored; nasrun takes it over
      -- when it runs the script: wait for that (SigCgt in /proc). Then a
      -- random moment, whatever the machine's speed: after 0..3 more trials
      -- are stored, and 0..0.3 s (a trial, a store write, loading the data).
      for _ = 1, 200 do
        local status = read("/proc/" .. pid .. "/status") or ""
        local caught = tonumber(status:match("SigCgt:%s*(%x+)") or "0", 16)
        if caught & 2 ~= 0 or status == "" then break end
        os.execute("sleep 0.02")
      end
      local target = count(dir) + math.random(0, 3)
      while count(dir) < target and read("/proc/" .. pid .. "/status") do os.execute("sleep 0.02") end
      os.execute(("sleep %.3f"):format(0.3 * math.random()))
      os.execute("kill -INT " .. pid .. " 2>/dev/null")
      local code
      for _ = 1, 600 do
        code = tonumber(read(codefile))
        if code then break end
        os.execute("sleep 0.05")
      end
      local out = read(log) or ""
      if code == 130 then
        interrupted = interrupted + 1
        check_interrupted(code, out)
      else
        assert.are.equal(0, code, out) -- the run had ended before the signal
        assert.is_truthy(retrain(out), out)
      end
      if exists(dir .. "/trials.db") then stored[#stored + 1] = check_store(dir) end
    end
    assert.is_true(interrupted >= 3, "interrupted " .. interrupted .. " times")
    -- Nothing stored before an interrupt is lost by the next one.
    for i = 2, #stored do assert.is_true(stored[i] >= stored[i - 1]) end
    local code, out = run("none", dir, 0, trials)
    assert.are.equal(0, code, out)
    assert.are.equal(uninterrupted(trials).result, result(out))
    assert.are.equal(uninterrupted(trials).retrain, retrain(out))
  end)
end)
