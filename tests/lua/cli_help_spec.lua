-- nasrun COMMAND --help: each subcommand prints its usage and exits 0; an
-- unknown word is run as a script (and fails as a missing file).
local helpers = require "tests.lua.helpers"

local function run(cmd)
  local p = io.popen(helpers.nasrun() .. " " .. cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

describe("nasrun COMMAND --help", function()
  for _, c in ipairs({ "report", "show", "trials", "best", "rescore", "export" }) do
    it(c, function()
      local out, rc = run(c .. " --help")
      assert.are.equal(0, rc)
      assert.matches("^usage: nasrun " .. c .. " RUN", out)
      local out2, rc2 = run(c .. " some/run -h")
      assert.are.equal(0, rc2)
      assert.are.equal(out, out2)
    end)
  end
  it("lists the commands in nasrun --help", function()
    local out, rc = run("--help")
    assert.are.equal(0, rc)
    assert.matches("report, show, trials, best, rescore, export", out, 1, true)
  end)
end)
