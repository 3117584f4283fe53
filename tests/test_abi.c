/*
 * test_abi — the kernel ABI adapter (kernels/abi.c) and the registry's
 * plug-in loading (kernels/registry.c), with real files and real dlopen.
 *
 *   - every built-in ABI kernel: its definition passes abi_check, its id
 *     is the stable one, a valid baseline is accepted, and schema-derived
 *     bad arguments (each required field missing, each field of the wrong
 *     type, below and above its range, an unknown field, a duplicate, a
 *     nonexistent / relative / directory path, a bad choice) are refused
 *     through kernel_prepare with a message that names the field;
 *   - each kernel's own validate() refusals;
 *   - the blob: describe round-trip with defaults, every truncation, a bad
 *     version, trailing bytes, a schema change, and random corruption
 *     (decoded without a crash);
 *   - the context: accessors, progress, scratch directory removal, result
 *     limits (fixed buffer, growth, -EFBIG, bytes), forq_fail, bad status;
 *   - plug-ins (the .so files in build/plugins, next to this binary's directory): the
 *     example loads and its kernel runs through kernel_run; a duplicate
 *     load, a wrong ABI, a missing symbol, a name clash with a built-in, a
 *     missing file and a non-ELF file are refused with clear messages; a
 *     plug-in directory loads; the crashing kernel kills only a child
 *     process; kernel_describe_all lists everything.
 * Plug-in tests run last (they change the registry).  Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "abi.h"
#include "kernel.h"

static char dir[PATH_MAX];             /* mkdtemp scratch for files */
static char data_file[PATH_MAX + 16];  /* a small readable CSV of numbers */
static char plugdir[PATH_MAX];         /* where make put the plug-ins */

/* ---- helpers ------------------------------------------------------------- */

static int
rm_cb(const char *p, const struct stat *st, int fl, struct FTW *ftw)
{
	(void)st;
	(void)fl;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	char exe[PATH_MAX];
	ssize_t n;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/forq-test-abi-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(data_file, sizeof data_file, "%s/data.csv", dir);
	f = fopen(data_file, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "1\n2\n3\n");
	fclose(f);
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	/* <B>/tests/test_abi -> <B>/plugins */
	snprintf(plugdir, sizeof plugdir, "%s/plugins", dirname(dirname(exe)));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* kernel_prepare of @json (text) for @k; the message into @err. */
static int
prep(const struct kernel *k, const char *json, struct kbuf *b, char *err, size_t errlen)
{
	cJSON *a = json ? cJSON_Parse(json) : NULL;
	int rc;

	if (json != NULL && a == NULL)
		fail_msg("test bug: bad JSON %s", json);
	b->data = NULL;
	b->len = 0;
	err[0] = '\0';
	rc = kernel_prepare(k, a, b, err, errlen);
	cJSON_Delete(a);
	return rc;
}

static void
refused(const struct kernel *k, const char *json, const char *needle, const char *needle2)
{
	struct kbuf b;
	char err[200];
	int rc = prep(k, json, &b, err, sizeof err);

	if (rc != -EINVAL)
		fail_msg("%s %s: accepted (rc %d), want refused", k->name, json, rc);
	assert_null(b.data);
	if (err[0] == '\0' || (needle && !strstr(err, needle)) ||
	    (needle2 && !strstr(err, needle2)))
		fail_msg("%s %s: message \"%s\" lacks \"%s\" / \"%s\"", k->name, json, err,
			 needle ? needle : "", needle2 ? needle2 : "");
}

static struct kbuf
accepted(const struct kernel *k, const char *json)
{
	struct kbuf b;
	char err[200];

	if (prep(k, json, &b, err, sizeof err) != 0)
		fail_msg("%s %s: refused: %s", k->name, json, err);
	return b;
}

/* ---- the built-ins: definitions, ids, schema-derived refusals ---------------- */

/* A valid argument object per built-in ABI kernel ("%s": data_file, "%o": an output path). */
static const struct {
	const char *name;
	uint16_t id;
	const char *baseline;
} builtins[] = {
	{ "pi", 16, "{\"samples\":10}" },
	{ "integrate", 17, "{\"f\":\"exp\",\"a\":0,\"b\":1}" },
	{ "ode", 18, "{\"system\":\"harmonic\",\"t1\":1}" },
	{ "nbody", 19, "{\"n\":4,\"steps\":1}" },
	{ "heat2d", 20, "{\"n\":5}" },
	{ "option", 21, "{\"paths\":10}" },
	{ "matmul", 22, "{\"n\":2}" },
	{ "linsolve", 23, "{\"n\":2}" },
	{ "stats", 24, "{\"path\":\"%s\"}" },
	{ "histogram", 25, "{\"path\":\"%s\"}" },
	{ "groupby", 26, "{\"path\":\"%s\"}" },
	{ "sort", 27, "{\"path\":\"%s\",\"out\":\"%o\"}" },
	{ "grep", 28, "{\"path\":\"%s\",\"pattern\":\"x\"}" },
	{ "checksum", 29, "{\"path\":\"%s\"}" },
};

/* The baseline of builtins[i] as a cJSON object. */
static cJSON *
baseline(size_t i)
{
	char text[2 * PATH_MAX + 200], out[PATH_MAX + 16];
	const char *p = builtins[i].baseline;
	size_t n = 0;
	cJSON *j;

	snprintf(out, sizeof out, "%s/out.txt", dir);
	while (*p && n < sizeof text - PATH_MAX - 20) {
		if (p[0] == '%' && (p[1] == 's' || p[1] == 'o')) {
			n += (size_t)snprintf(text + n, sizeof text - n, "%s",
					      p[1] == 's' ? data_file : out);
			p += 2;
		} else {
			text[n++] = *p++;
		}
	}
	text[n] = '\0';
	j = cJSON_Parse(text);
	assert_non_null(j);
	return j;
}

static void
test_registry_builtins(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(kernel_count(), 4 + sizeof builtins / sizeof builtins[0]);
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		const struct kernel *k = kernel_find(builtins[i].name);

		assert_non_null(k);
		assert_non_null(k->abi);
		assert_int_equal(k->id, builtins[i].id);       /* stored in task records: stable */
		assert_ptr_equal(kernel_by_id(k->id), k);
		assert_string_equal(k->abi->name, k->name);
		assert_string_equal(k->abi->summary, k->summary);
		if (!abi_check(k->abi, err, sizeof err))
			fail_msg("%s: %s", k->name, err);
	}
	for (unsigned i = 0; i < kernel_count(); i++)
		for (unsigned j = 0; j < i; j++) {
			assert_int_not_equal(kernel_at(i)->id, kernel_at(j)->id);
			assert_string_not_equal(kernel_at(i)->name, kernel_at(j)->name);
		}
}

/* Prepare @o (a modified baseline) and expect a refusal naming @field. */
static void
refused_obj(const struct kernel *k, cJSON *o, const char *field, const char *needle)
{
	char *text = cJSON_PrintUnformatted(o);

	assert_non_null(text);
	refused(k, text, field, needle);
	cJSON_free(text);
}

static void
test_bad_args_every_kernel(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		const struct kernel *k = kernel_find(builtins[i].name);
		const struct forq_arg_spec *s;
		cJSON *base = baseline(i), *o;
		char *text = cJSON_PrintUnformatted(base);
		struct kbuf b = accepted(k, text);

		free(b.data);
		cJSON_free(text);
		/* not an object; an unknown field; a duplicate field */
		refused(k, "[1]", "object", NULL);
		o = cJSON_Duplicate(base, 1);
		cJSON_AddNumberToObject(o, "bogus_field", 1);
		refused_obj(k, o, "bogus_field", "unknown field");
		cJSON_Delete(o);
		for (s = k->abi->args; s && s->name; s++) {
			cJSON *bad;

			/* a required field missing */
			if (s->required) {
				o = cJSON_Duplicate(base, 1);
				cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
				refused_obj(k, o, s->name, "required");
				cJSON_Delete(o);
			}
			/* the wrong type */
			o = cJSON_Duplicate(base, 1);
			cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
			bad = s->type == FORQ_ARG_INT || s->type == FORQ_ARG_NUM ||
					      s->type == FORQ_ARG_NUMS || s->type == FORQ_ARG_BOOL
				      ? cJSON_CreateString("7")
				      : cJSON_CreateNumber(7);
			cJSON_AddItemToObject(o, s->name, bad);
			refused_obj(k, o, s->name, "must be");
			cJSON_Delete(o);
			/* out of range, below and above; a fraction for an int */
			if ((s->type == FORQ_ARG_INT || s->type == FORQ_ARG_NUM) &&
			    !(s->min == 0 && s->max == 0)) {
				double lo = s->min - fmax(1.0, fabs(s->min)),
				       hi = s->max + fmax(1.0, fabs(s->max));

				o = cJSON_Duplicate(base, 1);
				cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
				cJSON_AddNumberToObject(o, s->name, lo);
				refused_obj(k, o, s->name, "from");
				cJSON_Delete(o);
				o = cJSON_Duplicate(base, 1);
				cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
				cJSON_AddNumberToObject(o, s->name, hi);
				refused_obj(k, o, s->name, "from");
				cJSON_Delete(o);
				if (s->type == FORQ_ARG_INT && s->max - s->min >= 1) {
					o = cJSON_Duplicate(base, 1);
					cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
					cJSON_AddNumberToObject(o, s->name, s->min + 0.5);
					refused_obj(k, o, s->name, "integer");
					cJSON_Delete(o);
				}
			}
			if (s->type == FORQ_ARG_NUMS) {
				o = cJSON_Duplicate(base, 1);
				cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
				cJSON_AddItemToObject(o, s->name, cJSON_CreateArray());
				refused_obj(k, o, s->name, "array of 1 to");
				cJSON_Delete(o);
			}
			if (s->type == FORQ_ARG_ENUM) {
				o = cJSON_Duplicate(base, 1);
				cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
				cJSON_AddStringToObject(o, s->name, "no_such_choice");
				refused_obj(k, o, s->name, "must be one of");
				cJSON_Delete(o);
			}
			if (s->type == FORQ_ARG_PATH || s->type == FORQ_ARG_OUTPATH) {
				static const struct {
					const char *path, *needle;
					int out;                  /* 0 PATH, 1 OUTPATH, 2 both */
				} paths[] = {
					{ "relative/file.csv", "absolute", 2 },
					{ "/nonexistent-forq-test/file.csv", "No such file", 0 },
					{ "/tmp", "not a regular file", 0 },
					{ "/nonexistent-forq-test/out.txt", "does not exist", 1 },
					{ "/tmp/", "directory", 1 },
					{ "", "absolute", 2 },
				};

				for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
					if (paths[p].out != 2 &&
					    paths[p].out != (s->type == FORQ_ARG_OUTPATH))
						continue;
					o = cJSON_Duplicate(base, 1);
					cJSON_DeleteItemFromObjectCaseSensitive(o, s->name);
					cJSON_AddStringToObject(o, s->name, paths[p].path);
					refused_obj(k, o, s->name,
						    paths[p].path[0] ? paths[p].needle : NULL);
					cJSON_Delete(o);
				}
			}
		}
		/* a duplicate field: cJSON keeps both, the adapter refuses */
		if (k->abi->args && k->abi->args[0].name) {
			char dup[PATH_MAX];
			const struct forq_arg_spec *f = k->abi->args;

			snprintf(dup, sizeof dup, "{\"%s\":1,\"%s\":2}", f->name, f->name);
			refused(k, dup, f->name, "twice");
		}
		cJSON_Delete(base);
	}
}

static void
test_validate_refusals(void **state)
{
	static const struct {
		const char *kernel, *args, *needle;
	} cases[] = {
		{ "integrate", "{\"f\":\"exp\",\"a\":1,\"b\":1}", "a: must be less than b" },
		{ "integrate", "{\"f\":\"sqrt\",\"a\":-1,\"b\":1}", "x >= 0" },
		{ "integrate", "{\"f\":\"log1p\",\"a\":-1,\"b\":1}", "x > -1" },
		{ "integrate", "{\"f\":\"poly\",\"a\":0,\"b\":1}", "coeffs: required" },
		{ "integrate", "{\"f\":\"exp\",\"a\":0,\"b\":1,\"coeffs\":[1]}", "only f = poly" },
		{ "integrate", "{\"f\":\"gaussian\",\"a\":0,\"b\":1,\"k\":2}", "k: only" },
		{ "ode", "{\"system\":\"harmonic\",\"t1\":0}", "t1: must be greater" },
		{ "ode", "{\"system\":\"lorenz\",\"t1\":1,\"y0\":[1,2]}", "3 components" },
		{ "ode", "{\"system\":\"sir\",\"t1\":1,\"rho\":3}", "rho: not a parameter of sir" },
		{ "ode", "{\"system\":\"lotka_volterra\",\"t1\":1,\"y0\":[0,1]}", "positive" },
		{ "heat2d", "{\"probes\":[0.5]}", "even" },
		{ "heat2d", "{\"method\":\"sor\",\"t\":1}", "t: only method ftcs" },
		{ "histogram", "{\"path\":\"%s\",\"min\":0}", "max: give min and max together" },
		{ "histogram", "{\"path\":\"%s\",\"min\":2,\"max\":1}",
		  "min: must be less than max" },
		{ "stats", "{\"path\":\"%s\",\"quantiles\":[0.5,1.5]}", "quantiles" },
		{ "stats", "{\"path\":\"%s\",\"delimiter\":\";;\"}", "delimiter" },
		{ "grep", "{\"path\":\"%s\",\"pattern\":\"(unclosed\"}", "pattern:" },
		{ "grep", "{\"path\":\"%s\",\"pattern\":\"\"}", "pattern" },
		{ "pi", "{\"samples\":0}", "samples: must be an integer from 1 to" },
		{ "pi", "{\"samples\":1e13}", "samples" },
		{ "matmul", "{\"n\":8193}", "n: must be an integer from 1 to 8192" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[PATH_MAX + 200];

		snprintf(text, sizeof text, cases[i].args, data_file);
		refused(kernel_find(cases[i].kernel), text, cases[i].needle, NULL);
	}
}

/* ---- the blob -------------------------------------------------------------------- */

static void
test_blob(void **state)
{
	const struct kernel *k = kernel_find("pi");
	struct kbuf b = accepted(k, "{\"samples\":5}");
	cJSON *d = kernel_describe(k, b.data, b.len),
	      *want = cJSON_Parse("{\"samples\":5,\"seed\":1}");
	struct kctx ctx;
	unsigned char *g;
	char res[64];

	(void)state;
	assert_non_null(d);
	assert_true(cJSON_Compare(d, want, 1));
	cJSON_Delete(d);
	cJSON_Delete(want);
	/* version 1, reserved 0, two entries, little-endian */
	assert_int_equal(b.data[0], ABI_BLOB_VERSION);
	assert_int_equal(b.data[1], 0);
	assert_int_equal(b.data[2], 2);
	assert_int_equal(b.data[3], 0);
	assert_int_equal(b.len, 8 + 2 * 9);
	assert_int_equal(b.data[8], FORQ_ARG_INT);
	assert_int_equal(b.data[9], 5);

	/* every truncation, a bad version, a trailing byte: bad_blob, never a crash */
	memset(&ctx, 0, sizeof ctx);
	ctx.array_index = -1;
	ctx.result = res;
	ctx.result_cap = sizeof res;
	g = malloc(b.len + 1);
	assert_non_null(g);
	for (size_t n = 0; n < b.len; n++) {
		memcpy(g, b.data, n);
		assert_null(kernel_describe(k, g, n));
		assert_int_equal(kernel_run(k, &ctx, g, n), KERNEL_FAILED);
		assert_string_equal(ctx.reason, "bad_blob");
	}
	memcpy(g, b.data, b.len);
	g[b.len] = 0;
	assert_int_equal(kernel_run(k, &ctx, g, b.len + 1), KERNEL_FAILED);
	g[0] = 2;
	assert_int_equal(kernel_run(k, &ctx, g, b.len), KERNEL_FAILED);
	assert_string_equal(ctx.reason, "bad_blob");
	g[0] = 1;
	g[4] ^= 1;                    /* the schema fingerprint: a changed plug-in */
	assert_null(kernel_describe(k, g, b.len));
	g[4] ^= 1;
	g[8] = FORQ_ARG_NUM;          /* a tag that is not the schema's type */
	assert_null(kernel_describe(k, g, b.len));
	g[8] = FORQ_ARG_INT;
	g[16] = 0xff;                 /* samples = huge: out of its range */
	assert_null(kernel_describe(k, g, b.len));
	free(g);
	/* the same blob of another kernel is refused */
	assert_null(kernel_describe(kernel_find("option"), b.data, b.len));
	free(b.data);

	/* random corruption of a rich blob decodes or is refused, never crashes */
	{
		char text[PATH_MAX + 200];
		unsigned x = 12345;

		snprintf(text, sizeof text,
			 "{\"path\":\"%s\",\"name\":\"v\",\"quantiles\":[0.1,0.2]}", data_file);
		k = kernel_find("stats");
		b = accepted(k, text);
		d = kernel_describe(k, b.data, b.len);
		assert_non_null(d);
		assert_string_equal(cJSON_GetObjectItem(d, "path")->valuestring, data_file);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "quantiles")), 2);
		cJSON_Delete(d);
		g = malloc(b.len);
		assert_non_null(g);
		for (int t = 0; t < 20000; t++) {
			memcpy(g, b.data, b.len);
			for (int f = 0; f < 3; f++) {
				x = x * 1103515245u + 12345u;
				g[(x >> 8) % b.len] = (unsigned char)(x >> 20);
			}
			cJSON_Delete(kernel_describe(k, g, b.len));
		}
		free(g);
		free(b.data);
	}
}

/* ---- the context, through a test kernel run by abi_run ------------------------- */

static int ctx_mode;                  /* which behaviour ctx_run shows */
static char seen_scratch[PATH_MAX];

static const struct forq_arg_spec ctx_args[] = {
	{ "size", FORQ_ARG_INT, 0, 0, 1e7, "0", NULL, "result size" },
	{ "s", FORQ_ARG_STR, 0, 0, 8, NULL, NULL, "optional string without default" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int
ctx_run(struct forq_ctx *c)
{
	size_t n = (size_t)forq_arg_int(c, "size");
	char *big;
	const char *sd;
	int rc;

	switch (ctx_mode) {
	case 0:         /* accessors */
		if (forq_task_id(c) != 99 || forq_attempt(c) != 2 || forq_array_index(c) != 5 ||
		    forq_cpu(c) != 3 || forq_numa(c) != 1 || forq_deadline_ns(c) != 0 ||
		    forq_mem_limit(c) != KCTX_MEM_DEFAULT || forq_arg_has(c, "s") ||
		    forq_arg_str(c, "s") != NULL || !forq_arg_has(c, "size") ||
		    forq_arg_num(c, "size") != 0 || forq_arg_str(c, "size") != NULL ||
		    forq_arg_int(c, "nope") != 0)
			return forq_fail(c, "accessors");
		forq_progress(c, NAN);
		forq_progress(c, 2.0);
		if (forq_cancelled(c))
			return forq_fail(c, "cancelled?");
		return forq_result_json(c, " { \"ok\" : [ 1 , 2 ] } ") == 0 ? FORQ_DONE
									    : FORQ_FAILED;
	case 1:         /* a JSON result of @size bytes */
		big = malloc(n + 1);
		if (big == NULL)
			return forq_fail(c, "oom");
		big[0] = '"';
		memset(big + 1, 'x', n - 2);
		big[n - 1] = '"';
		big[n] = '\0';
		rc = forq_result_json(c, big);
		free(big);
		return rc == 0	      ? FORQ_DONE
		       : rc == -EFBIG ? FORQ_DONE /* the adapter still fails it */
				      : FORQ_FAILED;
	case 2:         /* not JSON */
		if (forq_result_json(c, "{bad") != -EINVAL ||
		    forq_result_json(c, "1 2") != -EINVAL || forq_result_json(c, NULL) != -EINVAL)
			return forq_fail(c, "accepted bad JSON");
		return FORQ_DONE;
	case 3:         /* bytes */
		big = calloc(1, n ? n : 1);
		rc = forq_result_bytes(c, big, n);
		free(big);
		return rc == 0 ? FORQ_DONE : FORQ_FAILED;
	case 4:         /* scratch */
		sd = forq_scratch_dir(c);
		if (sd == NULL || forq_scratch_dir(c) != sd)
			return forq_fail(c, "no scratch");
		snprintf(seen_scratch, sizeof seen_scratch, "%s", sd);
		{
			char p[PATH_MAX + 16];
			FILE *f;

			snprintf(p, sizeof p, "%s/sub", sd);
			mkdir(p, 0700);
			snprintf(p, sizeof p, "%s/sub/file", sd);
			f = fopen(p, "w");
			if (f == NULL)
				return forq_fail(c, "scratch not writable");
			fclose(f);
		}
		return FORQ_DONE;
	case 5:
		return forq_fail(
			c, "a long explanation of what went wrong, longer than the reason field");
	case 6:
		return 42;
	case 7:
		return forq_cancelled(c) ? forq_stop_status(c) : FORQ_DONE;
	default:
		return FORQ_DONE;
	}
}

static const struct forq_kernel ctx_kernel = {
	.name = "ctxtest",
	.summary = "exercises the context",
	.args = ctx_args,
	.validate = NULL,
	.run = ctx_run,
};

static struct kbuf
ctx_blob(const char *json)
{
	cJSON *a = cJSON_Parse(json);
	struct kbuf b;
	char err[200];

	assert_int_equal(abi_prepare(&ctx_kernel, a, &b, err, sizeof err), 0);
	cJSON_Delete(a);
	return b;
}

static void
beat_count(void *arg)
{
	(*(unsigned *)arg)++;
}

static void
test_context(void **state)
{
	_Atomic uint32_t progress = 7, cancel = 0;
	unsigned beats = 0;
	struct kctx ctx;
	struct kbuf b;
	char fixed[64], err[200];
	struct stat st;

	(void)state;
	assert_true(abi_check(&ctx_kernel, err, sizeof err));
	memset(&ctx, 0, sizeof ctx);
	ctx.task_id = 99;
	ctx.attempt = 2;
	ctx.array_index = 5;
	ctx.cpu = 3;
	ctx.numa = 1;
	ctx.progress_permille = &progress;
	ctx.beat = beat_count;
	ctx.beat_arg = &beats;
	ctx.cancel = &cancel;
	ctx.result = fixed;
	ctx.result_cap = sizeof fixed;
	ctx.scratch_base = dir;

	ctx_mode = 0;
	b = ctx_blob("{}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_DONE);
	assert_string_equal(ctx.result, "{\"ok\":[1,2]}");          /* minified copy */
	assert_int_equal(ctx.result_len, strlen("{\"ok\":[1,2]}"));
	assert_int_equal(atomic_load(&progress), 1000);              /* NaN -> 0, 2 -> 1 */
	assert_int_equal(beats, 3);                                  /* progress x2, cancelled */
	assert_int_equal(ctx.exit_code, 0);
	free(b.data);

	/* a fixed buffer: cap - 1 bytes fit, one more is -EFBIG -> result_too_large */
	ctx_mode = 1;
	b = ctx_blob("{\"size\":63}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_DONE);
	assert_int_equal(ctx.result_len, 63);
	assert_ptr_equal(ctx.result, fixed);
	free(b.data);
	b = ctx_blob("{\"size\":64}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_FAILED);
	assert_string_equal(ctx.reason, "result_too_large");
	assert_ptr_equal(ctx.result, fixed);
	free(b.data);

	/* a growable buffer up to result_max */
	ctx.result = NULL;
	ctx.result_cap = 0;
	ctx.result_max = 100000;
	b = ctx_blob("{\"size\":100000}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_DONE);
	assert_int_equal(ctx.result_len, 100000);
	assert_true(ctx.result_cap > 100000);
	free(b.data);
	b = ctx_blob("{\"size\":100001}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_FAILED);
	assert_string_equal(ctx.reason, "result_too_large");
	assert_non_null(strstr(ctx.result, "result exceeds the limit"));
	free(b.data);

	ctx_mode = 2;
	b = ctx_blob("{}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_DONE);
	free(b.data);

	/* bytes: refused by default, accepted up to bytes_max */
	ctx_mode = 3;
	b = ctx_blob("{\"size\":10}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_FAILED);
	assert_string_equal(ctx.reason, "result_too_large");
	assert_null(ctx.bytes);
	ctx.bytes_max = 10;
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_DONE);
	assert_int_equal(ctx.bytes_len, 10);
	assert_non_null(ctx.bytes);
	free(ctx.bytes);
	ctx.bytes = NULL;
	free(b.data);

	/* the scratch directory exists during run() and is gone after */
	ctx_mode = 4;
	b = ctx_blob("{}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_DONE);
	assert_true(strncmp(seen_scratch, dir, strlen(dir)) == 0);
	assert_int_equal(stat(seen_scratch, &st), -1);
	assert_int_equal(errno, ENOENT);
	free(b.data);

	/* forq_fail: a cut reason, the full message as the result */
	ctx_mode = 5;
	b = ctx_blob("{}");
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_FAILED);
	assert_int_equal(ctx.exit_code, 1);
	assert_int_equal(strlen(ctx.reason), sizeof ctx.reason - 1);
	assert_true(strncmp(ctx.reason, "a long explanation", 18) == 0);
	assert_string_equal(ctx.result, "{\"error\":\"a long explanation of what went wrong, "
					"longer than the reason field\"}");
	ctx_mode = 6;
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_FAILED);
	assert_string_equal(ctx.reason, "bad_status");

	/* cancel and deadline: cancel wins when both */
	ctx_mode = 7;
	ctx.deadline_ns = 1;
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_TIMEOUT);
	assert_string_equal(ctx.reason, "timeout");
	atomic_store(&cancel, 1);
	assert_int_equal(abi_run(&ctx_kernel, &ctx, b.data, b.len), KERNEL_CANCELLED);
	assert_string_equal(ctx.reason, "cancelled");
	free(b.data);
	free(ctx.result);
}

static void
test_bad_definitions(void **state)
{
	static const char *const no_choices[] = { NULL };
	static const struct forq_arg_spec s_badname[] = {
		{ "Bad", FORQ_ARG_INT, 0, 0, 0, NULL, NULL, "" }, { 0 }
	};
	static const struct forq_arg_spec s_dup[] = {
		{ "a", FORQ_ARG_INT, 0, 0, 0, NULL, NULL, "" },
		{ "a", FORQ_ARG_INT, 0, 0, 0, NULL, NULL, "" },
		{ 0 }
	};
	static const struct forq_arg_spec s_range[] = {
		{ "a", FORQ_ARG_INT, 0, 5, 1, NULL, NULL, "" }, { 0 }
	};
	static const struct forq_arg_spec s_enum[] = {
		{ "a", FORQ_ARG_ENUM, 0, 0, 0, NULL, no_choices, "" }, { 0 }
	};
	static const struct forq_arg_spec s_def[] = {
		{ "a", FORQ_ARG_INT, 0, 1, 9, "10", NULL, "" }, { 0 }
	};
	static const struct forq_arg_spec s_reqdef[] = {
		{ "a", FORQ_ARG_INT, 1, 1, 9, "2", NULL, "" }, { 0 }
	};
	static const struct forq_arg_spec s_type[] = {
		{ "a", (enum forq_arg_type)99, 0, 0, 0, NULL, NULL, "" }, { 0 }
	};
	static const struct {
		struct forq_kernel k;
		const char *needle;
	} bad[] = {
		{ { "Caps", "s", NULL, NULL, ctx_run }, "not valid" },
		{ { "x234567890123456789012345678901234", "s", NULL, NULL, ctx_run }, "not valid" },
		{ { "nosum", NULL, NULL, NULL, ctx_run }, "summary" },
		{ { "norun", "s", NULL, NULL, NULL }, "run function" },
		{ { "k", "s", s_badname, NULL, ctx_run }, "bad name" },
		{ { "k", "s", s_dup, NULL, ctx_run }, "twice" },
		{ { "k", "s", s_range, NULL, ctx_run }, "bad range" },
		{ { "k", "s", s_enum, NULL, ctx_run }, "choices" },
		{ { "k", "s", s_def, NULL, ctx_run }, "bad default" },
		{ { "k", "s", s_reqdef, NULL, ctx_run }, "takes no default" },
		{ { "k", "s", s_type, NULL, ctx_run }, "unknown type" },
	};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_false(abi_check(&bad[i].k, err, sizeof err));
		if (!strstr(err, bad[i].needle))
			fail_msg("definition %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
	}
}

/* ---- plug-ins ------------------------------------------------------------------------ */

static void
plugin_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.so", plugdir, name);
}

static uint16_t
expected_plugin_id(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return (uint16_t)(1024 + h % 30000);
}

static void
test_plugin_example(void **state)
{
	char path[PATH_MAX + 32], err[512];
	const struct kernel *k;
	struct kbuf b;
	struct kctx ctx;
	cJSON *res;
	unsigned before = kernel_count();

	(void)state;
	plugin_path("example", path, sizeof path);
	if (access(path, R_OK) != 0)
		fail_msg("%s missing: build the plug-ins first (make)", path);
	assert_int_equal(kernel_load_plugin(path, err, sizeof err), 0);
	assert_int_equal(kernel_count(), before + 1);
	k = kernel_find("mandelbrot");
	assert_non_null(k);
	assert_non_null(k->abi);
	assert_int_equal(k->id, expected_plugin_id("mandelbrot"));
	assert_ptr_equal(kernel_by_id(k->id), k);

	/* its validate() runs at prepare; its run() through kernel_run */
	refused(k, "{\"x0\":1,\"x1\":0}", "x0: must be less than x1", NULL);
	refused(k, "{\"width\":0}", "width", "from 1 to 8192");
	b = accepted(k, "{\"width\":200,\"height\":160,\"max_iter\":300,\"image\":true}");
	memset(&ctx, 0, sizeof ctx);
	ctx.array_index = -1;
	ctx.result = NULL;            /* none: the adapter grows a malloc'd one */
	ctx.result_cap = 0;
	ctx.result_max = 4096;
	ctx.bytes_max = 1 << 20;
	assert_int_equal(kernel_run(k, &ctx, b.data, b.len), KERNEL_DONE);
	res = cJSON_Parse(ctx.result);
	assert_non_null(res);
	{
		double area = cJSON_GetObjectItem(res, "area")->valuedouble;

		if (!(area > 1.45 && area < 1.65))
			fail_msg("mandelbrot area %g, want about 1.51", area);
	}
	assert_int_equal(ctx.bytes_len, strlen("P5\n200 160\n255\n") + 200 * 160);
	assert_memory_equal(ctx.bytes, "P5\n200 160\n255\n", strlen("P5\n200 160\n255\n"));
	cJSON_Delete(res);
	free(ctx.result);
	free(ctx.bytes);
	free(b.data);

	/* loading it again: the name is taken */
	assert_int_equal(kernel_load_plugin(path, err, sizeof err), -EEXIST);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "mandelbrot"));
	assert_int_equal(kernel_count(), before + 1);
}

static void
test_plugin_refusals(void **state)
{
	char path[PATH_MAX + 32], err[512];
	unsigned before = kernel_count();
	int fd;

	(void)state;
	plugin_path("test_badabi", path, sizeof path);
	assert_int_equal(kernel_load_plugin(path, err, sizeof err), -EPROTO);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "ABI 999"));
	assert_non_null(strstr(err, "rebuild"));

	plugin_path("test_nosym", path, sizeof path);
	assert_int_equal(kernel_load_plugin(path, err, sizeof err), -ENOEXEC);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "forq_plugin"));

	plugin_path("test_dupname", path, sizeof path);
	assert_int_equal(kernel_load_plugin(path, err, sizeof err), -EEXIST);
	assert_non_null(strstr(err, "\"pi\" already exists"));
	assert_ptr_equal(kernel_find("pi")->id, 16);

	assert_int_equal(kernel_load_plugin("/nonexistent-forq/x.so", err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent-forq/x.so"));

	snprintf(path, sizeof path, "%s/garbage.so", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an ELF file", 15), 15);
	close(fd);
	assert_int_equal(kernel_load_plugin(path, err, sizeof err), -ELIBBAD);
	assert_non_null(strstr(err, "cannot load"));
	unlink(path);

	assert_int_equal(kernel_count(), before);       /* nothing half-registered */
}

static void
test_plugin_dir_and_crash(void **state)
{
	char pdir[PATH_MAX + 16], src[PATH_MAX + 32], dst[PATH_MAX + 48], err[512];
	const struct kernel *k;
	struct kbuf b;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(kernel_load_plugin_dir("/nonexistent-forq-dir", err, sizeof err), 0);
	snprintf(pdir, sizeof pdir, "%s/plugins", dir);
	assert_int_equal(mkdir(pdir, 0700), 0);
	plugin_path("test_crash", src, sizeof src);
	snprintf(dst, sizeof dst, "%s/crash.so", pdir);
	assert_int_equal(symlink(src, dst), 0);
	snprintf(dst, sizeof dst, "%s/README", pdir);    /* not *.so: ignored */
	assert_int_equal(close(open(dst, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(kernel_load_plugin_dir(pdir, err, sizeof err), 0);
	k = kernel_find("crash");
	assert_non_null(k);

	/* the crash kills the process running it, and only that one */
	b = accepted(k, NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kctx ctx;

		/* cmocka catches SIGSEGV to report a failed test: die of it instead */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		memset(&ctx, 0, sizeof ctx);
		ctx.array_index = -1;
		kernel_run(k, &ctx, b.data, b.len);
		_exit(0);       /* not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* SIGSEGV, or under ASan its report and a non-zero exit / SIGABRT */
	assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0));
	free(b.data);
	assert_non_null(kernel_find("pi"));
}

static void
test_describe_all(void **state)
{
	cJSON *all = kernel_describe_all(), *e;
	bool saw_plugin = false, saw_pi = false, saw_exec = false;
	char *text;

	(void)state;
	assert_non_null(all);
	assert_int_equal(cJSON_GetArraySize(all), (int)kernel_count());
	cJSON_ArrayForEach(e, all) {
		const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
		const char *origin = cJSON_GetObjectItem(e, "origin")->valuestring;
		const cJSON *args = cJSON_GetObjectItem(e, "args");

		assert_true(cJSON_IsArray(args));
		assert_non_null(cJSON_GetObjectItem(e, "summary"));
		if (strcmp(name, "mandelbrot") == 0) {
			saw_plugin = true;
			assert_string_equal(origin, "plugin");
			assert_non_null(strstr(cJSON_GetObjectItem(e, "plugin")->valuestring,
					       "example.so"));
		}
		if (strcmp(name, "exec") == 0) {
			saw_exec = true;
			assert_string_equal(origin, "internal");
		}
		if (strcmp(name, "pi") == 0) {
			const cJSON *a0 = cJSON_GetArrayItem(args, 0);

			saw_pi = true;
			assert_string_equal(origin, "builtin");
			assert_string_equal(cJSON_GetObjectItem(a0, "name")->valuestring,
					    "samples");
			assert_string_equal(cJSON_GetObjectItem(a0, "type")->valuestring, "int");
			assert_false(cJSON_IsTrue(cJSON_GetObjectItem(a0, "required")));
			assert_int_equal((int)cJSON_GetObjectItem(a0, "min")->valuedouble, 1);
			assert_int_equal((int)cJSON_GetObjectItem(a0, "default")->valuedouble,
					 10000000);
		}
	}
	assert_true(saw_plugin && saw_pi && saw_exec);
	text = cJSON_PrintUnformatted(all);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"choices\":[\"exp\",\"sin\""));
	cJSON_free(text);
	cJSON_Delete(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_builtins),
		cmocka_unit_test(test_bad_args_every_kernel),
		cmocka_unit_test(test_validate_refusals),
		cmocka_unit_test(test_blob),
		cmocka_unit_test(test_context),
		cmocka_unit_test(test_bad_definitions),
		cmocka_unit_test(test_plugin_example),
		cmocka_unit_test(test_plugin_refusals),
		cmocka_unit_test(test_plugin_dir_and_crash),
		cmocka_unit_test(test_describe_all),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
