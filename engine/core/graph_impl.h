/* Private structures of the graph IR. Not installed; engine/torch uses the
 * accessors in nas.h.
 *
 * engine/core is built in floors; each file includes and calls only the floors
 * below it:
 *
 *   graph.c            the graph: lifetime, adding nodes (attributes resolved,
 *                      then the op's shape rule), from_desc, accessors, summary
 *   hash.c             canonical node hashes: reads the nodes of struct
 *                      nas_graph (below), calls only the op table
 *   ops.c  ops_impl.h  the op table: arity, attribute schema, shape / params /
 *                      MACs rules; a rule sees its node and its input nodes,
 *                      never the graph
 *   attr.c attr_impl.h nodes, attribute schemas and their checking, node error
 *                      messages, shape strings, checked int64 arithmetic
 *   error.c core_impl.h  status, messages, the interrupt flag
 *
 * data.c (datasets, with rng.c) stands beside the graph, on error.c alone. */
#ifndef NAS_GRAPH_IMPL_H
#define NAS_GRAPH_IMPL_H
#include "ops_impl.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nas_graph {
  nas_node *nodes;
  int n, cap;
  int output;                  /* -1: the last node */
  int layers;
  int64_t params, flops, acts; /* totals over all nodes, kept at add time */
};

/* hash.c: hash of node n of g (its inputs' hashes must be set). */
uint64_t nas_node_hash(const nas_graph *g, const nas_node *n);

#ifdef __cplusplus
}
#endif
#endif
