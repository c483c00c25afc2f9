/* Tests of the LSTM policy controller (engine/torch/controller.cpp) through
 * the C ABI: option and argument errors, sampling by inverse CDF from the
 * caller's uniforms, determinism (bit-identical parameters after the same
 * calls), the baseline, and learning a rewarded choice per decision. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nas.h"

static nas_controller *make(const int *sizes, int n, uint64_t seed, double lr) {
  nas_controller_opts o = nas_controller_opts_default();
  o.seed = seed;
  o.lr = lr;
  nas_controller *c = NULL;
  nas_error err;
  if (nas_controller_new(sizes, n, &o, &c, &err) != NAS_OK) {
    fprintf(stderr, "nas_controller_new: %s\n", err.msg);
    return NULL;
  }
  return c;
}

/* Parameters as a malloc'd float array; *n gets the count. */
static float *params(const nas_controller *c, int64_t *n) {
  *n = nas_controller_param_count(c);
  float *p = (float *)malloc(sizeof(float) * (size_t)(*n > 0 ? *n : 1));
  nas_error err;
  if (nas_controller_params(c, p, *n, &err) != NAS_OK) fprintf(stderr, "params: %s\n", err.msg);
  return p;
}

static void test_errors(void) {
  nas_error err;
  nas_controller *c = (nas_controller *)1;
  int sizes[3] = {3, 0, 2};
  CHECK_EQ(nas_controller_new(sizes, 0, NULL, &c, &err), NAS_EINVAL);
  CHECK(c == NULL);
  CHECK_HAS(err.msg, "at least one decision");
  CHECK_EQ(nas_controller_new(NULL, 3, NULL, &c, &err), NAS_EINVAL);
  CHECK_EQ(nas_controller_new(sizes, 3, NULL, &c, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "decision 1 has 0 choices");
  sizes[1] = -4;
  CHECK_EQ(nas_controller_new(sizes, 3, NULL, &c, &err), NAS_EINVAL);
  sizes[1] = 4;
  CHECK_EQ(nas_controller_new(sizes, 3, NULL, NULL, &err), NAS_EINVAL);

  struct { const char *what; nas_controller_opts o; } bad[6];
  for (int i = 0; i < 6; i++) bad[i].o = nas_controller_opts_default();
  bad[0].what = "hidden"; bad[0].o.hidden = 0;
  bad[1].what = "lr"; bad[1].o.lr = 0;
  bad[2].what = "entropy"; bad[2].o.entropy = -1;
  bad[3].what = "temperature"; bad[3].o.temperature = 0;
  bad[4].what = "tanh_c"; bad[4].o.tanh_c = -0.5;
  bad[5].what = "baseline_decay"; bad[5].o.baseline_decay = 1.0;
  for (int i = 0; i < 6; i++) {
    CHECK_EQ(nas_controller_new(sizes, 3, &bad[i].o, &c, &err), NAS_EINVAL);
    CHECK_HAS(err.msg, bad[i].what);
  }

  c = make(sizes, 3, 1, 1e-3);
  CHECK(c != NULL);
  if (!c) return;
  CHECK_EQ(nas_controller_decisions(c), 3);
  CHECK_EQ(nas_controller_size(c, 1), 4);
  CHECK_EQ(nas_controller_size(c, 3), -1);
  double u[3] = {0.5, 1.0, 0.2};
  int ch[3];
  CHECK_EQ(nas_controller_sample(c, u, ch, NULL, NULL, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "uniform 1");
  u[1] = -0.1;
  CHECK_EQ(nas_controller_sample(c, u, ch, NULL, NULL, &err), NAS_EINVAL);
  u[1] = NAN;
  CHECK_EQ(nas_controller_sample(c, u, ch, NULL, NULL, &err), NAS_EINVAL);
  int good[3] = {2, 3, 1}, badc[3] = {2, 4, 1};
  CHECK_EQ(nas_controller_update(c, good, 2, 1.0, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "3 decisions");
  CHECK_EQ(nas_controller_update(c, badc, 3, 1.0, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "choice 4 of decision 1");
  CHECK_EQ(nas_controller_update(c, good, 3, NAN, &err), NAS_EINVAL);
  CHECK_EQ(nas_controller_update(c, good, 3, INFINITY, &err), NAS_EINVAL);
  CHECK_EQ(nas_controller_updates(c), 0);
  double p[4];
  CHECK_EQ(nas_controller_probs(c, good, 3, p, &err), NAS_EINVAL);
  CHECK_EQ(nas_controller_probs(c, good, -1, p, &err), NAS_EINVAL);
  CHECK_EQ(nas_controller_probs(c, badc, 2, p, &err), NAS_EINVAL);
  float f[4];
  CHECK_EQ(nas_controller_params(c, f, 4, &err), NAS_EINVAL);
  CHECK_HAS(err.msg, "room");
  nas_controller_free(c);
  nas_controller_free(NULL);
}

/* Sampling is the inverse CDF of probs(prefix), decision by decision. */
static void test_sampling(void) {
  int sizes[6] = {5, 5, 1, 3, 5, 2};
  nas_controller *a = make(sizes, 6, 7, 1e-3), *b = make(sizes, 6, 7, 1e-3);
  CHECK(a && b);
  if (!a || !b) return;
  nas_rng r;
  nas_rng_seed(&r, 99);
  nas_error err;
  int mismatches = 0, seen[5] = {0};
  for (int t = 0; t < 200; t++) {
    double u[6];
    for (int i = 0; i < 6; i++) u[i] = nas_rng_uniform(&r);
    if (t == 0) u[0] = 0.0;
    int ca[6], cb[6];
    double lpa, enta, lpb, entb;
    CHECK_EQ(nas_controller_sample(a, u, ca, &lpa, &enta, &err), NAS_OK);
    CHECK_EQ(nas_controller_sample(b, u, cb, &lpb, &entb, &err), NAS_OK);
    CHECK(memcmp(ca, cb, sizeof ca) == 0);
    CHECK(lpa == lpb && enta == entb);
    CHECK(lpa < 0 && enta > 0);
    seen[ca[0]]++;
    CHECK_EQ(ca[2], 0); /* a single choice */
    /* replay by hand from probs */
    double lp = 0;
    for (int i = 0; i < 6; i++) {
      double p[5], cdf = 0;
      CHECK_EQ(nas_controller_probs(a, ca, i, p, &err), NAS_OK);
      int pick = sizes[i] - 1;
      for (int j = 0; j < sizes[i]; j++) {
        cdf += p[j];
        if (u[i] < cdf) { pick = j; break; }
      }
      if (pick != ca[i]) mismatches++;
      lp += log(p[ca[i]]);
    }
    CHECK(fabs(lp - lpa) < 1e-4);
  }
  CHECK_EQ(mismatches, 0);
  for (int j = 0; j < 5; j++) CHECK(seen[j] > 10); /* near-uniform at init */
  /* a controller over one decision of one choice */
  int one = 1;
  nas_controller *c = make(&one, 1, 0, 1e-3);
  double u0 = 0.999, lp = 1, ent = 1;
  int ch = -1;
  CHECK_EQ(nas_controller_sample(c, &u0, &ch, &lp, &ent, &err), NAS_OK);
  CHECK_EQ(ch, 0);
  CHECK(lp == 0 && fabs(ent) < 1e-7);
  CHECK_EQ(nas_controller_update(c, &ch, 1, 1.0, &err), NAS_OK);
  nas_controller_free(c);
  nas_controller_free(a);
  nas_controller_free(b);
}

/* The same seed and calls give bit-identical parameters; another seed does not. */
static void test_determinism(void) {
  int sizes[4] = {4, 3, 5, 2};
  nas_controller *a = make(sizes, 4, 3, 0.01), *b = make(sizes, 4, 3, 0.01), *c = make(sizes, 4, 4, 0.01);
  CHECK(a && b && c);
  if (!a || !b || !c) return;
  int64_t na, nb, nc;
  float *pa0 = params(a, &na), *pc0 = params(c, &nc);
  CHECK(na > 0 && na == nc);
  CHECK(memcmp(pa0, pc0, sizeof(float) * (size_t)na) != 0);
  nas_rng r;
  nas_rng_seed(&r, 5);
  nas_error err;
  for (int t = 0; t < 30; t++) {
    double u[4];
    int ca[4], cb[4];
    for (int i = 0; i < 4; i++) u[i] = nas_rng_uniform(&r);
    CHECK_EQ(nas_controller_sample(a, u, ca, NULL, NULL, &err), NAS_OK);
    CHECK_EQ(nas_controller_sample(b, u, cb, NULL, NULL, &err), NAS_OK);
    CHECK(memcmp(ca, cb, sizeof ca) == 0);
    double reward = (ca[0] == 1) + 0.25 * ca[2];
    CHECK_EQ(nas_controller_update(a, ca, 4, reward, &err), NAS_OK);
    CHECK_EQ(nas_controller_update(b, cb, 4, reward, &err), NAS_OK);
    if (t == 0) CHECK(nas_controller_baseline(a) == reward); /* bias-corrected EMA */
  }
  CHECK_EQ(nas_controller_updates(a), 30);
  CHECK(nas_controller_baseline(a) == nas_controller_baseline(b));
  float *pa = params(a, &na), *pb = params(b, &nb);
  CHECK_EQ(na, nb);
  CHECK(memcmp(pa, pb, sizeof(float) * (size_t)na) == 0);
  CHECK(memcmp(pa, pa0, sizeof(float) * (size_t)na) != 0);
  free(pa0); free(pc0); free(pa); free(pb);
  nas_controller_free(a);
  nas_controller_free(b);
  nas_controller_free(c);
}

/* REINFORCE moves probability toward the rewarded choice of each decision. */
static void test_learning(void) {
  enum { N = 6, K = 5 };
  int sizes[N] = {K, K, K, K, K, K}, target[N] = {1, 4, 0, 2, 3, 1};
  nas_controller *c = make(sizes, N, 11, 0.02);
  CHECK(c != NULL);
  if (!c) return;
  nas_error err;
  double p0[K];
  CHECK_EQ(nas_controller_probs(c, target, 3, p0, &err), NAS_OK);
  nas_rng r;
  nas_rng_seed(&r, 1);
  for (int t = 0; t < 300; t++) {
    double u[N];
    int ch[N];
    for (int i = 0; i < N; i++) u[i] = nas_rng_uniform(&r);
    CHECK_EQ(nas_controller_sample(c, u, ch, NULL, NULL, &err), NAS_OK);
    double reward = 0;
    for (int i = 0; i < N; i++) reward += ch[i] == target[i];
    CHECK_EQ(nas_controller_update(c, ch, N, reward / N, &err), NAS_OK);
  }
  double worst = 1;
  for (int k = 0; k < N; k++) {
    double p[K];
    CHECK_EQ(nas_controller_probs(c, target, k, p, &err), NAS_OK);
    if (p[target[k]] < worst) worst = p[target[k]];
  }
  printf("learning: p(target) of decision 3 at init %.3f; min over decisions after 300 updates %.3f\n",
         p0[target[3]], worst);
  CHECK(worst > 0.8);
  nas_controller_free(c);
}

int main(void) {
  test_errors();
  test_sampling();
  test_determinism();
  test_learning();
  return CHECK_DONE("test_torch_controller");
}
