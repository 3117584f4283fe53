/*
 * sleep — the kernel that waits: the stand-in for I/O-bound work in tests
 * and demos, and the simplest kernel that honours deadlines and cancels.
 *
 * Args:  {"ms": N}, N an integer (a JSON number without a fraction) from 0 to
 *        86400000 (one day); required; no other field.
 * Blob:  exactly 8 bytes: N as an unsigned 64-bit little-endian integer.
 *        Format 1 is known by its length; a later format will start with a
 *        version byte and have another length.
 *
 * run() sleeps on CLOCK_MONOTONIC with absolute wake-ups (so slices do not
 * drift) in slices of at most SLEEP_SLICE_NS, each ending no later than the
 * deadline.  Between slices it beats the heartbeat and reads the cancel word,
 * so a cancel is seen within one slice and a deadline within scheduling
 * latency.  Outcomes (checked in this order after every slice):
 *   DONE       N ms have passed; result {"ms":N}; exit_code 0
 *   CANCELLED  *ctx->cancel != 0; reason "cancelled"; exit_code 1
 *   TIMEOUT    ctx->deadline_ns passed; reason "timeout"; exit_code 1
 *   FAILED     malformed blob; reason "bad_blob"; exit_code 1
 * Only DONE has a result.  user_us is the thread's CPU time during run()
 * (CLOCK_THREAD_CPUTIME_ID; user and system together, near 0), sys_us and
 * maxrss_kb are 0.  run() keeps no state; ctx->beat and ctx->cancel may be
 * NULL (no heartbeat, never cancelled).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel.h"
#include "sys.h"

#define SLEEP_MS_MAX   86400000u          /* one day */
#define SLEEP_SLICE_NS 100000000u         /* longest sleep between beats */
#define SLEEP_BLOB_LEN 8                  /* format 1 */

static void
sleep_le64_put(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
sleep_le64_get(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int
sleep_prepare(const cJSON *args, struct kbuf *out, char *err, size_t errlen)
{
	const cJSON *ms = NULL;
	const cJSON *f;
	double d;

	out->data = NULL;
	out->len = 0;
	if (args == NULL || cJSON_IsNull(args)) {
		snprintf(err, errlen, "\"ms\" is required");
		return -EINVAL;
	}
	if (!cJSON_IsObject(args)) {
		snprintf(err, errlen, "args must be an object");
		return -EINVAL;
	}
	cJSON_ArrayForEach(f, args) {
		/* f->string is borrowed, read here only */
		if (f->string == NULL || strcmp(f->string, "ms") != 0) {
			snprintf(err, errlen, "unknown field \"%s\"", f->string ? f->string : "");
			return -EINVAL;
		}
		if (ms != NULL) {
			snprintf(err, errlen, "duplicate field \"ms\"");
			return -EINVAL;
		}
		ms = f;
	}
	if (ms == NULL) {
		snprintf(err, errlen, "\"ms\" is required");
		return -EINVAL;
	}
	d = cJSON_IsNumber(ms) ? ms->valuedouble : -1.0;
	/* range first, so the cast that tests for a fraction is defined */
	if (!(d >= 0.0 && d <= (double)SLEEP_MS_MAX) || (double)(uint64_t)d != d) {
		snprintf(err, errlen, "\"ms\" must be an integer from 0 to %u", SLEEP_MS_MAX);
		return -EINVAL;
	}
	out->data = malloc(SLEEP_BLOB_LEN);
	if (out->data == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	sleep_le64_put(out->data, (uint64_t)d);
	out->len = SLEEP_BLOB_LEN;
	return 0;
}

static uint64_t
sleep_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool
sleep_cancelled(const struct kctx *ctx)
{
	/* relaxed: a lone flag, nothing is published with it; a late read only delays the stop */
	return ctx->cancel != NULL && atomic_load_explicit(ctx->cancel, memory_order_relaxed) != 0;
}

static enum kernel_outcome
sleep_end(struct kctx *ctx, enum kernel_outcome o, const char *reason, uint64_t cpu0)
{
	ctx->exit_code = o == KERNEL_DONE ? 0 : 1;
	snprintf(ctx->reason, sizeof ctx->reason, "%s", reason);
	ctx->user_us = (sleep_thread_cpu_ns() - cpu0) / 1000u;
	return o;
}

static enum kernel_outcome
sleep_run(struct kctx *ctx, const void *blob, size_t len)
{
	uint64_t cpu0 = sleep_thread_cpu_ns();
	uint64_t ms, end, now, wake;
	struct timespec ts;
	int n;

	ctx->term_signal = 0;
	ctx->result_len = 0;
	ctx->user_us = 0;
	ctx->sys_us = 0;
	ctx->maxrss_kb = 0;
	if (blob == NULL || len != SLEEP_BLOB_LEN)
		return sleep_end(ctx, KERNEL_FAILED, "bad_blob", cpu0);
	ms = sleep_le64_get(blob);
	if (ms > SLEEP_MS_MAX)
		return sleep_end(ctx, KERNEL_FAILED, "bad_blob", cpu0);

	end = sys_now_ns() + ms * 1000000u;
	for (;;) {
		now = sys_now_ns();
		if (now >= end)
			break;
		if (sleep_cancelled(ctx))
			return sleep_end(ctx, KERNEL_CANCELLED, "cancelled", cpu0);
		if (ctx->deadline_ns != 0 && now >= ctx->deadline_ns)
			return sleep_end(ctx, KERNEL_TIMEOUT, "timeout", cpu0);
		wake = now + SLEEP_SLICE_NS < end ? now + SLEEP_SLICE_NS : end;
		if (ctx->deadline_ns != 0 && ctx->deadline_ns < wake)
			wake = ctx->deadline_ns;
		ts.tv_sec = (time_t)(wake / 1000000000u);
		ts.tv_nsec = (long)(wake % 1000000000u);
		/* EINTR, or any early return, just goes round the loop again */
		(void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (ctx->beat != NULL)
			ctx->beat(ctx->beat_arg);
	}
	if (ctx->result != NULL) {
		n = snprintf(ctx->result, ctx->result_cap, "{\"ms\":%" PRIu64 "}", ms);
		if (n > 0 && (size_t)n < ctx->result_cap)
			ctx->result_len = (size_t)n;
	}
	return sleep_end(ctx, KERNEL_DONE, "", cpu0);
}

/* describe: {"ms":N} back from the blob. */
static cJSON *
sleep_describe(const void *blob, size_t len)
{
	cJSON *o;

	if (len != 8)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "ms", (double)sleep_le64_get(blob));
	return o;
}

/* The registry's entry (kernels/registry.c). */
const struct kernel kernel_sleep = {
	.name = "sleep",
	.id = KERNEL_ID_SLEEP,
	.summary = "sleep {\"ms\":N} milliseconds, honouring deadline and cancel",
	.prepare = sleep_prepare,
	.run = sleep_run,
	.describe = sleep_describe,
};
