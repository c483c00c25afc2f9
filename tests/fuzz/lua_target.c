/* The embedded Lua 5.4 state of the Lua fuzz targets (see lua_target.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "lua_target.h"

#include <ftw.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lnas.h"

#ifndef NAS_SOURCE_DIR
#error "NAS_SOURCE_DIR (the source tree) must be defined"
#endif

static lua_State *L;
static int driver_ref = LUA_NOREF;
static const char *target = "fuzz";
static char tmpdir[256];

/* Coverage of the Lua code, for libFuzzer: a line hook counts each step from
 * one line to the next (AFL-style edges of (chunk, line) locations) in libFuzzer's
 * extra counters, so inputs that reach new Lua lines (nas.json's decoder, the
 * space and strategy code) are kept like those that reach new C code. */
#define LUA_EDGES (1 << 16)
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_edges[LUA_EDGES];
static uint32_t prev_loc;

static void line_hook(lua_State *Ls, lua_Debug *ar) {
  if (!lua_getinfo(Ls, "S", ar)) return;
  uintptr_t h = (uintptr_t)ar->source * 0x9e3779b1u ^ (uintptr_t)ar->currentline * 0x85ebca6bu;
  uint32_t loc = (uint32_t)(h ^ h >> 16) & (LUA_EDGES - 1);
  lua_edges[(loc ^ prev_loc) & (LUA_EDGES - 1)]++;
  prev_loc = loc >> 1;
}

static int l_bug(lua_State *Ls) {
  const char *msg = luaL_tolstring(Ls, 1, NULL);
  fprintf(stderr, "%s: broken promise: %s\n", target, msg);
  abort();
  return 0;
}

static int l_traceback(lua_State *Ls) {
  const char *msg = lua_tostring(Ls, 1);
  if (!msg) msg = luaL_tolstring(Ls, 1, NULL);
  luaL_traceback(Ls, Ls, msg, 1);
  return 1;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void at_exit(void) {
  if (L) {
    lua_close(L);
    L = NULL;
  }
  if (tmpdir[0]) nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void nasfuzz_lua_init(const char *name, const char *driver) {
  target = name;
  const char *base = getenv("TMPDIR");
  struct stat sb;
  if (!base || !*base) base = stat("/dev/shm", &sb) == 0 ? "/dev/shm" : "/tmp";
  snprintf(tmpdir, sizeof tmpdir, "%s/nas_%s_XXXXXX", base, name);
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    abort();
  }
  atexit(at_exit);
  L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  /* package.path: the source tree first; package.preload["nas.core"]: the linked engine */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;%s", NAS_SOURCE_DIR, NAS_SOURCE_DIR,
                  NAS_SOURCE_DIR, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 1);
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_nas_core);
  lua_setfield(L, -2, "nas.core");
  lua_pop(L, 2);

  lua_pushcfunction(L, l_traceback);
  char path[512];
  snprintf(path, sizeof path, "%s/tests/fuzz/%s.lua", NAS_SOURCE_DIR, driver);
  if (luaL_loadfile(L, path) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", name, lua_tostring(L, -1));
    abort();
  }
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, l_bug);
  lua_setfield(L, -2, "bug");
  lua_pushstring(L, tmpdir);
  lua_setfield(L, -2, "tmpdir");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  if (lua_pcall(L, 1, 1, -3) != LUA_OK || lua_type(L, -1) != LUA_TFUNCTION) {
    fprintf(stderr, "%s: driver %s: %s\n", name, path,
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "did not return a function");
    abort();
  }
  driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  if (!getenv("NAS_FUZZ_NO_LUA_COVERAGE")) lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}

void nasfuzz_lua_run(const uint8_t *data, size_t size) {
  prev_loc = 0;
  lua_pushcfunction(L, l_traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
    fprintf(stderr, "%s: an error escaped the driver: %s\n", target, lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  /* A full collection after every input: graphs are freed by __gc, and
   * libFuzzer looks for leaks (a slow scan) after any input that allocated
   * more than it freed. */
  lua_gc(L, LUA_GCCOLLECT);
}
