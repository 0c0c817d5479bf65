/* Unit tests for the access log's buffered writer (workers/accesslog.c): the
 * file gets whole lines in writes of at most PIPE_BUF bytes, the last ones
 * when the log closes, and a quick stop writes what is buffered. The line
 * format has its own tests (test_accesslog_format.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "arbiter/config.h"
#include "workers/accesslog.h"
#include "workers/http/conn.h"

#define FORMAT "a whole line of the access log: %(s)s %(b)s"
#define LINE   "a whole line of the access log: 200 14\n"
#define LINE_LEN (sizeof(LINE) - 1)

static struct conn conn;
static const struct accesslog_entry entry = {.c = &conn, .status = 200, .body_bytes = 14};

static void test_file_is_written_in_whole_lines(void **state)
{
	char path[] = "/tmp/kirin-accesslog-XXXXXX";
	struct config cfg = {0};
	char *data;
	long size;
	FILE *fp;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	cfg.accesslog = path;
	cfg.access_log_format = FORMAT;
	assert_int_equal(accesslog_open(&cfg), 0);
	assert_true(accesslog_enabled());
	for (int i = 0; i < 200; i++)
		accesslog_request(&entry);
	accesslog_tick(); /* too early: the oldest line is not half a second old */
	fp = fopen(path, "r");
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	/* Some buffers went out, each whole lines; the last one is still held. */
	assert_true(size > 0 && size < 200 * (long)LINE_LEN);
	assert_int_equal(size % (long)LINE_LEN, 0);
	accesslog_close();
	assert_false(accesslog_enabled());
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	assert_int_equal(size, 200 * LINE_LEN);
	data = calloc(1, (size_t)size + 1);
	fseek(fp, 0, SEEK_SET);
	assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
	for (long off = 0; off < size; off += (long)LINE_LEN)
		assert_memory_equal(data + off, LINE, LINE_LEN);
	free(data);
	fclose(fp);
	unlink(path);
}

/* A quick stop writes what is buffered before it _exits, in a child process. */
static void test_quick_exit_writes_the_buffer(void **state)
{
	char path[] = "/tmp/kirin-accesslog-XXXXXX";
	struct config cfg = {0};
	char data[256];
	int status, fd = mkstemp(path);
	pid_t pid;
	ssize_t n;

	(void)state;
	assert_true(fd >= 0);
	cfg.accesslog = path;
	cfg.access_log_format = FORMAT;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (accesslog_open(&cfg) < 0)
			_exit(99);
		for (int i = 0; i < 3; i++)
			accesslog_request(&entry);
		accesslog_quick_exit(7);
		_exit(98); /* not reached: the caller was not inside the log */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
	n = pread(fd, data, sizeof(data), 0);
	assert_int_equal(n, 3 * LINE_LEN);
	assert_memory_equal(data + 2 * LINE_LEN, LINE, LINE_LEN);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_is_written_in_whole_lines),
		cmocka_unit_test(test_quick_exit_writes_the_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
