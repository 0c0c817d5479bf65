/* Unit tests for --request-timeout's slots and its cancellation of a
 * request in the main thread: off costs nothing and starts nothing; the
 * slots are bounded and reused; a request sleeping in time.sleep() is
 * interrupted by kirin.RequestTimeout within a tick of the limit, and its
 * slot says it was cancelled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arbiter/config.h"
#include "arbiter/monotime.h"
#include "workers/http/conn.h"
#include "workers/python/kirinmod.h"
#include "workers/python/reqtimeout.c"

static struct conn request(const char *target)
{
	struct conn c = {.fd = -1};

	c.req.method = "GET";
	c.req.method_len = 3;
	c.req.target = target;
	c.req.target_len = strlen(target);
	strcpy(c.peer_addr, "192.0.2.1");
	return c;
}

static void test_off_starts_nothing(void **state)
{
	struct config cfg = {.request_timeout = 0, .threads = 1, .worker_connections = 1};

	assert_int_equal(reqtimeout_init(&cfg), 0);
	assert_int_equal(reqtimeout_seconds, 0);
	assert_false(R.threads_started);
	assert_false(reqtimeout_interrupted());
	reqtimeout_end(-1); /* not timed: nothing to do */
	reqtimeout_stop();
}

/* From here on, on: a 1 s limit, room for two requests. */
static void test_on_bounds_and_reuses_its_slots(void **state)
{
	struct config cfg = {.request_timeout = 1, .threads = 1, .worker_connections = 1};
	struct conn c = request("/a");
	int a, b;

	assert_int_equal(reqtimeout_init(&cfg), 0);
	assert_int_equal(reqtimeout_seconds, 1);
	a = reqtimeout_begin(&c);
	b = reqtimeout_begin(&c);
	assert_true(a >= 0 && b >= 0 && a != b);
	assert_int_equal(reqtimeout_begin(&c), -1); /* no room: not timed */
	assert_string_equal(R.slots[a].what, "GET /a");
	assert_string_equal(R.slots[a].peer, "192.0.2.1");
	reqtimeout_end(b);
	assert_int_equal(reqtimeout_begin(&c), b);
	reqtimeout_end(b);
	reqtimeout_end(a);
	assert_false(reqtimeout_cancelled(a));
}

static void test_sleep_in_the_main_thread_is_cancelled(void **state)
{
	char target[300];
	struct conn c;
	PyObject *d = PyDict_New(), *r;
	double start;
	int slot;

	/* A target longer than the log keeps: cut, not overflowed. */
	memset(target, 'x', sizeof(target) - 1);
	target[0] = '/';
	target[sizeof(target) - 1] = 0;
	c = request(target);
	PyDict_SetItemString(d, "__builtins__", PyEval_GetBuiltins());
	start = monotime_now();
	slot = reqtimeout_begin(&c);
	assert_true(slot >= 0);
	assert_int_equal(strlen(R.slots[slot].what), sizeof(R.slots[slot].what) - 1);
	r = PyRun_String("import time\ntime.sleep(5)\n", Py_file_input, d, d);
	assert_null(r);
	assert_true(reqtimeout_matches());
	PyErr_Clear();
	assert_true(monotime_now() - start >= 0.95);
	assert_true(monotime_now() - start < 3.0); /* a tick, and room for a busy machine */
	assert_true(reqtimeout_cancelled(slot));
	reqtimeout_end(slot);
	Py_DECREF(d);
	/* Ended: a signal that comes late raises nothing. */
	R.pending = -1;
	assert_non_null(on_signal(NULL, NULL));
	reqtimeout_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off_starts_nothing),
	    cmocka_unit_test(test_on_bounds_and_reuses_its_slots),
	    cmocka_unit_test(test_sleep_in_the_main_thread_is_cancelled),
	};
	int rc;

	kirinmod_register();
	Py_InitializeEx(0);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	Py_FinalizeEx();
	return rc;
}
