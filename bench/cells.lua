-- bench/cells.lua: the one training recipe for cells of spaces/cell.lua on
-- Fashion-MNIST that bench/proxies.lua and bench/supernet.lua share, and their
-- JSON cache (runs/proxies_fmnist.json by default: results keyed by recipe and
-- arch string, written after every cell so runs can stop and resume).
--
-- Recipe: C = 8, N = 1 cells, 1x28x28; nas.train's defaults (SGD lr 0.05,
-- momentum 0.9, cosine) with batch 128, `epochs` on `fraction` of the training
-- split (seeded); validation accuracy on the 5000-image split carved from the
-- training files (seed 1).
local nas = require "nas"
local json = require "nas.json"

local M = {}

function M.data() return nas.data.fashion_mnist{ valid = 5000, seed = 1 } end

function M.recipe(epochs, fraction) return { epochs = math.tointeger(epochs), fraction = fraction, batch = 128 } end

-- The cache key of a recipe (pbatch: the proxies' batch; offset: the seed offset).
function M.key(recipe, pbatch, seed, offset)
  local key = ("fmnist C8N1 e%d f%g pb%d s%d"):format(recipe.epochs, recipe.fraction, pbatch, seed)
  if offset and offset ~= 0 then key = key .. (" o%d"):format(offset) end
  return key
end

function M.load(path)
  local cache = { version = 1, runs = {} }
  local f = io.open(path, "rb")
  if f then
    local ok, c = pcall(json.decode, f:read("a"))
    f:close()
    if ok and type(c) == "table" and type(c.runs) == "table" then cache = c end
  end
  return cache
end

-- Atomic write (tmp + rename), merged with what is on disk first: cells another
-- process added since this one loaded the file are kept (entries in `cache` win),
-- so two benches may fill one cache with different cells (--from) side by side.
function M.save(cache, path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir then require("nas.store").mkdir(dir) end
  for key, cells in pairs(M.load(path).runs) do
    local mine = cache.runs[key]
    if not mine then
      cache.runs[key] = cells
    else
      for arch, r in pairs(cells) do if mine[arch] == nil then mine[arch] = r end end
    end
  end
  local tmp = ("%s.%s.tmp"):format(path, tostring(cache):match("0x%x+") or "t")
  local f = assert(io.open(tmp, "wb"))
  f:write(json.encode(cache))
  f:close()
  assert(os.rename(tmp, path))
end

-- Trains net with the recipe (model and data order seeded by `seed`): on success
-- { accuracy = validation accuracy, train_s = seconds }, else { error = msg }.
function M.train(net, data, recipe, seed)
  local now = require("system").gettime
  local model = nas.model(net, { seed = seed })
  local t0 = now()
  local hist, msg = model:train(data.train, { epochs = recipe.epochs, fraction = recipe.fraction,
                                              batch = recipe.batch, seed = seed })
  local r
  if hist then
    r = { accuracy = model:evaluate(data.valid).accuracy, train_s = now() - t0 }
  else
    r = { error = msg }
  end
  model:release()
  return r
end

return M
