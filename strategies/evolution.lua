-- strategies/evolution.lua: regularized (aging) evolution, Real et al. 2019.
--
--   strategy = require("strategies.evolution").new{ population = 20, sample = 5 }
--
-- The population is the `population` most recently told trials. Until that
-- many trials are told (or pending), asks are random samples. After that, each
-- ask runs a tournament: `sample` distinct members drawn at random, the best
-- scoring one is the parent, and its mutated child is asked. The oldest member
-- leaves the population as each new trial is told (aging), so a lucky early
-- score does not rule forever.
--
-- Options:
--   population     (20)    members kept
--   sample         (5)     tournament size
--   mutation_rate  (nil)   nil: mutate exactly one decision; p: each active decision with probability p
--                          (at least one)
--   crossover      (0)     probability that a child is the crossover of two tournament winners
--                          (then mutated)
--   elitism        (false) true: the best trial so far never ages out
-- Failed and rejected trials take a population slot (and age out) but are
-- never picked as parents. A child that repeats a told or pending genotype is
-- re-mutated a few times.
local util = require "nas.util"
local key = require("nas.space").genotype_key

local S = { name = "evolution" }
S.__index = S

local REDRAWS = 5

local function check(opts)
  local o = { population = 20, sample = 5, mutation_rate = nil, crossover = 0, elitism = false }
  util.check_options(opts, { "population", "sample", "mutation_rate", "crossover", "elitism" }, 1,
                     "evolution.new", 3)
  for k, v in pairs(opts or {}) do o[k] = v end
  local function bad(msg) util.argerror(1, "evolution.new", msg, 4) end
  if math.type(o.population) ~= "integer" or o.population < 2 then bad("population must be an integer >= 2") end
  if math.type(o.sample) ~= "integer" or o.sample < 1 or o.sample > o.population then
    bad("sample must be an integer in 1..population")
  end
  if o.mutation_rate ~= nil and (type(o.mutation_rate) ~= "number" or o.mutation_rate <= 0 or o.mutation_rate > 1)
  then
    bad("mutation_rate must be nil or a number in (0, 1]")
  end
  if type(o.crossover) ~= "number" or o.crossover < 0 or o.crossover > 1 then
    bad("crossover must be a probability in [0, 1]")
  end
  if type(o.elitism) ~= "boolean" then bad("elitism must be true or false") end
  return o
end

function S.new(opts)
  local o = check(opts)
  return setmetatable({ opts = o, history = {}, seen = {}, pending = {}, npending = 0, best = nil }, S)
end

local function scored(t)
  return t.status == "ok" and type(t.score) == "number" and t.score == t.score
end

function S:tell(trial)
  local m = { id = trial.id, genotype = trial.genotype, score = scored(trial) and trial.score or nil }
  self.history[#self.history + 1] = m
  local k = key(trial.genotype)
  self.seen[k] = true
  if (self.pending[k] or 0) > 0 then
    self.pending[k] = self.pending[k] - 1
    self.npending = self.npending - 1
  end
  if m.score and (not self.best or m.score > self.best.score) then self.best = m end
end

-- The living population: the last `population` told trials (+ the elite).
function S:population()
  local h, P = self.history, self.opts.population
  local pop = {}
  for i = math.max(1, #h - P + 1), #h do pop[#pop + 1] = h[i] end
  if self.opts.elitism and self.best then
    local inside = false
    for _, m in ipairs(pop) do
      if m == self.best then inside = true break end
    end
    if not inside then pop[#pop + 1] = self.best end
  end
  return pop
end

-- The best of k distinct members drawn at random: the draws of rng:sample(#members, k),
-- without its tables (this runs on every ask).
local swap = {}
local function tournament(members, k, rng)
  local n = #members
  if k > n then k = n end
  local best
  for i = 1, k do
    local j = rng:int(i, n)
    local a, b = swap[i] or i, swap[j] or j
    swap[i], swap[j] = b, a
    local m = members[b]
    if not best or m.score > best.score then best = m end
  end
  for i = 1, k do swap[i] = nil end
  for i = k + 1, n do swap[i] = nil end
  return best
end

function S:_remember(g, k)
  k = k or key(g)
  self.pending[k] = (self.pending[k] or 0) + 1
  self.npending = self.npending + 1
  return g
end

-- Whether g is neither told nor pending; returns that and g's key.
function S:_fresh(g)
  local k = key(g)
  return not self.seen[k] and (self.pending[k] or 0) == 0, k
end

function S:ask(space, rng)
  local o = self.opts
  local parents = {}
  local h = self.history
  if #h + self.npending >= o.population then -- the scored members of the population
    local elite = o.elitism and self.best
    for i = math.max(1, #h - o.population + 1), #h do
      local m = h[i]
      if m == elite then elite = nil end
      if m.score then parents[#parents + 1] = m end
    end
    if elite then parents[#parents + 1] = elite end
  end
  if #parents == 0 then -- warm-up (or nothing has worked yet): random samples
    local g, fresh, k
    for _ = 1, REDRAWS do
      g = space:sample(rng)
      fresh, k = self:_fresh(g)
      if fresh then break end
    end
    return self:_remember(g, k)
  end
  local a = tournament(parents, o.sample, rng)
  local b
  if o.crossover > 0 and rng:uniform() < o.crossover then b = tournament(parents, o.sample, rng) end
  local child, fresh, k
  for _ = 1, REDRAWS do
    local base = a.genotype
    if b then base = space:crossover(a.genotype, b.genotype, rng) end
    child = space:mutate(base, rng, o.mutation_rate)
    fresh, k = self:_fresh(child)
    if fresh then break end
  end
  return self:_remember(child, k)
end

function S:state_summary()
  local pop = self:population()
  local s = ("evolution: %d told, population %d/%d"):format(#self.history, #pop, self.opts.population)
  if self.best then s = s .. (", best %.4g (trial %s)"):format(self.best.score, tostring(self.best.id)) end
  return s
end

return S
