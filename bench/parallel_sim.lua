-- bench/parallel_sim.lua: search strategies with W parallel workers on NAS-Bench-201's
-- simulated clock (nas.simulate: a discrete-event simulation, no processes).
--
--   nasrun bench/parallel_sim.lua [nb201.csv] [nb201_12epoch.csv] [--runs 500] [--workers 1,8,64,256]
--          [--strategies rea,tpe,asha] [--budget 12000] [--target 93.9] [--horizon 60000] [--cell-seconds 60]
--          [--stream run|trial] [--full] [--checksum]
--
-- (paths default to ../shared/bench/nb201/ next to the repository.) The protocol of
-- bench/nb201.lua: signal = 12-epoch CIFAR-10 validation accuracy, each query costs its
-- simulated training time (12 * train_s_per_epoch_cifar10 / 2), run r seeded with r,
-- chosen cell = the best by signal among those told, scored by its 200-epoch cifar10_test.
-- ASHA runs on the table's two lengths (strategies/asha.lua with min_epochs = 12,
-- max_epochs = 200, eta = 16: rungs 12 and 200 epochs, the top 1/16 of the 12-epoch
-- trials continued to 200 epochs at the cost of the 188 extra epochs; the 200-epoch
-- signal is cifar10_valid), and its chosen cell is the best 200-epoch one when there is one.
-- With W workers:
--   (a) the chosen cell's test accuracy after the same simulated wall budget (12,000 s);
--   (b) after the same number of trials as W = 1 (run r gets W = 1's count for seed r);
--   (c) the simulated time at which the chosen cell first reaches `--target` test accuracy:
--       median over runs (a run that does not reach it counts as infinite) and the fraction
--       of runs reaching it within the budget; speed-up = W = 1's median / this median.
--       W = 1's runs go on past the budget up to --horizon (default 5 x budget), so that its
--       median is defined where fewer than half of them reach the target within the budget;
--       runs with W > 1 stop at the budget (a median over it is printed as "> budget").
-- Differences (a)/(b) and speed-ups are against W = 1 on the same seeds.
--
-- Cost control. Runs of (a) with W > 1 stop as soon as the chosen cell can no longer change (it has
-- the table's highest signal at the largest fidelity; a later trial can only tie, and
-- ties keep the first): the chosen cell and the time to target are those of the full run,
-- only the trial count is cut (--full disables this). A (strategy, W) cell runs seeds
-- 1, 2, ... until --runs seeds or until it has used --cell-seconds of CPU (at least one
-- run); the table prints how many ran. --checksum prints, for W = 1, bench/nb201.lua's
-- checksum of the chosen cells (and of a 200-query pass), to show W = 1 is that loop.
local bench = require "nas.bench"
local simulate = require "nas.simulate"
local space = require "spaces.nb201"
local newrng = require("nas.rng").new

local root = (arg and arg[0] and arg[0]:match("^(.*)/bench/[^/]*$")) or "."
local shared = root .. "/../shared/bench/nb201/"
local opts = { runs = 500, budget = 12000, target = 93.9, workers = "1,8,64,256", strategies = "rea,tpe,asha",
               cell_seconds = 60, stream = "run", full = false, checksum = false, horizon = nil }
local paths = {}
do
  local i = 1
  local function num(name)
    local v = tonumber(arg[i + 1])
    if not v then error(("parallel_sim.lua: %s needs a number"):format(name), 0) end
    i = i + 1
    return v
  end
  while arg and arg[i] do
    local a = arg[i]
    if a == "--runs" then opts.runs = math.tointeger(num(a))
    elseif a == "--budget" then opts.budget = num(a)
    elseif a == "--target" then opts.target = num(a)
    elseif a == "--horizon" then opts.horizon = num(a)
    elseif a == "--cell-seconds" then opts.cell_seconds = num(a)
    elseif a == "--workers" then opts.workers = arg[i + 1]; i = i + 1
    elseif a == "--strategies" then opts.strategies = arg[i + 1]; i = i + 1
    elseif a == "--stream" then opts.stream = arg[i + 1]; i = i + 1
    elseif a == "--full" then opts.full = true
    elseif a == "--checksum" then opts.checksum = true
    elseif a:sub(1, 2) == "--" then error("parallel_sim.lua: unknown option " .. a, 0)
    else paths[#paths + 1] = a end
    i = i + 1
  end
end
if not opts.runs or opts.runs < 1 then error("parallel_sim.lua: --runs needs a positive integer", 0) end
opts.horizon = opts.horizon or 5 * opts.budget
if opts.stream ~= "run" and opts.stream ~= "trial" then error("parallel_sim.lua: --stream is run or trial", 0) end
local WS = {}
for w in tostring(opts.workers):gmatch("[^,]+") do
  local n = math.tointeger(tonumber(w))
  if not n or n < 1 then error("parallel_sim.lua: --workers is a list of positive integers, e.g. 1,8,64", 0) end
  WS[#WS + 1] = n
end
table.sort(WS)
if WS[1] ~= 1 then table.insert(WS, 1, 1) end -- W = 1 is the reference of every comparison
local path = paths[1] or shared .. "nb201.csv"
local path12 = paths[2] or (path:match("^(.*/)") or "./") .. "nb201_12epoch.csv"

local CANDIDATES = {
  rea = { module = "evolution", label = "REA (P 10, S 3)",
          new = function(S) return S.new{ population = 10, sample = 3 } end },
  tpe = { module = "tpe", label = "TPE", new = function(S) return S.new() end },
  asha = { module = "asha", label = "ASHA (12/200 ep, eta 16)",
           new = function(S) return S.new{ min_epochs = 12, max_epochs = 200, eta = 16 } end },
  rs = { module = "random", label = "RS", new = function(S) return S.new() end },
  ["local"] = { module = "local", label = "local (init 10)", new = function(S) return S.new() end },
}
local list = {}
for n in opts.strategies:gmatch("[^,]+") do
  local c = CANDIDATES[n]
  if not c then error(("parallel_sim.lua: unknown strategy '%s' (rea, tpe, asha, rs, local)"):format(n), 0) end
  local ok, S = pcall(require, "strategies." .. c.module)
  if not ok then error(("parallel_sim.lua: strategy %s: %s"):format(n, tostring(S)), 0) end
  list[#list + 1] = { id = n, label = c.label, new = function() return c.new(S) end }
end

local t0 = os.clock()
local ev = bench.nb201{ path = path, path12 = path12 }
local load_s = os.clock() - t0
local c10 = ev.table.cols.cifar10_test
-- the largest value of each signal column: a chosen cell with it is final
local top = {}
for _, name in ipairs({ ev.signal_name, "cifar10_valid" }) do
  local _, v = ev:best(name)
  top[name] = v
end

local function rng_of(seed)
  if opts.stream == "run" then return newrng(seed) end
  return function(id) return newrng(seed, id) end
end

local function is_final(best)
  local m = best.metrics
  if best.fidelity ~= nil and best.fidelity.epochs ~= 200 then return false end
  return m.signal == top[m.signal_name]
end

-- One run of (a) and (c): the chosen cell's code at the budget, the trials told by then,
-- the time to target (math.huge if not within the horizon), and whether it ended early.
-- It is one simulation with the horizon as its budget: the trials that finish by the
-- budget, and the order they are told in, are those of a run with the budget itself
-- (a worker retiring at the budget is busy past it in the longer run), so the chosen
-- cell at the budget is read off the tells up to it.
local function run_budget(c, W, seed)
  local hit, budget, target = math.huge, opts.budget, opts.target
  local chosen, told, early = nil, 0, false
  simulate.run{ strategy = c.new(), space = space, evaluator = ev, workers = W,
    budget_seconds = W == 1 and math.max(opts.horizon, budget) or budget, rng = rng_of(seed),
    on_tell = function(t, now, best)
      local final = not opts.full and is_final(best)
      if t.finished <= budget then
        chosen, told = best.metrics.code, told + 1
        if W > 1 and final then early = true end
      end
      if hit == math.huge and c10[best.metrics.code + 1] >= target then hit = now end
      -- nothing left to learn: (a) is settled and the target reached or out of reach
      return (early or now > budget) and (hit < math.huge or final)
    end }
  return chosen, told, hit, early
end

-- One run of (b): chosen code after exactly n trials.
local function run_trials(c, W, seed, n)
  local r = simulate.run{ strategy = c.new(), space = space, evaluator = ev, workers = W, trials = n,
                          rng = rng_of(seed) }
  return r.best.metrics.code
end

local function stats(xs, n)
  n = n or #xs
  local s = 0.0
  for i = 1, n do s = s + xs[i] end
  local mean = s / n
  local v = 0.0
  for i = 1, n do v = v + (xs[i] - mean) ^ 2 end
  return mean, math.sqrt(v / n)
end

local function median(xs, n)
  local t = {}
  for i = 1, n do t[i] = xs[i] end
  table.sort(t)
  if n % 2 == 1 then return t[(n + 1) // 2] end
  local a, b = t[n // 2], t[n // 2 + 1]
  if a == math.huge or b == math.huge then return math.huge end
  return (a + b) / 2
end

print(("NAS-Bench-201: %s + %s (%d cells, loaded in %.2f s)"):format(path, path12, ev.table.rows, load_s))
print(("protocol: signal %s, simulated wall budget %g s for every W, target cifar10_test >= %g, up to %d runs " ..
       "(seed = run index, --stream %s), at most %g CPU s per (strategy, W)%s"):format(ev.signal_name, opts.budget,
       opts.target, opts.runs, opts.stream, opts.cell_seconds, opts.full and ", full runs" or ""))
print()

collectgarbage("generational")
local rows = {}
for _, c in ipairs(list) do
  local base -- W = 1: per seed
  for _, W in ipairs(WS) do
    local r = { c = c, W = W, test = {}, testn = {}, hit = {}, told = 0, final = 0, reach = 0 }
    collectgarbage("collect")
    local w0 = os.clock()
    local n = 0
    local limit = W == 1 and math.huge or opts.cell_seconds -- W = 1 is every other row's reference
    for seed = 1, opts.runs do
      local code, told, hit, early = run_budget(c, W, seed)
      n = seed
      r.test[seed], r.hit[seed] = c10[code + 1], hit
      r.told = r.told + told
      if early then r.final = r.final + 1 end
      if hit <= opts.budget then r.reach = r.reach + 1 end
      if W == 1 then
        r.code = r.code or {}
        r.code[seed], r.ntold = code, r.ntold or {}
        r.ntold[seed] = told
        r.testn[seed] = c10[code + 1]
      else
        r.testn[seed] = c10[run_trials(c, W, seed, base.ntold[seed]) + 1]
      end
      if os.clock() - w0 > limit then break end
    end
    r.runs, r.cpu = n, os.clock() - w0
    if W == 1 then base = r end
    r.base = base
    rows[#rows + 1] = r
    io.stderr:write(("  %s W=%d: %d runs in %.1f s\n"):format(c.id, W, n, r.cpu))
  end
  if opts.checksum then
    -- bench/nb201.lua's checksum: chosen cells at the budget, then the chosen cells after
    -- 50 / 100 / 200 queries of a run of 200 queries without a budget
    local h = 0
    for seed = 1, base.runs do h = (h * 31 + base.code[seed] + 1) % 0x7fffffff end
    for seed = 1, base.runs do
      local out = {}
      simulate.run{ strategy = c.new(), space = space, evaluator = ev, workers = 1, trials = 200,
        rng = rng_of(seed), on_tell = function(t, _, best)
          if t.id == 50 or t.id == 100 or t.id == 200 then out[t.id] = best.metrics.code + 1 end
        end }
      h = (h * 31 + (out[50] or 0) * 7 + (out[100] or 0) * 3 + (out[200] or 0)) % 0x7fffffff
    end
    print(("%s, W = 1, %d runs: bench/nb201.lua checksum %d"):format(c.label, base.runs, h))
  end
end
if opts.checksum then print() end

local function fmt_time(t, W)
  if t == math.huge then return (">%g"):format(W == 1 and math.max(opts.horizon, opts.budget) or opts.budget) end
  return ("%.0f"):format(t)
end

print(("%-24s %4s %5s | %12s %6s | %12s %6s | %7s %6s %7s | %9s %7s"):format("strategy", "W", "runs",
  "(a) C10 test", "diff", "(b) C10 test", "diff", "(c) t", "reach", "speedup", "trials", "CPU s"))
for _, r in ipairs(rows) do
  local n, b = r.runs, r.base
  local ma, sa = stats(r.test, n)
  local mb, sb = stats(r.testn, n)
  local ba = stats(b.test, n)
  local bb = stats(b.testn, n)
  local med, bmed = median(r.hit, n), median(b.hit, n)
  local sp = "-"
  if med < math.huge and bmed < math.huge then sp = ("%.1fx"):format(bmed / med) end
  print(("%-24s %4d %5d | %12s %+6.2f | %12s %+6.2f | %7s %5.0f%% %7s | %9.0f %7.1f"):format(
    r.W == 1 and r.c.label or "", r.W, n, ("%.2f+-%.2f"):format(ma, sa), ma - ba, ("%.2f+-%.2f"):format(mb, sb),
    mb - bb, fmt_time(med, r.W), 100 * r.reach / n, sp, r.told / n, r.cpu))
end
print()
print("(a) same simulated wall budget; (b) same number of trials as W = 1 (per seed); diffs against W = 1 on")
print(("the same seeds. (c) t: median simulated seconds until the chosen cell's cifar10_test reaches the target " ..
  "(W = 1's runs go on to %g s; a run that does not reach it counts as infinite); reach: runs reaching it within " ..
  "the budget;"):format(math.max(opts.horizon, opts.budget)))
print(("speedup: W = 1's median / this one. trials: mean trials told by the budget per (a) run%s."):format(opts.full and
  "" or " (with W > 1 a run ends early once its chosen cell is final: the table's top signal)"))
