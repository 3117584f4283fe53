/*
 * rng — a counter-based random number generator: Philox4x32-10 (Salmon,
 * Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11,
 * the generator of Random123, cuRAND and JAX).
 *
 * Why counter-based: a kernel's answer must not depend on which core ran
 * it, how a loop was chunked or how often it was interrupted.  Philox is a
 * keyed bijection of a 128-bit counter, so the random numbers of sample i
 * are a pure function of (seed, i, stream): any sample can be drawn
 * directly, in any order, with no state carried between samples.  The key
 * is the task's 64-bit seed, the counter is (i low, i high, stream, 0);
 * distinct streams give independent numbers for the same i (matrix A vs B,
 * the k-th retry of a rejection sampler).  Checked against Random123's
 * known-answer vectors in tests/test_k_math.c.
 *
 * Header-only (static inline); no state, so any thread, any process.
 */
#ifndef FORQ_RNG_H
#define FORQ_RNG_H

#include <math.h>
#include <stdint.h>

/* rng_philox - Philox4x32-10 of counter @c under key (@k0, @k1), into @out. */
static inline void
rng_philox(const uint32_t c[4], uint32_t k0, uint32_t k1, uint32_t out[4])
{
	uint32_t x0 = c[0], x1 = c[1], x2 = c[2], x3 = c[3];

	for (int r = 0; r < 10; r++) {
		uint64_t p0 = (uint64_t)0xD2511F53u * x0;
		uint64_t p1 = (uint64_t)0xCD9E8D57u * x2;
		uint32_t y0, y1, y2, y3;

		if (r > 0) {
			k0 += 0x9E3779B9u;   /* Weyl key schedule, before rounds 2..10 */
			k1 += 0xBB67AE85u;
		}
		y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0;
		y1 = (uint32_t)p1;
		y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
		y3 = (uint32_t)p0;
		x0 = y0;
		x1 = y1;
		x2 = y2;
		x3 = y3;
	}
	out[0] = x0;
	out[1] = x1;
	out[2] = x2;
	out[3] = x3;
}

/* rng_block - the 128 random bits of sample @i of stream @stream under @seed. */
static inline void
rng_block(uint64_t seed, uint32_t stream, uint64_t i, uint32_t out[4])
{
	const uint32_t c[4] = { (uint32_t)i, (uint32_t)(i >> 32), stream, 0 };

	rng_philox(c, (uint32_t)seed, (uint32_t)(seed >> 32), out);
}

/* rng_u01 - a double uniform on [0, 1) from 53 of the 64 bits (@hi, @lo). */
static inline double
rng_u01(uint32_t hi, uint32_t lo)
{
	return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1p-53;
}

/* rng_u01_open - a double uniform on (0, 1]: safe under log(). */
static inline double
rng_u01_open(uint32_t hi, uint32_t lo)
{
	return (double)(((((uint64_t)hi << 32) | lo) >> 11) + 1) * 0x1p-53;
}

/* rng_uniform2 - two uniforms on [0, 1) for sample @i of @stream under @seed. */
static inline void
rng_uniform2(uint64_t seed, uint32_t stream, uint64_t i, double *u0, double *u1)
{
	uint32_t b[4];

	rng_block(seed, stream, i, b);
	*u0 = rng_u01(b[0], b[1]);
	*u1 = rng_u01(b[2], b[3]);
}

/*
 * rng_normal2 - two independent standard normal deviates for sample @i of
 * @stream under @seed (Box–Muller on one Philox block).
 */
static inline void
rng_normal2(uint64_t seed, uint32_t stream, uint64_t i, double *z0, double *z1)
{
	uint32_t b[4];
	double r, t;

	rng_block(seed, stream, i, b);
	r = sqrt(-2.0 * log(rng_u01_open(b[0], b[1])));
	t = 6.283185307179586476925 * rng_u01(b[2], b[3]);
	*z0 = r * cos(t);
	*z1 = r * sin(t);
}

#endif
