-- strategies/local.lua: local search (hill climbing) over one-decision neighbours.
--
--   strategy = require("strategies.local").new{ first_improvement = true, init = 10 }
--
-- Starts from the best of `init` random samples. Asks the untried neighbours
-- of the current genotype (space:neighbours, in random order) and moves:
--   first_improvement = true   to the first neighbour that scores better;
--   first_improvement = false  to the best neighbour once all have been told.
-- When every neighbour has been told and none is better, the current genotype
-- is a local optimum: the search restarts from the best of `init` new random
-- samples. (init = 10 is the local search of White, Nolen and Savani,
-- "Local search is state of the art for NAS benchmarks", 2020, as in NASLib:
-- num_init 10, the neighbourhood in random order.)
--
-- Options:
--   first_improvement  (true)
--   init               (10)  random samples whose best starts each climb (1: plain hill
--                            climbing from one random sample)
--   restarts           (nil = unlimited) restarts allowed; after the last local
--                      optimum ask returns nil and the search stops
-- Failed and rejected trials never become the current point. A genotype told
-- once is never asked again. The state is derived from the told trials when
-- ask is called, so a strategy fed the same history asks the same.
-- Parallel workers: asks made while others are pending take further untried
-- neighbours of the current point (several pending at once, never one twice);
-- the move waits for the tells. When every untried neighbour is pending, an
-- ask is a random sample (a told sample that beats the current point is moved
-- to, like a better neighbour).
local util = require "nas.util"
local key = require("nas.space").genotype_key

local S = { name = "local" }
S.__index = S

local REDRAWS = 8

function S.new(opts)
  util.check_options(opts, { "first_improvement", "init", "restarts" }, 1, "local.new", 2)
  local o = { first_improvement = true, init = 10, restarts = nil }
  for k, v in pairs(opts or {}) do o[k] = v end
  if type(o.first_improvement) ~= "boolean" then
    util.argerror(1, "local.new", "first_improvement must be true or false", 2)
  end
  if math.type(o.init) ~= "integer" or o.init < 1 then
    util.argerror(1, "local.new", "init must be an integer >= 1", 2)
  end
  if o.restarts ~= nil and (math.type(o.restarts) ~= "integer" or o.restarts < 0) then
    util.argerror(1, "local.new", "restarts must be nil or an integer >= 0", 2)
  end
  return setmetatable({ opts = o, history = {}, done = 0, seen = {}, pending = {}, current = nil,
                        candidate = nil, restarts = 0, optima = {}, best = nil, start = nil, nstart = 0 }, S)
end

local function scored(t)
  return t.status == "ok" and type(t.score) == "number" and t.score == t.score
end

function S:tell(trial)
  self.history[#self.history + 1] = { id = trial.id, genotype = trial.genotype, key = key(trial.genotype),
                                      score = scored(trial) and trial.score or nil }
  local k = key(trial.genotype)
  if (self.pending[k] or 0) > 0 then self.pending[k] = self.pending[k] - 1 end
  if scored(trial) and (not self.best or trial.score > self.best.score) then
    self.best = { id = trial.id, score = trial.score }
  end
end

function S:_move(space, t)
  local nbrs = space:neighbours(t.genotype)
  local keys = {}
  for i, g in ipairs(nbrs) do keys[i] = key(g) end
  self.current = { id = t.id, genotype = t.genotype, key = t.key, score = t.score, nbrs = nbrs, keys = keys }
  self.candidate = nil
end

-- Moves on from a current point whose neighbours have all been told.
function S:_settle(space)
  while self.current do
    for _, k in ipairs(self.current.keys) do
      if not self.seen[k] then return end
    end
    if self.candidate and self.candidate.score > self.current.score then
      self:_move(space, self.candidate)
    else
      self.optima[#self.optima + 1] = { id = self.current.id, score = self.current.score }
      self.current = nil
      self.restarts = self.restarts + 1
    end
  end
end

-- Processes the trials told since the last ask, in order.
function S:_advance(space)
  while self.done < #self.history do
    self.done = self.done + 1
    local t = self.history[self.done]
    self.seen[t.key] = true
    local cur = self.current
    if not cur then
      if t.score then -- a start sample: the best of init of them starts the climb
        if not self.start or t.score > self.start.score then self.start = t end
        self.nstart = self.nstart + 1
        if self.nstart >= self.opts.init then
          local s = self.start
          self.start, self.nstart = nil, 0
          self:_move(space, s)
        end
      end
    elseif t.score and t.score > cur.score then
      if self.opts.first_improvement then
        self:_move(space, t)
      elseif not self.candidate or t.score > self.candidate.score then
        self.candidate = t
      end
    end
    self:_settle(space)
  end
end

function S:_remember(g)
  local k = key(g)
  self.pending[k] = (self.pending[k] or 0) + 1
  return g
end

function S:ask(space, rng)
  self:_advance(space)
  local cur = self.current
  if cur then
    local untried = {}
    for i, k in ipairs(cur.keys) do
      if not self.seen[k] and (self.pending[k] or 0) == 0 then untried[#untried + 1] = cur.nbrs[i] end
    end
    if #untried > 0 then return self:_remember(rng:choice(untried)) end
    -- every neighbour is pending (parallel workers): explore meanwhile
  elseif self.opts.restarts and self.restarts > self.opts.restarts then
    return nil
  end
  local g
  for _ = 1, REDRAWS do
    g = space:sample(rng)
    local k = key(g)
    if not self.seen[k] and (self.pending[k] or 0) == 0 then break end
  end
  return self:_remember(g)
end

function S:state_summary()
  local s = ("local: %d told, %d local optima"):format(#self.history, #self.optima)
  if self.current then s = s .. (", at trial %s (%.4g)"):format(tostring(self.current.id), self.current.score) end
  if self.best then s = s .. (", best %.4g (trial %s)"):format(self.best.score, tostring(self.best.id)) end
  return s
end

return S
