-- spaces/cell.lua: the NAS-Bench-201 micro space.
--
--   local space = require "spaces.cell"                          -- C = 8, N = 1, 1x28x28
--   local nb201 = require("spaces.cell").with{ input = {3, 32, 32}, C = 16, N = 5 }
--   print(require("spaces.cell").arch_string(g))  -- |nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|
--
-- One cell is a DAG of 4 nodes; node i (1..3) sums op(edge i<-j)(node j) over
-- j < i; node 0 is the cell input, node 3 its output. Six decisions name the
-- edges "edge_<i>_<j>" and take one of the ops below. The same cell is used
-- everywhere in the skeleton: stem conv3x3-bn, 3 stages of N cells (widths C,
-- 2C, 4C) with a ResNet basic block of stride 2 between stages, then
-- bn-relu-gap-linear, as in NAS-Bench-201.
--
-- A node whose inputs are all "none" is all zero. Option `prune` (default true)
-- says what the edges leaving such a node become:
--   prune = true   they are left out (an op on an all-zero input is dropped, and
--                  a cell whose output is all zero outputs a zero op): a smaller,
--                  cheaper net, the same function at initialisation;
--   prune = false  the node is a zero op and every edge's op is built on it, as
--                  NAS-Bench-201's network does (ReLU-conv-BN of zeros is BN's
--                  learnable shift, not zero): the benchmark's params and MACs
--                  (spaces/nb201.lua builds this way).
-- Both are valid for every cell, and they give the same graph for a cell
-- without all-zero nodes.
--
-- nas.supernet(space) builds the one-shot supernet of this space: every edge
-- holds all five ops joined by a mixed node (decision = the edge), for DARTS,
-- GDAS and SPOS (strategies/darts.lua).
local nas = require "nas"

local OPS = { "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3" }
local EDGES = { { 1, 0 }, { 2, 0 }, { 2, 1 }, { 3, 0 }, { 3, 1 }, { 3, 2 } }

local defaults = {
  input = { 1, 28, 28 },
  classes = 10,
  C = 8, -- channels of the first stage
  N = 1, -- cells per stage
  prune = true, -- leave out the ops on all-zero nodes (see above); false: NB201's network
}

local function edge_name(i, j) return ("edge_%d_%d"):format(i, j) end

-- relu-conv-bn (NB201's ReLUConvBN).
local function rcb(net, x, out, k, stride)
  net:relu{ input = x }
  net:conv{ out = out, k = k, stride = stride or 1, bias = false }
  return net:bn()
end

-- op applied to node id x (never nil); returns the new id, or nil for "none".
local function apply(net, op, x, C)
  if op == "none" then return nil end
  if op == "skip_connect" then return x end
  if op == "nor_conv_1x1" then return rcb(net, x, C, 1) end
  if op == "nor_conv_3x3" then return rcb(net, x, C, 3) end
  return net:avgpool{ input = x, k = 3, stride = 1, padding = 1 }
end

-- Edge i<-j on node id x: the chosen op, or in a supernet build (nas.supernet)
-- every op joined by a mixed node (c:op; the six edges are the decisions, shared
-- by every cell, as NB201's DARTS/GDAS/SPOS search them).
local function edge(c, net, ops, i, j, x, C)
  local name = edge_name(i, j)
  if c.supernet then
    return c:op(name, OPS, function(op) return apply(net, op, x, C) end, net)
  end
  return apply(net, ops[name], x, C)
end

local function cell(c, net, x, ops, C, prune)
  local node = { [0] = x }
  for i = 1, 3 do
    local terms = {}
    for j = 0, i - 1 do
      if node[j] then
        local t = edge(c, net, ops, i, j, node[j], C)
        if t then terms[#terms + 1] = t end
      end
    end
    if #terms == 1 then
      node[i] = terms[1]
    elseif #terms > 1 then
      node[i] = net:add(terms)
    elseif not prune then
      node[i] = net:zero{ input = x } -- all zero, and the edges leaving it are built
    end
  end
  return node[3] or net:zero{ input = x }
end

-- NB201's ResNetBasicblock with stride 2.
local function reduction(net, x, out)
  local a = rcb(net, x, out, 3, 2)
  local b = rcb(net, a, out, 3, 1)
  local shape = net:shape(x)
  net:avgpool{ input = x, k = 2, stride = 2, padding = shape[2] % 2 }
  local s = net:conv{ out = out, k = 1, padding = 0, bias = false }
  return net:add{ s, b }
end

local function build(c, o)
  if type(o.input) ~= "table" or #o.input ~= 3 then
    error("spaces/cell: option 'input' must be an image shape {C, H, W}", 0)
  end
  if type(o.prune) ~= "boolean" then
    error("spaces/cell: option 'prune' must be a boolean, got " .. type(o.prune), 0)
  end
  local ops = {}
  if not c.supernet then -- (a supernet build asks them edge by edge, through c:op)
    for _, e in ipairs(EDGES) do
      local name = edge_name(e[1], e[2])
      ops[name] = c:choice(name, OPS)
    end
    c:done() -- the six edges are all the decisions: enumeration need not build the net
  end
  local net = nas.net{ input = o.input }
  net:conv{ out = o.C, k = 3, bias = false }
  local x = net:bn()
  local width = o.C
  for stage = 1, 3 do
    if stage > 1 then
      width = width * 2
      x = reduction(net, x, width)
    end
    for _ = 1, o.N do x = cell(c, net, x, ops, width, o.prune) end
  end
  net:bn{ input = x }
  net:relu(); net:gap()
  net:linear{ out = o.classes }
  return net
end

local space = nas.space("cell", build, defaults)

local M = space -- helpers live on the space (and carry over to space.with{...})
M.OPS, M.EDGES = OPS, EDGES

-- NB201's architecture string: |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
function M.arch_string(g)
  if type(g) ~= "table" then error("bad argument #1 to 'arch_string' (genotype expected)", 2) end
  local parts = {}
  for i = 1, 3 do
    local node = {}
    for j = 0, i - 1 do
      local op = g[edge_name(i, j)]
      if op == nil then error(("arch_string: genotype misses decision '%s'"):format(edge_name(i, j)), 2) end
      node[#node + 1] = ("%s~%d"):format(op, j)
    end
    parts[i] = "|" .. table.concat(node, "|") .. "|"
  end
  return table.concat(parts, "+")
end

local valid_op = {}
for _, op in ipairs(OPS) do valid_op[op] = true end

function M.from_arch_string(s)
  if type(s) ~= "string" then error("bad argument #1 to 'from_arch_string' (string expected)", 2) end
  local g, i = {}, 0
  for node in (s .. "+"):gmatch("([^+]*)%+") do
    i = i + 1
    if i > 3 then error(("from_arch_string: more than 3 nodes in '%s'"):format(s), 2) end
    local body = node:match("^|(.*)|$")
    if not body then error(("from_arch_string: node %d '%s' is not |op~j|...|"):format(i, node), 2) end
    local j = 0
    for item in (body .. "|"):gmatch("([^|]*)|") do
      local op, src = item:match("^([%w_]+)~(%d+)$")
      if not op then error(("from_arch_string: bad edge '%s' (op~input expected)"):format(item), 2) end
      if not valid_op[op] then error(("from_arch_string: unknown op '%s'"):format(op), 2) end
      if tonumber(src) ~= j then
        error(("from_arch_string: node %d: edge %d comes from %s, expected ~%d"):format(i, j + 1, src, j), 2)
      end
      g[edge_name(i, j)] = op
      j = j + 1
    end
    if j ~= i then error(("from_arch_string: node %d has %d edges, expected %d"):format(i, j, i), 2) end
  end
  if i ~= 3 then error(("from_arch_string: %d nodes in '%s', expected 3"):format(i, s), 2) end
  return g
end

return space
