/*
 * proto — envelope parsing, submit validation, replies (see proto.h).
 * Called from forqd's event thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "kernel.h"
#include "proto.h"
#include "task.h"

static const char *const req_names[REQ__COUNT] = {
#define PROTO_X_NAME(e, s) [e] = s,
	PROTO_REQUESTS(PROTO_X_NAME)
#undef PROTO_X_NAME
};

const char *
proto_req_name(enum proto_req_type t)
{
	return (unsigned)t < REQ__COUNT ? req_names[t] : "UNKNOWN";
}

void
proto_error_set(struct proto_error *err, enum forq_err code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

int
proto_parse_request(const char *line, size_t len, struct proto_req *req, struct proto_error *err)
{
	const cJSON *type, *data;
	cJSON *root;

	memset(req, 0, sizeof(*req));
	root = cJSON_ParseWithLength(line, len);
	if (!root) {
		proto_error_set(err, FORQ_EBADJSON, "request is not valid JSON");
		return -1;
	}
	if (!cJSON_IsObject(root)) {
		proto_error_set(err, FORQ_EBADREQ, "request must be a JSON object");
		goto out_free;
	}
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!cJSON_IsString(type)) {
		proto_error_set(err, FORQ_EBADREQ, "request needs a string \"type\"");
		goto out_free;
	}
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (data && !cJSON_IsObject(data)) {
		proto_error_set(err, FORQ_EBADREQ, "\"data\" must be an object");
		goto out_free;
	}
	if (!data) {
		cJSON *d = cJSON_AddObjectToObject(root, "data");

		if (!d) {
			proto_error_set(err, FORQ_EINTERNAL, "out of memory");
			goto out_free;
		}
		data = d;
	}
	for (unsigned i = 0; i < REQ__COUNT; i++) {
		if (strcmp(type->valuestring, req_names[i]) == 0) {
			req->type = (enum proto_req_type)i;
			req->root = root;
			req->data = data; /* borrows from root, freed with it */
			return 0;
		}
	}
	proto_error_set(err, FORQ_EUNKTYPE, "unknown request type \"%.64s\"", type->valuestring);
out_free:
	cJSON_Delete(root);
	return -1;
}

void
proto_req_free(struct proto_req *req)
{
	cJSON_Delete(req->root);
	req->root = NULL;
	req->data = NULL;
}

/* True when @j is a number holding an integer in [lo, hi]. */
static bool
int_in(const cJSON *j, double lo, double hi, double *out)
{
	double v;

	if (!cJSON_IsNumber(j))
		return false;
	v = j->valuedouble;
	if (!isfinite(v) || floor(v) != v || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int
proto_get_id(const cJSON *data, const char *name, uint64_t *id, struct proto_error *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(data, name);
	double v;

	if (!j) {
		proto_error_set(err, FORQ_EMISSING, "missing field \"%s\"", name);
		return -1;
	}
	if (!int_in(j, 1, 9007199254740991.0, &v)) {
		proto_error_set(err, FORQ_EBADFIELD, "\"%s\" must be a positive integer task id", name);
		return -1;
	}
	*id = (uint64_t)v;
	return 0;
}

int
proto_get_duration_ms(const cJSON *data, const char *name, uint64_t *ms, enum forq_err code,
		      struct proto_error *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(data, name);

	if (!j)
		return 0;
	if (cJSON_IsNumber(j)) {
		double v = j->valuedouble;

		if (!isfinite(v) || v < 0 || v > 4294967.0) {
			proto_error_set(err, code, "\"%s\" must be a duration from 0 to 4294967 s", name);
			return -1;
		}
		*ms = (uint64_t)llround(v * 1000.0);
		if (v > 0 && *ms == 0)
			*ms = 1; /* a non-zero timeout never rounds to "none" */
		return 0;
	}
	if (cJSON_IsString(j)) {
		uint64_t v;

		if (duration_parse(j->valuestring, &v) < 0 || v > 4294967295ull) {
			proto_error_set(err, code, "\"%s\": bad duration \"%.32s\" (forms: 250ms, 10s, 5m, 1h)",
					name, j->valuestring);
			return -1;
		}
		*ms = v;
		return 0;
	}
	proto_error_set(err, code, "\"%s\" must be a number of seconds or a string like \"10s\"", name);
	return -1;
}

/* Validate one task object into @t.  Returns 0 or -1 with @err (no prefix). */
static int
parse_task(const cJSON *o, struct proto_task *t, struct proto_error *err)
{
	const cJSON *jk, *jargv, *jargs, *j;
	const struct kernel *k;
	struct kbuf kb = { NULL, 0 };
	char kerr[200] = "";
	cJSON *exec_args = NULL;
	uint64_t ms = 0;
	double v;
	int rc;

	memset(t, 0, sizeof(*t));
	t->prio = 5;
	t->retries = 0;
	if (!cJSON_IsObject(o)) {
		proto_error_set(err, FORQ_EBADFIELD, "a task must be a JSON object");
		return -1;
	}
	jk = cJSON_GetObjectItemCaseSensitive(o, "kernel");
	jargv = cJSON_GetObjectItemCaseSensitive(o, "argv");
	jargs = cJSON_GetObjectItemCaseSensitive(o, "args");
	if (jk && !cJSON_IsString(jk)) {
		proto_error_set(err, FORQ_EBADFIELD, "\"kernel\" must be a string");
		return -1;
	}
	if (!jk && !jargv) {
		proto_error_set(err, FORQ_EMISSING, "a task needs \"kernel\" or \"argv\"");
		return -1;
	}
	k = kernel_find(jk ? jk->valuestring : "exec");
	if (!k) {
		proto_error_set(err, FORQ_EUNKKERNEL, "unknown kernel \"%.64s\"", jk->valuestring);
		return -1;
	}
	j = cJSON_GetObjectItemCaseSensitive(o, "priority");
	if (j) {
		if (!int_in(j, 0, 9, &v)) {
			proto_error_set(err, FORQ_EPRIORITY, "priority must be an integer from 0 to 9");
			return -1;
		}
		t->prio = (uint8_t)v;
	}
	if (proto_get_duration_ms(o, "timeout", &ms, FORQ_ETIMEOUT, err) < 0)
		return -1;
	t->timeout_ms = (uint32_t)ms;
	j = cJSON_GetObjectItemCaseSensitive(o, "retries");
	if (j) {
		if (!int_in(j, 0, 100, &v)) {
			proto_error_set(err, FORQ_EBADFIELD, "\"retries\" must be an integer from 0 to 100");
			return -1;
		}
		t->retries = (uint16_t)v;
	}
	j = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (j) {
		size_t n;

		if (!cJSON_IsString(j) || (n = strlen(j->valuestring)) > TASK_NAME_MAX) {
			proto_error_set(err, FORQ_EBADFIELD, "\"name\" must be a string of at most 255 bytes");
			return -1;
		}
		memcpy(t->name, j->valuestring, n);
		t->name_len = (uint16_t)n;
	}
	if (k->id == KERNEL_ID_EXEC) {
		const cJSON *e;

		if (!cJSON_IsArray(jargv) || cJSON_GetArraySize(jargv) == 0) {
			proto_error_set(err, FORQ_EEMPTYCMD, "\"argv\" must be a non-empty array of strings");
			return -1;
		}
		cJSON_ArrayForEach(e, jargv) {
			if (!cJSON_IsString(e)) {
				proto_error_set(err, FORQ_EEMPTYCMD, "\"argv\" must hold only strings");
				return -1;
			}
		}
		if (!cJSON_IsString(cJSON_GetArrayItem(jargv, 0)) ||
		    cJSON_GetArrayItem(jargv, 0)->valuestring[0] == '\0') {
			proto_error_set(err, FORQ_EEMPTYCMD, "the command (argv[0]) is empty");
			return -1;
		}
		if (jargs) {
			proto_error_set(err, FORQ_EBADFIELD, "exec tasks take \"argv\", \"env\" and \"cwd\", not \"args\"");
			return -1;
		}
		/* Build {"argv","env","cwd"} for exec's prepare: references
		 * borrow from @o, which outlives exec_args (deleted below). */
		exec_args = cJSON_CreateObject();
		if (!exec_args)
			goto out_nomem;
		cJSON_AddItemReferenceToObject(exec_args, "argv", (cJSON *)jargv);
		if ((e = cJSON_GetObjectItemCaseSensitive(o, "env")))
			cJSON_AddItemReferenceToObject(exec_args, "env", (cJSON *)e);
		if ((e = cJSON_GetObjectItemCaseSensitive(o, "cwd")))
			cJSON_AddItemReferenceToObject(exec_args, "cwd", (cJSON *)e);
		rc = kernel_prepare(k, exec_args, &kb, kerr, sizeof(kerr));
		cJSON_Delete(exec_args);
	} else {
		if (jargv) {
			proto_error_set(err, FORQ_EBADFIELD, "\"argv\" is for exec tasks; kernel %s takes \"args\"", k->name);
			return -1;
		}
		if (jargs && !cJSON_IsObject(jargs)) {
			proto_error_set(err, FORQ_EBADFIELD, "\"args\" must be an object");
			return -1;
		}
		rc = kernel_prepare(k, jargs, &kb, kerr, sizeof(kerr));
	}
	if (rc < 0) {
		free(kb.data);
		proto_error_set(err, FORQ_EBADARGS, "%s: %s", k->name, kerr[0] ? kerr : "arguments refused");
		return -1;
	}
	if (kb.len > KBLOB_MAX) {
		free(kb.data);
		proto_error_set(err, FORQ_ETOOLARGE, "%s: compiled arguments exceed %u bytes", k->name, KBLOB_MAX);
		return -1;
	}
	t->kernel = k->id;
	t->blob = kb.data;
	t->blob_len = (uint32_t)kb.len;
	return 0;

out_nomem:
	proto_error_set(err, FORQ_EINTERNAL, "out of memory");
	return -1;
}

void
proto_submit_free(struct proto_submit *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->tasks[i].blob);
	free(s->tasks);
	s->tasks = NULL;
	s->n = 0;
}

int
proto_parse_submit(const cJSON *data, struct proto_submit *out, struct proto_error *err)
{
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(data, "tasks");
	const cJSON *e;
	size_t n, i = 0;

	out->tasks = NULL;
	out->n = 0;
	if (!tasks) {
		out->tasks = calloc(1, sizeof(*out->tasks));
		if (!out->tasks)
			goto out_nomem;
		if (parse_task(data, &out->tasks[0], err) < 0) {
			proto_submit_free(out);
			return -1;
		}
		out->n = 1;
		return 0;
	}
	if (!cJSON_IsArray(tasks) || (n = (size_t)cJSON_GetArraySize(tasks)) == 0) {
		proto_error_set(err, FORQ_EBADFIELD, "\"tasks\" must be a non-empty array of task objects");
		return -1;
	}
	out->tasks = calloc(n, sizeof(*out->tasks));
	if (!out->tasks)
		goto out_nomem;
	cJSON_ArrayForEach(e, tasks) {
		if (parse_task(e, &out->tasks[i], err) < 0) {
			char msg[sizeof(err->msg) + 32];

			snprintf(msg, sizeof(msg), "tasks[%zu]: %s", i, err->msg);
			memcpy(err->msg, msg, sizeof(err->msg) - 1);
			err->msg[sizeof(err->msg) - 1] = '\0';
			out->n = i;
			proto_submit_free(out);
			return -1;
		}
		i++;
	}
	out->n = n;
	return 0;

out_nomem:
	proto_error_set(err, FORQ_EINTERNAL, "out of memory");
	return -1;
}

static char *
serialise(cJSON *root, size_t *len)
{
	char *s = cJSON_PrintUnformatted(root);
	size_t n;
	char *line;

	cJSON_Delete(root);
	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

char *
proto_reply_ok(enum proto_req_type t, cJSON *data, size_t *len)
{
	char type[48];
	cJSON *root = cJSON_CreateObject();

	if (!root) {
		cJSON_Delete(data);
		return NULL;
	}
	snprintf(type, sizeof(type), "%s_OK", proto_req_name(t));
	cJSON_AddStringToObject(root, "type", type);
	cJSON_AddItemToObject(root, "data", data ? data : cJSON_CreateObject());
	return serialise(root, len);
}

char *
proto_reply_error(const struct proto_error *err, size_t *len)
{
	cJSON *root = cJSON_CreateObject(), *d;

	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "type", "ERROR");
	d = cJSON_AddObjectToObject(root, "data");
	cJSON_AddStringToObject(d, "code", forq_err_code(err->code));
	cJSON_AddStringToObject(d, "message", err->msg[0] ? err->msg : forq_err_message(err->code));
	return serialise(root, len);
}
