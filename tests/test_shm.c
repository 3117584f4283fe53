/*
 * test_shm — the shared segment: refused sizes, the layout (every ring
 * initialised, 64-byte aligned, inside the segment and not overlapping;
 * cancel marks all "no mark"; effective priorities unaged; worker blocks
 * zeroed), attaching by name read-write and read-only from
 * this and another process, refusals (no such name, another magic or
 * version, a short or resized object), mode 0600, a stale segment
 * replaced, unlink on destroy, and the slot packing of a task.
 *
 * Every segment has a name unique to this process (/forq.test.<pid>.<n>)
 * and is destroyed by the test that made it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm.h"

static unsigned name_seq;

static void
unique_name(char *buf, size_t len)
{
	snprintf(buf, len, "/forq.test.%d.%u", (int)getpid(), name_seq++);
}

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

/* Reap @pid within 10 s (SIGKILL after); its wait status. */
static int
reap(pid_t pid)
{
	int st = 0;

	for (int i = 0; i < 10000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fail_msg("child %d did not finish in 10 s", (int)pid);
	return st;
}

static void
test_create_refuses(void **state)
{
	static const uint64_t bad_caps[] = { 0, 1, 3, 6, 1000, 4097 };
	char name[64], longname[128];
	struct shm s = { 0 };

	(void)state;
	unique_name(name, sizeof(name));
	for (size_t i = 0; i < sizeof(bad_caps) / sizeof(bad_caps[0]); i++)
		assert_int_equal(shm_create(&s, name, bad_caps[i], 4), -EINVAL);
	assert_int_equal(shm_create(&s, name, 16, 0), -EINVAL);
	assert_int_equal(shm_create(&s, name, 16, RING_OWNER_MAX + 1), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(shm_create(&s, longname, 16, 4), -ENAMETOOLONG);
	/* nothing was created by a refusal */
	assert_int_equal(shm_attach(&s, name, 1), -ENOENT);
}

static void
check_ring(const struct shm *s, const struct ring *r, uint64_t cap, uint32_t slot, uint64_t off,
	   uint64_t end)
{
	assert_int_equal(off % 64, 0);
	assert_true(off + ring_bytes(cap, slot) <= end);
	assert_true(r->magic == RING_MAGIC);
	assert_int_equal(r->capacity, cap);
	assert_int_equal(r->mask, cap - 1);
	assert_int_equal(r->slot_size, slot);
	assert_int_equal(atomic_load(&r->head), 0);
	assert_int_equal(atomic_load(&r->tail), 0);
	assert_int_equal(ring_count(r), 0);
	assert_true(ring_empty(r));
	assert_int_equal(ring_validate(r, NULL), 0);
	assert_true(end <= s->size);
}

static void
test_layout(void **state)
{
	static const struct {
		uint64_t cap;
		uint32_t workers;
	} cases[] = { { 2, 1 }, { 16, 3 }, { 1024, 64 }, { 8192, 7 } };

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint64_t cap = cases[c].cap, comp_cap = cap < 4096 ? 4096 : cap;
		struct shm s = { 0 };
		struct shm_hdr *h;
		char name[64];

		unique_name(name, sizeof(name));
		assert_int_equal(shm_create(&s, name, cap, cases[c].workers), 0);
		h = s.hdr;
		assert_non_null(h);
		assert_int_equal((uintptr_t)h % 64, 0);
		assert_string_equal(s.name, name);
		assert_true(h->magic == SHM_MAGIC);
		assert_int_equal(h->version, SHM_VERSION);
		assert_int_equal(h->nprio, SHM_NPRIO);
		assert_int_equal(h->size, s.size);
		assert_int_equal(h->ring_capacity, cap);
		assert_int_equal(h->comp_capacity, comp_cap);
		assert_true(h->comp_capacity >= cap);
		assert_int_equal(h->max_workers, cases[c].workers);
		/* task rings in order, each before the next part begins */
		assert_true(h->ring_off[0] >= sizeof(struct shm_hdr));
		for (unsigned p = 0; p < SHM_NPRIO; p++) {
			uint64_t end = p + 1 < SHM_NPRIO ? h->ring_off[p + 1] : h->comp_off;

			check_ring(&s, shm_ring(&s, p), cap, SHM_TASK_SLOT, h->ring_off[p], end);
			assert_ptr_equal(shm_ring(&s, p), (char *)h + h->ring_off[p]);
			assert_true(ring_payload_max(shm_ring(&s, p)) >= 48);
		}
		check_ring(&s, shm_comp_ring(&s), comp_cap, SHM_COMP_SLOT, h->comp_off,
			   h->cancel_off);
		assert_true(ring_payload_max(shm_comp_ring(&s)) >= sizeof(struct shm_comp));
		/* cancel marks: one u64 per ring position, none set (a mark
		 * equal to the position means "cancelled"; UINT64_MAX never is) */
		assert_int_equal(h->cancel_off % 64, 0);
		assert_true(h->cancel_off + (uint64_t)SHM_NPRIO * cap * 8 <= h->wblock_off);
		for (unsigned p = 0; p < SHM_NPRIO; p++) {
			for (uint64_t pos = 0; pos < cap; pos++) {
				_Atomic uint64_t *m = shm_cancel_mark(&s, p, pos);

				assert_ptr_equal(m, (char *)h + h->cancel_off +
						    (p * cap + pos) * 8);
				assert_true(atomic_load(m) == UINT64_MAX);
			}
			/* positions wrap onto the same marks */
			assert_ptr_equal(shm_cancel_mark(&s, p, cap + 1),
					 shm_cancel_mark(&s, p, 1));
			/* no aging yet: each ring at its own level */
			assert_int_equal(atomic_load(&h->eff_prio[p]), p + SHM_EFF_BIAS);
		}
		assert_int_equal(h->aging_ns, 0);
		/* worker blocks: aligned, inside, all zero (WSTATE_EMPTY) */
		assert_int_equal(h->wblock_off % 64, 0);
		assert_true(h->wblock_off + (uint64_t)h->max_workers * sizeof(struct wblock) <=
			    h->size);
		for (unsigned w = 0; w < h->max_workers; w++) {
			struct wblock *wb = shm_wblock(&s, w);

			assert_int_equal((uintptr_t)wb % 64, 0);
			assert_true(all_zero(wb, sizeof(*wb)));
			assert_int_equal(atomic_load(&wb->state), WSTATE_EMPTY);
		}
		/* live words start at zero */
		assert_int_equal(atomic_load(&h->daemon_pid), 0);
		assert_int_equal(atomic_load(&h->shutdown), 0);
		assert_int_equal(atomic_load(&h->nworkers), 0);
		assert_true(all_zero(&h->work_bell, sizeof(h->work_bell)));
		assert_true(all_zero(&h->store_bell, sizeof(h->store_bell)));
		assert_int_equal((uintptr_t)&h->work_bell % 64, 0);
		assert_int_equal((uintptr_t)&h->store_bell % 64, 0);
		/* a push and pop through the segment's ring */
		{
			unsigned char in[48], out[48];

			memset(in, 0x5a, sizeof(in));
			assert_true(ring_try_push(shm_ring(&s, 3), 0, in, sizeof(in)));
			assert_int_equal(ring_try_pop(shm_ring(&s, 3), 1, out), sizeof(in));
			assert_memory_equal(in, out, sizeof(in));
		}
		shm_destroy(&s);
	}
}

static void
test_attach(void **state)
{
	struct shm s = { 0 }, rw = { 0 }, ro = { 0 };
	char name[64];
	pid_t pid;
	int st;

	(void)state;
	unique_name(name, sizeof(name));
	assert_int_equal(shm_attach(&rw, name, 1), -ENOENT);
	assert_int_equal(shm_attach(&ro, name, 0), -ENOENT);
	assert_int_equal(shm_create(&s, name, 64, 8), 0);

	assert_int_equal(shm_attach(&rw, name, 1), 0);
	assert_int_equal(shm_attach(&ro, name, 0), 0);
	assert_int_equal(rw.size, s.size);
	assert_int_equal(ro.size, s.size);
	assert_string_equal(ro.name, name);
	assert_memory_equal(rw.hdr, s.hdr, sizeof(struct shm_hdr));
	assert_memory_equal(ro.hdr, s.hdr, sizeof(struct shm_hdr));
	/* the same memory: a write through one mapping shows in the others */
	atomic_store(&rw.hdr->nworkers, 5);
	assert_int_equal(atomic_load(&s.hdr->nworkers), 5);
	assert_int_equal(atomic_load(&ro.hdr->nworkers), 5);
	atomic_store(&shm_wblock(&s, 7)->pid, 4242);
	assert_int_equal(atomic_load(&shm_wblock(&ro, 7)->pid), 4242);

	/* another process attaches by name and writes; we see it */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shm c = { 0 };

		if (shm_attach(&c, name, 1) != 0)
			_exit(1);
		atomic_store(&c.hdr->daemon_pid, (int32_t)getpid());
		shm_detach(&c);
		_exit(0);
	}
	st = reap(pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(atomic_load(&s.hdr->daemon_pid), pid);

	/* the read-only mapping really is read-only: a write faults */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		atomic_store(&ro.hdr->shutdown, 1);
		_exit(0);
	}
	st = reap(pid);
	assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(atomic_load(&s.hdr->shutdown), 0);

	shm_detach(&ro);
	assert_null(ro.hdr);
	shm_detach(&ro);	/* twice is harmless */
	shm_detach(&rw);
	shm_destroy(&s);
}

static void
test_attach_refuses_other_layouts(void **state)
{
	struct shm s = { 0 }, a = { 0 };
	char name[64];
	uint64_t magic;
	uint32_t version;
	int fd;

	(void)state;
	unique_name(name, sizeof(name));
	assert_int_equal(shm_create(&s, name, 16, 2), 0);
	magic = s.hdr->magic;
	version = s.hdr->version;

	s.hdr->magic = magic ^ 1;
	assert_int_equal(shm_attach(&a, name, 1), -EPROTO);
	assert_int_equal(shm_attach(&a, name, 0), -EPROTO);
	s.hdr->magic = 0;
	assert_int_equal(shm_attach(&a, name, 0), -EPROTO);
	s.hdr->magic = magic;
	s.hdr->version = version + 1;
	assert_int_equal(shm_attach(&a, name, 1), -EPROTO);
	s.hdr->version = 0;
	assert_int_equal(shm_attach(&a, name, 0), -EPROTO);
	s.hdr->version = version;
	s.hdr->nprio = SHM_NPRIO + 1;
	assert_int_equal(shm_attach(&a, name, 0), -EPROTO);
	s.hdr->nprio = SHM_NPRIO;
	assert_int_equal(shm_attach(&a, name, 0), 0);
	shm_detach(&a);

	/* the object's size disagrees with the header */
	fd = shm_open(name, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)s.size + 4096), 0);
	assert_int_equal(shm_attach(&a, name, 0), -EPROTO);
	close(fd);
	shm_destroy(&s);

	/* shorter than a header, and empty */
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(shm_attach(&a, name, 0), -EPROTO);
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(shm_attach(&a, name, 1), -EPROTO);
	close(fd);
	shm_unlink(name);
}

static void
test_mode_stale_destroy(void **state)
{
	struct shm s = { 0 }, s2 = { 0 }, a = { 0 };
	char name[64], path[96];
	struct stat st;
	mode_t old = umask(0);	/* the mode must not depend on the umask */

	(void)state;
	unique_name(name, sizeof(name));
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	assert_int_equal(shm_create(&s, name, 32, 2), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, getuid());
	assert_int_equal((uint64_t)st.st_size, s.size);

	/* a stale segment under the name is replaced by a fresh one */
	atomic_store(&s.hdr->nworkers, 9);
	assert_int_equal(shm_create(&s2, name, 64, 4), 0);
	assert_int_equal(atomic_load(&s2.hdr->nworkers), 0);
	assert_int_equal(s2.hdr->ring_capacity, 64);
	assert_int_equal(atomic_load(&s.hdr->nworkers), 9);	/* old mapping intact */
	shm_detach(&s);
	assert_int_equal(shm_attach(&a, name, 0), 0);
	assert_int_equal(a.hdr->ring_capacity, 64);
	shm_detach(&a);

	/* destroy unlinks the name */
	shm_destroy(&s2);
	assert_null(s2.hdr);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(shm_attach(&a, name, 0), -ENOENT);
	shm_destroy(&s2);	/* twice is harmless */
}

static void
test_task_pack(void **state)
{
	struct shm_task t = {
		.id = 0x0102030405060708ull,
		.attempt = 0xa0b0c0d0u,
		.kernel = 0xbeef,
		.prio = 9,
		.flags = SHM_T_INLINE | SHM_T_ARRAY,
		.timeout_ms = 0xfffffffeu,
		.blob_len = SHM_INLINE_BLOB,
		.array_index = 0x11223344u,
	}, u;
	unsigned char buf[48], buf2[48];

	(void)state;
	for (unsigned i = 0; i < SHM_INLINE_BLOB; i++)
		t.blob[i] = (unsigned char)(0xf0 ^ i);
	memset(buf, 0xcc, sizeof(buf));
	shm_task_pack(&t, buf);
	memset(&u, 0x33, sizeof(u));
	shm_task_unpack(buf, &u);
	assert_true(u.id == t.id);
	assert_int_equal(u.attempt, t.attempt);
	assert_int_equal(u.kernel, t.kernel);
	assert_int_equal(u.prio, t.prio);
	assert_int_equal(u.flags, t.flags);
	assert_int_equal(u.timeout_ms, t.timeout_ms);
	assert_int_equal(u.blob_len, t.blob_len);
	assert_int_equal(u.array_index, t.array_index);
	assert_int_equal(u.reserved, 0);
	assert_memory_equal(u.blob, t.blob, SHM_INLINE_BLOB);
	/* fixed little-endian layout, not the struct's memory */
	assert_int_equal(buf[0], 0x08);
	assert_int_equal(buf[7], 0x01);
	assert_int_equal(buf[8], 0xd0);
	assert_int_equal(buf[12], 0xef);
	assert_int_equal(buf[14], 9);
	assert_int_equal(buf[15], SHM_T_INLINE | SHM_T_ARRAY);
	assert_int_equal(buf[16], 0xfe);
	assert_int_equal(buf[20], SHM_INLINE_BLOB);
	assert_int_equal(buf[24], 0x44);
	assert_int_equal(buf[27], 0x11);
	assert_true(all_zero(buf + 28, 4));	/* reserved */
	assert_int_equal(buf[48 - SHM_INLINE_BLOB], 0xf0);
	assert_int_equal(buf[47], 0xf0 ^ (SHM_INLINE_BLOB - 1));
	/* pack(unpack(x)) == x */
	shm_task_pack(&u, buf2);
	assert_memory_equal(buf, buf2, sizeof(buf));
	/* zero task */
	memset(&t, 0, sizeof(t));
	shm_task_pack(&t, buf);
	assert_true(all_zero(buf, sizeof(buf)));
	shm_task_unpack(buf, &u);
	assert_true(u.id == 0 && u.attempt == 0 && u.blob_len == 0 && u.flags == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_refuses),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_attach_refuses_other_layouts),
		cmocka_unit_test(test_mode_stale_destroy),
		cmocka_unit_test(test_task_pack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
