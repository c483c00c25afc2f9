-- Bad input at the public entry points: each nas.* function and each method
-- of the objects they return (net, model, dataset, rng, space, store, search
-- result trial) is called with a valid argument list in which one argument
-- (or one field of an options table) is replaced by a wrong type, NaN, a
-- negative or huge number, an empty table or string, or an unknown field.
-- Every such call must either raise an error that names the argument or field
-- and points at the caller's line, or (where the value is one the function
-- accepts) succeed, or -- for the functions whose failures are the
-- environmental tier, documented as returning nil and a message -- return nil
-- and a message; never crash, never pass silently with a value it cannot use.
--
-- The last test lists the public API (nas.* exports and methods) and fails
-- when something there has no entry here.
local nas = require "nas"
local tiny = require "tests.lua.tiny_search"

local HERE = "bad_input_spec%.lua:%d+:"
local TMP = os.getenv("NAS_TEST_TMP") or "/tmp"

local function small_net()
  local net = nas.net{ input = { 1, 8, 8 } }
  net:conv{ out = 4, k = 3 }
  net:relu()
  net:gap()
  net:linear{ out = 10 }
  return net
end

-- A tiny IDX dataset (40 + 10 images of 1x8x8, written once): what
-- nas.data.fashion_mnist{ root = } reads, fast enough to load per call.
local IDX = TMP .. "/bad_input_idx"
local function idx_root()
  local f = io.open(IDX .. "/t10k-labels-idx1-ubyte", "rb")
  if f then f:close() return IDX end
  os.execute("mkdir -p '" .. IDX .. "'")
  local function write_idx(prefix, n, seed)
    local imgs, labels = {}, {}
    for i = 1, n do
      for j = 1, 64 do imgs[#imgs + 1] = string.char((i * 7 + j * 13 + seed) % 256) end
      labels[#labels + 1] = string.char((i + seed) % 10)
    end
    local fi = assert(io.open(IDX .. "/" .. prefix .. "-images-idx3-ubyte", "wb"))
    fi:write(string.pack(">I4I4I4I4", 0x803, n, 8, 8), table.concat(imgs))
    fi:close()
    local fl = assert(io.open(IDX .. "/" .. prefix .. "-labels-idx1-ubyte", "wb"))
    fl:write(string.pack(">I4I4", 0x801, n), table.concat(labels))
    fl:close()
  end
  write_idx("train", 40, 1)
  write_idx("t10k", 10, 2)
  return IDX
end
local data_cache
local function data()
  data_cache = data_cache or nas.data.fashion_mnist{ root = idx_root(), valid = 8, seed = 1 }
  return data_cache
end

local function a_space()
  return nas.space("bad-input", function(c)
    local net = nas.net{ input = { 1, 8, 8 } }
    net:conv{ out = c:choice("width", { 2, 4 }), k = 3 }
    if c:bool("relu") then net:relu() end
    net:gap()
    net:linear{ out = 10 }
    return net
  end)
end

-- A space whose only decision is an op choice (what a supernet needs).
local function op_space()
  return nas.space("bad-input-op", function(c)
    local net = nas.net{ input = { 1, 8, 8 } }
    local x = net:last()
    c:op("op", { "conv", "pool" }, function(v)
      if v == "conv" then return net:conv{ input = x, out = 1, k = 3 } end
      return net:maxpool{ input = x, k = 3, stride = 1, padding = 1 }
    end, net)
    net:gap()
    net:linear{ out = 10 }
    return net
  end)
end

-- A small stored run (analytic, 4 trials) and its result.
local run_cache
local function a_run()
  if not run_cache then
    local dir = ("%s/bad_input_run_%d"):format(TMP, math.random(1, 1e9))
    local r = nas.search{ space = tiny.space(), strategy = tiny.strategy(), seed = 1, out = dir, log = false,
                          evaluate = nas.train{ data = data(), epochs = 1, batch = 8, latency = false },
                          budget = { trials = 4 } }
    run_cache = { dir = dir, result = r }
  end
  return run_cache
end

local BAD = {
  { "nil", nil }, { "a boolean", true }, { "a function", function() end }, { "NaN", 0 / 0 },
  { "-1", -1 }, { "a huge number", 1e300 }, { "an empty string", "" }, { "an empty table", {} },
}

-- Valid specs of every op (net input, spec). nas.ops must all be here.
local OP_SPECS = {
  conv = { { 1, 8, 8 }, { out = 4, k = 3, stride = 1, padding = 1, dilation = 1, groups = 1, bias = false } },
  sep_conv = { { 2, 8, 8 }, { out = 4, k = 3, stride = 1, padding = "same", bias = false } },
  dil_conv = { { 2, 8, 8 }, { out = 4, k = 3, stride = 1, padding = "same", dilation = 2, bias = false } },
  linear = { { 16 }, { out = 4, bias = true } },
  bn = { { 2, 8, 8 }, { affine = true, eps = 1e-5, momentum = 0.1 } },
  maxpool = { { 2, 8, 8 }, { k = 2, stride = 2, padding = 0 } },
  avgpool = { { 2, 8, 8 }, { k = 2, stride = 2, padding = 0 } },
  dropout = { { 16 }, { p = 0.5 } },
  zero = { { 2, 8, 8 }, { stride = 1 } },
  mixed = { { 2, 8, 8 }, { decision = 0 } },
  add = { { 2, 8, 8 }, { 0, 0 } }, concat = { { 2, 8, 8 }, { 0, 0 } }, mul = { { 2, 8, 8 }, { 0, 0 } },
}
-- ops without attributes: their spec may only be empty (or hold input = id)
for _, op in ipairs{ "relu", "relu6", "sigmoid", "hswish", "silu", "gap", "flatten", "identity" } do
  OP_SPECS[op] = { { 2, 8, 8 }, {} }
end

-- name, function, valid arguments (options tables are copied before each call).
-- soft = true: the function's documented failure is nil, message (not an error).
local ENTRIES = {
  -- nas.*
  { "nas.net", function(...) return nas.net(...) end, function() return { { input = { 1, 8, 8 } } } end },
  { "nas.net_from_table", function(...) return nas.net_from_table(...) end,
    function() return { small_net():to_table() } end },
  { "nas.net_from_json", function(...) return nas.net_from_json(...) end,
    function() return { small_net():to_json() } end },
  { "nas.model", function(...) return nas.model(...) end, function() return { small_net(), { seed = 1 } } end },
  { "nas.rng", function(...) return nas.rng(...) end, function() return { 1, 2 } end },
  { "nas.rng.from_state", function(...) return nas.rng.from_state(...) end,
    function() return { nas.rng(1):state() } end },
  { "nas.train", function(...) return nas.train(...) end,
    function() return { { data = { train = {}, valid = {} }, epochs = 1, batch = 8, lr = 0.1, fraction = 0.5 } } end },
  { "nas.search", function(...) return nas.search(...) end,
    function()
      return { { space = tiny.space(), strategy = tiny.strategy(), evaluate = function() return { accuracy = 1 } end,
                 budget = { trials = 1 }, log = false } }
    end },
  { "nas.space", function(...) return nas.space(...) end,
    function() return { "s", function(c) c:int("a", 1, 2) return small_net() end } end },
  { "nas.store", function(...) return nas.store(...) end,
    function() return { TMP .. "/bad_input_store", { create = true } } end },
  { "nas.show", function(...) -- (its table, when no `out` is given, goes nowhere)
      local stdout, null = io.stdout, io.open("/dev/null", "w")
      io.stdout = null -- luacheck: ignore 122
      local _ <close> = setmetatable({}, { __close = function()
        io.stdout = stdout -- luacheck: ignore 122
        null:close()
      end })
      return nas.show(...)
    end,
    function() return { a_run().dir, { out = io.open("/dev/null", "w"), limit = 2 } } end },
  { "nas.threads", function(...) return nas.threads(...) end, function() return { 1 } end },
  { "nas.maximize", function(...) return nas.maximize(...) end, function() return { "accuracy" } end },
  { "nas.minimize", function(...) return nas.minimize(...) end, function() return { "params" } end },
  { "nas.pareto", function(...) return nas.pareto(...) end,
    function()
      return { { { id = 1, metrics = { accuracy = 0.5, params = 10 } }, { id = 2, metrics = { accuracy = 0.6,
               params = 20 } } }, { nas.maximize "accuracy", nas.minimize "params" } }
    end },
  { "nas.proxy", function(...) return nas.proxy(...) end,
    function() return { small_net(), { data = data(), size = 8 }, "grad_norm", { seed = 1 } } end, soft = true },
  { "nas.zero_cost", function(...) return nas.zero_cost(...) end,
    function() return { { proxy = "synflow", data = data(), batch = 8, seed = 1, batch_seed = 1 } } end },
  { "nas.supernet", function(...) return nas.supernet(...) end,
    function() return { op_space(), { seed = 1 } } end },
  { "nas.rescore", function(...) return nas.rescore(...) end,
    function() return { a_run().dir, function(m) return m.accuracy end, { latency_runs = 2 } } end },
  { "nas.data.fashion_mnist", function(...) return nas.data.fashion_mnist(...) end,
    function() return { { root = idx_root(), valid = 8, seed = 1 } } end },
  { "nas.data.idx", function(...) return nas.data.idx(...) end,
    function()
      local r = idx_root()
      return { { train_images = r .. "/train-images-idx3-ubyte", train_labels = r .. "/train-labels-idx1-ubyte",
                 test_images = r .. "/t10k-images-idx3-ubyte", test_labels = r .. "/t10k-labels-idx1-ubyte",
                 valid = 8, seed = 1 } }
    end },

  -- net methods (the op methods are generated below)
  { "net:op", function(n, ...) return n:op(...) end, function() return { nas.net{ input = { 16 } }, "linear",
    { out = 4 } } end, method = true },
  { "net:output", function(n, ...) return n:output(...) end, function() return { small_net(), 2 } end,
    method = true },
  { "net:shape", function(n, ...) return n:shape(...) end, function() return { small_net(), 2 } end, method = true },
  { "net:node", function(n, ...) return n:node(...) end, function() return { small_net(), 2 } end, method = true },
  { "net:memory_mb", function(n, ...) return n:memory_mb(...) end, function() return { small_net(), 8 } end,
    method = true },

  -- model methods
  { "model:train", function(m, ...) return m:train(...) end,
    function()
      return { nas.model(small_net(), { seed = 1 }), data().train, { epochs = 1, batch = 8, lr = 0.1, seed = 1,
               chunk = 2, fraction = 0.5 } }
    end, method = true, soft = true },
  { "model:evaluate", function(m, ...) return m:evaluate(...) end,
    function() return { nas.model(small_net(), { seed = 1 }), data().valid, { batch = 4 } } end, method = true },
  { "model:latency", function(m, ...) return m:latency(...) end,
    function() return { nas.model(small_net(), { seed = 1 }), { batch = 1, runs = 2, warmup = 1 } } end,
    method = true },
  { "model:predict", function(m, ...) return m:predict(...) end,
    function() return { nas.model(small_net(), { seed = 1 }), data().valid, 0, 2 } end, method = true },
  { "model:save", function(m, ...) return m:save(...) end,
    function() return { nas.model(small_net(), { seed = 1 }), TMP .. "/bad_input_model.pt" } end, method = true },
  { "model:load", function(m, ...) return m:load(...) end,
    function()
      local path = TMP .. "/bad_input_model_load.pt"
      nas.model(small_net(), { seed = 2 }):save(path)
      return { nas.model(small_net(), { seed = 1 }), path }
    end, method = true },

  -- dataset methods
  { "dataset:split", function(d, ...) return d:split(...) end, function() return { data().train, 8, 1 } end,
    method = true },
  { "dataset:subset", function(d, ...) return d:subset(...) end, function() return { data().train, 8, 1 } end,
    method = true },
  { "dataset:concat", function(d, ...) return d:concat(...) end,
    function() return { data().train, data().valid } end, method = true },
  { "dataset:set_norm", function(d, ...) return d:set_norm(...) end,
    function() return { data().train:subset(8, 1), { 0.5 }, { 0.25 } } end, method = true },
  { "model:export", function(m, ...) return m:export(...) end,
    function()
      return { nas.model(small_net(), { seed = 1 }), { dir = TMP .. "/bad_input_export", to = "pytorch", class = "Net",
               norm = { mean = { 0.5 }, std = { 0.25 } }, header = "a test", notes = { "a note" } } }
    end, method = true },
  { "model:forward_floats", function(m, ...) return m:forward_floats(...) end,
    function()
      return { nas.model(small_net(), { seed = 1 }), string.pack("<f", 0.5):rep(64), 1, { train = false } }
    end, method = true },

  -- rng methods
  { "rng:int", function(r, ...) return r:int(...) end, function() return { nas.rng(1), 1, 6 } end, method = true },
  { "rng:choice", function(r, ...) return r:choice(...) end, function() return { nas.rng(1), { 1, 2 } } end,
    method = true },
  { "rng:normal", function(r, ...) return r:normal(...) end, function() return { nas.rng(1), 0, 1 } end,
    method = true },
  { "rng:shuffle", function(r, ...) return r:shuffle(...) end, function() return { nas.rng(1), { 1, 2, 3 } } end,
    method = true },
  { "rng:sample", function(r, ...) return r:sample(...) end, function() return { nas.rng(1), 5, 2 } end,
    method = true },

  -- space methods
  { "space:sample", function(s, ...) return s:sample(...) end, function() return { a_space(), nas.rng(1) } end,
    method = true },
  { "space:build", function(s, ...) return s:build(...) end,
    function() return { a_space(), { width = 2, relu = true } } end, method = true, soft = true, opaque = { 2 } },
  { "space:canonical", function(s, ...) return s:canonical(...) end,
    function() return { a_space(), { width = 2, relu = true } } end, method = true, soft = true, opaque = { 2 } },
  { "space:decisions", function(s, ...) return s:decisions(...) end,
    function() return { a_space(), { width = 2, relu = true } } end, method = true, soft = true, opaque = { 2 } },
  { "space:key", function(s, ...) return s:key(...) end,
    function() return { a_space(), { width = 2, relu = true } } end, method = true, opaque = { 2 } },
  { "space:mutate", function(s, ...) return s:mutate(...) end,
    function() return { a_space(), { width = 2, relu = true }, nas.rng(1), 0.5 } end, method = true, opaque = { 2 } },
  { "space:crossover", function(s, ...) return s:crossover(...) end,
    function() return { a_space(), { width = 2, relu = true }, { width = 4, relu = false }, nas.rng(1) } end,
    method = true, opaque = { 2, 3 } },
  { "space:neighbours", function(s, ...) return s:neighbours(...) end,
    function() return { a_space(), { width = 2, relu = true } } end, method = true, opaque = { 2 } },
  -- params of g's net, nil when g does not build (any value)
  { "space:complexity", function(s, ...) return s:complexity(...) end,
    function() return { a_space(), { width = 2, relu = true } } end, method = true, opaque = { 2 }, soft = "nil" },
  { "space:supernet_net", function(s, ...) return s:supernet_net(...) end,
    function() return { op_space(), { fixed = {}, base = { op = "conv" } } } end, method = true },
  { "space:restrict", function(s, ...) return s:restrict(...) end,
    function() return { a_space(), function() end, "all" } end, method = true },
  { "space:with", function(s, ...) return s.with(...) end, function() return { a_space(), {} } end, method = true },

  -- store and result methods
  { "store:trials", function(st, ...) return st:trials(...) end,
    function() return { nas.store(a_run().dir, { create = false }), { order = "told", graph = false } } end,
    method = true },
  { "trial:retrain", function(t, ...) return t:retrain(...) end,
    function() return { a_run().result.best, { epochs = 1, batch = 8, seed = 1, verbose = false } } end,
    method = true },
}

for op, s in pairs(OP_SPECS) do
  ENTRIES[#ENTRIES + 1] = { "net:" .. op, function(n, o) return n[op](n, o) end,
    function() return { nas.net{ input = s[1] }, s[2] } end, method = true }
end
table.sort(ENTRIES, function(a, b) return a[1] < b[1] end)

-- Values a function legitimately accepts in a position (kind names from BAD).
-- Graph attributes: a boolean only for the flags (bias, affine); elsewhere it
-- is an error naming the node, the op and the attribute.
local ACCEPTS = {
  ["nas.rng arg1"] = { ["-1"] = true, ["a huge number"] = true, ["an empty string"] = true },
  ["nas.rng arg2"] = { ["nil"] = true, ["-1"] = true, ["a huge number"] = true, ["an empty string"] = true },
  ["nas.space arg2"] = { ["a function"] = true },
  ["nas.model arg2"] = { ["nil"] = true, ["an empty table"] = true },
  ["nas.model arg2.seed"] = { ["nil"] = true, ["-1"] = true },
  ["nas.net arg1.input"] = {},
  ["nas.search arg1.log"] = { ["nil"] = true, ["a boolean"] = true, ["a function"] = true },
  ["nas.search arg1.budget.trials"] = {},
  ["nas.train arg1.epochs"] = { ["nil"] = true },
  ["nas.train arg1.batch"] = { ["nil"] = true },
  ["nas.train arg1.lr"] = { ["a huge number"] = true }, -- finite: training diverges, the trial fails
  ["nas.net_from_table arg1.output"] = { ["-1"] = true }, -- < 0: the last node
  ["nas.pareto arg1"] = { ["an empty table"] = true }, -- no trials: an empty front
  ["nas.data.fashion_mnist arg1"] = { ["an empty table"] = true }, -- the default folder
  ["model:train arg3"] = { ["an empty table"] = true },
  ["model:forward_floats arg4"] = { ["an empty table"] = true },
  ["rng:int arg2"] = { ["-1"] = true },
  ["rng:shuffle arg2"] = { ["an empty table"] = true },
  ["dataset:set_norm arg2"] = {},
  ["model:export arg2.header"] = { ["an empty string"] = true },
  ["model:export arg2.notes"] = { ["an empty table"] = true },
  ["trial:retrain arg2"] = { ["an empty table"] = true },
  -- a genotype missing its decisions is repaired (drawn, or their first values): documented
  ["space:key arg2"] = { ["an empty table"] = true },
  ["space:mutate arg2"] = { ["an empty table"] = true },
  ["space:crossover arg2"] = { ["an empty table"] = true },
  ["space:crossover arg3"] = { ["an empty table"] = true },
  ["space:neighbours arg2"] = { ["an empty table"] = true },
  ["net:conv arg2.bias"] = { ["a boolean"] = true },
  ["net:sep_conv arg2.bias"] = { ["a boolean"] = true },
  ["net:dil_conv arg2.bias"] = { ["a boolean"] = true },
  ["net:linear arg2.bias"] = { ["a boolean"] = true },
  ["net:bn arg2.affine"] = { ["a boolean"] = true },
  ["net:bn arg2"] = { ["an empty table"] = true },
  ["net:maxpool arg2.padding"] = { ["an empty string"] = false },
  ["nas.store arg2"] = { ["an empty table"] = true },
  ["nas.store arg2.create"] = { ["a boolean"] = true },
  ["nas.show arg2"] = { ["an empty table"] = true },
  ["nas.supernet arg2"] = { ["an empty table"] = true },
  ["nas.supernet arg2.seed"] = { ["-1"] = true },
  ["nas.rescore arg3"] = { ["an empty table"] = true },
  ["nas.proxy arg4"] = { ["an empty table"] = true },
  ["nas.proxy arg4.seed"] = { ["-1"] = true },
  ["nas.zero_cost arg1.seed"] = { ["-1"] = true },
  ["nas.zero_cost arg1.batch_seed"] = { ["-1"] = true },
  ["nas.data.fashion_mnist arg1.seed"] = { ["-1"] = true },
  ["nas.data.idx arg1.seed"] = { ["-1"] = true },
  ["model:train arg3.seed"] = { ["-1"] = true },
  ["model:evaluate arg3"] = { ["an empty table"] = true },
  ["model:latency arg2"] = { ["an empty table"] = true },
  ["store:trials arg2"] = { ["an empty table"] = true },
  ["store:trials arg2.graph"] = { ["a boolean"] = true },
  ["trial:retrain arg2.seed"] = { ["-1"] = true },
  ["rng:normal arg2"] = { ["-1"] = true, ["a huge number"] = true },
  ["rng:normal arg3"] = { ["a huge number"] = true },
  ["space:supernet_net arg2"] = { ["an empty table"] = true },
  ["space:supernet_net arg2.fixed"] = { ["an empty table"] = true },
  ["space:supernet_net arg2.base"] = { ["an empty table"] = true },
  ["rng:choice arg2"] = {},
  ["space:restrict arg3"] = { ["an empty string"] = true },
  ["space:with arg2"] = { ["an empty table"] = true },
  ["dataset:split arg3"] = { ["-1"] = true },
  ["dataset:subset arg3"] = { ["-1"] = true },
}
-- Every op method takes an empty spec where the op has no required attribute.
for op, s in pairs(OP_SPECS) do
  if next(s[2]) == nil or op == "bn" or op == "dropout" or op == "zero" then
    ACCEPTS["net:" .. op .. " arg2"] = ACCEPTS["net:" .. op .. " arg2"] or { ["an empty table"] = true }
  end
end

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
    local opaque = false
    for _, j in ipairs(entry.opaque or {}) do opaque = opaque or j == i end
    if type(args[i]) == "table" and not getmetatable(args[i]) and not (entry.method and i == 1) and not opaque then
      local is_list = #args[i] > 0
      for k, v in pairs(args[i]) do
        if type(k) == "string" and type(v) ~= "function" and not (type(v) == "table" and getmetatable(v))
           and io.type(v) == nil then
          for _, b in ipairs(BAD) do
            list[#list + 1] = { where = ("arg%d.%s"):format(i, k), i = i, field = k, kind = b[1], value = b[2] }
          end
        end
      end
      if not is_list then
        list[#list + 1] = { where = ("arg%d.no_such_option"):format(i), i = i, field = "no_such_option",
                            kind = "an unknown field", value = 1 }
      end
    end
  end
  return list
end

describe("graph attributes given a boolean", function()
  it("take it only where the attribute is a flag (bias, affine), as 1/0", function()
    local net = nas.net{ input = { 1, 8, 8 } }
    net:conv{ out = 4, k = 3, bias = false }
    assert.are.equal(36, net:params())
    net:conv{ out = 4, k = 3, bias = true }
    assert.are.equal(36 + 148, net:params())
    net:bn{ affine = false }
    assert.are.equal(36 + 148, net:params())
    assert.are.equal(0, net:node(3).affine)
  end)

  it("are refused for any other attribute, naming the node, the op and the attribute", function()
    local net = nas.net{ input = { 2, 8, 8 } }
    net:relu()
    local refused = {
      { "conv", { out = true, k = 3 }, "node 2 %(conv%): attribute 'out' must be an int, got a boolean %(true%)" },
      { "conv", { out = 4, k = false }, "node 2 %(conv%): attribute 'k' must be an int, got a boolean %(false%)" },
      { "conv", { out = 4, k = 3, padding = true }, "node 2 %(conv%): attribute 'padding' must be an int or " },
      { "maxpool", { k = true }, "node 2 %(maxpool%): attribute 'k' must be an int, got a boolean" },
      { "dropout", { p = true }, "node 2 %(dropout%): attribute 'p' must be a float, got a boolean" },
      { "mixed", { decision = true }, "node 2 %(mixed%): attribute 'decision' must be an int, got a boolean" },
    }
    for _, c in ipairs(refused) do
      local ok, err = pcall(function() return net[c[1]](net, c[2]) end)
      assert.is_false(ok)
      assert.matches(HERE .. " " .. c[3], err)
      assert.matches("only flags %(bias, affine%) take true/false", err)
    end
    assert.are.equal(2, net:count()) -- nothing was added
    -- The same through a graph read back from a table (JSON's true).
    local t = small_net():to_table()
    t.nodes[1].out = true
    local ok, err = pcall(nas.net_from_table, t)
    assert.is_false(ok)
    assert.matches("node 1 %(conv%): attribute 'out' must be an int, got a boolean %(true%)", err)
    t.nodes[1].out, t.nodes[1].bias = 4, false
    assert.are.equal(small_net():params() - 4, nas.net_from_table(t):params())
  end)
end)

describe("bad input at every public entry point", function()
  for _, entry in ipairs(ENTRIES) do
    it(entry[1] .. " names what is wrong, at the caller's line", function()
      local problems = {}
      for _, c in ipairs(cases(entry)) do
        local args = entry[3]()
        for i, a in ipairs(args) do args[i] = copy(a) end
        if c.field then args[c.i][c.field] = c.value else args[c.i] = c.value end
        local n = math.max(#entry[3](), c.i)
        local ok, err, msg = pcall(function()
          local r, m = entry[2](table.unpack(args, 1, n))
          return r, m
        end)
        local key = entry[1] .. " " .. c.where
        local accepted = ACCEPTS[key] and ACCEPTS[key][c.kind]
        -- another function where a function is expected, another boolean for a flag: a valid value
        local valid = entry[3]()
        local was = c.field and type(valid[c.i]) == "table" and valid[c.i][c.field] or not c.field and valid[c.i]
        if (c.kind == "a function" or c.kind == "a boolean") and type(was) == type(c.value) then accepted = true end
        if ok and entry.soft and err == nil and (entry.soft == "nil" or type(msg) == "string" and msg ~= "") then
          ok = "refused" -- the environmental tier: nil, message
        end
        if ok == true and not accepted and c.kind ~= "nil" then
          problems[#problems + 1] = ("%s = %s: accepted silently"):format(c.where, c.kind)
        elseif not ok then
          err = tostring(err)
          local fname = entry[1]:match("[%.:]([%w_]+)$")
          local named = err:find("bad argument", 1, true) or (c.field and err:find(c.field, 1, true))
            or err:find("attribute", 1, true) -- the graph's own: "node 1 (conv): missing required attribute 'out'"
            or err:find("node %d+ %(%w+%): ") -- the node and op: "node 1 (add): needs at least 2 inputs"
            or err:find(fname .. ": ", 1, true) -- "net_from_json: invalid JSON ..."
            or (type(c.value) == "string" or type(c.value) == "number")
               and err:find("'" .. tostring(c.value) .. "'", 1, true) -- the value itself: "cannot open ''"
            or err:find("cannot open '", 1, true) -- the file it names (the default data folder, when absent)
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

  it("covers the whole public API", function()
    local covered = {}
    for _, e in ipairs(ENTRIES) do covered[e[1]] = true end
    -- Functions and methods without arguments to get wrong are covered by being called here.
    local no_args = {
      "nas.cuda_available", "nas.role", "net:params", "net:flops", "net:macs", "net:activations", "net:layers",
      "net:hash", "net:summary", "net:clone", "net:to_table", "net:to_json", "net:output_size", "net:metrics",
      "net:last", "net:input", "net:count", "net:graph", "model:params", "model:device", "model:memfmt",
      "model:release", "model:handle", "rng:next", "rng:uniform", "rng:split", "rng:state", "rng:clone",
      "space:enumerate", "space:size", "store:count", "store:run_info", "store:running", "store:close",
      "trial:net", "dataset:count", "dataset:classes", "dataset:shape", "dataset:norm", "dataset:release",
      "space:definition",
    }
    for _, name in ipairs(no_args) do covered[name] = true end
    local missing = {}
    local function need(name)
      if not covered[name] then missing[#missing + 1] = name end
    end
    for _, op in ipairs(nas.ops) do need("net:" .. op) end
    local objects = {
      net = small_net(), model = nas.model(small_net(), { seed = 1 }), rng = nas.rng(1), space = a_space(),
      dataset = data().train,
    }
    for prefix, obj in pairs(objects) do
      local mt = getmetatable(obj)
      local index = type(mt) == "table" and type(mt.__index) == "table" and mt.__index or mt
      for k, v in pairs(index) do
        if type(k) == "string" and type(v) == "function" and not k:find("^_") then
          need(prefix .. ":" .. k)
        end
      end
    end
    for _, k in ipairs{ "net", "net_from_table", "net_from_json", "model", "threads", "cuda_available", "space",
                        "rng", "search", "train", "maximize", "minimize", "pareto", "store", "show", "proxy",
                        "zero_cost", "supernet", "role", "rescore" } do
      need("nas." .. k)
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)
end)
