-- The report in a real browser (run by tests/browser/run.sh under nasrun):
-- real short searches (tests/lua/report_script.lua), their reports loaded by
-- headless Chromium, and the DOM after the scripts ran checked against the
-- report's data:
--   - no script error (the page's own record of window errors and
--     console.error, and Chromium's console log on stderr);
--   - every plot drew its data marks: one symbol per trial in the history,
--     one per ok trial in the Pareto front, one bar per rated decision, one
--     line per curve, one bar per trial in the worker timeline, ...;
--   - the trial table has one row per trial;
--   - a hostile run (payloads in genotype values, decision and metric names,
--     reasons and the script path) runs none of its payloads: the title is
--     not changed and no element of theirs exists.
-- The runs: a parallel one with failures, rejections and curves, a hostile
-- copy of it, a Hyperband run, an NB201 run (when the table is there), a
-- one-trial run and a one-shot (DARTS) run.
-- Prints "browser: N checks ok", or the failures and exits 1.
local nas = require "nas"
local json = require "nas.json"
local report = require "nas.report"
local store = require "nas.store"

local nasrun = os.getenv("NASRUN") or "build/nasrun"
local chromium = os.getenv("CHROMIUM") or "chromium"
local tmp = (os.getenv("NAS_TEST_TMP") or "/tmp") .. ("/report_browser_%d"):format(require("nas.core").pid())

local checks, failures = 0, {}
local function check(cond, what)
  checks = checks + 1
  if not cond then failures[#failures + 1] = what end
  return cond
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo EXIT=$?")
  local out = p:read("a")
  p:close()
  return out:gsub("EXIT=%d+%s*$", ""), tonumber(out:match("EXIT=(%d+)%s*$"))
end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function unescape(s)
  return (s:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&amp;", "&"))
end

-- Loads the page in headless Chromium: the DOM after its scripts ran, and the console log.
local function browse(html_path, name)
  local dom, log = ("%s/%s.dom.html"):format(tmp, name), ("%s/%s.console.log"):format(tmp, name)
  local cmd = ("timeout 120 %s --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions " ..
               "--enable-logging=stderr --v=0 --virtual-time-budget=30000 --dump-dom 'file://%s' >%s 2>%s")
              :format(chromium, html_path, dom, log)
  local ok = os.execute(cmd)
  check(ok == true, name .. ": chromium exited with an error (see " .. log .. ")")
  return read(dom), read(log)
end

-- Data marks of each plot: { {name =, symbol =, line =, rect =, rule =, text =}, ... } in page order.
local function plots(dom)
  local out = {}
  local starts = {}
  for pos, name in dom:gmatch('()<div class="plot" data%-plot="([^"]+)"') do starts[#starts + 1] = { pos, name } end
  for i, s in ipairs(starts) do
    local seg = dom:sub(s[1], starts[i + 1] and starts[i + 1][1] - 1 or #dom)
    local p = { name = s[2], symbol = 0, line = 0, rect = 0, rule = 0, text = 0 }
    -- a leaf mark group: <g class="mark-TYPE role-mark" ...> its items </g>
    for kind, body in seg:gmatch('<g class="mark%-(%a+) role%-mark"[^>]*>(.-)</g>') do
      if p[kind] then
        local n = 0
        for _ in body:gmatch("<path") do n = n + 1 end
        for _ in body:gmatch("<line") do n = n + 1 end
        for _ in body:gmatch("<text") do n = n + 1 end
        p[kind] = p[kind] + n
      end
    end
    out[#out + 1] = p
  end
  return out
end

local function by_name(list)
  local m = {}
  for _, p in ipairs(list) do
    m[p.name] = m[p.name] or {}
    table.insert(m[p.name], p)
  end
  return m
end

-- Everything a page must show, from the report's own data block.
local function check_page(name, html_path)
  local html = read(html_path)
  local block = html:match('<script type="application/json" id="nas%-data">(.-)</script>')
  local okd, data = pcall(json.decode, block or "")
  local dom, log = browse(html_path, name)
  if not check(okd, name .. ": the page's data block is cut or not JSON: " .. tostring(data)) then return dom end
  check(dom:find('data-rendered="yes"', 1, true), name .. ": the page did not finish rendering")
  local self = dom:match('<pre id="nas%-selfcheck"[^>]*>(.-)</pre>')
  local rec = self and self ~= "" and json.decode(unescape(self)) or {}
  check(rec.errors and #rec.errors == 0, name .. ": script errors: " .. table.concat(rec.errors or { "?" }, " | "))
  for line in log:gmatch("[^\n]+") do
    if line:find("CONSOLE", 1, true) and (line:find("Uncaught", 1, true) or line:find("Error", 1, true)) then
      check(false, name .. ": console: " .. line)
    end
  end
  -- the table: one row per trial
  local tbody = dom:match('<table class="data" id="trials">.-<tbody>(.-)</tbody>') or ""
  local rows = 0
  for _ in tbody:gmatch("<tr [^>]*data%-id=") do rows = rows + 1 end
  check(rows == #data.trials, ("%s: %d table rows for %d trials"):format(name, rows, #data.trials))

  local P = by_name(plots(dom))
  local n = #data.trials
  local ok_distinct, with_end, timeline = 0, 0, 0
  for _, r in ipairs(data.trials) do
    if r[2] == "ok" and r[9] == nil then ok_distinct = ok_distinct + 1 end
    if r[5] ~= nil then with_end = with_end + 1 end
    if r[4] ~= nil and r[5] ~= nil and not (r[2] == "ok" and r[9] ~= nil) then timeline = timeline + 1 end
  end
  local function one(pname)
    local list = P[pname]
    check(list and #list == 1, ("%s: plot %s missing"):format(name, pname))
    return list and list[1] or {}
  end
  if n > 0 then
    check(one("history-trial").symbol == n, ("%s: history by trial shows %s symbols for %d trials"):format(
      name, tostring(one("history-trial").symbol), n))
    check(one("history-trial").line == 1, name .. ": no best-so-far line")
    check(one("history-time").symbol == with_end, name .. ": history by time")
  end
  if data.pareto and #data.pareto.axes >= 2 and ok_distinct > 0 then
    local metrics = {}
    for i, m in ipairs(data.metrics) do metrics[m] = i end
    local want = 0
    for _, r in ipairs(data.trials) do
      if r[2] == "ok" and r[9] == nil then
        local function v(a) return a.score and r[3] or r[11][metrics[a.metric]] end
        local x, y = v(data.pareto.axes[1]), v(data.pareto.axes[2])
        if type(x) == "number" and type(y) == "number" then want = want + 1 end
      end
    end
    check(one("pareto").symbol == want, ("%s: Pareto plot shows %s points, %d expected"):format(
      name, tostring(one("pareto").symbol), want))
  end
  local rated = 0
  for _, d in ipairs(data.importance.decisions) do if d.importance ~= nil then rated = rated + 1 end end
  if rated > 0 then check(one("importance").rect == rated, name .. ": importance bars") end
  local marg = P.marginal or {}
  check(#marg == math.min(#data.importance.decisions, data.max_marginals), name .. ": marginal plots")
  for i, p in ipairs(marg) do
    check(p.symbol == #data.importance.decisions[i].groups, ("%s: marginal %d points"):format(name, i))
  end
  if data.importance.n > 0 and #data.importance.decisions > 0 then
    check(one("parallel").line == math.min(ok_distinct, data.max_lines), ("%s: parallel coordinates: %s lines " ..
          "for %d trials"):format(name, tostring(one("parallel").line), ok_distinct))
  end
  if data.curves then
    check(one("curves").line == #data.curves.series, name .. ": one line per learning curve")
  elseif data.fidelity_curves then
    check(one("curves").symbol == #data.fidelity_curves.points, name .. ": score against fidelity points")
  end
  if data.supernet and #data.supernet > 0 then
    local want = 0
    for _, p in ipairs(data.supernet) do
      if p.loss ~= nil then want = want + 1 end
      if p.acc ~= nil then want = want + 1 end
    end
    check(one("supernet").symbol == want, ("%s: the supernet plot shows %s points, %d expected"):format(
      name, tostring(one("supernet").symbol), want))
  end
  local workers = {}
  for _, r in ipairs(data.trials) do workers[r[7] or "c"] = true end
  local nw = 0
  for _ in pairs(workers) do nw = nw + 1 end
  if nw >= 2 then check(one("timeline").rect == timeline, name .. ": one timeline bar per trial") end
  return dom, data, rec
end

-- ---- the runs ----------------------------------------------------------------------
os.execute("rm -rf '" .. tmp .. "' && mkdir -p '" .. tmp .. "'")
local function run(kind)
  local dir = tmp .. "/" .. kind
  local out, code = sh(("%s tests/lua/report_script.lua %s %s"):format(nasrun, kind, dir))
  if code ~= 0 then error(kind .. " run failed:\n" .. out, 0) end
  return dir
end

local basic = run("basic")
check_page("basic", report.write(basic))

-- a hostile copy of the basic run
local hostile = tmp .. "/hostile"
os.execute(("cp -r '%s' '%s' && rm -f '%s/report.html'"):format(basic, hostile, hostile))
local PAYLOADS = {
  "</script><script>document.title='pwned';window.nasPwned=1</script>",
  "<img src=x onerror=\"document.title='pwned'\">",
  "\"><svg onload=\"document.title='pwned'\"></svg>",
  "<!--<script>document.title='pwned'</script>-->",
  "\226\128\168');document.title='pwned';('",
}
local st = store.open(hostile, { create = false })
local id = st:count()
for i, p in ipairs(PAYLOADS) do
  id = id + 1
  local g = { depth = p, width = 4, pad = 0, bad = false, [p] = i }
  st:insert({ id = id, genotype = g, metrics = { accuracy = 0.5 + i / 100, params = 100 * i, flops = 50, [p] = p,
                                                 curve = { 0.1, 0.2 } },
              score = 0.5 + i / 100, status = "ok", started = os.time(), finished = os.time() + 1, seconds = 1,
              worker = 1 }, nil)
  id = id + 1
  st:insert({ id = id, genotype = { depth = 1, width = p, pad = 0, bad = false }, metrics = {}, status = "failed",
              reason = p, started = os.time(), finished = os.time() + 1, worker = 2 }, nil)
end
st:close()
do
  local env = require("luasql.sqlite3").sqlite3()
  local conn = env:connect(hostile .. "/trials.db")
  local sql = "INSERT OR REPLACE INTO run(key, value) VALUES ('script', '%s')"
  assert(conn:execute(sql:format(PAYLOADS[1]:gsub("'", "''"))))
  conn:close()
  env:close()
end
local dom = check_page("hostile", report.write(hostile))
local title = dom:match("<title>(.-)</title>")
check(title == "nasrun report: hostile", "hostile: the title became " .. tostring(title))
check(not dom:find("<img", 1, true), "hostile: an <img> element was injected")
check(not dom:find("<svg onload", 1, true), "hostile: an <svg onload> element was injected")
check(select(2, dom:gsub("<script", "")) == 4, "hostile: a <script> element was injected")
-- the payloads are shown as text (the failed-trials table holds each reason)
local failed = dom:match('<section id="failed">(.-)</section>') or ""
check(failed:find("&lt;img src=x onerror=", 1, true) ~= nil, "hostile: the reason is not shown as text")

-- Hovering: a copy of the hostile page with a script of this test at its end,
-- which moves the pointer over the last trial's point in the history (a
-- failed trial whose reason is a payload) once the page has rendered, and
-- copies the hover box's text into the page.
do
  local HOVER = [[
<script>
(function poll() {
  if (document.body.getAttribute('data-rendered') !== 'yes') { setTimeout(poll, 50); return; }
  var pts = document.querySelectorAll('[data-plot="history-trial"] g.mark-symbol.role-mark path');
  var p = pts[pts.length - 1], r = p.getBoundingClientRect();
  var o = { bubbles: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 };
  p.dispatchEvent(new MouseEvent('mouseover', o));
  p.dispatchEvent(new MouseEvent('mousemove', o));
  setTimeout(function () {
    var out = document.createElement('pre');
    out.id = 'hover-text';
    out.textContent = (document.getElementById('nas-tip').hidden ? 'HIDDEN ' : '') +
                      document.getElementById('nas-tip').textContent;
    document.body.appendChild(out);
  }, 100);
})();
</script>
]]
  local html = read(hostile .. "/report.html")
  local at = html:find("</body>", 1, true)
  local path = hostile .. "/hover.html"
  local hf = assert(io.open(path, "wb"))
  hf:write(html:sub(1, at - 1), HOVER, html:sub(at))
  hf:close()
  local hdom = browse(path, "hover")
  local text = unescape(hdom:match('<pre id="hover%-text">(.-)</pre>') or "")
  check(text:find("^trial #%d+  failed") ~= nil, "hover: no hover text for the last trial (got: " .. text .. ")")
  check(text:find("reason: " .. PAYLOADS[#PAYLOADS], 1, true) ~= nil, "hover: the reason is not in the hover text")
  check(hdom:match("<title>(.-)</title>") == "nasrun report: hostile", "hover: the title changed")
  check(not hdom:find("<img", 1, true), "hover: an <img> element was injected")
end

check_page("fidelity", report.write(run("fidelity")))
local nb = os.getenv("NAS_NB201") or "../shared/bench/nb201"
local f = io.open(nb .. "/nb201.csv")
if f then
  f:close()
  check_page("nb201", report.write(run("nb201")))
else
  print("browser: the NB201 page not checked (" .. nb .. "/nb201.csv is absent)")
end
check_page("one", report.write(run("one")))
local _, darts = check_page("darts", report.write(run("darts")))
check(darts and #darts.supernet == 2, "darts: the supernet's two epochs are not in the page's data")

if #failures > 0 then
  for _, m in ipairs(failures) do io.stderr:write("FAIL ", m, "\n") end
  io.stderr:write(("browser: %d of %d checks failed (pages and DOM dumps in %s)\n"):format(#failures, checks, tmp))
  os.exit(1)
end
os.execute("rm -rf '" .. tmp .. "'")
print(("browser: %d checks ok (%s)"):format(checks, nas.version))
