/*
 * topo — core selection and binding with hwloc (see topo.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hwloc.h>

#include "topo.h"

static void
fill(struct topo_slot *s, hwloc_topology_t t, hwloc_obj_t obj, hwloc_const_cpuset_t set, int core)
{
	hwloc_bitmap_t nodes = hwloc_bitmap_alloc();
	hwloc_obj_t numa;

	s->core = core;
	s->os_cpu = hwloc_bitmap_first(set);
	hwloc_bitmap_list_snprintf(s->cpus, sizeof(s->cpus), set);
	hwloc_cpuset_to_nodeset(t, set, nodes);
	hwloc_bitmap_list_snprintf(s->nodes, sizeof(s->nodes), nodes);
	numa = hwloc_get_next_obj_covering_cpuset_by_type(t, obj ? obj->cpuset : set, HWLOC_OBJ_NUMANODE, NULL);
	if (!numa && hwloc_bitmap_weight(nodes) > 0)
		numa = hwloc_get_numanode_obj_by_os_index(t, (unsigned)hwloc_bitmap_first(nodes));
	s->numa = numa ? (int)numa->logical_index : -1;
	hwloc_bitmap_free(nodes);
}

int
topo_select(unsigned workers, const char *cpulist, struct topo_slot **out, unsigned *n,
	    char *err, size_t errlen)
{
	hwloc_topology_t t;
	struct topo_slot *slots = NULL;
	int rc = 0, ncores;

	if (hwloc_topology_init(&t) < 0 || hwloc_topology_load(t) < 0) {
		snprintf(err, errlen, "hwloc: cannot load the topology");
		return -EIO;
	}
	if (cpulist) {
		hwloc_bitmap_t want = hwloc_bitmap_alloc(), avail;
		int cpu, k = 0, count;

		if (hwloc_bitmap_list_sscanf(want, cpulist) < 0 || hwloc_bitmap_iszero(want) ||
		    hwloc_bitmap_weight(want) < 0) {
			snprintf(err, errlen, "--cpus: bad cpu list \"%s\"", cpulist);
			rc = -EINVAL;
			goto out_want;
		}
		avail = (hwloc_bitmap_t)hwloc_topology_get_allowed_cpuset(t);
		if (!hwloc_bitmap_isincluded(want, avail)) {
			snprintf(err, errlen, "--cpus: \"%s\" names cpus this process may not use", cpulist);
			rc = -EINVAL;
			goto out_want;
		}
		count = hwloc_bitmap_weight(want);
		slots = calloc((size_t)count, sizeof(*slots));
		if (!slots) {
			rc = -ENOMEM;
			goto out_want;
		}
		hwloc_bitmap_foreach_begin(cpu, want) {
			hwloc_bitmap_t one = hwloc_bitmap_alloc();
			hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(t, (unsigned)cpu);

			hwloc_bitmap_only(one, (unsigned)cpu);
			fill(&slots[k], t, pu, one, pu ? (int)pu->logical_index : cpu);
			hwloc_bitmap_free(one);
			k++;
		} hwloc_bitmap_foreach_end();
		*n = (unsigned)count;
out_want:
		hwloc_bitmap_free(want);
		goto out;
	}
	ncores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
	hwloc_obj_type_t type = HWLOC_OBJ_CORE;
	if (ncores <= 0) {
		type = HWLOC_OBJ_PU;
		ncores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
	}
	if (ncores <= 0) {
		snprintf(err, errlen, "hwloc: no cores found");
		rc = -ENODEV;
		goto out;
	}
	if (workers == 0)
		workers = (unsigned)ncores;
	slots = calloc(workers, sizeof(*slots));
	if (!slots) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < workers; i++) {
		hwloc_obj_t core = hwloc_get_obj_by_type(t, type, i % (unsigned)ncores);

		fill(&slots[i], t, core, core->cpuset, (int)core->logical_index);
	}
	*n = workers;
out:
	hwloc_topology_destroy(t);
	if (rc)
		free(slots);
	else
		*out = slots;
	return rc;
}

int
topo_bind_self(const char *cpus, const char *nodes, char *warn, size_t warnlen)
{
	hwloc_topology_t t;
	hwloc_bitmap_t set = hwloc_bitmap_alloc(), nset = hwloc_bitmap_alloc();
	int rc = 0;

	warn[0] = '\0';
	if (hwloc_topology_init(&t) < 0 || hwloc_topology_load(t) < 0) {
		rc = -EIO;
		goto out_free;
	}
	if (hwloc_bitmap_list_sscanf(set, cpus) < 0 || hwloc_bitmap_iszero(set)) {
		rc = -EINVAL;
		goto out_topo;
	}
	if (hwloc_set_cpubind(t, set, HWLOC_CPUBIND_PROCESS | HWLOC_CPUBIND_STRICT) < 0 &&
	    hwloc_set_cpubind(t, set, HWLOC_CPUBIND_PROCESS) < 0) {
		rc = -errno ? -errno : -EIO;
		goto out_topo;
	}
	if (nodes && *nodes && hwloc_bitmap_list_sscanf(nset, nodes) == 0 && !hwloc_bitmap_iszero(nset) &&
	    hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE) > 1 &&
	    hwloc_set_membind(t, nset, HWLOC_MEMBIND_BIND,
			      HWLOC_MEMBIND_PROCESS | HWLOC_MEMBIND_BYNODESET) < 0)
		snprintf(warn, warnlen, "memory binding to node %s refused: %s", nodes, strerror(errno));
out_topo:
	hwloc_topology_destroy(t);
out_free:
	hwloc_bitmap_free(set);
	hwloc_bitmap_free(nset);
	return rc;
}
