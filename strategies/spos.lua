-- strategies/spos.lua: Single Path One-Shot (Guo et al., "Single Path One-Shot
-- Neural Architecture Search with Uniform Sampling", ECCV 2020) on a space's
-- supernet.
--
--   local result = nas.search{ space = require "spaces.cell", strategy = require("strategies.spos").new{ epochs = 2 },
--                              evaluate = nas.train{ data = nas.data.fashion_mnist{ valid = 5000 } },
--                              out = "runs/spos", budget = { minutes = 30 } }
--   result.best           -- the best subnet found (its score: accuracy with the inherited weights)
--   result.best:retrain{ epochs = 10 }
--   result.oneshot        -- history (per epoch), stopped, steps, supernet (left in path mode on the best)
--
-- SPOS is one-shot (nas.oneshot, docs/strategies.md "One-shot strategies").
-- Phase 1 trains the supernet's weights with one uniformly drawn path per step
-- (every op decision drawn uniformly; only that path runs and gets gradients),
-- SGD lr 0.025 cosine, momentum 0.9, weight decay 3e-4, batch 64, grad clip 5
-- (override with `weights`). Phase 2 runs any ask/tell strategy (evolution by
-- default: population 20, sample 5) over the supernet's subnets, each recorded
-- as a trial scored by the subnet's accuracy with the inherited weights: BN
-- statistics recalibrated on `bn_batches` (10) training batches, then evaluated
-- on the holdout rows (2000, carved out of the training split, never trained
-- on). The best trial is chosen.
--
-- Options (strict): epochs (1), samples (all training rows), batch (64),
-- weights, device, memfmt, fixed / base (see nas.supernet: a space with non-op
-- decisions, e.g. spaces/chain.lua's depth, is searched over the supernet's
-- subspace with those decisions pinned), holdout (2000), bn_batches (10),
-- strategy (an ask/tell strategy object; default evolution{population = 20, sample = 5}),
-- trials (200: subnets scored in phase 2), search_minutes (phase 2's own cap, no limit),
-- chunk (50: steps between progress calls), progress = function(info) with info.phase
-- "train" (epoch, epochs, step, total_steps, loss, seconds) or "search" (trials, best, seconds).
-- The search's budget.minutes stops phase 1 after the step that crosses it and
-- phase 2 after the trial that crosses it (phase 2 scores one subnet at least).
--
-- spos.run{ space =, data =, seed = 0, max_seconds =, <options> } runs the same
-- search without a store and returns result.oneshot with genotype, score and search.
local nas = require "nas"
local util = require "nas.util"
local oneshot = require "nas.oneshot"

local M = {}
local S = {}
S.__index = S

local keys = { "strategy", "trials", "search_minutes", "holdout", "bn_batches", "fixed", "base" }
for _, k in ipairs(oneshot.common_keys) do keys[#keys + 1] = k end

-- spos.new{ options } -> a one-shot strategy for nas.search{ strategy = ... }.
function M.new(o, fname, level)
  fname, level = fname or "spos.new", (level or 2) + 1
  util.check_options(o, keys, 1, fname, level)
  o = o or {}
  oneshot.check_common(o, fname, level)
  oneshot.posint(o, "trials", fname, level)
  oneshot.posint(o, "holdout", fname, level)
  oneshot.posint(o, "bn_batches", fname, level)
  if o.strategy ~= nil and (type(o.strategy) ~= "table" or type(o.strategy.ask) ~= "function") then
    util.argerror(1, fname, "field 'strategy' must be an ask/tell strategy object", level)
  end
  if o.search_minutes ~= nil and (type(o.search_minutes) ~= "number" or not (o.search_minutes > 0)) then
    util.argerror(1, fname, "field 'search_minutes' must be a number > 0", level)
  end
  return setmetatable({ oneshot = true, name = "spos", opts = o }, S)
end

function S:search(ctx)
  local o = self.opts
  local P = oneshot.paths(ctx, o)
  local bn = o.bn_batches or 10

  -- phase 1: uniform single-path training
  local ok, msg = P:fit(function(_, rng) return P.space:sample(rng) end)
  if not ok then return nil, { error = "spos: " .. tostring(msg) } end

  -- phase 2: an ask/tell search over subnets scored with the inherited weights
  local strategy = o.strategy or require("strategies.evolution").new{ population = 20, sample = 5 }
  local score = oneshot.scorer(P.sn, P.train, P.hold, bn, P.seed)
  local t2 = oneshot.now()
  local trials = ctx:ask_tell(strategy, {
    trials = o.trials or 200, score = score, fidelity = { epochs = P.trained }, space = P.space,
    replay = ctx.earlier,
    stop = o.search_minutes and function() return oneshot.now() - t2 >= o.search_minutes * 60 and "minutes" end,
  })
  local best
  for _, t in ipairs(trials) do
    if t.status == "ok" and not t.cached_from and (best == nil or t.score > best.score) then best = t end
  end
  if not best then return nil, { error = "spos: no subnet could be scored (every trial failed)" } end
  if o.progress then
    o.progress{ phase = "search", trials = #trials, best = best.score, seconds = oneshot.now() - P.t0 }
  end
  P.sn:subnet(best.genotype, { data = P.train, batches = bn, seed = P.seed })
  return ctx:trial(best.id), {
    history = ctx:history(), stopped = P.stopped, reason = P.reason, steps = P.steps,
    train_seconds = P.train_seconds, seconds = oneshot.now() - P.t0, supernet = P.sn,
  }
end

-- spos.run{ space =, data =, seed = 0, max_seconds =, <options> }: see the header.
function M.run(o) return oneshot.run_with(nas.search, M.new, o, "spos.run", 2) end

return M
