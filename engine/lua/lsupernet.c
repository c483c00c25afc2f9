/* Supernets in Lua: methods on nas.Model for models built from graphs with
 * mixed nodes, and nas.Darts (the bilevel search of engine/torch/supernet.cpp).
 * Decisions and choices are 1-based here, 0-based in the C API.
 *
 *   m:decisions() -> D;  m:decision_size(d) -> k
 *   m:arch(d) -> {logits};  m:set_arch(d, {logits})
 *   m:mix_mode("softmax" | "gumbel" | "path" | "fixed" | "sigmoid" [, tau]); m:mix_mode() -> mode, tau?
 *   m:set_path({c1, ..., cD});  m:last_path() -> {c or 0 (all)}
 *   m:arch_grad(x, y) is not bound: Lua has no batch buffers (tests use the C API)
 *   m:recalibrate_bn(dataset, {batches=, batch=, seed=}) -> true | nil, msg, status
 *   core.darts_begin(model, train, valid, {weights = {train opts}, arch_lr=, arch_beta1=,
 *                    arch_beta2=, arch_weight_decay=, seed=, order= 1 | 2}) -> darts | nil, msg, status
 *   darts:run(max_steps) -> progress (plus arch_loss) | nil, msg, status
 * Every engine call returns before a Lua error is raised. */
#include <math.h>
#include <string.h>

#include "lnas.h"

static const char *const MODES[] = {"softmax", "gumbel", "path", "fixed", "sigmoid", NULL};

static int fail_msg(lua_State *L, nas_error *err) { return lnas_fail(L, err); }

/* Raises a Lua error for misuse (the model is not a supernet, bad index). */
static int check_decision(lua_State *L, nas_model *m, int arg) {
  const int D = nas_model_decisions(m);
  if (D == 0) luaL_argerror(L, 1, "the model has no mixed nodes (not a supernet)");
  lua_Integer d = luaL_checkinteger(L, arg);
  if (d < 1 || d > D) luaL_argerror(L, arg, lua_pushfstring(L, "decision %d out of range 1..%d", (int)d, D));
  return (int)d - 1;
}

static int m_decisions(lua_State *L) {
  lua_pushinteger(L, nas_model_decisions(lnas_check_model(L, 1)));
  return 1;
}

static int m_decision_size(lua_State *L) {
  nas_model *m = lnas_check_model(L, 1);
  int d = check_decision(L, m, 2);
  lua_pushinteger(L, nas_model_decision_size(m, d));
  return 1;
}

static int m_arch(lua_State *L) {
  nas_model *m = lnas_check_model(L, 1);
  int d = check_decision(L, m, 2);
  float v[NAS_MAX_INPUTS];
  nas_error err;
  if (nas_model_arch_get(m, d, v, &err) != NAS_OK) return fail_msg(L, &err);
  const int k = nas_model_decision_size(m, d);
  lua_createtable(L, k, 0);
  for (int i = 0; i < k; i++) {
    lua_pushnumber(L, v[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int m_set_arch(lua_State *L) {
  nas_model *m = lnas_check_model(L, 1);
  int d = check_decision(L, m, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  const int k = nas_model_decision_size(m, d);
  if ((int)luaL_len(L, 3) != k)
    luaL_argerror(L, 3, lua_pushfstring(L, "decision %d has %d candidates, got %d logits", d + 1, k,
                                        (int)luaL_len(L, 3)));
  float v[NAS_MAX_INPUTS];
  for (int i = 0; i < k; i++) {
    lua_rawgeti(L, 3, i + 1);
    int ok;
    lua_Number x = lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || !isfinite(x)) luaL_argerror(L, 3, lua_pushfstring(L, "logit %d is not a finite number", i + 1));
    v[i] = (float)x;
  }
  nas_error err;
  if (nas_model_arch_set(m, d, v, &err) != NAS_OK) return fail_msg(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_mix_mode(lua_State *L) {
  nas_model *m = lnas_check_model(L, 1);
  if (nas_model_decisions(m) == 0) luaL_argerror(L, 1, "the model has no mixed nodes (not a supernet)");
  if (lua_isnoneornil(L, 2)) {
    lua_pushstring(L, MODES[nas_model_get_mix_mode(m)]);
    return 1;
  }
  int mode = luaL_checkoption(L, 2, NULL, MODES);
  lua_Number tau = luaL_optnumber(L, 3, 1.0);
  luaL_argcheck(L, tau > 0 && isfinite(tau), 3, "tau must be > 0");
  nas_error err;
  if (nas_model_set_mix_mode(m, (nas_mix_mode)mode, tau, &err) != NAS_OK) return fail_msg(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_set_path(lua_State *L) {
  nas_model *m = lnas_check_model(L, 1);
  const int D = nas_model_decisions(m);
  if (D == 0) luaL_argerror(L, 1, "the model has no mixed nodes (not a supernet)");
  luaL_checktype(L, 2, LUA_TTABLE);
  if ((int)luaL_len(L, 2) != D)
    luaL_argerror(L, 2, lua_pushfstring(L, "path needs %d choices (one per decision), got %d", D,
                                        (int)luaL_len(L, 2)));
  int stackbuf[64];
  int *path = D <= 64 ? stackbuf : (int *)lua_newuserdatauv(L, sizeof(int) * (size_t)D, 0);
  for (int d = 0; d < D; d++) {
    lua_rawgeti(L, 2, d + 1);
    int ok;
    lua_Integer c = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    const int k = nas_model_decision_size(m, d);
    if (!ok || c < 1 || c > k)
      luaL_argerror(L, 2, lua_pushfstring(L, "choice %d must be an integer in 1..%d", d + 1, k));
    path[d] = (int)c - 1;
  }
  nas_error err;
  if (nas_model_set_path(m, path, D, &err) != NAS_OK) return fail_msg(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_last_path(lua_State *L) {
  nas_model *m = lnas_check_model(L, 1);
  const int D = nas_model_decisions(m);
  if (D == 0) luaL_argerror(L, 1, "the model has no mixed nodes (not a supernet)");
  int *path = (int *)lua_newuserdatauv(L, sizeof(int) * (size_t)D, 0);
  nas_error err;
  if (nas_model_last_path(m, path, D, &err) != NAS_OK) return fail_msg(L, &err);
  lua_createtable(L, D, 0);
  for (int d = 0; d < D; d++) {
    lua_pushinteger(L, path[d] + 1); /* 0: every candidate ran */
    lua_rawseti(L, -2, d + 1);
  }
  return 1;
}

static int m_recalibrate_bn(lua_State *L) {
  static const char *const keys[] = {"batches", "batch", "seed", NULL};
  nas_model *m = lnas_check_model(L, 1);
  nas_dataset *d = lnas_check_dataset(L, 2);
  lua_Integer batches = 10, batch = 64, seed = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lnas_check_keys(L, 3, keys);
    batches = lnas_opt_int(L, 3, "batches", batches);
    batch = lnas_opt_int(L, 3, "batch", batch);
    seed = lnas_opt_int(L, 3, "seed", seed);
  }
  luaL_argcheck(L, batches >= 1, 3, "batches must be >= 1");
  luaL_argcheck(L, batch >= 2, 3, "batch must be >= 2");
  nas_error err;
  if (nas_model_recalibrate_bn(m, d, (int)batches, (int)batch, (uint64_t)seed, &err) != NAS_OK)
    return fail_msg(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- nas.Darts --------------------------------------------------------- */

static nas_darts *check_darts(lua_State *L, int i) {
  lnas_box *b = (lnas_box *)luaL_checkudata(L, i, NAS_DARTS_MT);
  if (!b->p) luaL_argerror(L, i, "darts search has been released");
  return (nas_darts *)b->p;
}

static int d_release(lua_State *L) {
  lnas_box *b = (lnas_box *)luaL_checkudata(L, 1, NAS_DARTS_MT);
  if (b->p) {
    nas_darts_free((nas_darts *)b->p);
    b->p = NULL;
  }
  return 0;
}

static int d_tostring(lua_State *L) {
  lnas_box *b = (lnas_box *)luaL_checkudata(L, 1, NAS_DARTS_MT);
  lua_pushfstring(L, "nas.Darts(%s)", b->p ? "open" : "released");
  return 1;
}

/* core.darts_begin(model, train, valid, opts) */
static int l_darts_begin(lua_State *L) {
  static const char *const keys[] = {"weights", "arch_lr", "arch_beta1", "arch_beta2", "arch_weight_decay",
                                     "seed", "order", NULL};
  nas_model *m = lnas_check_model(L, 1);
  nas_dataset *train = lnas_check_dataset(L, 2);
  nas_dataset *valid = lnas_check_dataset(L, 3);
  if (nas_model_decisions(m) == 0) luaL_argerror(L, 1, "the model has no mixed nodes (not a supernet)");
  nas_darts_opts o = nas_darts_opts_default();
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    lnas_check_keys(L, 4, keys);
    if (lua_getfield(L, 4, "weights") != LUA_TNIL) {
      int w = lua_gettop(L);
      /* DARTS's defaults where the table is silent */
      lnas_read_train_opts(L, w, &o.weights);
    }
    lua_pop(L, 1);
    o.arch_lr = lnas_opt_num(L, 4, "arch_lr", o.arch_lr);
    o.arch_beta1 = lnas_opt_num(L, 4, "arch_beta1", o.arch_beta1);
    o.arch_beta2 = lnas_opt_num(L, 4, "arch_beta2", o.arch_beta2);
    o.arch_weight_decay = lnas_opt_num(L, 4, "arch_weight_decay", o.arch_weight_decay);
    o.seed = (uint64_t)lnas_opt_int(L, 4, "seed", (lua_Integer)o.seed);
    o.order = (int)lnas_opt_int(L, 4, "order", o.order);
  }
  luaL_argcheck(L, o.order == 1 || o.order == 2, 4, "order must be 1 or 2");
  luaL_argcheck(L, o.arch_lr >= 0, 4, "arch_lr must be >= 0");
  luaL_argcheck(L, o.arch_beta1 >= 0 && o.arch_beta1 < 1, 4, "arch_beta1 must be in [0,1)");
  luaL_argcheck(L, o.arch_beta2 >= 0 && o.arch_beta2 < 1, 4, "arch_beta2 must be in [0,1)");
  luaL_argcheck(L, o.arch_weight_decay >= 0, 4, "arch_weight_decay must be >= 0");
  lnas_box *b = lnas_box_new(L, NAS_DARTS_MT, 3);
  for (int i = 1; i <= 3; i++) { /* the search borrows the model and the data: keep them alive */
    lua_pushvalue(L, i);
    lua_setiuservalue(L, -2, i);
  }
  nas_error err;
  nas_darts *t;
  if (nas_darts_new(m, train, valid, &o, &t, &err) != NAS_OK) return lnas_fail(L, &err);
  b->p = t;
  return 1;
}

/* darts:run(max_steps) -> progress (with arch_loss) | nil, msg, status */
static int d_run(lua_State *L) {
  nas_darts *t = check_darts(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 1, 2, "max_steps must be >= 1");
  nas_train_progress p;
  double al = 0;
  nas_error err;
  if (nas_darts_run(t, n, &p, &al, &err) != NAS_OK) return lnas_fail(L, &err);
  lnas_push_progress(L, &p);
  lua_pushnumber(L, al);
  lua_setfield(L, -2, "arch_loss");
  return 1;
}

static const luaL_Reg model_methods[] = {
  {"decisions", m_decisions}, {"decision_size", m_decision_size}, {"arch", m_arch},
  {"set_arch", m_set_arch},   {"mix_mode", m_mix_mode},           {"set_path", m_set_path},
  {"last_path", m_last_path}, {"recalibrate_bn", m_recalibrate_bn}, {NULL, NULL}
};
static const luaL_Reg darts_methods[] = {{"run", d_run}, {"release", d_release}, {NULL, NULL}};
static const luaL_Reg darts_meta[] = {
  {"__gc", d_release}, {"__close", d_release}, {"__tostring", d_tostring}, {"__index", NULL}, {NULL, NULL}
};
static const luaL_Reg funcs[] = {{"darts_begin", l_darts_begin}, {NULL, NULL}};

int lnas_open_supernet(lua_State *L) {
  /* nas.Model's method table (lmodel.c made it) gets the supernet methods */
  luaL_getmetatable(L, NAS_MODEL_MT);
  lua_getfield(L, -1, "__index");
  luaL_setfuncs(L, model_methods, 0);
  lua_pop(L, 2);
  luaL_newmetatable(L, NAS_DARTS_MT);
  luaL_setfuncs(L, darts_meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, darts_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
