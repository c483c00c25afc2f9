-- Per-trial resource limits: limits = { trial_seconds =, memory_mb = }. A
-- candidate over its memory or time is a failed trial with the reason, and
-- the search goes on (and can allocate again afterwards).
local nas = require "nas"
local tiny = require "tests.lua.tiny_search"

local function search(evaluate, limits, trials)
  return nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluate, limits = limits,
                     budget = { trials = trials or 12 }, seed = 2, log = false }
end

describe("limits", function()
  it("fails a trial that allocates past memory_mb in Lua or in libtorch, and goes on", function()
    local function evaluate(net, ctx)
      local g = ctx.genotype
      if g.width == 16 then -- Lua memory: ~400 MB of table
        local t = {}
        for i = 1, 5e7 do t[i] = i end
        assert(#t > 0) -- (not reached: the allocation fails first)
      elseif g.width == 8 then -- libtorch memory: a 100M-parameter layer (400 MB)
        local big = nas.net{ input = { 1000 } }
        big:linear{ out = 100000 }
        nas.model(big)
      end
      return { accuracy = net:params() / 1e4 }
    end
    local r = search(evaluate, { memory_mb = 100 }, 14)
    local lua_oom, torch_oom, ok = 0, 0, 0
    for _, t in ipairs(r.trials) do
      if not t.cached_from then
        if t.genotype.width == 16 then
          assert.are.equal("failed", t.status)
          assert.matches("^out of memory %(limits.memory_mb = 100%): .*not enough memory", t.reason)
          lua_oom = lua_oom + 1
        elseif t.genotype.width == 8 then
          assert.are.equal("failed", t.status)
          assert.matches("^out of memory %(limits.memory_mb = 100%): .*allocate", t.reason)
          torch_oom = torch_oom + 1
        else
          assert.are.equal("ok", t.status)
          ok = ok + 1
        end
      end
    end
    assert.is_true(lua_oom > 0 and torch_oom > 0 and ok > 0, ("%d %d %d"):format(lua_oom, torch_oom, ok))
    -- The limit is lifted after each trial: this process can allocate again.
    local t = {}
    for i = 1, 5e7 do t[i] = i end
    assert.are.equal(5e7, #t)
  end)

  it("ends a trial at trial_seconds", function()
    local r = search(function(net, ctx)
      if ctx.genotype.width == 16 then while true do end end
      return { accuracy = net:params() / 1e4 }
    end, { trial_seconds = 0.2 }, 8)
    local seen = false
    for _, t in ipairs(r.trials) do
      if t.genotype.width == 16 and not t.cached_from then
        seen = true
        assert.matches("timeout: the trial ran longer than 0.2s", t.reason)
      end
    end
    assert.is_true(seen)
  end)

  it("rejects bad limits, naming the field", function()
    assert.has_error(function() search(function() return {} end, { memory_mb = -1 }) end,
      "bad argument #1 to 'search' (limits.memory_mb must be a number > 0)")
    assert.has_error(function() search(function() return {} end, { cpu = 1 }) end)
    assert.has_error(function()
      nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = function() return {} end,
                  limits = { trial_seconds = 1 }, trial_timeout = 1, budget = { trials = 1 }, log = false }
    end, "bad argument #1 to 'search' (give trial_timeout or limits.trial_seconds, not both)")
  end)
end)
