/* Unit tests for arbiter/notify.c: what it takes from the environment (and
 * refuses), the datagrams it sends to a path and to the abstract namespace,
 * the watchdog's pace, and what it hands a USR2 child. Includes the .c to
 * start each test from a fresh state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arbiter/notify.c"

/* A datagram socket standing for systemd's, bound to `address` (a path or @NAME). */
static int listen_at(const char *address)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + strlen(address);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	memcpy(sun.sun_path, address, strlen(address));
	if (address[0] == '@')
		sun.sun_path[0] = '\0';
	unlink(address);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

/* The next datagram on fd, "" if none is waiting. */
static const char *next_message(int fd)
{
	static char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int setup(void **st)
{
	(void)st;
	memset(&state, 0, sizeof(state));
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
}

static void test_notify_sends_to_a_path_and_clears_the_environment(void **st)
{
	char err[256], path[64];
	int fd;

	(void)st;
	snprintf(path, sizeof(path), "/tmp/kirin-test-notify-%ld", (long)getpid());
	fd = listen_at(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(notify_init(err, sizeof(err)), 0);
	assert_null(getenv("NOTIFY_SOCKET"));
	notify_send("READY=1\nSTATUS=%d workers", 2);
	assert_string_equal(next_message(fd), "READY=1\nSTATUS=2 workers");
	close(fd);
	unlink(path);
}

static void test_notify_sends_to_the_abstract_namespace(void **st)
{
	char err[256], name[64];
	int fd;

	(void)st;
	snprintf(name, sizeof(name), "@kirin-test-notify-%ld", (long)getpid());
	fd = listen_at(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_init(err, sizeof(err)), 0);
	notify_send("STOPPING=1");
	assert_string_equal(next_message(fd), "STOPPING=1");
	close(fd);
}

static void test_notify_without_socket_does_nothing(void **st)
{
	char err[256];

	(void)st;
	assert_int_equal(notify_init(err, sizeof(err)), 0);
	notify_send("READY=1");
	assert_true(notify_watchdog_wait(0) < 0);
}

static void test_notify_refuses_malformed_variables(void **st)
{
	static const char *const bad[][2] = {
	    {"NOTIFY_SOCKET", "relative"},
	    {"WATCHDOG_USEC", "0"},
	    {"WATCHDOG_USEC", "10s"},
	    {"WATCHDOG_PID", "-1"},
	};
	char err[256];

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(bad[i][0], bad[i][1], 1);
		assert_int_equal(notify_init(err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i][0]));
		assert_null(getenv(bad[i][0]));
	}
}

static void test_notify_watchdog_every_half_period(void **st)
{
	char err[256];

	(void)st;
	setenv("WATCHDOG_USEC", "3000000", 1);
	assert_int_equal(notify_init(err, sizeof(err)), 0);
	assert_true(notify_watchdog_wait(100.0) == 0);
	notify_watchdog(100.0);
	assert_true(notify_watchdog_wait(100.5) > 0.99 && notify_watchdog_wait(100.5) < 1.01);
	assert_true(notify_watchdog_wait(101.5) == 0);
}

static void test_notify_watchdog_for_another_pid_is_off(void **st)
{
	char err[256];

	(void)st;
	setenv("WATCHDOG_USEC", "3000000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(notify_init(err, sizeof(err)), 0);
	assert_true(notify_watchdog_wait(0) < 0);
}

static void test_notify_export_names_the_child(void **st)
{
	char err[256], pid[32];

	(void)st;
	setenv("NOTIFY_SOCKET", "@kirin", 1);
	setenv("WATCHDOG_USEC", "3000000", 1);
	assert_int_equal(notify_init(err, sizeof(err)), 0);
	notify_export();
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_string_equal(getenv("NOTIFY_SOCKET"), "@kirin");
	assert_string_equal(getenv("WATCHDOG_USEC"), "3000000");
	assert_string_equal(getenv("WATCHDOG_PID"), pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_notify_sends_to_a_path_and_clears_the_environment, setup),
	    cmocka_unit_test_setup(test_notify_sends_to_the_abstract_namespace, setup),
	    cmocka_unit_test_setup(test_notify_without_socket_does_nothing, setup),
	    cmocka_unit_test_setup(test_notify_refuses_malformed_variables, setup),
	    cmocka_unit_test_setup(test_notify_watchdog_every_half_period, setup),
	    cmocka_unit_test_setup(test_notify_watchdog_for_another_pid_is_off, setup),
	    cmocka_unit_test_setup(test_notify_export_names_the_child, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
