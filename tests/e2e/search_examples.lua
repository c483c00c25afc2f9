-- End to end through nasrun: the two search examples, made small through
-- their key=value arguments, and nas.show on their run folders.
local home = package.nasrun_home or "."
local tmp = os.getenv("NAS_TEST_TMP") or "."
local function run_example(name, args)
  local out = ("%s/e2e_%s_%d"):format(tmp, name, os.time())
  os.execute("rm -rf '" .. out .. "'")
  arg = { [0] = home .. "/examples/" .. name .. ".lua", "out=" .. out }
  for _, a in ipairs(args) do arg[#arg + 1] = a end
  local ret = dofile(arg[0])
  return ret, out
end

local r, out = run_example("fashion_mnist", { "trials=8", "minutes=2", "fraction=0.02", "retrain_epochs=1",
                                              "baseline=no" })
assert(#r.result.trials == 8, "8 trials expected")
assert(r.result.best and r.result.best.status == "ok", "a best trial expected")
assert(r.found.test_accuracy > 0.5, "test accuracy " .. r.found.test_accuracy)
require("nas").show(out)

local cf = run_example("custom_fitness", { "trials=3", "fraction=0.02" })
assert(#cf.trials == 3)
for _, t in ipairs(cf.trials) do
  if t.status == "ok" then
    assert(t.metrics.latency_penalty ~= nil, "the fitness function's metric is stored")
    assert(math.abs(t.score - (t.metrics.accuracy - t.metrics.latency_penalty)) < 1e-12)
  end
end
print("search examples: ok")
