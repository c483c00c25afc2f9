-- nas.workers: the worker processes of a parallel search, behind one
-- interface with two transports.
--
--   local: worker processes on this machine, started by the coordinator
--          (`nasrun --workers N script.lua`, nas.search{ workers = N }): each
--          is `nasrun --threads T script.lua args` over a socket pair, in its
--          own process group, dying with the coordinator.
--   mpi:   the ranks of `mpirun -np N nasrun script.lua`: rank 0 is the
--          coordinator, ranks 1..N-1 the workers.
--
-- Both run the same script as the coordinator, so spaces, evaluators, fitness
-- functions and constraints are the script's own on every worker; only
-- messages cross, each a JSON object. The pool (coordinator side):
--
--   local pool = workers.pool()            -- the process's one pool (local or MPI)
--   pool:ensure(n, threads, log_dir)       -- local: start workers up to n (MPI: all ranks)
--   pool:send(w, msg)                      -- msg: a plain table (send_raw: its JSON)
--   pool:wait(seconds) -> { {w =, msg =} | {w =, lost = reason}, ... }
--   pool:kill(w) -> true | nil, why        -- local only
--   pool:list() -> { w, ... }              -- live workers
--   pool:shutdown()
--
-- The worker side: workers.link() -> { send = fn(msg), recv = fn() -> msg | nil, why }.
local util = require "nas.util"
local json = require "nas.json"

local M = {}

local function core() return require "nas.core" end

local SIGNALS = { [1] = "SIGHUP", [2] = "SIGINT", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL",
                  [11] = "SIGSEGV", [13] = "SIGPIPE", [15] = "SIGTERM", [24] = "SIGXCPU", [25] = "SIGXFSZ" }

-- "killed by SIGKILL", "exited with code 1", ...
function M.describe_exit(kind, code)
  if kind == "signal" then return ("killed by %s"):format(SIGNALS[code] or ("signal " .. tostring(code))) end
  if kind == "exited" then return ("exited with code %d"):format(code) end
  return tostring(kind)
end

-- This process's role: "worker" (a local worker or an MPI rank > 0) or "coordinator".
function M.role()
  return util.config().role or "coordinator"
end

-- ---- the local transport ------------------------------------------------------

local Local = {}

-- The command line of a worker: this nasrun with its options (but --threads
-- and --workers), then --threads T, the script and its arguments.
local function worker_argv(threads)
  local cfg = util.config()
  local argv = cfg.argv
  if type(argv) ~= "table" or not cfg.exe then
    return nil, "local workers need the nasrun command (this Lua was not started by nasrun)"
  end
  local out = { cfg.exe, "--threads", tostring(threads) }
  local i, script = 2, nil
  while argv[i] do
    local a = argv[i]
    if a == "--threads" or a == "--workers" then
      i = i + 1
    elseif a == "--" then
      script = i + 1
      break
    elseif a:sub(1, 1) ~= "-" then
      script = i
      break
    elseif a == "-" then
      return nil, "local workers need a script file (the script was read from stdin)"
    else
      out[#out + 1] = a
      if a == "-e" or a == "-l" or a == "--seed" or a == "--device" then
        i = i + 1
        out[#out + 1] = argv[i]
      end
    end
    i = i + 1
  end
  if not script or not argv[script] then return nil, "local workers need a script file" end
  for j = script, #argv do out[#out + 1] = argv[j] end
  return out
end
M.worker_argv = worker_argv

function Local:start(slot)
  local argv, why = worker_argv(self.threads)
  if not argv then error("search: " .. why, 0) end
  local env = { NASRUN_WORKER_ID = tostring(slot) }
  local log = self.log_dir and ("%s/worker-%d.log"):format(self.log_dir, slot) or "/dev/null"
  local pid, fd = core().spawn(argv, env, log)
  if not pid then error(("search: cannot start worker %d: %s"):format(slot, tostring(fd)), 0) end
  self.slots[slot] = { pid = pid, fd = fd }
  self.by_fd[fd] = slot
  self.started = self.started + 1
end

function Local:ensure(n, threads, log_dir)
  self.threads, self.log_dir = threads, log_dir
  for slot = 1, n do
    if not self.slots[slot] then self:start(slot) end
  end
  return n
end

function Local:size()
  local n = 0
  for _ in pairs(self.slots) do n = n + 1 end
  return n
end

function Local:list()
  local out = {}
  for slot in pairs(self.slots) do out[#out + 1] = slot end
  table.sort(out)
  return out
end

function Local:send(w, msg) return self:send_raw(w, json.encode(msg)) end

function Local:send_raw(w, bytes)
  local s = self.slots[w]
  if not s then return nil, "no worker " .. tostring(w) end
  return core().send(s.fd, bytes)
end

-- Ends worker w's process (if alive), reaps it, frees its slot: the reason it ended.
function Local:_reap(w, kill)
  local s = self.slots[w]
  if not s then return "gone" end
  local c = core()
  if kill then pcall(c.kill, s.pid, 9) end
  c.close(s.fd)
  self.by_fd[s.fd] = nil
  self.slots[w] = nil
  local kind, code = c.wait(s.pid, true)
  return M.describe_exit(kind, code)
end

function Local:wait(seconds)
  local c = core()
  local fds = {}
  for fd in pairs(self.by_fd) do fds[#fds + 1] = fd end
  local events = {}
  if #fds == 0 then
    if seconds and seconds > 0 then c.sleep(math.min(seconds, 0.05)) end
    return events
  end
  local ready = c.poll(fds, seconds and math.max(0, seconds * 1000) or -1)
  if not ready then return events end
  table.sort(ready)
  for _, fd in ipairs(ready) do
    local w = self.by_fd[fd]
    if w then
      local s, why = c.recv(fd)
      if s then
        local ok, msg = pcall(json.decode, s)
        if ok and type(msg) == "table" then
          events[#events + 1] = { w = w, msg = msg }
        else
          events[#events + 1] = { w = w, lost = "worker lost (sent a malformed message: " .. tostring(msg) .. ")" }
          self:_reap(w, true)
        end
      else
        local how = self:_reap(w, false)
        events[#events + 1] = { w = w, lost = ("worker lost (%s)"):format(why == "closed" and how or
          (tostring(why) .. ", " .. how)) }
      end
    end
  end
  return events
end

function Local:kill(w)
  if not self.slots[w] then return nil, "no worker " .. tostring(w) end
  return self:_reap(w, true)
end

function Local:respawn(w)
  if not self.slots[w] then self:start(w) end
end

function Local:shutdown()
  for w in pairs(self.slots) do self:_reap(w, true) end
end

-- ---- the MPI transport ----------------------------------------------------------

local Mpi = {}
Mpi.__index = Mpi

function Mpi:ensure() return self.mpi.size - 1 end
function Mpi:size() return self.mpi.size - 1 end
function Mpi:list()
  local out = {}
  for r = 1, self.mpi.size - 1 do out[#out + 1] = r end
  return out
end

function Mpi:send(w, msg) return self.mpi.send(w, json.encode(msg)) end
function Mpi:send_raw(w, bytes) return self.mpi.send(w, bytes) end

function Mpi:wait(seconds)
  local events = {}
  local src = self.mpi.wait(seconds or -1)
  while src ~= nil and src ~= "exit" do
    local ok, msg = pcall(json.decode, self.mpi.recv(src))
    if ok and type(msg) == "table" then
      events[#events + 1] = { w = src, msg = msg }
    else
      events[#events + 1] = { w = src, lost = "worker lost (sent a malformed message)" }
    end
    src = self.mpi.wait(0)
  end
  return events
end

function Mpi:kill() return nil, "an MPI rank cannot be stopped alone (Open MPI ends the whole job)" end
function Mpi:respawn() end
function Mpi:shutdown() end

-- ---- the pool --------------------------------------------------------------------

local the_pool

-- The process's pool: MPI ranks under mpirun, local worker processes otherwise.
function M.pool()
  if the_pool then return the_pool end
  local cfg = util.config()
  if cfg.mpi then
    the_pool = setmetatable({ kind = "mpi", mpi = cfg.mpi }, Mpi)
  else
    -- Workers end with the coordinator's Lua state (they also die with its process).
    the_pool = setmetatable({ kind = "local", slots = {}, by_fd = {}, started = 0, threads = 1 },
                            { __index = Local, __gc = function(p) p:shutdown() end })
  end
  return the_pool
end

function M.has_pool() return the_pool ~= nil end

-- ---- the worker side ------------------------------------------------------------

-- The link to the coordinator: { send = fn(msg) -> true | "exit" | nil, why, recv = fn() -> msg | nil, why }.
function M.link()
  local cfg = util.config()
  if cfg.mpi then
    local mpi = cfg.mpi
    return {
      kind = "mpi", id = mpi.rank, host = mpi.host,
      send = function(msg) return mpi.send(0, json.encode(msg)) end,
      recv = function()
        local src = mpi.wait(-1)
        if src == "exit" or src == nil then return nil, "exit" end
        return json.decode(mpi.recv(src))
      end,
    }
  end
  local fd = cfg.worker_fd
  if not fd then error("nas.workers.link: this process is not a worker", 2) end
  local c = core()
  return {
    kind = "local", id = tonumber(os.getenv("NASRUN_WORKER_ID")) or 0, host = c.hostname(),
    send = function(msg) return c.send(fd, json.encode(msg)) end,
    recv = function()
      local s, why = c.recv(fd)
      if not s then return nil, why end
      return json.decode(s)
    end,
  }
end

return M
