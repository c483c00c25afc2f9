-- nas.report: the HTML report of a search run.
--
--   nasrun report runs/fmnist [--out FILE]          -- writes runs/fmnist/report.html
--   local path = require("nas.report").write("runs/fmnist", { title = "fmnist", note = "..." })
--
-- One self-contained page (it opens offline: no server, no download): the run
-- header, the search history, the Pareto front of the run's objectives, the
-- decision importance and per-decision marginals, parallel coordinates,
-- learning curves (or score against fidelity), the worker timeline, the failed
-- and rejected trials, a sortable and filterable table of every trial, the
-- best architecture drawn by Graphviz, and the end of search.log. Plots are
-- Vega 5 specs drawn as SVG by Debian's libjs-vega, inlined into the page.
-- The store is read without writing (a running search can be reported on);
-- nothing is trained, and only the best trial's net is rebuilt (to draw it).
-- See docs/report.md.
local util = require "nas.util"
local stats = require "nas.report_stats"
local page = require "nas.report_page"

local M = {}

-- Bounds that keep a report of a long run small and quick to open.
M.limits = {
  metrics = 24,        -- metric columns in the trial table (the objectives' metrics first)
  curves = 100,        -- learning curves drawn (the best trials')
  lines = 1000,        -- lines in the parallel coordinates (the best trials')
  parallel_dims = 8,   -- decision axes in the parallel coordinates (the most important)
  marginals = 16,      -- per-decision marginal plots (the most important)
  log_lines = 200,     -- last lines of search.log
  fidelity_genotypes = 300,
}

local null, array = page.null, page.array
local finite = stats.finite

local function opt(v)
  if v == nil then return null end
  if type(v) == "number" and not finite(v) then return null end
  return v
end

-- A decision value as page data: scalars as they are, tables as their JSON text.
local function value(v)
  if v == nil then return null end
  local t = type(v)
  if t == "string" or t == "boolean" then return v end
  if t == "number" then return finite(v) and v or null end
  return stats.key(v)
end

local function bare(msg) return (tostring(msg):gsub("^[^:\n]+:%d+: ", "")) end

-- ---- reading the run ------------------------------------------------------------

local function read_tail(path, max_lines)
  local f = io.open(path, "rb")
  if not f then return {} end
  local size = f:seek("end")
  local from = math.max(0, size - 65536)
  f:seek("set", from)
  local s = f:read("a") or ""
  f:close()
  local lines = {}
  for line in s:gmatch("[^\n]+") do lines[#lines + 1] = line end
  if from > 0 then table.remove(lines, 1) end -- a partial first line
  local out = {}
  for i = math.max(1, #lines - max_lines + 1), #lines do out[#out + 1] = lines[i] end
  return out
end

local function file_exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

-- info, trials, running, phases, graph_of(trial), close() for a run folder; `trials` replaces the store's.
local function load(dir, trials)
  local info, running, phases, st = {}, {}, {}, nil
  if file_exists(dir .. "/trials.db") then
    st = require("nas.store").open(dir, { readonly = true })
    local ok, err = pcall(function()
      info = st:run_info()
      if trials == nil then trials = st:trials{ graph = false } end
      running = st:running()
      -- one-shot searches record the supernet's training in a phases table (a store that has one)
      if type(st.phases) == "function" then
        local okp, list = pcall(st.phases, st)
        if okp and type(list) == "table" then phases = list end
      end
    end)
    if not ok then
      st:close()
      error(err, 0)
    end
  elseif trials == nil then
    error(("%s is not a run folder: it has no trials.db"):format(dir), 0)
  end
  local function graph_of(t)
    if t == nil then return nil end
    if t.graph then return t.graph end
    if st then return st:graph(t.cached_from or t.id) end
    return nil
  end
  return info, trials, running, phases, graph_of, function() if st then st:close() end end
end

-- ---- what the page shows -------------------------------------------------------

local PREFERRED = { "accuracy", "loss", "params", "flops", "latency_ms", "memory_mb", "train_s" }

-- The metric columns: scalar metrics, the objectives' first, then the usual ones, then the rest.
local function metric_columns(trials, objs)
  local kind, seen = {}, {}
  for _, t in ipairs(trials) do
    if type(t.metrics) == "table" then
      for k, v in pairs(t.metrics) do
        local tv = type(v)
        if type(k) == "string" and k ~= "fidelity" and (tv == "number" or tv == "string" or tv == "boolean") then
          if not seen[k] then
            seen[k] = true
            kind[k] = tv == "number"
          elseif tv ~= "number" then
            kind[k] = false
          end
        end
      end
    end
  end
  local names, used = {}, {}
  local function add(k)
    if seen[k] and not used[k] then
      used[k] = true
      names[#names + 1] = k
    end
  end
  for _, o in ipairs(objs or {}) do add(o.metric) end
  for _, k in ipairs(PREFERRED) do add(k) end
  local rest = {}
  for k in pairs(seen) do
    if not used[k] then rest[#rest + 1] = k end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do add(k) end
  local dropped = 0
  while #names > M.limits.metrics do
    used[names[#names]] = nil
    names[#names] = nil
    dropped = dropped + 1
  end
  local numeric = {}
  for i, k in ipairs(names) do numeric[i] = kind[k] end
  return names, numeric, dropped
end

local function human_seconds(s)
  if not finite(s) then return "-" end
  if s >= 3600 then return ("%dh %02dm %02ds"):format(s // 3600, (s % 3600) // 60, math.floor(s % 60)) end
  if s >= 60 then return ("%dm %02ds"):format(s // 60, math.floor(s % 60)) end
  return ("%.1f s"):format(s)
end

local function show(v)
  if v == nil or v == "" then return "-" end
  return tostring(v)
end

local KNOWN = { "script", "space", "strategy", "objectives", "seed", "budget", "workers", "version", "nasrun",
                "torch", "created", "format" }

local function header_rows(dir, info, trials, best, t0, t1, workers_seen)
  local rows = {}
  local function add(k, v) rows[#rows + 1] = array{ k, show(v) } end
  add("run folder", dir)
  add("script", info.script)
  add("space", info.space)
  add("strategy", info.strategy)
  add("objectives", info.objectives == "function" and "a fitness function (one score)" or info.objectives)
  add("seed", info.seed)
  add("budget", info.budget)
  local nw = 0
  for _ in pairs(workers_seen) do nw = nw + 1 end
  add("workers", info.workers or (nw > 0 and ("%d (worker ids in the trials)"):format(nw)) or nil)
  local ver = info.version or info.nasrun
  if ver and info.torch then ver = ver .. ", libtorch " .. info.torch end
  add("versions", ver)
  local created = tonumber(info.created)
  add("created", created and os.date("%Y-%m-%d %H:%M:%S", math.floor(created)) or nil)
  add("wall time", t0 and t1 and human_seconds(t1 - t0) .. " (first trial's start to last trial's end)" or nil)
  local counts, repeats = { ok = 0, failed = 0, rejected = 0 }, 0
  for _, t in ipairs(trials) do
    counts[t.status] = (counts[t.status] or 0) + 1
    if t.cached_from then repeats = repeats + 1 end
  end
  add("trials", ("%d: %d ok, %d failed, %d rejected; %d repeats of a graph seen before"):format(
    #trials, counts.ok, counts.failed, counts.rejected, repeats))
  if best then
    local parts = {}
    for _, k in ipairs({ "accuracy", "loss", "params", "flops", "latency_ms" }) do
      local v = best.metrics[k]
      if finite(v) then
        parts[#parts + 1] = ("%s %s"):format(k, math.type(v) == "integer" and v or ("%.4g"):format(v))
      end
    end
    local fl = stats.fidelity_level(best.metrics.fidelity)
    local at = fl and (" at %s %s"):format(stats.fidelity_name(best.metrics.fidelity) or "fidelity", fl) or ""
    add("best", ("#%d score %.6g%s%s"):format(best.id, best.score,
                                               #parts > 0 and " (" .. table.concat(parts, ", ") .. ")" or "", at))
  else
    add("best", nil)
  end
  local known = {}
  for _, k in ipairs(KNOWN) do known[k] = true end
  local extra = {}
  for k in pairs(info) do
    if not known[k] then extra[#extra + 1] = k end
  end
  table.sort(extra)
  for _, k in ipairs(extra) do add(k, info[k]) end
  return rows
end

-- Learning curves: metrics.curve (validation accuracy per epoch), else
-- metrics.train_curve (training loss per epoch), of the best trials that have one.
local function curves(trials)
  for _, kind in ipairs({ { "curve", "validation accuracy after each epoch", "accuracy" },
                          { "train_curve", "training loss of each epoch", "training loss" } }) do
    local with = {}
    for _, t in ipairs(trials) do
      local c = type(t.metrics) == "table" and t.metrics[kind[1]]
      if t.status == "ok" and not t.cached_from and type(c) == "table" and #c >= (kind[1] == "curve" and 1 or 2) then
        with[#with + 1] = t
      end
    end
    if #with > 0 then
      table.sort(with, function(a, b)
        local sa, sb = a.score or -math.huge, b.score or -math.huge
        if sa ~= sb then return sa > sb end
        return a.id < b.id
      end)
      local series = array{}
      for i = 1, math.min(#with, M.limits.curves) do
        local t, v = with[i], array{}
        for j, x in ipairs(t.metrics[kind[1]]) do v[j] = type(x) == "number" and opt(x) or null end
        series[#series + 1] = { id = t.id, v = v }
      end
      return { label = kind[2], x = "epoch", y = kind[3], series = series, total = #with }
    end
  end
  return nil
end

-- Score against fidelity, one series per genotype evaluated at several fidelities.
local function fidelity_curves(trials)
  local by, order = {}, {}
  for _, t in ipairs(stats.scored(trials)) do
    local x = stats.fidelity_level(t.metrics.fidelity)
    if x then
      local k = stats.key(t.genotype)
      if not by[k] then
        by[k] = {}
        order[#order + 1] = k
      end
      table.insert(by[k], { id = t.id, x = x, y = t.score })
    end
  end
  local multi = {}
  for _, k in ipairs(order) do
    local levels = {}
    local n = 0
    for _, p in ipairs(by[k]) do
      if not levels[p.x] then
        levels[p.x] = true
        n = n + 1
      end
    end
    if n >= 2 then multi[#multi + 1] = k end
  end
  if #multi == 0 then return nil end
  -- the genotypes that reached the largest fidelity first, then by best score
  local function top(k)
    local hx, hy = -math.huge, -math.huge
    for _, p in ipairs(by[k]) do
      if p.x > hx or (p.x == hx and p.y > hy) then hx, hy = p.x, p.y end
    end
    return hx, hy
  end
  table.sort(multi, function(a, b)
    local ax, ay = top(a)
    local bx, by_ = top(b)
    if ax ~= bx then return ax > bx end
    return ay > by_
  end)
  local points = array{}
  for gi = 1, math.min(#multi, M.limits.fidelity_genotypes) do
    for _, p in ipairs(by[multi[gi]]) do points[#points + 1] = { gk = gi, id = p.id, x = p.x, y = p.y } end
  end
  return { points = points, genotypes = #multi }
end

-- The supernet's training of a one-shot search: the phases rows of kind
-- 'epoch' that end an epoch, as { x = epoch, loss =, acc =, phase = }.
local function supernet(phases)
  local out = array{}
  for _, p in ipairs(phases or {}) do
    local d = type(p.data) == "table" and p.data or {}
    if p.kind == "epoch" and not d.partial and finite(d.epoch) then
      out[#out + 1] = { x = d.epoch, loss = opt(d.loss), acc = opt(d.accuracy),
                        phase = type(d.phase) == "string" and d.phase or null }
    end
  end
  return out
end

-- The page data (a plain table) and the best trial.
function M.data(dir, info, trials, running, phases)
  local objs = stats.parse_objectives(info.objectives)
  local best = stats.best(trials)
  local metrics, metric_numeric, dropped = metric_columns(trials, objs)
  local decisions = stats.decisions(trials)
  local fidelity_name
  for _, t in ipairs(trials) do
    fidelity_name = stats.fidelity_name(type(t.metrics) == "table" and t.metrics.fidelity or nil)
    if fidelity_name then break end
  end
  local t0, t1
  local workers_seen = {}
  for _, t in ipairs(trials) do
    if finite(t.started) and (t0 == nil or t.started < t0) then t0 = t.started end
    if finite(t.finished) and (t1 == nil or t.finished > t1) then t1 = t.finished end
    if t.worker ~= nil then workers_seen[t.worker] = true end
  end
  local rows = array{}
  for i, t in ipairs(trials) do
    local m = type(t.metrics) == "table" and t.metrics or {}
    local mv, gv = array{}, array{}
    for j, k in ipairs(metrics) do mv[j] = value(m[k]) end
    local g = type(t.genotype) == "table" and t.genotype or {}
    for j, k in ipairs(decisions) do gv[j] = value(g[k]) end
    local rel0 = finite(t.started) and t0 and t.started - t0 or nil
    local rel1 = finite(t.finished) and t0 and t.finished - t0 or nil
    rows[i] = array{ t.id, t.status or "ok", opt(t.status == "ok" and t.score or nil), opt(rel0), opt(rel1),
                     opt(t.seconds), opt(t.worker), opt(stats.fidelity_level(m.fidelity)), opt(t.cached_from),
                     opt(t.reason), mv, gv }
  end

  -- Pareto: the run's objectives; one objective (or a fitness function): score against params
  local pareto
  if objs and #objs >= 2 then
    local set = stats.front(trials, objs)
    pareto = { axes = objs, note = null }
    local ids = array{}
    for _, t in ipairs(trials) do if set[t.id] then ids[#ids + 1] = t.id end end
    pareto.front = ids
  else
    local have_params = false
    for _, k in ipairs(metrics) do if k == "params" then have_params = true end end
    local first = objs and objs[1]
    if have_params and (first == nil or first.metric ~= "params") then
      -- without a metric for the score (a fitness function), the score itself is the first axis
      local axes = { { metric = first and first.metric or "score", sense = first and first.sense or "max" },
                     { metric = "params", sense = "min" } }
      local pts = trials
      if first == nil then
        axes[1].score = true -- the page reads the trial's score, not a metric
        pts = {}
        for i, t in ipairs(trials) do
          pts[i] = { id = t.id, status = t.status, score = t.score, cached_from = t.cached_from,
                     metrics = { score = t.score, params = type(t.metrics) == "table" and t.metrics.params or nil } }
        end
      end
      local set = stats.front(pts, axes)
      local ids = array{}
      for _, t in ipairs(trials) do if set[t.id] then ids[#ids + 1] = t.id end end
      pareto = { axes = axes, front = ids,
                 note = ("The run has one objective (%s): shown instead, its trade-off against params."):format(
                   info.objectives == "function" and "a fitness function" or show(info.objectives)) }
    else
      pareto = { axes = array{}, front = array{},
                 note = "The run has one objective and no params metric: no front to draw." }
    end
  end

  local imp = stats.importance(trials, decisions)
  local idecisions = array{}
  for i, d in ipairs(imp.decisions) do
    local groups = array{}
    for j, g in ipairs(d.groups) do
      groups[j] = { label = g.label, n = g.n, mean = opt(g.mean), min = opt(g.min), max = opt(g.max),
                    lo = g.lo ~= nil and value(g.lo) or nil, hi = g.hi ~= nil and value(g.hi) or nil }
    end
    idecisions[i] = { name = tostring(d.name), importance = opt(d.importance), eta2 = opt(d.eta2),
                      numeric = d.numeric, binned = d.binned, groups = groups }
  end

  local run_rows = array{}
  for i, r in ipairs(running) do
    local started = finite(r.started) and t0 and r.started - t0 or nil
    run_rows[i] = { id = r.id, worker = opt(r.worker), started = opt(started), genotype = stats.key(r.genotype) }
  end

  local header = header_rows(dir, info, trials, best, t0, t1, workers_seen)
  if dropped > 0 then
    header[#header + 1] = array{ "metrics", ("%d metric columns not shown (at most %d)"):format(dropped,
                                                                                                 M.limits.metrics) }
  end
  local dnames = array{}
  for i, k in ipairs(decisions) do dnames[i] = tostring(k) end
  return {
    header = header,
    running = run_rows,
    trials = rows,
    metrics = array(metrics),
    metric_numeric = array(metric_numeric),
    decisions = dnames,
    fidelity_name = opt(fidelity_name),
    best = best and best.id or null,
    pareto = pareto,
    importance = { n = imp.n, decisions = idecisions },
    min_trials = stats.MIN_TRIALS,
    max_marginals = M.limits.marginals,
    max_parallel_dims = M.limits.parallel_dims,
    max_lines = M.limits.lines,
    curves = curves(trials) or null,
    supernet = supernet(phases),
    fidelity_curves = fidelity_curves(trials) or null,
    log = array(read_tail(dir .. "/search.log", M.limits.log_lines)),
  }, best
end

-- ---- writing --------------------------------------------------------------------

local function version_line()
  local ok, core = pcall(require, "nas.core")
  if ok and type(core) == "table" and core.version then
    return ("nasrun %s (libtorch %s)"):format(tostring(core.version), tostring(core.torch_version or "?"))
  end
  return "nasrun"
end

-- report.write(run_dir [, { out =, trials =, title =, note = }]) -> path of the written file
function M.write(dir, opts)
  if type(dir) ~= "string" or dir == "" then util.argerror(1, "report", "run folder (string) expected", 2) end
  util.check_options(opts, { "out", "trials", "title", "note" }, 2, "report", 2)
  opts = opts or {}
  if opts.out ~= nil and (type(opts.out) ~= "string" or opts.out == "") then
    util.argerror(2, "report", "field 'out' must be a file path (string)", 2)
  end
  if opts.trials ~= nil and type(opts.trials) ~= "table" then
    util.argerror(2, "report", "field 'trials' must be a list of trials (as store:trials() gives)", 2)
  end
  for i, t in ipairs(opts.trials or {}) do
    if type(t) ~= "table" or math.type(t.id) ~= "integer" or type(t.status) ~= "string" then
      util.argerror(2, "report", ("field 'trials': item %d is not a trial (a table with an integer id and a " ..
                                  "status, as store:trials() gives)"):format(i), 2)
    end
  end
  for _, k in ipairs({ "title", "note" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      util.argerror(2, "report", ("field '%s' must be a string"):format(k), 2)
    end
  end
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end
  local vega = page.vega_script() -- first: a missing package fails before any work
  local ok, info, trials, running, phases, graph_of, close = pcall(load, dir, opts.trials)
  if not ok then error("report: " .. bare(info), 2) end
  local okd, data, best = pcall(M.data, dir, info, trials, running, phases)
  local graph = {}
  if okd and best then
    local svg, n = require("nas.report_graph").svg(graph_of(best))
    if svg then
      graph.svg = svg
      graph.caption = ("Trial #%d: %d nodes (op, attributes, output shape; orange: the output)."):format(best.id, n)
    else
      graph.note = n
    end
  elseif okd then
    graph.note = "No trial is ok yet: no best architecture to draw."
  end
  close()
  if not okd then error("report: " .. bare(data), 2) end
  local base = dir:match("([^/]+)$") or dir
  local html = page.render{
    title = opts.title or ("nasrun report: " .. base),
    subtitle = ("%s, written %s by %s"):format(dir, os.date("%Y-%m-%d %H:%M:%S"), version_line()),
    note = opts.note,
    data = page.json(data),
    vega = vega,
    graph = graph,
  }
  local out = opts.out or (dir .. "/report.html")
  local tmp = out .. ".tmp"
  local f, msg = io.open(tmp, "wb")
  if not f then error(("report: cannot write %s: %s"):format(out, tostring(msg)), 2) end
  f:write(html)
  f:close()
  local okr, why = os.rename(tmp, out)
  if not okr then
    os.remove(tmp)
    error(("report: cannot write %s: %s"):format(out, tostring(why)), 2)
  end
  return out
end

M.usage = [[
usage: nasrun report RUN [--out FILE]
Writes the HTML report of the run folder RUN (the `out` of a search) to
RUN/report.html, or FILE, and prints its path. The page opens offline; the
store is only read, so RUN may belong to a search that is still running.
See docs/report.md.
]]

-- nasrun report RUN [--out FILE]: writes the report, prints its path.
function M.command(_, args, cli)
  local o, pos = cli.parse(args, { out = "value", help = "bool" })
  if o.help then
    io.stdout:write(M.usage)
    return 0
  end
  if #pos > 1 then cli.usage_error("one run folder expected, got " .. #pos .. " arguments") end
  if o.out == "" then cli.usage_error("--out needs a file name") end
  local dir = cli.run_dir(pos[1])
  local ok, st = pcall(require("nas.store").open, dir, { readonly = true })
  if not ok then cli.usage_error(bare(st)) end
  st:close()
  local path = M.write(dir, { out = o.out })
  io.stdout:write(path, "\n")
  return 0
end

return M
