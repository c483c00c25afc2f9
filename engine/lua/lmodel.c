/* nas.Model and nas.Trainer: libtorch models built from graphs, as Lua userdata.
 * Every engine call returns before any Lua error is raised: no Lua error
 * long-jumps through C++ frames. */
#include <string.h>

#include "lnas.h"

static lnas_box *check_box(lua_State *L, int i, const char *mt) {
  return (lnas_box *)luaL_checkudata(L, i, mt);
}

static nas_model *check_model(lua_State *L, int i) {
  lnas_box *b = check_box(L, i, NAS_MODEL_MT);
  if (!b->p) luaL_argerror(L, i, "model has been released");
  return (nas_model *)b->p;
}

nas_model *lnas_check_model(lua_State *L, int i) { return check_model(L, i); }

static nas_trainer *check_trainer(lua_State *L, int i) {
  lnas_box *b = check_box(L, i, NAS_TRAINER_MT);
  if (!b->p) luaL_argerror(L, i, "trainer has been released");
  return (nas_trainer *)b->p;
}

static int m_release(lua_State *L) {
  lnas_box *b = check_box(L, 1, NAS_MODEL_MT);
  if (b->p) {
    nas_model_free((nas_model *)b->p);
    b->p = NULL;
  }
  return 0;
}

static int t_release(lua_State *L) {
  lnas_box *b = check_box(L, 1, NAS_TRAINER_MT);
  if (b->p) {
    nas_trainer_free((nas_trainer *)b->p);
    b->p = NULL;
  }
  return 0;
}

static int pick(lua_State *L, int arg, const char *key, const char *value,
                const char *const *names, const char *what) {
  for (int i = 0; names[i]; i++)
    if (strcmp(value, names[i]) == 0) return i;
  return luaL_argerror(L, arg, lua_pushfstring(L, "field '%s': unknown %s '%s'", key, what, value));
}

/* core.model_new(graph, {seed=, device=, memfmt=}) -> model | nil, msg, status */
static int l_model_new(lua_State *L) {
  static const char *const keys[] = {"seed", "device", "memfmt", NULL};
  static const char *const fmts[] = {"auto", "nchw", "channels_last", NULL};
  nas_graph *g = lnas_check_graph(L, 1);
  nas_model_opts o = nas_model_opts_default();
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lnas_check_keys(L, 2, keys);
    o.seed = (uint64_t)lnas_opt_int(L, 2, "seed", (lua_Integer)o.seed);
    o.device = lnas_opt_str(L, 2, "device", o.device);
    const char *fmt = lnas_opt_str(L, 2, "memfmt", "auto");
    o.memfmt = (nas_memfmt)pick(L, 2, "memfmt", fmt, fmts, "memory format");
  }
  lnas_box *b = lnas_box_new(L, NAS_MODEL_MT, 0);
  nas_error err;
  nas_model *m;
  if (nas_model_new(g, &o, &m, &err) != NAS_OK) return lnas_fail(L, &err);
  b->p = m;
  return 1;
}

void lnas_read_train_opts(lua_State *L, int t, nas_train_opts *o) {
  static const char *const keys[] = {
    "epochs", "steps", "batch", "optimizer", "lr", "momentum", "weight_decay", "nesterov",
    "beta1", "beta2", "eps", "schedule", "step_size", "gamma", "warmup", "label_smoothing",
    "fraction", "seed", "augment", "grad_clip", NULL};
  static const char *const optims[] = {"sgd", "adam", "adamw", NULL};
  static const char *const scheds[] = {"constant", "step", "cosine", NULL};
  if (lua_isnoneornil(L, t)) return;
  luaL_checktype(L, t, LUA_TTABLE);
  lnas_check_keys(L, t, keys);
  o->epochs = (int)lnas_opt_int(L, t, "epochs", o->epochs);
  o->steps = lnas_opt_int(L, t, "steps", o->steps);
  o->batch = (int)lnas_opt_int(L, t, "batch", o->batch);
  o->optimizer = (nas_optim)pick(L, t, "optimizer", lnas_opt_str(L, t, "optimizer", optims[o->optimizer]),
                                 optims, "optimizer");
  if (o->optimizer != NAS_OPT_SGD) { /* Adam-family defaults unless given */
    o->lr = 1e-3;
    o->weight_decay = o->optimizer == NAS_OPT_ADAMW ? 1e-2 : 0.0;
  }
  o->lr = lnas_opt_num(L, t, "lr", o->lr);
  o->momentum = lnas_opt_num(L, t, "momentum", o->momentum);
  o->weight_decay = lnas_opt_num(L, t, "weight_decay", o->weight_decay);
  o->nesterov = lnas_opt_bool(L, t, "nesterov", o->nesterov);
  o->beta1 = lnas_opt_num(L, t, "beta1", o->beta1);
  o->beta2 = lnas_opt_num(L, t, "beta2", o->beta2);
  o->eps = lnas_opt_num(L, t, "eps", o->eps);
  o->schedule = (nas_sched)pick(L, t, "schedule", lnas_opt_str(L, t, "schedule", scheds[o->schedule]),
                                scheds, "schedule");
  o->step_size = lnas_opt_int(L, t, "step_size", o->step_size);
  o->gamma = lnas_opt_num(L, t, "gamma", o->gamma);
  o->warmup_epochs = lnas_opt_num(L, t, "warmup", o->warmup_epochs);
  o->label_smoothing = lnas_opt_num(L, t, "label_smoothing", o->label_smoothing);
  o->fraction = lnas_opt_num(L, t, "fraction", o->fraction);
  o->seed = (uint64_t)lnas_opt_int(L, t, "seed", (lua_Integer)o->seed);
  o->grad_clip = lnas_opt_num(L, t, "grad_clip", o->grad_clip);
  int ty = lua_getfield(L, t, "augment");
  if (ty == LUA_TBOOLEAN) {
    int on = lua_toboolean(L, -1);
    o->augment.crop_pad = on ? 4 : 0;
    o->augment.flip = on;
  } else if (ty == LUA_TTABLE) {
    static const char *const akeys[] = {"crop", "flip", "erase", NULL};
    int a = lua_gettop(L);
    lnas_check_keys(L, a, akeys);
    o->augment.crop_pad = (int)lnas_opt_int(L, a, "crop", 0);
    o->augment.flip = lnas_opt_bool(L, a, "flip", 0);
    o->augment.erase = lnas_opt_num(L, a, "erase", 0);
    luaL_argcheck(L, o->augment.crop_pad >= 0, t, "augment.crop must be >= 0");
    luaL_argcheck(L, o->augment.erase >= 0 && o->augment.erase <= 1, t, "augment.erase must be in [0,1]");
  } else if (ty != LUA_TNIL) {
    luaL_argerror(L, t, "field 'augment' must be a boolean or {crop=N, flip=bool, erase=p}");
  }
  lua_pop(L, 1);
  luaL_argcheck(L, o->batch >= 1, t, "batch must be >= 1");
  luaL_argcheck(L, o->steps > 0 || o->epochs >= 1, t, "epochs must be >= 1 (or give steps)");
  luaL_argcheck(L, o->steps >= 0, t, "steps must be >= 0");
  luaL_argcheck(L, o->lr > 0, t, "lr must be > 0");
  luaL_argcheck(L, o->momentum >= 0 && o->momentum < 1, t, "momentum must be in [0,1)");
  luaL_argcheck(L, o->weight_decay >= 0, t, "weight_decay must be >= 0");
  luaL_argcheck(L, o->fraction > 0 && o->fraction <= 1, t, "fraction must be in (0,1]");
  luaL_argcheck(L, o->label_smoothing >= 0 && o->label_smoothing < 1, t, "label_smoothing must be in [0,1)");
  luaL_argcheck(L, o->warmup_epochs >= 0, t, "warmup must be >= 0");
  luaL_argcheck(L, o->grad_clip >= 0, t, "grad_clip must be >= 0");
  luaL_argcheck(L, o->schedule != NAS_SCHED_STEP || o->step_size >= 1, t, "step schedule needs step_size >= 1");
  luaL_argcheck(L, !o->nesterov || o->momentum > 0, t, "nesterov needs momentum > 0");
}

/* m:train_begin(dataset, opts) -> trainer | nil, msg, status */
static int m_train_begin(lua_State *L) {
  nas_model *m = check_model(L, 1);
  nas_dataset *d = lnas_check_dataset(L, 2);
  nas_train_opts o = nas_train_opts_default();
  lnas_read_train_opts(L, 3, &o);
  lnas_box *b = lnas_box_new(L, NAS_TRAINER_MT, 1);
  lua_pushvalue(L, 1); /* the trainer borrows the model: keep it alive */
  lua_setiuservalue(L, -2, 1);
  nas_error err;
  nas_trainer *t;
  if (nas_trainer_new(m, d, &o, &t, &err) != NAS_OK) return lnas_fail(L, &err);
  b->p = t;
  return 1;
}

static void setnum(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}
static void setint(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* t:run(max_steps) -> progress | nil, msg, status */
static int t_run(lua_State *L) {
  nas_trainer *t = check_trainer(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 1, 2, "max_steps must be >= 1");
  nas_train_progress p;
  nas_error err;
  memset(&p, 0, sizeof p);
  if (nas_trainer_run(t, n, &p, &err) != NAS_OK) return lnas_fail(L, &err);
  lnas_push_progress(L, &p);
  return 1;
}

void lnas_push_progress(lua_State *L, const nas_train_progress *pp) {
  const nas_train_progress p = *pp;
  lua_createtable(L, 0, 11);
  setint(L, "step", p.step);
  setint(L, "total_steps", p.total_steps);
  setint(L, "epoch", p.epoch);
  setint(L, "epochs", p.epochs);
  setnum(L, "loss", p.loss);
  setnum(L, "epoch_loss", p.epoch_loss);
  setnum(L, "epoch_accuracy", p.epoch_accuracy);
  lua_pushboolean(L, p.epoch_done);
  lua_setfield(L, -2, "epoch_done");
  lua_pushboolean(L, p.done);
  lua_setfield(L, -2, "done");
  setnum(L, "lr", p.lr);
  setnum(L, "seconds", p.seconds);
}

/* m:evaluate(dataset, batch) -> {accuracy=, loss=, count=} | nil, msg, status */
static int m_evaluate(lua_State *L) {
  nas_model *m = check_model(L, 1);
  nas_dataset *d = lnas_check_dataset(L, 2);
  lua_Integer batch = luaL_optinteger(L, 3, 256);
  luaL_argcheck(L, batch >= 1, 3, "batch must be >= 1");
  nas_eval_result r;
  nas_error err;
  if (nas_model_evaluate(m, d, (int)batch, &r, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_createtable(L, 0, 3);
  setnum(L, "accuracy", r.accuracy);
  setnum(L, "loss", r.loss);
  setint(L, "count", r.count);
  return 1;
}

/* m:latency{batch=1, runs=50, warmup=10, threads=0} -> {median_ms, p90_ms, mean_ms, min_ms} */
static int m_latency(lua_State *L) {
  static const char *const keys[] = {"batch", "runs", "warmup", "threads", NULL};
  nas_model *m = check_model(L, 1);
  nas_latency_opts o = {1, 50, 10, 0};
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lnas_check_keys(L, 2, keys);
    o.batch = (int)lnas_opt_int(L, 2, "batch", o.batch);
    o.runs = (int)lnas_opt_int(L, 2, "runs", o.runs);
    o.warmup = (int)lnas_opt_int(L, 2, "warmup", o.warmup);
    o.threads = (int)lnas_opt_int(L, 2, "threads", o.threads);
    luaL_argcheck(L, o.batch >= 1, 2, "batch must be >= 1");
    luaL_argcheck(L, o.runs >= 1, 2, "runs must be >= 1");
    luaL_argcheck(L, o.warmup >= 0, 2, "warmup must be >= 0");
    luaL_argcheck(L, o.threads >= 0, 2, "threads must be >= 0");
  }
  nas_latency_result r;
  nas_error err;
  if (nas_model_latency(m, &o, &r, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_createtable(L, 0, 4);
  setnum(L, "median_ms", r.median_ms);
  setnum(L, "p90_ms", r.p90_ms);
  setnum(L, "mean_ms", r.mean_ms);
  setnum(L, "min_ms", r.min_ms);
  return 1;
}

static int m_save(lua_State *L) {
  nas_model *m = check_model(L, 1);
  const char *path = luaL_checkstring(L, 2);
  nas_error err;
  if (nas_model_save(m, path, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_load(lua_State *L) {
  nas_model *m = check_model(L, 1);
  const char *path = luaL_checkstring(L, 2);
  nas_error err;
  if (nas_model_load(m, path, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int m_param_count(lua_State *L) {
  lua_pushinteger(L, nas_model_param_count(check_model(L, 1)));
  return 1;
}

static int m_device(lua_State *L) {
  lua_pushstring(L, nas_model_device(check_model(L, 1)));
  return 1;
}

static int m_memfmt(lua_State *L) {
  static const char *const fmts[] = {"auto", "nchw", "channels_last"};
  nas_memfmt f = nas_model_memfmt(check_model(L, 1));
  lua_pushstring(L, fmts[f >= 0 && f <= 2 ? f : 0]);
  return 1;
}

/* m:forward(dataset, first_row, n, width) -> { {row 1 outputs}, ... }, {labels} | nil, msg, status
 * width is the number of outputs per sample (the graph's output size). */
static int m_forward(lua_State *L) {
  nas_model *m = check_model(L, 1);
  nas_dataset *d = lnas_check_dataset(L, 2);
  lua_Integer first = luaL_checkinteger(L, 3);
  lua_Integer n = luaL_checkinteger(L, 4);
  lua_Integer width = luaL_checkinteger(L, 5);
  lua_Integer count = nas_data_count(d);
  luaL_argcheck(L, first >= 0 && first < count, 3, "row out of range");
  luaL_argcheck(L, n >= 1 && first + n <= count && n <= 4096, 4, "count out of range");
  luaL_argcheck(L, width >= 1, 5, "width must be >= 1");
  int64_t ss = nas_data_sample_size(d);
  /* Scratch owned by Lua, so an error cannot leak it. */
  int64_t *rows = (int64_t *)lua_newuserdatauv(L, sizeof(int64_t) * (size_t)n * 2, 0);
  float *x = (float *)lua_newuserdatauv(L, sizeof(float) * (size_t)(n * ss), 0);
  float *out = (float *)lua_newuserdatauv(L, sizeof(float) * (size_t)(n * width), 0);
  for (lua_Integer i = 0; i < n; i++) rows[i] = first + i;
  nas_data_batch(d, rows, (int)n, NULL, NULL, x, rows + n);
  nas_error err;
  if (nas_model_forward(m, x, (int)n, out, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_createtable(L, (int)width, 0);
    for (lua_Integer j = 0; j < width; j++) {
      lua_pushnumber(L, out[i * width + j]);
      lua_rawseti(L, -2, j + 1);
    }
    lua_rawseti(L, -2, i + 1);
  }
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_pushinteger(L, rows[n + i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 2;
}

/* m:forward_floats(bytes, n, width [, train]) -> bytes | nil, msg, status
 * bytes: n samples of native float32 (n * input size floats); the result: n *
 * width floats. train: training mode (batch statistics, dropout), else eval. */
static int m_forward_floats(lua_State *L) {
  nas_model *m = check_model(L, 1);
  size_t len;
  const char *bytes = luaL_checklstring(L, 2, &len);
  lua_Integer n = luaL_checkinteger(L, 3);
  lua_Integer width = luaL_checkinteger(L, 4);
  int train = lua_toboolean(L, 5);
  luaL_argcheck(L, n >= 1 && n <= 65536, 3, "count must be in 1..65536");
  luaL_argcheck(L, width >= 1 && width <= ((lua_Integer)1 << 24), 4, "width must be >= 1");
  luaL_argcheck(L, len % (sizeof(float) * (size_t)n) == 0 && len > 0, 2,
                "length is not a whole number of float32 samples");
  /* aligned copies owned by Lua, so an error cannot leak them */
  float *x = (float *)lua_newuserdatauv(L, len, 0);
  memcpy(x, bytes, len);
  float *out = (float *)lua_newuserdatauv(L, sizeof(float) * (size_t)(n * width), 0);
  nas_error err;
  nas_status st = train ? nas_model_forward_train(m, x, (int)n, out, &err) : nas_model_forward(m, x, (int)n, out, &err);
  if (st != NAS_OK) return lnas_fail(L, &err);
  lua_pushlstring(L, (const char *)out, sizeof(float) * (size_t)(n * width));
  return 1;
}

/* m:export_pytorch(dir [, {class =, mean = {..}, std = {..}, header =}]) -> true | nil, msg, status */
static int m_export_pytorch(lua_State *L) {
  static const char *const keys[] = {"class", "mean", "std", "header", NULL};
  nas_model *m = check_model(L, 1);
  const char *dir = luaL_checkstring(L, 2);
  nas_export_opts o = nas_export_opts_default();
  float mean[64], sd[64];
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lnas_check_keys(L, 3, keys);
    o.class_name = lnas_opt_str(L, 3, "class", o.class_name);
    o.header = lnas_opt_str(L, 3, "header", NULL);
    int tm = lua_getfield(L, 3, "mean"), ts = lua_getfield(L, 3, "std");
    if (tm != LUA_TNIL || ts != LUA_TNIL) {
      if (tm != LUA_TTABLE || ts != LUA_TTABLE) luaL_argerror(L, 3, "fields 'mean' and 'std' go together, as lists");
      lua_Integer c = luaL_len(L, -2);
      if (c < 1 || c > 64 || luaL_len(L, -1) != c) luaL_argerror(L, 3, "'mean' and 'std' need the same 1..64 values");
      for (lua_Integer i = 0; i < c; i++) {
        lua_geti(L, -2, i + 1);
        lua_geti(L, -2, i + 1);
        if (!lua_isnumber(L, -2) || !lua_isnumber(L, -1)) luaL_argerror(L, 3, "'mean' and 'std' hold numbers");
        mean[i] = (float)lua_tonumber(L, -2);
        sd[i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 2);
      }
      o.norm_channels = (int)c;
      o.mean = mean;
      o.std = sd;
    }
    lua_pop(L, 2);
  }
  nas_error err;
  if (nas_model_export_pytorch(m, dir, &o, &err) != NAS_OK) return lnas_fail(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int t_tostring(lua_State *L) {
  lua_pushstring(L, "nas.Trainer");
  return 1;
}

static int m_tostring(lua_State *L) {
  lnas_box *b = check_box(L, 1, NAS_MODEL_MT);
  if (!b->p) lua_pushstring(L, "nas.Model (released)");
  else lua_pushfstring(L, "nas.Model (%I params on %s)", (lua_Integer)nas_model_param_count((nas_model *)b->p),
                       nas_model_device((nas_model *)b->p));
  return 1;
}

static const luaL_Reg model_methods[] = {
  {"train_begin", m_train_begin}, {"evaluate", m_evaluate}, {"latency", m_latency},
  {"save", m_save},               {"load", m_load},         {"param_count", m_param_count},
  {"device", m_device},           {"memfmt", m_memfmt},     {"forward", m_forward},
  {"forward_floats", m_forward_floats}, {"export_pytorch", m_export_pytorch},
  {"release", m_release},         {NULL, NULL}
};
static const luaL_Reg model_meta[] = {
  {"__gc", m_release}, {"__close", m_release}, {"__tostring", m_tostring}, {"__index", NULL}, {NULL, NULL}
};
static const luaL_Reg trainer_methods[] = {{"run", t_run}, {"release", t_release}, {NULL, NULL}};
static const luaL_Reg trainer_meta[] = {
  {"__gc", t_release}, {"__close", t_release}, {"__tostring", t_tostring}, {"__index", NULL}, {NULL, NULL}
};
static const luaL_Reg model_funcs[] = {{"model_new", l_model_new}, {NULL, NULL}};

static void new_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int lnas_open_model(lua_State *L) {
  new_class(L, NAS_MODEL_MT, model_meta, model_methods);
  new_class(L, NAS_TRAINER_MT, trainer_meta, trainer_methods);
  luaL_setfuncs(L, model_funcs, 0);
  return 0;
}
