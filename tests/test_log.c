/*
 * test_log — log levels: every level name (any case) and junk parsed,
 * messages below the level not written, the line's format
 * ("HH:MM:SS.mmm PROG: level: message"), the program name, and a long
 * message truncated to one bounded line.
 *
 * stderr is redirected (dup2) to a temporary file while a log call runs
 * and restored before anything is asserted, so cmocka's own messages on
 * stderr are never captured.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Run @fn with stderr going to a temporary file; return what it wrote. */
static char *
capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved, n;
	long size;
	char *buf;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn();
	fflush(stderr);
	n = dup2(saved, STDERR_FILENO);
	close(saved);
	assert_true(n >= 0);
	/* the writes went through the fd: ask the file for its size */
	assert_int_equal(fseek(tmp, 0, SEEK_END), 0);
	size = ftell(tmp);
	assert_true(size >= 0);
	rewind(tmp);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, tmp), (size_t)size);
	buf[size] = '\0';
	fclose(tmp);
	return buf;
}

static unsigned
count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_parse_level(void **state)
{
	(void)state;
	assert_int_equal(log_parse_level("error"), LOG_ERROR);
	assert_int_equal(log_parse_level("warn"), LOG_WARN);
	assert_int_equal(log_parse_level("info"), LOG_INFO);
	assert_int_equal(log_parse_level("debug"), LOG_DEBUG);
	assert_int_equal(log_parse_level("ERROR"), LOG_ERROR);
	assert_int_equal(log_parse_level("Debug"), LOG_DEBUG);
	assert_int_equal(log_parse_level(""), -1);
	assert_int_equal(log_parse_level("verbose"), -1);
	assert_int_equal(log_parse_level("infox"), -1);
	assert_int_equal(log_parse_level("inf"), -1);
	assert_int_equal(log_parse_level("3"), -1);
}

static void
log_each_level(void)
{
	log_error("e-%d", 1);
	log_warn("w-%d", 2);
	log_info("i-%d", 3);
	log_debug("d-%d", 4);
}

static void
test_levels(void **state)
{
	static const char *const marks[] = { "e-1", "w-2", "i-3", "d-4" };
	static const char *const names[] = { ": error: e-1", ": warn: w-2", ": info: i-3",
					     ": debug: d-4" };

	(void)state;
	for (int level = LOG_ERROR; level <= LOG_DEBUG; level++) {
		char *out;

		log_set_level((enum log_level)level);
		out = capture(log_each_level);
		assert_int_equal(count_lines(out), level + 1);
		for (int m = 0; m <= LOG_DEBUG; m++) {
			if (m <= level) {
				if (!strstr(out, names[m]))
					fail_msg("level %d: \"%s\" missing from:\n%s", level,
						 names[m], out);
			} else if (strstr(out, marks[m])) {
				fail_msg("level %d: \"%s\" printed below the level:\n%s", level,
					 marks[m], out);
			}
		}
		free(out);
	}
	log_set_level(LOG_INFO);
}

static void
log_one(void)
{
	log_warn("the %s is %d", "answer", 42);
}

static void
test_format_and_prog(void **state)
{
	char *out;
	int hh, mm, ss, ms, n = 0;

	(void)state;
	log_set_level(LOG_INFO);
	log_set_prog("forqd[worker 3]");
	out = capture(log_one);
	log_set_prog("forqd");
	assert_int_equal(count_lines(out), 1);
	assert_int_equal(sscanf(out, "%2d:%2d:%2d.%3d %n", &hh, &mm, &ss, &ms, &n), 4);
	assert_true(n == 13);
	assert_true(hh >= 0 && hh < 24 && mm >= 0 && mm < 60 && ss >= 0 && ss <= 60);
	assert_true(ms >= 0 && ms < 1000);
	assert_string_equal(out + n, "forqd[worker 3]: warn: the answer is 42\n");
	free(out);
}

static void
log_long(void)
{
	char big[5000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_error("%s", big);
}

static void
test_long_message(void **state)
{
	char *out;

	(void)state;
	log_set_level(LOG_INFO);
	out = capture(log_long);
	assert_int_equal(count_lines(out), 1);
	assert_true(strlen(out) <= 1024);
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_non_null(strstr(out, ": error: zzz"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_format_and_prog),
		cmocka_unit_test(test_long_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
