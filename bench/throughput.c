/*
 * bench/throughput — end-to-end task throughput of forqd, noop against exec.
 *
 * Each run starts its own forqd (the binary next to this one,
 * dirname(/proc/self/exe)/../forqd, or --forqd PATH) on a fresh mkdtemp(3)
 * directory holding its state, its socket and its log, so a run never
 * sees another's tasks or page cache of the database.  Four runs: the two
 * workloads below, each under --sync fsync and --sync nosync.
 *
 *   noop  N tasks {"kernel":"noop"}: the scheduler's own cost per task
 *         (socket, validation, group commit, ring, completion, commit);
 *   exec  N tasks {"argv":["/bin/true"]}: the same plus a process per task.
 *
 * Tasks travel as TASK_SUBMIT batches {"tasks":[...]} of at most 50 000,
 * as forq(1) sends a JSONL file: built as text before the clock starts and
 * sent with forq_client_call_raw().  The clock runs from sending the first
 * batch to the TASK_WAIT {"all":true} round (1 s server-side timeout) that
 * reports complete, i.e. until the last result is committed.
 *
 * Nothing about speed is asserted.  What is checked is correctness: after
 * each run STATS must count every task submitted and every one DONE; if
 * not, a warning line goes to stderr and the exit status is 1.
 *
 * Exit status: 0 done, 1 a run failed or a task did not end DONE, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define BENCH_BATCH		50000u	/* tasks per TASK_SUBMIT message, as forq(1) */
#define BENCH_START_MS		10000	/* wait this long for forqd's socket */
#define BENCH_STOP_MS		30000	/* wait this long for forqd to exit */
#define BENCH_STALL_ROUNDS	120	/* give up when no task finished in this many waits */

static const char *const bench_states[] = {
	"QUEUED", "WAITING", "RUNNING", "DONE", "FAILED", "TIMEOUT", "LOST", "CANCELLED",
};
#define BENCH_NSTATES (sizeof(bench_states) / sizeof(bench_states[0]))

struct workload {
	const char *name;	/* "noop", "exec" */
	const char *task;	/* one task object, JSON text */
	uint64_t count;		/* tasks; 0 skips the workload */
};

struct run {
	const struct workload *w;	/* what ran */
	const char *sync;		/* "fsync" or "nosync" */
	bool skipped;			/* count was 0 */
	double seconds;			/* first submit to complete */
	double rate;			/* tasks per second */
	uint64_t counts[BENCH_NSTATES];	/* STATS counts after the run */
	uint64_t submitted;		/* STATS submitted */
	int workers;			/* STATS workers */
	bool all_done;			/* every task submitted and DONE */
};

/* One forqd of our own, and the temporary directory it lives in. */
struct daemon {
	pid_t pid;			/* 0 when not running */
	char dir[PATH_MAX - 16];	/* mkdtemp'd; state, socket, log */
	char state[PATH_MAX];		/* dir/state */
	char sock[PATH_MAX];		/* dir/sock */
	char log[PATH_MAX];		/* dir/forqd.log: forqd's stderr */
};

/* The prepared TASK_SUBMIT lines of one workload. */
struct batches {
	char **line;			/* each without the newline */
	size_t *len;			/* bytes of line[i] */
	size_t n;			/* lines */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
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
		fprintf(stderr, "throughput: forqd's log ends:\n%s", buf);
}

/*
 * daemon_start - make a temporary directory and start forqd on it.
 * Returns 0, or -errno (the directory is removed again on failure).
 */
static int
daemon_start(struct daemon *d, const char *forqd, const char *sync, const char *workers)
{
	const char *tmp = getenv("TMPDIR");
	char wbuf[32];
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

	const char *argv[] = {
		forqd, "--state", d->state, "--socket", d->sock, "--sync", sync,
		"--log-level", "warn", NULL, NULL, NULL,
	};
	if (workers) {
		snprintf(wbuf, sizeof(wbuf), "%s", workers);
		argv[9] = "--workers";
		argv[10] = wbuf;
	}

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
		fprintf(stderr, "throughput: exec %s: %s\n", forqd, strerror(errno));
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
			fprintf(stderr, "throughput: forqd %d did not exit; killing it\n",
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
		fprintf(stderr, "throughput: forqd exited abnormally (status 0x%x)\n", status);
		return -EIO;
	}
	return 0;
}

/* Kill forqd if it still runs, and remove the temporary directory. */
static void
daemon_cleanup(struct daemon *d)
{
	if (d->pid) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
	if (d->dir[0])
		nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	d->dir[0] = '\0';
}

static void
batches_free(struct batches *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->line[i]);
	free(b->line);
	free(b->len);
	memset(b, 0, sizeof(*b));
}

/*
 * batches_build - the TASK_SUBMIT lines for @count copies of @task, at
 * most BENCH_BATCH a line.  Returns 0 or -ENOMEM (nothing left allocated).
 */
static int
batches_build(struct batches *b, const char *task, uint64_t count)
{
	static const char head[] = "{\"type\":\"TASK_SUBMIT\",\"data\":{\"tasks\":[";
	static const char tail[] = "]}}";
	size_t tlen = strlen(task);

	memset(b, 0, sizeof(*b));
	b->n = (size_t)((count + BENCH_BATCH - 1) / BENCH_BATCH);
	b->line = calloc(b->n ? b->n : 1, sizeof(*b->line));
	b->len = calloc(b->n ? b->n : 1, sizeof(*b->len));
	if (!b->line || !b->len)
		goto out_free;
	for (size_t i = 0; i < b->n; i++) {
		uint64_t k = count - i * (uint64_t)BENCH_BATCH;
		char *p;

		if (k > BENCH_BATCH)
			k = BENCH_BATCH;
		b->len[i] = sizeof(head) - 1 + k * (tlen + 1) - 1 + sizeof(tail) - 1;
		p = b->line[i] = malloc(b->len[i] + 1);
		if (!p)
			goto out_free;
		memcpy(p, head, sizeof(head) - 1);
		p += sizeof(head) - 1;
		for (uint64_t j = 0; j < k; j++) {
			if (j)
				*p++ = ',';
			memcpy(p, task, tlen);
			p += tlen;
		}
		memcpy(p, tail, sizeof(tail));
	}
	return 0;

out_free:
	batches_free(b);
	return -ENOMEM;
}

/* Submit every batch; returns 0 or -EIO (message printed). */
static int
submit_all(struct forq_client *c, const struct batches *b, uint64_t count)
{
	char msg[512];
	uint64_t accepted = 0;

	for (size_t i = 0; i < b->n; i++) {
		cJSON *reply = NULL, *n;
		int e = forq_client_call_raw(c, "TASK_SUBMIT", b->line[i], b->len[i], &reply,
					     msg, sizeof(msg));

		if (e) {
			fprintf(stderr, "throughput: TASK_SUBMIT: %s (%s)\n", msg,
				forq_err_code(e));
			return -EIO;
		}
		n = cJSON_GetObjectItemCaseSensitive(reply, "count");
		if (cJSON_IsNumber(n))
			accepted += (uint64_t)n->valuedouble;
		cJSON_Delete(reply);
	}
	if (accepted != count) {
		fprintf(stderr, "throughput: forqd accepted %llu of %llu tasks\n",
			(unsigned long long)accepted, (unsigned long long)count);
		return -EIO;
	}
	return 0;
}

/* TASK_WAIT {"all":true,"timeout":1} until complete; returns 0 or -EIO. */
static int
wait_all(struct forq_client *c)
{
	double last = -1;
	int stalled = 0;
	char msg[512];

	for (;;) {
		cJSON *data = cJSON_CreateObject(), *reply = NULL, *v;
		bool complete;
		double fin;
		int e;

		if (!data || !cJSON_AddTrueToObject(data, "all") ||
		    !cJSON_AddNumberToObject(data, "timeout", 1)) {
			cJSON_Delete(data);
			fprintf(stderr, "throughput: out of memory\n");
			return -EIO;
		}
		e = forq_client_call(c, "TASK_WAIT", data, &reply, msg, sizeof(msg));
		if (e) {
			fprintf(stderr, "throughput: TASK_WAIT: %s (%s)\n", msg, forq_err_code(e));
			return -EIO;
		}
		complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "complete"));
		v = cJSON_GetObjectItemCaseSensitive(reply, "finished");
		fin = cJSON_IsNumber(v) ? v->valuedouble : 0;
		cJSON_Delete(reply);
		if (complete)
			return 0;
		stalled = fin > last ? 0 : stalled + 1;
		last = fin;
		if (stalled >= BENCH_STALL_ROUNDS) {
			fprintf(stderr, "throughput: no task finished in %d waits; giving up\n",
				stalled);
			return -EIO;
		}
	}
}

/* STATS into @r; returns 0 or -EIO. */
static int
read_stats(struct forq_client *c, struct run *r)
{
	cJSON *reply = NULL, *counts, *v;
	char msg[512];
	int e = forq_client_call(c, "STATS", NULL, &reply, msg, sizeof(msg));

	if (e) {
		fprintf(stderr, "throughput: STATS: %s (%s)\n", msg, forq_err_code(e));
		return -EIO;
	}
	counts = cJSON_GetObjectItemCaseSensitive(reply, "counts");
	for (size_t i = 0; i < BENCH_NSTATES; i++) {
		v = cJSON_GetObjectItemCaseSensitive(counts, bench_states[i]);
		r->counts[i] = cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
	}
	v = cJSON_GetObjectItemCaseSensitive(reply, "submitted");
	r->submitted = cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : 0;
	v = cJSON_GetObjectItemCaseSensitive(reply, "workers");
	r->workers = cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
	cJSON_Delete(reply);
	return 0;
}

/*
 * run_one - one workload under one sync mode, on a fresh forqd.
 * Returns 0 when the run completed (r->all_done says whether every task
 * ended DONE), -EIO when it could not be measured (message printed).
 */
static int
run_one(struct run *r, const char *forqd, const char *workers)
{
	struct forq_client *c = NULL;
	struct batches b;
	struct daemon d;
	uint64_t t0, t1;
	int rc;

	if (r->w->count == 0) {
		r->skipped = true;
		return 0;
	}
	if (batches_build(&b, r->w->task, r->w->count) != 0) {
		fprintf(stderr, "throughput: out of memory\n");
		return -EIO;
	}
	rc = daemon_start(&d, forqd, r->sync, workers);
	if (rc) {
		fprintf(stderr, "throughput: starting %s: %s\n", forqd, strerror(-rc));
		goto out_batches;
	}
	rc = daemon_connect(&d, &c);
	if (rc) {
		fprintf(stderr, "throughput: connecting to forqd at %s: %s\n", d.sock,
			rc == -ECHILD ? "forqd exited" : strerror(-rc));
		daemon_show_log(&d);
		goto out_daemon;
	}

	t0 = now_ns();
	rc = submit_all(c, &b, r->w->count);
	if (!rc)
		rc = wait_all(c);
	t1 = now_ns();
	if (!rc)
		rc = read_stats(c, r);
	if (rc) {
		daemon_show_log(&d);
		goto out_client;
	}
	r->seconds = (double)(t1 - t0) / 1e9;
	r->rate = r->seconds > 0 ? (double)r->w->count / r->seconds : 0;
	r->all_done = r->submitted == r->w->count && r->counts[3] == r->w->count;

	rc = daemon_stop(&d, c);
	if (rc)
		daemon_show_log(&d);
	forq_client_close(c);
	goto out_daemon;

out_client:
	daemon_stop(&d, c);
	forq_client_close(c);
out_daemon:
	daemon_cleanup(&d);
out_batches:
	batches_free(&b);
	return rc ? -EIO : 0;
}

static void
warn_not_done(const struct run *r)
{
	fprintf(stderr,
		"throughput: warning: %s/%s: %llu tasks submitted, %llu accepted, %llu DONE:",
		r->w->name, r->sync, (unsigned long long)r->w->count,
		(unsigned long long)r->submitted, (unsigned long long)r->counts[3]);
	for (size_t i = 0; i < BENCH_NSTATES; i++)
		fprintf(stderr, " %s %llu", bench_states[i], (unsigned long long)r->counts[i]);
	fputc('\n', stderr);
}

/* noop/exec ratio of one sync mode, or a negative value when undefined. */
static double
ratio(const struct run *noop, const struct run *exec)
{
	if (noop->skipped || exec->skipped || exec->rate <= 0)
		return -1;
	return noop->rate / exec->rate;
}

static void
print_table(const struct run *runs, int nruns, const char *forqd, long ncpu)
{
	int workers = 0;

	for (int i = 0; i < nruns; i++)
		if (!runs[i].skipped)
			workers = runs[i].workers;
	printf("forq throughput: %s, %d workers, %ld CPUs online, batches of %u tasks\n",
	       forqd, workers, ncpu, BENCH_BATCH);
	printf("%-8s %-7s %10s %10s %12s\n", "workload", "sync", "tasks", "seconds", "tasks/s");
	for (int i = 0; i < nruns; i++) {
		const struct run *r = &runs[i];

		if (r->skipped)
			continue;
		printf("%-8s %-7s %10llu %10.3f %12.0f%s\n", r->w->name, r->sync,
		       (unsigned long long)r->w->count, r->seconds, r->rate,
		       r->all_done ? "" : "  (not all DONE)");
	}
	for (int i = 0; i + 1 < nruns; i += 2) {
		double q = ratio(&runs[i], &runs[i + 1]);

		if (q >= 0)
			printf("noop/exec tasks/s, %s: %.1f\n", runs[i].sync, q);
	}
}

static void
print_json(const struct run *runs, int nruns, const char *forqd, long ncpu, bool ok)
{
	int workers = 0;
	bool first = true;

	for (int i = 0; i < nruns; i++)
		if (!runs[i].skipped)
			workers = runs[i].workers;
	/* forqd is a path we found or were given: escape it as JSON. */
	cJSON *path = cJSON_CreateString(forqd);
	char *qpath = path ? cJSON_PrintUnformatted(path) : NULL;

	printf("{\"forqd\":%s,\"workers\":%d,\"cpus\":%ld,\"batch\":%u,\"runs\":[",
	       qpath ? qpath : "null", workers, ncpu, BENCH_BATCH);
	free(qpath);
	cJSON_Delete(path);
	for (int i = 0; i < nruns; i++) {
		const struct run *r = &runs[i];

		if (r->skipped)
			continue;
		printf("%s{\"workload\":\"%s\",\"sync\":\"%s\",\"tasks\":%llu,\"seconds\":%.6f,"
		       "\"tasks_per_s\":%.1f,\"done\":%llu,\"all_done\":%s}",
		       first ? "" : ",", r->w->name, r->sync, (unsigned long long)r->w->count,
		       r->seconds, r->rate, (unsigned long long)r->counts[3],
		       r->all_done ? "true" : "false");
		first = false;
	}
	printf("],\"ratio_noop_exec\":{");
	for (int i = 0; i + 1 < nruns; i += 2) {
		double q = ratio(&runs[i], &runs[i + 1]);

		printf("%s\"%s\":", i ? "," : "", runs[i].sync);
		if (q >= 0)
			printf("%.3f", q);
		else
			printf("null");
	}
	printf("},\"ok\":%s}\n", ok ? "true" : "false");
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: throughput [--noop N] [--exec N] [--workers N] [--forqd PATH] [--json]\n"
		"                  [--help]\n"
		"End-to-end throughput of forqd: N noop tasks and N exec tasks (/bin/true),\n"
		"each under --sync fsync and nosync, each run on a fresh forqd in a\n"
		"temporary directory; from the first submit to the last result committed.\n"
		"  --noop N      noop tasks per run (default 200000; 0 skips)\n"
		"  --exec N      exec tasks per run (default 5000; 0 skips)\n"
		"  --workers N   passed to forqd (default: forqd's, one per core)\n"
		"  --forqd PATH  the daemon (default: ../forqd next to this program)\n"
		"  --json        print one JSON object instead of the table\n"
		"  --help        this text\n"
		"Exit: 0 done, 1 a run failed or a task did not end DONE, 2 usage.\n");
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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "noop", required_argument, NULL, 'n' },
		{ "exec", required_argument, NULL, 'e' },
		{ "workers", required_argument, NULL, 'w' },
		{ "forqd", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct workload noop = { "noop", "{\"kernel\":\"noop\"}", 200000 };
	struct workload exec = { "exec", "{\"argv\":[\"/bin/true\"]}", 5000 };
	const char *workers = NULL, *forqd = NULL;
	char forqd_buf[PATH_MAX];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	bool json = false, ok = true;
	uint64_t v;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
		case 'e':
			if (!parse_u64(optarg, 0, 100000000, &v)) {
				fprintf(stderr,
					"throughput: --%s: an integer from 0 to 100000000\n",
					o == 'n' ? "noop" : "exec");
				return 2;
			}
			(o == 'n' ? &noop : &exec)->count = v;
			break;
		case 'w':
			if (!parse_u64(optarg, 1, 4096, &v)) {
				fprintf(stderr,
					"throughput: --workers: an integer from 1 to 4096\n");
				return 2;
			}
			workers = optarg;
			break;
		case 'f':
			forqd = optarg;
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
	if (!forqd) {
		if (default_forqd(forqd_buf) != 0) {
			fprintf(stderr, "throughput: cannot locate forqd; use --forqd PATH\n");
			return 1;
		}
		forqd = forqd_buf;
	}
	if (access(forqd, X_OK) != 0) {
		fprintf(stderr, "throughput: %s: %s\n", forqd, strerror(errno));
		return 1;
	}

	/* Pairs by sync mode, noop first: ratio() and the printers rely on it. */
	struct run runs[] = {
		{ .w = &noop, .sync = "fsync" },
		{ .w = &exec, .sync = "fsync" },
		{ .w = &noop, .sync = "nosync" },
		{ .w = &exec, .sync = "nosync" },
	};
	const int nruns = (int)(sizeof(runs) / sizeof(runs[0]));

	for (int i = 0; i < nruns; i++) {
		if (run_one(&runs[i], forqd, workers) != 0) {
			fprintf(stderr, "throughput: %s/%s failed\n", runs[i].w->name,
				runs[i].sync);
			return 1;
		}
		if (!runs[i].skipped && !runs[i].all_done) {
			warn_not_done(&runs[i]);
			ok = false;
		}
	}
	if (json)
		print_json(runs, nruns, forqd, ncpu, ok);
	else
		print_table(runs, nruns, forqd, ncpu);
	return ok ? 0 : 1;
}
