/*
 * test_badabi — a test fixture, not an example: a plug-in built for a
 * kernel ABI forqd does not speak (999).  kernel_load_plugin must refuse
 * it with -EPROTO and a message naming the path and both ABI versions
 * (tests/test_abi.c).
 */
#include <forq/kernel.h>

static int
badabi_run(struct forq_ctx *c)
{
	(void)c;
	return FORQ_DONE;
}

static const struct forq_kernel badabi_kernels[] = {
	{ .name = "badabi",
	  .summary = "never loaded",
	  .args = NULL,
	  .validate = NULL,
	  .run = badabi_run },
};

const struct forq_plugin forq_plugin = {
	.abi = 999,
	.name = "test_badabi",
	.nkernels = 1,
	.kernels = badabi_kernels,
};
