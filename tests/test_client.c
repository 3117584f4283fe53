/*
 * test_client — libforq over real Unix sockets, against a scripted fake
 * forqd: a thread that accepts one connection, reads request lines and
 * answers each with canned bytes (success, ERROR, malformed, huge, split
 * into tiny writes, or nothing: closing early).
 *
 * cmocka is not thread-safe: the fake server only records what it read and
 * any failure; the main thread checks everything after pthread_join.  The
 * script is written before pthread_create and the record read after
 * pthread_join, which order the two threads' accesses.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"

#define ROUNDS_MAX 4

/* One scripted connection of the fake forqd. */
struct fake {
	/* script, set by the main thread before the start */
	bool close_first;                  /* accept, then close without reading */
	int rounds;                        /* read a line, write replies[i], for each i */
	const char *replies[ROUNDS_MAX];   /* bytes to write after request line i */
	size_t lens[ROUNDS_MAX];           /* their lengths (0 = strlen) */
	size_t chunk;                      /* write in pieces of this size (0 = whole) */
	/* record, read by the main thread after the join */
	char *req;                         /* every byte read, NUL-terminated */
	size_t req_len;                    /* bytes read */
	int lines;                         /* request lines read */
	int err;                           /* errno of an unexpected failure, or 0 */
	bool peer_gone;                    /* a write failed because the client left */
	/* private */
	pthread_t th;
};

static char dir[40];                       /* the temporary directory */
static char sock_path[96];                 /* the fake's socket in it */
static int lfd = -1;                       /* the listening socket */

static void
rec_add(struct fake *f, const char *p, size_t n)
{
	char *q = realloc(f->req, f->req_len + n + 1);

	if (!q) {
		f->err = ENOMEM;
		return;
	}
	memcpy(q + f->req_len, p, n);
	f->req = q;
	f->req_len += n;
	q[f->req_len] = '\0';
}

/* Read until one more '\n'; false on EOF or error. */
static bool
read_line(struct fake *f, int fd)
{
	char buf[65536];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		rec_add(f, buf, (size_t)n);
		if (memchr(buf, '\n', (size_t)n)) {
			f->lines++;
			return true;
		}
	}
}

static void
write_all(struct fake *f, int fd, const char *p, size_t n)
{
	size_t step = f->chunk ? f->chunk : n;

	while (n > 0) {
		ssize_t w = send(fd, p, n < step ? n : step, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno == EPIPE || errno == ECONNRESET)
				f->peer_gone = true;
			else
				f->err = errno;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		f->err = errno;
		return NULL;
	}
	if (f->close_first)
		goto out_close;
	for (int i = 0; i < f->rounds; i++) {
		if (!read_line(f, fd))
			break;
		if (f->replies[i])
			write_all(f, fd, f->replies[i],
				  f->lens[i] ? f->lens[i] : strlen(f->replies[i]));
	}
out_close:
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f)
{
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void
fake_join(struct fake *f)
{
	assert_int_equal(pthread_join(f->th, NULL), 0);
	assert_int_equal(f->err, 0);
}

static void
fake_free(struct fake *f)
{
	free(f->req);
}

static struct forq_client *
connect_ok(void)
{
	struct forq_client *c = NULL;

	assert_int_equal(forq_client_connect(sock_path, &c), 0);
	assert_non_null(c);
	return c;
}

static int
group_setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/forq-test-client.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/forq.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	close(lfd);
	unlink(sock_path);
	rmdir(dir);
	return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void
test_success(void **state)
{
	struct fake f = {
		.rounds = 1,
		.replies = {
			"{\"type\":\"STATS_OK\",\"data\":{\"workers\":4,\"sync\":\"fsync\"}}\n",
		},
	};
	struct forq_client *c;
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	char msg[128] = "junk";

	(void)state;
	cJSON_AddNumberToObject(req, "x", 1);
	fake_start(&f);
	c = connect_ok();
	assert_int_equal(forq_client_call(c, "STATS", req, &reply, msg, sizeof(msg)), FORQ_OK);
	assert_string_equal(msg, "");
	forq_client_close(c);
	fake_join(&f);

	assert_non_null(reply);
	assert_true(cJSON_IsObject(reply));
	assert_int_equal(cJSON_GetObjectItem(reply, "workers")->valueint, 4);
	assert_string_equal(cJSON_GetObjectItem(reply, "sync")->valuestring, "fsync");
	assert_string_equal(f.req, "{\"type\":\"STATS\",\"data\":{\"x\":1}}\n");
	cJSON_Delete(reply);
	fake_free(&f);
}

/* A reply without "data" gives {}; a NULL request data sends {}. */
static void
test_success_no_data(void **state)
{
	struct fake f = { .rounds = 1, .replies = { "{\"type\":\"SHUTDOWN_OK\"}\r\n" } };
	struct forq_client *c;
	cJSON *reply = NULL;

	(void)state;
	fake_start(&f);
	c = connect_ok();
	assert_int_equal(forq_client_call(c, "SHUTDOWN", NULL, &reply, NULL, 0), FORQ_OK);
	forq_client_close(c);
	fake_join(&f);
	assert_true(cJSON_IsObject(reply));
	assert_null(reply->child);
	assert_string_equal(f.req, "{\"type\":\"SHUTDOWN\",\"data\":{}}\n");
	cJSON_Delete(reply);
	fake_free(&f);
}

/* ERROR replies come back as their code; the connection stays usable. */
static void
test_error(void **state)
{
	struct fake f = {
		.rounds = 4,
		.replies = {
			"{\"type\":\"ERROR\",\"data\":{\"code\":\"NOT_FOUND\","
			"\"message\":\"no task 42\"}}\n",
			"{\"type\":\"ERROR\",\"data\":{\"code\":\"BAD_PRIORITY\"}}\n",
			"{\"type\":\"ERROR\",\"data\":{\"code\":\"FROBNICATED\","
			"\"message\":\"new\"}}\n",
			"{\"type\":\"TASK_STATUS_OK\",\"data\":{\"id\":42}}\n",
		},
	};
	struct forq_client *c;
	cJSON *reply = (cJSON *)1;
	char msg[128], small[8];
	int rc[4];

	(void)state;
	fake_start(&f);
	c = connect_ok();
	rc[0] = forq_client_call(c, "TASK_STATUS", NULL, &reply, msg, sizeof(msg));
	assert_int_equal(rc[0], FORQ_ENOTFOUND);
	assert_null(reply);
	assert_string_equal(msg, "no task 42");
	rc[1] = forq_client_call(c, "TASK_SUBMIT", NULL, &reply, small, sizeof(small));
	assert_int_equal(rc[1], FORQ_EPRIORITY);
	/* no message: the table's, truncated to the buffer */
	assert_string_equal(small, "priorit");
	rc[2] = forq_client_call(c, "TASK_STATUS", NULL, &reply, msg, sizeof(msg));
	assert_int_equal(rc[2], FORQ_EINTERNAL);
	assert_string_equal(msg, "new [unknown code FROBNICATED]");
	rc[3] = forq_client_call(c, "TASK_STATUS", NULL, &reply, msg, sizeof(msg));
	assert_int_equal(rc[3], FORQ_OK);
	forq_client_close(c);
	fake_join(&f);
	assert_int_equal(f.lines, 4);
	assert_int_equal(cJSON_GetObjectItem(reply, "id")->valueint, 42);
	cJSON_Delete(reply);
	fake_free(&f);
}

/* Every malformed reply is FORQ_EPROTO, and leaves the client broken. */
static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"not json\n",
		"\n",
		"[1,2]\n",
		"\"STATS_OK\"\n",
		"{\"type\":\"STATS_OK\",\"data\":[1]}\n",
		"{\"type\":\"STATS_OK\",\"data\":\"x\"}\n",
		"{\"type\":\"TASK_LIST_OK\",\"data\":{}}\n",
		"{\"type\":\"STATS\",\"data\":{}}\n",
		"{\"type\":\"_OK\",\"data\":{}}\n",
		"{\"type\":7,\"data\":{}}\n",
		"{\"data\":{}}\n",
		"{\"type\":\"ERROR\"}\n",
		"{\"type\":\"ERROR\",\"data\":{}}\n",
		"{\"type\":\"ERROR\",\"data\":{\"code\":3}}\n",
		"{\"type\":\"ERROR\",\"data\":{\"code\":\"OK\"}}\n",
		"{\"type\":\"STATS_OK\",\"data\":{}} trailing\n",
		"{\"type\":\"STATS_OK\",\"data\":{}\n",
	};
	int rc[sizeof(bad) / sizeof(bad[0])], again[sizeof(bad) / sizeof(bad[0])];
	char msg[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake f = { .rounds = 1, .replies = { bad[i] } };
		struct forq_client *c;
		cJSON *reply = (cJSON *)1;

		fake_start(&f);
		c = connect_ok();
		rc[i] = forq_client_call(c, "STATS", NULL, &reply, msg, sizeof(msg));
		assert_null(reply);
		again[i] = forq_client_call(c, "STATS", NULL, NULL, NULL, 0);
		forq_client_close(c);
		fake_join(&f);
		fake_free(&f);
		if (rc[i] != FORQ_EPROTO)
			fail_msg("reply %zu (%s) gave %d, not FORQ_EPROTO", i, bad[i], rc[i]);
		assert_int_equal(again[i], FORQ_ECONNECT);
		assert_true(msg[0] != '\0');
	}
}

/* A reply of several MiB, arriving in odd-sized pieces. */
static void
test_huge_reply(void **state)
{
	const size_t big = 3u << 20;
	static const char head[] = "{\"type\":\"TASK_LOG_OK\",\"data\":{\"data\":\"";
	static const char tail[] = "\",\"truncated\":false}}\n";
	size_t n = strlen(head) + big + strlen(tail);
	char *text = malloc(n + 1), msg[128];
	struct fake f = { .rounds = 1, .chunk = 4099 };
	struct forq_client *c;
	cJSON *reply = NULL, *d;
	size_t bad_at = SIZE_MAX;

	(void)state;
	assert_non_null(text);
	memcpy(text, head, strlen(head));
	for (size_t i = 0; i < big; i++)
		text[strlen(head) + i] = (char)('a' + i % 26);
	memcpy(text + strlen(head) + big, tail, strlen(tail) + 1);
	f.replies[0] = text;
	f.lens[0] = n;
	fake_start(&f);
	c = connect_ok();
	assert_int_equal(forq_client_call(c, "TASK_LOG", NULL, &reply, msg, sizeof(msg)), FORQ_OK);
	forq_client_close(c);
	fake_join(&f);
	d = cJSON_GetObjectItem(reply, "data");
	assert_true(cJSON_IsString(d));
	assert_int_equal(strlen(d->valuestring), big);
	for (size_t i = 0; i < big && bad_at == SIZE_MAX; i++)
		if (d->valuestring[i] != (char)('a' + i % 26))
			bad_at = i;
	assert_int_equal(bad_at, SIZE_MAX);
	cJSON_Delete(reply);
	free(text);
	fake_free(&f);
}

/* A reply longer than the client's maximum is refused, not buffered. */
static void
test_reply_too_large(void **state)
{
	const size_t n = 2u << 20;
	char *text = malloc(n), msg[128];
	struct fake f = { .rounds = 1 };
	struct forq_client *c;
	cJSON *reply = (cJSON *)1;
	int rc;

	(void)state;
	assert_non_null(text);
	memset(text, ' ', n);
	text[0] = '{';
	memcpy(text + n - 2, "}\n", 2);
	f.replies[0] = text;
	f.lens[0] = n;
	fake_start(&f);
	c = connect_ok();
	forq_client_set_max_reply(c, 1u << 20);
	rc = forq_client_call(c, "STATS", NULL, &reply, msg, sizeof(msg));
	forq_client_close(c);     /* unblocks the fake's write */
	fake_join(&f);
	assert_int_equal(rc, FORQ_EPROTO);
	assert_null(reply);
	assert_non_null(strstr(msg, "longer than"));
	free(text);
	fake_free(&f);
}

/* A reply exactly at the maximum is accepted. */
static void
test_reply_at_max(void **state)
{
	static const char r[] = "{\"type\":\"STATS_OK\"}\n";
	struct fake f = { .rounds = 1, .replies = { r } };
	struct forq_client *c;
	int rc;

	(void)state;
	fake_start(&f);
	c = connect_ok();
	forq_client_set_max_reply(c, strlen(r) - 1);
	rc = forq_client_call(c, "STATS", NULL, NULL, NULL, 0);
	forq_client_close(c);
	fake_join(&f);
	assert_int_equal(rc, FORQ_OK);
	fake_free(&f);
}

/* A server that closes before, instead of, or in the middle of a reply. */
static void
test_close_early(void **state)
{
	struct fake before = { .close_first = true };
	struct fake noreply = { .rounds = 1 };
	struct fake half = { .rounds = 1, .replies = { "{\"type\":\"STATS_OK\",\"da" } };
	struct fake *fs[] = { &before, &noreply, &half };
	int rc[3], again[3];
	char msg[3][128];

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct forq_client *c;
		cJSON *reply = (cJSON *)1;

		fake_start(fs[i]);
		c = connect_ok();
		rc[i] = forq_client_call(c, "STATS", NULL, &reply, msg[i], sizeof(msg[i]));
		assert_null(reply);
		again[i] = forq_client_call(c, "STATS", NULL, NULL, NULL, 0);
		forq_client_close(c);
		fake_join(fs[i]);
		fake_free(fs[i]);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rc[i], FORQ_ECONNECT);
		assert_int_equal(again[i], FORQ_ECONNECT);
	}
	assert_non_null(strstr(msg[1], "without replying"));
	assert_non_null(strstr(msg[2], "middle of a reply"));
}

static void
test_connect_errors(void **state)
{
	char path[96], longp[200];
	struct forq_client *c = (struct forq_client *)1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	FILE *fp;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/nothing.sock", dir);
	assert_int_equal(forq_client_connect(path, &c), -ENOENT);
	assert_ptr_equal(c, (struct forq_client *)1);    /* untouched */

	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(forq_client_connect(longp, &c), -ENAMETOOLONG);
	assert_int_equal(forq_client_connect("", &c), -ENOENT);

	/* a regular file, and a socket nobody listens on any more */
	snprintf(path, sizeof(path), "%s/file", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(forq_client_connect(path, &c), -ECONNREFUSED);
	unlink(path);
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(forq_client_connect(path, &c), -ECONNREFUSED);
	unlink(path);
}

/* Raw requests go out byte for byte with one newline added. */
static void
test_raw(void **state)
{
	static const char line[] =
		"{\"type\":\"TASK_SUBMIT\",\"data\":{\"tasks\":"
		"[{\"kernel\":\"noop\"},{\"argv\":[\"echo\"]}]}}";
	struct fake f = {
		.rounds = 2,
		.replies = {
			"{\"type\":\"TASK_SUBMIT_OK\",\"data\":"
			"{\"first\":7,\"last\":8,\"count\":2}}\n",
			"{\"type\":\"WHATEVER_OK\",\"data\":{}}\n",
		},
	};
	struct forq_client *c;
	cJSON *reply = NULL;
	char msg[128];
	int rc[3];

	(void)state;
	fake_start(&f);
	c = connect_ok();
	rc[0] = forq_client_call_raw(c, "TASK_SUBMIT", line, strlen(line), &reply, msg,
				     sizeof(msg));
	/* a raw newline inside is refused before anything is sent */
	rc[1] = forq_client_call_raw(c, NULL, "{}\n{}", 5, NULL, msg, sizeof(msg));
	rc[2] = forq_client_call_raw(c, NULL, "{\"type\":\"WHATEVER\"}", 19, NULL, NULL, 0);
	forq_client_close(c);
	fake_join(&f);
	assert_int_equal(rc[0], FORQ_OK);
	assert_int_equal(rc[1], FORQ_EINTERNAL);
	assert_int_equal(rc[2], FORQ_OK);
	assert_int_equal(cJSON_GetObjectItem(reply, "first")->valueint, 7);
	assert_int_equal(cJSON_GetObjectItem(reply, "count")->valueint, 2);
	assert_int_equal(f.lines, 2);
	assert_int_equal(f.req_len, strlen(line) + 1 + 19 + 1);
	assert_memory_equal(f.req, line, strlen(line));
	assert_memory_equal(f.req + strlen(line), "\n{\"type\":\"WHATEVER\"}\n", 21);
	cJSON_Delete(reply);
	fake_free(&f);
}

/* A request of several MiB is written whole (partial writes resumed). */
static void
test_big_request(void **state)
{
	const size_t n = 5u << 20;
	char *line = malloc(n);
	struct fake f = { .rounds = 1, .replies = { "{\"type\":\"TASK_SUBMIT_OK\"}\n" } };
	struct forq_client *c;
	int rc;

	(void)state;
	assert_non_null(line);
	memset(line, ' ', n);
	line[0] = '{';
	line[n - 1] = '}';
	fake_start(&f);
	c = connect_ok();
	rc = forq_client_call_raw(c, "TASK_SUBMIT", line, n, NULL, NULL, 0);
	forq_client_close(c);
	fake_join(&f);
	assert_int_equal(rc, FORQ_OK);
	assert_int_equal(f.req_len, n + 1);
	assert_memory_equal(f.req, line, n);
	assert_int_equal(f.req[n], '\n');
	free(line);
	fake_free(&f);
}

/* Two replies in one write, and a reply one byte per write. */
static void
test_framing(void **state)
{
	struct fake f = {
		.rounds = 2,
		.replies = {
			"{\"type\":\"STATS_OK\",\"data\":{\"n\":1}}\n"
			"{\"type\":\"STATS_OK\",\"data\":{\"n\":2}}\n",
			NULL,
		},
	};
	struct fake g = {
		.rounds = 1,
		.chunk = 1,
		.replies = { "{\"type\":\"STATS_OK\",\"data\":{\"n\":3}}\n" },
	};
	struct forq_client *c;
	cJSON *r1 = NULL, *r2 = NULL, *r3 = NULL;
	int rc[3];

	(void)state;
	fake_start(&f);
	c = connect_ok();
	rc[0] = forq_client_call(c, "STATS", NULL, &r1, NULL, 0);
	rc[1] = forq_client_call(c, "STATS", NULL, &r2, NULL, 0);
	forq_client_close(c);
	fake_join(&f);
	fake_start(&g);
	c = connect_ok();
	rc[2] = forq_client_call(c, "STATS", NULL, &r3, NULL, 0);
	forq_client_close(c);
	fake_join(&g);
	assert_int_equal(rc[0], FORQ_OK);
	assert_int_equal(rc[1], FORQ_OK);
	assert_int_equal(rc[2], FORQ_OK);
	assert_int_equal(cJSON_GetObjectItem(r1, "n")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(r2, "n")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(r3, "n")->valueint, 3);
	assert_int_equal(f.lines, 2);
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	cJSON_Delete(r3);
	fake_free(&f);
	fake_free(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_success_no_data),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_huge_reply),
		cmocka_unit_test(test_reply_too_large),
		cmocka_unit_test(test_reply_at_max),
		cmocka_unit_test(test_close_early),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_big_request),
		cmocka_unit_test(test_framing),
	};

	/* a hung call fails the test run instead of hanging it */
	alarm(120);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
