-- nas.oneshot: one-shot strategies (strategies/darts.lua, gdas.lua, spos.lua,
-- enas.lua) run through nas.search. Such a strategy trains one supernet and
-- reads subnets off it, instead of asking genotypes one by one:
--
--   local S = { oneshot = true, name = "mine" }
--   function S:search(ctx)          -- nas.search calls this once
--     ... train a supernet on ctx.data.train, with ctx:progress / ctx:checkpoint ...
--     local t = ctx:evaluate(g, function(g) return { accuracy = ... } end, { epochs = e })
--     return t, { stopped = nil, ... }   -- the chosen subnet's trial, details (result.oneshot)
--   end
--
-- The ctx (made by M.drive, which nas.search calls) gives the strategy:
--   ctx.space, ctx.data (with .train), ctx.seed, ctx.out (the run folder, or nil), ctx.name
--   ctx.earlier                        trials recorded by earlier runs of this search (tell order)
--   ctx:evaluate(g, score, fidelity [, repeats]) -> trial: records subnet g as a trial of the
--                                      store (its graph, analytic metrics, constraints, then
--                                      score(g) -> metrics, scored by the search's objectives).
--                                      The same graph at the same fidelity already recorded
--                                      (now or by an earlier run) gives that trial back unless
--                                      repeats is true (then a repeat is recorded, as nas.search does)
--   ctx:ask_tell(strategy, {trials =, score =, fidelity =, space =, replay =, stop =}) -> trials:
--                                      an ask/tell strategy's loop over subnets (SPOS)
--   ctx:pick(genotypes, score, fidelity) -> best trial, trials, scores
--   ctx:progress(info [, label])       the progress line: info = {epoch, epochs, step, total_steps, loss}
--   ctx:checkpoint(sn, info)           end of a supernet epoch: weights and logits saved under
--                                      <out>/supernet/, one row of the store's phases table
--   ctx:restore(sn) -> info | nil      the last checkpoint loaded into sn (a resumed search)
--   ctx:trial(id), ctx:out_of_time(), ctx:stop(), ctx:elapsed(), ctx:message(line), ctx:history()
--
-- It also holds what the four shipped strategies share: the supernet in path
-- mode trained one path per step (M.paths: SPOS, ENAS), resumed weights
-- (M.resume_weights), scoring a subnet with the inherited weights, and the
-- run{} wrappers (M.run_with). See docs/strategies.md, "One-shot strategies".
local supernet = require "nas.supernet"
local rng_mod = require "nas.rng"
local util = require "nas.util"

local M = {}

local function now()
  local ok, sys = pcall(require, "system")
  if ok and type(sys) == "table" and sys.gettime then return sys.gettime() end
  return os.time()
end
M.now = now

local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function is_interrupt(e)
  if type(e) == "string" and e:find("interrupted", 1, true) then return true end
  local ok, core = pcall(require, "nas.core")
  return ok and type(core) == "table" and core.interrupted and core.interrupted() or false
end
M.is_interrupt = is_interrupt

-- ---- the ctx ----------------------------------------------------------------------

local Ctx = {}
Ctx.__index = Ctx

-- Seconds this search has run, earlier runs included.
function Ctx:elapsed() return self.elapsed_before + (self.s.clock() - self.start) end

-- True when budget.minutes is spent.
function Ctx:out_of_time()
  local m = self.s.budget.minutes
  return m ~= nil and self:elapsed() >= m * 60
end

-- Why candidate loops should stop now ("minutes", "trials", "repeats"), or nil.
function Ctx:stop()
  if self:out_of_time() then return "minutes" end
  return self.s.out_of_budget()
end

function Ctx:message(line) self.s.prog:message(line) end

-- The progress line while the supernet trains: a live status line on a
-- terminal; elsewhere a line every quarter of an epoch (the epoch's end has
-- its own line: ctx:checkpoint).
function Ctx:progress(info, label)
  local prog = self.s.prog
  label = label or (self.name .. " supernet")
  prog.current = type(info.loss) == "number" and ("%s (loss %.3f)"):format(label, info.loss) or label
  prog:on_step{ step = info.step, total_steps = info.total_steps, epoch = info.epoch, epochs = info.epochs }
  if not prog.live and info.step and info.total_steps and info.epochs then
    local per = info.total_steps / math.max(1, info.epochs)
    local q = math.floor(4 * info.step / math.max(1, per))
    if q ~= self.quarter and q % 4 ~= 0 then
      self.quarter = q
      prog:message(("%s epoch %s/%d step %d/%d loss %s (%.0fs)"):format(label, tostring(info.epoch), info.epochs,
        info.step, info.total_steps, type(info.loss) == "number" and ("%.4f"):format(info.loss) or "-",
        self:elapsed()))
    end
  end
end

-- The infos of the finished supernet epochs, earlier runs included (not a
-- partial epoch's, nor a warm-up's).
function Ctx:history()
  local h = {}
  for _, r in ipairs(self.rows) do if not r.partial and r.phase ~= "warmup" then h[#h + 1] = r end end
  return h
end

-- End of a supernet epoch (or a stop): with a store, saves the weights and
-- logits to <out>/supernet/step_<step>.pt (+ .arch.json) and records info in
-- the phases table (kind 'epoch'); the previous checkpoint is then removed.
-- info: epoch (fractional when training stopped inside an epoch), epochs,
-- step, total_steps (over the whole training), loss, accuracy, stopped
-- (a message: training ends at this checkpoint), reason (a word for
-- result.stopped), partial (true: not the end of an epoch), phase, anything JSON-able.
function Ctx:checkpoint(sn, info)
  local s = self.s
  local data = copy(info)
  data.elapsed = self:elapsed()
  data.trials = #s.trials
  if s.store and self.out then
    local rel = ("supernet/step_%d.pt"):format(math.tointeger(info.step) or 0)
    require("nas.store").mkdir(self.out .. "/supernet")
    sn:save(self.out .. "/" .. rel)
    data.checkpoint = rel
    s.store:phase_add("epoch", data)
    if self.last_checkpoint and self.last_checkpoint ~= rel then
      os.remove(self.out .. "/" .. self.last_checkpoint)
      os.remove(self.out .. "/" .. self.last_checkpoint .. ".arch.json")
    end
    self.last_checkpoint = rel
  end
  self.rows[#self.rows + 1] = data
  local acc = type(info.accuracy) == "number" and (", train accuracy %.4f"):format(info.accuracy) or ""
  self:message(("%s supernet epoch %s/%d: loss %s%s%s"):format(self.name, tostring(info.epoch), info.epochs or 0,
    type(info.loss) == "number" and ("%.4f"):format(info.loss) or "-", acc,
    info.stopped and (" (" .. info.stopped .. ")") or ""))
  return data
end

-- A resumed search: loads the last checkpoint into sn and returns its info
-- (epoch, step, total_steps, stopped, ...), or nil (nothing to resume, or the
-- checkpoint files are gone: training starts afresh).
function Ctx:restore(sn)
  local last = self.rows[#self.rows]
  if not last then return nil end
  local path = last.checkpoint and self.out and (self.out .. "/" .. last.checkpoint)
  local ok, err = false, "no checkpoint file"
  if path and exists(path) and exists(path .. ".arch.json") then ok, err = pcall(sn.load, sn, path) end
  if not ok then
    self:message(("%s: cannot load the supernet checkpoint of epoch %s (%s): the supernet trains from the start")
      :format(self.name, tostring(last.epoch), tostring(err)))
    self.rows = {}
    return nil
  end
  self.last_checkpoint = last.checkpoint
  self:message(("%s: resuming from the supernet checkpoint of epoch %s of %s (step %d of %d)%s"):format(self.name,
    tostring(last.epoch), tostring(last.epochs), last.step or 0, last.total_steps or 0,
    last.stopped and ": its training had ended" or ""))
  return last
end

local function tseed(seed, id) return rng_mod.new(seed, id, "train"):int(0, 0x7fffffff) end

-- Records subnet g as a trial (see the header). score(g) returns the metrics
-- of g with the inherited weights, or raises (the trial is then failed).
function Ctx:evaluate(g, score, fidelity, repeats)
  local s = self.s
  local id = s.peek_id()
  self.score_fn = score
  local t0 = s.clock()
  local t, graph, net = s.prepare(self.env, id, g, tseed(self.seed, id), fidelity)
  if t.cached_from and not repeats then
    local orig = self:trial(t.cached_from)
    if orig then return orig end
  end
  s.prog:trial_start(id)
  if net then s.complete(self.env, t, net) end
  if is_interrupt(t.reason) then error(t.reason, 0) end
  local t1 = s.clock()
  t.started, t.finished, t.seconds = t0, t1, t1 - t0
  s.take_id()
  s.record(t, graph)
  return t
end

-- The best of `genotypes` by score (each recorded through ctx:evaluate; the
-- first wins ties, failed ones lose). Returns the best trial (nil if none is
-- ok), the trials and their scores (nil for failed), in genotypes' order.
function Ctx:pick(genotypes, score, fidelity)
  local trials, scores, best = {}, {}, nil
  for i, g in ipairs(genotypes) do
    local t = self:evaluate(g, score, fidelity)
    trials[i], scores[i] = t, t.status == "ok" and t.score or nil
    if scores[i] and (best == nil or scores[i] > best.score) then best = t end
  end
  return best, trials, scores
end

-- An ask/tell strategy's loop over subnets (SPOS's search phase).
-- a = { trials = n, score = function(g), fidelity =, space = (ctx.space),
--       replay = trials of earlier runs to tell it first (tell order), stop = function() -> reason | nil }:
-- asks until n trials in all, the strategy has nothing left, or the budget
-- (or a.stop) stops it; at least one trial is made. Each ask gets
-- nas.rng(seed, trial id), as in nas.search; repeats are recorded. Returns
-- the trials (public views, as told).
function Ctx:ask_tell(st, a)
  local s = self.s
  local mine = {}
  for _, t in ipairs(a.replay or {}) do
    st:tell(t)
    mine[#mine + 1] = t
  end
  while #mine < a.trials do
    if #mine > 0 and (self:stop() or (a.stop and a.stop())) then break end
    local id = s.peek_id()
    local g = st:ask(a.space or self.space, rng_mod.new(self.seed, id))
    if g == nil then break end
    local pt = s.public(self:evaluate(g, a.score, a.fidelity, true))
    st:tell(pt)
    mine[#mine + 1] = pt
  end
  return mine
end

-- The recorded trial with this id (a nas.search trial: t:retrain works).
function Ctx:trial(id)
  local list = self.s.trials
  for i = #list, 1, -1 do
    if list[i].id == id then return list[i] end
  end
  return nil
end

-- ---- nas.search's side ------------------------------------------------------------

-- Runs one-shot `strategy` for nas.search. s: what nas.search lends it (its
-- store, progress, trials, record, ids, budget, ...). Returns why it stopped,
-- the chosen trial (nil unless it is ok) and the details (result.oneshot).
function M.drive(strategy, s)
  local name = tostring(strategy.name or "oneshot")
  if s.parallel then
    error(("search: strategy '%s' is one-shot: it trains one supernet in one process (no workers, no mpirun)")
      :format(name), 0)
  end
  if s.limits then
    error(("search: trial_timeout and limits apply to ask/tell strategies, not to the one-shot '%s' " ..
           "(budget.minutes caps it)"):format(name), 0)
  end
  if type(s.data) ~= "table" or s.data.train == nil then
    error(("search: the one-shot strategy '%s' trains a supernet: give data = (from nas.data) or an evaluator " ..
           "with data (nas.train{ data = ... })"):format(name), 0)
  end
  local ctx = setmetatable({ s = s, name = name, space = s.space, data = s.data, seed = s.seed, out = s.out,
                             start = s.clock(), rows = {}, earlier = {} }, Ctx)
  for i, t in ipairs(s.trials) do ctx.earlier[i] = s.public(t) end
  local env = copy(s.env)
  env.progress = nil
  env.evaluator = function(_, c) return ctx.score_fn(c.genotype) end
  ctx.env = env
  -- time spent by earlier runs: at their last checkpoint, plus the trials after it
  if s.store then
    for _, r in ipairs(s.store:phases()) do
      if r.kind == "epoch" then ctx.rows[#ctx.rows + 1] = r.data end
    end
  end
  local last = ctx.rows[#ctx.rows]
  local before = last and tonumber(last.elapsed) or 0
  local nbefore = last and math.tointeger(last.trials) or 0
  for i = nbefore + 1, #s.trials do before = before + (s.trials[i].seconds or 0) end
  ctx.elapsed_before = before
  s.prog.elapsed_before = before

  local chosen, details = strategy:search(ctx)
  s.prog.current = nil
  details = details or {}
  if chosen == nil then
    local why = details.error or "no subnet was chosen"
    if is_interrupt(why) then error(why, 0) end
    s.prog:message(("%s: %s"):format(name, why))
    return "failed", nil, details
  end
  details.genotype, details.score, details.trial = chosen.genotype, chosen.score, chosen.id
  if s.store then
    local prev
    for _, r in ipairs(s.store:phases()) do if r.kind == "result" then prev = r.data end end
    if not prev or prev.trial ~= chosen.id or prev.stopped ~= details.stopped then
      s.store:phase_add("result", { trial = chosen.id, genotype = chosen.genotype, score = chosen.score,
                                    stopped = details.stopped, elapsed = ctx:elapsed() })
    end
  end
  s.prog:message(("%s chose trial #%d%s%s"):format(name, chosen.id,
    chosen.status == "ok" and (" (score %.4f)"):format(chosen.score) or (" (" .. chosen.status .. ": " ..
      tostring(chosen.reason) .. ")"), details.stopped and ("; " .. details.stopped) or ""))
  return details.reason or "epochs", chosen.status == "ok" and chosen or nil, details
end

-- ---- what the shipped strategies share ----------------------------------------------

-- Options every supernet strategy takes (checked by M.check_common).
M.common_keys = { "epochs", "samples", "batch", "weights", "device", "memfmt", "chunk", "progress" }

-- (level: the level of an error raised here, as util.argerror takes it)
local function posint(o, k, fname, level, min)
  local v = o[k]
  min = min or 1
  if v ~= nil and (math.type(v) ~= "integer" or v < min) then
    util.argerror(1, fname, ("field '%s' must be an integer >= %d"):format(k, min), level)
  end
end
M.posint = posint

function M.check_common(o, fname, level)
  for _, k in ipairs{ "epochs", "samples", "batch", "chunk" } do posint(o, k, fname, level + 1) end
  if o.weights ~= nil and type(o.weights) ~= "table" then
    util.argerror(1, fname, "field 'weights' must be a table of training options", level)
  end
  if o.progress ~= nil and type(o.progress) ~= "function" then
    util.argerror(1, fname, "field 'progress' must be a function(info)", level)
  end
end

-- The training options of the shared weights (SGD lr 0.025 cosine, momentum
-- 0.9, weight decay 3e-4, batch 64, grad clip 5), o.weights overriding them.
function M.weights(o, seed)
  local w = { epochs = o.epochs or 1, batch = o.batch or 64, seed = seed, lr = 0.025, momentum = 0.9,
              weight_decay = 3e-4, schedule = "cosine", grad_clip = 5 }
  for k, v in pairs(o.weights or {}) do w[k] = v end
  return w
end

-- The options of a trainer that continues `w` after e0 of its epochs: the
-- remaining epochs, starting at the learning rate the schedule had reached
-- (cosine: then decaying to zero over them; step: the decays passed so far).
-- The optimizer's moments start afresh.
function M.resume_weights(w, e0)
  if not e0 or e0 <= 0 then return copy(w) end
  local r = copy(w)
  local E = w.epochs
  r.epochs = E - e0
  local warm = w.warmup or 0
  if r.warmup then r.warmup = math.max(0, warm - e0) end
  if (w.schedule or "cosine") == "cosine" and e0 > warm then
    r.lr = w.lr * 0.5 * (1 + math.cos(math.pi * (e0 - warm) / math.max(1e-9, E - warm)))
  elseif w.schedule == "step" then
    r.lr = w.lr * (w.gamma or 0.1) ^ (e0 // math.max(1, w.step_size or 1))
  end
  return r
end

-- The score function of subnets with the inherited weights: BN statistics
-- recalibrated on `batches` batches of `train`, then accuracy and loss on `rows`.
function M.scorer(sn, train, rows, batches, seed)
  return function(g)
    sn:subnet(g, { data = train, batches = batches, seed = seed })
    local r, msg = sn:evaluate(rows)
    if not r then error("evaluating the subnet: " .. tostring(msg), 0) end
    return { accuracy = r.accuracy, loss = r.loss, rows = rows:count() }
  end
end

-- The supernet of ctx.space in path mode, its data and weight trainer
-- (SPOS, ENAS), resumed from the last checkpoint when there is one. The
-- training split loses `holdout` rows (default 2000, seeded) that score
-- subnets; the rest trains the shared weights. The user's validation split is
-- never touched.
local Paths = {}
Paths.__index = Paths

function M.paths(ctx, o)
  local seed = ctx.seed
  local train = ctx.data.train
  if o.samples then train = train:subset(math.min(o.samples, train:count()), seed) end
  local holdout = math.min(o.holdout or 2000, train:count() // 2)
  local wtrain, hold = train:split(holdout, seed + 1)
  local sn = supernet.new(ctx.space, { seed = seed, device = o.device, memfmt = o.memfmt, fixed = o.fixed,
                                       base = o.base })
  sn:mode("path")
  local self = setmetatable({ ctx = ctx, o = o, sn = sn, space = sn.subspace, train = wtrain, hold = hold,
                              seed = seed, weights = M.weights(o, seed), chunk = o.chunk or 50, t0 = now() }, Paths)
  self.at = ctx:restore(sn)
  return self
end

-- Accuracy of subnet g with the shared weights on `rows` holdout rows (a
-- subset drawn with subset_seed; all of them by default), BN recalibrated on
-- `batches` training batches. Raises if the evaluation fails.
function Paths:score(g, batches, rows, subset_seed)
  self.sn:subnet(g, { data = self.train, batches = batches, seed = self.seed })
  local data = self.hold
  if rows and rows < data:count() then data = data:subset(rows, subset_seed or self.seed) end
  local r, msg = self.sn:evaluate(data)
  if not r then error(self.ctx.name .. ": evaluating a subnet: " .. tostring(msg), 0) end
  return r.accuracy
end

-- Trains the weights from where the run stands to the last epoch, one step
-- per path draw(epoch, rng) (rng: nas.rng(seed, "paths", epoch)); after each
-- epoch, extra = after_epoch(epoch) (a table joined to the checkpoint's info)
-- and a checkpoint. Stops early when the budget's minutes are spent. Returns
-- true, or nil and the trainer's message (NaN, out of memory).
-- Afterwards: self.trained (the fidelity epochs: fractional if stopped),
-- self.steps, self.stopped, self.train_seconds.
function Paths:fit(draw, after_epoch)
  local ctx, sn, w, at = self.ctx, self.sn, self.weights, self.at
  local E = w.epochs
  local e0 = at and (math.tointeger(at.epoch) or at.epoch) or 0
  self.trained, self.steps, self.stopped, self.reason = e0, at and at.step or 0, at and at.stopped, at and at.reason
  if at and (at.stopped or e0 >= E) then
    self.train_seconds = 0
    return true
  end
  local rw = M.resume_weights(w, e0)
  local t, msg = sn:train_begin(self.train, util.without(rw, { progress = true, on_epoch = true, chunk = true }))
  if not t then return nil, msg end
  local s0, spe, cur, rng = 0, nil, e0 + 1, nil
  local o = self.o
  local ok, err = pcall(function()
    while true do
      if not rng then rng = rng_mod.new(self.seed, "paths", cur) end
      sn:set_path(draw(cur, rng))
      local p, m = t:run(1)
      if not p then
        msg = m
        return
      end
      spe = spe or p.total_steps / (E - e0)
      s0 = math.floor(e0 * spe + 0.5)
      local info = { epoch = cur, epochs = E, step = s0 + p.step, total_steps = s0 + p.total_steps, loss = p.loss,
                     seconds = now() - self.t0 }
      self.steps = info.step
      if p.step % self.chunk == 0 or p.done then
        ctx:progress(info)
        if o.progress then
          info.phase = "train"
          o.progress(info)
        end
      end
      if p.epoch_done then
        local extra = after_epoch and after_epoch(cur) or {}
        local row = { epoch = cur, epochs = E, step = s0 + p.step, total_steps = s0 + p.total_steps,
                      loss = p.epoch_loss, accuracy = p.epoch_accuracy }
        for k, v in pairs(extra) do row[k] = v end
        ctx:checkpoint(sn, row)
        self.trained = cur
        cur, rng = cur + 1, nil
      end
      if p.done then return end
      if ctx:out_of_time() then
        local gstep = s0 + p.step
        self.stopped = ("time budget: stopped after step %d of %d"):format(gstep, s0 + p.total_steps)
        self.trained, self.reason = math.floor(1000 * gstep / spe) / 1000, "minutes"
        ctx:checkpoint(sn, { epoch = self.trained, epochs = E, step = gstep, total_steps = s0 + p.total_steps,
                             loss = p.loss, stopped = self.stopped, reason = "minutes", partial = true })
        return
      end
    end
  end)
  t:release()
  self.train_seconds = now() - self.t0
  if not ok then error(err, 0) end
  if msg then return nil, msg end
  return true
end

-- ---- run{}: a search without a store --------------------------------------------------

-- strategy.run{ space =, data =, seed = 0, max_seconds =, <the strategy's options> }:
-- nas.search with a one-shot strategy made by new(options, fname, level) and
-- no store; returns result.oneshot with genotype, score and search (the
-- nas.search result), or nil and a message when training failed.
function M.run_with(search, new, o, fname, level)
  level = (level or 1) + 1
  if type(o) ~= "table" then util.argerror(1, fname, "options table expected", level) end
  if o.space == nil then util.argerror(1, fname, "field 'space' is required", level) end
  if type(o.data) ~= "table" or not o.data.train then
    util.argerror(1, fname, "field 'data' (a table with .train, from nas.data) is required", level)
  end
  if o.seed ~= nil and math.type(o.seed) ~= "integer" then
    util.argerror(1, fname, "field 'seed' must be an integer", level)
  end
  if o.max_seconds ~= nil and (type(o.max_seconds) ~= "number" or not (o.max_seconds > 0)) then
    util.argerror(1, fname, "field 'max_seconds' must be a number > 0", level)
  end
  local so = util.without(o, { space = true, data = true, seed = true, max_seconds = true })
  local st = new(so, fname, level + 1)
  local res = search{ space = o.space, strategy = st, data = o.data, seed = o.seed or 0, progress = false,
                      log = false, budget = { minutes = o.max_seconds and o.max_seconds / 60 or math.huge } }
  local r = res.oneshot or {}
  if r.error then return nil, r.error end
  r.search = res
  return r
end

return M
