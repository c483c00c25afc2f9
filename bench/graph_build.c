/* bench/graph_build.c: graphs per second through the C API (engine/core).
 *
 *   gcc -O2 -Iengine/include bench/graph_build.c build-bench/libnas_core.a -lz -lm -o build-bench/bench_graph_build
 *   build-bench/bench_graph_build [reps]
 *
 * One graph = nas_graph_new({1,28,28}) + 20 nas_graph_add calls (shape rule
 * and attribute checks of each node; the same residual CNN as
 * graph_build.lua/.py) + nas_graph_params + nas_graph_flops + nas_graph_free.
 * Rate = graphs / wall time (CLOCK_MONOTONIC) of a ~1 s window, median of reps
 * windows. Prints `RESULT graph_c <graphs/s>`. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nas.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int add(nas_graph *g, const char *op, const int *in, int nin, const nas_attr *a, int na) {
  nas_error err;
  int id = nas_graph_add(g, op, in, nin, a, na, &err);
  if (id < 0) {
    fprintf(stderr, "graph_build: %s: %s\n", op, err.msg);
    exit(1);
  }
  return id;
}

static int64_t build_one(int64_t *params_out, int64_t *flops_out) {
  static const int64_t in[3] = {1, 28, 28};
  const nas_attr c16[] = {NAS_ATTR_INT("out", 16), NAS_ATTR_INT("k", 3)};
  const nas_attr c32[] = {NAS_ATTR_INT("out", 32), NAS_ATTR_INT("k", 3)};
  const nas_attr c64[] = {NAS_ATTR_INT("out", 64), NAS_ATTR_INT("k", 3)};
  const nas_attr pool[] = {NAS_ATTR_INT("k", 2)};
  const nas_attr lin[] = {NAS_ATTR_INT("out", 10)};
  nas_error err;
  nas_graph *g = nas_graph_new(3, in, &err);
  if (!g) {
    fprintf(stderr, "graph_build: %s\n", err.msg);
    exit(1);
  }
  add(g, "conv", NULL, 0, c16, 2); add(g, "bn", NULL, 0, NULL, 0); add(g, "relu", NULL, 0, NULL, 0);
  add(g, "conv", NULL, 0, c16, 2); add(g, "bn", NULL, 0, NULL, 0); add(g, "relu", NULL, 0, NULL, 0);
  add(g, "maxpool", NULL, 0, pool, 1);
  add(g, "conv", NULL, 0, c32, 2); add(g, "bn", NULL, 0, NULL, 0);
  int ab[2];
  ab[0] = add(g, "relu", NULL, 0, NULL, 0);
  add(g, "conv", NULL, 0, c32, 2);
  ab[1] = add(g, "bn", NULL, 0, NULL, 0);
  add(g, "add", ab, 2, NULL, 0); add(g, "relu", NULL, 0, NULL, 0);
  add(g, "maxpool", NULL, 0, pool, 1);
  add(g, "conv", NULL, 0, c64, 2); add(g, "bn", NULL, 0, NULL, 0); add(g, "relu", NULL, 0, NULL, 0);
  add(g, "gap", NULL, 0, NULL, 0); add(g, "linear", NULL, 0, lin, 1);
  int64_t nodes = nas_graph_node_count(g);
  *params_out = nas_graph_params(g);
  *flops_out = nas_graph_flops(g);
  nas_graph_free(g);
  return nodes;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1 || reps > 100) reps = 5;
  int64_t p, f;
  int64_t nodes = build_one(&p, &f);
  printf("INFO graph_c_nodes %lld\nINFO graph_c_params %lld\nINFO graph_c_macs %lld\n",
         (long long)nodes - 1, (long long)p, (long long)f);
  volatile int64_t sink = 0;
  long n = 1000;
  for (;;) { /* calibrate a ~1 s window */
    double t0 = now();
    for (long i = 0; i < n; i++) { build_one(&p, &f); sink += p + f; }
    if (now() - t0 > 0.5) break;
    n *= 2;
  }
  double rates[100];
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    for (long i = 0; i < n; i++) { build_one(&p, &f); sink += p + f; }
    rates[r] = (double)n / (now() - t0);
  }
  qsort(rates, (size_t)reps, sizeof rates[0], cmp);
  double med = reps % 2 ? rates[reps / 2] : 0.5 * (rates[reps / 2 - 1] + rates[reps / 2]);
  printf("INFO graph_c_window %ld\nRESULT graph_c %.6g\n", n, med);
  return sink == 42 ? 1 : 0;
}
