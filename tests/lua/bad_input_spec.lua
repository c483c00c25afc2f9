-- Bad input at the public entry points: each nas.* function is called with a
-- valid argument list in which one argument (or one field of an options
-- table) is replaced by a wrong type, NaN, a negative or huge number, an empty
-- table or string, or an unknown field. Every such call must either raise an
-- error that names the argument or field and points at the caller's line, or
-- (where the value is one the function accepts) succeed; never crash, never
-- pass silently with a value it cannot use.
local nas = require "nas"
local tiny = require "tests.lua.tiny_search"

local HERE = "bad_input_spec%.lua:%d+:"

local function small_net()
  local net = nas.net{ input = { 1, 8, 8 } }
  net:conv{ out = 4, k = 3 }
  net:relu()
  net:gap()
  net:linear{ out = 10 }
  return net
end

local BAD = {
  { "nil", nil }, { "a boolean", true }, { "a function", function() end }, { "NaN", 0 / 0 },
  { "-1", -1 }, { "a huge number", 1e300 }, { "an empty string", "" }, { "an empty table", {} },
}

-- name, function, valid arguments (options tables are copied before each call),
-- and the arguments/fields allowed to take a value (a set of "argN" / "argN.field" -> {kinds}).
local ENTRIES = {
  { "nas.net", function(...) return nas.net(...) end, function() return { { input = { 1, 8, 8 } } } end },
  { "net:conv", function(net, o) return net:conv(o) end,
    function() return { nas.net{ input = { 1, 8, 8 } }, { out = 4, k = 3 } } end, method = true },
  { "net:linear", function(net, o) return net:linear(o) end,
    function() local n = nas.net{ input = { 16 } } return { n, { out = 4 } } end, method = true },
  { "nas.model", function(...) return nas.model(...) end, function() return { small_net(), { seed = 1 } } end },
  { "nas.rng", function(...) return nas.rng(...) end, function() return { 1, 2 } end },
  { "nas.train", function(...) return nas.train(...) end,
    function() return { { data = { train = {}, valid = {} }, epochs = 1, batch = 8 } } end },
  { "nas.search", function(...) return nas.search(...) end,
    function()
      return { { space = tiny.space(), strategy = tiny.strategy(), evaluate = function() return { accuracy = 1 } end,
                 budget = { trials = 1 }, log = false } }
    end },
  { "nas.space", function(...) return nas.space(...) end,
    function() return { "s", function(c) c:int("a", 1, 2) return small_net() end } end },
  { "nas.store", function(...) return nas.store(...) end,
    function() return { (os.getenv("NAS_TEST_TMP") or "/tmp") .. "/bad_input_store" } end },
  { "nas.threads", function(...) return nas.threads(...) end, function() return { 1 } end },
}

-- Values a function legitimately accepts in a position (kind names from BAD).
-- Graph attributes: booleans are 0/1 integers for every integer attribute
-- (nas.h's convention, so that bias = false works), so out = true means out = 1.
local ACCEPTS = {
  ["nas.rng arg1"] = { ["-1"] = true, ["a huge number"] = true, ["an empty string"] = true },
  ["nas.rng arg2"] = { ["nil"] = true, ["-1"] = true, ["a huge number"] = true, ["an empty string"] = true },
  ["nas.space arg2"] = { ["a function"] = true },
  ["net:conv arg2.out"] = { ["a boolean"] = true },
  ["net:conv arg2.k"] = { ["a boolean"] = true },
  ["net:linear arg2.out"] = { ["a boolean"] = true },
  ["nas.model arg2"] = { ["nil"] = true, ["an empty table"] = true },
  ["nas.model arg2.seed"] = { ["nil"] = true, ["-1"] = true },
  ["nas.net arg1.input"] = {},
  ["nas.search arg1.log"] = { ["nil"] = true, ["a boolean"] = true, ["a function"] = true },
  ["nas.search arg1.budget.trials"] = {},
  ["nas.train arg1.epochs"] = { ["nil"] = true },
  ["nas.train arg1.batch"] = { ["nil"] = true },
}

local function copy(v)
  if type(v) ~= "table" or getmetatable(v) then return v end
  local o = {}
  for k, x in pairs(v) do o[k] = copy(x) end
  return o
end

-- Every (position, replacement) pair for an entry.
local function cases(entry)
  local list = {}
  local args = entry[3]()
  for i = 1, #args do
    -- a method's self (net:conv's net) is Lua's own business: "attempt to index ..."
    if not (entry.method and i == 1) then
      for _, b in ipairs(BAD) do list[#list + 1] = { where = "arg" .. i, i = i, kind = b[1], value = b[2] } end
    end
    if type(args[i]) == "table" and not getmetatable(args[i]) then
      for k, v in pairs(args[i]) do
        if type(k) == "string" and type(v) ~= "function" and not (type(v) == "table" and getmetatable(v)) then
          for _, b in ipairs(BAD) do
            list[#list + 1] = { where = ("arg%d.%s"):format(i, k), i = i, field = k, kind = b[1], value = b[2] }
          end
        end
      end
      list[#list + 1] = { where = ("arg%d.no_such_option"):format(i), i = i, field = "no_such_option",
                          kind = "an unknown field", value = 1 }
    end
  end
  return list
end

describe("bad input at every public entry point", function()
  for _, entry in ipairs(ENTRIES) do
    it(entry[1] .. " names what is wrong, at the caller's line", function()
      local problems = {}
      for _, c in ipairs(cases(entry)) do
        local args = entry[3]()
        for i, a in ipairs(args) do args[i] = copy(a) end
        if c.field then args[c.i][c.field] = c.value else args[c.i] = c.value end
        local n = math.max(#entry[3](), c.i)
        local ok, err = pcall(function()
          local r = entry[2](table.unpack(args, 1, n))
          return r
        end)
        local key = entry[1] .. " " .. c.where
        local accepted = ACCEPTS[key] and ACCEPTS[key][c.kind]
        if ok and not accepted and c.kind ~= "nil" then
          problems[#problems + 1] = ("%s = %s: accepted silently"):format(c.where, c.kind)
        elseif not ok then
          err = tostring(err)
          local named = err:find("bad argument", 1, true) or (c.field and err:find(c.field, 1, true))
            or err:find("attribute", 1, true) -- the graph's own: "node 1 (conv): missing required attribute 'out'"
          if not err:find(HERE) then
            problems[#problems + 1] = ("%s = %s: error not at the caller's line: %s"):format(c.where, c.kind, err)
          elseif not named then
            problems[#problems + 1] = ("%s = %s: error does not name the argument: %s"):format(c.where, c.kind, err)
          end
        end
      end
      assert.are.same({}, problems)
    end)
  end
end)
