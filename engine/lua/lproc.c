/* nas.core process primitives for parallel search (the local worker
 * transport): spawning worker processes over a socket pair, length-prefixed
 * message frames, polling, waiting, killing, a run-folder lock, and a few
 * host facts. The protocol itself (what the frames hold) is Lua's
 * (lua/nas/workers.lua); here are only bytes and processes.
 *
 *   local pid, fd = core.spawn(argv, { NAME = "value", ... } [, stdout_path])
 *   core.send(fd, "bytes") -> true | nil, msg
 *   core.recv(fd) -> "bytes" | nil, "closed" | nil, msg
 *   core.poll({fd, ...}, timeout_ms) -> { fd, ... } (readable or hung up)
 *   core.wait(pid [, block]) -> "running" | "exited", code | "signal", signo
 *   core.kill(pid, signo), core.close(fd)
 *   core.lock(path) -> fd | nil, msg, holder_pid;  core.unlock(fd)
 *   core.memory_limit(mb | nil) -> bytes | nil  (a cap on this process's growth)
 *   core.hostname(), core.pid(), core.cpus(), core.now(), core.sleep(seconds)
 *
 * A frame is a 4-byte big-endian length and the payload. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "lnas.h"

#define MAX_FRAME (1u << 30)

extern char **environ;

static int fail_errno(lua_State *L, const char *what) {
  int e = errno;
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(e));
  return 2;
}

/* Reads exactly n bytes; returns n, 0 on a clean end of file before any byte, -1 on error. */
static ssize_t read_full(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r == 0) {
      if (got == 0) return 0;
      errno = EPIPE;
      return -1;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int write_full(int fd, const char *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = send(fd, buf + done, n - done, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)w;
  }
  return 0;
}

static int check_fd(lua_State *L, int i) {
  lua_Integer fd = luaL_checkinteger(L, i);
  if (fd < 0 || fd > 1 << 20) luaL_argerror(L, i, "not a file descriptor");
  return (int)fd;
}

/* core.spawn(argv, env [, stdout_path]) -> pid, fd. The child gets the other
 * end of a socket pair as fd 3 (NASRUN_WORKER_FD=3 is added to its
 * environment), its own process group (a Ctrl-C at the terminal reaches only
 * the coordinator, which ends its workers), and dies with its parent. */
static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  const char *out_path = luaL_optstring(L, 3, NULL);
  lua_settop(L, 3);
  lua_newtable(L); /* 4: keeps the environment strings referenced until exec */
  int anchor = 4, nanchor = 0;
  lua_Integer argc = luaL_len(L, 1);
  if (argc < 1 || argc > 4096) luaL_argerror(L, 1, "argv must hold 1..4096 strings");
  /* Build argv and envp in Lua-owned memory before forking (no allocation in the child). */
  const char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(argc + 1), 0);
  for (lua_Integer i = 1; i <= argc; i++) {
    lua_rawgeti(L, 1, i);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 1, "argv must hold strings only");
    argv[i - 1] = lua_tostring(L, -1); /* still referenced by argv's table */
    lua_pop(L, 1);
  }
  argv[argc] = NULL;
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  size_t nextra = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (lua_type(L, -2) == LUA_TSTRING) nextra++;
    lua_pop(L, 1);
  }
  const char **envp = lua_newuserdatauv(L, sizeof(char *) * (nenv + nextra + 2), 0);
  size_t ne = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        luaL_argerror(L, 2, "environment values must be strings");
      lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
      envp[ne++] = lua_tostring(L, -1);
      lua_rawseti(L, anchor, ++nanchor);
    }
    lua_pop(L, 1);
  }
  envp[ne++] = "NASRUN_WORKER_FD=3";
  for (size_t i = 0; i < nenv; i++) {
    const char *e = environ[i];
    int overridden = strncmp(e, "NASRUN_WORKER_FD=", 17) == 0;
    for (size_t j = 0; j + 1 < ne && !overridden; j++) {
      const char *eq = strchr(envp[j], '=');
      size_t klen = eq ? (size_t)(eq - envp[j]) : strlen(envp[j]);
      if (strncmp(e, envp[j], klen) == 0 && e[klen] == '=') overridden = 1;
    }
    if (!overridden) envp[ne++] = e;
  }
  envp[ne] = NULL;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno(L, "socketpair");
  int outfd = -1;
  if (out_path) {
    outfd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (outfd < 0) {
      close(sv[0]);
      close(sv[1]);
      return fail_errno(L, out_path);
    }
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    if (outfd >= 0) close(outfd);
    return fail_errno(L, "fork");
  }
  if (pid == 0) {
    /* The child: only async-signal-safe calls until exec. */
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
#else
    (void)parent;
#endif
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (outfd >= 0) dup2(outfd, 1);
    if (dup2(sv[1], 3) < 0) _exit(127);
    execve(argv[0], (char *const *)argv, (char *const *)envp);
    _exit(127);
  }
  close(sv[1]);
  if (outfd >= 0) close(outfd);
  lua_pushinteger(L, pid);
  lua_pushinteger(L, sv[0]);
  return 2;
}

static int l_send(lua_State *L) {
  int fd = check_fd(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (n > MAX_FRAME) luaL_argerror(L, 2, "message larger than 1 GiB");
  unsigned char h[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                         (unsigned char)n };
  if (write_full(fd, (const char *)h, 4) != 0 || write_full(fd, s, n) != 0) return fail_errno(L, "send");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_recv(lua_State *L) {
  int fd = check_fd(L, 1);
  unsigned char h[4];
  ssize_t r = read_full(fd, (char *)h, 4);
  if (r == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
  }
  if (r < 0) return fail_errno(L, "recv");
  size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
  if (n > MAX_FRAME) {
    lua_pushnil(L);
    lua_pushliteral(L, "recv: frame larger than 1 GiB (a corrupted stream)");
    return 2;
  }
  luaL_Buffer b;
  char *buf = luaL_buffinitsize(L, &b, n ? n : 1);
  if (n && read_full(fd, buf, n) != (ssize_t)n) {
    if (errno == 0) errno = EPIPE;
    return fail_errno(L, "recv");
  }
  luaL_pushresultsize(&b, n);
  return 1;
}

static int l_poll(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Number ms = luaL_optnumber(L, 2, -1);
  lua_Integer n = luaL_len(L, 1);
  if (n < 0 || n > 65536) luaL_argerror(L, 1, "too many descriptors");
  struct pollfd *p = lua_newuserdatauv(L, sizeof(struct pollfd) * (size_t)(n ? n : 1), 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    p[i].fd = (int)luaL_checkinteger(L, -1);
    p[i].events = POLLIN;
    p[i].revents = 0;
    lua_pop(L, 1);
  }
  int timeout = ms < 0 ? -1 : ms > 1e9 ? 1000000000 : (int)ms;
  int r;
  do {
    r = poll(p, (nfds_t)n, timeout);
  } while (r < 0 && errno == EINTR && !nas_interrupt_pending());
  if (r < 0 && errno != EINTR) return fail_errno(L, "poll");
  lua_createtable(L, r > 0 ? r : 0, 0);
  int k = 0;
  for (lua_Integer i = 0; i < n && r > 0; i++) {
    if (p[i].revents) {
      lua_pushinteger(L, p[i].fd);
      lua_rawseti(L, -2, ++k);
    }
  }
  return 1;
}

static int l_wait(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  int block = lua_toboolean(L, 2);
  if (pid <= 0) luaL_argerror(L, 1, "a process id > 0 expected");
  int status = 0;
  pid_t r;
  do {
    r = waitpid((pid_t)pid, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return fail_errno(L, "waitpid");
  if (r == 0) {
    lua_pushliteral(L, "running");
    return 1;
  }
  if (WIFEXITED(status)) {
    lua_pushliteral(L, "exited");
    lua_pushinteger(L, WEXITSTATUS(status));
    return 2;
  }
  if (WIFSIGNALED(status)) {
    lua_pushliteral(L, "signal");
    lua_pushinteger(L, WTERMSIG(status));
    return 2;
  }
  lua_pushliteral(L, "running");
  return 1;
}

static int l_kill(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  lua_Integer sig = luaL_optinteger(L, 2, SIGTERM);
  if (pid <= 0) luaL_argerror(L, 1, "a process id > 0 expected");
  if (sig < 0 || sig > 64) luaL_argerror(L, 2, "not a signal number");
  if (kill((pid_t)pid, (int)sig) != 0) return fail_errno(L, "kill");
  lua_pushboolean(L, 1);
  return 1;
}

static int l_close(lua_State *L) {
  int fd = check_fd(L, 1);
  close(fd);
  return 0;
}

/* core.lock(path) -> fd | nil, msg, holder_pid. An exclusive advisory lock
 * (flock) held until core.unlock(fd) or the process ends (also by kill -9).
 * The holder's pid is written into the file. */
static int l_lock(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail_errno(L, path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    char buf[32] = { 0 };
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    lua_pushnil(L);
    lua_pushstring(L, e == EWOULDBLOCK ? "locked" : strerror(e));
    if (n > 0) lua_pushinteger(L, strtol(buf, NULL, 10));
    else lua_pushnil(L);
    return 3;
  }
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) { /* the lock holds without the pid */ }
  lua_pushinteger(L, fd);
  return 1;
}

static int l_unlock(lua_State *L) {
  int fd = check_fd(L, 1);
  flock(fd, LOCK_UN);
  close(fd);
  return 0;
}

/* Bytes of this process's data segment now (VmData: heap and private
 * writable mappings, what RLIMIT_DATA counts), or -1. */
static long long data_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmData:", 7) == 0) { kb = strtoll(line + 7, NULL, 10); break; }
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

/* core.memory_limit(mb) -> limit bytes: from now on this process may grow its
 * data segment by at most mb MiB (RLIMIT_DATA's soft limit; an allocation past
 * it fails: libtorch raises, Lua reports "not enough memory").
 * core.memory_limit(nil) lifts it back to the hard limit. */
static int l_memory_limit(lua_State *L) {
  struct rlimit r;
  if (getrlimit(RLIMIT_DATA, &r) != 0) return fail_errno(L, "getrlimit");
  if (lua_isnoneornil(L, 1)) {
    r.rlim_cur = r.rlim_max;
  } else {
    lua_Number mb = luaL_checknumber(L, 1);
    if (!(mb > 0) || mb > 1e9) luaL_argerror(L, 1, "MiB > 0 expected");
    long long now = data_bytes();
    if (now < 0) return fail_errno(L, "/proc/self/status");
    rlim_t want = (rlim_t)now + (rlim_t)(mb * 1048576.0);
    r.rlim_cur = (r.rlim_max != RLIM_INFINITY && want > r.rlim_max) ? r.rlim_max : want;
  }
  if (setrlimit(RLIMIT_DATA, &r) != 0) return fail_errno(L, "setrlimit");
  if (r.rlim_cur == RLIM_INFINITY) lua_pushnil(L);
  else lua_pushinteger(L, (lua_Integer)r.rlim_cur);
  return 1;
}

static int l_hostname(lua_State *L) {
  char buf[256];
  if (gethostname(buf, sizeof buf) != 0) strcpy(buf, "?");
  buf[sizeof buf - 1] = '\0';
  lua_pushstring(L, buf);
  return 1;
}

static int l_pid(lua_State *L) {
  lua_pushinteger(L, getpid());
  return 1;
}

/* Cores this process may run on (its affinity mask), else the online count. */
static int l_cpus(lua_State *L) {
  long n = 0;
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, n > 0 ? n : 1);
  return 1;
}

/* Wall-clock seconds (Unix time, sub-microsecond resolution): comparable across processes. */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  if (!(s >= 0)) luaL_argerror(L, 1, "seconds >= 0 expected");
  if (s > 1e6) s = 1e6;
  struct timespec ts = { (time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !nas_interrupt_pending()) {}
  return 0;
}

static const luaL_Reg proc_funcs[] = {
  {"spawn", l_spawn},
  {"send", l_send},
  {"recv", l_recv},
  {"poll", l_poll},
  {"wait", l_wait},
  {"kill", l_kill},
  {"close", l_close},
  {"lock", l_lock},
  {"unlock", l_unlock},
  {"memory_limit", l_memory_limit},
  {"hostname", l_hostname},
  {"pid", l_pid},
  {"cpus", l_cpus},
  {"now", l_now},
  {"sleep", l_sleep},
  {NULL, NULL}
};

int lnas_open_proc(lua_State *L) {
  luaL_setfuncs(L, proc_funcs, 0);
  return 0;
}
