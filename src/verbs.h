/*
 * verbs — one handler per request type of forq-protocol(7), run in forqd's
 * event thread.  Reads go straight to the store's read transactions and to
 * the worker blocks; TASK_SUBMIT is handed to the store thread and answered
 * when its commit is durable; TASK_WAIT parks a waiter that is re-checked
 * after every commit that ended tasks, and on the timer for its deadline.
 */
#ifndef FORQ_VERBS_H
#define FORQ_VERBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;

/* verbs_request - handle one request line from connection @slot. */
void verbs_request(struct server *sv, uint32_t slot, const char *line, size_t len);

/* verbs_store_done - answer the submissions the store thread committed. */
void verbs_store_done(struct server *sv);

/* verbs_waiters - re-check parked waits (after a commit, or on the timer). */
void verbs_waiters(struct server *sv, uint64_t now_ns);

/* verbs_too_large - answer TOO_LARGE on @slot. */
void verbs_too_large(struct server *sv, uint32_t slot);

/* verbs_free_waiters - drop every parked wait (shutdown). */
void verbs_free_waiters(struct server *sv);

#endif
