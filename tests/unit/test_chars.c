/*
 * test_chars — unit tests for workers/http/chars.c: what the response
 * writer checks an application's header names and values with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "workers/http/chars.h"

static void test_token(void **state)
{
	static const struct {
		const char *s;
		bool token;
	} rows[] = {
		{"Content-Type", true}, {"X-A_b.c~d!#$%&'*+^`|", true},
		{"a", true},            {"0", true},
		{"", false},            {"Content Type", false},
		{"a:b", false},         {"a\r\nb", false},
		{"(x)", false},         {"a/b", false},
		{"\x80", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(chars_is_token(rows[i].s, strlen(rows[i].s)), rows[i].token);
}

static void test_field_value(void **state)
{
	static const struct {
		const char *s;
		size_t len; /* 0: strlen(s) */
		bool value;
	} rows[] = {
		{"", 0, true},
		{"text/plain; charset=utf-8", 0, true},
		{"a\tb", 0, true},
		{"\x80\xff", 0, true},
		{"~!@#$%^&*()_+", 0, true},
		{"a\r\nSet-Cookie: x", 0, false},
		{"a\nb", 0, false},
		{"a\rb", 0, false},
		{"\x7f", 0, false},
		{"\x01", 0, false},
		{"a\0b", 3, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = rows[i].len ? rows[i].len : strlen(rows[i].s);

		assert_int_equal(chars_is_field_value(rows[i].s, n), rows[i].value);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_field_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
