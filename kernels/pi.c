/*
 * pi — estimate π by Monte Carlo: the fraction of uniform points of the
 * unit square that fall inside the quarter disc x² + y² < 1, times 4.
 *
 * Args:   samples  int 1..1e12, default 10000000
 *         seed     int 0..2^53, default 1
 * Result: {"samples","hits","estimate","stderr","error"}, where stderr is
 *         the binomial standard error 4·sqrt(p(1-p)/n) with p = hits/n,
 *         and error = estimate - π (for teaching; |error| is below 4
 *         stderr in all but about 1 run in 16 000).
 *
 * Determinism: point i is drawn from the Philox block (seed, stream 0,
 * counter i) (kernels/rng.h), so the answer depends only on (samples, seed)
 * — not on the core, the chunking or the build.  Different seeds give
 * independent estimates (average them for a bigger one).
 *
 * The loop runs in chunks of PI_CHUNK points (about 1.5 ms of work) and
 * checks forq_cancelled() and reports progress between chunks, so a cancel
 * or a deadline stops it within a couple of milliseconds.  Library: libc
 * (libm) only.  Memory: constant.
 */
#include <math.h>
#include <stdint.h>

#include <forq/kernel.h>

#include "rng.h"

#define PI_CHUNK 65536u    /* points between cancel checks */

static const struct forq_arg_spec pi_args[] = {
	{ "samples", FORQ_ARG_INT, 0, 1, 1e12, "10000000", NULL, "number of random points" },
	{ "seed", FORQ_ARG_INT, 0, 0, 9007199254740992.0, "1", NULL,
	  "random seed (same seed, same answer)" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int
pi_run(struct forq_ctx *c)
{
	uint64_t n = (uint64_t)forq_arg_int(c, "samples");
	uint64_t seed = (uint64_t)forq_arg_int(c, "seed");
	uint64_t hits = 0;
	double p, est, se;

	for (uint64_t i = 0; i < n;) {
		uint64_t end = n - i > PI_CHUNK ? i + PI_CHUNK : n;

		if (forq_cancelled(c))
			return forq_stop_status(c);
		for (; i < end; i++) {
			double x, y;

			rng_uniform2(seed, 0, i, &x, &y);
			hits += x * x + y * y < 1.0;
		}
		forq_progress(c, (double)i / (double)n);
	}
	p = (double)hits / (double)n;
	est = 4.0 * p;
	se = 4.0 * sqrt(p * (1.0 - p) / (double)n);
	if (forq_result_printf(
		    c,
		    "{\"samples\":%llu,\"hits\":%llu,\"estimate\":%.17g,\"stderr\":%.17g,"
		    "\"error\":%.17g}",
		    (unsigned long long)n, (unsigned long long)hits, est, se, est - M_PI) < 0)
		return forq_fail(c, "cannot store the result");
	return FORQ_DONE;
}

const struct forq_kernel forq_kernel_pi = {
	.name = "pi",
	.summary = "estimate pi by Monte Carlo (counter-based RNG: the same seed gives the same "
		   "answer anywhere)",
	.args = pi_args,
	.validate = NULL,
	.run = pi_run,
};
