-- nas.report_page: the HTML page of a run's report (nas.report): the page's
-- JSON encoder, the Vega library inlined from Debian's libjs-vega, the style
-- sheet and the script that draws the plots and the trial table.
--
-- The page is one file that opens offline. Every string that comes from a run
-- (genotype values, decision and metric names, reasons, paths) reaches the page
-- only as data: JSON inside <script type="application/json"> with '<', '>',
-- '&' and U+2028/U+2029 escaped, read with JSON.parse and put into the DOM with
-- textContent (or drawn by Vega as SVG text). Nothing from a run is ever
-- concatenated into HTML or script code.
local M = {}

-- ---- JSON for the page ----------------------------------------------------------

local NULL = setmetatable({}, { __name = "report.null" })
local ARRAY = { __name = "report.array" }
M.null = NULL

-- Marks t as a JSON array (also when empty). Holes must be M.null.
function M.array(t) return setmetatable(t or {}, ARRAY) end

local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
              ['<'] = '\\u003c', ['>'] = '\\u003e', ['&'] = '\\u0026', ['\127'] = '\\u007f' }
for c = 0, 31 do ESC[string.char(c)] = ESC[string.char(c)] or ("\\u%04x"):format(c) end

local function encode_string(s)
  if not s:find('[%c"\\<>&\127\226]') then return '"' .. s .. '"' end -- the common case: nothing to escape
  s = s:gsub('[%c"\\<>&\127]', ESC):gsub("\226\128\168", "\\u2028"):gsub("\226\128\169", "\\u2029")
  return '"' .. s .. '"'
end
M.encode_string = encode_string

local function encode_number(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  local s = ("%.6g"):format(v)
  if s == "-0" then s = "0" end
  return s
end

local function encode(v, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = encode_string(v)
  elseif t == "number" then
    out[#out + 1] = encode_number(v)
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == NULL then
    out[#out + 1] = "null"
  elseif t == "table" then
    local n = #v
    local array = getmetatable(v) == ARRAY
    if not array and n > 0 then
      array = true
      for k in pairs(v) do
        if math.type(k) ~= "integer" or k < 1 or k > n then
          array = false
          break
        end
      end
    end
    if array then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
      return
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = encode_string(k)
      out[#out + 1] = ":"
      local x = v[k]
      if x == nil then x = v[math.tointeger(tonumber(k)) or k] end
      encode(x, out)
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = encode_string(tostring(v))
  end
end

-- JSON text safe to place inside <script type="application/json">.
function M.json(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-- Text safe to place in HTML element content or a quoted attribute.
function M.html(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                                        ["'"] = "&#39;" }))
end

-- ---- Vega (Debian's libjs-vega) -----------------------------------------------------

-- Debian packages Vega as one UMD file per module. Loaded in order through a
-- small CommonJS shim (each file sees `exports`, `module` and a `require` that
-- returns the modules defined before it), they make the same `vega` object as
-- Vega's own bundle; the transforms are registered as the bundle does.
M.vega_dir = "/usr/share/javascript/vega"
M.vega_modules = { -- { file, the name other modules require it by }
  { "vega-util" }, { "vega-time" }, { "vega-format" }, { "vega-loader" }, { "vega-dataflow" },
  { "vega-statistics" }, { "vega-scale" }, { "vega-canvas" }, { "vega-scenegraph" }, { "vega-expression" },
  { "vega-selection", "vega-selections" }, { "vega-functions" }, { "vega-event-selector" }, { "vega-parser" },
  { "vega-runtime" }, { "vega-view" }, { "vega-transforms" }, { "vega-view-transforms" }, { "vega-encode" },
}

local vega_cache = {}

-- The inline script that defines window.nasVega, or raises an error naming the package.
function M.vega_script()
  local dir = M.vega_dir
  if vega_cache[dir] then return vega_cache[dir] end
  local parts = {
    "(function(){'use strict';var mods={};function def(name,factory){var module={exports:{}};" ..
    "factory.call(window,module.exports,module,function(n){if(!Object.prototype.hasOwnProperty.call(mods,n))" ..
    "throw new Error('vega module missing: '+n);return mods[n];});mods[name]=module.exports;}\n",
  }
  for _, m in ipairs(M.vega_modules) do
    local path = ("%s/%s.min.js"):format(dir, m[1])
    local f = io.open(path, "rb")
    if not f then
      error(("report: Vega is missing (%s not found); install Debian's libjs-vega: " ..
             "apt-get install --no-install-recommends libjs-vega"):format(path), 0)
    end
    local src = f:read("a")
    f:close()
    -- no source map fetches; no sequence that would end the inline <script> early
    src = src:gsub("\n//# sourceMappingURL=[^\n]*", "\n"):gsub("</([Ss][Cc][Rr][Ii][Pp][Tt])", "<\\/%1")
              :gsub("<!%-%-", "<\\!--")
    parts[#parts + 1] = ("def(%q,function(exports,module,require){\n"):format(m[2] or m[1])
    parts[#parts + 1] = src
    parts[#parts + 1] = "\n});\n"
  end
  parts[#parts + 1] = "var v={};['vega-util','vega-dataflow','vega-scale','vega-scenegraph','vega-loader'," ..
    "'vega-format','vega-functions','vega-parser','vega-runtime','vega-view'].forEach(function(n){" ..
    "Object.keys(mods[n]).forEach(function(k){v[k]=mods[n][k];});});\n" ..
    "['vega-transforms','vega-view-transforms','vega-encode'].forEach(function(n){" ..
    "Object.keys(mods[n]).forEach(function(k){mods['vega-dataflow'].transforms[k]=mods[n][k];});});\n" ..
    "window.nasVega=v;})();\n"
  local s = table.concat(parts)
  vega_cache[dir] = s
  return s
end

-- ---- the page -------------------------------------------------------------------

-- Records script errors before anything else runs (shown in a banner, and
-- read by the browser test).
local EARLY = [==[
window.nasErrors = [];
window.addEventListener('error', function (e) { window.nasErrors.push(String(e.message || e)); });
window.addEventListener('unhandledrejection', function (e) {
  window.nasErrors.push('unhandled rejection: ' + String(e.reason && e.reason.stack || e.reason));
});
(function () {
  var ce = console.error;
  console.error = function () {
    window.nasErrors.push(Array.prototype.map.call(arguments, String).join(' '));
    return ce.apply(console, arguments);
  };
})();
]==]

local CSS = [==[
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7fa; --accent: #3b6db3; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); }
header { background: #1f2a3c; color: #fff; padding: 18px 28px 14px; }
header h1 { margin: 0 0 4px; font-size: 21px; font-weight: 600; word-break: break-all; }
header .note { margin: 6px 0 0; color: #ffd98a; }
header .sub { color: #aeb8c9; font-size: 13px; }
nav { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid var(--line);
      padding: 6px 28px; font-size: 13px; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; white-space: nowrap; }
main { padding: 8px 28px 40px; max-width: 1280px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 16px 0; padding: 12px 18px; }
section h2 { font-size: 17px; margin: 2px 0 8px; }
.explain { color: var(--muted); font-size: 13px; margin: 0 0 8px; max-width: 900px; }
.empty { color: var(--muted); font-style: italic; }
.kv { border-collapse: collapse; }
.kv th { text-align: left; font-weight: 500; color: var(--muted); padding: 2px 18px 2px 0; vertical-align: top;
         white-space: nowrap; }
.kv td { padding: 2px 0; word-break: break-word; }
.plots { display: flex; flex-wrap: wrap; gap: 10px 24px; }
.plot { min-height: 40px; }
.plot-title { font-size: 13px; color: var(--muted); margin: 6px 0 2px; }
.small-multiples { display: flex; flex-wrap: wrap; gap: 4px 16px; }
table.data { border-collapse: collapse; font-size: 12.5px; width: 100%; }
table.data th, table.data td { border-bottom: 1px solid #eceff4; padding: 3px 8px; text-align: left;
                               vertical-align: top; }
table.data th { background: #f0f3f8; position: sticky; top: 0; cursor: pointer; user-select: none;
                white-space: nowrap; }
table.data th.sorted-asc::after { content: " \25B2"; font-size: 10px; }
table.data th.sorted-desc::after { content: " \25BC"; font-size: 10px; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data td.geno { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; min-width: 340px;
                     overflow-wrap: anywhere; }
table.data tr.best td { background: #fff6d6; }
table.data tr.st-failed td.st { color: #c0392b; }
table.data tr.st-rejected td.st { color: #b86e00; }
.table-wrap { max-height: 640px; overflow: auto; border: 1px solid var(--line); }
.controls { margin: 4px 0 8px; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; font-size: 13px; }
.controls input[type=search] { width: 320px; padding: 3px 6px; }
.graph { overflow: auto; max-height: 900px; border: 1px solid var(--line); padding: 8px; background: #fff; }
.graph svg { max-width: 100%; height: auto; }
pre.log { max-height: 320px; overflow: auto; background: #f4f5f8; padding: 8px; font-size: 12px; margin: 0; }
#nas-tip { position: fixed; z-index: 10; pointer-events: none; background: rgba(30, 36, 48, .94); color: #fff;
           font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; padding: 6px 8px; border-radius: 4px;
           white-space: pre; max-width: 560px; overflow: hidden; }
#nas-errors { background: #fde2e1; color: #8a1f17; padding: 8px 28px; white-space: pre-wrap; }
]==]


local SECTIONS = {
  { "header", "Run" }, { "history", "Search history" }, { "pareto", "Pareto front" },
  { "importance", "Decision importance" }, { "parallel", "Parallel coordinates" }, { "curves", "Learning curves" },
  { "timeline", "Worker timeline" }, { "failed", "Failed and rejected trials" }, { "trials", "All trials" },
  { "architecture", "Best architecture" }, { "log", "Search log" },
}
M.sections = SECTIONS

-- page{ title =, note =, subtitle =, data = (JSON text), vega = (script), graph = { svg = | note = } } -> HTML
function M.render(p)
  local h = M.html
  local out = {}
  local function w(s) out[#out + 1] = s end
  w("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
  w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
  w("<title>" .. h(p.title) .. "</title>\n")
  w("<script>\n" .. EARLY .. "</script>\n")
  w("<style>\n" .. CSS .. "</style>\n</head>\n<body>\n")
  w("<div id=\"nas-errors\" hidden></div>\n")
  w("<header><h1>" .. h(p.title) .. "</h1><div class=\"sub\">" .. h(p.subtitle) .. "</div>")
  if p.note then w("<p class=\"note\">" .. h(p.note) .. "</p>") end
  w("</header>\n<nav>")
  for _, s in ipairs(SECTIONS) do w(("<a href=\"#%s\">%s</a>"):format(s[1], h(s[2]))) end
  w("</nav>\n<main>\n")
  w([[<section id="header"><h2>Run</h2><table class="kv"><tbody id="header-table"></tbody></table>
<div id="running"></div></section>
<section id="history"><h2>Search history</h2><p class="explain">Each point is a trial, coloured by status;
failed and rejected trials have no score and are drawn along the bottom. The line is the best score so far.
Hover over a point for its genotype and metrics.</p><div class="plots" id="history-plots"></div></section>
<section id="pareto"><h2>Pareto front</h2><p class="explain">The run's objectives, one point per ok trial
(repeats left out). Red: the trials no other trial beats in every objective. <span id="pareto-note"></span></p>
<div id="pareto-plots"></div></section>
<section id="importance"><h2>Decision importance</h2><p class="explain">How much of the score's spread each
decision explains: a one-way analysis of variance per decision over the distinct scored genotypes (epsilon
squared; numeric decisions with many values are binned). It looks at one decision at a time, so correlated
decisions share credit and interactions are not counted. Below: the mean score (point) and the range (line)
for each value of a decision.</p><div class="plots" id="importance-plots"></div>
<div class="small-multiples" id="marginal-plots"></div></section>
<section id="parallel"><h2>Parallel coordinates</h2><p class="explain">One line per scored trial through its
values of the most important decisions and its score.</p><div id="parallel-plots"></div></section>
<section id="curves"><h2>Learning curves</h2><div id="curves-plots"></div></section>
<section id="timeline"><h2>Worker timeline</h2><div id="timeline-plots"></div></section>
<section id="failed"><h2>Failed and rejected trials</h2><div id="failed-table"></div></section>
<section id="trials"><h2>All trials</h2><p class="explain">Click a column header to sort; type to filter
(every word must appear in the row).</p><div id="trial-table"></div></section>
<section id="architecture"><h2>Best architecture</h2>]])
  local g = p.graph or {}
  if g.caption then w("<p class=\"explain\">" .. h(g.caption) .. "</p>") end
  if g.svg then
    w("<div class=\"graph\">" .. g.svg .. "</div>")
  else
    w("<p class=\"empty\">" .. h(g.note or "No architecture to draw.") .. "</p>")
  end
  w([[</section>
<section id="log-box"><h2 id="log">Search log</h2><p class="explain">The last lines of search.log.</p>
<pre class="log" id="log-text"></pre></section>
</main>
<div id="nas-tip" hidden></div>
<pre id="nas-selfcheck" hidden></pre>
]])
  w("<script type=\"application/json\" id=\"nas-data\">" .. p.data .. "</script>\n")
  w("<script>\n" .. p.vega .. "</script>\n")
  w("<script>\n" .. require("nas.report_app").script .. "</script>\n</body>\n</html>\n")
  return table.concat(out)
end

return M
