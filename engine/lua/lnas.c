/* nas.core: the module entry, shared helpers and engine-wide settings. */
#include <stdint.h>
#include <string.h>

#include "lnas.h"

int lnas_fail(lua_State *L, const nas_error *err) {
  lua_pushnil(L);
  lua_pushstring(L, err->msg[0] ? err->msg : nas_status_name(err->status));
  lua_pushstring(L, nas_status_name(err->status));
  return 3;
}

lnas_box *lnas_box_new(lua_State *L, const char *mt, int nuv) {
  lnas_box *b = (lnas_box *)lua_newuserdatauv(L, sizeof *b, nuv);
  b->p = NULL;
  luaL_setmetatable(L, mt);
  return b;
}

static int field_type(lua_State *L, int t, const char *key) {
  return lua_getfield(L, t, key);
}

static int bad_field(lua_State *L, int t, const char *key, const char *want) {
  const char *got = luaL_typename(L, -1);
  return luaL_argerror(L, t, lua_pushfstring(L, "field '%s' must be %s, got %s", key, want, got));
}

lua_Integer lnas_opt_int(lua_State *L, int t, const char *key, lua_Integer def) {
  lua_Integer v = def;
  if (field_type(L, t, key) != LUA_TNIL) {
    int ok = 0;
    v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER) bad_field(L, t, key, "an integer");
  }
  lua_pop(L, 1);
  return v;
}

lua_Number lnas_opt_num(lua_State *L, int t, const char *key, lua_Number def) {
  lua_Number v = def;
  if (field_type(L, t, key) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TNUMBER) bad_field(L, t, key, "a number");
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

const char *lnas_opt_str(lua_State *L, int t, const char *key, const char *def) {
  const char *v = def;
  if (field_type(L, t, key) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) bad_field(L, t, key, "a string");
    v = lua_tostring(L, -1); /* still referenced by the table */
  }
  lua_pop(L, 1);
  return v;
}

int lnas_opt_bool(lua_State *L, int t, const char *key, int def) {
  int v = def;
  if (field_type(L, t, key) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) bad_field(L, t, key, "a boolean");
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

void lnas_check_keys(lua_State *L, int t, const char *const *allowed) {
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    int found = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; allowed[i]; i++)
        if (strcmp(k, allowed[i]) == 0) { found = 1; break; }
      if (!found) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 0; allowed[i]; i++) {
          if (i) luaL_addstring(&b, ", ");
          luaL_addstring(&b, allowed[i]);
        }
        luaL_pushresult(&b);
        luaL_argerror(L, t, lua_pushfstring(L, "unknown option '%s' (allowed: %s)", k,
                                            lua_tostring(L, -1)));
      }
    } else {
      luaL_argerror(L, t, "option keys must be strings");
    }
  }
}

/* ---- settings ---------------------------------------------------------- */

static int l_set_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1, 1, "threads must be >= 1");
  nas_threads_set((int)n);
  return 0;
}

static int l_get_threads(lua_State *L) {
  lua_pushinteger(L, nas_threads_get());
  return 1;
}

static int l_cuda_available(lua_State *L) {
  lua_pushboolean(L, nas_cuda_available());
  return 1;
}

static int l_cuda_device_count(lua_State *L) {
  lua_pushinteger(L, nas_cuda_device_count());
  return 1;
}

static int l_interrupted(lua_State *L) {
  lua_pushboolean(L, nas_interrupt_pending());
  return 1;
}

static int l_interrupt_clear(lua_State *L) {
  (void)L;
  nas_interrupt_clear();
  return 0;
}

/* core.ops() -> { {name=, min_inputs=, max_inputs=, attrs={ {key=, kind=, required=} } }, ... } */
static int l_ops(lua_State *L) {
  static const char *kinds[] = {"?", "int", "float", "string"};
  lua_createtable(L, nas_op_count() - 1, 0);
  for (int op = 1; op < nas_op_count(); op++) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, nas_op_name((nas_op)op));
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, nas_op_min_inputs((nas_op)op));
    lua_setfield(L, -2, "min_inputs");
    lua_pushinteger(L, nas_op_max_inputs((nas_op)op));
    lua_setfield(L, -2, "max_inputs");
    int n = nas_op_attr_count((nas_op)op);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
      lua_createtable(L, 0, 3);
      lua_pushstring(L, nas_op_attr_key((nas_op)op, i));
      lua_setfield(L, -2, "key");
      nas_attr_kind k = nas_op_attr_kind((nas_op)op, i);
      lua_pushstring(L, kinds[k >= 1 && k <= 3 ? k : 0]);
      lua_setfield(L, -2, "kind");
      lua_pushboolean(L, nas_op_attr_required((nas_op)op, i));
      lua_setfield(L, -2, "required");
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "attrs");
    lua_rawseti(L, -2, op);
  }
  return 1;
}

/* ---- nas.rng's draws (lua/nas/rng.lua) ------------------------------------------------------
 * core.rng_bind(Rng) -> int, uniform, next: C closures over Rng (the metatable of nas.rng's
 * generators) that draw from an rng's xoshiro256** state, the table { s1, s2, s3, s4 } of Lua
 * integers, exactly as rng.lua's Lua versions do (same outputs, same state updates, same
 * errors, at the caller's line). A searches' hot path: one C call instead of ~40 Lua
 * instructions per draw. */

/* The state of argument 1, checked to be an rng: its metatable is Rng, whose address is
 * upvalue 1 (a light userdata; upvalue 2, Rng itself, keeps it alive). */
static void rng_load(lua_State *L, uint64_t s[4], const char *fname) {
  int ok = lua_getmetatable(L, 1);
  if (ok) {
    ok = lua_topointer(L, -1) == lua_touserdata(L, lua_upvalueindex(1));
    lua_pop(L, 1);
  }
  if (!ok) luaL_error(L, "bad argument #1 to '%s' (rng expected; call it as rng:%s(...))", fname, fname);
  for (int i = 0; i < 4; i++) {
    lua_rawgeti(L, 1, i + 1);
    s[i] = (uint64_t)lua_tointegerx(L, -1, NULL);
  }
  lua_pop(L, 4);
}

static void rng_store(lua_State *L, const uint64_t s[4]) {
  for (int i = 0; i < 4; i++) {
    lua_pushinteger(L, (lua_Integer)s[i]);
    lua_rawseti(L, 1, i + 1);
  }
}

/* rng:int(lo, hi): lo + x, x the top bits(hi - lo) bits of the next output, outputs above hi - lo
 * rejected (unbiased); lo == hi draws nothing. */
static int l_rng_int(lua_State *L) {
  nas_rng r;
  rng_load(L, r.s, "int");
  int oklo, okhi;
  lua_Integer lo = lua_tointegerx(L, 2, &oklo), hi = lua_tointegerx(L, 3, &okhi);
  if (!oklo || !okhi) return luaL_error(L, "bad argument to 'int' (integers lo, hi expected)");
  if (hi < lo) return luaL_error(L, "bad argument to 'int' (empty range %I..%I)", lo, hi);
  uint64_t range = (uint64_t)hi - (uint64_t)lo;
  if (range == 0) {
    lua_pushinteger(L, lo);
    return 1;
  }
  int bits = 1;
  while (bits < 64 && (range >> bits) != 0) bits++;
  int shift = 64 - bits;
  uint64_t x;
  do {
    x = nas_rng_next(&r) >> shift;
  } while (x > range);
  rng_store(L, r.s);
  lua_pushinteger(L, (lua_Integer)((uint64_t)lo + x));
  return 1;
}

/* rng:uniform(): a float in [0, 1) with 53 random bits. */
static int l_rng_uniform(lua_State *L) {
  nas_rng r;
  rng_load(L, r.s, "uniform");
  uint64_t x = nas_rng_next(&r) >> 11;
  rng_store(L, r.s);
  lua_pushnumber(L, (lua_Number)x * 0x1p-53);
  return 1;
}

/* rng:next(): the next raw output as a Lua integer. */
static int l_rng_next(lua_State *L) {
  nas_rng r;
  rng_load(L, r.s, "next");
  uint64_t x = nas_rng_next(&r);
  rng_store(L, r.s);
  lua_pushinteger(L, (lua_Integer)x);
  return 1;
}

static int l_rng_bind(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_CFunction fs[3] = { l_rng_int, l_rng_uniform, l_rng_next };
  for (int i = 0; i < 3; i++) {
    lua_pushlightuserdata(L, (void *)lua_topointer(L, 1));
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, fs[i], 2);
  }
  return 3;
}

static const luaL_Reg core_funcs[] = {
  {"rng_bind", l_rng_bind},
  {"set_threads", l_set_threads},
  {"get_threads", l_get_threads},
  {"cuda_available", l_cuda_available},
  {"cuda_device_count", l_cuda_device_count},
  {"interrupted", l_interrupted},
  {"interrupt_clear", l_interrupt_clear},
  {"ops", l_ops},
  {NULL, NULL}
};

int luaopen_nas_core(lua_State *L) {
  luaL_newlib(L, core_funcs);
  lua_pushstring(L, NAS_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, nas_torch_version());
  lua_setfield(L, -2, "torch_version");
  lnas_open_graph(L);
  lnas_open_data(L);
  lnas_open_model(L);
  lnas_open_controller(L);
  lnas_open_proxy(L);
  lnas_open_proc(L);
  lnas_open_supernet(L); /* after lnas_open_model: adds methods to nas.Model */
  return 1;
}
