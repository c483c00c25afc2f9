-- nas.data: datasets held in memory, normalised with the training set's
-- per-channel statistics (the validation split and the test set use the
-- training statistics too).
--
--   local data = nas.data.fashion_mnist{ valid = 5000, seed = 1 }
--   -- data.train, data.valid (carved from the training files), data.test
local core = require "nas.core"
local util = require "nas.util"

local M = {}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- First existing of name.gz / name under root.
local function find(root, name)
  for _, p in ipairs({ root .. "/" .. name .. ".gz", root .. "/" .. name }) do
    if exists(p) then return p end
  end
  return root .. "/" .. name .. ".gz" -- the loader names it in its error
end

local function load_or_error(level, f, ...)
  local d, msg = util.guard(level + 1, f, ...)
  if not d then error(msg, level + 1) end
  return d
end

-- Carves data.valid out of train (seeded) and gives test the train statistics.
local function assemble(name, train, test, valid, seed, level)
  local out = { name = name, classes = train:classes(), shape = train:shape() }
  if valid and valid > 0 then
    if valid >= train:count() then
      util.argerror(1, name, ("valid = %d leaves no training data (%d samples)"):format(valid, train:count()),
                    level) -- assemble is tail-called: level is the loader's caller
    end
    out.train, out.valid = train:split(valid, seed)
  else
    out.train = train
  end
  out.full_train = train
  if test then
    test:set_norm(train:norm())
    out.test = test
  end
  return out
end

local idx_keys = { "root", "valid", "seed" }

-- valid (integer >= 0 or nil) and seed (integer or nil) of a loader's options.
local function check_split(opts, name, level)
  if opts.valid ~= nil and (math.type(opts.valid) ~= "integer" or opts.valid < 0) then
    util.argerror(1, name, "field 'valid' must be an integer >= 0", level + 1)
  end
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    util.argerror(1, name, "field 'seed' must be an integer", level + 1)
  end
end

-- The folder of an IDX dataset: opts.root, else $NAS_DATA_ROOT/<dir> (or
-- $NAS_DATA_ROOT itself when it holds the files), else /usr/share/datasets/<dir>.
local function data_root(opts, dir)
  if opts.root then return opts.root end
  local env = os.getenv("NAS_DATA_ROOT")
  if env and env ~= "" then
    local sub = env .. "/" .. dir
    if exists(sub .. "/train-labels-idx1-ubyte.gz") or exists(sub .. "/train-labels-idx1-ubyte") then
      return sub
    end
    return env
  end
  return "/usr/share/datasets/" .. dir
end

local function idx_dataset(name, dir)
  return function(opts)
    util.check_options(opts, idx_keys, 1, name, 2)
    opts = opts or {}
    if opts.root ~= nil and (type(opts.root) ~= "string" or opts.root == "") then
      util.argerror(1, name, "field 'root' must be a folder name", 2)
    end
    check_split(opts, name, 2)
    local root = data_root(opts, dir)
    local valid = opts.valid == nil and 5000 or opts.valid
    local seed = opts.seed or util.config().seed
    local train = load_or_error(2, core.load_idx, find(root, "train-images-idx3-ubyte"),
                                find(root, "train-labels-idx1-ubyte"))
    local test = load_or_error(2, core.load_idx, find(root, "t10k-images-idx3-ubyte"),
                               find(root, "t10k-labels-idx1-ubyte"))
    return assemble(name, train, test, valid, seed, 2)
  end
end

M.fashion_mnist = idx_dataset("fashion_mnist", "fashion-mnist")
M.mnist = idx_dataset("mnist", "mnist")

-- Any IDX pair: nas.data.idx{ train_images=, train_labels=, test_images=, test_labels=, valid=, seed= }
function M.idx(opts)
  util.check_options(opts, { "train_images", "train_labels", "test_images", "test_labels", "valid", "seed" },
                     1, "idx", 2)
  if not opts or not opts.train_images or not opts.train_labels then
    util.argerror(1, "idx", "train_images and train_labels are required", 2)
  end
  for _, k in ipairs{ "train_images", "train_labels", "test_images", "test_labels" } do
    if opts[k] ~= nil and (type(opts[k]) ~= "string" or opts[k] == "") then
      util.argerror(1, "idx", ("field '%s' must be a file name"):format(k), 2)
    end
  end
  if (opts.test_images == nil) ~= (opts.test_labels == nil) then
    util.argerror(1, "idx", "test_images and test_labels go together", 2)
  end
  check_split(opts, "idx", 2)
  local train = load_or_error(2, core.load_idx, opts.train_images, opts.train_labels)
  local test
  if opts.test_images then
    test = load_or_error(2, core.load_idx, opts.test_images, opts.test_labels)
  end
  return assemble("idx", train, test, opts.valid or 0, opts.seed or util.config().seed, 2)
end

local function cifar(name, train_files, test_files, label_bytes)
  return function(opts)
    util.check_options(opts, idx_keys, 1, name, 2)
    opts = opts or {}
    if not opts.root then util.argerror(1, name, "field 'root' (the folder of the binary batches) is required", 2) end
    local function paths(files)
      local out = {}
      for i, f in ipairs(files) do out[i] = opts.root .. "/" .. f end
      return out
    end
    local valid = opts.valid == nil and 5000 or opts.valid
    local train = load_or_error(2, core.load_cifar, paths(train_files), label_bytes)
    local test = load_or_error(2, core.load_cifar, paths(test_files), label_bytes)
    return assemble(name, train, test, valid, opts.seed or util.config().seed, 2)
  end
end

M.cifar10 = cifar("cifar10", { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                               "data_batch_5.bin" }, { "test_batch.bin" }, 1)
M.cifar100 = cifar("cifar100", { "train.bin" }, { "test.bin" }, 2)

return M
