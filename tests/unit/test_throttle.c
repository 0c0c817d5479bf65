/* Unit tests for arbiter/throttle.c: bursts, the wait it reports, a steady
 * crash loop, and a burst larger than the ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arbiter/throttle.h"

static void test_throttle_burst_then_wait(void **state)
{
	struct throttle t;

	(void)state;
	throttle_init(&t, 3, 1.0);
	assert_true(throttle_take(&t, 10.0));
	assert_true(throttle_take(&t, 10.1));
	assert_true(throttle_take(&t, 10.2));
	/* The fourth within the window is refused, and says how long to wait. */
	assert_false(throttle_take(&t, 10.5));
	assert_true(throttle_wait(&t, 10.5) > 0.49 && throttle_wait(&t, 10.5) < 0.51);
	assert_true(throttle_wait(&t, 11.0) == 0);
	assert_true(throttle_take(&t, 11.0));
	/* Now 10.1, 10.2, 11.0 are the last three: the next waits for 10.1 to age. */
	assert_false(throttle_take(&t, 11.05));
	assert_true(throttle_take(&t, 11.1));
}

static void test_throttle_steady_rate(void **state)
{
	struct throttle t;
	int allowed = 0;

	(void)state;
	throttle_init(&t, 5, 1.0);
	/* A crash loop trying 100 times a second for 10 s gets ~5 per second. */
	for (int i = 0; i < 1000; i++)
		allowed += throttle_take(&t, i * 0.01);
	assert_in_range(allowed, 45, 55);
}

static void test_throttle_burst_capped(void **state)
{
	struct throttle t;

	(void)state;
	throttle_init(&t, 100, 1.0); /* more than the ring holds */
	for (int i = 0; i < THROTTLE_RING; i++)
		assert_true(throttle_take(&t, 1.0));
	assert_false(throttle_take(&t, 1.0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_throttle_burst_then_wait),
		cmocka_unit_test(test_throttle_steady_rate),
		cmocka_unit_test(test_throttle_burst_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
