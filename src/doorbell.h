/*
 * doorbell — futex sleep/wake between processes that costs no syscall when
 * nobody sleeps.
 *
 * A doorbell is two words on one cache line in shared memory: `seq`, the
 * futex word, bumped by every wake; `sleepers`, the number of parties that
 * announced they are about to sleep.  The protocol is Dekker's:
 *
 *   producer:  publish work (ring push)           sleeper:  sleepers++      (seq_cst RMW)
 *              n = sleepers + 0  (seq_cst RMW)              v = seq          (acquire)
 *              if n > 0: seq++, FUTEX_WAKE                  re-check for work
 *                                                           none: FUTEX_WAIT(seq, v)
 *                                                           sleepers--
 *
 * Either the producer sees the sleeper's increment and wakes it, or the
 * sleeper's re-check sees the work: both orders are total under seq_cst.
 * A wake between the sleeper's read of seq and its FUTEX_WAIT changes seq,
 * so FUTEX_WAIT returns -EAGAIN at once: no lost wake-up.  Producers wake
 * as many sleepers as they published items (no thundering herd).
 *
 * Killed participant: a sleeper killed while counted leaves `sleepers` one
 * too high; the only cost is a spurious FUTEX_WAKE syscall per ring until
 * doorbell_repair() subtracts it (the supervisor calls it for a dead worker
 * that was asleep, i.e. its block said so).  A producer killed mid-ring
 * leaves nothing: sleepers time out (every wait has a timeout) and re-check.
 */
#ifndef FORQ_DOORBELL_H
#define FORQ_DOORBELL_H

#include <stdatomic.h>
#include <stdint.h>

#include "sys.h"

struct doorbell {
	_Atomic uint32_t seq;       /* futex word; bumped by wakers */
	_Atomic uint32_t sleepers;  /* parties between arm and disarm */
	unsigned char pad[56];
};
_Static_assert(sizeof(struct doorbell) == 64, "one cache line");

/* doorbell_ring - wake up to @n sleepers if any is counted.  Any process. */
static inline void
doorbell_ring(struct doorbell *d, int n)
{
	/* F1: a seq_cst read-modify-write of sleepers (adding 0) both orders
	 * the caller's publication (ring push) before the read and reads the
	 * latest count: it pairs with the sleeper's seq_cst increment in
	 * doorbell_arm.  Both RMWs are on one word, so they are totally
	 * ordered: either ours comes later and sees the sleeper, or the
	 * sleeper's comes later, reads from ours (release/acquire), and its
	 * re-check sees our work.  (An RMW rather than a fence: TSan models
	 * RMWs, not fences.) */
	if (atomic_fetch_add_explicit(&d->sleepers, 0, memory_order_seq_cst) == 0)
		return;
	/* R6: release so a woken sleeper that reads seq sees our work. */
	atomic_fetch_add_explicit(&d->seq, 1, memory_order_release);
	sys_futex_wake((const uint32_t *)&d->seq, n);
}

/*
 * doorbell_arm - announce an intent to sleep; returns the seq value to pass
 * to doorbell_sleep.  The caller must re-check for work after arming and
 * call doorbell_disarm (work found) or doorbell_sleep (none).
 */
static inline uint32_t
doorbell_arm(struct doorbell *d)
{
	/* seq_cst: the Dekker half that pairs with F1 in doorbell_ring. */
	atomic_fetch_add_explicit(&d->sleepers, 1, memory_order_seq_cst);
	/* A6: pairs with R6. */
	return atomic_load_explicit(&d->seq, memory_order_acquire);
}

/* doorbell_disarm - withdraw an arm without sleeping. */
static inline void
doorbell_disarm(struct doorbell *d)
{
	/* relaxed: a stale count only costs a spurious wake syscall. */
	atomic_fetch_sub_explicit(&d->sleepers, 1, memory_order_relaxed);
}

/*
 * doorbell_sleep - sleep until rung or @timeout_ns passes (0 = no timeout),
 * then disarm.  Returns 0 when woken or seq already moved, -ETIMEDOUT, -EINTR.
 */
static inline int
doorbell_sleep(struct doorbell *d, uint32_t armed_seq, uint64_t timeout_ns)
{
	int rc = sys_futex_wait((const uint32_t *)&d->seq, armed_seq, timeout_ns);

	doorbell_disarm(d);
	return rc == -EAGAIN ? 0 : rc;
}

/* doorbell_wake_all - wake every sleeper (shutdown, tests). */
static inline void
doorbell_wake_all(struct doorbell *d)
{
	atomic_fetch_add_explicit(&d->seq, 1, memory_order_seq_cst);
	sys_futex_wake((const uint32_t *)&d->seq, 1 << 30);
}

#endif
