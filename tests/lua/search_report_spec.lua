-- nas.search{ report = ... }: the run's report written at the end of a search,
-- the run table's descriptive keys (the report's header), and bad values.
local nas = require "nas"
local evaluators = require "nas.evaluators"
local tiny = require "tests.lua.tiny_search"
local helpers = require "tests.lua.helpers"

local function run(out, report)
  return nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                     budget = { trials = 6 }, seed = 3, out = out, report = report, log = false }
end

describe("nas.search report", function()
  it("writes RUN/report.html at the end and records what the header shows", function()
    local out = helpers.fresh_dir("search_report", "default")
    local r = run(out, true)
    assert.are.equal(out .. "/report.html", r.report)
    local f = assert(io.open(r.report))
    local html = f:read("a")
    f:close()
    assert.truthy(html:find("<html", 1, true))
    local info = {}
    for _, row in ipairs(helpers.sql_rows(out .. "/trials.db", "SELECT key, value FROM run")) do
      info[row.key] = row.value
    end
    assert.are.equal(nas.version, info.version)
    assert.are.equal(nas.torch_version, info.torch)
    assert.are.equal("1", info.workers)
    assert.are.same({ trials = 6 }, require("nas.json").decode(info.budget))
    -- the header keys do not identify the run: the same search resumes with other workers or budget
    local r2 = nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                           budget = { trials = 8 }, seed = 3, out = out, log = false }
    assert.are.equal(8, #r2.trials)
    assert.is_nil(r2.report)
    os.execute("rm -rf '" .. out .. "'")
  end)

  it("writes the report to a given file name", function()
    local out = helpers.fresh_dir("search_report", "named")
    local file = out .. "-custom.html"
    local r = run(out, file)
    assert.are.equal(file, r.report)
    assert.truthy(io.open(file))
    os.remove(file)
    os.execute("rm -rf '" .. out .. "'")
  end)

  it("rejects a bad report value and a report without out, at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline + 2
    local ok, err = pcall(function()
      nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(), report = 1 }
    end)
    assert.is_false(ok)
    assert.matches("search_report_spec.lua:" .. line .. ":", err, 1, true)
    assert.matches("field 'report' must be a boolean or a file name", err, 1, true)
    ok, err = pcall(nas.search, { space = tiny.space(), strategy = tiny.strategy(),
                                  evaluate = evaluators.analytic(), report = true })
    assert.is_false(ok)
    assert.matches("field 'report' needs 'out'", err, 1, true)
  end)
end)
