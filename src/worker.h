/*
 * worker — the worker process: a clean process (exec'd by forqd, never
 * forked from it after LMDB opened) pinned to one core, that pops tasks
 * from the priority rings, runs their kernels and pushes completions.
 *
 * Loop: take from the most urgent non-empty ring, popping straight into
 * its block's `held` line (so a worker killed at any instruction leaves the
 * task either claimed in the ring or complete in `held`: ring.h, shm.h);
 * publish task id, start and deadline in its block; run the kernel; push
 * the completion; clear `held`.  When no ring has work it spins briefly,
 * then sleeps on the work doorbell with a timeout, advancing its heartbeat
 * on every wake.  It exits when the segment's shutdown flag is set and it
 * is idle.  Arguments too large for a slot are read from LMDB through the
 * worker's own read-only environment, opened on first use.
 */
#ifndef FORQ_WORKER_H
#define FORQ_WORKER_H

struct worker_args {
	unsigned index;          /* worker block index */
	const char *shm_name;    /* segment name */
	const char *state_dir;   /* forqd's state directory */
	const char *cpus;        /* cpu list to bind to */
	const char *nodes;       /* NUMA node list for memory */
	int numa;                /* NUMA node (logical index), -1 unknown */
	char **plugins;          /* plug-ins to load, as forqd did */
	unsigned nplugins;
	const char *plugin_dir;  /* and the plug-in directory */
	size_t max_result;       /* largest result, bytes */
	size_t kernel_mem;       /* forq_mem_limit(); 0 = the default */
};

/* worker_main - run the worker; returns the process exit status. */
int worker_main(const struct worker_args *a);

#endif
