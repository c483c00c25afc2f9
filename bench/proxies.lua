-- bench/proxies.lua: zero-cost proxies against real training on Fashion-MNIST.
--
--   nasrun bench/proxies.lua [--n 50] [--minutes 0] [--epochs 1] [--fraction 0.2] [--batch 64]
--                            [--seed 1] [--threads 0] [--cache runs/proxies_fmnist.json] [--report 0]
--                            [--offset 0] [--compare other_cache.json] [--time 0] [--from 1]
--
-- Samples cells of spaces/cell.lua (defaults: C = 8, N = 1, 1x28x28): cell i is
-- space:sample(nas.rng(seed, i)), so a larger --n extends the same list. Each
-- cell is trained with one recipe for all (nas.train's defaults: SGD lr 0.05,
-- momentum 0.9, cosine, batch 128; --epochs on --fraction of the training split,
-- seeded) and scored on the 5000-image validation split carved from the
-- training files (seed 1). Every proxy is computed on the untrained model the
-- training starts from (same seed), on one batch of --batch training images.
-- Results go to the cache file after every cell (JSON, keyed by recipe and
-- architecture), so a run can be stopped and resumed or extended. --minutes
-- stops sampling new cells after that much wall time (0 = no limit); --report 1
-- trains nothing and reports on the cells of 1..n already in the cache. --offset k
-- trains (and initialises) cell i with seed i + k instead of i; --compare names the
-- cache of a run with another offset: the report then adds the test-retest rho of
-- validation accuracy between the two seeds over the cells both have (a ceiling for
-- any proxy's rho against this noisy ground truth). --time k only times each proxy
-- on cells 1..k (model built once, median of 3 calls per cell; batch --batch) and exits.
-- --from k trains cells k..n only (the cache merges on save, so two runs with
-- different --from may share a cache; then --report 1 over 1..n).
--
-- Prints Spearman's rho of each proxy against validation accuracy over the
-- cells done, next to the published rho (Abdelfattah et al. 2021, NAS-Bench-201
-- CIFAR-10, all 15,625 cells, 200 epochs; params: CIFAR-100). A proxy that is
-- not finite for a cell (naswot: singular kernel; jacob_cov: a net that ignores
-- its input, e.g. a cell whose edges are all "none") ranks that cell last.
local nas = require "nas"
local space = require "spaces.cell"
local json = require "nas.json"

local opts = { n = 50, minutes = 0, epochs = 1, fraction = 0.2, batch = 64, seed = 1, threads = 0,
               cache = "runs/proxies_fmnist.json", report = 0, offset = 0, compare = "", time = 0, from = 1 }
do
  local i = 1
  while arg and arg[i] do
    local a = arg[i]
    local k = a:match("^%-%-(.+)$")
    if not k or opts[k] == nil or arg[i + 1] == nil then error("proxies.lua: bad option " .. a, 0) end
    local v = arg[i + 1]
    opts[k] = type(opts[k]) == "number" and assert(tonumber(v), "proxies.lua: --" .. k .. " needs a number") or v
    i = i + 2
  end
end
if opts.threads > 0 then nas.threads(math.tointeger(opts.threads)) end

local names = require("nas.proxies").names
local published = { synflow = 0.74, jacob_cov = 0.73, snip = 0.60, grad_norm = 0.59, fisher = 0.36, params = 0.73 }
local published_note = { naswot = "-", flops = "-", params = "NB201 CIFAR-100 (Abdelfattah et al. 2021)" }

local now = require("system").gettime
local cells_mod = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/cells.lua")
local recipe = cells_mod.recipe(opts.epochs, opts.fraction)
local key = cells_mod.key(recipe, opts.batch, opts.seed, opts.offset)

if opts.time > 0 then
  local core = require "nas.core"
  local data = nas.data.fashion_mnist{ valid = 5000, seed = 1 }
  local view = data.train:subset(math.tointeger(opts.batch), math.tointeger(opts.seed))
  local med = require("nas.proxies").names
  local per = {}
  for i = 1, math.tointeger(opts.time) do
    local net = space:build(space:sample(nas.rng(opts.seed, i)))
    local m = core.model_new(net:graph(), { seed = i })
    for _, name in ipairs(med) do
      local t = {}
      for r = 1, 3 do
        local t0 = now()
        core.proxy(m, name, view, 0, math.tointeger(opts.batch))
        t[r] = now() - t0
      end
      table.sort(t)
      per[name] = per[name] or {}
      table.insert(per[name], t[2])
    end
    m:release()
  end
  print(("proxy times, %d cells of spaces/cell.lua (C = 8, N = 1), batch %d Fashion-MNIST, %d thread(s): "
    .. "median over cells of the median of 3 calls, and the slowest cell"):format(opts.time, opts.batch, nas.threads()))
  for _, name in ipairs(med) do
    table.sort(per[name])
    print(("  %-10s median %.3f s   max %.3f s"):format(name, per[name][(#per[name] + 1) // 2], per[name][#per[name]]))
  end
  os.exit(0)
end

-- ---- the cache ----------------------------------------------------------------
local cache = cells_mod.load(opts.cache)
cache.runs[key] = cache.runs[key] or {}
local runs = cache.runs[key]
local function save() cells_mod.save(cache, opts.cache) end

-- ---- run ---------------------------------------------------------------------
local data = cells_mod.data()
local batch = { data = data, size = opts.batch, seed = opts.seed }
print(("proxies vs training: %s, %d threads, cache %s (%d cells cached)"):format(key, nas.threads(), opts.cache,
  (function() local c = 0 for _ in pairs(runs) do c = c + 1 end return c end)()))

local t_start = now()
local cells, ptime, pcount, train_total = {}, {}, {}, 0
for i = math.tointeger(opts.from), math.tointeger(opts.n) do
  if opts.minutes > 0 and now() - t_start > opts.minutes * 60 then
    print(("stopping at %d cells: --minutes %g reached"):format(i - 1, opts.minutes))
    break
  end
  local g = space:sample(nas.rng(opts.seed, i))
  local arch = space.arch_string(g)
  local r = runs[arch]
  if not r and opts.report == 0 then
    local net = space:build(g)
    r = { i = i, params = net:params(), flops = net:flops(), proxy = {}, fail = {}, time = {} }
    for _, name in ipairs(names) do
      local t0 = now()
      local s, why = nas.proxy(net, batch, name, { seed = i + opts.offset })
      r.time[name] = now() - t0
      if s then r.proxy[name] = s else r.fail[name] = why end
    end
    local tr = cells_mod.train(net, data, recipe, i + opts.offset)
    r.accuracy, r.train_s, r.error = tr.accuracy, tr.train_s, tr.error
    runs[arch] = r
    save()
    train_total = train_total + (r.train_s or 0)
    local pt = {}
    for _, name in ipairs(names) do pt[#pt + 1] = ("%s %.2f"):format(name, r.time[name]) end
    print(("[%3d] %-85s acc %s  train %.1fs  proxies s: %s"):format(i, arch, r.accuracy and ("%.4f"):format(r.accuracy)
      or "failed", r.train_s or 0, table.concat(pt, " ")))
    io.stdout:flush()
  end
  if r and r.accuracy then
    r.arch = arch
    cells[#cells + 1] = r
    for name, t in pairs(r.time or {}) do
      ptime[name] = (ptime[name] or 0) + t
      pcount[name] = (pcount[name] or 0) + 1
    end
  end
end

-- ---- Spearman's rho ---------------------------------------------------------------
-- Ranks with ties averaged; nil / non-finite values rank below every finite one.
local function ranks(v)
  local idx = {}
  for i = 1, #v do idx[i] = i end
  local function val(i)
    local x = v[i]
    if x == nil or x ~= x or x == math.huge or x == -math.huge then return -math.huge end
    return x
  end
  table.sort(idx, function(a, b) return val(a) < val(b) end)
  local r, i = {}, 1
  while i <= #idx do
    local j = i
    while j < #idx and val(idx[j + 1]) == val(idx[i]) do j = j + 1 end
    for k = i, j do r[idx[k]] = (i + j) / 2 end
    i = j + 1
  end
  return r
end

local function pearson(a, b)
  local n, ma, mb = #a, 0, 0
  for i = 1, n do ma, mb = ma + a[i] / n, mb + b[i] / n end
  local sab, saa, sbb = 0, 0, 0
  for i = 1, n do
    sab = sab + (a[i] - ma) * (b[i] - mb)
    saa = saa + (a[i] - ma) ^ 2
    sbb = sbb + (b[i] - mb) ^ 2
  end
  if saa == 0 or sbb == 0 then return 0 / 0 end
  return sab / math.sqrt(saa * sbb)
end

local function spearman(x, y) return pearson(ranks(x), ranks(y)) end

local acc = {}
for i, r in ipairs(cells) do acc[i] = r.accuracy end
local accs = {}
for i, a in ipairs(acc) do accs[i] = a end
table.sort(accs)
print()
print(("%d cells (Fashion-MNIST, %d epoch(s) on %g of the training split, validation on 5000 images); "
  .. "validation accuracy: min %.4f, median %.4f, max %.4f"):format(#cells, recipe.epochs, recipe.fraction,
  accs[1] or 0, accs[(#accs + 1) // 2] or 0, accs[#accs] or 0))
print(("%-10s %8s %10s %10s %8s   %s"):format("proxy", "rho", "published", "non-finite", "mean s", "published on"))
for _, name in ipairs(names) do
  local v, bad = {}, 0
  for i, r in ipairs(cells) do
    v[i] = r.proxy[name]
    if v[i] == nil then bad = bad + 1 end
  end
  print(("%-10s %8.3f %10s %10d %8.3f   %s"):format(name, spearman(v, acc),
    published[name] and ("%.2f"):format(published[name]) or "-", bad,
    (ptime[name] or 0) / math.max(1, pcount[name] or 0),
    published_note[name] or "NB201 CIFAR-10 (Abdelfattah et al. 2021)"))
end
if opts.compare ~= "" then
  local f = assert(io.open(opts.compare, "rb"))
  local other = json.decode(f:read("a"))
  f:close()
  local a, b, both = {}, {}, {}
  -- the other cache's runs of this recipe (any seed offset), not of another recipe
  local base, sets = cells_mod.key(recipe, opts.batch, opts.seed), {}
  for k, set in pairs(other.runs or {}) do
    if k:sub(1, #base) == base and (#k == #base or k:sub(#base + 1):match("^ o%-?%d+$")) then sets[#sets + 1] = set end
  end
  for _, r in ipairs(cells) do
    for _, set in ipairs(sets) do
      local o = set[r.arch]
      if o and o.accuracy then
        a[#a + 1], b[#b + 1], both[#both + 1] = r.accuracy, o.accuracy, r
        break
      end
    end
  end
  print(("test-retest: rho %.3f of validation accuracy between the two training seeds over %d cells"):format(
    spearman(a, b), #a))
  local mean = {}
  for i = 1, #a do mean[i] = (a[i] + b[i]) / 2 end
  print(("on those %d cells: rho against this run's accuracy / the other seed's / the mean of both"):format(#a))
  for _, name in ipairs(names) do
    local v = {}
    for i, r in ipairs(both) do v[i] = r.proxy[name] end
    print(("  %-10s %6.3f %6.3f %6.3f"):format(name, spearman(v, a), spearman(v, b), spearman(v, mean)))
  end
end
print(("wall %.1f s this run (training %.1f s)"):format(now() - t_start, train_total))
