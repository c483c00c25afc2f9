-- strategies/darts.lua: DARTS (Liu et al., "DARTS: Differentiable Architecture
-- Search", ICLR 2019) on a space's supernet, driven step by step from Lua, with
-- the heavy loop in the core (nas_darts_*: engine/torch/supernet.cpp).
--
--   local result = nas.search{ space = require "spaces.cell", strategy = require("strategies.darts").new{ epochs = 1 },
--                              evaluate = nas.train{ data = data, epochs = 4 }, out = "runs/darts",
--                              budget = { minutes = 30 } }
--   result.best           -- the derived cell's trial (its score: the subnet with the supernet's weights)
--   result.best:retrain{ epochs = 10 }   -- trained from scratch with the evaluator's recipe, tested
--   result.oneshot        -- arch, probs (logits / softmax per decision), history (per epoch),
--                         -- stopped, supernet (the trained supernet), seconds
--
-- DARTS is one-shot (nas.oneshot, docs/strategies.md "One-shot strategies"): it
-- trains one supernet, records the cell read off the logits after every epoch
-- as a trial, and chooses the last. The data is the search's `data` or its
-- evaluator's; the training split is halved as in DARTS: one half trains the
-- weights (SGD lr 0.025 cosine, momentum 0.9, weight decay 3e-4, batch 64, grad
-- clip 5), the other the architecture logits (Adam lr 3e-4, betas 0.5/0.999,
-- weight decay 1e-3), alternating one step each; first order, or (order = 2)
-- second order: the architecture gradient at the unrolled weights
-- w - lr * dL_train/dw with DARTS's finite-difference correction (about 3x the
-- arch step's cost). Every recorded cell is scored as a subnet with the
-- supernet's weights (BN recalibrated on bn_batches (10) batches of the weight
-- half) on derive_rows (2000) rows of the architecture half; its trial's
-- fidelity.epochs says after how many supernet epochs.
--
-- Options (strict):
--   epochs (1), samples (all: training rows used, before halving), batch (64), order (1 or 2),
--   weights = {train options: lr, momentum, weight_decay, ...}, arch_lr, arch_beta1,
--   arch_beta2, arch_weight_decay, device, memfmt,
--   guard = nil | "sigmoid" | "early_stop": the collapse to skip connections
--     (NB201's DARTS row: 54.30, every edge skip_connect) is a known failure:
--     "sigmoid"    Fair DARTS (Chu et al., ECCV 2020): independent sigmoid weights
--                  instead of the softmax, so candidates do not compete exclusively
--                  (the supernet runs in NAS_MIX_SIGMOID mode);
--     "early_stop" DARTS+ (Liang et al., 2019): stop the search at the end of the
--                  epoch where the derived cell has >= max_skips (2) edges of value
--                  `skip` ("skip_connect");
--   max_skips (2), skip ("skip_connect"),
--   warmup (0): epochs of weight-only training (logits untouched, constant lr) before
--     the bilevel loop, as PC-DARTS (Xu et al., ICLR 2020) does: early on the
--     parameter-free ops win the arch steps only because the convolutions are untrained,
--   derive ("nonzero"): how the discrete cell is read off the logits: "nonzero" is
--     DARTS's rule (Liu et al. 2019, sec. 2.4: the zero op is excluded, its strength
--     being underdetermined since scaling a node's output does not change the
--     outcome behind batch normalisation), the argmax over the other ops;
--     "argmax" takes the zero op too (NB201's DARTS code); zero ("none") names it;
--     "sample" is ENAS's derivation: the two argmax cells and derive_samples (20)
--     draws from the softmax of the logits, each scored as above; the best is kept
--     (result.oneshot.candidates, .scores; the supernet is left in path mode on it).
--     Sound where the weights were trained on single paths (GDAS); DARTS's
--     mixed-trained weights make subnet scores less telling,
--   chunk (50): steps between progress calls,
--   progress = function(info) after every chunk: {epoch, epochs, step, total_steps, loss, arch_loss, seconds}.
-- The search's budget.minutes stops training after the chunk that crosses it
-- (result.oneshot.stopped says where); the cell is then read off the logits.
--
-- darts.run{ space =, data =, seed = 0, max_seconds =, <options> } runs the same
-- search without a store and returns result.oneshot with genotype, score and search.
local nas = require "nas"
local util = require "nas.util"
local oneshot = require "nas.oneshot"

local M = {}
local S = {}
S.__index = S

local keys = { "epochs", "samples", "batch", "order", "weights", "arch_lr", "arch_beta1", "arch_beta2",
               "arch_weight_decay", "device", "memfmt", "guard", "max_skips", "skip", "progress", "chunk", "derive",
               "zero", "warmup", "derive_samples", "derive_rows", "bn_batches" }

local function count(g, skip)
  local n = 0
  for _, v in pairs(g) do if v == skip then n = n + 1 end end
  return n
end

-- A bilevel strategy (DARTS here, GDAS in strategies/gdas.lua): v.name, v.keys
-- (allowed options), v.mode(o) (the supernet's mix mode), v.derive (the
-- default derivation), v.tau(o) (nil, or the Gumbel temperature function
-- tau(step, total) before each chunk), v.check(o, fname, level) (its own options).
-- level: the level of an error raised here.
function M.bilevel(o, v, fname, level)
  util.check_options(o, v.keys, 1, fname, level + 1)
  o = o or {}
  oneshot.check_common(o, fname, level + 1)
  if o.order ~= nil and o.order ~= 1 and o.order ~= 2 then util.argerror(1, fname, "order must be 1 or 2", level) end
  local derive = o.derive or v.derive
  if derive ~= "argmax" and derive ~= "nonzero" and derive ~= "sample" then
    util.argerror(1, fname, "derive must be \"argmax\", \"nonzero\" or \"sample\", got " .. tostring(derive), level)
  end
  oneshot.posint(o, "derive_samples", fname, level, 0)
  oneshot.posint(o, "derive_rows", fname, level)
  oneshot.posint(o, "bn_batches", fname, level)
  oneshot.posint(o, "max_skips", fname, level)
  oneshot.posint(o, "warmup", fname, level, 0)
  if v.check then v.check(o, fname, level + 1) end
  return setmetatable({ oneshot = true, name = v.name, opts = o, variant = v }, S)
end

local darts = {
  name = "darts", keys = keys, derive = "nonzero",
  mode = function(o) return o.guard == "sigmoid" and "sigmoid" or "softmax" end,
  check = function(o, fname, level)
    local guard = o.guard
    if guard ~= nil and guard ~= "sigmoid" and guard ~= "early_stop" then
      util.argerror(1, fname, "guard must be nil, \"sigmoid\" or \"early_stop\", got " .. tostring(guard), level)
    end
  end,
}

-- darts.new{ options } -> a one-shot strategy for nas.search{ strategy = ... }.
function M.new(o, fname, level)
  return M.bilevel(o, darts, fname or "darts.new", (level or 2) + 1)
end

local function hard_error(name, msg) return nil, { error = name .. ": " .. tostring(msg) } end

function S:search(ctx)
  local o, v = self.opts, self.variant
  local seed, name = ctx.seed, ctx.name
  local start, t0 = oneshot.now(), os.clock()
  local mode, tau = v.mode(o), v.tau and v.tau(o)
  local derive = o.derive or v.derive
  local gopts = derive == "nonzero" and { exclude = { o.zero or "none" } } or nil
  local skip, max_skips = o.skip or "skip_connect", o.max_skips or 2
  local chunk = o.chunk or 50

  -- the two halves of the training split; the rows that score subnets
  local train = ctx.data.train
  if o.samples then train = train:subset(math.min(o.samples, train:count()), seed) end
  local wtrain, atrain = train:split(train:count() // 2, seed)
  local rows = math.min(o.derive_rows or 2000, atrain:count())
  local score_rows = rows < atrain:count() and atrain:subset(rows, seed + 2) or atrain
  local bn_batches = o.bn_batches or 10

  local sn = nas.supernet(ctx.space, { seed = seed, device = o.device, memfmt = o.memfmt })
  local score = oneshot.scorer(sn, wtrain, score_rows, bn_batches, seed)
  local weights = oneshot.weights(o, seed)
  local E = weights.epochs
  local at = ctx:restore(sn)
  local e0 = at and at.epoch or 0
  local s0 = at and at.step or 0
  local stopped, reason = at and at.stopped, at and at.reason
  local trained, steps = e0, s0
  local function set_mode(step, total) sn:mode(mode, tau and tau(step, total) or nil) end

  if not at and (o.warmup or 0) > 0 then -- weights only, the logits untouched (PC-DARTS's warm-up), constant lr
    set_mode(0, 1)
    local wo = util.without(weights, {})
    wo.epochs, wo.schedule = o.warmup, "constant"
    local h, msg = sn:train(wtrain, wo)
    if not h then return hard_error(name, msg) end
    ctx:checkpoint(sn, { epoch = 0, epochs = E, step = 0, phase = "warmup", loss = h.loss })
  end
  -- the cell read off the logits after epoch e, recorded (kept if it was)
  local function epoch_trial(e) return ctx:evaluate(sn:genotype(gopts), score, { epochs = e }) end
  if at and e0 >= 1 then epoch_trial(e0) end

  if not stopped and e0 < E then
    local d, msg = sn:darts_begin(wtrain, atrain, {
      weights = oneshot.resume_weights(weights, e0), arch_lr = o.arch_lr, arch_beta1 = o.arch_beta1,
      arch_beta2 = o.arch_beta2, arch_weight_decay = o.arch_weight_decay, seed = seed, order = o.order or 1 })
    if not d then return hard_error(name, msg) end
    local p
    local ok, err = pcall(function()
      repeat
        set_mode(s0 + (p and p.step or 0), p and s0 + p.total_steps or (at and at.total_steps) or 1)
        p, msg = d:run(chunk)
        if not p then return end
        local info = { epoch = e0 + p.epoch, epochs = E, step = s0 + p.step, total_steps = s0 + p.total_steps,
                       loss = p.loss, arch_loss = p.arch_loss, seconds = p.seconds }
        steps = info.step
        ctx:progress(info)
        if o.progress then o.progress(info) end
        if p.epoch_done then
          local e, g = e0 + p.epoch, sn:genotype(gopts)
          local row = { epoch = e, epochs = E, step = s0 + p.step, total_steps = s0 + p.total_steps,
                        loss = p.epoch_loss, accuracy = p.epoch_accuracy, arch_loss = p.arch_loss, genotype = g,
                        skips = count(g, skip) }
          if o.guard == "early_stop" and row.skips >= max_skips and not p.done then
            stopped = ("DARTS+ early stop after epoch %d: %d edges are %s"):format(e, row.skips, skip)
            reason, row.stopped, row.reason = "early_stop", stopped, "early_stop"
          end
          ctx:checkpoint(sn, row)
          trained = e
          epoch_trial(e)
          if stopped then return end
        end
        if not p.done and ctx:out_of_time() then
          local spe = p.total_steps / (E - e0)
          stopped = ("time budget: stopped after step %d of %d"):format(s0 + p.step, s0 + p.total_steps)
          reason = "minutes"
          trained = math.floor(1000 * (s0 + p.step) / spe) / 1000
          ctx:checkpoint(sn, { epoch = trained, epochs = E, step = s0 + p.step, total_steps = s0 + p.total_steps,
                               loss = p.loss, arch_loss = p.arch_loss, stopped = stopped, reason = reason,
                               partial = true })
          return
        end
        set_mode(s0 + p.step, s0 + p.total_steps) -- scoring a subnet left the supernet in path mode
      until p.done
    end)
    d:release()
    if not ok then error(err, 0) end
    if not p then return hard_error(name, msg) end
  end

  local fid = { epochs = trained }
  local details = { derive = derive, history = ctx:history(), stopped = stopped, reason = reason, steps = steps,
                    supernet = sn }
  local chosen
  if derive == "sample" then
    -- ENAS's derivation (Pham et al. 2018, sec. 2.2: sample several architectures
    -- from the learned policy, keep the one with the best validation score)
    local rng, cands, seen = nas.rng(seed, 0x5a), {}, {}
    local function add(g)
      local key = table.concat(sn:path_of(g), ",")
      if not seen[key] then seen[key] = true; cands[#cands + 1] = g end
    end
    add(sn:genotype())
    add(sn:genotype{ exclude = { o.zero or "none" } })
    for _ = 1, o.derive_samples or 20 do add(sn:sample(rng)) end
    local trials
    chosen, trials, details.scores = ctx:pick(cands, score, fid)
    details.candidates, details.trials = cands, trials
    if not chosen then return nil, { error = name .. ": no candidate subnet could be scored" } end
    sn:subnet(chosen.genotype, { data = wtrain, batches = bn_batches, seed = seed })
  else
    chosen = epoch_trial(trained)
    sn:mode(mode == "gumbel" and "fixed" or mode) -- evaluations of the result: the argmax cell
  end
  details.arch, details.probs = sn:arch(), sn:probs()
  details.seconds, details.cpu_seconds = oneshot.now() - start, os.clock() - t0
  return chosen, details
end

-- darts.run{ space =, data =, seed = 0, max_seconds =, <options> }: see the header.
function M.run(o) return oneshot.run_with(nas.search, M.new, o, "darts.run", 2) end

return M
