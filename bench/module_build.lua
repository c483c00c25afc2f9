-- bench/module_build.lua: libtorch modules built from a graph per second.
--
--   nasrun --threads 2 bench/module_build.lua reps=5
--
-- One build = nas.model(net, {seed = 1}) (nas_model_new: copies the graph,
-- seeds torch, builds the libtorch submodules -- Conv2d, BatchNorm2d, Linear
-- with libtorch's default weight init -- on the CPU) + model:release(). The
-- net is built once, outside the timing. Two nets: "cnn", the 49,970-param CNN
-- of train_steps (3 conv, 3 bn, 1 linear), and "res20", the 20-op residual
-- CNN of graph_build (5 conv, 5 bn, 1 linear). Rate = models / wall time of a
-- ~1 s window, median of `reps` windows.
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local B = require "common"
local nas = require "nas"

local o = B.args{ reps = 5, window = 1.0 }

local function cnn()
  local net = nas.net{ input = { 1, 28, 28 } }
  net:conv{ out = 24, k = 3 }; net:bn(); net:relu(); net:maxpool{ k = 2 }
  net:conv{ out = 48, k = 3 }; net:bn(); net:relu(); net:maxpool{ k = 2 }
  net:conv{ out = 88, k = 3 }; net:bn(); net:relu()
  net:gap(); net:linear{ out = 10 }
  return net
end

local function res20()
  local net = nas.net{ input = { 1, 28, 28 } }
  net:conv{ out = 16, k = 3 }; net:bn(); net:relu()
  net:conv{ out = 16, k = 3 }; net:bn(); net:relu()
  net:maxpool{ k = 2 }
  net:conv{ out = 32, k = 3 }; net:bn()
  local a = net:relu()
  net:conv{ out = 32, k = 3 }; local b = net:bn()
  net:add{ a, b }; net:relu()
  net:maxpool{ k = 2 }
  net:conv{ out = 64, k = 3 }; net:bn(); net:relu()
  net:gap(); net:linear{ out = 10 }
  return net
end

for _, case in ipairs{ { "cnn", cnn() }, { "res20", res20() } } do
  local name, net = case[1], case[2]
  local m = nas.model(net, { seed = 1 })
  B.info("module_" .. name .. "_params", m:params())
  m:release()
  local function run(n)
    for _ = 1, n do
      local model = nas.model(net, { seed = 1 })
      model:release()
    end
  end
  local rate = B.rate(run, 100, o.reps, o.window)
  B.result("module_" .. name .. "_nasrun", rate)
end
