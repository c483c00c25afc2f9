-- strategies/asha.lua: asynchronous successive halving (Li et al. 2020, "A System
-- for Massively Parallel Hyperparameter Tuning", Algorithm 2).
--
--   strategy = require("strategies.asha").new{ min_epochs = 1, max_epochs = 27, eta = 3 }
--   strategy = require("strategies.asha").new{ sampler = "tpe", max_epochs = 27 }
--
-- Rungs k = 0 .. K with resource r_k = min * eta^(k + s) (s: early_stopping_rate),
-- K the last rung whose resource does not exceed max (r_K is rounded to max when
-- max/min is not a power of eta: the top rung always trains the full max). Each
-- ask, from the top rung down: a configuration in the top floor(n_k / eta) of
-- rung k (n_k: the trials told at rung k, failed ones included; only scored ones
-- can be on top) that was not promoted yet is asked again at rung k + 1 (its
-- weights continued from that trial); if no rung can promote, a new configuration
-- from the sampler starts at rung 0. No rung ever waits for another, so every
-- worker always has something to do.
--
-- ask returns two values: the genotype and its fidelity,
--   { epochs = r (or fraction = r, budget = r), rung = k, parent = id (promotions) }
--
-- Options:
--   min_epochs (1), max_epochs (27)   or fidelity = { name = "epochs"|"fraction"|"budget", min =, max = }
--   eta                 (3)   keep the top 1/eta of each rung
--   early_stopping_rate (0)   s: the first rung trains min * eta^s
--   sampler ("random"), sampler_opts, min_points (10)   as in strategies/hyperband.lua
-- State: rebuilt from the told trials (rung and parent in their fidelity);
-- pending promotions are remembered so that parallel asks never promote twice.
-- Parallel workers: nothing waits. A free worker gets a promotion as soon as a
-- rung's top floor(n_k / eta) (told trials) holds a config not yet promoted
-- (asked or told), otherwise a new config; a promotion's tell marks its parent
-- promoted, so a replay knows the promotions the live run had pending. New
-- configs avoid repeating an asked one (the sampler remembers every ask).
local util = require "nas.util"
local fid = require "nas.fidelity"

local function strategy_named(name) return require("strategies." .. name) end

local S = { name = "asha" }
S.__index = S

local keys = { "min_epochs", "max_epochs", "fidelity", "eta", "early_stopping_rate", "sampler", "sampler_opts",
               "min_points" }

function S.new(opts)
  util.check_options(opts, keys, 1, "asha.new", 2)
  opts = opts or {}
  local f = fid.options(opts, "asha.new", 2)
  local s = opts.early_stopping_rate or 0
  if math.type(s) ~= "integer" or s < 0 or s > f.s_max then
    util.argerror(1, "asha.new", ("early_stopping_rate must be an integer in 0..%d"):format(f.s_max), 2)
  end
  if opts.min_points ~= nil and (math.type(opts.min_points) ~= "integer" or opts.min_points < 1) then
    util.argerror(1, "asha.new", "min_points must be an integer >= 1", 2)
  end
  local rungs = {}
  local K = f.s_max - s
  for k = 0, K do
    local r
    if k == K then r = f.max
    else
      r = f.min * f.eta ^ (k + s)
      if f.integer then r = math.tointeger(r // 1) or r end
    end
    rungs[k] = { r = r, told = {}, promoted = {} }
  end
  return setmetatable({
    f = f, s = s, K = K, rungs = rungs, told = 0,
    sampler = fid.sampler(opts.sampler, opts.sampler_opts, opts.min_points, "asha.new", 2, strategy_named),
  }, S)
end

-- Resources of the rungs, 0-based: { [0] = r_0, ..., [K] = r_K }.
function S:resources()
  local out = {}
  for k = 0, self.K do out[k] = self.rungs[k].r end
  return out
end

-- The trial of rung k to promote now, or nil.
function S:candidate(k)
  local rung = self.rungs[k]
  local n = #rung.told // self.f.eta
  if n == 0 then return nil end
  for _, t in ipairs(fid.top(rung.told, n)) do
    if not rung.promoted[t.id] then return t end
  end
  return nil
end

function S:ask(space, rng)
  for k = self.K - 1, 0, -1 do
    local t = self:candidate(k)
    if t then
      self.rungs[k].promoted[t.id] = true
      return t.genotype, fid.make(self.f, self.rungs[k + 1].r, { rung = k + 1, parent = t.id })
    end
  end
  local g = self.sampler:ask(space, rng)
  if g == nil then return nil end
  return g, fid.make(self.f, self.rungs[0].r, { rung = 0 })
end

function S:tell(trial)
  self.told = self.told + 1
  self.sampler:tell(trial)
  local f = trial.fidelity
  -- (the rung as an integer: a fidelity that went through a JSON decoder may hold 1.0)
  local k = type(f) == "table" and math.type(f.rung) and math.tointeger(f.rung)
  if not k then return end
  local rung = self.rungs[k]
  if not rung then return end
  rung.told[#rung.told + 1] = trial
  -- a promotion's tell marks its parent promoted (a replay learns the pending promotions of the live run)
  if f.parent ~= nil and k > 0 then self.rungs[k - 1].promoted[math.tointeger(f.parent) or f.parent] = true end
end

function S:state_summary()
  local parts = {}
  for k = 0, self.K do parts[#parts + 1] = tostring(#self.rungs[k].told) end
  return ("asha: %d told, rungs %s, sampler %s"):format(self.told, table.concat(parts, "/"), self.sampler.name)
end

return S
