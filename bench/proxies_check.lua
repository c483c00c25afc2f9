-- bench/proxies_check.lua: our proxies next to an independent PyTorch implementation of the
-- reference definitions (bench/proxies_check.py), on the same cells, weights and batch.
--
--   nasrun bench/proxies_check.lua [cells=8] [n=16] [out=runs/proxies_check]
--   /usr/bin/python3 bench/proxies_check.py runs/proxies_check
--
-- For each cell i (space:sample(nas.rng(7, i)) of spaces/cell.lua) this writes the graph
-- (net:to_json()), the initial weights of nas.model(net, { seed = i }) (torch.load-able) and
-- the scores of nas.proxy on a synthetic batch that the Python side rebuilds from the same
-- formula: x[k] = sin(0.37 * k + 0.3) (k = flat index over n x 1 x 28 x 28), y[s] = s % 10.
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"
local nas = require "nas"
local space = require "spaces.cell"
local json = require "nas.json"
local o = common.args{ cells = 8, n = 16, out = "runs/proxies_check" }
require("nas.store").mkdir(o.out)
local xs, ys = {}, {}
for k = 0, o.n * 784 - 1 do xs[k + 1] = math.sin(0.37 * k + 0.3) end
for s = 0, o.n - 1 do ys[s + 1] = s % 10 end
local cells = {}
for i = 1, o.cells do
  local g = space:sample(nas.rng(7, i))
  local net = space:build(g)
  local m = nas.model(net, { seed = i })
  local wpath = ("%s/cell%d.pt"):format(o.out, i)
  m:save(wpath)
  m:release()
  local scores = {}
  for _, name in ipairs(require("nas.proxies").names) do
    local s, why = nas.proxy(net, { x = xs, y = ys }, name, { seed = i })
    scores[name] = s or tostring(why)
  end
  cells[i] = { arch = space.arch_string(g), graph = json.decode(net:to_json()), weights = wpath, scores = scores }
  print(cells[i].arch)
end
local f = assert(io.open(o.out .. "/cells.json", "wb"))
f:write(json.encode({ n = o.n, cells = cells }))
f:close()
print("wrote " .. o.out .. "/cells.json")
