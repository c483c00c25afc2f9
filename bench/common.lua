-- bench/common.lua: helpers shared by the Lua benchmarks (wall clock, medians,
-- RESULT lines that bench/report.py reads).
local M = {}

-- Wall clock in seconds: luasystem's monotonic clock (installed with busted);
-- os.clock() (process CPU time) only as a fallback, and said so.
local ok, system = pcall(require, "system")
if ok and system.monotime then
  M.now = system.monotime
  M.clock = "monotime"
else
  M.now = os.clock
  M.clock = "os.clock (CPU time: wrong with >1 thread)"
  io.stderr:write("bench: luasystem not found, timing with os.clock\n")
end

function M.median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return 0 / 0 end
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return 0.5 * (s[n // 2] + s[n // 2 + 1])
end

-- One result: `RESULT <key> <value>` (report.py takes the median over runs).
function M.result(key, value)
  io.write(("RESULT %s %.6g\n"):format(key, value))
  io.flush()
end

function M.info(key, value)
  io.write(("INFO %s %s\n"):format(key, tostring(value)))
  io.flush()
end

-- Script options from `arg`: key=value pairs.
function M.args(defaults)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for _, a in ipairs(arg or {}) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if not k then error("bad argument '" .. a .. "' (want key=value)") end
    o[k] = math.tointeger(tonumber(v)) or tonumber(v) or v
  end
  return o
end

-- Runs f(n) (n iterations) until at least `min_s` seconds have passed in one
-- timed window, `reps` windows; returns the median rate (iterations / s).
function M.rate(f, n, reps, min_s)
  -- calibrate n so that one window takes about min_s
  while true do
    local t0 = M.now()
    f(n)
    local dt = M.now() - t0
    if dt >= min_s * 0.5 then break end
    n = n * 2
  end
  local rates = {}
  for i = 1, reps do
    collectgarbage("collect")
    local t0 = M.now()
    f(n)
    rates[i] = n / (M.now() - t0)
  end
  return M.median(rates), n
end

return M
