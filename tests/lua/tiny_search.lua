-- A tiny space and strategy for the search tests (no dependency on spaces/
-- or strategies/): real nets, built in microseconds, scored analytically.
local nas = require "nas"

local M = {}

local widths = { 2, 4, 8, 16 }

-- genotype: { depth = 1..3, width = 2|4|8|16, pad = 0|1 (ignored by build: two
-- genotypes, one graph), bad = bool (an invalid graph when true) }
function M.space(opts)
  opts = opts or {}
  local s = { name = "tiny" }
  function s.sample(_, rng)
    return { depth = rng:int(1, 3), width = rng:choice(widths), pad = rng:int(0, 1),
             bad = opts.bad_rate ~= nil and rng:uniform() < opts.bad_rate or false }
  end
  function s.build(_, g)
    local net = nas.net{ input = { 1, 8, 8 } }
    if g.bad then
      net:conv{ out = 4, k = 20 } -- a 20x20 kernel on 8x8: the graph rejects it
    end
    for _ = 1, g.depth do
      net:conv{ out = g.width, k = 3 }
      net:relu()
    end
    net:gap()
    net:linear{ out = 10 }
    return net
  end
  function s.key(_, g) return ("%d/%d/%d/%s"):format(g.depth, g.width, g.pad, tostring(g.bad)) end
  return s
end

-- A strategy that depends on its history: random for the first `warmup`
-- trials, then mutates the best ok trial so far (a one-member evolution).
-- All state is rebuilt from tell; all randomness comes from ask's rng.
function M.strategy(opts)
  opts = opts or {}
  local st = { name = "tiny-evolution", told = {}, best = nil, warmup = opts.warmup or 4 }
  function st.ask(self, space, rng)
    if #self.told < self.warmup or not self.best then return space:sample(rng) end
    local g = {}
    for k, v in pairs(self.best.genotype) do g[k] = v end
    local which = rng:int(1, 3)
    if which == 1 then g.depth = rng:int(1, 3)
    elseif which == 2 then g.width = rng:choice(widths)
    else g.pad = 1 - g.pad end
    return g
  end
  function st.tell(self, t)
    self.told[#self.told + 1] = t
    if t.status == "ok" and (self.best == nil or t.score > self.best.score) then self.best = t end
  end
  return st
end

-- Asks the genotypes of a fixed list, in order.
function M.list_strategy(list)
  local st = { told = {} }
  function st.ask(self) return list[#self.told + 1] end
  function st.tell(self, t) self.told[#self.told + 1] = t end
  return st
end

return M
