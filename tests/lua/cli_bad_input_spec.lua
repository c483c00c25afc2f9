-- Bad input at nasrun's command line and at its subcommands (report, show,
-- trials, best, rescore, export): every option with a missing, non-numeric,
-- negative, huge or NaN value, unknown options, scripts that are missing,
-- unreadable or do not compile, run folders that are missing, foreign or
-- damaged. Each must end with a message naming the problem and exit status 2
-- for a usage error (1 for a failing script), never with a Lua traceback or a
-- crash.
local helpers = require "tests.lua.helpers"
local nasrun = helpers.nasrun
local function fresh_dir(name) return helpers.fresh_dir("cli", name) end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs nasrun with the given words (nil: nothing); returns exit status, stdout + stderr.
local function run(words, stdin)
  local parts = { nasrun() }
  for _, w in ipairs(words) do parts[#parts + 1] = quote(w) end
  local cmd = table.concat(parts, " ") .. " <" .. (stdin or "/dev/null") .. " 2>&1; echo EXIT=$?"
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("EXIT=(%d+)%s*$"))
  return code, out:gsub("EXIT=%d+%s*$", "")
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function plain(s) return (s:gsub("%p", "%%%0")) end

-- nas.cli.main in this process (what nasrun COMMAND ... runs, its return
-- value nasrun's exit status): status, what it wrote to stderr.
local function cli(words)
  local cli_mod = require "nas.cli"
  local err = {}
  local saved = io.stderr
  io.stderr = { write = function(_, ...) -- luacheck: ignore 122 (captured for the duration of the call)
    for _, x in ipairs{ ... } do err[#err + 1] = tostring(x) end
  end }
  local ok, code = pcall(cli_mod.main, table.unpack(words))
  io.stderr = saved -- luacheck: ignore 122
  if not ok then return nil, "raised: " .. tostring(code) end
  return code, table.concat(err)
end

-- Every problem found, as "command: what is wrong", so that one run lists them all.
-- runner: run (a real nasrun) or cli (nas.cli in this process).
local function checker(runner)
  runner = runner or run
  local problems = {}
  local self = {}
  function self.check(words, want_code, want_msg, stdin)
    local code, out = runner(words, stdin)
    local what = table.concat(words, " ")
    local function bad(why) problems[#problems + 1] = ("nasrun %s: %s; output: %s"):format(what, why, out) end
    if code == nil or code >= 128 then bad("crashed (exit status " .. tostring(code) .. ")")
    elseif code ~= want_code then bad(("exit status %d, expected %d"):format(code, want_code)) end
    if out:find("stack traceback", 1, true) then bad("a Lua traceback") end
    if out:find("RAN", 1, true) then bad("ran the script anyway") end
    for _, m in ipairs(type(want_msg) == "table" and want_msg or { want_msg }) do
      if not out:find(m, 1, true) then bad(("the message does not say '%s'"):format(m)) end
    end
    return out
  end
  function self.done() assert.are.same({}, problems) end
  return self
end

local RUN_SCRIPT = [[print("RAN")]]

describe("nasrun's command line", function()
  -- For each option: a missing value, a non-numeric, negative, fractional,
  -- huge and NaN one (each through a real nasrun: ~1 s apiece).
  it("rejects every bad value of --threads, --seed, --workers and --device with status 2, naming it", function()
    local c = checker()
    local bad = { "abc", "nan", "2.5", "99999999999999999999", "" }
    for _, opt in ipairs{ "--threads", "--seed", "--workers" } do
      c.check({ opt }, 2, opt)                        -- the value is missing
      for _, v in ipairs(bad) do c.check({ opt, v, "-e", RUN_SCRIPT }, 2, opt) end
      if opt ~= "--seed" then -- any 64-bit seed is a seed
        c.check({ opt, "-1", "-e", RUN_SCRIPT }, 2, opt)
        c.check({ opt, "5000", "-e", RUN_SCRIPT }, 2, opt)
      end
    end
    c.check({ "--seed", "-99999999999999999999", "-e", RUN_SCRIPT }, 2, "--seed")
    c.check({ "--threads", "-e", RUN_SCRIPT }, 2, "--threads") -- the next option taken as the value
    c.check({ "--device" }, 2, "--device")
    for _, v in ipairs{ "gpu", "cuda:abc", "cuda:-1", "cuda:99999999999999999999", "nan", "" } do
      c.check({ "--device", v, "-e", RUN_SCRIPT }, 2, { "unknown device '" .. v .. "'", "cpu, cuda or cuda:N" })
    end
    c.done()
  end)

  it("takes good values of those options (and any 64-bit seed)", function()
    for _, args in ipairs{ { "--threads", "1" }, { "--workers", "2" }, { "--device", "cuda:0" },
                           { "--seed", "-9223372036854775808" } } do
      local code, out = run{ args[1], args[2], "-e", "print('SEED', require('nas').config.seed)" }
      assert.are.equal(0, code, out)
      assert.matches("SEED\t", out)
    end
    local _, out = run{ "--seed", "-9223372036854775808", "-e", "print(require('nas').config.seed)" }
    assert.matches("^%-9223372036854775808", out)
  end)

  it("rejects a missing -e/-l argument and unknown options with status 2", function()
    local c = checker()
    c.check({ "-e" }, 2, "'-e' needs an argument")
    c.check({ "-l" }, 2, "'-l' needs an argument")
    for _, o in ipairs{ "--bogus", "-x", "--threads=2" } do
      c.check({ o, "-e", RUN_SCRIPT }, 2, "unrecognized option '" .. o .. "'")
    end
    c.done()
  end)

  it("names a script that is missing or unreadable (status 2), and a syntax error's file:line (status 1)", function()
    local dir = fresh_dir("scripts")
    os.execute("mkdir -p " .. quote(dir .. "/folder.lua"))
    write(dir .. "/syntax.lua", "local x = 1\nlocal y = = 2\nprint('RAN')\n")
    write(dir .. "/fails.lua", "local x = 1\nerror('the script fails here')\n")
    write(dir .. "/stdin.lua", "print(\n")
    local c = checker()
    c.check({ dir .. "/missing.lua" }, 2, { "cannot open " .. dir .. "/missing.lua", "No such file" })
    c.check({ dir .. "/folder.lua" }, 2, { "cannot read " .. dir .. "/folder.lua" })
    c.check({ dir .. "/syntax.lua" }, 1, { dir .. "/syntax.lua:2:", "near '='" })
    c.check({ "-" }, 1, "stdin:2:", dir .. "/stdin.lua")
    c.check({ "-e", "local = 1" }, 1, "(command line):1:")
    c.done()
    -- A script's own runtime error is its file:line (with a traceback, for the script's author).
    local code, out = run{ dir .. "/fails.lua" }
    assert.are.equal(1, code, out)
    assert.matches(plain(dir .. "/fails.lua:2: the script fails here"), out)
    code, out = run{ "-l", "no_such_module_here" }
    assert.are.equal(1, code, out)
    assert.matches("module 'no_such_module_here' not found", out)
  end)
end)

describe("nasrun's subcommands", function()
  local COMMANDS = { "report", "show", "trials", "best", "rescore", "export" }
  local run_dir
  -- A real run folder: a tiny analytic search, 6 trials.
  local function a_run()
    if not run_dir then
      run_dir = fresh_dir("run")
      local tiny = require "tests.lua.tiny_search"
      require("nas.search").run{ space = tiny.space(), strategy = tiny.strategy(), seed = 1, out = run_dir,
                                 log = false, evaluate = require("nas.evaluators").analytic(),
                                 budget = { trials = 6 } }
    end
    return run_dir
  end

  -- Folders that are not usable runs, and a fitness file.
  local base
  local function folders()
    if not base then
      base = fresh_dir("folders")
      os.execute("mkdir -p " .. quote(base .. "/not_a_run") .. " " .. quote(base .. "/garbage") .. " "
                 .. quote(base .. "/truncated"))
      write(base .. "/not_a_run/notes.txt", "hello")
      write(base .. "/garbage/trials.db", ("not a database "):rep(200))
      write(base .. "/truncated/trials.db", read(a_run() .. "/trials.db"):sub(1, 3000))
      write(base .. "/fitness.lua", "return function(m) return m.accuracy end\n")
    end
    return base
  end

  -- The words of `cmd` on run folder dir, with what it needs besides.
  local function words(cmd, dir, ...)
    local w = { cmd, dir }
    if cmd == "export" then
      for _, x in ipairs{ "--to", "json", folders() .. "/exported" } do w[#w + 1] = x end
    elseif cmd == "rescore" then
      w[#w + 1] = folders() .. "/fitness.lua"
    end
    for _, x in ipairs{ ... } do w[#w + 1] = x end
    return w
  end

  it("name a missing, a foreign and a damaged run folder, and unknown options (nas.cli, every command)", function()
    local b = folders()
    local garbage = read(b .. "/garbage/trials.db")
    local c = checker(cli)
    for _, cmd in ipairs(COMMANDS) do
      c.check({ cmd }, 2, "nasrun " .. cmd .. ":")
      c.check(words(cmd, b .. "/missing"), 2, { "nasrun " .. cmd .. ":", b .. "/missing" })
      c.check(words(cmd, b .. "/not_a_run"), 2, { "nasrun " .. cmd .. ":", b .. "/not_a_run", "not a run folder" })
      -- Damaged or not a database: named, and left as it is.
      for _, d in ipairs{ "garbage", "truncated" } do
        local code, out = cli(words(cmd, b .. "/" .. d))
        if not (code == 1 or code == 2) or not out:find(b .. "/" .. d .. "/trials.db", 1, true)
           or not out:find("damaged", 1, true) then
          c.check(words(cmd, b .. "/" .. d), 2, { b .. "/" .. d .. "/trials.db", "damaged" })
        end
      end
      -- Unknown options, before and after the run folder.
      c.check({ cmd, "--no-such-option", a_run() }, 2, { "nasrun " .. cmd .. ":", "--no-such-option" })
      c.check(words(cmd, a_run(), "--bogus=1"), 2, { "nasrun " .. cmd .. ":", "--bogus" })
    end
    c.check({ "no_such_command", a_run() }, 2, "usage: nasrun COMMAND")
    assert.are.equal(garbage, read(b .. "/garbage/trials.db"))
    c.done()
  end)

  it("name every bad option value (missing, non-numeric, negative, huge, NaN) with status 2 (nas.cli)", function()
    local dir = a_run()
    local out_dir = fresh_dir("export")
    local c = checker(cli)
    for _, v in ipairs{ "abc", "-1", "0", "2.5", "nan", "inf", "1e99", "99999999999999999999", "" } do
      c.check({ "trials", dir, "--top", v }, 2, { "nasrun trials:", "--top", "'" .. v .. "'" })
      c.check({ "export", dir, "--trial", v, "--to", "json", out_dir }, 2, { "nasrun export:", v })
    end
    c.check({ "trials", dir, "--top" }, 2, { "nasrun trials:", "--top" })
    c.check({ "trials", dir, "--sort" }, 2, { "nasrun trials:", "--sort" })
    c.check({ "trials", dir, "--sort", "no_such_metric" }, 2, { "nasrun trials:", "no_such_metric" })
    c.check({ "trials", dir, "--status", "bogus" }, 2, { "nasrun trials:", "--status", "bogus" })
    c.check({ "trials", dir, "--csv", "--json" }, 2, { "nasrun trials:", "--csv", "--json" })
    c.check({ "trials", dir, "--csv=yes" }, 2, { "nasrun trials:", "--csv" })
    c.check({ "best", dir, "--json=x" }, 2, { "nasrun best:", "--json" })
    c.check({ "show", dir, "extra" }, 2, { "nasrun show:", "extra" })
    c.check({ "report", dir, "--out" }, 2, { "nasrun report:", "--out" })
    c.check({ "export", dir, "--trial", "999", "--to", "json", out_dir }, 2, { "nasrun export:", "#999" })
    c.check({ "export", dir, "--to", "bogus", out_dir }, 2, { "nasrun export:", "bogus" })
    c.check({ "export", dir, "--to", "json" }, 2, { "nasrun export:" })
    c.check({ "export", dir, out_dir }, 2, { "nasrun export:", "--to" })
    c.check({ "export", dir, "--to" }, 2, { "nasrun export:", "--to" })
    c.done()
  end)

  it("rescore names a missing, broken or wrong fitness file (nas.cli)", function()
    local dir = a_run()
    local b = fresh_dir("fitness")
    os.execute("mkdir -p " .. quote(b))
    write(b .. "/syntax.lua", "return function(m)\n  return m.accuracy +\n")
    write(b .. "/number.lua", "return 42\n")
    write(b .. "/raises.lua", "return function(m)\n  error('no score for this one')\nend\n")
    local c = checker(cli)
    c.check({ "rescore", dir }, 2, { "nasrun rescore:", "fitness" })
    c.check({ "rescore", dir, b .. "/missing.lua" }, 2, { "nasrun rescore:", b .. "/missing.lua" })
    c.check({ "rescore", dir, b .. "/syntax.lua" }, 1, { "nasrun rescore:", b .. "/syntax.lua:3:" })
    c.check({ "rescore", dir, b .. "/number.lua" }, 1, { "nasrun rescore:", b .. "/number.lua", "number" })
    c.check({ "rescore", dir, b .. "/raises.lua" }, 1, { "nasrun rescore:", b .. "/raises.lua:2:",
                                                          "no score for this one" })
    c.done()
  end)

  it("through a real nasrun: the same messages, status 2 for usage errors and 1 for a failing fitness", function()
    local dir, b = a_run(), folders()
    local c = checker()
    c.check({ "show" }, 2, "nasrun show: a run folder is needed")
    c.check({ "best", b .. "/not_a_run" }, 2, { "nasrun best:", b .. "/not_a_run", "not a run folder" })
    c.check({ "trials", dir, "--top", "nan" }, 2, { "nasrun trials:", "--top", "'nan'" })
    c.check({ "show", dir, "--bogus" }, 2, { "nasrun show:", "--bogus" })
    local code, out = run{ "trials", b .. "/truncated" }
    assert.is_true(code == 1 or code == 2, out)
    assert.matches(plain(b .. "/truncated/trials.db"), out)
    assert.is_nil(out:find("stack traceback", 1, true), out)
    write(b .. "/syntax.lua", "return function(m)\n  return m.accuracy +\n")
    c.check({ "rescore", dir, b .. "/syntax.lua" }, 1, { "nasrun rescore:", b .. "/syntax.lua:3:" })
    c.done()
  end)

  it("a file named like a subcommand in the current folder is still run as a script", function()
    local dir = fresh_dir("cwd")
    os.execute("mkdir -p " .. quote(dir))
    write(dir .. "/show", "print('SCRIPT NAMED SHOW', ...)\n")
    local exe = nasrun()
    if exe:sub(1, 1) ~= "/" then exe = os.getenv("PWD") .. "/" .. exe end
    local p = io.popen("cd " .. quote(dir) .. " && " .. quote(exe) .. " show x 2>&1; echo EXIT=$?")
    local out = p:read("a")
    p:close()
    assert.matches("SCRIPT NAMED SHOW\tx", out)
    assert.matches("EXIT=0", out)
  end)
end)
