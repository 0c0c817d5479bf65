/*
 * statsd — Gunicorn's statsd metrics, sent by the arbiter once a second
 * from the workers' shared counters; see arbiter_parts.h.
 *
 * Names and types are Gunicorn's (gunicorn.requests, gunicorn.request.
 * status.NNN, gunicorn.workers, gunicorn.log.*), so dashboards built for it
 * keep working. One difference: Gunicorn sends one gunicorn.request.duration
 * timing per request; kirin sends, per flush, the mean of the requests of
 * the last second with a sample rate of 1/N, so that statsd counts N
 * timings and their mean is exact (percentiles are coarser). Sends never
 * block: a datagram the kernel refuses is lost, as UDP's are.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "arbiter/arbiter_parts.h"
#include "arbiter/config.h"
#include "arbiter/log.h"

#define FLUSH_EVERY 1.0 /* seconds */
#define PACKET_MAX 1432 /* bytes of one datagram: one Ethernet frame, with headers */

struct statsd {
	int fd;
	struct sockaddr_un unix_addr; /* unix:PATH (sun_path empty otherwise), connected again
					 after a send fails: the daemon may start after us */
	char prefix[128];
	char tags[256]; /* "|#a:b,c:d", or "" */
	double next_flush;
	struct channel_stats last; /* what the previous flush had seen */
	uint64_t last_logs[LOG_COUNTS];
	char packet[PACKET_MAX];
	size_t len;
};

static int connect_to(struct statsd *s, const char *addr, char *err, size_t errlen);
static void metric(struct statsd *s, const char *name, const char *value, const char *type);
static void count(struct statsd *s, const char *name, uint64_t now, uint64_t before);
static void flush(struct statsd *s);

int statsd_new(const struct config *cfg, struct statsd **out, char *err, size_t errlen)
{
	const char *prefix = cfg->statsd_prefix ? cfg->statsd_prefix : "";
	size_t pl = strlen(prefix);
	struct statsd *s;

	*out = NULL;
	if (!cfg->statsd_host)
		return 0;
	s = xcalloc(1, sizeof(*s));
	s->fd = connect_to(s, cfg->statsd_host, err, errlen);
	if (s->fd < 0) {
		free(s);
		return -1;
	}
	/* As Gunicorn: the prefix ends with exactly one dot. */
	while (pl > 0 && prefix[pl - 1] == '.')
		pl--;
	if (pl > 0)
		snprintf(s->prefix, sizeof(s->prefix), "%.*s.", (int)pl, prefix);
	if (cfg->dogstatsd_tags && cfg->dogstatsd_tags[0])
		snprintf(s->tags, sizeof(s->tags), "|#%s", cfg->dogstatsd_tags);
	*out = s;
	return 0;
}

void statsd_replace(struct arbiter *a, struct statsd *s, bool from_now)
{
	if (s && a->statsd) {
		/* Counts go on from where the old client left them. */
		s->last = a->statsd->last;
		memcpy(s->last_logs, a->statsd->last_logs, sizeof(s->last_logs));
	} else if (s && from_now) {
		stats_totals(a, NULL, &s->last);
		for (size_t i = 0; i < LOG_COUNTS; i++)
			s->last_logs[i] = s->last.log_lines[i] + a->log_lines[i];
	}
	statsd_close(a);
	a->statsd = s;
	if (s)
		log_info("Sending statsd metrics to %s", a->cfg->statsd_host);
}

void statsd_tick(struct arbiter *a, double now)
{
	struct statsd *s = a->statsd;
	struct channel_stats cur;
	uint64_t logs[LOG_COUNTS];
	char value[64];
	uint64_t n;
	long backlog;

	if (!s || now < s->next_flush)
		return;
	s->next_flush = now + FLUSH_EVERY;
	stats_totals(a, NULL, &cur);
	n = cur.requests - s->last.requests;
	count(s, "gunicorn.requests", cur.requests, s->last.requests);
	if (n > 0) {
		double mean_ms = (double)(cur.duration_us - s->last.duration_us) / 1000.0 / (double)n;
		if (n > 1)
			snprintf(value, sizeof(value), "%.3f|ms|@%.6g", mean_ms, 1.0 / (double)n);
		else
			snprintf(value, sizeof(value), "%.3f|ms", mean_ms);
		metric(s, "gunicorn.request.duration", value, NULL);
	}
	for (int st = CHANNEL_STATUS_MIN; st <= CHANNEL_STATUS_MAX; st++) {
		char name[48];
		if (cur.status[st] == s->last.status[st])
			continue;
		snprintf(name, sizeof(name), "gunicorn.request.status.%d", st);
		count(s, name, cur.status[st], s->last.status[st]);
	}
	snprintf(value, sizeof(value), "%zu", a->nslots);
	metric(s, "gunicorn.workers", value, "g");
	if (a->cfg->enable_backlog_metric && (backlog = stats_backlog(a)) >= 0) {
		snprintf(value, sizeof(value), "%ld", backlog);
		metric(s, "gunicorn.backlog", value, "h");
	}
	for (size_t i = 0; i < LOG_COUNTS; i++) {
		static const char *const names[LOG_COUNTS] = {
			"gunicorn.log.critical", "gunicorn.log.error", "gunicorn.log.warning",
			"gunicorn.log.exception"};
		logs[i] = cur.log_lines[i] + a->log_lines[i];
		count(s, names[i], logs[i], s->last_logs[i]);
		s->last_logs[i] = logs[i];
	}
	flush(s);
	s->last = cur;
}

void statsd_close(struct arbiter *a)
{
	statsd_free(a->statsd);
	a->statsd = NULL;
}

void statsd_free(struct statsd *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s);
}

/*
 * A non-blocking datagram socket connected to HOST:PORT, or for unix:PATH
 * one that flush() connects (s->unix_addr); -1 with err.
 */
static int connect_to(struct statsd *s, const char *addr, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;
	const char *colon = strrchr(addr, ':');
	char host[256];
	size_t hl;
	int fd, rc;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (strlen(addr + 5) >= sizeof(s->unix_addr.sun_path)) {
			snprintf(err, errlen, "statsd: unix socket path too long: %s", addr + 5);
			return -1;
		}
		s->unix_addr.sun_family = AF_UNIX;
		strcpy(s->unix_addr.sun_path, addr + 5);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			snprintf(err, errlen, "statsd: socket(): %s", strerror(errno));
		return fd;
	}
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "statsd: bad host in %s", addr);
		return -1;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "statsd: cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		snprintf(err, errlen, "statsd: cannot reach %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Append "PREFIXname:value|type|#tags" to the packet, sending it first if it would not fit. */
static void metric(struct statsd *s, const char *name, const char *value, const char *type)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s%s:%s%s%s%s", s->prefix, name, value,
			 type ? "|" : "", type ? type : "", s->tags);

	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	if (s->len + (size_t)n + 1 > sizeof(s->packet))
		flush(s);
	if (s->len)
		s->packet[s->len++] = '\n';
	memcpy(s->packet + s->len, line, (size_t)n);
	s->len += (size_t)n;
}

/* A counter's increase since the last flush, when there is one. */
static void count(struct statsd *s, const char *name, uint64_t now, uint64_t before)
{
	char value[32];

	if (now <= before)
		return;
	snprintf(value, sizeof(value), "%llu", (unsigned long long)(now - before));
	metric(s, name, value, "c");
}

static void flush(struct statsd *s)
{
	bool unix_path = s->unix_addr.sun_path[0] != '\0';

	if (!s->len)
		return;
	/* A lost datagram is lost. unix:PATH: (re)connect, the daemon may have
	 * started or restarted since the last send, and try once more. */
	if (send(s->fd, s->packet, s->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && unix_path &&
	    errno != EAGAIN &&
	    connect(s->fd, (struct sockaddr *)&s->unix_addr, sizeof(s->unix_addr)) == 0 &&
	    send(s->fd, s->packet, s->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("statsd: send() to %s: %s", s->unix_addr.sun_path, strerror(errno));
	s->len = 0;
}
