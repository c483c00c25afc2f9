/* Tests of engine/core data.c and rng.c: IDX and CIFAR loading (raw and
 * gzip), error messages, normalisation, views, batching and augmentation,
 * and the real Fashion-MNIST training set when it is installed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "nas.h"

static int checks = 0, failed = 0;

#define CHECK(cond, ...)                                     \
  do {                                                       \
    checks++;                                                \
    if (!(cond)) {                                           \
      failed++;                                              \
      fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                          \
      fputc('\n', stderr);                                   \
    }                                                        \
  } while (0)

/* err->msg contains every one of the NULL-terminated strings. */
static int msg_has(const nas_error *err, ...) {
  if (getenv("NAS_TEST_VERBOSE")) printf("  message: %s\n", err->msg);
  va_list ap;
  va_start(ap, err);
  const char *s;
  int ok = 1;
  while ((s = va_arg(ap, const char *)))
    if (!strstr(err->msg, s)) ok = 0;
  va_end(ap);
  return ok;
}

static char tmpdir[512];
static int tmpcount = 0;
static char tmppaths[128][600];

static const char *tmp_path(const char *name) {
  if (tmpcount == 128) { fprintf(stderr, "test_data: too many temp files\n"); exit(2); }
  char *p = tmppaths[tmpcount++];
  snprintf(p, 600, "%s/nas_test_data_%d_%s", tmpdir, (int)getpid(), name);
  return p;
}

/* Writes bytes, raw or gzip. */
static void write_file(const char *path, int gz, const void *buf, size_t len) {
  if (gz) {
    gzFile f = gzopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (len) gzwrite(f, buf, (unsigned)len);
    gzclose(f);
  } else {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (len) fwrite(buf, 1, len, f);
    fclose(f);
  }
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* IDX file: magic, dims, data; `cut` bytes dropped from the end. */
static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int nd,
                      const uint8_t *data, size_t len, size_t cut) {
  size_t total = 4 + 4 * (size_t)nd + len;
  unsigned char *b = malloc(total);
  put_be32(b, magic);
  for (int i = 0; i < nd; i++) put_be32(b + 4 + 4 * i, dims[i]);
  if (len) memcpy(b + 4 + 4 * nd, data, len);
  write_file(path, gz, b, total - cut);
  free(b);
}

static float norm_of(int p, float mean, float sd) {
  return (float)(((double)p / 255.0 - (double)mean) / (double)sd);
}

/* Storage row of every view row, recovered from pixels 0 and 1 (id % 256,
 * id / 256) with an identity normalisation set for the duration. */
static void view_ids(nas_dataset *d, int64_t *ids) {
  float m[16], s[16], zero[1] = {0}, one[1] = {1};
  nas_data_get_norm(d, m, s);
  nas_data_set_norm(d, zero, one, 1);
  int64_t n = nas_data_count(d), ss = nas_data_sample_size(d);
  float *x = malloc((size_t)ss * sizeof *x);
  for (int64_t i = 0; i < n; i++) {
    nas_data_batch(d, &i, 1, NULL, NULL, x, NULL);
    ids[i] = lrintf(x[0] * 255) + 256 * lrintf(x[1] * 255);
  }
  free(x);
  int64_t dims[3];
  nas_data_shape(d, dims);
  nas_data_set_norm(d, m, s, (int)dims[0]);
}

/* ------------------------------------------------------------------------ */

static void test_rng(void) {
  nas_rng a, b;
  nas_rng_seed(&a, 0);
  /* reference: splitmix64 seeding + xoshiro256** (independent Python model) */
  CHECK(nas_rng_next(&a) == 0x99ec5f36cb75f2b4ull, "seed 0 first output");
  CHECK(nas_rng_next(&a) == 0xbf6e1f784956452aull, "seed 0 second output");
  nas_rng_seed(&a, 42);
  CHECK(nas_rng_next(&a) == 0x15780b2e0c2ec716ull, "seed 42 first output");

  nas_rng_seed(&a, 7);
  nas_rng_seed(&b, 7);
  int same = 1;
  for (int i = 0; i < 1000; i++) same &= nas_rng_next(&a) == nas_rng_next(&b);
  CHECK(same, "same seed, same stream");
  nas_rng_seed(&b, 8);
  CHECK(nas_rng_next(&a) != nas_rng_next(&b), "different seeds differ");

  int inrange = 1, hist[7] = {0};
  double umin = 1, umax = 0;
  for (int i = 0; i < 70000; i++) {
    int64_t v = nas_rng_below(&a, 7);
    if (v < 0 || v >= 7) inrange = 0; else hist[v]++;
    int64_t w = nas_rng_below(&a, (int64_t)1 << 40);
    if (w < 0 || w >= (int64_t)1 << 40) inrange = 0;
    if (nas_rng_below(&a, 1) != 0) inrange = 0;
    double u = nas_rng_uniform(&a);
    if (u < umin) umin = u;
    if (u > umax) umax = u;
  }
  CHECK(inrange, "below() in range");
  int uniform = 1;
  for (int i = 0; i < 7; i++) uniform &= abs(hist[i] - 10000) < 500;
  CHECK(uniform, "below(7) counts near 10000: %d %d %d %d %d %d %d", hist[0], hist[1],
        hist[2], hist[3], hist[4], hist[5], hist[6]);
  CHECK(umin >= 0 && umax < 1 && umin < 0.001 && umax > 0.999, "uniform in [0,1): %g %g",
        umin, umax);
  CHECK(nas_rng_below(&a, 0) == 0 && nas_rng_below(&a, -5) == 0, "below(n <= 0) is 0");

  int64_t p[50], q[50];
  for (int i = 0; i < 50; i++) p[i] = q[i] = i;
  nas_rng_seed(&a, 3);
  nas_rng_seed(&b, 3);
  nas_rng_shuffle(&a, p, 50);
  nas_rng_shuffle(&b, q, 50);
  int seen[50] = {0}, moved = 0, eq = 1;
  for (int i = 0; i < 50; i++) {
    seen[p[i]]++;
    moved += p[i] != i;
    eq &= p[i] == q[i];
  }
  int perm = 1;
  for (int i = 0; i < 50; i++) perm &= seen[i] == 1;
  CHECK(perm && moved > 30, "shuffle is a permutation that moves things (%d moved)", moved);
  CHECK(eq, "shuffle deterministic under seed");
}

/* 5 images of 1x4x3, labels 0 2 1 2 0. */
static uint8_t small_px[5 * 12];
static uint8_t small_lab[5] = {0, 2, 1, 2, 0};

static void test_idx_small(int gz) {
  for (int i = 0; i < 60; i++) small_px[i] = (uint8_t)(i * 37 + 11);
  const char *ip = tmp_path(gz ? "small-images.gz" : "small-images");
  const char *lp = tmp_path(gz ? "small-labels.gz" : "small-labels");
  uint32_t idims[3] = {5, 4, 3}, ldims[1] = {5};
  write_idx(ip, gz, 0x803, idims, 3, small_px, 60, 0);
  write_idx(lp, gz, 0x801, ldims, 1, small_lab, 5, 0);

  nas_error err;
  nas_dataset *d = nas_data_load_idx(ip, lp, &err);
  CHECK(d != NULL, "load small idx (gz=%d): %s", gz, err.msg);
  if (!d) return;
  int64_t dims[3];
  CHECK(nas_data_count(d) == 5, "count");
  CHECK(nas_data_shape(d, dims) == 3 && dims[0] == 1 && dims[1] == 4 && dims[2] == 3, "shape");
  CHECK(nas_data_sample_size(d) == 12, "sample size");
  CHECK(nas_data_classes(d) == 3, "classes = max label + 1, got %d", nas_data_classes(d));

  /* default normalisation: population statistics of pixel/255 */
  double s1 = 0, s2 = 0;
  for (int i = 0; i < 60; i++) {
    double v = small_px[i] / 255.0;
    s1 += v;
    s2 += v * v;
  }
  double m = s1 / 60, sd = sqrt(s2 / 60 - m * m);
  float mean, std_;
  nas_data_get_norm(d, &mean, &std_);
  CHECK(fabs(mean - m) < 1e-6 && fabs(std_ - sd) < 1e-6, "norm %g %g vs %g %g", mean, std_, m,
        sd);
  float cm, cs;
  nas_data_compute_norm(d, &cm, &cs);
  CHECK(cm == mean && cs == std_, "compute_norm agrees with the loader");

  /* batch values, exactly, in the order asked */
  int64_t rows[3] = {4, 0, 2}, y[3];
  float x[36];
  nas_data_batch(d, rows, 3, NULL, NULL, x, y);
  int exact = 1;
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 12; k++)
      exact &= x[i * 12 + k] == norm_of(small_px[rows[i] * 12 + k], mean, std_);
  CHECK(exact, "batch values exact");
  CHECK(y[0] == 0 && y[1] == 0 && y[2] == 1, "batch labels %lld %lld %lld", (long long)y[0],
        (long long)y[1], (long long)y[2]);

  /* set_norm, then get_norm returns it and the batch follows */
  float m2 = 0.5f, s2f = 0.25f;
  nas_data_set_norm(d, &m2, &s2f, 1);
  nas_data_get_norm(d, &mean, &std_);
  CHECK(mean == 0.5f && std_ == 0.25f, "set/get norm");
  nas_data_batch(d, rows, 1, NULL, NULL, x, NULL);
  CHECK(x[0] == norm_of(small_px[48], 0.5f, 0.25f), "batch uses the new norm");
  CHECK(fabsf(x[0] - (small_px[48] / 255.0f - 0.5f) / 0.25f) < 1e-5, "formula");

  /* a bad std is replaced by 1 */
  float bad = 0.0f;
  nas_data_set_norm(d, &m2, &bad, 1);
  nas_data_get_norm(d, &mean, &std_);
  CHECK(std_ == 1.0f, "std 0 replaced by 1");

  /* out-of-range row: zeros and label -1, no read outside */
  int64_t badrow = 5;
  nas_data_batch(d, &badrow, 1, NULL, NULL, x, y);
  CHECK(y[0] == -1 && x[0] == 0.0f, "out-of-range row gives label -1");
  nas_data_free(d);
}

static void test_idx_errors(void) {
  nas_error err;
  uint32_t idims[3] = {5, 4, 3}, ldims[1] = {5}, ldims4[1] = {4};
  const char *ip = tmp_path("e-images"), *lp = tmp_path("e-labels.gz");
  write_idx(ip, 0, 0x803, idims, 3, small_px, 60, 0);
  write_idx(lp, 1, 0x801, ldims, 1, small_lab, 5, 0);

  const char *missing = tmp_path("no-such-file");
  nas_dataset *d = nas_data_load_idx(missing, lp, &err);
  CHECK(!d && err.status == NAS_EIO && msg_has(&err, missing, "cannot open", "No such file",
                                               NULL),
        "missing: %s", err.msg);
  d = nas_data_load_idx(ip, missing, &err);
  CHECK(!d && msg_has(&err, missing, "cannot open", NULL), "missing labels: %s", err.msg);

  const char *bm = tmp_path("badmagic.gz");
  write_idx(bm, 1, 0x999, idims, 3, small_px, 60, 0);
  d = nas_data_load_idx(bm, lp, &err);
  CHECK(!d && err.status == NAS_EIO &&
            msg_has(&err, bm, "bad magic", "0x00000999", "0x00000803", NULL),
        "bad magic: %s", err.msg);
  d = nas_data_load_idx(lp, ip, &err); /* swapped */
  CHECK(!d && msg_has(&err, lp, "bad magic", "0x00000801", "swapped", NULL), "swapped: %s",
        err.msg);

  const char *tr = tmp_path("trunc-images");
  write_idx(tr, 0, 0x803, idims, 3, small_px, 60, 7);
  d = nas_data_load_idx(tr, lp, &err);
  CHECK(!d && err.status == NAS_EIO && msg_has(&err, tr, "truncated", "expected 60", "got 53",
                                               NULL),
        "truncated images: %s", err.msg);
  const char *trg = tmp_path("trunc-images.gz");
  write_idx(trg, 1, 0x803, idims, 3, small_px, 60, 7);
  d = nas_data_load_idx(trg, lp, &err);
  CHECK(!d && msg_has(&err, trg, "truncated", "got 53", NULL), "truncated gz images: %s",
        err.msg);

  const char *trl = tmp_path("trunc-labels");
  write_idx(trl, 0, 0x801, ldims, 1, small_lab, 5, 2);
  d = nas_data_load_idx(ip, trl, &err);
  CHECK(!d && msg_has(&err, trl, "truncated", "expected 5", "got 3", NULL),
        "truncated labels: %s", err.msg);

  const char *trh = tmp_path("trunc-header");
  write_idx(trh, 0, 0x803, idims, 3, NULL, 0, 5);
  d = nas_data_load_idx(trh, lp, &err);
  CHECK(!d && msg_has(&err, trh, "truncated", "header", NULL), "truncated header: %s", err.msg);

  /* a gzip stream cut in the middle (corrupt archive) */
  const char *cut = tmp_path("cut.gz");
  {
    const char *full = tmp_path("full.gz");
    uint8_t big[4000];
    for (int i = 0; i < 4000; i++) big[i] = (uint8_t)(i * 7919 >> 3);
    uint32_t bd[3] = {40, 10, 10};
    write_idx(full, 1, 0x803, bd, 3, big, 4000, 0);
    FILE *f = fopen(full, "rb");
    unsigned char buf[8192];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_file(cut, 0, buf, len / 2);
  }
  uint32_t l40[1] = {40};
  uint8_t lab40[40] = {0};
  const char *lp40 = tmp_path("labels40");
  write_idx(lp40, 0, 0x801, l40, 1, lab40, 40, 0);
  d = nas_data_load_idx(cut, lp40, &err);
  CHECK(!d && err.status == NAS_EIO && msg_has(&err, cut, NULL), "cut gzip: %s", err.msg);

  const char *l4 = tmp_path("labels4");
  write_idx(l4, 0, 0x801, ldims4, 1, small_lab, 4, 0);
  d = nas_data_load_idx(ip, l4, &err);
  CHECK(!d && err.status == NAS_EIO &&
            msg_has(&err, "count mismatch", ip, l4, "5 images", "4 labels", NULL),
        "count mismatch: %s", err.msg);

  const char *empty = tmp_path("empty");
  write_file(empty, 0, "", 0);
  d = nas_data_load_idx(empty, lp, &err);
  CHECK(!d && msg_has(&err, empty, "empty", NULL), "empty: %s", err.msg);

  const char *zero = tmp_path("zero-images"), *zl = tmp_path("zero-labels");
  uint32_t z3[3] = {0, 4, 3}, z1[1] = {0};
  write_idx(zero, 0, 0x803, z3, 3, NULL, 0, 0);
  write_idx(zl, 0, 0x801, z1, 1, NULL, 0, 0);
  d = nas_data_load_idx(zero, zl, &err);
  CHECK(!d && msg_has(&err, zero, "0 images", NULL), "zero images: %s", err.msg);

  const char *extra = tmp_path("extra-images");
  uint8_t px61[61] = {0};
  write_idx(extra, 0, 0x803, idims, 3, px61, 61, 0);
  d = nas_data_load_idx(extra, lp, &err);
  CHECK(!d && msg_has(&err, extra, "unexpected data", NULL), "trailing data: %s", err.msg);

  d = nas_data_load_idx(NULL, lp, &err);
  CHECK(!d && err.status == NAS_EINVAL, "NULL path");
  d = nas_data_load_idx(tmpdir, lp, &err); /* a directory */
  CHECK(!d && err.status == NAS_EIO && msg_has(&err, tmpdir, NULL), "directory: %s", err.msg);
}

/* 300 images of 1x2x2 whose pixels 0,1 encode the row id; labels id % 10. */
static nas_dataset *load_ids(const char *tag, int n) {
  uint8_t *px = malloc((size_t)n * 4), *lab = malloc((size_t)n);
  for (int i = 0; i < n; i++) {
    px[4 * i] = (uint8_t)(i % 256);
    px[4 * i + 1] = (uint8_t)(i / 256);
    px[4 * i + 2] = (uint8_t)(i * 3);
    px[4 * i + 3] = 200;
    lab[i] = (uint8_t)(i % 10);
  }
  char a[64], b[64];
  snprintf(a, sizeof a, "%s-images", tag);
  snprintf(b, sizeof b, "%s-labels", tag);
  const char *ip = tmp_path(a), *lp = tmp_path(b);
  uint32_t idims[3] = {(uint32_t)n, 2, 2}, ldims[1] = {(uint32_t)n};
  write_idx(ip, 0, 0x803, idims, 3, px, (size_t)n * 4, 0);
  write_idx(lp, 1, 0x801, ldims, 1, lab, (size_t)n, 0);
  free(px);
  free(lab);
  nas_error err;
  nas_dataset *d = nas_data_load_idx(ip, lp, &err);
  CHECK(d != NULL, "load ids: %s", err.msg);
  return d;
}

static void test_views(void) {
  enum { N = 300 };
  nas_dataset *d = load_ids("ids", N);
  if (!d) return;
  nas_error err;
  int64_t ids[N], ida[N], idb[N];
  view_ids(d, ids);
  int ident = 1;
  for (int i = 0; i < N; i++) ident &= ids[i] == i;
  CHECK(ident, "loaded view is rows 0..n-1");

  nas_dataset *a, *b, *a2, *b2;
  CHECK(nas_data_split(d, 60, 1, &a, &b, &err) == NAS_OK, "split: %s", err.msg);
  CHECK(nas_data_count(a) == 240 && nas_data_count(b) == 60, "split sizes");
  view_ids(a, ida);
  view_ids(b, idb);
  int seen[N] = {0}, ordered = 1;
  for (int i = 0; i < 240; i++) seen[ida[i]]++;
  for (int i = 0; i < 60; i++) seen[idb[i]]++;
  for (int i = 1; i < 240; i++) ordered &= ida[i] > ida[i - 1];
  int all_once = 1;
  for (int i = 0; i < N; i++) all_once &= seen[i] == 1;
  CHECK(all_once, "split parts are disjoint and cover every row");
  CHECK(ordered, "split parts keep the parent's order");
  float m0, s0, m1, s1;
  nas_data_get_norm(d, &m0, &s0);
  nas_data_get_norm(b, &m1, &s1);
  CHECK(m0 == m1 && s0 == s1, "split keeps the parent's normalisation");
  CHECK(nas_data_classes(b) == 10, "classes of a view are the storage's");

  CHECK(nas_data_split(d, 60, 1, &a2, &b2, &err) == NAS_OK, "split again");
  int64_t idb2[N];
  view_ids(b2, idb2);
  CHECK(memcmp(idb, idb2, 60 * sizeof *idb) == 0, "split deterministic under seed");
  nas_data_free(a2);
  nas_data_free(b2);
  CHECK(nas_data_split(d, 60, 2, &a2, &b2, &err) == NAS_OK, "split seed 2");
  view_ids(b2, idb2);
  CHECK(memcmp(idb, idb2, 60 * sizeof *idb) != 0, "different seeds, different splits");
  nas_data_free(a2);
  nas_data_free(b2);

  CHECK(nas_data_split(d, N, 1, &a2, &b2, &err) == NAS_EINVAL && !a2 && !b2 &&
            msg_has(&err, "300", NULL),
        "split nsecond = n is an error: %s", err.msg);
  CHECK(nas_data_split(d, -1, 1, &a2, &b2, &err) == NAS_EINVAL, "split nsecond < 0");
  CHECK(nas_data_split(d, 0, 1, &a2, &b2, &err) == NAS_OK && nas_data_count(a2) == N &&
            nas_data_count(b2) == 0,
        "split nsecond = 0 gives an empty second part");
  nas_data_free(a2);
  nas_data_free(b2);

  /* subset: nested under one seed, equal to split's second part */
  nas_dataset *s60 = nas_data_subset(d, 60, 1, &err), *s100 = nas_data_subset(d, 100, 1, &err);
  CHECK(s60 && s100 && nas_data_count(s60) == 60 && nas_data_count(s100) == 100, "subset sizes");
  int64_t i60[60], i100[100];
  view_ids(s60, i60);
  view_ids(s100, i100);
  CHECK(memcmp(i60, idb, sizeof i60) == 0, "subset(k, seed) = split(k, seed).second");
  int nested = 1;
  for (int i = 0; i < 60; i++) {
    int found = 0;
    for (int j = 0; j < 100; j++) found |= i100[j] == i60[i];
    nested &= found;
  }
  CHECK(nested, "subsets of one seed are nested");
  nas_dataset *sub2 = nas_data_subset(b, 10, 5, &err);
  int64_t i10[10];
  view_ids(sub2, i10);
  int inb = 1;
  for (int i = 0; i < 10; i++) {
    int found = 0;
    for (int j = 0; j < 60; j++) found |= idb[j] == i10[i];
    inb &= found;
  }
  CHECK(inb, "subset of a view takes the view's rows");
  nas_data_free(sub2);
  CHECK(!nas_data_subset(d, 0, 1, &err) && err.status == NAS_EINVAL, "subset 0: %s", err.msg);
  CHECK(!nas_data_subset(d, N + 1, 1, &err) && msg_has(&err, "301", NULL), "subset n+1: %s",
        err.msg);

  /* concat: rows of a then b, a's normalisation */
  float five = 0.5f, two = 2.0f;
  nas_data_set_norm(b, &five, &two, 1);
  nas_dataset *c = nas_data_concat(a, b, &err);
  CHECK(c && nas_data_count(c) == N, "concat count: %s", err.msg);
  int64_t idc[N];
  view_ids(c, idc);
  CHECK(memcmp(idc, ida, 240 * sizeof *idc) == 0 && memcmp(idc + 240, idb, 60 * sizeof *idc) == 0,
        "concat rows are a's then b's");
  nas_data_get_norm(c, &m1, &s1);
  CHECK(m1 == m0 && s1 == s0, "concat keeps a's normalisation");
  nas_dataset *other = load_ids("other", 20);
  CHECK(!nas_data_concat(a, other, &err) && err.status == NAS_EINVAL &&
            msg_has(&err, "different", NULL),
        "concat of different storage: %s", err.msg);

  /* reference counting: free the parent first, views stay valid (ASan) */
  nas_dataset *r = nas_data_ref(s60);
  CHECK(r == s60, "ref returns the same view");
  nas_data_free(s60);
  nas_data_free(d);
  nas_data_free(a);
  nas_data_free(b);
  view_ids(r, i60);
  CHECK(memcmp(i60, idb, sizeof i60) == 0, "a view outlives its parent");
  nas_data_free(r);
  nas_data_free(s100);
  nas_data_free(c);
  nas_data_free(other);
  nas_data_free(NULL);
}

/* Replays the documented draws: crop top, crop left, then flip. */
static void test_augment(void) {
  enum { H = 4, W = 5, N = 64 };
  uint8_t px[N * H * W], lab[N];
  for (int i = 0; i < N * H * W; i++) px[i] = (uint8_t)(1 + (i * 13) % 250); /* never 0 */
  for (int i = 0; i < N; i++) lab[i] = (uint8_t)(i % 3);
  const char *ip = tmp_path("aug-images"), *lp = tmp_path("aug-labels");
  uint32_t idims[3] = {N, H, W}, ldims[1] = {N};
  write_idx(ip, 0, 0x803, idims, 3, px, sizeof px, 0);
  write_idx(lp, 0, 0x801, ldims, 1, lab, N, 0);
  nas_error err;
  nas_dataset *d = nas_data_load_idx(ip, lp, &err);
  CHECK(d != NULL, "load aug: %s", err.msg);
  if (!d) return;
  float mean, sd;
  nas_data_get_norm(d, &mean, &sd);
  const float zero = norm_of(0, mean, sd);
  CHECK(zero != 0.0f, "padding value is a normalised raw 0, not 0.0");

  int64_t rows[N], y[N];
  for (int i = 0; i < N; i++) rows[i] = N - 1 - i;
  static float x[N * H * W], x2[N * H * W];

  /* flip only */
  nas_augment fl = {0, 1, 0};
  nas_rng r, rr;
  nas_rng_seed(&r, 11);
  nas_rng_seed(&rr, 11);
  nas_data_batch(d, rows, N, &fl, &r, x, y);
  int ok = 1, nflip = 0;
  for (int s = 0; s < N; s++) {
    int f = (int)nas_rng_below(&rr, 2);
    nflip += f;
    const uint8_t *src = px + rows[s] * H * W;
    for (int i = 0; i < H; i++)
      for (int j = 0; j < W; j++)
        ok &= x[s * H * W + i * W + j] == norm_of(src[i * W + (f ? W - 1 - j : j)], mean, sd);
  }
  CHECK(ok, "flip gives the mirrored image, drawn as documented");
  CHECK(nflip > 10 && nflip < N - 10, "both flipped and plain samples (%d flipped)", nflip);
  int ylab = 1;
  for (int s = 0; s < N; s++) ylab &= y[s] == lab[rows[s]];
  CHECK(ylab, "labels follow rows under augmentation");

  /* crop with pad 2 (and flip): shape kept, content shifted, zeros padded */
  for (int pad = 1; pad <= 6; pad += 5) {
    nas_augment cf = {pad, 1, 0};
    nas_rng_seed(&r, 5);
    nas_rng_seed(&rr, 5);
    nas_data_batch(d, rows, N, &cf, &r, x, y);
    int exact = 1, shifted = 0, padded = 0;
    for (int s = 0; s < N; s++) {
      int dy = (int)nas_rng_below(&rr, 2 * pad + 1) - pad;
      int dx = (int)nas_rng_below(&rr, 2 * pad + 1) - pad;
      int f = (int)nas_rng_below(&rr, 2);
      shifted += dy != 0 || dx != 0;
      const uint8_t *src = px + rows[s] * H * W;
      for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
          int sy = i + dy, sx = (f ? W - 1 - j : j) + dx;
          float want = (sy >= 0 && sy < H && sx >= 0 && sx < W)
                           ? norm_of(src[sy * W + sx], mean, sd) : zero;
          padded += want == zero;
          exact &= x[s * H * W + i * W + j] == want;
        }
    }
    CHECK(exact, "crop(pad %d)+flip matches the shifted, padded, mirrored image", pad);
    CHECK(shifted > N / 2 && padded > 0, "crop shifts most samples (%d) and pads (%d)",
          shifted, padded);
  }

  /* crop only, pad 1: a pure shift, verified against the 9 candidates */
  nas_augment co = {1, 0, 0};
  nas_rng_seed(&r, 9);
  nas_data_batch(d, rows, N, &co, &r, x, NULL);
  int all_shift = 1;
  for (int s = 0; s < N; s++) {
    int any = 0;
    const uint8_t *src = px + rows[s] * H * W;
    for (int dy = -1; dy <= 1; dy++)
      for (int dx = -1; dx <= 1; dx++) {
        int m = 1;
        for (int i = 0; i < H; i++)
          for (int j = 0; j < W; j++) {
            int sy = i + dy, sx = j + dx;
            float want = (sy >= 0 && sy < H && sx >= 0 && sx < W)
                             ? norm_of(src[sy * W + sx], mean, sd) : zero;
            m &= x[s * H * W + i * W + j] == want;
          }
        any |= m;
      }
    all_shift &= any;
  }
  CHECK(all_shift, "crop only: every sample is one of the 9 shifts of its image");

  /* same seed, same batch; another seed, another batch */
  nas_augment both = {2, 1, 0};
  nas_rng_seed(&r, 77);
  nas_data_batch(d, rows, N, &both, &r, x, NULL);
  nas_rng_seed(&r, 77);
  nas_data_batch(d, rows, N, &both, &r, x2, NULL);
  CHECK(memcmp(x, x2, sizeof x) == 0, "same rng seed, same augmented batch");
  nas_rng_seed(&r, 78);
  nas_data_batch(d, rows, N, &both, &r, x2, NULL);
  CHECK(memcmp(x, x2, sizeof x) != 0, "different seed, different augmented batch");

  /* rng NULL: no augmentation */
  nas_data_batch(d, rows, N, &both, NULL, x, NULL);
  int plain = 1;
  for (int s = 0; s < N; s++)
    for (int k = 0; k < H * W; k++)
      plain &= x[s * H * W + k] == norm_of(px[rows[s] * H * W + k], mean, sd);
  CHECK(plain, "rng NULL: plain batch");
  nas_data_free(d);
}

/* Random erasing: every erased sample against torchvision's rule (one
 * rectangle of 2-33 % of the image, aspect 0.3-3.3, set to 0.0 after
 * normalisation), the rate, and the draws' determinism. */
static void test_erase(void) {
  enum { H = 16, W = 12, N = 400 };
  static uint8_t px[N * H * W];
  uint8_t lab[N];
  for (int i = 0; i < N * H * W; i++) px[i] = (uint8_t)(1 + (i * 7) % 250);
  for (int i = 0; i < N; i++) lab[i] = (uint8_t)(i % 10);
  const char *ip = tmp_path("erase-images"), *lp = tmp_path("erase-labels");
  uint32_t idims[3] = {N, H, W}, ldims[1] = {N};
  write_idx(ip, 0, 0x803, idims, 3, px, sizeof px, 0);
  write_idx(lp, 0, 0x801, ldims, 1, lab, N, 0);
  nas_error err;
  nas_dataset *d = nas_data_load_idx(ip, lp, &err);
  CHECK(d != NULL, "load erase: %s", err.msg);
  if (!d) return;
  const int64_t ss = nas_data_sample_size(d);
  int64_t shape[3];
  nas_data_shape(d, shape);
  const int c = (int)shape[0], h = (int)shape[1], w = (int)shape[2];
  static float x[N * H * W], x0[N * H * W], x2[N * H * W];
  nas_data_batch(d, NULL, N, NULL, NULL, x0, NULL);
  nas_augment er = {0, 0, 0.5};
  nas_rng r;
  nas_rng_seed(&r, 5);
  nas_data_batch(d, NULL, N, &er, &r, x, NULL);
  int erased = 0, rule = 1;
  for (int s = 0; s < N; s++) {
    const float *a = x + s * ss, *b = x0 + s * ss;
    /* the bounding box of the changed pixels of channel 0 */
    int t = h, l = w, bo = -1, ri = -1, changed = 0;
    for (int i = 0; i < h; i++)
      for (int j = 0; j < w; j++)
        if (a[i * w + j] != b[i * w + j]) {
          changed++;
          if (i < t) t = i;
          if (i > bo) bo = i;
          if (j < l) l = j;
          if (j > ri) ri = j;
        }
    if (!changed) {
      rule &= memcmp(a, b, sizeof(float) * (size_t)ss) == 0;
      continue;
    }
    erased++;
    const int rh = bo - t + 1, rw = ri - l + 1;
    const double frac = (double)rh * rw / ((double)h * w), asp = (double)rh / rw;
    int inside = 1;
    for (int k = 0; k < c; k++)
      for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
          const float v = a[(k * h + i) * w + j];
          const int in = i >= t && i <= bo && j >= l && j <= ri;
          inside &= in ? v == 0.0f : v == b[(k * h + i) * w + j];
        }
    /* sqrt and rounding: the area may end a little outside [0.02, 0.33] */
    rule &= inside && frac > 0.01 && frac < 0.45 && asp > 0.2 && asp < 5.0;
  }
  CHECK(rule, "erase: one rectangle of zeros on every channel, of the documented size");
  CHECK(erased > N / 4 && erased < 3 * N / 4, "erase 0.5: about half the samples erased (%d of %d)", erased, N);
  nas_rng_seed(&r, 5);
  nas_data_batch(d, NULL, N, &er, &r, x2, NULL);
  CHECK(memcmp(x, x2, sizeof(float) * (size_t)(N * ss)) == 0, "erase: same seed, same batch");
  nas_augment all = {0, 0, 1.0};
  nas_data_batch(d, NULL, N, &all, &r, x2, NULL);
  int every = 1;
  for (int s = 0; s < N; s++) every &= memcmp(x2 + s * ss, x0 + s * ss, sizeof(float) * (size_t)ss) != 0;
  CHECK(every, "erase 1.0: every sample erased");
  nas_data_free(d);
}

static void write_cifar(const char *path, int gz, int label_bytes, int n, int base, int cut,
                        int badlabel) {
  size_t rec = (size_t)label_bytes + 3072;
  unsigned char *b = malloc(rec * n);
  for (int i = 0; i < n; i++) {
    unsigned char *r = b + rec * i;
    int id = base + i;
    if (label_bytes == 1) {
      r[0] = (unsigned char)(id % 10);
    } else {
      r[0] = (unsigned char)(id % 20);
      r[1] = (unsigned char)((id * 7) % 100);
    }
    if (badlabel && i == n - 1) r[label_bytes - 1] = label_bytes == 1 ? 10 : 100;
    for (int c = 0; c < 3; c++)
      for (int k = 0; k < 1024; k++)
        r[label_bytes + c * 1024 + k] = (unsigned char)(c * 80 + (id + k) % 50);
  }
  write_file(path, gz, b, rec * n - (size_t)cut);
  free(b);
}

static void test_cifar(void) {
  nas_error err;
  const char *f1 = tmp_path("c10-1.bin"), *f2 = tmp_path("c10-2.bin.gz");
  write_cifar(f1, 0, 1, 3, 0, 0, 0);
  write_cifar(f2, 1, 1, 4, 3, 0, 0);
  const char *paths[2] = {f1, f2};
  nas_dataset *d = nas_data_load_cifar(paths, 2, 1, &err);
  CHECK(d != NULL, "load CIFAR-10: %s", err.msg);
  if (d) {
    int64_t dims[3];
    nas_data_shape(d, dims);
    CHECK(nas_data_count(d) == 7 && nas_data_classes(d) == 10 && dims[0] == 3 &&
              dims[1] == 32 && dims[2] == 32,
          "CIFAR-10 count, classes, shape");
    float m[3], s[3];
    nas_data_get_norm(d, m, s);
    /* channel c holds c*80 + (0..49): means differ by 80/255 between channels */
    CHECK(fabsf((m[1] - m[0]) - 80.0f / 255) < 1e-4 && fabsf((m[2] - m[1]) - 80.0f / 255) < 1e-4,
          "per-channel means %g %g %g", m[0], m[1], m[2]);
    static float x[2 * 3072];
    int64_t rows[2] = {5, 1}, y[2];
    nas_data_batch(d, rows, 2, NULL, NULL, x, y);
    CHECK(y[0] == 5 && y[1] == 1, "CIFAR-10 labels %lld %lld", (long long)y[0],
          (long long)y[1]);
    int exact = 1;
    for (int i = 0; i < 2; i++)
      for (int c = 0; c < 3; c++)
        for (int k = 0; k < 1024; k++)
          exact &= x[i * 3072 + c * 1024 + k] ==
                   norm_of(c * 80 + ((int)rows[i] + k) % 50, m[c], s[c]);
    CHECK(exact, "CIFAR-10 pixels are CHW, normalised per channel");
    float half = 0.5f, quarter = 0.25f;
    nas_data_set_norm(d, &half, &quarter, 1);
    nas_data_get_norm(d, m, s);
    CHECK(m[0] == 0.5f && m[2] == 0.5f && s[1] == 0.25f && s[2] == 0.25f,
          "one mean/std broadcasts to every channel");
    nas_data_free(d);
  }

  const char *f100 = tmp_path("c100.bin");
  write_cifar(f100, 0, 2, 5, 0, 0, 0);
  d = nas_data_load_cifar(&f100, 1, 2, &err);
  CHECK(d && nas_data_count(d) == 5 && nas_data_classes(d) == 100, "CIFAR-100: %s", err.msg);
  if (d) {
    int64_t rows[1] = {3}, y[1];
    static float x[3072];
    nas_data_batch(d, rows, 1, NULL, NULL, x, y);
    CHECK(y[0] == 21, "CIFAR-100 uses the fine label (21), got %lld", (long long)y[0]);
    nas_data_free(d);
  }

  const char *bad = tmp_path("c10-bad.bin");
  write_cifar(bad, 0, 1, 3, 0, 100, 0);
  d = nas_data_load_cifar(&bad, 1, 1, &err);
  CHECK(!d && err.status == NAS_EIO &&
            msg_has(&err, bad, "9119", "not a multiple", "3073", NULL),
        "CIFAR bad size: %s", err.msg);
  d = nas_data_load_cifar(&f100, 1, 1, &err);
  CHECK(!d && msg_has(&err, f100, "15370", "CIFAR-100", NULL), "CIFAR-100 read as 10: %s",
        err.msg);
  const char *bl = tmp_path("c10-badlabel.bin");
  write_cifar(bl, 0, 1, 3, 0, 0, 1);
  d = nas_data_load_cifar(&bl, 1, 1, &err);
  CHECK(!d && msg_has(&err, bl, "record 2", "label 10", "out of range", NULL),
        "CIFAR bad label: %s", err.msg);
  const char *bl100 = tmp_path("c100-badlabel.bin");
  write_cifar(bl100, 0, 2, 2, 0, 0, 1);
  d = nas_data_load_cifar(&bl100, 1, 2, &err);
  CHECK(!d && msg_has(&err, bl100, "fine 100", "out of range", NULL), "CIFAR-100 bad label: %s",
        err.msg);
  const char *missing[2] = {f1, tmp_path("c10-missing.bin")};
  d = nas_data_load_cifar(missing, 2, 1, &err);
  CHECK(!d && msg_has(&err, missing[1], "cannot open", NULL), "CIFAR missing: %s", err.msg);
  const char *empty = tmp_path("c10-empty.bin");
  write_file(empty, 0, "", 0);
  d = nas_data_load_cifar(&empty, 1, 1, &err);
  CHECK(!d && msg_has(&err, empty, "empty", NULL), "CIFAR empty: %s", err.msg);
  d = nas_data_load_cifar(&f1, 1, 3, &err);
  CHECK(!d && err.status == NAS_EINVAL && msg_has(&err, "label_bytes", NULL),
        "label_bytes 3: %s", err.msg);
  d = nas_data_load_cifar(&f1, 0, 1, &err);
  CHECK(!d && err.status == NAS_EINVAL, "no CIFAR files");
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_fashion_mnist(void) {
  const char *root = getenv("NAS_DATA_ROOT");
  char dir[512], ip[700], lp[700], tip[700], tlp[700];
  if (root && *root)
    snprintf(dir, sizeof dir, "%s/fashion-mnist", root);
  else
    snprintf(dir, sizeof dir, "/usr/share/datasets/fashion-mnist");
  snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
  if (access(ip, R_OK) != 0 && root && *root) { /* NAS_DATA_ROOT may be the folder itself */
    snprintf(dir, sizeof dir, "%s", root);
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
  }
  if (access(ip, R_OK) != 0) {
    printf("test_data: Fashion-MNIST not found at %s: real-data checks NOT RUN\n", dir);
    return;
  }
  snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
  snprintf(tip, sizeof tip, "%s/t10k-images-idx3-ubyte.gz", dir);
  snprintf(tlp, sizeof tlp, "%s/t10k-labels-idx1-ubyte.gz", dir);
  nas_error err;
  double t0 = now();
  nas_dataset *d = nas_data_load_idx(ip, lp, &err);
  double t1 = now();
  CHECK(d != NULL, "load Fashion-MNIST: %s", err.msg);
  if (!d) return;
  int64_t dims[3];
  nas_data_shape(d, dims);
  CHECK(nas_data_count(d) == 60000 && dims[0] == 1 && dims[1] == 28 && dims[2] == 28 &&
            nas_data_classes(d) == 10,
        "Fashion-MNIST 60000 x 1x28x28, 10 classes");
  float m, s;
  nas_data_get_norm(d, &m, &s);
  CHECK(fabsf(m - 0.2860f) < 0.001f && fabsf(s - 0.3530f) < 0.001f,
        "Fashion-MNIST mean %.4f std %.4f (expected 0.2860, 0.3530)", m, s);

  nas_dataset *t = nas_data_load_idx(tip, tlp, &err);
  CHECK(t && nas_data_count(t) == 10000, "Fashion-MNIST test set: %s", err.msg);
  if (t) { /* the test set is normalised with the training statistics */
    nas_data_set_norm(t, &m, &s, 1);
    float tm, ts;
    nas_data_get_norm(t, &tm, &ts);
    CHECK(tm == m && ts == s, "test set takes the training statistics");
    nas_data_free(t);
  }

  enum { B = 128 };
  static float x[B * 784];
  int64_t rows[B], y[B];
  nas_rng r;
  nas_rng_seed(&r, 1);
  int hist[10] = {0};
  {
    int64_t yy;
    for (int64_t i = 0; i < 60000; i++) {
      nas_data_batch(d, &i, 1, NULL, NULL, x, &yy);
      if (yy >= 0 && yy < 10) hist[yy]++;
    }
  }
  int balanced = 1;
  for (int c = 0; c < 10; c++) balanced &= hist[c] == 6000;
  CHECK(balanced, "Fashion-MNIST has 6000 training images per class");

  nas_augment aug = {2, 1, 0};
  const int steps = 469;
  double t2 = now();
  for (int k = 0; k < steps; k++) {
    for (int i = 0; i < B; i++) rows[i] = nas_rng_below(&r, 60000);
    nas_data_batch(d, rows, B, &aug, &r, x, y);
  }
  double t3 = now();
  for (int k = 0; k < steps; k++) {
    for (int i = 0; i < B; i++) rows[i] = nas_rng_below(&r, 60000);
    nas_data_batch(d, rows, B, NULL, NULL, x, y);
  }
  double t4 = now();
  printf("test_data: Fashion-MNIST load %.2f s; one epoch of 128-batches: %.1f ms augmented, "
         "%.1f ms plain\n", t1 - t0, (t3 - t2) * 1e3, (t4 - t3) * 1e3);
  nas_data_free(d);
}

int main(void) {
  const char *t = getenv("NAS_TEST_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
  test_rng();
  test_idx_small(0);
  test_idx_small(1);
  test_idx_errors();
  test_views();
  test_augment();
  test_erase();
  test_cifar();
  test_fashion_mnist();
  /* remove the files this run wrote */
  for (int i = 0; i < tmpcount; i++) remove(tmppaths[i]);
  printf("test_data: %d checks, %d failed\n", checks, failed);
  return failed != 0;
}
