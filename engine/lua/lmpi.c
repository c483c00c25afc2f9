/* nas.mpi: the MPI transport of parallel search (a separate Lua module,
 * build/lua/nas/mpi.so, linked with Open MPI). nasrun loads it only when it
 * runs under mpirun, so that a plain `nasrun script.lua` never initialises
 * MPI. Messages are byte strings; what they hold is Lua's (lua/nas/workers.lua).
 *
 *   local mpi = require "nas.mpi"     -- MPI_Init; MPI_Finalize when the Lua state closes
 *   mpi.rank, mpi.size, mpi.local_rank, mpi.host
 *   mpi.send(dest, "bytes") -> true | "exit" (an exit arrived while the send waited)
 *   mpi.wait(timeout_s) -> source | nil (timeout) | "exit"   (polls with short sleeps:
 *                                                              no core spins while idle)
 *   mpi.recv(source) -> "bytes"
 *   mpi.abort(code)
 *
 * Rank 0 closing its Lua state sends every other rank an exit message (tag
 * EXIT) before MPI_Finalize, so workers idle in a search leave cleanly. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#define TAG_MSG 1
#define TAG_EXIT 2

static int g_rank = -1, g_size = 0, g_done = 0;

static void nap(double s) {
  struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
  nanosleep(&ts, NULL);
}

/* The longest nap of a wait: short on the coordinator (a result is handled
 * within 0.1 ms), longer on a worker (it waits for its next trial without
 * taking CPU from the ranks that train). */
static double nap_cap(void) { return g_rank == 0 ? 100e-6 : 1e-3; }

static int exit_pending(void) {
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(MPI_ANY_SOURCE, TAG_EXIT, MPI_COMM_WORLD, &flag, &st);
  return flag;
}

static int l_send(lua_State *L) {
  lua_Integer dest = luaL_checkinteger(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (g_done) return luaL_error(L, "nas.mpi: MPI is finalized");
  if (dest < 0 || dest >= g_size) luaL_argerror(L, 1, "no such rank");
  if (n > (size_t)1 << 30) luaL_argerror(L, 2, "message larger than 1 GiB");
  MPI_Request req;
  MPI_Isend(s, (int)n, MPI_CHAR, (int)dest, TAG_MSG, MPI_COMM_WORLD, &req);
  double sleep = 20e-6;
  for (;;) {
    int flag = 0;
    MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
    if (flag) break;
    if (g_rank != 0 && exit_pending()) {
      MPI_Cancel(&req);
      MPI_Request_free(&req);
      lua_pushliteral(L, "exit");
      return 1;
    }
    nap(sleep);
    if (sleep < 100e-6) sleep *= 2; /* an eager send completes at once; a large one soon */
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_wait(lua_State *L) {
  double timeout = luaL_optnumber(L, 1, -1);
  if (g_done) return luaL_error(L, "nas.mpi: MPI is finalized");
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double sleep = 20e-6;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (flag) {
      if (st.MPI_TAG == TAG_EXIT) {
        char c;
        MPI_Recv(&c, 1, MPI_CHAR, st.MPI_SOURCE, TAG_EXIT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        lua_pushliteral(L, "exit");
        return 1;
      }
      lua_pushinteger(L, st.MPI_SOURCE);
      return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9;
    if (timeout >= 0 && el >= timeout) return 0;
    nap(sleep);
    if (sleep < nap_cap()) sleep *= 2;
  }
}

static int l_recv(lua_State *L) {
  lua_Integer src = luaL_checkinteger(L, 1);
  if (g_done) return luaL_error(L, "nas.mpi: MPI is finalized");
  if (src < 0 || src >= g_size) luaL_argerror(L, 1, "no such rank");
  MPI_Status st;
  MPI_Probe((int)src, TAG_MSG, MPI_COMM_WORLD, &st);
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  luaL_Buffer b;
  char *buf = luaL_buffinitsize(L, &b, n > 0 ? (size_t)n : 1);
  MPI_Recv(buf, n, MPI_CHAR, (int)src, TAG_MSG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

static int l_abort(lua_State *L) {
  int code = (int)luaL_optinteger(L, 1, 1);
  if (!g_done) MPI_Abort(MPI_COMM_WORLD, code);
  return 0;
}

static int finalize(lua_State *L) {
  (void)L;
  if (g_done) return 0;
  g_done = 1;
  if (g_rank == 0) {
    char c = 0;
    MPI_Request *reqs = calloc((size_t)(g_size > 1 ? g_size : 1), sizeof *reqs);
    int n = 0;
    for (int r = 1; r < g_size && reqs; r++) MPI_Isend(&c, 1, MPI_CHAR, r, TAG_EXIT, MPI_COMM_WORLD, &reqs[n++]);
    if (reqs) {
      MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE);
      free(reqs);
    }
  }
  MPI_Finalize();
  return 0;
}

static const luaL_Reg funcs[] = {
  {"send", l_send}, {"wait", l_wait}, {"recv", l_recv}, {"abort", l_abort}, {NULL, NULL}
};

int luaopen_nas_mpi(lua_State *L) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    /* Open MPI loads its components as plugins that need libmpi's symbols
     * global; Lua loaded this module (and with it libmpi) locally. */
    void *h = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (!h) h = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    (void)h;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      return luaL_error(L, "nas.mpi: MPI_Init failed");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  luaL_newlib(L, funcs);
  lua_pushinteger(L, g_rank);
  lua_setfield(L, -2, "rank");
  lua_pushinteger(L, g_size);
  lua_setfield(L, -2, "size");
  const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (!lr) lr = getenv("MPI_LOCALRANKID");
  lua_pushinteger(L, lr ? strtol(lr, NULL, 10) : 0);
  lua_setfield(L, -2, "local_rank");
  char name[MPI_MAX_PROCESSOR_NAME + 1];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  name[len > 0 ? len : 0] = '\0';
  lua_pushstring(L, name);
  lua_setfield(L, -2, "host");
  /* The sentinel: MPI_Finalize when the Lua state closes. */
  lua_newuserdatauv(L, 1, 0);
  lua_newtable(L);
  lua_pushcfunction(L, finalize);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "nas.mpi.sentinel");
  return 1;
}
