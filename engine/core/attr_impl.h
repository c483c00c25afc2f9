/* The lowest floor of the graph IR (engine/core/attr.c): what a node is made
 * of (resolved attribute values, a per-sample shape, cached costs), attribute
 * schemas and their checking, node error messages, shape strings and checked
 * int64 arithmetic. It knows no op and no graph: the op table (ops_impl.h) and
 * the graph (graph_impl.h) build on it. Not installed. */
#ifndef NAS_ATTR_IMPL_H
#define NAS_ATTR_IMPL_H
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

/* One node, stored inline in its graph (no per-node allocation). */
typedef struct nas_node {
  int32_t in[NAS_MAX_INPUTS]; /* input node ids, all smaller than this node's */
  nas_aval a[NAS_MAX_ATTRS];  /* attribute values in schema order, defaults filled */
  int64_t dims[NAS_MAX_DIMS]; /* per-sample output shape */
  int64_t numel;              /* product of dims */
  int64_t params, flops;      /* cached at add time */
  uint64_t hash;              /* Merkle hash of the sub-graph ending here */
  uint8_t op, ndim, nin;
} nas_node;

/* Value checks applied to given attribute values (defaults are valid). */
typedef enum nas_chk {
  NAS_CHK_NONE = 0,
  NAS_CHK_POS,   /* int > 0 */
  NAS_CHK_BOOL,  /* int 0 or 1 */
  NAS_CHK_PAD,   /* int >= 0, or "same" (-1) / "valid" (0) */
  NAS_CHK_PROB,  /* float in [0,1) */
  NAS_CHK_UNIT,  /* float in [0,1] */
  NAS_CHK_POSF,  /* float > 0 */
  NAS_CHK_NONNEG /* int >= 0 */
} nas_chk;

typedef struct nas_attr_spec {
  const char *key;
  nas_attr_kind kind; /* INT or FLOAT (padding is INT and also takes a STR) */
  uint8_t required;
  uint8_t chk; /* nas_chk */
  int64_t di;  /* default for INT keys (pool stride: -1 = k) */
  double df;   /* default for FLOAT keys */
} nas_attr_spec;

/* Context handed to a shape rule: the node under construction (op, inputs and
 * resolved attributes set; the rule fills ndim/dims and may resolve attrs). */
typedef struct nas_shape_ctx {
  const nas_node *const *in; /* in[i]: the node of input i (n->in[i]) */
  nas_node *n;
  const char *op;    /* the op's name, for messages */
  int id;            /* the node's id */
  const int *labels; /* id -> id to show in messages (from_desc), or NULL */
  nas_error *err;
} nas_shape_ctx;

/* Id to show in messages for node id. */
static inline int nas_label(const nas_shape_ctx *c, int id) { return c->labels ? c->labels[id] : id; }
/* Sets c->err to "node <label> (<op>): <formatted message>"; returns status. */
nas_status nas_node_err(const nas_shape_ctx *c, nas_status st, const char *fmt, ...) NAS_PRINTF(3, 4);
/* Writes "32x7x7" / "512" into buf; returns buf. */
char *nas_shape_str(char *buf, size_t cap, int ndim, const int64_t *dims);

/* Fills c->n->a[0..nspecs) with the defaults of specs, then with attrs[0..nattrs)
 * checked against them: an unknown key, a key given twice, a wrong kind, a bad
 * value or a missing required key is NAS_EINVAL with a message naming the node. */
nas_status nas_attrs_resolve(const nas_shape_ctx *c, const nas_attr_spec *specs, int nspecs, const nas_attr *attrs,
                             int nattrs);

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

#ifdef __cplusplus
}
#endif
#endif
