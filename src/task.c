/*
 * task — states, transition table, record packing (see task.h).
 * Pure functions; any thread, any process.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "task.h"

static const char *const state_names[TASK_STATE__COUNT] = {
	"QUEUED", "WAITING", "RUNNING", "DONE", "FAILED", "TIMEOUT", "LOST", "CANCELLED",
};

/* [state][event] -> next state, -1 = refused.  tests/test_task.c walks it. */
static const signed char transitions[TASK_STATE__COUNT][TEV__COUNT] = {
	/*                RELEASE       START         DONE       FAIL         TIMEOUT       LOST       RETRY         CANCEL */
	[TASK_QUEUED]  = { -1,          TASK_RUNNING, TASK_DONE, TASK_FAILED, TASK_TIMEOUT, TASK_LOST, TASK_QUEUED,  TASK_CANCELLED },
	[TASK_WAITING] = { TASK_QUEUED, -1,           -1,        -1,          -1,           -1,        -1,           TASK_CANCELLED },
	[TASK_RUNNING] = { -1,          -1,           TASK_DONE, TASK_FAILED, TASK_TIMEOUT, TASK_LOST, TASK_QUEUED,  TASK_CANCELLED },
	[TASK_DONE]      = { -1, -1, -1, -1, -1, -1, -1, -1 },
	[TASK_FAILED]    = { -1, -1, -1, -1, -1, -1, -1, -1 },
	[TASK_TIMEOUT]   = { -1, -1, -1, -1, -1, -1, -1, -1 },
	[TASK_LOST]      = { -1, -1, -1, -1, -1, -1, -1, -1 },
	[TASK_CANCELLED] = { -1, -1, -1, -1, -1, -1, -1, -1 },
};

const char *
task_state_name(enum task_state s)
{
	return (unsigned)s < TASK_STATE__COUNT ? state_names[s] : "UNKNOWN";
}

int
task_state_parse(const char *s)
{
	for (int i = 0; i < TASK_STATE__COUNT; i++)
		if (s && strcasecmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

bool
task_state_terminal(enum task_state s)
{
	return s >= TASK_DONE && s < TASK_STATE__COUNT;
}

int
task_transition(enum task_state from, enum task_event ev)
{
	if ((unsigned)from >= TASK_STATE__COUNT || (unsigned)ev >= TEV__COUNT)
		return -1;
	return transitions[from][ev];
}

void
task_put_be(unsigned char *p, uint64_t v, unsigned n)
{
	switch (n) {
	case 8: {
		uint64_t x = htobe64(v);

		memcpy(p, &x, 8);
		return;
	}
	case 4: {
		uint32_t x = htobe32((uint32_t)v);

		memcpy(p, &x, 4);
		return;
	}
	case 2: {
		uint16_t x = htobe16((uint16_t)v);

		memcpy(p, &x, 2);
		return;
	}
	}
	for (unsigned i = 0; i < n; i++)
		p[n - 1 - i] = (unsigned char)(v >> (8 * i));
}

uint64_t
task_get_be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	switch (n) {
	case 8: {
		uint64_t x;

		memcpy(&x, p, 8);
		return be64toh(x);
	}
	case 4: {
		uint32_t x;

		memcpy(&x, p, 4);
		return be32toh(x);
	}
	case 2: {
		uint16_t x;

		memcpy(&x, p, 2);
		return be16toh(x);
	}
	}
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

size_t
task_packed_size(const struct task_rec *r)
{
	return TASK_REC_FIXED + r->reason_len + r->name_len + r->key_len + (size_t)r->ndeps * 8u +
	       r->blob_len + r->result_len;
}

void
task_pack(const struct task_rec *r, unsigned char *o)
{
	unsigned char *p;

	o[0] = TASK_REC_VERSION;
	o[1] = r->state;
	o[2] = r->prio;
	o[3] = r->flags;
	task_put_be(o + 4, r->kernel, 2);
	task_put_be(o + 6, r->attempts, 2);
	task_put_be(o + 8, r->retries, 2);
	task_put_be(o + 10, r->name_len, 2);
	task_put_be(o + 12, r->blob_len, 4);
	task_put_be(o + 16, r->result_len, 4);
	task_put_be(o + 20, (uint32_t)r->exit_code, 4);
	task_put_be(o + 24, (uint32_t)r->term_signal, 4);
	task_put_be(o + 28, r->timeout_ms, 4);
	task_put_be(o + 32, r->submit_ns, 8);
	task_put_be(o + 40, r->start_ns, 8);
	task_put_be(o + 48, r->end_ns, 8);
	task_put_be(o + 56, (uint32_t)r->worker, 4);
	task_put_be(o + 60, (uint32_t)r->cpu, 4);
	task_put_be(o + 64, r->user_us, 8);
	task_put_be(o + 72, r->sys_us, 8);
	task_put_be(o + 80, r->maxrss_kb, 8);
	task_put_be(o + 88, r->array_index, 4);
	task_put_be(o + 92, r->retry_delay_ms, 4);
	task_put_be(o + 96, r->ndeps, 4);
	o[100] = r->key_len;
	o[101] = r->reason_len;
	p = o + TASK_REC_FIXED;
	if (r->reason_len)
		memcpy(p, r->reason, r->reason_len);
	p += r->reason_len;
	if (r->name_len)
		memcpy(p, r->name, r->name_len);
	p += r->name_len;
	if (r->key_len)
		memcpy(p, r->key, r->key_len);
	p += r->key_len;
	if (r->ndeps)
		memcpy(p, r->deps, (size_t)r->ndeps * 8u);
	p += (size_t)r->ndeps * 8u;
	if (r->blob_len)
		memcpy(p, r->blob, r->blob_len);
	p += r->blob_len;
	if (r->result_len)
		memcpy(p, r->result, r->result_len);
}

int
task_unpack(const unsigned char *in, size_t len, struct task_rec *r)
{
	size_t need;

	if (len < 1)
		return -EBADMSG;
	if (in[0] != TASK_REC_VERSION)
		return -EPROTO;
	if (len < TASK_REC_FIXED)
		return -EBADMSG;
	memset(r, 0, sizeof(*r));
	r->state = in[1];
	r->prio = in[2];
	r->flags = in[3];
	r->kernel = (uint16_t)task_get_be(in + 4, 2);
	r->attempts = (uint16_t)task_get_be(in + 6, 2);
	r->retries = (uint16_t)task_get_be(in + 8, 2);
	r->name_len = (uint16_t)task_get_be(in + 10, 2);
	r->blob_len = (uint32_t)task_get_be(in + 12, 4);
	r->result_len = (uint32_t)task_get_be(in + 16, 4);
	r->exit_code = (int32_t)task_get_be(in + 20, 4);
	r->term_signal = (int32_t)task_get_be(in + 24, 4);
	r->timeout_ms = (uint32_t)task_get_be(in + 28, 4);
	r->submit_ns = task_get_be(in + 32, 8);
	r->start_ns = task_get_be(in + 40, 8);
	r->end_ns = task_get_be(in + 48, 8);
	r->worker = (int32_t)task_get_be(in + 56, 4);
	r->cpu = (int32_t)task_get_be(in + 60, 4);
	r->user_us = task_get_be(in + 64, 8);
	r->sys_us = task_get_be(in + 72, 8);
	r->maxrss_kb = task_get_be(in + 80, 8);
	r->array_index = (uint32_t)task_get_be(in + 88, 4);
	r->retry_delay_ms = (uint32_t)task_get_be(in + 92, 4);
	r->ndeps = (uint32_t)task_get_be(in + 96, 4);
	r->key_len = in[100];
	r->reason_len = in[101];
	if (r->state >= TASK_STATE__COUNT || r->state == TASK_RUNNING || r->prio > 9 ||
	    r->reason_len > TASK_REASON_MAX || r->name_len > TASK_NAME_MAX ||
	    r->ndeps > TASK_DEPS_MAX)
		return -EBADMSG;
	need = (size_t)TASK_REC_FIXED + r->reason_len + r->name_len + r->key_len +
	       (size_t)r->ndeps * 8u + r->blob_len + r->result_len;
	if (need != len)
		return -EBADMSG;
	r->reason = (const char *)in + TASK_REC_FIXED;
	r->name = r->reason + r->reason_len;
	r->key = r->name + r->name_len;
	r->deps = (const unsigned char *)r->key + r->key_len;
	r->blob = r->deps + (size_t)r->ndeps * 8u;
	r->result = (const char *)r->blob + r->blob_len;
	return 0;
}

uint64_t
task_dep(const struct task_rec *r, uint32_t i)
{
	return task_get_be(r->deps + (size_t)i * 8u, 8);
}

size_t
task_attempt_pack(const struct task_attempt *a, unsigned char *o)
{
	o[0] = 1;
	o[1] = a->outcome;
	task_put_be(o + 2, (uint16_t)a->worker, 2);
	task_put_be(o + 4, (uint32_t)a->cpu, 4);
	task_put_be(o + 8, (uint32_t)a->exit_code, 4);
	task_put_be(o + 12, (uint32_t)a->term_signal, 4);
	task_put_be(o + 16, a->start_ns, 8);
	task_put_be(o + 24, a->end_ns, 8);
	o[32] = a->reason_len;
	memcpy(o + TASK_ATT_FIXED, a->reason, a->reason_len);
	return TASK_ATT_FIXED + a->reason_len;
}

int
task_attempt_unpack(const unsigned char *in, size_t len, struct task_attempt *a)
{
	if (len < 1)
		return -EBADMSG;
	if (in[0] != 1)
		return -EPROTO;
	if (len < TASK_ATT_FIXED || in[32] > TASK_REASON_MAX || len != TASK_ATT_FIXED + (size_t)in[32] ||
	    in[1] >= TASK_STATE__COUNT)
		return -EBADMSG;
	a->outcome = in[1];
	a->worker = (int16_t)task_get_be(in + 2, 2);
	a->cpu = (int32_t)task_get_be(in + 4, 4);
	a->exit_code = (int32_t)task_get_be(in + 8, 4);
	a->term_signal = (int32_t)task_get_be(in + 12, 4);
	a->start_ns = task_get_be(in + 16, 8);
	a->end_ns = task_get_be(in + 24, 8);
	a->reason_len = in[32];
	memcpy(a->reason, in + TASK_ATT_FIXED, a->reason_len);
	a->reason[a->reason_len] = '\0';
	return 0;
}
