/*
 * blas — OpenBLAS (CBLAS) and LAPACKE for the matmul and linsolve kernels,
 * loaded on first use and forced to one thread.
 *
 * Why dlopen rather than linking: Debian's default OpenBLAS is the pthread
 * build, whose library constructor starts a pool of (number of CPUs - 1)
 * threads in every process that links it — forqd, each pinned worker, the
 * forq CLI, every test — sized from OPENBLAS_NUM_THREADS read at that
 * moment, before main() could say otherwise.  A worker is pinned to one
 * core, so those threads would only fight it.  Loading the libraries here,
 * with OPENBLAS_NUM_THREADS=1 in the environment for the duration of the
 * dlopen (then restored, so commands run by exec do not inherit it), means
 * no other process maps OpenBLAS at all and a worker that does runs it on
 * its own thread only; openblas_set_num_threads(1) is called as well.  The
 * headers (cblas.h, lapacke.h) still type-check every call.
 *
 * Libraries: liblapacke.so.3 (which brings liblapack.so.3 and
 * libopenblas.so.0 through Debian's alternatives) and libopenblas.so.0.
 * If OpenBLAS was already mapped by something else, its thread pool is
 * whatever that load made it.
 *
 * Not thread-safe against other users of setenv/getenv during the first
 * call (a worker has one thread); the result is cached for the process.
 */
#ifndef FORQ_BLAS_H
#define FORQ_BLAS_H

#include <stddef.h>
#include <cblas.h>
#include <lapacke.h>

struct blas {
	__typeof__(cblas_dgemm) *dgemm;              /* C = alpha A B + beta C */
	__typeof__(cblas_dgemv) *dgemv;              /* y = alpha A x + beta y */
	__typeof__(LAPACKE_dgesv) *dgesv;            /* A X = B by LU with partial pivoting */
	__typeof__(openblas_get_num_threads) *threads; /* the pool size, 1 here */
	__typeof__(openblas_get_config) *config;     /* build description */
};

/*
 * blas_get - the loaded libraries, or NULL with the reason (dlerror's text)
 * in @err when they cannot be loaded.  The result is static and cached
 * (a failure too).  One thread at a time.
 */
const struct blas *blas_get(char *err, size_t errlen);

#endif
