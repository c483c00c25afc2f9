-- bench/graph_build.lua: graphs per second through the Lua API.
--
--   nasrun --threads 2 bench/graph_build.lua reps=5
--
-- One graph = nas.net{input = {1,28,28}} + 20 op calls (a small residual CNN,
-- the architecture of graph_build.c and graph_build.py) + net:params() +
-- net:flops(). Each op call checks its spec table in Lua (nas.net), converts
-- the attributes in C (nas.core) and runs the op's shape rule (engine/core).
-- Graphs are dropped to the garbage collector (their __gc frees them), whose
-- cost is in the time. Rate = graphs / wall time of a window of about 1 s,
-- median of `reps` windows.
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local B = require "common"
local nas = require "nas"

local o = B.args{ reps = 5, window = 1.0 }

local function build()
  local net = nas.net{ input = { 1, 28, 28 } }
  net:conv{ out = 16, k = 3 }; net:bn(); net:relu()            -- 1..3
  net:conv{ out = 16, k = 3 }; net:bn(); net:relu()            -- 4..6
  net:maxpool{ k = 2 }                                         -- 7
  net:conv{ out = 32, k = 3 }; net:bn()                        -- 8, 9
  local a = net:relu()                                         -- 10
  net:conv{ out = 32, k = 3 }; local b = net:bn()              -- 11, 12
  net:add{ a, b }; net:relu()                                  -- 13, 14
  net:maxpool{ k = 2 }                                         -- 15
  net:conv{ out = 64, k = 3 }; net:bn(); net:relu()            -- 16..18
  net:gap(); net:linear{ out = 10 }                            -- 19, 20
  return net, net:params(), net:flops()
end

local net, params, flops = build()
assert(net:count() == 21, "expected 20 op nodes + input")
B.info("graph_nodes", net:count() - 1)
B.info("graph_params", params)
B.info("graph_macs", flops)

local sink = 0
local function run(n)
  for _ = 1, n do
    local _, p, f = build()
    sink = sink + p + f
  end
end
local rate, n = B.rate(run, 1000, o.reps, o.window)
B.info("graph_lua_window", n)
B.result("graph_lua", rate)
