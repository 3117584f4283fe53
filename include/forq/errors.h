/*
 * forq/errors.h — the one table of stable error codes.
 *
 * Each row: X(ENUM, "WIRE_CODE", exit status of the CLI, "human message").
 * The table generates the enum (forq_err), the wire `code` strings carried in
 * {"type":"ERROR","data":{"code":..,"message":..}}, the default messages and
 * the CLI's exit status.  Codes are part of the users' contract: never
 * renumber or rename one; add rows at the end.  tests/test_errors.c fails
 * when a code is missing from man/forq-protocol.7.
 *
 * CLI exit statuses (forq(1), EXIT STATUS):
 *   0 success, 1 a task ended other than DONE (wait), 2 usage,
 *   3 daemon unreachable, 4 request refused, 5 no such task,
 *   6 wait timed out, 70 internal error.
 */
#ifndef FORQ_ERRORS_H
#define FORQ_ERRORS_H

#define FORQ_ERRORS(X) \
	X(FORQ_OK,            "OK",             0,  "success") \
	X(FORQ_EBADJSON,      "BAD_JSON",       4,  "request is not valid JSON") \
	X(FORQ_EBADREQ,       "BAD_REQUEST",    4,  "request is not an object with a string \"type\" and an object \"data\"") \
	X(FORQ_EUNKTYPE,      "UNKNOWN_TYPE",   4,  "unknown request type") \
	X(FORQ_EMISSING,      "MISSING_FIELD",  4,  "a required field is missing") \
	X(FORQ_EBADFIELD,     "BAD_FIELD",      4,  "a field has the wrong type or value") \
	X(FORQ_EPRIORITY,     "BAD_PRIORITY",   4,  "priority must be an integer from 0 to 9") \
	X(FORQ_ETIMEOUT,      "BAD_TIMEOUT",    4,  "timeout must be a non-negative duration") \
	X(FORQ_EUNKKERNEL,    "UNKNOWN_KERNEL", 4,  "no kernel of that name") \
	X(FORQ_EBADARGS,      "BAD_ARGS",       4,  "kernel arguments refused") \
	X(FORQ_EEMPTYCMD,     "EMPTY_COMMAND",  4,  "argv must be a non-empty array of strings") \
	X(FORQ_ETOOLARGE,     "TOO_LARGE",      4,  "message exceeds the maximum size") \
	X(FORQ_ENOTFOUND,     "NOT_FOUND",      5,  "no such task") \
	X(FORQ_ENOTDONE,      "NOT_FINISHED",   4,  "task has not finished") \
	X(FORQ_EPERM,         "PERMISSION",     4,  "permission denied") \
	X(FORQ_ESHUTDOWN,     "SHUTTING_DOWN",  3,  "daemon is shutting down") \
	X(FORQ_EBUSY,         "BUSY",           4,  "daemon is busy; try again") \
	X(FORQ_EWAITTIME,     "WAIT_TIMEOUT",   6,  "wait timed out") \
	X(FORQ_ECONNECT,      "CONNECT",        3,  "cannot reach forqd") \
	X(FORQ_EPROTO,        "PROTOCOL",       3,  "malformed reply from forqd") \
	X(FORQ_EINTERNAL,     "INTERNAL",       70, "internal error") \
	X(FORQ_EFINISHED,     "ALREADY_FINISHED", 4, "task has already finished") \
	X(FORQ_EDEPENDENCY,   "BAD_DEPENDENCY", 4,  "unknown, self or cyclic dependency") \
	X(FORQ_EKEY,          "BAD_KEY",        4,  "idempotency key refused")

enum forq_err {
#define FORQ_X_ENUM(e, code, exitst, msg) e,
	FORQ_ERRORS(FORQ_X_ENUM)
#undef FORQ_X_ENUM
	FORQ_ERR__COUNT
};

/* The wire code of @e ("BAD_JSON"); "INTERNAL" for an out-of-range value. */
const char *forq_err_code(enum forq_err e);
/* The default human message of @e. */
const char *forq_err_message(enum forq_err e);
/* The forq CLI's exit status for @e. */
int forq_err_exit(enum forq_err e);
/* The enum for a wire code string, or FORQ_EINTERNAL when unknown. */
enum forq_err forq_err_from_code(const char *code);

#endif
