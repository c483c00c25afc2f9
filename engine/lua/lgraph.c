/* nas.Graph: the architecture IR as Lua userdata. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lnas.h"

#define MAX_ATTRS 32

static lnas_box *check_box(lua_State *L, int i) {
  return (lnas_box *)luaL_checkudata(L, i, NAS_GRAPH_MT);
}

nas_graph *lnas_check_graph(lua_State *L, int i) {
  lnas_box *b = check_box(L, i);
  if (!b->p) luaL_argerror(L, i, "graph has been released");
  return (nas_graph *)b->p;
}

static int g_release(lua_State *L) {
  lnas_box *b = check_box(L, 1);
  if (b->p) {
    nas_graph_free((nas_graph *)b->p);
    b->p = NULL;
  }
  return 0;
}

static int check_node(lua_State *L, nas_graph *g, int arg) {
  lua_Integer id = luaL_checkinteger(L, arg);
  int n = nas_graph_node_count(g);
  if (id < 0 || id >= n)
    luaL_argerror(L, arg, lua_pushfstring(L, "node %d does not exist (graph has nodes 0..%d)",
                                          (int)id, n - 1));
  return (int)id;
}

static void read_dims(lua_State *L, int t, int arg, int *ndim, int64_t *dims) {
  luaL_checktype(L, t, LUA_TTABLE);
  lua_Integer n = luaL_len(L, t);
  if (n != 1 && n != 3)
    luaL_argerror(L, arg, lua_pushfstring(L, "input shape needs 1 ({F}) or 3 ({C,H,W}) sizes, got %d", (int)n));
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, t, i);
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok) luaL_argerror(L, arg, lua_pushfstring(L, "input shape entry %d is not an integer", (int)i));
    dims[i - 1] = v;
    lua_pop(L, 1);
  }
  *ndim = (int)n;
}

/* Converts the Lua value at idx into attribute `key` of op (op < 0: unknown
 * op, the core will say so). Integral floats become ints where the schema
 * wants an int (JSON decoders give 16.0). A boolean becomes the int 1/0 with s
 * spelling it, which the core accepts for flags only (bias = false, never
 * out = true). Returns 0, or -1 for a value of the wrong Lua type. Strings
 * stay owned by Lua. */
static int attr_from_value(lua_State *L, int idx, int op, const char *key, nas_attr *a) {
  a->key = key;
  a->s = NULL;
  a->i = 0;
  a->f = 0.0;
  switch (lua_type(L, idx)) {
  case LUA_TBOOLEAN: /* 1/0, marked as a boolean by s: only flags (bias, affine) take it */
    a->kind = NAS_ATTR_KIND_INT;
    a->i = lua_toboolean(L, idx);
    a->s = a->i ? "true" : "false";
    return 0;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      a->kind = NAS_ATTR_KIND_INT;
      a->i = lua_tointeger(L, idx);
      a->f = (double)a->i;
    } else {
      lua_Integer iv;
      a->f = lua_tonumber(L, idx);
      a->kind = NAS_ATTR_KIND_FLOAT;
      if (op > 0 && lua_numbertointeger(a->f, &iv) && (double)iv == a->f)
        for (int i = 0; i < nas_op_attr_count((nas_op)op); i++)
          if (nas_op_attr_kind((nas_op)op, i) == NAS_ATTR_KIND_INT &&
              strcmp(nas_op_attr_key((nas_op)op, i), key) == 0) {
            a->kind = NAS_ATTR_KIND_INT;
            a->i = iv;
          }
    }
    return 0;
  case LUA_TSTRING:
    a->kind = NAS_ATTR_KIND_STR;
    a->s = lua_tostring(L, idx);
    return 0;
  default:
    return -1;
  }
}

/* Reads the attribute table at index t into attrs (strings stay owned by the table). */
static int read_attrs(lua_State *L, int t, int arg, int op, nas_attr *attrs, const char *const *skip) {
  int n = 0;
  if (lua_isnoneornil(L, t)) return 0;
  luaL_checktype(L, t, LUA_TTABLE);
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TNUMBER) continue; /* array part: inputs, handled by caller */
      luaL_argerror(L, arg, "attribute keys must be strings");
    }
    const char *key = lua_tostring(L, -2);
    int skipped = 0;
    for (int i = 0; skip && skip[i]; i++)
      if (strcmp(key, skip[i]) == 0) skipped = 1;
    if (skipped) { lua_pop(L, 1); continue; }
    if (n == MAX_ATTRS) luaL_argerror(L, arg, "too many attributes");
    if (attr_from_value(L, -1, op, key, &attrs[n++]) != 0)
      luaL_argerror(L, arg, lua_pushfstring(L, "attribute '%s' must be a number, boolean or string, got %s",
                                            key, luaL_typename(L, -1)));
    lua_pop(L, 1);
  }
  return n;
}

static int read_inputs(lua_State *L, int t, int arg, int *inputs) {
  if (lua_isnoneornil(L, t)) return 0;
  luaL_checktype(L, t, LUA_TTABLE);
  lua_Integer n = luaL_len(L, t);
  if (n > NAS_MAX_INPUTS)
    luaL_argerror(L, arg, lua_pushfstring(L, "at most %d inputs", NAS_MAX_INPUTS));
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, t, i);
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < INT_MIN || v > INT_MAX) /* never truncated into another node's id */
      luaL_argerror(L, arg, lua_pushfstring(L, "input %d is not a node id", (int)i));
    inputs[i - 1] = (int)v;
    lua_pop(L, 1);
  }
  return (int)n;
}

/* core.graph_new{C,H,W} */
static int l_graph_new(lua_State *L) {
  int ndim;
  int64_t dims[NAS_MAX_DIMS];
  nas_error err;
  read_dims(L, 1, 1, &ndim, dims);
  lnas_box *b = lnas_box_new(L, NAS_GRAPH_MT, 0);
  b->p = nas_graph_new(ndim, dims, &err);
  if (!b->p) return luaL_argerror(L, 1, err.msg);
  return 1;
}

/* g:add(op, inputs|nil, attrs|nil) -> id | nil, msg, status */
static int g_add(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  const char *op = luaL_checkstring(L, 2);
  int inputs[NAS_MAX_INPUTS];
  nas_attr attrs[MAX_ATTRS];
  int ni = read_inputs(L, 3, 3, inputs);
  int na = read_attrs(L, 4, 4, nas_op_lookup(op), attrs, NULL);
  nas_error err;
  int id = nas_graph_add(g, op, inputs, ni, attrs, na, &err);
  if (id < 0) return lnas_fail(L, &err);
  lua_pushinteger(L, id);
  return 1;
}

/* g:add_spec(op, spec [, fname]) -> id | nil, msg
 * The op methods' fast path: spec is the table the user wrote, holding the
 * attributes plus `input = id`, `inputs = {ids}` or (merge ops) a list of ids.
 * Every problem is returned as a message (never raised), so the Lua face
 * raises it at the user's line without a pcall. */
static int spec_fail(lua_State *L, const char *fname, const char *fmt, const char *detail) {
  lua_pushnil(L);
  lua_pushfstring(L, "bad argument #2 to '%s' (", fname);
  lua_pushfstring(L, fmt, detail);
  lua_pushliteral(L, ")");
  lua_concat(L, 3);
  return 2;
}

static int read_id(lua_State *L, int idx, int *out) {
  int ok = 0;
  lua_Integer v = lua_tointegerx(L, idx, &ok);
  if (!ok || lua_type(L, idx) != LUA_TNUMBER || v < INT_MIN || v > INT_MAX) return 0;
  *out = (int)v;
  return 1;
}

/* Adds the node described by the spec table at index 3 (see g_add_spec);
 * pushes the id, or nil and a message; returns the number of values pushed. */
static int add_spec_impl(lua_State *L, nas_graph *g, const char *opname, const char *fname) {
  int op = nas_op_lookup(opname);
  int inputs[NAS_MAX_INPUTS];
  nas_attr attrs[MAX_ATTRS];
  int ni = 0, na = 0, have_inputs = 0;
  int ty = lua_type(L, 3);
  if (ty != LUA_TNIL && ty != LUA_TNONE) {
    if (ty != LUA_TTABLE) return spec_fail(L, fname, "table expected, got %s", luaL_typename(L, 3));
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      int kt = lua_type(L, -2);
      if (kt == LUA_TNUMBER) {
        lua_Integer pos;
        if (!lua_isinteger(L, -2) || (pos = lua_tointeger(L, -2)) < 1 || pos > NAS_MAX_INPUTS)
          return spec_fail(L, fname, "%s", "list positions must be 1..16 (node ids of the inputs)");
        if (have_inputs == 2) return spec_fail(L, fname, "%s", "give inputs either as a list or as 'inputs', not both");
        if (nas_op_max_inputs((nas_op)op) < 2)
          return spec_fail(L, fname, "%s", "only merge ops (add, concat, mul) take a list of inputs; use input = id");
        have_inputs = 1;
        if (!read_id(L, -1, &inputs[pos - 1]))
          return spec_fail(L, fname, "input %s must be a node id (an integer)", lua_tostring(L, -2));
        if ((int)pos > ni) ni = (int)pos;
        lua_pop(L, 1);
        continue;
      }
      if (kt != LUA_TSTRING) return spec_fail(L, fname, "%s", "keys must be attribute names or list positions");
      const char *key = lua_tostring(L, -2);
      if (key[0] == 'i' && (strcmp(key, "input") == 0 || strcmp(key, "inputs") == 0)) {
        if (have_inputs) return spec_fail(L, fname, "%s", "give inputs either as a list or as 'inputs', not both");
        have_inputs = 2;
        if (key[5] == '\0') {
          if (!read_id(L, -1, &inputs[0])) return spec_fail(L, fname, "%s", "field 'input' must be a node id");
          ni = 1;
        } else {
          if (lua_type(L, -1) != LUA_TTABLE) return spec_fail(L, fname, "%s", "field 'inputs' must be a list of node ids");
          lua_Integer n = luaL_len(L, -1);
          if (n > NAS_MAX_INPUTS) return spec_fail(L, fname, "%s", "at most 16 inputs");
          for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i);
            int okid = read_id(L, -1, &inputs[i - 1]);
            lua_pop(L, 1);
            if (!okid) return spec_fail(L, fname, "%s", "field 'inputs' must be a list of node ids");
          }
          ni = (int)n;
        }
        lua_pop(L, 1);
        continue;
      }
      if (na == MAX_ATTRS) return spec_fail(L, fname, "%s", "too many attributes");
      if (attr_from_value(L, -1, op, key, &attrs[na++]) != 0)
        return spec_fail(L, fname, "attribute '%s' must be a number, boolean or string", key);
      lua_pop(L, 1);
    }
    if (have_inputs == 1) /* a list must have no holes */
      for (int i = 0; i < ni; i++) {
        if (lua_geti(L, 3, i + 1) == LUA_TNIL) return spec_fail(L, fname, "%s", "the list of inputs has a hole");
        lua_pop(L, 1);
      }
  }
  nas_error err;
  int id = nas_graph_add(g, opname, inputs, ni, attrs, na, &err);
  if (id < 0) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  lua_pushinteger(L, id);
  return 1;
}

static int g_add_spec(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  const char *opname = luaL_checkstring(L, 2);
  const char *fname = luaL_optstring(L, 4, opname);
  lua_settop(L, 3);
  return add_spec_impl(L, g, opname, fname);
}

/* net:conv{...}: the op methods of a Lua net (a table holding its graph in
 * field _g), as C closures over the op name. A bad node raises an error whose
 * position is the caller's line: luaL_error reports level 1, the Lua code
 * that called this C function. */
static int net_op(lua_State *L) {
  const char *opname = lua_tostring(L, lua_upvalueindex(1));
  if (lua_type(L, 1) != LUA_TTABLE || lua_getfield(L, 1, "_g") != LUA_TUSERDATA)
    return luaL_error(L, "bad argument #1 to '%s' (net expected: call it as net:%s{...})", opname, opname);
  nas_graph *g = lnas_check_graph(L, -1);
  lua_pop(L, 1);
  lua_settop(L, 2);
  lua_pushnil(L); /* spec must sit at index 3 for add_spec_impl */
  lua_rotate(L, 2, 1);
  if (add_spec_impl(L, g, opname, opname) == 2) return luaL_error(L, "%s", lua_tostring(L, -1));
  return 1;
}

/* core.op_method(name) -> the C closure used as net:<name>{...} */
static int l_op_method(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (nas_op_lookup(name) <= 0) return luaL_argerror(L, 1, "unknown op");
  lua_settop(L, 1);
  lua_pushcclosure(L, net_op, 1);
  return 1;
}

static int g_count(lua_State *L) {
  lua_pushinteger(L, nas_graph_node_count(lnas_check_graph(L, 1)));
  return 1;
}

static int g_output(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    nas_error err;
    if (nas_graph_set_output(g, check_node(L, g, 2), &err) != NAS_OK) return lnas_fail(L, &err);
  }
  lua_pushinteger(L, nas_graph_output(g));
  return 1;
}

static void push_shape(lua_State *L, const nas_graph *g, int node) {
  int64_t dims[NAS_MAX_DIMS];
  int nd = nas_graph_node_shape(g, node, dims);
  lua_createtable(L, nd, 0);
  for (int i = 0; i < nd; i++) {
    lua_pushinteger(L, dims[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static int g_shape(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  int node = lua_isnoneornil(L, 2) ? nas_graph_output(g) : check_node(L, g, 2);
  push_shape(L, g, node);
  return 1;
}

/* Pushes the node as a plain table {op=, inputs={...}, <attrs>}. */
static void push_node(lua_State *L, const nas_graph *g, int node) {
  nas_op op = nas_graph_node_op(g, node);
  int na = nas_op_attr_count(op), ni = nas_graph_node_ninputs(g, node);
  lua_createtable(L, 0, na + 2);
  lua_pushstring(L, nas_op_name(op));
  lua_setfield(L, -2, "op");
  lua_createtable(L, ni, 0);
  for (int i = 0; i < ni; i++) {
    lua_pushinteger(L, nas_graph_node_input(g, node, i));
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "inputs");
  for (int i = 0; i < na; i++) {
    const char *key = nas_op_attr_key(op, i);
    if (nas_op_attr_kind(op, i) == NAS_ATTR_KIND_FLOAT) {
      lua_pushnumber(L, nas_graph_node_float(g, node, key));
    } else {
      int64_t v = nas_graph_node_int(g, node, key);
      if (nas_op_attr_kind(op, i) == NAS_ATTR_KIND_STR || (strcmp(key, "padding") == 0 && v < 0)) {
        if (v < 0) lua_pushstring(L, "same");
        else lua_pushinteger(L, v);
      } else {
        lua_pushinteger(L, v);
      }
    }
    lua_setfield(L, -2, key);
  }
}

static int g_node(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  int node = check_node(L, g, 2);
  push_node(L, g, node);
  push_shape(L, g, node);
  lua_setfield(L, -2, "shape");
  lua_pushinteger(L, nas_graph_node_params(g, node));
  lua_setfield(L, -2, "params");
  lua_pushinteger(L, nas_graph_node_flops(g, node));
  lua_setfield(L, -2, "flops");
  return 1;
}

static int g_params(lua_State *L) {
  lua_pushinteger(L, nas_graph_params(lnas_check_graph(L, 1)));
  return 1;
}
static int g_flops(lua_State *L) {
  lua_pushinteger(L, nas_graph_flops(lnas_check_graph(L, 1)));
  return 1;
}
static int g_activations(lua_State *L) {
  lua_pushinteger(L, nas_graph_activations(lnas_check_graph(L, 1)));
  return 1;
}
static int g_memory(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  lua_Integer batch = luaL_optinteger(L, 2, 1);
  luaL_argcheck(L, batch >= 1, 2, "batch must be >= 1");
  lua_pushinteger(L, nas_graph_memory_bytes(g, batch > INT_MAX ? INT_MAX : (int)batch)); /* it saturates */
  return 1;
}
static int g_layers(lua_State *L) {
  lua_pushinteger(L, nas_graph_layers(lnas_check_graph(L, 1)));
  return 1;
}
static int g_hash(lua_State *L) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", (unsigned long long)nas_graph_hash(lnas_check_graph(L, 1)));
  lua_pushstring(L, buf);
  return 1;
}

static int g_summary(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  size_t need = nas_graph_summary(g, NULL, 0);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, need + 1);
  nas_graph_summary(g, p, need + 1);
  luaL_pushresultsize(&b, need);
  return 1;
}

static int g_clone(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  lnas_box *b = lnas_box_new(L, NAS_GRAPH_MT, 0);
  b->p = nas_graph_clone(g);
  if (!b->p) return luaL_error(L, "out of memory cloning a graph");
  return 1;
}

/* g:to_table() -> { input = {...}, output = id, nodes = { [id] = node, ... } } */
static int g_to_table(lua_State *L) {
  nas_graph *g = lnas_check_graph(L, 1);
  int n = nas_graph_node_count(g);
  lua_createtable(L, 0, 3);
  push_shape(L, g, 0);
  lua_setfield(L, -2, "input");
  lua_pushinteger(L, nas_graph_output(g));
  lua_setfield(L, -2, "output");
  lua_createtable(L, n - 1, 0);
  for (int i = 1; i < n; i++) {
    push_node(L, g, i);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, -2, "nodes");
  return 1;
}

/* core.graph_from_table(t) -> graph | nil, msg, status */
static int l_graph_from_table(lua_State *L) {
  static const char *const top_keys[] = {"input", "output", "nodes", NULL};
  static const char *const skip[] = {"op", "inputs", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  lnas_check_keys(L, 1, top_keys);
  int ndim;
  int64_t dims[NAS_MAX_DIMS];
  if (lua_getfield(L, 1, "input") != LUA_TTABLE) luaL_argerror(L, 1, "field 'input' (shape) is required");
  read_dims(L, lua_gettop(L), 1, &ndim, dims);
  lua_pop(L, 1);
  lua_Integer out = lnas_opt_int(L, 1, "output", -1);
  if (out > INT_MAX) luaL_argerror(L, 1, "field 'output' is not a node id");
  int output = out < 0 ? -1 : (int)out; /* < 0: the last node */
  if (lua_getfield(L, 1, "nodes") != LUA_TTABLE) luaL_argerror(L, 1, "field 'nodes' (a list) is required");
  int nodes = lua_gettop(L);
  int n = (int)luaL_len(L, nodes);
  /* Scratch memory owned by Lua, so an error cannot leak it. */
  nas_node_desc *descs = (nas_node_desc *)lua_newuserdatauv(L, sizeof(nas_node_desc) * (size_t)(n ? n : 1), 0);
  int *inputs = (int *)lua_newuserdatauv(L, sizeof(int) * NAS_MAX_INPUTS * (size_t)(n ? n : 1), 0);
  nas_attr *attrs = (nas_attr *)lua_newuserdatauv(L, sizeof(nas_attr) * MAX_ATTRS * (size_t)(n ? n : 1), 0);
  for (int i = 0; i < n; i++) {
    if (lua_geti(L, nodes, i + 1) != LUA_TTABLE)
      luaL_argerror(L, 1, lua_pushfstring(L, "nodes[%d] is not a table", i + 1));
    int t = lua_gettop(L);
    if (lua_getfield(L, t, "op") != LUA_TSTRING)
      luaL_argerror(L, 1, lua_pushfstring(L, "nodes[%d].op must be a string", i + 1));
    descs[i].op = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays referenced by the node table */
    if (lua_getfield(L, t, "inputs") != LUA_TTABLE)
      luaL_argerror(L, 1, lua_pushfstring(L, "nodes[%d].inputs must be a list of node ids", i + 1));
    descs[i].ninputs = read_inputs(L, lua_gettop(L), 1, inputs + i * NAS_MAX_INPUTS);
    descs[i].inputs = inputs + i * NAS_MAX_INPUTS;
    lua_pop(L, 1);
    descs[i].nattrs = read_attrs(L, t, 1, nas_op_lookup(descs[i].op), attrs + i * MAX_ATTRS, skip);
    descs[i].attrs = attrs + i * MAX_ATTRS;
    lua_pop(L, 1); /* node table: still referenced by `nodes`, so its strings live */
  }
  nas_error err;
  lnas_box *b = lnas_box_new(L, NAS_GRAPH_MT, 0);
  b->p = nas_graph_from_desc(ndim, dims, descs, n, output, &err);
  if (!b->p) return lnas_fail(L, &err);
  return 1;
}

static int g_tostring(lua_State *L) {
  lnas_box *b = check_box(L, 1);
  if (!b->p) lua_pushstring(L, "nas.Graph (released)");
  else lua_pushfstring(L, "nas.Graph (%d nodes, %I params)", nas_graph_node_count((nas_graph *)b->p),
                       (lua_Integer)nas_graph_params((nas_graph *)b->p));
  return 1;
}

static const luaL_Reg graph_methods[] = {
  {"add", g_add},         {"add_spec", g_add_spec},  {"count", g_count},     {"output", g_output},
  {"shape", g_shape},     {"node", g_node},       {"params", g_params},
  {"flops", g_flops},     {"activations", g_activations},
  {"memory", g_memory},   {"layers", g_layers},   {"hash", g_hash},
  {"summary", g_summary}, {"clone", g_clone},     {"to_table", g_to_table},
  {"release", g_release}, {NULL, NULL}
};

static const luaL_Reg graph_meta[] = {
  {"__gc", g_release}, {"__close", g_release}, {"__tostring", g_tostring},
  {"__index", NULL},   {NULL, NULL}
};

static const luaL_Reg graph_funcs[] = {
  {"graph_new", l_graph_new}, {"graph_from_table", l_graph_from_table}, {"op_method", l_op_method},
  {NULL, NULL}
};

int lnas_open_graph(lua_State *L) {
  luaL_newmetatable(L, NAS_GRAPH_MT);
  luaL_setfuncs(L, graph_meta, 0);
  luaL_newlibtable(L, graph_methods);
  luaL_setfuncs(L, graph_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, graph_funcs, 0);
  return 0;
}
