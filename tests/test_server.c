/*
 * test_server — the daemon's front door, through a real forqd and raw
 * sockets: every kind of bad input gets an ERROR with its stable code, the
 * daemon keeps serving (this client and others), and nothing is stored.
 * Also: pipelined requests are answered in order, a client that vanishes
 * mid-message leaves nothing behind, and a peer of another uid is refused.
 * (Issue 2, test 9.)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

static char dir[64], sock_path[100];
static pid_t daemon_pid;

static int
connect_sock(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = { 10, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Read one reply line; returns the parsed object (caller frees). */
static cJSON *
read_reply(int fd)
{
	static char buf[1 << 20];
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, 1, 0);

		assert_true(n == 1);
		if (buf[len] == '\n')
			break;
		len++;
		assert_true(len < sizeof(buf) - 1);
	}
	cJSON *j = cJSON_ParseWithLength(buf, len);
	assert_non_null(j);
	return j;
}

/* Send @line (newline added) on @fd and check the reply's type / code. */
static void
expect(int fd, const char *line, const char *type, const char *code)
{
	cJSON *r, *t, *c;

	send_all(fd, line, strlen(line));
	send_all(fd, "\n", 1);
	r = read_reply(fd);
	t = cJSON_GetObjectItem(r, "type");
	assert_true(cJSON_IsString(t));
	if (strcmp(t->valuestring, type) != 0)
		fail_msg("request %.80s: got %s, want %s", line, t->valuestring, type);
	if (code) {
		c = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "data"), "code");
		assert_true(cJSON_IsString(c));
		if (strcmp(c->valuestring, code) != 0)
			fail_msg("request %.80s: code %s, want %s", line, c->valuestring, code);
		assert_true(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "data"), "message")));
	}
	cJSON_Delete(r);
}

static double
stats_submitted(void)
{
	int fd = connect_sock();
	cJSON *r;
	double v;

	assert_true(fd >= 0);
	send_all(fd, "{\"type\":\"STATS\"}\n", 17);
	r = read_reply(fd);
	v = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "data"), "submitted")->valuedouble;
	cJSON_Delete(r);
	close(fd);
	return v;
}

static int
setup(void **state)
{
	char exe[PATH_MAX], forqd[PATH_MAX + 16], st[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0'; /* build/tests */
	*strrchr(exe, '/') = '\0'; /* build */
	snprintf(forqd, sizeof(forqd), "%s/forqd", exe);
	snprintf(dir, sizeof(dir), "/tmp/forq-test-server.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/s/sock", dir);
	snprintf(st, sizeof(st), "%s/state", dir);
	daemon_pid = fork();
	assert_true(daemon_pid >= 0);
	if (daemon_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		execl(forqd, "forqd", "--state", st, "--socket", sock_path, "--workers", "1",
		      "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		int fd = connect_sock();

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(25000);
	}
	fail_msg("forqd did not start");
	return -1;
}

static int
teardown(void **state)
{
	int status;
	char cmd[PATH_MAX + 32];

	(void)state;
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &status, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return -1;
	/* a clean stop: exit status 0 after SIGTERM */
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void
test_bad_input(void **state)
{
	int fd = connect_sock();
	static const unsigned char garbage[] = { 0x00, 0xff, 0xfe, 0x7b, 0x00, 0x22, 0x80, 0x81, 0xc3 };

	(void)state;
	assert_true(fd >= 0);
	expect(fd, "this is not json", "ERROR", "BAD_JSON");
	expect(fd, "[1,2,3]", "ERROR", "BAD_REQUEST");
	expect(fd, "\"a string\"", "ERROR", "BAD_REQUEST");
	expect(fd, "{\"data\":{}}", "ERROR", "BAD_REQUEST");
	expect(fd, "{\"type\":\"TASK_STATUS\",\"data\":[1]}", "ERROR", "BAD_REQUEST");
	expect(fd, "{\"type\":\"NO_SUCH_TYPE\",\"data\":{}}", "ERROR", "UNKNOWN_TYPE");
	expect(fd, "{\"type\":\"TASK_STATUS\",\"data\":{}}", "ERROR", "MISSING_FIELD");
	expect(fd, "{\"type\":\"TASK_STATUS\",\"data\":{\"id\":\"x\"}}", "ERROR", "BAD_FIELD");
	expect(fd, "{\"type\":\"TASK_STATUS\",\"data\":{\"id\":999999}}", "ERROR", "NOT_FOUND");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{}}", "ERROR", "MISSING_FIELD");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\",\"priority\":12}}", "ERROR", "BAD_PRIORITY");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\",\"timeout\":-1}}", "ERROR", "BAD_TIMEOUT");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\",\"timeout\":\"-5s\"}}", "ERROR", "BAD_TIMEOUT");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"no_such_kernel\"}}", "ERROR", "UNKNOWN_KERNEL");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"argv\":[]}}", "ERROR", "EMPTY_COMMAND");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"argv\":[\"\"]}}", "ERROR", "EMPTY_COMMAND");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"spin\",\"args\":{}}}", "ERROR", "BAD_ARGS");
	expect(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"tasks\":[{\"kernel\":\"noop\"},{\"kernel\":\"noop\",\"priority\":12}]}}",
	       "ERROR", "BAD_PRIORITY");
	send_all(fd, garbage, sizeof(garbage));
	send_all(fd, "\n", 1);
	{
		cJSON *r = read_reply(fd);

		assert_string_equal(cJSON_GetObjectItem(r, "type")->valuestring, "ERROR");
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "data"), "code")->valuestring,
				    "BAD_JSON");
		cJSON_Delete(r);
	}
	/* The connection still serves. */
	expect(fd, "{\"type\":\"STATS\"}", "STATS_OK", NULL);
	close(fd);
	/* Nothing of the refused batches was stored. */
	assert_true(stats_submitted() == 0);
}

static void
test_too_large(void **state)
{
	size_t big = 20u << 20;
	char *line = malloc(big);
	int fd = connect_sock(), other;

	(void)state;
	assert_non_null(line);
	assert_true(fd >= 0);
	/* A 20 MiB line: {"type":"TASK_SUBMIT","data":{"name":"xxxx...."}} */
	memset(line, 'x', big);
	memcpy(line, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\",\"name\":\"", 55);
	memcpy(line + big - 4, "\"}}\n", 4);
	/* Another client is served while the big line streams in. */
	other = connect_sock();
	assert_true(other >= 0);
	send_all(fd, line, big / 2);
	expect(other, "{\"type\":\"STATS\"}", "STATS_OK", NULL);
	send_all(fd, line + big / 2, big - big / 2);
	{
		cJSON *r = read_reply(fd);

		assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "data"), "code")->valuestring,
				    "TOO_LARGE");
		cJSON_Delete(r);
	}
	/* The same connection keeps working after the discarded line. */
	expect(fd, "{\"type\":\"STATS\"}", "STATS_OK", NULL);
	close(fd);
	close(other);
	free(line);
	assert_true(stats_submitted() == 0);
}

static void
test_disconnect_mid_message(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		int fd = connect_sock();

		assert_true(fd >= 0);
		send_all(fd, "{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"no", 42);
		close(fd);
	}
	/* A submission cut before its newline is never applied. */
	assert_true(stats_submitted() == 0);
}

static void
test_pipelined(void **state)
{
	int fd = connect_sock();
	const char *reqs =
		"{\"type\":\"TASK_SUBMIT\",\"data\":{\"kernel\":\"noop\"}}\n"
		"{\"type\":\"TASK_WAIT\",\"data\":{\"ids\":[1],\"timeout\":5}}\n"
		"{\"type\":\"TASK_STATUS\",\"data\":{\"id\":1}}\n"
		"not json\n"
		"{\"type\":\"STATS\"}\n";
	static const char *const want[] = {
		"TASK_SUBMIT_OK", "TASK_WAIT_OK", "TASK_STATUS_OK", "ERROR", "STATS_OK",
	};

	(void)state;
	assert_true(fd >= 0);
	send_all(fd, reqs, strlen(reqs));
	for (unsigned i = 0; i < 5; i++) {
		cJSON *r = read_reply(fd);

		assert_string_equal(cJSON_GetObjectItem(r, "type")->valuestring, want[i]);
		if (i == 2)
			assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "data"), "state")->valuestring,
					    "DONE");
		cJSON_Delete(r);
	}
	close(fd);
}

static void
test_other_uid_refused(void **state)
{
	char sdir[80];
	pid_t pid;
	int status;

	(void)state;
	if (getuid() != 0)
		skip();
	snprintf(sdir, sizeof(sdir), "%s/s", dir);
	/* Open the file-system gates so that only SO_PEERCRED stands. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(sdir, 0755), 0);
	assert_int_equal(chmod(sock_path, 0777), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[512] = "";
		int fd;
		ssize_t n;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		fd = connect_sock();
		if (fd < 0)
			_exit(11);
		/* no cmocka calls in the child: it only reports by exit code;
		 * the send may fail: forqd answers and closes at once */
		n = send(fd, "{\"type\":\"STATS\"}\n", 17, MSG_NOSIGNAL);
		(void)n;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		_exit(n > 0 && strstr(buf, "PERMISSION") ? 0 : 12);
	}
	waitpid(pid, &status, 0);
	chmod(sock_path, 0600);
	chmod(sdir, 0700);
	chmod(dir, 0700);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_disconnect_mid_message),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_other_uid_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
