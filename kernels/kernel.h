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
 * kernels/registry.c.
 *
 * Kernels of the public, versioned ABI (include/forq/kernel.h: the
 * built-in math and data kernels and every plug-in) are entries here too,
 * with `abi` set: kernel_prepare / kernel_run / kernel_describe then go
 * through the adapter (kernels/abi.c), which validates their JSON against
 * their schema, packs and unpacks their blobs and gives run() a struct
 * forq_ctx over the struct kctx below.  Ids: internal kernels 1..15,
 * built-in ABI kernels 16..1023 (a fixed table in registry.c), plug-ins
 * 1024 + FNV-1a(name) % 30000.  Ids are stored in task records: never
 * renumber one.
 */
#ifndef FORQ_KERNEL_H
#define FORQ_KERNEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct forq_kernel;

#define KBLOB_MAX (1u << 20)   /* largest compiled-argument blob */
#define KCTX_MEM_DEFAULT (256u << 20) /* forq_mem_limit() when kctx.mem_limit is 0 */

enum kernel_outcome {
	KERNEL_DONE = 0,       /* success */
	KERNEL_FAILED,         /* non-zero exit, or the kernel reported an error */
	KERNEL_TIMEOUT,        /* the deadline passed */
	KERNEL_CANCELLED,      /* the task was cancelled */
};

/*
 * What run() gets and fills in.  Owned by the worker; valid during run().
 * Zeroed fields mean: no deadline, no cancel, no heartbeat, the default
 * memory limit, scratch under $TMPDIR, no progress shown, and results
 * refused beyond a zero-capacity buffer; array_index and numa must be set
 * (-1 when unknown).
 *
 * Result buffers.  Internal kernels write at most result_cap bytes into
 * `result` and never reallocate it.  The adapter (ABI kernels) may: when
 * result_max > result_cap it replaces `result` with a realloc'd buffer of
 * up to result_max + 1 bytes, so `result` must then be NULL or come from
 * malloc, and after run() the caller owns (frees, or keeps for the next
 * task) whatever `result` points to, with its new result_cap.  With
 * result_max == 0 the buffer is fixed and a JSON result longer than
 * result_cap - 1 bytes is refused (-EFBIG).  The text is NUL-terminated
 * when it fits; result_len excludes the NUL.  Raw bytes (forq_result_bytes)
 * go to `bytes`, always malloc'd by the adapter and owned by the caller
 * after run() (free it; NULL when none), at most bytes_max bytes (0:
 * refused).  The caller sets bytes = NULL before run().
 */
struct kctx {
	/* inputs */
	uint64_t task_id;            /* the task */
	uint32_t attempt;            /* 1 for the first run */
	int cpu;                     /* OS cpu the worker is bound to (first PU) */
	uint64_t deadline_ns;        /* CLOCK_MONOTONIC; 0 = none */
	int64_t array_index;         /* index within its array, -1 when none */
	int numa;                    /* NUMA node of the worker's cpu, -1 unknown */
	const char *log_dir;         /* where exec writes <id>.out / <id>.err */
	void (*beat)(void *arg);     /* advance the worker's heartbeat; ABI kernels call it from
				      * forq_progress() and forq_cancelled() */
	void *beat_arg;
	const _Atomic uint32_t *cancel; /* non-zero once a cancel is requested */
	size_t mem_limit;            /* ABI kernels: bytes to stay under; 0 = KCTX_MEM_DEFAULT */
	const char *scratch_base;    /* ABI kernels: forq_scratch_dir() makes a private directory
				      * under it per task; NULL = $TMPDIR, else /tmp */
	_Atomic uint32_t *progress_permille; /* ABI kernels: forq_progress() stores 0..1000
					      * here (relaxed); NULL = not shown */
	/* outputs */
	int exit_code;               /* exec: the exit status; others 0/1 */
	int term_signal;             /* exec: signal that ended the child, or 0 */
	char reason[48];             /* short machine-readable reason, "" if none */
	char *result;                /* JSON text buffer for the result (see above) */
	size_t result_cap;           /* its capacity, bytes */
	size_t result_len;           /* bytes written (0 = no result), NUL excluded */
	size_t result_max;           /* ABI kernels: longest JSON result, bytes; 0 = result_cap - 1,
				      * and `result` is never reallocated */
	unsigned char *bytes;        /* ABI kernels: raw-byte result, malloc'd; the caller frees */
	size_t bytes_len;            /* its length, bytes */
	size_t bytes_max;            /* ABI kernels: longest raw-byte result, bytes; 0 = none */
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
	/*
	 * abi - for a kernel of the public ABI, its definition; prepare, run
	 * and describe are then NULL and the adapter (kernels/abi.c) does
	 * their work.  NULL for internal kernels.
	 */
	const struct forq_kernel *abi;
};

/*
 * kernel_prepare / kernel_run - call a kernel's halves.  Callers go through
 * these (never k->prepare / k->run directly) so that kernels of the public
 * ABI (include/forq/kernel.h) are dispatched by the adapter.
 */
int kernel_prepare(const struct kernel *k, const cJSON *args, struct kbuf *out, char *err,
		   size_t errlen);
enum kernel_outcome kernel_run(const struct kernel *k, struct kctx *ctx, const void *blob,
			       size_t len);

/*
 * kernel_describe - the arguments task blob @blob (@len bytes) of kernel @k
 * was compiled from, as a new JSON object the caller frees; NULL when @k
 * does not describe its blobs, for a garbled blob, or out of memory.  In
 * forqd (`forq status`); any thread once plug-ins are loaded.
 */
cJSON *kernel_describe(const struct kernel *k, const void *blob, size_t len);

/* kernel_find - the kernel named @name, or NULL. */
const struct kernel *kernel_find(const char *name);
/* kernel_by_id - the kernel with id @id, or NULL. */
const struct kernel *kernel_by_id(uint16_t id);
/* kernel_count / kernel_at - iterate the registry (built-ins, then plug-ins in load order). */
unsigned kernel_count(void);
const struct kernel *kernel_at(unsigned i);

/*
 * kernel_load_plugin - load the plug-in shared object at @path and register
 * its kernels.  dlopen(RTLD_NOW | RTLD_LOCAL) of the realpath of @path, then
 * the symbol `forq_plugin` (struct forq_plugin), its ABI version, and every
 * kernel: a valid name not yet taken, a summary, a run function, a valid
 * schema (names, types, ranges, choices, defaults that pass the schema).
 * All of the plug-in's kernels are registered, or none.  Each gets id
 * 1024 + FNV-1a(name) % 30000: the same on every start, in every process.
 * Returns 0, or -errno with a message naming @path and the problem in @err:
 *   -ENOENT     @path does not exist (or realpath failed: its errno)
 *   -ELIBBAD    dlopen failed (not a shared object, missing dependency,
 *               unresolved symbol): dlerror's text is in @err
 *   -ENOEXEC    the object has no `forq_plugin` symbol
 *   -EPROTO     its abi is not FORQ_KERNEL_ABI: rebuild it
 *   -EINVAL     a kernel or its schema is malformed (the message says which)
 *   -EEXIST     a kernel name is taken, or its id collides with another's
 *   -ENOSPC     more than KERNEL_PLUGIN_MAX plug-in kernels in all
 * A refused object is dlclose'd.  Plug-ins are never unloaded.  Call only at
 * start-up (forqd before it serves or spawns workers; a worker before its
 * loop), while no other thread uses the registry.  forqd and its workers
 * must load the same plug-ins: a task whose kernel a worker lacks fails
 * "unknown kernel N".
 */
int kernel_load_plugin(const char *path, char *err, size_t errlen);

/*
 * kernel_load_plugin_dir - kernel_load_plugin() every "*.so" file in @dir,
 * in byte order of their names.  A missing @dir is fine (0).  Stops at the
 * first refusal and returns its -errno and message (earlier plug-ins stay
 * loaded); -errno of opendir/scandir otherwise.  Same calling rules.
 */
int kernel_load_plugin_dir(const char *dir, char *err, size_t errlen);

/*
 * kernel_describe_all - every kernel as a new JSON array the caller frees:
 *   [{"name","id","summary","origin":"internal"|"builtin"|"plugin",
 *     "plugin": path (plug-ins only),
 *     "args":[{"name","type","required","min","max","default","choices","help"}]}]
 * ("min"/"max" only where a range applies, "default" only where there is
 * one, "choices" only for enum).  NULL when out of memory.  Any thread
 * once plug-ins are loaded.  This is what KERNEL_LIST / `forq kernels`
 * returns.
 */
cJSON *kernel_describe_all(void);

/* Built-in kernel ids (stable). */
enum { KERNEL_ID_EXEC = 1, KERNEL_ID_NOOP = 2, KERNEL_ID_SLEEP = 3, KERNEL_ID_SPIN = 4 };
#define KERNEL_ID_ABI_FIRST    16u     /* built-in ABI kernels: fixed ids from here (registry.c) */
#define KERNEL_ID_PLUGIN_FIRST 1024u   /* plug-ins: this + FNV-1a(name) % KERNEL_ID_PLUGIN_SPAN */
#define KERNEL_ID_PLUGIN_SPAN  30000u
#define KERNEL_PLUGIN_MAX      256u    /* plug-in kernels, all plug-ins together */

#endif
