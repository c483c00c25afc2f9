-- spaces/nb201.lua builds NAS-Bench-201's network op for op: its analytic params equal the
-- table's params_m (CIFAR-10) for every one of the 15,625 cells, its MACs equal flops_m but for
-- the classifier's 10 bias adds (the table counts them, nasrun counts multiply-accumulates),
-- and libtorch's own count of the built module agrees. The table is not shipped: the checks
-- against it read ../shared/bench/nb201/nb201.csv (or $NB201_CSV) and say so when it is absent.
local nas = require "nas"
local cell = require "spaces.cell"
local space = require "spaces.nb201"

local CSV = os.getenv("NB201_CSV") or "../shared/bench/nb201/nb201.csv"
local ZERO_CELLS = 3721 -- cells with an all-zero node (counted from the six edges alone)

-- Cells with all-zero nodes (a node whose inputs are all "none"), and two without.
local ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"      -- every node zero
local ZERO_1 = "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
local ZERO_2 = "|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
local ZERO_12 = "|none~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
local DEAD_1 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|" -- node 1 unused
local BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

-- The nodes of g that are all zero (every input "none" or from an all-zero node), and
-- whether a ReLU-conv-BN sits on one (what pruning drops that holds parameters).
local function zero_nodes(g)
  local zero = { [0] = false }
  for i = 1, 3 do
    local z = true
    for j = 0, i - 1 do
      if not zero[j] and g[("edge_%d_%d"):format(i, j)] ~= "none" then z = false end
    end
    zero[i] = z
  end
  return zero
end

local function conv_on_zero(g)
  local zero = zero_nodes(g)
  for i = 2, 3 do
    for j = 1, i - 1 do
      if zero[j] and g[("edge_%d_%d"):format(i, j)]:match("^nor_conv") then return true end
    end
  end
  return false
end

local function table_or_nil()
  local f = io.open(CSV)
  if not f then return nil end
  f:close()
  return nas.bench.nb201{ path = CSV, signal = "cifar10_valid" }
end

describe("spaces/nb201.lua: NAS-Bench-201's network", function()
  local pruned = cell.with{ input = { 3, 32, 32 }, classes = 10, C = 16, N = 5 } -- the general default

  it("builds every edge's op, also on all-zero nodes (spaces/cell.lua prunes them by default)", function()
    assert.is_false(space.opts.prune)
    assert.is_true(cell.opts.prune)
    -- every node zero: no op sits on a zero node, so both builds hold the same parameters
    local g = space.from_arch_string(ALL_NONE)
    local net = space:build(g)
    assert.are.equal(pruned:build(g):params(), net:params())
    -- node 2 zero, nor_conv_3x3 on it in node 3: 15 ReLU-conv-BN more than the pruned net
    g = space.from_arch_string(ZERO_2)
    local per_stage = 0
    for _, C in ipairs{ 16, 32, 64 } do per_stage = per_stage + 5 * (C * C * 9 + 2 * C) end
    assert.are.equal(per_stage, space:build(g):params() - pruned:build(g):params())
    assert.is_true(space:build(g):flops() > pruned:build(g):flops())
    -- without all-zero nodes both builds are the same graph
    for _, a in ipairs{ DEAD_1, BEST } do
      g = space.from_arch_string(a)
      assert.are.equal(pruned:build(g):hash(), space:build(g):hash())
      assert.are.equal(pruned:build(g):params(), space:build(g):params())
    end
    -- the option is checked and carries over to with{...}
    assert.is_false(space.with{ C = 4, N = 1 }.opts.prune)
    local bad, why = cell.with{ prune = "no" }:build(space.from_arch_string(BEST))
    assert.is_nil(bad)
    assert.matches("prune", why)
    assert.are.equal(space:build(g):hash(), cell.with{ input = { 3, 32, 32 }, C = 16, N = 5, prune = false }
                     :build(g):hash())
  end)

  it("libtorch's parameter count of the built module equals the analytic count (and the table's)", function()
    local ev = table_or_nil()
    for _, a in ipairs{ ALL_NONE, ZERO_1, ZERO_2, ZERO_12, DEAD_1, BEST } do
      local g = space.from_arch_string(a)
      local net = space:build(g)
      local model = assert(nas.model(net, { seed = 1 }))
      assert.are.equal(net:params(), model:params(), a)
      if ev then assert.are.equal(ev:metrics(space.code(g)).params, model:params(), a) end
      local lat = model:latency{ batch = 2, runs = 1, warmup = 0 } -- a forward pass runs
      assert.is_true(lat.median_ms >= 0)
      model:release()
    end
  end)

  local ev = table_or_nil()
  if not ev then
    pending("the per-cell table checks: " .. CSV .. " is absent") -- reported as pending, not passed
    return
  end

  it("equals the table for all 15,625 cells: params exactly, MACs but for the classifier's bias", function()
    local t0 = os.clock()
    local n, zero_cells, conv_cells, worst = 0, 0, 0, 0
    local bias_adds = 10 -- the table counts the classifier's bias adds (64 -> 10) as MACs
    for code = 0, 15624 do
      local g = space.genotype(code)
      local net = space:build(g)
      local m = ev:metrics(code)
      if net:params() ~= m.params then
        error(("%s: params %d, table %d"):format(space.arch_string(g), net:params(), m.params))
      end
      local flops = net:flops()
      if m.flops - flops ~= bias_adds then
        error(("%s: MACs %d, table %d"):format(space.arch_string(g), flops, m.flops))
      end
      worst = math.max(worst, math.abs(m.flops - flops) / m.flops)
      local z = zero_nodes(g)
      if z[1] or z[2] or z[3] then zero_cells = zero_cells + 1 end
      if conv_on_zero(g) then
        conv_cells = conv_cells + 1
        assert(pruned:build(g):params() < net:params(), space.arch_string(g))
      elseif z[1] or z[2] or z[3] then
        assert(pruned:build(g):params() == net:params(), space.arch_string(g))
      end
      n = n + 1
    end
    assert.are.equal(15625, n)
    assert.is_true(worst < 0.005)
    -- pruning drops parameters in the 2,290 cells with a ReLU-conv-BN on an all-zero node (of
    -- the 3,721 with an all-zero node); the other pruned nets have the same parameters
    print(("\nnb201_exact_spec: %d cells match params exactly; MACs off by %d (max %.2e relative); "
           .. "%d cells have all-zero nodes, %d a conv on one"):format(n, bias_adds, worst, zero_cells, conv_cells))
    assert.are.equal(ZERO_CELLS, zero_cells)
    assert.are.equal(2290, conv_cells)
    assert.is_true(os.clock() - t0 < 30, "took " .. (os.clock() - t0) .. " s")
  end)
end)
