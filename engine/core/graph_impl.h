/* Private structures of the graph IR (engine/core/graph.c, ops.c, hash.c).
 * Not installed; engine/torch should use the accessors in nas.h. */
#ifndef NAS_GRAPH_IMPL_H
#define NAS_GRAPH_IMPL_H
#include "core_impl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NAS_MAX_ATTRS 8

/* A resolved attribute value: .i for INT keys, .f for FLOAT keys. */
typedef union nas_aval {
  int64_t i;
  double f;
} nas_aval;

/* One node, stored inline (no per-node allocation). */
typedef struct nas_node {
  int32_t in[NAS_MAX_INPUTS];  /* input node ids, all smaller than this node's */
  nas_aval a[NAS_MAX_ATTRS];   /* attribute values in schema order, defaults filled */
  int64_t dims[NAS_MAX_DIMS];  /* per-sample output shape */
  int64_t numel;               /* product of dims */
  int64_t params, flops;       /* cached at add time */
  uint64_t hash;               /* Merkle hash of the sub-graph ending here */
  uint8_t op, ndim, nin;
} nas_node;

struct nas_graph {
  nas_node *nodes;
  int n, cap;
  int output;                  /* -1: the last node */
  int layers;
  int64_t params, flops, acts; /* totals over all nodes, kept at add time */
};

/* Value checks applied to given attribute values (defaults are valid). */
typedef enum nas_chk {
  NAS_CHK_NONE = 0,
  NAS_CHK_POS,  /* int > 0 */
  NAS_CHK_BOOL, /* int 0 or 1 */
  NAS_CHK_PAD,  /* int >= 0, or "same" (-1) / "valid" (0) */
  NAS_CHK_PROB, /* float in [0,1) */
  NAS_CHK_UNIT, /* float in [0,1] */
  NAS_CHK_POSF, /* float > 0 */
  NAS_CHK_NONNEG /* int >= 0 */
} nas_chk;

typedef struct nas_attr_spec {
  const char *key;
  nas_attr_kind kind; /* INT or FLOAT (padding is INT and also takes a STR) */
  uint8_t required;
  uint8_t chk;        /* nas_chk */
  int64_t di;         /* default for INT keys (pool stride: -1 = k) */
  double df;          /* default for FLOAT keys */
} nas_attr_spec;

/* Context handed to a shape rule: the node under construction (op, inputs and
 * resolved attributes set; the rule fills ndim/dims and may resolve attrs). */
typedef struct nas_shape_ctx {
  const nas_graph *g;
  nas_node *n;
  int id;             /* the node's id */
  const int *labels;  /* id -> id to show in messages (from_desc), or NULL */
  nas_error *err;
} nas_shape_ctx;

typedef struct nas_op_info {
  const char *name;
  int8_t min_in, max_in;
  int8_t nattrs;
  uint8_t layer;        /* counts in nas_graph_layers */
  uint8_t commutative;  /* input order does not matter (hash) */
  nas_attr_spec attrs[NAS_MAX_ATTRS];
  nas_status (*shape)(nas_shape_ctx *c);
  /* Params / MACs of a node whose shape is known; -1 on int64 overflow. */
  int64_t (*params)(const nas_graph *g, const nas_node *n);
  int64_t (*flops)(const nas_graph *g, const nas_node *n);
} nas_op_info;

extern const nas_op_info nas_op_table[NAS_OP_COUNT];

/* Id to show in messages for node id. */
static inline int nas_label(const nas_shape_ctx *c, int id) {
  return c->labels ? c->labels[id] : id;
}
/* Sets c->err to "node <label> (<op>): <formatted message>"; returns status. */
nas_status nas_node_err(const nas_shape_ctx *c, nas_status st, const char *fmt, ...)
    NAS_PRINTF(3, 4);
/* Writes "32x7x7" / "512" into buf; returns buf. */
char *nas_shape_str(char *buf, size_t cap, int ndim, const int64_t *dims);
/* Effective padding of a conv/pool node ("same" resolved), or 0 when the op has none. */
int64_t nas_node_padding(const nas_node *n);
/* Schema index of key in op, or -1. */
int nas_op_attr_index(nas_op op, const char *key);

/* Checked arithmetic on non-negative int64: -1 on overflow or a -1 operand. */
static inline int64_t nas_mulc(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > INT64_MAX / a) return -1;
  return a * b;
}
static inline int64_t nas_addc(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return -1;
  if (b > INT64_MAX - a) return -1;
  return a + b;
}

/* hash.c: hash of node n (its inputs' hashes must be set). */
uint64_t nas_node_hash(const nas_graph *g, const nas_node *n);

#ifdef __cplusplus
}
#endif
#endif
