-- nas.report_graph: a trial's network drawn as SVG by Graphviz (`dot -Tsvg`)
-- for the run's report: one box per node with its op, its main attributes
-- and its output shape, an arrow per input edge.
--
--   local svg, note = require("nas.report_graph").svg(graph_json)
--   -- svg: inline SVG text, or nil and note says why (no `dot`, a graph too large, ...)
local M = {}

M.dot = "dot"          -- the Graphviz program
M.max_nodes = 600      -- larger graphs are not drawn
M.timeout_s = 30

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Only plain characters reach a dot label (op names, numbers, attribute names).
local function plain(s) return (tostring(s):gsub("[^%w_%.%-%+=,:/ ]", "?")) end

local function num(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return ("%.3g"):format(v) end
  return plain(v)
end

local function human(n)
  if n >= 1e6 then return ("%.2fM"):format(n / 1e6) end
  if n >= 1e3 then return ("%.1fk"):format(n / 1e3) end
  return tostring(n)
end

local SKIP = { op = true, inputs = true, shape = true, params = true, flops = true }
-- attribute values left out of a label (the usual defaults)
local QUIET = { bias = 1, dilation = 1, groups = 1, padding = "same", affine = 1, momentum = 0.1, eps = 1e-5 }
local function quiet(k, v)
  local q = QUIET[k]
  if type(q) == "number" and type(v) == "number" then return math.abs(v - q) <= 1e-6 * math.abs(q) end
  return q == v
end

-- The dot text of a net (nas.net); returns dot, number of nodes.
function M.dot_text(net)
  local n = net:count()
  local out = { "digraph net {",
                ("  graph [rankdir=%s, nodesep=0.25, ranksep=0.3, bgcolor=\"transparent\"];"):format(
                  n > 40 and "LR" or "TB"),
                "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eaf0fa\", color=\"#7d92b5\", " ..
                "fontname=\"Helvetica\", fontsize=10, margin=\"0.12,0.04\"];",
                "  edge [color=\"#6b7890\", arrowsize=0.6];" }
  local output = net:output()
  for id = 0, n - 1 do
    local node = net:node(id)
    local shape = {}
    for i, d in ipairs(node.shape or {}) do shape[i] = tostring(math.tointeger(d) or d) end
    local label
    if id == 0 then
      label = "input\\n" .. table.concat(shape, "x")
    else
      local keys = {}
      for k in pairs(node) do
        if type(k) == "string" and not SKIP[k] and not quiet(k, node[k]) then keys[#keys + 1] = k end
      end
      table.sort(keys)
      local attrs = {}
      for _, k in ipairs(keys) do attrs[#attrs + 1] = plain(k) .. "=" .. num(node[k]) end
      label = ("%s%s\\n%s"):format(plain(node.op), #attrs > 0 and " " .. table.concat(attrs, " ") or "",
                                   table.concat(shape, "x"))
      if (node.params or 0) > 0 then label = label .. "\\n" .. human(node.params) .. " params" end
    end
    local extra = ""
    if id == 0 then extra = ", fillcolor=\"#dfe7d5\", color=\"#7f9a63\""
    elseif id == output then extra = ", fillcolor=\"#fbe3c8\", color=\"#c58a43\", penwidth=1.5" end
    out[#out + 1] = ("  n%d [label=\"%s\"%s];"):format(id, label, extra)
    for _, src in ipairs(node.inputs or {}) do
      out[#out + 1] = ("  n%d -> n%d;"):format(math.tointeger(src) or 0, id)
    end
  end
  out[#out + 1] = "}"
  return table.concat(out, "\n") .. "\n", n
end

local read_file = require("nas.util").read_file

function M.available()
  return os.execute("command -v " .. shell_quote(M.dot) .. " >/dev/null 2>&1") == true
end

-- The SVG of dot text: svg or nil, note.
function M.render(dot)
  if not M.available() then
    return nil, ("Graphviz is not installed (no `%s` program): install Debian's graphviz to draw the best " ..
                 "architecture (apt-get install --no-install-recommends graphviz)."):format(M.dot)
  end
  local src = os.tmpname()
  local dst = src .. ".svg"
  local f = assert(io.open(src, "wb"))
  f:write(dot)
  f:close()
  local ok = os.execute(("timeout %d %s -Tsvg %s -o %s 2>/dev/null"):format(M.timeout_s, shell_quote(M.dot),
                                                                           shell_quote(src), shell_quote(dst)))
  local svg = ok and read_file(dst)
  os.remove(src)
  os.remove(dst)
  if not svg then return nil, "Graphviz could not draw this architecture." end
  -- keep the <svg> element only, without comments; refuse anything active
  svg = svg:match("<svg.*</svg>")
  if not svg then return nil, "Graphviz gave no SVG." end
  svg = svg:gsub("<!%-%-.-%-%->", "")
  local low = svg:lower()
  if low:find("<script", 1, true) or low:find("%son[%a]+%s*=") or low:find("javascript:", 1, true)
     or low:find("<foreignobject", 1, true) then
    return nil, "Graphviz's SVG held active content; not embedded."
  end
  return svg
end

-- svg(graph_json) -> svg, nodes | nil, note
function M.svg(graph_json)
  if type(graph_json) ~= "string" then return nil, "The best trial has no stored graph." end
  local ok, net = pcall(require("nas.net").from_json, graph_json)
  if not ok then
    return nil, "The best trial's graph could not be read: " .. tostring(net):gsub("^[^:\n]+:%d+: ", "")
  end
  if net:count() > M.max_nodes then
    return nil, ("The best architecture has %d nodes: too many to draw (at most %d)."):format(net:count(), M.max_nodes)
  end
  local dot, n = M.dot_text(net)
  local svg, note = M.render(dot)
  if not svg then return nil, note end
  return svg, n
end

return M
