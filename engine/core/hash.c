/* Canonical graph hash (Merkle style).
 *
 * node hash = H(op, resolved attributes in schema order, input hashes)
 *   - the input node hashes its per-sample shape;
 *   - padding is hashed as its effective value, so padding="same" and the
 *     equivalent explicit padding hash equal (they compute the same function);
 *   - inputs of a commutative op (add) are sorted, of concat/mul kept in order.
 * graph hash = hash of the output node: node numbering and nodes that do not
 * reach the output do not change it. Node hashes are computed once, at add. */
#include <string.h>

#include "graph_impl.h"

static inline uint64_t mix64(uint64_t x) { /* splitmix64 finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

static inline uint64_t feed(uint64_t h, uint64_t w) {
  return mix64(h ^ (w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

static uint64_t float_bits(double f) {
  uint64_t u;
  if (f == 0.0) f = 0.0; /* -0.0 hashes as 0.0 */
  memcpy(&u, &f, sizeof u);
  return u;
}

uint64_t nas_node_hash(const nas_graph *g, const nas_node *n) {
  const nas_op_info *oi = &nas_op_table[n->op];
  uint64_t h = feed(0x6e617372756e3031ULL /* "nasrun01" */, n->op);
  if (n->op == NAS_OP_INPUT) {
    h = feed(h, n->ndim);
    for (int i = 0; i < n->ndim; i++) h = feed(h, (uint64_t)n->dims[i]);
    return h;
  }
  for (int i = 0; i < oi->nattrs; i++) {
    const nas_attr_spec *s = &oi->attrs[i];
    uint64_t v;
    if (s->kind == NAS_ATTR_KIND_FLOAT) v = float_bits(n->a[i].f);
    else if (s->chk == NAS_CHK_PAD) v = (uint64_t)nas_node_padding(n);
    else v = (uint64_t)n->a[i].i;
    h = feed(h, v);
  }
  uint64_t in[NAS_MAX_INPUTS];
  for (int i = 0; i < n->nin; i++) in[i] = g->nodes[n->in[i]].hash;
  if (oi->commutative) /* insertion sort: at most 16 */
    for (int i = 1; i < n->nin; i++) {
      uint64_t x = in[i];
      int j = i - 1;
      for (; j >= 0 && in[j] > x; j--) in[j + 1] = in[j];
      in[j + 1] = x;
    }
  h = feed(h, n->nin);
  for (int i = 0; i < n->nin; i++) h = feed(h, in[i]);
  return h;
}

uint64_t nas_graph_hash(const nas_graph *g) {
  if (!g || g->n == 0) return 0;
  int out = g->output < 0 ? g->n - 1 : g->output;
  return g->nodes[out].hash;
}
