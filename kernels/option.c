/*
 * option — the price of a European call or put under Black–Scholes
 * dynamics, by Monte Carlo, with the closed form beside it.
 *
 * The terminal price is S_T = S0 exp((r - q - σ²/2) T + σ √T Z) with Z
 * standard normal; the price is e^(-rT) E[payoff(S_T)], payoff
 * max(S_T - K, 0) for a call and max(K - S_T, 0) for a put.  Draw i uses
 * the Box–Muller pair of Philox block (seed, stream 0, i / 2) (kernels/rng.h),
 * so the estimate depends only on the arguments, not on the core.  With
 * antithetic variates each draw Z is paired with -Z and the sample is the
 * mean of the two discounted payoffs: the same estimator, a smaller
 * variance for monotone payoffs.  The standard error is the sample
 * standard deviation of the samples (Welford's update) over √paths — the
 * correct one for antithetic pairs, which are not independent of each
 * other.  The closed form: d1 = (ln(S0/K) + (r - q + σ²/2)T)/(σ√T),
 * d2 = d1 - σ√T, call = S0 e^(-qT) N(d1) - K e^(-rT) N(d2),
 * put = K e^(-rT) N(-d2) - S0 e^(-qT) N(-d1), N(x) = erfc(-x/√2)/2.
 * (S0 = K = 100, r = 0.05, σ = 0.2, T = 1: call 10.4506, put 5.5735.)
 *
 * Args:   type (call), s0 (100), strike (100), rate (0.05), dividend (0),
 *         sigma (0.2), t (1, years), paths (1000000 draws), seed (1),
 *         antithetic (true)
 * Result: {"type","mc","stderr","bs","z","paths","antithetic"}, where
 *         z = (mc - bs) / stderr (|z| < 3 in 99.7% of seeds).
 * Cancel and progress every 65536 draws.  Library: libm only.  Memory:
 * constant.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <forq/kernel.h>

#include "kjson.h"
#include "rng.h"

#define OPT_CHUNK 65536u         /* draws between cancel checks */

static const char *const option_types[] = { "call", "put", NULL };

static const struct forq_arg_spec option_args[] = {
	{ "type", FORQ_ARG_ENUM, 0, 0, 0, "\"call\"", option_types, "call or put" },
	{ "s0", FORQ_ARG_NUM, 0, 1e-9, 1e9, "100", NULL, "spot price" },
	{ "strike", FORQ_ARG_NUM, 0, 1e-9, 1e9, "100", NULL, "strike price" },
	{ "rate", FORQ_ARG_NUM, 0, -1, 1, "0.05", NULL, "risk-free rate, continuous, per year" },
	{ "dividend", FORQ_ARG_NUM, 0, -1, 1, "0", NULL, "dividend yield, continuous, per year" },
	{ "sigma", FORQ_ARG_NUM, 0, 1e-6, 5, "0.2", NULL, "volatility per sqrt(year)" },
	{ "t", FORQ_ARG_NUM, 0, 1e-6, 100, "1", NULL, "time to expiry, years" },
	{ "paths", FORQ_ARG_INT, 0, 2, 1e11, "1000000", NULL, "Monte Carlo draws" },
	{ "seed", FORQ_ARG_INT, 0, 0, 9007199254740992.0, "1", NULL, "random seed" },
	{ "antithetic", FORQ_ARG_BOOL, 0, 0, 0, "true", NULL, "pair each draw with its mirror" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static double
ncdf(double x)
{
	return 0.5 * erfc(-x * M_SQRT1_2);
}

static int
option_run(struct forq_ctx *c)
{
	bool call = strcmp(forq_arg_str(c, "type"), "call") == 0,
	     anti = forq_arg_bool(c, "antithetic");
	double s0 = forq_arg_num(c, "s0"), k = forq_arg_num(c, "strike"),
	       r = forq_arg_num(c, "rate");
	double q = forq_arg_num(c, "dividend"), sig = forq_arg_num(c, "sigma"),
	       t = forq_arg_num(c, "t");
	uint64_t n = (uint64_t)forq_arg_int(c, "paths"), seed = (uint64_t)forq_arg_int(c, "seed");
	double disc = exp(-r * t), drift = (r - q - 0.5 * sig * sig) * t, vol = sig * sqrt(t);
	double mean = 0, m2 = 0, se, d1, d2, bs;
	struct kjson j;

	for (uint64_t i = 0; i < n;) {
		uint64_t end = n - i > OPT_CHUNK ? i + OPT_CHUNK : n;

		if (forq_cancelled(c))
			return forq_stop_status(c);
		for (; i < end; i++) {
			double z0, z1, z, st, y, delta;

			rng_normal2(seed, 0, i / 2, &z0, &z1);
			z = (i & 1) ? z1 : z0;
			st = s0 * exp(drift + vol * z);
			y = disc * (call ? fmax(st - k, 0.0) : fmax(k - st, 0.0));
			if (anti) {
				double sa = s0 * exp(drift - vol * z);

				y = 0.5 *
				    (y + disc * (call ? fmax(sa - k, 0.0) : fmax(k - sa, 0.0)));
			}
			delta = y - mean;
			mean += delta / (double)(i + 1);
			m2 += delta * (y - mean);
		}
		forq_progress(c, (double)i / (double)n);
	}
	se = sqrt(m2 / (double)(n - 1) / (double)n);
	d1 = (log(s0 / k) + (r - q + 0.5 * sig * sig) * t) / vol;
	d2 = d1 - vol;
	if (call)
		bs = s0 * exp(-q * t) * ncdf(d1) - k * disc * ncdf(d2);
	else
		bs = k * disc * ncdf(-d2) - s0 * exp(-q * t) * ncdf(-d1);
	kj_init(&j);
	kj_str(&j, j.root, "type", call ? "call" : "put");
	kj_num(&j, j.root, "mc", mean);
	kj_num(&j, j.root, "stderr", se);
	kj_num(&j, j.root, "bs", bs);
	kj_num(&j, j.root, "z", se > 0 ? (mean - bs) / se : 0);
	kj_num(&j, j.root, "paths", (double)n);
	kj_bool(&j, j.root, "antithetic", anti);
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_option = {
	.name = "option",
	.summary = "European call/put by Monte Carlo (antithetic, counter RNG) beside the "
		   "Black-Scholes closed form",
	.args = option_args,
	.validate = NULL,
	.run = option_run,
};
