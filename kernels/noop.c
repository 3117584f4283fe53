/*
 * noop — the kernel that does nothing.
 *
 * It measures forq itself: submit-to-done latency and throughput with no
 * work in the way, so run() is as cheap as a function can be: no clock read,
 * no syscall, no heartbeat, no result.
 *
 * Args:  absent, JSON null or {}; any field is refused.
 * Blob:  empty (len 0); run() refuses any other blob with FAILED "bad_blob".
 * Outcome: DONE, exit_code 0, reason "", no result, CPU figures 0.
 * run() keeps no state: it may run on any number of threads at once.
 */
#include <errno.h>
#include <stdio.h>

#include "kernel.h"

static int
noop_prepare(const cJSON *args, struct kbuf *out, char *err, size_t errlen)
{
	out->data = NULL;
	out->len = 0;
	if (args == NULL || cJSON_IsNull(args))
		return 0;
	if (!cJSON_IsObject(args)) {
		snprintf(err, errlen, "args must be an object");
		return -EINVAL;
	}
	if (args->child != NULL) {
		/* borrowed name, used only for the message */
		const char *name = args->child->string;

		snprintf(err, errlen, "unknown field \"%s\" (noop takes none)", name ? name : "");
		return -EINVAL;
	}
	return 0;
}

static enum kernel_outcome
noop_run(struct kctx *ctx, const void *blob, size_t len)
{
	(void)blob;
	ctx->term_signal = 0;
	ctx->result_len = 0;
	ctx->user_us = 0;
	ctx->sys_us = 0;
	ctx->maxrss_kb = 0;
	if (len != 0) {
		ctx->exit_code = 1;
		snprintf(ctx->reason, sizeof ctx->reason, "bad_blob");
		return KERNEL_FAILED;
	}
	ctx->exit_code = 0;
	ctx->reason[0] = '\0';
	return KERNEL_DONE;
}

/* The registry's entry (kernels/registry.c). */
const struct kernel kernel_noop = {
	.name = "noop",
	.id = KERNEL_ID_NOOP,
	.summary = "do nothing; measures forq's own overhead",
	.prepare = noop_prepare,
	.run = noop_run,
};
