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
#include <strings.h>

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

	const char *end = NULL;

	memset(req, 0, sizeof(*req));
	/* One JSON value and nothing after it but white space; a NUL would
	 * cut strings short inside cJSON, so it is refused outright. */
	if (memchr(line, '\0', len) ||
	    !(root = cJSON_ParseWithLengthOpts(line, len, &end, 0))) {
		proto_error_set(err, FORQ_EBADJSON, "request is not valid JSON");
		return -1;
	}
	while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != line + len) {
		cJSON_Delete(root);
		proto_error_set(err, FORQ_EBADJSON, "request has bytes after its JSON value");
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

/* Parse "A-B[:S]" (or {"start","end","step"}) into @t's array fields. */
static int
parse_array(const cJSON *j, struct proto_task *t, struct proto_error *err)
{
	unsigned long long a, b, step = 1;

	if (cJSON_IsString(j)) {
		const char *v = j->valuestring;
		int used = -1;
		bool ok = v[0] >= '0' && v[0] <= '9' && strspn(v, "0123456789-:") == strlen(v);

		if (ok && !(sscanf(v, "%llu-%llu%n", &a, &b, &used) == 2 && v[used] == '\0')) {
			used = -1;
			ok = sscanf(v, "%llu-%llu:%llu%n", &a, &b, &step, &used) == 3 && used > 0 &&
			     v[used] == '\0';
		}
		if (!ok) {
			proto_error_set(err, FORQ_EBADFIELD, "\"array\" must look like \"1-1000\" or \"0-99:5\"");
			return -1;
		}
	} else if (cJSON_IsObject(j)) {
		const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "start");
		const cJSON *je = cJSON_GetObjectItemCaseSensitive(j, "end");
		const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "step");
		double v;

		if (!int_in(js, 0, 4294967295.0, &v))
			goto bad_obj;
		a = (unsigned long long)v;
		if (!int_in(je, 0, 4294967295.0, &v))
			goto bad_obj;
		b = (unsigned long long)v;
		if (jt) {
			if (!int_in(jt, 1, 4294967295.0, &v))
				goto bad_obj;
			step = (unsigned long long)v;
		}
	} else {
		goto bad_obj;
	}
	if (b < a || step < 1 || b > 4294967295ull) {
		proto_error_set(err, FORQ_EBADFIELD, "\"array\": need START <= END <= 4294967295 and STEP >= 1");
		return -1;
	}
	if ((b - a) / step + 1 > PROTO_ARRAY_MAX) {
		proto_error_set(err, FORQ_EBADFIELD, "\"array\" expands to more than %u tasks", PROTO_ARRAY_MAX);
		return -1;
	}
	t->flags |= TASK_F_ARRAY;
	t->array_start = (uint32_t)a;
	t->array_step = (uint32_t)step;
	t->array_n = (uint32_t)((b - a) / step + 1);
	return 0;
bad_obj:
	proto_error_set(err, FORQ_EBADFIELD, "\"array\" must be \"START-END[:STEP]\" or {\"start\",\"end\",\"step\"}");
	return -1;
}

/* The fields of issue 4: retries' delay, key, dependencies, array. */
static int
parse_extras(const cJSON *o, struct proto_task *t, struct proto_error *err)
{
	const cJSON *j;
	uint64_t ms = 0;

	if (proto_get_duration_ms(o, "retry_delay", &ms, FORQ_EBADFIELD, err) < 0)
		return -1;
	t->retry_delay_ms = (uint32_t)ms;
	j = cJSON_GetObjectItemCaseSensitive(o, "key");
	if (j) {
		size_t n;

		if (!cJSON_IsString(j) || (n = strlen(j->valuestring)) == 0 || n > TASK_KEY_MAX) {
			proto_error_set(err, FORQ_EKEY, "\"key\" must be a string of 1 to 255 bytes");
			return -1;
		}
		t->key = strdup(j->valuestring);
		if (!t->key)
			goto out_nomem;
		t->key_len = (uint8_t)n;
	}
	j = cJSON_GetObjectItemCaseSensitive(o, "after_any");
	if (j) {
		if (!cJSON_IsBool(j)) {
			proto_error_set(err, FORQ_EBADFIELD, "\"after_any\" must be true or false");
			return -1;
		}
		if (cJSON_IsTrue(j))
			t->flags |= TASK_F_AFTER_ANY;
	}
	j = cJSON_GetObjectItemCaseSensitive(o, "after");
	if (j) {
		const cJSON *e;
		size_t n, i = 0;

		if (!cJSON_IsArray(j) || (n = (size_t)cJSON_GetArraySize(j)) == 0 || n > TASK_DEPS_MAX) {
			proto_error_set(err, FORQ_EDEPENDENCY,
					"\"after\" must be a non-empty array of task ids or keys");
			return -1;
		}
		t->deps = calloc(n, sizeof(*t->deps));
		if (!t->deps)
			goto out_nomem;
		cJSON_ArrayForEach(e, j) {
			double v;

			t->deps[i].idx = -1;
			if (int_in(e, 1, 9007199254740991.0, &v)) {
				t->deps[i].id = (uint64_t)v;
			} else if (cJSON_IsString(e) && e->valuestring[0] && strlen(e->valuestring) <= TASK_KEY_MAX) {
				t->deps[i].key = strdup(e->valuestring);
				if (!t->deps[i].key) {
					t->ndeps = (uint32_t)i;
					goto out_nomem;
				}
			} else {
				t->ndeps = (uint32_t)i;
				proto_error_set(err, FORQ_EDEPENDENCY,
						"\"after\"[%zu] must be a task id or a key", i);
				return -1;
			}
			i++;
		}
		t->ndeps = (uint32_t)n;
	}
	j = cJSON_GetObjectItemCaseSensitive(o, "array");
	if (j && parse_array(j, t, err) < 0)
		return -1;
	return 0;
out_nomem:
	proto_error_set(err, FORQ_EINTERNAL, "out of memory");
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
	t->array_n = 1;
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
		if (n) {
			t->name = strdup(j->valuestring);
			if (!t->name)
				goto out_nomem;
			t->name_len = (uint16_t)n;
		}
	}
	if (parse_extras(o, t, err) < 0)
		return -1;
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

static void
task_free(struct proto_task *t)
{
	free(t->name);
	free(t->key);
	for (uint32_t i = 0; i < t->ndeps; i++)
		free(t->deps[i].key);
	free(t->deps);
	free(t->blob);
	memset(t, 0, sizeof(*t));
}

void
proto_submit_free(struct proto_submit *s)
{
	for (size_t i = 0; i < s->n; i++)
		task_free(&s->tasks[i]);
	free(s->tasks);
	s->tasks = NULL;
	s->n = 0;
}

static uint64_t
key_hash(const char *k)
{
	uint64_t h = 1469598103934665603ull;

	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return h;
}

/*
 * Resolve key references inside the batch (a dependency naming another
 * task of the same batch by key becomes its index), refuse duplicate keys,
 * and refuse cycles (Kahn's algorithm over the in-batch edges).
 */
static int
resolve_batch(struct proto_submit *s, struct proto_error *err)
{
	size_t cap = 16, n = s->n, *order = NULL, head = 0, tail = 0;
	int32_t *tab;
	uint32_t *indeg = NULL;
	size_t nkeys = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		if (s->tasks[i].key)
			nkeys++;
	while (cap < nkeys * 2 + 2)
		cap *= 2;
	tab = malloc(cap * sizeof(*tab));
	if (!tab)
		goto out_nomem;
	for (size_t i = 0; i < cap; i++)
		tab[i] = -1;
	for (size_t i = 0; i < n; i++) {
		const char *k = s->tasks[i].key;

		if (!k)
			continue;
		for (size_t j = key_hash(k) & (cap - 1);; j = (j + 1) & (cap - 1)) {
			if (tab[j] < 0) {
				tab[j] = (int32_t)i;
				break;
			}
			if (strcmp(s->tasks[tab[j]].key, k) == 0) {
				proto_error_set(err, FORQ_EKEY, "tasks[%zu]: key \"%.64s\" repeats tasks[%d]'s",
						i, k, tab[j]);
				goto out;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct proto_task *t = &s->tasks[i];

		for (uint32_t d = 0; d < t->ndeps; d++) {
			const char *k = t->deps[d].key;

			if (!k || !nkeys)
				continue;
			for (size_t j = key_hash(k) & (cap - 1); tab[j] >= 0; j = (j + 1) & (cap - 1)) {
				if (strcmp(s->tasks[tab[j]].key, k) == 0) {
					if ((size_t)tab[j] == i) {
						proto_error_set(err, FORQ_EDEPENDENCY,
								"tasks[%zu] depends on itself (key \"%.64s\")", i, k);
						goto out;
					}
					t->deps[d].idx = tab[j];
					free(t->deps[d].key);
					t->deps[d].key = NULL;
					break;
				}
			}
		}
	}
	/* Cycles: Kahn's algorithm; what cannot be ordered is on a cycle. */
	indeg = calloc(n, sizeof(*indeg));
	order = malloc(n * sizeof(*order));
	if (!indeg || !order)
		goto out_nomem;
	for (size_t i = 0; i < n; i++)
		for (uint32_t d = 0; d < s->tasks[i].ndeps; d++)
			if (s->tasks[i].deps[d].idx >= 0)
				indeg[i]++;
	for (size_t i = 0; i < n; i++)
		if (!indeg[i])
			order[tail++] = i;
	/* Edges point from a dependency to its dependents; walking them
	 * needs the reverse lists: build them as one CSR array. */
	{
		size_t *start = calloc(n + 1, sizeof(*start)), *adj, total = 0;

		if (!start)
			goto out_nomem;
		for (size_t i = 0; i < n; i++)
			for (uint32_t d = 0; d < s->tasks[i].ndeps; d++)
				if (s->tasks[i].deps[d].idx >= 0) {
					start[s->tasks[i].deps[d].idx + 1]++;
					total++;
				}
		for (size_t i = 0; i < n; i++)
			start[i + 1] += start[i];
		adj = malloc((total ? total : 1) * sizeof(*adj));
		if (!adj) {
			free(start);
			goto out_nomem;
		}
		size_t *fill = calloc(n, sizeof(*fill));
		if (!fill) {
			free(adj);
			free(start);
			goto out_nomem;
		}
		for (size_t i = 0; i < n; i++)
			for (uint32_t d = 0; d < s->tasks[i].ndeps; d++) {
				int32_t x = s->tasks[i].deps[d].idx;

				if (x >= 0)
					adj[start[x] + fill[x]++] = i;
			}
		while (head < tail) {
			size_t u = order[head++];

			for (size_t e = start[u]; e < start[u + 1]; e++)
				if (--indeg[adj[e]] == 0)
					order[tail++] = adj[e];
		}
		free(fill);
		free(adj);
		free(start);
	}
	if (tail != n) {
		size_t i = 0;

		while (i < n && !indeg[i])
			i++;
		proto_error_set(err, FORQ_EDEPENDENCY, "tasks[%zu] is on a dependency cycle", i);
		goto out;
	}
	rc = 0;
	goto out;
out_nomem:
	proto_error_set(err, FORQ_EINTERNAL, "out of memory");
out:
	free(tab);
	free(indeg);
	free(order);
	return rc;
}

int
proto_parse_submit(const cJSON *data, struct proto_submit *out, struct proto_error *err)
{
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(data, "tasks");
	const cJSON *e;
	size_t n, i = 0;

	out->tasks = NULL;
	out->n = 0;
	out->total = 0;
	if (!tasks) {
		out->tasks = calloc(1, sizeof(*out->tasks));
		if (!out->tasks)
			goto out_nomem;
		if (parse_task(data, &out->tasks[0], err) < 0) {
			out->n = 1;
			proto_submit_free(out);
			return -1;
		}
		out->n = 1;
	} else {
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
				out->n = i + 1;
				proto_submit_free(out);
				return -1;
			}
			i++;
		}
		out->n = n;
		out->batch = true;
	}
	for (i = 0; i < out->n; i++)
		out->total += out->tasks[i].array_n;
	if (out->total > PROTO_BATCH_MAX) {
		proto_error_set(err, FORQ_ETOOLARGE, "a submission may create at most %u tasks", PROTO_BATCH_MAX);
		proto_submit_free(out);
		return -1;
	}
	if (resolve_batch(out, err) < 0) {
		proto_submit_free(out);
		return -1;
	}
	return 0;

out_nomem:
	proto_error_set(err, FORQ_EINTERNAL, "out of memory");
	return -1;
}

int
proto_get_ids(const cJSON *data, const char *name, uint64_t **ids, size_t *n, size_t max,
	      struct proto_error *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(data, name), *e;
	size_t cnt = 0, cap = 0;
	uint64_t *v = NULL;

	*ids = NULL;
	*n = 0;
	if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) == 0) {
		proto_error_set(err, j ? FORQ_EBADFIELD : FORQ_EMISSING,
				"\"%s\" must be a non-empty array of task ids or \"A-B\" ranges", name);
		return -1;
	}
	cJSON_ArrayForEach(e, j) {
		unsigned long long a, b;
		double d;
		char tail[4];

		if (int_in(e, 1, 9007199254740991.0, &d)) {
			a = b = (unsigned long long)d;
		} else if (cJSON_IsString(e) && e->valuestring[0] >= '0' && e->valuestring[0] <= '9' &&
			   strspn(e->valuestring, "0123456789-") == strlen(e->valuestring) &&
			   sscanf(e->valuestring, "%llu-%llu%3s", &a, &b, tail) == 2 && a >= 1 && b >= a) {
			;
		} else {
			proto_error_set(err, FORQ_EBADFIELD, "\"%s\": each entry must be a task id or \"A-B\"", name);
			free(v);
			return -1;
		}
		if (b - a + 1 > max - cnt) {
			proto_error_set(err, FORQ_EBADFIELD, "\"%s\" names more than %zu tasks", name, max);
			free(v);
			return -1;
		}
		while (cnt + (b - a + 1) > cap) {
			size_t nc = cap ? cap * 2 : 64;
			uint64_t *nv;

			while (nc < cnt + (b - a + 1))
				nc *= 2;
			nv = realloc(v, nc * sizeof(*v));
			if (!nv) {
				free(v);
				proto_error_set(err, FORQ_EINTERNAL, "out of memory");
				return -1;
			}
			v = nv;
			cap = nc;
		}
		for (unsigned long long x = a; x <= b; x++)
			v[cnt++] = x;
	}
	*ids = v;
	*n = cnt;
	return 0;
}

int
proto_parse_cancel(const cJSON *data, struct proto_cancel *out, struct proto_error *err)
{
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(data, "state");
	const cJSON *ji = cJSON_GetObjectItemCaseSensitive(data, "ids");

	memset(out, 0, sizeof(*out));
	if (js && ji) {
		proto_error_set(err, FORQ_EBADFIELD, "TASK_CANCEL takes \"ids\" or \"state\", not both");
		return -1;
	}
	if (js) {
		if (!cJSON_IsString(js)) {
			proto_error_set(err, FORQ_EBADFIELD, "\"state\" must be \"queued\", \"waiting\" or \"all\"");
			return -1;
		}
		if (strcasecmp(js->valuestring, "queued") == 0)
			out->which = 1;
		else if (strcasecmp(js->valuestring, "waiting") == 0)
			out->which = 2;
		else if (strcasecmp(js->valuestring, "all") == 0)
			out->which = 3;
		else {
			proto_error_set(err, FORQ_EBADFIELD, "\"state\" must be \"queued\", \"waiting\" or \"all\"");
			return -1;
		}
		return 0;
	}
	return proto_get_ids(data, "ids", &out->ids, &out->n, PROTO_BATCH_MAX, err);
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
