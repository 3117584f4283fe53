/*
 * test_nosym — a test fixture, not an example: a shared object without the
 * forq_plugin symbol.  kernel_load_plugin must refuse it with -ENOEXEC and
 * a message naming the path and the missing symbol (tests/test_abi.c).
 */
#include <forq/kernel.h>

int test_nosym_marker(void);

int
test_nosym_marker(void)
{
	return FORQ_KERNEL_ABI;
}
