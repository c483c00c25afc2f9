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
--
-- Parallel workers (asynchronous evolution, as in the paper): an ask made while
-- others are pending runs its tournament on the population of told trials;
-- pending asks are no members (they only count towards the warm-up). A child
-- that repeats a pending ask is re-mutated from the same parent up to 40 more
-- times. Pending asks are released by their tell, whatever its status.
local util = require "nas.util"
local spacemod = require "nas.space"
local key, key_function = spacemod.genotype_key, spacemod.key_function

local S = { name = "evolution" }
S.__index = S

local REDRAWS = 5
local PENDING_REDRAWS = 8 * REDRAWS -- more tries when the repeat is only of a pending ask

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
--
-- State: told[1..ntold] the genotypes of all told trials (for re-keying); the scored ones
-- (in tell order) as three arrays sg / ss / sid (genotype, score, id) of length nscored, so a
-- tell allocates nothing; best = { id, genotype, score } of the best scored trial (index _bestn);
-- seen[key] = true for told keys; the pending asks (asked, not told) as the multiset
-- pending[key] = count plus one more count of _pk when it is set (a lone pending ask, the
-- serial case, never touches the pending table), npending in all.
function S.new(opts)
  local o = check(opts)
  return setmetatable({ opts = o, told = {}, ntold = 0, sg = {}, ss = {}, sid = {}, nscored = 0, seen = {},
                        pending = {}, npending = 0, _pk = nil, best = nil, _bestn = 0,
                        _key = key, _space = nil, _ag = nil, _ak = nil, _sw = {}, _js = {} }, S)
end

local type = type

function S:tell(trial)
  local g, sc = trial.genotype, trial.score
  if trial.status ~= "ok" or type(sc) ~= "number" or sc ~= sc then sc = nil end
  local n = self.ntold + 1
  self.ntold = n
  self.told[n] = g
  local k = self._ak
  if g ~= self._ag then k = self._key(g) end
  self.seen[k] = true
  local npend = self.npending
  if npend > 0 then
    if k == self._pk then
      self._pk = nil
      self.npending = npend - 1
    else
      local pending = self.pending
      local c = pending[k]
      if c then
        if c > 1 then pending[k] = c - 1 else pending[k] = nil end
        self.npending = npend - 1
      end
    end
  end
  if sc then
    local ns = self.nscored + 1
    self.nscored = ns
    self.sg[ns], self.ss[ns], self.sid[ns] = g, sc, trial.id
    local best = self.best
    if not best or sc > best.score then
      self.best = { id = trial.id, genotype = g, score = sc }
      self._bestn = ns
    end
  end
end

-- The living population: the last `population` scored trials (+ the elite), as
-- { id, genotype, score } tables.
function S:population()
  local n, P = self.nscored, self.opts.population
  local pop = {}
  local lo = math.max(1, n - P + 1)
  for i = lo, n do pop[#pop + 1] = { id = self.sid[i], genotype = self.sg[i], score = self.ss[i] } end
  if self.opts.elitism and self.best and self._bestn < lo then pop[#pop + 1] = self.best end
  return pop
end

-- The best of k distinct members of the parents drawn at random: a partial
-- Fisher-Yates shuffle of positions 1..n, done virtually (sw[p]: the position now
-- at p, false for p itself; reset before returning). Position p <= nr is the scored
-- trial lo + p - 1, position nr + 1 the elite. The k positions come from one draw in
-- 0 .. total - 1, total = n(n-1)..(n-k+1), read as mixed-radix digits (uniform over
-- ordered k-tuples of distinct members, as k draws would be; one rng call). Returns
-- the winner's genotype (the first drawn among equal scores).
local function tuples(n, k)
  local total = 1
  for i = 1, k do total = total * (n - i + 1) end
  return total
end

local function tournament(self, lo, nr, elite, n, k, total, rng)
  if k > n then k = n end
  local ss = self.ss
  local bp, bs
  local sw, js = self._sw, self._js
  local x = total <= 0x7fffffff and rng:int(0, total - 1) -- else k draws
  for i = 1, k do
    local j
    if x then
      local span = n - i + 1
      j = i + x % span
      x = x // span
    else
      j = rng:int(i, n)
    end
    local p = sw[j] or j
    sw[j] = sw[i] or i -- (position i is not read again)
    js[i] = j
    local s = p <= nr and ss[lo + p - 1] or elite.score
    if not bp or s > bs then bp, bs = p, s end
  end
  for i = 1, k do sw[js[i]] = false end
  if bp <= nr then return self.sg[lo + bp - 1] end
  return elite.genotype
end

S._tournament = tournament -- (for tests)

-- The key function for space; switching to it re-keys the trials told so far.
-- _ik: the space's int_key hook when the key function is nas.space's int_key one
-- (ask calls it directly on _iks, one call less per key; the same key). _sk, _mk: then
-- also the space's sample_keyed / mutate_keyed when it has them (spaces/nb201.lua):
-- sample / mutate that return the genotype's int_key too, so ask need not key it again.
local function use_space(self, space)
  self._space = space
  local kf = key_function(space)
  if kf == self._key then return end
  if self.npending > 0 then return end -- keys of pending asks are in the old form: keep it
  self._key, self._ag, self._ak = kf, nil, nil
  self._ik = kf ~= key and type(space.int_key) == "function" and space.int_key or nil
  self._iks = space
  local sk, mk = space.sample_keyed, space.mutate_keyed
  if self._ik and type(sk) == "function" and type(mk) == "function" then
    self._sk, self._mk = sk, mk
  else
    self._sk, self._mk = nil, nil
  end
  local seen, told = {}, self.told
  for i = 1, self.ntold do seen[kf(told[i])] = true end
  self.seen = seen
end

function S:ask(space, rng)
  if space ~= self._space then use_space(self, space) end
  local o, kf, ik, iks, seen = self.opts, self._key, self._ik, self._iks, self.seen
  local pending, pk, npend = self.pending, self._pk, self.npending
  -- the parents: the scored trials lo..ns (nr of them) and the elite, once the warm-up is over
  local ns, P = self.nscored, o.population
  local np, nr, lo, elite = 0, 0, 1, nil
  if ns + npend >= P then
    lo = ns - P + 1
    if lo < 1 then lo = 1 end
    nr = ns - lo + 1
    np = nr
    if o.elitism and self.best and self._bestn < lo then elite = self.best; np = np + 1 end
  end
  local g, k
  if np == 0 then -- warm-up (or nothing has worked yet): random samples
    local sk = self._sk
    for _ = 1, REDRAWS do
      if sk then g, k = sk(space, rng) else g, k = space:sample(rng), nil end
      if k == nil then k = ik and ik(iks, g) or kf(g) end
      if not seen[k] and (npend == 0 or not (pending[k] or k == pk)) then break end
    end
    if npend > 0 and not seen[k] and (pending[k] or k == pk) then -- a pending repeat: draw on
      for _ = 1, PENDING_REDRAWS do
        if sk then g, k = sk(space, rng) else g, k = space:sample(rng), nil end
        if k == nil then k = ik and ik(iks, g) or kf(g) end
        if not seen[k] and not (pending[k] or k == pk) then break end
      end
    end
  else
    local sample = o.sample
    if self._tn ~= np then
      self._tn, self._tt = np, tuples(np, sample < np and sample or np)
      local sw = self._sw
      for i = #sw + 1, np do sw[i] = false end
    end
    local tt = self._tt
    local a = tournament(self, lo, nr, elite, np, sample, tt, rng)
    local b
    if o.crossover > 0 and rng:uniform() < o.crossover then
      b = tournament(self, lo, nr, elite, np, sample, tt, rng)
    end
    local rate = o.mutation_rate
    local mutate, mk = space.mutate, self._mk
    for _ = 1, REDRAWS do
      local base = a
      if b then base = space:crossover(a, b, rng) end
      if mk then g, k = mk(space, base, rng, rate) else g, k = mutate(space, base, rng, rate), nil end
      if k == nil then k = ik and ik(iks, g) or kf(g) end
      if not seen[k] and (npend == 0 or not (pending[k] or k == pk)) then break end
    end
    if npend > 0 and not seen[k] and (pending[k] or k == pk) then
      -- the child repeats a pending ask (parallel workers; never the case sequentially, so
      -- serial runs draw exactly as before): more mutants of the same parent, until one is
      -- neither told nor pending (a parent whose mutants are all taken gives a repeat)
      for _ = 1, PENDING_REDRAWS do
        if mk then g, k = mk(space, a, rng, rate) else g, k = mutate(space, a, rng, rate), nil end
        if k == nil then k = ik and ik(iks, g) or kf(g) end
        if not seen[k] and not (pending[k] or k == pk) then break end
      end
    end
  end
  if npend == 0 then
    self._pk = k
  else
    if pk ~= nil then
      pending[pk] = (pending[pk] or 0) + 1
      self._pk = nil
    end
    pending[k] = (pending[k] or 0) + 1
  end
  self.npending = npend + 1
  self._ag, self._ak = g, k
  return g
end

function S:state_summary()
  local pop = self:population()
  local s = ("evolution: %d told, population %d/%d"):format(self.ntold, #pop, self.opts.population)
  if self.best then s = s .. (", best %.4g (trial %s)"):format(self.best.score, tostring(self.best.id)) end
  return s
end

return S
