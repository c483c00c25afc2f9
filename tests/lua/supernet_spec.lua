-- busted --lua=lua5.4 tests/lua/supernet_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
-- Supernets from Lua: nas.supernet (lua/nas/supernet.lua), the model methods of
-- engine/lua/lsupernet.c, spaces/cell.lua's supernet build, and strategies/darts.lua
-- on a toy task. The mix modes themselves are checked against the branches in
-- tests/c/test_torch_supernet.c.
local nas = require "nas"
local core = require "nas.core"

local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"

local function err(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

-- n 1x8x8 images, 4 classes: class c lights quadrant c (raw IDX).
local function quadrants(n)
  local base = ("%s/supernet_spec_%d"):format(tmp, os.time())
  local img, lab = base .. "-images", base .. "-labels"
  local f = assert(io.open(img, "wb"))
  f:write(string.pack(">I4I4I4I4", 0x803, n, 8, 8))
  local state = 4242
  for s = 1, n do
    local c, px = s % 4, {}
    for y = 0, 7 do
      for x = 0, 7 do
        state = (state * 1103515245 + 12345) % 2147483648
        local v = (state >> 16) % 90
        if (y >= 4 and 2 or 0) + (x >= 4 and 1 or 0) == c then v = v + 140 end
        px[#px + 1] = string.char(v)
      end
    end
    f:write(table.concat(px))
  end
  f:close()
  f = assert(io.open(lab, "wb"))
  f:write(string.pack(">I4I4", 0x801, n))
  for s = 1, n do f:write(string.char(s % 4)) end
  f:close()
  local d = assert(core.load_idx(img, lab))
  os.remove(img)
  os.remove(lab)
  return d
end

-- One op decision "feat" in front of a linear classifier: "none" erases the
-- input, "skip" keeps it, "pool" blurs it. c:op is c:choice in a normal build.
local function apply(net, v, x)
  if v == "none" then return nil end
  if v == "skip" then return x end
  return net:avgpool{ input = x, k = 3, stride = 1, padding = 1 }
end
-- A chain of op decisions (none | skip | pool each), then a linear classifier.
local function op_chain(name, decisions)
  return nas.space(name, function(c)
    local net = nas.net{ input = { 1, 8, 8 } }
    local f = 0
    for _, dname in ipairs(decisions) do
      local x = f
      f = c:op(dname, { "none", "skip", "pool" }, function(v) return apply(net, v, x) end, net)
      if f == nil then f = net:zero{ input = 0 } end
    end
    net:flatten{ input = f }
    net:linear{ out = 4 }
    return net
  end)
end
local toy = op_chain("toy", { "feat" })

describe("nas.supernet", function()
  it("builds a supernet of a space's op decisions, one mixed node per decision use", function()
    local sn = nas.supernet(toy, { seed = 1 })
    assert.equal(1, #sn.decisions)
    assert.same({ name = "feat", values = { "none", "skip", "pool" } }, sn.decisions[1])
    assert.equal(1, sn.model:handle():decisions())
    assert.equal(3, sn.model:handle():decision_size(1))
    assert.equal("softmax", sn:mode())
    local mixed = 0
    for id = 1, sn.net:count() - 1 do
      if sn.net:node(id).op == "mixed" then mixed = mixed + 1 end
    end
    assert.equal(1, mixed)
    -- the logits are not weights
    assert.equal(sn.net:params(), sn:params())
    assert.matches("nas.Supernet%(toy, 1 decisions%)", tostring(sn))
  end)

  it("c:op is an ordinary choice in normal builds; space:supernet_net", function()
    assert.same({ feat = "pool" }, toy:canonical{ feat = "pool" })
    assert.equal(3, toy:size())
    local ds = toy:decisions{ feat = "skip" }
    assert.same({ "none", "skip", "pool" }, ds[1].values)
    local net = assert(toy:build{ feat = "none" })
    assert.equal(4 * 64 + 4, net:params())
    assert.matches("genotype misses decision 'feat'", select(2, toy:build{}))
    local snet, decisions = toy:supernet_net()
    assert.is_true(nas.is_net(snet))
    assert.same({ { name = "feat", values = { "none", "skip", "pool" } } }, decisions)
    local bad = nas.space("bad", function(c) c:op("x", { 1, 2 }, 5) end)
    assert.matches("fn %(value %-> node id%) expected", err(bad.sample, bad, nas.rng(1)))
  end)

  it("rejects non-op decisions unless fixed, naming the decision", function()
    local depthy = nas.space("depthy", function(c)
      local net = nas.net{ input = { 1, 8, 8 } }
      for _ = 1, c:int("depth", 1, 3) do net:relu() end
      c:op("act", { "skip", "pool" }, function(v) return apply(net, v, net:last()) end, net)
      net:flatten(); net:linear{ out = 4 }
      return net
    end)
    local msg = err(nas.supernet, depthy)
    assert.matches("decision 'depth' %(c:int%) is not an op choice: supernets need a fixed topology", msg)
    local sn = nas.supernet(depthy, { fixed = { depth = 2 } })
    assert.equal(1, #sn.decisions)
    assert.same({ depth = 2, act = "skip" }, (function()
      sn:set_arch("act", { 1, 0 })
      return sn:genotype()
    end)())
    assert.matches("unknown option", err(nas.supernet, toy, { nope = 1 }))
    assert.matches("no op decisions", err(nas.supernet, nas.space("plain", function()
      local net = nas.net{ input = { 4 } }
      net:linear{ out = 2 }
      return net
    end)))
  end)

  it("derives the genotype by argmax; arch, set_arch and probs by name", function()
    local sn = nas.supernet(toy, { seed = 2 })
    local a = sn:arch()
    assert.equal(3, #a.feat)
    for _, v in ipairs(a.feat) do assert.is_true(math.abs(v) < 0.01) end
    sn:set_arch("feat", { 0.5, -1, 2 })
    assert.same({ feat = "pool" }, sn:genotype())
    local p = sn:probs().feat
    assert.is_true(p[3] > p[1] and p[1] > p[2])
    assert.near(1, p[1] + p[2] + p[3], 1e-9)
    sn:set_arch("feat", { 3, 0, 0 })
    assert.same({ feat = "none" }, sn:genotype())
    assert.matches("unknown decision 'x'", err(sn.set_arch, sn, "x", { 1, 2, 3 }))
    assert.matches("3 candidates, got 2", err(sn.set_arch, sn, "feat", { 1, 2 }))
    -- the derived genotype builds as a normal net
    assert.is_true(nas.is_net(toy:build(sn:genotype())))
  end)

  it("shares weights between the supernet and its subnets", function()
    local d = quadrants(128)
    local sn = nas.supernet(toy, { seed = 3 })
    sn:subnet({ feat = "skip" })
    assert.equal("path", sn:mode())
    local before = sn:predict(d, 0, 8)
    sn:mode("softmax")
    assert.is_truthy(sn:train(d, { steps = 4, batch = 32, lr = 0.1 }))
    sn:subnet({ feat = "skip" })
    local after = sn:predict(d, 0, 8)
    local diff = 0
    for i = 1, #before do
      for j = 1, #before[i] do diff = math.max(diff, math.abs(before[i][j] - after[i][j])) end
    end
    assert.is_true(diff > 1e-6)
    assert.matches("decision 'feat' = \"max\" is not one of", err(sn.subnet, sn, { feat = "max" }))
    assert.matches("'feat' = nil is missing", err(sn.subnet, sn, {}))
    -- BN recalibration runs on any model (here: no BN) and checks its options
    assert.is_true(sn.model:handle():recalibrate_bn(d, { batches = 2, batch = 16 }))
    assert.matches("batch must be >= 2", err(sn.model:handle().recalibrate_bn, sn.model:handle(), d, { batch = 1 }))
  end)

  it("trains reproducibly in Gumbel mode: the memory-format timing does not draw Gumbel samples", function()
    -- the first model of a graph times both memory formats (forwards that sample
    -- in Gumbel mode, as many as the timing needs); the second takes the cached
    -- choice: both must then train to the same weights
    local space = require "spaces.cell"
    local data = nas.data.fashion_mnist{ valid = 200, seed = 1 }
    local rows = data.train:subset(256, 1)
    local function run()
      local sn = nas.supernet(space, { seed = 5 })
      sn:mode("gumbel", 1.0)
      assert(sn:train(rows, { epochs = 1, batch = 64, seed = 1 }))
      sn:mode("softmax")
      local p = sn:predict(data.valid, 0, 4)
      sn.model:release()
      return p
    end
    local a, b = run(), run()
    for i = 1, 4 do for j = 1, 10 do assert.equal(a[i][j], b[i][j]) end end
  end)

  it("builds the cell space's supernet; normal builds are unchanged", function()
    local cell = require "spaces.cell"
    local sn = nas.supernet(cell, { seed = 1 })
    assert.equal(6, #sn.decisions)
    assert.equal("edge_1_0", sn.decisions[1].name)
    assert.same(cell.OPS, sn.decisions[6].values)
    local g = sn:genotype()
    local net = assert(cell:build(g))
    assert.equal(6, #cell:decisions(g))
    -- path mode on g runs; genotype keys of the normal space are untouched
    sn:subnet(g)
    assert.equal("path", sn:mode())
    assert.is_true(net:params() < sn:params())
  end)
end)

describe("strategies.darts", function()
  local darts = require "strategies.darts"
  local d = quadrants(320)

  it("moves the logits toward the better op on a toy task", function()
    local r = assert(darts.run{ space = toy, data = { train = d }, epochs = 3, batch = 32, arch_lr = 0.05,
                                seed = 1 })
    assert.same({ feat = "skip" }, r.genotype)
    assert.is_true(r.arch.feat[2] > r.arch.feat[1] + 0.1)
    assert.equal(3, #r.history)
    assert.equal("softmax", r.supernet:mode())
    assert.is_nil(r.stopped)
  end)

  it("runs second order DARTS, which moves the logits the same way", function()
    local r = assert(darts.run{ space = toy, data = { train = d }, epochs = 3, batch = 32, arch_lr = 0.05,
                                seed = 1, order = 2 })
    assert.same({ feat = "skip" }, r.genotype)
    assert.is_true(r.arch.feat[2] > r.arch.feat[1] + 0.1)
  end)

  it("guards against skip collapse: DARTS+ early stop and Fair DARTS sigmoid", function()
    local r = assert(darts.run{ space = toy, data = { train = d }, epochs = 3, batch = 32, arch_lr = 0.05,
                                guard = "early_stop", skip = "skip", max_skips = 1 })
    assert.is_true(#r.history < 3)
    assert.equal("skip", r.genotype.feat)
    assert.matches("DARTS%+ early stop after epoch %d: 1 edges are skip", r.stopped)
    r = assert(darts.run{ space = toy, data = { train = d }, epochs = 1, batch = 32, guard = "sigmoid" })
    assert.equal("sigmoid", r.supernet:mode())
  end)

  it("GDAS (Gumbel mode, annealed tau) moves the logits toward the better op", function()
    local gdas = require "strategies.gdas"
    local taus = {}
    local r = assert(gdas.run{ space = toy, data = { train = d }, epochs = 4, batch = 32, arch_lr = 0.05, seed = 1,
                               chunk = 1, derive = "argmax", progress = function(p) taus[#taus + 1] = p.step end })
    -- "none" erases the input; "skip" and "pool" both keep the quadrants
    local a = r.arch.feat
    assert.are_not.equal("none", r.genotype.feat, ("logits %g %g %g"):format(a[1], a[2], a[3]))
    assert.is_true(a[1] < math.max(a[2], a[3]) - 0.05)
    assert.equal("fixed", r.supernet:mode())
    assert.is_true(#taus >= 10)
    assert.matches("tau_min", err(gdas.run, { space = toy, data = { train = d }, tau_min = 0 }))
    assert.matches("unknown option", err(gdas.run, { space = toy, data = { train = d }, guard = "sigmoid" }))
  end)

  it("saves and loads a searched supernet (weights and logits)", function()
    local r = assert(darts.run{ space = toy, data = { train = d }, epochs = 1, batch = 32, arch_lr = 0.05, seed = 1 })
    local path = ("%s/supernet_spec_save_%d.pt"):format(tmp, os.time())
    r.supernet:save(path)
    local sn = nas.supernet(toy, { seed = 99 })
    assert.are_not.same(r.arch, sn:arch())
    sn:load(path)
    assert.same(r.arch, sn:arch())
    assert.equal("softmax", sn:mode())
    local a, b = r.supernet:predict(d, 0, 4), sn:predict(d, 0, 4)
    for i = 1, 4 do for j = 1, 4 do assert.near(a[i][j], b[i][j], 1e-6) end end
    -- a supernet of another space is refused, naming the decision
    local other = nas.space("other", function(c)
      local net = nas.net{ input = { 1, 8, 8 } }
      local f = c:op("feat", { "skip", "pool" }, function(v) return apply(net, v, 0) end, net)
      net:flatten{ input = f }
      net:linear{ out = 4 }
      return net
    end)
    assert.matches("does not match this supernet's 'feat'", err(nas.supernet(other).load, nas.supernet(other), path))
    assert.matches("No such file", err(sn.load, sn, path .. ".missing"))
    os.remove(path)
    os.remove(path .. ".arch.json")
  end)

  it("derives the cell with or without the zero op (derive = nonzero | argmax)", function()
    local sn = nas.supernet(toy)
    sn:set_arch("feat", { 2.0, 1.0, 0.5 })
    assert.same({ feat = "none" }, sn:genotype())
    assert.same({ feat = "skip" }, sn:genotype{ exclude = { "none" } })
    assert.same({ feat = "none" }, sn:genotype{ exclude = { "none", "skip", "pool" } })
    local r = assert(darts.run{ space = toy, data = { train = d }, epochs = 1, batch = 32, arch_lr = 0.05 })
    assert.equal("nonzero", r.derive)
    r = assert(darts.run{ space = toy, data = { train = d }, epochs = 1, batch = 32, derive = "argmax" })
    assert.equal("argmax", r.derive)
    assert.matches("derive must be", err(darts.run, { space = toy, data = { train = d }, derive = "top2" }))
  end)

  it("draws genotypes from the logits (sn:sample)", function()
    local sn = nas.supernet(toy)
    sn:set_arch("feat", { 0.0, math.log(3), 0.0 }) -- p = 0.2, 0.6, 0.2
    local n, rng = { none = 0, skip = 0, pool = 0 }, nas.rng(7)
    for _ = 1, 2000 do
      local g = sn:sample(rng)
      n[g.feat] = n[g.feat] + 1
    end
    assert.is_true(math.abs(n.skip / 2000 - 0.6) < 0.05, ("skip drawn %d of 2000"):format(n.skip))
    assert.is_true(math.abs(n.none / 2000 - 0.2) < 0.05, ("none drawn %d of 2000"):format(n.none))
    assert.same(sn:sample(nas.rng(3)), sn:sample(nas.rng(3)))
    assert.matches("nas.rng expected", err(sn.sample, sn, 3))
  end)

  it("derives by scoring sampled subnets with the inherited weights (derive = sample)", function()
    local gdas = require "strategies.gdas"
    local r = assert(gdas.run{ space = toy, data = { train = d }, epochs = 2, batch = 32, seed = 2, derive = "sample",
                               derive_rows = 80 })
    assert.equal("sample", r.derive)
    assert.same(r.supernet:genotype(), r.candidates[1])
    assert.is_true(#r.candidates >= 3) -- all three values among 22 candidates (p ~ 1/3 each)
    local best = -1
    for i, g in ipairs(r.candidates) do
      if g.feat == "none" then assert.is_true(r.scores[i] < 0.5) end -- erases the input: chance
      best = math.max(best, r.scores[i])
    end
    assert.equal(best, r.score)
    assert.are_not.equal("none", r.genotype.feat)
    assert.equal("path", r.supernet:mode())
    r = assert(gdas.run{ space = toy, data = { train = d }, epochs = 1, batch = 32, derive = "sample",
                         derive_samples = 0 })
    assert.equal("sample", assert(gdas.run{ space = toy, data = { train = d }, epochs = 1, batch = 32 }).derive)
    assert.is_true(#r.candidates <= 2)
    assert.matches("'derive_samples'", err(gdas.run, { space = toy, data = { train = d }, derive_samples = -1 }))
    assert.matches("'derive_rows'", err(darts.run, { space = toy, data = { train = d }, derive_rows = 0 }))
  end)

  it("warms the weights up before the bilevel loop (warmup epochs), logits untouched meanwhile", function()
    local steps = {}
    assert(darts.run{ space = toy, data = { train = d }, epochs = 1, batch = 32, warmup = 2, chunk = 1,
                      progress = function(p) steps[#steps + 1] = p.step end })
    -- the bilevel loop's own steps: 160 rows / 32 = 5, counted from 1 after the warm-up
    assert.equal(5, #steps)
    assert.equal(1, steps[1])
    local sn = nas.supernet(toy, { seed = 0 })
    local w = sn:train(d:split(160, 0), { epochs = 2, batch = 32, lr = 0.025, momentum = 0.9, weight_decay = 3e-4,
                                          schedule = "constant", grad_clip = 5, seed = 0 })
    assert.is_truthy(w)
    assert.same(nas.supernet(toy, { seed = 0 }):arch(), sn:arch())
    assert.matches("'warmup'", err(darts.run, { space = toy, data = { train = d }, warmup = -1 }))
    assert.is_truthy(require("strategies.gdas").run{ space = toy, data = { train = d }, epochs = 1, batch = 32,
                                                     warmup = 1 })
  end)

  it("checks its options", function()
    assert.matches("order must be 1 or 2", err(darts.run, { space = toy, data = { train = d }, order = 3 }))
    assert.matches("guard must be", err(darts.run, { space = toy, data = { train = d }, guard = "x" }))
    assert.matches("unknown option", err(darts.run, { space = toy, data = { train = d }, nope = 1 }))
    assert.matches("'data'", err(darts.run, { space = toy }))
  end)
end)

describe("strategies.spos and strategies.enas", function()
  local d = quadrants(480)
  -- two op decisions: "none" on either erases the input
  local two = op_chain("two", { "a", "b" })

  it("SPOS trains single paths, then scores subnets with the inherited weights", function()
    local spos = require "strategies.spos"
    local phases = {}
    local r = assert(spos.run{ space = two, data = { train = d }, epochs = 4, batch = 32, seed = 1, holdout = 160,
                               trials = 9, strategy = require("strategies.random").new(), chunk = 5,
                               weights = { lr = 0.05 },
                               progress = function(p) phases[p.phase] = (phases[p.phase] or 0) + 1 end })
    assert.is_true(phases.train >= 2)
    assert.equal(1, phases.search)
    assert.equal(9, #r.search.trials)
    -- every subnet with a "none" is at chance; the others learnt the task
    local best_none = 0
    for _, t in ipairs(r.search.trials) do
      if t.status == "ok" and (t.genotype.a == "none" or t.genotype.b == "none") then
        best_none = math.max(best_none, t.score)
      end
    end
    assert.is_true(best_none < 0.45, "none subnet scored " .. best_none)
    assert.is_true(r.score > 0.8, "best subnet scored " .. r.score)
    assert.are_not.equal("none", r.genotype.a)
    assert.are_not.equal("none", r.genotype.b)
    assert.equal(4, #r.history)
    -- the supernet is left on the winner's path: evaluating it again gives its score
    assert.equal("path", r.supernet:mode())
    local again = r.supernet:evaluate(d).accuracy
    assert.is_true(again > 0.8)
    -- options
    assert.matches("'trials'", err(spos.run, { space = two, data = { train = d }, trials = 0 }))
    assert.matches("unknown option", err(spos.run, { space = two, data = { train = d }, guard = "sigmoid" }))
    assert.matches("'data'", err(spos.run, { space = two }))
    assert.matches("'holdout'", err(spos.run, { space = two, data = { train = d }, holdout = -1 }))
  end)

  it("ENAS moves the controller away from paths that erase the input", function()
    local enas = require "strategies.enas"
    local rewards = {}
    local r = assert(enas.run{ space = two, data = { train = d }, epochs = 4, batch = 32, seed = 2, holdout = 160,
                               controller_steps = 30, reward_rows = 64, lr = 0.05, final_samples = 4,
                               weights = { lr = 0.05 },
                               progress = function(p)
                                 if p.phase == "controller" then rewards[#rewards + 1] = p.reward end
                               end })
    assert.equal(4, #rewards)
    assert.is_true(rewards[4] > rewards[1], ("rewards %g -> %g"):format(rewards[1], rewards[4]))
    local pa = r.policy:probabilities("a")
    assert.is_true(pa[1] < 1 / 3, "p(none) on a: " .. pa[1])
    assert.are_not.equal("none", r.genotype.a)
    assert.are_not.equal("none", r.genotype.b)
    assert.is_true(r.score > 0.8)
    assert.equal(5, #r.candidates)
    -- the core's LSTM controller drives the same loop
    local rl = assert(enas.run{ space = two, data = { train = d }, epochs = 2, batch = 32, seed = 2, holdout = 160,
                                controller = "lstm", hidden = 8, controller_steps = 10, reward_rows = 64,
                                final_samples = 2 })
    assert.is_truthy(rl.policy.ctl)
    assert.equal(2, #rl.history)
    assert.is_truthy(two:build(rl.genotype))
    assert.matches("controller", err(enas.run, { space = two, data = { train = d }, controller = "tree" }))
    assert.matches("'hidden'", err(enas.run, { space = two, data = { train = d }, hidden = 8 }))
    assert.matches("'controller_steps'", err(enas.run, { space = two, data = { train = d }, controller_steps = 0 }))
  end)

  it("stops at max_seconds (darts, spos)", function()
    local r = assert(require("strategies.darts").run{ space = two, data = { train = d }, epochs = 50, batch = 32,
                                                      chunk = 2, max_seconds = 1e-3 })
    assert.matches("time budget: stopped after step 2 of", r.stopped)
    r = assert(require("strategies.spos").run{ space = two, data = { train = d }, epochs = 50, batch = 32,
                                               max_seconds = 1e-3, trials = 3 })
    local at, of = r.stopped:match("^time budget: stopped after step (%d+) of (%d+)$")
    assert.is_true(tonumber(at) < tonumber(of), r.stopped)
    assert.equal(tonumber(at), r.steps)
    assert.matches("max_seconds", err(require("strategies.darts").run, { space = two, data = { train = d },
                                                                          max_seconds = 0 }))
  end)
end)

describe("supernets of spaces/chain.lua and spaces/mobilenet.lua", function()
  local d = quadrants(200)
  for _, name in ipairs{ "chain", "mobilenet" } do
    it(name .. ": op decisions mixed, the rest pinned by base; subspace, paths and SPOS", function()
      local space = require("spaces." .. name).with{ input = { 1, 8, 8 }, classes = 4 }
      local base = space:sample(nas.rng(3))
      local sn = nas.supernet(space, { base = base, seed = 1 })
      local ops = name == "chain" and { kernel = true } or { kernel = true, expand = true }
      assert.is_true(#sn.decisions >= 1)
      for _, dec in ipairs(sn.decisions) do
        assert.is_truthy(ops[dec.name:match("^(%a+)")], dec.name)
      end
      -- pinned decisions keep base's values in every genotype of the subspace
      local n = 0
      for s = 1, 10 do
        local g = sn.subspace:sample(nas.rng(s))
        for k, v in pairs(base) do
          if not ops[k:match("^(%a+)")] then assert.equal(v, g[k], k) end
        end
        assert.is_truthy(space:build(g))
        n = n + 1
      end
      local size = 1
      for _, dec in ipairs(sn.decisions) do size = size * #dec.values end
      assert.equal(size, sn.subspace:size())
      -- the derived genotype is a genotype of the space
      local g = sn:genotype()
      assert.is_truthy(space:build(g))
      -- "fixed" (argmax) is the path of the argmax genotype
      sn:mode("fixed")
      local a = sn:predict(d, 0, 8)
      sn:subnet(g)
      local b = sn:predict(d, 0, 8)
      assert.equal(8, #a)
      for i = 1, #a do
        for j = 1, 4 do assert.near(a[i][j], b[i][j], 1e-5) end
      end
      -- SPOS over the subspace
      local r = assert(require("strategies.spos").run{ space = space, base = base, data = { train = d }, epochs = 1,
                                                       batch = 32, holdout = 40, trials = 4, bn_batches = 2 })
      for k, v in pairs(base) do
        if not ops[k:match("^(%a+)")] then assert.equal(v, r.genotype[k], k) end
      end
      assert.is_truthy(space:build(r.genotype))
      assert.matches("not an op choice", err(nas.supernet, space, {}))
    end)
  end
end)
