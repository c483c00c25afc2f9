-- nas.json: the one JSON codec of nasrun (store rows, worker messages,
-- checkpoints, graphs). It round-trips Lua values exactly:
--
--   local json = require "nas.json"
--   json.encode{ b = 16, a = 0.1 }     --> {"a":0.1,"b":16}
--   math.type(json.decode "16")        --> integer
--   math.type(json.decode "16.0")      --> float
--
-- - an integer is written as digits, a float always with a '.' or an exponent
--   (1.0 -> "1.0"), in the fewest of 15 or 17 significant digits that give
--   the same double back; NaN and +-inf are written as null;
-- - object keys are written in sorted order (plain string order; by their
--   string form when integer keys are mixed in), so that equal tables encode
--   to equal strings (genotype keys, cache keys);
-- - a table whose keys are exactly 1..#t is an array; any other table is an
--   object (integer keys become strings), an empty table is {};
-- - decode errors name what was expected and the byte position:
--   "json: ',' or ']' expected at position 7".

local json = {}

local byte, char, find, sub, format = string.byte, string.char, string.find, string.sub, string.format
local concat, sort, mtype = table.concat, table.sort, math.type
local huge = math.huge

-- ---- encoding ---------------------------------------------------------------

local ESCAPE = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
                 ['\r'] = '\\r', ['\t'] = '\\t' }
for c = 0, 31 do ESCAPE[char(c)] = ESCAPE[char(c)] or format("\\u%04x", c) end
ESCAPE["\127"] = "\\u007f"

local function encode_string(s)
  if not find(s, '[%c"\\]') then return '"' .. s .. '"' end -- the common case: nothing to escape
  return '"' .. s:gsub('[%c"\\]', ESCAPE) .. '"'
end

-- Object keys repeat (metric names, decision names, op attributes): their
-- encoded form with the colon ('"k":') is kept, up to a bound.
local key_cache, key_cached = {}, 0

local function encode_key(k)
  local e = key_cache[k]
  if e then return e end
  e = encode_string(k) .. ":"
  if key_cached < 4096 then
    key_cache[k], key_cached = e, key_cached + 1
  end
  return e
end

local function encode_number(v)
  if mtype(v) == "integer" then return tostring(v) end
  if v ~= v or v == huge or v == -huge then return "null" end
  local s = format("%.15g", v)
  if tonumber(s) ~= v then s = format("%.17g", v) end
  if not find(s, "[%.eEn]") then s = s .. ".0" end
  return s
end

local function by_string(a, b) return tostring(a) < tostring(b) end

-- Appends the encoding of v to out, whose last filled index is n; returns the new last index.
local function encode(v, out, n)
  local t = type(v)
  if t == "string" then
    out[n + 1] = encode_string(v)
    return n + 1
  elseif t == "number" then
    out[n + 1] = encode_number(v)
    return n + 1
  elseif t == "table" then
    local len = #v
    local is_array = len > 0
    if is_array then
      for k in pairs(v) do
        if mtype(k) ~= "integer" or k < 1 or k > len then is_array = false break end
      end
    end
    if is_array then
      out[n + 1] = "["
      n = encode(v[1], out, n + 1)
      for i = 2, len do
        out[n + 1] = ","
        n = encode(v[i], out, n + 1)
      end
      out[n + 1] = "]"
      return n + 1
    end
    local keys, nk, strings = {}, 0, true
    for k in pairs(v) do
      if type(k) ~= "string" then
        if mtype(k) ~= "integer" then
          error("json: keys must be strings or integers, got " .. type(k), 0)
        end
        strings = false
      end
      nk = nk + 1
      keys[nk] = k
    end
    -- sorted by their string form (plain string order when all keys are strings)
    if strings then sort(keys) else sort(keys, by_string) end
    out[n + 1] = "{"
    n = n + 1
    for i = 1, nk do
      local k = keys[i]
      if i > 1 then
        out[n + 1] = ","
        n = n + 1
      end
      out[n + 1] = strings and encode_key(k) or encode_string(tostring(k)) .. ":"
      local x = v[k]
      local tx = type(x)
      if tx == "string" then -- scalars inline: the common values of an object
        out[n + 2] = encode_string(x)
        n = n + 2
      elseif tx == "number" then
        out[n + 2] = mtype(x) == "integer" and tostring(x) or encode_number(x)
        n = n + 2
      else
        n = encode(x, out, n + 1)
      end
    end
    out[n + 1] = "}"
    return n + 1
  elseif t == "boolean" then
    out[n + 1] = v and "true" or "false"
    return n + 1
  elseif t == "nil" then
    out[n + 1] = "null"
    return n + 1
  end
  error("json: cannot encode a " .. t, 0)
end

function json.encode(v)
  local out = {}
  encode(v, out, 0)
  return concat(out)
end

-- ---- decoding ---------------------------------------------------------------

local function decode_error(i, what)
  error(format("json: %s at position %d", what, i), 0)
end

local function skip(s, i)
  local c = byte(s, i)
  if c and c ~= 32 and c ~= 9 and c ~= 10 and c ~= 13 then return i end -- compact JSON: no blanks
  return find(s, "[^ \t\r\n]", i) or #s + 1
end

local UNESCAPE = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }

-- A string with escapes, from its opening quote at i: one piece at a time.
local function decode_escaped(s, i)
  local out, j = {}, i + 1
  while true do
    local c = sub(s, j, j)
    if c == "" then decode_error(j, "unterminated string") end
    if c == '"' then return concat(out), j + 1 end
    if c == "\\" then
      local e = sub(s, j + 1, j + 1)
      local u = UNESCAPE[e]
      if u then
        out[#out + 1] = u
        j = j + 2
      elseif e == "u" then
        local hex = sub(s, j + 2, j + 5)
        -- exactly 4 hex digits (tonumber alone would take "-06c" or " 6c")
        local cp = find(hex, "^%x%x%x%x$") and tonumber(hex, 16)
        if not cp then decode_error(j, "bad \\u escape") end
        j = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF and sub(s, j, j + 1) == "\\u" then
          local lo = find(s, "^%x%x%x%x", j + 2) and tonumber(sub(s, j + 2, j + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            j = j + 6
          end
        end
        out[#out + 1] = utf8.char(cp)
      else
        decode_error(j, "bad escape")
      end
    else
      local k = find(s, '[\\"]', j) or #s + 1
      out[#out + 1] = sub(s, j, k - 1)
      j = k
    end
  end
end

-- A string from its opening quote at i: the string and the index after it.
local function decode_string(s, i)
  local k = find(s, '["\\]', i + 1)
  if k and byte(s, k) == 34 then return sub(s, i + 1, k - 1), k + 1 end -- no escapes: one slice
  -- escapes: find the closing quote, then unescape in one pass unless there is a \u
  local j, plain = k, true
  while j do
    if byte(s, j) == 34 then break end
    local e = sub(s, j + 1, j + 1)
    if not UNESCAPE[e] then plain = false break end
    j = find(s, '["\\]', j + 2)
  end
  if not plain or not j then return decode_escaped(s, i) end
  return (sub(s, i + 1, j - 1):gsub("\\(.)", UNESCAPE)), j + 1
end

-- bytes: { } [ ] " : , - t f n
local LBRACE, RBRACE, LBRACK, RBRACK, QUOTE, COLON, COMMA = 123, 125, 91, 93, 34, 58, 44
local MINUS, T, F, N = 45, 116, 102, 110

local function decode_number(s, i)
  local _, e = find(s, "^-?%d+", i)
  if not e then decode_error(i, "unexpected character") end
  local c = byte(s, e + 1)
  if c ~= 46 and c ~= 101 and c ~= 69 then -- no '.', 'e' or 'E': an integer
    return tonumber(sub(s, i, e)), e + 1 -- (a float past the integer range)
  end
  local _, f = find(s, "^%.?%d*[eE]?[-+]?%d*", e + 1)
  local v = tonumber(sub(s, i, f))
  if v == nil then decode_error(i, "bad number") end
  return v + 0.0, f + 1
end

local decode_value

local function decode_object(s, i)
  local t = {}
  i = skip(s, i + 1)
  if byte(s, i) == RBRACE then return t, i + 1 end
  while true do
    if byte(s, i) ~= QUOTE then decode_error(i, "object key expected") end
    local k
    k, i = decode_string(s, i)
    i = skip(s, i)
    if byte(s, i) ~= COLON then decode_error(i, "':' expected") end
    t[k], i = decode_value(s, i + 1)
    i = skip(s, i)
    local d = byte(s, i)
    if d == RBRACE then return t, i + 1 end
    if d ~= COMMA then decode_error(i, "',' or '}' expected") end
    i = skip(s, i + 1)
  end
end

local function decode_array(s, i)
  local t, n = {}, 0
  i = skip(s, i + 1)
  if byte(s, i) == RBRACK then return t, i + 1 end
  while true do
    n = n + 1
    t[n], i = decode_value(s, i)
    i = skip(s, i)
    local d = byte(s, i)
    if d == RBRACK then return t, i + 1 end
    if d ~= COMMA then decode_error(i, "',' or ']' expected") end
    i = i + 1
  end
end

function decode_value(s, i)
  i = skip(s, i)
  local c = byte(s, i)
  if c == QUOTE then return decode_string(s, i)
  elseif c == LBRACE then return decode_object(s, i)
  elseif c == LBRACK then return decode_array(s, i)
  elseif c == nil then decode_error(i, "unexpected end of input")
  elseif c == MINUS or (c >= 48 and c <= 57) then return decode_number(s, i)
  elseif c == T and sub(s, i, i + 3) == "true" then return true, i + 4
  elseif c == F and sub(s, i, i + 4) == "false" then return false, i + 5
  elseif c == N and sub(s, i, i + 3) == "null" then return nil, i + 4
  end
  decode_error(i, "unexpected character")
end

function json.decode(s)
  if type(s) ~= "string" then error("json.decode: string expected, got " .. type(s), 2) end
  local v, i = decode_value(s, 1)
  i = skip(s, i)
  if i <= #s then decode_error(i, "trailing characters") end
  return v
end

return json
