-- strategies/evolution.lua: regularized (aging) evolution, Real et al. 2019.
--
--   strategy = require("strategies.evolution").new{ population = 20, sample = 5 }
--
-- The population is the `population` most recently told trials that scored
-- (failed and constraint-rejected candidates were never evaluated: they take
-- no slot, so under tight constraints the warm-up still gathers `population`
-- trained nets). Until that many are told (or pending), asks are random samples. After that, each
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
-- Failed and rejected trials are never parents. A child that repeats a told or
-- pending genotype is re-mutated a few times.
local util = require "nas.util"
local spacemod = require "nas.space"
local key, key_function = spacemod.genotype_key, spacemod.key_function

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

-- The de-dup key: nas.space.key_function(space) once the space is known (the first
-- ask), the generic genotype key before (tells replayed by a resume come first).
-- _ag/_ak: the last asked genotype and its key, so that its tell does not key it again.
function S.new(opts)
  local o = check(opts)
  return setmetatable({ opts = o, history = {}, scored = {}, seen = {}, pending = {}, npending = 0, best = nil,
                        _key = key, _space = nil, _ag = nil, _ak = nil, _parents = {}, _np = 0 }, S)
end

local type = type

function S:tell(trial)
  local g, sc = trial.genotype, trial.score
  if trial.status ~= "ok" or type(sc) ~= "number" or sc ~= sc then sc = nil end
  local m = { id = trial.id, genotype = g, score = sc }
  local h = self.history
  h[#h + 1] = m
  local k = self._ak
  if g ~= self._ag then k = self._key(g) end
  self.seen[k] = true
  if self.npending > 0 then
    local pending = self.pending
    local c = pending[k]
    if c then
      if c > 1 then pending[k] = c - 1 else pending[k] = nil end
      self.npending = self.npending - 1
    end
  end
  if sc then
    local scored = self.scored
    scored[#scored + 1] = m
    local best = self.best
    if not best or sc > best.score then self.best = m end
  end
end

-- The living population: the last `population` scored trials (+ the elite).
function S:population()
  local h, P = self.scored, self.opts.population
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

-- The scored members of the population (+ the elite) into self._parents; returns their count.
local move = table.move
local function parents_of(self)
  local o, h, parents = self.opts, self.scored, self._parents
  local nh, np = #h, 0
  local P = o.population
  if nh + self.npending >= P then
    local lo = nh - P + 1
    if lo < 1 then lo = 1 end
    np = nh - lo + 1
    if np > 0 then move(h, lo, nh, 1, parents) end
    local elite = o.elitism and self.best
    if elite then
      for i = 1, np do
        if parents[i] == elite then elite = nil break end
      end
      if elite then
        np = np + 1
        parents[np] = elite
      end
    end
  end
  for i = np + 1, self._np do parents[i] = nil end
  self._np = np
  return np
end

-- The best of k distinct members of members[1..n] drawn at random (a partial
-- Fisher-Yates shuffle, done in place: members is scratch). The k positions come
-- from one draw in 0 .. total - 1, total = n(n-1)..(n-k+1), read as mixed-radix
-- digits (uniform over ordered k-tuples of distinct members, as k draws would be;
-- one rng call).
local function tuples(n, k)
  local total = 1
  for i = 1, k do total = total * (n - i + 1) end
  return total
end

local function tournament(members, n, k, total, rng)
  if k > n then k = n end
  if total > 0x7fffffff then -- k draws
    local best, bs
    for i = 1, k do
      local j = rng:int(i, n)
      local m = members[j]
      members[i], members[j] = m, members[i]
      if not best or m.score > bs then best, bs = m, m.score end
    end
    return best
  end
  local x = rng:int(0, total - 1)
  local best, bs
  for i = 1, k do
    local span = n - i + 1
    local j = i + x % span
    x = x // span
    local m = members[j]
    members[j] = members[i] -- (position i is not read again)
    local s = m.score
    if not best or s > bs then best, bs = m, s end
  end
  return best
end

-- The key function for space; switching to it re-keys the trials told so far.
-- _ik: the space's int_key hook when the key function is nas.space's int_key one
-- (ask calls it directly on _iks, one call less per key; the same key).
local function use_space(self, space)
  self._space = space
  local kf = key_function(space)
  if kf == self._key then return end
  if self.npending > 0 then return end -- keys of pending asks are in the old form: keep it
  self._key, self._ag, self._ak = kf, nil, nil
  self._ik = kf ~= key and type(space.int_key) == "function" and space.int_key or nil
  self._iks = space
  local seen = {}
  for _, m in ipairs(self.history) do seen[kf(m.genotype)] = true end
  self.seen = seen
end

function S:ask(space, rng)
  if space ~= self._space then use_space(self, space) end
  local o, kf, ik, iks, seen, pending = self.opts, self._key, self._ik, self._iks, self.seen, self.pending
  local np = parents_of(self)
  local g, k
  if np == 0 then -- warm-up (or nothing has worked yet): random samples
    for _ = 1, REDRAWS do
      g = space:sample(rng)
      k = ik and ik(iks, g) or kf(g)
      if not seen[k] and not pending[k] then break end
    end
  else
    local parents, sample = self._parents, o.sample
    if self._tn ~= np then self._tn, self._tt = np, tuples(np, sample < np and sample or np) end
    local a = tournament(parents, np, sample, self._tt, rng)
    local b
    if o.crossover > 0 and rng:uniform() < o.crossover then
      local n2 = parents_of(self)
      b = tournament(parents, n2, sample, tuples(n2, sample < n2 and sample or n2), rng)
    end
    local rate = o.mutation_rate
    local mutate = space.mutate
    for _ = 1, REDRAWS do
      local base = a.genotype
      if b then base = space:crossover(a.genotype, b.genotype, rng) end
      g = mutate(space, base, rng, rate)
      k = ik and ik(iks, g) or kf(g)
      if not seen[k] and not pending[k] then break end
    end
  end
  pending[k] = (pending[k] or 0) + 1
  self.npending = self.npending + 1
  self._ag, self._ak = g, k
  return g
end

function S:state_summary()
  local pop = self:population()
  local s = ("evolution: %d told, population %d/%d"):format(#self.history, #pop, self.opts.population)
  if self.best then s = s .. (", best %.4g (trial %s)"):format(self.best.score, tostring(self.best.id)) end
  return s
end

return S
