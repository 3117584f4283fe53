/*
 * forqd — the supervisor daemon.  Options, defaults, and the hidden
 * --worker mode in which forqd re-executes itself as a worker process.
 * Everything else lives in server.c (the daemon's lifecycle and event loop).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "log.h"
#include "paths.h"
#include "server.h"
#include "worker.h"

static const char usage[] =
	"usage: forqd [--state DIR] [--socket PATH] [--workers N | --cpus LIST]\n"
	"             [--sync fsync|nosync] [--ring-size N] [--max-message BYTES]\n"
	"             [--shutdown-grace DURATION] [--aging DURATION] [--hang-timeout DURATION]\n"
	"             [--plugin PATH]... [--plugin-dir DIR] [--max-result BYTES]\n"
	"             [--kernel-mem BYTES]\n"
	"             [--log-level error|warn|info|debug]\n"
	"\n"
	"Runs the forq supervisor in the foreground (logs to stderr); SIGTERM or\n"
	"SIGINT stops it cleanly.\n"
	"\n"
	"  --state DIR         state directory (default $FORQ_STATE, $XDG_STATE_HOME/forq,\n"
	"                      or ~/.local/state/forq)\n"
	"  --socket PATH       socket (default $FORQ_SOCKET, $XDG_RUNTIME_DIR/forq/forq.sock,\n"
	"                      or DIR/forq.sock)\n"
	"  --workers N         N workers on the first N cores (default: one per core)\n"
	"  --cpus LIST         one worker per listed cpu, e.g. 0-3,8\n"
	"  --sync MODE         fsync (default): every commit reaches the disk before its\n"
	"                      reply; nosync: survives a forqd crash, not a power cut\n"
	"  --ring-size N       slots per priority ring, a power of two (default 4096)\n"
	"  --max-message BYTES largest request line (default 16777216)\n"
	"  --shutdown-grace D  how long running tasks may finish at shutdown (default 3s)\n"
	"  --aging D           a queued task gains one priority level per D waited\n"
	"                      (default: off)\n"
	"  --hang-timeout D    a worker whose heartbeat stalls for D is killed and\n"
	"                      replaced (default 30s; 0 = off)\n"
	"  --plugin PATH       load a kernel plug-in (repeatable)\n"
	"  --plugin-dir DIR    load every *.so of DIR (default STATE/plugins)\n"
	"  --max-result BYTES  largest result of one task (default 1048576)\n"
	"  --kernel-mem BYTES  memory a kernel should stay under (default 268435456)\n"
	"  --log-level L       error, warn, info (default) or debug\n"
	"  -h, --help          this text\n"
	"  -V, --version       the version\n";

static int
misuse(const char *fmt, const char *arg)
{
	fprintf(stderr, "forqd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'forqd --help'.\n");
	return 2;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	*v = strtoull(s, &end, 10);
	return (errno || *end) ? -1 : 0;
}

enum {
	OPT_STATE = 256, OPT_SOCKET, OPT_WORKERS, OPT_CPUS, OPT_SYNC, OPT_RING, OPT_MAXMSG,
	OPT_GRACE, OPT_LOG, OPT_WORKER, OPT_SHM, OPT_CPUSET, OPT_NODESET,
	OPT_AGING, OPT_HANG, OPT_PLUGIN, OPT_PLUGIN_DIR, OPT_MAX_RESULT, OPT_NUMA, OPT_KMEM,
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, OPT_STATE },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "sync", required_argument, NULL, OPT_SYNC },
		{ "ring-size", required_argument, NULL, OPT_RING },
		{ "max-message", required_argument, NULL, OPT_MAXMSG },
		{ "shutdown-grace", required_argument, NULL, OPT_GRACE },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "aging", required_argument, NULL, OPT_AGING },
		{ "hang-timeout", required_argument, NULL, OPT_HANG },
		{ "plugin", required_argument, NULL, OPT_PLUGIN },
		{ "plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR },
		{ "max-result", required_argument, NULL, OPT_MAX_RESULT },
		{ "numa", required_argument, NULL, OPT_NUMA },
		{ "kernel-mem", required_argument, NULL, OPT_KMEM },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		/* internal: forqd re-executing itself as a worker */
		{ "worker", required_argument, NULL, OPT_WORKER },
		{ "shm", required_argument, NULL, OPT_SHM },
		{ "cpuset", required_argument, NULL, OPT_CPUSET },
		{ "nodeset", required_argument, NULL, OPT_NODESET },
		{ NULL, 0, NULL, 0 },
	};
	struct server_config cfg;
	struct worker_args wa = { .numa = -1 };
	static char *plugins[64];
	unsigned nplugins = 0;
	const char *state = NULL, *sock = NULL;
	bool worker = false;
	uint64_t v;
	int c, lvl;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_msg = 16u << 20;
	cfg.ring_size = 4096;
	cfg.shutdown_grace_ms = 3000;
	cfg.hang_ns = 30000000000ull;
	cfg.max_result = 1u << 20;
	snprintf(cfg.log_level, sizeof(cfg.log_level), "info");
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE:
			state = optarg;
			break;
		case OPT_SOCKET:
			sock = optarg;
			break;
		case OPT_WORKERS:
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 4096)
				return misuse("--workers: expected an integer from 1 to 4096, got '%s'", optarg);
			cfg.workers = (unsigned)v;
			break;
		case OPT_CPUS:
			cfg.cpus = optarg;
			break;
		case OPT_SYNC:
			if (strcmp(optarg, "fsync") == 0)
				cfg.nosync = false;
			else if (strcmp(optarg, "nosync") == 0)
				cfg.nosync = true;
			else
				return misuse("--sync: expected fsync or nosync, got '%s'", optarg);
			break;
		case OPT_RING:
			if (parse_u64(optarg, &v) < 0 || v < 2 || v > (1u << 24) || (v & (v - 1)))
				return misuse("--ring-size: expected a power of two from 2 to 16777216, got '%s'", optarg);
			cfg.ring_size = v;
			break;
		case OPT_MAXMSG:
			if (parse_u64(optarg, &v) < 0 || v < 1024 || v > (1ull << 30))
				return misuse("--max-message: expected bytes from 1024 to 1073741824, got '%s'", optarg);
			cfg.max_msg = (size_t)v;
			break;
		case OPT_GRACE:
			if (duration_parse(optarg, &v) < 0 || v > 3600000)
				return misuse("--shutdown-grace: expected a duration up to 1h, got '%s'", optarg);
			cfg.shutdown_grace_ms = (unsigned)v;
			break;
		case OPT_LOG:
			if ((lvl = log_parse_level(optarg)) < 0)
				return misuse("--log-level: expected error, warn, info or debug, got '%s'", optarg);
			log_set_level((enum log_level)lvl);
			snprintf(cfg.log_level, sizeof(cfg.log_level), "%s", optarg);
			break;
		case OPT_AGING:
			if (duration_parse(optarg, &v) < 0 || v < 1 || v > 86400000)
				return misuse("--aging: expected a duration from 1ms to 24h, got '%s'", optarg);
			cfg.aging_ns = v * 1000000ull;
			break;
		case OPT_HANG:
			if (duration_parse(optarg, &v) < 0 || (v && v < 1000) || v > 86400000)
				return misuse("--hang-timeout: expected 0 (off) or a duration from 1s to 24h, got '%s'",
					      optarg);
			cfg.hang_ns = v * 1000000ull;
			break;
		case OPT_PLUGIN:
			if (nplugins == 64)
				return misuse("%s", "--plugin: at most 64 plug-ins");
			plugins[nplugins++] = optarg;
			break;
		case OPT_PLUGIN_DIR:
			cfg.plugin_dir = optarg;
			break;
		case OPT_MAX_RESULT:
			if (parse_u64(optarg, &v) < 0 || v < 1024 || v > (256ull << 20))
				return misuse("--max-result: expected bytes from 1024 to 268435456, got '%s'", optarg);
			cfg.max_result = (size_t)v;
			break;
		case OPT_KMEM:
			if (parse_u64(optarg, &v) < 0 || v < (1u << 20) || v > (1ull << 44))
				return misuse("--kernel-mem: expected bytes from 1048576 to 17592186044416, got '%s'",
					      optarg);
			cfg.kernel_mem = (size_t)v;
			break;
		case OPT_NUMA:
			wa.numa = atoi(optarg);
			break;
		case OPT_WORKER:
			if (parse_u64(optarg, &v) < 0 || v > 16383)
				return misuse("--worker: bad index '%s'", optarg);
			wa.index = (unsigned)v;
			worker = true;
			break;
		case OPT_SHM:
			wa.shm_name = optarg;
			break;
		case OPT_CPUSET:
			wa.cpus = optarg;
			break;
		case OPT_NODESET:
			wa.nodes = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("forqd 0.1.0");
			return 0;
		default:
			fprintf(stderr, "Try 'forqd --help'.\n");
			return 2;
		}
	}
	if (optind < argc)
		return misuse("unexpected argument '%s'", argv[optind]);
	if (cfg.workers && cfg.cpus)
		return misuse("%s", "--workers and --cpus exclude each other");
	if (worker) {
		if (!wa.shm_name || !state || !wa.cpus)
			return misuse("%s", "--worker needs --shm, --state and --cpuset");
		wa.state_dir = state;
		wa.plugins = plugins;
		wa.nplugins = nplugins;
		wa.plugin_dir = cfg.plugin_dir;
		wa.max_result = cfg.max_result;
		wa.kernel_mem = cfg.kernel_mem;
		return worker_main(&wa);
	}
	if (state)
		snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", state);
	else if (paths_state_dir(cfg.state_dir, sizeof(cfg.state_dir)) < 0)
		return misuse("%s", "cannot find a state directory: set --state or FORQ_STATE");
	if (sock) {
		if (strlen(sock) >= sizeof(cfg.socket_path))
			return misuse("--socket: path too long: %s", sock);
		snprintf(cfg.socket_path, sizeof(cfg.socket_path), "%s", sock);
	} else if (paths_socket(cfg.socket_path, sizeof(cfg.socket_path), cfg.state_dir) < 0) {
		return misuse("%s", "socket path too long: set --socket or FORQ_SOCKET");
	}
	/* Absolute state dir: workers are spawned with it, and the segment
	 * name is derived from it. */
	if (cfg.state_dir[0] != '/') {
		char abs[4096], *r;

		paths_mkdirs(cfg.state_dir, 0700);
		r = realpath(cfg.state_dir, abs);
		if (!r)
			return misuse("--state: %s", strerror(errno));
		snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", abs);
	}
	cfg.plugins = plugins;
	cfg.nplugins = nplugins;
	return server_run(&cfg);
}
