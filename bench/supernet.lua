-- bench/supernet.lua: one-shot search (DARTS, GDAS, SPOS, ENAS) on the cell space
-- against random cells, on Fashion-MNIST.
--
--   nasrun --threads 2 bench/supernet.lua [--methods darts,gdas,spos,enas] [--minutes 20] [--n 50]
--          [--seeds 3] [--cache runs/proxies_fmnist.json] [--darts_epochs 4] [--gdas_epochs 10]
--          [--spos_epochs 6] [--enas_epochs 6] [--spos_trials 200] [--guard none] [--order 1] [--seed 1]
--          [--derive nonzero|argmax|sample]   (darts, gdas; default: their own) [--warmup 0] (darts, gdas: epochs)
--          [--arch_lr 0] (darts, gdas; 0: their default 3e-4)
--          [--cells ARCH,ARCH] (cells, as arch strings, trained with the same recipe as extra rows)
--          [--epochs 1] [--fraction 0.2] (the recipe of the random and derived cells; bench/proxies.lua
--          with the same values fills the same cache)
--
-- 1. The random cells: cell i (1..n) is spaces/cell.lua's space:sample(nas.rng(1, i)),
--    trained with bench/cells.lua's recipe (--epochs (1) on --fraction (20 %) of the
--    training split, seed i) and scored on the 5000-image validation split. They come from the
--    cache that bench/proxies.lua fills (the same recipe); missing cells are
--    trained here and added to it.
-- 2. Each method searches the cell space's supernet (C = 8, N = 1, the net the
--    random cells use) on the training split only (the validation split is never
--    seen by a search), capped at --minutes of wall time (the methods' epochs are
--    sized to stay well inside it on 2 cores).
-- 3. The derived cell is trained with the same recipe under --seeds seeds
--    (1001, 1002, ...) and scored on the validation split; the table gives its
--    mean and worst accuracy next to the random cells' median, and the share of
--    random cells it beats.
local nas = require "nas"
local space = require "spaces.cell"
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local cells = dofile(here .. "/cells.lua")
local now = require("system").gettime

local opts = { methods = "darts,gdas,spos,enas", minutes = 20, n = 50, seeds = 3, cache = "runs/proxies_fmnist.json",
               darts_epochs = 4, gdas_epochs = 10, spos_epochs = 6, enas_epochs = 6, spos_trials = 200,
               guard = "none", order = 1, seed = 1, derive = "", warmup = 0, arch_lr = 0, cells = "",
               epochs = 1, fraction = 0.2 }
do
  local i = 1
  while arg and arg[i] do
    local a = arg[i]
    local k = a:match("^%-%-(.+)$")
    if not k or opts[k] == nil or arg[i + 1] == nil then error("supernet.lua: bad option " .. a, 0) end
    local v = arg[i + 1]
    opts[k] = type(opts[k]) == "number" and assert(tonumber(v), "supernet.lua: --" .. k .. " needs a number") or v
    i = i + 2
  end
end

local data = cells.data()
local recipe = cells.recipe(opts.epochs, opts.fraction)
local key = cells.key(recipe, 64, 1)
local cache = cells.load(opts.cache)
cache.runs[key] = cache.runs[key] or {}
local runs = cache.runs[key]

print(("one-shot search vs random cells: Fashion-MNIST, %d thread(s), recipe %s, %d random cells"):format(
  nas.threads(), key, opts.n))

-- ---- 1. random cells ---------------------------------------------------------------
local rand = {}
for i = 1, math.tointeger(opts.n) do
  local g = space:sample(nas.rng(1, i))
  local arch = space.arch_string(g)
  local r = runs[arch]
  if not (r and r.accuracy) then
    local tr = cells.train(space:build(g), data, recipe, i)
    r = r or { i = i, proxy = {}, fail = {}, time = {} }
    r.accuracy, r.train_s, r.error = tr.accuracy, tr.train_s, tr.error
    runs[arch] = r
    cells.save(cache, opts.cache)
    print(("  random cell %3d %-85s %s"):format(i, arch, r.accuracy and ("%.4f"):format(r.accuracy) or r.error))
    io.stdout:flush()
  end
  if r.accuracy then rand[#rand + 1] = r.accuracy end
end
table.sort(rand)
local function median(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return 0.5 * (t[n // 2] + t[n // 2 + 1])
end
local med = median(rand)
print(("random cells: %d trained, validation accuracy min %.4f, median %.4f, max %.4f"):format(#rand, rand[1],
  med, rand[#rand]))

-- ---- 2. the searches ---------------------------------------------------------------------
local cap = opts.minutes * 60
local function progress(name)
  local last, t0 = 0, now()
  return function(p)
    local t = now() - t0
    if t - last < 30 and not (p.phase == "search" or p.phase == "final" or p.phase == "controller") then return end
    last = t
    print(("  %-5s %6.0fs %s step %s/%s loss %.3f%s"):format(name, t, p.phase or "train", tostring(p.step),
      tostring(p.total_steps), p.loss or 0 / 0,
      (p.arch_loss and (" arch_loss %.3f"):format(p.arch_loss) or "") ..
      (p.reward and (" reward %.3f"):format(p.reward) or "") .. (p.best and (" best %.4f"):format(p.best) or "")))
    io.stdout:flush()
  end
end

local runners = {
  darts = function()
    return require("strategies.darts").run{ space = space, data = data, epochs = math.tointeger(opts.darts_epochs),
      seed = math.tointeger(opts.seed), order = math.tointeger(opts.order), max_seconds = cap,
      warmup = math.tointeger(opts.warmup), arch_lr = opts.arch_lr > 0 and opts.arch_lr or nil,
      guard = opts.guard ~= "none" and opts.guard or nil, derive = opts.derive ~= "" and opts.derive or nil,
      progress = progress("darts") }
  end,
  gdas = function()
    return require("strategies.gdas").run{ space = space, data = data, epochs = math.tointeger(opts.gdas_epochs),
      seed = math.tointeger(opts.seed), max_seconds = cap, warmup = math.tointeger(opts.warmup),
      arch_lr = opts.arch_lr > 0 and opts.arch_lr or nil, derive = opts.derive ~= "" and opts.derive or nil,
      progress = progress("gdas") }
  end,
  spos = function()
    return require("strategies.spos").run{ space = space, data = data, epochs = math.tointeger(opts.spos_epochs),
      seed = math.tointeger(opts.seed), trials = math.tointeger(opts.spos_trials), max_seconds = cap * 0.75,
      search_minutes = opts.minutes * 0.25, progress = progress("spos") }
  end,
  enas = function()
    return require("strategies.enas").run{ space = space, data = data, epochs = math.tointeger(opts.enas_epochs),
      seed = math.tointeger(opts.seed), max_seconds = cap * 0.9, progress = progress("enas") }
  end,
}

local rows = {}
-- the cell g trained with the random cells' recipe under --seeds seeds: a row of the table
local function retrain(name, g, secs)
  local accs = {}
  for s = 1, math.tointeger(opts.seeds) do
    local tr = cells.train(space:build(g), data, recipe, 1000 + s)
    accs[#accs + 1] = tr.accuracy or 0
    print(("  retrain seed %d: %s"):format(1000 + s, tr.accuracy and ("%.4f"):format(tr.accuracy) or tr.error))
    io.stdout:flush()
  end
  local mean, worst = 0, math.huge
  for _, a in ipairs(accs) do mean, worst = mean + a / #accs, math.min(worst, a) end
  local beaten = 0
  for _, a in ipairs(rand) do if mean > a then beaten = beaten + 1 end end
  rows[#rows + 1] = { name = name, seconds = secs, arch = space.arch_string(g), mean = mean, worst = worst,
                      beaten = beaten }
end

for name in opts.methods:gmatch("[^,]+") do
  local run = runners[name]
  if not run then error("supernet.lua: unknown method " .. name, 0) end
  print(("%s: searching (cap %g min)"):format(name, opts.minutes))
  io.stdout:flush()
  local t0 = now()
  local r, msg = run()
  local secs = now() - t0
  if not r then
    print(("%s: failed: %s"):format(name, tostring(msg)))
    rows[#rows + 1] = { name = name, seconds = secs, error = msg }
  else
    if r.supernet then r.supernet.model:release() end
    local arch = space.arch_string(r.genotype)
    print(("%s: %.0f s, derived %s%s"):format(name, secs, arch, r.stopped and (" (" .. r.stopped .. ")") or ""))
    if r.candidates then
      local worst = math.huge
      for _, x in ipairs(r.scores) do worst = math.min(worst, x) end
      print(("  %s: %d candidates scored with the shared weights, best %.4f, worst %.4f"):format(
        r.derive and ("derive " .. r.derive) or "final choice",
        #r.candidates, r.score, worst))
    end
    if r.probs then
      for _, dec in ipairs(r.supernet.decisions) do
        local p = {}
        for k, v in ipairs(r.probs[dec.name]) do p[k] = ("%s %.3f"):format(dec.values[k], v) end
        print(("  %s: %s"):format(dec.name, table.concat(p, ", ")))
      end
    end
    retrain(name, r.genotype, secs)
    -- derive = "sample" (darts, gdas): the argmax cell of the same search, as a
    -- control; enas: the policy's most likely cell
    if r.candidates and space.arch_string(r.candidates[1]) ~= arch then
      local what = r.derive and "argmax" or "mode"
      print(("  control: the %s cell of the same search %s"):format(what, space.arch_string(r.candidates[1])))
      retrain(name .. "/" .. what, r.candidates[1], secs)
    end
  end
end
for cell in opts.cells:gmatch("[^,]+") do
  print(("cell %s"):format(cell))
  retrain("cell", space.from_arch_string(cell), 0)
end

-- ---- 3. the table -----------------------------------------------------------------------
print()
print(("derived cells, trained with the random cells' recipe (%d seeds); random median %.4f over %d cells"):format(
  math.tointeger(opts.seeds), med, #rand))
print(("%-11s %8s %8s %8s %9s %6s  %s"):format("method", "search s", "mean", "worst", "beats", "> med", "cell"))
for _, r in ipairs(rows) do
  if r.error then
    print(("%-11s %8.0f  failed: %s"):format(r.name, r.seconds, r.error))
  else
    print(("%-11s %8.0f %8.4f %8.4f %4d/%-4d %6s  %s"):format(r.name, r.seconds, r.mean, r.worst, r.beaten, #rand,
      r.mean > med and "yes" or "NO", r.arch))
  end
end
