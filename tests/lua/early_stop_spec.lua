-- The median stopping rule of nas.train (Golovin et al. 2017): the rule on
-- hand-made curves, then a tiny real training (a few hundred Fashion-MNIST
-- images) stopped against unreachable curves and not stopped against poor ones,
-- and the curves rebuilt through evaluator:observe when a search resumes.
local nas = require "nas"

local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"

local function observed(ev, curves, first_id)
  for i, c in ipairs(curves) do
    ev:observe{ id = (first_id or 0) + i, status = "ok", metrics = { curve = c, curve_loss = c } }
  end
end

describe("median stopping rule", function()
  local fake = { train = {}, valid = {} }

  it("checks its options", function()
    local ok, err = pcall(function() return nas.train{ data = fake, early_stop = { rule = "mean" } } end)
    assert.is_false(ok)
    assert.matches("early_stop.rule must be \"median\"", err)
    ok, err = pcall(function() return nas.train{ data = fake, early_stop = { rule = "median", patience = 2 } } end)
    assert.is_false(ok)
    assert.matches("unknown option 'patience'", err)
    assert.is_true(nas.train{ data = fake, early_stop = { rule = "median" } }.curve) -- implies curves
  end)

  it("stops a curve whose best is below the median of the running averages, not a good one", function()
    local ev = nas.train{ data = fake, early_stop = { rule = "median", min_epochs = 1, min_trials = 3 } }
    observed(ev, { { 0.5, 0.7, 0.8 }, { 0.4, 0.6, 0.9 }, { 0.6, 0.7, 0.7 }, { 0.2 } })
    -- epoch 1: running averages of the curves reaching epoch 1: 0.5, 0.4, 0.6, 0.2 -> median 0.45
    local stop, med = ev:median_stop({ 0.3 }, { 0.3 })
    assert.is_true(stop)
    assert.is_true(math.abs(med - 0.45) < 1e-12)
    assert.is_false((ev:median_stop({ 0.5 }, { 0.5 })))
    -- epoch 2: averages (0.5+0.7)/2 = 0.6, 0.5, 0.65 -> median 0.6; best so far counts, not the last value
    assert.is_false((ev:median_stop({ 0.61, 0.3 }, { 0 })))
    assert.is_true((ev:median_stop({ 0.55, 0.58 }, { 0 })))
    -- fewer than min_trials curves reach epoch 4: never stop there
    assert.is_false((ev:median_stop({ 0, 0, 0, 0 }, { 0 })))
    -- min_epochs
    local ev2 = nas.train{ data = fake, early_stop = { rule = "median", min_epochs = 2 } }
    observed(ev2, { { 0.9, 0.9 }, { 0.9, 0.9 }, { 0.9, 0.9 } })
    assert.is_false((ev2:median_stop({ 0.1 }, { 0 })))
    assert.is_true((ev2:median_stop({ 0.1, 0.1 }, { 0 })))
    -- loss: lower is better
    local ev3 = nas.train{ data = fake, early_stop = { rule = "median", metric = "loss" } }
    observed(ev3, { { 1.0 }, { 1.2 }, { 0.8 } })
    assert.is_true((ev3:median_stop({ 0 }, { 1.5 })))
    assert.is_false((ev3:median_stop({ 0 }, { 0.9 })))
    -- repeats are not counted twice; a continued trial replaces its parent's curve
    local ev4 = nas.train{ data = fake, early_stop = { rule = "median" } }
    observed(ev4, { { 0.1 }, { 0.2 } })
    ev4:observe{ id = 3, status = "ok", cached_from = 1, metrics = { curve = { 0.1 } } }
    ev4:observe{ id = 4, status = "ok", metrics = { curve = { 0.2, 0.5 }, continued_from = 2 } }
    local n = 0
    for _ in pairs(ev4.curves) do n = n + 1 end
    assert.are.equal(2, n)
  end)
end)

local root = os.getenv("NAS_DATA_ROOT") or "/usr/share/datasets/fashion-mnist"
local have_data = io.open(root .. "/train-images-idx3-ubyte.gz", "rb")
if have_data then have_data:close() end
local maybe = have_data and it or pending

describe("median stopping in a real training", function()
  maybe("stops against unreachable curves, runs on against poor ones; curves come back on resume", function()
    local full = nas.data.fashion_mnist{ valid = 1000, seed = 1 }
    local data = { train = full.train:subset(300, 1), valid = full.valid:subset(200, 2) }
    local net = nas.net{ input = { 1, 28, 28 } }
    net:flatten(); net:linear{ out = 16 }; net:relu(); net:linear{ out = 10 }
    local function ev()
      return nas.train{ data = data, epochs = 4, batch = 50, lr = 0.05, latency = false,
                        early_stop = { rule = "median", min_epochs = 1, min_trials = 3 } }
    end
    local hi = ev()
    observed(hi, { { 0.99, 0.99, 0.99, 0.99 }, { 0.98, 0.99, 0.99, 0.99 }, { 0.99, 0.99, 0.99, 0.99 } }, 100)
    local m = hi:evaluate(net, { seed = 1, trial = 1 })
    assert.is_true(m.stopped_early)
    assert.are.equal(1, m.epochs)
    assert.are.equal(1, #m.curve)
    assert.are.equal(m.curve[1], m.accuracy) -- the last evaluated epoch is the result
    local lo = ev()
    observed(lo, { { 0.01, 0.01, 0.01, 0.01 }, { 0.02, 0.02, 0.02, 0.02 }, { 0.01, 0.01, 0.01, 0.01 } }, 100)
    local m2 = lo:evaluate(net, { seed = 1, trial = 1 })
    assert.is_nil(m2.stopped_early)
    assert.are.equal(4, m2.epochs)
    assert.are.equal(4, #m2.curve)
    assert.are.equal(4, #m2.curve_loss)
    assert.is_true(m2.curve[4] > 0.4, "accuracy " .. m2.curve[4])

    -- Through nas.search with a store: stopped trials are ok trials; a resumed
    -- search's fresh evaluator sees the stored curves again.
    local out = ("%s/early_stop_spec_%d"):format(tmp, os.time())
    os.execute("rm -rf '" .. out .. "'")
    local space = nas.space("es-mlp", function(c)
      local n = nas.net{ input = { 1, 28, 28 } }
      n:flatten(); n:linear{ out = c:choice("w", { 4, 8, 16, 32 }) }; n:relu(); n:linear{ out = 10 }
      return n
    end)
    local function run(n, e)
      return nas.search{ space = space, strategy = require("strategies.grid").new(), evaluate = e,
                         budget = { trials = n }, seed = 1, out = out, log = false }
    end
    local r1 = run(3, ev())
    for _, t in ipairs(r1.trials) do
      assert.are.equal("ok", t.status)
      assert.is_table(t.metrics.curve)
    end
    local e2 = ev()
    local r2 = run(4, e2)
    assert.are.equal(3, r2.resumed)
    local n = 0
    for _ in pairs(e2.curves) do n = n + 1 end
    assert.are.equal(4, n)
    os.execute("rm -rf '" .. out .. "'")
  end)
end)
