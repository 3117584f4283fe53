/*
 * test_dupname — a test fixture, not an example: a plug-in whose kernel is
 * named "pi", like a built-in.  kernel_load_plugin must refuse it with
 * -EEXIST and a message naming the path and the kernel (tests/test_abi.c).
 */
#include <forq/kernel.h>

static int
dup_run(struct forq_ctx *c)
{
	(void)c;
	return FORQ_DONE;
}

static const struct forq_kernel dup_kernels[] = {
	{ .name = "pi",
	  .summary = "a second pi (refused)",
	  .args = NULL,
	  .validate = NULL,
	  .run = dup_run },
};

const struct forq_plugin forq_plugin = {
	.abi = FORQ_KERNEL_ABI,
	.name = "test_dupname",
	.nkernels = 1,
	.kernels = dup_kernels,
};
