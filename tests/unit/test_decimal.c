/* Unit tests for arbiter/decimal.c: what is a number, and the bound. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arbiter/decimal.h"

static void test_decimal_digits_only(void **state)
{
	unsigned long long v = 7;

	(void)state;
	assert_int_equal(decimal_parse("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(decimal_parse("0042", 100, &v), 0);
	assert_int_equal(v, 42);
	v = 7;
	assert_int_equal(decimal_parse("", 10, &v), -1);
	assert_int_equal(decimal_parse("-1", 10, &v), -1);
	assert_int_equal(decimal_parse("+1", 10, &v), -1);
	assert_int_equal(decimal_parse(" 1", 10, &v), -1);
	assert_int_equal(decimal_parse("1 ", 10, &v), -1);
	assert_int_equal(decimal_parse("0x10", 100, &v), -1);
	assert_int_equal(decimal_parse("1e3", 10000, &v), -1);
	/* A refusal leaves *out alone. */
	assert_int_equal(v, 7);
}

static void test_decimal_bound(void **state)
{
	unsigned long long v = 0;

	(void)state;
	assert_int_equal(decimal_parse("2147483647", INT_MAX, &v), 0);
	assert_int_equal(v, INT_MAX);
	assert_int_equal(decimal_parse("2147483648", INT_MAX, &v), -1);
	/* A user id of 2^32 must not wrap to 0 (root). */
	assert_int_equal(decimal_parse("4294967296", UINT32_MAX - 1, &v), -1);
	assert_int_equal(decimal_parse("18446744073709551615", ULLONG_MAX, &v), 0);
	assert_int_equal(v, ULLONG_MAX);
	assert_int_equal(decimal_parse("18446744073709551616", ULLONG_MAX, &v), -1);
	assert_int_equal(decimal_parse("99999999999999999999999", ULLONG_MAX, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal_digits_only),
		cmocka_unit_test(test_decimal_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
