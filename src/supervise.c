/*
 * supervise — spawn, watch, repair and respawn workers (see supervise.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
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
	char numa[16];
	char *argv[32 + 2 * 64];
	unsigned a = 0;
	struct epoll_event ev;
	pid_t pid;
	int rc, pidfd;

	snprintf(idx, sizeof(idx), "%u", i);
	snprintf(numa, sizeof(numa), "%d", s->slots[i].numa);
	argv[a++] = "forqd";
	argv[a++] = "--worker";
	argv[a++] = idx;
	argv[a++] = "--shm";
	argv[a++] = s->shm->name;
	argv[a++] = "--state";
	argv[a++] = s->state_dir;
	argv[a++] = "--cpuset";
	argv[a++] = s->slots[i].cpus;
	argv[a++] = "--nodeset";
	argv[a++] = s->slots[i].nodes;
	argv[a++] = "--numa";
	argv[a++] = numa;
	argv[a++] = "--log-level";
	argv[a++] = s->log_level;
	for (unsigned p = 0; p < s->nplugins && p < 64; p++) {
		argv[a++] = "--plugin";
		argv[a++] = s->plugins[p];
	}
	if (s->plugin_dir[0]) {
		argv[a++] = "--plugin-dir";
		argv[a++] = s->plugin_dir;
	}
	if (s->max_result[0]) {
		argv[a++] = "--max-result";
		argv[a++] = s->max_result;
	}
	if (s->kernel_mem[0]) {
		argv[a++] = "--kernel-mem";
		argv[a++] = s->kernel_mem;
	}
	argv[a] = NULL;
	/* The block is reset before the process exists: the new worker finds
	 * a clean held line and no stale cancel or kill marks. */
	memset(wb->held, 0, sizeof(wb->held));
	atomic_store(&wb->task_id, 0);
	atomic_store(&wb->deadline_ns, 0);
	atomic_store(&wb->cancel_task, 0);
	atomic_store(&wb->progress, SHM_PROGRESS_NONE);
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
	s->w[i].adopted = false;
	s->w[i].respawn_at_ns = 0;
	s->w[i].hb_seen_ns = sys_now_ns();
	s->w[i].cancel_seen_ns = 0;
	wb->spawn_ns = sys_now_ns();
	wb->pid_start = supervise_pid_start(pid);
	atomic_store_explicit(&wb->pid, pid, memory_order_release);
	log_debug("worker %u: pid %d on cpus %s", i, (int)pid, s->slots[i].cpus);
	return 0;
}

uint64_t
supervise_pid_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Field 22 (starttime) counts from after the ")" that ends field 2,
	 * which may itself contain spaces and parentheses. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (int f = 3; f < 22 && p; f++) {
		p = strchr(p + 1, ' ');
	}
	if (!p || sscanf(p, " %llu", &start) != 1)
		return 0;
	return start;
}

/*
 * Re-adopt worker @i from a previous forqd when its recorded pid is alive
 * and is still the process that was spawned (same start time).  Returns 1
 * when adopted, 0 when there is nothing to adopt.
 */
static int
adopt(struct supervisor *s, unsigned i)
{
	struct wblock *wb = shm_wblock(s->shm, i);
	pid_t pid = atomic_load_explicit(&wb->pid, memory_order_acquire);
	struct epoll_event ev;
	int pidfd;

	if (pid <= 0 || !wb->pid_start)
		return 0;
	pidfd = sys_pidfd_open(pid);
	if (pidfd < 0)
		return 0;
	/* The pidfd pins the pid; checking the start time after opening it
	 * makes the check race-free: a reused pid has another start time. */
	if (supervise_pid_start(pid) != wb->pid_start) {
		close(pidfd);
		return 0;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = s->epoll_tag | i;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
		close(pidfd);
		return 0;
	}
	s->w[i].pid = pid;
	s->w[i].pidfd = pidfd;
	s->w[i].adopted = true;
	s->w[i].hb_seen_ns = sys_now_ns();
	s->w[i].hb_seen = atomic_load_explicit(&wb->heartbeat, memory_order_relaxed);
	/* A kill forqd had started before it died is moot now. */
	atomic_store(&wb->kill_task, 0);
	log_info("worker %u: re-adopted pid %d (task %llu)", i, (int)pid,
		 (unsigned long long)atomic_load(&wb->task_id));
	return 1;
}

struct salvage_ctx {
	bool found;
	struct shm_task t;
};

static void salvage(void *arg, const void *item, uint32_t len);

/* The dead owner of block @i left nothing behind: repair its claims. */
static void
repair_owner(struct supervisor *s, unsigned owner, struct salvage_ctx *sc)
{
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		ring_repair(shm_ring(s->shm, p), owner, sc ? salvage : NULL, sc);
	ring_repair(shm_comp_ring(s->shm), owner, NULL, NULL);
}

static int
push_id(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		uint64_t *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = id;
	return 0;
}

int
supervise_start(struct supervisor *s, bool adopt_old, uint64_t **inflight, size_t *ninflight)
{
	size_t cap = 0;
	unsigned adopted = 0;
	uint64_t t0 = sys_now_ns();

	*inflight = NULL;
	*ninflight = 0;
	if (adopt_old) {
		/* The old forqd (owner 0) may have died inside a push: void it. */
		ring_repair(shm_comp_ring(s->shm), 0, NULL, NULL);
		for (unsigned p = 0; p < SHM_NPRIO; p++)
			ring_repair(shm_ring(s->shm, p), 0, NULL, NULL);
		for (unsigned i = 0; i < s->n; i++)
			adopted += (unsigned)adopt(s, i);
		/* Blocks beyond this forqd's workers, and blocks whose worker is
		 * gone: repair what their dead owners claimed; a task one held
		 * is lost (it stays QUEUED and is dispatched again). */
		for (unsigned i = 0; i < s->shm->hdr->max_workers; i++) {
			struct wblock *wb = shm_wblock(s->shm, i);
			pid_t pid = atomic_load(&wb->pid);

			if (i < s->n && s->w[i].pidfd >= 0)
				continue;
			if (pid > 0 && i >= s->n && supervise_pid_start(pid) == wb->pid_start && wb->pid_start) {
				/* a live worker this forqd does not want: stop it */
				int fd = sys_pidfd_open(pid);

				if (fd >= 0) {
					sys_pidfd_send_signal(fd, SIGKILL);
					close(fd);
				}
			}
			repair_owner(s, i + 1, NULL);
		}
		/* In flight: every task in a ring (claimed or not) and every task a
		 * live worker holds.  Rings first: a task moving from a ring to a
		 * worker during the scan is then seen in the worker's block. */
		for (unsigned p = 0; p < SHM_NPRIO; p++) {
			struct ring *r = shm_ring(s->shm, p);
			uint64_t head = atomic_load(&r->head), tail = atomic_load(&r->tail);

			for (uint64_t pos = head; pos < tail; pos++) {
				struct ring_slot *sl = (struct ring_slot *)(r->slots + (pos & r->mask) * r->slot_size);
				struct shm_task t;

				shm_task_unpack(sl->payload, &t);
				if (t.id && push_id(inflight, ninflight, &cap, t.id) < 0)
					return -ENOMEM;
			}
		}
		for (unsigned i = 0; i < s->n; i++) {
			struct shm_task t;

			if (s->w[i].pidfd < 0)
				continue;
			shm_task_unpack(shm_wblock(s->shm, i)->held, &t);
			if (t.id && push_id(inflight, ninflight, &cap, t.id) < 0)
				return -ENOMEM;
		}
		if (adopted)
			log_info("re-adopted %u worker(s) in %.3f ms; %zu task(s) in flight", adopted,
				 (double)(sys_now_ns() - t0) / 1e6, *ninflight);
	}
	for (unsigned i = 0; i < s->n; i++) {
		int rc;

		if (s->w[i].pidfd >= 0)
			continue;
		rc = spawn(s, i);
		if (rc)
			return rc;
	}
	return 0;
}

static int
scratch_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Remove STATE/scratch/forq-scratch-ID-* left by a worker that died running task @id. */
static void
scratch_drop(struct supervisor *s, uint64_t id)
{
	char dir[4300], prefix[64], cmd_path[4600];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/scratch", s->state_dir);
	snprintf(prefix, sizeof(prefix), "forq-scratch-%llu-", (unsigned long long)id);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(cmd_path, sizeof(cmd_path), "%s/%s", dir, e->d_name);
		if (nftw(cmd_path, scratch_rm, 16, FTW_DEPTH | FTW_PHYS) < 0)
			log_warn("cannot remove %s: %s", cmd_path, strerror(errno));
	}
	closedir(d);
}

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
	if (w->adopted) {
		/* not our child: no status to collect; the pidfd said it exited */
		si.si_code = CLD_KILLED;
	} else if (waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) {
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
	repair_owner(s, i + 1, &sc);
	if (atomic_load_explicit(&wb->sleeping, memory_order_relaxed))
		doorbell_disarm(&s->shm->hdr->work_bell);

	/* 4: the task it held. */
	shm_task_unpack(wb->held, &held);
	if (!sc.found && held.id) {
		sc.t = held;
		sc.found = true;
	}
	kill_task = atomic_load_explicit(&wb->kill_task, memory_order_relaxed);
	if (sc.found)
		scratch_drop(s, sc.t.id);
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

static void
kill_for(struct supervisor *s, unsigned i, uint64_t task, uint32_t why, const char *what)
{
	struct wblock *wb = shm_wblock(s->shm, i);

	if (atomic_load_explicit(&wb->kill_task, memory_order_relaxed) == task && task)
		return; /* already on its way */
	atomic_store_explicit(&wb->kill_why, why, memory_order_relaxed);
	atomic_store_explicit(&wb->kill_task, task ? task : UINT64_MAX, memory_order_relaxed);
	log_info("worker %u: %s; killing it", i, what);
	sys_pidfd_send_signal(s->w[i].pidfd, SIGKILL);
}

void
supervise_tick(struct supervisor *s, uint64_t now)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct wblock *wb = shm_wblock(s->shm, i);
		struct sup_worker *w = &s->w[i];
		uint64_t id, deadline, hb, cancel;
		char what[96];

		if (!w->pid) {
			if (!s->stopping && w->respawn_at_ns && now >= w->respawn_at_ns)
				spawn(s, i);
			continue;
		}
		/* A5: pairs with R5 in the worker: deadline belongs to id. */
		id = atomic_load_explicit(&wb->task_id, memory_order_acquire);
		deadline = atomic_load_explicit(&wb->deadline_ns, memory_order_relaxed);
		if (id && deadline && now > deadline) {
			snprintf(what, sizeof(what), "task %llu passed its deadline", (unsigned long long)id);
			kill_for(s, i, id, KERNEL_TIMEOUT, what);
			continue;
		}
		/* Hang: the heartbeat has not moved for hang_ns. */
		hb = atomic_load_explicit(&wb->heartbeat, memory_order_relaxed);
		if (hb != w->hb_seen) {
			w->hb_seen = hb;
			w->hb_seen_ns = now;
		} else if (s->hang_ns && now - w->hb_seen_ns > s->hang_ns &&
			   (atomic_load(&wb->state) != WSTATE_STARTING || now - w->hb_seen_ns > s->hang_ns + 10000000000ull)) {
			snprintf(what, sizeof(what), "no heartbeat for %.1f s (hung)",
				 (double)(now - w->hb_seen_ns) / 1e9);
			kill_for(s, i, id, KERNEL_FAILED /* hung */, what);
			continue;
		}
		/* A cancelled task that does not stop: in-process kernels get
		 * 500 ms, commands (TERM, grace, KILL) 3 s. */
		cancel = atomic_load_explicit(&wb->cancel_task, memory_order_relaxed);
		if (id && cancel == id) {
			if (w->cancel_task != id) {
				w->cancel_task = id;
				w->cancel_seen_ns = now;
			} else {
				struct shm_task t;

				shm_task_unpack(wb->held, &t);
				if (now - w->cancel_seen_ns <=
				    (t.kernel == KERNEL_ID_EXEC ? 3000000000ull : 500000000ull))
					continue;
				snprintf(what, sizeof(what), "cancelled task %llu does not stop",
					 (unsigned long long)id);
				kill_for(s, i, id, KERNEL_CANCELLED, what);
			}
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
			if (!cancelled && now >= cancel_at) {
				struct wblock *wb = shm_wblock(s->shm, i);

				atomic_store(&wb->cancel_task, atomic_load(&wb->task_id));
			}
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
