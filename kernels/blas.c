/*
 * blas — see blas.h for why the libraries are loaded here, on first use.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"

#define BLAS_LAPACKE  "liblapacke.so.3"
#define BLAS_OPENBLAS "libopenblas.so.0"

static struct blas blas_fns;
static bool blas_tried;
static bool blas_ok;
static char blas_err[256];

static void *
blas_sym(void *h, const char *name)
{
	void *p = dlsym(h, name);

	if (p == NULL && blas_err[0] == '\0')
		snprintf(blas_err, sizeof blas_err, "symbol %s not found", name);
	return p;
}

static void
blas_load(void)
{
	const char *old = getenv("OPENBLAS_NUM_THREADS");
	char *saved = old ? strdup(old) : NULL;
	void *hl, *hb = NULL;
	__typeof__(openblas_set_num_threads) *set_threads;

	if (old != NULL && saved == NULL) {
		snprintf(blas_err, sizeof blas_err, "out of memory");
		return;
	}
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	hl = dlopen(BLAS_LAPACKE, RTLD_NOW | RTLD_LOCAL);
	if (hl != NULL)
		hb = dlopen(BLAS_OPENBLAS, RTLD_NOW | RTLD_LOCAL);
	if (saved != NULL)
		setenv("OPENBLAS_NUM_THREADS", saved, 1);
	else
		unsetenv("OPENBLAS_NUM_THREADS");
	free(saved);
	if (hl == NULL || hb == NULL) {
		const char *e = dlerror();

		snprintf(blas_err, sizeof blas_err, "cannot load %s: %s",
			 hl ? BLAS_OPENBLAS : BLAS_LAPACKE, e ? e : "dlopen failed");
		if (hl != NULL)
			dlclose(hl);
		return;
	}
	/* casts from void *: POSIX guarantees function pointers round-trip */
	*(void **)&blas_fns.dgemm = blas_sym(hb, "cblas_dgemm");
	*(void **)&blas_fns.dgemv = blas_sym(hb, "cblas_dgemv");
	*(void **)&blas_fns.threads = blas_sym(hb, "openblas_get_num_threads");
	*(void **)&blas_fns.config = blas_sym(hb, "openblas_get_config");
	*(void **)&set_threads = blas_sym(hb, "openblas_set_num_threads");
	*(void **)&blas_fns.dgesv = blas_sym(hl, "LAPACKE_dgesv");
	if (blas_err[0] != '\0')
		return;         /* the handles stay: harmless, and dlclose of OpenBLAS is fragile */
	set_threads(1);
	blas_ok = true;
}

const struct blas *
blas_get(char *err, size_t errlen)
{
	if (!blas_tried) {
		blas_tried = true;
		blas_load();
	}
	if (!blas_ok) {
		snprintf(err, errlen, "BLAS unavailable: %s", blas_err);
		return NULL;
	}
	return &blas_fns;
}
