/*
 * backlog — the ids of queued tasks that do not fit their priority's ring.
 *
 * One FIFO of task ids per priority, owned by forqd's store thread (no
 * locking: one thread).  8 bytes per queued task, so ten million queued
 * tasks cost 80 MB (DESIGN invariant 8); the rings are refilled from here as
 * they drain.  Storage is a power-of-two circular buffer that doubles when
 * full and halves when a quarter full, so memory follows the backlog.
 */
#ifndef FORQ_BACKLOG_H
#define FORQ_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backlog_q {
	uint64_t *ids;           /* circular buffer */
	size_t cap;              /* a power of two, or 0 */
	size_t head;             /* index of the oldest id */
	size_t len;              /* ids held */
};

/* backlog_push - append @id.  0 or -ENOMEM. */
int backlog_push(struct backlog_q *q, uint64_t id);
/* backlog_peek - the oldest id without removing it; false when empty. */
bool backlog_peek(const struct backlog_q *q, uint64_t *id);
/* backlog_pop - remove the oldest id. */
void backlog_pop(struct backlog_q *q);
/* backlog_len - ids held. */
static inline size_t backlog_len(const struct backlog_q *q) { return q->len; }
/* backlog_free - release the storage. */
void backlog_free(struct backlog_q *q);
/* backlog_bytes - heap bytes in use (figures). */
size_t backlog_bytes(const struct backlog_q *q);

#endif
