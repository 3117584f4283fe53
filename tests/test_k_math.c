/*
 * test_k_math — known answers for the math-modelling kernels (pi,
 * integrate, ode, nbody, heat2d, option, matmul, linsolve), the Philox
 * generator under them, and cancellation / deadline of a long pi.
 *
 * Every kernel runs the way a worker runs it: kernel_find, kernel_prepare
 * on JSON text, kernel_run with a real struct kctx (a growable result
 * buffer, a cancel word, a progress word, a counting heartbeat); the
 * result is parsed back with cJSON and checked against answers computed
 * here independently (closed forms, a naive matrix product, the rng
 * itself).  Sizes are small: the whole file runs in a few seconds, and
 * under ASan+UBSan in well under a minute on two cores.  One helper
 * thread sets the cancel word; every assertion is on the main thread.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>

#include <cmocka.h>

#include "kernel.h"
#include "rng.h"
#include "sys.h"

/* ---- helpers ------------------------------------------------------------- */

struct krun {
	struct kctx ctx;
	_Atomic uint32_t cancel;
	_Atomic uint32_t progress;
	unsigned beats;
	enum kernel_outcome out;
	cJSON *res;                  /* the parsed result, or NULL */
	uint64_t wall_ns;
};

static void
count_beat(void *arg)
{
	((struct krun *)arg)->beats++;
}

static void
krun_init(struct krun *r)
{
	memset(r, 0, sizeof *r);
	atomic_init(&r->cancel, 0);
	atomic_init(&r->progress, 0);
	r->ctx.task_id = 1;
	r->ctx.attempt = 1;
	r->ctx.array_index = -1;
	r->ctx.numa = -1;
	r->ctx.beat = count_beat;
	r->ctx.beat_arg = r;
	r->ctx.cancel = &r->cancel;
	r->ctx.progress_permille = &r->progress;
	r->ctx.result_max = 1u << 24;
	r->ctx.bytes_max = 1u << 26;
}

static void
krun_free(struct krun *r)
{
	free(r->ctx.result);
	free(r->ctx.bytes);
	cJSON_Delete(r->res);
	r->ctx.result = NULL;
	r->ctx.result_cap = 0;
	r->ctx.result_len = 0;
	r->ctx.bytes = NULL;
	r->ctx.bytes_len = 0;
	r->res = NULL;
}

/* Prepare @json for kernel @name (must be accepted) and run it in @r. */
static enum kernel_outcome
krun(struct krun *r, const char *name, const char *json)
{
	const struct kernel *k = kernel_find(name);
	struct kbuf b = { NULL, 0 };
	cJSON *args = json ? cJSON_Parse(json) : NULL;
	char err[256] = "";
	uint64_t t0;
	int rc;

	assert_non_null(k);
	if (json != NULL)
		assert_non_null(args);
	rc = kernel_prepare(k, args, &b, err, sizeof err);
	cJSON_Delete(args);
	if (rc != 0)
		fail_msg("%s %s refused: %s", name, json ? json : "", err);
	t0 = sys_now_ns();
	r->out = kernel_run(k, &r->ctx, b.data, b.len);
	r->wall_ns = sys_now_ns() - t0;
	free(b.data);
	cJSON_Delete(r->res);
	r->res = NULL;
	if (r->ctx.result_len > 0) {
		r->res = cJSON_Parse(r->ctx.result);
		assert_non_null(r->res);
	}
	return r->out;
}

static void
expect_done(struct krun *r, const char *name, const char *json)
{
	if (krun(r, name, json) != KERNEL_DONE)
		fail_msg("%s %s: outcome %d reason \"%s\" result %s", name, json, r->out,
			 r->ctx.reason, r->ctx.result ? r->ctx.result : "");
	assert_non_null(r->res);
	if (getenv("FORQ_TEST_VERBOSE"))    /* print every result, for a human */
		fprintf(stderr, "%s %s\n  -> %.600s\n", name, json, r->ctx.result);
}

static double
num(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(j))
		fail_msg("result lacks number \"%s\"", key);
	return j->valuedouble;
}

static void
near(double got, double want, double tol, const char *what)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.17g, want %.17g +- %.3g (off by %.3g)", what, got, want, tol,
			 fabs(got - want));
}

/* ---- rng ----------------------------------------------------------------- */

static void
test_philox_kat(void **state)
{
	/* Random123's kat_vectors, philox4x32 10: counter, key -> output */
	static const uint32_t kat[3][10] = {
		{ 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
		{ 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
		  0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
		{ 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
		  0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
	};

	(void)state;
	for (int t = 0; t < 3; t++) {
		uint32_t out[4];

		rng_philox(kat[t], kat[t][4], kat[t][5], out);
		for (int i = 0; i < 4; i++)
			assert_int_equal(out[i], kat[t][6 + i]);
	}
}

/* ---- pi ------------------------------------------------------------------- */

static void
test_pi(void **state)
{
	struct krun r, r2;
	uint64_t hits = 0;

	(void)state;
	krun_init(&r);
	expect_done(&r, "pi", "{\"samples\":1000000,\"seed\":7}");
	assert_true(fabs(num(r.res, "estimate") - M_PI) < 4 * num(r.res, "stderr"));
	assert_int_equal(atomic_load(&r.progress), 1000);
	assert_true(r.beats > 0);
	/* the same seed gives bit-identical answers; another seed another one */
	krun_init(&r2);
	expect_done(&r2, "pi", "{\"samples\":1000000,\"seed\":7}");
	assert_string_equal(r.ctx.result, r2.ctx.result);
	krun_free(&r2);
	expect_done(&r2, "pi", "{\"samples\":1000000,\"seed\":8}");
	assert_true(num(r2.res, "hits") != num(r.res, "hits"));
	krun_free(&r2);
	/* sample i is Philox (seed, 0, i): recount here for a small n */
	for (uint64_t i = 0; i < 100000; i++) {
		double x, y;

		rng_uniform2(3, 0, i, &x, &y);
		hits += x * x + y * y < 1.0;
	}
	krun_free(&r);
	expect_done(&r, "pi", "{\"samples\":100000,\"seed\":3}");
	assert_int_equal((uint64_t)num(r.res, "hits"), hits);
	krun_free(&r);
}

struct canceller {
	_Atomic uint32_t *word;
	unsigned after_ms;
	uint64_t set_ns;             /* when it set the word (read after join) */
};

static void *
cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = { 0, (long)c->after_ms * 1000000L };

	nanosleep(&ts, NULL);
	c->set_ns = sys_now_ns();
	/* relaxed: the kernel reads it relaxed; nothing else rides on it */
	atomic_store_explicit(c->word, 1, memory_order_relaxed);
	return NULL;
}

static void
test_pi_cancel(void **state)
{
	struct krun r;
	struct canceller cc;
	pthread_t th;
	uint64_t end;

	(void)state;
	krun_init(&r);
	cc.word = &r.cancel;
	cc.after_ms = 50;
	cc.set_ns = 0;
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &cc), 0);
	krun(&r, "pi", "{\"samples\":1000000000000}");
	end = sys_now_ns();
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.out, KERNEL_CANCELLED);
	assert_string_equal(r.ctx.reason, "cancelled");
	assert_int_equal(r.ctx.result_len, 0);
	/* stops within a chunk: milliseconds (loose for sanitizers) */
	if (end - cc.set_ns > 50 * 1000000ull)
		fail_msg("stopped %.1f ms after the cancel", (double)(end - cc.set_ns) / 1e6);
	krun_free(&r);

	krun_init(&r);
	r.ctx.deadline_ns = sys_now_ns() + 30 * 1000000ull;
	krun(&r, "pi", "{\"samples\":1000000000000}");
	end = sys_now_ns();
	assert_int_equal(r.out, KERNEL_TIMEOUT);
	assert_string_equal(r.ctx.reason, "timeout");
	if (end - r.ctx.deadline_ns > 50 * 1000000ull)
		fail_msg("stopped %.1f ms after the deadline",
			 (double)(end - r.ctx.deadline_ns) / 1e6);
	krun_free(&r);
}

/* ---- integrate --------------------------------------------------------- */

static void
test_integrate(void **state)
{
	static const struct {
		const char *args;
		double exact;
	} cases[] = {
		{ "{\"f\":\"exp\",\"a\":0,\"b\":1,\"tol\":1e-10}", M_E - 1 },
		{ "{\"f\":\"exp\",\"a\":0,\"b\":1,\"k\":-2,\"tol\":1e-12}", (1 - exp(-2.0)) / 2 },
		{ "{\"f\":\"sin\",\"a\":0,\"b\":3.141592653589793,\"tol\":1e-12}", 2.0 },
		{ "{\"f\":\"cos\",\"a\":0,\"b\":10,\"k\":3}", sin(30.0) / 3 },
		{ "{\"f\":\"gaussian\",\"a\":-3,\"b\":3,\"tol\":1e-12}", erf(3 / M_SQRT2) },
		{ "{\"f\":\"sqrt\",\"a\":0,\"b\":1,\"tol\":1e-10}", 2.0 / 3 },
		{ "{\"f\":\"invsqrt\",\"a\":0,\"b\":1,\"tol\":1e-8}", 2.0 },
		{ "{\"f\":\"log1p\",\"a\":0,\"b\":1}", 2 * M_LN2 - 1 },
		{ "{\"f\":\"lorentz\",\"a\":0,\"b\":1,\"tol\":1e-13}", M_PI / 4 },
		{ "{\"f\":\"poly\",\"a\":-1,\"b\":2,\"coeffs\":[1,-2,0,4]}", 3 - 3 + 15 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct krun r;
		cJSON *a = cJSON_Parse(cases[i].args);
		const cJSON *t = cJSON_GetObjectItem(a, "tol");
		double tol = t ? t->valuedouble : 1e-10, v, e;

		krun_init(&r);
		expect_done(&r, "integrate", cases[i].args);
		v = num(r.res, "value");
		e = num(r.res, "error");
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.res, "converged")));
		near(v, cases[i].exact, fmax(tol, tol * fabs(cases[i].exact)), cases[i].args);
		/* the estimate is honest: it bounds the true error (up to round-off) */
		if (!(fabs(v - cases[i].exact) <= e + 1e-15))
			fail_msg("%s: error estimate %.3g below the true error %.3g", cases[i].args,
				 e, fabs(v - cases[i].exact));
		assert_true(num(r.res, "evaluations") >= 15);
		cJSON_Delete(a);
		krun_free(&r);
	}
}

/* ---- ode ----------------------------------------------------------------- */

static void
test_ode_harmonic(void **state)
{
	struct krun r;
	const cJSON *y, *tr, *row;
	char args[256];
	int n = 0;

	(void)state;
	krun_init(&r);
	snprintf(args, sizeof args,
		 "{\"system\":\"harmonic\",\"t1\":%.17g,\"rtol\":1e-12,\"atol\":1e-12,"
		 "\"samples\":101}",
		 200 * M_PI);
	expect_done(&r, "ode", args);
	/* 100 periods: energy kept to 1e-6 and back where it started */
	assert_true(num(r.res, "drift") < 1e-6);
	near(num(r.res, "energy0"), 0.5, 1e-15, "energy0");
	y = cJSON_GetObjectItem(r.res, "y");
	near(cJSON_GetArrayItem(y, 0)->valuedouble, 1.0, 1e-6, "x(100 T)");
	near(cJSON_GetArrayItem(y, 1)->valuedouble, 0.0, 1e-6, "v(100 T)");
	near(num(r.res, "t"), 200 * M_PI, 1e-9, "t");
	/* the dense-output samples follow cos t, -sin t */
	tr = cJSON_GetObjectItem(r.res, "trajectory");
	assert_int_equal(cJSON_GetArraySize(tr), 101);
	cJSON_ArrayForEach(row, tr) {
		double t = cJSON_GetArrayItem(row, 0)->valuedouble;

		near(t, 200 * M_PI * n / 100.0, 1e-9, "sample time");
		near(cJSON_GetArrayItem(row, 1)->valuedouble, cos(t), 2e-6, "sample x");
		near(cJSON_GetArrayItem(row, 2)->valuedouble, -sin(t), 2e-6, "sample v");
		n++;
	}
	krun_free(&r);

	/* omega = 3 and a coarse tolerance: still close, far fewer steps */
	expect_done(&r, "ode",
		    "{\"system\":\"harmonic\",\"omega\":3,\"y0\":[0,3],\"t1\":1,\"samples\":0}");
	y = cJSON_GetObjectItem(r.res, "y");
	near(cJSON_GetArrayItem(y, 0)->valuedouble, sin(3.0), 1e-6, "x(1), omega 3");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.res, "trajectory")), 0);
	krun_free(&r);
}

static void
test_ode_others(void **state)
{
	struct krun r, r2;
	const cJSON *e;

	(void)state;
	krun_init(&r);
	krun_init(&r2);
	expect_done(&r, "ode", "{\"system\":\"lorenz\",\"t1\":10,\"samples\":51}");
	expect_done(&r2, "ode", "{\"system\":\"lorenz\",\"t1\":10,\"samples\":51}");
	assert_string_equal(r.ctx.result, r2.ctx.result);          /* deterministic */
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.res, "y"))
		assert_true(isfinite(e->valuedouble) && fabs(e->valuedouble) < 100);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.res, "trajectory")), 51);
	krun_free(&r);
	krun_free(&r2);

	expect_done(&r, "ode",
		    "{\"system\":\"lotka_volterra\",\"t1\":20,\"rtol\":1e-10,\"atol\":1e-12}");
	assert_true(num(r.res, "drift") < 1e-7);
	krun_free(&r);

	expect_done(&r, "ode", "{\"system\":\"sir\",\"t1\":160}");
	near(num(r.res, "total"), num(r.res, "total0"), 1e-6 * 1000, "S+I+R");
	/* the epidemic has mostly run its course: R dominates */
	assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(r.res, "y"), 2)->valuedouble > 800);
	krun_free(&r);
}

/* ---- nbody ----------------------------------------------------------------- */

static void
test_nbody(void **state)
{
	struct krun r, r2;
	double d1, d2;

	(void)state;
	krun_init(&r);
	krun_init(&r2);
	expect_done(&r, "nbody",
		    "{\"n\":64,\"steps\":400,\"dt\":0.002,\"softening\":0.05,\"seed\":3}");
	d1 = num(r.res, "drift");
	assert_true(d1 < 1e-4);
	/* Plummer in Hénon units: E close to -1/4, near virial equilibrium */
	near(num(r.res, "energy0"), -0.25, 0.1, "E0");
	assert_true(num(r.res, "virial") > 0.7 && num(r.res, "virial") < 1.3);
	/* leapfrog: halving dt cuts the error about fourfold */
	expect_done(&r2, "nbody",
		    "{\"n\":64,\"steps\":800,\"dt\":0.001,\"softening\":0.05,\"seed\":3}");
	d2 = num(r2.res, "drift");
	assert_true(d2 < d1);
	near(num(r2.res, "energy0"), num(r.res, "energy0"), 0, "same initial conditions");
	krun_free(&r);
	krun_free(&r2);
	expect_done(&r, "nbody",
		    "{\"n\":32,\"steps\":100,\"dt\":0.001,\"softening\":0.1,\"init\":\"sphere\"}");
	assert_true(num(r.res, "drift") < 1e-4);
	near(num(r.res, "virial"), 2 * num(r.res, "kinetic") / fabs(num(r.res, "potential")), 1e-12,
	     "virial");
	krun_free(&r);
}

/* ---- heat2d ---------------------------------------------------------------- */

static void
test_heat2d(void **state)
{
	struct krun r;
	const cJSON *p;

	(void)state;
	krun_init(&r);
	/* top = 1, others 0: by symmetry the centre is exactly 1/4, in the
	 * continuous and the discrete problem alike */
	expect_done(&r, "heat2d", "{\"n\":33,\"method\":\"sor\",\"tol\":1e-13}");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.res, "converged")));
	assert_true(num(r.res, "residual") <= 1e-13);
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(r.res, "probes")) {
		double u = num(p, "u"), ex = num(p, "exact");

		/* O(h²) discretisation error against the series solution */
		near(u, ex, 3e-3, "probe vs series");
		if (num(p, "x") == 0.5 && num(p, "y") == 0.5) {
			near(u, 0.25, 1e-10, "sor centre");
			near(ex, 0.25, 1e-12, "series centre");
		}
	}
	krun_free(&r);
	expect_done(&r, "heat2d",
		    "{\"n\":17,\"method\":\"jacobi\",\"tol\":1e-12,\"probes\":[0.5,0.5]}");
	near(num(cJSON_GetArrayItem(cJSON_GetObjectItem(r.res, "probes"), 0), "u"), 0.25, 1e-9,
	     "jacobi centre");
	krun_free(&r);
	/* transient from 0 to t = 2: e^(-2π² t) has long died out */
	expect_done(&r, "heat2d", "{\"n\":17,\"method\":\"ftcs\",\"t\":2,\"probes\":[0.5,0.5]}");
	assert_true(num(r.res, "r") <= 0.25);
	near(num(cJSON_GetArrayItem(cJSON_GetObjectItem(r.res, "probes"), 0), "u"), 0.25, 1e-6,
	     "ftcs centre");
	krun_free(&r);
	/* all four sides at 2: the steady state is 2 everywhere */
	expect_done(&r, "heat2d",
		    "{\"n\":9,\"top\":2,\"bottom\":2,\"left\":2,\"right\":2,\"tol\":1e-14}");
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(r.res, "probes"))
		near(num(p, "u"), 2.0, 1e-12, "constant");
	krun_free(&r);
}

/* ---- option ---------------------------------------------------------------- */

static void
test_option(void **state)
{
	struct krun r, rp;
	double s0 = 100, k = 100, rate = 0.05, t = 1;

	(void)state;
	krun_init(&r);
	krun_init(&rp);
	expect_done(&r, "option", "{\"paths\":200000}");
	near(num(r.res, "bs"), 10.4506, 1e-4, "Black-Scholes call (Hull)");
	assert_true(fabs(num(r.res, "mc") - num(r.res, "bs")) < 3 * num(r.res, "stderr"));
	expect_done(&rp, "option", "{\"type\":\"put\",\"paths\":200000}");
	near(num(rp.res, "bs"), 5.5735, 1e-4, "Black-Scholes put");
	assert_true(fabs(num(rp.res, "mc") - num(rp.res, "bs")) < 3 * num(rp.res, "stderr"));
	/* put-call parity of the closed form: C - P = S - K e^(-rT) */
	near(num(r.res, "bs") - num(rp.res, "bs"), s0 - k * exp(-rate * t), 1e-10, "parity");
	krun_free(&r);
	krun_free(&rp);
	expect_done(&r, "option",
		    "{\"paths\":200000,\"antithetic\":false,\"seed\":5,\"sigma\":0.4,\"t\":0.5}");
	assert_true(fabs(num(r.res, "mc") - num(r.res, "bs")) < 3 * num(r.res, "stderr"));
	krun_free(&r);
}

/* ---- matmul / linsolve -------------------------------------------------------- */

static unsigned
thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
check_matmul(size_t n, uint64_t seed)
{
	struct krun r;
	char args[128];
	double *a, *b, maxerr = 0;

	krun_init(&r);
	snprintf(args, sizeof args, "{\"n\":%zu,\"seed\":%llu,\"emit\":true}", n,
		 (unsigned long long)seed);
	expect_done(&r, "matmul", args);
	assert_int_equal(r.ctx.bytes_len, n * n * 8);
	assert_int_equal((int)num(r.res, "threads"), 1);
	assert_true(num(r.res, "max_rel_err") < 1e-13);
	a = malloc(2 * n * n * sizeof *a);
	assert_non_null(a);
	b = a + n * n;
	for (size_t e = 0; e < n * n; e++) {
		uint32_t w[4];

		rng_block(seed, 1, e, w);
		a[e] = 2 * rng_u01(w[0], w[1]) - 1;
		rng_block(seed, 2, e, w);
		b[e] = 2 * rng_u01(w[0], w[1]) - 1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			double ref = 0, scale = 0, got;
			uint64_t u = 0;

			for (size_t k = 0; k < n; k++) {
				ref += a[i * n + k] * b[k * n + j];
				scale += fabs(a[i * n + k] * b[k * n + j]);
			}
			for (int q = 0; q < 8; q++)
				u |= (uint64_t)r.ctx.bytes[(i * n + j) * 8 + (size_t)q] << (8 * q);
			memcpy(&got, &u, 8);
			maxerr = fmax(maxerr, fabs(got - ref) / scale);
		}
	if (!(maxerr < 1e-13))
		fail_msg("matmul n=%zu: max relative error %.3g against the naive product", n,
			 maxerr);
	free(a);
	krun_free(&r);
}

static void
test_matmul(void **state)
{
	(void)state;
	check_matmul(1, 1);
	check_matmul(37, 2);
	check_matmul(530, 3);   /* crosses the 512 tile in both directions */
	/* OpenBLAS was loaded with one thread: no pool was started */
	assert_int_equal(thread_count(), 1);
}

/* Budgets and limits end a task cleanly, with a reason that says which. */
static void
test_limits(void **state)
{
	struct krun r;

	(void)state;
	krun_init(&r);
	/* an evaluation budget too small for the tolerance: DONE, not converged */
	expect_done(&r, "integrate",
		    "{\"f\":\"invsqrt\",\"a\":0,\"b\":1,\"tol\":1e-15,\"max_evals\":500}");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r.res, "converged")));
	assert_true(num(r.res, "evaluations") <= 500);
	krun_free(&r);
	assert_int_equal(krun(&r, "ode", "{\"system\":\"lorenz\",\"t1\":100,\"max_steps\":10}"),
			 KERNEL_FAILED);
	assert_non_null(strstr(r.ctx.reason, "max_steps"));
	krun_free(&r);
	/* 3 * 8192^2 doubles are 1.5 GiB: refused against the default 256 MiB */
	assert_int_equal(krun(&r, "matmul", "{\"n\":8192}"), KERNEL_FAILED);
	assert_non_null(strstr(r.ctx.reason, "n = 8192 needs"));
	assert_non_null(strstr(cJSON_GetObjectItem(r.res, "error")->valuestring, "memory limit"));
	krun_free(&r);
	/* a result larger than the limit fails the task */
	r.ctx.result_max = 100;
	assert_int_equal(krun(&r, "ode", "{\"system\":\"harmonic\",\"t1\":1,\"samples\":50}"),
			 KERNEL_FAILED);
	assert_string_equal(r.ctx.reason, "result_too_large");
	krun_free(&r);
}

static void
test_linsolve(void **state)
{
	struct krun r;

	(void)state;
	krun_init(&r);
	expect_done(&r, "linsolve", "{\"n\":300,\"seed\":4}");
	assert_true(num(r.res, "residual") < 1e-14);
	assert_true(num(r.res, "error") < 1e-8);
	assert_int_equal((int)num(r.res, "threads"), 1);
	krun_free(&r);
	expect_done(&r, "linsolve", "{\"n\":100,\"matrix\":\"diagdom\"}");
	assert_true(num(r.res, "residual") < 1e-15);
	assert_true(num(r.res, "error") < 1e-14);
	krun_free(&r);
	expect_done(&r, "linsolve", "{\"n\":1}");
	near(num(r.res, "error"), 0, 1e-15, "1x1");
	krun_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_philox_kat),
		cmocka_unit_test(test_pi),
		cmocka_unit_test(test_pi_cancel),
		cmocka_unit_test(test_integrate),
		cmocka_unit_test(test_ode_harmonic),
		cmocka_unit_test(test_ode_others),
		cmocka_unit_test(test_nbody),
		cmocka_unit_test(test_heat2d),
		cmocka_unit_test(test_option),
		cmocka_unit_test(test_matmul),
		cmocka_unit_test(test_linsolve),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
