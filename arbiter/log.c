/* log — see log.h. */
#include "arbiter/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_ 4096

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

static int out_fd = 2;
static char *out_path; /* NULL for stderr */
static enum log_level min_level = LOG_INFO;
static int capture_stdio; /* --capture-output */
static uint64_t *counts;  /* log_count_into(): critical, error, warning, exception */

/* --log-syslog: a connected datagram socket, shared by every thread. */
static struct {
	char *addr;   /* NULL: off */
	char tag[128]; /* "kirin.PREFIX" */
	int facility;
	int fd;       /* -1 while not connected */
	time_t retry; /* no reconnection before this */
	pthread_mutex_t mu;
} sl = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

static int open_path(const char *path);
static void count(enum log_level level);
static void vline(enum log_level level, const char *fmt, va_list ap);
static void line(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void block(enum log_level level, const char *header, const char *text, size_t len);
static void capture(void);
static size_t prefix(char *buf, size_t cap, enum log_level level);
static void write_all(const char *buf, size_t len);
static int syslog_connect(const char *addr);
static int facility_code(const char *name);

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

	if (sl.addr) {
		pthread_mutex_lock(&sl.mu);
		if (sl.fd >= 0)
			close(sl.fd);
		sl.fd = syslog_connect(sl.addr);
		sl.retry = time(NULL) + 1;
		pthread_mutex_unlock(&sl.mu);
	}
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
	va_list ap;

	count(level);
	va_start(ap, fmt);
	vline(level, fmt, ap);
	va_end(ap);
}

/* One line at level, if the level shows; counts nothing. */
static void line(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(level, fmt, ap);
	va_end(ap);
}

static void vline(enum log_level level, const char *fmt, va_list ap)
{
	char buf[LINE_MAX_];
	size_t n, head;
	int saved = errno;

	if (level < min_level)
		return;
	n = head = prefix(buf, sizeof(buf), level);
	int m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	if (m > 0)
		n += (size_t)m < sizeof(buf) - n - 1 ? (size_t)m : sizeof(buf) - n - 2;
	buf[n++] = '\n';
	write_all(buf, n);
	if (sl.addr)
		log_syslog_send(level, "error", buf + head, n - head - 1);
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
	count(level);
	block(level, header, text, len);
}

void log_exception(const char *header, const char *traceback, size_t len)
{
	if (counts)
		__atomic_fetch_add(&counts[LOG_COUNT_EXCEPTION], 1, __ATOMIC_RELAXED);
	block(LOG_ERROR, header, traceback, traceback ? len : 0);
}

/* A header line and text under it, if the level shows; counts nothing. */
static void block(enum log_level level, const char *header, const char *text, size_t len)
{
	if (level < min_level)
		return;
	line(level, "%s", header);
	if (!len)
		return;
	write_all(text, len);
	if (text[len - 1] != '\n')
		write_all("\n", 1);
	if (sl.addr)
		log_syslog_send(level, "error", text, text[len - 1] == '\n' ? len - 1 : len);
}

int log_syslog_open(const char *addr, const char *facility, const char *prefix_)
{
	int code = facility_code(facility ? facility : "user");
	int err = 0;

	pthread_mutex_lock(&sl.mu);
	if (sl.fd >= 0)
		close(sl.fd);
	sl.fd = -1;
	free(sl.addr);
	sl.addr = addr ? xstrdup(addr) : NULL;
	sl.facility = code < 0 ? 1 : code;
	snprintf(sl.tag, sizeof(sl.tag), "kirin.%s", prefix_ && *prefix_ ? prefix_ : "kirin");
	for (char *p = sl.tag; *p; p++)
		if (*p == ':' || *p == ' ' || *p == '[')
			*p = '.'; /* Gunicorn makes "app:wsgi" a tag with '.' */
	if (sl.addr) {
		sl.fd = syslog_connect(sl.addr);
		err = errno;
		sl.retry = time(NULL) + 1;
	}
	pthread_mutex_unlock(&sl.mu);
	if (sl.addr && sl.fd < 0) {
		errno = err;
		return -1;
	}
	return 0;
}

void log_syslog_send(enum log_level level, const char *kind, const char *msg, size_t len)
{
	static const int severity[] = {7, 6, 4, 3, 2}; /* debug info warning err crit */
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char head[256];
	time_t now;
	struct tm tm;
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	int hl;

	if (!sl.addr)
		return;
	now = time(NULL);
	localtime_r(&now, &tm);
	hl = snprintf(head, sizeof(head), "<%d>%s %2d %02d:%02d:%02d %s.%s[%ld]: ",
		      sl.facility * 8 + severity[level], months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
		      tm.tm_min, tm.tm_sec, sl.tag, kind, (long)getpid());
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return;
	iov[0] = (struct iovec){head, (size_t)hl};
	iov[1] = (struct iovec){(void *)msg, len};
	pthread_mutex_lock(&sl.mu);
	if (sl.fd < 0 && now >= sl.retry) {
		sl.fd = syslog_connect(sl.addr);
		sl.retry = now + 1;
	}
	if (sl.fd >= 0 && sendmsg(sl.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    (errno == ECONNREFUSED || errno == ENOTCONN || errno == EDESTADDRREQ)) {
		/* The daemon went away (restarted): connect again, once. */
		close(sl.fd);
		sl.fd = now >= sl.retry ? syslog_connect(sl.addr) : -1;
		sl.retry = now + 1;
		if (sl.fd >= 0)
			sendmsg(sl.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	pthread_mutex_unlock(&sl.mu);
}

/* A datagram socket connected to addr (see log_syslog_open), or -1 with errno. */
static int syslog_connect(const char *addr)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res, *ai;
	char host[256] = "localhost", port[16] = "514";
	const char *p;
	int fd = -1, rc;

	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		size_t n;

		p = addr + 5;
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		n = strcspn(p, "#");
		if (n == 0 || n >= sizeof(sun.sun_path)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(sun.sun_path, p, n);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			int err = errno;
			close(fd);
			errno = err;
			fd = -1;
		}
		return fd;
	}
	if (strncmp(addr, "udp://", 6) != 0) {
		errno = EINVAL;
		return -1;
	}
	p = addr + 6;
	if (*p == '[') {
		const char *close_ = strchr(p, ']');
		if (!close_ || (size_t)(close_ - p - 1) >= sizeof(host)) {
			errno = EINVAL;
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(close_ - p - 1), p + 1);
		p = close_ + 1;
		if (*p == ':')
			snprintf(port, sizeof(port), "%s", p + 1);
	} else if (*p) {
		size_t n = strcspn(p, ":");
		snprintf(host, sizeof(host), "%.*s", (int)n, p);
		if (p[n] == ':')
			snprintf(port, sizeof(port), "%s", p + n + 1);
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		errno = rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* Gunicorn's facility names; -1 if unknown. */
static int facility_code(const char *name)
{
	static const struct {
		const char *name;
		int code;
	} names[] = {
		{"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
		{"security", 4},  {"syslog", 5},  {"lpr", 6},     {"news", 7},    {"uucp", 8},
		{"cron", 9},      {"authpriv", 10}, {"ftp", 11},  {"local0", 16}, {"local1", 17},
		{"local2", 18},   {"local3", 19}, {"local4", 20}, {"local5", 21}, {"local6", 22},
		{"local7", 23},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i].name) == 0)
			return names[i].code;
	return -1;
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

void log_count_into(uint64_t *c)
{
	counts = c;
}

static void count(enum log_level level)
{
	if (counts && level >= LOG_WARNING)
		__atomic_fetch_add(&counts[LOG_CRITICAL - level], 1, __ATOMIC_RELAXED);
}
