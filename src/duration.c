/*
 * duration — the duration grammar (see duration.h for the grammar and the
 * rounding rule).
 *
 * Arithmetic is integral throughout: a term's whole part is multiplied by
 * its unit with overflow checks against DURATION_MAX_MS, and at most nine
 * fraction digits take part in the rounding (a nanosecond of an hour is
 * far below the millisecond resolution kept); further digits are checked
 * for syntax and for the "non-zero never becomes 0" rule only.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

#define FRAC_DIGITS_MAX 9      /* fraction digits that take part in rounding */

/* Units from largest to smallest; a later term must use a later unit. */
static const struct {
	const char *name;
	uint64_t ms;
} units[] = {
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
	{ "ms", 1 },
};

enum { UNIT_H, UNIT_M, UNIT_S, UNIT_MS, UNIT_NONE };

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The unit at *@p, advancing *@p past it; UNIT_NONE at the end of @s. */
static int
unit_at(const char **p)
{
	const char *s = *p;

	switch (*s) {
	case 'h':
		*p = s + 1;
		return UNIT_H;
	case 'm':
		if (s[1] == 's') {
			*p = s + 2;
			return UNIT_MS;
		}
		*p = s + 1;
		return UNIT_M;
	case 's':
		*p = s + 1;
		return UNIT_S;
	default:
		return UNIT_NONE;
	}
}

/* *@acc += @v, refusing to pass DURATION_MAX_MS. */
static int
add_ms(uint64_t *acc, uint64_t v)
{
	if (v > DURATION_MAX_MS || *acc > DURATION_MAX_MS - v)
		return -ERANGE;
	*acc += v;
	return 0;
}

int
duration_parse(const char *s, uint64_t *ms)
{
	const char *p = s;
	uint64_t total = 0;
	bool nonzero = false;
	int last_unit = -1;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		uint64_t whole = 0, frac = 0, den = 1, unit_ms, v;
		int u;

		if (!is_digit(*p))
			return -EINVAL;
		for (; is_digit(*p); p++) {
			if (*p != '0')
				nonzero = true;
			if (whole > (DURATION_MAX_MS - (uint64_t)(*p - '0')) / 10)
				return -ERANGE;
			whole = whole * 10 + (uint64_t)(*p - '0');
		}
		if (*p == '.') {
			int nd = 0;

			p++;
			if (!is_digit(*p))
				return -EINVAL;
			for (; is_digit(*p); p++, nd++) {
				if (*p != '0')
					nonzero = true;
				if (nd < FRAC_DIGITS_MAX) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					den *= 10;
				}
			}
		}
		u = unit_at(&p);
		if (u == UNIT_NONE) {
			/* a bare number: seconds, and only as the whole string */
			if (*p || last_unit >= 0)
				return -EINVAL;
			u = UNIT_S;
		} else if (u <= last_unit) {
			return -EINVAL;
		}
		last_unit = u;
		unit_ms = units[u].ms;
		if (whole > DURATION_MAX_MS / unit_ms)
			return -ERANGE;
		/* frac < 1e9 and unit_ms <= 3.6e6: the product fits easily */
		v = whole * unit_ms + (frac * unit_ms + den / 2) / den;
		if (add_ms(&total, v))
			return -ERANGE;
	}
	if (total == 0 && nonzero)
		total = 1;
	*ms = total;
	return 0;
}

int
duration_from_seconds(double s, uint64_t *ms)
{
	double x;
	uint64_t v;

	if (isnan(s) || s < 0)
		return -EINVAL;
	if (isinf(s))
		return -ERANGE;
	x = s * 1000.0 + 0.5;
	/* (double)DURATION_MAX_MS rounds up a little; the check below is exact */
	if (x >= (double)DURATION_MAX_MS + 1.0)
		return -ERANGE;
	v = (uint64_t)x;
	if (v > DURATION_MAX_MS)
		return -ERANGE;
	if (v == 0 && s > 0)
		v = 1;
	*ms = v;
	return 0;
}

void
duration_format(uint64_t ms, char *buf, size_t len)
{
	char tmp[DURATION_FMT_MAX];
	uint64_t h = ms / 3600000;
	unsigned m = (unsigned)(ms / 60000 % 60);
	unsigned sec = (unsigned)(ms / 1000 % 60);
	unsigned frac = (unsigned)(ms % 1000);
	size_t n = 0;

	if (len == 0)
		return;
	if (ms == 0) {
		snprintf(tmp, sizeof(tmp), "0s");
	} else if (ms < 1000) {
		snprintf(tmp, sizeof(tmp), "%" PRIu64 "ms", ms);
	} else {
		/* at most 13 + 1 + 2 + 1 + 6 + 1 characters: fits tmp */
		if (h)
			n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%" PRIu64 "h", h);
		if (m)
			n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%um", m);
		if (frac) {
			char f[4];

			snprintf(f, sizeof(f), "%03u", frac);
			for (int i = 2; i > 0 && f[i] == '0'; i--)
				f[i] = '\0';
			snprintf(tmp + n, sizeof(tmp) - n, "%u.%ss", sec, f);
		} else if (sec) {
			snprintf(tmp + n, sizeof(tmp) - n, "%us", sec);
		} else {
			tmp[n] = '\0';
		}
	}
	n = strlen(tmp);
	if (n >= len)
		n = len - 1;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}
