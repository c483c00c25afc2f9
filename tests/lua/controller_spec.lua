-- busted --lua=lua5.4 tests/lua/controller_spec.lua  (LUA_PATH/LUA_CPATH as in tests/CMakeLists.txt)
-- nas.core's LSTM policy controller (engine/torch/controller.cpp, engine/lua/lcontroller.c)
-- and strategies/reinforce.lua with controller = "lstm".
local nas = require "nas"
local core = require "nas.core"

local function uniforms(rng, n)
  local u = {}
  for i = 1, n do u[i] = rng:uniform() end
  return u
end

describe("core.controller", function()
  it("checks its spec and arguments, naming them", function()
    local function err(f, ...)
      local ok, msg = pcall(f, ...)
      assert.is_false(ok)
      return msg
    end
    assert.matches("table expected", err(core.controller_new))
    assert.matches("field 'sizes' must be a list", err(core.controller_new, {}))
    assert.matches("must list 1 or more decisions", err(core.controller_new, { sizes = {} }))
    assert.matches("sizes%[2%] must be an integer", err(core.controller_new, { sizes = { 3, 0 } }))
    assert.matches("sizes%[1%] must be an integer", err(core.controller_new, { sizes = { 2.5 } }))
    assert.matches("unknown option 'bogus'", err(core.controller_new, { sizes = { 2 }, bogus = 1 }))
    assert.matches("hidden must be", err(core.controller_new, { sizes = { 2 }, hidden = 0 }))
    assert.matches("field 'hidden' must be an integer", err(core.controller_new, { sizes = { 2 }, hidden = "x" }))
    assert.matches("lr must be > 0", err(core.controller_new, { sizes = { 2 }, lr = 0 }))
    assert.matches("entropy must be >= 0", err(core.controller_new, { sizes = { 2 }, entropy = -1 }))
    assert.matches("temperature must be > 0", err(core.controller_new, { sizes = { 2 }, temperature = 0 }))
    assert.matches("tanh_c must be >= 0", err(core.controller_new, { sizes = { 2 }, tanh_c = -1 }))
    assert.matches("baseline_decay must be in", err(core.controller_new, { sizes = { 2 }, baseline_decay = 1 }))

    local c = core.controller_new{ sizes = { 3, 2, 4 }, seed = 3 }
    assert.matches("nas.Controller %(3 decisions, 0 updates%)", tostring(c))
    assert.are.same({ 3, 2, 4 }, c:sizes())
    assert.matches("needs 3 uniforms", err(c.sample, c, { 0.1, 0.2 }))
    assert.matches("uniform 2 is 1", err(c.sample, c, { 0.1, 1.0, 0.2 }))
    assert.matches("uniform 1 must be a number", err(c.sample, c, { "x", 0.5, 0.2 }))
    assert.matches("needs 3 choices", err(c.update, c, { 1, 1 }, 1))
    assert.matches("choice 2 is 3, needs 1..2", err(c.update, c, { 1, 3, 1 }, 1))
    assert.matches("choice 1 is 0", err(c.update, c, { 0, 1, 1 }, 1))
    assert.matches("reward must be a finite", err(c.update, c, { 1, 1, 1 }, 0 / 0))
    assert.matches("number expected", err(c.update, c, { 1, 1, 1 }, "x"))
    assert.matches("prefix has 3 choices", err(c.probs, c, { 1, 1, 1 }))
    assert.are.equal(0, c:updates())
    c:release()
    c:release() -- idempotent
    assert.matches("released", tostring(c))
    assert.matches("controller has been released", err(c.sample, c, { 0.1, 0.1, 0.1 }))
    do local _ <close> = core.controller_new{ sizes = { 2 } } end
  end)

  it("samples by inverse CDF of probs, 1-based, deterministically", function()
    local a = core.controller_new{ sizes = { 5, 1, 3 }, seed = 9 }
    local b = core.controller_new{ sizes = { 5, 1, 3 }, seed = 9 }
    local rng = nas.rng(4)
    for _ = 1, 50 do
      local u = uniforms(rng, 3)
      local ca, lpa, ea = a:sample(u)
      local cb, lpb, eb = b:sample(u)
      assert.are.same(ca, cb)
      assert.are.equal(lpa, lpb)
      assert.are.equal(ea, eb)
      assert.are.equal(1, ca[2])
      local prefix, lp = {}, 0
      for i = 1, 3 do
        local p, acc, pick = a:probs(prefix), 0, nil
        for j = 1, #p do
          acc = acc + p[j]
          if not pick and u[i] < acc then pick = j end
        end
        assert.are.equal(pick or #p, ca[i])
        lp = lp + math.log(p[ca[i]])
        prefix[i] = ca[i]
      end
      assert.is_true(math.abs(lp - lpa) < 1e-4)
    end
    local c = core.controller_new{ sizes = { 5, 1, 3 }, seed = 10 }
    assert.are_not.equal(a:params(), c:params())
    assert.are.equal(a:params(), b:params())
  end)

  it("update: baseline, bit-identical parameters, learns a rewarded choice", function()
    local a = core.controller_new{ sizes = { 4, 4, 4 }, lr = 0.02, seed = 1 }
    local b = core.controller_new{ sizes = { 4, 4, 4 }, lr = 0.02, seed = 1 }
    local p0 = a:params()
    local target = { 2, 4, 1 }
    local rng = nas.rng(8)
    for t = 1, 300 do
      local u = uniforms(rng, 3)
      local ch = a:sample(u)
      local r = 0
      for i = 1, 3 do if ch[i] == target[i] then r = r + 1 end end
      local bl = a:update(ch, r)
      assert.are.equal(bl, b:update(b:sample(u), r))
      if t == 1 then assert.are.equal(r, bl) end -- bias-corrected EMA starts at the reward
    end
    assert.are.equal(300, a:updates())
    assert.are.equal(a:params(), b:params())
    assert.are_not.equal(p0, a:params())
    local prefix = {}
    for i = 1, 3 do
      assert.is_true(a:probs(prefix)[target[i]] > 0.8)
      prefix[i] = target[i]
    end
  end)
end)

describe("reinforce with controller = 'lstm'", function()
  local R = require "strategies.reinforce"
  local space = require "spaces.nb201"
  local OPS = require("spaces.cell").OPS
  local TARGET = { edge_1_0 = "nor_conv_3x3", edge_2_0 = "nor_conv_3x3", edge_2_1 = "skip_connect",
                   edge_3_0 = "avg_pool_3x3", edge_3_1 = "none", edge_3_2 = "nor_conv_1x1" }
  local function score(g)
    local s = 0
    for k, v in pairs(TARGET) do if g[k] == v then s = s + 1 end end
    return s / 6
  end
  local function drive(st, sp, n, seed, fail)
    local trials = {}
    for id = 1, n do
      local g = st:ask(sp, nas.rng(seed, id))
      local t = { id = id, genotype = g, metrics = {}, status = "ok" }
      if fail and fail(id) then t.status, t.reason = "failed", "toy failure" else t.score = score(g) end
      st:tell(t)
      trials[id] = t
    end
    return trials
  end

  it("checks its options", function()
    local ok, msg = pcall(R.new, { hidden = 16 })
    assert.is_false(ok)
    assert.matches("option 'hidden' is for controller = \"lstm\"", msg)
    local st = R.new{ controller = "lstm", hidden = 0 }
    ok, msg = pcall(st.ask, st, space, nas.rng(1))
    assert.is_false(ok)
    assert.matches("hidden must be", msg)
    st = R.new{ controller = "lstm", lr = 0.01, hidden = 16, seed = 2, tanh_c = 0, entropy = 0, temperature = 1 }
    assert.is_truthy(space:key(st:ask(space, nas.rng(1))))
  end)

  it("needs decisions that do not depend on other decisions", function()
    local cond = nas.space("cond", function(c)
      local net = nas.net{ input = { 4 } }
      if c:choice("deep", { "no", "yes" }) == "yes" then net:linear{ out = c:choice("w", { 4, 8 }) } end
      net:linear{ out = 2 }
      return net
    end)
    local st = R.new{ controller = "lstm" }
    local ok, msg = pcall(function() for id = 1, 40 do st:ask(cond, nas.rng(3, id)) end end)
    assert.is_false(ok)
    assert.matches("do not depend on other decisions", msg)
  end)

  it("learns the rewarded choice of each decision (NB201 space, 300 updates)", function()
    local st = R.new{ controller = "lstm", lr = 0.005, seed = 5 }
    local trials = drive(st, space, 300, 1)
    -- the controller's own view: p(target of decision i | targets before it)
    local prefix, names = {}, st.lnames
    for i, name in ipairs(names) do
      local p, j = st.ctl:probs(prefix), nil
      for k, x in ipairs(OPS) do if x == TARGET[name] then j = k end end
      assert.is_true(p[j] > 0.8, ("%s: p = %.3f"):format(name, p[j]))
      prefix[i] = j
    end
    assert.are.same(TARGET, st:mode()) -- greedy decoding of the controller
    local p4 = st:probabilities("edge_3_1")
    assert.are.equal(5, #p4)
    assert.is_true(p4[1] > 0.8) -- "none"
    local late = 0
    for id = 251, 300 do late = late + trials[id].score end
    assert.is_true(late / 50 > 0.8, ("mean score of the last 50 asks %.3f"):format(late / 50))
    assert.are.equal(299, st.ctl:updates()) -- the last tell is learnt from at the next ask
  end)

  it("a replayed strategy asks what the original asks, with bit-identical weights", function()
    local json = require "cjson"
    local a = R.new{ controller = "lstm", lr = 0.01, hidden = 32 }
    local trials = drive(a, space, 40, 7, function(id) return id % 7 == 0 end)
    local b = R.new{ controller = "lstm", lr = 0.01, hidden = 32 }
    for _, t in ipairs(trials) do
      b:tell{ id = t.id, genotype = json.decode(json.encode(t.genotype)), metrics = t.metrics,
              status = t.status, score = t.score, reason = t.reason }
    end
    for k = 1, 3 do
      local ga, gb = a:ask(space, nas.rng(99, k)), b:ask(space, nas.rng(99, k))
      assert.are.equal(space:key(ga), space:key(gb))
    end
    assert.are.equal(a.ctl:updates(), b.ctl:updates())
    assert.are.equal(a.ctl:params(), b.ctl:params())
  end)
end)
