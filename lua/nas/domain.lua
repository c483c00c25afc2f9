-- nas.domain: the domains of a space's decisions ({kind = "choice", values},
-- {kind = "int", lo, hi}, {kind = "bool"}, {kind = "float", lo, hi, log}) and
-- the operators over their values: draw, default, canon (a value's own copy in
-- the domain), nth value (enumeration), mutate, neighbours; format_value and
-- describe for messages. Used by nas.chooser and nas.space.
local M = {}

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

-- Whether two lists of values are equal, element by element.
local function same_values(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function same_domain(a, b)
  if a.kind ~= b.kind then return false end
  if a.kind == "choice" then return same_values(a.values, b.values) end
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

M.same_values, M.same_domain, M.canon, M.draw, M.default = same_values, same_domain, canon, draw, default
M.cardinality, M.nth_value, M.mutate_value, M.neighbour_values = cardinality, nth_value, mutate_value, neighbour_values

return M
