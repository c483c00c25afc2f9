-- nas.cli: nasrun's subcommands over a run folder.
--
--   nasrun report  RUN [--out FILE]
--   nasrun show    RUN
--   nasrun trials  RUN [--status S] [--sort METRIC] [--top K] [--csv|--json]
--   nasrun best    RUN [--json]
--   nasrun rescore RUN fitness.lua [--top K] [--report FILE]
--   nasrun export  RUN [--trial ID] [--class NAME] --to pytorch|json|dot DIR
--
-- Each subcommand lives in the module that does the work; it exports
-- `command(name, args, cli)` (args: the words after the subcommand's name)
-- and returns the process's exit status. A usage error is raised with
-- cli.usage_error (exit status 2); any other error exits with 1.
local M = {}

-- name -> module, help line
local commands = {
  report = { "nas.report", "write RUN/report.html: plots, trial table, best architecture" },
  show = { "nas.inspect", "summary of a run: header, counts, best trials" },
  trials = { "nas.inspect", "the trials table (filter, sort, CSV or JSON)" },
  best = { "nas.inspect", "the best trial: genotype, graph and metrics" },
  rescore = { "nas.inspect", "re-rank every stored trial under a new fitness function" },
  export = { "nas.export", "export a trial as PyTorch code + weights, JSON or Graphviz dot" },
}
M.commands = commands

-- nasrun NAME --help
local usage = {
  report = [[
usage: nasrun report RUN [--out FILE]
Writes RUN/report.html (or FILE): one self-contained page with the run's plots,
trial table and best architecture; prints its path. The store is only read, so
RUN may be a search that is still running. See docs/report.md.
]],
  show = [[
usage: nasrun show RUN
The run's header (space, strategy, seed, objectives), counts by status, wall
time and its best trials. See docs/cli.md.
]],
  trials = [[
usage: nasrun trials RUN [--status ok|failed|rejected] [--sort METRIC] [--asc|--desc]
                         [--top K] [--csv|--json]
The trials table: filtered by status, sorted by score or any metric (best first
by default), the first K; as CSV or a JSON array. See docs/cli.md.
]],
  best = [[
usage: nasrun best RUN [--json]
The best trial: genotype, metrics, graph (and the Pareto front of a
multi-objective run). See docs/cli.md.
]],
  rescore = [[
usage: nasrun rescore RUN fitness.lua [--top K] [--report FILE]
Re-ranks every stored trial under the fitness (and constraints, objectives) that
fitness.lua returns, without training; prints the new top K (10) beside the old
ranks and writes a report of it (RUN/rescore.html or FILE). See docs/cli.md.
]],
  export = [[
usage: nasrun export RUN [--trial ID] [--class NAME] --to pytorch|json|dot DIR
Exports a trial (the best by default) to DIR: pytorch writes model.py (one
torch.nn.Module) and weights.pt (read by torch.load; the retrained weights of
RUN/best when that is the trial) and a README; json the graph, genotype and
metrics; dot a Graphviz drawing. See docs/export.md.
]],
}

local USAGE = {}

-- Raises a usage error: printed as "nasrun NAME: msg", exit status 2.
function M.usage_error(msg)
  error(setmetatable({ msg = msg }, USAGE), 0)
end

-- Parses args against spec = { flag = "value"|"bool", ... } (flags without the
-- leading "--"). Returns options (name -> value or true) and the positional
-- words. Unknown flags and missing values are usage errors.
function M.parse(args, spec)
  local opts, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i + 1, #args do pos[#pos + 1] = args[j] end
      break
    end
    local name, inline = a:match("^%-%-([%w_-]+)=(.*)$")
    name = name or a:match("^%-%-([%w_-]+)$")
    if name then
      local kind = spec[name]
      if kind == nil then M.usage_error(("unknown option --%s"):format(name)) end
      if kind == "bool" then
        if inline then M.usage_error(("--%s takes no value"):format(name)) end
        opts[name] = true
      else
        local v = inline
        if v == nil then
          i = i + 1
          v = args[i]
          if v == nil then M.usage_error(("--%s needs a value"):format(name)) end
        end
        opts[name] = v
      end
    elseif a:sub(1, 1) == "-" and #a > 1 then
      M.usage_error(("unknown option %s"):format(a))
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

-- Checks that dir is a run folder (holds trials.db) and returns it without a
-- trailing slash; a clear usage error otherwise.
function M.run_dir(dir)
  if dir == nil or dir == "" then M.usage_error("a run folder is needed (the `out` of a search)") end
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end
  local f = io.open(dir .. "/trials.db", "rb")
  if not f then
    local d = io.open(dir, "rb")
    if not d then M.usage_error(("%s: no such folder"):format(dir)) end
    d:close()
    M.usage_error(("%s is not a run folder: it has no trials.db"):format(dir))
  end
  f:close()
  return dir
end

local function help(out)
  out:write("usage: nasrun COMMAND RUN [options]\ncommands:\n")
  local names = {}
  for k in pairs(commands) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do out:write(("  %-8s %s\n"):format(k, commands[k][2])) end
end

-- nasrun NAME args...: returns the exit status.
function M.main(name, ...)
  local args = { ... }
  local c = commands[name]
  if not c then
    help(io.stderr)
    return 2
  end
  for _, a in ipairs(args) do
    if a == "--help" or a == "-h" then
      io.stdout:write(usage[name])
      return 0
    end
  end
  local ok, res = pcall(function()
    return require(c[1]).command(name, args, M)
  end)
  if ok then return math.tointeger(res) or 0 end
  if getmetatable(res) == USAGE then
    io.stderr:write(("nasrun %s: %s\n"):format(name, res.msg))
    return 2
  end
  io.stderr:write(("nasrun %s: %s\n"):format(name, tostring(res)))
  return 1
end

return M
