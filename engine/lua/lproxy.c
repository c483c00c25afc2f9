/* Zero-cost proxies of engine/torch (nas_proxy_compute, nas.h) for Lua:
 *
 *   core.proxy(model, name, dataset, first_row, n)   -- rows first_row .. first_row+n-1 of the view
 *   core.proxy(model, name, xs, ys, n)              -- xs: n * sample floats, ys: n labels (0-based) or nil
 *   core.proxy(model, name)                         -- params, flops (and synflow) need no batch
 *     -> score | nil, msg, status [, score]          (a non-finite score comes 4th, status "numeric error")
 *   core.proxies() -> { "synflow", "naswot", ... }
 *   core.proxy_uses_labels(name) -> boolean
 *
 * An unknown proxy name or a malformed batch raises an error naming the
 * argument; an engine failure returns nil, msg, status. The engine call
 * returns before any Lua error is raised. */
#include <string.h>

#include "lnas.h"

#define MAX_BATCH 4096

static nas_model *check_model(lua_State *L, int i) {
  lnas_box *b = (lnas_box *)luaL_checkudata(L, i, NAS_MODEL_MT);
  if (!b->p) luaL_argerror(L, i, "model has been released");
  return (nas_model *)b->p;
}

static const char *check_proxy(lua_State *L, int i) {
  const char *name = luaL_checkstring(L, i);
  if (nas_proxy_uses_labels(name) < 0) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int k = 0; k < nas_proxy_count(); k++) {
      if (k) luaL_addstring(&b, ", ");
      luaL_addstring(&b, nas_proxy_name(k));
    }
    luaL_pushresult(&b);
    luaL_argerror(L, i, lua_pushfstring(L, "unknown proxy '%s' (known: %s)", name, lua_tostring(L, -1)));
  }
  return name;
}

static int l_proxy(lua_State *L) {
  nas_model *m = check_model(L, 1);
  const char *name = check_proxy(L, 2);
  const int labels = nas_proxy_uses_labels(name);
  float *x = NULL;
  int64_t *y = NULL;
  lua_Integer n = 0;
  if (lua_isuserdata(L, 3)) {
    nas_dataset *d = lnas_check_dataset(L, 3);
    lua_Integer first = luaL_checkinteger(L, 4);
    n = luaL_checkinteger(L, 5);
    lua_Integer count = nas_data_count(d);
    luaL_argcheck(L, first >= 0 && first < count, 4, "row out of range");
    luaL_argcheck(L, n >= 1 && n <= MAX_BATCH && first + n <= count, 5, "count out of range (1..4096 rows of the view)");
    int64_t ss = nas_data_sample_size(d);
    /* scratch owned by Lua, so an error cannot leak it */
    int64_t *rows = (int64_t *)lua_newuserdatauv(L, sizeof(int64_t) * (size_t)n * 2, 0);
    x = (float *)lua_newuserdatauv(L, sizeof(float) * (size_t)(n * ss), 0);
    for (lua_Integer i = 0; i < n; i++) rows[i] = first + i;
    y = rows + n;
    nas_data_batch(d, rows, (int)n, NULL, NULL, x, y);
  } else if (lua_istable(L, 3)) {
    n = luaL_checkinteger(L, 5);
    luaL_argcheck(L, n >= 1 && n <= MAX_BATCH, 5, "n must be in 1..4096");
    lua_Integer len = (lua_Integer)luaL_len(L, 3);
    luaL_argcheck(L, len >= n && len % n == 0, 3, "xs must hold n * (floats per sample) numbers");
    x = (float *)lua_newuserdatauv(L, sizeof(float) * (size_t)len, 0);
    for (lua_Integer i = 0; i < len; i++) {
      int isnum;
      lua_Number v = (lua_rawgeti(L, 3, i + 1), lua_tonumberx(L, -1, &isnum));
      if (!isnum) luaL_argerror(L, 3, lua_pushfstring(L, "xs[%I] is not a number", i + 1));
      lua_pop(L, 1);
      x[i] = (float)v;
    }
    if (!lua_isnoneornil(L, 4)) {
      luaL_checktype(L, 4, LUA_TTABLE);
      luaL_argcheck(L, (lua_Integer)luaL_len(L, 4) == n, 4, "ys must hold n labels");
      y = (int64_t *)lua_newuserdatauv(L, sizeof(int64_t) * (size_t)n, 0);
      for (lua_Integer i = 0; i < n; i++) {
        int isint;
        lua_Integer v = (lua_rawgeti(L, 4, i + 1), lua_tointegerx(L, -1, &isint));
        if (!isint) luaL_argerror(L, 4, lua_pushfstring(L, "ys[%I] is not an integer", i + 1));
        lua_pop(L, 1);
        y[i] = (int64_t)v;
      }
    } else if (labels) {
      luaL_argerror(L, 4, lua_pushfstring(L, "proxy '%s' needs labels ys", name));
    }
  } else if (!lua_isnoneornil(L, 3)) {
    luaL_typeerror(L, 3, "dataset or table of floats");
  }
  double score = 0.0;
  nas_error err;
  if (nas_proxy_compute(m, name, x, y, (int)n, &score, &err) != NAS_OK) {
    lnas_fail(L, &err);
    if (err.status != NAS_ENUMERIC) return 3;
    lua_pushnumber(L, score);
    return 4;
  }
  lua_pushnumber(L, score);
  return 1;
}

static int l_proxies(lua_State *L) {
  const int n = nas_proxy_count();
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, nas_proxy_name(i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_proxy_uses_labels(lua_State *L) {
  lua_pushboolean(L, nas_proxy_uses_labels(check_proxy(L, 1)) == 1);
  return 1;
}

static const luaL_Reg proxy_funcs[] = {
  {"proxy", l_proxy}, {"proxies", l_proxies}, {"proxy_uses_labels", l_proxy_uses_labels}, {NULL, NULL}
};

int lnas_open_proxy(lua_State *L) {
  luaL_setfuncs(L, proxy_funcs, 0);
  return 0;
}
