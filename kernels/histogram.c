/*
 * histogram — counts of a numeric CSV column in equal-width bins.
 *
 * Column selection, blank lines, bad fields and the CSV dialect are as in
 * stats (kernels/stats.c).  The range is [min, max] when both are given;
 * otherwise the data's own minimum and maximum, found by a first pass over
 * the file (a second pass counts; memory stays O(bins)), widened to
 * [v - 0.5, v + 0.5] when every value is v.  Bin i covers
 * [min + i·w, min + (i+1)·w) with w = (max - min)/bins, the last bin
 * includes max; the bin of x is floor((x - min)/(max - min) · bins).
 * Values outside the range are counted in "underflow"/"overflow".
 *
 * Args:   path (required), column (0), name, header (false), delimiter
 *         (","), bins (10; 1..100000), min and max (both or neither,
 *         min < max), skip_bad (false)
 * Result: {"count","bins","min","max","width","counts":[...],"underflow",
 *          "overflow","skipped"}; count is every numeric value read.
 * Cancel and progress every 65536 lines.  Library: libc.
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

static const struct forq_arg_spec histogram_args[] = {
	{ "path", FORQ_ARG_PATH, 1, 0, 0, NULL, NULL, "the CSV file" },
	{ "column", FORQ_ARG_INT, 0, 0, 1e6, NULL, NULL, "0-based index of the column (default 0)" },
	{ "name", FORQ_ARG_STR, 0, 1, 256, NULL, NULL,
	  "header name of the column (implies header)" },
	{ "header", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "the first line is a header" },
	{ "delimiter", FORQ_ARG_STR, 0, 1, 1, "\",\"", NULL, "field delimiter, one byte" },
	{ "bins", FORQ_ARG_INT, 0, 1, 100000, "10", NULL, "number of bins" },
	{ "min", FORQ_ARG_NUM, 0, -1e300, 1e300, NULL, NULL,
	  "lower edge (with max; default: the data's)" },
	{ "max", FORQ_ARG_NUM, 0, -1e300, 1e300, NULL, NULL,
	  "upper edge (with min; default: the data's)" },
	{ "skip_bad", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL,
	  "skip non-numeric fields instead of failing" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int
histogram_validate(const struct forq_args *a, char *err, size_t errlen)
{
	bool lo = forq_args_has(a, "min"), hi = forq_args_has(a, "max");

	if (forq_args_has(a, "column") && forq_args_has(a, "name")) {
		snprintf(err, errlen, "name: give the column by index or by name, not both");
		return -1;
	}
	if (lo != hi) {
		snprintf(err, errlen, "%s: give min and max together, or neither",
			 lo ? "max" : "min");
		return -1;
	}
	if (lo && !(forq_args_num(a, "min") < forq_args_num(a, "max"))) {
		snprintf(err, errlen, "min: must be less than max");
		return -1;
	}
	if (strcmp(forq_args_str(a, "delimiter"), "\"") == 0 ||
	    strcmp(forq_args_str(a, "delimiter"), "\n") == 0) {
		snprintf(err, errlen, "delimiter: cannot be a quote or a newline");
		return -1;
	}
	return 0;
}

struct hpass {
	double lo, hi;               /* the range (pass 2) */
	uint64_t *counts;            /* bins counters (pass 2), or NULL (pass 1) */
	size_t bins;
	uint64_t count, under, over, skipped;
	double vmin, vmax;           /* the data's extremes (pass 1) */
};

/* One pass over the file; FORQ_DONE or a status (the failure already set). */
static int
hist_pass(struct forq_ctx *c, struct hpass *p, double base, double span)
{
	const char *name = forq_arg_str(c, "name"), *missing = NULL;
	int col = (forq_arg_has(c, "column") ? (int)forq_arg_int(c, "column") : 0), rc;
	bool skip_bad = forq_arg_bool(c, "skip_bad");
	struct csv r;
	char msg[200];
	int st = FORQ_DONE;

	rc = csv_open(&r, forq_arg_str(c, "path"), forq_arg_str(c, "delimiter")[0]);
	if (rc < 0)
		return forq_fail(c, "cannot open %s: %s", forq_arg_str(c, "path"), strerror(-rc));
	rc = csv_header(&r, forq_arg_bool(c, "header"), &name, &col, 1, &missing);
	if (rc == -ENOENT) {
		st = forq_fail(c, "no column named \"%s\" in the header", missing);
		goto out;
	}
	p->vmin = INFINITY;
	p->vmax = -INFINITY;
	while (rc >= 0 && (rc = csv_next(&r)) > 0) {
		double x;

		if (r.lineno % 65536 == 0) {
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				goto out;
			}
			forq_progress(c, base + span * csv_progress(&r));
		}
		if (csv_blank(&r))
			continue;
		if ((unsigned)col >= r.nfields || !csv_number(r.fields[col], &x)) {
			if (skip_bad) {
				p->skipped++;
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
		p->count++;
		p->vmin = fmin(p->vmin, x);
		p->vmax = fmax(p->vmax, x);
		if (p->counts == NULL)
			continue;
		if (x < p->lo) {
			p->under++;
		} else if (x > p->hi) {
			p->over++;
		} else {
			double f = floor((x - p->lo) / (p->hi - p->lo) * (double)p->bins);
			size_t b = f >= (double)p->bins ? p->bins - 1 : (size_t)f;

			p->counts[b]++;
		}
	}
	if (rc < 0) {
		csv_error(&r, rc, msg, sizeof msg);
		st = forq_fail(c, "%s", msg);
	}
out:
	csv_close(&r);
	return st;
}

static int
histogram_run(struct forq_ctx *c)
{
	struct hpass p = { 0 };
	bool given = forq_arg_has(c, "min");
	struct kjson j;
	cJSON *arr;
	int st;

	p.bins = (size_t)forq_arg_int(c, "bins");
	if (given) {
		p.lo = forq_arg_num(c, "min");
		p.hi = forq_arg_num(c, "max");
	} else {
		if ((st = hist_pass(c, &p, 0, 0.5)) != FORQ_DONE)
			return st;
		if (p.count == 0) {
			p.lo = 0;
			p.hi = 1;
		} else if (p.vmin == p.vmax) {
			p.lo = p.vmin - 0.5;
			p.hi = p.vmax + 0.5;
		} else {
			p.lo = p.vmin;
			p.hi = p.vmax;
		}
		p.count = p.skipped = 0;
	}
	p.counts = calloc(p.bins, sizeof *p.counts);
	if (p.counts == NULL)
		return forq_fail(c, "out of memory (%zu bins)", p.bins);
	if ((st = hist_pass(c, &p, given ? 0 : 0.5, given ? 1 : 0.5)) != FORQ_DONE) {
		free(p.counts);
		return st;
	}
	kj_init(&j);
	kj_num(&j, j.root, "count", (double)p.count);
	kj_num(&j, j.root, "bins", (double)p.bins);
	kj_num(&j, j.root, "min", p.lo);
	kj_num(&j, j.root, "max", p.hi);
	kj_num(&j, j.root, "width", (p.hi - p.lo) / (double)p.bins);
	arr = kj_arr(&j, j.root, "counts");
	for (size_t b = 0; b < p.bins && arr != NULL; b++)
		kj_num(&j, arr, NULL, (double)p.counts[b]);
	kj_num(&j, j.root, "underflow", (double)p.under);
	kj_num(&j, j.root, "overflow", (double)p.over);
	kj_num(&j, j.root, "skipped", (double)p.skipped);
	free(p.counts);
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_histogram = {
	.name = "histogram",
	.summary = "equal-width histogram of a numeric CSV column (range given or found in a first "
		   "pass)",
	.args = histogram_args,
	.validate = histogram_validate,
	.run = histogram_run,
};
