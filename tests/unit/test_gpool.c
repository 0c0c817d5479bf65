/* Unit tests for the greenlet pool: last parked first out, and a trim that
 * gives back, oldest first, only what a whole period left unused. Plain
 * Python objects stand in for greenlets: the pool only holds references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workers/python/gpool.h"

static int setup(void **state)
{
	(void)state;
	Py_InitializeEx(0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return Py_FinalizeEx();
}

/* Park n new objects numbered first.. on p. */
static void park(struct gpool *p, long first, long n)
{
	for (long i = first; i < first + n; i++) {
		PyObject *o = PyLong_FromLong(i); /* new ref */

		assert_non_null(o);
		assert_int_equal(gpool_put(p, o), 0);
		Py_DECREF(o);
	}
}

static long take_number(struct gpool *p)
{
	PyObject *o = gpool_take(p); /* new ref */
	long v;

	assert_non_null(o);
	v = PyLong_AsLong(o);
	Py_DECREF(o);
	return v;
}

static void test_last_parked_first_out(void **state)
{
	struct gpool p;

	(void)state;
	assert_int_equal(gpool_init(&p), 0);
	assert_null(gpool_take(&p));
	assert_null(PyErr_Occurred());
	park(&p, 1, 3);
	assert_int_equal(take_number(&p), 3);
	assert_int_equal(take_number(&p), 2);
	park(&p, 7, 1);
	assert_int_equal(take_number(&p), 7);
	assert_int_equal(take_number(&p), 1);
	assert_null(gpool_take(&p));
	Py_DECREF(p.parked);
}

static void test_trim_gives_back_the_unused(void **state)
{
	struct gpool p;

	(void)state;
	assert_int_equal(gpool_init(&p), 0);
	park(&p, 0, 200);
	/* The first tick only starts the count. */
	gpool_tick(&p, 10.0);
	assert_int_equal(gpool_size(&p), 200);
	/* A burst took 150 and gave them back: 50 went unused all period. */
	for (int i = 0; i < 150; i++)
		take_number(&p);
	park(&p, 1000, 150);
	gpool_tick(&p, 10.5); /* not a period yet */
	assert_int_equal(gpool_size(&p), 200);
	gpool_tick(&p, 10.0 + GPOOL_TRIM_S);
	assert_int_equal(gpool_size(&p), 150);
	/* The oldest went: what is left is the burst, newest last. */
	assert_int_equal(take_number(&p), 1149);
	park(&p, 1149, 1);
	assert_int_equal(PyLong_AsLong(PyList_GET_ITEM(p.parked, 0)), 1000);
	/* Nothing used for a period: down to GPOOL_KEEP, never below. */
	gpool_tick(&p, 10.0 + 2 * GPOOL_TRIM_S);
	assert_int_equal(gpool_size(&p), GPOOL_KEEP);
	gpool_tick(&p, 10.0 + 3 * GPOOL_TRIM_S);
	assert_int_equal(gpool_size(&p), GPOOL_KEEP);
	Py_DECREF(p.parked);
}

static void test_remove_counts_as_use(void **state)
{
	struct gpool p;
	PyObject *mid;

	(void)state;
	assert_int_equal(gpool_init(&p), 0);
	park(&p, 0, 200);
	gpool_tick(&p, 0.0);
	mid = PyList_GET_ITEM(p.parked, 50); /* borrowed */
	Py_INCREF(mid);
	gpool_remove(&p, mid);
	assert_int_equal(gpool_size(&p), 199);
	gpool_remove(&p, mid); /* not parked any more: nothing */
	assert_int_equal(gpool_size(&p), 199);
	Py_DECREF(mid);
	/* Only the 50 parked below it stayed unused all period. */
	gpool_tick(&p, GPOOL_TRIM_S);
	assert_int_equal(gpool_size(&p), 149);
	Py_DECREF(p.parked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_last_parked_first_out),
	    cmocka_unit_test(test_trim_gives_back_the_unused),
	    cmocka_unit_test(test_remove_counts_as_use),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
