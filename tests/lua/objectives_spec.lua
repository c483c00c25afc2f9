-- nas.objectives: maximize/minimize, dominance, the Pareto front (against a
-- brute-force check), hypervolume, scalar helpers.
local nas = require "nas"
local objectives = require "nas.objectives"

local function lcg(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
end

local function brute_front(items, list)
  local out = {}
  for i, a in ipairs(items) do
    local dominated = false
    for j, b in ipairs(items) do
      if i ~= j then
        local ge, gt = true, false
        for _, o in ipairs(list) do
          local va, vb = a[o.metric], b[o.metric]
          if o.sense == "min" then va, vb = -va, -vb end
          if vb < va then ge = false end
          if vb > va then gt = true end
        end
        if ge and gt then dominated = true break end
      end
    end
    if not dominated then out[#out + 1] = a end
  end
  return out
end

describe("nas.objectives", function()
  it("makes objectives and orients values", function()
    local a, l = nas.maximize "accuracy", nas.minimize "latency_ms"
    assert.are.equal("max", a.sense)
    assert.are.equal("latency_ms", l.metric)
    assert.are.equal("minimize latency_ms", tostring(l))
    assert.are.equal(0.9, objectives.value(a, { accuracy = 0.9 }))
    assert.are.equal(-3, objectives.value(l, { latency_ms = 3 }))
    local v, why = objectives.value(a, {})
    assert.is_nil(v)
    assert.matches("missing", why)
    v, why = objectives.value(a, { accuracy = 0 / 0 })
    assert.is_nil(v)
    assert.matches("not finite", why)
    assert.has_error(function() nas.maximize(3) end)
  end)

  it("dominance", function()
    assert.is_true(objectives.dominates({ 2, 2 }, { 1, 2 }))
    assert.is_false(objectives.dominates({ 2, 2 }, { 2, 2 }))
    assert.is_false(objectives.dominates({ 3, 1 }, { 1, 3 }))
  end)

  for _, dims in ipairs({ 2, 3 }) do
    it(("finds the same Pareto front as brute force (%d objectives, random points with ties)"):format(dims), function()
      local rnd = lcg(dims * 7)
      local names = { "accuracy", "latency_ms", "params" }
      local list = { nas.maximize "accuracy", nas.minimize "latency_ms", nas.minimize "params" }
      while #list > dims do list[#list] = nil end
      for round = 1, 30 do
        local items = {}
        for i = 1, 5 + round * 3 do
          local m = { id = i }
          for d = 1, dims do m[names[d]] = math.floor(rnd() * 12) / 12 end -- coarse grid: many ties
          items[i] = m
        end
        assert.are.same(brute_front(items, list), nas.pareto(items, list))
      end
    end)
  end

  it("takes trials (with .metrics) and skips items that lack a metric", function()
    local trials = {
      { id = 1, metrics = { accuracy = 0.9, latency_ms = 5 } },
      { id = 2, metrics = { accuracy = 0.8, latency_ms = 1 } },
      { id = 3, metrics = { accuracy = 0.7, latency_ms = 2 } },
      { id = 4, metrics = { accuracy = 0.95 } },
    }
    local front = nas.pareto(trials, { nas.maximize "accuracy", nas.minimize "latency_ms" })
    assert.are.same({ trials[1], trials[2] }, front)
    -- plain points: every coordinate maximised
    assert.are.same({ { 3, 1 }, { 1, 3 } }, nas.pareto({ { 3, 1 }, { 1, 1 }, { 1, 3 } }))
  end)

  it("computes the 2-D hypervolume", function()
    local objs = { nas.maximize "accuracy", nas.minimize "latency_ms" }
    local pts = { { accuracy = 0.5, latency_ms = 1 }, { accuracy = 1.0, latency_ms = 3 },
                  { accuracy = 0.4, latency_ms = 2 } } -- the last is dominated
    -- ref (0, 4): [0,0.5]x[1,4] union [0,1]x[3,4] = 0.5*3 + 0.5*1 = 2.0
    assert.is_true(math.abs(objectives.hypervolume(pts, objs, { 0, 4 }) - 2.0) < 1e-12)
    assert.are.equal(0, objectives.hypervolume(pts, objs, { 2, 4 }))
    -- Monte Carlo cross-check on random fronts
    local rnd = lcg(3)
    for _ = 1, 5 do
      local items = {}
      for i = 1, 8 do items[i] = { accuracy = rnd(), latency_ms = rnd() * 10 } end
      local hv = objectives.hypervolume(items, objs, { 0, 10 })
      local inside, n = 0, 20000
      for _ = 1, n do
        local x, y = rnd(), rnd() * 10
        for _, p in ipairs(items) do
          if p.accuracy >= x and p.latency_ms <= y then inside = inside + 1 break end
        end
      end
      assert.is_true(math.abs(hv - inside / n * 10) < 0.15, ("hv %.3f vs mc %.3f"):format(hv, inside / n * 10))
    end
  end)

  it("scalar helpers: weighted sums and penalties", function()
    local f = objectives.weighted{ accuracy = 1, latency_ms = -0.1 }
    assert.are.equal(0.9 - 0.2, f{ accuracy = 0.9, latency_ms = 2 })
    assert.has_error(function() f{ accuracy = 1 } end)
    local g = objectives.penalized("accuracy", { latency_ms = 2 }, 0.5)
    assert.are.equal(0.9, g{ accuracy = 0.9, latency_ms = 1 })
    assert.are.equal(0.9 - 0.5 * 0.5, g{ accuracy = 0.9, latency_ms = 3 })
  end)
end)
