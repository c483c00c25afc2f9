-- busted --lua=lua5.4 --lpath='lua/?.lua;lua/?/init.lua;./?.lua' tests/lua/rng_spec.lua
local R = require "nas.rng"
local rng = R.new

describe("nas.rng", function()
  it("is xoshiro256** seeded by splitmix64 (reference outputs)", function()
    local r = rng(42)
    -- From a reference implementation of splitmix64 + xoshiro256**.
    assert.are.equal("15780b2e0c2ec716", ("%016x"):format(r:next()))
    assert.are.equal("6104d9866d113a7e", ("%016x"):format(r:next()))
    assert.are.equal("ae17533239e499a1", ("%016x"):format(r:next()))
  end)

  it("is deterministic, and seeds and streams differ", function()
    local a, b, c, d = rng(7), rng(7), rng(8), rng(7, 1)
    local same, diff_seed, diff_stream = true, false, false
    for _ = 1, 100 do
      local x = a:uniform()
      if x ~= b:uniform() then same = false end
      if x ~= c:uniform() then diff_seed = true end
      if x ~= d:uniform() then diff_stream = true end
    end
    assert.is_true(same)
    assert.is_true(diff_seed)
    assert.is_true(diff_stream)
    assert.are.equal(rng(3, 4, "train"):int(0, 1e9), rng(3, 4, "train"):int(0, 1e9))
    assert.are_not.equal(rng(3, 4, "train"):next(), rng(3, 4, "test"):next())
    assert.are.equal(rng(5.0):next(), rng(5):next())
  end)

  it("does not touch math.random", function()
    math.randomseed(1)
    local x = math.random()
    math.randomseed(1)
    local r = rng(1)
    for _ = 1, 10 do r:uniform() end
    assert.are.equal(x, math.random())
    math.randomseed(123)
    local a = rng(9):uniform()
    math.randomseed(456)
    assert.are.equal(a, rng(9):uniform())
  end)

  it("uniform is in [0, 1) with mean about 1/2", function()
    local r, sum, outside = rng(1), 0, 0
    for _ = 1, 20000 do
      local u = r:uniform()
      if not (u >= 0 and u < 1) then outside = outside + 1 end
      sum = sum + u
    end
    assert.are.equal(0, outside)
    assert.is_true(math.abs(sum / 20000 - 0.5) < 0.01)
  end)

  it("int is inclusive, uniform and unbiased over small ranges", function()
    local r, count, non_int = rng(2), {}, 0
    for _ = 1, 60000 do
      local v = r:int(-1, 4)
      if math.type(v) ~= "integer" then non_int = non_int + 1 end
      count[v] = (count[v] or 0) + 1
    end
    assert.are.equal(0, non_int)
    for v = -1, 4 do assert.is_true(math.abs(count[v] - 10000) < 500, "value " .. v) end
    assert.is_nil(count[-2]); assert.is_nil(count[5])
    assert.are.equal(3, r:int(3, 3))
    local big = r:int(math.mininteger, math.maxinteger)
    assert.are.equal("integer", math.type(big))
    assert.has_error(function() r:int(2, 1) end)
  end)

  it("choice, shuffle and sample", function()
    local r = rng(3)
    local seen = {}
    for _ = 1, 200 do seen[r:choice{ "a", "b", "c" }] = true end
    assert.is_true(seen.a and seen.b and seen.c)
    assert.has_error(function() r:choice{} end)
    local list = {}
    for i = 1, 50 do list[i] = i end
    r:shuffle(list)
    local sorted = { table.unpack(list) }
    table.sort(sorted)
    for i = 1, 50 do assert.are.equal(i, sorted[i]) end
    local moved = 0
    for i = 1, 50 do if list[i] ~= i then moved = moved + 1 end end
    assert.is_true(moved > 30)
    local idx, uniq = r:sample(10, 10), {}
    for _, i in ipairs(idx) do uniq[i] = true end
    for i = 1, 10 do assert.is_true(uniq[i]) end
  end)

  it("normal has mean 0 and sd 1", function()
    local r, s, s2, n = rng(4), 0, 0, 20000
    for _ = 1, n do
      local z = r:normal()
      s, s2 = s + z, s2 + z * z
    end
    local mean = s / n
    assert.is_true(math.abs(mean) < 0.03)
    assert.is_true(math.abs(math.sqrt(s2 / n - mean * mean) - 1) < 0.03)
  end)

  it("state round-trips through a JSON-safe string", function()
    local r = rng(11)
    for _ = 1, 5 do r:next() end
    local s = r:state()
    assert.are.equal("string", type(s))
    assert.are.equal(64, #s)
    local q = R.new.from_state(s)
    for _ = 1, 20 do assert.are.equal(r:next(), q:next()) end
    assert.has_error(function() R.from_state("xyz") end)
  end)

  it("rejects bad seeds", function()
    assert.has_error(function() rng(1.5) end)
    assert.has_error(function() rng({}) end)
  end)
  it("draws the same in C (nas.core) as in the reference Lua code, state included", function()
    local L = R.lua_draws
    local a, b = rng(7), rng(7)
    local ranges = { { 1, 6 }, { 0, 1 }, { -1, 4 }, { 3, 3 }, { 0, 4094 }, { 0, 4095 }, { 1, 5000 }, { 0, 1e9 },
                     { math.mininteger, math.maxinteger }, { -5, math.maxinteger }, { 2.0, 7 } }
    for _ = 1, 300 do
      for _, lh in ipairs(ranges) do
        local x, y = a:int(lh[1], lh[2]), L.int(b, lh[1], lh[2])
        assert.are.equal(y, x)
        assert.are.equal(math.type(y), math.type(x))
      end
      assert.are.equal(L.uniform(b), a:uniform())
      assert.are.equal(L.next(b), a:next())
    end
    assert.are.equal(b:state(), a:state())
  end)

  it("names a misuse (rng.int for rng:int) and bad ranges at the caller's line", function()
    local r = rng(1)
    local ok, err = pcall(function() local x = r.int(1, 2, 3) return x end)
    assert.is_false(ok)
    assert.matches("rng_spec.lua:%d+: bad argument #1 to 'int' %(rng expected; call it as rng:int%(...%)%)", err)
    ok, err = pcall(function() local x = r.uniform() return x end)
    assert.is_false(ok)
    assert.matches("rng_spec.lua:%d+: bad argument #1 to 'uniform' %(rng expected", err)
    ok, err = pcall(function() local x = r:int(2, 1) return x end)
    assert.is_false(ok)
    assert.matches("rng_spec.lua:%d+: bad argument to 'int' %(empty range 2..1%)", err)
    ok, err = pcall(function() local x = r:int(1.5, 3) return x end)
    assert.is_false(ok)
    assert.matches("rng_spec.lua:%d+: bad argument to 'int' %(integers lo, hi expected%)", err)
    -- the Lua reference draws say the same
    ok, err = pcall(function() local x = R.lua_draws.int(1, 2, 3) return x end)
    assert.is_false(ok)
    assert.matches("rng_spec.lua:%d+: bad argument #1 to 'int' %(rng expected", err)
  end)
end)
