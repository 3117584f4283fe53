/*
 * bench/ring — throughput of the MPMC ring between processes.
 *
 * Cases: 1P/1C, 1P/NC and NP/NC, each a set of forked processes sharing
 * one anonymous MAP_SHARED mapping (as forqd and its workers do), N = the
 * online CPUs (at least 2; --procs overrides).  NP/NC runs 2N processes on
 * N CPUs, so it measures the ring under preemption, not only contention.
 * As a baseline, measured in the same run: a minimal single-producer
 * single-consumer ring (below), 1P/1C, with the same slot size and
 * capacity; the MPMC/SPSC ratio is what the generality and the
 * crash-safety cost.
 *
 * Process k of a case is pinned to the k-th CPU the bench may use (round
 * robin), consumers first, so 1P/1C always crosses two CPUs; unpinned, the
 * scheduler often stacks both on one CPU and the figures swing tenfold.
 *
 * One op = one item pushed by a producer and popped by a consumer; a case
 * runs from the moment every process is ready to the last consumer's end.
 * Each consumer sums the items it gets, and the sums are checked (exit 1 on
 * a mismatch); nothing about speed is asserted.  The last lines of the
 * text output are the summary rows bench/run.sh gathers ("  @ ring | ..."):
 * figure | baseline | ratio | target; the issue sets no target for the
 * ring (it quotes 40-90 M ops/s across cores for this class of machine).
 * --tiny runs 20 000 items per case, for tests.
 *
 * Exit status: 0 done, 1 a child failed or an item went missing, 2 usage.
 */
#include <getopt.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchd.h"
#include "ring.h"
#include "sys.h"

#define BENCH_CAP	1024u		/* slots, both rings */
#define BENCH_SLOT	64u		/* bytes per slot, both rings */
#define BENCH_MAXP	256		/* processes per side */

struct item {
	uint64_t value;		/* 0 .. count-1, each once */
	uint64_t producer;	/* who pushed it */
};

/* ---- the SPSC baseline ----------------------------------------------- */

/*
 * A textbook single-producer single-consumer ring: the producer alone
 * writes tail, the consumer alone writes head, each caches the other's.
 */
struct spsc {
	_Atomic uint64_t tail;		/* written by the producer */
	unsigned char pad0[56];
	_Atomic uint64_t head;		/* written by the consumer */
	unsigned char pad1[56];
	unsigned char slots[BENCH_CAP][BENCH_SLOT];	/* item at the start */
};

static bool
spsc_push(struct spsc *q, uint64_t *head_cache, const struct item *it)
{
	/* relaxed: only this producer writes tail */
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (t - *head_cache == BENCH_CAP) {
		/* S2: pairs with R-S2, the consumer's release of head (slot read done) */
		*head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
		if (t - *head_cache == BENCH_CAP)
			return false;
	}
	memcpy(q->slots[t & (BENCH_CAP - 1)], it, sizeof(*it));
	/* R-S1: pairs with S1 in spsc_pop: publishes the slot */
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	return true;
}

static bool
spsc_pop(struct spsc *q, uint64_t *tail_cache, struct item *it)
{
	/* relaxed: only this consumer writes head */
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);

	if (h == *tail_cache) {
		/* S1: pairs with R-S1, the producer's release of tail */
		*tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (h == *tail_cache)
			return false;
	}
	memcpy(it, q->slots[h & (BENCH_CAP - 1)], sizeof(*it));
	/* R-S2: pairs with S2 in spsc_push: our read of the slot is done */
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	return true;
}

/* ---- the harness ----------------------------------------------------- */

/* Per consumer results, one cache line each. */
struct result {
	uint64_t got;		/* items popped */
	uint64_t sum;		/* sum of their values */
	uint64_t end_ns;	/* CLOCK_MONOTONIC when it finished */
	unsigned char pad[40];
};

struct shared {
	_Atomic uint32_t ready;			/* children at the start line */
	_Atomic uint32_t go;			/* parent: start */
	_Atomic uint32_t prod_done;		/* producers finished */
	unsigned char pad[52];
	struct result res[BENCH_MAXP];		/* per consumer */
};

struct bcase {
	const char *name;	/* for the table and the JSON */
	bool spsc;		/* baseline ring instead of struct ring */
	int np;			/* producer processes */
	int nc;			/* consumer processes */
	double seconds;		/* measured */
	double ops;		/* items per second */
};

/* backoff - spin a little, then give the CPU away (we may oversubscribe) */
static void
backoff(unsigned *spins)
{
	if (++*spins % 32 == 0)
		sched_yield();
	else
		sys_cpu_relax();
}

static void
start_line(struct shared *sh)
{
	unsigned spins = 0;

	/* relaxed: a count; the go flag below is what orders */
	atomic_fetch_add_explicit(&sh->ready, 1, memory_order_relaxed);
	/* acquire: pairs with the parent's release of go (ring already initialised) */
	while (!atomic_load_explicit(&sh->go, memory_order_acquire))
		backoff(&spins);
}

static void
producer(struct shared *sh, void *q, bool is_spsc, int id, int np, uint64_t count)
{
	struct item it = { .producer = (uint64_t)id };
	uint64_t head_cache = 0;
	unsigned spins = 0;

	start_line(sh);
	for (uint64_t v = (uint64_t)id; v < count; v += (uint64_t)np) {
		it.value = v;
		if (is_spsc)
			while (!spsc_push(q, &head_cache, &it))
				backoff(&spins);
		else
			while (!ring_try_push(q, 1 + (uint32_t)id, &it, sizeof(it)))
				backoff(&spins);
	}
	/* release: pairs with the consumers' acquire: every push is done */
	atomic_fetch_add_explicit(&sh->prod_done, 1, memory_order_release);
}

static bool
pop_one(void *q, bool is_spsc, uint32_t owner, uint64_t *tail_cache, struct item *it)
{
	if (is_spsc)
		return spsc_pop(q, tail_cache, it);
	return ring_try_pop(q, owner, it) != 0;
}

static void
consumer(struct shared *sh, void *q, bool is_spsc, int id, int np)
{
	struct result *me = &sh->res[id];
	uint32_t owner = (uint32_t)(BENCH_MAXP + 1 + id);
	uint64_t tail_cache = 0, got = 0, sum = 0;
	unsigned spins = 0;
	struct item it;

	start_line(sh);
	for (;;) {
		if (pop_one(q, is_spsc, owner, &tail_cache, &it)) {
			got++;
			sum += it.value;
			continue;
		}
		/*
		 * acquire: pairs with the producers' release: once all are done,
		 * an empty pop means every item has been claimed.
		 */
		if (atomic_load_explicit(&sh->prod_done, memory_order_acquire) == (uint32_t)np) {
			while (pop_one(q, is_spsc, owner, &tail_cache, &it)) {
				got++;
				sum += it.value;
			}
			break;
		}
		backoff(&spins);
	}
	me->got = got;
	me->sum = sum;
	me->end_ns = sys_now_ns();
}

static cpu_set_t bench_cpus;	/* where the bench may run, from main */

/* pin - run on the @k-th usable CPU, round robin; best effort */
static void
pin(int k)
{
	int n = CPU_COUNT(&bench_cpus), seen = 0;
	cpu_set_t one;

	if (n <= 0)
		return;
	k %= n;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &bench_cpus) || seen++ != k)
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		(void)sched_setaffinity(0, sizeof(one), &one);
		return;
	}
}

/* run_case - fork the case's processes, time it; 0 or -1 (reported) */
static int
run_case(struct bcase *c, uint64_t count)
{
	size_t qbytes = c->spsc ? sizeof(struct spsc) : ring_bytes(BENCH_CAP, BENCH_SLOT);
	size_t bytes = sizeof(struct shared) + qbytes;
	pid_t pids[2 * BENCH_MAXP];
	int n = 0, bad = 0, st;
	uint64_t start = 0, end = 0, got = 0, sum = 0;
	struct shared *sh;
	void *q;

	/* shared + the queue, 64-aligned since sizeof(struct shared) is */
	sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("ring: mmap");
		return -1;
	}
	q = sh + 1;
	if (!c->spsc && ring_init(q, BENCH_CAP, BENCH_SLOT) != 0) {
		fprintf(stderr, "ring: ring_init failed\n");
		bad = 1;
		goto out_unmap;
	}
	for (int i = 0; i < c->nc + c->np; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("ring: fork");
			bad = 1;
			break;
		}
		if (pid == 0) {
			pin(i);
			if (i < c->nc)
				consumer(sh, q, c->spsc, i, c->np);
			else
				producer(sh, q, c->spsc, i - c->nc, c->np, count);
			_exit(0);
		}
		pids[n++] = pid;
	}
	if (bad) {
		for (int i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
		goto out_reap;
	}
	/* relaxed: a count; the children then wait for go */
	while (atomic_load_explicit(&sh->ready, memory_order_relaxed) != (uint32_t)n)
		sched_yield();
	start = sys_now_ns();
	/* release: pairs with start_line's acquire */
	atomic_store_explicit(&sh->go, 1, memory_order_release);
out_reap:
	for (int i = 0; i < n; i++) {
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			bad = 1;
	}
	if (bad) {
		fprintf(stderr, "ring: %s: a child process failed\n", c->name);
		goto out_unmap;
	}
	for (int i = 0; i < c->nc; i++) {
		got += sh->res[i].got;
		sum += sh->res[i].sum;
		if (sh->res[i].end_ns > end)
			end = sh->res[i].end_ns;
	}
	/* count * (count - 1) / 2, without overflowing before the divide */
	if (got != count || sum != (count % 2 ? count * ((count - 1) / 2)
					      : (count / 2) * (count - 1))) {
		fprintf(stderr, "ring: %s: %llu of %llu items, bad sum\n", c->name,
			(unsigned long long)got, (unsigned long long)count);
		bad = 1;
		goto out_unmap;
	}
	c->seconds = (double)(end - start) / 1e9;
	c->ops = c->seconds > 0 ? (double)count / c->seconds : 0;
out_unmap:
	munmap(sh, bytes);
	return bad ? -1 : 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: ring [--count N] [--procs N] [--tiny] [--json] [--help]\n"
		"Throughput of the forq MPMC ring between processes (1P/1C, 1P/NC,\n"
		"NP/NC) and of a minimal SPSC ring (1P/1C) as the baseline.\n"
		"  --count N   items per case (default 2000000)\n"
		"  --procs N   N for the NC and NP cases (default: online CPUs, min 2)\n"
		"  --tiny      a very small run (20000 items per case), for tests\n"
		"  --json      print one JSON object instead of the table\n"
		"  --help      this text\n"
		"One op is one item pushed and popped.  Exit: 0 done, 1 failure, 2 usage.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "procs", required_argument, NULL, 'p' },
		{ "tiny", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t count = 2000000, nprocs;
	bool json = false, tiny = false, count_set = false;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int o;

	nprocs = ncpu < 2 ? 2 : (uint64_t)ncpu;
	if (sched_getaffinity(0, sizeof(bench_cpus), &bench_cpus) != 0)
		CPU_ZERO(&bench_cpus);
	while ((o = getopt_long(argc, argv, "c:p:tjh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			if (!benchd_parse_u64(optarg, 1, UINT64_MAX / 2, &count)) {
				fprintf(stderr, "ring: --count: a positive integer\n");
				return 2;
			}
			count_set = true;
			break;
		case 't':
			tiny = true;
			break;
		case 'p':
			if (!benchd_parse_u64(optarg, 1, BENCH_MAXP, &nprocs)) {
				fprintf(stderr, "ring: --procs: 1 to %d\n", BENCH_MAXP);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if (tiny && !count_set)
		count = 20000;

	int n = (int)nprocs;
	char n1[32], n2[32];
	struct bcase cases[] = {
		{ "mpmc 1P/1C", false, 1, 1, 0, 0 },
		{ n1, false, 1, n, 0, 0 },
		{ n2, false, n, n, 0, 0 },
		{ "spsc 1P/1C", true, 1, 1, 0, 0 },
	};
	const int ncases = (int)(sizeof(cases) / sizeof(cases[0]));

	snprintf(n1, sizeof(n1), "mpmc 1P/%dC", n);
	snprintf(n2, sizeof(n2), "mpmc %dP/%dC", n, n);
	for (int i = 0; i < ncases; i++)
		if (run_case(&cases[i], count) != 0)
			return 1;

	double ratio = cases[3].ops > 0 ? cases[0].ops / cases[3].ops : 0;

	if (json) {
		printf("{\"count\":%llu,\"cpus\":%ld,\"n\":%d,\"capacity\":%u,\"slot_size\":%u,"
		       "\"cases\":[",
		       (unsigned long long)count, ncpu, n, BENCH_CAP, BENCH_SLOT);
		for (int i = 0; i < ncases; i++)
			printf("%s{\"case\":\"%s\",\"producers\":%d,\"consumers\":%d,"
			       "\"seconds\":%.6f,\"ops_per_s\":%.0f}",
			       i ? "," : "", cases[i].name, cases[i].np, cases[i].nc,
			       cases[i].seconds, cases[i].ops);
		printf("],\"ratio_mpmc_spsc_1p1c\":%.3f,\"summary\":[{\"name\":\"mpmc 1P/1C\","
		       "\"figure\":%.0f,\"unit\":\"ops/s\",\"baseline_name\":\"spsc 1P/1C\","
		       "\"baseline\":%.0f,\"baseline_unit\":\"ops/s\",\"ratio\":%.4f,"
		       "\"target\":null,\"met\":null}]}\n",
		       ratio, cases[0].ops, cases[3].ops, ratio);
		return 0;
	}
	printf("forq ring: %llu items per case, %u slots of %u bytes, N = %d (%ld CPUs online)\n",
	       (unsigned long long)count, BENCH_CAP, BENCH_SLOT, n, ncpu);
	printf("%-16s %5s %5s %10s %14s\n", "case", "prod", "cons", "seconds", "ops/s");
	for (int i = 0; i < ncases; i++)
		printf("%-16s %5d %5d %10.4f %14.0f\n", cases[i].name, cases[i].np, cases[i].nc,
		       cases[i].seconds, cases[i].ops);
	printf("MPMC/SPSC 1P/1C: %.3f\n", ratio);
	printf("summary (figure | baseline | ratio | target):\n");
	printf("  @ ring | mpmc 1P/1C | %.2fM ops/s | spsc 1P/1C %.2fM ops/s | %.3gx | -\n",
	       cases[0].ops / 1e6, cases[3].ops / 1e6, ratio);
	return 0;
}
