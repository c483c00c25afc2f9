-- nas.supernet: one libtorch model holding every candidate op of a space's op
-- decisions (weight sharing), with architecture logits per decision.
--
--   local sn = nas.supernet(require "spaces.cell", { seed = 1 })
--   sn.decisions                     -- { {name = "edge_1_0", values = {...}}, ... } in order
--   sn:mode("softmax")               -- "softmax" (DARTS) | "gumbel" (GDAS, tau) | "path" |
--                                    -- "fixed" (argmax) | "sigmoid" (Fair DARTS)
--   sn:arch()                        -- { edge_1_0 = {logits...}, ... }; sn:set_arch(name, logits)
--   sn:genotype()                    -- argmax per decision: a genotype the space builds normally
--   sn:genotype{ exclude = {"none"} } -- argmax over the other values (DARTS's rule for the zero op)
--   sn:sample(rng)                   -- a genotype drawn from the softmax of the logits
--   sn:subnet(g, { data = ds })      -- the same model in path mode on g's ops, BN recalibrated
--   sn:evaluate(ds); sn:train(ds, opts) (weights only, in the current mode)
--   sn:save(path); sn:load(path)     -- weights + path .. ".arch.json" (logits, pinned, mode)
--   local d = sn:darts_begin(train, valid, opts); d:run(steps) -- see strategies/darts.lua
--
--   sn.subspace                      -- the space restricted to the pinned values: its
--                                    -- genotypes are exactly the supernet's subnets
--
-- opts: seed, device, memfmt; fixed = { name = value } pins decisions (an op
-- decision given here is not mixed); base = a genotype of the space whose
-- values pin the non-op decisions only (depth, widths, ...: a fixed topology for
-- spaces/chain.lua and spaces/mobilenet.lua); op decisions stay mixed.
--
-- How a space becomes a supernet: its function runs once with a supernet
-- chooser (c.supernet == true). There, c:op(name, values, fn, net) calls fn(v)
-- for every value v (fn returns a node id, or nil for "none": a zero node of
-- the others' shape stands in) and joins the results with one `mixed` node
-- (attribute decision = the decision's index, 0-based; a name asked again,
-- e.g. the same cell repeated, shares its decision and logits). Any other
-- chooser call (c:choice, c:int, c:bool, c:float) is an error naming the
-- decision, unless opts.fixed gives its value: supernets need a fixed topology.
-- Spaces support both builds by asking their op decisions through c:op when
-- c.supernet is set (spaces/cell.lua). A subnet is the supernet itself in path
-- mode, so weights are shared by construction: a change through one shows in
-- the other.
local core = require "nas.core"
local util = require "nas.util"
local spacemod = require "nas.space"
local domain = require "nas.domain"
local fmt, same_values = domain.format_value, domain.same_values

local M = {}
local Supernet = {}
Supernet.__index = Supernet
Supernet.__name = "nas.Supernet"

-- The one-value domain of decision d holding v (for Space:restrict).
local function single(d, v)
  if d.kind == "int" then return { kind = "int", lo = v, hi = v } end
  if d.kind == "float" then return { kind = "float", lo = v, hi = v, log = d.log } end
  return { kind = "choice", values = { v } }
end

-- The space restricted to the supernet's pinned values: its genotypes are the
-- supernet's subnets (what SPOS/ENAS sample and search).
local function restricted(space, pinned)
  if next(pinned) == nil then return space end
  return space:restrict(function(d, name)
    local v = pinned[name]
    if v ~= nil then return single(d, v) end
  end, "supernet")
end

-- ---- the supernet object --------------------------------------------------------

local opt_keys = { "seed", "device", "memfmt", "fixed", "base" }

function M.new(space, opts)
  util.check_options(opts, opt_keys, 2, "supernet", 2)
  opts = opts or {}
  if opts.fixed ~= nil and type(opts.fixed) ~= "table" then
    util.argerror(2, "supernet", "field 'fixed' must be a table name -> value", 2)
  end
  if opts.base ~= nil and type(opts.base) ~= "table" then
    util.argerror(2, "supernet", "field 'base' must be a genotype (a table name -> value)", 2)
  end
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    util.argerror(2, "supernet", "field 'seed' must be an integer", 2)
  end
  if not spacemod.is_space(space) then util.argerror(1, "supernet", "space expected (from nas.space)", 2) end
  local net, decisions, pinned = spacemod.supernet_net(space, opts.fixed, opts.base, 2)
  local model = require("nas.model").new(net, { seed = opts.seed, device = opts.device, memfmt = opts.memfmt })
  local self = setmetatable({ space = space, net = net, model = model, _m = model:handle(), decisions = decisions,
                              fixed = pinned, index = {}, subspace = restricted(space, pinned) }, Supernet)
  for i, d in ipairs(decisions) do self.index[d.name] = i end
  return self
end

local MODES = { softmax = true, gumbel = true, path = true, fixed = true, sigmoid = true }

function Supernet:mode(mode, tau)
  if mode == nil then return self._m:mix_mode() end
  if not MODES[mode] then
    util.argerror(1, "mode", "one of softmax, gumbel, path, fixed, sigmoid expected, got " .. tostring(mode), 2)
  end
  util.guard(2, self._m.mix_mode, self._m, mode, tau or 1.0)
  return self
end

function Supernet:arch()
  local out = {}
  for i, d in ipairs(self.decisions) do out[d.name] = self._m:arch(i) end
  return out
end

function Supernet:set_arch(name, logits)
  local i = self.index[name]
  if not i then util.argerror(1, "set_arch", ("unknown decision '%s'"):format(tostring(name)), 2) end
  util.guard(2, self._m.set_arch, self._m, i, logits)
end

-- softmax of each decision's logits: { name = {p...} }
function Supernet:probs()
  local out = {}
  for name, a in pairs(self:arch()) do
    local mx = -math.huge
    for _, v in ipairs(a) do mx = math.max(mx, v) end
    local s, p = 0, {}
    for k, v in ipairs(a) do p[k] = math.exp(v - mx); s = s + p[k] end
    for k in ipairs(p) do p[k] = p[k] / s end
    out[name] = p
  end
  return out
end

-- A genotype drawn from the logits: each decision's value from the softmax of
-- its logits (what GDAS's Gumbel-max sample draws), plus the pinned decisions.
-- rng: a nas.rng (required, so that draws are reproducible).
function Supernet:sample(rng)
  if not require("nas.rng").is_rng(rng) then util.argerror(1, "sample", "a nas.rng expected", 2) end
  local probs = self:probs()
  local g = {}
  for k, v in pairs(self.fixed) do g[k] = v end
  for _, d in ipairs(self.decisions) do
    local p, u, k = probs[d.name], rng:uniform(), 1
    while k < #p and u >= p[k] do u, k = u - p[k], k + 1 end
    g[d.name] = d.values[k]
  end
  return g
end

-- argmax per decision (ties: the first), plus the pinned decisions. With
-- opts.exclude = { value, ... } (e.g. { "none" }: DARTS's rule), the argmax over
-- the other values of each decision (over all of them if none is left).
function Supernet:genotype(opts)
  util.check_options(opts, { "exclude" }, 1, "genotype", 2)
  local skip = {}
  if opts and opts.exclude ~= nil then
    if type(opts.exclude) ~= "table" then
      util.argerror(1, "genotype", "field 'exclude' must be a list of values", 2)
    end
    for _, v in ipairs(opts.exclude) do skip[v] = true end
  end
  local g = {}
  for k, v in pairs(self.fixed) do g[k] = v end
  for i, d in ipairs(self.decisions) do
    local a, best = self._m:arch(i), nil
    for k = 1, #a do
      if not skip[d.values[k]] and (best == nil or a[k] > a[best]) then best = k end
    end
    if best == nil then
      best = 1
      for k = 2, #a do if a[k] > a[best] then best = k end end
    end
    g[d.name] = d.values[best]
  end
  return g
end

-- The 1-based path of genotype g (every op decision must be in g, in its domain).
function Supernet:path_of(g)
  if type(g) ~= "table" then util.argerror(1, "path_of", "genotype (a table) expected", 3) end
  local path = {}
  for i, d in ipairs(self.decisions) do
    local v = g[d.name]
    for k, x in ipairs(d.values) do if x == v then path[i] = k break end end
    if not path[i] then
      error(("genotype: decision '%s' = %s is %s"):format(d.name, fmt(v),
            v == nil and "missing" or "not one of the supernet's values"), 3)
    end
  end
  return path
end

function Supernet:set_path(g)
  util.guard(2, self._m.set_path, self._m, self:path_of(g))
  return self
end

-- The supernet in path mode on g's ops: a subnet with the shared weights. With
-- o.data, BN statistics are recalibrated on o.batches (10) batches of o.batch (64).
function Supernet:subnet(g, o)
  util.check_options(o, { "data", "batches", "batch", "seed" }, 2, "subnet", 2)
  self:set_path(g)
  self._m:mix_mode("path")
  if o and o.data then
    local ok, msg = util.guard(2, self._m.recalibrate_bn, self._m, o.data,
                               { batches = o.batches or 10, batch = o.batch or 64, seed = o.seed or 0 })
    if not ok then error(msg, 2) end
  end
  return self
end

function Supernet:evaluate(data, opts) return self.model:evaluate(data, opts) end
function Supernet:predict(...) return self.model:predict(...) end
-- Trains the weights only (the logits stay) in the current mode.
function Supernet:train(data, opts) return self.model:train(data, opts) end
function Supernet:params() return self.model:params() end

-- The C trainer of the shared weights (one step at a time: t:step(), as nas.oneshot drives it).
function Supernet:train_begin(train, opts) return self._m:train_begin(train, opts) end

-- The DARTS bilevel loop in the core (see strategies/darts.lua): a handle with
-- :run(max_steps) -> progress (with arch_loss) | nil, msg, status.
function Supernet:darts_begin(train, valid, opts)
  local d, msg, status = util.guard(2, core.darts_begin, self._m, train, valid, opts)
  if not d then return nil, msg, status end
  return d
end

-- sn:save(path): the shared weights to `path` (torch.save format, as
-- model:save) and the architecture to `path .. ".arch.json"`: every decision's
-- name, values and logits, the pinned values, the mix mode. sn:load(path) reads
-- both back into a supernet of the same space and options (decisions must match).
function Supernet:save(path)
  if type(path) ~= "string" then util.argerror(1, "save", "path (a string) expected", 2) end
  self.model:save(path)
  local decs = {}
  for i, d in ipairs(self.decisions) do decs[i] = { name = d.name, values = d.values, logits = self._m:arch(i) } end
  local doc = { space = self.space.name, mode = self._m:mix_mode(), decisions = decs, pinned = self.fixed }
  local f, msg = io.open(path .. ".arch.json", "wb")
  if not f then error("save: " .. tostring(msg), 2) end
  f:write(require("nas.json").encode(doc))
  f:close()
end

function Supernet:load(path)
  if type(path) ~= "string" then util.argerror(1, "load", "path (a string) expected", 2) end
  local f, msg = io.open(path .. ".arch.json", "rb")
  if not f then error("load: " .. tostring(msg), 2) end
  local ok, doc = pcall(require("nas.json").decode, f:read("a"))
  f:close()
  if not ok or type(doc) ~= "table" or type(doc.decisions) ~= "table" then
    error(("load: %s.arch.json is not a supernet architecture file"):format(path), 2)
  end
  if #doc.decisions ~= #self.decisions then
    error(("load: %s.arch.json has %d decisions, this supernet %d"):format(path, #doc.decisions, #self.decisions), 2)
  end
  for i, d in ipairs(self.decisions) do
    local e = doc.decisions[i]
    if type(e) ~= "table" or e.name ~= d.name or type(e.values) ~= "table" or not same_values(e.values, d.values)
       or type(e.logits) ~= "table" or #e.logits ~= #d.values then
      error(("load: decision %d of %s.arch.json (%s) does not match this supernet's '%s'"):format(i, path,
            tostring(type(e) == "table" and e.name), d.name), 2)
    end
  end
  self.model:load(path)
  for i, e in ipairs(doc.decisions) do self._m:set_arch(i, e.logits) end
  -- the modes that need no more than the logits (a path or a tau is not saved)
  if doc.mode == "softmax" or doc.mode == "fixed" or doc.mode == "sigmoid" then self._m:mix_mode(doc.mode, 1.0) end
  return self
end

Supernet.__tostring = function(self)
  return ("nas.Supernet(%s, %d decisions)"):format(self.space.name, #self.decisions)
end

function M.is_supernet(x) return getmetatable(x) == Supernet end

return M
