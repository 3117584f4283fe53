/*
 * abi — the adapter that runs kernels of the public ABI (include/forq/kernel.h)
 * as internal kernels (kernels/kernel.h).
 *
 * A public kernel knows nothing of blobs, rings or struct kctx: it declares
 * a schema (a table of struct forq_arg_spec) and a run function that reads
 * its arguments by name through a struct forq_ctx.  This file supplies the
 * rest, in both processes:
 *
 * In forqd, at submit (abi_prepare).  The JSON "args" object is checked
 * field by field against the schema: no unknown or duplicate field; each
 * value of the declared type and inside its range (INT: an integral number,
 * |v| <= 2^53; NUM: finite; STR: length bounds; ENUM: one of the choices;
 * PATH: absolute, an existing regular file forqd can read; OUTPATH:
 * absolute, not a directory, in an existing directory forqd can write;
 * NUMS: an array of 1..FORQ_NUMS_MAX numbers, each in range); required
 * fields present; defaults (JSON text in the spec) filled in.  Every
 * message starts with the field's name ("samples: must be an integer from
 * 1 to 1000000000000").  The values are then packed into the blob below,
 * the blob is unpacked again exactly as a worker will, and the kernel's
 * own validate() sees the unpacked values — so validate() and run() can
 * never disagree about what was submitted, and every accepted blob has
 * been through the worker's decoder once.
 *
 * The blob, format version 1 (STYLE rule 12; every integer little-endian):
 *     off  size
 *     0    1     version, ABI_BLOB_VERSION
 *     1    1     reserved, 0
 *     2    2     number of schema entries
 *     4    4     schema fingerprint: FNV-1a over every entry's name, type,
 *                required flag and has-default flag, in order
 *     8          one record per schema entry, in schema order:
 *                  1 byte tag: 0 = absent (only an optional argument
 *                    without default), else the entry's type
 *                  INT  8 bytes two's complement; NUM 8 bytes IEEE-754
 *                  bits; BOOL 1 byte 0/1; STR ENUM PATH OUTPATH a u32
 *                  length and that many bytes (no NUL); NUMS a u32 count
 *                  and count IEEE-754 doubles
 * and nothing after the last record.  The worker (abi_run) re-checks
 * everything a garbled or stale blob could break: version, count and
 * fingerprint (a plug-in whose schema changed since the task was stored),
 * tags, every length against the bytes left, ranges, choices, NULs,
 * finiteness, trailing bytes.  Any failure is FAILED "bad_blob" and the
 * kernel is not called.  The file-system checks are not repeated: a file
 * removed since submit is the kernel's open() error.
 *
 * In a worker (abi_run).  The blob is unpacked into one allocation (the
 * value table, then string and array copies), run() gets a struct forq_ctx
 * on the stack that points at the worker's struct kctx, and afterwards the
 * adapter removes the task's scratch directory and maps the status (see
 * abi.h).  forq_cancelled() is sticky: once it has seen the cancel word
 * (checked first) or the deadline (CLOCK_MONOTONIC, the worker's clock),
 * it keeps answering so, and forq_stop_status() says which.
 *
 * Results.  forq_result_json() parses the text with cJSON (one complete
 * value, nothing after it), minifies a copy and stores it in kctx.result,
 * which the adapter grows with realloc up to kctx.result_max (see the
 * ownership rules above struct kctx).  forq_result_bytes() copies into a
 * malloc'd kctx.bytes up to kctx.bytes_max.  A refusal for size is sticky:
 * the task ends FAILED "result_too_large" whatever run() returns, because
 * a result the kernel meant to give but could not is a failed task.
 *
 * Nothing here keeps state between tasks; every function may be called
 * from any thread of forqd (prepare, describe, check, schema), and the
 * forq_* calls from the one thread running the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "abi.h"
#include "sys.h"

#define ABI_INT_LIMIT 9007199254740992.0   /* 2^53: integers a JSON double holds exactly */
#define ABI_HDR_LEN   8u                   /* version, reserved, count, fingerprint */

/* One argument's value, decoded. */
struct aval {
	uint8_t present;             /* 0: absent (optional without default) */
	int64_t i;                   /* INT; BOOL as 0/1 */
	double d;                    /* NUM */
	const char *s;               /* STR ENUM PATH OUTPATH: NUL-terminated copy */
	const double *nums;          /* NUMS: count elements */
	size_t count;                /* NUMS: elements; strings: length, bytes */
};

struct forq_args {
	const struct forq_arg_spec *spec; /* the kernel's schema */
	unsigned n;                  /* entries in spec and v */
	struct aval v[];             /* then the copied strings and arrays */
};

struct forq_ctx {
	struct kctx *k;              /* the worker's context */
	const struct forq_kernel *fk;/* the kernel running */
	const struct forq_args *args;/* its decoded arguments */
	int stop;                    /* 0, or FORQ_CANCELLED / FORQ_TIMEOUT once seen */
	bool too_big;                /* a result was refused for its size */
	bool result_set;             /* forq_result_json succeeded at least once */
	bool scratch_made;           /* scratch[] exists and must be removed */
	char scratch[PATH_MAX];      /* the task's scratch directory */
	char fail[256];              /* forq_fail's message, "" if none */
};

/* ---- little helpers ------------------------------------------------------ */

static const char *const abi_type_names[] = {
	[FORQ_ARG_INT] = "int",
	[FORQ_ARG_NUM] = "number",
	[FORQ_ARG_BOOL] = "bool",
	[FORQ_ARG_STR] = "string",
	[FORQ_ARG_ENUM] = "enum",
	[FORQ_ARG_PATH] = "path",
	[FORQ_ARG_OUTPATH] = "outpath",
	[FORQ_ARG_NUMS] = "numbers",
};

static bool
abi_type_ok(int t)
{
	return t >= FORQ_ARG_INT && t <= FORQ_ARG_NUMS;
}

static bool
abi_is_string_type(int t)
{
	return t == FORQ_ARG_STR || t == FORQ_ARG_ENUM || t == FORQ_ARG_PATH ||
	       t == FORQ_ARG_OUTPATH;
}

static bool
abi_has_range(const struct forq_arg_spec *s)
{
	return !(s->min == 0 && s->max == 0);
}

static unsigned
abi_nspec(const struct forq_arg_spec *spec)
{
	unsigned n = 0;

	while (spec != NULL && spec[n].name != NULL && n <= ABI_ARGS_MAX)
		n++;
	return n;
}

static size_t
abi_str_max(const struct forq_arg_spec *s)
{
	if (s->type == FORQ_ARG_PATH || s->type == FORQ_ARG_OUTPATH)
		return PATH_MAX - 1;
	if (s->type == FORQ_ARG_STR && s->max > 0)
		return (size_t)s->max;
	return ABI_STR_MAX;
}

static size_t
abi_str_min(const struct forq_arg_spec *s)
{
	if (s->type == FORQ_ARG_STR && s->min > 0)
		return (size_t)s->min;
	return s->type == FORQ_ARG_STR ? 0 : 1;
}

bool
abi_name_ok(const char *s)
{
	size_t n;

	if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (n = 1; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n <= ABI_NAME_MAX;
}

static uint32_t
abi_fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t
abi_fingerprint(const struct forq_arg_spec *spec, unsigned n)
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < n; i++) {
		unsigned char t[3] = { (unsigned char)spec[i].type, spec[i].required ? 1 : 0,
				       spec[i].def ? 1 : 0 };

		h = abi_fnv(h, spec[i].name, strlen(spec[i].name) + 1);
		h = abi_fnv(h, t, sizeof t);
	}
	return h;
}

/* "a, b, c" of a NULL-terminated list into @buf. */
static void
abi_join(char *buf, size_t len, const char *const *list, const struct forq_arg_spec *spec)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; off < len; i++) {
		const char *s = list ? list[i] : spec[i].name;
		int w;

		if (s == NULL)
			break;
		w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", s);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* ---- checking one JSON value against its spec ----------------------------- */

static bool
abi_in_range(const struct forq_arg_spec *s, double v)
{
	return !abi_has_range(s) || (v >= s->min && v <= s->max);
}

static int
abi_bad_number(const struct forq_arg_spec *s, bool integer, bool list, char *err, size_t errlen)
{
	const char *what = integer ? "an integer" : "a number";

	if (list) {
		if (abi_has_range(s))
			snprintf(err, errlen,
				 "%s: must be an array of 1 to %u numbers from %.15g to %.15g",
				 s->name, FORQ_NUMS_MAX, s->min, s->max);
		else
			snprintf(err, errlen, "%s: must be an array of 1 to %u numbers", s->name,
				 FORQ_NUMS_MAX);
	} else if (abi_has_range(s)) {
		snprintf(err, errlen, "%s: must be %s from %.15g to %.15g", s->name, what, s->min,
			 s->max);
	} else {
		snprintf(err, errlen, "%s: must be %s", s->name, what);
	}
	return -EINVAL;
}

static int
abi_check_path(const struct forq_arg_spec *s, const char *p, char *err, size_t errlen)
{
	struct stat st;

	if (p[0] != '/') {
		snprintf(err, errlen,
			 "%s: must be an absolute path (starting with /), not \"%.80s\"", s->name,
			 p);
		return -EINVAL;
	}
	if (s->type == FORQ_ARG_PATH) {
		if (stat(p, &st) < 0) {
			snprintf(err, errlen, "%s: %.100s: %s", s->name, p, strerror(errno));
			return -EINVAL;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: %.100s: not a regular file", s->name, p);
			return -EINVAL;
		}
		if (faccessat(AT_FDCWD, p, R_OK, AT_EACCESS) < 0) {
			snprintf(err, errlen, "%s: %.100s: not readable (%s)", s->name, p,
				 strerror(errno));
			return -EINVAL;
		}
		return 0;
	}
	/* OUTPATH: its directory must exist and be writable; it must not be one. */
	{
		char dir[PATH_MAX];
		const char *slash = strrchr(p, '/');
		size_t dl = (size_t)(slash - p);

		if (slash[1] == '\0') {
			snprintf(err, errlen, "%s: %.100s: names a directory, not a file", s->name,
				 p);
			return -EINVAL;
		}
		if (dl == 0)
			dl = 1;         /* "/file": the directory is "/" */
		memcpy(dir, p, dl);
		dir[dl] = '\0';
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: directory %.100s does not exist", s->name, dir);
			return -EINVAL;
		}
		if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
			snprintf(err, errlen, "%s: directory %.100s is not writable (%s)", s->name,
				 dir, strerror(errno));
			return -EINVAL;
		}
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: %.100s is a directory", s->name, p);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Check JSON value @j against spec @s (the file system too when @fs).
 * 0, or -EINVAL with the message.  Borrows nothing beyond the call.
 */
static int
abi_check_value(const struct forq_arg_spec *s, const cJSON *j, bool fs, char *err, size_t errlen)
{
	double d;
	size_t len;

	switch (s->type) {
	case FORQ_ARG_INT:
		d = cJSON_IsNumber(j) ? j->valuedouble : NAN;
		/* range first, so that floor() sees a finite value */
		if (!(fabs(d) <= ABI_INT_LIMIT) || floor(d) != d || !abi_in_range(s, d))
			return abi_bad_number(s, true, false, err, errlen);
		return 0;
	case FORQ_ARG_NUM:
		d = cJSON_IsNumber(j) ? j->valuedouble : NAN;
		if (!isfinite(d) || !abi_in_range(s, d))
			return abi_bad_number(s, false, false, err, errlen);
		return 0;
	case FORQ_ARG_BOOL:
		if (!cJSON_IsBool(j)) {
			snprintf(err, errlen, "%s: must be true or false", s->name);
			return -EINVAL;
		}
		return 0;
	case FORQ_ARG_NUMS: {
		const cJSON *e;
		int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 0;

		if (n < 1 || n > (int)FORQ_NUMS_MAX)
			return abi_bad_number(s, false, true, err, errlen);
		cJSON_ArrayForEach(e, j) {
			d = cJSON_IsNumber(e) ? e->valuedouble : NAN;
			if (!isfinite(d) || !abi_in_range(s, d))
				return abi_bad_number(s, false, true, err, errlen);
		}
		return 0;
	}
	default:
		break;
	}
	/* the string types */
	if (!cJSON_IsString(j) || j->valuestring == NULL) {
		snprintf(err, errlen, "%s: must be a string", s->name);
		return -EINVAL;
	}
	len = strlen(j->valuestring);
	if (s->type == FORQ_ARG_ENUM) {
		char list[160];

		for (unsigned i = 0; s->choices && s->choices[i]; i++)
			if (strcmp(s->choices[i], j->valuestring) == 0)
				return 0;
		abi_join(list, sizeof list, s->choices, NULL);
		snprintf(err, errlen, "%s: must be one of %s", s->name, list);
		return -EINVAL;
	}
	if (len < abi_str_min(s) || len > abi_str_max(s)) {
		snprintf(err, errlen, "%s: must be a string of %zu to %zu bytes", s->name,
			 abi_str_min(s), abi_str_max(s));
		return -EINVAL;
	}
	if (s->type == FORQ_ARG_STR)
		return 0;
	if (!fs) {
		if (j->valuestring[0] != '/') {
			snprintf(err, errlen, "%s: must be an absolute path", s->name);
			return -EINVAL;
		}
		return 0;
	}
	return abi_check_path(s, j->valuestring, err, errlen);
}

/* ---- packing --------------------------------------------------------------- */

struct abi_buf {
	unsigned char *p;            /* malloc'd */
	size_t len;                  /* bytes used */
	size_t cap;                  /* bytes allocated */
	bool nomem;                  /* an append failed: the buffer is incomplete */
};

static void
abi_put(struct abi_buf *b, const void *src, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		unsigned char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->nomem = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void
abi_put_u64(struct abi_buf *b, uint64_t v)
{
	unsigned char x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	abi_put(b, x, 8);
}

static void
abi_put_u32(struct abi_buf *b, uint32_t v)
{
	unsigned char x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	abi_put(b, x, 4);
}

static void
abi_put_f64(struct abi_buf *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	abi_put_u64(b, u);
}

/* Append the record for an already checked value @j of spec @s. */
static void
abi_pack_value(struct abi_buf *b, const struct forq_arg_spec *s, const cJSON *j)
{
	unsigned char tag = (unsigned char)s->type;
	const cJSON *e;
	size_t n;

	abi_put(b, &tag, 1);
	switch (s->type) {
	case FORQ_ARG_INT:
		abi_put_u64(b, (uint64_t)(int64_t)j->valuedouble);
		break;
	case FORQ_ARG_NUM:
		abi_put_f64(b, j->valuedouble);
		break;
	case FORQ_ARG_BOOL: {
		unsigned char v = cJSON_IsTrue(j) ? 1 : 0;

		abi_put(b, &v, 1);
		break;
	}
	case FORQ_ARG_NUMS:
		abi_put_u32(b, (uint32_t)cJSON_GetArraySize(j));
		cJSON_ArrayForEach(e, j)
			abi_put_f64(b, e->valuedouble);
		break;
	default:
		n = strlen(j->valuestring);
		abi_put_u32(b, (uint32_t)n);
		abi_put(b, j->valuestring, n);
		break;
	}
}

/* ---- unpacking --------------------------------------------------------------- */

struct abi_rd {
	const unsigned char *p;      /* next byte */
	size_t left;                 /* bytes left */
};

static bool
abi_get(struct abi_rd *r, void *dst, size_t n)
{
	if (n > r->left)
		return false;
	memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

static bool
abi_get_u64(struct abi_rd *r, uint64_t *v)
{
	unsigned char x[8];

	if (!abi_get(r, x, 8))
		return false;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v |= (uint64_t)x[i] << (8 * i);
	return true;
}

static bool
abi_get_u32(struct abi_rd *r, uint32_t *v)
{
	unsigned char x[4];

	if (!abi_get(r, x, 4))
		return false;
	*v = (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
	return true;
}

static bool
abi_get_f64(struct abi_rd *r, double *d)
{
	uint64_t u;

	if (!abi_get_u64(r, &u))
		return false;
	memcpy(d, &u, sizeof *d);
	return true;
}

/*
 * Decode @blob for schema @spec into a new struct forq_args (free() it).
 * NULL for a blob that is not exactly a valid version-1 blob of this
 * schema; *@nomem tells an allocation failure apart.
 */
static struct forq_args *
abi_unpack(const struct forq_arg_spec *spec, const void *blob, size_t len, bool *nomem)
{
	unsigned n = abi_nspec(spec);
	struct abi_rd r = { blob, len };
	unsigned char hdr[4];
	uint32_t fp;
	struct forq_args *a;
	unsigned char *pool;
	size_t size;

	*nomem = false;
	if (blob == NULL || len < ABI_HDR_LEN || len > KBLOB_MAX)
		return NULL;
	abi_get(&r, hdr, 4);
	abi_get_u32(&r, &fp);
	if (hdr[0] != ABI_BLOB_VERSION || hdr[1] != 0 || (unsigned)(hdr[2] | hdr[3] << 8) != n ||
	    fp != abi_fingerprint(spec, n))
		return NULL;
	/* Copies never exceed the blob's bytes, plus a NUL per string and
	 * alignment for each array. */
	size = sizeof *a + n * sizeof a->v[0] + len + n * (1 + sizeof(double));
	a = calloc(1, size);
	if (a == NULL) {
		*nomem = true;
		return NULL;
	}
	a->spec = spec;
	a->n = n;
	pool = (unsigned char *)&a->v[n];
	for (unsigned i = 0; i < n; i++) {
		const struct forq_arg_spec *s = &spec[i];
		struct aval *v = &a->v[i];
		unsigned char tag, b;
		uint64_t u;
		uint32_t cnt;

		if (!abi_get(&r, &tag, 1))
			goto out_bad;
		if (tag == 0) {
			if (s->required || s->def != NULL)
				goto out_bad;
			continue;
		}
		if (tag != s->type)
			goto out_bad;
		v->present = 1;
		switch (s->type) {
		case FORQ_ARG_INT:
			if (!abi_get_u64(&r, &u))
				goto out_bad;
			v->i = (int64_t)u;
			if (!(fabs((double)v->i) <= ABI_INT_LIMIT) ||
			    !abi_in_range(s, (double)v->i))
				goto out_bad;
			break;
		case FORQ_ARG_NUM:
			if (!abi_get_f64(&r, &v->d) || !isfinite(v->d) || !abi_in_range(s, v->d))
				goto out_bad;
			break;
		case FORQ_ARG_BOOL:
			if (!abi_get(&r, &b, 1) || b > 1)
				goto out_bad;
			v->i = b;
			break;
		case FORQ_ARG_NUMS: {
			double *dst;

			if (!abi_get_u32(&r, &cnt) || cnt < 1 || cnt > FORQ_NUMS_MAX ||
			    (size_t)cnt * 8 > r.left)
				goto out_bad;
			pool += (8 - (uintptr_t)pool % 8) % 8;
			dst = (double *)(void *)pool;
			for (uint32_t k = 0; k < cnt; k++)
				if (!abi_get_f64(&r, &dst[k]) || !isfinite(dst[k]) ||
				    !abi_in_range(s, dst[k]))
					goto out_bad;
			v->nums = dst;
			v->count = cnt;
			pool += (size_t)cnt * 8;
			break;
		}
		default: {
			char *dst = (char *)pool;

			if (!abi_get_u32(&r, &cnt) || cnt > r.left || cnt < abi_str_min(s) ||
			    cnt > abi_str_max(s) || !abi_get(&r, dst, cnt) ||
			    memchr(dst, '\0', cnt))
				goto out_bad;
			dst[cnt] = '\0';
			v->s = dst;
			v->count = cnt;
			pool += cnt + 1;
			if ((s->type == FORQ_ARG_PATH || s->type == FORQ_ARG_OUTPATH) &&
			    dst[0] != '/')
				goto out_bad;
			if (s->type == FORQ_ARG_ENUM) {
				unsigned k;

				for (k = 0; s->choices[k] && strcmp(s->choices[k], dst) != 0; k++)
					;
				if (s->choices[k] == NULL)
					goto out_bad;
			}
			break;
		}
		}
	}
	if (r.left != 0)
		goto out_bad;
	return a;
out_bad:
	free(a);
	return NULL;
}

/* ---- abi_prepare --------------------------------------------------------------- */

int
abi_prepare(const struct forq_kernel *fk, const cJSON *args, struct kbuf *out, char *err,
	    size_t errlen)
{
	const struct forq_arg_spec *spec = fk->args;
	unsigned n = abi_nspec(spec);
	/* given[i]: spec i's value, borrowed from @args or owned by defs[i];
	 * used only within this call */
	const cJSON *given[ABI_ARGS_MAX] = { NULL };
	cJSON *defs[ABI_ARGS_MAX] = { NULL };
	struct abi_buf b = { NULL, 0, 0, false };
	struct forq_args *a = NULL;
	const cJSON *f;
	unsigned char hdr[4];
	bool nomem;
	int rc = -EINVAL;

	out->data = NULL;
	out->len = 0;
	if (errlen)
		err[0] = '\0';
	if (n > ABI_ARGS_MAX) {         /* abi_check refuses such a kernel at registration */
		snprintf(err, errlen, "kernel %s: schema too large", fk->name);
		return -EINVAL;
	}
	if (args != NULL && !cJSON_IsNull(args) && !cJSON_IsObject(args)) {
		snprintf(err, errlen, "args must be a JSON object");
		return -EINVAL;
	}
	if (args != NULL && cJSON_IsObject(args)) {
		cJSON_ArrayForEach(f, args) {
			/* f->string is borrowed, read only here */
			const char *name = f->string ? f->string : "";
			unsigned i;

			for (i = 0; i < n && strcmp(spec[i].name, name) != 0; i++)
				;
			if (i == n) {
				char list[120];

				abi_join(list, sizeof list, NULL, spec);
				if (n)
					snprintf(err, errlen,
						 "unknown field \"%.40s\" (%s takes %s)", name,
						 fk->name, list);
				else
					snprintf(err, errlen,
						 "unknown field \"%.40s\" (%s takes no arguments)",
						 name, fk->name);
				return -EINVAL;
			}
			if (given[i] != NULL) {
				snprintf(err, errlen, "%s: given twice", name);
				return -EINVAL;
			}
			given[i] = f;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct forq_arg_spec *s = &spec[i];

		if (given[i] == NULL && s->required) {
			snprintf(err, errlen, "%s: required (%s)", s->name,
				 s->help ? s->help : abi_type_names[s->type]);
			rc = -EINVAL;
			goto out;
		}
		if (given[i] == NULL && s->def != NULL) {
			defs[i] = cJSON_Parse(s->def);
			if (defs[i] == NULL) {
				rc = -ENOMEM;   /* abi_check proved the text parses */
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			given[i] = defs[i];
		}
		if (given[i] != NULL && (rc = abi_check_value(s, given[i], true, err, errlen)) < 0)
			goto out;
	}
	hdr[0] = ABI_BLOB_VERSION;
	hdr[1] = 0;
	hdr[2] = (unsigned char)(n & 0xff);
	hdr[3] = (unsigned char)(n >> 8);
	abi_put(&b, hdr, 4);
	abi_put_u32(&b, abi_fingerprint(spec, n));
	for (unsigned i = 0; i < n; i++) {
		unsigned char zero = 0;

		if (given[i] == NULL)
			abi_put(&b, &zero, 1);
		else
			abi_pack_value(&b, &spec[i], given[i]);
	}
	if (b.nomem) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (b.len > KBLOB_MAX) {
		rc = -EINVAL;
		snprintf(err, errlen, "arguments compile to %zu bytes, more than %u", b.len,
			 KBLOB_MAX);
		goto out;
	}
	/* Through the worker's decoder once, and validate() sees its output. */
	a = abi_unpack(spec, b.p, b.len, &nomem);
	if (a == NULL) {
		rc = nomem ? -ENOMEM : -EINVAL;
		snprintf(err, errlen,
			 nomem ? "out of memory" : "internal error: blob does not decode");
		goto out;
	}
	if (fk->validate != NULL && fk->validate(a, err, errlen) != 0) {
		if (errlen && err[0] == '\0')
			snprintf(err, errlen, "arguments refused by kernel %s", fk->name);
		rc = -EINVAL;
		goto out;
	}
	out->data = b.p;
	out->len = b.len;
	b.p = NULL;
	rc = 0;
out:
	free(a);
	free(b.p);
	for (unsigned i = 0; i < n; i++)
		cJSON_Delete(defs[i]);
	return rc;
}

/* ---- argument accessors (public) ------------------------------------------- */

static const struct aval *
abi_val(const struct forq_args *a, const char *name, int type)
{
	if (a == NULL || name == NULL)
		return NULL;
	for (unsigned i = 0; i < a->n; i++) {
		if (strcmp(a->spec[i].name, name) != 0)
			continue;
		if (type == FORQ_ARG_STR ? !abi_is_string_type((int)a->spec[i].type)
					 : (int)a->spec[i].type != type)
			return NULL;
		return a->v[i].present ? &a->v[i] : NULL;
	}
	return NULL;
}

int
forq_args_has(const struct forq_args *a, const char *name)
{
	if (a == NULL || name == NULL)
		return 0;
	for (unsigned i = 0; i < a->n; i++)
		if (strcmp(a->spec[i].name, name) == 0)
			return a->v[i].present;
	return 0;
}

int64_t
forq_args_int(const struct forq_args *a, const char *name)
{
	const struct aval *v = abi_val(a, name, FORQ_ARG_INT);

	return v ? v->i : 0;
}

double
forq_args_num(const struct forq_args *a, const char *name)
{
	const struct aval *v = abi_val(a, name, FORQ_ARG_NUM);

	return v ? v->d : 0;
}

int
forq_args_bool(const struct forq_args *a, const char *name)
{
	const struct aval *v = abi_val(a, name, FORQ_ARG_BOOL);

	return v ? (int)v->i : 0;
}

const char *
forq_args_str(const struct forq_args *a, const char *name)
{
	const struct aval *v = abi_val(a, name, FORQ_ARG_STR);

	return v ? v->s : NULL;
}

const double *
forq_args_nums(const struct forq_args *a, const char *name, size_t *n)
{
	const struct aval *v = abi_val(a, name, FORQ_ARG_NUMS);

	if (n != NULL)
		*n = v ? v->count : 0;
	return v ? v->nums : NULL;
}

int
forq_arg_has(struct forq_ctx *c, const char *name)
{
	return forq_args_has(c->args, name);
}

int64_t
forq_arg_int(struct forq_ctx *c, const char *name)
{
	return forq_args_int(c->args, name);
}

double
forq_arg_num(struct forq_ctx *c, const char *name)
{
	return forq_args_num(c->args, name);
}

int
forq_arg_bool(struct forq_ctx *c, const char *name)
{
	return forq_args_bool(c->args, name);
}

const char *
forq_arg_str(struct forq_ctx *c, const char *name)
{
	return forq_args_str(c->args, name);
}

const double *
forq_arg_nums(struct forq_ctx *c, const char *name, size_t *n)
{
	return forq_args_nums(c->args, name, n);
}

/* ---- the task (public) ---------------------------------------------------------- */

uint64_t
forq_task_id(struct forq_ctx *c)
{
	return c->k->task_id;
}

unsigned
forq_attempt(struct forq_ctx *c)
{
	return c->k->attempt;
}

int64_t
forq_array_index(struct forq_ctx *c)
{
	return c->k->array_index >= 0 ? c->k->array_index : -1;
}

int
forq_cpu(struct forq_ctx *c)
{
	return c->k->cpu;
}

int
forq_numa(struct forq_ctx *c)
{
	return c->k->numa;
}

uint64_t
forq_deadline_ns(struct forq_ctx *c)
{
	return c->k->deadline_ns;
}

size_t
forq_mem_limit(struct forq_ctx *c)
{
	return c->k->mem_limit ? c->k->mem_limit : KCTX_MEM_DEFAULT;
}

const char *
forq_scratch_dir(struct forq_ctx *c)
{
	const char *base = c->k->scratch_base;
	int n;

	if (c->scratch_made)
		return c->scratch;
	if (base == NULL || base[0] == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	n = snprintf(c->scratch, sizeof c->scratch, "%s/forq-scratch-%" PRIu64 "-XXXXXX", base,
		     c->k->task_id);
	if (n < 0 || (size_t)n >= sizeof c->scratch || mkdtemp(c->scratch) == NULL) {
		c->scratch[0] = '\0';
		return NULL;
	}
	c->scratch_made = true;
	return c->scratch;
}

void
forq_progress(struct forq_ctx *c, double fraction)
{
	uint32_t pm;

	if (!(fraction >= 0))        /* NaN too */
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	pm = (uint32_t)(fraction * 1000.0 + 0.5);
	/* relaxed: a figure for display, sampled by forqd; nothing rides on it */
	if (c->k->progress_permille != NULL)
		atomic_store_explicit(c->k->progress_permille, pm, memory_order_relaxed);
	if (c->k->beat != NULL)
		c->k->beat(c->k->beat_arg);
}

int
forq_cancelled(struct forq_ctx *c)
{
	if (c->stop)
		return 1;
	/* The worker's heartbeat also forwards a cancel into ctx->cancel: beat
	 * here too, so a kernel that checks often sees a cancel promptly
	 * whether or not it reports progress as often. */
	if (c->k->beat != NULL)
		c->k->beat(c->k->beat_arg);
	/* relaxed: a lone flag, nothing is published with it; a late read only
	 * delays the stop */
	if (c->k->cancel != NULL && atomic_load_explicit(c->k->cancel, memory_order_relaxed) != 0)
		c->stop = FORQ_CANCELLED;
	else if (c->k->deadline_ns != 0 && sys_now_ns() >= c->k->deadline_ns)
		c->stop = FORQ_TIMEOUT;
	return c->stop != 0;
}

int
forq_stop_status(struct forq_ctx *c)
{
	if (!forq_cancelled(c))
		return FORQ_CANCELLED;  /* asked without a reason: treat as a cancel */
	return c->stop;
}

/* ---- results (public) ------------------------------------------------------------ */

/* Store @len bytes of JSON text as the result, growing the buffer if allowed. */
static int
abi_set_result(struct forq_ctx *c, const char *text, size_t len)
{
	struct kctx *k = c->k;
	size_t limit = k->result_max ? k->result_max : (k->result_cap ? k->result_cap - 1 : 0);

	if (len > limit) {
		c->too_big = true;
		return -EFBIG;
	}
	if (len + 1 > k->result_cap) {
		char *np = realloc(k->result, len + 1); /* result_max != 0 here: malloc'd or NULL */

		if (np == NULL)
			return -ENOMEM;
		k->result = np;
		k->result_cap = len + 1;
	}
	memcpy(k->result, text, len);
	k->result[len] = '\0';
	k->result_len = len;
	return 0;
}

int
forq_result_json(struct forq_ctx *c, const char *json)
{
	const char *end = NULL;
	cJSON *j;
	char *copy;
	size_t len;
	int rc;

	if (json == NULL)
		return -EINVAL;
	j = cJSON_ParseWithOpts(json, &end, 1);
	if (j == NULL)
		return -EINVAL;
	cJSON_Delete(j);
	len = strlen(json);
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, json, len + 1);
	cJSON_Minify(copy);
	rc = abi_set_result(c, copy, strlen(copy));
	free(copy);
	if (rc == 0)
		c->result_set = true;
	return rc;
}

int
forq_result_printf(struct forq_ctx *c, const char *fmt, ...)
{
	char small[1024];
	char *buf = small;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof small) {
		buf = malloc((size_t)n + 1);
		if (buf == NULL)
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	rc = forq_result_json(c, buf);
	if (buf != small)
		free(buf);
	return rc;
}

int
forq_result_bytes(struct forq_ctx *c, const void *data, size_t len)
{
	struct kctx *k = c->k;
	unsigned char *p = NULL;

	if (len > k->bytes_max) {
		c->too_big = true;
		return -EFBIG;
	}
	if (len > 0) {
		if (data == NULL)
			return -EINVAL;
		p = malloc(len);
		if (p == NULL)
			return -ENOMEM;
		memcpy(p, data, len);
	}
	free(k->bytes);
	k->bytes = p;
	k->bytes_len = len;
	return 0;
}

int
forq_fail(struct forq_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fail, sizeof c->fail, fmt, ap);
	va_end(ap);
	return FORQ_FAILED;
}

/* ---- abi_run ----------------------------------------------------------------------- */

static int
abi_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);           /* best effort: what cannot go stays */
	return 0;
}

static enum kernel_outcome
abi_end(struct kctx *k, enum kernel_outcome o, const char *reason)
{
	size_t n = 0;

	while (n < sizeof k->reason - 1 && reason[n] != '\0')  /* a long message is cut */
		n++;
	k->exit_code = o == KERNEL_DONE ? 0 : 1;
	memcpy(k->reason, reason, n);
	k->reason[n] = '\0';
	return o;
}

/* {"error": msg} as the result, when nothing else was set and it fits. */
static void
abi_error_result(struct forq_ctx *c, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	if (o == NULL)
		return;
	if (cJSON_AddStringToObject(o, "error", msg) != NULL &&
	    (text = cJSON_PrintUnformatted(o)) != NULL) {
		abi_set_result(c, text, strlen(text));
		cJSON_free(text);
	}
	cJSON_Delete(o);
}

enum kernel_outcome
abi_run(const struct forq_kernel *fk, struct kctx *k, const void *blob, size_t len)
{
	struct forq_ctx c;
	struct forq_args *a;
	enum kernel_outcome o;
	bool nomem;
	int st;

	k->term_signal = 0;
	k->result_len = 0;
	k->bytes_len = 0;
	a = abi_unpack(fk->args, blob, len, &nomem);
	if (a == NULL)
		return abi_end(k, KERNEL_FAILED, nomem ? "out of memory" : "bad_blob");
	memset(&c, 0, sizeof c);
	c.k = k;
	c.fk = fk;
	c.args = a;
	st = fk->run(&c);
	if (c.scratch_made)
		nftw(c.scratch, abi_rm, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (c.too_big) {
		char msg[96];
		size_t lim =
			k->result_max ? k->result_max : (k->result_cap ? k->result_cap - 1 : 0);

		snprintf(msg, sizeof msg,
			 "result exceeds the limit (%zu bytes JSON, %zu bytes raw)", lim,
			 k->bytes_max);
		c.too_big = false;
		k->result_len = 0;
		abi_error_result(&c, msg);
		o = abi_end(k, KERNEL_FAILED, "result_too_large");
	} else if (st == FORQ_DONE) {
		o = abi_end(k, KERNEL_DONE, "");
	} else if (st == FORQ_FAILED) {
		const char *msg = c.fail[0] ? c.fail : "failed";

		if (!c.result_set)
			abi_error_result(&c, msg);
		o = abi_end(k, KERNEL_FAILED, msg);
	} else if (st == FORQ_CANCELLED) {
		o = abi_end(k, KERNEL_CANCELLED, "cancelled");
	} else if (st == FORQ_TIMEOUT) {
		o = abi_end(k, KERNEL_TIMEOUT, "timeout");
	} else {
		o = abi_end(k, KERNEL_FAILED, "bad_status");
	}
	free(a);
	return o;
}

/* ---- describing -------------------------------------------------------------------- */

static cJSON *
abi_value_json(const struct forq_arg_spec *s, const struct aval *v)
{
	switch (s->type) {
	case FORQ_ARG_INT:
		return cJSON_CreateNumber((double)v->i);
	case FORQ_ARG_NUM:
		return cJSON_CreateNumber(v->d);
	case FORQ_ARG_BOOL:
		return cJSON_CreateBool(v->i != 0);
	case FORQ_ARG_NUMS:
		return cJSON_CreateDoubleArray(v->nums, (int)v->count);
	default:
		return cJSON_CreateString(v->s);
	}
}

cJSON *
abi_describe_blob(const struct forq_kernel *fk, const void *blob, size_t len)
{
	bool nomem;
	struct forq_args *a = abi_unpack(fk->args, blob, len, &nomem);
	cJSON *o;

	if (a == NULL)
		return NULL;
	o = cJSON_CreateObject();
	for (unsigned i = 0; o != NULL && i < a->n; i++) {
		cJSON *v;

		if (!a->v[i].present)
			continue;
		v = abi_value_json(&a->spec[i], &a->v[i]);
		if (v == NULL || !cJSON_AddItemToObject(o, a->spec[i].name, v)) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			o = NULL;
		}
	}
	free(a);
	return o;
}

cJSON *
abi_schema(const struct forq_kernel *fk)
{
	cJSON *arr = cJSON_CreateArray();
	unsigned n = abi_nspec(fk->args);

	for (unsigned i = 0; arr != NULL && i < n; i++) {
		const struct forq_arg_spec *s = &fk->args[i];
		cJSON *o = cJSON_CreateObject();
		bool ok = o != NULL && cJSON_AddItemToArray(arr, o);

		if (!ok) {
			cJSON_Delete(o);
			break;
		}
		ok = cJSON_AddStringToObject(o, "name", s->name) &&
		     cJSON_AddStringToObject(o, "type", abi_type_names[s->type]) &&
		     cJSON_AddBoolToObject(o, "required", s->required != 0);
		if (ok &&
		    (s->type == FORQ_ARG_INT || s->type == FORQ_ARG_NUM ||
		     s->type == FORQ_ARG_NUMS) &&
		    abi_has_range(s))
			ok = cJSON_AddNumberToObject(o, "min", s->min) &&
			     cJSON_AddNumberToObject(o, "max", s->max);
		if (ok && s->type == FORQ_ARG_STR)
			ok = cJSON_AddNumberToObject(o, "min", (double)abi_str_min(s)) &&
			     cJSON_AddNumberToObject(o, "max", (double)abi_str_max(s));
		if (ok && s->def != NULL) {
			cJSON *d = cJSON_Parse(s->def);

			ok = d != NULL && cJSON_AddItemToObject(o, "default", d);
			if (!ok)
				cJSON_Delete(d);
		}
		if (ok && s->type == FORQ_ARG_ENUM) {
			cJSON *ch = cJSON_AddArrayToObject(o, "choices");

			for (unsigned k = 0; ok && ch && s->choices[k]; k++) {
				cJSON *e = cJSON_CreateString(s->choices[k]);

				ok = e != NULL && cJSON_AddItemToArray(ch, e);
				if (!ok)
					cJSON_Delete(e);
			}
			ok = ok && ch != NULL;
		}
		if (ok)
			ok = cJSON_AddStringToObject(o, "help", s->help ? s->help : "") != NULL;
		if (!ok) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- checking a definition ---------------------------------------------------------- */

static bool
abi_check_spec(const struct forq_kernel *fk, unsigned i, char *err, size_t errlen)
{
	const struct forq_arg_spec *s = &fk->args[i];
	bool numeric =
		s->type == FORQ_ARG_INT || s->type == FORQ_ARG_NUM || s->type == FORQ_ARG_NUMS;

	if (!abi_name_ok(s->name)) {
		snprintf(
			err, errlen,
			"kernel %s: argument %u: bad name (want [a-z][a-z0-9_]*, at most %u bytes)",
			fk->name, i, ABI_NAME_MAX);
		return false;
	}
	for (unsigned k = 0; k < i; k++)
		if (strcmp(fk->args[k].name, s->name) == 0) {
			snprintf(err, errlen, "kernel %s: argument %s declared twice", fk->name,
				 s->name);
			return false;
		}
	if (!abi_type_ok((int)s->type)) {
		snprintf(err, errlen, "kernel %s: argument %s: unknown type %d", fk->name, s->name,
			 (int)s->type);
		return false;
	}
	if (s->required != 0 && s->required != 1) {
		snprintf(err, errlen, "kernel %s: argument %s: required must be 0 or 1", fk->name,
			 s->name);
		return false;
	}
	if (!isfinite(s->min) || !isfinite(s->max) || s->min > s->max ||
	    (s->type == FORQ_ARG_INT && abi_has_range(s) &&
	     (floor(s->min) != s->min || floor(s->max) != s->max || fabs(s->min) > ABI_INT_LIMIT ||
	      fabs(s->max) > ABI_INT_LIMIT)) ||
	    (s->type == FORQ_ARG_STR &&
	     (s->min < 0 || s->max > ABI_STR_MAX || (s->max > 0 && s->min > s->max))) ||
	    (!numeric && s->type != FORQ_ARG_STR && abi_has_range(s))) {
		snprintf(err, errlen, "kernel %s: argument %s: bad range", fk->name, s->name);
		return false;
	}
	if (s->type == FORQ_ARG_ENUM) {
		unsigned k;

		for (k = 0; s->choices && s->choices[k]; k++)
			if (s->choices[k][0] == '\0' || strlen(s->choices[k]) > 64)
				break;
		if (s->choices == NULL || k == 0 || s->choices[k] != NULL) {
			snprintf(err, errlen,
				 "kernel %s: argument %s: enum needs 1 or more choices of 1 to 64 "
				 "bytes",
				 fk->name, s->name);
			return false;
		}
	} else if (s->choices != NULL) {
		snprintf(err, errlen, "kernel %s: argument %s: choices on a non-enum", fk->name,
			 s->name);
		return false;
	}
	if (s->def != NULL) {
		cJSON *d;
		char why[160];
		bool ok;

		if (s->required || s->type == FORQ_ARG_PATH || s->type == FORQ_ARG_OUTPATH) {
			snprintf(err, errlen,
				 "kernel %s: argument %s: a %s argument takes no default", fk->name,
				 s->name, s->required ? "required" : "path");
			return false;
		}
		d = cJSON_Parse(s->def);
		ok = d != NULL && abi_check_value(s, d, false, why, sizeof why) == 0;
		cJSON_Delete(d);
		if (!ok) {
			snprintf(err, errlen, "kernel %s: argument %s: bad default %.40s", fk->name,
				 s->name, s->def);
			return false;
		}
	}
	return true;
}

bool
abi_check(const struct forq_kernel *fk, char *err, size_t errlen)
{
	unsigned n;

	if (fk == NULL) {
		snprintf(err, errlen, "kernel table entry is NULL");
		return false;
	}
	if (!abi_name_ok(fk->name)) {
		snprintf(err, errlen,
			 "kernel name \"%.40s\" is not valid ([a-z][a-z0-9_]*, at most %u bytes)",
			 fk->name ? fk->name : "(null)", ABI_NAME_MAX);
		return false;
	}
	if (fk->summary == NULL || fk->summary[0] == '\0' || fk->run == NULL) {
		snprintf(err, errlen, "kernel %s: needs a summary and a run function", fk->name);
		return false;
	}
	n = abi_nspec(fk->args);
	if (n > ABI_ARGS_MAX) {
		snprintf(err, errlen, "kernel %s: more than %u arguments", fk->name, ABI_ARGS_MAX);
		return false;
	}
	for (unsigned i = 0; i < n; i++)
		if (!abi_check_spec(fk, i, err, errlen))
			return false;
	return true;
}
