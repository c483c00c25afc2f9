-- nas.proxies: zero-cost proxies — scores of an untrained net from one batch
-- (engine/torch/proxy.cpp; definitions in nas.h and docs in bench/README_proxies.md).
--
--   local data = nas.data.fashion_mnist{ valid = 5000 }
--   local s = nas.proxy(net, { data = data, size = 64 }, "synflow")       -- data.train, 64 seeded rows
--   local s = nas.proxy(net, { x = xs, y = ys }, "grad_norm", { seed = 1 }) -- a data table
--
--   nas.search{ ..., evaluate = nas.zero_cost{ proxy = "synflow", data = data, batch = 64 },
--               objectives = function(m) return m.synflow end }
--
-- Proxies: synflow, naswot, grad_norm, snip, fisher, jacob_cov, params, flops
-- (higher is better for all). The weights are those nas.model(net, { seed = })
-- starts training from; the model is built, scored and released.
--
-- Errors: misuse (unknown proxy, malformed batch or options) raises; a score
-- that is not finite (naswot's -inf for a singular kernel, jacob_cov's NaN for a
-- net that ignores its input) or an engine failure returns nil, message.
local core = require "nas.core"
local util = require "nas.util"
local netmod = require "nas.net"

local M = {}

M.names = core.proxies()
local known = {}
for _, n in ipairs(M.names) do known[n] = true end

-- Proxies that read no data (synflow uses only the input shape).
local dataless = { params = true, flops = true, synflow = true }

local function gettime()
  local ok, sys = pcall(require, "system")
  if ok and type(sys) == "table" and sys.gettime then return sys.gettime end
  return os.clock
end
local now = gettime()

local function check_name(name, n, fname, level)
  if type(name) ~= "string" then
    util.argerror(n, fname, "proxy name (string) expected, got " .. type(name), level + 1)
  end
  if not known[name] then
    util.argerror(n, fname, ("unknown proxy '%s' (known: %s)"):format(name, table.concat(M.names, ", ")), level + 1)
  end
end

local function is_dataset(d) return type(d) == "userdata" and type(d.count) == "function" end

-- A dataset view from a dataset or a nas.data table (its training split).
local function dataset_of(d)
  if is_dataset(d) then return d end
  if type(d) == "table" and is_dataset(d.train) then return d.train end
  return nil
end

-- batch spec -> a function(model_userdata, name) -> score | nil, msg, status, score
local function prepare(batch, n, fname, level)
  level = level + 1
  if batch == nil then
    return function(m, name) return core.proxy(m, name) end, "none"
  end
  if type(batch) ~= "table" then
    util.argerror(n, fname, "batch must be { data = dataset, size = 64 [, seed =] } or { x = ..., y = ... }", level)
  end
  if batch.x ~= nil then
    util.check_options(batch, { "x", "y" }, n, fname, level)
    local x, y = batch.x, batch.y
    if type(x) ~= "table" or #x == 0 then util.argerror(n, fname, "batch.x must be a non-empty table", level) end
    if y ~= nil and type(y) ~= "table" then util.argerror(n, fname, "batch.y must be a table of labels", level) end
    local flat, count = x, nil
    if type(x[1]) == "table" then -- one table per sample
      flat, count = {}, #x
      for i = 1, #x do
        if type(x[i]) ~= "table" then util.argerror(n, fname, ("batch.x[%d] must be a table"):format(i), level) end
        table.move(x[i], 1, #x[i], #flat + 1, flat)
      end
    end
    count = count or (y and #y)
    if not count then
      util.argerror(n, fname, "batch.x is flat: give one table per sample, or labels batch.y (their number is n)",
                    level)
    end
    if y and #y ~= count then
      util.argerror(n, fname, ("batch.y has %d labels for %d samples"):format(#y, count), level)
    end
    return function(m, name) return core.proxy(m, name, flat, y, count) end, count
  end
  util.check_options(batch, { "data", "size", "seed" }, n, fname, level)
  local ds = dataset_of(batch.data)
  if not ds then
    util.argerror(n, fname, "batch.data must be a dataset or a nas.data table (its .train is used)", level)
  end
  local size = batch.size or 64
  if math.type(size) ~= "integer" or size < 1 or size > 4096 or size > ds:count() then
    util.argerror(n, fname, ("batch.size must be an integer in 1..min(4096, %d)"):format(ds:count()), level)
  end
  local seed = batch.seed or util.config().seed
  if math.type(seed) ~= "integer" then util.argerror(n, fname, "batch.seed must be an integer", level) end
  local view = ds:subset(size, seed) -- the first `size` rows of a seeded permutation
  return function(m, name) return core.proxy(m, name, view, 0, size) end, size, view
end

local model_keys = { "seed", "device", "memfmt" }

local function build(net, opts, fname, level)
  if not netmod.is_net(net) then
    util.argerror(1, fname, "net expected (from nas.net{...}), got " .. type(net), level + 1)
  end
  local cfg = util.config()
  return core.model_new(net:graph(), { seed = opts.seed or cfg.seed, device = opts.device or cfg.device,
                                       memfmt = opts.memfmt })
end

-- nas.proxy(net, batch, name [, { seed =, device =, memfmt = }]) -> score | nil, message
-- name may also be a list of names: then a table name -> score (nil, message on
-- the first failure).
function M.proxy(net, batch, name, opts)
  if not netmod.is_net(net) then
    util.argerror(1, "proxy", "net expected (from nas.net{...}), got " .. type(net), 2)
  end
  util.check_options(opts, model_keys, 4, "proxy", 2)
  opts = opts or {}
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    util.argerror(4, "proxy", "field 'seed' must be an integer", 2)
  end
  local names = type(name) == "table" and name or { name }
  local needs_data = false
  for i = 1, #names do
    check_name(names[i], 3, "proxy", 2)
    if not dataless[names[i]] then needs_data = true end
  end
  if #names == 0 then util.argerror(3, "proxy", "empty list of proxies", 2) end
  if batch == nil and needs_data then
    util.argerror(2, "proxy", "a batch is needed: { data = dataset, size = 64 } or { x = ..., y = ... }", 2)
  end
  local run, _, view = prepare(batch, 2, "proxy", 2)
  local m, msg = build(net, opts, "proxy", 2)
  if not m then
    if view then view:release() end
    return nil, "build: " .. tostring(msg)
  end
  local out = {}
  for _, nm in ipairs(names) do
    local s, why = run(m, nm)
    if s == nil then
      m:release()
      if view then view:release() end
      return nil, nm .. ": " .. tostring(why)
    end
    out[nm] = s
  end
  m:release()
  if view then view:release() end
  if type(name) == "table" then return out end
  return out[name]
end

-- ---- the evaluator -------------------------------------------------------------

local ZeroCost = {}
ZeroCost.__index = ZeroCost
ZeroCost.__tostring = function(self)
  return ("nas.zero_cost{proxy = %s, batch = %d}"):format(table.concat(self.proxies, "+"), self.batch)
end

local zc_keys = { "proxy", "data", "batch", "seed", "batch_seed", "device", "memfmt" }

-- nas.zero_cost{ proxy = "synflow" | { "synflow", "naswot", ... }, data = nas.data table or dataset,
--                batch = 64, seed = (weights; default: the trial's seed), batch_seed = (rows; default:
--                seed, else the config seed), device =, memfmt = }
-- :evaluate(net, ctx) -> { [proxy] = score for each, score = the first proxy's, params =, flops =,
--                          train_s = seconds spent } | nil, reason
function M.zero_cost(opts)
  util.check_options(opts, zc_keys, 1, "zero_cost", 2)
  if opts == nil then util.argerror(1, "zero_cost", "options table with 'proxy' expected", 2) end
  local proxies = opts.proxy
  if type(proxies) == "string" then proxies = { proxies } end
  if type(proxies) ~= "table" or #proxies == 0 then
    util.argerror(1, "zero_cost", "field 'proxy' must be a proxy name or a list of them", 2)
  end
  local needs_data = false
  for _, p in ipairs(proxies) do
    if type(p) ~= "string" or not known[p] then
      util.argerror(1, "zero_cost", ("field 'proxy': unknown proxy '%s' (known: %s)"):format(tostring(p),
                    table.concat(M.names, ", ")), 2)
    end
    if not dataless[p] then needs_data = true end
  end
  local batch = opts.batch or 64
  if math.type(batch) ~= "integer" or batch < 1 or batch > 4096 then
    util.argerror(1, "zero_cost", "field 'batch' must be an integer in 1..4096", 2)
  end
  for _, k in ipairs({ "seed", "batch_seed" }) do
    if opts[k] ~= nil and math.type(opts[k]) ~= "integer" then
      util.argerror(1, "zero_cost", ("field '%s' must be an integer"):format(k), 2)
    end
  end
  local ds
  if opts.data ~= nil then
    ds = dataset_of(opts.data)
    if not ds then
      util.argerror(1, "zero_cost", "field 'data' must be a dataset or a nas.data table (its .train is used)", 2)
    end
    if batch > ds:count() then
      util.argerror(1, "zero_cost", ("field 'batch' (%d) exceeds the %d rows of the data"):format(batch, ds:count()), 2)
    end
  elseif needs_data then
    util.argerror(1, "zero_cost", "field 'data' is missing: " .. table.concat(proxies, ", ") .. " needs a batch", 2)
  end
  local self = setmetatable({ proxies = proxies, data = ds, batch = batch, seed = opts.seed,
                              batch_seed = opts.batch_seed or opts.seed or util.config().seed,
                              device = opts.device, memfmt = opts.memfmt }, ZeroCost)
  if ds then
    local view = ds:subset(batch, self.batch_seed) -- the same rows for every candidate
    self.run = function(m, name) return core.proxy(m, name, view, 0, batch) end
    self.view = view
  else
    self.run = function(m, name) return core.proxy(m, name) end
  end
  return self
end

function ZeroCost:evaluate(net, ctx)
  ctx = ctx or {}
  local t0 = now()
  local cfg = util.config()
  local m, msg = core.model_new(net:graph(), { seed = self.seed or ctx.seed or cfg.seed,
                                               device = self.device or cfg.device, memfmt = self.memfmt })
  if not m then return nil, "build: " .. tostring(msg) end
  local out = {}
  for _, name in ipairs(self.proxies) do
    local s, why = self.run(m, name)
    if s == nil then
      m:release()
      return nil, name .. ": " .. tostring(why)
    end
    out[name] = s
  end
  m:release()
  out.score = out[self.proxies[1]]
  out.params, out.flops = net:params(), net:flops()
  out.train_s = now() - t0
  return out
end

return M
