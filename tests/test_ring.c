/*
 * test_ring — the ring's contract, its repair after SIGKILL, and a stress of
 * every item's content.
 *
 * Only the main thread (the cmocka process) asserts.  Child processes and
 * threads record what they saw in shared memory or in their exit status and
 * the main thread checks it after waitpid()/pthread_join().
 *
 * Environment: FORQ_TEST_NO_FORK=1 skips the multi-process tests (the
 * threaded stress still runs).  Under TSan they are skipped unless
 * FORQ_TEST_FORK=1: TSan cannot see another process's accesses, so they
 * would add ~10 s and a fork-after-threads hazard and check nothing more
 * (they do pass under TSan).  FORQ_TEST_VERBOSE=1 prints how often the
 * kill test landed inside a claim.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ring.h"
#include "sys.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* ---- helpers --------------------------------------------------------- */

/* The claim word as ring.h documents it, built by hand to fake a death. */
static uint64_t
claim(bool consumer, uint32_t owner, uint64_t pos)
{
	return (1ull << 63) | ((uint64_t)consumer << 62) | ((uint64_t)owner << 48) |
	       (pos & ((1ull << 48) - 1));
}

static struct ring_slot *
slot_of(struct ring *r, uint64_t pos)
{
	return (struct ring_slot *)(r->slots + (pos & r->mask) * r->slot_size);
}

/* A shared anonymous mapping survives fork() in parent and children alike. */
static void *
shared_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static struct ring *
ring_new(uint64_t cap, uint32_t slot_size, size_t *bytes)
{
	size_t n = ring_bytes(cap, slot_size);
	struct ring *r;

	assert_true(n > 0);
	r = shared_alloc(n);
	assert_int_equal(ring_init(r, cap, slot_size), 0);
	*bytes = n;
	return r;
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static bool
forks_allowed(void)
{
	const char *e = getenv("FORQ_TEST_NO_FORK");

	if (e && *e && strcmp(e, "0") != 0)
		return false;
	e = getenv("FORQ_TEST_FORK");
	return !UNDER_TSAN || (e && *e && strcmp(e, "0") != 0);
}

/*
 * wait_children - reap @n children within @timeout_ns; SIGKILL whatever is
 * left after it.  Returns how many exited normally with status 0.
 */
static int
wait_children(const pid_t *pids, int n, uint64_t timeout_ns)
{
	uint64_t end = sys_now_ns() + timeout_ns;
	bool done[64] = { false };
	int left = n, ok = 0, st;

	while (left > 0) {
		for (int i = 0; i < n; i++) {
			if (done[i])
				continue;
			pid_t w = waitpid(pids[i], &st, WNOHANG);
			if (w == pids[i]) {
				done[i] = true;
				left--;
				if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
					ok++;
			}
		}
		if (left > 0 && sys_now_ns() > end) {
			for (int i = 0; i < n; i++) {
				if (!done[i]) {
					kill(pids[i], SIGKILL);
					waitpid(pids[i], &st, 0);
					done[i] = true;
				}
			}
			break;
		}
		if (left > 0)
			usleep(1000);
	}
	return ok;
}

/* ---- unit tests ------------------------------------------------------ */

static void
test_init_validation(void **state)
{
	size_t n = ring_bytes(8, 64);
	unsigned char *mem;

	(void)state;
	assert_int_equal(n, sizeof(struct ring) + 8 * 64);
	assert_int_equal(ring_bytes(3, 64), 0);
	mem = shared_alloc(1 << 16);
	/* bad capacities */
	assert_int_equal(ring_init((struct ring *)mem, 0, 64), -EINVAL);
	assert_int_equal(ring_init((struct ring *)mem, 1, 64), -EINVAL);
	assert_int_equal(ring_init((struct ring *)mem, 3, 64), -EINVAL);
	assert_int_equal(ring_init((struct ring *)mem, 6, 64), -EINVAL);
	assert_int_equal(ring_init((struct ring *)mem, (1ull << 33), 64), -EINVAL);
	/* bad slot sizes */
	assert_int_equal(ring_init((struct ring *)mem, 8, 0), -EINVAL);
	assert_int_equal(ring_init((struct ring *)mem, 8, 32), -EINVAL);
	assert_int_equal(ring_init((struct ring *)mem, 8, 65), -EINVAL);
	assert_int_equal(ring_init((struct ring *)mem, 8, 100), -EINVAL);
	/* misaligned memory, null */
	assert_int_equal(ring_init((struct ring *)(mem + 8), 8, 64), -EINVAL);
	assert_int_equal(ring_init(NULL, 8, 64), -EINVAL);
	/* good */
	assert_int_equal(ring_init((struct ring *)mem, 2, 64), 0);
	assert_int_equal(ring_init((struct ring *)mem, 8, 128), 0);
	assert_int_equal(ring_payload_max((struct ring *)mem), 128 - RING_SLOT_HDR);
	assert_int_equal(ring_count((struct ring *)mem), 0);
	assert_true(ring_empty((struct ring *)mem));
	assert_int_equal(ring_validate((struct ring *)mem, NULL), 0);
	munmap(mem, 1 << 16);
}

static void
test_fifo_full_empty(void **state)
{
	size_t bytes;
	struct ring *r = ring_new(8, 64, &bytes);
	unsigned char in[48], out[48];
	struct ring_report rep;

	(void)state;
	assert_int_equal(ring_try_pop(r, 1, out), 0);
	for (uint32_t i = 0; i < 8; i++) {
		memset(in, (int)i + 1, sizeof(in));
		assert_true(ring_try_push(r, 0, in, i + 1));
		assert_int_equal(ring_count(r), i + 1);
	}
	assert_false(ring_try_push(r, 0, in, 1));	/* full */
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.full, 8);
	assert_false(ring_empty(r));
	for (uint32_t i = 0; i < 8; i++) {
		memset(in, (int)i + 1, sizeof(in));
		memset(out, 0, sizeof(out));
		assert_int_equal(ring_try_pop(r, 1, out), i + 1);	/* FIFO, lengths kept */
		assert_memory_equal(out, in, i + 1);
		assert_int_equal(out[i + 1], 0);	/* only len bytes copied */
		if (i == 0)
			assert_true(ring_try_push(r, 0, in, 48));	/* room again */
	}
	assert_int_equal(ring_try_pop(r, 1, out), 48);
	assert_int_equal(ring_try_pop(r, 1, out), 0);	/* empty */
	assert_true(ring_empty(r));
	assert_int_equal(ring_count(r), 0);
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.full, 0);
	assert_int_equal(rep.head, 9);
	assert_int_equal(rep.tail, 9);
	munmap(r, bytes);
}

static void
test_wraparound(void **state)
{
	size_t bytes;
	struct ring *r = ring_new(4, 64, &bytes);
	uint64_t next_in = 0, next_out = 0, v;
	struct ring_report rep;

	(void)state;
	/* 500,000 items, 125,000 laps of a 4-slot ring, at varying fill levels */
	for (int round = 0; round < 200000; round++) {
		int k = 1 + round % 4;

		for (int j = 0; j < k; j++) {
			assert_true(ring_try_push(r, 3, &next_in, sizeof(next_in)));
			next_in++;
		}
		assert_int_equal(ring_count(r), next_in - next_out);
		for (int j = 0; j < k; j++) {
			assert_int_equal(ring_try_pop(r, 4, &v), sizeof(v));
			assert_int_equal(v, next_out);
			next_out++;
		}
	}
	assert_int_equal(ring_try_pop(r, 4, &v), 0);
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.head, next_out);
	assert_int_equal(rep.tail, next_in);
	assert_int_equal(next_in, 500000);
	munmap(r, bytes);
}

static void
test_count_and_validate(void **state)
{
	size_t bytes;
	struct ring *r = ring_new(16, 64, &bytes);
	struct ring_report rep;
	uint64_t v = 42;

	(void)state;
	for (int i = 0; i < 21; i++) {	/* move off position 0 */
		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
		assert_int_equal(ring_try_pop(r, 1, &v), sizeof(v));
	}
	for (int i = 0; i < 5; i++)
		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
	assert_int_equal(ring_count(r), 5);
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.head, 21);
	assert_int_equal(rep.tail, 26);
	assert_int_equal(rep.full, 5);
	assert_int_equal(rep.pclaimed + rep.cclaimed + rep.bad, 0);

	/* corruption: a free slot with a value no history gives */
	struct ring_slot *s = slot_of(r, 30);
	atomic_store(&s->seq, 30 + 5);
	assert_int_equal(ring_validate(r, &rep), -EBADMSG);
	assert_int_equal(rep.bad, 1);
	atomic_store(&s->seq, 30);
	assert_int_equal(ring_validate(r, NULL), 0);

	/* a published slot with a length no producer writes */
	s = slot_of(r, 22);
	s->len = 0;
	assert_int_equal(ring_validate(r, NULL), -EBADMSG);
	s->len = sizeof(v);
	/* a consumer claim away from head */
	atomic_store(&s->seq, claim(true, 3, 22));
	assert_int_equal(ring_validate(r, NULL), -EBADMSG);
	atomic_store(&s->seq, 23);
	/* head beyond tail */
	atomic_store(&r->head, 27);
	assert_int_equal(ring_validate(r, NULL), -EBADMSG);
	atomic_store(&r->head, 21);
	/* bad magic */
	r->magic ^= 1;
	assert_int_equal(ring_validate(r, NULL), -EBADMSG);
	r->magic ^= 1;
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.full, 5);
	munmap(r, bytes);
}

/*
 * A producer with owner 7 "dies" right after its claim CAS: the slot at
 * tail holds PCLAIM(7, pos).  First with tail not yet moved, then with it
 * moved.  Consumers must not wait, producers must get past it, repair must
 * leave a VOID that pops skip, and nothing else is lost.
 */
static void
test_repair_dead_producer(void **state)
{
	size_t bytes;
	struct ring *r = ring_new(8, 64, &bytes);
	struct ring_report rep;
	uint64_t v, pos;

	(void)state;
	for (v = 0; v < 13; v++) {	/* wrap once */
		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
		assert_int_equal(ring_try_pop(r, 1, &v), sizeof(v));
	}
	v = 100;
	assert_true(ring_try_push(r, 0, &v, sizeof(v)));

	for (int moved = 0; moved < 2; moved++) {
		pos = atomic_load(&r->tail);
		atomic_store(&slot_of(r, pos)->seq, claim(false, 7, pos));
		if (moved)
			atomic_store(&r->tail, pos + 1);
		assert_int_equal(ring_validate(r, &rep), 0);
		assert_int_equal(rep.pclaimed, 1);

		/* the item before the claim comes out, then nothing: no wait */
		assert_int_equal(ring_try_pop(r, 1, &v), sizeof(v));
		assert_int_equal(v, 100);
		assert_int_equal(ring_try_pop(r, 1, &v), 0);
		assert_true(ring_empty(r));

		/* a producer helps tail past the claim and pushes behind it */
		v = 200;
		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
		assert_int_equal(atomic_load(&r->tail), pos + 2);
		assert_int_equal(ring_try_pop(r, 1, &v), 0);	/* stuck behind it */

		/* repair of someone else changes nothing */
		assert_int_equal(ring_repair(r, 8, NULL, NULL), 0);
		assert_int_equal(ring_repair(r, 7, NULL, NULL), 1);
		assert_int_equal(ring_validate(r, &rep), 0);
		assert_int_equal(rep.pclaimed, 0);
		assert_int_equal(rep.full, 2);	/* the VOID and 200 */
		assert_int_equal(slot_of(r, pos)->flags, RING_F_VOID);
		assert_int_equal(ring_try_pop(r, 1, &v), sizeof(v));	/* VOID skipped */
		assert_int_equal(v, 200);
		assert_int_equal(ring_try_pop(r, 1, &v), 0);
		assert_int_equal(ring_repair(r, 7, NULL, NULL), 0);	/* idempotent */

		v = 100;
		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
	}
	/* the ring keeps working through its next laps */
	for (v = 0; v < 40; v++) {
		uint64_t w;

		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
		assert_int_equal(ring_try_pop(r, 1, &w), sizeof(w));
		assert_int_equal(w, v == 0 ? 100 : v - 1);
	}
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.full, 1);
	munmap(r, bytes);
}

struct salvage_log {
	unsigned calls;		/* salvage callbacks */
	uint64_t vals[8];	/* first payload word of each */
	uint32_t lens[8];	/* their lengths */
};

static void
salvage_record(void *ctx, const void *item, uint32_t len)
{
	struct salvage_log *l = ctx;

	if (l->calls < 8) {
		memcpy(&l->vals[l->calls], item, sizeof(uint64_t));
		l->lens[l->calls] = len;
	}
	l->calls++;
}

/*
 * A consumer with owner 7 "dies" right after claiming the item at head:
 * CCLAIM(7, pos).  Others get past it (helping head), repair hands the
 * intact payload to salvage and frees the slot, and nothing is lost.
 */
static void
test_repair_dead_consumer(void **state)
{
	size_t bytes;
	struct ring *r = ring_new(8, 64, &bytes);
	struct salvage_log log = { 0 };
	struct ring_report rep;
	uint64_t v, pos;

	(void)state;
	for (v = 0; v < 11; v++) {
		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
		assert_int_equal(ring_try_pop(r, 1, &v), sizeof(v));
	}
	/* A, B; the consumer of A dies before moving head */
	v = 0xA;
	assert_true(ring_try_push(r, 0, &v, sizeof(v)));
	v = 0xB;
	assert_true(ring_try_push(r, 0, &v, sizeof(v)));
	pos = atomic_load(&r->head);
	atomic_store(&slot_of(r, pos)->seq, claim(true, 7, pos));
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.cclaimed, 1);
	assert_int_equal(rep.full, 1);

	/* another consumer helps head on and takes B */
	assert_int_equal(ring_try_pop(r, 1, &v), sizeof(v));
	assert_int_equal(v, 0xB);
	assert_int_equal(ring_try_pop(r, 1, &v), 0);
	assert_int_equal(ring_count(r), 0);

	/*
	 * Refill: the claimed slot stands for position head + 6 in the next
	 * lap, so the ring is full after 6 items, however many slots are free.
	 */
	for (v = 0; v < 6; v++)
		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
	assert_false(ring_try_push(r, 0, &v, sizeof(v)));
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.cclaimed, 1);
	assert_int_equal(rep.full, 6);

	assert_int_equal(ring_repair(r, 7, salvage_record, &log), 1);
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.vals[0], 0xA);
	assert_int_equal(log.lens[0], sizeof(v));
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.cclaimed, 0);
	assert_int_equal(rep.full, 6);
	assert_true(ring_try_push(r, 0, &v, sizeof(v)));	/* slot free again */
	for (uint64_t i = 0; i < 7; i++) {
		assert_int_equal(ring_try_pop(r, 1, &v), sizeof(v));
		assert_int_equal(v, i);
	}

	/* the same death, nobody helps: repair moves head itself */
	v = 0xC;
	assert_true(ring_try_push(r, 0, &v, sizeof(v)));
	pos = atomic_load(&r->head);
	atomic_store(&slot_of(r, pos)->seq, claim(true, RING_OWNER_MAX, pos));
	assert_int_equal(ring_count(r), 1);
	assert_int_equal(ring_repair(r, RING_OWNER_MAX, salvage_record, &log), 1);
	assert_int_equal(log.calls, 2);
	assert_int_equal(log.vals[1], 0xC);
	assert_int_equal(atomic_load(&r->head), pos + 1);
	assert_int_equal(ring_count(r), 0);

	/* a dead consumer that was skipping a VOID: freed, nothing salvaged */
	pos = atomic_load(&r->tail);
	atomic_store(&slot_of(r, pos)->seq, claim(false, 5, pos));
	assert_int_equal(ring_repair(r, 5, NULL, NULL), 1);	/* VOID at pos */
	atomic_store(&slot_of(r, pos)->seq, claim(true, 0, pos));
	assert_int_equal(ring_repair(r, 0, salvage_record, &log), 1);
	assert_int_equal(log.calls, 2);
	assert_int_equal(ring_try_pop(r, 1, &v), 0);

	for (v = 0; v < 30; v++) {
		uint64_t w;

		assert_true(ring_try_push(r, 0, &v, sizeof(v)));
		assert_int_equal(ring_try_pop(r, 1, &w), sizeof(w));
		assert_int_equal(w, v);
	}
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.full + rep.pclaimed + rep.cclaimed, 0);
	munmap(r, bytes);
}

/* ---- stress: every item checked -------------------------------------- */

struct item {
	uint32_t producer;	/* 0 .. NP-1 */
	uint32_t pad;
	uint64_t seq;		/* per-producer sequence number */
	uint64_t check;		/* item_check(producer, seq) */
};

static uint64_t
item_check(uint32_t producer, uint64_t seq)
{
	return mix64(((uint64_t)producer << 48) ^ seq ^ 0x5deece66dull) | 1;
}

#define STRESS_NP	2
#define STRESS_NC	2

/* What one consumer saw; written by it only, read after it is joined. */
struct stress_cons {
	uint64_t got;		/* items popped */
	uint64_t bad_check;	/* wrong length, producer id or checksum */
	uint64_t bad_order;	/* a producer's items out of FIFO order */
	unsigned char pad[40];
};

struct stress {
	_Atomic uint64_t consumed;		/* items popped by all consumers */
	unsigned char pad[56];
	struct stress_cons cons[STRESS_NC];	/* one line each */
	uint64_t per_producer;			/* items each producer pushes */
	struct ring *ring;			/* threads only: the ring */
	_Atomic unsigned char *seen;		/* [NP][per_producer] delivery counts */
};

static void
stress_produce(struct stress *st, struct ring *r, uint32_t id)
{
	struct item it = { .producer = id };
	unsigned spins = 0;

	for (uint64_t s = 0; s < st->per_producer; s++) {
		it.seq = s;
		it.check = item_check(id, s);
		while (!ring_try_push(r, 10 + id, &it, sizeof(it))) {
			if (++spins % 64 == 0)
				sched_yield();	/* 2 cores, 4 spinners */
			else
				sys_cpu_relax();
		}
	}
}

static void
stress_consume(struct stress *st, struct ring *r, uint32_t id)
{
	const uint64_t total = st->per_producer * STRESS_NP;
	struct stress_cons *me = &st->cons[id];
	uint64_t last[STRESS_NP];
	struct item it;
	unsigned spins = 0;
	uint32_t n;

	for (int p = 0; p < STRESS_NP; p++)
		last[p] = UINT64_MAX;
	for (;;) {
		n = ring_try_pop(r, 20 + id, &it);
		if (n == 0) {
			/* relaxed: a stop hint; every item counted is already popped */
			if (atomic_load_explicit(&st->consumed, memory_order_relaxed) >= total)
				break;
			if (++spins % 64 == 0)
				sched_yield();
			else
				sys_cpu_relax();
			continue;
		}
		me->got++;
		if (n != sizeof(it) || it.producer >= STRESS_NP || it.seq >= st->per_producer ||
		    it.check != item_check(it.producer, it.seq)) {
			me->bad_check++;
		} else {
			if (last[it.producer] != UINT64_MAX && it.seq <= last[it.producer])
				me->bad_order++;
			last[it.producer] = it.seq;
			uint64_t i = it.producer * st->per_producer + it.seq;

			/* relaxed: a count; join/waitpid orders it before the check */
			atomic_fetch_add_explicit(&st->seen[i], 1, memory_order_relaxed);
		}
		/* relaxed: only a stop hint for the others, see above */
		atomic_fetch_add_explicit(&st->consumed, 1, memory_order_relaxed);
	}
}

/* stress_check - the main thread's verdict once all participants are done */
static void
stress_check(struct stress *st, struct ring *r)
{
	uint64_t got = 0, missing = 0, dup = 0;
	struct ring_report rep;

	for (int c = 0; c < STRESS_NC; c++) {
		assert_int_equal(st->cons[c].bad_check, 0);
		assert_int_equal(st->cons[c].bad_order, 0);
		got += st->cons[c].got;
	}
	for (uint64_t i = 0; i < STRESS_NP * st->per_producer; i++) {
		unsigned char c = atomic_load_explicit(&st->seen[i], memory_order_relaxed);

		missing += c == 0;
		dup += c > 1;
	}
	assert_int_equal(missing, 0);
	assert_int_equal(dup, 0);
	assert_int_equal(got, STRESS_NP * st->per_producer);
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_int_equal(rep.full + rep.pclaimed + rep.cclaimed, 0);
	assert_int_equal(rep.tail, STRESS_NP * st->per_producer);
}

/*
 * 2 producer and 2 consumer processes, 2,000,000 items through a 1024-slot
 * ring (about 2000 laps).  Every item is seen exactly once with its
 * checksum, and each consumer sees each producer's items in order.
 */
static void
test_stress_processes(void **state)
{
	const uint64_t per = 1000000;
	size_t bytes, sbytes;
	struct ring *r;
	struct stress *st;
	pid_t pids[STRESS_NP + STRESS_NC];
	int n = 0;

	(void)state;
	if (!forks_allowed())
		skip();
	r = ring_new(1024, 64, &bytes);
	sbytes = sizeof(*st) + STRESS_NP * per;
	st = shared_alloc(sbytes);
	st->per_producer = per;
	st->seen = (_Atomic unsigned char *)(st + 1);

	for (uint32_t i = 0; i < STRESS_NC; i++) {
		pids[n] = fork();
		assert_true(pids[n] >= 0);
		if (pids[n] == 0) {
			stress_consume(st, r, i);
			_exit(0);
		}
		n++;
	}
	for (uint32_t i = 0; i < STRESS_NP; i++) {
		pids[n] = fork();
		assert_true(pids[n] >= 0);
		if (pids[n] == 0) {
			stress_produce(st, r, i);
			_exit(0);
		}
		n++;
	}
	assert_int_equal(wait_children(pids, n, 60ull * 1000000000), n);
	stress_check(st, r);
	munmap(st, sbytes);
	munmap(r, bytes);
}

struct stress_arg {
	struct stress *st;	/* shared record */
	uint32_t id;		/* producer or consumer number */
};

static void *
stress_producer_thread(void *p)
{
	struct stress_arg *a = p;

	stress_produce(a->st, a->st->ring, a->id);
	return NULL;
}

static void *
stress_consumer_thread(void *p)
{
	struct stress_arg *a = p;

	stress_consume(a->st, a->st->ring, a->id);
	return NULL;
}

/*
 * The same stress with threads, 200,000 items through 64 slots: what
 * -fsanitize=thread checks (`make tsan`).  Payload accesses are plain, so
 * TSan reports any missing acquire/release pairing.
 */
static void
test_stress_threads(void **state)
{
	const uint64_t per = 100000;
	struct stress_arg pa[STRESS_NP], ca[STRESS_NC];
	pthread_t pt[STRESS_NP], ct[STRESS_NC];
	struct stress *st;
	size_t bytes, sbytes;
	struct ring *r;

	(void)state;
	r = ring_new(64, 64, &bytes);
	sbytes = sizeof(*st) + STRESS_NP * per;
	st = shared_alloc(sbytes);
	st->per_producer = per;
	st->ring = r;
	st->seen = (_Atomic unsigned char *)(st + 1);
	for (uint32_t i = 0; i < STRESS_NC; i++) {
		ca[i] = (struct stress_arg){ st, i };
		assert_int_equal(pthread_create(&ct[i], NULL, stress_consumer_thread, &ca[i]), 0);
	}
	for (uint32_t i = 0; i < STRESS_NP; i++) {
		pa[i] = (struct stress_arg){ st, i };
		assert_int_equal(pthread_create(&pt[i], NULL, stress_producer_thread, &pa[i]), 0);
	}
	for (int i = 0; i < STRESS_NP; i++)
		assert_int_equal(pthread_join(pt[i], NULL), 0);
	for (int i = 0; i < STRESS_NC; i++)
		assert_int_equal(pthread_join(ct[i], NULL), 0);
	stress_check(st, r);
	munmap(st, sbytes);
	munmap(r, bytes);
}

/* ---- kill test: SIGKILL at random instructions, repair, account ------ */

#define KILL_SLOT	4096			/* big payloads: wide claim windows */
#define KILL_CAP	64
#define KILL_LOGMAX	(1u << 16)		/* items one round may push */
#define KILL_WORDS	((KILL_SLOT - RING_SLOT_HDR) / 8)

/* One item fills the payload; every word depends on the id. */
struct kitem {
	uint64_t id;			/* unique over the whole test */
	uint64_t w[KILL_WORDS - 1];	/* w[i] = kword(id, i) */
};

_Static_assert(sizeof(struct kitem) == KILL_SLOT - RING_SLOT_HDR, "kitem fills a slot");

static uint64_t
kword(uint64_t id, uint64_t i)
{
	return id ^ (i * 0x9e3779b97f4a7c15ull);	/* cheap: keep the loops tight */
}

static void
kitem_fill(struct kitem *it, uint64_t id)
{
	it->id = id;
	for (uint64_t i = 0; i < KILL_WORDS - 1; i++)
		it->w[i] = kword(id, i);
}

/* kitem_ok - the whole item is the one its id says: not half-written */
static bool
kitem_ok(const struct kitem *it)
{
	for (uint64_t i = 0; i < KILL_WORDS - 1; i++)
		if (it->w[i] != kword(it->id, i))
			return false;
	return true;
}

#define KLOG_BAD	(1ull << 63)	/* log entry failed kitem_ok */

struct killsh {
	_Atomic uint64_t started;	/* child is in its loop */
	unsigned char pad[56];
	/* consumer child's records */
	_Atomic uint64_t log_n;		/* committed log entries */
	unsigned char pad0[56];
	struct kitem hold;		/* ring_try_pop's output buffer */
	uint64_t log[KILL_LOGMAX];	/* ids popped, | KLOG_BAD */
	/* producer child's records */
	_Atomic uint64_t pushed;	/* ids base .. base + pushed - 1 are in */
	unsigned char pad1[56];
};

/*
 * The consumer child: pop straight into the shared hold buffer, commit the
 * id to the log, then invalidate hold.  The parent reads all of it after
 * the child is dead.
 */
static void
kill_consumer(struct killsh *k, struct ring *r, uint32_t owner)
{
	uint64_t n = 0;

	/* relaxed: only tells the parent to start its clock */
	atomic_store_explicit(&k->started, 1, memory_order_relaxed);
	for (;;) {
		if (ring_try_pop(r, owner, &k->hold) == 0) {
			sys_cpu_relax();
			continue;
		}
		k->log[n] = k->hold.id | (kitem_ok(&k->hold) ? 0 : KLOG_BAD);
		/* release: orders the entry before the count (parent reads after waitpid) */
		atomic_store_explicit(&k->log_n, ++n, memory_order_release);
		k->hold.w[0] = ~kword(k->hold.id, 0);	/* invalidate */
	}
}

/* The producer child: push ids base, base + 1, ... and count each success. */
static void
kill_producer(struct killsh *k, struct ring *r, uint32_t owner, uint64_t base)
{
	struct kitem it;

	/* relaxed: only tells the parent to start its clock */
	atomic_store_explicit(&k->started, 1, memory_order_relaxed);
	for (uint64_t n = 0;; n++) {
		kitem_fill(&it, base + n);
		while (!ring_try_push(r, owner, &it, sizeof(it)))
			sys_cpu_relax();
		/* release: the count follows the push (parent reads after waitpid) */
		atomic_store_explicit(&k->pushed, n + 1, memory_order_release);
	}
}

/* child_running - wait until the forked child is in its loop; the time then */
static uint64_t
child_running(struct killsh *k)
{
	/* relaxed: a start signal, nothing is read under it */
	while (!atomic_load_explicit(&k->started, memory_order_relaxed))
		sched_yield();
	return sys_now_ns();
}

struct kill_acct {
	uint64_t base;			/* first id of the round */
	uint64_t n;			/* ids in the round */
	unsigned char *cnt;		/* [n]: log + drained + salvaged */
	unsigned char *drained;		/* [n]: popped by the parent's drain */
	uint64_t bad;			/* out-of-range or half-written items */
	uint64_t salvaged;		/* salvage callbacks */
};

static void
kill_note(struct kill_acct *a, const struct kitem *it)
{
	if (!kitem_ok(it) || it->id < a->base || it->id - a->base >= a->n) {
		a->bad++;
		return;
	}
	if (a->cnt[it->id - a->base] < 255)
		a->cnt[it->id - a->base]++;
}

static void
kill_salvage(void *ctx, const void *item, uint32_t len)
{
	struct kill_acct *a = ctx;
	struct kitem it;

	a->salvaged++;
	if (len != sizeof(it)) {
		a->bad++;
		return;
	}
	memcpy(&it, item, sizeof(it));
	kill_note(a, &it);
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * The kill test.  Rounds alternate between:
 *
 * Consumer killed.  The parent (owner 0) pre-fills the ring and keeps
 * pushing ids base.. for a random 0..2000 us while a child consumer pops,
 * then SIGKILLs it, reaps it, calls ring_repair(child) with a salvage
 * callback, and drains the ring.  The child pops directly into the shared
 * buffer `hold`, then appends the id to `log` and bumps `log_n` (commit),
 * then invalidates `hold`.  Where the SIGKILL can land, and where the item
 * it was handling ends up:
 *   before its claim CAS          the item is still in the ring: drained.
 *   claimed, copy partial/whole,  the slot is CCLAIM: repair salvages the
 *   seq not yet released          intact slot.  hold may already hold the
 *                                 whole item too (the copy is done): the
 *                                 one legal duplicate, salvage + hold.
 *   released, not yet committed   only hold has it, and it is whole, since
 *                                 the copy precedes the release (R2).
 *   committed, hold still valid   log + hold: the same item twice in the
 *                                 records, one delivery.
 * So, with L/D/S = times an id appears in the log, the drain and salvage,
 * and H = hold is whole and carries it: every id must have L + D + S == 1,
 * or L + D + S == 0 and H; an id with D == 1 must not also be H (a drained
 * item was never popped).  Any id with L + D + S == 0 and no H is lost;
 * L + D + S > 1 is a duplicate beyond the at-least-once window, which is
 * exactly "salvaged after the consumer copied it out" (S and H together).
 *
 * Producer killed.  A child producer pushes ids base.. counting each
 * success in `pushed`, while the parent pops for a random 0..2000 us; then
 * SIGKILL and reap.  The parent pushes a marker (helping tail past a claim
 * the child may have died holding), pops until empty (it must return, not
 * wait), repairs the child's owner, pops the rest.  Every id below base +
 * pushed must arrive exactly once, base + pushed (the push in flight) at
 * most once and never if repair voided a claim, nothing half-written, and
 * the marker must arrive after repair at the latest.
 *
 * After all rounds the ring validates clean.
 */
static void
test_kill(void **state)
{
	const uint64_t budget_ns = (UNDER_TSAN ? 20ull : 8ull) * 1000000000;
	const int rounds = 1000;
	size_t bytes;
	struct ring *r;
	struct killsh *k;
	struct kitem *it;
	struct kill_acct a = { 0 };
	struct ring_report rep;
	uint64_t seed, next_id = 1, t0 = sys_now_ns();
	unsigned pcl_hits = 0, ccl_hits = 0, hold_dups = 0, done = 0;
	char msg[160];

	(void)state;
	if (!forks_allowed())
		skip();
	seed = sys_now_ns() ^ ((uint64_t)getpid() << 32);
	seed |= 1;
	r = ring_new(KILL_CAP, KILL_SLOT, &bytes);
	k = shared_alloc(sizeof(*k));
	it = malloc(sizeof(*it));
	a.cnt = malloc(KILL_LOGMAX);
	a.drained = malloc(KILL_LOGMAX);
	assert_non_null(it);
	assert_non_null(a.cnt);
	assert_non_null(a.drained);

	for (int round = 0; round < rounds && sys_now_ns() - t0 < budget_ns; round++, done++) {
		uint32_t owner = 1 + (uint32_t)(round * 37) % RING_OWNER_MAX;
		uint64_t until, delay = xorshift(&seed) % 2001 * 1000;	/* 0..2000 us */
		bool consumer_round = round % 2 == 0;
		uint64_t base = next_id, n = 0;
		unsigned rep_n;
		pid_t pid;
		int st;

		snprintf(msg, sizeof(msg), "round %d (%s), seed %#llx", round,
			 consumer_round ? "consumer killed" : "producer killed",
			 (unsigned long long)seed);
		memset(k, 0, sizeof(*k));
		memset(a.cnt, 0, KILL_LOGMAX);
		memset(a.drained, 0, KILL_LOGMAX);
		a.base = base;
		a.bad = 0;
		a.salvaged = 0;

		if (consumer_round) {
			for (; n < KILL_CAP; n++) {
				kitem_fill(it, base + n);
				assert_true(ring_try_push(r, 0, it, sizeof(*it)));
			}
			pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				kill_consumer(k, r, owner);
				_exit(0);
			}
			until = child_running(k) + delay;
			while (sys_now_ns() < until && n < KILL_LOGMAX - 1) {
				kitem_fill(it, base + n);
				if (ring_try_push(r, 0, it, sizeof(*it)))
					n++;
			}
			kill(pid, SIGKILL);
			assert_int_equal(waitpid(pid, &st, 0), pid);
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			a.n = n;
			rep_n = ring_repair(r, owner, kill_salvage, &a);
			ccl_hits += rep_n;
			while (ring_try_pop(r, 0, it)) {
				kill_note(&a, it);
				if (kitem_ok(it) && it->id >= base && it->id - base < n)
					a.drained[it->id - base] = 1;
			}
			/* log, hold */
			uint64_t ln = atomic_load_explicit(&k->log_n, memory_order_acquire);
			for (uint64_t i = 0; i < ln; i++) {
				uint64_t id = k->log[i];

				if ((id & KLOG_BAD) || id < base || id - base >= n)
					a.bad++;
				else if (a.cnt[id - base] < 255)
					a.cnt[id - base]++;
			}
			bool hold = kitem_ok(&k->hold) && k->hold.id >= base &&
				    k->hold.id - base < n;
			for (uint64_t i = 0; i < n; i++) {
				bool h = hold && k->hold.id == base + i;

				if (!(a.cnt[i] == 1 || (a.cnt[i] == 0 && h)) || (h && a.drained[i]))
					fail_msg("%s: id %llu seen %u times (held %d, drained %d)",
						 msg, (unsigned long long)(base + i), a.cnt[i], h,
						 a.drained[i]);
			}
			if (hold && a.cnt[k->hold.id - base] == 1)
				hold_dups++;
			assert_int_equal(a.bad, 0);
			assert_true(a.salvaged == rep_n);
		} else {
			pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				kill_producer(k, r, owner, base);
				_exit(0);
			}
			a.n = KILL_LOGMAX;	/* not known yet; narrowed below */
			until = child_running(k) + delay;
			do {
				if (ring_try_pop(r, 0, it))
					kill_note(&a, it);
			} while (sys_now_ns() < until);
			kill(pid, SIGKILL);
			assert_int_equal(waitpid(pid, &st, 0), pid);
			assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			n = atomic_load_explicit(&k->pushed, memory_order_acquire);
			assert_true(n + 2 <= KILL_LOGMAX);
			a.n = n + 2;	/* + the push in flight + the marker */
			uint64_t marker = base + n + 1;

			/* the child may have left the ring full: make room first */
			for (;;) {
				kitem_fill(it, marker);
				if (ring_try_push(r, 0, it, sizeof(*it)))
					break;
				assert_true(ring_try_pop(r, 0, it) > 0);
				kill_note(&a, it);
			}
			for (int i = 0; i < KILL_CAP + 1 && ring_try_pop(r, 0, it); i++)
				kill_note(&a, it);
			assert_int_equal(ring_try_pop(r, 0, it), 0);
			rep_n = ring_repair(r, owner, kill_salvage, &a);
			pcl_hits += rep_n;
			assert_true(rep_n <= 1);
			while (ring_try_pop(r, 0, it))
				kill_note(&a, it);
			assert_int_equal(a.bad, 0);
			assert_int_equal(a.salvaged, 0);
			for (uint64_t i = 0; i < n; i++)
				if (a.cnt[i] != 1)
					fail_msg("%s: id %llu seen %u times", msg,
						 (unsigned long long)(base + i), a.cnt[i]);
			if (a.cnt[n] > (rep_n ? 0 : 1))
				fail_msg("%s: in-flight id seen %u times, repaired %u", msg,
					 a.cnt[n], rep_n);
			if (a.cnt[n + 1] != 1)
				fail_msg("%s: marker seen %u times", msg, a.cnt[n + 1]);
			for (uint64_t i = n + 2; i < KILL_LOGMAX; i++)
				if (a.cnt[i])
					fail_msg("%s: id %llu never pushed, seen", msg,
						 (unsigned long long)(base + i));
			n += 2;
		}
		next_id = base + n + 1;
		assert_int_equal(ring_validate(r, &rep), 0);
		assert_int_equal(rep.full + rep.pclaimed + rep.cclaimed, 0);
	}
	assert_int_equal(ring_validate(r, &rep), 0);
	assert_true(done >= 50);
	if (getenv("FORQ_TEST_VERBOSE"))
		fprintf(stderr, "kill: %u rounds, %u producer claims voided, "
				"%u consumer claims salvaged, %u salvage+hold duplicates\n",
			done, pcl_hits, ccl_hits, hold_dups);
	free(a.drained);
	free(a.cnt);
	free(it);
	munmap(k, sizeof(*k));
	munmap(r, bytes);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_validation),
		cmocka_unit_test(test_fifo_full_empty),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_count_and_validate),
		cmocka_unit_test(test_repair_dead_producer),
		cmocka_unit_test(test_repair_dead_consumer),
		cmocka_unit_test(test_stress_threads),
		cmocka_unit_test(test_stress_processes),
		cmocka_unit_test(test_kill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
