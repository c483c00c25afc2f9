-- strategies/random.lua: random search.
--
--   strategy = require("strategies.random").new()
--
-- Every ask is space:sample(rng). Genotypes already told or still pending are
-- re-drawn (a few times) so that small spaces are not sampled twice needlessly;
-- a draw that repeats a pending ask (parallel workers) is re-drawn up to 32
-- more times. Pending asks (asked, not told) are counted by key and released
-- by their tell, whatever its status. No options.
local util = require "nas.util"
local spacemod = require "nas.space"
local key, key_function = spacemod.genotype_key, spacemod.key_function

local S = { name = "random" }
S.__index = S

local REDRAWS = 8
local PENDING_REDRAWS = 32 -- more draws when the repeat is of a pending ask

-- The de-dup key: nas.space.key_function(space) from the first ask on, the generic
-- genotype key before (tells replayed by a resume come first; their genotypes are
-- kept until then to be re-keyed). _ag/_ak: the last asked genotype and its key.
function S.new(opts)
  util.check_options(opts, {}, 1, "random.new", 2)
  return setmetatable({ seen = {}, pending = {}, npending = 0, told = 0, best = nil, _key = key, _space = nil,
                        _early = {}, _ag = nil, _ak = nil }, S)
end

local function use_space(self, space)
  self._space = space
  if not self._early then return end -- the key function is chosen once, at the first ask
  local kf = key_function(space)
  if kf ~= self._key then
    self._key = kf
    local seen = {}
    for _, g in ipairs(self._early) do seen[kf(g)] = true end
    self.seen = seen
  end
  self._early = nil
end

function S:ask(space, rng)
  if space ~= self._space then use_space(self, space) end
  local kf, seen = self._key, self.seen
  local g, k
  for _ = 1, REDRAWS do
    g = space:sample(rng)
    k = kf(g)
    if not seen[k] then break end
  end
  local pending = self.pending
  if pending[k] then -- a repeat of a pending ask (parallel workers only): draw on
    for _ = 1, PENDING_REDRAWS do
      g = space:sample(rng)
      k = kf(g)
      if not seen[k] then break end
    end
  end
  seen[k] = true
  pending[k] = (pending[k] or 0) + 1
  self.npending = self.npending + 1
  self._ag, self._ak = g, k
  return g
end

function S:tell(trial)
  self.told = self.told + 1
  local g = trial.genotype
  local k
  if g == self._ag then
    k = self._ak
  else
    k = self._key(g)
    if self._early then self._early[#self._early + 1] = g end
  end
  self.seen[k] = true
  local c = self.pending[k]
  if c then
    if c > 1 then self.pending[k] = c - 1 else self.pending[k] = nil end
    self.npending = self.npending - 1
  end
  local sc = trial.score
  if trial.status == "ok" and type(sc) == "number" and (not self.best or sc > self.best.score) then
    self.best = { id = trial.id, score = sc }
  end
end

function S:state_summary()
  if not self.best then return ("random: %d told"):format(self.told) end
  return ("random: %d told, best %.4g (trial %s)"):format(self.told, self.best.score, tostring(self.best.id))
end

return S
