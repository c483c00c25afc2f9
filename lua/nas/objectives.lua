-- nas.objectives: what a search optimises.
--
--   objectives = function(m) return m.accuracy - 0.02 * math.log(m.params) end   -- one score
--   objectives = { nas.maximize "accuracy", nas.minimize "latency_ms" }          -- a Pareto front
--
-- A scalar objective is a Lua function over the metrics table; higher is
-- better. A list of nas.maximize/nas.minimize objectives asks for the Pareto
-- front; the scalar score a strategy is told is then the FIRST objective,
-- oriented so that higher is better (a minimised metric is negated).
local util = require "nas.util"

local M = {}

local Objective = {}
Objective.__index = Objective
Objective.__tostring = function(o) return (o.sense == "max" and "maximize " or "minimize ") .. o.metric end

local function objective(sense, fname)
  return function(metric)
    if type(metric) ~= "string" or metric == "" then
      util.argerror(1, fname, "metric name (string) expected, got " .. type(metric), 2)
    end
    return setmetatable({ metric = metric, sense = sense }, Objective)
  end
end

M.maximize = objective("max", "maximize")
M.minimize = objective("min", "minimize")

function M.is_objective(x) return getmetatable(x) == Objective end

-- The oriented value (higher is better) of objective `o` in `metrics`, or
-- nil, reason when the metric is missing or not a finite number.
function M.value(o, metrics)
  local v = metrics[o.metric]
  if type(v) ~= "number" then
    return nil, ("objective '%s': metric missing from the trial's metrics"):format(o.metric)
  end
  if v ~= v or v == math.huge or v == -math.huge then
    return nil, ("objective '%s': metric is not finite (%s)"):format(o.metric, tostring(v))
  end
  return o.sense == "max" and v or -v
end

-- Checks the `objectives` option of nas.search; returns a normalised spec
-- { kind = "scalar", fn = f } or { kind = "pareto", list = {...} }.
-- Raises at `level` on misuse.
function M.normalize(spec, level)
  level = (level or 1) + 1
  if spec == nil then
    return { kind = "pareto", list = { M.maximize "accuracy" }, describe = "maximize accuracy" }
  end
  if type(spec) == "function" then
    return { kind = "scalar", fn = spec, describe = "function" }
  end
  if M.is_objective(spec) then spec = { spec } end
  if type(spec) ~= "table" or #spec == 0 then
    util.argerror(1, "search", "field 'objectives' must be a function(metrics) -> number or a list of " ..
                  "nas.maximize/nas.minimize objectives", level)
  end
  local list, names, seen = {}, {}, {}
  for k in pairs(spec) do
    if math.type(k) ~= "integer" or k < 1 or k > #spec then
      util.argerror(1, "search", "field 'objectives' must be a list", level)
    end
  end
  for i, o in ipairs(spec) do
    if not M.is_objective(o) then
      util.argerror(1, "search", ("objectives[%d] must be nas.maximize \"metric\" or nas.minimize \"metric\""):format(i),
                    level)
    end
    if seen[o.metric] then
      util.argerror(1, "search", ("objective '%s' given twice"):format(o.metric), level)
    end
    seen[o.metric] = true
    list[i] = o
    names[i] = tostring(o)
  end
  return { kind = "pareto", list = list, describe = table.concat(names, ", ") }
end

-- ---- scalar fitness helpers ---------------------------------------------

-- objectives.weighted{ accuracy = 1, latency_ms = -0.01 } -> function(m): sum of w * m[k]
function M.weighted(weights)
  if type(weights) ~= "table" or next(weights) == nil then
    util.argerror(1, "weighted", "table metric -> weight expected", 2)
  end
  for k, w in pairs(weights) do
    if type(k) ~= "string" or type(w) ~= "number" then
      util.argerror(1, "weighted", "keys must be metric names and values numbers", 2)
    end
  end
  return function(m)
    local s = 0
    for k, w in pairs(weights) do
      local v = m[k]
      if type(v) ~= "number" then error(("weighted: metric '%s' missing"):format(k), 2) end
      s = s + w * v
    end
    return s
  end
end

-- objectives.penalized("accuracy", { latency_ms = 5 }, 1.0): the metric, minus
-- `weight` times the relative excess of each soft limit (0 below the limit).
function M.penalized(metric, limits, weight)
  weight = weight or 1.0
  if type(metric) ~= "string" then util.argerror(1, "penalized", "metric name expected", 2) end
  if type(limits) ~= "table" then util.argerror(2, "penalized", "table metric -> limit expected", 2) end
  return function(m)
    local s = m[metric]
    if type(s) ~= "number" then error(("penalized: metric '%s' missing"):format(metric), 2) end
    for k, lim in pairs(limits) do
      local v = m[k]
      if type(v) ~= "number" then error(("penalized: metric '%s' missing"):format(k), 2) end
      if v > lim then s = s - weight * (v - lim) / lim end
    end
    return s
  end
end

-- ---- Pareto dominance ---------------------------------------------------

-- Points are arrays of oriented values (higher is better in every coordinate).
-- a dominates b: a is >= b everywhere and > somewhere.
function M.dominates(a, b)
  local better = false
  for i = 1, #a do
    if a[i] < b[i] then return false end
    if a[i] > b[i] then better = true end
  end
  return better
end

-- The oriented point of a trial / metrics table, or nil if a value is missing.
function M.point(item, list)
  local metrics = item.metrics or item
  local p = {}
  for i, o in ipairs(list) do
    local v = M.value(o, metrics)
    if v == nil then return nil end
    p[i] = v
  end
  return p
end

-- nas.pareto(items [, objectives]) -> the non-dominated items, in input order.
-- items: trials (with .metrics), metrics tables, or plain arrays of numbers
-- (then every coordinate is maximised and `objectives` is left out).
-- Items whose metrics lack an objective are left out. Equal points are all kept.
function M.pareto_front(items, objectives)
  if type(items) ~= "table" then util.argerror(1, "pareto", "list expected, got " .. type(items), 2) end
  local list
  if objectives ~= nil then
    list = M.normalize(objectives, 2).list
    if not list then util.argerror(2, "pareto", "a list of nas.maximize/nas.minimize objectives expected", 2) end
  end
  local pts, idx = {}, {}
  for i, it in ipairs(items) do
    local p
    if list then p = M.point(it, list) else p = it end
    if p then
      pts[#pts + 1] = p
      idx[#idx + 1] = i
    end
  end
  -- Sort by the first coordinate (descending) so that a point can only be
  -- dominated by points before it, or equal in the first coordinate.
  local order = {}
  for i = 1, #pts do order[i] = i end
  table.sort(order, function(a, b)
    local pa, pb = pts[a], pts[b]
    for k = 1, #pa do
      if pa[k] ~= pb[k] then return pa[k] > pb[k] end
    end
    return a < b
  end)
  local front, keep = {}, {}
  for _, i in ipairs(order) do
    local dominated = false
    for _, j in ipairs(front) do
      if M.dominates(pts[j], pts[i]) then dominated = true break end
    end
    if not dominated then
      front[#front + 1] = i
      keep[i] = true
    end
  end
  local out = {}
  for i = 1, #pts do
    if keep[i] then out[#out + 1] = items[idx[i]] end
  end
  return out
end

-- Hypervolume of a 2-D front: the area dominated by `items` and bounded by
-- the reference point `ref` (in the metrics' own units, e.g. {0, 50} for
-- accuracy >= 0 and latency <= 50 ms). Points not better than ref in both
-- coordinates add nothing.
function M.hypervolume(items, objectives, ref)
  local list = M.normalize(objectives, 2).list
  if #list ~= 2 then util.argerror(2, "hypervolume", "exactly two objectives expected", 2) end
  if type(ref) ~= "table" or type(ref[1]) ~= "number" or type(ref[2]) ~= "number" then
    util.argerror(3, "hypervolume", "reference point {x, y} expected", 2)
  end
  local r = { list[1].sense == "max" and ref[1] or -ref[1], list[2].sense == "max" and ref[2] or -ref[2] }
  local pts = {}
  for _, it in ipairs(items) do
    local p = M.point(it, list)
    if p and p[1] > r[1] and p[2] > r[2] then pts[#pts + 1] = p end
  end
  table.sort(pts, function(a, b) if a[1] ~= b[1] then return a[1] > b[1] end return a[2] > b[2] end)
  local area, best_y = 0, r[2]
  for _, p in ipairs(pts) do
    if p[2] > best_y then
      area = area + (p[1] - r[1]) * (p[2] - best_y)
      best_y = p[2]
    end
  end
  return area
end

return M
