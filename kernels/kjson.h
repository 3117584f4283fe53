/*
 * kjson — building a kernel's JSON result with cJSON without losing an
 * allocation failure: every add goes through a struct kjson whose `oom`
 * flag any failed step sets, and kj_finish() turns the tree into the
 * task's result (forq_result_json) or a clean failure.  cJSON prints
 * doubles so that they read back exactly (%.15g, else %.17g), and NaN or
 * infinity as null.
 *
 * Header-only (static inline), for the built-in kernels; a struct kjson
 * belongs to one thread.
 */
#ifndef FORQ_KJSON_H
#define FORQ_KJSON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include <forq/kernel.h>

struct kjson {
	cJSON *root;                 /* the result object; NULL once out of memory */
	bool oom;                    /* some add failed */
};

/* kj_init - start an empty result object. */
static inline void
kj_init(struct kjson *j)
{
	j->root = cJSON_CreateObject();
	j->oom = j->root == NULL;
}

/* kj_add - add @item (NULL: failed) under @key of object @o, or to array @o when @key is NULL. */
static inline cJSON *
kj_add(struct kjson *j, cJSON *o, const char *key, cJSON *item)
{
	bool ok = o != NULL && item != NULL &&
		  (key ? cJSON_AddItemToObject(o, key, item) : cJSON_AddItemToArray(o, item));

	if (!ok) {
		cJSON_Delete(item);
		j->oom = true;
		return NULL;
	}
	return item;
}

/*
 * kj_num / kj_str / kj_bool - add a number, a copied string or a boolean
 * under @key of object @o (@key NULL: append to array @o).  kj_arr /
 * kj_obj - add a new array / object and return it (NULL once out of
 * memory; the kj_* calls accept a NULL @o and just keep `oom` set).
 */
static inline void
kj_num(struct kjson *j, cJSON *o, const char *key, double v)
{
	kj_add(j, o, key, cJSON_CreateNumber(v));
}

static inline void
kj_str(struct kjson *j, cJSON *o, const char *key, const char *s)
{
	kj_add(j, o, key, cJSON_CreateString(s));
}

static inline void
kj_bool(struct kjson *j, cJSON *o, const char *key, bool v)
{
	kj_add(j, o, key, cJSON_CreateBool(v));
}

static inline cJSON *
kj_arr(struct kjson *j, cJSON *o, const char *key)
{
	return kj_add(j, o, key, cJSON_CreateArray());
}

static inline cJSON *
kj_obj(struct kjson *j, cJSON *o, const char *key)
{
	return kj_add(j, o, key, cJSON_CreateObject());
}

/* kj_nums - an array of @n doubles under @key. */
static inline void
kj_nums(struct kjson *j, cJSON *o, const char *key, const double *v, size_t n)
{
	kj_add(j, o, key, cJSON_CreateDoubleArray(v, (int)n));
}

/*
 * kj_finish - make the tree the task's result and free it.  FORQ_DONE, or
 * FORQ_FAILED (out of memory; or too large, which the adapter reports as
 * "result_too_large").
 */
static inline int
kj_finish(struct forq_ctx *c, struct kjson *j)
{
	char *text = NULL;
	int rc;

	if (!j->oom)
		text = cJSON_PrintUnformatted(j->root);
	cJSON_Delete(j->root);
	j->root = NULL;
	if (text == NULL)
		return forq_fail(c, "out of memory building the result");
	rc = forq_result_json(c, text);
	cJSON_free(text);
	if (rc == -EFBIG)
		return FORQ_FAILED;
	if (rc < 0)
		return forq_fail(c, "cannot store the result (%d)", rc);
	return FORQ_DONE;
}

/* kj_drop - free the tree without using it (a failure path). */
static inline void
kj_drop(struct kjson *j)
{
	cJSON_Delete(j->root);
	j->root = NULL;
}

#endif
