/* nasrun: runs a Lua NAS script with the nas module, modelled on Lua's lua.c.
 *
 *   nasrun [options] [script [args]]
 *
 * The script's arguments arrive in the global `arg` as with lua (arg[0] is
 * the script). Errors print `file:line: message` with a traceback and exit 1;
 * a bad option or a script that cannot be read exits 2, a Ctrl-C 130 (the
 * message alone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lnas.h"
#include "nas.h"

static const char *progname = "nasrun";
static lua_State *globalL = NULL;

static void print_usage(FILE *f) {
  fprintf(f,
          "usage: %s [options] [script [args]]\n"
          "       %s COMMAND RUN [args]   (report, show, trials, best, rescore, export;\n"
          "                               nasrun COMMAND --help for each)\n"
          "Runs a Lua 5.4 NAS script with the nas module (require \"nas\").\n"
          "Options:\n"
          "  -e stmt        execute string 'stmt' (may be repeated)\n"
          "  -l mod         require library 'mod' into global 'mod'\n"
          "  --threads N    intra-op threads for libtorch (default: all cores; with\n"
          "                 workers, cores / workers each)\n"
          "  --workers N    run searches on N local worker processes (default 1:\n"
          "                 in this process); under mpirun every rank > 0 is a worker\n"
          "  --seed N       default seed for models, data splits and searches (default 0)\n"
          "  --device D     cpu (default), cuda or cuda:N\n"
          "  -v, --version  print the version and exit\n"
          "  -h, --help     print this help and exit\n"
          "  --             stop handling options\n"
          "  -              run stdin as the script\n"
          "Environment: NASRUN_HOME overrides where the Lua files are found;\n"
          "NAS_DATA_ROOT is the datasets folder (default /usr/share/datasets).\n"
          "Under mpirun (Open MPI), rank 0 runs the script, the strategy and the store;\n"
          "the other ranks are workers (NASRUN_MPI=0 disables this).\n",
          progname, progname);
}

static void l_message(const char *pname, const char *msg) {
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(error object is not a string)";
    l_message(progname, msg);
    lua_pop(L, 1);
  }
  return status;
}

/* ---- SIGINT, as in lua.c: stop the Lua code at the next hook, and ask the
 * engine to stop at its next step. A second Ctrl-C kills the process. */
static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void laction(int i) {
  int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  signal(i, SIG_DFL);
  nas_interrupt_set();
  lua_sethook(globalL, lstop, flag, 1);
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if (nas_interrupt_pending()) return 1; /* Ctrl-C: the message alone, no traceback */
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  signal(SIGINT, laction);
  int status = lua_pcall(L, narg, nres, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

/* ---- paths ------------------------------------------------------------- */

static int readable(const char *dir, const char *file) {
  char p[PATH_MAX + 32];
  int n = snprintf(p, sizeof p, "%s/%s", dir, file);
  return n > 0 && (size_t)n < sizeof p && access(p, R_OK) == 0;
}

/* A source tree holds lua/nas/init.lua; an install's share/nasrun holds
 * strategies, spaces and examples, beside share/lua/5.4/nas/init.lua. */
static int is_tree(const char *dir) { return readable(dir, "lua/nas/init.lua"); }
static int is_root(const char *dir) { return is_tree(dir) || readable(dir, "../lua/5.4/nas/init.lua"); }

/* Where the Lua files live: $NASRUN_HOME, else <exe>/../share/nasrun (an
 * install), else the source tree this binary was built from. */
static const char *find_root(char *buf, size_t cap) {
  const char *env = getenv("NASRUN_HOME");
  if (env && *env) return env;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      int len = snprintf(buf, cap, "%.*s/../share/nasrun", (int)(cap - 32), exe);
      if (len > 0 && (size_t)len < cap && is_root(buf)) return buf;
    }
  }
  if (is_root(NASRUN_INSTALL_DATADIR)) return NASRUN_INSTALL_DATADIR;
  return NASRUN_SOURCE_DIR;
}

static void set_paths(lua_State *L) {
  char buf[PATH_MAX];
  const char *root = find_root(buf, sizeof buf);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  if (is_tree(root))
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;%s", root, root, root, lua_tostring(L, -1));
  else
    lua_pushfstring(L, "%s/?.lua;%s/../lua/5.4/?.lua;%s/../lua/5.4/?/init.lua;%s", root, root, root,
                    lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 1);
  /* C modules built beside nasrun (nas.mpi): <exe dir>/lua/?.so in a build
   * tree, <exe dir>/../lib/lua/5.4/?.so in an install. */
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    lua_getfield(L, -1, "cpath");
    lua_pushfstring(L, "%s/lua/?.so;%s/../lib/lua/5.4/?.so;%s/../%s/lua/5.4/?.so;%s", exe, exe, exe,
                    NASRUN_INSTALL_LIBDIR, lua_tostring(L, -1));
    lua_setfield(L, -3, "cpath");
    lua_pop(L, 1);
  }
  /* nas.core is linked in: preload it. */
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_nas_core);
  lua_setfield(L, -2, "nas.core");
  lua_pop(L, 1);
  lua_pushstring(L, root);
  lua_setfield(L, -2, "nasrun_home");
  lua_pop(L, 1);
}

/* ---- options ----------------------------------------------------------- */

typedef struct options {
  int script;        /* index of the script in argv, or 0 */
  int threads;
  int workers;
  long long seed;
  const char *device;
} options;

/* A whole decimal number that fits a long long (not "1e3", not 2^63). */
static int parse_int(const char *s, long long *out) {
  char *end;
  if (!s || !*s) return 0;
  errno = 0;
  *out = strtoll(s, &end, 10);
  return *end == '\0' && errno == 0;
}

/* cpu, cuda or cuda:N (N a device index >= 0). */
static int valid_device(const char *d) {
  if (strcmp(d, "cpu") == 0 || strcmp(d, "cuda") == 0) return 1;
  long long n;
  return strncmp(d, "cuda:", 5) == 0 && d[5] >= '0' && d[5] <= '9' && parse_int(d + 5, &n) && n <= INT_MAX;
}

/* Returns 0 on success, 1 to exit successfully (help/version), -1 on error. */
static int collect(int argc, char **argv, options *o) {
  o->script = 0;
  o->threads = 0;
  o->workers = 0;
  o->seed = 0;
  o->device = "cpu";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) { o->script = i; return 0; }
    if (strcmp(a, "--") == 0) { o->script = i + 1 < argc ? i + 1 : 0; return 0; }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { print_usage(stdout); return 1; }
    if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
      printf("nasrun %s (%s, libtorch %s)\n", NAS_VERSION, LUA_RELEASE, nas_torch_version());
      return 1;
    }
    if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
      if (++i >= argc) { fprintf(stderr, "%s: option '%s' needs an argument\n", progname, a); return -1; }
      continue; /* run later, in order */
    }
    if (strcmp(a, "--threads") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--workers") == 0) {
      long long v;
      if (i + 1 >= argc || !parse_int(argv[i + 1], &v)) {
        if (i + 1 < argc && errno == ERANGE)
          fprintf(stderr, "%s: %s '%s' is out of range (a 64-bit integer)\n", progname, a, argv[i + 1]);
        else
          fprintf(stderr, "%s: %s needs an integer argument\n", progname, a);
        return -1;
      }
      if (a[2] == 't') {
        if (v < 1 || v > 1024) { fprintf(stderr, "%s: --threads must be in 1..1024\n", progname); return -1; }
        o->threads = (int)v;
      } else if (a[2] == 'w') {
        if (v < 1 || v > 4096) { fprintf(stderr, "%s: --workers must be in 1..4096\n", progname); return -1; }
        o->workers = (int)v;
      } else {
        o->seed = v;
      }
      i++;
      continue;
    }
    if (strcmp(a, "--device") == 0) {
      if (i + 1 >= argc) { fprintf(stderr, "%s: --device needs an argument (cpu, cuda, cuda:N)\n", progname); return -1; }
      o->device = argv[++i];
      if (!valid_device(o->device)) {
        fprintf(stderr, "%s: unknown device '%s' (cpu, cuda or cuda:N)\n", progname, o->device);
        return -1;
      }
      continue;
    }
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
    print_usage(stderr);
    return -1;
  }
  return 0;
}

/* Whether this process is a rank of an MPI job (Open MPI's mpirun sets these). */
static int under_mpi(void) {
  const char *off = getenv("NASRUN_MPI");
  if (off && strcmp(off, "0") == 0) return 0;
  return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMI_SIZE") != NULL;
}

/* package.loaded["nas.config"] = {seed=, device=, threads=, workers=, role=,
 * worker_fd=, argv= {the command line}, exe=}; under mpirun also mpi = nas.mpi. */
static int set_config(lua_State *L, const options *o, int argc, char **argv) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_createtable(L, 0, 8);
  if (o->workers > 0) {
    lua_pushinteger(L, o->workers);
    lua_setfield(L, -2, "workers");
  }
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "argv");
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    lua_pushstring(L, exe);
    lua_setfield(L, -2, "exe");
  }
  const char *wfd = getenv("NASRUN_WORKER_FD");
  const char *role = "coordinator";
  if (wfd && *wfd) {
    long long fd;
    if (!parse_int(wfd, &fd) || fd < 0) {
      fprintf(stderr, "%s: NASRUN_WORKER_FD must be a file descriptor number\n", progname);
      lua_pop(L, 2);
      return 0;
    }
    lua_pushinteger(L, fd);
    lua_setfield(L, -2, "worker_fd");
    role = "worker";
  } else if (under_mpi()) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "nas.mpi");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      fprintf(stderr, "%s: running under mpirun, but the MPI transport does not load (%s); "
              "build nasrun with libopenmpi-dev installed, or set NASRUN_MPI=0\n",
              progname, lua_tostring(L, -1));
      lua_pop(L, 3);
      return 0;
    }
    lua_getfield(L, -1, "rank");
    if (lua_tointeger(L, -1) > 0) role = "worker";
    lua_pop(L, 1);
    lua_setfield(L, -2, "mpi");
    /* Without --threads, the ranks on one machine share its cores. */
    const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    long local_size = ls ? strtol(ls, NULL, 10) : 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->threads == 0 && local_size > 0 && cores > 0) nas_threads_set((int)(cores / local_size > 0 ? cores / local_size : 1));
  }
  lua_pushstring(L, role);
  lua_setfield(L, -2, "role");
  /* --device cuda on workers: one GPU per worker, by the worker's local index
   * (a local worker's id - 1, an MPI rank's local rank) modulo the GPUs seen. */
  const char *device = o->device;
  char devbuf[32];
  if (strcmp(device, "cuda") == 0 && strcmp(role, "worker") == 0) {
    const char *id = getenv("NASRUN_WORKER_ID");
    const char *lr = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    long idx = id ? strtol(id, NULL, 10) - 1 : lr ? strtol(lr, NULL, 10) : 0;
    int count = nas_cuda_device_count();
    if (count > 0 && idx >= 0) {
      snprintf(devbuf, sizeof devbuf, "cuda:%ld", idx % count);
      device = devbuf;
    }
  }
  lua_pushinteger(L, o->seed);
  lua_setfield(L, -2, "seed");
  lua_pushstring(L, device);
  lua_setfield(L, -2, "device");
  lua_pushinteger(L, nas_threads_get());
  lua_setfield(L, -2, "threads");
  if (o->threads > 0) {
    lua_pushinteger(L, o->threads);
    lua_setfield(L, -2, "threads_given");
  }
  lua_setfield(L, -2, "nas.config");
  lua_pop(L, 1);
  return 1;
}

static void create_arg(lua_State *L, char **argv, int argc, int script) {
  int narg = script ? argc - (script + 1) : 0;
  lua_createtable(L, narg, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int run_options(lua_State *L, char **argv, int upto) {
  for (int i = 1; i < upto; i++) {
    if (strcmp(argv[i], "-e") == 0) {
      const char *chunk = argv[++i];
      if (dochunk(L, luaL_loadbuffer(L, chunk, strlen(chunk), "=(command line)")) != LUA_OK) return 0;
    } else if (strcmp(argv[i], "-l") == 0) {
      const char *mod = argv[++i];
      lua_getglobal(L, "require");
      lua_pushstring(L, mod);
      if (report(L, docall(L, 1, 1)) != LUA_OK) return 0;
      lua_setglobal(L, mod);
    } else if (strcmp(argv[i], "--threads") == 0 || strcmp(argv[i], "--seed") == 0 ||
               strcmp(argv[i], "--device") == 0 || strcmp(argv[i], "--workers") == 0) {
      i++;
    }
  }
  return 1;
}

/* The subcommands that inspect a run folder; implemented in Lua (nas.cli). A
 * file of the same name in the current folder is still run as a script. */
static const char *const subcommands[] = {"report", "show", "trials", "best", "rescore", "export", NULL};

static int is_subcommand(const char *word) {
  for (int i = 0; subcommands[i]; i++) {
    if (strcmp(word, subcommands[i]) == 0) {
      FILE *f = fopen(word, "r");
      if (f) { fclose(f); return 0; }
      return 1;
    }
  }
  return 0;
}

/* nasrun COMMAND args: exit status = what nas.cli.main returns. */
static int handle_subcommand(lua_State *L, char **argv, int at, int argc, int *code) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "nas.cli");
  int status = docall(L, 1, 1);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    int n = argc - at;
    luaL_checkstack(L, n + 3, "too many arguments");
    for (int i = at; i < argc; i++) lua_pushstring(L, argv[i]);
    status = docall(L, n, 1);
    if (status == LUA_OK) {
      *code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
      lua_pop(L, 1);
    }
  }
  return report(L, status);
}

static int handle_script(lua_State *L, char **argv, int script, int argc) {
  const char *fname = argv[script];
  if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL; /* stdin */
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    status = docall(L, n, 0);
  }
  return report(L, status);
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  options o;
  int r = collect(argc, argv, &o);
  if (r != 0) {
    lua_pushinteger(L, r > 0 ? 0 : 2);
    return 1;
  }
  if (o.threads > 0) nas_threads_set(o.threads);
  luaL_openlibs(L);
  set_paths(L);
  if (!set_config(L, &o, argc, argv)) {
    lua_pushinteger(L, 1);
    return 1;
  }
  create_arg(L, argv, argc, o.script);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (!run_options(L, argv, o.script ? o.script : argc)) {
    lua_pushinteger(L, 1);
    return 1;
  }
  int has_e = 0;
  for (int i = 1; i < (o.script ? o.script : argc); i++)
    if (strcmp(argv[i], "-e") == 0) has_e = 1;
  if (o.script && is_subcommand(argv[o.script])) {
    int code = 0;
    if (handle_subcommand(L, argv, o.script, argc, &code) != LUA_OK) code = 1;
    lua_pushinteger(L, code);
    return 1;
  } else if (o.script) {
    int st = handle_script(L, argv, o.script, argc);
    if (st != LUA_OK) {
      lua_pushinteger(L, st == LUA_ERRFILE ? 2 : 1); /* a script that cannot be read: a usage error */
      return 1;
    }
  } else if (!has_e) {
    print_usage(stderr);
    lua_pushinteger(L, 2);
    return 1;
  }
  lua_pushinteger(L, 0);
  return 1;
}

int main(int argc, char **argv) {
  if (argv[0] && argv[0][0]) progname = "nasrun";
  /* Keep per-step tensor buffers on the heap instead of fresh mmaps, and do
   * not hand memory back to the OS after each step: otherwise page faults
   * cost seconds per epoch. */
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
  /* A write past a file-size limit fails with EFBIG (the store reports a full
   * disk and stays consistent) instead of killing the process. */
  signal(SIGXFSZ, SIG_IGN);
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    l_message(argv[0], "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int code = status == LUA_OK ? (int)lua_tointeger(L, -1) : 1;
  if (code != 0 && nas_interrupt_pending()) code = 128 + SIGINT; /* as a shell reports a Ctrl-C */
  report(L, status);
  lua_close(L);
  return code;
}
