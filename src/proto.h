/*
 * proto — the wire protocol's server half: NDJSON envelope, request types,
 * validation of task objects into submit specs, and error/success replies.
 *
 * Everything a client sends is validated here before anything is written
 * (DESIGN invariant 9): a request either becomes a fully checked C value or
 * an error with a stable code (include/forq/errors.h) and a message naming
 * the offending field.  The protocol itself is documented in
 * forq-protocol(7); a message type here and not there is a bug.
 *
 * cJSON is confined to proto and verbs (the daemon's JSON layer); the
 * store, rings and workers never see it.
 */
#ifndef FORQ_PROTO_H
#define FORQ_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "forq/errors.h"

#define PROTO_REQUESTS(X) \
	X(REQ_TASK_SUBMIT, "TASK_SUBMIT") \
	X(REQ_TASK_STATUS, "TASK_STATUS") \
	X(REQ_TASK_RESULT, "TASK_RESULT") \
	X(REQ_TASK_LOG,    "TASK_LOG")    \
	X(REQ_TASK_LIST,   "TASK_LIST")   \
	X(REQ_TASK_WAIT,   "TASK_WAIT")   \
	X(REQ_WORKER_LIST, "WORKER_LIST") \
	X(REQ_STATS,       "STATS")       \
	X(REQ_SHUTDOWN,    "SHUTDOWN")    \
	X(REQ_TASK_CANCEL, "TASK_CANCEL") \
	X(REQ_KERNEL_LIST, "KERNEL_LIST")

enum proto_req_type {
#define PROTO_X_ENUM(e, s) e,
	PROTO_REQUESTS(PROTO_X_ENUM)
#undef PROTO_X_ENUM
	REQ__COUNT
};

/* A parsed request.  @data is owned by the request (proto_req_free). */
struct proto_req {
	enum proto_req_type type;
	cJSON *root;             /* the whole parsed line */
	const cJSON *data;       /* borrows from root: the "data" object (may be an empty object) */
};

/* One dependency of a submitted task, as written by the client. */
struct proto_dep {
	uint64_t id;             /* an existing task's id, or 0 */
	int32_t idx;             /* a task of the same batch (its index), or -1 */
	char *key;               /* an existing task's key (malloc'd), or NULL */
};

#define PROTO_ARRAY_MAX  10000000u  /* tasks one array may expand to */
#define PROTO_BATCH_MAX  10000000u  /* tasks one submission may create */

/* One validated task of a submission (an array counts as one). */
struct proto_task {
	uint16_t kernel;         /* kernel id */
	uint8_t prio;            /* 0..9 */
	uint8_t flags;           /* TASK_F_ARRAY, TASK_F_AFTER_ANY */
	uint16_t retries;        /* further attempts after a failed one */
	uint32_t timeout_ms;     /* 0 = none */
	uint32_t retry_delay_ms; /* delay before the first retry, doubling */
	char *name;              /* malloc'd, or NULL */
	uint16_t name_len;
	char *key;               /* malloc'd idempotency key, or NULL */
	uint8_t key_len;
	struct proto_dep *deps;  /* malloc'd */
	uint32_t ndeps;
	uint32_t array_start;    /* with TASK_F_ARRAY: first index */
	uint32_t array_step;     /* step between indices */
	uint32_t array_n;        /* tasks it expands to (1 without an array) */
	unsigned char *blob;     /* malloc'd compiled arguments */
	uint32_t blob_len;
};

struct proto_submit {
	struct proto_task *tasks; /* malloc'd array */
	size_t n;
	uint64_t total;          /* tasks after array expansion */
	bool batch;              /* sent as {"tasks":[...]}: messages name tasks[i] */
};

struct proto_cancel {
	uint64_t *ids;           /* malloc'd ids, or NULL with a state filter */
	size_t n;
	int which;               /* with ids == NULL: 1 queued, 2 waiting, 3 all */
};

struct proto_error {
	enum forq_err code;
	char msg[256];
};

/* proto_req_name - the wire name of a request type. */
const char *proto_req_name(enum proto_req_type t);

/*
 * proto_parse_request - parse one request line (@len bytes, no newline).
 * Returns 0 and fills @req, or -1 with @err set (BAD_JSON, BAD_REQUEST,
 * UNKNOWN_TYPE).  Free a successful request with proto_req_free.
 */
int proto_parse_request(const char *line, size_t len, struct proto_req *req, struct proto_error *err);
void proto_req_free(struct proto_req *req);

/*
 * proto_parse_submit - validate TASK_SUBMIT data (a task object or
 * {"tasks":[...]}) into @out, compiling every task's kernel arguments.
 * All or nothing: on any refusal returns -1 with @err naming the task index
 * and field, and @out holds nothing.  Free with proto_submit_free.
 */
int proto_parse_submit(const cJSON *data, struct proto_submit *out, struct proto_error *err);
void proto_submit_free(struct proto_submit *s);

/*
 * proto_get_id - read a positive integer field @name of @data into @id.
 * Returns 0, or -1 with @err (MISSING_FIELD / BAD_FIELD).
 */
int proto_get_id(const cJSON *data, const char *name, uint64_t *id, struct proto_error *err);

/*
 * proto_get_duration_ms - read an optional duration field (number of
 * seconds or "250ms"/"10s"/"5m"/"1h"); absent leaves @ms unchanged.
 * Returns 0, or -1 with @err (@code on a bad value).
 */
int proto_get_duration_ms(const cJSON *data, const char *name, uint64_t *ms,
			  enum forq_err code, struct proto_error *err);

/*
 * proto_get_ids - read @name of @data: an array of ids (numbers) and id
 * ranges ("A-B", e.g. an array's ids) into a malloc'd list.  At most @max
 * ids.  Returns 0, or -1 with @err.
 */
int proto_get_ids(const cJSON *data, const char *name, uint64_t **ids, size_t *n, size_t max,
		  struct proto_error *err);

/* proto_parse_cancel - validate TASK_CANCEL data.  0 or -1 with @err. */
int proto_parse_cancel(const cJSON *data, struct proto_cancel *out, struct proto_error *err);

/* proto_error_set - fill @err with @code and a printf-style message. */
void proto_error_set(struct proto_error *err, enum forq_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * proto_reply_ok - serialise {"type": TYPE_OK, "data": @data} + newline.
 * Consumes @data (NULL: {}).  Returns a malloc'd line (length in *@len), or
 * NULL on allocation failure.
 */
char *proto_reply_ok(enum proto_req_type t, cJSON *data, size_t *len);

/* proto_reply_error - serialise an ERROR reply + newline; malloc'd. */
char *proto_reply_error(const struct proto_error *err, size_t *len);

#endif
