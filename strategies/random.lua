-- strategies/random.lua: random search.
--
--   strategy = require("strategies.random").new()
--
-- Every ask is space:sample(rng). Genotypes already told or still pending are
-- re-drawn (a few times) so that small spaces are not sampled twice needlessly.
-- No options.
local util = require "nas.util"
local key = require("nas.space").genotype_key

local S = { name = "random" }
S.__index = S

local REDRAWS = 8

function S.new(opts)
  util.check_options(opts, {}, 1, "random.new", 2)
  return setmetatable({ seen = {}, told = 0, best = nil }, S)
end

function S:ask(space, rng)
  local g
  for _ = 1, REDRAWS do
    g = space:sample(rng)
    if not self.seen[key(g)] then break end
  end
  self.seen[key(g)] = true
  return g
end

function S:tell(trial)
  self.told = self.told + 1
  self.seen[key(trial.genotype)] = true
  if trial.status == "ok" and type(trial.score) == "number" and (not self.best or trial.score > self.best.score) then
    self.best = { id = trial.id, score = trial.score }
  end
end

function S:state_summary()
  if not self.best then return ("random: %d told"):format(self.told) end
  return ("random: %d told, best %.4g (trial %s)"):format(self.told, self.best.score, tostring(self.best.id))
end

return S
