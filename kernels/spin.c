/*
 * spin — the kernel that burns CPU: the benchmark workhorse for CPU-bound
 * tasks of a known length.
 *
 * Args:  {"us": N}, N an integer (a JSON number without a fraction) from 0 to
 *        3600000000 (one hour); required; no other field.
 * Blob:  exactly 8 bytes: N as an unsigned 64-bit little-endian integer.
 *        Format 1 is known by its length; a later format will start with a
 *        version byte and have another length.
 *
 * run() busy-loops until N µs of CLOCK_MONOTONIC have passed since it was
 * entered and the thread has had N µs of CPU (when the worker was
 * preempted, the spin goes on until it has burnt N µs of CPU: a spin is
 * CPU work, not a sleep).  The loop is a block of SPIN_BLOCK dependent xorshift steps (about
 * 0.2 µs, no memory traffic), then one vDSO clock read (about 25 ns, ~10%);
 * so a spin ends within a block of its target, plus the one syscall that
 * reads the thread's CPU clock at the end (about 0.6 µs), unless preempted.  After each
 * block it checks the cancel word (one relaxed load) and beats the
 * heartbeat when SPIN_BEAT_NS have passed since the last beat.  It does NOT
 * watch its deadline, on purpose: spin models a compute kernel that cannot
 * stop itself, so a spin past its deadline is ended the hard way — forqd
 * kills the worker and respawns it (forqd(8), "Timeouts").
 * Outcomes (checked in this order after every block):
 *   DONE       N µs have passed; result {"us":N}; exit_code 0
 *   CANCELLED  *ctx->cancel != 0; reason "cancelled"; exit_code 1
 *   FAILED     malformed blob; reason "bad_blob"; exit_code 1
 * Only DONE has a result.  user_us is the thread's CPU time during run()
 * (CLOCK_THREAD_CPUTIME_ID, which does not split user from system; a spin
 * makes no syscalls, so it is all user time); sys_us and maxrss_kb are 0.
 * Wall time equals CPU time only when nothing preempts the worker.
 * run() keeps no state; ctx->beat and ctx->cancel may be NULL.
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

#define SPIN_US_MAX    3600000000u        /* one hour */
#define SPIN_CPU_SLACK_NS 2000u           /* CPU clock reads and set-up not counted against a spin */
#define SPIN_BEAT_NS   10000000u          /* heartbeat period */
#define SPIN_BLOCK     128                /* xorshift steps between clock reads, ~0.2 µs */

static int
spin_prepare(const cJSON *args, struct kbuf *out, char *err, size_t errlen)
{
	return intarg_prepare(args, "us", SPIN_US_MAX, out, err, errlen);
}

static enum kernel_outcome
spin_end(struct kctx *ctx, enum kernel_outcome o, const char *reason, uint64_t cpu0)
{
	ctx->exit_code = o == KERNEL_DONE ? 0 : 1;
	snprintf(ctx->reason, sizeof ctx->reason, "%s", reason);
	ctx->user_us = (intarg_thread_cpu_ns() - cpu0) / 1000u;
	return o;
}

static enum kernel_outcome
spin_run(struct kctx *ctx, const void *blob, size_t len)
{
	/* the wall clock first: the CPU clock's syscall counts against the spin */
	uint64_t now = sys_now_ns();
	uint64_t cpu0 = intarg_thread_cpu_ns();
	uint64_t us, end, next_beat;
	uint64_t x = 0x9e3779b97f4a7c15u;
	int n;

	ctx->term_signal = 0;
	ctx->result_len = 0;
	ctx->user_us = 0;
	ctx->sys_us = 0;
	ctx->maxrss_kb = 0;
	if (!intarg_get(blob, len, SPIN_US_MAX, &us))
		return spin_end(ctx, KERNEL_FAILED, "bad_blob", cpu0);

	end = now + us * 1000u;
	next_beat = now + SPIN_BEAT_NS;
	for (;;) {
		/* N us of wall time passed: done, unless the worker was
		 * preempted meanwhile; then spin on until this thread has had
		 * N us of CPU (one CPU-clock read when it was not preempted,
		 * so a short spin stays accurate and cheap). */
		if (now >= end) {
			uint64_t used = intarg_thread_cpu_ns() - cpu0;

			if (used + SPIN_CPU_SLACK_NS >= us * 1000u)
				break;
			end = now + (us * 1000u - used);
		}
		/* relaxed: a lone flag, nothing is published with it; a late
		 * read only delays the stop */
		if (ctx->cancel != NULL &&
		    atomic_load_explicit(ctx->cancel, memory_order_relaxed) != 0)
			return spin_end(ctx, KERNEL_CANCELLED, "cancelled", cpu0);
		if (now >= next_beat) {
			if (ctx->beat != NULL)
				ctx->beat(ctx->beat_arg);
			next_beat = now + SPIN_BEAT_NS;
		}
		for (int i = 0; i < SPIN_BLOCK; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* an opaque use of x, so the compiler keeps the work */
			__asm__ __volatile__("" : "+r"(x));
		}
		now = sys_now_ns();
	}
	if (ctx->result != NULL) {
		n = snprintf(ctx->result, ctx->result_cap, "{\"us\":%" PRIu64 "}", us);
		if (n > 0 && (size_t)n < ctx->result_cap)
			ctx->result_len = (size_t)n;
	}
	return spin_end(ctx, KERNEL_DONE, "", cpu0);
}

/* describe: {"us":N} back from the blob. */
static cJSON *
spin_describe(const void *blob, size_t len)
{
	cJSON *o;

	uint64_t v;

	if (!intarg_get(blob, len, SPIN_US_MAX, &v))
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "us", (double)v);
	return o;
}

/* The registry's entry (kernels/registry.c). */
const struct kernel kernel_spin = {
	.name = "spin",
	.id = KERNEL_ID_SPIN,
	.summary = "burn CPU for {\"us\":N} microseconds, honouring cancel (not its deadline: forqd kills its worker)",
	.prepare = spin_prepare,
	.run = spin_run,
	.describe = spin_describe,
};
