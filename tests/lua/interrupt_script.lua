-- Run by interrupt_spec.lua under a real nasrun:
--   nasrun --threads 1 interrupt_script.lua MODE OUT TRIALS [AT]
-- A seeded sequential search that trains real nets (a few steps on a slice of
-- Fashion-MNIST) and then retrains its best. MODE: where this process sends
-- SIGINT to itself (AT: the trial, or for "retrain" the epoch):
--   none     nowhere (an uninterrupted run, or one interrupted from outside)
--   train    during trial AT's training, between two training steps
--   write    during the store write of trial AT, just after SQLite's INSERT
--   tell     while the strategy is told trial AT (after the write)
--   retrain  during the retrain of the best, after epoch AT
--   swallow  during trial AT's evaluation, inside a pcall that ignores the
--            error (an evaluator that catches everything)
-- Prints RESULT n=<trials> best=<id> score=<score> sig=<id:status:score,...>
-- and then RETRAIN <test accuracy>.
local nas = require "nas"
local core = require "nas.core"
local tiny = require "tests.lua.tiny_search"
local mode, out = arg[1], arg[2]
local trials, at = math.tointeger(tonumber(arg[3])), math.tointeger(tonumber(arg[4] or "0"))

local function interrupt() core.kill(core.pid(), 2) end

local data = nas.data.fashion_mnist{ valid = 500, seed = 1 }

-- A small chain on 28x28 inputs: depth 1..3, width 4..16, every graph trains in
-- a fraction of a second.
local widths = { 4, 8, 16 }
local space = { name = "interrupt-chain" }
function space.sample(_, rng)
  return { depth = rng:int(1, 3), width = rng:choice(widths), pad = rng:int(0, 1) }
end
function space.build(_, g)
  local net = nas.net{ input = { 1, 28, 28 } }
  net:conv{ out = g.width, k = 3, stride = 2 }
  net:relu()
  for _ = 2, g.depth do
    net:conv{ out = g.width, k = 3 }
    net:relu()
  end
  net:gap()
  net:linear{ out = 10 }
  return net
end
function space.key(_, g) return ("%d/%d/%d"):format(g.depth, g.width, g.pad) end

local train = nas.train{ data = data, epochs = 1, fraction = 0.02, batch = 32, lr = 0.1, latency = false, chunk = 2 }
local evaluate = train
if mode == "train" or mode == "swallow" then
  evaluate = {}
  function evaluate.evaluate(_, net, ctx)
    if ctx.trial == at and mode == "train" then
      local progress = ctx.progress
      ctx.progress = function(p)
        if p.step >= 4 then interrupt() end
        if progress then progress(p) end
      end
    elseif ctx.trial == at then
      pcall(function()
        interrupt()
        for _ = 1, 10 do local _ = {} end
      end)
    end
    return train:evaluate(net, ctx)
  end
  function evaluate.retrain(_, net, opts) return train:retrain(net, opts) end
end

if mode == "write" then
  -- LuaSQL's connection methods (one table in the registry, shared by every
  -- connection): SIGINT arrives right after the INSERT of trial AT returned.
  require "luasql.sqlite3"
  local methods = debug.getregistry()["SQLite3 connection"]
  local execute = methods.execute
  methods.execute = function(c, sql, ...)
    local r, e = execute(c, sql, ...)
    if sql:find("^INSERT INTO trials%(") and sql:find("VALUES %(" .. at .. ",") then interrupt() end
    return r, e
  end
end

local strategy = tiny.strategy()
if mode == "tell" then
  local tell = strategy.tell
  strategy.tell = function(self, t)
    if t.id == at then interrupt() end
    return tell(self, t)
  end
end

local r = nas.search{ space = space, strategy = strategy, evaluate = evaluate, seed = 3, out = out,
                      budget = { trials = trials }, log = false }
local sig = {}
for _, t in ipairs(r.trials) do sig[#sig + 1] = ("%d:%s:%s%s"):format(t.id, t.status, tostring(t.score),
                                                            t.cached_from and ("=" .. t.cached_from) or "") end
print(("RESULT n=%d best=%d score=%.17g sig=%s"):format(#r.trials, r.best.id, r.best.score, table.concat(sig, ",")))
io.stdout:flush()

if mode == "retrain" then
  -- every model made from now on signals after its epoch AT
  local model_mod = require "nas.model"
  local new = model_mod.new
  model_mod.new = function(...)
    local m = new(...)
    local train_fn = m.train
    m.train = function(self, d, o)
      local on_epoch = o.on_epoch
      o.on_epoch = function(e, s)
        if e >= at then interrupt() end
        if on_epoch then return on_epoch(e, s) end
      end
      return train_fn(self, d, o)
    end
    return m
  end
end
local rt = r.best:retrain{ epochs = 3, fraction = 0.03, verbose = false }
print(("RETRAIN %.17g"):format(rt.test_accuracy))
