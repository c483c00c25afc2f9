-- nas: the Lua face of the nasrun engine.
--
--   local nas = require "nas"
--   local net = nas.net{ input = {1, 28, 28} }
--   net:conv{ out = 32, k = 3 }; net:bn(); net:relu(); net:maxpool{ k = 2 }
--   net:gap(); net:linear{ out = 10 }
--   print(net:params(), net:flops(), net:summary())
--   local data = nas.data.fashion_mnist{ valid = 5000 }
--   local model = nas.model(net, { seed = 1 })
--   model:train(data.train, { epochs = 1, batch = 128, lr = 0.05 })
--   print(model:evaluate(data.test).accuracy)
local core = require "nas.core"
local util = require "nas.util"
local net = require "nas.net"

local nas = {
  core = core,
  version = core.version,
  torch_version = core.torch_version,
  config = util.config(),
  net = net.new,
  net_from_table = net.from_table,
  net_from_json = net.from_json,
  is_net = net.is_net,
  ops = net.ops,
  model = require("nas.model").new,
  data = require "nas.data",
}

function nas.threads(n)
  if n ~= nil then util.guard(2, core.set_threads, n) end
  return core.get_threads()
end

function nas.cuda_available() return core.cuda_available() end

-- The search framework, loaded on first use: nas.space, nas.rng, nas.search,
-- nas.train, nas.maximize, nas.minimize, nas.pareto, nas.store, nas.show,
-- nas.bench (a whole module: tabular benchmarks, nas.bench.nb201{...}),
-- nas.export (a run's trial as PyTorch code + weights, JSON or dot).
local lazy = {
  space = { "nas.space", "new" },
  rng = { "nas.rng", "new" },
  search = { "nas.search", "run" },
  train = { "nas.evaluators", "train" },
  maximize = { "nas.objectives", "maximize" },
  minimize = { "nas.objectives", "minimize" },
  pareto = { "nas.objectives", "pareto_front" },
  store = { "nas.store", "open" },
  show = { "nas.store", "show" },
  bench = { "nas.bench" },
  proxy = { "nas.proxies", "proxy" },
  zero_cost = { "nas.proxies", "zero_cost" },
  supernet = { "nas.supernet", "new" },
  role = { "nas.parallel", "role" },
  rescore = { "nas.inspect", "rescore" },
  export = { "nas.export", "run" },
}
setmetatable(nas, {
  __index = function(t, k)
    local entry = lazy[k]
    if not entry then return nil end
    local mod = require(entry[1])
    local v = mod
    if entry[2] then v = mod[entry[2]] end
    rawset(t, k, v)
    return v
  end,
})

return nas
