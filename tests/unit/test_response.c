/*
 * test_response — unit tests for workers/http/response.c: the reason
 * phrases of the status codes kirin answers with, and a response begun as
 * a copy of another (the writer itself is exercised end to end by the e2e
 * tests and tests/fuzz/fuzz_connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "workers/http/response.h"

static void test_reason(void **state)
{
	static const struct {
		int status;
		const char *reason;
	} rows[] = {
		{100, "Continue"},
		{200, "OK"},
		{204, "No Content"},
		{304, "Not Modified"},
		{400, "Bad Request"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{408, "Request Timeout"},
		{413, "Content Too Large"},
		{414, "URI Too Long"},
		{417, "Expectation Failed"},
		{431, "Request Header Fields Too Large"},
		{500, "Internal Server Error"},
		{501, "Not Implemented"},
		{503, "Service Unavailable"},
		{505, "HTTP Version Not Supported"},
		{299, "Unknown"},
		{-1, "Unknown"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_string_equal(http_reason(rows[i].status), rows[i].reason);
}

/* A copy of a begun response ends as the original does, and leaves it as it was. */
static void test_begin_as(void **state)
{
	struct response model = {0}, a = {0}, b = {0};
	char big[700];
	size_t len;

	(void)state;
	memset(big, 'v', sizeof(big));
	for (int round = 0; round < 2; round++) {
		assert_int_equal(response_begin(&model, "201 Created", 11, 1, round == 1, true), 0);
		assert_int_equal(response_add_header(&model, "Content-Length", 14, "3", 1), 0);
		assert_int_equal(response_add_header(&model, "Connection", 10, "close", 5), 0);
		if (round == 1) /* past the usual head buffer */
			assert_int_equal(response_add_header(&model, "X-Big", 5, big, sizeof(big)), 0);
		len = model.head_len;
		assert_int_equal(response_begin(&a, "201 Created", 11, 1, round == 1, true), 0);
		assert_int_equal(response_add_header(&a, "Content-Length", 14, "3", 1), 0);
		assert_int_equal(response_add_header(&a, "Connection", 10, "close", 5), 0);
		if (round == 1)
			assert_int_equal(response_add_header(&a, "X-Big", 5, big, sizeof(big)), 0);
		response_begin_as(&b, &model);
		assert_int_equal(model.head_len, len);
		assert_int_equal(b.status, 201);
		assert_true(b.has_length && b.length == 3 && !b.keep_alive);
		assert_int_equal(b.no_body, round == 1);
		response_end_head(&a, 3);
		response_end_head(&b, 3);
		assert_int_equal(a.head_len, b.head_len);
		assert_memory_equal(a.head, b.head, a.head_len);
		/* The copy's head is its own. */
		b.head[0] = 'X';
		assert_int_equal(model.head[0], 'H');
		response_free(&a);
		response_free(&b);
		response_free(&model);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_begin_as),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
