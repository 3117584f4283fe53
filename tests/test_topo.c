/*
 * test_topo — worker slots from the real topology: one slot per core by
 * default with disjoint cpusets, --workers N past the core count wrapping
 * round-robin, an explicit cpu list giving one single-cpu slot per listed
 * cpu, bad lists refused with -EINVAL and a message, and topo_bind_self in
 * a forked child leaving it bound to exactly the requested cpu (the child
 * reports sched_getaffinity through a pipe; the parent asserts).
 *
 * The tests use the cpus this process may run on (the first allowed one
 * stands in for cpu 0 when a container hides cpu 0).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hwloc.h>

#include "topo.h"

/* The lowest cpu this process may use. */
static int
first_allowed_cpu(void)
{
	cpu_set_t set;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	fail_msg("no allowed cpu");
	return -1;
}

static int
hwloc_cores(void)
{
	hwloc_topology_t t;
	int n;

	assert_int_equal(hwloc_topology_init(&t), 0);
	assert_int_equal(hwloc_topology_load(t), 0);
	n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
	if (n <= 0)
		n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
	hwloc_topology_destroy(t);
	return n;
}

static hwloc_bitmap_t
parse_list(const char *s)
{
	hwloc_bitmap_t b = hwloc_bitmap_alloc();

	assert_non_null(b);
	assert_int_equal(hwloc_bitmap_list_sscanf(b, s), 0);
	assert_false(hwloc_bitmap_iszero(b));
	return b;
}

static void
test_default_one_per_core(void **state)
{
	struct topo_slot *slots = NULL;
	char err[256] = "";
	unsigned n = 0;
	int cores = hwloc_cores();

	(void)state;
	assert_int_equal(topo_select(0, NULL, &slots, &n, err, sizeof(err)), 0);
	assert_non_null(slots);
	assert_int_equal(n, cores);
	for (unsigned i = 0; i < n; i++) {
		hwloc_bitmap_t a = parse_list(slots[i].cpus);

		assert_int_equal(slots[i].os_cpu, hwloc_bitmap_first(a));
		assert_true(slots[i].core >= 0);
		assert_true(slots[i].nodes[0] != '\0' || slots[i].numa == -1);
		for (unsigned j = 0; j < i; j++) {
			hwloc_bitmap_t b = parse_list(slots[j].cpus);

			if (hwloc_bitmap_intersects(a, b))
				fail_msg("slots %u (%s) and %u (%s) share cpus", i,
					 slots[i].cpus, j, slots[j].cpus);
			assert_int_not_equal(slots[i].core, slots[j].core);
			hwloc_bitmap_free(b);
		}
		hwloc_bitmap_free(a);
	}
	free(slots);
}

static void
test_workers_wrap(void **state)
{
	struct topo_slot *base = NULL, *slots = NULL;
	char err[256] = "";
	unsigned nb = 0, n = 0, want;

	(void)state;
	assert_int_equal(topo_select(0, NULL, &base, &nb, err, sizeof(err)), 0);
	want = 2 * nb + 1;
	assert_int_equal(topo_select(want, NULL, &slots, &n, err, sizeof(err)), 0);
	assert_int_equal(n, want);
	for (unsigned i = 0; i < n; i++) {
		assert_string_equal(slots[i].cpus, base[i % nb].cpus);
		assert_int_equal(slots[i].core, base[i % nb].core);
		assert_int_equal(slots[i].os_cpu, base[i % nb].os_cpu);
	}
	free(slots);
	/* fewer workers than cores: the first ones */
	assert_int_equal(topo_select(1, NULL, &slots, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(slots[0].cpus, base[0].cpus);
	free(slots);
	free(base);
}

static void
test_cpulist(void **state)
{
	struct topo_slot *slots = NULL;
	char err[256] = "", list[1024] = "", one[16];
	cpu_set_t set;
	unsigned n = 0, k = 0;
	int c0 = first_allowed_cpu();

	(void)state;
	snprintf(one, sizeof(one), "%d", c0);
	assert_int_equal(topo_select(0, one, &slots, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(slots[0].cpus, one);
	assert_int_equal(slots[0].os_cpu, c0);
	free(slots);

	/* every allowed cpu: one single-cpu slot each, in order */
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d",
			 list[0] ? "," : "", c);
	}
	assert_int_equal(topo_select(0, list, &slots, &n, err, sizeof(err)), 0);
	assert_int_equal(n, CPU_COUNT(&set));
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		snprintf(one, sizeof(one), "%d", c);
		assert_string_equal(slots[k].cpus, one);
		assert_int_equal(slots[k].os_cpu, c);
		k++;
	}
	free(slots);
}

static void
test_bad_lists(void **state)
{
	static const char *const bad[] = { "", "x", "99999", "4000-4001" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct topo_slot *slots = NULL;
		char err[256] = "";
		unsigned n = 12345;
		int rc = topo_select(0, bad[i], &slots, &n, err, sizeof(err));

		if (rc != -EINVAL)
			fail_msg("--cpus \"%s\": got %d, want -EINVAL", bad[i], rc);
		assert_true(err[0] != '\0');
		assert_null(slots);
		assert_int_equal(n, 12345);	/* untouched */
	}
}

struct bind_report {
	int rc;                  /* topo_bind_self's result */
	int count;               /* cpus in the child's affinity afterwards */
	int has;                 /* the requested cpu is among them */
};

/* Fork; the child binds to @cpus and reports its affinity. */
static struct bind_report
bind_in_child(const char *cpus, int cpu)
{
	struct bind_report rep = { -1000, -1, -1 };
	int fds[2], st;
	ssize_t got;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct bind_report r = { 0, -1, -1 };
		char warn[256];
		cpu_set_t set;

		close(fds[0]);
		r.rc = topo_bind_self(cpus, "0", warn, sizeof(warn));
		if (sched_getaffinity(0, sizeof(set), &set) == 0) {
			r.count = CPU_COUNT(&set);
			r.has = cpu >= 0 && CPU_ISSET(cpu, &set);
		}
		if (write(fds[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	got = read(fds[0], &rep, sizeof(rep));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(got, sizeof(rep));
	return rep;
}

static void
test_bind_self(void **state)
{
	struct bind_report rep;
	cpu_set_t before, after;
	char one[16];
	int c0 = first_allowed_cpu();

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
	snprintf(one, sizeof(one), "%d", c0);
	rep = bind_in_child(one, c0);
	assert_int_equal(rep.rc, 0);
	assert_int_equal(rep.count, 1);
	assert_int_equal(rep.has, 1);
	rep = bind_in_child("", -1);
	assert_int_equal(rep.rc, -EINVAL);
	rep = bind_in_child("x", -1);
	assert_int_equal(rep.rc, -EINVAL);
	/* the parent's own affinity is untouched */
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_true(CPU_EQUAL(&before, &after));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_one_per_core),
		cmocka_unit_test(test_workers_wrap),
		cmocka_unit_test(test_cpulist),
		cmocka_unit_test(test_bad_lists),
		cmocka_unit_test(test_bind_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
