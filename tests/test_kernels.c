/*
 * test_kernels — the registry and the four built-in kernels, with real
 * processes, real clocks and a real log directory (mkdtemp); no mocks.
 *
 * The process makes itself a child subreaper, so the background processes
 * that a stopped command leaves orphaned become its children: it can then
 * check exactly that nothing of the command's process group survives
 * (kill(-pgid, 0) == ESRCH once the dead are reaped, and no /proc entry in
 * the group).  Helper threads only sleep and set the cancel word; every
 * assertion runs on the main thread.  Timing bounds are loose enough for a
 * sanitizer build on a busy machine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "kernel.h"
#include "sys.h"

#define MS 1000000ull                 /* ns per ms */

static char log_dir[PATH_MAX];        /* the mkdtemp directory, realpath'd */

/* ---- helpers ------------------------------------------------------------- */

struct run {
	struct kctx ctx;
	char result[256];
	_Atomic uint32_t cancel;
	unsigned beats;
	enum kernel_outcome outcome;
	uint64_t wall_ns;
};

static void
count_beat(void *arg)
{
	struct run *r = arg;

	r->beats++;
}

static void
run_init(struct run *r, uint64_t task_id)
{
	memset(r, 0, sizeof *r);
	atomic_init(&r->cancel, 0);
	r->ctx.task_id = task_id;
	r->ctx.attempt = 1;
	r->ctx.cpu = 0;
	r->ctx.log_dir = log_dir;
	r->ctx.beat = count_beat;
	r->ctx.beat_arg = r;
	r->ctx.cancel = &r->cancel;
	r->ctx.result = r->result;
	r->ctx.result_cap = sizeof r->result;
}

/* prepare @json (NULL: absent args) for kernel @name; the blob into @b. */
static int
prep(const char *name, const char *json, struct kbuf *b, char *err, size_t errlen)
{
	const struct kernel *k = kernel_find(name);
	cJSON *args = NULL;
	int rc;

	assert_non_null(k);
	if (json != NULL) {
		args = cJSON_Parse(json);
		assert_non_null(args);
	}
	err[0] = '\0';
	b->data = NULL;
	b->len = 0;
	rc = k->prepare(args, b, err, errlen);
	cJSON_Delete(args);
	return rc;
}

static void
expect_refused(const char *name, const char *json, const char *needle)
{
	struct kbuf b;
	char err[256];
	int rc = prep(name, json, &b, err, sizeof err);

	if (rc != -EINVAL)
		fail_msg("%s %s: rc %d, want -EINVAL", name, json ? json : "(absent)", rc);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	if (err[0] == '\0' || (needle != NULL && strstr(err, needle) == NULL))
		fail_msg("%s %s: message \"%s\" lacks \"%s\"", name, json ? json : "(absent)", err,
			 needle ? needle : "");
}

static struct kbuf
expect_accepted(const char *name, const char *json)
{
	struct kbuf b;
	char err[256];
	int rc = prep(name, json, &b, err, sizeof err);

	if (rc != 0)
		fail_msg("%s %s: refused (%d): %s", name, json ? json : "(absent)", rc, err);
	return b;
}

/* prepare @json with kernel @name and run it in @r. */
static void
run_json(struct run *r, const char *name, const char *json)
{
	struct kbuf b = expect_accepted(name, json);
	uint64_t t0 = sys_now_ns();

	r->outcome = kernel_find(name)->run(&r->ctx, b.data, b.len);
	r->wall_ns = sys_now_ns() - t0;
	free(b.data);
}

static const char *
result_str(const struct run *r)
{
	static char s[257];

	memcpy(s, r->result, r->ctx.result_len);
	s[r->ctx.result_len] = '\0';
	return s;
}

/* The log file of task @id with extension @ext into @buf ("" if missing). */
static const char *
read_log(uint64_t id, const char *ext, char *buf, size_t cap)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%02x/%llu.%s", log_dir, (unsigned)(id & 0xff),
		 (unsigned long long)id, ext);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	n = read(fd, buf, cap - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool
log_exists(uint64_t id, const char *ext)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof path, "%s/%02x/%llu.%s", log_dir, (unsigned)(id & 0xff),
		 (unsigned long long)id, ext);
	return access(path, F_OK) == 0;
}

struct canceller {
	_Atomic uint32_t *word;
	unsigned after_ms;
};

/* Helper thread: sleep, then set the cancel word.  No assertions here. */
static void *
cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = {
		.tv_sec = (time_t)(c->after_ms / 1000),
		.tv_nsec = (long)(c->after_ms % 1000) * 1000000L,
	};

	nanosleep(&ts, NULL);
	/* relaxed: the kernels read the word relaxed; nothing is published with it */
	atomic_store_explicit(c->word, 1, memory_order_relaxed);
	return NULL;
}

/* Members of process group @pgid in /proc, zombies included. */
static int
proc_group_members(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[1024], *p;
		long pg;
		ssize_t len;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "pid (comm) state ppid pgrp ...": comm may hold spaces and ')' */
		p = strrchr(buf, ')');
		if (p != NULL && sscanf(p + 1, " %*c %*d %ld", &pg) == 1 && pg == pgid)
			n++;
	}
	closedir(d);
	return n;
}

/* Reap orphans we inherited as subreaper until group @pgid is empty; false after 2 s. */
static bool
group_gone(pid_t pgid)
{
	uint64_t end = sys_now_ns() + 2000 * MS;

	do {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (kill(-pgid, 0) == -1 && errno == ESRCH && proc_group_members(pgid) == 0)
			return true;
		usleep(10000);
	} while (sys_now_ns() < end);
	return false;
}

/* The shell pid and its background child's pid, written by the command to @path. */
static void
read_pids(const char *path, pid_t *sh, pid_t *bg)
{
	FILE *f = fopen(path, "re");
	long a = 0, b = 0;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &a, &b), 2);
	fclose(f);
	*sh = (pid_t)a;
	*bg = (pid_t)b;
}

/* ---- group setup --------------------------------------------------------- */

static int
setup(void **state)
{
	char tmpl[] = "/tmp/forq-test-kernels-XXXXXX";

	(void)state;
	if (mkdtemp(tmpl) == NULL || realpath(tmpl, log_dir) == NULL)
		return -1;
	/* exec writes STATE/logs/XX/ID.out: the 256 directories forqd makes */
	for (unsigned d = 0; d < 256; d++) {
		char sub[PATH_MAX + 8];

		snprintf(sub, sizeof sub, "%s/%02x", log_dir, d);
		if (mkdir(sub, 0700) < 0)
			return -1;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		return -1;
	signal(SIGCHLD, SIG_DFL);
	return 0;
}

static int
teardown(void **state)
{
	DIR *d = opendir(log_dir);
	char path[PATH_MAX + 300];

	(void)state;
	if (d == NULL)
		return 0;
	closedir(d);
	snprintf(path, sizeof path, "rm -rf '%s'", log_dir);
	return system(path) == 0 ? 0 : -1;
}

/* ---- registry ------------------------------------------------------------ */

static void
test_registry(void **state)
{
	static const struct {
		const char *name;
		uint16_t id;
	} want[] = {
		{ "exec", KERNEL_ID_EXEC },
		{ "noop", KERNEL_ID_NOOP },
		{ "sleep", KERNEL_ID_SLEEP },
		{ "spin", KERNEL_ID_SPIN },
	};

	(void)state;
	/* the four internal kernels first; the ABI built-ins follow (test_abi.c) */
	assert_true(kernel_count() >= 4);
	for (size_t i = 0; i < 4; i++) {
		const struct kernel *k = kernel_find(want[i].name);

		assert_non_null(k);
		assert_string_equal(k->name, want[i].name);
		assert_int_equal(k->id, want[i].id);
		assert_ptr_equal(kernel_by_id(want[i].id), k);
		assert_non_null(k->summary);
		assert_non_null(k->prepare);
		assert_non_null(k->run);
	}
	for (unsigned i = 0; i < kernel_count(); i++) {
		const struct kernel *k = kernel_at(i);

		assert_non_null(k);
		assert_ptr_equal(kernel_find(k->name), k);
		assert_ptr_equal(kernel_by_id(k->id), k);
		for (unsigned j = 0; j < i; j++) {
			assert_int_not_equal(kernel_at(j)->id, k->id);
			assert_string_not_equal(kernel_at(j)->name, k->name);
		}
	}
	assert_null(kernel_at(kernel_count()));
	assert_null(kernel_find("nope"));
	assert_null(kernel_find(""));
	assert_null(kernel_find("EXEC"));
	assert_null(kernel_find(NULL));
	assert_null(kernel_by_id(0));
	assert_null(kernel_by_id(99));
	assert_null(kernel_by_id(UINT16_MAX));
}

/* ---- noop ---------------------------------------------------------------- */

static void
test_noop_prepare(void **state)
{
	struct kbuf b;

	(void)state;
	b = expect_accepted("noop", NULL);
	assert_int_equal(b.len, 0);
	free(b.data);
	b = expect_accepted("noop", "{}");
	assert_int_equal(b.len, 0);
	free(b.data);
	b = expect_accepted("noop", "null");
	assert_int_equal(b.len, 0);
	free(b.data);
	expect_refused("noop", "{\"x\":1}", "\"x\"");
	expect_refused("noop", "{\"ms\":null}", "\"ms\"");
	expect_refused("noop", "[]", "object");
	expect_refused("noop", "5", "object");
}

static void
test_noop_run(void **state)
{
	struct run r;
	unsigned char junk = 0;

	(void)state;
	run_init(&r, 1);
	r.ctx.exit_code = 77;
	snprintf(r.ctx.reason, sizeof r.ctx.reason, "stale");
	run_json(&r, "noop", "{}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_int_equal(r.ctx.exit_code, 0);
	assert_string_equal(r.ctx.reason, "");
	assert_int_equal(r.ctx.result_len, 0);
	assert_int_equal(r.beats, 0);

	run_init(&r, 1);
	assert_int_equal(kernel_find("noop")->run(&r.ctx, &junk, 1), KERNEL_FAILED);
	assert_string_equal(r.ctx.reason, "bad_blob");
}

/* ---- sleep --------------------------------------------------------------- */

static void
test_sleep_prepare(void **state)
{
	struct kbuf b;

	(void)state;
	expect_refused("sleep", NULL, "\"ms\"");
	expect_refused("sleep", "{}", "required");
	expect_refused("sleep", "[1]", "object");
	expect_refused("sleep", "{\"ms\":\"5\"}", "integer");
	expect_refused("sleep", "{\"ms\":true}", "integer");
	expect_refused("sleep", "{\"ms\":null}", "integer");
	expect_refused("sleep", "{\"ms\":-1}", "integer");
	expect_refused("sleep", "{\"ms\":1.5}", "integer");
	expect_refused("sleep", "{\"ms\":86400001}", "86400000");
	expect_refused("sleep", "{\"ms\":1e300}", "integer");
	expect_refused("sleep", "{\"ms\":1,\"us\":2}", "\"us\"");
	expect_refused("sleep", "{\"ms\":1,\"ms\":2}", "duplicate");

	b = expect_accepted("sleep", "{\"ms\":0}");
	assert_int_equal(b.len, 8);
	free(b.data);
	/* the documented layout: 8 bytes little-endian */
	b = expect_accepted("sleep", "{\"ms\":86400000}");
	assert_int_equal(b.len, 8);
	{
		static const unsigned char want[8] = { 0x00, 0x5c, 0x26, 0x05, 0, 0, 0, 0 };

		assert_memory_equal(b.data, want, 8);
	}
	free(b.data);
}

static void
test_sleep_run(void **state)
{
	struct run r;
	unsigned char bad[8] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };

	(void)state;
	run_init(&r, 2);
	run_json(&r, "sleep", "{\"ms\":50}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_true(r.wall_ns >= 50 * MS);
	assert_true(r.wall_ns < 500 * MS);
	assert_true(r.beats >= 1);
	assert_string_equal(result_str(&r), "{\"ms\":50}");
	assert_int_equal(r.ctx.exit_code, 0);

	/* slices of at most 100 ms: 250 ms is three of them */
	run_init(&r, 2);
	run_json(&r, "sleep", "{\"ms\":250}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_true(r.wall_ns >= 250 * MS);
	assert_true(r.beats >= 3);

	run_init(&r, 2);
	run_json(&r, "sleep", "{\"ms\":0}");
	assert_int_equal(r.outcome, KERNEL_DONE);

	run_init(&r, 2);
	assert_int_equal(kernel_find("sleep")->run(&r.ctx, bad, 8), KERNEL_FAILED);
	assert_string_equal(r.ctx.reason, "bad_blob");
	assert_int_equal(kernel_find("sleep")->run(&r.ctx, bad, 7), KERNEL_FAILED);
	assert_string_equal(r.ctx.reason, "bad_blob");
	assert_int_equal(kernel_find("sleep")->run(&r.ctx, NULL, 0), KERNEL_FAILED);
}

static void
test_sleep_timeout(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, 3);
	r.ctx.deadline_ns = sys_now_ns() + 100 * MS;
	run_json(&r, "sleep", "{\"ms\":5000}");
	assert_int_equal(r.outcome, KERNEL_TIMEOUT);
	assert_string_equal(r.ctx.reason, "timeout");
	assert_true(r.wall_ns >= 90 * MS);
	assert_true(r.wall_ns < 400 * MS);
	assert_int_equal(r.ctx.result_len, 0);
}

static void
test_sleep_cancel(void **state)
{
	struct run r;
	struct canceller c;
	pthread_t t;

	(void)state;
	run_init(&r, 4);
	c.word = &r.cancel;
	c.after_ms = 100;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	run_json(&r, "sleep", "{\"ms\":5000}");
	pthread_join(t, NULL);
	assert_int_equal(r.outcome, KERNEL_CANCELLED);
	assert_string_equal(r.ctx.reason, "cancelled");
	assert_true(r.wall_ns < 1000 * MS);
}

/* ---- spin ---------------------------------------------------------------- */

static void
test_spin_prepare(void **state)
{
	struct kbuf b;

	(void)state;
	expect_refused("spin", NULL, "\"us\"");
	expect_refused("spin", "{}", "required");
	expect_refused("spin", "{\"us\":\"1\"}", "integer");
	expect_refused("spin", "{\"us\":-5}", "integer");
	expect_refused("spin", "{\"us\":0.25}", "integer");
	expect_refused("spin", "{\"us\":3600000001}", "3600000000");
	expect_refused("spin", "{\"ms\":1}", "\"ms\"");

	b = expect_accepted("spin", "{\"us\":3600000000}");
	assert_int_equal(b.len, 8);
	{
		static const unsigned char want[8] = { 0x00, 0xa4, 0x93, 0xd6, 0, 0, 0, 0 };

		assert_memory_equal(b.data, want, 8);
	}
	free(b.data);
}

static void
test_spin_run(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, 5);
	run_json(&r, "spin", "{\"us\":200000}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_string_equal(result_str(&r), "{\"us\":200000}");
	assert_true(r.wall_ns >= 200 * MS);
	assert_true(r.wall_ns <= 250 * MS);
	/* CPU time: all of it when nothing preempts us, most of it on a busy box */
	if (r.ctx.user_us < 120000 || r.ctx.user_us > 260000)
		fail_msg("spin 200 ms: user_us %llu", (unsigned long long)r.ctx.user_us);
	assert_true(r.beats >= 10);

	/* short spins are accurate to a few µs (looser here for sanitizers) */
	run_init(&r, 5);
	run_json(&r, "spin", "{\"us\":50}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_true(r.wall_ns >= 50000);
	assert_true(r.wall_ns < 2 * MS);

	run_init(&r, 5);
	run_json(&r, "spin", "{\"us\":0}");
	assert_int_equal(r.outcome, KERNEL_DONE);
}

static void
test_spin_stop(void **state)
{
	struct run r;
	struct canceller c;
	pthread_t t;

	(void)state;
	/* spin ignores its deadline by design (forqd kills the worker): a
	 * 300 ms spin with a 50 ms deadline runs its full length. */
	run_init(&r, 6);
	r.ctx.deadline_ns = sys_now_ns() + 50 * MS;
	run_json(&r, "spin", "{\"us\":300000}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_true(r.wall_ns >= 300 * MS);

	run_init(&r, 6);
	c.word = &r.cancel;
	c.after_ms = 100;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	run_json(&r, "spin", "{\"us\":10000000}");
	pthread_join(t, NULL);
	assert_int_equal(r.outcome, KERNEL_CANCELLED);
	assert_string_equal(r.ctx.reason, "cancelled");
	assert_true(r.wall_ns < 1000 * MS);
}

/* ---- exec: prepare and blob ---------------------------------------------- */

static void
test_exec_prepare_refusals(void **state)
{
	(void)state;
	expect_refused("exec", NULL, "argv");
	expect_refused("exec", "{}", "argv");
	expect_refused("exec", "[\"true\"]", "object");
	expect_refused("exec", "{\"argv\":[]}", "non-empty");
	expect_refused("exec", "{\"argv\":\"true\"}", "array");
	expect_refused("exec", "{\"argv\":[1]}", "argv[0]");
	expect_refused("exec", "{\"argv\":[\"ls\",\"-l\",null]}", "argv[2]");
	expect_refused("exec", "{\"argv\":[\"\"]}", "argv[0]");
	expect_refused("exec", "{\"argv\":[\"true\"],\"cwd\":\"tmp\"}", "absolute");
	expect_refused("exec", "{\"argv\":[\"true\"],\"cwd\":\"\"}", "absolute");
	expect_refused("exec", "{\"argv\":[\"true\"],\"cwd\":5}", "absolute");
	expect_refused("exec", "{\"argv\":[\"true\"],\"env\":[\"A=1\"]}", "object");
	expect_refused("exec", "{\"argv\":[\"true\"],\"env\":{\"A=B\":\"x\"}}", "'='");
	expect_refused("exec", "{\"argv\":[\"true\"],\"env\":{\"\":\"x\"}}", "non-empty");
	expect_refused("exec", "{\"argv\":[\"true\"],\"env\":{\"A\":1}}", "string");
	expect_refused("exec", "{\"argv\":[\"true\"],\"env\":{\"A\":null}}", "string");
	expect_refused("exec", "{\"argv\":[\"true\"],\"env\":{\"A\":\"1\",\"A\":\"2\"}}",
		       "duplicate");
	expect_refused("exec", "{\"argv\":[\"true\"],\"env\":{\"FORQ_TASK_ID\":\"1\"}}", "forq");
	expect_refused("exec", "{\"argv\":[\"true\"],\"shell\":true}", "\"shell\"");
	expect_refused("exec", "{\"argv\":[\"true\"],\"argv\":[\"false\"]}", "duplicate");
}

static void
test_exec_prepare_too_large(void **state)
{
	size_t n = KBLOB_MAX + 16;
	char *json = malloc(n + 64);

	(void)state;
	assert_non_null(json);
	strcpy(json, "{\"argv\":[\"true\",\"");
	memset(json + strlen(json), 'a', n);
	strcpy(json + strlen("{\"argv\":[\"true\",\"") + n, "\"]}");
	expect_refused("exec", json, "exceed");
	free(json);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Check one length-prefixed string of the blob at *off. */
static void
expect_str(const struct kbuf *b, size_t *off, const char *s)
{
	size_t n = strlen(s);

	assert_true(*off + 4 + n <= b->len);
	assert_int_equal(le32(b->data + *off), n);
	assert_memory_equal(b->data + *off + 4, s, n);
	*off += 4 + n;
}

/* The blob is exactly the documented format 1. */
static void
test_exec_blob_layout(void **state)
{
	struct kbuf b;
	size_t off = 12;

	(void)state;
	b = expect_accepted("exec", "{\"argv\":[\"ls\",\"-l\",\"\"],"
				    "\"env\":{\"A\":\"1\",\"BB\":\"\"},\"cwd\":\"/tmp\"}");
	assert_true(b.len >= 12);
	assert_int_equal(b.data[0], 1);        /* version */
	assert_int_equal(b.data[1], 1);        /* flags: cwd */
	assert_int_equal(b.data[2], 0);
	assert_int_equal(b.data[3], 0);
	assert_int_equal(le32(b.data + 4), 3); /* argc */
	assert_int_equal(le32(b.data + 8), 2); /* envc */
	expect_str(&b, &off, "ls");
	expect_str(&b, &off, "-l");
	expect_str(&b, &off, "");
	expect_str(&b, &off, "A=1");
	expect_str(&b, &off, "BB=");
	expect_str(&b, &off, "/tmp");
	assert_int_equal(off, b.len);
	free(b.data);

	b = expect_accepted("exec", "{\"argv\":[\"true\"]}");
	assert_int_equal(b.len, 12 + 4 + 4);
	assert_int_equal(b.data[1], 0);
	assert_int_equal(le32(b.data + 8), 0);
	free(b.data);
}

static void
expect_bad_blob(const void *blob, size_t len)
{
	struct run r;
	enum kernel_outcome o;

	run_init(&r, 90);
	o = kernel_find("exec")->run(&r.ctx, blob, len);
	if (o != KERNEL_FAILED || strcmp(r.ctx.reason, "bad_blob") != 0)
		fail_msg("blob of %zu bytes: outcome %d reason \"%s\"", len, o, r.ctx.reason);
	assert_int_equal(r.ctx.exit_code, -1);
}

/* Short or garbled blobs are refused before anything is spawned. */
static void
test_exec_bad_blob(void **state)
{
	struct kbuf b;
	unsigned char *c;

	(void)state;
	b = expect_accepted("exec",
			    "{\"argv\":[\"true\",\"x\"],\"env\":{\"A\":\"1\"},\"cwd\":\"/\"}");
	c = malloc(b.len + 1);
	assert_non_null(c);
	for (size_t n = 0; n < b.len; n++) {
		memcpy(c, b.data, n);                  /* every strict prefix */
		expect_bad_blob(c, n);
	}
	expect_bad_blob(NULL, 0);
	memcpy(c, b.data, b.len);
	c[b.len] = 0;
	expect_bad_blob(c, b.len + 1);                 /* trailing byte */
	c[0] = 2;
	expect_bad_blob(c, b.len);                     /* unknown version */
	c[0] = 1;
	c[1] = 3;
	expect_bad_blob(c, b.len);                     /* unknown flag */
	c[1] = 0;
	expect_bad_blob(c, b.len);                     /* cwd bytes become trailing */
	c[1] = 1;
	c[4] = 0xff;
	c[7] = 0xff;
	expect_bad_blob(c, b.len);                     /* huge argc */
	c[4] = 0;
	c[7] = 0;
	expect_bad_blob(c, b.len);                     /* argc 0 */
	c[4] = 2;
	c[8] = 0xff;
	expect_bad_blob(c, b.len);                     /* envc too large */
	c[8] = 1;
	c[12 + 4 + 1] = '\0';
	expect_bad_blob(c, b.len);                     /* NUL inside argv[0] */
	c[12 + 4 + 1] = 'r';
	c[12 + 4 + 4 + 4 + 1 + 4] = '=';
	expect_bad_blob(c, b.len);                     /* env "=1" lacks a key */
	c[12 + 4 + 4 + 4 + 1 + 4] = 'A';
	c[b.len - 1] = 'x';
	expect_bad_blob(c, b.len);                     /* relative cwd "x" */
	c[b.len - 1] = '/';
	{
		/* the repaired copy runs */
		struct run r;

		run_init(&r, 91);
		assert_int_equal(kernel_find("exec")->run(&r.ctx, c, b.len), KERNEL_DONE);
	}
	c[12] = 0xff;
	expect_bad_blob(c, b.len);                     /* string longer than the blob */
	free(c);
	free(b.data);
}

/* ---- exec: running ------------------------------------------------------- */

static void
test_exec_exit3(void **state)
{
	struct run r;
	char buf[256];

	(void)state;
	run_init(&r, 100);
	run_json(&r, "exec", "{\"argv\":[\"sh\",\"-c\",\"echo out; echo err >&2; exit 3\"]}");
	assert_int_equal(r.outcome, KERNEL_FAILED);
	assert_int_equal(r.ctx.exit_code, 3);
	assert_int_equal(r.ctx.term_signal, 0);
	assert_string_equal(r.ctx.reason, "exit 3");
	assert_string_equal(result_str(&r), "{\"exit_code\":3}");
	assert_string_equal(read_log(100, "out", buf, sizeof buf), "out\n");
	assert_string_equal(read_log(100, "err", buf, sizeof buf), "err\n");
	{
		char path[PATH_MAX + 64];
		struct stat st;

		snprintf(path, sizeof path, "%s/64/100.out", log_dir);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
}

static void
test_exec_true(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, 101);
	run_json(&r, "exec", "{\"argv\":[\"true\"]}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_int_equal(r.ctx.exit_code, 0);
	assert_string_equal(r.ctx.reason, "");
	assert_string_equal(result_str(&r), "{\"exit_code\":0}");

	/* the logs are truncated for a new attempt */
	run_init(&r, 101);
	run_json(&r, "exec", "{\"argv\":[\"sh\",\"-c\",\"echo again\"]}");
	run_json(&r, "exec", "{\"argv\":[\"true\"]}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	{
		char buf[64];

		assert_string_equal(read_log(101, "out", buf, sizeof buf), "");
	}

	/* no log_dir: /dev/null */
	run_init(&r, 102);
	r.ctx.log_dir = NULL;
	run_json(&r, "exec", "{\"argv\":[\"sh\",\"-c\",\"echo hi; echo ho >&2\"]}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_false(log_exists(102, "out"));
}

static void
test_exec_env_cwd(void **state)
{
	struct run r;
	char buf[PATH_MAX + 256], want[PATH_MAX + 256], json[PATH_MAX + 256];

	(void)state;
	run_init(&r, 4242);
	r.ctx.cpu = 3;
	r.ctx.attempt = 2;
	run_json(&r, "exec",
		 "{\"argv\":[\"sh\",\"-c\",\"echo $FORQ_TASK_ID $FORQ_CPU $FORQ_ATTEMPT\"]}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_string_equal(read_log(4242, "out", buf, sizeof buf), "4242 3 2\n");

	/* additions, an override of an inherited key, stdin from /dev/null, cwd */
	setenv("FORQ_TEST_INHERITED", "kept", 1);
	setenv("FORQ_TEST_OVERRIDE", "old", 1);
	run_init(&r, 103);
	snprintf(json, sizeof json,
		 "{\"argv\":[\"sh\",\"-c\","
		 "\"echo \\\"$FOO|$FORQ_TEST_INHERITED|$FORQ_TEST_OVERRIDE\\\"; "
		 "cat; pwd; env | grep -c ^FORQ_TEST_OVERRIDE=\"],"
		 "\"env\":{\"FOO\":\"bar baz\",\"FORQ_TEST_OVERRIDE\":\"new\"},\"cwd\":\"%s\"}",
		 log_dir);
	run_json(&r, "exec", json);
	unsetenv("FORQ_TEST_INHERITED");
	unsetenv("FORQ_TEST_OVERRIDE");
	assert_int_equal(r.outcome, KERNEL_DONE);
	snprintf(want, sizeof want, "bar baz|kept|new\n%s\n1\n", log_dir);
	assert_string_equal(read_log(103, "out", buf, sizeof buf), want);

	/* cwd that does not exist: refused at submit */
	expect_refused("exec", "{\"argv\":[\"true\"],\"cwd\":\"/nonexistent-forq-dir\"}", "cwd");
	/* ... and one removed between submit and run: the spawn fails */
	{
		char dir[] = "/tmp/forq-cwd-XXXXXX", js[128];
		struct kbuf b;

		assert_non_null(mkdtemp(dir));
		snprintf(js, sizeof js, "{\"argv\":[\"true\"],\"cwd\":\"%s\"}", dir);
		b = expect_accepted("exec", js);
		assert_int_equal(rmdir(dir), 0);
		run_init(&r, 104);
		r.outcome = kernel_find("exec")->run(&r.ctx, b.data, b.len);
		free(b.data);
		assert_int_equal(r.outcome, KERNEL_FAILED);
		assert_int_equal(r.ctx.exit_code, 127);
	}
}

static void
test_exec_enoent(void **state)
{
	struct run r;
	char buf[256];

	(void)state;
	run_init(&r, 105);
	run_json(&r, "exec", "{\"argv\":[\"forq-no-such-command-xyz\",\"a\"]}");
	assert_int_equal(r.outcome, KERNEL_FAILED);
	assert_int_equal(r.ctx.exit_code, 127);
	assert_string_equal(r.ctx.reason, "spawn: No such file or directory");
	assert_string_equal(result_str(&r), "{\"exit_code\":127}");
	assert_non_null(strstr(read_log(105, "err", buf, sizeof buf), "spawn: No such file"));

	run_init(&r, 106);
	run_json(&r, "exec", "{\"argv\":[\"/nonexistent/forq\"]}");
	assert_int_equal(r.outcome, KERNEL_FAILED);
	assert_int_equal(r.ctx.exit_code, 127);

	run_init(&r, 107);
	run_json(&r, "exec", "{\"argv\":[\"/\"]}");
	assert_int_equal(r.outcome, KERNEL_FAILED);
	assert_int_equal(r.ctx.exit_code, 127);
	assert_string_equal(r.ctx.reason, "spawn: Permission denied");
}

static void
test_exec_signal(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, 108);
	run_json(&r, "exec", "{\"argv\":[\"sh\",\"-c\",\"kill -9 $$\"]}");
	assert_int_equal(r.outcome, KERNEL_FAILED);
	assert_int_equal(r.ctx.exit_code, 128 + SIGKILL);
	assert_int_equal(r.ctx.term_signal, SIGKILL);
	assert_string_equal(r.ctx.reason, "signal 9");
	assert_string_equal(result_str(&r), "{\"exit_code\":137,\"signal\":9}");
}

/* A deadline stops the whole group: the shell and its background child. */
static void
test_exec_timeout_group(void **state)
{
	struct run r;
	char json[PATH_MAX + 256], pids[PATH_MAX + 16];
	pid_t sh, bg;

	(void)state;
	snprintf(pids, sizeof pids, "%s/pids-timeout", log_dir);
	snprintf(json, sizeof json,
		 "{\"argv\":[\"sh\",\"-c\","
		 "\"echo $$ > \\\"$1\\\"; sleep 30 & echo $! >> \\\"$1\\\"; "
		 "sleep 30\",\"sh\",\"%s\"]}", pids);
	run_init(&r, 110);
	r.ctx.deadline_ns = sys_now_ns() + 300 * MS;
	run_json(&r, "exec", json);
	assert_int_equal(r.outcome, KERNEL_TIMEOUT);
	assert_string_equal(r.ctx.reason, "timeout");
	assert_true(r.wall_ns >= 290 * MS);
	assert_true(r.wall_ns < 2000 * MS);
	assert_int_equal(r.ctx.term_signal, SIGTERM);
	assert_int_equal(r.ctx.exit_code, 128 + SIGTERM);
	assert_true(r.beats >= 2);
	read_pids(pids, &sh, &bg);
	assert_int_equal(kill(sh, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_true(group_gone(sh));
	assert_int_equal(kill(bg, 0), -1);
	assert_int_equal(errno, ESRCH);
}

/* A command that ignores SIGTERM gets SIGKILL after the grace. */
static void
test_exec_timeout_kill(void **state)
{
	struct run r;
	char json[PATH_MAX + 256], pids[PATH_MAX + 16];
	pid_t sh, bg;

	(void)state;
	snprintf(pids, sizeof pids, "%s/pids-kill", log_dir);
	snprintf(json, sizeof json,
		 "{\"argv\":[\"sh\",\"-c\",\"trap '' TERM; echo $$ > \\\"$1\\\"; sleep 30 & "
		 "echo $! >> \\\"$1\\\"; sleep 30\",\"sh\",\"%s\"]}", pids);
	run_init(&r, 111);
	r.ctx.deadline_ns = sys_now_ns() + 200 * MS;
	run_json(&r, "exec", json);
	assert_int_equal(r.outcome, KERNEL_TIMEOUT);
	assert_int_equal(r.ctx.term_signal, SIGKILL);
	assert_string_equal(result_str(&r), "{\"exit_code\":137,\"signal\":9}");
	assert_true(r.wall_ns >= 690 * MS);       /* deadline + grace */
	assert_true(r.wall_ns < 2000 * MS);
	read_pids(pids, &sh, &bg);
	assert_true(group_gone(sh));
	assert_int_equal(kill(bg, 0), -1);
}

static void
test_exec_cancel(void **state)
{
	struct run r;
	struct canceller c;
	pthread_t t;
	char json[PATH_MAX + 256], pids[PATH_MAX + 16];
	pid_t sh, bg;

	(void)state;
	snprintf(pids, sizeof pids, "%s/pids-cancel", log_dir);
	snprintf(json, sizeof json,
		 "{\"argv\":[\"sh\",\"-c\","
		 "\"echo $$ > \\\"$1\\\"; sleep 30 & echo $! >> \\\"$1\\\"; "
		 "sleep 30\",\"sh\",\"%s\"]}", pids);
	run_init(&r, 112);
	c.word = &r.cancel;
	c.after_ms = 200;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	run_json(&r, "exec", json);
	pthread_join(t, NULL);
	assert_int_equal(r.outcome, KERNEL_CANCELLED);
	assert_string_equal(r.ctx.reason, "cancelled");
	assert_true(r.wall_ns < 2000 * MS);
	read_pids(pids, &sh, &bg);
	assert_true(group_gone(sh));
	assert_int_equal(kill(bg, 0), -1);
}

/* Already past the deadline, or already cancelled: nothing is spawned. */
static void
test_exec_not_started(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, 113);
	r.ctx.deadline_ns = sys_now_ns() - 1;
	run_json(&r, "exec", "{\"argv\":[\"true\"]}");
	assert_int_equal(r.outcome, KERNEL_TIMEOUT);
	assert_int_equal(r.ctx.exit_code, -1);
	assert_false(log_exists(113, "out"));

	run_init(&r, 114);
	atomic_store_explicit(&r.cancel, 1, memory_order_relaxed);
	run_json(&r, "exec", "{\"argv\":[\"true\"]}");
	assert_int_equal(r.outcome, KERNEL_CANCELLED);
	assert_int_equal(r.ctx.exit_code, -1);
	assert_false(log_exists(114, "out"));
}

static void
test_exec_rusage_beats(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, 115);
	run_json(&r, "exec", "{\"argv\":[\"sh\",\"-c\","
			     "\"i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done\"]}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_true(r.ctx.user_us > 0);
	assert_true(r.ctx.maxrss_kb > 0);

	run_init(&r, 116);
	run_json(&r, "exec", "{\"argv\":[\"sleep\",\"0.35\"]}");
	assert_int_equal(r.outcome, KERNEL_DONE);
	assert_true(r.beats >= 3);
}

/*
 * The child gets fds 0-2 only, an empty signal mask and default dispositions.
 * glibc's posix_spawn leaves its own two internal signals (32, 33) ignored
 * when the parent handles them; they are not the command's, so only
 * signals 1-31 are checked.
 */
static void
test_exec_fds_signals(void **state)
{
	struct run r;
	char buf[256], *p;
	int leak = open("/dev/null", O_RDONLY);      /* deliberately not CLOEXEC */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigset_t block, oldmask;
	unsigned long long blk, sigign;

	(void)state;
	assert_true(leak >= 0);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaction(SIGPIPE, &ign, &old);
	pthread_sigmask(SIG_BLOCK, &block, &oldmask);
	run_init(&r, 117);
	/* ls lists the shell's fds, not its own */
	run_json(&r, "exec", "{\"argv\":[\"sh\",\"-c\","
			     "\"ls /proc/$$/fd; grep -E '^Sig(Blk|Ign)' /proc/self/status\"]}");
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGPIPE, &old, NULL);
	close(leak);
	assert_int_equal(r.outcome, KERNEL_DONE);
	read_log(117, "out", buf, sizeof buf);
	assert_memory_equal(buf, "0\n1\n2\nSigBlk:\t", 13);
	p = buf + 13;
	blk = strtoull(p, &p, 16);
	assert_int_equal(blk, 0);
	assert_memory_equal(p, "\nSigIgn:\t", 9);
	sigign = strtoull(p + 9, NULL, 16);
	if ((sigign & 0x7fffffffull) != 0)      /* bit n-1 is signal n */
		fail_msg("SigIgn %llx", sigign);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Every path through run() gives back every fd it opened. */
static void
test_exec_no_fd_leak(void **state)
{
	struct run r;
	int before = count_fds();

	(void)state;
	run_init(&r, 119);
	run_json(&r, "exec", "{\"argv\":[\"true\"]}");
	run_json(&r, "exec", "{\"argv\":[\"false\"]}");
	run_json(&r, "exec", "{\"argv\":[\"forq-no-such-command-xyz\"]}");
	r.ctx.deadline_ns = sys_now_ns() + 50 * MS;
	run_json(&r, "exec", "{\"argv\":[\"sleep\",\"5\"]}");
	assert_int_equal(r.outcome, KERNEL_TIMEOUT);
	expect_bad_blob("x", 1);
	assert_int_equal(count_fds(), before);
}

/* A worker that ignores SIGCHLD is refused rather than misreported. */
static void
test_exec_sigchld_ignored(void **state)
{
	struct run r;

	(void)state;
	signal(SIGCHLD, SIG_IGN);
	run_init(&r, 118);
	run_json(&r, "exec", "{\"argv\":[\"true\"]}");
	signal(SIGCHLD, SIG_DFL);
	assert_int_equal(r.outcome, KERNEL_FAILED);
	assert_string_equal(r.ctx.reason, "sigchld_ignored");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_noop_prepare),
		cmocka_unit_test(test_noop_run),
		cmocka_unit_test(test_sleep_prepare),
		cmocka_unit_test(test_sleep_run),
		cmocka_unit_test(test_sleep_timeout),
		cmocka_unit_test(test_sleep_cancel),
		cmocka_unit_test(test_spin_prepare),
		cmocka_unit_test(test_spin_run),
		cmocka_unit_test(test_spin_stop),
		cmocka_unit_test(test_exec_prepare_refusals),
		cmocka_unit_test(test_exec_prepare_too_large),
		cmocka_unit_test(test_exec_blob_layout),
		cmocka_unit_test(test_exec_bad_blob),
		cmocka_unit_test(test_exec_exit3),
		cmocka_unit_test(test_exec_true),
		cmocka_unit_test(test_exec_env_cwd),
		cmocka_unit_test(test_exec_enoent),
		cmocka_unit_test(test_exec_signal),
		cmocka_unit_test(test_exec_timeout_group),
		cmocka_unit_test(test_exec_timeout_kill),
		cmocka_unit_test(test_exec_cancel),
		cmocka_unit_test(test_exec_not_started),
		cmocka_unit_test(test_exec_rusage_beats),
		cmocka_unit_test(test_exec_fds_signals),
		cmocka_unit_test(test_exec_no_fd_leak),
		cmocka_unit_test(test_exec_sigchld_ignored),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
