-- busted --lua=lua5.4 tests/lua/strategies_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
local nas = require "nas"

-- A toy space of n integer decisions 0..m; nets are tiny, nothing trains.
local function toy(n, m)
  return nas.space("toy" .. n .. "x" .. m, function(c)
    local net = nas.net{ input = { 4 } }
    for i = 1, n do net:linear{ out = 2 + c:int("d" .. i, 0, m) } end
    net:linear{ out = 2 }
    return net
  end)
end

-- Fitness: the number of decisions at their maximum.
local function at_max(m)
  return function(g)
    local s = 0
    for _, v in pairs(g) do if v == m then s = s + 1 end end
    return s
  end
end

local function sum(g)
  local s = 0
  for _, v in pairs(g) do s = s + v end
  return s
end

-- Runs ask/tell sequentially like nas.search; returns the trials.
local function drive(strategy, space, fitness, n, seed, fail)
  local trials = {}
  for id = 1, n do
    local g = strategy:ask(space, nas.rng(seed, id))
    if g == nil then break end
    local t = { id = id, genotype = g, metrics = {}, status = "ok" }
    if fail and fail(g, id) then
      t.status, t.reason = "failed", "toy failure"
    else
      t.score = fitness(g)
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

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

local names = { "random", "evolution", "local", "progressive", "grid" }
local small_opts = {
  random = {}, evolution = { population = 8, sample = 3 }, ["local"] = {},
  progressive = { base = "evolution", base_opts = { population = 6, sample = 2 }, unlock_every = 5 }, grid = {},
}

describe("strategies", function()
  for _, name in ipairs(names) do
    local S = require("strategies." .. name)

    it(name .. ": ask returns genotypes of the space, tell takes trials, options are strict", function()
      local space = toy(4, 3)
      local st = S.new(small_opts[name])
      local trials = drive(st, space, sum, 30, 1)
      assert.are.equal(30, #trials)
      for _, t in ipairs(trials) do assert.is_truthy(space:build(t.genotype)) end
      if st.state_summary then assert.are.equal("string", type(st:state_summary())) end
      local ok, err = pcall(function() local s = S.new{ bogus_option = 1 }; return s end)
      assert.is_false(ok)
      assert.matches("unknown option 'bogus_option'", err)
      assert.matches("strategies_spec.lua", err) -- reported at the caller's line
    end)

    it(name .. ": a replayed strategy asks what the original asks", function()
      local space = toy(5, 3)
      local a = S.new(small_opts[name])
      -- some failures in the history, and genotypes read back from JSON (floats)
      local trials = drive(a, space, at_max(3), 40, 7, function(_, id) return id % 7 == 0 end)
      local b = S.new(small_opts[name])
      local json = require "cjson"
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
  end

  it("evolution beats random search on a toy fitness over 200 asks", function()
    local space = toy(10, 4)
    local evo, rnd = {}, {}
    for seed = 1, 3 do
      local E = require("strategies.evolution").new{ population = 20, sample = 5 }
      evo[seed] = best_score(drive(E, space, at_max(4), 200, seed))
      local R = require("strategies.random").new()
      rnd[seed] = best_score(drive(R, space, at_max(4), 200, seed))
    end
    assert.is_true(median(evo) >= median(rnd) + 2, ("evolution %d vs random %d"):format(median(evo), median(rnd)))
  end)

  it("evolution with crossover, a mutation rate and elitism also climbs", function()
    local space = toy(10, 4)
    local E = require("strategies.evolution").new{ population = 10, sample = 3, crossover = 0.5,
                                                    mutation_rate = 0.2, elitism = true }
    local trials = drive(E, space, at_max(4), 150, 3)
    assert.is_true(best_score(trials) >= 6)
    -- the elite stays in the population after it would have aged out
    local pop = E:population()
    local best = -1
    for _, m in ipairs(pop) do if m.score and m.score > best then best = m.score end end
    assert.are.equal(best_score(trials), best)
  end)

  it("evolution never picks failed trials as parents, and failures do not end the warm-up", function()
    local space = toy(4, 3)
    local good = { d1 = 0, d2 = 0, d3 = 0, d4 = 0 }
    local function told(E, extra_ok)
      E:tell({ id = 1, genotype = good, metrics = {}, status = "ok", score = 0 })
      for id = 2, 5 do
        E:tell({ id = id, genotype = { d1 = 3, d2 = 3, d3 = 3, d4 = id - 2 }, metrics = {}, status =
                 id % 2 == 0 and "failed" or "rejected", reason = "boom" })
      end
      if extra_ok then
        E:tell({ id = 6, genotype = { d1 = 1, d2 = 1, d3 = 2, d4 = 2 }, metrics = {}, status = "ok", score = -1 })
      end
      return E
    end
    -- population 2: the two scored trials; the better one always wins the tournament
    local E = told(require("strategies.evolution").new{ population = 2, sample = 2 }, true)
    for k = 1, 20 do
      local child = E:ask(space, nas.rng(k))
      local diff = 0
      for name, v in pairs(good) do if child[name] ~= v then diff = diff + 1 end end
      assert.are.equal(1, diff) -- a one-decision mutant of the best working trial
    end
    -- population 5 with one scored trial: still warming up (random samples, not only mutants of it)
    E = told(require("strategies.evolution").new{ population = 5, sample = 5 }, false)
    local far = 0
    for k = 1, 20 do
      local child = E:ask(space, nas.rng(k))
      local diff = 0
      for name, v in pairs(good) do if child[name] ~= v then diff = diff + 1 end end
      if diff > 1 then far = far + 1 end
    end
    assert.is_true(far > 0)
  end)

  it("evolution handles several asks before a tell (parallel workers)", function()
    local space = toy(4, 3)
    local E = require("strategies.evolution").new{ population = 4, sample = 2 }
    local keys = {}
    for k = 1, 6 do keys[space:key(E:ask(space, nas.rng(1, k)))] = true end
    local n = 0
    for _ in pairs(keys) do n = n + 1 end
    assert.are.equal(6, n) -- pending asks count towards the warm-up and are not repeated
  end)

  it("evolution tracks pending asks told out of order (the lone pending ask and the multiset agree)", function()
    local space = toy(4, 3)
    local E = require("strategies.evolution").new{ population = 3, sample = 2 }
    local asked, id = {}, 0
    local function ask() id = id + 1; asked[#asked + 1] = { id = id, g = E:ask(space, nas.rng(5, id)) } end
    local function tell(i)
      local a = table.remove(asked, i)
      E:tell({ id = a.id, genotype = a.g, status = "ok", score = a.g.d1 + a.g.d2 })
    end
    ask(); tell(1)                 -- serial
    ask(); ask(); ask(); tell(2)   -- three pending, the middle one told first
    ask(); tell(3); tell(1); ask(); tell(1); tell(1)
    assert.are.equal(0, E.npending)
    assert.is_nil(E._pk)
    assert.is_nil(next(E.pending))
    assert.are.equal(6, E.ntold)
    local keys = {}
    for i = 1, E.ntold do keys[space:key(E.told[i])] = true end
    local n = 0
    for _ in pairs(keys) do n = n + 1 end
    assert.are.equal(6, n) -- no ask repeated a told or pending genotype
    assert.are.equal(3, #E:population())
  end)

  it("evolution's tournament is a partial Fisher-Yates shuffle of the parents (every draw, ties, the elite)", function()
    local tournament = require("strategies.evolution")._tournament
    -- a fake rng whose int returns x: the k positions are read off x as mixed-radix digits
    local function fixed(x) return { int = function(_, lo, hi) assert(x >= lo and x <= hi) return x end } end
    for n = 1, 6 do
      for k = 1, n do -- k <= 3: the small-tournament path; k > 3: the general loop
        for pattern = 1, 3 do for _, with_elite in ipairs{ false, true } do
          local nr = with_elite and n - 1 or n
          if nr >= 1 or with_elite then
            local lo = 4 -- the parents are the scored trials 4 .. 4 + nr - 1 (+ the elite)
            local ss, sg = {}, {}
            for i = 1, lo + nr - 1 do -- scores with ties, falling, rising
              ss[i] = pattern == 1 and (i * 7) % 3 or pattern == 2 and -i or i
              sg[i] = "g" .. i
            end
            local elite = with_elite and { score = pattern == 1 and 1 or 2.5, genotype = "elite" } or nil
            local self = { ss = ss, sg = sg, _sw = {}, _js = {} }
            for i = 1, n do self._sw[i] = false end
            local total = 1
            for i = 1, k do total = total * (n - i + 1) end
            for x = 0, total - 1 do
              -- reference: shuffle a list of positions, the first drawn of the best wins
              local m, y, best, bs = {}, x, nil, nil
              for i = 1, n do m[i] = i end
              for i = 1, k do
                local span = n - i + 1
                local j = i + y % span
                y = y // span
                local p = m[j]
                m[j], m[i] = m[i], p
                local s = p <= nr and ss[lo + p - 1] or elite.score
                if not best or s > bs then best, bs = p, s end
              end
              local want = best <= nr and sg[lo + best - 1] or elite.genotype
              assert.are.equal(want, tournament(self, lo, nr, elite, n, k, total, fixed(x)))
              for i = 1, n do assert.is_false(self._sw[i]) end -- the scratch is left clean
            end
          end
        end end
      end
    end
  end)

  it("grid visits every genotype once, then stops", function()
    local space = toy(3, 2) -- 27 genotypes
    local G = require("strategies.grid").new()
    local trials = drive(G, space, sum, 100, 1)
    assert.are.equal(27, #trials)
    assert.are.equal(27, space:size())
    local keys = {}
    for _, t in ipairs(trials) do
      assert.is_nil(keys[space:key(t.genotype)])
      keys[space:key(t.genotype)] = true
    end
    assert.are.same({ d1 = 0, d2 = 0, d3 = 0 }, trials[1].genotype)
    assert.are.same({ d1 = 2, d2 = 2, d3 = 2 }, trials[27].genotype)
    assert.is_nil(G:ask(space, nas.rng(1)))
    -- infinite spaces are refused
    local fl = nas.space("fl", function(c)
      local net = nas.net{ input = { 4 } }
      net:dropout{ p = c:float("p", 0, 0.5) }
      return net
    end)
    assert.has_error(function() require("strategies.grid").new():ask(fl, nas.rng(1)) end)
  end)

  it("local search reaches the optimum of a toy space and restarts from optima", function()
    local space = toy(4, 3) -- optimum: all 3, sum 12
    local L = require("strategies.local").new()
    local trials = drive(L, space, sum, 200, 2)
    assert.are.equal(12, best_score(trials))
    local Lb = require("strategies.local").new{ first_improvement = false, restarts = 1 }
    trials = drive(Lb, space, sum, 400, 3)
    assert.are.equal(12, best_score(trials))
    assert.is_true(#trials < 400) -- stopped (ask -> nil) after the second optimum
    assert.are.equal(2, #Lb.optima)
    -- each move is to a one-decision neighbour
    local seen = {}
    for _, t in ipairs(trials) do
      assert.is_nil(seen[space:key(t.genotype)]) -- nothing asked twice
      seen[space:key(t.genotype)] = true
    end
  end)

  it("progressive restricts early asks and widens on schedule", function()
    local space = toy(4, 5)
    local P = require("strategies.progressive").new{ base = "random", stages = 3, unlock_every = 10 }
    local trials = drive(P, space, sum, 60, 1)
    local max_in = { 0, 0, 0, 0, 0, 0 }
    for i, t in ipairs(trials) do
      local stage = math.min(3, (i - 1) // 10 + 1)
      for _, v in pairs(t.genotype) do
        max_in[stage] = math.max(max_in[stage], v)
        -- level 1/3: 0..1, level 2/3: 0..3, level 1: 0..5
        assert.is_true(v <= ({ 1, 3, 5 })[stage], ("trial %d value %d"):format(i, v))
      end
    end
    assert.are.equal(1, max_in[1])
    assert.are.equal(3, max_in[2])
    assert.are.equal(5, max_in[3])
    -- a user schedule, and a base given as an object
    local Q = require("strategies.progressive").new{
      base = require("strategies.evolution").new{ population = 4, sample = 2 },
      schedule = function(told) return told < 5 and 0.01 or 1 end }
    local q = drive(Q, space, sum, 5, 1)
    for _, t in ipairs(q) do
      for _, v in pairs(t.genotype) do assert.are.equal(0, v) end
    end
    assert.has_error(function() require("strategies.progressive").new{ base = "nope" } end)
  end)
end)
