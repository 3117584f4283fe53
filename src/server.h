/*
 * server — forqd's event thread: the Unix socket, peer checks, NDJSON
 * framing, per-connection buffers, and the epoll loop that also watches the
 * workers' pidfds, the store's eventfd, a timer and signals.
 *
 * One thread serves every client without blocking: sockets are
 * non-blocking and edge-triggered, each connection has an input buffer (at most max_msg bytes
 * of one line) and an output buffer.  Requests on a connection are answered
 * in order: while one waits for the store (TASK_SUBMIT) or for tasks to end
 * (TASK_WAIT), the connection's further lines stay buffered.  A line longer
 * than max_msg is answered with TOO_LARGE and the rest of it is discarded;
 * the connection, and everyone else, keeps being served.  A client that
 * disconnects mid-message leaves nothing behind.
 *
 * Security: the socket's directory is created 0700, the socket is 0600,
 * and every accepted peer's uid (SO_PEERCRED) must equal forqd's.
 */
#ifndef FORQ_SERVER_H
#define FORQ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm.h"
#include "store.h"
#include "supervise.h"
#include "task.h"

struct conn {
	int fd;                  /* -1 = free slot */
	uint32_t gen;            /* bumped on every reuse of the slot */
	char *in;                /* unprocessed input */
	size_t in_len, in_cap;
	char *out;               /* pending output */
	size_t out_len, out_off, out_cap;
	bool busy;               /* a request awaits an asynchronous reply */
	bool discarding;         /* dropping the rest of an oversized line */
	bool eof;                /* the peer closed its side */
	bool registered;         /* fd is in the epoll set */
	bool unread;             /* the socket may hold input not read yet (busy) */
};

struct waiter {
	struct waiter *next;
	uint32_t slot, gen;      /* the connection */
	uint64_t *ids;           /* awaited ids (NULL for all) */
	size_t n, pos;           /* ids[pos..] not yet seen terminal */
	bool all;                /* wait for an empty queue */
	uint64_t deadline_ns;    /* CLOCK_MONOTONIC; answer incomplete then */
	uint64_t counts[TASK_STATE__COUNT]; /* terminal states seen */
	uint64_t gen_checked;    /* store generation at the last check */
};

struct server_config {
	char state_dir[4096];
	char socket_path[108];
	size_t max_msg;          /* bytes of one request line */
	bool nosync;
	unsigned workers;        /* 0 = one per core */
	char *cpus;              /* --cpus list or NULL */
	uint64_t ring_size;      /* slots per task ring */
	char log_level[16];
	unsigned shutdown_grace_ms;
	uint64_t aging_ns;       /* 0 = off */
	uint64_t hang_ns;        /* 0 = off */
	char **plugins;          /* --plugin paths */
	unsigned nplugins;
	char *plugin_dir;        /* --plugin-dir, or NULL */
	size_t max_result;       /* bytes of one task's result */
	size_t kernel_mem;       /* memory a kernel should stay under; 0 = default */
};

struct server {
	struct server_config cfg;
	int lfd;                 /* listening socket */
	int epfd;                /* epoll */
	int efd;                 /* store -> event thread eventfd */
	int tfd;                 /* periodic timer */
	int sfd;                 /* signalfd */
	int lockfd;              /* <state>/lock, flock'ed */
	struct conn *conns;
	size_t nconns;
	struct waiter *waiters;
	struct store store;
	struct shm shm;
	struct supervisor sup;
	struct topo_slot *slots;
	unsigned nslots;
	uint64_t start_ns;       /* CLOCK_MONOTONIC */
	uint64_t rate_ns[11];    /* samples of (time, finished) for tasks/s */
	uint64_t rate_fin[11];
	unsigned rate_i;
	bool stop;               /* leave the loop */
	char sup_plugin_dir[4200]; /* the plug-in directory in use */
	uint64_t tick_ns;        /* the timer's period now */
};

/* server_run - the whole daemon: set up, serve until stopped, tear down.
 * Returns the process exit status (0 clean, 1 start-up failure). */
int server_run(struct server_config *cfg);

/* server_send - queue @line (malloc'd, ownership taken) on connection @slot. */
void server_send(struct server *sv, uint32_t slot, char *line, size_t len);

/* server_conn - the connection at @slot if its generation is @gen, else NULL. */
struct conn *server_conn(struct server *sv, uint32_t slot, uint32_t gen);

/* server_tick_rate - set the timer's period for what needs watching now. */
void server_tick_rate(struct server *sv);

/* server_resume - a busy connection got its reply: process its buffered lines. */
void server_resume(struct server *sv, uint32_t slot);

#endif
