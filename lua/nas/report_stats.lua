-- nas.report_stats: the numbers behind a run's report (nas.report), computed
-- from the trials alone (plain tables shaped like Store:trials()).
--
--   local stats = require "nas.report_stats"
--   local imp = stats.importance(trials)   -- per-decision importance and marginals
--   local best = stats.best(trials)         -- the best trial, as nas.search ranks it
--
-- Decision importance is a per-decision one-way analysis of variance of the
-- score over the run's distinct genotypes (each counted once, at its largest
-- fidelity): a decision's trials are grouped by its value (numeric decisions
-- with more than MAX_LEVELS distinct values are binned into BINS quantile
-- bins; a decision a genotype does not have is a group of its own), and its
-- importance is epsilon squared,
--     (SS_between - (k - 1) * MS_within) / SS_total, clipped at 0,
-- the share of the score's variance the groups explain, corrected for what k
-- groups of random noise would explain. It looks at one decision at a time:
-- interactions and correlated decisions are not separated, so the shares do
-- not add up to 1.
local json = require "nas.json"

local M = {}

M.MAX_LEVELS = 8 -- numeric decisions with more distinct values are binned
M.BINS = 5
M.MIN_TRIALS = 3 -- fewer distinct scored genotypes: no importance

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
M.finite = finite

-- "maximize accuracy, minimize latency_ms" -> { {metric =, sense = "max"|"min"}, ... } (nil for "function").
function M.parse_objectives(desc)
  if type(desc) ~= "string" or desc == "function" then return nil end
  local list = {}
  for sense, metric in desc:gmatch("(%a+) ([^,]+)") do
    if sense == "maximize" or sense == "minimize" then
      list[#list + 1] = { metric = metric, sense = sense == "maximize" and "max" or "min" }
    end
  end
  return #list > 0 and list or nil
end

-- The resource amount of a fidelity (epochs, fraction or budget; a bare
-- number; else its first numeric field that is not bookkeeping), or nil.
local BOOK = { parent = true, rung = true, bracket = true }
function M.fidelity_level(f)
  if finite(f) then return f end
  if type(f) ~= "table" then return nil end
  local v = f.epochs or f.fraction or f.budget
  if finite(v) then return v end
  local keys = {}
  for k, x in pairs(f) do
    if type(k) == "string" and not BOOK[k] and finite(x) then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys[1] and f[keys[1]] or nil
end

-- The name of a fidelity's resource ("epochs", "fraction", ...), or nil.
function M.fidelity_name(f)
  if type(f) ~= "table" then return nil end
  for _, k in ipairs({ "epochs", "fraction", "budget" }) do
    if finite(f[k]) then return k end
  end
  local keys = {}
  for k, x in pairs(f) do
    if type(k) == "string" and not BOOK[k] and finite(x) then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys[1]
end

local function level_of(t) return M.fidelity_level(type(t.metrics) == "table" and t.metrics.fidelity) end

-- Whether trial a ranks before trial b, as nas.search ranks its best.
M.ranks_before = require("nas.fidelity").ranks_before

-- The ok, scored trials that are not repeats.
function M.scored(trials)
  local out = {}
  for _, t in ipairs(trials) do
    if t.status == "ok" and not t.cached_from and finite(t.score) then out[#out + 1] = t end
  end
  return out
end

-- The best trial (nil when no trial is ok and scored).
function M.best(trials)
  local best
  for _, t in ipairs(M.scored(trials)) do
    if best == nil or M.ranks_before(t, best) then best = t end
  end
  return best
end

-- The canonical text of a genotype (sorted keys), the key of "the same genotype".
function M.key(g)
  local ok, s = pcall(json.encode, g)
  return ok and s or tostring(g)
end

-- The sorted union of the decision names of the trials' genotypes.
function M.decisions(trials)
  local seen, names = {}, {}
  for _, t in ipairs(trials) do
    if type(t.genotype) == "table" then
      for k in pairs(t.genotype) do
        if not seen[k] then
          seen[k] = true
          names[#names + 1] = k
        end
      end
    end
  end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  return names
end

-- A key equal for equal genotypes over the decision names `names` (quicker
-- than M.key: scalars are joined with their type; tables go through JSON).
local function fast_key(g, names, buf)
  if type(g) ~= "table" then return M.key(g) end
  for i, name in ipairs(names) do
    local v = g[name]
    local tv = type(v)
    if tv == "table" then buf[i] = "t" .. M.key(v)
    elseif tv == "number" then buf[i] = (math.type(v) == "integer" and "i" or "f") .. ("%.17g"):format(v)
    else buf[i] = tv:sub(1, 1) .. tostring(v) end
  end
  return table.concat(buf, "\0", 1, #names)
end

-- The distinct scored genotypes: for each, the trial at its largest fidelity
-- (then the latest), in id order.
function M.distinct(trials)
  local by, order = {}, {}
  local scored = M.scored(trials)
  local names, buf = M.decisions(scored), {}
  for _, t in ipairs(scored) do
    local k = fast_key(t.genotype, names, buf)
    local o = by[k]
    if o == nil then
      order[#order + 1] = k
      by[k] = t
    else
      local lt, lo = level_of(t) or -math.huge, level_of(o) or -math.huge
      if lt > lo or (lt == lo and t.id > o.id) then by[k] = t end
    end
  end
  local out = {}
  for i, k in ipairs(order) do out[i] = by[k] end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

local function label_of(v)
  if v == nil then return "(absent)" end
  if type(v) == "string" then return v end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.6g"):format(v)
  end
  if type(v) == "boolean" then return tostring(v) end
  return M.key(v)
end
M.label = label_of

local function fmt(x) return ("%.4g"):format(x) end

-- Groups the values vals[i] (for trial i) of one decision: returns the group
-- index of each trial, the groups { label =, lo =, hi = } in display order,
-- and whether the decision is numeric and binned.
local function grouping(vals, n)
  local numeric, distinct, nd = true, {}, 0
  for i = 1, n do
    local v = vals[i]
    if v ~= nil and not finite(v) then numeric = false end
    if v ~= nil and not distinct[v] then
      distinct[v] = true
      nd = nd + 1
    end
  end
  local gi, groups = {}, {}
  if numeric and nd > M.MAX_LEVELS then
    -- quantile bins over the sorted present values (equal values stay in one bin)
    local present = {}
    for i = 1, n do
      if vals[i] ~= nil then present[#present + 1] = vals[i] end
    end
    table.sort(present)
    local edges = {}
    for b = 1, M.BINS - 1 do edges[#edges + 1] = present[math.max(1, math.floor(#present * b / M.BINS))] end
    local bins = {}
    local function bin_of(v)
      for b, e in ipairs(edges) do
        if v <= e then return b end
      end
      return #edges + 1
    end
    for i = 1, n do
      local v = vals[i]
      local key = v == nil and "absent" or bin_of(v)
      local g = bins[key]
      if g == nil then
        g = { lo = v, hi = v, absent = v == nil, key = key }
        bins[key] = g
        groups[#groups + 1] = g
      elseif v ~= nil then
        if v < g.lo then g.lo = v end
        if v > g.hi then g.hi = v end
      end
      gi[i] = g
    end
    table.sort(groups, function(a, b)
      if a.absent ~= b.absent then return b.absent end
      return a.key < b.key
    end)
    for _, g in ipairs(groups) do
      if g.absent then g.label = "(absent)"
      elseif g.lo == g.hi then g.label = fmt(g.lo)
      else g.label = ("%s..%s"):format(fmt(g.lo), fmt(g.hi)) end
    end
    return gi, groups, true, true
  end
  local by = {}
  for i = 1, n do
    local v = vals[i]
    local label = label_of(v)
    local g = by[label]
    if g == nil then
      g = { label = label, value = v, absent = v == nil }
      by[label] = g
      groups[#groups + 1] = g
    end
    gi[i] = g
  end
  table.sort(groups, function(a, b)
    if a.absent ~= b.absent then return b.absent end
    if numeric and not a.absent then return a.value < b.value end
    return a.label < b.label
  end)
  return gi, groups, numeric and nd > 0, false
end

-- importance(trials [, decisions]) -> {
--   n = distinct scored genotypes used, mean = their mean score,
--   decisions = { { name =, importance = epsilon^2 or nil, eta2 =, numeric =, binned =,
--                   groups = { { label =, n =, mean =, min =, max = }, ... } }, ... }  (most important first)
-- }
function M.importance(trials, decisions)
  local used = M.distinct(trials)
  decisions = decisions or M.decisions(used)
  local n = #used
  local out = { n = n, decisions = {} }
  local total, mean = 0, 0
  for _, t in ipairs(used) do total = total + t.score end
  if n > 0 then mean = total / n end
  out.mean = n > 0 and mean or nil
  local sst = 0
  for _, t in ipairs(used) do sst = sst + (t.score - mean) ^ 2 end
  for _, name in ipairs(decisions) do
    local vals = {}
    for i, t in ipairs(used) do
      if type(t.genotype) == "table" then vals[i] = t.genotype[name] end
    end
    local gi, groups, numeric, binned = grouping(vals, n)
    for _, g in ipairs(groups) do g.n, g.sum, g.min, g.max = 0, 0, math.huge, -math.huge end
    for i, t in ipairs(used) do
      local g = gi[i]
      g.n, g.sum = g.n + 1, g.sum + t.score
      if t.score < g.min then g.min = t.score end
      if t.score > g.max then g.max = t.score end
    end
    local ssb = 0
    for _, g in ipairs(groups) do
      g.mean = g.sum / g.n
      ssb = ssb + g.n * (g.mean - mean) ^ 2
    end
    local k = #groups
    local d = { name = name, numeric = numeric, binned = binned, groups = {} }
    for j, g in ipairs(groups) do
      d.groups[j] = { label = g.label, n = g.n, mean = g.mean, min = g.min, max = g.max,
                      lo = binned and g.lo or nil, hi = binned and g.hi or nil }
    end
    if n >= M.MIN_TRIALS and sst > 0 then
      d.eta2 = ssb / sst
      if k <= 1 then
        d.importance = 0
      elseif n > k then
        local msw = (sst - ssb) / (n - k)
        d.importance = math.max(0, (ssb - (k - 1) * msw) / sst)
      end
    elseif n >= M.MIN_TRIALS then
      d.eta2, d.importance = 0, 0 -- every score equal: nothing to explain
    end
    out.decisions[#out.decisions + 1] = d
  end
  table.sort(out.decisions, function(a, b)
    local ia, ib = a.importance or -1, b.importance or -1
    if ia ~= ib then return ia > ib end
    return tostring(a.name) < tostring(b.name)
  end)
  return out
end

-- The Pareto front of the trials over objectives (list of {metric, sense}):
-- a set id -> true over the scored trials that have every objective metric.
function M.front(trials, objs)
  local pts, items = {}, {}
  for _, t in ipairs(M.scored(trials)) do
    local p = {}
    for i, o in ipairs(objs) do
      local v = type(t.metrics) == "table" and t.metrics[o.metric]
      if not finite(v) then
        p = nil
        break
      end
      p[i] = o.sense == "max" and v or -v
    end
    if p then
      pts[#pts + 1] = p
      items[#items + 1] = t
    end
  end
  local order = {}
  for i = 1, #pts do order[i] = i end
  table.sort(order, function(a, b)
    local pa, pb = pts[a], pts[b]
    for k = 1, #pa do
      if pa[k] ~= pb[k] then return pa[k] > pb[k] end
    end
    return a < b
  end)
  local function dominates(a, b)
    local better = false
    for i = 1, #a do
      if a[i] < b[i] then return false end
      if a[i] > b[i] then better = true end
    end
    return better
  end
  local front, set = {}, {}
  for _, i in ipairs(order) do
    local dominated = false
    for _, j in ipairs(front) do
      if dominates(pts[j], pts[i]) then
        dominated = true
        break
      end
    end
    if not dominated then
      front[#front + 1] = i
      set[items[i].id] = true
    end
  end
  return set, #items
end

return M
