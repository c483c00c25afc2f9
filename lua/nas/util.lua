-- Small helpers shared by the nas modules: strict option tables and errors
-- that point at the caller's line.
local M = {}

-- Raises "bad argument #n to 'fname' (msg)" at the caller `level` levels up.
function M.argerror(n, fname, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), (level or 1) + 1)
end

-- Checks that `t` is a table whose keys are all in `allowed` (a set or a list).
function M.check_options(t, allowed, n, fname, level)
  level = (level or 1) + 1
  if t == nil then return {} end
  if type(t) ~= "table" then
    M.argerror(n, fname, "table expected, got " .. type(t), level)
  end
  local set = allowed
  if allowed[1] then
    set = {}
    for _, k in ipairs(allowed) do set[k] = true end
  end
  for k in pairs(t) do
    if not set[k] then
      local names = {}
      for name in pairs(set) do names[#names + 1] = name end
      table.sort(names)
      M.argerror(n, fname, ("unknown option '%s' (allowed: %s)"):format(tostring(k), table.concat(names, ", ")),
                 level)
    end
  end
  return t
end

-- Calls f(...) and re-raises any error at `level` (1 = the caller of guard's
-- caller), so that messages from C functions carry the user's file:line.
function M.guard(level, f, ...)
  local res = table.pack(pcall(f, ...))
  if not res[1] then error(res[2], level + 1) end
  return table.unpack(res, 2, res.n)
end

-- Shallow copy of t without the listed keys.
function M.without(t, keys)
  local out = {}
  for k, v in pairs(t) do
    if not keys[k] then out[k] = v end
  end
  return out
end

-- The settings nasrun was started with (--seed, --device, --threads), or defaults.
function M.config()
  local cfg = package.loaded["nas.config"]
  if type(cfg) ~= "table" then
    cfg = { seed = 0, device = "cpu" }
  end
  return cfg
end

-- The whole content of a file, or nil when it cannot be opened.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

return M
