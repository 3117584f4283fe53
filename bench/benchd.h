/*
 * benchd — a benchmark's own forqd, and its client side.
 *
 * What it owns: one forqd per struct benchd, started from a private
 * mkdtemp(3) directory (TMPDIR, else /tmp) that holds its state, its
 * socket and its log (forqd's stderr), and removed with everything in it
 * when the run is over; the calls a bench program makes to that forqd;
 * and the few things every bench program's command line needs (locating
 * forqd, parsing a number option).
 *
 * Who calls it: the programs in bench/ (bench/ring, which needs no
 * daemon, only benchd_parse_u64()), from their main thread, one struct
 * benchd at a time or several in turn.  Each program that starts a forqd
 * sets benchd_prog to its name first thing in main().
 *
 * Invariants: a struct benchd's pid is 0 exactly when no forqd of ours is
 * running (or it has been reaped); its dir is "" exactly when there is no
 * directory to remove.  Workers outlive a killed forqd by design
 * (forqd(8)), so benchd_cleanup() also kills every process whose command
 * line names our private state directory.  The forqd child gets
 * PR_SET_PDEATHSIG, so a bench killed by run.sh's timeout does not leave
 * it behind.
 *
 * Printing: unlike a library module, this one prints why a run failed to
 * stderr, as "PROG: what: why", because every caller would print the same
 * thing; the functions say which of their errors are already printed.
 * Nothing here writes to stdout, which the programs keep for their tables
 * and JSON documents.
 */
#ifndef FORQ_BENCH_BENCHD_H
#define FORQ_BENCH_BENCHD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"

#define BENCHD_START_MS 10000	/* wait this long for forqd's socket */
#define BENCHD_STOP_MS 30000	/* wait this long for forqd to exit */
#define BENCHD_STALL_ROUNDS 120 /* give up when no task finished in this many waits */

/*
 * The program's name, the first word of every message this module prints
 * ("scaling: ..."); a borrowed string that must outlive every call.  Set
 * by main() before any other call; "bench" until then.
 */
extern const char *benchd_prog;

/* One forqd of our own, and the temporary directory it lives in. */
struct benchd {
	pid_t pid;		 /* 0 when not running */
	char dir[PATH_MAX - 16]; /* mkdtemp'd; state, socket, log */
	char state[PATH_MAX];	 /* dir/state */
	char sock[PATH_MAX];	 /* dir/sock */
	char log[PATH_MAX];	 /* dir/forqd.log: forqd's stderr */
};

/*
 * benchd_start - make a temporary directory and start forqd in it.
 * @d:     out: filled in (zeroed first); the caller owns what it names and
 *         gives it back with benchd_cleanup() or benchd_stop().
 * @forqd: the forqd program to exec; borrowed.
 * @extra: more arguments after --state DIR/state --socket DIR/sock
 *         --log-level warn: NULL-terminated, at most 8 strings (e.g.
 *         "--sync", "nosync", "--workers", "1"), or NULL; borrowed.
 *
 * Returns 0 (forqd is forked; it may still fail to start: see
 * benchd_connect()), or -errno, not printed:
 *   -ENAMETOOLONG  TMPDIR is too long for the paths inside it;
 *   -EACCES, -ENOENT, ...  mkdtemp(3) failed;
 *   -EAGAIN, -ENOMEM       fork(2) failed; the directory is removed again.
 * Main thread only: it forks.
 */
int benchd_start(struct benchd *d, const char *forqd, const char *const *extra);

/*
 * benchd_connect - wait up to BENCHD_START_MS for forqd's socket and
 * connect to it.
 * @d:   a daemon benchd_start() started.
 * @out: out: the client, owned by the caller (forq_client_close()).
 *
 * Returns 0, or, not printed:
 *   -ECHILD     forqd exited (it is reaped: @d->pid is 0; its log says why);
 *   -ETIMEDOUT  no socket after BENCHD_START_MS;
 *   -errno      forq_client_connect() failed otherwise.
 */
int benchd_connect(struct benchd *d, struct forq_client **out);

/*
 * benchd_up - benchd_start() then benchd_connect().
 * @d, @forqd, @extra: as benchd_start(); @c: as benchd_connect()'s @out.
 *
 * Returns 0, or -EIO: the failure, and the end of forqd's log when forqd
 * had started, are printed, and @d is cleaned up (nothing to give back).
 */
int benchd_up(struct benchd *d, const char *forqd, const char *const *extra,
	      struct forq_client **c);

/*
 * benchd_stop - stop forqd and wait for it: SHUTDOWN over @c, or SIGTERM
 * when @c is NULL or the call fails; SIGKILL after BENCHD_STOP_MS.
 * @d: a started daemon; its directory stays (benchd_cleanup() removes it).
 * @c: a client of @d, or NULL; not closed here.
 *
 * Returns 0 when forqd exited with status 0, else -EIO: not running, had
 * to be killed, or exited abnormally (the last two printed).
 */
int benchd_stop(struct benchd *d, struct forq_client *c);

/*
 * benchd_cleanup - kill forqd and the workers it left if it still runs,
 * and remove the directory.  Idempotent; cannot fail (best effort).
 */
void benchd_cleanup(struct benchd *d);

/* benchd_show_log - print the end of forqd's log to stderr (4 KiB at most). */
void benchd_show_log(const struct benchd *d);

/*
 * benchd_find_forqd - the forqd to run: @given, or else the forqd next to
 * this program (dirname(/proc/self/exe)/../forqd, resolved into @buf).
 * @out: out: @given or @buf, checked to be executable.
 *
 * Returns 0, or -1 when there is none or it is not executable (printed).
 */
int benchd_find_forqd(const char *given, char buf[PATH_MAX], const char **out);

/*
 * benchd_call - send one request line, already serialised, and wait for
 * the reply (forq_client_call_raw()).
 * @type:  the request type inside @line, for the reply check and messages.
 * @reply: out (may be NULL): the reply's data, owned by the caller
 *         (cJSON_Delete); NULL on failure.  Dropped when @reply is NULL.
 * @quiet: do not print a failure.
 *
 * Returns 0, or the enum forq_err (printed as "PROG: TYPE: message (code)"
 * unless @quiet).
 */
int benchd_call(struct forq_client *c, const char *type, const char *line, cJSON **reply,
		bool quiet);

/*
 * benchd_wait_all - TASK_WAIT {"all":true,"timeout":1} until forqd reports
 * every task complete; give up after BENCHD_STALL_ROUNDS rounds in a row in
 * which no task finished.
 * Returns 0, or -EIO: a call failed or the tasks stalled (printed).
 */
int benchd_wait_all(struct forq_client *c);

/* benchd_num - the number field @name of @o (may be NULL), or @dflt. */
double benchd_num(const cJSON *o, const char *name, double dflt);

/*
 * benchd_stats_num - one number from a STATS call: a top-level field
 * ("commits"), or one level down ("counts.DONE"); 0 when absent.
 * Returns 0, or -EIO when the call failed (printed).
 */
int benchd_stats_num(struct forq_client *c, const char *name, double *out);

/*
 * benchd_parse_u64 - @s as a decimal integer in [@min, @max] into *@out.
 * Returns false (and leaves *@out) for NULL, "", a sign, trailing bytes, or
 * a value out of range.
 */
bool benchd_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* benchd_sleep_ms - sleep @ms milliseconds, resuming after signals. */
void benchd_sleep_ms(long ms);

/*
 * benchd_rm_tree - remove @dir and everything below it, best effort
 * (no links are followed).  Cannot fail: what cannot be removed stays.
 */
void benchd_rm_tree(const char *dir);

#endif
