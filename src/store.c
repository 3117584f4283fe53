/*
 * store — LMDB and the store thread (see store.h for the design).
 *
 * LMDB return codes stay inside this file: every public function returns 0
 * or -errno.  Only the store thread opens write transactions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "kernel.h"
#include "log.h"
#include "paths.h"
#include "store.h"
#include "sys.h"

#define STORE_MAP_SIZE   (64ull << 30)   /* address space, not disk */
#define STORE_DRAIN_MAX  65536           /* completions per transaction */

void
store_key(uint64_t id, unsigned char key[8])
{
	task_put_be(key, id, 8);
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
	mdb_env_set_maxdbs(s->env, 4);
	mdb_env_set_maxreaders(s->env, 1024);
	mdb_env_set_mapsize(s->env, STORE_MAP_SIZE);
	if ((rc = mdb_env_open(s->env, dir, flags, 0600)))
		goto out_env;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		goto out_env;
	if ((rc = mdb_dbi_open(txn, "tasks", MDB_CREATE, &s->dbi_tasks)) ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta))) {
		mdb_txn_abort(txn);
		goto out_env;
	}
	s->next_id = 1;
	k.mv_data = "next_id";
	k.mv_size = 7;
	if (mdb_get(txn, s->dbi_meta, &k, &v) == 0 && v.mv_size == 8)
		s->next_id = task_get_be(v.mv_data, 8);
	/* Recover the counts and the queue from the records. */
	if ((rc = mdb_cursor_open(txn, s->dbi_tasks, &cur))) {
		mdb_txn_abort(txn);
		goto out_env;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		struct task_rec r;
		uint64_t id;

		if (k.mv_size != 8 || task_unpack(v.mv_data, v.mv_size, &r) < 0) {
			log_warn("store: skipping an unreadable record");
			continue;
		}
		id = task_get_be(k.mv_data, 8);
		if (id >= s->next_id)
			s->next_id = id + 1;
		atomic_fetch_add_explicit(&s->count[r.state], 1, memory_order_relaxed);
		if (r.state == TASK_QUEUED && backlog_push(&s->backlog[r.prio], id) < 0) {
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

void
store_close(struct store *s)
{
	if (s->env)
		mdb_env_close(s->env);
	s->env = NULL;
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		backlog_free(&s->backlog[p]);
	while (s->deferred) {
		struct store_lost *l = s->deferred;

		s->deferred = l->next;
		free(l);
	}
	pthread_mutex_destroy(&s->lock);
}

void
store_submit(struct store *s, struct store_submit *sub)
{
	sub->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->in_tail)
		s->in_tail->next = sub;
	else
		s->in_head = sub;
	s->in_tail = sub;
	pthread_mutex_unlock(&s->lock);
	doorbell_ring(&s->shm->hdr->store_bell, 1);
}

void
store_report_lost(struct store *s, struct store_lost *l)
{
	l->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->lost_tail)
		s->lost_tail->next = l;
	else
		s->lost_head = l;
	s->lost_tail = l;
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
		ret = fn(ctx, task_get_be(k.mv_data, 8), &r);
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

/* The slot for a task about to be dispatched. */
static void
make_slot(struct shm_task *t, uint64_t id, uint32_t attempt, uint16_t kernel, uint8_t prio,
	  uint32_t timeout_ms, const unsigned char *blob, uint32_t blob_len)
{
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->attempt = attempt;
	t->kernel = kernel;
	t->prio = prio;
	t->timeout_ms = timeout_ms;
	t->blob_len = blob_len;
	if (blob_len <= SHM_INLINE_BLOB) {
		t->inl = 1;
		if (blob_len)
			memcpy(t->blob, blob, blob_len);
	}
}

/*
 * Push one task into its ring unless its backlog is non-empty (FIFO within
 * a priority) or the ring is full; else append its id to the backlog.
 * Returns 1 when pushed into the ring.
 */
static int
dispatch(struct store *s, const struct shm_task *t)
{
	unsigned char payload[48];

	if (backlog_len(&s->backlog[t->prio]) == 0) {
		shm_task_pack(t, payload);
		if (ring_try_push(shm_ring(s->shm, t->prio), 0, payload, sizeof(payload)))
			return 1;
	}
	if (backlog_push(&s->backlog[t->prio], t->id) < 0)
		log_error("store: out of memory for the backlog; task %llu stays queued until restart",
			  (unsigned long long)t->id);
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
			unsigned char key[8], payload[48];
			MDB_val k = { 8, key }, v;
			struct task_rec r;
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
			make_slot(&t, id, r.attempts + 1u, r.kernel, r.prio, r.timeout_ms, r.blob, r.blob_len);
			shm_task_pack(&t, payload);
			if (!ring_try_push(ring, 0, payload, sizeof(payload)))
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

struct pending_retry {
	uint64_t id;
	uint32_t attempt;
	uint16_t kernel;
	uint8_t prio;
	uint32_t timeout_ms;
	uint32_t blob_len;
	unsigned char blob[SHM_INLINE_BLOB];
};

struct txn_state {
	MDB_txn *txn;
	unsigned char *buf;          /* scratch for packing */
	size_t buf_cap;
	struct pending_retry *retries; /* tasks to re-dispatch after commit */
	size_t n_retries, cap_retries;
	uint64_t ended;              /* tasks that reached a terminal state */
	uint64_t ended_by[TASK_STATE__COUNT];
};

static int
scratch(struct txn_state *ts, size_t need)
{
	if (need <= ts->buf_cap)
		return 0;
	unsigned char *n = realloc(ts->buf, need);
	if (!n)
		return -ENOMEM;
	ts->buf = n;
	ts->buf_cap = need;
	return 0;
}

static int
put_rec(struct store *s, struct txn_state *ts, uint64_t id, const struct task_rec *r, unsigned flags)
{
	unsigned char key[8];
	size_t n = task_packed_size(r);
	MDB_val k = { 8, key }, v;
	int rc;

	if (scratch(ts, n) < 0)
		return ENOMEM;
	task_pack(r, ts->buf);
	store_key(id, key);
	v.mv_size = n;
	v.mv_data = ts->buf;
	rc = mdb_put(ts->txn, s->dbi_tasks, &k, &v, flags);
	return rc;
}

static int
apply_submit(struct store *s, struct txn_state *ts, struct store_submit *sub, uint64_t now)
{
	uint64_t id = s->next_id;

	for (size_t i = 0; i < sub->batch.n; i++) {
		const struct proto_task *t = &sub->batch.tasks[i];
		struct task_rec r = {
			.state = TASK_QUEUED, .prio = t->prio, .kernel = t->kernel,
			.retries = t->retries, .timeout_ms = t->timeout_ms, .submit_ns = now,
			.worker = -1, .cpu = -1, .name = t->name, .name_len = t->name_len,
			.blob = t->blob, .blob_len = t->blob_len,
		};
		int rc = put_rec(s, ts, id + i, &r, MDB_APPEND);

		if (rc)
			return rc;
	}
	sub->first = id;
	sub->last = id + sub->batch.n - 1;
	s->next_id = id + sub->batch.n;
	return 0;
}

static bool
retry_due(const struct task_rec *r, uint8_t outcome)
{
	unsigned allowed = r->retries;

	if (outcome == KERNEL_DONE || outcome == KERNEL_CANCELLED)
		return false;
	if (outcome == 0xff /* lost */ && allowed < 1)
		allowed = 1; /* a lost worker is retried once even without --retries */
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

/*
 * Apply the end of an attempt to task @id.  @outcome is a kernel_outcome or
 * 0xff for a lost worker.  A stale report (attempt mismatch, already
 * terminal) changes nothing.
 */
static int
apply_end(struct store *s, struct txn_state *ts, uint64_t id, uint32_t attempt, uint8_t outcome,
	  const struct shm_comp *c, const char *reason, int32_t worker, int32_t cpu,
	  uint64_t start_ns, uint64_t end_ns)
{
	unsigned char key[8];
	MDB_val k = { 8, key }, v;
	struct task_rec r;
	unsigned char *copy;
	int next, rc;

	store_key(id, key);
	rc = mdb_get(ts->txn, s->dbi_tasks, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	/* The record's pointers borrow from the page; copy it first since
	 * put_rec below rewrites that page. */
	copy = malloc(v.mv_size);
	if (!copy)
		return ENOMEM;
	memcpy(copy, v.mv_data, v.mv_size);
	if (task_unpack(copy, v.mv_size, &r) < 0 || r.state != TASK_QUEUED ||
	    r.attempts + 1u != attempt) {
		free(copy);
		return 0; /* stale or duplicate: exactly one terminal state */
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
	r.result_len = c ? c->result_len : 0;
	if (retry_due(&r, outcome)) {
		next = task_transition(TASK_QUEUED, TEV_RETRY);
		r.attempts++;
		if (ts->n_retries == ts->cap_retries) {
			size_t nc = ts->cap_retries ? ts->cap_retries * 2 : 64;
			struct pending_retry *n = realloc(ts->retries, nc * sizeof(*n));

			if (!n) {
				free(copy);
				return ENOMEM;
			}
			ts->retries = n;
			ts->cap_retries = nc;
		}
		struct pending_retry *pr = &ts->retries[ts->n_retries++];
		pr->id = id;
		pr->attempt = r.attempts + 1u;
		pr->kernel = r.kernel;
		pr->prio = r.prio;
		pr->timeout_ms = r.timeout_ms;
		pr->blob_len = r.blob_len;
		if (r.blob_len <= SHM_INLINE_BLOB && r.blob_len)
			memcpy(pr->blob, r.blob, r.blob_len);
	} else {
		next = task_transition(TASK_QUEUED, outcome_event(outcome));
		r.attempts++;
		ts->ended++;
		ts->ended_by[next]++;
	}
	r.state = (uint8_t)next;
	rc = put_rec(s, ts, id, &r, 0);
	free(copy);
	return rc;
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

static void *
store_main(void *arg)
{
	struct store *s = arg;
	struct ring *comp = shm_comp_ring(s->shm);
	struct shm_comp *comps = malloc(sizeof(*comps) * 1024);
	struct txn_state ts = { 0 };
	size_t comp_cap = 1024;
	unsigned char slot[SHM_COMP_SLOT];

	if (!comps) {
		log_error("store: out of memory");
		return NULL;
	}
	for (;;) {
		struct store_submit *subs, *sub, *sub_tail = NULL;
		struct store_lost *lost, *l, **lp;
		size_t ncomp = 0;
		uint64_t now = sys_wall_ns(), tasks_in = 0;
		bool stopping = atomic_load_explicit(&s->stop, memory_order_acquire);
		int rc = 0, pushed = 0;

		pthread_mutex_lock(&s->lock);
		subs = s->in_head;
		s->in_head = s->in_tail = NULL;
		lost = s->lost_head;
		s->lost_head = s->lost_tail = NULL;
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
		/* Split off the controls whose completions may not be drained yet. */
		lp = &lost;
		while ((l = *lp)) {
			/* A2': pairs with the release in ring_try_pop's head update
			 * only for progress; a stale head merely defers. */
			uint64_t head = atomic_load_explicit(&comp->head, memory_order_acquire);

			if (head < l->comp_tail) {
				*lp = l->next;
				l->next = s->deferred;
				s->deferred = l;
			} else {
				lp = &l->next;
			}
		}
		if (!subs && !ncomp && !lost) {
			pushed = refill(s);
			if (pushed) {
				doorbell_ring(&s->shm->hdr->work_bell, pushed);
				continue;
			}
			if (stopping)
				break;
			uint32_t armed = doorbell_arm(&s->shm->hdr->store_bell);
			bool work;

			pthread_mutex_lock(&s->lock);
			work = s->in_head || s->lost_head;
			pthread_mutex_unlock(&s->lock);
			if (work || !ring_empty(comp) || atomic_load(&s->stop))
				doorbell_disarm(&s->shm->hdr->store_bell);
			else
				doorbell_sleep(&s->shm->hdr->store_bell, armed,
					       s->deferred ? 1000000ull : 100000000ull);
			continue;
		}

		for (sub = subs; sub; sub = sub->next)
			sub_tail = sub;
		memset(ts.ended_by, 0, sizeof(ts.ended_by));
		ts.ended = 0;
		ts.n_retries = 0;
		rc = mdb_txn_begin(s->env, NULL, 0, &ts.txn);
		if (rc)
			goto out_fail;
		for (sub = subs; sub; sub = sub->next) {
			sub->err = 0;
			rc = apply_submit(s, &ts, sub, now);
			if (rc)
				goto out_abort;
			tasks_in += sub->batch.n;
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
			bool timeout = l->outcome == KERNEL_TIMEOUT;

			rc = apply_end(s, &ts, l->id, l->attempt, timeout ? KERNEL_TIMEOUT : 0xff, NULL,
				       timeout ? "timeout" : "worker_lost", l->worker, l->cpu,
				       l->start_wall_ns, now);
			if (rc)
				goto out_abort;
		}
		if (tasks_in) {
			unsigned char v8[8];
			MDB_val k = { 7, "next_id" }, v = { 8, v8 };

			task_put_be(v8, s->next_id, 8);
			if ((rc = mdb_put(ts.txn, s->dbi_meta, &k, &v, 0)))
				goto out_abort;
		}
		rc = mdb_txn_commit(ts.txn);
		ts.txn = NULL;
		if (rc)
			goto out_fail;
		atomic_fetch_add_explicit(&s->commits, 1, memory_order_relaxed);

		/* Durable: answer, then dispatch (invariants 1 and 2). */
		reply_all(s, subs, sub_tail);
		atomic_fetch_add_explicit(&s->submitted, tasks_in, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->count[TASK_QUEUED], tasks_in, memory_order_relaxed);
		if (tasks_in)
			atomic_store_explicit(&s->last_id, s->next_id - 1, memory_order_relaxed);
		for (sub = subs; sub; sub = sub->next) {
			for (size_t i = 0; i < sub->batch.n; i++) {
				const struct proto_task *t = &sub->batch.tasks[i];
				struct shm_task st;

				make_slot(&st, sub->first + i, 1, t->kernel, t->prio, t->timeout_ms,
					  t->blob, t->blob_len);
				pushed += dispatch(s, &st);
			}
			proto_submit_free(&sub->batch);
		}
		for (size_t i = 0; i < ts.n_retries; i++) {
			const struct pending_retry *pr = &ts.retries[i];
			struct shm_task st;

			make_slot(&st, pr->id, pr->attempt, pr->kernel, pr->prio, pr->timeout_ms,
				  pr->blob, pr->blob_len);
			if (pr->blob_len > SHM_INLINE_BLOB)
				st.inl = 0;
			pushed += dispatch(s, &st);
		}
		pushed += refill(s);
		if (pushed)
			doorbell_ring(&s->shm->hdr->work_bell, pushed);
		if (ts.ended) {
			atomic_fetch_sub_explicit(&s->count[TASK_QUEUED], ts.ended, memory_order_relaxed);
			for (unsigned st = 0; st < TASK_STATE__COUNT; st++)
				if (ts.ended_by[st])
					atomic_fetch_add_explicit(&s->count[st], ts.ended_by[st],
								  memory_order_relaxed);
			atomic_fetch_add_explicit(&s->finished, ts.ended, memory_order_relaxed);
		}
		/* R4: release so a reader of generation sees the counts above. */
		atomic_fetch_add_explicit(&s->generation, 1, memory_order_release);
		while (lost) {
			l = lost;
			lost = l->next;
			free(l);
		}
		notify(s);
		continue;

out_abort:
		mdb_txn_abort(ts.txn);
		ts.txn = NULL;
out_fail:
		log_error("store: write transaction failed: %s", mdb_strerror(rc));
		for (sub = subs; sub; sub = sub->next) {
			sub->err = FORQ_EINTERNAL;
			proto_submit_free(&sub->batch);
		}
		reply_all(s, subs, sub_tail);
		/* Completions and controls of a failed transaction are retried:
		 * put the controls back; completions are lost from the ring, so
		 * their tasks stay QUEUED and run again after a restart. */
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
	free(ts.retries);
	return NULL;
}

int
store_start(struct store *s, struct shm *shm, int notify_fd)
{
	int rc;

	s->shm = shm;
	s->notify_fd = notify_fd;
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
