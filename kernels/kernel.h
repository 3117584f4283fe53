/*
 * kernel — the internal kernel interface: how forqd validates a kernel's
 * arguments at submit time and how a worker runs a kernel.
 *
 * A kernel has two halves that run in different processes:
 *   - prepare(), in forqd at submit: validates the JSON arguments and
 *     compiles them into a compact byte "blob" that is stored with the task
 *     record and travels inline in the ring slot when small enough;
 *   - run(), in a pinned worker: executes the task from the blob.
 * Kernels are looked up by name (kernel_find) or by a small stable id
 * (kernel_by_id) that the ring slot carries.  The registry is
 * kernels/registry.c.  (The public, versioned plug-in ABI grows from this
 * in include/forq/kernel.h.)
 */
#ifndef FORQ_KERNEL_H
#define FORQ_KERNEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define KBLOB_MAX (1u << 20)   /* largest compiled-argument blob */

enum kernel_outcome {
	KERNEL_DONE = 0,       /* success */
	KERNEL_FAILED,         /* non-zero exit, or the kernel reported an error */
	KERNEL_TIMEOUT,        /* the deadline passed */
	KERNEL_CANCELLED,      /* the task was cancelled */
};

/* What run() gets and fills in.  Owned by the worker; valid during run(). */
struct kctx {
	/* inputs */
	uint64_t task_id;            /* the task */
	uint32_t attempt;            /* 1 for the first run */
	int cpu;                     /* OS cpu the worker is bound to (first PU) */
	uint64_t deadline_ns;        /* CLOCK_MONOTONIC; 0 = none */
	int64_t array_index;         /* index within its array, -1 when none */
	int numa;                    /* NUMA node of the worker's cpu, -1 unknown */
	const char *log_dir;         /* where exec writes <id>.out / <id>.err */
	void (*beat)(void *arg);     /* advance the worker's heartbeat */
	void *beat_arg;
	const _Atomic uint32_t *cancel; /* non-zero once a cancel is requested */
	/* outputs */
	int exit_code;               /* exec: the exit status; others 0/1 */
	int term_signal;             /* exec: signal that ended the child, or 0 */
	char reason[48];             /* short machine-readable reason, "" if none */
	char *result;                /* JSON text buffer for the result */
	size_t result_cap;           /* its capacity */
	size_t result_len;           /* bytes written (0 = no result) */
	uint64_t user_us;            /* CPU time of the task, user */
	uint64_t sys_us;             /* CPU time of the task, system */
	uint64_t maxrss_kb;          /* peak resident set of the task */
};

struct kbuf {
	unsigned char *data;         /* malloc'd; owned by the caller after prepare */
	size_t len;
};

struct kernel {
	const char *name;            /* "exec", "noop", ... */
	uint16_t id;                 /* stable small id carried in ring slots */
	const char *summary;         /* one line */
	/*
	 * prepare - validate @args (a JSON object, or NULL when absent) and
	 * compile them into @out (malloc'd data, may be len 0).  On refusal
	 * return -EINVAL with a human message in @err.  Runs in forqd.
	 */
	int (*prepare)(const cJSON *args, struct kbuf *out, char *err, size_t errlen);
	/*
	 * run - execute one task from its blob.  Runs in a worker process.
	 * Returns a kernel_outcome and fills the ctx outputs.
	 */
	enum kernel_outcome (*run)(struct kctx *ctx, const void *blob, size_t len);
	/*
	 * describe - the arguments a blob was compiled from, as a new JSON
	 * object (the caller frees it), for `forq status`; NULL for a
	 * garbled blob.  Optional (NULL: not shown).  Runs in forqd.
	 */
	cJSON *(*describe)(const void *blob, size_t len);
};

/*
 * kernel_prepare / kernel_run - call a kernel's halves.  Callers go through
 * these (never k->prepare / k->run directly) so that kernels of the public
 * ABI (include/forq/kernel.h) are dispatched by the adapter.
 */
int kernel_prepare(const struct kernel *k, const cJSON *args, struct kbuf *out, char *err, size_t errlen);
enum kernel_outcome kernel_run(const struct kernel *k, struct kctx *ctx, const void *blob, size_t len);

/* kernel_find - the kernel named @name, or NULL. */
const struct kernel *kernel_find(const char *name);
/* kernel_by_id - the kernel with id @id, or NULL. */
const struct kernel *kernel_by_id(uint16_t id);
/* kernel_count / kernel_at - iterate the registry. */
unsigned kernel_count(void);
const struct kernel *kernel_at(unsigned i);

/* Built-in kernel ids (stable). */
enum { KERNEL_ID_EXEC = 1, KERNEL_ID_NOOP = 2, KERNEL_ID_SLEEP = 3, KERNEL_ID_SPIN = 4 };

#endif
