/*
 * heat2d — heat diffusion on the unit square with fixed (Dirichlet)
 * temperatures on its four sides, on an n × n grid of points (boundary
 * included, spacing h = 1/(n-1)), with the 5-point Laplacian.
 *
 * Methods:
 *   jacobi  the steady state ∇²u = 0 by Jacobi iteration (which is the
 *           explicit FTCS heat step at its stability limit r = 1/4): slow,
 *           O(n²) iterations, the classic;
 *   sor     the same steady state by red-black successive over-relaxation
 *           with the optimal ω = 2/(1 + sin(π/(n-1))): O(n) iterations;
 *   ftcs    the transient u_t = alpha ∇²u from u = initial inside, to time
 *           t, by forward-time centred-space steps with r = alpha dt/h² =
 *           0.2 at most (stable: r <= 1/4), dt = t / ceil(t / (0.2 h²/alpha)).
 * Steady methods stop when the residual — max over interior points of
 * |mean of the 4 neighbours - u|, i.e. h²/4 |∇²_h u| — is at most tol, or
 * after max_iter iterations (then "converged": false).  The error against
 * the discrete solution is then about residual · 2(n-1)²/π² (the
 * iteration's contraction); the discretisation error against the PDE is
 * O(h²).
 *
 * Args:   n (65; 3..4097), method (sor), top (1), bottom (0), left (0),
 *         right (0), initial (0; ftcs), alpha (1; ftcs only), t (0.1;
 *         ftcs only), tol (1e-8), max_iter (1000000), probes (x,y pairs in
 *         [0,1], default the centre, two diagonal and two axis points).
 * Result: {"method","n","iterations" (steady) or "steps","dt","r" (ftcs),
 *          "residual","converged","probes":[{"x","y","u","exact"}]}, where
 *          u is bilinear between grid points and "exact" is the series
 *          solution of the continuous steady problem (each side's term
 *          Σ_k odd 4/(kπ) sin(kπs) sinh(kπd)/sinh(kπ), summed to 1e-15).
 * Corners (used by no stencil) hold the mean of their two sides.  Cancel
 * and progress every ~1M point updates.  Library: libm only.  Memory:
 * 2 n² doubles (n² for sor), refused above forq_mem_limit().
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forq/kernel.h>

#include "kjson.h"

#define H2_CHECK (1u << 20)      /* point updates between cancel checks */

static const char *const heat2d_methods[] = { "jacobi", "sor", "ftcs", NULL };

static const struct forq_arg_spec heat2d_args[] = {
	{ "n", FORQ_ARG_INT, 0, 3, 4097, "65", NULL, "grid points per side, boundary included" },
	{ "method", FORQ_ARG_ENUM, 0, 0, 0, "\"sor\"", heat2d_methods,
	  "jacobi, sor (steady state) or ftcs (transient)" },
	{ "top", FORQ_ARG_NUM, 0, -1e6, 1e6, "1", NULL, "temperature of the side y = 1" },
	{ "bottom", FORQ_ARG_NUM, 0, -1e6, 1e6, "0", NULL, "temperature of the side y = 0" },
	{ "left", FORQ_ARG_NUM, 0, -1e6, 1e6, "0", NULL, "temperature of the side x = 0" },
	{ "right", FORQ_ARG_NUM, 0, -1e6, 1e6, "0", NULL, "temperature of the side x = 1" },
	{ "initial", FORQ_ARG_NUM, 0, -1e6, 1e6, "0", NULL, "starting temperature inside" },
	{ "alpha", FORQ_ARG_NUM, 0, 1e-9, 1e6, NULL, NULL, "ftcs: diffusivity (default 1)" },
	{ "t", FORQ_ARG_NUM, 0, 0, 1e6, NULL, NULL, "ftcs: end time (default 0.1)" },
	{ "tol", FORQ_ARG_NUM, 0, 1e-14, 1, "1e-8", NULL, "steady: residual target" },
	{ "max_iter", FORQ_ARG_INT, 0, 1, 1e9, "1000000", NULL, "steady: most iterations" },
	{ "probes", FORQ_ARG_NUMS, 0, 0, 1, "[0.5,0.5,0.25,0.25,0.75,0.75,0.5,0.25,0.5,0.75]", NULL,
	  "points to report, as x,y pairs in [0,1]" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

struct grid {
	size_t n;                    /* points per side */
	double *u;                   /* n*n, row i (y = i h), column j (x = j h) */
	double *v;                   /* second buffer (jacobi, ftcs), or NULL */
	double *base;                /* the allocation holding both */
	uint64_t since;              /* point updates since the last cancel check */
};

#define HEAT2D_WORK_MAX 1e11 /* ftcs point updates accepted at submit */

static int
heat2d_validate(const struct forq_args *a, char *err, size_t errlen)
{
	size_t np;
	bool ftcs = strcmp(forq_args_str(a, "method"), "ftcs") == 0;

	forq_args_nums(a, "probes", &np);
	if (np % 2 != 0) {
		snprintf(err, errlen, "probes: x,y pairs: the count must be even, not %zu", np);
		return -1;
	}
	if (!ftcs && (forq_args_has(a, "alpha") || forq_args_has(a, "t"))) {
		snprintf(err, errlen, "%s: only method ftcs takes it",
			 forq_args_has(a, "alpha") ? "alpha" : "t");
		return -1;
	}
	if (ftcs) {
		/* The work is steps x n^2 point updates: refuse at submit what
		 * would run for hours (about 1e11 updates), not at run time. */
		double n = (double)forq_args_int(a, "n");
		double alpha = forq_args_has(a, "alpha") ? forq_args_num(a, "alpha") : 1.0;
		double tend = forq_args_has(a, "t") ? forq_args_num(a, "t") : 0.1;
		double h = 1.0 / (n - 1), steps = ceil(tend / (0.2 * h * h / alpha));

		if (steps * n * n > HEAT2D_WORK_MAX) {
			snprintf(err, errlen, "t: %.3g steps of %.0fx%.0f points is too much work (at most %.0e updates; lower t, alpha or n)",
				 steps, n, n, HEAT2D_WORK_MAX);
			return -1;
		}
	}
	return 0;
}

/* sinh(a)/sinh(b) for 0 <= a <= b, without overflow. */
static double
sinh_ratio(double a, double b)
{
	if (b == 0)
		return 0;
	return exp(a - b) * (-expm1(-2 * a)) / (-expm1(-2 * b));
}

/* The steady state of one side at value 1 (the side y = 1), at (s, d): s along it, d = y. */
static double
side_series(double s, double d)
{
	double sum = 0;

	for (int k = 1; k < 100000; k += 2) {
		double term =
			4.0 / (k * M_PI) * sin(k * M_PI * s) * sinh_ratio(k * M_PI * d, k * M_PI);

		sum += term;
		if (fabs(4.0 / (k * M_PI) * exp(k * M_PI * (d - 1))) < 1e-16)
			break;
	}
	return sum;
}

static double
exact_steady(double x, double y, double top, double bottom, double left, double right)
{
	if (x <= 0 || x >= 1 || y <= 0 || y >= 1)
		return NAN;     /* on the boundary the series is not the point value */
	return top * side_series(x, y) + bottom * side_series(x, 1 - y) +
	       left * side_series(y, 1 - x) + right * side_series(y, x);
}

static double
probe(const struct grid *g, double x, double y)
{
	double fx = x * (double)(g->n - 1), fy = y * (double)(g->n - 1), tx, ty;
	size_t j = (size_t)fx, i = (size_t)fy, n = g->n;

	if (j > n - 2)
		j = n - 2;
	if (i > n - 2)
		i = n - 2;
	tx = fx - (double)j;
	ty = fy - (double)i;
	return (1 - ty) * ((1 - tx) * g->u[i * n + j] + tx * g->u[i * n + j + 1]) +
	       ty * ((1 - tx) * g->u[(i + 1) * n + j] + tx * g->u[(i + 1) * n + j + 1]);
}

static double
residual(const double *u, size_t n)
{
	double r = 0;

	for (size_t i = 1; i + 1 < n; i++)
		for (size_t j = 1; j + 1 < n; j++) {
			size_t p = i * n + j;
			double d = 0.25 * (u[p - 1] + u[p + 1] + u[p - n] + u[p + n]) - u[p];

			r = fmax(r, fabs(d));
		}
	return r;
}

/* Count @pts point updates; true when the task must stop now. */
static bool
heat_stop(struct grid *g, struct forq_ctx *c, uint64_t pts, double progress)
{
	g->since += pts;
	if (g->since < H2_CHECK)
		return false;
	g->since = 0;
	forq_progress(c, progress);
	return forq_cancelled(c);
}

static int
heat2d_run(struct forq_ctx *c)
{
	const char *method = forq_arg_str(c, "method");
	double top = forq_arg_num(c, "top"), bottom = forq_arg_num(c, "bottom");
	double left = forq_arg_num(c, "left"), right = forq_arg_num(c, "right");
	double tol = forq_arg_num(c, "tol"), res = 0, r = 0, dt = 0;
	uint64_t max_iter = (uint64_t)forq_arg_int(c, "max_iter"), it = 0, steps = 0;
	bool sor = strcmp(method, "sor") == 0, ftcs = strcmp(method, "ftcs") == 0,
	     converged = false;
	struct grid g = { 0 };
	size_t n, np, bufs;
	const double *pr = forq_arg_nums(c, "probes", &np);
	struct kjson j;
	cJSON *arr;
	int st = FORQ_DONE;

	g.n = n = (size_t)forq_arg_int(c, "n");
	bufs = sor ? 1 : 2;
	if ((double)bufs * (double)n * (double)n * sizeof(double) > (double)forq_mem_limit(c))
		return forq_fail(c, "n = %zu needs %.0f MiB, above the memory limit of %zu MiB", n,
				 (double)bufs * (double)n * (double)n * 8 / 1048576.0,
				 forq_mem_limit(c) >> 20);
	g.base = g.u = malloc(bufs * n * n * sizeof *g.u);
	if (g.u == NULL)
		return forq_fail(c, "out of memory (n = %zu)", n);
	g.v = sor ? NULL : g.u + n * n;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n; k++)
			g.u[i * n + k] = forq_arg_num(c, "initial");
	for (size_t k = 0; k < n; k++) {
		g.u[k] = bottom;
		g.u[(n - 1) * n + k] = top;
		g.u[k * n] = left;
		g.u[k * n + n - 1] = right;
	}
	g.u[0] = 0.5 * (bottom + left);
	g.u[n - 1] = 0.5 * (bottom + right);
	g.u[(n - 1) * n] = 0.5 * (top + left);
	g.u[(n - 1) * n + n - 1] = 0.5 * (top + right);
	if (g.v != NULL)
		memcpy(g.v, g.u, n * n * sizeof *g.u);

	if (ftcs) {
		double alpha = forq_arg_has(c, "alpha") ? forq_arg_num(c, "alpha") : 1.0;
		double tend = forq_arg_has(c, "t") ? forq_arg_num(c, "t") : 0.1;
		double h = 1.0 / (double)(n - 1), dtmax = 0.2 * h * h / alpha;
		double ns = ceil(tend / dtmax);

		if (ns > 1e12) {
			free(g.base);
			return forq_fail(c, "t / dt = %.3g steps: too many (lower t or n)", ns);
		}
		steps = (uint64_t)ns;
		dt = steps ? tend / (double)steps : 0;
		r = alpha * dt / (h * h);
		for (uint64_t s = 0; s < steps; s++) {
			double *u = g.u, *v = g.v;

			for (size_t i = 1; i + 1 < n; i++)
				for (size_t k = 1; k + 1 < n; k++) {
					size_t p = i * n + k;

					v[p] = u[p] + r * (u[p - 1] + u[p + 1] + u[p - n] +
							   u[p + n] - 4 * u[p]);
				}
			g.u = v;
			g.v = u;
			if (heat_stop(&g, c, (n - 2) * (n - 2), (double)(s + 1) / (double)steps)) {
				st = forq_stop_status(c);
				break;
			}
		}
	} else {
		double omega = 2.0 / (1.0 + sin(M_PI / (double)(n - 1)));

		for (it = 0; it < max_iter; it++) {
			double d = 0;

			if (sor) {
				for (int color = 0; color < 2; color++)
					for (size_t i = 1; i + 1 < n; i++)
						for (size_t k = 1 + ((i + (size_t)color + 1) & 1);
						     k + 1 < n; k += 2) {
							size_t p = i * n + k;
							double q =
								0.25 * (g.u[p - 1] + g.u[p + 1] +
									g.u[p - n] + g.u[p + n]) -
								g.u[p];

							d = fmax(d, fabs(q));
							g.u[p] += omega * q;
						}
			} else {
				double *u = g.u, *v = g.v;

				for (size_t i = 1; i + 1 < n; i++)
					for (size_t k = 1; k + 1 < n; k++) {
						size_t p = i * n + k;

						v[p] = 0.25 *
						       (u[p - 1] + u[p + 1] + u[p - n] + u[p + n]);
						d = fmax(d, fabs(v[p] - u[p]));
					}
				g.u = v;
				g.v = u;
			}
			if (d <= tol) {
				it++;
				converged = true;
				break;
			}
			if (heat_stop(&g, c, (n - 2) * (n - 2),
				      d > 0 && d < 1 && tol < 1 ? log(d) / log(tol) : 0)) {
				st = forq_stop_status(c);
				break;
			}
		}
	}
	if (st != FORQ_DONE) {
		free(g.base);
		return st;
	}
	res = residual(g.u, n);
	if (!ftcs)
		converged = res <= tol;
	kj_init(&j);
	kj_str(&j, j.root, "method", method);
	kj_num(&j, j.root, "n", (double)n);
	if (ftcs) {
		kj_num(&j, j.root, "steps", (double)steps);
		kj_num(&j, j.root, "dt", dt);
		kj_num(&j, j.root, "r", r);
	} else {
		kj_num(&j, j.root, "iterations", (double)it);
		kj_bool(&j, j.root, "converged", converged);
	}
	kj_num(&j, j.root, "residual", res);
	arr = kj_arr(&j, j.root, "probes");
	for (size_t p = 0; p + 1 < np && arr != NULL; p += 2) {
		cJSON *o = kj_obj(&j, arr, NULL);

		kj_num(&j, o, "x", pr[p]);
		kj_num(&j, o, "y", pr[p + 1]);
		kj_num(&j, o, "u", probe(&g, pr[p], pr[p + 1]));
		kj_num(&j, o, "exact", exact_steady(pr[p], pr[p + 1], top, bottom, left, right));
	}
	free(g.base);
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_heat2d = {
	.name = "heat2d",
	.summary = "2-D heat diffusion on a grid: steady state by jacobi or sor, or transient by "
		   "ftcs; probes and residual",
	.args = heat2d_args,
	.validate = heat2d_validate,
	.run = heat2d_run,
};
