/* The graph IR: nodes stored inline in one growing array, attributes resolved
 * (attr.c) and shapes inferred (the op table's rules, ops.c) at add time, cached
 * costs and hashes (hash.c), accessors,
 * nas_graph_from_desc (stable Kahn sort + cycle report) and the summary table.
 *
 * Costs (params, MACs, activations) sum over all nodes, including nodes that do
 * not reach the output; the hash ignores such nodes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_impl.h"

typedef long long ll;

/* ---- lifetime ------------------------------------------------------------ */

nas_graph *nas_graph_new(int ndim, const int64_t *dims, nas_error *err) {
  if (ndim != 1 && ndim != 3) {
    nas_seterr(err, NAS_EINVAL, "input shape has %d dims; give {F} (1) or {C,H,W} (3)", ndim);
    return NULL;
  }
  if (!dims) {
    nas_seterr(err, NAS_EINVAL, "input shape: dims is NULL");
    return NULL;
  }
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] <= 0) {
      nas_seterr(err, NAS_EINVAL, "input shape: dim %d is %lld; every dim must be > 0", i,
                 (ll)dims[i]);
      return NULL;
    }
    numel = nas_mulc(numel, dims[i]);
  }
  if (numel < 0 || numel > ((int64_t)1 << 40)) {
    nas_seterr(err, NAS_EINVAL, "input shape: too many elements");
    return NULL;
  }
  nas_graph *g = malloc(sizeof *g);
  if (!g) goto oom;
  g->cap = 16;
  g->nodes = malloc(sizeof(nas_node) * (size_t)g->cap);
  if (!g->nodes) {
    free(g);
    goto oom;
  }
  nas_node *n = &g->nodes[0];
  memset(n, 0, sizeof *n);
  n->op = NAS_OP_INPUT;
  n->ndim = (uint8_t)ndim;
  for (int i = 0; i < ndim; i++) n->dims[i] = dims[i];
  n->numel = numel;
  g->n = 1;
  g->output = -1;
  g->layers = 0;
  g->params = g->flops = g->acts = 0;
  n->hash = nas_node_hash(g, n);
  nas_clearerr(err);
  return g;
oom:
  nas_seterr(err, NAS_ENOMEM, "out of memory allocating a graph");
  return NULL;
}

void nas_graph_free(nas_graph *g) {
  if (!g) return;
  free(g->nodes);
  free(g);
}

nas_graph *nas_graph_clone(const nas_graph *g) {
  if (!g) return NULL;
  nas_graph *c = malloc(sizeof *c);
  if (!c) return NULL;
  *c = *g;
  c->nodes = malloc(sizeof(nas_node) * (size_t)g->cap);
  if (!c->nodes) {
    free(c);
    return NULL;
  }
  memcpy(c->nodes, g->nodes, sizeof(nas_node) * (size_t)g->n);
  return c;
}

/* ---- adding nodes -------------------------------------------------------- */

static const char *arity_msg(char *m, size_t cap, const nas_op_info *oi, int got) {
  if (oi->min_in == oi->max_in)
    snprintf(m, cap, "needs exactly %d input%s, got %d", oi->min_in, oi->min_in == 1 ? "" : "s",
             got);
  else if (got < oi->min_in)
    snprintf(m, cap, "needs at least %d inputs, got %d", oi->min_in, got);
  else
    snprintf(m, cap, "takes at most %d inputs, got %d", oi->max_in, got);
  return m;
}

/* Adds a node; labels (from_desc) maps ids to the ids shown in messages. */
static int graph_add(nas_graph *g, const char *opname, const int *inputs, int ninputs,
                     const nas_attr *attrs, int nattrs, const int *labels, nas_error *err) {
  if (!g) {
    nas_seterr(err, NAS_EINVAL, "graph is NULL");
    return -1;
  }
  int id = g->n;
  int label = labels ? labels[id] : id;
  int op = nas_op_lookup(opname);
  if (op < 0) {
    nas_seterr(err, NAS_EINVAL, "node %d: unknown op '%s'", label, opname ? opname : "(null)");
    return -1;
  }
  if (op == NAS_OP_INPUT) {
    nas_seterr(err, NAS_EINVAL, "node %d: op 'input' is node 0 only", label);
    return -1;
  }
  const nas_op_info *oi = &nas_op_table[op];
  nas_node nd;
  memset(&nd, 0, sizeof nd);
  nd.op = (uint8_t)op;
  const nas_node *in[NAS_MAX_INPUTS];
  nas_shape_ctx c = {in, &nd, oi->name, id, labels, err};

  if (ninputs < 0 || (ninputs > 0 && !inputs)) {
    nas_node_err(&c, NAS_EINVAL, "bad input list (%d inputs)", ninputs);
    return -1;
  }
  if (ninputs == 0 && oi->min_in == 1) { /* the last node added */
    nd.in[0] = id - 1;
    nd.nin = 1;
  } else {
    if (ninputs < oi->min_in || ninputs > oi->max_in) {
      char m[64];
      nas_node_err(&c, NAS_EGRAPH, "%s", arity_msg(m, sizeof m, oi, ninputs));
      return -1;
    }
    for (int i = 0; i < ninputs; i++) {
      if (inputs[i] < 0 || inputs[i] >= id) {
        nas_node_err(&c, NAS_EGRAPH,
                     "input %d is node %d, which is not an earlier node (0..%d)", i, inputs[i],
                     id - 1);
        return -1;
      }
      nd.in[i] = inputs[i];
    }
    nd.nin = (uint8_t)ninputs;
  }
  for (int i = 0; i < nd.nin; i++) in[i] = &g->nodes[nd.in[i]];
  if (nas_attrs_resolve(&c, oi->attrs, oi->nattrs, attrs, nattrs)) return -1;
  if (oi->shape(&c)) return -1;

  int64_t numel = 1;
  for (int i = 0; i < nd.ndim; i++) numel = nas_mulc(numel, nd.dims[i]);
  nd.numel = numel;
  nd.params = oi->params ? oi->params(in, &nd) : 0;
  nd.flops = oi->flops ? oi->flops(in, &nd) : 0;
  int64_t tp = nas_addc(g->params, nd.params), tf = nas_addc(g->flops, nd.flops);
  int64_t ta = nas_addc(g->acts, numel);
  if (numel < 0 || nd.params < 0 || nd.flops < 0 || tp < 0 || tf < 0 || ta < 0) {
    nas_node_err(&c, NAS_EGRAPH, "sizes overflow int64");
    return -1;
  }
  nd.hash = nas_node_hash(g, &nd);

  if (g->n == g->cap) {
    if (g->cap > (1 << 28)) {
      nas_node_err(&c, NAS_ENOMEM, "too many nodes");
      return -1;
    }
    int cap = g->cap * 2;
    nas_node *p = realloc(g->nodes, sizeof(nas_node) * (size_t)cap);
    if (!p) {
      nas_node_err(&c, NAS_ENOMEM, "out of memory");
      return -1;
    }
    g->nodes = p;
    g->cap = cap;
  }
  g->nodes[g->n++] = nd;
  g->params = tp;
  g->flops = tf;
  g->acts = ta;
  g->layers += oi->layer;
  nas_clearerr(err);
  return id;
}

int nas_graph_add(nas_graph *g, const char *op, const int *inputs, int ninputs,
                  const nas_attr *attrs, int nattrs, nas_error *err) {
  return graph_add(g, op, inputs, ninputs, attrs, nattrs, NULL, err);
}

/* ---- output and accessors ------------------------------------------------ */

int nas_graph_output(const nas_graph *g) {
  if (!g) return -1;
  return g->output < 0 ? g->n - 1 : g->output;
}

nas_status nas_graph_set_output(nas_graph *g, int node, nas_error *err) {
  if (!g) return nas_seterr(err, NAS_EINVAL, "graph is NULL");
  if (node < 0 || node >= g->n)
    return nas_seterr(err, NAS_EINVAL, "output node %d does not exist (nodes are 0..%d)", node,
                      g->n - 1);
  g->output = node;
  nas_clearerr(err);
  return NAS_OK;
}

static const nas_node *node_at(const nas_graph *g, int node) {
  return (g && node >= 0 && node < g->n) ? &g->nodes[node] : NULL;
}

int nas_graph_node_count(const nas_graph *g) { return g ? g->n : 0; }

nas_op nas_graph_node_op(const nas_graph *g, int node) {
  const nas_node *n = node_at(g, node);
  return n ? (nas_op)n->op : NAS_OP_NONE;
}

int nas_graph_node_ninputs(const nas_graph *g, int node) {
  const nas_node *n = node_at(g, node);
  return n ? n->nin : 0;
}

int nas_graph_node_input(const nas_graph *g, int node, int i) {
  const nas_node *n = node_at(g, node);
  return (n && i >= 0 && i < n->nin) ? n->in[i] : -1;
}

int nas_graph_node_shape(const nas_graph *g, int node, int64_t dims[NAS_MAX_DIMS]) {
  const nas_node *n = node_at(g, node);
  if (!n) return 0;
  for (int i = 0; i < n->ndim; i++) dims[i] = n->dims[i];
  return n->ndim;
}

int64_t nas_graph_node_int(const nas_graph *g, int node, const char *key) {
  const nas_node *n = node_at(g, node);
  if (!n) return 0;
  int i = nas_op_attr_index((nas_op)n->op, key);
  if (i < 0) return 0;
  return nas_op_table[n->op].attrs[i].kind == NAS_ATTR_KIND_FLOAT ? (int64_t)n->a[i].f : n->a[i].i;
}

double nas_graph_node_float(const nas_graph *g, int node, const char *key) {
  const nas_node *n = node_at(g, node);
  if (!n) return 0.0;
  int i = nas_op_attr_index((nas_op)n->op, key);
  if (i < 0) return 0.0;
  return nas_op_table[n->op].attrs[i].kind == NAS_ATTR_KIND_FLOAT ? n->a[i].f : (double)n->a[i].i;
}

int64_t nas_graph_node_params(const nas_graph *g, int node) {
  const nas_node *n = node_at(g, node);
  return n ? n->params : 0;
}

int64_t nas_graph_node_flops(const nas_graph *g, int node) {
  const nas_node *n = node_at(g, node);
  return n ? n->flops : 0;
}

int64_t nas_graph_params(const nas_graph *g) { return g ? g->params : 0; }
int64_t nas_graph_flops(const nas_graph *g) { return g ? g->flops : 0; }
int64_t nas_graph_activations(const nas_graph *g) { return g ? g->acts : 0; }
int nas_graph_layers(const nas_graph *g) { return g ? g->layers : 0; }

/* 4 bytes x (weights + grads + 2 optimizer copies) + 4 bytes x activations x
 * batch x 2 (outputs and their gradients). batch < 1 counts as 1. Saturates. */
int64_t nas_graph_memory_bytes(const nas_graph *g, int batch) {
  if (!g) return 0;
  if (batch < 1) batch = 1;
  int64_t w = nas_mulc(16, g->params);
  int64_t a = nas_mulc(nas_mulc(8, g->acts), batch);
  int64_t t = nas_addc(w, a);
  return t < 0 ? INT64_MAX : t;
}

/* ---- from_desc ----------------------------------------------------------- */

/* Min-heap of desc ids (stable Kahn: the smallest ready id goes first). */
static void heap_push(int *h, int *n, int v) {
  int i = (*n)++;
  while (i > 0 && h[(i - 1) / 2] > v) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = v;
}

static int heap_pop(int *h, int *n) {
  int top = h[0], v = h[--(*n)], i = 0;
  for (;;) {
    int l = 2 * i + 1, m = i;
    if (l < *n && h[l] < v) m = l;
    if (l + 1 < *n && h[l + 1] < (m == i ? v : h[l])) m = l + 1;
    if (m == i) break;
    h[i] = h[m];
    i = m;
  }
  if (*n > 0) h[i] = v;
  return top;
}

/* Reports a cycle among the unsorted nodes (newid[u] < 0, u >= 1). */
static void report_cycle(const nas_node_desc *d, int n, const int *newid, int *pos, int *path,
                         nas_error *err) {
  int u = 1, len = 0;
  while (u <= n && newid[u] >= 0) u++;
  for (int i = 0; i <= n; i++) pos[i] = -1;
  /* walk from consumer to an unsorted input until a node repeats */
  while (pos[u] < 0) {
    pos[u] = len;
    path[len++] = u;
    const nas_node_desc *x = &d[u - 1];
    int next = -1;
    for (int i = 0; i < x->ninputs && next < 0; i++)
      if (x->inputs[i] >= 1 && newid[x->inputs[i]] < 0) next = x->inputs[i];
    u = next;
  }
  /* path[pos[u]..len) is the cycle against data flow; print it forward from its smallest id */
  int start = pos[u], clen = len - start, best = len - 1;
  for (int i = start; i < len; i++)
    if (path[i] < path[best]) best = i;
  char msg[480];
  size_t m = (size_t)snprintf(msg, sizeof msg, "cycle: ");
  for (int k = 0; k <= clen && m < sizeof msg; k++) {
    int idx = start + ((best - start - k) % clen + clen) % clen;
    int v = path[idx];
    m += (size_t)snprintf(msg + m, sizeof msg - m, "%snode %d (%s)", k ? " -> " : "", v, d[v - 1].op);
  }
  nas_seterr(err, NAS_EGRAPH, "%s", msg);
}

nas_graph *nas_graph_from_desc(int ndim, const int64_t *dims, const nas_node_desc *descs, int n,
                               int output, nas_error *err) {
  if (n < 0 || (n > 0 && !descs)) {
    nas_seterr(err, NAS_EINVAL, "bad node list (%d nodes)", n);
    return NULL;
  }
  if (output > n) {
    nas_seterr(err, NAS_EINVAL, "output node %d does not exist (nodes are 0..%d)", output, n);
    return NULL;
  }
  nas_graph *g = nas_graph_new(ndim, dims, err);
  if (!g || n == 0) return g;

  /* checks that need the desc ids, before any renumbering */
  int edges = 0;
  for (int i = 0; i < n; i++) {
    const nas_node_desc *x = &descs[i];
    int op = nas_op_lookup(x->op);
    if (op <= 0) {
      nas_seterr(err, NAS_EINVAL, op == 0 ? "node %d: op 'input' is node 0 only"
                                          : "node %d: unknown op '%s'",
                 i + 1, x->op ? x->op : "(null)");
      goto fail;
    }
    const nas_op_info *oi = &nas_op_table[op];
    if (x->ninputs < oi->min_in || x->ninputs > oi->max_in || !x->inputs) {
      char m[64];
      nas_seterr(err, NAS_EGRAPH, "node %d (%s): %s", i + 1, oi->name,
                 x->ninputs > 0 && !x->inputs ? "inputs is NULL"
                                              : arity_msg(m, sizeof m, oi, x->ninputs));
      goto fail;
    }
    for (int j = 0; j < x->ninputs; j++) {
      if (x->inputs[j] < 0 || x->inputs[j] > n) {
        nas_seterr(err, NAS_EGRAPH, "node %d (%s): input %d is node %d, which does not exist "
                   "(nodes are 0..%d)", i + 1, oi->name, j, x->inputs[j], n);
        goto fail;
      }
      edges++;
    }
  }

  /* one block: indeg, newid, labels (n+1 each), consumer offsets (n+2), consumers, heap */
  size_t words = (size_t)(n + 1) * 3 + (size_t)(n + 2) + (size_t)edges + (size_t)(n + 1);
  int *mem = malloc(words * sizeof(int));
  if (!mem) {
    nas_seterr(err, NAS_ENOMEM, "out of memory sorting %d nodes", n);
    goto fail;
  }
  int *indeg = mem, *newid = indeg + (n + 1), *labels = newid + (n + 1);
  int *off = labels + (n + 1), *cons = off + (n + 2), *heap = cons + edges;
  memset(mem, 0, sizeof(int) * ((size_t)(n + 1) * 3 + (size_t)(n + 2)));
  for (int i = 0; i < n; i++)
    for (int j = 0; j < descs[i].ninputs; j++) {
      int p = descs[i].inputs[j];
      if (p >= 1) {
        indeg[i + 1]++;
        off[p + 1]++;
      }
    }
  for (int p = 0; p <= n; p++) off[p + 1] += off[p];
  for (int i = 0; i < n; i++) { /* fill consumers; labels used as a cursor for now */
    for (int j = 0; j < descs[i].ninputs; j++) {
      int p = descs[i].inputs[j];
      if (p >= 1) cons[off[p] + labels[p]++] = i + 1;
    }
  }
  int nh = 0, k = 1;
  for (int u = 0; u <= n; u++) newid[u] = -1;
  newid[0] = 0;
  labels[0] = 0;
  for (int u = 1; u <= n; u++)
    if (indeg[u] == 0) heap_push(heap, &nh, u);
  while (nh > 0) {
    int u = heap_pop(heap, &nh);
    newid[u] = k;
    labels[k++] = u;
    for (int e = off[u]; e < off[u + 1]; e++)
      if (--indeg[cons[e]] == 0) heap_push(heap, &nh, cons[e]);
  }
  if (k <= n) { /* indeg and cons are free now: reuse them for the walk */
    report_cycle(descs, n, newid, indeg, cons, err);
    free(mem);
    goto fail;
  }
  for (int t = 1; t <= n; t++) {
    const nas_node_desc *x = &descs[labels[t] - 1];
    int in[NAS_MAX_INPUTS];
    for (int j = 0; j < x->ninputs; j++) in[j] = newid[x->inputs[j]];
    if (graph_add(g, x->op, in, x->ninputs, x->attrs, x->nattrs, labels, err) < 0) {
      free(mem);
      goto fail;
    }
  }
  g->output = output < 0 ? -1 : newid[output];
  free(mem);
  nas_clearerr(err);
  return g;
fail:
  nas_graph_free(g);
  return NULL;
}

/* ---- summary ------------------------------------------------------------- */

typedef struct sbuf {
  char *buf;
  size_t cap, len;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) NAS_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *dst = b->len < b->cap ? b->buf + b->len : NULL;
  int r = vsnprintf(dst, dst ? b->cap - b->len : 0, fmt, ap);
  va_end(ap);
  if (r > 0) b->len += (size_t)r;
}

/* Required attributes and those that differ from their default. */
static void node_attrs_str(const nas_node *n, char *s, size_t cap) {
  const nas_op_info *oi = &nas_op_table[n->op];
  size_t m = 0;
  s[0] = '\0';
  for (int i = 0; i < oi->nattrs && m < cap; i++) {
    const nas_attr_spec *sp = &oi->attrs[i];
    const char *sep = m ? " " : "";
    if (sp->kind == NAS_ATTR_KIND_FLOAT) {
      if (n->a[i].f != sp->df)
        m += (size_t)snprintf(s + m, cap - m, "%s%s=%g", sep, sp->key, n->a[i].f);
      continue;
    }
    int64_t v = n->a[i].i;
    int is_default = v == sp->di || (sp->di < 0 && sp->chk == NAS_CHK_POS && v == n->a[0].i);
    if (!sp->required && is_default) continue;
    if (sp->chk == NAS_CHK_PAD && v < 0)
      m += (size_t)snprintf(s + m, cap - m, "%s%s=same", sep, sp->key);
    else
      m += (size_t)snprintf(s + m, cap - m, "%s%s=%lld", sep, sp->key, (ll)v);
  }
}

static void node_inputs_str(const nas_node *n, char *s, size_t cap) {
  size_t m = 0;
  s[0] = '\0';
  for (int i = 0; i < n->nin && m < cap; i++)
    m += (size_t)snprintf(s + m, cap - m, "%s%d", i ? "," : "", n->in[i]);
  if (n->nin == 0) snprintf(s, cap, "-");
}

size_t nas_graph_summary(const nas_graph *g, char *buf, size_t cap) {
  sbuf b = {buf, cap, 0};
  if (cap) buf[0] = '\0';
  if (!g) return 0;
  char attrs[160], ins[96], shape[64];
  int wa = 5, wi = 6;
  for (int i = 0; i < g->n; i++) {
    node_attrs_str(&g->nodes[i], attrs, sizeof attrs);
    node_inputs_str(&g->nodes[i], ins, sizeof ins);
    if ((int)strlen(attrs) > wa) wa = (int)strlen(attrs);
    if ((int)strlen(ins) > wi) wi = (int)strlen(ins);
  }
  int out = nas_graph_output(g);
  sb_printf(&b, "%4s  %-8s  %-*s  %-*s  %-14s  %12s  %14s\n", "id", "op", wa, "attrs", wi,
            "inputs", "output", "params", "MACs");
  for (int i = 0; i < g->n; i++) {
    const nas_node *n = &g->nodes[i];
    node_attrs_str(n, attrs, sizeof attrs);
    node_inputs_str(n, ins, sizeof ins);
    nas_shape_str(shape, sizeof shape, n->ndim, n->dims);
    sb_printf(&b, "%4d  %-8s  %-*s  %-*s  %-14s  %12lld  %14lld%s\n", i, nas_op_table[n->op].name,
              wa, attrs, wi, ins, shape, (ll)n->params, (ll)n->flops,
              i == out && i != g->n - 1 ? "  <- output" : "");
  }
  sb_printf(&b, "total: %lld params, %lld MACs, %lld activations (floats per sample), %d layers\n",
            (ll)g->params, (ll)g->flops, (ll)g->acts, g->layers);
  return b.len;
}
