-- strategies/grid.lua: exhaustive search of a finite space.
--
--   strategy = require("strategies.grid").new()
--
-- Asks the genotypes of space:enumerate() in order, skipping those already
-- told or pending; returns nil when all have been asked (the search stops;
-- with parallel workers, nil while the last ones are pending means nothing is
-- left to ask).
-- Raises an error naming the decision when the space is infinite (a float).
-- No options.
local util = require "nas.util"
local key = require("nas.space").genotype_key

local S = { name = "grid" }
S.__index = S

function S.new(opts)
  util.check_options(opts, {}, 1, "grid.new", 2)
  return setmetatable({ seen = {}, pending = {}, told = 0, asked = 0, best = nil }, S)
end

function S:ask(space, rng) -- luacheck: ignore rng (grid draws nothing)
  if self.space ~= space then -- a new space: walk it from the start
    self.space, self.iter = space, space:enumerate()
  end
  while true do
    local ok, g = pcall(self.iter)
    if not ok then error("grid: " .. tostring(g), 2) end
    if g == nil then return nil end
    local k = key(g)
    if not self.seen[k] and not self.pending[k] then
      self.pending[k] = true
      self.asked = self.asked + 1
      return g
    end
  end
end

function S:tell(trial)
  local k = key(trial.genotype)
  self.seen[k] = true
  self.pending[k] = nil
  self.told = self.told + 1
  if trial.status == "ok" and type(trial.score) == "number" and (not self.best or trial.score > self.best.score) then
    self.best = { id = trial.id, score = trial.score }
  end
end

function S:state_summary()
  local s = ("grid: %d told"):format(self.told)
  if self.best then s = s .. (", best %.4g (trial %s)"):format(self.best.score, tostring(self.best.id)) end
  return s
end

return S
