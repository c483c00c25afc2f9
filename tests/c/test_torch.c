/* Tests of engine/torch through the C ABI: module building for every op,
 * parameter counts against the IR, DAG forward shapes, determinism, the
 * trainer (optimizers, schedules, steps, fraction, NaN, interrupt),
 * evaluation, save/load, devices, latency and the memory-format choice. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "nas.h"

/* ---- helpers -------------------------------------------------------------- */

static char tmpdir[400];

static void tmp_path(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* Synthetic 4-class problem on 1x8x8 images: class c lights quadrant c. */
#define NS 320
#define IMG 8
static int write_idx(const char *img_path, const char *lab_path) {
  static unsigned char px[NS * IMG * IMG], lab[NS];
  uint32_t s = 12345;
  for (int i = 0; i < NS; i++) {
    int c = i % 4;
    lab[i] = (unsigned char)c;
    for (int y = 0; y < IMG; y++)
      for (int x = 0; x < IMG; x++) {
        s = s * 1664525u + 1013904223u;
        int v = (int)((s >> 24) % 90);
        int q = (y >= IMG / 2) * 2 + (x >= IMG / 2);
        if (q == c) v += 140;
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

static nas_graph *g_new3(int64_t c, int64_t h, int64_t w) {
  int64_t d[3] = {c, h, w};
  nas_error err;
  nas_graph *g = nas_graph_new(3, d, &err);
  if (!g) fprintf(stderr, "nas_graph_new: %s\n", err.msg);
  return g;
}

static nas_graph *g_new1(int64_t f) {
  int64_t d[1] = {f};
  nas_error err;
  nas_graph *g = nas_graph_new(1, d, &err);
  if (!g) fprintf(stderr, "nas_graph_new: %s\n", err.msg);
  return g;
}

/* adds a node; -1 on error (printed) */
static int add(nas_graph *g, const char *op, const int *in, int nin, const nas_attr *a, int na) {
  nas_error err;
  int id = nas_graph_add(g, op, in, nin, a, na, &err);
  if (id < 0) fprintf(stderr, "nas_graph_add(%s): %s\n", op, err.msg);
  return id;
}

static nas_model *model(const nas_graph *g, uint64_t seed, nas_memfmt fmt) {
  nas_model_opts o = nas_model_opts_default();
  o.seed = seed;
  o.memfmt = fmt;
  nas_model *m = NULL;
  nas_error err;
  if (nas_model_new(g, &o, &m, &err) != NAS_OK) fprintf(stderr, "nas_model_new: %s\n", err.msg);
  return m;
}

static int64_t numel(const nas_graph *g, int node) {
  int64_t d[NAS_MAX_DIMS];
  int nd = nas_graph_node_shape(g, node, d);
  int64_t p = 1;
  for (int i = 0; i < nd; i++) p *= d[i];
  return p;
}

static void fill_input(float *x, int64_t n, uint32_t seed) {
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
}

/* params of model(g) == nas_graph_params(g) */
static void check_params(nas_graph *g, const char *what) {
  nas_model *m = model(g, 1, NAS_MEMFMT_NCHW);
  CHECK(m != NULL);
  if (!m) return;
  int64_t a = nas_graph_params(g), b = nas_model_param_count(m);
  if (a != b) fprintf(stderr, "params mismatch for %s: graph %lld, libtorch %lld\n", what, (long long)a, (long long)b);
  CHECK_EQ(a, b);
  nas_model_free(m);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_param_counts(void) {
  struct {
    const char *op;
    nas_attr a[4];
    int na;
  } convs[] = {
      {"conv", {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3)}, 2},
      {"conv", {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3), NAS_ATTR_INT("bias", 0)}, 3},
      {"conv", {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3), NAS_ATTR_INT("groups", 2)}, 3},
      {"conv", {NAS_ATTR_INT("out", 6), NAS_ATTR_INT("k", 5), NAS_ATTR_INT("stride", 2), NAS_ATTR_INT("dilation", 2)}, 4},
      {"sep_conv", {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3)}, 2},
      {"sep_conv", {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 5), NAS_ATTR_INT("bias", 1)}, 3},
      {"dil_conv", {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3)}, 2},
      {"dil_conv", {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3), NAS_ATTR_INT("dilation", 3), NAS_ATTR_INT("bias", 1)}, 4},
      {"bn", {NAS_ATTR_INT("affine", 1)}, 1},
      {"bn", {NAS_ATTR_INT("affine", 0)}, 1},
      {"maxpool", {NAS_ATTR_INT("k", 2)}, 1},
      {"avgpool", {NAS_ATTR_INT("k", 3), NAS_ATTR_INT("stride", 1), NAS_ATTR_INT("padding", 1)}, 3},
      {"relu", {{0}}, 0}, {"relu6", {{0}}, 0}, {"sigmoid", {{0}}, 0}, {"hswish", {{0}}, 0},
      {"identity", {{0}}, 0}, {"dropout", {NAS_ATTR_FLOAT("p", 0.2)}, 1},
      {"zero", {NAS_ATTR_INT("stride", 2)}, 1}, {"gap", {{0}}, 0}, {"flatten", {{0}}, 0},
  };
  for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
    nas_graph *g = g_new3(4, 12, 12);
    int id = add(g, convs[i].op, NULL, 0, convs[i].a, convs[i].na);
    CHECK(id > 0);
    if (id > 0) check_params(g, convs[i].op);
    nas_graph_free(g);
  }
  /* 1-d: linear with/without bias, bn 1d affine 0/1 */
  for (int bias = 0; bias <= 1; bias++)
    for (int affine = 0; affine <= 1; affine++) {
      nas_graph *g = g_new1(20);
      nas_attr l1[] = {NAS_ATTR_INT("out", 7), NAS_ATTR_INT("bias", bias)};
      nas_attr bn[] = {NAS_ATTR_INT("affine", affine)};
      CHECK(add(g, "linear", NULL, 0, l1, 2) > 0);
      CHECK(add(g, "bn", NULL, 0, bn, 1) > 0);
      check_params(g, "linear+bn1d");
      nas_graph_free(g);
    }
}

/* A DAG with add / concat / mul (squeeze-excite) branches. */
static nas_graph *dag(void) {
  nas_graph *g = g_new3(3, 16, 16);
  nas_attr c8[] = {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3)};
  nas_attr c8s2[] = {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3), NAS_ATTR_INT("stride", 2)};
  nas_attr sep[] = {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3)};
  nas_attr dil[] = {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3)};
  nas_attr k3s1[] = {NAS_ATTR_INT("k", 3), NAS_ATTR_INT("stride", 1), NAS_ATTR_INT("padding", 1)};
  nas_attr k2[] = {NAS_ATTR_INT("k", 2)};
  nas_attr lin4[] = {NAS_ATTR_INT("out", 4)};
  nas_attr lin16[] = {NAS_ATTR_INT("out", 16)};
  nas_attr z2[] = {NAS_ATTR_INT("stride", 2)};
  nas_attr drop[] = {NAS_ATTR_FLOAT("p", 0.3)};
  int stem = add(g, "conv", NULL, 0, c8, 2);       /* 1: 8x16x16 */
  int bn = add(g, "bn", NULL, 0, NULL, 0);          /* 2 */
  int r = add(g, "relu", NULL, 0, NULL, 0);         /* 3 */
  int a = add(g, "sep_conv", &r, 1, sep, 2);        /* 4 */
  int b = add(g, "dil_conv", &r, 1, dil, 2);        /* 5 */
  int mp = add(g, "maxpool", &r, 1, k3s1, 3);       /* 6 */
  int ap = add(g, "avgpool", &r, 1, k3s1, 3);       /* 7 */
  int s4[] = {a, b, mp, ap};
  int sum = add(g, "add", s4, 4, NULL, 0);          /* 8 */
  int hs = add(g, "hswish", &sum, 1, NULL, 0);      /* 9 */
  int cat_in[] = {hs, r};
  int cat = add(g, "concat", cat_in, 2, NULL, 0);   /* 10: 16x16x16 */
  int gp = add(g, "gap", &cat, 1, NULL, 0);         /* 11: {16} */
  int fc = add(g, "linear", &gp, 1, lin16, 1);      /* 12 */
  int sg = add(g, "sigmoid", &fc, 1, NULL, 0);      /* 13 */
  int mi[] = {cat, sg};
  int se = add(g, "mul", mi, 2, NULL, 0);           /* 14: 16x16x16 */
  int down = add(g, "conv", &se, 1, c8s2, 3);       /* 15: 8x8x8 */
  int zr = add(g, "zero", &se, 1, z2, 1);           /* 16: 16x8x8 */
  int r6 = add(g, "relu6", &down, 1, NULL, 0);      /* 17 */
  int ci[] = {r6, zr};
  int cat2 = add(g, "concat", ci, 2, NULL, 0);      /* 18: 24x8x8 */
  int pool = add(g, "maxpool", &cat2, 1, k2, 1);    /* 19: 24x4x4 */
  int id = add(g, "identity", &pool, 1, NULL, 0);   /* 20 */
  int fl = add(g, "flatten", &id, 1, NULL, 0);      /* 21: {384} */
  int dr = add(g, "dropout", &fl, 1, drop, 1);      /* 22 */
  int out = add(g, "linear", &dr, 1, lin4, 1);      /* 23 */
  (void)stem; (void)bn;
  if (out < 0) {
    nas_graph_free(g);
    return NULL;
  }
  return g;
}

/* Each activation's forward on a 1-d input against its formula. */
static double act_ref(const char *op, double x) {
  if (strcmp(op, "relu") == 0) return x > 0 ? x : 0;
  if (strcmp(op, "relu6") == 0) return x < 0 ? 0 : x > 6 ? 6 : x;
  if (strcmp(op, "sigmoid") == 0) return 1 / (1 + exp(-x));
  if (strcmp(op, "hswish") == 0) return x * (x + 3 < 0 ? 0 : x + 3 > 6 ? 6 : x + 3) / 6;
  if (strcmp(op, "silu") == 0) return x / (1 + exp(-x));
  return x; /* identity */
}

static void test_activations(void) {
  const char *ops[] = {"relu", "relu6", "sigmoid", "hswish", "silu", "identity"};
  const int n = 2, f = 16;
  float x[2 * 16], y[2 * 16];
  for (int i = 0; i < n * f; i++) x[i] = -8.0f + 16.0f * (float)i / (float)(n * f - 1);
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    nas_graph *g = g_new1(f);
    CHECK(add(g, ops[k], NULL, 0, NULL, 0) > 0);
    nas_model *m = model(g, 1, NAS_MEMFMT_NCHW);
    nas_error err;
    CHECK(m != NULL && nas_model_forward(m, x, n, y, &err) == NAS_OK);
    double worst = 0;
    for (int i = 0; i < n * f; i++) worst = fmax(worst, fabs(y[i] - act_ref(ops[k], x[i])));
    if (worst > 1e-6) fprintf(stderr, "%s: |forward - formula| = %g\n", ops[k], worst);
    CHECK(worst <= 1e-6);
    nas_model_free(m);
    nas_graph_free(g);
  }
}

static void test_dag_forward(void) {
  nas_graph *g = dag();
  CHECK(g != NULL);
  if (!g) return;
  check_params(g, "dag");
  const int n = 3;
  float *x = malloc(sizeof(float) * n * 3 * 16 * 16);
  float *y = malloc(sizeof(float) * n * 16 * 16 * 16);
  fill_input(x, n * 3 * 16 * 16, 7);
  /* every node as output: forward succeeds and gives the node's shape */
  int count = nas_graph_node_count(g);
  for (int node = 1; node < count; node++) {
    nas_error err;
    nas_graph *h = nas_graph_clone(g);
    CHECK(nas_graph_set_output(h, node, &err) == NAS_OK);
    nas_model *m = model(h, 3, NAS_MEMFMT_NCHW);
    CHECK(m != NULL);
    if (m) {
      CHECK_EQ(nas_graph_params(h), nas_model_param_count(m)); /* nodes past the output too */
      nas_status st = nas_model_forward(m, x, n, y, &err);
      if (st != NAS_OK) fprintf(stderr, "forward to node %d: %s\n", node, err.msg);
      CHECK(st == NAS_OK);
      int finite = 1;
      for (int64_t i = 0; i < n * numel(h, node); i++) finite &= isfinite(y[i]) != 0;
      CHECK(finite);
      if (nas_graph_node_op(h, node) == NAS_OP_ZERO) {
        int zero = 1;
        for (int64_t i = 0; i < n * numel(h, node); i++) zero &= y[i] == 0.0f;
        CHECK(zero);
      }
      nas_model_free(m);
    }
    nas_graph_free(h);
  }
  /* channels_last gives the same function */
  nas_model *m1 = model(g, 5, NAS_MEMFMT_NCHW), *m2 = model(g, 5, NAS_MEMFMT_CHANNELS_LAST);
  float y1[3 * 4], y2[3 * 4];
  nas_error err;
  CHECK(nas_model_forward(m1, x, n, y1, &err) == NAS_OK);
  CHECK(nas_model_forward(m2, x, n, y2, &err) == NAS_OK);
  CHECK(nas_model_memfmt(m2) == NAS_MEMFMT_CHANNELS_LAST);
  double md = 0;
  for (int i = 0; i < n * 4; i++) md = fmax(md, fabs(y1[i] - y2[i]));
  CHECK(md < 1e-4);
  /* forward twice gives the same output (eval mode: dropout off) */
  float y3[3 * 4];
  CHECK(nas_model_forward(m1, x, n, y3, &err) == NAS_OK);
  CHECK(memcmp(y1, y3, sizeof y1) == 0);
  nas_model_free(m1);
  nas_model_free(m2);
  free(x);
  free(y);
  nas_graph_free(g);
}

static nas_graph *cnn(void) {
  nas_graph *g = g_new3(1, IMG, IMG);
  nas_attr c[] = {NAS_ATTR_INT("out", 8), NAS_ATTR_INT("k", 3)};
  nas_attr c2[] = {NAS_ATTR_INT("out", 12), NAS_ATTR_INT("k", 3)};
  nas_attr k2[] = {NAS_ATTR_INT("k", 2)};
  nas_attr dp[] = {NAS_ATTR_FLOAT("p", 0.2)};
  nas_attr l[] = {NAS_ATTR_INT("out", 4)};
  add(g, "conv", NULL, 0, c, 2);
  add(g, "bn", NULL, 0, NULL, 0);
  add(g, "relu", NULL, 0, NULL, 0);
  add(g, "maxpool", NULL, 0, k2, 1);
  add(g, "conv", NULL, 0, c2, 2);
  add(g, "relu", NULL, 0, NULL, 0);
  add(g, "gap", NULL, 0, NULL, 0);
  add(g, "dropout", NULL, 0, dp, 1);
  add(g, "linear", NULL, 0, l, 1);
  return g;
}

static nas_graph *mlp(void) {
  nas_graph *g = g_new1(IMG * IMG);
  nas_attr h[] = {NAS_ATTR_INT("out", 32)};
  nas_attr l[] = {NAS_ATTR_INT("out", 4)};
  nas_attr dp[] = {NAS_ATTR_FLOAT("p", 0.1)};
  add(g, "linear", NULL, 0, h, 1);
  add(g, "relu", NULL, 0, NULL, 0);
  add(g, "dropout", NULL, 0, dp, 1);
  add(g, "linear", NULL, 0, l, 1);
  return g;
}

/* Trains m on d for the given options to the end; fills per-epoch losses and
 * per-step losses (up to cap). Returns the final status. */
static nas_status train_all(nas_model *m, nas_dataset *d, const nas_train_opts *o, double *ep_loss,
                            int ep_cap, double *step_loss, int step_cap, int64_t *steps,
                            nas_train_progress *last, nas_error *err) {
  nas_trainer *t = NULL;
  if (last) memset(last, 0, sizeof *last);
  nas_status st = nas_trainer_new(m, d, o, &t, err);
  if (st != NAS_OK) return st;
  nas_train_progress p;
  int64_t k = 0;
  memset(&p, 0, sizeof p);
  do {
    st = nas_trainer_run(t, 1, &p, err);
    if (st != NAS_OK) break;
    if (step_loss && k < step_cap) step_loss[k] = p.loss;
    k++;
    if (p.epoch_done && ep_loss && p.epoch - 1 < ep_cap) ep_loss[p.epoch - 1] = p.epoch_loss;
  } while (!p.done);
  if (steps) *steps = k;
  if (last) *last = p;
  nas_trainer_free(t);
  return st;
}

static void test_training(nas_dataset *d) {
  nas_error err;
  /* optimizers x schedules: loss goes down */
  const struct {
    nas_optim opt;
    nas_sched sched;
    double lr;
  } runs[] = {
      {NAS_OPT_SGD, NAS_SCHED_CONSTANT, 0.05}, {NAS_OPT_SGD, NAS_SCHED_STEP, 0.05},
      {NAS_OPT_SGD, NAS_SCHED_COSINE, 0.05},   {NAS_OPT_ADAM, NAS_SCHED_COSINE, 0.01},
      {NAS_OPT_ADAMW, NAS_SCHED_CONSTANT, 0.01},
  };
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    nas_graph *g = i % 2 ? mlp() : cnn();
    nas_model *m = model(g, 11, NAS_MEMFMT_AUTO);
    nas_train_opts o = nas_train_opts_default();
    o.epochs = 4;
    o.batch = 32;
    o.optimizer = runs[i].opt;
    o.schedule = runs[i].sched;
    o.step_size = 2;
    o.gamma = 0.5;
    o.lr = runs[i].lr;
    o.nesterov = i == 1;
    o.weight_decay = 1e-4;
    o.warmup_epochs = i == 2 ? 0.5 : 0.0;
    o.label_smoothing = i == 3 ? 0.1 : 0.0;
    o.grad_clip = i == 4 ? 1.0 : 0.0;
    o.seed = 3;
    double ep[4] = {0};
    nas_train_progress p;
    nas_status st = train_all(m, d, &o, ep, 4, NULL, 0, NULL, &p, &err);
    if (st != NAS_OK) fprintf(stderr, "train run %zu: %s\n", i, err.msg);
    CHECK(st == NAS_OK);
    if (!(ep[3] < ep[0])) fprintf(stderr, "run %zu: loss %g -> %g\n", i, ep[0], ep[3]);
    CHECK(ep[3] < ep[0]);
    CHECK(p.epoch == 4 && p.epochs == 4 && p.done && p.epoch_done);
    CHECK(p.epoch_accuracy > 0.5);
    CHECK_EQ(p.total_steps, 4 * ((NS + 31) / 32));
    if (runs[i].sched == NAS_SCHED_STEP) CHECK(fabs(p.lr - 0.05 * 0.5) < 1e-12); /* epoch 4: one decay */
    if (runs[i].sched == NAS_SCHED_CONSTANT) CHECK(p.lr == runs[i].lr);
    if (runs[i].sched == NAS_SCHED_COSINE) CHECK(p.lr < 0.01 * runs[i].lr);
    nas_eval_result r;
    CHECK(nas_model_evaluate(m, d, 64, &r, &err) == NAS_OK);
    CHECK_EQ(r.count, NS);
    CHECK(r.accuracy > 0.6 && r.accuracy <= 1.0);
    CHECK(r.loss > 0 && isfinite(r.loss));
    nas_model_free(m);
    nas_graph_free(g);
  }

  /* steps mode: exactly N steps, crossing an epoch end (10 steps per epoch) */
  {
    nas_graph *g = mlp();
    nas_model *m = model(g, 1, NAS_MEMFMT_AUTO);
    nas_train_opts o = nas_train_opts_default();
    o.steps = 13;
    o.batch = 32;
    nas_trainer *t = NULL;
    CHECK(nas_trainer_new(m, d, &o, &t, &err) == NAS_OK);
    nas_train_progress p;
    CHECK(nas_trainer_run(t, 100, &p, &err) == NAS_OK);
    CHECK_EQ(p.step, 10); /* stopped at the epoch end */
    CHECK(p.epoch_done && !p.done && p.epoch == 1 && p.epochs == 2);
    CHECK(nas_trainer_run(t, 2, &p, &err) == NAS_OK);
    CHECK_EQ(p.step, 12);
    CHECK(!p.epoch_done && p.epoch == 2);
    CHECK(nas_trainer_run(t, 100, &p, &err) == NAS_OK);
    CHECK_EQ(p.step, 13);
    CHECK(p.done);
    CHECK(nas_trainer_run(t, 100, &p, &err) == NAS_OK); /* nothing left */
    CHECK_EQ(p.step, 13);
    CHECK(p.seconds > 0);
    nas_trainer_free(t);
    /* the MLP never uses a conv format */
    CHECK(nas_model_memfmt(m) == NAS_MEMFMT_NCHW);
    nas_model_free(m);
    nas_graph_free(g);
  }

  /* fraction: fewer steps per epoch; last partial batch kept */
  {
    nas_graph *g = mlp();
    nas_model *m = model(g, 1, NAS_MEMFMT_AUTO);
    nas_train_opts o = nas_train_opts_default();
    o.batch = 32;
    o.epochs = 1;
    o.fraction = 0.5; /* 160 rows -> 5 steps */
    int64_t k = 0;
    CHECK(train_all(m, d, &o, NULL, 0, NULL, 0, &k, NULL, &err) == NAS_OK);
    CHECK_EQ(k, 5);
    o.fraction = 1.0;
    o.batch = 48; /* 320 = 6*48 + 32 -> 7 steps */
    CHECK(train_all(m, d, &o, NULL, 0, NULL, 0, &k, NULL, &err) == NAS_OK);
    CHECK_EQ(k, 7);
    nas_model_free(m);
    nas_graph_free(g);
  }

  /* augmentation runs (crop + flip) */
  {
    nas_graph *g = cnn();
    nas_model *m = model(g, 1, NAS_MEMFMT_AUTO);
    nas_train_opts o = nas_train_opts_default();
    o.batch = 64;
    o.augment.crop_pad = 1;
    o.augment.flip = 1;
    CHECK(train_all(m, d, &o, NULL, 0, NULL, 0, NULL, NULL, &err) == NAS_OK);
    nas_memfmt f = nas_model_memfmt(m);
    CHECK(f == NAS_MEMFMT_NCHW || f == NAS_MEMFMT_CHANNELS_LAST);
    nas_model_free(m);
    nas_graph_free(g);
  }

  /* NaN / Inf loss */
  {
    nas_graph *g = mlp();
    nas_model *m = model(g, 1, NAS_MEMFMT_AUTO);
    nas_train_opts o = nas_train_opts_default();
    o.batch = 32;
    o.epochs = 5;
    o.lr = 1e30;
    o.schedule = NAS_SCHED_CONSTANT;
    nas_status st = train_all(m, d, &o, NULL, 0, NULL, 0, NULL, NULL, &err);
    CHECK(st == NAS_ENUMERIC);
    CHECK_HAS(err.msg, "at step");
    CHECK_HAS(err.msg, "lower the learning rate");
    nas_model_free(m);
    nas_graph_free(g);
  }

  /* interrupt */
  {
    nas_graph *g = mlp();
    nas_model *m = model(g, 1, NAS_MEMFMT_AUTO);
    nas_train_opts o = nas_train_opts_default();
    o.batch = 32;
    nas_trainer *t = NULL;
    CHECK(nas_trainer_new(m, d, &o, &t, &err) == NAS_OK);
    nas_train_progress p;
    CHECK(nas_trainer_run(t, 3, &p, &err) == NAS_OK);
    nas_interrupt_set();
    CHECK(nas_trainer_run(t, 3, &p, &err) == NAS_EINTERRUPT);
    CHECK_HAS(err.msg, "interrupted");
    CHECK_EQ(p.step, 3);
    nas_interrupt_clear();
    CHECK(nas_trainer_run(t, 3, &p, &err) == NAS_OK);
    CHECK_EQ(p.step, 6);
    nas_trainer_free(t);
    nas_model_free(m);
    nas_graph_free(g);
  }

  /* bad arguments */
  {
    nas_graph *g = cnn();
    nas_model *m = model(g, 1, NAS_MEMFMT_AUTO);
    nas_train_opts o = nas_train_opts_default();
    nas_trainer *t = NULL;
    o.batch = 0;
    CHECK(nas_trainer_new(m, d, &o, &t, &err) == NAS_EINVAL && t == NULL);
    o = nas_train_opts_default();
    o.fraction = 1.5;
    CHECK(nas_trainer_new(m, d, &o, &t, &err) == NAS_EINVAL);
    nas_model_free(m);
    nas_graph_free(g);
    /* input of the wrong size */
    nas_graph *g2 = g_new3(3, 8, 8);
    nas_attr l[] = {NAS_ATTR_INT("out", 4)};
    add(g2, "flatten", NULL, 0, NULL, 0);
    add(g2, "linear", NULL, 0, l, 1);
    nas_model *m2 = model(g2, 1, NAS_MEMFMT_AUTO);
    o = nas_train_opts_default();
    CHECK(nas_trainer_new(m2, d, &o, &t, &err) == NAS_EINVAL);
    CHECK_HAS(err.msg, "input");
    nas_eval_result r;
    CHECK(nas_model_evaluate(m2, d, 32, &r, &err) == NAS_EINVAL);
    nas_model_free(m2);
    nas_graph_free(g2);
  }
}

static void test_determinism(nas_dataset *d) {
  nas_error err;
  double l1[40], l2[40], l3[40];
  float x[4 * IMG * IMG], y1[16], y2[16], y3[16];
  fill_input(x, 4 * IMG * IMG, 99);
  for (int kind = 0; kind < 2; kind++) {
    nas_graph *g = kind ? mlp() : cnn();
    nas_train_opts o = nas_train_opts_default();
    o.batch = 32;
    o.epochs = 2;
    o.seed = 42;
    o.augment.flip = kind == 0;
    nas_model *a = model(g, 7, NAS_MEMFMT_AUTO), *b = model(g, 7, NAS_MEMFMT_AUTO),
              *c = model(g, 8, NAS_MEMFMT_AUTO);
    CHECK(train_all(a, d, &o, NULL, 0, l1, 40, NULL, NULL, &err) == NAS_OK);
    CHECK(train_all(b, d, &o, NULL, 0, l2, 40, NULL, NULL, &err) == NAS_OK);
    CHECK(train_all(c, d, &o, NULL, 0, l3, 40, NULL, NULL, &err) == NAS_OK);
    CHECK(memcmp(l1, l2, 20 * sizeof(double)) == 0);
    CHECK(memcmp(l1, l3, 20 * sizeof(double)) != 0);
    CHECK(nas_model_memfmt(a) == nas_model_memfmt(b));
    CHECK(nas_model_forward(a, x, 4, y1, &err) == NAS_OK);
    CHECK(nas_model_forward(b, x, 4, y2, &err) == NAS_OK);
    CHECK(nas_model_forward(c, x, 4, y3, &err) == NAS_OK);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    CHECK(memcmp(y1, y3, sizeof y1) != 0);
    /* a different train seed changes the history too */
    nas_model *e = model(g, 7, NAS_MEMFMT_AUTO);
    o.seed = 43;
    CHECK(train_all(e, d, &o, NULL, 0, l3, 40, NULL, NULL, &err) == NAS_OK);
    CHECK(memcmp(l1, l3, 20 * sizeof(double)) != 0);
    nas_model_free(a);
    nas_model_free(b);
    nas_model_free(c);
    nas_model_free(e);
    nas_graph_free(g);
  }
}

static void test_save_load(nas_dataset *d) {
  nas_error err;
  char path[512], bad[512];
  tmp_path(path, sizeof path, "test_torch_weights.pt");
  tmp_path(bad, sizeof bad, "test_torch_no_such_file.pt");
  remove(bad);
  nas_graph *g = cnn();
  nas_model *a = model(g, 1, NAS_MEMFMT_AUTO), *b = model(g, 2, NAS_MEMFMT_NCHW);
  nas_train_opts o = nas_train_opts_default();
  o.batch = 64;
  CHECK(train_all(a, d, &o, NULL, 0, NULL, 0, NULL, NULL, &err) == NAS_OK); /* BN stats move */
  CHECK(nas_model_save(a, path, &err) == NAS_OK);
  float x[4 * IMG * IMG], y1[16], y2[16];
  fill_input(x, 4 * IMG * IMG, 5);
  CHECK(nas_model_forward(a, x, 4, y1, &err) == NAS_OK);
  CHECK(nas_model_forward(b, x, 4, y2, &err) == NAS_OK);
  CHECK(memcmp(y1, y2, sizeof y1) != 0);
  nas_status st = nas_model_load(b, path, &err);
  if (st != NAS_OK) fprintf(stderr, "load: %s\n", err.msg);
  CHECK(st == NAS_OK);
  CHECK(nas_model_forward(b, x, 4, y2, &err) == NAS_OK);
  double md = 0;
  for (int i = 0; i < 16; i++) md = fmax(md, fabs(y1[i] - y2[i]));
  CHECK(md < 1e-5);

  /* a differently shaped model: the error names the tensor and both shapes */
  nas_graph *g2 = g_new3(1, IMG, IMG);
  nas_attr c[] = {NAS_ATTR_INT("out", 16), NAS_ATTR_INT("k", 3)};
  add(g2, "conv", NULL, 0, c, 2);
  nas_model *m2 = model(g2, 1, NAS_MEMFMT_NCHW);
  CHECK(nas_model_load(m2, path, &err) != NAS_OK);
  CHECK_HAS(err.msg, "n1_conv.weight");
  CHECK_HAS(err.msg, "[8,1,3,3]");
  CHECK_HAS(err.msg, "[16,1,3,3]");
  CHECK(nas_model_load(m2, bad, &err) == NAS_EIO);
  CHECK_HAS(err.msg, bad);
  /* a corrupt file */
  FILE *f = fopen(bad, "wb");
  if (f) {
    fputs("not a weights file", f);
    fclose(f);
  }
  CHECK(nas_model_load(m2, bad, &err) == NAS_EIO);
  remove(bad);
  nas_model_free(m2);
  nas_graph_free(g2);
  nas_model_free(a);
  nas_model_free(b);
  nas_graph_free(g);
}

static void test_misc(void) {
  nas_error err;
  nas_graph *g = cnn();
  /* device */
  nas_model_opts o = nas_model_opts_default();
  nas_model *m = NULL;
  o.device = "cuda";
  nas_status st = nas_model_new(g, &o, &m, &err);
  if (nas_cuda_available()) {
    CHECK(st == NAS_OK);
    CHECK_HAS(nas_model_device(m), "cuda");
    nas_model_free(m);
  } else {
    CHECK(st == NAS_EDEVICE && m == NULL);
    CHECK_HAS(err.msg, "cuda");
    CHECK_HAS(err.msg, "CUDA");
  }
  o.device = "tpu";
  CHECK(nas_model_new(g, &o, &m, &err) == NAS_EINVAL);
  o.device = NULL;
  CHECK(nas_model_new(g, &o, &m, &err) == NAS_OK);
  CHECK(strcmp(nas_model_device(m), "cpu") == 0);
  CHECK(nas_model_memfmt(m) == NAS_MEMFMT_NCHW); /* not trained yet */

  /* latency */
  nas_latency_opts lo = {8, 7, 2, 1};
  nas_latency_result lr;
  int threads = nas_threads_get();
  CHECK(nas_model_latency(m, &lo, &lr, &err) == NAS_OK);
  CHECK(nas_threads_get() == threads);
  CHECK(lr.min_ms > 0 && lr.min_ms <= lr.median_ms && lr.median_ms <= lr.p90_ms);
  CHECK(lr.mean_ms >= lr.min_ms && lr.mean_ms < 10000);
  lo.runs = 0;
  CHECK(nas_model_latency(m, &lo, &lr, &err) == NAS_EINVAL);
  nas_model_free(m);

  /* settings */
  nas_threads_set(1);
  CHECK_EQ(nas_threads_get(), 1);
  nas_threads_set(threads);
  CHECK_EQ(nas_threads_get(), threads);
  CHECK(strlen(nas_torch_version()) >= 5);
  CHECK(nas_torch_version()[1] == '.' || nas_torch_version()[2] == '.');
  nas_graph_free(g);
}

/* Only where a CUDA libtorch sees a GPU: train, evaluate, time, and move
 * weights between devices. */
static void test_cuda(nas_dataset *d) {
  if (!nas_cuda_available()) return;
  nas_error err;
  char path[512];
  tmp_path(path, sizeof path, "test_torch_cuda.pt");
  for (int kind = 0; kind < 2; kind++) {
    nas_graph *g = kind ? mlp() : cnn();
    nas_model_opts o = nas_model_opts_default();
    o.device = "cuda:0";
    o.seed = 4;
    nas_model *m = NULL, *c = model(g, 9, NAS_MEMFMT_NCHW);
    nas_status st = nas_model_new(g, &o, &m, &err);
    if (st != NAS_OK) fprintf(stderr, "cuda model: %s\n", err.msg);
    CHECK(st == NAS_OK);
    if (st != NAS_OK) continue;
    CHECK(strcmp(nas_model_device(m), "cuda:0") == 0);
    CHECK_EQ(nas_model_param_count(m), nas_graph_params(g));
    nas_train_opts to = nas_train_opts_default();
    to.batch = 32;
    to.epochs = 4;
    to.lr = 0.05;
    to.augment.crop_pad = kind == 0; /* no flip: it swaps this data set's classes */
    double ep[4] = {0};
    nas_train_progress p;
    st = train_all(m, d, &to, ep, 4, NULL, 0, NULL, &p, &err);
    if (st != NAS_OK) fprintf(stderr, "cuda train: %s\n", err.msg);
    CHECK(st == NAS_OK);
    CHECK(ep[3] < ep[0]);
    CHECK(p.epoch_accuracy > 0.5);
    printf("cuda %s: memfmt %d, loss %.4f -> %.4f, %.3f s\n", kind ? "mlp" : "cnn",
           (int)nas_model_memfmt(m), ep[0], ep[3], p.seconds);
    nas_eval_result r;
    CHECK(nas_model_evaluate(m, d, 64, &r, &err) == NAS_OK);
    CHECK(r.accuracy > 0.6);
    nas_latency_opts lo = {16, 10, 3, 0};
    nas_latency_result lr;
    CHECK(nas_model_latency(m, &lo, &lr, &err) == NAS_OK);
    CHECK(lr.min_ms > 0 && lr.min_ms <= lr.median_ms && lr.median_ms <= lr.p90_ms);
    /* cuda -> file -> cpu gives the same function */
    CHECK(nas_model_save(m, path, &err) == NAS_OK);
    CHECK(nas_model_load(c, path, &err) == NAS_OK);
    float x[4 * IMG * IMG], y1[16], y2[16];
    fill_input(x, 4 * IMG * IMG, 3);
    CHECK(nas_model_forward(m, x, 4, y1, &err) == NAS_OK);
    CHECK(nas_model_forward(c, x, 4, y2, &err) == NAS_OK);
    double md = 0;
    for (int i = 0; i < 16; i++) md = fmax(md, fabs(y1[i] - y2[i]));
    CHECK(md < 1e-3);
    remove(path);
    nas_model_free(m);
    nas_model_free(c);
    nas_graph_free(g);
  }
}

/* test hook in engine/torch/train.cpp (not part of nas.h) */
int nas__torch_selftest(double *maxdiff);

/* The fused CPU SGD against torch::optim::SGD, and explicit channels_last
 * strides for 1-channel tensors. */
static void test_fused_sgd(void) {
  double md = -1.0;
  CHECK_EQ(nas__torch_selftest(&md), 0);
  CHECK(md >= 0.0 && md < 1e-5);
  printf("test_torch: fused SGD vs torch::optim::SGD: max |diff| %.3g over 6 steps\n", md);
}

/* A model trained with SGD on CPU (fused step) follows the same path in
 * NCHW and channels_last, to float tolerance, also for a 1-channel input. */
static void test_sgd_formats(nas_dataset *d) {
  nas_error err;
  nas_graph *g = cnn();
  nas_model *a = model(g, 3, NAS_MEMFMT_NCHW), *b = model(g, 3, NAS_MEMFMT_CHANNELS_LAST);
  nas_train_opts o = nas_train_opts_default();
  o.batch = 32;
  o.epochs = 1;
  o.momentum = 0.9;
  o.weight_decay = 1e-3;
  o.nesterov = 1;
  double la[20], lb[20];
  CHECK(train_all(a, d, &o, NULL, 0, la, 20, NULL, NULL, &err) == NAS_OK);
  CHECK(train_all(b, d, &o, NULL, 0, lb, 20, NULL, NULL, &err) == NAS_OK);
  double md = 0;
  for (int i = 0; i < 10; i++) md = fmax(md, fabs(la[i] - lb[i]));
  CHECK(md < 1e-3);
  CHECK(nas_model_memfmt(b) == NAS_MEMFMT_CHANNELS_LAST);
  nas_model_free(a);
  nas_model_free(b);
  nas_graph_free(g);
}

int main(void) {
  const char *t = getenv("NAS_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  char ip[512], lp[512];
  tmp_path(ip, sizeof ip, "test_torch-images-idx3-ubyte.gz");
  tmp_path(lp, sizeof lp, "test_torch-labels-idx1-ubyte.gz");
  test_param_counts();
  test_activations();
  test_dag_forward();
  test_misc();
  test_fused_sgd();
  CHECK(write_idx(ip, lp) == 0);
  nas_error err;
  nas_dataset *d = nas_data_load_idx(ip, lp, &err);
  if (!d) fprintf(stderr, "nas_data_load_idx: %s\n", err.msg);
  CHECK(d != NULL);
  if (d) {
    CHECK_EQ(nas_data_count(d), NS);
    test_training(d);
    test_determinism(d);
    test_sgd_formats(d);
    test_save_load(d);
    test_cuda(d);
    nas_data_free(d);
  }
  remove(ip);
  remove(lp);
  return CHECK_DONE("test_torch");
}
