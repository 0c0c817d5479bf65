/*
 * Unit tests for workers/worker_type.c: every spelling finds its row, case
 * does not matter, --threads turns sync into gthread and nothing else, an
 * unknown spelling finds nothing, and the spellings -k lists are exactly
 * the rows' names and aliases, the default first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "workers/worker_type.h"

static const char *name_of(const char *spelling, int threads)
{
	const struct worker_type *t = worker_type_find(spelling, threads);

	return t ? t->name : NULL;
}

static void test_names_and_aliases(void **state)
{
	static const char *const cases[][2] = {
	    {"sync", "sync"},
	    {"gthread", "gthread"},
	    {"greenlet", "greenlet"},
	    {"gevent", "gevent"},
	    {"egg:gunicorn#sync", "sync"},
	    {"gunicorn.workers.sync.SyncWorker", "sync"},
	    {"egg:gunicorn#gthread", "gthread"},
	    {"gunicorn.workers.gthread.ThreadWorker", "gthread"},
	    {"egg:gunicorn#gevent", "gevent"},
	    {"gunicorn.workers.ggevent.GeventWorker", "gevent"},
	    {"gevent_pywsgi", "gevent"},
	    {"gevent_wsgi", "gevent"},
	    {"gunicorn.workers.ggevent.GeventPyWSGIWorker", "gevent"},
	    {"Gevent_PyWSGI", "gevent"},
	    {"uvicorn.workers.UvicornWorker", "asyncio"},
	    {"uvicorn.workers.UvicornH11Worker", "asyncio"},
	    {"uvicorn_worker.UvicornWorker", "asyncio"},
	    {"uvicorn_worker.UvicornH11Worker", "asyncio"},
	    {"GEVENT", "gevent"},
	    {"Egg:Gunicorn#Sync", "sync"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(name_of(cases[i][0], 1), cases[i][1]);
}

static void test_unknown(void **state)
{
	static const char *const unknown[] = {"",
	                                      "nosuchclass",
	                                      "egg:gunicorn#greenlet",
	                                      "egg:gunicorn#eventlet",
	                                      "gevent_pywsgi ",
	                                      "sync ",
	                                      "egg:gunicorn"};

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(worker_type_find(unknown[i], 1));
}

static void test_default_and_threads(void **state)
{
	assert_string_equal(name_of(NULL, 1), "sync");
	assert_string_equal(name_of(NULL, 4), "gthread");
	assert_string_equal(name_of("sync", 2), "gthread");
	assert_string_equal(name_of("egg:gunicorn#sync", 2), "gthread");
	assert_string_equal(name_of("gthread", 8), "gthread");
	assert_string_equal(name_of("greenlet", 8), "greenlet");
	assert_string_equal(name_of("gevent", 8), "gevent");
	assert_string_equal(name_of("asyncio", 8), "asyncio");
}

static void test_rows(void **state)
{
	size_t n = 0;
	const char *s;

	for (size_t i = 0; (s = worker_type_spelling(i)); i++, n++) {
		const struct worker_type *t = worker_type_find(s, 1);
		assert_non_null(t);
		assert_non_null(t->run);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(worker_type_spelling(j), s);
	}
	assert_int_equal(n, 18);
	assert_string_equal(worker_type_spelling(0), "sync");
	assert_null(worker_type_find("gevent", 1)->threaded);
	assert_non_null(worker_type_find("gevent", 1)->before_import);
	assert_null(worker_type_find("sync", 1)->before_import);
	assert_null(worker_type_find("sync", 1)->backend);
	assert_non_null(worker_type_find("greenlet", 1)->backend);
	assert_non_null(worker_type_find("asyncio", 1)->backend);
	assert_null(worker_type_find("asyncio", 1)->before_import);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_aliases),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_default_and_threads),
	    cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
