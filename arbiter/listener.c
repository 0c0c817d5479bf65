/* listener — see listener.h. */
#include "arbiter/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/decimal.h"
#include "arbiter/log.h"
#include "arbiter/process.h"

#define DEFAULT_PORT "8000"
#define SD_LISTEN_FDS_START 3 /* sd_listen_fds(3): the first socket systemd passes */

static int bind_one(struct listener *l, const char *spec, const struct config *cfg, char *err,
		    size_t errlen);
static struct listener *find_kept(struct listener *old, size_t nold, const bool *taken,
				  const char *spec);
static bool names_address(const struct listener *l, const char *spec);
static int resolve(const char *spec, struct addrinfo **res, char *err, size_t errlen);
static int bind_tcp(struct listener *l, const char *spec, const struct config *cfg, char *err,
		    size_t errlen);
static int bind_unix(struct listener *l, const char *path, const struct config *cfg, char *err,
		     size_t errlen);
static int adopt_fd(struct listener *l, const char *spec, char *err, size_t errlen);
static struct listener *adopt_inherited(const char *fds, size_t *n, char *err,
					size_t errlen);
static int adopt_activated(struct listener **out, size_t *n, char *err, size_t errlen);
static int adopt_listening(struct listener *l, int fd, char *err, size_t errlen);
static long count_names(const char *names);
static bool fd_listed(const char *list, int fd);
static void take_unix_path(struct listener *l);
static int split_host_port(const char *spec, char *host, size_t hostcap, char *port,
			   size_t portcap);
static void describe(struct listener *l, const struct sockaddr *sa);

struct listener *listener_bind_all(const struct config *cfg, size_t *n, char *err,
				   size_t errlen)
{
	const char *inherited = getenv("KIRIN_FDS");
	struct listener *activated, *ls;
	size_t nactivated;

	if (inherited)
		return adopt_inherited(inherited, n, err, errlen);
	if (adopt_activated(&activated, &nactivated, err, errlen) < 0)
		return NULL;
	/* The activated sockets are the listeners a reload starts from. */
	ls = listener_rebind(cfg, activated, nactivated, n, err, errlen);
	if (!ls) {
		int busy = errno == EADDRINUSE;
		listener_close_all(activated, nactivated, false);
		errno = busy ? EADDRINUSE : 0;
	}
	return ls;
}

struct listener *listener_rebind(const struct config *next, struct listener *old, size_t nold,
				 size_t *n, char *err, size_t errlen)
{
	bool any_activated = false;
	size_t nbind, count;
	struct listener *ls, **kept;
	bool *taken = xcalloc(nold + 1, sizeof(*taken));

	for (size_t j = 0; j < nold; j++)
		any_activated |= old[j].activated;
	/* Socket activation without a bind setting: systemd's sockets alone. */
	nbind = any_activated && !config_given(next, "bind") ? 0 : next->bind.n;
	ls = xcalloc(nbind + nold + 1, sizeof(*ls));
	kept = xcalloc(nbind + 1, sizeof(*kept)); /* ls[i] comes from *kept[i] */

	/* First what is new, so that a failure leaves old as it was. */
	for (size_t i = 0; i < nbind; i++) {
		kept[i] = find_kept(old, nold, taken, next->bind.v[i]);
		if (kept[i]) {
			taken[kept[i] - old] = true;
			ls[i].fd = -1;
		} else if (errno = 0, bind_one(&ls[i], next->bind.v[i], next, err, errlen) < 0) {
			int busy = errno == EADDRINUSE;
			listener_close_all(ls, i + 1, true);
			free(kept);
			free(taken);
			errno = busy ? EADDRINUSE : 0;
			return NULL;
		}
	}
	for (size_t i = 0; i < nbind; i++) {
		if (!kept[i])
			continue;
		ls[i] = *kept[i];
		kept[i]->fd = -1;
		kept[i]->spec = kept[i]->unix_path = NULL;
	}
	/* systemd's sockets stay, named by an address or not. */
	count = nbind;
	for (size_t j = 0; j < nold; j++) {
		if (taken[j] || !old[j].activated || old[j].fd < 0)
			continue;
		ls[count++] = old[j];
		old[j].fd = -1;
		old[j].spec = old[j].unix_path = NULL;
	}
	free(kept);
	free(taken);
	listener_close_all(old, nold, true);
	*n = count;
	return ls;
}

/*
 * The first listener of old not yet taken that spec names: its --bind
 * text, or its name, or for one not bound from a --bind (passed by systemd,
 * or handed over on USR2, where a unix socket is named fd://N) the address
 * spec resolves to. NULL if none.
 */
static struct listener *find_kept(struct listener *old, size_t nold, const bool *taken,
				  const char *spec)
{
	for (size_t j = 0; j < nold; j++)
		if (!taken[j] && old[j].fd >= 0 &&
		    (strcmp(old[j].spec ? old[j].spec : old[j].name, spec) == 0 ||
		     (!old[j].spec && names_address(&old[j], spec))))
			return &old[j];
	return NULL;
}

/* True when the --bind address spec is the address l listens on. */
static bool names_address(const struct listener *l, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss) - 1; /* a unix path stays NUL-terminated */
	struct addrinfo *res;
	char err[1];
	bool same = false;

	memset(&ss, 0, sizeof(ss));
	if (strncmp(spec, "fd://", 5) == 0)
		return strtol(spec + 5, NULL, 10) == l->fd;
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (strncmp(spec, "unix:", 5) == 0)
		return ss.ss_family == AF_UNIX &&
		       strcmp(((struct sockaddr_un *)&ss)->sun_path, spec + 5) == 0;
	if (ss.ss_family == AF_UNIX || resolve(spec, &res, err, sizeof(err)) < 0)
		return false;
	for (struct addrinfo *ai = res; ai && !same; ai = ai->ai_next)
		same = ai->ai_addrlen == sl && memcmp(ai->ai_addr, &ss, sl) == 0;
	freeaddrinfo(res);
	return same;
}

void listener_close_sockets(struct listener *ls, size_t n, bool unlink_unix)
{
	for (size_t i = 0; i < n; i++) {
		if (ls[i].fd >= 0)
			close(ls[i].fd);
		ls[i].fd = -1;
		if (unlink_unix && ls[i].unix_path && ls[i].handed_to == 0 &&
		    (ls[i].handed_by == 0 || ls[i].handed_by != getppid())) {
			unlink(ls[i].unix_path);
			free(ls[i].unix_path);
			ls[i].unix_path = NULL;
		}
	}
}

void listener_close_all(struct listener *ls, size_t n, bool unlink_unix)
{
	if (!ls)
		return;
	listener_close_sockets(ls, n, unlink_unix);
	for (size_t i = 0; i < n; i++) {
		free(ls[i].unix_path);
		free(ls[i].spec);
	}
	free(ls);
}

void listener_hand_over(struct listener *ls, size_t n, pid_t successor)
{
	for (size_t i = 0; i < n; i++)
		if (ls[i].unix_path)
			ls[i].handed_to = successor;
}

static int bind_one(struct listener *l, const char *spec, const struct config *cfg, char *err,
		    size_t errlen)
{
	l->fd = -1;
	l->spec = xstrdup(spec);
	if (strncmp(spec, "unix:", 5) == 0)
		return bind_unix(l, spec + 5, cfg, err, errlen);
	if (strncmp(spec, "fd://", 5) == 0)
		return adopt_fd(l, spec + 5, err, errlen);
	return bind_tcp(l, spec, cfg, err, errlen);
}

static int set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/*
 * The addresses a TCP --bind spec (HOST:PORT, or tcp://HOST:PORT) stands
 * for: 0, or -1 with err.
 */
static int resolve(const char *spec, struct addrinfo **res, char *err, size_t errlen)
{
	char host[256], port[32];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	const char *hp = strncmp(spec, "tcp://", 6) == 0 ? spec + 6 : spec; /* Gunicorn's spelling */
	int rc;

	if (split_host_port(hp, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "invalid bind address '%s'", spec);
		return -1;
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve bind address '%s': %s", spec, gai_strerror(rc));
		return -1;
	}
	return 0;
}

static int bind_tcp(struct listener *l, const char *spec, const struct config *cfg, char *err,
		    size_t errlen)
{
	struct addrinfo *res;
	int one = 1;

	if (resolve(spec, &res, err, errlen) < 0)
		return -1;
	l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		snprintf(err, errlen, "socket() for '%s': %s", spec, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (cfg->reuse_port)
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, res->ai_addr, res->ai_addrlen) < 0 || listen(l->fd, cfg->backlog) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot bind to %s: %s", spec, strerror(e));
		freeaddrinfo(res);
		errno = e;
		return -1;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(l->fd, (struct sockaddr *)&ss, &sl);
	describe(l, (struct sockaddr *)&ss);
	return 0;
}

/* Remove a socket file nobody accepts on; refuse to touch anything else. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, rc;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "cannot bind to unix:%s: the path exists and is not a socket",
			 path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "cannot bind to unix:%s: another server is accepting on it",
			 path);
		return -1;
	}
	unlink(path);
	return 0;
}

static int bind_unix(struct listener *l, const char *path, const struct config *cfg, char *err,
		     size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	mode_t mask;
	uid_t uid;
	gid_t gid;
	int rc;

	if (!path[0] || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "invalid unix socket path '%s'", path);
		return -1;
	}
	if (clear_stale(path, err, errlen) < 0)
		return -1;
	strcpy(sun.sun_path, path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		snprintf(err, errlen, "socket() for unix:%s: %s", path, strerror(errno));
		return -1;
	}
	/* The socket file's mode is what --umask leaves, as Gunicorn's. */
	mask = umask((mode_t)cfg->umask);
	rc = bind(l->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(mask);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind to unix:%s: %s", path, strerror(errno));
		return -1;
	}
	l->unix_path = xstrdup(path);
	/* The workers' user owns it, so that it may use and remove it. */
	if (process_owner(cfg, &uid, &gid, err, errlen) < 0)
		return -1;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) {
		snprintf(err, errlen, "cannot give unix:%s to the --user: %s", path, strerror(errno));
		return -1;
	}
	if (listen(l->fd, cfg->backlog) < 0) {
		snprintf(err, errlen, "listen() on unix:%s: %s", path, strerror(errno));
		return -1;
	}
	l->family = AF_UNIX;
	snprintf(l->name, sizeof(l->name), "unix:%s", path);
	return 0;
}

static int adopt_fd(struct listener *l, const char *spec, char *err, size_t errlen)
{
	char *end;
	long fd = strtol(spec, &end, 10);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = 0;
	socklen_t tl = sizeof(type);

	if (!spec[0] || *end || fd < 0 || fd > 65535) {
		snprintf(err, errlen, "invalid bind address 'fd://%s'", spec);
		return -1;
	}
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
	    getsockname((int)fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "fd://%ld is not a stream socket", fd);
		return -1;
	}
	if (set_flags((int)fd) < 0) {
		snprintf(err, errlen, "fd://%ld: %s", fd, strerror(errno));
		return -1;
	}
	l->fd = (int)fd;
	describe(l, (struct sockaddr *)&ss);
	if (l->family == AF_UNIX)
		snprintf(l->name, sizeof(l->name), "fd://%ld", fd);
	return 0;
}

/*
 * After USR2: the old arbiter passed its sockets as KIRIN_FDS=3,4; use them
 * as they are (as Gunicorn does with GUNICORN_FD), whatever --bind says.
 * KIRIN_FDS_UNLINK=4 names the unix sockets whose files it created: they
 * become ours to remove at exit, as if we had bound them.
 */
static struct listener *adopt_inherited(const char *fds, size_t *n, char *err, size_t errlen)
{
	const char *unlink_fds = getenv("KIRIN_FDS_UNLINK");
	const char *activated_fds = getenv("KIRIN_FDS_ACTIVATED");
	char *copy = xstrdup(fds), *save = NULL;
	size_t count = 0;
	struct listener *ls = xcalloc(strlen(fds) / 2 + 1, sizeof(*ls));

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (adopt_fd(&ls[count], tok, err, errlen) < 0) {
			listener_close_all(ls, count + 1, false);
			free(copy);
			return NULL;
		}
		if (ls[count].family == AF_UNIX && unlink_fds && fd_listed(unlink_fds, ls[count].fd))
			take_unix_path(&ls[count]);
		ls[count].activated = activated_fds && fd_listed(activated_fds, ls[count].fd);
		count++;
	}
	free(copy);
	unsetenv("KIRIN_FDS");
	unsetenv("KIRIN_FDS_UNLINK");
	unsetenv("KIRIN_FDS_ACTIVATED");
	if (count == 0) {
		snprintf(err, errlen, "KIRIN_FDS is set but names no socket");
		free(ls);
		return NULL;
	}
	*n = count;
	return ls;
}

/*
 * systemd's socket activation, read as sd_listen_fds(3) does: when
 * LISTEN_PID is our pid, LISTEN_FDS sockets from fd 3 on, named by
 * LISTEN_FDNAMES (colon-separated). Each must be a listening stream socket
 * (ListenStream=); its file, if any, is systemd's and stays. The variables
 * are removed in any case, so that workers and the app do not see them; a
 * LISTEN_PID that is not ours (inherited from a parent) passes nothing.
 * Returns 0 with *out (NULL when none) and *n, or -1 with err.
 */
static int adopt_activated(struct listener **out, size_t *n, char *err, size_t errlen)
{
	const char *pid_text = getenv("LISTEN_PID"), *fds_text = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	struct listener *ls = NULL;
	unsigned long long v;
	long count = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (!pid_text) {
		rc = 0;
		goto done;
	}
	if (decimal_parse(pid_text, INT_MAX, &v) < 0) {
		snprintf(err, errlen, "invalid LISTEN_PID '%s'", pid_text);
		goto done;
	}
	if ((pid_t)v != getpid()) {
		rc = 0;
		goto done;
	}
	if (!fds_text || decimal_parse(fds_text, INT_MAX - SD_LISTEN_FDS_START, &v) < 0) {
		snprintf(err, errlen, "invalid LISTEN_FDS '%s'", fds_text ? fds_text : "");
		goto done;
	}
	count = (long)v;
	if (names && count_names(names) != count) {
		snprintf(err, errlen, "LISTEN_FDNAMES names %ld sockets, LISTEN_FDS passes %ld",
			 count_names(names), count);
		goto done;
	}
	ls = xcalloc((size_t)count + 1, sizeof(*ls));
	for (long i = 0; i < count; i++) {
		ls[i].fd = -1;
		if (adopt_listening(&ls[i], SD_LISTEN_FDS_START + (int)i, err, errlen) < 0) {
			listener_close_all(ls, (size_t)i + 1, false);
			goto done;
		}
		if (names) {
			size_t len = strcspn(names, ":");
			snprintf(ls[i].fdname, sizeof(ls[i].fdname), "%.*s", (int)len, names);
			names += len + (names[len] == ':');
		}
	}
	*n = (size_t)count;
	if (count > 0)
		*out = ls;
	else
		free(ls);
	rc = 0;
done:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

/* fd, passed by systemd, as l: 0, or -1 with err when it is not a listening stream socket. */
static int adopt_listening(struct listener *l, int fd, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss) - 1, il = sizeof(int);
	int type = 0, listening = 0;

	memset(&ss, 0, sizeof(ss));
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &il) < 0 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &il) < 0 || !listening ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX)) {
		snprintf(err, errlen,
			 "LISTEN_FDS: fd %d is not a listening stream socket (ListenStream=)", fd);
		return -1;
	}
	if (set_flags(fd) < 0) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d: %s", fd, strerror(errno));
		return -1;
	}
	l->fd = fd;
	l->activated = true;
	describe(l, (struct sockaddr *)&ss);
	return 0;
}

/* How many names a LISTEN_FDNAMES value holds ("" none, "a:b" two). */
static long count_names(const char *names)
{
	long n = *names ? 1 : 0;

	for (const char *p = names; *p; p++)
		n += *p == ':';
	return n;
}

/* True when the comma-separated list of descriptor numbers holds fd. */
static bool fd_listed(const char *list, int fd)
{
	const char *p = list;

	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end != p && v == fd && (*end == ',' || *end == '\0'))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return false;
}

/*
 * A unix socket handed over with its file: remember the path it is bound
 * to, to remove at exit, and the old arbiter (our parent), which keeps it
 * while it lives. An unnamed or abstract socket has no file. (Should the old
 * arbiter be gone already, our parent is whoever reaps us, and the file is
 * left behind as before: the next start replaces a stale one.)
 */
static void take_unix_path(struct listener *l)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(l->fd, (struct sockaddr *)&sun, &sl) < 0 ||
	    sl <= offsetof(struct sockaddr_un, sun_path) || !sun.sun_path[0])
		return;
	sun.sun_path[sizeof(sun.sun_path) - 1] = '\0';
	l->unix_path = xstrdup(sun.sun_path);
	l->handed_by = getppid();
}

/* "host:port", "[v6]:port", "host" (port 8000), ":port" (all addresses). */
static int split_host_port(const char *spec, char *host, size_t hostcap, char *port,
			   size_t portcap)
{
	const char *colon;
	size_t hl;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || (close[1] != ':' && close[1] != '\0'))
			return -1;
		hl = (size_t)(close - spec - 1);
		if (hl == 0 || hl >= hostcap)
			return -1;
		memcpy(host, spec + 1, hl);
		host[hl] = '\0';
		snprintf(port, portcap, "%s", close[1] ? close + 2 : DEFAULT_PORT);
	} else {
		colon = strrchr(spec, ':');
		if (colon && strchr(spec, ':') != colon)
			return -1; /* bare IPv6 without brackets */
		hl = colon ? (size_t)(colon - spec) : strlen(spec);
		if (hl >= hostcap)
			return -1;
		memcpy(host, spec, hl);
		host[hl] = '\0';
		snprintf(port, portcap, "%s", colon ? colon + 1 : DEFAULT_PORT);
	}
	if (!port[0] || strspn(port, "0123456789") != strlen(port) || atol(port) > 65535)
		return -1;
	return 0;
}

static void describe(struct listener *l, const struct sockaddr *sa)
{
	l->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, l->host, sizeof(l->host));
		snprintf(l->port, sizeof(l->port), "%u", ntohs(in->sin_port));
		snprintf(l->name, sizeof(l->name), "%s:%s", l->host, l->port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, l->host, sizeof(l->host));
		snprintf(l->port, sizeof(l->port), "%u", ntohs(in6->sin6_port));
		snprintf(l->name, sizeof(l->name), "[%s]:%s", l->host, l->port);
	} else {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		if (!sun->sun_path[0] && sun->sun_path[1]) /* abstract: systemd's ListenStream=@NAME */
			snprintf(l->name, sizeof(l->name), "unix:@%s", sun->sun_path + 1);
		else
			snprintf(l->name, sizeof(l->name), "unix:%s", sun->sun_path);
	}
}
