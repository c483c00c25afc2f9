-- strategies/enas.lua: ENAS (Pham et al., "Efficient Neural Architecture Search
-- via Parameter Sharing", ICML 2018) on a space's supernet: the REINFORCE
-- strategy (strategies/reinforce.lua) samples paths of the one shared model.
--
--   local enas = require "strategies.enas"
--   local r = enas.run{ space = require "spaces.cell", data = nas.data.fashion_mnist{ valid = 5000 }, epochs = 3 }
--   r.genotype, r.score, r.policy (the reinforce strategy object), r.history, r.supernet
--
-- Each epoch alternates, as in ENAS:
--   1. shared weights: one pass over the training rows, every step on a path
--      drawn from the current policy (SGD lr 0.025 cosine over all epochs,
--      momentum 0.9, weight decay 3e-4, batch 64, clip 5; override with `weights`);
--   2. controller: `controller_steps` (50) REINFORCE steps, each drawing a path,
--      scoring it with the shared weights on `reward_rows` (256) holdout rows
--      (accuracy; BN recalibrated on `bn_batches` (2) training batches) and
--      telling the policy that reward.
-- The result is the best of the policy's mode and `final_samples` (10) draws,
-- scored on all holdout rows with `final_bn_batches` (10) batches of BN recalibration.
--
-- Options (strict): space, data (required); epochs (1), samples, batch, seed (0),
-- weights, device, memfmt, fixed, base (see nas.supernet: spaces with non-op decisions
-- search the supernet's subspace, those decisions pinned), holdout (2000), bn_batches (2), max_seconds,
-- chunk, progress (as spos.run: info.phase "train" | "controller" | "final");
-- controller ("categorical" | "lstm"), lr (reinforce's default: 0.01;
-- lstm 0.005), momentum (0.9: the reward baseline's EMA), entropy, hidden
-- (lstm only), controller_steps (50), reward_rows (256), final_samples (10),
-- final_bn_batches (10).
local util = require "nas.util"
local oneshot = require "nas.oneshot"
local reinforce = require "strategies.reinforce"

local M = {}

local own = { "controller", "lr", "momentum", "entropy", "hidden", "controller_steps", "reward_rows",
              "final_samples", "final_bn_batches" }
local keys = {}
for _, k in ipairs(oneshot.keys) do keys[#keys + 1] = k end
for _, k in ipairs(own) do keys[#keys + 1] = k end

function M.run(o)
  if type(o) == "table" then
    for _, k in ipairs{ "controller_steps", "reward_rows", "final_bn_batches" } do
      if o[k] ~= nil and (math.type(o[k]) ~= "integer" or o[k] < 1) then
        util.argerror(1, "enas.run", ("field '%s' must be an integer >= 1"):format(k), 2)
      end
    end
    if o.final_samples ~= nil and (math.type(o.final_samples) ~= "integer" or o.final_samples < 0) then
      util.argerror(1, "enas.run", "field 'final_samples' must be an integer >= 0", 2)
    end
  end
  local popts = { controller = o and o.controller, lr = o and o.lr, momentum = o and o.momentum }
  if o and o.controller == "lstm" then
    popts.entropy, popts.hidden, popts.seed = o.entropy, o.hidden, o.seed
  elseif o and (o.entropy ~= nil or o.hidden ~= nil) then
    util.argerror(1, "enas.run", "options 'entropy' and 'hidden' are for controller = \"lstm\"", 2)
  end
  local ok, policy = pcall(reinforce.new, popts)
  if not ok then error("enas.run: " .. tostring(policy):gsub("^.-reinforce%.new", "controller"), 2) end
  local oo = {}
  for k, v in pairs(o or {}) do oo[k] = v end
  for _, k in ipairs(own) do oo[k] = nil end
  oo.bn_batches = o and o.bn_batches or 2
  local ctx = oneshot.begin(oo, "enas.run", keys, 2)
  local space, rng = ctx.space, ctx.rng
  local csteps, rows = o.controller_steps or 50, o.reward_rows or 256
  local history, stopped, told = {}, nil, 0

  local function controller_phase(epoch)
    local rsum = 0
    for _ = 1, csteps do
      local g = policy:ask(space, rng)
      local acc = oneshot.score(ctx, g, rows)
      told = told + 1
      policy:tell{ id = told, genotype = g, score = acc, status = "ok" }
      rsum = rsum + acc
    end
    local h = history[#history]
    h.reward = rsum / csteps
    h.mode = policy:mode()
    oneshot.report(ctx, "controller", { epoch = epoch, reward = h.reward })
  end

  while true do
    local p, msg = oneshot.step(ctx, policy:sample(space, rng))
    if not p then
      oneshot.finish(ctx)
      return nil, msg
    end
    if p.step % ctx.chunk == 0 or p.done then oneshot.report(ctx, "train") end
    local out = not p.done and oneshot.out_of_time(ctx)
    if p.epoch_done or out then
      history[#history + 1] = { epoch = p.epoch, loss = p.epoch_loss, accuracy = p.epoch_accuracy }
      controller_phase(p.epoch)
    end
    if p.done then break end
    if out then
      stopped = ("time budget: stopped after step %d of %d"):format(p.step, p.total_steps)
      break
    end
  end
  oneshot.finish(ctx)

  -- derive: the policy's mode and a few draws, scored on the whole holdout
  ctx.bn_batches = o.final_bn_batches or 10
  local cands = { policy:mode() }
  for _ = 1, (o.final_samples or 10) do cands[#cands + 1] = policy:sample(space, rng) end
  local best, best_score, scores = oneshot.pick(ctx, cands)
  oneshot.report(ctx, "final", { best = best_score })
  return {
    genotype = best, score = best_score, candidates = cands, scores = scores, policy = policy, history = history,
    stopped = stopped, steps = ctx.p and ctx.p.step or 0, seconds = oneshot.now() - ctx.t0, supernet = ctx.sn,
  }
end

return M
