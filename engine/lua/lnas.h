/* Private declarations of the Lua binding (engine/lua). Only engine/lua sees lua.h. */
#ifndef NAS_LNAS_H
#define NAS_LNAS_H
#include <lauxlib.h>
#include <lua.h>

#include "nas.h"

#define NAS_GRAPH_MT "nas.Graph"
#define NAS_MODEL_MT "nas.Model"
#define NAS_TRAINER_MT "nas.Trainer"
#define NAS_DATASET_MT "nas.Dataset"
#define NAS_CONTROLLER_MT "nas.Controller"
#define NAS_DARTS_MT "nas.Darts"

/* Boxed handles: the pointer is NULL once released (idempotent __gc/__close). */
typedef struct lnas_box { void *p; } lnas_box;

/* Environmental failure: pushes nil, message, status name; returns 3. */
int lnas_fail(lua_State *L, const nas_error *err);

nas_graph *lnas_check_graph(lua_State *L, int i);
nas_dataset *lnas_check_dataset(lua_State *L, int i);
nas_model *lnas_check_model(lua_State *L, int i);
/* lmodel.c: a training options table (m:train_begin's) into o; a progress table pushed. */
void lnas_read_train_opts(lua_State *L, int t, nas_train_opts *o);
void lnas_push_progress(lua_State *L, const nas_train_progress *p);
/* Pushes a new box with metatable mt, p = NULL and nuv user values. Box first,
 * then create the C object and store it in ->p: a Lua error raised while
 * pushing (out of memory) then cannot leak the object. */
lnas_box *lnas_box_new(lua_State *L, const char *mt, int nuv);

/* Reads t[key] as an integer / number / string / boolean with a default;
 * raises an argument error naming arg and key on a wrong type. */
lua_Integer lnas_opt_int(lua_State *L, int t, const char *key, lua_Integer def);
lua_Number lnas_opt_num(lua_State *L, int t, const char *key, lua_Number def);
const char *lnas_opt_str(lua_State *L, int t, const char *key, const char *def);
int lnas_opt_bool(lua_State *L, int t, const char *key, int def);
/* Raises an argument error for the first key of table t not in the NULL-terminated list. */
void lnas_check_keys(lua_State *L, int t, const char *const *allowed);

int lnas_open_graph(lua_State *L);   /* adds graph functions to the module table on top */
int lnas_open_data(lua_State *L);
int lnas_open_model(lua_State *L);
int lnas_open_controller(lua_State *L); /* lcontroller.c: core.controller_new */
int lnas_open_proxy(lua_State *L);      /* lproxy.c: core.proxy, core.proxies */
int lnas_open_supernet(lua_State *L);   /* lsupernet.c: supernet methods on nas.Model, core.darts_begin */
int lnas_open_proc(lua_State *L);       /* lproc.c: worker processes, frames, locks, host facts */

/* The module's entry point: the one symbol nas/core.so exports (the rest of
 * engine/lua is built with hidden visibility). */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_nas_core(lua_State *L);

#endif
