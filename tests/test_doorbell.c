/*
 * test_doorbell — futex sleep/wake between real processes: a ring with
 * nobody asleep costs nothing (seq untouched), a forked sleeper is woken at
 * once, ring(1) wakes one of two sleepers and wake_all every one, a timeout
 * is reported as such, and 10,000 ping-pong rounds between two processes
 * lose no wake-up (each wait has a 2 s timeout; the count of timeouts must
 * be 0).
 *
 * Children record what they saw in a shared anonymous mapping and their
 * exit status; only the main thread asserts, after reaping them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doorbell.h"
#include "sys.h"

#define SEC             1000000000ull
#define PINGPONG_ROUNDS 10000u

struct shared {
	struct doorbell bell[2];        /* one per party */
	_Atomic uint32_t flag;          /* the "work" a sleeper re-checks */
	_Atomic uint32_t counter;       /* ping-pong: whose turn it is */
	_Atomic uint32_t give_up;       /* ping-pong: stop, something is wrong */
	_Atomic uint32_t woken;         /* sleepers that returned */
	_Atomic int rc[4];              /* per child: doorbell_sleep's result */
	_Atomic uint64_t woke_ns[4];    /* per child: CLOCK_MONOTONIC on return */
	_Atomic uint32_t timeouts[2];   /* ping-pong: waits that timed out */
	_Atomic uint32_t sleeps[2];     /* ping-pong: waits that slept */
};

static struct shared *
shared_new(void)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	return sh;
}

/*
 * reap_all - reap @n children within @timeout_ns, SIGKILLing what is left.
 * Returns how many exited with status 0.
 */
static int
reap_all(const pid_t *pids, int n, uint64_t timeout_ns)
{
	uint64_t end = sys_now_ns() + timeout_ns;
	bool done[8] = { false };
	int left = n, ok = 0, st;

	while (left > 0) {
		for (int i = 0; i < n; i++) {
			if (!done[i] && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				done[i] = true;
				left--;
				ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
			}
		}
		if (left == 0)
			break;
		if (sys_now_ns() > end) {
			for (int i = 0; i < n; i++) {
				if (!done[i]) {
					kill(pids[i], SIGKILL);
					waitpid(pids[i], &st, 0);
				}
			}
			break;
		}
		usleep(1000);
	}
	return ok;
}

/* True once @pid is blocked in the kernel (state S in /proc/PID/stat). */
static bool
is_sleeping(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

/* Wait (bounded) until @n parties are counted on @d and each pid sleeps. */
static bool
wait_asleep(struct doorbell *d, uint32_t n, const pid_t *pids, int npids)
{
	uint64_t end = sys_now_ns() + 5 * SEC;

	while (sys_now_ns() < end) {
		bool all = atomic_load(&d->sleepers) == n;

		for (int i = 0; all && i < npids; i++)
			all = is_sleeping(pids[i]);
		if (all) {
			usleep(20000);	/* settle inside FUTEX_WAIT */
			return true;
		}
		usleep(1000);
	}
	return false;
}

/* A child: arm, re-check the flag, sleep once (5 s), record, exit. */
static void
sleeper_once(struct shared *sh, int idx)
{
	uint32_t v = doorbell_arm(&sh->bell[0]);
	int rc = 1;	/* 1: the re-check found the flag, no sleep */

	if (atomic_load(&sh->flag))
		doorbell_disarm(&sh->bell[0]);
	else
		rc = doorbell_sleep(&sh->bell[0], v, 5 * SEC);
	atomic_store(&sh->woke_ns[idx], sys_now_ns());
	atomic_store(&sh->rc[idx], rc);
	atomic_fetch_add(&sh->woken, 1);
	_exit(0);
}

static void
test_ring_without_sleeper(void **state)
{
	struct shared *sh = shared_new();
	struct doorbell *d = &sh->bell[0];
	uint64_t t0;
	uint32_t v;

	(void)state;
	/* nobody counted: no wake, seq untouched (so no syscall was made) */
	for (int i = 0; i < 1000; i++)
		doorbell_ring(d, 1);
	assert_int_equal(atomic_load(&d->seq), 0);
	assert_int_equal(atomic_load(&d->sleepers), 0);

	/* a counted sleeper makes the ring bump seq */
	v = doorbell_arm(d);
	assert_int_equal(v, 0);
	assert_int_equal(atomic_load(&d->sleepers), 1);
	doorbell_ring(d, 1);
	assert_int_equal(atomic_load(&d->seq), 1);
	/* ... so a sleep with the stale armed value returns at once: the
	 * wake between arm and sleep is not lost */
	t0 = sys_now_ns();
	assert_int_equal(doorbell_sleep(d, v, 5 * SEC), 0);
	assert_true(sys_now_ns() - t0 < SEC);
	assert_int_equal(atomic_load(&d->sleepers), 0);

	/* arm + disarm leaves the count as it was */
	v = doorbell_arm(d);
	assert_int_equal(v, 1);
	doorbell_disarm(d);
	assert_int_equal(atomic_load(&d->sleepers), 0);
	doorbell_ring(d, 1);
	assert_int_equal(atomic_load(&d->seq), 1);

	/* nobody rings: the timeout is reported, and the sleep is disarmed */
	v = doorbell_arm(d);
	t0 = sys_now_ns();
	assert_int_equal(doorbell_sleep(d, v, 30 * 1000000ull), -ETIMEDOUT);
	assert_true(sys_now_ns() - t0 >= 25 * 1000000ull);
	assert_int_equal(atomic_load(&d->sleepers), 0);
	munmap(sh, sizeof(*sh));
}

static void
test_wake_forked_sleeper(void **state)
{
	struct shared *sh = shared_new();
	uint64_t t0;
	pid_t pid;
	bool asleep;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		sleeper_once(sh, 0);
	asleep = wait_asleep(&sh->bell[0], 1, &pid, 1);
	/* publish, then ring (the producer's half of the protocol) */
	atomic_store(&sh->flag, 1);
	t0 = sys_now_ns();
	doorbell_ring(&sh->bell[0], 1);
	assert_int_equal(reap_all(&pid, 1, 10 * SEC), 1);
	assert_true(asleep);
	assert_int_equal(atomic_load(&sh->rc[0]), 0);	/* woken, not timed out */
	/* woken promptly, not at the 5 s timeout */
	assert_true(atomic_load(&sh->woke_ns[0]) - t0 < SEC / 2);
	assert_int_equal(atomic_load(&sh->bell[0].seq), 1);
	assert_int_equal(atomic_load(&sh->bell[0].sleepers), 0);

	/* the flag already set: the re-check after arming sees it and the
	 * child does not sleep at all */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		sleeper_once(sh, 1);
	assert_int_equal(reap_all(&pid, 1, 10 * SEC), 1);
	assert_int_equal(atomic_load(&sh->rc[1]), 1);
	assert_int_equal(atomic_load(&sh->bell[0].sleepers), 0);
	munmap(sh, sizeof(*sh));
}

/* ring(1) wakes one of two sleepers (no herd); wake_all wakes the rest. */
static void
test_wake_one_then_all(void **state)
{
	struct shared *sh = shared_new();
	uint32_t after_one, after_pause;
	pid_t pids[3];
	bool asleep;
	uint64_t end;

	(void)state;
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			sleeper_once(sh, i);
	}
	asleep = wait_asleep(&sh->bell[0], 3, pids, 3);
	doorbell_ring(&sh->bell[0], 1);
	end = sys_now_ns() + 5 * SEC;
	while (atomic_load(&sh->woken) < 1 && sys_now_ns() < end)
		usleep(1000);
	after_one = atomic_load(&sh->woken);
	usleep(100000);
	after_pause = atomic_load(&sh->woken);
	doorbell_wake_all(&sh->bell[0]);
	assert_int_equal(reap_all(pids, 3, 10 * SEC), 3);
	assert_true(asleep);
	assert_int_equal(after_one, 1);
	assert_int_equal(after_pause, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&sh->rc[i]), 0);
	assert_int_equal(atomic_load(&sh->bell[0].sleepers), 0);
	munmap(sh, sizeof(*sh));
}

/*
 * One party of the ping-pong: on round i it waits for counter == 2i + me,
 * then sets it to 2i + me + 1 and rings the other party's bell.  Exit 0
 * when all rounds are done, 2 when told to give up, 3 after giving up
 * itself (too many timeouts).
 */
static void
pingpong_party(struct shared *sh, int me)
{
	struct doorbell *mine = &sh->bell[me], *other = &sh->bell[!me];

	for (uint32_t i = 0; i < PINGPONG_ROUNDS; i++) {
		uint32_t target = 2 * i + (uint32_t)me;

		while (atomic_load(&sh->counter) != target) {
			uint32_t v;
			int rc;

			if (atomic_load(&sh->give_up))
				_exit(2);
			v = doorbell_arm(mine);
			/* seq_cst re-check: Dekker's other half */
			if (atomic_load(&sh->counter) == target) {
				doorbell_disarm(mine);
				break;
			}
			rc = doorbell_sleep(mine, v, 2 * SEC);
			atomic_fetch_add(&sh->sleeps[me], 1);
			if (rc == -ETIMEDOUT && atomic_fetch_add(&sh->timeouts[me], 1) >= 2) {
				atomic_store(&sh->give_up, 1);
				doorbell_wake_all(other);
				_exit(3);
			}
		}
		atomic_store(&sh->counter, target + 1);
		doorbell_ring(other, 1);
	}
	_exit(0);
}

static void
test_pingpong_no_lost_wakeup(void **state)
{
	struct shared *sh = shared_new();
	pid_t pids[2];
	int ok;

	(void)state;
	for (int me = 0; me < 2; me++) {
		pids[me] = fork();
		assert_true(pids[me] >= 0);
		if (pids[me] == 0)
			pingpong_party(sh, me);
	}
	ok = reap_all(pids, 2, 30 * SEC);
	print_message("ping-pong: %u rounds, %u + %u sleeps, %u + %u timeouts\n",
		      PINGPONG_ROUNDS, atomic_load(&sh->sleeps[0]), atomic_load(&sh->sleeps[1]),
		      atomic_load(&sh->timeouts[0]), atomic_load(&sh->timeouts[1]));
	assert_int_equal(atomic_load(&sh->timeouts[0]), 0);
	assert_int_equal(atomic_load(&sh->timeouts[1]), 0);
	assert_int_equal(ok, 2);
	assert_int_equal(atomic_load(&sh->counter), 2 * PINGPONG_ROUNDS);
	/* they really slept on the futex, not only spun past it */
	assert_true(atomic_load(&sh->sleeps[0]) + atomic_load(&sh->sleeps[1]) > 0);
	assert_int_equal(atomic_load(&sh->bell[0].sleepers), 0);
	assert_int_equal(atomic_load(&sh->bell[1].sleepers), 0);
	munmap(sh, sizeof(*sh));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_without_sleeper),
		cmocka_unit_test(test_wake_forked_sleeper),
		cmocka_unit_test(test_wake_one_then_all),
		cmocka_unit_test(test_pingpong_no_lost_wakeup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
