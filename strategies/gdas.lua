-- strategies/gdas.lua: GDAS (Dong & Yang, "Searching for a Robust Neural
-- Architecture in Four GPU Hours", CVPR 2019) on a space's supernet: DARTS's
-- bilevel loop (strategies/darts.lua, engine/torch/supernet.cpp) with the
-- supernet in Gumbel mode: each forward samples one op per decision (a hard
-- one-hot Gumbel-softmax sample, straight-through gradients to the logits), so
-- only the sampled branches run and train; the temperature falls linearly from
-- tau_max (10) to tau_min (0.1) over the search, as in GDAS.
--
--   nas.search{ space = require "spaces.cell", strategy = require("strategies.gdas").new{ epochs = 10 },
--               evaluate = nas.train{ data = data }, out = "runs/gdas", budget = { minutes = 60 } }
--   -- result.best: the chosen cell's trial; result.oneshot: arch, probs, history, candidates, scores,
--   -- supernet, as strategies/darts.lua. gdas.run{ space =, data =, ... } as darts.run.
--
-- Options: darts.new's (epochs, samples, batch, order, weights, arch_lr, arch_beta1,
-- arch_beta2, arch_weight_decay, device, memfmt, progress, chunk, derive, zero, warmup,
-- derive_samples, derive_rows, bn_batches, skip) without guard, plus tau_max, tau_min.
--
-- derive defaults to "sample" here: ENAS's derivation (darts.lua): the argmax
-- cells and 20 draws from the logits, each scored as a subnet with the shared
-- weights on 2000 rows of the architecture half, the best kept (result.oneshot.candidates,
-- .scores; the supernet is left in path mode on it). GDAS trains
-- its weights on single sampled paths, so those scores are meaningful (as in
-- SPOS). derive = "argmax" is GDAS's own reading (its NB201 code keeps the zero
-- op; the supernet is then left in "fixed" mode). On Fashion-MNIST within 20
-- minutes the logits barely move, and over the same 6 searches the scored cell
-- beat the random cells' median in 5 (both recipes) and the argmax cell in 5 (1
-- epoch on 20 %) and 2 (1 epoch on all the data): docs/results.md, "Supernets on Fashion-MNIST".
local nas = require "nas"
local util = require "nas.util"
local oneshot = require "nas.oneshot"
local darts = require "strategies.darts"

local M = {}

local keys = { "epochs", "samples", "batch", "order", "weights", "arch_lr", "arch_beta1", "arch_beta2",
               "arch_weight_decay", "device", "memfmt", "progress", "chunk", "tau_max", "tau_min", "skip", "derive",
               "zero", "warmup", "derive_samples", "derive_rows", "bn_batches" }

local gdas = {
  name = "gdas", keys = keys, derive = "sample",
  mode = function() return "gumbel" end,
  check = function(o, fname, level)
    local hi, lo = o.tau_max or 10, o.tau_min or 0.1
    if type(hi) ~= "number" or type(lo) ~= "number" or not (lo > 0 and hi >= lo) then
      util.argerror(1, fname, "need 0 < tau_min <= tau_max", level)
    end
  end,
  tau = function(o)
    local hi, lo = o.tau_max or 10, o.tau_min or 0.1
    return function(step, total) return hi - (hi - lo) * math.min(1, step / math.max(1, total)) end
  end,
}

-- gdas.new{ options } -> a one-shot strategy for nas.search{ strategy = ... }.
function M.new(o, fname, level)
  return darts.bilevel(o, gdas, fname or "gdas.new", (level or 2) + 1)
end

-- gdas.run{ space =, data =, seed = 0, max_seconds =, <options> }: a search without a store (see darts.run).
function M.run(o) return oneshot.run_with(nas.search, M.new, o, "gdas.run", 2) end

return M
