/*
 * Unit tests for arbiter/config.c: the table's rows and defaults, the
 * precedence of the layers, WEB_CONCURRENCY and PORT, --print-config read
 * back, the effective worker class, validation, and error truncation.
 * config_fixture.h holds the helpers and fixtures.
 */
#include "tests/unit/config_fixture.h"

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
	assert_true(n > 25 && n < CONFIG_MAX_ROWS);
	assert_null(config_find("wrokers"));
	/* a refused Gunicorn setting is no setting of kirin's, and says why */
	for (const struct setting_refusal *r = config_refusals; r->name; r++) {
		assert_null(config_find(r->name));
		assert_ptr_equal(config_refusal(r->name), r);
		assert_true(strlen(r->why) > 10);
		for (const struct setting *s = config_settings; r->long_flag && s->name; s++)
			assert_string_not_equal(r->long_flag, s->long_flag);
		if (r->long_flag)
			assert_ptr_equal(config_refusal(r->long_flag), r);
	}
	assert_true(config_refusal_asks_nothing(config_refusal("http_protocols"), "H1"));
	assert_true(config_refusal_asks_nothing(config_refusal("spew"), NULL));
	assert_false(config_refusal_asks_nothing(config_refusal("http_protocols"), "h2"));
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
	assert_string_equal(cfg.proxy_protocol, "off");
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

/* Gunicorn reads FORWARDED_ALLOW_IPS as the default of forwarded_allow_ips. */
static void test_forwarded_allow_ips_env(void **state)
{
	struct config cfg;

	setenv("FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0.2", 1);
	load_ok(&cfg, "app:app", NULL);
	assert_list(&cfg.forwarded_allow_ips, 2, "10.0.0.1", "10.0.0.2");
	config_free(&cfg);
	load_ok(&cfg, "--forwarded-allow-ips", "*", "app:app", NULL);
	assert_list(&cfg.forwarded_allow_ips, 1, "*");
	config_free(&cfg);
	setenv("FORWARDED_ALLOW_IPS", "", 1);
	load_ok(&cfg, "app:app", NULL);
	assert_int_equal(cfg.forwarded_allow_ips.n, 0);
	config_free(&cfg);
}

/* --user, --group, --umask (Gunicorn's auto_int), --initgroups, --worker-tmp-dir. */
static void test_privilege_settings(void **state)
{
	struct config cfg;

	load_ok(&cfg, "app:app", NULL);
	assert_null(cfg.user);
	assert_null(cfg.group);
	assert_int_equal(cfg.umask, 0);
	assert_false(cfg.initgroups);
	config_free(&cfg);
	load_ok(&cfg, "-u", "nobody", "-g", "0", "-m", "022", "--initgroups", "--worker-tmp-dir",
	        "/dev/shm", "app:app", NULL);
	assert_string_equal(cfg.user, "nobody");
	assert_string_equal(cfg.group, "0");
	assert_int_equal(cfg.umask, 022);
	assert_true(cfg.initgroups);
	assert_string_equal(cfg.worker_tmp_dir, "/dev/shm");
	config_free(&cfg);
	load_ok(&cfg, "-u", "65534", "-m", "0o77", "app:app", NULL);
	assert_string_equal(cfg.user, "65534");
	assert_int_equal(cfg.umask, 077);
	config_free(&cfg);
	load_ok(&cfg, "-m", "18", "app:app", NULL);
	assert_int_equal(cfg.umask, 022);
	config_free(&cfg);
	load_ok(&cfg, "-m", "0x12", "app:app", NULL);
	assert_int_equal(cfg.umask, 022);
	config_free(&cfg);
	load_fails("invalid value for --umask: '09' (expected an integer)", "-m", "09", "app:app",
	           NULL);
	load_fails("invalid value for --umask: '0o-1' (expected an integer)", "-m", "0o-1",
	           "app:app", NULL);
	load_fails("invalid value for --umask: '01000' (must be between 0 and 511)", "-m", "01000",
	           "app:app", NULL);
	load_fails("invalid value for --user: 'no-such-user-k' (no such user)", "-u",
	           "no-such-user-k", "app:app", NULL);
	load_fails("invalid value for --group: 'no-such-group-k' (no such group)", "-g",
	           "no-such-group-k", "app:app", NULL);
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

	assert_int_equal(config_load(&cfg, 2, argv, small, sizeof(small)), CONFIG_USAGE);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CONFIG_TEST(test_table_rows_are_complete),
	    CONFIG_TEST(test_defaults),
	    CONFIG_TEST(test_precedence_chain),
	    CONFIG_TEST(test_web_concurrency_and_port),
	    CONFIG_TEST(test_forwarded_allow_ips_env),
	    CONFIG_TEST(test_privilege_settings),
	    CONFIG_TEST(test_print_config_round_trip),
	    CONFIG_TEST(test_print_config_long_list),
	    CONFIG_TEST(test_worker_class),
	    CONFIG_TEST(test_validate),
	    CONFIG_TEST(test_error_truncates_safely),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
