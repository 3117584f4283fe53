/*
 * stats — descriptive statistics of one numeric column of a CSV file:
 * count, mean, standard deviation, min, max, sum and exact quantiles.
 *
 * The column is chosen by 0-based index ("column", default 0) or by header
 * name ("name", which implies that the first line is a header); "header":
 * true skips a first line without naming a column.  Blank lines are
 * skipped; a field that is missing or not a finite number fails the task
 * with its line number, unless skip_bad is true (then it is counted in
 * "skipped").  The CSV dialect is csv.h's (RFC 4180 quoting, one-byte
 * delimiter, no line breaks inside fields).
 *
 * Numerics: mean and variance by Welford's update (no catastrophic
 * cancellation on large offsets); sum by Neumaier's compensated sum;
 * stddev is the sample standard deviation (n - 1 in the denominator;
 * 0 for one value).  Quantiles are exact: every value is kept, sorted once,
 * and the q-quantile is Hyndman & Fan's type 7 (R's and NumPy's default):
 * h = (n - 1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 *
 * Args:   path (required), column (0), name, header (false), delimiter
 *         (","), quantiles ([0.5, 0.9, 0.99]; 1..64 values in [0, 1]),
 *         skip_bad (false)
 * Result: {"count","mean","stddev","variance","min","max","sum","skipped",
 *          "quantiles":[{"q","value"}]} (figures null when count is 0)
 * Memory: 8 bytes per value (for the quantiles), refused beyond
 * forq_mem_limit() with a message.  Cancel and progress every 65536
 * lines.  Library: libc (stdio, strtod, qsort).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forq/kernel.h>

#include "csv.h"
#include "kjson.h"

static const struct forq_arg_spec stats_args[] = {
	{ "path", FORQ_ARG_PATH, 1, 0, 0, NULL, NULL, "the CSV file" },
	{ "column", FORQ_ARG_INT, 0, 0, 1e6, NULL, NULL, "0-based index of the column (default 0)" },
	{ "name", FORQ_ARG_STR, 0, 1, 256, NULL, NULL,
	  "header name of the column (implies header)" },
	{ "header", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "the first line is a header" },
	{ "delimiter", FORQ_ARG_STR, 0, 1, 1, "\",\"", NULL, "field delimiter, one byte" },
	{ "quantiles", FORQ_ARG_NUMS, 0, 0, 1, "[0.5,0.9,0.99]", NULL,
	  "quantiles to report, each in [0,1]" },
	{ "skip_bad", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL,
	  "skip non-numeric fields instead of failing" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int
stats_validate(const struct forq_args *a, char *err, size_t errlen)
{
	size_t nq;

	if (forq_args_has(a, "column") && forq_args_has(a, "name")) {
		snprintf(err, errlen, "name: give the column by index or by name, not both");
		return -1;
	}
	forq_args_nums(a, "quantiles", &nq);
	if (nq > 64) {
		snprintf(err, errlen, "quantiles: at most 64");
		return -1;
	}
	if (strcmp(forq_args_str(a, "delimiter"), "\"") == 0 ||
	    strcmp(forq_args_str(a, "delimiter"), "\n") == 0) {
		snprintf(err, errlen, "delimiter: cannot be a quote or a newline");
		return -1;
	}
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int
stats_run(struct forq_ctx *c)
{
	const char *name = forq_arg_str(c, "name");
	int col = (forq_arg_has(c, "column") ? (int)forq_arg_int(c, "column") : 0);
	bool skip_bad = forq_arg_bool(c, "skip_bad");
	size_t nq, cap = 0, n = 0, maxn = forq_mem_limit(c) / sizeof(double);
	const double *qs = forq_arg_nums(c, "quantiles", &nq);
	double *v = NULL, mean = 0, m2 = 0, sum = 0, comp = 0, lo = INFINITY, hi = -INFINITY;
	uint64_t skipped = 0;
	const char *missing = NULL;
	struct csv r;
	struct kjson j;
	cJSON *arr;
	char msg[200];
	int rc, st = FORQ_DONE;

	rc = csv_open(&r, forq_arg_str(c, "path"), forq_arg_str(c, "delimiter")[0]);
	if (rc < 0)
		return forq_fail(c, "cannot open %s: %s", forq_arg_str(c, "path"), strerror(-rc));
	rc = csv_header(&r, forq_arg_bool(c, "header"), &name, &col, 1, &missing);
	if (rc == -ENOENT) {
		st = forq_fail(c, "no column named \"%s\" in the header", missing);
		goto out;
	}
	while (rc >= 0 && (rc = csv_next(&r)) > 0) {
		double x, d;

		if (r.lineno % 65536 == 0) {
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				goto out;
			}
			forq_progress(c, csv_progress(&r));
		}
		if (csv_blank(&r))
			continue;
		if ((unsigned)col >= r.nfields || !csv_number(r.fields[col], &x)) {
			if (skip_bad) {
				skipped++;
				continue;
			}
			if ((unsigned)col >= r.nfields)
				st = forq_fail(c, "line %llu: no column %d",
					       (unsigned long long)r.lineno, col);
			else
				st = forq_fail(c, "line %llu: column %d: \"%.40s\" is not a number",
					       (unsigned long long)r.lineno, col, r.fields[col]);
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 4096;
			double *nv;

			if (ncap > maxn)
				ncap = maxn;
			if (n == ncap) {
				st = forq_fail(
					c,
					"more than %zu values: exact quantiles need 8 bytes each, "
					"above the memory limit",
					maxn);
				goto out;
			}
			nv = realloc(v, ncap * sizeof *nv);
			if (nv == NULL) {
				st = forq_fail(c, "out of memory at %zu values", n);
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = x;
		d = x - mean;
		mean += d / (double)n;
		m2 += d * (x - mean);
		{
			double t = sum + x;

			comp += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
			sum = t;
		}
		lo = fmin(lo, x);
		hi = fmax(hi, x);
	}
	if (rc < 0) {
		csv_error(&r, rc, msg, sizeof msg);
		st = forq_fail(c, "%s", msg);
		goto out;
	}
	if (n > 0)
		qsort(v, n, sizeof *v, cmp_double);
	kj_init(&j);
	kj_num(&j, j.root, "count", (double)n);
	kj_num(&j, j.root, "mean", n ? mean : NAN);
	kj_num(&j, j.root, "stddev", n > 1 ? sqrt(m2 / (double)(n - 1)) : (n ? 0 : NAN));
	kj_num(&j, j.root, "variance", n > 1 ? m2 / (double)(n - 1) : (n ? 0 : NAN));
	kj_num(&j, j.root, "min", n ? lo : NAN);
	kj_num(&j, j.root, "max", n ? hi : NAN);
	kj_num(&j, j.root, "sum", sum + comp);
	kj_num(&j, j.root, "skipped", (double)skipped);
	arr = kj_arr(&j, j.root, "quantiles");
	for (size_t i = 0; i < nq && arr != NULL; i++) {
		cJSON *o = kj_obj(&j, arr, NULL);
		double h = (double)(n - 1) * qs[i], val = NAN;
		size_t f = (size_t)floor(h);

		if (n == 1)
			val = v[0];
		else if (n > 1)
			val = f + 1 < n ? v[f] + (h - (double)f) * (v[f + 1] - v[f]) : v[n - 1];
		kj_num(&j, o, "q", qs[i]);
		kj_num(&j, o, "value", val);
	}
	st = kj_finish(c, &j);
out:
	free(v);
	csv_close(&r);
	return st;
}

const struct forq_kernel forq_kernel_stats = {
	.name = "stats",
	.summary = "count, mean, stddev, min, max, sum and exact quantiles of a numeric CSV column",
	.args = stats_args,
	.validate = stats_validate,
	.run = stats_run,
};
