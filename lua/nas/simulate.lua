-- nas.simulate: W parallel workers on a simulated clock (a discrete-event simulation).
--
--   local simulate = require "nas.simulate"
--   local r = simulate.run{                       -- or simulate{ ... }
--     strategy = require("strategies.evolution").new{ population = 10, sample = 3 },
--     space = require "spaces.nb201",
--     evaluator = nas.bench.nb201{ path = ..., path12 = ... },
--     workers = 64, budget_seconds = 12000,       -- and / or trials = N
--     rng = nas.rng(seed),                         -- one stream for all asks, or function(id) -> rng
--   }
--   print(r.told, r.clock, r.best.metrics.cifar10_test)
--
-- No process runs: every trial costs the simulated seconds its evaluator says
-- (metrics.train_s, e.g. NAS-Bench-201's training time), and with W workers a trial
-- occupies one worker for that long. At time 0 each worker asks the strategy once;
-- then, repeatedly, the trial that finishes first (ties: the lower trial id) is told
-- to the strategy and its worker asks again at that finish time. So the strategy is
-- asked while other trials are pending and is told out of ask order, as with real
-- workers; it also sees every rng draw in ask order.
--
-- Stopping:
--   budget_seconds  a worker whose next trial would finish after the budget retires
--                   (that ask is dropped, never told: the sequential rule "a run stops
--                   before the query that would take it past the budget", per worker);
--                   the run ends when every worker has retired and the last trial is told.
--   trials          exactly this many trials are asked and told (no asks after the N-th).
--   an ask that returns nil while trials run means "nothing to ask until a result comes
--                   back": that worker (and any other free one) waits for the next tell and
--                   asks again after it; nil with nothing running ends the run ("strategy").
-- The told genotype and fidelity are copies of ask's (as a worker's JSON would be).
-- With workers = 1 the order of asks, rng draws and tells is the sequential ask/tell
-- loop's (bench/nb201.lua): the same chosen cells for the same seeds.
--
-- Options (strict):
--   strategy         an object with ask(space, rng) -> genotype [, fidelity] and tell(trial)
--   space            passed to ask
--   evaluator        an object with answer(genotype, fidelity) -> metrics | nil, reason
--                    (nas.bench.nb201); metrics.train_s is the trial's simulated cost and
--                    metrics.accuracy its score
--   workers          integer >= 1 (default 1)
--   budget_seconds   simulated wall budget (> 0), and / or
--   trials           number of trials (integer >= 0); one of the two is required
--   rng              an nas.rng stream shared by all asks in ask order, or function(id) -> rng
--                    (e.g. function(id) return nas.rng(seed, id) end, as nas.search)
--   on_tell          function(trial, now, best) called after each tell; returning true ends
--                    the run at once (running trials are dropped; stopped = "on_tell")
--
-- Trial ids number the asks (an ask dropped by a retiring worker keeps its id; with
-- rng = function(id) each ask has its own stream). A told trial: { id, genotype, fidelity,
-- metrics, status = "ok" | "failed", score = metrics.accuracy, reason (failed), worker,
-- started, finished (simulated s) }. A genotype the evaluator cannot answer is a failed
-- trial that takes no time.
--
-- The result: { told, asked, clock (finish time of the last trial told), best (the chosen
-- trial: the largest fidelity resource first, then the highest score, the first told on
-- ties; as nas.search's result.best), stopped ("budget" | "trials" | "strategy" |
-- "on_tell"), max_running (most trials running at once), out_of_order (tells whose id was
-- not the lowest one still running), dropped (asks never run: the retiring workers') }.
-- The simulation models neither the coordinator's own time nor messages between machines.
local util = require "nas.util"

local M = {}

local ALLOWED = { "strategy", "space", "evaluator", "workers", "budget_seconds", "trials", "rng", "on_tell" }

local function level_of(f)
  if type(f) ~= "table" then return nil end
  return f.epochs or f.fraction or f.budget
end

-- Does trial a beat trial b (the chosen-trial rule)?
local function better(a, b)
  if a.score == nil then return false end
  if b == nil then return true end
  local la, lb = level_of(a.fidelity) or -math.huge, level_of(b.fidelity) or -math.huge
  if la ~= lb then return la > lb end
  return a.score > b.score
end

-- A binary min-heap of running trials by (finished, id).
local function before(a, b)
  local fa, fb = a.finished, b.finished
  if fa ~= fb then return fa < fb end
  return a.id < b.id
end

local function push(h, n, t)
  n = n + 1
  local i = n
  while i > 1 do
    local p = i // 2
    local hp = h[p]
    if not before(t, hp) then break end
    h[i] = hp
    i = p
  end
  h[i] = t
  return n
end

local function pop(h, n)
  local top = h[1]
  local last = h[n]
  h[n] = nil
  n = n - 1
  if n > 0 then
    local i = 1
    while true do
      local l = 2 * i
      if l > n then break end
      local c = h[l]
      local r = l + 1
      if r <= n and before(h[r], c) then l, c = r, h[r] end
      if not before(c, last) then break end
      h[i] = c
      i = l
    end
    h[i] = last
  end
  return top, n
end

local function check(opts)
  util.check_options(opts, ALLOWED, 1, "simulate", 4)
  local function bad(msg) util.argerror(1, "simulate", msg, 5) end
  if opts == nil then bad("options table expected") end
  local st = opts.strategy
  if type(st) ~= "table" or type(st.ask) ~= "function" or type(st.tell) ~= "function" then
    bad("field 'strategy' must be a strategy object with ask and tell")
  end
  if opts.space == nil then bad("field 'space' expected") end
  local ev = opts.evaluator
  if type(ev) ~= "table" or type(ev.answer) ~= "function" then
    bad("field 'evaluator' must have answer(genotype, fidelity) (e.g. nas.bench.nb201{...})")
  end
  local w = opts.workers or 1
  if math.type(w) ~= "integer" or w < 1 then bad("field 'workers' must be an integer >= 1") end
  local b, n = opts.budget_seconds, opts.trials
  if b == nil and n == nil then bad("give 'budget_seconds' or 'trials' (or both)") end
  if b ~= nil and (type(b) ~= "number" or b ~= b or b <= 0) then bad("field 'budget_seconds' must be a number > 0") end
  if n ~= nil and (math.type(n) ~= "integer" or n < 0) then bad("field 'trials' must be an integer >= 0") end
  local rng = opts.rng
  if type(rng) ~= "function" and not (type(rng) == "table" and type(rng.int) == "function") then
    bad("field 'rng' must be an nas.rng stream or a function(id) -> rng")
  end
  if opts.on_tell ~= nil and type(opts.on_tell) ~= "function" then bad("field 'on_tell' must be a function") end
  return w, b, n
end

function M.run(opts)
  local W, budget, maxn = check(opts)
  local st, space, ev, on_tell = opts.strategy, opts.space, opts.evaluator, opts.on_tell
  local ask, tell, answer = st.ask, st.tell, ev.answer
  local rng = opts.rng
  local per_id = type(rng) == "function"
  local heap, running = {}, 0
  local nasks, asked, told, dropped, retired = 0, 0, 0, 0, 0
  local max_running, out_of_order = 0, 0
  local clock, best, stopped = 0.0, nil, nil
  local asking = true
  -- the lowest id still running, for the out-of-order count: a flag per running id
  -- and a floor that moves up past ids told (or dropped)
  local live, floor = {}, 1

  -- A genotype or fidelity as a worker sends it back (a copy, as JSON makes one).
  local function copy(v)
    if type(v) ~= "table" then return v end
    local c = {}
    for k, x in pairs(v) do c[k] = copy(x) end
    return c
  end

  -- Workers with nothing to do: those whose ask got nil while trials ran (they ask
  -- again after the next tell), in the order they went idle.
  local idle, nidle, waiting = {}, 0, false

  -- Worker `w` asks at simulated time `now`; returns true when it got a trial.
  local function start(w, now)
    if not asking then return false end
    if maxn and asked >= maxn then
      stopped = stopped or "trials"
      asking = false
      return false
    end
    local id = nasks + 1
    local g, f = ask(st, space, per_id and rng(id) or rng)
    if g == nil then
      if running > 0 then
        -- nothing to ask until a result comes back: this worker waits for a tell
        waiting = true
        nidle = nidle + 1
        idle[nidle] = w
      else
        stopped = stopped or "strategy"
        asking = false
      end
      return false
    end
    nasks = id
    if f ~= nil and type(f) ~= "table" then
      error(("simulate: strategy:ask returned a %s as the fidelity (a table expected)"):format(type(f)), 0)
    end
    local m, why = answer(ev, g, f)
    local cost = m and m.train_s or 0.0
    if m and (type(cost) ~= "number" or cost < 0) then
      error("simulate: the evaluator's metrics.train_s must be a number >= 0", 0)
    end
    local fin = now + cost
    if budget and fin > budget then
      dropped = dropped + 1
      retired = retired + 1
      if retired == W then stopped = stopped or "budget"; asking = false end
      return false
    end
    asked = asked + 1
    local t = { id = id, genotype = copy(g), fidelity = copy(f), metrics = m, worker = w, started = now,
                finished = fin }
    if m then
      t.status, t.score = "ok", m.accuracy
    else
      t.status, t.reason, t.metrics = "failed", why, {}
    end
    live[id] = true
    running = push(heap, running, t)
    if running > max_running then max_running = running end
    return true
  end

  for w = 1, W do
    if waiting then
      nidle = nidle + 1
      idle[nidle] = w
    else
      start(w, 0.0)
    end
  end
  while running > 0 do
    local t
    t, running = pop(heap, running)
    clock = t.finished
    while floor < t.id and not live[floor] do floor = floor + 1 end
    if t.id ~= floor then out_of_order = out_of_order + 1 end
    live[t.id] = nil
    told = told + 1
    tell(st, t)
    if better(t, best) then best = t end
    if on_tell and on_tell(t, clock, best) then
      stopped = "on_tell"
      break
    end
    waiting = false
    start(t.worker, clock)
    -- then the idle workers, first idle first, until the strategy has nothing again
    if nidle > 0 and asking and not waiting then
      local old, n = idle, nidle
      idle, nidle = {}, 0
      for i = 1, n do
        if asking and not waiting then
          start(old[i], clock) -- requeues it when it gets nil
        else
          nidle = nidle + 1
          idle[nidle] = old[i]
        end
      end
    end
  end
  if not stopped then stopped = budget and "budget" or "trials" end
  return { told = told, asked = asked, clock = clock, best = best, stopped = stopped, workers = W,
           max_running = max_running, out_of_order = out_of_order, dropped = dropped }
end

return setmetatable(M, { __call = function(_, opts) return M.run(opts) end })
