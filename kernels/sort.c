/*
 * sort — sort a text file of numbers, one per line, into an output file,
 * in memory when it fits and by external merge sort when it does not.
 *
 * Input: one number per line (anything strtod reads wholly, with blanks
 * around it; not nan or inf); blank lines are dropped (counted in
 * "blank"); any other line fails the task with its line number.  Lines
 * longer than 4096 bytes are refused.  Output: the input lines themselves
 * (their text is kept: "1e3" stays "1e3"), each ending in '\n', ordered by
 * numeric value, ascending or descending; equal values keep their input
 * order (the sort is stable), so the output is a pure function of the
 * input.
 *
 * Memory: the budget is half of forq_mem_limit() (default 256 MiB, so
 * 128 MiB), counting each line's text plus 24 bytes of index.  A file
 * whose lines fit is sorted in memory with one qsort.  Otherwise each
 * budget-full chunk is sorted and written as a run into the task's
 * scratch directory (forq_scratch_dir(), removed after the task), and the
 * runs are merged with a binary heap, at most fan_in = budget/8 KiB
 * (2..64) at a time, in as many passes as needed; ties between runs go to
 * the earlier run, which keeps the merge stable.  The scratch space needed
 * is about twice the input size.
 *
 * The output is written to a temporary file beside "out", flushed to disk
 * (fsync) and renamed over "out", so readers see the old file or the
 * complete new one, never a partial one; "out" may be the input file.
 *
 * Args:   path (required), out (required), order (asc | desc; asc)
 * Result: {"lines","blank","mode":"memory"|"external","runs","passes",
 *          "fan_in","min","max","out"}
 * Cancel and progress every 65536 lines.  Library: libc (stdio, qsort).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <forq/kernel.h>

#include "csv.h"
#include "kjson.h"

#define SORT_LINE_MAX 4096u      /* longest line, bytes */
#define SORT_CHECK    65536u     /* lines between cancel checks */
#define SORT_FAN_MAX  64u        /* most runs merged at once */

static const char *const sort_orders[] = { "asc", "desc", NULL };

static const struct forq_arg_spec sort_args[] = {
	{ "path", FORQ_ARG_PATH, 1, 0, 0, NULL, NULL, "input: one number per line" },
	{ "out", FORQ_ARG_OUTPATH, 1, 0, 0, NULL, NULL, "output file (replaced atomically)" },
	{ "order", FORQ_ARG_ENUM, 0, 0, 0, "\"asc\"", sort_orders, "asc or desc" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

struct sline {
	double key;                  /* the value */
	uint64_t seq;                /* input line number: the tie-break */
	uint32_t off;                /* text offset in the chunk */
	uint32_t len;                /* text length, no newline */
};

struct sorter {
	struct forq_ctx *c;
	bool desc;                   /* descending */
	size_t budget;               /* bytes for one chunk: text + index */
	char *text;                  /* the chunk's text */
	size_t tlen, tcap;
	struct sline *v;             /* the chunk's index */
	size_t n, cap;
	char **runs;                 /* run file paths, in order */
	size_t nruns, rcap;
	unsigned gen;                /* run file generation (merge pass) */
	unsigned seqno;              /* run file counter */
	uint64_t lines, blank, merged;
	double lo, hi;               /* extremes */
	size_t runs0;                /* runs written from the input */
	unsigned passes;
	unsigned fan;
	const char *scratch;
};

static int
sline_cmp(const void *a, const void *b, void *arg)
{
	const struct sline *x = a, *y = b;
	bool desc = *(const bool *)arg;

	if (x->key != y->key)
		return (x->key < y->key) != desc ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Write the sorted chunk to @f. 0 or -errno. */
static int
chunk_write(struct sorter *s, FILE *f)
{
	qsort_r(s->v, s->n, sizeof *s->v, sline_cmp, &s->desc);
	for (size_t i = 0; i < s->n; i++) {
		if (fwrite(s->text + s->v[i].off, 1, s->v[i].len, f) != s->v[i].len ||
		    putc('\n', f) == EOF)
			return -EIO;
	}
	s->n = 0;
	s->tlen = 0;
	return 0;
}

static int
run_name(struct sorter *s, char **out)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof buf, "%s/run-%u-%u", s->scratch, s->gen, s->seqno++) >=
	    (int)sizeof buf)
		return -ENAMETOOLONG;
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

static int
runs_push(struct sorter *s, char *name)
{
	if (s->nruns == s->rcap) {
		size_t ncap = s->rcap ? 2 * s->rcap : 16;
		char **nr = realloc(s->runs, ncap * sizeof *nr);

		if (nr == NULL)
			return -ENOMEM;
		s->runs = nr;
		s->rcap = ncap;
	}
	s->runs[s->nruns++] = name;
	return 0;
}

/* Sort the chunk into a new run file. */
static int
chunk_to_run(struct sorter *s)
{
	char *name;
	FILE *f;
	int rc;

	if (s->scratch == NULL && (s->scratch = forq_scratch_dir(s->c)) == NULL)
		return -EACCES;
	if ((rc = run_name(s, &name)) < 0)
		return rc;
	f = fopen(name, "we");
	if (f == NULL) {
		rc = -errno;
		free(name);
		return rc;
	}
	rc = chunk_write(s, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		rc = runs_push(s, name);
	if (rc < 0) {
		unlink(name);
		free(name);
	}
	return rc;
}

/* Append line @p (@n bytes) with value @x; flush to a run when the budget says so. */
static int
chunk_add(struct sorter *s, const char *p, size_t n, double x)
{
	int rc;

	if (s->n > 0 && s->tlen + n + (s->n + 1) * sizeof(struct sline) > s->budget &&
	    (rc = chunk_to_run(s)) < 0)
		return rc;
	if (s->tlen + n > s->tcap) {
		size_t ncap = s->tcap ? 2 * s->tcap : 65536;
		char *nt;

		while (ncap < s->tlen + n)
			ncap *= 2;
		nt = realloc(s->text, ncap);
		if (nt == NULL)
			return -ENOMEM;
		s->text = nt;
		s->tcap = ncap;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 4096;
		struct sline *nv = realloc(s->v, ncap * sizeof *nv);

		if (nv == NULL)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	memcpy(s->text + s->tlen, p, n);
	s->v[s->n] = (struct sline){ x, s->lines, (uint32_t)s->tlen, (uint32_t)n };
	s->n++;
	s->tlen += n;
	return 0;
}

/* ---- merging ---------------------------------------------------------------- */

struct src {
	FILE *f;
	char *line;                  /* getline's buffer */
	size_t cap;
	size_t len;                  /* current line, newline stripped */
	double key;
	unsigned idx;                /* run order: the tie-break */
};

static bool
src_less(const struct src *a, const struct src *b, bool desc)
{
	if (a->key != b->key)
		return (a->key < b->key) != desc;
	return a->idx < b->idx;
}

static void
heap_sift(struct src **h, size_t n, size_t i, bool desc)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct src *t;

		if (l < n && src_less(h[l], h[m], desc))
			m = l;
		if (r < n && src_less(h[r], h[m], desc))
			m = r;
		if (m == i)
			return;
		t = h[m];
		h[m] = h[i];
		h[i] = t;
		i = m;
	}
}

/* Read the next line of @sr; 1 when there is one, 0 at its end, -errno. */
static int
src_next(struct src *sr)
{
	ssize_t n;

	errno = 0;
	n = getline(&sr->line, &sr->cap, sr->f);
	if (n < 0)
		return errno ? -errno : 0;
	if (n > 0 && sr->line[n - 1] == '\n')
		sr->line[--n] = '\0';
	sr->len = (size_t)n;
	return csv_number(sr->line, &sr->key) ? 1 : -EBADMSG;
}

/* Merge runs [first, first + k) into @out. */
static int
merge(struct sorter *s, size_t first, size_t k, FILE *out)
{
	struct src *srcs = calloc(k, sizeof *srcs);
	struct src **h = calloc(k, sizeof *h);
	size_t n = 0;
	int rc = 0;

	if (srcs == NULL || h == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < k; i++) {
		srcs[i].idx = (unsigned)i;
		srcs[i].f = fopen(s->runs[first + i], "re");
		if (srcs[i].f == NULL) {
			rc = -errno;
			goto out;
		}
		rc = src_next(&srcs[i]);
		if (rc < 0)
			goto out;
		if (rc == 1)
			h[n++] = &srcs[i];
		rc = 0;
	}
	for (size_t i = n / 2; i-- > 0;)
		heap_sift(h, n, i, s->desc);
	while (n > 0) {
		struct src *top = h[0];

		if (fwrite(top->line, 1, top->len, out) != top->len || putc('\n', out) == EOF) {
			rc = -EIO;
			goto out;
		}
		if (++s->merged % SORT_CHECK == 0) {
			if (forq_cancelled(s->c)) {
				rc = -ECANCELED;
				goto out;
			}
			forq_progress(s->c,
				      0.5 + 0.5 * (double)s->merged /
						      (double)(s->lines * (s->passes + 1) + 1));
		}
		rc = src_next(top);
		if (rc < 0)
			goto out;
		if (rc == 0)
			h[0] = h[--n];
		rc = 0;
		heap_sift(h, n, 0, s->desc);
	}
out:
	for (size_t i = 0; srcs != NULL && i < k; i++) {
		if (srcs[i].f != NULL)
			fclose(srcs[i].f);
		free(srcs[i].line);
	}
	free(srcs);
	free(h);
	return rc;
}

/* Merge passes until at most s->fan runs are left. */
static int
merge_passes(struct sorter *s)
{
	while (s->nruns > s->fan) {
		char **old = s->runs;
		size_t nold = s->nruns;
		int rc = 0;

		s->runs = NULL;
		s->nruns = s->rcap = 0;
		s->gen++;
		s->seqno = 0;
		s->passes++;
		for (size_t g = 0; g < nold && rc == 0; g += s->fan) {
			size_t k = nold - g < s->fan ? nold - g : s->fan;
			char *name = NULL;
			char **cur = s->runs;
			size_t ncur = s->nruns;
			FILE *f;

			if ((rc = run_name(s, &name)) < 0)
				break;
			f = fopen(name, "we");
			if (f == NULL) {
				rc = -errno;
				free(name);
				break;
			}
			/* merge() reads s->runs: point it at the old list for the call */
			s->runs = old;
			s->nruns = nold;
			rc = merge(s, g, k, f);
			s->runs = cur;
			s->nruns = ncur;
			if (fclose(f) != 0 && rc == 0)
				rc = -errno;
			for (size_t i = g; i < g + k; i++)
				unlink(old[i]);
			if (rc == 0)
				rc = runs_push(s, name);
			if (rc < 0) {
				unlink(name);
				free(name);
			}
		}
		for (size_t i = 0; i < nold; i++)
			free(old[i]);
		free(old);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the run function ---------------------------------------------------------- */

static int
sort_run(struct forq_ctx *c)
{
	const char *path = forq_arg_str(c, "path"), *outp = forq_arg_str(c, "out");
	struct sorter s = { 0 };
	char tmp[PATH_MAX], *line = NULL;
	size_t lcap = 0;
	FILE *in = NULL, *out = NULL;
	int fd = -1, rc = 0, st = FORQ_DONE;
	struct kjson j;
	uint64_t lineno = 0, bytes = 0, size = 0;

	s.c = c;
	s.desc = strcmp(forq_arg_str(c, "order"), "desc") == 0;
	s.budget = forq_mem_limit(c) / 2;
	s.fan = (unsigned)(s.budget / 8192 < 2
				   ? 2
				   : (s.budget / 8192 > SORT_FAN_MAX ? SORT_FAN_MAX
								     : s.budget / 8192));
	s.lo = INFINITY;
	s.hi = -INFINITY;
	in = fopen(path, "re");
	if (in == NULL)
		return forq_fail(c, "cannot open %s: %s", path, strerror(errno));
	if (fseeko(in, 0, SEEK_END) == 0) {
		size = (uint64_t)ftello(in);
		rewind(in);
	}
	for (;;) {
		ssize_t n;
		double x;

		errno = 0;
		n = getline(&line, &lcap, in);
		if (n < 0) {
			if (errno) {
				st = forq_fail(c, "read %s: %s", path, strerror(errno));
				goto out;
			}
			break;
		}
		lineno++;
		bytes += (uint64_t)n;
		if (lineno % SORT_CHECK == 0) {
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				goto out;
			}
			forq_progress(c, size ? 0.5 * (double)bytes / (double)size : 0);
		}
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if ((size_t)n > SORT_LINE_MAX) {
			st = forq_fail(c, "line %llu: longer than %u bytes",
				       (unsigned long long)lineno, SORT_LINE_MAX);
			goto out;
		}
		if (strspn(line, " \t") == (size_t)n) {
			s.blank++;
			continue;
		}
		if (memchr(line, '\0', (size_t)n) != NULL || !csv_number(line, &x)) {
			st = forq_fail(c, "line %llu: \"%.40s\" is not a number",
				       (unsigned long long)lineno, line);
			goto out;
		}
		s.lines++;
		s.lo = fmin(s.lo, x);
		s.hi = fmax(s.hi, x);
		if ((rc = chunk_add(&s, line, (size_t)n, x)) < 0)
			goto out_rc;
	}
	/* the output: a temporary file beside it, renamed over it at the end */
	if (snprintf(tmp, sizeof tmp, "%s.forq-tmp-XXXXXX", outp) >= (int)sizeof tmp) {
		st = forq_fail(c, "out: path too long");
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		st = forq_fail(c, "cannot create a file beside %s: %s", outp, strerror(errno));
		goto out;
	}
	out = fdopen(fd, "w");
	if (out == NULL) {
		rc = -errno;
		close(fd);
		goto out_unlink;
	}
	if (s.nruns == 0) {
		rc = chunk_write(&s, out);
	} else {
		if (s.n > 0 && (rc = chunk_to_run(&s)) < 0)
			goto out_unlink;
		free(s.text);
		free(s.v);
		s.text = NULL;
		s.v = NULL;
		s.tcap = s.cap = 0;
		s.runs0 = s.nruns;
		if ((rc = merge_passes(&s)) < 0)
			goto out_unlink;
		s.passes++;
		rc = merge(&s, 0, s.nruns, out);
	}
	if (rc < 0)
		goto out_unlink;
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		rc = -errno;
		goto out_unlink;
	}
	rc = fclose(out) != 0 ? -errno : 0;
	out = NULL;
	if (rc < 0 || rename(tmp, outp) != 0) {
		rc = rc < 0 ? rc : -errno;
		goto out_unlink;
	}
	kj_init(&j);
	kj_num(&j, j.root, "lines", (double)s.lines);
	kj_num(&j, j.root, "blank", (double)s.blank);
	kj_str(&j, j.root, "mode", s.nruns ? "external" : "memory");
	kj_num(&j, j.root, "runs", (double)s.runs0);
	kj_num(&j, j.root, "passes", (double)s.passes);
	kj_num(&j, j.root, "fan_in", (double)s.fan);
	kj_num(&j, j.root, "min", s.lines ? s.lo : NAN);
	kj_num(&j, j.root, "max", s.lines ? s.hi : NAN);
	kj_str(&j, j.root, "out", outp);
	st = kj_finish(c, &j);
	goto out;
out_unlink:
	if (out != NULL)
		fclose(out);
	out = NULL;
	unlink(tmp);
out_rc:
	if (rc == -ECANCELED)
		st = forq_stop_status(c);
	else
		st = forq_fail(c, "%s", rc == -EACCES ? "cannot create a scratch directory" :
			       rc == -EBADMSG ? "a scratch run file is corrupt" : strerror(-rc));
out:
	if (in != NULL)
		fclose(in);
	free(line);
	free(s.text);
	free(s.v);
	for (size_t i = 0; i < s.nruns; i++) {
		unlink(s.runs[i]);
		free(s.runs[i]);
	}
	free(s.runs);
	return st;
}

const struct forq_kernel forq_kernel_sort = {
	.name = "sort",
	.summary = "sort a file of numbers (one per line) into an output file; external merge sort "
		   "beyond the memory limit",
	.args = sort_args,
	.validate = NULL,
	.run = sort_run,
};
