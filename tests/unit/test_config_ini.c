/*
 * Unit tests for arbiter/config_ini.c: a good file, list keys, every error
 * with its file and line, edge lines, a missing file and ./kirin.ini.
 * config_fixture.h holds the helpers and fixtures.
 */
#include "tests/unit/config_fixture.h"

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
	assert_string_equal(cfg.proxy_protocol, "auto");
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
	          "2: invalid value for worker_class: 'fast' (expected one of: " WORKER_CLASSES
	          "; or the Python path of a subclass of one of those classes)");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CONFIG_TEST(test_ini_good_file),
	    CONFIG_TEST(test_ini_list_forms),
	    CONFIG_TEST(test_ini_errors),
	    CONFIG_TEST(test_ini_edge_lines),
	    CONFIG_TEST(test_missing_config_file),
	    CONFIG_TEST(test_kirin_ini_in_cwd),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
