/* Fuzz target: reading a graph back from its JSON (the graph column of
 * trials.db, net:to_json()): nas.net.from_json, that is nas.json's decoder and
 * core.graph_from_table (engine/lua/lgraph.c) over nas_graph_from_desc. The
 * promises checked are in graph_json.lua. */
#include "lua_target.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  nasfuzz_lua_init("fuzz_graph_json", "graph_json");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nasfuzz_lua_run(data, size);
  return 0;
}
