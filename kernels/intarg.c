/*
 * intarg — one integer argument, validated and packed (see intarg.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intarg.h"

int
intarg_prepare(const cJSON *args, const char *field, uint64_t max, struct kbuf *out, char *err,
	       size_t errlen)
{
	const cJSON *v = NULL, *f;
	double d;

	out->data = NULL;
	out->len = 0;
	if (args == NULL || cJSON_IsNull(args)) {
		snprintf(err, errlen, "\"%s\" is required", field);
		return -EINVAL;
	}
	if (!cJSON_IsObject(args)) {
		snprintf(err, errlen, "args must be an object");
		return -EINVAL;
	}
	cJSON_ArrayForEach(f, args) {
		/* f->string is borrowed, read here only */
		if (f->string == NULL || strcmp(f->string, field) != 0) {
			snprintf(err, errlen, "unknown field \"%s\"", f->string ? f->string : "");
			return -EINVAL;
		}
		if (v != NULL) {
			snprintf(err, errlen, "duplicate field \"%s\"", field);
			return -EINVAL;
		}
		v = f;
	}
	if (v == NULL) {
		snprintf(err, errlen, "\"%s\" is required", field);
		return -EINVAL;
	}
	d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
	/* range first, so the cast that tests for a fraction is defined */
	if (!(d >= 0.0 && d <= (double)max) || (double)(uint64_t)d != d) {
		snprintf(err, errlen, "\"%s\" must be an integer from 0 to %llu", field,
			 (unsigned long long)max);
		return -EINVAL;
	}
	out->data = malloc(INTARG_BLOB_LEN);
	if (out->data == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < INTARG_BLOB_LEN; i++)
		out->data[i] = (unsigned char)((uint64_t)d >> (8 * i));
	out->len = INTARG_BLOB_LEN;
	return 0;
}

bool
intarg_get(const void *blob, size_t len, uint64_t max, uint64_t *v)
{
	const unsigned char *p = blob;
	uint64_t x = 0;

	if (p == NULL || len != INTARG_BLOB_LEN)
		return false;
	for (unsigned i = 0; i < INTARG_BLOB_LEN; i++)
		x |= (uint64_t)p[i] << (8 * i);
	if (x > max)
		return false;
	*v = x;
	return true;
}

uint64_t
intarg_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
