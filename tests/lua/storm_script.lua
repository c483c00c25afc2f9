-- Run by storm_parallel_spec.lua under a real nasrun:
--   nasrun storm_script.lua OUT TRIALS PAUSE [AT]
-- A seeded search on 2 local workers over ~300 distinct small graphs (so that
-- few trials are repeats, settled without a worker), each evaluation taking
-- PAUSE seconds. With AT (used by interrupt_spec.lua), the coordinator sends
-- itself SIGINT right after the store's INSERT of trial AT (inside the
-- transaction of its loop's turn). Prints RESULT role= best= score= trials= stopped=.
local nas = require "nas"
local core = require "nas.core"
local out, trials = arg[1], math.tointeger(tonumber(arg[2]))
local pause = tonumber(arg[3] or "0.3")
local at = math.tointeger(tonumber(arg[4] or ""))

if at and nas.role() == "coordinator" then
  require "luasql.sqlite3"
  local methods = debug.getregistry()["SQLite3 connection"] -- shared by every connection
  local execute = methods.execute
  methods.execute = function(c, sql, ...)
    local r, e = execute(c, sql, ...)
    if sql:find("^INSERT INTO trials%(") and sql:find("VALUES %(" .. at .. ",") then core.kill(core.pid(), 2) end
    return r, e
  end
end

local space = { name = "storm" }
function space.sample(_, rng)
  return { depth = rng:int(1, 3), width = rng:int(1, 48), k = rng:choice{ 1, 3 } }
end
function space.build(_, g)
  local net = nas.net{ input = { 1, 8, 8 } }
  for _ = 1, g.depth do
    net:conv{ out = g.width, k = g.k }
    net:relu()
  end
  net:gap()
  net:linear{ out = 10 }
  return net
end
function space.key(_, g) return ("%d/%d/%d"):format(g.depth, g.width, g.k) end

-- Random sampling (all randomness from ask's rng: a resumed search asks the same).
local strategy = { name = "storm-random" }
function strategy.ask(_, sp, rng) return sp:sample(rng) end
function strategy.tell() end

local r = nas.search{
  space = space, strategy = strategy, objectives = nas.maximize "accuracy", seed = 9, out = out, workers = 2,
  budget = { trials = trials }, progress = false,
  evaluate = function(net)
    core.sleep(pause)
    return { accuracy = 1 - 1 / (1 + net:params() / 1000), pid = core.pid() }
  end,
}
print(("RESULT role=%s best=%d score=%.17g trials=%d stopped=%s"):format(nas.role(), r.best.id, r.best.score,
                                                                        #r.trials, tostring(r.stopped)))
