/*
 * test_proto — the wire protocol's server half: the request envelope
 * (every refusal with its stable code, every known type), submit
 * validation (defaults, every bad field with its code, batches that are
 * all or nothing and name the bad index, with nothing leaked: ASan runs
 * this too), keys, dependencies (in-batch keys, cycles), arrays and retry
 * delays, TASK_CANCEL's ids and state filters, the id and duration
 * helpers, and replies that are one line which parses back to the right
 * type and code.
 *
 * Request lines are copied into buffers of exactly their length, so a
 * parser that reads past @len is caught by ASan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "proto.h"
#include "task.h"

/* ---- helpers --------------------------------------------------------- */

/* Parse @len bytes of @line from an exact-size heap copy. */
static int
parse_req(const char *line, size_t len, struct proto_req *req, struct proto_error *err)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, line, len);
	memset(err, 0, sizeof(*err));
	rc = proto_parse_request(copy, len, req, err);
	free(copy);	/* a request must not borrow from the line */
	return rc;
}

static void
expect_req_err(const char *line, size_t len, enum forq_err code)
{
	struct proto_req req;
	struct proto_error err;

	if (parse_req(line, len, &req, &err) != -1) {
		proto_req_free(&req);
		fail_msg("accepted: %.*s", (int)len, line);
	}
	if (err.code != code)
		fail_msg("%.*s: got %s (%s), want %s", (int)len, line, forq_err_code(err.code),
			 err.msg, forq_err_code(code));
	assert_true(err.msg[0] != '\0');
	assert_null(req.root);
}

static void
expect_req_err_s(const char *line, enum forq_err code)
{
	expect_req_err(line, strlen(line), code);
}

/* Validate the task JSON @json; returns proto_parse_submit's result. */
static int
submit(const char *json, struct proto_submit *out, struct proto_error *err)
{
	cJSON *data = cJSON_Parse(json);
	int rc;

	if (!data)
		fail_msg("test JSON does not parse: %s", json);
	memset(err, 0, sizeof(*err));
	rc = proto_parse_submit(data, out, err);
	cJSON_Delete(data);	/* the submission must not borrow from it */
	return rc;
}

static void
expect_submit_err(const char *json, enum forq_err code)
{
	struct proto_submit out = { .tasks = (struct proto_task *)1, .n = 99 };
	struct proto_error err;

	if (submit(json, &out, &err) != -1) {
		proto_submit_free(&out);
		fail_msg("accepted: %s", json);
	}
	if (err.code != code)
		fail_msg("%s: got %s (%s), want %s", json, forq_err_code(err.code), err.msg,
			 forq_err_code(code));
	assert_true(err.msg[0] != '\0');
	/* all or nothing: nothing is handed back */
	assert_null(out.tasks);
	assert_int_equal(out.n, 0);
}

/* One valid task; returns it (blob owned by @out). */
static const struct proto_task *
submit_one(const char *json, struct proto_submit *out)
{
	struct proto_error err;

	if (submit(json, out, &err) != 0)
		fail_msg("%s refused: %s %s", json, forq_err_code(err.code), err.msg);
	assert_int_equal(out->n, 1);
	return &out->tasks[0];
}

static uint32_t
timeout_of(const char *json)
{
	struct proto_submit out;
	uint32_t ms = submit_one(json, &out)->timeout_ms;

	proto_submit_free(&out);
	return ms;
}

/* ---- requests -------------------------------------------------------- */

static void
test_request_refusals(void **state)
{
	static const char nul_garbage[] = "\0\x01\x02\xff\xfe{\"type\":\"STATS\"}";

	(void)state;
	expect_req_err_s("", FORQ_EBADJSON);
	expect_req_err_s("not json", FORQ_EBADJSON);
	expect_req_err_s("{", FORQ_EBADJSON);
	expect_req_err_s("{\"type\":\"STATS\"", FORQ_EBADJSON);
	expect_req_err_s("{\"type\":}", FORQ_EBADJSON);
	expect_req_err(nul_garbage, sizeof(nul_garbage) - 1, FORQ_EBADJSON);
	/* a valid line whose length stops short of its end */
	expect_req_err("{\"type\":\"STATS\"}", 10, FORQ_EBADJSON);

	expect_req_err_s("[1,2]", FORQ_EBADREQ);
	expect_req_err_s("[]", FORQ_EBADREQ);
	expect_req_err_s("42", FORQ_EBADREQ);
	expect_req_err_s("\"TASK_SUBMIT\"", FORQ_EBADREQ);
	expect_req_err_s("null", FORQ_EBADREQ);
	expect_req_err_s("true", FORQ_EBADREQ);
	expect_req_err_s("{}", FORQ_EBADREQ);
	expect_req_err_s("{\"data\":{}}", FORQ_EBADREQ);
	expect_req_err_s("{\"type\":1,\"data\":{}}", FORQ_EBADREQ);
	expect_req_err_s("{\"type\":null}", FORQ_EBADREQ);
	expect_req_err_s("{\"type\":[\"STATS\"]}", FORQ_EBADREQ);
	expect_req_err_s("{\"type\":\"STATS\",\"data\":[]}", FORQ_EBADREQ);
	expect_req_err_s("{\"type\":\"STATS\",\"data\":5}", FORQ_EBADREQ);
	expect_req_err_s("{\"type\":\"STATS\",\"data\":\"x\"}", FORQ_EBADREQ);
	expect_req_err_s("{\"type\":\"STATS\",\"data\":null}", FORQ_EBADREQ);

	expect_req_err_s("{\"type\":\"NOPE\",\"data\":{}}", FORQ_EUNKTYPE);
	expect_req_err_s("{\"type\":\"stats\"}", FORQ_EUNKTYPE);	/* case-sensitive */
	expect_req_err_s("{\"type\":\"\"}", FORQ_EUNKTYPE);
	expect_req_err_s("{\"type\":\"TASK_SUBMIT_OK\"}", FORQ_EUNKTYPE);
	{
		/* a long unknown type: the message stays bounded */
		char line[2048];
		struct proto_req req;
		struct proto_error err;

		memset(line, 'X', sizeof(line));
		memcpy(line, "{\"type\":\"", 9);
		memcpy(line + sizeof(line) - 3, "\"}", 2);
		line[sizeof(line) - 1] = '\0';
		assert_int_equal(parse_req(line, strlen(line), &req, &err), -1);
		assert_int_equal(err.code, FORQ_EUNKTYPE);
		assert_true(strlen(err.msg) < sizeof(err.msg));
	}
}

/*
 * A request line is one JSON value and nothing else: a valid object
 * followed by junk (binary with NUL bytes, or text) is malformed, and so is
 * a NUL byte inside a string.  Trailing white space is allowed.
 */
static void
test_request_trailing_garbage(void **state)
{
	static const char nul_tail[] = "{\"type\":\"STATS\"}\0\x01\xff";
	static const char nul_in_string[] = "{\"type\":\"STATS\0\"}";
	struct proto_req req;
	struct proto_error err;

	(void)state;
	expect_req_err(nul_tail, sizeof(nul_tail) - 1, FORQ_EBADJSON);
	expect_req_err(nul_in_string, sizeof(nul_in_string) - 1, FORQ_EBADJSON);
	expect_req_err_s("{\"type\":\"STATS\"} xyz", FORQ_EBADJSON);
	expect_req_err_s("{\"type\":\"STATS\"}{\"type\":\"STATS\"}", FORQ_EBADJSON);
	assert_int_equal(parse_req("{\"type\":\"STATS\"} \t\r", 19, &req, &err), 0);
	assert_int_equal(req.type, REQ_STATS);
	proto_req_free(&req);
}

static void
test_request_every_type(void **state)
{
	(void)state;
	for (unsigned t = 0; t < REQ__COUNT; t++) {
		char line[256];
		struct proto_req req;
		struct proto_error err;
		const char *name = proto_req_name((enum proto_req_type)t);
		int n;

		assert_string_not_equal(name, "UNKNOWN");
		/* without data: an empty object is supplied */
		n = snprintf(line, sizeof(line), "{\"type\":\"%s\"}", name);
		if (parse_req(line, (size_t)n, &req, &err) != 0)
			fail_msg("%s refused: %s", line, err.msg);
		assert_int_equal(req.type, t);
		assert_non_null(req.root);
		assert_true(cJSON_IsObject(req.data));
		assert_null(req.data->child);
		proto_req_free(&req);
		assert_null(req.root);
		/* with data, which is kept as sent */
		n = snprintf(line, sizeof(line), " {\"data\":{\"id\":7},\"type\":\"%s\",\"x\":1}",
			     name);
		if (parse_req(line, (size_t)n, &req, &err) != 0)
			fail_msg("%s refused: %s", line, err.msg);
		assert_int_equal(req.type, t);
		assert_int_equal(cJSON_GetObjectItemCaseSensitive(req.data, "id")->valueint, 7);
		proto_req_free(&req);
	}
	assert_string_equal(proto_req_name(REQ__COUNT), "UNKNOWN");
}

/* ---- submit ---------------------------------------------------------- */

static void
test_submit_single_defaults(void **state)
{
	struct proto_submit out;
	const struct proto_task *t;

	(void)state;
	t = submit_one("{\"kernel\":\"noop\"}", &out);
	assert_int_equal(t->kernel, KERNEL_ID_NOOP);
	assert_int_equal(t->prio, 5);
	assert_int_equal(t->retries, 0);
	assert_int_equal(t->timeout_ms, 0);
	assert_int_equal(t->name_len, 0);
	assert_int_equal(t->blob_len, 0);
	proto_submit_free(&out);
	assert_null(out.tasks);
	assert_int_equal(out.n, 0);

	t = submit_one("{\"argv\":[\"echo\",\"hi\"],\"priority\":0,\"retries\":3,"
		       "\"timeout\":\"10s\",\"name\":\"greet\","
		       "\"env\":{\"A\":\"b\"},\"cwd\":\"/tmp\"}",
		       &out);
	assert_int_equal(t->kernel, KERNEL_ID_EXEC);
	assert_int_equal(t->prio, 0);
	assert_int_equal(t->retries, 3);
	assert_int_equal(t->timeout_ms, 10000);
	assert_int_equal(t->name_len, 5);
	assert_memory_equal(t->name, "greet", 5);
	assert_non_null(t->blob);
	assert_true(t->blob_len > 0);
	proto_submit_free(&out);

	t = submit_one("{\"kernel\":\"exec\",\"argv\":[\"true\"],\"priority\":9}", &out);
	assert_int_equal(t->kernel, KERNEL_ID_EXEC);
	assert_int_equal(t->prio, 9);
	proto_submit_free(&out);

	t = submit_one("{\"kernel\":\"spin\",\"args\":{\"us\":5}}", &out);
	assert_int_equal(t->kernel, KERNEL_ID_SPIN);
	assert_int_equal(t->blob_len, 8);
	proto_submit_free(&out);

	t = submit_one("{\"kernel\":\"sleep\",\"args\":{\"ms\":3}}", &out);
	assert_int_equal(t->kernel, KERNEL_ID_SLEEP);
	proto_submit_free(&out);
}

static void
test_submit_batch(void **state)
{
	struct proto_submit out;
	struct proto_error err;

	(void)state;
	assert_int_equal(submit("{\"tasks\":[{\"kernel\":\"noop\",\"priority\":1},"
				"{\"argv\":[\"ls\"],\"name\":\"b\"},"
				"{\"kernel\":\"spin\",\"args\":{\"us\":1},\"timeout\":2}]}",
				&out, &err), 0);
	assert_int_equal(out.n, 3);
	assert_int_equal(out.tasks[0].kernel, KERNEL_ID_NOOP);
	assert_int_equal(out.tasks[0].prio, 1);
	assert_int_equal(out.tasks[1].kernel, KERNEL_ID_EXEC);
	assert_int_equal(out.tasks[1].prio, 5);
	assert_int_equal(out.tasks[1].name_len, 1);
	assert_int_equal(out.tasks[2].kernel, KERNEL_ID_SPIN);
	assert_int_equal(out.tasks[2].timeout_ms, 2000);
	proto_submit_free(&out);

	expect_submit_err("{\"tasks\":[]}", FORQ_EBADFIELD);
	expect_submit_err("{\"tasks\":{}}", FORQ_EBADFIELD);
	expect_submit_err("{\"tasks\":\"noop\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"tasks\":[5]}", FORQ_EBADFIELD);
	expect_submit_err("{\"tasks\":[{\"kernel\":\"noop\"},[]]}", FORQ_EBADFIELD);
}

/*
 * One bad task at index 17 of 30 refuses the whole batch, the message
 * names the index, and the 17 compiled blobs before it are freed (the
 * exec tasks have heap blobs; ASan's leak check sees any left behind).
 */
static void
test_submit_batch_bad_index(void **state)
{
	static const struct {
		const char *bad;
		enum forq_err code;
	} cases[] = {
		{ "{\"argv\":[\"x\"],\"priority\":12}", FORQ_EPRIORITY },
		{ "{\"argv\":[\"x\"],\"timeout\":\"abc\"}", FORQ_ETIMEOUT },
		{ "{\"kernel\":\"nope\"}", FORQ_EUNKKERNEL },
		{ "{\"argv\":[]}", FORQ_EEMPTYCMD },
		{ "{\"kernel\":\"spin\"}", FORQ_EBADARGS },
		{ "{}", FORQ_EMISSING },
	};
	char *json = malloc(8192);

	(void)state;
	assert_non_null(json);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct proto_submit out = { .tasks = NULL, .n = 0 };
		struct proto_error err;
		size_t off = 0;

		off += (size_t)sprintf(json + off, "{\"tasks\":[");
		for (int i = 0; i < 30; i++) {
			if (i == 17)
				off += (size_t)sprintf(json + off, "%s,", cases[c].bad);
			else
				off += (size_t)sprintf(json + off, "{\"argv\":[\"echo\",\"%d\"],"
						       "\"name\":\"t%d\"},", i, i);
		}
		json[off - 1] = ']';
		strcpy(json + off, "}");
		assert_int_equal(submit(json, &out, &err), -1);
		assert_int_equal(err.code, cases[c].code);
		if (strncmp(err.msg, "tasks[17]:", 10) != 0)
			fail_msg("message \"%s\" does not start with tasks[17]:", err.msg);
		assert_null(out.tasks);
		assert_int_equal(out.n, 0);
	}
	free(json);
}

static void
test_submit_priority(void **state)
{
	struct proto_submit out;

	(void)state;
	for (int p = 0; p <= 9; p++) {
		char json[64];

		snprintf(json, sizeof(json), "{\"kernel\":\"noop\",\"priority\":%d}", p);
		assert_int_equal(submit_one(json, &out)->prio, p);
		proto_submit_free(&out);
	}
	assert_int_equal(submit_one("{\"kernel\":\"noop\",\"priority\":3.0}", &out)->prio, 3);
	proto_submit_free(&out);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":12}", FORQ_EPRIORITY);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":10}", FORQ_EPRIORITY);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":-1}", FORQ_EPRIORITY);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":1.5}", FORQ_EPRIORITY);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":\"1\"}", FORQ_EPRIORITY);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":true}", FORQ_EPRIORITY);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":null}", FORQ_EPRIORITY);
	expect_submit_err("{\"kernel\":\"noop\",\"priority\":1e300}", FORQ_EPRIORITY);
}

static void
test_submit_timeout(void **state)
{
	(void)state;
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":\"250ms\"}"), 250);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":\"10s\"}"), 10000);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":\"5m\"}"), 300000);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":\"1h\"}"), 3600000);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":1.5}"), 1500);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":2}"), 2000);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":0}"), 0);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":\"0\"}"), 0);
	assert_int_equal(timeout_of("{\"kernel\":\"noop\",\"timeout\":\"1m30s\"}"), 90000);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":-1}", FORQ_ETIMEOUT);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":-0.5}", FORQ_ETIMEOUT);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":\"abc\"}", FORQ_ETIMEOUT);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":\"-5s\"}", FORQ_ETIMEOUT);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":\"\"}", FORQ_ETIMEOUT);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":true}", FORQ_ETIMEOUT);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":[1]}", FORQ_ETIMEOUT);
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":1e300}", FORQ_ETIMEOUT);
	/* more milliseconds than the record's u32 holds */
	expect_submit_err("{\"kernel\":\"noop\",\"timeout\":\"1200h\"}", FORQ_ETIMEOUT);
}

static void
test_submit_kernel_and_command(void **state)
{
	(void)state;
	expect_submit_err("{}", FORQ_EMISSING);
	expect_submit_err("{\"priority\":1}", FORQ_EMISSING);
	expect_submit_err("{\"kernel\":\"nope\"}", FORQ_EUNKKERNEL);
	expect_submit_err("{\"kernel\":\"\"}", FORQ_EUNKKERNEL);
	expect_submit_err("{\"kernel\":5}", FORQ_EBADFIELD);
	expect_submit_err("{\"argv\":[]}", FORQ_EEMPTYCMD);
	expect_submit_err("{\"argv\":[\"\"]}", FORQ_EEMPTYCMD);
	expect_submit_err("{\"argv\":[1]}", FORQ_EEMPTYCMD);
	expect_submit_err("{\"argv\":[\"echo\",2]}", FORQ_EEMPTYCMD);
	expect_submit_err("{\"argv\":\"echo hi\"}", FORQ_EEMPTYCMD);
	expect_submit_err("{\"argv\":{}}", FORQ_EEMPTYCMD);
	expect_submit_err("{\"kernel\":\"exec\"}", FORQ_EEMPTYCMD);
	expect_submit_err("{\"argv\":[\"echo\"],\"args\":{}}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"argv\":[\"echo\"]}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"args\":[]}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"args\":{\"x\":1}}", FORQ_EBADARGS);
	expect_submit_err("{\"kernel\":\"spin\"}", FORQ_EBADARGS);
	expect_submit_err("{\"kernel\":\"spin\",\"args\":{}}", FORQ_EBADARGS);
	expect_submit_err("{\"kernel\":\"spin\",\"args\":{\"us\":-1}}", FORQ_EBADARGS);
	expect_submit_err("{\"kernel\":\"sleep\",\"args\":{\"ms\":\"x\"}}", FORQ_EBADARGS);
	expect_submit_err("{\"kernel\":\"sleep\"}", FORQ_EBADARGS);
	expect_submit_err("{\"argv\":[\"echo\"],\"cwd\":\"relative\"}", FORQ_EBADARGS);
	expect_submit_err("{\"argv\":[\"echo\"],\"env\":[]}", FORQ_EBADARGS);
	expect_submit_err("{\"kernel\":\"noop\",\"retries\":-1}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"retries\":101}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"retries\":\"2\"}", FORQ_EBADFIELD);
}

static void
test_submit_name(void **state)
{
	char json[600], name[300];
	struct proto_submit out;
	const struct proto_task *t;

	(void)state;
	memset(name, 'a', TASK_NAME_MAX);
	name[TASK_NAME_MAX] = '\0';
	snprintf(json, sizeof(json), "{\"kernel\":\"noop\",\"name\":\"%s\"}", name);
	t = submit_one(json, &out);
	assert_int_equal(t->name_len, TASK_NAME_MAX);
	assert_memory_equal(t->name, name, TASK_NAME_MAX);
	proto_submit_free(&out);
	strcat(name, "b");	/* 256 bytes */
	snprintf(json, sizeof(json), "{\"kernel\":\"noop\",\"name\":\"%s\"}", name);
	expect_submit_err(json, FORQ_EBADFIELD);
	/* 128 two-byte characters: 256 bytes, counted in bytes */
	json[0] = '\0';
	strcat(json, "{\"kernel\":\"noop\",\"name\":\"");
	for (int i = 0; i < 128; i++)
		strcat(json, "\xc3\xa9");
	strcat(json, "\"}");
	expect_submit_err(json, FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"name\":5}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"name\":null}", FORQ_EBADFIELD);
}

/* ---- keys, dependencies, arrays, retry delays, cancel ---------------- */

static void
test_submit_extras(void **state)
{
	struct proto_submit out;
	struct proto_error err;
	const struct proto_task *t;
	char json[400];

	(void)state;
	t = submit_one("{\"kernel\":\"noop\",\"key\":\"k-1\",\"retry_delay\":\"1.5s\","
		       "\"after\":[7,\"other\"],\"after_any\":true}", &out);
	assert_int_equal(t->key_len, 3);
	assert_memory_equal(t->key, "k-1", 3);
	assert_int_equal(t->retry_delay_ms, 1500);
	assert_int_equal(t->ndeps, 2);
	assert_int_equal(t->deps[0].id, 7);
	assert_int_equal(t->deps[0].idx, -1);
	assert_null(t->deps[0].key);
	/* not in the batch: the store resolves it */
	assert_string_equal(t->deps[1].key, "other");
	assert_int_equal(t->deps[1].idx, -1);
	assert_int_equal(t->flags & TASK_F_AFTER_ANY, TASK_F_AFTER_ANY);
	assert_int_equal(t->array_n, 1);
	assert_int_equal(out.total, 1);
	proto_submit_free(&out);

	/* a key of the same batch becomes an index */
	assert_int_equal(submit("{\"tasks\":[{\"kernel\":\"noop\",\"after\":[\"b\"]},"
				"{\"kernel\":\"noop\",\"key\":\"b\"}]}", &out, &err), 0);
	assert_int_equal(out.tasks[0].deps[0].idx, 1);
	assert_null(out.tasks[0].deps[0].key);
	proto_submit_free(&out);

	/* arrays */
	t = submit_one("{\"kernel\":\"noop\",\"array\":\"1-1000\"}", &out);
	assert_int_equal(t->flags & TASK_F_ARRAY, TASK_F_ARRAY);
	assert_int_equal(t->array_start, 1);
	assert_int_equal(t->array_step, 1);
	assert_int_equal(t->array_n, 1000);
	assert_int_equal(out.total, 1000);
	proto_submit_free(&out);
	t = submit_one("{\"kernel\":\"noop\",\"array\":\"0-99:5\"}", &out);
	assert_int_equal(t->array_n, 20);
	assert_int_equal(t->array_step, 5);
	proto_submit_free(&out);
	t = submit_one("{\"kernel\":\"noop\",\"array\":{\"start\":3,\"end\":4}}", &out);
	assert_int_equal(t->array_start, 3);
	assert_int_equal(t->array_n, 2);
	proto_submit_free(&out);

	expect_submit_err("{\"kernel\":\"noop\",\"key\":\"\"}", FORQ_EKEY);
	expect_submit_err("{\"kernel\":\"noop\",\"key\":5}", FORQ_EKEY);
	memset(json, 0, sizeof(json));
	strcpy(json, "{\"kernel\":\"noop\",\"key\":\"");
	memset(json + strlen(json), 'k', 256);
	strcat(json, "\"}");
	expect_submit_err(json, FORQ_EKEY);
	expect_submit_err("{\"tasks\":[{\"kernel\":\"noop\",\"key\":\"x\"},"
			  "{\"kernel\":\"noop\",\"key\":\"x\"}]}", FORQ_EKEY);
	expect_submit_err("{\"kernel\":\"noop\",\"after\":[]}", FORQ_EDEPENDENCY);
	expect_submit_err("{\"kernel\":\"noop\",\"after\":5}", FORQ_EDEPENDENCY);
	expect_submit_err("{\"kernel\":\"noop\",\"after\":[0]}", FORQ_EDEPENDENCY);
	expect_submit_err("{\"kernel\":\"noop\",\"after\":[1.5]}", FORQ_EDEPENDENCY);
	expect_submit_err("{\"kernel\":\"noop\",\"after\":[\"\"]}", FORQ_EDEPENDENCY);
	expect_submit_err("{\"kernel\":\"noop\",\"after\":[1,null]}", FORQ_EDEPENDENCY);
	expect_submit_err("{\"kernel\":\"noop\",\"key\":\"me\",\"after\":[\"me\"]}",
			  FORQ_EDEPENDENCY);
	expect_submit_err("{\"tasks\":[{\"kernel\":\"noop\",\"key\":\"a\",\"after\":[\"c\"]},"
			  "{\"kernel\":\"noop\",\"key\":\"b\",\"after\":[\"a\"]},"
			  "{\"kernel\":\"noop\",\"key\":\"c\",\"after\":[\"b\"]}]}",
			  FORQ_EDEPENDENCY);
	expect_submit_err("{\"kernel\":\"noop\",\"after_any\":1}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"retry_delay\":-1}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"5-1\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"1-\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"-1-3\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"1-3:0\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"1-3:\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"1-3:2x\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"0-4294967296\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"0-20000000\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":5}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":{\"start\":1}}", FORQ_EBADFIELD);
	/* arrays are not expanded to check the submission's size */
	expect_submit_err("{\"tasks\":[{\"kernel\":\"noop\",\"array\":\"1-10000000\"},"
			  "{\"kernel\":\"noop\",\"array\":\"1-2\"}]}", FORQ_ETOOLARGE);
}

/* An array range is the whole string: no trailing text, no signs. */
static void
test_submit_array_junk(void **state)
{
	(void)state;
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"1-3x\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"1-3-5\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"1-+3\"}", FORQ_EBADFIELD);
	expect_submit_err("{\"kernel\":\"noop\",\"array\":\"+1-3\"}", FORQ_EBADFIELD);
}

static void
test_parse_cancel(void **state)
{
	static const struct {
		const char *json;
		enum forq_err code;
	} bad[] = {
		{ "{}", FORQ_EMISSING },
		{ "{\"ids\":[]}", FORQ_EBADFIELD },
		{ "{\"ids\":5}", FORQ_EBADFIELD },
		{ "{\"ids\":[0]}", FORQ_EBADFIELD },
		{ "{\"ids\":[\"5-3\"]}", FORQ_EBADFIELD },
		{ "{\"ids\":[\"0-3\"]}", FORQ_EBADFIELD },
		{ "{\"ids\":[\"1-3x\"]}", FORQ_EBADFIELD },
		{ "{\"ids\":[\"1-18446744073709551615\"]}", FORQ_EBADFIELD },
		{ "{\"ids\":[1],\"state\":\"queued\"}", FORQ_EBADFIELD },
		{ "{\"state\":\"done\"}", FORQ_EBADFIELD },
		{ "{\"state\":1}", FORQ_EBADFIELD },
	};
	struct proto_cancel c;
	struct proto_error err;
	cJSON *j;

	(void)state;
	j = cJSON_Parse("{\"ids\":[1,\"3-5\",9]}");
	assert_int_equal(proto_parse_cancel(j, &c, &err), 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.ids[0], 1);
	assert_int_equal(c.ids[1], 3);
	assert_int_equal(c.ids[3], 5);
	assert_int_equal(c.ids[4], 9);
	free(c.ids);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"state\":\"QUEUED\"}");
	assert_int_equal(proto_parse_cancel(j, &c, &err), 0);
	assert_null(c.ids);
	assert_int_equal(c.which, 1);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"state\":\"all\"}");
	assert_int_equal(proto_parse_cancel(j, &c, &err), 0);
	assert_int_equal(c.which, 3);
	cJSON_Delete(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = cJSON_Parse(bad[i].json);
		assert_non_null(j);
		memset(&err, 0, sizeof(err));
		if (proto_parse_cancel(j, &c, &err) != -1 || err.code != bad[i].code)
			fail_msg("%s: got %s, want %s", bad[i].json, forq_err_code(err.code),
				 forq_err_code(bad[i].code));
		assert_null(c.ids);
		cJSON_Delete(j);
	}
}

/* ---- helpers of the verbs -------------------------------------------- */

static void
test_get_id(void **state)
{
	static const char *const bad[] = {
		"{\"id\":0}", "{\"id\":-1}", "{\"id\":1.5}", "{\"id\":\"1\"}",
		"{\"id\":9007199254740992}", "{\"id\":null}",
	};
	struct proto_error err;
	uint64_t id = 0;
	cJSON *j;

	(void)state;
	j = cJSON_Parse("{\"id\":9007199254740991}");
	assert_int_equal(proto_get_id(j, "id", &id, &err), 0);
	assert_true(id == 9007199254740991ull);
	assert_int_equal(proto_get_id(j, "other", &id, &err), -1);
	assert_int_equal(err.code, FORQ_EMISSING);
	cJSON_Delete(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = cJSON_Parse(bad[i]);
		assert_non_null(j);
		if (proto_get_id(j, "id", &id, &err) != -1 || err.code != FORQ_EBADFIELD)
			fail_msg("%s not refused with BAD_FIELD", bad[i]);
		cJSON_Delete(j);
	}
}

static void
test_get_duration(void **state)
{
	struct proto_error err;
	uint64_t ms = 12345;
	cJSON *j = cJSON_Parse("{\"a\":\"250ms\",\"b\":0.25,\"c\":\"x\",\"d\":{}}");

	(void)state;
	assert_int_equal(proto_get_duration_ms(j, "none", &ms, FORQ_EWAITTIME, &err), 0);
	assert_int_equal(ms, 12345);	/* absent: unchanged */
	assert_int_equal(proto_get_duration_ms(j, "a", &ms, FORQ_EWAITTIME, &err), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(proto_get_duration_ms(j, "b", &ms, FORQ_EWAITTIME, &err), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(proto_get_duration_ms(j, "c", &ms, FORQ_EWAITTIME, &err), -1);
	assert_int_equal(err.code, FORQ_EWAITTIME);
	assert_int_equal(proto_get_duration_ms(j, "d", &ms, FORQ_EBADFIELD, &err), -1);
	assert_int_equal(err.code, FORQ_EBADFIELD);
	cJSON_Delete(j);
}

/* ---- replies --------------------------------------------------------- */

/* @line is one line: ends in its only newline; returns it parsed. */
static cJSON *
parse_reply(const char *line, size_t len)
{
	cJSON *j;

	assert_non_null(line);
	assert_int_equal(strlen(line), len);
	assert_true(len >= 2);
	assert_int_equal(line[len - 1], '\n');
	assert_ptr_equal(strchr(line, '\n'), line + len - 1);
	j = cJSON_ParseWithLength(line, len - 1);
	assert_non_null(j);
	return j;
}

static void
test_reply_ok(void **state)
{
	(void)state;
	for (unsigned t = 0; t < REQ__COUNT; t++) {
		char want[64];
		cJSON *d = cJSON_CreateObject(), *j;
		size_t len = 0;
		char *line;

		cJSON_AddNumberToObject(d, "id", 7);
		cJSON_AddStringToObject(d, "note", "two\nlines");
		line = proto_reply_ok((enum proto_req_type)t, d, &len);
		j = parse_reply(line, len);
		snprintf(want, sizeof(want), "%s_OK", proto_req_name((enum proto_req_type)t));
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring, want);
		d = cJSON_GetObjectItemCaseSensitive(j, "data");
		assert_int_equal(cJSON_GetObjectItemCaseSensitive(d, "id")->valueint, 7);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "note")->valuestring,
				    "two\nlines");
		cJSON_Delete(j);
		free(line);
	}
	{
		size_t len = 0;
		char *line = proto_reply_ok(REQ_TASK_STATUS, NULL, &len);
		cJSON *j = parse_reply(line, len), *d;

		assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring,
				    "TASK_STATUS_OK");
		d = cJSON_GetObjectItemCaseSensitive(j, "data");
		assert_true(cJSON_IsObject(d));
		assert_null(d->child);
		cJSON_Delete(j);
		free(line);
	}
}

static void
test_reply_error(void **state)
{
	(void)state;
	for (unsigned e = 0; e < FORQ_ERR__COUNT; e++) {
		struct proto_error err;
		const char *code;
		size_t len = 0;
		char *line;
		cJSON *j, *d;

		/* a message with a newline and a quote stays on one line */
		proto_error_set(&err, (enum forq_err)e, "bad \"%s\"\nnext %u", "x", e);
		line = proto_reply_error(&err, &len);
		j = parse_reply(line, len);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring,
				    "ERROR");
		d = cJSON_GetObjectItemCaseSensitive(j, "data");
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "code")->valuestring,
				    forq_err_code((enum forq_err)e));
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "message")->valuestring,
				    err.msg);
		code = cJSON_GetObjectItemCaseSensitive(d, "code")->valuestring;
		assert_int_equal(forq_err_from_code(code), e);
		cJSON_Delete(j);
		free(line);
	}
	{
		/* no message: the table's default */
		struct proto_error err = { .code = FORQ_EPRIORITY };
		size_t len = 0;
		char *line = proto_reply_error(&err, &len);
		cJSON *j = parse_reply(line, len), *d;

		d = cJSON_GetObjectItemCaseSensitive(j, "data");
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "code")->valuestring,
				    "BAD_PRIORITY");
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "message")->valuestring,
				    forq_err_message(FORQ_EPRIORITY));
		cJSON_Delete(j);
		free(line);
	}
	{
		/* an over-long message is truncated, still terminated */
		struct proto_error err;
		char big[1000];

		memset(big, 'm', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		proto_error_set(&err, FORQ_EBADARGS, "%s", big);
		assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_refusals),
		cmocka_unit_test(test_request_trailing_garbage),
		cmocka_unit_test(test_request_every_type),
		cmocka_unit_test(test_submit_single_defaults),
		cmocka_unit_test(test_submit_batch),
		cmocka_unit_test(test_submit_batch_bad_index),
		cmocka_unit_test(test_submit_priority),
		cmocka_unit_test(test_submit_timeout),
		cmocka_unit_test(test_submit_kernel_and_command),
		cmocka_unit_test(test_submit_name),
		cmocka_unit_test(test_submit_extras),
		cmocka_unit_test(test_submit_array_junk),
		cmocka_unit_test(test_parse_cancel),
		cmocka_unit_test(test_get_id),
		cmocka_unit_test(test_get_duration),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
