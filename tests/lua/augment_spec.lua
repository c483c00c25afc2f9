-- Augmentation in training: crop, flip and random erasing through model:train,
-- and the errors for bad settings.
local nas = require "nas"

describe("model:train augment", function()
  local data
  setup(function()
    data = nas.data.fashion_mnist { valid = 0 }
  end)

  local function cnn()
    local net = nas.net { input = { 1, 28, 28 } }
    net:conv { out = 4, k = 3 }
    net:relu()
    net:gap()
    net:linear { out = 10 }
    return nas.model(net, { seed = 3 })
  end

  it("trains with crop, flip and erasing, and the draws follow the seed", function()
    local losses = {}
    for run = 1, 3 do
      local m = cnn()
      local seed = run == 3 and 8 or 7
      local h = assert(m:train(data.train, { steps = 20, batch = 32, lr = 0.05, seed = seed,
                                             augment = { crop = 2, flip = true, erase = 0.5 } }))
      losses[run] = h.loss[#h.loss]
      assert.is_true(losses[run] == losses[run]) -- not NaN
      m:release()
    end
    assert.are.equal(losses[1], losses[2])
    assert.are_not.equal(losses[1], losses[3])
  end)

  it("erasing changes training: same seed, erase 1 vs off", function()
    local out = {}
    for run, p in ipairs({ 0, 1 }) do
      local m = cnn()
      local h = assert(m:train(data.train, { steps = 10, batch = 32, lr = 0.05, seed = 7, augment = { erase = p } }))
      out[run] = h.loss[#h.loss]
      m:release()
    end
    assert.are_not.equal(out[1], out[2])
  end)

  it("rejects a bad erase probability and erasing on a flat input", function()
    local m = cnn()
    local ok, err = pcall(m.train, m, data.train, { steps = 1, augment = { erase = 1.5 } })
    assert.is_false(ok)
    assert.matches("augment.erase must be in %[0,1%]", err)
    ok, err = pcall(m.train, m, data.train, { steps = 1, augment = { erase = "x" } })
    assert.is_false(ok)
    assert.matches("erase", err)
    m:release()
    local flat = nas.net { input = { 784 } }
    flat:linear { out = 10 }
    local fm = nas.model(flat, { seed = 1 })
    local r, msg = fm:train(data.train, { steps = 1, augment = { erase = 0.5 } })
    assert.is_nil(r)
    assert.matches("erasing augmentation needs a {C,H,W} model input", msg, 1, true)
    fm:release()
  end)
end)
