/* Fuzz target: a trials.db row whose genotype and metrics columns hold
 * arbitrary JSON, read back by nas.store and replayed through a space and a
 * strategy as a resumed search does. The input format and the promises
 * checked are in genotype.lua. */
#include "lua_target.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  nasfuzz_lua_init("fuzz_genotype", "genotype");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nasfuzz_lua_run(data, size);
  return 0;
}
