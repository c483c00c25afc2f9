-- nas.net: building architectures. A Net wraps a core graph (nas.Graph) and
-- has one method per op of the core's op table: net:conv{out = 32, k = 3}.
-- Each op method returns the new node's id; by default an op takes the last
-- node as input, `input = id` or `inputs = {ids}` (or the list part, for merge
-- ops: net:add{a, b}) choose others. A bad node raises an error at the
-- caller's line naming the node, the op and the rule.
local core = require "nas.core"
local util = require "nas.util"
local json = require "nas.json"

local M = {}
local Net = {}
Net.__index = Net

local function wrap(g)
  return setmetatable({ _g = g }, Net)
end

-- nas.net{ input = {C,H,W} | {F} }
local net_keys = { input = true }

function M.new(spec)
  if type(spec) ~= "table" or next(spec, next(spec)) ~= nil or (next(spec) ~= nil and next(spec) ~= "input") then
    util.check_options(spec, net_keys, 1, "net", 2)
  end
  if spec == nil or spec.input == nil then
    util.argerror(1, "net", "field 'input' (shape {C,H,W} or {F}) is required", 2)
  end
  if type(spec.input) ~= "table" then
    util.argerror(1, "net", "field 'input' must be a table like {1, 28, 28}", 2)
  end
  local ok, g = pcall(core.graph_new, spec.input)
  if not ok then error((tostring(g):gsub("'[%w%.]*graph_new'", "'net'")), 2) end
  return wrap(g)
end

-- Rebuilds a net from the plain table net:to_table() gives.
function M.from_table(t)
  if type(t) ~= "table" then util.argerror(1, "net_from_table", "table expected, got " .. type(t), 2) end
  local g, msg = util.guard(2, core.graph_from_table, t)
  if not g then error(msg, 2) end
  return wrap(g)
end

function M.from_json(s)
  if type(s) ~= "string" then util.argerror(1, "net_from_json", "string expected, got " .. type(s), 2) end
  local ok, t = pcall(json.decode, s)
  if not ok then error("net_from_json: invalid JSON: " .. tostring(t), 2) end
  if type(t) ~= "table" then error("net_from_json: the JSON holds a " .. type(t) .. ", not a graph object", 2) end
  local g, msg = util.guard(2, core.graph_from_table, t)
  if not g then error(msg, 2) end
  return wrap(g)
end

function M.is_net(x)
  return getmetatable(x) == Net
end

-- One method per op: C closures (core.op_method) that read the user's spec
-- (attributes, `input`, `inputs`, or a list for merge ops) and raise any
-- problem at the caller's line, naming the node, the op and the rule.
M.ops = {}
for _, op in ipairs(core.ops()) do
  M.ops[#M.ops + 1] = op.name
  Net[op.name] = core.op_method(op.name)
end

-- Adds a node by op name: net:op("conv", {out = 8, k = 3}).
function Net:op(name, spec)
  local f = rawget(Net, name)
  if type(name) ~= "string" or not f or not M.ops_set[name] then
    util.argerror(2, "op", "unknown op '" .. tostring(name) .. "'", 2)
  end
  local id = util.guard(2, f, self, spec)
  return id
end
M.ops_set = {}
for _, name in ipairs(M.ops) do M.ops_set[name] = true end

function Net:last() return self._g:count() - 1 end
function Net:input() return 0 end
function Net:count() return self._g:count() end
function Net:graph() return self._g end

function Net:output(id)
  if id ~= nil then
    local out, msg = util.guard(2, self._g.output, self._g, id)
    if not out then error(msg, 2) end
    return out
  end
  return self._g:output()
end

function Net:shape(id)
  local s = util.guard(2, self._g.shape, self._g, id)
  return s
end
function Net:node(id)
  local n = util.guard(2, self._g.node, self._g, id)
  return n
end
function Net:params() return self._g:params() end
-- Multiply-accumulates of conv and linear layers for one sample.
function Net:flops() return self._g:flops() end
function Net:macs() return self._g:flops() end
function Net:activations() return self._g:activations() end
function Net:memory_mb(batch)
  return util.guard(2, self._g.memory, self._g, batch or 1) / (1024 * 1024)
end
function Net:layers() return self._g:layers() end
function Net:hash() return self._g:hash() end
function Net:summary() return self._g:summary() end
function Net:clone() return wrap(self._g:clone()) end
function Net:to_table() return self._g:to_table() end
-- JSON of to_table() (nas.json: sorted keys, exact numbers).
function Net:to_json() return json.encode(self._g:to_table()) end
-- Number of outputs per sample (product of the output shape).
function Net:output_size()
  local n = 1
  for _, d in ipairs(self._g:shape()) do n = n * d end
  return n
end
function Net:metrics()
  return { params = self:params(), flops = self:flops(), memory_mb = self:memory_mb(1),
           layers = self:layers(), activations = self:activations() }
end

Net.__tostring = function(self) return self._g:summary() end
Net.__eq = function(a, b) return a._g:hash() == b._g:hash() end

return M
