-- busted --lua=lua5.4 tests/lua/parallel_sim_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
-- nas.simulate: W workers on a simulated clock, on a generated full NB201-shaped table
-- (15,625 cells, random accuracies and costs) and on scripted evaluators with known costs.
local nas = require "nas"
local bench = require "nas.bench"
local simulate = require "nas.simulate"
local space = require "spaces.nb201"

local tmpdir = os.getenv("NAS_TEST_TMP") or "/tmp"

-- A full table: every cell, accuracies and per-epoch times drawn from nas.rng(2024).
local function full_table()
  local stamp = ("%s/parallel_sim_spec_%d"):format(tmpdir, os.time() % 100000)
  local p, p12 = stamp .. ".csv", stamp .. "_12.csv"
  local f, f12 = assert(io.open(p, "w")), assert(io.open(p12, "w"))
  f:write("index,arch,cifar10_valid,cifar10_test,params_m,flops_m,train_s_per_epoch_cifar10\n")
  f12:write("index,arch,cifar10_valid_12ep\n")
  local rng = nas.rng(2024)
  for code = 0, bench.NCELLS - 1 do
    local arch = bench.nb201_arch(code)
    local s12 = 40 + 50 * rng:uniform()
    local v200 = s12 + 8 * rng:uniform()
    f:write(("%d,%s,%.4f,%.4f,%.4f,%.4f,%.4f\n"):format(code, arch, v200, v200 + 2 * rng:uniform(),
      0.1 + rng:uniform(), 10 + 100 * rng:uniform(), 10 + 20 * rng:uniform()))
    f12:write(("%d,%s,%.4f\n"):format(code, arch, s12))
  end
  f:close()
  f12:close()
  return p, p12
end

local P, P12 = full_table()
local ev = bench.nb201{ path = P, path12 = P12 }

local STRATEGIES = {
  rea = function() return require("strategies.evolution").new{ population = 10, sample = 3 } end,
  tpe = function() return require("strategies.tpe").new() end,
  rs = function() return require("strategies.random").new() end,
}

-- bench/nb201.lua's lean sequential loop (its `run`): the chosen cell's code and the queries made.
local function lean(st, seed, budget, per_trial)
  local signal, cost = ev.signal, ev.cost
  local spent, bestsig, best = 0.0, -math.huge, nil
  local id = 0
  local stream = not per_trial and nas.rng(seed) or nil
  while true do
    local g = st:ask(space, stream or nas.rng(seed, id + 1))
    if g == nil then break end
    local k = bench.nb201_code(g) + 1
    local ct = cost[k]
    if spent + ct > budget then break end
    spent = spent + ct
    id = id + 1
    local s = signal[k]
    if s > bestsig then bestsig, best = s, k end
    st:tell({ id = id, genotype = g, status = "ok", score = s / 100 })
  end
  return best - 1, id, spent
end

-- Wraps a strategy: counts asks and tells, the most asks outstanding, tell order.
local function recorder(inner)
  local rec = { asks = 0, tells = 0, max_pending = 0, told_ids = {}, pending_at_ask = {} }
  function rec.ask(_, sp, rng)
    rec.pending_at_ask[#rec.pending_at_ask + 1] = rec.asks - rec.tells
    local g, f = inner:ask(sp, rng)
    rec.asks = rec.asks + 1
    if rec.asks - rec.tells > rec.max_pending then rec.max_pending = rec.asks - rec.tells end
    return g, f
  end
  function rec.tell(_, t)
    rec.tells = rec.tells + 1
    rec.told_ids[#rec.told_ids + 1] = t.id
    inner:tell(t)
  end
  return rec
end

-- A scripted strategy (asks genotypes { cost = c } from a list) and an evaluator that
-- answers train_s = cost, accuracy = 1 / id-ish (the genotype's own score field).
local function scripted(costs)
  local st = { i = 0, told = {} }
  function st.ask()
    st.i = st.i + 1
    if costs[st.i] == nil then return nil end
    return { n = st.i, cost = costs[st.i] }
  end
  function st.tell(_, t) st.told[#st.told + 1] = t.genotype.n end
  return st
end
local fixed_ev = { answer = function(_, g) return { train_s = g.cost, accuracy = (g.n % 7) / 10 } end }

describe("nas.simulate", function()
  it("with one worker is bench/nb201.lua's sequential loop (chosen cell, queries, clock)", function()
    for name, new in pairs(STRATEGIES) do
      for seed = 1, 3 do
        for _, per_trial in ipairs({ false, true }) do
          local code, n, spent = lean(new(), seed, 12000, per_trial)
          local r = simulate.run{ strategy = new(), space = space, evaluator = ev, workers = 1, budget_seconds = 12000,
            rng = per_trial and function(id) return nas.rng(seed, id) end or nas.rng(seed) }
          local what = ("%s seed %d %s"):format(name, seed, per_trial and "trial streams" or "run stream")
          assert.are.equal(code, r.best.metrics.code, what)
          assert.are.equal(n, r.told, what)
          assert.are.equal(spent, r.clock, what) -- the same sums in the same order: bit-equal
          assert.are.equal(0, r.out_of_order, what)
          assert.are.equal(1, r.max_running, what)
          assert.is_true(n > 40, what)
        end
      end
    end
  end)

  it("with 4 workers asks while trials are pending and tells out of ask order", function()
    local rec = recorder(STRATEGIES.rea())
    local r = simulate.run{ strategy = rec, space = space, evaluator = ev, workers = 4, budget_seconds = 12000,
                            rng = nas.rng(5) }
    assert.are.equal(4, rec.max_pending)
    assert.are.equal(4, r.max_running)
    -- the first four asks come before any tell
    assert.are.same({ 0, 1, 2, 3 }, { table.unpack(rec.pending_at_ask, 1, 4) })
    local late = 0
    for i = 2, #rec.told_ids do if rec.told_ids[i] < rec.told_ids[i - 1] then late = late + 1 end end
    assert.is_true(late > 0, "no tell came out of ask order")
    assert.is_true(r.out_of_order >= late)
    -- 4 more asks than tells in the end: the retiring workers' asks are never told
    assert.are.equal(r.told, rec.tells)
    assert.are.equal(rec.asks, r.told + r.dropped)
    assert.are.equal(4, r.dropped)
  end)

  it("runs the event order of finish times, ties by trial id", function()
    local st = scripted({ 5, 1, 1, 1 })
    local r = simulate.run{ strategy = st, space = space, evaluator = fixed_ev, workers = 2, trials = 4,
                            rng = nas.rng(1) }
    -- t=0: 1 (ends 5), 2 (ends 1); t=1: tell 2, ask 3 (ends 2); t=2: tell 3, ask 4 (ends 3); t=3: tell 4; t=5: tell 1
    assert.are.same({ 2, 3, 4, 1 }, st.told)
    assert.are.equal(5, r.clock)
    assert.are.equal(4, st.i) -- no fifth ask: the trials budget
    st = scripted({ 2, 2, 2, 2, 2 })
    r = simulate.run{ strategy = st, space = space, evaluator = fixed_ev, workers = 2, trials = 5, rng = nas.rng(1) }
    assert.are.same({ 1, 2, 3, 4, 5 }, st.told)
    assert.are.equal(6, r.clock)
  end)

  it("ends at about trials * mean cost / W", function()
    for _, W in ipairs({ 1, 4, 16 }) do
      local sum, maxc = 0.0, 0.0
      local r = simulate.run{ strategy = STRATEGIES.rs(), space = space, evaluator = ev, workers = W, trials = 800,
        rng = nas.rng(9), on_tell = function(t)
          sum = sum + t.metrics.train_s
          if t.metrics.train_s > maxc then maxc = t.metrics.train_s end
        end }
      assert.are.equal(800, r.told)
      -- no worker idles while trials remain: the clock is the busy time spread over W, plus at most one trial
      assert.is_true(r.clock >= sum / W - 1e-6, ("W=%d clock %g < %g"):format(W, r.clock, sum / W))
      assert.is_true(r.clock <= sum / W + maxc, ("W=%d clock %g > %g + %g"):format(W, r.clock, sum / W, maxc))
      local mean = sum / 800
      assert.is_true(math.abs(r.clock - 800 * mean / W) / (800 * mean / W) < (W == 16 and 0.15 or 0.02))
    end
    -- equal costs: exactly ceil(N / W) rounds
    local r = simulate.run{ strategy = scripted(setmetatable({}, { __index = function() return 3 end })),
                            space = space, evaluator = fixed_ev, workers = 4, trials = 10, rng = nas.rng(1) }
    assert.are.equal(9, r.clock)
  end)

  it("respects a trials budget exactly", function()
    for _, W in ipairs({ 1, 3, 8, 50 }) do
      local rec = recorder(STRATEGIES.rea())
      local r = simulate.run{ strategy = rec, space = space, evaluator = ev, workers = W, trials = 37,
                              rng = nas.rng(2) }
      assert.are.equal(37, r.told)
      assert.are.equal(37, rec.asks)
      assert.are.equal(37, rec.tells)
      assert.are.equal("trials", r.stopped)
      assert.are.equal(math.min(W, 37), rec.max_pending)
    end
  end)

  it("never runs a trial past the wall budget, and every worker stops at its first overrun", function()
    local B = 3000
    local last = {}
    local r = simulate.run{ strategy = STRATEGIES.rs(), space = space, evaluator = ev, workers = 8, budget_seconds = B,
      rng = nas.rng(4), on_tell = function(t) assert.is_true(t.finished <= B); last[t.worker] = t.finished end }
    assert.are.equal("budget", r.stopped)
    assert.are.equal(8, r.dropped)
    assert.is_true(r.clock <= B)
    -- each worker was busy until close to the budget (the largest cell costs < 12 * 30 / 2 s)
    for w = 1, 8 do assert.is_true(last[w] > B - 180, ("worker %d stopped at %g"):format(w, last[w])) end
  end)

  it("gives failed trials for genotypes the evaluator cannot answer, and stops when ask returns nil", function()
    local st = scripted({ 1, 2, 3 })
    local calls = 0
    local ev2 = { answer = function(_, g)
      calls = calls + 1
      if g.n == 2 then return nil, "no such cell" end
      return { train_s = g.cost, accuracy = 0.5 }
    end }
    local seen = {}
    local r = simulate.run{ strategy = st, space = space, evaluator = ev2, workers = 2, budget_seconds = 100,
      rng = nas.rng(1), on_tell = function(t) seen[t.genotype.n] = t end }
    assert.are.equal(3, calls)
    assert.are.equal("failed", seen[2].status)
    assert.are.equal("no such cell", seen[2].reason)
    assert.is_nil(seen[2].score)
    assert.are.equal("strategy", r.stopped)
    assert.are.equal(3, r.told)
  end)

  it("lets workers wait when ask returns nil while trials run, and tells copies", function()
    -- a strategy with at most 2 asks outstanding (nil otherwise) and 6 genotypes in all
    local st = { n = 0, out = 0, told = {}, asked = {} }
    function st.ask()
      if st.out >= 2 or st.n >= 6 then return nil end
      st.n, st.out = st.n + 1, st.out + 1
      local g = { n = st.n, cost = st.n }
      st.asked[st.n] = g
      return g, { budget = st.n }
    end
    function st.tell(_, t)
      st.out = st.out - 1
      st.told[#st.told + 1] = t.genotype.n
      assert.are_not.equal(st.asked[t.genotype.n], t.genotype) -- a copy, not ask's table
      assert.are.same(st.asked[t.genotype.n], t.genotype)
    end
    local r = simulate.run{ strategy = st, space = space, evaluator = fixed_ev, workers = 4, budget_seconds = 1000,
                            rng = nas.rng(1) }
    -- t=0: 1 (ends 1), 2 (ends 2), workers 3 and 4 wait; t=1: 3 (ends 4); t=2: 4 (ends 6);
    -- t=4: 5 (ends 9); t=6: 6 (ends 12); t=9, 12: nothing left; nil with nothing running ends it
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, st.told)
    assert.are.equal(12, r.clock)
    assert.are.equal(2, r.max_running)
    assert.are.equal("strategy", r.stopped)
    assert.are.equal(6, r.told)
  end)

  it("checks its options strictly", function()
    local base = { strategy = STRATEGIES.rs(), space = space, evaluator = ev, trials = 3, rng = nas.rng(1) }
    local function with(k, v)
      local o = {}
      for kk, vv in pairs(base) do o[kk] = vv end
      o[k] = v
      return o
    end
    assert.has_error(function() simulate.run(with("worker", 2)) end)
    local ok, err = pcall(simulate.run, with("worker", 2))
    assert.is_false(ok)
    assert.matches("unknown option 'worker'", err)
    err = select(2, pcall(simulate.run, with("trials", nil)))
    assert.matches("budget_seconds", err)
    err = select(2, pcall(simulate.run, with("workers", 0)))
    assert.matches("workers", err)
    err = select(2, pcall(simulate.run, with("rng", 7)))
    assert.matches("rng", err)
    err = select(2, pcall(simulate.run, with("evaluator", {})))
    assert.matches("answer", err)
    assert.are.equal(3, simulate(base).told) -- the module is callable
  end)
end)

describe("nas.bench.nb201 fidelities", function()
  local g = space.genotype(1234)
  it("answers 12 and 200 epochs with their columns and costs", function()
    local m12 = assert(ev:answer(g, { epochs = 12, rung = 0 }))
    local plain = assert(ev:answer(g))
    assert.are.equal(plain.accuracy, m12.accuracy)
    assert.are.equal(plain.train_s, m12.train_s)
    assert.are.equal("cifar10_valid_12ep", m12.signal_name)
    assert.are.equal(12, m12.epochs)
    local m200 = assert(ev:answer(g, { epochs = 200, rung = 1 }))
    assert.are.equal("cifar10_valid", m200.signal_name)
    assert.are.equal(m200.cifar10_valid, m200.signal)
    assert.is_true(math.abs(m200.accuracy - m200.cifar10_valid / 100) < 1e-12)
    assert.is_true(math.abs(m200.train_s - plain.train_s * 200 / 12) < 1e-9)
    local cont = assert(ev:answer(g, { epochs = 200, rung = 1, parent = 7 }))
    assert.is_true(math.abs(cont.train_s - plain.train_s * 188 / 12) < 1e-9)
    local none, why = ev:answer(g, { epochs = 36 })
    assert.is_nil(none)
    assert.matches("12 and 200 epochs", why)
    none, why = ev:answer(g, { fraction = 0.5 })
    assert.is_nil(none)
    assert.matches("fraction", why)
    -- query advances the clock by the fidelity's cost
    ev:reset()
    ev:query(g, { epochs = 200 })
    assert.is_true(math.abs(ev:clock() - m200.train_s) < 1e-9)
    ev:reset()
  end)

  it("runs ASHA on its two rungs with simulated workers", function()
    local asha = require "strategies.asha"
    local rec = recorder(asha.new{ min_epochs = 12, max_epochs = 200, eta = 16 })
    local n = { [12] = 0, [200] = 0 }
    local r = simulate.run{ strategy = rec, space = space, evaluator = ev, workers = 8, budget_seconds = 20000,
      rng = nas.rng(3), on_tell = function(t)
        n[t.metrics.epochs] = n[t.metrics.epochs] + 1
        if t.metrics.epochs == 200 then assert.is_not_nil(t.fidelity.parent) end
      end }
    assert.is_true(n[12] > 16 and n[200] > 0, ("rung sizes %d / %d"):format(n[12], n[200]))
    assert.is_true(n[200] <= n[12] // 16)
    assert.are.equal(200, r.best.metrics.epochs) -- the chosen trial is a 200-epoch one
    assert.are.equal(8, rec.max_pending)
  end)
end)
