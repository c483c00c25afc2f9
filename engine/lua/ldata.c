/* nas.Dataset: in-memory datasets (views over shared storage) as Lua userdata. */
#include "lnas.h"

static lnas_box *check_box(lua_State *L, int i) {
  return (lnas_box *)luaL_checkudata(L, i, NAS_DATASET_MT);
}

nas_dataset *lnas_check_dataset(lua_State *L, int i) {
  lnas_box *b = check_box(L, i);
  if (!b->p) luaL_argerror(L, i, "dataset has been released");
  return (nas_dataset *)b->p;
}

static int d_release(lua_State *L) {
  lnas_box *b = check_box(L, 1);
  if (b->p) {
    nas_data_free((nas_dataset *)b->p);
    b->p = NULL;
  }
  return 0;
}

/* core.load_idx(images_path, labels_path) -> dataset | nil, msg, status */
static int l_load_idx(lua_State *L) {
  const char *images = luaL_checkstring(L, 1);
  const char *labels = luaL_checkstring(L, 2);
  nas_error err;
  lnas_box *b = lnas_box_new(L, NAS_DATASET_MT, 0);
  b->p = nas_data_load_idx(images, labels, &err);
  if (!b->p) return lnas_fail(L, &err);
  return 1;
}

/* core.load_cifar({paths...}, label_bytes) -> dataset | nil, msg, status */
static int l_load_cifar(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer lb = luaL_checkinteger(L, 2);
  luaL_argcheck(L, lb == 1 || lb == 2, 2, "label_bytes must be 1 (CIFAR-10) or 2 (CIFAR-100)");
  int n = (int)luaL_len(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 64, 1, "needs 1 to 64 batch file paths");
  const char *paths[64];
  for (int i = 0; i < n; i++) {
    lua_geti(L, 1, i + 1);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 1, "paths must be strings");
    paths[i] = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the table */
  }
  nas_error err;
  lnas_box *b = lnas_box_new(L, NAS_DATASET_MT, 0);
  b->p = nas_data_load_cifar(paths, n, (int)lb, &err);
  if (!b->p) return lnas_fail(L, &err);
  return 1;
}

static int d_count(lua_State *L) {
  lua_pushinteger(L, nas_data_count(lnas_check_dataset(L, 1)));
  return 1;
}

static int d_classes(lua_State *L) {
  lua_pushinteger(L, nas_data_classes(lnas_check_dataset(L, 1)));
  return 1;
}

static int d_shape(lua_State *L) {
  int64_t dims[NAS_MAX_DIMS];
  int nd = nas_data_shape(lnas_check_dataset(L, 1), dims);
  lua_createtable(L, nd, 0);
  for (int i = 0; i < nd; i++) {
    lua_pushinteger(L, dims[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* d:split(nsecond, seed) -> first, second */
static int d_split(lua_State *L) {
  nas_dataset *d = lnas_check_dataset(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  lua_Integer seed = luaL_optinteger(L, 3, 0);
  lnas_box *first = lnas_box_new(L, NAS_DATASET_MT, 0);
  lnas_box *second = lnas_box_new(L, NAS_DATASET_MT, 0);
  nas_dataset *a, *b;
  nas_error err;
  if (nas_data_split(d, n, (uint64_t)seed, &a, &b, &err) != NAS_OK) return luaL_argerror(L, 2, err.msg);
  first->p = a;
  second->p = b;
  return 2;
}

static int d_subset(lua_State *L) {
  nas_dataset *d = lnas_check_dataset(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  lua_Integer seed = luaL_optinteger(L, 3, 0);
  nas_error err;
  lnas_box *b = lnas_box_new(L, NAS_DATASET_MT, 0);
  b->p = nas_data_subset(d, n, (uint64_t)seed, &err);
  if (!b->p) return luaL_argerror(L, 2, err.msg);
  return 1;
}

static int d_concat(lua_State *L) {
  nas_dataset *a = lnas_check_dataset(L, 1), *b = lnas_check_dataset(L, 2);
  nas_error err;
  lnas_box *box = lnas_box_new(L, NAS_DATASET_MT, 0);
  box->p = nas_data_concat(a, b, &err);
  if (!box->p) return luaL_argerror(L, 2, err.msg);
  return 1;
}

static int channels(nas_dataset *d) {
  int64_t dims[NAS_MAX_DIMS];
  nas_data_shape(d, dims);
  return (int)dims[0];
}

/* d:norm() -> {mean...}, {std...} ; d:set_norm(mean, std) */
static int d_norm(lua_State *L) {
  nas_dataset *d = lnas_check_dataset(L, 1);
  float mean[16], std[16];
  int c = channels(d);
  if (c > 16) c = 16;
  nas_data_get_norm(d, mean, std);
  for (int k = 0; k < 2; k++) {
    lua_createtable(L, c, 0);
    for (int i = 0; i < c; i++) {
      lua_pushnumber(L, k == 0 ? mean[i] : std[i]);
      lua_rawseti(L, -2, i + 1);
    }
  }
  return 2;
}

static int d_set_norm(lua_State *L) {
  nas_dataset *d = lnas_check_dataset(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  int c = channels(d);
  luaL_argcheck(L, c <= 16, 1, "too many channels");
  float mean[16], std[16];
  for (int k = 0; k < 2; k++) {
    luaL_argcheck(L, luaL_len(L, 2 + k) == c, 2 + k, "needs one value per channel");
    for (int i = 0; i < c; i++) {
      lua_geti(L, 2 + k, i + 1);
      float v = (float)luaL_checknumber(L, -1);
      if (k == 1) luaL_argcheck(L, v > 0, 3, "std must be > 0");
      (k == 0 ? mean : std)[i] = v;
      lua_pop(L, 1);
    }
  }
  nas_data_set_norm(d, mean, std, c);
  return 0;
}

static int d_tostring(lua_State *L) {
  lnas_box *b = check_box(L, 1);
  if (!b->p) {
    lua_pushstring(L, "nas.Dataset (released)");
  } else {
    int64_t dims[NAS_MAX_DIMS];
    nas_data_shape((nas_dataset *)b->p, dims);
    lua_pushfstring(L, "nas.Dataset (%I samples of %Ix%Ix%I, %d classes)",
                    (lua_Integer)nas_data_count((nas_dataset *)b->p), (lua_Integer)dims[0],
                    (lua_Integer)dims[1], (lua_Integer)dims[2], nas_data_classes((nas_dataset *)b->p));
  }
  return 1;
}

static int d_len(lua_State *L) { return d_count(L); }

static const luaL_Reg data_methods[] = {
  {"count", d_count},   {"classes", d_classes}, {"shape", d_shape},
  {"split", d_split},   {"subset", d_subset},   {"concat", d_concat},
  {"norm", d_norm},     {"set_norm", d_set_norm}, {"release", d_release},
  {NULL, NULL}
};

static const luaL_Reg data_meta[] = {
  {"__gc", d_release}, {"__close", d_release}, {"__tostring", d_tostring},
  {"__len", d_len},    {"__index", NULL},      {NULL, NULL}
};

static const luaL_Reg data_funcs[] = {
  {"load_idx", l_load_idx}, {"load_cifar", l_load_cifar}, {NULL, NULL}
};

int lnas_open_data(lua_State *L) {
  luaL_newmetatable(L, NAS_DATASET_MT);
  luaL_setfuncs(L, data_meta, 0);
  luaL_newlibtable(L, data_methods);
  luaL_setfuncs(L, data_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, data_funcs, 0);
  return 0;
}
