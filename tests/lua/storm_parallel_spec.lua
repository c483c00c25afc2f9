-- A kill storm on a parallel search: a seeded search on 2 local workers
-- (tests/lua/storm_script.lua) is sent SIGKILL 12 times at random
-- (seeded) moments -- the coordinator, its whole process group, or one worker
-- -- and started again after each kill of the coordinator. Nothing but the
-- trials in flight may be lost: every trial stored before a kill is still
-- there, identical, after it; the in-flight trials of a killed coordinator
-- are recorded as failed ('lost: ...') by the next run, a killed worker's
-- trial as failed ('worker lost (killed by SIGKILL)'); no worker outlives its
-- coordinator; the store passes SQLite's integrity check after every kill;
-- and the last run ends with the full budget of trials.
local nas = require "nas"

local helpers = require "tests.lua.helpers"
local nasrun, sql_rows = helpers.nasrun, helpers.sql_rows

local SCRIPT = "tests/lua/storm_script.lua"
local TOTAL = 100   -- trials in the budget
local PAUSE = 0.5   -- seconds per evaluation
local KILLS = 12    -- (plus one at the end of the storm if a coordinator runs then)

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function sleep(s) os.execute(("sleep %.3f"):format(s)) end

-- The processes whose command line mentions `tag` (a unique run folder):
-- pid -> { ppid =, state =, cmd = }; zombies left out (they have ended).
local function processes(tag)
  local out = {}
  local p = io.popen("ls /proc")
  local list = p:read("a")
  p:close()
  for pid in list:gmatch("%d+") do
    local cmd = read("/proc/" .. pid .. "/cmdline")
    if cmd and cmd:find(tag, 1, true) then
      local stat = read("/proc/" .. pid .. "/stat") or ""
      local state, ppid = stat:match("^%d+ %b() (%a) (%d+)")
      if state and state ~= "Z" then out[tonumber(pid)] = { ppid = tonumber(ppid), state = state, cmd = cmd } end
    end
  end
  return out
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- The rows of sql on the store db, read as another process would (a reader
-- may meet a writer's lock while the store is being created: retried).
local function query(db, sql)
  local ok, rows
  for _ = 1, 100 do
    ok, rows = pcall(sql_rows, db, sql)
    if ok then return rows end
    if not tostring(rows):find("locked", 1, true) then break end
    sleep(0.05)
  end
  error(rows, 2)
end

-- The stored trials (id -> row) and the running rows (id -> row), read as
-- another process would; none before the search created its store (a kill
-- during start-up).
local function snapshot(db)
  local trials, running = {}, {}
  if not exists(db) then return trials, running end
  local tables = {}
  for _, r in ipairs(query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")) do tables[r.name] = true end
  if not tables.trials then return trials, running end
  local ok, rows = pcall(query, db, "SELECT id, status, score, reason, genotype, told FROM trials")
  if not ok then return nil end
  for _, r in ipairs(rows) do trials[math.tointeger(r.id)] = r end
  local okr, rrows = pcall(query, db, "SELECT id FROM running")
  if okr then for _, r in ipairs(rrows) do running[math.tointeger(r.id)] = r end end
  return trials, running
end

describe("a parallel kill storm", function()
  it("survives 12 SIGKILLs of the coordinator, its process group or a worker: only in-flight trials lost", function()
    local dir = helpers.fresh_dir("storm", "parallel")
    os.execute("mkdir -p '" .. dir .. "'")
    local db = dir .. "/trials.db"
    local args = ("%s %s %d %g"):format(SCRIPT, dir, TOTAL, PAUSE)
    math.randomseed(2024)
    -- What each kill hits (5 coordinators, 4 process groups, 3 workers), in a seeded order.
    local plan = {}
    for _, k in ipairs{ { "coordinator", 5 }, { "group", 4 }, { "worker", 3 } } do
      for _ = 1, k[2] do plan[#plan + 1] = k[1] end
    end
    for i = #plan, 2, -1 do
      local j = math.random(i)
      plan[i], plan[j] = plan[j], plan[i]
    end

    local coordinator -- pid of the running coordinator (its own process group, by setsid)
    local starts, kinds = 0, { coordinator = 0, group = 0, worker = 0 }
    local seen = {}        -- id -> row: every trial ever seen stored
    local lost_ids = {}    -- ids left running by a killed coordinator: recorded as lost later
    local worker_kills = 0
    local history = {}     -- one line per kill, for the messages

    local function start()
      starts = starts + 1
      local log = ("%s.log%d"):format(dir, starts)
      os.execute(("setsid %s %s >%s 2>&1 & echo $! >%s.pid"):format(nasrun(), args, log, dir))
      coordinator = tonumber(read(dir .. ".pid"))
      -- setsid makes it the leader of its own process group (without a fork:
      -- it is not a group leader in the shell), then execs nasrun
      local pgrp
      for _ = 1, 100 do
        local stat = read("/proc/" .. coordinator .. "/stat")
        pgrp = stat and tonumber(stat:match("^%d+ %b() %a %d+ (%d+)"))
        if pgrp == coordinator or not stat then break end
        sleep(0.02)
      end
      assert.are.equal(coordinator, pgrp)
    end

    -- Waits until no process of the run is left (up to 10 s); returns those left.
    local function wait_all_gone()
      local left
      for _ = 1, 100 do
        left = processes(dir)
        if next(left) == nil then return left end
        sleep(0.1)
      end
      return left
    end

    -- Every trial seen before is still stored, unchanged; then remembers the new ones.
    local function check_kept(trials)
      for id, r in pairs(seen) do
        local now = trials[id]
        assert.is_not_nil(now, "trial " .. id .. " was lost")
        assert.are.same({ r.status, r.score, r.genotype, r.told }, { now.status, now.score, now.genotype, now.told })
      end
      for id, r in pairs(trials) do seen[id] = r end
    end

    for kill = 1, KILLS do
      if not coordinator then start() end
      -- a random moment: start-up, workers starting, trials running, a commit
      local delay = 0.4 + 2.2 * math.random()
      sleep(delay)
      local procs = processes(dir)
      if not procs[coordinator] then
        -- the search had already ended (or failed): it must have ended well
        local out = read(("%s.log%d"):format(dir, starts)) or ""
        assert.matches("RESULT role=coordinator", out)
        break
      end
      local workers = {}
      for pid, p in pairs(procs) do
        if p.ppid == coordinator then workers[#workers + 1] = pid end
      end
      table.sort(workers)
      local trials_before = snapshot(db)
      if trials_before then check_kept(trials_before) end
      local what = plan[kill]
      if what == "worker" and #workers == 0 then what = "coordinator" end -- workers not started yet
      history[#history + 1] = ("after %.2fs: %d stored, %d workers, %s"):format(delay, count(trials_before or {}),
        #workers, what)
      if what == "worker" then
        -- one worker: the coordinator records its trial as failed, asks it again and starts a new worker
        local w = workers[math.random(#workers)]
        os.execute("kill -9 " .. w)
        kinds.worker, worker_kills = kinds.worker + 1, worker_kills + 1
        sleep(0.3)
      else
        if what == "coordinator" then
          os.execute("kill -9 " .. coordinator)
          kinds.coordinator = kinds.coordinator + 1
        else
          -- the process group (the workers have their own); dash's kill cannot name a group
          os.execute("bash -c 'kill -KILL -- -" .. coordinator .. "'")
          kinds.group = kinds.group + 1
        end
        -- No worker outlives its coordinator.
        local left = wait_all_gone()
        assert.are.same({}, left, "processes left after the coordinator was killed")
        coordinator = nil
        if exists(db) then assert.are.same({ { integrity_check = "ok" } }, query(db, "PRAGMA integrity_check")) end
        local trials, running = snapshot(db)
        assert.is_not_nil(trials, "the store cannot be read after a kill")
        check_kept(trials)
        for id in pairs(running) do
          assert.is_nil(trials[id], "trial " .. id .. " is both stored and running")
          lost_ids[id] = true
        end
      end
    end
    if coordinator then
      os.execute("kill -9 " .. coordinator)
      assert.are.same({}, wait_all_gone())
      kinds.coordinator = kinds.coordinator + 1
      local trials, running = snapshot(db)
      check_kept(trials)
      for id in pairs(running) do lost_ids[id] = true end
    end
    assert.is_true(kinds.coordinator + kinds.group >= 6, "coordinator kills: " .. kinds.coordinator + kinds.group
                   .. "\n" .. table.concat(history, "\n"))
    assert.is_true(count(seen) > 0 and count(seen) < TOTAL, "trials stored during the storm: " .. count(seen)
                   .. "\n" .. table.concat(history, "\n"))

    -- The last run, to the end.
    local p = io.popen(("%s %s 2>&1; echo EXIT=$?"):format(nasrun(), args))
    local out = p:read("a")
    p:close()
    assert.matches("EXIT=0", out)
    assert.matches("RESULT role=coordinator best=%d+ score=[%d%.e%-]+ trials=" .. TOTAL, out)
    assert.are.same({}, wait_all_gone())
    assert.are.same({ { integrity_check = "ok" } }, query(db, "PRAGMA integrity_check"))
    local trials_after = snapshot(db)
    check_kept(trials_after)

    local st = nas.store(dir, { create = false })
    local trials, running = st:trials(), st:running()
    st:close()
    assert.are.equal(TOTAL, #trials)
    assert.are.equal(0, #running)
    local lost, worker_lost, told = 0, 0, {}
    for i, t in ipairs(trials) do
      assert.are.equal(i, t.id)
      assert.is_nil(told[t.told], "two trials told as #" .. tostring(t.told))
      told[t.told] = true
      if t.reason == "lost: the search stopped while this trial ran" then
        lost = lost + 1
        assert.is_true(lost_ids[t.id], "trial " .. t.id .. " recorded as lost but was not running at a kill")
      elseif t.reason and t.reason:find("^worker lost %(") and t.reason:find("killed by SIGKILL", 1, true) then
        worker_lost = worker_lost + 1
      else
        assert.are.equal("ok", t.status, tostring(t.reason) .. "\n" .. table.concat(history, "\n"))
      end
    end
    -- Every trial left running by a killed coordinator is recorded as lost.
    assert.are.equal(count(lost_ids), lost)
    -- A killed worker loses at most its one trial in flight.
    assert.is_true(worker_lost <= worker_kills, ("%d worker-lost trials, %d workers killed"):format(worker_lost,
                                                                                                   worker_kills))
    print(("\nparallel storm: %d kills (%d of the coordinator, %d of its process group, %d of a worker), " ..
           "%d starts, %d trials lost in flight, %d lost with a worker"):format(
      kinds.coordinator + kinds.group + kinds.worker, kinds.coordinator, kinds.group, kinds.worker, starts, lost,
      worker_lost))
    print(table.concat(history, "\n"))
  end)
end)
