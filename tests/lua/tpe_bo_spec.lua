-- busted --lua=lua5.4 tests/lua/tpe_bo_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
local nas = require "nas"
local la = require "nas.linalg"
local sur = require "nas.surrogate"
local json = require "cjson"

local LETTERS = { "p", "q", "r", "s", "t" }

-- A small tabular space: two choices and two ints, 5 values each (625 genotypes).
local function synthetic()
  return nas.space("synthetic", function(c)
    c:choice("a", LETTERS); c:choice("b", LETTERS); c:int("x", 0, 4); c:int("y", 0, 4)
    c:done()
    local net = nas.net{ input = { 4 } }
    net:linear{ out = 2 }
    return net
  end)
end

local IDX = {}
for i, v in ipairs(LETTERS) do IDX[v] = i - 1 end

-- A smooth function of the encoding with its optimum at a = "s", b = "q", x = 3,
-- y = 1 (score 0), plus a small fixed "noise" per genotype (a table, as in a benchmark).
local function fitness(g)
  local d = (IDX[g.a] - 3) ^ 2 + (IDX[g.b] - 1) ^ 2 + (g.x - 3) ^ 2 + (g.y - 1) ^ 2
  local h = (IDX[g.a] * 125 + IDX[g.b] * 25 + g.x * 5 + g.y) * 2654435761 % 1000
  return -d + 0.2 * (h / 1000 - 0.5)
end

local function drive(strategy, space, score, n, seed, fail)
  local trials = {}
  for id = 1, n do
    local g = strategy:ask(space, nas.rng(seed, id))
    if g == nil then break end
    local t = { id = id, genotype = g, metrics = {}, status = "ok" }
    if fail and fail(g, id) then
      t.status, t.reason = "failed", "toy failure"
    else
      t.score = score(g)
      t.metrics.score = t.score
    end
    trials[#trials + 1] = t
    strategy:tell(t)
  end
  return trials
end

local function best_score(trials)
  local b = -math.huge
  for _, t in ipairs(trials) do if t.score and t.score > b then b = t.score end end
  return b
end

-- Mean over seeds of the best score after n asks.
local function mean_best(make, n, seeds)
  local space, s = synthetic(), 0
  for seed = 1, seeds do s = s + best_score(drive(make(), space, fitness, n, seed)) end
  return s / seeds
end

local TPE = require "strategies.tpe"
local BO = require "strategies.bo"
local RANDOM = require "strategies.random"
local names = { tpe = TPE, bo = BO }
local small = { tpe = { startup = 5 }, bo = { startup = 5 } }

describe("tpe and bo", function()
  for name, S in pairs(names) do
    it(name .. ": asks genotypes of the space, never repeats one, options are strict", function()
      local space = synthetic()
      local st = S.new(small[name])
      local trials = drive(st, space, fitness, 60, 1, function(_, id) return id % 9 == 0 end)
      assert.are.equal(60, #trials)
      local seen = {}
      for _, t in ipairs(trials) do
        assert.is_truthy(space:build(t.genotype))
        local k = space:key(t.genotype)
        assert.is_nil(seen[k], "asked twice: " .. k)
        seen[k] = true
      end
      assert.are.equal("string", type(st:state_summary()))
      local ok, err = pcall(function() local s = S.new{ bogus_option = 1 }; return s end)
      assert.is_false(ok)
      assert.matches("unknown option 'bogus_option'", err)
      assert.matches("tpe_bo_spec.lua", err)
      assert.has_error(function() S.new{ startup = 0 } end)
      assert.has_error(function() S.new{ model = "yes" } end)
    end)

    it(name .. ": a replayed strategy asks what the original asks", function()
      local space = synthetic()
      local a = S.new(small[name])
      local trials = drive(a, space, fitness, 40, 7, function(_, id) return id % 7 == 0 end)
      local b = S.new(small[name])
      for _, t in ipairs(trials) do
        b:tell({ id = t.id, genotype = json.decode(json.encode(t.genotype)), metrics = t.metrics,
                 status = t.status, score = t.score, reason = t.reason })
      end
      for k = 1, 3 do
        local ga = a:ask(space, nas.rng(99, k))
        local gb = b:ask(space, nas.rng(99, k))
        assert.are.equal(space:key(ga), space:key(gb))
      end
    end)

    it(name .. ": several asks before a tell (parallel workers) are all different", function()
      local space = synthetic()
      local st = S.new(small[name])
      drive(st, space, fitness, 12, 3)
      local keys, n = {}, 0
      for k = 1, 8 do
        local key = space:key(st:ask(space, nas.rng(5, k)))
        if not keys[key] then n = n + 1 end
        keys[key] = true
      end
      assert.are.equal(8, n)
    end)
  end

  it("tpe and bo beat random search, and lose that edge without their model", function()
    local N, SEEDS = 30, 20
    local rnd = mean_best(function() return RANDOM.new() end, N, SEEDS)
    local tpe = mean_best(function() return TPE.new{ startup = 10 } end, N, SEEDS)
    local tpe0 = mean_best(function() return TPE.new{ startup = 10, model = false } end, N, SEEDS)
    local bo = mean_best(function() return BO.new{ startup = 10 } end, N, SEEDS)
    local bo0 = mean_best(function() return BO.new{ startup = 10, model = false } end, N, SEEDS)
    local msg = ("best after %d (mean of %d seeds): random %.3f, tpe %.3f, tpe without model %.3f, "
                 .. "bo %.3f, bo without model %.3f"):format(N, SEEDS, rnd, tpe, tpe0, bo, bo0)
    print(msg)
    assert.is_true(tpe > rnd + 0.5, msg)
    assert.is_true(bo > rnd + 0.5, msg)
    assert.is_true(tpe > tpe0 + 0.5, msg)
    assert.is_true(bo > bo0 + 0.3, msg)
  end)

  it("local search from the best of init random samples (White et al.) beats random", function()
    local LOCAL = require "strategies.local"
    local N, SEEDS = 30, 20
    local rnd = mean_best(function() return RANDOM.new() end, N, SEEDS)
    local ls1 = mean_best(function() return LOCAL.new{ init = 1 } end, N, SEEDS)
    local ls10 = mean_best(function() return LOCAL.new() end, N, SEEDS)
    local msg = ("best after %d (mean of %d seeds): random %.3f, local init 1 %.3f, local init 10 %.3f")
                :format(N, SEEDS, rnd, ls1, ls10)
    print(msg)
    assert.is_true(ls10 > rnd + 0.5, msg) -- (on this smooth space init 1 climbs as well: fewer samples spent)
    assert.is_true(ls1 > rnd + 0.5, msg)
    -- the climb starts from the best of the first 10 samples: ask 11 is one of its neighbours
    local space = synthetic()
    local L = LOCAL.new()
    assert.are.equal(10, L.opts.init)
    local trials = drive(L, space, fitness, 11, 4)
    local best
    for i = 1, 10 do if not best or trials[i].score > best.score then best = trials[i] end end
    local diff = 0
    for k, v in pairs(best.genotype) do if trials[11].genotype[k] ~= v then diff = diff + 1 end end
    assert.are.equal(1, diff)
    assert.has_error(function() LOCAL.new{ init = 0 } end)
  end)

  it("tpe models a conditional decision on the trials where it is active", function()
    -- `depth` exists only when deep = true; `lr` is a log float, always active
    local space = nas.space("cond", function(c)
      local deep = c:bool("deep")
      if deep then c:int("depth", 1, 8) end
      c:float("lr", 1e-4, 1, { log = true })
      c:done()
      local net = nas.net{ input = { 4 } }
      net:linear{ out = 2 }
      return net
    end)
    local function score(g)
      local s = -math.abs(math.log(g.lr, 10) + 2) -- best lr = 0.01
      if g.deep then s = s + 2 - 0.5 * math.abs(g.depth - 6) end
      return s
    end
    local st = TPE.new{ startup = 10 }
    local trials = drive(st, space, score, 80, 4)
    local late_deep, late_depth6, lr_ok = 0, 0, 0
    for i = 41, 80 do
      local g = trials[i].genotype
      assert.are.same(space:canonical(g), g) -- only active decisions are asked
      if g.deep then
        late_deep = late_deep + 1
        if math.abs(g.depth - 6) <= 1 then late_depth6 = late_depth6 + 1 end
      else
        assert.is_nil(g.depth)
      end
      if math.abs(math.log(g.lr, 10) + 2) < 0.7 then lr_ok = lr_ok + 1 end
    end
    assert.is_true(late_deep >= 30, "deep " .. late_deep)
    assert.is_true(late_depth6 >= 0.6 * late_deep, ("depth near 6 in %d of %d"):format(late_depth6, late_deep))
    assert.is_true(lr_ok >= 20, "lr near 0.01 in " .. lr_ok)
    assert.is_true(best_score(trials) > 1.7)
    -- a decision no told trial has used is drawn from the prior, not modelled
    local fresh = TPE.new{ startup = 1 }
    fresh:tell({ id = 1, genotype = { deep = false, lr = 0.01 }, metrics = {}, status = "ok", score = 1 })
    fresh:tell({ id = 2, genotype = { deep = false, lr = 0.1 }, metrics = {}, status = "ok", score = 0 })
    local below, above = fresh:_split()
    assert.is_nil(fresh:_choose(space, { name = "depth", kind = "int", lo = 1, hi = 8 }, below, above, nas.rng(1)))
    local seen_deep = false
    for k = 1, 20 do
      local g = fresh:ask(space, nas.rng(3, k))
      assert.are.same(space:canonical(g), g)
      if g.deep then seen_deep = true; assert.is_true(g.depth >= 1 and g.depth <= 8) end
      fresh.pending = {}; fresh.npending = 0
    end
    assert.is_true(seen_deep)
  end)

  it("tpe uses Optuna's gamma and weights", function()
    local o = { gamma = nil }
    assert.are.equal(1, TPE.n_below(o, 10))
    assert.are.equal(10, TPE.n_below(o, 100))
    assert.are.equal(25, TPE.n_below(o, 1000))
    assert.are.equal(3, TPE.n_below({ gamma = 0.25 }, 10))
    assert.are.same({ 1, 1, 1 }, TPE.weights(3))
    local w = TPE.weights(30) -- a ramp from 1/30 to 1 over the 5 oldest, then 25 ones
    assert.are.equal(30, #w)
    assert.is_true(math.abs(w[1] - 1 / 30) < 1e-12)
    assert.is_true(math.abs(w[5] - 1) < 1e-12)
    assert.is_true(w[2] < w[3] and w[3] < w[4])
    for i = 6, 30 do assert.are.equal(1, w[i]) end
  end)

  it("linalg: Cholesky, solves and its row-by-row extension", function()
    local A = { { 4, 2, 0.4 }, { 2, 3, 0.5 }, { 0.4, 0.5, 2 } }
    local L = la.cholesky({ { 4, 2 }, { 2, 3 } }, 2)
    assert.are.equal(2, L[1][1]); assert.are.equal(1, L[2][1])
    assert.is_true(math.abs(L[2][2] - math.sqrt(2)) < 1e-15)
    local x = la.cho_solve(L, { 2, 1 }, 2) -- [[4,2],[2,3]] x = [2,1] -> x = [0.5, 0]
    assert.is_true(math.abs(x[1] - 0.5) < 1e-14 and math.abs(x[2]) < 1e-14)
    assert.is_true(math.abs(la.logdet(L, 2) - math.log(8)) < 1e-14)
    local full = la.cholesky(A, 3)
    la.cholesky_extend(L, 2, { 0.4, 0.5, 2 })
    for i = 1, 3 do for j = 1, i do assert.is_true(math.abs(L[i][j] - full[i][j]) < 1e-14) end end
    local b = { 1, -2, 3 }
    local y = la.cho_solve(full, b, 3)
    for i = 1, 3 do
      local s = 0
      for j = 1, 3 do s = s + A[i][j] * y[j] end
      assert.is_true(math.abs(s - b[i]) < 1e-12)
    end
    assert.is_nil(la.cholesky({ { 1, 2 }, { 2, 1 } }, 2)) -- not positive definite
    assert.is_true(math.abs(la.norm_cdf(0) - 0.5) < 1e-7)
    assert.is_true(math.abs(la.norm_cdf(1.96) - 0.9750021) < 1e-6)
    -- EI at the incumbent with sd 1 is the normal density at 0
    assert.is_true(math.abs(sur.expected_improvement(0, 1, 0, 0) - 1 / math.sqrt(2 * math.pi)) < 1e-7)
  end)

  it("gp: the posterior mean interpolates the training points when the noise is tiny", function()
    local space = synthetic()
    local enc = sur.encoder()
    local rng = nas.rng(11)
    local gs, codes, ys = {}, {}, {}
    for i = 1, 25 do
      gs[i] = space:sample(rng)
      enc:add(space:decisions(gs[i]))
    end
    local seen = {}
    for _, g in ipairs(gs) do
      local k = space:key(g)
      if not seen[k] then
        seen[k] = true
        codes[#codes + 1] = enc:encode(space:decisions(g))
        ys[#ys + 1] = fitness(g)
      end
    end
    local gp = sur.gp()
    gp:fit(codes, ys, { lengthscale = 1, noise = 1e-8 })
    for i, c in ipairs(codes) do
      local m, sd = gp:predict(c)
      assert.is_true(math.abs(m - ys[i]) < 1e-4, ("point %d: %g vs %g"):format(i, m, ys[i]))
      assert.is_true(sd < 1e-2)
    end
    -- away from the data the sd grows and the grid fit picks some hyperparameters
    local far = enc:encode(space:decisions({ a = "t", b = "t", x = 0, y = 4 }))
    local _, sd_far = gp:predict(far)
    assert.is_true(sd_far > 0.1)
    gp:fit(codes, ys)
    assert.is_truthy(gp.hyper.lengthscale and gp.hyper.noise)
    -- extending the factor gives the same posterior as a full fit
    local g2 = sur.gp()
    g2:fit({ table.unpack(codes, 1, 10) }, { table.unpack(ys, 1, 10) }, gp.hyper)
    g2:update(codes, ys, gp.hyper, 10)
    local g3 = sur.gp():fit(codes, ys, gp.hyper)
    local m2, s2 = g2:predict(far)
    local m3, s3 = g3:predict(far)
    assert.is_true(math.abs(m2 - m3) < 1e-9 and math.abs(s2 - s3) < 1e-9)
  end)
end)
