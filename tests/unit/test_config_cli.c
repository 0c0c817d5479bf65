/*
 * Unit tests for arbiter/config_cli.c: every setting type through the
 * command line, its error messages and clamping, positionals, --help and
 * --version, and KIRIN_CMD_ARGS split as a shell would. config_fixture.h
 * holds the helpers and fixtures.
 */
#include "tests/unit/config_fixture.h"

#include <Python.h>

/* ---------------------------------------------------------------- command line */

static void test_int_forms(void **state)
{
	struct config cfg;

	load_ok(&cfg, "-w", "3", "app:app", NULL);
	assert_int_equal(cfg.workers, 3);
	config_free(&cfg);
	load_ok(&cfg, "-w4", "app:app", NULL);
	assert_int_equal(cfg.workers, 4);
	config_free(&cfg);
	load_ok(&cfg, "--workers", "5", "app:app", NULL);
	assert_int_equal(cfg.workers, 5);
	config_free(&cfg);
	load_ok(&cfg, "--workers=6", "app:app", NULL);
	assert_int_equal(cfg.workers, 6);
	config_free(&cfg);
	/* Options after the positional, an unambiguous prefix, the last one wins. */
	load_ok(&cfg, "app:app", "--max-requests-j=7", "-t", "0", "-t", "9", NULL);
	assert_int_equal(cfg.max_requests_jitter, 7);
	assert_int_equal(cfg.timeout, 9);
	assert_string_equal(cfg.app_module, "app:app");
	config_free(&cfg);
	load_ok(&cfg, "--limit-request-body", "10000000000", "--backlog", " 64 ", "app:app", NULL);
	assert_true(cfg.limit_request_body == 10000000000L);
	assert_int_equal(cfg.backlog, 64);
	config_free(&cfg);
}

static void test_int_errors(void **state)
{
	load_fails("invalid value for --workers: 'abc' (expected an integer)", "--workers", "abc",
	           "app:app", NULL);
	load_fails("invalid value for --workers: '3x' (expected an integer)", "-w3x", "app:app",
	           NULL);
	load_fails("invalid value for --workers: '' (expected an integer)", "--workers=", "app:app",
	           NULL);
	load_fails("invalid value for --timeout: '1.5' (expected an integer)", "-t", "1.5",
	           "app:app", NULL);
	load_fails("invalid value for --workers: '0' (must be at least 1)", "-w", "0", "app:app",
	           NULL);
	load_fails("invalid value for --workers: '-2' (must be at least 1)", "-w", "-2", "app:app",
	           NULL);
	load_fails("invalid value for --threads: '0' (must be at least 1)", "--threads", "0",
	           "app:app", NULL);
	load_fails("invalid value for --timeout: '-1' (must be at least 0)", "-t", "-1", "app:app",
	           NULL);
	load_fails("invalid value for --workers: '99999999999' (must be at most 2147483647)", "-w",
	           "99999999999", "app:app", NULL);
	load_fails("invalid value for --limit-request-body: '99999999999999999999' (out of "
	           "range)",
	           "--limit-request-body", "99999999999999999999", "app:app", NULL);
	load_fails("invalid value for --limit-request-line: '-1' (must be between 0 and 8190)",
	           "--limit-request-line", "-1", "app:app", NULL);
}

static void test_clamping(void **state)
{
	struct config cfg;

	load_ok(&cfg, "--limit-request-line", "9000", "--limit-request-fields", "0",
	        "--limit-request-field_size", "0", "app:app", NULL);
	assert_int_equal(cfg.limit_request_line, 8190);
	assert_int_equal(cfg.limit_request_fields, 32768);
	assert_int_equal(cfg.limit_request_field_size, 8190);
	config_free(&cfg);
	load_ok(&cfg, "--limit-request-line", "0", "--limit-request-fields", "-5",
	        "--limit-request-field_size", "-1", "app:app", NULL);
	assert_int_equal(cfg.limit_request_line, 0);
	assert_int_equal(cfg.limit_request_fields, 32768);
	assert_int_equal(cfg.limit_request_field_size, 8190);
	config_free(&cfg);
	load_ok(&cfg, "--limit-request-line", "8190", "--limit-request-fields", "40000",
	        "--limit-request-field_size", "20000", "app:app", NULL);
	assert_int_equal(cfg.limit_request_line, 8190);
	assert_int_equal(cfg.limit_request_fields, 32768);
	assert_int_equal(cfg.limit_request_field_size, 20000);
	config_free(&cfg);
	load_ok(&cfg, "--limit-request-line", "100", "--limit-request-fields", "50",
	        "--limit-request-field_size", "300", "app:app", NULL);
	assert_int_equal(cfg.limit_request_line, 100);
	assert_int_equal(cfg.limit_request_fields, 50);
	assert_int_equal(cfg.limit_request_field_size, 300);
	config_free(&cfg);
}

static void test_bool_forms(void **state)
{
	struct config cfg;

	load_ok(&cfg, "--reuse-port", "--proxy-protocol", "-D", "--check-config", "app:app", NULL);
	assert_true(cfg.reuse_port);
	assert_string_equal(cfg.proxy_protocol, "auto");
	assert_true(cfg.daemon);
	assert_true(cfg.check_config);
	config_free(&cfg);
	/* Bundled short options: a flag, then one that takes the rest as its value. */
	load_ok(&cfg, "-Dw3", "app:app", NULL);
	assert_true(cfg.daemon);
	assert_int_equal(cfg.workers, 3);
	config_free(&cfg);
	load_ok(&cfg, "-Dw", "2", "app:app", NULL);
	assert_true(cfg.daemon);
	assert_int_equal(cfg.workers, 2);
	config_free(&cfg);
	load_fails("option '--reuse-port' doesn't allow an argument", "--reuse-port=yes", "app:app",
	           NULL);
}

static void test_string_forms(void **state)
{
	struct config cfg;

	load_ok(&cfg, "--chdir", "/srv/app", "-p", "/run/k.pid", "-n", "shop",
	        "--error-logfile=/var/log/k.log", "app:app", NULL);
	assert_string_equal(cfg.chdir, "/srv/app");
	assert_string_equal(cfg.pidfile, "/run/k.pid");
	assert_string_equal(cfg.proc_name, "shop");
	assert_string_equal(cfg.errorlog, "/var/log/k.log");
	config_free(&cfg);
	/* Gunicorn's alias --log-file; an empty value unsets. */
	load_ok(&cfg, "--log-file", "/tmp/e.log", "--chdir=", "app:app", NULL);
	assert_string_equal(cfg.errorlog, "/tmp/e.log");
	assert_null(cfg.chdir);
	config_free(&cfg);
	/* A value may start with a dash. */
	load_ok(&cfg, "-n", "-odd-", "app:app", NULL);
	assert_string_equal(cfg.proc_name, "-odd-");
	config_free(&cfg);
}

static void test_list_forms(void **state)
{
	struct config cfg;

	load_ok(&cfg, "-b", "127.0.0.1:9000", "--bind", "unix:/tmp/k.sock", "-b[::1]:9001",
	        "app:app", NULL);
	assert_list(&cfg.bind, 3, "127.0.0.1:9000", "unix:/tmp/k.sock", "[::1]:9001");
	config_free(&cfg);
	load_ok(&cfg, "--pythonpath", "/a, /b", "--pythonpath=/c", "--forwarded-allow-ips", "*",
	        "--proxy-allow-from", "10.0.0.1,10.0.0.2", "app:app", NULL);
	assert_list(&cfg.pythonpath, 3, "/a", "/b", "/c");
	assert_list(&cfg.forwarded_allow_ips, 1, "*");
	assert_list(&cfg.proxy_allow_ips, 2, "10.0.0.1", "10.0.0.2");
	config_free(&cfg);
	/* -e takes one KEY=VALUE per flag: commas and '=' in the value stay. */
	load_ok(&cfg, "-e", "A=1,2", "--env", "B=x=y", "-eC=", "app:app", NULL);
	assert_list(&cfg.raw_env, 3, "A=1,2", "B=x=y", "C=");
	config_free(&cfg);
	load_fails("invalid value for --env: 'NOEQUALS' (expected KEY=VALUE)", "-e", "NOEQUALS",
	           "app:app", NULL);
	load_fails("invalid value for --env: '=1' (expected KEY=VALUE)", "-e", "=1", "app:app",
	           NULL);
}

static void test_choice_forms(void **state)
{
	struct config cfg;

	load_ok(&cfg, "-k", "gevent", "--log-level", "DEBUG", "app:app", NULL);
	assert_string_equal(cfg.worker_class, "gevent");
	assert_string_equal(cfg.loglevel, "debug");
	config_free(&cfg);
	load_ok(&cfg, "--worker-class=greenlet", "--log-level=critical", "app:app", NULL);
	assert_string_equal(cfg.worker_class, "greenlet");
	assert_string_equal(cfg.loglevel, "critical");
	config_free(&cfg);
	/* A known class path: no Python import (config_class.c starts no interpreter). */
	load_ok(&cfg, "-k", "uvicorn_worker.UvicornWorker", "app:app", NULL);
	assert_string_equal(cfg.worker_class, "uvicorn_worker.UvicornWorker");
	assert_null(cfg.worker_subclass);
	assert_false(Py_IsInitialized());
	config_free(&cfg);
	load_fails("invalid value for --worker-class: 'nosuchclass' (expected one of: "
	           WORKER_CLASSES "; or the Python path of a subclass of one of those classes)",
	           "-k", "nosuchclass", "app:app", NULL);
	load_fails("invalid value for --log-level: 'loud' (expected one of: debug, info, "
	           "warning, error, critical)",
	           "--log-level", "loud", "app:app", NULL);
}

static void test_unknown_and_missing(void **state)
{
	load_fails("unrecognized option '--foo'", "--foo", "app:app", NULL);
	load_fails("unrecognized option '--foo'", "--foo=bar", "app:app", NULL);
	load_fails("unrecognized option '--wrokers' (did you mean '--workers'?)", "--wrokers", "2",
	           "app:app", NULL);
	load_fails("unrecognized option '-x'", "-x", "app:app", NULL);
	load_fails("unrecognized option '-x'", "-Dx", "app:app", NULL);
	load_fails("option '--log' is ambiguous (--log-file or --log-level?)", "--log", "x",
	           "app:app", NULL);
	load_fails("option '--workers' requires an argument", "app:app", "--workers", NULL);
	load_fails("option '-w' requires an argument", "app:app", "-w", NULL);
	load_fails("option '-c' requires an argument", "app:app", "-c", NULL);
	load_fails("option '--config' requires an argument", "app:app", "--config", NULL);
}

static void test_positionals(void **state)
{
	struct config cfg;

	/* "--" ends the options: what follows is positional even with a dash. */
	load_ok(&cfg, "-w", "2", "--", "-app:x", NULL);
	assert_string_equal(cfg.app_module, "-app:x");
	assert_int_equal(cfg.workers, 2);
	config_free(&cfg);
	load_ok(&cfg, "--", "app:app", "-w", "3", NULL);
	assert_string_equal(cfg.app_module, "app:app");
	assert_string_equal(cfg.extra_arg, "-w");
	assert_int_equal(cfg.workers, 1);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -1);
	config_free(&cfg);
	load_ok(&cfg, "one:app", "two:app", NULL);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "unexpected argument 'two:app' (APP_MODULE is 'one:app'; only "
	                         "one is allowed)");
	config_free(&cfg);
	/* A lone "-" is a positional, not an option. */
	load_ok(&cfg, "-", NULL);
	assert_string_equal(cfg.app_module, "-");
	config_free(&cfg);
}

static void test_help_and_version(void **state)
{
	struct config cfg, zero;

	memset(&zero, 0, sizeof(zero));
	assert_int_equal(load(&cfg, "--help", NULL), CONFIG_HELP);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
	assert_int_equal(load(&cfg, "-w", "2", "-h", "--bogus", NULL), CONFIG_HELP);
	assert_int_equal(load(&cfg, "--version", NULL), CONFIG_VERSION);
	assert_int_equal(load(&cfg, "-v", "app:app", NULL), CONFIG_VERSION);
	assert_int_equal(load(&cfg, "--vers", NULL), CONFIG_VERSION);
	/* A broken ./kirin.ini does not stop --help. */
	write_file("kirin.ini", "[kirin]\nbogus = 1\n");
	assert_int_equal(load(&cfg, "--help", NULL), CONFIG_HELP);
	/* Errors before --help are still errors. */
	assert_int_equal(load(&cfg, "--bogus", "--help", NULL), CONFIG_USAGE);
	setenv("KIRIN_CMD_ARGS", "--version", 1);
	assert_int_equal(load(&cfg, "app:app", NULL), CONFIG_VERSION);
}

/* --proxy-protocol [off|v1|v2|auto] as Gunicorn >= 24.1; true/false still read. */
static void test_proxy_protocol_modes(void **state)
{
	static const char *const cases[][2] = {
	    {"v1", "v1"},     {"V2", "v2"},     {"auto", "auto"}, {"off", "off"},
	    {"true", "auto"}, {"false", "off"}, {"1", "auto"},    {"none", "off"},
	};
	struct config cfg;
	char *path;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_ok(&cfg, "--proxy-protocol", cases[i][0], "app:app", NULL);
		assert_string_equal(cfg.proxy_protocol, cases[i][1]);
		config_free(&cfg);
	}
	/* Alone, before APP_MODULE or another option: auto. */
	load_ok(&cfg, "--proxy-protocol", "app:app", NULL);
	assert_string_equal(cfg.proxy_protocol, "auto");
	assert_string_equal(cfg.app_module, "app:app");
	config_free(&cfg);
	load_ok(&cfg, "app:app", "--proxy-protocol", NULL);
	assert_string_equal(cfg.proxy_protocol, "auto");
	config_free(&cfg);
	load_ok(&cfg, "--proxy-protocol=v2", "-w", "2", "app:app", NULL);
	assert_string_equal(cfg.proxy_protocol, "v2");
	config_free(&cfg);
	load_fails("invalid value for --proxy-protocol: 'v3' (expected one of: off, v1, v2, auto)",
	           "--proxy-protocol=v3", "app:app", NULL);
	path = write_tmp("[kirin]\nproxy_protocol = true\n");
	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_string_equal(cfg.proxy_protocol, "auto");
	config_free(&cfg);
	unlink(path);
	free(path);
}

/* Syntax errors are usage errors (exit status 2); a bad value is not. */
static void test_usage_errors(void **state)
{
	struct config cfg;

	assert_int_equal(load(&cfg, "--bogus", "app:app", NULL), CONFIG_USAGE);
	assert_int_equal(load(&cfg, "-Z", "app:app", NULL), CONFIG_USAGE);
	assert_int_equal(load(&cfg, "app:app", "--workers", NULL), CONFIG_USAGE);
	assert_int_equal(load(&cfg, "--daemon=yes", "app:app", NULL), CONFIG_USAGE);
	setenv("GUNICORN_CMD_ARGS", "--bogus", 1);
	assert_int_equal(load(&cfg, "app:app", NULL), CONFIG_USAGE);
	setenv("GUNICORN_CMD_ARGS", "'unterminated", 1);
	assert_int_equal(load(&cfg, "app:app", NULL), CONFIG_USAGE);
	unsetenv("GUNICORN_CMD_ARGS");
	assert_int_equal(load(&cfg, "--workers", "many", "app:app", NULL), CONFIG_ERROR);
	assert_int_equal(load(&cfg, "-c", "nothere.ini", "app:app", NULL), CONFIG_ERROR);
}

static void test_usage(void **state)
{
	char *buf = NULL;
	size_t len = 0, n, rows = 0;
	FILE *f = open_memstream(&buf, &len);

	config_usage(f);
	fclose(f);
	assert_true(strncmp(buf, "usage: kirin [OPTIONS] APP_MODULE\n", 34) == 0);
	for (const struct setting *s = config_first(); s; s = config_next(s)) {
		char flag[8];
		assert_non_null(strstr(buf, s->long_flag));
		assert_non_null(strstr(buf, s->help));
		if (s->short_flag) {
			snprintf(flag, sizeof(flag), "-%c, ", s->short_flag);
			assert_non_null(strstr(buf, flag));
		}
	}
	assert_non_null(strstr(buf, "-h, --help"));
	assert_non_null(strstr(buf, "-v, --version"));
	assert_non_null(strstr(buf, "--log-file FILE"));
	assert_non_null(strstr(buf, "-w, --workers INT"));
	assert_non_null(strstr(buf, "[default: 127.0.0.1:8000]"));
	/* One line per option (and alias), each "  -x, --flag" or "      --flag". */
	n = 0;
	for (char *line = strstr(buf, "options:\n") + 9; *line != '\n';
	     line = strchr(line, '\n') + 1, n++)
		assert_true(strncmp(line, "  -", 3) == 0 || strncmp(line, "      --", 8) == 0);
	for (const struct setting *s = config_first(); s; s = config_next(s))
		rows += 1 + (s->alias != NULL);
	assert_int_equal(n, rows + 2); /* --help, --version */
	free(buf);
}

/* ---------------------------------------------------------------- KIRIN_CMD_ARGS */

static void test_env_args_quoting(void **state)
{
	struct config cfg;

	setenv("KIRIN_CMD_ARGS",
	       "  -e 'A=x y'\t-e \"B=say \\\"hi\\\" \\$HOME \\n\" -e C=a\\ b"
	       " -e D='it'\"'\"'s' -e \"E=\" --chdir '' -n ''\"\" app:app\n",
	       1);
	load_ok(&cfg, NULL);
	assert_list(&cfg.raw_env, 5, "A=x y", "B=say \"hi\" $HOME \\n", "C=a b", "D=it's", "E=");
	assert_null(cfg.chdir);
	assert_null(cfg.proc_name);
	/* A positional may come from KIRIN_CMD_ARGS too. */
	assert_string_equal(cfg.app_module, "app:app");
	config_free(&cfg);

	setenv("KIRIN_CMD_ARGS", "--workers=2 --timeout 9 -b'127.0.0.1:1' -b \"127.0.0.1:2\"", 1);
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.timeout, 9);
	assert_list(&cfg.bind, 2, "127.0.0.1:1", "127.0.0.1:2");
	config_free(&cfg);

	setenv("KIRIN_CMD_ARGS", "", 1);
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 1);
	config_free(&cfg);
}

static void test_env_args_errors(void **state)
{
	setenv("KIRIN_CMD_ARGS", "-e 'A=1", 1);
	load_fails("KIRIN_CMD_ARGS: unterminated quote", "app:app", NULL);
	setenv("KIRIN_CMD_ARGS", "-n \"abc", 1);
	load_fails("KIRIN_CMD_ARGS: unterminated quote", "app:app", NULL);
	setenv("KIRIN_CMD_ARGS", "-n abc\\", 1);
	load_fails("KIRIN_CMD_ARGS: backslash at the end of the value", "app:app", NULL);
	setenv("KIRIN_CMD_ARGS", "--foo", 1);
	load_fails("KIRIN_CMD_ARGS: unrecognized option '--foo'", "app:app", NULL);
	setenv("KIRIN_CMD_ARGS", "-w", 1);
	load_fails("KIRIN_CMD_ARGS: option '-w' requires an argument", "app:app", NULL);
	setenv("KIRIN_CMD_ARGS", "-w abc", 1);
	load_fails("KIRIN_CMD_ARGS: invalid value for --workers: 'abc' (expected an integer)",
	           "app:app", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CONFIG_TEST(test_int_forms),
	    CONFIG_TEST(test_int_errors),
	    CONFIG_TEST(test_clamping),
	    CONFIG_TEST(test_bool_forms),
	    CONFIG_TEST(test_string_forms),
	    CONFIG_TEST(test_list_forms),
	    CONFIG_TEST(test_choice_forms),
	    CONFIG_TEST(test_unknown_and_missing),
	    CONFIG_TEST(test_positionals),
	    CONFIG_TEST(test_help_and_version),
	    CONFIG_TEST(test_usage),
	    CONFIG_TEST(test_usage_errors),
	    CONFIG_TEST(test_proxy_protocol_modes),
	    CONFIG_TEST(test_env_args_quoting),
	    CONFIG_TEST(test_env_args_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
