-- strategies/hyperband.lua: Hyperband (Li et al. 2017): brackets of successive
-- halving over a fidelity (epochs, data fraction or a budget of your own).
--
--   strategy = require("strategies.hyperband").new{ min_epochs = 1, max_epochs = 27, eta = 3 }
--   strategy = require("strategies.hyperband").new{ sampler = "tpe", max_epochs = 27 }       -- BOHB-style
--   strategy = require("strategies.hyperband").new{ fidelity = { name = "fraction", min = 1/9, max = 1 } }
--
-- With R = max/min, s_max = floor(log_eta R) and B = (s_max + 1) R, bracket s
-- (s = s_max, s_max - 1, ..., 0, then again) starts n = ceil(B/R * eta^s / (s + 1))
-- new configurations at resource r = max * eta^-s; each rung keeps the best
-- floor(n_i / eta) (failed trials never survive) and asks them again at eta
-- times the resource. R = 81, eta = 3 gives the paper's table (n_i/r_i):
--   s=4: 81/1 27/3 9/9 3/27 1/81   s=3: 34/3 11/9 3/27 1/81   s=2: 15/9 5/27 1/81
--   s=1: 8/27 2/81                 s=0: 5/81
--
-- ask returns two values: the genotype and its fidelity,
--   { epochs = r (or fraction = r, budget = r), bracket = b, rung = i, parent = id }
-- (parent: the trial at the rung below whose weights a survivor continues from;
-- nas.train continues it from its checkpoint). Bracket b counts brackets from 1
-- over the whole run; its s is s_list[(b - 1) % #s_list + 1].
--
-- Options:
--   min_epochs (1), max_epochs (27)   or fidelity = { name = "epochs"|"fraction"|"budget", min =, max = }
--   eta        (3)    the halving rate (an integer >= 2)
--   brackets   (nil)  use the k most aggressive brackets s_max .. s_max - k + 1 (nil: all s_max + 1)
--   iterations (nil)  stop (ask returns nil) after this many rounds of brackets (nil: never)
--   sampler    ("random") where new configurations come from: "random", a strategy name
--                     ("tpe": BOHB-style), module or object (see lua/nas/fidelity.lua)
--   sampler_opts       options for a sampler given by name or module
--   min_points (10)    scored trials a fidelity needs before a model sampler is fitted on it
--
-- Parallel workers: Hyperband is synchronous (a rung is ranked once all its
-- members are told), so when the open brackets have nothing to ask but
-- pending results, ask starts the next bracket (as HpBandSter does) instead of
-- blocking; the waiting bracket's survivors are asked as soon as its rung is
-- complete (older brackets first). With `iterations`, once every bracket has
-- been started ask returns nil while results are pending (nothing to ask now).
-- State: rebuilt from the told trials, which carry their fidelity (bracket,
-- rung, parent).
local util = require "nas.util"
local fid = require "nas.fidelity"

local function strategy_named(name) return require("strategies." .. name) end

local S = { name = "hyperband" }
S.__index = S

local keys = { "min_epochs", "max_epochs", "fidelity", "eta", "brackets", "iterations", "sampler", "sampler_opts",
               "min_points" }

function S.new(opts)
  util.check_options(opts, keys, 1, "hyperband.new", 2)
  opts = opts or {}
  local f = fid.options(opts, "hyperband.new", 2)
  local function bad(msg) util.argerror(1, "hyperband.new", msg, 3) end
  local nb = opts.brackets or (f.s_max + 1)
  if math.type(nb) ~= "integer" or nb < 1 or nb > f.s_max + 1 then
    bad(("brackets must be an integer in 1..%d (s_max + 1 for this fidelity and eta)"):format(f.s_max + 1))
  end
  if opts.iterations ~= nil and (math.type(opts.iterations) ~= "integer" or opts.iterations < 1) then
    bad("iterations must be an integer >= 1")
  end
  if opts.min_points ~= nil and (math.type(opts.min_points) ~= "integer" or opts.min_points < 1) then
    bad("min_points must be an integer >= 1")
  end
  local s_list = {}
  for s = f.s_max, f.s_max - nb + 1, -1 do s_list[#s_list + 1] = s end
  local self = setmetatable({
    f = f, plan = fid.hyperband_brackets(f), s_list = s_list, iterations = opts.iterations,
    sampler = fid.sampler(opts.sampler, opts.sampler_opts, opts.min_points, "hyperband.new", 2, strategy_named),
    brackets = {}, first_open = 1, told = 0,
  }, S)
  return self
end

-- Bracket b (created, with its empty rungs, on first use).
function S:bracket(b)
  local br = self.brackets[b]
  if br then return br end
  for i = #self.brackets + 1, b do
    local s = self.s_list[(i - 1) % #self.s_list + 1]
    local plan = self.plan[s]
    local rungs = {}
    for k, r in ipairs(plan.rungs) do
      rungs[k - 1] = { n = r.n, r = r.r, told = {}, asked = 0, asked_parent = {}, promote = nil }
    end
    self.brackets[i] = { b = i, s = s, rungs = rungs }
  end
  return self.brackets[b]
end

-- The survivors of rung i (computed once the rung is complete), or nil.
local function survivors(br, i)
  local rung = br.rungs[i]
  if rung.promote then return rung.promote end
  local target = i == 0 and rung.n or #(survivors(br, i - 1) or {})
  if i > 0 and br.rungs[i - 1].promote == nil then return nil end
  if #rung.told < target then return nil end
  local nxt = br.rungs[i + 1]
  rung.promote = nxt and fid.top(rung.told, nxt.n) or {}
  return rung.promote
end

local function done(br)
  local top = #br.rungs -- rungs are 0 .. s
  if top == 0 then return #br.rungs[0].told >= br.rungs[0].n end
  local prev = survivors(br, top - 1)
  return prev ~= nil and #br.rungs[top].told >= #prev
end

-- The next (genotype, fidelity) of bracket br, or nil if it has nothing to ask now.
function S:ask_bracket(br, space, rng)
  for i = #br.rungs, 1, -1 do
    local surv = survivors(br, i - 1)
    if surv then
      local rung = br.rungs[i]
      for _, p in ipairs(surv) do
        if not rung.asked_parent[p.id] then
          rung.asked_parent[p.id] = true
          return p.genotype, fid.make(self.f, rung.r, { bracket = br.b, rung = i, parent = p.id })
        end
      end
    end
  end
  local r0 = br.rungs[0]
  if r0.asked < r0.n then
    local g = self.sampler:ask(space, rng)
    if g == nil then return nil end
    r0.asked = r0.asked + 1
    return g, fid.make(self.f, r0.r, { bracket = br.b, rung = 0 })
  end
  return nil
end

function S:ask(space, rng)
  while self.brackets[self.first_open] and done(self.brackets[self.first_open]) do
    self.first_open = self.first_open + 1
  end
  local b = self.first_open
  while true do
    if self.iterations and b > self.iterations * #self.s_list then return nil end
    local g, f = self:ask_bracket(self:bracket(b), space, rng)
    if g ~= nil then return g, f end
    if self.brackets[b].rungs[0].asked < self.brackets[b].rungs[0].n then return nil end -- the sampler ran dry
    b = b + 1
  end
end

function S:tell(trial)
  self.told = self.told + 1
  self.sampler:tell(trial)
  local f = trial.fidelity
  -- (bracket and rung as integers: a fidelity that went through a JSON decoder may hold 3.0)
  local b = type(f) == "table" and math.type(f.bracket) and math.tointeger(f.bracket)
  local k = type(f) == "table" and math.type(f.rung) and math.tointeger(f.rung)
  if not b or not k or b < 1 then return end
  local br = self:bracket(b)
  local rung = br.rungs[k]
  if not rung then return end
  rung.told[#rung.told + 1] = trial
  if k == 0 then
    if rung.asked < #rung.told then rung.asked = #rung.told end
  elseif f.parent ~= nil then
    rung.asked_parent[f.parent] = true
  end
end

function S:state_summary()
  local br = self.brackets[self.first_open]
  local s = ("hyperband: %d told, bracket %d"):format(self.told, self.first_open)
  if br then s = s .. (" (s=%d)"):format(br.s) end
  return s .. ", sampler " .. self.sampler.name
end

return S
