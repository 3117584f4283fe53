/*
 * backlog — per-priority FIFOs of queued ids beyond ring capacity.
 * Store thread only.
 */
#include <errno.h>
#include <stdlib.h>

#include "backlog.h"

static int
resize(struct backlog_q *q, size_t cap)
{
	uint64_t *n = malloc(cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < q->len; i++)
		n[i] = q->ids[(q->head + i) & (q->cap - 1)];
	free(q->ids);
	q->ids = n;
	q->cap = cap;
	q->head = 0;
	return 0;
}

int
backlog_push(struct backlog_q *q, uint64_t id)
{
	if (q->len == q->cap) {
		int rc = resize(q, q->cap ? q->cap * 2 : 1024);

		if (rc)
			return rc;
	}
	q->ids[(q->head + q->len) & (q->cap - 1)] = id;
	q->len++;
	return 0;
}

bool
backlog_peek(const struct backlog_q *q, uint64_t *id)
{
	if (!q->len)
		return false;
	*id = q->ids[q->head];
	return true;
}

void
backlog_pop(struct backlog_q *q)
{
	if (!q->len)
		return;
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
	if (q->cap > 1024 && q->len < q->cap / 4)
		resize(q, q->cap / 2); /* failure keeps the larger buffer */
}

void
backlog_free(struct backlog_q *q)
{
	free(q->ids);
	q->ids = NULL;
	q->cap = q->head = q->len = 0;
}

size_t
backlog_bytes(const struct backlog_q *q)
{
	return q->cap * sizeof(uint64_t);
}
