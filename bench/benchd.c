/*
 * benchd — a benchmark's own forqd, and its client side (see benchd.h).
 *
 * The daemon's life: benchd_start() makes the directory and forks forqd
 * (the child sets up in a fixed order: die with the parent, /dev/null on
 * stdin and stdout, the log on stderr, exec); benchd_connect() polls for
 * the socket every 5 ms, reaping forqd if it exits first; benchd_stop()
 * asks it to shut down and reaps it (benchd_wait_all() before it lets the
 * tasks finish); benchd_cleanup() kills whatever is left, workers
 * included, and removes the directory.  Timing uses
 * CLOCK_MONOTONIC (sys_now_ns()), so a clock step cannot end a wait early.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchd.h"
#include "sys.h"

const char *benchd_prog = "bench";

void
benchd_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

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

void
benchd_rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
benchd_show_log(const struct benchd *d)
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
		fprintf(stderr, "%s: forqd's log ends:\n%s", benchd_prog, buf);
}

int
benchd_start(struct benchd *d, const char *forqd, const char *const *extra)
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
		fprintf(stderr, "%s: exec %s: %s\n", benchd_prog, forqd, strerror(errno));
		_exit(127);
	}
	d->pid = pid;
	return 0;

out_rmdir:
	rmdir(d->dir);
	d->dir[0] = '\0';
	return rc;
}

int
benchd_connect(struct benchd *d, struct forq_client **out)
{
	uint64_t deadline = sys_now_ns() + (uint64_t)BENCHD_START_MS * 1000000u;
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
		if (sys_now_ns() > deadline)
			return -ETIMEDOUT;
		benchd_sleep_ms(5);
	}
}

/*
 * kill_workers - SIGKILL the workers of our forqd that outlived it.  They
 * are found by their command line, which names our private state directory.
 */
static void
kill_workers(const struct benchd *d)
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
			if (strcmp(buf + i, "--state") == 0 && strcmp(buf + i + 8, d->state) == 0) {
				kill((pid_t)atoi(e->d_name), SIGKILL);
				break;
			}
		}
	}
out:
	if (proc)
		closedir(proc);
}

void
benchd_cleanup(struct benchd *d)
{
	if (d->pid) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
		kill_workers(d);
	}
	if (d->dir[0])
		benchd_rm_tree(d->dir);
	d->dir[0] = '\0';
}

int
benchd_up(struct benchd *d, const char *forqd, const char *const *extra, struct forq_client **c)
{
	int rc = benchd_start(d, forqd, extra);

	if (rc) {
		fprintf(stderr, "%s: starting %s: %s\n", benchd_prog, forqd, strerror(-rc));
		return -EIO;
	}
	rc = benchd_connect(d, c);
	if (rc) {
		fprintf(stderr, "%s: connecting to forqd at %s: %s\n", benchd_prog, d->sock,
			rc == -ECHILD ? "forqd exited" : strerror(-rc));
		benchd_show_log(d);
		benchd_cleanup(d);
		return -EIO;
	}
	return 0;
}

int
benchd_stop(struct benchd *d, struct forq_client *c)
{
	char msg[256];
	uint64_t deadline;
	int status = 0;
	pid_t r;

	if (!d->pid)
		return -EIO;
	if (!c || forq_client_call(c, "SHUTDOWN", NULL, NULL, msg, sizeof(msg)) != 0)
		kill(d->pid, SIGTERM);
	deadline = sys_now_ns() + (uint64_t)BENCHD_STOP_MS * 1000000u;
	while ((r = waitpid(d->pid, &status, WNOHANG)) == 0) {
		if (sys_now_ns() > deadline) {
			fprintf(stderr, "%s: forqd %d did not exit; killing it\n", benchd_prog,
				(int)d->pid);
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
			d->pid = 0;
			return -EIO;
		}
		benchd_sleep_ms(5);
	}
	d->pid = 0;
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: forqd exited abnormally (status 0x%x)\n", benchd_prog, status);
		return -EIO;
	}
	return 0;
}

/* default_forqd - dirname(/proc/self/exe)/../forqd, resolved into @buf. */
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
benchd_find_forqd(const char *given, char buf[PATH_MAX], const char **out)
{
	if (!given) {
		if (default_forqd(buf) != 0) {
			fprintf(stderr, "%s: cannot locate forqd; use --forqd PATH\n", benchd_prog);
			return -1;
		}
		given = buf;
	}
	if (access(given, X_OK) != 0) {
		fprintf(stderr, "%s: %s: %s\n", benchd_prog, given, strerror(errno));
		return -1;
	}
	*out = given;
	return 0;
}

bool
benchd_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
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

int
benchd_call(struct forq_client *c, const char *type, const char *line, cJSON **reply, bool quiet)
{
	char msg[512];
	cJSON *r = NULL;
	int e = forq_client_call_raw(c, type, line, strlen(line), &r, msg, sizeof(msg));

	if (e && !quiet)
		fprintf(stderr, "%s: %s: %s (%s)\n", benchd_prog, type, msg, forq_err_code(e));
	if (reply)
		*reply = r;
	else
		cJSON_Delete(r);
	return e;
}

double
benchd_num(const cJSON *o, const char *name, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int
benchd_wait_all(struct forq_client *c)
{
	static const char line[] = "{\"type\":\"TASK_WAIT\",\"data\":{\"all\":true,\"timeout\":1}}";
	double last = -1;
	int stalled = 0;

	for (;;) {
		cJSON *reply = NULL;
		bool complete;
		double fin;

		if (benchd_call(c, "TASK_WAIT", line, &reply, false))
			return -EIO;
		complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "complete"));
		fin = benchd_num(reply, "finished", 0);
		cJSON_Delete(reply);
		if (complete)
			return 0;
		/* "finished" only grows: no growth means no task ended this round */
		stalled = fin > last ? 0 : stalled + 1;
		last = fin;
		if (stalled >= BENCHD_STALL_ROUNDS) {
			fprintf(stderr, "%s: no task finished in %d waits; giving up\n",
				benchd_prog, stalled);
			return -EIO;
		}
	}
}

int
benchd_stats_num(struct forq_client *c, const char *name, double *out)
{
	static const char line[] = "{\"type\":\"STATS\",\"data\":{}}";
	cJSON *r = NULL;
	const char *dot = strchr(name, '.');
	int e = benchd_call(c, "STATS", line, &r, false);

	if (e)
		return -EIO;
	if (dot) {
		char head[32];

		snprintf(head, sizeof(head), "%.*s", (int)(dot - name), name);
		*out = benchd_num(cJSON_GetObjectItemCaseSensitive(r, head), dot + 1, 0);
	} else {
		*out = benchd_num(r, name, 0);
	}
	cJSON_Delete(r);
	return 0;
}
