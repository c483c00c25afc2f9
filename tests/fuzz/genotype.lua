-- The driver of fuzz_genotype: trials.db rows whose genotype and metrics
-- columns hold arbitrary JSON, read back and replayed as a resumed search does.
--
-- Input: byte 1 picks the space, byte 2 the strategy and the rows' statuses;
-- the rest, split at NUL bytes, is genotype JSON, metrics JSON, genotype JSON,
-- ... for up to 4 rows (ids 1..4, told in that order). For each input:
--  1. the rows are written with nas.store's own insert (a fresh trials table in
--     a run folder kept per space and strategy);
--  2. nas.search resumes that run folder (the real resume: nas.store reads the
--     rows back, each is told to the strategy) and runs two more trials with
--     an analytic evaluator;
--  3. each decoded genotype goes through the space directly: build, canonical,
--     decisions, key, mutate, neighbours.
-- Promises checked (fuzz.bug aborts, and libFuzzer keeps the input):
--  - no crash and no sanitizer report in the engine;
--  - writing the rows and reading them back (nas.store) never raises;
--  - the search resumes, or stops with an error naming the problem: never a
--    Lua runtime error inside nasrun's code ("attempt to index a number value");
--  - the space's function never fails on a stored genotype with anything but
--    "missing / out-of-domain decision" or a graph error (a decision's value
--    is checked against its domain before the space sees it).
-- NAS_FUZZ_VERBOSE=1 prints every rejection message.
local fuzz = ...
local nas = require "nas"
local store_mod = require "nas.store"
local json = require "nas.json"
local chooser = require "nas.chooser"

local verbose = os.getenv("NAS_FUZZ_VERBOSE") == "1"

local SPACES = { "chain", "cell", "mobilenet", "nb201", "mixed" }
-- The strategies that run without libtorch (reinforce needs its controller).
local STRATEGIES = { "random", "evolution", "local", "tpe", "bo", "grid", "hyperband", "asha", "progressive", "nsga2" }
local STATUS = { "ok", "ok", "failed", "rejected" }

-- nas.store creates a run folder with `mkdir -p` through os.execute on every
-- open; a fork of this process (libtorch, ASan) costs tens of milliseconds, so
-- for the folders made here (they exist after the first input) it is skipped.
local execute = os.execute
os.execute = function(cmd) -- luacheck: ignore 122 (the harness's own state)
  local dir = type(cmd) == "string" and cmd:match("^mkdir %-p '([^']*)'$")
  if dir and dir:sub(1, #fuzz.tmpdir + 1) == fuzz.tmpdir .. "/" then
    local f = io.open(dir .. "/trials.db", "rb")
    if f then
      f:close()
      return true, "exit", 0
    end
  end
  return execute(cmd)
end

local spaces = {}
for i, name in ipairs(SPACES) do spaces[i] = require("spaces." .. name) end

-- Messages of errors that escaped from code that should have named the problem.
local internal = {
  "attempt to ", "value out of range", "number has no integer representation",
  "bad argument #%d+ to '[^']+' %(%a+ expected",
  "invalid value %(at index", "stack overflow", "table index is ", "invalid order function",
}

local function check_message(what, msg, s)
  if type(msg) ~= "string" then msg = tostring(msg) end
  if msg == "" then fuzz.bug(what .. ": an error without a message") end
  for _, pat in ipairs(internal) do
    local a, b = msg:find(pat)
    -- (not when the words come from the input itself, echoed in a message)
    if a and not s:find(msg:sub(a, b), 1, true) then
      fuzz.bug(("%s: an internal error escaped: %s\n  for %q"):format(what, msg, s:sub(1, 300)))
    end
  end
  if verbose then io.stderr:write(what, ": ", msg, "\n") end
end

-- One run folder (and an open store on it) per space and strategy: a run folder
-- holds one search's fingerprint.
local stores = {}
local function store_for(si, ti)
  local key = si .. "_" .. ti
  local st = stores[key]
  if not st then
    local dir = fuzz.tmpdir .. "/" .. SPACES[si] .. "_" .. STRATEGIES[ti]
    st = { dir = dir, store = store_mod.open(dir) }
    st.store.conn:execute("PRAGMA synchronous = OFF")
    stores[key] = st
  end
  return st
end

-- An analytic evaluator: no training, a score from the graph alone.
local function evaluate(net)
  return { accuracy = (net:params() % 997) / 997, params = net:params() }
end

-- The space's function on genotype g in strict mode (what space:build does),
-- with the kind of failure that space:build folds into its message.
local function strict_run(space, g)
  local c = chooser.new(space.name, space._restrict, "strict", { g = g })
  return chooser.run(space.name, space._fn, space.opts, c)
end

local function exercise_space(space, g, s)
  if type(g) ~= "table" then
    local net, why = space:build(g)
    if net or type(why) ~= "string" then fuzz.bug("space:build accepted a genotype that is not a table") end
    return
  end
  local ok, kind, msg = strict_run(space, g)
  if not ok and kind ~= "genotype" and kind ~= "graph" then
    fuzz.bug(("space '%s' failed on a stored genotype with a %s error: %s\n  for %q"):format(space.name, kind,
      tostring(msg), s:sub(1, 300)))
  end
  local calls = {
    function() return space:canonical(g) end,
    function() return space:decisions(g) end,
    function() return space:key(g) end,
    function() return space:mutate(g, nas.rng(7)) end,
    function() return space:crossover(g, g, nas.rng(8)) end,
    function() return space:neighbours(g) end,
  }
  for i, f in ipairs(calls) do
    local okc, err = pcall(f)
    if not okc then check_message("space method " .. i, err, s) end
  end
end

return function(s)
  if #s < 2 then return end
  local b1, b2 = s:byte(1, 2)
  local si, ti = b1 % #SPACES + 1, b2 % #STRATEGIES + 1
  local space = spaces[si]
  local pieces = {}
  for piece in (s:sub(3) .. "\0"):gmatch("([^%z]*)%z") do pieces[#pieces + 1] = piece end
  local nrows = math.min(4, (#pieces + 1) // 2)

  -- 1. the rows, written as a search writes them
  local st = store_for(si, ti)
  local conn = st.store.conn
  assert(conn:execute("DELETE FROM trials"))
  assert(conn:execute("DELETE FROM running"))
  os.remove(st.dir .. "/search.log")
  for i = 1, nrows do
    local status = STATUS[(b2 >> (i + 1)) % #STATUS + 1]
    local t = { id = i, status = status, score = status == "ok" and i / 10 or nil,
                reason = status ~= "ok" and "stored" or nil, started = i, finished = i + 0.5, seconds = 0.5,
                seed = i, told = i, hash = ("%016x"):format(i) }
    local ok, err = pcall(st.store.insert, st.store, t, nil, pieces[2 * i - 1], pieces[2 * i] or "{}")
    if not ok then fuzz.bug("nas.store could not write a row: " .. tostring(err)) end
  end
  local ok, rows = pcall(st.store.trials, st.store, { order = "told" })
  if not ok then fuzz.bug("nas.store could not read its rows back: " .. tostring(rows)) end
  if #rows ~= nrows then fuzz.bug(("wrote %d rows, read %d back"):format(nrows, #rows)) end

  -- 2. the resume
  local strategy = require("strategies." .. STRATEGIES[ti]).new{}
  local okr, res = pcall(nas.search, {
    space = space, strategy = strategy, evaluate = evaluate, budget = { trials = nrows + 2 },
    seed = 1, out = st.dir, progress = false, log = false,
  })
  if not okr then check_message("resume", res, s) end

  -- 3. each stored genotype through the space
  for _, r in ipairs(rows) do exercise_space(space, r.genotype, s) end
  -- a genotype the decoder gives but the store would not have (not a table)
  local okd, g = pcall(json.decode, pieces[1] or "")
  if okd and type(g) ~= "table" then exercise_space(space, g, s) end
end
