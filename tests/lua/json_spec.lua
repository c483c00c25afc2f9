-- nas.json: exact round trips (integers and floats apart, 17 significant
-- digits), sorted keys, escapes, and decode errors that name the position.
local json = require "nas.json"

local function roundtrip(v) return json.decode(json.encode(v)) end

describe("nas.json", function()
  it("keeps integers and floats apart, both ways", function()
    assert.are.equal("16", json.encode(16))
    assert.are.equal("16.0", json.encode(16.0))
    assert.are.equal("-3.0", json.encode(-3.0))
    assert.are.equal("integer", math.type(json.decode("16")))
    assert.are.equal("float", math.type(json.decode("16.0")))
    assert.are.equal("float", math.type(json.decode("1e2")))
    assert.are.equal("float", math.type(json.decode("-2E-3")))
    assert.are.equal(100.0, json.decode("1e2"))
    assert.are.equal(math.maxinteger, json.decode(json.encode(math.maxinteger)))
    assert.are.equal(math.mininteger, json.decode(json.encode(math.mininteger)))
    assert.are.equal("integer", math.type(roundtrip(math.maxinteger)))
    -- past the integer range: a float, never a wrapped integer
    assert.are.equal("float", math.type(json.decode("9223372036854775808")))
    assert.are.equal(2 ^ 63, json.decode("9223372036854775808"))
  end)

  it("keeps every float exactly (15 digits when they suffice, else 17)", function()
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal("0.30000000000000004", json.encode(0.1 + 0.2))
    assert.are.equal("0.33333333333333331", json.encode(1 / 3))
    assert.are.equal("1e-05", json.encode(1e-5))
    assert.are.equal("9007199254740992.0", json.encode(2.0 ^ 53))
    local seed = 12345
    for _ = 1, 2000 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      local v = (seed / 2147483648 - 0.5) * 10.0 ^ (seed % 601 - 300)
      local back = roundtrip(v)
      assert.are.equal(v, back)
      assert.are.equal("float", math.type(back))
    end
    for _, v in ipairs{ 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.5, 123456789.125 } do
      assert.are.equal(v, roundtrip(v))
    end
    assert.are.equal("null", json.encode(0 / 0))
    assert.are.equal("null", json.encode(math.huge))
    assert.are.equal("null", json.encode(-math.huge))
  end)

  it("round-trips nested values and sorts object keys", function()
    local v = { depth = 3, lr = 0.1, w = 2.0, big = 2 ^ 60, neg = -7, tiny = 1e-300, third = 1 / 3,
                name = "a \"q\" \\ \n\t\1 é", list = { 1, 2.5, "x", true, false },
                nested = { a = { b = {}, c = { { 1 }, { 2.0 } } } } }
    local back = roundtrip(v)
    assert.are.same(v, back)
    assert.are.equal("integer", math.type(back.depth))
    assert.are.equal("float", math.type(back.w))
    assert.are.equal("float", math.type(back.big))
    assert.are.equal("float", math.type(back.nested.a.c[2][1]))
    assert.are.equal("integer", math.type(back.nested.a.c[1][1]))
    assert.are.equal('{"a":1,"b":[1,2.0]}', json.encode({ b = { 1, 2.0 }, a = 1 }))
    assert.are.equal('{"a":{"y":2,"z":1},"b":1}', json.encode({ b = 1, a = { z = 1, y = 2 } }))
    -- equal tables encode to equal strings, whatever their insertion order
    local t1, t2 = {}, {}
    for i = 1, 50 do t1["k" .. i] = i end
    for i = 50, 1, -1 do t2["k" .. i] = i end
    assert.are.equal(json.encode(t1), json.encode(t2))
    -- integer keys that are not a list: an object keyed by their string form
    assert.are.equal('{"1":"a","3":"b"}', json.encode({ [1] = "a", [3] = "b", n = nil }))
    assert.are.equal("{}", json.encode({}))
    assert.are.same({}, json.decode("[]"))
    assert.are.equal("true", json.encode(true))
    assert.are.equal("null", json.encode(nil))
  end)

  it("escapes control characters and reads \\u escapes, surrogate pairs included", function()
    assert.are.equal('"a\\"b\\\\c\\n\\u0001\\u007f"', json.encode('a"b\\c\n\1\127'))
    assert.are.equal('a"b\\c\n\1\127', roundtrip('a"b\\c\n\1\127'))
    assert.are.equal("é", json.decode('"\\u00e9"'))
    assert.are.equal("€", json.decode('"\\u20AC"'))
    assert.are.equal("\u{1F600}", json.decode('"\\ud83d\\ude00"'))
    assert.are.equal("a/b\tc", json.decode('"a\\/b\\tc"'))
    assert.are.equal("é€", roundtrip("é€")) -- UTF-8 passes through as is
    -- what other JSON writers produce: blanks anywhere between tokens
    assert.are.same({ x = { 1, 2 }, y = "\u{e9}" }, json.decode(' { "x" : [ 1 , 2 ] ,\n "y" : "\\u00e9" } '))
  end)

  it("names the error and its byte position", function()
    local function err(s)
      local ok, msg = pcall(json.decode, s)
      assert.is_false(ok)
      return msg
    end
    assert.are.equal("json: object key expected at position 2", err("{bad}"))
    assert.are.equal("json: ',' or ']' expected at position 6", err("[1,2 3]"))
    assert.are.equal("json: ',' or '}' expected at position 8", err('{"a":1 "b":2}'))
    assert.are.equal("json: ':' expected at position 6", err('{"a" 1}'))
    assert.are.equal("json: unexpected end of input at position 4", err("[1,"))
    assert.are.equal("json: unexpected end of input at position 1", err(""))
    assert.are.equal("json: unterminated string at position 5", err('"abc'))
    assert.are.equal("json: unterminated string at position 7", err('"a\\nbc'))
    assert.are.equal("json: bad escape at position 2", err('"\\x"'))
    assert.are.equal("json: bad \\u escape at position 2", err('"\\uZZZZ"'))
    assert.are.equal("json: unexpected character at position 1", err("tru"))
    assert.are.equal("json: trailing characters at position 3", err("1 2"))
    assert.are.equal("json: unexpected character at position 1", err("-x"))
    assert.has_error(function() json.decode(42) end, "json.decode: string expected, got number")
    assert.has_error(function() json.encode({ f = print }) end, "json: cannot encode a function")
    assert.has_error(function() json.encode({ [true] = 1 }) end, "json: keys must be strings or integers, got boolean")
  end)
end)
