/*
 * sys — every raw Linux syscall forq uses, wrapped once.
 *
 * Each wrapper returns 0 (or a non-negative value) on success and -errno on
 * failure; none of them touches errno as an error channel for our callers.
 * Header-only: the wrappers are tiny and inline into the hot paths (futex).
 */
#ifndef FORQ_SYS_H
#define FORQ_SYS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/*
 * sys_futex_wait - sleep while *@addr == @expected, shared across processes.
 * @timeout_ns: relative timeout, or 0 for none.
 * Returns 0 when woken, -EAGAIN when *addr != expected at entry,
 * -ETIMEDOUT, -EINTR.
 */
static inline int
sys_futex_wait(const uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ns) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long)(timeout_ns % 1000000000u);
		tp = &ts;
	}
	long r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, tp, NULL, 0);
	return r < 0 ? -errno : 0;
}

/*
 * sys_futex_wake - wake up to @n sleepers on @addr (shared futex).
 * Returns the number woken, or -errno.
 */
static inline int
sys_futex_wake(const uint32_t *addr, int n)
{
	long r = syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
	return r < 0 ? -errno : (int)r;
}

/* sys_pidfd_open - a pidfd for @pid (O_CLOEXEC is implied). fd or -errno. */
static inline int
sys_pidfd_open(pid_t pid)
{
	long r = syscall(SYS_pidfd_open, pid, 0);
	return r < 0 ? -errno : (int)r;
}

/* sys_pidfd_send_signal - send @sig to the process behind @pidfd. */
static inline int
sys_pidfd_send_signal(int pidfd, int sig)
{
	long r = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	return r < 0 ? -errno : 0;
}

/* sys_now_ns - CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
sys_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* sys_wall_ns - CLOCK_REALTIME in nanoseconds since the epoch. */
static inline uint64_t
sys_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* sys_cpu_relax - a pause hint inside spin loops. */
static inline void
sys_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Adaptive spinning: poll briefly for work before sleeping only while that
 * has been paying off.  Each poll that found work before its window ran
 * out earns credit, each that did not loses some; with no credit left the
 * caller sleeps at once, and tries a poll again every 16th time (a probe),
 * so a workload whose next event comes later than the window (commands
 * that run for milliseconds) stops burning CPU on polls, and one with
 * back-to-back events (many small tasks) keeps its wake-ups free.
 */
struct spin_credit {
	unsigned credit;         /* 0..8 */
	unsigned skipped;        /* sleeps without a poll since credit ran out */
};
#define SPIN_CREDIT_INIT { 4, 0 }

/* spin_allowed - true when the caller should poll before sleeping. */
static inline bool
spin_allowed(struct spin_credit *c)
{
	if (c->credit)
		return true;
	return (++c->skipped & 15) == 0;
}

/* spin_result - record whether the poll found work. */
static inline void
spin_result(struct spin_credit *c, bool hit)
{
	if (hit) {
		if (c->credit < 8)
			c->credit += 2;
		if (c->credit > 8)
			c->credit = 8;
	} else if (c->credit) {
		c->credit--;
	}
}


#endif
