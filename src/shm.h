/*
 * shm — the shared-memory segment: one POSIX shm object per forqd instance.
 *
 * Layout (pointer-free; every part found by an offset in the header):
 *
 *   struct shm_hdr            magic, layout version, sizes, offsets, doorbells
 *   task ring 0 .. 9          one struct ring per priority, slots of 64 bytes
 *   completion ring           slots of 256 bytes (struct shm_comp)
 *   cancel marks              u64[SHM_NPRIO][ring capacity]
 *   worker blocks             struct wblock[max_workers], 192 bytes each
 *
 * Who writes what:
 *   - forqd creates, sizes and lays out the segment before any worker
 *     exists, and writes the header's constants once.
 *   - task rings: forqd's store thread pushes (owner 0), workers pop
 *     (owner = worker index + 1).
 *   - completion ring: workers push, the store thread pops.
 *   - worker block: line 0 and the held task are written by the worker only;
 *     line 2 (supervisor line) by forqd only.
 * The segment is mode 0600; its name (/forq.<uid>.<hash of state dir>) is
 * written to <state>/shm so `forq top` and a restarted forqd find it.
 */
#ifndef FORQ_SHM_H
#define FORQ_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "doorbell.h"
#include "ring.h"

#define SHM_MAGIC        0x464f5251534d3031ull  /* "FORQSM01" */
#define SHM_VERSION      1u
#define SHM_NPRIO        10u
#define SHM_TASK_SLOT    64u
#define SHM_COMP_SLOT    256u
#define SHM_INLINE_BLOB  16u   /* blob bytes carried in a task slot */
#define SHM_C_RESULT_FILE 0x01u   /* shm_comp: the JSON result is in STATE/results/ID.ATTEMPT.json */
#define SHM_C_BYTES_FILE  0x02u   /* shm_comp: raw result bytes are in STATE/results/ID.ATTEMPT.bin */
#define SHM_PROGRESS_NONE UINT32_MAX /* wblock.progress: the kernel reported none */
#define SHM_EFF_BIAS     128    /* eff_prio[p] = effective priority + this */
#define SHM_T_INLINE     0x01u  /* shm_task.flags: blob[] holds the whole blob */
#define SHM_T_ARRAY      0x02u  /* shm_task.flags: array_index is meaningful */
#define SHM_RESULT_INLINE 120u /* result bytes carried in a completion */

/* A task as it travels in a ring slot (packed by hand into the payload). */
struct shm_task {
	uint64_t id;             /* task id */
	uint32_t attempt;        /* 1-based attempt number */
	uint16_t kernel;         /* kernel id */
	uint8_t prio;            /* 0..9 */
	uint8_t flags;           /* SHM_T_* */
	uint32_t timeout_ms;     /* 0 = none */
	uint32_t blob_len;       /* bytes of compiled arguments */
	uint32_t array_index;    /* with SHM_T_ARRAY */
	uint32_t reserved;       /* 0 */
	unsigned char blob[SHM_INLINE_BLOB]; /* the blob, with SHM_T_INLINE */
};
_Static_assert(sizeof(struct shm_task) == 48, "fits a 64-byte slot");

/* A completion, pushed by a worker, popped by the store thread. */
struct shm_comp {
	uint64_t id;             /* task id */
	uint32_t attempt;        /* attempt that ran */
	uint8_t outcome;         /* enum kernel_outcome */
	uint8_t flags;           /* SHM_C_*: where the result is */
	uint16_t worker;         /* worker index */
	int32_t exit_code;       /* exec exit status, else 0/1 */
	int32_t term_signal;     /* signal that ended an exec child, or 0 */
	int32_t cpu;             /* OS cpu of the worker */
	uint32_t result_len;     /* bytes in result[] */
	uint64_t start_wall_ns;  /* CLOCK_REALTIME at start */
	uint64_t end_wall_ns;    /* CLOCK_REALTIME at end */
	uint64_t user_us;        /* CPU time, user */
	uint64_t sys_us;         /* CPU time, system */
	uint64_t maxrss_kb;      /* peak RSS */
	char reason[48];         /* short reason, NUL-terminated */
	char result[SHM_RESULT_INLINE]; /* JSON text, not NUL-terminated */
};
_Static_assert(sizeof(struct shm_comp) <= SHM_COMP_SLOT - RING_SLOT_HDR, "fits a slot");

enum wstate {
	WSTATE_EMPTY = 0,        /* no worker in this block */
	WSTATE_STARTING,         /* spawned, not yet in its loop */
	WSTATE_IDLE,             /* waiting for work */
	WSTATE_BUSY,             /* running a task */
	WSTATE_EXITING,          /* leaving on shutdown */
	WSTATE_DEAD,             /* seen dead by forqd, not yet respawned */
};

/* One worker's block: three cache lines. */
struct wblock {
	/* line 0: written by the worker */
	_Atomic uint32_t state;      /* enum wstate */
	_Atomic uint32_t sleeping;   /* 1 while counted in work_bell.sleepers */
	_Atomic uint64_t heartbeat;  /* advanced while alive */
	_Atomic uint64_t task_id;    /* task running now, 0 = none */
	_Atomic uint32_t attempt;    /* its attempt */
	int32_t cpu;                 /* OS cpu bound to (first PU) */
	_Atomic uint64_t start_ns;   /* CLOCK_MONOTONIC start of the task */
	_Atomic uint64_t deadline_ns;/* CLOCK_MONOTONIC deadline, 0 = none */
	_Atomic uint64_t tasks_done; /* tasks completed */
	_Atomic uint64_t busy_ns;    /* time spent running tasks */
	/* line 1: the task the worker holds (popped straight into here) */
	unsigned char held[48] __attribute__((aligned(64)));
	_Atomic uint32_t progress;   /* the running task's progress, per mille */
	int32_t numa;                /* NUMA node of cpu, -1 unknown */
	uint64_t held_pos;           /* ring position the held task came from */
	/* line 2: written by forqd */
	_Atomic int32_t pid __attribute__((aligned(64))); /* worker pid, 0 = none */
	int32_t core;                /* logical core index (hwloc) */
	_Atomic uint64_t cancel_task;/* cancel this task if it is the current one */
	uint32_t restarts;           /* respawns on this block */
	uint32_t pad2;
	uint64_t spawn_ns;           /* CLOCK_MONOTONIC when spawned */
	_Atomic uint64_t kill_task;  /* task id forqd killed this worker for */
	_Atomic uint32_t kill_why;   /* enum kernel_outcome of that kill */
	uint32_t pad3;
	uint64_t pid_start;          /* the pid's start time (clock ticks since boot) */
};
_Static_assert(sizeof(struct wblock) == 192, "three lines");
_Static_assert(offsetof(struct wblock, held) == 64, "held on line 1");
_Static_assert(offsetof(struct wblock, pid) == 128, "supervisor line");

struct shm_hdr {
	/* line 0: constants, written once by forqd before any worker exists */
	uint64_t magic;              /* SHM_MAGIC */
	uint32_t version;            /* SHM_VERSION */
	uint32_t nprio;              /* SHM_NPRIO */
	uint64_t size;               /* bytes of the whole segment */
	uint64_t ring_capacity;      /* slots per task ring */
	uint64_t comp_capacity;      /* slots of the completion ring */
	uint32_t max_workers;        /* worker blocks */
	uint32_t pad0;
	uint64_t comp_off;           /* offset of the completion ring */
	uint64_t wblock_off;         /* offset of worker block 0 */
	/* line 1..2: task ring offsets */
	uint64_t ring_off[SHM_NPRIO] __attribute__((aligned(64)));
	/* line 3: daemon identity and flags, written by forqd */
	_Atomic int32_t daemon_pid __attribute__((aligned(64)));
	_Atomic uint32_t shutdown;   /* non-zero: workers exit when idle */
	_Atomic uint32_t nworkers;   /* worker blocks in use */
	uint32_t pad1;
	uint64_t cancel_off;         /* offset of the cancel marks: SHM_NPRIO x ring_capacity u64 */
	uint64_t aging_ns;           /* 0 = off; else one level per aging_ns waited */
	/* line 3b: effective priority of each ring's head plus SHM_EFF_BIAS
	 * (aging; below the bias = more urgent than priority 0), written by
	 * the store thread */
	_Atomic uint8_t eff_prio[SHM_NPRIO] __attribute__((aligned(64)));
	/* line 4: workers sleep here, the store thread rings it */
	struct doorbell work_bell __attribute__((aligned(64)));
	/* line 5: the store thread sleeps here; workers and verbs ring it */
	struct doorbell store_bell;
};
_Static_assert(offsetof(struct shm_hdr, ring_off) == 64, "layout");
_Static_assert(offsetof(struct shm_hdr, daemon_pid) == 192, "layout");
_Static_assert(offsetof(struct shm_hdr, eff_prio) == 256, "layout");
_Static_assert(offsetof(struct shm_hdr, work_bell) == 320, "layout");
_Static_assert(sizeof(struct shm_hdr) == 448, "layout");

struct shm {
	struct shm_hdr *hdr;         /* the mapping */
	size_t size;                 /* its length */
	char name[64];               /* shm object name, "/forq...." */
};

/*
 * shm_create - create (replacing a stale one) and lay out a segment named
 * @name with @ring_capacity slots per task ring and @max_workers blocks.
 * Returns 0 or -errno (-EINVAL for a capacity that is not a power of two).
 */
int shm_create(struct shm *s, const char *name, uint64_t ring_capacity, uint32_t max_workers);

/*
 * shm_attach - map an existing segment read-write (@writable) or read-only,
 * checking magic, version and size.  Returns 0, -errno, or -EPROTO for a
 * segment of another layout version.
 */
int shm_attach(struct shm *s, const char *name, int writable);

/* shm_detach - unmap.  shm_destroy - unmap and unlink the name. */
void shm_detach(struct shm *s);
void shm_destroy(struct shm *s);

static inline struct ring *
shm_ring(const struct shm *s, unsigned prio)
{
	return (struct ring *)((char *)s->hdr + s->hdr->ring_off[prio]);
}

static inline struct ring *
shm_comp_ring(const struct shm *s)
{
	return (struct ring *)((char *)s->hdr + s->hdr->comp_off);
}

/*
 * The cancel mark of ring @prio's position @pos: forqd writes pos there
 * when it cancels the task it had pushed at pos; a worker that popped pos
 * checks it (see store.c, "Cancelling a task in a ring").
 */
static inline _Atomic uint64_t *
shm_cancel_mark(const struct shm *s, unsigned prio, uint64_t pos)
{
	_Atomic uint64_t *m = (_Atomic uint64_t *)((char *)s->hdr + s->hdr->cancel_off);

	return &m[(uint64_t)prio * s->hdr->ring_capacity + (pos & (s->hdr->ring_capacity - 1))];
}

static inline struct wblock *
shm_wblock(const struct shm *s, unsigned idx)
{
	return (struct wblock *)((char *)s->hdr + s->hdr->wblock_off) + idx;
}

/* shm_task_pack / shm_task_unpack - a task to/from slot payload bytes. */
void shm_task_pack(const struct shm_task *t, unsigned char out[48]);
void shm_task_unpack(const unsigned char in[48], struct shm_task *t);

#endif
