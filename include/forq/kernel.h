/*
 * forq/kernel.h — the kernel ABI: how C functions run as forq tasks inside
 * pinned worker processes, built in or loaded from plug-ins.
 *
 * A kernel is a name, a one-line summary, a table of typed arguments (its
 * schema), an optional cross-field validator and a run function.
 *
 *   - At submit time forqd validates the task's JSON "args" object against
 *     the schema (types, required fields, ranges, choices, unknown fields,
 *     absolute existing paths), fills in defaults, calls validate() if the
 *     kernel has one, and compiles the values into a compact blob stored
 *     with the task.  Bad arguments are refused with BAD_ARGS before
 *     anything is stored.  The schema is what `forq kernels --json` shows.
 *   - In a worker, run() gets a context: the argument values (by name),
 *     the task's identity, its deadline, a progress call that advances the
 *     worker's heartbeat, a cancellation test, and calls to return a JSON
 *     result and/or bytes.
 *
 * Plug-ins.  A shared object exports one symbol,
 *     const struct forq_plugin forq_plugin;
 * whose abi field must equal FORQ_KERNEL_ABI; forqd loads it with
 * `forqd --plugin PATH` (repeatable) or from its plug-in directory, and
 * refuses at start, with a clear message, a wrong ABI, a missing symbol or
 * a kernel name already taken.  The forq_* functions below are provided by
 * the forqd executable (linked with -rdynamic): a plug-in links nothing.
 *
 * Threads and lifetime.  run() is called on the worker's only thread; the
 * context and every pointer obtained from it are valid until run()
 * returns.  A kernel that crashes takes its worker with it: forqd replaces
 * the worker and the task is retried or ends LOST.
 *
 * Versioning.  FORQ_KERNEL_ABI changes when any struct below or any
 * function's meaning changes; additions bump it too.
 */
#ifndef FORQ_KERNEL_ABI_H
#define FORQ_KERNEL_ABI_H

#include <stddef.h>
#include <stdint.h>

#define FORQ_KERNEL_ABI 1

/* What run() returns. */
enum forq_status {
	FORQ_DONE = 0,       /* success; the task ends DONE */
	FORQ_FAILED = 1,     /* the kernel failed (see forq_fail); FAILED */
	FORQ_CANCELLED = 3,  /* stopped because forq_cancelled() said so */
	FORQ_TIMEOUT = 2,    /* stopped because the deadline passed */
};

enum forq_arg_type {
	FORQ_ARG_INT = 1,    /* JSON integer in [min, max]; int64_t */
	FORQ_ARG_NUM,        /* JSON number in [min, max]; double (finite) */
	FORQ_ARG_BOOL,       /* JSON true/false */
	FORQ_ARG_STR,        /* JSON string of at most max bytes (0: 4096), no NUL */
	FORQ_ARG_ENUM,       /* JSON string, one of choices */
	FORQ_ARG_PATH,       /* absolute path of an existing regular file, readable by forqd */
	FORQ_ARG_OUTPATH,    /* absolute path whose directory exists (a file to write) */
	FORQ_ARG_NUMS,       /* JSON array of 1 to FORQ_NUMS_MAX numbers, each in [min, max]; double[] */
};

#define FORQ_NUMS_MAX 4096   /* most elements in a FORQ_ARG_NUMS argument */

/* One argument of a kernel's schema.  A table ends with name == NULL. */
struct forq_arg_spec {
	const char *name;            /* JSON field name */
	enum forq_arg_type type;
	int required;                /* 1: must be present; 0: optional */
	double min, max;             /* INT/NUM/NUMS (each element): inclusive range (min == max == 0:
				      * any); STR: length in [min, max] bytes (max 0: 4096) */
	const char *def;             /* default as JSON text ("100", "\"rk45\"", "true", "[0.5,0.9]"), or NULL:
				      * an optional argument without default is "absent" (forq_arg_has) */
	const char *const *choices;  /* ENUM: NULL-terminated list */
	const char *help;            /* one line, for forq kernels and forq-kernels(7) */
};

struct forq_ctx;                     /* opaque: one task's context in a worker */
struct forq_args;                    /* opaque: argument values (in validate) */

struct forq_kernel {
	const char *name;            /* [a-z][a-z0-9_]*, at most 31 bytes */
	const char *summary;         /* one line */
	const struct forq_arg_spec *args; /* schema; NULL = takes no arguments */
	/*
	 * validate - optional cross-field checks, in forqd at submit time,
	 * after the schema passed.  Return 0, or -1 with a message in @err.
	 */
	int (*validate)(const struct forq_args *a, char *err, size_t errlen);
	/* run - execute one task.  Returns an enum forq_status. */
	int (*run)(struct forq_ctx *ctx);
};

/* What a plug-in exports as `forq_plugin`. */
struct forq_plugin {
	uint32_t abi;                /* FORQ_KERNEL_ABI */
	const char *name;            /* plug-in name, for messages */
	unsigned nkernels;
	const struct forq_kernel *kernels;
};

/* ---- argument values: in validate() (forq_args) and run() (forq_ctx) ---- */

/* Values by name.  Asking for a name the schema lacks, or with the wrong
 * type, is a programming error: the result is 0 / NULL. */
int forq_args_has(const struct forq_args *a, const char *name);
int64_t forq_args_int(const struct forq_args *a, const char *name);
double forq_args_num(const struct forq_args *a, const char *name);
int forq_args_bool(const struct forq_args *a, const char *name);
const char *forq_args_str(const struct forq_args *a, const char *name); /* STR, ENUM, PATH, OUTPATH */
/* NUMS: the elements (NULL when absent), their count in *@n (0 when absent). */
const double *forq_args_nums(const struct forq_args *a, const char *name, size_t *n);

/* The same, from a task context. */
int forq_arg_has(struct forq_ctx *c, const char *name);
int64_t forq_arg_int(struct forq_ctx *c, const char *name);
double forq_arg_num(struct forq_ctx *c, const char *name);
int forq_arg_bool(struct forq_ctx *c, const char *name);
const char *forq_arg_str(struct forq_ctx *c, const char *name);
const double *forq_arg_nums(struct forq_ctx *c, const char *name, size_t *n);

/* ---- the task ---- */

uint64_t forq_task_id(struct forq_ctx *c);
unsigned forq_attempt(struct forq_ctx *c);       /* 1 for the first run */
int64_t forq_array_index(struct forq_ctx *c);    /* -1 when not part of an array */
int forq_cpu(struct forq_ctx *c);                /* OS cpu the worker is bound to */
int forq_numa(struct forq_ctx *c);               /* NUMA node of that cpu, -1 unknown */
uint64_t forq_deadline_ns(struct forq_ctx *c);   /* CLOCK_MONOTONIC; 0 = none */
size_t forq_mem_limit(struct forq_ctx *c);       /* bytes a kernel should stay under (forqd's setting,
						  * default 256 MiB; each kernel documents its use) */
const char *forq_scratch_dir(struct forq_ctx *c);/* a private directory for temporary files, made on
						  * first call, removed with its contents after run;
						  * NULL when it cannot be made */

/*
 * forq_progress - report progress (@fraction in [0,1]; outside it, or NaN,
 * is clamped) and advance the worker's heartbeat.  Cheap (two relaxed
 * atomics); call it at least every second or so in long loops, or forqd
 * takes the worker for hung.  Shown by `forq status` while the task runs.
 */
void forq_progress(struct forq_ctx *c, double fraction);

/*
 * forq_cancelled - non-zero when the task should stop now: a cancel was
 * requested (checked first), or its deadline passed (CLOCK_MONOTONIC).
 * Once non-zero it stays so.  Cheap (a vDSO clock read and a heartbeat);
 * call it every few milliseconds of work: past its deadline forqd kills a
 * kernel that has not stopped, with its worker.  The kernel then returns
 * forq_stop_status(c): FORQ_CANCELLED or FORQ_TIMEOUT (FORQ_CANCELLED when
 * asked without a reason to stop).
 */
int forq_cancelled(struct forq_ctx *c);
int forq_stop_status(struct forq_ctx *c);

/* ---- results ---- */

/*
 * forq_result_json - set the task's JSON result (@json must be one valid
 * JSON value and nothing after it; a minified copy is kept, replacing any
 * earlier result).  forq_result_printf - the same, formatted.
 * Returns 0, -EINVAL for text that is not JSON, -ENOMEM, or -EFBIG beyond
 * the result size limit (forqd --max-result): the task then ends FAILED
 * "result_too_large" whatever run() returns.
 */
int forq_result_json(struct forq_ctx *c, const char *json);
int forq_result_printf(struct forq_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * forq_result_bytes - attach @len raw bytes to the result (copied; stored
 * beside the JSON, returned by `forq result --bytes`; replaces earlier
 * bytes).  0, -EINVAL for NULL data with a non-zero @len, -ENOMEM, or
 * -EFBIG beyond the limit (as for forq_result_json).
 */
int forq_result_bytes(struct forq_ctx *c, const void *data, size_t len);

/*
 * forq_fail - set the failure message and return FORQ_FAILED, for
 * `return forq_fail(c, "cannot open %s: %s", path, strerror(errno));`.
 * The task's reason (forq status) is the message's first 47 bytes; when
 * no JSON result was set, the result becomes {"error": message} (up to
 * 255 bytes).
 */
int forq_fail(struct forq_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
