/*
 * deps — the waiting graph's in-memory half: for every WAITING task, how
 * many of its dependencies have not yet ended as needed.
 *
 * The edges themselves live in LMDB (database "dependents": dependency id ->
 * dependent ids, sorted duplicates), so releasing the dependents of a task
 * that ended is one cursor walk over exactly those dependents: O(dependents),
 * never a scan.  This map only holds a counter per waiting task (16 bytes a
 * task in an open-addressing table), rebuilt from the records at start.
 * Owned by the store thread; no locking.
 */
#ifndef FORQ_DEPS_H
#define FORQ_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct deps_entry {
	uint64_t id;             /* 0 = empty, UINT64_MAX = deleted */
	uint64_t remaining;      /* dependencies still to end */
};

struct deps_map {
	struct deps_entry *tab;  /* power-of-two table */
	size_t cap;
	size_t used;             /* live entries */
	size_t dead;             /* deleted markers */
};

/* deps_set - set @id's remaining count (insert or replace).  0 or -ENOMEM. */
int deps_set(struct deps_map *m, uint64_t id, uint64_t remaining);
/* deps_get - @id's remaining count into @out; false when absent. */
bool deps_get(const struct deps_map *m, uint64_t id, uint64_t *out);
/* deps_dec - decrement @id's count; returns the new count, or -1 when absent. */
int64_t deps_dec(struct deps_map *m, uint64_t id);
/* deps_del - forget @id. */
void deps_del(struct deps_map *m, uint64_t id);
/* deps_len - waiting tasks held. */
static inline size_t deps_len(const struct deps_map *m) { return m->used; }
/* deps_free - release the table. */
void deps_free(struct deps_map *m);

#endif
