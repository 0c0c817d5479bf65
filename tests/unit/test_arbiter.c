/* Unit tests for the arbiter's pure logic: signal names, status
 * descriptions, boot-error detection. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "arbiter/arbiter.h"
#include "workers/channel.h"

/* Build wait statuses the way the kernel encodes them. */
static int exited(int code)
{
	return (code & 0xff) << 8;
}

static int killed(int sig, int core)
{
	return sig | (core ? 0x80 : 0);
}

static void test_signal_names(void **state)
{
	(void)state;
	assert_string_equal(arbiter_signal_name(SIGTERM), "SIGTERM");
	assert_string_equal(arbiter_signal_name(SIGKILL), "SIGKILL");
	assert_string_equal(arbiter_signal_name(SIGTTIN), "SIGTTIN");
	assert_string_equal(arbiter_signal_name(63), "signal 63");
}

static void test_describe_status(void **state)
{
	char buf[64];

	(void)state;
	arbiter_describe_status(exited(0), buf, sizeof(buf));
	assert_string_equal(buf, "exit code 0");
	arbiter_describe_status(exited(4), buf, sizeof(buf));
	assert_string_equal(buf, "exit code 4");
	arbiter_describe_status(killed(SIGKILL, 0), buf, sizeof(buf));
	assert_string_equal(buf, "signal SIGKILL");
	arbiter_describe_status(killed(SIGSEGV, 1), buf, sizeof(buf));
	assert_string_equal(buf, "signal SIGSEGV (core dumped)");
}

static void test_fatal_status(void **state)
{
	(void)state;
	assert_int_equal(arbiter_fatal_status(exited(WORKER_EXIT_APP_LOAD_ERROR)), 4);
	assert_int_equal(arbiter_fatal_status(exited(WORKER_EXIT_BOOT_ERROR)), 3);
	assert_int_equal(arbiter_fatal_status(exited(0)), 0);
	assert_int_equal(arbiter_fatal_status(exited(1)), 0);
	/* A worker killed by a signal is a crash after boot: respawn. */
	assert_int_equal(arbiter_fatal_status(killed(SIGKILL, 0)), 0);
	assert_int_equal(arbiter_fatal_status(killed(SIGSEGV, 1)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_names),
		cmocka_unit_test(test_describe_status),
		cmocka_unit_test(test_fatal_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
