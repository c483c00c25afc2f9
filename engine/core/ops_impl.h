/* The op table (engine/core/ops.c): one row per op with its arity, attribute
 * schema and shape / params / MACs rules. Built on attr_impl.h; knows no graph
 * (a rule sees the node under construction and its input nodes). Not installed. */
#ifndef NAS_OPS_IMPL_H
#define NAS_OPS_IMPL_H
#include "attr_impl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nas_op_info {
  const char *name;
  int8_t min_in, max_in;
  int8_t nattrs;
  uint8_t layer;       /* counts in nas_graph_layers */
  uint8_t commutative; /* input order does not matter (hash) */
  nas_attr_spec attrs[NAS_MAX_ATTRS];
  nas_status (*shape)(nas_shape_ctx *c);
  /* Params / MACs of node n whose shape is known, in[i] its input nodes; -1 on
   * int64 overflow. */
  int64_t (*params)(const nas_node *const *in, const nas_node *n);
  int64_t (*flops)(const nas_node *const *in, const nas_node *n);
} nas_op_info;

extern const nas_op_info nas_op_table[];
extern const int nas_op_table_count;

/* Effective padding of a conv/pool node ("same" resolved), or 0 when the op has none. */
int64_t nas_node_padding(const nas_node *n);
/* Schema index of key in op, or -1. */
int nas_op_attr_index(nas_op op, const char *key);

#ifdef __cplusplus
}
#endif
#endif
