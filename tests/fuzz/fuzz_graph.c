/* Fuzz target: building graphs through the public C API (nas.h).
 *
 * The input is read as a little program. Its first bytes give the input
 * shape; then each instruction adds a node (an op picked by index from the op
 * table, inputs, and attributes whose keys come from the op's schema through
 * nas_op_attr_*, with int, float and string values including extremes), sets
 * the output, clones the graph, or renders the summary into a short buffer.
 * At the end the graph is rebuilt with nas_graph_from_desc from its own
 * accessors, once in order and once with the node list reversed.
 *
 * Beyond "no crash, no sanitizer report", every call is checked against what
 * nas.h promises: a rejected node returns -1 with a status and a message and
 * leaves the graph unchanged; an accepted one has a positive shape and
 * non-negative costs that add up to the graph's totals; a clone and both
 * rebuilds hash, count and cost the same as the original. A broken promise
 * aborts, so libFuzzer keeps the input. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas.h"

#define MAX_NODES 200

#define CHECK(cond, ...)                                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "fuzz_graph: broken promise: %s\n  ", #cond);     \
      fprintf(stderr, __VA_ARGS__);                                       \
      fputc('\n', stderr);                                                \
      abort();                                                            \
    }                                                                     \
  } while (0)

/* ---- reading the input ---------------------------------------------------- */

typedef struct reader {
  const uint8_t *p;
  size_t n, i;
} reader;

static int more(const reader *r) { return r->i < r->n; }
static uint8_t u8(reader *r) { return r->i < r->n ? r->p[r->i++] : 0; }
static uint64_t u64(reader *r) {
  uint64_t v = 0;
  for (int k = 0; k < 8; k++) v = v << 8 | u8(r);
  return v;
}

/* The number of ops, in one place: counted through nas_op_name, which is NULL
 * past the last op, so it does not depend on how nas.h spells the count. */
static int op_count(void) {
  static int n = -1;
  if (n < 0) {
    n = 0;
    while (n < 1000 && nas_op_name((nas_op)n) != NULL) n++;
  }
  return n;
}

static const int64_t int_extremes[] = {
  0, 1, -1, 2, 3, 5, 7, -2, 255, 256, 65535, 65536, INT32_MAX, (int64_t)INT32_MAX + 1, INT32_MIN,
  UINT32_MAX, (int64_t)1 << 32, (int64_t)1 << 40, (int64_t)1 << 62, INT64_MAX, INT64_MAX - 1, INT64_MIN,
  INT64_MIN + 1, 3037000499LL, 3037000500LL /* about sqrt(INT64_MAX) */};
#define N_INT_EXTREMES (sizeof int_extremes / sizeof int_extremes[0])

/* Mostly small values (valid graphs), sometimes extremes or any 64 bits. */
static int64_t read_int(reader *r) {
  uint8_t m = u8(r);
  switch (m & 7) {
  case 0: case 1: case 2: return u8(r) & 15;
  case 3: return (int8_t)u8(r);
  case 4: case 5: return int_extremes[u8(r) % N_INT_EXTREMES];
  case 6: return (int64_t)u64(r);
  default: return (u8(r) & 63) + 1;
  }
}

static double read_float(reader *r) {
  static const double extremes[] = {0.0, -0.0, 0.5, 1.0, 1e-5, 0.1, 0.999999, 1.0000001, -1.0,
                                    1e300, 1e301, DBL_MAX, DBL_MIN, 4.9e-324, -1e-300, 2.0};
  uint8_t m = u8(r);
  switch (m & 3) {
  case 0: return extremes[u8(r) % (sizeof extremes / sizeof extremes[0])];
  case 1: return u8(r) / 256.0;
  case 2: {
    uint8_t k = u8(r) % 3;
    return k == 0 ? NAN : k == 1 ? INFINITY : -INFINITY;
  }
  default: {
    uint64_t bits = u64(r);
    double f;
    memcpy(&f, &bits, sizeof f);
    return f;
  }
  }
}

/* ---- checks ---------------------------------------------------------------- */

typedef struct snapshot {
  int count, output, layers;
  uint64_t hash;
  int64_t params, flops, acts;
} snapshot;

static snapshot snap(const nas_graph *g) {
  snapshot s = {nas_graph_node_count(g), nas_graph_output(g), nas_graph_layers(g), nas_graph_hash(g),
                nas_graph_params(g), nas_graph_flops(g), nas_graph_activations(g)};
  return s;
}

static int same_snap(const snapshot *a, const snapshot *b) {
  return a->count == b->count && a->output == b->output && a->layers == b->layers && a->hash == b->hash &&
         a->params == b->params && a->flops == b->flops && a->acts == b->acts;
}

/* Per-node facts and the totals they add up to. */
static void check_graph(const nas_graph *g) {
  int n = nas_graph_node_count(g);
  CHECK(n >= 1, "%d nodes", n);
  CHECK(nas_graph_node_op(g, 0) == NAS_OP_INPUT, "node 0 is op %d", (int)nas_graph_node_op(g, 0));
  int64_t params = 0, flops = 0, acts = 0;
  for (int i = 0; i < n; i++) {
    int64_t dims[NAS_MAX_DIMS] = {0, 0, 0};
    int nd = nas_graph_node_shape(g, i, dims);
    CHECK(nd == 1 || nd == 3, "node %d has %d dims", i, nd);
    int64_t numel = 1;
    for (int d = 0; d < nd; d++) {
      CHECK(dims[d] > 0, "node %d: dim %d is %lld", i, d, (long long)dims[d]);
      CHECK(numel <= INT64_MAX / dims[d], "node %d: element count overflows", i);
      numel *= dims[d];
    }
    int64_t p = nas_graph_node_params(g, i), f = nas_graph_node_flops(g, i);
    CHECK(p >= 0 && f >= 0, "node %d: params %lld, MACs %lld", i, (long long)p, (long long)f);
    CHECK(params <= INT64_MAX - p && flops <= INT64_MAX - f && acts <= INT64_MAX - numel, "totals overflow");
    params += p;
    flops += f;
    if (i > 0) acts += numel; /* the input's own floats are not counted */
    int nin = nas_graph_node_ninputs(g, i);
    CHECK(nin >= 0 && nin <= NAS_MAX_INPUTS, "node %d has %d inputs", i, nin);
    for (int k = 0; k < nin; k++) {
      int in = nas_graph_node_input(g, i, k);
      CHECK(in >= 0 && in < i, "node %d: input %d is node %d", i, k, in);
    }
  }
  CHECK(params == nas_graph_params(g), "params %lld, nodes sum to %lld", (long long)nas_graph_params(g),
        (long long)params);
  CHECK(flops == nas_graph_flops(g), "MACs %lld, nodes sum to %lld", (long long)nas_graph_flops(g),
        (long long)flops);
  CHECK(acts == nas_graph_activations(g), "activations %lld, nodes sum to %lld",
        (long long)nas_graph_activations(g), (long long)acts);
  int out = nas_graph_output(g);
  CHECK(out >= 0 && out < n, "output %d of %d nodes", out, n);
  CHECK(nas_graph_memory_bytes(g, 1) >= 0 && nas_graph_memory_bytes(g, INT32_MAX) >= 0, "memory estimate < 0");
}

static void check_summary(const nas_graph *g, size_t cap) {
  size_t need = nas_graph_summary(g, NULL, 0);
  char *buf = malloc(cap + 1);
  if (!buf) return;
  memset(buf, 'x', cap + 1);
  size_t got = nas_graph_summary(g, buf, cap);
  CHECK(got == need, "summary needs %zu, then %zu", need, got);
  if (cap > 0) CHECK(memchr(buf, '\0', cap) != NULL, "summary not terminated within %zu bytes", cap);
  CHECK(buf[cap] == 'x', "summary wrote past its buffer of %zu bytes", cap);
  free(buf);
}

static void check_rejected(const nas_error *err, int id, const snapshot *before, const nas_graph *g,
                           const char *what) {
  CHECK(id == -1, "%s: rejected node got id %d", what, id);
  CHECK(err->status != NAS_OK, "%s: rejected without a status", what);
  CHECK(err->msg[0] != '\0', "%s: rejected without a message (status %s)", what, nas_status_name(err->status));
  CHECK(strlen(err->msg) < sizeof err->msg, "%s: message not terminated", what);
  snapshot after = snap(g);
  CHECK(same_snap(before, &after), "%s: a rejected node changed the graph (%s)", what, err->msg);
}

/* ---- rebuilding through nas_graph_from_desc ------------------------------- */

typedef struct rebuilt {
  nas_node_desc descs[MAX_NODES];
  int inputs[MAX_NODES][NAS_MAX_INPUTS];
  nas_attr attrs[MAX_NODES][16];
} rebuilt;

/* Fills node t's attributes from the graph's resolved values. */
static int node_attrs(const nas_graph *g, int t, nas_attr *a) {
  nas_op op = nas_graph_node_op(g, t);
  int na = nas_op_attr_count(op);
  if (na > 16) na = 16;
  for (int i = 0; i < na; i++) {
    const char *key = nas_op_attr_key(op, i);
    memset(&a[i], 0, sizeof a[i]);
    a[i].key = key;
    if (nas_op_attr_kind(op, i) == NAS_ATTR_KIND_FLOAT) {
      a[i].kind = NAS_ATTR_KIND_FLOAT;
      a[i].f = nas_graph_node_float(g, t, key);
    } else {
      a[i].kind = NAS_ATTR_KIND_INT;
      a[i].i = nas_graph_node_int(g, t, key);
      if (strcmp(key, "padding") == 0 && a[i].i < 0) {
        a[i].kind = NAS_ATTR_KIND_STR;
        a[i].s = "same";
      }
    }
  }
  return na;
}

/* Rebuilds g; reversed: the nodes listed last first (forward references). */
static void check_rebuild(const nas_graph *g, int reversed) {
  static rebuilt rb;
  int n = nas_graph_node_count(g) - 1; /* nodes besides the input */
  if (n < 1 || n > MAX_NODES) return;
  /* position of node t (1..n) in the desc list, as a desc id (1..n) */
  for (int t = 1; t <= n; t++) {
    int pos = reversed ? n - t : t - 1;
    nas_node_desc *d = &rb.descs[pos];
    d->op = nas_op_name(nas_graph_node_op(g, t));
    d->ninputs = nas_graph_node_ninputs(g, t);
    for (int k = 0; k < d->ninputs; k++) {
      int in = nas_graph_node_input(g, t, k);
      rb.inputs[pos][k] = in == 0 ? 0 : (reversed ? n - in + 1 : in);
    }
    d->inputs = rb.inputs[pos];
    d->nattrs = node_attrs(g, t, rb.attrs[pos]);
    d->attrs = rb.attrs[pos];
  }
  int out = nas_graph_output(g);
  int dout = out == 0 ? 0 : (reversed ? n - out + 1 : out);
  int64_t dims[NAS_MAX_DIMS];
  int nd = nas_graph_node_shape(g, 0, dims);
  nas_error err;
  nas_graph *h = nas_graph_from_desc(nd, dims, rb.descs, n, dout, &err);
  CHECK(h != NULL, "rebuilding a valid graph (%s) failed: %s", reversed ? "reversed" : "in order", err.msg);
  check_graph(h);
  snapshot a = snap(g), b = snap(h);
  CHECK(a.hash == b.hash, "rebuilt graph (%s) hashes %016llx, the original %016llx", reversed ? "reversed" : "in order",
        (unsigned long long)b.hash, (unsigned long long)a.hash);
  CHECK(a.count == b.count && a.params == b.params && a.flops == b.flops && a.acts == b.acts && a.layers == b.layers,
        "rebuilt graph (%s) costs differ", reversed ? "reversed" : "in order");
  if (!reversed) CHECK(same_snap(&a, &b), "rebuilt graph in order differs");
  nas_graph_free(h);
}

/* ---- one input --------------------------------------------------------------- */

static void add_node(nas_graph *g, reader *r) {
  int nops = op_count();
  char strbuf[4][12];
  uint8_t sel = u8(r);
  const char *opname;
  int op = u8(r) % nops;
  switch (sel & 15) {
  case 0: opname = "no_such_op"; break;
  case 1: opname = NULL; break;
  case 2: opname = "input"; break;
  default: opname = nas_op_name((nas_op)op);
  }
  int count = nas_graph_node_count(g);
  /* inputs: 0 = the last node, else an explicit list */
  int inputs[NAS_MAX_INPUTS + 2];
  int ninputs = 0;
  uint8_t im = u8(r);
  if (im & 1) {
    ninputs = (im >> 1) % (NAS_MAX_INPUTS + 3) - 1; /* -1 .. 17 */
    for (int i = 0; i < ninputs && i < NAS_MAX_INPUTS + 2; i++) {
      uint8_t b = u8(r);
      inputs[i] = b < 240 ? count - 1 - (int)(b % (unsigned)count) : (int)int_extremes[b % N_INT_EXTREMES];
    }
    if (ninputs > NAS_MAX_INPUTS + 2) ninputs = NAS_MAX_INPUTS + 2;
  }
  /* attributes */
  nas_attr attrs[12];
  int nattrs = u8(r) % 8;
  int nkeys = nas_op_attr_count((nas_op)op);
  for (int j = 0; j < nattrs; j++) {
    nas_attr *a = &attrs[j];
    memset(a, 0, sizeof *a);
    uint8_t km = u8(r);
    int k = nkeys ? (km >> 2) % nkeys : 0;
    switch (km & 3) {
    default: a->key = nkeys ? nas_op_attr_key((nas_op)op, k) : "k"; break;
    case 2: a->key = nas_op_attr_key((nas_op)((km >> 2) % nops), 0); break; /* another op's key */
    case 3: a->key = (km & 4) ? "unknown_key" : NULL; break;
    }
    if (a->key == NULL && (km & 3) != 3) a->key = "out";
    uint8_t vm = u8(r);
    nas_attr_kind kind = nkeys ? nas_op_attr_kind((nas_op)op, k) : NAS_ATTR_KIND_INT;
    if ((vm & 7) == 0) kind = (nas_attr_kind)(vm >> 3 & 3); /* 0: not a kind */
    if ((vm & 7) == 1 && a->key && strcmp(a->key, "padding") == 0) kind = NAS_ATTR_KIND_STR;
    a->kind = kind;
    switch (kind) {
    case NAS_ATTR_KIND_INT: a->i = read_int(r); break;
    case NAS_ATTR_KIND_FLOAT: a->f = read_float(r); break;
    case NAS_ATTR_KIND_STR: {
      uint8_t s = u8(r);
      static const char *words[] = {"same", "valid", "", "SAME", "same ", "valid\x01"};
      if (s < 200) a->s = words[s % 6];
      else if (s < 250) {
        char *b = strbuf[j & 3];
        size_t len = u8(r) % 11;
        for (size_t c = 0; c < len; c++) b[c] = (char)u8(r);
        b[len] = '\0';
        a->s = b;
      } else a->s = NULL;
      break;
    }
    default: a->i = read_int(r); break;
    }
  }
  const int *inp = inputs;
  if ((im & 0xf1) == 0xf1) inp = NULL; /* an explicit count with no list */
  const nas_attr *atp = attrs;
  if (nattrs == 7 && (sel & 0x10)) atp = NULL;
  int bad_count = (sel & 0xe0) == 0xe0;
  if (bad_count) nattrs = -1 - (sel & 1);

  snapshot before = snap(g);
  nas_error err;
  memset(&err, 0x55, sizeof err);
  int id;
  int no_err = (sel & 0xf0) == 0x30;
  if (no_err) {
    id = nas_graph_add(g, opname, inp, ninputs, atp, nattrs, NULL); /* err may be NULL */
    if (id < 0) {
      snapshot after = snap(g);
      CHECK(same_snap(&before, &after), "a rejected node (no error struct) changed the graph");
      return;
    }
  } else {
    id = nas_graph_add(g, opname, inp, ninputs, atp, nattrs, &err);
  }
  if (id < 0) {
    check_rejected(&err, id, &before, g, opname ? opname : "(null)");
    return;
  }
  if (!no_err && (err.status != NAS_OK || err.msg[0] != '\0')) {
    fprintf(stderr, "fuzz_graph: accepted node %d with status %d '%.80s'\n", id, (int)err.status, err.msg);
    abort();
  }
  CHECK(id == before.count, "new node got id %d, expected %d", id, before.count);
  CHECK(nas_graph_node_count(g) == before.count + 1, "node count %d after adding to %d",
        nas_graph_node_count(g), before.count);
  CHECK(opname && nas_graph_node_op(g, id) == (nas_op)nas_op_lookup(opname), "node %d has the wrong op", id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader rd = {data, size, 0}, *r = &rd;
  int64_t dims[NAS_MAX_DIMS];
  uint8_t shape = u8(r);
  int ndim = (shape & 3) == 0 ? 1 : 3;
  if ((shape & 0x3c) == 0x3c) ndim = (int)((shape >> 6) * 2); /* 0, 2, 4, 6: rejected */
  for (int i = 0; i < 3; i++) {
    uint8_t b = u8(r);
    dims[i] = (shape & 0x80) && i == (b & 3) % 3 ? read_int(r) : (int64_t)(b % 40) + 1;
  }
  nas_error err;
  nas_graph *g = nas_graph_new(ndim, dims, &err);
  if (!g) {
    CHECK(err.status != NAS_OK && err.msg[0], "nas_graph_new failed without a status and message");
    return 0;
  }
  check_graph(g);
  while (more(r) && nas_graph_node_count(g) <= MAX_NODES) {
    uint8_t cmd = u8(r);
    switch (cmd % 16) {
    default: add_node(g, r); break;
    case 12: { /* output */
      int count = nas_graph_node_count(g);
      uint8_t b = u8(r);
      int node = b < 250 ? (int)(b % (unsigned)(count + 1)) : (int)int_extremes[b % N_INT_EXTREMES];
      snapshot before = snap(g);
      nas_status st = nas_graph_set_output(g, node, &err);
      if (node >= 0 && node < count) {
        CHECK(st == NAS_OK && nas_graph_output(g) == node, "set_output(%d) of %d nodes: %s", node, count, err.msg);
      } else {
        CHECK(st != NAS_OK && err.status == st && err.msg[0], "set_output(%d) of %d nodes accepted", node, count);
        snapshot after = snap(g);
        CHECK(same_snap(&before, &after), "rejected set_output changed the graph");
      }
      break;
    }
    case 13: { /* clone */
      nas_graph *c = nas_graph_clone(g);
      CHECK(c != NULL, "clone failed");
      snapshot a = snap(g), b = snap(c);
      CHECK(same_snap(&a, &b), "clone differs");
      nas_graph_free(c);
      break;
    }
    case 14: check_summary(g, u8(r)); break;
    case 15: check_graph(g); break;
    }
  }
  check_graph(g);
  check_summary(g, 0);
  check_summary(g, 100);
  (void)nas_graph_memory_bytes(g, (int)read_int(r));
  check_rebuild(g, 0);
  check_rebuild(g, 1);
  if (getenv("NAS_FUZZ_VERBOSE")) { /* the graph an input builds, to write seeds */
    char buf[8192];
    nas_graph_summary(g, buf, sizeof buf);
    fputs(buf, stderr);
  }
  nas_graph_free(g);
  return 0;
}
