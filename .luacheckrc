-- luacheck configuration: luacheck lua strategies spaces examples tests/lua bench
std = "lua54"
max_line_length = 120

-- Scripts run by nasrun get their command line in `arg`.
files["examples"] = { read_globals = { "arg" } }
files["bench"] = { read_globals = { "arg" } }
files["tests/lua/*_script.lua"] = { read_globals = { "arg" } }

-- Specs run under busted.
files["tests/lua"] = { std = "+busted" }

-- Methods keep the method shape of their interface (space hooks, worker
-- pools) even where a body has no use for self.
self = false

-- `not (x > 0)` is this code's way of rejecting NaN along with the numbers out
-- of range; luacheck's suggested `x <= 0` would let NaN through.
ignore = { "581" }
