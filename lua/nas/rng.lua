-- nas.rng: a deterministic random number generator for searches.
--
--   local rng = nas.rng(42)            -- or nas.rng(seed, trial_id, ...): one stream per extra key
--   rng:uniform()                      -- [0, 1)
--   rng:int(1, 6)                      -- inclusive, unbiased
--   rng:choice{ "a", "b" }; rng:normal(); rng:shuffle(list)
--   local s = rng:state(); local same = nas.rng.from_state(s)
--
-- xoshiro256** (Blackman and Vigna) on Lua 5.4's 64-bit integers (wrap-around
-- arithmetic, logical shifts), seeded through splitmix64. Independent of
-- math.random, and the same sequence on every machine and run. The Lua code is the
-- reference; with nas.core, int / uniform / next run its C copy (nas.core.rng_bind:
-- the same outputs and state, one C call per draw).
local M = {}
local Rng = {}
Rng.__index = Rng
Rng.__name = "nas.Rng"

local function rotl(x, k)
  return (x << k) | (x >> (64 - k))
end

-- splitmix64 step: returns the new state and one output.
local function splitmix(z)
  z = z + 0x9e3779b97f4a7c15
  local x = z
  x = (x ~ (x >> 30)) * 0xbf58476d1ce4e5b9
  x = (x ~ (x >> 27)) * 0x94d049bb133111eb
  return z, x ~ (x >> 31)
end

-- A seed key as a 64-bit integer: integers as they are, integral floats
-- converted, strings hashed (FNV-1a).
local function key_int(v, n)
  if math.type(v) == "integer" then return v end
  if math.type(v) == "float" then
    local i = math.tointeger(v)
    if i then return i end
  elseif type(v) == "string" then
    local h = 0xcbf29ce484222325
    for i = 1, #v do h = (h ~ v:byte(i)) * 0x100000001b3 end
    return h
  end
  error(("bad argument #%d to 'rng' (seed must be an integer or a string, got %s)")
        :format(n, math.type(v) or type(v)), 3)
end

-- Seeding, with splitmix64 written out (this runs once per trial): z is the
-- splitmix state; each extra key k replaces z by splitmix-output(z) ~ k; then
-- four splitmix steps give the xoshiro state.
local G, M1, M2 = 0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9, 0x94d049bb133111eb
local mtype = math.type

local function seeded(z)
  local x
  z = z + G; x = z; x = (x ~ (x >> 30)) * M1; x = (x ~ (x >> 27)) * M2; local s1 = x ~ (x >> 31)
  z = z + G; x = z; x = (x ~ (x >> 30)) * M1; x = (x ~ (x >> 27)) * M2; local s2 = x ~ (x >> 31)
  z = z + G; x = z; x = (x ~ (x >> 30)) * M1; x = (x ~ (x >> 27)) * M2; local s3 = x ~ (x >> 31)
  z = z + G; x = z; x = (x ~ (x >> 30)) * M1; x = (x ~ (x >> 27)) * M2; local s4 = x ~ (x >> 31)
  if s1 == 0 and s2 == 0 and s3 == 0 and s4 == 0 then s1 = 1 end
  return setmetatable({ s1, s2, s3, s4 }, Rng)
end

local function new(seed, ...)
  if seed == nil then seed = 0 end
  local z = mtype(seed) == "integer" and seed or key_int(seed, 1)
  local n = select("#", ...)
  if n == 1 then -- nas.rng(seed, trial id): the common case, no loop
    local v = ...
    if mtype(v) ~= "integer" then v = key_int(v, 2) end
    local x = z + G
    x = (x ~ (x >> 30)) * M1; x = (x ~ (x >> 27)) * M2
    return seeded((x ~ (x >> 31)) ~ v)
  end
  -- Extra keys (e.g. a trial id) select independent streams of the same seed.
  for i = 1, n do
    local _, h = splitmix(z)
    local v = select(i, ...)
    z = h ~ (mtype(v) == "integer" and v or key_int(v, i + 1))
  end
  return seeded(z)
end

local function check(self, fname)
  if getmetatable(self) ~= Rng then
    error(("bad argument #1 to '%s' (rng expected; call it as rng:%s(...))"):format(fname, fname), 3)
  end
end

-- Next raw 64-bit output (any integer, negative ones included).
function Rng:next()
  local s0, s1, s2, s3 = self[1], self[2], self[3], self[4]
  local result = rotl(s1 * 5, 7) * 9
  local t = s1 << 17
  s2 = s2 ~ s0
  s3 = s3 ~ s1
  s1 = s1 ~ s2
  s0 = s0 ~ s3
  s2 = s2 ~ t
  s3 = rotl(s3, 45)
  self[1], self[2], self[3], self[4] = s0, s1, s2, s3
  return result
end

-- A float in [0, 1) with 53 random bits.
function Rng:uniform()
  if getmetatable(self) ~= Rng then check(self, "uniform") end
  return (self:next() >> 11) * 0x1p-53
end

-- Smallest bit count that holds r (r > 0 as an unsigned 64-bit integer).
local function bits_of(r)
  local bits = 1
  while bits < 64 and (r >> bits) ~= 0 do bits = bits + 1 end
  return bits
end
local SMALL_BITS = {}
for r = 1, 4095 do SMALL_BITS[r] = bits_of(r) end

-- An integer in [lo, hi] (both inclusive), without modulo bias.
local function int_slow(self, lo, hi)
  if getmetatable(self) ~= Rng then error("bad argument #1 to 'int' (rng expected; call it as rng:int(...))", 3) end
  if mtype(lo) ~= "integer" or mtype(hi) ~= "integer" then
    lo, hi = math.tointeger(lo), math.tointeger(hi)
    if not lo or not hi then error("bad argument to 'int' (integers lo, hi expected)", 3) end
  end
  if hi < lo then error(("bad argument to 'int' (empty range %d..%d)"):format(lo, hi), 3) end
  return lo, hi
end

function Rng:int(lo, hi)
  -- The reference draw (with nas.core, Rng.int is its C version below: the same draws). Checks
  -- in int_slow; then the top bits(range) bits of the next output, outputs above range rejected.
  lo, hi = int_slow(self, lo, hi)
  local range = hi - lo
  if range == 0 then return lo end
  local shift = 64 - (SMALL_BITS[range] or bits_of(range))
  local s0, s1, s2, s3 = self[1], self[2], self[3], self[4]
  while true do
    local r = s1 * 5
    local x = (((r << 7) | (r >> 57)) * 9) >> shift
    local t = s1 << 17
    s2 = s2 ~ s0
    s3 = s3 ~ s1
    s1 = s1 ~ s2
    s0 = s0 ~ s3
    s2 = s2 ~ t
    s3 = (s3 << 45) | (s3 >> 19)
    -- x <= range as unsigned 64-bit integers (x >= 0 unless bits = 64; range < 0 is above 2^63)
    if x <= range or (range < 0 and x >= 0) then
      self[1], self[2], self[3], self[4] = s0, s1, s2, s3
      return lo + x
    end
  end
end

-- The Lua draws above are the reference (and what runs without nas.core); with nas.core, int,
-- uniform and next are its C versions of the same code: the same outputs and state updates, the
-- same errors (a non-rng self, e.g. rng.int(1, 6) for rng:int(1, 6), is named at the caller's
-- line), one C call per draw. NAS_RNG_LUA=1 in the environment keeps the Lua draws.
M.lua_draws = { int = Rng.int, uniform = Rng.uniform, next = Rng.next }
do
  local ok, core = pcall(require, "nas.core")
  if ok and type(core) == "table" and core.rng_bind and not os.getenv("NAS_RNG_LUA") then
    Rng.int, Rng.uniform, Rng.next = core.rng_bind(Rng)
  end
end

-- A uniformly chosen element of a non-empty list.
function Rng:choice(list)
  check(self, "choice")
  if type(list) ~= "table" or #list == 0 then
    error("bad argument #1 to 'choice' (non-empty list expected)", 2)
  end
  return list[self:int(1, #list)]
end

-- A standard normal deviate (Box-Muller; two uniforms per call).
function Rng:normal(mean, sd)
  check(self, "normal")
  if mean ~= nil and not (type(mean) == "number" and mean - mean == 0) then
    error("bad argument #1 to 'normal' (finite number expected)", 2)
  end
  if sd ~= nil and not (type(sd) == "number" and sd >= 0 and sd - sd == 0) then
    error("bad argument #2 to 'normal' (finite number >= 0 expected)", 2)
  end
  local u1 = 1 - self:uniform() -- (0, 1]
  local u2 = self:uniform()
  local z = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
  return (mean or 0) + (sd or 1) * z
end

-- Fisher-Yates shuffle in place; returns the list.
function Rng:shuffle(list)
  check(self, "shuffle")
  if type(list) ~= "table" then error("bad argument #1 to 'shuffle' (list expected)", 2) end
  for i = #list, 2, -1 do
    local j = self:int(1, i)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

-- k distinct indices from 1..n, in draw order.
function Rng:sample(n, k)
  check(self, "sample")
  if math.type(n) ~= "integer" or n < 0 then error("bad argument #1 to 'sample' (integer n >= 0 expected)", 2) end
  if math.type(k) ~= "integer" or k < 0 then error("bad argument #2 to 'sample' (integer k >= 0 expected)", 2) end
  if k > n then error(("bad argument to 'sample' (cannot draw %d of %d)"):format(k, n), 2) end
  local idx, out = {}, {}
  for i = 1, k do
    local j = self:int(i, n)
    local a, b = idx[i] or i, idx[j] or j
    idx[i], idx[j] = b, a
    out[i] = b
  end
  return out
end

-- An independent generator derived from this one (advances this one once).
function Rng:split()
  check(self, "split")
  return new(self:next())
end

-- The state as a 64-character hex string (JSON-safe); nas.rng.from_state(s).
function Rng:state()
  check(self, "state")
  return ("%016x%016x%016x%016x"):format(self[1], self[2], self[3], self[4])
end

function Rng:clone()
  check(self, "clone")
  return setmetatable({ self[1], self[2], self[3], self[4] }, Rng)
end

Rng.__tostring = function(self) return "nas.Rng(" .. self:state() .. ")" end

local function from_state(s)
  if type(s) ~= "string" or not s:match("^%x+$") or #s ~= 64 then
    error("bad argument #1 to 'from_state' (a 64-digit hex string from rng:state() expected)", 2)
  end
  local t = {}
  for i = 1, 4 do
    -- Two 32-bit halves: tonumber on 16 hex digits would overflow to a float.
    local hi = tonumber(s:sub(16 * i - 15, 16 * i - 8), 16)
    local lo = tonumber(s:sub(16 * i - 7, 16 * i), 16)
    t[i] = (hi << 32) | lo
  end
  return setmetatable(t, Rng)
end

function M.is_rng(x) return getmetatable(x) == Rng end
M.from_state = from_state
M.Rng = Rng

-- nas.rng is this callable table: nas.rng(seed [, stream...]), nas.rng.from_state(s).
M.new = setmetatable({ from_state = from_state, is_rng = M.is_rng }, {
  __call = function(_, ...) return new(...) end,
})

return M
