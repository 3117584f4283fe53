/*
 * test_errors — the one table of stable error codes: its accessors
 * (forq_err_code/message/exit/from_code, out-of-range values), codes that
 * are unique wire identifiers, exit statuses from the documented set, and
 * that every code is documented in man/forq-protocol.7's ERROR CODES list
 * with its exit status (STYLE rule 5).  The page is found from the test
 * binary's own path (<root>/<build>/tests/test_errors ->
 * <root>/man/forq-protocol.7); a missing page is a failure, not a skip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forq/errors.h"

static void
test_accessors(void **state)
{
	static const int exits[] = { 0, 1, 2, 3, 4, 5, 6, 70 };

	(void)state;
	assert_string_equal(forq_err_code(FORQ_OK), "OK");
	assert_int_equal(forq_err_exit(FORQ_OK), 0);
	assert_string_equal(forq_err_code(FORQ_EBADJSON), "BAD_JSON");
	assert_string_equal(forq_err_code(FORQ_EPRIORITY), "BAD_PRIORITY");
	assert_int_equal(forq_err_exit(FORQ_ENOTFOUND), 5);
	assert_int_equal(forq_err_exit(FORQ_ECONNECT), 3);
	assert_int_equal(forq_err_exit(FORQ_EWAITTIME), 6);
	assert_int_equal(forq_err_exit(FORQ_EINTERNAL), 70);
	for (unsigned i = 0; i < FORQ_ERR__COUNT; i++) {
		const char *code = forq_err_code((enum forq_err)i);
		const char *msg = forq_err_message((enum forq_err)i);
		int ex = forq_err_exit((enum forq_err)i);
		bool known = false;

		assert_non_null(code);
		assert_non_null(msg);
		assert_true(code[0] != '\0');
		assert_true(msg[0] != '\0');
		/* wire codes are upper-case identifiers */
		for (const char *p = code; *p; p++)
			if (!isupper((unsigned char)*p) && *p != '_')
				fail_msg("code \"%s\" has '%c'", code, *p);
		for (size_t k = 0; k < sizeof(exits) / sizeof(exits[0]); k++)
			known |= ex == exits[k];
		if (!known)
			fail_msg("%s: exit %d is not in forq(1)'s table", code, ex);
		if (i != FORQ_OK)
			assert_int_not_equal(ex, 0);
		/* unique, and the reverse lookup finds the row */
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(code, forq_err_code((enum forq_err)j));
		assert_int_equal(forq_err_from_code(code), i);
	}
	/* out of range: INTERNAL's row */
	assert_string_equal(forq_err_code(FORQ_ERR__COUNT), "INTERNAL");
	assert_string_equal(forq_err_code((enum forq_err)-1), "INTERNAL");
	assert_string_equal(forq_err_message(FORQ_ERR__COUNT), forq_err_message(FORQ_EINTERNAL));
	assert_int_equal(forq_err_exit((enum forq_err)1000), 70);
	/* unknown wire codes */
	assert_int_equal(forq_err_from_code("NO_SUCH_CODE"), FORQ_EINTERNAL);
	assert_int_equal(forq_err_from_code("bad_json"), FORQ_EINTERNAL);	/* exact case */
	assert_int_equal(forq_err_from_code(""), FORQ_EINTERNAL);
	assert_int_equal(forq_err_from_code(NULL), FORQ_EINTERNAL);
}

/* Read <root>/man/forq-protocol.7, the root two levels above the binary. */
static char *
read_man_page(char *path, size_t pathlen)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash, *buf;
	FILE *f;
	long size;

	assert_true(n > 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	assert_non_null(slash);
	*slash = '\0';
	snprintf(path, pathlen, "%s/../../man/forq-protocol.7", exe);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: cannot open the protocol page (every code must be documented there)",
			 path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	return buf;
}

/*
 * Every code but OK has an entry ".It Er CODE" in the page's list, and the
 * exit status the entry gives (".It Er CODE Pq N") is the table's.
 */
static void
test_codes_documented(void **state)
{
	char path[PATH_MAX + 64], missing[2048] = "";
	char *page;

	(void)state;
	page = read_man_page(path, sizeof(path));
	for (unsigned i = 0; i < FORQ_ERR__COUNT; i++) {
		const char *code = forq_err_code((enum forq_err)i);
		char want[96];
		const char *p = page, *hit = NULL;
		size_t wl;

		if (strcmp(code, "OK") == 0)
			continue;
		wl = (size_t)snprintf(want, sizeof(want), ".It Er %s", code);
		while ((p = strstr(p, want))) {
			/* at a line start, and the whole code (not a prefix) */
			if ((p == page || p[-1] == '\n') && (p[wl] == ' ' || p[wl] == '\n' ||
							     p[wl] == '\0')) {
				hit = p;
				break;
			}
			p += wl;
		}
		if (!hit) {
			strncat(missing, " ", sizeof(missing) - strlen(missing) - 1);
			strncat(missing, code, sizeof(missing) - strlen(missing) - 1);
			continue;
		}
		if (strncmp(hit + wl, " Pq ", 4) == 0) {
			int ex = atoi(hit + wl + 4);

			if (ex != forq_err_exit((enum forq_err)i))
				fail_msg("%s: the page says exit %d, the table %d", code, ex,
					 forq_err_exit((enum forq_err)i));
		}
	}
	free(page);
	if (missing[0])
		fail_msg("%s does not document:%s", path, missing);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_codes_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
