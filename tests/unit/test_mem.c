/*
 * Unit tests for workers/http/mem.c's spares: a thread keeps at most
 * MEM_SPARE_MAX blocks of one size, and all the spares together at most
 * MEM_SPARES_BYTES, however many threads give blocks back (here several
 * spares of one thread, which is what the bound sees of them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "workers/http/mem.h"

#define BLOCK   16384
#define THREADS 8

static void test_a_thread_keeps_blocks_of_one_size(void **state)
{
	struct mem_spares s = {0};
	void *p = mem_alloc(BLOCK);

	(void)state;
	mem_spare_give(&s, p, BLOCK);
	mem_spare_give(&s, mem_alloc(100), 100); /* another size: freed */
	mem_spare_give(&s, NULL, BLOCK);
	assert_int_equal(s.n, 1);
	assert_ptr_equal(mem_spare_take(&s, BLOCK), p);
	assert_int_equal(s.n, 0);
	free(p);
	for (int i = 0; i < MEM_SPARE_MAX + 3; i++)
		mem_spare_give(&s, mem_alloc(BLOCK), BLOCK);
	assert_int_equal(s.n, MEM_SPARE_MAX);
	while (s.n)
		free(mem_spare_take(&s, BLOCK));
}

static void test_all_spares_together_are_bounded(void **state)
{
	static struct mem_spares s[THREADS];
	size_t kept = 0;

	(void)state;
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < MEM_SPARE_MAX; i++)
			mem_spare_give(&s[t], mem_alloc(BLOCK), BLOCK);
		kept += s[t].n;
	}
	assert_int_equal(kept, MEM_SPARES_BYTES / BLOCK);
	assert_int_equal(s[THREADS - 1].n, 0);
	/* A block taken makes room for one more, in any thread. */
	free(mem_spare_take(&s[0], BLOCK));
	mem_spare_give(&s[THREADS - 1], mem_alloc(BLOCK), BLOCK);
	assert_int_equal(s[THREADS - 1].n, 1);
	mem_spare_give(&s[THREADS - 1], mem_alloc(BLOCK), BLOCK);
	assert_int_equal(s[THREADS - 1].n, 1);
	for (int t = 0; t < THREADS; t++)
		while (s[t].n)
			free(mem_spare_take(&s[t], BLOCK));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_thread_keeps_blocks_of_one_size),
		cmocka_unit_test(test_all_spares_together_are_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
