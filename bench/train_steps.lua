-- bench/train_steps.lua: training steps per second of nasrun (model:train with
-- steps = N, setup excluded) on real Fashion-MNIST batches.
--
--   nasrun --threads 2 bench/train_steps.lua model=mlp steps=2000 reps=3
--   nasrun --threads 2 bench/train_steps.lua model=cnn steps=60 reps=3
--
-- model=mlp: flatten, linear 784->64, relu, linear 64->10; batch 32.
-- model=cnn: conv 1->24 k3 bn relu maxpool2, conv 24->48 k3 bn relu maxpool2,
--            conv 48->88 k3 bn relu, gap, linear 88->10 (49,970 params); batch 128.
-- Both: SGD lr 0.05 momentum 0.9, constant schedule, shuffled epochs.
--
-- Timing: a warm-up model:train call first (it resolves the memory format for
-- memfmt "auto" -- measured by the engine on its first train_begin -- and warms
-- the allocator); then `reps` timed model:train{steps = N} calls on the same
-- model. The rate is steps / hist.seconds, where hist.seconds is the wall time
-- the engine spent inside nas_trainer_run (train_begin -- optimizer creation,
-- batch buffers -- excluded). The wall time of the whole model:train call
-- (setup included), measured here, is printed as a cross-check.
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local B = require "common"
local nas = require "nas"

local o = B.args{ model = "mlp", steps = 0, reps = 3, warmup = 0, memfmt = "auto" }

local function build(kind)
  local net = nas.net{ input = { 1, 28, 28 } }
  if kind == "mlp" then
    net:flatten(); net:linear{ out = 64 }; net:relu(); net:linear{ out = 10 }
  elseif kind == "cnn" then
    net:conv{ out = 24, k = 3 }; net:bn(); net:relu(); net:maxpool{ k = 2 }
    net:conv{ out = 48, k = 3 }; net:bn(); net:relu(); net:maxpool{ k = 2 }
    net:conv{ out = 88, k = 3 }; net:bn(); net:relu()
    net:gap(); net:linear{ out = 10 }
  else
    error("model must be mlp or cnn")
  end
  return net
end

local batch = o.model == "mlp" and 32 or 128
local steps = o.steps > 0 and o.steps or (o.model == "mlp" and 2000 or 60)
local warm = o.warmup > 0 and o.warmup or (o.model == "mlp" and 200 or 10)

local data = nas.data.fashion_mnist{ valid = 0 }
local net = build(o.model)
local model = nas.model(net, { seed = 1, memfmt = o.memfmt })
local key = o.model .. "_nasrun"
B.info(key .. "_params", model:params())
B.info(key .. "_threads", nas.threads())

local topts = { steps = warm, batch = batch, optimizer = "sgd", lr = 0.05, momentum = 0.9,
                schedule = "constant", seed = 1, chunk = 1000000 }
local h = assert(model:train(data.train, topts))
B.info(key .. "_memfmt", h.memfmt)

topts.steps = steps
local rates, walls = {}, {}
for i = 1, o.reps do
  collectgarbage("collect")
  topts.seed = i + 1
  local t0 = B.now()
  local hist, msg = model:train(data.train, topts)
  local wall = B.now() - t0
  assert(hist, msg)
  assert(hist.steps == steps, "ran " .. tostring(hist.steps) .. " steps")
  rates[i] = hist.steps / hist.seconds
  walls[i] = hist.steps / wall
  B.info(key .. "_loss", ("%.4f"):format(hist.final_loss))
end
B.result(key, B.median(rates))
B.info(key .. "_incl_setup", ("%.1f"):format(B.median(walls)))
