/*
 * matmul — C = A·B for n × n matrices through OpenBLAS's cblas_dgemm on
 * the worker's one core (kernels/blas.h: loaded on first use, one thread),
 * reporting GFLOP/s and a residual check.
 *
 * Matrices (row-major): A[i][j] = 2u - 1 with u the first 53 bits of
 * Philox block (seed, stream 1, i·n + j), B the same with stream 2
 * (kernels/rng.h): a test or a user can rebuild them exactly.
 *
 * The product is computed in tiles, C[i0:i0+512, :] += A[i0:i0+512,
 * k0:k0+512] · B[k0:k0+512, :], each one dgemm call of at most 2·512²·n
 * flops (~0.1 s at n = 8192 on a current core): big enough for OpenBLAS to
 * run near peak, small enough that forq_cancelled() between calls stops
 * the task within a tile.  This repeats `reps` times (C overwritten); the
 * rate is 2n³·reps over the time spent in dgemm.
 *
 * Check: 64 entries of C at positions from Philox stream 3 are recomputed
 * as dot products in long double; "max_rel_err" is the largest
 * |C_ij - ref| / Σ_k |A_ik B_kj| (a componentwise error bound is
 * ~n·ε; a broken BLAS shows up as O(1)).
 *
 * Args:   n (512; 1..8192), reps (1; 1..1000), seed (1), emit (false:
 *         true attaches C as n² little-endian IEEE-754 doubles, row-major,
 *         as the raw-byte result)
 * Result: {"n","reps","seconds","gflops","max_rel_err","checksum" (Σ C),
 *          "threads" (OpenBLAS's pool: 1)}
 * Library: OpenBLAS (CBLAS dgemm).  Memory: 3 n² doubles, refused above
 * forq_mem_limit() (n = 4096 needs 384 MiB).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <forq/kernel.h>

#include "blas.h"
#include "kjson.h"
#include "rng.h"

#define MM_TILE 512              /* rows and k per dgemm call */

static const struct forq_arg_spec matmul_args[] = {
	{ "n", FORQ_ARG_INT, 0, 1, 8192, "512", NULL, "matrix size (n x n)" },
	{ "reps", FORQ_ARG_INT, 0, 1, 1000, "1", NULL, "times to repeat the product (for timing)" },
	{ "seed", FORQ_ARG_INT, 0, 0, 9007199254740992.0, "1", NULL, "random seed of A and B" },
	{ "emit", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "attach C as raw little-endian doubles" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static double
mm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void
mm_fill(double *m, size_t n, uint64_t seed, uint32_t stream)
{
	for (size_t e = 0; e < n * n; e++) {
		uint32_t b[4];

		rng_block(seed, stream, e, b);
		m[e] = 2.0 * rng_u01(b[0], b[1]) - 1.0;
	}
}

static int
matmul_run(struct forq_ctx *c)
{
	size_t n = (size_t)forq_arg_int(c, "n");
	uint64_t reps = (uint64_t)forq_arg_int(c, "reps"), seed = (uint64_t)forq_arg_int(c, "seed");
	double need = 3.0 * (double)n * (double)n * sizeof(double), secs = 0, maxerr = 0, sum = 0;
	const struct blas *bl;
	double *a, *b, *cm;
	char why[300];
	struct kjson j;

	if (need > (double)forq_mem_limit(c))
		return forq_fail(c, "n = %zu needs %.0f MiB, above the memory limit of %zu MiB", n,
				 need / 1048576.0, forq_mem_limit(c) >> 20);
	bl = blas_get(why, sizeof why);
	if (bl == NULL)
		return forq_fail(c, "%s", why);
	a = malloc(3 * n * n * sizeof *a);
	if (a == NULL)
		return forq_fail(c, "out of memory (n = %zu)", n);
	b = a + n * n;
	cm = b + n * n;
	mm_fill(a, n, seed, 1);
	mm_fill(b, n, seed, 2);
	for (uint64_t r = 0; r < reps; r++) {
		for (size_t i0 = 0; i0 < n; i0 += MM_TILE) {
			size_t mb = n - i0 < MM_TILE ? n - i0 : MM_TILE;

			for (size_t k0 = 0; k0 < n; k0 += MM_TILE) {
				size_t kb = n - k0 < MM_TILE ? n - k0 : MM_TILE;
				double t0;

				if (forq_cancelled(c)) {
					free(a);
					return forq_stop_status(c);
				}
				t0 = mm_now();
				bl->dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mb,
					  (int)n, (int)kb, 1.0, a + i0 * n + k0, (int)n, b + k0 * n,
					  (int)n, k0 == 0 ? 0.0 : 1.0, cm + i0 * n, (int)n);
				secs += mm_now() - t0;
				forq_progress(c, ((double)r + (double)(i0 * n + (k0 + kb) * mb) /
								      (double)(n * n)) /
							 (double)reps);
			}
		}
	}
	for (unsigned s = 0; s < 64; s++) {
		uint32_t bb[4];
		size_t i, jj;
		long double ref = 0, scale = 0;

		rng_block(seed, 3, s, bb);
		i = (size_t)(((uint64_t)bb[0] << 32 | bb[1]) % n);
		jj = (size_t)(((uint64_t)bb[2] << 32 | bb[3]) % n);
		for (size_t k = 0; k < n; k++) {
			ref += (long double)a[i * n + k] * b[k * n + jj];
			scale += fabsl((long double)a[i * n + k] * b[k * n + jj]);
		}
		if (scale > 0)
			maxerr = fmax(maxerr, (double)(fabsl(cm[i * n + jj] - ref) / scale));
	}
	for (size_t e = 0; e < n * n; e++)
		sum += cm[e];
	if (forq_arg_bool(c, "emit")) {
		unsigned char *raw = malloc(n * n * 8);
		int rc;

		if (raw == NULL) {
			free(a);
			return forq_fail(c, "out of memory (emit)");
		}
		for (size_t e = 0; e < n * n; e++) {
			uint64_t u;

			memcpy(&u, &cm[e], 8);
			for (int q = 0; q < 8; q++)
				raw[e * 8 + (size_t)q] = (unsigned char)(u >> (8 * q));
		}
		rc = forq_result_bytes(c, raw, n * n * 8);
		free(raw);
		if (rc < 0) {
			free(a);
			return rc == -ENOMEM ? forq_fail(c, "out of memory (emit)") : FORQ_FAILED;
		}
	}
	free(a);
	kj_init(&j);
	kj_num(&j, j.root, "n", (double)n);
	kj_num(&j, j.root, "reps", (double)reps);
	kj_num(&j, j.root, "seconds", secs);
	kj_num(&j, j.root, "gflops",
	       secs > 0 ? 2.0 * (double)n * (double)n * (double)n * (double)reps / secs * 1e-9 : 0);
	kj_num(&j, j.root, "max_rel_err", maxerr);
	kj_num(&j, j.root, "checksum", sum);
	kj_num(&j, j.root, "threads", bl->threads());
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_matmul = {
	.name = "matmul",
	.summary = "C = A B (n x n, seeded) through OpenBLAS dgemm on one core; GFLOP/s and a "
		   "residual check",
	.args = matmul_args,
	.validate = NULL,
	.run = matmul_run,
};
