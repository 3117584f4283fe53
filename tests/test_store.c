/*
 * test_store — the store thread against a real LMDB environment (in a
 * mkdtemp directory) and a real shared segment: ack after commit, dispatch
 * into the ring of each task's priority, completions applied exactly once
 * (duplicates, wrong attempts and unknown ids change nothing), lost
 * workers retried once then LOST, timeouts, failures retried when asked,
 * a report of loss that races a completion, the backlog beyond ring
 * capacity refilled in id order, a restart that recovers the counts, the
 * next id, the queue and the waiting graph; cancels (ring marks, backlog,
 * worker blocks, all or nothing), dependencies, idempotency keys, arrays,
 * retry delays and the attempt history.
 *
 * The test's main thread plays the event thread (store_submit,
 * store_take_done on the eventfd) and the workers (ring_try_pop as owner
 * 1, completions pushed into the completion ring, the store doorbell
 * rung).  Every wait is bounded (WAIT_NS) and fails with what it waited
 * for.  Submissions are built through proto_parse_request and
 * proto_parse_submit, so their blobs are real.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kernel.h"
#include "proto.h"
#include "store.h"
#include "sys.h"

#define WAIT_NS (5ull * 1000000000u)

/* Spin (with short sleeps) until @cond holds; fail after WAIT_NS. */
#define WAIT_UNTIL(cond, ...)                                                  \
	do {                                                                   \
		uint64_t end_ = sys_now_ns() + WAIT_NS;                        \
		while (!(cond)) {                                              \
			if (sys_now_ns() > end_)                               \
				fail_msg("timed out waiting: " __VA_ARGS__);   \
			usleep(500);                                           \
		}                                                              \
	} while (0)

/* A record read back through store_get, copied out of the transaction. */
struct rec {
	struct task_rec r;
	char reason[TASK_REASON_MAX + 1];
	char name[TASK_NAME_MAX + 1];
	unsigned char blob[4096];
	char result[1024];
	size_t packed_len;
	unsigned char packed[8192];
};

struct env {
	char root[64];           /* mkdtemp directory */
	char db[96];             /* root/db, created by store_open */
	char shm_name[64];
	uint64_t ring_cap;
	struct shm shm;
	struct store st;
	bool opened;
	int efd;                 /* the store's notify eventfd */
	struct rec rec[3];       /* scratch records (freed with the env) */
};

static unsigned env_seq;

/* The store's figure of tasks in state @s (relaxed: a snapshot). */
static uint64_t
count_of(struct env *e, int s)
{
	return atomic_load_explicit(&e->st.count[s], memory_order_relaxed);
}

/* ---- fixture --------------------------------------------------------- */

static void
env_open(struct env *e, bool nosync)
{
	char err[256] = "";
	int rc = store_open(&e->st, e->db, nosync, err, sizeof(err));

	if (rc)
		fail_msg("store_open(%s): %d %s", e->db, rc, err);
	e->opened = true;
}

static void
env_start(struct env *e)
{
	assert_int_equal(store_start(&e->st, &e->shm, e->efd), 0);
}

static void
env_close(struct env *e)
{
	if (!e->opened)
		return;
	store_stop(&e->st);
	store_close(&e->st);
	e->opened = false;
}

/* A fresh segment under the same name (a restarted forqd). */
static void
env_new_shm(struct env *e)
{
	if (e->shm.hdr)
		shm_destroy(&e->shm);
	assert_int_equal(shm_create(&e->shm, e->shm_name, e->ring_cap, 4), 0);
}

static int
env_setup(void **state, uint64_t ring_cap)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->ring_cap = ring_cap;
	snprintf(e->root, sizeof(e->root), "/tmp/forq-test-store.XXXXXX");
	if (!mkdtemp(e->root))
		return -1;
	snprintf(e->db, sizeof(e->db), "%s/db", e->root);
	snprintf(e->shm_name, sizeof(e->shm_name), "/forq.test.%d.%u", (int)getpid(), env_seq++);
	if (shm_create(&e->shm, e->shm_name, ring_cap, 4) < 0)
		return -1;
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0)
		return -1;
	*state = e;
	return 0;
}

static int
setup_1024(void **state)
{
	return env_setup(state, 1024);
}

static int
setup_16(void **state)
{
	return env_setup(state, 16);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	env_close(e);
	if (e->shm.hdr)
		shm_destroy(&e->shm);
	if (e->efd >= 0)
		close(e->efd);
	nftw(e->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

/* ---- the event thread's half ----------------------------------------- */

/* A request of @type with @data (JSON text), parsed as the event thread does. */
static struct store_submit *
make_req(const char *type, const char *data)
{
	size_t cap = strlen(data) + 64;
	char *line = malloc(cap);
	struct store_submit *req = calloc(1, sizeof(*req));
	struct proto_error err;
	struct proto_req pr;
	int rc;

	assert_non_null(line);
	assert_non_null(req);
	snprintf(line, cap, "{\"type\":\"%s\",\"data\":%s}", type, data);
	if (proto_parse_request(line, strlen(line), &pr, &err) < 0)
		fail_msg("request refused: %s", err.msg);
	free(line);
	if (strcmp(type, "TASK_CANCEL") == 0) {
		req->kind = STORE_CANCEL;
		rc = proto_parse_cancel(pr.data, &req->cancel, &err);
	} else {
		req->kind = STORE_SUBMIT;
		rc = proto_parse_submit(pr.data, &req->batch, &err);
	}
	proto_req_free(&pr);
	if (rc < 0)
		fail_msg("%s refused: %s", data, err.msg);
	return req;
}

/* A validated submission of @n copies of the task object @task. */
static struct store_submit *
make_sub(const char *task, unsigned n)
{
	size_t cap = 32 + (strlen(task) + 1) * n, off;
	char *data = malloc(cap);
	struct store_submit *sub;

	assert_non_null(data);
	off = (size_t)sprintf(data, "{\"tasks\":[");
	for (unsigned i = 0; i < n; i++)
		off += (size_t)sprintf(data + off, "%s%s", i ? "," : "", task);
	strcpy(data + off, "]}");
	sub = make_req("TASK_SUBMIT", data);
	free(data);
	assert_int_equal(sub->batch.n, n);
	return sub;
}

/* Hand @req to the store and wait (on the eventfd) for its answer. */
static void
request_wait(struct env *e, struct store_submit *req)
{
	uint64_t end = sys_now_ns() + WAIT_NS, v;
	bool found = false;

	store_submit(&e->st, req);
	while (!found) {
		struct store_submit *d = store_take_done(&e->st);
		struct pollfd p = { .fd = e->efd, .events = POLLIN };

		for (; d; d = d->next) {
			if (d != req)
				fail_msg("an answer for a request never made");
			found = true;
		}
		if (found)
			break;
		if (sys_now_ns() > end)
			fail_msg("timed out waiting for the answer to a request");
		if (poll(&p, 1, 100) > 0 && read(e->efd, &v, sizeof(v)) < 0)
			assert_int_equal(errno, EAGAIN);
	}
	/* the store consumed what the request carried */
	assert_null(req->batch.tasks);
	assert_null(req->cancel.ids);
}

/* Submit @sub, wait for its answer, check it succeeded; frees @sub. */
static void
submit_wait(struct env *e, struct store_submit *sub, uint64_t *first, uint64_t *last)
{
	int err;

	request_wait(e, sub);
	err = sub->err;
	*first = sub->first;
	*last = sub->last;
	if (err)
		fail_msg("submission refused: %s %s", forq_err_code(err), sub->errmsg);
	assert_int_equal(sub->created, sub->last - sub->first + 1);
	store_req_free(sub);
}

static uint64_t
submit_n(struct env *e, const char *task, unsigned n)
{
	uint64_t first, last;

	submit_wait(e, make_sub(task, n), &first, &last);
	assert_int_equal(last - first + 1, n);
	return first;
}

/* Submit the TASK_SUBMIT data @data; returns the first id. */
static uint64_t
submit_data(struct env *e, const char *data, uint64_t *last)
{
	uint64_t first, l;

	submit_wait(e, make_req("TASK_SUBMIT", data), &first, &l);
	if (last)
		*last = l;
	return first;
}

/* ---- the workers' half ----------------------------------------------- */

static bool
pop_task(struct env *e, unsigned prio, struct shm_task *t)
{
	unsigned char buf[SHM_TASK_SLOT];
	uint32_t len = ring_try_pop(shm_ring(&e->shm, prio), 1, buf);

	if (!len)
		return false;
	assert_int_equal(len, 48);
	shm_task_unpack(buf, t);
	return true;
}

/* Wait for the next task in ring @prio and check its id and attempt. */
static void
expect_task(struct env *e, unsigned prio, uint64_t id, uint32_t attempt, struct shm_task *out)
{
	struct shm_task t;

	WAIT_UNTIL(pop_task(e, prio, &t), "task %llu in ring %u", (unsigned long long)id, prio);
	if (t.id != id || t.attempt != attempt)
		fail_msg("ring %u: task %llu attempt %u, want %llu attempt %u", prio,
			 (unsigned long long)t.id, t.attempt, (unsigned long long)id, attempt);
	assert_int_equal(t.prio, prio);
	if (out)
		*out = t;
}

static struct shm_comp
comp_for(uint64_t id, uint32_t attempt, uint8_t outcome)
{
	struct shm_comp c;
	int n;

	memset(&c, 0, sizeof(c));
	c.id = id;
	c.attempt = attempt;
	c.outcome = outcome;
	c.worker = (uint16_t)(id % 4);
	c.exit_code = outcome == KERNEL_DONE ? 0 : 3;
	c.term_signal = outcome == KERNEL_DONE ? 0 : 15;
	c.cpu = (int32_t)(id % 2);
	c.start_wall_ns = 1000000000ull * id;
	c.end_wall_ns = 1000000000ull * id + 12345;
	c.user_us = id * 10;
	c.sys_us = id * 20;
	c.maxrss_kb = id * 30;
	snprintf(c.reason, sizeof(c.reason), "%s", outcome == KERNEL_DONE ? "" : "exit_3");
	n = snprintf(c.result, sizeof(c.result), "{\"id\":%llu,\"a\":%u}", (unsigned long long)id,
		     attempt);
	c.result_len = (uint32_t)n;
	return c;
}

static void
push_comp(struct env *e, const struct shm_comp *c)
{
	WAIT_UNTIL(ring_try_push(shm_comp_ring(&e->shm), 1, c, sizeof(*c)),
		   "room in the completion ring");
}

static void
ring_store(struct env *e)
{
	doorbell_ring(&e->shm.hdr->store_bell, 1);
}

/*
 * A dead worker's task, as the supervisor reports it; @comp_tail is the
 * completion-ring tail after the repair (0: the tail now).
 */
static void
report_lost_at(struct env *e, uint64_t id, uint32_t attempt, uint8_t outcome, uint64_t comp_tail)
{
	struct store_lost *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	l->id = id;
	l->attempt = attempt;
	l->outcome = outcome;
	l->worker = 2;
	l->cpu = 1;
	l->comp_tail = comp_tail ? comp_tail : atomic_load(&shm_comp_ring(&e->shm)->tail);
	l->start_wall_ns = 777;
	store_report_lost(&e->st, l);	/* the store frees it */
}

static void
report_lost(struct env *e, uint64_t id, uint32_t attempt, uint8_t outcome)
{
	report_lost_at(e, id, attempt, outcome, 0);
}

/* Wait until the store has finished a commit after @gen. */
static void
wait_commit(struct env *e, uint64_t gen)
{
	WAIT_UNTIL(atomic_load(&e->st.generation) > gen, "a commit after generation %llu",
		   (unsigned long long)gen);
}

/* ---- reading records ------------------------------------------------- */

static int
copy_rec(void *ctx, uint64_t id, const struct task_rec *r)
{
	struct rec *out = ctx;

	(void)id;
	memset(out, 0, sizeof(*out));
	out->r = *r;
	assert_true(r->blob_len <= sizeof(out->blob));
	assert_true(r->result_len < sizeof(out->result));
	memcpy(out->reason, r->reason, r->reason_len);
	memcpy(out->name, r->name, r->name_len);
	memcpy(out->blob, r->blob, r->blob_len);
	memcpy(out->result, r->result, r->result_len);
	out->r.reason = out->reason;
	out->r.name = out->name;
	out->r.blob = out->blob;
	out->r.result = out->result;
	out->packed_len = task_packed_size(r);
	assert_true(out->packed_len <= sizeof(out->packed));
	task_pack(r, out->packed);
	return 0;
}

static void
get_rec(struct env *e, uint64_t id, struct rec *out)
{
	int rc = store_get(&e->st, id, copy_rec, out);

	if (rc)
		fail_msg("store_get(%llu): %d", (unsigned long long)id, rc);
}

static void
expect_state(struct env *e, uint64_t id, enum task_state st, uint16_t attempts, const char *reason)
{
	struct rec *r = &e->rec[2];

	get_rec(e, id, r);
	if (r->r.state != st || r->r.attempts != attempts)
		fail_msg("task %llu: %s after %u attempts, want %s after %u",
			 (unsigned long long)id, task_state_name(r->r.state), r->r.attempts,
			 task_state_name(st), attempts);
	if (reason)
		assert_string_equal(r->reason, reason);
}

/* ---- tests ----------------------------------------------------------- */

static void
test_open_empty(void **state)
{
	struct env *e = *state;

	env_open(e, false);
	assert_int_equal(e->st.next_id, 1);
	assert_int_equal(atomic_load(&e->st.last_id), 0);
	assert_int_equal(atomic_load(&e->st.backlog_len), 0);
	for (int s = 0; s < TASK_STATE__COUNT; s++)
		assert_int_equal(count_of(e, s), 0);
	assert_int_equal(access(e->db, F_OK), 0);	/* created */
	{
		struct rec r;

		assert_int_equal(store_get(&e->st, 1, copy_rec, &r), -ENOENT);
	}
	/* start and stop an idle store */
	env_start(e);
	usleep(20000);
	store_stop(&e->st);
	store_stop(&e->st);	/* idempotent */
	assert_int_equal(atomic_load(&e->st.commits), 0);
	env_close(e);
	/* --sync nosync opens the same environment too */
	env_open(e, true);
	assert_true(e->st.nosync);
	assert_int_equal(e->st.next_id, 1);
	env_close(e);
}

struct scan_ctx {
	uint64_t n, last, stop_at;
	uint64_t done;
	struct env *e;
};

static int
scan_done(void *ctx, uint64_t id, const struct task_rec *r)
{
	struct scan_ctx *sc = ctx;
	struct shm_comp c = comp_for(id, 1, KERNEL_DONE);

	/* main thread: store_scan calls back synchronously */
	assert_true(id > sc->last);
	sc->last = id;
	sc->n++;
	if (r->state == TASK_DONE) {
		sc->done++;
		assert_int_equal(r->attempts, 1);
		assert_int_equal(r->exit_code, 0);
		assert_int_equal(r->term_signal, 0);
		assert_int_equal(r->worker, c.worker);
		assert_int_equal(r->cpu, c.cpu);
		assert_true(r->start_ns == c.start_wall_ns);
		assert_true(r->end_ns == c.end_wall_ns);
		assert_true(r->user_us == c.user_us);
		assert_true(r->sys_us == c.sys_us);
		assert_true(r->maxrss_kb == c.maxrss_kb);
		assert_int_equal(r->reason_len, 0);
		assert_int_equal(r->result_len, c.result_len);
		assert_memory_equal(r->result, c.result, c.result_len);
		assert_int_equal(r->kernel, KERNEL_ID_NOOP);
		assert_int_equal(r->prio, 5);
	}
	return sc->stop_at && id == sc->stop_at ? 99 : 0;
}

/*
 * 1,000 noop tasks: answered as one batch 1..1000 after commit, in ring 5
 * in order, QUEUED in LMDB; 1,000 completions make them DONE with the
 * completion's figures; a duplicate, a wrong attempt and an unknown id
 * change nothing.
 */
static void
test_submit_complete(void **state)
{
	struct env *e = *state;
	struct ring *r5 = shm_ring(&e->shm, 5);
	struct rec *before = &e->rec[0], *after = &e->rec[1];
	struct scan_ctx sc = { 0 };
	uint64_t first, last, t0, t1, gen;
	struct shm_task t;
	struct shm_comp c;

	env_open(e, false);
	env_start(e);
	t0 = sys_wall_ns();
	submit_wait(e, make_sub("{\"kernel\":\"noop\"}", 1000), &first, &last);
	t1 = sys_wall_ns();
	assert_int_equal(first, 1);
	assert_int_equal(last, 1000);
	assert_int_equal(atomic_load(&e->st.submitted), 1000);
	assert_int_equal(atomic_load(&e->st.last_id), 1000);

	/* commit before dispatch: the records are there (and answered)
	 * before, or while, the ring fills */
	get_rec(e, 1000, after);
	assert_int_equal(after->r.state, TASK_QUEUED);
	WAIT_UNTIL(ring_count(r5) == 1000, "1000 tasks in ring 5 (have %llu)",
		   (unsigned long long)ring_count(r5));
	assert_int_equal(count_of(e, TASK_QUEUED), 1000);
	assert_int_equal(atomic_load(&e->st.backlog_len), 0);
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		if (p != 5)
			assert_int_equal(ring_count(shm_ring(&e->shm, p)), 0);
	for (uint64_t id = 1; id <= 1000; id++) {
		assert_true(pop_task(e, 5, &t));
		if (t.id != id)
			fail_msg("ring 5: got task %llu, want %llu", (unsigned long long)t.id,
				 (unsigned long long)id);
		assert_int_equal(t.attempt, 1);
		assert_int_equal(t.kernel, KERNEL_ID_NOOP);
		assert_int_equal(t.prio, 5);
		assert_int_equal(t.timeout_ms, 0);
		assert_int_equal(t.blob_len, 0);
		assert_int_equal(t.flags & SHM_T_INLINE, SHM_T_INLINE);
	}
	assert_false(pop_task(e, 5, &t));

	/* the records: QUEUED, nothing run yet */
	for (uint64_t id = 1; id <= 1000; id += 333) {
		get_rec(e, id, before);
		assert_int_equal(before->r.state, TASK_QUEUED);
		assert_int_equal(before->r.prio, 5);
		assert_int_equal(before->r.kernel, KERNEL_ID_NOOP);
		assert_int_equal(before->r.attempts, 0);
		assert_int_equal(before->r.retries, 0);
		assert_int_equal(before->r.worker, -1);
		assert_int_equal(before->r.cpu, -1);
		assert_int_equal(before->r.blob_len, 0);
		assert_int_equal(before->r.result_len, 0);
		assert_true(before->r.submit_ns >= t0 && before->r.submit_ns <= t1);
		assert_true(before->r.end_ns == 0);
	}
	assert_int_equal(store_get(&e->st, 1001, copy_rec, before), -ENOENT);
	assert_int_equal(store_get(&e->st, 0, copy_rec, before), -ENOENT);

	/* the workers' completions */
	for (uint64_t id = 1; id <= 1000; id++) {
		c = comp_for(id, 1, KERNEL_DONE);
		push_comp(e, &c);
		if (id % 100 == 0)
			ring_store(e);
	}
	WAIT_UNTIL(count_of(e, TASK_DONE) == 1000, "1000 DONE (have %llu)",
		   (unsigned long long)count_of(e, TASK_DONE));
	assert_int_equal(count_of(e, TASK_QUEUED), 0);
	assert_int_equal(atomic_load(&e->st.finished), 1000);
	assert_true(store_scan(&e->st, 0, scan_done, &sc) == 0);
	assert_int_equal(sc.n, 1000);
	assert_int_equal(sc.done, 1000);
	/* scan from the middle, stopped early by the callback */
	memset(&sc, 0, sizeof(sc));
	sc.last = 500;
	sc.stop_at = 510;
	assert_int_equal(store_scan(&e->st, 500, scan_done, &sc), 99);
	assert_int_equal(sc.n, 10);

	/* a duplicate completion (even claiming another outcome), a wrong
	 * attempt and an unknown id change nothing */
	get_rec(e, 5, before);
	gen = atomic_load(&e->st.generation);
	c = comp_for(5, 1, KERNEL_FAILED);
	push_comp(e, &c);
	c = comp_for(6, 2, KERNEL_FAILED);
	push_comp(e, &c);
	c = comp_for(5000, 1, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	wait_commit(e, gen);
	WAIT_UNTIL(ring_empty(shm_comp_ring(&e->shm)), "the completion ring drained");
	wait_commit(e, atomic_load(&e->st.generation) - 1);
	get_rec(e, 5, after);
	assert_int_equal(after->packed_len, before->packed_len);
	assert_memory_equal(after->packed, before->packed, before->packed_len);
	expect_state(e, 6, TASK_DONE, 1, "");
	assert_int_equal(store_get(&e->st, 5000, copy_rec, after), -ENOENT);
	assert_int_equal(count_of(e, TASK_DONE), 1000);
	assert_int_equal(count_of(e, TASK_FAILED), 0);
	assert_int_equal(atomic_load(&e->st.finished), 1000);

	/* a queued task: wrong attempts are ignored, the right one ends it */
	first = submit_n(e, "{\"kernel\":\"noop\",\"name\":\"late\"}", 1);
	assert_int_equal(first, 1001);
	expect_task(e, 5, 1001, 1, NULL);
	get_rec(e, 1001, before);
	assert_string_equal(before->name, "late");
	gen = atomic_load(&e->st.generation);
	c = comp_for(1001, 2, KERNEL_DONE);
	push_comp(e, &c);
	c = comp_for(1001, 0, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	wait_commit(e, gen);
	get_rec(e, 1001, after);
	assert_int_equal(after->packed_len, before->packed_len);
	assert_memory_equal(after->packed, before->packed, before->packed_len);
	assert_int_equal(count_of(e, TASK_QUEUED), 1);
	c = comp_for(1001, 1, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	WAIT_UNTIL(count_of(e, TASK_DONE) == 1001, "task 1001 DONE");
	expect_state(e, 1001, TASK_DONE, 1, "");
	assert_int_equal(count_of(e, TASK_QUEUED), 0);
	assert_false(pop_task(e, 5, &t));
}

/*
 * Lost workers: a task with no retries is re-dispatched once (attempt 2)
 * and ends LOST on the second loss; a kill for its deadline ends TIMEOUT;
 * a failure is retried when "retries" allows; a loss reported after the
 * task's own completion was pushed changes nothing.
 */
static void
test_lost_and_retry(void **state)
{
	struct env *e = *state;
	struct shm_task t;
	struct shm_comp c;
	struct rec *r = &e->rec[0];
	uint64_t id, gen;

	env_open(e, false);
	env_start(e);

	/* lost twice with retries 0: one free retry, then LOST */
	id = submit_n(e, "{\"kernel\":\"spin\",\"args\":{\"us\":1}}", 1);
	expect_task(e, 5, id, 1, &t);
	report_lost(e, id, 1, 0xff);
	expect_task(e, 5, id, 2, &t);
	assert_int_equal(t.kernel, KERNEL_ID_SPIN);
	assert_int_equal(t.blob_len, 8);
	assert_int_equal(t.flags & SHM_T_INLINE, SHM_T_INLINE);
	assert_int_equal(t.blob[0], 1);
	get_rec(e, id, r);
	assert_int_equal(r->r.state, TASK_QUEUED);
	assert_int_equal(r->r.attempts, 1);
	assert_string_equal(r->reason, "worker_lost");
	assert_int_equal(r->r.worker, 2);
	assert_int_equal(r->r.cpu, 1);
	assert_int_equal(count_of(e, TASK_QUEUED), 1);
	/* the first attempt's late report is stale now */
	gen = atomic_load(&e->st.generation);
	report_lost(e, id, 1, 0xff);
	wait_commit(e, gen);
	expect_state(e, id, TASK_QUEUED, 1, "worker_lost");
	report_lost(e, id, 2, 0xff);
	WAIT_UNTIL(count_of(e, TASK_LOST) == 1, "task %llu LOST", (unsigned long long)id);
	get_rec(e, id, r);
	assert_int_equal(r->r.state, TASK_LOST);
	assert_int_equal(r->r.attempts, 2);
	assert_string_equal(r->reason, "worker_lost");
	assert_int_equal(r->r.exit_code, -1);
	assert_int_equal(count_of(e, TASK_QUEUED), 0);
	/* and it is not dispatched again */
	gen = atomic_load(&e->st.generation);
	report_lost(e, id, 3, 0xff);
	wait_commit(e, gen);
	assert_false(pop_task(e, 5, &t));
	assert_int_equal(count_of(e, TASK_LOST), 1);

	/* killed for its deadline: TIMEOUT, no retry */
	id = submit_n(e, "{\"kernel\":\"noop\",\"timeout\":\"250ms\"}", 1);
	expect_task(e, 5, id, 1, &t);
	assert_int_equal(t.timeout_ms, 250);
	report_lost(e, id, 1, KERNEL_TIMEOUT);
	WAIT_UNTIL(count_of(e, TASK_TIMEOUT) == 1, "task %llu TIMEOUT", (unsigned long long)id);
	expect_state(e, id, TASK_TIMEOUT, 1, "timeout");

	/* a failure with one retry allowed runs again, then succeeds */
	id = submit_n(e, "{\"kernel\":\"noop\",\"retries\":1,\"priority\":2}", 1);
	expect_task(e, 2, id, 1, &t);
	c = comp_for(id, 1, KERNEL_FAILED);
	push_comp(e, &c);
	ring_store(e);
	expect_task(e, 2, id, 2, &t);
	expect_state(e, id, TASK_QUEUED, 1, "exit_3");
	c = comp_for(id, 2, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	WAIT_UNTIL(count_of(e, TASK_DONE) == 1, "task %llu DONE", (unsigned long long)id);
	expect_state(e, id, TASK_DONE, 2, "");
	/* a failure with no retry left: FAILED */
	id = submit_n(e, "{\"kernel\":\"noop\"}", 1);
	expect_task(e, 5, id, 1, &t);
	c = comp_for(id, 1, KERNEL_FAILED);
	push_comp(e, &c);
	ring_store(e);
	WAIT_UNTIL(count_of(e, TASK_FAILED) == 1, "task %llu FAILED", (unsigned long long)id);
	get_rec(e, id, r);
	assert_int_equal(r->r.exit_code, 3);
	assert_int_equal(r->r.term_signal, 15);
	assert_string_equal(r->reason, "exit_3");

	/* the worker pushed its completion, then died: the completion wins
	 * and the loss report is stale (exactly one terminal state) */
	id = submit_n(e, "{\"kernel\":\"noop\"}", 1);
	expect_task(e, 5, id, 1, &t);
	c = comp_for(id, 1, KERNEL_DONE);
	push_comp(e, &c);
	report_lost(e, id, 1, 0xff);
	WAIT_UNTIL(count_of(e, TASK_DONE) == 2, "task %llu DONE", (unsigned long long)id);
	expect_state(e, id, TASK_DONE, 1, "");

	/* the same, with the completion not yet drainable when the loss is
	 * reported (another worker's claim holds the ring's head back): the
	 * report waits for the completion-ring head to pass comp_tail */
	id = submit_n(e, "{\"kernel\":\"noop\"}", 1);
	expect_task(e, 5, id, 1, &t);
	gen = atomic_load(&e->st.generation);
	report_lost_at(e, id, 1, 0xff, atomic_load(&shm_comp_ring(&e->shm)->tail) + 1);
	usleep(50000);
	expect_state(e, id, TASK_QUEUED, 0, NULL);	/* deferred, not applied */
	assert_int_equal(atomic_load(&e->st.generation), gen);
	c = comp_for(id, 1, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	WAIT_UNTIL(count_of(e, TASK_DONE) == 3, "task %llu DONE", (unsigned long long)id);
	ring_store(e);
	usleep(20000);	/* the deferred report, now stale, changes nothing */
	expect_state(e, id, TASK_DONE, 1, "");
	assert_int_equal(count_of(e, TASK_LOST), 1);
	assert_int_equal(count_of(e, TASK_QUEUED), 0);
	assert_false(pop_task(e, 5, &t));
	assert_int_equal(atomic_load(&e->st.finished), 6);
}

/*
 * Ring capacity 16, 100 tasks: 16 in the ring, 84 in the backlog; 10 more
 * submitted while the ring has room but the backlog is not empty queue
 * behind the backlog (FIFO within a priority); popping and completing
 * refills the ring in id order until all 110 are DONE.
 */
static void
test_backlog_refill(void **state)
{
	struct env *e = *state;
	struct ring *r5 = shm_ring(&e->shm, 5);
	uint64_t next = 1, first;
	struct shm_task t;

	env_open(e, false);
	env_start(e);
	first = submit_n(e, "{\"kernel\":\"noop\"}", 100);
	assert_int_equal(first, 1);
	WAIT_UNTIL(ring_count(r5) == 16 && atomic_load(&e->st.backlog_len) == 84,
		   "16 in the ring and 84 in the backlog (have %llu and %llu)",
		   (unsigned long long)ring_count(r5),
		   (unsigned long long)atomic_load(&e->st.backlog_len));
	assert_int_equal(count_of(e, TASK_QUEUED), 100);
	/* make room in the ring, then submit at once: the new tasks must
	 * not overtake the backlog */
	for (int i = 0; i < 4; i++) {
		struct shm_comp c;

		assert_true(pop_task(e, 5, &t));
		assert_int_equal(t.id, next);
		c = comp_for(t.id, t.attempt, KERNEL_DONE);
		push_comp(e, &c);
		next++;
	}
	first = submit_n(e, "{\"kernel\":\"noop\"}", 10);
	assert_int_equal(first, 101);
	while (next <= 110) {
		uint64_t done_before = count_of(e, TASK_DONE), popped = 0;

		WAIT_UNTIL(ring_count(r5) > 0, "a refill after task %llu",
			   (unsigned long long)next);
		while (pop_task(e, 5, &t)) {
			struct shm_comp c = comp_for(t.id, t.attempt, KERNEL_DONE);

			if (t.id != next)
				fail_msg("got task %llu, want %llu", (unsigned long long)t.id,
					 (unsigned long long)next);
			assert_int_equal(t.attempt, 1);
			push_comp(e, &c);
			next++;
			popped++;
		}
		ring_store(e);
		WAIT_UNTIL(count_of(e, TASK_DONE) >= done_before + popped, "%llu DONE",
			   (unsigned long long)(done_before + popped));
		assert_true(ring_count(r5) <= 16);
	}
	WAIT_UNTIL(count_of(e, TASK_DONE) == 110, "110 DONE");
	assert_int_equal(count_of(e, TASK_QUEUED), 0);
	assert_int_equal(atomic_load(&e->st.backlog_len), 0);
	assert_int_equal(ring_count(r5), 0);
	expect_state(e, 110, TASK_DONE, 1, "");
}

/*
 * Each priority goes to its own ring, FIFO within it; the slot carries the
 * kernel, timeout and a small blob inline, a large blob only by length.
 */
static void
test_priorities(void **state)
{
	struct env *e = *state;
	static const char data[] =
		"{\"tasks\":["
		"{\"kernel\":\"noop\",\"priority\":9},"
		"{\"kernel\":\"noop\",\"priority\":0},"
		"{\"kernel\":\"noop\"},"
		"{\"kernel\":\"spin\",\"args\":{\"us\":77},\"priority\":3,\"timeout\":\"1.5\"},"
		"{\"kernel\":\"noop\",\"priority\":0},"
		"{\"argv\":[\"/bin/echo\",\"an argument long enough to leave the slot\"],"
		"\"priority\":9}]}";
	struct shm_task t;
	struct rec *r = &e->rec[0];
	uint64_t first, last;

	env_open(e, false);
	env_start(e);
	first = submit_data(e, data, &last);
	assert_int_equal(first, 1);
	assert_int_equal(last, 6);

	expect_task(e, 0, 2, 1, NULL);
	expect_task(e, 0, 5, 1, NULL);
	expect_task(e, 5, 3, 1, NULL);
	expect_task(e, 3, 4, 1, &t);
	assert_int_equal(t.kernel, KERNEL_ID_SPIN);
	assert_int_equal(t.timeout_ms, 1500);
	assert_int_equal(t.flags & SHM_T_INLINE, SHM_T_INLINE);
	assert_int_equal(t.blob_len, 8);
	assert_int_equal(t.blob[0], 77);
	assert_int_equal(t.blob[1], 0);
	expect_task(e, 9, 1, 1, NULL);
	expect_task(e, 9, 6, 1, &t);
	assert_int_equal(t.kernel, KERNEL_ID_EXEC);
	assert_int_equal(t.flags & SHM_T_INLINE, 0);
	get_rec(e, 6, r);
	assert_true(r->r.blob_len > SHM_INLINE_BLOB);
	assert_int_equal(t.blob_len, r->r.blob_len);
	assert_int_equal(r->r.prio, 9);
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		assert_int_equal(ring_count(shm_ring(&e->shm, p)), 0);
}

/*
 * After stop and close, a reopened store recovers the counts and the next
 * id, and puts the QUEUED tasks (also those a worker held) back into the
 * backlog; started on a fresh segment it dispatches them again; nosync
 * opens the same environment.
 */
static void
test_restart_recovery(void **state)
{
	struct env *e = *state;
	static const char data[] =
		"{\"tasks\":["
		"{\"kernel\":\"noop\",\"priority\":1},{\"kernel\":\"noop\",\"priority\":2},"
		"{\"kernel\":\"noop\",\"priority\":1},{\"kernel\":\"noop\",\"priority\":2},"
		"{\"kernel\":\"noop\",\"priority\":1},{\"kernel\":\"noop\",\"priority\":2},"
		"{\"kernel\":\"noop\",\"priority\":1},{\"kernel\":\"noop\",\"priority\":2},"
		"{\"kernel\":\"noop\",\"priority\":1},{\"kernel\":\"noop\",\"priority\":2}]}";
	struct shm_task t;
	uint64_t first, last, id;

	env_open(e, false);
	env_start(e);
	first = submit_data(e, data, &last);
	assert_int_equal(first, 1);
	assert_int_equal(last, 10);
	/* workers take everything; 1..4 end DONE, 5 FAILED, 6..10 are
	 * still running when forqd stops */
	for (id = 1; id <= 10; id++) {
		expect_task(e, id % 2 ? 1 : 2, id, 1, &t);
		if (id <= 5) {
			struct shm_comp c = comp_for(id, 1, id < 5 ? KERNEL_DONE : KERNEL_FAILED);

			push_comp(e, &c);
		}
	}
	/* task 7 lost its worker once already: QUEUED, attempts 1 */
	report_lost(e, 7, 1, 0xff);
	ring_store(e);
	WAIT_UNTIL(count_of(e, TASK_DONE) == 4 && count_of(e, TASK_FAILED) == 1,
		   "4 DONE and 1 FAILED");
	expect_task(e, 1, 7, 2, NULL);
	expect_state(e, 7, TASK_QUEUED, 1, "worker_lost");
	env_close(e);

	/* a restarted forqd: new segment, same environment */
	env_new_shm(e);
	env_open(e, false);
	assert_int_equal(count_of(e, TASK_DONE), 4);
	assert_int_equal(count_of(e, TASK_FAILED), 1);
	assert_int_equal(count_of(e, TASK_QUEUED), 5);
	assert_int_equal(count_of(e, TASK_LOST), 0);
	assert_int_equal(e->st.next_id, 11);
	assert_int_equal(atomic_load(&e->st.last_id), 10);
	assert_int_equal(atomic_load(&e->st.backlog_len), 5);
	assert_int_equal(backlog_len(&e->st.backlog[1]), 2);	/* 7, 9 */
	assert_int_equal(backlog_len(&e->st.backlog[2]), 3);	/* 6, 8, 10 */
	expect_state(e, 5, TASK_FAILED, 1, "exit_3");
	env_start(e);
	expect_task(e, 1, 7, 2, NULL);		/* its next attempt */
	expect_task(e, 1, 9, 1, NULL);
	expect_task(e, 2, 6, 1, NULL);
	expect_task(e, 2, 8, 1, NULL);
	expect_task(e, 2, 10, 1, NULL);
	WAIT_UNTIL(atomic_load(&e->st.backlog_len) == 0, "the backlog dispatched");
	/* the next id follows the recovered ones */
	id = submit_n(e, "{\"kernel\":\"noop\",\"priority\":1}", 2);
	assert_int_equal(id, 11);
	expect_task(e, 1, 11, 1, NULL);
	expect_task(e, 1, 12, 1, NULL);
	assert_int_equal(count_of(e, TASK_QUEUED), 7);
	env_close(e);

	/* nosync opens the same environment and sees the same state */
	env_open(e, true);
	assert_int_equal(e->st.next_id, 13);
	assert_int_equal(count_of(e, TASK_QUEUED), 7);
	assert_int_equal(count_of(e, TASK_DONE), 4);
	env_start(e);
	id = submit_n(e, "{\"kernel\":\"noop\"}", 1);
	assert_int_equal(id, 13);
	env_close(e);
}

/* ---- cancel, dependencies, keys, arrays, retry delays ---------------- */

struct attempts {
	unsigned n;
	unsigned num[8];
	struct task_attempt a[8];
};

static void
copy_attempt(void *ctx, unsigned attempt, const struct task_attempt *a)
{
	struct attempts *at = ctx;

	if (at->n < 8) {
		at->num[at->n] = attempt;
		at->a[at->n] = *a;
	}
	at->n++;
}


/* Cancel: the answer, then what happens to tasks in the ring, the backlog
 * and a worker. */
static void
cancel_wait(struct env *e, const char *data, int want_err, uint64_t want_cancelled)
{
	struct store_submit *req = make_req("TASK_CANCEL", data);

	request_wait(e, req);
	if (req->err != want_err)
		fail_msg("cancel %s: got %s (%s), want %s", data, forq_err_code(req->err),
			 req->errmsg, forq_err_code(want_err));
	assert_int_equal(req->cancelled, want_cancelled);
	assert_true(req->ncancelled_ids <= want_cancelled);
	store_req_free(req);
}

/*
 * Ring capacity 16, 20 tasks: cancelling one in the ring marks its
 * position, one in the backlog is never dispatched, one a worker holds gets
 * its block's cancel word; cancels are all or nothing; a cancelled task's
 * completion only records the stopped attempt, once; a state filter
 * cancels what is queued.
 */
static void
test_cancel(void **state)
{
	struct env *e = *state;
	struct ring *r5 = shm_ring(&e->shm, 5);
	struct rec *before = &e->rec[0], *after = &e->rec[1];
	struct attempts at;
	struct wblock *wb;
	struct shm_task t;
	struct shm_comp c;
	uint64_t gen, seen = 0;

	env_open(e, false);
	env_start(e);
	assert_int_equal(submit_n(e, "{\"kernel\":\"noop\"}", 20), 1);
	WAIT_UNTIL(ring_count(r5) == 16 && atomic_load(&e->st.backlog_len) == 4,
		   "16 in the ring and 4 in the backlog");
	/* task 4 is held by worker 0 */
	wb = shm_wblock(&e->shm, 0);
	atomic_store(&wb->task_id, 4);

	cancel_wait(e, "{\"ids\":[2,18,4]}", 0, 3);
	expect_state(e, 2, TASK_CANCELLED, 0, "cancelled");
	expect_state(e, 18, TASK_CANCELLED, 0, "cancelled");
	expect_state(e, 4, TASK_CANCELLED, 0, "cancelled");
	assert_int_equal(count_of(e, TASK_CANCELLED), 3);
	assert_int_equal(count_of(e, TASK_QUEUED), 17);
	/* task 2 was pushed at position 1: its mark says so; 1's does not */
	assert_true(atomic_load(shm_cancel_mark(&e->shm, 5, 1)) == 1);
	assert_true(atomic_load(shm_cancel_mark(&e->shm, 5, 0)) == UINT64_MAX);
	assert_true(atomic_load(&wb->cancel_task) == 4);
	atomic_store(&wb->task_id, 0);

	/* all or nothing: an unknown id refuses the lot */
	cancel_wait(e, "{\"ids\":[3,999]}", FORQ_ENOTFOUND, 0);
	expect_state(e, 3, TASK_QUEUED, 0, NULL);
	cancel_wait(e, "{\"ids\":[3,2]}", FORQ_EFINISHED, 0);
	expect_state(e, 3, TASK_QUEUED, 0, NULL);
	assert_int_equal(count_of(e, TASK_CANCELLED), 3);

	/* the worker was running task 2 when it was cancelled: the record
	 * stays CANCELLED and keeps the stopped attempt's figures, once */
	gen = atomic_load(&e->st.generation);
	c = comp_for(2, 1, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	wait_commit(e, gen);
	expect_state(e, 2, TASK_CANCELLED, 1, "cancelled");
	memset(&at, 0, sizeof(at));
	assert_int_equal(store_get_attempts(&e->st, 2, copy_attempt, &at), 0);
	assert_int_equal(at.n, 1);
	assert_int_equal(at.a[0].outcome, TASK_CANCELLED);
	get_rec(e, 2, before);
	assert_true(before->r.start_ns == c.start_wall_ns);
	assert_int_equal(before->r.worker, c.worker);
	assert_int_equal(count_of(e, TASK_CANCELLED), 3);
	assert_int_equal(count_of(e, TASK_DONE), 0);
	gen = atomic_load(&e->st.generation);
	push_comp(e, &c);	/* a duplicate changes nothing */
	c = comp_for(2, 3, KERNEL_FAILED);
	push_comp(e, &c);	/* nor does another attempt */
	ring_store(e);
	wait_commit(e, gen);
	get_rec(e, 2, after);
	assert_int_equal(after->packed_len, before->packed_len);
	assert_memory_equal(after->packed, before->packed, before->packed_len);

	/* drain: the ring still carries 2 and 4 (workers skip them by their
	 * marks), the backlog never yields 18 */
	while (seen < 20) {
		uint64_t done0 = count_of(e, TASK_DONE), popped = 0;

		WAIT_UNTIL(ring_count(r5) > 0, "more tasks after %llu", (unsigned long long)seen);
		while (pop_task(e, 5, &t)) {
			assert_true(t.id > seen);
			if (t.id == 18)
				fail_msg("a cancelled task left the backlog");
			seen = t.id;
			if (t.id == 2 || t.id == 4)
				continue;
			c = comp_for(t.id, 1, KERNEL_DONE);
			push_comp(e, &c);
			popped++;
		}
		ring_store(e);
		WAIT_UNTIL(count_of(e, TASK_DONE) == done0 + popped, "completions applied");
	}
	WAIT_UNTIL(count_of(e, TASK_DONE) == 17, "17 DONE");
	assert_int_equal(count_of(e, TASK_QUEUED), 0);
	assert_int_equal(atomic_load(&e->st.backlog_len), 0);

	/* a state filter */
	assert_int_equal(submit_n(e, "{\"kernel\":\"noop\",\"priority\":7}", 3), 21);
	cancel_wait(e, "{\"state\":\"queued\"}", 0, 3);
	assert_int_equal(count_of(e, TASK_CANCELLED), 6);
	assert_int_equal(count_of(e, TASK_QUEUED), 0);
	cancel_wait(e, "{\"state\":\"all\"}", 0, 0);
}

/*
 * Dependencies: a task after another waits, is released when it ends
 * DONE, and is cancelled (with everything after it) when it ends
 * otherwise, unless it runs after any outcome; unknown dependencies are
 * refused and create nothing; the waiting graph survives a restart.
 */
static void
test_dependencies(void **state)
{
	struct env *e = *state;
	struct shm_task t;
	struct shm_comp c;
	struct store_submit *req;
	uint64_t id, last;

	env_open(e, false);
	env_start(e);
	assert_int_equal(submit_n(e, "{\"kernel\":\"noop\"}", 1), 1);
	expect_task(e, 5, 1, 1, NULL);
	assert_int_equal(submit_data(e, "{\"kernel\":\"noop\",\"after\":[1]}", NULL), 2);
	expect_state(e, 2, TASK_WAITING, 0, NULL);
	assert_int_equal(count_of(e, TASK_WAITING), 1);
	/* one batch: 3; 4 after 3; 5 after 4; 6 after 3 whatever its
	 * outcome (tasks of the same batch are named by their keys) */
	id = submit_data(e, "{\"tasks\":[{\"kernel\":\"noop\",\"key\":\"c\"},"
			    "{\"kernel\":\"noop\",\"after\":[\"c\"],\"key\":\"d\"},"
			    "{\"kernel\":\"noop\",\"after\":[\"d\"]},"
			    "{\"kernel\":\"noop\",\"after\":[\"c\"],\"after_any\":true}]}", &last);
	assert_int_equal(id, 3);
	assert_int_equal(last, 6);
	expect_task(e, 5, 3, 1, NULL);
	assert_int_equal(count_of(e, TASK_WAITING), 4);
	assert_false(pop_task(e, 5, &t));	/* waiting tasks are not dispatched */

	/* 1 DONE releases 2 */
	c = comp_for(1, 1, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	expect_task(e, 5, 2, 1, NULL);
	expect_state(e, 2, TASK_QUEUED, 0, NULL);
	assert_int_equal(count_of(e, TASK_WAITING), 3);

	/* 3 FAILED: 4 and 5 are cancelled, 6 runs */
	c = comp_for(3, 1, KERNEL_FAILED);
	push_comp(e, &c);
	ring_store(e);
	expect_task(e, 5, 6, 1, NULL);
	expect_state(e, 4, TASK_CANCELLED, 0, "dependency_failed");
	expect_state(e, 5, TASK_CANCELLED, 0, "dependency_failed");
	expect_state(e, 6, TASK_QUEUED, 0, NULL);
	assert_int_equal(count_of(e, TASK_WAITING), 0);
	assert_int_equal(count_of(e, TASK_CANCELLED), 2);

	/* after a task that already failed: cancelled at once */
	id = submit_data(e, "{\"kernel\":\"noop\",\"after\":[3]}", NULL);
	assert_int_equal(id, 7);
	expect_state(e, 7, TASK_CANCELLED, 0, "dependency_failed");
	/* after a task that does not exist: refused, nothing created */
	req = make_req("TASK_SUBMIT", "{\"kernel\":\"noop\",\"after\":[999]}");
	request_wait(e, req);
	assert_int_equal(req->err, FORQ_EDEPENDENCY);
	assert_true(req->errmsg[0] != '\0');
	assert_int_equal(req->created, 0);
	store_req_free(req);
	assert_int_equal(atomic_load(&e->st.last_id), 7);

	/* 8 waits on 2, 9 on 2 and 6 (both QUEUED) across a restart */
	id = submit_data(e, "{\"kernel\":\"noop\",\"after\":[2],\"priority\":1}", NULL);
	assert_int_equal(id, 8);
	id = submit_data(e, "{\"kernel\":\"noop\",\"after\":[2,6],\"priority\":2}", NULL);
	assert_int_equal(id, 9);
	env_close(e);
	env_new_shm(e);
	env_open(e, false);
	assert_int_equal(count_of(e, TASK_WAITING), 2);
	env_start(e);
	expect_task(e, 5, 2, 1, NULL);
	expect_task(e, 5, 6, 1, NULL);
	c = comp_for(2, 1, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	expect_task(e, 1, 8, 1, NULL);
	expect_state(e, 9, TASK_WAITING, 0, NULL);	/* still waits for 6 */
	assert_false(pop_task(e, 2, &t));
	c = comp_for(6, 1, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	expect_task(e, 2, 9, 1, NULL);
	assert_int_equal(count_of(e, TASK_WAITING), 0);
}

static void
test_keys_arrays(void **state)
{
	struct env *e = *state;
	struct store_submit *req;
	struct shm_task t;
	struct rec *r = &e->rec[0];
	uint64_t id, last;

	env_open(e, false);
	env_start(e);
	/* an idempotency key: the second submission returns the first task */
	assert_int_equal(submit_data(e, "{\"kernel\":\"noop\",\"key\":\"job-1\"}", NULL), 1);
	req = make_req("TASK_SUBMIT", "{\"kernel\":\"noop\",\"key\":\"job-1\"}");
	request_wait(e, req);
	assert_int_equal(req->err, 0);
	assert_int_equal(req->created, 0);
	assert_int_equal(req->ntasks, 1);
	assert_int_equal(req->existing[0], 1);
	assert_int_equal(req->task_ids[0], 1);
	store_req_free(req);
	assert_int_equal(atomic_load(&e->st.last_id), 1);
	get_rec(e, 1, r);
	assert_int_equal(r->r.key_len, 5);
	assert_memory_equal(r->r.key, "job-1", 5);
	expect_task(e, 5, 1, 1, NULL);
	assert_false(pop_task(e, 5, &t));

	/* an array: one task per index, in order */
	id = submit_data(e, "{\"kernel\":\"noop\",\"array\":\"0-9:3\",\"priority\":4}", &last);
	assert_int_equal(id, 2);
	assert_int_equal(last, 5);
	for (id = 2; id <= 5; id++) {
		expect_task(e, 4, id, 1, &t);
		assert_int_equal(t.flags & SHM_T_ARRAY, SHM_T_ARRAY);
		assert_int_equal(t.array_index, (id - 2) * 3);
		get_rec(e, id, r);
		assert_int_equal(r->r.flags & TASK_F_ARRAY, TASK_F_ARRAY);
		assert_int_equal(r->r.array_index, (id - 2) * 3);
	}
	/* an array under a key: resubmitting names its first task */
	id = submit_data(e, "{\"kernel\":\"noop\",\"array\":\"1-3\",\"key\":\"arr\"}", &last);
	assert_int_equal(id, 6);
	assert_int_equal(last, 8);
	req = make_req("TASK_SUBMIT", "{\"kernel\":\"noop\",\"array\":\"1-3\",\"key\":\"arr\"}");
	request_wait(e, req);
	assert_int_equal(req->err, 0);
	assert_int_equal(req->existing[0], 1);
	assert_int_equal(req->task_ids[0], 6);
	assert_int_equal(req->created, 0);
	store_req_free(req);
	assert_int_equal(count_of(e, TASK_QUEUED), 8);
}

/* A retry delay holds the next attempt back; retried attempts are recorded. */
static void
test_retry_delay_history(void **state)
{
	struct env *e = *state;
	struct attempts at = { 0 };
	struct shm_task t;
	struct shm_comp c;
	uint64_t id, t0, waited;

	env_open(e, false);
	env_start(e);
	id = submit_data(e, "{\"kernel\":\"noop\",\"retries\":2,\"retry_delay\":\"200ms\"}", NULL);
	expect_task(e, 5, id, 1, NULL);
	c = comp_for(id, 1, KERNEL_FAILED);
	push_comp(e, &c);
	t0 = sys_now_ns();
	ring_store(e);
	WAIT_UNTIL(pop_task(e, 5, &t), "the delayed retry");
	waited = sys_now_ns() - t0;
	assert_int_equal(t.id, id);
	assert_int_equal(t.attempt, 2);
	if (waited < 150000000ull)
		fail_msg("retried after %llu ms, before its 200 ms delay",
			 (unsigned long long)(waited / 1000000));
	expect_state(e, id, TASK_QUEUED, 1, "exit_3");
	c = comp_for(id, 2, KERNEL_DONE);
	push_comp(e, &c);
	ring_store(e);
	WAIT_UNTIL(count_of(e, TASK_DONE) == 1, "DONE after the retry");
	/* the history holds the retried attempt; the last one is the record */
	assert_int_equal(store_get_attempts(&e->st, id, copy_attempt, &at), 0);
	assert_int_equal(at.n, 1);
	assert_int_equal(at.num[0], 1);
	assert_int_equal(at.a[0].outcome, TASK_QUEUED);	/* retried */
	assert_string_equal(at.a[0].reason, "exit_3");
	assert_int_equal(at.a[0].exit_code, 3);
	assert_int_equal(at.a[0].term_signal, 15);
	assert_int_equal(at.a[0].worker, (int)(id % 4));
	assert_true(at.a[0].start_ns == 1000000000ull * id);
	assert_true(at.a[0].end_ns == 1000000000ull * id + 12345);
	get_rec(e, id, &e->rec[0]);
	assert_int_equal(e->rec[0].r.attempts, 2);
	assert_int_equal(e->rec[0].r.exit_code, 0);
	/* a task with no attempts has no history */
	memset(&at, 0, sizeof(at));
	id = submit_n(e, "{\"kernel\":\"noop\"}", 1);
	assert_int_equal(store_get_attempts(&e->st, id, copy_attempt, &at), 0);
	assert_int_equal(at.n, 0);
	assert_int_equal(store_get_attempts(&e->st, 999, copy_attempt, &at), 0);
	assert_int_equal(at.n, 0);
}

/*
 * Invariants 1 and 2 (DESIGN): a task reaches a ring only after its
 * record is committed, and a submission is answered only after its
 * records are committed.  The test takes each task out of the ring the
 * moment it appears, and looks for its record in a new read transaction
 * at once; it also checks every record as soon as the answer is out.
 */
static void
test_commit_before_dispatch(void **state)
{
	struct env *e = *state;
	struct store_submit *sub, *done = NULL;
	unsigned char item[64];
	unsigned popped = 0, n = 300;
	uint64_t end;

	env_open(e, false);
	env_start(e);
	sub = make_sub("{\"kernel\":\"noop\"}", n);
	store_submit(&e->st, sub);
	end = sys_now_ns() + WAIT_NS;
	while ((popped < n || !done) && sys_now_ns() < end) {
		struct shm_task t;
		struct rec r;

		if (!done && (done = store_take_done(&e->st))) {
			/* answered: every record of the batch is readable now */
			for (uint64_t id = done->first; id <= done->last; id++)
				assert_int_equal(store_get(&e->st, id, copy_rec, &r), 0);
		}
		if (ring_try_pop(shm_ring(&e->shm, 5), 1, item)) {
			shm_task_unpack(item, &t);
			/* in the ring: its record is committed already */
			assert_int_equal(store_get(&e->st, t.id, copy_rec, &r), 0);
			assert_int_equal(r.r.state, TASK_QUEUED);
			popped++;
		}
	}
	assert_int_equal(popped, n);
	assert_non_null(done);
	assert_int_equal(done->err, 0);
	assert_int_equal(done->last - done->first + 1, n);
	store_req_free(done);
	env_close(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_empty, setup_1024, env_teardown),
		cmocka_unit_test_setup_teardown(test_submit_complete, setup_1024, env_teardown),
		cmocka_unit_test_setup_teardown(test_commit_before_dispatch, setup_1024, env_teardown),
		cmocka_unit_test_setup_teardown(test_lost_and_retry, setup_1024, env_teardown),
		cmocka_unit_test_setup_teardown(test_backlog_refill, setup_16, env_teardown),
		cmocka_unit_test_setup_teardown(test_priorities, setup_16, env_teardown),
		cmocka_unit_test_setup_teardown(test_restart_recovery, setup_16, env_teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup_16, env_teardown),
		cmocka_unit_test_setup_teardown(test_dependencies, setup_1024, env_teardown),
		cmocka_unit_test_setup_teardown(test_keys_arrays, setup_1024, env_teardown),
		cmocka_unit_test_setup_teardown(test_retry_delay_history, setup_1024, env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
