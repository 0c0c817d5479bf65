/*
 * Unit tests for arbiter/config_py.c and workers/python/pyconfig.c: a
 * Gunicorn Python config file's names as settings with Gunicorn's
 * validation, the exact messages for wrong values and broken files, the
 * warnings for Gunicorn settings kirin lacks, ./gunicorn.conf.py against
 * ./kirin.ini, GUNICORN_CMD_ARGS's place among the layers, and a second load
 * (HUP) that sees the file afresh. config_fixture.h holds the helpers.
 */
#include "tests/unit/config_fixture.h"

#include "workers/python/pyconfig.h"

/* Expect ./conf.py holding text to fail with "conf.py: want". */
static void py_fails(const char *text, const char *want)
{
	char expect[1024];

	write_file("conf.py", text);
	snprintf(expect, sizeof(expect), "conf.py: %s", want);
	load_fails(expect, "-c", "conf.py", "app:app", NULL);
	unlink("conf.py");
}

/* ---------------------------------------------------------------- values */

static void test_py_values(void **state)
{
	struct config cfg;

	write_file("conf.py", "import os\n"
	                      "bind = ['0.0.0.0:9000', 'unix:/run/k.sock']\n"
	                      "workers = 2 * 2\n"
	                      "threads = '8'\n"
	                      "backlog = True\n"
	                      "reuse_port = 'TRUE'\n"
	                      "daemon = None\n"
	                      "preload_app = False\n"
	                      "raw_env = ('A=1,2', 'B=3')\n"
	                      "pythonpath = '/a,/b'\n"
	                      "forwarded_allow_ips = ['10.0.0.1']\n"
	                      "chdir = '  /srv  '\n"
	                      "accesslog = None\n"
	                      "worker_class = 'GTHREAD'\n"
	                      "wsgi_app = 'site:application'\n"
	                      "limit_request_body = 2 ** 40\n"
	                      "user = 65534\n"
	                      "umask = 0o22\n"
	                      "proxy_protocol = True\n"
	                      "import ssl\n"
	                      "ssl_version = ssl.PROTOCOL_TLS_SERVER\n"
	                      "cert_reqs = ssl.CERT_REQUIRED\n"
	                      "suppress_ragged_eofs = False\n");
	load_ok(&cfg, "-c", "conf.py", NULL);
	assert_list(&cfg.bind, 2, "0.0.0.0:9000", "unix:/run/k.sock");
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.threads, 8);
	assert_int_equal(cfg.backlog, 1);
	assert_true(cfg.reuse_port);
	assert_false(cfg.daemon);
	assert_false(cfg.preload_app);
	assert_list(&cfg.raw_env, 2, "A=1,2", "B=3");
	assert_list(&cfg.pythonpath, 2, "/a", "/b");
	assert_list(&cfg.forwarded_allow_ips, 1, "10.0.0.1");
	assert_string_equal(cfg.chdir, "/srv");
	assert_null(cfg.accesslog);
	assert_string_equal(cfg.worker_class, "gthread");
	assert_string_equal(cfg.app_module, "site:application");
	assert_int_equal(cfg.limit_request_body, 1L << 40);
	assert_string_equal(cfg.user, "65534");
	assert_int_equal(cfg.umask, 022);
	assert_string_equal(cfg.proxy_protocol, "auto");
	assert_string_equal(cfg.ssl_version, "TLS");
	assert_int_equal(cfg.cert_reqs, 2);
	assert_false(cfg.suppress_ragged_eofs);
	assert_int_equal(cfg.notes.n, 0);
	config_free(&cfg);
	/* As Gunicorn, the file may ask for --print-config; config names no file. */
	write_file("conf.py", "print_config = True\ncheck_config = 'false'\nconfig = 'x.py'\n");
	load_ok(&cfg, "-c", "conf.py", "app:app", NULL);
	assert_true(cfg.print_config);
	assert_false(cfg.check_config);
	assert_string_equal(cfg.config, "conf.py");
	config_free(&cfg);
	/* The positional APP_MODULE wins over wsgi_app; empty lists empty. */
	write_file("conf.py", "wsgi_app = 'site:application'\nbind = []\nraw_env = ''\n");
	load_ok(&cfg, "-c", "conf.py", "other:app", NULL);
	assert_string_equal(cfg.app_module, "other:app");
	assert_int_equal(cfg.bind.n, 0);
	assert_int_equal(cfg.raw_env.n, 0);
	config_free(&cfg);
	unlink("conf.py");
}

static void test_py_wrong_values(void **state)
{
	py_fails("workers = 1.5\n",
	         "invalid value for workers: '1.5' (expected an integer, got float)");
	py_fails("workers = 'two'\n", "invalid value for workers: 'two' (expected an integer)");
	py_fails("workers = None\n",
	         "invalid value for workers: 'None' (expected an integer, got None)");
	py_fails("timeout = -5\n", "invalid value for timeout: '-5' (must be at least 0)");
	py_fails("timeout = 10 ** 40\n",
	         "invalid value for timeout: '999999999999999999999999999999' (out of range)");
	py_fails("daemon = 1\n", "invalid value for daemon: '1' (expected True or False, got int)");
	py_fails("daemon = 'on'\n",
	         "invalid value for daemon: 'on' (expected True or False, got str)");
	py_fails("chdir = b'/srv'\n",
	         "invalid value for chdir: 'b'/srv'' (expected a string, got bytes)");
	py_fails("worker_class = None\n",
	         "invalid value for worker_class: 'None' (expected a string, got None)");
	py_fails("bind = 8000\n",
	         "invalid value for bind: '8000' (expected a list of strings, got int)");
	py_fails("bind = ['a:1', None]\n",
	         "invalid value for bind: '['a:1', None]' (expected a list "
	         "of strings, got list holding NoneType)");
	py_fails("group = 0.5\n", "invalid value for group: '0.5' (expected a string, got float)");
	py_fails("bind = {'a:1'}\n",
	         "invalid value for bind: '{'a:1'}' (expected a list of strings, "
	         "got set)");
}

static void test_py_broken_files(void **state)
{
	load_fails("config file 'nothere.py' not found", "-c", "nothere.py", "app:app", NULL);
	write_file("conf.py", "workers = (\n");
	load_fails("conf.py:1: syntax error: '(' was never closed", "-c", "conf.py", "app:app",
	           NULL);
	write_file("conf.py", "workers = 2\nimport nosuchmodule\n");
	load_fails(
	    "config file 'conf.py' raised ModuleNotFoundError: No module named 'nosuchmodule'",
	    "-c", "conf.py", "app:app", NULL);
	write_file("conf.py", "raise SystemExit(2)\n");
	load_fails("config file 'conf.py' raised SystemExit: 2", "-c", "conf.py", "app:app", NULL);
	unlink("conf.py");
	load_fails("config module 'nosuch.mod' not found on sys.path", "-c", "python:nosuch.mod",
	           "app:app", NULL);
}

/* ---------------------------------------------------------------- layers */

static void test_py_quiet_gunicorn_settings(void **state)
{
	struct config cfg;

	write_file("conf.py", "def worker_int(worker):\n    pass\n"
	                      "def post_fork(server, worker):\n    pass\n"
	                      "spew = False\n"
	                      "tmp_upload_dir = '/tmp'\n"
	                      "asgi_disconnect_grace_period = 5\n"
	                      "my_helper = 3\n"
	                      "config = 'ignored.py'\n");
	load_ok(&cfg, "-c", "conf.py", "app:app", NULL);
	/* hooks, no-ops, refused settings at Gunicorn's default, settings kirin
	 * takes and the file's own names say nothing */
	assert_int_equal(cfg.asgi_disconnect_grace, 5);
	assert_list(&cfg.notes, 0);
	config_free(&cfg);
	unlink("conf.py");
}

static void test_py_default_file_and_ini(void **state)
{
	struct config cfg;

	write_file("kirin.ini", "[kirin]\nworkers = 5\n");
	write_file("gunicorn.conf.py", "workers = 3\n");
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 3);
	assert_list(&cfg.notes, 1,
	            "both ./gunicorn.conf.py and ./kirin.ini exist: using ./gunicorn.conf.py (as "
	            "Gunicorn), ignoring ./kirin.ini");
	config_free(&cfg);
	/* -c names the file: neither default is read. */
	write_file("other.ini", "[kirin]\ntimeout = 7\n");
	load_ok(&cfg, "-c", "other.ini", "app:app", NULL);
	assert_int_equal(cfg.workers, 1);
	assert_int_equal(cfg.timeout, 7);
	assert_int_equal(cfg.notes.n, 0);
	config_free(&cfg);
	unlink("other.ini");
}

static void test_py_gunicorn_cmd_args(void **state)
{
	struct config cfg;

	write_file("gunicorn.conf.py", "workers = 3\ntimeout = 10\nkeepalive = 4\nbacklog = 5\n");
	setenv("GUNICORN_CMD_ARGS", "--timeout=11 --keep-alive 12 --backlog 13", 1);
	setenv("KIRIN_CMD_ARGS", "--keep-alive 14 --backlog 15", 1);
	load_ok(&cfg, "--backlog", "16", "app:app", NULL);
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(cfg.timeout, 11);
	assert_int_equal(cfg.keepalive, 14);
	assert_int_equal(cfg.backlog, 16);
	config_free(&cfg);
	setenv("GUNICORN_CMD_ARGS", "--timeout 'x", 1);
	load_fails("GUNICORN_CMD_ARGS: unterminated quote", "app:app", NULL);
	setenv("GUNICORN_CMD_ARGS", "-c nothere.py", 1);
	unsetenv("KIRIN_CMD_ARGS");
	load_fails("config file 'nothere.py' not found", "app:app", NULL);
}

/* A second load (HUP) executes the file afresh: removed names are gone. */
static void test_py_reload_sees_the_file_afresh(void **state)
{
	struct config cfg;

	write_file("conf.py", "workers = 4\ntimeout = 9\n");
	load_ok(&cfg, "-c", "conf.py", "app:app", NULL);
	assert_int_equal(cfg.workers, 4);
	config_free(&cfg);
	write_file("conf.py", "workers = 2\n");
	load_ok(&cfg, "-c", "conf.py", "app:app", NULL);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.timeout, 30);
	config_free(&cfg);
	unlink("conf.py");
}

static void test_py_is_python(void **state)
{
	assert_true(pyconfig_is_python("gunicorn.conf.py"));
	assert_true(pyconfig_is_python("python:pkg.conf"));
	assert_true(pyconfig_is_python("file:settings.cfg"));
	assert_false(pyconfig_is_python("kirin.ini"));
	assert_false(pyconfig_is_python(".py.ini"));
	assert_false(pyconfig_is_python("py"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CONFIG_TEST(test_py_values),
	    CONFIG_TEST(test_py_wrong_values),
	    CONFIG_TEST(test_py_broken_files),
	    CONFIG_TEST(test_py_quiet_gunicorn_settings),
	    CONFIG_TEST(test_py_default_file_and_ini),
	    CONFIG_TEST(test_py_gunicorn_cmd_args),
	    CONFIG_TEST(test_py_reload_sees_the_file_afresh),
	    CONFIG_TEST(test_py_is_python),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
