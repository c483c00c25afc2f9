-- strategies/gdas.lua: GDAS (Dong & Yang, "Searching for a Robust Neural
-- Architecture in Four GPU Hours", CVPR 2019) on a space's supernet: DARTS's
-- bilevel loop (strategies/darts.lua, engine/torch/supernet.cpp) with the
-- supernet in Gumbel mode: each forward samples one op per decision (a hard
-- one-hot Gumbel-softmax sample, straight-through gradients to the logits), so
-- only the sampled branches run and train; the temperature falls linearly from
-- tau_max (10) to tau_min (0.1) over the search, as in GDAS.
--
--   local r = require("strategies.gdas").run{ space = require "spaces.cell", data = nas.data.fashion_mnist() }
--   r.genotype, r.arch, r.probs, r.history, r.seconds  (as darts.run), r.score, r.candidates, r.scores
--
-- Options: darts.run's (space, data, epochs, samples, batch, seed, order, weights, arch_lr, arch_beta1,
-- arch_beta2, arch_weight_decay, device, memfmt, progress, chunk, max_seconds, derive, zero, warmup,
-- derive_samples, derive_rows, bn_batches) without guard, plus tau_max, tau_min.
--
-- derive defaults to "sample" here: ENAS's derivation (darts.lua): the argmax
-- cells and 20 draws from the logits, each scored as a subnet with the shared
-- weights on 2000 rows of the architecture half, the best kept (r.score,
-- r.candidates, r.scores; the supernet is left in path mode on it). GDAS trains
-- its weights on single sampled paths, so those scores are meaningful (as in
-- SPOS). derive = "argmax" is GDAS's own reading (its NB201 code keeps the zero
-- op; the supernet is then left in "fixed" mode). On Fashion-MNIST within 20
-- minutes the logits barely move, and over the same 6 searches the scored cell
-- beat the random cells' median in 5 (both recipes) and the argmax cell in 5 (1
-- epoch on 20 %) and 2 (1 epoch on all the data): docs/results.md, "Supernets on Fashion-MNIST".
local util = require "nas.util"
local darts = require "strategies.darts"

local M = {}

local keys = { "space", "data", "epochs", "samples", "batch", "seed", "order", "weights", "arch_lr", "arch_beta1",
               "arch_beta2", "arch_weight_decay", "device", "memfmt", "progress", "chunk", "tau_max", "tau_min",
               "skip", "max_seconds", "derive", "zero", "warmup", "derive_samples", "derive_rows", "bn_batches" }

function M.run(o)
  local hi = type(o) == "table" and o.tau_max or 10
  local lo = type(o) == "table" and o.tau_min or 0.1
  if type(hi) ~= "number" or type(lo) ~= "number" or not (lo > 0 and hi >= lo) then
    util.argerror(1, "gdas.run", "need 0 < tau_min <= tau_max", 2)
  end
  return darts.bilevel(o, {
    name = "gdas.run", keys = keys, mode = "gumbel", derive = "sample",
    tau = function(step, total) return hi - (hi - lo) * math.min(1, step / math.max(1, total)) end,
  })
end

return M
