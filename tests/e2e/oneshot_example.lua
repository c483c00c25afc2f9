-- End to end through nasrun: examples/oneshot.lua, made small through its
-- key=value arguments, for three methods (gdas derives by scoring subnets with the
-- shared weights); the saved supernet loads back.
local nas = require "nas"
local home = package.nasrun_home or "."
local tmp = os.getenv("NAS_TEST_TMP") or "."
local function run_example(args)
  arg = { [0] = home .. "/examples/oneshot.lua" }
  for _, a in ipairs(args) do arg[#arg + 1] = a end
  return dofile(arg[0])
end

for _, method in ipairs{ "spos", "darts", "gdas" } do
  local out = ("%s/e2e_oneshot_%s_%d"):format(tmp, method, os.time())
  local r = run_example{ "method=" .. method, "samples=3000", "epochs=1", "trials=6", "retrain_epochs=1",
                         "retrain_fraction=0.1", "out=" .. out }
  assert(r.method == method)
  local space = require "spaces.cell"
  assert(space:build(r.genotype), "the derived genotype builds")
  assert(r.test_accuracy > 0.3, method .. ": test accuracy " .. r.test_accuracy)
  local sn = nas.supernet(space)
  sn:load(out .. "/supernet.pt")
  if method == "darts" then
    -- darts leaves the supernet in softmax mode: its argmax is the derived cell
    assert(space.arch_string(sn:genotype()) == r.arch, "loaded logits give the derived cell")
  end
  local f = assert(io.open(out .. "/result.json", "rb"))
  assert(require("nas.store").json.decode(f:read("a")).arch == r.arch)
  f:close()
  os.execute("rm -rf '" .. out .. "'")
end
print("oneshot example: ok")
