/*
 * Unit tests for arbiter/config.c: every setting type through the command
 * line, the INI file and KIRIN_CMD_ARGS, their error messages, clamping,
 * precedence, WEB_CONCURRENCY and PORT, and that --print-config reads back.
 *
 * Each test runs in a fresh temporary directory (so ./kirin.ini is under
 * the test's control) with KIRIN_CMD_ARGS, WEB_CONCURRENCY and PORT unset;
 * the group teardown restores the directory and the variables.
 */
#include <limits.h>
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

#define MAX_ARGS 32
/* What -k accepts (workers/worker_type.c), as an error message lists it. */
#define WORKER_CLASSES                                                                             \
	"sync, gthread, greenlet, gevent, egg:gunicorn#sync, gunicorn.workers.sync.SyncWorker, "   \
	"egg:gunicorn#gthread, gunicorn.workers.gthread.ThreadWorker, egg:gunicorn#gevent, "       \
	"gunicorn.workers.ggevent.GeventWorker"

static const char *const env_names[] = {"KIRIN_CMD_ARGS", "WEB_CONCURRENCY", "PORT"};
static char *saved_env[3];
static char saved_cwd[PATH_MAX];
static char tmpdir[64];
static char err[1024];

/* ---------------------------------------------------------------- helpers */

/* config_load() with argv given as a NULL-terminated list after the program name. */
static enum config_action load_v(struct config *cfg, const char *first, va_list ap)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;

	argv[argc++] = (char *)"kirin";
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(argc <= MAX_ARGS);
		argv[argc++] = (char *)a;
	}
	argv[argc] = NULL;
	err[0] = '\0';
	return config_load(cfg, argc, argv, err, sizeof(err));
}

static enum config_action load(struct config *cfg, const char *first, ...)
{
	va_list ap;
	enum config_action rc;

	va_start(ap, first);
	rc = load_v(cfg, first, ap);
	va_end(ap);
	return rc;
}

/* Load, expect success. */
static void load_ok(struct config *cfg, const char *first, ...)
{
	va_list ap;
	enum config_action rc;

	va_start(ap, first);
	rc = load_v(cfg, first, ap);
	va_end(ap);
	if (rc != CONFIG_RUN)
		fail_msg("config_load failed: %s", err);
}

/* Load, expect CONFIG_ERROR with err equal to want, and cfg freed. */
static void load_fails(const char *want, const char *first, ...)
{
	struct config cfg, zero;
	va_list ap;
	enum config_action rc;

	memset(&zero, 0, sizeof(zero));
	memset(&cfg, 0, sizeof(cfg));
	va_start(ap, first);
	rc = load_v(&cfg, first, ap);
	va_end(ap);
	assert_int_equal(rc, CONFIG_ERROR);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
}

/* A temporary file holding text; the caller unlinks it. */
static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/kirin-test-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* config_print() into a new string. */
static char *print_str(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print(cfg, f);
	fclose(f);
	return buf;
}

/* Expect a config file with text to fail with "PATH:want". */
static void ini_fails(const char *text, const char *want)
{
	char *path = write_tmp(text);
	char expect[1024];

	snprintf(expect, sizeof(expect), "%s:%s", path, want);
	load_fails(expect, "-c", path, "app:app", NULL);
	unlink(path);
	free(path);
}

static void assert_list(const struct strlist *l, size_t n, ...)
{
	va_list ap;

	assert_int_equal(l->n, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->v[i], va_arg(ap, const char *));
	va_end(ap);
}

/* ---------------------------------------------------------------- fixtures */

static int group_setup(void **state)
{
	for (size_t i = 0; i < 3; i++) {
		const char *v = getenv(env_names[i]);
		saved_env[i] = v ? strdup(v) : NULL;
	}
	assert_non_null(getcwd(saved_cwd, sizeof(saved_cwd)));
	return 0;
}

static int group_teardown(void **state)
{
	for (size_t i = 0; i < 3; i++) {
		if (saved_env[i])
			setenv(env_names[i], saved_env[i], 1);
		else
			unsetenv(env_names[i]);
		free(saved_env[i]);
	}
	return chdir(saved_cwd);
}

static int setup(void **state)
{
	for (size_t i = 0; i < 3; i++)
		unsetenv(env_names[i]);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kirin-test-dir-XXXXXX");
	if (!mkdtemp(tmpdir) || chdir(tmpdir) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	unlink("kirin.ini");
	if (chdir(saved_cwd) < 0)
		return -1;
	return rmdir(tmpdir);
}

/* ---------------------------------------------------------------- the table */

static void test_table_rows_are_complete(void **state)
{
	size_t n = 0;

	for (const struct setting *s = config_settings; s->name; s++, n++) {
		assert_non_null(s->long_flag);
		assert_true(strncmp(s->long_flag, "--", 2) == 0);
		assert_non_null(s->help);
		assert_true(strlen(s->help) > 10);
		if (s->type != SETTING_BOOL)
			assert_non_null(s->metavar);
		if (s->type == SETTING_CHOICE)
			assert_true((s->choices != NULL) != (s->choice != NULL));
		assert_ptr_equal(config_find(s->name), s);
		for (const struct setting *t = s + 1; t->name; t++) {
			assert_string_not_equal(s->name, t->name);
			assert_string_not_equal(s->long_flag, t->long_flag);
			if (s->short_flag)
				assert_int_not_equal(s->short_flag, t->short_flag);
		}
	}
	assert_true(n > 25 && n < 64);
	assert_null(config_find("wrokers"));
}

static void test_defaults(void **state)
{
	struct config cfg;

	load_ok(&cfg, "app:app", NULL);
	assert_string_equal(cfg.app_module, "app:app");
	assert_null(cfg.extra_arg);
	assert_list(&cfg.bind, 1, "127.0.0.1:8000");
	assert_int_equal(cfg.backlog, 2048);
	assert_false(cfg.reuse_port);
	assert_int_equal(cfg.workers, 1);
	assert_string_equal(cfg.worker_class, "sync");
	assert_int_equal(cfg.threads, 1);
	assert_int_equal(cfg.worker_connections, 1000);
	assert_int_equal(cfg.max_requests, 0);
	assert_int_equal(cfg.max_requests_jitter, 0);
	assert_int_equal(cfg.timeout, 30);
	assert_int_equal(cfg.graceful_timeout, 30);
	assert_int_equal(cfg.keepalive, 2);
	assert_int_equal(cfg.limit_request_line, 4094);
	assert_int_equal(cfg.limit_request_fields, 100);
	assert_int_equal(cfg.limit_request_field_size, 8190);
	assert_int_equal(cfg.limit_request_body, 0);
	assert_list(&cfg.forwarded_allow_ips, 2, "127.0.0.1", "::1");
	assert_false(cfg.proxy_protocol);
	assert_list(&cfg.proxy_allow_ips, 2, "127.0.0.1", "::1");
	assert_null(cfg.chdir);
	assert_list(&cfg.pythonpath, 0);
	assert_list(&cfg.raw_env, 0);
	assert_false(cfg.daemon);
	assert_null(cfg.pidfile);
	assert_null(cfg.proc_name);
	assert_string_equal(cfg.errorlog, "-");
	assert_string_equal(cfg.loglevel, "info");
	assert_null(cfg.config);
	assert_false(cfg.check_config);
	assert_false(cfg.print_config);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);
	config_free(&cfg); /* zeroed: harmless twice */
	config_free(NULL);
}

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
	assert_true(cfg.proxy_protocol);
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
	load_fails("invalid value for --worker-class: 'nosuchclass' (expected one of: "
	           WORKER_CLASSES ")",
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
	assert_int_equal(load(&cfg, "--bogus", "--help", NULL), CONFIG_ERROR);
	setenv("KIRIN_CMD_ARGS", "--version", 1);
	assert_int_equal(load(&cfg, "app:app", NULL), CONFIG_VERSION);
}

static void test_usage(void **state)
{
	char *buf = NULL;
	size_t len = 0, n, rows = 0;
	FILE *f = open_memstream(&buf, &len);

	config_usage(f);
	fclose(f);
	assert_true(strncmp(buf, "usage: kirin [OPTIONS] APP_MODULE\n", 34) == 0);
	for (const struct setting *s = config_settings; s->name; s++) {
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
	for (const struct setting *s = config_settings; s->name; s++)
		rows += 1 + (s->alias != NULL);
	assert_int_equal(n, rows + 2); /* --help, --version */
	free(buf);
}

/* ---------------------------------------------------------------- INI */

static void test_ini_good_file(void **state)
{
	struct config cfg;
	char *path = write_tmp("; a comment\n"
	                       "# another\n"
	                       "[kirin]\n"
	                       "bind = 0.0.0.0:9000\n"
	                       "backlog=64\n"
	                       "reuse_port = yes\n"
	                       "workers = 4\n"
	                       "worker_class = gthread\n"
	                       "threads = 8\n"
	                       "timeout = 60 ; inline comment\n"
	                       "keepalive = 5\n"
	                       "limit_request_line = 100000\n"
	                       "limit_request_fields = 0\n"
	                       "limit_request_body = 1048576\n"
	                       "proxy_protocol = true\n"
	                       "chdir = /srv/app\n"
	                       "pythonpath = /a,/b\n"
	                       "daemon = off\n"
	                       "pidfile = /run/kirin.pid\n"
	                       "errorlog = /var/log/kirin.log\n"
	                       "loglevel = warning\n"
	                       "\n");

	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_string_equal(cfg.config, path);
	assert_list(&cfg.bind, 1, "0.0.0.0:9000");
	assert_int_equal(cfg.backlog, 64);
	assert_true(cfg.reuse_port);
	assert_int_equal(cfg.workers, 4);
	assert_string_equal(cfg.worker_class, "gthread");
	assert_int_equal(cfg.threads, 8);
	assert_int_equal(cfg.timeout, 60);
	assert_int_equal(cfg.keepalive, 5);
	assert_int_equal(cfg.limit_request_line, 8190);
	assert_int_equal(cfg.limit_request_fields, 32768);
	assert_int_equal(cfg.limit_request_body, 1048576);
	assert_true(cfg.proxy_protocol);
	assert_string_equal(cfg.chdir, "/srv/app");
	assert_list(&cfg.pythonpath, 2, "/a", "/b");
	assert_false(cfg.daemon);
	assert_string_equal(cfg.pidfile, "/run/kirin.pid");
	assert_string_equal(cfg.errorlog, "/var/log/kirin.log");
	assert_string_equal(cfg.loglevel, "warning");
	/* Untouched settings keep their defaults. */
	assert_int_equal(cfg.graceful_timeout, 30);
	assert_list(&cfg.forwarded_allow_ips, 2, "127.0.0.1", "::1");
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_ini_list_forms(void **state)
{
	struct config cfg;
	char *path = write_tmp("[kirin]\n"
	                       "bind = 127.0.0.1:9001, 127.0.0.1:9002\n"
	                       "bind = unix:/tmp/k.sock\n"
	                       "forwarded_allow_ips = 10.0.0.1\n"
	                       "proxy_allow_ips = 10.0.0.2\n"
	                       "proxy_allow_ips = 10.0.0.3\n"
	                       "raw_env = A=1,2, B=3\n"
	                       "raw_env = C=x,y\n"
	                       "pythonpath =\n");

	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_list(&cfg.bind, 3, "127.0.0.1:9001", "127.0.0.1:9002", "unix:/tmp/k.sock");
	/* The file's list replaces the default list. */
	assert_list(&cfg.forwarded_allow_ips, 1, "10.0.0.1");
	assert_list(&cfg.proxy_allow_ips, 2, "10.0.0.2", "10.0.0.3");
	/* raw_env: a comma starts a new item only before KEY=. */
	assert_list(&cfg.raw_env, 3, "A=1,2", "B=3", "C=x,y");
	assert_list(&cfg.pythonpath, 0);
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_ini_errors(void **state)
{
	char longline[400];

	ini_fails("[kirin]\nworkers = 2\nwrokers = 3\n",
	          "3: unknown setting 'wrokers' (did you mean 'workers'?)");
	ini_fails("[kirin]\nzzzzzzzzzzzz = 3\n", "2: unknown setting 'zzzzzzzzzzzz'");
	ini_fails("[kirin]\n\nworkers = many\n",
	          "3: invalid value for workers: 'many' (expected an integer)");
	ini_fails("[kirin]\nworkers = 0\n",
	          "2: invalid value for workers: '0' (must be at least 1)");
	ini_fails("[kirin]\nreuse_port = maybe\n",
	          "2: invalid value for reuse_port: 'maybe' (expected true or false)");
	ini_fails("[kirin]\nworker_class = fast\n",
	          "2: invalid value for worker_class: 'fast' (expected one of: " WORKER_CLASSES ")");
	ini_fails("[kirin]\nraw_env = nope, A=1\n",
	          "2: invalid value for raw_env: 'nope, A=1' (expected KEY=VALUE)");
	ini_fails("[kirin]\nworkers = 2\n[gunicorn]\nworkers = 3\n",
	          "3: unknown section '[gunicorn]' (kirin reads only [kirin])");
	ini_fails("[kirin]\n[other]\n", "2: unknown section '[other]' (kirin reads only [kirin])");
	ini_fails("workers = 2\n[kirin]\n", "1: 'workers' is outside the [kirin] section");
	ini_fails("[kirin]\nconfig = other.ini\n",
	          "2: unknown setting 'config' (it is a command-line option only)");
	ini_fails("[kirin]\nprint_config = true\n",
	          "2: unknown setting 'print_config' (it is a command-line option only)");
	ini_fails("[kirin]\nworkers\n", "2: syntax error (expected 'key = value' or '[kirin]')");
	/* The first error is the one reported. */
	ini_fails("[kirin]\nworkers = x\nbogus\nwrokers = 1\n",
	          "2: invalid value for workers: 'x' (expected an integer)");
	ini_fails("[kirin]\nbogus\nworkers = x\n",
	          "2: syntax error (expected 'key = value' or '[kirin]')");
	snprintf(longline, sizeof(longline), "[kirin]\nworkers = 2\nchdir = /%0300d\n", 0);
	ini_fails(longline, "3: line too long (more than 199 characters)");
}

static void test_ini_edge_lines(void **state)
{
	struct config cfg;
	/* A line exactly as long as inih's buffer allows, and no final newline. */
	char text[400];
	char *path;

	snprintf(text, sizeof(text), "[kirin]\nchdir = /%0188d\nworkers = 3", 0);
	path = write_tmp(text);
	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_int_equal(strlen(cfg.chdir), 189);
	assert_int_equal(cfg.workers, 3);
	config_free(&cfg);
	unlink(path);
	free(path);
	/* A UTF-8 byte order mark before [kirin]. */
	path = write_tmp("\xEF\xBB\xBF[kirin]\nworkers = 2\n");
	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_int_equal(cfg.workers, 2);
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_missing_config_file(void **state)
{
	load_fails("config file '/tmp/kirin-no-such-file.ini' not found", "-c",
	           "/tmp/kirin-no-such-file.ini", "app:app", NULL);
	load_fails("config file '/tmp' is a directory", "--config=/tmp", "app:app", NULL);
	setenv("KIRIN_CMD_ARGS", "-c /tmp/kirin-no-such-file.ini", 1);
	load_fails("config file '/tmp/kirin-no-such-file.ini' not found", "app:app", NULL);
}

static void test_kirin_ini_in_cwd(void **state)
{
	struct config cfg;
	char *other;

	/* No ./kirin.ini: fine. */
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 1);
	config_free(&cfg);
	write_file("kirin.ini", "[kirin]\nworkers = 5\n");
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 5);
	assert_null(cfg.config);
	config_free(&cfg);
	/* An explicit -c replaces ./kirin.ini rather than adding to it. */
	other = write_tmp("[kirin]\ntimeout = 40\n");
	load_ok(&cfg, "-c", other, "app:app", NULL);
	assert_int_equal(cfg.workers, 1);
	assert_int_equal(cfg.timeout, 40);
	config_free(&cfg);
	unlink(other);
	free(other);
	/* A broken ./kirin.ini is an error naming it. */
	write_file("kirin.ini", "[kirin]\nworkers = lots\n");
	load_fails("kirin.ini:2: invalid value for workers: 'lots' (expected an integer)",
	           "app:app", NULL);
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

/* ---------------------------------------------------------------- precedence */

static void test_precedence_chain(void **state)
{
	struct config cfg;
	char *path = write_tmp("[kirin]\n"
	                       "workers = 2\n"
	                       "timeout = 50\n"
	                       "keepalive = 7\n"
	                       "bind = 127.0.0.1:1, 127.0.0.1:2\n"
	                       "pythonpath = /file\n");
	char envargs[256];

	/* default < file */
	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.timeout, 50);
	assert_int_equal(cfg.graceful_timeout, 30);
	assert_list(&cfg.bind, 2, "127.0.0.1:1", "127.0.0.1:2");
	config_free(&cfg);

	/* file < KIRIN_CMD_ARGS, which may name the file itself */
	snprintf(envargs, sizeof(envargs), "-c %s -w 3 -t 40 -b 127.0.0.1:3 -b 127.0.0.1:4", path);
	setenv("KIRIN_CMD_ARGS", envargs, 1);
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(cfg.timeout, 40);
	assert_int_equal(cfg.keepalive, 7);
	/* A higher layer's list replaces the lower one's; repeats within it append. */
	assert_list(&cfg.bind, 2, "127.0.0.1:3", "127.0.0.1:4");
	assert_list(&cfg.pythonpath, 1, "/file");
	config_free(&cfg);

	/* KIRIN_CMD_ARGS < argv */
	load_ok(&cfg, "-w", "4", "-b", "127.0.0.1:5", "--pythonpath", "/argv", "app:app", NULL);
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.timeout, 40);
	assert_int_equal(cfg.keepalive, 7);
	assert_list(&cfg.bind, 1, "127.0.0.1:5");
	assert_list(&cfg.pythonpath, 1, "/argv");
	assert_string_equal(cfg.config, path);
	config_free(&cfg);

	/* argv's -c wins over KIRIN_CMD_ARGS's: only that file is read. */
	write_file("kirin.ini", "[kirin]\nworkers = 9\nmax_requests = 11\n");
	load_ok(&cfg, "-c", "kirin.ini", "app:app", NULL);
	assert_int_equal(cfg.workers, 3);       /* KIRIN_CMD_ARGS over the file */
	assert_int_equal(cfg.max_requests, 11); /* from ./kirin.ini */
	assert_int_equal(cfg.keepalive, 2);     /* the other file was not read */
	config_free(&cfg);

	/* An app module in argv replaces the one in KIRIN_CMD_ARGS. */
	setenv("KIRIN_CMD_ARGS", "env:app", 1);
	load_ok(&cfg, "argv:app", NULL);
	assert_string_equal(cfg.app_module, "argv:app");
	config_free(&cfg);
	load_ok(&cfg, NULL);
	assert_string_equal(cfg.app_module, "env:app");
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_web_concurrency_and_port(void **state)
{
	struct config cfg;
	char *path;

	setenv("WEB_CONCURRENCY", "6", 1);
	setenv("PORT", "12345", 1);
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 6);
	assert_list(&cfg.bind, 1, "0.0.0.0:12345");
	config_free(&cfg);
	load_ok(&cfg, "-w", "2", "-b", "127.0.0.1:9999", "app:app", NULL);
	assert_int_equal(cfg.workers, 2);
	assert_list(&cfg.bind, 1, "127.0.0.1:9999");
	config_free(&cfg);
	/* They are defaults: a file beats them. */
	path = write_tmp("[kirin]\nworkers = 3\nbind = 127.0.0.1:7\n");
	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_int_equal(cfg.workers, 3);
	assert_list(&cfg.bind, 1, "127.0.0.1:7");
	config_free(&cfg);
	unlink(path);
	free(path);
	/* Empty means unset. */
	setenv("WEB_CONCURRENCY", "", 1);
	setenv("PORT", "", 1);
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.workers, 1);
	assert_list(&cfg.bind, 1, "127.0.0.1:8000");
	config_free(&cfg);
	setenv("WEB_CONCURRENCY", "many", 1);
	load_fails("invalid value for WEB_CONCURRENCY: 'many' (expected an integer)", "app:app",
	           NULL);
	setenv("WEB_CONCURRENCY", "0", 1);
	load_fails("invalid value for WEB_CONCURRENCY: '0' (must be at least 1)", "app:app", NULL);
}

/* ---------------------------------------------------------------- output */

static void test_print_config_round_trip(void **state)
{
	struct config a, b;
	char *first, *second, *path;

	load_ok(&a, "-w", "3", "-t", "44", "-b", "127.0.0.1:9999", "-b", "unix:/tmp/k.sock",
	        "--reuse-port", "-k", "gevent", "--threads", "4", "--chdir", "/srv", "-e", "A=1,2",
	        "-e", "B=x", "--pythonpath", "/p1,/p2", "--forwarded-allow-ips", "*",
	        "--limit-request-body", "123456789012", "--log-level", "error", "-n", "shop",
	        "--print-config", "app:app", NULL);
	first = print_str(&a);
	assert_true(strncmp(first, "[kirin]\n", 8) == 0);
	assert_non_null(strstr(first, "\nworkers = 3\n"));
	assert_non_null(strstr(first, "\nbind = 127.0.0.1:9999, unix:/tmp/k.sock\n"));
	assert_non_null(strstr(first, "\nreuse_port = true\n"));
	assert_non_null(strstr(first, "\npidfile =\n"));
	/* cli-only settings are not printed: the output must load. */
	assert_null(strstr(first, "print_config"));
	assert_null(strstr(first, "check_config"));
	assert_null(strstr(first, "\nconfig"));
	/* Every other setting is. */
	for (const struct setting *s = config_settings; s->name; s++) {
		char key[64];
		snprintf(key, sizeof(key), "\n%s =", s->name);
		if (s->cli_only)
			continue;
		assert_non_null(strstr(first, key));
	}

	path = write_tmp(first);
	load_ok(&b, "-c", path, NULL);
	second = print_str(&b);
	assert_string_equal(first, second);
	assert_int_equal(b.workers, 3);
	assert_list(&b.raw_env, 2, "A=1,2", "B=x");
	assert_list(&b.pythonpath, 2, "/p1", "/p2");
	assert_true(b.limit_request_body == 123456789012L);
	assert_string_equal(b.chdir, "/srv");
	assert_null(b.pidfile);
	config_free(&a);
	config_free(&b);
	free(first);
	free(second);
	unlink(path);
	free(path);

	/* Defaults, with empty lists and unset strings, round-trip too. */
	load_ok(&a, "app:app", NULL);
	first = print_str(&a);
	path = write_tmp(first);
	load_ok(&b, "-c", path, "app:app", NULL);
	second = print_str(&b);
	assert_string_equal(first, second);
	config_free(&a);
	config_free(&b);
	free(first);
	free(second);
	unlink(path);
	free(path);
}

static void test_print_config_long_list(void **state)
{
	struct config a, b;
	char *first, *second, *path;
	const char *addr = "unix:/run/a-rather-long-socket-directory-name/kirin.sock";

	load_ok(&a, "-b", addr, "-b", addr, "-b", addr, "-b", addr, "app:app", NULL);
	first = print_str(&a);
	/* Too long for one INI line: one line per item. */
	assert_non_null(strstr(first, "\nbind = unix:/run/a-rather-long-socket-directory-name/"
	                              "kirin.sock\nbind = "));
	path = write_tmp(first);
	load_ok(&b, "-c", path, "app:app", NULL);
	assert_int_equal(b.bind.n, 4);
	second = print_str(&b);
	assert_string_equal(first, second);
	config_free(&a);
	config_free(&b);
	free(first);
	free(second);
	unlink(path);
	free(path);
}

static void test_worker_class(void **state)
{
	struct config cfg;
	char *path;

	load_ok(&cfg, "app:app", NULL);
	assert_string_equal(config_worker_class(&cfg), "sync");
	config_free(&cfg);
	load_ok(&cfg, "--threads", "4", "app:app", NULL);
	assert_string_equal(config_worker_class(&cfg), "gthread");
	assert_string_equal(cfg.worker_class, "sync");
	config_free(&cfg);
	load_ok(&cfg, "-k", "gthread", "app:app", NULL);
	assert_string_equal(config_worker_class(&cfg), "gthread");
	config_free(&cfg);
	load_ok(&cfg, "-k", "gevent", "--threads", "4", "app:app", NULL);
	assert_string_equal(config_worker_class(&cfg), "gevent");
	config_free(&cfg);
	load_ok(&cfg, "-k", "greenlet", "app:app", NULL);
	assert_string_equal(config_worker_class(&cfg), "greenlet");
	config_free(&cfg);
	/* Gunicorn's spellings are kept as given and select their type. */
	load_ok(&cfg, "-k", "egg:gunicorn#gevent", "app:app", NULL);
	assert_string_equal(cfg.worker_class, "egg:gunicorn#gevent");
	assert_string_equal(config_worker_class(&cfg), "gevent");
	config_free(&cfg);
	load_ok(&cfg, "-k", "gunicorn.workers.sync.SyncWorker", "--threads", "2", "app:app", NULL);
	assert_string_equal(config_worker_class(&cfg), "gthread");
	config_free(&cfg);
	/* In the INI file too: '#' there starts a comment only at the start of a line. */
	path = write_tmp("[kirin]\nworker_class = egg:gunicorn#gevent\n");
	load_ok(&cfg, "-c", path, "app:app", NULL);
	assert_string_equal(config_worker_class(&cfg), "gevent");
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void test_validate(void **state)
{
	struct config cfg;

	load_ok(&cfg, "-w", "2", NULL);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "no APP_MODULE given; usage: kirin [OPTIONS] APP_MODULE");
	config_free(&cfg);
	/* --print-config needs no application. */
	load_ok(&cfg, "--print-config", NULL);
	assert_true(cfg.print_config);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);
	load_ok(&cfg, "--check-config", "app:app", NULL);
	assert_true(cfg.check_config);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);
	load_ok(&cfg, ":app", NULL);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "invalid APP_MODULE ':app' (expected module:callable)");
	config_free(&cfg);
	load_ok(&cfg, "-b", "", "app:app", NULL);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "no address to bind (the bind setting is empty)");
	config_free(&cfg);
}

static void test_error_truncates_safely(void **state)
{
	struct config cfg;
	char small[16];
	char *argv[] = {(char *)"kirin", (char *)"--no-such-option-at-all", NULL};

	assert_int_equal(config_load(&cfg, 2, argv, small, sizeof(small)), CONFIG_ERROR);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_table_rows_are_complete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_int_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_int_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clamping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bool_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_string_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_choice_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_and_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_positionals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_help_and_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_good_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_list_forms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_edge_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_config_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kirin_ini_in_cwd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_args_quoting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_args_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_precedence_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_web_concurrency_and_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_print_config_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_print_config_long_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_worker_class, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_truncates_safely, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
