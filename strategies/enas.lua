-- strategies/enas.lua: ENAS (Pham et al., "Efficient Neural Architecture Search
-- via Parameter Sharing", ICML 2018) on a space's supernet: the REINFORCE
-- strategy (strategies/reinforce.lua) samples paths of the one shared model.
--
--   local result = nas.search{ space = require "spaces.cell", strategy = require("strategies.enas").new{ epochs = 3 },
--                              evaluate = nas.train{ data = nas.data.fashion_mnist{ valid = 5000 } },
--                              out = "runs/enas", budget = { minutes = 30 } }
--   result.best, result.oneshot.policy (the reinforce strategy object), .history, .candidates, .supernet
--
-- ENAS is one-shot (nas.oneshot, docs/strategies.md "One-shot strategies").
-- Each epoch alternates, as in ENAS:
--   1. shared weights: one pass over the training rows, every step on a path
--      drawn from the current policy (SGD lr 0.025 cosine over all epochs,
--      momentum 0.9, weight decay 3e-4, batch 64, clip 5; override with `weights`);
--   2. controller: `controller_steps` (50) REINFORCE steps, each drawing a path,
--      scoring it with the shared weights on `reward_rows` (256) holdout rows
--      (accuracy; BN recalibrated on `bn_batches` (2) training batches) and
--      telling the policy that reward.
-- The controller's steps train the policy (each epoch's draws and rewards are
-- kept in the store's phases table, so a resumed search rebuilds the policy);
-- they are not trials. The chosen subnet is the best of the policy's mode and
-- `final_samples` (10) draws, each recorded as a trial scored on all holdout
-- rows with `final_bn_batches` (10) batches of BN recalibration.
--
-- Options (strict): epochs (1), samples, batch,
-- weights, device, memfmt, fixed, base (see nas.supernet: spaces with non-op decisions
-- search the supernet's subspace, those decisions pinned), holdout (2000), bn_batches (2),
-- chunk, progress (as spos.new: info.phase "train" | "controller" | "final");
-- controller ("categorical" | "lstm"), lr (reinforce's default: 0.01;
-- lstm 0.005), momentum (0.9: the reward baseline's EMA), entropy, hidden
-- (lstm only), controller_steps (50), reward_rows (256), final_samples (10),
-- final_bn_batches (10). The search's seed seeds the lstm controller's weights;
-- budget.minutes stops training after the step that crosses it (no controller
-- phase for that partial epoch).
--
-- enas.run{ space =, data =, seed = 0, max_seconds =, <options> } runs the same
-- search without a store and returns result.oneshot with genotype, score and search.
local nas = require "nas"
local util = require "nas.util"
local oneshot = require "nas.oneshot"
local reinforce = require "strategies.reinforce"

local M = {}
local S = {}
S.__index = S

local keys = { "holdout", "bn_batches", "fixed", "base", "controller", "lr", "momentum", "entropy", "hidden",
               "controller_steps", "reward_rows", "final_samples", "final_bn_batches" }
for _, k in ipairs(oneshot.common_keys) do keys[#keys + 1] = k end

local function policy_opts(o, seed)
  local p = { controller = o.controller, lr = o.lr, momentum = o.momentum }
  if o.controller == "lstm" then p.entropy, p.hidden, p.seed = o.entropy, o.hidden, seed end
  return p
end

-- enas.new{ options } -> a one-shot strategy for nas.search{ strategy = ... }.
function M.new(o, fname, level)
  fname, level = fname or "enas.new", (level or 2) + 1
  util.check_options(o, keys, 1, fname, level)
  o = o or {}
  oneshot.check_common(o, fname, level)
  for _, k in ipairs{ "controller_steps", "reward_rows", "final_bn_batches", "holdout", "bn_batches" } do
    oneshot.posint(o, k, fname, level)
  end
  oneshot.posint(o, "final_samples", fname, level, 0)
  if o.controller ~= "lstm" and (o.entropy ~= nil or o.hidden ~= nil) then
    util.argerror(1, fname, "options 'entropy' and 'hidden' are for controller = \"lstm\"", level)
  end
  local ok, err = pcall(reinforce.new, policy_opts(o, 0))
  if not ok then error(fname .. ": " .. tostring(err):gsub("^.-reinforce%.new", "controller"), level) end
  return setmetatable({ oneshot = true, name = "enas", opts = o }, S)
end

function S:search(ctx)
  local o, seed = self.opts, ctx.seed
  local oo = util.without(o, {})
  oo.bn_batches = o.bn_batches or 2
  local P = oneshot.paths(ctx, oo)
  local policy = reinforce.new(policy_opts(o, seed))
  local csteps, rows = o.controller_steps or 50, o.reward_rows or 256
  -- the controller's history (earlier runs' epochs), told again in order
  local told = 0
  for _, h in ipairs(ctx:history()) do
    for _, c in ipairs(h.controller or {}) do
      told = told + 1
      policy:tell{ id = told, genotype = c[1], score = c[2], status = "ok" }
    end
  end

  -- after each epoch of weight steps: the controller's REINFORCE steps
  local function controller_phase(epoch)
    local rng, list, rsum = nas.rng(seed, "controller", epoch), {}, 0
    for i = 1, csteps do
      local g = policy:ask(P.space, rng)
      local acc = P:score(g, oo.bn_batches, rows, seed + told)
      told = told + 1
      policy:tell{ id = told, genotype = g, score = acc, status = "ok" }
      list[i], rsum = { g, acc }, rsum + acc
      ctx:progress({ step = i, total_steps = csteps }, ("enas controller (epoch %d)"):format(epoch))
    end
    local reward = rsum / csteps
    if o.progress then o.progress{ phase = "controller", epoch = epoch, reward = reward } end
    return { controller = list, reward = reward, mode = policy:mode() }
  end
  local ok, msg = P:fit(function(_, rng) return policy:sample(P.space, rng) end, controller_phase)
  if not ok then return nil, { error = "enas: " .. tostring(msg) } end

  -- derive: the policy's mode and a few draws, recorded and scored on the whole holdout
  -- (a draw first: the policy learns from every reward told, and on a resumed
  -- search that did not train makes its distributions)
  policy:sample(P.space, nas.rng(seed, "advance"))
  local rng = nas.rng(seed, "final")
  local cands = { policy:mode() }
  for _ = 1, (o.final_samples or 10) do cands[#cands + 1] = policy:sample(P.space, rng) end
  local fbn = o.final_bn_batches or 10
  local best, trials, scores = ctx:pick(cands, oneshot.scorer(P.sn, P.train, P.hold, fbn, seed),
                                        { epochs = P.trained })
  if not best then return nil, { error = "enas: no candidate subnet could be scored" } end
  P.sn:subnet(best.genotype, { data = P.train, batches = fbn, seed = seed })
  if o.progress then o.progress{ phase = "final", best = best.score } end
  return best, {
    candidates = cands, scores = scores, trials = trials, policy = policy, history = ctx:history(),
    stopped = P.stopped, reason = P.reason, steps = P.steps, seconds = oneshot.now() - P.t0, supernet = P.sn,
  }
end

-- enas.run{ space =, data =, seed = 0, max_seconds =, <options> }: see the header.
function M.run(o) return oneshot.run_with(nas.search, M.new, o, "enas.run", 2) end

return M
