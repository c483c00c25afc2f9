-- Run by parallel_spec.lua under a real nasrun with local workers:
--   nasrun parallel_script.lua MODE OUT WORKERS TRIALS [PAUSE]
-- MODE: basic     a search of the tiny space (each evaluation pauses PAUSE s)
--       killself  as basic, but the first evaluation of the genotype
--                 {depth = 3, width = 16} kills its own worker with SIGKILL
--       timeout   trial_timeout = 1: the genotypes of width 16 loop in Lua,
--                 those of width 8 sleep in C (only a stopped worker ends them)
--       two       two searches in one script, both on the workers
--       gated     a strategy that asks 9 genotypes in rounds of 3 and has
--                 nothing to ask (nil) while a round runs
-- Prints one RESULT line per search.
local nas = require "nas"
local tiny = require "tests.lua.tiny_search"
local core = require "nas.core"
local mode, out = arg[1], arg[2]
local workers, trials = math.tointeger(tonumber(arg[3])), math.tointeger(tonumber(arg[4]))
local pause = tonumber(arg[5] or "0.05")

local function exists(p)
  local f = io.open(p)
  if f then f:close() end
  return f ~= nil
end

-- basic, two: a worker's first evaluation waits (up to 30 s) until every
-- worker has started, so that all of them take part however slow they start.
local registered = false
local function register()
  if registered or workers < 2 or nas.role() ~= "worker" then return end
  registered = true
  os.execute("mkdir -p '" .. out .. "/pids' && touch '" .. out .. "/pids/" .. core.pid() .. "'")
  for _ = 1, 300 do
    local p = io.popen("ls '" .. out .. "/pids' | wc -l")
    local n = tonumber(p:read("a"))
    p:close()
    if n >= workers then return end
    core.sleep(0.1)
  end
end

local function evaluate(net, ctx)
  local g = ctx.genotype
  if mode == "basic" or mode == "two" then register() end
  -- mkdir is atomic: of two workers evaluating such a genotype at once (pad
  -- 0 and 1 build the same graph), only the first kills itself.
  if mode == "killself" and g.depth == 3 and g.width == 16 and not exists(out .. "/killed")
      and os.execute("mkdir '" .. out .. "/killed' 2>/dev/null") then
    core.kill(core.pid(), 9)
  end
  if mode == "timeout" and g.width == 16 then
    while true do end
  elseif mode == "timeout" and g.width == 8 then
    core.sleep(1e6)
  end
  core.sleep(pause)
  return { accuracy = 1 - 1 / (1 + net:params() / 1000), loss = 0, role = nas.role(), pid = core.pid() }
end

local function gated()
  local widths = { 2, 4, 8, 16 }
  local st = { name = "gated", asked = 0, pending = 0 }
  function st.ask(self)
    if self.asked >= 9 or (self.pending > 0 and self.asked % 3 == 0) then return nil end
    self.asked, self.pending = self.asked + 1, self.pending + 1
    return { depth = (self.asked - 1) % 3 + 1, width = widths[(self.asked - 1) // 3 + 1], pad = 0, bad = false }
  end
  function st.tell(self) self.pending = self.pending - 1 end
  return st
end

local function search(dir, seed)
  local r = nas.search{
    space = tiny.space(), strategy = mode == "gated" and gated() or tiny.strategy(), evaluate = evaluate,
    objectives = nas.maximize "accuracy",
    budget = { trials = trials }, seed = seed, out = dir, workers = workers, progress = false,
    trial_timeout = mode == "timeout" and 1 or nil,
  }
  local pids = {}
  for _, t in ipairs(r.trials) do
    if t.metrics.pid then pids[t.metrics.pid] = true end
  end
  local np = 0
  for _ in pairs(pids) do np = np + 1 end
  print(("RESULT role=%s best=%d score=%.17g trials=%d stopped=%s processes=%d"):format(nas.role(), r.best.id,
    r.best.score, #r.trials, tostring(r.stopped), np))
end

search(out, 7)
if mode == "two" then search(out .. "/second", 8) end
