-- nas.chooser: the chooser `c` a space's function asks its decisions from
-- (c:choice, c:int, c:bool, c:float, c:op, c:done), in its modes, and running
-- a space's function with one; and the supernet chooser that mixes every value
-- of an op decision instead (nas.supernet). nas.space is the public face.
local domain = require "nas.domain"

local fmt, describe, same_domain, canon = domain.format_value, domain.describe, domain.same_domain, domain.canon
local draw, default, nth_value, same_values = domain.draw, domain.default, domain.nth_value, domain.same_values

local M = {}

-- ---- errors raised inside a run ---------------------------------------------

local Abort = {}
Abort.__tostring = function(e) return e.msg end
-- kind: "genotype" (missing or out-of-domain value), "space" (a misused
-- chooser), "branch" (enumeration reached an unassigned decision),
-- "complete" (enumeration reached c:done()).
local function abort(kind, msg, extra)
  local e = setmetatable({ kind = kind, msg = msg }, Abort)
  if extra then for k, v in pairs(extra) do e[k] = v end end
  error(e, 0)
end

-- ---- the chooser ----------------------------------------------------------------

-- Modes: "strict" reads every decision from c.g and aborts on a missing or
-- out-of-domain one; "fill" reads c.g (or c.pick) and draws the rest from
-- c.rng (or takes defaults); "enum" follows c.prefix (value indices) and
-- aborts with a branch at the first decision past it.
local Chooser = {}
Chooser.__index = Chooser
Chooser.__name = "nas.Chooser"

-- A chooser for the space named `name`; restrict(d, name) -> narrower domain
-- or nil (Space:restrict), or nil.
local function new_chooser(name, restrict, mode, fields)
  local c = setmetatable(fields or {}, Chooser)
  c.mode, c.space, c.restrict = mode, name, restrict
  c.trace, c.seen, c.out = {}, {}, {}
  return c
end

local function misuse(c, fname, msg)
  abort("space", ("space '%s': bad argument to c:%s (%s)"):format(c.space, fname, msg))
end

local function decide(c, name, d)
  if c.closed then
    abort("space", ("space '%s': decision '%s' is asked after c:done()"):format(c.space, name))
  end
  local prev = c.seen[name]
  if prev then
    if not same_domain(prev.decl, d) then
      abort("space", ("space '%s': decision '%s' is asked twice with different domains (%s, then %s)")
            :format(c.space, name, describe(prev.decl), describe(d)))
    end
    return prev.value
  end
  local decl = d
  if c.restrict then d = c.restrict(d, name) or d end
  local v
  if c.mode == "strict" then
    local raw = c.g[name]
    if raw == nil then
      abort("genotype", ("genotype misses decision '%s' (%s)"):format(name, describe(d)), { decision = name })
    end
    v = canon(d, raw)
    if v == nil then
      abort("genotype", ("decision '%s' = %s is out of its domain (%s)"):format(name, fmt(raw), describe(d)),
            { decision = name })
    end
  elseif c.mode == "fill" then
    if c.pick then v = c.pick(name, d) else v = canon(d, c.g[name]) end
    if v == nil then
      if c.rng then v = draw(d, c.rng) else v = default(d) end
    end
  else -- enum
    local k = #c.trace + 1
    if k > #c.prefix then
      if d.kind == "float" and d.hi > d.lo then
        abort("space", ("space '%s' is infinite: decision '%s' is a %s"):format(c.space, name, describe(d)))
      end
      abort("branch", name, { domain = d })
    end
    v = nth_value(d, c.prefix[k])
  end
  local rec = { name = name, kind = d.kind, values = d.values, lo = d.lo, hi = d.hi, log = d.log,
                value = v, decl = decl }
  c.seen[name] = rec
  c.trace[#c.trace + 1] = rec
  c.out[name] = v
  return v
end

local function check_name(c, fname, name)
  if type(name) ~= "string" or name == "" then
    misuse(c, fname, "decision name (a non-empty string) expected, got " .. type(name))
  end
end

-- Optional: no decisions follow. Enumeration and counting stop the run here
-- instead of building the net; asking another decision afterwards is an error.
function Chooser:done()
  if self.mode == "enum" then abort("complete", "complete") end
  self.closed = true
end

function Chooser:choice(name, values)
  check_name(self, "choice", name)
  if type(values) ~= "table" or #values == 0 then
    misuse(self, "choice", ("decision '%s': a non-empty list of values expected"):format(name))
  end
  local list = {}
  for i, v in ipairs(values) do
    local t = type(v)
    if t ~= "number" and t ~= "string" and t ~= "boolean" then
      misuse(self, "choice", ("decision '%s': value %d is a %s; values must be numbers, strings or booleans")
             :format(name, i, t))
    end
    if t == "number" and v ~= v then misuse(self, "choice", ("decision '%s': value %d is NaN"):format(name, i)) end
    list[i] = v
  end
  return decide(self, name, { kind = "choice", values = list })
end

function Chooser:int(name, lo, hi)
  check_name(self, "int", name)
  local a, b = type(lo) == "number" and math.tointeger(lo), type(hi) == "number" and math.tointeger(hi)
  if not a or not b or a > b then
    misuse(self, "int", ("decision '%s': integers lo <= hi expected, got %s, %s"):format(name, tostring(lo),
           tostring(hi)))
  end
  return decide(self, name, { kind = "int", lo = a, hi = b })
end

function Chooser:bool(name)
  check_name(self, "bool", name)
  return decide(self, name, { kind = "bool" })
end

function Chooser:float(name, lo, hi, o)
  check_name(self, "float", name)
  if type(lo) ~= "number" or type(hi) ~= "number" or lo ~= lo or hi ~= hi or lo > hi then
    misuse(self, "float", ("decision '%s': numbers lo <= hi expected"):format(name))
  end
  if o ~= nil then
    if type(o) ~= "table" then misuse(self, "float", ("decision '%s': options table expected"):format(name)) end
    for k in pairs(o) do
      if k ~= "log" then
        misuse(self, "float", ("decision '%s': unknown option '%s' (the only one is log)"):format(name, tostring(k)))
      end
    end
  end
  local log = o and o.log and true or false
  if log and lo <= 0 then misuse(self, "float", ("decision '%s': log scale needs lo > 0"):format(name)) end
  return decide(self, name, { kind = "float", lo = lo + 0.0, hi = hi + 0.0, log = log })
end

-- An op decision: fn(value) adds the op for that value to the net and returns
-- its node id (nil for "none"). In every build but a supernet's it is
-- fn(c:choice(name, values)); the supernet chooser (below, for nas.supernet)
-- instead calls fn for every value and joins the results with a mixed node, for
-- which it needs the net (4th argument, ignored here).
function Chooser:op(name, values, fn)
  local v = self:choice(name, values)
  if type(fn) ~= "function" then
    misuse(self, "op", ("decision '%s': fn (value -> node id) expected, got %s"):format(name, type(fn)))
  end
  return fn(v)
end

-- ---- running the space function ---------------------------------------------

local function is_net(x)
  local netmod = package.loaded["nas.net"]
  return netmod ~= nil and netmod.is_net(x)
end

-- Runs the space function fn(c, opts) of the space named `name`:
-- ok, net | false, kind, message, err. kind: "genotype", "space", "branch",
-- "graph" (the core rejected a node) or "error" (any other Lua error).
local function run(name, fn, opts, c)
  local ok, res = pcall(fn, c, opts)
  if ok then
    if not is_net(res) then
      return false, "space", ("space '%s': its function must return a net (from nas.net{...}), got %s")
             :format(name, type(res))
    end
    return true, res
  end
  if getmetatable(res) == Abort then return false, res.kind, res.msg, res end
  local msg = tostring(res)
  if msg:find("node %-?%d+ %(") then return false, "graph", msg end
  return false, "error", msg
end

M.new, M.run, M.Chooser = new_chooser, run, Chooser

-- ---- the supernet chooser -----------------------------------------------------

local SC = {}
SC.__index = SC
SC.__name = "nas.SupernetChooser"

local function sc_error(c, msg) error(("space '%s': %s"):format(c.space, msg), 0) end

function SC:op(name, values, fn, net)
  if type(name) ~= "string" or name == "" then sc_error(self, "c:op: decision name (a non-empty string) expected") end
  if type(values) ~= "table" or #values == 0 then
    sc_error(self, ("c:op: decision '%s': a non-empty list of values expected"):format(name))
  end
  if type(fn) ~= "function" then
    sc_error(self, ("c:op: decision '%s': fn (value -> node id) expected"):format(name))
  end
  if not is_net(net) then
    sc_error(self, ("c:op: decision '%s': a supernet build needs the net as 4th argument"):format(name))
  end
  if #values > 16 then
    sc_error(self, ("c:op: decision '%s' has %d values; mixed nodes take at most 16"):format(name, #values))
  end
  if self.fixed[name] ~= nil then
    self.pinned[name] = self.fixed[name]
    return fn(self.fixed[name])
  end
  local d = self.index[name]
  if d then
    if not same_values(self.decisions[d].values, values) then
      sc_error(self, ("decision '%s' is asked twice with different values"):format(name))
    end
  else
    d = #self.decisions + 1
    local copy = {}
    for i, v in ipairs(values) do copy[i] = v end
    self.decisions[d] = { name = name, values = copy }
    self.index[name] = d
  end
  local outs, ref = {}, nil
  for i, v in ipairs(values) do
    local id = fn(v)
    if id ~= nil and math.type(id) ~= "integer" then
      sc_error(self, ("c:op: decision '%s': fn(%s) must return a node id or nil, got %s")
               :format(name, fmt(v), type(id)))
    end
    outs[i] = id
    ref = ref or id
  end
  if ref == nil then return nil end -- every candidate is "none"
  for i = 1, #values do
    if outs[i] == nil then outs[i] = net:zero{ input = ref } end
  end
  return net:mixed{ inputs = outs, decision = d - 1 }
end

local function not_op(kind)
  return function(self, name)
    local v = self.fixed[name]
    if v == nil then v = self.base[name] end
    if v ~= nil then
      self.pinned[name] = v
      return v
    end
    sc_error(self, ("decision '%s' (c:%s) is not an op choice: supernets need a fixed topology " ..
                    "(give its value in opts.fixed or opts.base)"):format(tostring(name), kind))
  end
end
SC.choice, SC.int, SC.bool, SC.float = not_op("choice"), not_op("int"), not_op("bool"), not_op("float")
function SC.done() end

-- The supernet net of the space named `name` (function fn, options opts): net,
-- decisions ({name, values} in index order), pinned (name -> value of every
-- decision that is not mixed: from fixed, or from base for non-op decisions).
-- Errors are raised at `level`.
function M.supernet_net(name, fn, opts, fixed, base, level)
  local c = setmetatable({ supernet = true, space = name, fixed = fixed or {}, base = base or {},
                           decisions = {}, index = {}, pinned = {} }, SC)
  local net = fn(c, opts)
  if not is_net(net) then
    error(("space '%s': its function must return a net, got %s"):format(name, type(net)), level)
  end
  if #c.decisions == 0 then
    error(("space '%s' has no op decisions (c:op): nothing to mix"):format(name), level)
  end
  return net, c.decisions, c.pinned
end

return M
