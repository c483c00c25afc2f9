-- Helpers shared by the specs that drive a real nasrun or read a store
-- directly (not a spec: busted runs *_spec.lua files only).
local M = {}

-- The nasrun binary: $NASRUN, else ./build/nasrun or ./nasrun.
function M.nasrun()
  local exe = os.getenv("NASRUN")
  if exe and exe ~= "" then return exe end
  for _, p in ipairs({ "build/nasrun", "./nasrun" }) do
    local f = io.open(p)
    if f then f:close() return p end
  end
  error("set NASRUN to the nasrun binary", 2)
end

-- A fresh (removed) folder name under $NAS_TEST_TMP (default /tmp).
function M.fresh_dir(prefix, name)
  local d = ("%s/%s_%s_%d"):format(os.getenv("NAS_TEST_TMP") or "/tmp", prefix, name, math.random(1, 1e9))
  os.execute("rm -rf '" .. d .. "'")
  return d
end

-- The rows of `sql` on the SQLite file `path`, as tables column -> value.
function M.sql_rows(path, sql)
  local env = require("luasql.sqlite3").sqlite3()
  local conn = assert(env:connect(path))
  local cur = assert(conn:execute(sql))
  local out = {}
  while true do
    local r = cur:fetch({}, "a")
    if not r then break end
    out[#out + 1] = r
  end
  cur:close()
  conn:close()
  env:close()
  return out
end

return M
