/*
 * intarg — the compiled form of a kernel whose only argument is one
 * non-negative integer ({"ms":N} for sleep, {"us":N} for spin): validation
 * at submit and the 8-byte little-endian blob (format 1, known by its
 * length).  Shared by those kernels so that they refuse bad input with the
 * same messages and pack it the same way.
 */
#ifndef FORQ_INTARG_H
#define FORQ_INTARG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "kernel.h"

#define INTARG_BLOB_LEN 8u

/*
 * intarg_prepare - @args must be an object holding exactly @field, an
 * integer from 0 to @max.  Fills @out with the blob (malloc'd).  Returns 0,
 * -EINVAL with a message in @err, or -ENOMEM.  In forqd, at submit.
 */
int intarg_prepare(const cJSON *args, const char *field, uint64_t max, struct kbuf *out, char *err,
		   size_t errlen);

/*
 * intarg_get - the value in blob @blob (@len bytes); false for a blob of
 * another length or a value above @max.
 */
bool intarg_get(const void *blob, size_t len, uint64_t max, uint64_t *v);

/* intarg_thread_cpu_ns - the calling thread's CPU clock, nanoseconds. */
uint64_t intarg_thread_cpu_ns(void);

#endif
