/*
 * Unit tests for workers/python/kirinmod.c with its blocking backend (sync,
 * gthread): kirin.sleep and kirin.wait_readable/wait_writable take their
 * lengths as Python's time.sleep does: NaN and negative numbers raise
 * ValueError, lengths past what time.sleep takes raise OverflowError, and
 * a length past INT_MAX milliseconds (~24.8 days) is waited in pieces, not
 * overflowed. The .c is included to reach its static helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "workers/python/kirinmod.c"

static PyObject *globals;

/* No --request-timeout here (this test links kirinmod alone): no sleep is cancelled. */
bool reqtimeout_interrupted(void)
{
	return false;
}

static int setup(void **state)
{
	PyObject *r;

	(void)state;
	alarm(30); /* a length let through to a real wait fails the test, not hangs it */
	kirinmod_register();
	Py_InitializeEx(0);
	globals = PyDict_New(); /* new ref */
	PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
	/* ready: a pipe with a byte in it, so a wait that is let through returns at once */
	r = PyRun_String("import kirin, os\n"
			 "ready, w = os.pipe()\n"
			 "os.write(w, b'x')\n",
			 Py_file_input, globals, globals); /* new ref */
	Py_XDECREF(r);
	return r ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	Py_CLEAR(globals);
	return Py_FinalizeEx();
}

/* Evaluate expr; returns the type of the exception it raised (borrowed), or NULL. */
static PyObject *raised(const char *expr)
{
	PyObject *r = PyRun_String(expr, Py_eval_input, globals, globals); /* new ref */
	PyObject *type = r ? NULL : PyErr_Occurred();                      /* borrowed */

	Py_XDECREF(r);
	PyErr_Clear();
	return type;
}

/* Evaluate expr, which must not raise; its truth. */
static bool truth(const char *expr)
{
	PyObject *r = PyRun_String(expr, Py_eval_input, globals, globals); /* new ref */
	int t = r ? PyObject_IsTrue(r) : -1;

	Py_XDECREF(r);
	assert_int_not_equal(t, -1);
	return t;
}

static void test_sleep_lengths(void **state)
{
	assert_ptr_equal(raised("kirin.sleep(float('nan'))"), PyExc_ValueError);
	assert_ptr_equal(raised("kirin.sleep(-1)"), PyExc_ValueError);
	assert_ptr_equal(raised("kirin.sleep(1e10)"), PyExc_OverflowError);
	assert_ptr_equal(raised("kirin.sleep(1e300)"), PyExc_OverflowError);
	assert_ptr_equal(raised("kirin.sleep(float('inf'))"), PyExc_OverflowError);
	assert_ptr_equal(raised("kirin.sleep('1')"), PyExc_TypeError);
	assert_null(raised("kirin.sleep(0)"));
	assert_null(raised("kirin.sleep(0.001)"));
}

static void test_wait_timeouts(void **state)
{
	static const char *const fds[][2] = {{"wait_readable", "ready"}, {"wait_writable", "w"}};
	struct {
		const char *timeout;
		PyObject **raises;
	} cases[] = {
		{"float('nan')", &PyExc_ValueError},
		{"-1", &PyExc_ValueError},
		{"1e300", &PyExc_OverflowError},
		{"30 * 86400", NULL}, /* past INT_MAX ms, but a length time.sleep takes */
		{"None", NULL},
		{"0", NULL},
	};
	char expr[128];

	for (size_t i = 0; i < 2; i++)
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			snprintf(expr, sizeof(expr), "kirin.%s(%s, timeout=%s)", fds[i][0],
				 fds[i][1], cases[c].timeout);
			assert_ptr_equal(raised(expr), cases[c].raises ? *cases[c].raises : NULL);
		}
	assert_true(truth("kirin.wait_readable(ready, 1)"));
	assert_false(truth("kirin.wait_readable(os.pipe()[0], 0.01)"));
}

/* poll(2) takes int milliseconds: rounded up so no wait ends early, at most INT_MAX. */
static void test_poll_ms(void **state)
{
	assert_int_equal(poll_ms(0), 0);
	assert_int_equal(poll_ms(0.0001), 1);
	assert_int_equal(poll_ms(1.5), 1500);
	assert_int_equal(poll_ms(30 * 86400.0), INT_MAX);
	assert_int_equal(poll_ms(9e9), INT_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sleep_lengths),
	    cmocka_unit_test(test_wait_timeouts),
	    cmocka_unit_test(test_poll_ms),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
