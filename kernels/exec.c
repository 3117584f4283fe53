/*
 * exec — the kernel that runs a command: argv, directly, never via a shell.
 *
 * prepare() (forqd, at submit) validates
 *     {"argv": ["prog", "arg", ...], "env": {"KEY": "VALUE", ...}, "cwd": "/abs"}
 * ("env" and "cwd" optional, no other field) and packs it into the blob
 * below.  run() (a worker) unpacks it, spawns the command with posix_spawnp,
 * waits on its pidfd while beating the heartbeat, stops its process group at
 * the deadline or on cancel, reaps it with wait4 and reports its status and
 * rusage.
 *
 * Blob, format version 1; every integer little-endian:
 *     off  size
 *     0    1     version, 1
 *     1    1     flags: bit 0 = a cwd string follows the env strings; others 0
 *     2    2     reserved, 0
 *     4    4     argc, >= 1
 *     8    4     envc
 *     12         argc strings, then envc strings "KEY=VALUE", then the cwd
 * A string is a u32 byte count and that many bytes: no terminator, no NUL.
 * The blob ends right after its last string.  run() refuses anything else
 * (short, trailing bytes, unknown version or flags, a NUL in a string, an
 * empty argv[0], an env string without a non-empty "KEY=", a relative cwd)
 * with FAILED "bad_blob" before it spawns anything.
 *
 * The child is set up in this order (glibc's posix_spawn applies the
 * attributes, then the file actions in the order added, then the mask):
 *   1. every signal back to SIG_DFL (SETSIGDEF, full set): the worker's
 *      handlers and ignores (SIGPIPE, SIGCHLD, SIGTERM, ...) do not leak;
 *   2. a new process group led by the child (SETPGROUP, pgid 0), so one
 *      kill(-pgid) reaches everything the command starts;
 *   3. fd 0 from /dev/null;
 *   4. fd 1 to <log_dir>/<task_id>.out and fd 2 to <log_dir>/<task_id>.err
 *      (O_WRONLY|O_CREAT|O_TRUNC, 0600; both /dev/null when log_dir is
 *      NULL), opened before step 6 so that a relative log_dir means the
 *      worker's directory.  No O_CLOEXEC here: the open happens in the child,
 *      and it would close the very fd being set up when open() returns it;
 *   5. every fd from 3 up closed, whatever the worker forgot to mark CLOEXEC;
 *   6. chdir to cwd, when given (a relative argv[0] with a '/' is then
 *      relative to it);
 *   7. the signal mask emptied (SETSIGMASK), right before the exec;
 *   8. exec of argv[0], searched like execvp in the *worker's* PATH, with
 *      the worker's environ, then the env additions (replacing same keys),
 *      then FORQ_TASK_ID, FORQ_CPU and FORQ_ATTEMPT (which prepare() does
 *      not let env override).
 * The child inherits the worker's CPU affinity, so it runs on the worker's
 * core, and its rlimits.
 *
 * Waiting: ppoll on the pidfd, waking at least every EXEC_SLICE_NS to beat.
 * At the deadline or on cancel: SIGTERM then SIGCONT (a stopped command gets
 * to handle the TERM) to the group and, through the pidfd, to the child even
 * if it left the group; after EXEC_GRACE_NS, SIGKILL the same way.  When the
 * child has exited after such a stop, SIGKILL goes to the group once more,
 * before the reap: the child is then a zombie that still pins its pgid, so
 * the signal cannot reach a stranger, and nothing of the group survives.
 * A command that exits on its own keeps its background processes (nohup
 * semantics).  wait4 on the child's pid, never -1, collects status and
 * rusage (the child and the descendants it reaped).
 *
 * ASSUMPTION: the worker leaves SIGCHLD at SIG_DFL, without SA_NOCLDWAIT, and
 * never reaps with wait(-1): otherwise the kernel reaps the child before
 * wait4 and its status is lost.  run() refuses to start when SIGCHLD is
 * ignored ("sigchld_ignored"), and reports "status lost" when somebody else
 * reaped the child.  A SIGCHLD handler that does not reap is harmless (EINTR
 * is retried everywhere).
 *
 * Outcomes (exit_code is -1 when no command ran):
 *   DONE       exited 0; reason ""
 *   FAILED     "exit N" (exit_code N), "signal N" (exit_code 128+N,
 *              term_signal N), "spawn: <strerror>" (exit_code 127, also
 *              written to the .err log), "bad_blob", "out of memory",
 *              "sigchld_ignored", "pidfd: <strerror>", "status lost"
 *   TIMEOUT    "timeout": the deadline passed before the command ended
 *   CANCELLED  "cancelled": the cancel word was set before it ended
 * When the deadline has passed or the cancel word is set before the spawn,
 * nothing is spawned (TIMEOUT / CANCELLED, exit_code -1).  Result, whenever
 * a command ran: {"exit_code":N}, plus "signal":S when a signal ended it.
 * user_us / sys_us / maxrss_kb come from wait4's rusage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "kernel.h"
#include "sys.h"

#define EXEC_BLOB_VERSION 1
#define EXEC_HDR_LEN      12
#define EXEC_F_CWD        0x01u
#define EXEC_ENV_MAX      1024u               /* env additions per task */
#define EXEC_SLICE_NS     100000000u          /* longest wait between beats */
#define EXEC_GRACE_NS     500000000u          /* SIGTERM .. SIGKILL */
#define EXEC_LOG_MODE     0600
#define EXEC_LOG_FLAGS    (O_WRONLY | O_CREAT | O_TRUNC)  /* no O_CLOEXEC: see step 4 */

/* run()'s view of a blob; every string lives in @mem. */
struct exec_args {
	uint32_t argc;            /* >= 1 */
	uint32_t envc;            /* env additions */
	char **argv;              /* argc entries + NULL */
	char **env;               /* envc "KEY=VALUE" entries + NULL */
	char *cwd;                /* absolute, or NULL to inherit */
	char *mem;                /* the strings, NUL-terminated; one allocation */
	char **subst;             /* argc entries: malloc'd "{}"-substituted args, or NULL */
};

/* How the wait ended: on its own, or because forq stopped the command. */
enum exec_stop {
	EXEC_STOP_NONE = 0,
	EXEC_STOP_TIMEOUT,
	EXEC_STOP_CANCEL,
};

static const char *const exec_reserved_env[] = { "FORQ_TASK_ID", "FORQ_CPU", "FORQ_ATTEMPT",
						   "FORQ_ARRAY_INDEX" };

/* ---- blob ---------------------------------------------------------------- */

static void
exec_le32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
exec_le32_get(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Append one string (in up to two parts: key "=" value is three) at @p. */
static unsigned char *
exec_put_str(unsigned char *p, const char *a, const char *sep, const char *b)
{
	size_t la = strlen(a), ls = sep ? strlen(sep) : 0, lb = b ? strlen(b) : 0;

	exec_le32_put(p, (uint32_t)(la + ls + lb));
	p += 4;
	memcpy(p, a, la);
	p += la;
	if (ls) {
		memcpy(p, sep, ls);
		p += ls;
	}
	if (lb) {
		memcpy(p, b, lb);
		p += lb;
	}
	return p;
}

/* Add @n bytes to the running blob size @sz; false once it passes KBLOB_MAX. */
static bool
exec_grow(size_t *sz, size_t n)
{
	if (n > KBLOB_MAX || *sz > KBLOB_MAX - n)
		return false;
	*sz += n;
	return true;
}

static bool
exec_env_reserved(const char *key, size_t klen)
{
	for (size_t i = 0; i < sizeof exec_reserved_env / sizeof exec_reserved_env[0]; i++)
		if (strlen(exec_reserved_env[i]) == klen &&
		    memcmp(exec_reserved_env[i], key, klen) == 0)
			return true;
	return false;
}

/*
 * Validate @args and work out the blob's size.  Every cJSON string below is
 * borrowed from @args and read only while @args lives (this call and the
 * packing after it).
 */
static int
exec_check(const cJSON *args, const cJSON **argvp, const cJSON **envp, const cJSON **cwdp,
	   size_t *size, char *err, size_t errlen)
{
	const cJSON *argv = NULL, *env = NULL, *cwd = NULL, *f, *g;
	size_t sz = EXEC_HDR_LEN;
	unsigned i, n;
	struct stat st;

	if (args == NULL || cJSON_IsNull(args)) {
		snprintf(err, errlen, "\"argv\" is required");
		return -EINVAL;
	}
	if (!cJSON_IsObject(args)) {
		snprintf(err, errlen, "args must be an object");
		return -EINVAL;
	}
	cJSON_ArrayForEach(f, args) {
		const cJSON **slot;

		if (f->string != NULL && strcmp(f->string, "argv") == 0)
			slot = &argv;
		else if (f->string != NULL && strcmp(f->string, "env") == 0)
			slot = &env;
		else if (f->string != NULL && strcmp(f->string, "cwd") == 0)
			slot = &cwd;
		else {
			snprintf(err, errlen, "unknown field \"%s\"", f->string ? f->string : "");
			return -EINVAL;
		}
		if (*slot != NULL) {
			snprintf(err, errlen, "duplicate field \"%s\"", f->string);
			return -EINVAL;
		}
		*slot = f;
	}

	if (argv == NULL || !cJSON_IsArray(argv) || argv->child == NULL) {
		snprintf(err, errlen, "\"argv\" must be a non-empty array of strings");
		return -EINVAL;
	}
	i = 0;
	cJSON_ArrayForEach(f, argv) {
		if (!cJSON_IsString(f) || f->valuestring == NULL) {
			snprintf(err, errlen, "argv[%u] must be a string", i);
			return -EINVAL;
		}
		if (i == 0 && f->valuestring[0] == '\0') {
			snprintf(err, errlen, "argv[0] must not be empty");
			return -EINVAL;
		}
		if (!exec_grow(&sz, 4) || !exec_grow(&sz, strlen(f->valuestring)))
			goto too_large;
		i++;
	}

	if (env != NULL) {
		if (!cJSON_IsObject(env)) {
			snprintf(err, errlen, "\"env\" must be an object of strings");
			return -EINVAL;
		}
		n = 0;
		cJSON_ArrayForEach(f, env) {
			const char *k = f->string ? f->string : "";

			if (++n > EXEC_ENV_MAX) {
				snprintf(err, errlen, "\"env\" has more than %u entries",
					 EXEC_ENV_MAX);
				return -EINVAL;
			}
			if (k[0] == '\0' || strchr(k, '=') != NULL) {
				snprintf(err, errlen,
					 "env key \"%s\" must be non-empty and without '='", k);
				return -EINVAL;
			}
			if (exec_env_reserved(k, strlen(k))) {
				snprintf(err, errlen, "env key \"%s\" is set by forq", k);
				return -EINVAL;
			}
			if (!cJSON_IsString(f) || f->valuestring == NULL) {
				snprintf(err, errlen, "env \"%s\" must be a string", k);
				return -EINVAL;
			}
			for (g = env->child; g != f; g = g->next) {
				if (strcmp(g->string, k) == 0) {
					snprintf(err, errlen, "duplicate env key \"%s\"", k);
					return -EINVAL;
				}
			}
			if (!exec_grow(&sz, 5) || !exec_grow(&sz, strlen(k)) ||
			    !exec_grow(&sz, strlen(f->valuestring)))
				goto too_large;
		}
	}

	if (cwd != NULL) {
		if (!cJSON_IsString(cwd) || cwd->valuestring == NULL ||
		    cwd->valuestring[0] != '/') {
			snprintf(err, errlen, "\"cwd\" must be an absolute path");
			return -EINVAL;
		}
		/* Checked at submit, as forq kernels lists it (a path): a
		 * missing directory is refused now, not discovered at spawn. */
		if (stat(cwd->valuestring, &st) < 0 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "\"cwd\": %s: %s", cwd->valuestring,
				 stat(cwd->valuestring, &st) < 0 ? strerror(errno) : "not a directory");
			return -EINVAL;
		}
		if (!exec_grow(&sz, 4) || !exec_grow(&sz, strlen(cwd->valuestring)))
			goto too_large;
	}

	*argvp = argv;
	*envp = env;
	*cwdp = cwd;
	*size = sz;
	return 0;

too_large:
	snprintf(err, errlen, "arguments exceed %u bytes", KBLOB_MAX);
	return -EINVAL;
}

static int
exec_prepare(const cJSON *args, struct kbuf *out, char *err, size_t errlen)
{
	const cJSON *argv, *env, *cwd, *f;
	unsigned char *p;
	uint32_t argc = 0, envc = 0;
	size_t size;
	int rc;

	out->data = NULL;
	out->len = 0;
	rc = exec_check(args, &argv, &env, &cwd, &size, err, errlen);
	if (rc < 0)
		return rc;
	out->data = malloc(size);
	if (out->data == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p = out->data + EXEC_HDR_LEN;
	cJSON_ArrayForEach(f, argv) {
		p = exec_put_str(p, f->valuestring, NULL, NULL);
		argc++;
	}
	if (env != NULL) {
		cJSON_ArrayForEach(f, env) {
			p = exec_put_str(p, f->string, "=", f->valuestring);
			envc++;
		}
	}
	if (cwd != NULL)
		p = exec_put_str(p, cwd->valuestring, NULL, NULL);

	out->data[0] = EXEC_BLOB_VERSION;
	out->data[1] = cwd != NULL ? EXEC_F_CWD : 0;
	out->data[2] = 0;
	out->data[3] = 0;
	exec_le32_put(out->data + 4, argc);
	exec_le32_put(out->data + 8, envc);
	out->len = (size_t)(p - out->data);
	/* exec_check() sized it; a mismatch is a bug here, not bad input */
	if (out->len != size) {
		free(out->data);
		out->data = NULL;
		out->len = 0;
		snprintf(err, errlen, "internal error packing exec args");
		return -EINVAL;
	}
	return 0;
}

static void
exec_args_free(struct exec_args *a)
{
	if (a->subst) {
		for (uint32_t i = 0; i < a->argc; i++)
			free(a->subst[i]);
		free(a->subst);
	}
	free(a->argv);
	free(a->env);
	free(a->mem);
	memset(a, 0, sizeof *a);
}

/* Read one string at *@off into @m (NUL-terminated there).  NULL if garbled. */
static char *
exec_get_str(const unsigned char *b, size_t len, size_t *off, char **m)
{
	uint32_t n;
	char *s = *m;

	if (len - *off < 4)
		return NULL;
	n = exec_le32_get(b + *off);
	*off += 4;
	if (n > len - *off || memchr(b + *off, '\0', n) != NULL)
		return NULL;
	memcpy(s, b + *off, n);
	s[n] = '\0';
	*off += n;
	*m = s + n + 1;
	return s;
}

/*
 * Unpack @len bytes at @blob into @a.  0, -EINVAL for a garbled blob,
 * -ENOMEM.  On success the caller frees @a with exec_args_free().
 */
static int
exec_unpack(const void *blob, size_t len, struct exec_args *a)
{
	const unsigned char *b = blob;
	size_t off = EXEC_HDR_LEN;
	uint64_t nstr;
	char *m, *eq;
	uint32_t i;

	memset(a, 0, sizeof *a);
	if (b == NULL || len < EXEC_HDR_LEN || len > KBLOB_MAX)
		return -EINVAL;
	if (b[0] != EXEC_BLOB_VERSION || (b[1] & ~EXEC_F_CWD) != 0 || b[2] != 0 || b[3] != 0)
		return -EINVAL;
	a->argc = exec_le32_get(b + 4);
	a->envc = exec_le32_get(b + 8);
	nstr = (uint64_t)a->argc + a->envc + ((b[1] & EXEC_F_CWD) ? 1 : 0);
	/* each string takes at least its 4-byte count: bounds the allocations */
	if (a->argc == 0 || nstr > (len - EXEC_HDR_LEN) / 4)
		return -EINVAL;

	a->argv = calloc((size_t)a->argc + 1, sizeof *a->argv);
	a->env = calloc((size_t)a->envc + 1, sizeof *a->env);
	/* the string bytes plus one NUL each fit in len */
	a->mem = malloc(len);
	if (a->argv == NULL || a->env == NULL || a->mem == NULL) {
		exec_args_free(a);
		return -ENOMEM;
	}
	m = a->mem;
	for (i = 0; i < a->argc; i++)
		if ((a->argv[i] = exec_get_str(b, len, &off, &m)) == NULL)
			goto bad;
	if (a->argv[0][0] == '\0')
		goto bad;
	for (i = 0; i < a->envc; i++) {
		if ((a->env[i] = exec_get_str(b, len, &off, &m)) == NULL)
			goto bad;
		eq = strchr(a->env[i], '=');
		if (eq == NULL || eq == a->env[i])
			goto bad;
	}
	if (b[1] & EXEC_F_CWD) {
		if ((a->cwd = exec_get_str(b, len, &off, &m)) == NULL || a->cwd[0] != '/')
			goto bad;
	}
	if (off != len)
		goto bad;
	return 0;

bad:
	exec_args_free(a);
	return -EINVAL;
}

/* ---- run ----------------------------------------------------------------- */

/*
 * Arrays: replace every "{}" in the arguments with the task's index.  The
 * substituted strings are malloc'd into a->subst and freed with the args.
 * 0 or -ENOMEM.
 */
static int
exec_substitute(struct exec_args *a, int64_t index)
{
	char num[24];
	size_t nl = (size_t)snprintf(num, sizeof num, "%" PRId64, index);

	a->subst = calloc(a->argc, sizeof *a->subst);
	if (a->subst == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->argc; i++) {
		const char *p = a->argv[i], *q;
		size_t n = 0, len;
		char *o, *w;

		for (q = strstr(p, "{}"); q != NULL; q = strstr(q + 2, "{}"))
			n++;
		if (n == 0)
			continue;
		len = strlen(p) - 2 * n + nl * n;
		o = malloc(len + 1);
		if (o == NULL)
			return -ENOMEM;
		for (w = o; (q = strstr(p, "{}")) != NULL; p = q + 2) {
			memcpy(w, p, (size_t)(q - p));
			w += q - p;
			memcpy(w, num, nl);
			w += nl;
		}
		strcpy(w, p);
		a->subst[i] = o;
		a->argv[i] = o;
	}
	return 0;
}

static bool
exec_cancelled(const struct kctx *ctx)
{
	/* relaxed: a lone flag, nothing is published with it; a late read only delays the stop */
	return ctx->cancel != NULL && atomic_load_explicit(ctx->cancel, memory_order_relaxed) != 0;
}

static void
exec_beat(const struct kctx *ctx)
{
	if (ctx->beat != NULL)
		ctx->beat(ctx->beat_arg);
}

/* True when environ entry @e has a key that @a's additions or forq replace. */
static bool
exec_env_replaced(const char *e, const struct exec_args *a)
{
	const char *eq = strchr(e, '=');
	size_t klen;

	if (eq == NULL)
		return false;
	klen = (size_t)(eq - e);
	if (exec_env_reserved(e, klen))
		return true;
	for (uint32_t i = 0; i < a->envc; i++)
		if (strncmp(a->env[i], e, klen) == 0 && a->env[i][klen] == '=')
			return true;
	return false;
}

/*
 * The child's environment: environ minus replaced keys, the additions, and
 * forq's three variables, written into @ids (3 x 32 bytes).  The array is
 * malloc'd; its strings are borrowed.  NULL when out of memory.
 */
static char **
exec_env_build(const struct kctx *ctx, const struct exec_args *a, char ids[4][40])
{
	size_t n0 = 0, k = 0;
	char **envp;

	for (char **e = environ; e != NULL && *e != NULL; e++)
		n0++;
	envp = malloc((n0 + a->envc + 4 + 1) * sizeof *envp);
	if (envp == NULL)
		return NULL;
	for (size_t i = 0; i < n0; i++)
		if (!exec_env_replaced(environ[i], a))
			envp[k++] = environ[i];
	for (uint32_t i = 0; i < a->envc; i++)
		envp[k++] = a->env[i];
	snprintf(ids[0], 40, "FORQ_TASK_ID=%" PRIu64, ctx->task_id);
	snprintf(ids[1], 40, "FORQ_CPU=%d", ctx->cpu);
	snprintf(ids[2], 40, "FORQ_ATTEMPT=%" PRIu32, ctx->attempt);
	envp[k++] = ids[0];
	envp[k++] = ids[1];
	envp[k++] = ids[2];
	if (ctx->array_index >= 0) {
		snprintf(ids[3], 40, "FORQ_ARRAY_INDEX=%" PRId64, ctx->array_index);
		envp[k++] = ids[3];
	}
	envp[k] = NULL;
	return envp;
}

static int
exec_log_path(char *buf, size_t len, const struct kctx *ctx, const char *ext)
{
	int n;

	if (ctx->log_dir == NULL)
		n = snprintf(buf, len, "/dev/null");
	else
		n = snprintf(buf, len, "%s/%02x/%" PRIu64 ".%s", ctx->log_dir,
			     (unsigned)(ctx->task_id & 0xff), ctx->task_id, ext);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/*
 * Spawn the command, set up as the file's opening comment lists.  0 with
 * *@pid set, or -errno: from posix_spawnp (the exec's or a file action's
 * failure, reported by glibc, which has then reaped the child), or
 * -ENAMETOOLONG / -ENOMEM from here.
 */
static int
exec_spawn(const struct kctx *ctx, const struct exec_args *a, pid_t *pid)
{
	char out_path[PATH_MAX], err_path[PATH_MAX];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	char ids[4][40];
	char **envp;
	int rc;

	if ((rc = exec_log_path(out_path, sizeof out_path, ctx, "out")) < 0 ||
	    (rc = exec_log_path(err_path, sizeof err_path, ctx, "err")) < 0)
		return rc;
	envp = exec_env_build(ctx, a, ids);
	if (envp == NULL)
		return -ENOMEM;
	rc = posix_spawnattr_init(&attr);
	if (rc != 0)
		goto out_env;
	rc = posix_spawn_file_actions_init(&fa);
	if (rc != 0)
		goto out_attr;

	/* steps 1, 2, 7 of the opening comment: attributes */
	sigfillset(&all);
	sigemptyset(&none);
	if ((rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						      POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (rc = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (rc = posix_spawnattr_setsigmask(&attr, &none)) != 0)
		goto out_fa;
	/* steps 3-6: file actions, run in this order */
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_addopen(&fa, 1, out_path, EXEC_LOG_FLAGS,
						   EXEC_LOG_MODE)) != 0 ||
	    (rc = posix_spawn_file_actions_addopen(&fa, 2, err_path, EXEC_LOG_FLAGS,
						   EXEC_LOG_MODE)) != 0)
		goto out_fa;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	if ((rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0)
		goto out_fa;
#endif
	if (a->cwd != NULL && (rc = posix_spawn_file_actions_addchdir_np(&fa, a->cwd)) != 0)
		goto out_fa;
	/* step 8; returns only once the child has exec'd or failed (CLONE_VFORK) */
	rc = posix_spawnp(pid, a->argv[0], &fa, &attr, a->argv, envp);

out_fa:
	posix_spawn_file_actions_destroy(&fa);
out_attr:
	posix_spawnattr_destroy(&attr);
out_env:
	free(envp);
	return -rc;
}

/* Send @sig to the command's group and, through its pidfd, to the command. */
static void
exec_signal(pid_t pgid, int pidfd, int sig)
{
	/* errors are expected (ESRCH: already gone) and change nothing */
	if (pidfd >= 0)
		(void)sys_pidfd_send_signal(pidfd, sig);
	(void)kill(-pgid, sig);
}

/*
 * Wait until the child has exited (its pidfd is readable), beating the
 * heartbeat, and stop it at the deadline or on cancel.  Returns why forq
 * stopped it, or EXEC_STOP_NONE when it ended by itself.  The child is not
 * reaped.
 */
static enum exec_stop
exec_wait(const struct kctx *ctx, pid_t pid, int pidfd)
{
	enum exec_stop why = EXEC_STOP_NONE;
	uint64_t kill_at = 0;        /* CLOCK_MONOTONIC of the SIGKILL; 0 = not pending */
	uint64_t now, wake;
	struct pollfd p;
	struct timespec ts;
	int r;

	for (;;) {
		now = sys_now_ns();
		if (why == EXEC_STOP_NONE) {
			if (exec_cancelled(ctx))
				why = EXEC_STOP_CANCEL;
			else if (ctx->deadline_ns != 0 && now >= ctx->deadline_ns)
				why = EXEC_STOP_TIMEOUT;
			if (why != EXEC_STOP_NONE) {
				exec_signal(pid, pidfd, SIGTERM);
				exec_signal(pid, pidfd, SIGCONT);
				kill_at = now + EXEC_GRACE_NS;
			}
		} else if (kill_at != 0 && now >= kill_at) {
			exec_signal(pid, pidfd, SIGKILL);
			kill_at = 0;
		}

		wake = now + EXEC_SLICE_NS;
		if (why == EXEC_STOP_NONE && ctx->deadline_ns != 0 && ctx->deadline_ns < wake)
			wake = ctx->deadline_ns;
		if (kill_at != 0 && kill_at < wake)
			wake = kill_at;
		ts.tv_sec = (time_t)((wake - now) / 1000000000u);
		ts.tv_nsec = (long)((wake - now) % 1000000000u);
		p.fd = pidfd;
		p.events = POLLIN;
		p.revents = 0;
		r = ppoll(&p, 1, &ts, NULL);
		if (r > 0)
			return why;
		if (r < 0 && errno != EINTR) {
			/* cannot poll (ENOMEM): wait out the slice instead of spinning */
			(void)clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		}
		exec_beat(ctx);
	}
}

/* Fill exit_code, term_signal, reason, result from a wait status. */
static enum kernel_outcome
exec_status(struct kctx *ctx, int status, enum exec_stop why)
{
	enum kernel_outcome o;
	int n;

	if (WIFSIGNALED(status)) {
		ctx->term_signal = WTERMSIG(status);
		ctx->exit_code = 128 + ctx->term_signal;
		snprintf(ctx->reason, sizeof ctx->reason, "signal %d", ctx->term_signal);
		o = KERNEL_FAILED;
	} else {
		ctx->exit_code = WEXITSTATUS(status);
		if (ctx->exit_code == 0) {
			ctx->reason[0] = '\0';
			o = KERNEL_DONE;
		} else {
			snprintf(ctx->reason, sizeof ctx->reason, "exit %d", ctx->exit_code);
			o = KERNEL_FAILED;
		}
	}
	if (why == EXEC_STOP_TIMEOUT) {
		snprintf(ctx->reason, sizeof ctx->reason, "timeout");
		o = KERNEL_TIMEOUT;
	} else if (why == EXEC_STOP_CANCEL) {
		snprintf(ctx->reason, sizeof ctx->reason, "cancelled");
		o = KERNEL_CANCELLED;
	}
	if (ctx->result != NULL) {
		if (ctx->term_signal != 0)
			n = snprintf(ctx->result, ctx->result_cap,
				     "{\"exit_code\":%d,\"signal\":%d}", ctx->exit_code,
				     ctx->term_signal);
		else
			n = snprintf(ctx->result, ctx->result_cap, "{\"exit_code\":%d}",
				     ctx->exit_code);
		if (n > 0 && (size_t)n < ctx->result_cap)
			ctx->result_len = (size_t)n;
	}
	return o;
}

/* Spawn failed: exit_code 127, the reason, and the same line in the .err log. */
static enum kernel_outcome
exec_spawn_failed(struct kctx *ctx, int err)
{
	char path[PATH_MAX], buf[128], line[160];
	/* GNU strerror_r: thread-safe; returns the message, not always in buf */
	const char *msg = strerror_r(err, buf, sizeof buf);
	int fd, n;

	ctx->exit_code = 127;
	snprintf(ctx->reason, sizeof ctx->reason, "spawn: %s", msg);
	n = snprintf(line, sizeof line, "forq: spawn: %s\n", msg);
	if (ctx->log_dir != NULL && exec_log_path(path, sizeof path, ctx, "err") == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, EXEC_LOG_MODE);
		if (fd >= 0) {
			/* best effort: the outcome is already decided */
			while (write(fd, line, (size_t)n) < 0 && errno == EINTR)
				;
			close(fd);
		}
	}
	if (ctx->result != NULL) {
		n = snprintf(ctx->result, ctx->result_cap, "{\"exit_code\":127}");
		if (n > 0 && (size_t)n < ctx->result_cap)
			ctx->result_len = (size_t)n;
	}
	return KERNEL_FAILED;
}

static enum kernel_outcome
exec_fail(struct kctx *ctx, enum kernel_outcome o, const char *reason, int err)
{
	char msg[64];

	ctx->exit_code = -1;
	if (err != 0)
		snprintf(ctx->reason, sizeof ctx->reason, "%s: %s", reason,
			 strerror_r(err, msg, sizeof msg));
	else
		snprintf(ctx->reason, sizeof ctx->reason, "%s", reason);
	return o;
}

static enum kernel_outcome
exec_run(struct kctx *ctx, const void *blob, size_t len)
{
	enum kernel_outcome o;
	enum exec_stop why;
	struct exec_args a;
	struct sigaction sa;
	struct rusage ru;
	pid_t pid, r;
	int rc, pidfd, status;

	ctx->exit_code = -1;
	ctx->term_signal = 0;
	ctx->reason[0] = '\0';
	ctx->result_len = 0;
	ctx->user_us = 0;
	ctx->sys_us = 0;
	ctx->maxrss_kb = 0;

	rc = exec_unpack(blob, len, &a);
	if (rc == -ENOMEM)
		return exec_fail(ctx, KERNEL_FAILED, "out of memory", 0);
	if (rc < 0)
		return exec_fail(ctx, KERNEL_FAILED, "bad_blob", 0);
	if (ctx->array_index >= 0 && exec_substitute(&a, ctx->array_index) < 0) {
		o = exec_fail(ctx, KERNEL_FAILED, "out of memory", 0);
		goto out_args;
	}
	if (sigaction(SIGCHLD, NULL, &sa) == 0 &&
	    (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT))) {
		o = exec_fail(ctx, KERNEL_FAILED, "sigchld_ignored", 0);
		goto out_args;
	}
	if (exec_cancelled(ctx)) {
		o = exec_fail(ctx, KERNEL_CANCELLED, "cancelled", 0);
		goto out_args;
	}
	if (ctx->deadline_ns != 0 && sys_now_ns() >= ctx->deadline_ns) {
		o = exec_fail(ctx, KERNEL_TIMEOUT, "timeout", 0);
		goto out_args;
	}

	rc = exec_spawn(ctx, &a, &pid);
	if (rc < 0) {
		o = exec_spawn_failed(ctx, -rc);
		goto out_args;
	}
	/* the child cannot be reaped but by us, so its pid stays valid: no race */
	pidfd = sys_pidfd_open(pid);
	if (pidfd < 0) {
		/* no way to wait with a timeout: stop it now rather than hang */
		exec_signal(pid, -1, SIGKILL);
		why = EXEC_STOP_NONE;
		rc = pidfd;
	} else {
		why = exec_wait(ctx, pid, pidfd);
		/* the child is a zombie that pins its pgid: this reaches only its group */
		if (why != EXEC_STOP_NONE)
			exec_signal(pid, pidfd, SIGKILL);
		rc = 0;
	}

	do
		r = wait4(pid, &status, 0, &ru);
	while (r < 0 && errno == EINTR);
	if (pidfd >= 0)
		close(pidfd);
	if (r != pid) {
		o = exec_fail(ctx, why == EXEC_STOP_TIMEOUT  ? KERNEL_TIMEOUT :
				   why == EXEC_STOP_CANCEL ? KERNEL_CANCELLED : KERNEL_FAILED,
			      why == EXEC_STOP_TIMEOUT  ? "timeout" :
			      why == EXEC_STOP_CANCEL ? "cancelled" : "status lost", 0);
		goto out_args;
	}
	ctx->user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec;
	ctx->sys_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
	ctx->maxrss_kb = (uint64_t)ru.ru_maxrss;
	if (rc < 0) {
		o = exec_fail(ctx, KERNEL_FAILED, "pidfd", -rc);
		goto out_args;
	}
	o = exec_status(ctx, status, why);

out_args:
	exec_args_free(&a);
	return o;
}

/* describe: {"argv":[...],"env":{...},"cwd":"..."} back from the blob. */
static cJSON *
exec_describe(const void *blob, size_t len)
{
	struct exec_args a;
	cJSON *o, *arr, *env;

	if (exec_unpack(blob, len, &a) < 0)
		return NULL;
	o = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o, "argv");
	for (uint32_t i = 0; i < a.argc; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(a.argv[i]));
	if (a.envc) {
		env = cJSON_AddObjectToObject(o, "env");
		for (uint32_t i = 0; i < a.envc; i++) {
			char *eq = strchr(a.env[i], '=');

			*eq = '\0';
			cJSON_AddStringToObject(env, a.env[i], eq + 1);
		}
	}
	if (a.cwd)
		cJSON_AddStringToObject(o, "cwd", a.cwd);
	exec_args_free(&a);
	return o;
}

/* The registry's entry (kernels/registry.c). */
const struct kernel kernel_exec = {
	.name = "exec",
	.id = KERNEL_ID_EXEC,
	.summary = "run a command {\"argv\":[...],\"env\":{...},\"cwd\":\"/abs\"} "
		   "in its own process group",
	.prepare = exec_prepare,
	.run = exec_run,
	.describe = exec_describe,
};
