/*
 * registry — the table of kernels, looked up by name (forqd, at submit) and
 * by id (a worker, for every task it pops).
 *
 * Three kinds of entries, in this order:
 *   - internal kernels (exec, noop, sleep, spin): struct kernel written by
 *     hand against kernels/kernel.h, ids 1..15;
 *   - built-in kernels of the public ABI (pi, integrate, ... checksum):
 *     a struct forq_kernel each, given the fixed ids of abi_builtins[]
 *     below, from KERNEL_ID_ABI_FIRST (16) on;
 *   - plug-in kernels, added by kernel_load_plugin() at start-up, with id
 *     KERNEL_ID_PLUGIN_FIRST + FNV-1a(name) % KERNEL_ID_PLUGIN_SPAN, so
 *     that forqd and every worker (separate exec'd processes) agree on the
 *     ids without talking, and a restart keeps them: ids live in stored
 *     task records.  A collision is refused at load, naming both kernels.
 * Ids are never renumbered: a new built-in takes the next free id at the
 * end of abi_builtins[], a removed one leaves a hole.
 *
 * The table is built once (pthread_once) on first use; entries are never
 * removed.  Memory is static (KERNEL_PLUGIN_MAX plug-in kernels at most),
 * so lookups never fail other than by returning NULL and never allocate.
 * Plug-ins may only be loaded while no other thread uses the registry
 * (start-up); after that every function here may be called from any
 * thread.  With a few dozen entries a linear scan beats any index.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forq/kernel.h>

#include "abi.h"
#include "kernel.h"

/* Each defined in its own file, kernels/<name>.c. */
extern const struct kernel kernel_exec;
extern const struct kernel kernel_noop;
extern const struct kernel kernel_sleep;
extern const struct kernel kernel_spin;
extern const struct forq_kernel forq_kernel_pi;
extern const struct forq_kernel forq_kernel_integrate;
extern const struct forq_kernel forq_kernel_ode;
extern const struct forq_kernel forq_kernel_nbody;
extern const struct forq_kernel forq_kernel_heat2d;
extern const struct forq_kernel forq_kernel_option;
extern const struct forq_kernel forq_kernel_matmul;
extern const struct forq_kernel forq_kernel_linsolve;
extern const struct forq_kernel forq_kernel_stats;
extern const struct forq_kernel forq_kernel_histogram;
extern const struct forq_kernel forq_kernel_groupby;
extern const struct forq_kernel forq_kernel_sort;
extern const struct forq_kernel forq_kernel_grep;
extern const struct forq_kernel forq_kernel_checksum;

static const struct kernel *const internal[] = {
	&kernel_exec,
	&kernel_noop,
	&kernel_sleep,
	&kernel_spin,
};

/* Argument documentation of the internal kernels, for kernel_describe_all. */
static const char *const internal_args[] = {
	"[{\"name\":\"argv\",\"type\":\"strings\",\"required\":true,"
	"\"help\":\"the command and its arguments: a top-level field of the task, not in args\"},"
	"{\"name\":\"env\",\"type\":\"object\",\"required\":false,"
	"\"help\":\"variables to add, {\\\"KEY\\\":\\\"VALUE\\\"}: top-level\"},"
	"{\"name\":\"cwd\",\"type\":\"path\",\"required\":false,"
	"\"help\":\"absolute working directory: top-level\"}]",
	"[]",
	"[{\"name\":\"ms\",\"type\":\"int\",\"required\":true,\"min\":0,\"max\":86400000,"
	"\"help\":\"milliseconds to sleep\"}]",
	"[{\"name\":\"us\",\"type\":\"int\",\"required\":true,\"min\":0,\"max\":3600000000,"
	"\"help\":\"microseconds of CPU to burn\"}]",
};

/* The built-in ABI kernels and their ids: append only, never renumber. */
static const struct {
	uint16_t id;
	const struct forq_kernel *abi;
} abi_builtins[] = {
	{ 16, &forq_kernel_pi },
	{ 17, &forq_kernel_integrate },
	{ 18, &forq_kernel_ode },
	{ 19, &forq_kernel_nbody },
	{ 20, &forq_kernel_heat2d },
	{ 21, &forq_kernel_option },
	{ 22, &forq_kernel_matmul },
	{ 23, &forq_kernel_linsolve },
	{ 24, &forq_kernel_stats },
	{ 25, &forq_kernel_histogram },
	{ 26, &forq_kernel_groupby },
	{ 27, &forq_kernel_sort },
	{ 28, &forq_kernel_grep },
	{ 29, &forq_kernel_checksum },
};

#define N_INTERNAL (sizeof internal / sizeof internal[0])
#define N_BUILTIN  (sizeof abi_builtins / sizeof abi_builtins[0])
#define TABLE_MAX  (N_INTERNAL + N_BUILTIN + KERNEL_PLUGIN_MAX)

_Static_assert(sizeof internal_args / sizeof internal_args[0] == N_INTERNAL, "internal_args");

static struct kernel builtin_entries[N_BUILTIN];
static struct kernel plugin_entries[KERNEL_PLUGIN_MAX];
static char *plugin_paths[KERNEL_PLUGIN_MAX];   /* realpath of each one's object, strdup'd */
static unsigned nplugins;
static const struct kernel *table[TABLE_MAX];
static unsigned table_len;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
registry_build(void)
{
	for (unsigned i = 0; i < N_INTERNAL; i++)
		table[table_len++] = internal[i];
	for (unsigned i = 0; i < N_BUILTIN; i++) {
		struct kernel *k = &builtin_entries[i];

		k->name = abi_builtins[i].abi->name;
		k->id = abi_builtins[i].id;
		k->summary = abi_builtins[i].abi->summary;
		k->abi = abi_builtins[i].abi;
		table[table_len++] = k;
	}
}

static void
registry_init(void)
{
	pthread_once(&table_once, registry_build);
}

/*
 * kernel_find - the kernel named @name (exact, case-sensitive), or NULL
 * when there is none or @name is NULL.  The result lives as long as the
 * process: never free it.  Any thread.
 */
const struct kernel *
kernel_find(const char *name)
{
	registry_init();
	if (name == NULL)
		return NULL;
	for (unsigned i = 0; i < table_len; i++)
		if (strcmp(table[i]->name, name) == 0)
			return table[i];
	return NULL;
}

/*
 * kernel_by_id - the kernel with stable id @id, or NULL for an unknown id
 * (0 included).  Lives as long as the process.  Any thread.
 */
const struct kernel *
kernel_by_id(uint16_t id)
{
	registry_init();
	for (unsigned i = 0; i < table_len; i++)
		if (table[i]->id == id)
			return table[i];
	return NULL;
}

/* kernel_count - how many kernels kernel_at() can return.  Any thread. */
unsigned
kernel_count(void)
{
	registry_init();
	return table_len;
}

/*
 * kernel_at - the @i-th kernel, 0 <= @i < kernel_count(), in a fixed order
 * (internal, built-in, plug-ins in load order); NULL when @i is out of
 * range.  Lives as long as the process.  Any thread.
 */
const struct kernel *
kernel_at(unsigned i)
{
	registry_init();
	return i < table_len ? table[i] : NULL;
}

int
kernel_prepare(const struct kernel *k, const cJSON *args, struct kbuf *out, char *err,
	       size_t errlen)
{
	if (k->abi != NULL)
		return abi_prepare(k->abi, args, out, err, errlen);
	return k->prepare(args, out, err, errlen);
}

enum kernel_outcome
kernel_run(const struct kernel *k, struct kctx *ctx, const void *blob, size_t len)
{
	if (k->abi != NULL)
		return abi_run(k->abi, ctx, blob, len);
	return k->run(ctx, blob, len);
}

cJSON *
kernel_describe(const struct kernel *k, const void *blob, size_t len)
{
	if (k->abi != NULL)
		return abi_describe_blob(k->abi, blob, len);
	return k->describe != NULL ? k->describe(blob, len) : NULL;
}

/* ---- plug-ins ------------------------------------------------------------- */

static uint16_t
registry_plugin_id(const char *name)
{
	uint32_t h = 2166136261u;       /* FNV-1a, 32 bits */

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return (uint16_t)(KERNEL_ID_PLUGIN_FIRST + h % KERNEL_ID_PLUGIN_SPAN);
}

/* Refuse @fk (index @i of the plug-in) if its name or id is taken. */
static int
registry_check_new(const struct forq_plugin *p, unsigned i, const char *path, char *err,
		   size_t errlen)
{
	const struct forq_kernel *fk = &p->kernels[i];
	uint16_t id = registry_plugin_id(fk->name);

	for (unsigned t = 0; t < table_len; t++) {
		if (strcmp(table[t]->name, fk->name) == 0) {
			snprintf(err, errlen, "%.200s: kernel \"%s\" already exists (%s)", path,
				 fk->name,
				 table[t]->id >= KERNEL_ID_PLUGIN_FIRST ? "another plug-in has it"
									: "built in");
			return -EEXIST;
		}
		if (table[t]->id == id) {
			snprintf(err, errlen,
				 "%.200s: kernel \"%s\" hashes to id %u, already used by \"%s\"; "
				 "rename one of them",
				 path, fk->name, id, table[t]->name);
			return -EEXIST;
		}
	}
	for (unsigned j = 0; j < i; j++) {
		if (strcmp(p->kernels[j].name, fk->name) == 0) {
			snprintf(err, errlen, "%.200s: kernel \"%s\" declared twice", path,
				 fk->name);
			return -EEXIST;
		}
		if (registry_plugin_id(p->kernels[j].name) == id) {
			snprintf(err, errlen,
				 "%.200s: kernels \"%s\" and \"%s\" hash to the same id %u; "
				 "rename one of them",
				 path, p->kernels[j].name, fk->name, id);
			return -EEXIST;
		}
	}
	return 0;
}

int
kernel_load_plugin(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX], why[200];
	const struct forq_plugin *p;
	void *h;
	int rc;

	registry_init();
	if (errlen)
		err[0] = '\0';
	if (path == NULL || realpath(path, real) == NULL) {
		rc = path == NULL ? -EINVAL : -errno;
		snprintf(err, errlen, "plug-in %.200s: %s", path ? path : "(null)", strerror(-rc));
		return rc;
	}
	h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();

		snprintf(err, errlen, "plug-in %.200s: cannot load: %.200s", real,
			 e ? e : "dlopen failed");
		return -ELIBBAD;
	}
	p = dlsym(h, "forq_plugin");
	if (p == NULL) {
		snprintf(err, errlen,
			 "plug-in %.200s: no \"forq_plugin\" symbol: not a forq plug-in "
			 "(it must define const struct forq_plugin forq_plugin)",
			 real);
		rc = -ENOEXEC;
		goto out_close;
	}
	if (p->abi != FORQ_KERNEL_ABI) {
		snprintf(err, errlen,
			 "plug-in %.200s: built for kernel ABI %u, this forqd speaks ABI %u: "
			 "rebuild it against this <forq/kernel.h>",
			 real, p->abi, FORQ_KERNEL_ABI);
		rc = -EPROTO;
		goto out_close;
	}
	if (p->nkernels == 0 || p->kernels == NULL) {
		snprintf(err, errlen, "plug-in %.200s: declares no kernels", real);
		rc = -EINVAL;
		goto out_close;
	}
	if (p->nkernels > KERNEL_PLUGIN_MAX - nplugins) {
		snprintf(err, errlen,
			 "plug-in %.200s: %u kernels, room for %u more (at most %u in all)", real,
			 p->nkernels, KERNEL_PLUGIN_MAX - nplugins, KERNEL_PLUGIN_MAX);
		rc = -ENOSPC;
		goto out_close;
	}
	for (unsigned i = 0; i < p->nkernels; i++) {
		if (!abi_check(&p->kernels[i], why, sizeof why)) {
			snprintf(err, errlen, "plug-in %.200s: %s", real, why);
			rc = -EINVAL;
			goto out_close;
		}
		if ((rc = registry_check_new(p, i, real, err, errlen)) < 0)
			goto out_close;
	}
	/* All checked: register every kernel (nothing below can fail but strdup). */
	for (unsigned i = 0; i < p->nkernels; i++) {
		char *dup = strdup(real);

		if (dup == NULL) {
			snprintf(err, errlen, "plug-in %.200s: out of memory", real);
			rc = -ENOMEM;
			if (i == 0)
				goto out_close;
			return rc;      /* the first i kernels stay: their code must stay mapped */
		}
		struct kernel *k = &plugin_entries[nplugins];

		k->name = p->kernels[i].name;
		k->id = registry_plugin_id(k->name);
		k->summary = p->kernels[i].summary;
		k->abi = &p->kernels[i];
		plugin_paths[nplugins++] = dup;
		table[table_len++] = k;
	}
	return 0;           /* the handle stays open for the life of the process */
out_close:
	dlclose(h);
	return rc;
}

static int
registry_so_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

int
kernel_load_plugin_dir(const char *dir, char *err, size_t errlen)
{
	struct dirent **list = NULL;
	int n, rc = 0;

	if (errlen)
		err[0] = '\0';
	if (dir == NULL)
		return 0;
	n = scandir(dir, &list, registry_so_filter, alphasort);
	if (n < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return 0;
		snprintf(err, errlen, "plug-in directory %.200s: %s", dir, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (rc == 0) {
			if (snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) >=
			    (int)sizeof path) {
				snprintf(err, errlen, "plug-in directory %.200s: name too long",
					 dir);
				rc = -ENAMETOOLONG;
			} else {
				rc = kernel_load_plugin(path, err, errlen);
			}
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

/* ---- description ------------------------------------------------------------ */

static cJSON *
registry_describe_one(const struct kernel *k, unsigned index)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *args;
	const char *origin;

	if (o == NULL)
		return NULL;
	if (k->abi == NULL)
		origin = "internal";
	else if (k->id >= KERNEL_ID_PLUGIN_FIRST)
		origin = "plugin";
	else
		origin = "builtin";
	if (!cJSON_AddStringToObject(o, "name", k->name) ||
	    !cJSON_AddNumberToObject(o, "id", k->id) ||
	    !cJSON_AddStringToObject(o, "summary", k->summary ? k->summary : "") ||
	    !cJSON_AddStringToObject(o, "origin", origin))
		goto out_free;
	if (k->abi != NULL && k->id >= KERNEL_ID_PLUGIN_FIRST) {
		unsigned pi = index - (unsigned)(N_INTERNAL + N_BUILTIN);

		if (pi < nplugins && !cJSON_AddStringToObject(o, "plugin", plugin_paths[pi]))
			goto out_free;
	}
	args = k->abi != NULL ? abi_schema(k->abi) : cJSON_Parse(internal_args[index]);
	if (args == NULL || !cJSON_AddItemToObject(o, "args", args)) {
		cJSON_Delete(args);
		goto out_free;
	}
	return o;
out_free:
	cJSON_Delete(o);
	return NULL;
}

cJSON *
kernel_describe_all(void)
{
	cJSON *arr;

	registry_init();
	arr = cJSON_CreateArray();
	for (unsigned i = 0; arr != NULL && i < table_len; i++) {
		cJSON *o = registry_describe_one(table[i], i);

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			arr = NULL;
		}
	}
	return arr;
}
