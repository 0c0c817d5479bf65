/*
 * Unit tests for workers/python/pystack.c, on a fresh thread state (which,
 * as a new greenlet, has no data stack yet): Python runs on the 1 KiB root
 * chunk, frames past it spill into 16 KiB chunks and come back; the
 * thread is left with no data stack at the end; a root chunk handed to the
 * arena allocator (as greenlet frees an unfinished greenlet's chunks) goes
 * back to free(); a thread state that already has frames is left alone.
 * Under AddressSanitizer a chunk written past its end or freed the wrong
 * way fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workers/python/pystack.h"

static PyObject *globals;
static PyThreadState *main_ts;

static int setup(void **state)
{
	PyObject *r;

	(void)state;
	Py_InitializeEx(0);
	pystack_init();
	globals = PyDict_New(); /* new ref */
	PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
	r = PyRun_String("def down(n, pad=None):\n"
			 "    return n if n == 0 else 1 + down(n - 1, (n, pad))\n"
			 "def blow(n):\n"
			 "    return blow(n + 1)\n",
			 Py_file_input, globals, globals); /* new ref */
	Py_XDECREF(r);
	main_ts = PyThreadState_Get();
	return r ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	Py_CLEAR(globals);
	return Py_FinalizeEx();
}

/* Evaluate expr on the current thread state: its int value, -1 on an exception. */
static long eval(const char *expr)
{
	PyObject *r = PyRun_String(expr, Py_eval_input, globals, globals); /* new ref */
	long v = r ? PyLong_AsLong(r) : -1;

	Py_XDECREF(r);
	PyErr_Clear();
	return v;
}

/* A new thread state of the interpreter, current: it has no data stack. */
static PyThreadState *fresh(void)
{
	PyThreadState *ts = PyThreadState_New(main_ts->interp);

	PyThreadState_Swap(ts);
	assert_null(ts->datastack_chunk);
	return ts;
}

static void back_to_main(PyThreadState *ts)
{
	PyThreadState_Swap(main_ts);
	PyThreadState_Clear(ts);
	PyThreadState_Delete(ts);
}

static void test_frames_spill_and_come_back(void **state)
{
	PyThreadState *ts = fresh();
	void *root = pystack_begin();

	(void)state;
	assert_non_null(root);
	assert_ptr_equal(ts->datastack_chunk, root);
	assert_int_equal(ts->datastack_chunk->size, 1024);
	assert_int_equal(eval("down(3)"), 3);     /* fits the root chunk */
	assert_ptr_equal(ts->datastack_chunk, root);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(eval("down(300)"), 300); /* spills, and pops back */
		assert_ptr_equal(ts->datastack_chunk, root);
		assert_ptr_equal(ts->datastack_top, &ts->datastack_chunk->data[1]);
	}
	assert_int_equal(eval("blow(0)"), -1); /* RecursionError, chunks of 16 KiB and more */
	assert_ptr_equal(ts->datastack_chunk, root);
	pystack_end(root);
	assert_null(ts->datastack_chunk);
	assert_null(ts->datastack_top);
	back_to_main(ts);
}

static void test_root_freed_through_the_arena_allocator(void **state)
{
	PyThreadState *ts = fresh();
	_PyStackChunk *root = pystack_begin();
	PyObjectArenaAllocator a;

	(void)state;
	assert_non_null(root);
	assert_int_equal(eval("down(10)"), 10);
	/* What greenlet does with a greenlet that never finished. */
	ts->datastack_chunk = NULL;
	ts->datastack_top = ts->datastack_limit = NULL;
	PyObject_GetArenaAllocator(&a);
	a.free(a.ctx, root, root->size);
	pystack_end(NULL); /* nothing */
	back_to_main(ts);
}

static void test_a_thread_with_frames_is_left_alone(void **state)
{
	PyThreadState *ts = fresh();
	_PyStackChunk *before;

	(void)state;
	assert_int_equal(eval("down(1)"), 1); /* CPython gives it a root chunk of its own */
	before = ts->datastack_chunk;
	assert_non_null(before);
	assert_null(pystack_begin());
	assert_ptr_equal(ts->datastack_chunk, before);
	back_to_main(ts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_spill_and_come_back),
		cmocka_unit_test(test_root_freed_through_the_arena_allocator),
		cmocka_unit_test(test_a_thread_with_frames_is_left_alone),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
