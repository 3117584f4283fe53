/*
 * abi — the adapter between the public kernel ABI (include/forq/kernel.h:
 * struct forq_kernel, struct forq_ctx, the forq_* calls) and the internal
 * kernel interface (kernels/kernel.h: struct kernel, struct kctx).
 *
 * Its only callers are the registry (kernel_prepare / kernel_run /
 * kernel_describe dispatch here for entries whose `abi` is set,
 * kernel_load_plugin checks definitions with abi_check) and the tests.
 * The design essay — schema validation, the blob format, the result
 * buffers, cancellation — is at the top of kernels/abi.c.
 */
#ifndef FORQ_ABI_H
#define FORQ_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include <forq/kernel.h>

#include "kernel.h"

#define ABI_BLOB_VERSION 1u    /* first byte of every ABI kernel's blob */
#define ABI_ARGS_MAX     64u   /* most arguments in one schema */
#define ABI_NAME_MAX     31u   /* longest kernel or argument name, bytes */
#define ABI_STR_MAX      4096u /* STR length when spec max is 0; also ENUM choices' bound */

/*
 * abi_prepare - validate @args (a JSON object; NULL or JSON null = {})
 * against @fk's schema, fill defaults, run @fk->validate, and compile the
 * values into a new blob in @out (malloc'd; the caller frees out->data).
 * Returns 0, -EINVAL with a message naming the field in @err (out->data
 * NULL), or -ENOMEM.  Touches the file system for PATH / OUTPATH checks.
 * forqd, at submit; any thread.
 */
int abi_prepare(const struct forq_kernel *fk, const cJSON *args, struct kbuf *out, char *err,
		size_t errlen);

/*
 * abi_run - run @fk on the blob @blob (@len bytes) with context @ctx.
 * Unpacks the blob (garbled: FAILED "bad_blob", the kernel is not called),
 * calls fk->run with a struct forq_ctx over @ctx, removes its scratch
 * directory, and maps its status: DONE; FAILED with the forq_fail message
 * as reason (truncated) and, when no result was set, {"error": message} as
 * result; CANCELLED "cancelled"; TIMEOUT "timeout"; a result refused as too
 * large makes the task FAILED "result_too_large"; any other status is
 * FAILED "bad_status".  Fills exit_code, reason, result*, bytes*; leaves
 * the CPU and RSS figures to the caller.  A worker, on its only thread.
 */
enum kernel_outcome abi_run(const struct forq_kernel *fk, struct kctx *ctx, const void *blob,
			    size_t len);

/*
 * abi_describe_blob - the arguments in blob @blob of @fk as a new JSON
 * object (the caller frees it), absent optional arguments left out; NULL
 * for a garbled blob or when out of memory.  Any thread.
 */
cJSON *abi_describe_blob(const struct forq_kernel *fk, const void *blob, size_t len);

/*
 * abi_check - true when @fk is a well-formed kernel definition: a valid
 * name ([a-z][a-z0-9_]*, at most ABI_NAME_MAX bytes), a summary, a run
 * function, and a schema of at most ABI_ARGS_MAX arguments with valid,
 * unique names, known types, sane ranges, choices for ENUM, no default
 * for a required argument or a path, and defaults that pass the schema.
 * Otherwise false with the first problem in @err.  Any thread.
 */
bool abi_check(const struct forq_kernel *fk, char *err, size_t errlen);

/* abi_name_ok - true when @s is a valid kernel or argument name. */
bool abi_name_ok(const char *s);

/*
 * abi_schema - @fk's arguments as a new JSON array (kernel_describe_all's
 * "args"), or NULL when out of memory.  Any thread.
 */
cJSON *abi_schema(const struct forq_kernel *fk);

#endif
