/* Private declarations shared inside the engine (engine/core and engine/torch).
 * Not installed. */
#ifndef NAS_CORE_IMPL_H
#define NAS_CORE_IMPL_H
#include "nas.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NAS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NAS_PRINTF(a, b)
#endif

/* Sets err (when not NULL) to status and a formatted message; returns status. */
nas_status nas_seterr(nas_error *err, nas_status status, const char *fmt, ...) NAS_PRINTF(3, 4);
/* Clears err to NAS_OK and an empty message. */
void nas_clearerr(nas_error *err);

#ifdef __cplusplus
}
#endif
#endif
