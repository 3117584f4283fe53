/*
 * bench/kernels — every built-in compute kernel of forq-kernels(7), run as
 * forq tasks over a small parameter sweep, and how much of the workers'
 * time the kernels themselves got.
 *
 * One forqd of its own (the binary next to this one,
 * dirname(/proc/self/exe)/../forqd, or --forqd PATH; its default workers
 * and durability) on a fresh mkdtemp(3) directory, which also holds the
 * input files the data kernels read: CSV files "key,value" and files of
 * one number a line, of three sizes, written before any clock starts.
 * Kernels run one after another.  For each, the sweep's tasks (each of its
 * 2-3 argument sets --reps times, smallest first) go to forqd as one
 * TASK_SUBMIT batch; the clock runs from sending it to the TASK_WAIT round
 * (1 s server-side timeout) that reports them all finished.  Then
 * TASK_STATUS of each task gives its state (every one must be DONE) and
 * resources.wall: the time the worker spent in the kernel's run function.
 *
 * Per kernel it prints:
 *   tasks        how many ran;
 *   seconds      the makespan: submit to the last result committed;
 *   tasks/s      tasks / makespan;
 *   mean task    mean resources.wall: the kernel's own time per task;
 *   sched share  (makespan x workers - sum of resources.wall)
 *                / (makespan x workers): the share of the workers' time
 *                not spent inside a kernel — dispatch, the submit and
 *                result commits, result handling, and workers idle while
 *                the last tasks of the sweep finish (so a sweep of a few
 *                long tasks shows the tail, one of many short ones shows
 *                forq's per-task cost).
 * Summary rows for bench/run.sh: tasks/s against the ideal rate
 * workers / mean task, whose ratio is 1 - sched share.  No target.
 *
 * Benchmarks assert nothing about speed.  Exit status: 0 done, 1 a task
 * did not end DONE or a run failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchd.h"
#include "report.h"
#include "sys.h"

static const char *prog = "kernels";

/* ---- kernels ------------------------------------------------------------- */

#define KB_SIZES		3	/* argument sets per kernel, at most */
#define KB_STALL_ROUNDS		120	/* give up when no task finished in this many waits */
#define KB_REPS			8	/* tasks per argument set (--reps) */
#define KB_REPS_TINY		2	/* the same with --tiny */

/*
 * One kernel's sweep.  In an argument template, "@D@" becomes the data
 * directory (JSON-escaped) and "@N@" the task's serial number (sort needs
 * an output file per task).  The data kernels' sizes are the files
 * data1..3.csv and nums1..3.txt, whose lengths --tiny shrinks.
 */
struct sweep {
	const char *kernel;		/* its name */
	const char *label;		/* what the sizes are, for the table */
	const char *label_tiny;		/* the same for --tiny */
	const char *args[KB_SIZES];	/* the sweep; NULL ends it early */
	const char *tiny[KB_SIZES];	/* the --tiny sweep */
};

static const struct sweep sweeps[] = {
	{ "pi", "samples 1e5 1e6 1e7", "samples 1e4 1e5",
	  { "{\"samples\":100000}", "{\"samples\":1000000}", "{\"samples\":10000000}" },
	  { "{\"samples\":10000}", "{\"samples\":100000}" } },
	{ "integrate", "sin(kx) on [0,100], k 10 100 1000", "exp on [0,1]; sin(10x) on [0,100]",
	  { "{\"f\":\"sin\",\"a\":0,\"b\":100,\"k\":10,\"tol\":1e-12}",
	    "{\"f\":\"sin\",\"a\":0,\"b\":100,\"k\":100,\"tol\":1e-12}",
	    "{\"f\":\"sin\",\"a\":0,\"b\":100,\"k\":1000,\"tol\":1e-12}" },
	  { "{\"f\":\"exp\",\"a\":0,\"b\":1}", "{\"f\":\"sin\",\"a\":0,\"b\":100,\"k\":10}" } },
	{ "ode", "lorenz to t 10 40 160", "harmonic to t 1; lorenz to t 5",
	  { "{\"system\":\"lorenz\",\"t1\":10,\"samples\":101}",
	    "{\"system\":\"lorenz\",\"t1\":40,\"samples\":101}",
	    "{\"system\":\"lorenz\",\"t1\":160,\"samples\":101}" },
	  { "{\"system\":\"harmonic\",\"t1\":1}", "{\"system\":\"lorenz\",\"t1\":5}" } },
	{ "nbody", "n 64 128 256, 100 steps", "n 16 32, 20 steps",
	  { "{\"n\":64,\"steps\":100}", "{\"n\":128,\"steps\":100}", "{\"n\":256,\"steps\":100}" },
	  { "{\"n\":16,\"steps\":20}", "{\"n\":32,\"steps\":20}" } },
	{ "heat2d", "sor, n 33 65 129", "sor, n 9 17",
	  { "{\"n\":33}", "{\"n\":65}", "{\"n\":129}" },
	  { "{\"n\":9}", "{\"n\":17}" } },
	{ "option", "paths 1e4 1e5 1e6", "paths 1e3 1e4",
	  { "{\"paths\":10000}", "{\"paths\":100000}", "{\"paths\":1000000}" },
	  { "{\"paths\":1000}", "{\"paths\":10000}" } },
	{ "matmul", "n 64 256 512", "n 16 64",
	  { "{\"n\":64}", "{\"n\":256}", "{\"n\":512}" },
	  { "{\"n\":16}", "{\"n\":64}" } },
	{ "linsolve", "n 64 256 512", "n 16 64",
	  { "{\"n\":64}", "{\"n\":256}", "{\"n\":512}" },
	  { "{\"n\":16}", "{\"n\":64}" } },
	{ "stats", "CSV rows, column by name", "CSV rows, column by name",
	  { "{\"path\":\"@D@/data1.csv\",\"name\":\"value\"}",
	    "{\"path\":\"@D@/data2.csv\",\"name\":\"value\"}",
	    "{\"path\":\"@D@/data3.csv\",\"name\":\"value\"}" },
	  { "{\"path\":\"@D@/data1.csv\",\"name\":\"value\"}",
	    "{\"path\":\"@D@/data2.csv\",\"name\":\"value\"}" } },
	{ "histogram", "CSV rows, 100 bins", "CSV rows, 100 bins",
	  { "{\"path\":\"@D@/data1.csv\",\"name\":\"value\",\"bins\":100}",
	    "{\"path\":\"@D@/data2.csv\",\"name\":\"value\",\"bins\":100}",
	    "{\"path\":\"@D@/data3.csv\",\"name\":\"value\",\"bins\":100}" },
	  { "{\"path\":\"@D@/data1.csv\",\"name\":\"value\",\"bins\":100}",
	    "{\"path\":\"@D@/data2.csv\",\"name\":\"value\",\"bins\":100}" } },
	{ "groupby", "CSV rows, 16 keys", "CSV rows, 16 keys",
	  { "{\"path\":\"@D@/data1.csv\",\"key_name\":\"key\",\"value_name\":\"value\"}",
	    "{\"path\":\"@D@/data2.csv\",\"key_name\":\"key\",\"value_name\":\"value\"}",
	    "{\"path\":\"@D@/data3.csv\",\"key_name\":\"key\",\"value_name\":\"value\"}" },
	  { "{\"path\":\"@D@/data1.csv\",\"key_name\":\"key\",\"value_name\":\"value\"}",
	    "{\"path\":\"@D@/data2.csv\",\"key_name\":\"key\",\"value_name\":\"value\"}" } },
	{ "sort", "lines, in memory", "lines, in memory",
	  { "{\"path\":\"@D@/nums1.txt\",\"out\":\"@D@/sorted-@N@.txt\"}",
	    "{\"path\":\"@D@/nums2.txt\",\"out\":\"@D@/sorted-@N@.txt\"}",
	    "{\"path\":\"@D@/nums3.txt\",\"out\":\"@D@/sorted-@N@.txt\"}" },
	  { "{\"path\":\"@D@/nums1.txt\",\"out\":\"@D@/sorted-@N@.txt\"}",
	    "{\"path\":\"@D@/nums2.txt\",\"out\":\"@D@/sorted-@N@.txt\"}" } },
	{ "grep", "CSV lines, ERE ^k1[0-5],", "CSV lines, ERE ^k1[0-5],",
	  { "{\"path\":\"@D@/data1.csv\",\"pattern\":\"^k1[0-5],\"}",
	    "{\"path\":\"@D@/data2.csv\",\"pattern\":\"^k1[0-5],\"}",
	    "{\"path\":\"@D@/data3.csv\",\"pattern\":\"^k1[0-5],\"}" },
	  { "{\"path\":\"@D@/data1.csv\",\"pattern\":\"^k1[0-5],\"}",
	    "{\"path\":\"@D@/data2.csv\",\"pattern\":\"^k1[0-5],\"}" } },
	{ "checksum", "sha256 of the CSV files", "sha256 of the CSV files",
	  { "{\"path\":\"@D@/data1.csv\"}", "{\"path\":\"@D@/data2.csv\"}",
	    "{\"path\":\"@D@/data3.csv\"}" },
	  { "{\"path\":\"@D@/data1.csv\"}", "{\"path\":\"@D@/data2.csv\"}" } },
};
#define KB_NSWEEPS (sizeof(sweeps) / sizeof(sweeps[0]))

/* Rows of data1..3.csv and lines of nums1..3.txt. */
static const unsigned long data_rows[KB_SIZES] = { 5000, 50000, 400000 };
static const unsigned long data_rows_tiny[KB_SIZES] = { 500, 5000, 0 };

/* What one argument set of a sweep gave. */
struct size_res {
	char args[512];			/* the arguments, as sent (JSON) */
	unsigned tasks;			/* tasks run */
	double run_s;			/* sum of their resources.wall */
};

/* What one kernel's sweep gave. */
struct kres {
	const struct sweep *s;		/* the sweep */
	unsigned tasks;			/* tasks run */
	unsigned done;			/* of them DONE */
	double seconds;			/* makespan: submit to the last result */
	double run_s;			/* sum of resources.wall */
	double rate;			/* tasks / seconds */
	double mean_s;			/* run_s / tasks */
	double share;			/* scheduler share, 0..1 */
	int nsizes;			/* entries of size[] */
	struct size_res size[KB_SIZES];	/* per argument set */
};

static unsigned opt_reps;		/* tasks per argument set */
static int workers_n;			/* STATS workers */
static char sync_mode[16] = "?";	/* STATS sync */

/* xorshift64: the data files' values, the same in every run. */
static uint64_t
xs64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * write_data - data1..3.csv ("key,value", keys k0..k15) and nums1..3.txt
 * (one number a line) in @dir, of data_rows (or data_rows_tiny) lines.
 * Returns 0 or -errno (printed).
 */
static int
write_data(const char *dir, bool tiny)
{
	const unsigned long *lines = tiny ? data_rows_tiny : data_rows;
	char path[PATH_MAX + 32];
	uint64_t seed = 0x9e3779b97f4a7c15u;
	int rc = 0;

	for (int i = 0; i < KB_SIZES && !rc; i++) {
		FILE *csv, *nums;

		if (!lines[i])
			continue;
		snprintf(path, sizeof(path), "%s/data%d.csv", dir, i + 1);
		csv = fopen(path, "w");
		snprintf(path, sizeof(path), "%s/nums%d.txt", dir, i + 1);
		nums = fopen(path, "w");
		if (!csv || !nums) {
			rc = -errno;
		} else {
			fputs("key,value\n", csv);
			for (unsigned long r = 0; r < lines[i]; r++) {
				uint64_t v = xs64(&seed);

				fprintf(csv, "k%u,%.4f\n", (unsigned)(v & 15),
					(double)(v >> 11) / 9007199254740992.0 * 1000.0);
				fprintf(nums, "%.6f\n", (double)(xs64(&seed) >> 11) / 1e9);
			}
			if (ferror(csv) || ferror(nums))
				rc = -EIO;
		}
		if (csv && fclose(csv) != 0 && !rc)
			rc = -errno;
		if (nums && fclose(nums) != 0 && !rc)
			rc = -errno;
	}
	if (rc)
		fprintf(stderr, "%s: writing the data files in %s: %s\n", prog, dir, strerror(-rc));
	return rc;
}

/* json_escape - @s as the inside of a JSON string, into @out.  false when it does not fit. */
static bool
json_escape(const char *s, char *out, size_t len)
{
	size_t w = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char tmp[8];
		int n;

		if (ch == '"' || ch == '\\')
			n = snprintf(tmp, sizeof(tmp), "\\%c", ch);
		else if (ch < 0x20)
			n = snprintf(tmp, sizeof(tmp), "\\u%04x", ch);
		else
			n = snprintf(tmp, sizeof(tmp), "%c", ch);
		if (w + (size_t)n >= len)
			return false;
		memcpy(out + w, tmp, (size_t)n);
		w += (size_t)n;
	}
	out[w] = '\0';
	return true;
}

/* expand - @tmpl with "@D@" -> @dir (escaped) and "@N@" -> @serial, into @out.  false when too long. */
static bool
expand(const char *tmpl, const char *dir, unsigned serial, char *out, size_t len)
{
	size_t w = 0;

	while (*tmpl) {
		char tmp[PATH_MAX * 2];
		const char *add = tmp;
		size_t n;

		if (strncmp(tmpl, "@D@", 3) == 0) {
			if (!json_escape(dir, tmp, sizeof(tmp)))
				return false;
			tmpl += 3;
		} else if (strncmp(tmpl, "@N@", 3) == 0) {
			snprintf(tmp, sizeof(tmp), "%u", serial);
			tmpl += 3;
		} else {
			tmp[0] = *tmpl++;
			tmp[1] = '\0';
		}
		n = strlen(add);
		if (w + n >= len)
			return false;
		memcpy(out + w, add, n);
		w += n;
	}
	out[w] = '\0';
	return true;
}

/*
 * submit_sweep - the sweep's tasks as one TASK_SUBMIT batch; their ids are
 * *@first..*@first + k->tasks - 1.  Returns 0 or -EIO (printed).
 */
static int
submit_sweep(struct forq_client *c, struct kres *k, const char *dir, bool tiny, uint64_t *first)
{
	const char *const *args = tiny ? k->s->tiny : k->s->args;
	cJSON *data = cJSON_CreateObject(), *tasks = cJSON_AddArrayToObject(data, "tasks");
	cJSON *reply = NULL;
	char msg[512], text[1024];
	unsigned serial = 0;
	int e;

	if (!data || !tasks)
		goto out_nomem;
	for (int i = 0; i < KB_SIZES && args[i]; i++) {
		struct size_res *sz = &k->size[k->nsizes++];

		if (!expand(args[i], dir, 0, sz->args, sizeof(sz->args)))
			goto out_long;
		for (unsigned r = 0; r < opt_reps; r++) {
			cJSON *t = cJSON_CreateObject(), *a;

			if (!expand(args[i], dir, serial++, text, sizeof(text)))
				goto out_long;
			a = cJSON_Parse(text);
			if (!t || !a || !cJSON_AddStringToObject(t, "kernel", k->s->kernel)) {
				cJSON_Delete(t);
				cJSON_Delete(a);
				goto out_nomem;
			}
			cJSON_AddItemToObject(t, "args", a);
			cJSON_AddItemToArray(tasks, t);
			sz->tasks++;
			k->tasks++;
		}
	}
	e = forq_client_call(c, "TASK_SUBMIT", data, &reply, msg, sizeof(msg));
	if (e) {
		fprintf(stderr, "%s: %s: TASK_SUBMIT: %s (%s)\n", prog, k->s->kernel, msg,
			forq_err_code(e));
		return -EIO;
	}
	*first = (uint64_t)benchd_num(reply, "first", 0);
	if (*first == 0 || (unsigned)benchd_num(reply, "count", 0) != k->tasks) {
		fprintf(stderr, "%s: %s: forqd accepted %.0f of %u tasks\n", prog, k->s->kernel,
			benchd_num(reply, "count", 0), k->tasks);
		cJSON_Delete(reply);
		return -EIO;
	}
	cJSON_Delete(reply);
	return 0;

out_long:
	fprintf(stderr, "%s: %s: the arguments do not fit (a very long TMPDIR?)\n", prog,
		k->s->kernel);
	cJSON_Delete(data);
	return -EIO;
out_nomem:
	fprintf(stderr, "%s: out of memory\n", prog);
	cJSON_Delete(data);
	return -EIO;
}

/* wait_ids - TASK_WAIT rounds of 1 s until first..last finished.  0 or -EIO (printed). */
static int
wait_ids(struct forq_client *c, const char *kernel, uint64_t first, uint64_t last)
{
	char line[160];
	double finished = -1;
	int stall = 0;

	snprintf(line, sizeof(line),
		 "{\"type\":\"TASK_WAIT\",\"data\":{\"ids\":[\"%llu-%llu\"],\"timeout\":1}}",
		 (unsigned long long)first, (unsigned long long)last);
	for (;;) {
		cJSON *r = NULL;
		double f;
		bool complete;

		if (benchd_call(c, "TASK_WAIT", line, &r, false))
			return -EIO;
		complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "complete"));
		f = benchd_num(r, "finished", 0);
		cJSON_Delete(r);
		if (complete)
			return 0;
		stall = f > finished ? 0 : stall + 1;
		finished = f;
		if (stall >= KB_STALL_ROUNDS) {
			fprintf(stderr, "%s: %s: no task finished in %d s\n", prog, kernel, stall);
			return -EIO;
		}
	}
}

/* collect - TASK_STATUS of each task: DONE count and resources.wall sums.  0 or -EIO. */
static int
collect(struct forq_client *c, struct kres *k, uint64_t first)
{
	uint64_t id = first;

	for (int i = 0; i < k->nsizes; i++) {
		for (unsigned r = 0; r < k->size[i].tasks; r++, id++) {
			char line[128];
			cJSON *st = NULL;
			const cJSON *state, *res;
			double wall;

			snprintf(line, sizeof(line), "{\"type\":\"TASK_STATUS\",\"data\":{\"id\":%llu}}",
				 (unsigned long long)id);
			if (benchd_call(c, "TASK_STATUS", line, &st, false))
				return -EIO;
			state = cJSON_GetObjectItemCaseSensitive(st, "state");
			res = cJSON_GetObjectItemCaseSensitive(st, "resources");
			wall = benchd_num(res, "wall", NAN);
			if (cJSON_IsString(state) && strcmp(state->valuestring, "DONE") == 0 &&
			    isfinite(wall)) {
				k->done++;
			} else {
				const cJSON *why = cJSON_GetObjectItemCaseSensitive(st, "reason");

				fprintf(stderr, "%s: %s: task %llu (%s) ended %s%s%s\n", prog,
					k->s->kernel, (unsigned long long)id, k->size[i].args,
					cJSON_IsString(state) ? state->valuestring : "?",
					cJSON_IsString(why) ? ": " : "",
					cJSON_IsString(why) ? why->valuestring : "");
				wall = isfinite(wall) ? wall : 0;
			}
			k->size[i].run_s += wall;
			k->run_s += wall;
			cJSON_Delete(st);
		}
	}
	return 0;
}

/* run_sweep - one kernel's sweep on forqd @c.  0, or -EIO (printed). */
static int
run_sweep(struct forq_client *c, struct kres *k, const char *dir, bool tiny)
{
	uint64_t first, t0, t1;
	double cap;
	int rc;

	t0 = sys_now_ns();
	rc = submit_sweep(c, k, dir, tiny, &first);
	if (!rc)
		rc = wait_ids(c, k->s->kernel, first, first + k->tasks - 1);
	t1 = sys_now_ns();
	if (!rc)
		rc = collect(c, k, first);
	if (rc)
		return rc;
	k->seconds = (double)(t1 - t0) / 1e9;
	k->rate = k->seconds > 0 ? k->tasks / k->seconds : NAN;
	k->mean_s = k->tasks ? k->run_s / k->tasks : NAN;
	cap = k->seconds * workers_n;
	k->share = cap > 0 ? (cap - k->run_s) / cap : NAN;
	return 0;
}

/* fmt_dur - seconds as "12.3 ms", "1.23 s", "45 us". */
static const char *
fmt_dur(char *buf, size_t len, double s)
{
	if (!isfinite(s))
		snprintf(buf, len, "n/a");
	else if (s >= 1)
		snprintf(buf, len, "%.3g s", s);
	else if (s >= 1e-3)
		snprintf(buf, len, "%.3g ms", s * 1e3);
	else
		snprintf(buf, len, "%.3g us", s * 1e6);
	return buf;
}

static void
add_rows(const struct kres *ks, int n)
{
	for (int i = 0; i < n; i++) {
		const struct kres *k = &ks[i];
		struct report_row *r = report_add(k->s->kernel, k->rate, "tasks/s");

		report_base(r, "ideal workers/mean", k->mean_s > 0 ? workers_n / k->mean_s : NAN,
			 NULL);
	}
}

static void
print_table(const struct kres *ks, int n, const char *forqd, long ncpu, bool tiny)
{
	const unsigned long *lines = tiny ? data_rows_tiny : data_rows;
	char a[32], b[32];

	printf("forq kernels: %s, %d workers, %ld CPUs online, sync %s, %u tasks per size\n",
	       forqd, workers_n, ncpu, sync_mode, opt_reps);
	printf("data: CSV files and number files of %lu, %lu", lines[0], lines[1]);
	if (lines[2])
		printf(", %lu", lines[2]);
	printf(" lines\n");
	printf("%-10s %-36s %5s %8s %9s %10s %10s %7s\n", "kernel", "sizes", "tasks", "seconds",
	       "tasks/s", "mean task", "in kernel", "sched");
	for (int i = 0; i < n; i++) {
		const struct kres *k = &ks[i];

		printf("%-10s %-36s %5u %8.3f %9.1f %10s %10s %6.1f%%%s\n", k->s->kernel,
		       tiny ? k->s->label_tiny : k->s->label, k->tasks, k->seconds, k->rate, fmt_dur(a, sizeof(a), k->mean_s),
		       fmt_dur(b, sizeof(b), k->run_s), k->share * 100,
		       k->done == k->tasks ? "" : "  (not all DONE)");
	}
	printf("mean task and in kernel: resources.wall, the time inside the kernel's run();\n"
	       "sched = (seconds x workers - in kernel) / (seconds x workers)\n");
	report_print_text(prog);
}

static void
print_json(const struct kres *ks, int n, const char *forqd, long ncpu, bool tiny, bool ok)
{
	cJSON *path = cJSON_CreateString(forqd);
	char *qpath = path ? cJSON_PrintUnformatted(path) : NULL;

	printf("{\"forqd\":%s,\"workers\":%d,\"cpus\":%ld,\"sync\":\"%s\",\"reps\":%u,"
	       "\"tiny\":%s,\"kernels\":[",
	       qpath ? qpath : "null", workers_n, ncpu, sync_mode, opt_reps,
	       tiny ? "true" : "false");
	free(qpath);
	cJSON_Delete(path);
	for (int i = 0; i < n; i++) {
		const struct kres *k = &ks[i];

		printf("%s{\"kernel\":\"%s\",\"tasks\":%u,\"done\":%u,\"seconds\":%.6f,"
		       "\"tasks_per_s\":", i ? "," : "", k->s->kernel, k->tasks, k->done,
		       k->seconds);
		report_jnum("%.3f", k->rate);
		printf(",\"mean_task_s\":");
		report_jnum("%.9f", k->mean_s);
		printf(",\"kernel_s\":%.9f,\"sched_share\":", k->run_s);
		report_jnum("%.5f", k->share);
		printf(",\"sizes\":[");
		for (int j = 0; j < k->nsizes; j++)
			printf("%s{\"args\":%s,\"tasks\":%u,\"mean_task_s\":%.9f}", j ? "," : "",
			       k->size[j].args, k->size[j].tasks,
			       k->size[j].tasks ? k->size[j].run_s / k->size[j].tasks : 0.0);
		printf("]}");
	}
	printf("],");
	report_print_json();
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: kernels [--reps N] [--workers N] [--forqd PATH] [--tiny] [--json] [--help]\n"
		"Each built-in kernel of forq-kernels(7) over a sweep of 2-3 argument sets,\n"
		"--reps tasks each, as one batch of forq tasks on a fresh forqd of its own;\n"
		"the data kernels read CSV and number files written in its temporary\n"
		"directory.  Per kernel: tasks, seconds (makespan: submit to the last\n"
		"result), tasks/s, mean task (resources.wall: time inside the kernel's\n"
		"run()), and the scheduler's share of the workers' time,\n"
		"  share = (makespan x workers - sum of the tasks' kernel time)\n"
		"          / (makespan x workers),\n"
		"which counts dispatch, commits, result handling and workers idle at the\n"
		"end of a sweep.  bench/run.sh's rows: tasks/s against the ideal rate\n"
		"workers / mean task; their ratio is 1 - share.\n"
		"  --reps N       tasks per argument set (default %d, %d with --tiny)\n"
		"  --workers N    passed to forqd (default: forqd's, one per core)\n"
		"  --forqd PATH   the daemon (default: ../forqd next to this program)\n"
		"  --tiny         smaller arguments and files (seconds), for tests\n"
		"  --json         print one JSON object instead of the table\n"
		"  --help         this text\n"
		"Nothing about speed is asserted.\n"
		"Exit: 0 done, 1 a run failed or a task did not end DONE, 2 usage.\n",
		KB_REPS, KB_REPS_TINY);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "forqd", required_argument, NULL, 'f' },
		{ "tiny", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *extra[4] = { NULL }, *forqd = NULL;
	static struct kres ks[KB_NSWEEPS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	bool json = false, tiny = false, ok = true;
	struct forq_client *c = NULL;
	char forqd_buf[PATH_MAX];
	struct benchd d;
	uint64_t v;
	int o, n = 0, rc;
	double w;

	benchd_prog = prog;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			if (!benchd_parse_u64(optarg, 1, 1000, &v)) {
				fprintf(stderr, "%s: --reps: an integer from 1 to 1000\n", prog);
				return 2;
			}
			opt_reps = (unsigned)v;
			break;
		case 'w':
			if (!benchd_parse_u64(optarg, 1, 4096, &v)) {
				fprintf(stderr, "%s: --workers: an integer from 1 to 4096\n", prog);
				return 2;
			}
			extra[0] = "--workers";
			extra[1] = optarg;
			break;
		case 'f':
			forqd = optarg;
			break;
		case 't':
			tiny = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!opt_reps)
		opt_reps = tiny ? KB_REPS_TINY : KB_REPS;
	if (benchd_find_forqd(forqd, forqd_buf, &forqd))
		return 1;
	if (benchd_up(&d, forqd, extra, &c))
		return 1;
	rc = benchd_stats_num(c, "workers", &w);
	workers_n = rc ? 0 : (int)w;
	if (!rc) {
		cJSON *r = NULL;

		if (benchd_call(c, "STATS", "{\"type\":\"STATS\",\"data\":{}}", &r, false) == 0) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "sync");

			if (cJSON_IsString(s))
				snprintf(sync_mode, sizeof(sync_mode), "%s", s->valuestring);
		}
		cJSON_Delete(r);
	}
	if (rc || workers_n < 1 || write_data(d.dir, tiny)) {
		ok = false;
		goto out_stop;
	}
	for (size_t i = 0; i < KB_NSWEEPS; i++) {
		ks[n].s = &sweeps[i];
		if (run_sweep(c, &ks[n], d.dir, tiny)) {
			fprintf(stderr, "%s: %s failed\n", prog, sweeps[i].kernel);
			benchd_show_log(&d);
			ok = false;
			goto out_stop;
		}
		if (ks[n].done != ks[n].tasks)
			ok = false;
		n++;
	}
out_stop:
	if (benchd_stop(&d, c)) {
		benchd_show_log(&d);
		ok = false;
	}
	forq_client_close(c);
	benchd_cleanup(&d);
	if (n == 0)
		return 1;
	add_rows(ks, n);
	if (json)
		print_json(ks, n, forqd, ncpu, tiny, ok);
	else
		print_table(ks, n, forqd, ncpu, tiny);
	return ok ? 0 : 1;
}
