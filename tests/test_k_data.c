/*
 * test_k_data — known answers for the data-processing kernels (stats,
 * histogram, groupby, sort, grep, checksum) on real files that the test
 * writes into a mkdtemp directory, with the expected figures computed here
 * independently of the kernels (plain loops, qsort, integer bin numbers,
 * published digests).
 *
 * The CSV has a header, a quoted key holding the delimiter and a doubled
 * quote, blank lines and a CRLF line.  sort runs in memory and, with a
 * 4 KiB memory limit, as an external merge sort of many runs in several
 * passes; both outputs must be sorted, stable and a permutation of the
 * input lines.  Single-threaded; the directory is removed at the end.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kernel.h"

#define NROWS 1000
#define NGRP  7

static char dir[PATH_MAX];
static char csv_path[PATH_MAX + 16];

/* ---- helpers (as in test_k_math.c) ----------------------------------------- */

struct krun {
	struct kctx ctx;
	_Atomic uint32_t cancel;
	_Atomic uint32_t progress;
	enum kernel_outcome out;
	cJSON *res;
};

static void
krun_init(struct krun *r)
{
	memset(r, 0, sizeof *r);
	atomic_init(&r->cancel, 0);
	atomic_init(&r->progress, 0);
	r->ctx.task_id = 7;
	r->ctx.attempt = 1;
	r->ctx.array_index = -1;
	r->ctx.numa = -1;
	r->ctx.cancel = &r->cancel;
	r->ctx.progress_permille = &r->progress;
	r->ctx.result_max = 1u << 24;
	r->ctx.bytes_max = 1u << 20;
	r->ctx.scratch_base = dir;
}

static void
krun_free(struct krun *r)
{
	free(r->ctx.result);
	free(r->ctx.bytes);
	cJSON_Delete(r->res);
	r->ctx.result = NULL;
	r->ctx.result_cap = r->ctx.result_len = 0;
	r->ctx.bytes = NULL;
	r->ctx.bytes_len = 0;
	r->res = NULL;
}

static enum kernel_outcome
krun(struct krun *r, const char *name, const char *json)
{
	const struct kernel *k = kernel_find(name);
	struct kbuf b = { NULL, 0 };
	cJSON *args = cJSON_Parse(json);
	char err[256] = "";
	int rc;

	assert_non_null(k);
	assert_non_null(args);
	rc = kernel_prepare(k, args, &b, err, sizeof err);
	cJSON_Delete(args);
	if (rc != 0)
		fail_msg("%s %s refused: %s", name, json, err);
	r->out = kernel_run(k, &r->ctx, b.data, b.len);
	free(b.data);
	cJSON_Delete(r->res);
	r->res = r->ctx.result_len ? cJSON_Parse(r->ctx.result) : NULL;
	if (getenv("FORQ_TEST_VERBOSE"))
		fprintf(stderr, "%s %s\n  -> %d %s %.600s\n", name, json, r->out, r->ctx.reason,
			r->ctx.result ? r->ctx.result : "");
	return r->out;
}

static void
expect_done(struct krun *r, const char *name, const char *json)
{
	if (krun(r, name, json) != KERNEL_DONE)
		fail_msg("%s %s: outcome %d reason \"%s\" result %s", name, json, r->out,
			 r->ctx.reason, r->ctx.result ? r->ctx.result : "");
	assert_non_null(r->res);
}

static double
num(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(j))
		fail_msg("result lacks number \"%s\"", key);
	return j->valuedouble;
}

static void
near(double got, double want, double tol, const char *what)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.17g, want %.17g +- %.3g", what, got, want, tol);
}

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Row i of the CSV: key group, value (k/10 - 30 with k = i*7919 mod 1000). */
static int
row_k(int i)
{
	return (i * 7919) % 1000;
}

static double
row_v(int i)
{
	return row_k(i) / 10.0 - 30;
}

static int
row_g(int i)
{
	return (i * 31 + 3) % NGRP;
}

/* Group 6's name holds the delimiter and a quote: g,"6 */
static void
group_name(int g, char *buf, size_t len)
{
	if (g == 6)
		snprintf(buf, len, "g,\"6");
	else
		snprintf(buf, len, "g%d", g);
}

static int
rm_cb(const char *p, const struct stat *st, int fl, struct FTW *ftw)
{
	(void)st;
	(void)fl;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/forq-test-k-data-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(csv_path, sizeof csv_path, "%s/data.csv", dir);
	f = fopen(csv_path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "id,grp,val\n");
	for (int i = 0; i < NROWS; i++) {
		if (i == 500)
			fprintf(f, "\n");               /* a blank line: skipped */
		if (row_g(i) == 6)
			fprintf(f, "%d,\"g,\"\"6\",%.1f\n", i, row_v(i));
		else if (i == 10)
			fprintf(f, "%d,\"g%d\",%.1f\r\n", i, row_g(i), row_v(i)); /* quoted, CRLF */
		else
			fprintf(f, "%d,g%d,%.1f\n", i, row_g(i), row_v(i));
	}
	return fclose(f);
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- stats ----------------------------------------------------------------- */

static void
test_stats(void **state)
{
	double v[NROWS], mean = 0, var = 0, lo = INFINITY, hi = -INFINITY;
	const double qs[] = { 0, 0.25, 0.5, 0.9, 1 };
	struct krun r;
	char args[PATH_MAX + 200];
	const cJSON *q;
	int i = 0;

	(void)state;
	for (int k = 0; k < NROWS; k++) {
		v[k] = row_v(k);
		mean += v[k];
		lo = fmin(lo, v[k]);
		hi = fmax(hi, v[k]);
	}
	mean /= NROWS;
	for (int k = 0; k < NROWS; k++)
		var += (v[k] - mean) * (v[k] - mean);
	var /= NROWS - 1;
	qsort(v, NROWS, sizeof v[0], cmp_d);

	krun_init(&r);
	snprintf(args, sizeof args,
		 "{\"path\":\"%s\",\"name\":\"val\",\"quantiles\":[0,0.25,0.5,0.9,1]}", csv_path);
	expect_done(&r, "stats", args);
	assert_int_equal((int)num(r.res, "count"), NROWS);
	near(num(r.res, "mean"), mean, 1e-12, "mean");
	near(num(r.res, "stddev"), sqrt(var), 1e-12, "stddev");
	near(num(r.res, "min"), lo, 0, "min");
	near(num(r.res, "max"), hi, 0, "max");
	near(num(r.res, "sum"), mean * NROWS, 1e-9, "sum");
	cJSON_ArrayForEach(q, cJSON_GetObjectItem(r.res, "quantiles")) {
		double h = (NROWS - 1) * qs[i], want;
		int f = (int)floor(h);

		want = f + 1 < NROWS ? v[f] + (h - f) * (v[f + 1] - v[f]) : v[NROWS - 1];
		near(num(q, "q"), qs[i], 0, "q");
		near(num(q, "value"), want, 1e-12, "quantile");
		i++;
	}
	assert_int_equal(i, 5);
	assert_int_equal(atomic_load(&r.progress), 0); /* 1000 lines: below the progress period */
	krun_free(&r);

	/* by index with header: the same figures */
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"column\":2,\"header\":true}", csv_path);
	expect_done(&r, "stats", args);
	near(num(r.res, "mean"), mean, 1e-12, "mean by index");
	krun_free(&r);

	/* without the header flag the header line is a bad field ... */
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"column\":2}", csv_path);
	assert_int_equal(krun(&r, "stats", args), KERNEL_FAILED);
	assert_non_null(strstr(r.ctx.reason, "line 1"));
	assert_non_null(
		strstr(cJSON_GetObjectItem(r.res, "error")->valuestring, "is not a number"));
	krun_free(&r);
	/* ... which skip_bad skips */
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"column\":2,\"skip_bad\":true}", csv_path);
	expect_done(&r, "stats", args);
	assert_int_equal((int)num(r.res, "skipped"), 1);
	assert_int_equal((int)num(r.res, "count"), NROWS);
	krun_free(&r);
	/* an unknown header name */
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"name\":\"nope\"}", csv_path);
	assert_int_equal(krun(&r, "stats", args), KERNEL_FAILED);
	assert_non_null(strstr(r.ctx.reason, "nope"));
	krun_free(&r);
}

/* ---- histogram -------------------------------------------------------------- */

static void
test_histogram(void **state)
{
	int want[10] = { 0 };
	struct krun r;
	char args[PATH_MAX + 200];
	const cJSON *e;
	int b = 0;

	(void)state;
	/* values are k/10 - 30, k in 0..999: bin [−30+10b, −20+10b) is k / 100 */
	for (int i = 0; i < NROWS; i++)
		want[row_k(i) / 100]++;
	krun_init(&r);
	snprintf(args, sizeof args,
		 "{\"path\":\"%s\",\"name\":\"val\",\"bins\":10,\"min\":-30,\"max\":70}", csv_path);
	expect_done(&r, "histogram", args);
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.res, "counts"))
		assert_int_equal((int)e->valuedouble, want[b++]);
	assert_int_equal(b, 10);
	assert_int_equal((int)num(r.res, "underflow"), 0);
	assert_int_equal((int)num(r.res, "overflow"), 0);
	near(num(r.res, "width"), 10, 1e-12, "width");
	krun_free(&r);

	/* a narrower range: under- and overflow */
	snprintf(args, sizeof args,
		 "{\"path\":\"%s\",\"name\":\"val\",\"bins\":4,\"min\":0,\"max\":40}", csv_path);
	expect_done(&r, "histogram", args);
	{
		int under = 0, over = 0, in[4] = { 0 };

		for (int i = 0; i < NROWS; i++) {
			int k = row_k(i);     /* value = (k - 300) / 10 */

			if (k < 300)
				under++;
			else if (k > 700)
				over++;
			else
				in[k == 700 ? 3 : (k - 300) / 100]++;
		}
		assert_int_equal((int)num(r.res, "underflow"), under);
		assert_int_equal((int)num(r.res, "overflow"), over);
		b = 0;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.res, "counts"))
			assert_int_equal((int)e->valuedouble, in[b++]);
	}
	krun_free(&r);

	/* automatic range: the data's extremes, everything counted */
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"column\":2,\"header\":true,\"bins\":7}",
		 csv_path);
	expect_done(&r, "histogram", args);
	near(num(r.res, "min"), -30, 0, "auto min");
	near(num(r.res, "max"), 69.9, 1e-12, "auto max");
	{
		int total = 0;

		cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.res, "counts"))
			total += (int)e->valuedouble;
		assert_int_equal(total, NROWS);
	}
	krun_free(&r);
}

/* ---- groupby ------------------------------------------------------------------ */

static void
test_groupby(void **state)
{
	struct {
		int count;
		double sum, min, max;
	} g[NGRP];
	struct krun r;
	char args[PATH_MAX + 200], name[16];
	const cJSON *e;
	const char *prev = "";
	int seen = 0;

	(void)state;
	for (int i = 0; i < NGRP; i++)
		g[i].count = 0, g[i].sum = 0, g[i].min = INFINITY, g[i].max = -INFINITY;
	for (int i = 0; i < NROWS; i++) {
		int k = row_g(i);

		g[k].count++;
		g[k].sum += row_v(i);
		g[k].min = fmin(g[k].min, row_v(i));
		g[k].max = fmax(g[k].max, row_v(i));
	}
	krun_init(&r);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"key_name\":\"grp\",\"value_name\":\"val\"}",
		 csv_path);
	expect_done(&r, "groupby", args);
	assert_int_equal((int)num(r.res, "ngroups"), NGRP);
	assert_int_equal((int)num(r.res, "rows"), NROWS);
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.res, "groups")) {
		const char *key = cJSON_GetObjectItem(e, "key")->valuestring;
		int k = -1;

		for (int i = 0; i < NGRP; i++) {
			group_name(i, name, sizeof name);
			if (strcmp(name, key) == 0)
				k = i;
		}
		if (k < 0)
			fail_msg("unexpected key \"%s\"", key);
		assert_true(strcmp(prev, key) < 0);     /* sorted by key */
		prev = key;
		assert_int_equal((int)num(e, "count"), g[k].count);
		near(num(e, "sum"), g[k].sum, 1e-9, "sum");
		near(num(e, "mean"), g[k].sum / g[k].count, 1e-12, "mean");
		near(num(e, "min"), g[k].min, 0, "min");
		near(num(e, "max"), g[k].max, 0, "max");
		seen++;
	}
	assert_int_equal(seen, NGRP);
	krun_free(&r);

	/* by index, and a group limit that is too small */
	snprintf(args, sizeof args,
		 "{\"path\":\"%s\",\"key\":1,\"value\":2,\"header\":true,\"max_groups\":3}",
		 csv_path);
	assert_int_equal(krun(&r, "groupby", args), KERNEL_FAILED);
	assert_non_null(strstr(r.ctx.reason, "more than 3 groups"));
	krun_free(&r);
}

/* ---- sort ----------------------------------------------------------------------- */

struct keyed {
	double v;                    /* the value */
	size_t i;                    /* input position */
	const char *s;               /* the line */
};

static int
cmp_keyed(const void *a, const void *b, void *arg)
{
	const struct keyed *x = a, *y = b;
	bool desc = *(const bool *)arg;

	if (x->v != y->v)
		return (x->v < y->v) != desc ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

/* Read @path's lines (newline stripped) into a malloc'd array. */
static char **
read_lines(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char **v = NULL, *line = NULL;
	size_t cap = 0, lc = 0;
	ssize_t len;

	assert_non_null(f);
	*n = 0;
	while ((len = getline(&line, &lc, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (*n == cap) {
			cap = cap ? 2 * cap : 1024;
			v = realloc(v, cap * sizeof *v);
			assert_non_null(v);
		}
		v[(*n)++] = strdup(line);
	}
	free(line);
	fclose(f);
	return v;
}

static void
free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The output must be exactly the input's non-blank lines in stable order
 * of value: sort (value, input position) here and compare line by line.
 */
static void
check_sorted(const char *in, const char *out, bool desc)
{
	size_t ni, no, m = 0;
	char **a = read_lines(in, &ni), **b = read_lines(out, &no);
	struct keyed *k = malloc(ni * sizeof *k);

	assert_non_null(k);
	for (size_t i = 0; i < ni; i++)
		if (strspn(a[i], " \t") != strlen(a[i]))
			k[m++] = (struct keyed){ strtod(a[i], NULL), i, a[i] };
	qsort_r(k, m, sizeof *k, cmp_keyed, &desc);
	assert_int_equal(no, m);
	for (size_t i = 0; i < m; i++)
		if (strcmp(b[i], k[i].s) != 0)
			fail_msg("output line %zu is \"%s\", want \"%s\"", i + 1, b[i], k[i].s);
	free(k);
	free_lines(a, ni);
	free_lines(b, no);
}

static void
test_sort(void **state)
{
	char in[PATH_MAX + 16], out[PATH_MAX + 16], args[3 * PATH_MAX];
	struct krun r;
	FILE *f;

	(void)state;
	snprintf(in, sizeof in, "%s/nums.txt", dir);
	snprintf(out, sizeof out, "%s/sorted.txt", dir);
	f = fopen(in, "w");
	assert_non_null(f);
	for (int i = 0; i < 5000; i++) {
		int k = (int)(((unsigned)i * 2654435761u) % 2000u) - 1000;

		switch (i % 5) {
		case 0: fprintf(f, "%d\n", k); break;
		case 1: fprintf(f, "%.3f\n", k / 7.0); break;
		case 2: fprintf(f, "%de-2\n", k); break;
		case 3: fprintf(f, " %d.0 \n", k % 50); break;   /* blanks around; many ties */
		default: fprintf(f, "%d\n", k % 50); break;
		}
		if (i % 1000 == 999)
			fprintf(f, "\n");
	}
	fprintf(f, "1\n1.0\n1e0\n");                         /* equal values, input order kept */
	assert_int_equal(fclose(f), 0);

	krun_init(&r);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"out\":\"%s\"}", in, out);
	expect_done(&r, "sort", args);
	assert_string_equal(cJSON_GetObjectItem(r.res, "mode")->valuestring, "memory");
	assert_int_equal((int)num(r.res, "lines"), 5003);
	assert_int_equal((int)num(r.res, "blank"), 5);
	check_sorted(in, out, false);
	krun_free(&r);

	/* external: 4 KiB of memory -> many runs, fan-in 2, several passes */
	r.ctx.mem_limit = 4096;
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"out\":\"%s\",\"order\":\"desc\"}", in, out);
	expect_done(&r, "sort", args);
	assert_string_equal(cJSON_GetObjectItem(r.res, "mode")->valuestring, "external");
	assert_true(num(r.res, "runs") > 20);
	assert_true(num(r.res, "passes") > 2);
	check_sorted(in, out, true);
	krun_free(&r);
	r.ctx.mem_limit = 64 * 1024;
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"out\":\"%s\"}", in, out);
	expect_done(&r, "sort", args);
	assert_string_equal(cJSON_GetObjectItem(r.res, "mode")->valuestring, "external");
	check_sorted(in, out, false);
	krun_free(&r);
	/* a bad line fails with its number; the output is untouched */
	write_file(in, "1\n2\nthree\n", 10);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"out\":\"%s\"}", in, out);
	assert_int_equal(krun(&r, "sort", args), KERNEL_FAILED);
	assert_non_null(strstr(r.ctx.reason, "line 3"));
	krun_free(&r);
	/* sorting a file onto itself works (temporary file, then rename) */
	write_file(in, "3\n-1\n2\n", 7);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"out\":\"%s\"}", in, in);
	expect_done(&r, "sort", args);
	{
		size_t n;
		char **v = read_lines(in, &n);

		assert_int_equal(n, 3);
		assert_string_equal(v[0], "-1");
		assert_string_equal(v[1], "2");
		assert_string_equal(v[2], "3");
		free_lines(v, n);
	}
	krun_free(&r);
}

static int
count_entries(const char *d, const char *prefix)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '^%s' || true", d, prefix);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fscanf(p, "%d", &n) != 1)
		n = -1;
	pclose(p);
	return n;
}

static void
test_sort_scratch_removed(void **state)
{
	(void)state;
	/* test_sort ran external sorts: their scratch directories are gone */
	assert_int_equal(count_entries(dir, "forq-scratch-"), 0);
	assert_int_equal(count_entries(dir, "sorted.txt.forq-tmp"), 0);
}

/* ---- grep ------------------------------------------------------------------------ */

static void
test_grep(void **state)
{
	char path[PATH_MAX + 16], args[PATH_MAX + 200];
	const char *text =
		"error: disk\nok\nERROR: net\nerr: x\nwarning\nerror:\nno newline at end error:";
	struct krun r;

	(void)state;
	snprintf(path, sizeof path, "%s/log.txt", dir);
	write_file(path, text, strlen(text));
	krun_init(&r);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"pattern\":\"^err(or)?:\"}", path);
	expect_done(&r, "grep", args);
	assert_int_equal((int)num(r.res, "matches"), 3);
	assert_int_equal((int)num(r.res, "lines"), 7);
	assert_int_equal((int)num(r.res, "bytes"), (int)strlen(text));
	krun_free(&r);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"pattern\":\"^err(or)?:\",\"icase\":true}",
		 path);
	expect_done(&r, "grep", args);
	assert_int_equal((int)num(r.res, "matches"), 4);
	krun_free(&r);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"pattern\":\"error\",\"invert\":true}",
		 path);
	expect_done(&r, "grep", args);
	assert_int_equal((int)num(r.res, "matches"), 4);    /* ok, ERROR: net, err: x, warning */
	krun_free(&r);
	snprintf(args, sizeof args, "{\"path\":\"%s\",\"pattern\":\"[0-9]+\"}", path);
	expect_done(&r, "grep", args);
	assert_int_equal((int)num(r.res, "matches"), 0);
	krun_free(&r);
}

/* ---- checksum ----------------------------------------------------------------------- */

static void
test_checksum(void **state)
{
	static const struct {
		const char *algo, *abc, *empty;
	} want[] = {
		{ "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "sha1", "a9993e364706816aba3e25717850c26c9cd0d89d",
		  "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "md5", "900150983cd24fb0d6963f7d28e17f72", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "sha512",
		  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
		  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
		  NULL },
		{ "sha3-256", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
		  NULL },
		{ "crc32", "352441c2", "00000000" },
		{ "adler32", "024d0127", "00000001" },
	};
	char abc[PATH_MAX + 16], empty[PATH_MAX + 16], args[PATH_MAX + 200];
	struct krun r;

	(void)state;
	snprintf(abc, sizeof abc, "%s/abc", dir);
	snprintf(empty, sizeof empty, "%s/empty", dir);
	write_file(abc, "abc", 3);
	write_file(empty, "", 0);
	krun_init(&r);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		snprintf(args, sizeof args, "{\"path\":\"%s\",\"algorithm\":\"%s\"}", abc,
			 want[i].algo);
		expect_done(&r, "checksum", args);
		assert_string_equal(cJSON_GetObjectItem(r.res, "digest")->valuestring, want[i].abc);
		assert_int_equal((int)num(r.res, "bytes"), 3);
		krun_free(&r);
		if (want[i].empty == NULL)
			continue;
		snprintf(args, sizeof args, "{\"path\":\"%s\",\"algorithm\":\"%s\"}", empty,
			 want[i].algo);
		expect_done(&r, "checksum", args);
		assert_string_equal(cJSON_GetObjectItem(r.res, "digest")->valuestring,
				    want[i].empty);
		krun_free(&r);
	}
	/* the default is sha256; a file removed after submit fails cleanly at run */
	snprintf(args, sizeof args, "{\"path\":\"%s\"}", abc);
	expect_done(&r, "checksum", args);
	assert_string_equal(cJSON_GetObjectItem(r.res, "algorithm")->valuestring, "sha256");
	krun_free(&r);
	{
		const struct kernel *k = kernel_find("checksum");
		struct kbuf b = { NULL, 0 };
		cJSON *a;
		char err[256];

		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "path", abc);
		assert_int_equal(kernel_prepare(k, a, &b, err, sizeof err), 0);
		cJSON_Delete(a);
		assert_int_equal(unlink(abc), 0);
		assert_int_equal(kernel_run(k, &r.ctx, b.data, b.len), KERNEL_FAILED);
		assert_non_null(strstr(r.ctx.reason, "cannot open"));
		free(b.data);
		krun_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_groupby),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_sort_scratch_removed),
		cmocka_unit_test(test_grep),
		cmocka_unit_test(test_checksum),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
