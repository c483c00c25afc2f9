/* hello.c: a small network built through nas.h; prints its shapes, parameters
 * and multiply-accumulates. Trains nothing.
 *
 *   cmake -S examples/c -B build-hello -DCMAKE_PREFIX_PATH=<install prefix>
 *   cmake --build build-hello && ./build-hello/hello
 * or, with pkg-config:
 *   cc examples/c/hello.c $(pkg-config --cflags --libs nas) -o hello */
#include <stdio.h>

#include "nas.h"

int main(void) {
  nas_error err;
  int64_t in[3] = {1, 28, 28};
  nas_graph *g = nas_graph_new(3, in, &err);
  if (!g) {
    fprintf(stderr, "hello: %s\n", err.msg);
    return 1;
  }
  nas_attr conv1[] = {NAS_ATTR_INT("out", 16), NAS_ATTR_INT("k", 3)};
  nas_attr pool[] = {NAS_ATTR_INT("k", 2)};
  nas_attr conv2[] = {NAS_ATTR_INT("out", 32), NAS_ATTR_INT("k", 3)};
  nas_attr lin[] = {NAS_ATTR_INT("out", 10)};
  struct {
    const char *op;
    const nas_attr *attrs;
    int nattrs;
  } layers[] = {
      {"conv", conv1, 2}, {"bn", NULL, 0},   {"relu", NULL, 0}, {"maxpool", pool, 1}, {"conv", conv2, 2},
      {"bn", NULL, 0},    {"relu", NULL, 0}, {"gap", NULL, 0},  {"linear", lin, 1},
  };
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    if (nas_graph_add(g, layers[i].op, NULL, 0, layers[i].attrs, layers[i].nattrs, &err) < 0) {
      fprintf(stderr, "hello: %s\n", err.msg);
      nas_graph_free(g);
      return 1;
    }
  }
  char table[4096];
  nas_graph_summary(g, table, sizeof table);
  fputs(table, stdout);
  printf("nas %s: %lld params, %lld MACs, hash %016llx\n", NAS_VERSION, (long long)nas_graph_params(g),
         (long long)nas_graph_flops(g), (unsigned long long)nas_graph_hash(g));
  nas_graph_free(g);
  return 0;
}
