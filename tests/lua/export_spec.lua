-- Export to PyTorch (model:export, nas.export, nasrun export) and the saved
-- winner (result.best:retrain into RUN/best). Every exported net is run by
-- tests/export/check.py under Python's torch on a fixed batch and compared with
-- nasrun's own outputs: |python - nasrun| <= 1e-5 in eval mode, and in training
-- mode (batch-norm batch statistics) for nets without dropout (dropout's
-- training-mode outputs are random: those nets are compared in eval mode only).
-- Needs python3 with torch (Debian's python3-torch); the data are small
-- synthetic IDX and CIFAR files written here.
local nas = require "nas"
local core = require "nas.core"
local json = require "nas.json"
local helpers = require "tests.lua.helpers"

local TOL = 1e-5
local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"
os.execute("mkdir -p '" .. tmp .. "'")

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  assert(f:close())
  return path
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- command -> exit status, stdout, stderr
local function sh(cmd)
  local o, e = os.tmpname(), os.tmpname()
  local p = io.popen(("%s >%s 2>%s; echo $?"):format(cmd, o, e))
  local code = tonumber(p:read("a"))
  p:close()
  local out, err = read(o), read(e)
  os.remove(o)
  os.remove(e)
  return code, out, err
end

-- The Python that has torch: $NAS_PYTHON, /usr/bin/python3 or python3.
local PY
local function python()
  if PY then return PY end
  for _, p in ipairs({ os.getenv("NAS_PYTHON") or "", "/usr/bin/python3", "python3" }) do
    if p ~= "" and sh(q(p) .. " -c 'import torch'") == 0 then
      PY = p
      return p
    end
  end
  error("these tests run the exported code under Python's torch, and no python3 here imports torch: install " ..
        "Debian's python3-torch (apt-get install --no-install-recommends python3-torch), or set NAS_PYTHON", 0)
end

local function check_py(case_path)
  return sh(("%s tests/export/check.py %s"):format(q(python()), q(case_path)))
end

-- ---- synthetic data ---------------------------------------------------------------

local function rng_bytes(rng, n, hi)
  local t = {}
  for i = 1, n do t[i] = string.char(rng:int(0, hi)) end
  return table.concat(t)
end

-- An IDX pair of n 28x28 images (1 channel) and their labels.
local function idx_data(name, n, seed)
  local rng = nas.rng(seed)
  local img = write(("%s/%s-%d-images"):format(tmp, name, seed),
                    string.pack(">I4I4I4I4", 0x803, n, 28, 28) .. rng_bytes(rng, n * 28 * 28, 255))
  local lab = write(("%s/%s-%d-labels"):format(tmp, name, seed), string.pack(">I4I4", 0x801, n) .. rng_bytes(rng, n, 9))
  local d = assert(core.load_idx(img, lab))
  os.remove(img)
  os.remove(lab)
  return d
end

-- A CIFAR-10 batch file of n 3x32x32 images, as a dataset.
local function cifar_data(name, n, seed)
  local rng = nas.rng(seed)
  local rows = {}
  for i = 1, n do rows[i] = rng_bytes(rng, 1, 9) .. rng_bytes(rng, 3072, 255) end
  local path = write(("%s/%s-%d.bin"):format(tmp, name, seed), table.concat(rows))
  local d = assert(core.load_cifar({ path }, 1))
  os.remove(path)
  return d
end

local DATA = {}
local function data_for(net)
  local c = net:shape(0)[1]
  if not DATA[c] then DATA[c] = c == 1 and idx_data("export", 64, 1) or cifar_data("export", 64, 1) end
  return DATA[c]
end

-- ---- exporting a model and checking it under Python ---------------------------------

local function floats(list)
  local parts = {}
  for i = 1, #list, 512 do
    parts[#parts + 1] = string.pack(("=" .. ("f"):rep(math.min(512, #list - i + 1))),
                                    table.unpack(list, i, math.min(i + 511, #list)))
  end
  return table.concat(parts)
end

local function size_of(shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return n
end

-- Exports `model` (its net: model.net) to a fresh folder and checks it with
-- check.py on a fixed batch of n samples. opts: class, norm ({mean, std}: model.py
-- normalises, nasrun is given the normalised batch), eval_only, bn_trained, seed.
-- Returns check.py's exit status, its output, the folder.
local function export_check(name, model, opts)
  opts = opts or {}
  local dir = helpers.fresh_dir("export", name)
  model:export{ dir = dir, to = "pytorch", class = opts.class, norm = opts.norm }
  local shape = model.net:shape(0)
  local n, per = opts.n or 6, size_of(shape)
  local rng = nas.rng(opts.seed or 11)
  local raw, given = {}, {}
  for i = 1, n * per do
    if opts.norm then
      local c = ((i - 1) // (per // shape[1])) % shape[1] + 1
      raw[i] = rng:uniform()
      local m = string.unpack("=f", string.pack("=f", opts.norm.mean[c]))
      local s = string.unpack("=f", string.pack("=f", opts.norm.std[c]))
      given[i] = (string.unpack("=f", string.pack("=f", raw[i])) - m) / s
    else
      raw[i] = rng:normal(0, 1)
      given[i] = raw[i]
    end
  end
  local x = floats(given)
  local case = { dir = dir, class = opts.class or "Net", n = n, shape = shape, tol = TOL,
                 bn_trained = opts.bn_trained or nil,
                 input = write(dir .. "/case-input.f32", floats(raw)),
                 eval = write(dir .. "/case-eval.f32", model:forward_floats(x, n)) }
  if not opts.eval_only then
    case.train = write(dir .. "/case-train.f32", model:forward_floats(x, n, { train = true }))
  end
  local code, out, err = check_py(write(dir .. "/case.json", json.encode(case)))
  return code, (out or "") .. (err or ""), dir
end

local function trained(net, seed, memfmt)
  local model = nas.model(net, { seed = seed or 1, memfmt = memfmt or "nchw" })
  local hist, msg = model:train(data_for(net), { steps = 2, batch = 8, lr = 0.05, seed = 3 })
  assert(hist, msg)
  return model
end

-- ---- a net with every op ---------------------------------------------------------------

-- Every op of the op table, several in more than one form: conv with stride,
-- explicit padding, dilation, groups and no bias; sep/dil conv; bn 2d, 1d and
-- without affine; max pool with "same" padding; avg pool whose padded cells are
-- not counted; zero with stride 1 and 2; add of three; concat; mul broadcast
-- (squeeze-excite) and of equal shapes; a mixed node (softmax-weighted, a zero
-- candidate among its inputs); a node that does not reach the output.
local function every_op_net(dropout)
  local net = nas.net{ input = { 3, 32, 32 } }
  net:conv{ out = 8, k = 3 }
  net:bn()
  net:relu()
  local p1 = net:maxpool{ k = 3, stride = 2, padding = "same" }                      -- 8x16x16
  local s1 = net:sep_conv{ input = p1, out = 8, k = 3 }
  local d1 = net:dil_conv{ input = p1, out = 8, k = 3 }
  local a1 = net:avgpool{ input = p1, k = 3, stride = 1, padding = 1 }
  local z1 = net:zero{ input = p1 }
  local m1 = net:mixed{ s1, d1, a1, z1, decision = 0 }
  local i1 = net:identity{ input = p1 }
  net:add{ m1, i1, s1 }
  local r6 = net:relu6()
  net:conv{ input = r6, out = 5, k = 5 }                                               -- dead: not used
  local c2 = net:conv{ input = r6, out = 12, k = 3, stride = 2, padding = 1, bias = false }   -- 12x8x8
  local c3 = net:conv{ input = r6, out = 12, k = 1, stride = 2, padding = 0, groups = 4 }     -- 12x8x8
  local z2 = net:zero{ input = r6, stride = 2 }                                       -- 8x8x8
  net:concat{ c2, c3, z2 }                                                             -- 32x8x8
  net:bn{ affine = false }
  local h = net:hswish()
  net:gap()
  net:linear{ out = 8 }
  net:silu()
  net:linear{ out = 32 }
  local g = net:sigmoid()
  local se = net:mul{ h, g }                                                           -- broadcast
  local c4 = net:conv{ input = se, out = 16, k = 3, dilation = 2 }
  local sg = net:sigmoid{ input = c4 }
  net:mul{ c4, sg }                                                                    -- equal shapes
  net:flatten()
  net:linear{ out = 24 }
  net:bn()                                                                             -- 1d
  net:relu()
  if dropout then net:dropout{ p = 0.3 } end
  net:linear{ out = 10 }
  return net
end

local function ops_of(net)
  local set = {}
  for id = 1, net:count() - 1 do set[net:node(id).op] = true end
  return set
end

describe("export to PyTorch", function()
  it("needs python3 with torch", function()
    assert.is_string(python())
    local code, out = sh(q(python()) .. " -c 'import torch; print(torch.__version__)'")
    assert.are.equal(0, code)
    assert.truthy(out:match("^%d+%.%d+"), out)
  end)

  it("the every-op net uses every op of the op table", function()
    local used = ops_of(every_op_net(true))
    local missing = {}
    for _, op in ipairs(nas.ops) do
      if not used[op] then missing[#missing + 1] = op end
    end
    assert.are.same({}, missing)
  end)

  it("a net with every op matches nasrun in eval and training mode", function()
    local model = trained(every_op_net(false))
    local code, out, dir = export_check("every_op", model, { bn_trained = true })
    assert.are.equal(0, code, out)
    assert.truthy(out:find("ok   train mode", 1, true), out)
    local src = read(dir .. "/model.py")
    -- readable: one comment per computed node naming its op and output shape
    assert.truthy(src:find("# node 1 (conv) <- x0: [N, 8, 32, 32]", 1, true), src)
    assert.truthy(src:find("count_include_pad=False", 1, true))
    assert.truthy(src:find('self.register_buffer("alpha_0"', 1, true), "the softmax-weighted mixed node")
    -- the dead conv (node 13: k = 5) is not in the code, nor its weights
    assert.are.equal(5, model.net:node(13).k)
    assert.falsy(src:find("n13_", 1, true))
    assert.truthy(src:find("n14_conv", 1, true))
    assert.truthy(read(dir .. "/README.txt"):find("model.load_state_dict(torch.load(", 1, true))
    model:release()
  end)

  it("a net with every op and dropout matches in eval mode (dropout is random in training)", function()
    local model = trained(every_op_net(true))
    local code, out = export_check("every_op_dropout", model, { eval_only = true, class = "EveryOp" })
    assert.are.equal(0, code, out)
    model:release()
  end)

  it("normalises the input itself when given the data's statistics", function()
    local net = nas.net{ input = { 3, 32, 32 } }
    net:conv{ out = 4, k = 3, stride = 2 }
    net:bn(); net:relu(); net:gap(); net:linear{ out = 10 }
    local model = trained(net)
    local norm = { mean = { 0.49, 0.48, 0.45 }, std = { 0.25, 0.24, 0.26 } }
    local code, out, dir = export_check("norm", model, { norm = norm })
    assert.are.equal(0, code, out)
    assert.truthy(read(dir .. "/model.py"):find("(x - self.input_mean) / self.input_std", 1, true))
    model:release()
  end)

  -- (chain and mobilenet train in the channels-last memory format: the weights
  -- file is NCHW all the same)
  local memfmt = { chain = "channels_last", mobilenet = "channels_last" }
  for _, name in ipairs({ "chain", "cell", "nb201", "mobilenet", "mixed" }) do
    it(("a sampled net of spaces/%s matches in eval and training mode"):format(name), function()
      local space = require("spaces." .. name)
      local rng = nas.rng(5)
      local net = space:build(space:sample(rng))
      local model = trained(net, 2, memfmt[name])
      assert.are.equal(memfmt[name] or "nchw", model:memfmt())
      local code, out = export_check("space_" .. name, model, { bn_trained = true, n = 4 })
      assert.are.equal(0, code, out)
      model:release()
    end)
  end

  it("a supernet exports its picked branches (fixed, path) or its weighted sum (softmax, sigmoid)", function()
    local sn = nas.supernet(require "spaces.cell", { seed = 4 })
    assert(sn:train(data_for(sn.net), { steps = 2, batch = 8, lr = 0.05, seed = 1 }))
    sn:set_arch("edge_1_0", { 0.1, 0.2, 3.0, 0.4, 0.5 })
    local sizes = {}
    for _, mode in ipairs({ "fixed", "path", "softmax", "sigmoid" }) do
      sn:mode(mode)
      if mode == "path" then sn:set_path(require("spaces.cell"):sample(nas.rng(9))) end
      local code, out, dir = export_check("supernet_" .. mode, sn.model, { n = 4 })
      assert.are.equal(0, code, mode .. ": " .. out)
      local src = read(dir .. "/model.py")
      local weighted = src:find("alpha_", 1, true) ~= nil
      assert.are.equal(mode == "softmax" or mode == "sigmoid", weighted, mode)
      sizes[mode] = #src
    end
    assert.is_true(sizes.fixed < sizes.softmax, "a picked path computes fewer nodes than the weighted sum")
    sn:mode("gumbel", 1)
    local ok, err = pcall(sn.model.export, sn.model, { dir = helpers.fresh_dir("export", "gumbel"), to = "pytorch" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("node %d+ %(mixed%): the gumbel mix mode"), err)
  end)

  it("model:export checks its options", function()
    local net = nas.net{ input = { 4 } }
    net:linear{ out = 2 }
    local model = nas.model(net)
    local dir = helpers.fresh_dir("export", "opts")
    assert.has_error(function() model:export{ dir = dir } end)
    assert.has_error(function() model:export{ dir = dir, to = "onnx" } end)
    assert.has_error(function() model:export{ to = "pytorch" } end)
    assert.has_error(function() model:export{ dir = dir, to = "pytorch", colour = 1 } end)
    local ok, err = pcall(model.export, model, { dir = dir, to = "pytorch", class = "class" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("not a Python identifier", 1, true), err)
    -- a vector input, no batch norm: also exports and matches
    local code, out = export_check("vector", model, { class = "Tiny" })
    assert.are.equal(0, code, out)
    model:release()
  end)
end)

-- ---- the saved winner and nasrun export ------------------------------------------------

local function small_space()
  return nas.space("export-small", function(c)
    local net = nas.net{ input = { 3, 32, 32 } }
    net:conv{ out = c:choice("width", { 4, 6 }), k = 3, stride = 2 }
    net:bn()
    net:relu()
    if c:bool("pool") then net:maxpool{ k = 2 } end
    net:gap()
    net:linear{ out = 10 }
    return net
  end)
end

local function nasrun(args) return sh(helpers.nasrun() .. " " .. args) end

describe("the saved winner and nasrun export", function()
  local run, result, data
  setup(function()
    local all = cifar_data("export-run", 96, 2)
    local rest, test = all:split(24, 1)
    local train, valid = rest:split(24, 2)
    data = { train = train, valid = valid, test = test, full_train = rest }
    test:set_norm(rest:norm())
    run = helpers.fresh_dir("export", "run")
    result = nas.search{
      space = small_space(), strategy = require("tests.lua.tiny_search").list_strategy{
        { width = 4, pool = false }, { width = 6, pool = true }, { width = 6, pool = false } },
      evaluate = nas.train{ data = data, steps = 2, batch = 8, latency = false },
      budget = { trials = 3 }, seed = 5, out = run, progress = false, log = false,
    }
  end)

  it("result.best:retrain saves weights, graph and metrics in RUN/best", function()
    local r = result.best:retrain{ steps = 3, batch = 8, verbose = false }
    assert.are.equal(run .. "/best", r.saved)
    local m = json.decode(read(run .. "/best/metrics.json"))
    assert.are.equal(result.best.id, m.trial)
    assert.are.same(result.best.genotype, m.genotype)
    assert.are.equal(r.test_accuracy, m.test_accuracy)
    assert.are.equal(result.best:net():params(), m.params)
    assert.are.equal(3, m.recipe.steps)
    assert.are.equal(3, #m.input_norm.mean)
    local net = nas.net_from_json(read(run .. "/best/graph.json"))
    assert.are.equal(result.best:net():hash(), net:hash())
    -- the weights are the trained model's: they give its test accuracy
    local model = nas.model(net)
    model:load(run .. "/best/weights")
    assert.are.equal(r.test_accuracy, model:evaluate(data.test).accuracy)
    model:release()
    -- and Python's torch.load reads them as a plain dict of tensors
    local code, out, err = sh(("%s -c %s"):format(q(python()), q(
      "import sys, torch; d = torch.load(sys.argv[1], weights_only=True); " ..
      "print(type(d).__name__, len(d), d['n2_bn.num_batches_tracked'].item())") .. " " .. q(run .. "/best/weights")))
    assert.are.equal(0, code, err)
    assert.are.equal("dict 9 3\n", out)
  end)

  it("a second retrain replaces the first", function()
    local before = read(run .. "/best/weights")
    local r = result.best:retrain{ steps = 4, batch = 8, seed = 9, verbose = false }
    local m = json.decode(read(run .. "/best/metrics.json"))
    assert.are.equal(4, m.recipe.steps)
    assert.are.equal(9, m.seed)
    assert.are.equal(r.test_accuracy, m.test_accuracy)
    assert.are_not.equal(before, read(run .. "/best/weights"))
    local code, list = sh("ls -A " .. q(run .. "/best"))
    assert.are.equal(0, code)
    assert.are.equal("graph.json\nmetrics.json\nweights\n", list)
  end)

  it("a trial that is not the best saves only when given out", function()
    local other
    for _, t in ipairs(result.trials) do
      if t.id ~= result.best.id then other = t end
    end
    local dir = helpers.fresh_dir("export", "other")
    local r = other:retrain{ steps = 1, batch = 8, verbose = false }
    assert.is_nil(r.saved)
    r = other:retrain{ steps = 1, batch = 8, verbose = false, out = dir }
    assert.are.equal(dir, r.saved)
    assert.are.equal(other.id, json.decode(read(dir .. "/metrics.json")).trial)
    assert.are.equal(result.best.id, json.decode(read(run .. "/best/metrics.json")).trial)
  end)

  it("nasrun export --to pytorch exports the best trial with its retrained weights", function()
    local dir = helpers.fresh_dir("export", "cli_best")
    local code, out, err = nasrun(("export %s --to pytorch %s"):format(q(run), q(dir)))
    assert.are.equal(0, code, err)
    assert.truthy(out:find(("exported trial #%d"):format(result.best.id), 1, true), out)
    assert.truthy(out:find("weights: the retrained model", 1, true), out)
    local readme = read(dir .. "/README.txt")
    assert.truthy(readme:find("the retrained model saved in", 1, true), readme)
    assert.truthy(readme:find("after 4 steps", 1, true), readme)
    -- the README's Python snippet runs as written
    local snippet = {}
    for l in readme:match("Load and run it[^\n]*\n\n(.*)$"):gmatch("[^\n]+") do
      snippet[#snippet + 1] = l:sub(5)
    end
    local scode, sout, serr = sh(("%s -c %s"):format(q(python()), q(table.concat(snippet, "\n"))))
    assert.are.equal(0, scode, serr)
    assert.truthy(sout:match("^tensor%(%["), sout)
    -- the same numbers as nasrun's model of RUN/best, input normalised by model.py
    local net = nas.net_from_json(read(run .. "/best/graph.json"))
    local model = nas.model(net, { memfmt = "nchw" })
    model:load(run .. "/best/weights")
    local m = json.decode(read(run .. "/best/metrics.json"))
    local code2, out2, dir2 = export_check("cli_best_check", model, { norm = m.input_norm })
    assert.are.equal(0, code2, out2)
    -- nasrun export wrote the same code and weights as model:export with the run's normalisation
    assert.are.equal(read(dir2 .. "/weights.pt"), read(dir .. "/weights.pt"))
    model:release()
  end)

  it("nasrun export --trial ID of another trial writes fresh weights and says so", function()
    local other
    for _, t in ipairs(result.trials) do
      if t.id ~= result.best.id then other = t end
    end
    local dir = helpers.fresh_dir("export", "cli_other")
    local code, out, err = nasrun(("export %s --trial %d --class Other --to pytorch %s"):format(q(run), other.id,
                                                                                            q(dir)))
    assert.are.equal(0, code, err)
    assert.truthy(out:find("freshly initialised, NOT TRAINED", 1, true), out)
    assert.truthy(read(dir .. "/README.txt"):find("FRESHLY INITIALISED", 1, true))
    assert.truthy(read(dir .. "/model.py"):find("class Other(torch.nn.Module)", 1, true))
    -- the fresh weights are those of the trial's seed
    local model = nas.model(other:net(), { seed = other.seed, memfmt = "nchw" })
    local m = json.decode(read(run .. "/best/metrics.json"))
    local _, _, dir2 = export_check("cli_other_check", model, { norm = m.input_norm, class = "Other" })
    assert.are.equal(read(dir2 .. "/weights.pt"), read(dir .. "/weights.pt"))
    model:release()
  end)

  it("nasrun export --to json writes graph, genotype and metrics", function()
    local dir = helpers.fresh_dir("export", "cli_json")
    local code, out, err = nasrun(("export %s --to json %s"):format(q(run), q(dir)))
    assert.are.equal(0, code, err)
    assert.truthy(out:find("graph.json, genotype.json, metrics.json", 1, true), out)
    assert.are.equal(result.best:net():hash(), nas.net_from_json(read(dir .. "/graph.json")):hash())
    assert.are.same(result.best.genotype, json.decode(read(dir .. "/genotype.json")))
    local m = json.decode(read(dir .. "/metrics.json"))
    assert.are.equal(result.best.id, m.trial)
    assert.are.equal(result.best.metrics.accuracy, m.metrics.accuracy)
    assert.are.equal(result.best.id, m.retrain.trial)
  end)

  it("nasrun export --to dot writes a Graphviz file labelled with ops and shapes", function()
    local dir = helpers.fresh_dir("export", "cli_dot")
    local code, _, err = nasrun(("export %s --to dot %s"):format(q(run), q(dir)))
    assert.are.equal(0, code, err)
    local dot = read(dir .. "/graph.dot")
    assert.truthy(dot:find("^digraph"), dot)
    local w = result.best.genotype.width
    assert.truthy(dot:find(("conv k=3 out=%d stride=2\\n%dx16x16"):format(w, w), 1, true), dot)
    assert.truthy(dot:find("input\\n3x32x32", 1, true), dot)
    if sh("command -v dot") == 0 then
      assert.are.equal(0, (sh("dot -Tsvg " .. q(dir .. "/graph.dot") .. " -o /dev/null")))
    end
  end)

  it("nas.export does the same from Lua", function()
    local dir = helpers.fresh_dir("export", "lua_api")
    local r = nas.export(run, { to = "pytorch", dir = dir })
    assert.are.equal(result.best.id, r.trial)
    assert.are.equal("retrained", r.weights)
    assert.truthy(read(dir .. "/weights.pt"))
    assert.has_error(function() nas.export(run, { to = "onnx", dir = dir }) end)
    local ok, err = pcall(function() nas.export(run, { to = "json", dir = dir, trial = 999 }) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("has no trial #999", 1, true), err)
    assert.truthy(tostring(err):find("export_spec.lua:%d+:"), "the error points at the caller: " .. tostring(err))
  end)

  it("nasrun export refuses bad input with exit status 2", function()
    local out_dir = helpers.fresh_dir("export", "bad")
    local nofolder = helpers.fresh_dir("export", "missing")
    local empty = helpers.fresh_dir("export", "empty")
    os.execute("mkdir -p " .. q(empty))
    local cases = {
      { ("%s --to pytorch %s"):format(q(nofolder), q(out_dir)), "no such folder" },
      { ("%s --to pytorch %s"):format(q(empty), q(out_dir)), "not a run folder" },
      { ("%s --trial 999 --to pytorch %s"):format(q(run), q(out_dir)), "has no trial #999" },
      { ("%s --trial x1 --to pytorch %s"):format(q(run), q(out_dir)), "--trial needs a trial id" },
      { ("%s --to onnx %s"):format(q(run), q(out_dir)), "unknown --to 'onnx'" },
      { ("%s %s"):format(q(run), q(out_dir)), "--to is needed" },
      { ("%s --to pytorch"):format(q(run)), "an output folder are needed" },
      { ("%s --to pytorch %s extra"):format(q(run), q(out_dir)), "unexpected argument 'extra'" },
      { ("%s --colour 1 --to pytorch %s"):format(q(run), q(out_dir)), "unknown option --colour" },
      { ("%s --class 9x --to pytorch %s"):format(q(run), q(out_dir)), "--class needs a Python identifier" },
      { ("%s --to json %s"):format(q(run), q(run .. "/trials.db")), "trials.db exists and is not a folder" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = nasrun("export " .. c[1])
      assert.are.equal(2, code, c[1] .. ": " .. tostring(err))
      assert.truthy(err:find(c[2], 1, true), c[1] .. ": " .. tostring(err))
      assert.truthy(err:find("^nasrun export: "), err)
    end
    assert.is_nil(read(out_dir .. "/model.py"))
    os.execute("rm -rf " .. q(empty))
  end)
end)
