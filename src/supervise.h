/*
 * supervise — forqd's side of the workers: spawn each one pinned to its
 * core, watch it through a pidfd, and when it dies repair what it held,
 * report its task to the store (retry or LOST/TIMEOUT) and respawn it on
 * the same core.  Also enforces in-process kernels' deadlines by killing
 * the worker (the kernel cannot be interrupted otherwise).
 *
 * Workers are spawned with posix_spawn of forqd's own executable
 * (/proc/self/exe --worker ...), in a session of their own (so terminal
 * signals aimed at forqd do not reach them), with an empty signal mask.
 * They never inherit forqd's LMDB environment: they are exec'd.
 *
 * Death handling order (event thread), all before the respawn:
 *   1. reap the process;
 *   2. ring_repair every task ring for the worker's owner id: a task it
 *      had claimed but not finished copying is salvaged from the slot;
 *   3. ring_repair the completion ring: a half-pushed completion is voided;
 *   4. the task it held is the salvaged one, else its block's `held` line
 *      if that still carries an id; it is reported to the store with the
 *      completion ring's tail at this moment, and the store applies it only
 *      after draining the completions up to that tail — so a completion the
 *      worker published before dying wins over the loss report;
 *   5. clean stale LMDB reader slots; reset the block; respawn.
 * Called from the event thread only.
 */
#ifndef FORQ_SUPERVISE_H
#define FORQ_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm.h"
#include "store.h"
#include "topo.h"

struct sup_worker {
	pid_t pid;               /* 0 = not running */
	int pidfd;               /* -1 = none */
	bool adopted;            /* not our child: re-adopted after a forqd restart */
	uint64_t cancel_seen_ns; /* when a cancel of its running task was first seen */
	uint64_t cancel_task;    /* that task */
	uint64_t hb_seen;        /* heartbeat at the last sample */
	uint64_t hb_seen_ns;     /* when it last changed */
	uint64_t respawn_at_ns;  /* when a failed spawn is retried */
};

struct supervisor {
	struct shm *shm;
	struct store *store;
	struct topo_slot *slots; /* one per worker */
	unsigned n;              /* workers */
	struct sup_worker *w;    /* n entries */
	char exe[4096];          /* forqd's executable */
	char state_dir[4096];
	char log_level[16];
	int epfd;                /* the event loop's epoll; pidfds are added with tag */
	uint64_t epoll_tag;      /* epoll data = tag | index */
	bool stopping;
	uint64_t hang_ns;        /* heartbeat stall that declares a worker hung; 0 = off */
	char **plugins;          /* --plugin paths passed to workers */
	unsigned nplugins;
	char plugin_dir[4200];   /* the plug-in directory passed to workers */
	char max_result[24];     /* --max-result passed to workers */
	char kernel_mem[24];     /* --kernel-mem passed to workers ("" = default) */
};

/*
 * supervise_init - prepare to run one worker per @slots entry (@n) and
 * register pidfds in @epfd with data (tag | index).  0 or -errno.
 */
int supervise_init(struct supervisor *s, struct shm *shm, struct store *st, struct topo_slot *slots,
		   unsigned n, const char *state_dir, const char *log_level, int epfd, uint64_t tag);

/*
 * supervise_start - start every worker: re-adopt the live workers a
 * previous forqd left in the segment (when @adopt; their pids are checked
 * against the start time recorded at spawn, so a reused pid is never
 * adopted), and spawn the rest.  The ids of the tasks the adopted workers
 * hold are added to @inflight (malloc'd list, *@ninflight entries) for
 * store_adopt_inflight.  0 or -errno of the first failure.
 */
int supervise_start(struct supervisor *s, bool adopt, uint64_t **inflight, size_t *ninflight);

/* supervise_pid_start - a pid's start time (clock ticks since boot), 0 if unknown. */
uint64_t supervise_pid_start(pid_t pid);

/* supervise_on_exit - worker @idx's pidfd became readable: handle its death. */
void supervise_on_exit(struct supervisor *s, unsigned idx);

/* supervise_tick - periodic checks (deadlines, respawn retries). */
void supervise_tick(struct supervisor *s, uint64_t now_ns);

/*
 * supervise_shutdown - stop every worker: they finish their task within
 * @grace_ms, then running tasks are cancelled, then killed.  Blocks.
 */
void supervise_shutdown(struct supervisor *s, unsigned grace_ms);

/* supervise_free - release memory and fds. */
void supervise_free(struct supervisor *s);

#endif
