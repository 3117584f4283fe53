/*
 * bench/scaling — how close forqd comes to the ideal makespan of CPU-bound
 * tasks, for 1 .. N workers.
 *
 * For each worker count w (1, 2, 4, ... and N = the online CPUs, or
 * --max-workers): a fresh forqd of its own (mkdtemp(3) directory, its own
 * socket; --workers w, --sync fsync, the default) gets w x --per-worker
 * (default 100) tasks {"kernel":"spin","args":{"us":10000}} as one batch;
 * the clock runs from sending it to the TASK_WAIT {"all":true} round that
 * reports complete.  Ideal makespan = tasks x 10 ms / w; efficiency =
 * ideal / measured.
 *
 * Baseline, measured in the same run: the same work without forq — w
 * forked processes, pinned round-robin to the CPUs as forq pins its
 * workers, each busy-looping --per-worker times for 10 ms of
 * CLOCK_MONOTONIC (what the spin kernel does); its efficiency is the most
 * this machine allows (shared and noisy machines lose some to steal and
 * to other tenants).  The ratio is forq's efficiency over the baseline's.
 * Target (issue 3; printed, never asserted): efficiency >= 98%.
 *
 * On a 2-CPU machine, w = 2 leaves no CPU free for forqd itself and this
 * client: what they cost shows up as lost efficiency, as it would for a
 * user.
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
#include <sched.h>
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

static const char *prog = "scaling";

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

/* ---- scaling ------------------------------------------------------------- */

#define SC_MAX_POINTS	32
#define SC_STALL_ROUNDS	120	/* give up when no task finished in this many waits */

struct point {
	int workers;		/* w */
	uint64_t tasks;		/* w x per-worker */
	double ideal;		/* seconds */
	double forq_s;		/* measured makespan through forqd */
	double bare_s;		/* measured makespan of the bare baseline */
	double eff;		/* ideal / forq_s */
	double bare_eff;	/* ideal / bare_s */
	double ratio;		/* eff / bare_eff */
	uint64_t done;		/* tasks DONE */
};

static void
spin_for(uint64_t ns)
{
	uint64_t t0 = now_ns();
	volatile uint64_t x = 88172645463325252ull;	/* keep the loop from folding */

	while (now_ns() - t0 < ns) {
		for (int i = 0; i < 128; i++) {
			uint64_t y = x;

			y ^= y << 13;
			y ^= y >> 7;
			y ^= y << 17;
			x = y;
		}
	}
}

/* bare - @w pinned processes, each spinning @per times @us; the makespan in *@s. */
static int
bare(int w, uint64_t per, uint64_t us, double *s)
{
	cpu_set_t mine;
	pid_t pids[4096];
	uint64_t t0, t1;
	int n = 0, bad = 0, st;

	if (sched_getaffinity(0, sizeof(mine), &mine) != 0)
		CPU_ZERO(&mine);
	fflush(NULL);
	t0 = now_ns();
	for (int k = 0; k < w && k < 4096; k++) {
		pid_t pid = fork();

		if (pid < 0) {
			bad = 1;
			break;
		}
		if (pid == 0) {
			int cnt = CPU_COUNT(&mine), seen = 0;

			for (int cpu = 0; cnt > 0 && cpu < CPU_SETSIZE; cpu++) {
				cpu_set_t one;

				if (!CPU_ISSET(cpu, &mine) || seen++ != k % cnt)
					continue;
				CPU_ZERO(&one);
				CPU_SET(cpu, &one);
				(void)sched_setaffinity(0, sizeof(one), &one);
				break;
			}
			for (uint64_t i = 0; i < per; i++)
				spin_for(us * 1000u);
			_exit(0);
		}
		pids[n++] = pid;
	}
	for (int i = 0; i < n; i++)
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	t1 = now_ns();
	*s = (double)(t1 - t0) / 1e9;
	return bad ? -1 : 0;
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
		if (stalled >= SC_STALL_ROUNDS) {
			fprintf(stderr, "scaling: no task finished in %d waits; giving up\n",
				stalled);
			return -EIO;
		}
	}
}

/* through_forq - the point's tasks through a fresh forqd; 0 or -EIO (printed). */
static int
through_forq(struct point *p, const char *forqd, uint64_t us)
{
	static const char head[] = "{\"type\":\"TASK_SUBMIT\",\"data\":{\"tasks\":[";
	char task[64], wbuf[16];
	const char *extra[] = { "--workers", wbuf, NULL };
	struct forq_client *c = NULL;
	struct daemon d;
	size_t tlen, len;
	uint64_t t0, t1;
	double done = 0;
	char *line, *q;
	cJSON *r = NULL;
	int rc = -EIO;

	snprintf(wbuf, sizeof(wbuf), "%d", p->workers);
	tlen = (size_t)snprintf(task, sizeof(task), "{\"kernel\":\"spin\",\"args\":{\"us\":%llu}}",
				(unsigned long long)us);
	len = sizeof(head) + p->tasks * (tlen + 1) + 8;
	line = malloc(len);
	if (!line)
		return -EIO;
	q = line + sprintf(line, "%s", head);
	for (uint64_t i = 0; i < p->tasks; i++)
		q += sprintf(q, "%s%s", i ? "," : "", task);
	strcpy(q, "]}}");

	if (daemon_up(&d, forqd, extra, &c))
		goto out_free;
	t0 = now_ns();
	if (call_raw(c, "TASK_SUBMIT", line, &r, false) == 0 &&
	    num(r, "count", 0) == (double)p->tasks && wait_all(c) == 0) {
		t1 = now_ns();
		p->forq_s = (double)(t1 - t0) / 1e9;
		if (stats_num(c, "counts.DONE", &done) == 0)
			rc = 0;
	}
	cJSON_Delete(r);
	p->done = (uint64_t)done;
	if (rc)
		daemon_show_log(&d);
	if (daemon_stop(&d, c) != 0)
		rc = -EIO;
	forq_client_close(c);
	daemon_cleanup(&d);
out_free:
	free(line);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: scaling [--per-worker N] [--ms N] [--max-workers N] [--forqd PATH]\n"
		"               [--tiny] [--json] [--help]\n"
		"Efficiency (ideal makespan / measured) of spin tasks through forqd for\n"
		"1, 2, 4, ... and N workers, against the same spins in bare processes.\n"
		"  --per-worker N   tasks per worker (default 100)\n"
		"  --ms N           length of one spin task, ms (default 10)\n"
		"  --max-workers N  the largest worker count (default: online CPUs)\n"
		"  --forqd PATH     the daemon (default: ../forqd next to this program)\n"
		"  --tiny           a very small run (5 tasks per worker), for tests\n"
		"  --json           print one JSON object instead of the table\n"
		"  --help           this text\n"
		"Targets are printed, not asserted.\n"
		"Exit: 0 done, 1 a run failed or a task did not end DONE, 2 usage.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "per-worker", required_argument, NULL, 'p' },
		{ "ms", required_argument, NULL, 'm' },
		{ "max-workers", required_argument, NULL, 'W' },
		{ "forqd", required_argument, NULL, 'f' },
		{ "tiny", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t per = 100, ms = 10, maxw = ncpu > 0 ? (uint64_t)ncpu : 1;
	bool json = false, tiny = false, per_set = false, ok = true;
	const char *forqd = NULL;
	char forqd_buf[PATH_MAX];
	struct point pts[SC_MAX_POINTS];
	int npts = 0, o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			if (!parse_u64(optarg, 1, 1000000, &per)) {
				fprintf(stderr,
					"scaling: --per-worker: an integer from 1 to 1000000\n");
				return 2;
			}
			per_set = true;
			break;
		case 'm':
			if (!parse_u64(optarg, 1, 10000, &ms)) {
				fprintf(stderr, "scaling: --ms: an integer from 1 to 10000\n");
				return 2;
			}
			break;
		case 'W':
			if (!parse_u64(optarg, 1, 4096, &maxw)) {
				fprintf(stderr,
					"scaling: --max-workers: an integer from 1 to 4096\n");
				return 2;
			}
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
	if (tiny && !per_set)
		per = 5;

	/* 1, 2, 4, ... below maxw, then maxw itself */
	for (uint64_t w = 1; w < maxw && npts < SC_MAX_POINTS - 1; w *= 2)
		pts[npts++] = (struct point){ .workers = (int)w };
	pts[npts++] = (struct point){ .workers = (int)maxw };

	for (int i = 0; i < npts; i++) {
		struct point *p = &pts[i];

		p->tasks = per * (uint64_t)p->workers;
		p->ideal = (double)p->tasks * (double)ms / 1e3 / p->workers;
		if (bare(p->workers, per, ms * 1000, &p->bare_s)) {
			fprintf(stderr, "scaling: the bare baseline failed\n");
			return 1;
		}
		if (through_forq(p, forqd, ms * 1000)) {
			fprintf(stderr, "scaling: %d workers: the run failed\n", p->workers);
			return 1;
		}
		if (p->done != p->tasks) {
			fprintf(stderr, "scaling: warning: %d workers: %llu of %llu tasks DONE\n",
				p->workers, (unsigned long long)p->done,
				(unsigned long long)p->tasks);
			ok = false;
		}
		p->eff = p->ideal / p->forq_s;
		p->bare_eff = p->ideal / p->bare_s;
		p->ratio = p->eff / p->bare_eff;
	}
	for (int i = 0; i < npts; i++) {
		char name[64];
		struct row *r;

		snprintf(name, sizeof(name), "efficiency, %d worker%s", pts[i].workers,
			 pts[i].workers == 1 ? "" : "s");
		r = row_add(name, pts[i].eff * 100, "%");
		row_base(r, "bare processes", pts[i].bare_eff * 100, NULL);
		row_target(r, ">= 98%", pts[i].eff >= 0.98);
	}

	if (json) {
		cJSON *path = cJSON_CreateString(forqd);
		char *qpath = path ? cJSON_PrintUnformatted(path) : NULL;

		printf("{\"forqd\":%s,\"cpus\":%ld,\"task_ms\":%llu,\"per_worker\":%llu,"
		       "\"points\":[",
		       qpath ? qpath : "null", ncpu, (unsigned long long)ms,
		       (unsigned long long)per);
		free(qpath);
		cJSON_Delete(path);
		for (int i = 0; i < npts; i++)
			printf("%s{\"workers\":%d,\"tasks\":%llu,\"ideal_s\":%.6f,\"forq_s\":%.6f,"
			       "\"bare_s\":%.6f,\"efficiency\":%.5f,\"bare_efficiency\":%.5f,"
			       "\"ratio\":%.5f,\"done\":%llu}",
			       i ? "," : "", pts[i].workers, (unsigned long long)pts[i].tasks,
			       pts[i].ideal, pts[i].forq_s, pts[i].bare_s, pts[i].eff,
			       pts[i].bare_eff, pts[i].ratio, (unsigned long long)pts[i].done);
		printf("],\"target_efficiency\":0.98,");
		rows_print_json();
		printf(",\"ok\":%s}\n", ok ? "true" : "false");
		return ok ? 0 : 1;
	}
	printf("forq scaling: %s, %ld CPUs online, spin %llu ms tasks, %llu per worker, "
	       "--sync fsync\n",
	       forqd, ncpu, (unsigned long long)ms, (unsigned long long)per);
	printf("%7s %7s %9s %9s %9s %10s %10s %7s  %s\n", "workers", "tasks", "ideal s",
	       "forq s", "bare s", "forq eff", "bare eff", "ratio", "target");
	for (int i = 0; i < npts; i++)
		printf("%7d %7llu %9.3f %9.3f %9.3f %9.2f%% %9.2f%% %7.3f  >= 98%% (%s)\n",
		       pts[i].workers, (unsigned long long)pts[i].tasks, pts[i].ideal,
		       pts[i].forq_s, pts[i].bare_s, pts[i].eff * 100, pts[i].bare_eff * 100,
		       pts[i].ratio, pts[i].eff >= 0.98 ? "met" : "missed");
	rows_print_text();
	return ok ? 0 : 1;
}
