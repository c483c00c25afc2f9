-- nas.search: the loop, constraints, the hash cache, failures, budgets,
-- progress lines, resume and interrupts, with analytic/fake evaluators
-- (and one tiny real training at the end).
local nas = require "nas"
local tiny = require "tests.lua.tiny_search"
local evaluators = require "nas.evaluators"

local tmp = os.getenv("NAS_TEST_TMP") or "/tmp"
local counter = 0
local function fresh_dir(name)
  counter = counter + 1
  local d = ("%s/search_spec_%d_%s_%d"):format(tmp, os.time(), name, counter)
  os.execute("rm -rf '" .. d .. "'")
  return d
end

-- An evaluator that counts its calls and scores analytically.
local function counting(inner)
  inner = inner or evaluators.analytic()
  local ev = { calls = 0 }
  function ev.evaluate(self, net, ctx)
    self.calls = self.calls + 1
    return inner:evaluate(net, ctx)
  end
  return ev
end

local function quiet(o)
  o.log = o.log or false
  return o
end

local function summary(trials)
  local out = {}
  for i, t in ipairs(trials) do
    out[i] = { id = t.id, genotype = t.genotype, status = t.status, score = t.score, reason = t.reason,
               cached_from = t.cached_from, metrics = t.metrics }
  end
  return out
end

describe("nas.search", function()
  it("runs a budget of trials and returns the best, the front and all trials", function()
    local ev = counting()
    local r = nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy(), evaluate = ev,
                                budget = { trials = 12 }, seed = 1 })
    assert.are.equal(12, #r.trials)
    assert.are.equal("trials", r.stopped)
    local best
    for i, t in ipairs(r.trials) do
      assert.are.equal(i, t.id)
      assert.are.equal("ok", t.status)
      for _, k in ipairs({ "accuracy", "loss", "params", "flops", "memory_mb", "layers" }) do
        assert.is_number(t.metrics[k], k)
      end
      if not t.cached_from and (not best or t.score > best.score) then best = t end
    end
    assert.are.equal(best, r.best)
    assert.are.equal(best.metrics.accuracy, best.score) -- default objective: maximize accuracy
    assert.is_true(#r.pareto >= 1)
    -- the best trial can rebuild its net
    assert.are.equal(best.metrics.params, r.best:net():params())
  end)

  it("raises option errors at the caller's line", function()
    local ok, err = pcall(nas.search, { space = tiny.space(), strategy = tiny.strategy(),
                                        evaluate = evaluators.analytic(), budget = { trials = 1 }, bogus = 1 })
    assert.is_false(ok)
    assert.matches("unknown option 'bogus'", err)
    local function caller()
      nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic() }
    end
    ok, err = pcall(caller)
    assert.is_false(ok)
    assert.matches("search_spec.lua:%d+: .*budget", err)
    ok, err = pcall(nas.search, { space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                                  budget = { trials = 1 }, constraints = { parms = 3 } })
    assert.is_false(ok)
    assert.matches("unknown constraint 'parms'", err)
    ok, err = pcall(nas.search, { space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                                  budget = { trials = 1 }, objectives = { "accuracy" } })
    assert.is_false(ok)
    assert.matches("objectives%[1%]", err)
  end)

  it("rejects candidates that break a constraint before training them", function()
    local ev = counting()
    local preds = 0
    local r = nas.search(quiet{
      space = tiny.space(), strategy = tiny.strategy{ warmup = 100 }, evaluate = ev, seed = 2,
      constraints = { params = 400, function(m, net)
        preds = preds + 1
        assert.is_true(nas.is_net(net))
        if m.layers > 6 then return false, "too deep: " .. m.layers end
        return true
      end },
      budget = { trials = 30 },
    })
    local rejected, trained = 0, 0
    for _, t in ipairs(r.trials) do
      if t.status == "rejected" then
        rejected = rejected + 1
        assert.is_nil(t.score)
        if t.metrics.params > 400 then
          assert.are.equal(("params %d > 400"):format(t.metrics.params), t.reason)
        else
          assert.matches("^too deep: %d+$", t.reason)
        end
      elseif not t.cached_from then
        trained = trained + 1
        assert.is_true(t.metrics.params <= 400)
      end
    end
    assert.is_true(rejected > 0)
    assert.are.equal(trained, ev.calls) -- the evaluator never saw a rejected net
    assert.is_true(preds > 0)
  end)

  it("measures latency before training when latency is constrained", function()
    local ev = counting()
    local r = nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy(), evaluate = ev, seed = 5,
                                constraints = { latency_ms = 1e-9 }, budget = { trials = 3 } })
    for _, t in ipairs(r.trials) do
      assert.are.equal("rejected", t.status)
      assert.is_number(t.metrics.latency_ms)
      assert.matches("^latency_ms [%d%.e%-]+ > 1e%-09$", t.reason)
    end
    assert.are.equal(0, ev.calls)
  end)

  it("trains a graph once: a second genotype with the same graph reuses the metrics", function()
    local ev = counting()
    local gs = { { depth = 2, width = 4, pad = 0, bad = false }, { depth = 2, width = 4, pad = 1, bad = false },
                 { depth = 1, width = 4, pad = 0, bad = false } }
    local r = nas.search(quiet{ space = tiny.space(), strategy = tiny.list_strategy(gs), evaluate = ev,
                                budget = { trials = 3 } })
    assert.are.equal(2, ev.calls)
    assert.are.equal(1, r.trials[2].cached_from)
    assert.are.same(r.trials[1].metrics, r.trials[2].metrics)
    assert.are.equal(r.trials[1].score, r.trials[2].score)
    assert.are.equal(r.trials[1].hash, r.trials[2].hash)
    assert.are_not.equal(r.trials[1].hash, r.trials[3].hash)
    assert.are.same(gs[2], r.trials[2].genotype) -- the trial keeps its own genotype
    for _, t in ipairs(r.pareto) do assert.is_nil(t.cached_from) end
  end)

  it("records failures (errors, nil results, bad graphs, bad fitness) and goes on", function()
    local calls = 0
    local ev = function(net)
      calls = calls + 1
      if calls % 2 == 0 then error("boom " .. calls) end
      if calls % 3 == 0 then return nil, "NaN loss" end
      return { accuracy = net:params() / 1e4 }
    end
    local r = nas.search(quiet{ space = tiny.space{ bad_rate = 0.3 }, strategy = tiny.strategy{ warmup = 100 },
                                evaluate = ev, budget = { trials = 20 }, seed = 7 })
    assert.are.equal(20, #r.trials)
    local seen = {}
    for _, t in ipairs(r.trials) do
      if t.status == "failed" then
        assert.is_string(t.reason)
        if t.reason:find("boom") then
          seen.err = true
          assert.matches("^evaluate: .*search_spec.lua:%d+: boom %d+$", t.reason)
        end
        if t.reason == "NaN loss" then seen.nilres = true end
        if t.reason:find("^build: ") then seen.build = true; assert.is_nil(t.hash) end
      end
    end
    assert.is_true(seen.err and seen.nilres and seen.build)
    assert.is_true(r.best ~= nil and r.best.status == "ok")

    -- a fitness function: its additions are kept, its errors fail the trial
    local r2 = nas.search(quiet{
      space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(), seed = 3,
      objectives = function(m)
        if m.params > 700 then error("too big for me") end
        m.efficiency = m.accuracy / math.log(m.params)
        return m.efficiency
      end,
      budget = { trials = 15 },
    })
    local ok, failed = 0, 0
    for _, t in ipairs(r2.trials) do
      if t.status == "ok" then
        ok = ok + 1
        assert.are.equal(t.score, t.metrics.efficiency)
      else
        failed = failed + 1
        assert.matches("^fitness: .*too big for me", t.reason)
      end
    end
    assert.is_true(ok > 0 and failed > 0)
    assert.are.same({ r2.best }, r2.pareto)
  end)

  it("stops on a minutes budget (fake clock), finishing the trial in flight", function()
    local now = 100
    local ev = function(net)
      now = now + 30
      return { accuracy = 1 / net:params() }
    end
    local r = nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy(), evaluate = ev,
                                budget = { minutes = 2 }, clock = function() return now end })
    assert.are.equal("minutes", r.stopped)
    local trained = 0
    for _, t in ipairs(r.trials) do if not t.cached_from then trained = trained + 1 end end
    assert.is_true(trained <= 4)
    assert.is_true(#r.trials >= 4)
    -- trials and minutes together: whichever ends first
    now = 0
    r = nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy(), evaluate = ev,
                          budget = { minutes = 60, trials = 3 }, clock = function() return now end })
    assert.are.equal("trials", r.stopped)
    assert.are.equal(3, #r.trials)
  end)

  it("prints one plain line per trial when not on a terminal", function()
    local lines = {}
    local r = nas.search{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                          budget = { trials = 5 }, progress = false, log = function(l) lines[#lines + 1] = l end }
    assert.are.equal(5, #r.trials)
    local trial_lines = 0
    for _, l in ipairs(lines) do
      assert.is_nil(l:find("\r", 1, true))
      if l:match("^trial %d+/5 ok score [%d%.]+ .*| best [%d%.]+ %(#%d+%) | eta ") then
        trial_lines = trial_lines + 1
      end
    end
    assert.are.equal(5, trial_lines)
    assert.matches("^search done %(trials%): 5 trials", lines[#lines])
  end)

  it("gives the Pareto front of the ok trials for several objectives", function()
    local r = nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy{ warmup = 100 },
                                evaluate = evaluators.analytic(), seed = 11,
                                objectives = { nas.maximize "accuracy", nas.minimize "flops" },
                                budget = { trials = 25 } })
    local ok = {}
    for _, t in ipairs(r.trials) do if t.status == "ok" and not t.cached_from then ok[#ok + 1] = t end end
    local expect = {}
    for _, a in ipairs(ok) do
      local dominated = false
      for _, b in ipairs(ok) do
        if b.metrics.accuracy >= a.metrics.accuracy and b.metrics.flops <= a.metrics.flops and
           (b.metrics.accuracy > a.metrics.accuracy or b.metrics.flops < a.metrics.flops) then dominated = true end
      end
      if not dominated then expect[#expect + 1] = a end
    end
    assert.are.same(expect, r.pareto)
    assert.are.equal(r.best.metrics.accuracy, r.best.score) -- the first objective
    -- minimised first objective: the score is its negation
    local r2 = nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                                 objectives = { nas.minimize "params", nas.maximize "accuracy" },
                                 budget = { trials = 6 } })
    assert.are.equal(-r2.best.metrics.params, r2.best.score)
  end)

  it("resumes from the store: a split run equals an uninterrupted one", function()
    local function run(dir, trials)
      return nas.search(quiet{ space = tiny.space{ bad_rate = 0.1 }, strategy = tiny.strategy(),
                               evaluate = evaluators.analytic(), seed = 42, out = dir,
                               constraints = { params = 1000 }, budget = { trials = trials } })
    end
    local whole = run(fresh_dir("whole"), 20)
    local dir = fresh_dir("split")
    local first = run(dir, 7)
    assert.are.equal(7, #first.trials)
    local ev = counting()
    local second = nas.search(quiet{ space = tiny.space{ bad_rate = 0.1 }, strategy = tiny.strategy(), evaluate = ev,
                                     seed = 42, out = dir, constraints = { params = 1000 }, budget = { trials = 20 } })
    assert.are.equal(7, second.resumed)
    assert.are.same(summary(whole.trials), summary(second.trials))
    assert.are.equal(whole.best.id, second.best.id)
    assert.is_true(ev.calls <= 13) -- the replayed trials were not evaluated again
    -- running it again does nothing new
    local third = run(dir, 20)
    assert.are.equal(20, third.resumed)
    assert.are.same(summary(whole.trials), summary(third.trials))
    -- another seed in the same folder is refused
    local ok, err = pcall(nas.search, quiet{ space = tiny.space(), strategy = tiny.strategy(),
                                             evaluate = evaluators.analytic(), seed = 43, out = dir,
                                             budget = { trials = 1 } })
    assert.is_false(ok)
    assert.matches("holds a different run %(seed: stored 42, this search has 43%)", err)
  end)

  it("stops on an interrupt with the store consistent, and resumes", function()
    local dir = fresh_dir("interrupt")
    local calls = 0
    local ev = function(net)
      calls = calls + 1
      if calls == 5 then error("interrupted: training stopped (SIGINT)") end
      return { accuracy = net:params() / 1e4 }
    end
    local lines = {}
    local ok, err = pcall(nas.search, { space = tiny.space(), strategy = tiny.strategy{ warmup = 100 }, evaluate = ev,
                                        seed = 9, out = dir, budget = { trials = 12 },
                                        log = function(l) lines[#lines + 1] = l end })
    assert.is_false(ok)
    assert.matches("^interrupted: search stopped after %d+ trials %(stored in .*%); best so far: #%d+", err)
    assert.matches("^interrupted:", lines[#lines])
    local st = nas.store(dir)
    local stored = st:count()
    st:close()
    assert.is_true(stored >= 4)
    local r = nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy{ warmup = 100 }, evaluate = ev,
                                seed = 9, out = dir, budget = { trials = 12 } })
    assert.are.equal(stored, r.resumed)
    assert.are.equal(12, #r.trials)
    for _, t in ipairs(r.trials) do assert.are.equal("ok", t.status) end
  end)

  it("writes a log file in the run folder", function()
    local dir = fresh_dir("log")
    nas.search(quiet{ space = tiny.space(), strategy = tiny.strategy(), evaluate = evaluators.analytic(),
                      out = dir, budget = { trials = 3 } })
    local f = assert(io.open(dir .. "/search.log"))
    local text = f:read("a")
    f:close()
    local n = 0
    for _ in text:gmatch("trial %d+/3 ok") do n = n + 1 end
    assert.are.equal(3, n)
    assert.matches("search done", text)
  end)

  it("stops when the strategy has nothing more to ask", function()
    local gs = { { depth = 1, width = 2, pad = 0, bad = false } }
    local r = nas.search(quiet{ space = tiny.space(), strategy = tiny.list_strategy(gs),
                                evaluate = evaluators.analytic(), budget = { trials = 10 } })
    assert.are.equal("strategy", r.stopped)
    assert.are.equal(1, #r.trials)
  end)
end)

describe("nas.train", function()
  it("refuses data without a validation split", function()
    local ok, err = pcall(nas.train, { data = { train = {}, test = {} } })
    assert.is_false(ok)
    assert.matches("data.valid is missing", err)
    ok, err = pcall(nas.train, { data = { train = {}, valid = {} }, epoch = 1 })
    assert.is_false(ok)
    assert.matches("unknown option 'epoch'", err)
  end)

  local root = os.getenv("NAS_DATA_ROOT") or "/usr/share/datasets/fashion-mnist"
  local have_data = io.open(root .. "/train-images-idx3-ubyte.gz", "rb")
  if have_data then have_data:close() end
  local maybe = have_data and it or pending
  maybe("trains and scores a few candidates on valid, retrains the best and measures test", function()
    local data = nas.data.fashion_mnist{ valid = 2000, seed = 1 }
    local calls = {}
    local space = { name = "mini" }
    function space.build(_, g)
      local net = nas.net{ input = { 1, 28, 28 } }
      net:conv{ out = g.w, k = 3 }; net:relu(); net:maxpool{ k = 2 }
      net:flatten(); net:linear{ out = 10 }
      return net
    end
    local ev = nas.train{ data = data, epochs = 1, batch = 64, lr = 0.05, fraction = 0.05, latency_runs = 3 }
    local r = nas.search(quiet{ space = space, strategy = tiny.list_strategy{ { w = 4 }, { w = 8 } }, evaluate = ev,
                                budget = { trials = 2 }, seed = 1 })
    for _, t in ipairs(r.trials) do
      assert.are.equal("ok", t.status)
      assert.is_true(t.metrics.accuracy > 0.2, "accuracy " .. t.metrics.accuracy)
      assert.is_number(t.metrics.loss)
      assert.is_true(t.metrics.latency_ms > 0)
      assert.is_true(t.metrics.train_s > 0)
      calls[#calls + 1] = t.metrics.steps
    end
    assert.is_true(calls[1] >= 40 and calls[1] <= 50, "steps " .. calls[1]) -- 5% of 58000 samples, batch 64
    local rt = r.best:retrain{ steps = 60, verbose = false }
    assert.is_true(rt.test_accuracy > 0.3, "test accuracy " .. rt.test_accuracy)
    assert.are.equal(60000, rt.train_count) -- train + valid
  end)
end)
