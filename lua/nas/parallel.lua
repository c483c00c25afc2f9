-- nas.parallel: the coordinator and worker loops of a parallel search
-- (docs/parallel.md). nas.search calls them; the transports are nas.workers'.
--
-- Every process runs the same script. The k-th nas.search call of the
-- coordinator is served by the k-th nas.search call of each worker: a worker
-- says hello with its k, evaluates the trials it is sent, and leaves the call
-- only when the coordinator starts a later search, with the finished search's
-- result (so the script runs on to its next nas.search exactly as on the
-- coordinator). When the coordinator ends, its workers end inside their last
-- nas.search: code after a script's last search runs on the coordinator only.
--
-- Messages (JSON objects):
--   worker -> coordinator: { t = "hello", k =, pid =, host =, threads = }
--                          { t = "done", id =, trial = {...} }   (the coordinator has the graph)
--   coordinator -> worker: { t = "trial", id =, genotype =, seed =, fidelity =, deadline =, observe = {...} }
--                          { t = "result", k =, result = {...} }   (leave search k with this result)
local workers_mod = require "nas.workers"
local json = require "nas.json"

local M = {}

local function now() return require("nas.core").now() end

-- Search calls made by this process so far (the k of the current one).
local calls = 0
function M.next_call()
  calls = calls + 1
  return calls
end

-- Compact results of this coordinator's finished searches, by k: what a worker
-- that reaches search k late (a worker started for a later search) is given.
local results = {}
function M.keep_result(k, r) results[k] = r end

-- The layout line printed at the start of a parallel search.
function M.layout(pool, n, threads)
  if pool.kind == "mpi" then
    return ("parallel search: %d MPI ranks (rank 0 coordinates, %d workers)"):format(n + 1, n)
  end
  local cores = require("nas.core").cpus()
  return ("parallel search: %d local workers x %d intra-op thread%s (%d cores)"):format(n, threads,
    threads == 1 and "" or "s", cores)
end

-- ---- the coordinator ----------------------------------------------------------

-- Runs the parallel loop of search k. h (from nas.search) holds:
--   pool, n (workers), threads, k, log_dir
--   ask() -> job | nil, stop   job = { id, genotype, seed, fidelity, retry_of }
--   prepare(job) -> trial, graph when the coordinator settles the job alone (a
--                   repeat, a build failure, a rejection), else nil (job.graph is then set)
--   begin(), commit(), rollback()  group the store's writes of one turn of the loop
--   record(trial, graph)       stores and tells a finished trial
--   out_of_budget(nrunning) -> reason | nil
--   running_add(job, w)       the store's in-flight row (record removes it)
--   timeout (seconds) | nil, memory_mb | nil (the trial's limits),
--   observe_since(n) -> told trials n+1.. for evaluator:observe, or nil
--   prog (the progress display)
-- Returns the stop reason.
function M.coordinate(h)
  local pool, k = h.pool, h.k
  pool:ensure(h.n, h.threads, h.log_dir)
  -- w -> { k = the search it is in, queue = its trials (running first), seen = told trials observed }
  local state = {}
  local ready = {}   -- w -> true: idle in this search
  local running, nrunning = {}, 0
  local retry = {}   -- jobs to run again (their first worker was lost)
  local stopped, asking = nil, true
  local start_failures = 0
  local lost_detail
  local waiting_tell = false -- the strategy had nothing to ask while trials ran

  -- Each worker holds a queue of at most `depth` trials: the one it runs and,
  -- once trials turn out short (median under a second), the next one, sent
  -- ahead so that the worker never waits a round trip between trials.
  local depth, recent = 1, {}
  local function note_seconds(sec)
    recent[#recent + 1] = sec
    if #recent > 16 then table.remove(recent, 1) end
    if #recent >= 8 then
      local c = {}
      for i, v in ipairs(recent) do c[i] = v end
      table.sort(c)
      depth = c[(#c + 1) // 2] < 1.0 and 2 or 1
    end
  end
  local requeue = {} -- jobs sent ahead to a worker that was lost before starting them (same ids)

  local function lose(w, why)
    ready[w] = nil
    local st = state[w]
    state[w] = nil
    local queue = st and st.queue or {}
    local job = queue[1]
    if job then
      running[job.id] = nil
      nrunning = nrunning - 1
      local t = { id = job.id, genotype = job.genotype, seed = job.seed, fidelity = job.fidelity, status = "failed",
                  reason = why, metrics = {}, started = job.started, finished = now(), worker = w }
      t.seconds = t.finished - job.started
      if job.retry_of then t.metrics.retry_of = job.retry_of end
      h.record(t, nil)
      if not job.retry_of and not job.no_retry then
        retry[#retry + 1] = { genotype = job.genotype, seed = job.seed, fidelity = job.fidelity, retry_of = job.id,
                              graph = job.graph }
      end
      for i = 2, #queue do
        running[queue[i].id] = nil
        nrunning = nrunning - 1
        requeue[#requeue + 1] = queue[i]
      end
      start_failures = 0
    elseif not st or not st.k then
      start_failures = start_failures + 1
      lost_detail = why
    end
    if start_failures >= 3 * math.max(1, h.n) then
      error(("search: workers do not start (%s before reaching nas.search; a worker's own error is in %s)"):format(
        lost_detail or why, h.log_dir and (h.log_dir .. "/worker-N.log") or "its log"), 0)
    end
    pool:respawn(w)
  end

  local function dispatch(w, job)
    local st = state[w]
    job.started = now()
    local msg = { t = "trial", id = job.id, genotype = not job.gjson and job.genotype or nil, seed = job.seed,
                  fidelity = job.fidelity, timeout = h.timeout, memory_mb = h.memory_mb }
    if h.observe_since then
      local obs, upto = h.observe_since(st.seen or 0)
      if obs and #obs > 0 then msg.observe = obs end
      st.seen = upto
    end
    st.queue[#st.queue + 1] = job
    ready[w] = #st.queue < depth or nil
    running[job.id] = { job = job, w = w }
    nrunning = nrunning + 1
    h.running_add(job, w)
    local ok, why
    if job.gjson then -- the genotype's JSON as encoded at ask time, spliced in
      local body = json.encode(msg)
      ok, why = pool:send_raw(w, body:sub(1, -2) .. ',"genotype":' .. job.gjson .. "}")
    else
      ok, why = pool:send(w, msg)
    end
    if not ok then
      if pool.kind == "local" then pool:kill(w) end
      lose(w, "worker lost (" .. tostring(why) .. ")")
    end
  end

  local function next_job()
    if #requeue > 0 then return table.remove(requeue, 1) end
    if #retry > 0 then
      local job = table.remove(retry, 1)
      job.id = h.new_id()
      return job
    end
    if not asking then return nil end
    local reason = h.out_of_budget(nrunning)
    if reason then
      asking, stopped = false, reason
      return nil
    end
    if waiting_tell then return nil end
    local job, why = h.ask()
    if not job then
      -- With trials still running, nil means "nothing to ask until a result
      -- comes back" (a grid's last genotypes, a synchronous bracket): wait for
      -- a tell; with none running, the strategy is done.
      if nrunning > 0 and why == "strategy" then
        waiting_tell = true
      else
        asking, stopped = false, why
      end
      return nil
    end
    return job
  end

  local function handle(ev)
    local w = ev.w
    if ev.lost then return lose(w, ev.lost) end
    local msg = ev.msg
    if msg.t == "hello" then
      state[w] = { k = msg.k, host = msg.host, threads = msg.threads, pid = msg.pid, seen = 0, queue = {} }
      if msg.k == k then
        ready[w] = true
      elseif type(msg.k) == "number" and msg.k < k then
        local r = results[msg.k] or { trials = {} }
        pool:send(w, { t = "result", k = msg.k, result = r })
      else
        error(("search: worker %d reached search call %s while the coordinator is at call %d (a script must " ..
               "call nas.search in the same order on every process)"):format(w, tostring(msg.k), k), 0)
      end
    elseif msg.t == "done" then
      local r = running[msg.id]
      local st = state[w]
      if not r or r.w ~= w or not st or st.queue[1] ~= r.job then return end -- settled already (timed out)
      running[msg.id] = nil
      nrunning = nrunning - 1
      table.remove(st.queue, 1)
      if st.queue[1] then st.queue[1].started = now() end -- the trial sent ahead starts now
      ready[w] = #st.queue < depth or nil
      local t = type(msg.trial) == "table" and msg.trial or { status = "failed", reason = "worker sent no trial" }
      t.metrics = type(t.metrics) == "table" and t.metrics or {}
      t.id, t.genotype, t.seed, t.fidelity = msg.id, r.job.genotype, r.job.seed, r.job.fidelity
      t.gjson = r.job.gjson
      t.worker, t.host, t.threads, t.from_worker = w, st.host, st.threads, true
      if r.job.retry_of then t.metrics.retry_of = r.job.retry_of end
      if type(t.seconds) == "number" then note_seconds(t.seconds) end
      h.record(t, r.job.graph)
    else
      error(("search: worker %d sent an unknown message '%s'"):format(w, tostring(msg.t)), 0)
    end
  end

  -- Workers idle in an earlier search leave it now.
  for _, w in ipairs(pool:list()) do
    local st = M.idle[w]
    if st and st.k < k then
      pool:send(w, { t = "result", k = st.k, result = results[st.k] or { trials = {} } })
      M.idle[w] = nil
    end
  end

  local ok, err = pcall(function()
    while true do
      h.begin()
      -- Hand out work to the idle workers, in worker order.
      local idle = {}
      for w, st in pairs(state) do
        if st.k == k and st.queue and #st.queue < depth then ready[w] = true end
      end
      for w in pairs(ready) do idle[#idle + 1] = w end
      table.sort(idle)
      local starved = false
      for _, w in ipairs(idle) do
        while ready[w] and not starved do
          local job
          while true do
            job = next_job()
            if not job then break end
            local t, graph = h.prepare(job)
            if not t then break end
            h.record(t, graph) -- settled without a worker
          end
          if not job then
            starved = true
          else
            dispatch(w, job)
          end
        end
        if starved then break end
      end
      h.prog:running(nrunning)
      h.commit()
      if nrunning == 0 and #retry == 0 and (not asking or waiting_tell) then
        if asking then stopped = "strategy" end
        break
      end
      -- Wait for results (and for the next deadline).
      local wait = 1.0
      if h.timeout then
        local t0 = now()
        for _, r in pairs(running) do
          local st = state[r.w]
          local left = (st and st.queue[1] == r.job) and r.job.started + h.hard_timeout - t0 or wait
          left = left
          if left < wait then wait = math.max(0, left) end
        end
      end
      local events = pool:wait(wait)
      h.begin()
      for _, ev in ipairs(events) do
        handle(ev)
        waiting_tell = false
      end
      if h.timeout then
        local t0 = now()
        for id, r in pairs(running) do
          local st = state[r.w]
          if st and st.queue[1] == r.job and t0 - r.job.started > h.hard_timeout then
            local w = r.w
            local killed = pool:kill(w)
            local why = ("timeout: the trial ran longer than %gs"):format(h.timeout)
            if killed then
              r.job.no_retry = true -- a runaway trial is not run again
              lose(w, why .. " (its worker was stopped)")
            else
              -- MPI: the rank cannot be stopped; its late result is ignored.
              running[id] = nil
              nrunning = nrunning - 1
              table.remove(st.queue, 1)
              if st.queue[1] then st.queue[1].started = t0 end
              h.record({ id = id, genotype = r.job.genotype, seed = r.job.seed, fidelity = r.job.fidelity,
                         status = "failed", reason = why, metrics = {}, started = r.job.started, finished = t0,
                         seconds = t0 - r.job.started, worker = w }, nil)
            end
          end
        end
      end
      -- (the results just handled and the dispatches that follow commit together)
      if require("nas.core").interrupted() then error("interrupted", 0) end
    end
  end)
  -- A turn cut short (an error, a Ctrl-C) is dropped whole: its finished trials
  -- are still in the running table, recorded as lost by a resumed search.
  if ok then h.commit() else h.rollback() end
  -- The workers stay in this search, idle, until a later one starts (or the coordinator ends).
  for w, st in pairs(state) do
    if st.k == k then M.idle[w] = { k = k } end
  end
  if not ok then
    if pool.kind == "local" then pool:shutdown() end
    error(err, 0)
  end
  return stopped
end
M.idle = {}

-- ---- the worker -----------------------------------------------------------------

-- Serves search k on a worker: returns the coordinator's result of search k
-- when it starts a later one; ends the process when the coordinator ends.
--   evaluate(job) -> trial, graph     (nas.search's evaluate-one-genotype step)
--   observe(trial) | nil               (evaluator:observe)
function M.serve(k, evaluate, observe)
  local link = workers_mod.link()
  local core = require "nas.core"
  local function bye()
    os.exit(0, true)
  end
  local ok = link.send({ t = "hello", k = k, pid = core.pid(), host = link.host,
                              threads = core.get_threads() })
  if ok ~= true then bye() end
  while true do
    local msg, err = link.recv()
    if not msg then
      if err == "exit" or err == "closed" then bye() end
      error("worker: " .. tostring(err), 0)
    end
    if msg.t == "trial" then
      if observe and type(msg.observe) == "table" then
        for _, t in ipairs(msg.observe) do observe(t) end
      end
      local t = evaluate(msg)
      local out = { t = "done", id = msg.id,
                    trial = { status = t.status, score = t.score, reason = t.reason, metrics = t.metrics,
                              hash = t.hash, started = t.started, finished = t.finished, seconds = t.seconds } }
      local sent = link.send(out)
      if sent ~= true then bye() end
    elseif msg.t == "result" then
      return msg.result
    else
      error("worker: unknown message " .. tostring(msg.t), 0)
    end
  end
end

M.role = workers_mod.role

return M
