-- spaces/nb201.lua: the NAS-Bench-201 cell space, fast.
--
--   local space = require "spaces.nb201"          -- C = 16, N = 5, 3x32x32, 10 classes (NB201's network)
--   local g = space:sample(nas.rng(1))            -- { edge_1_0 = "nor_conv_3x3", ... }
--   space.arch_string(g); space.from_arch_string(s); space.code(g) -- 0..15624; space.genotype(code)
--   space:int_key(g)                              -- the code as the strategies' de-dup key
--   space:mutate_keyed(g, rng)                    -- space:mutate(g, rng) and its int_key (sample_keyed too)
--   local net = space:build(g)                    -- the real trainable net, built by spaces/cell.lua
--
-- The same six decisions, values and genotypes as spaces/cell.lua (a genotype of
-- one is a genotype of the other), but sample / mutate / crossover / neighbours /
-- decisions / canonical / key / enumerate / size never run the space function:
-- every one of the 5^6 cells is valid, so they work on the six values directly
-- and a benchmark loop over nas.bench.nb201 does no graph work at all. They draw
-- from the rng exactly as the generic nas.space methods do on spaces/cell.lua,
-- so a search gives the same genotypes on either space. build(g) (and anything
-- not listed above) is spaces/cell.lua's own code with NB201's options, pruning
-- off: NAS-Bench-201's network op for op, its params equal to the table's params_m
-- for every cell (tests/lua/nb201_exact_spec.lua).
local cell = require "spaces.cell"
local bench = require "nas.bench"
local spacemod = require "nas.space"
local nas = require "nas"

local OPS, EDGES = cell.OPS, {}
for k, e in ipairs(cell.EDGES) do EDGES[k] = ("edge_%d_%d"):format(e[1], e[2]) end
local key = spacemod.genotype_key
local NOPS = #OPS

-- The cell space's function (the one place spaces/cell.lua keeps it) under NB201's options.
local cell_fn = cell:definition()
local space = nas.space("nb201", function(c, o) return cell_fn(c, o) end,
                        { input = { 3, 32, 32 }, classes = 10, C = 16, N = 5, prune = false })

local M = space
M.OPS, M.EDGES, M.arch_string, M.from_arch_string = OPS, cell.EDGES, cell.arch_string, cell.from_arch_string
M.code, M.genotype = bench.nb201_code, bench.nb201_genotype
M.names = EDGES

local DIGIT = {}
for i, op in ipairs(OPS) do DIGIT[op] = i end

local function check_rng(rng, fname, level)
  if type(rng) ~= "table" or type(rng.int) ~= "function" then
    error(("bad argument #2 to '%s' (rng (from nas.rng(seed)) expected, got %s)"):format(fname, type(rng)),
          level or 3)
  end
end

-- A canonical copy (the six edges only), or nil, reason (as the strict chooser words it).
local function canonical(g)
  if type(g) ~= "table" then return nil, "genotype must be a table, got " .. type(g) end
  local out = {}
  for k = 1, 6 do
    local name = EDGES[k]
    local v = g[name]
    if v == nil then
      return nil, ("genotype misses decision '%s' (choice of {\"none\", \"skip_connect\", \"nor_conv_1x1\", " ..
                   "\"nor_conv_3x3\", \"avg_pool_3x3\"})"):format(name)
    end
    if not DIGIT[v] then
      return nil, ("decision '%s' = %s is out of its domain (choice of {\"none\", \"skip_connect\", " ..
                   "\"nor_conv_1x1\", \"nor_conv_3x3\", \"avg_pool_3x3\"})"):format(name, spacemod.format_value(v))
    end
    out[name] = v
  end
  return out
end

-- A genotype from its six values (one constructor: no rehashing while it fills).
local function make(v)
  return { edge_1_0 = v[1], edge_2_0 = v[2], edge_2_1 = v[3], edge_3_0 = v[4], edge_3_1 = v[5], edge_3_2 = v[6] }
end

-- Fill: g's valid values, the rest drawn from rng (in decision order), into v.
local function repair(g, rng, v)
  for k = 1, 6 do
    local x = g[EDGES[k]]
    if not DIGIT[x] then x = OPS[rng:int(1, NOPS)] end
    v[k] = x
  end
  return v
end

-- sample and mutate run once per query of a benchmark loop: the rng's int is
-- fetched once, the values live in locals, and the genotype is one constructor.
-- sample_keyed / mutate_keyed return the same genotype and, as a second value, the
-- cell's code (what int_key(g) returns), computed from the digits they drew: a
-- strategy keying its asks by int_key (evolution) calls them instead of keying each
-- child again. (sample / mutate return the genotype alone: a strategy's ask may
-- `return space:sample(rng)`, and a second value there would be read as a fidelity.)
local RngMT = getmetatable(nas.rng(0))
local code_of = bench.nb201_code

-- (errors at level 4: the caller of M:sample / M:sample_keyed)
local function sample(rng)
  if getmetatable(rng) ~= RngMT then check_rng(rng, "sample", 4) end
  local int = rng.int
  local a = int(rng, 1, NOPS)
  local b = int(rng, 1, NOPS)
  local c = int(rng, 1, NOPS)
  local d = int(rng, 1, NOPS)
  local e = int(rng, 1, NOPS)
  local f = int(rng, 1, NOPS)
  return { edge_1_0 = OPS[a], edge_2_0 = OPS[b], edge_2_1 = OPS[c], edge_3_0 = OPS[d], edge_3_1 = OPS[e],
           edge_3_2 = OPS[f] },
         ((((a * 5 + b) * 5 + c) * 5 + d) * 5 + e) * 5 + f - 3906 -- (digits 1..5: minus 3906 = (5^6 - 1) / 4)
end

function M:sample(rng)
  local g = sample(rng)
  return g
end

function M:sample_keyed(rng)
  local g, code = sample(rng)
  return g, code
end

local function other_value(v, rng)
  local i = DIGIT[v]
  local j = rng:int(1, NOPS - 1)
  if j >= i then j = j + 1 end
  return OPS[j]
end

local V = {} -- mutate's six values (scratch)
local PLACE = { 3125, 625, 125, 25, 5, 1 } -- an edge's place value in the code

-- (errors at level 3: the caller of M:mutate / M:mutate_keyed)
local function mutate(g, rng, rate)
  if type(g) ~= "table" then error("bad argument #1 to 'mutate' (genotype (a table) expected)", 3) end
  if getmetatable(rng) ~= RngMT then check_rng(rng, "mutate", 4) end
  if rate ~= nil then
    if type(rate) ~= "number" or rate < 0 or rate > 1 then
      error("bad argument #4 to 'mutate' (rate must be a number in [0, 1])", 3)
    end
    local v = repair(g, rng, {})
    local changed = false
    for k = 1, 6 do
      if rng:uniform() < rate then
        v[k] = other_value(v[k], rng)
        changed = true
      end
    end
    if not changed then
      local k = rng:int(1, 6)
      v[k] = other_value(v[k], rng)
    end
    local out = make(v)
    return out, code_of(out)
  end
  -- One edge, uniformly, to one of the other ops (invalid values first drawn afresh, in decision order).
  local int = rng.int
  local a, b, c, d, e, f = g.edge_1_0, g.edge_2_0, g.edge_2_1, g.edge_3_0, g.edge_3_1, g.edge_3_2
  local da, db, dc, dd, de, df = DIGIT[a], DIGIT[b], DIGIT[c], DIGIT[d], DIGIT[e], DIGIT[f]
  if not (da and db and dc and dd and de and df) then
    local v = repair(g, rng, V)
    a, b, c, d, e, f = v[1], v[2], v[3], v[4], v[5], v[6]
    da, db, dc, dd, de, df = DIGIT[a], DIGIT[b], DIGIT[c], DIGIT[d], DIGIT[e], DIGIT[f]
  end
  local k = int(rng, 1, 6)
  local j = int(rng, 1, NOPS - 1)
  local old
  if k == 1 then old = da; if j >= da then j = j + 1 end a = OPS[j]
  elseif k == 2 then old = db; if j >= db then j = j + 1 end b = OPS[j]
  elseif k == 3 then old = dc; if j >= dc then j = j + 1 end c = OPS[j]
  elseif k == 4 then old = dd; if j >= dd then j = j + 1 end d = OPS[j]
  elseif k == 5 then old = de; if j >= de then j = j + 1 end e = OPS[j]
  else old = df; if j >= df then j = j + 1 end f = OPS[j] end
  return { edge_1_0 = a, edge_2_0 = b, edge_2_1 = c, edge_3_0 = d, edge_3_1 = e, edge_3_2 = f },
         ((((da * 5 + db) * 5 + dc) * 5 + dd) * 5 + de) * 5 + df - 3906 + (j - old) * PLACE[k]
end

function M:mutate(g, rng, rate)
  local out = mutate(g, rng, rate)
  return out
end

function M:mutate_keyed(g, rng, rate)
  local out, code = mutate(g, rng, rate)
  return out, code
end

function M:crossover(a, b, rng)
  check_rng(rng, "crossover")
  local out = {}
  for k = 1, 6 do
    local name = EDGES[k]
    local va, vb = a[name], b[name]
    if not DIGIT[va] then va = nil end
    if not DIGIT[vb] then vb = nil end
    local v
    if va ~= nil and vb ~= nil and va ~= vb then
      if rng:int(0, 1) == 0 then v = va else v = vb end
    else
      v = va or vb or OPS[rng:int(1, NOPS)]
    end
    out[k] = v
  end
  return make(out)
end

-- The 24 cells one edge away, in decision order then op order.
function M:neighbours(g)
  local base = {}
  for k = 1, 6 do
    local v = g[EDGES[k]]
    base[k] = DIGIT[v] and v or OPS[1]
  end
  local out = {}
  for k = 1, 6 do
    local keep = base[k]
    for _, op in ipairs(OPS) do
      if op ~= keep then
        base[k] = op
        out[#out + 1] = make(base)
      end
    end
    base[k] = keep
  end
  return out
end

-- The de-duplication key hook of nas.space.key_function: the cell code (0..15624), nil for a
-- genotype that is not a cell.
function M:int_key(g)
  return (code_of(g))
end

function M:canonical(g)
  return canonical(g)
end

function M:key(g)
  return key(canonical(g) or g)
end

function M:decisions(g)
  local c, why = canonical(g)
  if not c then return nil, why end
  local out = {}
  for k = 1, 6 do
    local vals = {}
    for i, op in ipairs(OPS) do vals[i] = op end
    out[k] = { name = EDGES[k], kind = "choice", values = vals, value = c[EDGES[k]] }
  end
  return out
end

function M:size() return bench.NCELLS end

-- All 15,625 cells in the generic enumeration order (edge_1_0 most significant).
function M:enumerate()
  local code = -1
  return function()
    code = code + 1
    if code < bench.NCELLS then return bench.nb201_genotype(code) end
    return nil
  end
end

-- A restricted view runs the generic methods (the fast ones ignore restrictions).
local fast = { "sample", "mutate", "crossover", "neighbours", "canonical", "key", "decisions", "size",
               "enumerate", "sample_keyed", "mutate_keyed" }
function M:restrict(f, label)
  local view = spacemod.Space.restrict(self, f, label)
  for _, name in ipairs(fast) do view[name] = nil end
  return view
end

return space
