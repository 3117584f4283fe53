/*
 * csv — a small streaming reader of delimited text files for the data
 * kernels (stats, histogram, groupby): one line at a time, split into
 * fields in place.
 *
 * The dialect is RFC 4180 without multi-line fields: a delimiter of one
 * byte (default ','); a field may be quoted with '"', and "" inside quotes
 * is one '"'; a line ends at '\n', and a '\r' before it is dropped.  A
 * quote left open at the end of a line is an error (-EINVAL): fields with
 * line breaks are not supported.  Blank lines are reported (nfields 1,
 * field 0 empty); callers skip them.  Numbers are read with strtod in the C
 * locale (forqd never calls setlocale) with surrounding blanks allowed;
 * nan, inf and anything not wholly numeric are refused.
 *
 * A struct csv belongs to one thread.  Memory: one line and its field
 * table, grown as needed; a line longer than CSV_LINE_MAX is -E2BIG.
 */
#ifndef FORQ_CSV_H
#define FORQ_CSV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CSV_LINE_MAX (16u << 20)   /* longest line, bytes */

struct csv {
	FILE *f;                     /* the file */
	char delim;                  /* field delimiter */
	char *line;                  /* the current line, split in place; getline's buffer */
	size_t cap;                  /* its capacity */
	char **fields;               /* the current line's fields, NUL-terminated */
	unsigned nfields;            /* how many */
	unsigned fcap;               /* capacity of fields */
	uint64_t lineno;             /* 1-based number of the current line */
	uint64_t bytes;              /* bytes read so far */
	uint64_t size;               /* the file's size at open, bytes (for progress) */
};

/*
 * csv_open - open @path for reading with delimiter @delim.  0, or -errno of
 * open/fstat, or -ENOMEM.  Free with csv_close.
 */
int csv_open(struct csv *c, const char *path, char delim);

/*
 * csv_next - read and split the next line.  1 when there is one, 0 at end
 * of file, -EINVAL for an unterminated quote, -E2BIG for a line longer than
 * CSV_LINE_MAX, -ENOMEM, or -errno of the read.
 */
int csv_next(struct csv *c);

/* csv_column - the index of the field equal to @name in the current line, or -1. */
int csv_column(const struct csv *c, const char *name);

/*
 * csv_header - when @header is true or any of @names[0..n) is non-NULL,
 * read the first line as the header, and set idx[i] to the column named
 * names[i] (those that are non-NULL).  0; -ENOENT when a name is not in
 * the header (*@missing says which); -ENODATA for an empty file; or a
 * csv_next error.
 */
int csv_header(struct csv *c, bool header, const char *const *names, int *idx, unsigned n,
	       const char **missing);

/* csv_error - a message for csv_next's error @rc at the current line, into @buf. */
void csv_error(const struct csv *c, int rc, char *buf, size_t len);

/* csv_blank - true when the current line is empty. */
bool csv_blank(const struct csv *c);

/* csv_number - parse @s as a finite double into *@v; false when it is not one. */
bool csv_number(const char *s, double *v);

/* csv_progress - fraction of the file read so far, in [0, 1]. */
double csv_progress(const struct csv *c);

/* csv_close - release everything; safe on a zeroed or closed struct csv. */
void csv_close(struct csv *c);

#endif
