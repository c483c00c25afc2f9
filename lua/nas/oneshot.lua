-- nas.oneshot: what the path-sampling one-shot strategies (strategies/spos.lua,
-- strategies/enas.lua) share: the data split, the weight trainer driven one step
-- per path, and the score of a subnet with inherited weights.
--
--   local os1 = require "nas.oneshot"
--   local ctx = os1.begin(o, "spos.run")   -- supernet in path mode, trainer, holdout
--   os1.step(ctx, path)                    -- one SGD step of the weights on that path
--   os1.score(ctx, g)                      -- BN recalibrated, accuracy on the holdout rows
--   os1.pick(ctx, { g1, g2, ... })         -- the best of them by score, the supernet left on it
--   os1.finish(ctx)
--
-- Data: the training split loses `holdout` rows (default 2000, seeded) that
-- score subnets; the rest trains the shared weights. The user's validation split
-- is never touched, so a derived cell can be judged on it without selection bias.
local supernet = require "nas.supernet"
local rng_mod = require "nas.rng"
local util = require "nas.util"

local M = {}

M.keys = { "space", "data", "epochs", "samples", "batch", "seed", "weights", "device", "memfmt", "holdout",
           "bn_batches", "max_seconds", "progress", "chunk", "fixed", "base" }

local function now()
  local ok, sys = pcall(require, "system")
  if ok and type(sys) == "table" and sys.gettime then return sys.gettime() end
  return os.time()
end
M.now = now

local function posint(o, k, fname, level)
  local v = o[k]
  if v ~= nil and (math.type(v) ~= "integer" or v < 1) then
    util.argerror(1, fname, ("field '%s' must be an integer >= 1"):format(k), level + 1)
  end
end

-- Checks the common options and builds the supernet, trainer and holdout.
function M.begin(o, fname, keys, level)
  level = (level or 1) + 1
  util.check_options(o, keys, 1, fname, level)
  if type(o) ~= "table" or not o.space then util.argerror(1, fname, "field 'space' is required", level) end
  if type(o.data) ~= "table" or not o.data.train then
    util.argerror(1, fname, "field 'data' (a table with .train, from nas.data) is required", level)
  end
  for _, k in ipairs{ "epochs", "samples", "batch", "holdout", "bn_batches", "chunk" } do posint(o, k, fname, level) end
  if o.seed ~= nil and math.type(o.seed) ~= "integer" then
    util.argerror(1, fname, "field 'seed' must be an integer", level)
  end
  if o.max_seconds ~= nil and (type(o.max_seconds) ~= "number" or o.max_seconds <= 0) then
    util.argerror(1, fname, "field 'max_seconds' must be a number > 0", level)
  end
  if o.progress ~= nil and type(o.progress) ~= "function" then
    util.argerror(1, fname, "field 'progress' must be a function(info)", level)
  end
  local seed = o.seed or 0
  local train = o.data.train
  if o.samples then train = train:subset(math.min(o.samples, train:count()), seed) end
  local holdout = math.min(o.holdout or 2000, train:count() // 2)
  local wtrain, hold = train:split(holdout, seed + 1)
  local t0 = now()
  local sn = supernet.new(o.space, { seed = seed, device = o.device, memfmt = o.memfmt, fixed = o.fixed,
                                    base = o.base })
  sn:mode("path")
  local weights = { epochs = o.epochs or 1, batch = o.batch or 64, seed = seed, lr = 0.025, momentum = 0.9,
                    weight_decay = 3e-4, schedule = "cosine", grad_clip = 5 }
  for k, v in pairs(o.weights or {}) do weights[k] = v end
  local copts = util.without(weights, { progress = true, on_epoch = true, chunk = true })
  local t, msg = util.guard(level, sn.train_begin, sn, wtrain, copts)
  if not t then error(fname .. ": " .. tostring(msg), level) end
  return { o = o, fname = fname, sn = sn, space = sn.subspace, trainer = t, train = wtrain, hold = hold, t0 = t0,
           bn_batches = o.bn_batches or 10, rng = rng_mod.new(seed, 0), losses = {}, p = nil, seed = seed,
           chunk = o.chunk or 50, max_seconds = o.max_seconds }
end

-- One weight step on genotype g's path. Returns the trainer's progress, or
-- nil, msg when training failed (NaN, out of memory).
function M.step(ctx, g)
  ctx.sn:set_path(g)
  local p, msg = ctx.trainer:run(1)
  if not p then return nil, msg end
  ctx.p = p
  return p
end

-- True when the time budget (max_seconds, counted from begin) is spent.
function M.out_of_time(ctx)
  return ctx.max_seconds ~= nil and now() - ctx.t0 >= ctx.max_seconds
end

-- Accuracy of subnet g with the shared weights on `rows` holdout rows (all of
-- them by default), after recalibrating BN on bn_batches training batches.
function M.score(ctx, g, rows)
  ctx.sn:subnet(g, { data = ctx.train, batches = ctx.bn_batches, seed = ctx.seed })
  local data = ctx.hold
  if rows and rows < data:count() then
    ctx.nscored = (ctx.nscored or 0) + 1
    data = data:subset(rows, ctx.seed + ctx.nscored)
  end
  local r, msg = ctx.sn:evaluate(data)
  if not r then error(ctx.fname .. ": evaluating a subnet: " .. tostring(msg), 0) end
  return r.accuracy, r
end

-- The best of the candidate genotypes `cands` by M.score on all the holdout
-- rows (the first wins ties); the supernet is left on it, BN recalibrated.
-- Returns best, its score, the scores in cands' order.
function M.pick(ctx, cands)
  local scores, best = {}, 1
  for i, g in ipairs(cands) do
    scores[i] = M.score(ctx, g)
    if scores[i] > scores[best] then best = i end
  end
  ctx.sn:subnet(cands[best], { data = ctx.train, batches = ctx.bn_batches, seed = ctx.seed })
  return cands[best], scores[best], scores
end

function M.report(ctx, phase, extra)
  if not ctx.o.progress then return end
  local p = ctx.p or {}
  local info = { phase = phase, epoch = p.epoch, step = p.step, total_steps = p.total_steps, loss = p.loss,
                 seconds = now() - ctx.t0 }
  for k, v in pairs(extra or {}) do info[k] = v end
  ctx.o.progress(info)
end

function M.finish(ctx)
  if ctx.trainer then ctx.trainer:release() ctx.trainer = nil end
end

return M
