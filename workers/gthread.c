/* gthread — see gthread.h. */
#include "workers/gthread.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/channel.h"
#include "workers/http/allow.h"
#include "workers/http/conn.h"
#include "workers/python/wsgi.h"
#include "workers/worker.h"

#define TICK_MS 100       /* how often the loop looks at stop flags and heartbeats */
#define ACCEPT_BATCH 64   /* connections taken per wake-up, so workers share */

struct gconn {
	struct conn c;
	struct event *ev;           /* readable or timed out, while the loop owns it */
	struct gconn *prev, *next;  /* every open connection */
	struct gconn *qnext;        /* in the job queue or the done list */
	bool in_pool;               /* a pool thread owns it */
	bool refuse;                /* job: answer c.error_status and close */
	bool closed;                /* done: the pool thread closed it */
};

static struct {
	struct worker *w;
	struct event_base *base;
	struct event **accept_ev;
	bool accepting;
	struct event *tick_ev, *done_ev, *channel_ev;
	int done_fd;                /* eventfd: pool threads wake the loop */
	struct gconn *all;
	size_t nconns, in_pool;
	bool stopping;
	double deadline;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct gconn *jobs, *jobs_tail, *done;
	bool shutdown;
	pthread_t *threads;
	int nthreads;
	PyInterpreterState *interp;

	struct http_limits limits;
	struct allow forwarded, proxy;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int pool_wait(struct conn *c, short events, int timeout_ms);
static const struct conn_io pool_io = {.wait = pool_wait};

static void on_accept(evutil_socket_t fd, short what, void *arg);
static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_done(evutil_socket_t fd, short what, void *arg);
static void on_tick(evutil_socket_t fd, short what, void *arg);
static void on_channel(evutil_socket_t fd, short what, void *arg);
static void handle_head(struct gconn *gc);
static void arm(struct gconn *gc, int seconds);
static void submit(struct gconn *gc, bool refuse);
static void free_conn(struct gconn *gc);
static void set_accepting(bool on);
static void begin_stop(void);
static void *pool_main(void *arg);
static void serve(struct gconn *gc, PyThreadState *ts);

int gthread_run(struct worker *w, PyObject *app)
{
	const struct config *cfg = w->cfg;
	struct timeval tick = {0, TICK_MS * 1000};
	PyThreadState *main_ts;
	char err[256];
	int rc = WORKER_EXIT_OK;

	g.w = w;
	if (wsgi_init(app, true, true) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	if (allow_parse(&g.forwarded, &cfg->forwarded_allow_ips, err, sizeof(err)) < 0 ||
	    allow_parse(&g.proxy, &cfg->proxy_allow_ips, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		return WORKER_EXIT_BOOT_ERROR;
	}
	http_limits_from_settings(&g.limits, cfg->limit_request_line, cfg->limit_request_fields,
				  cfg->limit_request_field_size, cfg->limit_request_body);
	g.base = event_base_new();
	g.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!g.base || g.done_fd < 0) {
		log_error(errno, "setting up the event loop");
		return WORKER_EXIT_BOOT_ERROR;
	}
	g.accept_ev = xcalloc(w->nlisteners, sizeof(*g.accept_ev));
	for (size_t i = 0; i < w->nlisteners; i++)
		g.accept_ev[i] = event_new(g.base, w->listeners[i].fd, EV_READ | EV_PERSIST, on_accept,
					   (void *)&w->listeners[i]);
	g.done_ev = event_new(g.base, g.done_fd, EV_READ | EV_PERSIST, on_done, NULL);
	g.channel_ev = event_new(g.base, w->channel_fd, EV_READ | EV_PERSIST, on_channel, NULL);
	g.tick_ev = event_new(g.base, -1, EV_PERSIST, on_tick, NULL);
	event_add(g.done_ev, NULL);
	event_add(g.channel_ev, NULL);
	event_add(g.tick_ev, &tick);
	set_accepting(true);

	g.interp = PyInterpreterState_Get();
	g.nthreads = cfg->threads > 0 ? cfg->threads : 1;
	g.threads = xcalloc((size_t)g.nthreads, sizeof(*g.threads));
	main_ts = PyEval_SaveThread();
	for (int i = 0; i < g.nthreads; i++) {
		int e = pthread_create(&g.threads[i], NULL, pool_main, NULL);
		if (e) {
			log_error(e, "pthread_create()");
			g.nthreads = i;
			rc = WORKER_EXIT_BOOT_ERROR;
			break;
		}
	}
	if (rc == WORKER_EXIT_OK)
		event_base_dispatch(g.base);

	if (g.in_pool > 0) {
		/* The graceful timeout is over and requests still run: do not
		 * finalize Python under their feet. */
		log_warning("%zu request(s) still running after the graceful timeout", g.in_pool);
		_exit(WORKER_EXIT_OK);
	}
	pthread_mutex_lock(&g.mu);
	g.shutdown = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	for (int i = 0; i < g.nthreads; i++)
		pthread_join(g.threads[i], NULL);
	PyEval_RestoreThread(main_ts);
	while (g.all)
		free_conn(g.all);
	return rc;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	const struct listener *l = arg;
	const struct config *cfg = g.w->cfg;

	for (int i = 0; i < ACCEPT_BATCH && g.accepting; i++) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int one = 1;
		int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct gconn *gc;

		if (fd < 0) {
			if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
				log_error(errno, "accept4() on %s", l->name);
			return;
		}
		if (l->family != AF_UNIX)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		gc = xcalloc(1, sizeof(*gc));
		conn_init(&gc->c, fd, l, &pool_io, &g.limits,
			  cfg->timeout > 0 ? cfg->timeout * 1000 : 30000);
		conn_set_peer(&gc->c, (struct sockaddr *)&peer);
		gc->c.expect_proxy = cfg->proxy_protocol;
		gc->c.proxy_trusted = allow_match(&g.proxy, gc->c.peer_addr);
		gc->c.forwarded_trusted = allow_match(&g.forwarded, gc->c.peer_addr);
		gc->ev = event_new(g.base, fd, EV_READ, on_readable, gc);
		gc->next = g.all;
		if (g.all)
			g.all->prev = gc;
		g.all = gc;
		if (++g.nconns >= (size_t)cfg->worker_connections)
			set_accepting(false);
		handle_head(gc);
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct gconn *gc = arg;

	if (what & EV_TIMEOUT) {
		conn_close(&gc->c); /* idle too long, or too slow with a head */
		free_conn(gc);
		return;
	}
	handle_head(gc);
}

/* Parse what has arrived; hand a complete head (or a refusal) to the pool. */
static void handle_head(struct gconn *gc)
{
	const struct config *cfg = g.w->cfg;

	switch (conn_poll_head(&gc->c)) {
	case 1:
		submit(gc, false);
		break;
	case -2:
		/* Idle between requests: --keep-alive; a head in progress: --timeout. */
		arm(gc, gc->c.len == 0 ? cfg->keepalive : (cfg->timeout > 0 ? cfg->timeout : 30));
		break;
	case -1:
		if (gc->c.error_status) {
			submit(gc, true); /* the answer and lingering close may wait */
			break;
		}
		/* fall through */
	default:
		conn_close(&gc->c);
		free_conn(gc);
		break;
	}
}

static void arm(struct gconn *gc, int seconds)
{
	struct timeval tv = {seconds > 0 ? seconds : 1, 0};

	event_add(gc->ev, &tv);
}

static void submit(struct gconn *gc, bool refuse)
{
	gc->in_pool = true;
	gc->refuse = refuse;
	gc->qnext = NULL;
	g.in_pool++;
	pthread_mutex_lock(&g.mu);
	if (g.jobs_tail)
		g.jobs_tail->qnext = gc;
	else
		g.jobs = gc;
	g.jobs_tail = gc;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

/* Connections coming back from the pool: serve the next request, or free. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	struct gconn *list;

	if (read(g.done_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error(errno, "read() on the pool's eventfd");
	pthread_mutex_lock(&g.mu);
	list = g.done;
	g.done = NULL;
	pthread_mutex_unlock(&g.mu);
	while (list) {
		struct gconn *gc = list;

		list = gc->qnext;
		gc->in_pool = false;
		g.in_pool--;
		if (gc->closed) {
			free_conn(gc);
		} else if (g.stopping) {
			conn_close(&gc->c);
			free_conn(gc);
		} else {
			handle_head(gc); /* a pipelined request may be buffered already */
		}
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	if (!worker_heartbeat(g.w)) {
		log_info("the arbiter is gone: stopping");
		event_base_loopbreak(g.base);
		return;
	}
	if (!g.stopping && worker_stopping(g.w))
		begin_stop();
	if (g.stopping && (g.in_pool == 0 || worker_now() > g.deadline))
		event_base_loopbreak(g.base);
}

static void on_channel(evutil_socket_t fd, short what, void *arg)
{
	char b;
	ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		log_info("the arbiter is gone: stopping");
		event_base_loopbreak(g.base);
	}
}

/* Graceful stop: accept nothing more, close idle connections, let requests finish. */
static void begin_stop(void)
{
	struct gconn *gc = g.all;

	g.stopping = true;
	g.deadline = worker_now() + g.w->cfg->graceful_timeout;
	set_accepting(false);
	while (gc) {
		struct gconn *next = gc->next;
		if (!gc->in_pool) {
			conn_close(&gc->c);
			free_conn(gc);
		}
		gc = next;
	}
}

static void free_conn(struct gconn *gc)
{
	if (gc->prev)
		gc->prev->next = gc->next;
	else
		g.all = gc->next;
	if (gc->next)
		gc->next->prev = gc->prev;
	if (gc->ev)
		event_free(gc->ev);
	conn_close(&gc->c);
	free(gc);
	g.nconns--;
	if (!g.accepting && !g.stopping && g.nconns < (size_t)g.w->cfg->worker_connections)
		set_accepting(true);
}

static void set_accepting(bool on)
{
	for (size_t i = 0; i < g.w->nlisteners; i++) {
		if (on)
			event_add(g.accept_ev[i], NULL);
		else
			event_del(g.accept_ev[i]);
	}
	g.accepting = on;
}

static void *pool_main(void *arg)
{
	PyThreadState *ts = PyThreadState_New(g.interp);
	uint64_t one = 1;

	for (;;) {
		struct gconn *gc;

		pthread_mutex_lock(&g.mu);
		while (!g.jobs && !g.shutdown)
			pthread_cond_wait(&g.cv, &g.mu);
		gc = g.jobs;
		if (!gc) {
			pthread_mutex_unlock(&g.mu);
			break;
		}
		g.jobs = gc->qnext;
		if (!g.jobs)
			g.jobs_tail = NULL;
		pthread_mutex_unlock(&g.mu);

		serve(gc, ts);

		pthread_mutex_lock(&g.mu);
		gc->qnext = g.done;
		g.done = gc;
		pthread_mutex_unlock(&g.mu);
		if (write(g.done_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_error(errno, "write() on the pool's eventfd");
	}
	PyEval_RestoreThread(ts);
	PyThreadState_Clear(ts);
	PyThreadState_DeleteCurrent();
	return NULL;
}

/* One request in a pool thread; the connection goes back to the loop after. */
static void serve(struct gconn *gc, PyThreadState *ts)
{
	const struct config *cfg = g.w->cfg;
	enum wsgi_outcome out;
	bool keep;

	gc->closed = true;
	if (gc->refuse) {
		conn_refuse(&gc->c, gc->c.error_status);
		return;
	}
	keep = cfg->keepalive > 0 && !worker_stopping(g.w);
	PyEval_RestoreThread(ts);
	out = wsgi_serve(&gc->c, keep);
	PyEval_SaveThread();
	__atomic_add_fetch(&g.w->requests, 1, __ATOMIC_RELAXED);
	if (out == WSGI_KEEP && keep && conn_next_request(&gc->c) == 0) {
		gc->closed = false;
		return;
	}
	if (out != WSGI_CLOSED)
		conn_finish(&gc->c);
}

/* Pool threads may wait on their client (a body, a slow reader), bounded by c->timeout_ms. */
static int pool_wait(struct conn *c, short events, int timeout_ms)
{
	struct pollfd p = {.fd = c->fd, .events = events};
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		errno = ETIMEDOUT;
	return rc > 0 ? 0 : -1;
}
