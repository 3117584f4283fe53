/*
 * integrate — the definite integral of a function from a fixed menu, by
 * globally adaptive Gauss–Kronrod quadrature (the QUADPACK QAG scheme with
 * the 7/15-point pair, Piessens et al. 1983).
 *
 * Args:   f          enum, required: the integrand, one of
 *                      exp      e^(k x)            sin   sin(k x)
 *                      cos      cos(k x)           gaussian  e^(-x²/2)/√(2π)
 *                      sqrt     √x  (a >= 0)       invsqrt   1/√x (a >= 0; integrable
 *                      log1p    ln(1+x) (a > -1)             singularity at 0)
 *                      lorentz  1/(1+x²)           poly  Σ coeffs[i] x^i
 *         a, b       numbers, required, -1e9 <= a < b <= 1e9
 *         k          number, only for exp/sin/cos, default 1
 *         coeffs     numbers, 1..64 of them, required for poly and only for it
 *         tol        number 1e-15..1, default 1e-10: the target error,
 *                    max(tol, tol·|I|) (absolute for small, relative for
 *                    large integrals)
 *         max_evals  int 15..1e9, default 10000000: evaluation budget
 * Result: {"f","a","b","value","error","evaluations","intervals","converged"}
 *         converged is false when the budget ran out or an interval became
 *         too narrow to split (round-off): value and error are then the
 *         best the method has, and error is still its estimate.
 *
 * Method.  Each interval gets a 15-point Kronrod sum K and the embedded
 * 7-point Gauss sum G; its error estimate is QUADPACK's
 * resasc·min(1, (200|K−G|/resasc)^1.5), floored at 50ε·∫|f| so that
 * round-off is never mistaken for convergence.  The interval with the
 * largest error (a binary max-heap) is bisected until the sum of the
 * errors meets the target.  K15 is exact for polynomials of degree 22 or
 * less.  Totals are recomputed from the heap at the end (the running sums
 * only steer the loop).  Cancel and progress every QG_CHECK bisections.
 * Library: libm only.  Memory: 32 bytes per interval, bounded by
 * forq_mem_limit() (the loop stops, converged false, at the bound).
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forq/kernel.h>

#define QG_CHECK 64u          /* bisections between cancel checks */

static const char *const integrate_fs[] = {
	"exp", "sin", "cos", "gaussian", "sqrt", "invsqrt", "log1p", "lorentz", "poly", NULL,
};

static const struct forq_arg_spec integrate_args[] = {
	{ "f", FORQ_ARG_ENUM, 1, 0, 0, NULL, integrate_fs, "the integrand (see forq-kernels(7))" },
	{ "a", FORQ_ARG_NUM, 1, -1e9, 1e9, NULL, NULL, "lower limit" },
	{ "b", FORQ_ARG_NUM, 1, -1e9, 1e9, NULL, NULL, "upper limit, greater than a" },
	{ "k", FORQ_ARG_NUM, 0, -1e6, 1e6, NULL, NULL,
	  "frequency/rate for exp, sin, cos (default 1)" },
	{ "coeffs", FORQ_ARG_NUMS, 0, 0, 0, NULL, NULL,
	  "poly: coefficients c0, c1, ... of c0 + c1 x + ..." },
	{ "tol", FORQ_ARG_NUM, 0, 1e-15, 1, "1e-10", NULL,
	  "target error, absolute below |I| = 1, relative above" },
	{ "max_evals", FORQ_ARG_INT, 0, 15, 1e9, "10000000", NULL, "most function evaluations" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* Kronrod nodes (descending, last is the centre) and weights; Gauss weights
 * for xgk[1], xgk[3], xgk[5] and the centre (QUADPACK dqk15). */
static const double xgk[8] = {
	0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
	0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
	0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
	0.207784955007898467600689403773245, 0.000000000000000000000000000000000,
};
static const double wgk[8] = {
	0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
	0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
	0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
	0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
};
static const double wg[4] = {
	0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
	0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
};

enum qf { QF_EXP, QF_SIN, QF_COS, QF_GAUSS, QF_SQRT, QF_INVSQRT, QF_LOG1P, QF_LORENTZ, QF_POLY };

struct integrand {
	enum qf f;                   /* which */
	double k;                    /* exp/sin/cos parameter */
	const double *c;             /* poly coefficients */
	size_t nc;                   /* how many */
	uint64_t evals;              /* evaluations so far */
	bool bad;                    /* a value was not finite */
	double bad_x;                /* where */
};

struct seg {
	double a, b;                 /* the interval */
	double r;                    /* its integral estimate */
	double e;                    /* its error estimate */
};

static double
qf_eval(struct integrand *q, double x)
{
	double y = 0;

	q->evals++;
	switch (q->f) {
	case QF_EXP: y = exp(q->k * x); break;
	case QF_SIN: y = sin(q->k * x); break;
	case QF_COS: y = cos(q->k * x); break;
	case QF_GAUSS: y = exp(-0.5 * x * x) * 0.398942280401432677939946059934382; break;
	case QF_SQRT: y = sqrt(x); break;
	case QF_INVSQRT: y = 1.0 / sqrt(x); break;
	case QF_LOG1P: y = log1p(x); break;
	case QF_LORENTZ: y = 1.0 / (1.0 + x * x); break;
	case QF_POLY:
		for (size_t i = q->nc; i-- > 0;)   /* Horner */
			y = y * x + q->c[i];
		break;
	}
	if (!isfinite(y) && !q->bad) {
		q->bad = true;
		q->bad_x = x;
	}
	return y;
}

/* The 15-point Gauss–Kronrod rule on [s->a, s->b] into s->r, s->e. */
static void
qk15(struct integrand *q, struct seg *s)
{
	double centr = 0.5 * (s->a + s->b), hl = 0.5 * (s->b - s->a), dhl = fabs(hl);
	double fv1[7], fv2[7], fc = qf_eval(q, centr);
	double resg = fc * wg[3], resk = fc * wgk[7], resabs = fabs(resk), reskh, resasc, err;

	for (int j = 0; j < 3; j++) {
		int jt = 2 * j + 1;
		double ab = hl * xgk[jt], f1 = qf_eval(q, centr - ab), f2 = qf_eval(q, centr + ab);

		fv1[jt] = f1;
		fv2[jt] = f2;
		resg += wg[j] * (f1 + f2);
		resk += wgk[jt] * (f1 + f2);
		resabs += wgk[jt] * (fabs(f1) + fabs(f2));
	}
	for (int j = 0; j < 4; j++) {
		int jt = 2 * j;
		double ab = hl * xgk[jt], f1 = qf_eval(q, centr - ab), f2 = qf_eval(q, centr + ab);

		fv1[jt] = f1;
		fv2[jt] = f2;
		resk += wgk[jt] * (f1 + f2);
		resabs += wgk[jt] * (fabs(f1) + fabs(f2));
	}
	reskh = 0.5 * resk;
	resasc = wgk[7] * fabs(fc - reskh);
	for (int j = 0; j < 7; j++)
		resasc += wgk[j] * (fabs(fv1[j] - reskh) + fabs(fv2[j] - reskh));
	s->r = resk * hl;
	resabs *= dhl;
	resasc *= dhl;
	err = fabs((resk - resg) * hl);
	if (resasc != 0 && err != 0)
		err = resasc * fmin(1.0, pow(200.0 * err / resasc, 1.5));
	if (resabs > DBL_MIN / (50 * DBL_EPSILON))
		err = fmax(50 * DBL_EPSILON * resabs, err);
	s->e = err;
}

/* ---- the max-heap of intervals by error ---------------------------------- */

static void
heap_up(struct seg *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct seg t;

		if (h[p].e >= h[i].e)
			break;
		t = h[p];
		h[p] = h[i];
		h[i] = t;
		i = p;
	}
}

static void
heap_down(struct seg *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct seg t;

		if (l < n && h[l].e > h[m].e)
			m = l;
		if (r < n && h[r].e > h[m].e)
			m = r;
		if (m == i)
			return;
		t = h[m];
		h[m] = h[i];
		h[i] = t;
		i = m;
	}
}

static int
integrate_validate(const struct forq_args *a, char *err, size_t errlen)
{
	const char *f = forq_args_str(a, "f");
	double lo = forq_args_num(a, "a"), hi = forq_args_num(a, "b");
	bool poly = strcmp(f, "poly") == 0;
	size_t nc;

	if (!(lo < hi)) {
		snprintf(err, errlen, "a: must be less than b");
		return -1;
	}
	if ((strcmp(f, "sqrt") == 0 || strcmp(f, "invsqrt") == 0) && lo < 0) {
		snprintf(err, errlen, "a: %s is defined for x >= 0 only", f);
		return -1;
	}
	if (strcmp(f, "log1p") == 0 && lo <= -1) {
		snprintf(err, errlen, "a: log1p is defined for x > -1 only");
		return -1;
	}
	if (forq_args_has(a, "k") && strcmp(f, "exp") != 0 && strcmp(f, "sin") != 0 &&
	    strcmp(f, "cos") != 0) {
		snprintf(err, errlen, "k: only exp, sin and cos take k");
		return -1;
	}
	forq_args_nums(a, "coeffs", &nc);
	if (poly && nc == 0) {
		snprintf(err, errlen, "coeffs: required for f = poly");
		return -1;
	}
	if (!poly && nc != 0) {
		snprintf(err, errlen, "coeffs: only f = poly takes coeffs");
		return -1;
	}
	if (nc > 64) {
		snprintf(err, errlen, "coeffs: at most 64 coefficients");
		return -1;
	}
	return 0;
}

static int
integrate_run(struct forq_ctx *c)
{
	const char *fname = forq_arg_str(c, "f");
	struct integrand q = { 0 };
	double lo = forq_arg_num(c, "a"), hi = forq_arg_num(c, "b");
	double tol = forq_arg_num(c, "tol");
	uint64_t max_evals = (uint64_t)forq_arg_int(c, "max_evals");
	size_t cap = 64, n = 0, max_segs = forq_mem_limit(c) / sizeof(struct seg);
	double area, errsum, err0, target, comp;
	bool converged = false;
	struct seg *h;
	int st = FORQ_DONE;

	for (unsigned i = 0; integrate_fs[i]; i++)
		if (strcmp(integrate_fs[i], fname) == 0)
			q.f = (enum qf)i;
	q.k = forq_arg_has(c, "k") ? forq_arg_num(c, "k") : 1.0;
	q.c = forq_arg_nums(c, "coeffs", &q.nc);
	h = malloc(cap * sizeof *h);
	if (h == NULL)
		return forq_fail(c, "out of memory");
	h[0].a = lo;
	h[0].b = hi;
	qk15(&q, &h[0]);
	n = 1;
	area = h[0].r;
	errsum = err0 = h[0].e;
	for (unsigned iter = 1;; iter++) {
		struct seg l, r, w;
		double mid;

		if (q.bad)
			break;
		target = fmax(tol, tol * fabs(area));
		if (errsum <= target) {
			converged = true;
			break;
		}
		if (q.evals + 30 > max_evals || n + 1 > max_segs)
			break;
		w = h[0];
		mid = 0.5 * (w.a + w.b);
		/* too narrow to split: round-off limits this interval */
		if (!(w.a < mid && mid < w.b) ||
		    w.b - w.a <= 1e3 * DBL_EPSILON * fmax(fabs(w.a), fabs(w.b)))
			break;
		if (n + 1 > cap) {
			struct seg *nh = realloc(h, 2 * cap * sizeof *nh);

			if (nh == NULL) {
				free(h);
				return forq_fail(c, "out of memory (%zu intervals)", n);
			}
			h = nh;
			cap *= 2;
		}
		l = (struct seg){ w.a, mid, 0, 0 };
		r = (struct seg){ mid, w.b, 0, 0 };
		qk15(&q, &l);
		qk15(&q, &r);
		area += l.r + r.r - w.r;
		errsum += l.e + r.e - w.e;
		h[0] = l;
		heap_down(h, n, 0);
		h[n] = r;
		heap_up(h, n);
		n++;
		if (iter % QG_CHECK == 0) {
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				break;
			}
			/* progress: how far the error has come down, on a log scale */
			forq_progress(c, errsum < err0 && err0 > target ?
					 log(err0 / errsum) / log(err0 / target) : 0.0);
		}
	}
	if (st == FORQ_DONE && q.bad)
		st = forq_fail(c, "%s(x) is not finite at x = %.17g", fname, q.bad_x);
	if (st == FORQ_DONE) {
		/* Neumaier sums over the final intervals */
		area = errsum = comp = 0;
		for (size_t i = 0; i < n; i++) {
			double t = area + h[i].r;

			comp += fabs(area) >= fabs(h[i].r) ? (area - t) + h[i].r
							   : (h[i].r - t) + area;
			area = t;
			errsum += h[i].e;
		}
		area += comp;
		if (forq_result_printf(
			    c,
			    "{\"f\":\"%s\",\"a\":%.17g,\"b\":%.17g,\"value\":%.17g,\"error\":%.17g,"
			    "\"evaluations\":%llu,\"intervals\":%zu,\"converged\":%s}",
			    fname, lo, hi, area, errsum, (unsigned long long)q.evals, n,
			    converged ? "true" : "false") < 0)
			st = forq_fail(c, "cannot store the result");
	}
	free(h);
	return st;
}

const struct forq_kernel forq_kernel_integrate = {
	.name = "integrate",
	.summary = "definite integral of a menu function by adaptive Gauss-Kronrod (7/15) "
		   "quadrature, with error estimate",
	.args = integrate_args,
	.validate = integrate_validate,
	.run = integrate_run,
};
