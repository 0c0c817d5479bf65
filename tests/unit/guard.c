/* guard — see guard.h. */
#include "tests/unit/guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_SPACE (2 * 1024 * 1024) /* the largest input a test places */

static char *guard_end; /* the PROT_NONE page starts here */

int guard_setup(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	char *base = mmap(NULL, GUARD_SPACE + (size_t)page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	if (base == MAP_FAILED)
		return -1;
	guard_end = base + GUARD_SPACE;
	return mprotect(guard_end, (size_t)page, PROT_NONE);
}

char *guard_place(const char *in, size_t n)
{
	assert_true(n <= GUARD_SPACE);
	if (n > 0)
		memmove(guard_end - n, in, n);
	return guard_end - n;
}
