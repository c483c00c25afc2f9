-- busted --lua=lua5.4 tests/lua/space_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
local nas = require "nas"
local space_mod = require "nas.space"

-- A conditional toy space: depth decides how many width decisions exist.
local toy = nas.space("toy", function(c, o)
  local net = nas.net{ input = o.input }
  for i = 1, c:int("depth", 2, 5) do
    net:conv{ out = c:choice("width" .. i, { 4, 8, 16 }), k = 3, bias = false }
    net:bn(); net:relu()
    if c:bool("pool" .. i) then net:maxpool{ k = 2 } end
  end
  net:gap(); net:linear{ out = o.classes }
  return net
end, { input = { 1, 64, 64 }, classes = 10 }) -- 64: five pools still leave room for a 3x3 conv

local function names(g)
  local out = {}
  for k in pairs(g) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ",")
end

local function active_ok(space, g)
  -- canonical: exactly the decisions the build asks
  local ds = assert(space:decisions(g))
  local n = 0
  for _ in pairs(g) do n = n + 1 end
  assert.are.equal(#ds, n)
  for _, d in ipairs(ds) do assert.are.equal(d.value, g[d.name]) end
end

describe("nas.space", function()
  it("samples deterministically under a seed, differently under others", function()
    local a = toy:sample(nas.rng(1))
    local b = toy:sample(nas.rng(1))
    assert.are.same(a, b)
    local differ = 0
    for s = 2, 11 do
      if toy:key(toy:sample(nas.rng(s))) ~= toy:key(a) then differ = differ + 1 end
    end
    assert.is_true(differ >= 8)
  end)

  it("has conditional decisions: depth decides which widths exist", function()
    local seen = {}
    for s = 1, 200 do
      local g = toy:sample(nas.rng(s))
      seen[g.depth] = seen[g.depth] or g
      active_ok(toy, g)
    end
    local g2, g5 = seen[2], seen[5]
    assert.is_truthy(g2 and g5)
    assert.are.equal("depth,pool1,pool2,width1,width2", names(g2))
    assert.is_not_nil(g5.width5)
    assert.is_nil(g2.width3)
    local d = toy:decisions(g5)
    assert.are.equal(11, #d)
    assert.are.same({ name = "depth", kind = "int", lo = 2, hi = 5, value = 5 }, d[1])
    assert.are.same({ name = "width1", kind = "choice", values = { 4, 8, 16 }, value = g5.width1 }, d[2])
    assert.are.equal("bool", d[3].kind)
  end)

  it("builds genotypes into nets and ignores inactive decisions", function()
    local g = { depth = 2, width1 = 8, width2 = 16, pool1 = true, pool2 = false, width4 = 4 }
    local net = assert(toy:build(g))
    assert.is_true(nas.is_net(net))
    assert.are.equal(10, net:output_size())
    assert.are.equal(toy:key(g), toy:key({ depth = 2, width1 = 8, width2 = 16, pool1 = true, pool2 = false }))
    -- numbers read back from JSON as floats are the same genotype
    local f = { depth = 2.0, width1 = 8.0, width2 = 16.0, pool1 = true, pool2 = false }
    assert.is_truthy(toy:build(f))
    assert.are.equal(toy:key(g), toy:key(f))
    assert.are.same({ depth = 2, width1 = 8, width2 = 16, pool1 = true, pool2 = false }, toy:canonical(g))
  end)

  it("gives nil and a reason naming the problem for bad genotypes", function()
    local net, why = toy:build({ depth = 2, width1 = 8, pool1 = true, pool2 = false })
    assert.is_nil(net)
    assert.matches("misses decision 'width2'", why)
    net, why = toy:build({ depth = 2, width1 = 8, width2 = 12, pool1 = true, pool2 = false })
    assert.is_nil(net)
    assert.matches("'width2' = 12 is out of its domain", why)
    net, why = toy:build({ depth = 9 })
    assert.is_nil(net)
    assert.matches("'depth'", why)
    net, why = toy:build({ depth = 2, width1 = 8, width2 = 16, pool1 = "yes", pool2 = false })
    assert.is_nil(net)
    assert.matches("pool1", why)
    assert.is_nil((toy:build("nope")))
    -- a genotype whose net the core rejects: a 7x7 kernel on a 2x2 map
    local tiny = nas.space("tiny", function(c)
      local n = nas.net{ input = { 1, 8, 8 } }
      n:maxpool{ k = c:choice("pool", { 1, 4 }) }
      n:conv{ out = 4, k = c:choice("k", { 1, 7 }) }
      n:gap(); n:linear{ out = 2 }
      return n
    end)
    net, why = tiny:build({ pool = 4, k = 7 })
    assert.is_nil(net)
    assert.matches("node %d+ %(conv%)", why)
    assert.is_truthy(tiny:build({ pool = 1, k = 7 }))
    -- sampling prefers genotypes that build
    for s = 1, 20 do assert.is_truthy(tiny:build(tiny:sample(nas.rng(s)))) end
  end)

  it("raises on a decision asked twice with different domains", function()
    local bad = nas.space("bad", function(c)
      c:int("n", 1, 3)
      c:int("n", 1, 4)
      return nas.net{ input = { 4 } }
    end)
    assert.has_error(function() bad:sample(nas.rng(1)) end,
                     "space 'bad': decision 'n' is asked twice with different domains (int 1..3, then int 1..4)")
    local _, why = bad:build({ n = 1 })
    assert.matches("decision 'n' is asked twice", why)
    local same = nas.space("same", function(c)
      local n = nas.net{ input = { 4 } }
      n:linear{ out = c:choice("w", { 2, 3 }) }
      n:linear{ out = c:choice("w", { 2, 3 }) } -- shared decision
      return n
    end)
    local g = same:sample(nas.rng(1))
    assert.are.equal("w", names(g))
    assert.has_error(function()
      nas.space("nonet", function(c) return c:int("a", 1, 2) end):sample(nas.rng(1))
    end)
  end)

  it("mutates at least one active decision and stays in the space", function()
    for s = 1, 60 do
      local g = toy:sample(nas.rng(s))
      local m = toy:mutate(g, nas.rng(s, 1))
      assert.are_not.equal(toy:key(g), toy:key(m))
      assert.is_truthy(toy:build(m))
      active_ok(toy, m)
      local m2 = toy:mutate(g, nas.rng(s, 2), 0.5)
      assert.are_not.equal(toy:key(g), toy:key(m2))
      active_ok(toy, m2)
    end
    -- one decision (plus decisions that became active) by default
    local g = { depth = 3, width1 = 4, width2 = 4, width3 = 4, pool1 = false, pool2 = false, pool3 = false }
    for s = 1, 30 do
      local m = toy:mutate(g, nas.rng(s))
      if m.depth == 3 then
        local changed = 0
        for k, v in pairs(g) do if m[k] ~= v then changed = changed + 1 end end
        assert.are.equal(1, changed)
      end
    end
    -- deterministic under the rng
    assert.are.same(toy:mutate(g, nas.rng(5)), toy:mutate(g, nas.rng(5)))
  end)

  it("crosses over from both parents and repairs the child", function()
    local mixed_a, mixed_b = 0, 0
    for s = 1, 40 do
      local a, b = toy:sample(nas.rng(s)), toy:sample(nas.rng(s + 100))
      local child = toy:crossover(a, b, nas.rng(s, 3))
      assert.is_truthy(toy:build(child))
      active_ok(toy, child)
      for k, v in pairs(child) do
        if a[k] ~= nil or b[k] ~= nil then assert.is_true(v == a[k] or v == b[k], k) end
        if a[k] ~= b[k] and v == a[k] then mixed_a = mixed_a + 1 end
        if a[k] ~= b[k] and v == b[k] then mixed_b = mixed_b + 1 end
      end
    end
    assert.is_true(mixed_a > 20 and mixed_b > 20)
  end)

  it("lists one-decision neighbours", function()
    local g = { depth = 2, width1 = 4, width2 = 4, pool1 = false, pool2 = false }
    local ns = toy:neighbours(g)
    -- depth 3,4,5 (3) + width1 (2) + width2 (2) + pool1 + pool2 = 9
    assert.are.equal(9, #ns)
    local keys = {}
    for _, n in ipairs(ns) do
      assert.is_truthy(toy:build(n))
      keys[toy:key(n)] = true
      local changed = 0
      for k, v in pairs(g) do if n[k] ~= v then changed = changed + 1 end end
      assert.are.equal(1, changed)
    end
    local n = 0
    for _ in pairs(keys) do n = n + 1 end
    assert.are.equal(9, n)
  end)

  it("handles float decisions (log scale), which make the space infinite", function()
    local fl = nas.space("fl", function(c)
      local n = nas.net{ input = { 4 } }
      n:dropout{ p = c:float("p", 0.0, 0.5) }
      n:linear{ out = 2 }
      c:float("lr", 1e-4, 1e-1, { log = true })
      return n
    end)
    local logs = 0
    for s = 1, 200 do
      local g = fl:sample(nas.rng(s))
      assert.is_true(g.p >= 0 and g.p <= 0.5)
      assert.is_true(g.lr >= 1e-4 and g.lr <= 1e-1)
      if g.lr < 1e-2 then logs = logs + 1 end
      local m = fl:mutate(g, nas.rng(s, 9))
      assert.is_truthy(fl:build(m))
    end
    assert.is_true(logs > 110) -- log-uniform: 2/3 of draws below 1e-2
    local size, why = fl:size()
    assert.is_nil(size)
    assert.matches("infinite: decision 'p'", why)
    assert.has_error(function() fl:enumerate()() end)
    assert.is_true(#fl:neighbours(fl:sample(nas.rng(1))) >= 4)
    assert.has_error(function()
      nas.space("x", function(c) c:float("q", 0, 1, { lg = true }) end):sample(nas.rng(1))
    end, "space 'x': bad argument to c:float (decision 'q': unknown option 'lg' (the only one is log))")
  end)

  it("counts and enumerates finite spaces", function()
    -- depth d: 6^d genotypes -> 36 + 216 + 1296 + 7776
    assert.are.equal(36 + 216 + 1296 + 7776, toy:size())
    local small = toy.with{ classes = 3 }
    local n, keys = 0, {}
    local first
    for g in nas.space("s", function(c)
      local net = nas.net{ input = { 4 } }
      if c:bool("wide") then net:linear{ out = c:choice("w", { 8, 16, 32 }) } end
      net:linear{ out = 2 }
      return net
    end):enumerate() do
      n = n + 1
      first = first or g
      keys[space_mod.genotype_key(g)] = true
    end
    assert.are.equal(4, n)
    assert.are.same({ wide = false }, first)
    assert.is_truthy(keys['w=16;wide=true'])
    assert.are.equal(3, small.opts.classes)
    -- c:done(): enumeration stops there; a decision after it is an error
    local built = 0
    local early = nas.space("early", function(c)
      local w = c:choice("w", { 2, 3, 4 })
      c:done()
      built = built + 1
      local net = nas.net{ input = { 4 } }
      net:linear{ out = w }
      return net
    end)
    assert.are.equal(3, early:size())
    assert.are.equal(0, built)
    assert.is_truthy(early:build({ w = 3 }))
    local late = nas.space("late", function(c)
      c:done()
      c:bool("x")
      return nas.net{ input = { 4 } }
    end)
    assert.has_error(function() late:sample(nas.rng(1)) end, "space 'late': decision 'x' is asked after c:done()")
  end)

  it("takes options through with{...}, strictly", function()
    local big = toy.with{ input = { 3, 48, 48 }, classes = 100 }
    local net = assert(big:build(big:sample(nas.rng(1))))
    assert.are.equal(100, net:output_size())
    assert.are.same({ 3, 48, 48 }, net:shape(0))
    assert.are.equal(10, toy.opts.classes)
    assert.has_error(function() toy.with{ clases = 3 } end)
    assert.is_truthy(toy:with{ classes = 2 }:build(toy:sample(nas.rng(1))))
  end)

  it("restricts a space to a view whose genotypes belong to the space", function()
    local view = toy:restrict(function(d)
      if d.kind == "int" then return { kind = "int", lo = d.lo, hi = d.lo } end
      if d.kind == "choice" then return { kind = "choice", values = { d.values[1] } } end
      return d
    end)
    for s = 1, 20 do
      local g = view:sample(nas.rng(s))
      assert.are.equal(2, g.depth)
      assert.are.equal(4, g.width1)
      assert.is_truthy(toy:build(g))
    end
    assert.are.equal(4, view:size())
  end)
end)

describe("shipped spaces", function()
  local files = { "chain", "cell", "mobilenet", "mixed" }
  for _, name in ipairs(files) do
    it(name .. " samples 50 genotypes that build on 1x28x28 and 3x32x32", function()
      local base = require("spaces." .. name)
      assert.are.equal(name, base.name)
      for _, input in ipairs({ { 1, 28, 28 }, { 3, 32, 32 } }) do
        local space = base.with{ input = input, classes = 10 }
        local keys = {}
        for s = 1, 50 do
          local g = space:sample(nas.rng(s))
          local net, why = space:build(g)
          assert.is_truthy(net, why)
          assert.are.equal(10, net:output_size())
          local p = net:params()
          assert.is_true(p > 500 and p < 2e6, name .. " params " .. p)
          keys[space:key(g)] = true
          -- JSON round trip keeps the genotype
          local json = require "cjson"
          local back = json.decode(json.encode(g))
          assert.are.equal(space:key(g), space:key(back))
          assert.is_truthy(space:build(back))
          if s <= 10 then
            local m = space:mutate(g, nas.rng(s, 1))
            assert.is_truthy(space:build(m))
            assert.are_not.equal(space:key(g), space:key(m))
            assert.is_truthy(space:build(space:crossover(g, m, nas.rng(s, 2))))
          end
        end
        local n = 0
        for _ in pairs(keys) do n = n + 1 end
        assert.is_true(n >= 45, name .. ": only " .. n .. " distinct genotypes in 50 samples")
      end
    end)
  end

  it("chain has skip connections (add and concat) and downsampling", function()
    local chain = require "spaces.chain"
    local g = { depth = 3, width1 = 16, kernel1 = 3, down1 = "stride", width2 = 32, kernel2 = 5, down2 = "maxpool",
                skip2 = "add", width3 = 16, kernel3 = 3, down3 = "none", skip3 = "concat" }
    local net = assert(chain:build(g))
    local ops, concat = {}, nil
    for id = 0, net:count() - 1 do
      local op = net:node(id).op
      ops[op] = (ops[op] or 0) + 1
      if op == "concat" then concat = id end
    end
    assert.are.equal(1, ops.add)
    assert.are.equal(1, ops.concat)
    assert.are.equal(2, ops.maxpool) -- the block's and its shortcut's
    assert.are.same({ 16 + 32, 7, 7 }, net:shape(concat))
  end)

  it("cell: arch strings round-trip, all 15625 cells enumerate, all-none builds", function()
    local cell = require "spaces.cell"
    local s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    local g = cell.from_arch_string(s)
    assert.are.same({ edge_1_0 = "nor_conv_3x3", edge_2_0 = "nor_conv_3x3", edge_2_1 = "avg_pool_3x3",
                      edge_3_0 = "skip_connect", edge_3_1 = "nor_conv_3x3", edge_3_2 = "skip_connect" }, g)
    assert.are.equal(s, cell.arch_string(g))
    assert.is_truthy(cell:build(g))
    for seed = 1, 20 do
      local r = cell:sample(nas.rng(seed))
      assert.are.same(r, cell.from_arch_string(cell.arch_string(r)))
    end
    assert.has_error(function() cell.from_arch_string("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|") end)
    assert.has_error(function() cell.from_arch_string("|none~0|+|none~0|none~1|") end)
    local none = cell.from_arch_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    local net, why = cell:build(none)
    assert.is_truthy(net, why)
    assert.is_truthy(cell.with{ input = { 3, 32, 32 }, C = 16, N = 2 }:build(g))
    assert.is_function(cell.with{ C = 4 }.arch_string)
    local count, keys = 0, {}
    for e in cell:enumerate() do
      count = count + 1
      keys[cell.arch_string(e)] = true
    end
    assert.are.equal(15625, count)
    local distinct = 0
    for _ in pairs(keys) do distinct = distinct + 1 end
    assert.are.equal(15625, distinct)
    assert.are.equal(15625, cell:size())
  end)
end)
