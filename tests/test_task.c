/*
 * test_task — the task record: every cell of the [state][event] transition
 * table against an expected table written from task.h, state names, and
 * the packed record: a round trip of every field and variable part, the
 * documented big-endian offsets, and every malformed input task_unpack
 * must refuse (empty, unknown version, each truncated prefix, trailing
 * bytes, overflowing lengths, too many dependencies, RUNNING or unknown
 * state, priority > 9); and the attempt records the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

/* ---- helpers --------------------------------------------------------- */

/* Three dependency ids, big-endian as the record holds them. */
static const unsigned char deps3[24] = {
	0, 0, 0, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0, 0, 1, 0,
	0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
};

/* A record with every fixed field distinct and non-zero. */
static struct task_rec
full_rec(const char *reason, const char *name, const unsigned char *blob, uint32_t blob_len,
	 const char *result)
{
	struct task_rec r = {
		.state = TASK_FAILED,
		.prio = 9,
		.flags = TASK_F_ARRAY | TASK_F_AFTER_ANY,
		.kernel = 0xbeef,
		.attempts = 0x1234,
		.retries = 0x0102,
		.timeout_ms = 0xfedcba98u,
		.exit_code = -2,
		.term_signal = 9,
		.submit_ns = 0x0102030405060708ull,
		.start_ns = 0x1112131415161718ull,
		.end_ns = 0xf1f2f3f4f5f6f7f8ull,
		.worker = -1,
		.cpu = 0x7ffffffe,
		.user_us = 0xa1a2a3a4a5a6a7a8ull,
		.sys_us = 42,
		.maxrss_kb = UINT64_MAX,
		.array_index = 0x89abcdefu,
		.retry_delay_ms = 0x01020304u,
	};

	r.reason = reason;
	r.reason_len = (uint8_t)(reason ? strlen(reason) : 0);
	r.name = name;
	r.name_len = (uint16_t)(name ? strlen(name) : 0);
	r.blob = blob;
	r.blob_len = blob_len;
	r.result = result;
	r.result_len = (uint32_t)(result ? strlen(result) : 0);
	return r;
}

static unsigned char *
pack(const struct task_rec *r, size_t *n)
{
	unsigned char *buf;

	*n = task_packed_size(r);
	buf = malloc(*n);
	assert_non_null(buf);
	task_pack(r, buf);
	return buf;
}

static void
assert_same_var(const void *a, size_t alen, const void *b, size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen)
		assert_memory_equal(a, b, alen);
}

static void
assert_same_rec(const struct task_rec *a, const struct task_rec *b)
{
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->prio, b->prio);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->kernel, b->kernel);
	assert_int_equal(a->attempts, b->attempts);
	assert_int_equal(a->retries, b->retries);
	assert_int_equal(a->timeout_ms, b->timeout_ms);
	assert_int_equal(a->exit_code, b->exit_code);
	assert_int_equal(a->term_signal, b->term_signal);
	assert_true(a->submit_ns == b->submit_ns);
	assert_true(a->start_ns == b->start_ns);
	assert_true(a->end_ns == b->end_ns);
	assert_int_equal(a->worker, b->worker);
	assert_int_equal(a->cpu, b->cpu);
	assert_true(a->user_us == b->user_us);
	assert_true(a->sys_us == b->sys_us);
	assert_true(a->maxrss_kb == b->maxrss_kb);
	assert_int_equal(a->array_index, b->array_index);
	assert_int_equal(a->retry_delay_ms, b->retry_delay_ms);
	assert_int_equal(a->ndeps, b->ndeps);
	assert_same_var(a->deps, (size_t)a->ndeps * 8, b->deps, (size_t)b->ndeps * 8);
	assert_same_var(a->key, a->key_len, b->key, b->key_len);
	assert_same_var(a->reason, a->reason_len, b->reason, b->reason_len);
	assert_same_var(a->name, a->name_len, b->name, b->name_len);
	assert_same_var(a->blob, a->blob_len, b->blob, b->blob_len);
	assert_same_var(a->result, a->result_len, b->result, b->result_len);
}

/* ---- states and the transition table --------------------------------- */

static void
test_transition_table(void **state)
{
	/* Expected table, written from task.h's event comments: RUNNING is
	 * live only, but the store applies attempt ends to QUEUED records, so
	 * QUEUED and RUNNING accept the same ends; terminal states accept
	 * nothing. */
	static const int live[] = { TASK_QUEUED, TASK_RUNNING };
	int want[TASK_STATE__COUNT][TEV__COUNT];

	(void)state;
	for (int s = 0; s < TASK_STATE__COUNT; s++)
		for (int e = 0; e < TEV__COUNT; e++)
			want[s][e] = -1;
	want[TASK_WAITING][TEV_RELEASE] = TASK_QUEUED;
	want[TASK_WAITING][TEV_CANCEL] = TASK_CANCELLED;
	for (int i = 0; i < 2; i++) {
		int s = live[i];

		want[s][TEV_DONE] = TASK_DONE;
		want[s][TEV_FAIL] = TASK_FAILED;
		want[s][TEV_TIMEOUT] = TASK_TIMEOUT;
		want[s][TEV_LOST] = TASK_LOST;
		want[s][TEV_RETRY] = TASK_QUEUED;
		want[s][TEV_CANCEL] = TASK_CANCELLED;
	}
	want[TASK_QUEUED][TEV_START] = TASK_RUNNING;

	for (int s = 0; s < TASK_STATE__COUNT; s++) {
		for (int e = 0; e < TEV__COUNT; e++) {
			int got = task_transition((enum task_state)s, (enum task_event)e);

			if (got != want[s][e])
				fail_msg("transition [%s][%d]: got %d, want %d",
					 task_state_name((enum task_state)s), e, got, want[s][e]);
			/* Terminal states refuse every event. */
			if (task_state_terminal((enum task_state)s))
				assert_int_equal(got, -1);
			/* RUNNING is reached only by START: it is never the
			 * result of an event that the store persists. */
			if (got == TASK_RUNNING)
				assert_true(s == TASK_QUEUED && e == TEV_START);
		}
	}
	/* Out-of-range arguments are refused, not read past. */
	assert_int_equal(task_transition(TASK_STATE__COUNT, TEV_DONE), -1);
	assert_int_equal(task_transition((enum task_state)-1, TEV_DONE), -1);
	assert_int_equal(task_transition(TASK_QUEUED, TEV__COUNT), -1);
	assert_int_equal(task_transition(TASK_QUEUED, (enum task_event)-1), -1);
}

static void
test_terminal(void **state)
{
	(void)state;
	assert_false(task_state_terminal(TASK_QUEUED));
	assert_false(task_state_terminal(TASK_WAITING));
	assert_false(task_state_terminal(TASK_RUNNING));
	assert_true(task_state_terminal(TASK_DONE));
	assert_true(task_state_terminal(TASK_FAILED));
	assert_true(task_state_terminal(TASK_TIMEOUT));
	assert_true(task_state_terminal(TASK_LOST));
	assert_true(task_state_terminal(TASK_CANCELLED));
	assert_false(task_state_terminal(TASK_STATE__COUNT));
}

static void
test_state_names(void **state)
{
	static const char *const names[TASK_STATE__COUNT] = {
		"QUEUED", "WAITING", "RUNNING", "DONE", "FAILED", "TIMEOUT", "LOST", "CANCELLED",
	};
	char lower[32];

	(void)state;
	for (int s = 0; s < TASK_STATE__COUNT; s++) {
		size_t i;

		assert_string_equal(task_state_name((enum task_state)s), names[s]);
		assert_int_equal(task_state_parse(names[s]), s);
		for (i = 0; names[s][i]; i++)
			lower[i] = (char)(names[s][i] | 0x20);
		lower[i] = '\0';
		assert_int_equal(task_state_parse(lower), s);
		lower[0] = names[s][0];	/* mixed case */
		assert_int_equal(task_state_parse(lower), s);
	}
	assert_string_equal(task_state_name(TASK_STATE__COUNT), "UNKNOWN");
	assert_int_equal(task_state_parse("queue"), -1);
	assert_int_equal(task_state_parse("QUEUEDX"), -1);
	assert_int_equal(task_state_parse(""), -1);
	assert_int_equal(task_state_parse(NULL), -1);
}

/* ---- pack / unpack --------------------------------------------------- */

static void
test_roundtrip_full(void **state)
{
	static const unsigned char blob[] = { 0, 1, 2, 0xff, 0, 0x80 };
	char name[TASK_NAME_MAX + 1], reason[TASK_REASON_MAX + 1], key[TASK_KEY_MAX + 1];
	struct task_rec r, u;
	unsigned char *buf;
	size_t n;

	(void)state;
	memset(name, 'n', TASK_NAME_MAX);
	name[TASK_NAME_MAX] = '\0';
	memset(reason, 'r', TASK_REASON_MAX);
	reason[TASK_REASON_MAX] = '\0';
	memset(key, 'k', TASK_KEY_MAX);
	key[TASK_KEY_MAX] = '\0';
	r = full_rec(reason, name, blob, sizeof(blob), "{\"x\":[1,2,3]}");
	r.key = key;
	r.key_len = TASK_KEY_MAX;
	r.deps = deps3;
	r.ndeps = 3;
	buf = pack(&r, &n);
	assert_int_equal(n, TASK_REC_FIXED + TASK_REASON_MAX + TASK_NAME_MAX + TASK_KEY_MAX + 24 +
			    sizeof(blob) + 13);
	assert_int_equal(task_unpack(buf, n, &u), 0);
	assert_same_rec(&r, &u);
	assert_true(task_dep(&u, 0) == 1);
	assert_true(task_dep(&u, 1) == 256);
	assert_true(task_dep(&u, 2) == 0xffeeddccbbaa9988ull);
	/* The pointers borrow from the buffer, in the documented order:
	 * reason, name, key, dependency ids, blob, result. */
	assert_ptr_equal(u.reason, (const char *)buf + TASK_REC_FIXED);
	assert_ptr_equal(u.name, u.reason + u.reason_len);
	assert_ptr_equal(u.key, u.name + u.name_len);
	assert_ptr_equal(u.deps, (const unsigned char *)u.key + u.key_len);
	assert_ptr_equal(u.blob, u.deps + 24);
	assert_ptr_equal(u.result, (const char *)u.blob + u.blob_len);
	assert_ptr_equal(u.result + u.result_len, (const char *)buf + n);
	/* The documented big-endian layout, field by field. */
	assert_int_equal(buf[0], TASK_REC_VERSION);
	assert_int_equal(buf[1], TASK_FAILED);
	assert_int_equal(buf[2], 9);
	assert_int_equal(buf[3], TASK_F_ARRAY | TASK_F_AFTER_ANY);
	assert_int_equal(task_get_be(buf + 4, 2), 0xbeef);
	assert_int_equal(task_get_be(buf + 6, 2), 0x1234);
	assert_int_equal(task_get_be(buf + 8, 2), 0x0102);
	assert_int_equal(task_get_be(buf + 10, 2), TASK_NAME_MAX);
	assert_int_equal(task_get_be(buf + 12, 4), sizeof(blob));
	assert_int_equal(task_get_be(buf + 16, 4), 13);
	assert_int_equal(task_get_be(buf + 20, 4), 0xfffffffe);	/* exit code -2 */
	assert_int_equal(task_get_be(buf + 24, 4), 9);
	assert_int_equal(task_get_be(buf + 28, 4), 0xfedcba98);
	assert_true(task_get_be(buf + 32, 8) == r.submit_ns);
	assert_int_equal(buf[32], 0x01);			/* most significant first */
	assert_true(task_get_be(buf + 40, 8) == r.start_ns);
	assert_true(task_get_be(buf + 48, 8) == r.end_ns);
	assert_int_equal(task_get_be(buf + 56, 4), 0xffffffff);	/* worker -1 */
	assert_int_equal(task_get_be(buf + 60, 4), 0x7ffffffe);
	assert_true(task_get_be(buf + 64, 8) == r.user_us);
	assert_true(task_get_be(buf + 72, 8) == 42);
	assert_true(task_get_be(buf + 80, 8) == UINT64_MAX);
	assert_int_equal(task_get_be(buf + 88, 4), 0x89abcdef);
	assert_int_equal(task_get_be(buf + 92, 4), 0x01020304);
	assert_int_equal(task_get_be(buf + 96, 4), 3);
	assert_int_equal(buf[100], TASK_KEY_MAX);
	assert_int_equal(buf[101], TASK_REASON_MAX);
	free(buf);
}

static void
test_roundtrip_variants(void **state)
{
	static const unsigned char blob[] = { 7, 0, 7 };
	struct {
		const char *reason, *name, *key, *result;
		uint32_t ndeps;
		const unsigned char *blob;
		uint32_t blob_len;
	} cases[] = {
		{ NULL, NULL, NULL, NULL, 0, NULL, 0 },			/* all empty */
		{ "worker_lost", NULL, NULL, NULL, 0, NULL, 0 },
		{ NULL, "job", NULL, NULL, 0, NULL, 0 },
		{ NULL, NULL, "k1", NULL, 0, NULL, 0 },
		{ NULL, NULL, NULL, NULL, 1, NULL, 0 },
		{ NULL, NULL, NULL, NULL, 0, blob, sizeof(blob) },
		{ NULL, NULL, NULL, "{}", 0, NULL, 0 },
		{ "r", NULL, NULL, "[]", 2, blob, 1 },
		{ NULL, "n", "key", NULL, 3, blob, sizeof(blob) },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct task_rec r = full_rec(cases[i].reason, cases[i].name, cases[i].blob,
					     cases[i].blob_len, cases[i].result), u;
		unsigned char *buf;
		size_t n;

		r.key = cases[i].key;
		r.key_len = (uint8_t)(cases[i].key ? strlen(cases[i].key) : 0);
		r.deps = cases[i].ndeps ? deps3 : NULL;
		r.ndeps = cases[i].ndeps;
		r.state = (uint8_t)(i % 2 ? TASK_QUEUED : TASK_CANCELLED);
		r.prio = (uint8_t)i;
		r.flags = (uint8_t)(i % 3);
		buf = pack(&r, &n);
		assert_int_equal(task_unpack(buf, n, &u), 0);
		assert_same_rec(&r, &u);
		free(buf);
	}
	/* Every storable state round-trips. */
	for (int s = 0; s < TASK_STATE__COUNT; s++) {
		struct task_rec r = full_rec(NULL, NULL, NULL, 0, NULL), u;
		unsigned char buf[TASK_REC_FIXED];

		if (s == TASK_RUNNING)
			continue;
		r.state = (uint8_t)s;
		task_pack(&r, buf);
		assert_int_equal(task_unpack(buf, sizeof(buf), &u), 0);
		assert_int_equal(u.state, s);
	}
}

static void
test_be_helpers(void **state)
{
	unsigned char b[8], k1[8], k2[8];

	(void)state;
	task_put_be(b, 0x0102030405060708ull, 8);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(task_get_be(b, 8) == 0x0102030405060708ull);
	task_put_be(b, 0xabcd, 2);
	assert_int_equal(b[0], 0xab);
	assert_int_equal(b[1], 0xcd);
	assert_int_equal(task_get_be(b, 2), 0xabcd);
	/* Big-endian keys sort like the numbers. */
	task_put_be(k1, 255, 8);
	task_put_be(k2, 256, 8);
	assert_true(memcmp(k1, k2, 8) < 0);
}

static void
test_unpack_refuses(void **state)
{
	static const unsigned char blob[] = { 1, 2, 3, 4 };
	struct task_rec r = full_rec("why", "name", blob, sizeof(blob), "{\"a\":1}"), u;
	unsigned char *buf, *big;
	size_t n;

	(void)state;
	r.key = "key";
	r.key_len = 3;
	r.deps = deps3;
	r.ndeps = 3;
	buf = pack(&r, &n);

	/* empty */
	assert_int_equal(task_unpack(buf, 0, &u), -EBADMSG);
	/* unknown versions */
	for (int v = 0; v < 256; v++) {
		unsigned char save = buf[0];

		if (v == TASK_REC_VERSION)
			continue;
		buf[0] = (unsigned char)v;
		assert_int_equal(task_unpack(buf, n, &u), -EPROTO);
		assert_int_equal(task_unpack(buf, 1, &u), -EPROTO);
		buf[0] = save;
	}
	/* every truncated prefix; a copy of exactly that length so ASan
	 * catches any read past it */
	for (size_t len = 1; len < n; len++) {
		unsigned char *p = malloc(len);

		assert_non_null(p);
		memcpy(p, buf, len);
		if (task_unpack(p, len, &u) != -EBADMSG)
			fail_msg("prefix of %zu of %zu bytes not refused", len, n);
		free(p);
	}
	/* trailing bytes */
	big = malloc(n + 1);
	assert_non_null(big);
	memcpy(big, buf, n);
	big[n] = 0;
	assert_int_equal(task_unpack(big, n + 1, &u), -EBADMSG);
	free(big);
	/* the intact record still parses */
	assert_int_equal(task_unpack(buf, n, &u), 0);

	/* lengths that overflow or disagree with the size */
	{
		unsigned char save[8];

		memcpy(save, buf + 12, 8);
		task_put_be(buf + 12, UINT32_MAX, 4);		/* blob length */
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		task_put_be(buf + 16, UINT32_MAX, 4);		/* and result length */
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		memcpy(buf + 12, save, 8);
		/* blob one longer, result one shorter: same total, still
		 * consistent, so accepted (the split is the record's own) */
		task_put_be(buf + 12, sizeof(blob) + 1, 4);
		task_put_be(buf + 16, 6, 4);
		assert_int_equal(task_unpack(buf, n, &u), 0);
		memcpy(buf + 12, save, 8);
		task_put_be(buf + 10, 0xffff, 2);		/* name length */
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		task_put_be(buf + 10, TASK_NAME_MAX + 1, 2);
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		task_put_be(buf + 10, 4, 2);
		buf[101] = 0xff;				/* reason length */
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		buf[101] = TASK_REASON_MAX + 1;
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		buf[101] = 3;
		buf[100] = 0xff;				/* key length */
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		buf[100] = 3;
		/* dependencies: times 8 overflows u32 */
		task_put_be(buf + 96, UINT32_MAX, 4);
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		task_put_be(buf + 96, 0x20000000u, 4);		/* * 8 wraps to 0 in u32 */
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		task_put_be(buf + 96, TASK_DEPS_MAX + 1, 4);
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		task_put_be(buf + 96, 4, 4);
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
		task_put_be(buf + 96, 3, 4);
		assert_int_equal(task_unpack(buf, n, &u), 0);
		assert_same_rec(&r, &u);
	}
	/* state RUNNING (never stored) or out of range */
	buf[1] = TASK_RUNNING;
	assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
	for (int s = TASK_STATE__COUNT; s < 256; s++) {
		buf[1] = (unsigned char)s;
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
	}
	buf[1] = TASK_DONE;
	assert_int_equal(task_unpack(buf, n, &u), 0);
	/* priority > 9 */
	for (int p = 10; p < 256; p++) {
		buf[2] = (unsigned char)p;
		assert_int_equal(task_unpack(buf, n, &u), -EBADMSG);
	}
	buf[2] = 9;
	assert_int_equal(task_unpack(buf, n, &u), 0);
	buf[2] = 0;
	assert_int_equal(task_unpack(buf, n, &u), 0);
	free(buf);
}

/* ---- attempt records ------------------------------------------------- */

static void
test_attempt_roundtrip(void **state)
{
	struct task_attempt a = {
		.outcome = TASK_TIMEOUT,
		.worker = -1,
		.cpu = 0x12345678,
		.exit_code = -3,
		.term_signal = 9,
		.start_ns = 0x0102030405060708ull,
		.end_ns = UINT64_MAX,
	}, b;
	unsigned char buf[TASK_ATT_FIXED + TASK_REASON_MAX];
	size_t n;

	(void)state;
	for (int len = 0; len <= (int)TASK_REASON_MAX; len += 21) {
		memset(a.reason, 0, sizeof(a.reason));
		memset(a.reason, 'a' + len % 26, (size_t)len);
		a.reason_len = (uint8_t)len;
		n = task_attempt_pack(&a, buf);
		assert_int_equal(n, TASK_ATT_FIXED + (size_t)len);
		memset(&b, 0x55, sizeof(b));
		assert_int_equal(task_attempt_unpack(buf, n, &b), 0);
		assert_int_equal(b.outcome, a.outcome);
		assert_int_equal(b.worker, a.worker);
		assert_int_equal(b.cpu, a.cpu);
		assert_int_equal(b.exit_code, a.exit_code);
		assert_int_equal(b.term_signal, a.term_signal);
		assert_true(b.start_ns == a.start_ns);
		assert_true(b.end_ns == a.end_ns);
		assert_int_equal(b.reason_len, len);
		assert_string_equal(b.reason, a.reason);	/* NUL-terminated */
	}
	/* the documented layout */
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], TASK_TIMEOUT);
	assert_int_equal(task_get_be(buf + 2, 2), 0xffff);
	assert_int_equal(task_get_be(buf + 4, 4), 0x12345678);
	assert_int_equal(task_get_be(buf + 12, 4), 9);
	assert_true(task_get_be(buf + 16, 8) == a.start_ns);
	assert_int_equal(buf[32], a.reason_len);
	/* "retried" is recorded as QUEUED */
	a.outcome = TASK_QUEUED;
	a.reason_len = 0;
	n = task_attempt_pack(&a, buf);
	assert_int_equal(task_attempt_unpack(buf, n, &b), 0);
	assert_int_equal(b.outcome, TASK_QUEUED);
	assert_string_equal(b.reason, "");
}

static void
test_attempt_refuses(void **state)
{
	struct task_attempt a = { .outcome = TASK_DONE, .worker = 3, .cpu = 1, .reason_len = 5 }, b;
	unsigned char buf[TASK_ATT_FIXED + TASK_REASON_MAX + 1];
	size_t n;

	(void)state;
	memcpy(a.reason, "hello", 6);
	n = task_attempt_pack(&a, buf);
	assert_int_equal(task_attempt_unpack(buf, 0, &b), -EBADMSG);
	for (size_t len = 1; len < n; len++) {
		unsigned char *p = malloc(len);

		assert_non_null(p);
		memcpy(p, buf, len);
		if (task_attempt_unpack(p, len, &b) != -EBADMSG)
			fail_msg("attempt prefix of %zu of %zu bytes not refused", len, n);
		free(p);
	}
	buf[n] = 0;
	assert_int_equal(task_attempt_unpack(buf, n + 1, &b), -EBADMSG);
	buf[0] = 2;
	assert_int_equal(task_attempt_unpack(buf, n, &b), -EPROTO);
	buf[0] = 0;
	assert_int_equal(task_attempt_unpack(buf, n, &b), -EPROTO);
	buf[0] = 1;
	buf[1] = TASK_STATE__COUNT;
	assert_int_equal(task_attempt_unpack(buf, n, &b), -EBADMSG);
	buf[1] = TASK_DONE;
	buf[32] = TASK_REASON_MAX + 1;
	assert_int_equal(task_attempt_unpack(buf, TASK_ATT_FIXED + TASK_REASON_MAX + 1, &b),
			 -EBADMSG);
	buf[32] = 5;
	assert_int_equal(task_attempt_unpack(buf, n, &b), 0);
	assert_string_equal(b.reason, "hello");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_terminal),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_roundtrip_full),
		cmocka_unit_test(test_roundtrip_variants),
		cmocka_unit_test(test_be_helpers),
		cmocka_unit_test(test_unpack_refuses),
		cmocka_unit_test(test_attempt_roundtrip),
		cmocka_unit_test(test_attempt_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
