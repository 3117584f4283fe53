/*
 * deps — open-addressing map of waiting tasks' counters (see deps.h).
 * Linear probing; ids are never 0; deleted slots are marked and reclaimed
 * on the next resize.  Store thread only.
 */
#include <errno.h>
#include <stdlib.h>

#include "deps.h"

#define DEPS_DEAD UINT64_MAX

static size_t
slot_of(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

static int
resize(struct deps_map *m, size_t cap)
{
	struct deps_entry *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		uint64_t id = m->tab[i].id;

		if (id == 0 || id == DEPS_DEAD)
			continue;
		size_t j = slot_of(id, cap);
		while (t[j].id)
			j = (j + 1) & (cap - 1);
		t[j] = m->tab[i];
	}
	free(m->tab);
	m->tab = t;
	m->cap = cap;
	m->dead = 0;
	return 0;
}

static struct deps_entry *
find(const struct deps_map *m, uint64_t id)
{
	if (!m->cap)
		return NULL;
	for (size_t j = slot_of(id, m->cap);; j = (j + 1) & (m->cap - 1)) {
		if (m->tab[j].id == id)
			return &m->tab[j];
		if (m->tab[j].id == 0)
			return NULL;
	}
}

int
deps_set(struct deps_map *m, uint64_t id, uint64_t remaining)
{
	struct deps_entry *e = find(m, id);

	if (e) {
		e->remaining = remaining;
		return 0;
	}
	if ((m->used + m->dead + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap : 64;

		while ((m->used + 1) * 2 > cap)
			cap *= 2;
		if ((m->used + 1) * 4 > cap)
			cap *= 2;
		if (resize(m, cap) < 0)
			return -ENOMEM;
	}
	size_t j = slot_of(id, m->cap);
	while (m->tab[j].id && m->tab[j].id != DEPS_DEAD)
		j = (j + 1) & (m->cap - 1);
	if (m->tab[j].id == DEPS_DEAD)
		m->dead--;
	m->tab[j].id = id;
	m->tab[j].remaining = remaining;
	m->used++;
	return 0;
}

bool
deps_get(const struct deps_map *m, uint64_t id, uint64_t *out)
{
	const struct deps_entry *e = find(m, id);

	if (!e)
		return false;
	*out = e->remaining;
	return true;
}

int64_t
deps_dec(struct deps_map *m, uint64_t id)
{
	struct deps_entry *e = find(m, id);

	if (!e)
		return -1;
	if (e->remaining)
		e->remaining--;
	return (int64_t)e->remaining;
}

void
deps_del(struct deps_map *m, uint64_t id)
{
	struct deps_entry *e = find(m, id);

	if (!e)
		return;
	e->id = DEPS_DEAD;
	m->used--;
	m->dead++;
}

void
deps_free(struct deps_map *m)
{
	free(m->tab);
	m->tab = NULL;
	m->cap = m->used = m->dead = 0;
}
