/* Graph IR: shape rules, params/MACs, attribute checks, rejections, hash,
 * from_desc (sort, renumbering, cycles), clone, summary, build speed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "graph_impl.h" /* nas_op_attr_index */
#include "nas.h"

#define NA(...) (sizeof((nas_attr[]){__VA_ARGS__}) / sizeof(nas_attr))
/* attrs, nattrs for nas_graph_add */
#define AT(...) (const nas_attr[]){__VA_ARGS__}, (int)NA(__VA_ARGS__)
#define NOAT NULL, 0
#define IN(...) (const int[]){__VA_ARGS__}, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))
#define LAST NULL, 0
#define I(k, v) NAS_ATTR_INT(k, v)
#define F(k, v) NAS_ATTR_FLOAT(k, v)
#define S(k, v) NAS_ATTR_STR(k, v)

static nas_error err;

static nas_graph *img(int64_t c, int64_t h, int64_t w) {
  int64_t d[3] = {c, h, w};
  nas_graph *g = nas_graph_new(3, d, &err);
  if (!g) {
    fprintf(stderr, "nas_graph_new: %s\n", err.msg);
    exit(2);
  }
  return g;
}

static nas_graph *vec(int64_t f) {
  int64_t d[1] = {f};
  return nas_graph_new(1, d, &err);
}

/* Adds and checks success; returns the id. */
#define ADD(g, op, ...) add_ok(__LINE__, g, op, __VA_ARGS__)
static int add_ok(int line, nas_graph *g, const char *op, const int *in, int nin,
                  const nas_attr *a, int na) {
  int id = nas_graph_add(g, op, in, nin, a, na, &err);
  if (id < 0) fprintf(stderr, "line %d: add %s failed: %s\n", line, op, err.msg);
  CHECK(id >= 0);
  return id;
}

/* Checks that an add fails with status st, a message containing s1 and s2,
 * and leaves the graph unchanged. */
#define REJECT(g, op, ...) reject(__LINE__, g, op, __VA_ARGS__)
static void reject(int line, nas_graph *g, const char *op, const int *in, int nin,
                   const nas_attr *a, int na, nas_status st, const char *s1, const char *s2) {
  int before = nas_graph_node_count(g);
  uint64_t h = nas_graph_hash(g);
  int64_t p = nas_graph_params(g), fl = nas_graph_flops(g);
  int failed = check_failed;
  int id = nas_graph_add(g, op, in, nin, a, na, &err);
  CHECK_EQ(id, -1);
  CHECK_EQ(err.status, st);
  CHECK_HAS(err.msg, s1);
  if (s2) CHECK_HAS(err.msg, s2);
  CHECK_EQ(nas_graph_node_count(g), before);
  CHECK(nas_graph_hash(g) == h);
  CHECK_EQ(nas_graph_params(g), p);
  CHECK_EQ(nas_graph_flops(g), fl);
  if (check_failed != failed) fprintf(stderr, "  (REJECT at line %d: msg \"%s\")\n", line, err.msg);
}

static void check_shape(int line, const nas_graph *g, int node, int nd, int64_t a, int64_t b,
                        int64_t c) {
  int64_t d[3] = {0, 0, 0};
  int got = nas_graph_node_shape(g, node, d);
  int ok = got == nd && d[0] == a && (nd == 1 || (d[1] == b && d[2] == c));
  check_count++;
  if (!ok) {
    check_failed++;
    fprintf(stderr, "line %d: node %d shape is %d:%lldx%lldx%lld, want %d:%lldx%lldx%lld\n", line,
            node, got, (long long)d[0], (long long)d[1], (long long)d[2], nd, (long long)a,
            (long long)b, (long long)c);
  }
}
#define SHAPE3(g, n, a, b, c) check_shape(__LINE__, g, n, 3, a, b, c)
#define SHAPE1(g, n, a) check_shape(__LINE__, g, n, 1, a, 0, 0)

/* ------------------------------------------------------------------------ */

static void test_op_table(void) {
  CHECK_EQ(nas_op_lookup("conv"), NAS_OP_CONV);
  CHECK_EQ(nas_op_lookup("mul"), NAS_OP_MUL);
  CHECK_EQ(nas_op_lookup("convv"), -1);
  CHECK_EQ(nas_op_lookup(NULL), -1);
  for (int op = 0; op < nas_op_count(); op++)
    CHECK_EQ(nas_op_lookup(nas_op_name((nas_op)op)), op);
  CHECK(nas_op_name((nas_op)nas_op_count()) == NULL);
  CHECK_EQ(nas_op_attr_count(NAS_OP_CONV), 7);
  CHECK(strcmp(nas_op_attr_key(NAS_OP_CONV, 3), "padding") == 0);
  CHECK_EQ(nas_op_attr_kind(NAS_OP_CONV, 3), NAS_ATTR_KIND_INT);
  CHECK_EQ(nas_op_attr_default_int(NAS_OP_CONV, 3), -1);
  CHECK_EQ(nas_op_attr_required(NAS_OP_CONV, 1), 1);
  CHECK_EQ(nas_op_attr_required(NAS_OP_CONV, 2), 0);
  CHECK_EQ(nas_op_attr_kind(NAS_OP_BN, 1), NAS_ATTR_KIND_FLOAT);
  CHECK(nas_op_attr_default_float(NAS_OP_BN, 1) == 1e-5);
  CHECK(nas_op_attr_default_float(NAS_OP_DROPOUT, 0) == 0.5);
  CHECK_EQ(nas_op_attr_default_int(NAS_OP_DIL_CONV, 4), 2);
  CHECK_EQ(nas_op_min_inputs(NAS_OP_ADD), 2);
  CHECK_EQ(nas_op_max_inputs(NAS_OP_ADD), NAS_MAX_INPUTS);
  CHECK_EQ(nas_op_max_inputs(NAS_OP_MUL), 2);
  CHECK_EQ(nas_op_min_inputs(NAS_OP_RELU), 1);
  CHECK(nas_op_attr_key(NAS_OP_RELU, 0) == NULL);
  CHECK(nas_op_attr_key((nas_op)nas_op_count(), 0) == NULL);
  CHECK_EQ(nas_op_attr_count((nas_op)-1), 0);
  CHECK_EQ(nas_op_attr_default_int(NAS_OP_MAXPOOL, 1), -1); /* stride = k */
  CHECK_EQ(nas_op_attr_index(NAS_OP_CONV, "groups"), 5);
}

static void test_conv(void) {
  nas_graph *g = img(1, 28, 28);
  int c = ADD(g, "conv", LAST, AT(I("out", 32), I("k", 3)));
  CHECK_EQ(c, 1);
  SHAPE3(g, c, 32, 28, 28);
  CHECK_EQ(nas_graph_node_params(g, c), 32 * 9 + 32);
  CHECK_EQ(nas_graph_node_flops(g, c), 225792);
  CHECK_EQ(nas_graph_node_int(g, c, "padding"), -1);
  CHECK_EQ(nas_graph_node_int(g, c, "stride"), 1);
  CHECK_EQ(nas_graph_node_int(g, c, "bias"), 1);
  CHECK_EQ(nas_graph_node_int(g, c, "nope"), 0);
  /* stride 2, valid: (28-3)/2+1 = 13 */
  int v = ADD(g, "conv", IN(0), AT(I("out", 8), I("k", 3), I("stride", 2), S("padding", "valid")));
  SHAPE3(g, v, 8, 13, 13);
  CHECK_EQ(nas_graph_node_flops(g, v), 13 * 13 * 8 * 9);
  /* padding 1, stride 2: (28+2-3)/2+1 = 14 */
  int p = ADD(g, "conv", IN(0), AT(I("out", 8), I("k", 3), I("stride", 2), I("padding", 1)));
  SHAPE3(g, p, 8, 14, 14);
  /* dilation 2, same: p=2, 28 */
  int d = ADD(g, "conv", IN(0), AT(I("out", 4), I("k", 3), I("dilation", 2)));
  SHAPE3(g, d, 4, 28, 28);
  CHECK_EQ(nas_graph_node_params(g, d), 4 * 9 + 4);
  /* dilation 2, valid k3: 28 - 4 = 24 */
  int dv = ADD(g, "conv", IN(0), AT(I("out", 4), I("k", 3), I("dilation", 2), I("padding", 0)));
  SHAPE3(g, dv, 4, 24, 24);
  /* groups: 4 -> 8, k3, groups 2: 8*2*9 + 8 = 152; no bias: 144 */
  nas_graph *h = img(4, 10, 6);
  int gr = ADD(h, "conv", LAST, AT(I("out", 8), I("k", 3), I("groups", 2)));
  SHAPE3(h, gr, 8, 10, 6);
  CHECK_EQ(nas_graph_node_params(h, gr), 152);
  CHECK_EQ(nas_graph_node_flops(h, gr), 10 * 6 * 8 * 2 * 9);
  int nb = ADD(h, "conv", IN(0), AT(I("out", 8), I("k", 1), I("bias", 0)));
  CHECK_EQ(nas_graph_node_params(h, nb), 32);
  CHECK_EQ(nas_graph_node_flops(h, nb), 60 * 32);
  /* non-square: k5 valid on 10x6: 6x2 */
  int ns = ADD(h, "conv", IN(0), AT(I("out", 2), I("k", 5), S("padding", "valid")));
  SHAPE3(h, ns, 2, 6, 2);
  /* stride 2 same on odd size: ceil(7/2) = 4 */
  nas_graph *o = img(3, 7, 7);
  int s2 = ADD(o, "conv", LAST, AT(I("out", 5), I("k", 3), I("stride", 2)));
  SHAPE3(o, s2, 5, 4, 4);
  CHECK_EQ(nas_graph_layers(g), 5);
  nas_graph_free(g);
  nas_graph_free(h);
  nas_graph_free(o);
}

static void test_sep_dil(void) {
  nas_graph *g = img(16, 8, 8);
  int s = ADD(g, "sep_conv", LAST, AT(I("out", 32), I("k", 3)));
  SHAPE3(g, s, 32, 8, 8);
  CHECK_EQ(nas_graph_node_params(g, s), 16 * 9 + 16 * 32);
  CHECK_EQ(nas_graph_node_flops(g, s), 64 * 16 * 9 + 64 * 16 * 32);
  int s2 = ADD(g, "sep_conv", IN(0), AT(I("out", 32), I("k", 3), I("stride", 2), I("bias", 1)));
  SHAPE3(g, s2, 32, 4, 4);
  CHECK_EQ(nas_graph_node_params(g, s2), 16 * 9 + 16 * 32 + 32);
  CHECK_EQ(nas_graph_node_flops(g, s2), 16 * 16 * 9 + 16 * 16 * 32);
  int s5 = ADD(g, "sep_conv", IN(0), AT(I("out", 8), I("k", 5)));
  CHECK_EQ(nas_graph_node_params(g, s5), 16 * 25 + 16 * 8);
  int d = ADD(g, "dil_conv", IN(0), AT(I("out", 32), I("k", 3)));
  CHECK_EQ(nas_graph_node_int(g, d, "dilation"), 2);
  SHAPE3(g, d, 32, 8, 8);
  CHECK_EQ(nas_graph_node_params(g, d), 16 * 9 + 16 * 32);
  CHECK_EQ(nas_graph_node_flops(g, d), 64 * 16 * 9 + 64 * 16 * 32);
  /* dil_conv k5 dilation 2 spans 9 > 8 */
  REJECT(g, "dil_conv", IN(0), AT(I("out", 32), I("k", 5)), NAS_EGRAPH, "node 5 (dil_conv)",
         "larger than its 8x8 input");
  int dv = ADD(g, "dil_conv", IN(0), AT(I("out", 4), I("k", 3), I("padding", 0), I("dilation", 3)));
  SHAPE3(g, dv, 4, 2, 2); /* 8 - 6 */
  CHECK_EQ(nas_graph_layers(g), 5);
  nas_graph_free(g);
}

static void test_simple_ops(void) {
  nas_graph *g = img(32, 28, 28);
  int bn = ADD(g, "bn", LAST, NOAT);
  SHAPE3(g, bn, 32, 28, 28);
  CHECK_EQ(nas_graph_node_params(g, bn), 64);
  CHECK_EQ(nas_graph_node_flops(g, bn), 0);
  CHECK(nas_graph_node_float(g, bn, "eps") == 1e-5);
  CHECK(nas_graph_node_float(g, bn, "momentum") == 0.1);
  int bn0 = ADD(g, "bn", LAST, AT(I("affine", 0), F("eps", 1e-3), I("momentum", 1)));
  CHECK_EQ(nas_graph_node_params(g, bn0), 0);
  CHECK(nas_graph_node_float(g, bn0, "eps") == 1e-3);
  CHECK(nas_graph_node_float(g, bn0, "momentum") == 1.0); /* INT accepted for a FLOAT key */
  const char *acts[] = {"relu", "relu6", "sigmoid", "hswish", "identity", "dropout"};
  for (int i = 0; i < 6; i++) {
    int a = ADD(g, acts[i], LAST, NOAT);
    SHAPE3(g, a, 32, 28, 28);
    CHECK_EQ(nas_graph_node_params(g, a) + nas_graph_node_flops(g, a), 0);
  }
  int dr = ADD(g, "dropout", LAST, AT(F("p", 0.2)));
  CHECK(nas_graph_node_float(g, dr, "p") == 0.2);
  int mp = ADD(g, "maxpool", LAST, AT(I("k", 2)));
  SHAPE3(g, mp, 32, 14, 14);
  CHECK_EQ(nas_graph_node_int(g, mp, "stride"), 2); /* resolved to k */
  CHECK_EQ(nas_graph_node_params(g, mp) + nas_graph_node_flops(g, mp), 0);
  int m3 = ADD(g, "maxpool", IN(bn), AT(I("k", 3)));
  SHAPE3(g, m3, 32, 9, 9); /* (28-3)/3+1 */
  int ms = ADD(g, "maxpool", IN(bn), AT(I("k", 3), I("stride", 1), S("padding", "same")));
  SHAPE3(g, ms, 32, 28, 28);
  CHECK_EQ(nas_graph_node_int(g, ms, "padding"), -1);
  int ap = ADD(g, "avgpool", IN(bn), AT(I("k", 2), I("padding", 1)));
  SHAPE3(g, ap, 32, 15, 15); /* (28+2-2)/2+1 */
  int zs = ADD(g, "zero", IN(mp), AT(I("stride", 2)));
  SHAPE3(g, zs, 32, 7, 7);
  int z3 = ADD(g, "zero", IN(m3), AT(I("stride", 2)));
  SHAPE3(g, z3, 32, 5, 5); /* ceil(9/2) */
  int gap = ADD(g, "gap", IN(z3), NOAT);
  SHAPE1(g, gap, 32);
  int fl = ADD(g, "flatten", IN(zs), NOAT);
  SHAPE1(g, fl, 32 * 7 * 7);
  int fl2 = ADD(g, "flatten", LAST, NOAT); /* {F}: passes through */
  SHAPE1(g, fl2, 32 * 7 * 7);
  int ln = ADD(g, "linear", LAST, AT(I("out", 10)));
  SHAPE1(g, ln, 10);
  CHECK_EQ(nas_graph_node_params(g, ln), 1568 * 10 + 10);
  CHECK_EQ(nas_graph_node_flops(g, ln), 15680);
  int ln0 = ADD(g, "linear", IN(gap), AT(I("out", 10), I("bias", 0)));
  CHECK_EQ(nas_graph_node_params(g, ln0), 320);
  int bnf = ADD(g, "bn", LAST, NOAT);
  SHAPE1(g, bnf, 10);
  CHECK_EQ(nas_graph_node_params(g, bnf), 20);
  int zf = ADD(g, "zero", LAST, NOAT);
  SHAPE1(g, zf, 10);
  nas_graph_free(g);
}

static void test_vector_input(void) {
  nas_graph *g = vec(20);
  CHECK(g != NULL);
  int l = ADD(g, "linear", LAST, AT(I("out", 5)));
  SHAPE1(g, l, 5);
  CHECK_EQ(nas_graph_node_params(g, l), 105);
  CHECK_EQ(nas_graph_node_flops(g, l), 100);
  int f = ADD(g, "flatten", IN(0), NOAT);
  SHAPE1(g, f, 20);
  REJECT(g, "conv", IN(0), AT(I("out", 2), I("k", 1)), NAS_EGRAPH, "input is 20 (F)",
         "conv needs {C,H,W}");
  CHECK_EQ(nas_graph_activations(g), 25);
  nas_graph_free(g);
}

static void test_merge(void) {
  nas_graph *g = img(8, 8, 8);
  int a = ADD(g, "conv", IN(0), AT(I("out", 16), I("k", 3)));
  int b = ADD(g, "conv", IN(0), AT(I("out", 16), I("k", 1)));
  int c = ADD(g, "conv", IN(0), AT(I("out", 4), I("k", 1)));
  int s = ADD(g, "add", IN(a, b), NOAT);
  SHAPE3(g, s, 16, 8, 8);
  CHECK_EQ(nas_graph_node_ninputs(g, s), 2);
  CHECK_EQ(nas_graph_node_input(g, s, 1), b);
  CHECK_EQ(nas_graph_node_input(g, s, 2), -1);
  int s3 = ADD(g, "add", IN(a, b, s), NOAT);
  SHAPE3(g, s3, 16, 8, 8);
  int cat = ADD(g, "concat", IN(a, c, b), NOAT);
  SHAPE3(g, cat, 36, 8, 8);
  int gp = ADD(g, "gap", IN(c), NOAT);
  int m = ADD(g, "mul", IN(c, gp), NOAT); /* squeeze-excite broadcast */
  SHAPE3(g, m, 4, 8, 8);
  int m2 = ADD(g, "mul", IN(a, b), NOAT);
  SHAPE3(g, m2, 16, 8, 8);
  int gp2 = ADD(g, "gap", IN(a), NOAT);
  int cf = ADD(g, "concat", IN(gp, gp2), NOAT);
  SHAPE1(g, cf, 20);
  int mf = ADD(g, "mul", IN(gp, gp), NOAT);
  SHAPE1(g, mf, 4);

  /* rejections on merges */
  REJECT(g, "add", IN(a, c), NOAT, NAS_EGRAPH, "node 13 (add)", "16x8x8");
  REJECT(g, "add", IN(a, c), NOAT, NAS_EGRAPH, "4x8x8", "add needs equal shapes");
  REJECT(g, "add", LAST, NOAT, NAS_EGRAPH, "node 13 (add): needs at least 2 inputs, got 0", NULL);
  REJECT(g, "add", IN(a), NOAT, NAS_EGRAPH, "needs at least 2 inputs, got 1", NULL);
  int many[17];
  for (int i = 0; i < 17; i++) many[i] = a;
  REJECT(g, "add", many, 17, NOAT, NAS_EGRAPH, "takes at most 16 inputs, got 17", NULL);
  CHECK(nas_graph_add(g, "add", many, 16, NULL, 0, &err) == 13);
  REJECT(g, "concat", IN(a, gp), NOAT, NAS_EGRAPH, "node 14 (concat)", "same rank");
  int p = ADD(g, "maxpool", IN(a), AT(I("k", 2)));
  REJECT(g, "concat", IN(a, p), NOAT, NAS_EGRAPH, "concat needs equal H,W", "16x4x4");
  REJECT(g, "mul", IN(a, b, c), NOAT, NAS_EGRAPH, "node 15 (mul): needs exactly 2 inputs, got 3",
         NULL);
  REJECT(g, "mul", LAST, NOAT, NAS_EGRAPH, "needs exactly 2 inputs, got 0", NULL);
  REJECT(g, "mul", IN(a, c), NOAT, NAS_EGRAPH, "mul needs b of a's shape", "C=16");
  REJECT(g, "mul", IN(a, gp), NOAT, NAS_EGRAPH, "input 1 (node 7) is 4", "C=16");
  REJECT(g, "mul", IN(gp, a), NOAT, NAS_EGRAPH, "node 15 (mul)", "b of a's shape");
  nas_graph_free(g);
}

/* mixed: one supernet decision joining its candidate ops (equal shapes). */
static void test_mixed(void) {
  nas_graph *g = img(8, 8, 8);
  CHECK_EQ(nas_op_lookup("mixed"), NAS_OP_MIXED);
  CHECK_EQ(nas_op_min_inputs(NAS_OP_MIXED), 1);
  CHECK_EQ(nas_op_max_inputs(NAS_OP_MIXED), NAS_MAX_INPUTS);
  CHECK_EQ(nas_op_attr_count(NAS_OP_MIXED), 1);
  CHECK_EQ(nas_op_attr_required(NAS_OP_MIXED, 0), 1);
  int a = ADD(g, "conv", IN(0), AT(I("out", 8), I("k", 3)));
  int b = ADD(g, "avgpool", IN(0), AT(I("k", 3), I("stride", 1), I("padding", 1)));
  int z = ADD(g, "zero", IN(a), NOAT);
  int m = ADD(g, "mixed", IN(0, a, b, z), AT(I("decision", 2)));
  SHAPE3(g, m, 8, 8, 8);
  CHECK_EQ(nas_graph_node_int(g, m, "decision"), 2);
  CHECK_EQ(nas_graph_node_params(g, m), 0);
  CHECK_EQ(nas_graph_node_flops(g, m), 0);
  int m1 = ADD(g, "mixed", IN(a), AT(I("decision", 0)));
  SHAPE3(g, m1, 8, 8, 8);
  /* params and MACs: the branches' own */
  CHECK_EQ(nas_graph_params(g), nas_graph_node_params(g, a));
  /* the decision is hashed; the inputs' order too (not commutative) */
  nas_graph *h = nas_graph_clone(g);
  nas_graph_set_output(g, m, &err);
  ADD(h, "mixed", IN(0, a, b, z), AT(I("decision", 3)));
  CHECK(nas_graph_hash(g) != nas_graph_hash(h));
  nas_graph *k = nas_graph_clone(h);
  nas_graph_set_output(h, m, &err);
  CHECK(nas_graph_hash(g) == nas_graph_hash(h));
  ADD(k, "mixed", IN(a, 0, b, z), AT(I("decision", 2)));
  CHECK(nas_graph_hash(g) != nas_graph_hash(k));
  /* rejections */
  int gp = ADD(g, "gap", IN(a), NOAT);
  int c4 = ADD(g, "conv", IN(0), AT(I("out", 4), I("k", 1)));
  REJECT(g, "mixed", IN(a, c4), AT(I("decision", 0)), NAS_EGRAPH, "mixed needs equal shapes", "4x8x8");
  REJECT(g, "mixed", IN(a, gp), AT(I("decision", 0)), NAS_EGRAPH, "(mixed)", "8x8x8");
  REJECT(g, "mixed", IN(a, b), NOAT, NAS_EINVAL, "decision", NULL);
  REJECT(g, "mixed", IN(a, b), AT(I("decision", -1)), NAS_EINVAL, "'decision' must be >= 0", NULL);
  int many[17];
  for (int i = 0; i < 17; i++) many[i] = a;
  REJECT(g, "mixed", many, 17, AT(I("decision", 0)), NAS_EGRAPH, "takes at most 16 inputs, got 17", NULL);
  nas_graph_free(g);
  nas_graph_free(h);
  nas_graph_free(k);
}

static void test_rejections(void) {
  nas_graph *g = img(3, 9, 9);
  ADD(g, "conv", LAST, AT(I("out", 8), I("k", 3)));
  REJECT(g, "convv", LAST, NOAT, NAS_EINVAL, "unknown op 'convv'", "node 2");
  REJECT(g, NULL, LAST, NOAT, NAS_EINVAL, "unknown op", NULL);
  REJECT(g, "input", LAST, NOAT, NAS_EINVAL, "node 0 only", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("kernel", 3)), NAS_EINVAL,
         "node 2 (conv): unknown attribute 'kernel'; conv takes out, k, stride, padding, "
         "dilation, groups, bias", NULL);
  REJECT(g, "relu", LAST, AT(I("inplace", 1)), NAS_EINVAL, "unknown attribute 'inplace'",
         "relu takes no attributes");
  REJECT(g, "conv", LAST, AT(I("out", 8)), NAS_EINVAL, "node 2 (conv)",
         "missing required attribute 'k'");
  REJECT(g, "linear", LAST, NOAT, NAS_EINVAL, "missing required attribute 'out'", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), F("k", 3.0)), NAS_EINVAL, "'k' must be an int",
         "got a float");
  REJECT(g, "conv", LAST, AT(I("out", 8), S("k", "3")), NAS_EINVAL, "'k' must be an int",
         "got a string");
  REJECT(g, "dropout", LAST, AT(S("p", "x")), NAS_EINVAL, "'p' must be a float", NULL);
  /* booleans: flags take them, other ints do not */
  {
    nas_attr outb[] = {NAS_ATTR_BOOL("out", 1), NAS_ATTR_INT("k", 3)};
    nas_error e;
    nas_graph *gb = img(3, 9, 9);
    CHECK(nas_graph_add(gb, "conv", NULL, 0, outb, 2, &e) < 0);
    CHECK(strstr(e.msg, "attribute 'out' must be an int, got a boolean (true)") != NULL);
    nas_attr biasb[] = {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3), NAS_ATTR_BOOL("bias", 0)};
    int id = nas_graph_add(gb, "conv", NULL, 0, biasb, 3, &e);
    CHECK(id > 0);
    if (id > 0) CHECK_EQ(nas_graph_node_int(gb, id, "bias"), 0);
    nas_graph_free(gb);
  }
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), I("k", 3)), NAS_EINVAL, "'k' given twice",
         NULL);
  REJECT(g, "conv", LAST, AT(I("out", 0), I("k", 3)), NAS_EINVAL, "'out' must be > 0", "got 0");
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", -1)), NAS_EINVAL, "'k' must be > 0", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), I("stride", 0)), NAS_EINVAL,
         "'stride' must be > 0", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), I("dilation", 0)), NAS_EINVAL,
         "'dilation' must be > 0", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), I("groups", 0)), NAS_EINVAL,
         "'groups' must be > 0", NULL);
  REJECT(g, "maxpool", LAST, AT(I("k", 0)), NAS_EINVAL, "'k' must be > 0", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), I("bias", 2)), NAS_EINVAL,
         "'bias' must be 0 or 1", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), S("padding", "full")), NAS_EINVAL,
         "'padding' must be \"same\", \"valid\" or an int", "'full'");
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), I("padding", -2)), NAS_EINVAL,
         "'padding' must be >= 0", NULL);
  REJECT(g, "dropout", LAST, AT(F("p", 1.0)), NAS_EINVAL, "'p' must be in [0, 1)", NULL);
  REJECT(g, "dropout", LAST, AT(F("p", -0.1)), NAS_EINVAL, "'p' must be in [0, 1)", NULL);
  REJECT(g, "bn", LAST, AT(F("eps", 0.0)), NAS_EINVAL, "'eps' must be > 0", NULL);
  /* kernel larger than input (9x9 input) */
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 11)), NAS_EGRAPH,
         "node 2 (conv): kernel 11x11 is larger than its 9x9 input", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 3), I("dilation", 5)), NAS_EGRAPH,
         "dilation 5 spans 11x11", "9x9 input");
  REJECT(g, "maxpool", LAST, AT(I("k", 10)), NAS_EGRAPH, "node 2 (maxpool): kernel 10x10", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 4)), NAS_EGRAPH,
         "padding 'same' needs an odd kernel, got k=4; give padding=N", NULL);
  REJECT(g, "avgpool", LAST, AT(I("k", 2), S("padding", "same")), NAS_EGRAPH,
         "padding 'same' needs an odd kernel", NULL);
  REJECT(g, "maxpool", LAST, AT(I("k", 3), I("padding", 2)), NAS_EGRAPH,
         "padding 2 is more than half the kernel (k=3)", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 6), I("k", 3), I("groups", 3)), NAS_EGRAPH,
         "groups 3 must divide the input channels (8) and out (6)", NULL);
  REJECT(g, "conv", LAST, AT(I("out", 9), I("k", 3), I("groups", 3)), NAS_EGRAPH,
         "groups 3 must divide the input channels (8)", NULL);
  REJECT(g, "linear", LAST, AT(I("out", 10)), NAS_EGRAPH,
         "node 2 (linear): input is 8x9x9 (C,H,W); linear needs a vector {F}: add flatten or gap "
         "first", NULL);
  /* arity / input ids */
  REJECT(g, "relu", IN(0, 1), NOAT, NAS_EGRAPH, "node 2 (relu): needs exactly 1 input, got 2",
         NULL);
  REJECT(g, "relu", IN(7), NOAT, NAS_EGRAPH, "input 0 is node 7", "not an earlier node (0..1)");
  REJECT(g, "relu", IN(2), NOAT, NAS_EGRAPH, "node 2", "not an earlier node");
  REJECT(g, "relu", IN(-1), NOAT, NAS_EGRAPH, "node -1", NULL);
  REJECT(g, "relu", NULL, 1, NOAT, NAS_EINVAL, "bad input list", NULL);
  /* spatial ops on a vector */
  ADD(g, "gap", LAST, NOAT);
  REJECT(g, "conv", LAST, AT(I("out", 8), I("k", 1)), NAS_EGRAPH,
         "node 3 (conv): input is 8 (F); conv needs {C,H,W}", NULL);
  REJECT(g, "maxpool", LAST, AT(I("k", 1)), NAS_EGRAPH, "maxpool needs {C,H,W}", NULL);
  REJECT(g, "gap", LAST, NOAT, NAS_EGRAPH, "gap needs {C,H,W}", NULL);
  REJECT(g, "sep_conv", LAST, AT(I("out", 8), I("k", 1)), NAS_EGRAPH, "sep_conv needs {C,H,W}",
         NULL);
  REJECT(g, "zero", LAST, AT(I("stride", 2)), NAS_EGRAPH, "zero needs {C,H,W}", NULL);
  CHECK_EQ(nas_graph_node_count(g), 3);
  /* the graph still works after all those errors */
  int l = ADD(g, "linear", LAST, AT(I("out", 2)));
  CHECK_EQ(l, 3);
  nas_graph_free(g);

  /* bad input shapes */
  int64_t bad[3] = {1, 0, 28};
  CHECK(nas_graph_new(3, bad, &err) == NULL);
  CHECK_EQ(err.status, NAS_EINVAL);
  CHECK_HAS(err.msg, "dim 1 is 0");
  int64_t neg[1] = {-4};
  CHECK(nas_graph_new(1, neg, &err) == NULL);
  CHECK_HAS(err.msg, "must be > 0");
  CHECK(nas_graph_new(2, bad, &err) == NULL);
  CHECK_HAS(err.msg, "2 dims");
  CHECK(nas_graph_new(3, bad, NULL) == NULL); /* NULL err is fine */
  /* int64 overflow is an error, not UB */
  int64_t big[3] = {1 << 20, 1 << 10, 1 << 10};
  nas_graph *b = nas_graph_new(3, big, &err);
  CHECK(b != NULL);
  REJECT(b, "conv", LAST, AT(I("out", INT64_C(1) << 40), I("k", 1)), NAS_EGRAPH, "overflow", NULL);
  nas_graph_free(b);
  nas_graph_free(NULL);
}

static void test_costs(void) {
  /* 1x28x28 -> conv32 k3 -> bn -> relu -> maxpool2 -> gap -> linear10 */
  nas_graph *g = img(1, 28, 28);
  ADD(g, "conv", LAST, AT(I("out", 32), I("k", 3)));
  ADD(g, "bn", LAST, NOAT);
  ADD(g, "relu", LAST, NOAT);
  ADD(g, "maxpool", LAST, AT(I("k", 2)));
  ADD(g, "gap", LAST, NOAT);
  ADD(g, "linear", LAST, AT(I("out", 10)));
  int64_t params = 320 + 64 + 330;
  int64_t macs = 225792 + 320;
  int64_t acts = 3 * 32 * 784 + 32 * 196 + 32 + 10;
  CHECK_EQ(nas_graph_params(g), params);
  CHECK_EQ(nas_graph_flops(g), macs);
  CHECK_EQ(nas_graph_activations(g), acts);
  CHECK_EQ(nas_graph_layers(g), 2);
  CHECK_EQ(nas_graph_memory_bytes(g, 128), 16 * params + 8 * acts * 128);
  CHECK_EQ(nas_graph_memory_bytes(g, 0), 16 * params + 8 * acts);
  CHECK_EQ(nas_graph_output(g), 6);
  /* accessors out of range */
  CHECK_EQ(nas_graph_node_op(g, 7), NAS_OP_NONE);
  CHECK_EQ(nas_graph_node_op(g, -1), NAS_OP_NONE);
  CHECK_EQ(nas_graph_node_params(g, 99), 0);
  CHECK_EQ(nas_graph_node_ninputs(g, 0), 0);
  int64_t d[3];
  CHECK_EQ(nas_graph_node_shape(g, 42, d), 0);
  CHECK_EQ(nas_graph_node_shape(g, 0, d), 3);
  CHECK_EQ(d[0] * d[1] * d[2], 784);
  nas_graph_free(g);
}

/* Two branches (conv k3, conv k5) merged by op; order = which branch first. */
static nas_graph *branches(int order, const char *merge, int k2) {
  nas_graph *g = img(3, 16, 16);
  int stem = ADD(g, "conv", LAST, AT(I("out", 8), I("k", 3)));
  int a, b;
  if (order == 0) {
    a = ADD(g, "conv", IN(stem), AT(I("out", 8), I("k", 3)));
    b = ADD(g, "conv", IN(stem), AT(I("out", 8), I("k", k2)));
  } else {
    b = ADD(g, "conv", IN(stem), AT(I("out", 8), I("k", k2)));
    a = ADD(g, "conv", IN(stem), AT(I("out", 8), I("k", 3)));
  }
  ADD(g, "relu", IN(a), NOAT); /* dead when the output is the merge */
  ADD(g, merge, IN(a, b), NOAT);
  return g;
}

static void test_hash(void) {
  nas_graph *g0 = branches(0, "add", 5), *g1 = branches(1, "add", 5);
  CHECK(nas_graph_hash(g0) == nas_graph_hash(g1));
  nas_graph *c0 = branches(0, "concat", 5), *c1 = branches(1, "concat", 5);
  CHECK(nas_graph_hash(c0) == nas_graph_hash(c1)); /* same order of concat inputs a, b */
  CHECK(nas_graph_hash(c0) != nas_graph_hash(g0));
  nas_graph *k7 = branches(0, "add", 7);
  CHECK(nas_graph_hash(k7) != nas_graph_hash(g0));

  /* add is commutative, concat and mul are not */
  nas_graph *x = img(3, 8, 8), *y = img(3, 8, 8);
  int xa = ADD(x, "conv", IN(0), AT(I("out", 4), I("k", 1)));
  int xb = ADD(x, "conv", IN(0), AT(I("out", 4), I("k", 3)));
  int ya = ADD(y, "conv", IN(0), AT(I("out", 4), I("k", 1)));
  int yb = ADD(y, "conv", IN(0), AT(I("out", 4), I("k", 3)));
  ADD(x, "add", IN(xa, xb), NOAT);
  ADD(y, "add", IN(yb, ya), NOAT);
  CHECK(nas_graph_hash(x) == nas_graph_hash(y));
  int xc = ADD(x, "concat", IN(xa, xb), NOAT);
  int yc = ADD(y, "concat", IN(yb, ya), NOAT);
  CHECK(nas_graph_hash(x) != nas_graph_hash(y));
  SHAPE3(x, xc, 8, 8, 8);
  SHAPE3(y, yc, 8, 8, 8);
  ADD(x, "mul", IN(xa, xb), NOAT);
  ADD(y, "mul", IN(ya, yb), NOAT);
  CHECK(nas_graph_hash(x) == nas_graph_hash(y));
  ADD(x, "mul", IN(xa, xb), NOAT);
  ADD(y, "mul", IN(yb, ya), NOAT);
  CHECK(nas_graph_hash(x) != nas_graph_hash(y));

  /* dead nodes and set_output */
  nas_graph *d = branches(0, "add", 5);
  uint64_t h = nas_graph_hash(d);
  ADD(d, "relu", IN(2), NOAT); /* new last node: the hash follows the output */
  CHECK(nas_graph_hash(d) != h);
  CHECK_EQ(nas_graph_set_output(d, 5, &err), NAS_OK);
  CHECK_EQ(nas_graph_output(d), 5);
  CHECK(nas_graph_hash(d) == h);
  CHECK_EQ(nas_graph_set_output(d, 99, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "output node 99 does not exist");
  /* dead branch leaves the hash unchanged */
  nas_graph *e = img(3, 16, 16), *f = img(3, 16, 16);
  ADD(e, "conv", LAST, AT(I("out", 8), I("k", 3)));
  ADD(e, "relu", LAST, NOAT);
  ADD(f, "conv", LAST, AT(I("out", 8), I("k", 3)));
  ADD(f, "sep_conv", IN(0), AT(I("out", 8), I("k", 3)));
  ADD(f, "relu", IN(1), NOAT);
  CHECK(nas_graph_hash(e) == nas_graph_hash(f));

  /* every attribute counts, and the input shape */
  struct { const char *op; nas_attr a[3]; int n; } v[] = {
    {"conv", {I("out", 8), I("k", 3)}, 2},
    {"conv", {I("out", 9), I("k", 3)}, 2},
    {"conv", {I("out", 8), I("k", 3), I("stride", 2)}, 3},
    {"conv", {I("out", 8), I("k", 3), I("bias", 0)}, 3},
    {"conv", {I("out", 8), I("k", 3), I("padding", 0)}, 3},
    {"conv", {I("out", 8), I("k", 3), I("dilation", 2)}, 3},
    {"sep_conv", {I("out", 8), I("k", 3)}, 2},
    {"dil_conv", {I("out", 8), I("k", 3)}, 2},
  };
  uint64_t hs[8];
  for (int i = 0; i < 8; i++) {
    nas_graph *t = img(3, 16, 16);
    ADD(t, v[i].op, LAST, v[i].a, v[i].n);
    hs[i] = nas_graph_hash(t);
    nas_graph_free(t);
  }
  int distinct = 1;
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < i; j++)
      if (hs[i] == hs[j]) distinct = 0;
  CHECK(distinct);
  nas_graph *p1 = img(3, 16, 16), *p2 = img(3, 16, 16), *p3 = img(3, 16, 17);
  ADD(p1, "conv", LAST, AT(I("out", 8), I("k", 3)));
  ADD(p2, "conv", LAST, AT(I("out", 8), I("k", 3), I("padding", 1))); /* = same */
  ADD(p3, "conv", LAST, AT(I("out", 8), I("k", 3)));
  CHECK(nas_graph_hash(p1) == nas_graph_hash(p2));
  CHECK(nas_graph_hash(p1) != nas_graph_hash(p3));
  nas_graph *q1 = img(3, 16, 16), *q2 = img(3, 16, 16);
  ADD(q1, "dropout", LAST, AT(F("p", 0.1)));
  ADD(q2, "dropout", LAST, AT(F("p", 0.2)));
  CHECK(nas_graph_hash(q1) != nas_graph_hash(q2));

  nas_graph *all[] = {g0, g1, c0, c1, k7, x, y, d, e, f, p1, p2, p3, q1, q2};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) nas_graph_free(all[i]);
}

static void test_clone(void) {
  nas_graph *g = branches(0, "add", 5);
  nas_graph_set_output(g, 5, NULL);
  nas_graph *c = nas_graph_clone(g);
  CHECK(c != NULL);
  CHECK(nas_graph_hash(c) == nas_graph_hash(g));
  CHECK_EQ(nas_graph_node_count(c), nas_graph_node_count(g));
  CHECK_EQ(nas_graph_params(c), nas_graph_params(g));
  CHECK_EQ(nas_graph_flops(c), nas_graph_flops(g));
  CHECK_EQ(nas_graph_output(c), 5);
  char s1[4096], s2[4096];
  nas_graph_summary(g, s1, sizeof s1);
  nas_graph_summary(c, s2, sizeof s2);
  CHECK(strcmp(s1, s2) == 0);
  /* the clone is independent and can grow past the original's capacity */
  for (int i = 0; i < 40; i++) ADD(c, "relu", LAST, NOAT);
  CHECK_EQ(nas_graph_node_count(c), 46);
  CHECK_EQ(nas_graph_node_count(g), 6);
  CHECK(nas_graph_clone(NULL) == NULL);
  nas_graph_free(c);
  nas_graph_free(g);
}

static void test_from_desc(void) {
  int64_t in[3] = {3, 16, 16};
  nas_attr c3[] = {I("out", 8), I("k", 3)}, c5[] = {I("out", 8), I("k", 5)};
  int i0[] = {0}, i1[] = {1}, i12[] = {2, 3}, i3[] = {3}, i2[] = {2}, i4[] = {4};

  /* topological descs: ids kept */
  nas_node_desc topo[] = {
    {"conv", i0, 1, c3, 2},  /* 1 */
    {"conv", i1, 1, c3, 2},  /* 2 */
    {"conv", i1, 1, c5, 2},  /* 3 */
    {"add", i12, 2, NULL, 0} /* 4 */
  };
  nas_graph *a = nas_graph_from_desc(3, in, topo, 4, -1, &err);
  CHECK(a != NULL);
  CHECK_EQ(nas_graph_node_op(a, 3), NAS_OP_CONV);
  CHECK_EQ(nas_graph_node_int(a, 3, "k"), 5);
  CHECK_EQ(nas_graph_node_op(a, 4), NAS_OP_ADD);
  CHECK_EQ(nas_graph_output(a), 4);
  nas_graph *ref = branches(0, "add", 5);
  nas_graph_set_output(ref, 5, NULL);
  CHECK(nas_graph_hash(a) == nas_graph_hash(ref));
  CHECK_EQ(nas_graph_params(a), nas_graph_params(ref) - 0);

  /* forward references: node 1 = add of 3 and 4, node 2 the stem: renumbered */
  int f34[] = {3, 4}, f2[] = {2};
  nas_node_desc fwd[] = {
    {"add", f34, 2, NULL, 0}, /* 1 -> 4 */
    {"conv", i0, 1, c3, 2},   /* 2 -> 1 */
    {"conv", f2, 1, c3, 2},   /* 3 -> 2 */
    {"conv", f2, 1, c5, 2},   /* 4 -> 3 */
  };
  nas_graph *b = nas_graph_from_desc(3, in, fwd, 4, -1, &err);
  CHECK(b != NULL);
  if (b) {
    CHECK_EQ(nas_graph_node_op(b, 1), NAS_OP_CONV);
    CHECK_EQ(nas_graph_node_int(b, 2, "k"), 3);
    CHECK_EQ(nas_graph_node_int(b, 3, "k"), 5);
    CHECK_EQ(nas_graph_node_op(b, 4), NAS_OP_ADD);
    CHECK_EQ(nas_graph_node_input(b, 4, 0), 2);
    CHECK_EQ(nas_graph_node_input(b, 4, 1), 3);
    CHECK_EQ(nas_graph_output(b), 4);
    CHECK(nas_graph_hash(b) == nas_graph_hash(a));
  }
  /* explicit output given as a desc id, mapped through the renumbering */
  nas_graph *b2 = nas_graph_from_desc(3, in, fwd, 4, 3, &err);
  CHECK(b2 && nas_graph_output(b2) == 2);
  /* stable: independent nodes keep desc order; output < 0 = last in topological order */
  nas_node_desc st[] = {
    {"relu", i3, 1, NULL, 0}, /* 1: after 3 */
    {"conv", i0, 1, c3, 2},   /* 2 */
    {"conv", i0, 1, c5, 2},   /* 3 */
  };
  nas_graph *s = nas_graph_from_desc(3, in, st, 3, -1, &err);
  CHECK(s != NULL);
  if (s) {
    CHECK_EQ(nas_graph_node_int(s, 1, "k"), 3);
    CHECK_EQ(nas_graph_node_int(s, 2, "k"), 5);
    CHECK_EQ(nas_graph_node_op(s, 3), NAS_OP_RELU);
    CHECK_EQ(nas_graph_output(s), 3);
  }

  /* cycle 2 -> 3 -> 2, reached from node 4 */
  int i13[] = {1, 3};
  nas_node_desc cyc[] = {
    {"conv", i0, 1, c3, 2},   /* 1 */
    {"conv", i3, 1, c3, 2},   /* 2 <- 3 */
    {"relu", i2, 1, NULL, 0}, /* 3 <- 2 */
    {"add", i13, 2, NULL, 0}, /* 4 */
  };
  CHECK(nas_graph_from_desc(3, in, cyc, 4, -1, &err) == NULL);
  CHECK_EQ(err.status, NAS_EGRAPH);
  CHECK_HAS(err.msg, "cycle: node 2 (conv) -> node 3 (relu) -> node 2 (conv)");
  /* longer cycle listed from its smallest id, in data-flow order: 2 -> 4 -> 3 -> 2 */
  nas_node_desc cyc3[] = {
    {"conv", i0, 1, c3, 2},   /* 1 */
    {"relu", i3, 1, NULL, 0}, /* 2 <- 3 */
    {"relu", i4, 1, NULL, 0}, /* 3 <- 4 */
    {"relu", i2, 1, NULL, 0}, /* 4 <- 2 */
  };
  CHECK(nas_graph_from_desc(3, in, cyc3, 4, -1, &err) == NULL);
  CHECK_HAS(err.msg, "cycle: node 2 (relu) -> node 4 (relu) -> node 3 (relu) -> node 2 (relu)");
  nas_node_desc self[] = {{"relu", i1, 1, NULL, 0}};
  CHECK(nas_graph_from_desc(3, in, self, 1, -1, &err) == NULL);
  CHECK_HAS(err.msg, "cycle: node 1 (relu) -> node 1 (relu)");

  /* desc errors name the desc ids, also after renumbering */
  nas_node_desc noin[] = {{"relu", NULL, 0, NULL, 0}};
  CHECK(nas_graph_from_desc(3, in, noin, 1, -1, &err) == NULL);
  CHECK_EQ(err.status, NAS_EGRAPH);
  CHECK_HAS(err.msg, "node 1 (relu): needs exactly 1 input, got 0");
  nas_node_desc noadd[] = {{"conv", i0, 1, c3, 2}, {"add", i1, 1, NULL, 0}};
  CHECK(nas_graph_from_desc(3, in, noadd, 2, -1, &err) == NULL);
  CHECK_HAS(err.msg, "node 2 (add): needs at least 2 inputs, got 1");
  int i9[] = {9};
  nas_node_desc oor[] = {{"conv", i0, 1, c3, 2}, {"relu", i9, 1, NULL, 0}};
  CHECK(nas_graph_from_desc(3, in, oor, 2, -1, &err) == NULL);
  CHECK_HAS(err.msg, "node 2 (relu): input 0 is node 9, which does not exist");
  nas_node_desc unk[] = {{"conv", i0, 1, c3, 2}, {"convv", i1, 1, NULL, 0}};
  CHECK(nas_graph_from_desc(3, in, unk, 2, -1, &err) == NULL);
  CHECK_HAS(err.msg, "node 2: unknown op 'convv'");
  nas_attr lin[] = {I("out", 4)};
  nas_node_desc late[] = {
    {"linear", i2, 1, lin, 1}, /* 1: needs {F}, gets 8x16x16 from node 2 */
    {"conv", i0, 1, c3, 2},    /* 2 */
  };
  CHECK(nas_graph_from_desc(3, in, late, 2, -1, &err) == NULL);
  CHECK_HAS(err.msg, "node 1 (linear): input is 8x16x16 (C,H,W)");
  nas_node_desc mism[] = {
    {"add", f34, 2, NULL, 0}, /* 1 */
    {"conv", i0, 1, c3, 2},   /* 2 */
    {"conv", f2, 1, c3, 2},   /* 3 */
    {"conv", f2, 1, (nas_attr[]){I("out", 4), I("k", 3)}, 2}, /* 4 */
  };
  CHECK(nas_graph_from_desc(3, in, mism, 4, -1, &err) == NULL);
  CHECK_HAS(err.msg, "node 1 (add): input 1 (node 4) is 4x16x16 but input 0 (node 3) is 8x16x16");
  CHECK(nas_graph_from_desc(3, in, topo, 4, 5, &err) == NULL);
  CHECK_HAS(err.msg, "output node 5 does not exist");
  nas_graph *empty = nas_graph_from_desc(3, in, NULL, 0, -1, &err);
  CHECK(empty && nas_graph_node_count(empty) == 1);

  nas_graph *all[] = {a, ref, b, b2, s, empty};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) nas_graph_free(all[i]);
}

static void test_summary(void) {
  nas_graph *g = img(1, 28, 28);
  ADD(g, "conv", LAST, AT(I("out", 32), I("k", 3), I("stride", 2)));
  ADD(g, "relu", LAST, NOAT);
  ADD(g, "gap", LAST, NOAT);
  ADD(g, "linear", LAST, AT(I("out", 10)));
  char buf[4096];
  size_t n = nas_graph_summary(g, buf, sizeof buf);
  CHECK_EQ(n, strlen(buf));
  CHECK_HAS(buf, "MACs");
  CHECK_HAS(buf, "conv");
  CHECK_HAS(buf, "out=32 k=3 stride=2");
  CHECK_HAS(buf, "32x14x14");
  CHECK_HAS(buf, "linear");
  char tot[128];
  snprintf(tot, sizeof tot, "total: %lld params, %lld MACs, %lld activations",
           (long long)nas_graph_params(g), (long long)nas_graph_flops(g),
           (long long)nas_graph_activations(g));
  CHECK_HAS(buf, tot);
  CHECK_HAS(buf, "total: 650 params, 56768 MACs");
  /* snprintf-like truncation */
  char small[16];
  size_t m = nas_graph_summary(g, small, sizeof small);
  CHECK_EQ(m, n);
  CHECK_EQ(strlen(small), sizeof small - 1);
  CHECK_EQ(nas_graph_summary(g, NULL, 0), n);
  nas_graph_free(g);
}

/* build + shape inference + costs of a 20-node graph, repeatedly (reported, not asserted) */
static void bench(void) {
  const int reps = 20000;
  struct timespec t0, t1;
  timespec_get(&t0, TIME_UTC);
  int64_t sink = 0;
  for (int r = 0; r < reps; r++) {
    nas_graph *g = img(3, 32, 32);
    int prev = 0;
    for (int b = 0; b < 4; b++) {
      int c = nas_graph_add(g, "conv", NULL, 0, AT(I("out", 16), I("k", 3)), NULL);
      nas_graph_add(g, "bn", NULL, 0, NULL, 0, NULL);
      nas_graph_add(g, "relu", NULL, 0, NULL, 0, NULL);
      nas_graph_add(g, "sep_conv", NULL, 0, AT(I("out", 16), I("k", 3)), NULL);
      if (b > 0) nas_graph_add(g, "add", (int[]){prev, c + 3}, 2, NULL, 0, NULL);
      prev = nas_graph_node_count(g) - 1;
    }
    nas_graph_add(g, "gap", NULL, 0, NULL, 0, NULL);
    nas_graph_add(g, "linear", NULL, 0, AT(I("out", 10)), NULL);
    sink += nas_graph_params(g) + nas_graph_flops(g) + (int64_t)(nas_graph_hash(g) & 1) +
            nas_graph_node_count(g);
    nas_graph_free(g);
  }
  timespec_get(&t1, TIME_UTC);
  double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  printf("bench: %d graphs of 22 nodes in %.3f s: %.0f graphs/s (sink %lld)\n", reps, s,
         reps / s, (long long)sink);
}

int main(void) {
  test_op_table();
  test_conv();
  test_sep_dil();
  test_simple_ops();
  test_vector_input();
  test_merge();
  test_mixed();
  test_rejections();
  test_costs();
  test_hash();
  test_clone();
  test_from_desc();
  test_summary();
  bench();
  return CHECK_DONE("test_graph");
}
