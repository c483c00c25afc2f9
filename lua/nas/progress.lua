-- nas.progress: what a running search shows.
--
-- On a terminal: one status line, rewritten in place with \r:
--   [ 12/100] | best 0.8731 (#7) | eta 3m12s | #13 epoch 1/1 step 120/390
-- Elsewhere (a pipe, a file, CI): one plain line per finished trial:
--   trial 12/100 ok score 0.8731 accuracy 0.8731 params 45.1k lat 0.420ms 12.3s | best 0.8750 (#7) | eta 3m12s
-- Every trial line also goes to the run's log file (<out>/search.log).
local M = {}
local P = {}
P.__index = P

local is_tty_cache
function M.is_terminal()
  if is_tty_cache == nil then
    local term = os.getenv("TERM")
    is_tty_cache = term ~= nil and term ~= "dumb" and os.execute("test -t 1") == true
  end
  return is_tty_cache
end

-- M.new{ live = bool, echo = true | false | function(line), file = handle|nil,
--        budget = {trials=, minutes=}, clock = fn, out = io.stdout }
function M.new(o)
  return setmetatable({
    live = o.live, echo = o.echo, file = o.file, budget = o.budget or {}, clock = o.clock,
    out = o.out or io.stdout, start = o.clock(), done = 0, done_here = 0, best = nil, current = nil,
    step = nil, last_draw = -math.huge, width = 0,
  }, P)
end

local function human_time(s)
  if s == nil or s ~= s or s == math.huge then return "?" end
  s = math.max(0, math.floor(s + 0.5))
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%ds"):format(s)
end
M.human_time = human_time

local function human_count(n)
  if type(n) ~= "number" then return "-" end
  if n >= 1e6 then return ("%.2fM"):format(n / 1e6) end
  if n >= 1e3 then return ("%.1fk"):format(n / 1e3) end
  return ("%d"):format(math.floor(n))
end

-- Seconds left, from the trial budget (mean time of this run's trials)
-- and the minutes budget, whichever ends first.
function P:eta(elapsed_before)
  local now = self.clock() - self.start
  local eta
  local b = self.budget
  if b.trials and self.done_here > 0 and now > 1 then
    eta = (b.trials - self.done) * now / self.done_here
  end
  if b.minutes then
    local left = b.minutes * 60 - (elapsed_before or 0) - now
    if eta == nil or left < eta then eta = left end
  end
  return eta
end

function P:budget_text()
  return self.budget.trials and tostring(self.budget.trials) or "?"
end

function P:write_line(line)
  if self.file then
    self.file:write(os.date("%Y-%m-%d %H:%M:%S "), line, "\n")
    self.file:flush()
  end
  if self.echo == false then return end
  if type(self.echo) == "function" then
    self.echo(line)
    return
  end
  if self.live then self:clear() end
  self.out:write(line, "\n")
  self.out:flush()
  if self.live then self:draw(true) end
end

-- A message (not a trial): logged, and echoed like a trial line.
function P:message(line) self:write_line(line) end

function P:clear()
  if self.width > 0 then
    self.out:write("\r", (" "):rep(self.width), "\r")
    self.width = 0
  end
end

function P:draw(force)
  if not self.live or self.echo == false then return end
  local now = self.clock()
  if not force and now - self.last_draw < 0.2 then return end
  self.last_draw = now
  local parts = { ("[%3d/%s]"):format(self.done, self:budget_text()) }
  if self.best then
    parts[#parts + 1] = ("best %.4f (#%d)"):format(self.best.score, self.best.id)
  else
    parts[#parts + 1] = "best -"
  end
  parts[#parts + 1] = "eta " .. human_time(self:eta(self.elapsed_before))
  if self.nrunning then
    parts[#parts + 1] = ("%d running"):format(self.nrunning)
  elseif self.current then
    local c = type(self.current) == "string" and self.current or "#" .. self.current -- a label: "darts supernet"
    local s = self.step
    if s and s.step then
      if s.epochs then c = c .. (" epoch %d/%d"):format(math.max(s.epoch or 0, 1), s.epochs) end
      c = c .. (" step %d/%s"):format(s.step, tostring(s.total_steps or "?"))
    end
    parts[#parts + 1] = c
  end
  local line = table.concat(parts, " | ")
  local pad = math.max(0, self.width - #line)
  self.out:write("\r", line, (" "):rep(pad))
  self.out:flush()
  self.width = #line
end

function P:trial_start(id)
  self.current = id
  self.step = nil
  self:draw(true)
end

-- A parallel search: n trials running on workers.
function P:running(n)
  if n ~= self.nrunning then
    self.nrunning = n
    self:draw(false)
  end
end

-- The evaluator's ctx.progress: p = {step=, total_steps=, epoch=, epochs=, ...}
function P:on_step(p)
  self.step = p
  self:draw(false)
end

local function metric_text(m)
  local parts = {}
  if type(m.accuracy) == "number" then parts[#parts + 1] = ("accuracy %.4f"):format(m.accuracy) end
  if type(m.params) == "number" then parts[#parts + 1] = "params " .. human_count(m.params) end
  if type(m.latency_ms) == "number" then parts[#parts + 1] = ("lat %.3fms"):format(m.latency_ms) end
  return table.concat(parts, " ")
end

-- A finished (or replayed) trial. `best` is the best ok trial so far.
function P:trial_done(t, best, replayed)
  self.done = self.done + 1
  if not replayed then self.done_here = self.done_here + 1 end
  self.best = best
  self.current = nil
  self.step = nil
  if replayed then return end
  local head = ("trial %d/%s %s"):format(t.id, self:budget_text(), t.status)
  if t.worker then head = head .. (" (worker %d)"):format(t.worker) end
  local body
  if t.status == "ok" then
    body = ("score %.4f %s"):format(t.score, metric_text(t.metrics))
  else
    body = t.reason or ""
  end
  if t.cached_from then body = body .. (" (same graph as #%d)"):format(t.cached_from) end
  local tail = ("%.1fs | best %s | eta %s"):format(t.seconds or 0,
    best and ("%.4f (#%d)"):format(best.score, best.id) or "-", human_time(self:eta(self.elapsed_before)))
  if self.live and self.echo ~= false and type(self.echo) ~= "function" then
    -- On a terminal only the log file gets per-trial lines; the status line says the rest.
    if self.file then
      self.file:write(os.date("%Y-%m-%d %H:%M:%S "), head, " ", body, " ", tail, "\n")
      self.file:flush()
    end
    self:draw(true)
    return
  end
  self:write_line(head .. " " .. body .. " " .. tail)
end

function P:finish()
  if self.live and self.echo ~= false then
    self:clear()
    self.out:flush()
  end
end

return M
