/*
 * bench/cost — what forqd itself costs: CPU seconds per 1000 tasks under a
 * noop batch, and CPU while idle.
 *
 * A fresh forqd of its own (mkdtemp(3) directory, own socket; its default
 * workers and --sync fsync) gets --tasks noop tasks as TASK_SUBMIT batches
 * of 50 000 (as forq(1) sends a JSONL file), and the program waits until
 * the last result is committed.  forqd's CPU time is read before and after
 * from the process CPU clock of its pid (clock_getcpuclockid(3):
 * nanoseconds, user + system, every thread of forqd), and cross-checked
 * with utime + stime of /proc/PID/stat (clock ticks).  Workers are
 * processes of their own and are not counted in forqd's figure; their CPU
 * is printed beside it.
 *
 * Baseline, measured in the same run: the CPU this program spends parsing
 * the same batches with cJSON (cJSON_Parse + cJSON_Delete), the one step
 * forqd cannot avoid at the submit boundary.  Reference (issue 3, not
 * measured): HyperQueue's server spends about 0.3 ms of CPU per 1000
 * tasks.
 *
 * Then idle: after the batch, half a second to settle, then --idle seconds
 * (default 5) with nothing to do; forqd's and its workers' CPU over that
 * span as a percentage of one core.  Target (issue 3; printed, never
 * asserted): < 0.5%.
 *
 * Exit status: 0 done, 1 a run failed or a task did not end DONE, 2 usage.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchd.h"
#include "report.h"
#include "sys.h"

static const char *prog = "cost";

/* ---- cost ---------------------------------------------------------------- */

#define CO_BATCH	50000u		/* tasks per TASK_SUBMIT message */
#define CO_MAX_WORKERS	1024

/* The processes whose CPU we read. */
struct procs {
	pid_t pid[CO_MAX_WORKERS + 1];	/* [0] forqd, then its workers */
	clockid_t clk[CO_MAX_WORKERS + 1];	/* their process CPU clocks */
	int n;				/* forqd + workers */
};

/* CPU time of one process by its CPU clock, ns; NAN when gone. */
static double
cpu_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) != 0)
		return NAN;
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* utime + stime of @pid from /proc/PID/stat, seconds; NAN on failure. */
static double
stat_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NAN;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NAN;
	buf[n] = '\0';
	/* fields after the command, which is in parentheses and may hold blanks */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return NAN;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* procs_find - forqd and its workers (WORKER_LIST pids).  0 or -EIO. */
static int
procs_find(struct forq_client *c, pid_t forqd, struct procs *p)
{
	static const char line[] = "{\"type\":\"WORKER_LIST\",\"data\":{}}";
	cJSON *r = NULL, *w;

	memset(p, 0, sizeof(*p));
	p->pid[p->n++] = forqd;
	if (benchd_call(c, "WORKER_LIST", line, &r, false))
		return -EIO;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(r, "workers")) {
		double pid = benchd_num(w, "pid", 0);

		if (pid > 0 && p->n <= CO_MAX_WORKERS)
			p->pid[p->n++] = (pid_t)pid;
	}
	cJSON_Delete(r);
	for (int i = 0; i < p->n; i++) {
		if (clock_getcpuclockid(p->pid[i], &p->clk[i]) != 0) {
			fprintf(stderr, "cost: no CPU clock for pid %d\n", (int)p->pid[i]);
			return -EIO;
		}
	}
	return 0;
}

/* procs_cpu - CPU ns of forqd into *@forqd and of all its workers into *@workers. */
static void
procs_cpu(const struct procs *p, double *forqd, double *workers)
{
	*forqd = cpu_ns(p->clk[0]);
	*workers = 0;
	for (int i = 1; i < p->n; i++)
		*workers += cpu_ns(p->clk[i]);
}

static double
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct result {
	uint64_t tasks;		/* noop tasks */
	int workers;		/* forqd's */
	double seconds;		/* first submit to complete */
	double forqd_ms;	/* forqd CPU during the batch, by its CPU clock */
	double forqd_stat_s;	/* the same from /proc/PID/stat */
	double workers_ms;	/* the workers' CPU during the batch */
	double parse_ms;	/* baseline: cJSON parse of the same batches */
	double idle_s;		/* idle span */
	double idle_forqd_ms;	/* forqd CPU over it */
	double idle_workers_ms;	/* workers' CPU over it */
	double done;		/* STATS counts.DONE */
};

static int
run(struct result *R, const char *forqd)
{
	static const char head[] = "{\"type\":\"TASK_SUBMIT\",\"data\":{\"tasks\":[";
	static const char task[] = "{\"kernel\":\"noop\"}";
	struct forq_client *c = NULL;
	struct benchd d;
	struct procs P;
	size_t nb = (size_t)((R->tasks + CO_BATCH - 1) / CO_BATCH);
	char **lines = calloc(nb ? nb : 1, sizeof(*lines));
	double f0, f1, w0, w1, s0, s1, p0;
	uint64_t t0;
	int rc = -EIO;

	if (!lines)
		return -EIO;
	for (size_t i = 0; i < nb; i++) {
		uint64_t k = R->tasks - i * (uint64_t)CO_BATCH;
		char *q;

		k = k > CO_BATCH ? CO_BATCH : k;
		q = lines[i] = malloc(sizeof(head) + k * sizeof(task) + 8);
		if (!q)
			goto out_free;
		q += sprintf(q, "%s", head);
		for (uint64_t j = 0; j < k; j++)
			q += sprintf(q, "%s%s", j ? "," : "", task);
		strcpy(q, "]}}");
	}
	/* the baseline first: parse every batch as forqd must */
	p0 = thread_cpu_ns();
	for (size_t i = 0; i < nb; i++) {
		cJSON *j = cJSON_Parse(lines[i]);

		if (!j) {
			fprintf(stderr, "cost: cJSON could not parse a batch\n");
			goto out_free;
		}
		cJSON_Delete(j);
	}
	R->parse_ms = (thread_cpu_ns() - p0) / 1e6;

	if (benchd_up(&d, forqd, NULL, &c))
		goto out_free;
	if (procs_find(c, d.pid, &P))
		goto out_daemon;
	R->workers = P.n - 1;
	procs_cpu(&P, &f0, &w0);
	s0 = stat_cpu_s(d.pid);
	t0 = sys_now_ns();
	for (size_t i = 0; i < nb; i++)
		if (benchd_call(c, "TASK_SUBMIT", lines[i], NULL, false))
			goto out_daemon;
	if (benchd_wait_all(c))
		goto out_daemon;
	R->seconds = (double)(sys_now_ns() - t0) / 1e9;
	procs_cpu(&P, &f1, &w1);
	s1 = stat_cpu_s(d.pid);
	R->forqd_ms = (f1 - f0) / 1e6;
	R->workers_ms = (w1 - w0) / 1e6;
	R->forqd_stat_s = s1 - s0;
	if (benchd_stats_num(c, "counts.DONE", &R->done))
		goto out_daemon;

	/* idle */
	benchd_sleep_ms(500);
	procs_cpu(&P, &f0, &w0);
	t0 = sys_now_ns();
	benchd_sleep_ms((long)(R->idle_s * 1000));
	procs_cpu(&P, &f1, &w1);
	R->idle_s = (double)(sys_now_ns() - t0) / 1e9;
	R->idle_forqd_ms = (f1 - f0) / 1e6;
	R->idle_workers_ms = (w1 - w0) / 1e6;
	if (!isfinite(R->idle_forqd_ms) || !isfinite(R->idle_workers_ms)) {
		fprintf(stderr, "cost: forqd or a worker went away while idle\n");
		goto out_daemon;
	}
	rc = 0;
out_daemon:
	if (rc)
		benchd_show_log(&d);
	if (benchd_stop(&d, c) && !rc) {
		benchd_show_log(&d);
		rc = -EIO;
	}
	forq_client_close(c);
	benchd_cleanup(&d);
out_free:
	for (size_t i = 0; i < nb; i++)
		free(lines[i]);
	free(lines);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: cost [--tasks N] [--idle S] [--forqd PATH] [--tiny] [--json] [--help]\n"
		"forqd's own CPU per 1000 noop tasks (a batch), and forqd's and its\n"
		"workers' CPU while idle, against cJSON parsing the same batches.\n"
		"  --tasks N     noop tasks (default 200000)\n"
		"  --idle S      seconds of idle to measure (default 5)\n"
		"  --forqd PATH  the daemon (default: ../forqd next to this program)\n"
		"  --tiny        a very small run (2000 tasks, 1 s idle), for tests\n"
		"  --json        print one JSON object instead of the table\n"
		"  --help        this text\n"
		"Targets are printed, not asserted.\n"
		"Exit: 0 done, 1 a run failed or a task did not end DONE, 2 usage.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tasks", required_argument, NULL, 'n' },
		{ "idle", required_argument, NULL, 'i' },
		{ "forqd", required_argument, NULL, 'f' },
		{ "tiny", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct result R = { .tasks = 200000, .idle_s = 5 };
	bool json = false, tiny = false, n_set = false, i_set = false, ok;
	const char *forqd = NULL;
	char forqd_buf[PATH_MAX];
	uint64_t v;
	int o;

	benchd_prog = prog;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			if (!benchd_parse_u64(optarg, 1, 100000000, &R.tasks)) {
				fprintf(stderr, "cost: --tasks: an integer from 1 to 100000000\n");
				return 2;
			}
			n_set = true;
			break;
		case 'i':
			if (!benchd_parse_u64(optarg, 1, 3600, &v)) {
				fprintf(stderr, "cost: --idle: an integer from 1 to 3600\n");
				return 2;
			}
			R.idle_s = (double)v;
			i_set = true;
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
	if (benchd_find_forqd(forqd, forqd_buf, &forqd))
		return 1;
	if (tiny && !n_set)
		R.tasks = 2000;
	if (tiny && !i_set)
		R.idle_s = 1;
	if (run(&R, forqd)) {
		fprintf(stderr, "cost: the run failed\n");
		return 1;
	}
	ok = R.done == (double)R.tasks;
	if (!ok)
		fprintf(stderr, "cost: warning: %.0f of %llu tasks DONE\n", R.done,
			(unsigned long long)R.tasks);

	double per_k = R.forqd_ms / (double)R.tasks * 1000;
	double parse_k = R.parse_ms / (double)R.tasks * 1000;
	double idle_f = R.idle_forqd_ms / 10 / R.idle_s;	/* ms/s -> % of a core */
	double idle_all = (R.idle_forqd_ms + R.idle_workers_ms) / 10 / R.idle_s;
	struct report_row *r;

	r = report_add("forqd CPU per 1000 noop tasks", per_k, "ms");
	report_base(r, "cJSON parse", parse_k, NULL);
	report_target(r, "(HyperQueue ~0.3 ms)", false);
	r->met = -1;
	r = report_add("idle CPU, forqd + workers", idle_all, "%");
	report_target(r, "< 0.5% of a core", idle_all < 0.5);

	if (json) {
		cJSON *path = cJSON_CreateString(forqd);
		char *qpath = path ? cJSON_PrintUnformatted(path) : NULL;

		printf("{\"forqd\":%s,\"workers\":%d,\"sync\":\"fsync\",\"tasks\":%llu,"
		       "\"seconds\":%.4f,\"forqd_cpu_ms\":%.3f,\"forqd_cpu_stat_s\":%.2f,"
		       "\"workers_cpu_ms\":%.3f,\"forqd_ms_per_1000\":%.4f,"
		       "\"workers_ms_per_1000\":%.4f,\"cjson_parse_ms_per_1000\":%.4f,"
		       "\"ratio_forqd_parse\":%.3f,\"hyperqueue_ms_per_1000\":0.3,"
		       "\"idle\":{\"seconds\":%.3f,\"forqd_cpu_ms\":%.3f,\"workers_cpu_ms\":%.3f,"
		       "\"forqd_pct\":%.4f,\"total_pct\":%.4f,\"target_pct\":0.5},",
		       qpath ? qpath : "null", R.workers, (unsigned long long)R.tasks, R.seconds,
		       R.forqd_ms, R.forqd_stat_s, R.workers_ms, per_k,
		       R.workers_ms / (double)R.tasks * 1000, parse_k,
		       parse_k > 0 ? per_k / parse_k : 0, R.idle_s, R.idle_forqd_ms,
		       R.idle_workers_ms, idle_f, idle_all);
		free(qpath);
		cJSON_Delete(path);
		report_print_json();
		printf(",\"ok\":%s}\n", ok ? "true" : "false");
		return ok ? 0 : 1;
	}
	printf("forq cost: %s, %d workers, --sync fsync, %llu noop tasks in batches of %u\n",
	       forqd, R.workers, (unsigned long long)R.tasks, CO_BATCH);
	printf("batch: %.3f s (%.0f tasks/s); forqd CPU %.1f ms (/proc stat: %.2f s), "
	       "%.1f%% of a core over the batch\n",
	       R.seconds, (double)R.tasks / R.seconds, R.forqd_ms, R.forqd_stat_s,
	       R.forqd_ms / 10 / R.seconds);
	printf("%-38s %10s\n", "CPU per 1000 tasks", "ms");
	printf("%-38s %10.3f\n", "forqd (all its threads)", per_k);
	printf("%-38s %10.3f\n", "workers (all of them)", R.workers_ms / (double)R.tasks * 1000);
	printf("%-38s %10.3f\n", "baseline: cJSON parse of the batches", parse_k);
	printf("%-38s %10.3f\n", "reference: HyperQueue server", 0.3);
	printf("forqd / cJSON parse: %.1fx\n", parse_k > 0 ? per_k / parse_k : 0);
	printf("idle %.1f s: forqd %.2f ms CPU (%.3f%%), workers %.2f ms (%.3f%%); "
	       "total %.3f%% of a core (target < 0.5%%: %s)\n",
	       R.idle_s, R.idle_forqd_ms, idle_f, R.idle_workers_ms,
	       R.idle_workers_ms / 10 / R.idle_s, idle_all, idle_all < 0.5 ? "met" : "missed");
	report_print_text(prog);
	return ok ? 0 : 1;
}
