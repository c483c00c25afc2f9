/* Tests of the zero-cost proxies (engine/torch/proxy.cpp) through the C ABI:
 * each proxy on a tiny net against a value computed here by hand from the
 * net's weights, the model left bit-for-bit as it was after every proxy, and
 * argument errors.
 *
 * Reading the weights: the model's weights are drawn from its seed in node
 * order (nas_model_new), so a second graph with the same layers in the same
 * order and shapes, built with the same seed, has the same weights. Feeding
 * its layer 2 from the input (d == h) and taking layer 1 or layer 2 as the
 * output exposes each matrix through nas_model_forward on basis vectors. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nas.h"

#define CHECK_NEAR(a, b, rel)                                                           \
  do {                                                                                  \
    double check_x_ = (a), check_y_ = (b);                                              \
    check_count++;                                                                      \
    if (!(fabs(check_x_ - check_y_) <= (rel) * fmax(1.0, fabs(check_y_)))) {            \
      check_failed++;                                                                   \
      fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.10g, %s = %.10g\n", __FILE__, \
              __LINE__, #a, check_x_, #b, check_y_);                                    \
    }                                                                                   \
  } while (0)

static const char *const ALL[] = {"synflow", "naswot", "grad_norm", "snip",
                                  "fisher",  "jacob_cov", "params",  "flops"};
#define NALL 8

static int lin(nas_graph *g, int from, int out, int bias) {
  nas_attr a[] = {NAS_ATTR_INT("out", out), NAS_ATTR_INT("bias", bias)};
  int in[1] = {from};
  nas_error err;
  int id = nas_graph_add(g, "linear", in, 1, a, 2, &err);
  if (id < 0) fprintf(stderr, "linear: %s\n", err.msg);
  return id;
}

static int op(nas_graph *g, const char *name, int from) {
  int in[1] = {from};
  nas_error err;
  int id = nas_graph_add(g, name, in, 1, NULL, 0, &err);
  if (id < 0) fprintf(stderr, "%s: %s\n", name, err.msg);
  return id;
}

static nas_graph *vec_graph(int64_t d) { return nas_graph_new(1, &d, NULL); }

static nas_model *model(const nas_graph *g, uint64_t seed) {
  nas_model_opts o = nas_model_opts_default();
  o.seed = seed;
  nas_model *m = NULL;
  nas_error err;
  if (nas_model_new(g, &o, &m, &err) != NAS_OK) fprintf(stderr, "nas_model_new: %s\n", err.msg);
  return m;
}

static double proxy(nas_model *m, const char *name, const float *x, const int64_t *y, int n) {
  double s = NAN;
  nas_error err;
  if (nas_proxy_compute(m, name, x, y, n, &s, &err) != NAS_OK) {
    fprintf(stderr, "proxy %s: %s\n", name, err.msg);
    return NAN;
  }
  return s;
}

/* W (o x d, row-major) and b (o) of a model computing W x + b on {d}. */
static void affine_of(nas_model *m, int d, int o, double *W, double *b) {
  float *x = calloc((size_t)d * (d + 1), sizeof(float));
  float *out = calloc((size_t)o * (d + 1), sizeof(float));
  for (int j = 0; j < d; j++) x[(j + 1) * d + j] = 1.0f; /* row 0: zeros, then e_j */
  nas_error err;
  if (nas_model_forward(m, x, d + 1, out, &err) != NAS_OK) fprintf(stderr, "forward: %s\n", err.msg);
  for (int k = 0; k < o; k++) {
    if (b) b[k] = out[k];
    for (int j = 0; j < d; j++) W[k * d + j] = (double)out[(j + 1) * o + k] - out[k];
  }
  free(x);
  free(out);
}

/* The weights of "x{d} -> linear(h) [-> bn -> relu] -> linear(o)" for a seed,
 * d == h: W1 (h x d), b1, W2 (o x h), b2 (biases when bias). */
static void two_layer_weights(int d, int o, int bias, int bnrelu, uint64_t seed, double *W1, double *b1,
                              double *W2, double *b2) {
  for (int which = 1; which <= 2; which++) {
    nas_graph *g = vec_graph(d);
    int n1 = lin(g, 0, d, bias);
    int last = n1;
    if (bnrelu) last = op(g, "relu", op(g, "bn", n1));
    (void)last;
    int n2 = lin(g, 0, o, bias); /* fed from the input: exposes W2 */
    nas_error err;
    nas_graph_set_output(g, which == 1 ? n1 : n2, &err);
    nas_model *m = model(g, seed);
    if (which == 1) affine_of(m, d, d, W1, bias ? b1 : NULL);
    else affine_of(m, d, o, W2, bias ? b2 : NULL);
    nas_model_free(m);
    nas_graph_free(g);
  }
}

static nas_graph *two_layer(int d, int o, int bias, int bnrelu) {
  nas_graph *g = vec_graph(d);
  int last = lin(g, 0, d, bias);
  if (bnrelu) last = op(g, "relu", op(g, "bn", last));
  lin(g, last, o, bias);
  return g;
}

/* synflow = sum |theta * dR/dtheta| with |theta|, R = sum(net(ones)), BN removed.
 * No bias: R = 1'|W2||W1|1 is bilinear, so each layer's sum is R: 2R. */
static void test_synflow(void) {
  enum { D = 3, O = 2 };
  double W1[D * D], W2[O * D], b1[D], b2[O];
  for (int variant = 0; variant < 2; variant++) {
    const int bias = variant, bnrelu = variant;
    two_layer_weights(D, O, bias, bnrelu, 7, W1, b1, W2, b2);
    nas_graph *g = two_layer(D, O, bias, bnrelu);
    nas_model *m = model(g, 7);
    if (!bias) { /* the extraction is right: the net is W2 W1 */
      double M[O * D];
      affine_of(m, D, O, M, NULL);
      for (int k = 0; k < O; k++)
        for (int j = 0; j < D; j++) {
          double s = 0;
          for (int i = 0; i < D; i++) s += W2[k * D + i] * W1[i * D + j];
          CHECK_NEAR(M[k * D + j], s, 1e-5);
        }
    }
    /* u = |W1| 1 + |b1| (the hidden layer on ones, BN removed, relu of >= 0),
     * v = 1'|W2| (dR/du); score = sum_ij |W1_ij| v_i + sum_ki |W2_ki| u_i */
    double u[D], v[D], expect = 0;
    for (int i = 0; i < D; i++) {
      u[i] = bias ? fabs(b1[i]) : 0;
      v[i] = 0;
      for (int j = 0; j < D; j++) u[i] += fabs(W1[i * D + j]);
      for (int k = 0; k < O; k++) v[i] += fabs(W2[k * D + i]);
    }
    for (int i = 0; i < D; i++) expect += u[i] * v[i];                             /* layer 2 */
    for (int i = 0; i < D; i++)
      for (int j = 0; j < D; j++) expect += fabs(W1[i * D + j]) * v[i];           /* layer 1 */
    double by_hand = 0; /* the no-bias closed form 2 * sum |W2_ki||W1_ij| */
    for (int k = 0; k < O; k++)
      for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) by_hand += 2 * fabs(W2[k * D + i]) * fabs(W1[i * D + j]);
    if (!bias) CHECK_NEAR(expect, by_hand, 1e-12);
    /* synflow reads no data: x may be NULL */
    CHECK_NEAR(proxy(m, "synflow", NULL, NULL, 0), expect, 1e-6);
    nas_model_free(m);
    nas_graph_free(g);
  }
}

/* One linear layer z = W x + b, L = mean cross-entropy:
 * dL/dz = (softmax(z) - onehot(y)) / n, dL/dW = sum_s dz_s x_s'. */
static void test_linear_grads(void) {
  enum { D = 5, O = 3, N = 4 };
  nas_graph *g = vec_graph(D);
  lin(g, 0, O, 1);
  nas_model *m = model(g, 11);
  double W[O * D], b[O];
  affine_of(m, D, O, W, b);
  float x[N * D];
  int64_t y[N] = {0, 2, 1, 2};
  for (int i = 0; i < N * D; i++) x[i] = (float)sin(0.7 * i + 0.3) * 1.5f;
  double G[O * D] = {0}, fisher = 0;
  double dz[N][O], z[N][O];
  for (int s = 0; s < N; s++) {
    double mx = -1e300, den = 0;
    for (int k = 0; k < O; k++) {
      z[s][k] = b[k];
      for (int j = 0; j < D; j++) z[s][k] += W[k * D + j] * x[s * D + j];
      if (z[s][k] > mx) mx = z[s][k];
    }
    for (int k = 0; k < O; k++) den += exp(z[s][k] - mx);
    for (int k = 0; k < O; k++) dz[s][k] = (exp(z[s][k] - mx) / den - (y[s] == k)) / N;
    for (int k = 0; k < O; k++)
      for (int j = 0; j < D; j++) G[k * D + j] += dz[s][k] * x[s * D + j];
  }
  double norm = 0, snip = 0;
  for (int i = 0; i < O * D; i++) {
    norm += G[i] * G[i];
    snip += fabs(W[i] * G[i]);
  }
  for (int k = 0; k < O; k++) {
    double mean = 0;
    for (int s = 0; s < N; s++) mean += pow(z[s][k] * dz[s][k], 2) / N;
    fisher += 0.5 * mean;
  }
  CHECK_NEAR(proxy(m, "grad_norm", x, y, N), sqrt(norm), 1e-5);
  CHECK_NEAR(proxy(m, "snip", x, y, N), snip, 1e-5);
  CHECK_NEAR(proxy(m, "fisher", x, y, N), fisher, 1e-4);
  /* a linear net's input gradient is W'1 for every sample: the correlation
   * matrix is all ones, eigenvalues N, 0, ..., 0 */
  const double k = 1e-5;
  double jc = -((log(N + k) + 1 / (N + k)) + (N - 1) * (log(k) + 1 / k));
  CHECK_NEAR(proxy(m, "jacob_cov", x, NULL, N), jc, 1e-6);
  CHECK_EQ((long long)proxy(m, "params", NULL, NULL, 0), O * D + O);
  CHECK_EQ((long long)proxy(m, "flops", NULL, NULL, 0), nas_graph_flops(g));
  CHECK_EQ((long long)proxy(m, "params", NULL, NULL, 0), nas_graph_params(g));
  nas_model_free(m);
  nas_graph_free(g);
}

/* jacob_cov with two samples through a ReLU: J_s = W1' diag(W1 x_s > 0) W2' 1;
 * the 2x2 correlation matrix [[1, r], [r, 1]] has eigenvalues 1 - r, 1 + r. */
static void test_jacob_cov_relu(void) {
  enum { D = 3, O = 2 };
  double W1[D * D], W2[O * D];
  nas_graph *g = vec_graph(D);
  int a = lin(g, 0, D, 0);
  lin(g, op(g, "relu", a), O, 0);
  /* weights: same layers, same order, relu has none */
  for (int which = 1; which <= 2; which++) {
    nas_graph *h = vec_graph(D);
    int n1 = lin(h, 0, D, 0);
    op(h, "relu", n1);
    int n3 = lin(h, 0, O, 0);
    nas_error err;
    nas_graph_set_output(h, which == 1 ? n1 : n3, &err);
    nas_model *mh = model(h, 3);
    if (which == 1) affine_of(mh, D, D, W1, NULL);
    else affine_of(mh, D, O, W2, NULL);
    nas_model_free(mh);
    nas_graph_free(h);
  }
  nas_model *m = model(g, 3);
  const float x[2 * D] = {1.0f, 0.5f, -0.3f, -0.7f, 0.2f, 0.9f};
  double J[2][D], v[D];
  for (int i = 0; i < D; i++) {
    v[i] = 0;
    for (int k = 0; k < O; k++) v[i] += W2[k * D + i];
  }
  for (int s = 0; s < 2; s++)
    for (int j = 0; j < D; j++) {
      J[s][j] = 0;
      for (int i = 0; i < D; i++) {
        double pre = 0;
        for (int t = 0; t < D; t++) pre += W1[i * D + t] * x[s * D + t];
        if (pre > 0) J[s][j] += W1[i * D + j] * v[i];
      }
    }
  double mu[2] = {0, 0}, c[2][D], cov[2][2] = {{0, 0}, {0, 0}};
  for (int s = 0; s < 2; s++) {
    for (int j = 0; j < D; j++) mu[s] += J[s][j] / D;
    for (int j = 0; j < D; j++) c[s][j] = J[s][j] - mu[s];
  }
  for (int s = 0; s < 2; s++)
    for (int t = 0; t < 2; t++)
      for (int j = 0; j < D; j++) cov[s][t] += c[s][j] * c[t][j];
  const double r = cov[0][1] / sqrt(cov[0][0] * cov[1][1]), k = 1e-5;
  const double expect = -(log(1 - r + k) + 1 / (1 - r + k) + log(1 + r + k) + 1 / (1 + r + k));
  CHECK(isfinite(expect));
  CHECK_NEAR(proxy(m, "jacob_cov", x, NULL, 2), expect, 1e-4);
  nas_model_free(m);
  nas_graph_free(g);
}

/* naswot: a ReLU right on the input has the codes x > 0, chosen here. */
static void test_naswot(void) {
  enum { D = 4, N = 3 };
  const float x[N * D] = {1, 1, -1, -1, /**/ 2, -1, 3, -2, /**/ 1, 1, 1, 1};
  /* agreements: (1,2) units 0,3 -> 2; (1,3) units 0,1 -> 2; (2,3) units 0,2 -> 2;
   * K = [[4,2,2],[2,4,2],[2,2,4]], det = 32; two ReLUs with the same codes: 2K, det 256 */
  for (int relus = 1; relus <= 2; relus++) {
    nas_graph *g = vec_graph(D);
    int last = op(g, "relu", 0);
    if (relus == 2) last = op(g, "relu", last);
    lin(g, last, 3, 1);
    nas_model *m = model(g, 1);
    CHECK_NEAR(proxy(m, "naswot", x, NULL, N), relus == 1 ? log(32.0) : log(256.0), 1e-9);
    /* two identical samples: K is singular, log|det| = -inf */
    float x2[N * D];
    memcpy(x2, x, sizeof x2);
    memcpy(x2 + D, x, sizeof(float) * D);
    double s = 0;
    nas_error err;
    CHECK_EQ(nas_proxy_compute(m, "naswot", x2, NULL, N, &s, &err), NAS_ENUMERIC);
    CHECK(isinf(s) && s < 0);
    CHECK_HAS(err.msg, "singular");
    nas_model_free(m);
    nas_graph_free(g);
  }
  /* no ReLU: an argument error, not a score */
  nas_graph *g = vec_graph(D);
  lin(g, 0, 3, 1);
  nas_model *m = model(g, 1);
  double s;
  nas_error err;
  CHECK_EQ(nas_proxy_compute(m, "naswot", x, NULL, N, &s, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "relu");
  nas_model_free(m);
  nas_graph_free(g);
}

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

/* A small conv net with BN, sep_conv, dropout and a skip: every proxy gives a
 * finite, repeatable score and leaves weights and BN statistics bit-identical. */
static void test_unchanged(void) {
  int64_t in[3] = {1, 8, 8};
  nas_error err;
  nas_graph *g = nas_graph_new(3, in, &err);
  nas_attr c4[] = {NAS_ATTR_INT("out", 4), NAS_ATTR_INT("k", 3)};
  int c = nas_graph_add(g, "conv", NULL, 0, c4, 2, &err);
  int b = op(g, "bn", c);
  int r = op(g, "relu", b);
  int s = nas_graph_add(g, "sep_conv", &r, 1, c4, 2, &err);
  int b2 = op(g, "bn", s);
  int add_in[2] = {b2, r};
  int a = nas_graph_add(g, "add", add_in, 2, NULL, 0, &err);
  int r2 = op(g, "relu", a);
  int dr = op(g, "dropout", r2);
  int gp = op(g, "gap", dr);
  lin(g, gp, 10, 1);
  nas_model *m = model(g, 5);
  enum { N = 6 };
  float x[N * 64], out0[N * 10], out1[N * 10];
  int64_t y[N];
  for (int i = 0; i < N * 64; i++) x[i] = (float)cos(0.37 * i);
  for (int i = 0; i < N; i++) y[i] = (i * 3) % 10;
  /* train a few steps first? Not needed: BN running stats are at their init,
   * and eval-mode forward would show any update of them. */
  CHECK_EQ(nas_model_forward(m, x, N, out0, &err), NAS_OK);
  const char *tmp = getenv("NAS_TEST_TMP");
  char p0[512], p1[512];
  snprintf(p0, sizeof p0, "%s/proxy_before.pt", tmp && *tmp ? tmp : ".");
  snprintf(p1, sizeof p1, "%s/proxy_after.pt", tmp && *tmp ? tmp : ".");
  CHECK_EQ(nas_model_save(m, p0, &err), NAS_OK);
  for (int i = 0; i < NALL; i++) {
    double s1 = proxy(m, ALL[i], x, y, N), s2 = proxy(m, ALL[i], x, y, N);
    if (!isfinite(s1)) fprintf(stderr, "%s: %g\n", ALL[i], s1);
    CHECK(isfinite(s1));
    CHECK(s1 == s2); /* deterministic */
    CHECK_EQ(nas_model_forward(m, x, N, out1, &err), NAS_OK);
    CHECK(memcmp(out0, out1, sizeof out0) == 0);
    CHECK_EQ(nas_model_save(m, p1, &err), NAS_OK);
    size_t l0 = 0, l1 = 0;
    unsigned char *f0 = read_all(p0, &l0), *f1 = read_all(p1, &l1);
    CHECK(f0 && f1 && l0 == l1 && memcmp(f0, f1, l0) == 0);
    free(f0);
    free(f1);
  }
  /* a training run after the proxies still works (no gradients were left on
   * the parameters that could leak into the first step) */
  nas_model_free(m);
  nas_graph_free(g);
  remove(p0);
  remove(p1);
}

static void test_errors(void) {
  nas_graph *g = vec_graph(4);
  lin(g, 0, 3, 1);
  nas_model *m = model(g, 1);
  float x[8] = {0};
  int64_t y[2] = {0, 1}, bad[2] = {0, 3};
  double s = 0;
  nas_error err;
  CHECK_EQ(nas_proxy_compute(m, "synflw", x, y, 2, &s, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "unknown proxy 'synflw'");
  CHECK_HAS(err.msg, "jacob_cov");
  CHECK_EQ(nas_proxy_compute(m, NULL, x, y, 2, &s, &err), NAS_EINVAL);
  CHECK_EQ(nas_proxy_compute(NULL, "snip", x, y, 2, &s, &err), NAS_EINVAL);
  CHECK_EQ(nas_proxy_compute(m, "snip", x, y, 2, NULL, &err), NAS_EINVAL);
  CHECK_EQ(nas_proxy_compute(m, "snip", x, NULL, 2, &s, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "labels");
  CHECK_EQ(nas_proxy_compute(m, "fisher", x, bad, 2, &s, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "label 1 is 3");
  CHECK_EQ(nas_proxy_compute(m, "naswot", NULL, NULL, 2, &s, &err), NAS_EINVAL);
  CHECK_EQ(nas_proxy_compute(m, "grad_norm", x, y, 0, &s, &err), NAS_EINVAL);
  CHECK_EQ(nas_proxy_count(), NALL);
  for (int i = 0; i < NALL; i++) CHECK(strcmp(nas_proxy_name(i), ALL[i]) == 0);
  CHECK(nas_proxy_name(NALL) == NULL && nas_proxy_name(-1) == NULL);
  CHECK_EQ(nas_proxy_uses_labels("snip"), 1);
  CHECK_EQ(nas_proxy_uses_labels("synflow"), 0);
  CHECK_EQ(nas_proxy_uses_labels("nope"), -1);
  nas_model_free(m);
  nas_graph_free(g);
  /* a {C,H,W} output has no class scores for the loss-based proxies */
  int64_t in[3] = {1, 4, 4};
  g = nas_graph_new(3, in, &err);
  nas_attr c2[] = {NAS_ATTR_INT("out", 2), NAS_ATTR_INT("k", 3)};
  nas_graph_add(g, "conv", NULL, 0, c2, 2, &err);
  m = model(g, 1);
  float xi[2 * 16] = {0};
  CHECK_EQ(nas_proxy_compute(m, "grad_norm", xi, y, 2, &s, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "{F} output");
  CHECK(isfinite(proxy(m, "synflow", NULL, NULL, 0)));
  nas_model_free(m);
  nas_graph_free(g);
}

/* The proxies run the model's one walk with dropout off: a dropout node
 * changes no score (its net has the same weights: dropout has none), also
 * with the model in training mode. A supernet is refused. */
static void test_dropout_and_supernet(void) {
  enum { D = 6, H = 32, O = 3, N = 4 };
  float x[N * D];
  for (int i = 0; i < N * D; i++) x[i] = (float)sin(1.3 * i * i + 0.1 * i);
  int64_t y[N] = {0, 1, 2, 1};
  nas_graph *a = vec_graph(D), *b = vec_graph(D);
  int r = op(a, "relu", lin(a, 0, H, 1));
  lin(a, r, O, 1);
  r = op(b, "relu", lin(b, 0, H, 1));
  nas_attr p[] = {NAS_ATTR_FLOAT("p", 0.9)};
  int in[1] = {r};
  nas_error err;
  int dr = nas_graph_add(b, "dropout", in, 1, p, 1, &err);
  CHECK(dr > 0);
  lin(b, dr, O, 1);
  nas_model *ma = model(a, 11), *mb = model(b, 11);
  for (int i = 0; i < NALL; i++) {
    const int labels = nas_proxy_uses_labels(ALL[i]);
    const double sa = proxy(ma, ALL[i], x, labels ? y : NULL, N);
    const double sb = proxy(mb, ALL[i], x, labels ? y : NULL, N);
    if (strcmp(ALL[i], "params") == 0 || strcmp(ALL[i], "flops") == 0) continue;
    CHECK(isfinite(sa));
    CHECK(sa == sb); /* bit for bit */
  }
  nas_model_free(ma);
  nas_model_free(mb);
  nas_graph_free(a);
  nas_graph_free(b);
  /* a supernet: one decision between two linear layers */
  nas_graph *g = vec_graph(D);
  int c0 = lin(g, 0, O, 1), c1 = lin(g, 0, O, 1);
  nas_attr dec[] = {NAS_ATTR_INT("decision", 0)};
  int cand[2] = {c0, c1};
  CHECK(nas_graph_add(g, "mixed", cand, 2, dec, 1, &err) > 0);
  nas_model *m = model(g, 1);
  double s = 0;
  CHECK_EQ(nas_proxy_compute(m, "synflow", NULL, NULL, 0, &s, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "supernet");
  CHECK_EQ(nas_proxy_compute(m, "params", NULL, NULL, 0, &s, &err), NAS_OK);
  nas_model_free(m);
  nas_graph_free(g);
}

int main(void) {
  nas_threads_set(2);
  test_synflow();
  test_linear_grads();
  test_jacob_cov_relu();
  test_naswot();
  test_unchanged();
  test_errors();
  test_dropout_and_supernet();
  return CHECK_DONE("test_torch_proxy");
}
