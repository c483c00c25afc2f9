-- A real parallel search on Fashion-MNIST, run by ctest two ways (the same
-- script, the two transports):
--   nasrun --workers 2 tests/parallel/fmnist_search.lua
--   mpirun --allow-run-as-root --oversubscribe -np 3 nasrun tests/parallel/fmnist_search.lua
-- Regularized evolution over the chain space, 8 trials of 1 epoch on 2% of
-- the training split; checks that the workers trained the trials and that the
-- store holds every trial once.
local nas = require "nas"
local data = nas.data.fashion_mnist{ valid = 2000, seed = 1 }
local out = ("%s/parallel_fmnist_%s_%d"):format(os.getenv("NAS_TEST_TMP") or ".",
  nas.config.mpi and "mpi" or "local", os.time())

local result = nas.search{
  space = require("spaces.chain").with{ widths = { 8, 16 }, heads = { "gap" } },
  strategy = require("strategies.evolution").new{ population = 4, sample = 2 },
  evaluate = nas.train{ data = data, epochs = 1, fraction = 0.02, batch = 64, latency = false },
  objectives = nas.maximize "accuracy",
  budget = { trials = 8 }, seed = 3, out = out, progress = false,
}
-- From here on only the coordinator runs: workers end inside nas.search.
assert(nas.role() == "coordinator", "a worker ran past its last search")
assert(#result.trials == 8, "8 trials expected, got " .. #result.trials)
assert(result.workers == 2, "2 workers expected, got " .. tostring(result.workers))
local st = nas.store(out, { create = false })
local rows = st:trials()
st:close()
assert(#rows == 8)
local workers, told = {}, {}
for i, t in ipairs(rows) do
  assert(t.id == i, "trial ids 1..8 expected")
  assert(not told[t.told], "tell order repeats")
  told[t.told] = true
  if not t.cached_from and t.status == "ok" then
    assert(t.worker and t.host and t.threads == 1, "trial " .. i .. " lacks its worker, host or threads")
    workers[t.worker] = true
  end
end
local n = 0
for _ in pairs(workers) do n = n + 1 end
assert(n == 2, "both workers should have trained trials, " .. n .. " did")
assert(result.best and result.best.metrics.accuracy > 0.2, "a trained best trial expected (chance is 0.1)")
print(("e2e ok: parallel search (%s), 8 trials on 2 workers, best #%d validation accuracy %.4f"):format(
  nas.config.mpi and "MPI" or "local", result.best.id, result.best.metrics.accuracy))
