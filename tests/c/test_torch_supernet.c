/* Tests of supernets (mixed nodes; engine/torch/model.cpp and supernet.cpp)
 * through the C ABI: every mix mode against the candidate branches computed on
 * their own, gradients reaching the logits, weight sharing between the
 * supernet and its subnets (the same model in PATH mode), BN recalibration,
 * argument errors, and a short DARTS run on a toy task where one candidate is
 * clearly better.
 *
 * Reading a branch on its own: the model's weights are drawn from its seed in
 * node order, so a plain graph whose first layer is the supernet's first layer
 * (same shape, same seed) has the same weights (as in test_torch_proxy.c). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "nas.h"

#define CHECK_NEAR(a, b, tol)                                                           \
  do {                                                                                  \
    double check_x_ = (a), check_y_ = (b);                                              \
    check_count++;                                                                      \
    if (!(fabs(check_x_ - check_y_) <= (tol) * fmax(1.0, fabs(check_y_)))) {            \
      check_failed++;                                                                   \
      fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.10g, %s = %.10g\n", __FILE__, \
              __LINE__, #a, check_x_, #b, check_y_);                                    \
    }                                                                                   \
  } while (0)

static nas_error err;

static nas_graph *img(int64_t c, int64_t h, int64_t w) {
  int64_t d[3] = {c, h, w};
  return nas_graph_new(3, d, &err);
}

static int add(nas_graph *g, const char *op, const int *in, int nin, const nas_attr *a, int na) {
  int id = nas_graph_add(g, op, in, nin, a, na, &err);
  if (id < 0) fprintf(stderr, "add %s: %s\n", op, err.msg);
  return id;
}

static nas_model *model(const nas_graph *g, uint64_t seed) {
  nas_model_opts o = nas_model_opts_default();
  o.seed = seed;
  o.memfmt = NAS_MEMFMT_NCHW;
  nas_model *m = NULL;
  if (nas_model_new(g, &o, &m, &err) != NAS_OK) fprintf(stderr, "nas_model_new: %s\n", err.msg);
  return m;
}

#define C 2
#define H 5
#define NX 3
#define SZ (C * H * H)

/* x -> {conv1x1 (node 1), avgpool3 (2), zero (3), x itself (0)} -> mixed (4): the
 * mixed node is the output, so each mode's output can be compared with the branches. */
static nas_graph *branches_graph(void) {
  nas_graph *g = img(C, H, H);
  nas_attr cv[] = {NAS_ATTR_INT("out", C), NAS_ATTR_INT("k", 1)};
  int in0[1] = {0};
  int a = add(g, "conv", in0, 1, cv, 2);
  nas_attr pl[] = {NAS_ATTR_INT("k", 3), NAS_ATTR_INT("stride", 1), NAS_ATTR_INT("padding", 1)};
  int b = add(g, "avgpool", in0, 1, pl, 3);
  int ina[1] = {a};
  int z = add(g, "zero", ina, 1, NULL, 0);
  nas_attr dc[] = {NAS_ATTR_INT("decision", 0)};
  int mi[4] = {a, b, z, 0};
  add(g, "mixed", mi, 4, dc, 1);
  return g;
}

/* out[k][NX*SZ]: the four branches computed on their own. */
static void branch_outputs(const float *x, float out[4][NX * SZ]) {
  nas_graph *g = img(C, H, H);
  nas_attr cv[] = {NAS_ATTR_INT("out", C), NAS_ATTR_INT("k", 1)};
  add(g, "conv", NULL, 0, cv, 2); /* node 1, as in the supernet: the same weights */
  nas_model *m = model(g, 7);
  CHECK(m && nas_model_forward(m, x, NX, out[0], &err) == NAS_OK);
  nas_model_free(m);
  nas_graph_free(g);
  g = img(C, H, H);
  nas_attr pl[] = {NAS_ATTR_INT("k", 3), NAS_ATTR_INT("stride", 1), NAS_ATTR_INT("padding", 1)};
  add(g, "avgpool", NULL, 0, pl, 3);
  m = model(g, 7);
  CHECK(m && nas_model_forward(m, x, NX, out[1], &err) == NAS_OK);
  nas_model_free(m);
  nas_graph_free(g);
  for (int i = 0; i < NX * SZ; i++) {
    out[2][i] = 0.0f;
    out[3][i] = x[i];
  }
}

static double maxdiff(const float *a, const float *b, int n) {
  double d = 0;
  for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
  return d;
}

static void test_modes(void) {
  float x[NX * SZ], want[4][NX * SZ], got[NX * SZ];
  uint32_t s = 99;
  for (int i = 0; i < NX * SZ; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((s >> 8) % 2000) / 1000.0f - 1.0f;
  }
  branch_outputs(x, want);
  nas_graph *g = branches_graph();
  nas_model *m = model(g, 7);
  CHECK(m != NULL);
  if (!m) return;
  CHECK_EQ(nas_model_decisions(m), 1);
  CHECK_EQ(nas_model_decision_size(m, 0), 4);
  CHECK_EQ(nas_model_decision_size(m, 1), -1);
  CHECK_EQ(nas_model_get_mix_mode(m), NAS_MIX_SOFTMAX);
  /* logits are not weights: the conv's 2*2+2 only */
  CHECK_EQ(nas_model_param_count(m), 6);
  float a[4];
  CHECK(nas_model_arch_get(m, 0, a, &err) == NAS_OK);
  for (int i = 0; i < 4; i++) CHECK(fabs(a[i]) < 0.01 && a[i] != 0.0f); /* 1e-3 * N(0,1) */

  /* PATH: exactly the branch */
  for (int k = 0; k < 4; k++) {
    CHECK(nas_model_set_mix_mode(m, NAS_MIX_PATH, 1.0, &err) == NAS_OK);
    CHECK(nas_model_set_path(m, &k, 1, &err) == NAS_OK);
    CHECK(nas_model_forward(m, x, NX, got, &err) == NAS_OK);
    CHECK(maxdiff(got, want[k], NX * SZ) < 1e-6);
    int lp = -2;
    CHECK(nas_model_last_path(m, &lp, 1, &err) == NAS_OK);
    CHECK_EQ(lp, k);
    /* SOFTMAX with a one-hot (large) logit: the same */
    float oh[4] = {0, 0, 0, 0};
    oh[k] = 40.0f;
    CHECK(nas_model_arch_set(m, 0, oh, &err) == NAS_OK);
    CHECK(nas_model_set_mix_mode(m, NAS_MIX_SOFTMAX, 1.0, &err) == NAS_OK);
    CHECK(nas_model_forward(m, x, NX, got, &err) == NAS_OK);
    CHECK(maxdiff(got, want[k], NX * SZ) < 1e-5);
    CHECK(nas_model_last_path(m, &lp, 1, &err) == NAS_OK);
    CHECK_EQ(lp, -1);
    /* FIXED: the argmax */
    CHECK(nas_model_set_mix_mode(m, NAS_MIX_FIXED, 1.0, &err) == NAS_OK);
    CHECK(nas_model_forward(m, x, NX, got, &err) == NAS_OK);
    CHECK(maxdiff(got, want[k], NX * SZ) < 1e-6);
    /* GUMBEL at a low temperature with one-hot logits: that branch, hard */
    CHECK(nas_model_set_mix_mode(m, NAS_MIX_GUMBEL, 0.1, &err) == NAS_OK);
    CHECK(nas_model_forward(m, x, NX, got, &err) == NAS_OK);
    CHECK(maxdiff(got, want[k], NX * SZ) < 1e-5);
    CHECK(nas_model_last_path(m, &lp, 1, &err) == NAS_OK);
    CHECK_EQ(lp, k);
  }
  /* SOFTMAX with equal logits: the mean; SIGMOID: sum of sigmoid(a_i) x_i */
  float eq[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  CHECK(nas_model_arch_set(m, 0, eq, &err) == NAS_OK);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_SOFTMAX, 1.0, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, NX, got, &err) == NAS_OK);
  double dm = 0, ds = 0;
  for (int i = 0; i < NX * SZ; i++)
    dm = fmax(dm, fabs(got[i] - 0.25 * (want[0][i] + want[1][i] + want[2][i] + want[3][i])));
  CHECK(dm < 1e-5);
  float sg[4] = {1.0f, -2.0f, 3.0f, 0.0f};
  CHECK(nas_model_arch_set(m, 0, sg, &err) == NAS_OK);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_SIGMOID, 1.0, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, NX, got, &err) == NAS_OK);
  for (int i = 0; i < NX * SZ; i++) {
    double w = 0;
    for (int k = 0; k < 4; k++) w += want[k][i] / (1.0 + exp(-(double)sg[k]));
    ds = fmax(ds, fabs(got[i] - w));
  }
  CHECK(ds < 1e-5);
  /* GUMBEL at tau 1 with equal logits: each forward is one branch; all get picked */
  CHECK(nas_model_arch_set(m, 0, eq, &err) == NAS_OK);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_GUMBEL, 1.0, &err) == NAS_OK);
  int seen[4] = {0, 0, 0, 0};
  for (int r = 0; r < 60; r++) {
    int lp = -1;
    CHECK(nas_model_forward(m, x, NX, got, &err) == NAS_OK);
    CHECK(nas_model_last_path(m, &lp, 1, &err) == NAS_OK);
    if (lp >= 0 && lp < 4) {
      seen[lp]++;
      if (r < 8) CHECK(maxdiff(got, want[lp], NX * SZ) < 1e-5);
    }
  }
  for (int k = 0; k < 4; k++) CHECK(seen[k] > 0);

  /* errors */
  int bad = 4;
  CHECK(nas_model_set_path(m, &bad, 1, &err) == NAS_EINVAL);
  CHECK_HAS(err.msg, "out of [0, 4)");
  int two[2] = {0, 0};
  CHECK(nas_model_set_path(m, two, 2, &err) == NAS_EINVAL);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_GUMBEL, 0.0, &err) == NAS_EINVAL);
  CHECK(nas_model_set_mix_mode(m, (nas_mix_mode)9, 1.0, &err) == NAS_EINVAL);
  CHECK(nas_model_arch_get(m, 1, a, &err) == NAS_EINVAL);
  float nan4[4] = {0, NAN, 0, 0};
  CHECK(nas_model_arch_set(m, 0, nan4, &err) == NAS_EINVAL);
  nas_model_free(m);
  nas_graph_free(g);

  /* a plain graph is no supernet */
  g = img(1, 4, 4);
  add(g, "relu", NULL, 0, NULL, 0);
  m = model(g, 1);
  CHECK_EQ(nas_model_decisions(m), 0);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_PATH, 1.0, &err) == NAS_EINVAL);
  CHECK_HAS(err.msg, "not a supernet");
  nas_model_free(m);
  nas_graph_free(g);

  /* decisions numbered without gaps, sizes consistent */
  g = img(1, 4, 4);
  nas_attr d1[] = {NAS_ATTR_INT("decision", 1)};
  int in2[2] = {0, 0};
  add(g, "mixed", in2, 2, d1, 1);
  nas_model_opts o = nas_model_opts_default();
  CHECK(nas_model_new(g, &o, &m, &err) == NAS_EGRAPH);
  CHECK_HAS(err.msg, "decision 0 has no mixed node");
  nas_graph_free(g);
  g = img(1, 4, 4);
  nas_attr d0[] = {NAS_ATTR_INT("decision", 0)};
  int a1 = add(g, "mixed", in2, 2, d0, 1);
  int in3[3] = {0, a1, a1};
  add(g, "mixed", in3, 3, d0, 1);
  CHECK(nas_model_new(g, &o, &m, &err) == NAS_EGRAPH);
  CHECK_HAS(err.msg, "decision 0 has 3 candidates here but 2");
  nas_graph_free(g);
}

/* A classifier supernet on 1x8x8: stem conv -> d0 {conv3x3-bn, avgpool, zero, skip}
 * -> d1 {conv1x1, skip} -> gap -> linear 4. */
static nas_graph *classifier(void) {
  nas_graph *g = img(1, 8, 8);
  nas_attr stem[] = {NAS_ATTR_INT("out", 4), NAS_ATTR_INT("k", 3)};
  int s = add(g, "conv", NULL, 0, stem, 2);
  int in[1] = {s};
  nas_attr c3[] = {NAS_ATTR_INT("out", 4), NAS_ATTR_INT("k", 3)};
  int a = add(g, "conv", in, 1, c3, 2);
  a = add(g, "bn", NULL, 0, NULL, 0);
  nas_attr pl[] = {NAS_ATTR_INT("k", 3), NAS_ATTR_INT("stride", 1), NAS_ATTR_INT("padding", 1)};
  int b = add(g, "avgpool", in, 1, pl, 3);
  int ina[1] = {a};
  int z = add(g, "zero", ina, 1, NULL, 0);
  nas_attr d0[] = {NAS_ATTR_INT("decision", 0)};
  int mi[4] = {a, b, z, s};
  int m0 = add(g, "mixed", mi, 4, d0, 1);
  int inm[1] = {m0};
  nas_attr c1[] = {NAS_ATTR_INT("out", 4), NAS_ATTR_INT("k", 1)};
  int c = add(g, "conv", inm, 1, c1, 2);
  nas_attr d1[] = {NAS_ATTR_INT("decision", 1)};
  int mj[2] = {c, m0};
  add(g, "mixed", mj, 2, d1, 1);
  add(g, "relu", NULL, 0, NULL, 0);
  add(g, "gap", NULL, 0, NULL, 0);
  nas_attr ln[] = {NAS_ATTR_INT("out", 4)};
  add(g, "linear", NULL, 0, ln, 1);
  return g;
}

static void fill_batch(nas_dataset *d, int n, float *x, int64_t *y) {
  int64_t rows[64];
  for (int i = 0; i < n; i++) rows[i] = i;
  nas_data_batch(d, rows, n, NULL, NULL, x, y);
}

static void test_grads_and_sharing(nas_dataset *d) {
  nas_graph *g = classifier();
  nas_model *m = model(g, 3);
  CHECK(m != NULL);
  if (!m) return;
  CHECK_EQ(nas_model_decisions(m), 2);
  enum { N = 16 };
  static float x[N * 64];
  int64_t y[N];
  fill_batch(d, N, x, y);
  float grad[6], before[6];
  double loss = 0;
  float out0[N * 4], out1[N * 4];
  /* eval outputs before: arch_grad leaves weights, BN buffers and mode as they were */
  CHECK(nas_model_forward(m, x, N, out0, &err) == NAS_OK);
  CHECK(nas_model_arch_grad(m, x, y, N, grad, 6, &loss, &err) == NAS_OK);
  CHECK(loss > 0.5 && loss < 3.0);
  for (int i = 0; i < 6; i++) CHECK(grad[i] != 0.0f && isfinite(grad[i]));
  /* softmax: the gradient of each decision sums to 0 */
  CHECK(fabs(grad[0] + grad[1] + grad[2] + grad[3]) < 1e-5);
  CHECK(fabs(grad[4] + grad[5]) < 1e-5);
  CHECK(nas_model_forward(m, x, N, out1, &err) == NAS_OK);
  CHECK(maxdiff(out0, out1, N * 4) == 0.0);
  CHECK(nas_model_arch_grad(m, x, y, N, grad, 5, &loss, &err) == NAS_EINVAL);
  /* GUMBEL: gradients reach every logit of a decision (straight-through) */
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_GUMBEL, 1.0, &err) == NAS_OK);
  CHECK(nas_model_arch_grad(m, x, y, N, grad, 6, &loss, &err) == NAS_OK);
  int nz = 0;
  for (int i = 0; i < 6; i++) nz += grad[i] != 0.0f;
  CHECK(nz >= 5);
  /* PATH: none */
  int path[2] = {0, 0};
  CHECK(nas_model_set_path(m, path, 2, &err) == NAS_OK);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_PATH, 1.0, &err) == NAS_OK);
  CHECK(nas_model_arch_grad(m, x, y, N, grad, 6, &loss, &err) == NAS_OK);
  for (int i = 0; i < 6; i++) CHECK(grad[i] == 0.0f);

  /* weight sharing: a subnet is the supernet in PATH mode. Train the supernet
   * (softmax) a few steps: the subnet's output changes; train in PATH mode
   * (another subnet): the supernet's softmax output changes. */
  CHECK(nas_model_forward(m, x, N, out0, &err) == NAS_OK); /* subnet {0,0} */
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_SOFTMAX, 1.0, &err) == NAS_OK);
  nas_train_opts to = nas_train_opts_default();
  to.steps = 3;
  to.batch = 32;
  nas_trainer *t = NULL;
  CHECK(nas_trainer_new(m, d, &to, &t, &err) == NAS_OK);
  nas_train_progress p;
  CHECK(t && nas_trainer_run(t, 0, &p, &err) == NAS_OK);
  nas_trainer_free(t);
  for (int i = 0; i < 6; i++) before[i] = 0;
  CHECK(nas_model_arch_get(m, 0, before, &err) == NAS_OK); /* plain training leaves the logits */
  float a0[4];
  CHECK(nas_model_arch_get(m, 0, a0, &err) == NAS_OK);
  CHECK(memcmp(a0, before, sizeof a0) == 0);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_PATH, 1.0, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, N, out1, &err) == NAS_OK);
  CHECK(maxdiff(out0, out1, N * 4) > 1e-6);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_SOFTMAX, 1.0, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, N, out0, &err) == NAS_OK);
  int p2[2] = {0, 1};
  CHECK(nas_model_set_path(m, p2, 2, &err) == NAS_OK);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_PATH, 1.0, &err) == NAS_OK);
  CHECK(nas_trainer_new(m, d, &to, &t, &err) == NAS_OK);
  CHECK(t && nas_trainer_run(t, 0, &p, &err) == NAS_OK);
  nas_trainer_free(t);
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_SOFTMAX, 1.0, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, N, out1, &err) == NAS_OK);
  CHECK(maxdiff(out0, out1, N * 4) > 1e-6);

  /* BN recalibration: changes the eval output of the subnet, deterministic in its seed */
  CHECK(nas_model_set_mix_mode(m, NAS_MIX_PATH, 1.0, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, N, out0, &err) == NAS_OK);
  CHECK(nas_model_recalibrate_bn(m, d, 4, 32, 5, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, N, out1, &err) == NAS_OK);
  CHECK(maxdiff(out0, out1, N * 4) > 1e-6);
  CHECK(nas_model_recalibrate_bn(m, d, 4, 32, 5, &err) == NAS_OK);
  CHECK(nas_model_forward(m, x, N, out0, &err) == NAS_OK);
  CHECK(maxdiff(out0, out1, N * 4) < 1e-6);
  CHECK(nas_model_recalibrate_bn(m, d, 0, 32, 5, &err) == NAS_EINVAL);
  nas_model_free(m);
  nas_graph_free(g);
}

/* Toy DARTS: one decision {zero, skip} in front of a linear classifier on the
 * pixels; the zero candidate erases the input, so the logits must move to skip. */
static void test_darts(nas_dataset *train, nas_dataset *valid) {
  nas_graph *g = img(1, 8, 8);
  int in0[1] = {0};
  int z = add(g, "zero", in0, 1, NULL, 0);
  nas_attr dc[] = {NAS_ATTR_INT("decision", 0)};
  int mi[2] = {z, 0};
  add(g, "mixed", mi, 2, dc, 1);
  add(g, "flatten", NULL, 0, NULL, 0);
  nas_attr ln[] = {NAS_ATTR_INT("out", 4)};
  add(g, "linear", NULL, 0, ln, 1);
  nas_model *m = model(g, 11);
  CHECK(m != NULL);
  if (!m) return;
  nas_darts_opts o = nas_darts_opts_default();
  CHECK(o.weights.lr == 0.025 && o.arch_lr == 3e-4 && o.arch_beta1 == 0.5 && o.arch_weight_decay == 1e-3);
  CHECK_EQ(o.order, 1);
  o.weights.epochs = 3;
  o.weights.batch = 32;
  o.arch_lr = 0.05;
  nas_darts *t = NULL;
  CHECK(nas_darts_new(m, train, valid, &o, &t, &err) == NAS_OK);
  if (!t) fprintf(stderr, "nas_darts_new: %s\n", err.msg);
  float a0[2], a1[2];
  CHECK(nas_model_arch_get(m, 0, a0, &err) == NAS_OK);
  nas_train_progress p;
  double al = 0;
  int runs = 0;
  memset(&p, 0, sizeof p);
  while (t && !p.done && runs < 100) {
    CHECK(nas_darts_run(t, 0, &p, &al, &err) == NAS_OK);
    runs++;
  }
  CHECK(p.done);
  CHECK(al > 0.0);
  CHECK(nas_model_arch_get(m, 0, a1, &err) == NAS_OK);
  printf("darts toy: logits {zero, skip} %.4f %.4f -> %.4f %.4f, arch loss %.3f, weight loss %.3f\n", a0[0], a0[1],
         a1[0], a1[1], al, p.loss);
  CHECK(a1[1] - a1[0] > a0[1] - a0[0] + 0.1);
  nas_darts_free(t);
  /* second order: the same direction, on a fresh model */
  nas_model *m2 = model(g, 11);
  o.order = 2;
  t = NULL;
  CHECK(m2 && nas_darts_new(m2, train, valid, &o, &t, &err) == NAS_OK);
  memset(&p, 0, sizeof p);
  runs = 0;
  while (t && !p.done && runs < 100) {
    CHECK(nas_darts_run(t, 0, &p, &al, &err) == NAS_OK);
    runs++;
  }
  CHECK(p.done);
  CHECK(nas_model_arch_get(m2, 0, a1, &err) == NAS_OK);
  printf("darts toy, second order: logits {zero, skip} -> %.4f %.4f, arch loss %.3f\n", a1[0], a1[1], al);
  CHECK(a1[1] - a1[0] > a0[1] - a0[0] + 0.1);
  nas_darts_free(t);
  nas_model_free(m2);
  /* with the weights' lr at 0 the unrolled weights are the weights and the
   * correction term vanishes: second order takes first order's steps */
  float ab[2][2];
  for (int ord = 1; ord <= 2; ord++) {
    nas_model *mm = model(g, 11);
    nas_darts_opts oz = o;
    oz.order = ord;
    oz.weights.lr = 0.0;
    oz.weights.steps = 5;
    t = NULL;
    CHECK(mm && nas_darts_new(mm, train, valid, &oz, &t, &err) == NAS_OK);
    CHECK(t && nas_darts_run(t, 0, &p, &al, &err) == NAS_OK);
    CHECK(nas_model_arch_get(mm, 0, ab[ord - 1], &err) == NAS_OK);
    nas_darts_free(t);
    nas_model_free(mm);
  }
  CHECK(fabs(ab[0][0] - ab[1][0]) < 1e-6 && fabs(ab[0][1] - ab[1][1]) < 1e-6);
  CHECK(fabs(ab[0][1] - a0[1]) > 1e-3); /* and they moved */
  o.order = 3;
  CHECK(nas_darts_new(m, train, valid, &o, &t, &err) == NAS_EINVAL);
  CHECK_HAS(err.msg, "order must be 1 or 2");
  o.order = 1;
  /* errors */
  nas_graph *pg = img(1, 8, 8);
  add(pg, "flatten", NULL, 0, NULL, 0);
  nas_model *pm = model(pg, 1);
  CHECK(nas_darts_new(pm, train, valid, &o, &t, &err) == NAS_EINVAL);
  CHECK_HAS(err.msg, "not a supernet");
  nas_model_free(pm);
  nas_graph_free(pg);
  nas_model_free(m);
  nas_graph_free(g);
}

/* CUDA (when a GPU is visible): the modes, the logits' gradient and the toy
 * DARTS run on the device agree with the CPU. */
static void test_cuda(nas_dataset *d, nas_dataset *train, nas_dataset *valid) {
  if (!nas_cuda_available()) {
    printf("test_torch_supernet: no CUDA device, CUDA checks skipped\n");
    return;
  }
  nas_graph *g = classifier();
  nas_model_opts o = nas_model_opts_default();
  o.seed = 3;
  o.device = "cuda";
  nas_model *gm = NULL, *cm = NULL;
  CHECK(nas_model_new(g, &o, &gm, &err) == NAS_OK);
  o.device = "cpu";
  o.memfmt = NAS_MEMFMT_NCHW;
  CHECK(nas_model_new(g, &o, &cm, &err) == NAS_OK);
  if (!gm || !cm) return;
  enum { N = 16 };
  static float x[N * 64];
  int64_t y[N];
  fill_batch(d, N, x, y);
  float og[N * 4], oc[N * 4], gg[6], gc[6];
  double lg = 0, lc = 0;
  for (int mode = NAS_MIX_SOFTMAX; mode <= NAS_MIX_SIGMOID; mode++) {
    if (mode == NAS_MIX_GUMBEL) continue;
    int path[2] = {3, 1};
    CHECK(nas_model_set_path(gm, path, 2, &err) == NAS_OK);
    CHECK(nas_model_set_path(cm, path, 2, &err) == NAS_OK);
    CHECK(nas_model_set_mix_mode(gm, (nas_mix_mode)mode, 1.0, &err) == NAS_OK);
    CHECK(nas_model_set_mix_mode(cm, (nas_mix_mode)mode, 1.0, &err) == NAS_OK);
    CHECK(nas_model_forward(gm, x, N, og, &err) == NAS_OK);
    CHECK(nas_model_forward(cm, x, N, oc, &err) == NAS_OK);
    CHECK(maxdiff(og, oc, N * 4) < 1e-4);
    CHECK(nas_model_arch_grad(gm, x, y, N, gg, 6, &lg, &err) == NAS_OK);
    CHECK(nas_model_arch_grad(cm, x, y, N, gc, 6, &lc, &err) == NAS_OK);
    CHECK(fabs(lg - lc) < 1e-4);
    CHECK(maxdiff(gg, gc, 6) < 1e-4);
  }
  CHECK(nas_model_set_mix_mode(gm, NAS_MIX_GUMBEL, 0.5, &err) == NAS_OK);
  CHECK(nas_model_arch_grad(gm, x, y, N, gg, 6, &lg, &err) == NAS_OK);
  int nz = 0;
  for (int i = 0; i < 6; i++) nz += gg[i] != 0.0f;
  CHECK(nz >= 5);
  CHECK(nas_model_recalibrate_bn(gm, d, 2, 32, 1, &err) == NAS_OK);
  /* the toy DARTS on the device */
  CHECK(nas_model_set_mix_mode(gm, NAS_MIX_SOFTMAX, 1.0, &err) == NAS_OK);
  nas_darts_opts dop = nas_darts_opts_default();
  dop.weights.epochs = 2;
  dop.weights.batch = 32;
  dop.arch_lr = 0.05;
  nas_darts *t = NULL;
  CHECK(nas_darts_new(gm, train, valid, &dop, &t, &err) == NAS_OK);
  nas_train_progress p;
  memset(&p, 0, sizeof p);
  double al = 0;
  int runs = 0;
  while (t && !p.done && runs++ < 50) CHECK(nas_darts_run(t, 0, &p, &al, &err) == NAS_OK);
  CHECK(p.done && isfinite(al) && isfinite(p.loss));
  nas_darts_free(t);
  printf("test_torch_supernet: CUDA checks ran on %s\n", nas_model_device(gm));
  nas_model_free(gm);
  nas_model_free(cm);
  nas_graph_free(g);
}

/* ---- data: class c lights quadrant c of a 1x8x8 image (as test_torch.c) ---- */
#define NS 320
#define IMG 8
static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}
static int write_idx(const char *img_path, const char *lab_path) {
  static unsigned char px[NS * IMG * IMG], lab[NS];
  uint32_t s = 4242;
  for (int i = 0; i < NS; i++) {
    int c = i % 4;
    lab[i] = (unsigned char)c;
    for (int y = 0; y < IMG; y++)
      for (int x = 0; x < IMG; x++) {
        s = s * 1664525u + 1013904223u;
        int v = (int)((s >> 24) % 90);
        if ((y >= IMG / 2) * 2 + (x >= IMG / 2) == c) v += 140;
        px[(i * IMG + y) * IMG + x] = (unsigned char)v;
      }
  }
  unsigned char h[16];
  gzFile f = gzopen(img_path, "wb");
  if (!f) return -1;
  put_be32(h, 0x00000803u);
  put_be32(h + 4, NS);
  put_be32(h + 8, IMG);
  put_be32(h + 12, IMG);
  gzwrite(f, h, 16);
  gzwrite(f, px, sizeof px);
  gzclose(f);
  f = gzopen(lab_path, "wb");
  if (!f) return -1;
  put_be32(h, 0x00000801u);
  put_be32(h + 4, NS);
  gzwrite(f, h, 8);
  gzwrite(f, lab, sizeof lab);
  gzclose(f);
  return 0;
}

int main(void) {
  nas_threads_set(2);
  test_modes();
  const char *t = getenv("NAS_TEST_TMP");
  char ip[512], lp[512];
  snprintf(ip, sizeof ip, "%s/test_torch_supernet-images-idx3-ubyte.gz", t && *t ? t : "/tmp");
  snprintf(lp, sizeof lp, "%s/test_torch_supernet-labels-idx1-ubyte.gz", t && *t ? t : "/tmp");
  CHECK(write_idx(ip, lp) == 0);
  nas_dataset *d = nas_data_load_idx(ip, lp, &err);
  CHECK(d != NULL);
  if (d) {
    test_grads_and_sharing(d);
    nas_dataset *tr = NULL, *va = NULL;
    CHECK(nas_data_split(d, 160, 1, &tr, &va, &err) == NAS_OK);
    if (tr && va) test_darts(tr, va);
    if (tr && va) test_cuda(d, tr, va);
    nas_data_free(tr);
    nas_data_free(va);
    nas_data_free(d);
  }
  remove(ip);
  remove(lp);
  return CHECK_DONE("test_torch_supernet");
}
