/*
 * forq — the command-line client of forqd (forq(1)).
 *
 * Shape: `forq [--socket PATH] VERB [options] [--] [args]`.  main() picks
 * the verb from a table; the verb describes its command line in a
 * struct verb_args (its own options, whether it takes --json, what operands
 * follow) and parse_args() runs getopt_long over it, handling the options
 * every verb shares (--socket, -h/--help, --json) and the misuse messages
 * itself, and passing the verb's own options to the verb's handler (submit
 * stops at the first non-option, so the command after it keeps its own
 * options; the others permute, so `forq status 7 --json` works).  The verb
 * then builds one request, makes one libforq call (wait and list make
 * several on one connection) and prints the reply: cli_show() sends it and
 * prints the reply's data as JSON or through the verb's printer.  Verbs
 * that are no more than that (status, kernels, workers, stats, shutdown)
 * are rows of the verb table run by verb_query().  Nothing below main()
 * exits: every function returns an exit status up to it.
 *
 * Output contract (STYLE rule 19, forq(1) EXIT STATUS):
 *   - results on stdout; with --json exactly one JSON document, the reply's
 *     "data" object (pretty on a terminal, one line otherwise);
 *   - misuse: "forq: VERB: what" and a hint on stderr, exit 2;
 *   - errors: "forq: VERB: message (CODE)" on stderr, exit forq_err_exit()
 *     of the code, so scripts can tell "no such task" (5) from "forqd not
 *     running" (3) from "refused" (4);
 *   - wait: 0 when every awaited task ended DONE, 1 otherwise, 6 when its
 *     --timeout passed first.
 *
 * Where a verb takes several ids (wait, cancel), an argument may be a range
 * A-B, such as the ids of an array; it travels as the string "A-B" and
 * forqd expands it, so a million-element array costs one short request.
 *
 * JSONL submission (-f) reads and validates the whole input before the
 * first byte is sent (a bad line changes nothing), splicing each line's
 * text into batch messages rather than re-serialising it: cJSON parses a
 * line once, only to prove it is one object and to see whether it names a
 * "priority".  Batches are bounded by task count and bytes so that each
 * fits forqd's default message limit with room to spare.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "client.h"
#include "duration.h"
#include "forq/errors.h"
#include "paths.h"

#ifndef FORQ_VERSION
#define FORQ_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2
#define EXIT_REFUSED 4                    /* as forqd's refusals: result --bytes with none */
#define EXIT_INTERNAL 70
#define ID_MAX ((UINT64_C(1) << 53) - 1)  /* ids travel as JSON numbers (doubles) */
#define BATCH_TASKS_MAX 50000             /* tasks per TASK_SUBMIT batch */
#define BATCH_BYTES_MAX (8u << 20)        /* soft bytes per batch (forqd's default limit: 16 MiB) */
#define WAIT_ROUND_MS 250                 /* server-side timeout of one TASK_WAIT round */
#define LIST_PAGE 10000                   /* tasks asked for per TASK_LIST request */
#define ERRMSG_MAX 1024
#define TASK_KEY_MAX 255                  /* bytes of a --key (forq-protocol(7)) */

struct verb;

/* One invocation's shared state. */
struct cli {
	const char *verb;              /* for messages: "submit" */
	const struct verb *entry;      /* the verb's row of verbs[], once known */
	uint64_t id;                   /* the ID operand of a verb that takes one */
	const char *socket;            /* --socket, or NULL for the default */
	char sockbuf[4096];            /* the resolved socket path */
	bool json;                     /* --json */
	struct forq_client *c;         /* connected lazily by cli_connect() */
};

/* ---- messages ---------------------------------------------------------- */

static int usage_error(struct cli *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cli *x, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "forq: VERB: what" and a hint; returns exit status 2. */
static int
usage_error(struct cli *x, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "forq: %s%s", x->verb ? x->verb : "", x->verb ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (x->verb)
		fprintf(stderr, "\nTry 'forq %s --help'.\n", x->verb);
	else
		fprintf(stderr, "\nTry 'forq --help'.\n");
	return EXIT_USAGE;
}

/* "forq: VERB: message (CODE)"; returns the code's exit status. */
static int
fail(struct cli *x, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "forq: %s: ", x->verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%s)\n", forq_err_code(code));
	return forq_err_exit(code);
}

static int
fail_nomem(struct cli *x)
{
	return fail(x, FORQ_EINTERNAL, "out of memory");
}

/* ---- text buffer --------------------------------------------------------- */

/* A growing byte buffer; an allocation failure sticks in .oom. */
struct sbuf {
	char *p;               /* the bytes, NUL-terminated when non-NULL */
	size_t len;            /* bytes used, without the NUL */
	size_t cap;            /* bytes allocated */
	bool oom;              /* an append failed; contents are incomplete */
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = true;     /* only short fragments are formatted here */
		return;
	}
	sb_add(b, tmp, (size_t)n);
}

static void
sb_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){ 0 };
}

/* Append @s as one shell word, quoted when needed (for display only). */
static void
sb_shell_word(struct sbuf *b, const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789@%+=:,./-_";

	if (*s && s[strspn(s, safe)] == '\0') {
		sb_str(b, s);
		return;
	}
	sb_add(b, "'", 1);
	for (; *s; s++) {
		if (*s == '\'')
			sb_str(b, "'\\''");
		else
			sb_add(b, s, 1);
	}
	sb_add(b, "'", 1);
}

/* ---- parsing arguments ------------------------------------------------- */

/* A decimal integer 0..@max, digits only.  0, -EINVAL or -ERANGE. */
static int
parse_uint(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (n > (max - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

/* A task id: a positive integer that a JSON number carries exactly. */
static int
parse_id(struct cli *x, const char *s, uint64_t *id)
{
	if (parse_uint(s, ID_MAX, id) || *id == 0)
		return usage_error(x, "'%s' is not a task id (a positive integer)", s);
	return 0;
}

/*
 * An id or a range of ids "A-B" (A <= B), as wait and cancel take them;
 * *@first == *@last for a single id.
 */
static int
parse_id_range(struct cli *x, const char *s, uint64_t *first, uint64_t *last)
{
	const char *dash = strchr(s, '-');
	char a[32];
	size_t n;
	int rc;

	if (!dash) {
		rc = parse_id(x, s, first);
		if (rc == 0)
			*last = *first;
		return rc;
	}
	n = (size_t)(dash - s);
	if (n < sizeof(a)) {
		memcpy(a, s, n);
		a[n] = '\0';
		if (!parse_uint(a, ID_MAX, first) && *first > 0 &&
		    !parse_uint(dash + 1, ID_MAX, last) && *last >= *first)
			return 0;
	}
	return usage_error(x, "'%s' is neither a task id nor a range A-B of ids with "
			   "0 < A <= B", s);
}

/* A duration option's value (forq-protocol(7)); ms out. */
static int
parse_duration(struct cli *x, const char *what, const char *s, uint64_t *ms)
{
	int rc = duration_parse(s, ms);

	if (rc == -ERANGE)
		return usage_error(x, "%s '%s' is too large", what, s);
	if (rc)
		return usage_error(x, "%s: '%s' is not a duration (e.g. 250ms, 10s, 5m, 1h, 1.5)",
				   what, s);
	return 0;
}

/* An integer option's value from 0 to @max, for messages called @what. */
static int
parse_count(struct cli *x, const char *what, const char *s, uint64_t max, uint64_t *v)
{
	if (parse_uint(s, max, v))
		return usage_error(x, "%s must be an integer from 0 to %" PRIu64 ", not '%s'", what,
				   max, s);
	return 0;
}

/* A --timeout value; ms out. */
static int
parse_timeout(struct cli *x, const char *s, uint64_t *ms)
{
	return parse_duration(x, "timeout", s, ms);
}

/* Long options every verb has (the values are beyond any char). */
enum {
	OPT_SOCKET = 256,
	OPT_JSON,
	OPT_NAME,
	OPT_RETRIES,
	OPT_ENV,
	OPT_CWD,
	OPT_PARSABLE,
	OPT_ARGS,
	OPT_STATE,
	OPT_LIMIT,
	OPT_STDERR,
	OPT_ALL,
	OPT_RETRY_DELAY,
	OPT_KEY,
	OPT_AFTER,
	OPT_AFTER_ANY,
	OPT_ARRAY,
	OPT_BYTES,
};

/* Report getopt's '?' or ':' for argv; returns exit status 2. */
static int
bad_option(struct cli *x, int ch, char **argv)
{
	const char *arg = argv[optind - 1];

	if (ch == ':')
		return usage_error(x, "option '%s' needs a value", arg);
	if (optopt && optopt < 256 && !(arg[0] == '-' && arg[1] == '-'))
		return usage_error(x, "unknown option '-%c'", optopt);
	return usage_error(x, "unknown option '%s'", arg);
}

/* ---- talking to forqd -------------------------------------------------- */

/* Connect @x once.  0, or an exit status after a message. */
static int
cli_connect(struct cli *x)
{
	int rc;

	if (x->c)
		return 0;
	if (x->socket) {
		if (strlen(x->socket) >= sizeof(x->sockbuf))
			return fail(x, FORQ_ECONNECT, "cannot reach forqd at %s: %s", x->socket,
				    strerror(ENAMETOOLONG));
		strcpy(x->sockbuf, x->socket);
	} else {
		rc = paths_socket(x->sockbuf, sizeof(x->sockbuf), NULL);
		if (rc)
			return fail(x, FORQ_ECONNECT, "cannot find forqd's socket: %s "
				    "(set FORQ_SOCKET or use --socket)", strerror(-rc));
	}
	rc = forq_client_connect(x->sockbuf, &x->c);
	if (rc)
		return fail(x, FORQ_ECONNECT, "cannot reach forqd at %s: %s", x->sockbuf,
			    strerror(-rc));
	return 0;
}

/*
 * One request; @data consumed.  0 with *@reply owned by the caller, or an
 * exit status after a message.
 */
static int
cli_call(struct cli *x, const char *type, cJSON *data, cJSON **reply)
{
	char msg[ERRMSG_MAX];
	int rc;

	*reply = NULL;
	rc = cli_connect(x);
	if (rc) {
		cJSON_Delete(data);
		return rc;
	}
	rc = forq_client_call(x->c, type, data, reply, msg, sizeof(msg));
	if (rc)
		return fail(x, rc, "%s", msg);
	return 0;
}

/* Print @j as the one JSON document of --json. */
static int
print_json(struct cli *x, const cJSON *j)
{
	char *s = isatty(STDOUT_FILENO) ? cJSON_Print(j) : cJSON_PrintUnformatted(j);

	if (!s)
		return fail_nomem(x);
	fputs(s, stdout);
	fputc('\n', stdout);
	cJSON_free(s);
	return 0;
}

/* ---- reading replies ----------------------------------------------------- */

static const cJSON *
jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *
jstr(const cJSON *o, const char *k, const char *dflt)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static bool
jnum(const cJSON *o, const char *k, double *d)
{
	const cJSON *v = jget(o, k);

	if (!cJSON_IsNumber(v))
		return false;
	*d = v->valuedouble;
	return true;
}

/* A non-negative integer field; 0 when absent or not one. */
static uint64_t
ju64(const cJSON *o, const char *k)
{
	double d;

	if (!jnum(o, k, &d) || !(d >= 0) || d >= 18446744073709551616.0)
		return 0;
	return (uint64_t)d;
}

/* An integer field as text ("-" when null or absent). */
static void
jint_text(const cJSON *o, const char *k, char *buf, size_t len)
{
	double d;

	if (jnum(o, k, &d))
		snprintf(buf, len, "%.0f", d);
	else
		snprintf(buf, len, "-");
}

/* Seconds-since-epoch @t as local time with milliseconds. */
static void
fmt_time(double t, char *buf, size_t len)
{
	time_t s = (time_t)floor(t);
	unsigned ms = (unsigned)((t - floor(t)) * 1000.0);
	struct tm tm;
	size_t n;

	if (ms > 999)
		ms = 999;
	if (!localtime_r(&s, &tm) || (n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm)) == 0) {
		snprintf(buf, len, "%.3f", t);
		return;
	}
	snprintf(buf + n, len - n, ".%03u", ms);
}

/* A span in seconds as a duration text. */
static void
fmt_span(double s, char *buf, size_t len)
{
	uint64_t ms = 0;

	if (duration_from_seconds(s < 0 ? 0 : s, &ms))
		ms = DURATION_MAX_MS;
	duration_format(ms, buf, len);
}

static double
now_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- a text table ------------------------------------------------------ */

#define TABLE_COLS_MAX 12

/* Rows of cells printed with aligned columns. */
struct table {
	unsigned ncols;                /* columns */
	unsigned indent;               /* spaces before every line */
	const char *const *heads;      /* ncols headings */
	const bool *right;             /* ncols: right-align (numbers) */
	char **cells;                  /* nrows * ncols strdup'd cells */
	size_t nrows;                  /* rows added */
	size_t cap;                    /* rows allocated */
	bool oom;                      /* a cell could not be stored */
};

static void
table_row(struct table *t, char *const *vals)
{
	if (t->oom)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));

		if (!p) {
			t->oom = true;
			return;
		}
		t->cells = p;
		t->cap = cap;
	}
	for (unsigned i = 0; i < t->ncols; i++) {
		t->cells[t->nrows * t->ncols + i] = strdup(vals[i]);
		if (!t->cells[t->nrows * t->ncols + i])
			t->oom = true;
	}
	t->nrows++;
}

static void
table_print(const struct table *t)
{
	size_t w[TABLE_COLS_MAX];

	for (unsigned i = 0; i < t->ncols; i++) {
		w[i] = strlen(t->heads[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *c = t->cells[r * t->ncols + i];
			size_t n = c ? strlen(c) : 0;

			if (n > w[i])
				w[i] = n;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		printf("%*s", (int)t->indent, "");
		for (unsigned i = 0; i < t->ncols; i++) {
			const char *c = r == 0 ? t->heads[i] : t->cells[(r - 1) * t->ncols + i];
			bool last = i + 1 == t->ncols;

			if (!c)
				c = "";
			if (t->right[i])
				printf("%*s%s", (int)w[i], c, last ? "" : "  ");
			else if (last)
				printf("%s", c);
			else
				printf("%-*s  ", (int)w[i], c);
		}
		putchar('\n');
	}
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* ---- verbs ------------------------------------------------------------- */

/* What may follow a verb's options. */
enum operands {
	OPERANDS_ANY,                  /* the verb checks them itself */
	OPERANDS_NONE,                 /* none at all */
	OPERAND_ID,                    /* exactly one task id, into cli.id */
};

/*
 * A verb's command line beyond the options every verb shares (--socket,
 * -h/--help and, where .json, --json), as parse_args() reads it.
 */
struct verb_args {
	const char *shortopts;         /* the verb's own short options ("t:"), or NULL */
	const struct option *lo;       /* its own long options, { 0 }-terminated, or NULL */
	bool in_order;                 /* stop at the first operand instead of permuting */
	bool json;                     /* takes --json */
	enum operands operands;        /* what may follow the options */
	/* one of the verb's own options, @arg its value; 0 or an exit status */
	int (*option)(struct cli *x, void *ctx, int ch, const char *arg);
};

/* Prints a reply's data @d as text; 0 or an exit status. */
typedef int reply_printer(struct cli *x, const cJSON *d);

struct verb {
	const char *name;                              /* "submit" */
	int (*run)(struct cli *x, int argc, char **argv);  /* argv[0] is the verb */
	const char *summary;                           /* one line for forq --help */
	const char *usage;                             /* forq VERB --help */
	/* where run is verb_query: */
	const struct verb_args *args;                  /* its command line */
	const char *request;                           /* the request type: "STATS" */
	reply_printer *print;                          /* the reply as text, or NULL: none */
};

#define SOCKET_HELP \
	"      --socket PATH     forqd's socket (default: $FORQ_SOCKET, else\n" \
	"                        $XDG_RUNTIME_DIR/forq/forq.sock, else STATE/forq.sock)\n"
#define JSON_HELP \
	"      --json            print the reply's data as one JSON document\n"
#define HELP_HELP \
	"  -h, --help            show this help\n"

#define LONGOPTS_MAX 24  /* a verb's own long options, the shared ones and the { 0 } */

/* The single ID operand of status, result and log. */
static int
one_id(struct cli *x, int argc, char **argv, uint64_t *id)
{
	if (argc - optind != 1)
		return usage_error(x, argc - optind == 0 ? "no task id given"
							 : "expects exactly one task id");
	return parse_id(x, argv[optind], id);
}

/*
 * Parse the command line @argv of verb x->entry (argv[0] is the verb) as
 * @a describes it: --socket, --json and -h/--help here, the verb's own
 * options through a->option(@ctx), then the operands.  true when the verb
 * goes on, with optind at its first operand (and x->id set for OPERAND_ID);
 * false when it is to return *@rc at once: 0 after --help, or an exit
 * status after a message.
 */
static bool
parse_args(struct cli *x, int argc, char **argv, const struct verb_args *a, void *ctx, int *rc)
{
	static const struct option json_lo = { "json", no_argument, NULL, OPT_JSON };
	static const struct option shared_lo[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct option lo[LONGOPTS_MAX];
	char so[32];
	size_t n = 0;
	int ch;

	/* the verb's own first, then the shared: getopt_long's table is as it always was */
	for (const struct option *o = a->lo; o && o->name; o++)
		lo[n++] = *o;
	if (a->json)
		lo[n++] = json_lo;
	assert(n + sizeof(shared_lo) / sizeof(shared_lo[0]) <= LONGOPTS_MAX);
	memcpy(lo + n, shared_lo, sizeof(shared_lo));
	snprintf(so, sizeof(so), "%s:%sh", a->in_order ? "+" : "",
		 a->shortopts ? a->shortopts : "");

	*rc = 0;
	while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		if (ch == OPT_JSON && a->json) {
			x->json = true;
		} else if (ch == OPT_SOCKET) {
			x->socket = optarg;
		} else if (ch == 'h') {
			fputs(x->entry->usage, stdout);
			return false;
		} else if (ch == '?' || ch == ':') {
			*rc = bad_option(x, ch, argv);
			return false;
		} else {
			*rc = a->option(x, ctx, ch, optarg);
			if (*rc)
				return false;
		}
	}
	if (a->operands == OPERANDS_NONE && optind < argc)
		*rc = usage_error(x, "unexpected argument '%s'", argv[optind]);
	else if (a->operands == OPERAND_ID)
		*rc = one_id(x, argc, argv, &x->id);
	return *rc == 0;
}

/* A verb's handler of its one flag option: *(bool *)@ctx becomes true. */
static int
option_flag(struct cli *x, void *ctx, int ch, const char *arg)
{
	(void)x;
	(void)ch;
	(void)arg;
	*(bool *)ctx = true;
	return 0;
}

/*
 * Send one @type request (@req consumed) and show the reply's data: as the
 * one JSON document with --json, else through @print (nothing when NULL).
 * 0, or an exit status: forqd's error code's after fail(), or @print's.
 */
static int
cli_show(struct cli *x, const char *type, cJSON *req, reply_printer *print)
{
	cJSON *reply;
	int rc;

	rc = cli_call(x, type, req, &reply);
	if (rc)
		return rc;
	if (x->json)
		rc = print_json(x, reply);
	else if (print)
		rc = print(x, reply);
	cJSON_Delete(reply);
	return rc;
}

/* The request {"id": @id}; NULL on OOM. */
static cJSON *
id_request(uint64_t id)
{
	cJSON *d = cJSON_CreateObject();

	if (d && !cJSON_AddNumberToObject(d, "id", (double)id)) {
		cJSON_Delete(d);
		d = NULL;
	}
	return d;
}

/* Add @key: @v to the request @req; @req, or NULL on OOM (both freed). */
static cJSON *
req_add(cJSON *req, const char *key, cJSON *v)
{
	if (!req || !v || !cJSON_AddItemToObject(req, key, v)) {
		cJSON_Delete(v);
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

/*
 * A verb that is one request and its reply, all told by its row of verbs[]:
 * the request carries {"id": ID} when the verb takes an ID, else no data.
 */
static int
verb_query(struct cli *x, int argc, char **argv)
{
	const struct verb *v = x->entry;
	int rc;

	if (!parse_args(x, argc, argv, v->args, NULL, &rc))
		return rc;
	return cli_show(x, v->request, v->args->operands == OPERAND_ID ? id_request(x->id) : NULL,
			v->print);
}

/* -- submit -- */

static const char submit_usage[] =
	"usage: forq submit [options] [--] CMD [ARG...]\n"
	"       forq submit -k KERNEL [--args JSON] [options]\n"
	"       forq submit -f FILE [-p PRIO] [--parsable]\n"
	"\n"
	"Submit a command (run by the exec kernel, without a shell), a kernel task,\n"
	"or every task object of a JSONL file (one object a line; - reads stdin).\n"
	"A file's lines may use every field of a task object (forq-protocol(7)):\n"
	"key, after, after_any, array, retries, retry_delay...; a line's \"after\"\n"
	"may name the key of an earlier line, so a whole graph is one submission.\n"
	"\n"
	"  -p, --priority PRIO   0 (most urgent) to 9; default 5; with -f, the\n"
	"                        priority of lines that name none\n"
	"  -t, --timeout T       end the task after T (250ms, 10s, 5m, 1h; a bare\n"
	"                        number is seconds; 0 = none, the default)\n"
	"      --name NAME       a name for the task (at most 255 bytes)\n"
	"      --retries N       runs after a failed, timed-out or lost one (0 to 100)\n"
	"      --retry-delay D   wait D before the first retry, doubling for each\n"
	"                        further one (capped at 10m; default 0)\n"
	"      --key K           idempotency key (1 to 255 bytes): when a task with\n"
	"                        key K exists, submit nothing and print its id\n"
	"      --after ID[,ID...]\n"
	"                        run only once these tasks ended DONE (WAITING until\n"
	"                        then, CANCELLED if one ends otherwise); an entry\n"
	"                        that is not a number is a task's key; repeatable\n"
	"      --after-any       with --after: run once they ended, whatever the outcome\n"
	"      --array START-END[:STEP]\n"
	"                        one task per index START, START+STEP, ... up to END:\n"
	"                        '{}' in CMD and ARGs becomes the index, and\n"
	"                        FORQ_ARRAY_INDEX is set; a kernel gets it too\n"
	"      --env K=V         add K=V to the command's environment (repeatable)\n"
	"      --cwd DIR         the command's working directory (default: the\n"
	"                        current directory)\n"
	"  -k, --kernel KERNEL   run the kernel KERNEL instead of a command\n"
	"      --args JSON       the kernel's arguments, a JSON object\n"
	"  -f, --file FILE       submit the tasks of the JSONL file FILE\n"
	"      --parsable        print only the task id (FIRST-LAST for an array;\n"
	"                        with -f one id a line, one per task object)\n"
	SOCKET_HELP
	HELP_HELP;

/* What `forq submit` was asked. */
struct submit_opts {
	int64_t priority;              /* -1 = not given */
	bool has_timeout;              /* -t given */
	uint64_t timeout_ms;           /* -t */
	const char *name;              /* --name, or NULL */
	int64_t retries;               /* -1 = not given */
	bool has_retry_delay;          /* --retry-delay given */
	uint64_t retry_delay_ms;       /* --retry-delay */
	const char *key;               /* --key, or NULL */
	cJSON *after;                  /* --after entries (ids, keys) as an array, or NULL */
	bool after_any;                /* --after-any */
	const char *array;             /* --array text, or NULL */
	cJSON *env;                    /* --env pairs as an object, or NULL */
	const char *cwd;               /* --cwd, or NULL */
	const char *kernel;            /* -k, or NULL */
	const char *args;              /* --args text, or NULL */
	const char *file;              /* -f, or NULL */
	bool parsable;                 /* --parsable */
	int conflict;                  /* the first option given that -f excludes, or 0 */
};

/*
 * Add the fields of @o that every kind of task has to @t (o->after moves
 * into @t).  false on OOM.
 */
static bool
add_common(cJSON *t, struct submit_opts *o)
{
	if (o->priority >= 0 && !cJSON_AddNumberToObject(t, "priority", (double)o->priority))
		return false;
	if (o->has_timeout &&
	    !cJSON_AddNumberToObject(t, "timeout", (double)o->timeout_ms / 1000.0))
		return false;
	if (o->name && !cJSON_AddStringToObject(t, "name", o->name))
		return false;
	if (o->retries >= 0 && !cJSON_AddNumberToObject(t, "retries", (double)o->retries))
		return false;
	if (o->has_retry_delay &&
	    !cJSON_AddNumberToObject(t, "retry_delay", (double)o->retry_delay_ms / 1000.0))
		return false;
	if (o->key && !cJSON_AddStringToObject(t, "key", o->key))
		return false;
	if (o->after) {
		if (!cJSON_AddItemToObject(t, "after", o->after))
			return false;
		o->after = NULL;  /* now owned by t */
	}
	if (o->after_any && !cJSON_AddTrueToObject(t, "after_any"))
		return false;
	if (o->array && !cJSON_AddStringToObject(t, "array", o->array))
		return false;
	return true;
}

/* The absolute form of @dir (relative ones against the current directory). */
static int
abs_dir(struct cli *x, const char *dir, struct sbuf *out)
{
	char *cwd;

	if (dir && dir[0] == '/') {
		sb_str(out, dir);
		return 0;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return usage_error(x, "cannot determine the current directory: %s; use --cwd DIR",
				   strerror(errno));
	sb_str(out, cwd);
	if (dir && *dir) {
		if (out->len == 0 || out->p[out->len - 1] != '/')
			sb_str(out, "/");
		sb_str(out, dir);
	}
	free(cwd);
	return 0;
}

/* One task from the command line (a command or a kernel). */
static int
submit_one(struct cli *x, struct submit_opts *o, int argc, char **argv)
{
	bool exec = !o->kernel || strcmp(o->kernel, "exec") == 0;
	struct sbuf dir = { 0 };
	cJSON *t, *reply = NULL, *a;
	double id;
	int rc;

	if (exec && argc == 0)
		return usage_error(x, "no command given");
	if (!exec && argc > 0)
		return usage_error(x, "a kernel task takes no command ('%s'); use --args", argv[0]);
	if (!exec && (o->env || o->cwd))
		return usage_error(x, "--env and --cwd apply to commands only");
	t = cJSON_CreateObject();
	if (!t)
		return fail_nomem(x);
	if (o->kernel && !cJSON_AddStringToObject(t, "kernel", o->kernel))
		goto out_nomem;
	if (exec) {
		a = cJSON_AddArrayToObject(t, "argv");
		if (!a)
			goto out_nomem;
		for (int i = 0; i < argc; i++) {
			cJSON *s = cJSON_CreateString(argv[i]);

			if (!s || !cJSON_AddItemToArray(a, s)) {
				cJSON_Delete(s);
				goto out_nomem;
			}
		}
		rc = abs_dir(x, o->cwd, &dir);
		if (rc)
			goto out_free;
		if (dir.oom || !cJSON_AddStringToObject(t, "cwd", dir.p))
			goto out_nomem;
		if (o->env) {
			if (!cJSON_AddItemToObject(t, "env", o->env))
				goto out_nomem;
			o->env = NULL;    /* now owned by t */
		}
	}
	if (o->args) {
		a = cJSON_Parse(o->args);
		if (!cJSON_IsObject(a)) {
			cJSON_Delete(a);
			rc = usage_error(x, "--args must be a JSON object, e.g. '{\"us\":100}'");
			goto out_free;
		}
		if (!cJSON_AddItemToObject(t, "args", a)) {
			cJSON_Delete(a);
			goto out_nomem;
		}
	}
	if (!add_common(t, o))
		goto out_nomem;
	rc = cli_call(x, "TASK_SUBMIT", t, &reply);
	t = NULL;
	if (rc)
		goto out_free;
	if (!jnum(reply, "id", &id) && !jnum(reply, "first", &id)) {
		rc = fail(x, FORQ_EPROTO, "TASK_SUBMIT_OK reply without an id");
		goto out_free;
	}
	if (cJSON_IsTrue(jget(reply, "existing"))) {
		/* the key existed: nothing was created; id is the existing task's (first) id */
		if (o->parsable)
			printf("%.0f\n", id);
		else
			printf("Task %.0f exists (key %s)\n", id, o->key ? o->key : "?");
	} else if (o->array) {
		uint64_t first = ju64(reply, "first"), last = ju64(reply, "last");
		uint64_t count = ju64(reply, "count");

		if (first == 0 || last < first || last - first + 1 != count) {
			rc = fail(x, FORQ_EPROTO, "TASK_SUBMIT_OK for an array has first %" PRIu64
				  ", last %" PRIu64 ", count %" PRIu64, first, last, count);
			goto out_free;
		}
		if (o->parsable)
			printf("%" PRIu64 "-%" PRIu64 "\n", first, last);
		else
			printf("Submitted array of %" PRIu64 " task%s: %" PRIu64 "-%" PRIu64 "\n",
			       count, count == 1 ? "" : "s", first, last);
	} else if (o->parsable) {
		printf("%.0f\n", id);
	} else {
		printf("Submitted task %.0f\n", id);
	}
	rc = 0;
	goto out_free;

out_nomem:
	rc = fail_nomem(x);
out_free:
	cJSON_Delete(reply);
	cJSON_Delete(t);
	sb_free(&dir);
	return rc;
}

/* One TASK_SUBMIT message of a JSONL submission. */
struct batch {
	struct sbuf text;              /* the whole request envelope */
	uint32_t ntasks;               /* tasks in it */
	uint64_t *lines;               /* ntasks input line numbers, for error messages */
};

static const char batch_head[] = "{\"type\":\"TASK_SUBMIT\",\"data\":{\"tasks\":[";
static const char batch_tail[] = "]}}";

/* All the batches of a file. */
struct batches {
	struct batch *v;               /* the batches */
	size_t n;                      /* used */
	size_t cap;                    /* allocated */
	uint64_t ntasks;               /* tasks in all of them */
};

static void
batches_free(struct batches *bs)
{
	for (size_t i = 0; i < bs->n; i++) {
		sb_free(&bs->v[i].text);
		free(bs->v[i].lines);
	}
	free(bs->v);
}

/* The batch that the next task of @len bytes goes into; NULL on OOM. */
static struct batch *
batch_for(struct batches *bs, size_t len)
{
	struct batch *b = bs->n ? &bs->v[bs->n - 1] : NULL;

	if (b && b->ntasks < BATCH_TASKS_MAX &&
	    (b->ntasks == 0 || b->text.len + len + 1 + sizeof(batch_tail) <= BATCH_BYTES_MAX))
		return b;
	if (b)
		sb_add(&b->text, batch_tail, strlen(batch_tail));
	if (bs->n == bs->cap) {
		size_t cap = bs->cap ? bs->cap * 2 : 8;
		struct batch *v = realloc(bs->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		bs->v = v;
		bs->cap = cap;
	}
	b = &bs->v[bs->n++];
	*b = (struct batch){ 0 };
	b->lines = malloc(BATCH_TASKS_MAX * sizeof(*b->lines));
	if (!b->lines)
		return NULL;
	sb_add(&b->text, batch_head, strlen(batch_head));
	return b;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/*
 * Read and validate every line of @f into batches.  0, or an exit status
 * after a message naming the line.
 */
static int
read_jsonl(struct cli *x, FILE *f, const char *fname, int64_t prio, struct batches *bs)
{
	char *line = NULL, prio_text[32];
	size_t cap = 0;
	uint64_t lineno = 0;
	ssize_t got;
	int rc = 0;

	snprintf(prio_text, sizeof(prio_text), "\"priority\":%" PRId64, prio);
	while ((got = getline(&line, &cap, f)) >= 0) {
		const char *p = line, *e = line + got, *end = NULL;
		struct batch *b;
		cJSON *obj;
		bool add_prio;

		lineno++;
		while (p < e && is_space(*p))
			p++;
		while (e > p && is_space(e[-1]))
			e--;
		if (p == e)
			continue;
		if (memchr(p, '\0', (size_t)(e - p))) {
			rc = usage_error(x, "%s:%" PRIu64 ": not a JSON object (NUL byte)", fname,
					 lineno);
			goto out_free;
		}
		obj = cJSON_ParseWithLengthOpts(p, (size_t)(e - p), &end, 0);
		if (!cJSON_IsObject(obj) || !end || end != e) {
			cJSON_Delete(obj);
			rc = usage_error(x, "%s:%" PRIu64 ": not a JSON object", fname, lineno);
			goto out_free;
		}
		add_prio = prio >= 0 && !jget(obj, "priority");
		if (add_prio && !obj->child) {
			/* "{}": the object becomes {"priority":P} */
			p = e = "";
		}
		cJSON_Delete(obj);
		b = batch_for(bs, (size_t)(e - p) + (add_prio ? strlen(prio_text) + 3 : 0));
		if (!b)
			goto out_nomem;
		if (b->ntasks)
			sb_add(&b->text, ",", 1);
		if (add_prio) {
			/* splice the default in after the '{' the line starts with */
			sb_add(&b->text, "{", 1);
			sb_str(&b->text, prio_text);
			if (p != e) {
				sb_add(&b->text, ",", 1);
				p++;
			} else {
				sb_add(&b->text, "}", 1);
			}
		}
		sb_add(&b->text, p, (size_t)(e - p));
		if (b->text.oom)
			goto out_nomem;
		b->lines[b->ntasks++] = lineno;
		bs->ntasks++;
	}
	if (ferror(f)) {
		rc = usage_error(x, "cannot read %s: %s", fname, strerror(errno));
		goto out_free;
	}
	if (bs->n) {
		struct batch *b = &bs->v[bs->n - 1];

		sb_add(&b->text, batch_tail, strlen(batch_tail));
		if (b->text.oom)
			goto out_nomem;
	}
	goto out_free;

out_nomem:
	rc = fail_nomem(x);
out_free:
	free(line);
	return rc;
}

/* Submitted id ranges, merged where consecutive (for the summary line). */
struct ranges {
	uint64_t (*v)[2];              /* [first, last] pairs */
	size_t n;                      /* used */
	size_t cap;                    /* allocated */
};

static bool
ranges_add(struct ranges *r, uint64_t first, uint64_t last)
{
	if (r->n && r->v[r->n - 1][1] + 1 == first) {
		r->v[r->n - 1][1] = last;
		return true;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		uint64_t (*v)[2] = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return false;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n][0] = first;
	r->v[r->n][1] = last;
	r->n++;
	return true;
}

/* "Submitted N tasks: RANGES", and how many keys named existing tasks. */
static void
ranges_print(const struct ranges *r, uint64_t count, uint64_t existed)
{
	printf("Submitted %" PRIu64 " task%s", count, count == 1 ? "" : "s");
	for (size_t i = 0; i < r->n; i++) {
		printf("%s%" PRIu64, i ? "," : ": ", r->v[i][0]);
		if (r->v[i][1] != r->v[i][0])
			printf("-%" PRIu64, r->v[i][1]);
	}
	if (existed)
		printf("; %" PRIu64 " existed already (by key)", existed);
	putchar('\n');
}

/*
 * Check the TASK_SUBMIT_OK @d of batch @b, count what it created and what
 * existed into *@created and *@existed, and print its ids (--parsable: one
 * a line, one per task object: "ids" when the reply has them, else
 * first..last) or record its range in @r.  0 or an exit status.
 */
static int
batch_reply(struct cli *x, const struct batch *b, const cJSON *d, bool parsable,
	    struct ranges *r, uint64_t *created, uint64_t *existed)
{
	uint64_t first = ju64(d, "first"), last = ju64(d, "last"), count = ju64(d, "count");
	const cJSON *ids = jget(d, "ids"), *ex = jget(d, "existing"), *e;
	uint64_t nex = 0;
	bool single = false;
	double one = 0;

	if (cJSON_IsArray(ex))
		nex = (uint64_t)cJSON_GetArraySize(ex);
	else if (cJSON_IsTrue(ex))
		nex = 1;  /* a batch of one task is answered like a single task */
	if (count && (first == 0 || last < first || last - first + 1 != count))
		goto out_proto;
	if (cJSON_IsArray(ids)) {
		if ((uint64_t)cJSON_GetArraySize(ids) != b->ntasks)
			goto out_proto;
		cJSON_ArrayForEach(e, ids)
			if (!cJSON_IsNumber(e) || !(e->valuedouble >= 1))
				goto out_proto;
	} else if (b->ntasks == 1 && jnum(d, "id", &one)) {
		/* answered like a single task; its "first".."last" may be an array */
		if (one < 1 || (nex == 0 && (double)first != one))
			goto out_proto;
		single = true;
	} else if (count != b->ntasks || nex) {
		goto out_proto;
	}
	if (parsable) {
		if (cJSON_IsArray(ids)) {
			cJSON_ArrayForEach(e, ids)
				printf("%.0f\n", e->valuedouble);
		} else if (single) {
			printf("%.0f\n", one);
		} else {
			for (uint64_t id = first; id <= last; id++)
				printf("%" PRIu64 "\n", id);
		}
	} else if (count && !ranges_add(r, first, last)) {
		return fail_nomem(x);
	}
	*created += count;
	*existed += nex;
	return 0;

out_proto:
	return fail(x, FORQ_EPROTO, "TASK_SUBMIT_OK for %" PRIu32 " tasks has first %" PRIu64
		    ", last %" PRIu64 ", count %" PRIu64 " and %" PRIu64 " existing", b->ntasks,
		    first, last, count, nex);
}

/*
 * Report a refused batch: map "tasks[N]: ..." in @msg to the input line
 * of task N ("tasks[N] is on a cycle" becomes "the task is on a cycle").
 */
static int
batch_fail(struct cli *x, const struct batch *b, const char *fname, int code, const char *msg)
{
	unsigned long idx;
	char *end;

	if (strncmp(msg, "tasks[", 6) == 0) {
		idx = strtoul(msg + 6, &end, 10);
		if (end[0] == ']' && idx < b->ntasks) {
			bool subject = *++end != ':';

			if (!subject)
				end++;
			while (*end == ' ')
				end++;
			return fail(x, code, "%s:%" PRIu64 ": %s%s", fname, b->lines[idx],
				    subject ? "the task " : "", end);
		}
	}
	return fail(x, code, "%s: lines %" PRIu64 "-%" PRIu64 ": %s", fname, b->lines[0],
		    b->lines[b->ntasks - 1], msg);
}

/* Send @bs batch by batch; print the ids. */
static int
send_batches(struct cli *x, struct batches *bs, const char *fname, bool parsable)
{
	struct ranges r = { 0 };
	uint64_t done = 0, existed = 0;
	char msg[ERRMSG_MAX];
	int rc = 0;

	if (bs->n) {
		rc = cli_connect(x);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < bs->n; i++) {
		struct batch *b = &bs->v[i];
		cJSON *reply = NULL;

		if (b->text.oom) {
			rc = fail_nomem(x);
			goto out_free;
		}
		rc = forq_client_call_raw(x->c, "TASK_SUBMIT", b->text.p, b->text.len, &reply, msg,
					  sizeof(msg));
		if (rc) {
			if (!parsable && (done || existed))
				ranges_print(&r, done, existed);
			rc = batch_fail(x, b, fname, rc, msg);
			if (done)
				fprintf(stderr, "forq: submit: %" PRIu64 " tasks before line %"
					PRIu64 " were submitted; none from it on\n", done,
					b->lines[0]);
			goto out_free;
		}
		rc = batch_reply(x, b, reply, parsable, &r, &done, &existed);
		cJSON_Delete(reply);
		if (rc)
			goto out_free;
		sb_free(&b->text);
	}
	if (!parsable)
		ranges_print(&r, done, existed);
out_free:
	free(r.v);
	return rc;
}

static int
submit_file(struct cli *x, const struct submit_opts *o)
{
	bool is_stdin = strcmp(o->file, "-") == 0;
	const char *fname = is_stdin ? "stdin" : o->file;
	struct batches bs = { 0 };
	FILE *f;
	int rc;

	f = is_stdin ? stdin : fopen(o->file, "re");
	if (!f)
		return usage_error(x, "cannot open %s: %s", o->file, strerror(errno));
	rc = read_jsonl(x, f, fname, o->priority, &bs);
	if (!is_stdin)
		fclose(f);
	if (rc == 0)
		rc = send_batches(x, &bs, fname, o->parsable);
	batches_free(&bs);
	return rc;
}

/* Add --env K=V to o->env. */
static int
add_env(struct cli *x, struct submit_opts *o, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *k;
	cJSON *v;

	if (!eq || eq == kv)
		return usage_error(x, "--env wants NAME=VALUE, not '%s'", kv);
	if (!o->env && !(o->env = cJSON_CreateObject()))
		return fail_nomem(x);
	k = strndup(kv, (size_t)(eq - kv));
	v = cJSON_CreateString(eq + 1);
	if (!k || !v)
		goto out_nomem;
	cJSON_DeleteItemFromObjectCaseSensitive(o->env, k);
	if (!cJSON_AddItemToObject(o->env, k, v))
		goto out_nomem;
	free(k);
	return 0;

out_nomem:
	cJSON_Delete(v);
	free(k);
	return fail_nomem(x);
}

/*
 * Add the entries of --after ID[,ID...] to o->after: a number is a task id,
 * anything else a key.
 */
static int
add_after(struct cli *x, struct submit_opts *o, const char *list)
{
	const char *p = list;

	if (!o->after && !(o->after = cJSON_CreateArray()))
		return fail_nomem(x);
	for (;;) {
		size_t n = strcspn(p, ",");
		char ent[TASK_KEY_MAX + 1];
		uint64_t id;
		cJSON *v;

		if (n == 0)
			return usage_error(x, "--after '%s' has an empty entry", list);
		if (n > TASK_KEY_MAX)
			return usage_error(x, "--after: '%.*s' is longer than a key may be "
					   "(%d bytes)", (int)n, p, TASK_KEY_MAX);
		memcpy(ent, p, n);
		ent[n] = '\0';
		if (strspn(ent, "0123456789") == n) {
			if (parse_uint(ent, ID_MAX, &id) || id == 0)
				return usage_error(x, "--after: '%s' is not a task id (a positive "
						   "integer)", ent);
			v = cJSON_CreateNumber((double)id);
		} else {
			v = cJSON_CreateString(ent);
		}
		if (!v || !cJSON_AddItemToArray(o->after, v)) {
			cJSON_Delete(v);
			return fail_nomem(x);
		}
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

/* Check --array START-END[:STEP] (forqd checks the size). */
static int
check_array(struct cli *x, const char *s)
{
	char a[32], b[32];
	uint64_t start, end, step = 1;
	size_t n = strcspn(s, "-"), m;

	if (n == 0 || n >= sizeof(a) || s[n] != '-')
		goto out_bad;
	memcpy(a, s, n);
	a[n] = '\0';
	s += n + 1;
	m = strcspn(s, ":");
	if (m == 0 || m >= sizeof(b))
		goto out_bad;
	memcpy(b, s, m);
	b[m] = '\0';
	if (parse_uint(a, UINT32_MAX, &start) || parse_uint(b, UINT32_MAX, &end))
		goto out_bad;
	if (s[m] == ':' && (parse_uint(s + m + 1, UINT32_MAX, &step) || step == 0))
		goto out_bad;
	if (end < start)
		return usage_error(x, "--array: START must not be above END");
	return 0;

out_bad:
	return usage_error(x, "--array wants START-END or START-END:STEP (integers from 0 to "
			   "%" PRIu32 ", STEP at least 1)", UINT32_MAX);
}

static const struct option submit_lo[] = {
	{ "priority", required_argument, NULL, 'p' },
	{ "timeout", required_argument, NULL, 't' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "retry-delay", required_argument, NULL, OPT_RETRY_DELAY },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "after", required_argument, NULL, OPT_AFTER },
	{ "after-any", no_argument, NULL, OPT_AFTER_ANY },
	{ "array", required_argument, NULL, OPT_ARRAY },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "kernel", required_argument, NULL, 'k' },
	{ "args", required_argument, NULL, OPT_ARGS },
	{ "file", required_argument, NULL, 'f' },
	{ "parsable", no_argument, NULL, OPT_PARSABLE },
	{ 0 },
};

/* One option of submit into the struct submit_opts @ctx. */
static int
submit_option(struct cli *x, void *ctx, int ch, const char *arg)
{
	struct submit_opts *o = ctx;
	uint64_t v = 0;
	int rc = 0;

	switch (ch) {
	case 'p':
		rc = parse_count(x, "priority", arg, 9, &v);
		o->priority = (int64_t)v;
		break;
	case 't':
		rc = parse_timeout(x, arg, &o->timeout_ms);
		o->has_timeout = true;
		break;
	case OPT_NAME:
		o->name = arg;
		break;
	case OPT_RETRIES:
		rc = parse_count(x, "retries", arg, 100, &v);
		o->retries = (int64_t)v;
		break;
	case OPT_RETRY_DELAY:
		rc = parse_duration(x, "--retry-delay", arg, &o->retry_delay_ms);
		o->has_retry_delay = true;
		break;
	case OPT_KEY:
		if (!*arg || strlen(arg) > TASK_KEY_MAX)
			return usage_error(x, "--key wants 1 to %d bytes", TASK_KEY_MAX);
		o->key = arg;
		break;
	case OPT_AFTER:
		rc = add_after(x, o, arg);
		break;
	case OPT_AFTER_ANY:
		o->after_any = true;
		break;
	case OPT_ARRAY:
		rc = check_array(x, arg);
		o->array = arg;
		break;
	case OPT_ENV:
		rc = add_env(x, o, arg);
		break;
	case OPT_CWD:
		o->cwd = arg;
		break;
	case 'k':
		o->kernel = arg;
		break;
	case OPT_ARGS:
		o->args = arg;
		break;
	case 'f':
		o->file = arg;
		break;
	case OPT_PARSABLE:
		o->parsable = true;
		break;
	}
	/* all but -p, -f and --parsable describe the one task of the command line */
	if (rc == 0 && !o->conflict && ch != 'p' && ch != 'f' && ch != OPT_PARSABLE)
		o->conflict = ch;
	return rc;
}

/* "-f cannot be combined with" option @ch, by the name forq(1) gives it. */
static int
file_conflict(struct cli *x, int ch)
{
	const struct option *o = submit_lo;

	if (ch < 256)
		return usage_error(x, "-f cannot be combined with -%c", ch);
	while (o->name && o->val != ch)
		o++;
	return usage_error(x, "-f cannot be combined with --%s", o->name ? o->name : "?");
}

static int
verb_submit(struct cli *x, int argc, char **argv)
{
	static const struct verb_args args = {
		.shortopts = "p:t:k:f:",
		.lo = submit_lo,
		.in_order = true,
		.option = submit_option,
	};
	struct submit_opts o = { .priority = -1, .retries = -1 };
	int rc;

	if (!parse_args(x, argc, argv, &args, &o, &rc))
		goto out;
	argc -= optind;
	argv += optind;
	if (o.after_any && !o.after)
		rc = usage_error(x, "--after-any needs --after");
	else if (!o.file)
		rc = submit_one(x, &o, argc, argv);
	else if (o.conflict)
		rc = file_conflict(x, o.conflict);
	else if (argc > 0)
		rc = usage_error(x, "-f takes no command ('%s')", argv[0]);
	else
		rc = submit_file(x, &o);
out:
	cJSON_Delete(o.env);
	cJSON_Delete(o.after);
	return rc;
}

/* -- status -- */

static const char status_usage[] =
	"usage: forq status ID [--json]\n"
	"\n"
	"Show task ID: its state, kernel, name, command (argv, cwd, env) or\n"
	"arguments, key, array index, dependencies, priority, timeout, retries,\n"
	"exit code, reason, worker and CPU, progress while running, times, the\n"
	"resources its last run used (wall, user and system CPU, max RSS), and\n"
	"one line per attempt: outcome, worker, CPU, start, duration, exit status\n"
	"or signal, reason.\n"
	"\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* One "key: value" line of status. */
static void kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
kv(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-11s", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Append @arr's strings to @b as shell words separated by blanks. */
static void
sb_words(struct sbuf *b, const cJSON *arr)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, arr) {
		if (b->len)
			sb_add(b, " ", 1);
		sb_shell_word(b, cJSON_IsString(a) ? a->valuestring : "?");
	}
}

/* Append @env's members to @b as shell words K=V separated by blanks. */
static void
sb_env(struct sbuf *b, const cJSON *env)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, env) {
		struct sbuf w = { 0 };

		sb_str(&w, e->string ? e->string : "?");
		sb_add(&w, "=", 1);
		sb_str(&w, cJSON_IsString(e) ? e->valuestring : "?");
		if (b->len)
			sb_add(b, " ", 1);
		if (w.oom)
			b->oom = true;
		else
			sb_shell_word(b, w.p);
		sb_free(&w);
	}
}

/* A "key: value" line of @b's text, if there is any. */
static void
kv_sbuf(const char *key, struct sbuf *b)
{
	kv(key, "%s", b->p && !b->oom ? b->p : "?");
	sb_free(b);
}

#define STATUS_DEPS_SHOWN 20  /* dependencies listed by status; then a count */

/* The attempt history as an indented table; false on OOM. */
static bool
print_history(const cJSON *hist)
{
	static const char *const heads[] = { "#", "OUTCOME", "WORKER", "CPU", "STARTED", "RAN",
					     "EXIT", "REASON" };
	static const bool right[] = { true, false, true, true, false, true, false, false };
	struct table t = { .ncols = 8, .indent = 2, .heads = heads, .right = right };
	const cJSON *h;
	bool ok;

	cJSON_ArrayForEach(h, hist) {
		char c[8][64];
		char *row[8];
		double start = 0, end = 0, v;
		bool has_start = jnum(h, "start", &start);

		for (int i = 0; i < 8; i++)
			row[i] = c[i];
		jint_text(h, "attempt", c[0], sizeof(c[0]));
		snprintf(c[1], sizeof(c[1]), "%s", jstr(h, "outcome", "?"));
		jint_text(h, "worker", c[2], sizeof(c[2]));
		jint_text(h, "cpu", c[3], sizeof(c[3]));
		if (has_start)
			fmt_time(start, c[4], sizeof(c[4]));
		else
			snprintf(c[4], sizeof(c[4]), "-");
		if (has_start && jnum(h, "end", &end))
			fmt_span(end - start, c[5], sizeof(c[5]));
		else
			snprintf(c[5], sizeof(c[5]), "-");
		if (jnum(h, "signal", &v))
			snprintf(c[6], sizeof(c[6]), "signal %.0f", v);
		else if (jnum(h, "exit_code", &v))
			snprintf(c[6], sizeof(c[6]), "exit %.0f", v);
		else
			snprintf(c[6], sizeof(c[6]), "-");
		snprintf(c[7], sizeof(c[7]), "%s", jstr(h, "reason", "-"));
		table_row(&t, row);
	}
	ok = !t.oom;
	if (ok)
		table_print(&t);
	table_free(&t);
	return ok;
}

/* status in text. */
static int
print_status(struct cli *x, const cJSON *d)
{
	const cJSON *argv = jget(d, "argv"), *args = jget(d, "args"), *res = jget(d, "resources");
	const cJSON *env = jget(d, "env"), *after = jget(d, "after"), *hist = jget(d, "history");
	char buf[64], span[DURATION_FMT_MAX];
	double sub = 0, start = 0, end = 0, tmo;
	bool has_sub = jnum(d, "submitted", &sub);
	bool has_start = jnum(d, "started", &start);
	bool has_end = jnum(d, "ended", &end);
	const char *state = jstr(d, "state", "?");
	struct sbuf b = { 0 };

	jint_text(d, "id", buf, sizeof(buf));
	kv("id:", "%s", buf);
	kv("name:", "%s", jstr(d, "name", "-"));
	kv("state:", "%s", state);
	kv("kernel:", "%s", jstr(d, "kernel", "-"));
	if (cJSON_IsArray(argv)) {
		sb_words(&b, argv);
		kv_sbuf("argv:", &b);
	}
	if (jstr(d, "cwd", NULL))
		kv("cwd:", "%s", jstr(d, "cwd", ""));
	if (cJSON_IsObject(env) && env->child) {
		sb_env(&b, env);
		kv_sbuf("env:", &b);
	}
	if (args && !cJSON_IsNull(args)) {
		char *s = cJSON_PrintUnformatted(args);

		kv("args:", "%s", s ? s : "?");
		cJSON_free(s);
	}
	if (jstr(d, "key", NULL))
		kv("key:", "%s", jstr(d, "key", ""));
	if (jnum(d, "array_index", &tmo))
		kv("array:", "index %.0f", tmo);
	if (cJSON_IsArray(after) && after->child) {
		const cJSON *a;
		int n = 0, all = cJSON_GetArraySize(after);

		cJSON_ArrayForEach(a, after) {
			if (n == STATUS_DEPS_SHOWN)
				break;
			if (n++)
				sb_str(&b, ", ");
			if (cJSON_IsNumber(a))
				sb_printf(&b, "%.0f", a->valuedouble);
			else
				sb_str(&b, cJSON_IsString(a) ? a->valuestring : "?");
		}
		if (all > n)
			sb_printf(&b, ", ... (%d in all)", all);
		sb_str(&b, cJSON_IsTrue(jget(d, "after_any")) ? "  (whatever their outcome)"
							      : "  (once each is DONE)");
		kv_sbuf("after:", &b);
	}
	jint_text(d, "priority", buf, sizeof(buf));
	kv("priority:", "%s", buf);
	if (jnum(d, "timeout", &tmo) && tmo > 0) {
		fmt_span(tmo, span, sizeof(span));
		kv("timeout:", "%s", span);
	} else {
		kv("timeout:", "none");
	}
	if (jnum(d, "retries", &tmo)) {
		double delay;

		if (tmo > 0 && jnum(d, "retry_delay", &delay) && delay > 0) {
			fmt_span(delay, span, sizeof(span));
			kv("retries:", "%.0f (first after %s, then doubling)", tmo, span);
		} else {
			kv("retries:", "%.0f", tmo);
		}
	}
	jint_text(d, "attempts", buf, sizeof(buf));
	kv("attempts:", "%s", buf);
	jint_text(d, "exit_code", buf, sizeof(buf));
	kv("exit code:", "%s", buf);
	if (jnum(d, "signal", &tmo))
		kv("signal:", "%.0f", tmo);
	kv("reason:", "%s", jstr(d, "reason", "-"));
	if (jnum(d, "worker", &tmo)) {
		double cpu;

		if (jnum(d, "cpu", &cpu))
			kv("worker:", "%.0f (cpu %.0f)", tmo, cpu);
		else
			kv("worker:", "%.0f", tmo);
	}
	if (jnum(d, "progress", &tmo))
		kv("progress:", "%.1f%%", tmo * 100.0);
	if (has_sub) {
		fmt_time(sub, buf, sizeof(buf));
		fmt_span(now_epoch() - sub, span, sizeof(span));
		kv("submitted:", "%s  (%s ago)", buf, span);
	}
	if (has_start) {
		fmt_time(start, buf, sizeof(buf));
		fmt_span(start - sub, span, sizeof(span));
		if (ju64(d, "attempts") > 1)
			kv("started:", "%s  (attempt %" PRIu64 ", %s after submission)", buf,
			   ju64(d, "attempts"), span);
		else
			kv("started:", "%s  (queued %s)", buf, span);
	}
	if (has_end) {
		fmt_time(end, buf, sizeof(buf));
		fmt_span(end - (has_start ? start : sub), span, sizeof(span));
		kv("ended:", "%s  (%s %s)", buf, has_start ? "ran" : "after", span);
	} else if (has_start && strcmp(state, "RUNNING") == 0) {
		fmt_span(now_epoch() - start, span, sizeof(span));
		kv("running:", "%s so far", span);
	}
	if (cJSON_IsObject(res)) {
		char wall[DURATION_FMT_MAX], user[DURATION_FMT_MAX], sys[DURATION_FMT_MAX];
		double w = 0, u = 0, s = 0, cpu;

		jnum(res, "wall", &w);
		jnum(res, "user", &u);
		jnum(res, "system", &s);
		fmt_span(w, wall, sizeof(wall));
		fmt_span(u, user, sizeof(user));
		fmt_span(s, sys, sizeof(sys));
		sb_printf(&b, "wall %s, user %s, system %s, max rss %" PRIu64 " KiB", wall, user,
			  sys, ju64(res, "max_rss_kb"));
		if (jnum(res, "cpu", &cpu))
			sb_printf(&b, ", cpu %.0f", cpu);
		kv_sbuf("resources:", &b);
	}
	if (cJSON_IsArray(hist) && hist->child) {
		kv("history:", "%d attempt%s", cJSON_GetArraySize(hist),
		   cJSON_GetArraySize(hist) == 1 ? "" : "s");
		if (!print_history(hist))
			return fail_nomem(x);
	}
	return 0;
}

/* -- result -- */

#define RESULT_MAX_REPLY (512u << 20) /* --bytes: forqd --max-result allows 256 MiB, base64 4/3 */

static const char result_usage[] =
	"usage: forq result ID [--bytes] [--json]\n"
	"\n"
	"Print the result of the finished task ID: its result JSON, or for a\n"
	"command without one its exit code.\n"
	"\n"
	"      --bytes           write the raw bytes the kernel attached to its result\n"
	"                        to standard output, and nothing else (exit 4 when\n"
	"                        it attached none); with --json, the reply with\n"
	"                        them in base64\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* The value of one base64 digit, or -1. */
static int
b64_digit(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Decode the padded base64 text @s (RFC 4648, no blanks) into @out, which
 * has room for strlen(@s) / 4 * 3 bytes; *@len gets the bytes written.
 * Returns 0, or -EINVAL for text that is not base64.
 */
static int
b64_decode(const char *s, unsigned char *out, size_t *len)
{
	size_t n = strlen(s), w = 0;

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int d[4], pad = 0;
		uint32_t v = 0;

		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				d[j] = 0;
				pad++;
			} else if (pad || (d[j] = b64_digit((unsigned char)s[i + j])) < 0) {
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)d[j];
		}
		out[w++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[w++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[w++] = (unsigned char)v;
	}
	*len = w;
	return 0;
}

/* --bytes without --json: the reply's "bytes", decoded, to stdout. */
static int
print_result_bytes(struct cli *x, const cJSON *reply)
{
	const cJSON *b = jget(reply, "bytes");
	unsigned char *buf;
	double want;
	size_t len;
	int rc = 0;

	if (!jnum(reply, "bytes_len", &want) || want <= 0 || !cJSON_IsString(b)) {
		fprintf(stderr, "forq: result: task %" PRIu64 " has no result bytes\n", x->id);
		return EXIT_REFUSED;
	}
	buf = malloc(strlen(b->valuestring) / 4 * 3 + 1);
	if (!buf)
		return fail_nomem(x);
	if (b64_decode(b->valuestring, buf, &len) < 0 || (double)len != want)
		rc = fail(x, FORQ_EPROTO, "the result bytes of task %" PRIu64
			  " are not %.0f bytes of base64", x->id, want);
	else if (fwrite(buf, 1, len, stdout) != len)
		rc = fail(x, FORQ_EINTERNAL, "writing the output: %s", strerror(errno));
	free(buf);
	return rc;
}

/* result without --bytes: the result JSON, else the exit code. */
static int
print_result(struct cli *x, const cJSON *reply)
{
	const cJSON *res = jget(reply, "result");
	double ec;

	if (res && !cJSON_IsNull(res))
		return print_json(x, res);
	if (jnum(reply, "exit_code", &ec))
		printf("%.0f\n", ec);
	else
		fprintf(stderr, "forq: result: task %" PRIu64 " ended %s without a result\n", x->id,
			jstr(reply, "state", "?"));
	return 0;
}

static int
verb_result(struct cli *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "bytes", no_argument, NULL, OPT_BYTES },
		{ 0 },
	};
	static const struct verb_args args = {
		.lo = lo, .json = true, .operands = OPERAND_ID, .option = option_flag,
	};
	bool bytes = false;
	cJSON *req;
	int rc;

	if (!parse_args(x, argc, argv, &args, &bytes, &rc))
		return rc;
	req = id_request(x->id);
	if (bytes)
		req = req_add(req, "bytes", cJSON_CreateTrue());
	if (!req)
		return fail_nomem(x);
	if (bytes) {
		rc = cli_connect(x);
		if (rc) {
			cJSON_Delete(req);
			return rc;
		}
		forq_client_set_max_reply(x->c, RESULT_MAX_REPLY);
	}
	return cli_show(x, "TASK_RESULT", req, bytes ? print_result_bytes : print_result);
}

/* -- log -- */

static const char log_usage[] =
	"usage: forq log ID [--stderr] [--json]\n"
	"\n"
	"Print the standard output (or error) that task ID wrote, verbatim; forqd\n"
	"sends at most the last MiB.\n"
	"\n"
	"      --stderr          the standard error instead\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* log in text: the output verbatim, and a note on stderr when it is only its end. */
static int
print_log(struct cli *x, const cJSON *reply)
{
	const cJSON *data = jget(reply, "data");

	(void)x;
	if (cJSON_IsString(data)) {
		fputs(data->valuestring, stdout);
		if (cJSON_IsTrue(jget(reply, "truncated")))
			fprintf(stderr, "forq: log: showing the end of %s (%" PRIu64 " bytes)\n",
				jstr(reply, "path", "the log"), ju64(reply, "size"));
	}
	return 0;
}

static int
verb_log(struct cli *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "stderr", no_argument, NULL, OPT_STDERR },
		{ 0 },
	};
	static const struct verb_args args = {
		.lo = lo, .json = true, .operands = OPERAND_ID, .option = option_flag,
	};
	bool err = false;
	cJSON *req;
	int rc;

	if (!parse_args(x, argc, argv, &args, &err, &rc))
		return rc;
	req = id_request(x->id);
	if (err)
		req = req_add(req, "stream", cJSON_CreateString("stderr"));
	if (!req)
		return fail_nomem(x);
	return cli_show(x, "TASK_LOG", req, print_log);
}

/* -- list -- */

static const char list_usage[] =
	"usage: forq list [--state STATE] [--limit N] [--json]\n"
	"\n"
	"List tasks in ascending id order: ID STATE PRIO KERNEL NAME.\n"
	"\n"
	"      --state STATE     only tasks in STATE (QUEUED, WAITING, RUNNING, DONE,\n"
	"                        FAILED, TIMEOUT, LOST, CANCELLED)\n"
	"      --limit N         at most N tasks (default 100; 0 = all)\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

static void
print_list_rows(const cJSON *tasks)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, tasks) {
		char id[32], prio[32];

		jint_text(t, "id", id, sizeof(id));
		jint_text(t, "priority", prio, sizeof(prio));
		printf("%8s  %-9s  %4s  %-10s  %s\n", id, jstr(t, "state", "?"), prio,
		       jstr(t, "kernel", "-"), jstr(t, "name", ""));
	}
}

/* What `forq list` was asked. */
struct list_opts {
	const char *state;             /* --state, or NULL */
	uint64_t limit;                /* --limit; 0 = all */
};

static int
list_option(struct cli *x, void *ctx, int ch, const char *arg)
{
	struct list_opts *o = ctx;

	if (ch == OPT_STATE)
		o->state = arg;
	else if (parse_uint(arg, ID_MAX, &o->limit))
		return usage_error(x, "--limit wants a count, not '%s'", arg);
	return 0;
}

static int
verb_list(struct cli *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "state", required_argument, NULL, OPT_STATE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ 0 },
	};
	static const struct verb_args args = {
		.lo = lo, .json = true, .operands = OPERANDS_NONE, .option = list_option,
	};
	struct list_opts o = { .limit = 100 };
	uint64_t after = 0, got = 0;
	cJSON *all = NULL, *all_tasks = NULL;
	bool more = false;
	int rc;

	if (!parse_args(x, argc, argv, &args, &o, &rc))
		return rc;
	if (!x->json)
		printf("%8s  %-9s  %4s  %-10s  %s\n", "ID", "STATE", "PRIO", "KERNEL", "NAME");
	/* page through with "after" so that no reply grows without bound */
	do {
		uint64_t left = o.limit - got;
		uint64_t want = o.limit == 0 || left > LIST_PAGE ? LIST_PAGE : left;
		cJSON *req = cJSON_CreateObject(), *reply, *tasks, *t;
		uint64_t n = 0;

		if (!req || (o.state && !cJSON_AddStringToObject(req, "state", o.state)) ||
		    !cJSON_AddNumberToObject(req, "limit", (double)want) ||
		    (after && !cJSON_AddNumberToObject(req, "after", (double)after))) {
			cJSON_Delete(req);
			rc = fail_nomem(x);
			goto out;
		}
		rc = cli_call(x, "TASK_LIST", req, &reply);
		if (rc)
			goto out;
		tasks = (cJSON *)jget(reply, "tasks");
		more = cJSON_IsTrue(jget(reply, "more"));
		if (!cJSON_IsArray(tasks)) {
			cJSON_Delete(reply);
			rc = fail(x, FORQ_EPROTO, "TASK_LIST_OK reply without a \"tasks\" array");
			goto out;
		}
		cJSON_ArrayForEach(t, tasks) {
			uint64_t id = ju64(t, "id");

			if (id <= after) {
				cJSON_Delete(reply);
				rc = fail(x, FORQ_EPROTO,
					  "TASK_LIST_OK ids not ascending past %" PRIu64, after);
				goto out;
			}
			n++;
			after = id;
		}
		got += n;
		if (!x->json) {
			print_list_rows(tasks);
			cJSON_Delete(reply);
		} else if (!all) {
			all = reply;
			all_tasks = tasks;
		} else {
			while ((t = tasks->child) != NULL)
				cJSON_AddItemToArray(all_tasks,
						     cJSON_DetachItemViaPointer(tasks, t));
			cJSON_Delete(reply);
		}
		if (n == 0)
			break;
	} while (more && (o.limit == 0 || got < o.limit));
	if (x->json) {
		cJSON_DeleteItemFromObjectCaseSensitive(all, "more");
		if (!cJSON_AddBoolToObject(all, "more", more)) {
			rc = fail_nomem(x);
			goto out;
		}
		rc = print_json(x, all);
	} else if (more) {
		fprintf(stderr, "forq: list: more tasks follow; raise --limit (0 = all)\n");
	}
out:
	cJSON_Delete(all);
	return rc;
}

/* -- wait -- */

static const char wait_usage[] =
	"usage: forq wait [ID...|--all] [--timeout T] [--json]\n"
	"\n"
	"Wait until the tasks ID... (or, with --all or no ID, every task) have\n"
	"finished; an ID may be a range A-B, such as an array's ids.  Exit 0 when\n"
	"each ended DONE, 1 when one did not, 6 when T passed first.  On a\n"
	"terminal a progress line is kept on stderr.\n"
	"\n"
	"      --all             every task (the default without IDs)\n"
	"  -t, --timeout T       give up after T (250ms, 10s, 5m, 1h; default never)\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* The states that count as "failed" in wait's progress and exit status. */
static const char *const bad_states[] = { "FAILED", "TIMEOUT", "LOST", "CANCELLED" };

static uint64_t
wait_failed(const cJSON *counts)
{
	uint64_t n = 0;

	for (size_t i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++)
		n += ju64(counts, bad_states[i]);
	return n;
}

static void
wait_summary(const cJSON *d)
{
	const cJSON *counts = jget(d, "counts");

	printf("%" PRIu64 "/%" PRIu64 " finished: %" PRIu64 " DONE", ju64(d, "finished"),
	       ju64(d, "total"), ju64(counts, "DONE"));
	for (size_t i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++) {
		uint64_t n = ju64(counts, bad_states[i]);

		if (n)
			printf(", %" PRIu64 " %s", n, bad_states[i]);
	}
	putchar('\n');
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What `forq wait` was asked. */
struct wait_opts {
	bool all;                      /* --all */
	bool has_timeout;              /* -t given */
	uint64_t timeout_ms;           /* -t */
};

static int
wait_option(struct cli *x, void *ctx, int ch, const char *arg)
{
	struct wait_opts *o = ctx;

	if (ch == OPT_ALL) {
		o->all = true;
		return 0;
	}
	o->has_timeout = true;
	return parse_timeout(x, arg, &o->timeout_ms);
}

static int
verb_wait(struct cli *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "all", no_argument, NULL, OPT_ALL },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 },
	};
	static const struct verb_args args = {
		.shortopts = "t:", .lo = lo, .json = true, .option = wait_option,
	};
	struct wait_opts o = { 0 };
	bool timed_out = false, shown = false;
	bool progress = isatty(STDERR_FILENO);
	uint64_t start, deadline = 0;
	struct sbuf head = { 0 };
	cJSON *reply = NULL;
	char msg[ERRMSG_MAX];
	int rc;

	if (!parse_args(x, argc, argv, &args, &o, &rc))
		return rc;
	if (o.all && optind < argc)
		return usage_error(x, "--all takes no task ids");
	/* the request text minus its timeout, built once for every round */
	sb_str(&head, "{\"type\":\"TASK_WAIT\",\"data\":{");
	if (optind == argc) {
		sb_str(&head, "\"all\":true");
	} else {
		sb_str(&head, "\"ids\":[");
		for (int i = optind; i < argc; i++) {
			uint64_t first, last;

			rc = parse_id_range(x, argv[i], &first, &last);
			if (rc)
				goto out_free;
			if (first == last)
				sb_printf(&head, "%s%" PRIu64, i > optind ? "," : "", first);
			else
				sb_printf(&head, "%s\"%" PRIu64 "-%" PRIu64 "\"",
					  i > optind ? "," : "", first, last);
		}
		sb_str(&head, "]");
	}
	sb_str(&head, ",\"timeout\":");
	if (head.oom) {
		rc = fail_nomem(x);
		goto out_free;
	}
	rc = cli_connect(x);
	if (rc)
		goto out_free;
	start = now_ms();
	deadline = start + o.timeout_ms;
	for (;;) {
		uint64_t round = WAIT_ROUND_MS, t0 = now_ms(), finished, total;
		size_t keep = head.len;

		if (o.has_timeout)
			round = deadline > t0 ? (deadline - t0 < round ? deadline - t0 : round) : 0;
		sb_printf(&head, "%.3f}}", (double)round / 1000.0);
		if (head.oom) {
			rc = fail_nomem(x);
			goto out_free;
		}
		cJSON_Delete(reply);
		rc = forq_client_call_raw(x->c, "TASK_WAIT", head.p, head.len, &reply, msg,
					  sizeof(msg));
		head.len = keep;
		if (rc) {
			if (shown)
				fputs("\r\033[K", stderr);
			rc = fail(x, rc, "%s", msg);
			goto out_free;
		}
		if (cJSON_IsTrue(jget(reply, "complete")))
			break;
		if (o.has_timeout && now_ms() >= deadline) {
			timed_out = true;
			break;
		}
		finished = ju64(reply, "finished");
		total = ju64(reply, "total");
		if (progress) {
			fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " finished  (%" PRIu64
				" failed)  %.1fs\033[K", finished, total,
				wait_failed(jget(reply, "counts")),
				(double)(now_ms() - start) / 1000.0);
			shown = true;
		}
		/* a forqd that answers early must not turn this into a busy loop */
		if (now_ms() - t0 < round / 2)
			sleep_ms(round / 2);
	}
	if (shown)
		fputs("\r\033[K", stderr);
	if (x->json) {
		rc = print_json(x, reply);
		if (rc)
			goto out_free;
	} else if (!timed_out) {
		wait_summary(reply);
	}
	if (timed_out) {
		char span[DURATION_FMT_MAX];

		duration_format(o.timeout_ms, span, sizeof(span));
		rc = fail(x, FORQ_EWAITTIME, "timed out after %s: %" PRIu64 "/%" PRIu64
			  " finished", span, ju64(reply, "finished"), ju64(reply, "total"));
	} else {
		const cJSON *counts = jget(reply, "counts");
		bool ok = wait_failed(counts) == 0 &&
			  (optind == argc || ju64(counts, "DONE") == ju64(reply, "total"));

		rc = ok ? 0 : 1;
	}
out_free:
	cJSON_Delete(reply);
	sb_free(&head);
	return rc;
}

/* -- cancel -- */

static const char cancel_usage[] =
	"usage: forq cancel ID... [--json]\n"
	"       forq cancel --state queued|waiting|all [--json]\n"
	"\n"
	"Cancel tasks.  A queued or waiting task ends CANCELLED without running;\n"
	"a running command has its process group killed; a running kernel is\n"
	"asked to stop, and its worker replaced if it does not within 0.5s.\n"
	"Tasks that depend on a cancelled one end CANCELLED as well (unless they\n"
	"were submitted with --after-any).  An ID may be a range A-B, such as an\n"
	"array's ids.  Every task named must exist and be unfinished, else\n"
	"nothing is cancelled.  Prints \"Cancelled N tasks\".\n"
	"\n"
	"      --state STATE     cancel every task in STATE instead: queued (not\n"
	"                        yet running), waiting (for dependencies) or all\n"
	"                        (queued, waiting and running)\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* --state of cancel into the const char * @ctx. */
static int
cancel_option(struct cli *x, void *ctx, int ch, const char *arg)
{
	static const char *const states[] = { "queued", "waiting", "all" };
	const char **state = ctx;

	(void)ch;
	*state = NULL;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcasecmp(arg, states[i]) == 0)
			*state = states[i];
	if (!*state)
		return usage_error(x, "--state wants queued, waiting or all, not '%s'", arg);
	return 0;
}

/* cancel in text. */
static int
print_cancelled(struct cli *x, const cJSON *reply)
{
	uint64_t n = ju64(reply, "cancelled");

	(void)x;
	printf("Cancelled %" PRIu64 " task%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static int
verb_cancel(struct cli *x, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "state", required_argument, NULL, OPT_STATE },
		{ 0 },
	};
	static const struct verb_args args = {
		.lo = lo, .json = true, .option = cancel_option,
	};
	const char *state = NULL;
	cJSON *req, *ids;
	int rc;

	if (!parse_args(x, argc, argv, &args, &state, &rc))
		return rc;
	if (state && optind < argc)
		return usage_error(x, "--state takes no task ids");
	if (!state && optind == argc)
		return usage_error(x, "no task id given (or --state queued|waiting|all)");
	req = cJSON_CreateObject();
	if (!req)
		return fail_nomem(x);
	if (state) {
		if (!cJSON_AddStringToObject(req, "state", state))
			goto out_nomem;
	} else {
		ids = cJSON_AddArrayToObject(req, "ids");
		if (!ids)
			goto out_nomem;
		for (int i = optind; i < argc; i++) {
			uint64_t first, last;
			char range[48];
			cJSON *v;

			rc = parse_id_range(x, argv[i], &first, &last);
			if (rc) {
				cJSON_Delete(req);
				return rc;
			}
			snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, first, last);
			if (first == last)
				v = cJSON_CreateNumber((double)first);
			else
				v = cJSON_CreateString(range);
			if (!v || !cJSON_AddItemToArray(ids, v)) {
				cJSON_Delete(v);
				goto out_nomem;
			}
		}
	}
	return cli_show(x, "TASK_CANCEL", req, print_cancelled);

out_nomem:
	cJSON_Delete(req);
	return fail_nomem(x);
}

/* -- workers -- */

static const char workers_usage[] =
	"usage: forq workers [--json]\n"
	"\n"
	"List forqd's worker processes: IDX PID CPUS STATE TASK PROGRESS HEARTBEAT\n"
	"AGE DONE BUSY RESTARTS.  PROGRESS is what the running kernel last reported\n"
	"(- when it reports nothing).\n"
	"\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* workers in text: one table. */
static int
print_workers(struct cli *x, const cJSON *reply)
{
	static const char *const heads[] = { "IDX", "PID", "CPUS", "STATE", "TASK", "PROGRESS",
					     "HEARTBEAT", "AGE", "DONE", "BUSY", "RESTARTS" };
	static const bool right[] = { true, true, false, false, true, true,
				      true, true, true, true, true };
	struct table t = { .ncols = 11, .heads = heads, .right = right };
	const cJSON *w;
	int rc = 0;

	cJSON_ArrayForEach(w, jget(reply, "workers")) {
		char c[11][40];
		char *row[11];
		double prog;

		for (int i = 0; i < 11; i++)
			row[i] = c[i];
		jint_text(w, "index", c[0], sizeof(c[0]));
		jint_text(w, "pid", c[1], sizeof(c[1]));
		snprintf(c[2], sizeof(c[2]), "%s", jstr(w, "cpus", "-"));
		snprintf(c[3], sizeof(c[3]), "%s", jstr(w, "state", "?"));
		jint_text(w, "task", c[4], sizeof(c[4]));
		if (jnum(w, "progress", &prog))
			snprintf(c[5], sizeof(c[5]), "%.1f%%", prog * 100.0);
		else
			snprintf(c[5], sizeof(c[5]), "-");
		jint_text(w, "heartbeat", c[6], sizeof(c[6]));
		duration_format(ju64(w, "heartbeat_age_ms"), c[7], sizeof(c[7]));
		jint_text(w, "tasks_done", c[8], sizeof(c[8]));
		duration_format(ju64(w, "busy_ms"), c[9], sizeof(c[9]));
		jint_text(w, "restarts", c[10], sizeof(c[10]));
		table_row(&t, row);
	}
	if (t.oom)
		rc = fail_nomem(x);
	else
		table_print(&t);
	table_free(&t);
	return rc;
}

/* -- kernels -- */

static const char kernels_usage[] =
	"usage: forq kernels [--json]\n"
	"\n"
	"List the kernels forqd can run (built in and loaded from plug-ins), each\n"
	"with its summary and its arguments: ARG TYPE DEFAULT RANGE HELP, where\n"
	"DEFAULT is 'required' for an argument that must be given, and RANGE the\n"
	"inclusive bounds (of the length, for a string) or the choices.\n"
	"\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* A JSON number as short text ("1e+06" stays exact enough to read). */
static void
fmt_num(double v, char *buf, size_t len)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.6g", v);
}

/* One kernel's argument table, indented; false on OOM. */
static bool
print_kernel_args(const cJSON *args)
{
	static const char *const heads[] = { "ARG", "TYPE", "DEFAULT", "RANGE", "HELP" };
	static const bool right[] = { false, false, false, false, false };
	struct table t = { .ncols = 5, .indent = 4, .heads = heads, .right = right };
	const cJSON *a;
	bool ok;

	cJSON_ArrayForEach(a, args) {
		const cJSON *def = jget(a, "default"), *choices = jget(a, "choices"), *c;
		struct sbuf range = { 0 }, dflt = { 0 };
		char lo[40], hi[40];
		double min, max;
		char *row[5];

		if (cJSON_IsTrue(jget(a, "required"))) {
			sb_str(&dflt, "required");
		} else if (def && !cJSON_IsNull(def)) {
			char *txt = cJSON_PrintUnformatted(def);

			if (txt)
				sb_str(&dflt, txt);
			else
				dflt.oom = true;
			cJSON_free(txt);
		} else {
			sb_str(&dflt, "-");
		}
		if (cJSON_IsArray(choices)) {
			cJSON_ArrayForEach(c, choices) {
				if (range.len)
					sb_add(&range, "|", 1);
				sb_str(&range, cJSON_IsString(c) ? c->valuestring : "?");
			}
		} else if (jnum(a, "min", &min) && jnum(a, "max", &max)) {
			fmt_num(min, lo, sizeof(lo));
			fmt_num(max, hi, sizeof(hi));
			sb_printf(&range, "%s..%s", lo, hi);
		}
		if (range.len == 0)
			sb_str(&range, "-");
		row[0] = (char *)jstr(a, "name", "?");
		row[1] = (char *)jstr(a, "type", "?");
		row[2] = dflt.oom ? NULL : dflt.p;
		row[3] = range.oom ? NULL : range.p;
		row[4] = (char *)jstr(a, "help", "");
		if (!row[2] || !row[3])
			t.oom = true;
		else
			table_row(&t, row);
		sb_free(&dflt);
		sb_free(&range);
	}
	ok = !t.oom;
	if (ok && t.nrows)
		table_print(&t);
	table_free(&t);
	return ok;
}

/* kernels in text: a line each, and its argument table. */
static int
print_kernels(struct cli *x, const cJSON *reply)
{
	const cJSON *k, *kernels = jget(reply, "kernels");
	int width = 0;

	if (!cJSON_IsArray(kernels))
		return fail(x, FORQ_EPROTO, "KERNEL_LIST_OK reply without a \"kernels\" array");
	cJSON_ArrayForEach(k, kernels) {
		int n = (int)strlen(jstr(k, "name", "?"));

		width = n > width ? n : width;
	}
	cJSON_ArrayForEach(k, kernels) {
		const cJSON *args = jget(k, "args");

		printf("%-*s  %s\n", width, jstr(k, "name", "?"), jstr(k, "summary", ""));
		if (cJSON_IsArray(args) && !print_kernel_args(args))
			return fail_nomem(x);
	}
	return 0;
}

/* -- stats -- */

static const char stats_usage[] =
	"usage: forq stats [--json]\n"
	"\n"
	"Show task counts by state, throughput, workers, store commits, the backlog\n"
	"beyond the rings, uptime, durability mode and version.\n"
	"\n"
	JSON_HELP
	SOCKET_HELP
	HELP_HELP;

/* stats in text. */
static int
print_stats(struct cli *x, const cJSON *reply)
{
	static const char *const states[] = { "QUEUED", "WAITING", "RUNNING", "DONE",
					      "FAILED", "TIMEOUT", "LOST", "CANCELLED" };
	const cJSON *counts = jget(reply, "counts");
	char span[DURATION_FMT_MAX];
	double tps = 0, avg = 0, up = 0;

	(void)x;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		printf("%-11s%12" PRIu64 "\n", states[i], ju64(counts, states[i]));
	jnum(reply, "tasks_per_s", &tps);
	jnum(reply, "tasks_per_s_avg", &avg);
	jnum(reply, "uptime", &up);
	fmt_span(up, span, sizeof(span));
	printf("%-11s%12" PRIu64 "\n", "submitted", ju64(reply, "submitted"));
	printf("%-11s%12" PRIu64 "\n", "finished", ju64(reply, "finished"));
	printf("%-11s%12.1f  (last second; %.1f average)\n", "tasks/s", tps, avg);
	printf("%-11s%12" PRIu64 "\n", "workers", ju64(reply, "workers"));
	if (jget(reply, "commits"))
		printf("%-11s%12" PRIu64 "\n", "commits", ju64(reply, "commits"));
	if (jget(reply, "backlog"))
		printf("%-11s%12" PRIu64 "  (queued, waiting for room in a ring of %" PRIu64
		       " slots)\n", "backlog", ju64(reply, "backlog"), ju64(reply, "ring_size"));
	printf("%-11s%12s\n", "uptime", span);
	printf("%-11s%12s\n", "sync", jstr(reply, "sync", "-"));
	printf("%-11s%12s\n", "version", jstr(reply, "version", "-"));
	return 0;
}

/* -- shutdown -- */

static const char shutdown_usage[] =
	"usage: forq shutdown\n"
	"\n"
	"Ask forqd to stop its workers and exit.\n"
	"\n"
	SOCKET_HELP
	HELP_HELP;

/*
 * shutdown prints nothing, so it refuses --json; getopt_long knows the
 * option all the same, so that an abbreviation of it is named in full.
 */
static int
refuse_json(struct cli *x, void *ctx, int ch, const char *arg)
{
	(void)ctx;
	(void)ch;
	(void)arg;
	return usage_error(x, "unknown option '--json'");
}

static const struct option shutdown_lo[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ 0 },
};

/* ---- main -------------------------------------------------------------- */

/* The command lines of the verbs that verb_query() runs. */
static const struct verb_args id_args = { .json = true, .operands = OPERAND_ID };
static const struct verb_args no_args = { .json = true, .operands = OPERANDS_NONE };
static const struct verb_args shutdown_args = {
	.lo = shutdown_lo, .operands = OPERANDS_NONE, .option = refuse_json,
};

static const struct verb verbs[] = {
	{ .name = "submit", .run = verb_submit, .usage = submit_usage,
	  .summary = "submit a command, a kernel task, an array or a JSONL file" },
	{ .name = "cancel", .run = verb_cancel, .usage = cancel_usage, .summary = "cancel tasks" },
	{ .name = "status", .run = verb_query, .usage = status_usage,
	  .summary = "show a task",
	  .args = &id_args, .request = "TASK_STATUS", .print = print_status },
	{ .name = "result", .run = verb_result, .usage = result_usage,
	  .summary = "print a finished task's result, or its raw bytes (--bytes)" },
	{ .name = "log", .run = verb_log, .usage = log_usage, .summary = "print a task's output" },
	{ .name = "list", .run = verb_list, .usage = list_usage, .summary = "list tasks" },
	{ .name = "wait", .run = verb_wait, .usage = wait_usage,
	  .summary = "wait for tasks to finish" },
	{ .name = "kernels", .run = verb_query, .usage = kernels_usage,
	  .summary = "list the kernels and their arguments",
	  .args = &no_args, .request = "KERNEL_LIST", .print = print_kernels },
	{ .name = "workers", .run = verb_query, .usage = workers_usage,
	  .summary = "list the worker processes",
	  .args = &no_args, .request = "WORKER_LIST", .print = print_workers },
	{ .name = "stats", .run = verb_query, .usage = stats_usage,
	  .summary = "show counts, throughput and uptime",
	  .args = &no_args, .request = "STATS", .print = print_stats },
	{ .name = "shutdown", .run = verb_query, .usage = shutdown_usage,
	  .summary = "stop forqd",
	  .args = &shutdown_args, .request = "SHUTDOWN", .print = NULL },
};

static const struct verb *
find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static void
main_usage(FILE *f)
{
	fprintf(f, "usage: forq [--socket PATH] VERB [options] [--] [args]\n"
		   "       forq --help | --version\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-10s%s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\n'forq VERB --help' describes a verb; forq(1) has the details.\n");
}

int
main(int argc, char **argv)
{
	struct cli x = { 0 };
	const struct verb *v;
	int i, rc;

	/* options before the verb: --socket, --help, --version */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			main_usage(stdout);
			return 0;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("forq %s\n", FORQ_VERSION);
			return 0;
		} else if (strcmp(a, "--socket") == 0) {
			if (++i == argc)
				return usage_error(&x, "option '--socket' needs a value");
			x.socket = argv[i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			x.socket = a + 9;
		} else {
			return usage_error(&x, "unknown option '%s'", a);
		}
	}
	if (i == argc) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	v = find_verb(argv[i]);
	if (!v)
		return usage_error(&x, "unknown verb '%s'", argv[i]);
	x.verb = v->name;
	x.entry = v;
	opterr = 0;
	optind = 1;
	rc = v->run(&x, argc - i, argv + i);
	forq_client_close(x.c);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "forq: %s: writing the output: %s (%s)\n", x.verb, strerror(errno),
			forq_err_code(FORQ_EINTERNAL));
		return EXIT_INTERNAL;
	}
	return rc;
}
