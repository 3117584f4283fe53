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

#include "intarg.h"
#include "kernel.h"
#include "sys.h"

#define SLEEP_MS_MAX   86400000u          /* one day */
#define SLEEP_SLICE_NS 100000000u         /* longest sleep between beats */

static int
sleep_prepare(const cJSON *args, struct kbuf *out, char *err, size_t errlen)
{
	return intarg_prepare(args, "ms", SLEEP_MS_MAX, out, err, errlen);
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
	ctx->user_us = (intarg_thread_cpu_ns() - cpu0) / 1000u;
	return o;
}

static enum kernel_outcome
sleep_run(struct kctx *ctx, const void *blob, size_t len)
{
	uint64_t cpu0 = intarg_thread_cpu_ns();
	uint64_t ms, end, now, wake;
	struct timespec ts;
	int n;

	ctx->term_signal = 0;
	ctx->result_len = 0;
	ctx->user_us = 0;
	ctx->sys_us = 0;
	ctx->maxrss_kb = 0;
	if (!intarg_get(blob, len, SLEEP_MS_MAX, &ms))
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

	uint64_t v;

	if (!intarg_get(blob, len, SLEEP_MS_MAX, &v))
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "ms", (double)v);
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
