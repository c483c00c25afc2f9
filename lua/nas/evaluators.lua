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
-- Evaluators are built from the script's own options and hold no state
-- between candidates, so the same script can rebuild them in other processes.
local util = require "nas.util"

local M = {}

local recipe_keys = { "epochs", "steps", "batch", "optimizer", "lr", "momentum", "weight_decay", "nesterov",
                      "beta1", "beta2", "eps", "schedule", "step_size", "gamma", "warmup", "label_smoothing",
                      "fraction", "augment", "grad_clip" }
local train_keys = { "data", "latency", "latency_runs", "eval_batch", "memfmt", "device", "chunk" }
for _, k in ipairs(recipe_keys) do train_keys[#train_keys + 1] = k end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

local function check_data(data, fname, need_valid, level)
  level = level + 1
  if type(data) ~= "table" or data.train == nil then
    util.argerror(1, fname, "field 'data' must be a dataset table with .train (e.g. nas.data.fashion_mnist{valid = 5000})",
                  level)
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
  if recipe.fraction ~= nil and (type(recipe.fraction) ~= "number" or recipe.fraction <= 0 or recipe.fraction > 1) then
    util.argerror(1, "train", "field 'fraction' must be a number in (0, 1]", 2)
  end
  if opts.latency_runs ~= nil and (math.type(opts.latency_runs) ~= "integer" or opts.latency_runs < 1) then
    util.argerror(1, "train", "field 'latency_runs' must be an integer >= 1", 2)
  end
  return setmetatable({
    data = opts.data, recipe = recipe, latency = opts.latency ~= false, latency_runs = opts.latency_runs or 10,
    eval_batch = opts.eval_batch or 256, memfmt = opts.memfmt, device = opts.device, chunk = opts.chunk,
    batch = recipe.batch,
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

-- evaluator:evaluate(net, ctx) -> metrics | nil, reason
function Train:evaluate(net, ctx)
  ctx = ctx or {}
  local nas = require "nas"
  local ok, model = pcall(nas.model, net, model_opts(self, ctx.seed))
  if not ok then return nil, "build: " .. tostring(model) end
  local topts = {}
  for k, v in pairs(self.recipe) do topts[k] = v end
  topts.seed = ctx.seed
  topts.chunk = self.chunk
  if ctx.progress then topts.progress = ctx.progress end
  local hist, msg = model:train(self.data.train, topts)
  if not hist then
    model:release()
    return nil, msg
  end
  if not finite(hist.final_loss) then
    model:release()
    return nil, "training loss is not finite (" .. tostring(hist.final_loss) .. ")"
  end
  local r = model:evaluate(self.data.valid, { batch = self.eval_batch })
  local m = {
    accuracy = r.accuracy, loss = r.loss, train_s = hist.seconds, train_loss = hist.final_loss,
    train_accuracy = hist.accuracy[#hist.accuracy], epochs = hist.epochs, steps = hist.steps,
  }
  local known = ctx.metrics and ctx.metrics.latency_ms
  if self.latency and not known then m.latency_ms = M.latency(model, self.latency_runs) end
  model:release()
  if not finite(m.loss) then return nil, "validation loss is not finite (" .. tostring(m.loss) .. ")" end
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

local retrain_keys = { "data", "seed", "verbose", "memfmt", "device", "eval_batch", "chunk" }
for _, k in ipairs(recipe_keys) do retrain_keys[#retrain_keys + 1] = k end

-- evaluators.retrain(net, { data =, epochs =, batch =, lr =, ..., seed =, verbose = true })
--   -> { test_accuracy =, test_loss =, train_s =, epochs =, params =, history = }
-- Trains a fresh model of `net` on data.full_train (or train + valid) and
-- measures data.test: the only place the test split is used.
function M.retrain(net, opts)
  util.check_options(opts, retrain_keys, 2, "retrain", 2)
  opts = opts or {}
  check_data(opts.data, "retrain", false, 2)
  local data = opts.data
  if data.test == nil then util.argerror(2, "retrain", "data.test is missing", 2) end
  local nas = require "nas"
  local train = data.full_train
  if train == nil then
    train = data.valid and data.train:concat(data.valid) or data.train
  end
  local seed = opts.seed or util.config().seed
  local model = nas.model(net, { seed = seed, memfmt = opts.memfmt, device = opts.device })
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
