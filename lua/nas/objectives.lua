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
      util.argerror(1, "search",
                    ("objectives[%d] must be nas.maximize \"metric\" or nas.minimize \"metric\""):format(i), level)
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

-- ---- hypervolume, non-dominated sorting, crowding ---------------------------

-- Hypervolume of oriented points (higher is better in every coordinate): the
-- measure of the region dominated by the points and bounded below by `ref`.
-- Points not strictly better than ref in every coordinate add nothing. Exact, by
-- slicing along the last coordinate (HSO, While et al. 2006) down to a 2-D
-- sweep: O(n^(d-1) log n), fine for the fronts of a search in 2 to 4 objectives.
local function hv(pts, ref, d)
  local n = #pts
  if n == 0 then return 0 end
  if d == 1 then
    local m = ref[1]
    for i = 1, n do if pts[i][1] > m then m = pts[i][1] end end
    return m - ref[1]
  end
  if d == 2 then
    table.sort(pts, function(a, b) if a[1] ~= b[1] then return a[1] > b[1] end return a[2] > b[2] end)
    local area, best_y = 0, ref[2]
    for i = 1, n do
      local p = pts[i]
      if p[2] > best_y then
        area = area + (p[1] - ref[1]) * (p[2] - best_y)
        best_y = p[2]
      end
    end
    return area
  end
  table.sort(pts, function(a, b) return a[d] > b[d] end)
  local vol, slice = 0, {}
  for i = 1, n do
    slice[i] = pts[i]
    local lower = i < n and pts[i + 1][d] or ref[d]
    local h = pts[i][d] - lower
    if h > 0 then
      local copy = {}
      for k = 1, i do copy[k] = slice[k] end
      vol = vol + h * hv(copy, ref, d - 1)
    end
  end
  return vol
end

function M.hypervolume_points(points, ref)
  if type(points) ~= "table" then util.argerror(1, "hypervolume_points", "list of points expected", 2) end
  if type(ref) ~= "table" or #ref == 0 then util.argerror(2, "hypervolume_points", "reference point expected", 2) end
  local d = #ref
  local pts = {}
  for _, p in ipairs(points) do
    if #p ~= d then util.argerror(1, "hypervolume_points", ("points must have %d coordinates"):format(d), 2) end
    local inside = true
    for k = 1, d do if not (p[k] > ref[k]) then inside = false break end end
    if inside then pts[#pts + 1] = p end
  end
  return hv(pts, ref, d)
end

-- objectives.hypervolume(items, objectives, ref) -> volume
-- Hypervolume of trials / metrics tables for any number of objectives (2-D
-- and 3-D are tested), with the reference point `ref` in the metrics' own
-- units, e.g. {0, 50} for accuracy >= 0 and latency <= 50 ms (a maximised
-- metric's ref is a lower bound, a minimised one's an upper bound). Items
-- not better than ref in every objective add nothing.
function M.hypervolume(items, objectives, ref)
  local list = M.normalize(objectives, 2).list
  if type(ref) ~= "table" or #ref ~= #list then
    util.argerror(3, "hypervolume", ("reference point with %d numbers expected"):format(#list), 2)
  end
  local r = {}
  for i, o in ipairs(list) do
    if type(ref[i]) ~= "number" then util.argerror(3, "hypervolume", "reference point must hold numbers", 2) end
    r[i] = o.sense == "max" and ref[i] or -ref[i]
  end
  local pts = {}
  for _, it in ipairs(items) do
    local p = M.point(it, list)
    if p then pts[#pts + 1] = p end
  end
  return M.hypervolume_points(pts, r)
end

-- The nadir of items: the worst value of each objective among them, in the
-- metrics' units (the default reference point of nas.search's hypervolume), or
-- nil when no item has every objective.
function M.nadir(items, objectives)
  local list = M.normalize(objectives, 2).list
  local worst
  for _, it in ipairs(items) do
    local p = M.point(it, list)
    if p then
      if not worst then
        worst = {}
        for k = 1, #p do worst[k] = p[k] end
      else
        for k = 1, #p do if p[k] < worst[k] then worst[k] = p[k] end end
      end
    end
  end
  if not worst then return nil end
  for i, o in ipairs(list) do if o.sense == "min" then worst[i] = -worst[i] end end
  return worst
end

-- Fast non-dominated sorting (Deb et al. 2002) of oriented points:
-- returns fronts = { {i, ...}, {i, ...}, ... } (indices into points, each front
-- in ascending order) and rank[i] (1 = the non-dominated front).
function M.nondominated_sort(points)
  local n = #points
  local dominated_by, count, rank = {}, {}, {}
  local fronts = { {} }
  for i = 1, n do
    dominated_by[i], count[i] = {}, 0
  end
  for i = 1, n do
    for j = i + 1, n do
      if M.dominates(points[i], points[j]) then
        local l = dominated_by[i]; l[#l + 1] = j
        count[j] = count[j] + 1
      elseif M.dominates(points[j], points[i]) then
        local l = dominated_by[j]; l[#l + 1] = i
        count[i] = count[i] + 1
      end
    end
  end
  for i = 1, n do
    if count[i] == 0 then
      rank[i] = 1
      fronts[1][#fronts[1] + 1] = i
    end
  end
  local k = 1
  while #fronts[k] > 0 do
    local nxt = {}
    for _, i in ipairs(fronts[k]) do
      for _, j in ipairs(dominated_by[i]) do
        count[j] = count[j] - 1
        if count[j] == 0 then
          rank[j] = k + 1
          nxt[#nxt + 1] = j
        end
      end
    end
    table.sort(nxt)
    k = k + 1
    fronts[k] = nxt
  end
  fronts[k] = nil
  return fronts, rank
end

-- Crowding distance (Deb et al. 2002) of the points of one front (a list of
-- indices into points): returns dist[i] for those i. Per objective, the two
-- extreme points get math.huge and an inner point adds the normalised gap
-- (f[next] - f[prev]) / (f_max - f_min) between its neighbours; an objective
-- with f_max = f_min adds nothing. Ties in an objective are ordered by index.
function M.crowding_distance(points, front)
  local dist = {}
  for _, i in ipairs(front) do dist[i] = 0 end
  local n = #front
  if n == 0 then return dist end
  local d = #points[front[1]]
  for m = 1, d do
    local order = {}
    for k, i in ipairs(front) do order[k] = i end
    table.sort(order, function(a, b)
      local va, vb = points[a][m], points[b][m]
      if va ~= vb then return va < vb end
      return a < b
    end)
    local lo, hi = points[order[1]][m], points[order[n]][m]
    dist[order[1]], dist[order[n]] = math.huge, math.huge
    if hi > lo then
      for k = 2, n - 1 do
        local i = order[k]
        if dist[i] ~= math.huge then
          dist[i] = dist[i] + (points[order[k + 1]][m] - points[order[k - 1]][m]) / (hi - lo)
        end
      end
    end
  end
  return dist
end

return M
