/*
 * test_crash — a test fixture, not an example: a well-formed plug-in whose
 * kernel "crash" dereferences a null pointer, to check that a crashing
 * kernel takes only its worker down (tests/test_abi.c runs it in a child
 * process; the end-to-end tests run it under forqd: the task ends
 * FAILED/LOST per its retry policy and the worker is replaced).
 */
#include <forq/kernel.h>

static int
crash_run(struct forq_ctx *c)
{
	/* a volatile pointer to volatile: the compiler must load the pointer
	 * and perform the store, so the null dereference really happens */
	volatile int *volatile p = NULL;

	(void)c;
	*p = 42;
	return FORQ_DONE;
}

static const struct forq_kernel crash_kernels[] = {
	{ .name = "crash",
	  .summary = "dereference NULL (test fixture)",
	  .args = NULL,
	  .validate = NULL,
	  .run = crash_run },
};

const struct forq_plugin forq_plugin = {
	.abi = FORQ_KERNEL_ABI,
	.name = "test_crash",
	.nkernels = 1,
	.kernels = crash_kernels,
};
