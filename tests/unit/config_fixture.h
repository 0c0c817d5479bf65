/*
 * config_fixture — what the config tests share (test_config.c,
 * test_config_ini.c, test_config_cli.c, test_config_py.c): config_load()
 * with argv as a NULL-terminated list, expectations on success and on the exact error
 * message, temporary files, and the fixtures.
 *
 * Each test runs in a fresh temporary directory (so ./kirin.ini and
 * ./gunicorn.conf.py are under the test's control) with KIRIN_CMD_ARGS,
 * GUNICORN_CMD_ARGS, WEB_CONCURRENCY, PORT and FORWARDED_ALLOW_IPS unset;
 * the group teardown restores the directory and the variables. Included by
 * exactly one file of each test program: its state is that program's.
 */
#pragma once

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
	"sync, gthread, greenlet, gevent, asyncio, egg:gunicorn#sync, "                            \
	"gunicorn.workers.sync.SyncWorker, egg:gunicorn#gthread, "                                 \
	"gunicorn.workers.gthread.ThreadWorker, egg:gunicorn#gevent, "                             \
	"gunicorn.workers.ggevent.GeventWorker, gevent_pywsgi, gevent_wsgi, "                      \
	"gunicorn.workers.ggevent.GeventPyWSGIWorker, uvicorn.workers.UvicornWorker, "             \
	"uvicorn.workers.UvicornH11Worker, uvicorn_worker.UvicornWorker, "                         \
	"uvicorn_worker.UvicornH11Worker"

static const char *const env_names[] = {"KIRIN_CMD_ARGS", "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY",
                                        "PORT", "FORWARDED_ALLOW_IPS"};
#define NENV_NAMES (sizeof(env_names) / sizeof(env_names[0]))
static char *saved_env[NENV_NAMES];
static char saved_cwd[PATH_MAX];
static char tmpdir[64];
static char err[1024];

/* ---------------------------------------------------------------- helpers */

/* config_load() with argv given as a NULL-terminated list after the program name. */
static inline enum config_action load_v(struct config *cfg, const char *first, va_list ap)
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

static inline enum config_action load(struct config *cfg, const char *first, ...)
{
	va_list ap;
	enum config_action rc;

	va_start(ap, first);
	rc = load_v(cfg, first, ap);
	va_end(ap);
	return rc;
}

/* Load, expect success. */
static inline void load_ok(struct config *cfg, const char *first, ...)
{
	va_list ap;
	enum config_action rc;

	va_start(ap, first);
	rc = load_v(cfg, first, ap);
	va_end(ap);
	if (rc != CONFIG_RUN)
		fail_msg("config_load failed: %s", err);
}

/* Load, expect CONFIG_ERROR (or CONFIG_USAGE) with err equal to want, and cfg freed. */
static inline void load_fails(const char *want, const char *first, ...)
{
	struct config cfg, zero;
	va_list ap;
	enum config_action rc;

	memset(&zero, 0, sizeof(zero));
	memset(&cfg, 0, sizeof(cfg));
	va_start(ap, first);
	rc = load_v(&cfg, first, ap);
	va_end(ap);
	assert_true(rc == CONFIG_ERROR || rc == CONFIG_USAGE);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
}

/* A temporary file holding text; the caller unlinks it. */
static inline char *write_tmp(const char *text)
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

static inline void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* config_print() into a new string. */
static inline char *print_str(const struct config *cfg)
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
static inline void ini_fails(const char *text, const char *want)
{
	char *path = write_tmp(text);
	char expect[1024];

	snprintf(expect, sizeof(expect), "%s:%s", path, want);
	load_fails(expect, "-c", path, "app:app", NULL);
	unlink(path);
	free(path);
}

static inline void assert_list(const struct strlist *l, size_t n, ...)
{
	va_list ap;

	assert_int_equal(l->n, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->v[i], va_arg(ap, const char *));
	va_end(ap);
}

/* ---------------------------------------------------------------- fixtures */

static inline int group_setup(void **state)
{
	for (size_t i = 0; i < NENV_NAMES; i++) {
		const char *v = getenv(env_names[i]);
		saved_env[i] = v ? strdup(v) : NULL;
	}
	assert_non_null(getcwd(saved_cwd, sizeof(saved_cwd)));
	return 0;
}

static inline int group_teardown(void **state)
{
	for (size_t i = 0; i < NENV_NAMES; i++) {
		if (saved_env[i])
			setenv(env_names[i], saved_env[i], 1);
		else
			unsetenv(env_names[i]);
		free(saved_env[i]);
	}
	return chdir(saved_cwd);
}

static inline int setup(void **state)
{
	for (size_t i = 0; i < NENV_NAMES; i++)
		unsetenv(env_names[i]);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kirin-test-dir-XXXXXX");
	if (!mkdtemp(tmpdir) || chdir(tmpdir) < 0)
		return -1;
	return 0;
}

static inline int teardown(void **state)
{
	unlink("kirin.ini");
	unlink("gunicorn.conf.py");
	if (chdir(saved_cwd) < 0)
		return -1;
	return rmdir(tmpdir);
}

/* One test with the fixture around it. */
#define CONFIG_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
