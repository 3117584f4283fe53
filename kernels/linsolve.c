/*
 * linsolve — solve A x = b for an n × n system through LAPACKE_dgesv (LU
 * with partial pivoting, OpenBLAS's LAPACK, one thread: kernels/blas.h),
 * reporting GFLOP/s and the backward error.
 *
 * The system: A[i][j] = 2u - 1 from Philox (seed, stream 1, i·n + j) as in
 * matmul, plus n on the diagonal when matrix = "diagdom" (strictly
 * diagonally dominant: well conditioned); x_true[i] = 2u - 1 from stream
 * 4; b = A·x_true (cblas_dgemv).  dgesv overwrites copies; the residual is
 * computed against the original A and b.
 *
 * Figures: "residual" = ||A x - b||∞ / (||A||∞ ||x||∞), the normwise
 * backward error (a backward-stable solver gives a small multiple of
 * ε ≈ 1.1e-16 — LAPACK's own test accepts up to ~30 n ε); "error" =
 * ||x - x_true||∞ / ||x_true||∞, which also depends on the condition of A.
 * The rate counts 2n³/3 + 2n² flops over the time of dgesv.
 *
 * Args:   n (512; 1..4096), seed (1), matrix (random | diagdom; random)
 * Result: {"n","matrix","seconds","gflops","residual","error","threads"}
 * The factorisation is one LAPACK call and cannot be interrupted: a cancel
 * or deadline is seen before and after it (n = 4096 takes about a second
 * on one core; past its deadline forqd ends the worker the hard way).
 * FAILED "matrix is singular" when U has an exact zero pivot.  Library:
 * LAPACK (LAPACKE dgesv) and BLAS (dgemv) from OpenBLAS.  Memory: 2 n² + 4n
 * doubles, refused above forq_mem_limit().
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <forq/kernel.h>

#include "blas.h"
#include "kjson.h"
#include "rng.h"

static const char *const linsolve_kinds[] = { "random", "diagdom", NULL };

static const struct forq_arg_spec linsolve_args[] = {
	{ "n", FORQ_ARG_INT, 0, 1, 4096, "512", NULL, "system size" },
	{ "seed", FORQ_ARG_INT, 0, 0, 9007199254740992.0, "1", NULL, "random seed of A and x" },
	{ "matrix", FORQ_ARG_ENUM, 0, 0, 0, "\"random\"", linsolve_kinds,
	  "random, or diagdom (n added to the diagonal)" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static double
ls_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int
linsolve_run(struct forq_ctx *c)
{
	size_t n = (size_t)forq_arg_int(c, "n");
	uint64_t seed = (uint64_t)forq_arg_int(c, "seed");
	int dd = strcmp(forq_arg_str(c, "matrix"), "diagdom") == 0;
	double need = (2.0 * (double)n * (double)n + 4.0 * (double)n) * sizeof(double) +
		      (double)n * sizeof(lapack_int);
	double *a, *lu, *xt, *bb, *x, *r, t0, secs, anorm = 0, xnorm = 0, rnorm = 0, enorm = 0,
						    tnorm = 0;
	lapack_int *ipiv, info;
	const struct blas *bl;
	char why[300];
	struct kjson j;

	if (need > (double)forq_mem_limit(c))
		return forq_fail(c, "n = %zu needs %.0f MiB, above the memory limit of %zu MiB", n,
				 need / 1048576.0, forq_mem_limit(c) >> 20);
	bl = blas_get(why, sizeof why);
	if (bl == NULL)
		return forq_fail(c, "%s", why);
	a = malloc((2 * n * n + 4 * n) * sizeof *a);
	ipiv = malloc(n * sizeof *ipiv);
	if (a == NULL || ipiv == NULL) {
		free(a);
		free(ipiv);
		return forq_fail(c, "out of memory (n = %zu)", n);
	}
	lu = a + n * n;
	xt = lu + n * n;
	bb = xt + n;
	x = bb + n;
	r = x + n;
	for (size_t e = 0; e < n * n; e++) {
		uint32_t b4[4];

		rng_block(seed, 1, e, b4);
		a[e] = 2.0 * rng_u01(b4[0], b4[1]) - 1.0;
	}
	if (dd)
		for (size_t i = 0; i < n; i++)
			a[i * n + i] += (double)n;
	for (size_t i = 0; i < n; i++) {
		uint32_t b4[4];

		rng_block(seed, 4, i, b4);
		xt[i] = 2.0 * rng_u01(b4[0], b4[1]) - 1.0;
	}
	bl->dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)n, 1.0, a, (int)n, xt, 1, 0.0, bb, 1);
	memcpy(lu, a, n * n * sizeof *a);
	memcpy(x, bb, n * sizeof *x);
	forq_progress(c, 0.1);
	if (forq_cancelled(c)) {
		free(a);
		free(ipiv);
		return forq_stop_status(c);
	}
	t0 = ls_now();
	info = bl->dgesv(LAPACK_ROW_MAJOR, (lapack_int)n, 1, lu, (lapack_int)n, ipiv, x, 1);
	secs = ls_now() - t0;
	forq_progress(c, 0.9);
	if (info != 0) {
		free(a);
		free(ipiv);
		if (info > 0)
			return forq_fail(c, "matrix is singular: U(%d,%d) is exactly zero",
					 (int)info, (int)info);
		return forq_fail(c, "dgesv: argument %d is invalid", (int)-info);
	}
	/* r = A x - b */
	memcpy(r, bb, n * sizeof *r);
	bl->dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)n, 1.0, a, (int)n, x, 1, -1.0, r, 1);
	for (size_t i = 0; i < n; i++) {
		double row = 0;

		for (size_t k = 0; k < n; k++)
			row += fabs(a[i * n + k]);
		anorm = fmax(anorm, row);
		xnorm = fmax(xnorm, fabs(x[i]));
		rnorm = fmax(rnorm, fabs(r[i]));
		enorm = fmax(enorm, fabs(x[i] - xt[i]));
		tnorm = fmax(tnorm, fabs(xt[i]));
	}
	free(a);
	free(ipiv);
	if (forq_cancelled(c))
		return forq_stop_status(c);
	kj_init(&j);
	kj_num(&j, j.root, "n", (double)n);
	kj_str(&j, j.root, "matrix", dd ? "diagdom" : "random");
	kj_num(&j, j.root, "seconds", secs);
	kj_num(&j, j.root, "gflops", secs > 0 ? (2.0 / 3.0 * (double)n * (double)n * (double)n +
						 2.0 * (double)n * (double)n) / secs * 1e-9 : 0);
	kj_num(&j, j.root, "residual", anorm > 0 && xnorm > 0 ? rnorm / (anorm * xnorm) : 0);
	kj_num(&j, j.root, "error", tnorm > 0 ? enorm / tnorm : 0);
	kj_num(&j, j.root, "threads", bl->threads());
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_linsolve = {
	.name = "linsolve",
	.summary = "solve A x = b (n x n, seeded) by LAPACKE dgesv on one core; GFLOP/s and "
		   "backward error",
	.args = linsolve_args,
	.validate = NULL,
	.run = linsolve_run,
};
