-- The driver of fuzz_graph_json: nas.net.from_json on arbitrary text, as
-- reports and exports read the graph column of trials.db back.
--
-- Promises checked (fuzz.bug aborts, and libFuzzer keeps the input):
--  - text that is not a graph is an error with a message naming the problem,
--    never a Lua runtime error inside nasrun's code ("attempt to index ...")
--    and never a crash or a sanitizer report in the engine;
--  - an accepted graph means what the text says: every input id and the output
--    were integers naming nodes 0..#nodes (no id truncated into another);
--  - its JSON reads back to the same graph (same hash, same costs) and is a
--    fixed point of to_json;
--  - its summary, costs, clone and memory estimate work.
-- NAS_FUZZ_VERBOSE=1 prints every rejection message (to see what inputs reach).
local fuzz = ...
local json = require "nas.json"
local netmod = require "nas.net"

local verbose = os.getenv("NAS_FUZZ_VERBOSE") == "1"

-- Messages of errors that escaped from code that should have named the problem.
local internal = {
  "attempt to ", "value out of range", "number has no integer representation",
  "bad argument #%d+ to '[^']+' %(%a+ expected",
  "invalid value %(at index", "stack overflow",
}

local function check_rejection(s, msg)
  if type(msg) ~= "string" or msg == "" then
    fuzz.bug(("from_json raised a %s without a message, for %q"):format(type(msg), s:sub(1, 200)))
  end
  for _, pat in ipairs(internal) do
    local a, b = msg:find(pat)
    -- (not when the words come from the input itself, echoed in a message: an attribute "attempt to")
    if a and not s:find(msg:sub(a, b), 1, true) then
      fuzz.bug(("from_json: an internal error escaped: %s\n  for %q"):format(msg, s:sub(1, 300)))
    end
  end
  if verbose then io.stderr:write("rejected: ", msg, "\n") end
end

local function integral(v)
  return math.type(v) == "integer" or (math.type(v) == "float" and v == math.floor(v))
end

-- The decoded table of an accepted text must name real nodes only: inputs
-- 0..#nodes, and an output <= #nodes (a negative one means the last node).
local function check_ids(s, t, net)
  local n = #t.nodes
  for i = 1, n do
    for k, v in ipairs(t.nodes[i].inputs) do
      if not (integral(v) and v >= 0 and v <= n) then
        fuzz.bug(("from_json accepted node %d's input %d = %s (nodes are 0..%d)\n  for %q"):format(i, k, tostring(v),
          n, s:sub(1, 300)))
      end
    end
  end
  local out = t.output
  if out == nil then return end
  if not (integral(out) and out <= n) or (out < 0 and net:output() ~= n) then
    fuzz.bug(("from_json accepted output %s as node %d (nodes are 0..%d)\n  for %q"):format(tostring(out),
      net:output(), n, s:sub(1, 300)))
  end
end

return function(s)
  local ok, net = pcall(netmod.from_json, s)
  if not ok then return check_rejection(s, net) end
  check_ids(s, json.decode(s), net)

  local j = net:to_json()
  local ok2, again = pcall(netmod.from_json, j)
  if not ok2 then fuzz.bug(("the JSON of an accepted graph does not read back: %s\n  %s"):format(again, j)) end
  if again:hash() ~= net:hash() then fuzz.bug("read back, the graph hashes differently:\n  " .. j) end
  if again:to_json() ~= j then
    fuzz.bug(("to_json is not a fixed point:\n  %s\n  %s"):format(j, again:to_json()))
  end
  local m1, m2 = net:metrics(), again:metrics()
  for k, v in pairs(m1) do
    if m2[k] ~= v then fuzz.bug(("read back, %s is %s instead of %s:\n  %s"):format(k, m2[k], v, j)) end
  end
  if #net:summary() == 0 then fuzz.bug("empty summary") end
  if net:clone():hash() ~= net:hash() then fuzz.bug("a clone hashes differently") end
  if not (net:memory_mb(64) >= 0) then fuzz.bug("negative memory estimate") end
  again:graph():release()
end
