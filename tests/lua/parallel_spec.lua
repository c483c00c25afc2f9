-- Parallel search with local worker processes, under a real nasrun
-- (tests/lua/parallel_script.lua): results, lost workers, time limits, a
-- killed coordinator resumed, the run folder's lock, searches in sequence.
local nas = require "nas"

local helpers = require "tests.lua.helpers"
local nasrun = helpers.nasrun
local function fresh_dir(name) return helpers.fresh_dir("parallel", name) end

local SCRIPT = "tests/lua/parallel_script.lua"

local function run(args)
  local p = io.popen(nasrun() .. " " .. SCRIPT .. " " .. args .. " 2>&1; echo EXIT=$?")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("EXIT=(%d+)")), out
end

local function results(out)
  local list = {}
  for line in out:gmatch("RESULT ([^\n]*)") do
    local r = {}
    for k, v in line:gmatch("(%w+)=(%S+)") do r[k] = tonumber(v) or v end
    list[#list + 1] = r
  end
  return list
end

local function stored(dir)
  local st = nas.store(dir, { create = false })
  local trials = st:trials()
  local running = st:running()
  st:close()
  return trials, running
end

local function sleep(s) os.execute("sleep " .. s) end

-- Running (a process that ended but was not yet reaped by its new parent is a zombie: not alive).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") ~= "Z"
end

describe("parallel search (local workers)", function()
  it("runs a search on 2 workers: every trial stored once, in tell order, with its worker", function()
    local dir = fresh_dir("basic")
    local code, out = run("basic " .. dir .. " 2 16")
    assert.are.equal(0, code, out)
    assert.matches("parallel search: 2 local workers x 1 intra%-op thread", out)
    local r = results(out)
    assert.are.equal(1, #r, out)
    assert.are.equal("coordinator", r[1].role)
    assert.are.equal(16, r[1].trials)
    assert.are.equal(2, r[1].processes) -- both workers evaluated trials
    local trials = stored(dir)
    assert.are.equal(16, #trials)
    local told, workers = {}, {}
    for i, t in ipairs(trials) do
      assert.are.equal(i, t.id)
      assert.is_not_nil(t.told)
      assert.is_nil(told[t.told])
      told[t.told] = true
      if not t.cached_from then
        assert.is_not_nil(t.worker, "trial " .. t.id .. " has no worker")
        assert.are.equal("worker", t.metrics.role)
        assert.is_true(t.finished >= t.started)
        workers[t.worker] = true
      end
    end
    assert.is_true(workers[1] and workers[2])
  end)

  it("records a worker killed mid-trial as a failed trial, re-asks it once, and finishes", function()
    local dir = fresh_dir("kill")
    local code, out = run("killself " .. dir .. " 2 20")
    assert.are.equal(0, code, out)
    local trials = stored(dir)
    assert.are.equal(20, #trials)
    local lost
    for _, t in ipairs(trials) do
      if t.status == "failed" then
        assert.is_nil(lost, "a second failed trial: " .. tostring(t.reason))
        lost = t
      end
    end
    assert.is_not_nil(lost, out)
    assert.are.equal("worker lost (killed by SIGKILL)", lost.reason)
    assert.are.equal(3, lost.genotype.depth)
    assert.are.equal(16, lost.genotype.width)
    local retry
    for _, t in ipairs(trials) do
      if t.metrics.retry_of == lost.id then retry = t end
    end
    assert.is_not_nil(retry, "the lost trial was not re-asked")
    assert.are.equal("ok", retry.status)
    assert.are.same(lost.genotype, retry.genotype)
  end)

  it("ends runaway trials at trial_timeout (a Lua loop, and a stopped worker for a C sleep)", function()
    local dir = fresh_dir("timeout")
    local t0 = os.time()
    local code, out = run("timeout " .. dir .. " 2 12")
    assert.are.equal(0, code, out)
    assert.is_true(os.time() - t0 < 60)
    local trials = stored(dir)
    assert.are.equal(12, #trials)
    local soft, hard = 0, 0
    for _, t in ipairs(trials) do
      if t.status == "failed" and not t.cached_from then
        if t.genotype.width == 16 then
          assert.matches("timeout: the trial ran longer than 1s", t.reason)
          soft = soft + 1
        elseif t.genotype.width == 8 then
          assert.matches("timeout: the trial ran longer than 1s %(its worker was stopped%)", t.reason)
          hard = hard + 1
        end
      elseif not t.cached_from then
        assert.are.equal("ok", t.status)
        assert.is_true(t.genotype.width ~= 8 and t.genotype.width ~= 16)
      end
    end
    assert.is_true(soft > 0, out)
    assert.is_true(hard > 0, out)
  end)

  it("resumes after the coordinator is killed: workers die with it, in-flight trials are recorded as lost", function()
    local dir = fresh_dir("resume")
    os.execute("mkdir -p '" .. dir .. "'")
    local log = dir .. ".log"
    os.execute(("%s %s basic %s 2 24 3 >%s 2>&1 & echo $! >%s.pid"):format(nasrun(), SCRIPT, dir, log, dir))
    local f = io.open(dir .. ".pid")
    local pid = tonumber(f:read("a"))
    f:close()
    local n = 0
    for _ = 1, 100 do
      sleep(0.2)
      local ok, trials = pcall(stored, dir)
      n = ok and #trials or 0
      if n >= 3 then break end
    end
    assert.is_true(n >= 3, "the search did not start")
    -- The second search on the same folder is refused while the first runs.
    local code2, out2 = run("basic " .. dir .. " 2 24")
    assert.are_not.equal(0, code2)
    assert.matches("is in use by another search %(nasrun process " .. pid .. "%)", out2)
    os.execute("kill -9 " .. pid)
    sleep(0.5)
    -- The workers registered their pids under <out>/pids (parallel_script.lua).
    local ls = io.popen("ls '" .. dir .. "/pids'")
    local wpids = {}
    for p in ls:read("a"):gmatch("%d+") do wpids[#wpids + 1] = p end
    ls:close()
    assert.are.equal(2, #wpids)
    for _, p in ipairs(wpids) do assert.is_false(alive(p), "worker " .. p .. " outlived its coordinator") end
    local _, running = stored(dir)
    assert.is_true(#running >= 1 and #running <= 2, "in-flight rows: " .. #running)

    local code, out = run("basic " .. dir .. " 2 24")
    assert.are.equal(0, code, out)
    assert.matches("recorded as lost", out)
    local trials, running_after = stored(dir)
    assert.are.equal(24, #trials)
    assert.are.equal(0, #running_after)
    local lost = 0
    for i, t in ipairs(trials) do
      assert.are.equal(i, t.id)
      if t.reason == "lost: the search stopped while this trial ran" then lost = lost + 1 end
    end
    assert.are.equal(#running, lost)
    assert.is_false(alive(pid))
  end)

  it("serves two searches of one script on the same workers; workers leave with the result", function()
    local dir = fresh_dir("two")
    local code, out = run("two " .. dir .. " 2 12")
    assert.are.equal(0, code, out)
    local r = results(out)
    assert.are.equal(2, #r, out)
    assert.are.equal(12, r[1].trials)
    assert.are.equal(12, r[2].trials)
    assert.are.equal(2, r[2].processes)
    -- The workers ran the script past the first search with its result: their
    -- RESULT line (in their logs) names the coordinator's best.
    local f = io.open(dir .. "/workers/worker-1.log")
    local wlog = f:read("a")
    f:close()
    local wr = results(wlog)
    assert.are.equal(1, #wr, wlog)
    assert.are.equal("worker", wr[1].role)
    assert.are.equal(r[1].best, wr[1].best)
    assert.are.equal(r[1].score, wr[1].score)
  end)

  it("waits for results when the strategy has nothing to ask while trials run", function()
    local dir = fresh_dir("gated")
    local code, out = run("gated " .. dir .. " 2 50")
    assert.are.equal(0, code, out)
    local r = results(out)[1]
    assert.are.equal(9, r.trials)
    assert.are.equal("strategy", r.stopped)
  end)

  it("with one worker evaluates in the one process, told in ask order", function()
    local a = fresh_dir("seq1")
    local code1, out1 = run("basic " .. a .. " 1 14 0")
    assert.are.equal(0, code1, out1)
    assert.is_nil(out1:find("parallel search", 1, true))
    local t1 = stored(a)
    assert.are.equal(14, #t1)
    for i, t in ipairs(t1) do
      assert.are.equal(i, t.told)
      assert.is_nil(t.worker)
    end
    assert.are.equal(1, results(out1)[1].processes)
  end)
end)

describe("nas.search options for workers", function()
  local tiny = require "tests.lua.tiny_search"
  local function opts(extra)
    local o = { space = tiny.space(), strategy = tiny.strategy(), evaluate = require("nas.evaluators").analytic(),
                budget = { trials = 1 }, progress = false, log = false }
    for k, v in pairs(extra) do o[k] = v end
    return o
  end
  it("rejects bad workers and trial_timeout values, naming the field", function()
    assert.has_error(function() nas.search(opts{ workers = 0 }) end,
      "bad argument #1 to 'search' (field 'workers' must be an integer in 1..4096)")
    assert.has_error(function() nas.search(opts{ workers = 1.5 }) end,
      "bad argument #1 to 'search' (field 'workers' must be an integer in 1..4096)")
    assert.has_error(function() nas.search(opts{ trial_timeout = -1 }) end,
      "bad argument #1 to 'search' (field 'trial_timeout' must be a number of seconds > 0)")
    assert.has_error(function() nas.search(opts{ trial_timeout = 0 / 0 }) end,
      "bad argument #1 to 'search' (field 'trial_timeout' must be a number of seconds > 0)")
  end)
  it("nasrun rejects a bad --workers and passes a good one to nas.config", function()
    local p = io.popen(nasrun() .. " --workers 0 -e 'print(1)' 2>&1; echo EXIT=$?")
    local out = p:read("a")
    p:close()
    assert.matches("%-%-workers must be in 1%.%.4096", out)
    assert.matches("EXIT=2", out)
    p = io.popen(nasrun() .. " --workers 3 -e 'print(\"W\", require(\"nas\").config.workers, require(\"nas\").role())'"
                 .. " 2>&1")
    out = p:read("a")
    p:close()
    assert.matches("W\t3\tcoordinator", out)
  end)
  it("needs the nasrun command for local workers", function()
    local ok, err = pcall(nas.search, opts{ workers = 2 })
    assert.is_false(ok)
    assert.matches("local workers need the nasrun command", err)
  end)
  it("ends a runaway Lua evaluation at trial_timeout in a sequential search too", function()
    local r = nas.search(opts{ trial_timeout = 0.2, evaluate = function() while true do end end })
    assert.are.equal("failed", r.trials[1].status)
    assert.matches("timeout: the trial ran longer than 0.2s", r.trials[1].reason)
  end)
end)
