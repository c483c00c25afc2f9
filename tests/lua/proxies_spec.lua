-- busted --lua=lua5.4 tests/lua/proxies_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
-- Zero-cost proxies from Lua: core.proxy (engine/lua/lproxy.c), nas.proxy and the
-- nas.zero_cost evaluator (lua/nas/proxies.lua), in a tiny nas.search. The values
-- themselves are checked against hand computations in tests/c/test_torch_proxy.c.
local nas = require "nas"
local core = require "nas.core"
local tiny = require "tests.lua.tiny_search"

local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"

local function err(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

-- A small IDX dataset (raw, not gzipped) of n 8x8 images with labels 0..9.
local function tiny_dataset(n)
  local base = ("%s/proxies_spec_%d"):format(tmp, os.time())
  local img, lab = base .. "-images", base .. "-labels"
  local f = assert(io.open(img, "wb"))
  f:write(string.pack(">I4I4I4I4", 0x803, n, 8, 8))
  local state = 12345
  for _ = 1, n do -- pseudo-random pixels (an LCG): no two images alike
    local px = {}
    for p = 1, 64 do
      state = (state * 1103515245 + 12345) % 2147483648
      px[p] = string.char((state >> 16) & 255)
    end
    f:write(table.concat(px))
  end
  f:close()
  f = assert(io.open(lab, "wb"))
  f:write(string.pack(">I4I4", 0x801, n))
  for s = 1, n do f:write(string.char((s * 7) % 10)) end
  f:close()
  local d = assert(core.load_idx(img, lab))
  os.remove(img)
  os.remove(lab)
  return d
end

local function vec_net(relu)
  local net = nas.net{ input = { 4 } }
  if relu then net:relu() end
  net:linear{ out = 3 }
  return net
end

local function conv_net()
  local net = nas.net{ input = { 1, 8, 8 } }
  net:conv{ out = 4, k = 3 }; net:bn(); net:relu()
  net:conv{ out = 4, k = 3 }; net:bn(); net:relu()
  net:gap(); net:linear{ out = 10 }
  return net
end

describe("core.proxy", function()
  it("lists the proxies and checks its arguments", function()
    assert.are.same({ "synflow", "naswot", "grad_norm", "snip", "fisher", "jacob_cov", "params", "flops" },
                    core.proxies())
    assert.is_true(core.proxy_uses_labels("snip"))
    assert.is_false(core.proxy_uses_labels("naswot"))
    local net = vec_net(true)
    local m = core.model_new(net:graph(), { seed = 1 })
    assert.matches("unknown proxy 'synflw' %(known: synflow, naswot", err(core.proxy, m, "synflw"))
    assert.matches("bad argument #2", err(core.proxy, m, "synflw"))
    assert.matches("needs labels ys", err(core.proxy, m, "snip", { 1, 2, 3, 4 }, nil, 1))
    assert.matches("n %* %(floats per sample%)", err(core.proxy, m, "naswot", { 1, 2, 3 }, nil, 2))
    assert.matches("xs%[2%] is not a number", err(core.proxy, m, "naswot", { 1, "x", 3, 4 }, nil, 1))
    assert.matches("ys must hold n labels", err(core.proxy, m, "snip", { 1, 2, 3, 4 }, { 0, 1 }, 1))
    assert.matches("dataset or table of floats expected", err(core.proxy, m, "snip", 42))
    -- engine failures come back as nil, msg, status
    local s, msg, status = core.proxy(m, "snip", { 1, 2, 3, 4 }, { 7 }, 1)
    assert.is_nil(s)
    assert.matches("label 0 is 7", msg)
    assert.are.equal("invalid argument", status)
    -- a non-finite score comes 4th: two equal samples make naswot's kernel singular
    local s2, msg2, status2, score = core.proxy(m, "naswot", { 1, -1, 2, -2, 1, -1, 2, -2 }, nil, 2)
    assert.is_nil(s2)
    assert.matches("singular", msg2)
    assert.are.equal("numeric error", status2)
    assert.are.equal(-math.huge, score)
    -- codes (x > 0) chosen by hand: K = [[4,2],[2,4]], log det = log 12
    assert.is_true(math.abs(core.proxy(m, "naswot", { 1, 1, -1, -1, 1, -1, 1, -1 }, nil, 2) - math.log(12)) < 1e-9)
    assert.are.equal(net:params(), core.proxy(m, "params"))
    assert.are.equal(net:flops(), core.proxy(m, "flops"))
    m:release()
    assert.matches("model has been released", err(core.proxy, m, "params"))
  end)

  it("reads a batch from a dataset view", function()
    local d = tiny_dataset(20)
    local m = core.model_new(conv_net():graph(), { seed = 2 })
    assert.matches("row out of range", err(core.proxy, m, "snip", d, 20, 1))
    assert.matches("count out of range", err(core.proxy, m, "snip", d, 10, 11))
    for _, name in ipairs(core.proxies()) do
      local s = core.proxy(m, name, d, 0, 16)
      assert.is_number(s)
      assert.is_true(s == s and math.abs(s) < math.huge, name)
      assert.are.equal(s, core.proxy(m, name, d, 0, 16)) -- deterministic, the model unchanged
    end
    m:release()
    d:release()
  end)
end)

describe("nas.proxy", function()
  it("builds the model from a seed and scores a dataset batch or a data table", function()
    local d = tiny_dataset(24)
    local net = conv_net()
    local a = nas.proxy(net, { data = d, size = 16, seed = 3 }, "snip", { seed = 5 })
    assert.are.equal(a, nas.proxy(net, { data = d, size = 16, seed = 3 }, "snip", { seed = 5 }))
    assert.are_not.equal(a, nas.proxy(net, { data = d, size = 16, seed = 3 }, "snip", { seed = 6 }))
    assert.are_not.equal(a, nas.proxy(net, { data = d, size = 16, seed = 4 }, "snip", { seed = 5 }))
    -- the same as core.proxy on nas.model(net, {seed}) over the same rows
    local view = d:subset(16, 3)
    local model = nas.model(net, { seed = 5 })
    assert.are.equal(a, core.proxy(model:handle(), "snip", view, 0, 16))
    model:release()
    view:release()
    -- a nas.data-like table: its .train
    assert.are.equal(a, nas.proxy(net, { data = { train = d }, size = 16, seed = 3 }, "snip", { seed = 5 }))
    -- a list of proxies at once
    local all = nas.proxy(net, { data = d, size = 16, seed = 3 }, { "snip", "params", "synflow" }, { seed = 5 })
    assert.are.equal(a, all.snip)
    assert.are.equal(net:params(), all.params)
    assert.are.equal(nas.proxy(net, nil, "synflow", { seed = 5 }), all.synflow) -- synflow reads no data
    -- data tables: flat with labels, or one table per sample
    local v = vec_net(true)
    local flat = { 1, 1, -1, -1, 2, -1, 3, -2, 1, 1, 1, 1 }
    local per = { { 1, 1, -1, -1 }, { 2, -1, 3, -2 }, { 1, 1, 1, 1 } }
    assert.is_true(math.abs(nas.proxy(v, { x = per }, "naswot") - math.log(32)) < 1e-9)
    assert.are.equal(nas.proxy(v, { x = per, y = { 0, 1, 2 } }, "grad_norm"),
                     nas.proxy(v, { x = flat, y = { 0, 1, 2 } }, "grad_norm"))
    -- an environmental failure is nil, message; misuse raises
    local s, msg = nas.proxy(vec_net(false), { x = per }, "naswot")
    assert.is_nil(s)
    assert.matches("naswot: .*relu", msg)
    s, msg = nas.proxy(v, { x = { { 1, 1, 1, 1 }, { 1, 1, 1, 1 } } }, "naswot")
    assert.is_nil(s)
    assert.matches("singular", msg)
    assert.matches("unknown proxy 'nope'", err(nas.proxy, net, { data = d }, "nope"))
    assert.matches("a batch is needed", err(nas.proxy, net, nil, "snip"))
    assert.matches("batch.size must be", err(nas.proxy, net, { data = d, size = 25 }, "snip"))
    assert.matches("unknown option 'sze'", err(nas.proxy, net, { data = d, sze = 4 }, "snip"))
    assert.matches("batch.data must be a dataset", err(nas.proxy, net, { data = {} }, "snip"))
    assert.matches("net expected", err(nas.proxy, {}, { data = d }, "snip"))
    assert.matches("unknown option 'sed'", err(nas.proxy, net, { data = d }, "snip", { sed = 1 }))
    assert.matches("batch.y has 2 labels for 3", err(nas.proxy, v, { x = per, y = { 0, 1 } }, "snip"))
    assert.matches("batch.x is flat", err(nas.proxy, v, { x = flat }, "naswot"))
    d:release()
  end)
end)

describe("nas.zero_cost", function()
  it("checks its options", function()
    local d = tiny_dataset(10)
    assert.matches("options table with 'proxy'", err(nas.zero_cost))
    assert.matches("unknown proxy 'synflo'", err(nas.zero_cost, { proxy = "synflo", data = d }))
    assert.matches("field 'proxy' must be", err(nas.zero_cost, { proxy = {} }))
    assert.matches("field 'data' is missing: naswot", err(nas.zero_cost, { proxy = "naswot" }))
    assert.matches("field 'batch' %(64%) exceeds the 10 rows", err(nas.zero_cost, { proxy = "naswot", data = d }))
    assert.matches("field 'batch' must be", err(nas.zero_cost, { proxy = "snip", data = d, batch = 0 }))
    assert.matches("field 'seed' must be an integer",
                   err(nas.zero_cost, { proxy = "snip", data = d, batch = 4, seed = 1.5 }))
    assert.matches("unknown option 'proxies'", err(nas.zero_cost, { proxies = "snip" }))
    assert.matches("field 'data' must be a dataset", err(nas.zero_cost, { proxy = "snip", data = 3 }))
    assert.is_table(nas.zero_cost{ proxy = "synflow" }) -- synflow, params, flops need no data
    local ev = nas.zero_cost{ proxy = "naswot", data = d, batch = 4 }
    local m, why = ev:evaluate(vec_net(false), { seed = 1 })
    assert.is_nil(m)
    assert.matches("^naswot: .*relu", why)
    d:release()
  end)

  it("scores candidates of a tiny nas.search", function()
    local d = tiny_dataset(40)
    -- synflow as the objective, naswot and params recorded too
    local ev = nas.zero_cost{ proxy = { "synflow", "naswot", "params" }, data = d, batch = 16, seed = 7 }
    local r = nas.search{ space = tiny.space(), strategy = require("strategies.random").new(), evaluate = ev,
                          objectives = function(m) return m.synflow end, budget = { trials = 6 }, seed = 2,
                          log = false }
    assert.are.equal(6, #r.trials)
    local best = -math.huge
    for _, t in ipairs(r.trials) do
      assert.are.equal("ok", t.status, t.reason)
      local m = t.metrics
      assert.are.equal(m.synflow, m.score)
      assert.are.equal(m.synflow, t.score)
      assert.is_number(m.naswot)
      assert.are.equal(m.params, m.params // 1)
      assert.is_number(m.flops)
      assert.is_true(m.train_s >= 0 and m.train_s < 30)
      -- the evaluator's seed fixes the weights: the same as nas.proxy with that seed
      if not t.cached_from then
        local net = tiny.space():build(t.genotype)
        assert.are.equal(m.synflow, nas.proxy(net, nil, "synflow", { seed = 7 }))
      end
      best = math.max(best, m.synflow)
    end
    assert.are.equal(best, r.best.score)
    -- without a seed, the trial's seed: the evaluator is usable as any other
    local ev2 = nas.zero_cost{ proxy = "snip", data = { train = d }, batch = 8 }
    local a = ev2:evaluate(tiny.space():build{ depth = 2, width = 4, pad = 0, bad = false }, { seed = 1 })
    local b = ev2:evaluate(tiny.space():build{ depth = 2, width = 4, pad = 0, bad = false }, { seed = 2 })
    assert.are.equal(a.snip, a.score)
    assert.are_not.equal(a.snip, b.snip)
    assert.matches("nas.zero_cost{proxy = snip, batch = 8}", tostring(ev2))
    d:release()
  end)
end)
