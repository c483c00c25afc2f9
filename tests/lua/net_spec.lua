-- The Lua face of the graph IR: nas.net and its op methods.
local nas = require "nas"

local function small()
  local net = nas.net{ input = {1, 28, 28} }
  net:conv{ out = 8, k = 3 }; net:bn(); net:relu(); net:maxpool{ k = 2 }
  local a = net:conv{ out = 16, k = 3 }; net:relu()
  net:conv{ out = 16, k = 1 }
  net:add{ a, net:last() }
  net:gap(); net:linear{ out = 10 }
  return net
end

describe("nas.net", function()
  it("builds the issue's example and computes costs analytically", function()
    local net = small()
    -- conv 1->8 k3: 8*9+8 = 80; bn 16; conv 8->16 k3: 16*72+16 = 1168; conv 16->16 k1: 272; linear 170
    assert.are.equal(80 + 16 + 1168 + 272 + 170, net:params())
    -- MACs: 28*28*8*9 + 14*14*16*72 + 14*14*16*16 + 16*10
    assert.are.equal(28 * 28 * 8 * 9 + 14 * 14 * 16 * 72 + 14 * 14 * 16 * 16 + 160, net:flops())
    assert.are.same({10}, net:shape())
    assert.are.equal(3, net:layers() - 1) -- 4 conv/linear layers
    assert.matches("linear", net:summary())
    assert.is_true(net:memory_mb(128) > net:memory_mb(1))
  end)

  it("returns node ids and takes the last node by default", function()
    local net = nas.net{ input = {3, 8, 8} }
    assert.are.equal(0, net:input())
    local c = net:conv{ out = 4, k = 3 }
    assert.are.equal(1, c)
    local r = net:relu()
    assert.are.equal(2, r)
    assert.are.same({0}, net:node(1).inputs)
    assert.are.same({1}, net:node(2).inputs)
    local d = net:conv{ input = 0, out = 4, k = 1 }
    assert.are.same({0}, net:node(d).inputs)
    local cat = net:concat{ r, d }
    assert.are.same({8, 8, 8}, net:shape(cat))
  end)

  it("rejects bad nodes at the caller's line, naming node, op and rule", function()
    local net = nas.net{ input = {1, 28, 28} }
    net:conv{ out = 8, k = 3 }
    local ok, err = pcall(function() net:linear{ out = 10 } end)
    assert.is_false(ok)
    assert.matches("net_spec.lua:%d+:", err)
    assert.matches("node 2 %(linear%)", err)
    assert.matches("flatten", err)
    ok, err = pcall(function() net:conv{ out = 8, kernel = 3 } end)
    assert.is_false(ok)
    assert.matches("unknown attribute 'kernel'", err)
    ok, err = pcall(function() net:conv{ k = 3 } end)
    assert.is_false(ok)
    assert.matches("out", err)
    ok, err = pcall(function() net:conv("x") end)
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'conv'", err)
    ok, err = pcall(function() net:relu{ 1, 2 } end)
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'relu'", err)
    -- the graph is unchanged after a rejected node
    assert.are.equal(2, net:count())
  end)

  it("rejects mismatched merges", function()
    local net = nas.net{ input = {1, 8, 8} }
    local a = net:conv{ out = 4, k = 3 }
    local b = net:conv{ input = 0, out = 8, k = 3 }
    local ok, err = pcall(function() net:add{ a, b } end)
    assert.is_false(ok)
    assert.matches("node 3 %(add%)", err)
  end)

  it("round-trips through a table and JSON unchanged", function()
    local net = small()
    local t = net:to_table()
    local back = nas.net_from_table(t)
    assert.are.same(t, back:to_table())
    assert.are.equal(net:hash(), back:hash())
    local j = nas.net_from_json(net:to_json())
    assert.are.equal(net:hash(), j:hash())
    assert.are.same(t, j:to_table())
    assert.is_true(net == j)
  end)

  it("hashes equal graphs equally whatever the node order", function()
    local function branches(first_a)
      local net = nas.net{ input = {1, 8, 8} }
      local a, b
      if first_a then
        a = net:conv{ input = 0, out = 4, k = 3 }
        b = net:conv{ input = 0, out = 4, k = 1 }
      else
        b = net:conv{ input = 0, out = 4, k = 1 }
        a = net:conv{ input = 0, out = 4, k = 3 }
      end
      net:add{ a, b }
      return net
    end
    assert.are.equal(branches(true):hash(), branches(false):hash())
    local other = branches(true)
    local changed = nas.net{ input = {1, 8, 8} }
    changed:conv{ out = 4, k = 5 }
    assert.are_not.equal(other:hash(), changed:hash())
  end)

  it("reports a cycle in a table graph", function()
    local t = { input = {1, 8, 8}, nodes = {
      { op = "relu", inputs = {2} }, { op = "relu", inputs = {1} } } }
    local ok, err = pcall(nas.net_from_table, t)
    assert.is_false(ok)
    assert.matches("cycle", err)
  end)
end)
