-- nasrun show / trials / best / rescore and nas.rescore, over the store of a
-- real (tiny, analytically scored) search, checked against the store's own rows.
local nas = require "nas"
local json = require "nas.json"
local tiny = require "tests.lua.tiny_search"
local helpers = require "tests.lua.helpers"
local evaluators = require "nas.evaluators"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- nasrun ARGS -> exit status, stdout, stderr
local function nasrun(args)
  local o, e = os.tmpname(), os.tmpname()
  local p = io.popen(("%s %s >%s 2>%s; echo $?"):format(helpers.nasrun(), args, o, e))
  local code = tonumber(p:read("a"))
  p:close()
  local out, err = read(o), read(e)
  os.remove(o)
  os.remove(e)
  return code, out, err
end

-- The same in this process (nas.cli.main, as nasrun calls it), for the many
-- option checks: each nasrun start loads libtorch (about half a second of CPU).
local function cli(args)
  local words = {}
  for w in args:gmatch("%S+") do words[#words + 1] = w end
  local o, e = io.tmpfile(), io.tmpfile()
  local so, se = io.stdout, io.stderr
  -- luacheck: push ignore 122 (nas.cli writes to io.stdout and io.stderr: captured here)
  io.stdout, io.stderr = o, e
  local ok, code = pcall(require("nas.cli").main, table.unpack(words))
  io.stdout, io.stderr = so, se
  -- luacheck: pop
  o:seek("set")
  e:seek("set")
  local out, err = o:read("a"), e:read("a")
  o:close()
  e:close()
  assert(ok, code)
  return code, out, err
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- RFC 4180 CSV: rows of fields (quoted fields may hold commas, quotes, newlines).
local function parse_csv(s)
  local rows, row, i, n = {}, {}, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c == '"' then
      local buf = {}
      i = i + 1
      while true do
        local q = s:find('"', i, true)
        assert(q, "unterminated quoted field")
        buf[#buf + 1] = s:sub(i, q - 1)
        if s:sub(q + 1, q + 1) == '"' then
          buf[#buf + 1] = '"'
          i = q + 2
        else
          i = q + 1
          break
        end
      end
      row[#row + 1] = table.concat(buf)
    else
      local j = i
      while j <= n and not s:sub(j, j):match('[,\r\n]') do j = j + 1 end
      row[#row + 1] = s:sub(i, j - 1)
      i = j
    end
    c = s:sub(i, i)
    if c == "," then
      i = i + 1
    elseif c == "\r" or c == "\n" or c == "" then
      rows[#rows + 1] = row
      row = {}
      if s:sub(i, i + 1) == "\r\n" then i = i + 2 else i = i + 1 end
    else
      error("bad CSV at byte " .. i)
    end
  end
  return rows
end

local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"
os.execute("mkdir -p '" .. tmp .. "'")

-- The search, once: failed (bad graphs), rejected (params > 1500), repeats.
local RUN
local function run()
  if RUN then return RUN end
  local dir = helpers.fresh_dir("inspect", "run")
  nas.search{
    space = tiny.space{ bad_rate = 0.25 }, strategy = tiny.strategy{ warmup = 8 },
    evaluate = evaluators.analytic(), seed = 7, out = dir, budget = { trials = 30 },
    objectives = { nas.maximize "accuracy", nas.minimize "params" }, constraints = { params = 1500 },
    progress = false, log = false,
  }
  RUN = dir
  return dir
end

-- The store's rows, with repeats given their original's metrics and graph (as stored light).
local function rows()
  local list = helpers.sql_rows(run() .. "/trials.db",
    "SELECT id, status, score, reason, cached_from, genotype, metrics, graph FROM trials ORDER BY id")
  local by = {}
  for _, r in ipairs(list) do
    r.id = math.tointeger(r.id)
    r.cached_from = r.cached_from and math.tointeger(r.cached_from)
    r.genotype = json.decode(r.genotype)
    r.metrics = r.metrics and json.decode(r.metrics) or {}
    by[r.id] = r
  end
  for _, r in ipairs(list) do
    if r.cached_from then
      r.metrics = by[r.cached_from].metrics
      r.graph = by[r.cached_from].graph
    end
  end
  return list, by
end

-- The ok trials that are not repeats, best score first (ties: lower id).
local function ranked_rows()
  local out = {}
  for _, r in ipairs(rows()) do
    if r.status == "ok" and not r.cached_from then out[#out + 1] = r end
  end
  table.sort(out, function(a, b)
    if a.score ~= b.score then return a.score > b.score end
    return a.id < b.id
  end)
  return out
end

-- Pareto front (max accuracy, min params) of the ok rows, by brute force.
local function front_ids(list)
  local ids = {}
  for _, a in ipairs(list) do
    local dominated = false
    for _, b in ipairs(list) do
      local ma, mb = a.metrics, b.metrics
      if mb.accuracy >= ma.accuracy and mb.params <= ma.params
         and (mb.accuracy > ma.accuracy or mb.params < ma.params) then
        dominated = true
      end
    end
    if not dominated then ids[#ids + 1] = a.id end
  end
  table.sort(ids)
  return ids
end

local function ids_of(list)
  local out = {}
  for i, t in ipairs(list) do out[i] = t.id end
  return out
end

-- The first column (ids) of a text table's rows.
local function table_ids(text, col)
  local out = {}
  for _, l in ipairs(lines(text)) do
    local fields = {}
    for w in l:gmatch("%S+") do fields[#fields + 1] = w end
    local v = math.tointeger(tonumber(fields[col or 1]))
    if v and (fields[(col or 1) + 1] == "ok" or fields[(col or 1) + 1] == "failed"
              or fields[(col or 1) + 1] == "rejected") then
      out[#out + 1] = v
    end
  end
  return out
end

describe("inspecting a run", function()
  teardown(function() if RUN then os.execute("rm -rf '" .. RUN .. "'") end end)

  describe("nasrun show", function()
    it("prints the run's header, counts, wall time and the 5 best trials", function()
      local code, out, err = nasrun("show " .. run())
      assert.are.equal(0, code, err)
      assert.matches("space tiny, strategy tiny%-evolution, seed 7", out)
      assert.matches("objectives: maximize accuracy, minimize params", out)
      assert.matches("created %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d", out)
      local n = { ok = 0, failed = 0, rejected = 0, repeats = 0 }
      local all = rows()
      for _, r in ipairs(all) do
        n[r.status] = n[r.status] + 1
        if r.cached_from then n.repeats = n.repeats + 1 end
      end
      assert.is_true(n.failed > 0 and n.rejected > 0 and n.repeats > 0, "the run has every kind of trial")
      assert.matches(("%d trials: %d ok, %d failed, %d rejected %%(%d repeats"):format(#all, n.ok, n.failed,
                     n.rejected, n.repeats), out)
      assert.matches("wall time [%d.]+ s", out)
      local best = ranked_rows()
      local want = {}
      for i = 1, 5 do want[i] = best[i].id end
      assert.are.same(want, table_ids(out, 2))
      assert.matches(("#%d genotype %s"):format(best[1].id, json.encode(best[1].genotype):gsub("%p", "%%%0")), out)
      local front = {}
      for _, id in ipairs(front_ids(best)) do front[#front + 1] = "#" .. id end
      assert.matches("pareto front %(maximize accuracy, minimize params%): " .. table.concat(front, " ") .. "\n", out)
    end)
  end)

  describe("nasrun trials", function()
    it("lists every trial, and filters by status", function()
      local all = rows()
      local code, out = nasrun("trials " .. run())
      assert.are.equal(0, code)
      assert.are.same(ids_of(all), table_ids(out))
      for _, status in ipairs{ "ok", "failed", "rejected" } do
        local want = {}
        for _, r in ipairs(all) do if r.status == status then want[#want + 1] = r.id end end
        code, out = cli("trials " .. run() .. " --status " .. status)
        assert.are.equal(0, code)
        assert.are.same(want, table_ids(out))
      end
    end)

    it("sorts by score or a metric, best first unless told, and keeps the top K", function()
      local all = rows()
      local function expect(key, desc, status)
        local list = {}
        for _, r in ipairs(all) do
          local v = key == "score" and r.score or r.metrics[key]
          if (not status or r.status == status) and v ~= nil then list[#list + 1] = { id = r.id, v = v } end
        end
        table.sort(list, function(a, b)
          if a.v ~= b.v then if desc then return a.v > b.v end return a.v < b.v end
          return a.id < b.id
        end)
        return ids_of(list)
      end
      local function first(list, k)
        local out = {}
        for i = 1, math.min(k, #list) do out[i] = list[i] end
        return out
      end
      -- score: descending; params: an objective to minimise, ascending; accuracy: descending;
      -- memory_mb: not an objective, ascending; --desc / --asc override.
      local cases = { { "score", true, "" }, { "params", false, " --status ok" }, { "accuracy", true, " --status ok" },
                      { "memory_mb", false, " --status ok" }, { "layers", true, " --status ok --desc" },
                      { "score", false, " --status ok --asc" } }
      for _, c in ipairs(cases) do
        local code, out, err = cli(("trials %s --sort %s --top 4%s"):format(run(), c[1], c[3]))
        assert.are.equal(0, code, err)
        local status = c[3]:match("%-%-status (%a+)")
        assert.are.same(first(expect(c[1], c[2], status), 4), table_ids(out), c[1] .. c[3])
        assert.matches(("sorted by %s, %s"):format(c[1], c[2] and "descending" or "ascending"), out)
      end
      -- Trials without the metric (failed ones have no params) come last.
      local code, out = cli(("trials %s --sort params"):format(run()))
      assert.are.equal(0, code)
      local got = table_ids(out)
      assert.are.equal(#all, #got)
      local _, by = rows()
      local seen_missing = false
      for _, id in ipairs(got) do
        if by[id].metrics.params == nil then seen_missing = true else assert.is_false(seen_missing) end
      end
      assert.is_true(seen_missing)
    end)

    it("writes CSV that parses back to the store's rows", function()
      local all, by = rows()
      local code, out = nasrun("trials " .. run() .. " --csv")
      assert.are.equal(0, code)
      local csv = parse_csv(out)
      local head = csv[1]
      assert.are.same({ "id", "status", "score", "reason", "cached_from", "seconds", "genotype" },
                      { table.unpack(head, 1, 7) })
      local col = {}
      for i, h in ipairs(head) do col[h] = i end
      assert.is_truthy(col.params and col.accuracy)
      assert.are.equal(#all + 1, #csv)
      for i = 2, #csv do
        local f = csv[i]
        local r = by[math.tointeger(tonumber(f[col.id]))]
        assert.are.equal(#head, #f)
        assert.are.equal(r.status, f[col.status])
        assert.are.equal(r.score, tonumber(f[col.score]))
        assert.are.equal(r.reason or "", f[col.reason])
        assert.are.equal(r.cached_from, math.tointeger(tonumber(f[col.cached_from])))
        assert.are.same(r.genotype, json.decode(f[col.genotype])) -- quoted: commas and quotes inside
        assert.are.equal(r.metrics.params, math.tointeger(tonumber(f[col.params])))
        assert.are.equal(r.metrics.accuracy, tonumber(f[col.accuracy]))
      end
    end)

    it("writes JSON: an array of trial objects", function()
      local _, by = rows()
      local code, out = nasrun("trials " .. run() .. " --json --status ok --sort accuracy --top 3")
      assert.are.equal(0, code)
      local arr = json.decode(out)
      assert.are.equal(3, #arr)
      local prev
      for _, t in ipairs(arr) do
        local r = by[t.id]
        assert.are.equal("ok", t.status)
        assert.are.equal(r.score, t.score)
        assert.are.same(r.genotype, t.genotype)
        assert.are.same(r.metrics, t.metrics)
        if prev then assert.is_true(prev >= t.metrics.accuracy) end
        prev = t.metrics.accuracy
      end
    end)

    it("sorts descending on a maximised objective, and prints [] for no trials", function()
      local dir = helpers.fresh_dir("inspect", "maxflops")
      nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(), seed = 3,
                  out = dir, budget = { trials = 8 }, objectives = { nas.maximize "flops" }, progress = false,
                  log = false }
      local code, out = nasrun("trials " .. dir .. " --sort flops --status ok")
      assert.are.equal(0, code)
      assert.matches("sorted by flops, descending", out)
      code, out = cli("trials " .. dir .. " --sort layers")
      assert.are.equal(0, code)
      assert.matches("sorted by layers, ascending", out)
      code, out = cli("trials " .. dir .. " --status failed --json")
      assert.are.equal(0, code)
      assert.are.equal("[]\n", out)
      os.execute("rm -rf '" .. dir .. "'")
    end)

    it("refuses bad options with a usage error naming the value", function()
      local cases = {
        { "--status good", "%-%-status must be ok, failed or rejected, got 'good'" },
        { "--top 0", "%-%-top must be a whole number >= 1, got '0'" },
        { "--top many", "got 'many'" },
        { "--top 2.5", "got '2.5'" },
        { "--sort speed", "unknown metric 'speed' for %-%-sort %(the trials of .* have: .*params" },
        { "--csv --json", "%-%-csv or %-%-json, not both" },
        { "--asc", "go with %-%-sort" },
        { "--sort", "%-%-sort needs a value" },
        { "--bogus", "unknown option %-%-bogus" },
      }
      for _, c in ipairs(cases) do
        local code, out, err = cli("trials " .. run() .. " " .. c[1])
        assert.are.equal(2, code, c[1])
        assert.are.equal("", out)
        assert.matches("^nasrun trials: .*" .. c[2], err)
      end
    end)
  end)

  describe("nasrun best", function()
    it("prints the best trial's genotype, metrics, Pareto front and graph", function()
      local best = ranked_rows()
      local b = best[1]
      local code, out, err = nasrun("best " .. run())
      assert.are.equal(0, code, err)
      assert.matches(("best trial of .*: #%d, score %.4f"):format(b.id, b.score), out)
      assert.matches("genotype " .. json.encode(b.genotype):gsub("%p", "%%%0"), out)
      assert.matches(("\n  params +%d\n"):format(b.metrics.params), out)
      local front = {}
      for _, id in ipairs(front_ids(best)) do front[#front + 1] = "#" .. id end
      assert.matches("pareto front %(maximize accuracy, minimize params%): " .. table.concat(front, " "), out)
      assert.are.equal(b.graph, out:match("\ngraph (%b{})\n"))
    end)

    it("prints it as JSON with --json", function()
      local best = ranked_rows()
      local b = best[1]
      local code, out = nasrun("best " .. run() .. " --json")
      assert.are.equal(0, code)
      local r = json.decode(out)
      assert.are.equal(b.id, r.id)
      assert.are.equal(b.score, r.score)
      assert.are.same(b.genotype, r.genotype)
      assert.are.same(b.metrics, r.metrics)
      assert.are.same(json.decode(b.graph), r.graph)
      assert.are.same(front_ids(best), r.pareto)
      -- the graph builds the same net
      assert.are.equal(b.metrics.params, nas.net_from_json(json.encode(r.graph)):params())
    end)

    it("refuses extra words, and says so when no trial is ok", function()
      local code, _, err = cli("best " .. run() .. " extra")
      assert.are.equal(2, code)
      assert.matches("unexpected argument 'extra'", err)
      local dir = helpers.fresh_dir("inspect", "nook")
      nas.search{ space = tiny.space{ bad_rate = 1 }, strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                  seed = 1, out = dir, budget = { trials = 3 }, progress = false, log = false }
      code, _, err = cli("best " .. dir)
      assert.are.equal(1, code)
      assert.matches("has no ok trial yet", err)
      os.execute("rm -rf '" .. dir .. "'")
    end)
  end)

  describe("a bad run folder", function()
    it("is a usage error for every subcommand, naming the folder", function()
      local missing = tmp .. "/inspect_no_such_run"
      local empty = helpers.fresh_dir("inspect", "empty")
      os.execute("mkdir -p '" .. empty .. "'")
      local damaged = helpers.fresh_dir("inspect", "damaged")
      os.execute("mkdir -p '" .. damaged .. "'")
      local junk = {}
      for i = 1, 4096 do junk[i] = string.char((i * 7919) % 251) end
      write(damaged .. "/trials.db", "SQLite format 3\0" .. table.concat(junk))
      local fit = write(tmp .. "/inspect_fit_ok.lua", "return function(m) return m.accuracy end\n")
      for _, cmd in ipairs{ "show %s", "trials %s", "best %s", "rescore %s " .. fit } do
        local run_it = cmd == "show %s" and nasrun or cli -- the binary once, nas.cli.main for the others
        local code, out, err = run_it(cmd:format(missing))
        assert.are.equal(2, code)
        assert.are.equal("", out)
        assert.matches("inspect_no_such_run: no such folder", err)
        code, _, err = cli(cmd:format(empty))
        assert.are.equal(2, code)
        assert.matches("is not a run folder: it has no trials.db", err)
        code, _, err = cli(cmd:format(damaged))
        assert.are.equal(2, code, cmd)
        assert.matches("trials.db", err)
        assert.matches("damaged", err)
      end
      local code, _, err = cli("show")
      assert.are.equal(2, code)
      assert.matches("a run folder is needed", err)
      os.execute(("rm -rf '%s' '%s'"):format(empty, damaged))
      os.remove(fit)
    end)
  end)

  describe("rescore", function()
    local files = {}
    local function fitness(name, text)
      local p = write(("%s/inspect_%s_%d.lua"):format(tmp, name, math.random(1, 1e9)), text)
      files[#files + 1] = p
      return p
    end
    teardown(function() for _, p in ipairs(files) do os.remove(p) end end)

    it("re-ranks the ok trials under a fitness that prefers fewer params", function()
      local old = ranked_rows()
      local old_rank = {}
      for i, r in ipairs(old) do old_rank[r.id] = i end
      local want = {}
      for i, r in ipairs(old) do want[i] = r end
      table.sort(want, function(a, b)
        if a.metrics.params ~= b.metrics.params then return a.metrics.params < b.metrics.params end
        return a.id < b.id
      end)
      assert.are_not.equal(want[1].id, old[1].id) -- the ranking changes
      local path = fitness("fewer", "return function(m) return -m.params end\n")
      local code, out, err = nasrun(("rescore %s %s --top 3"):format(run(), path))
      assert.are.equal(0, code, err)
      assert.matches(("rescored %d trials of .*: %d ok, 0 rejected, 0 failed"):format(#old, #old), out)
      local got = {}
      for _, l in ipairs(lines(out)) do
        local rank, id, score, orank = l:match("^%s*(%d+)%s+(%d+)%s+(%S+)%s+(%d+)")
        if rank then got[#got + 1] = { tonumber(rank), tonumber(id), tonumber(score), tonumber(orank) } end
      end
      assert.are.equal(3, #got)
      for i, g in ipairs(got) do
        assert.are.same({ i, want[i].id, -want[i].metrics.params, old_rank[want[i].id] }, g)
      end
      -- the report of the new ranking, in the run folder or where --report says
      assert.matches("report: " .. run():gsub("%p", "%%%0") .. "/rescore.html\n", out)
      local html = read(run() .. "/rescore.html")
      assert.matches("<html", html)
      assert.matches(path:match("[^/]+$"):gsub("%p", "%%%0"), html) -- the title names the fitness file
      local other = helpers.fresh_dir("inspect", "report") .. ".html"
      code, out = cli(("rescore %s %s --top 1 --report %s"):format(run(), path, other))
      assert.are.equal(0, code)
      assert.matches("report: " .. other:gsub("%p", "%%%0"), out)
      assert.is_truthy(read(other))
      os.remove(other)
      -- without the report module: the ranking still, and a clear message
      local saved = package.loaded["nas.report"]
      package.loaded["nas.report"] = nil
      package.preload["nas.report"] = function() error("module 'nas.report' not found", 0) end
      code, out, err = cli(("rescore %s %s --top 1"):format(run(), path))
      package.preload["nas.report"], package.loaded["nas.report"] = nil, saved
      assert.are.equal(0, code)
      assert.matches("rescored", out)
      assert.matches("no report written: the report module %(nas.report%) is not available", err)
      -- the same from Lua
      local list, info = nas.rescore(run(), function(m) return -m.params end)
      assert.are.equal(#old, #list)
      for i, t in ipairs(list) do
        assert.are.equal(want[i].id, t.id)
        assert.are.equal(i, t.rank)
        assert.are.equal("ok", t.status)
        assert.are.equal(old_rank[t.id], t.old_rank)
        assert.are.equal(want[i].score, t.old_score)
      end
      assert.are.same({ ok = #old, rejected = 0, failed = 0 }, info.counts)
      -- the store is left as it was
      local _, by = rows()
      for _, r in ipairs(old) do assert.are.equal(r.score, by[r.id].score) end
    end)

    it("applies constraints, rejections with a reason, objectives and keeps the fitness's additions", function()
      local old = ranked_rows()
      local spec = {
        fitness = function(m, t)
          m.double = 2 * m.accuracy
          if t.genotype.depth == 1 then return nil, "too shallow" end
          return m.accuracy
        end,
        constraints = { params = 700, function(m, net) return net:layers() == m.layers, "layers differ" end },
        objectives = { nas.maximize "accuracy", nas.minimize "params" },
      }
      local list, info = nas.rescore(run(), spec)
      local by = {}
      for _, t in ipairs(list) do by[t.id] = t end
      local oks = {}
      for _, r in ipairs(old) do
        local t = by[r.id]
        if r.metrics.params > 700 then
          assert.are.equal("rejected", t.status)
          assert.are.equal(("params %d > 700"):format(r.metrics.params), t.reason)
        elseif r.genotype.depth == 1 then
          assert.are.equal("rejected", t.status)
          assert.are.equal("too shallow", t.reason)
          assert.are.equal(2 * r.metrics.accuracy, t.metrics.double)
        else
          assert.are.equal("ok", t.status)
          assert.are.equal(r.metrics.accuracy, t.score)
          oks[#oks + 1] = r
        end
      end
      assert.is_true(#oks > 1 and info.counts.rejected > 0)
      assert.are.same(front_ids(oks), info.pareto)
      -- ok trials first, best first, then the rest
      for i = 2, #list do
        if list[i].status == "ok" then
          assert.are.equal("ok", list[i - 1].status)
          assert.is_true(list[i - 1].score >= list[i].score)
        end
      end
    end)

    it("measures latency at another batch size on demand, once per graph, and uses it", function()
      local old = ranked_rows()
      local reads = 0
      local list, info = nas.rescore(run(), function(m)
        reads = reads + 1
        local a, b = m["latency_ms@bs=64"], m["latency_ms@bs=64"] -- the second read is the cached value
        assert(a == b)
        m.at1 = m.latency_ms -- not stored by this run: measured at batch 1
        return m.accuracy - 0.01 * a
      end)
      assert.are.equal(#old, reads)
      assert.are.equal(#old, info.measured["latency_ms@bs=64"].count)
      assert.are.equal(#old, info.measured["latency_ms"].count)
      local sum64, sum1, biggest = 0, 0, nil
      for _, t in ipairs(list) do
        local l64 = t.metrics["latency_ms@bs=64"]
        assert.is_true(l64 > 0)
        assert.are.equal(t.metrics.accuracy - 0.01 * l64, t.score)
        sum64, sum1 = sum64 + l64, sum1 + t.metrics.at1
        if not biggest or t.metrics.params > biggest.metrics.params then biggest = t end
      end
      -- 64 samples take longer than one
      assert.is_true(sum64 > sum1)
      assert.is_true(biggest.metrics["latency_ms@bs=64"] > biggest.metrics.at1)
      for i = 2, #list do assert.is_true(list[i - 1].score >= list[i].score) end

      -- through nasrun: the measured metric is named, counted and shown
      local path = fitness("lat", 'return function(m) return m.accuracy - 0.01 * m["latency_ms@bs=64"] end\n')
      local code, out, err = nasrun(("rescore %s %s --top 2"):format(run(), path))
      assert.are.equal(0, code, err)
      assert.matches(("measured latency_ms@bs=64 on %d graphs"):format(#old), out)
      assert.matches("latency_ms@bs=64\n", out)
    end)

    it("fails a trial whose measurement fails, and scores the others", function()
      local st = nas.store(run(), { readonly = true })
      local trials = st:trials()
      st:close()
      local victim
      for _, t in ipairs(trials) do
        if t.status == "ok" and not t.cached_from then victim = victim or t end
      end
      -- a graph that cannot be built: a 20x20 kernel on an 8x8 input
      victim.graph = '{"input":[1,8,8],"nodes":[{"inputs":[0],"k":20,"op":"conv","out":4}],"output":1}'
      local list, info = nas.rescore({ trials = function() return trials end },
                                     function(m) return m["latency_ms@bs=2"] end)
      assert.are.equal(#ranked_rows(), #list)
      for _, t in ipairs(list) do
        if t.id == victim.id then
          assert.are.equal("failed", t.status)
          assert.matches("^latency_ms@bs=2: .*node", t.reason)
          assert.is_nil(t.score)
        else
          assert.are.equal("ok", t.status)
          assert.is_true(t.score > 0)
        end
      end
      assert.are.equal(1, info.counts.failed)
      assert.are.equal(list[#list].id, victim.id)
    end)

    it("ranks a trial at a larger fidelity first, as nas.search does", function()
      local trials = {
        { id = 1, status = "ok", score = 0.9, metrics = { accuracy = 0.9, fidelity = { epochs = 1, rung = 0 } } },
        { id = 2, status = "ok", score = 0.5, metrics = { accuracy = 0.5, fidelity = { epochs = 9, rung = 2 } } },
        { id = 3, status = "ok", score = 0.7, metrics = { accuracy = 0.7, fidelity = { epochs = 3, rung = 1 } } },
      }
      local list = nas.rescore({ trials = function() return trials end }, function(m) return 2 * m.accuracy end)
      -- by score alone the order would be 1, 3, 2
      assert.are.same({ 2, 3, 1 }, ids_of(list))
      assert.are.same({ 1, 2, 3 }, { list[1].old_rank, list[2].old_rank, list[3].old_rank })
      assert.are.same({ 1.0, 1.4, 1.8 }, { list[1].score, list[2].score, list[3].score })
    end)

    it("reports an error in the fitness at the fitness file's line", function()
      local path = fitness("boom", "local function f(m)\n  local p = m.params\n  error('boom ' .. p)\nend\nreturn f\n")
      local code, _, err = nasrun(("rescore %s %s"):format(run(), path))
      assert.are.equal(1, code)
      assert.matches(path:gsub("%p", "%%%0") .. ":3: boom %d+ %(rescoring trial #%d+%)", err)
      path = fitness("syntax", "return function(m)\n  return m.accuracy +\nend\n")
      code, _, err = cli(("rescore %s %s"):format(run(), path))
      assert.are.equal(1, code)
      assert.matches(path:gsub("%p", "%%%0") .. ":3:", err)
      path = fitness("load", "local x = nil\nreturn x.y\n")
      code, _, err = cli(("rescore %s %s"):format(run(), path))
      assert.are.equal(1, code)
      assert.matches(path:gsub("%p", "%%%0") .. ":2:", err)
    end)

    it("says a metric that needs training needs retraining, at the fitness's line", function()
      local path = fitness("retrain", "return function(m)\n  return m['accuracy@epochs=5']\nend\n")
      local code, _, err = nasrun(("rescore %s %s"):format(run(), path))
      assert.are.equal(1, code)
      assert.matches(path:gsub("%p", "%%%0") .. ":2: metric 'accuracy@epochs=5' is not stored with trial #%d+ " ..
                     "and cannot be measured without training: it needs retraining", err)
      local ok, e = pcall(nas.rescore, run(), function(m) return m.test_accuracy end)
      assert.is_false(ok)
      assert.matches("inspect_spec.lua:%d+: metric 'test_accuracy' .* needs retraining", e)
      -- an objective on such a metric: named before any trial is scored
      ok, e = pcall(nas.rescore, run(), { objectives = { nas.maximize "accuracy@epochs=9" } })
      assert.is_false(ok)
      assert.matches("objective 'accuracy@epochs=9': .* needs retraining", e)
      -- a metric some trials of the run have reads as nil where a trial lacks it (as in the search)
      local list = nas.rescore(run(), function(m) return m.stopped_early and 0 or m.accuracy end)
      assert.is_true(#list > 0)
    end)

    it("refuses bad input", function()
      local cases = {
        { "", 2, "a fitness file is needed" },
        { " /nonexistent/fit.lua", 2, "/nonexistent/fit.lua: no such file" },
        { " " .. fitness("num", "return 42\n"), 1, "a fitness function%(metrics, trial%) or a table .* got number" },
        { " " .. fitness("key", "return { fitnes = function() end }\n"), 1, "unknown field 'fitnes'" },
        { " " .. fitness("cons", "return { fitness = function(m) return 1 end, constraints = { speed = 1 } }\n"), 1,
          "unknown constraint 'speed'" },
        { " " .. fitness("str", "return function(m)\n  return 'high'\nend\n"), 1,
          "the fitness function %(.*:1%) returned a string" },
        { " " .. fitness("ok1", "return function(m) return 1 end\n") .. " --top 0", 2, "%-%-top must be a whole " ..
          "number >= 1, got '0'" },
        { " " .. fitness("ok2", "return function(m) return 1 end\n") .. " extra", 2, "unexpected argument 'extra'" },
      }
      for _, c in ipairs(cases) do
        local code, _, err = cli("rescore " .. run() .. c[1])
        assert.are.equal(c[2], code, c[1])
        assert.matches("^nasrun rescore: .*" .. c[3], err)
      end
      -- from Lua: misuse raised at the caller's line, naming the argument
      local ok, e = pcall(function()
        local r = nas.rescore(42, function() return 1 end)
        return r
      end)
      assert.is_false(ok)
      assert.matches("inspect_spec%.lua:%d+: bad argument #1 to 'rescore' %(run folder", e)
      ok, e = pcall(nas.rescore, run(), "fitness")
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'rescore'", e)
      ok, e = pcall(nas.rescore, run(), {})
      assert.is_false(ok)
      assert.matches("a 'fitness' function or 'objectives' is needed", e)
      ok, e = pcall(nas.rescore, run(), function() return 1 end, { runs = 3 })
      assert.is_false(ok)
      assert.matches("unknown option 'runs'", e)
      ok, e = pcall(nas.rescore, tmp .. "/inspect_no_such_run", function() return 1 end)
      assert.is_false(ok)
      assert.matches("no trial store", e)
      -- a store already open works too
      local st = nas.store(run(), { create = false })
      local list = nas.rescore(st, function(m) return m.accuracy end)
      st:close()
      assert.are.equal(#ranked_rows(), #list)
    end)
  end)
end)
