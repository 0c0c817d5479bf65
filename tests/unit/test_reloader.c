/*
 * Unit tests for workers/reloader.c: after reloader_start(), a change to a
 * file of an imported module, or to one of reload_extra_files, sends one
 * CHANNEL_RELOAD on the channel; an extra file that does not exist is
 * skipped; nothing is sent while nothing changes.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "arbiter/config.h"
#include "workers/channel.h"
#include "workers/python/interp.h"
#include "workers/reloader.h"

static char dir[64];
static char modpath[128], extrapath[128];
static int sv[2];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The next byte on the arbiter's end within ms, or -1 when none came. */
static int next_byte(int ms)
{
	struct pollfd p = {.fd = sv[0], .events = POLLIN};
	char c;

	if (poll(&p, 1, ms) <= 0 || read(sv[0], &c, 1) != 1)
		return -1;
	return c;
}

static int group_setup(void **state)
{
	char src[256];
	PyObject *mod;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kirin-test-reload-XXXXXX");
	if (!mkdtemp(dir) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	snprintf(modpath, sizeof(modpath), "%s/rlmod.py", dir);
	snprintf(extrapath, sizeof(extrapath), "%s/extra.txt", dir);
	write_file(modpath, "X = 1\n");
	write_file(extrapath, "one\n");
	if (interp_start(false) < 0)
		return -1;
	snprintf(src, sizeof(src),
	         "import sys; sys.dont_write_bytecode = True; sys.path.insert(0, '%s')", dir);
	if (PyRun_SimpleString(src) < 0)
		return -1;
	mod = PyImport_ImportModule("rlmod"); /* new ref */
	if (!mod)
		return -1;
	Py_DECREF(mod);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(modpath);
	unlink(extrapath);
	return rmdir(dir);
}

static void test_changes_ask_for_a_reload(void **state)
{
	char *extra[] = {extrapath, (char *)"/nonexistent/kirin-file"};
	struct config cfg = {.reload = true, .reload_extra_files = {.v = extra, .n = 2}};

	(void)state;
	assert_int_equal(reloader_start(&cfg, sv[1]), 0);
	assert_int_equal(next_byte(300), -1); /* nothing changed */
	write_file(modpath, "X = 2\n");
	assert_int_equal(next_byte(3000), CHANNEL_RELOAD);
	assert_int_equal(next_byte(300), -1); /* one ask for one change */
	write_file(extrapath, "two\n");
	assert_int_equal(next_byte(3000), CHANNEL_RELOAD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_changes_ask_for_a_reload),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
