/*
 * Unit tests for workers/python/hooks.c: hooks_commit() takes the hooks of
 * the config file pyconfig_read() executed, hooks_call() calls each with
 * Gunicorn's signature (server.cfg, server.num_workers, worker.pid...), a
 * hook that is not set costs nothing, one that raises returns -1, and a
 * commit replaces the hooks of the previous file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arbiter/config.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"
#include "workers/python/pyconfig.h"

static char path[64];

/* Execute text as the config file and commit its hooks with cfg. */
static void commit(const char *text, const struct config *cfg)
{
	struct pyconfig pc;
	char err[512];
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(pyconfig_read(path, &pc, err, sizeof(err)), 0);
	pyconfig_free(&pc);
	hooks_commit(cfg);
}

/* repr() of the config module's `calls` list. */
static char *calls(void)
{
	PyObject *mod = PyImport_AddModule("__config__");                   /* borrowed */
	PyObject *list = mod ? PyObject_GetAttrString(mod, "calls") : NULL; /* new ref */
	PyObject *r = list ? PyObject_Repr(list) : NULL;                    /* new ref */
	char *s;

	assert_non_null(r);
	s = strdup(PyUnicode_AsUTF8(r));
	Py_DECREF(r);
	Py_DECREF(list);
	return s;
}

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/kirin-test-hooks-%ld.py", (long)getpid());
	return interp_start(false);
}

static int teardown(void **state)
{
	(void)state;
	return unlink(path);
}

static void test_signatures(void **state)
{
	char *bind[] = {(char *)"127.0.0.1:9"};
	struct config cfg = {.workers = 3, .bind = {.v = bind, .n = 1}};
	char *got;

	(void)state;
	commit(
	    "calls = []\n"
	    "def on_starting(server):\n"
	    "    calls.append(('start', server.num_workers, server.cfg.workers, server.cfg.bind))\n"
	    "def pre_fork(server, worker):\n"
	    "    calls.append(('pre', worker.pid, worker.age))\n"
	    "def post_worker_init(worker):\n"
	    "    calls.append(('init', worker.pid, worker.ppid, worker.alive, "
	    "worker.cfg.workers))\n"
	    "def nworkers_changed(server, new, old):\n"
	    "    calls.append(('n', new, old))\n"
	    "def child_exit(server, worker):\n"
	    "    worker.log.info('child %s gone', worker.pid)\n"
	    "    calls.append(('exit', worker.pid, worker.alive))\n",
	    &cfg);
	assert_int_equal(hooks_call(HOOK_ON_STARTING, 3, NULL, 0, 0), 0);
	assert_int_equal(hooks_call(HOOK_PRE_FORK, 3, &(struct hook_worker){0, 1, 7, true}, 0, 0),
	                 0);
	assert_int_equal(
	    hooks_call(HOOK_POST_WORKER_INIT, 3, &(struct hook_worker){42, 1, 7, true}, 0, 0), 0);
	assert_int_equal(hooks_call(HOOK_NWORKERS_CHANGED, 4, NULL, 4, 3), 0);
	assert_int_equal(
	    hooks_call(HOOK_CHILD_EXIT, 3, &(struct hook_worker){42, 1, 7, false}, 0, 0), 0);
	assert_int_equal(hooks_call(HOOK_ON_EXIT, 0, NULL, 0, 0), 0); /* not set */
	got = calls();
	assert_string_equal(got, "[('start', 3, 3, ['127.0.0.1:9']), ('pre', 0, 7), "
	                         "('init', 42, 1, True, 3), ('n', 4, 3), ('exit', 42, False)]");
	free(got);
}

static void test_raising_hook_and_recommit(void **state)
{
	struct config cfg = {.workers = 1};
	char *got;

	(void)state;
	commit("calls = []\ndef on_reload(server):\n    raise ValueError('no')\n", &cfg);
	assert_int_equal(hooks_call(HOOK_ON_RELOAD, 1, NULL, 0, 0), -1);
	assert_true(hooks_known("worker_exit"));
	assert_true(hooks_known("post_request"));
	assert_true(hooks_known("pre_exec"));
	assert_true(hooks_known("worker_int"));
	assert_true(hooks_known("worker_abort"));
	assert_false(hooks_known("ssl_context"));
	assert_false(hooks_set(HOOK_WORKER_INT));
	/* A new file's hooks replace the old ones; not-callables are no hooks. */
	commit("calls = []\non_reload = 3\ndef on_exit(server):\n    calls.append('bye')\n", &cfg);
	assert_int_equal(hooks_call(HOOK_ON_RELOAD, 1, NULL, 0, 0), 0);
	assert_int_equal(hooks_call(HOOK_ON_EXIT, 1, NULL, 0, 0), 0);
	got = calls();
	assert_string_equal(got, "['bye']");
	free(got);
	/* Settings from no Python file any more: no hooks at the next commit. */
	commit("def on_exit(server):\n    raise ValueError('still here')\n", &cfg);
	assert_int_equal(hooks_call(HOOK_ON_EXIT, 1, NULL, 0, 0), -1);
	pyconfig_forget();
	hooks_commit(&cfg);
	assert_int_equal(hooks_call(HOOK_ON_EXIT, 1, NULL, 0, 0), 0);
	assert_null(PyImport_GetModuleDict() ? PyDict_GetItemString(PyImport_GetModuleDict(),
								     "__config__")
					     : NULL);
}

static void test_request_hooks(void **state)
{
	struct config cfg = {.workers = 1};
	PyObject *env, *status, *headers;
	char *got;

	(void)state;
	commit("calls = []\n"
	       "def pre_request(worker, req):\n"
	       "    calls.append((worker.pid, req.method, req.path, req.version, req.headers))\n"
	       "def post_request(worker, req, environ, resp):\n"
	       "    calls.append((resp.status_code, resp.headers, resp.sent, environ['Q']))\n",
	       &cfg);
	assert_true(hooks_request_set());
	assert_int_equal(
	    hooks_call(HOOK_POST_WORKER_INIT, 1, &(struct hook_worker){42, 1, 0, true}, 0, 0), 0);
	env = Py_BuildValue("{ssssssssss}", "REQUEST_METHOD", "GET", "PATH_INFO", "/x",
	                    "SERVER_PROTOCOL", "HTTP/1.1", "HTTP_X_A", "b", "Q", "q"); /* new ref */
	status = PyUnicode_FromString("404 Not Found");                                /* new ref */
	headers = Py_BuildValue("[(ss)]", "Content-Type", "text/plain");               /* new ref */
	hooks_pre_request(env);
	hooks_post_request(env, status, headers, 9);
	got = calls();
	assert_string_equal(got, "[(42, 'GET', '/x', (1, 1), [('X-A', 'b')]), "
	                         "(404, [('Content-Type', 'text/plain')], 9, 'q')]");
	free(got);
	Py_DECREF(headers);
	Py_DECREF(status);
	Py_DECREF(env);
	/* Not set: nothing is called, and the WSGI glue skips building anything. */
	commit("calls = []\n", &cfg);
	assert_false(hooks_request_set());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signatures),
	    cmocka_unit_test(test_raising_hook_and_recommit),
	    cmocka_unit_test(test_request_hooks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
