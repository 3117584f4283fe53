/*
 * server — the event loop and daemon lifecycle (see server.h).
 *
 * Start-up order (forqd(8) INTERNALS): lock the state dir; open LMDB and
 * recover; create the shared segment; create the socket; start the store
 * thread; spawn the workers; serve.  Tear-down runs in reverse: stop
 * accepting, stop the workers (they finish or are cancelled), stop the
 * store thread (it drains the last completions), close LMDB, remove the
 * segment and the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include "kernel.h"
#include "log.h"
#include "paths.h"
#include "server.h"
#include "sys.h"
#include "verbs.h"

#define TAG_MASK    (0xfull << 60)
#define TAG_LISTEN  (1ull << 60)
#define TAG_CONN    (2ull << 60)
#define TAG_WORKER  (3ull << 60)
#define TAG_EVENT   (4ull << 60)
#define TAG_TIMER   (5ull << 60)
#define TAG_SIGNAL  (6ull << 60)
#define TICK_NS     20000000ull   /* 20 ms: deadlines, wait timeouts, figures */
#define READ_CHUNK  65536

struct conn *
server_conn(struct server *sv, uint32_t slot, uint32_t gen)
{
	if (slot >= sv->nconns || sv->conns[slot].fd < 0 || sv->conns[slot].gen != gen)
		return NULL;
	return &sv->conns[slot];
}

static void
conn_close(struct server *sv, uint32_t slot)
{
	struct conn *c = &sv->conns[slot];

	if (c->fd < 0)
		return;
	epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->gen++;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_len = c->in_cap = c->out_len = c->out_off = c->out_cap = 0;
	c->busy = c->discarding = c->eof = c->registered = c->unread = false;
}


/*
 * Connections are registered once, edge-triggered, for input and output
 * (no epoll_ctl per request).  So every read drains the socket to EAGAIN
 * unless the connection is busy (a request awaits its reply): then
 * `unread` remembers that the socket may hold more, and server_resume
 * reads it.  A connection at EOF with nothing pending is closed here.
 */
static void
conn_arm(struct server *sv, uint32_t slot)
{
	struct conn *c = &sv->conns[slot];

	if (c->fd >= 0 && c->eof && !c->busy && c->out_len == 0)
		conn_close(sv, slot);
}

/* Write what we can; returns -1 when the connection was closed. */
static int
conn_flush(struct server *sv, uint32_t slot)
{
	struct conn *c = &sv->conns[slot];

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_close(sv, slot);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->eof && !c->busy && c->out_len == 0) {
		conn_close(sv, slot);
		return -1;
	}
	conn_arm(sv, slot);
	return c->fd < 0 ? -1 : 0;
}

void
server_send(struct server *sv, uint32_t slot, char *line, size_t len)
{
	struct conn *c = &sv->conns[slot];

	if (!line)
		return;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;

		while (cap < c->out_len + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n) {
			free(line);
			log_error("out of memory for a reply; closing the connection");
			conn_close(sv, slot);
			return;
		}
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out_len += len;
	free(line);
	conn_flush(sv, slot);
}

/* Handle the complete lines in the input buffer until one makes it busy. */
static void
conn_process(struct server *sv, uint32_t slot)
{
	struct conn *c = &sv->conns[slot];
	uint32_t gen = c->gen;
	size_t off = 0;

	while (!c->busy && off < c->in_len) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - (c->in + off));
		if (c->discarding) {
			c->discarding = false;
		} else if (len > sv->cfg.max_msg) {
			verbs_too_large(sv, slot);
		} else {
			size_t l = len;

			if (l && c->in[off + l - 1] == '\r')
				l--;
			if (l)
				verbs_request(sv, slot, c->in + off, l);
		}
		if (!server_conn(sv, slot, gen))
			return; /* closed while handling */
		off += len + 1;
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	/* An unterminated line that already exceeds the limit. */
	if (!c->busy && !c->discarding && c->in_len > sv->cfg.max_msg) {
		verbs_too_large(sv, slot);
		if (!server_conn(sv, slot, gen))
			return;
		c->discarding = true;
		c->in_len = 0;
	}
	if (c->eof && !c->busy && c->out_len == 0)
		conn_close(sv, slot);
}

static void conn_read(struct server *sv, uint32_t slot);

void
server_resume(struct server *sv, uint32_t slot)
{
	struct conn *c = &sv->conns[slot];

	c->busy = false;
	conn_process(sv, slot);
	if (c->fd >= 0 && !c->busy && c->unread)
		conn_read(sv, slot);
	else if (c->fd >= 0)
		conn_arm(sv, slot);
}

static void
conn_read(struct server *sv, uint32_t slot)
{
	struct conn *c = &sv->conns[slot];

	c->unread = false;
	while (!c->eof) {
		ssize_t n;

		if (c->discarding) {
			char junk[READ_CHUNK];
			char *nl;

			n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
			if (n > 0 && (nl = memchr(junk, '\n', (size_t)n))) {
				size_t rest = (size_t)n - (size_t)(nl + 1 - junk);

				c->discarding = false;
				if (rest) {
					if (c->in_cap < rest) {
						char *m = realloc(c->in, rest);

						if (!m) {
							conn_close(sv, slot);
							return;
						}
						c->in = m;
						c->in_cap = rest;
					}
					memcpy(c->in, nl + 1, rest);
					c->in_len = rest;
				}
			}
		} else {
			if (c->in_cap - c->in_len < READ_CHUNK) {
				size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
				char *m;

				if (cap > sv->cfg.max_msg + 2 * READ_CHUNK)
					cap = sv->cfg.max_msg + 2 * READ_CHUNK;
				if (cap - c->in_len < 1) {
					/* full: process() will refuse the line */
					conn_process(sv, slot);
					if (c->fd < 0)
						return;
					continue;
				}
				m = realloc(c->in, cap);
				if (!m) {
					conn_close(sv, slot);
					return;
				}
				c->in = m;
				c->in_cap = cap;
			}
			n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
			if (n > 0)
				c->in_len += (size_t)n;
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_close(sv, slot);
			return;
		}
		if (!c->discarding)
			conn_process(sv, slot);
		if (c->fd < 0)
			return;
		if (c->busy) {
			/* leave the rest in the socket (backpressure); read it on resume */
			c->unread = true;
			break;
		}
	}
	if (c->fd < 0)
		return;
	conn_process(sv, slot);
	if (c->fd >= 0) {
		if (c->eof && !c->busy && c->out_len == 0)
			conn_close(sv, slot);
		else
			conn_arm(sv, slot);
	}
}

static void
conn_accept(struct server *sv)
{
	for (;;) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct epoll_event ev = { 0 };
		uint32_t slot;
		int fd = accept4(sv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != getuid()) {
			static const char msg[] =
				"{\"type\":\"ERROR\",\"data\":{\"code\":\"PERMISSION\",\"message\":\"peer uid is not forqd's\"}}\n";
			ssize_t w = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);

			(void)w;
			log_warn("refused a connection from uid %u", (unsigned)cred.uid);
			close(fd);
			continue;
		}
		for (slot = 0; slot < sv->nconns && sv->conns[slot].fd >= 0; slot++)
			;
		if (slot == sv->nconns) {
			size_t n = sv->nconns ? sv->nconns * 2 : 64;
			struct conn *m = realloc(sv->conns, n * sizeof(*m));

			if (!m) {
				close(fd);
				continue;
			}
			for (size_t i = sv->nconns; i < n; i++) {
				memset(&m[i], 0, sizeof(m[i]));
				m[i].fd = -1;
			}
			sv->conns = m;
			sv->nconns = n;
		}
		sv->conns[slot].fd = fd;
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.u64 = TAG_CONN | slot;
		if (epoll_ctl(sv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(sv, slot);
		else
			sv->conns[slot].registered = true;
	}
}

static int
make_socket(struct server *sv, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd, rc;

	if (strlen(sv->cfg.socket_path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", sv->cfg.socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, sv->cfg.socket_path);
	strcpy(dir, sv->cfg.socket_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if ((rc = paths_mkdirs(dir, 0700)) < 0) {
			snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
			return rc;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The state-dir lock is held: a socket file left here is stale,
	 * unless another daemon (other state dir) answers on it. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, errlen, "another forqd is listening on %s", sa.sun_path);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mode_t old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(sa.sun_path, 0600) < 0 || listen(fd, 1024) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", sa.sun_path, strerror(errno));
		close(fd);
		return rc;
	}
	sv->lfd = fd;
	return 0;
}

static int
lock_state(struct server *sv, char *err, size_t errlen)
{
	char path[4200];
	int rc;

	if ((rc = paths_mkdirs(sv->cfg.state_dir, 0700)) < 0) {
		snprintf(err, errlen, "%s: %s", sv->cfg.state_dir, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/lock", sv->cfg.state_dir);
	sv->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sv->lockfd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(sv->lockfd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(sv->lockfd, pid, sizeof(pid) - 1, 0);

		if (n > 0)
			pid[n] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "another forqd (pid %s) is running on state dir %s",
			 pid[0] ? pid : "?", sv->cfg.state_dir);
		close(sv->lockfd);
		sv->lockfd = -1;
		return -EBUSY;
	}
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(sv->lockfd, 0) < 0 || pwrite(sv->lockfd, buf, (size_t)n, 0) < 0)
		log_warn("cannot write the pid into %s", path);
	return 0;
}

static void
shm_name_for(const char *state_dir, char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a of the state dir */

	for (const char *p = state_dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	snprintf(name, len, "/forq.%u.%016llx", (unsigned)getuid(), (unsigned long long)h);
}

/*
 * A segment left by a forqd that crashed: re-use it when its layout fits
 * this configuration (its workers are then re-adopted); otherwise stop the
 * workers it records and remove it.  Returns true when re-used.
 */
static bool
attach_old(struct server *sv, const char *name)
{
	struct shm old;
	bool fits;

	if (shm_attach(&old, name, 1) < 0)
		return false;
	fits = old.hdr->ring_capacity == sv->cfg.ring_size && old.hdr->max_workers == sv->nslots;
	if (fits) {
		sv->shm = old;
		log_info("found the shared segment of a previous forqd (pid %d): re-adopting its workers",
			 (int)atomic_load(&old.hdr->daemon_pid));
		return true;
	}
	log_warn("a previous forqd's segment has another layout; stopping its workers");
	for (unsigned i = 0; i < old.hdr->max_workers; i++) {
		struct wblock *wb = shm_wblock(&old, i);
		pid_t pid = atomic_load(&wb->pid);
		int fd;

		if (pid <= 0 || !wb->pid_start || (fd = sys_pidfd_open(pid)) < 0)
			continue;
		if (supervise_pid_start(pid) == wb->pid_start)
			sys_pidfd_send_signal(fd, SIGKILL);
		close(fd);
	}
	shm_destroy(&old);
	return false;
}

/*
 * At a clean stop every participant is gone: the rings must validate
 * (ring_validate).  The result is logged; the chaos tests read it.
 */
static void
validate_rings(struct server *sv)
{
	struct ring_report rep;
	unsigned bad = 0;

	for (unsigned p = 0; p <= SHM_NPRIO; p++) {
		struct ring *r = p < SHM_NPRIO ? shm_ring(&sv->shm, p) : shm_comp_ring(&sv->shm);

		if (ring_validate(r, &rep) < 0) {
			log_error("ring %s: invalid at shutdown (head %llu tail %llu full %llu claimed %llu/%llu bad %llu)",
				  p < SHM_NPRIO ? "task" : "completion", (unsigned long long)rep.head,
				  (unsigned long long)rep.tail, (unsigned long long)rep.full,
				  (unsigned long long)rep.pclaimed, (unsigned long long)rep.cclaimed,
				  (unsigned long long)rep.bad);
			bad++;
		}
	}
	if (!bad)
		log_info("rings: all %u valid at shutdown", SHM_NPRIO + 1);
}

static void
sample_rate(struct server *sv, uint64_t now)
{
	unsigned i = sv->rate_i;

	if (sv->rate_ns[i] && now - sv->rate_ns[i] < 100000000ull)
		return;
	i = (i + 1) % 11;
	sv->rate_i = i;
	sv->rate_ns[i] = now;
	sv->rate_fin[i] = atomic_load_explicit(&sv->store.finished, memory_order_relaxed);
}

/*
 * The periodic tick: every 20 ms while anything needs watching (a busy
 * worker's deadline and heartbeat, a parked wait's timeout, a respawn to
 * retry), every 250 ms otherwise, so an idle forqd wakes 4 times a second.
 */
#define TICK_IDLE_NS 250000000ull

void
server_tick_rate(struct server *sv)
{
	bool busy = sv->waiters != NULL;
	uint64_t want;

	for (unsigned i = 0; i < sv->nslots && !busy; i++)
		busy = atomic_load_explicit(&shm_wblock(&sv->shm, i)->task_id, memory_order_relaxed) != 0 ||
		       sv->sup.w[i].pid == 0;
	want = busy ? TICK_NS : TICK_IDLE_NS;
	if (want != sv->tick_ns) {
		struct itimerspec its = { { 0, (long)want }, { 0, (long)want } };

		if (timerfd_settime(sv->tfd, 0, &its, NULL) == 0)
			sv->tick_ns = want;
	}
}

/*
 * After handling events the loop polls (epoll_wait with timeout 0) for
 * SERVE_SPIN_NS before it blocks: a reply or request that follows within
 * that window costs no wake-up (a futex wake is 15-30 us on a VM).  Idle,
 * it blocks: no CPU.
 */
#define SERVE_SPIN_NS 200000ull

static void
serve(struct server *sv)
{
	struct epoll_event evs[64];
	struct spin_credit credit = SPIN_CREDIT_INIT;
	uint64_t active = 0;
	bool spinning = false;

	while (!sv->stop) {
		bool in_window = sys_now_ns() - active < SERVE_SPIN_NS;
		bool spin;
		int n;

		if (in_window && !spinning)
			spinning = spin_allowed(&credit);
		spin = in_window && spinning;
		n = epoll_wait(sv->epfd, evs, 64, spin ? 0 : -1);
		if (spinning && (n > 0 || !in_window)) {
			/* the poll window ended: with an event (a hit) or not */
			spin_result(&credit, n > 0 && in_window);
			spinning = false;
		}
		if (spin && n == 0)
			sched_yield(); /* let the threads we wait for run */
		/* Only traffic starts a spin window, not the periodic tick. */
		for (int i = 0; i < n; i++)
			if ((evs[i].data.u64 & TAG_MASK) != TAG_TIMER) {
				active = sys_now_ns();
				break;
			}

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64 & TAG_MASK, idx = evs[i].data.u64 & ~TAG_MASK;
			uint64_t v;

			switch (tag) {
			case TAG_LISTEN:
				conn_accept(sv);
				break;
			case TAG_CONN:
				if (idx >= sv->nconns || sv->conns[idx].fd < 0)
					break;
				if (evs[i].events & (EPOLLOUT))
					if (conn_flush(sv, (uint32_t)idx) < 0)
						break;
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					conn_read(sv, (uint32_t)idx);
				break;
			case TAG_WORKER:
				supervise_on_exit(&sv->sup, (unsigned)idx);
				break;
			case TAG_EVENT:
				if (read(sv->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("eventfd read: %s", strerror(errno));
				verbs_store_done(sv);
				verbs_waiters(sv, sys_now_ns());
				if (sv->tick_ns != TICK_NS)
					server_tick_rate(sv);
				break;
			case TAG_TIMER: {
				uint64_t now = sys_now_ns();

				if (read(sv->tfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					break;
				supervise_tick(&sv->sup, now);
				verbs_waiters(sv, now);
				sample_rate(sv, now);
				server_tick_rate(sv);
				break;
			}
			case TAG_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(sv->sfd, &si, sizeof(si)) == sizeof(si) &&
				    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
					log_info("signal %u: shutting down", si.ssi_signo);
					sv->stop = true;
				}
				break;
			}
			}
		}
	}
}

static int
add_fd(struct server *sv, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(sv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int
server_run(struct server_config *cfg)
{
	struct server *sv = calloc(1, sizeof(*sv));
	char err[8800] = "", name[64], path[4200];
	struct itimerspec its = { { 0, (long)TICK_NS }, { 0, (long)TICK_NS } };
	sigset_t mask;
	uint64_t *inflight = NULL;
	size_t ninflight = 0;
	bool adopt;
	int rc, status = 1;

	if (!sv) {
		log_error("out of memory");
		return 1;
	}
	sv->cfg = *cfg;
	sv->lfd = sv->epfd = sv->efd = sv->tfd = sv->sfd = sv->lockfd = -1;
	sv->start_ns = sys_now_ns();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	if (lock_state(sv, err, sizeof(err)) < 0)
		goto out_log;
	/* Logs are spread over 256 directories by the id's low byte: tasks
	 * running side by side then create their files in different
	 * directories, not all behind one directory lock. */
	for (unsigned d = 0; d < 256; d++) {
		snprintf(path, sizeof(path), "%s/logs/%02x", cfg->state_dir, d);
		if ((rc = paths_mkdirs(path, 0700)) < 0) {
			snprintf(err, sizeof(err), "%s: %s", path, strerror(-rc));
			goto out_unlock;
		}
	}
	if ((rc = topo_select(cfg->workers, cfg->cpus, &sv->slots, &sv->nslots, err, sizeof(err))) < 0)
		goto out_unlock;
	/* Plug-ins before anything can validate a task; results and scratch
	 * directories for the workers. */
	for (unsigned i = 0; i < cfg->nplugins; i++)
		if (kernel_load_plugin(cfg->plugins[i], err, sizeof(err)) < 0)
			goto out_slots;
	snprintf(sv->sup_plugin_dir, sizeof(sv->sup_plugin_dir), "%s",
		 cfg->plugin_dir ? cfg->plugin_dir : "");
	if (!cfg->plugin_dir)
		snprintf(sv->sup_plugin_dir, sizeof(sv->sup_plugin_dir), "%s/plugins", cfg->state_dir);
	if (kernel_load_plugin_dir(sv->sup_plugin_dir, err, sizeof(err)) < 0)
		goto out_slots;
	for (const char *sub = "results"; sub; sub = strcmp(sub, "results") == 0 ? "scratch" : NULL) {
		snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, sub);
		if ((rc = paths_mkdirs(path, 0700)) < 0) {
			snprintf(err, sizeof(err), "%s: %s", path, strerror(-rc));
			goto out_slots;
		}
	}
	snprintf(path, sizeof(path), "%s/db", cfg->state_dir);
	if (store_open(&sv->store, path, cfg->nosync, err, sizeof(err)) < 0)
		goto out_slots;
	shm_name_for(cfg->state_dir, name, sizeof(name));
	adopt = attach_old(sv, name);
	if (!adopt && (rc = shm_create(&sv->shm, name, cfg->ring_size, sv->nslots)) < 0) {
		snprintf(err, sizeof(err), "shared memory %s: %s", name, strerror(-rc));
		goto out_store;
	}
	atomic_store(&sv->shm.hdr->daemon_pid, (int32_t)getpid());
	sv->shm.hdr->aging_ns = cfg->aging_ns;
	for (unsigned p = 0; p < SHM_NPRIO; p++)
		atomic_store(&sv->shm.hdr->eff_prio[p], (uint8_t)(p + SHM_EFF_BIAS));
	{
		char shmpath[4200];
		FILE *f;

		snprintf(shmpath, sizeof(shmpath), "%s/shm", cfg->state_dir);
		if ((f = fopen(shmpath, "w"))) {
			fprintf(f, "%s\n", name);
			fclose(f);
		}
	}
	if (make_socket(sv, err, sizeof(err)) < 0)
		goto out_shm;
	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	sv->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sv->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sv->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	sv->tick_ns = TICK_NS;
	if (sv->epfd < 0 || sv->efd < 0 || sv->tfd < 0 || sv->sfd < 0 ||
	    timerfd_settime(sv->tfd, 0, &its, NULL) < 0 ||
	    add_fd(sv, sv->lfd, TAG_LISTEN) < 0 || add_fd(sv, sv->efd, TAG_EVENT) < 0 ||
	    add_fd(sv, sv->tfd, TAG_TIMER) < 0 || add_fd(sv, sv->sfd, TAG_SIGNAL) < 0) {
		snprintf(err, sizeof(err), "event loop set-up: %s", strerror(errno));
		goto out_fds;
	}
	if ((rc = supervise_init(&sv->sup, &sv->shm, &sv->store, sv->slots, sv->nslots,
				 cfg->state_dir, cfg->log_level, sv->epfd, TAG_WORKER)) < 0) {
		snprintf(err, sizeof(err), "workers: %s", strerror(-rc));
		goto out_fds;
	}
	sv->sup.hang_ns = cfg->hang_ns;
	sv->sup.plugins = cfg->plugins;
	sv->sup.nplugins = cfg->nplugins;
	snprintf(sv->sup.plugin_dir, sizeof(sv->sup.plugin_dir), "%s", sv->sup_plugin_dir);
	snprintf(sv->sup.max_result, sizeof(sv->sup.max_result), "%zu", cfg->max_result);
	if (cfg->kernel_mem)
		snprintf(sv->sup.kernel_mem, sizeof(sv->sup.kernel_mem), "%zu", cfg->kernel_mem);
	sv->store.max_result = cfg->max_result;
	snprintf(sv->store.res_dir, sizeof(sv->store.res_dir), "%s/results", cfg->state_dir);
	if ((rc = supervise_start(&sv->sup, adopt, &inflight, &ninflight)) < 0 ||
	    (rc = store_adopt_inflight(&sv->store, inflight, ninflight)) < 0) {
		free(inflight);
		snprintf(err, sizeof(err), "workers: %s", strerror(-rc));
		supervise_shutdown(&sv->sup, 0);
		supervise_free(&sv->sup);
		goto out_fds;
	}
	free(inflight);
	store_set_aging(&sv->store, cfg->aging_ns);
	if ((rc = store_start(&sv->store, &sv->shm, sv->efd)) < 0) {
		snprintf(err, sizeof(err), "store thread: %s", strerror(-rc));
		supervise_shutdown(&sv->sup, 0);
		goto out_thread;
	}
	log_info("ready: %u workers, socket %s, state %s, sync %s, ring %llu", sv->nslots,
		 cfg->socket_path, cfg->state_dir, cfg->nosync ? "nosync" : "fsync",
		 (unsigned long long)cfg->ring_size);
	serve(sv);
	status = 0;
	/* Tear-down: stop accepting first so no new work arrives. */
	epoll_ctl(sv->epfd, EPOLL_CTL_DEL, sv->lfd, NULL);
	close(sv->lfd);
	sv->lfd = -1;
	unlink(cfg->socket_path);
	supervise_shutdown(&sv->sup, cfg->shutdown_grace_ms);
out_thread:
	store_stop(&sv->store);
	if (status == 0)
		validate_rings(sv);
	verbs_store_done(sv);
	verbs_free_waiters(sv);
	for (size_t i = 0; i < sv->nconns; i++) {
		if (sv->conns[i].fd >= 0) {
			/* best effort: flush replies already queued */
			conn_flush(sv, (uint32_t)i);
			if (sv->conns[i].fd >= 0)
				conn_close(sv, (uint32_t)i);
		}
	}
	supervise_free(&sv->sup);
out_fds:
	if (sv->sfd >= 0)
		close(sv->sfd);
	if (sv->tfd >= 0)
		close(sv->tfd);
	if (sv->efd >= 0)
		close(sv->efd);
	if (sv->epfd >= 0)
		close(sv->epfd);
	if (sv->lfd >= 0) {
		close(sv->lfd);
		unlink(cfg->socket_path);
	}
out_shm:
	shm_destroy(&sv->shm);
out_store:
	store_close(&sv->store);
out_slots:
	free(sv->slots);
out_unlock:
	if (sv->lockfd >= 0)
		close(sv->lockfd);
out_log:
	if (status)
		log_error("%s", err[0] ? err : "start-up failed");
	else
		log_info("stopped");
	free(sv->conns);
	free(sv);
	return status;
}
