/*
 * topo — which cores the workers get, from the hwloc topology.
 *
 * Default: one worker per physical core (HWLOC_OBJ_CORE), bound to the
 * core's cpuset (all its hardware threads) and its memory bound to the
 * core's NUMA node.  --workers N takes the first N cores (round-robin over
 * the cores when N exceeds them: oversubscription is allowed, not the
 * default).  --cpus LIST (an OS cpu list, "0-3,8") gives one worker per
 * listed hardware thread, bound to that thread alone.
 * forqd selects (topo_select); each worker binds itself (topo_bind_self)
 * before it takes a task, so no task ever runs unpinned.
 */
#ifndef FORQ_TOPO_H
#define FORQ_TOPO_H

#include <stddef.h>

struct topo_slot {
	int core;                /* logical core index (hwloc), or PU index with --cpus */
	int os_cpu;              /* first OS cpu of the cpuset */
	int numa;                /* NUMA node logical index, -1 if unknown */
	char cpus[128];          /* cpuset as an OS cpu list, "2" or "2,34" */
	char nodes[64];          /* nodeset as a list, "0" */
};

/*
 * topo_select - choose @*n slots (malloc'd array in @*out).  @workers 0 =
 * one per core; @cpulist NULL = no explicit list.  Returns 0 or -errno with
 * a message in @err (-EINVAL for a bad or empty list).
 */
int topo_select(unsigned workers, const char *cpulist, struct topo_slot **out, unsigned *n,
		char *err, size_t errlen);

/*
 * topo_bind_self - bind the calling process to the cpu list @cpus and its
 * memory to the node list @nodes (memory binding failure is reported in
 * @warn and is not fatal: containers often refuse it).  0 or -errno.
 */
int topo_bind_self(const char *cpus, const char *nodes, char *warn, size_t warnlen);

#endif
