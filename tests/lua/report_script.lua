-- Short real searches whose run folders the report tests read (report_spec.lua,
-- tests/browser/, scripts/docs_report.sh):
--   nasrun tests/lua/report_script.lua KIND OUT [TRIALS]
-- KIND: basic     the tiny space on 2 local workers, three objectives (accuracy,
--                 params, flops), some invalid genotypes (failed trials), a
--                 params constraint (rejected trials), a made-up failing
--                 evaluation (depth 1, width 2), and a made-up learning
--                 curve per trial (metrics.curve)
--       fidelity  Hyperband (3 to 27 epochs) with a fitness function: several
--                 rows per genotype at different metrics.fidelity (no curves)
--       slow      the 12 graphs of the tiny space one at a time, 1 s each (a run
--                 to report on while it runs)
--       nb201     regularized evolution on the NAS-Bench-201 table (simulated
--                 training; needs ../shared/bench/nb201/)
--       darts     a one-shot search (DARTS, a small cell supernet, 2 epochs on 400
--                 Fashion-MNIST rows): supernet epochs in the store's phases table
--       one       a single trial
-- Except darts, scores are made up from the net's size (no training): each
-- search takes seconds.
local nas = require "nas"
local core = require "nas.core"
local tiny = require "tests.lua.tiny_search"

local kind, out = arg[1], arg[2]
local trials = math.tointeger(tonumber(arg[3] or ""))
if not kind or not out then error("usage: nasrun tests/lua/report_script.lua KIND OUT [TRIALS]", 0) end

-- accuracy grows with log(params) and depth; the curve approaches it epoch by epoch
local function made_up(net, epochs, pause, no_curve)
  if pause then core.sleep(pause) end
  local p, l = net:params(), net:layers()
  local acc = 1 - 0.5 / (1 + math.log(1 + p) / 8) - 0.05 / (1 + l)
  local curve = {}
  for e = 1, epochs do curve[e] = acc * (1 - 0.5 ^ e) end
  return { accuracy = curve[epochs], loss = 1 - curve[epochs], curve = not no_curve and curve or nil }
end

local r
if kind == "basic" then
  r = nas.search{
    space = tiny.space{ bad_rate = 0.15 }, strategy = tiny.strategy{ warmup = 1000 }, -- random sampling
    evaluate = function(net, ctx)
      if ctx.genotype.depth == 1 and ctx.genotype.width == 2 then return nil, "training loss is not finite (nan)" end
      return made_up(net, 4, 0.02)
    end,
    objectives = { nas.maximize "accuracy", nas.minimize "params", nas.minimize "flops" },
    constraints = { params = 3000 },
    budget = { trials = trials or 40 }, seed = 7, out = out, workers = 2, progress = false,
  }
elseif kind == "fidelity" then
  r = nas.search{
    space = tiny.space(), strategy = require("strategies.hyperband").new{ min_epochs = 3, max_epochs = 27 },
    evaluate = function(net, ctx) return made_up(net, ctx.fidelity and ctx.fidelity.epochs or 27, nil, true) end,
    objectives = function(m) return m.accuracy - 1e-5 * m.params end,
    budget = { trials = trials or 40 }, seed = 3, out = out, progress = false,
  }
elseif kind == "slow" then
  local list = {} -- the 12 graphs of the tiny space, one after the other
  for depth = 1, 3 do
    for _, width in ipairs({ 2, 4, 8, 16 }) do
      list[#list + 1] = { depth = depth, width = width, pad = 0, bad = false }
    end
  end
  r = nas.search{
    space = tiny.space(), strategy = tiny.list_strategy(list),
    evaluate = function(net) return made_up(net, 2, 1.0) end,
    budget = { trials = 12 }, seed = 5, out = out, progress = false,
  }
elseif kind == "nb201" then
  local dir = os.getenv("NAS_NB201") or "../shared/bench/nb201"
  r = nas.search{
    space = require "spaces.nb201", strategy = require("strategies.evolution").new{ population = 10, sample = 3 },
    evaluate = nas.bench.nb201{ path = dir .. "/nb201.csv", path12 = dir .. "/nb201_12epoch.csv" },
    objectives = { nas.maximize "accuracy", nas.minimize "params" },
    budget = { trials = trials or 60 }, seed = 11, out = out, progress = false,
  }
elseif kind == "darts" then
  -- a one-shot search: a small DARTS supernet trained 2 epochs on 400 Fashion-MNIST rows
  local data = nas.data.fashion_mnist{ valid = 100, seed = 1 }
  data.train = data.train:subset(400, 1)
  r = nas.search{
    space = require("spaces.cell").with{ C = 4 },
    strategy = require("strategies.darts").new{ epochs = 2, batch = 32, derive_rows = 100, derive_samples = 2 },
    evaluate = nas.train{ data = data, epochs = 1, batch = 64 }, budget = { minutes = 10 }, seed = 5, out = out,
    progress = false,
  }
elseif kind == "one" then
  r = nas.search{
    space = tiny.space(), strategy = tiny.strategy(), evaluate = function(net) return made_up(net, 1) end,
    budget = { trials = 1 }, seed = 1, out = out, progress = false,
  }
else
  error("unknown kind " .. tostring(kind), 0)
end
if nas.role() ~= "worker" then print(("RESULT %s %d trials"):format(kind, #r.trials)) end
