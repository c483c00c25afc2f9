-- busted --lua=lua5.4 tests/lua/async_strategies_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
--
-- Parallel workers: every shipped ask/tell strategy is driven with several asks
-- pending at once and the tells arriving in a shuffled order (with failed,
-- rejected and cached trials among them). For each one: (a) no ask repeats a
-- pending one where the strategy de-duplicates, (b) its parallel behaviour
-- (docs/strategies.md, "Parallel workers and pending trials"), (c) resume: a
-- fresh object told the same trials in the same tell order asks what the live
-- one asks next, for the same rng.
local nas = require "nas"
local json = require "cjson"
local fid = require "nas.fidelity"
local gkey = require("nas.space").genotype_key

-- ---- spaces and scores --------------------------------------------------------------------

-- n integer decisions d1..dn in 0..m; tiny nets, nothing trains.
local function toy(n, m)
  return nas.space("async-toy" .. n .. "x" .. m, function(c)
    local net = nas.net{ input = { 4 } }
    for i = 1, n do net:linear{ out = 2 + c:int("d" .. i, 0, m) } end
    net:linear{ out = 2 }
    return net
  end)
end

-- A fixed pseudo-random value in [0, 1) per genotype (a table's noise).
local function jitter(g)
  local names = {}
  for k in pairs(g) do names[#names + 1] = k end
  table.sort(names)
  local h = 0
  for _, k in ipairs(names) do
    local v = g[k]
    if type(v) == "number" then v = math.tointeger(v) or v end
    for ch in tostring(v):gmatch(".") do h = (h * 31 + ch:byte()) % 1000003 end
    h = (h * 17 + #k) % 1000003
  end
  return (h * 2654435761 % 1000) / 1000
end

-- Sum of the decisions plus a little noise (ties are rare).
local function sum_score(g)
  local s = 0
  for _, v in pairs(g) do if type(v) == "number" then s = s + v end end
  return s + 0.1 * jitter(g)
end

local LETTERS = { "p", "q", "r", "s", "t" }
local IDX = {}
for i, v in ipairs(LETTERS) do IDX[v] = i - 1 end

-- Two choices and two ints, 5 values each (625 genotypes), as in tests/lua/tpe_bo_spec.lua.
local function synthetic()
  return nas.space("async-synthetic", function(c)
    c:choice("a", LETTERS); c:choice("b", LETTERS); c:int("x", 0, 4); c:int("y", 0, 4)
    c:done()
    local net = nas.net{ input = { 4 } }
    net:linear{ out = 2 }
    return net
  end)
end

local function synthetic_score(g)
  local d = (IDX[g.a] - 3) ^ 2 + (IDX[g.b] - 1) ^ 2 + (g.x - 3) ^ 2 + (g.y - 1) ^ 2
  return -d + 0.2 * (jitter(g) - 0.5)
end

-- Multi-fidelity: quality (a + b) / 100, accuracy after r units q * r / (r + 2).
local function mf_toy()
  return nas.space("async-mf", function(c)
    local net = nas.net{ input = { 4 } }
    net:linear{ out = 2 + c:int("a", 0, 50) }
    net:linear{ out = 2 + c:int("b", 0, 50) }
    net:linear{ out = 2 }
    return net
  end)
end
local function mf_score(g, f) local r = fid.level(f) return (g.a + g.b) / 100 * r / (r + 2) end

-- ---- the parallel driver --------------------------------------------------------------------

local function roundtrip(v) if v == nil then return nil end return json.decode(json.encode(v)) end

-- Runs `n` asks with up to `workers` pending; each tell takes a pending ask at
-- random (a generator of its own, so the order is fixed per seed). Trial ids
-- are ask numbers (the rng of ask i is nas.rng(seed, i), as in nas.search).
-- Some trials fail (id % 7 == 3), are rejected (id % 11 == 5) or are told as
-- repeats (cached_from, id % 5 == 4). Told trials go through JSON, as the store's do.
-- hooks: before_ask(st, rec) / after_ask(st, rec, a) / after_tell(st, rec, t).
-- Returns rec = { asks, told (tell order), pending (at the end: empty), dups (asks
-- repeating a pending genotype at the same fidelity), nils (asks that returned nil) }.
local function run_async(st, space, score, o)
  local order = nas.rng(o.seed, 0, "tell order")
  local rec = { asks = {}, told = {}, pending = {}, dups = 0, nils = 0 }
  local id = 0
  local function tell_one()
    local p = table.remove(rec.pending, order:int(1, #rec.pending))
    local t = { id = p.id, genotype = roundtrip(p.g), fidelity = roundtrip(p.f), metrics = {}, status = "ok" }
    if not o.all_ok and p.id % 7 == 3 then
      t.status, t.reason = "failed", "toy failure"
    elseif not o.all_ok and p.id % 11 == 5 then
      t.status, t.reason = "rejected", "constraint: params"
    else
      t.score = score(p.g, p.f)
      t.metrics.score = t.score
      if not o.all_ok and p.id % 5 == 4 and #rec.told > 0 then t.cached_from = rec.told[1].id end
    end
    st:tell(t)
    rec.told[#rec.told + 1] = t
    if o.after_tell then o.after_tell(st, rec, t) end
  end
  while true do
    while id < o.n and #rec.pending < o.workers do
      if o.before_ask then o.before_ask(st, rec) end
      local g, f = st:ask(space, nas.rng(o.seed, id + 1))
      if g == nil then rec.nils = rec.nils + 1 break end
      id = id + 1
      local a = { id = id, g = g, f = f, key = space:key(g) .. "|" .. json.encode(f and fid.level(f) or 0) }
      for _, p in ipairs(rec.pending) do if p.key == a.key then rec.dups = rec.dups + 1 end end
      if o.after_ask then o.after_ask(st, rec, a) end
      rec.asks[#rec.asks + 1] = a
      rec.pending[#rec.pending + 1] = a
    end
    if #rec.pending == 0 then break end
    tell_one()
  end
  return rec
end

-- (c) resume: a fresh object told the same trials in the same order asks the
-- same as the live one, for `steps` more ask/tell rounds (sequential).
local function assert_replays(live, make, rec, space, score, seed, steps)
  local fresh = make()
  for _, t in ipairs(rec.told) do fresh:tell(t) end
  for i = 1, steps or 5 do
    local rng_id = 10000 + i
    local g1, f1 = live:ask(space, nas.rng(seed, rng_id))
    local g2, f2 = fresh:ask(space, nas.rng(seed, rng_id))
    assert.are.same(g1, g2, "ask " .. i .. " after the replay")
    assert.are.same(f1, f2, "fidelity " .. i .. " after the replay")
    if g1 == nil then break end
    local t = { id = rng_id, genotype = roundtrip(g1), fidelity = roundtrip(f1), metrics = {}, status = "ok",
                score = score(g1, f1) }
    live:tell(t)
    fresh:tell(t)
  end
end

local function hamming(a, b)
  local d = 0
  for k, v in pairs(a) do if b[k] ~= v then d = d + 1 end end
  for k in pairs(b) do if a[k] == nil then d = d + 1 end end
  return d
end

local function counts_of(keys)
  local n = 0
  for _ in pairs(keys) do n = n + 1 end
  return n
end

-- ---- the strategies ---------------------------------------------------------------------------

describe("parallel workers", function()
  it("evolution: tournaments on the told population only, pending repeats re-mutated, replay", function()
    local space = toy(5, 4)
    local E = require "strategies.evolution"
    local function make() return E.new{ population = 8, sample = 3 } end
    local st = make()
    local tournaments, near = 0, 0
    local rec = run_async(st, space, sum_score, { n = 90, workers = 6, seed = 3,
      before_ask = function(s, r)
        r.pop = s.nscored + s.npending >= 8 and s.nscored > 0 and s:population() or nil
        r.np = s.npending
      end,
      after_ask = function(_, r, a)
        if r.pop then
          tournaments = tournaments + 1
          -- the child is a one-decision mutant of a member of the told population
          for _, m in ipairs(r.pop) do
            if hamming(m.genotype, a.g) == 1 then near = near + 1 break end
          end
        end
      end })
    assert.are.equal(0, rec.dups, "an ask repeated a pending one")
    assert.is_true(tournaments > 60, tostring(tournaments))
    assert.are.equal(tournaments, near, "a child that is no mutant of a told member")
    assert.are.equal(0, st.npending)
    assert.is_nil(st._pk)
    assert.is_nil(next(st.pending))
    assert_replays(st, make, rec, space, sum_score, 3)
  end)

  it("evolution: a warm-up counts pending asks, and a child repeating a pending ask is re-mutated", function()
    local space = toy(3, 2) -- 27 genotypes: collisions are likely
    for seed = 1, 6 do
      local st = require("strategies.evolution").new{ population = 4, sample = 2 }
      for id = 1, 4 do st:ask(space, nas.rng(seed, id)) end
      assert.are.equal(4, st.npending)
      -- tell one: the tournament runs on that one member (pending asks are not members)
      local g1 = { d1 = 2, d2 = 2, d3 = 2 }
      st:tell({ id = 1, genotype = g1, status = "ok", score = 6 })
      local keys = {}
      for id = 5, 9 do -- g1 has 6 one-decision mutants: five of them, each once
        local g = st:ask(space, nas.rng(seed, id))
        assert.are.equal(1, hamming(g, g1)) -- a mutant of the one told member
        local k = space:key(g)
        assert.is_nil(keys[k], "repeated a pending child " .. k)
        keys[k] = true
      end
    end
  end)

  it("evolution: REA on the NB201 table with 8 workers (no pending repeat, replay)", function()
    local path = "../shared/bench/nb201/"
    local f = io.open(path .. "nb201.csv")
    if not f then
      print("\nasync_strategies_spec: ../shared/bench/nb201/nb201.csv is absent; the NB201 scenario was NOT run")
      return
    end
    f:close()
    local ev = nas.bench.nb201{ path = path .. "nb201.csv", path12 = path .. "nb201_12epoch.csv" }
    local space = require "spaces.nb201"
    local code = nas.bench.nb201_code
    local function score(g) return ev.signal[code(g) + 1] / 100 end
    local E = require "strategies.evolution"
    local function make() return E.new{ population = 10, sample = 3 } end
    local st = make()
    local rec = run_async(st, space, score, { n = 150, workers = 8, seed = 11, all_ok = true })
    assert.are.equal(0, rec.dups)
    assert.are.equal(150, #rec.told)
    assert.are.equal(0, st.npending)
    assert_replays(st, make, rec, space, score, 11, 10)
  end)

  it("random: no pending repeats on a small space, pending released, replay", function()
    local space = toy(3, 3) -- 64 genotypes
    local R = require "strategies.random"
    local st = R.new()
    local rec = run_async(st, space, sum_score, { n = 40, workers = 10, seed = 2 })
    assert.are.equal(0, rec.dups)
    assert.are.equal(0, st.npending)
    assert.is_nil(next(st.pending))
    assert_replays(st, R.new, rec, space, sum_score, 2)
  end)

  it("grid: every genotype asked once, nil while the last ones are pending, replay", function()
    local space = toy(3, 2) -- 27 genotypes
    local G = require "strategies.grid"
    local st = G.new()
    local rec = run_async(st, space, sum_score, { n = 100, workers = 4, seed = 4 })
    assert.are.equal(27, #rec.asks)
    local keys = {}
    for _, a in ipairs(rec.asks) do keys[a.key] = true end
    assert.are.equal(27, counts_of(keys))
    assert.is_true(rec.nils >= 1) -- all asked, some pending: nothing to ask
    assert.is_nil(next(st.pending))
    assert.is_nil(st:ask(space, nas.rng(4, 99)))
    assert_replays(st, G.new, rec, space, sum_score, 4)
  end)

  it("progressive: passes pending asks through to its base, replay", function()
    local space = toy(4, 3)
    local P = require "strategies.progressive"
    local function make() return P.new{ base = "evolution", base_opts = { population = 6, sample = 2 },
                                        unlock_every = 8 } end
    local st = make()
    local rec = run_async(st, space, sum_score, { n = 50, workers = 5, seed = 6,
      after_ask = function(s, r)
        assert.are.equal(#r.pending + 1, s.base.npending) -- the base counts every pending ask
      end })
    assert.are.equal(0, rec.dups)
    assert.are.equal(0, st.base.npending)
    assert_replays(st, make, rec, space, sum_score, 6)
  end)

  it("local: several neighbours of the current point pending at once, never a repeat, replay", function()
    local space = toy(5, 4)
    local L = require "strategies.local"
    local function make() return L.new{ init = 3 } end
    local st = make()
    local most = 0
    local rec = run_async(st, space, sum_score, { n = 80, workers = 5, seed = 7,
      after_ask = function(s, r, a)
        local cur = s.current
        if not cur then return end
        local nb = {}
        for _, k in ipairs(cur.keys) do nb[k] = true end
        local n = nb[gkey(a.g)] and 1 or 0
        for _, p in ipairs(r.pending) do if nb[gkey(p.g)] then n = n + 1 end end
        if n > most then most = n end
      end })
    assert.is_true(most >= 4, "at most " .. most .. " neighbours of the current point pending together")
    local keys = {}
    for _, a in ipairs(rec.asks) do
      assert.is_nil(keys[a.key], "asked twice: " .. a.key)
      keys[a.key] = true
    end
    assert.is_true(#st.optima + (st.current and 1 or 0) >= 1)
    for k, c in pairs(st.pending) do assert.are.equal(0, c, k) end
    assert_replays(st, make, rec, space, sum_score, 7)
  end)

  it("nsga2: steady asks from the current parents, pending children not in the population, replay", function()
    local space = toy(5, 4)
    local N = require "strategies.nsga2"
    local function make() return N.new{ population = 6, crossover = 0 } end
    local st = make()
    local told_ids, children, near = {}, 0, 0
    local rec = run_async(st, space, sum_score, { n = 70, workers = 5, seed = 8,
      before_ask = function(s, r)
        r.parents = {}
        for i, m in ipairs(s.parents) do r.parents[i] = m end
      end,
      after_ask = function(_, r, a)
        if #r.parents == 0 then return end
        children = children + 1
        for _, m in ipairs(r.parents) do
          if hamming(m.genotype, a.g) == 1 then near = near + 1 break end
        end
      end,
      after_tell = function(s, r, t)
        told_ids[t.id] = true
        for _, m in ipairs(s.parents) do assert.is_true(told_ids[m.id], "a parent that was not told") end
        assert.are.equal(#r.told // 6, s.generation)
      end })
    assert.are.equal(0, rec.dups)
    assert.is_true(children > 40)
    assert.are.equal(children, near, "a child that is no mutant of a current parent")
    assert.is_nil(next(st.pending))
    assert_replays(st, make, rec, space, sum_score, 8)
  end)

  it("tpe: pending asks are running trials in the bad group (constant liar) and spread the asks", function()
    local space = synthetic()
    local T = require "strategies.tpe"
    local function make() return T.new{ startup = 5 } end
    -- (b) the liar: after 20 sequential trials, four asks without tells
    local spread_liar, spread_alone = 0, 0
    for seed = 1, 6 do
      local base = {}
      local st = make()
      for id = 1, 20 do
        local g = st:ask(space, nas.rng(seed, id))
        local t = { id = id, genotype = g, metrics = {}, status = "ok", score = synthetic_score(g) }
        st:tell(t)
        base[id] = t
      end
      local asked = {}
      for i = 1, 4 do asked[i] = st:ask(space, nas.rng(seed, 100 + i)) end
      local _, above = st:_split()
      local running = 0
      for _, m in ipairs(above) do if m.id == nil then running = running + 1 end end
      assert.are.equal(4, running) -- the four pending asks are in the "above" group
      -- the control: the same four rngs, each asked of a strategy that knows no pending ask
      local alone = {}
      for i = 1, 4 do
        local c = make()
        for _, t in ipairs(base) do c:tell(t) end
        alone[i] = c:ask(space, nas.rng(seed, 100 + i))
      end
      for i = 1, 4 do
        for j = i + 1, 4 do
          spread_liar = spread_liar + hamming(asked[i], asked[j])
          spread_alone = spread_alone + hamming(alone[i], alone[j])
        end
      end
    end
    assert.is_true(spread_liar > spread_alone,
      ("mean distance between parallel asks %.2f (liar) vs %.2f"):format(spread_liar / 36, spread_alone / 36))
    -- (a), (c) out of order
    local st = make()
    local rec = run_async(st, space, synthetic_score, { n = 50, workers = 4, seed = 5 })
    assert.are.equal(0, rec.dups)
    assert.are.equal(0, st.npending)
    assert.are.equal(0, #st:_running())
    assert.are.equal(0, #st.liars)
    assert_replays(st, make, rec, space, synthetic_score, 5)
  end)

  it("bo: pending asks by kriging believer, no refit between tells, replay", function()
    local space = synthetic()
    local B = require "strategies.bo"
    local function make() return B.new{ startup = 5 } end
    local st = make()
    -- count the GP's fits and updates
    local fits = 0
    local gp = st.gp
    local fit, update = gp.fit, gp.update
    gp.fit = function(...) fits = fits + 1 return fit(...) end
    gp.update = function(...) fits = fits + 1 return update(...) end
    local rec = run_async(st, space, synthetic_score, { n = 40, workers = 4, seed = 9,
      before_ask = function(_, r) r.fits0, r.told0 = fits, #r.told end,
      after_ask = function(_, r)
        if r.last_told == #r.told and #r.told >= 5 then
          assert.are.equal(r.fits0, fits, "the GP was refit with no new tell")
        end
        r.last_told = #r.told
      end })
    assert.are.equal(0, rec.dups)
    assert.are.equal(0, st.npending)
    assert.are.equal(0, #st.liars)
    assert_replays(st, make, rec, space, synthetic_score, 9)

    -- (b) the believer: the mean is the GP's own; the sd vanishes at a pending point
    local sur = require "nas.surrogate"
    local g = sur.gp{}
    local codes = { { 1, 0.0 }, { 2, 0.5 }, { 3, 1.0 }, { 1, 1.0 } }
    g:fit(codes, { 0.1, 0.5, 0.2, 0.9 }, { lengthscale = 1, noise = 1e-4 })
    local pend = { 2, 1.0 }
    local view = g:believer{ pend }
    local m0, s0 = g:predict(pend)
    local m1, s1 = view:predict(pend)
    assert.is_true(math.abs(m0 - m1) < 1e-9)
    assert.is_true(s1 < 0.05 * s0, ("sd %.3g -> %.3g"):format(s0, s1))
    local far = { 3, 0.0 }
    local _, sf0 = g:predict(far)
    local _, sf1 = view:predict(far)
    assert.is_true(sf1 <= sf0 + 1e-12 and sf1 > 0.5 * sf0)

    -- (b) parallel asks spread: the believer against the same strategy ignoring its pending asks
    local spread_kb, spread_excl = 0, 0
    for seed = 1, 20 do
      local function asks(believe)
        local s = make()
        if not believe then s._believed = function() return {} end end
        for id = 1, 12 do
          local x = s:ask(space, nas.rng(seed, id))
          s:tell({ id = id, genotype = x, metrics = {}, status = "ok", score = synthetic_score(x) })
        end
        local out = {}
        for i = 1, 4 do out[i] = s:ask(space, nas.rng(seed, 100 + i)) end
        local d = 0
        for i = 1, 4 do for j = i + 1, 4 do d = d + hamming(out[i], out[j]) end end
        return d
      end
      spread_kb = spread_kb + asks(true)
      spread_excl = spread_excl + asks(false)
    end
    assert.is_true(spread_kb > spread_excl, ("distance %d (believer) vs %d"):format(spread_kb, spread_excl))
  end)

  it("reinforce: one policy update per batch of tells, current policy while asks are pending, replay", function()
    local space = toy(4, 3)
    local R = require "strategies.reinforce"
    local function make() return R.new{ batch = 4, unique = true } end
    local st = make()
    local rec = run_async(st, space, sum_score, { n = 60, workers = 6, seed = 10,
      before_ask = function(s, r) r.steps0 = s.steps end,
      after_ask = function(s, r)
        -- failed trials before any success teach nothing; after that, every 4 tells make one step
        local expect = 0
        local seen_ok = false
        for b = 1, #r.told // 4 do
          for i = 4 * b - 3, 4 * b do if r.told[i].score then seen_ok = true end end
          if seen_ok then expect = expect + 1 end
        end
        assert.are.equal(expect, s.steps)
      end })
    assert.are.equal(0, rec.dups)
    assert.is_nil(next(st.pending))
    assert_replays(st, make, rec, space, sum_score, 10)

    -- the batch's step is one Adam step on the mean loss: from zero logits, a first Adam
    -- step moves every logit by lr against the sign of its gradient
    local one = nas.space("async-one", function(c)
      local net = nas.net{ input = { 4 } }
      net:linear{ out = 2 + c:int("x", 0, 2) }
      net:linear{ out = 2 }
      return net
    end)
    local function after_two(batch)
      local s = R.new{ batch = batch, lr = 0.1 }
      s:ask(one, nas.rng(1, 1)); s:ask(one, nas.rng(1, 2)) -- two asks pending
      s:tell({ id = 2, genotype = { x = 1 }, metrics = {}, status = "ok", score = 0.0 })
      local p1 = s:probabilities("x")
      s:ask(one, nas.rng(1, 3)) -- one tell: a batch of 2 waits, the policy does not move
      assert.are.same(p1, s:probabilities("x"))
      s:tell({ id = 1, genotype = { x = 0 }, metrics = {}, status = "ok", score = 1.0 })
      s:ask(one, nas.rng(1, 4))
      return s
    end
    local s2 = after_two(2)
    assert.are.equal(1, s2.steps)
    -- told order: reward 0 (x = 1) then 1 (x = 0); baselines 0 then 1/1.9; the mean gradient
    -- is positive for x = 1 and x = 2, negative for x = 0
    local lg = s2.dists.x.logits
    assert.is_true(math.abs(lg[1] - 0.1) < 1e-6 and math.abs(lg[2] + 0.1) < 1e-6 and math.abs(lg[3] + 0.1) < 1e-6,
      table.concat(lg, ", "))
    local s1 = after_two(1)
    assert.are.equal(2, s1.steps)
  end)

  it("asha: promotes as soon as a rung's top 1/eta has a candidate, never twice, from the parent", function()
    local space = mf_toy()
    local A = require "strategies.asha"
    local function make() return A.new{ max_epochs = 9, eta = 3 } end
    local st = make()
    local res = st:resources()
    local by_id, first_promotion, promoted = {}, nil, {}
    local rec = run_async(st, space, mf_score, { n = 120, workers = 6, seed = 12,
      after_ask = function(_, r, a)
        by_id[a.id] = a
        local f = a.f
        assert.are.equal(res[f.rung], f.epochs)
        if f.parent == nil then
          assert.are.equal(0, f.rung)
          return
        end
        assert.is_nil(promoted[f.parent], "promoted twice: " .. f.parent)
        promoted[f.parent] = true
        local parent = by_id[f.parent]
        assert.are.same(parent.g, a.g) -- the same configuration, continued from its parent trial
        assert.are.equal(f.rung - 1, parent.f.rung)
        -- the parent is in the top floor(n/eta) of its rung's told trials
        local rung = {}
        for _, t in ipairs(r.told) do if t.fidelity.rung == f.rung - 1 then rung[#rung + 1] = t end end
        local inside = false
        for _, t in ipairs(fid.top(rung, #rung // 3)) do if t.id == f.parent then inside = true end end
        assert.is_true(inside, "promoted from outside the top third")
        if not first_promotion then
          local pending0 = 0
          for _, p in ipairs(r.pending) do if p.f.rung == 0 then pending0 = pending0 + 1 end end
          first_promotion = { told = #rung, pending = pending0 }
        end
      end })
    -- the first promotion came with the first 3 rung-0 results, other rung-0 trials still running
    assert.are.equal(3, first_promotion.told)
    assert.is_true(first_promotion.pending >= 1)
    assert.are.equal(0, rec.dups)
    local top = 0
    for _, a in ipairs(rec.asks) do if a.f.rung == 2 then top = top + 1 end end
    assert.is_true(top >= 3, "configs reached the top rung: " .. top)
    assert_replays(st, make, rec, space, mf_score, 12)
  end)

  it("asha with the tpe sampler (BOHB-style): no repeated configuration, replay", function()
    local space = mf_toy()
    local A = require "strategies.asha"
    local function make() return A.new{ max_epochs = 9, eta = 3, sampler = "tpe", sampler_opts = { startup = 3 },
                                        min_points = 4 } end
    local st = make()
    local new = {}
    local rec = run_async(st, space, mf_score, { n = 60, workers = 5, seed = 13,
      after_ask = function(_, _, a)
        if a.f.rung == 0 then
          local k = gkey(a.g)
          assert.is_nil(new[k], "a new configuration asked twice")
          new[k] = true
        end
      end })
    assert.are.equal(0, rec.dups)
    assert_replays(st, make, rec, space, mf_score, 13)
  end)

  it("hyperband: with pending asks it asks the next bracket, promotes only from complete rungs, replay", function()
    local space = mf_toy()
    local H = require "strategies.hyperband"
    local function make() return H.new{ max_epochs = 9, eta = 3 } end
    local st = make()
    local plan = fid.hyperband_brackets(fid.options({ max_epochs = 9, eta = 3 }, "t", 1))
    local overlap = false
    local rec = run_async(st, space, mf_score, { n = 80, workers = 6, seed = 14,
      after_ask = function(s, r, a)
        local f = a.f
        for _, p in ipairs(r.pending) do
          if p.f.bracket < f.bracket then overlap = true end
        end
        if f.rung == 0 then return end
        -- a promotion: rung f.rung - 1 of its bracket is complete (nothing of it pending)
        for _, p in ipairs(r.pending) do
          assert.is_false(p.f.bracket == f.bracket and p.f.rung == f.rung - 1, "promoted from an incomplete rung")
        end
        local below = {}
        for _, t in ipairs(r.told) do
          if t.fidelity.bracket == f.bracket and t.fidelity.rung == f.rung - 1 then below[#below + 1] = t end
        end
        local br = s.brackets[f.bracket]
        local nxt = plan[br.s].rungs[f.rung + 1].n
        local inside = false
        for _, t in ipairs(fid.top(below, nxt)) do if t.id == f.parent then inside = true end end
        assert.is_true(inside, "a survivor outside the rung's top")
      end })
    assert.is_true(overlap, "no ask of a later bracket while an earlier one had pending asks")
    assert.are.equal(0, rec.nils) -- never blocks
    assert.are.equal(0, rec.dups)
    assert_replays(st, make, rec, space, mf_score, 14)
  end)
end)
