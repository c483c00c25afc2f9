-- Multi-fidelity: successive-halving arithmetic (Hyperband's table for R = 81,
-- eta = 3), hyperband and ASHA promotion logic on synthetic evaluators with
-- known learning curves, the fidelity through nas.search (ctx, trial, store,
-- resume), replay determinism, BOHB-style sampler, and checkpoint continuation
-- in nas.train (one tiny real training on a few hundred Fashion-MNIST images).
local nas = require "nas"
local fid = require "nas.fidelity"
local HB = require "strategies.hyperband"
local ASHA = require "strategies.asha"

local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"
local counter = 0
local function fresh_dir(name)
  counter = counter + 1
  local d = ("%s/mf_spec_%d_%s_%d"):format(tmp, os.time(), name, counter)
  os.execute("rm -rf '" .. d .. "'")
  return d
end

-- A toy space of two integer decisions 0..50; nets are tiny, nothing trains.
local function toy()
  return nas.space("mf-toy", function(c)
    local net = nas.net{ input = { 4 } }
    net:linear{ out = 2 + c:int("a", 0, 50) }
    net:linear{ out = 2 + c:int("b", 0, 50) }
    net:linear{ out = 2 }
    return net
  end)
end

-- Known learning curves: a config's quality q = (a + b) / 100 in [0, 1]; its
-- accuracy after r units of resource is q * r / (r + 2) (monotone in both).
local function quality(g) return (g.a + g.b) / 100 end
local function curve(g, r) return quality(g) * r / (r + 2) end

-- Drives ask/tell like nas.search (sequentially); returns the trials.
local function drive(st, space, n, seed, score)
  score = score or function(g, f) return curve(g, fid.level(f)) end
  local trials = {}
  for id = 1, n do
    local g, f = st:ask(space, nas.rng(seed, id))
    if g == nil then break end
    local t = { id = id, genotype = g, fidelity = f, status = "ok", metrics = {} }
    t.score = score(g, f, id)
    if t.score == nil then t.status = "failed" end
    trials[#trials + 1] = t
    st:tell(t)
  end
  return trials
end

local function describe_trial(t)
  local f = t.fidelity
  return require("nas.json").encode({ g = t.genotype, f = f })
end

describe("successive halving arithmetic", function()
  it("reproduces Hyperband's table for R = 81, eta = 3 (Li et al. 2017, Table 1)", function()
    local f = fid.options({ min_epochs = 1, max_epochs = 81, eta = 3 }, "t", 1)
    assert.are.equal(4, f.s_max)
    local b = fid.hyperband_brackets(f)
    local paper = {
      [4] = { { 81, 1 }, { 27, 3 }, { 9, 9 }, { 3, 27 }, { 1, 81 } },
      [3] = { { 34, 3 }, { 11, 9 }, { 3, 27 }, { 1, 81 } },
      [2] = { { 15, 9 }, { 5, 27 }, { 1, 81 } },
      [1] = { { 8, 27 }, { 2, 81 } },
      [0] = { { 5, 81 } },
    }
    for s = 0, 4 do
      assert.are.equal(#paper[s], #b[s].rungs, "bracket " .. s)
      for i, nr in ipairs(paper[s]) do
        assert.are.equal(nr[1], b[s].rungs[i].n, ("s=%d rung %d n"):format(s, i - 1))
        assert.are.equal(nr[2], b[s].rungs[i].r, ("s=%d rung %d r"):format(s, i - 1))
        assert.are.equal("integer", math.type(b[s].rungs[i].r))
      end
    end
  end)

  it("scales to other ranges and fractions; checks its options", function()
    local f = fid.options({ min_epochs = 2, max_epochs = 54, eta = 3 }, "t", 1)
    local b = fid.hyperband_brackets(f)
    assert.are.equal(3, f.s_max)
    assert.are.same({ 27, 9, 3, 1 }, { b[3].rungs[1].n, b[3].rungs[2].n, b[3].rungs[3].n, b[3].rungs[4].n })
    assert.are.same({ 2, 6, 18, 54 }, { b[3].rungs[1].r, b[3].rungs[2].r, b[3].rungs[3].r, b[3].rungs[4].r })
    local ff = fid.options({ fidelity = { name = "fraction", min = 1 / 9, max = 1 } }, "t", 1)
    assert.are.equal(2, ff.s_max)
    local bf = fid.hyperband_brackets(ff)
    assert.is_true(math.abs(bf[2].rungs[1].r - 1 / 9) < 1e-12)
    assert.is_true(math.abs(bf[2].rungs[2].r - 1 / 3) < 1e-12)
    assert.are.equal(1, bf[2].rungs[3].r)
    local ok, err = pcall(HB.new, { eta = 1 })
    assert.is_false(ok)
    assert.matches("eta must be an integer >= 2", err)
    ok, err = pcall(HB.new, { min_epochs = 1, fidelity = { name = "epochs", min = 1, max = 9 } })
    assert.is_false(ok)
    assert.matches("not both", err)
    ok, err = pcall(function() local a = ASHA.new{ bogus = 1 }; return a end)
    assert.is_false(ok)
    assert.matches("unknown option 'bogus'", err)
    assert.matches("multifidelity_spec.lua", err)
  end)
end)

describe("hyperband", function()
  it("runs the brackets in order and promotes exactly the best 1/eta of each rung", function()
    local space = toy()
    local st = HB.new{ max_epochs = 27, eta = 3 }
    local plan = fid.hyperband_brackets(st.f)
    local trials = drive(st, space, 200, 1)
    local byid = {}
    for _, t in ipairs(trials) do byid[t.id] = t end
    -- Group by bracket and rung.
    local groups = {}
    for _, t in ipairs(trials) do
      local f = t.fidelity
      groups[f.bracket] = groups[f.bracket] or {}
      groups[f.bracket][f.rung] = groups[f.bracket][f.rung] or {}
      table.insert(groups[f.bracket][f.rung], t)
    end
    local s_of = { 3, 2, 1, 0, 3, 2, 1, 0 }
    for b = 1, 5 do -- the first five brackets are complete within 200 trials (27+9+3+1 + 12+4+1 + 6+2 + 4 = 73)
      local s = s_of[b]
      for i, rp in ipairs(plan[s].rungs) do
        local rung = groups[b][i - 1]
        assert.are.equal(rp.n, #rung, ("bracket %d rung %d size"):format(b, i - 1))
        for _, t in ipairs(rung) do assert.are.equal(rp.r, t.fidelity.epochs) end
        if i > 1 then
          -- parents = the top n_i of the rung below, by score
          local below = fid.rank(groups[b][i - 2])
          local want = {}
          for k = 1, rp.n do want[below[k].id] = true end
          for _, t in ipairs(rung) do
            assert.is_true(want[t.fidelity.parent], "promoted a non-survivor")
            assert.are.same(byid[t.fidelity.parent].genotype, t.genotype)
            want[t.fidelity.parent] = nil
          end
          assert.is_nil(next(want))
        end
      end
    end
    -- Trials are asked bracket after bracket (a rung only after the one below is complete).
    for i = 2, #trials do
      assert.is_true(trials[i].fidelity.bracket >= trials[i - 1].fidelity.bracket)
    end
  end)

  it("never promotes failed trials and stops after `iterations`", function()
    local space = toy()
    local st = HB.new{ max_epochs = 9, eta = 3, iterations = 1 }
    local trials = drive(st, space, 500, 2, function(g, f, id)
      if id % 2 == 0 then return nil end
      return curve(g, f.epochs)
    end)
    -- one iteration of brackets for R = 9: 9/1 3/3 1/9, 5/3 1/9, 3/9 -> at most 22 trials
    assert.is_true(#trials <= 22, tostring(#trials))
    local failed = {}
    for _, t in ipairs(trials) do
      if t.status == "failed" then failed[t.id] = true end
      if t.fidelity.parent then assert.is_nil(failed[t.fidelity.parent]) end
    end
  end)

  it("asks the next bracket when a rung waits for pending results (parallel workers)", function()
    local space = toy()
    local st = HB.new{ max_epochs = 9, eta = 3, brackets = 1 }
    local asked = {}
    for i = 1, 12 do
      local _, f = st:ask(space, nas.rng(5, i))
      asked[i] = f.bracket
    end
    -- nothing told: bracket 1 (9 configs) is asked whole, then bracket 2 starts
    for i = 1, 9 do assert.are.equal(1, asked[i]) end
    assert.are.equal(2, asked[10])
  end)
end)

describe("asha", function()
  it("promotes a config exactly when it is in the top 1/eta of its rung, once", function()
    local space = toy()
    local st = ASHA.new{ max_epochs = 27, eta = 3 }
    assert.are.same({ [0] = 1, 3, 9, 27 }, st:resources())
    local rungs = { [0] = {}, {}, {}, {} }
    local promoted = {}
    for id = 1, 150 do
      -- Before asking: which configs are promotable, by the paper's rule?
      local expect
      for k = 2, 0, -1 do
        local n = #rungs[k] // 3
        for _, t in ipairs(fid.top(rungs[k], n)) do
          if not promoted[t.id] then expect = { t.id, k } break end
        end
        if expect then break end
      end
      local g, f = st:ask(space, nas.rng(3, id))
      if expect then
        assert.are.equal(expect[1], f.parent, "trial " .. id)
        assert.are.equal(expect[2] + 1, f.rung)
        promoted[expect[1]] = true
      else
        assert.are.equal(0, f.rung)
        assert.is_nil(f.parent)
      end
      assert.are.equal(st:resources()[f.rung], f.epochs)
      local t = { id = id, genotype = g, fidelity = f, status = "ok", metrics = {}, score = curve(g, f.epochs) }
      table.insert(rungs[f.rung], t)
      st:tell(t)
    end
    assert.is_true(#rungs[3] >= 2, "some configs reached the top rung")
    -- The configs at the top rung are among the best qualities seen at rung 0.
    local qs = {}
    for _, t in ipairs(rungs[0]) do qs[#qs + 1] = quality(t.genotype) end
    table.sort(qs, function(a, b) return a > b end)
    for _, t in ipairs(rungs[3]) do
      assert.is_true(quality(t.genotype) >= qs[math.max(1, #qs // 3)], "a weak config reached the top")
    end
  end)

  it("does not promote twice while a promotion is pending", function()
    local space = toy()
    local st = ASHA.new{ max_epochs = 9, eta = 3 }
    local ts = drive(st, space, 3, 1)
    assert.are.equal(0, ts[3].fidelity.rung)
    local _, f1 = st:ask(space, nas.rng(1, 4))
    local _, f2 = st:ask(space, nas.rng(1, 5))
    assert.are.equal(1, f1.rung)
    assert.are.equal(0, f2.rung) -- rung 0 has 3 told: top 1 promoted (pending), nothing else to promote
  end)
end)

describe("multi-fidelity replay", function()
  local cases = {
    { "hyperband", function() return HB.new{ max_epochs = 27 } end },
    { "asha", function() return ASHA.new{ max_epochs = 27 } end },
    { "hyperband+tpe", function() return HB.new{ max_epochs = 9, sampler = "tpe", min_points = 4 } end },
    { "asha+tpe", function() return ASHA.new{ max_epochs = 9, sampler = "tpe", sampler_opts = { startup = 3 },
                                              min_points = 4 } end },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. ": a strategy rebuilt from the told trials asks the same", function()
      local space = toy()
      local full = drive(c[2](), space, 90, 7)
      for _, cut in ipairs({ 13, 40 }) do
        local st = c[2]()
        for i = 1, cut do st:tell(full[i]) end
        for id = cut + 1, 90 do
          local g, f = st:ask(space, nas.rng(7, id))
          local t = { id = id, genotype = g, fidelity = f, status = "ok", metrics = {}, score = curve(g, f.epochs) }
          assert.are.equal(describe_trial(full[id]), describe_trial(t), ("cut %d, trial %d"):format(cut, id))
          st:tell(t)
        end
      end
    end)
  end

  it("a BOHB-style sampler fits its model on one fidelity and beats random samples", function()
    -- Quality peaks at a = b = 40; tpe at the largest fidelity with enough points should find it.
    local space = toy()
    local function peak(g, f)
      return (1 - (math.abs(g.a - 40) + math.abs(g.b - 40)) / 100) * f.epochs / (f.epochs + 2)
    end
    local function best_full(st, seed)
      local best = -1
      for _, t in ipairs(drive(st, space, 150, seed, peak)) do
        if t.fidelity.epochs == 9 and t.score > best then best = t.score end
      end
      return best
    end
    local wins = 0
    for seed = 1, 5 do
      local b = best_full(ASHA.new{ max_epochs = 9, sampler = "tpe", min_points = 6 }, seed)
      local r = best_full(ASHA.new{ max_epochs = 9 }, seed)
      if b >= r then wins = wins + 1 end
    end
    assert.is_true(wins >= 3, "tpe sampler won " .. wins .. " of 5")
  end)
end)

describe("fidelity through nas.search", function()
  it("passes ctx.fidelity, records trial.fidelity, keys the cache by graph and fidelity, and resumes", function()
    local seen = {}
    local function ev(_, ctx)
      seen[#seen + 1] = ctx.fidelity
      local g = ctx.genotype
      return { accuracy = curve(g, ctx.fidelity.epochs), loss = 0 }
    end
    local out = fresh_dir("resume")
    local function run(n)
      return nas.search{ space = toy(), strategy = ASHA.new{ max_epochs = 9 }, evaluate = ev, budget = { trials = n },
                         seed = 3, out = out, log = false }
    end
    local full = nas.search{ space = toy(), strategy = ASHA.new{ max_epochs = 9 }, evaluate = ev,
                             budget = { trials = 40 }, seed = 3, log = false }
    local promoted, evaluated = 0, 0
    for _, t in ipairs(full.trials) do
      assert.is_table(t.fidelity)
      assert.are.same(t.fidelity, t.metrics.fidelity)
      if t.fidelity.parent then
        promoted = promoted + 1
        assert.is_nil(t.cached_from, "a promotion is not a repeat of its parent") -- same graph, other fidelity
      end
      if not t.cached_from then -- evaluated, in trial order, with the trial's own fidelity
        evaluated = evaluated + 1
        assert.is_table(seen[evaluated])
        assert.are.same(t.fidelity, seen[evaluated])
      end
    end
    assert.are.equal(evaluated, #seen) -- one evaluation per trial that is not a cache hit
    assert.is_true(promoted > 5)
    -- best: the best trial at the largest fidelity reached
    assert.are.equal(9, full.best.fidelity.epochs)
    -- resume: 15 trials, then 40 in a second run = the uninterrupted 40
    run(15)
    local r = run(40)
    assert.are.equal(15, r.resumed)
    for i = 1, 40 do
      assert.are.same(full.trials[i].genotype, r.trials[i].genotype)
      assert.are.same(full.trials[i].fidelity, r.trials[i].fidelity)
      assert.are.equal(full.trials[i].score, r.trials[i].score)
    end
    os.execute("rm -rf '" .. out .. "'")
  end)

  it("strategies of one return value still work (no fidelity)", function()
    local r = nas.search{ space = toy(), strategy = require("strategies.random").new(),
                          evaluate = function(_, ctx)
                            assert.is_nil(ctx.fidelity)
                            return { accuracy = quality(ctx.genotype), loss = 0 }
                          end, budget = { trials = 5 }, seed = 1, log = false }
    for _, t in ipairs(r.trials) do assert.is_nil(t.fidelity) assert.is_nil(t.metrics.fidelity) end
  end)
end)

-- ---- checkpoint continuation with real training -----------------------------------

local root = os.getenv("NAS_DATA_ROOT") or "/usr/share/datasets/fashion-mnist"
local have_data = io.open(root .. "/train-images-idx3-ubyte.gz", "rb")
if have_data then have_data:close() end
local maybe = have_data and it or pending

describe("nas.train continuation", function()
  maybe("continues a promoted trial from its parent's weights (file and memory checkpoints)", function()
    local full = nas.data.fashion_mnist{ valid = 1000, seed = 1 }
    local data = { train = full.train:subset(400, 1), valid = full.valid:subset(300, 2) }
    local space = nas.space("mf-mlp", function(c)
      local net = nas.net{ input = { 1, 28, 28 } }
      net:flatten(); net:linear{ out = c:choice("w", { 32 }) }; net:relu(); net:linear{ out = 10 }
      return net
    end)
    local g = { w = 32 }
    local net = space:build(g)
    local function evaluator(ck)
      return nas.train{ data = data, batch = 50, lr = 0.05, latency = false, checkpoints = ck }
    end
    for _, mode in ipairs({ "file", "memory" }) do
      local out = mode == "file" and fresh_dir("ckpt") or nil
      local ev = evaluator(nil) -- automatic: a fidelity with epochs keeps checkpoints
      local p = ev:evaluate(net, { seed = 5, trial = 1, fidelity = { epochs = 3, rung = 0 }, out = out })
      assert.are.equal(3, p.epochs)
      if out then assert.is_truthy(io.open(out .. "/checkpoints/1.pt", "rb")) end
      local c = ev:evaluate(net, { seed = 6, trial = 2, fidelity = { epochs = 9, rung = 1, parent = 1 }, out = out })
      assert.are.equal(1, c.continued_from, mode)
      assert.are.equal(6, c.epochs, mode) -- the extra epochs only
      assert.are.equal(9, c.epochs_total)
      -- A fresh model's first-epoch loss is far above the parent's last; the continued run starts where the
      -- parent ended.
      local fresh = evaluator(false):evaluate(net, { seed = 6, trial = 3, fidelity = { epochs = 1 } })
      local parent_end, child_start, fresh_start = p.train_curve[#p.train_curve], c.train_curve[1], fresh.train_curve[1]
      assert.is_true(fresh_start - parent_end > 0.3, ("fresh %.3f parent end %.3f"):format(fresh_start, parent_end))
      assert.is_true(math.abs(child_start - parent_end) < 0.5 * (fresh_start - parent_end),
        ("%s: child start %.3f parent end %.3f fresh start %.3f"):format(mode, child_start, parent_end, fresh_start))
      assert.is_true(c.accuracy >= p.accuracy - 0.05)
      -- ... and ends about where a straight 9-epoch run ends (0.807 for both here; LR and data order differ).
      local straight = evaluator(false):evaluate(net, { seed = 5, trial = 5, fidelity = { epochs = 9 } })
      assert.is_true(math.abs(c.accuracy - straight.accuracy) < 0.06,
        ("continued %.3f straight %.3f"):format(c.accuracy, straight.accuracy))
      -- A missing checkpoint trains from scratch for the whole fidelity.
      local m = ev:evaluate(net, { seed = 7, trial = 4, fidelity = { epochs = 2, parent = 99 }, out = out })
      assert.is_nil(m.continued_from)
      assert.matches("no checkpoint", m.checkpoint_missing)
      assert.are.equal(2, m.epochs)
      if out then os.execute("rm -rf '" .. out .. "'") end
    end
  end)
end)
