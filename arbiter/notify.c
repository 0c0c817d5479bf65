/* notify — see notify.h. */
#include "arbiter/notify.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "arbiter/decimal.h"
#include "arbiter/log.h"

/* What notify_init() took from the environment. */
static struct {
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "" when none */
	char usec[32];       /* WATCHDOG_USEC as given, "" when no watchdog */
	double interval;     /* seconds between WATCHDOG=1: half of WATCHDOG_USEC */
	double next_ping;    /* monotime of the next WATCHDOG=1 (0: at once) */
	bool failure_logged; /* a send failed and was logged */
} state;


int notify_init(char *err, size_t errlen)
{
	const char *sock = getenv("NOTIFY_SOCKET"), *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long u = 0, p = 0;
	int rc = -1;

	if (sock && (!(sock[0] == '/' || sock[0] == '@') || strlen(sock) >= sizeof(state.socket))) {
		snprintf(err, errlen, "invalid NOTIFY_SOCKET '%s' (expected /PATH or @NAME)", sock);
		goto done;
	}
	if (usec && (decimal_parse(usec, ULLONG_MAX, &u) < 0 || u == 0)) {
		snprintf(err, errlen, "invalid WATCHDOG_USEC '%s'", usec);
		goto done;
	}
	if (pid && (decimal_parse(pid, ULLONG_MAX, &p) < 0 || p == 0)) {
		snprintf(err, errlen, "invalid WATCHDOG_PID '%s'", pid);
		goto done;
	}
	if (sock)
		snprintf(state.socket, sizeof(state.socket), "%s", sock);
	/* As sd_watchdog_enabled(3): a WATCHDOG_PID that is not ours means no watchdog for us. */
	if (usec && (!pid || p == (unsigned long long)getpid())) {
		snprintf(state.usec, sizeof(state.usec), "%s", usec);
		state.interval = (double)u / 2e6;
	}
	rc = 0;
done:
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return rc;
}

void notify_send(const char *fmt, ...)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + strlen(state.socket);
	char msg[1024];
	va_list ap;
	int fd, n;

	if (!state.socket[0])
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(sun.sun_path, state.socket, strlen(state.socket));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends the name */
	else
		len++;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, n < (int)sizeof(msg) ? (size_t)n : sizeof(msg) - 1,
	                     MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0) {
		if (!state.failure_logged)
			log_error(errno, "sd_notify to %s", state.socket);
		state.failure_logged = true;
	}
	if (fd >= 0)
		close(fd);
}

double notify_watchdog_wait(double now)
{
	if (!state.usec[0])
		return -1;
	return state.next_ping > now ? state.next_ping - now : 0;
}

void notify_watchdog(double now)
{
	if (notify_watchdog_wait(now) != 0)
		return;
	notify_send("WATCHDOG=1");
	state.next_ping = now + state.interval;
}

void notify_export(void)
{
	char pid[32];

	if (state.socket[0])
		setenv("NOTIFY_SOCKET", state.socket, 1);
	if (state.usec[0]) {
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		setenv("WATCHDOG_USEC", state.usec, 1);
		setenv("WATCHDOG_PID", pid, 1);
	}
}
