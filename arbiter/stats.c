/* stats — the numbers the arbiter reports; see arbiter_parts.h. */
#include <jansson.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arbiter/arbiter_parts.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "build-aux/kirin-config.h"

#define ADD(f) sum->f += s->f

static const char *const log_names[LOG_COUNTS] = {"critical", "error", "warning", "exception"};
static const char *const restart_names[RESTART_CAUSES] = {"max_requests", "timeout", "crash"};

static size_t types(const struct arbiter *a, const char **out, size_t cap);
static json_t *counters_json(const struct channel_stats *s);
static json_t *worker_json(const struct slot *s, double now, bool full);
static long rss_bytes(pid_t pid);
static void bucket_label(size_t b, char *buf, size_t cap);
static void prom_requests(FILE *f, const struct arbiter *a, const char **tv, size_t nt);
static void prom_gauges(FILE *f, const struct arbiter *a, double now);
static int listen_queue(const struct listener *l, unsigned *queue);
static int unix_queue(int fd, unsigned *queue);
static void label_value(FILE *f, const char *v);

void stats_add(struct channel_stats *sum, const struct channel_stats *s)
{
	ADD(requests);
	ADD(duration_us);
	ADD(in_flight);
	ADD(open_conns);
	ADD(idle_conns);
	for (size_t i = CHANNEL_STATUS_MIN; i <= CHANNEL_STATUS_MAX; i++)
		ADD(status[i]);
	for (size_t i = 0; i < CHANNEL_BUCKETS; i++)
		ADD(buckets[i]);
	for (size_t i = 0; i < LOG_COUNTS; i++)
		ADD(log_lines[i]);
}

void stats_retire(struct arbiter *a, const struct slot *s)
{
	struct channel_stats gone;
	size_t i;

	if (!s->stats)
		return;
	gone = *s->stats;
	/* Its gauges leave with it. */
	gone.in_flight = gone.open_conns = gone.idle_conns = 0;
	for (i = 0; i < a->nretired && strcmp(a->retired[i].type, s->type) != 0; i++)
		;
	if (i == a->nretired) {
		if (a->nretired == STATS_TYPES)
			i = STATS_TYPES - 1; /* more types than there are: share the last row */
		else
			a->retired[a->nretired++] = (struct stats_retired){.type = s->type};
	}
	stats_add(&a->retired[i].sum, &gone);
}

void stats_totals(const struct arbiter *a, const char *type, struct channel_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < a->nretired; i++)
		if (!type || strcmp(type, a->retired[i].type) == 0)
			stats_add(out, &a->retired[i].sum);
	for (size_t i = 0; i < a->nslots; i++)
		if (a->slots[i].stats && (!type || strcmp(type, a->slots[i].type) == 0))
			stats_add(out, a->slots[i].stats);
}

json_t *stats_json(const struct arbiter *a, const char *what)
{
	double now = monotime_now();
	struct channel_stats all;
	size_t booting = 0, retiring = 0;
	json_t *doc, *list, *restarts, *logs;

	if (strcmp(what, "status") != 0 && strcmp(what, "workers") != 0 &&
	    strcmp(what, "stats") != 0)
		return NULL;
	stats_totals(a, NULL, &all);
	for (size_t i = 0; i < a->nslots; i++) {
		booting += !a->slots[i].booted;
		retiring += a->slots[i].retired_at > 0;
	}
	doc = json_pack("{s:I, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "pid",
			(json_int_t)getpid(), "version", PACKAGE_VERSION, "uptime",
			now - a->started_at, "generation", (json_int_t)a->generation, "workers",
			(json_int_t)a->nslots, "wanted", (json_int_t)a->target_workers, "booting",
			(json_int_t)booting, "retiring", (json_int_t)retiring, "requests",
			(json_int_t)all.requests, "in_flight", (json_int_t)all.in_flight);
	restarts = json_object();
	for (size_t i = 0; i < RESTART_CAUSES; i++)
		json_object_set_new(restarts, restart_names[i], json_integer((json_int_t)a->restarts[i]));
	json_object_set_new(doc, "restarts", restarts);
	if (strcmp(what, "status") == 0)
		return doc;
	list = json_array();
	for (size_t i = 0; i < a->nslots; i++)
		json_array_append_new(list, worker_json(&a->slots[i], now, strcmp(what, "stats") == 0));
	json_object_set_new(doc, "worker_list", list);
	if (strcmp(what, "stats") == 0) {
		json_object_set_new(doc, "totals", counters_json(&all));
		logs = json_object();
		for (size_t i = 0; i < LOG_COUNTS; i++)
			json_object_set_new(logs, log_names[i],
					    json_integer((json_int_t)a->log_lines[i]));
		json_object_set_new(doc, "arbiter_log", logs);
	}
	return doc;
}

char *stats_prometheus(const struct arbiter *a, size_t *len)
{
	const char *tv[STATS_TYPES + 8];
	size_t nt = types(a, tv, sizeof(tv) / sizeof(tv[0]));
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f) {
		*len = 0;
		return xstrdup("");
	}
	prom_requests(f, a, tv, nt);
	prom_gauges(f, a, monotime_now());
	fclose(f);
	return text;
}

/* The worker types with numbers: the ones gone, then the ones alive. */
static size_t types(const struct arbiter *a, const char **out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < a->nretired && n < cap; i++)
		out[n++] = a->retired[i].type;
	for (size_t i = 0; i < a->nslots && n < cap; i++) {
		size_t j;
		for (j = 0; j < n && strcmp(out[j], a->slots[i].type) != 0; j++)
			;
		if (j == n)
			out[n++] = a->slots[i].type;
	}
	return n;
}

static json_t *counters_json(const struct channel_stats *s)
{
	json_t *o = json_object(), *status = json_object(), *classes = json_object();
	json_t *buckets = json_object(), *logs = json_object();
	uint64_t cls[6] = {0};
	char key[16];

	for (int i = CHANNEL_STATUS_MIN; i <= CHANNEL_STATUS_MAX; i++) {
		if (!s->status[i])
			continue;
		snprintf(key, sizeof(key), "%d", i);
		json_object_set_new(status, key, json_integer((json_int_t)s->status[i]));
		cls[i / 100] += s->status[i];
	}
	for (int i = 1; i <= 5; i++) {
		snprintf(key, sizeof(key), "%dxx", i);
		json_object_set_new(classes, key, json_integer((json_int_t)cls[i]));
	}
	for (size_t b = 0; b < CHANNEL_BUCKETS; b++) {
		bucket_label(b, key, sizeof(key));
		json_object_set_new(buckets, key, json_integer((json_int_t)s->buckets[b]));
	}
	for (size_t i = 0; i < LOG_COUNTS; i++)
		json_object_set_new(logs, log_names[i], json_integer((json_int_t)s->log_lines[i]));
	json_object_set_new(o, "requests", json_integer((json_int_t)s->requests));
	json_object_set_new(o, "status", status);
	json_object_set_new(o, "status_class", classes);
	json_object_set_new(o, "duration_seconds_sum", json_real(s->duration_us / 1e6));
	json_object_set_new(o, "duration_buckets", buckets);
	json_object_set_new(o, "in_flight", json_integer(s->in_flight));
	json_object_set_new(o, "open_connections", json_integer(s->open_conns));
	json_object_set_new(o, "idle_connections", json_integer(s->idle_conns));
	json_object_set_new(o, "log", logs);
	return o;
}

static json_t *worker_json(const struct slot *s, double now, bool full)
{
	const struct channel_stats *st = s->stats;
	json_t *o = json_pack("{s:I, s:s, s:I, s:f, s:b, s:b, s:f, s:I, s:I, s:I}", "pid",
			      (json_int_t)s->pid, "type", s->type, "gen", (json_int_t)s->gen,
			      "age", now - s->started_at, "booted", s->booted, "retiring",
			      s->retired_at > 0, "last_beat", now - s->last_beat, "rss",
			      (json_int_t)rss_bytes(s->pid), "requests",
			      (json_int_t)(st ? st->requests : 0), "in_flight",
			      (json_int_t)(st ? st->in_flight : 0));

	if (full && st)
		json_object_set_new(o, "counters", counters_json(st));
	return o;
}

/* Resident memory of a process from /proc, in bytes; -1 when unknown. */
static long rss_bytes(pid_t pid)
{
	char path[64];
	long pages = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%*s %ld", &pages) != 1)
		pages = -1;
	fclose(f);
	return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/* Bucket b's upper bound in seconds, as Prometheus writes it: "0.005", ..., "+Inf". */
static void bucket_label(size_t b, char *buf, size_t cap)
{
	if (b == CHANNEL_BUCKETS - 1)
		snprintf(buf, cap, "+Inf");
	else
		snprintf(buf, cap, "%g", channel_bucket_us[b] / 1e6);
}

static void prom_requests(FILE *f, const struct arbiter *a, const char **tv, size_t nt)
{
	struct channel_stats t;
	char le[16];

	fputs("# HELP kirin_requests_total Requests answered, by worker type and status class.\n"
	      "# TYPE kirin_requests_total counter\n",
	      f);
	for (size_t i = 0; i < nt; i++) {
		uint64_t cls[6] = {0};
		stats_totals(a, tv[i], &t);
		for (int s = CHANNEL_STATUS_MIN; s <= CHANNEL_STATUS_MAX; s++)
			cls[s / 100] += t.status[s];
		for (int c = 1; c <= 5; c++)
			fprintf(f, "kirin_requests_total{worker_type=\"%s\",status_class=\"%dxx\"} %llu\n",
				tv[i], c, (unsigned long long)cls[c]);
	}
	fputs("# HELP kirin_request_duration_seconds Time from a request's head to its last byte.\n"
	      "# TYPE kirin_request_duration_seconds histogram\n",
	      f);
	for (size_t i = 0; i < nt; i++) {
		uint64_t cum = 0;
		stats_totals(a, tv[i], &t);
		for (size_t b = 0; b < CHANNEL_BUCKETS; b++) {
			cum += t.buckets[b];
			bucket_label(b, le, sizeof(le));
			fprintf(f, "kirin_request_duration_seconds_bucket{worker_type=\"%s\",le=\"%s\"} %llu\n",
				tv[i], le, (unsigned long long)cum);
		}
		fprintf(f, "kirin_request_duration_seconds_sum{worker_type=\"%s\"} %.6f\n", tv[i],
			t.duration_us / 1e6);
		fprintf(f, "kirin_request_duration_seconds_count{worker_type=\"%s\"} %llu\n", tv[i],
			(unsigned long long)cum);
	}
}

static void prom_gauges(FILE *f, const struct arbiter *a, double now)
{
	struct channel_stats all;
	size_t alive = 0, booting = 0, retiring = 0;

	stats_totals(a, NULL, &all);
	for (size_t i = 0; i < a->nslots; i++) {
		if (a->slots[i].retired_at > 0)
			retiring++;
		else if (!a->slots[i].booted)
			booting++;
		else
			alive++;
	}
	fprintf(f,
		"# HELP kirin_requests_in_flight Requests in the application now.\n"
		"# TYPE kirin_requests_in_flight gauge\nkirin_requests_in_flight %lld\n"
		"# HELP kirin_connections Client connections open now, and of those idle "
		"between requests.\n"
		"# TYPE kirin_connections gauge\nkirin_connections{state=\"open\"} %lld\n"
		"kirin_connections{state=\"idle\"} %lld\n"
		"# HELP kirin_workers Worker processes, by state.\n# TYPE kirin_workers gauge\n"
		"kirin_workers{state=\"alive\"} %zu\nkirin_workers{state=\"booting\"} %zu\n"
		"kirin_workers{state=\"retiring\"} %zu\n"
		"# HELP kirin_worker_restarts_total Workers replaced without being asked to stop, "
		"by cause.\n# TYPE kirin_worker_restarts_total counter\n",
		(long long)all.in_flight, (long long)all.open_conns, (long long)all.idle_conns, alive,
		booting, retiring);
	for (size_t i = 0; i < RESTART_CAUSES; i++)
		fprintf(f, "kirin_worker_restarts_total{cause=\"%s\"} %llu\n", restart_names[i],
			(unsigned long long)a->restarts[i]);
	fputs("# HELP kirin_listen_queue Connections waiting in a listener's accept queue.\n"
	      "# TYPE kirin_listen_queue gauge\n",
	      f);
	for (size_t i = 0; i < a->nlisteners; i++) {
		unsigned q;

		if (listen_queue(&a->listeners[i], &q) < 0)
			continue;
		fputs("kirin_listen_queue{listener=\"", f);
		label_value(f, a->listeners[i].name);
		fprintf(f, "\"} %u\n", q);
	}
	fprintf(f,
		"# HELP kirin_uptime_seconds Seconds since the arbiter started.\n"
		"# TYPE kirin_uptime_seconds gauge\nkirin_uptime_seconds %.3f\n"
		"# HELP kirin_build_info The kirin version serving.\n"
		"# TYPE kirin_build_info gauge\nkirin_build_info{version=\"%s\"} 1\n",
		now - a->started_at, PACKAGE_VERSION);
}

long stats_backlog(const struct arbiter *a)
{
	long sum = -1;

	for (size_t i = 0; i < a->nlisteners; i++) {
		unsigned q;

		if (listen_queue(&a->listeners[i], &q) == 0)
			sum = (sum < 0 ? 0 : sum) + (long)q;
	}
	return sum;
}

/*
 * Connections accepted by the kernel and not yet by a worker: TCP_INFO's
 * tcpi_unacked on a TCP listener, sock_diag's receive queue on a unix one.
 * 0, or -1 when the kernel does not say.
 */
static int listen_queue(const struct listener *l, unsigned *queue)
{
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);

	if (l->family == AF_UNIX)
		return unix_queue(l->fd, queue);
	if (getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
		return -1;
	*queue = ti.tcpi_unacked;
	return 0;
}

/* Ask sock_diag about the listening unix socket fd (by its inode): UNIX_DIAG_RQLEN. */
static int unix_queue(int fd, unsigned *queue)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
		.nlh = {.nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST},
		.r = {.sdiag_family = AF_UNIX, .udiag_states = 1u << 10 /* TCP_LISTEN */,
		      .udiag_show = UDIAG_SHOW_RQLEN,
		      .udiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}},
	};
	union {
		struct nlmsghdr nlh;
		char buf[1024];
	} resp;
	struct stat st;
	ssize_t n;
	int nl, rc = -1;

	if (fstat(fd, &st) < 0)
		return -1;
	req.r.udiag_ino = (unsigned)st.st_ino;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	/* The kernel answers while it handles the request: the receive never waits. */
	if (send(nl, &req, sizeof(req), 0) == (ssize_t)sizeof(req) &&
	    (n = recv(nl, &resp, sizeof(resp), MSG_DONTWAIT)) > 0 && NLMSG_OK(&resp.nlh, (size_t)n) &&
	    resp.nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
		struct unix_diag_msg *m = NLMSG_DATA(&resp.nlh);
		int left = (int)(resp.nlh.nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
		struct rtattr *at = (struct rtattr *)(m + 1);

		for (; RTA_OK(at, left); at = RTA_NEXT(at, left)) {
			if (at->rta_type == UNIX_DIAG_RQLEN &&
			    RTA_PAYLOAD(at) >= (int)sizeof(struct unix_diag_rqlen)) {
				*queue = ((struct unix_diag_rqlen *)RTA_DATA(at))->udiag_rqueue;
				rc = 0;
			}
		}
	}
	close(nl);
	return rc;
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}
