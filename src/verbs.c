/*
 * verbs — request handlers (see verbs.h).  Event thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kernel.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "sys.h"
#include "verbs.h"

#define LIST_DEFAULT   100
#define LIST_MAX       100000
#define LOG_DEFAULT    (1u << 20)
#define VERSION        "0.1.0"

static void
reply_error(struct server *sv, uint32_t slot, const struct proto_error *err)
{
	size_t len;
	char *line = proto_reply_error(err, &len);

	server_send(sv, slot, line, len);
}

static void
reply_code(struct server *sv, uint32_t slot, enum forq_err code, const char *msg)
{
	struct proto_error e;

	proto_error_set(&e, code, "%s", msg ? msg : forq_err_message(code));
	reply_error(sv, slot, &e);
}

static void
reply_ok(struct server *sv, uint32_t slot, enum proto_req_type t, cJSON *data)
{
	size_t len;
	char *line = proto_reply_ok(t, data, &len);

	if (!line) {
		reply_code(sv, slot, FORQ_EINTERNAL, "out of memory");
		return;
	}
	server_send(sv, slot, line, len);
}

void
verbs_too_large(struct server *sv, uint32_t slot)
{
	struct proto_error e;

	proto_error_set(&e, FORQ_ETOOLARGE, "request line exceeds %zu bytes; discarded", sv->cfg.max_msg);
	reply_error(sv, slot, &e);
}

static double
secs(uint64_t wall_ns)
{
	return (double)wall_ns / 1e9;
}

/* The worker running task @id now, or -1. */
static int
running_on(struct server *sv, uint64_t id)
{
	for (unsigned i = 0; i < sv->nslots; i++)
		if (atomic_load_explicit(&shm_wblock(&sv->shm, i)->task_id, memory_order_acquire) == id)
			return (int)i;
	return -1;
}

static unsigned
running_count(struct server *sv)
{
	unsigned n = 0;

	for (unsigned i = 0; i < sv->nslots; i++)
		if (atomic_load_explicit(&shm_wblock(&sv->shm, i)->task_id, memory_order_relaxed))
			n++;
	return n;
}

/* The live state of a record: RUNNING from shared memory (invariant 4). */
static enum task_state
live_state(struct server *sv, uint64_t id, const struct task_rec *r, int *worker)
{
	*worker = -1;
	if (r->state == TASK_QUEUED && (*worker = running_on(sv, id)) >= 0)
		return TASK_RUNNING;
	return (enum task_state)r->state;
}

static void
add_str_n(cJSON *o, const char *k, const char *s, size_t n)
{
	char buf[TASK_NAME_MAX + 1];

	if (n > TASK_NAME_MAX)
		n = TASK_NAME_MAX;
	memcpy(buf, s, n);
	buf[n] = '\0';
	cJSON_AddStringToObject(o, k, buf);
}

struct hist_ctx {
	cJSON *arr;
};

static void
hist_fn(void *arg, unsigned attempt, const struct task_attempt *a)
{
	struct hist_ctx *h = arg;
	cJSON *e = cJSON_CreateObject();
	bool ran = a->start_ns != 0;

	cJSON_AddNumberToObject(e, "attempt", attempt);
	cJSON_AddStringToObject(e, "outcome", a->outcome == TASK_QUEUED ? "RETRIED" : task_state_name(a->outcome));
	if (a->worker >= 0) {
		cJSON_AddNumberToObject(e, "worker", a->worker);
		cJSON_AddNumberToObject(e, "cpu", a->cpu);
	} else {
		cJSON_AddNullToObject(e, "worker");
		cJSON_AddNullToObject(e, "cpu");
	}
	if (ran)
		cJSON_AddNumberToObject(e, "start", secs(a->start_ns));
	else
		cJSON_AddNullToObject(e, "start");
	cJSON_AddNumberToObject(e, "end", secs(a->end_ns));
	if (a->exit_code >= 0 && a->reason_len && strcmp(a->reason, "worker_lost") && strcmp(a->reason, "hung"))
		cJSON_AddNumberToObject(e, "exit_code", a->exit_code);
	else if (a->exit_code >= 0 && !a->reason_len)
		cJSON_AddNumberToObject(e, "exit_code", a->exit_code);
	else
		cJSON_AddNullToObject(e, "exit_code");
	if (a->term_signal)
		cJSON_AddNumberToObject(e, "signal", a->term_signal);
	else
		cJSON_AddNullToObject(e, "signal");
	if (a->reason_len)
		cJSON_AddStringToObject(e, "reason", a->reason);
	else
		cJSON_AddNullToObject(e, "reason");
	cJSON_AddItemToArray(h->arr, e);
}

/* "progress": 0..1 while a kernel reports it, else null. */
static void
add_progress(cJSON *o, struct wblock *wb)
{
	uint32_t pm = wb ? atomic_load_explicit(&wb->progress, memory_order_relaxed) : SHM_PROGRESS_NONE;

	if (pm == SHM_PROGRESS_NONE)
		cJSON_AddNullToObject(o, "progress");
	else
		cJSON_AddNumberToObject(o, "progress", (pm > 1000 ? 1000 : pm) / 1000.0);
}

/* A task as JSON: the short form for lists, the full one for status. */
static cJSON *
task_view(struct server *sv, uint64_t id, const struct task_rec *r, bool full)
{
	const struct kernel *k = kernel_by_id(r->kernel);
	cJSON *o = cJSON_CreateObject();
	int worker;
	enum task_state st = live_state(sv, id, r, &worker);

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)id);
	if (r->name_len)
		add_str_n(o, "name", r->name, r->name_len);
	else
		cJSON_AddNullToObject(o, "name");
	cJSON_AddStringToObject(o, "kernel", k ? k->name : "unknown");
	cJSON_AddStringToObject(o, "state", task_state_name(st));
	cJSON_AddNumberToObject(o, "priority", r->prio);
	cJSON_AddNumberToObject(o, "submitted", secs(r->submit_ns));
	if (!full)
		return o;
	cJSON_AddNumberToObject(o, "timeout", r->timeout_ms / 1000.0);
	cJSON_AddNumberToObject(o, "retries", r->retries);
	cJSON_AddNumberToObject(o, "retry_delay", r->retry_delay_ms / 1000.0);
	if (r->key_len)
		add_str_n(o, "key", r->key, r->key_len);
	else
		cJSON_AddNullToObject(o, "key");
	if (r->flags & TASK_F_ARRAY)
		cJSON_AddNumberToObject(o, "array_index", r->array_index);
	else
		cJSON_AddNullToObject(o, "array_index");
	if (r->ndeps) {
		cJSON *a = cJSON_AddArrayToObject(o, "after");

		for (uint32_t i = 0; i < r->ndeps && i < 10000; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber((double)task_dep(r, i)));
	}
	cJSON_AddBoolToObject(o, "after_any", (r->flags & TASK_F_AFTER_ANY) != 0);
	{
		struct hist_ctx hc = { cJSON_AddArrayToObject(o, "history") };
		unsigned recorded;

		store_get_attempts(&sv->store, id, hist_fn, &hc);
		recorded = (unsigned)cJSON_GetArraySize(hc.arr);
		/* The last ended attempt is the record itself (store.c). */
		if (r->attempts > recorded && (task_state_terminal((enum task_state)r->state))) {
			struct task_attempt a = {
				.outcome = r->state, .worker = (int16_t)r->worker, .cpu = r->cpu,
				.exit_code = r->exit_code, .term_signal = r->term_signal,
				.start_ns = r->start_ns, .end_ns = r->end_ns,
				.reason_len = r->reason_len,
			};

			memcpy(a.reason, r->reason, r->reason_len);
			a.reason[r->reason_len] = '\0';
			hist_fn(&hc, r->attempts, &a);
		}
	}
	if (k) {
		cJSON *args = kernel_describe(k, r->blob, r->blob_len);

		if (args && k->id == KERNEL_ID_EXEC) {
			/* exec shows argv, env, cwd at the top level, as submitted */
			cJSON *it;

			while ((it = args->child)) {
				cJSON_DetachItemViaPointer(args, it);
				cJSON_AddItemToObject(o, it->string, it);
			}
			cJSON_Delete(args);
		} else if (args) {
			cJSON_AddItemToObject(o, "args", args);
		}
	}
	if (st == TASK_RUNNING) {
		struct wblock *wb = shm_wblock(&sv->shm, (unsigned)worker);
		uint64_t start = atomic_load_explicit(&wb->start_ns, memory_order_relaxed);

		cJSON_AddNumberToObject(o, "started", secs(sys_wall_ns() - (sys_now_ns() - start)));
		cJSON_AddNullToObject(o, "ended");
		cJSON_AddNumberToObject(o, "attempts", r->attempts + 1);
		cJSON_AddNullToObject(o, "exit_code");
		cJSON_AddNullToObject(o, "signal");
		cJSON_AddNullToObject(o, "reason");
		cJSON_AddNumberToObject(o, "worker", worker);
		cJSON_AddNumberToObject(o, "cpu", wb->cpu);
		add_progress(o, wb);
		return o;
	}
	if (r->start_ns)
		cJSON_AddNumberToObject(o, "started", secs(r->start_ns));
	else
		cJSON_AddNullToObject(o, "started");
	if (r->end_ns)
		cJSON_AddNumberToObject(o, "ended", secs(r->end_ns));
	else
		cJSON_AddNullToObject(o, "ended");
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	if (task_state_terminal(st) && st != TASK_CANCELLED && st != TASK_LOST)
		cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	else
		cJSON_AddNullToObject(o, "exit_code");
	if (r->term_signal)
		cJSON_AddNumberToObject(o, "signal", r->term_signal);
	else
		cJSON_AddNullToObject(o, "signal");
	if (r->reason_len)
		add_str_n(o, "reason", r->reason, r->reason_len);
	else
		cJSON_AddNullToObject(o, "reason");
	if (r->worker >= 0) {
		cJSON_AddNumberToObject(o, "worker", r->worker);
		cJSON_AddNumberToObject(o, "cpu", r->cpu);
	} else {
		cJSON_AddNullToObject(o, "worker");
		cJSON_AddNullToObject(o, "cpu");
	}
	if (r->end_ns && r->start_ns) {
		cJSON *res = cJSON_AddObjectToObject(o, "resources");

		cJSON_AddNumberToObject(res, "wall", (double)(r->end_ns - r->start_ns) / 1e9);
		cJSON_AddNumberToObject(res, "user", (double)r->user_us / 1e6);
		cJSON_AddNumberToObject(res, "system", (double)r->sys_us / 1e6);
		cJSON_AddNumberToObject(res, "max_rss_kb", (double)r->maxrss_kb);
		cJSON_AddNumberToObject(res, "cpu", r->cpu);
	}
	return o;
}

struct bytes_ctx {
	cJSON *o;
};

/* Raw result bytes travel as base64 in "bytes". */
static int
bytes_fn(void *arg, const void *data, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct bytes_ctx *b = arg;
	const unsigned char *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *w = out;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);

		*w++ = tab[v >> 18];
		*w++ = tab[(v >> 12) & 63];
		*w++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*w++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*w = '\0';
	cJSON_AddNumberToObject(b->o, "bytes_len", (double)len);
	cJSON_AddStringToObject(b->o, "bytes", out);
	free(out);
	return 0;
}

struct view_ctx {
	struct server *sv;
	bool want_bytes;
	cJSON *out;
	int want;                /* state filter, -1 = none */
	size_t limit, n;
	bool more;
};

static int
status_fn(void *arg, uint64_t id, const struct task_rec *r)
{
	struct view_ctx *v = arg;

	v->out = task_view(v->sv, id, r, true);
	return 0;
}

static int
result_fn(void *arg, uint64_t id, const struct task_rec *r)
{
	struct view_ctx *v = arg;
	cJSON *o;

	if (!task_state_terminal((enum task_state)r->state))
		return -EAGAIN;
	o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "state", task_state_name(r->state));
	if (r->state == TASK_LOST || r->state == TASK_CANCELLED)
		cJSON_AddNullToObject(o, "exit_code");
	else
		cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	if (v->want_bytes) {
		struct bytes_ctx bc = { o };

		if (store_get_bytes(v->sv ? &v->sv->store : NULL, id, bytes_fn, &bc) == -ENOENT)
			cJSON_AddNumberToObject(o, "bytes_len", 0);
	}
	if (r->result_len) {
		cJSON *res = cJSON_ParseWithLength(r->result, r->result_len);

		if (res)
			cJSON_AddItemToObject(o, "result", res);
		else
			cJSON_AddNullToObject(o, "result");
	} else {
		cJSON_AddNullToObject(o, "result");
	}
	v->out = o;
	return 0;
}

static int
list_fn(void *arg, uint64_t id, const struct task_rec *r)
{
	struct view_ctx *v = arg;
	int worker;
	enum task_state st = live_state(v->sv, id, r, &worker);

	if (v->want >= 0 && (int)st != v->want)
		return 0;
	if (v->n == v->limit) {
		v->more = true;
		return 1;
	}
	cJSON_AddItemToArray(v->out, task_view(v->sv, id, r, false));
	v->n++;
	return 0;
}

static int
exists_fn(void *arg, uint64_t id, const struct task_rec *r)
{
	(void)arg;
	(void)id;
	(void)r;
	return 0;
}

static void
do_status_or_result(struct server *sv, uint32_t slot, const struct proto_req *req)
{
	struct proto_error e;
	struct view_ctx v = { .sv = sv };
	uint64_t id;
	int rc;

	if (proto_get_id(req->data, "id", &id, &e) < 0) {
		reply_error(sv, slot, &e);
		return;
	}
	{
		const cJSON *jb = cJSON_GetObjectItemCaseSensitive(req->data, "bytes");

		v.want_bytes = req->type == REQ_TASK_RESULT && cJSON_IsTrue(jb);
	}
	rc = store_get(&sv->store, id, req->type == REQ_TASK_STATUS ? status_fn : result_fn, &v);
	if (rc == -ENOENT) {
		proto_error_set(&e, FORQ_ENOTFOUND, "no task %llu", (unsigned long long)id);
		reply_error(sv, slot, &e);
	} else if (rc == -EAGAIN) {
		proto_error_set(&e, FORQ_ENOTDONE, "task %llu has not finished", (unsigned long long)id);
		reply_error(sv, slot, &e);
	} else if (rc < 0 || !v.out) {
		reply_code(sv, slot, FORQ_EINTERNAL, "store read failed");
	} else {
		reply_ok(sv, slot, req->type, v.out);
	}
}

/* Copy @n bytes into a NUL-terminated string with invalid UTF-8 replaced by '?'. */
static char *
utf8_clean(const unsigned char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t i = 0, j = 0;

	if (!o)
		return NULL;
	while (i < n) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = len > 0 && i + len <= n && c != 0;

		for (size_t k = 1; ok && k < len; k++)
			ok = (s[i + k] & 0xc0) == 0x80;
		if (!ok) {
			o[j++] = '?';
			i++;
			continue;
		}
		memcpy(o + j, s + i, len);
		i += len;
		j += len;
	}
	o[j] = '\0';
	return o;
}

static void
do_log(struct server *sv, uint32_t slot, const struct proto_req *req)
{
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(req->data, "stream");
	const cJSON *jm = cJSON_GetObjectItemCaseSensitive(req->data, "max");
	struct proto_error e;
	const char *stream = "stdout";
	char path[4200];
	size_t max = LOG_DEFAULT;
	unsigned char *buf;
	struct stat st;
	uint64_t id;
	off_t from = 0;
	ssize_t got;
	cJSON *o;
	char *text;
	int fd, rc;

	if (proto_get_id(req->data, "id", &id, &e) < 0) {
		reply_error(sv, slot, &e);
		return;
	}
	if (js) {
		if (!cJSON_IsString(js) || (strcmp(js->valuestring, "stdout") && strcmp(js->valuestring, "stderr"))) {
			reply_code(sv, slot, FORQ_EBADFIELD, "\"stream\" must be \"stdout\" or \"stderr\"");
			return;
		}
		stream = js->valuestring;
	}
	if (jm) {
		if (!cJSON_IsNumber(jm) || jm->valuedouble < 1 || jm->valuedouble > (double)sv->cfg.max_msg / 2) {
			reply_code(sv, slot, FORQ_EBADFIELD, "\"max\" must be a positive byte count below half the message limit");
			return;
		}
		max = (size_t)jm->valuedouble;
	}
	rc = store_get(&sv->store, id, exists_fn, NULL);
	if (rc == -ENOENT) {
		proto_error_set(&e, FORQ_ENOTFOUND, "no task %llu", (unsigned long long)id);
		reply_error(sv, slot, &e);
		return;
	}
	snprintf(path, sizeof(path), "%s/logs/%02x/%llu.%s", sv->cfg.state_dir, (unsigned)(id & 0xff),
		 (unsigned long long)id,
		 strcmp(stream, "stdout") == 0 ? "out" : "err");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "stream", stream);
	cJSON_AddStringToObject(o, "path", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		cJSON_AddNumberToObject(o, "size", 0);
		cJSON_AddStringToObject(o, "data", "");
		cJSON_AddBoolToObject(o, "truncated", false);
		reply_ok(sv, slot, REQ_TASK_LOG, o);
		return;
	}
	if ((size_t)st.st_size > max)
		from = st.st_size - (off_t)max;
	buf = malloc(max);
	got = buf ? pread(fd, buf, max, from) : -1;
	close(fd);
	text = got >= 0 ? utf8_clean(buf, (size_t)got) : NULL;
	free(buf);
	if (!text) {
		cJSON_Delete(o);
		reply_code(sv, slot, FORQ_EINTERNAL, "cannot read the log");
		return;
	}
	cJSON_AddNumberToObject(o, "size", (double)st.st_size);
	cJSON_AddStringToObject(o, "data", text);
	cJSON_AddBoolToObject(o, "truncated", from > 0);
	free(text);
	reply_ok(sv, slot, REQ_TASK_LOG, o);
}

static void
do_list(struct server *sv, uint32_t slot, const struct proto_req *req)
{
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(req->data, "state");
	const cJSON *jl = cJSON_GetObjectItemCaseSensitive(req->data, "limit");
	const cJSON *ja = cJSON_GetObjectItemCaseSensitive(req->data, "after");
	struct view_ctx v = { .sv = sv, .want = -1, .limit = LIST_DEFAULT };
	uint64_t after = 0;
	cJSON *o;
	int rc;

	if (js && (!cJSON_IsString(js) || (v.want = task_state_parse(js->valuestring)) < 0)) {
		reply_code(sv, slot, FORQ_EBADFIELD,
			   "\"state\" must be one of QUEUED WAITING RUNNING DONE FAILED TIMEOUT LOST CANCELLED");
		return;
	}
	if (jl) {
		if (!cJSON_IsNumber(jl) || jl->valuedouble < 1 || jl->valuedouble > LIST_MAX) {
			reply_code(sv, slot, FORQ_EBADFIELD, "\"limit\" must be an integer from 1 to 100000");
			return;
		}
		v.limit = (size_t)jl->valuedouble;
	}
	if (ja) {
		if (!cJSON_IsNumber(ja) || ja->valuedouble < 0) {
			reply_code(sv, slot, FORQ_EBADFIELD, "\"after\" must be a task id");
			return;
		}
		after = (uint64_t)ja->valuedouble;
	}
	o = cJSON_CreateObject();
	v.out = cJSON_AddArrayToObject(o, "tasks");
	rc = store_scan(&sv->store, after, list_fn, &v);
	if (rc < 0) {
		cJSON_Delete(o);
		reply_code(sv, slot, FORQ_EINTERNAL, "store read failed");
		return;
	}
	cJSON_AddBoolToObject(o, "more", v.more);
	reply_ok(sv, slot, REQ_TASK_LIST, o);
}

static cJSON *
counts_json(const uint64_t *counts)
{
	cJSON *c = cJSON_CreateObject();

	for (int st = TASK_DONE; st < TASK_STATE__COUNT; st++)
		cJSON_AddNumberToObject(c, task_state_name(st), (double)counts[st]);
	return c;
}

struct wait_ctx {
	bool terminal;
	uint8_t state;
};

static int
wait_fn(void *arg, uint64_t id, const struct task_rec *r)
{
	struct wait_ctx *w = arg;

	(void)id;
	w->terminal = task_state_terminal((enum task_state)r->state);
	w->state = r->state;
	return 0;
}

/* Advance @w; returns true when it is complete. */
static bool
waiter_check(struct server *sv, struct waiter *w)
{
	if (w->all) {
		uint64_t q = atomic_load_explicit(&sv->store.count[TASK_QUEUED], memory_order_relaxed);
		uint64_t wt = atomic_load_explicit(&sv->store.count[TASK_WAITING], memory_order_relaxed);

		return q == 0 && wt == 0;
	}
	while (w->pos < w->n) {
		struct wait_ctx c = { false, 0 };

		if (store_get(&sv->store, w->ids[w->pos], wait_fn, &c) < 0 || !c.terminal)
			return false;
		w->counts[c.state]++;
		w->pos++;
	}
	return true;
}

static void
waiter_reply(struct server *sv, struct waiter *w, bool complete)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "complete", complete);
	if (w->all) {
		uint64_t counts[TASK_STATE__COUNT], total = 0, fin = 0;

		for (int st = 0; st < TASK_STATE__COUNT; st++) {
			counts[st] = atomic_load_explicit(&sv->store.count[st], memory_order_relaxed);
			total += counts[st];
			if (task_state_terminal((enum task_state)st))
				fin += counts[st];
		}
		cJSON_AddNumberToObject(o, "total", (double)total);
		cJSON_AddNumberToObject(o, "finished", (double)fin);
		cJSON_AddItemToObject(o, "counts", counts_json(counts));
	} else {
		cJSON_AddNumberToObject(o, "total", (double)w->n);
		cJSON_AddNumberToObject(o, "finished", (double)w->pos);
		cJSON_AddItemToObject(o, "counts", counts_json(w->counts));
	}
	reply_ok(sv, w->slot, REQ_TASK_WAIT, o);
}

static void
do_wait(struct server *sv, uint32_t slot, const struct proto_req *req)
{
	const cJSON *jids = cJSON_GetObjectItemCaseSensitive(req->data, "ids");
	const cJSON *jall = cJSON_GetObjectItemCaseSensitive(req->data, "all");
	struct proto_error e;
	struct waiter *w;
	uint64_t ms = 0;

	if (proto_get_duration_ms(req->data, "timeout", &ms, FORQ_ETIMEOUT, &e) < 0) {
		reply_error(sv, slot, &e);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		reply_code(sv, slot, FORQ_EINTERNAL, "out of memory");
		return;
	}
	w->slot = slot;
	w->gen = sv->conns[slot].gen;
	if (jall && cJSON_IsTrue(jall)) {
		w->all = true;
	} else if (jids) {
		if (proto_get_ids(req->data, "ids", &w->ids, &w->n, PROTO_BATCH_MAX, &e) < 0) {
			free(w);
			reply_error(sv, slot, &e);
			return;
		}
		for (size_t i = 0; i < w->n; i++) {
			if (store_get(&sv->store, w->ids[i], exists_fn, NULL) == -ENOENT) {
				proto_error_set(&e, FORQ_ENOTFOUND, "no task %llu", (unsigned long long)w->ids[i]);
				free(w->ids);
				free(w);
				reply_error(sv, slot, &e);
				return;
			}
		}
	} else {
		free(w);
		reply_code(sv, slot, FORQ_EMISSING, "TASK_WAIT needs \"ids\" (a non-empty array) or \"all\": true");
		return;
	}
	/* The generation is read before the check: a commit that lands
	 * between the two bumps it past gen_checked, so verbs_waiters looks
	 * again (reading it after would lose that wake-up). */
	w->gen_checked = atomic_load_explicit(&sv->store.generation, memory_order_acquire);
	if (waiter_check(sv, w) || ms == 0) {
		waiter_reply(sv, w, waiter_check(sv, w));
		free(w->ids);
		free(w);
		return;
	}
	w->deadline_ns = sys_now_ns() + ms * 1000000u;
	w->next = sv->waiters;
	sv->waiters = w;
	sv->conns[slot].busy = true;
	server_tick_rate(sv);
}

void
verbs_waiters(struct server *sv, uint64_t now)
{
	struct waiter **wp = &sv->waiters, *w;
	/* A4: pairs with R4 in the store thread: counts are current. */
	uint64_t gen = atomic_load_explicit(&sv->store.generation, memory_order_acquire);

	while ((w = *wp)) {
		struct conn *c = server_conn(sv, w->slot, w->gen);
		bool done = false, expired = now >= w->deadline_ns;

		if (!c) {
			*wp = w->next;
			free(w->ids);
			free(w);
			continue;
		}
		if (gen != w->gen_checked || expired) {
			w->gen_checked = gen;
			done = waiter_check(sv, w);
		}
		if (done || expired) {
			*wp = w->next;
			waiter_reply(sv, w, done);
			server_resume(sv, w->slot);
			free(w->ids);
			free(w);
			continue;
		}
		wp = &w->next;
	}
}

void
verbs_free_waiters(struct server *sv)
{
	while (sv->waiters) {
		struct waiter *w = sv->waiters;

		sv->waiters = w->next;
		free(w->ids);
		free(w);
	}
}

static void
do_workers(struct server *sv, uint32_t slot)
{
	static const char *const names[] = { "empty", "starting", "idle", "busy", "exiting", "dead" };
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "workers");
	uint64_t now = sys_now_ns();

	for (unsigned i = 0; i < sv->nslots; i++) {
		struct wblock *wb = shm_wblock(&sv->shm, i);
		struct sup_worker *sw = &sv->sup.w[i];
		cJSON *w = cJSON_CreateObject();
		uint32_t st = atomic_load_explicit(&wb->state, memory_order_relaxed);
		uint64_t hb = atomic_load_explicit(&wb->heartbeat, memory_order_relaxed);
		uint64_t task = atomic_load_explicit(&wb->task_id, memory_order_relaxed);

		if (hb != sw->hb_seen) {
			sw->hb_seen = hb;
			sw->hb_seen_ns = now;
		}
		cJSON_AddNumberToObject(w, "index", i);
		cJSON_AddNumberToObject(w, "pid", atomic_load_explicit(&wb->pid, memory_order_relaxed));
		cJSON_AddNumberToObject(w, "core", wb->core);
		cJSON_AddStringToObject(w, "cpus", sv->slots[i].cpus);
		cJSON_AddNumberToObject(w, "numa", sv->slots[i].numa);
		cJSON_AddStringToObject(w, "state", st < 6 ? names[st] : "unknown");
		if (task)
			cJSON_AddNumberToObject(w, "task", (double)task);
		else
			cJSON_AddNullToObject(w, "task");
		cJSON_AddNumberToObject(w, "heartbeat", (double)hb);
		cJSON_AddNumberToObject(w, "heartbeat_age_ms", (double)((now - sw->hb_seen_ns) / 1000000u));
		cJSON_AddNumberToObject(w, "tasks_done",
					(double)atomic_load_explicit(&wb->tasks_done, memory_order_relaxed));
		cJSON_AddNumberToObject(w, "busy_ms",
					(double)(atomic_load_explicit(&wb->busy_ns, memory_order_relaxed) / 1000000u));
		cJSON_AddNumberToObject(w, "restarts", wb->restarts);
		add_progress(w, task ? wb : NULL);
		cJSON_AddItemToArray(arr, w);
	}
	reply_ok(sv, slot, REQ_WORKER_LIST, o);
}

static void
do_stats(struct server *sv, uint32_t slot)
{
	cJSON *o = cJSON_CreateObject(), *c = cJSON_AddObjectToObject(o, "counts");
	uint64_t counts[TASK_STATE__COUNT], total = 0, fin = 0, now = sys_now_ns();
	unsigned running = running_count(sv), newest = sv->rate_i, oldest = (sv->rate_i + 1) % 11;
	double up = (double)(now - sv->start_ns) / 1e9, rate = 0;

	for (int st = 0; st < TASK_STATE__COUNT; st++) {
		counts[st] = atomic_load_explicit(&sv->store.count[st], memory_order_relaxed);
		total += counts[st];
		if (task_state_terminal((enum task_state)st))
			fin += counts[st];
	}
	counts[TASK_RUNNING] = running;
	counts[TASK_QUEUED] = counts[TASK_QUEUED] > running ? counts[TASK_QUEUED] - running : 0;
	for (int st = 0; st < TASK_STATE__COUNT; st++)
		cJSON_AddNumberToObject(c, task_state_name(st), (double)counts[st]);
	if (!sv->rate_ns[oldest])
		oldest = 0;
	if (sv->rate_ns[newest] > sv->rate_ns[oldest] && sv->rate_ns[oldest])
		rate = (double)(sv->rate_fin[newest] - sv->rate_fin[oldest]) /
		       ((double)(sv->rate_ns[newest] - sv->rate_ns[oldest]) / 1e9);
	cJSON_AddNumberToObject(o, "submitted", (double)total);
	cJSON_AddNumberToObject(o, "finished", (double)fin);
	cJSON_AddNumberToObject(o, "uptime", up);
	cJSON_AddNumberToObject(o, "tasks_per_s", rate);
	cJSON_AddNumberToObject(o, "tasks_per_s_avg",
				up > 0 ? (double)atomic_load(&sv->store.finished) / up : 0);
	cJSON_AddNumberToObject(o, "workers", sv->nslots);
	cJSON_AddStringToObject(o, "sync", sv->cfg.nosync ? "nosync" : "fsync");
	cJSON_AddNumberToObject(o, "commits", (double)atomic_load(&sv->store.commits));
	cJSON_AddNumberToObject(o, "backlog", (double)atomic_load(&sv->store.backlog_len));
	cJSON_AddNumberToObject(o, "ring_size", (double)sv->cfg.ring_size);
	cJSON_AddStringToObject(o, "version", VERSION);
	reply_ok(sv, slot, REQ_STATS, o);
}

static void
do_kernels(struct server *sv, uint32_t slot)
{
	cJSON *o = cJSON_CreateObject(), *all = kernel_describe_all();

	if (!o || !all) {
		cJSON_Delete(o);
		cJSON_Delete(all);
		reply_code(sv, slot, FORQ_EINTERNAL, "out of memory");
		return;
	}
	cJSON_AddItemToObject(o, "kernels", all);
	reply_ok(sv, slot, REQ_KERNEL_LIST, o);
}

static void
do_submit(struct server *sv, uint32_t slot, const struct proto_req *req)
{
	struct proto_error e;
	struct store_submit *sub = calloc(1, sizeof(*sub));

	if (!sub) {
		reply_code(sv, slot, FORQ_EINTERNAL, "out of memory");
		return;
	}
	if (proto_parse_submit(req->data, &sub->batch, &e) < 0) {
		free(sub);
		reply_error(sv, slot, &e);
		return;
	}
	sub->kind = STORE_SUBMIT;
	sub->ticket = (void *)(uintptr_t)(((uint64_t)sv->conns[slot].gen << 32) | slot);
	sv->conns[slot].busy = true;
	store_submit(&sv->store, sub);
}

static cJSON *
submit_reply(const struct store_submit *d)
{
	cJSON *o = cJSON_CreateObject();
	size_t nexist = 0;

	for (size_t i = 0; i < d->ntasks; i++)
		nexist += d->existing[i];
	if (d->ntasks == 1) {
		cJSON_AddNumberToObject(o, "id", (double)d->task_ids[0]);
		if (d->existing[0])
			cJSON_AddTrueToObject(o, "existing");
	}
	if (d->created) {
		cJSON_AddNumberToObject(o, "first", (double)d->first);
		cJSON_AddNumberToObject(o, "last", (double)d->last);
	} else {
		cJSON_AddNullToObject(o, "first");
		cJSON_AddNullToObject(o, "last");
	}
	cJSON_AddNumberToObject(o, "count", (double)d->created);
	if (nexist && d->ntasks > 1) {
		cJSON *arr = cJSON_AddArrayToObject(o, "existing");

		for (size_t i = 0; i < d->ntasks; i++) {
			if (!d->existing[i])
				continue;
			cJSON *e = cJSON_CreateObject();

			cJSON_AddNumberToObject(e, "index", (double)i);
			cJSON_AddNumberToObject(e, "id", (double)d->task_ids[i]);
			cJSON_AddItemToArray(arr, e);
		}
	}
	/* Ids per task when they are not simply first..last in order. */
	if (d->ntasks > 1 && (nexist || d->created != d->ntasks)) {
		cJSON *arr = cJSON_AddArrayToObject(o, "ids");

		for (size_t i = 0; i < d->ntasks; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)d->task_ids[i]));
	}
	return o;
}

static cJSON *
cancel_reply(const struct store_submit *d)
{
	cJSON *o = cJSON_CreateObject(), *arr;

	cJSON_AddNumberToObject(o, "cancelled", (double)d->cancelled);
	arr = cJSON_AddArrayToObject(o, "ids");
	for (size_t i = 0; i < d->ncancelled_ids; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)d->cancelled_ids[i]));
	cJSON_AddBoolToObject(o, "truncated", d->cancelled > d->ncancelled_ids);
	return o;
}

void
verbs_store_done(struct server *sv)
{
	struct store_submit *d = store_take_done(&sv->store);

	while (d) {
		struct store_submit *next = d->next;
		uint64_t t = (uint64_t)(uintptr_t)d->ticket;
		uint32_t slot = (uint32_t)t, gen = (uint32_t)(t >> 32);

		if (server_conn(sv, slot, gen)) {
			if (d->err)
				reply_code(sv, slot, (enum forq_err)d->err, d->errmsg[0] ? d->errmsg : NULL);
			else if (d->kind == STORE_CANCEL)
				reply_ok(sv, slot, REQ_TASK_CANCEL, cancel_reply(d));
			else
				reply_ok(sv, slot, REQ_TASK_SUBMIT, submit_reply(d));
			if (server_conn(sv, slot, gen))
				server_resume(sv, slot);
		}
		store_req_free(d);
		d = next;
	}
}

static void
do_cancel(struct server *sv, uint32_t slot, const struct proto_req *req)
{
	struct proto_error e;
	struct store_submit *sub = calloc(1, sizeof(*sub));

	if (!sub) {
		reply_code(sv, slot, FORQ_EINTERNAL, "out of memory");
		return;
	}
	sub->kind = STORE_CANCEL;
	if (proto_parse_cancel(req->data, &sub->cancel, &e) < 0) {
		free(sub);
		reply_error(sv, slot, &e);
		return;
	}
	sub->ticket = (void *)(uintptr_t)(((uint64_t)sv->conns[slot].gen << 32) | slot);
	sv->conns[slot].busy = true;
	store_submit(&sv->store, sub);
}

void
verbs_request(struct server *sv, uint32_t slot, const char *line, size_t len)
{
	struct proto_error e;
	struct proto_req req;

	if (proto_parse_request(line, len, &req, &e) < 0) {
		reply_error(sv, slot, &e);
		return;
	}
	switch (req.type) {
	case REQ_TASK_SUBMIT:
		do_submit(sv, slot, &req);
		break;
	case REQ_TASK_STATUS:
	case REQ_TASK_RESULT:
		do_status_or_result(sv, slot, &req);
		break;
	case REQ_TASK_LOG:
		do_log(sv, slot, &req);
		break;
	case REQ_TASK_LIST:
		do_list(sv, slot, &req);
		break;
	case REQ_TASK_WAIT:
		do_wait(sv, slot, &req);
		break;
	case REQ_WORKER_LIST:
		do_workers(sv, slot);
		break;
	case REQ_STATS:
		do_stats(sv, slot);
		break;
	case REQ_SHUTDOWN:
		reply_ok(sv, slot, REQ_SHUTDOWN, NULL);
		log_info("shutdown requested");
		sv->stop = true;
		break;
	case REQ_TASK_CANCEL:
		do_cancel(sv, slot, &req);
		break;
	case REQ_KERNEL_LIST:
		do_kernels(sv, slot);
		break;
	case REQ__COUNT:
		break;
	}
	proto_req_free(&req);
}
