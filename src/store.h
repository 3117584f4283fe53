/*
 * store — the LMDB environment, and the store thread: forqd's only writer.
 *
 * What it owns.  The LMDB environment <state>/db (databases "tasks": task
 * id, 8 bytes big-endian -> packed task record (task.h); "meta": next id),
 * the per-priority backlogs, and the producer side of the task rings.
 *
 * The store thread (DESIGN invariants 1-3) loops:
 *   1. take every submission and control message queued by the event thread
 *      and drain the completion ring (workers' results);
 *   2. apply them all in ONE write transaction and commit it — group commit:
 *      whatever arrived during the previous commit goes into the next, so a
 *      batch grows with load by itself;
 *   3. only then answer the submissions (ack after durable) and push the new
 *      tasks into the rings (commit before dispatch), spilling into the
 *      backlog when a ring is full, and refill rings from the backlogs;
 *   4. sleep on the store doorbell when nothing is pending.
 * Completions are applied only when they match the record's current attempt
 * (attempts ended + 1) and the record is still QUEUED, so a late duplicate
 * from a worker that was presumed lost changes nothing: every task reaches
 * exactly one terminal state.
 *
 * Reads (status, list, result) run in the caller's thread in their own
 * read-only transactions (MDB_NOTLS), concurrently with the writer.
 * Workers open the same environment read-only in their own process; the
 * environment is never used across fork.
 */
#ifndef FORQ_STORE_H
#define FORQ_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <lmdb.h>

#include "backlog.h"
#include "deps.h"
#include "proto.h"
#include "shm.h"
#include "task.h"

enum store_req_kind {
	STORE_SUBMIT = 1,            /* TASK_SUBMIT */
	STORE_CANCEL,                /* TASK_CANCEL */
};

/* A request the event thread hands to the store thread, answered back. */
struct store_submit {
	struct store_submit *next;   /* list link */
	enum store_req_kind kind;
	struct proto_submit batch;   /* SUBMIT: the validated tasks; freed by the store */
	struct proto_cancel cancel;  /* CANCEL: what to cancel; freed by the store */
	void *ticket;                /* the event thread's reply ticket */
	/* out */
	uint64_t first;              /* SUBMIT: first id created (0 = none) */
	uint64_t last;               /* SUBMIT: last id created */
	uint64_t created;            /* SUBMIT: tasks created */
	uint64_t *task_ids;          /* SUBMIT: per batch task, its (first) id; malloc'd */
	uint8_t *existing;           /* SUBMIT: per batch task, 1 when its key existed */
	size_t ntasks;               /* entries in task_ids / existing */
	uint64_t cancelled;          /* CANCEL: tasks that ended CANCELLED */
	uint64_t *cancelled_ids;     /* CANCEL: their ids (first 10000), malloc'd */
	size_t ncancelled_ids;
	int err;                     /* 0 or an enum forq_err */
	char errmsg[256];            /* with err */
};

/* store_req_free - free a request and what it owns. */
void store_req_free(struct store_submit *r);

struct store_lost {
	struct store_lost *next;
	uint64_t id;                 /* the task a dead worker held */
	uint32_t attempt;            /* its attempt */
	uint8_t outcome;             /* KERNEL_TIMEOUT (killed for it) or LOST (died) */
	int32_t worker;              /* worker index */
	int32_t cpu;                 /* its OS cpu */
	uint64_t comp_tail;          /* completion-ring tail after the repair */
	uint64_t start_wall_ns;      /* when the attempt started */
};

/* A retry waiting for its delay. */
struct store_delay {
	uint64_t due_ns;             /* CLOCK_MONOTONIC */
	uint64_t id;
};

struct store {
	MDB_env *env;                /* the environment */
	MDB_dbi dbi_tasks;           /* id -> record */
	MDB_dbi dbi_meta;            /* "next_id" -> u64 */
	MDB_dbi dbi_attempts;        /* id + attempt -> attempt record */
	MDB_dbi dbi_deps;            /* dependency id -> dependent ids (sorted duplicates) */
	MDB_dbi dbi_keys;            /* idempotency key -> first id + count */
	MDB_dbi dbi_bytes;           /* id -> raw result bytes (forq_result_bytes) */
	size_t max_result;           /* largest result read back from a result file */
	char res_dir[4200];          /* STATE/results */
	struct shm *shm;             /* the segment (rings) */
	bool nosync;                 /* MDB_NOSYNC */
	char dir[4096];              /* <state>/db */
	pthread_t thread;            /* the store thread */
	bool started;
	pthread_mutex_t lock;        /* guards the four lists below only */
	struct store_submit *in_head, *in_tail;     /* event thread -> store */
	struct store_lost *lost_head, *lost_tail;   /* event thread -> store */
	struct store_submit *done_head, *done_tail; /* store -> event thread */
	int notify_fd;               /* eventfd written after each commit */
	_Atomic bool has_input;      /* the lists above are not empty (a hint) */
	_Atomic bool stop;           /* ask the store thread to finish */
	uint64_t next_id;            /* store thread: the next id to assign */
	struct backlog_q backlog[SHM_NPRIO]; /* store thread only */
	struct store_lost *deferred; /* store thread: controls waiting for completions */
	struct deps_map waiting;     /* store thread: WAITING tasks' remaining counts */
	struct store_delay *delayed; /* store thread: retries waiting for their delay (min-heap) */
	size_t ndelayed, cap_delayed;
	uint64_t *pushed_id[SHM_NPRIO]; /* store thread: id pushed at each ring position */
	uint64_t *pushed_ns[SHM_NPRIO]; /* store thread: when (CLOCK_MONOTONIC) */
	uint64_t aging_ns;           /* 0 = off */
	uint64_t aging_next_ns;      /* next eff_prio refresh */
	uint64_t edges;              /* store thread: dependency edges in "dependents" (0: skip the walk) */
	/* figures, written by the store thread, read anywhere (relaxed) */
	_Atomic uint64_t count[TASK_STATE__COUNT]; /* QUEUED includes running */
	_Atomic uint64_t submitted;  /* tasks accepted since start */
	_Atomic uint64_t finished;   /* tasks that reached a terminal state since start */
	_Atomic uint64_t generation; /* bumped after each commit that ended tasks */
	_Atomic uint64_t commits;    /* write transactions committed */
	_Atomic uint64_t backlog_len;/* ids in the backlogs */
	_Atomic uint64_t last_id;    /* highest id assigned */
};

/*
 * store_open - open (creating) the environment in @dir, recover the counts
 * and the queue from the records.  @nosync selects MDB_NOSYNC.
 * Returns 0 or -errno (-EIO for an LMDB error; a message goes to @err).
 */
int store_open(struct store *s, const char *dir, bool nosync, char *err, size_t errlen);

/*
 * store_start - start the store thread; it pushes into @shm's rings and
 * writes to @notify_fd (an eventfd) after commits.  0 or -errno.
 */
int store_start(struct store *s, struct shm *shm, int notify_fd);

/* store_stop - finish pending work, stop and join the thread.  Idempotent. */
void store_stop(struct store *s);

/* store_close - close the environment and free everything.  After stop. */
void store_close(struct store *s);

/* store_submit - queue @sub for the next commit (event thread).  Never fails. */
void store_submit(struct store *s, struct store_submit *sub);

/* store_report_lost - queue @l (a dead worker's task) for the store thread. */
void store_report_lost(struct store *s, struct store_lost *l);

/*
 * store_adopt_inflight - the tasks of @ids (@n) are in the rings or held by
 * re-adopted workers already: take them out of the backlog rebuilt by
 * store_open, so they are not dispatched twice.  Before store_start.
 */
int store_adopt_inflight(struct store *s, uint64_t *ids, size_t n);

/* store_set_aging - one priority level per @ns waited (0 = off).  Before store_start. */
void store_set_aging(struct store *s, uint64_t ns);

/*
 * store_get_attempts - call @fn for every recorded attempt of task @id, in
 * order.  Returns 0 or -EIO.
 */
int store_get_attempts(struct store *s, uint64_t id,
		       void (*fn)(void *ctx, unsigned attempt, const struct task_attempt *a), void *ctx);

/*
 * store_get_bytes - call @fn with task @id's raw result bytes (valid only
 * during the call).  Returns @fn's value, -ENOENT when it has none, -EIO.
 */
int store_get_bytes(struct store *s, uint64_t id, int (*fn)(void *ctx, const void *data, size_t len),
		    void *ctx);

/* store_take_done - the submissions answered since the last call (a list). */
struct store_submit *store_take_done(struct store *s);

/*
 * store_get - look task @id up in a read transaction and call @fn with its
 * record; the record's pointers are valid only during the call.
 * Returns @fn's return value, -ENOENT when no such task, -EIO on a store
 * error.  Any thread.
 */
int store_get(struct store *s, uint64_t id,
	      int (*fn)(void *ctx, uint64_t id, const struct task_rec *r), void *ctx);

/*
 * store_scan - call @fn for every task with id > @after in ascending order
 * until @fn returns non-zero.  Returns 0, @fn's non-zero value, or -EIO.
 */
int store_scan(struct store *s, uint64_t after,
	       int (*fn)(void *ctx, uint64_t id, const struct task_rec *r), void *ctx);

/* store_reader_check - free reader slots left by dead processes (workers). */
void store_reader_check(struct store *s);

/* store_key - the 8-byte big-endian key of @id. */
void store_key(uint64_t id, unsigned char key[8]);

#endif
