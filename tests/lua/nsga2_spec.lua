-- Multi-objective: non-dominated sorting against brute force, crowding distance
-- on a hand example, hypervolume against hand-computed values (2-D, 3-D),
-- NSGA-II on a synthetic 2-objective problem (vs the brute-force front and vs
-- random search), replay, and nas.search's objective vectors and hypervolume.
local nas = require "nas"
local objectives = require "nas.objectives"
local NSGA2 = require "strategies.nsga2"

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-9) end

-- Brute-force ranks: front 1 = the points no other point dominates; remove; repeat.
local function brute_ranks(pts)
  local rank, left, r = {}, #pts, 0
  while left > 0 do
    r = r + 1
    local this = {}
    for i = 1, #pts do
      if not rank[i] then
        local dominated = false
        for j = 1, #pts do
          if not rank[j] and j ~= i and objectives.dominates(pts[j], pts[i]) then dominated = true break end
        end
        if not dominated then this[#this + 1] = i end
      end
    end
    for _, i in ipairs(this) do rank[i] = r end
    left = left - #this
  end
  return rank
end

describe("non-dominated sorting and crowding", function()
  it("fast non-dominated sort gives the brute-force fronts", function()
    for seed = 1, 20 do
      local rng = nas.rng(seed)
      local pts = {}
      local d = 2 + seed % 2
      for i = 1, 40 do
        pts[i] = {}
        for k = 1, d do pts[i][k] = rng:int(0, 9) end -- ties and duplicates included
      end
      local fronts, rank = objectives.nondominated_sort(pts)
      local want = brute_ranks(pts)
      for i = 1, #pts do assert.are.equal(want[i], rank[i], ("seed %d point %d"):format(seed, i)) end
      local n = 0
      for r, f in ipairs(fronts) do
        for _, i in ipairs(f) do assert.are.equal(r, rank[i]) n = n + 1 end
      end
      assert.are.equal(#pts, n)
    end
  end)

  it("crowding distance on a hand example", function()
    -- one front of four points (maximise both): f1 = 0, 1, 3, 4; f2 = 4, 3, 1, 0 (ranges 4 and 4)
    local pts = { { 0, 4 }, { 1, 3 }, { 3, 1 }, { 4, 0 } }
    local d = objectives.crowding_distance(pts, { 1, 2, 3, 4 })
    assert.are.equal(math.huge, d[1])
    assert.are.equal(math.huge, d[4])
    -- point 2: (3 - 0)/4 in f1 + (4 - 1)/4 in f2 = 1.5; point 3: (4 - 1)/4 + (3 - 0)/4 = 1.5
    assert.is_true(close(1.5, d[2]))
    assert.is_true(close(1.5, d[3]))
    local pts2 = { { 0, 10 }, { 1, 9 }, { 5, 5 }, { 10, 0 } }
    local d2 = objectives.crowding_distance(pts2, { 1, 2, 3, 4 })
    assert.is_true(close((5 - 0) / 10 + (10 - 5) / 10, d2[2]))
    assert.is_true(close((10 - 1) / 10 + (9 - 0) / 10, d2[3]))
  end)
end)

describe("hypervolume", function()
  it("2-D against hand-computed areas", function()
    local objs = { nas.maximize "accuracy", nas.minimize "latency_ms" }
    local items = { { accuracy = 0.9, latency_ms = 4 }, { accuracy = 0.8, latency_ms = 2 },
                    { accuracy = 0.5, latency_ms = 1 }, { accuracy = 0.7, latency_ms = 3 } } -- the last is dominated
    -- ref (0, 5): 0.9*1 + 0.8*(4-2) ... by slabs: latency 4..5 -> 0.9, 2..4 -> 0.8 * 2, 1..2 -> 0.5 * 1
    local want = 0.9 * 1 + 0.8 * 2 + 0.5 * 1
    assert.is_true(close(want, objectives.hypervolume(items, objs, { 0, 5 })))
    assert.are.equal(0, objectives.hypervolume(items, objs, { 1, 5 }))
    assert.is_true(close(2 * 3, objectives.hypervolume_points({ { 2, 3 } }, { 0, 0 })))
  end)

  it("3-D against hand-computed volumes", function()
    assert.is_true(close(24, objectives.hypervolume_points({ { 2, 3, 4 } }, { 0, 0, 0 })))
    -- two boxes 2x2x1 and 1x1x2 overlapping in 1x1x1: 4 + 2 - 1 = 5
    assert.is_true(close(5, objectives.hypervolume_points({ { 2, 2, 1 }, { 1, 1, 2 } }, { 0, 0, 0 })))
    -- three unit-offset corners (inclusion-exclusion): a=(1,1,3) b=(1,3,1) c=(3,1,1):
    -- 3 + 3 + 3 - (1 + 1 + 1) + 1 = 7
    assert.is_true(close(7, objectives.hypervolume_points({ { 1, 1, 3 }, { 1, 3, 1 }, { 3, 1, 1 } }, { 0, 0, 0 })))
    -- a dominated point and a point outside the reference add nothing
    assert.is_true(close(7, objectives.hypervolume_points({ { 1, 1, 3 }, { 1, 3, 1 }, { 3, 1, 1 }, { 1, 1, 1 },
                                                           { -1, 5, 5 } }, { 0, 0, 0 })))
    -- with metrics and senses: maximize a, minimize b, maximize c; ref (0, 10, 0)
    local objs = { nas.maximize "a", nas.minimize "b", nas.maximize "c" }
    assert.is_true(close(2 * 3 * 4, objectives.hypervolume({ { a = 2, b = 7, c = 4 } }, objs, { 0, 10, 0 })))
  end)

  it("n-D slicing agrees with a Monte-Carlo-free grid count on integer points", function()
    local rng = nas.rng(11)
    for _ = 1, 5 do
      local pts = {}
      for i = 1, 6 do pts[i] = { rng:int(1, 5), rng:int(1, 5), rng:int(1, 5) } end
      local count = 0 -- unit cells [x-1,x]x[y-1,y]x[z-1,z] dominated by some point
      for x = 1, 5 do for y = 1, 5 do for z = 1, 5 do
        for _, p in ipairs(pts) do
          if p[1] >= x and p[2] >= y and p[3] >= z then count = count + 1 break end
        end
      end end end
      assert.is_true(close(count, objectives.hypervolume_points(pts, { 0, 0, 0 })))
    end
  end)
end)

-- A toy space of 4 integer decisions 0..3, with two conflicting objectives:
-- f1 = sum x (maximise), f2 = weighted sum of (3 - x) (maximise).
local function toy()
  return nas.space("nsga-toy", function(c)
    local net = nas.net{ input = { 4 } }
    for i = 1, 4 do net:linear{ out = 2 + c:int("x" .. i, 0, 3) } end
    net:linear{ out = 2 }
    return net
  end)
end
local W = { 4, 3, 2, 1 }
local function objs_of(g)
  local f1, f2 = 0, 0
  for i = 1, 4 do
    local x = g["x" .. i]
    f1 = f1 + x * x
    f2 = f2 + W[i] * (3 - x)
  end
  return { f1, f2 }
end

local function drive(st, space, n, seed)
  local trials = {}
  for id = 1, n do
    local g = st:ask(space, nas.rng(seed, id))
    local p = objs_of(g)
    local t = { id = id, genotype = g, status = "ok", score = p[1], objectives = p, metrics = { f1 = p[1], f2 = p[2] } }
    trials[id] = t
    st:tell(t)
  end
  return trials
end

describe("nsga2", function()
  it("finds most of the brute-force Pareto front of a 2-objective toy, and more hypervolume than random", function()
    local space = toy()
    local all = {}
    for g in space:enumerate() do all[#all + 1] = objs_of(g) end
    local true_front = objectives.pareto_front(all)
    local truth = {}
    for _, p in ipairs(true_front) do truth[p[1] .. "," .. p[2]] = true end
    local ref = { -1, -1 }
    local hv_true = objectives.hypervolume_points(true_front, ref)
    local wins, ratios = 0, {}
    for seed = 1, 5 do
      local tr = drive(NSGA2.new{ population = 16 }, space, 160, seed)
      local pts = {}
      for i, t in ipairs(tr) do pts[i] = t.objectives end
      local front = objectives.pareto_front(pts)
      local on_true = 0
      for _, p in ipairs(front) do if truth[p[1] .. "," .. p[2]] then on_true = on_true + 1 end end
      local hv = objectives.hypervolume_points(front, ref)
      ratios[#ratios + 1] = hv / hv_true
      -- random search with the same budget
      local rs = drive(require("strategies.random").new(), space, 160, seed)
      local rpts = {}
      for i, t in ipairs(rs) do rpts[i] = t.objectives end
      local rhv = objectives.hypervolume_points(objectives.pareto_front(rpts), ref)
      if hv >= rhv then wins = wins + 1 end
      assert.is_true(on_true >= #front // 2, ("seed %d: %d of %d found points on the true front"):format(seed, on_true,
                                                                                                       #front))
    end
    table.sort(ratios)
    assert.is_true(ratios[3] > 0.97, "median hypervolume ratio " .. ratios[3])
    assert.is_true(wins >= 4, "nsga2 beat random on " .. wins .. " of 5 seeds")
  end)

  it("selection keeps whole fronts, then the most crowded-out points of the cut front", function()
    local members = {}
    local pts = { { 5, 5 }, { 0, 9 }, { 9, 0 }, { 4, 4 }, { 1, 7 }, { 3, 5 }, { 7, 1 }, { 0, 0 } }
    for i, p in ipairs(pts) do members[i] = { id = i, point = p } end
    local sel = NSGA2.select(members, 4)
    -- front 1 = {1, 2, 3, 5, 7} (5 points for 4 places), front 2 = {4, 6}, front 3 = {8}.
    -- Crowding in front 1 (ranges 9 and 9): 2 and 3 are extremes (inf); 1 = (5,5): 6/9 + 6/9;
    -- 5 = (1,7): 5/9 + 4/9 = 1; 7 = (7,1): 4/9 + 5/9 = 1 -> keep 2, 3, 1, then 5 (ties: earlier index).
    local ids = {}
    for _, m in ipairs(sel) do ids[#ids + 1] = m.id end
    assert.are.same({ 2, 3, 1, 5 }, ids)
    assert.is_true(close(12 / 9, members[1].crowding))
    assert.is_true(close(1, members[5].crowding) and close(1, members[7].crowding))
    for _, m in ipairs(sel) do assert.are.equal(1, m.rank) end
    -- with 6 places: front 1 whole, then front 2's two points (both extremes of their front)
    local sel6 = NSGA2.select(members, 7)
    local ids6 = {}
    for _, m in ipairs(sel6) do ids6[#ids6 + 1] = m.id end
    assert.are.same({ 1, 2, 3, 5, 7, 4, 6 }, ids6)
    assert.are.equal(2, sel6[6].rank)
  end)

  it("replay: a strategy rebuilt from the told trials asks the same", function()
    local space = toy()
    local full = drive(NSGA2.new{ population = 8 }, space, 60, 9)
    for _, cut in ipairs({ 5, 8, 23 }) do
      local st = NSGA2.new{ population = 8 }
      for i = 1, cut do st:tell(full[i]) end
      for id = cut + 1, 60 do
        local g = st:ask(space, nas.rng(9, id))
        assert.are.same(full[id].genotype, g, ("cut %d trial %d"):format(cut, id))
        local p = objs_of(g)
        st:tell{ id = id, genotype = g, status = "ok", score = p[1], objectives = p }
      end
    end
  end)

  it("runs in nas.search: told trials carry objective vectors; the result has a hypervolume", function()
    local space = toy()
    local told = {}
    local st = NSGA2.new{ population = 8 }
    local tell = st.tell
    st.tell = function(self, t) told[#told + 1] = t; return tell(self, t) end
    local r = nas.search{ space = space, strategy = st, log = false, seed = 2, budget = { trials = 40 },
      evaluate = function(_, ctx)
        local p = objs_of(ctx.genotype)
        return { f1 = p[1], cost = -p[2] }
      end,
      objectives = { nas.maximize "f1", nas.minimize "cost" }, reference = { -1, 1 } }
    for _, t in ipairs(told) do
      assert.are.same({ t.metrics.f1, -t.metrics.cost }, t.objectives) -- oriented: higher is better
    end
    assert.are.same({ -1, 1 }, r.reference)
    assert.is_true(close(objectives.hypervolume(r.pareto, { nas.maximize "f1", nas.minimize "cost" }, { -1, 1 }),
                         r.hypervolume))
    assert.is_true(r.hypervolume > 0)
    -- the default reference point is the nadir of the ok trials
    local r2 = nas.search{ space = space, strategy = NSGA2.new{ population = 8 }, log = false, seed = 2,
      budget = { trials = 10 }, evaluate = function(_, ctx)
        local p = objs_of(ctx.genotype)
        return { f1 = p[1], cost = -p[2] }
      end, objectives = { nas.maximize "f1", nas.minimize "cost" } }
    local lo, hi = math.huge, -math.huge
    for _, t in ipairs(r2.trials) do
      lo = math.min(lo, t.metrics.f1)
      hi = math.max(hi, t.metrics.cost)
    end
    assert.are.same({ lo, hi }, r2.reference)
    local ok, err = pcall(nas.search, { space = space, strategy = NSGA2.new(), budget = { trials = 1 },
      evaluate = function() return { f1 = 1 } end, objectives = { nas.maximize "f1", nas.minimize "cost" },
      reference = { 0 }, log = false })
    assert.is_false(ok)
    assert.matches("one number per objective", err)
  end)
end)
