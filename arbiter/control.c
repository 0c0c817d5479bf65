/*
 * control — the control socket (`kirin ctl`) and the Prometheus /metrics
 * endpoint, served by the arbiter's poll loop; see arbiter_parts.h.
 *
 * A control client sends one line, "COMMAND [ARG]\n", and reads one JSON
 * object, then the arbiter closes. A /metrics client sends an HTTP/1.x
 * request head and reads the answer, then the arbiter closes. Every
 * descriptor is non-blocking, a client gets CONTROL_DEADLINE seconds in
 * all and CONTROL_CLIENTS are served at once (more are closed on accept):
 * however slow or hostile a client, heartbeats and signals are never kept
 * waiting.
 */
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "arbiter/arbiter_parts.h"
#include "arbiter/config.h"
#include "arbiter/log.h"
#include "arbiter/process.h"
#include "workers/python/hooks.h"

#define CONTROL_DEADLINE 5.0 /* seconds a client may take, from accept to the last byte */
#define ACCEPT_BATCH 8       /* clients accepted per wake-up */
#define MAX_SCALE 4096       /* `scale N` bound */

static int open_one(const char *addr, const char *env, bool is_path, mode_t mask,
		    const struct config *cfg, char **path, char *err, size_t errlen);
static const char *control_addr(const struct config *cfg);
static bool same_addr(const char *x, const char *y);
static int bind_unix(const char *path, mode_t mask, const struct config *cfg, char *err,
		     size_t errlen);
static int bind_tcp(const char *addr, int backlog, char *err, size_t errlen);
static void accept_clients(struct arbiter *a, int lfd, bool http, double now);
static void on_readable(struct arbiter *a, struct control_client *c);
static void on_writable(struct control_client *c);
static void command(struct arbiter *a, struct control_client *c);
static void http_request(struct arbiter *a, struct control_client *c);
static void reply_json_take(struct control_client *c, json_t *doc);
static void reply_http(struct control_client *c, int status, const char *reason,
		       const char *type, const char *body, size_t len);
static void drop(struct arbiter *a, size_t i);

int control_open(struct arbiter *a, char *err, size_t errlen)
{
	a->control_fd = open_one(control_addr(a->cfg), "KIRIN_CONTROL_FD", true,
				 0777 & ~(mode_t)a->cfg->control_socket_mode, a->cfg,
				 &a->control_path, err, errlen);
	if (a->control_fd == -2)
		return -1;
	a->metrics_fd = open_one(a->cfg->metrics_bind, "KIRIN_METRICS_FD", false,
				 (mode_t)a->cfg->umask, a->cfg, &a->metrics_path, err, errlen);
	if (a->metrics_fd == -2)
		return -1;
	if (a->control_fd >= 0)
		log_info("Control socket at: %s", a->cfg->control_socket);
	if (a->metrics_fd >= 0)
		log_info("Metrics at: http://%s/metrics", a->cfg->metrics_bind);
	return 0;
}

int control_prepare(struct arbiter *a, const struct config *next, struct control_swap *s,
		    char *err, size_t errlen)
{
	const char *now[2] = {control_addr(a->cfg), a->cfg->metrics_bind};
	const char *want[2] = {control_addr(next), next->metrics_bind};
	const mode_t mask[2] = {0777 & ~(mode_t)next->control_socket_mode, (mode_t)next->umask};
	char *const *paths[2] = {&a->control_path, &a->metrics_path};

	*s = (struct control_swap){.fd = {-1, -1}};
	if (statsd_new(next, &s->statsd, err, errlen) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		s->changed[i] = !same_addr(now[i], want[i]);
		if (!s->changed[i]) {
			/* The socket stays; its file takes next's mode and owner. */
			uid_t uid;
			gid_t gid;
			if (*paths[i] &&
			    (chmod(*paths[i], 0777 & ~mask[i]) < 0 ||
			     (process_owner(next, &uid, &gid, err, errlen) == 0 &&
			      (uid != (uid_t)-1 || gid != (gid_t)-1) && chown(*paths[i], uid, gid) < 0)))
				log_error(errno, "reload: keeping the mode and owner of %s", *paths[i]);
			continue;
		}
		if (want[i] && (s->fd[i] = open_one(want[i], NULL, i == 0, mask[i], next, &s->path[i],
						     err, errlen)) < 0) {
			control_abandon(s);
			return -1;
		}
	}
	return 0;
}

void control_commit(struct arbiter *a, struct control_swap *s)
{
	int *fds[2] = {&a->control_fd, &a->metrics_fd};
	char **paths[2] = {&a->control_path, &a->metrics_path};
	static const char *const names[2] = {"Control socket", "Metrics"};

	for (int i = 0; i < 2; i++) {
		if (!s->changed[i])
			continue;
		if (*fds[i] >= 0)
			close(*fds[i]);
		if (*paths[i])
			unlink(*paths[i]);
		free(*paths[i]);
		*fds[i] = s->fd[i];
		*paths[i] = s->path[i];
		if (s->fd[i] < 0)
			log_info("%s: off", names[i]);
	}
	if (s->changed[0] && a->control_fd >= 0)
		log_info("Control socket at: %s", a->cfg->control_socket);
	if (s->changed[1] && a->metrics_fd >= 0)
		log_info("Metrics at: http://%s/metrics", a->cfg->metrics_bind);
	statsd_replace(a, s->statsd, true);
	*s = (struct control_swap){.fd = {-1, -1}};
}

void control_abandon(struct control_swap *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->fd[i] >= 0)
			close(s->fd[i]);
		if (s->path[i])
			unlink(s->path[i]);
		free(s->path[i]);
	}
	statsd_free(s->statsd);
	*s = (struct control_swap){.fd = {-1, -1}};
}

size_t control_npoll(const struct arbiter *a)
{
	return 2 + CONTROL_CLIENTS;
}

size_t control_pollfds(const struct arbiter *a, struct pollfd *p)
{
	size_t n = 0;

	p[n++] = (struct pollfd){.fd = a->control_fd, .events = POLLIN};
	p[n++] = (struct pollfd){.fd = a->metrics_fd, .events = POLLIN};
	for (size_t i = 0; i < a->nclients; i++)
		p[n++] = (struct pollfd){.fd = a->clients[i].fd,
					 .events = a->clients[i].out ? POLLOUT : POLLIN};
	return n;
}

void control_handle(struct arbiter *a, const struct pollfd *p, size_t n, double now)
{
	size_t nclients = a->nclients;

	/* Clients first, by descriptor: drop() reorders a->clients. */
	for (size_t k = 2; k < n && k - 2 < nclients; k++) {
		if (!p[k].revents)
			continue;
		for (size_t i = 0; i < a->nclients; i++) {
			struct control_client *c = &a->clients[i];
			if (c->fd != p[k].fd)
				continue;
			if (c->out)
				on_writable(c);
			else
				on_readable(a, c);
			break;
		}
	}
	for (size_t i = a->nclients; i-- > 0;)
		if (a->clients[i].fd < 0 || now > a->clients[i].deadline)
			drop(a, i);
	if (p[0].revents)
		accept_clients(a, a->control_fd, false, now);
	if (p[1].revents)
		accept_clients(a, a->metrics_fd, true, now);
}

void control_close_fds(struct arbiter *a)
{
	if (a->control_fd >= 0)
		close(a->control_fd);
	if (a->metrics_fd >= 0)
		close(a->metrics_fd);
	for (size_t i = 0; i < a->nclients; i++)
		close(a->clients[i].fd);
}

void control_close(struct arbiter *a)
{
	while (a->nclients > 0)
		drop(a, a->nclients - 1);
	control_close_fds(a);
	a->control_fd = a->metrics_fd = -1;
	/* After USR2 the files are the new arbiter's. */
	if (a->upgrade_pid <= 0) {
		if (a->control_path)
			unlink(a->control_path);
		if (a->metrics_path)
			unlink(a->metrics_path);
	}
	free(a->control_path);
	free(a->metrics_path);
	a->control_path = a->metrics_path = NULL;
}

/*
 * One listening socket for addr (NULL: none, -1), a unix socket path when
 * is_path or it says unix:PATH: the one an old arbiter handed over in $env
 * on USR2 (its file is ours to remove now), or a new one created under the
 * umask mask. -2 with err on failure.
 */
/*
 * One listening socket for addr (NULL: none, -1), a unix socket path when
 * is_path or it says unix:PATH: the one an old arbiter handed over in $env
 * on USR2 (its file is ours to remove now), or a new one created under the
 * umask mask. -2 with err on failure.
 */
static int open_one(const char *addr, const char *env, bool is_path, mode_t mask,
		    const struct config *cfg, char **path, char *err, size_t errlen)
{
	const char *given = env ? getenv(env) : NULL, *unix_path = NULL;
	int fd = -1;

	*path = NULL;
	if (addr)
		unix_path = strncmp(addr, "unix:", 5) == 0 ? addr + 5 : is_path ? addr : NULL;
	if (given) {
		fd = atoi(given);
		unsetenv(env);
		if (!addr && fd > 2)
			close(fd);
	}
	if (!addr)
		return -1;
	if (fd <= 2)
		fd = unix_path ? bind_unix(unix_path, mask, cfg, err, errlen)
			       : bind_tcp(addr, cfg->backlog, err, errlen);
	if (fd >= 0 && unix_path)
		*path = xstrdup(unix_path);
	return fd < 0 ? -2 : fd;
}

/* The control socket cfg asks for: NULL when off. */
static const char *control_addr(const struct config *cfg)
{
	return cfg->control_socket_disable ? NULL : cfg->control_socket;
}

static bool same_addr(const char *x, const char *y)
{
	return x == y || (x && y && strcmp(x, y) == 0);
}

static int bind_unix(const char *path, mode_t mask, const struct config *cfg, char *err,
		     size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	uid_t uid;
	gid_t gid;
	int fd, rc;

	if (!path[0] || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "invalid unix socket path '%s'", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket() for %s: %s", path, strerror(errno));
		return -1;
	}
	/* A socket nobody answers on is a stale one; anything else is not ours to remove. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			snprintf(err, errlen, "cannot bind to %s: %s", path,
				 S_ISSOCK(st.st_mode) ? "another server is accepting on it"
						      : "a file that is not a socket is there");
			close(fd);
			return -1;
		}
		unlink(path);
	}
	mask = umask(mask);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(mask);
	if (rc < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "cannot bind to %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	rc = process_owner(cfg, &uid, &gid, err, errlen);
	if (rc == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) {
		snprintf(err, errlen, "cannot give %s to the --user: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

static int bind_tcp(const char *addr, int backlog, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl = (size_t)(colon - addr);
	int fd, one = 1, rc;

	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "cannot bind to %s: host name too long", addr);
		return -1;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	rc = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind to %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
		snprintf(err, errlen, "cannot bind to %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void accept_clients(struct arbiter *a, int lfd, bool http, double now)
{
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (a->nclients == CONTROL_CLIENTS) {
			close(fd); /* busy: the client may try again */
			continue;
		}
		a->clients[a->nclients++] =
			(struct control_client){.fd = fd, .http = http, .deadline = now + CONTROL_DEADLINE};
	}
}

static void on_readable(struct arbiter *a, struct control_client *c)
{
	ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if (c->http)
		http_request(a, c);
	else
		command(a, c);
}

static void on_writable(struct control_client *c)
{
	ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->outoff += (size_t)n;
	if (n <= 0 || c->outoff == c->outlen) {
		close(c->fd);
		c->fd = -1;
	}
}

/* A control line: status, workers, stats, reload, scale N. */
static void command(struct arbiter *a, struct control_client *c)
{
	char *nl = memchr(c->in, '\n', c->inlen), *arg, *end;
	json_t *doc;
	long n;

	if (!nl) {
		if (c->inlen == sizeof(c->in) - 1)
			reply_json_take(c, json_pack("{s:s}", "error", "command line too long"));
		return;
	}
	*nl = '\0';
	if (nl > c->in && nl[-1] == '\r')
		nl[-1] = '\0';
	arg = strchr(c->in, ' ');
	if (arg)
		*arg++ = '\0';
	if ((doc = stats_json(a, c->in)) != NULL && !arg) {
		reply_json_take(c, doc);
	} else if (strcmp(c->in, "reload") == 0 && !arg) {
		json_decref(doc);
		log_info("Control socket: reload");
		a->sig.hup = 1;
		reply_json_take(c, json_pack("{s:b, s:s}", "ok", 1, "reload", "started"));
	} else if (strcmp(c->in, "scale") == 0 && arg) {
		int previous = a->target_workers;
		n = strtol(arg, &end, 10);
		if (*end || end == arg || n < 1 || n > MAX_SCALE) {
			reply_json_take(c, json_pack("{s:s}", "error",
						     "scale takes a number of workers from 1 to 4096"));
			return;
		}
		a->target_workers = (int)n;
		log_info("Control socket: scale to %d workers (from %d)", a->target_workers,
			 previous);
		if (n != previous)
			hooks_call(HOOK_NWORKERS_CHANGED, a->target_workers, NULL, a->target_workers,
				   previous);
		reply_json_take(c, json_pack("{s:b, s:i, s:i}", "ok", 1, "previous", previous,
					     "workers", a->target_workers));
	} else {
		json_decref(doc);
		reply_json_take(c, json_pack("{s:s}", "error",
					     "unknown command (status, workers, stats, reload, "
					     "scale N)"));
	}
}

/* A /metrics request head: GET /metrics answers, anything else is refused. */
static void http_request(struct arbiter *a, struct control_client *c)
{
	char *text;
	size_t len;

	if (!strstr(c->in, "\r\n\r\n") && !strstr(c->in, "\n\n")) {
		if (c->inlen == sizeof(c->in) - 1)
			reply_http(c, 431, "Request Header Fields Too Large", "text/plain",
				   "request head too large\n", 23);
		return;
	}
	if (strncmp(c->in, "GET ", 4) != 0) {
		reply_http(c, 405, "Method Not Allowed", "text/plain", "GET only\n", 9);
	} else if (strncmp(c->in + 4, "/metrics ", 9) != 0 &&
		   strncmp(c->in + 4, "/metrics?", 9) != 0) {
		reply_http(c, 404, "Not Found", "text/plain", "try /metrics\n", 13);
	} else {
		text = stats_prometheus(a, &len);
		reply_http(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len);
		free(text);
	}
}

static void reply_json_take(struct control_client *c, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);

	json_decref(doc);
	if (!text)
		text = xstrdup("{}"); /* out of memory for the reply: an empty one */
	c->outlen = strlen(text);
	text[c->outlen++] = '\n'; /* over the terminating NUL */
	c->out = text;
	c->outoff = 0;
}

static void reply_http(struct control_client *c, int status, const char *reason,
		       const char *type, const char *body, size_t len)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n",
			  status, reason, type, len);

	c->out = xmalloc((size_t)hl + len);
	memcpy(c->out, head, (size_t)hl);
	memcpy(c->out + hl, body, len);
	c->outlen = (size_t)hl + len;
	c->outoff = 0;
}

static void drop(struct arbiter *a, size_t i)
{
	if (a->clients[i].fd >= 0)
		close(a->clients[i].fd);
	free(a->clients[i].out);
	a->clients[i] = a->clients[--a->nclients];
}
