-- strategies/darts.lua: DARTS (Liu et al., "DARTS: Differentiable Architecture
-- Search", ICLR 2019) on a space's supernet, driven step by step from Lua, with
-- the heavy loop in the core (nas_darts_*: engine/torch/supernet.cpp).
--
--   local darts = require "strategies.darts"
--   local r = darts.run{ space = require "spaces.cell", data = nas.data.fashion_mnist(), epochs = 1 }
--   r.genotype            -- argmax per decision: build and train it as a normal net
--   r.arch, r.probs       -- logits / softmax per decision name; r.history per epoch; r.seconds
--
-- DARTS is one-shot, not ask/tell: it returns one genotype. The training split
-- is halved as in DARTS: one half trains the weights (SGD lr 0.025 cosine,
-- momentum 0.9, weight decay 3e-4, batch 64, grad clip 5), the other the
-- architecture logits (Adam lr 3e-4, betas 0.5/0.999, weight decay 1e-3),
-- alternating one step each; first order, or (order = 2) second order: the
-- architecture gradient at the unrolled weights w - lr * dL_train/dw with DARTS's
-- finite-difference correction (about 3x the arch step's cost).
--
-- Options (strict):
--   space (required), data (required: a table with .train, as nas.data.* give),
--   epochs (1), samples (all: training rows used, before halving), batch (64),
--   seed (0), order (1 or 2),
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
--     draws from the softmax of the logits, each scored as a subnet with the
--     inherited weights (BN recalibrated on bn_batches (10) batches) on derive_rows
--     (2000) rows of the architecture half; the best is kept (r.score, r.candidates,
--     r.scores; the supernet is left in path mode on it). Sound where the weights
--     were trained on single paths (GDAS); DARTS's mixed-trained weights make
--     subnet scores less telling,
--   max_seconds: stop after the chunk that crosses this much wall time (r.stopped says so),
--   progress = function(info) after every chunk (50) steps: {epoch, step, total_steps,
--     loss, arch_loss, seconds}.
local nas = require "nas"
local util = require "nas.util"
local oneshot = require "nas.oneshot"

local M = {}

local keys = { "space", "data", "epochs", "samples", "batch", "seed", "order", "weights", "arch_lr", "arch_beta1",
               "arch_beta2", "arch_weight_decay", "device", "memfmt", "guard", "max_skips", "skip", "progress",
               "chunk", "max_seconds", "derive", "zero", "warmup", "derive_samples", "derive_rows",
               "bn_batches" }

local function count(g, skip)
  local n = 0
  for _, v in pairs(g) do if v == skip then n = n + 1 end end
  return n
end

local sample_derive -- (below)

-- The bilevel loop shared with strategies/gdas.lua: v.name (for messages),
-- v.keys (allowed options), v.mode (the supernet's mix mode), v.tau(step, total)
-- (the Gumbel temperature before each chunk, or nil); o.guard is darts's only.
function M.bilevel(o, v)
  local fname = v.name
  util.check_options(o, v.keys, 1, fname, 3)
  if type(o) ~= "table" or not o.space then util.argerror(1, fname, "field 'space' is required", 3) end
  if type(o.data) ~= "table" or not o.data.train then
    util.argerror(1, fname, "field 'data' (a table with .train, from nas.data) is required", 3)
  end
  local order = o.order or 1
  if order ~= 1 and order ~= 2 then util.argerror(1, fname, "order must be 1 or 2", 3) end
  local guard = o.guard
  local epochs, batch, seed = o.epochs or 1, o.batch or 64, o.seed or 0
  local max_skips, skip = o.max_skips or 2, o.skip or "skip_connect"
  local chunk = o.chunk or 50
  local derive = o.derive or v.derive
  if derive ~= "argmax" and derive ~= "nonzero" and derive ~= "sample" then
    util.argerror(1, fname, "derive must be \"argmax\", \"nonzero\" or \"sample\", got " .. tostring(derive), 3)
  end
  for _, k in ipairs{ "derive_samples", "derive_rows", "bn_batches" } do
    local x = o[k]
    if x ~= nil and (math.type(x) ~= "integer" or x < (k == "derive_samples" and 0 or 1)) then
      util.argerror(1, fname, ("field '%s' must be an integer >= %d"):format(k, k == "derive_samples" and 0 or 1), 3)
    end
  end
  local gopts = derive == "nonzero" and { exclude = { o.zero or "none" } } or nil
  if o.max_seconds ~= nil and (type(o.max_seconds) ~= "number" or o.max_seconds <= 0) then
    util.argerror(1, fname, "field 'max_seconds' must be a number > 0", 3)
  end
  local now = oneshot.now
  local start = now()

  -- the two halves of the training split
  local train = o.data.train
  if o.samples then train = train:subset(math.min(o.samples, train:count()), seed) end
  local wtrain, atrain = train:split(train:count() // 2, seed)

  local t0 = os.clock()
  local sn = nas.supernet(o.space, { seed = seed, device = o.device, memfmt = o.memfmt })
  sn:mode(v.mode, v.tau and v.tau(0, 1) or nil)
  local weights = { epochs = epochs, batch = batch, seed = seed, lr = 0.025, momentum = 0.9,
                    weight_decay = 3e-4, schedule = "cosine", grad_clip = 5 }
  for k, w in pairs(o.weights or {}) do weights[k] = w end
  local warmup = o.warmup or 0
  if math.type(warmup) ~= "integer" or warmup < 0 then
    util.argerror(1, fname, "field 'warmup' must be an integer >= 0 (epochs)", 3)
  end
  if warmup > 0 then -- weights only, the logits untouched (PC-DARTS's warm-up), constant lr
    local wo = {}
    for k, x in pairs(weights) do wo[k] = x end
    wo.epochs, wo.schedule = warmup, "constant"
    local h, msg = sn:train(wtrain, wo)
    if not h then return nil, msg end
  end
  local d, msg = sn:darts_begin(wtrain, atrain, {
    weights = weights, arch_lr = o.arch_lr, arch_beta1 = o.arch_beta1, arch_beta2 = o.arch_beta2,
    arch_weight_decay = o.arch_weight_decay, seed = seed, order = order })
  if not d then error(fname .. ": " .. tostring(msg), 3) end

  local history, stopped = {}, nil
  local p
  repeat
    if v.tau then sn:mode(v.mode, v.tau(p and p.step or 0, p and p.total_steps or 1)) end
    p, msg = d:run(chunk)
    if not p then
      d:release()
      return nil, msg
    end
    if o.progress then
      o.progress{ epoch = p.epoch, step = p.step, total_steps = p.total_steps, loss = p.loss,
                  arch_loss = p.arch_loss, seconds = p.seconds }
    end
    if p.epoch_done then
      local g = sn:genotype(gopts)
      local h = { epoch = p.epoch, loss = p.epoch_loss, accuracy = p.epoch_accuracy, arch_loss = p.arch_loss,
                  genotype = g, skips = count(g, skip) }
      history[#history + 1] = h
      if guard == "early_stop" and h.skips >= max_skips and not p.done then
        stopped = ("DARTS+ early stop after epoch %d: %d edges are %s"):format(p.epoch, h.skips, skip)
        break
      end
    end
    if not p.done and o.max_seconds and now() - start >= o.max_seconds then
      stopped = ("time budget: stopped after step %d of %d"):format(p.step, p.total_steps)
      break
    end
  until p.done
  d:release()
  local r = { derive = derive, arch = sn:arch(), probs = sn:probs(), history = history, stopped = stopped,
              steps = p.step, supernet = sn }
  if derive == "sample" then
    local ok, e = pcall(sample_derive, sn, r, o, wtrain, atrain, seed)
    if not ok then error(fname .. ": " .. tostring(e), 3) end
  else
    r.genotype = sn:genotype(gopts)
    if v.mode == "gumbel" then sn:mode("fixed") end -- evaluations of the result: the argmax cell
  end
  r.seconds, r.cpu_seconds = now() - start, os.clock() - t0
  return r
end

-- derive = "sample" (ENAS's derivation, Pham et al. 2018, sec. 2.2: sample
-- several architectures from the learned policy, keep the one with the best
-- validation score): the argmax and zero-free argmax genotypes plus
-- derive_samples (20) draws from the softmax of the logits, each scored as a
-- subnet with the inherited weights (BN recalibrated on bn_batches (10) batches
-- of the weight half) on derive_rows (2000) rows of the architecture half;
-- the best is kept and the supernet left in path mode on it.
function sample_derive(sn, r, o, wtrain, atrain, seed)
  local rng = nas.rng(seed, 0x5a)
  local cands, seen = {}, {}
  local function add(g)
    local key = table.concat(sn:path_of(g), ",")
    if not seen[key] then seen[key] = true; cands[#cands + 1] = g end
  end
  add(sn:genotype())
  add(sn:genotype{ exclude = { o.zero or "none" } })
  for _ = 1, o.derive_samples or 20 do add(sn:sample(rng)) end
  local rows = math.min(o.derive_rows or 2000, atrain:count())
  local ctx = { sn = sn, train = wtrain, hold = rows < atrain:count() and atrain:subset(rows, seed + 2) or atrain,
                bn_batches = o.bn_batches or 10, seed = seed, fname = "derive" }
  r.genotype, r.score, r.scores = oneshot.pick(ctx, cands)
  r.candidates = cands
end

function M.run(o)
  local guard = type(o) == "table" and o.guard or nil
  if guard ~= nil and guard ~= "sigmoid" and guard ~= "early_stop" then
    util.argerror(1, "darts.run", "guard must be nil, \"sigmoid\" or \"early_stop\", got " .. tostring(guard), 2)
  end
  return M.bilevel(o, { name = "darts.run", keys = keys, mode = guard == "sigmoid" and "sigmoid" or "softmax",
                         derive = "nonzero" })
end

return M
