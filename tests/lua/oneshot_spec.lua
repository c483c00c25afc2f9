-- One-shot strategies (darts, gdas, spos, enas) through nas.search under a real
-- nasrun, on a few hundred rows of Fashion-MNIST: the store's trials (the
-- scored subnets) and phases rows (supernet epochs with their checkpoints, the
-- choice), the progress lines, result.best = the chosen subnet, and resuming
-- after kill -9 (in SPOS's search phase: the same trials as an uninterrupted
-- run; in DARTS's training: from the last epoch's checkpoint).
local nas = require "nas"
local json = require "nas.json"
local helpers = require "tests.lua.helpers"

local nasrun = helpers.nasrun
local function fresh_dir(name) return helpers.fresh_dir("oneshot", name) end

-- arg: method, out, epochs [, "retrain" | "pause"] ("pause": each trial's build
-- takes 0.3 s more, so that a kill lands in the middle). Small settings per
-- method; the cell space with C = 4; 400 training rows.
local SCRIPT = [[
local nas = require "nas"
local key = require("nas.space").genotype_key
local method, out, epochs, extra = arg[1], arg[2], math.tointeger(tonumber(arg[3])), arg[4]
local data = nas.data.fashion_mnist{ valid = 100, seed = 1 }
data.train, data.test = data.train:subset(400, 1), data.test:subset(300, 1)
local opts = { epochs = epochs, batch = 32 }
if method == "darts" or method == "gdas" then opts.derive_rows = 100; opts.derive_samples = 2 end
if method == "spos" then
  opts.trials, opts.holdout, opts.bn_batches = 8, 100, 2
  opts.strategy = require("strategies.random").new()
end
if method == "enas" then
  opts.controller_steps, opts.reward_rows, opts.final_samples, opts.holdout = 4, 50, 3, 100
end
local space = require("spaces.cell").with{ C = 4 }
if extra == "pause" then
  local build = space.build
  space.build = function(self, g)
    require("nas.core").sleep(0.3)
    return build(self, g)
  end
end
local r = nas.search{ space = space, strategy = require("strategies." .. method).new(opts),
  evaluate = nas.train{ data = data, epochs = 1, batch = 64 }, out = out, budget = { minutes = 10 }, seed = 5 }
local sig = {}
for _, t in ipairs(r.trials) do
  sig[#sig + 1] = ("%d:%s:%.6f:%s"):format(t.id, t.status, t.score or -1, key(t.genotype))
end
print(("RESULT best=%d chosen=%s same=%s n=%d stopped=%s sig=%s"):format(r.best.id, key(r.oneshot.genotype),
  tostring(key(r.best.genotype) == key(r.oneshot.genotype)), #r.trials, r.stopped, table.concat(sig, ",")))
if extra == "retrain" then
  local m = r.best:retrain{ epochs = 1 }
  print(("RETRAIN %.4f"):format(m.test_accuracy))
end
]]

local script_path
local function script()
  if not script_path then
    script_path = os.tmpname() .. ".lua"
    local f = assert(io.open(script_path, "w"))
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

local function run(method, dir, epochs, extra)
  return sh(("%s %s %s %s %d %s"):format(nasrun(), script(), method, dir, epochs, extra or ""))
end

local function field(out, name) return out:match("RESULT.- " .. name .. "=(%S+)") end

local function phases(dir)
  local rows = helpers.sql_rows(dir .. "/trials.db", "SELECT id, kind, epoch, step, data FROM phases ORDER BY id")
  for _, r in ipairs(rows) do r.data = json.decode(r.data) end
  return rows
end

local function trials(dir)
  local st = nas.store(dir, { create = false })
  local t = st:trials()
  st:close()
  return t
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The trial nas.search and `nasrun best` call best: the largest fidelity, then the score.
local function store_best(list)
  local best
  for _, t in ipairs(list) do
    if t.status == "ok" and not t.cached_from then
      local e, be = t.metrics.fidelity.epochs, best and best.metrics.fidelity.epochs
      if not best or e > be or (e == be and t.score > best.score) then best = t end
    end
  end
  return best
end

describe("one-shot strategies through nas.search", function()
  for _, method in ipairs{ "darts", "gdas", "spos", "enas" } do
    it(method .. ": candidates are trials, epochs are phases rows with checkpoints, best is the choice", function()
      local dir = fresh_dir(method)
      local code, out = run(method, dir, 1, method == "darts" and "retrain" or nil)
      assert.are.equal(0, code, out)
      -- the progress lines: the supernet's epoch, then each scored subnet
      assert.matches(method .. " supernet epoch 1/1: loss %d", out)
      assert.matches("trial 1/%? ok score", out)
      assert.matches(method .. " chose trial #%d+", out)
      assert.matches("search done %(epochs%)", out)
      assert.are.equal("true", field(out, "same"))

      local list = trials(dir)
      assert.are.equal(tonumber(field(out, "n")), #list)
      assert.is_true(#list >= (method == "spos" and 8 or 1), "trials " .. #list)
      for _, t in ipairs(list) do
        assert.are.equal("ok", t.status)
        assert.is_truthy(t.graph, "trial " .. t.id .. " has its graph")
        assert.is_true(t.metrics.params > 0)
        assert.is_true(t.metrics.accuracy >= 0 and t.metrics.accuracy <= 1)
        assert.are.equal(t.metrics.accuracy, t.score)
        assert.is_true(t.metrics.rows == 100 or t.metrics.rows == 50, "rows scored " .. tostring(t.metrics.rows))
        assert.is_true(t.metrics.fidelity.epochs > 0)
        assert.is_truthy(require("spaces.cell"):build(t.genotype))
      end
      local best = store_best(list)
      assert.are.equal(tonumber(field(out, "best")), best.id)
      assert.are.equal(require("nas.space").genotype_key(best.genotype), field(out, "chosen"))

      local rows = phases(dir)
      assert.are.equal("epoch", rows[1].kind)
      assert.are.equal(1, math.tointeger(rows[1].epoch))
      assert.is_true(rows[1].step > 0)
      assert.is_truthy(rows[1].data.checkpoint)
      assert.is_true(exists(dir .. "/" .. rows[1].data.checkpoint))
      assert.is_true(exists(dir .. "/" .. rows[1].data.checkpoint .. ".arch.json"))
      assert.are.equal("result", rows[#rows].kind)
      assert.are.equal(best.id, rows[#rows].data.trial)
      if method == "enas" then -- the controller's draws and rewards, for a resumed policy
        assert.are.equal(4, #rows[1].data.controller)
      end
      if method == "darts" then
        local acc = tonumber(out:match("RETRAIN ([%d.]+)"))
        assert.is_true(acc and acc > 0.2, "retrained test accuracy " .. tostring(acc))
      end

      -- the same command again: nothing retrained, nothing recorded twice, the same choice
      local code2, out2 = run(method, dir, 1)
      assert.are.equal(0, code2, out2)
      assert.matches("resuming from the supernet checkpoint of epoch 1 of 1", out2)
      assert.is_nil(out2:match("trial %d+/%? ok"))
      assert.are.equal(field(out, "sig"), field(out2, "sig"))
      assert.are.equal(#rows, #phases(dir))
      os.execute("rm -rf '" .. dir .. "'")
    end)
  end

  -- Starts a search in the background and kill -9s it once ready(dir) holds.
  local function killed(method, dir, epochs, ready)
    local pidfile = dir .. ".pid"
    os.execute(("%s %s %s %s %d pause >/dev/null 2>&1 & echo $! > %s"):format(nasrun(), script(), method, dir,
                                                                             epochs, pidfile))
    local f = assert(io.open(pidfile))
    local pid = assert(tonumber(f:read("a")))
    f:close()
    os.remove(pidfile)
    for _ = 1, 600 do
      if exists(dir .. "/trials.db") then
        local ok, yes = pcall(ready, dir)
        if ok and yes then break end
      end
      os.execute("sleep 0.1")
    end
    return os.execute("kill -9 " .. pid .. " 2>/dev/null")
  end

  it("spos killed in its search phase resumes to the trials of an uninterrupted run", function()
    local dir = fresh_dir("spos_killed")
    assert.is_true(killed("spos", dir, 1, function(d)
      return #helpers.sql_rows(d .. "/trials.db", "SELECT id FROM trials") >= 2
    end), "the search was still running")
    local before = trials(dir)
    assert.is_true(#before >= 2 and #before < 8, "trials before the kill: " .. #before)
    local code, out = run("spos", dir, 1)
    assert.are.equal(0, code, out)
    assert.matches(("resuming .*: %d trials replayed"):format(#before), out)
    assert.matches("resuming from the supernet checkpoint of epoch 1 of 1", out)
    local after = trials(dir)
    assert.are.equal(8, #after)
    for i, t in ipairs(before) do
      assert.are.same(t.genotype, after[i].genotype)
      assert.are.equal(t.score, after[i].score)
    end
    local whole = fresh_dir("spos_whole")
    local code2, out2 = run("spos", whole, 1)
    assert.are.equal(0, code2, out2)
    assert.are.equal(field(out2, "sig"), field(out, "sig"))
    os.execute("rm -rf '" .. dir .. "' '" .. whole .. "'")
  end)

  it("darts killed while training resumes from its last epoch's checkpoint and finishes", function()
    local dir = fresh_dir("darts_killed")
    assert.is_true(killed("darts", dir, 2, function(d)
      return #helpers.sql_rows(d .. "/trials.db", "SELECT id FROM trials") >= 1
    end), "the search was still running")
    local rows, before = phases(dir), trials(dir)
    local last = rows[#rows]
    assert.are.equal("epoch", last.kind)
    assert.are.equal(1, last.data.epoch, "killed after epoch " .. last.data.epoch)
    local code, out = run("darts", dir, 2)
    assert.are.equal(0, code, out)
    assert.matches("resuming from the supernet checkpoint of epoch 1 of 2", out)
    local after = trials(dir)
    assert.are.equal(2, #after) -- one cell per epoch, the last one chosen
    for i, t in ipairs(before) do
      assert.are.same(t.genotype, after[i].genotype)
      assert.are.equal(t.score, after[i].score)
    end
    local epochs = {}
    for _, r in ipairs(phases(dir)) do
      if r.kind == "epoch" then epochs[#epochs + 1] = math.tointeger(r.epoch) end
    end
    assert.are.same({ 1, 2 }, epochs)
    assert.are.equal(2, after[2].metrics.fidelity.epochs)
    assert.are.equal("2", field(out, "best"))
    -- only the last checkpoint is kept
    local p = io.popen("ls '" .. dir .. "/supernet'")
    local files = p:read("a")
    p:close()
    assert.are.equal(2, select(2, files:gsub("\n", "")), files)
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("checks how it is used", function()
    local darts = require "strategies.darts"
    local tiny = require "tests.lua.tiny_search"
    local d = { train = {} }
    local function err(opts)
      local ok, msg = pcall(nas.search, opts)
      assert.is_false(ok)
      return tostring(msg)
    end
    local space = require("spaces.cell")
    assert.matches("field 'data' is for one%-shot strategies",
      err{ space = tiny.space(), strategy = tiny.strategy(), evaluate = function() return {} end, data = d,
           budget = { trials = 1 } })
    assert.matches("trains a supernet: give data =",
      err{ space = space, strategy = darts.new{}, budget = { minutes = 1 }, log = false })
    assert.matches("trial_timeout and limits apply to ask/tell strategies",
      err{ space = space, strategy = darts.new{}, budget = { minutes = 1 }, log = false, trial_timeout = 5,
           data = { train = nas.data.fashion_mnist{ valid = 100 }.train } })
    assert.matches("has no search%(ctx%) method",
      err{ space = space, strategy = { oneshot = true }, budget = { minutes = 1 } })
    assert.matches("unknown option 'seed'", select(2, pcall(darts.new, { seed = 1 })))
  end)
end)
