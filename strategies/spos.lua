-- strategies/spos.lua: Single Path One-Shot (Guo et al., "Single Path One-Shot
-- Neural Architecture Search with Uniform Sampling", ECCV 2020) on a space's
-- supernet.
--
--   local spos = require "strategies.spos"
--   local r = spos.run{ space = require "spaces.cell", data = nas.data.fashion_mnist{ valid = 5000 }, epochs = 2 }
--   r.genotype            -- the best subnet found: build and train it as a normal net
--   r.score               -- its accuracy with the inherited weights on the holdout rows
--   r.search              -- the nas.search result of the second phase (trials, best, ...)
--   r.supernet            -- the trained supernet (left in path mode on r.genotype)
--
-- Phase 1 trains the supernet's weights with one uniformly drawn path per step
-- (every op decision drawn uniformly; only that path runs and gets gradients),
-- SGD lr 0.025 cosine, momentum 0.9, weight decay 3e-4, batch 64, grad clip 5
-- (override with `weights`). Phase 2 runs any ask/tell strategy (evolution by
-- default: population 20, sample 5) through nas.search over the space, each trial
-- scored by the subnet's accuracy with the inherited weights: BN statistics
-- recalibrated on `bn_batches` (10) training batches, then evaluated on the
-- holdout rows (2000, carved out of the training split, never trained on).
--
-- Options (strict): space, data (required); epochs (1), samples (all training
-- rows), batch (64), seed (0), weights, device, memfmt, fixed / base (see nas.supernet:
-- a space with non-op decisions, e.g. spaces/chain.lua's depth, is searched over
-- the supernet's subspace with those decisions pinned), holdout (2000), bn_batches (10),
-- strategy (an ask/tell strategy object; default evolution{population = 20, sample = 5}),
-- trials (200: subnets scored in phase 2), search_minutes (no limit),
-- max_seconds (phase 1 stops after the step that crosses it), chunk (50: steps
-- between progress calls), progress = function(info) with info.phase "train"
-- (epoch, step, total_steps, loss, seconds) or "search" (trials, best, seconds).
local nas = require "nas"
local util = require "nas.util"
local oneshot = require "nas.oneshot"

local M = {}

local keys = { "strategy", "trials", "search_minutes" }
for _, k in ipairs(oneshot.keys) do keys[#keys + 1] = k end

function M.run(o)
  if type(o) == "table" then
    if o.trials ~= nil and (math.type(o.trials) ~= "integer" or o.trials < 1) then
      util.argerror(1, "spos.run", "field 'trials' must be an integer >= 1", 2)
    end
    if o.strategy ~= nil and (type(o.strategy) ~= "table" or type(o.strategy.ask) ~= "function") then
      util.argerror(1, "spos.run", "field 'strategy' must be an ask/tell strategy object", 2)
    end
    if o.search_minutes ~= nil and (type(o.search_minutes) ~= "number" or o.search_minutes <= 0) then
      util.argerror(1, "spos.run", "field 'search_minutes' must be a number > 0", 2)
    end
  end
  local ctx = oneshot.begin(o, "spos.run", keys, 2)
  local space, rng = ctx.space, ctx.rng

  -- phase 1: uniform single-path training
  local history, stopped = {}, nil
  while true do
    local p, msg = oneshot.step(ctx, space:sample(rng))
    if not p then
      oneshot.finish(ctx)
      return nil, msg
    end
    if p.step % ctx.chunk == 0 or p.done then oneshot.report(ctx, "train") end
    if p.epoch_done then
      history[#history + 1] = { epoch = p.epoch, loss = p.epoch_loss, accuracy = p.epoch_accuracy }
    end
    if p.done then break end
    if oneshot.out_of_time(ctx) then
      stopped = ("time budget: stopped after step %d of %d"):format(p.step, p.total_steps)
      break
    end
  end
  oneshot.finish(ctx)
  local train_seconds = oneshot.now() - ctx.t0

  -- phase 2: a multi-trial search over subnets scored with the inherited weights
  local strategy = o.strategy or require("strategies.evolution").new{ population = 20, sample = 5 }
  local res = nas.search{
    space = space, strategy = strategy, seed = ctx.seed, progress = false, log = false,
    budget = { trials = o.trials or 200, minutes = o.search_minutes },
    evaluate = function(_, c)
      local acc = oneshot.score(ctx, c.genotype)
      return { accuracy = acc }
    end,
  }
  if not res.best then error("spos.run: no subnet could be scored (every trial failed)", 2) end
  oneshot.report(ctx, "search", { trials = #res.trials, best = res.best.score })
  ctx.sn:subnet(res.best.genotype, { data = ctx.train, batches = ctx.bn_batches, seed = ctx.seed })
  return {
    genotype = res.best.genotype, score = res.best.score, search = res, history = history, stopped = stopped,
    steps = ctx.p and ctx.p.step or 0, train_seconds = train_seconds, seconds = oneshot.now() - ctx.t0,
    supernet = ctx.sn,
  }
end

return M
