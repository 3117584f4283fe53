/*
 * registry — the table of built-in kernels, looked up by name (forqd, at
 * submit) and by id (a worker, for every task it pops).
 *
 * The table is static and read-only: every function here may be called from
 * any thread or process at any time, and never fails other than by
 * returning NULL.  Ids are stable (kernel.h); names are unique.  With four
 * entries a linear scan beats any index; revisit when dlopen'd plug-in
 * kernels join the table.
 */
#include <string.h>

#include "kernel.h"

/* Each defined in its own file, kernels/<name>.c. */
extern const struct kernel kernel_exec;
extern const struct kernel kernel_noop;
extern const struct kernel kernel_sleep;
extern const struct kernel kernel_spin;

static const struct kernel *const registry[] = {
	&kernel_exec,
	&kernel_noop,
	&kernel_sleep,
	&kernel_spin,
};

#define REGISTRY_LEN (sizeof registry / sizeof registry[0])

/*
 * kernel_find - the built-in kernel named @name (exact, case-sensitive), or
 * NULL when there is none or @name is NULL.  The result is static: never
 * free it.  Any thread.
 */
const struct kernel *
kernel_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (unsigned i = 0; i < REGISTRY_LEN; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

/*
 * kernel_by_id - the built-in kernel with stable id @id (KERNEL_ID_*), or
 * NULL for an unknown id (0 included).  Static result.  Any thread.
 */
const struct kernel *
kernel_by_id(uint16_t id)
{
	for (unsigned i = 0; i < REGISTRY_LEN; i++)
		if (registry[i]->id == id)
			return registry[i];
	return NULL;
}

/* kernel_count - how many kernels kernel_at() can return.  Any thread. */
unsigned
kernel_count(void)
{
	return REGISTRY_LEN;
}

/*
 * kernel_at - the @i-th kernel, 0 <= @i < kernel_count(), in a fixed order;
 * NULL when @i is out of range.  Static result.  Any thread.
 */
const struct kernel *
kernel_at(unsigned i)
{
	return i < REGISTRY_LEN ? registry[i] : NULL;
}

int
kernel_prepare(const struct kernel *k, const cJSON *args, struct kbuf *out, char *err, size_t errlen)
{
	return k->prepare(args, out, err, errlen);
}

enum kernel_outcome
kernel_run(const struct kernel *k, struct kctx *ctx, const void *blob, size_t len)
{
	return k->run(ctx, blob, len);
}
