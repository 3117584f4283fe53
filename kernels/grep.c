/*
 * grep — count the lines of a file that match a POSIX extended regular
 * expression (grep -E -c), with the libc regex engine (regcomp/regexec).
 *
 * The pattern is compiled at submit too (validate), so a bad expression is
 * refused with regerror's message before anything is stored.  Lines end at
 * '\n' (a final line without one counts); the '\n' is not part of the
 * line, a '\r' before it is.  Matching is byte-wise in forqd's C locale:
 * icase folds ASCII letters only, and a NUL byte inside a line ends what
 * the engine sees of it.  invert counts the lines that do not match
 * (grep -v -c).
 *
 * Args:   path (required), pattern (required, 1..4096 bytes), icase
 *         (false), invert (false)
 * Result: {"matches","lines","bytes"}
 * Cancel and progress every 4096 lines.  Library: libc (POSIX regex).
 * Memory: the longest line plus the compiled expression.
 */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <forq/kernel.h>

#include "kjson.h"

static const struct forq_arg_spec grep_args[] = {
	{ "path", FORQ_ARG_PATH, 1, 0, 0, NULL, NULL, "the file to search" },
	{ "pattern", FORQ_ARG_STR, 1, 1, 4096, NULL, NULL, "POSIX extended regular expression" },
	{ "icase", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "ignore (ASCII) case" },
	{ "invert", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "count the lines that do not match" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int
grep_compile(regex_t *re, const char *pat, bool icase, char *err, size_t errlen)
{
	int rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
	char msg[128];

	if (rc == 0)
		return 0;
	regerror(rc, re, msg, sizeof msg);
	snprintf(err, errlen, "pattern: %s", msg);
	return -1;
}

static int
grep_validate(const struct forq_args *a, char *err, size_t errlen)
{
	regex_t re;

	if (grep_compile(&re, forq_args_str(a, "pattern"), forq_args_bool(a, "icase"), err,
			 errlen) < 0)
		return -1;
	regfree(&re);
	return 0;
}

static int
grep_run(struct forq_ctx *c)
{
	const char *path = forq_arg_str(c, "path");
	bool invert = forq_arg_bool(c, "invert");
	uint64_t lines = 0, matches = 0, bytes = 0, size = 0;
	char *line = NULL, err[160];
	size_t cap = 0;
	struct stat sb;
	struct kjson j;
	regex_t re;
	FILE *f;
	int st = FORQ_DONE;

	if (grep_compile(&re, forq_arg_str(c, "pattern"), forq_arg_bool(c, "icase"), err,
			 sizeof err) < 0)
		return forq_fail(c, "%s", err);
	f = fopen(path, "re");
	if (f == NULL) {
		regfree(&re);
		return forq_fail(c, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fileno(f), &sb) == 0)
		size = (uint64_t)sb.st_size;
	for (;;) {
		ssize_t n;

		errno = 0;
		n = getline(&line, &cap, f);
		if (n < 0) {
			if (errno)
				st = forq_fail(c, "read %s: %s", path, strerror(errno));
			break;
		}
		bytes += (uint64_t)n;
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		lines++;
		if ((regexec(&re, line, 0, NULL, 0) == 0) != invert)
			matches++;
		if (lines % 4096 == 0) {
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				break;
			}
			forq_progress(c, size ? (double)bytes / (double)size : 0);
		}
	}
	fclose(f);
	free(line);
	regfree(&re);
	if (st != FORQ_DONE)
		return st;
	kj_init(&j);
	kj_num(&j, j.root, "matches", (double)matches);
	kj_num(&j, j.root, "lines", (double)lines);
	kj_num(&j, j.root, "bytes", (double)bytes);
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_grep = {
	.name = "grep",
	.summary = "count the lines of a file matching a POSIX extended regular expression",
	.args = grep_args,
	.validate = grep_validate,
	.run = grep_run,
};
