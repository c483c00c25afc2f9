-- nas.constraints: hard limits a candidate must meet before it is trained.
--
--   constraints = { params = 1e6, flops = 50e6, memory_mb = 20, layers = 30, latency_ms = 5,
--                   function(m, net) return m.params < 2 * m.flops, "too few FLOPs per weight" end }
--   constraints = function(m, net) ... end          -- a predicate alone
--
-- The named limits are upper bounds (inclusive). params, flops, memory_mb
-- (activations + weights at batch 1) and layers come from the graph
-- analytically; latency_ms is measured (batch 1, median of a few runs) only
-- when a latency limit is given, still before training. A predicate gets the
-- metrics known before training and the net, and returns true, or false and
-- a reason. A violating candidate becomes a "rejected" trial with the reason,
-- and is never trained.
local util = require "nas.util"

local M = {}

M.analytic = { "params", "flops", "memory_mb", "layers" }
local known = { params = true, flops = true, memory_mb = true, layers = true, latency_ms = true }

-- Validates the `constraints` option; returns { limits = {name = bound}, predicates = {f...} }.
function M.normalize(spec, level)
  level = (level or 1) + 1
  local out = { limits = {}, predicates = {} }
  if spec == nil then return out end
  if type(spec) == "function" then
    out.predicates[1] = spec
    return out
  end
  if type(spec) ~= "table" then
    util.argerror(1, "search", "field 'constraints' must be a table or a function(metrics, net)", level)
  end
  for k, v in pairs(spec) do
    if math.type(k) == "integer" then
      if type(v) ~= "function" then
        util.argerror(1, "search",
                      ("constraints[%d] must be a function(metrics, net) -> true | false, reason"):format(k), level)
      end
    elseif known[k] then
      if type(v) ~= "number" or v ~= v then
        util.argerror(1, "search", ("constraint '%s' must be a number (an upper bound)"):format(k), level)
      end
      out.limits[k] = v
    else
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      util.argerror(1, "search", ("unknown constraint '%s' (allowed: %s, or predicate functions)"):format(
        tostring(k), table.concat(names, ", ")), level)
    end
  end
  for i = 1, #spec do out.predicates[i] = spec[i] end
  return out
end

local function fmt(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v == math.floor(v) and math.abs(v) < 2^53 then return ("%d"):format(v) end
  return ("%.4g"):format(v)
end

-- Checks the limits named in `names` against metrics; returns true or false, reason.
function M.check_limits(c, metrics, names)
  for _, k in ipairs(names) do
    local bound = c.limits[k]
    if bound ~= nil then
      local v = metrics[k]
      if type(v) ~= "number" then return false, ("%s unknown (constraint %s <= %s)"):format(k, k, fmt(bound)) end
      if v > bound then return false, ("%s %s > %s"):format(k, fmt(v), fmt(bound)) end
    end
  end
  return true
end

-- Runs the predicates; a predicate that raises is a programming error in the
-- user's code and is reported as such (the caller records a failed trial).
function M.check_predicates(c, metrics, net)
  for i, f in ipairs(c.predicates) do
    local ok, why = f(metrics, net)
    if not ok then
      return false, why ~= nil and tostring(why) or ("constraint predicate %d is false"):format(i)
    end
  end
  return true
end

return M
