/*
 * bench/backlog — does a long queue cost anything?  Submit->start latency
 * of an urgent task, and forqd's resident memory, with 10^3, 10^5 and
 * 10^6 tasks queued.
 *
 * Each level runs on a fresh forqd of its own (mkdtemp(3) directory, own
 * socket) with --workers 1 and --sync nosync (so that an fsync does not
 * hide what the queue costs, and filling 10^6 takes seconds):
 *
 *   1. a gate task, {"argv":["/bin/cat","DIR/gate"],"priority":0} where
 *      gate is a FIFO, takes the only worker; we wait until it RUNS;
 *   2. base memory: VmRSS, RssAnon, RssFile, RssShmem of the forqd
 *      process (/proc/PID/status; its threads, not its workers, which are
 *      processes of their own);
 *   3. N tasks {"kernel":"spin","args":{"us":20},"priority":9} are queued
 *      as TASK_SUBMIT batches of 50 000 (timed: the fill rate); they
 *      cannot run, the worker is held by the gate;
 *   4. memory again, and STATS (QUEUED, backlog);
 *   5. the gate opens (we open the FIFO for writing and close it: cat sees
 *      EOF and exits), and the worker starts on the queue;
 *   6. --probes times, one at a time: {"kernel":"noop","priority":0} is
 *      submitted; submit->start = its "started" (TASK_STATUS, wall clock)
 *      - our wall clock just before sending; submit->ack is the client's
 *      TASK_SUBMIT round trip.  The worker is busy with a 20 us spin of the
 *      queue when a probe arrives, so a probe waits up to 20 us (about 10
 *      on average) for it, at every level alike; the queue drains by about
 *      one task per 20-30 us meanwhile (QUEUED is read before the first
 *      and after the last probe and printed).
 *
 * Memory per queued task is printed two ways, for the total (VmRSS) and for
 * anonymous memory alone (RssAnon: forqd's heap, its backlog, cJSON while
 * parsing): (memory after the fill - base) / N per level, and the slope
 * between the two largest levels, (RSS(10^6) - RSS(10^5)) / (10^6 -
 * 10^5), the headline figure: parsing one 50 000-task batch leaves a heap
 * high-water mark of tens of MB that malloc keeps, the same at every level
 * of at least one batch, and the slope cancels it (--batch changes it).
 * RssFile is LMDB's map (the database file, MAP_SHARED, read-only in
 * forqd): the pages of the records forqd touched, which the kernel can
 * drop and read back at will; RssShmem is the shared segment (rings and
 * worker blocks, fixed size).
 *
 * Targets (issue 3; printed, never asserted): submit->start p50 at the
 * largest level within 1.5x of that at 10^3; RSS <= 64 bytes per queued
 * task plus a fixed base.
 *
 * Exit status: 0 done, 1 a run failed (forqd, a probe not DONE), 2 usage.
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

static const char *prog = "backlog";

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

/* ---- backlog ------------------------------------------------------------- */

#define BL_BATCH	50000u		/* default tasks per TASK_SUBMIT message, as forq(1) */
#define BL_MAX_LEVELS	8
#define BL_SPIN_US	20		/* the queued tasks' length */

/* Memory of one process, kB, from /proc/PID/status. */
struct mem {
	double rss;		/* VmRSS */
	double anon;		/* RssAnon */
	double file;		/* RssFile */
	double shmem;		/* RssShmem */
};

static uint64_t opt_batch = BL_BATCH;	/* tasks per TASK_SUBMIT message */

struct level {
	uint64_t n;		/* tasks queued */
	double fill_s;		/* submitting them, acknowledged */
	struct mem base;	/* before the fill */
	struct mem full;	/* after it */
	double queued;		/* STATS counts.QUEUED after the fill */
	double backlog;		/* STATS backlog after the fill */
	double q_first;		/* QUEUED before the first probe */
	double q_last;		/* QUEUED after the last probe */
	double start_p50;	/* probe submit->start, us */
	double start_p99;
	double start_max;
	double ack_p50;		/* probe submit->ack, us */
	double b_total;		/* bytes per queued task, VmRSS */
	double b_anon;		/* bytes per queued task, RssAnon */
};

static int
read_mem(pid_t pid, struct mem *m)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		double v;

		if (sscanf(line, "VmRSS: %lf", &v) == 1)
			m->rss = v;
		else if (sscanf(line, "RssAnon: %lf", &v) == 1)
			m->anon = v;
		else if (sscanf(line, "RssFile: %lf", &v) == 1)
			m->file = v;
		else if (sscanf(line, "RssShmem: %lf", &v) == 1)
			m->shmem = v;
	}
	fclose(f);
	return 0;
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* rank - the nearest-rank @q quantile of sorted @v[@n]. */
static double
rank(const double *v, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	return n ? v[i ? i - 1 : 0] : NAN;
}

/* task_state - TASK_STATUS of @id: its state into @buf, "started" into *@started. */
static int
task_state(struct forq_client *c, double id, char *buf, size_t len, double *started)
{
	char line[128];
	cJSON *r = NULL;
	const cJSON *s;

	snprintf(line, sizeof(line), "{\"type\":\"TASK_STATUS\",\"data\":{\"id\":%.0f}}", id);
	if (call_raw(c, "TASK_STATUS", line, &r, false))
		return -EIO;
	s = cJSON_GetObjectItemCaseSensitive(r, "state");
	snprintf(buf, len, "%s", cJSON_IsString(s) ? s->valuestring : "?");
	if (started)
		*started = num(r, "started", NAN);
	cJSON_Delete(r);
	return 0;
}

/* gate_submit - the gate task; its id in *@id.  0 or -EIO. */
static int
gate_submit(struct forq_client *c, const char *fifo, double *id)
{
	cJSON *env = cJSON_CreateObject(), *data, *argv, *r = NULL;
	char *line = NULL, st[32] = "";
	int rc = -EIO;

	data = env ? cJSON_AddObjectToObject(env, "data") : NULL;
	argv = data ? cJSON_AddArrayToObject(data, "argv") : NULL;
	if (!argv || !cJSON_AddStringToObject(env, "type", "TASK_SUBMIT") ||
	    !cJSON_AddItemToArray(argv, cJSON_CreateString("/bin/cat")) ||
	    !cJSON_AddItemToArray(argv, cJSON_CreateString(fifo)) ||
	    !cJSON_AddNumberToObject(data, "priority", 0) ||
	    !(line = cJSON_PrintUnformatted(env)))
		goto out;
	if (call_raw(c, "TASK_SUBMIT", line, &r, false))
		goto out;
	*id = num(r, "id", 0);
	for (int i = 0; i < 10000; i++) {
		if (task_state(c, *id, st, sizeof(st), NULL))
			goto out;
		if (strcmp(st, "RUNNING") == 0) {
			rc = 0;
			goto out;
		}
		if (strcmp(st, "QUEUED") != 0)
			break;
		sleep_ms(1);
	}
	fprintf(stderr, "backlog: the gate task is %s, not RUNNING\n", st);
out:
	cJSON_Delete(r);
	cJSON_Delete(env);
	free(line);
	return rc;
}

/* gate_open - let cat read EOF from the FIFO.  0 or -errno. */
static int
gate_open(const char *fifo)
{
	for (int i = 0; i < 5000; i++) {
		int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != ENXIO)	/* ENXIO: no reader yet */
			return -errno;
		sleep_ms(1);
	}
	return -ETIMEDOUT;
}

/* fill - @n queued spin tasks at priority 9, in batches.  0 or -EIO. */
static int
fill(struct forq_client *c, uint64_t n)
{
	static const char head[] = "{\"type\":\"TASK_SUBMIT\",\"data\":{\"tasks\":[";
	char task[96];
	size_t tlen = (size_t)snprintf(task, sizeof(task),
				       "{\"kernel\":\"spin\",\"args\":{\"us\":%d},\"priority\":9}",
				       BL_SPIN_US);
	char *line = malloc(sizeof(head) + opt_batch * (tlen + 1) + 8);
	int rc = 0;

	if (!line)
		return -EIO;
	for (uint64_t done = 0; done < n && !rc;) {
		uint64_t k = n - done < opt_batch ? n - done : opt_batch;
		char *q = line + sprintf(line, "%s", head);
		cJSON *r = NULL;

		for (uint64_t j = 0; j < k; j++) {
			if (j)
				*q++ = ',';
			memcpy(q, task, tlen);
			q += tlen;
		}
		strcpy(q, "]}}");
		if (call_raw(c, "TASK_SUBMIT", line, &r, false) || num(r, "count", 0) != (double)k)
			rc = -EIO;
		cJSON_Delete(r);
		done += k;
	}
	free(line);
	return rc;
}

/* probe - @np urgent noop tasks, one at a time; percentiles into @L.  0 or -EIO. */
static int
probe(struct forq_client *c, struct level *L, size_t np)
{
	static const char submit[] =
		"{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\",\"priority\":0}}";
	double *st = calloc(np, sizeof(*st)), *ack = calloc(np, sizeof(*ack));
	int rc = -EIO;

	if (!st || !ack)
		goto out;
	for (size_t i = 0; i < np; i++) {
		char line[160], state[32];
		uint64_t w0 = wall_ns(), t0 = now_ns(), t1;
		cJSON *r = NULL;
		double id, started;

		if (call_raw(c, "TASK_SUBMIT", submit, &r, false))
			goto out;
		t1 = now_ns();
		id = num(r, "id", 0);
		cJSON_Delete(r);
		snprintf(line, sizeof(line),
			 "{\"type\":\"TASK_WAIT\",\"data\":{\"ids\":[%.0f],\"timeout\":5}}", id);
		if (call_raw(c, "TASK_WAIT", line, NULL, false) ||
		    task_state(c, id, state, sizeof(state), &started))
			goto out;
		if (strcmp(state, "DONE") != 0 || !isfinite(started)) {
			fprintf(stderr, "backlog: probe %.0f is %s\n", id, state);
			goto out;
		}
		st[i] = (started * 1e9 - (double)w0) / 1e3;
		ack[i] = (double)(t1 - t0) / 1e3;
	}
	qsort(st, np, sizeof(*st), cmp_dbl);
	qsort(ack, np, sizeof(*ack), cmp_dbl);
	L->start_p50 = rank(st, np, 0.5);
	L->start_p99 = rank(st, np, 0.99);
	L->start_max = np ? st[np - 1] : NAN;
	L->ack_p50 = rank(ack, np, 0.5);
	rc = 0;
out:
	free(st);
	free(ack);
	return rc;
}

/* run_level - one level on a fresh forqd; 0 or -EIO (printed). */
static int
run_level(struct level *L, const char *forqd, size_t np)
{
	const char *extra[] = { "--workers", "1", "--sync", "nosync", NULL };
	struct forq_client *c = NULL;
	char fifo[PATH_MAX + 8];
	struct daemon d;
	double gate_id;
	uint64_t t0;
	int rc = -EIO;

	if (daemon_up(&d, forqd, extra, &c))
		return -EIO;
	snprintf(fifo, sizeof(fifo), "%s/gate", d.dir);
	if (mkfifo(fifo, 0600) < 0) {
		fprintf(stderr, "backlog: mkfifo %s: %s\n", fifo, strerror(errno));
		goto out;
	}
	if (gate_submit(c, fifo, &gate_id))
		goto out;
	sleep_ms(100);
	if (read_mem(d.pid, &L->base))
		goto out;
	t0 = now_ns();
	if (fill(c, L->n)) {
		fprintf(stderr, "backlog: queueing %llu tasks failed\n", (unsigned long long)L->n);
		goto out;
	}
	L->fill_s = (double)(now_ns() - t0) / 1e9;
	sleep_ms(200);
	if (read_mem(d.pid, &L->full) || stats_num(c, "counts.QUEUED", &L->queued) ||
	    stats_num(c, "backlog", &L->backlog))
		goto out;
	if ((rc = gate_open(fifo)) != 0) {
		fprintf(stderr, "backlog: opening the gate: %s\n", strerror(-rc));
		rc = -EIO;
		goto out;
	}
	rc = -EIO;
	if (stats_num(c, "counts.QUEUED", &L->q_first) || probe(c, L, np) ||
	    stats_num(c, "counts.QUEUED", &L->q_last))
		goto out;
	L->b_total = (L->full.rss - L->base.rss) * 1024 / (double)L->n;
	L->b_anon = (L->full.anon - L->base.anon) * 1024 / (double)L->n;
	rc = 0;
out:
	if (rc)
		daemon_show_log(&d);
	if (daemon_stop(&d, c) && !rc) {
		daemon_show_log(&d);
		rc = -EIO;
	}
	forq_client_close(c);
	daemon_cleanup(&d);
	return rc;
}

/* parse_levels - "1000,100000" into @lv; the count, or -1. */
static int
parse_levels(const char *s, uint64_t *lv)
{
	char buf[256], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == BL_MAX_LEVELS || !parse_u64(tok, 1, 100000000, &lv[n]))
			return -1;
		n++;
	}
	return n ? n : -1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: backlog [--levels N,N,...] [--probes N] [--batch N] [--forqd PATH]\n"
		"               [--tiny] [--json] [--help]\n"
		"Submit->start of an urgent task and forqd's RSS with N tasks queued.\n"
		"  --levels LIST  queued tasks per level (default 1000,100000,1000000)\n"
		"  --probes N     urgent tasks timed per level (default 30)\n"
		"  --batch N      tasks per TASK_SUBMIT when queueing (default 50000)\n"
		"  --forqd PATH   the daemon (default: ../forqd next to this program)\n"
		"  --tiny         a very small run (levels 1000,10000; 10 probes), for tests\n"
		"  --json         print one JSON object instead of the table\n"
		"  --help         this text\n"
		"Targets are printed, not asserted.  Exit: 0 done, 1 a run failed, 2 usage.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "levels", required_argument, NULL, 'l' },
		{ "probes", required_argument, NULL, 'p' },
		{ "batch", required_argument, NULL, 'b' },
		{ "forqd", required_argument, NULL, 'f' },
		{ "tiny", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t lv[BL_MAX_LEVELS] = { 1000, 100000, 1000000 }, np = 30;
	int nl = 3, o;
	bool json = false, tiny = false, lv_set = false, np_set = false;
	const char *forqd = NULL;
	char forqd_buf[PATH_MAX];
	struct level L[BL_MAX_LEVELS];

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			nl = parse_levels(optarg, lv);
			if (nl < 0) {
				fprintf(stderr, "backlog: --levels: 1 to %d integers from 1 to "
					"100000000, comma-separated\n", BL_MAX_LEVELS);
				return 2;
			}
			lv_set = true;
			break;
		case 'p':
			if (!parse_u64(optarg, 1, 100000, &np)) {
				fprintf(stderr, "backlog: --probes: an integer from 1 to 100000\n");
				return 2;
			}
			np_set = true;
			break;
		case 'b':
			if (!parse_u64(optarg, 1, 1000000, &opt_batch)) {
				fprintf(stderr, "backlog: --batch: an integer from 1 to 1000000\n");
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
	if (tiny && !lv_set) {
		lv[0] = 1000;
		lv[1] = 10000;
		nl = 2;
	}
	if (tiny && !np_set)
		np = 10;

	for (int i = 0; i < nl; i++) {
		memset(&L[i], 0, sizeof(L[i]));
		L[i].n = lv[i];
		if (run_level(&L[i], forqd, (size_t)np)) {
			fprintf(stderr, "backlog: level %llu failed\n", (unsigned long long)lv[i]);
			return 1;
		}
	}

	const struct level *lo = &L[0], *hi = &L[nl - 1];
	char name[64], tgt[48];
	struct row *r;

	snprintf(name, sizeof(name), "submit->start p50, %llu queued", (unsigned long long)hi->n);
	r = row_add(name, hi->start_p50, "us");
	snprintf(name, sizeof(name), "at %llu queued", (unsigned long long)lo->n);
	row_base(r, name, lo->start_p50, NULL);
	snprintf(tgt, sizeof(tgt), "<= 1.5x of %llu queued", (unsigned long long)lo->n);
	row_target(r, tgt, hi->start_p50 <= 1.5 * lo->start_p50);
	/*
	 * Bytes per queued task: the slope between the two largest levels,
	 * (RSS(hi) - RSS(mid)) / (hi - mid), takes out what does not grow
	 * with the queue, above all the heap's high-water mark from parsing
	 * one batch (about 1 KB per task of a batch, kept by malloc); with one
	 * level only, (RSS - base) / N.
	 */
	const struct level *mid = nl > 1 ? &L[nl - 2] : NULL;
	double slope = mid ? (hi->full.rss - mid->full.rss) * 1024 / (double)(hi->n - mid->n)
			   : hi->b_total;
	double slope_anon = mid ? (hi->full.anon - mid->full.anon) * 1024 /
					  (double)(hi->n - mid->n)
				: hi->b_anon;
	double slope_file = mid ? (hi->full.file - mid->full.file) * 1024 /
					  (double)(hi->n - mid->n)
				: (hi->full.file - hi->base.file) * 1024 / (double)hi->n;

	if (mid)
		snprintf(name, sizeof(name), "RSS per queued task, %llu->%llu",
			 (unsigned long long)mid->n, (unsigned long long)hi->n);
	else
		snprintf(name, sizeof(name), "RSS per queued task, %llu",
			 (unsigned long long)hi->n);
	r = row_add(name, slope, "B");
	row_base(r, "base RSS", hi->base.rss / 1024, "MiB");
	r->ratio = NAN;
	row_target(r, "<= 64 B + base", slope <= 64);
	if (mid)
		snprintf(name, sizeof(name), "RssAnon per queued task, %llu->%llu",
			 (unsigned long long)mid->n, (unsigned long long)hi->n);
	else
		snprintf(name, sizeof(name), "RssAnon per queued task, %llu",
			 (unsigned long long)hi->n);
	r = row_add(name, slope_anon, "B");
	row_base(r, "base RssAnon", hi->base.anon / 1024, "MiB");
	r->ratio = NAN;
	row_target(r, "<= 64 B + base", slope_anon <= 64);

	if (json) {
		cJSON *path = cJSON_CreateString(forqd);
		char *qpath = path ? cJSON_PrintUnformatted(path) : NULL;

		printf("{\"forqd\":%s,\"workers\":1,\"sync\":\"nosync\",\"queued_task\":"
		       "\"spin %d us, priority 9\",\"batch\":%llu,\"probes\":%llu,\"levels\":[",
		       qpath ? qpath : "null", BL_SPIN_US, (unsigned long long)opt_batch,
		       (unsigned long long)np);
		free(qpath);
		cJSON_Delete(path);
		for (int i = 0; i < nl; i++) {
			const struct level *l = &L[i];

			printf("%s{\"queued\":%llu,\"fill_s\":%.4f,\"stats_queued\":%.0f,"
			       "\"stats_backlog\":%.0f,\"queued_first_probe\":%.0f,"
			       "\"queued_last_probe\":%.0f,\"submit_to_start_us\":{\"p50\":%.2f,"
			       "\"p99\":%.2f,\"max\":%.2f},\"submit_to_ack_p50_us\":%.2f,"
			       "\"base_kb\":{\"rss\":%.0f,\"anon\":%.0f,\"file\":%.0f,"
			       "\"shmem\":%.0f},\"full_kb\":{\"rss\":%.0f,\"anon\":%.0f,"
			       "\"file\":%.0f,\"shmem\":%.0f},"
			       "\"bytes_per_task\":{\"rss\":%.2f,\"anon\":%.2f,\"file\":%.2f}}",
			       i ? "," : "", (unsigned long long)l->n, l->fill_s, l->queued,
			       l->backlog, l->q_first, l->q_last, l->start_p50, l->start_p99,
			       l->start_max, l->ack_p50, l->base.rss, l->base.anon, l->base.file,
			       l->base.shmem, l->full.rss, l->full.anon, l->full.file,
			       l->full.shmem, l->b_total, l->b_anon,
			       (l->full.file - l->base.file) * 1024 / (double)l->n);
		}
		printf("],\"start_ratio_top_bottom\":%.4f,\"bytes_per_task_slope\":{\"rss\":%.2f,"
		       "\"anon\":%.2f,\"file\":%.2f},\"targets\":{\"start_ratio\":1.5,"
		       "\"bytes_per_task\":64},",
		       lo->start_p50 > 0 ? hi->start_p50 / lo->start_p50 : 0, slope, slope_anon,
		       slope_file);
		rows_print_json();
		printf(",\"ok\":true}\n");
		return 0;
	}
	printf("forq backlog: %s, 1 worker, --sync nosync; queued: spin %d us at priority 9 "
	       "behind a gate, in batches of %llu; probes: %llu noop at priority 0 per level\n",
	       forqd, BL_SPIN_US, (unsigned long long)opt_batch, (unsigned long long)np);
	printf("%9s %7s %9s %9s %9s %9s %9s %13s %8s %8s %8s %8s %8s\n", "queued", "fill s",
	       "fill/s", "start p50", "start p99", "start max", "ack p50", "queued@probe",
	       "RSS MiB", "anon MiB", "file MiB", "B/task", "anon B/t");
	for (int i = 0; i < nl; i++) {
		const struct level *l = &L[i];
		char qp[32];

		snprintf(qp, sizeof(qp), "%.0f-%.0f", l->q_first, l->q_last);
		printf("%9llu %7.3f %9.0f %9.1f %9.1f %9.1f %9.1f %13s %8.1f %8.1f %8.1f %8.1f "
		       "%8.1f\n",
		       (unsigned long long)l->n, l->fill_s, (double)l->n / l->fill_s,
		       l->start_p50, l->start_p99, l->start_max, l->ack_p50, qp,
		       l->full.rss / 1024, l->full.anon / 1024, l->full.file / 1024, l->b_total,
		       l->b_anon);
	}
	printf("(latencies in us; memory after the fill; B/task = (after - base) / queued)\n");
	printf("base: VmRSS %.1f MiB = anon %.1f + file %.1f (LMDB map, database pages) + "
	       "shmem %.1f (the segment)\n",
	       hi->base.rss / 1024, hi->base.anon / 1024, hi->base.file / 1024,
	       hi->base.shmem / 1024);
	printf("at %llu queued: file-backed (LMDB map) %+.1f MiB = %.1f B/task, anon %+.1f MiB "
	       "= %.1f B/task\n",
	       (unsigned long long)hi->n, (hi->full.file - hi->base.file) / 1024,
	       (hi->full.file - hi->base.file) * 1024 / (double)hi->n,
	       (hi->full.anon - hi->base.anon) / 1024, hi->b_anon);
	if (mid)
		printf("slope %llu->%llu (what each further queued task costs; the batch-parse "
		       "high-water mark cancels): %.1f B/task = anon %.1f + file %.1f\n",
		       (unsigned long long)mid->n, (unsigned long long)hi->n, slope, slope_anon,
		       slope_file);
	printf("targets: start p50 at %llu within 1.5x of %llu: %.2fx; RSS <= 64 B/task: %.1f "
	       "(anon %.1f)\n",
	       (unsigned long long)hi->n, (unsigned long long)lo->n,
	       lo->start_p50 > 0 ? hi->start_p50 / lo->start_p50 : 0, slope, slope_anon);
	rows_print_text();
	return 0;
}
