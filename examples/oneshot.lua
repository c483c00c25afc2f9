-- examples/oneshot.lua: weight-sharing search of the NAS-Bench-201 cell space on
-- Fashion-MNIST, then the derived cell trained from scratch and tested.
--
--   nasrun examples/oneshot.lua                       -- SPOS, ~5 min search + ~2 min retraining (2 cores)
--   nasrun examples/oneshot.lua method=darts epochs=3 -- or gdas, enas
--   nasrun examples/oneshot.lua method=darts guard=early_stop out=runs/oneshot
--
-- One supernet (spaces/cell.lua: every edge holds all five ops) is trained on the
-- training split only; the method picks one op per edge; the derived cell is then
-- trained as a normal net on train + valid for retrain_epochs and measured on
-- the test set (its only use). With out=DIR the searched supernet (weights and
-- logits) is saved to DIR/supernet.pt (+ .arch.json) and the result to DIR/result.json.
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
local common = {
  space = space, data = data, epochs = opt.epochs > 0 and opt.epochs or default_epochs[opt.method],
  samples = opt.samples > 0 and opt.samples or nil, seed = opt.seed, max_seconds = opt.minutes * 60,
  progress = (function()
    local last = -1
    return function(p)
      local pct = p.total_steps and math.floor(100 * p.step / p.total_steps) or 0
      if p.phase and p.phase ~= "train" or pct >= last + 10 then
        last = pct
        io.write(("  %s %s step %s/%s loss %.3f%s\n"):format(opt.method, p.phase or "train", tostring(p.step),
          tostring(p.total_steps), p.loss or 0 / 0, p.best and (" best %.4f"):format(p.best) or ""))
        io.flush()
      end
    end
  end)(),
}
if opt.method == "darts" then
  common.guard = opt.guard ~= "none" and opt.guard or nil
  common.order = opt.order
  common.derive = opt.derive ~= "" and opt.derive or nil
elseif opt.method == "gdas" then
  common.order = opt.order
  common.derive = opt.derive ~= "" and opt.derive or nil
elseif opt.method == "spos" then
  common.trials = opt.trials
end

print(("%s on the cell space (C = 8, N = 1), Fashion-MNIST; search capped at %g min"):format(opt.method, opt.minutes))
local r = assert(require("strategies." .. opt.method).run(common))
local arch = space.arch_string(r.genotype)
print(("derived cell %s after %.0f s%s"):format(arch, r.seconds, r.stopped and (" (" .. r.stopped .. ")") or ""))
if opt.out ~= "" then
  require("nas.store").mkdir(opt.out)
  r.supernet:save(opt.out .. "/supernet.pt")
end
r.supernet.model:release()

local net = assert(space:build(r.genotype))
local final = require("nas.evaluators").retrain(net, { data = data, epochs = opt.retrain_epochs,
                                                        fraction = opt.retrain_fraction, seed = opt.seed })
print(("derived cell: %d params, test accuracy %.4f after %d epoch(s) on train + valid"):format(net:params(),
  final.test_accuracy, opt.retrain_epochs))
local out = { method = opt.method, arch = arch, genotype = r.genotype, search_seconds = r.seconds,
              stopped = r.stopped, params = net:params(), test_accuracy = final.test_accuracy }
if opt.out ~= "" then
  local f = assert(io.open(opt.out .. "/result.json", "wb"))
  f:write(require("nas.json").encode(out))
  f:close()
end
return out
