/*
 * groupby — per distinct value of a key column of a CSV file, the count,
 * sum, mean, min and max of a numeric value column (SQL's
 * SELECT key, COUNT(*), SUM(v), AVG(v), MIN(v), MAX(v) ... GROUP BY key).
 *
 * Columns by 0-based index ("key" 0, "value" 1) or by header name
 * ("key_name", "value_name", which imply a header line).  Keys are compared
 * as exact byte strings after CSV unquoting (no trimming, case-sensitive).
 * Blank lines are skipped; a row without the key or value column, or with
 * a value that is not a finite number, fails the task with its line number
 * unless skip_bad is true (then it is counted in "skipped").
 *
 * Groups live in an open-addressing hash table (FNV-1a, linear probing,
 * load <= 1/2) with the keys copied into one growing arena; sums are
 * Neumaier-compensated.  Output groups are sorted by key (byte order), so
 * the result is deterministic.  At most max_groups groups (default 100000)
 * — beyond it the task fails rather than returning a truncated answer.
 *
 * Args:   path (required), key (0), key_name, value (1), value_name,
 *         header (false), delimiter (","), max_groups (100000; 1..1000000),
 *         skip_bad (false)
 * Result: {"rows","skipped","ngroups","groups":[{"key","count","sum","mean",
 *          "min","max"}]}
 * Memory: about 80 bytes plus the key per group.  Cancel and progress
 * every 65536 lines.  Library: libc.
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

static const struct forq_arg_spec groupby_args[] = {
	{ "path", FORQ_ARG_PATH, 1, 0, 0, NULL, NULL, "the CSV file" },
	{ "key", FORQ_ARG_INT, 0, 0, 1e6, NULL, NULL, "0-based index of the key column (default 0)" },
	{ "key_name", FORQ_ARG_STR, 0, 1, 256, NULL, NULL,
	  "header name of the key column (implies header)" },
	{ "value", FORQ_ARG_INT, 0, 0, 1e6, NULL, NULL, "0-based index of the value column (default 1)" },
	{ "value_name", FORQ_ARG_STR, 0, 1, 256, NULL, NULL,
	  "header name of the value column (implies header)" },
	{ "header", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "the first line is a header" },
	{ "delimiter", FORQ_ARG_STR, 0, 1, 1, "\",\"", NULL, "field delimiter, one byte" },
	{ "max_groups", FORQ_ARG_INT, 0, 1, 1000000, "100000", NULL, "most distinct keys" },
	{ "skip_bad", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "skip bad rows instead of failing" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

struct group {
	size_t key;                  /* offset of the key in the arena */
	size_t klen;                 /* its length */
	uint64_t hash;               /* FNV-1a of the key */
	uint64_t count;
	double sum, comp;            /* Neumaier sum and its compensation */
	double min, max;
};

struct gtab {
	struct group *g;             /* groups, in order of first appearance */
	size_t n, cap;
	uint32_t *slot;              /* hash slots: group index + 1, 0 = empty */
	size_t nslot;                /* power of two */
	char *arena;                 /* the keys, back to back */
	size_t alen, acap;
};

static int
groupby_validate(const struct forq_args *a, char *err, size_t errlen)
{
	const char *d = forq_args_str(a, "delimiter");

	if (forq_args_has(a, "key") && forq_args_has(a, "key_name")) {
		snprintf(err, errlen, "key_name: give the column by index or by name, not both");
		return -1;
	}
	if (forq_args_has(a, "value") && forq_args_has(a, "value_name")) {
		snprintf(err, errlen, "value_name: give the column by index or by name, not both");
		return -1;
	}
	if (strcmp(d, "\"") == 0 || strcmp(d, "\n") == 0) {
		snprintf(err, errlen, "delimiter: cannot be a quote or a newline");
		return -1;
	}
	return 0;
}

static uint64_t
fnv64(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int
gtab_rehash(struct gtab *t, size_t nslot)
{
	uint32_t *s = calloc(nslot, sizeof *s);

	if (s == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t p = t->g[i].hash & (nslot - 1);

		while (s[p])
			p = (p + 1) & (nslot - 1);
		s[p] = (uint32_t)(i + 1);
	}
	free(t->slot);
	t->slot = s;
	t->nslot = nslot;
	return 0;
}

/* The group of key @k (@n bytes), created if new.  NULL: out of memory or full. */
static struct group *
gtab_get(struct gtab *t, const char *k, size_t n, size_t max, bool *full)
{
	uint64_t h = fnv64(k, n);
	size_t p = h & (t->nslot - 1);
	struct group *g;

	*full = false;
	while (t->slot[p]) {
		g = &t->g[t->slot[p] - 1];
		if (g->hash == h && g->klen == n && memcmp(t->arena + g->key, k, n) == 0)
			return g;
		p = (p + 1) & (t->nslot - 1);
	}
	if (t->n == max) {
		*full = true;
		return NULL;
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 64;
		struct group *ng = realloc(t->g, ncap * sizeof *ng);

		if (ng == NULL)
			return NULL;
		t->g = ng;
		t->cap = ncap;
	}
	if (t->alen + n > t->acap) {
		size_t ncap = t->acap ? 2 * t->acap : 4096;
		char *na;

		while (ncap < t->alen + n)
			ncap *= 2;
		na = realloc(t->arena, ncap);
		if (na == NULL)
			return NULL;
		t->arena = na;
		t->acap = ncap;
	}
	memcpy(t->arena + t->alen, k, n);
	g = &t->g[t->n];
	*g = (struct group){ t->alen, n, h, 0, 0, 0, INFINITY, -INFINITY };
	t->alen += n;
	t->slot[p] = (uint32_t)(++t->n);
	if (2 * t->n > t->nslot && gtab_rehash(t, 2 * t->nslot) < 0)
		return NULL;
	return &t->g[t->n - 1];
}

static int
cmp_group(const void *a, const void *b, void *arg)
{
	const struct group *x = a, *y = b;
	const char *arena = arg;
	size_t m = x->klen < y->klen ? x->klen : y->klen;
	int r = memcmp(arena + x->key, arena + y->key, m);

	return r ? r : (x->klen > y->klen) - (x->klen < y->klen);
}

static int
groupby_run(struct forq_ctx *c)
{
	const char *names[2] = { forq_arg_str(c, "key_name"), forq_arg_str(c, "value_name") };
	int idx[2] = { (forq_arg_has(c, "key") ? (int)forq_arg_int(c, "key") : 0), (forq_arg_has(c, "value") ? (int)forq_arg_int(c, "value") : 1) };
	size_t max = (size_t)forq_arg_int(c, "max_groups");
	bool skip_bad = forq_arg_bool(c, "skip_bad"), full;
	struct gtab t = { 0 };
	uint64_t rows = 0, skipped = 0;
	const char *missing = NULL;
	struct csv r;
	struct kjson j;
	cJSON *arr;
	char msg[200];
	int rc, st = FORQ_DONE;

	if (gtab_rehash(&t, 128) < 0)
		return forq_fail(c, "out of memory");
	rc = csv_open(&r, forq_arg_str(c, "path"), forq_arg_str(c, "delimiter")[0]);
	if (rc < 0) {
		free(t.slot);
		return forq_fail(c, "cannot open %s: %s", forq_arg_str(c, "path"), strerror(-rc));
	}
	rc = csv_header(&r, forq_arg_bool(c, "header"), names, idx, 2, &missing);
	if (rc == -ENOENT) {
		st = forq_fail(c, "no column named \"%s\" in the header", missing);
		goto out;
	}
	while (rc >= 0 && (rc = csv_next(&r)) > 0) {
		struct group *g;
		double x, tt;

		if (r.lineno % 65536 == 0) {
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				goto out;
			}
			forq_progress(c, csv_progress(&r));
		}
		if (csv_blank(&r))
			continue;
		if ((unsigned)idx[0] >= r.nfields || (unsigned)idx[1] >= r.nfields ||
		    !csv_number(r.fields[idx[1]], &x)) {
			if (skip_bad) {
				skipped++;
				continue;
			}
			if ((unsigned)idx[0] >= r.nfields || (unsigned)idx[1] >= r.nfields)
				st = forq_fail(c, "line %llu: no column %d",
					       (unsigned long long)r.lineno,
					       (unsigned)idx[0] >= r.nfields ? idx[0] : idx[1]);
			else
				st = forq_fail(c, "line %llu: column %d: \"%.40s\" is not a number",
					       (unsigned long long)r.lineno, idx[1],
					       r.fields[idx[1]]);
			goto out;
		}
		g = gtab_get(&t, r.fields[idx[0]], strlen(r.fields[idx[0]]), max, &full);
		if (g == NULL) {
			st = full ? forq_fail(c, "more than %zu groups (raise max_groups)", max)
				  : forq_fail(c, "out of memory at %zu groups", t.n);
			goto out;
		}
		rows++;
		g->count++;
		tt = g->sum + x;
		g->comp += fabs(g->sum) >= fabs(x) ? (g->sum - tt) + x : (x - tt) + g->sum;
		g->sum = tt;
		g->min = fmin(g->min, x);
		g->max = fmax(g->max, x);
	}
	if (rc < 0) {
		csv_error(&r, rc, msg, sizeof msg);
		st = forq_fail(c, "%s", msg);
		goto out;
	}
	if (t.n > 0)
		qsort_r(t.g, t.n, sizeof *t.g, cmp_group, t.arena);
	kj_init(&j);
	kj_num(&j, j.root, "rows", (double)rows);
	kj_num(&j, j.root, "skipped", (double)skipped);
	kj_num(&j, j.root, "ngroups", (double)t.n);
	arr = kj_arr(&j, j.root, "groups");
	for (size_t i = 0; i < t.n && arr != NULL; i++) {
		const struct group *g = &t.g[i];
		cJSON *o = kj_obj(&j, arr, NULL);
		char *key = malloc(g->klen + 1);
		double sum = g->sum + g->comp;

		if (key == NULL) {
			j.oom = true;
			break;
		}
		memcpy(key, t.arena + g->key, g->klen);
		key[g->klen] = '\0';
		kj_str(&j, o, "key", key);
		free(key);
		kj_num(&j, o, "count", (double)g->count);
		kj_num(&j, o, "sum", sum);
		kj_num(&j, o, "mean", sum / (double)g->count);
		kj_num(&j, o, "min", g->min);
		kj_num(&j, o, "max", g->max);
	}
	st = kj_finish(c, &j);
out:
	csv_close(&r);
	free(t.g);
	free(t.slot);
	free(t.arena);
	return st;
}

const struct forq_kernel forq_kernel_groupby = {
	.name = "groupby",
	.summary = "count, sum, mean, min, max of a numeric CSV column per distinct key, sorted by "
		   "key",
	.args = groupby_args,
	.validate = groupby_validate,
	.run = groupby_run,
};
