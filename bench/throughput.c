/*
 * bench/throughput — end-to-end task throughput of forqd, against the
 * machine's own limits measured in the same run.
 *
 * Each run starts its own forqd (the binary next to this one,
 * dirname(/proc/self/exe)/../forqd, or --forqd PATH) on a fresh mkdtemp(3)
 * directory holding its state, its socket and its log, so a run never
 * sees another's tasks or page cache of the database.  The clock runs from
 * sending the first submission to the TASK_WAIT {"all":true} round (1 s
 * server-side timeout) that reports complete, i.e. until the last result
 * is committed.  The runs, in this order:
 *
 *   noop-array    one task object {"kernel":"noop","array":"1-N"}: forqd
 *                 expands it server-side into N tasks (fsync, nosync).  A
 *                 forqd that refuses the field, or ignores it (accepts
 *                 fewer than N tasks), is reported as "array: not
 *                 supported by this forqd" and the run is skipped;
 *   noop          N tasks {"kernel":"noop"} as TASK_SUBMIT batches
 *                 {"tasks":[...]} of at most 50 000, as forq(1) sends a
 *                 JSONL file, built as text before the clock starts and
 *                 sent with forq_client_call_raw() (fsync, nosync);
 *   noop-clients  --clients connections (default 1000), each submitting
 *                 one task at a time and sending the next only when the
 *                 reply came, --client-tasks in all (default 50 000).  The
 *                 connections are made before the clock starts and are
 *                 driven by one thread per online CPU (at most 4) with
 *                 epoll: 1000 processes would mostly measure the kernel's
 *                 scheduler, and on a 2-CPU machine the load generator
 *                 shares the CPUs with forqd either way, which makes the
 *                 figure a lower bound (fsync, nosync);
 *   spin10us      N tasks {"kernel":"spin","args":{"us":10}} as batches
 *                 (fsync);
 *   exec          N tasks {"argv":["/bin/true"]} as batches: a process per
 *                 task (fsync, nosync).
 *
 * Baselines, measured by this program in the same run:
 *   - noop runs: LMDB puts/s at the commit size forq actually used.  STATS
 *     "commits" before and after the run gives tasks per commit; then a
 *     fresh LMDB environment in a temporary directory (same flags as
 *     forq's store, same sync mode) does that many puts of 100-byte values
 *     per write transaction, for up to as many puts as the run had tasks
 *     or one second, whichever comes first.  The ratio tasks/s : puts/s
 *     says how close forq gets to one put per task; a task that costs two
 *     separate puts (submission and completion) caps it near 0.5;
 *   - spin10us: the ideal rate, workers / 10 us;
 *   - exec: `xargs -P <workers> -n1 /bin/true` over the same count (no
 *     queue at all), once per program run.
 * Targets (issue 3; printed, never asserted): noop array with fsync
 * >= 500 000 tasks/s; noop JSONL batch >= 200 000 tasks/s; 1000 clients
 * >= 50 000 tasks/s; exec >= 0.9x the xargs rate.
 *
 * What is checked is correctness: after each run STATS must count every
 * task submitted and every one DONE; if not, a warning line goes to stderr
 * and the exit status is 1.
 *
 * Exit status: 0 done, 1 a run failed or a task did not end DONE, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchd.h"
#include "report.h"
#include "sys.h"

static const char *prog = "throughput";

/* ---- throughput -------------------------------------------------------- */

#define BENCH_BATCH		50000u	/* tasks per TASK_SUBMIT message, as forq(1) */
#define BENCH_VALUE		100	/* bytes per LMDB value in the baseline */
#define BENCH_MAX_THREADS	4	/* client threads of the noop-clients run */
#define BENCH_CLIENT_IDLE_MS	30000	/* a client thread gives up after this long idle */

static const char *const bench_states[] = {
	"QUEUED", "WAITING", "RUNNING", "DONE", "FAILED", "TIMEOUT", "LOST", "CANCELLED",
};
#define BENCH_NSTATES (sizeof(bench_states) / sizeof(bench_states[0]))

enum how {
	HOW_ARRAY,		/* one task object with "array" */
	HOW_BATCH,		/* TASK_SUBMIT {"tasks":[...]} lines */
	HOW_CLIENTS,		/* many connections, one task at a time each */
};

enum base_kind {
	BASE_LMDB,		/* LMDB puts/s at forq's commit size */
	BASE_IDEAL,		/* workers / task length */
	BASE_XARGS,		/* xargs -P workers -n1 /bin/true */
};

struct workload {
	const char *name;	/* "noop", "exec", ... */
	const char *task;	/* one task object, JSON text */
	enum how how;		/* how it is submitted */
	enum base_kind base;	/* its baseline */
	uint64_t count;		/* tasks; 0 skips the workload */
	double task_us;		/* BASE_IDEAL: the task's length */
};

struct run {
	const struct workload *w;	/* what ran */
	const char *sync;		/* "fsync" or "nosync" */
	bool skipped;			/* count was 0 */
	bool unsupported;		/* array: forqd has no arrays */
	double seconds;			/* first submit to complete */
	double rate;			/* tasks per second */
	uint64_t counts[BENCH_NSTATES];	/* STATS counts after the run */
	uint64_t submitted;		/* STATS submitted */
	int workers;			/* STATS workers */
	bool all_done;			/* every task submitted and DONE */
	double commits;			/* STATS commits during the run */
	double per_commit;		/* tasks per commit */
	double base_rate;		/* the baseline, per second */
	double ratio;			/* rate / base_rate, or NAN */
};

/* The prepared TASK_SUBMIT lines of one workload. */
struct batches {
	char **line;			/* each without the newline */
	size_t *len;			/* bytes of line[i] */
	size_t n;			/* lines */
};

static uint64_t opt_clients = 1000;	/* noop-clients: connections */
static double xargs_rate = NAN;		/* measured once, at the first exec run */
static int xargs_procs;			/* its -P */

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
		cJSON *reply = NULL;
		int e = forq_client_call_raw(c, "TASK_SUBMIT", b->line[i], b->len[i], &reply,
					     msg, sizeof(msg));

		if (e) {
			fprintf(stderr, "throughput: TASK_SUBMIT: %s (%s)\n", msg,
				forq_err_code(e));
			return -EIO;
		}
		accepted += (uint64_t)benchd_num(reply, "count", 0);
		cJSON_Delete(reply);
	}
	if (accepted != count) {
		fprintf(stderr, "throughput: forqd accepted %llu of %llu tasks\n",
			(unsigned long long)accepted, (unsigned long long)count);
		return -EIO;
	}
	return 0;
}

/*
 * submit_array - one task object with "array":"1-@count".
 * Returns 0, -ENOTSUP when this forqd has no arrays (refused the field or
 * accepted fewer tasks; reported), or -EIO.
 */
static int
submit_array(struct forq_client *c, uint64_t count)
{
	char line[256], msg[512];
	cJSON *reply = NULL;
	double n;
	int e;

	snprintf(line, sizeof(line),
		 "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\",\"array\":\"1-%llu\"}}",
		 (unsigned long long)count);
	e = forq_client_call_raw(c, "TASK_SUBMIT", line, strlen(line), &reply, msg, sizeof(msg));
	if (e == FORQ_ECONNECT || e == FORQ_EPROTO) {
		fprintf(stderr, "throughput: TASK_SUBMIT (array): %s (%s)\n", msg,
			forq_err_code(e));
		return -EIO;
	}
	if (e) {
		fprintf(stderr, "throughput: array: not supported by this forqd (%s: %s)\n",
			forq_err_code(e), msg);
		return -ENOTSUP;
	}
	n = benchd_num(reply, "count", 0);
	cJSON_Delete(reply);
	if (n != (double)count) {
		fprintf(stderr, "throughput: array: not supported by this forqd "
			"(it accepted %.0f task(s), not %llu)\n", n, (unsigned long long)count);
		return -ENOTSUP;
	}
	return 0;
}

/* STATS into @r; returns 0 or -EIO. */
static int
read_stats(struct forq_client *c, struct run *r, double *commits)
{
	static const char line[] = "{\"type\":\"STATS\",\"data\":{}}";
	cJSON *reply = NULL, *counts;

	if (benchd_call(c, "STATS", line, &reply, false))
		return -EIO;
	counts = cJSON_GetObjectItemCaseSensitive(reply, "counts");
	for (size_t i = 0; i < BENCH_NSTATES; i++)
		r->counts[i] = (uint64_t)benchd_num(counts, bench_states[i], 0);
	r->submitted = (uint64_t)benchd_num(reply, "submitted", 0);
	r->workers = (int)benchd_num(reply, "workers", 0);
	*commits = benchd_num(reply, "commits", NAN);
	cJSON_Delete(reply);
	return 0;
}

/* ---- noop-clients: many connections, one task at a time each ----------- */

struct cconn {
	int fd;				/* connected to forqd */
	uint32_t left;			/* submissions still to send */
	uint32_t inlen;			/* bytes in in[] */
	char in[512];			/* the reply being read */
};

struct cthread {
	struct cconn *conns;		/* this thread's connections */
	size_t n;			/* how many */
	uint64_t done;			/* replies TASK_SUBMIT_OK */
	int err;			/* 0, or -errno / -EPROTO */
	pthread_t tid;
};

static const char client_req[] = "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\"}}\n";

static int
cconn_send(struct cconn *cc)
{
	ssize_t k = send(cc->fd, client_req, sizeof(client_req) - 1, MSG_NOSIGNAL);

	if (k != (ssize_t)sizeof(client_req) - 1)
		return k < 0 ? -errno : -EIO;
	cc->left--;
	return 0;
}

/*
 * cconn_input - read what arrived; for each whole reply line, check it is
 * TASK_SUBMIT_OK and send the next submission.  Returns 1 when this
 * connection has nothing left to do, 0 to go on, or -errno / -EPROTO.
 */
static int
cconn_input(struct cconn *cc, uint64_t *done)
{
	static const char ok[] = "{\"type\":\"TASK_SUBMIT_OK\"";
	ssize_t k = read(cc->fd, cc->in + cc->inlen, sizeof(cc->in) - 1 - cc->inlen);
	char *nl;

	if (k <= 0)
		return k < 0 ? (errno == EINTR || errno == EAGAIN ? 0 : -errno) : -ECONNRESET;
	cc->inlen += (uint32_t)k;
	cc->in[cc->inlen] = '\0';
	while ((nl = memchr(cc->in, '\n', cc->inlen))) {
		size_t used = (size_t)(nl - cc->in) + 1;

		if (strncmp(cc->in, ok, sizeof(ok) - 1) != 0) {
			*nl = '\0';
			fprintf(stderr, "throughput: a client got: %.200s\n", cc->in);
			return -EPROTO;
		}
		(*done)++;
		memmove(cc->in, cc->in + used, cc->inlen - used);
		cc->inlen -= (uint32_t)used;
		if (!cc->left)
			return 1;
		int rc = cconn_send(cc);

		if (rc)
			return rc;
	}
	if (cc->inlen == sizeof(cc->in) - 1)
		return -EPROTO;
	return 0;
}

static void *
cthread_main(void *arg)
{
	struct cthread *t = arg;
	struct epoll_event evs[128];
	size_t active = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0) {
		t->err = -errno;
		return NULL;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &t->conns[i] };

		if (!t->conns[i].left)
			continue;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, t->conns[i].fd, &ev) < 0 ||
		    (t->err = cconn_send(&t->conns[i])) != 0) {
			t->err = t->err ? t->err : -errno;
			goto out;
		}
		active++;
	}
	while (active) {
		int n = epoll_wait(ep, evs, 128, BENCH_CLIENT_IDLE_MS);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			t->err = n < 0 ? -errno : -ETIMEDOUT;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct cconn *cc = evs[i].data.ptr;
			int rc = cconn_input(cc, &t->done);

			if (rc < 0) {
				t->err = rc;
				goto out;
			}
			if (rc == 1) {
				epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
				active--;
			}
		}
	}
out:
	close(ep);
	return NULL;
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/*
 * clients_prepare - open @nconns connections to @sock and share @count
 * submissions among them.  Returns 0 or -errno (all closed again).
 */
static int
clients_prepare(const char *sock, size_t nconns, uint64_t count, struct cconn **out)
{
	struct cconn *cc = calloc(nconns, sizeof(*cc));

	if (!cc)
		return -ENOMEM;
	for (size_t i = 0; i < nconns; i++)
		cc[i].fd = -1;
	for (size_t i = 0; i < nconns; i++) {
		int fd = unix_connect(sock);

		if (fd < 0) {
			for (size_t j = 0; j < i; j++)
				close(cc[j].fd);
			free(cc);
			return fd;
		}
		cc[i].fd = fd;
		cc[i].left = (uint32_t)(count / nconns + (i < count % nconns));
	}
	*out = cc;
	return 0;
}

/* clients_run - drive the prepared connections to the end; 0 or -EIO (printed). */
static int
clients_run(struct cconn *cc, size_t nconns, uint64_t count)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = ncpu < 1 ? 1 : ncpu > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : (size_t)ncpu;
	struct cthread t[BENCH_MAX_THREADS];
	uint64_t done = 0;
	int err = 0;

	if (nt > nconns)
		nt = nconns;
	memset(t, 0, sizeof(t));
	for (size_t i = 0, at = 0; i < nt; i++) {
		t[i].conns = cc + at;
		t[i].n = nconns / nt + (i < nconns % nt);
		at += t[i].n;
		if (pthread_create(&t[i].tid, NULL, cthread_main, &t[i]) != 0) {
			fprintf(stderr, "throughput: pthread_create failed\n");
			nt = i;
			err = -EAGAIN;
			break;
		}
	}
	for (size_t i = 0; i < nt; i++) {
		pthread_join(t[i].tid, NULL);
		done += t[i].done;
		if (t[i].err && !err)
			err = t[i].err;
	}
	if (err) {
		fprintf(stderr, "throughput: noop-clients: %s\n",
			err == -EPROTO ? "bad reply" : strerror(-err));
		return -EIO;
	}
	if (done != count) {
		fprintf(stderr, "throughput: noop-clients: %llu of %llu submissions acknowledged\n",
			(unsigned long long)done, (unsigned long long)count);
		return -EIO;
	}
	return 0;
}

static void
clients_close(struct cconn *cc, size_t n)
{
	if (!cc)
		return;
	for (size_t i = 0; i < n; i++)
		if (cc[i].fd >= 0)
			close(cc[i].fd);
	free(cc);
}

/* ---- baselines ----------------------------------------------------------- */

/*
 * lmdb_rate - puts/s of a fresh LMDB environment (forq's store flags) doing
 * @per_txn puts of BENCH_VALUE bytes per write transaction, for @max_puts
 * puts or @max_s seconds, whichever ends first.  0 or -EIO.
 */
static int
lmdb_rate(double per_txn, bool nosync, uint64_t max_puts, double max_s, double *rate)
{
	const char *tmp = getenv("TMPDIR");
	uint64_t per = per_txn >= 1 ? (uint64_t)llround(per_txn) : 1, puts = 0, t0, t1;
	unsigned char key[8], val[BENCH_VALUE];
	char dir[PATH_MAX];
	MDB_env *env = NULL;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/forq-bench-lmdb.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -EIO;
	memset(val, 'v', sizeof(val));
	if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 4ull << 30) ||
	    mdb_env_open(env, dir, MDB_NOTLS | MDB_NORDAHEAD | (nosync ? MDB_NOSYNC : 0), 0600) ||
	    mdb_txn_begin(env, NULL, 0, &txn)) {
		rc = -EIO;
		goto out;
	}
	if (mdb_dbi_open(txn, NULL, 0, &dbi) || mdb_txn_commit(txn)) {
		rc = -EIO;
		goto out;
	}
	t0 = t1 = sys_now_ns();
	while (puts < max_puts && (double)(t1 - t0) / 1e9 < max_s && !rc) {
		if (mdb_txn_begin(env, NULL, 0, &txn)) {
			rc = -EIO;
			break;
		}
		for (uint64_t i = 0; i < per && !rc; i++, puts++) {
			MDB_val k = { sizeof(key), key }, v = { sizeof(val), val };

			for (int b = 0; b < 8; b++)
				key[b] = (unsigned char)(puts >> (56 - 8 * b));
			if (mdb_put(txn, dbi, &k, &v, 0))
				rc = -EIO;
		}
		if (rc)
			mdb_txn_abort(txn);
		else if (mdb_txn_commit(txn))
			rc = -EIO;
		t1 = sys_now_ns();
	}
	*rate = t1 > t0 ? (double)puts / ((double)(t1 - t0) / 1e9) : NAN;
out:
	if (env)
		mdb_env_close(env);
	benchd_rm_tree(dir);
	if (rc)
		fprintf(stderr, "throughput: the LMDB baseline failed\n");
	return rc;
}

/*
 * xargs_measure - `xargs -P @procs -n1 /bin/true` over @count input lines
 * (a temporary file of "x" lines); its rate in *@rate.  0 or -EIO.
 */
static int
xargs_measure(uint64_t count, int procs, double *rate)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX], p[16];
	uint64_t t0, t1;
	int fd, st, rc = -EIO;
	FILE *f;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/forq-bench-xargs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	for (uint64_t i = 0; i < count; i++)
		fputs("x\n", f);
	if (fclose(f) != 0)
		goto out_unlink;
	snprintf(p, sizeof(p), "%d", procs < 1 ? 1 : procs);
	fflush(NULL);
	t0 = sys_now_ns();
	pid = fork();
	if (pid < 0)
		goto out_unlink;
	if (pid == 0) {
		int in = open(path, O_RDONLY);

		if (in < 0 || dup2(in, STDIN_FILENO) < 0)
			_exit(127);
		execlp("xargs", "xargs", "-P", p, "-n1", "/bin/true", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		t1 = sys_now_ns();
		*rate = (double)count / ((double)(t1 - t0) / 1e9);
		rc = 0;
	} else {
		fprintf(stderr, "throughput: xargs failed (status 0x%x)\n", st);
	}
out_unlink:
	unlink(path);
	return rc;
}

/* ---- one run ------------------------------------------------------------- */

/*
 * run_one - one workload under one sync mode, on a fresh forqd.
 * Returns 0 when the run completed (r->all_done says whether every task
 * ended DONE; r->unsupported that forqd has no arrays), -EIO when it
 * could not be measured (message printed).
 */
static int
run_one(struct run *r, const char *forqd, const char *workers, bool tiny)
{
	const char *extra[] = { "--sync", r->sync, workers ? "--workers" : NULL, workers, NULL };
	struct forq_client *c = NULL;
	struct cconn *cc = NULL;
	size_t nconns = 0;
	struct batches b = { 0 };
	struct benchd d;
	double c0 = NAN, c1 = NAN;
	uint64_t t0, t1;
	int rc;

	r->base_rate = r->ratio = r->per_commit = NAN;
	if (r->w->count == 0) {
		r->skipped = true;
		return 0;
	}
	if (r->w->how == HOW_BATCH && batches_build(&b, r->w->task, r->w->count) != 0) {
		fprintf(stderr, "throughput: out of memory\n");
		return -EIO;
	}
	if (benchd_up(&d, forqd, extra, &c)) {
		batches_free(&b);
		return -EIO;
	}
	rc = read_stats(c, r, &c0);
	if (!rc && r->w->how == HOW_CLIENTS) {
		nconns = opt_clients < r->w->count ? (size_t)opt_clients : (size_t)r->w->count;
		rc = clients_prepare(d.sock, nconns, r->w->count, &cc);
		if (rc) {
			fprintf(stderr, "throughput: connecting %zu clients: %s\n", nconns,
				strerror(-rc));
			rc = -EIO;
		}
		benchd_sleep_ms(50);	/* let forqd accept them all before the clock starts */
	}
	if (rc)
		goto out_client;

	t0 = sys_now_ns();
	switch (r->w->how) {
	case HOW_ARRAY:
		rc = submit_array(c, r->w->count);
		break;
	case HOW_BATCH:
		rc = submit_all(c, &b, r->w->count);
		break;
	case HOW_CLIENTS:
		rc = clients_run(cc, nconns, r->w->count);
		break;
	}
	if (!rc)
		rc = benchd_wait_all(c);
	t1 = sys_now_ns();
	if (rc == -ENOTSUP) {
		r->unsupported = true;
		rc = 0;
		goto out_stop;
	}
	if (!rc)
		rc = read_stats(c, r, &c1);
	if (rc) {
		benchd_show_log(&d);
		goto out_client;
	}
	r->seconds = (double)(t1 - t0) / 1e9;
	r->rate = r->seconds > 0 ? (double)r->w->count / r->seconds : 0;
	r->all_done = r->submitted == r->w->count && r->counts[3] == r->w->count;
	r->commits = c1 - c0;
	r->per_commit = r->commits > 0 ? (double)r->w->count / r->commits : NAN;

out_stop:
	clients_close(cc, nconns);
	cc = NULL;
	rc = benchd_stop(&d, c);
	if (rc)
		benchd_show_log(&d);
	forq_client_close(c);
	benchd_cleanup(&d);
	batches_free(&b);
	if (rc || r->unsupported)
		return rc ? -EIO : 0;

	/* The baseline, after forqd is gone so that it has the machine alone. */
	switch (r->w->base) {
	case BASE_LMDB:
		if (isfinite(r->per_commit) &&
		    lmdb_rate(r->per_commit, strcmp(r->sync, "nosync") == 0, r->w->count,
			      tiny ? 0.2 : 1.0, &r->base_rate))
			return -EIO;
		break;
	case BASE_IDEAL:
		r->base_rate = r->workers > 0 ? r->workers * 1e6 / r->w->task_us : NAN;
		break;
	case BASE_XARGS:
		if (!isfinite(xargs_rate)) {
			xargs_procs = r->workers;
			if (xargs_measure(r->w->count, r->workers, &xargs_rate))
				return -EIO;
		}
		r->base_rate = xargs_rate;
		break;
	}
	r->ratio = r->base_rate > 0 ? r->rate / r->base_rate : NAN;
	return 0;

out_client:
	clients_close(cc, nconns);
	benchd_stop(&d, c);
	forq_client_close(c);
	benchd_cleanup(&d);
	batches_free(&b);
	return -EIO;
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

/* find - the run of workload @name in @sync, or NULL when it did not run. */
static const struct run *
find(const struct run *runs, int nruns, const char *name, const char *sync)
{
	for (int i = 0; i < nruns; i++)
		if (strcmp(runs[i].w->name, name) == 0 && strcmp(runs[i].sync, sync) == 0 &&
		    !runs[i].skipped && !runs[i].unsupported)
			return &runs[i];
	return NULL;
}

/* noop/exec ratio of one sync mode, or a negative value when undefined. */
static double
ratio_noop_exec(const struct run *runs, int nruns, const char *sync)
{
	const struct run *noop = find(runs, nruns, "noop", sync);
	const struct run *exec = find(runs, nruns, "exec", sync);

	if (!noop || !exec || exec->rate <= 0)
		return -1;
	return noop->rate / exec->rate;
}

static const char *
base_label(const struct run *r)
{
	switch (r->w->base) {
	case BASE_LMDB:
		return "LMDB puts/s";
	case BASE_IDEAL:
		return "ideal";
	case BASE_XARGS:
		return "xargs -P";
	}
	return "";
}

/* target - the target for @r as text, and whether it was met; false if none. */
static bool
target(const struct run *r, char *buf, size_t len, bool *met)
{
	const char *w = r->w->name;

	if (strcmp(w, "noop-array") == 0 && strcmp(r->sync, "fsync") == 0) {
		snprintf(buf, len, ">= 500k tasks/s");
		*met = r->rate >= 500000;
	} else if (strcmp(w, "noop") == 0) {
		snprintf(buf, len, ">= 200k tasks/s");
		*met = r->rate >= 200000;
	} else if (strcmp(w, "noop-clients") == 0) {
		snprintf(buf, len, ">= 50k tasks/s");
		*met = r->rate >= 50000;
	} else if (strcmp(w, "exec") == 0) {
		snprintf(buf, len, ">= 0.9x xargs");
		*met = isfinite(r->ratio) && r->ratio >= 0.9;
	} else {
		return false;
	}
	return true;
}

static void
add_rows(const struct run *runs, int nruns)
{
	for (int i = 0; i < nruns; i++) {
		const struct run *r = &runs[i];
		char name[64], tgt[48], bname[48];
		struct report_row *row;
		bool met = false;

		if (r->skipped)
			continue;
		snprintf(name, sizeof(name), "%s%s %s", r->w->name,
			 r->w->how == HOW_BATCH && strcmp(r->w->name, "noop") == 0 ? " jsonl" : "",
			 r->sync);
		if (r->unsupported) {
			row = report_add(name, NAN, "tasks/s");
			report_target(row, "array: not supported by this forqd", false);
			row->met = -1;
			continue;
		}
		row = report_add(name, r->rate, "tasks/s");
		if (r->w->base == BASE_LMDB)
			snprintf(bname, sizeof(bname), "LMDB %.0f puts/txn", r->per_commit);
		else
			snprintf(bname, sizeof(bname), "%s", base_label(r));
		report_base(row, bname, r->base_rate, r->w->base == BASE_LMDB ? "puts/s" : "tasks/s");
		if (target(r, tgt, sizeof(tgt), &met))
			report_target(row, tgt, met);
	}
}

static void
print_table(const struct run *runs, int nruns, const char *forqd, long ncpu)
{
	int workers = 0;

	for (int i = 0; i < nruns; i++)
		if (!runs[i].skipped && runs[i].workers)
			workers = runs[i].workers;
	printf("forq throughput: %s, %d workers, %ld CPUs online, batches of %u tasks, "
	       "%llu clients\n",
	       forqd, workers, ncpu, BENCH_BATCH, (unsigned long long)opt_clients);
	printf("%-13s %-6s %8s %8s %10s %9s  %-12s %10s %7s  %s\n", "workload", "sync", "tasks",
	       "seconds", "tasks/s", "tasks/txn", "baseline", "base /s", "ratio", "target");
	for (int i = 0; i < nruns; i++) {
		const struct run *r = &runs[i];
		char tgt[48] = "";
		bool met = false;

		if (r->skipped)
			continue;
		if (r->unsupported) {
			printf("%-13s %-6s %8llu  array: not supported by this forqd\n", r->w->name,
			       r->sync, (unsigned long long)r->w->count);
			continue;
		}
		if (target(r, tgt, sizeof(tgt), &met))
			strcat(tgt, met ? " (met)" : " (missed)");
		printf("%-13s %-6s %8llu %8.3f %10.0f %9.1f  %-12s %10.0f %7.3f  %s%s\n",
		       r->w->name, r->sync, (unsigned long long)r->w->count, r->seconds, r->rate,
		       r->per_commit, base_label(r), r->base_rate, r->ratio, tgt,
		       r->all_done ? "" : "  (not all DONE)");
	}
	if (isfinite(xargs_rate))
		printf("xargs -P %d -n1 /bin/true: %.0f/s\n", xargs_procs, xargs_rate);
	printf("LMDB baseline: puts of %d-byte values, that many per write txn as forq's "
	       "tasks per commit, same sync mode; ratio 0.5 = two puts a task\n", BENCH_VALUE);
	for (int i = 0; i < 2; i++) {
		const char *sync = i ? "nosync" : "fsync";
		double q = ratio_noop_exec(runs, nruns, sync);

		if (q >= 0)
			printf("noop/exec tasks/s, %s: %.1f\n", sync, q);
	}
	report_print_text(prog);
}

static void
print_json(const struct run *runs, int nruns, const char *forqd, long ncpu, bool ok)
{
	int workers = 0;
	bool first = true;

	for (int i = 0; i < nruns; i++)
		if (!runs[i].skipped && runs[i].workers)
			workers = runs[i].workers;
	/* forqd is a path we found or were given: escape it as JSON. */
	cJSON *path = cJSON_CreateString(forqd);
	char *qpath = path ? cJSON_PrintUnformatted(path) : NULL;

	printf("{\"forqd\":%s,\"workers\":%d,\"cpus\":%ld,\"batch\":%u,\"clients\":%llu,"
	       "\"runs\":[",
	       qpath ? qpath : "null", workers, ncpu, BENCH_BATCH,
	       (unsigned long long)opt_clients);
	free(qpath);
	cJSON_Delete(path);
	for (int i = 0; i < nruns; i++) {
		const struct run *r = &runs[i];
		char tgt[48];
		bool met = false;

		if (r->skipped)
			continue;
		printf("%s{\"workload\":\"%s\",\"sync\":\"%s\",\"tasks\":%llu,", first ? "" : ",",
		       r->w->name, r->sync, (unsigned long long)r->w->count);
		first = false;
		if (r->unsupported) {
			printf("\"supported\":false}");
			continue;
		}
		printf("\"supported\":true,\"seconds\":%.6f,\"tasks_per_s\":%.1f,\"done\":%llu,"
		       "\"all_done\":%s,\"commits\":",
		       r->seconds, r->rate, (unsigned long long)r->counts[3],
		       r->all_done ? "true" : "false");
		report_jnum("%.0f", r->commits);
		printf(",\"tasks_per_commit\":");
		report_jnum("%.3f", r->per_commit);
		printf(",\"baseline\":\"%s\",\"baseline_per_s\":", base_label(r));
		report_jnum("%.1f", r->base_rate);
		printf(",\"ratio\":");
		report_jnum("%.4f", r->ratio);
		if (target(r, tgt, sizeof(tgt), &met))
			printf(",\"target\":\"%s\",\"met\":%s}", tgt, met ? "true" : "false");
		else
			printf(",\"target\":null,\"met\":null}");
	}
	printf("],\"xargs\":{\"procs\":%d,\"per_s\":", xargs_procs);
	report_jnum("%.1f", xargs_rate);
	printf("},\"ratio_noop_exec\":{");
	for (int i = 0; i < 2; i++) {
		const char *sync = i ? "nosync" : "fsync";
		double q = ratio_noop_exec(runs, nruns, sync);

		printf("%s\"%s\":", i ? "," : "", sync);
		if (q >= 0)
			printf("%.3f", q);
		else
			printf("null");
	}
	printf("},");
	report_print_json();
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: throughput [--noop N] [--exec N] [--spin N] [--clients N]\n"
		"                  [--client-tasks N] [--workers N] [--forqd PATH] [--tiny]\n"
		"                  [--json] [--help]\n"
		"End-to-end throughput of forqd, each run on a fresh forqd in a temporary\n"
		"directory, from the first submit to the last result committed: noop as one\n"
		"array, as JSONL batches and from many one-task clients; spin 10 us; exec\n"
		"/bin/true; with the same run's baselines (LMDB puts/s at forq's commit\n"
		"size, the ideal spin rate, xargs -P).\n"
		"  --noop N          noop tasks of the array and the batch runs\n"
		"                    (default 200000; 0 skips)\n"
		"  --exec N          exec tasks per run (default 5000; 0 skips)\n"
		"  --spin N          spin 10 us tasks (default 100000; 0 skips)\n"
		"  --clients N       connections of the noop-clients run (default 1000)\n"
		"  --client-tasks N  tasks of the noop-clients run, all clients together\n"
		"                    (default 50000; 0 skips)\n"
		"  --workers N       passed to forqd (default: forqd's, one per core)\n"
		"  --forqd PATH      the daemon (default: ../forqd next to this program)\n"
		"  --tiny            a very small run (seconds), for tests\n"
		"  --json            print one JSON object instead of the table\n"
		"  --help            this text\n"
		"Targets are printed, not asserted.\n"
		"Exit: 0 done, 1 a run failed or a task did not end DONE, 2 usage.\n");
}

/* raise_nofile - the soft RLIMIT_NOFILE to the hard one (1000 clients, and forqd inherits it). */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "noop", required_argument, NULL, 'n' },
		{ "exec", required_argument, NULL, 'e' },
		{ "spin", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "client-tasks", required_argument, NULL, 'C' },
		{ "workers", required_argument, NULL, 'w' },
		{ "forqd", required_argument, NULL, 'f' },
		{ "tiny", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct workload noop_array = { "noop-array", "{\"kernel\":\"noop\"}", HOW_ARRAY,
				       BASE_LMDB, 200000, 0 };
	struct workload noop = { "noop", "{\"kernel\":\"noop\"}", HOW_BATCH, BASE_LMDB, 200000, 0 };
	struct workload clients = { "noop-clients", "{\"kernel\":\"noop\"}", HOW_CLIENTS,
				    BASE_LMDB, 50000, 0 };
	struct workload spin = { "spin10us", "{\"kernel\":\"spin\",\"args\":{\"us\":10}}",
				 HOW_BATCH, BASE_IDEAL, 100000, 10 };
	struct workload exec = { "exec", "{\"argv\":[\"/bin/true\"]}", HOW_BATCH, BASE_XARGS,
				 5000, 0 };
	bool set_noop = false, set_exec = false, set_spin = false, set_clients = false,
	     set_ctasks = false;
	const char *workers = NULL, *forqd = NULL;
	char forqd_buf[PATH_MAX];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	bool json = false, ok = true, tiny = false;
	uint64_t v;
	int o;

	benchd_prog = prog;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
		case 'e':
		case 's':
		case 'C':
			if (!benchd_parse_u64(optarg, 0, 100000000, &v)) {
				fprintf(stderr,
					"throughput: --%s: an integer from 0 to 100000000\n",
					o == 'n' ? "noop" : o == 'e' ? "exec" : o == 's' ? "spin"
					: "client-tasks");
				return 2;
			}
			if (o == 'n') {
				noop.count = noop_array.count = v;
				set_noop = true;
			} else if (o == 'e') {
				exec.count = v;
				set_exec = true;
			} else if (o == 's') {
				spin.count = v;
				set_spin = true;
			} else {
				clients.count = v;
				set_ctasks = true;
			}
			break;
		case 'c':
			if (!benchd_parse_u64(optarg, 1, 100000, &opt_clients)) {
				fprintf(stderr,
					"throughput: --clients: an integer from 1 to 100000\n");
				return 2;
			}
			set_clients = true;
			break;
		case 'w':
			if (!benchd_parse_u64(optarg, 1, 4096, &v)) {
				fprintf(stderr,
					"throughput: --workers: an integer from 1 to 4096\n");
				return 2;
			}
			workers = optarg;
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
	if (tiny) {
		if (!set_noop)
			noop.count = noop_array.count = 2000;
		if (!set_exec)
			exec.count = 50;
		if (!set_spin)
			spin.count = 1000;
		if (!set_clients)
			opt_clients = 50;
		if (!set_ctasks)
			clients.count = 500;
	}
	raise_nofile();

	struct run runs[] = {
		{ .w = &noop_array, .sync = "fsync" },
		{ .w = &noop_array, .sync = "nosync" },
		{ .w = &noop, .sync = "fsync" },
		{ .w = &noop, .sync = "nosync" },
		{ .w = &clients, .sync = "fsync" },
		{ .w = &clients, .sync = "nosync" },
		{ .w = &spin, .sync = "fsync" },
		{ .w = &exec, .sync = "fsync" },
		{ .w = &exec, .sync = "nosync" },
	};
	const int nruns = (int)(sizeof(runs) / sizeof(runs[0]));

	for (int i = 0; i < nruns; i++) {
		if (run_one(&runs[i], forqd, workers, tiny) != 0) {
			fprintf(stderr, "throughput: %s/%s failed\n", runs[i].w->name,
				runs[i].sync);
			return 1;
		}
		if (!runs[i].skipped && !runs[i].unsupported && !runs[i].all_done) {
			warn_not_done(&runs[i]);
			ok = false;
		}
	}
	add_rows(runs, nruns);
	if (json)
		print_json(runs, nruns, forqd, ncpu, ok);
	else
		print_table(runs, nruns, forqd, ncpu);
	return ok ? 0 : 1;
}
