-- Faults during a search, under a real nasrun: a full disk, damaged or
-- foreign store files, and a kill storm (SIGKILL 20 times at random moments,
-- resumed each time). Each ends with a clear message or exactly the result of
-- an uninterrupted run.
local nas = require "nas"

local helpers = require "tests.lua.helpers"
local nasrun = helpers.nasrun
local function fresh_dir(name) return helpers.fresh_dir("faults", name) end

-- The search every test runs: the tiny space, a history-dependent strategy, a
-- seeded deterministic evaluator; each trial takes `pause` seconds; the
-- metrics are large (20 kB, so that the store grows fast).
local SCRIPT = [[
local nas = require "nas"
local tiny = require "tests.lua.tiny_search"
local core = require "nas.core"
local pause = tonumber(arg[3] or "0")
local space = tiny.space{ bad_rate = 0.1 }
local build = space.build
space.build = function(self, g) -- every trial (repeats too) takes `pause` seconds
  if pause > 0 then core.sleep(pause) end
  return build(self, g)
end
local r = nas.search{ space = space, strategy = tiny.strategy(), seed = 4, out = arg[1],
  budget = { trials = tonumber(arg[2]) }, log = false,
  evaluate = function(net, ctx)
    return { accuracy = net:params() / 1e4 + ctx.seed % 1000 * 1e-7, pad = ("x"):rep(20000) }
  end }
local ids = {}
for _, t in ipairs(r.trials) do ids[#ids + 1] = ("%d:%s:%s"):format(t.id, t.status, tostring(t.score)) end
print(("RESULT n=%d best=%d score=%.17g sig=%s"):format(#r.trials, r.best.id, r.best.score, table.concat(ids, ",")))
]]

local script_path
local function script()
  if not script_path then
    script_path = os.tmpname() .. ".lua"
    local f = io.open(script_path, "w")
    f:write(SCRIPT)
    f:close()
  end
  return script_path
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo EXIT=$?")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("EXIT=(%d+)%s*$")), out
end

local function run(dir, trials, prefix)
  return sh(("%s%s %s %s %d"):format(prefix or "", nasrun(), script(), dir, trials))
end

local function result(out) return out:match("RESULT ([^\n]*)") end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

describe("faults", function()
  local reference = {}
  local function uninterrupted(trials)
    if not reference[trials] then
      local code, out = run(fresh_dir("whole"), trials)
      assert.are.equal(0, code, out)
      reference[trials] = result(out)
    end
    return reference[trials]
  end

  it("a full disk stops the search with a clear message; the same command resumes to the same result", function()
    local dir = fresh_dir("full")
    -- 200 kB for files this process writes (ulimit -f counts 1024-byte blocks).
    local code, out = run(dir, 120, "ulimit -f 200; ")
    assert.are_not.equal(0, code)
    assert.matches("search: cannot write trial #%d+ to " .. dir:gsub("%p", "%%%0")
                   .. "/trials.db %(.*is the disk full%?%)", out)
    assert.matches("run the same command again when there is space", out)
    local st = nas.store(dir, { create = false })
    local stored = st:count()
    st:close()
    assert.is_true(stored > 0 and stored < 120, "stored " .. stored)
    local code2, out2 = run(dir, 120)
    assert.are.equal(0, code2, out2)
    assert.matches("resuming", out2 .. (read(dir .. "/search.log") or ""))
    assert.are.equal(uninterrupted(120), result(out2))
  end)

  it("a damaged, truncated or foreign store file is named and left untouched, never started over", function()
    local cases = {
      { "garbage", "not a trial store" },
      { "truncated", "damaged or is not a trial store" },
    }
    -- A real store to truncate.
    local src = fresh_dir("src")
    assert.are.equal(0, (run(src, 30)))
    for _, c in ipairs(cases) do
      local dir = fresh_dir(c[1])
      os.execute("mkdir -p '" .. dir .. "'")
      local f = io.open(dir .. "/trials.db", "wb")
      if c[1] == "garbage" then
        f:write(("not a database "):rep(100))
      else
        f:write(read(src .. "/trials.db"):sub(1, 6000))
      end
      f:close()
      local before = read(dir .. "/trials.db")
      local code, out = run(dir, 10)
      assert.are_not.equal(0, code)
      assert.matches("search: cannot use " .. dir:gsub("%p", "%%%0") .. "/trials.db: .*"
                     .. c[2]:gsub("%p", "%%%0"), out)
      assert.matches("It was left as it is", out)
      assert.are.equal(before, read(dir .. "/trials.db"))
    end
    -- An SQLite database of something else.
    local dir = fresh_dir("foreign")
    os.execute("mkdir -p '" .. dir .. "'")
    local env = require("luasql.sqlite3").sqlite3()
    local conn = env:connect(dir .. "/trials.db")
    conn:execute("CREATE TABLE customers(name TEXT)")
    conn:close()
    env:close()
    local code, out = run(dir, 10)
    assert.are_not.equal(0, code)
    assert.matches("an SQLite database, but not a trial store %(it has a table 'customers'%)", out)
  end)

  it("survives a kill storm: 20 SIGKILLs at random moments, resumed each time, end exactly as uninterrupted", function()
    local total = 300
    local dir = fresh_dir("storm")
    local kills = 0
    math.randomseed(7)
    for _ = 1, 20 do
      local pidfile = dir .. ".pid"
      os.execute(("%s %s %s %d 0.1 >/dev/null 2>&1 & echo $! > %s"):format(nasrun(), script(), dir, total, pidfile))
      local pid = tonumber(read(pidfile))
      -- a random moment: start-up, a trial, a store write
      os.execute(("sleep %.3f"):format(1.0 + math.random()))
      if os.execute("kill -9 " .. pid .. " 2>/dev/null") then kills = kills + 1 end
      os.execute("sleep 0.1")
    end
    assert.is_true(kills >= 15, "kills " .. kills)
    -- The storm hit a search in progress (not only start-ups): trials were stored across the kills.
    local st0 = nas.store(dir, { create = false })
    local before = st0:count()
    st0:close()
    assert.is_true(before >= 15 and before < total, "stored before the last run: " .. before)
    local code, out = run(dir, total)
    assert.are.equal(0, code, out)
    local mine = result(out)
    -- The uninterrupted reference with the same per-trial pause is the same search.
    assert.are.equal(uninterrupted(total), mine)
    local st = nas.store(dir, { create = false })
    local rows = st:trials()
    st:close()
    assert.are.equal(total, #rows)
    for i, t in ipairs(rows) do assert.are.equal(i, t.id) end
  end)
end)
