/*
 * test_duration — the duration grammar: every accepted form with its
 * value, every refused form with its error, rounding, the range limit, and
 * that duration_format() writes what duration_parse() reads back.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "duration.h"

static void
test_valid(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} cases[] = {
		{ "0", 0 },
		{ "0s", 0 },
		{ "0ms", 0 },
		{ "250ms", 250 },
		{ "10s", 10000 },
		{ "5m", 300000 },
		{ "1h", 3600000 },
		{ "10", 10000 },
		{ "1.5", 1500 },
		{ "0.25s", 250 },
		{ "0.25", 250 },
		{ "1.5m", 90000 },
		{ "0.5h", 1800000 },
		{ "1m30s", 90000 },
		{ "1h30m", 5400000 },
		{ "1h5s", 3605000 },
		{ "1h2m3s4ms", 3723004 },
		{ "1m30.5s", 90500 },
		{ "007s", 7000 },
		{ "1.0005s", 1001 },       /* 1000.5 ms rounds half up */
		{ "1.0004s", 1000 },
		{ "1.5ms", 2 },
		{ "0.0001", 1 },           /* non-zero never becomes "none" */
		{ "0.000000000001s", 1 },  /* beyond the digits that round */
		{ "0.000", 0 },
		{ "3.1415926535897932s", 3142 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = UINT64_MAX;

		assert_int_equal(duration_parse(cases[i].s, &ms), 0);
		if (ms != cases[i].ms)
			fail_msg("\"%s\": got %llu ms, want %llu", cases[i].s,
				 (unsigned long long)ms, (unsigned long long)cases[i].ms);
	}
}

static void
test_invalid(void **state)
{
	static const char *const bad[] = {
		"", "-1", "-1s", "+1", "+1s", "s", "ms", ".5", "1.", "1.s", "1..5", "1e3",
		"1x", "1S", "1H", "1 s", " 1s", "1s ", "1sec", "1min", "1d", "1us",
		"1s2m", "1s1s", "1ms1s", "1m1m", "1h30", "1s5", "0x10", "1,5", "1.5.5",
		"abc", "nan", "inf", "1s\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 12345;

		if (duration_parse(bad[i], &ms) != -EINVAL)
			fail_msg("\"%s\" was not refused with -EINVAL", bad[i]);
		assert_int_equal(ms, 12345);    /* untouched on failure */
	}
	assert_int_equal(duration_parse(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void
test_range(void **state)
{
	char max[32], over[32];
	uint64_t ms;

	(void)state;
	snprintf(max, sizeof(max), "%llums", (unsigned long long)DURATION_MAX_MS);
	snprintf(over, sizeof(over), "%llums", (unsigned long long)DURATION_MAX_MS + 1);
	assert_int_equal(duration_parse(max, &ms), 0);
	assert_int_equal(ms, DURATION_MAX_MS);
	assert_int_equal(duration_parse(over, &ms), -ERANGE);
	assert_int_equal(duration_parse("99999999999999999999999", &ms), -ERANGE);
	assert_int_equal(duration_parse("99999999999999h", &ms), -ERANGE);
	assert_int_equal(duration_parse("5124095h", &ms), 0);
	assert_int_equal(duration_parse("5124096h", &ms), -ERANGE);
	/* the sum of terms overflows though each term fits */
	assert_int_equal(duration_parse("5124095h59m", &ms), -ERANGE);
}

static void
test_from_seconds(void **state)
{
	uint64_t ms = 7;

	(void)state;
	assert_int_equal(duration_from_seconds(0, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(duration_from_seconds(1.5, &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(duration_from_seconds(0.25, &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(duration_from_seconds(1e-9, &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(duration_from_seconds(3600, &ms), 0);
	assert_int_equal(ms, 3600000);
	ms = 7;
	assert_int_equal(duration_from_seconds(-0.001, &ms), -EINVAL);
	assert_int_equal(duration_from_seconds(NAN, &ms), -EINVAL);
	assert_int_equal(duration_from_seconds(INFINITY, &ms), -ERANGE);
	assert_int_equal(duration_from_seconds(1e300, &ms), -ERANGE);
	assert_int_equal(ms, 7);
}

static void
test_format(void **state)
{
	static const struct {
		uint64_t ms;
		const char *s;
	} cases[] = {
		{ 0, "0s" },
		{ 1, "1ms" },
		{ 250, "250ms" },
		{ 999, "999ms" },
		{ 1000, "1s" },
		{ 1500, "1.5s" },
		{ 1250, "1.25s" },
		{ 1005, "1.005s" },
		{ 10000, "10s" },
		{ 60000, "1m" },
		{ 90000, "1m30s" },
		{ 90500, "1m30.5s" },
		{ 3600000, "1h" },
		{ 3605000, "1h5s" },
		{ 3600500, "1h0.5s" },
		{ 5400000, "1h30m" },
		{ 3723004, "1h2m3.004s" },
		{ 90000000, "25h" },
	};
	char buf[DURATION_FMT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		duration_format(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].s);
	}
}

static void
test_format_truncates(void **state)
{
	char buf[4] = "xyz";

	(void)state;
	duration_format(90000, buf, sizeof(buf));
	assert_string_equal(buf, "1m3");
	duration_format(90000, buf, 1);
	assert_string_equal(buf, "");
	duration_format(90000, buf, 0);     /* nothing written */
	assert_string_equal(buf, "");
}

/* Whatever duration_format() writes, duration_parse() reads back exactly. */
static void
test_round_trip(void **state)
{
	static const uint64_t fixed[] = { 0, 1, 999, 1000, 1001, 59999, 60000, 3599999,
					  3600000, 86400000, DURATION_MAX_MS, DURATION_MAX_MS - 1 };
	char buf[DURATION_FMT_MAX];
	uint64_t x = 0x9e3779b97f4a7c15u, ms;

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		duration_format(fixed[i], buf, sizeof(buf));
		assert_int_equal(duration_parse(buf, &ms), 0);
		assert_int_equal(ms, fixed[i]);
	}
	for (int i = 0; i < 100000; i++) {
		uint64_t v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* spread the values over every magnitude */
		v = (x >> (x % 64)) % (DURATION_MAX_MS + 1);
		duration_format(v, buf, sizeof(buf));
		assert_true(strlen(buf) < DURATION_FMT_MAX - 1);
		assert_int_equal(duration_parse(buf, &ms), 0);
		if (ms != v)
			fail_msg("%llu -> \"%s\" -> %llu", (unsigned long long)v, buf,
				 (unsigned long long)ms);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_from_seconds),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
