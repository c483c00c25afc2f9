-- nas.told: the told/pending bookkeeping that model-based strategies share
-- (strategies/tpe.lua, strategies/bo.lua). A strategy object holds
--   history (told trials in order), scored (the ok ones), seen / pending (by
--   genotype key), npending, best, and liars: the pending asks in ask order,
--   { key, genotype } (what TPE's constant liar and BO's kriging believer use)
-- and installs these functions as its methods. Everything is rebuilt by
-- replaying tells, as the strategy contract requires.
local key = require("nas.space").genotype_key

local M = {}

-- Fresh state fields, merged into the strategy's own table.
function M.state(t)
  t.history, t.scored, t.seen, t.pending, t.npending, t.best, t.liars = {}, {}, {}, {}, 0, nil, {}
  return t
end

local function scored(t)
  return t.status == "ok" and type(t.score) == "number" and t.score == t.score
end

function M.tell(self, trial)
  local k = key(trial.genotype)
  local m = { id = trial.id, genotype = trial.genotype, key = k, score = scored(trial) and trial.score or nil,
              order = #self.history + 1 }
  self.history[#self.history + 1] = m
  if m.score then self.scored[#self.scored + 1] = m end
  self.seen[k] = true
  if (self.pending[k] or 0) > 0 then
    self.pending[k] = self.pending[k] - 1
    self.npending = self.npending - 1
    -- a tell releases the oldest pending ask with its key (whatever the trial's status)
    local liars = self.liars
    for i = 1, #liars do
      if liars[i].key == k then table.remove(liars, i) break end
    end
  end
  if m.score and (not self.best or m.score > self.best.score) then self.best = m end
  return m
end

-- True when the genotype with key k was neither told nor is pending.
function M.fresh(self, k)
  return not self.seen[k] and (self.pending[k] or 0) == 0
end

-- Records g as pending and returns it (the value ask returns).
function M.remember(self, g)
  local k = key(g)
  self.pending[k] = (self.pending[k] or 0) + 1
  self.npending = self.npending + 1
  self.liars[#self.liars + 1] = { key = k, genotype = g }
  return g
end

return M
