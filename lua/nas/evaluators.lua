-- nas.evaluators: how a search scores one candidate net.
--
--   evaluate = nas.train{ data = nas.data.fashion_mnist{ valid = 5000 }, epochs = 1, batch = 128,
--                         lr = 0.05, fraction = 0.2 }
--
-- An evaluator is an object with :evaluate(net, ctx) -> metrics | nil, reason
-- (a plain function(net, ctx) works too). ctx = { seed =, trial =, genotype =, metrics =
-- (what is known before training: params, flops, ...), progress = function(p) }.
-- nas.train trains on data.train and scores on data.valid, never on data.test;
-- the test split is touched only by :retrain (result.best:retrain{...}).
-- Evaluators are built from the script's own options, so the same script can
-- rebuild them in other processes. What nas.train keeps between candidates is
-- rebuilt from the search: learning curves for early stopping (through
-- evaluator:observe(trial), which nas.search calls after every told trial, on
-- resume too) and checkpoints (files under <out>/checkpoints; without an out
-- folder, a bounded in-memory cache whose misses only cost a restart).
--
-- Multi-fidelity (docs/multifidelity.md): ctx.fidelity = { epochs = r | fraction = r,
-- parent = id, ... } from the strategy sets the epochs / data fraction of the
-- trial; with parent, the trial continues the parent trial's weights for the
-- extra r - (parent's epochs) epochs.
-- Early stopping: early_stop = { rule = "median", ... } (Golovin et al. 2017).
local util = require "nas.util"

local M = {}

local recipe_keys = { "epochs", "steps", "batch", "optimizer", "lr", "momentum", "weight_decay", "nesterov",
                      "beta1", "beta2", "eps", "schedule", "step_size", "gamma", "warmup", "label_smoothing",
                      "fraction", "augment", "grad_clip" }
local train_keys = { "data", "latency", "latency_runs", "eval_batch", "memfmt", "device", "chunk", "checkpoints",
                     "early_stop", "curve" }
for _, k in ipairs(recipe_keys) do train_keys[#train_keys + 1] = k end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

local function check_data(data, fname, need_valid, level)
  level = level + 1
  if type(data) ~= "table" or data.train == nil then
    util.argerror(1, fname,
                  "field 'data' must be a dataset table with .train (e.g. nas.data.fashion_mnist{valid = 5000})", level)
  end
  if need_valid and data.valid == nil then
    util.argerror(1, fname, "data.valid is missing: candidates are scored on a validation split, never on the " ..
                  "test split (carve one out: nas.data.fashion_mnist{ valid = 5000 })", level)
  end
end

local Train = {}
Train.__index = Train
Train.__tostring = function(self)
  return ("nas.train{epochs = %s, batch = %s, fraction = %s}"):format(tostring(self.recipe.epochs),
    tostring(self.recipe.batch), tostring(self.recipe.fraction or 1))
end

-- nas.train{ data =, epochs = 1, batch = 128, lr =, optimizer =, fraction =, schedule =, ...
--            latency = true, latency_runs = 10, eval_batch = 256, memfmt =, device =, chunk = 50 }
function M.train(opts)
  util.check_options(opts, train_keys, 1, "train", 2)
  if opts == nil then util.argerror(1, "train", "options table with 'data' expected", 2) end
  check_data(opts.data, "train", true, 2)
  local recipe = {}
  for _, k in ipairs(recipe_keys) do recipe[k] = opts[k] end
  recipe.epochs = recipe.epochs or (recipe.steps == nil and 1 or nil)
  recipe.batch = recipe.batch or 128
  for _, k in ipairs{ "epochs", "steps", "batch", "step_size", "warmup" } do
    local v = recipe[k]
    if v ~= nil and (math.type(v) ~= "integer" or v < (k == "warmup" and 0 or 1) or v > 1e9) then
      util.argerror(1, "train", ("field '%s' must be an integer >= %d"):format(k, k == "warmup" and 0 or 1), 2)
    end
  end
  for _, k in ipairs{ "lr", "momentum", "weight_decay", "gamma", "beta1", "beta2", "eps", "label_smoothing",
                      "grad_clip" } do
    local v = recipe[k]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0 or v == math.huge) then
      util.argerror(1, "train", ("field '%s' must be a finite number >= 0"):format(k), 2)
    end
  end
  local fr = recipe.fraction
  if fr ~= nil and (type(fr) ~= "number" or not (fr > 0 and fr <= 1)) then
    util.argerror(1, "train", "field 'fraction' must be a number in (0, 1]", 2)
  end
  if opts.latency_runs ~= nil and (math.type(opts.latency_runs) ~= "integer" or opts.latency_runs < 1) then
    util.argerror(1, "train", "field 'latency_runs' must be an integer >= 1", 2)
  end
  local ck = opts.checkpoints
  local memory = 16
  if type(ck) == "table" then
    util.check_options(ck, { "memory" }, 1, "train (checkpoints)", 2)
    memory = ck.memory or memory
    if math.type(memory) ~= "integer" or memory < 0 then
      util.argerror(1, "train", "checkpoints.memory must be an integer >= 0", 2)
    end
    ck = true
  elseif ck ~= nil and type(ck) ~= "boolean" then
    util.argerror(1, "train", "field 'checkpoints' must be true, false or { memory = n }", 2)
  end
  local es = opts.early_stop
  if es ~= nil then
    if type(es) ~= "table" then
      util.argerror(1, "train", "field 'early_stop' must be a table { rule = \"median\" }", 2)
    end
    util.check_options(es, { "rule", "min_epochs", "min_trials", "metric" }, 1, "train (early_stop)", 2)
    es = { rule = es.rule, min_epochs = es.min_epochs or 1, min_trials = es.min_trials or 3,
           metric = es.metric or "accuracy" }
    if es.rule ~= "median" then util.argerror(1, "train", "early_stop.rule must be \"median\"", 2) end
    if math.type(es.min_epochs) ~= "integer" or es.min_epochs < 1 then
      util.argerror(1, "train", "early_stop.min_epochs must be an integer >= 1", 2)
    end
    if math.type(es.min_trials) ~= "integer" or es.min_trials < 1 then
      util.argerror(1, "train", "early_stop.min_trials must be an integer >= 1", 2)
    end
    if es.metric ~= "accuracy" and es.metric ~= "loss" then
      util.argerror(1, "train", "early_stop.metric must be \"accuracy\" or \"loss\"", 2)
    end
  end
  if opts.curve ~= nil and type(opts.curve) ~= "boolean" then
    util.argerror(1, "train", "field 'curve' must be true or false", 2)
  end
  return setmetatable({
    data = opts.data, recipe = recipe, latency = opts.latency ~= false, latency_runs = opts.latency_runs or 10,
    eval_batch = opts.eval_batch or 256, memfmt = opts.memfmt, device = opts.device, chunk = opts.chunk,
    batch = recipe.batch, checkpoints = ck, memory = memory, early_stop = es, curve = opts.curve or es ~= nil,
    -- rebuilt from observed trials: id -> curve / loss curve, id -> original of a repeat
    curves = {}, loss_curves = {}, alias = {},
    mem = {}, mem_order = {},  -- the in-memory checkpoints: id -> {model, hash, epochs_total, ...}
  }, Train)
end

local function model_opts(self, seed)
  return { seed = seed, memfmt = self.memfmt, device = self.device }
end

-- Measures batch-1 inference latency (median of `runs`) in ms.
function M.latency(model, runs)
  local r = model:latency{ batch = 1, runs = runs or 10, warmup = 2 }
  return r.median_ms
end

-- ---- checkpoints ------------------------------------------------------------------

local json = require "nas.json"

local read_file = util.read_file

local function ckpt_paths(out, id)
  local dir = out .. "/checkpoints"
  return dir, ("%s/%d.pt"):format(dir, id), ("%s/%d.json"):format(dir, id)
end

-- Whether this evaluation keeps its weights for a later continuation.
function Train:keeps(ctx)
  if self.checkpoints == false then return false end
  return self.checkpoints == true or (ctx.fidelity ~= nil and ctx.fidelity.epochs ~= nil)
end

function Train:_mem_put(id, entry)
  if self.memory == 0 then
    entry.model:release()
    return
  end
  if self.mem[id] then self.mem[id].model:release() end
  self.mem[id] = entry
  self.mem_order[#self.mem_order + 1] = id
  while #self.mem_order > self.memory do
    local old = table.remove(self.mem_order, 1)
    if self.mem[old] then
      self.mem[old].model:release()
      self.mem[old] = nil
    end
  end
end

-- Saves the trained model of trial `id`; releases it unless kept in memory.
function Train:_save(model, id, ctx, info)
  if ctx.out then
    local dir, pt, meta = ckpt_paths(ctx.out, id)
    if not self.made_dir then
      require("nas.store").mkdir(dir)
      self.made_dir = true
    end
    local ok = pcall(model.save, model, pt)
    if ok then
      local f = io.open(meta, "wb")
      if f then
        f:write(json.encode(info))
        f:close()
      end
    end
    model:release()
  else
    info.model = model
    self:_mem_put(id, info)
  end
end

-- The model of trial `src`'s checkpoint for `net`, with its info, or nil, why.
function Train:_restore(src, net, ctx)
  local hash = tostring(net:hash())
  if ctx.out then
    local _, pt, meta = ckpt_paths(ctx.out, src)
    local s = read_file(meta)
    if not s then return nil, "no checkpoint of trial " .. tostring(src) end
    local ok, info = pcall(json.decode, s)
    if not ok or type(info) ~= "table" then return nil, "unreadable checkpoint info of trial " .. tostring(src) end
    if info.hash ~= hash then return nil, "the checkpoint of trial " .. tostring(src) .. " is another graph" end
    local okm, model = pcall(require("nas.model").new, net,
                             { seed = ctx.seed, memfmt = self.memfmt, device = self.device })
    if not okm then return nil, tostring(model) end
    local okl, err = pcall(model.load, model, pt)
    if not okl then
      model:release()
      return nil, tostring(err)
    end
    return model, info
  end
  local e = self.mem[src]
  if not e then return nil, "no checkpoint of trial " .. tostring(src) .. " in memory" end
  if e.hash ~= hash then return nil, "the checkpoint of trial " .. tostring(src) .. " is another graph" end
  self.mem[src] = nil -- moved: the continuation owns the model now
  for i, id in ipairs(self.mem_order) do
    if id == src then table.remove(self.mem_order, i) break end
  end
  local model = e.model
  e.model = nil
  return model, e
end

-- ---- the median stopping rule -------------------------------------------------

-- evaluator:observe(trial): nas.search calls it after each told trial (live and
-- on resume); it keeps the trial's learning curve for the median rule.
function Train:observe(trial)
  if type(trial) ~= "table" or trial.id == nil then return end
  if trial.cached_from then
    self.alias[trial.id] = trial.cached_from
    return
  end
  local m = trial.metrics
  if trial.status ~= "ok" or type(m) ~= "table" then return end
  if type(m.curve) == "table" and #m.curve > 0 then
    self.curves[trial.id] = m.curve
    if type(m.curve_loss) == "table" then self.loss_curves[trial.id] = m.curve_loss end
    -- A continued trial's curve starts with its parent's: keep only the longer one.
    if m.continued_from ~= nil then
      self.curves[m.continued_from], self.loss_curves[m.continued_from] = nil, nil
    end
  end
end

-- Whether the median rule stops a trial whose validation curve so far is
-- `curve` (accuracy) / `lcurve` (loss) at epoch s = #curve: its best value so
-- far is strictly worse than the median, over the observed trials whose curves
-- reach epoch s (at least min_trials of them), of their running averages
-- (mean of their first s values). Returns stop, median.
function Train:median_stop(curve, lcurve, self_id)
  local es = self.early_stop
  local s = #curve
  if not es or s < es.min_epochs then return false end
  local higher = es.metric == "accuracy"
  local mine = higher and curve or lcurve
  local source = higher and self.curves or self.loss_curves
  local avgs = {}
  for id, c in pairs(source) do
    if id ~= self_id and #c >= s then
      local sum = 0
      for i = 1, s do sum = sum + c[i] end
      avgs[#avgs + 1] = sum / s
    end
  end
  if #avgs < es.min_trials then return false end
  table.sort(avgs)
  local n = #avgs
  local med = n % 2 == 1 and avgs[(n + 1) // 2] or (avgs[n // 2] + avgs[n // 2 + 1]) / 2
  local best = mine[1]
  for i = 2, s do
    if higher then best = math.max(best, mine[i]) else best = math.min(best, mine[i]) end
  end
  if higher then return best < med, med end
  return best > med, med
end

-- ---- evaluate -------------------------------------------------------------------

-- evaluator:evaluate(net, ctx) -> metrics | nil, reason
function Train:evaluate(net, ctx)
  ctx = ctx or {}
  local fidelity = type(ctx.fidelity) == "table" and ctx.fidelity or nil
  local topts = {}
  for k, v in pairs(self.recipe) do topts[k] = v end
  if fidelity then
    if fidelity.epochs ~= nil then topts.epochs, topts.steps = fidelity.epochs, nil end
    if fidelity.fraction ~= nil then topts.fraction = fidelity.fraction end
  end
  topts.seed = ctx.seed
  topts.chunk = self.chunk
  if ctx.progress then topts.progress = ctx.progress end

  -- Continue the parent's weights?
  local model, base, missing
  if fidelity and fidelity.epochs ~= nil and fidelity.parent ~= nil and self.checkpoints ~= false then
    local src = fidelity.parent
    while self.alias[src] do src = self.alias[src] end
    model, base = self:_restore(src, net, ctx)
    if not model then
      missing, base = base, nil
    else
      base.from = src
    end
  end
  if not model then
    local ok, m = pcall(require("nas.model").new, net, model_opts(self, ctx.seed))
    if not ok then return nil, "build: " .. tostring(m) end
    model = m
  end
  local done_before = base and base.epochs_total or 0
  local curve, lcurve = {}, {}
  if base and type(base.curve) == "table" then
    for i, v in ipairs(base.curve) do curve[i] = v end
    for i, v in ipairs(base.curve_loss or {}) do lcurve[i] = v end
  end
  if topts.epochs ~= nil then topts.epochs = topts.epochs - done_before end
  local stopped, last_eval = false, nil
  if self.curve then
    topts.on_epoch = function()
      local r = model:evaluate(self.data.valid, { batch = self.eval_batch })
      curve[#curve + 1], lcurve[#lcurve + 1] = r.accuracy, r.loss
      last_eval = r
      if self.early_stop and self:median_stop(curve, lcurve, ctx.trial) then
        stopped = true
        return false
      end
    end
  end
  local hist
  if topts.epochs == nil or topts.epochs > 0 then
    local msg
    hist, msg = model:train(self.data.train, topts)
    if not hist then
      model:release()
      return nil, msg
    end
    if not finite(hist.final_loss) then
      model:release()
      return nil, "training loss is not finite (" .. tostring(hist.final_loss) .. ")"
    end
  else -- the parent already trained this long
    hist = { seconds = 0, epochs = 0, steps = 0, accuracy = {}, loss = {} }
    last_eval = nil
  end
  -- The last epoch's evaluation is the final one when training ended on an epoch.
  local r = (last_eval and topts.steps == nil) and last_eval
            or model:evaluate(self.data.valid, { batch = self.eval_batch })
  local m = {
    accuracy = r.accuracy, loss = r.loss, train_s = hist.seconds, train_loss = hist.final_loss,
    train_accuracy = hist.accuracy[#hist.accuracy], epochs = hist.epochs, steps = hist.steps,
    train_curve = hist.loss,
  }
  if fidelity or base then m.epochs_total = done_before + hist.epochs end
  if base then m.continued_from = base.from end
  if missing then m.checkpoint_missing = missing end
  if self.curve then m.curve, m.curve_loss = curve, lcurve end
  if stopped then m.stopped_early = true end
  local known = ctx.metrics and ctx.metrics.latency_ms
  if self.latency and not known then m.latency_ms = M.latency(model, self.latency_runs) end
  if not finite(m.loss) then
    model:release()
    return nil, "validation loss is not finite (" .. tostring(m.loss) .. ")"
  end
  if self:keeps(ctx) and ctx.trial ~= nil then
    self:_save(model, ctx.trial, ctx, { trial = ctx.trial, hash = tostring(net:hash()),
      epochs_total = done_before + hist.epochs, curve = self.curve and curve or nil,
      curve_loss = self.curve and lcurve or nil })
  else
    model:release()
  end
  return m
end

-- evaluator:retrain(net, { epochs =, ... }) trains `net` on train + valid with
-- this evaluator's recipe (fraction 1 unless given; any recipe key may be
-- overridden) and measures it on data.test.
function Train:retrain(net, opts)
  local o = {}
  for k, v in pairs(self.recipe) do o[k] = v end
  o.fraction = nil
  o.data = self.data
  o.memfmt, o.device = self.memfmt, self.device
  for k, v in pairs(opts or {}) do o[k] = v end
  return M.retrain(net, o)
end

local retrain_keys = { "data", "seed", "verbose", "memfmt", "device", "eval_batch", "chunk", "out", "trial",
                       "genotype" }
for _, k in ipairs(recipe_keys) do retrain_keys[#retrain_keys + 1] = k end

-- Saves a retrained model in folder `dir` (created): `weights` (the engine's
-- format, model:save), `graph.json` (net:to_json()) and `metrics.json`. Each
-- file is written under a temporary name, then renamed over the old one: a
-- second retrain into the same folder replaces the first (the last one wins;
-- keeping the one with the better test accuracy would select on the test split).
local function save_retrained(dir, model, net, info)
  require("nas.store").mkdir(dir)
  local done = {}
  local function put(name, write)
    local tmp = ("%s/.%s.tmp"):format(dir, name)
    local ok, err = pcall(write, tmp)
    if not ok then error(("cannot write %s/%s: %s"):format(dir, name, tostring(err)), 0) end
    done[#done + 1] = { tmp, dir .. "/" .. name }
  end
  local function text(s)
    return function(path)
      local f = assert(io.open(path, "wb"))
      f:write(s, "\n")
      assert(f:close())
    end
  end
  put("weights", function(path) model:save(path) end)
  put("graph.json", text(net:to_json()))
  put("metrics.json", text(json.encode(info)))
  for _, r in ipairs(done) do
    local ok, err = os.rename(r[1], r[2])
    if not ok then error(("cannot write %s: %s"):format(r[2], tostring(err)), 0) end
  end
end

-- The options trial:retrain passes to `ev` (a nas.train evaluator, or nil for
-- evaluators.retrain): a copy of opts with out = opts.out or <run>/best (run:
-- the search's folder when the trial is its best, else nil), and the trial's id
-- and genotype for metrics.json. Another evaluator's retrain gets opts as given.
function M.retrain_opts(ev, opts, trial, run)
  if ev ~= nil and getmetatable(ev) ~= Train then return opts end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.out == nil and run ~= nil then o.out = run .. "/best" end
  if o.out ~= nil then o.trial, o.genotype = trial.id, trial.genotype end
  return o
end

-- evaluators.retrain(net, { data =, epochs =, batch =, lr =, ..., seed =, verbose = true,
--                          out = DIR, trial = id, genotype = g })
--   -> { test_accuracy =, test_loss =, train_s =, epochs =, params =, history = [, saved = DIR] }
-- Trains a fresh model of `net` on data.full_train (or train + valid) and
-- measures data.test: the only place the test split is used. With `out`, the
-- trained model is saved there (save_retrained above; trial and genotype go
-- into its metrics.json): result.best:retrain passes <run>/best.
function M.retrain(net, opts)
  util.check_options(opts, retrain_keys, 2, "retrain", 2)
  opts = opts or {}
  check_data(opts.data, "retrain", false, 2)
  local data = opts.data
  if data.test == nil then util.argerror(2, "retrain", "data.test is missing", 2) end
  if opts.verbose ~= nil and type(opts.verbose) ~= "boolean" then
    util.argerror(2, "retrain", "field 'verbose' must be true or false", 2)
  end
  if opts.out ~= nil and (type(opts.out) ~= "string" or opts.out == "") then
    util.argerror(2, "retrain", "field 'out' must be a folder name", 2)
  end
  local train = data.full_train
  if train == nil then
    train = data.valid and data.train:concat(data.valid) or data.train
  end
  local seed = opts.seed or util.config().seed
  local model = require("nas.model").new(net, { seed = seed, memfmt = opts.memfmt, device = opts.device })
  local topts = { seed = seed, chunk = opts.chunk }
  for _, k in ipairs(recipe_keys) do topts[k] = opts[k] end
  topts.batch = topts.batch or 128
  if topts.epochs == nil and topts.steps == nil then topts.epochs = 1 end
  local verbose = opts.verbose ~= false
  local epochs = topts.epochs
  if verbose then
    topts.on_epoch = function(e, s)
      io.stdout:write(("  retrain epoch %d/%s  loss %.4f  train acc %.4f  %.1fs\n"):format(e, tostring(epochs or "?"),
        s.loss, s.accuracy, s.seconds))
      io.stdout:flush()
    end
  end
  local hist, msg = model:train(train, topts)
  if not hist then
    model:release()
    return nil, msg
  end
  local r = model:evaluate(data.test, { batch = opts.eval_batch or 256 })
  local out = { test_accuracy = r.accuracy, test_loss = r.loss, train_s = hist.seconds, epochs = hist.epochs,
                params = net:params(), flops = net:flops(), history = hist, train_count = train:count() }
  if opts.out ~= nil then
    local recipe = {}
    for _, k in ipairs(recipe_keys) do recipe[k] = topts[k] end
    local mean, std = data.test:norm()
    local ok, err = pcall(save_retrained, opts.out, model, net, {
      test_accuracy = r.accuracy, test_loss = r.loss, params = net:params(), macs = net:flops(),
      train_s = hist.seconds, epochs = hist.epochs, steps = hist.steps, train_count = train:count(),
      recipe = recipe, seed = seed, trial = opts.trial, genotype = opts.genotype, hash = tostring(net:hash()),
      input = net:shape(0), input_norm = { mean = mean, std = std }, created = os.time() })
    if not ok then
      model:release()
      return nil, "retrain: " .. tostring(err)
    end
    out.saved = opts.out
  end
  model:release()
  return out
end

-- ---- an evaluator that trains nothing ---------------------------------------

-- evaluators.analytic{ score = function(net) -> number | metrics } scores a
-- net from its graph alone (for tests, smoke runs and zero-cost proxies).
-- Without `score`, accuracy is a smooth made-up function of size and depth
-- (more parameters and layers help, with diminishing returns), loss = 1 - accuracy.
local Analytic = {}
Analytic.__index = Analytic

function M.analytic(opts)
  util.check_options(opts, { "score" }, 1, "analytic", 2)
  opts = opts or {}
  if opts.score ~= nil and type(opts.score) ~= "function" then
    util.argerror(1, "analytic", "field 'score' must be a function(net)", 2)
  end
  return setmetatable({ score = opts.score }, Analytic)
end

function Analytic:evaluate(net)
  if self.score then
    local r, why = self.score(net)
    if r == nil then return nil, why end
    if type(r) == "number" then return { accuracy = r, loss = 1 - r } end
    return r
  end
  local p, l = net:params(), net:layers()
  local acc = 1 - 0.5 / (1 + math.log(1 + p) / 8) - 0.05 / (1 + l)
  return { accuracy = acc, loss = 1 - acc }
end

return M
