/* The embedded Lua 5.4 state shared by the Lua fuzz targets (fuzz_graph_json,
 * fuzz_genotype): nas.core is the instrumented engine linked into the target,
 * the Lua files are the source tree's. */
#ifndef NAS_FUZZ_LUA_TARGET_H
#define NAS_FUZZ_LUA_TARGET_H
#include <stddef.h>
#include <stdint.h>

/* Opens the state and runs tests/fuzz/<driver>.lua, which must return the
 * function called on each input. The chunk gets one argument, a table:
 *   fuzz.bug(msg)   reports a broken promise: prints msg and aborts (libFuzzer keeps the input)
 *   fuzz.tmpdir     a private temporary folder (removed at exit)
 *   fuzz.name       the target's name, for messages */
void nasfuzz_lua_init(const char *name, const char *driver);
/* Calls the driver on one input. The driver handles the errors it expects;
 * any error that escapes it is a bug (abort). */
void nasfuzz_lua_run(const uint8_t *data, size_t size);

#endif
