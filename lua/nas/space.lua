-- nas.space: define-by-run search spaces.
--
--   local space = nas.space("chain", function(c, opts)
--     local net = nas.net{ input = opts.input }
--     for i = 1, c:int("depth", 2, 6) do
--       net:conv{ out = c:choice("width" .. i, {16, 32, 64}), k = 3 }; net:relu()
--     end
--     net:gap(); net:linear{ out = opts.classes }
--     return net
--   end, { input = {1, 28, 28}, classes = 10 })
--
--   local g = space:sample(nas.rng(1))     -- { depth = 3, width1 = 32, ... }
--   local net, why = space:build(g)        -- nil, reason for a bad genotype
--   space:mutate(g, rng); space:crossover(a, b, rng); space:neighbours(g)
--   space:decisions(g); space:key(g); space:size(); for g in space:enumerate() do ... end
--   local big = space.with{ classes = 100 }  -- the same space with other options
--
-- The chooser: c:choice(name, values), c:int(name, lo, hi), c:bool(name),
-- c:float(name, lo, hi [, {log = true}]) each return the decision's value;
-- c:op(name, values, fn, net) returns fn(value) (an op decision: a supernet
-- build, space:supernet_net / nas.supernet, mixes every value instead);
-- c:done() (optional) says no decisions follow, so enumeration can stop there.
-- Asking one name again returns the same value; with another domain it is an
-- error naming the decision.
--
-- A genotype is a plain table decision name -> value (number, string or
-- boolean). Running the space's function with a chooser `c` is the only way to
-- learn which decisions exist: the chooser answers each c:choice/int/bool/float
-- from the genotype (build), from an rng (sample), or from a mix (mutate,
-- crossover, neighbours). Canonical genotypes hold only the decisions asked.
--
-- The parts: nas.domain (decision domains and their value operators),
-- nas.genotype (genotype keys), nas.chooser (the choosers and running a space
-- function); this file is the space object and its methods.
local util = require "nas.util"
local domain = require "nas.domain"
local genotype = require "nas.genotype"
local chooser = require "nas.chooser"

local canon, cardinality = domain.canon, domain.cardinality
local mutate_value, neighbour_values = domain.mutate_value, domain.neighbour_values
local copy, deep_copy = genotype.copy, genotype.deep_copy

local M = {}
local Space = {}
Space.__index = Space
Space.__name = "nas.Space"

-- How many draws sample/mutate/crossover make to find a genotype that builds.
M.tries = 16
-- size() gives up (nil, reason) after this many runs of the space's function.
M.count_limit = 50000

-- (for the callers that find them here)
M.format_value, M.describe = domain.format_value, domain.describe
M.genotype_key, M.key_function = genotype.key, genotype.key_function

local function new_chooser(space, mode, fields)
  return chooser.new(space.name, space._restrict, mode, fields)
end

local function run(space, c)
  return chooser.run(space.name, space._fn, space.opts, c)
end

local function check_space(self, fname)
  if getmetatable(self) ~= Space then
    util.argerror(1, fname, "space expected (call it as space:" .. fname .. "(...))", 3)
  end
end

local function check_genotype(g, n, fname)
  if type(g) ~= "table" then util.argerror(n, fname, "genotype (a table) expected, got " .. type(g), 3) end
end

local function check_rng(rng, n, fname)
  if type(rng) ~= "table" or type(rng.int) ~= "function" or type(rng.uniform) ~= "function" then
    util.argerror(n, fname, "rng (from nas.rng(seed)) expected, got " .. type(rng), 3)
  end
end

-- Runs in fill mode; raises on space misuse or Lua errors (bugs in the space
-- function), returns the canonical genotype and whether its net builds.
local function fill(self, fields, level)
  local c = new_chooser(self, "fill", fields)
  local ok, kind, msg = run(self, c)
  if not ok and kind ~= "graph" then
    error(msg, level + 1)
  end
  return c.out, ok, c.trace
end

-- Repeats make() until it gives a genotype that builds and (if `differs`) a
-- key other than `differs`; falls back to the first acceptable-but-unbuildable one.
local function with_tries(self, make, differs)
  local fallback
  for _ = 1, (rawget(self, "tries") or M.tries) do
    local g, ok = make()
    local key = differs and M.genotype_key(g)
    if not differs or key ~= differs then
      if ok then return g end
      fallback = fallback or g
    end
  end
  return fallback or make()
end

-- Fields M.new sets; anything else on a space was attached by its file.
local own_fields = { name = true, _fn = true, opts = true, with = true, _restrict = true, label = true }

-- ---- Space methods ----------------------------------------------------------------

function Space:sample(rng)
  check_space(self, "sample")
  check_rng(rng, 2, "sample")
  return (with_tries(self, function() return fill(self, { g = {}, rng = rng }, 4) end))
end

-- net, or nil + reason (missing/out-of-domain decision, or the core's graph error).
function Space:build(g)
  check_space(self, "build")
  if type(g) ~= "table" then return nil, "genotype must be a table, got " .. type(g) end
  local c = new_chooser(self, "strict", { g = g })
  local ok, res, msg = run(self, c)
  if ok then return res end
  return nil, msg
end

-- The canonical genotype (active decisions only), or nil + reason.
function Space:canonical(g)
  check_space(self, "canonical")
  check_genotype(g, 2, "canonical")
  local c = new_chooser(self, "strict", { g = g })
  local ok, kind, msg = run(self, c)
  if ok or kind == "graph" then return c.out end
  return nil, msg
end

local function public_record(r)
  local d = { name = r.name, kind = r.kind, value = r.value }
  if r.kind == "choice" then d.values = copy(r.values)
  elseif r.kind == "int" or r.kind == "float" then d.lo, d.hi = r.lo, r.hi end
  if r.kind == "float" then d.log = r.log end
  return d
end

-- Ordered list of the decisions g uses ({name, kind, values | lo, hi, log, value}).
-- A genotype whose net the core rejects gives the decisions up to the failing
-- node and the reason; a missing or out-of-domain decision gives nil, reason.
function Space:decisions(g)
  check_space(self, "decisions")
  check_genotype(g, 2, "decisions")
  local c = new_chooser(self, "strict", { g = g })
  local ok, kind, msg = run(self, c)
  if not ok and kind ~= "graph" then return nil, msg end
  local out = {}
  for i, r in ipairs(c.trace) do out[i] = public_record(r) end
  if ok then return out end
  return out, msg
end

function Space:key(g)
  check_space(self, "key")
  check_genotype(g, 2, "key")
  local canonical = self:canonical(g)
  return M.genotype_key(canonical or g)
end

-- A canonical copy of g, with missing or out-of-domain decisions drawn from rng.
local function repair(self, g, rng)
  return fill(self, { g = g, rng = rng }, 4)
end

local function mutable(r)
  return cardinality(r) > 1
end

function Space:mutate(g, rng, rate)
  check_space(self, "mutate")
  check_genotype(g, 2, "mutate")
  check_rng(rng, 3, "mutate")
  if rate ~= nil and (type(rate) ~= "number" or not (rate >= 0 and rate <= 1)) then
    util.argerror(4, "mutate", "rate must be a number in [0, 1]", 2)
  end
  local parent, _, trace = repair(self, g, rng)
  local cands = {}
  for _, r in ipairs(trace) do
    if mutable(r) then cands[#cands + 1] = r end
  end
  if #cands == 0 then return parent end -- a space of one genotype
  local pkey = M.genotype_key(parent)
  return (with_tries(self, function()
    local child = copy(parent)
    local changed = false
    if rate then
      for _, r in ipairs(cands) do
        if rng:uniform() < rate then
          child[r.name] = mutate_value(r, parent[r.name], rng)
          changed = true
        end
      end
    end
    if not changed then
      local r = cands[rng:int(1, #cands)]
      child[r.name] = mutate_value(r, parent[r.name], rng)
    end
    return repair(self, child, rng)
  end, pkey))
end

function Space:crossover(a, b, rng)
  check_space(self, "crossover")
  check_genotype(a, 2, "crossover")
  check_genotype(b, 3, "crossover")
  check_rng(rng, 4, "crossover")
  local child = with_tries(self, function()
    local function pick(name, d)
      local va, vb = canon(d, a[name]), canon(d, b[name])
      if va ~= nil and vb ~= nil and va ~= vb then
        if rng:int(0, 1) == 0 then return va end
        return vb
      end
      if va ~= nil then return va end
      return vb
    end
    return fill(self, { pick = pick, rng = rng }, 5)
  end)
  return child
end

-- All genotypes one decision away from g that build (newly active decisions
-- take their first value), without duplicates, in decision order.
function Space:neighbours(g)
  check_space(self, "neighbours")
  check_genotype(g, 2, "neighbours")
  local base, _, trace = fill(self, { g = g }, 3)
  local seen = { [M.genotype_key(base)] = true }
  local out = {}
  for _, r in ipairs(trace) do
    for _, v in ipairs(neighbour_values(r, base[r.name])) do
      local t = copy(base)
      t[r.name] = v
      local n, ok = fill(self, { g = t }, 3)
      local key = M.genotype_key(n)
      if ok and not seen[key] then
        seen[key] = true
        out[#out + 1] = n
      end
    end
  end
  return out
end

-- Iterator over all genotypes in lexicographic order of the decisions' values
-- (depth-first). Raises if a float decision makes the space infinite.
function Space:enumerate()
  check_space(self, "enumerate")
  local stack = { {} }
  local space = self
  return function()
    while #stack > 0 do
      local prefix = table.remove(stack)
      local c = new_chooser(space, "enum", { prefix = prefix })
      local ok, kind, msg, err = run(space, c)
      if ok or kind == "graph" or kind == "complete" then return c.out end
      if kind ~= "branch" then error(msg, 2) end
      for i = cardinality(err.domain), 1, -1 do
        local p = copy(prefix)
        p[#p + 1] = i
        stack[#stack + 1] = p
      end
    end
    return nil
  end
end

-- Number of genotypes; nil + reason for infinite spaces (float decisions) or
-- ones too large to count by enumeration (unless the space has a count hook).
function Space:size()
  check_space(self, "size")
  if self.count then return self:count() end
  local stack, n, runs = { {} }, 0, 0
  while #stack > 0 do
    runs = runs + 1
    if runs > M.count_limit then
      return nil, ("space '%s' is too large to count by enumeration (more than %d genotypes)")
             :format(self.name, n)
    end
    local prefix = table.remove(stack)
    local c = new_chooser(self, "enum", { prefix = prefix })
    local ok, kind, msg, err = run(self, c)
    if ok or kind == "graph" or kind == "complete" then
      n = n + 1
    elseif kind == "branch" then
      for i = cardinality(err.domain), 1, -1 do
        local p = copy(prefix)
        p[#p + 1] = i
        stack[#stack + 1] = p
      end
    elseif msg:find("is infinite") then
      return nil, msg
    else
      error(msg, 2)
    end
  end
  return n
end

-- Complexity for progressive schedules: the net's parameter count unless the
-- space defines its own hook (space.complexity = function(self, g) ... end).
function Space:complexity(g)
  local net = self:build(g)
  return net and net:params() or nil
end

-- A view of this space whose decisions' domains pass through f(decision, name) ->
-- narrower decision (or nil: unchanged) (same fields: kind, values | lo, hi, log). Genotypes of
-- the view are genotypes of the space.
function Space:restrict(f, label)
  check_space(self, "restrict")
  if type(f) ~= "function" then util.argerror(2, "restrict", "function expected", 2) end
  if label ~= nil and type(label) ~= "string" then util.argerror(3, "restrict", "label (string) expected", 2) end
  local view = M.new(self.name, self._fn, self.opts)
  for k, v in pairs(self) do
    if not own_fields[k] then view[k] = v end
  end
  local inner = self._restrict
  if inner then
    view._restrict = function(d, name) return f(inner(d, name) or d, name) end
  else
    view._restrict = f
  end
  view.label = label
  return view
end

-- The space's supernet net (every op decision's values joined by mixed nodes)
-- and its decisions ({name, values} in index order); opts.fixed gives the
-- values of non-op decisions. nas.supernet(space, opts) builds its model.
function Space:supernet_net(opts)
  check_space(self, "supernet_net")
  util.check_options(opts, { "fixed", "base" }, 2, "supernet_net", 2)
  for _, k in ipairs{ "fixed", "base" } do
    if opts and opts[k] ~= nil and type(opts[k]) ~= "table" then
      util.argerror(2, "supernet_net", ("field '%s' must be a table name -> value"):format(k), 2)
    end
  end
  return chooser.supernet_net(self.name, self._fn, self.opts, opts and opts.fixed, opts and opts.base, 3)
end

Space.__tostring = function(self)
  return ("nas.Space(%s)"):format(self.name)
end

-- nas.space(name, fn [, defaults]): fn(c, opts) returns a net; opts are the
-- defaults merged with space.with{...} overrides.
function M.new(name, fn, defaults)
  if type(name) ~= "string" or name == "" then util.argerror(1, "space", "name (a string) expected", 2) end
  if type(fn) ~= "function" then util.argerror(2, "space", "function(c, opts) expected, got " .. type(fn), 2) end
  if defaults ~= nil and type(defaults) ~= "table" then
    util.argerror(3, "space", "options table expected, got " .. type(defaults), 2)
  end
  local self = setmetatable({ name = name, _fn = fn, opts = deep_copy(defaults or {}) }, Space)
  -- space.with{...} (or space:with{...}): the same space with other options.
  self.with = function(a, b)
    local over = a
    if getmetatable(a) == Space then over = b end
    if over == nil then over = {} end
    if type(over) ~= "table" then util.argerror(1, "with", "options table expected, got " .. type(over), 2) end
    local keys = {}
    for k in pairs(self.opts) do keys[#keys + 1] = k end
    util.check_options(over, keys, 1, name .. ".with", 2)
    local merged = deep_copy(self.opts)
    for k, v in pairs(over) do merged[k] = deep_copy(v) end
    local s = M.new(name, fn, merged)
    for k, v in pairs(self) do -- hooks and helpers the space file attached
      if not own_fields[k] then s[k] = v end
    end
    return s
  end
  return self
end

-- The space's function (c, opts) -> net, as given to nas.space (a space that
-- reuses another's function under its own name and options: spaces/nb201.lua).
function Space:definition()
  check_space(self, "definition")
  return self._fn
end

-- The supernet net of space (as space:supernet_net gives it), errors raised at
-- `level` as seen from the caller (nas.supernet).
function M.supernet_net(space, fixed, base, level)
  return chooser.supernet_net(space.name, space._fn, space.opts, fixed, base, level + 2)
end

function M.is_space(x) return getmetatable(x) == Space end
M.Space = Space

return M
