/*
 * supervise — spawn, watch, repair and respawn workers (see supervise.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "kernel.h"
#include "log.h"
#include "supervise.h"
#include "sys.h"

extern char **environ;

int
supervise_init(struct supervisor *s, struct shm *shm, struct store *st, struct topo_slot *slots,
	       unsigned n, const char *state_dir, const char *log_level, int epfd, uint64_t tag)
{
	ssize_t len;

	memset(s, 0, sizeof(*s));
	s->shm = shm;
	s->store = st;
	s->slots = slots;
	s->n = n;
	s->epfd = epfd;
	s->epoll_tag = tag;
	snprintf(s->state_dir, sizeof(s->state_dir), "%s", state_dir);
	snprintf(s->log_level, sizeof(s->log_level), "%s", log_level);
	len = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	if (len < 0)
		return -errno;
	s->exe[len] = '\0';
	s->w = calloc(n, sizeof(*s->w));
	if (!s->w)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		s->w[i].pidfd = -1;
	atomic_store_explicit(&shm->hdr->nworkers, n, memory_order_release);
	return 0;
}

static int
spawn(struct supervisor *s, unsigned i)
{
	struct wblock *wb = shm_wblock(s->shm, i);
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	sigset_t none, deflt;
	char idx[16];
	char *argv[] = {
		"forqd", "--worker", idx, "--shm", s->shm->name, "--state", s->state_dir,
		"--cpuset", s->slots[i].cpus, "--nodeset", s->slots[i].nodes,
		"--log-level", s->log_level, NULL,
	};
	struct epoll_event ev;
	pid_t pid;
	int rc, pidfd;

	snprintf(idx, sizeof(idx), "%u", i);
	/* The block is reset before the process exists: the new worker finds
	 * a clean held line and no stale cancel or kill marks. */
	memset(wb->held, 0, sizeof(wb->held));
	atomic_store(&wb->task_id, 0);
	atomic_store(&wb->deadline_ns, 0);
	atomic_store(&wb->cancel, 0);
	atomic_store(&wb->kill_task, 0);
	atomic_store(&wb->sleeping, 0);
	atomic_store(&wb->state, WSTATE_STARTING);
	wb->core = s->slots[i].core;
	wb->cpu = s->slots[i].os_cpu;

	/* Child set-up, in this order: new session (terminal signals and
	 * forqd's process group do not reach workers); empty signal mask;
	 * default dispositions for the signals forqd handles; stdin from
	 * /dev/null; stdout/stderr shared with forqd (its log). */
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGTERM);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGHUP);
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGCHLD);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&pid, s->exe, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		log_error("worker %u: spawn failed: %s", i, strerror(rc));
		s->w[i].respawn_at_ns = sys_now_ns() + 1000000000ull;
		return -rc;
	}
	/* The child cannot be reaped (and its pid reused) before we wait for
	 * it, so this pidfd is for the process we spawned. */
	pidfd = sys_pidfd_open(pid);
	if (pidfd < 0) {
		log_error("worker %u: pidfd_open: %s", i, strerror(-pidfd));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return pidfd;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = s->epoll_tag | i;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
		rc = -errno;
		close(pidfd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return rc;
	}
	s->w[i].pid = pid;
	s->w[i].pidfd = pidfd;
	s->w[i].respawn_at_ns = 0;
	s->w[i].hb_seen_ns = sys_now_ns();
	wb->spawn_ns = sys_now_ns();
	atomic_store_explicit(&wb->pid, pid, memory_order_release);
	log_debug("worker %u: pid %d on cpus %s", i, (int)pid, s->slots[i].cpus);
	return 0;
}

int
supervise_start(struct supervisor *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		int rc = spawn(s, i);

		if (rc)
			return rc;
	}
	return 0;
}

struct salvage_ctx {
	bool found;
	struct shm_task t;
};

static void
salvage(void *arg, const void *item, uint32_t len)
{
	struct salvage_ctx *c = arg;

	if (len >= 48) {
		shm_task_unpack(item, &c->t);
		c->found = true;
	}
}

void
supervise_on_exit(struct supervisor *s, unsigned i)
{
	struct wblock *wb = shm_wblock(s->shm, i);
	struct sup_worker *w = &s->w[i];
	struct salvage_ctx sc = { .found = false };
	struct shm_task held;
	siginfo_t si;
	uint64_t kill_task;
	int status = 0;

	if (w->pidfd < 0)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) {
		if (kill(w->pid, 0) == 0)
			return; /* spurious: still alive */
	}
	status = si.si_status;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
	close(w->pidfd);
	w->pidfd = -1;
	w->pid = 0;
	atomic_store_explicit(&wb->pid, 0, memory_order_release);
	atomic_store_explicit(&wb->state, WSTATE_DEAD, memory_order_release);

	/* 2-3: repair the rings. */
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		ring_repair(shm_ring(s->shm, p), i + 1, salvage, &sc);
	ring_repair(shm_comp_ring(s->shm), i + 1, NULL, NULL);
	if (atomic_load_explicit(&wb->sleeping, memory_order_relaxed))
		doorbell_disarm(&s->shm->hdr->work_bell);

	/* 4: the task it held. */
	shm_task_unpack(wb->held, &held);
	if (!sc.found && held.id) {
		sc.t = held;
		sc.found = true;
	}
	kill_task = atomic_load_explicit(&wb->kill_task, memory_order_relaxed);
	/* At shutdown a held task is not reported: it stays QUEUED and runs
	 * again when forqd next starts. */
	if (sc.found && !s->stopping) {
		struct store_lost *l = calloc(1, sizeof(*l));

		if (!l) {
			log_error("worker %u: out of memory; task %llu stays queued until restart",
				  i, (unsigned long long)sc.t.id);
		} else {
			l->id = sc.t.id;
			l->attempt = sc.t.attempt;
			l->outcome = kill_task == sc.t.id
				? (uint8_t)atomic_load_explicit(&wb->kill_why, memory_order_relaxed)
				: 0xff;
			l->worker = (int32_t)i;
			l->cpu = wb->cpu;
			l->start_wall_ns = sys_wall_ns() -
				(sys_now_ns() - atomic_load_explicit(&wb->start_ns, memory_order_relaxed));
			/* relaxed: the dead worker's pushes are all before this
			 * point (it is dead); any later tail is as good. */
			l->comp_tail = atomic_load_explicit(&shm_comp_ring(s->shm)->tail, memory_order_acquire);
			store_report_lost(s->store, l);
		}
	}
	store_reader_check(s->store);
	if (s->stopping) {
		atomic_store_explicit(&wb->state, WSTATE_EMPTY, memory_order_release);
		return;
	}
	if (si.si_code == CLD_EXITED && status == 0 && !kill_task)
		log_warn("worker %u exited unexpectedly; respawning", i);
	else if (!kill_task)
		log_warn("worker %u died (%s %d)%s%s; respawning", i,
			 si.si_code == CLD_EXITED ? "exit" : "signal", status,
			 sc.found ? ", task lost: " : "", sc.found ? "retry or LOST" : "");
	wb->restarts++;
	spawn(s, i);
}

void
supervise_tick(struct supervisor *s, uint64_t now)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct wblock *wb = shm_wblock(s->shm, i);
		struct sup_worker *w = &s->w[i];
		uint64_t id, deadline;

		if (!w->pid) {
			if (!s->stopping && w->respawn_at_ns && now >= w->respawn_at_ns)
				spawn(s, i);
			continue;
		}
		/* A5: pairs with R5 in the worker: deadline belongs to id. */
		id = atomic_load_explicit(&wb->task_id, memory_order_acquire);
		deadline = atomic_load_explicit(&wb->deadline_ns, memory_order_relaxed);
		if (id && deadline && now > deadline &&
		    atomic_load_explicit(&wb->kill_task, memory_order_relaxed) != id) {
			atomic_store_explicit(&wb->kill_why, KERNEL_TIMEOUT, memory_order_relaxed);
			atomic_store_explicit(&wb->kill_task, id, memory_order_relaxed);
			log_info("worker %u: task %llu passed its deadline; killing the worker", i,
				 (unsigned long long)id);
			sys_pidfd_send_signal(w->pidfd, SIGKILL);
		}
	}
}

void
supervise_shutdown(struct supervisor *s, unsigned grace_ms)
{
	struct shm_hdr *h = s->shm->hdr;
	uint64_t t0 = sys_now_ns(), cancel_at = t0 + (uint64_t)grace_ms * 1000000u;
	uint64_t kill_at = cancel_at + 2000000000ull;
	bool cancelled = false, killed = false;

	s->stopping = true;
	atomic_store_explicit(&h->shutdown, 1, memory_order_release);
	doorbell_wake_all(&h->work_bell);
	for (;;) {
		unsigned alive = 0;
		uint64_t now = sys_now_ns();

		for (unsigned i = 0; i < s->n; i++) {
			if (s->w[i].pidfd < 0)
				continue;
			struct pollfd pfd = { s->w[i].pidfd, POLLIN, 0 };

			if (poll(&pfd, 1, 0) == 1) {
				supervise_on_exit(s, i);
				continue;
			}
			alive++;
			if (!cancelled && now >= cancel_at)
				atomic_store(&shm_wblock(s->shm, i)->cancel, 1);
			if (!killed && now >= kill_at)
				sys_pidfd_send_signal(s->w[i].pidfd, SIGKILL);
		}
		if (!alive)
			break;
		if (now >= cancel_at)
			cancelled = true;
		if (now >= kill_at)
			killed = true;
		doorbell_wake_all(&h->work_bell);
		usleep(5000);
	}
}

void
supervise_free(struct supervisor *s)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->w && s->w[i].pidfd >= 0)
			close(s->w[i].pidfd);
	free(s->w);
	s->w = NULL;
}
