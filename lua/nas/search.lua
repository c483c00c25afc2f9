-- nas.search: the search loop.
--
--   local result = nas.search{
--     space = require "spaces.chain", strategy = require("strategies.evolution").new{ population = 20 },
--     evaluate = nas.train{ data = nas.data.fashion_mnist{ valid = 5000 }, epochs = 1, fraction = 0.2 },
--     objectives = { nas.maximize "accuracy", nas.minimize "latency_ms" },   -- or function(m) ... end
--     constraints = { params = 1e5 },
--     budget = { trials = 100, minutes = 10 }, seed = 1, out = "runs/fmnist",
--   }
--   print(result.best.id, result.best.score, #result.pareto, #result.trials)
--   print(result.best:retrain{ epochs = 10 }.test_accuracy)
--
-- One trial: id -> rng = nas.rng(seed, id) -> genotype [, fidelity] = strategy:ask(space, rng)
-- -> net = space:build(genotype) -> same graph seen before? reuse its result
-- -> analytic constraints -> (latency constraint: measure) -> predicates
-- -> evaluate (train, score on valid) -> score -> store (one transaction)
-- -> strategy:tell(trial) -> evaluator:observe(trial) (if it has one). See docs/search.md.
-- A multi-fidelity strategy returns a fidelity table as ask's second value
-- ({ epochs = 9, rung = 1, parent = 17 }): the evaluator gets it as ctx.fidelity,
-- the trial carries it as trial.fidelity (stored as metrics.fidelity).
local util = require "nas.util"
local objectives = require "nas.objectives"
local constraints = require "nas.constraints"
local store_mod = require "nas.store"
local progress_mod = require "nas.progress"

local json = require "nas.json"
local M = {}

-- ---- trials -----------------------------------------------------------------

local Trial = {}
Trial.__index = Trial
-- trial -> the evaluator of its search (kept off the trial table itself)
local evaluator_of = setmetatable({}, { __mode = "k" })
M.Trial = Trial
Trial.__tostring = function(t)
  return ("trial #%d %s score %s"):format(t.id, t.status, t.score and ("%.4f"):format(t.score) or "-")
end

-- trial:net() rebuilds the trial's network from its stored graph.
function Trial:net()
  if not self.graph then error(("trial #%d has no graph (status %s)"):format(self.id, self.status), 2) end
  return require("nas.net").from_json(self.graph)
end

-- trial:retrain{ epochs = N, ... } -> { test_accuracy =, test_loss =, ... }
-- Trains the trial's net afresh on train + valid with the evaluator's recipe
-- (options override it) and measures the test split. The best trial of a search
-- with an `out` folder saves the trained model in <out>/best (weights,
-- graph.json, metrics.json; a later retrain replaces them); out = DIR saves
-- any trial there. See docs/export.md.
local best_in = setmetatable({}, { __mode = "k" }) -- the best trial -> its search's out folder
function Trial:retrain(opts)
  if opts ~= nil and type(opts) ~= "table" then
    util.argerror(1, "retrain", "options table expected, got " .. type(opts), 2)
  end
  local ev = evaluator_of[self]
  local net = self:net()
  local evs = require "nas.evaluators"
  -- misuse (a bad option) raised at the caller's line, not inside the evaluator
  local function call(f, ...)
    local res = table.pack(pcall(f, ...))
    if not res[1] then error((tostring(res[2]):gsub("^[^\n:]+%.lua:%d+: ", "")), 3) end
    return table.unpack(res, 2, res.n)
  end
  local r, msg
  if type(ev) == "table" and type(ev.retrain) == "function" then
    r, msg = call(ev.retrain, ev, net, call(evs.retrain_opts, ev, opts, self, best_in[self]))
  elseif opts and opts.data then
    r, msg = call(evs.retrain, net, call(evs.retrain_opts, nil, opts, self, best_in[self]))
  else
    error("retrain: this search's evaluator cannot retrain; pass data = (with .train and .test)", 2)
  end
  if not r then error("retrain failed: " .. tostring(msg), 2) end
  return r
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

local function is_interrupt(e)
  if type(e) == "string" and e:find("interrupted", 1, true) then return true end
  local ok, core = pcall(require, "nas.core")
  return ok and type(core) == "table" and core.interrupted and core.interrupted() or false
end

-- Plain JSON-able copy of metrics (functions, userdata dropped; NaN -> absent),
-- exactly as it will read back from the store.
local function clean(v, depth)
  local t = type(v)
  if t == "number" then return finite(v) and v or nil end
  if t == "string" or t == "boolean" then return v end
  if t == "table" and depth < 8 then
    local out = {}
    for k, x in pairs(v) do
      if type(k) == "string" or math.type(k) == "integer" then out[k] = clean(x, depth + 1) end
    end
    return out
  end
  return nil
end

local function roundtrip(v) return json.decode(json.encode(clean(v, 0))) end
-- The same, also returning the JSON (what the store writes).
local function roundtrip_json(v)
  local s = json.encode(clean(v, 0))
  return json.decode(s), s
end

-- Bookkeeping fields of a fidelity; the others (epochs, fraction, budget, ...)
-- are the resource, which joins the graph hash in the cache key: the same
-- graph at another fidelity is evaluated again.
local FIDELITY_BOOK = { parent = true, rung = true, bracket = true }
local function cache_key(hash, fidelity)
  if hash == nil or type(fidelity) ~= "table" then return hash end
  local res = {}
  for k, v in pairs(fidelity) do
    if not FIDELITY_BOOK[k] then res[k] = v end
  end
  return hash .. "@" .. json.encode(res)
end
M.cache_key = cache_key

-- The resource amount of a fidelity (epochs, fraction or budget), or nil.
local fidelity_level = require("nas.fidelity").level

-- ---- evaluating one genotype --------------------------------------------------

-- Scores metrics: returns score or nil, reason. May add to metrics (a fitness
-- function's additions are kept).
local function score_of(obj, m)
  if obj.kind == "scalar" then
    local ok, s = pcall(obj.fn, m)
    if not ok then
      if is_interrupt(s) then error(s, 0) end
      return nil, "fitness: " .. tostring(s)
    end
    if not finite(s) then return nil, "fitness returned " .. tostring(s) .. " (a finite number expected)" end
    return s
  end
  return objectives.value(obj.list[1], m)
end

local function measure_latency(net)
  local model = require("nas.model").new(net, { seed = 0 })
  local ms = require("nas.evaluators").latency(model, 10)
  model:release()
  return ms
end

-- The single "evaluate one genotype" step (what a worker process runs), in
-- two stages: prepare (build, hash, the cache, analytic metrics and
-- constraints: cheap, what a coordinator settles alone) and complete
-- (latency, predicates, the evaluator, the score).
-- env = { space, evaluator, objectives (normalised), constraints (normalised),
--         cache = {key -> trial} | nil, progress = function(p) | nil, out = folder | nil }
-- fidelity: the strategy's second ask value (a table) or nil.
-- prepare returns the trial, the graph JSON and the net when it still needs
-- complete, or the settled trial (status ok / failed / rejected) and the graph.
-- Only an interrupt escapes as an error.
local function guard(what, ok, ...)
  if ok then return true, ... end
  local e = ...
  if is_interrupt(e) then error(e, 0) end
  return false, what .. tostring(e)
end

local function fail(t, status, reason)
  t.status, t.reason, t.score = status, reason, nil
  return t
end

function M.prepare(env, id, genotype, seed, fidelity)
  local t = { id = id, genotype = genotype, seed = seed, metrics = {}, fidelity = fidelity }
  local ok, net, why = guard("build: ", pcall(env.space.build, env.space, genotype))
  if not ok then return fail(t, "failed", net) end
  if not net then return fail(t, "failed", "build: " .. tostring(why or "the space built no net")) end
  local okh, hash = guard("hash: ", pcall(net.hash, net))
  if not okh then return fail(t, "failed", hash) end
  t.hash = tostring(hash)
  local graph
  if not env.no_graph then -- a worker: the coordinator has the graph already
    local okj, g = pcall(net.to_json, net)
    graph = okj and g or nil
  end

  local prev = env.cache and env.cache[cache_key(t.hash, fidelity)]
  if prev then
    t.cached_from = prev.cached_from or prev.id
    t.metrics = roundtrip(prev.metrics)
    t.status, t.score, t.reason = prev.status, prev.score, prev.reason
    return t, graph
  end

  local m = t.metrics
  local oka, err = guard("metrics: ", pcall(function()
    m.params, m.flops, m.memory_mb, m.layers = net:params(), net:flops(), net:memory_mb(1), net:layers()
  end))
  if not oka then return fail(t, "failed", err), graph end

  local pass, reason = constraints.check_limits(env.constraints, m, constraints.analytic)
  if not pass then return fail(t, "rejected", reason), graph end
  return t, graph, net
end

function M.complete(env, t, net)
  local m, c = t.metrics, env.constraints
  local pass, reason
  if c.limits.latency_ms then
    local okl, ms = guard("latency: ", pcall(measure_latency, net))
    if not okl then return fail(t, "failed", ms) end
    m.latency_ms = ms
    pass, reason = constraints.check_limits(c, m, { "latency_ms" })
    if not pass then return fail(t, "rejected", reason) end
  end
  if #c.predicates > 0 then
    local okp, p, r = guard("constraint: ", pcall(constraints.check_predicates, c, m, net))
    if not okp then return fail(t, "failed", p) end
    if not p then return fail(t, "rejected", r) end
  end

  local ev = env.evaluator
  local ctx = { seed = t.seed, trial = t.id, metrics = m, progress = env.progress, genotype = t.genotype,
                fidelity = t.fidelity, out = env.out }
  local oke, res, ereason
  if type(ev) == "function" then
    oke, res, ereason = guard("evaluate: ", pcall(ev, net, ctx))
  else
    oke, res, ereason = guard("evaluate: ", pcall(ev.evaluate, ev, net, ctx))
  end
  if not oke then return fail(t, "failed", res) end
  if res == nil then return fail(t, "failed", tostring(ereason or "evaluation failed")) end
  if type(res) ~= "table" then
    return fail(t, "failed", "evaluate returned " .. type(res) .. " (a metrics table expected)")
  end
  for k, v in pairs(res) do m[k] = v end
  local s, sreason = score_of(env.objectives, m)
  if s == nil then return fail(t, "failed", sreason) end
  t.status, t.score = "ok", s
  return t
end

-- Returns the trial table (status ok / failed / rejected) and the graph JSON.
function M.evaluate_genotype(env, id, genotype, seed, fidelity)
  local t, graph, net = M.prepare(env, id, genotype, seed, fidelity)
  if net then M.complete(env, t, net) end
  return t, graph
end

-- Runs f() under the trial's limits: `seconds` (nil: none) -- training
-- progress callbacks and a Lua instruction-count hook raise "timeout: ..."
-- past it -- and `memory_mb` (nil: none) -- the process may grow by at most
-- that much while f runs (an allocation past it fails the trial: "out of memory").
local function now() return require("nas.core").now() end
local function with_limits(env, seconds, memory_mb, f)
  if not seconds and not memory_mb then return f() end
  local core = require "nas.core"
  local progress = env.progress
  if seconds then
    local deadline = now() + seconds
    local msg = ("timeout: the trial ran longer than %gs"):format(seconds)
    env.progress = function(p)
      if now() > deadline then error(msg, 0) end
      if progress then progress(p) end
    end
    debug.sethook(function()
      if now() > deadline then
        debug.sethook()
        error(msg, 0)
      end
    end, "", 100000)
  end
  if memory_mb then core.memory_limit(memory_mb) end
  local res = table.pack(pcall(f))
  if memory_mb then core.memory_limit(nil) end
  if seconds then debug.sethook() end
  env.progress = progress
  if not res[1] then error(res[2], 0) end
  local t = res[2]
  -- The engine's and Lua's ways of saying an allocation failed, as one reason.
  if memory_mb and type(t) == "table" and t.status == "failed" and type(t.reason) == "string"
     and not t.reason:find("^out of memory")
     and (t.reason:find("can't allocate memory", 1, true) or t.reason:find("not enough memory", 1, true)
          or t.reason:find("bad_alloc", 1, true) or t.reason:find("out of memory", 1, true)) then
    t.reason = ("out of memory (limits.memory_mb = %g): %s"):format(memory_mb, t.reason)
  end
  return table.unpack(res, 2, res.n)
end

-- ---- options ----------------------------------------------------------------

local search_keys = { "space", "strategy", "evaluate", "objectives", "constraints", "budget", "seed", "out",
                      "progress", "log", "clock", "reference", "workers", "trial_timeout", "limits", "data",
                      "report" }

local function default_clock()
  local ok, sys = pcall(require, "system")
  if ok and type(sys) == "table" and sys.gettime then return sys.gettime end
  return os.time
end

local function check(opts, level)
  level = level + 1
  util.check_options(opts, search_keys, 1, "search", level)
  if opts == nil then util.argerror(1, "search", "options table expected", level) end
  if opts.report ~= nil and type(opts.report) ~= "boolean" and (type(opts.report) ~= "string" or opts.report == "") then
    util.argerror(1, "search", "field 'report' must be a boolean or a file name", level)
  end
  if opts.report and not opts.out then
    util.argerror(1, "search", "field 'report' needs 'out' (the report is written from the run's store)", level)
  end
  local sp = opts.space
  if type(sp) ~= "table" or type(sp.build) ~= "function" then
    util.argerror(1, "search", "field 'space' must be a space (from nas.space(name, function(c) ... end))", level)
  end
  local st = opts.strategy
  -- a one-shot strategy (strategies/darts.lua, ...: nas.oneshot) has search(ctx) instead of ask
  local oneshot = type(st) == "table" and st.oneshot == true
  if oneshot and type(st.search) ~= "function" then
    util.argerror(1, "search", "field 'strategy' is one-shot (oneshot = true) but has no search(ctx) method", level)
  end
  if not oneshot and (type(st) ~= "table" or type(st.ask) ~= "function" or type(st.tell) ~= "function") then
    util.argerror(1, "search", "field 'strategy' must be a strategy object with ask and tell " ..
                  "(e.g. require(\"strategies.evolution\").new{...})", level)
  end
  local ev = opts.evaluate
  if not (oneshot and ev == nil) and type(ev) ~= "function"
     and (type(ev) ~= "table" or type(ev.evaluate) ~= "function") then
    util.argerror(1, "search", "field 'evaluate' must be an evaluator (nas.train{...}) or a function(net, ctx)", level)
  end
  if opts.data ~= nil and not oneshot then
    util.argerror(1, "search", "field 'data' is for one-shot strategies (an ask/tell search's data is its evaluator's)",
                  level)
  end
  if opts.data ~= nil and (type(opts.data) ~= "table" or opts.data.train == nil) then
    util.argerror(1, "search", "field 'data' must be a dataset table with .train (from nas.data)", level)
  end
  local b = opts.budget
  if type(b) ~= "table" then
    util.argerror(1, "search", "field 'budget' = { trials = n, minutes = m } is required", level)
  end
  util.check_options(b, { "trials", "minutes", "repeats" }, 1, "search (budget)", level)
  if b.trials == nil and b.minutes == nil then
    util.argerror(1, "search", "budget needs trials, minutes or both", level)
  end
  if b.trials ~= nil and (math.type(b.trials) ~= "integer" or b.trials < 0) then
    util.argerror(1, "search", "budget.trials must be an integer >= 0", level)
  end
  if b.minutes ~= nil and (type(b.minutes) ~= "number" or not (b.minutes >= 0)) then
    util.argerror(1, "search", "budget.minutes must be a number >= 0", level)
  end
  if b.repeats ~= nil and (math.type(b.repeats) ~= "integer" or b.repeats < 1) then
    util.argerror(1, "search", "budget.repeats must be an integer >= 1 (repeats in a row before the search stops)",
                  level)
  end
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    util.argerror(1, "search", "field 'seed' must be an integer", level)
  end
  if opts.out ~= nil and (type(opts.out) ~= "string" or opts.out == "") then
    util.argerror(1, "search", "field 'out' must be a folder name", level)
  end
  if opts.progress ~= nil and type(opts.progress) ~= "boolean" then
    util.argerror(1, "search", "field 'progress' must be true or false", level)
  end
  if opts.log ~= nil and opts.log ~= false and opts.log ~= true and type(opts.log) ~= "function" then
    util.argerror(1, "search", "field 'log' must be true, false or a function(line)", level)
  end
  if opts.clock ~= nil and type(opts.clock) ~= "function" then
    util.argerror(1, "search", "field 'clock' must be a function returning seconds", level)
  end
  if opts.workers ~= nil and (math.type(opts.workers) ~= "integer" or opts.workers < 1 or opts.workers > 4096) then
    util.argerror(1, "search", "field 'workers' must be an integer in 1..4096", level)
  end
  if opts.trial_timeout ~= nil and (type(opts.trial_timeout) ~= "number" or not (opts.trial_timeout > 0)
                                    or opts.trial_timeout == math.huge) then
    util.argerror(1, "search", "field 'trial_timeout' must be a number of seconds > 0", level)
  end
  if opts.limits ~= nil then
    util.check_options(opts.limits, { "trial_seconds", "memory_mb" }, 1, "search (limits)", level)
    for _, k in ipairs{ "trial_seconds", "memory_mb" } do
      local v = opts.limits[k]
      if v ~= nil and (type(v) ~= "number" or not (v > 0) or v == math.huge) then
        util.argerror(1, "search", ("limits.%s must be a number > 0"):format(k), level)
      end
    end
    if opts.limits.trial_seconds and opts.trial_timeout then
      util.argerror(1, "search", "give trial_timeout or limits.trial_seconds, not both", level)
    end
  end
  if opts.reference ~= nil then
    local ok = type(opts.reference) == "table" and #opts.reference > 0
    for _, v in ipairs(ok and opts.reference or {}) do if type(v) ~= "number" then ok = false end end
    if not ok then
      util.argerror(1, "search", "field 'reference' must be a list of numbers (the hypervolume's reference point)",
                    level)
    end
  end
end

local function space_name(space)
  return tostring(rawget(space, "name") or space.name or "?")
end

local function strategy_name(st)
  return tostring(st.name or (getmetatable(st) and getmetatable(st).name) or "?")
end

-- ---- the loop -------------------------------------------------------------------

-- With fidelities, a trial at a larger resource beats any at a smaller one
-- (a 27-epoch accuracy is not comparable with a 1-epoch one); then the score.
local function better(a, b)
  if b == nil then return true end
  local la, lb = fidelity_level(a.fidelity), fidelity_level(b.fidelity)
  if la ~= lb and la ~= nil and lb ~= nil then return la > lb end
  if la ~= nil and lb == nil then return true end
  if la == nil and lb ~= nil then return false end
  return a.score > b.score
end

-- The result table of a search from its trials (by id).
local function make_result(trials, best, obj, opts, extra)
  local result = { trials = trials, best = best, out = opts.out, objectives = obj.list }
  if best then best_in[best] = opts.out end
  for k, v in pairs(extra or {}) do result[k] = v end
  local ok_trials = {}
  for _, t in ipairs(trials) do
    if t.status == "ok" and not t.cached_from then ok_trials[#ok_trials + 1] = t end
  end
  if obj.kind == "pareto" then
    result.pareto = objectives.pareto_front(ok_trials, obj.list)
    if #obj.list > 1 then
      result.reference = opts.reference or objectives.nadir(ok_trials, obj.list)
      result.hypervolume = result.reference and objectives.hypervolume(result.pareto, obj.list, result.reference) or 0
    end
  else
    result.pareto = best and { best } or {}
  end
  return result
end

-- What a worker gets back when its search ends: the trials (graphs of the best
-- and the Pareto front only) and the run's bookkeeping.
local function compact(result)
  local keep = {}
  if result.best then keep[result.best.id] = true end
  for _, t in ipairs(result.pareto or {}) do keep[t.id] = true end
  local trials = {}
  for i, t in ipairs(result.trials) do
    trials[i] = { id = t.id, genotype = t.genotype, metrics = t.metrics, status = t.status, score = t.score,
                  reason = t.reason, cached_from = t.cached_from, hash = t.hash, fidelity = t.fidelity,
                  seconds = t.seconds, graph = keep[t.id] and t.graph or nil }
  end
  return { trials = trials, stopped = result.stopped, resumed = result.resumed, seconds = result.seconds }
end

-- The worker's side of nas.search: serve the coordinator's trials, then
-- return its result.
local function serve(opts, obj, cons, better_fn, k)
  local parallel = require "nas.parallel"
  local ev = opts.evaluate
  local env = { space = opts.space, evaluator = ev, objectives = obj, constraints = cons, out = opts.out,
                no_graph = true }
  local function evaluate(msg)
    local fidelity = type(msg.fidelity) == "table" and msg.fidelity or nil
    local t0 = now()
    local t, graph = with_limits(env, msg.timeout, msg.memory_mb, function()
      return M.evaluate_genotype(env, msg.id, msg.genotype, msg.seed, fidelity)
    end)
    if is_interrupt(t.reason) then error(t.reason, 0) end
    t.started, t.finished = t0, now()
    t.seconds = t.finished - t.started
    t.metrics = clean(t.metrics, 0) or {}
    return t, graph
  end
  local observe = type(ev) == "table" and type(ev.observe) == "function" and function(t) ev:observe(t) end or nil
  local r = parallel.serve(k, evaluate, observe)
  local trials, best = {}, nil
  for i, t in ipairs(r.trials or {}) do
    evaluator_of[t] = ev
    trials[i] = setmetatable(t, Trial)
    if t.status == "ok" and not t.cached_from and better_fn(t, best) then best = t end
  end
  return make_result(trials, best, obj, opts, { stopped = r.stopped, resumed = r.resumed, seconds = r.seconds,
                                                role = "worker" })
end

-- nas.search{...} -> result { best, pareto, trials, out, stopped, resumed }
function M.run(opts)
  check(opts, 2)
  local space, strategy = opts.space, opts.strategy
  local obj = objectives.normalize(opts.objectives, 2)
  if opts.reference ~= nil and (obj.kind ~= "pareto" or #opts.reference ~= #obj.list) then
    util.argerror(1, "search", "field 'reference' needs one number per objective (a list of nas.maximize/minimize)", 2)
  end
  local cons = constraints.normalize(opts.constraints, 2)
  local parallel = require "nas.parallel"
  local k = parallel.next_call()
  if parallel.role() == "worker" then return serve(opts, obj, cons, better, k) end

  local cfg = util.config()
  local seed = opts.seed or cfg.seed
  local trial_seconds = opts.trial_timeout or (opts.limits and opts.limits.trial_seconds)
  local memory_mb = opts.limits and opts.limits.memory_mb
  local budget = opts.budget
  local nworkers = opts.workers or cfg.workers or 1
  local pool
  if cfg.mpi and cfg.mpi.size > 1 then
    nworkers = cfg.mpi.size - 1
    pool = require("nas.workers").pool()
  elseif nworkers > 1 then
    pool = require("nas.workers").pool()
  end
  -- An evaluator with its own clock (a tabular benchmark's simulated training
  -- seconds, nas.bench) times a search in this process unless a clock is given.
  local ev = opts.evaluate
  local ev_clock = not pool and type(ev) == "table" and type(ev.clock) == "function"
                   and function() return ev:clock() end
  local base_clock = opts.clock or ev_clock or default_clock()
  -- A repeat (a graph evaluated before) costs a little on every clock, so that
  -- a minutes budget is reachable even by a strategy that only repeats itself.
  local repeat_cost = 0
  local function clock() return base_clock() + repeat_cost end
  local max_repeats = budget.repeats or 1000
  local in_a_row, last_repeat = 0, nil
  local rng_mod = require "nas.rng"

  -- The store (locked: one search at a time in a run folder), the log file, the progress display.
  local store, logfile, lockfd
  if opts.out then
    store_mod.mkdir(opts.out)
    local core = require "nas.core"
    local why, holder
    lockfd, why, holder = core.lock(opts.out .. "/lock")
    if not lockfd then
      error(("search: %s is in use by another search%s; wait for it to end, or use another 'out'"):format(
        opts.out, holder and (" (nasrun process %d)"):format(holder) or (why and " (" .. why .. ")" or "")), 2)
    end
    local okst, st = pcall(store_mod.open, opts.out)
    if not okst then
      core.unlock(lockfd)
      error("search: " .. tostring(st):gsub("^[^:\n]+:%d+: ", ""), 2)
    end
    store = st
    local fp = { space = space_name(space), seed = tostring(seed), objectives = obj.describe,
                 strategy = strategy_name(strategy) }
    local same, diff = store:fingerprint(fp)
    if not same then
      store:close()
      core.unlock(lockfd)
      error(("search: %s holds a different run (%s); use another 'out' or remove the folder"):format(opts.out, diff), 2)
    end
    -- What the report's header shows; not part of the fingerprint (a resumed
    -- search may run another script version or another number of workers).
    pcall(store.set_run, store, {
      script = type(arg) == "table" and type(arg[0]) == "string" and arg[0] or nil,
      budget = store_mod.json.encode(budget),
      workers = tostring(nworkers),
      version = core.version, torch = core.torch_version,
    })
    logfile = io.open(opts.out .. "/search.log", "a")
  end
  local function unlock()
    if lockfd then
      require("nas.core").unlock(lockfd)
      lockfd = nil
    end
  end
  local live = opts.progress
  if live == nil then live = progress_mod.is_terminal() end
  if opts.log == false or type(opts.log) == "function" then live = false end
  local echo = opts.log
  if echo == nil or echo == true then echo = nil end
  local prog = progress_mod.new{ live = live, echo = echo, file = logfile, budget = budget, clock = clock }

  local trials, cache, best = {}, {}, nil
  local told = {} -- public views of the told trials, in tell order (for workers' evaluator:observe)
  local counted = 0 -- seconds spent by trials of earlier runs of this search
  local function add(t, graph, tev)
    t.graph = graph
    if t.cached_from then
      in_a_row, last_repeat = in_a_row + 1, t
    else
      in_a_row = 0
    end
    evaluator_of[t] = tev
    setmetatable(t, Trial)
    trials[#trials + 1] = t
    local ck = cache_key(t.hash, t.fidelity)
    if ck and not t.cached_from and not cache[ck] then cache[ck] = t end
    if t.status == "ok" and not t.cached_from and better(t, best) then best = t end
  end
  -- What strategies and evaluator:observe see. objectives: the trial's
  -- objective vector, every entry oriented so that higher is better (ok
  -- trials of a search with a list of objectives).
  local function public(t)
    local p = { id = t.id, genotype = t.genotype, metrics = t.metrics, status = t.status, score = t.score,
                reason = t.reason, cached_from = t.cached_from, hash = t.hash, fidelity = t.fidelity }
    if obj.kind == "pareto" and t.status == "ok" then p.objectives = objectives.point(t.metrics, obj.list) end
    return p
  end
  local has_observe = type(ev) == "table" and type(ev.observe) == "function"
  local observe = has_observe and function(t) ev:observe(t) end or function() end

  -- Resume: replay the finished trials through tell, in tell order; trials
  -- that were running when an earlier run of a parallel search stopped are recorded
  -- as failed (lost) and told after them.
  local resumed, lost = 0, 0
  local ntold = 0
  if store then
    local rows = store:trials{ order = "told" }
    local ids = {}
    for i, r in ipairs(rows) do ids[i] = r.id end
    for _, r in ipairs(store:running()) do ids[#ids + 1] = r.id end
    table.sort(ids)
    for i, id in ipairs(ids) do
      if id ~= i then
        store:close()
        unlock()
        error(("search: %s/trials.db has a gap before trial %d"):format(opts.out, id), 2)
      end
    end
    for _, r in ipairs(rows) do
      local graph = r.graph
      r.graph = nil
      if type(r.metrics.fidelity) == "table" then r.fidelity = r.metrics.fidelity end
      add(r, graph, opts.evaluate)
      counted = counted + (r.seconds or 0)
      ntold = math.max(ntold, r.told or r.id)
      local pt = public(r)
      if strategy.tell then strategy:tell(pt) end
      observe(pt)
      if has_observe then told[#told + 1] = pt end
      prog:trial_done(r, best, true)
      resumed = resumed + 1
    end
    if resumed > 0 then
      prog:message(("resuming %s: %d trials replayed, best %s"):format(opts.out, resumed,
        best and ("%.4f (#%d)"):format(best.score, best.id) or "-"))
    end
  end
  prog.elapsed_before = counted

  -- A finished trial: stored, kept, told (in this order: the store first, so
  -- that a told trial is always a stored one).
  local function record(t, graph)
    local gjson, mjson
    if t.cached_from then
      -- 1 % of the original's time (at least 10 ms): small, never zero.
      local orig = cache[cache_key(t.hash, t.fidelity)]
      local c = math.max(0.01, 0.01 * (orig and orig.seconds or 0))
      repeat_cost = repeat_cost + c
      t.seconds = (t.seconds or 0) + c
    end
    if t.gjson then
      gjson = t.gjson
      t.genotype, t.gjson = json.decode(gjson), nil
    else
      t.genotype, gjson = roundtrip_json(t.genotype)
    end
    if t.fidelity ~= nil then t.metrics.fidelity = t.fidelity end
    if t.from_worker then
      -- decoded from the worker's JSON message: already what the store reads back
      mjson = json.encode(t.metrics)
      t.from_worker = nil
    else
      t.metrics, mjson = roundtrip_json(t.metrics)
    end
    ntold = ntold + 1
    t.told = ntold
    if store then
      local okw, werr = pcall(function()
        if t.cached_from then
          store:insert_repeat(t, gjson)
        else
          store:insert(t, graph, gjson, mjson)
        end
      end)
      if not okw then
        if is_interrupt(werr) then error(werr, 0) end -- Ctrl-C during the write: not a full disk
        error(("search: cannot write trial #%d to %s/trials.db (%s; is the disk full?). The trials stored " ..
               "before it are safe: run the same command again when there is space, and the search resumes")
               :format(t.id, opts.out, tostring(werr):gsub("^trial store: LuaSQL: ", ""):gsub(" %(in: .*$", "")), 0)
      end
    end
    add(t, graph, opts.evaluate)
    local pt = public(t)
    if strategy.tell then strategy:tell(pt) end
    observe(pt)
    if has_observe then told[#told + 1] = pt end
    prog:trial_done(t, best)
  end
  if store then
    for _, r in ipairs(store:running()) do
      record({ id = r.id, genotype = r.genotype, fidelity = r.fidelity, seed = r.seed, metrics = {},
               status = "failed", reason = "lost: the search stopped while this trial ran", started = r.started,
               worker = r.worker })
      lost = lost + 1
    end
    if lost > 0 then
      prog:message(("%d trials that were running when the search stopped are recorded as lost"):format(lost))
    end
  end

  local env = { space = space, evaluator = opts.evaluate, objectives = obj, constraints = cons, cache = cache,
                progress = function(p) prog:on_step(p) end, out = opts.out }
  local start = clock()
  local stopped
  local function out_of_budget(nrunning)
    if budget.trials and #trials + (nrunning or 0) >= budget.trials then return "trials" end
    if budget.minutes and counted + (clock() - start) >= budget.minutes * 60 then return "minutes" end
    if in_a_row >= max_repeats then return "repeats" end
    return nil
  end
  local next_id = #trials + 1
  local function ask()
    local id = next_id
    local rng = rng_mod.new(seed, id)
    local tseed = rng_mod.new(seed, id, "train"):int(0, 0x7fffffff)
    local genotype, fidelity = strategy:ask(space, rng)
    if genotype == nil then return nil, "strategy" end
    if fidelity ~= nil then
      if type(fidelity) ~= "table" then
        error(("search: strategy:ask returned a %s as the fidelity (a table expected)"):format(type(fidelity)), 0)
      end
      fidelity = roundtrip(fidelity)
    end
    next_id = id + 1
    local job = { id = id, genotype = genotype, seed = tseed, fidelity = fidelity }
    if pool then job.gjson = json.encode(clean(genotype, 0)) end -- encoded once: message, running row, trial row
    return job
  end

  local oneshot_result -- a one-shot strategy's details (result.oneshot)
  local ok, err = pcall(function()
    if strategy.oneshot then -- the strategy drives itself through a ctx (nas.oneshot)
      stopped, best, oneshot_result = require("nas.oneshot").drive(strategy, {
        space = space, seed = seed, budget = budget, out = opts.out, store = store, prog = prog, env = env,
        data = opts.data or (type(ev) == "table" and ev.data or nil), parallel = pool ~= nil,
        limits = trial_seconds ~= nil or memory_mb ~= nil, trials = trials, clock = clock, public = public,
        record = record, out_of_budget = out_of_budget, prepare = M.prepare, complete = M.complete,
        peek_id = function() return next_id end, take_id = function() next_id = next_id + 1 end,
      })
      return
    end
    if pool then
      local cores = require("nas.core").cpus()
      local threads = cfg.threads_given or math.max(1, cores // nworkers)
      prog:message(parallel.layout(pool, nworkers, threads))
      local log_dir
      if opts.out then
        log_dir = opts.out .. "/workers"
        store_mod.mkdir(log_dir)
      end
      stopped = parallel.coordinate{
        pool = pool, n = nworkers, threads = threads, k = k, log_dir = log_dir, prog = prog,
        timeout = trial_seconds, memory_mb = memory_mb,
        hard_timeout = trial_seconds and trial_seconds + math.max(5, 0.25 * trial_seconds),
        ask = ask,
        new_id = function()
          local id = next_id
          next_id = id + 1
          return id
        end,
        prepare = function(job)
          local t0 = clock()
          local t, graph, net = M.prepare(env, job.id, job.genotype, job.seed, job.fidelity)
          if net then
            job.graph = graph
            return nil
          end
          t.started, t.finished = t0, clock()
          t.seconds = t.finished - t0
          if job.retry_of then t.metrics.retry_of = job.retry_of end
          t.gjson = job.gjson
          return t, graph
        end,
        record = function(t, graph) record(t, graph) end,
        out_of_budget = out_of_budget,
        running_add = function(job, w) if store then store:running_add(job, w) end end,
        begin = function() if store then store:begin() end end,
        commit = function() if store then store:commit() end end,
        rollback = function() if store then store:rollback() end end,
        observe_since = has_observe and function(n)
          local out = {}
          for i = n + 1, #told do out[#out + 1] = told[i] end
          return out, #told
        end or nil,
      }
      return
    end
    while true do
      stopped = out_of_budget()
      if stopped then break end
      local job, why = ask()
      if not job then
        stopped = why
        break
      end
      prog:trial_start(job.id)
      local t0 = clock()
      local t, graph = with_limits(env, trial_seconds, memory_mb, function()
        return M.evaluate_genotype(env, job.id, job.genotype, job.seed, job.fidelity)
      end)
      local t1 = clock()
      if is_interrupt(t.reason) then error(t.reason, 0) end
      t.started, t.finished, t.seconds = t0, t1, t1 - t0
      record(t, graph)
    end
  end)
  prog:finish()

  table.sort(trials, function(a, b) return a.id < b.id end)
  local result = make_result(trials, best, obj, opts, { stopped = stopped, resumed = resumed,
                                                        seconds = clock() - start, workers = nworkers,
                                                        oneshot = oneshot_result })
  parallel.keep_result(k, compact(result))

  -- A Ctrl-C can land after a trial's row was written and before it was kept
  -- here (or, in parallel, after trials were kept in a turn that was then
  -- rolled back): the store's count is what a resumed search replays.
  local nstored = #trials
  if not ok and store then
    local okc, c = pcall(store.count, store)
    if okc then nstored = c end
  end
  if store then store:close() end
  unlock()
  local function close_log()
    if logfile then logfile:close() logfile = nil end
  end

  if not ok then
    if is_interrupt(err) then
      local msg = ("interrupted: search stopped after %d trials%s; best so far: %s"):format(nstored,
        opts.out and (" (stored in %s; run the script again to resume)"):format(opts.out) or "",
        best and ("#%d score %.4f"):format(best.id, best.score) or "none")
      prog:message(msg)
      close_log()
      error(msg, 0)
    end
    close_log()
    error(err, 0)
  end
  if stopped == "repeats" and last_repeat then
    prog:message(("search: strategy '%s' asked %d repeats in a row (genotypes whose graph was evaluated before; " ..
      "the last, #%d, repeats #%d): it no longer explores, so the search stops (budget.repeats = %d)"):format(
      strategy_name(strategy), in_a_row, last_repeat.id, last_repeat.cached_from, max_repeats))
  end
  local counts = { ok = 0, failed = 0, rejected = 0, cached = 0 }
  for _, t in ipairs(trials) do
    counts[t.status] = counts[t.status] + 1
    if t.cached_from then counts.cached = counts.cached + 1 end
  end
  prog:message(("search done (%s): %d trials (%d ok, %d failed, %d rejected, %d repeats), best %s"):format(
    stopped or "?", #trials, counts.ok, counts.failed, counts.rejected, counts.cached,
    best and ("#%d score %.4f"):format(best.id, best.score) or "none"))
  if opts.report then
    -- A report that cannot be written (a missing package, a full disk) is
    -- said, and the search's result stands.
    local okr, path = pcall(function()
      return require("nas.report").write(opts.out, { out = type(opts.report) == "string" and opts.report or nil })
    end)
    if okr then
      result.report = path
      prog:message("report: " .. path)
    else
      prog:message("report not written: " .. tostring(path))
    end
  end
  close_log()
  return result
end

-- This process's role in parallel search: "coordinator" or "worker".
M.role = function() return require("nas.parallel").role() end

return M
