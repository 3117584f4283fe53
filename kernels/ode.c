/*
 * ode — integrate a named system of ordinary differential equations with
 * the adaptive Dormand–Prince 5(4) Runge–Kutta method (Hairer, Nørsett,
 * Wanner, "Solving ODEs I", II.5: the DOPRI5 scheme with FSAL, standard
 * error control and its 4th-order dense output).
 *
 * Systems (state y, parameters with their defaults, default y0):
 *   harmonic        x' = v, v' = -omega² x                omega 1
 *                   y0 [1, 0]; reports energy (v² + omega² x²)/2
 *   lorenz          x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z
 *                   sigma 10, rho 28, beta 8/3; y0 [1, 1, 1]
 *   lotka_volterra  x' = alpha x - beta x y, y' = delta x y - gamma y
 *                   alpha 1.5, beta 1, gamma 3, delta 1; y0 [10, 5] (> 0);
 *                   reports the invariant delta x - gamma ln x + beta y - alpha ln y
 *   sir             S' = -beta S I / N, I' = beta S I / N - gamma I, R' = gamma I
 *                   beta 0.3, gamma 0.1, population N = S0 + I0 + R0;
 *                   y0 [999, 1, 0]; reports S + I + R (conserved)
 * A parameter that the chosen system does not take is refused.
 *
 * Args:   system (required), y0, t0 (0), t1 (required, > t0), rtol (1e-8),
 *         atol (1e-10), samples (11; 0..100000 points of the trajectory,
 *         evenly spaced from t0 to t1 inclusive), max_steps (1e7), and the
 *         parameters above.
 * Result: {"system","t","y":[...],"steps","rejected","evaluations",
 *          "trajectory":[[t, y...], ...], and "energy0"/"energy"/"drift"
 *          (harmonic), "invariant0"/"invariant"/"drift" (lotka_volterra),
 *          "total0"/"total" (sir)}; drift is |E - E0| / |E0|.
 *
 * Error control: a step is accepted when the RMS over components of
 * err_i / (atol + rtol·max(|y_i|, |y_new_i|)) is at most 1, where err is
 * the difference of the embedded 4th- and 5th-order solutions; the next
 * step is h·min(5, max(0.2, 0.9·err^(-1/5))), never growing right after a
 * rejection.  The first step comes from Hairer's starting-step heuristic.
 * Trajectory samples come from the dense output, so they do not shorten
 * steps; t1 is hit exactly.  Steps below 1e-14·|t| end the run FAILED
 * ("step size underflow": a stiff problem or a blow-up), as does
 * max_steps.  Cancel and progress every 256 steps.  Library: libm only.
 * Memory: samples × (dim + 1) doubles.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forq/kernel.h>

#include "kjson.h"

#define ODE_DIM_MAX 3
#define ODE_CHECK   256u         /* steps between cancel checks */

static const char *const ode_systems[] = { "harmonic", "lorenz", "lotka_volterra", "sir", NULL };

enum ode_sys { SYS_HARMONIC, SYS_LORENZ, SYS_LV, SYS_SIR };

static const struct forq_arg_spec ode_args[] = {
	{ "system", FORQ_ARG_ENUM, 1, 0, 0, NULL, ode_systems, "the system of equations" },
	{ "y0", FORQ_ARG_NUMS, 0, -1e12, 1e12, NULL, NULL, "initial state (default per system)" },
	{ "t0", FORQ_ARG_NUM, 0, -1e9, 1e9, "0", NULL, "start time" },
	{ "t1", FORQ_ARG_NUM, 1, -1e9, 1e9, NULL, NULL, "end time, after t0" },
	{ "rtol", FORQ_ARG_NUM, 0, 1e-14, 1, "1e-8", NULL, "relative tolerance per step" },
	{ "atol", FORQ_ARG_NUM, 0, 1e-20, 1, "1e-10", NULL, "absolute tolerance per step" },
	{ "samples", FORQ_ARG_INT, 0, 0, 100000, "11", NULL, "trajectory points returned, t0..t1" },
	{ "max_steps", FORQ_ARG_INT, 0, 1, 1e9, "10000000", NULL,
	  "most accepted + rejected steps" },
	{ "omega", FORQ_ARG_NUM, 0, 0, 1e6, NULL, NULL, "harmonic: angular frequency (1)" },
	{ "sigma", FORQ_ARG_NUM, 0, -1e6, 1e6, NULL, NULL, "lorenz: sigma (10)" },
	{ "rho", FORQ_ARG_NUM, 0, -1e6, 1e6, NULL, NULL, "lorenz: rho (28)" },
	{ "beta", FORQ_ARG_NUM, 0, -1e6, 1e6, NULL, NULL,
	  "lorenz (8/3), lotka_volterra (1), sir (0.3)" },
	{ "alpha", FORQ_ARG_NUM, 0, -1e6, 1e6, NULL, NULL, "lotka_volterra: prey growth (1.5)" },
	{ "gamma", FORQ_ARG_NUM, 0, -1e6, 1e6, NULL, NULL,
	  "lotka_volterra: predator death (3); sir: recovery (0.1)" },
	{ "delta", FORQ_ARG_NUM, 0, -1e6, 1e6, NULL, NULL, "lotka_volterra: predator growth (1)" },
	{ "population", FORQ_ARG_NUM, 0, 1e-9, 1e15, NULL, NULL, "sir: N (default S0 + I0 + R0)" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* Per system: dimension, default y0, the parameters it takes. */
static const struct {
	unsigned dim;
	double y0[ODE_DIM_MAX];
	const char *params[5];
} ode_def[] = {
	[SYS_HARMONIC] = { 2, { 1, 0, 0 }, { "omega", NULL } },
	[SYS_LORENZ] = { 3, { 1, 1, 1 }, { "sigma", "rho", "beta", NULL } },
	[SYS_LV] = { 2, { 10, 5, 0 }, { "alpha", "beta", "gamma", "delta", NULL } },
	[SYS_SIR] = { 3, { 999, 1, 0 }, { "beta", "gamma", "population", NULL } },
};

static const char *const ode_all_params[] = {
	"omega", "sigma", "rho", "beta", "alpha", "gamma", "delta", "population", NULL,
};

struct ode {
	enum ode_sys sys;            /* which */
	unsigned dim;                /* state size */
	double p[4];                 /* parameters, in ode_def order */
	uint64_t evals;              /* right-hand side evaluations */
};

static enum ode_sys
ode_sys_of(const char *name)
{
	for (unsigned i = 0; ode_systems[i]; i++)
		if (strcmp(ode_systems[i], name) == 0)
			return (enum ode_sys)i;
	return SYS_HARMONIC;    /* unreachable: the schema checked the choice */
}

static void
ode_f(struct ode *o, double t, const double *y, double *dy)
{
	const double *p = o->p;

	(void)t;
	o->evals++;
	switch (o->sys) {
	case SYS_HARMONIC:
		dy[0] = y[1];
		dy[1] = -p[0] * p[0] * y[0];
		break;
	case SYS_LORENZ:
		dy[0] = p[0] * (y[1] - y[0]);
		dy[1] = y[0] * (p[1] - y[2]) - y[1];
		dy[2] = y[0] * y[1] - p[2] * y[2];
		break;
	case SYS_LV:
		dy[0] = p[0] * y[0] - p[1] * y[0] * y[1];
		dy[1] = p[3] * y[0] * y[1] - p[2] * y[1];
		break;
	case SYS_SIR: {
		double inf = p[0] * y[0] * y[1] / p[2];

		dy[0] = -inf;
		dy[1] = inf - p[1] * y[1];
		dy[2] = p[1] * y[1];
		break;
	}
	}
}

/* The conserved quantity of the system, if it has one (NAN otherwise). */
static double
ode_invariant(const struct ode *o, const double *y)
{
	const double *p = o->p;

	switch (o->sys) {
	case SYS_HARMONIC:
		return 0.5 * (y[1] * y[1] + p[0] * p[0] * y[0] * y[0]);
	case SYS_LV:
		return p[3] * y[0] - p[2] * log(y[0]) + p[1] * y[1] - p[0] * log(y[1]);
	case SYS_SIR:
		return y[0] + y[1] + y[2];
	default:
		return NAN;
	}
}

static int
ode_validate(const struct forq_args *a, char *err, size_t errlen)
{
	enum ode_sys s = ode_sys_of(forq_args_str(a, "system"));
	size_t n;
	const double *y0 = forq_args_nums(a, "y0", &n);

	if (!(forq_args_num(a, "t1") > forq_args_num(a, "t0"))) {
		snprintf(err, errlen, "t1: must be greater than t0");
		return -1;
	}
	if (y0 != NULL && n != ode_def[s].dim) {
		snprintf(err, errlen, "y0: %s has %u components, not %zu", ode_systems[s],
			 ode_def[s].dim, n);
		return -1;
	}
	for (unsigned i = 0; ode_all_params[i]; i++) {
		bool ok = false;

		if (!forq_args_has(a, ode_all_params[i]))
			continue;
		for (unsigned k = 0; ode_def[s].params[k]; k++)
			ok |= strcmp(ode_def[s].params[k], ode_all_params[i]) == 0;
		if (!ok) {
			char list[64] = "";

			for (unsigned k = 0; ode_def[s].params[k]; k++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 k ? ", " : "", ode_def[s].params[k]);
			snprintf(err, errlen, "%s: not a parameter of %s (it takes %s)",
				 ode_all_params[i], ode_systems[s], list);
			return -1;
		}
	}
	if (s == SYS_LV && y0 != NULL && !(y0[0] > 0 && y0[1] > 0)) {
		snprintf(err, errlen, "y0: lotka_volterra populations must be positive");
		return -1;
	}
	if (s == SYS_SIR && y0 != NULL &&
	    (y0[0] < 0 || y0[1] < 0 || y0[2] < 0 || y0[0] + y0[1] + y0[2] <= 0)) {
		snprintf(err, errlen,
			 "y0: sir compartments must be non-negative with a positive sum");
		return -1;
	}
	return 0;
}

/* Dormand–Prince coefficients. */
static const double
	c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9,
	a21 = 1.0 / 5,
	a31 = 3.0 / 40, a32 = 9.0 / 40,
	a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9,
	a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729,
	a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
	a65 = -5103.0 / 18656,
	a71 = 35.0 / 384, a73 = 500.0 / 1113, a74 = 125.0 / 192, a75 = -2187.0 / 6784,
	a76 = 11.0 / 84,
	e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200,
	e6 = 22.0 / 525, e7 = -1.0 / 40,
	d1 = -12715105075.0 / 11282082432, d3 = 87487479700.0 / 32700410799,
	d4 = -10690763975.0 / 1880347072, d5 = 701980252875.0 / 199316789632,
	d6 = -1453857185.0 / 822651844, d7 = 69997945.0 / 29380423;

static double
rms_scaled(const double *v, const double *y, const double *y2, unsigned dim, double atol,
	   double rtol)
{
	double s = 0;

	for (unsigned i = 0; i < dim; i++) {
		double sk = atol + rtol * fmax(fabs(y[i]), y2 ? fabs(y2[i]) : 0.0);
		double q = v[i] / sk;

		s += q * q;
	}
	return sqrt(s / dim);
}

/* Time of sample @j of @n from @t0 to @t1 inclusive (one sample: @t1, the last exactly @t1). */
static double
sample_t(uint64_t j, uint64_t n, double t0, double t1)
{
	if (n == 1 || j == n - 1)
		return t1;
	return t0 + (double)j * (t1 - t0) / (double)(n - 1);
}

/* Hairer's starting step (HNW I, II.4). */
static double
ode_h0(struct ode *o, double t, const double *y, const double *f0, double hmax, double atol,
       double rtol)
{
	unsigned dim = o->dim;
	double y1[ODE_DIM_MAX] = { 0 }, f1[ODE_DIM_MAX] = { 0 }, df[ODE_DIM_MAX] = { 0 };
	double d0 = rms_scaled(y, y, NULL, dim, atol, rtol),
	       dd1 = rms_scaled(f0, y, NULL, dim, atol, rtol);
	double h0 = (d0 < 1e-5 || dd1 < 1e-5) ? 1e-6 : 0.01 * d0 / dd1, d2, h1;

	h0 = fmin(h0, hmax);
	for (unsigned i = 0; i < dim; i++)
		y1[i] = y[i] + h0 * f0[i];
	ode_f(o, t + h0, y1, f1);
	for (unsigned i = 0; i < dim; i++)
		df[i] = f1[i] - f0[i];
	d2 = rms_scaled(df, y, NULL, dim, atol, rtol) / h0;
	if (fmax(dd1, d2) <= 1e-15)
		h1 = fmax(1e-6, h0 * 1e-3);
	else
		h1 = pow(0.01 / fmax(dd1, d2), 0.2);
	return fmin(fmin(100 * h0, h1), hmax);
}

static int
ode_run(struct forq_ctx *c)
{
	struct ode o = { 0 };
	double y[ODE_DIM_MAX] = { 0 }, yn[ODE_DIM_MAX] = { 0 }, yt[ODE_DIM_MAX] = { 0 },
	       ev[ODE_DIM_MAX] = { 0 };
	double k1[ODE_DIM_MAX], k2[ODE_DIM_MAX], k3[ODE_DIM_MAX], k4[ODE_DIM_MAX];
	double k5[ODE_DIM_MAX], k6[ODE_DIM_MAX], k7[ODE_DIM_MAX];
	double t0 = forq_arg_num(c, "t0"), t1 = forq_arg_num(c, "t1"), t = t0, h;
	double rtol = forq_arg_num(c, "rtol"), atol = forq_arg_num(c, "atol");
	uint64_t samples = (uint64_t)forq_arg_int(c, "samples"), ns = 0;
	uint64_t max_steps = (uint64_t)forq_arg_int(c, "max_steps"), steps = 0, rejected = 0;
	const double *y0;
	double *traj = NULL, inv0;
	bool last_rejected = false;
	size_t n;
	unsigned dim;
	struct kjson j;
	cJSON *arr;
	int st = FORQ_DONE;

	o.sys = ode_sys_of(forq_arg_str(c, "system"));
	o.dim = dim = ode_def[o.sys].dim;
	y0 = forq_arg_nums(c, "y0", &n);
	for (unsigned i = 0; i < dim; i++)
		y[i] = y0 ? y0[i] : ode_def[o.sys].y0[i];
	switch (o.sys) {
	case SYS_HARMONIC:
		o.p[0] = forq_arg_has(c, "omega") ? forq_arg_num(c, "omega") : 1.0;
		break;
	case SYS_LORENZ:
		o.p[0] = forq_arg_has(c, "sigma") ? forq_arg_num(c, "sigma") : 10.0;
		o.p[1] = forq_arg_has(c, "rho") ? forq_arg_num(c, "rho") : 28.0;
		o.p[2] = forq_arg_has(c, "beta") ? forq_arg_num(c, "beta") : 8.0 / 3.0;
		break;
	case SYS_LV:
		o.p[0] = forq_arg_has(c, "alpha") ? forq_arg_num(c, "alpha") : 1.5;
		o.p[1] = forq_arg_has(c, "beta") ? forq_arg_num(c, "beta") : 1.0;
		o.p[2] = forq_arg_has(c, "gamma") ? forq_arg_num(c, "gamma") : 3.0;
		o.p[3] = forq_arg_has(c, "delta") ? forq_arg_num(c, "delta") : 1.0;
		break;
	case SYS_SIR:
		o.p[0] = forq_arg_has(c, "beta") ? forq_arg_num(c, "beta") : 0.3;
		o.p[1] = forq_arg_has(c, "gamma") ? forq_arg_num(c, "gamma") : 0.1;
		o.p[2] = forq_arg_has(c, "population") ? forq_arg_num(c, "population")
						       : y[0] + y[1] + y[2];
		break;
	}
	if (samples > 0) {
		traj = malloc(samples * (dim + 1) * sizeof *traj);
		if (traj == NULL)
			return forq_fail(c, "out of memory (%llu samples)",
					 (unsigned long long)samples);
	}
	if (samples > 1) {
		traj[0] = t0;
		memcpy(&traj[1], y, dim * sizeof *y);
		ns = 1;
	}
	inv0 = ode_invariant(&o, y);
	ode_f(&o, t, y, k1);
	h = ode_h0(&o, t, y, k1, t1 - t0, atol, rtol);
	while (t < t1) {
		double err, fac, tn;
		bool final = false;

		if (steps + rejected >= max_steps) {
			st = forq_fail(c, "max_steps (%llu) reached at t = %.17g",
				       (unsigned long long)max_steps, t);
			break;
		}
		if ((steps + rejected) % ODE_CHECK == 0 && steps + rejected > 0) {
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				break;
			}
			forq_progress(c, (t - t0) / (t1 - t0));
		}
		if (t + 1.0001 * h >= t1) {     /* land on t1, without a sliver of a last step */
			h = t1 - t;
			final = true;
		}
		if (!(h > 1e-14 * fmax(fabs(t), 1e-300))) {
			st = forq_fail(c, "step size underflow at t = %.17g (stiff or blowing up?)",
				       t);
			break;
		}
		for (unsigned i = 0; i < dim; i++)
			yt[i] = y[i] + h * a21 * k1[i];
		ode_f(&o, t + c2 * h, yt, k2);
		for (unsigned i = 0; i < dim; i++)
			yt[i] = y[i] + h * (a31 * k1[i] + a32 * k2[i]);
		ode_f(&o, t + c3 * h, yt, k3);
		for (unsigned i = 0; i < dim; i++)
			yt[i] = y[i] + h * (a41 * k1[i] + a42 * k2[i] + a43 * k3[i]);
		ode_f(&o, t + c4 * h, yt, k4);
		for (unsigned i = 0; i < dim; i++)
			yt[i] = y[i] + h * (a51 * k1[i] + a52 * k2[i] + a53 * k3[i] + a54 * k4[i]);
		ode_f(&o, t + c5 * h, yt, k5);
		for (unsigned i = 0; i < dim; i++)
			yt[i] = y[i] + h * (a61 * k1[i] + a62 * k2[i] + a63 * k3[i] + a64 * k4[i] +
					    a65 * k5[i]);
		tn = final ? t1 : t + h;
		ode_f(&o, tn, yt, k6);
		for (unsigned i = 0; i < dim; i++)
			yn[i] = y[i] + h * (a71 * k1[i] + a73 * k3[i] + a74 * k4[i] + a75 * k5[i] +
					    a76 * k6[i]);
		ode_f(&o, tn, yn, k7);
		for (unsigned i = 0; i < dim; i++)
			ev[i] = h * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] +
				     e6 * k6[i] + e7 * k7[i]);
		err = rms_scaled(ev, y, yn, dim, atol, rtol);
		if (!isfinite(err)) {
			/* overflow in a trial step: shrink hard and retry */
			rejected++;
			h *= 0.1;
			last_rejected = true;
			continue;
		}
		if (err > 1.0) {
			rejected++;
			h *= fmax(0.2, 0.9 * pow(err, -0.2));
			last_rejected = true;
			continue;
		}
		/* accepted: dense output for the samples inside (t, tn] */
		while (ns < samples && sample_t(ns, samples, t0, t1) <= tn) {
			double ts = sample_t(ns, samples, t0, t1), th = (ts - t) / h,
			       th1 = 1.0 - th;
			double *row = &traj[ns * (dim + 1)];

			row[0] = ts;
			for (unsigned i = 0; i < dim; i++) {
				double ydiff = yn[i] - y[i], bspl = h * k1[i] - ydiff;
				double r4 = ydiff - h * k7[i] - bspl;
				double r5 = h * (d1 * k1[i] + d3 * k3[i] + d4 * k4[i] + d5 * k5[i] +
						 d6 * k6[i] + d7 * k7[i]);

				row[i + 1] =
					ts == tn
						? yn[i]
						: y[i] + th * (ydiff +
							       th1 * (bspl + th * (r4 + th1 * r5)));
			}
			ns++;
		}
		steps++;
		t = tn;
		memcpy(y, yn, dim * sizeof *y);
		memcpy(k1, k7, dim * sizeof *k1);
		fac = err == 0 ? 5.0 : fmin(5.0, fmax(0.2, 0.9 * pow(err, -0.2)));
		if (last_rejected)
			fac = fmin(fac, 1.0);
		h *= fac;
		last_rejected = false;
	}
	if (st != FORQ_DONE) {
		free(traj);
		return st;
	}
	kj_init(&j);
	kj_str(&j, j.root, "system", ode_systems[o.sys]);
	kj_num(&j, j.root, "t", t);
	kj_nums(&j, j.root, "y", y, dim);
	kj_num(&j, j.root, "steps", (double)steps);
	kj_num(&j, j.root, "rejected", (double)rejected);
	kj_num(&j, j.root, "evaluations", (double)o.evals);
	if (o.sys == SYS_HARMONIC || o.sys == SYS_LV) {
		double inv = ode_invariant(&o, y);
		const char *k0 = o.sys == SYS_HARMONIC ? "energy0" : "invariant0";
		const char *k = o.sys == SYS_HARMONIC ? "energy" : "invariant";

		kj_num(&j, j.root, k0, inv0);
		kj_num(&j, j.root, k, inv);
		kj_num(&j, j.root, "drift",
		       inv0 != 0 ? fabs(inv - inv0) / fabs(inv0) : fabs(inv - inv0));
	} else if (o.sys == SYS_SIR) {
		kj_num(&j, j.root, "total0", inv0);
		kj_num(&j, j.root, "total", ode_invariant(&o, y));
	}
	arr = kj_arr(&j, j.root, "trajectory");
	for (uint64_t s = 0; s < ns && arr != NULL; s++)
		kj_nums(&j, arr, NULL, &traj[s * (dim + 1)], dim + 1);
	free(traj);
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_ode = {
	.name = "ode",
	.summary = "adaptive Dormand-Prince RK45 on harmonic, lorenz, lotka_volterra or sir, with "
		   "sampled trajectory",
	.args = ode_args,
	.validate = ode_validate,
	.run = ode_run,
};
