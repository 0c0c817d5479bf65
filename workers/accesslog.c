/* accesslog — see accesslog.h. */
#include "workers/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/log.h"

#define LINE_CAP PIPE_BUF /* one write(2) that a pipe keeps whole */
#define DEFAULT_FORMAT "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""
#define QUICK_EXIT_WAIT_MS 200 /* a quick stop waits this long for another thread's write */

bool accesslog_active;

static struct {
	int fd;             /* -1: no file (off, or syslog only) */
	char *path;         /* NULL for stdout */
	bool syslog;        /* --log-syslog: every line also goes there */
	long pid;
	struct accesslog_format *fmt;
	pthread_mutex_t mu; /* guards buf, len, since, write_failed */
	char buf[LINE_CAP];
	size_t len;
	struct timespec since; /* when the oldest buffered line came */
	bool write_failed;     /* logged once, until a write succeeds */
} A = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

/*
 * accesslog_quick_exit() runs in a signal handler: it must not take A.mu on
 * the thread it interrupted while that thread holds it (or is taking it).
 * `inside` says this thread is between enter() and leave(); the handler then
 * only leaves the exit status in `exit_pending` (status + 1) and leave() exits.
 */
static __thread volatile sig_atomic_t inside;
static volatile sig_atomic_t exit_pending;
static int held; /* accesslog_hold() calls not yet released (atomic) */

static void enter(void);
static void leave(void);
static void flush_locked(void);
static void write_quietly(void);

/* ------------------------------------------------------------ the log file */

int accesslog_open(const struct config *cfg)
{
	A.syslog = cfg->syslog && !cfg->disable_redirect_access_to_syslog;
	if (!cfg->accesslog && !A.syslog)
		return 0;
	if (cfg->accesslog && strcmp(cfg->accesslog, "-") == 0) {
		A.fd = 1;
	} else if (cfg->accesslog) {
		A.fd = open(cfg->accesslog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (A.fd < 0) {
			log_error(errno, "cannot open the access log %s", cfg->accesslog);
			return -1;
		}
		A.path = xstrdup(cfg->accesslog);
	}
	A.pid = (long)getpid();
	A.fmt = accesslog_format_new(cfg->access_log_format ? cfg->access_log_format
							    : DEFAULT_FORMAT);
	accesslog_active = true;
	return 0;
}

void accesslog_request(const struct accesslog_entry *e)
{
	char line[LINE_CAP];
	size_t n = accesslog_format_line(A.fmt, e, time(NULL), A.pid, line, sizeof(line));

	if (A.syslog)
		log_syslog_send(LOG_INFO, "access", line, n - 1);
	if (A.fd < 0)
		return;
	enter();
	if (A.len + n > sizeof(A.buf))
		flush_locked();
	if (A.len == 0)
		clock_gettime(CLOCK_MONOTONIC_COARSE, &A.since);
	memcpy(A.buf + A.len, line, n);
	A.len += n;
	leave();
}

void accesslog_tick(void)
{
	struct timespec now;

	if (A.fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	enter();
	if (A.len > 0 && (now.tv_sec - A.since.tv_sec) * 1000 +
				 (now.tv_nsec - A.since.tv_nsec) / 1000000 >= 500)
		flush_locked();
	leave();
}

int accesslog_reopen(void)
{
	int fd;

	if (!A.path)
		return 0;
	fd = open(A.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	enter();
	flush_locked(); /* these lines belong to the old file */
	/* Keep the descriptor number: no thread ever sees it closed. */
	if (dup2(fd, A.fd) < 0) {
		int err = errno;

		leave();
		close(fd);
		errno = err;
		return -1;
	}
	leave();
	close(fd);
	return 0;
}

void accesslog_close(void)
{
	enter();
	accesslog_active = false;
	if (A.fd >= 0) {
		flush_locked();
		if (A.path)
			close(A.fd);
	}
	A.fd = -1;
	leave();
	free(A.path);
	A.path = NULL;
	accesslog_format_free(A.fmt);
	A.fmt = NULL;
}

void accesslog_quick_exit(int status)
{
	int saved = errno;

	if (inside || __atomic_load_n(&held, __ATOMIC_SEQ_CST) > 0) {
		/* This thread holds A.mu, or is taking it: leave() exits; or a
		 * response's line is on its way: accesslog_release() exits. */
		exit_pending = status + 1;
		errno = saved;
		return;
	}
	/* Another thread may hold A.mu for one write(2): wait a little, not
	 * forever (a pipe nobody reads). The lock is never given back, so no
	 * thread adds a line after the last write. */
	for (int ms = 0; ms < QUICK_EXIT_WAIT_MS; ms++) {
		if (pthread_mutex_trylock(&A.mu) == 0) {
			if (A.fd >= 0)
				write_quietly();
			break;
		}
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	_exit(status);
}

void accesslog_hold(void)
{
	__atomic_add_fetch(&held, 1, __ATOMIC_SEQ_CST);
}

void accesslog_release(void)
{
	if (__atomic_sub_fetch(&held, 1, __ATOMIC_SEQ_CST) == 0 && exit_pending)
		accesslog_quick_exit(exit_pending - 1);
}

/* Take A.mu, telling accesslog_quick_exit() that this thread is in here. */
static void enter(void)
{
	inside = 1;
	pthread_mutex_lock(&A.mu);
}

/* Give A.mu back; exit now if a quick stop came in meanwhile. */
static void leave(void)
{
	pthread_mutex_unlock(&A.mu);
	inside = 0;
	if (exit_pending)
		accesslog_quick_exit(exit_pending - 1);
}

/* One write(2) of whole lines, at most PIPE_BUF bytes; dropped on error. */
static void flush_locked(void)
{
	size_t off = 0;

	while (off < A.len) {
		ssize_t w = write(A.fd, A.buf + off, A.len - off);

		/* A quick stop interrupted a write that blocks: give up on it. */
		if (w < 0 && errno == EINTR && !exit_pending)
			continue;
		if (w <= 0) {
			if (!A.write_failed)
				log_error(errno, "writing the access log (lines dropped)");
			A.write_failed = true;
			break;
		}
		off += (size_t)w;
	}
	if (off == A.len)
		A.write_failed = false;
	A.len = 0;
}

/* flush_locked() for a signal handler: write(2) only, nothing logged. */
static void write_quietly(void)
{
	size_t off = 0;

	while (off < A.len) {
		ssize_t w = write(A.fd, A.buf + off, A.len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	A.len = 0;
}
