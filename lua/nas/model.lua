-- nas.model: a trainable libtorch model built from a net.
--
--   local model = nas.model(net, { seed = 1, device = "cpu" })
--   local hist, msg = model:train(data.train, { epochs = 1, batch = 128, lr = 0.05 })
--   print(model:evaluate(data.test).accuracy)
--
-- Building, evaluating, timing, saving and loading raise errors on failure.
-- Training returns nil, message, status when the run fails (a NaN loss, out of
-- memory): for a search that is a failed candidate, not a crash.
local core = require "nas.core"
local util = require "nas.util"
local netmod = require "nas.net"

local M = {}
local Model = {}
Model.__index = Model

local model_keys = { "seed", "device", "memfmt" }

function M.new(net, opts)
  if not netmod.is_net(net) then
    util.argerror(1, "model", "net expected (from nas.net{...}), got " .. type(net), 2)
  end
  util.check_options(opts, model_keys, 2, "model", 2)
  opts = opts or {}
  local cfg = util.config()
  local m, msg = util.guard(2, core.model_new, net:graph(), {
    seed = opts.seed or cfg.seed, device = opts.device or cfg.device, memfmt = opts.memfmt })
  if not m then error(msg, 2) end
  return setmetatable({ _m = m, net = net }, Model)
end

local lua_only = { progress = true, on_epoch = true, chunk = true }

-- model:train(dataset, opts) -> history | nil, message, status
-- opts: the engine's (epochs, steps, batch, optimizer, lr, momentum,
-- weight_decay, nesterov, beta1, beta2, eps, schedule, step_size, gamma,
-- warmup, label_smoothing, fraction, seed, augment, grad_clip) and
--   progress = function(p)  called every `chunk` steps (default 50)
--   on_epoch = function(epoch, stats) called after each epoch; return false to stop
function Model:train(data, opts)
  opts = opts or {}
  if type(opts) ~= "table" then util.argerror(3, "train", "table expected, got " .. type(opts), 2) end
  local chunk = opts.chunk or 50
  if math.type(chunk) ~= "integer" or chunk < 1 then
    util.argerror(3, "train", "field 'chunk' must be an integer >= 1", 2)
  end
  local copts = util.without(opts, lua_only)
  if copts.seed == nil then copts.seed = util.config().seed end
  local t, msg, status = util.guard(2, self._m.train_begin, self._m, data, copts)
  if not t then return nil, msg, status end
  local hist = { loss = {}, accuracy = {}, lr = {}, epochs = 0, steps = 0, seconds = 0 }
  local p
  while true do
    p, msg, status = t:run(chunk)
    if not p then
      t:release()
      if status == "interrupted" then error("interrupted: " .. msg, 2) end
      hist.error = msg
      return nil, msg, status
    end
    local stop = false
    if p.epoch_done then
      hist.loss[#hist.loss + 1] = p.epoch_loss
      hist.accuracy[#hist.accuracy + 1] = p.epoch_accuracy
      hist.lr[#hist.lr + 1] = p.lr
      hist.epochs = p.epoch
      if opts.on_epoch and opts.on_epoch(p.epoch, { loss = p.epoch_loss, accuracy = p.epoch_accuracy,
                                                     lr = p.lr, step = p.step, seconds = p.seconds }) == false then
        stop = true
        hist.stopped_early = true
      end
    end
    if opts.progress then opts.progress(p) end
    if p.done or stop then break end
  end
  t:release()
  hist.steps = p.step
  hist.seconds = p.seconds
  hist.final_loss = p.loss
  hist.memfmt = self._m:memfmt()
  return hist
end

-- model:evaluate(dataset [, {batch = 256}]) -> {accuracy =, loss =, count =}
function Model:evaluate(data, opts)
  util.check_options(opts, { "batch" }, 3, "evaluate", 2)
  local r, msg = util.guard(2, self._m.evaluate, self._m, data, (opts or {}).batch or 256)
  if not r then error(msg, 2) end
  return r
end

-- model:latency{batch = 1, runs = 50, warmup = 10, threads = 0}
--   -> {median_ms =, p90_ms =, mean_ms =, min_ms =}
function Model:latency(opts)
  local r, msg = util.guard(2, self._m.latency, self._m, opts)
  if not r then error(msg, 2) end
  return r
end

-- model:predict(dataset, first_row, n) -> outputs (n tables), labels
function Model:predict(data, first, n)
  local out, labels = util.guard(2, self._m.forward, self._m, data, first or 0, n or 1,
                                 self.net:output_size())
  if not out then error(labels, 2) end
  return out, labels
end

function Model:save(path)
  if type(path) ~= "string" then util.argerror(2, "save", "path (string) expected, got " .. type(path), 2) end
  local ok, msg = util.guard(2, self._m.save, self._m, path)
  if not ok then error(msg, 2) end
  return true
end

function Model:load(path)
  if type(path) ~= "string" then util.argerror(2, "load", "path (string) expected, got " .. type(path), 2) end
  local ok, msg = util.guard(2, self._m.load, self._m, path)
  if not ok then error(msg, 2) end
  return self
end

-- model:forward_floats(bytes, n [, { train = true }]) -> bytes
-- Runs n samples given as native float32 (string.pack("f", ...)), already
-- normalised as the model's input, and returns the n outputs the same way. In
-- eval mode by default; train = true: training mode without gradients (batch
-- norm on the batch's statistics, updating its running ones; dropout active).
function Model:forward_floats(bytes, n, opts)
  util.check_options(opts, { "train" }, 4, "forward_floats", 2)
  if type(bytes) ~= "string" then util.argerror(2, "forward_floats", "string of float32 expected", 2) end
  if opts and opts.train ~= nil and type(opts.train) ~= "boolean" then
    util.argerror(4, "forward_floats", "field 'train' must be true or false", 2)
  end
  local size = 1
  for _, d in ipairs(self.net:shape(0)) do size = size * d end
  if math.type(n) ~= "integer" or n < 1 or #bytes ~= 4 * n * size then
    util.argerror(3, "forward_floats", ("%d float32 per sample expected (got %d bytes for %s samples)"):format(
      size, #bytes, tostring(n)), 2)
  end
  local out, msg = util.guard(2, self._m.forward_floats, self._m, bytes, n, self.net:output_size(),
                              opts and opts.train or false)
  if not out then error(msg, 2) end
  return out
end

local export_keys = { "dir", "to", "class", "norm", "notes", "header" }

-- The README of an exported folder: what it holds and the Python that runs it.
function M.pytorch_readme(dir, class, net, norm, notes)
  local shape = table.concat(net:shape(0), ", ")
  local out = table.concat(net:shape(), ", ")
  local lines = {
    "This folder holds a network exported from nasrun as PyTorch code:",
    "",
    ("  model.py    the network as one torch.nn.Module (class %s); it imports only torch"):format(class),
    "  weights.pt  its state dict (parameters and buffers, batch-norm statistics included),",
    "              read by torch.load",
    "",
  }
  for _, l in ipairs(notes or {}) do lines[#lines + 1] = l end
  if notes and #notes > 0 then lines[#lines + 1] = "" end
  lines[#lines + 1] = ("Input: a float32 batch [N, %s]; output: [N, %s]."):format(shape, out)
  if norm then
    lines[#lines + 1] = "model.py normalises the input itself with the training set's per-channel mean and"
    lines[#lines + 1] = "std: give it pixel values scaled to [0, 1] (pixel / 255)."
  else
    lines[#lines + 1] = "The input is used as given: normalise it as it was in training."
  end
  local dims = { "8" }
  for _, d in ipairs(net:shape(0)) do dims[#dims + 1] = tostring(d) end
  local q = ("%q"):format(dir)
  local snippet = {
    "",
    "Load and run it (Python 3 with PyTorch):",
    "",
    "    import sys, torch",
    ("    sys.path.insert(0, %s)  # the folder of model.py"):format(q),
    ("    from model import %s"):format(class),
    ("    model = %s()"):format(class),
    ("    model.load_state_dict(torch.load(%s + \"/weights.pt\"))"):format(q),
    "    model.eval()  # batch norm on its running statistics, dropout off",
    ("    x = torch.rand(%s)  # a batch of 8 inputs"):format(table.concat(dims, ", ")),
    "    with torch.no_grad():",
    ("        y = model(x)  # [8, %s]"):format(out),
    "    print(y.argmax(1))",
    "",
  }
  for _, l in ipairs(snippet) do lines[#lines + 1] = l end
  return table.concat(lines, "\n")
end

-- model:export{ dir = DIR, to = "pytorch" [, class = "Net", norm = { mean = {..}, std = {..} },
--               header = "text for model.py's top comment", notes = { "README line", ... }] }
-- Writes DIR/model.py (standalone PyTorch code, one nn.Module), DIR/weights.pt
-- (its state dict, for torch.load) and DIR/README.txt (how to load and run it).
-- norm: the training data's per-channel normalisation, done by model.py
-- itself (its input is then pixel / 255). Creates DIR; overwrites the files.
-- A net that cannot be exported raises an error naming the node and its op.
-- See docs/export.md.
function Model:export(opts)
  util.check_options(opts, export_keys, 2, "export", 2)
  if opts == nil or type(opts.dir) ~= "string" or opts.dir == "" then
    util.argerror(2, "export", "field 'dir' (a folder name) is required", 2)
  end
  if opts.to ~= "pytorch" then
    util.argerror(2, "export", ("field 'to' must be \"pytorch\", got %s (a run's trial as JSON or Graphviz dot: " ..
      "nas.export)"):format(tostring(opts.to)), 2)
  end
  local norm = opts.norm
  if norm ~= nil and (type(norm) ~= "table" or type(norm.mean) ~= "table" or type(norm.std) ~= "table") then
    util.argerror(2, "export", "field 'norm' must be { mean = {...}, std = {...} }", 2)
  end
  if opts.notes ~= nil and type(opts.notes) ~= "table" then
    util.argerror(2, "export", "field 'notes' must be a list of lines", 2)
  end
  local class = opts.class or "Net"
  require("nas.store").mkdir(opts.dir)
  local ok, msg = util.guard(2, self._m.export_pytorch, self._m, opts.dir, {
    class = class, mean = norm and norm.mean, std = norm and norm.std, header = opts.header })
  if not ok then error(msg, 2) end
  local f, why = io.open(opts.dir .. "/README.txt", "wb")
  if not f then error("export: " .. tostring(why), 2) end
  f:write(M.pytorch_readme(opts.dir, class, self.net, norm, opts.notes))
  f:close()
  return { dir = opts.dir, files = { "model.py", "weights.pt", "README.txt" }, class = class }
end

-- The core's model handle (nas.core's model userdata), for the modules built
-- on it (nas.supernet).
function Model:handle() return self._m end
function Model:params() return self._m:param_count() end
function Model:device() return self._m:device() end
function Model:memfmt() return self._m:memfmt() end
function Model:release() self._m:release() end
Model.__close = function(self) self._m:release() end
Model.__tostring = function(self) return tostring(self._m) end

return M
