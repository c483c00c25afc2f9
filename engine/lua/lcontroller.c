/* nas.Controller: the LSTM policy controller of engine/torch (nas.h) as Lua
 * userdata, for strategies/reinforce.lua (controller = "lstm").
 *
 *   local ctl = core.controller_new{ sizes = {5, 5, 5}, hidden = 64, lr = 3.5e-4,
 *     entropy = 1e-4, temperature = 5, tanh_c = 2.5, baseline_decay = 0.9, seed = 0 }
 *   local choices, logprob, entropy = ctl:sample(uniforms)  -- #uniforms == #sizes, each in [0,1)
 *   local baseline = ctl:update(choices, reward)
 *   local p = ctl:probs(prefix)   -- distribution of decision #prefix+1
 *
 * Choices are 1-based on this side (choice j of a decision with values
 * {v1..vk} is vj), 0-based in the C ABI. Misuse raises an error naming the
 * argument; an engine failure (NaN loss, out of memory) returns nil, msg, status.
 * Every engine call returns before any Lua error is raised. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lnas.h"

#define MAX_DECISIONS 100000

static lnas_box *check_box(lua_State *L, int i) {
  return (lnas_box *)luaL_checkudata(L, i, NAS_CONTROLLER_MT);
}

static nas_controller *check_controller(lua_State *L, int i) {
  lnas_box *b = check_box(L, i);
  if (!b->p) luaL_argerror(L, i, "controller has been released");
  return (nas_controller *)b->p;
}

static int c_release(lua_State *L) {
  lnas_box *b = check_box(L, 1);
  if (b->p) {
    nas_controller_free((nas_controller *)b->p);
    b->p = NULL;
  }
  return 0;
}

/* A full userdata holding n ints / doubles, left on the stack (freed by the GC
 * even when a later argument check raises). */
static void *scratch(lua_State *L, size_t n, size_t elem) {
  return lua_newuserdatauv(L, (n ? n : 1) * elem, 0);
}

/* Reads the list at index t (a sequence of length n) of integers in 1..size(i)
 * into 0-based ints. what names the argument in messages. */
static void read_choices(lua_State *L, int arg, nas_controller *c, int n, int *out) {
  luaL_checktype(L, arg, LUA_TTABLE);
  for (int i = 0; i < n; i++) {
    lua_geti(L, arg, i + 1);
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, arg, lua_pushfstring(L, "choice %d must be an integer, got %s", i + 1,
                                            luaL_typename(L, -1)));
    int size = nas_controller_size(c, i);
    if (v < 1 || v > size)
      luaL_argerror(L, arg, lua_pushfstring(L, "choice %d is %I, needs 1..%d", i + 1, v, size));
    out[i] = (int)(v - 1);
    lua_pop(L, 1);
  }
}

/* core.controller_new{ sizes = {...}, hidden=, lr=, entropy=, temperature=,
 * tanh_c=, baseline_decay=, seed= } -> controller | nil, msg, status */
static int l_controller_new(lua_State *L) {
  static const char *const keys[] = {"sizes", "hidden", "lr", "entropy", "temperature", "tanh_c",
                                     "baseline_decay", "seed", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  lnas_check_keys(L, 1, keys);
  nas_controller_opts o = nas_controller_opts_default();
  lua_Integer hidden = lnas_opt_int(L, 1, "hidden", o.hidden);
  o.lr = lnas_opt_num(L, 1, "lr", o.lr);
  o.entropy = lnas_opt_num(L, 1, "entropy", o.entropy);
  o.temperature = lnas_opt_num(L, 1, "temperature", o.temperature);
  o.tanh_c = lnas_opt_num(L, 1, "tanh_c", o.tanh_c);
  o.baseline_decay = lnas_opt_num(L, 1, "baseline_decay", o.baseline_decay);
  o.seed = (uint64_t)lnas_opt_int(L, 1, "seed", (lua_Integer)o.seed);
  luaL_argcheck(L, hidden >= 1 && hidden <= 65536, 1, "hidden must be in 1..65536");
  o.hidden = (int)hidden;
  luaL_argcheck(L, o.lr > 0 && isfinite(o.lr), 1, "lr must be > 0");
  luaL_argcheck(L, o.entropy >= 0 && isfinite(o.entropy), 1, "entropy must be >= 0");
  luaL_argcheck(L, o.temperature > 0 && isfinite(o.temperature), 1, "temperature must be > 0");
  luaL_argcheck(L, o.tanh_c >= 0 && isfinite(o.tanh_c), 1, "tanh_c must be >= 0 (0 = off)");
  luaL_argcheck(L, o.baseline_decay >= 0 && o.baseline_decay < 1, 1, "baseline_decay must be in [0,1)");
  if (lua_getfield(L, 1, "sizes") != LUA_TTABLE)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'sizes' must be a list of integers >= 1, got %s",
                                        luaL_typename(L, -1)));
  int st = lua_gettop(L);
  lua_Integer n = luaL_len(L, st);
  luaL_argcheck(L, n >= 1 && n <= MAX_DECISIONS, 1, "field 'sizes' must list 1 or more decisions");
  int *sizes = (int *)scratch(L, (size_t)n, sizeof(int));
  for (lua_Integer i = 0; i < n; i++) {
    lua_geti(L, st, i + 1);
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER || v < 1 || v > 1000000)
      luaL_argerror(L, 1, lua_pushfstring(L, "sizes[%I] must be an integer in 1..1000000", i + 1));
    sizes[i] = (int)v;
    lua_pop(L, 1);
  }
  lnas_box *b = lnas_box_new(L, NAS_CONTROLLER_MT, 0);
  nas_error err;
  nas_controller *c;
  if (nas_controller_new(sizes, (int)n, &o, &c, &err) != NAS_OK) return lnas_fail(L, &err);
  b->p = c;
  return 1;
}

/* ctl:sample(uniforms) -> choices (1-based), logprob, entropy | nil, msg, status */
static int c_sample(lua_State *L) {
  nas_controller *c = check_controller(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  int n = nas_controller_decisions(c);
  luaL_argcheck(L, luaL_len(L, 2) == n, 2,
                lua_pushfstring(L, "needs %d uniforms (one per decision), got %I", n, luaL_len(L, 2)));
  double *u = (double *)scratch(L, (size_t)n, sizeof(double));
  int *ch = (int *)scratch(L, (size_t)n, sizeof(int));
  for (int i = 0; i < n; i++) {
    lua_geti(L, 2, i + 1);
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, 2, lua_pushfstring(L, "uniform %d must be a number, got %s", i + 1,
                                          luaL_typename(L, -1)));
    u[i] = lua_tonumber(L, -1);
    if (!(u[i] >= 0 && u[i] < 1))
      luaL_argerror(L, 2, lua_pushfstring(L, "uniform %d is %f, needs [0,1)", i + 1, u[i]));
    lua_pop(L, 1);
  }
  double lp = 0, ent = 0;
  nas_error err;
  if (nas_controller_sample(c, u, ch, &lp, &ent, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, ch[i] + 1);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushnumber(L, lp);
  lua_pushnumber(L, ent);
  return 3;
}

/* ctl:update(choices, reward) -> baseline | nil, msg, status */
static int c_update(lua_State *L) {
  nas_controller *c = check_controller(L, 1);
  int n = nas_controller_decisions(c);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_argcheck(L, luaL_len(L, 2) == n, 2,
                lua_pushfstring(L, "needs %d choices (one per decision), got %I", n, luaL_len(L, 2)));
  lua_Number reward = luaL_checknumber(L, 3);
  luaL_argcheck(L, isfinite(reward), 3, "reward must be a finite number");
  int *ch = (int *)scratch(L, (size_t)n, sizeof(int));
  read_choices(L, 2, c, n, ch);
  nas_error err;
  if (nas_controller_update(c, ch, n, reward, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_pushnumber(L, nas_controller_baseline(c));
  return 1;
}

/* ctl:probs(prefix) -> { p1, ..., pk } for decision #prefix+1 (prefix may be nil) */
static int c_probs(lua_State *L) {
  nas_controller *c = check_controller(L, 1);
  int n = nas_controller_decisions(c);
  lua_Integer k = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    k = luaL_len(L, 2);
  }
  luaL_argcheck(L, k >= 0 && k < n, 2,
                lua_pushfstring(L, "prefix has %I choices, needs 0..%d", k, n - 1));
  int *ch = (int *)scratch(L, (size_t)k, sizeof(int));
  if (k > 0) read_choices(L, 2, c, (int)k, ch);
  int size = nas_controller_size(c, (int)k);
  double *p = (double *)scratch(L, (size_t)size, sizeof(double));
  nas_error err;
  if (nas_controller_probs(c, ch, (int)k, p, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_createtable(L, size, 0);
  for (int j = 0; j < size; j++) {
    lua_pushnumber(L, p[j]);
    lua_rawseti(L, -2, j + 1);
  }
  return 1;
}

/* ctl:sizes() -> {size1, ..., sizen} */
static int c_sizes(lua_State *L) {
  nas_controller *c = check_controller(L, 1);
  int n = nas_controller_decisions(c);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, nas_controller_size(c, i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int c_baseline(lua_State *L) {
  lua_pushnumber(L, nas_controller_baseline(check_controller(L, 1)));
  return 1;
}

static int c_updates(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)nas_controller_updates(check_controller(L, 1)));
  return 1;
}

/* ctl:params() -> a string of the float32 parameters' bytes (for bit-exact
 * comparisons) | nil, msg, status */
static int c_params(lua_State *L) {
  nas_controller *c = check_controller(L, 1);
  int64_t n = nas_controller_param_count(c);
  if (n < 0) return luaL_error(L, "controller: cannot count parameters");
  float *buf = (float *)scratch(L, (size_t)n, sizeof(float));
  nas_error err;
  if (nas_controller_params(c, buf, n, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_pushlstring(L, (const char *)buf, (size_t)n * sizeof(float));
  return 1;
}

static int c_tostring(lua_State *L) {
  lnas_box *b = check_box(L, 1);
  if (!b->p) {
    lua_pushstring(L, "nas.Controller (released)");
  } else {
    nas_controller *c = (nas_controller *)b->p;
    lua_pushfstring(L, "nas.Controller (%d decisions, %I updates)", nas_controller_decisions(c),
                    (lua_Integer)nas_controller_updates(c));
  }
  return 1;
}

static const luaL_Reg controller_methods[] = {
  {"sample", c_sample},
  {"update", c_update},
  {"probs", c_probs},
  {"sizes", c_sizes},
  {"baseline", c_baseline},
  {"updates", c_updates},
  {"params", c_params},
  {"release", c_release},
  {NULL, NULL}
};

static const luaL_Reg controller_meta[] = {
  {"__gc", c_release},
  {"__close", c_release},
  {"__tostring", c_tostring},
  {NULL, NULL}
};

static const luaL_Reg controller_funcs[] = {
  {"controller_new", l_controller_new},
  {NULL, NULL}
};

int lnas_open_controller(lua_State *L) {
  luaL_newmetatable(L, NAS_CONTROLLER_MT);
  luaL_setfuncs(L, controller_meta, 0);
  luaL_newlib(L, controller_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, controller_funcs, 0);
  return 0;
}
