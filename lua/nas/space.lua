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
local util = require "nas.util"

local M = {}
local Space = {}
Space.__index = Space
Space.__name = "nas.Space"

-- How many draws sample/mutate/crossover make to find a genotype that builds.
M.tries = 16
-- size() gives up (nil, reason) after this many runs of the space's function.
M.count_limit = 50000

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

-- ---- values and domains -----------------------------------------------------

local function fmt(v)
  if type(v) == "string" then
    -- %q adds only the quotes to a string without controls, quotes or backslashes
    if not v:find('[%c"\\]') then return '"' .. v .. '"' end
    return ("%q"):format(v)
  end
  if type(v) == "number" then
    local i = math.tointeger(v)
    if i then return tostring(i) end
    return ("%.17g"):format(v)
  end
  return tostring(v)
end
M.format_value = fmt

local function describe(d)
  if d.kind == "choice" then
    local parts = {}
    for i, v in ipairs(d.values) do parts[i] = fmt(v) end
    return "choice of {" .. table.concat(parts, ", ") .. "}"
  elseif d.kind == "int" then
    return ("int %d..%d"):format(d.lo, d.hi)
  elseif d.kind == "float" then
    return ("float %s..%s%s"):format(fmt(d.lo), fmt(d.hi), d.log and " (log)" or "")
  end
  return "bool"
end
M.describe = describe

local function same_domain(a, b)
  if a.kind ~= b.kind then return false end
  if a.kind == "choice" then
    if #a.values ~= #b.values then return false end
    for i, v in ipairs(a.values) do
      if v ~= b.values[i] then return false end
    end
    return true
  end
  return a.lo == b.lo and a.hi == b.hi and (a.log or false) == (b.log or false)
end

-- The domain's own copy of v (so 16.0 read back from JSON becomes 16), or nil.
local function canon(d, v)
  if v == nil then return nil end
  local k = d.kind
  if k == "choice" then
    for _, x in ipairs(d.values) do
      if x == v and type(x) == type(v) then return x end
    end
  elseif k == "int" then
    local i = type(v) == "number" and math.tointeger(v)
    if i and i >= d.lo and i <= d.hi then return i end
  elseif k == "bool" then
    if type(v) == "boolean" then return v end
  elseif type(v) == "number" and v >= d.lo and v <= d.hi then -- float (NaN fails)
    return v + 0.0
  end
  return nil
end

local function tf(d, x) if d.log then return math.log(x) end return x end
local function itf(d, y) if d.log then return math.exp(y) end return y end

local function draw(d, rng)
  local k = d.kind
  if k == "choice" then return d.values[rng:int(1, #d.values)] end
  if k == "int" then return rng:int(d.lo, d.hi) end
  if k == "bool" then return rng:int(0, 1) == 1 end
  local a, b = tf(d, d.lo), tf(d, d.hi)
  local v = itf(d, a + rng:uniform() * (b - a))
  return math.min(math.max(v, d.lo), d.hi) + 0.0
end

-- Deterministic value for a decision that appears without an rng (neighbours).
local function default(d)
  if d.kind == "choice" then return d.values[1] end
  if d.kind == "bool" then return false end
  if d.kind == "float" then return d.lo + 0.0 end
  return d.lo
end

-- Number of values a decision can take (math.huge for floats with lo < hi).
local function cardinality(d)
  if d.kind == "choice" then return #d.values end
  if d.kind == "int" then return d.hi - d.lo + 1 end
  if d.kind == "bool" then return 2 end
  return d.hi > d.lo and math.huge or 1
end

local function nth_value(d, i)
  if d.kind == "choice" then return d.values[i] end
  if d.kind == "int" then return d.lo + i - 1 end
  if d.kind == "bool" then return i == 2 end
  return d.lo + 0.0
end

-- A different value of d than v.
local function mutate_value(d, v, rng)
  local k = d.kind
  if k == "bool" then return not v end
  if k == "float" then
    local a, b = tf(d, d.lo), tf(d, d.hi)
    for _ = 1, 8 do
      local y = tf(d, v) + rng:normal() * 0.1 * (b - a)
      if y < a then y = 2 * a - y end
      if y > b then y = 2 * b - y end
      local nv = math.min(math.max(itf(d, y), d.lo), d.hi) + 0.0
      if nv ~= v then return nv end
    end
    return draw(d, rng)
  end
  local n = cardinality(d)
  local i = 1
  for j = 1, n do
    if nth_value(d, j) == v then i = j break end
  end
  local j = rng:int(1, n - 1)
  if j >= i then j = j + 1 end
  return nth_value(d, j)
end

-- Values one step away from v, for local search.
local function neighbour_values(d, v)
  local out = {}
  local k = d.kind
  if k == "bool" then return { not v } end
  if k == "choice" then
    for _, x in ipairs(d.values) do
      if x ~= v then out[#out + 1] = x end
    end
    return out
  end
  local seen = { [v] = true }
  local function add(x)
    if x >= d.lo and x <= d.hi and not seen[x] then
      seen[x] = true
      out[#out + 1] = x
    end
  end
  if k == "int" then
    if d.hi - d.lo <= 16 then
      for x = d.lo, d.hi do add(x) end
    else
      local step = math.max(2, (d.hi - d.lo) // 8)
      add(v - step); add(v - 1); add(v + 1); add(v + step)
    end
    return out
  end
  local a, b = tf(d, d.lo), tf(d, d.hi)
  for _, f in ipairs({ -0.2, -0.05, 0.05, 0.2 }) do
    local y = math.min(math.max(tf(d, v) + f * (b - a), a), b)
    add(math.min(math.max(itf(d, y), d.lo), d.hi) + 0.0)
  end
  return out
end

-- Canonical string of a genotype (sorted names; 16.0 and 16 are the same).
-- Strategies key every ask and tell, so for the last set of (string) names
-- seen, the sorted names are kept and the keys are memoised in a trie over the
-- values (a table index per decision instead of building the string again).
local last_n, last_set, last_sorted, trie, trie_size = -1, {}, nil, {}, 0
local TRIE_MAX = 200000
local KEY = {} -- the trie's leaf field (never a decision value)

local function build_key(g, names)
  local parts = {}
  for i = 1, #names do
    local k = names[i]
    parts[i] = k .. "=" .. fmt(g[k])
  end
  return table.concat(parts, ";")
end

function M.genotype_key(g)
  local n, same = 0, true
  for k in pairs(g) do
    n = n + 1
    if same and not last_set[k] then same = false end
  end
  if not same or n ~= last_n then
    local names, set, strings = {}, {}, true
    for k in pairs(g) do
      names[#names + 1] = tostring(k)
      if type(k) == "string" then set[k] = true else strings = false end
    end
    table.sort(names)
    if not strings then return build_key(g, names) end
    last_n, last_set, last_sorted, trie, trie_size = n, set, names, {}, 0
  end
  local names, node = last_sorted, trie
  for i = 1, n do
    local v = g[names[i]]
    if v ~= v then return build_key(g, names) end -- NaN cannot index the trie
    local nxt = node[v]
    if not nxt then
      if trie_size >= TRIE_MAX then trie, trie_size = {}, 0 end
      local key = build_key(g, names)
      node = trie
      for j = 1, n do
        local w = g[names[j]]
        local c = node[w]
        if not c then
          c = {}
          node[w] = c
        end
        node = c
      end
      node[KEY] = key
      trie_size = trie_size + 1
      return key
    end
    node = nxt
  end
  local key = node[KEY]
  if not key then
    key = build_key(g, names)
    node[KEY] = key
    trie_size = trie_size + 1
  end
  return key
end

-- The de-duplication key of a space's genotypes, as a function g -> key. A space
-- may number its genotypes with an optional hook space:int_key(g) -> an integer
-- that names g's canonical genotype (spaces/nb201.lua: its cell code), or nil for
-- a genotype it cannot number; the key is that integer, else M.genotype_key(g).
-- (Integer and string keys never collide.) Strategies key every ask and tell;
-- an integer is cheaper to make and to look up than the canonical string.
local keyfns = setmetatable({}, { __mode = "k" })
function M.key_function(space)
  local f = keyfns[space]
  if f then return f end
  local ik = type(space) == "table" and space.int_key
  if type(ik) == "function" then
    local gkey = M.genotype_key
    f = function(g) return ik(space, g) or gkey(g) end
  else
    f = M.genotype_key
  end
  if type(space) == "table" then keyfns[space] = f end
  return f
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local function deep_copy(t)
  if type(t) ~= "table" then return t end
  local out = {}
  for k, v in pairs(t) do out[k] = deep_copy(v) end
  return out
end

-- ---- the chooser ----------------------------------------------------------------

-- Modes: "strict" reads every decision from c.g and aborts on a missing or
-- out-of-domain one; "fill" reads c.g (or c.pick) and draws the rest from
-- c.rng (or takes defaults); "enum" follows c.prefix (value indices) and
-- aborts with a branch at the first decision past it.
local Chooser = {}
Chooser.__index = Chooser
Chooser.__name = "nas.Chooser"

local function new_chooser(space, mode, fields)
  local c = setmetatable(fields or {}, Chooser)
  c.mode, c.space, c.restrict = mode, space.name, space._restrict
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
  if type(lo) ~= "number" or type(hi) ~= "number" or not (lo <= hi) then
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
-- fn(c:choice(name, values)); nas.supernet's chooser (lua/nas/supernet.lua)
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

-- ok, net | false, kind, message, err. kind: "genotype", "space", "branch",
-- "graph" (the core rejected a node) or "error" (any other Lua error).
local function run(space, c)
  local ok, res = pcall(space._fn, c, space.opts)
  if ok then
    if not is_net(res) then
      return false, "space", ("space '%s': its function must return a net (from nas.net{...}), got %s")
             :format(space.name, type(res))
    end
    return true, res
  end
  if getmetatable(res) == Abort then return false, res.kind, res.msg, res end
  local msg = tostring(res)
  if msg:find("node %-?%d+ %(") then return false, "graph", msg end
  return false, "error", msg
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
  if rate ~= nil and (type(rate) ~= "number" or rate < 0 or rate > 1) then
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
  return require("nas.supernet").build(self, opts and opts.fixed, opts and opts.base)
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

function M.is_space(x) return getmetatable(x) == Space end
M.Space = Space

return M
