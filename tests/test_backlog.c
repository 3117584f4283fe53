/*
 * test_backlog — the per-priority id FIFO: order kept across growth,
 * shrink and wrap-around of the circular buffer, a million ids, the empty
 * queue, and memory that follows the backlog back down after draining.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "backlog.h"

static void
test_empty(void **state)
{
	struct backlog_q q = { 0 };
	uint64_t id = 77;

	(void)state;
	assert_int_equal(backlog_len(&q), 0);
	assert_false(backlog_peek(&q, &id));
	assert_int_equal(id, 77);	/* untouched */
	backlog_pop(&q);		/* no-op on empty */
	assert_int_equal(backlog_len(&q), 0);
	assert_int_equal(backlog_bytes(&q), 0);
	/* Drained queues behave as empty ones, too. */
	assert_int_equal(backlog_push(&q, 5), 0);
	assert_true(backlog_peek(&q, &id));
	assert_int_equal(id, 5);
	assert_int_equal(backlog_len(&q), 1);	/* peek does not remove */
	backlog_pop(&q);
	assert_false(backlog_peek(&q, &id));
	backlog_pop(&q);
	assert_int_equal(backlog_len(&q), 0);
	backlog_free(&q);
	assert_int_equal(backlog_bytes(&q), 0);
	backlog_free(&q);		/* twice is harmless */
}

/*
 * Interleave pushes and pops so the head wraps around while the buffer
 * grows and shrinks; every id must come out in order.
 */
static void
test_fifo_wrap_grow_shrink(void **state)
{
	struct backlog_q q = { 0 };
	uint64_t next_in = 1, next_out = 1, id;
	/* phases: (pushes, pops) — grow with a wrapped head, shrink, regrow */
	static const struct {
		unsigned push, pop;
	} phase[] = {
		{ 1000, 600 }, { 1000, 0 }, { 5000, 3000 }, { 100, 3400 },
		{ 20000, 19000 }, { 0, 1000 }, { 3000, 2500 }, { 0, 600 },
	};

	(void)state;
	for (size_t p = 0; p < sizeof(phase) / sizeof(phase[0]); p++) {
		/* alternate in small steps so pops see both states */
		unsigned pu = phase[p].push, po = phase[p].pop;

		while (pu || po) {
			for (unsigned k = 0; k < 7 && pu; k++, pu--)
				assert_int_equal(backlog_push(&q, next_in++), 0);
			for (unsigned k = 0; k < 5 && po; k++, po--) {
				if (!backlog_peek(&q, &id)) {
					if (!pu)
						fail_msg("phase %zu: empty with pops left", p);
					break;
				}
				if (id != next_out)
					fail_msg("popped %llu, want %llu", (unsigned long long)id,
						 (unsigned long long)next_out);
				backlog_pop(&q);
				next_out++;
			}
		}
		assert_int_equal(backlog_len(&q), next_in - next_out);
		/* cap is a power of two holding everything */
		assert_true(q.cap == 0 || (q.cap & (q.cap - 1)) == 0);
		assert_true(q.len <= q.cap);
	}
	while (backlog_peek(&q, &id)) {
		assert_int_equal(id, next_out);
		backlog_pop(&q);
		next_out++;
	}
	assert_int_equal(next_out, next_in);
	backlog_free(&q);
}

static void
test_million(void **state)
{
	const uint64_t n = 1000000;
	struct backlog_q q = { 0 };
	size_t peak;
	uint64_t id;

	(void)state;
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(backlog_push(&q, i * 3 + 1), 0);
	assert_int_equal(backlog_len(&q), n);
	peak = backlog_bytes(&q);
	assert_true(peak >= n * sizeof(uint64_t));
	assert_true(peak <= 2 * n * sizeof(uint64_t) + 8192);	/* ~8 bytes a task */
	for (uint64_t i = 0; i < n; i++) {
		if (!backlog_peek(&q, &id) || id != i * 3 + 1)
			fail_msg("id %llu: got %llu", (unsigned long long)i,
				 (unsigned long long)id);
		backlog_pop(&q);
	}
	assert_false(backlog_peek(&q, &id));
	assert_int_equal(backlog_len(&q), 0);
	/* Memory follows the backlog down: back to the minimum buffer. */
	assert_true(backlog_bytes(&q) <= 1024 * sizeof(uint64_t));
	assert_true(backlog_bytes(&q) < peak / 64);
	/* and the queue is still usable */
	assert_int_equal(backlog_push(&q, 9), 0);
	assert_true(backlog_peek(&q, &id));
	assert_int_equal(id, 9);
	backlog_free(&q);
	assert_int_equal(backlog_bytes(&q), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_fifo_wrap_grow_shrink),
		cmocka_unit_test(test_million),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
