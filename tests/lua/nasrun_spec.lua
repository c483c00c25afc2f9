-- The nasrun command: options, exit codes, error reports, package paths.
local nasrun = require("tests.lua.helpers").nasrun

local function run(args)
  local tmp = os.tmpname()
  local p = io.popen(nasrun() .. " " .. args .. " >" .. tmp .. " 2>&1; echo $?")
  local code = tonumber(p:read("a"))
  p:close()
  local f = io.open(tmp)
  local out = f:read("a")
  f:close()
  os.remove(tmp)
  return code, out
end

local function script(text)
  local path = os.tmpname() .. ".lua"
  local f = io.open(path, "w")
  f:write(text)
  f:close()
  return path
end

describe("nasrun", function()
  it("prints help and version", function()
    local code, out = run("--help")
    assert.are.equal(0, code)
    assert.matches("usage: nasrun", out)
    assert.matches("%-%-threads", out)
    code, out = run("--version")
    assert.are.equal(0, code)
    assert.matches("nasrun %d+%.%d+%.%d+", out)
    assert.matches("libtorch 1", out)
  end)

  it("runs -e statements with the nas module and cjson on the path", function()
    local code, out = run([[-e 'local nas = require "nas"; print(nas.version, type(require "cjson"))']])
    assert.are.equal(0, code)
    assert.matches("table", out)
  end)

  it("finds strategies and spaces folders from anywhere", function()
    local code, out = run([[-e 'print(package.path)']])
    assert.are.equal(0, code)
    assert.matches("/%?%.lua", out)
  end)

  it("passes arguments in arg and applies --seed, --threads", function()
    local path = script([[
      local nas = require "nas"
      print("args", arg[0] ~= nil, arg[1], arg[2], #arg)
      print("seed", nas.config.seed, "threads", nas.threads())
    ]])
    local code, out = run("--seed 7 --threads 1 " .. path .. " a b")
    os.remove(path)
    assert.are.equal(0, code)
    assert.matches("args\ttrue\ta\tb\t2", out)
    assert.matches("seed\t7\tthreads\t1", out)
  end)

  it("reports errors with file:line and a traceback, and exits non-zero", function()
    local path = script("local x = 1\nerror('boom here')\n")
    local code, out = run(path)
    os.remove(path)
    assert.are.equal(1, code)
    assert.matches(":2: boom here", out)
    assert.matches("stack traceback", out)
  end)

  it("reports a bad net at the script's line", function()
    local path = script([[
local nas = require "nas"
local net = nas.net{ input = {1, 28, 28} }
net:conv{ out = 8, k = 3 }
net:linear{ out = 10 }
]])
    local code, out = run(path)
    os.remove(path)
    assert.are.equal(1, code)
    assert.matches(":4: node 2 %(linear%)", out)
  end)

  it("rejects bad options", function()
    local code, out = run("--threads zero -e 'print(1)'")
    assert.are.equal(2, code)
    assert.matches("integer", out)
    code, out = run("--bogus")
    assert.are.equal(2, code)
    assert.matches("unrecognized option", out)
    code, out = run("--device tpu -e 'print(1)'")
    assert.are.equal(2, code)
    assert.matches("unknown device", out)
  end)

  it("gives a clear error for --device cuda without a CUDA libtorch", function()
    local path = script([[
local nas = require "nas"
local net = nas.net{ input = {4} }
net:linear{ out = 2 }
if nas.cuda_available() then print("has cuda") return end
local m = nas.model(net)
]])
    local code, out = run("--device cuda " .. path)
    os.remove(path)
    if out:match("has cuda") then return end
    assert.are.equal(1, code)
    assert.matches("cuda", out)
    assert.matches(":5:", out)
  end)

  it("stops on SIGINT with an error, not a hang", function()
    local path = script("io.stderr:write('started\\n') local t = os.time() " ..
                        "while os.time() - t < 20 do end print('not interrupted')\n")
    local tmp = os.tmpname()
    -- Signal only once the script runs: before that the shell's SIG_IGN for
    -- background jobs is still in place (a startup race under load).
    os.execute(("(%s %s >%s 2>&1 & pid=$!; for i in $(seq 300); do grep -q started %s && break; sleep 0.1; done; "
      .. "kill -INT $pid; wait $pid; echo \"exit=$?\" >>%s)"):format(nasrun(), path, tmp, tmp, tmp))
    local f = io.open(tmp)
    local out = f:read("a")
    f:close()
    os.remove(tmp)
    os.remove(path)
    assert.matches("interrupted", out)
    assert.not_matches("not interrupted", out)
    assert.not_matches("exit=0", out)
  end)
end)
