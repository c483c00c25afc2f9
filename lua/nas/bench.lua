-- nas.bench: tabular benchmarks, answered from a table instead of training.
--
--   local ev = nas.bench.nb201{ path = "nb201.csv", path12 = "nb201_12epoch.csv" }
--   local r = nas.search{ space = require "spaces.nb201", strategy = ...,
--                         evaluate = ev, budget = { minutes = 200 } }   -- simulated minutes
--   print(r.best.metrics.cifar10_test)                                -- the 200-epoch test accuracy (%)
--   local m = ev:query(genotype)     -- the same metrics without a search; ev:clock() -> simulated seconds
--
-- NAS-Bench-201 (Dong & Yang, ICLR 2020): the 5^6 = 15,625 cells of spaces/cell.lua
-- (decisions edge_1_0 .. edge_3_2, ops none / skip_connect / nor_conv_1x1 /
-- nor_conv_3x3 / avg_pool_3x3). An evaluator's metrics for a genotype:
--   accuracy          the search signal in [0, 1] (default: 12-epoch CIFAR-10 validation accuracy / 100)
--   signal            the same in % ; signal_name names the column
--   cifar10_valid, cifar10_test, cifar100_valid, cifar100_test, imagenet16_valid, imagenet16_test
--                     the 200-epoch accuracies in % (as in the table), and every other numeric
--                     column of both files under its header name (cifar10_valid_12ep, ...)
--   params, flops     from the table (params_m, flops_m times 1e6; flops count multiply-adds)
--   train_s           simulated training seconds of the query: 12 epochs on the dataset's
--                     search split (CIFAR-10: 12 * train_s_per_epoch_cifar10 / 2, 25k of 50k images)
--   index, arch       the table's index and NB201 arch string; simulated = true
-- Each query advances the evaluator's simulated clock by train_s; nas.search uses
-- ev:clock() instead of the wall clock when the evaluator has one, so time budgets
-- count simulated training time. A fidelity { epochs = 12 | 200 } (ask's second value of a
-- multi-fidelity strategy, ctx.fidelity in nas.search) picks the 12- or 200-epoch columns
-- and cost (see "fidelities" below); nas.simulate runs W simulated workers on this clock.
--
-- Lookups are O(1): a genotype's cell code is the base-5 number of its six ops
-- (edge_1_0 most significant, op digits in the order above), 0 .. 15624, and
-- the table keeps one array per column indexed by code + 1.
local util = require "nas.util"

local M = {}

local OPS = { "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3" }
local EDGES = { "edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2" }
local DIGIT = {}
for i, op in ipairs(OPS) do DIGIT[op] = i - 1 end
M.OPS, M.EDGES, M.NCELLS = OPS, EDGES, 5 ^ 6 // 1

-- ---- encodings ------------------------------------------------------------------

-- Cell code 0..15624 of a genotype, or nil, reason.
-- (P1..P6[op]: the op's digit times its edge's place value, so a valid genotype's code is one sum.)
local P1, P2, P3, P4, P5, P6 = {}, {}, {}, {}, {}, {}
for op, d in pairs(DIGIT) do
  P1[op], P2[op], P3[op], P4[op], P5[op], P6[op] = d * 3125, d * 625, d * 125, d * 25, d * 5, d
end
local function code_of(g)
  local a, b, c, d, e, f = P1[g.edge_1_0], P2[g.edge_2_0], P3[g.edge_2_1], P4[g.edge_3_0], P5[g.edge_3_1],
                           P6[g.edge_3_2]
  if a and b and c and d and e and f then return a + b + c + d + e + f end
  c = 0
  for k = 1, 6 do
    local digit = DIGIT[g[EDGES[k]]]
    if not digit then
      local v = g[EDGES[k]]
      if v == nil then return nil, ("genotype misses decision '%s'"):format(EDGES[k]) end
      return nil, ("decision '%s' = %s is not an NB201 op"):format(EDGES[k], tostring(v))
    end
    c = c * 5 + digit
  end
  return c
end
M.nb201_code = code_of

-- The genotype of a cell code.
function M.nb201_genotype(code)
  if math.type(code) ~= "integer" or code < 0 or code >= M.NCELLS then
    error("bad argument #1 to 'nb201_genotype' (integer code 0..15624 expected)", 2)
  end
  local g = {}
  for k = 6, 1, -1 do
    g[EDGES[k]] = OPS[code % 5 + 1]
    code = code // 5
  end
  return g
end

local ARCH_PAT = "^|([%w_]+)~0|%+|([%w_]+)~0|([%w_]+)~1|%+|([%w_]+)~0|([%w_]+)~1|([%w_]+)~2|$"

-- Cell code of an NB201 arch string, or nil, reason.
local function code_of_arch(s)
  local ops = { s:match(ARCH_PAT) }
  if #ops ~= 6 then return nil, ("'%s' is not an NB201 arch string"):format(s) end
  local c = 0
  for k = 1, 6 do
    local d = DIGIT[ops[k]]
    if not d then return nil, ("unknown op '%s' in '%s'"):format(ops[k], s) end
    c = c * 5 + d
  end
  return c
end
M.nb201_code_of_arch = code_of_arch

function M.nb201_arch(code)
  local g = M.nb201_genotype(code)
  return ("|%s~0|+|%s~0|%s~1|+|%s~0|%s~1|%s~2|"):format(g.edge_1_0, g.edge_2_0, g.edge_2_1, g.edge_3_0,
    g.edge_3_1, g.edge_3_2)
end

-- ---- CSV tables -------------------------------------------------------------------

local function split(line)
  local out, n, pos = {}, 0, 1
  while true do
    local c = line:find(",", pos, true)
    n = n + 1
    if not c then
      out[n] = line:sub(pos)
      return out, n
    end
    out[n] = line:sub(pos, c - 1)
    pos = c + 1
  end
end

-- Reads one CSV into tab (columns indexed by code + 1). `need` lists columns
-- the file must have. Errors name the file and line.
local function read_csv(tab, path, need)
  local f, err = io.open(path, "rb")
  if not f then error(("nas.bench.nb201: cannot open %s (%s)"):format(path, tostring(err)), 0) end
  local data = f:read("a")
  f:close()
  local lineno, header, ncol, archcol = 0, nil, 0, nil
  local cols = {} -- position -> array (nil for arch and skipped columns)
  local seen = {}
  for line in data:gmatch("[^\n]*") do
    lineno = lineno + 1
    if line:sub(-1) == "\r" then line = line:sub(1, -2) end
    if line ~= "" then
      local fields, n = split(line)
      if not header then
        header, ncol = fields, n
        local pos = {}
        for i, name in ipairs(fields) do
          if name == "" then error(("%s:%d: empty column name (column %d)"):format(path, lineno, i), 0) end
          if pos[name] then error(("%s:%d: column '%s' appears twice"):format(path, lineno, name), 0) end
          pos[name] = i
        end
        for _, name in ipairs(need) do
          if not pos[name] then error(("%s:%d: missing column '%s'"):format(path, lineno, name), 0) end
        end
        archcol = pos.arch
        for i, name in ipairs(fields) do
          if i ~= archcol then
            if tab.cols[name] and name ~= "index" then
              error(("%s:%d: column '%s' is already read from another file"):format(path, lineno, name), 0)
            end
            if name == "index" and tab.cols.index then
              cols[i] = nil -- the second file's index is checked against the first
              tab._check_index = i
            else
              tab.cols[name] = tab.cols[name] or {}
              tab.names[#tab.names + 1] = name
              cols[i] = tab.cols[name]
            end
          end
        end
      else
        if n ~= ncol then
          error(("%s:%d: %d fields, the header has %d"):format(path, lineno, n, ncol), 0)
        end
        local code, why = code_of_arch(fields[archcol])
        if not code then error(("%s:%d: %s"):format(path, lineno, why), 0) end
        if seen[code] then
          error(("%s:%d: arch %s appears twice (also line %d)"):format(path, lineno, fields[archcol], seen[code]), 0)
        end
        seen[code] = lineno
        local k = code + 1
        for i = 1, n do
          local col = cols[i]
          if col then
            local v = tonumber(fields[i])
            if not v then
              error(("%s:%d: field '%s' is not a number ('%s')"):format(path, lineno, header[i], fields[i]), 0)
            end
            col[k] = v
          end
        end
        local ci = tab._check_index
        if ci then
          local v = tonumber(fields[ci])
          if tab.cols.index[k] == nil then
            error(("%s:%d: arch %s is not in the first file"):format(path, lineno, fields[archcol]), 0)
          end
          if v ~= tab.cols.index[k] then
            error(("%s:%d: index %s, the first file has %s for this arch"):format(path, lineno, fields[ci],
              tostring(tab.cols.index[k])), 0)
          end
        end
      end
    end
  end
  tab._check_index = nil
  if not header then error(("%s: empty file (a header line expected)"):format(path), 0) end
  local rows = 0
  for _ in pairs(seen) do rows = rows + 1 end
  return rows, seen
end

local cache = {}

-- The NB201 table of path (+ path12): { rows =, cols = {name -> array by code + 1},
-- names = {...}, codes = {code, ...} (in file order) }. Cached per pair of paths.
function M.nb201_table(path, path12)
  local key = path .. "\0" .. tostring(path12)
  if cache[key] then return cache[key] end
  local tab = { cols = {}, names = {}, codes = {} }
  local rows, seen = read_csv(tab, path, { "index", "arch", "cifar10_valid", "cifar10_test",
                                           "params_m", "flops_m", "train_s_per_epoch_cifar10" })
  tab.rows = rows
  for code in pairs(seen) do tab.codes[#tab.codes + 1] = code end
  table.sort(tab.codes, function(a, b) return seen[a] < seen[b] end)
  if path12 then
    local rows12, seen12 = read_csv(tab, path12, { "index", "arch" })
    if rows12 ~= rows then
      error(("nas.bench.nb201: %s has %d rows, %s has %d"):format(path12, rows12, path, rows), 0)
    end
    for code in pairs(seen) do
      if not seen12[code] then
        error(("nas.bench.nb201: %s misses arch %s (line %d of %s)"):format(path12, M.nb201_arch(code), seen[code],
          path), 0)
      end
    end
  end
  tab.arch = setmetatable({}, { __index = function(t, k)
    local s = M.nb201_arch(k - 1)
    rawset(t, k, s)
    return s
  end })
  cache[key] = tab
  return tab
end

-- ---- the evaluator ------------------------------------------------------------------

local DATASETS = {
  cifar10 = { signal = "cifar10_valid_12ep", cost = "train_s_per_epoch_cifar10", factor = 12 / 2,
              valid200 = "cifar10_valid" },
  cifar100 = { signal = "cifar100_valid_12ep", cost = "train_s_per_epoch_cifar10", factor = 12,
               valid200 = "cifar100_valid" },
  imagenet16 = { signal = "imagenet16_valid_12ep", cost = "train_s_per_epoch_imagenet16", factor = 12,
                 valid200 = "imagenet16_valid" },
}

local NB = {}
NB.__index = NB
NB.__name = "nas.bench.NB201"
NB.__tostring = function(self)
  return ("nas.bench.nb201{%s, signal = %s, %d rows}"):format(self.path, self.signal_name, self.table.rows)
end

-- nas.bench.nb201{ path =, path12 =, signal = "cifar10_valid_12ep", dataset = "cifar10" }
function M.nb201(opts)
  util.check_options(opts, { "path", "path12", "signal", "dataset" }, 1, "nb201", 2)
  if opts == nil or type(opts.path) ~= "string" then
    util.argerror(1, "nb201", "field 'path' (the nb201.csv file) expected", 2)
  end
  if opts.path12 ~= nil and type(opts.path12) ~= "string" then
    util.argerror(1, "nb201", "field 'path12' must be a file name", 2)
  end
  local dataset = opts.dataset or "cifar10"
  local ds = DATASETS[dataset]
  if not ds then util.argerror(1, "nb201", "dataset must be cifar10, cifar100 or imagenet16", 2) end
  local signal = opts.signal or ds.signal
  if type(signal) ~= "string" then util.argerror(1, "nb201", "field 'signal' must be a column name", 2) end
  local ok, tab = pcall(M.nb201_table, opts.path, opts.path12)
  if not ok then error(tab, 2) end
  if not tab.cols[signal] then
    local hint = signal:find("_12ep$") and not opts.path12 and " (12-epoch columns need path12)" or ""
    util.argerror(1, "nb201", ("signal column '%s' is not in the table%s"):format(signal, hint), 2)
  end
  if not tab.cols[ds.cost] then
    util.argerror(1, "nb201", ("the table has no '%s' column for the simulated time"):format(ds.cost), 2)
  end
  -- Simulated seconds per query, by code + 1.
  local cost, per_epoch = {}, tab.cols[ds.cost]
  for _, code in ipairs(tab.codes) do cost[code + 1] = per_epoch[code + 1] * ds.factor end
  return setmetatable({ path = opts.path, path12 = opts.path12, table = tab, signal_name = signal,
                        signal = tab.cols[signal], cost = cost, dataset = dataset, elapsed = 0.0,
                        queries = 0, _ds = ds }, NB)
end

-- Metrics of cell `code` (see the header), without touching the clock.
function NB:metrics(code)
  local k = code + 1
  local tab = self.table
  if not self.signal[k] then return nil, ("arch %s is not in %s"):format(M.nb201_arch(code), self.path) end
  local m = {}
  for _, name in ipairs(tab.names) do m[name] = tab.cols[name][k] end
  local s = self.signal[k]
  m.signal, m.signal_name, m.accuracy = s, self.signal_name, s / 100
  m.params = math.floor(m.params_m * 1e6 + 0.5)
  m.flops = math.floor(m.flops_m * 1e6 + 0.5)
  m.train_s = self.cost[k]
  m.index = math.tointeger(m.index) or m.index
  m.arch = tab.arch[k]
  m.code = code
  m.simulated = true
  return m
end

local function code_arg(x)
  if type(x) == "table" then return code_of(x) end
  if math.type(x) == "integer" then
    if x >= 0 and x < M.NCELLS then return x end
    return nil, "cell code out of range 0..15624"
  end
  if type(x) == "string" then return code_of_arch(x) end
  return nil, "genotype, arch string or cell code expected, got " .. type(x)
end

-- ---- fidelities ----------------------------------------------------------------------
-- The table has two training lengths, so the one fidelity it answers is epochs = 12 or
-- epochs = 200 (a multi-fidelity strategy's second ask value, e.g. strategies/asha.lua with
-- min_epochs = 12, max_epochs = 200 and 5 <= eta <= 16, whose rungs are exactly 12 and 200):
--   12 epochs    the metrics of a plain query (the evaluator's signal, its 12-epoch cost);
--   200 epochs   accuracy / signal = the dataset's 200-epoch validation column
--                (cifar10_valid, ...), signal_name naming it; train_s = 200 epochs on the
--                search split, or the 188 extra epochs when the fidelity has a `parent`
--                (a promotion continues the 12-epoch trial, the only lower rung).
-- metrics.epochs gives the length. Any other fidelity is nil, reason. Without a fidelity
-- nothing changes. The table's 200-epoch number is a straight 200-epoch run (its own
-- learning-rate schedule): a continued survivor is answered as if trained straight through.
local FID_EPOCHS = { [12] = true, [200] = true }

local function with_fidelity(self, m, code, f)
  if type(f) ~= "table" then return nil, "the fidelity must be a table" end
  local e = f.epochs
  if e == nil then
    local other = f.fraction ~= nil and "fraction" or f.budget ~= nil and "budget" or nil
    if other then return nil, ("nas.bench.nb201 answers epochs fidelities (12 or 200), not '%s'"):format(other) end
    return m -- bookkeeping only
  end
  if not FID_EPOCHS[e] then
    return nil, ("nas.bench.nb201 has results at 12 and 200 epochs only (fidelity epochs = %s)"):format(tostring(e))
  end
  m.epochs = math.tointeger(e)
  if e == 200 then
    local col = self.table.cols[self._ds.valid200]
    local s = col and col[code + 1]
    if not s then return nil, ("the table has no '%s' column for 200-epoch fidelities"):format(self._ds.valid200) end
    m.signal, m.signal_name, m.accuracy = s, self._ds.valid200, s / 100
    local per_epoch = self.cost[code + 1] / 12
    m.train_s = per_epoch * (f.parent ~= nil and 200 - 12 or 200)
  end
  return m
end

-- ev:answer(genotype | arch string | code [, fidelity]) -> metrics | nil, reason.
-- The metrics of a query (with the fidelity above), without touching the clock.
function NB:answer(x, fidelity)
  local code, why = code_arg(x)
  if not code then return nil, why end
  local m, err = self:metrics(code)
  if not m then return nil, err end
  if fidelity ~= nil then return with_fidelity(self, m, code, fidelity) end
  return m
end

-- ev:query(genotype | arch string | code [, fidelity]) -> metrics | nil, reason; advances the clock.
function NB:query(x, fidelity)
  local m, err = self:answer(x, fidelity)
  if not m then return nil, err end
  self.elapsed = self.elapsed + m.train_s
  self.queries = self.queries + 1
  return m
end

-- The evaluator contract of nas.search: the net is not needed, ctx.genotype is
-- (and ctx.fidelity, when the strategy gives one).
function NB:evaluate(_, ctx)
  local g = ctx and ctx.genotype
  if g == nil then
    return nil, "nas.bench.nb201 needs ctx.genotype (nas.search passes it; or call ev:query(genotype))"
  end
  return self:query(g, ctx.fidelity)
end

-- Simulated seconds spent by this evaluator's queries so far.
function NB:clock() return self.elapsed end

-- Back to zero simulated seconds (a fresh run on the same table).
function NB:reset()
  self.elapsed, self.queries = 0.0, 0
end

-- The cell with the best value of column `name` (default the 200-epoch cifar10_test): code, value.
function NB:best(name)
  local col = self.table.cols[name or "cifar10_test"]
  if not col then error(("best: no column '%s'"):format(tostring(name)), 2) end
  local bc, bv
  for _, code in ipairs(self.table.codes) do
    local v = col[code + 1]
    if not bv or v > bv then bc, bv = code, v end
  end
  return bc, bv
end

return M
