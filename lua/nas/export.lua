-- nas.export: one trial of a run folder as standalone PyTorch code with its
-- weights, as JSON, or as a Graphviz drawing.
--
--   nas.export("runs/fmnist", { to = "pytorch", dir = "exported" })              -- the best trial
--   nas.export("runs/fmnist", { trial = 17, to = "dot", dir = "exported" })
--   nasrun export RUN [--trial ID] [--class NAME] --to pytorch|json|dot DIR
--
-- to = "pytorch": DIR/model.py (one torch.nn.Module, only torch imported),
--   DIR/weights.pt (its state dict, for torch.load) and DIR/README.txt (the
--   Python that loads and runs it). The weights are the retrained model saved
--   in RUN/best when that is the exported trial (result.best:retrain{...} of a
--   search with `out` saves it there); for any other trial, or before a
--   retrain, they are freshly initialised (the trial's seed), untrained: the
--   result, the output and the README say so.
-- to = "json": DIR/graph.json (nas.net_from_json reads it back), DIR/genotype.json
--   and DIR/metrics.json (the trial's search metrics, and under "retrain" the
--   saved retrain's metrics when they are this trial's).
-- to = "dot": DIR/graph.dot, one box per node (op, attributes, output shape).
-- The best trial is nasrun best's: among the ok trials that are not repeats,
-- the largest fidelity, then the highest score. See docs/export.md.
local util = require "nas.util"
local json = require "nas.json"
local store_mod = require "nas.store"
local netmod = require "nas.net"

local M = {}

local TO = { pytorch = true, json = true, dot = true }

local read_file = util.read_file

local function write_file(path, s)
  local f, why = io.open(path, "wb")
  if not f then error(("cannot write %s: %s"):format(path, tostring(why)), 0) end
  f:write(s)
  local ok, err = f:close()
  if not ok then error(("cannot write %s: %s"):format(path, tostring(err)), 0) end
end

-- A message without the "file:line: " of the Lua code that raised it.
local function bare(msg)
  return (tostring(msg):gsub("^[^:\n]+:%d+: ", ""):gsub("^trial store: LuaSQL: ", ""):gsub(" %(in: .*%)$", ""))
end

-- The run's trials, read only; fail(msg) on a folder that is not a run.
local function load_trials(dir, fail)
  if type(dir) ~= "string" or dir == "" then fail("a run folder is needed (the `out` of a search)") end
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end
  if not read_file(dir .. "/trials.db") then
    if not io.open(dir, "rb") then fail(("%s: no such folder"):format(dir)) end
    fail(("%s is not a run folder: it has no trials.db"):format(dir))
  end
  local ok, st = pcall(store_mod.open, dir, { readonly = true })
  if not ok then fail(bare(st)) end
  local okr, trials = pcall(st.trials, st, { graph = true })
  st:close()
  if not okr then fail(("%s/trials.db cannot be read as a trial store (%s)"):format(dir, bare(trials))) end
  return dir, trials
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

-- The best trial (as nasrun best ranks them), or nil.
local function best_of(trials)
  local ranks_before = require("nas.fidelity").ranks_before
  local best
  for _, t in ipairs(trials) do
    if t.status == "ok" and not t.cached_from and finite(t.score) and (best == nil or ranks_before(t, best)) then
      best = t
    end
  end
  return best
end

-- RUN/best/metrics.json as a table, or nil.
local function saved_best(dir)
  local s = read_file(dir .. "/best/metrics.json")
  if not s then return nil end
  local ok, m = pcall(json.decode, s)
  if ok and type(m) == "table" then return m end
  return nil
end

local export_keys = { "trial", "to", "dir", "class" }

-- What to export: the run folder, the trial, its net, the saved retrain
-- (when it is this trial's) and the input normalisation of the run's data.
local function resolve(run_dir, opts, fail)
  local dir, trials = load_trials(run_dir, fail)
  local t
  if opts.trial ~= nil then
    for _, x in ipairs(trials) do
      if x.id == opts.trial then t = x end
    end
    if not t then
      fail(("%s has no trial #%s (it has %d trials%s)"):format(dir, tostring(opts.trial), #trials,
        #trials > 0 and (", #%d to #%d"):format(trials[1].id, trials[#trials].id) or ""))
    end
  else
    t = best_of(trials)
    if not t then fail(("%s has no ok trial yet: nothing to export (give --trial ID for another)"):format(dir)) end
  end
  if type(t.graph) ~= "string" then
    fail(("trial #%d has no stored graph (status %s%s): nothing to export"):format(t.id, tostring(t.status),
      t.reason and (": " .. t.reason) or ""))
  end
  local okn, net = pcall(netmod.from_json, t.graph)
  if not okn then fail(("trial #%d's graph cannot be read: %s"):format(t.id, bare(net))) end
  local saved = saved_best(dir)
  local mine = saved and saved.trial == t.id and saved.hash == tostring(net:hash())
               and read_file(dir .. "/best/weights") ~= nil
  local norm = saved and type(saved.input_norm) == "table" and type(saved.input_norm.mean) == "table"
               and saved.input_norm or nil
  return { dir = dir, trial = t, net = net, saved = mine and saved or nil, other_saved = not mine and saved or nil,
           norm = norm }
end

local function genotype_text(g)
  local ok, s = pcall(json.encode, g or {})
  return ok and s or "?"
end

local function to_pytorch(r, out_dir, class)
  local t = r.trial
  local model = require("nas.model").new(r.net, { seed = t.seed or 0, memfmt = "nchw" })
  local notes, weights = {}, "initial"
  notes[#notes + 1] = ("Trial #%d of the run %s, genotype %s."):format(t.id, r.dir, genotype_text(t.genotype))
  if r.saved then
    local ok, err = pcall(model.load, model, r.dir .. "/best/weights")
    if not ok then
      model:release()
      error(("cannot read %s/best/weights: %s"):format(r.dir, bare(err)), 0)
    end
    local m = r.saved
    weights = "retrained"
    local rc = type(m.recipe) == "table" and m.recipe or {}
    local n, unit = rc.steps or m.epochs, rc.steps and "step" or "epoch"
    notes[#notes + 1] = ("weights.pt: the retrained model saved in %s/best (test accuracy %s after %s %s%s)."):format(
      r.dir, type(m.test_accuracy) == "number" and ("%.4f"):format(m.test_accuracy) or "?", tostring(n or "?"), unit,
      n == 1 and "" or "s")
  else
    local why = r.other_saved and ("%s/best holds trial #%s's retrain"):format(r.dir, tostring(r.other_saved.trial))
                or ("%s has no best/ (no retrain saved yet)"):format(r.dir)
    notes[#notes + 1] = ("weights.pt: FRESHLY INITIALISED weights (seed %d), NOT TRAINED: %s. Only the best " ..
      "trial's retrain, result.best:retrain{...} in a search with `out`, saves trained weights; train this " ..
      "model before using it."):format(t.seed or 0, why)
  end
  local header = ("trial #%d of %s; weights: %s"):format(t.id, r.dir,
    weights == "retrained" and "retrained (RUN/best)" or "freshly initialised, not trained")
  local ok, res = pcall(model.export, model, { dir = out_dir, to = "pytorch", class = class, norm = r.norm,
                                               notes = notes, header = header })
  model:release()
  if not ok then error(bare(res), 0) end
  return { files = res.files, weights = weights, notes = notes, class = res.class }
end

local function to_json(r, out_dir)
  local t = r.trial
  store_mod.mkdir(out_dir)
  write_file(out_dir .. "/graph.json", r.net:to_json() .. "\n")
  write_file(out_dir .. "/genotype.json", json.encode(t.genotype or {}) .. "\n")
  local m = {
    trial = t.id, status = t.status, score = t.score, seed = t.seed, reason = t.reason,
    cached_from = t.cached_from, metrics = t.metrics, params = r.net:params(), macs = r.net:flops(),
    hash = tostring(r.net:hash()), retrain = r.saved,
  }
  write_file(out_dir .. "/metrics.json", json.encode(m) .. "\n")
  return { files = { "graph.json", "genotype.json", "metrics.json" } }
end

local function to_dot(r, out_dir)
  store_mod.mkdir(out_dir)
  local dot = require("nas.report_graph").dot_text(r.net)
  write_file(out_dir .. "/graph.dot", dot)
  return { files = { "graph.dot" } }
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Exports with fail(msg) for the caller's errors (a bad run folder or trial).
local function export(run_dir, opts, fail)
  local r = resolve(run_dir, opts, fail)
  local f = io.open(opts.dir, "rb")
  if f then
    f:close()
    if not os.execute("test -d " .. shell_quote(opts.dir)) then
      fail(("%s exists and is not a folder"):format(opts.dir))
    end
  end
  local res
  if opts.to == "pytorch" then res = to_pytorch(r, opts.dir, opts.class or "Net")
  elseif opts.to == "json" then res = to_json(r, opts.dir)
  else res = to_dot(r, opts.dir) end
  res.trial, res.dir, res.to, res.run = r.trial.id, opts.dir, opts.to, r.dir
  return res
end

-- nas.export(run_dir, { to = "pytorch"|"json"|"dot", dir = DIR [, trial = id, class = "Net"] })
--   -> { trial =, dir =, to =, files = {...} [, weights = "retrained"|"initial", notes = {...}] }
-- A bad run folder, an unknown trial or a trial without graph raise an error
-- at the caller's line.
function M.run(run_dir, opts)
  util.check_options(opts, export_keys, 2, "export", 2)
  if opts == nil then util.argerror(2, "export", "options { to =, dir = } expected", 2) end
  if not TO[opts.to] then
    util.argerror(2, "export", ("field 'to' must be \"pytorch\", \"json\" or \"dot\", got %s"):format(
      tostring(opts.to)), 2)
  end
  if type(opts.dir) ~= "string" or opts.dir == "" then
    util.argerror(2, "export", "field 'dir' (the folder to write) is required", 2)
  end
  if opts.trial ~= nil and math.type(opts.trial) ~= "integer" then
    util.argerror(2, "export", "field 'trial' must be a trial id (an integer)", 2)
  end
  local FAIL = {}
  local ok, res = pcall(export, run_dir, opts, function(msg) error(setmetatable({ msg = msg }, FAIL), 0) end)
  if not ok then error(getmetatable(res) == FAIL and res.msg or bare(res), 2) end
  return res
end

local USAGE = "nasrun export RUN [--trial ID] [--class NAME] --to pytorch|json|dot DIR"

-- nasrun export RUN [--trial ID] [--class NAME] --to pytorch|json|dot DIR
function M.command(_, args, cli)
  local o, pos = cli.parse(args, { trial = "value", to = "value", class = "value" })
  if #pos < 2 then cli.usage_error(("a run folder and an output folder are needed (usage: %s)"):format(USAGE)) end
  if #pos > 2 then cli.usage_error(("unexpected argument '%s' (usage: %s)"):format(pos[3], USAGE)) end
  if o.to == nil then cli.usage_error(("--to is needed: pytorch, json or dot (usage: %s)"):format(USAGE)) end
  if not TO[o.to] then cli.usage_error(("unknown --to '%s': pytorch, json or dot"):format(o.to)) end
  local trial
  if o.trial ~= nil then
    trial = math.tointeger(tonumber(o.trial))
    if not trial or not o.trial:match("^%d+$") then
      cli.usage_error(("--trial needs a trial id (a whole number), got '%s'"):format(o.trial))
    end
  end
  if o.class ~= nil and not o.class:match("^[%a_][%w_]*$") then
    cli.usage_error(("--class needs a Python identifier, got '%s'"):format(o.class))
  end
  local res = export(pos[1], { trial = trial, to = o.to, dir = pos[2], class = o.class }, cli.usage_error)
  io.stdout:write(("exported trial #%d of %s to %s: %s\n"):format(res.trial, res.run, res.dir,
                                                                  table.concat(res.files, ", ")))
  if res.weights == "retrained" then
    io.stdout:write(("weights: the retrained model of %s/best\n"):format(res.run))
  elseif res.weights == "initial" then
    io.stdout:write(("weights: freshly initialised, NOT TRAINED (%s)\n"):format(
      res.notes[2]:match("NOT TRAINED: ([^.]*)") or "no saved retrain of this trial"))
  end
  return 0
end

return M
