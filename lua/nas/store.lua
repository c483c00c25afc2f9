-- nas.store: the trial store of a search run, an SQLite database at
-- <out>/trials.db (WAL mode, one transaction per finished trial).
--
--   local st = nas.store "runs/fmnist"        -- open (or create) a run's store
--   for _, t in ipairs(st:trials()) do print(t.id, t.status, t.score) end
--   st:close()
--   nas.show "runs/fmnist"                     -- print the trials table
--
-- Tables:
--   run(key TEXT PRIMARY KEY, value TEXT)   the run's fingerprint: space, seed,
--                                           objectives, strategy; created, format
--   trials(id INTEGER PRIMARY KEY, genotype TEXT (JSON), graph TEXT (net:to_json()),
--          hash TEXT, metrics TEXT (JSON), score REAL, status TEXT ('ok'|'failed'|'rejected'),
--          reason TEXT, cached_from INTEGER, started REAL, finished REAL, seconds REAL,
--          seed INTEGER, told INTEGER (the tell order), worker INTEGER, host TEXT, threads INTEGER)
--   running(id INTEGER PRIMARY KEY, genotype TEXT, fidelity TEXT, seed INTEGER, worker INTEGER,
--           started REAL)             trials of a parallel search that are running now: a
--                                     resumed search records those left as lost
--   phases(id INTEGER PRIMARY KEY, kind TEXT, epoch REAL, step INTEGER, loss REAL,
--          data TEXT (JSON), finished REAL)
--                                     what a one-shot search did besides scoring subnets:
--                                     one row per supernet epoch (kind 'epoch'), and its
--                                     outcome (kind 'result'); see docs/strategies.md
-- Only the coordinator of a search writes here (one writer: never "database is
-- locked" under parallel workers); readers (reports, nasrun show) may read a
-- running search's store at any time (WAL).
-- Times are Unix seconds. JSON here keeps Lua's integer/float distinction
-- (a float is always written with a '.' or an exponent), so that a genotype
-- read back is exactly the one the strategy asked for.
local util = require "nas.util"
local json = require "nas.json"

local M = {}

-- The codec of the genotype, metrics and run rows (one codec: nas.json),
-- here too for the callers that read it as nas.store.json.
M.json = json

-- ---- the database ---------------------------------------------------------

local function driver()
  local ok, mod = pcall(require, "luasql.sqlite3")
  if not ok then
    error("the trial store needs LuaSQL for SQLite (apt-get install lua-sql-sqlite3): " .. tostring(mod), 0)
  end
  return mod
end

local env -- one luasql environment per process

local function q(conn, v)
  if v == nil then return "NULL" end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "NULL" end
    return ("%.17g"):format(v)
  end
  if type(v) == "boolean" then return v and "1" or "0" end
  return "'" .. conn:escape(tostring(v)) .. "'"
end

local function exec(conn, sql)
  local r, msg = conn:execute(sql)
  if r == nil then error("trial store: " .. tostring(msg) .. " (in: " .. sql:sub(1, 80) .. ")", 0) end
  return r
end

local function rows(conn, sql)
  local cur = exec(conn, sql)
  local out = {}
  if type(cur) ~= "userdata" then return out end
  while true do
    local row = cur:fetch({}, "a")
    if not row then break end
    out[#out + 1] = row
  end
  cur:close()
  return out
end

local Store = {}
Store.__index = Store

local schema = {
  "CREATE TABLE IF NOT EXISTS run(key TEXT PRIMARY KEY, value TEXT)",
  [[CREATE TABLE IF NOT EXISTS trials(
      id INTEGER PRIMARY KEY,
      genotype TEXT NOT NULL,
      graph TEXT,
      hash TEXT,
      metrics TEXT,
      score REAL,
      status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'rejected')),
      reason TEXT,
      cached_from INTEGER,
      started REAL,
      finished REAL,
      seconds REAL,
      seed INTEGER,
      told INTEGER,
      worker INTEGER,
      host TEXT,
      threads INTEGER)]],
  [[CREATE TABLE IF NOT EXISTS running(
      id INTEGER PRIMARY KEY,
      genotype TEXT NOT NULL,
      fidelity TEXT,
      seed INTEGER,
      worker INTEGER,
      started REAL)]],
  [[CREATE TABLE IF NOT EXISTS phases(
      id INTEGER PRIMARY KEY,
      kind TEXT NOT NULL,
      epoch REAL,
      step INTEGER,
      loss REAL,
      data TEXT,
      finished REAL)]],
}
-- Columns added since the first format: a store written before them gets them on open.
local added_columns = { { "told", "INTEGER" }, { "worker", "INTEGER" }, { "host", "TEXT" }, { "threads", "INTEGER" } }

local function file_exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

function M.mkdir(dir)
  if not os.execute("mkdir -p " .. shell_quote(dir)) then
    error("cannot create the run folder " .. dir, 0)
  end
end

-- SQLite's quick integrity check (pages, not indexes' contents): true when it passes.
local function opts_quick_ok(conn)
  local ok, r = pcall(rows, conn, "PRAGMA quick_check")
  return ok and r[1] and (r[1].quick_check == "ok" or r[1].integrity_check == "ok")
end

-- nas.store(dir [, {create = true}]) -> Store. Opens <dir>/trials.db,
-- creating the folder and the tables unless create = false. readonly = true
-- (implies create = false) opens it for reading only: nothing is written, not
-- even a PRAGMA, so a report can read a store while its search runs.
function M.open(dir, opts)
  if type(dir) ~= "string" or dir == "" then util.argerror(1, "store", "run folder (string) expected", 2) end
  util.check_options(opts, { "create", "readonly" }, 2, "store", 2)
  for _, k in ipairs{ "create", "readonly" } do
    if opts and opts[k] ~= nil and type(opts[k]) ~= "boolean" then
      util.argerror(2, "store", ("field '%s' must be true or false"):format(k), 2)
    end
  end
  local readonly = opts and opts.readonly == true
  local create = not readonly and not (opts and opts.create == false)
  local path = dir .. "/trials.db"
  if not create and not file_exists(path) then error(("no trial store at %s"):format(path), 2) end
  if create then M.mkdir(dir) end
  env = env or driver().sqlite3()
  -- (an SQLite URI: '%', '?' and '#' in the path are percent-encoded)
  local conn, msg = env:connect(readonly and "file:" .. path:gsub("[%%?#]", function(c)
    return ("%%%02X"):format(c:byte())
  end) .. "?mode=ro" or path)
  if not conn then error(("cannot open %s: %s"):format(path, tostring(msg)), 2) end
  local self = setmetatable({ conn = conn, path = path, dir = dir }, Store)
  local ok, err = pcall(function()
    -- PRAGMA journal_mode returns a row: read it so the statement completes.
    rows(conn, "PRAGMA busy_timeout = 10000")
    if not readonly then
      rows(conn, "PRAGMA journal_mode = WAL")
      -- WAL + NORMAL: a commit survives a killed process (kill -9); only a power
      -- cut may lose the last commits, never consistency.
      exec(conn, "PRAGMA synchronous = NORMAL")
    end
    local tables = {}
    for _, r in ipairs(rows(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")) do tables[r.name] = true end
    local ours = { run = true, trials = true, running = true, phases = true }
    for name in pairs(tables) do
      if not ours[name] then
        error(("an SQLite database, but not a trial store (it has a table '%s')"):format(name), 0)
      end
    end
    if tables.trials and not opts_quick_ok(conn) then
      error("the database is damaged (SQLite's integrity check fails)", 0)
    end
    if create then
      -- all tables or none, even if the process is killed meanwhile
      exec(conn, "BEGIN IMMEDIATE")
      for _, sql in ipairs(schema) do exec(conn, sql) end
      exec(conn, "COMMIT")
    end
    local have = {}
    for _, r in ipairs(rows(conn, "PRAGMA table_info(trials)")) do have[r.name] = true end
    if create then
      for _, c in ipairs(added_columns) do
        if not have[c[1]] then
          exec(conn, ("ALTER TABLE trials ADD COLUMN %s %s"):format(c[1], c[2]))
          have[c[1]] = true
        end
      end
    end
    self.columns = have
  end)
  if not ok then
    conn:close()
    local why = tostring(err):gsub("^trial store: LuaSQL: ", ""):gsub(" %(in: .*%)$", "")
    if why:find("not a database", 1, true) or why:find("malformed", 1, true) then
      why = why .. ": the file is damaged or is not a trial store"
    end
    error(("cannot use %s: %s. It was left as it is: move it away to start afresh, or use another run " ..
           "folder"):format(path, why), 2)
  end
  -- nrunning > 0: running rows may exist (counted at open, raised by running_add,
  -- never lowered), so a trial's insert also deletes its running row.
  local okr, nr = pcall(rows, conn, "SELECT COUNT(*) AS n FROM running")
  self.nrunning = okr and math.tointeger(nr[1].n) or 0
  return self
end

function Store:close()
  if self.conn and self.in_batch then self:commit() end
  if self.conn then
    self.conn:close()
    self.conn = nil
  end
end
Store.__close = Store.close
Store.__gc = Store.close

-- The run table as key -> value.
function Store:run_info()
  local out = {}
  for _, r in ipairs(rows(self.conn, "SELECT key, value FROM run")) do out[r.key] = r.value end
  return out
end

-- Records the fingerprint of a search, or checks it against the one stored:
-- returns true, or nil and the first difference.
function Store:fingerprint(fp)
  local have = self:run_info()
  local keys = {}
  for k in pairs(fp) do keys[#keys + 1] = k end
  table.sort(keys)
  if have.format == nil then
    exec(self.conn, "BEGIN IMMEDIATE")
    local ok, err = pcall(function()
      exec(self.conn, "INSERT OR REPLACE INTO run(key, value) VALUES ('format', '1')")
      exec(self.conn, ("INSERT OR REPLACE INTO run(key, value) VALUES ('created', %s)"):format(q(self.conn, os.time())))
      for _, k in ipairs(keys) do
        exec(self.conn, ("INSERT OR REPLACE INTO run(key, value) VALUES (%s, %s)"):format(q(self.conn, k),
                                                                                   q(self.conn, fp[k])))
      end
    end)
    if not ok then
      self.conn:execute("ROLLBACK")
      error(err, 0)
    end
    exec(self.conn, "COMMIT")
    return true
  end
  for _, k in ipairs(keys) do
    if have[k] ~= tostring(fp[k]) then
      return nil, ("%s: stored %s, this search has %s"):format(k, tostring(have[k]), tostring(fp[k]))
    end
  end
  return true
end

-- A column's JSON object, or default when the column is empty, is not JSON or
-- holds something else than an object (a damaged row: `5` as metrics).
-- Sets keys of the run table that describe a run without identifying it
-- (script, budget, workers, versions: the report's header), one transaction.
function Store:set_run(kv)
  local keys = {}
  for k in pairs(kv) do keys[#keys + 1] = k end
  table.sort(keys)
  exec(self.conn, "BEGIN IMMEDIATE")
  local ok, err = pcall(function()
    for _, k in ipairs(keys) do
      exec(self.conn, ("INSERT OR REPLACE INTO run(key, value) VALUES (%s, %s)"):format(q(self.conn, k),
                                                                                 q(self.conn, tostring(kv[k]))))
    end
  end)
  if not ok then
    self.conn:execute("ROLLBACK")
    error(err, 0)
  end
  exec(self.conn, "COMMIT")
end

local function decode_or(s, default)
  if s == nil then return default end
  local ok, v = pcall(json.decode, s)
  if ok and type(v) == "table" then return v end
  return default
end

local function row_to_trial(r)
  return {
    id = math.tointeger(r.id),
    genotype = decode_or(r.genotype, {}),
    graph = r.graph,
    hash = r.hash,
    metrics = decode_or(r.metrics, {}) or {},
    score = r.score,
    status = r.status,
    reason = r.reason,
    cached_from = r.cached_from and math.tointeger(r.cached_from) or nil,
    started = r.started,
    finished = r.finished,
    seconds = r.seconds,
    seed = r.seed and math.tointeger(r.seed) or nil,
    told = r.told and math.tointeger(r.told) or nil,
    worker = r.worker and math.tointeger(r.worker) or nil,
    host = r.host,
    threads = r.threads and math.tointeger(r.threads) or nil,
  }
end

-- All finished trials, by id (opts.order = "told": in the order they were
-- told to the strategy). opts.graph = false leaves the graph JSON out.
function Store:trials(opts)
  util.check_options(opts, { "order", "graph" }, 1, "trials", 2)
  if opts and opts.order ~= nil and opts.order ~= "told" and opts.order ~= "id" then
    util.argerror(1, "trials", "field 'order' must be \"id\" or \"told\"", 2)
  end
  if opts and opts.graph ~= nil and type(opts.graph) ~= "boolean" then
    util.argerror(1, "trials", "field 'graph' must be true or false", 2)
  end
  local cols = "id, genotype, hash, metrics, score, status, reason, cached_from, started, finished, seconds, seed"
  for _, c in ipairs(added_columns) do
    if self.columns[c[1]] then cols = cols .. ", " .. c[1] end
  end
  if not (opts and opts.graph == false) then cols = cols .. ", graph" end
  local order = "id"
  if opts and opts.order == "told" and self.columns.told then order = "COALESCE(told, id), id" end
  local out, by_id = {}, {}
  for _, r in ipairs(rows(self.conn, "SELECT " .. cols .. " FROM trials ORDER BY " .. order)) do
    local t = row_to_trial(r)
    out[#out + 1] = t
    by_id[t.id] = t
  end
  -- Repeats stored light take their original's metrics (their own fidelity kept) and graph.
  for _, t in ipairs(out) do
    local o = t.cached_from and by_id[t.cached_from]
    if o then
      local m = {}
      for k, v in pairs(o.metrics) do m[k] = v end
      m.fidelity, m.retry_of = nil, nil
      for k, v in pairs(t.metrics) do m[k] = v end
      t.metrics = m
      if t.graph == nil then t.graph = o.graph end
    end
  end
  return out
end

-- The graph JSON of trial `id` (a repeat's: its original's), or nil.
function Store:graph(id)
  local r = rows(self.conn, "SELECT graph, cached_from FROM trials WHERE id = " .. q(self.conn, math.tointeger(id)))[1]
  if r and r.graph == nil and r.cached_from then return self:graph(math.tointeger(r.cached_from)) end
  return r and r.graph
end

function Store:count()
  local r = rows(self.conn, "SELECT COUNT(*) AS n FROM trials")
  return math.tointeger(r[1].n) or 0
end

-- One finished trial, in one transaction. `graph` is the net's JSON (or nil).
-- genotype_json / metrics_json: the JSON of t.genotype / t.metrics when the
-- caller has it already (nas.search does), so that it is not encoded twice.
-- A single INSERT outside BEGIN...COMMIT is its own (autocommit) transaction:
-- the row is either all there or not at all, with one statement instead of three.
-- A trial of a parallel search that was running leaves the running table in
-- the same transaction.
function Store:insert(t, graph, genotype_json, metrics_json)
  local c = self.conn
  local sql = ("INSERT INTO trials(id, genotype, graph, hash, metrics, score, status, reason, cached_from, " ..
               "started, finished, seconds, seed, told, worker, host, threads) VALUES (%s, %s, %s, %s, %s, %s, %s, " ..
               "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"):format(
    q(c, t.id), q(c, genotype_json or json.encode(t.genotype)), q(c, graph), q(c, t.hash and tostring(t.hash)),
    q(c, metrics_json or json.encode(t.metrics or {})), q(c, t.score), q(c, t.status), q(c, t.reason),
    q(c, t.cached_from), q(c, t.started), q(c, t.finished), q(c, t.seconds), q(c, t.seed), q(c, t.told),
    q(c, t.worker), q(c, t.host), q(c, t.threads))
  if self.nrunning and self.nrunning > 0 and self.in_batch then
    exec(c, sql)
    exec(c, "DELETE FROM running WHERE id = " .. q(c, t.id))
    return
  end
  if self.nrunning and self.nrunning > 0 then
    exec(c, "BEGIN IMMEDIATE")
    local ok, err = pcall(function()
      exec(c, sql)
      exec(c, "DELETE FROM running WHERE id = " .. q(c, t.id))
    end)
    if not ok then
      c:execute("ROLLBACK")
      error(err, 0)
    end
    exec(c, "COMMIT")
    return
  end
  exec(c, sql)
end

-- A repeat (a trial whose graph was evaluated before, t.cached_from): a light
-- row without graph and metrics (only its own fidelity and retry_of, if any); reading it
-- back takes them from the original.
function Store:insert_repeat(t, genotype_json)
  local own = nil
  local m = type(t.metrics) == "table" and t.metrics or {}
  if m.fidelity ~= nil or m.retry_of ~= nil then own = json.encode({ fidelity = m.fidelity, retry_of = m.retry_of }) end
  local row = { id = t.id, hash = t.hash, score = t.score, status = t.status, reason = t.reason,
                cached_from = t.cached_from, started = t.started, finished = t.finished, seconds = t.seconds,
                seed = t.seed, told = t.told, worker = t.worker, host = t.host, threads = t.threads,
                genotype = t.genotype }
  self:insert(row, nil, genotype_json, own or "null")
end

-- Groups the writes that follow into one transaction, up to store:commit()
-- (a parallel search's coordinator commits once per turn of its loop: one
-- commit for the trials that finished and started together). Everything in a
-- batch is stored, or nothing is.
function Store:begin()
  if self.in_batch then return end
  exec(self.conn, "BEGIN IMMEDIATE")
  self.in_batch = true
end

function Store:commit()
  if not self.in_batch then return end
  self.in_batch = false
  exec(self.conn, "COMMIT")
end

-- Drops the writes since store:begin() (a turn cut short by an error or a
-- Ctrl-C: half a turn would leave a trial both stored and running).
function Store:rollback()
  if not self.in_batch then return end
  self.in_batch = false
  self.conn:execute("ROLLBACK")
end

-- The in-flight trials of a parallel search (job = { id, genotype, fidelity, seed, started }).
function Store:running_add(job, worker)
  local c = self.conn
  exec(c, ("INSERT OR REPLACE INTO running(id, genotype, fidelity, seed, worker, started) VALUES " ..
           "(%s, %s, %s, %s, %s, %s)"):format(q(c, job.id), q(c, job.gjson or json.encode(job.genotype)),
           q(c, job.fidelity ~= nil and json.encode(job.fidelity) or nil), q(c, job.seed), q(c, worker),
           q(c, job.started)))
  self.nrunning = (self.nrunning or 0) + 1
end

-- The trials left in the running table (by id): those of a stopped parallel search.
function Store:running()
  local out = {}
  local ok, list = pcall(rows, self.conn,
                         "SELECT id, genotype, fidelity, seed, worker, started FROM running ORDER BY id")
  if not ok then return out end
  for _, r in ipairs(list) do
    out[#out + 1] = { id = math.tointeger(r.id), genotype = decode_or(r.genotype, {}),
                      fidelity = r.fidelity and decode_or(r.fidelity, nil) or nil,
                      seed = r.seed and math.tointeger(r.seed) or nil,
                      worker = r.worker and math.tointeger(r.worker) or nil, started = r.started }
  end
  return out
end

-- A row of the phases table (one-shot searches): kind, and data with
-- optional epoch, step and loss (also kept in their own columns) and the rest.
function Store:phase_add(kind, data)
  local c = self.conn
  data = data or {}
  exec(c, ("INSERT INTO phases(kind, epoch, step, loss, data, finished) VALUES (%s, %s, %s, %s, %s, %s)"):format(
    q(c, kind), q(c, data.epoch), q(c, data.step), q(c, data.loss), q(c, json.encode(data)), q(c, os.time())))
end

-- The phases rows in order: { id, kind, data (decoded), finished }; none in a
-- store written before the table existed.
function Store:phases()
  local out = {}
  local ok, list = pcall(rows, self.conn, "SELECT id, kind, data, finished FROM phases ORDER BY id")
  if not ok then return out end
  for _, r in ipairs(list) do
    out[#out + 1] = { id = math.tointeger(r.id), kind = r.kind, data = decode_or(r.data, {}) or {},
                      finished = r.finished }
  end
  return out
end

-- ---- nas.show(dir): the trials table ----------------------------------------

local function cell(v, f)
  if v == nil then return "-" end
  if type(v) == "number" then
    if f == "int" then return ("%d"):format(math.floor(v + 0.5)) end
    return (f or "%.4f"):format(v)
  end
  return tostring(v)
end

-- Parses the stored objectives description back ("maximize accuracy, minimize latency_ms").
local function parse_objectives(desc)
  if not desc or desc == "function" then return nil end
  local obj = require "nas.objectives"
  local list = {}
  for sense, metric in desc:gmatch("(%a+) ([^,]+)") do
    list[#list + 1] = sense == "maximize" and obj.maximize(metric) or obj.minimize(metric)
  end
  return #list > 0 and list or nil
end
-- The pieces of the table below, for nasrun's inspection subcommands (nas.inspect).
M.cell, M.parse_objectives = cell, parse_objectives

-- nas.show(dir [, {out = file, limit = n}]): prints the run's trials table,
-- the best trial and the Pareto front; returns the trials.
function M.show(dir, opts)
  util.check_options(opts, { "out", "limit" }, 2, "show", 2)
  if type(dir) ~= "string" or dir == "" then util.argerror(1, "show", "run folder (string) expected", 2) end
  opts = opts or {}
  if opts.limit ~= nil and (math.type(opts.limit) ~= "integer" or opts.limit < 1) then
    util.argerror(2, "show", "field 'limit' must be an integer >= 1", 2)
  end
  local out = opts.out or io.stdout
  local st = M.open(dir, { create = false })
  local info = st:run_info()
  local trials = st:trials({ graph = false })
  st:close()
  local objs = parse_objectives(info.objectives)
  local front = {}
  local ok_trials = {}
  for _, t in ipairs(trials) do
    if t.status == "ok" and not t.cached_from then ok_trials[#ok_trials + 1] = t end
  end
  if objs then
    for _, t in ipairs(require("nas.objectives").pareto_front(ok_trials, objs)) do front[t.id] = true end
  end
  local best
  for _, t in ipairs(ok_trials) do
    if t.score and (not best or t.score > best.score) then best = t end
  end
  local counts = { ok = 0, failed = 0, rejected = 0 }
  for _, t in ipairs(trials) do counts[t.status] = (counts[t.status] or 0) + 1 end
  out:write(("run %s: space %s, seed %s, objectives: %s\n"):format(dir, info.space or "?", info.seed or "?",
                                                                  info.objectives or "?"))
  out:write(("%d trials: %d ok, %d failed, %d rejected\n"):format(#trials, counts.ok, counts.failed, counts.rejected))
  local fmt = "%5s %-8s %1s %9s %8s %8s %9s %9s %9s %8s  %s\n"
  out:write(fmt:format("id", "status", "P", "score", "accuracy", "loss", "params", "MMACs", "lat_ms", "secs", "note"))
  local first = 1
  if opts.limit and #trials > opts.limit then first = #trials - opts.limit + 1 end
  for i = first, #trials do
    local t = trials[i]
    local m = t.metrics
    local note = t.reason or ""
    if t.cached_from then note = ("same graph as #%d"):format(t.cached_from) end
    if best and t.id == best.id then note = "best " .. note end
    out:write(fmt:format(t.id, t.status, front[t.id] and "*" or "", cell(t.score), cell(m.accuracy), cell(m.loss),
                         cell(m.params, "int"), cell(m.flops and m.flops / 1e6, "%.2f"), cell(m.latency_ms, "%.3f"),
                         cell(t.seconds, "%.1f"), note))
  end
  if best then
    out:write(("best: #%d score %.4f (accuracy %s, params %s)\n"):format(best.id, best.score,
              cell(best.metrics.accuracy), cell(best.metrics.params, "int")))
  end
  if objs then
    local ids = {}
    for _, t in ipairs(ok_trials) do if front[t.id] then ids[#ids + 1] = "#" .. t.id end end
    out:write(("pareto front (%s): %s\n"):format(info.objectives, table.concat(ids, " ")))
  end
  return trials
end

return M
