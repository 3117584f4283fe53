/*
 * shm — create, attach and lay out the shared segment (see shm.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

static uint64_t
align64(uint64_t x)
{
	return (x + 63u) & ~(uint64_t)63u;
}

static uint64_t
layout(uint64_t cap, uint64_t comp_cap, uint32_t max_workers, uint64_t *ring_off,
       uint64_t *comp_off, uint64_t *cancel_off, uint64_t *wb_off)
{
	uint64_t off = align64(sizeof(struct shm_hdr));

	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		ring_off[p] = off;
		off = align64(off + ring_bytes(cap, SHM_TASK_SLOT));
	}
	*comp_off = off;
	off = align64(off + ring_bytes(comp_cap, SHM_COMP_SLOT));
	*cancel_off = off;
	off = align64(off + (uint64_t)SHM_NPRIO * cap * sizeof(uint64_t));
	*wb_off = off;
	off += (uint64_t)max_workers * sizeof(struct wblock);
	return off;
}

int
shm_create(struct shm *s, const char *name, uint64_t cap, uint32_t max_workers)
{
	uint64_t ring_off[SHM_NPRIO], comp_off, cancel_off, wb_off, size;
	uint64_t comp_cap = cap < 4096 ? 4096 : cap;
	struct shm_hdr *h;
	int fd, rc;

	if (cap < 2 || (cap & (cap - 1)) || max_workers == 0 || max_workers > RING_OWNER_MAX)
		return -EINVAL;
	if (strlen(name) >= sizeof(s->name))
		return -ENAMETOOLONG;
	size = layout(cap, comp_cap, max_workers, ring_off, &comp_off, &cancel_off, &wb_off);
	shm_unlink(name);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		rc = -errno;
		goto out_unlink;
	}
	close(fd);
	memset(h, 0, sizeof(*h));
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->nprio = SHM_NPRIO;
	h->size = size;
	h->ring_capacity = cap;
	h->comp_capacity = comp_cap;
	h->max_workers = max_workers;
	h->comp_off = comp_off;
	h->wblock_off = wb_off;
	h->cancel_off = cancel_off;
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		atomic_store_explicit(&h->eff_prio[p], (uint8_t)(p + SHM_EFF_BIAS), memory_order_relaxed);
	/* Cancel marks: position 0 of every ring slot is "no mark" except
	 * for position 0 itself; mark it with an impossible value. */
	for (uint64_t i = 0; i < (uint64_t)SHM_NPRIO * cap; i++)
		atomic_store_explicit(&((_Atomic uint64_t *)((char *)h + cancel_off))[i], UINT64_MAX,
				      memory_order_relaxed);
	for (unsigned p = 0; p < SHM_NPRIO; p++) {
		h->ring_off[p] = ring_off[p];
		ring_init((struct ring *)((char *)h + ring_off[p]), cap, SHM_TASK_SLOT);
	}
	ring_init((struct ring *)((char *)h + comp_off), comp_cap, SHM_COMP_SLOT);
	/* ftruncate zero-filled the worker blocks: all WSTATE_EMPTY. */
	s->hdr = h;
	s->size = size;
	strcpy(s->name, name);
	return 0;

out_unlink:
	close(fd);
	shm_unlink(name);
	return rc;
}

int
shm_attach(struct shm *s, const char *name, int writable)
{
	struct stat st;
	struct shm_hdr *h;
	int fd, rc = 0;
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);

	if (strlen(name) >= sizeof(s->name))
		return -ENAMETOOLONG;
	fd = shm_open(name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if ((size_t)st.st_size < sizeof(struct shm_hdr)) {
		rc = -EPROTO;
		goto out_close;
	}
	h = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		rc = -errno;
		goto out_close;
	}
	if (h->magic != SHM_MAGIC || h->version != SHM_VERSION ||
	    h->size != (uint64_t)st.st_size || h->nprio != SHM_NPRIO) {
		munmap(h, (size_t)st.st_size);
		rc = -EPROTO;
		goto out_close;
	}
	s->hdr = h;
	s->size = (size_t)st.st_size;
	strcpy(s->name, name);
out_close:
	close(fd);
	return rc;
}

void
shm_detach(struct shm *s)
{
	if (s->hdr)
		munmap(s->hdr, s->size);
	s->hdr = NULL;
}

void
shm_destroy(struct shm *s)
{
	shm_detach(s);
	if (s->name[0])
		shm_unlink(s->name);
	s->name[0] = '\0';
}

/* Slot payload: fixed little-endian layout, independent of struct padding. */
static void
put_le(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void
shm_task_pack(const struct shm_task *t, unsigned char out[48])
{
	put_le(out, t->id, 8);
	put_le(out + 8, t->attempt, 4);
	put_le(out + 12, t->kernel, 2);
	out[14] = t->prio;
	out[15] = t->flags;
	put_le(out + 16, t->timeout_ms, 4);
	put_le(out + 20, t->blob_len, 4);
	put_le(out + 24, t->array_index, 4);
	put_le(out + 28, 0, 4);
	memcpy(out + 32, t->blob, SHM_INLINE_BLOB);
}

void
shm_task_unpack(const unsigned char in[48], struct shm_task *t)
{
	t->id = get_le(in, 8);
	t->attempt = (uint32_t)get_le(in + 8, 4);
	t->kernel = (uint16_t)get_le(in + 12, 2);
	t->prio = in[14];
	t->flags = in[15];
	t->timeout_ms = (uint32_t)get_le(in + 16, 4);
	t->blob_len = (uint32_t)get_le(in + 20, 4);
	t->array_index = (uint32_t)get_le(in + 24, 4);
	t->reserved = 0;
	memcpy(t->blob, in + 32, SHM_INLINE_BLOB);
}
