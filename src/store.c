/*
 * store — LMDB and the store thread (see store.h for the design).
 *
 * LMDB return codes stay inside this file: every public function returns 0
 * or -errno.  Only the store thread opens write transactions.
 *
 * Databases: "tasks" (id -> record), "meta" ("next_id"), "attempts" (id +
 * attempt -> one ended attempt), "dependents" (dependency id -> dependent
 * ids, MDB_DUPSORT|MDB_DUPFIXED), "keys" (idempotency key -> first id and
 * count).
 *
 * Cancelling a task in a ring.  The store is the rings' only producer, so
 * it knows which id it pushed at each position (pushed_id).  To cancel a
 * QUEUED task it commits the record CANCELLED, then writes the position
 * into that slot's cancel mark (shm_cancel_mark, seq_cst) and then reads
 * the worker blocks (seq_cst).  A worker that popped the position
 * publishes the task id in its block (seq_cst) and then reads the mark
 * (seq_cst).  Dekker: either the worker sees the mark and skips the task,
 * or the store sees the worker holding it and sets the block's
 * cancel_task, which the worker checks before and while running it.
 * Either way a cancelled task does not run to completion, and the record
 * is CANCELLED already, so whatever the worker reports is ignored.
 *
 * Retries.  An attempt that ended FAILED, TIMEOUT or LOST with retries
 * left is recorded in "attempts", the record goes back to QUEUED with
 * attempts + 1, and the task is dispatched again at once or, with a retry
 * delay, after delay * 2^(attempt - 1) (capped at 10 minutes, +-10 %
 * jitter) from an in-memory heap.  A lost worker's task gets one retry
 * even without --retries.
 *
 * Dependencies.  A task with unfinished dependencies is WAITING; its
 * remaining count is in the deps map and an edge per dependency in
 * "dependents".  When a task ends, its dependents are walked once (a
 * cursor over its duplicates): DONE (or after_any) decrements, and a zero
 * count queues the dependent; otherwise the dependent ends CANCELLED
 * ("dependency_failed") and the walk continues from it (a worklist, not
 * recursion).  Each edge is visited once: O(dependents).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/eventfd.h>

#include "kernel.h"
#include "log.h"
#include "paths.h"
#include "store.h"
#include "sys.h"

#define STORE_MAP_SIZE   (64ull << 30)   /* address space, not disk */
#define STORE_DRAIN_MAX  65536           /* completions per transaction */
#define STORE_RETRY_CAP  600000000000ull /* longest retry delay: 10 min */
#define STORE_CANCEL_IDS 10000           /* ids listed in a cancel reply */
#define OUTCOME_LOST     0xff            /* apply_end: the worker died */
#define STORE_SPIN_NS    200000ull        /* spin this long after work before sleeping */

/*
 * Keys of "tasks", "dependents" and "bytes" are native-endian u64 with
 * MDB_INTEGERKEY: LMDB then compares them as integers, not with memcmp
 * (a tenth of the store thread's time under load).  The environment is
 * local to one machine, so native byte order is safe.
 */
void
store_key(uint64_t id, unsigned char key[8])
{
	memcpy(key, &id, 8);
}

static uint64_t
key_id(const void *p)
{
	uint64_t id;

	memcpy(&id, p, 8);
	return id;
}

void
store_reader_check(struct store *s)
{
	int dead = 0;

	mdb_reader_check(s->env, &dead);
	if (dead)
		log_debug("store: cleared %d stale reader slot(s)", dead);
}

static int
mdb_errno(int rc)
{
	return rc > 0 ? -rc : -EIO; /* LMDB uses errno values or its own negatives */
}

void
store_req_free(struct store_submit *r)
{
	if (!r)
		return;
	proto_submit_free(&r->batch);
	free(r->cancel.ids);
	free(r->task_ids);
	free(r->existing);
	free(r->cancelled_ids);
	free(r);
}

/* Count the dependencies of a WAITING record that have not ended. */
static uint64_t
open_deps(MDB_txn *txn, MDB_dbi dbi, const struct task_rec *r)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < r->ndeps; i++) {
		unsigned char key[8];
		MDB_val k = { 8, key }, v;
		struct task_rec d;

		store_key(task_dep(r, i), key);
		if (mdb_get(txn, dbi, &k, &v) || task_unpack(v.mv_data, v.mv_size, &d) < 0)
			continue;
		if (!task_state_terminal((enum task_state)d.state))
			n++;
	}
	return n;
}

int
store_open(struct store *s, const char *dir, bool nosync, char *err, size_t errlen)
{
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (nosync ? MDB_NOSYNC : 0);
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	memset(s, 0, sizeof(*s));
	s->nosync = nosync;
	s->notify_fd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	pthread_mutex_init(&s->lock, NULL);
	if ((rc = paths_mkdirs(dir, 0700)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	if ((rc = mdb_env_create(&s->env)))
		goto out_lmdb;
	mdb_env_set_maxdbs(s->env, 8);
	mdb_env_set_maxreaders(s->env, 1024);
	mdb_env_set_mapsize(s->env, STORE_MAP_SIZE);
	if ((rc = mdb_env_open(s->env, dir, flags, 0600)))
		goto out_env;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		goto out_env;
	if ((rc = mdb_dbi_open(txn, "tasks", MDB_CREATE | MDB_INTEGERKEY, &s->dbi_tasks)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta)) ||
	    (rc = mdb_dbi_open(txn, "attempts", MDB_CREATE, &s->dbi_attempts)) ||
	    (rc = mdb_dbi_open(txn, "dependents",
			       MDB_CREATE | MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP,
			       &s->dbi_deps)) ||
	    (rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &s->dbi_keys)) ||
	    (rc = mdb_dbi_open(txn, "bytes", MDB_CREATE | MDB_INTEGERKEY, &s->dbi_bytes))) {
		mdb_txn_abort(txn);
		goto out_env;
	}
	s->next_id = 1;
	k.mv_data = "next_id";
	k.mv_size = 7;
	if (mdb_get(txn, s->dbi_meta, &k, &v) == 0 && v.mv_size == 8)
		s->next_id = task_get_be(v.mv_data, 8);
	/* Recover the counts, the queue and the waiting graph. */
	if ((rc = mdb_cursor_open(txn, s->dbi_tasks, &cur))) {
		mdb_txn_abort(txn);
		goto out_env;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		struct task_rec r;
		uint64_t id;
		int prc = 0;

		if (k.mv_size != 8 || task_unpack(v.mv_data, v.mv_size, &r) < 0) {
			log_warn("store: skipping an unreadable record");
			continue;
		}
		id = key_id(k.mv_data);
		if (id >= s->next_id)
			s->next_id = id + 1;
		atomic_fetch_add_explicit(&s->count[r.state], 1, memory_order_relaxed);
		if (r.state == TASK_QUEUED)
			prc = backlog_push(&s->backlog[r.prio], id);
		else if (r.state == TASK_WAITING)
			prc = deps_set(&s->waiting, id, open_deps(txn, s->dbi_tasks, &r));
		if (prc < 0) {
			rc = ENOMEM;
			mdb_cursor_close(cur);
			mdb_txn_abort(txn);
			goto out_env;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		goto out_env;
	}
	{
		MDB_stat st;

		if (mdb_stat(txn, s->dbi_deps, &st) == 0)
			s->edges = st.ms_entries;
	}
	if ((rc = mdb_txn_commit(txn)))
		goto out_env;
	atomic_store_explicit(&s->last_id, s->next_id - 1, memory_order_relaxed);
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		atomic_fetch_add_explicit(&s->backlog_len, backlog_len(&s->backlog[p]), memory_order_relaxed);
	return 0;

out_env:
	mdb_env_close(s->env);
	s->env = NULL;
out_lmdb:
	snprintf(err, errlen, "LMDB %s: %s", dir, mdb_strerror(rc));
	return mdb_errno(rc);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
store_adopt_inflight(struct store *s, uint64_t *ids, size_t n)
{
	if (!n)
		return 0;
	qsort(ids, n, sizeof(*ids), cmp_u64);
	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		struct backlog_q *q = &s->backlog[p], nq = { 0 };
		uint64_t id;

		while (backlog_peek(q, &id)) {
			backlog_pop(q);
			if (bsearch(&id, ids, n, sizeof(*ids), cmp_u64)) {
				atomic_fetch_sub_explicit(&s->backlog_len, 1, memory_order_relaxed);
				continue;
			}
			if (backlog_push(&nq, id) < 0) {
				backlog_free(&nq);
				return -ENOMEM;
			}
		}
		backlog_free(q);
		*q = nq;
	}
	return 0;
}

void
store_set_aging(struct store *s, uint64_t ns)
{
	s->aging_ns = ns;
}

void
store_close(struct store *s)
{
	if (s->env)
		mdb_env_close(s->env);
	s->env = NULL;
	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		backlog_free(&s->backlog[p]);
		free(s->pushed_id[p]);
		free(s->pushed_ns[p]);
	}
	deps_free(&s->waiting);
	free(s->delayed);
	while (s->deferred) {
		struct store_lost *l = s->deferred;

		s->deferred = l->next;
		free(l);
	}
	pthread_mutex_destroy(&s->lock);
}

/* Append @item to the singly linked list @head..@tail (under s->lock). */
#define LIST_APPEND(head, tail, item)          \
	do {                                   \
		(item)->next = NULL;           \
		if (tail)                      \
			(tail)->next = (item); \
		else                           \
			(head) = (item);       \
		(tail) = (item);               \
	} while (0)

void
store_submit(struct store *s, struct store_submit *sub)
{
	pthread_mutex_lock(&s->lock);
	LIST_APPEND(s->in_head, s->in_tail, sub);
	/* relaxed: a hint for the store thread's spin; the lock orders the list */
	atomic_store_explicit(&s->has_input, true, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
	doorbell_ring(&s->shm->hdr->store_bell, 1);
}

void
store_report_lost(struct store *s, struct store_lost *l)
{
	pthread_mutex_lock(&s->lock);
	LIST_APPEND(s->lost_head, s->lost_tail, l);
	atomic_store_explicit(&s->has_input, true, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
	doorbell_ring(&s->shm->hdr->store_bell, 1);
}

struct store_submit *
store_take_done(struct store *s)
{
	struct store_submit *d;

	pthread_mutex_lock(&s->lock);
	d = s->done_head;
	s->done_head = s->done_tail = NULL;
	pthread_mutex_unlock(&s->lock);
	return d;
}

int
store_get(struct store *s, uint64_t id,
	  int (*fn)(void *ctx, uint64_t id, const struct task_rec *r), void *ctx)
{
	unsigned char key[8];
	struct task_rec r;
	MDB_txn *txn;
	MDB_val k = { 8, key }, v;
	int rc;

	store_key(id, key);
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
		return -EIO;
	rc = mdb_get(txn, s->dbi_tasks, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = -ENOENT;
	else if (rc)
		rc = -EIO;
	else if (task_unpack(v.mv_data, v.mv_size, &r) < 0)
		rc = -EIO;
	else
		rc = fn(ctx, id, &r);
	mdb_txn_abort(txn);
	return rc;
}

int
store_get_bytes(struct store *s, uint64_t id, int (*fn)(void *ctx, const void *data, size_t len), void *ctx)
{
	unsigned char key[8];
	MDB_txn *txn;
	MDB_val k = { 8, key }, v;
	int rc;

	store_key(id, key);
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
		return -EIO;
	rc = mdb_get(txn, s->dbi_bytes, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = -ENOENT;
	else if (rc)
		rc = -EIO;
	else
		rc = fn(ctx, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return rc;
}

int
store_get_attempts(struct store *s, uint64_t id,
		   void (*fn)(void *ctx, unsigned attempt, const struct task_attempt *a), void *ctx)
{
	unsigned char key[10];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { 10, key }, v;
	MDB_cursor_op op = MDB_SET_RANGE;
	int rc;

	store_key(id, key);
	task_put_be(key + 8, 0, 2);
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
		return -EIO;
	if (mdb_cursor_open(txn, s->dbi_attempts, &cur)) {
		mdb_txn_abort(txn);
		return -EIO;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		struct task_attempt a;

		op = MDB_NEXT;
		if (k.mv_size != 10 || key_id(k.mv_data) != id)
			break;
		if (task_attempt_unpack(v.mv_data, v.mv_size, &a) == 0)
			fn(ctx, (unsigned)task_get_be((unsigned char *)k.mv_data + 8, 2), &a);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return 0;
}

int
store_scan(struct store *s, uint64_t after,
	   int (*fn)(void *ctx, uint64_t id, const struct task_rec *r), void *ctx)
{
	unsigned char key[8];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { 8, key }, v;
	MDB_cursor_op op = MDB_SET_RANGE;
	int rc, ret = 0;

	store_key(after + 1, key);
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
		return -EIO;
	if (mdb_cursor_open(txn, s->dbi_tasks, &cur)) {
		mdb_txn_abort(txn);
		return -EIO;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		struct task_rec r;

		op = MDB_NEXT;
		if (k.mv_size != 8 || task_unpack(v.mv_data, v.mv_size, &r) < 0)
			continue;
		ret = fn(ctx, key_id(k.mv_data), &r);
		if (ret)
			break;
	}
	if (rc && rc != MDB_NOTFOUND)
		ret = -EIO;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* ---- the store thread ---------------------------------------------------- */

/* A task to push into a ring once the transaction that queued it commits. */
struct pending {
	uint64_t id;
	uint32_t attempt;
	uint16_t kernel;
	uint8_t prio;
	uint8_t flags;           /* SHM_T_ARRAY */
	uint32_t timeout_ms;
	uint32_t array_index;
	uint32_t blob_len;
	unsigned char blob[SHM_INLINE_BLOB];
};

struct txn_state {
	MDB_txn *txn;
	MDB_cursor *cur;             /* on "tasks", for the completion path */
	uint64_t cur_id;             /* the record the cursor is on (0 = none) */
	size_t cur_size;             /* its packed size */
	uint64_t now_wall;           /* CLOCK_REALTIME at the start */
	unsigned char *buf;          /* scratch for packing */
	size_t buf_cap;
	struct pending *pend;        /* to dispatch after commit */
	size_t npend, cap_pend;
	struct store_delay *delay;   /* retries to delay after commit */
	size_t ndelay, cap_delay;
	uint64_t *cancel_q;          /* QUEUED tasks cancelled: mark after commit */
	size_t ncancel_q, cap_cancel_q;
	uint64_t *work;              /* dependents worklist: ids that ended not DONE */
	size_t nwork, cap_work;
	int64_t delta[TASK_STATE__COUNT]; /* count changes, applied after commit */
	uint64_t ended;              /* tasks that reached a terminal state */
	uint64_t created;            /* tasks created */
};

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *n;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	n = realloc(*p, nc * elem);
	if (!n)
		return ENOMEM;
	*p = n;
	*cap = nc;
	return 0;
}

static int
put_rec(struct store *s, struct txn_state *ts, uint64_t id, const struct task_rec *r, unsigned flags)
{
	unsigned char key[8];
	size_t n = task_packed_size(r);
	MDB_val k = { 8, key }, v;

	if (grow((void **)&ts->buf, &ts->buf_cap, n, 1))
		return ENOMEM;
	task_pack(r, ts->buf);
	store_key(id, key);
	v.mv_size = n;
	v.mv_data = ts->buf;
	return mdb_put(ts->txn, s->dbi_tasks, &k, &v, flags);
}

/*
 * The completion path: the record is found with the transaction's cursor
 * on "tasks" and, when its packed size did not change (a noop's record
 * ends as long as it began), rewritten in place with MDB_CURRENT: one
 * B-tree descent per completion instead of two.
 */
static unsigned char *
get_rec_at(struct store *s, struct txn_state *ts, uint64_t id, struct task_rec *r, int *rc)
{
	unsigned char key[8], *copy;
	MDB_val k = { 8, key }, v;

	ts->cur_id = 0;
	if (!ts->cur && (*rc = mdb_cursor_open(ts->txn, s->dbi_tasks, &ts->cur)))
		return NULL;
	store_key(id, key);
	*rc = mdb_cursor_get(ts->cur, &k, &v, MDB_SET_KEY);
	if (*rc)
		return NULL;
	copy = malloc(v.mv_size ? v.mv_size : 1);
	if (!copy) {
		*rc = ENOMEM;
		return NULL;
	}
	memcpy(copy, v.mv_data, v.mv_size);
	if (task_unpack(copy, v.mv_size, r) < 0) {
		free(copy);
		*rc = MDB_CORRUPTED;
		return NULL;
	}
	ts->cur_id = id;
	ts->cur_size = v.mv_size;
	return copy;
}

static int
put_rec_at(struct store *s, struct txn_state *ts, uint64_t id, const struct task_rec *r)
{
	size_t n = task_packed_size(r);
	unsigned char key[8];
	MDB_val k = { 8, key }, v;

	/* Only if nothing moved the cursor since get_rec_at (release() and
	 * the other writers use put_rec; LMDB fixes cursors up after them,
	 * but cur_id is cleared by get_rec_at only). */
	if (ts->cur_id != id || n != ts->cur_size)
		return put_rec(s, ts, id, r, 0);
	if (grow((void **)&ts->buf, &ts->buf_cap, n, 1))
		return ENOMEM;
	task_pack(r, ts->buf);
	store_key(id, key);
	v.mv_size = n;
	v.mv_data = ts->buf;
	return mdb_cursor_put(ts->cur, &k, &v, MDB_CURRENT);
}

/* Read task @id into @r with a private copy (returned; caller frees). */
static unsigned char *
get_rec(struct store *s, MDB_txn *txn, uint64_t id, struct task_rec *r, int *rc)
{
	unsigned char key[8], *copy;
	MDB_val k = { 8, key }, v;

	store_key(id, key);
	*rc = mdb_get(txn, s->dbi_tasks, &k, &v);
	if (*rc)
		return NULL;
	/* The record's pointers would borrow from the page, which a put in
	 * this transaction may rewrite: copy it. */
	copy = malloc(v.mv_size ? v.mv_size : 1);
	if (!copy) {
		*rc = ENOMEM;
		return NULL;
	}
	memcpy(copy, v.mv_data, v.mv_size);
	if (task_unpack(copy, v.mv_size, r) < 0) {
		free(copy);
		*rc = MDB_CORRUPTED;
		return NULL;
	}
	return copy;
}

static void
count_move(struct txn_state *ts, int from, int to)
{
	ts->delta[from]--;
	ts->delta[to]++;
	if (task_state_terminal((enum task_state)to))
		ts->ended++;
}

static int
add_pending(struct txn_state *ts, uint64_t id, const struct task_rec *r)
{
	struct pending *p;

	if (grow((void **)&ts->pend, &ts->cap_pend, ts->npend + 1, sizeof(*p)))
		return ENOMEM;
	p = &ts->pend[ts->npend++];
	p->id = id;
	p->attempt = r->attempts + 1u;
	p->kernel = r->kernel;
	p->prio = r->prio;
	p->flags = (r->flags & TASK_F_ARRAY) ? SHM_T_ARRAY : 0;
	p->timeout_ms = r->timeout_ms;
	p->array_index = r->array_index;
	p->blob_len = r->blob_len;
	if (r->blob_len <= SHM_INLINE_BLOB && r->blob_len)
		memcpy(p->blob, r->blob, r->blob_len);
	return 0;
}

static int
put_attempt(struct store *s, struct txn_state *ts, uint64_t id, uint32_t attempt,
	    const struct task_attempt *a)
{
	unsigned char key[10], val[TASK_ATT_FIXED + TASK_REASON_MAX];
	MDB_val k = { 10, key }, v = { 0, val };

	store_key(id, key);
	task_put_be(key + 8, attempt > 65535 ? 65535 : attempt, 2);
	v.mv_size = task_attempt_pack(a, val);
	return mdb_put(ts->txn, s->dbi_attempts, &k, &v, 0);
}

/*
 * Release the dependents of every task on the worklist (tasks that just
 * ended; @ok tells whether the first one ended DONE).  Dependents that
 * become ready are queued; dependents whose dependency failed end
 * CANCELLED and join the worklist.
 */
static int
release(struct store *s, struct txn_state *ts, uint64_t first, bool ok)
{
	MDB_cursor *cur;
	int rc;

	ts->nwork = 0;
	if (grow((void **)&ts->work, &ts->cap_work, 1, sizeof(uint64_t)))
		return ENOMEM;
	ts->work[ts->nwork++] = first;
	if ((rc = mdb_cursor_open(ts->txn, s->dbi_deps, &cur)))
		return rc;
	for (size_t w = 0; w < ts->nwork; w++) {
		unsigned char key[8];
		MDB_val k = { 8, key }, v;
		bool done_ok = w == 0 ? ok : false;
		uint64_t *ids = NULL;
		size_t nids = 0, cap = 0;

		store_key(ts->work[w], key);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc)
			break;
		/* Collect first: the puts below must not move this cursor's page. */
		do {
			if (grow((void **)&ids, &cap, nids + 1, sizeof(*ids))) {
				free(ids);
				mdb_cursor_close(cur);
				return ENOMEM;
			}
			ids[nids++] = key_id(v.mv_data);
		} while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) == 0);
		store_key(ts->work[w], key);
		k.mv_size = 8;
		k.mv_data = key;
		if (mdb_del(ts->txn, s->dbi_deps, &k, NULL) == 0)
			s->edges -= s->edges >= nids ? nids : s->edges;
		for (size_t i = 0; i < nids; i++) {
			struct task_rec r;
			unsigned char *copy;
			uint64_t left;

			/* Only WAITING tasks are in the map.  A dependency that
			 * ended DONE just counts down: the record (which for a
			 * wide fan-in holds every dependency id) is read only
			 * when the count reaches zero, so a fan-in costs O(1)
			 * per dependency, not a copy of its record each time. */
			if (!deps_get(&s->waiting, ids[i], &left))
				continue;
			if (done_ok && left > 1) {
				deps_dec(&s->waiting, ids[i]);
				continue;
			}
			copy = get_rec(s, ts->txn, ids[i], &r, &rc);
			if (!copy)
				continue;
			if (r.state != TASK_WAITING) {
				free(copy);
				continue;
			}
			if (done_ok || (r.flags & TASK_F_AFTER_ANY)) {
				if (deps_dec(&s->waiting, ids[i]) > 0) {
					free(copy);
					continue;
				}
				deps_del(&s->waiting, ids[i]);
				r.state = (uint8_t)task_transition(TASK_WAITING, TEV_RELEASE);
				count_move(ts, TASK_WAITING, TASK_QUEUED);
				rc = add_pending(ts, ids[i], &r);
			} else {
				deps_del(&s->waiting, ids[i]);
				r.state = (uint8_t)task_transition(TASK_WAITING, TEV_CANCEL);
				r.reason = "dependency_failed";
				r.reason_len = 17;
				r.end_ns = ts->now_wall;
				count_move(ts, TASK_WAITING, TASK_CANCELLED);
				rc = grow((void **)&ts->work, &ts->cap_work, ts->nwork + 1, sizeof(uint64_t));
				if (!rc)
					ts->work[ts->nwork++] = ids[i];
			}
			if (!rc)
				rc = put_rec(s, ts, ids[i], &r, 0);
			free(copy);
			if (rc)
				break;
		}
		free(ids);
		if (rc)
			break;
		rc = 0;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static bool
retry_due(const struct task_rec *r, uint8_t outcome)
{
	unsigned allowed = r->retries;

	if (outcome == KERNEL_DONE || outcome == KERNEL_CANCELLED)
		return false;
	if (outcome == OUTCOME_LOST && allowed < 1)
		allowed = 1; /* a lost worker's task is retried once even without --retries */
	return r->attempts + 1u <= allowed;
}

static enum task_event
outcome_event(uint8_t outcome)
{
	switch (outcome) {
	case KERNEL_DONE:
		return TEV_DONE;
	case KERNEL_FAILED:
		return TEV_FAIL;
	case KERNEL_TIMEOUT:
		return TEV_TIMEOUT;
	case KERNEL_CANCELLED:
		return TEV_CANCEL;
	default:
		return TEV_LOST;
	}
}

static uint64_t
retry_delay_ns(const struct task_rec *r)
{
	uint64_t d = (uint64_t)r->retry_delay_ms * 1000000u;
	unsigned shift = r->attempts > 1 ? r->attempts - 1u : 0;

	if (!d)
		return 0;
	for (unsigned i = 0; i < shift && d < STORE_RETRY_CAP; i++)
		d *= 2;
	if (d > STORE_RETRY_CAP)
		d = STORE_RETRY_CAP;
	/* +-10 % jitter, so that retries of a burst do not all collide */
	uint64_t j = d / 10;
	if (j)
		d = d - j + (uint64_t)((sys_now_ns() ^ (uint64_t)r->submit_ns) % (2 * j + 1));
	return d;
}

/*
 * Read STATE/results/ID.ATTEMPT.EXT (at most @max bytes) into a malloc'd
 * buffer and remove the file.  NULL when absent, unreadable or too large.
 */
static void
drop_result_files(struct store *s, uint64_t id, uint32_t attempt, const struct shm_comp *c)
{
	char path[4300];

	if (!c || !(c->flags & (SHM_C_RESULT_FILE | SHM_C_BYTES_FILE)))
		return;
	snprintf(path, sizeof(path), "%s/%llu.%u.json", s->res_dir, (unsigned long long)id, attempt);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%llu.%u.bin", s->res_dir, (unsigned long long)id, attempt);
	unlink(path);
}

static char *
take_result_file(struct store *s, uint64_t id, uint32_t attempt, const char *ext, size_t max, size_t *len)
{
	char path[4300];
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%llu.%u.%s", s->res_dir, (unsigned long long)id, attempt, ext);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size <= max && (buf = malloc((size_t)st.st_size + 1))) {
		n = pread(fd, buf, (size_t)st.st_size, 0);
		if (n != st.st_size) {
			free(buf);
			buf = NULL;
		} else {
			*len = (size_t)n;
		}
	}
	close(fd);
	unlink(path);
	return buf;
}

/*
 * Apply the end of an attempt to task @id.  @outcome is a kernel_outcome or
 * OUTCOME_LOST.  A stale report (attempt mismatch, not QUEUED) changes
 * nothing: every task reaches exactly one terminal state.
 */
static int
apply_end(struct store *s, struct txn_state *ts, uint64_t id, uint32_t attempt, uint8_t outcome,
	  const struct shm_comp *c, const char *reason, int32_t worker, int32_t cpu,
	  uint64_t start_ns, uint64_t end_ns)
{
	struct task_attempt a;
	struct task_rec r;
	unsigned char *copy;
	char *rfile = NULL;
	int next, rc;

	copy = get_rec_at(s, ts, id, &r, &rc);
	if (!copy) {
		drop_result_files(s, id, attempt, c);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	if (r.state == TASK_CANCELLED && r.attempts + 1u == attempt && r.reason_len == 9 &&
	    memcmp(r.reason, "cancelled", 9) == 0 && start_ns) {
		/* A running task that was cancelled: the record ended at the
		 * cancel; keep what the stopped attempt tells (once). */
		memset(&a, 0, sizeof(a));
		a.outcome = TASK_CANCELLED;
		a.worker = (int16_t)worker;
		a.cpu = cpu;
		a.exit_code = c ? c->exit_code : -1;
		a.term_signal = c ? c->term_signal : 0;
		a.start_ns = start_ns;
		a.end_ns = end_ns;
		a.reason_len = 9;
		memcpy(a.reason, "cancelled", 9);
		r.attempts++;
		r.start_ns = start_ns;
		r.worker = worker;
		r.cpu = cpu;
		r.exit_code = a.exit_code;
		r.term_signal = a.term_signal;
		r.user_us = c ? c->user_us : 0;
		r.sys_us = c ? c->sys_us : 0;
		r.maxrss_kb = c ? c->maxrss_kb : 0;
		if (!(rc = put_attempt(s, ts, id, attempt, &a)))
			rc = put_rec(s, ts, id, &r, 0);
		free(copy);
		return rc;
	}
	if (r.state != TASK_QUEUED || r.attempts + 1u != attempt) {
		free(copy);
		drop_result_files(s, id, attempt, c);
		return 0; /* stale or duplicate */
	}
	r.start_ns = start_ns;
	r.end_ns = end_ns;
	r.worker = worker;
	r.cpu = cpu;
	r.exit_code = c ? c->exit_code : -1;
	r.term_signal = c ? c->term_signal : 0;
	r.user_us = c ? c->user_us : 0;
	r.sys_us = c ? c->sys_us : 0;
	r.maxrss_kb = c ? c->maxrss_kb : 0;
	r.reason = reason;
	r.reason_len = (uint8_t)strnlen(reason, TASK_REASON_MAX);
	r.result = c ? c->result : NULL;
	r.result_len = c ? (c->result_len > SHM_RESULT_INLINE ? SHM_RESULT_INLINE : c->result_len) : 0;
	if (c && (c->flags & SHM_C_RESULT_FILE)) {
		size_t n = 0;

		rfile = take_result_file(s, id, attempt, "json", s->max_result, &n);
		r.result = rfile;
		r.result_len = rfile ? (uint32_t)n : 0;
	}
	if (c && (c->flags & SHM_C_BYTES_FILE)) {
		size_t n = 0;
		char *b = take_result_file(s, id, attempt, "bin", s->max_result, &n);

		if (b) {
			unsigned char key[8];
			MDB_val k = { 8, key }, v = { n, b };

			store_key(id, key);
			rc = mdb_put(ts->txn, s->dbi_bytes, &k, &v, 0);
			free(b);
			if (rc)
				goto out;
		}
	}
	memset(&a, 0, sizeof(a));
	a.worker = (int16_t)worker;
	a.cpu = cpu;
	a.exit_code = r.exit_code;
	a.term_signal = r.term_signal;
	a.start_ns = start_ns;
	a.end_ns = end_ns;
	a.reason_len = r.reason_len;
	memcpy(a.reason, reason, r.reason_len);
	if (retry_due(&r, outcome)) {
		uint64_t delay;

		a.outcome = TASK_QUEUED;
		next = task_transition(TASK_QUEUED, TEV_RETRY);
		r.attempts++;
		delay = retry_delay_ns(&r);
		if (delay) {
			if ((rc = grow((void **)&ts->delay, &ts->cap_delay, ts->ndelay + 1, sizeof(*ts->delay))))
				goto out;
			ts->delay[ts->ndelay].id = id;
			ts->delay[ts->ndelay].due_ns = sys_now_ns() + delay;
			ts->ndelay++;
		} else if ((rc = add_pending(ts, id, &r))) {
			goto out;
		}
	} else {
		next = task_transition(TASK_QUEUED, outcome_event(outcome));
		a.outcome = (uint8_t)next;
		r.attempts++;
		count_move(ts, TASK_QUEUED, next);
	}
	r.state = (uint8_t)next;
	/* The last attempt lives in the record itself; "attempts" keeps the
	 * ones before it (a retried attempt), so a task that ran once costs
	 * one write, not two. */
	if ((a.outcome == TASK_QUEUED && (rc = put_attempt(s, ts, id, attempt, &a))) ||
	    (rc = put_rec_at(s, ts, id, &r)))
		goto out;
	if (task_state_terminal((enum task_state)next) && s->edges)
		rc = release(s, ts, id, next == TASK_DONE);
out:
	free(rfile);
	free(copy);
	return rc;
}

/* ---- submissions ---- */

struct resolved {
	uint64_t *ids;               /* dependency ids */
	size_t n, cap;
};

static int
res_add(struct resolved *d, uint64_t id)
{
	if (grow((void **)&d->ids, &d->cap, d->n + 1, sizeof(uint64_t)))
		return ENOMEM;
	d->ids[d->n++] = id;
	return 0;
}

static void
req_fail(struct store_submit *req, enum forq_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
req_fail(struct store_submit *req, enum forq_err code, const char *fmt, ...)
{
	va_list ap;

	req->err = code;
	va_start(ap, fmt);
	vsnprintf(req->errmsg, sizeof(req->errmsg), fmt, ap);
	va_end(ap);
}

/* "tasks[3]: " for a batch, "" for a single task object. */
static const char *
where(const struct store_submit *req, size_t i, char *buf, size_t len)
{
	if (!req->batch.batch)
		return "";
	snprintf(buf, len, "tasks[%zu]: ", i);
	return buf;
}

/* Look @key up: its first id and count. */
static int
key_get(struct store *s, MDB_txn *txn, const char *key, size_t len, uint64_t *first, uint32_t *count)
{
	MDB_val k = { len, (void *)key }, v;
	int rc = mdb_get(txn, s->dbi_keys, &k, &v);

	if (rc)
		return rc;
	if (v.mv_size != 12)
		return MDB_CORRUPTED;
	*first = task_get_be(v.mv_data, 8);
	*count = (uint32_t)task_get_be((unsigned char *)v.mv_data + 8, 4);
	return 0;
}

/*
 * Apply one submission: check what only the store can check (existing
 * keys, that named tasks and keys exist), assign ids, write the records,
 * the dependency edges and the keys.  A refused submission writes nothing.
 */
static int
apply_submit(struct store *s, struct txn_state *ts, struct store_submit *req)
{
	struct proto_submit *b = &req->batch;
	uint64_t next = s->next_id;
	struct resolved dep = { 0 };
	char wb[32];
	int rc = 0;

	req->ntasks = b->n;
	req->task_ids = calloc(b->n, sizeof(*req->task_ids));
	req->existing = calloc(b->n, 1);
	if (!req->task_ids || !req->existing)
		return ENOMEM;
	/* 1: existing keys, and ids for the rest. */
	for (size_t i = 0; i < b->n; i++) {
		const struct proto_task *t = &b->tasks[i];
		uint64_t first;
		uint32_t count;

		if (t->key && (rc = key_get(s, ts->txn, t->key, t->key_len, &first, &count)) == 0) {
			req->existing[i] = 1;
			req->task_ids[i] = first;
			continue;
		}
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		rc = 0;
		req->task_ids[i] = next;
		next += t->array_n;
	}
	/* 2: every dependency names something that exists. */
	for (size_t i = 0; i < b->n; i++) {
		const struct proto_task *t = &b->tasks[i];

		if (req->existing[i])
			continue;
		for (uint32_t d = 0; d < t->ndeps; d++) {
			const struct proto_dep *pd = &t->deps[d];
			unsigned char key[8];
			MDB_val k = { 8, key }, v;
			uint64_t first;
			uint32_t count;

			if (pd->idx >= 0)
				continue;
			if (pd->key) {
				rc = key_get(s, ts->txn, pd->key, strlen(pd->key), &first, &count);
				if (rc == MDB_NOTFOUND) {
					req_fail(req, FORQ_EDEPENDENCY, "%sno task has key \"%.64s\"",
						 where(req, i, wb, sizeof(wb)), pd->key);
					return 0;
				}
				if (rc)
					return rc;
				continue;
			}
			store_key(pd->id, key);
			rc = mdb_get(ts->txn, s->dbi_tasks, &k, &v);
			if (rc == MDB_NOTFOUND) {
				req_fail(req, FORQ_EDEPENDENCY, "%sno task %llu to depend on",
					 where(req, i, wb, sizeof(wb)), (unsigned long long)pd->id);
				return 0;
			}
			if (rc)
				return rc;
		}
	}
	/* 3: write. */
	for (size_t i = 0; i < b->n; i++) {
		const struct proto_task *t = &b->tasks[i];
		uint64_t remaining = 0, id0 = req->task_ids[i];
		bool failed = false;
		uint8_t state;

		if (req->existing[i])
			continue;
		dep.n = 0;
		for (uint32_t d = 0; d < t->ndeps && !rc; d++) {
			const struct proto_dep *pd = &t->deps[d];
			uint64_t first = pd->id;
			uint32_t count = 1;

			if (pd->idx >= 0) {
				first = req->task_ids[pd->idx];
				count = b->tasks[pd->idx].array_n;
			} else if (pd->key) {
				rc = key_get(s, ts->txn, pd->key, strlen(pd->key), &first, &count);
			}
			for (uint32_t c = 0; c < count && !rc; c++)
				rc = res_add(&dep, first + c);
		}
		if (rc)
			break;
		if (dep.n > TASK_DEPS_MAX) {
			req_fail(req, FORQ_EDEPENDENCY, "%smore than %u dependencies", where(req, i, wb, sizeof(wb)),
				 TASK_DEPS_MAX);
			goto out;
		}
		/* The state of every dependency now: new ones are pending;
		 * ended ones count as met (DONE, or any with after_any) or
		 * failed. */
		for (size_t d = 0; d < dep.n; d++) {
			unsigned char key[8];
			MDB_val k = { 8, key }, v;
			struct task_rec dr;

			if (dep.ids[d] >= s->next_id) {
				remaining++;
				continue;
			}
			store_key(dep.ids[d], key);
			if (mdb_get(ts->txn, s->dbi_tasks, &k, &v) || task_unpack(v.mv_data, v.mv_size, &dr) < 0)
				continue;
			if (!task_state_terminal((enum task_state)dr.state))
				remaining++;
			else if (dr.state != TASK_DONE && !(t->flags & TASK_F_AFTER_ANY))
				failed = true;
		}
		state = failed ? TASK_CANCELLED : remaining ? TASK_WAITING : TASK_QUEUED;
		unsigned char *depbuf = NULL;
		if (dep.n) {
			depbuf = malloc(dep.n * 8);
			if (!depbuf) {
				rc = ENOMEM;
				break;
			}
			for (size_t d = 0; d < dep.n; d++)
				task_put_be(depbuf + d * 8, dep.ids[d], 8);
		}
		for (uint32_t e = 0; e < t->array_n && !rc; e++) {
			uint64_t id = id0 + e;
			struct task_rec r = {
				.state = state, .prio = t->prio, .flags = t->flags, .kernel = t->kernel,
				.retries = t->retries, .timeout_ms = t->timeout_ms,
				.retry_delay_ms = t->retry_delay_ms, .submit_ns = ts->now_wall,
				.worker = -1, .cpu = -1, .name = t->name, .name_len = t->name_len,
				.key = e == 0 ? t->key : NULL, .key_len = e == 0 ? t->key_len : 0,
				.ndeps = (uint32_t)dep.n, .deps = depbuf,
				.array_index = (t->flags & TASK_F_ARRAY) ? t->array_start + e * t->array_step : 0,
				.blob = t->blob, .blob_len = t->blob_len,
			};

			if (failed) {
				r.reason = "dependency_failed";
				r.reason_len = 17;
				r.end_ns = ts->now_wall;
			}
			rc = put_rec(s, ts, id, &r, MDB_APPEND);
			if (rc)
				break;
			ts->delta[state]++;
			if (failed)
				ts->ended++;
			ts->created++;
			if (state == TASK_QUEUED)
				rc = add_pending(ts, id, &r);
			else if (state == TASK_WAITING)
				rc = deps_set(&s->waiting, id, remaining) < 0 ? ENOMEM : 0;
			/* Edges from every unfinished dependency to this task. */
			for (size_t d = 0; d < dep.n && !rc && state == TASK_WAITING; d++) {
				unsigned char kb[8], vb[8];
				MDB_val k = { 8, kb }, v = { 8, vb };

				store_key(dep.ids[d], kb);
				store_key(id, vb);
				rc = mdb_put(ts->txn, s->dbi_deps, &k, &v, 0);
				s->edges++;
			}
		}
		free(depbuf);
		if (rc)
			break;
		if (t->key) {
			unsigned char vb[12];
			MDB_val k = { t->key_len, t->key }, v = { 12, vb };

			task_put_be(vb, id0, 8);
			task_put_be(vb + 8, t->array_n, 4);
			if ((rc = mdb_put(ts->txn, s->dbi_keys, &k, &v, MDB_NOOVERWRITE)))
				break;
		}
		if (!req->first)
			req->first = id0;
		req->last = id0 + t->array_n - 1;
		req->created += t->array_n;
	}
	if (!rc)
		s->next_id = next;
out:
	free(dep.ids);
	return rc;
}

/* ---- cancellation ---- */

static bool
task_running(struct store *s, uint64_t id)
{
	for (unsigned i = 0; i < s->shm->hdr->max_workers; i++)
		if (atomic_load_explicit(&shm_wblock(s->shm, i)->task_id, memory_order_seq_cst) == id)
			return true;
	return false;
}

static int
cancel_one(struct store *s, struct txn_state *ts, struct store_submit *req, uint64_t id,
	   struct task_rec *r)
{
	int from = r->state, rc;

	r->state = (uint8_t)task_transition((enum task_state)from, TEV_CANCEL);
	r->reason = "cancelled";
	r->reason_len = 9;
	r->end_ns = ts->now_wall;
	count_move(ts, from, TASK_CANCELLED);
	if (from == TASK_WAITING)
		deps_del(&s->waiting, id);
	if ((rc = put_rec(s, ts, id, r, 0)))
		return rc;
	if (from == TASK_QUEUED) {
		if ((rc = grow((void **)&ts->cancel_q, &ts->cap_cancel_q, ts->ncancel_q + 1, sizeof(uint64_t))))
			return rc;
		ts->cancel_q[ts->ncancel_q++] = id;
	}
	if (!s->edges)
		goto out_counted;
	req->cancelled++;
	return release(s, ts, id, false);
out_counted:
	req->cancelled++;
	return 0;
}

struct cancel_scan {
	uint64_t *ids;
	size_t n, cap;
	int which;
	struct store *s;
};

static int
cancel_scan_fn(void *arg, uint64_t id, const struct task_rec *r)
{
	struct cancel_scan *c = arg;

	if (r->state == TASK_WAITING ? !(c->which & 2) :
	    r->state == TASK_QUEUED ? !(c->which & 1) || (c->which == 1 && task_running(c->s, id)) : true)
		return 0;
	if (grow((void **)&c->ids, &c->cap, c->n + 1, sizeof(uint64_t)))
		return -ENOMEM;
	c->ids[c->n++] = id;
	return 0;
}

static int
apply_cancel(struct store *s, struct txn_state *ts, struct store_submit *req)
{
	struct proto_cancel *c = &req->cancel;
	uint64_t *ids = c->ids;
	size_t n = c->n;
	struct cancel_scan sc = { .which = c->which, .s = s };
	int rc = 0;

	if (!ids) {
		/* A state filter: the matching tasks, from a snapshot. */
		rc = store_scan(s, 0, cancel_scan_fn, &sc);
		if (rc < 0) {
			free(sc.ids);
			return ENOMEM;
		}
		ids = sc.ids;
		n = sc.n;
	} else {
		/* Named tasks: all must exist and be unfinished, or nothing. */
		for (size_t i = 0; i < n; i++) {
			struct task_rec r;
			unsigned char *copy = get_rec(s, ts->txn, ids[i], &r, &rc);

			if (!copy && rc == MDB_NOTFOUND) {
				req_fail(req, FORQ_ENOTFOUND, "no task %llu", (unsigned long long)ids[i]);
				return 0;
			}
			if (!copy)
				return rc;
			if (task_state_terminal((enum task_state)r.state)) {
				req_fail(req, FORQ_EFINISHED, "task %llu has already finished (%s)",
					 (unsigned long long)ids[i], task_state_name(r.state));
				free(copy);
				return 0;
			}
			free(copy);
		}
	}
	req->cancelled_ids = malloc(sizeof(uint64_t) * (n < STORE_CANCEL_IDS ? (n ? n : 1) : STORE_CANCEL_IDS));
	if (!req->cancelled_ids) {
		free(sc.ids);
		return ENOMEM;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct task_rec r;
		unsigned char *copy = get_rec(s, ts->txn, ids[i], &r, &rc);

		if (!copy) {
			if (rc == MDB_NOTFOUND)
				rc = 0;
			continue;
		}
		/* A task cancelled earlier in this loop (a dependent) is skipped. */
		if (!task_state_terminal((enum task_state)r.state)) {
			if (req->ncancelled_ids < STORE_CANCEL_IDS)
				req->cancelled_ids[req->ncancelled_ids++] = ids[i];
			rc = cancel_one(s, ts, req, ids[i], &r);
		}
		free(copy);
	}
	free(sc.ids);
	return rc;
}

/* After the commit: mark cancelled QUEUED tasks in the rings and in the
 * workers running them (see "Cancelling a task in a ring" above). */
static void
cancel_marks(struct store *s, const uint64_t *ids, size_t n)
{
	struct shm_hdr *h = s->shm->hdr;
	struct deps_map set = { 0 };
	bool use_set = n > 8;

	if (!n)
		return;
	/* Many ids: one pass over each ring's window with a set of them;
	 * few: a pass per id.  (A set that cannot be built falls back.) */
	for (size_t i = 0; use_set && i < n; i++)
		if (deps_set(&set, ids[i], 1) < 0)
			use_set = false;
	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		struct ring *ring = shm_ring(s->shm, p);
		/* relaxed: the window only has to cover every position a
		 * worker may have popped without publishing its task yet (at
		 * most one per worker below head) and everything still in the
		 * ring; marking more is harmless (a mark names its position). */
		uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
		uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
		uint64_t from = head > h->max_workers + 2 ? head - h->max_workers - 2 : 0;

		if (!s->pushed_id[p])
			continue;
		if (from + h->ring_capacity < tail)
			from = tail - h->ring_capacity;
		for (uint64_t pos = from; pos < tail; pos++) {
			uint64_t id = s->pushed_id[p][pos & (h->ring_capacity - 1)], one;
			bool hit = false;

			if (!id)
				continue; /* pushed by a previous forqd: not ours to know */
			if (use_set)
				hit = deps_get(&set, id, &one);
			else
				for (size_t i = 0; i < n && !hit; i++)
					hit = ids[i] == id;
			if (hit)
				/* seq_cst: the Dekker half against the worker's
				 * task_id publication (worker.c). */
				atomic_store_explicit(shm_cancel_mark(s->shm, p, pos), pos,
						      memory_order_seq_cst);
		}
	}
	for (unsigned w = 0; w < h->max_workers; w++) {
		struct wblock *wb = shm_wblock(s->shm, w);
		uint64_t id = atomic_load_explicit(&wb->task_id, memory_order_seq_cst), one;
		bool hit = false;

		if (!id)
			continue;
		if (use_set)
			hit = deps_get(&set, id, &one);
		else
			for (size_t i = 0; i < n && !hit; i++)
				hit = ids[i] == id;
		if (hit)
			atomic_store_explicit(&wb->cancel_task, id, memory_order_seq_cst);
	}
	deps_free(&set);
}

/* ---- dispatch ---- */

static void
make_slot(struct shm_task *t, const struct pending *p)
{
	memset(t, 0, sizeof(*t));
	t->id = p->id;
	t->attempt = p->attempt;
	t->kernel = p->kernel;
	t->prio = p->prio;
	t->timeout_ms = p->timeout_ms;
	t->blob_len = p->blob_len;
	t->array_index = p->array_index;
	t->flags = p->flags;
	if (p->blob_len <= SHM_INLINE_BLOB) {
		t->flags |= SHM_T_INLINE;
		if (p->blob_len)
			memcpy(t->blob, p->blob, p->blob_len);
	}
}

static bool
push(struct store *s, const struct shm_task *t)
{
	unsigned char payload[48];
	uint64_t pos;
	unsigned p = t->prio;

	shm_task_pack(t, payload);
	if (!ring_try_push_at(shm_ring(s->shm, p), 0, payload, sizeof(payload), &pos))
		return false;
	if (s->pushed_id[p]) {
		uint64_t i = pos & (s->shm->hdr->ring_capacity - 1);

		s->pushed_id[p][i] = t->id;
		s->pushed_ns[p][i] = sys_now_ns();
	}
	return true;
}

/*
 * Push one task into its ring unless its backlog is non-empty (FIFO within
 * a priority) or the ring is full; else append its id to the backlog.
 * Returns 1 when pushed into the ring.
 */
static int
dispatch(struct store *s, const struct pending *pd)
{
	struct shm_task t;

	make_slot(&t, pd);
	if (backlog_len(&s->backlog[t.prio]) == 0 && push(s, &t))
		return 1;
	if (backlog_push(&s->backlog[t.prio], t.id) < 0)
		log_error("store: out of memory for the backlog; task %llu stays queued until restart",
			  (unsigned long long)t.id);
	else
		atomic_fetch_add_explicit(&s->backlog_len, 1, memory_order_relaxed);
	return 0;
}

/* Refill the rings from the backlogs.  Returns tasks pushed. */
static int
refill(struct store *s)
{
	MDB_txn *txn = NULL;
	int pushed = 0;

	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		struct backlog_q *q = &s->backlog[p];
		struct ring *ring = shm_ring(s->shm, p);
		uint64_t id;

		while (backlog_peek(q, &id)) {
			unsigned char key[8];
			MDB_val k = { 8, key }, v;
			struct task_rec r;
			struct pending pd;
			struct shm_task t;

			if (ring_count(ring) >= s->shm->hdr->ring_capacity)
				break;
			if (!txn && mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
				return pushed;
			store_key(id, key);
			if (mdb_get(txn, s->dbi_tasks, &k, &v) || task_unpack(v.mv_data, v.mv_size, &r) < 0 ||
			    r.state != TASK_QUEUED) {
				backlog_pop(q); /* gone or no longer queued */
				atomic_fetch_sub_explicit(&s->backlog_len, 1, memory_order_relaxed);
				continue;
			}
			struct txn_state one = { 0 };
			one.pend = &pd;
			one.cap_pend = 1;
			add_pending(&one, id, &r);
			make_slot(&t, &pd);
			if (!push(s, &t))
				break;
			backlog_pop(q);
			atomic_fetch_sub_explicit(&s->backlog_len, 1, memory_order_relaxed);
			pushed++;
		}
	}
	if (txn)
		mdb_txn_abort(txn);
	return pushed;
}

/* Delayed retries whose time came: into the backlog of their priority. */
static void
delay_push(struct store *s, uint64_t id, uint64_t due)
{
	size_t i;

	if (grow((void **)&s->delayed, &s->cap_delayed, s->ndelayed + 1, sizeof(*s->delayed))) {
		log_error("store: out of memory for a delayed retry; task %llu runs at once",
			  (unsigned long long)id);
		due = 0;
		if (!s->cap_delayed)
			return;
	}
	i = s->ndelayed++;
	s->delayed[i].id = id;
	s->delayed[i].due_ns = due;
	while (i && s->delayed[(i - 1) / 2].due_ns > s->delayed[i].due_ns) {
		struct store_delay t = s->delayed[i];

		s->delayed[i] = s->delayed[(i - 1) / 2];
		s->delayed[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static void
delay_pop(struct store *s)
{
	size_t i = 0;

	s->delayed[0] = s->delayed[--s->ndelayed];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->ndelayed && s->delayed[l].due_ns < s->delayed[m].due_ns)
			m = l;
		if (r < s->ndelayed && s->delayed[r].due_ns < s->delayed[m].due_ns)
			m = r;
		if (m == i)
			break;
		struct store_delay t = s->delayed[i];
		s->delayed[i] = s->delayed[m];
		s->delayed[m] = t;
		i = m;
	}
}

/* Move due retries to the backlogs (refill pushes them).  Returns moved. */
static int
delay_due(struct store *s, uint64_t now)
{
	MDB_txn *txn = NULL;
	int moved = 0;

	while (s->ndelayed && s->delayed[0].due_ns <= now) {
		uint64_t id = s->delayed[0].id;
		unsigned char key[8];
		MDB_val k = { 8, key }, v;
		struct task_rec r;

		delay_pop(s);
		if (!txn && mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))
			break;
		store_key(id, key);
		if (mdb_get(txn, s->dbi_tasks, &k, &v) || task_unpack(v.mv_data, v.mv_size, &r) < 0 ||
		    r.state != TASK_QUEUED)
			continue;
		if (backlog_push(&s->backlog[r.prio], id) == 0) {
			atomic_fetch_add_explicit(&s->backlog_len, 1, memory_order_relaxed);
			moved++;
		}
	}
	if (txn)
		mdb_txn_abort(txn);
	return moved;
}

/* Aging: publish each ring's effective priority from its head's age. */
static void
age(struct store *s, uint64_t now)
{
	struct shm_hdr *h = s->shm->hdr;

	if (!s->aging_ns || now < s->aging_next_ns)
		return;
	s->aging_next_ns = now + s->aging_ns / 4;
	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		struct ring *ring = shm_ring(s->shm, p);
		uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
		uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
		int64_t eff = p;

		if (head < tail) {
			uint64_t waited = now - s->pushed_ns[p][head & (h->ring_capacity - 1)];

			/* Not clamped at 0: a task that waited longer beats a
			 * priority-0 head that waited less, so nothing starves. */
			eff = (int64_t)p - (int64_t)(waited / s->aging_ns);
			if (eff < -SHM_EFF_BIAS)
				eff = -SHM_EFF_BIAS;
		}
		/* relaxed: a scheduling hint read by workers; no data rides on it */
		atomic_store_explicit(&h->eff_prio[p], (uint8_t)(eff + SHM_EFF_BIAS), memory_order_relaxed);
	}
}

static void
notify(struct store *s)
{
	uint64_t one = 1;

	if (s->notify_fd >= 0 && write(s->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("store: eventfd write: %s", strerror(errno));
}

static void
reply_all(struct store *s, struct store_submit *head, struct store_submit *tail)
{
	if (!head)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->done_tail)
		s->done_tail->next = head;
	else
		s->done_head = head;
	s->done_tail = tail;
	pthread_mutex_unlock(&s->lock);
}

static uint64_t
sleep_ns(struct store *s, uint64_t now)
{
	/* Doorbell-driven; the timeout is only a safety net, so an idle
	 * store thread wakes once a second. */
	uint64_t t = 1000000000ull;

	if (s->deferred)
		t = 1000000ull;
	if (s->ndelayed && s->delayed[0].due_ns > now && s->delayed[0].due_ns - now < t)
		t = s->delayed[0].due_ns - now;
	if (s->aging_ns && s->aging_ns / 4 < t)
		t = s->aging_ns / 4 ? s->aging_ns / 4 : 1000000ull;
	return t ? t : 1000000ull;
}

static void *
store_main(void *arg)
{
	struct store *s = arg;
	struct ring *comp = shm_comp_ring(s->shm);
	struct shm_comp *comps = malloc(sizeof(*comps) * 1024);
	struct txn_state ts = { 0 };
	size_t comp_cap = 1024;
	unsigned char slot[SHM_COMP_SLOT];
	uint64_t last_work = 0;
	struct spin_credit spin = SPIN_CREDIT_INIT;

	if (!comps) {
		log_error("store: out of memory");
		return NULL;
	}
	for (;;) {
		struct store_submit *reqs, *req, *req_tail = NULL;
		struct store_lost *lost, *l, **lp;
		size_t ncomp = 0;
		uint64_t now = sys_now_ns();
		bool stopping = atomic_load_explicit(&s->stop, memory_order_acquire);
		int rc = 0, pushed = 0;

		pthread_mutex_lock(&s->lock);
		reqs = s->in_head;
		s->in_head = s->in_tail = NULL;
		lost = s->lost_head;
		s->lost_head = s->lost_tail = NULL;
		atomic_store_explicit(&s->has_input, false, memory_order_relaxed);
		pthread_mutex_unlock(&s->lock);
		/* Controls still waiting for their completions go first. */
		if (s->deferred) {
			l = s->deferred;
			while (l->next)
				l = l->next;
			l->next = lost;
			lost = s->deferred;
			s->deferred = NULL;
		}
		while (ncomp < STORE_DRAIN_MAX) {
			uint32_t len;

			if (ncomp == comp_cap) {
				struct shm_comp *n = realloc(comps, sizeof(*comps) * comp_cap * 2);

				if (!n)
					break;
				comps = n;
				comp_cap *= 2;
			}
			len = ring_try_pop(comp, 0, slot);
			if (!len)
				break;
			memcpy(&comps[ncomp], slot, sizeof(comps[0]) < len ? sizeof(comps[0]) : len);
			ncomp++;
		}
		/* Split off the loss reports whose completions may not be drained yet. */
		lp = &lost;
		while ((l = *lp)) {
			/* acquire: a stale head merely defers the report */
			uint64_t head = atomic_load_explicit(&comp->head, memory_order_acquire);

			if (head < l->comp_tail) {
				*lp = l->next;
				l->next = s->deferred;
				s->deferred = l;
			} else {
				lp = &l->next;
			}
		}
		age(s, now);
		if (!reqs && !ncomp && !lost) {
			delay_due(s, now);
			pushed = refill(s);
			if (pushed) {
				doorbell_ring(&s->shm->hdr->work_bell, pushed);
				continue;
			}
			if (stopping)
				break;
			/* Spin a little after work before sleeping: what comes
			 * next (a completion, a submit) then costs no wake-up. */
			if (now - last_work < STORE_SPIN_NS && spin_allowed(&spin)) {
				/* sched_yield: on a machine with fewer cores than
				 * runnable threads, a spinner must not keep the
				 * thread it waits for off the CPU. */
				while (sys_now_ns() - last_work < STORE_SPIN_NS &&
				       !atomic_load_explicit(&s->has_input, memory_order_relaxed) &&
				       ring_empty(comp) && !atomic_load_explicit(&s->stop, memory_order_relaxed))
					sched_yield();
				spin_result(&spin, sys_now_ns() - last_work < STORE_SPIN_NS);
				if (sys_now_ns() - last_work < STORE_SPIN_NS)
					continue;
			}
			uint32_t armed = doorbell_arm(&s->shm->hdr->store_bell);
			bool work;

			pthread_mutex_lock(&s->lock);
			work = s->in_head || s->lost_head;
			pthread_mutex_unlock(&s->lock);
			if (work || !ring_empty(comp) || atomic_load(&s->stop))
				doorbell_disarm(&s->shm->hdr->store_bell);
			else
				doorbell_sleep(&s->shm->hdr->store_bell, armed, sleep_ns(s, now));
			continue;
		}

		last_work = now;
		for (req = reqs; req; req = req->next)
			req_tail = req;
		memset(ts.delta, 0, sizeof(ts.delta));
		ts.ended = ts.created = 0;
		ts.npend = ts.ndelay = ts.ncancel_q = 0;
		ts.now_wall = sys_wall_ns();
		uint64_t next_id0 = s->next_id;
		rc = mdb_txn_begin(s->env, NULL, 0, &ts.txn);
		if (rc)
			goto out_fail;
		for (req = reqs; req; req = req->next) {
			req->err = 0;
			if (req->kind == STORE_CANCEL)
				rc = apply_cancel(s, &ts, req);
			else
				rc = apply_submit(s, &ts, req);
			if (rc)
				goto out_abort;
		}
		for (size_t i = 0; i < ncomp; i++) {
			const struct shm_comp *c = &comps[i];
			char reason[sizeof(c->reason) + 1];

			memcpy(reason, c->reason, sizeof(c->reason));
			reason[sizeof(c->reason)] = '\0';
			rc = apply_end(s, &ts, c->id, c->attempt, c->outcome, c, reason, c->worker,
				       c->cpu, c->start_wall_ns, c->end_wall_ns);
			if (rc)
				goto out_abort;
		}
		for (l = lost; l; l = l->next) {
			uint8_t o = l->outcome == KERNEL_TIMEOUT ? KERNEL_TIMEOUT :
				    l->outcome == KERNEL_CANCELLED ? KERNEL_CANCELLED : OUTCOME_LOST;
			const char *why = o == KERNEL_TIMEOUT ? "timeout" : o == KERNEL_CANCELLED ? "cancelled" :
					  l->outcome == KERNEL_FAILED ? "hung" : "worker_lost";

			rc = apply_end(s, &ts, l->id, l->attempt, o, NULL, why, l->worker, l->cpu,
				       l->start_wall_ns, ts.now_wall);
			if (rc)
				goto out_abort;
		}
		if (s->next_id != next_id0) {
			unsigned char v8[8];
			MDB_val k = { 7, "next_id" }, v = { 8, v8 };

			task_put_be(v8, s->next_id, 8);
			if ((rc = mdb_put(ts.txn, s->dbi_meta, &k, &v, 0)))
				goto out_abort;
		}
		rc = mdb_txn_commit(ts.txn); /* closes ts.cur (a write txn's cursors go with it) */
		ts.txn = NULL;
		ts.cur = NULL;
		if (rc)
			goto out_fail;
		atomic_fetch_add_explicit(&s->commits, 1, memory_order_relaxed);

		/* Durable: counts, answers, then dispatch (invariants 1 and 2). */
		for (unsigned st = 0; st < TASK_STATE__COUNT; st++)
			if (ts.delta[st])
				atomic_fetch_add_explicit(&s->count[st], (uint64_t)ts.delta[st], memory_order_relaxed);
		atomic_fetch_add_explicit(&s->submitted, ts.created, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->finished, ts.ended, memory_order_relaxed);
		if (s->next_id != next_id0)
			atomic_store_explicit(&s->last_id, s->next_id - 1, memory_order_relaxed);
		cancel_marks(s, ts.cancel_q, ts.ncancel_q);
		for (req = reqs; req; req = req->next) {
			proto_submit_free(&req->batch);
			free(req->cancel.ids);
			req->cancel.ids = NULL;
		}
		reply_all(s, reqs, req_tail);
		for (size_t i = 0; i < ts.npend; i++)
			pushed += dispatch(s, &ts.pend[i]);
		for (size_t i = 0; i < ts.ndelay; i++)
			delay_push(s, ts.delay[i].id, ts.delay[i].due_ns);
		delay_due(s, sys_now_ns());
		pushed += refill(s);
		if (pushed)
			doorbell_ring(&s->shm->hdr->work_bell, pushed);
		/* R4: release so a reader of generation sees the counts above. */
		atomic_fetch_add_explicit(&s->generation, 1, memory_order_release);
		while (lost) {
			l = lost;
			lost = l->next;
			free(l);
		}
		if (ts.created > 65536 || ts.ended > 65536)
			malloc_trim(0); /* give a big batch's memory back */
		notify(s);
		continue;

out_abort:
		mdb_txn_abort(ts.txn);
		ts.txn = NULL;
		ts.cur = NULL;
out_fail:
		log_error("store: write transaction failed: %s", mdb_strerror(rc));
		/* Nothing of the transaction happened: undo what the loop did
		 * in memory (ids, waiting counters are rebuilt at restart). */
		s->next_id = next_id0;
		for (req = reqs; req; req = req->next) {
			req->err = FORQ_EINTERNAL;
			snprintf(req->errmsg, sizeof(req->errmsg), "the store could not commit: %s",
				 mdb_strerror(rc));
			proto_submit_free(&req->batch);
		}
		reply_all(s, reqs, req_tail);
		/* Loss reports are retried; completions of a failed transaction
		 * are gone from the ring: their tasks stay QUEUED and run again
		 * after a restart (at least once). */
		while (lost) {
			l = lost;
			lost = l->next;
			l->next = s->deferred;
			s->deferred = l;
		}
		notify(s);
		usleep(10000);
	}
	free(comps);
	free(ts.buf);
	free(ts.pend);
	free(ts.delay);
	free(ts.cancel_q);
	free(ts.work);
	return NULL;
}

int
store_start(struct store *s, struct shm *shm, int notify_fd)
{
	uint64_t cap = shm->hdr->ring_capacity;
	int rc;

	s->shm = shm;
	s->notify_fd = notify_fd;
	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		struct ring *r = shm_ring(shm, p);
		uint64_t head, tail, now = sys_now_ns();

		s->pushed_id[p] = calloc(cap, sizeof(uint64_t));
		s->pushed_ns[p] = calloc(cap, sizeof(uint64_t));
		if (!s->pushed_id[p] || !s->pushed_ns[p])
			return -ENOMEM;
		/* Tasks a previous forqd left in the ring (re-adoption): learn
		 * where they are, so that a cancel can mark them too.  Nobody
		 * else produces into the rings, so these slots stay as they
		 * are until they are popped. */
		head = atomic_load_explicit(&r->head, memory_order_acquire);
		tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		for (uint64_t pos = head; pos < tail && pos - head < cap; pos++) {
			struct ring_slot *sl = (struct ring_slot *)(r->slots + (pos & r->mask) * r->slot_size);
			struct shm_task t;

			shm_task_unpack(sl->payload, &t);
			s->pushed_id[p][pos & (cap - 1)] = t.id;
			s->pushed_ns[p][pos & (cap - 1)] = now;
		}
	}
	rc = pthread_create(&s->thread, NULL, store_main, s);
	if (rc)
		return -rc;
	s->started = true;
	return 0;
}

void
store_stop(struct store *s)
{
	if (!s->started)
		return;
	atomic_store_explicit(&s->stop, true, memory_order_release);
	doorbell_wake_all(&s->shm->hdr->store_bell);
	pthread_join(s->thread, NULL);
	s->started = false;
}
