/* log — see log.h. */
#include "arbiter/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_ 4096

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

static int out_fd = 2;
static char *out_path; /* NULL for stderr */
static enum log_level min_level = LOG_INFO;
static int capture_stdio; /* --capture-output */

static int open_path(const char *path);
static void capture(void);
static size_t prefix(char *buf, size_t cap, enum log_level level);
static void write_all(const char *buf, size_t len);

int log_level_parse(const char *name)
{
	static const char *const names[] = {"debug", "info", "warning", "error", "critical"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name && strcasecmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

int log_open(const char *path, const char *level)
{
	int lvl = level ? log_level_parse(level) : LOG_INFO;
	int fd = 2;

	if (lvl < 0) {
		errno = EINVAL;
		return -1;
	}
	if (path && strcmp(path, "-") != 0) {
		fd = open_path(path);
		if (fd < 0)
			return -1;
	}
	if (out_fd != 2)
		close(out_fd);
	free(out_path);
	out_path = fd == 2 ? NULL : xstrdup(path);
	out_fd = fd;
	min_level = lvl;
	capture();
	return 0;
}

void log_capture_stdio(int on)
{
	capture_stdio = on;
}

/* Point 1 and 2 at the error log (2 already is when the log is stderr). */
static void capture(void)
{
	if (!capture_stdio)
		return;
	if (out_fd != 1)
		dup2(out_fd, 1);
	if (out_fd != 2)
		dup2(out_fd, 2);
}

int log_reopen(void)
{
	int fd;

	if (!out_path)
		return 0;
	fd = open_path(out_path);
	if (fd < 0)
		return -1;
	/* Keep the descriptor number so inherited copies stay valid. */
	if (dup2(fd, out_fd) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	close(fd);
	capture();
	return 0;
}

int log_fd(void)
{
	return out_fd;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[LINE_MAX_];
	size_t n;
	va_list ap;
	int saved = errno;

	if (level < min_level)
		return;
	n = prefix(buf, sizeof(buf), level);
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += (size_t)m < sizeof(buf) - n - 1 ? (size_t)m : sizeof(buf) - n - 2;
	buf[n++] = '\n';
	write_all(buf, n);
	errno = saved;
}

void log_error(int err, const char *fmt, ...)
{
	char msg[LINE_MAX_ / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_ERROR, "%s: %s", msg, strerror(err));
}

void log_block(enum log_level level, const char *header, const char *text, size_t len)
{
	if (level < min_level)
		return;
	log_msg(level, "%s", header);
	write_all(text, len);
	if (len && text[len - 1] != '\n')
		write_all("\n", 1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		log_critical("out of memory (%zu bytes)", n);
		exit(1);
	}
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		log_critical("out of memory (%zu x %zu bytes)", n, size);
		exit(1);
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		log_critical("out of memory (%zu bytes)", n);
		exit(1);
	}
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

static int open_path(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* "[2026-11-23 12:00:00 +0000] [1234] [INFO] ", as Gunicorn's error log. */
static size_t prefix(char *buf, size_t cap, enum log_level level)
{
	time_t now = time(NULL);
	struct tm tm;
	size_t n;

	localtime_r(&now, &tm);
	n = strftime(buf, cap, "[%Y-%m-%d %H:%M:%S %z] ", &tm);
	n += (size_t)snprintf(buf + n, cap - n, "[%ld] [%s] ", (long)getpid(), level_names[level]);
	return n;
}

static void write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(out_fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}
