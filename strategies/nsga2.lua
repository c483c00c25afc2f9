-- strategies/nsga2.lua: NSGA-II, multi-objective evolution (Deb et al. 2002).
--
--   strategy = require("strategies.nsga2").new{ population = 20 }
--   nas.search{ ..., strategy = strategy, objectives = { nas.maximize "accuracy", nas.minimize "params" } }
--
-- Generation 0 is `population` random samples. Each time `population` more
-- trials are told, the parents P and those offspring Q are pooled, sorted into
-- non-dominated fronts (fast non-dominated sorting), and the next P is filled
-- front by front; the front that does not fit whole is cut by crowding distance
-- (largest first). Offspring are asked from P: two binary tournaments on
-- (rank lower, then crowding distance larger), the winners' crossover (with
-- probability `crossover`, else a copy of the first) through space:crossover,
-- then space:mutate. A child that repeats a told or pending genotype is
-- re-mutated (up to 5 times).
--
-- The objective vector of a trial (higher is better in every entry):
--   trial.objectives, which nas.search gives when `objectives` is a list of
--   nas.maximize/nas.minimize; or this strategy's own `objectives` option (same
--   form, read from trial.metrics); or else { trial.score } (then NSGA-II is a
--   plain generational GA). Failed and rejected trials have no vector and never
--   become parents.
--
-- Options:
--   population    (20)   N, parents kept and offspring per generation (>= 2)
--   crossover     (0.9)  probability that a child is a crossover of the two tournament winners
--   mutation_rate (nil)  as space:mutate: nil = one decision; p = each active decision with probability p
--   objectives    (nil)  a list of nas.maximize/nas.minimize read from trial.metrics (overrides trial.objectives)
-- State: rebuilt from the told trials in order (generations are counted in
-- told trials).
-- Parallel workers: steady asking. Each ask makes one child from the current
-- parents (generation 0: a random sample) whether or not earlier children are
-- told; pending children are not in the population; the next generation is
-- selected when `population` more trials are told, in tell order. A child that
-- repeats a pending ask is re-mutated up to 40 more times.
local util = require "nas.util"
local objectives = require "nas.objectives"
local key = require("nas.space").genotype_key

local S = { name = "nsga2" }
S.__index = S

local REDRAWS = 5
local PENDING_REDRAWS = 8 * REDRAWS -- more tries when the repeat is only of a pending ask

function S.new(opts)
  util.check_options(opts, { "population", "crossover", "mutation_rate", "objectives" }, 1, "nsga2.new", 2)
  local o = { population = 20, crossover = 0.9 }
  for k, v in pairs(opts or {}) do o[k] = v end
  local function bad(msg) util.argerror(1, "nsga2.new", msg, 3) end
  if math.type(o.population) ~= "integer" or o.population < 2 then bad("population must be an integer >= 2") end
  if type(o.crossover) ~= "number" or o.crossover < 0 or o.crossover > 1 then
    bad("crossover must be a probability in [0, 1]")
  end
  if o.mutation_rate ~= nil and (type(o.mutation_rate) ~= "number" or o.mutation_rate <= 0 or o.mutation_rate > 1)
  then
    bad("mutation_rate must be nil or a number in (0, 1]")
  end
  if o.objectives ~= nil then
    local ok, norm = pcall(objectives.normalize, o.objectives, 1)
    if not ok or norm.kind ~= "pareto" then bad("objectives must be a list of nas.maximize/nas.minimize") end
    o.objectives = norm.list
  end
  return setmetatable({ opts = o, parents = {}, pool = {}, generation = 0, told = 0, seen = {}, pending = {} }, S)
end

-- The oriented objective vector of a told trial, or nil.
function S:point(trial)
  if trial.status ~= nil and trial.status ~= "ok" then return nil end
  if self.opts.objectives then return objectives.point(trial.metrics or {}, self.opts.objectives) end
  if type(trial.objectives) == "table" and #trial.objectives > 0 then return trial.objectives end
  if type(trial.score) == "number" then return { trial.score } end
  return nil
end

-- Environmental selection: the best n of members (each with .point), with
-- their rank and crowding distance set. Deterministic: ties by position.
function S.select(members, n)
  local pts = {}
  for i, m in ipairs(members) do pts[i] = m.point end
  local fronts = objectives.nondominated_sort(pts)
  local out = {}
  for r, front in ipairs(fronts) do
    if #out >= n then break end
    local dist = objectives.crowding_distance(pts, front)
    local list = {}
    for _, i in ipairs(front) do
      members[i].rank, members[i].crowding = r, dist[i]
      list[#list + 1] = i
    end
    if #out + #list > n then
      table.sort(list, function(a, b)
        if dist[a] ~= dist[b] then return dist[a] > dist[b] end
        return a < b
      end)
    end
    for _, i in ipairs(list) do
      if #out >= n then break end
      out[#out + 1] = members[i]
    end
  end
  return out
end

function S:tell(trial)
  self.told = self.told + 1
  local k = key(trial.genotype)
  self.seen[k] = true
  local c = self.pending[k]
  if c then
    if c > 1 then self.pending[k] = c - 1 else self.pending[k] = nil end
  end
  self.pool[#self.pool + 1] = { id = trial.id, genotype = trial.genotype, point = self:point(trial) }
  if #self.pool >= self.opts.population then
    local members = {}
    for _, m in ipairs(self.parents) do members[#members + 1] = m end
    for _, m in ipairs(self.pool) do
      if m.point then members[#members + 1] = m end
    end
    self.parents = S.select(members, self.opts.population)
    self.pool = {}
    self.generation = self.generation + 1
  end
end

-- Binary tournament on (rank, crowding distance).
local function tournament(P, rng)
  local a, b = P[rng:int(1, #P)], P[rng:int(1, #P)]
  if b.rank < a.rank or (b.rank == a.rank and b.crowding > a.crowding) then return b end
  return a
end

function S:_fresh(g)
  local k = key(g)
  return not self.seen[k] and (self.pending[k] or 0) == 0, k
end

function S:ask(space, rng)
  local P = self.parents
  local g, fresh, k
  if #P == 0 then
    for _ = 1, REDRAWS + 3 do
      g = space:sample(rng)
      fresh, k = self:_fresh(g)
      if fresh then break end
    end
  else
    local a = tournament(P, rng)
    local b = tournament(P, rng)
    local base = a.genotype
    if self.opts.crossover > 0 and rng:uniform() < self.opts.crossover then
      base = space:crossover(a.genotype, b.genotype, rng)
    end
    for _ = 1, REDRAWS do
      g = space:mutate(base, rng, self.opts.mutation_rate)
      fresh, k = self:_fresh(g)
      if fresh then break end
    end
    if not fresh and not self.seen[k] then
      -- the child repeats a pending ask (parallel workers; never the case sequentially, so
      -- serial runs draw exactly as before): more mutants of the same base
      for _ = 1, PENDING_REDRAWS do
        g = space:mutate(base, rng, self.opts.mutation_rate)
        fresh, k = self:_fresh(g)
        if fresh then break end
      end
    end
  end
  if not fresh and not self.seen[k] and #P == 0 then
    for _ = 1, PENDING_REDRAWS do -- a pending repeat among the random samples: draw on
      g = space:sample(rng)
      fresh, k = self:_fresh(g)
      if fresh then break end
    end
  end
  self.pending[k] = (self.pending[k] or 0) + 1
  return g
end

-- The current parents' non-dominated front (rank 1), as {id, genotype, point}.
function S:front()
  local out = {}
  for _, m in ipairs(self.parents) do if m.rank == 1 then out[#out + 1] = m end end
  return out
end

function S:state_summary()
  return ("nsga2: %d told, generation %d, front %d/%d"):format(self.told, self.generation, #self:front(),
                                                                #self.parents)
end

return S
