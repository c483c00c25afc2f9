-- examples/oneshot.lua: weight-sharing search of the NAS-Bench-201 cell space on
-- Fashion-MNIST, then the derived cell trained from scratch and tested.
--
--   nasrun examples/oneshot.lua                       -- SPOS, ~5 min search + ~2 min retraining (2 cores)
--   nasrun examples/oneshot.lua method=darts epochs=3 -- or gdas, enas
--   nasrun examples/oneshot.lua method=darts guard=early_stop out=runs/oneshot
--
-- One supernet (spaces/cell.lua: every edge holds all five ops) is trained on the
-- training split only, through nas.search with a one-shot strategy
-- (strategies/<method>.lua): the subnets it scores are the search's trials, the
-- chosen one is result.best. The derived cell is then trained as a normal net on
-- train + valid for retrain_epochs (result.best:retrain) and measured on the test
-- set (its only use). With out=DIR the search is stored in DIR (trials.db, a
-- checkpoint of the supernet after every epoch: the same command resumes a killed
-- search), the searched supernet (weights and logits) is saved to DIR/supernet.pt
-- (+ .arch.json) and the result to DIR/result.json.
local nas = require "nas"
local space = require "spaces.cell"

local opt = {
  method = "spos",       -- darts | gdas | spos | enas
  epochs = 0,            -- supernet epochs (0: the method's default below)
  samples = 0,           -- training rows used by the search (0: all)
  minutes = 15,          -- cap on the search's wall time
  trials = 200,          -- spos: subnets scored by evolution
  guard = "none",        -- darts: none | early_stop (DARTS+) | sigmoid (Fair DARTS)
  order = 1,             -- darts/gdas: 1 or 2
  derive = "",           -- darts/gdas: nonzero | argmax | sample ("": the method's default)
  retrain_epochs = 4,
  retrain_fraction = 1,
  seed = 1,
  out = "",
}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if not k or opt[k] == nil then
    error(("unknown argument '%s' (known: method=, epochs=, samples=, minutes=, trials=, guard=, order=, derive=, " ..
           "retrain_epochs=, retrain_fraction=, seed=, out=)"):format(a), 0)
  end
  opt[k] = type(opt[k]) == "number" and (math.tointeger(tonumber(v)) or tonumber(v)) or v
  if opt[k] == nil then error(("argument %s needs a number"):format(k), 0) end
end
local default_epochs = { darts = 4, gdas = 10, spos = 6, enas = 6 }
if not default_epochs[opt.method] then
  error(("method must be darts, gdas, spos or enas, got '%s'"):format(opt.method), 0)
end

local data = nas.data.fashion_mnist{ valid = 5000, seed = opt.seed }
local o = { epochs = opt.epochs > 0 and opt.epochs or default_epochs[opt.method],
            samples = opt.samples > 0 and opt.samples or nil }
if opt.method == "darts" then
  o.guard = opt.guard ~= "none" and opt.guard or nil
  o.order = opt.order
  o.derive = opt.derive ~= "" and opt.derive or nil
elseif opt.method == "gdas" then
  o.order = opt.order
  o.derive = opt.derive ~= "" and opt.derive or nil
elseif opt.method == "spos" then
  o.trials = opt.trials
end

print(("%s on the cell space (C = 8, N = 1), Fashion-MNIST; search capped at %g min"):format(opt.method, opt.minutes))
local result = nas.search{
  space = space, strategy = require("strategies." .. opt.method).new(o), seed = opt.seed,
  evaluate = nas.train{ data = data, epochs = opt.retrain_epochs }, -- the recipe of result.best:retrain
  budget = { minutes = opt.minutes }, out = opt.out ~= "" and opt.out or nil,
}
local r = result.oneshot
if not result.best then error("the search chose no subnet: " .. tostring(r and r.error or result.stopped), 0) end
local arch = space.arch_string(result.best.genotype)
print(("derived cell %s (trial #%d of %d, score %.4f with the supernet's weights) after %.0f s%s"):format(arch,
  result.best.id, #result.trials, result.best.score, result.seconds, r.stopped and (" (" .. r.stopped .. ")") or ""))
if opt.out ~= "" then r.supernet:save(opt.out .. "/supernet.pt") end
r.supernet.model:release()

local final = result.best:retrain{ seed = opt.seed, fraction = opt.retrain_fraction }
local params = result.best.metrics.params
print(("derived cell: %d params, test accuracy %.4f after %d epoch(s) on train + valid"):format(params,
  final.test_accuracy, opt.retrain_epochs))
local out = { method = opt.method, arch = arch, genotype = result.best.genotype, search_seconds = result.seconds,
              stopped = r.stopped, params = params, test_accuracy = final.test_accuracy, trials = #result.trials }
if opt.out ~= "" then
  local f = assert(io.open(opt.out .. "/result.json", "wb"))
  f:write(require("nas.json").encode(out))
  f:close()
end
return out
