/*
 * test_response — unit tests for workers/http/response.c: the reason
 * phrases of the status codes kirin answers with (the writer itself is
 * exercised end to end by the e2e tests and tests/fuzz/fuzz_connection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
