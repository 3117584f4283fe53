/*
 * csv — the reader described in csv.h.  Splitting works in place on the
 * line buffer: an unquoted field is terminated where its delimiter was; a
 * quoted field is unescaped by copying each byte at most once to the left
 * (the write position never passes the read position), so no second buffer
 * is needed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "csv.h"

int
csv_open(struct csv *c, const char *path, char delim)
{
	struct stat st;

	memset(c, 0, sizeof *c);
	c->delim = delim;
	c->f = fopen(path, "re");
	if (c->f == NULL)
		return -errno;
	if (fstat(fileno(c->f), &st) < 0) {
		int rc = -errno;

		fclose(c->f);
		c->f = NULL;
		return rc;
	}
	c->size = (uint64_t)st.st_size;
	return 0;
}

static int
csv_push(struct csv *c, char *field)
{
	if (c->nfields == c->fcap) {
		unsigned ncap = c->fcap ? c->fcap * 2 : 16;
		char **nf = realloc(c->fields, ncap * sizeof *nf);

		if (nf == NULL)
			return -ENOMEM;
		c->fields = nf;
		c->fcap = ncap;
	}
	c->fields[c->nfields++] = field;
	return 0;
}

int
csv_next(struct csv *c)
{
	ssize_t n;
	char *r, *w;
	int rc;

	errno = 0;
	n = getline(&c->line, &c->cap, c->f);
	if (n < 0)
		return errno ? -errno : 0;
	c->lineno++;
	c->bytes += (uint64_t)n;
	if ((size_t)n > CSV_LINE_MAX)
		return -E2BIG;
	if (n > 0 && c->line[n - 1] == '\n')
		c->line[--n] = '\0';
	if (n > 0 && c->line[n - 1] == '\r')
		c->line[--n] = '\0';
	c->nfields = 0;
	r = c->line;
	for (;;) {
		w = r;
		if ((rc = csv_push(c, w)) < 0)
			return rc;
		if (*r == '"') {
			r++;
			for (;;) {
				if (*r == '\0')
					return -EINVAL;
				if (*r == '"') {
					if (r[1] == '"') {
						*w++ = '"';
						r += 2;
						continue;
					}
					r++;
					break;
				}
				*w++ = *r++;
			}
			/* after the closing quote: the delimiter or the end */
			if (*r != c->delim && *r != '\0')
				return -EINVAL;
		} else {
			while (*r != c->delim && *r != '\0')
				*w++ = *r++;
		}
		if (*r == '\0') {
			*w = '\0';
			return 1;
		}
		*w = '\0';
		r++;
	}
}

int
csv_column(const struct csv *c, const char *name)
{
	for (unsigned i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i], name) == 0)
			return (int)i;
	return -1;
}

int
csv_header(struct csv *c, bool header, const char *const *names, int *idx, unsigned n,
	   const char **missing)
{
	int rc;

	for (unsigned i = 0; i < n; i++)
		header = header || names[i] != NULL;
	if (!header)
		return 0;
	rc = csv_next(c);
	if (rc <= 0)
		return rc == 0 ? -ENODATA : rc;
	for (unsigned i = 0; i < n; i++) {
		if (names[i] == NULL)
			continue;
		idx[i] = csv_column(c, names[i]);
		if (idx[i] < 0) {
			*missing = names[i];
			return -ENOENT;
		}
	}
	return 0;
}

void
csv_error(const struct csv *c, int rc, char *buf, size_t len)
{
	const char *why;

	if (rc == -EINVAL)
		why = "unterminated quote (fields with line breaks are not supported)";
	else if (rc == -E2BIG)
		why = "line too long";
	else if (rc == -ENODATA)
		why = "the file is empty (no header)";
	else
		why = strerror(-rc);
	snprintf(buf, len, "line %llu: %s", (unsigned long long)c->lineno, why);
}

bool
csv_blank(const struct csv *c)
{
	return c->nfields == 1 && c->fields[0][0] == '\0';
}

bool
csv_number(const char *s, double *v)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return false;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	/* ERANGE on underflow still gives a usable (tiny) value; overflow is inf */
	return *end == '\0' && isfinite(*v);
}

double
csv_progress(const struct csv *c)
{
	if (c->size == 0)
		return 1.0;
	return c->bytes >= c->size ? 1.0 : (double)c->bytes / (double)c->size;
}

void
csv_close(struct csv *c)
{
	if (c->f != NULL)
		fclose(c->f);
	free(c->line);
	free(c->fields);
	memset(c, 0, sizeof *c);
}
