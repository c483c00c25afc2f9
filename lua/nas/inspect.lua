-- nas.inspect: nasrun's subcommands that read a run folder, and re-scoring.
--
--   nasrun show    RUN                       header, counts, wall time, the 5 best trials
--   nasrun trials  RUN [--status ok|failed|rejected] [--sort METRIC [--asc|--desc]] [--top K]
--                      [--csv|--json]
--   nasrun best    RUN [--json]              the best trial: genotype, metrics, graph JSON
--   nasrun rescore RUN fitness.lua [--top K] [--report FILE]
--
--   local ranked, info = nas.rescore("runs/fmnist", function(m) return m.accuracy - 1e-6 * m.params end)
--
-- Everything here reads the store (nas.store) and writes nothing to it. The
-- best trial is the one nas.search calls best: among the ok trials that are not
-- repeats, the one at the largest fidelity (multi-fidelity runs), then the
-- highest score. See docs/cli.md.
local util = require "nas.util"
local json = require "nas.json"
local store_mod = require "nas.store"
local objectives = require "nas.objectives"
local constraints = require "nas.constraints"

local M = {}

local cell = store_mod.cell

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

-- A message without the "file:line: " of the Lua code that raised it, nor
-- the store's SQL context.
local function bare(msg)
  return (tostring(msg):gsub("^[^:\n]+:%d+: ", ""):gsub("^trial store: LuaSQL: ", ""):gsub(" %(in: .*%)$", ""))
end

-- ---- reading a run ----------------------------------------------------------

-- The run folder `dir`, its run table and its trials; a usage error (exit 2)
-- for a missing folder, a folder without a store, or a store that cannot be read.
local function load_run(cli, dir, graphs)
  dir = cli.run_dir(dir)
  local ok, st = pcall(store_mod.open, dir, { readonly = true })
  if not ok then cli.usage_error(bare(st)) end
  local okr, info, trials, running = pcall(function()
    return st:run_info(), st:trials{ graph = graphs }, st:running()
  end)
  st:close()
  if not okr then
    cli.usage_error(("%s/trials.db cannot be read as a trial store (%s)"):format(dir, bare(info)))
  end
  return dir, info, trials, running
end

-- The order of a run's best trials: nas.fidelity's rule (the one nas.search uses).
local ranks_before = require("nas.fidelity").ranks_before
M.ranks_before = ranks_before

-- The ok trials that are not repeats, best first.
local function ranked(trials)
  local out = {}
  for _, t in ipairs(trials) do
    if t.status == "ok" and not t.cached_from and finite(t.score) then out[#out + 1] = t end
  end
  table.sort(out, ranks_before)
  return out
end

-- The run's objectives (a list of nas.maximize/minimize) and the ids of the
-- Pareto front of its ok trials, or nil when the run has a fitness function.
local function front_of(info, trials)
  local list = store_mod.parse_objectives(info.objectives)
  if not list then return nil, nil end
  local ok_trials = {}
  for _, t in ipairs(trials) do
    if t.status == "ok" and not t.cached_from then ok_trials[#ok_trials + 1] = t end
  end
  local ids = {}
  for _, t in ipairs(objectives.pareto_front(ok_trials, list)) do ids[#ids + 1] = t.id end
  return list, ids
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

-- Numbers as text that reads back as the same number.
local function num(v)
  if math.type(v) == "integer" then return tostring(v) end
  if not finite(v) then return "" end
  local s = ("%.15g"):format(v)
  if tonumber(s) ~= v then s = ("%.17g"):format(v) end
  return s
end

local function date(created)
  local t = tonumber(created)
  if not t then return "?" end
  return os.date("%Y-%m-%d %H:%M:%S", math.floor(t))
end

local function note_of(t, best)
  local note = t.reason or ""
  if t.cached_from then note = ("same graph as #%d"):format(t.cached_from) end
  if best and t.id == best.id then note = note == "" and "best" or "best " .. note end
  return note
end

-- ---- the trials table (text) ------------------------------------------------

local COLS = {
  { "accuracy", "%8s", function(m) return cell(m.accuracy) end },
  { "loss", "%8s", function(m) return cell(m.loss) end },
  { "params", "%9s", function(m) return cell(m.params, "int") end },
  { "MMACs", "%9s", function(m) return cell(m.flops and m.flops / 1e6, "%.2f") end },
  { "lat_ms", "%9s", function(m) return cell(m.latency_ms, "%.3f") end },
}
local SHOWN = { accuracy = true, loss = true, params = true, flops = true, latency_ms = true, score = true,
                id = true, seconds = true }

-- Writes the table of `rows` (trials); extra: a metric name shown as one more column.
local function write_table(out, rows, front, best, extra, rank)
  local head = { ("%5s"):format("id"), ("%-8s"):format("status"), "P", ("%9s"):format("score") }
  if rank then table.insert(head, 1, ("%4s"):format("rank")) end
  for _, c in ipairs(COLS) do head[#head + 1] = c[2]:format(c[1]) end
  if extra then head[#head + 1] = ("%12s"):format(extra) end
  head[#head + 1] = ("%8s  %s"):format("secs", "note")
  out:write(table.concat(head, " "), "\n")
  for i, t in ipairs(rows) do
    local m = t.metrics
    local line = { ("%5d"):format(t.id), ("%-8s"):format(t.status), front[t.id] and "*" or " ",
                   ("%9s"):format(cell(t.score)) }
    if rank then table.insert(line, 1, ("%4d"):format(i)) end
    for _, c in ipairs(COLS) do line[#line + 1] = c[2]:format(c[3](m)) end
    if extra then line[#line + 1] = ("%12s"):format(cell(m[extra], math.type(m[extra]) == "integer" and "int")) end
    line[#line + 1] = ("%8s  %s"):format(cell(t.seconds, "%.1f"), note_of(t, best))
    out:write((table.concat(line, " "):gsub("%s+$", "")), "\n")
  end
end

-- ---- nasrun show --------------------------------------------------------------

local function show(cli, args, out)
  local _, pos = cli.parse(args, {})
  if #pos > 1 then cli.usage_error(("unexpected argument '%s' (usage: nasrun show RUN)"):format(pos[2])) end
  local dir, info, trials, running = load_run(cli, pos[1], false)
  out:write(("run %s\n"):format(dir))
  out:write(("  space %s, strategy %s, seed %s\n"):format(info.space or "?", info.strategy or "?", info.seed or "?"))
  out:write(("  objectives: %s\n"):format(info.objectives or "?"))
  out:write(("  created %s\n"):format(date(info.created)))
  local counts = { ok = 0, failed = 0, rejected = 0 }
  local repeats, first, last, summed = 0, nil, nil, 0
  for _, t in ipairs(trials) do
    counts[t.status] = (counts[t.status] or 0) + 1
    if t.cached_from then repeats = repeats + 1 end
    if finite(t.started) and (not first or t.started < first) then first = t.started end
    if finite(t.finished) and (not last or t.finished > last) then last = t.finished end
    summed = summed + (finite(t.seconds) and t.seconds or 0)
  end
  out:write(("%d trials: %d ok, %d failed, %d rejected (%d repeats of a graph seen before)\n"):format(
    #trials, counts.ok, counts.failed, counts.rejected, repeats))
  if #running > 0 then out:write(("%d trials running now\n"):format(#running)) end
  if first and last then
    out:write(("wall time %.1f s (first trial's start to last trial's end), trials' own time %.1f s\n"):format(
      last - first, summed))
  end
  local list, front = front_of(info, trials)
  local best = ranked(trials)
  if #best == 0 then
    out:write("no ok trial yet\n")
    return 0
  end
  out:write(("best trials (%d of %d ok):\n"):format(math.min(5, #best), #best))
  local top = {}
  for i = 1, math.min(5, #best) do top[i] = best[i] end
  write_table(out, top, set_of(front), best[1], nil, true)
  for i, t in ipairs(top) do out:write(("%4d #%d genotype %s\n"):format(i, t.id, json.encode(t.genotype))) end
  if list and #list > 1 then
    local ids = {}
    for _, id in ipairs(front) do ids[#ids + 1] = "#" .. id end
    out:write(("pareto front (%s): %s\n"):format(info.objectives, table.concat(ids, " ")))
  end
  return 0
end

-- ---- nasrun trials --------------------------------------------------------------

local STATUSES = { ok = true, failed = true, rejected = true }

-- The numeric value of `key` for a trial: score, id, seconds or a metric.
local function value_of(t, key)
  local v
  if key == "score" or key == "id" or key == "seconds" then v = t[key] else v = t.metrics[key] end
  return finite(v) and v or nil
end

-- Whether higher is better for `key`: score and accuracies yes, an objective
-- as its sense says, anything else (loss, params, latency, seconds, id) no.
local function descending(key, list)
  if key == "score" then return true end
  for _, o in ipairs(list or {}) do
    if o.metric == key then return o.sense == "max" end
  end
  return key:find("accuracy", 1, true) ~= nil
end

local function csv_field(s)
  s = tostring(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function scalar(v)
  if type(v) == "number" then return num(v) end
  if type(v) == "boolean" then return v and "true" or "false" end
  if v == nil then return "" end
  return tostring(v)
end

local function write_csv(out, rows)
  local names, seen = {}, {}
  for _, t in ipairs(rows) do
    for k, v in pairs(t.metrics) do
      if type(k) == "string" and type(v) ~= "table" and not seen[k] then
        seen[k] = true
        names[#names + 1] = k
      end
    end
  end
  table.sort(names)
  local head = { "id", "status", "score", "reason", "cached_from", "seconds", "genotype" }
  for _, k in ipairs(names) do head[#head + 1] = k end
  local lines = {}
  for i, h in ipairs(head) do lines[i] = csv_field(h) end
  out:write(table.concat(lines, ","), "\r\n")
  for _, t in ipairs(rows) do
    local f = { scalar(t.id), t.status, scalar(t.score), scalar(t.reason), scalar(t.cached_from), scalar(t.seconds),
                json.encode(t.genotype) }
    for _, k in ipairs(names) do f[#f + 1] = scalar(t.metrics[k]) end
    for i, v in ipairs(f) do f[i] = csv_field(v) end
    out:write(table.concat(f, ","), "\r\n")
  end
end

local TRIAL_FIELDS = { "id", "status", "score", "reason", "cached_from", "seconds", "started", "finished", "seed",
                       "hash", "genotype", "metrics", "told", "worker", "host", "threads" }

local function plain(t)
  local p = {}
  for _, k in ipairs(TRIAL_FIELDS) do p[k] = t[k] end
  return p
end

local function json_array(list)
  if #list == 0 then return "[]" end
  return json.encode(list)
end

local function trials_cmd(cli, args, out)
  local o, pos = cli.parse(args, { status = "value", sort = "value", top = "value", csv = "bool", json = "bool",
                                   asc = "bool", desc = "bool" })
  if #pos > 1 then cli.usage_error(("unexpected argument '%s'"):format(pos[2])) end
  if o.status and not STATUSES[o.status] then
    cli.usage_error(("--status must be ok, failed or rejected, got '%s'"):format(o.status))
  end
  local top
  if o.top then
    top = math.tointeger(tonumber(o.top))
    if not top or top < 1 then cli.usage_error(("--top must be a whole number >= 1, got '%s'"):format(o.top)) end
  end
  if o.csv and o.json then cli.usage_error("give --csv or --json, not both") end
  if o.asc and o.desc then cli.usage_error("give --asc or --desc, not both") end
  if (o.asc or o.desc) and not o.sort then cli.usage_error("--asc and --desc go with --sort METRIC") end
  local dir, info, trials = load_run(cli, pos[1], false)
  local list, front = front_of(info, trials)
  if o.sort then
    local known = { score = true, id = true, seconds = true }
    for _, t in ipairs(trials) do
      for k, v in pairs(t.metrics) do if type(k) == "string" and type(v) == "number" then known[k] = true end end
    end
    if not known[o.sort] then
      local names = {}
      for k in pairs(known) do names[#names + 1] = k end
      table.sort(names)
      cli.usage_error(("unknown metric '%s' for --sort (the trials of %s have: %s)"):format(o.sort, dir,
                      table.concat(names, ", ")))
    end
  end
  local rows = {}
  for _, t in ipairs(trials) do
    if not o.status or t.status == o.status then rows[#rows + 1] = t end
  end
  local desc
  if o.sort then
    desc = descending(o.sort, list)
    if o.asc then desc = false elseif o.desc then desc = true end
    local key = o.sort
    table.sort(rows, function(a, b)
      local va, vb = value_of(a, key), value_of(b, key)
      if va == nil or vb == nil then
        if va ~= nil then return true end
        if vb ~= nil then return false end
        return a.id < b.id
      end
      if va ~= vb then
        if desc then return va > vb end
        return va < vb
      end
      return a.id < b.id
    end)
  end
  if top and #rows > top then
    for i = #rows, top + 1, -1 do rows[i] = nil end
  end
  if o.json then
    local arr = {}
    for i, t in ipairs(rows) do arr[i] = plain(t) end
    out:write(json_array(arr), "\n")
  elseif o.csv then
    write_csv(out, rows)
  else
    if o.sort then
      out:write(("sorted by %s, %s (%s)\n"):format(o.sort, desc and "descending" or "ascending",
        (o.asc or o.desc) and "as asked" or "best first; --asc or --desc to choose"))
    end
    write_table(out, rows, set_of(front), ranked(trials)[1], o.sort and not SHOWN[o.sort] and o.sort or nil)
    if #rows == 0 then out:write("(no trials)\n") end
  end
  return 0
end

-- ---- nasrun best ----------------------------------------------------------------

local function best_cmd(cli, args, out)
  local o, pos = cli.parse(args, { json = "bool" })
  if #pos > 1 then cli.usage_error(("unexpected argument '%s' (usage: nasrun best RUN [--json])"):format(pos[2])) end
  local dir, info, trials = load_run(cli, pos[1], true)
  local best = ranked(trials)[1]
  if not best then error(("%s has no ok trial yet"):format(dir), 0) end
  local list, front = front_of(info, trials)
  local multi = list and #list > 1
  if o.json then
    local r = plain(best)
    r.graph = best.graph and json.decode(best.graph) or nil
    r.objectives = info.objectives
    if multi then r.pareto = front end
    local s = json.encode(r)
    if multi and #front == 0 then s = s:gsub('"pareto":{}', '"pareto":[]') end
    out:write(s, "\n")
    return 0
  end
  out:write(("best trial of %s: #%d, score %s (objectives: %s)\n"):format(dir, best.id, cell(best.score),
                                                                        info.objectives or "?"))
  out:write(("genotype %s\n"):format(json.encode(best.genotype)))
  out:write("metrics:\n")
  local keys = {}
  for k in pairs(best.metrics) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = best.metrics[k]
    out:write(("  %-16s %s\n"):format(k, type(v) == "table" and json.encode(v) or scalar(v)))
  end
  if multi then
    local ids = {}
    for _, id in ipairs(front) do ids[#ids + 1] = "#" .. id end
    out:write(("pareto front (%s): %s\n"):format(info.objectives, table.concat(ids, " ")))
  end
  out:write(("graph %s\n"):format(best.graph or "(not stored)"))
  return 0
end

-- ---- re-scoring -----------------------------------------------------------------

-- Metrics measured from the graph alone, without training (name -> function(net, batch, runs)).
local function latency_of(net, batch, runs)
  local model = require("nas.model").new(net, { seed = 0 })
  local ok, r = pcall(model.latency, model, { batch = batch, runs = runs, warmup = 2 })
  model:release()
  if not ok then error(r, 0) end
  return r.median_ms
end
local MEASURE = {
  params = function(net) return net:params() end,
  flops = function(net) return net:flops() end,
  macs = function(net) return net:flops() end,
  layers = function(net) return net:layers() end,
  activations = function(net) return net:activations() end,
  memory_mb = function(net, batch) return net:memory_mb(batch) end,
  latency_ms = latency_of,
}
-- Those that also come at another batch size: name@bs=N.
local BATCHED = { memory_mb = true, latency_ms = true }
M.measurable = "params, flops, macs, layers, activations, memory_mb[@bs=N], latency_ms[@bs=N]"

-- Optional flags that nas.train writes only when they apply: absent reads as nil.
local OPTIONAL = { stopped_early = true, checkpoint_missing = true, continued_from = true, epochs_total = true,
                   retry_of = true, fidelity = true }

-- name -> measuring function and batch size, or nil.
local function measurable(name)
  local base, bs = name:match("^([%a_]+)@bs=(%d+)$")
  if base then
    bs = math.tointeger(tonumber(bs))
    if BATCHED[base] and bs and bs >= 1 then return MEASURE[base], bs end
    return nil
  end
  if MEASURE[name] then return MEASURE[name], 1 end
  return nil
end

local MEASURE_FAILED = {}

-- The fitness spec: a function, or { fitness =, constraints =, objectives = }.
-- Errors are raised at `level` as "bad argument #2 to 'rescore' (...)".
local function normalize(spec, level)
  level = level + 1
  local function bad(msg) util.argerror(2, "rescore", msg, level + 1) end
  if type(spec) == "function" then return { fitness = spec, cons = constraints.normalize(nil) } end
  if type(spec) ~= "table" then
    bad("a fitness function(metrics, trial) or a table { fitness =, constraints =, objectives = } expected, got "
        .. type(spec))
  end
  for k in pairs(spec) do
    if k ~= "fitness" and k ~= "constraints" and k ~= "objectives" then
      bad(("unknown field '%s' (allowed: constraints, fitness, objectives)"):format(tostring(k)))
    end
  end
  if spec.fitness ~= nil and type(spec.fitness) ~= "function" then
    bad("field 'fitness' must be a function(metrics, trial) -> score | nil, reason")
  end
  if spec.fitness == nil and spec.objectives == nil then bad("a 'fitness' function or 'objectives' is needed") end
  if type(spec.objectives) == "function" then bad("field 'objectives' must be a list of nas.maximize/nas.minimize " ..
                                                  "(give a function as 'fitness')") end
  -- nas.search's checks, named for rescore
  local function search_check(f, v)
    local ok, r = pcall(f, v, 1)
    if not ok then bad(tostring(r):gsub("^bad argument #1 to 'search' %((.*)%)$", "%1"):gsub("^[^:\n]+:%d+: ", "")) end
    return r
  end
  local out = { fitness = spec.fitness, cons = search_check(constraints.normalize, spec.constraints) }
  if spec.objectives ~= nil then out.objectives = search_check(objectives.normalize, spec.objectives).list end
  return out
end

-- The trials of a run folder or an open store.
local function trials_of(src, level)
  level = level + 1
  if type(src) == "string" and src ~= "" then
    local ok, st = pcall(store_mod.open, src, { readonly = true })
    if not ok then error(bare(st), level) end
    local okr, trials = pcall(st.trials, st)
    st:close()
    if not okr then error(("%s/trials.db cannot be read as a trial store (%s)"):format(src, bare(trials)), level) end
    return trials, src
  end
  if type(src) == "table" and type(src.trials) == "function" then return src:trials(), src.dir end
  util.argerror(1, "rescore", "run folder (string) or store (nas.store) expected, got " .. type(src), level)
end

-- nas.rescore(run, fitness [, { latency_runs = 10 }]) -> ranked, info
-- Re-scores every stored ok trial (repeats of a graph left out) under
-- `fitness` without training: see docs/cli.md. ranked: the trials (as
-- store:trials() gives them) with the new score, status, reason, and rank /
-- old_rank / old_score; the ok ones best first, then the rejected and failed.
-- info = { pareto = {ids} (with objectives), measured = { name -> {count =, seconds =} },
--          objectives = list or nil, counts = { ok =, rejected =, failed = } }.
function M.rescore(src, fitness, opts)
  util.check_options(opts, { "latency_runs" }, 3, "rescore", 2)
  local runs = opts and opts.latency_runs or 10
  if math.type(runs) ~= "integer" or runs < 1 then
    util.argerror(3, "rescore", "field 'latency_runs' must be an integer >= 1", 2)
  end
  local spec = normalize(fitness, 2)
  local trials = trials_of(src, 2)
  local Trial = require("nas.search").Trial
  local now = require("nas.core").now
  local vocabulary = {}
  for _, t in ipairs(trials) do
    for k in pairs(t.metrics) do vocabulary[k] = true end
  end
  for _, o in ipairs(spec.objectives or {}) do
    if not vocabulary[o.metric] and not measurable(o.metric) then
      error(("objective '%s': the metric is not in this run's store and cannot be measured without training: it " ..
             "needs retraining (rescore measures only %s)"):format(o.metric, M.measurable), 2)
    end
  end
  local old = ranked(trials)
  local old_rank = {}
  for i, t in ipairs(old) do old_rank[t.id] = i end
  local measured, by_hash = {}, {} -- name -> {count, seconds}; hash -> name -> value
  local nets = {}

  local function net_of(t)
    if not nets[t] then nets[t] = require("nas.net").from_json(t.graph) end
    return nets[t]
  end
  -- The metrics table the fitness sees: the stored metrics, plus what it
  -- adds; a missing measurable name is measured now (once per graph).
  local function metrics_of(t)
    local m = {}
    for k, v in pairs(t.metrics) do m[k] = v end
    return setmetatable(m, { __index = function(self, name)
      if type(name) ~= "string" then return nil end
      local f, bs = measurable(name)
      if f then
        local cache = by_hash[t.hash or t]
        if not cache then
          cache = {}
          by_hash[t.hash or t] = cache
        end
        local v = cache[name]
        if v == nil then
          local t0 = now()
          local ok, r = pcall(function() return f(net_of(t), bs, runs) end)
          if not ok then error(setmetatable({ msg = ("%s: %s"):format(name, bare(r)) }, MEASURE_FAILED)) end
          v = r
          cache[name] = v
          local e = measured[name] or { count = 0, seconds = 0 }
          e.count, e.seconds = e.count + 1, e.seconds + (now() - t0)
          measured[name] = e
        end
        rawset(self, name, v)
        return v
      end
      if vocabulary[name] or OPTIONAL[name] then return nil end
      error(("metric '%s' is not stored with trial #%d and cannot be measured without training: it needs " ..
             "retraining (rescore measures only %s)"):format(name, t.id, M.measurable), 2)
    end })
  end

  local function score_one(t, m)
    for _, name in ipairs{ "params", "flops", "memory_mb", "layers", "latency_ms" } do
      if spec.cons.limits[name] then
        local pass, why = constraints.check_limits(spec.cons, m, { name })
        if not pass then return "rejected", nil, why end
      end
    end
    if #spec.cons.predicates > 0 then
      local pass, why = constraints.check_predicates(spec.cons, m, net_of(t))
      if not pass then return "rejected", nil, why end
    end
    local s, why
    if spec.fitness then
      s, why = spec.fitness(m, t)
      if s == nil or s == false then
        return "rejected", nil, why ~= nil and tostring(why) or "the fitness function rejected it"
      end
      if type(s) ~= "number" then
        local d = debug.getinfo(spec.fitness, "S")
        error(("the fitness function (%s:%d) returned a %s (a number, or nil/false and a reason, expected)")
              :format(d.short_src, d.linedefined, type(s)), 0)
      end
      if not finite(s) then return "failed", nil, ("fitness returned %s (a finite number expected)"):format(s) end
    else
      s, why = objectives.value(spec.objectives[1], m)
      if s == nil then return "failed", nil, why end
    end
    if spec.objectives and not objectives.point({ metrics = m }, spec.objectives) then
      for _, o in ipairs(spec.objectives) do
        local r = select(2, objectives.value(o, m))
        if r then return "failed", nil, r end
      end
    end
    return "ok", s
  end

  local out = {}
  for _, t0 in ipairs(old) do
    local t = setmetatable({}, Trial)
    for k, v in pairs(t0) do t[k] = v end
    t.old_score, t.old_rank = t0.score, old_rank[t0.id]
    local m = metrics_of(t)
    local ok, status, s, why = pcall(score_one, t, m)
    if not ok then
      if getmetatable(status) ~= MEASURE_FAILED then
        error(("%s (rescoring trial #%d)"):format(tostring(status), t.id), 0)
      end
      status, s, why = "failed", nil, status.msg
    end
    t.status, t.score, t.reason = status, s, why
    t.metrics = setmetatable(m, nil)
    nets[t] = nil
    out[#out + 1] = t
  end

  local oks, others = {}, {}
  for _, t in ipairs(out) do
    if t.status == "ok" then oks[#oks + 1] = t else others[#others + 1] = t end
  end
  table.sort(oks, ranks_before)
  table.sort(others, function(a, b)
    if a.status ~= b.status then return a.status == "rejected" end
    return a.id < b.id
  end)
  local counts = { ok = #oks, rejected = 0, failed = 0 }
  for i, t in ipairs(oks) do t.rank = i end
  for _, t in ipairs(others) do
    counts[t.status] = counts[t.status] + 1
    oks[#oks + 1] = t
  end
  local info = { measured = measured, objectives = spec.objectives, counts = counts }
  if spec.objectives then
    local ids = {}
    local ok_list = {}
    for _, t in ipairs(oks) do if t.status == "ok" then ok_list[#ok_list + 1] = t end end
    for _, t in ipairs(objectives.pareto_front(ok_list, spec.objectives)) do
      t.pareto = true
      ids[#ids + 1] = t.id
    end
    table.sort(ids)
    info.pareto = ids
  end
  return oks, info
end

-- ---- nasrun rescore -------------------------------------------------------------

-- Loads fitness.lua: what it returns. A missing file is a usage error; an
-- error in it is raised as its own file:line.
local function load_fitness(cli, path)
  local f = io.open(path, "rb")
  if not f then cli.usage_error(("%s: no such file (a Lua file returning the fitness)"):format(path)) end
  f:close()
  local chunk, err = loadfile(path, "t")
  if not chunk then error(err, 0) end
  local ok, spec = pcall(chunk)
  if not ok then error(tostring(spec), 0) end
  return spec
end

local function rescore_cmd(cli, args, out)
  local o, pos = cli.parse(args, { top = "value", report = "value" })
  if #pos > 2 then cli.usage_error(("unexpected argument '%s'"):format(pos[3])) end
  local top = 10
  if o.top then
    top = math.tointeger(tonumber(o.top))
    if not top or top < 1 then cli.usage_error(("--top must be a whole number >= 1, got '%s'"):format(o.top)) end
  end
  if o.report == "" then cli.usage_error("--report needs a file name") end
  local dir = load_run(cli, pos[1], false)
  if not pos[2] then cli.usage_error("a fitness file is needed: nasrun rescore RUN fitness.lua") end
  local spec = load_fitness(cli, pos[2])
  local ok, list, info = pcall(M.rescore, dir, spec)
  if not ok then
    local msg = tostring(list)
    local inner = msg:match("^.-bad argument #2 to 'rescore' %((.*)%)$")
    if inner then msg = ("%s: %s"):format(pos[2], inner) end
    error(msg, 0)
  end
  local c = info.counts
  out:write(("rescored %d trials of %s with %s: %d ok, %d rejected, %d failed\n"):format(#list, dir, pos[2],
            c.ok, c.rejected, c.failed))
  local names = {}
  for k in pairs(info.measured) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local e = info.measured[k]
    out:write(("measured %s on %d graphs (%.2f s)\n"):format(k, e.count, e.seconds))
  end
  -- Columns: accuracy, params, the objectives' metrics, what was measured.
  local cols, seen = {}, {}
  local function col(k)
    if not seen[k] then
      seen[k] = true
      cols[#cols + 1] = k
    end
  end
  col("accuracy")
  col("params")
  for _, ob in ipairs(info.objectives or {}) do col(ob.metric) end
  for _, k in ipairs(names) do col(k) end
  local head = ("%4s %5s %10s %8s %10s"):format("rank", "id", "score", "old_rank", "old_score")
  for _, k in ipairs(cols) do head = head .. (" %" .. math.max(9, #k) .. "s"):format(k) end
  out:write(head, "\n")
  for i = 1, math.min(top, c.ok) do
    local t = list[i]
    local line = ("%4d %5d %10s %8s %10s"):format(t.rank, t.id, cell(t.score), tostring(t.old_rank or "-"),
                                                 cell(t.old_score))
    for _, k in ipairs(cols) do
      local v = rawget(t.metrics, k)
      line = line .. (" %" .. math.max(9, #k) .. "s"):format(cell(v, math.type(v) == "integer" and "int" or nil))
    end
    out:write(line, "\n")
  end
  for _, t in ipairs(list) do
    if t.status ~= "ok" then out:write(("#%d %s: %s\n"):format(t.id, t.status, tostring(t.reason))) end
  end
  if info.pareto and #info.objectives > 1 then
    local ids = {}
    for _, id in ipairs(info.pareto) do ids[#ids + 1] = "#" .. id end
    out:write(("pareto front: %s\n"):format(table.concat(ids, " ")))
  end
  local file = o.report or (dir .. "/rescore.html")
  local okm, report = pcall(require, "nas.report")
  if not okm or type(report) ~= "table" or type(report.write) ~= "function" then
    io.stderr:write(("nasrun rescore: no report written: the report module (nas.report) is not available (%s)\n")
                    :format(tostring(report):match("^[^\n]*")))
    return o.report and 1 or 0
  end
  report.write(dir, { out = file, trials = list,
                      title = ("%s rescored with %s"):format(dir, pos[2]),
                      note = ("Every ok trial of %s scored again by %s without training; rank and old_rank " ..
                              "compare the new ranking with the search's."):format(dir, pos[2]) })
  out:write(("report: %s\n"):format(file))
  return 0
end

-- ---- dispatch -------------------------------------------------------------------

local handlers = { show = show, trials = trials_cmd, best = best_cmd, rescore = rescore_cmd }

-- nas.cli calls this: runs subcommand `name` on its words `args`; returns the exit status.
function M.command(name, args, cli)
  local h = handlers[name]
  if not h then cli.usage_error(("nas.inspect has no command '%s'"):format(tostring(name))) end
  return h(cli, args, io.stdout)
end

return M
