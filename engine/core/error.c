/* Errors and the interrupt flag. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "core_impl.h"

static volatile sig_atomic_t interrupted = 0;

void nas_interrupt_set(void) { interrupted = 1; }
void nas_interrupt_clear(void) { interrupted = 0; }
int nas_interrupt_pending(void) { return interrupted != 0; }

const char *nas_status_name(nas_status s) {
  switch (s) {
  case NAS_OK: return "ok";
  case NAS_EINVAL: return "invalid argument";
  case NAS_EGRAPH: return "graph error";
  case NAS_ENOMEM: return "out of memory";
  case NAS_EIO: return "I/O error";
  case NAS_ENUMERIC: return "numeric error";
  case NAS_EDEVICE: return "device error";
  case NAS_EINTERRUPT: return "interrupted";
  case NAS_ETORCH: return "libtorch error";
  }
  return "unknown error";
}

nas_status nas_seterr(nas_error *err, nas_status status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return status;
}

void nas_clearerr(nas_error *err) {
  if (err) {
    err->status = NAS_OK;
    err->msg[0] = '\0';
  }
}
