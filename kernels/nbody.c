/*
 * nbody — direct-summation gravitational N-body integration with the
 * kick-drift-kick leapfrog (velocity Verlet), reporting energy drift.
 *
 * Units: G = 1, total mass 1, equal masses 1/n.  Initial conditions from
 * the seed (kernels/rng.h, one Philox stream per use, indexed by body, so
 * body i is the same whatever n's other bodies do):
 *   plummer  a Plummer sphere by the method of Aarseth, Hénon & Wielen
 *            (1974), radii cut at 10 scale lengths, rescaled to Hénon units
 *            (virial equilibrium, E = -1/4 for large n);
 *   sphere   a uniform ball of radius 1 at rest (a cold collapse).
 * Both are shifted to the centre-of-mass frame.
 *
 * Forces are Plummer-softened, a_i = Σ_j m_j r_ij / (|r_ij|² + ε²)^(3/2),
 * summed over pairs once (Newton's third law): n(n-1)/2 interactions per
 * step, O(n²).  Energy E = K + U with the matching softened potential
 * U = -Σ_{i<j} m_i m_j / sqrt(|r_ij|² + ε²).  Leapfrog is symplectic and
 * time-reversible: for a fixed dt its energy error oscillates without
 * secular growth and scales as dt², which is what "drift" shows.
 *
 * Args:   n          int 2..20000, default 256
 *         steps      int 0..1e9, default 1000
 *         dt         number 1e-9..1, default 0.001
 *         softening  number 0..10, default 0.01
 *         seed       int, default 1
 *         init       enum plummer|sphere, default plummer
 * Result: {"n","steps","dt","time","energy0","energy","drift","kinetic",
 *          "potential","virial","interactions_per_s"}; drift is
 *          |E - E0| / |E0|; virial is 2K/|U| at the end (1 in equilibrium).
 * Cancel and progress every ~1M interactions (a few ms).  Library: libm
 * only.  Memory: 9n doubles.  FAILED "diverged" if an energy is not finite.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <forq/kernel.h>

#include "kjson.h"
#include "rng.h"

#define NB_CHECK (1u << 20)      /* interactions between cancel checks */

static const char *const nbody_inits[] = { "plummer", "sphere", NULL };

static const struct forq_arg_spec nbody_args[] = {
	{ "n", FORQ_ARG_INT, 0, 2, 20000, "256", NULL, "number of bodies" },
	{ "steps", FORQ_ARG_INT, 0, 0, 1e9, "1000", NULL, "leapfrog steps" },
	{ "dt", FORQ_ARG_NUM, 0, 1e-9, 1, "0.001", NULL, "time step (G = 1, total mass 1)" },
	{ "softening", FORQ_ARG_NUM, 0, 0, 10, "0.01", NULL, "Plummer softening length" },
	{ "seed", FORQ_ARG_INT, 0, 0, 9007199254740992.0, "1", NULL,
	  "random seed of the initial conditions" },
	{ "init", FORQ_ARG_ENUM, 0, 0, 0, "\"plummer\"", nbody_inits, "initial conditions" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

struct nb {
	size_t n;                    /* bodies */
	double m;                    /* mass of each, 1/n */
	double eps2;                 /* softening squared */
	double *x, *y, *z;           /* positions */
	double *vx, *vy, *vz;        /* velocities */
	double *ax, *ay, *az;        /* accelerations */
	uint64_t since_check;        /* interactions since the last cancel check */
	uint64_t interactions;       /* in all */
};

/* A uniform on (0, 1) from 32 random bits. */
static double
u32(uint32_t b)
{
	return ((double)b + 0.5) * 0x1p-32;
}

static void
iso(uint32_t b1, uint32_t b2, double r, double *x, double *y, double *z)
{
	double ct = 2.0 * u32(b1) - 1.0, st = sqrt(fmax(0.0, 1.0 - ct * ct));
	double ph = 6.283185307179586476925 * u32(b2);

	*x = r * st * cos(ph);
	*y = r * st * sin(ph);
	*z = r * ct;
}

static void
nb_init(struct nb *s, uint64_t seed, bool plummer)
{
	const double pscale = 3.0 * M_PI / 16.0, vscale = 1.0 / sqrt(pscale);
	double cx = 0, cy = 0, cz = 0, cvx = 0, cvy = 0, cvz = 0;

	for (size_t i = 0; i < s->n; i++) {
		uint32_t b[4];

		if (plummer) {
			double r, vr, x, yy;

			for (uint32_t a = 0;; a++) {
				rng_block(seed, 0x100u + a, i, b);
				r = 1.0 / sqrt(pow(u32(b[0]), -2.0 / 3.0) - 1.0);
				if (r <= 10.0)
					break;
			}
			iso(b[1], b[2], r * pscale, &s->x[i], &s->y[i], &s->z[i]);
			for (uint32_t a = 0;; a++) {
				rng_block(seed, 0x10000u + a, i, b);
				x = u32(b[0]);
				yy = 0.1 * u32(b[1]);
				if (yy < x * x * pow(1.0 - x * x, 3.5))
					break;
			}
			vr = x * M_SQRT2 * pow(1.0 + r * r, -0.25);
			iso(b[2], b[3], vr * vscale, &s->vx[i], &s->vy[i], &s->vz[i]);
		} else {
			double x, yy, zz;

			for (uint32_t a = 0;; a++) {
				rng_block(seed, 0x100u + a, i, b);
				x = 2 * u32(b[0]) - 1;
				yy = 2 * u32(b[1]) - 1;
				zz = 2 * u32(b[2]) - 1;
				if (x * x + yy * yy + zz * zz <= 1.0)
					break;
			}
			s->x[i] = x;
			s->y[i] = yy;
			s->z[i] = zz;
			s->vx[i] = s->vy[i] = s->vz[i] = 0;
		}
		cx += s->x[i];
		cy += s->y[i];
		cz += s->z[i];
		cvx += s->vx[i];
		cvy += s->vy[i];
		cvz += s->vz[i];
	}
	cx /= (double)s->n;
	cy /= (double)s->n;
	cz /= (double)s->n;
	cvx /= (double)s->n;
	cvy /= (double)s->n;
	cvz /= (double)s->n;
	for (size_t i = 0; i < s->n; i++) {
		s->x[i] -= cx;
		s->y[i] -= cy;
		s->z[i] -= cz;
		s->vx[i] -= cvx;
		s->vy[i] -= cvy;
		s->vz[i] -= cvz;
	}
}

/* Accelerations; false when the task was stopped part-way. */
static bool
nb_acc(struct nb *s, struct forq_ctx *c)
{
	size_t n = s->n;

	memset(s->ax, 0, n * sizeof *s->ax);
	memset(s->ay, 0, n * sizeof *s->ay);
	memset(s->az, 0, n * sizeof *s->az);
	for (size_t i = 0; i < n; i++) {
		double xi = s->x[i], yi = s->y[i], zi = s->z[i], axi = 0, ayi = 0, azi = 0;

		for (size_t j = i + 1; j < n; j++) {
			double dx = s->x[j] - xi, dy = s->y[j] - yi, dz = s->z[j] - zi;
			double r2 = dx * dx + dy * dy + dz * dz + s->eps2;
			double inv = 1.0 / sqrt(r2), f = s->m * inv * inv * inv;

			axi += f * dx;
			ayi += f * dy;
			azi += f * dz;
			s->ax[j] -= f * dx;
			s->ay[j] -= f * dy;
			s->az[j] -= f * dz;
		}
		s->ax[i] += axi;
		s->ay[i] += ayi;
		s->az[i] += azi;
		s->since_check += n - i - 1;
		s->interactions += n - i - 1;
		if (s->since_check >= NB_CHECK) {
			s->since_check = 0;
			if (forq_cancelled(c))
				return false;
		}
	}
	return true;
}

/* Kinetic and potential energy; false when the task was stopped part-way. */
static bool
nb_energy(struct nb *s, struct forq_ctx *c, double *kin, double *pot)
{
	double k = 0, u = 0;

	for (size_t i = 0; i < s->n; i++) {
		k += s->vx[i] * s->vx[i] + s->vy[i] * s->vy[i] + s->vz[i] * s->vz[i];
		for (size_t j = i + 1; j < s->n; j++) {
			double dx = s->x[j] - s->x[i], dy = s->y[j] - s->y[i],
			       dz = s->z[j] - s->z[i];

			u -= 1.0 / sqrt(dx * dx + dy * dy + dz * dz + s->eps2);
		}
		s->since_check += s->n - i - 1;
		if (s->since_check >= NB_CHECK) {
			s->since_check = 0;
			if (forq_cancelled(c))
				return false;
		}
	}
	*kin = 0.5 * s->m * k;
	*pot = s->m * s->m * u;
	return true;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int
nbody_run(struct forq_ctx *c)
{
	struct nb s = { 0 };
	uint64_t steps = (uint64_t)forq_arg_int(c, "steps");
	double dt = forq_arg_num(c, "dt"), eps = forq_arg_num(c, "softening");
	double k0 = 0, u0 = 0, k1 = 0, u1 = 0, e0, e1, t0, el;
	double *mem;
	struct kjson j;
	int st = FORQ_DONE;

	s.n = (size_t)forq_arg_int(c, "n");
	s.m = 1.0 / (double)s.n;
	s.eps2 = eps * eps;
	mem = malloc(9 * s.n * sizeof *mem);
	if (mem == NULL)
		return forq_fail(c, "out of memory (n = %zu)", s.n);
	s.x = mem;
	s.y = s.x + s.n;
	s.z = s.y + s.n;
	s.vx = s.z + s.n;
	s.vy = s.vx + s.n;
	s.vz = s.vy + s.n;
	s.ax = s.vz + s.n;
	s.ay = s.ax + s.n;
	s.az = s.ay + s.n;
	nb_init(&s, (uint64_t)forq_arg_int(c, "seed"),
		strcmp(forq_arg_str(c, "init"), "plummer") == 0);
	t0 = now_s();
	if (!nb_energy(&s, c, &k0, &u0) || !nb_acc(&s, c))
		st = forq_stop_status(c);
	e0 = k0 + u0;
	for (uint64_t step = 0; st == FORQ_DONE && step < steps; step++) {
		for (size_t i = 0; i < s.n; i++) {
			s.vx[i] += 0.5 * dt * s.ax[i];
			s.vy[i] += 0.5 * dt * s.ay[i];
			s.vz[i] += 0.5 * dt * s.az[i];
			s.x[i] += dt * s.vx[i];
			s.y[i] += dt * s.vy[i];
			s.z[i] += dt * s.vz[i];
		}
		if (!nb_acc(&s, c)) {
			st = forq_stop_status(c);
			break;
		}
		for (size_t i = 0; i < s.n; i++) {
			s.vx[i] += 0.5 * dt * s.ax[i];
			s.vy[i] += 0.5 * dt * s.ay[i];
			s.vz[i] += 0.5 * dt * s.az[i];
		}
		if (s.n * s.n < 2 * NB_CHECK && step % 16 == 0) {
			/* small systems: the pair counter alone checks too rarely */
			if (forq_cancelled(c)) {
				st = forq_stop_status(c);
				break;
			}
		}
		forq_progress(c, (double)(step + 1) / (double)steps);
	}
	el = now_s() - t0;
	if (st == FORQ_DONE && !nb_energy(&s, c, &k1, &u1))
		st = forq_stop_status(c);
	if (st != FORQ_DONE) {
		free(mem);
		return st;
	}
	e1 = k1 + u1;
	free(mem);
	if (!isfinite(e0) || !isfinite(e1))
		return forq_fail(c, "diverged: energy is not finite");
	kj_init(&j);
	kj_num(&j, j.root, "n", (double)s.n);
	kj_num(&j, j.root, "steps", (double)steps);
	kj_num(&j, j.root, "dt", dt);
	kj_num(&j, j.root, "time", dt * (double)steps);
	kj_num(&j, j.root, "energy0", e0);
	kj_num(&j, j.root, "energy", e1);
	kj_num(&j, j.root, "drift", fabs(e1 - e0) / fabs(e0));
	kj_num(&j, j.root, "kinetic", k1);
	kj_num(&j, j.root, "potential", u1);
	kj_num(&j, j.root, "virial", 2 * k1 / fabs(u1));
	kj_num(&j, j.root, "interactions_per_s", el > 0 ? (double)s.interactions / el : 0);
	return kj_finish(c, &j);
}

const struct forq_kernel forq_kernel_nbody = {
	.name = "nbody",
	.summary = "direct O(n^2) softened gravity with leapfrog (velocity Verlet); reports energy "
		   "drift",
	.args = nbody_args,
	.validate = NULL,
	.run = nbody_run,
};
