-- nas.genotype: genotypes (plain tables decision name -> value) as keys, and
-- copies of them.
--
--   local genotype = require "nas.genotype"
--   genotype.key{ b = 2, a = "x" }          --> 'a="x";b=2'
--   local key = genotype.key_function(space) -- space:int_key(g) when the space has one
local fmt = require("nas.domain").format_value

local M = {}

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

function M.key(g)
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
-- a genotype it cannot number; the key is that integer, else M.key(g).
-- (Integer and string keys never collide.) Strategies key every ask and tell;
-- an integer is cheaper to make and to look up than the canonical string.
local keyfns = setmetatable({}, { __mode = "k" })
function M.key_function(space)
  local f = keyfns[space]
  if f then return f end
  local ik = type(space) == "table" and space.int_key
  if type(ik) == "function" then
    local gkey = M.key
    f = function(g) return ik(space, g) or gkey(g) end
  else
    f = M.key
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

M.genotype_key = M.key
M.copy, M.deep_copy = copy, deep_copy

return M
