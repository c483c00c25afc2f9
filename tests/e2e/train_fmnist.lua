-- End to end: the issue's snippet on a slice of Fashion-MNIST, through nasrun.
-- Trains a small CNN on 12,000 images for one epoch and asserts a real test
-- accuracy (chance is 10%).
local nas = require "nas"

local net = nas.net{ input = {1, 28, 28} }
net:conv{ out = 16, k = 3, bias = false }; net:bn(); net:relu(); net:maxpool{ k = 2 }
net:conv{ out = 32, k = 3, bias = false }; net:bn()
local a = net:relu()
net:conv{ out = 32, k = 1 }
net:add{ a, net:last() }              -- a residual branch: the model is a DAG, not a chain
net:relu(); net:maxpool{ k = 2 }
net:flatten(); net:linear{ out = 10 }
assert(net:params() > 5000 and net:flops() > 1e5, "analytic costs")
print(net:summary())

local data = nas.data.fashion_mnist{ valid = 5000, seed = 1 }
assert(data.train:count() == 55000 and data.valid:count() == 5000 and data.test:count() == 10000)
local train = data.train:subset(12000, 1)

local model = nas.model(net, { seed = 1 })
assert(model:params() == net:params(), "libtorch's parameter count equals the analytic one")
local epochs = 0
local hist = assert(model:train(train, { epochs = 1, batch = 64, optimizer = "sgd", lr = 0.02,
                                         momentum = 0.9, schedule = "cosine",
                                         on_epoch = function() epochs = epochs + 1 end }))
assert(epochs == 1 and #hist.loss == 1, "one epoch recorded")
local test = model:evaluate(data.test)
local valid = model:evaluate(data.valid)
print(("train loss %.3f  valid acc %.4f  test acc %.4f  (%.1fs, %s)"):format(
  hist.loss[1], valid.accuracy, test.accuracy, hist.seconds, hist.memfmt))
assert(test.count == 10000)
assert(test.accuracy > 0.70, "test accuracy well above chance: " .. test.accuracy)
assert(valid.accuracy > 0.70, "valid accuracy well above chance: " .. valid.accuracy)

local lat = model:latency{ batch = 1, runs = 20 }
assert(lat.min_ms <= lat.median_ms and lat.median_ms <= lat.p90_ms and lat.median_ms > 0)

local dir = os.getenv("NAS_TEST_TMP") or "."
local path = dir .. "/e2e_best.pt"
model:save(path)
local copy = nas.model(net, { seed = 2 })
copy:load(path)
assert(math.abs(copy:evaluate(data.test).accuracy - test.accuracy) < 1e-9, "weights round-trip")
os.remove(path)
print("e2e ok")
