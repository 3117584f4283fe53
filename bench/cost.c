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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

static const char *prog = "cost";

/* ---- one forqd of our own (the same helper in every bench program) -------- */

/*
 * This block is copied whole into each benchmark (every bench source is a
 * program of its own, there is no shared bench library); not every program
 * uses every helper.
 */
#pragma GCC diagnostic ignored "-Wunused-function"

#define BENCH_START_MS		10000	/* wait this long for forqd's socket */
#define BENCH_STOP_MS		30000	/* wait this long for forqd to exit */

/* One forqd of our own, and the temporary directory it lives in. */
struct daemon {
	pid_t pid;			/* 0 when not running */
	char dir[PATH_MAX - 16];	/* mkdtemp'd; state, socket, log */
	char state[PATH_MAX];		/* dir/state */
	char sock[PATH_MAX];		/* dir/sock */
	char log[PATH_MAX];		/* dir/forqd.log: forqd's stderr */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

/* Print the end of forqd's log to stderr, to say why a run failed. */
static void
daemon_show_log(const struct daemon *d)
{
	char buf[4096];
	FILE *f = fopen(d->log, "r");
	long size;
	size_t n;

	if (!f)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > (long)sizeof(buf) - 1)
		fseek(f, size - (long)sizeof(buf) + 1, SEEK_SET);
	else
		fseek(f, 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if (n)
		fprintf(stderr, "%s: forqd's log ends:\n%s", prog, buf);
}

/*
 * daemon_start - make a temporary directory and start forqd on it with
 * --state, --socket, --log-level warn and @extra (NULL-terminated, at
 * most 8 strings, e.g. "--sync", "nosync", "--workers", "1").
 * Returns 0, or -errno (the directory is removed again on failure).
 */
static int
daemon_start(struct daemon *d, const char *forqd, const char *const *extra)
{
	const char *tmp = getenv("TMPDIR");
	const char *argv[20] = {
		forqd, "--state", NULL, "--socket", NULL, "--log-level", "warn",
	};
	int argc = 7;
	pid_t pid;
	int rc;

	memset(d, 0, sizeof(*d));
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(d->dir, sizeof(d->dir), "%s/forq-bench.XXXXXX", tmp) >= sizeof(d->dir))
		return -ENAMETOOLONG;
	if (!mkdtemp(d->dir))
		return -errno;
	snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/forqd.log", d->dir);
	argv[2] = d->state;
	argv[4] = d->sock;
	for (int i = 0; extra && extra[i] && argc < 18; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out_rmdir;
	}
	if (pid == 0) {
		/* Child, in this order: die with the parent, quiet stdout, log stderr, exec. */
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execv(forqd, (char *const *)argv);
		fprintf(stderr, "%s: exec %s: %s\n", prog, forqd, strerror(errno));
		_exit(127);
	}
	d->pid = pid;
	return 0;

out_rmdir:
	rmdir(d->dir);
	d->dir[0] = '\0';
	return rc;
}

/*
 * daemon_connect - wait for forqd's socket and connect to it.
 * Returns 0, -ECHILD when forqd exited, -ETIMEDOUT, or -errno.
 */
static int
daemon_connect(struct daemon *d, struct forq_client **out)
{
	uint64_t deadline = now_ns() + (uint64_t)BENCH_START_MS * 1000000u;
	int status, rc;

	for (;;) {
		rc = forq_client_connect(d->sock, out);
		if (rc == 0)
			return 0;
		if (rc != -ENOENT && rc != -ECONNREFUSED)
			return rc;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return -ECHILD;
		}
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		sleep_ms(5);
	}
}

/*
 * daemon_kill_workers - SIGKILL the workers of our forqd that outlived it
 * (workers survive a killed forqd by design, forqd(8)).  They are found by
 * their command line, which names our private state directory.
 */
static void
daemon_kill_workers(const struct daemon *d)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	size_t slen = strlen(d->state);

	if (!proc || !slen)
		goto out;
	while ((e = readdir(proc))) {
		char path[300], buf[8192];
		ssize_t n;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* argv words are NUL-separated: look for "--state" then our dir */
		for (ssize_t i = 0; i + 8 < n; i += (ssize_t)strlen(buf + i) + 1) {
			if (strcmp(buf + i, "--state") == 0 &&
			    strcmp(buf + i + 8, d->state) == 0) {
				kill((pid_t)atoi(e->d_name), SIGKILL);
				break;
			}
		}
	}
out:
	if (proc)
		closedir(proc);
}

/* Kill forqd (and its workers) if it still runs; remove the directory. */
static void
daemon_cleanup(struct daemon *d)
{
	if (d->pid) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
		daemon_kill_workers(d);
	}
	if (d->dir[0])
		nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	d->dir[0] = '\0';
}

/*
 * daemon_up - daemon_start() then daemon_connect(); on failure prints why,
 * cleans up and returns -EIO.
 */
static int
daemon_up(struct daemon *d, const char *forqd, const char *const *extra,
	  struct forq_client **c)
{
	int rc = daemon_start(d, forqd, extra);

	if (rc) {
		fprintf(stderr, "%s: starting %s: %s\n", prog, forqd, strerror(-rc));
		return -EIO;
	}
	rc = daemon_connect(d, c);
	if (rc) {
		fprintf(stderr, "%s: connecting to forqd at %s: %s\n", prog, d->sock,
			rc == -ECHILD ? "forqd exited" : strerror(-rc));
		daemon_show_log(d);
		daemon_cleanup(d);
		return -EIO;
	}
	return 0;
}

/*
 * daemon_stop - SHUTDOWN forqd over @c (may be NULL: SIGTERM instead),
 * wait for it to exit (SIGKILL after BENCH_STOP_MS).
 * Returns 0 when it exited with status 0, else -EIO.
 */
static int
daemon_stop(struct daemon *d, struct forq_client *c)
{
	char msg[256];
	uint64_t deadline;
	int status = 0;
	pid_t r;

	if (!d->pid)
		return -EIO;
	if (!c || forq_client_call(c, "SHUTDOWN", NULL, NULL, msg, sizeof(msg)) != 0)
		kill(d->pid, SIGTERM);
	deadline = now_ns() + (uint64_t)BENCH_STOP_MS * 1000000u;
	while ((r = waitpid(d->pid, &status, WNOHANG)) == 0) {
		if (now_ns() > deadline) {
			fprintf(stderr, "%s: forqd %d did not exit; killing it\n", prog,
				(int)d->pid);
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
			d->pid = 0;
			return -EIO;
		}
		sleep_ms(5);
	}
	d->pid = 0;
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: forqd exited abnormally (status 0x%x)\n", prog, status);
		return -EIO;
	}
	return 0;
}

/* The forqd next to this program: dirname(/proc/self/exe)/../forqd, resolved. */
static int
default_forqd(char buf[PATH_MAX])
{
	char self[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -errno;
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/../forqd", dirname(self));
	if (!realpath(path, buf))
		return -errno;
	return 0;
}

/* find_forqd - @given, or the default; checks it is executable.  0 or -1 (printed). */
static int
find_forqd(const char *given, char buf[PATH_MAX], const char **out)
{
	if (!given) {
		if (default_forqd(buf) != 0) {
			fprintf(stderr, "%s: cannot locate forqd; use --forqd PATH\n", prog);
			return -1;
		}
		given = buf;
	}
	if (access(given, X_OK) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, given, strerror(errno));
		return -1;
	}
	*out = given;
	return 0;
}

static bool
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ---- requests ---------------------------------------------------------- */

/* call_raw - one request line; the reply's data in *@reply (may be NULL).
 * Returns 0 or the enum forq_err (message printed unless @quiet). */
static int
call_raw(struct forq_client *c, const char *type, const char *line, cJSON **reply, bool quiet)
{
	char msg[512];
	cJSON *r = NULL;
	int e = forq_client_call_raw(c, type, line, strlen(line), &r, msg, sizeof(msg));

	if (e && !quiet)
		fprintf(stderr, "%s: %s: %s (%s)\n", prog, type, msg, forq_err_code(e));
	if (reply)
		*reply = r;
	else
		cJSON_Delete(r);
	return e;
}

/* num - a number field of @o, or @dflt. */
static double
num(const cJSON *o, const char *name, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* stats_num - one number from STATS (a top-level field, or "counts.STATE"). */
static int
stats_num(struct forq_client *c, const char *name, double *out)
{
	static const char line[] = "{\"type\":\"STATS\",\"data\":{}}";
	cJSON *r = NULL;
	const char *dot = strchr(name, '.');
	int e = call_raw(c, "STATS", line, &r, false);

	if (e)
		return -EIO;
	if (dot) {
		char head[32];

		snprintf(head, sizeof(head), "%.*s", (int)(dot - name), name);
		*out = num(cJSON_GetObjectItemCaseSensitive(r, head), dot + 1, 0);
	} else {
		*out = num(r, name, 0);
	}
	cJSON_Delete(r);
	return 0;
}

/* ---- the summary rows that bench/run.sh collects ----------------------- */

/*
 * A summary row: a headline figure, its same-run baseline, their ratio and
 * the target.  In text mode each row is printed as one line that
 * starts with "  @ " and has five " | "-separated fields after the
 * program's name; bench/run.sh gathers these lines into its final table.
 */
struct row {
	char name[64];		/* what was measured, ASCII */
	double figure;		/* in @unit */
	char unit[16];		/* "us", "tasks/s", "%", ... */
	char base_name[48];	/* what the baseline is, "" for none */
	double base;		/* in @unit (or its own unit, see @base_unit) */
	char base_unit[16];	/* the baseline's unit; "" = @unit */
	double ratio;		/* figure / base, or NAN */
	char target[48];	/* the target, text; "" for none */
	int met;		/* 1 met, 0 missed, -1 no target */
};

#define MAX_ROWS 32
static struct row rows[MAX_ROWS];
static int nrows;

static struct row *
row_add(const char *name, double figure, const char *unit)
{
	struct row *r;

	if (nrows == MAX_ROWS)
		return &rows[MAX_ROWS - 1];
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->figure = figure;
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	r->base = NAN;
	r->ratio = NAN;
	r->met = -1;
	return r;
}

static void
row_base(struct row *r, const char *name, double base, const char *unit)
{
	snprintf(r->base_name, sizeof(r->base_name), "%s", name);
	r->base = base;
	snprintf(r->base_unit, sizeof(r->base_unit), "%s", unit ? unit : "");
	r->ratio = base > 0 && isfinite(r->figure) ? r->figure / base : NAN;
}

static void
row_target(struct row *r, const char *text, bool met)
{
	snprintf(r->target, sizeof(r->target), "%s", text);
	r->met = met;
}

/* fmt_num - a figure with 3 or 4 significant digits, k/M for large ones. */
static const char *
fmt_num(char *buf, size_t len, double v, const char *unit)
{
	const char *sp = unit && *unit && *unit != '%' ? " " : "";

	if (!isfinite(v))
		snprintf(buf, len, "n/a");
	else if (fabs(v) >= 1e7)
		snprintf(buf, len, "%.1fM%s%s", v / 1e6, sp, unit ? unit : "");
	else if (fabs(v) >= 1e6)
		snprintf(buf, len, "%.2fM%s%s", v / 1e6, sp, unit ? unit : "");
	else if (fabs(v) >= 1e4)
		snprintf(buf, len, "%.1fk%s%s", v / 1e3, sp, unit ? unit : "");
	else if (fabs(v) >= 100)
		snprintf(buf, len, "%.0f%s%s", v, sp, unit ? unit : "");
	else if (fabs(v) >= 10)
		snprintf(buf, len, "%.1f%s%s", v, sp, unit ? unit : "");
	else if (fabs(v) >= 1 || v == 0)
		snprintf(buf, len, "%.2f%s%s", v, sp, unit ? unit : "");
	else
		snprintf(buf, len, "%.3g%s%s", v, sp, unit ? unit : "");
	return buf;
}

static void
rows_print_text(void)
{
	char f[48], b[48];

	printf("summary (figure | baseline | ratio | target):\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char base[112] = "-", ratio[32] = "-";

		if (r->base_name[0]) {
			const char *u = r->base_unit[0] ? r->base_unit : r->unit;

			snprintf(base, sizeof(base), "%s %s", r->base_name,
				 fmt_num(b, sizeof(b), r->base, u));
		}
		if (isfinite(r->ratio))
			snprintf(ratio, sizeof(ratio), "%.3gx", r->ratio);
		printf("  @ %s | %s | %s | %s | %s | %s%s\n", prog, r->name,
		       fmt_num(f, sizeof(f), r->figure, r->unit), base, ratio,
		       r->target[0] ? r->target : "-",
		       r->met == 1 ? " (met)" : r->met == 0 ? " (missed)" : "");
	}
}

/* jnum - a JSON number, or null for NaN/inf. */
static void
jnum(const char *fmt, double v)
{
	if (isfinite(v))
		printf(fmt, v);
	else
		printf("null");
}

static void
rows_print_json(void)
{
	printf("\"summary\":[");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		printf("%s{\"name\":\"%s\",\"figure\":", i ? "," : "", r->name);
		jnum("%.6g", r->figure);
		printf(",\"unit\":\"%s\",\"baseline_name\":", r->unit);
		if (r->base_name[0])
			printf("\"%s\"", r->base_name);
		else
			printf("null");
		printf(",\"baseline\":");
		jnum("%.6g", r->base);
		printf(",\"baseline_unit\":\"%s\",\"ratio\":",
		       r->base_unit[0] ? r->base_unit : r->unit);
		jnum("%.4g", r->ratio);
		printf(",\"target\":");
		if (r->target[0])
			printf("\"%s\"", r->target);
		else
			printf("null");
		printf(",\"met\":%s}", r->met == 1 ? "true" : r->met == 0 ? "false" : "null");
	}
	printf("]");
}

/* ---- cost ---------------------------------------------------------------- */

#define CO_BATCH	50000u		/* tasks per TASK_SUBMIT message */
#define CO_MAX_WORKERS	1024
#define CO_STALL_ROUNDS	120

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
	if (call_raw(c, "WORKER_LIST", line, &r, false))
		return -EIO;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(r, "workers")) {
		double pid = num(w, "pid", 0);

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

/* TASK_WAIT {"all":true,"timeout":1} until complete; returns 0 or -EIO. */
static int
wait_all(struct forq_client *c)
{
	static const char line[] = "{\"type\":\"TASK_WAIT\",\"data\":{\"all\":true,\"timeout\":1}}";
	double last = -1;
	int stalled = 0;

	for (;;) {
		cJSON *reply = NULL;
		bool complete;
		double fin;

		if (call_raw(c, "TASK_WAIT", line, &reply, false))
			return -EIO;
		complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "complete"));
		fin = num(reply, "finished", 0);
		cJSON_Delete(reply);
		if (complete)
			return 0;
		stalled = fin > last ? 0 : stalled + 1;
		last = fin;
		if (stalled >= CO_STALL_ROUNDS) {
			fprintf(stderr, "cost: no task finished in %d waits; giving up\n", stalled);
			return -EIO;
		}
	}
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
	struct daemon d;
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

	if (daemon_up(&d, forqd, NULL, &c))
		goto out_free;
	if (procs_find(c, d.pid, &P))
		goto out_daemon;
	R->workers = P.n - 1;
	procs_cpu(&P, &f0, &w0);
	s0 = stat_cpu_s(d.pid);
	t0 = now_ns();
	for (size_t i = 0; i < nb; i++)
		if (call_raw(c, "TASK_SUBMIT", lines[i], NULL, false))
			goto out_daemon;
	if (wait_all(c))
		goto out_daemon;
	R->seconds = (double)(now_ns() - t0) / 1e9;
	procs_cpu(&P, &f1, &w1);
	s1 = stat_cpu_s(d.pid);
	R->forqd_ms = (f1 - f0) / 1e6;
	R->workers_ms = (w1 - w0) / 1e6;
	R->forqd_stat_s = s1 - s0;
	if (stats_num(c, "counts.DONE", &R->done))
		goto out_daemon;

	/* idle */
	sleep_ms(500);
	procs_cpu(&P, &f0, &w0);
	t0 = now_ns();
	sleep_ms((long)(R->idle_s * 1000));
	procs_cpu(&P, &f1, &w1);
	R->idle_s = (double)(now_ns() - t0) / 1e9;
	R->idle_forqd_ms = (f1 - f0) / 1e6;
	R->idle_workers_ms = (w1 - w0) / 1e6;
	if (!isfinite(R->idle_forqd_ms) || !isfinite(R->idle_workers_ms)) {
		fprintf(stderr, "cost: forqd or a worker went away while idle\n");
		goto out_daemon;
	}
	rc = 0;
out_daemon:
	if (rc)
		daemon_show_log(&d);
	if (daemon_stop(&d, c) && !rc) {
		daemon_show_log(&d);
		rc = -EIO;
	}
	forq_client_close(c);
	daemon_cleanup(&d);
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

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			if (!parse_u64(optarg, 1, 100000000, &R.tasks)) {
				fprintf(stderr, "cost: --tasks: an integer from 1 to 100000000\n");
				return 2;
			}
			n_set = true;
			break;
		case 'i':
			if (!parse_u64(optarg, 1, 3600, &v)) {
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
	if (find_forqd(forqd, forqd_buf, &forqd))
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
	struct row *r;

	r = row_add("forqd CPU per 1000 noop tasks", per_k, "ms");
	row_base(r, "cJSON parse", parse_k, NULL);
	row_target(r, "(HyperQueue ~0.3 ms)", false);
	r->met = -1;
	r = row_add("idle CPU, forqd + workers", idle_all, "%");
	row_target(r, "< 0.5% of a core", idle_all < 0.5);

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
		rows_print_json();
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
	rows_print_text();
	return ok ? 0 : 1;
}
