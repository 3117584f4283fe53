/*
 * worker — the worker process's loop (see worker.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <lmdb.h>

#include "kernel.h"
#include "log.h"
#include "shm.h"
#include "store.h"
#include "sys.h"
#include "topo.h"
#include "worker.h"

#define SPIN_NS         50000ull       /* poll this long for work before sleeping */
#define IDLE_SLEEP_NS   500000000ull    /* heartbeat period while idle */
#define EXEC_GRACE_NS   5000000000ull   /* supervisor's slack past an exec deadline */
#define KERNEL_GRACE_NS 100000000ull    /* ... past an in-process kernel's deadline */

struct wstate_local {
	struct shm shm;
	struct wblock *wb;
	unsigned owner;
	uint64_t current;        /* task running now, 0 = none */
	_Atomic uint32_t cancel; /* the kernel's cancel word for the current task */
	unsigned order[SHM_NPRIO]; /* rings in the order to try them */
	char log_dir[4200];
	char db_dir[4200];
	MDB_env *env;
	MDB_dbi dbi;
	unsigned char *blob;     /* scratch for blobs read from LMDB */
	size_t blob_cap;
	char *result;            /* result buffer (malloc'd; ABI kernels may grow it) */
	size_t result_cap;
	size_t max_result;       /* forqd --max-result */
	size_t kernel_mem;       /* forqd --kernel-mem */
	uint64_t peak_kb;        /* the worker's peak RSS after the last measured task */
	char res_dir[4200];      /* STATE/results: results too large for a completion */
	char scratch[4200];      /* STATE/scratch: kernels' temporary directories */
};

static struct wstate_local *self; /* the one worker of this process */

/*
 * The heartbeat, advanced while idle, between tasks, and from kernels
 * (ctx->beat, forq_progress).  It also forwards a cancel of the current
 * task, which forqd writes into the block, to the kernel's cancel word.
 */
static void
beat(void *arg)
{
	struct wblock *wb = arg;

	/* relaxed: a counter sampled by the supervisor; no data rides on it. */
	atomic_fetch_add_explicit(&wb->heartbeat, 1, memory_order_relaxed);
	if (self && self->current &&
	    atomic_load_explicit(&wb->cancel_task, memory_order_relaxed) == self->current)
		atomic_store_explicit(&self->cancel, 1, memory_order_relaxed);
}

static int
open_db(struct wstate_local *w)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_env_create(&w->env)))
		return rc;
	mdb_env_set_maxdbs(w->env, 4);
	mdb_env_set_mapsize(w->env, 64ull << 30);
	if ((rc = mdb_env_open(w->env, w->db_dir, MDB_RDONLY | MDB_NOTLS | MDB_NORDAHEAD, 0600)))
		goto out_env;
	if ((rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn)))
		goto out_env;
	rc = mdb_dbi_open(txn, "tasks", MDB_INTEGERKEY, &w->dbi);
	if (rc) {
		mdb_txn_abort(txn);
		goto out_env;
	}
	/* Commit, not abort: an aborted transaction closes the handles it
	 * opened (mdb_dbi_open(3)). */
	if ((rc = mdb_txn_commit(txn)))
		goto out_env;
	return 0;
out_env:
	mdb_env_close(w->env);
	w->env = NULL;
	return rc;
}

/* Copy task @id's blob out of LMDB into w->blob.  0 or an LMDB/errno code. */
static int
read_blob(struct wstate_local *w, uint64_t id, size_t *len)
{
	unsigned char key[8];
	MDB_val k = { 8, key }, v;
	struct task_rec r;
	MDB_txn *txn;
	int rc;

	if (!w->env && (rc = open_db(w)))
		return rc;
	if ((rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn)))
		return rc;
	store_key(id, key);
	rc = mdb_get(txn, w->dbi, &k, &v);
	if (!rc && task_unpack(v.mv_data, v.mv_size, &r) < 0)
		rc = EBADMSG;
	if (!rc) {
		if (r.blob_len > w->blob_cap) {
			unsigned char *n = realloc(w->blob, r.blob_len);

			if (!n)
				rc = ENOMEM;
			else {
				w->blob = n;
				w->blob_cap = r.blob_len;
			}
		}
		if (!rc) {
			memcpy(w->blob, r.blob, r.blob_len);
			*len = r.blob_len;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

/*
 * The order to try the rings in: by effective priority (aging lowers a
 * ring's number as its oldest task waits), then by priority.  Without
 * aging the effective priorities are the priorities: 0, 1, ... 9.
 */
static void
ring_order(struct wstate_local *w)
{
	uint8_t eff[SHM_NPRIO];

	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		/* relaxed: a scheduling hint from the store thread */
		eff[p] = atomic_load_explicit(&w->shm.hdr->eff_prio[p], memory_order_relaxed);
		w->order[p] = p;
	}
	for (unsigned i = 1; i < SHM_NPRIO; i++) {
		unsigned x = w->order[i], j = i;

		while (j && (eff[w->order[j - 1]] > eff[x] ||
			     (eff[w->order[j - 1]] == eff[x] && w->order[j - 1] > x))) {
			w->order[j] = w->order[j - 1];
			j--;
		}
		w->order[j] = x;
	}
}

/*
 * Pop the most urgent task into the block's held line.  Returns the ring
 * it came from, or -1.  The position goes to @pos.
 */
static int
take(struct wstate_local *w, uint64_t *pos)
{
	if (w->shm.hdr->aging_ns)
		ring_order(w);
	for (unsigned i = 0; i < SHM_NPRIO; i++) {
		unsigned p = w->order[i];
		struct ring *r = shm_ring(&w->shm, p);

		if (ring_empty(r))
			continue;
		if (ring_try_pop_at(r, w->owner, w->wb->held, pos))
			return (int)p;
	}
	return -1;
}

/* Write @len bytes to STATE/results/ID.ATTEMPT.EXT.  0 or -errno. */
static int
write_result_file(struct wstate_local *w, const struct shm_comp *c, const char *ext,
		  const void *data, size_t len)
{
	char path[4300];
	const char *p = data;
	int fd;

	snprintf(path, sizeof(path), "%s/%llu.%u.%s", w->res_dir, (unsigned long long)c->id,
		 c->attempt, ext);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int rc = n < 0 ? -errno : -EIO;

			close(fd);
			unlink(path);
			return rc;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd) < 0 ? -errno : 0;
}

/*
 * Results small enough travel inside the completion; larger ones (and raw
 * bytes) go through a file the store thread reads and removes when it
 * applies the completion.
 */
static void
put_result(struct wstate_local *w, struct shm_comp *c, const struct kctx *ctx)
{
	if (ctx->result_len && ctx->result_len <= sizeof(c->result) && !ctx->bytes_len) {
		memcpy(c->result, ctx->result, ctx->result_len);
		c->result_len = (uint32_t)ctx->result_len;
		return;
	}
	if (ctx->result_len) {
		if (write_result_file(w, c, "json", ctx->result, ctx->result_len) == 0)
			c->flags |= SHM_C_RESULT_FILE;
		else
			log_warn("task %llu: cannot keep its result", (unsigned long long)c->id);
	}
	if (ctx->bytes_len && ctx->bytes) {
		if (write_result_file(w, c, "bin", ctx->bytes, ctx->bytes_len) == 0)
			c->flags |= SHM_C_BYTES_FILE;
		else
			log_warn("task %llu: cannot keep its result bytes", (unsigned long long)c->id);
	}
}

static void
push_completion(struct wstate_local *w, const struct shm_comp *c)
{
	struct ring *comp = shm_comp_ring(&w->shm);
	struct shm_hdr *h = w->shm.hdr;

	while (!ring_try_push(comp, w->owner, c, sizeof(*c))) {
		/* Full: the store thread is behind.  Make sure it is awake. */
		doorbell_ring(&h->store_bell, 1);
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
	doorbell_ring(&h->store_bell, 1);
}

/*
 * Resource use of an in-process kernel: the thread's CPU clock around it
 * (CLOCK_THREAD_CPUTIME_ID: exact, not tick-based; user and system time
 * together, reported as user time) and how far it raised the worker's peak
 * resident set (getrusage after it, against the peak seen after the task
 * before).  Three syscalls a task (~0.2 us each); none for noop.
 */
static uint64_t
thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t
peak_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0 ? (uint64_t)ru.ru_maxrss : 0;
}

/* True when the task at ring @prio position @pos was cancelled (store.c). */
static bool
cancelled_before_start(struct wstate_local *w, unsigned prio, uint64_t pos, uint64_t id)
{
	/* seq_cst: the Dekker half against cancel_marks() in the store:
	 * our task_id publication (seq_cst) precedes this load. */
	if (atomic_load_explicit(shm_cancel_mark(&w->shm, prio, pos), memory_order_seq_cst) == pos)
		return true;
	return atomic_load_explicit(&w->wb->cancel_task, memory_order_seq_cst) == id;
}

static void
run_one(struct wstate_local *w, unsigned prio, uint64_t pos)
{
	uint64_t cpu0 = 0;
	struct wblock *wb = w->wb;
	struct shm_task t;
	struct shm_comp c;
	const struct kernel *k;
	enum kernel_outcome out;
	struct kctx ctx;
	const void *blob;
	size_t blob_len;
	uint64_t t0, deadline = 0;
	int rc;

	shm_task_unpack(wb->held, &t);
	t0 = sys_now_ns();
	if (t.timeout_ms)
		deadline = t0 + (uint64_t)t.timeout_ms * 1000000u;
	memset(&c, 0, sizeof(c));
	c.id = t.id;
	c.attempt = t.attempt;
	c.worker = (uint16_t)(w->owner - 1);
	c.cpu = wb->cpu;
	c.start_wall_ns = sys_wall_ns();
	k = kernel_by_id(t.kernel);
	atomic_store_explicit(&wb->attempt, t.attempt, memory_order_relaxed);
	atomic_store_explicit(&wb->start_ns, t0, memory_order_relaxed);
	atomic_store_explicit(&wb->deadline_ns,
			      deadline ? deadline + (t.kernel == KERNEL_ID_EXEC ? EXEC_GRACE_NS : KERNEL_GRACE_NS) : 0,
			      memory_order_relaxed);
	/* R5: publishes start/deadline with the id; pairs with A5 in the
	 * supervisor's tick, which reads task_id first. */
	atomic_store_explicit(&wb->progress, SHM_PROGRESS_NONE, memory_order_relaxed);
	/* seq_cst (includes R5's release): also the Dekker half against the
	 * store's cancel marks, see cancelled_before_start. */
	atomic_store_explicit(&wb->task_id, t.id, memory_order_seq_cst);
	atomic_store_explicit(&wb->state, WSTATE_BUSY, memory_order_relaxed);
	w->current = t.id;
	atomic_store_explicit(&w->cancel, 0, memory_order_relaxed);
	if (cancelled_before_start(w, prio, pos, t.id)) {
		/* The record is CANCELLED already: nothing to run or report. */
		goto out_clear;
	}
	beat(wb);

	memset(&ctx, 0, sizeof(ctx));
	ctx.task_id = t.id;
	ctx.attempt = t.attempt;
	ctx.cpu = wb->cpu;
	ctx.deadline_ns = deadline;
	ctx.log_dir = w->log_dir;
	ctx.beat = beat;
	ctx.beat_arg = wb;
	ctx.cancel = &w->cancel;
	ctx.array_index = (t.flags & SHM_T_ARRAY) ? (int64_t)t.array_index : -1;
	ctx.numa = wb->numa;
	ctx.result = w->result;
	ctx.result_cap = w->result_cap;
	ctx.result_max = w->max_result;
	ctx.bytes = NULL;
	ctx.bytes_max = w->max_result;
	ctx.progress_permille = &wb->progress;
	ctx.scratch_base = w->scratch;
	ctx.mem_limit = w->kernel_mem;
	ctx.exit_code = 0;
	if (!k) {
		out = KERNEL_FAILED;
		snprintf(ctx.reason, sizeof(ctx.reason), "unknown kernel %u", t.kernel);
		ctx.exit_code = 1;
	} else {
		if (t.flags & SHM_T_INLINE) {
			blob = t.blob;
			blob_len = t.blob_len;
			rc = 0;
		} else {
			rc = read_blob(w, t.id, &blob_len);
			blob = w->blob;
		}
		if (rc) {
			out = KERNEL_FAILED;
			ctx.exit_code = 1;
			snprintf(ctx.reason, sizeof(ctx.reason), "store: %s", mdb_strerror(rc));
		} else {
			bool measure = k->id != KERNEL_ID_EXEC && k->id != KERNEL_ID_NOOP;

			if (measure)
				cpu0 = thread_cpu_us();
			out = kernel_run(k, &ctx, blob, blob_len);
			if (measure) {
				uint64_t peak = peak_rss_kb();

				ctx.user_us = thread_cpu_us() - cpu0;
				ctx.sys_us = 0;
				ctx.maxrss_kb = peak > w->peak_kb ? peak - w->peak_kb : 0;
				w->peak_kb = peak;
			}
		}
	}
	c.outcome = (uint8_t)out;
	c.exit_code = ctx.exit_code;
	c.term_signal = ctx.term_signal;
	c.end_wall_ns = sys_wall_ns();
	c.user_us = ctx.user_us;
	c.sys_us = ctx.sys_us;
	c.maxrss_kb = ctx.maxrss_kb;
	snprintf(c.reason, sizeof(c.reason), "%s", ctx.reason);
	/* The adapter may have grown the result buffer: keep it. */
	if (ctx.result != w->result) {
		w->result = ctx.result;
		w->result_cap = ctx.result_cap;
	}
	put_result(w, &c, &ctx);
	free(ctx.bytes);
	/* A task interrupted by a shutdown is not reported: it stays QUEUED
	 * in the store and runs again when forqd next starts. */
	if (!(out == KERNEL_CANCELLED && atomic_load_explicit(&w->shm.hdr->shutdown, memory_order_acquire)))
		push_completion(w, &c);
	atomic_fetch_add_explicit(&wb->tasks_done, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&wb->busy_ns, sys_now_ns() - t0, memory_order_relaxed);
	atomic_store_explicit(&wb->deadline_ns, 0, memory_order_relaxed);
out_clear:
	w->current = 0;
	atomic_store_explicit(&wb->task_id, 0, memory_order_release);
	/* The held task is finished: clear its id so a death from here on is
	 * not mistaken for a death while holding it (read by the supervisor
	 * only after this process is dead). */
	memset(wb->held, 0, 8);
	atomic_store_explicit(&wb->state, WSTATE_IDLE, memory_order_relaxed);
}

int
worker_main(const struct worker_args *a)
{
	struct wstate_local w;
	struct shm_hdr *h;
	char warn[256], name[48];
	int rc;

	memset(&w, 0, sizeof(w));
	self = &w;
	snprintf(name, sizeof(name), "forqd[worker %u]", a->index);
	log_set_prog(name);
	signal(SIGPIPE, SIG_IGN);
	/* SIGCHLD stays at its default: exec waits on its child's pidfd. */
	signal(SIGCHLD, SIG_DFL);
	if ((rc = shm_attach(&w.shm, a->shm_name, 1)) < 0) {
		log_error("cannot attach %s: %s", a->shm_name, strerror(-rc));
		return 1;
	}
	h = w.shm.hdr;
	if (a->index >= h->max_workers) {
		log_error("worker index %u out of range", a->index);
		return 1;
	}
	w.wb = shm_wblock(&w.shm, a->index);
	w.owner = a->index + 1;
	w.max_result = a->max_result ? a->max_result : (1u << 20);
	w.kernel_mem = a->kernel_mem;
	w.peak_kb = peak_rss_kb();
	w.result_cap = 4096;
	w.result = malloc(w.result_cap);
	if (!w.result) {
		log_error("out of memory");
		return 1;
	}
	snprintf(w.res_dir, sizeof(w.res_dir), "%s/results", a->state_dir);
	snprintf(w.scratch, sizeof(w.scratch), "%s/scratch", a->state_dir);
	for (unsigned i = 0; i < a->nplugins; i++) {
		char err[512];

		if ((rc = kernel_load_plugin(a->plugins[i], err, sizeof(err))) < 0) {
			log_error("%s", err);
			return 1;
		}
	}
	if (a->plugin_dir) {
		char err[512];

		if ((rc = kernel_load_plugin_dir(a->plugin_dir, err, sizeof(err))) < 0) {
			log_error("%s", err);
			return 1;
		}
	}
	snprintf(w.log_dir, sizeof(w.log_dir), "%s/logs", a->state_dir);
	snprintf(w.db_dir, sizeof(w.db_dir), "%s/db", a->state_dir);
	if ((rc = topo_bind_self(a->cpus, a->nodes, warn, sizeof(warn))) < 0) {
		log_error("cannot bind to cpus %s: %s", a->cpus, strerror(-rc));
		return 1;
	}
	if (warn[0])
		log_debug("%s", warn);
	w.wb->cpu = sched_getcpu();
	w.wb->numa = a->numa;
	atomic_store_explicit(&w.wb->state, WSTATE_IDLE, memory_order_release);
	beat(w.wb);

	for (unsigned p = 0; p < SHM_NPRIO; p++)
		w.order[p] = p;
	for (;;) {
		uint64_t pos, t0;
		int prio = take(&w, &pos);
		bool any = false;

		if (prio >= 0) {
			run_one(&w, (unsigned)prio, pos);
			continue;
		}
		if (atomic_load_explicit(&h->shutdown, memory_order_acquire))
			break;
		/* Poll for SPIN_NS before sleeping: a task that follows soon
		 * costs no futex wake (15-30 us on a VM, 0.2 us polled). */
		t0 = sys_now_ns();
		for (unsigned n = 0; !any; n++) {
			for (unsigned p = 0; p < SHM_NPRIO && !any; p++)
				any = !ring_empty(shm_ring(&w.shm, p));
			if (!any && (n & 63) == 0) {
				if (sys_now_ns() - t0 > SPIN_NS)
					break;
				sched_yield(); /* share the core with what we wait for */
			}
			sys_cpu_relax();
		}
		if (any)
			continue;
		uint32_t armed = doorbell_arm(&h->work_bell);
		atomic_store_explicit(&w.wb->sleeping, 1, memory_order_relaxed);
		any = atomic_load_explicit(&h->shutdown, memory_order_acquire);
		for (unsigned p = 0; p < SHM_NPRIO && !any; p++)
			any = !ring_empty(shm_ring(&w.shm, p));
		if (any) {
			atomic_store_explicit(&w.wb->sleeping, 0, memory_order_relaxed);
			doorbell_disarm(&h->work_bell);
			continue;
		}
		/* sleeping is cleared before the decrement inside
		 * doorbell_sleep: a death in between leaves the count one
		 * high (a spurious wake syscall), never one low. */
		rc = sys_futex_wait((const uint32_t *)&h->work_bell.seq, armed, IDLE_SLEEP_NS);
		atomic_store_explicit(&w.wb->sleeping, 0, memory_order_relaxed);
		doorbell_disarm(&h->work_bell);
		beat(w.wb);
	}
	atomic_store_explicit(&w.wb->state, WSTATE_EXITING, memory_order_release);
	if (w.env)
		mdb_env_close(w.env);
	free(w.blob);
	free(w.result);
	shm_detach(&w.shm);
	return 0;
}
