-- The module graph of lua/nas, strategies/ and spaces/ is a tree of layers:
-- no require cycles (lazy requires inside functions included), lua/nas never
-- requires strategies/ or spaces/ (nor `nas`, the top), and no module reads
-- another's underscore fields.
--
-- Edges come from two sources: the requires each module makes while it loads
-- (a wrapped `require`, every module loaded fresh), and every quoted module
-- name in its code (comments stripped): require "x", require("x"),
-- pcall(require, "x"), package.loaded["x"] and nas's table of lazy entries.

local function ls(dir)
  local p = io.popen(("ls %s/*.lua 2>/dev/null"):format(dir))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

-- module name -> { file = path, layer = "nas" | "strategies" | "spaces" }
local modules, names = {}, {}
for _, f in ipairs(ls("lua/nas")) do
  local base = f:match("([%w_]+)%.lua$")
  local name = base == "init" and "nas" or "nas." .. base
  modules[name] = { file = f, layer = "nas" }
end
for _, layer in ipairs{ "strategies", "spaces" } do
  for _, f in ipairs(ls(layer)) do
    modules[layer .. "." .. f:match("([%w_]+)%.lua$")] = { file = f, layer = layer }
  end
end
for name in pairs(modules) do names[#names + 1] = name end
table.sort(names)

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

-- The code of a Lua file without its comments (strings kept).
local function code_of(src)
  local out, i, n = {}, 1, #src
  while i <= n do
    local c = src:sub(i, i)
    if c == "-" and src:sub(i + 1, i + 1) == "-" then
      local eq = src:match("^%[(=*)%[", i + 2)
      if eq then
        local _, e = src:find("]" .. eq .. "]", i, true)
        i = (e or n) + 1
      else
        i = (src:find("\n", i, true) or n + 1)
      end
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = src:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c then break
        else j = j + 1 end
      end
      out[#out + 1] = src:sub(i, j)
      i = j + 1
    elseif c == "[" and src:match("^%[=*%[", i) then
      local eq = src:match("^%[(=*)%[", i)
      local _, e = src:find("]" .. eq .. "]", i, true)
      out[#out + 1] = src:sub(i, e or n)
      i = (e or n) + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

local function add_edge(edges, from, to, how)
  edges[from] = edges[from] or {}
  edges[from][to] = edges[from][to] or how
end

-- Edges from the source text: every quoted name of one of the modules.
local function source_edges(edges)
  for _, name in ipairs(names) do
    local code = code_of(read(modules[name].file))
    modules[name].code = code
    for q in code:gmatch("[\"']([%w_.]+)[\"']") do
      if modules[q] and q ~= name then add_edge(edges, name, q, "source") end
    end
  end
end

-- Edges from loading: each module loaded fresh under a wrapped require.
local function load_edges(edges)
  local saved = {}
  for k, v in pairs(package.loaded) do saved[k] = v end
  local real_require = require
  local stack = {}
  local function wrapped(name)
    local from = stack[#stack]
    if from and modules[name] then add_edge(edges, from, name, "load") end
    stack[#stack + 1] = name
    local ok, res = pcall(real_require, name)
    stack[#stack] = nil
    if not ok then error(res, 0) end
    return res
  end
  local errors = {}
  for _, name in ipairs(names) do
    for k in pairs(modules) do package.loaded[k] = nil end
    _G.require = wrapped
    local ok, err = pcall(wrapped, name)
    _G.require = real_require
    if not ok then errors[#errors + 1] = name .. ": " .. tostring(err) end
  end
  for k in pairs(package.loaded) do package.loaded[k] = nil end
  for k, v in pairs(saved) do package.loaded[k] = v end
  return errors
end

local function find_cycle(edges)
  local state, path = {}, {}
  local function visit(m)
    state[m] = "open"
    path[#path + 1] = m
    local outs = {}
    for to in pairs(edges[m] or {}) do outs[#outs + 1] = to end
    table.sort(outs)
    for _, to in ipairs(outs) do
      if state[to] == "open" then
        local cycle, on = {}, false
        for _, p in ipairs(path) do
          if p == to then on = true end
          if on then cycle[#cycle + 1] = p end
        end
        cycle[#cycle + 1] = to
        return cycle
      elseif not state[to] then
        local c = visit(to)
        if c then return c end
      end
    end
    path[#path] = nil
    state[m] = "done"
  end
  for _, m in ipairs(names) do
    if not state[m] then
      local c = visit(m)
      if c then return c end
    end
  end
end

describe("module graph", function()
  local edges = {}
  local load_errors = load_edges(edges)
  source_edges(edges)

  it("finds the modules and their requires", function()
    assert.is_truthy(modules["nas"] and modules["nas.search"] and modules["strategies.evolution"]
                     and modules["spaces.nb201"])
    assert.is_truthy(edges["nas.search"]["nas.store"])
    assert.is_truthy(edges["spaces.nb201"]["spaces.cell"])
    assert.are.equal("load", edges["strategies.bo"]["nas.surrogate"])
  end)

  it("loads every module on its own", function()
    assert.are.same({}, load_errors)
  end)

  it("has no require cycles", function()
    local cycle = find_cycle(edges)
    assert.is_nil(cycle, cycle and ("require cycle: " .. table.concat(cycle, " -> ")))
  end)

  it("never requires strategies/, spaces/ or nas (the top) from lua/nas", function()
    local bad = {}
    for _, name in ipairs(names) do
      if modules[name].layer == "nas" then
        for to in pairs(edges[name] or {}) do
          if modules[to].layer ~= "nas" or (to == "nas" and name ~= "nas") then
            bad[#bad + 1] = name .. " -> " .. to
          end
        end
        -- nor by a computed name
        if modules[name].code:find("[\"']strategies%.[\"']") or modules[name].code:find("[\"']spaces%.[\"']") then
          bad[#bad + 1] = name .. " -> strategies.* or spaces.* (a computed name)"
        end
      end
    end
    table.sort(bad)
    assert.are.same({}, bad)
  end)

  it("reads no other module's underscore fields", function()
    local bad = {}
    for _, name in ipairs(names) do
      local code = modules[name].code
      -- x._field where the module never sets _field itself (its own objects' fields are its business)
      for obj, field in code:gmatch("([%w_]+)%.(_[%a][%w_]*)") do
        local sets = code:find("%." .. field .. "%s*=[^=]") or code:find("[{,]%s*" .. field .. "%s*=[^=]")
        if obj ~= "self" and not sets then
          bad[#bad + 1] = ("%s: %s.%s"):format(name, obj, field)
        end
      end
      for field in modules[name].code:gmatch("rawget%s*%(%s*[%w_]+%s*,%s*[\"'](_[%w_]+)[\"']") do
        bad[#bad + 1] = ("%s: rawget of %s"):format(name, field)
      end
    end
    table.sort(bad)
    assert.are.same({}, bad)
  end)
end)
