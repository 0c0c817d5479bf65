/* gthread — see gthread.h. */
#include "workers/gthread.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "workers/accesslog.h"
#include "workers/channel.h"
#include "workers/connset.h"
#include "workers/python/kirinmod.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/websocket.h"
#include "workers/python/wsgi.h"
#include "workers/reactor.h"
#include "workers/worker.h"

/*
 * How long a thread that accepted a connection waits for its first bytes
 * before it hands it to the loop: on loopback a client's request comes
 * microseconds after its connection is accepted, and a handed connection
 * costs two hand-overs more; a client that sends nothing costs a thread
 * this long, once.
 */
#define FRESH_WAIT_MS 1

/*
 * A pool thread, as the loop sees it: busy counts the times it went into
 * the app (a request, or back from a wait on the client or in kirin's
 * waits) and out of it (odd: in the app); only the thread writes it. The
 * loop's tick notes when it first saw each odd value.
 */
struct pool_thread {
	pthread_t id;
	_Atomic unsigned busy;
	unsigned seen; /* the loop's copy of busy */
	double since;  /* when the loop first saw it */
	struct cconn *fresh;  /* the fresh connection it serves on its own (under out_mu) */
	bool lent_any;        /* it lent an output since it began its fresh connection */
	struct cconn *lent;   /* whose output the loop may send now (under out_mu) */
	struct cconn *armed;  /* the loop's: whose socket out_ev is for, NULL: none */
	struct event *out_ev; /* the loop's: lent's socket is writable */
};

static struct {
	struct worker *w;
	int done_fd;               /* eventfd: pool threads wake the loop */
	struct event *done_ev;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_mutex_t out_mu; /* a lent output: the pool thread's, or the loop sends */
	_Atomic bool lends;     /* a pool thread lent an output since the loop looked */
	struct cconn *jobs, *jobs_tail, *done;
	bool shutdown;
	bool leader;               /* a thread waits on the listeners (under mu) */
	bool leader_woken;         /* and a wake-up is on its way to it (under mu) */
	int followers;             /* threads waiting on cv (under mu) */
	int signalled;             /* of those, woken and not yet up (under mu) */
	_Atomic uint32_t requests; /* begun in the pool threads: the loop's w->requests follows */
	struct pool_thread *threads;
	int nthreads;
	PyInterpreterState *interp;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .out_mu = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct pool_thread *this_thread; /* NULL in the loop thread */

static int pool_wait(struct conn *c, short events, int timeout_ms);
static void submit(struct cconn *cc);
static bool wake_follower(void);
static void on_done(evutil_socket_t fd, short what, void *arg);
static void done(struct cconn *cc);
static void flush_later(struct cconn *cc);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void finish(struct cconn *cc);
static void *pool_main(void *arg);
static struct cconn *next_job(bool *lead);
static void run_job(struct cconn *cc, PyThreadState *ts);
static void serve_fresh(struct cconn *cc, PyThreadState *ts);
static bool accept_more(void);
static void hand_back(struct cconn *cc);
static void serve(struct cconn *cc, PyThreadState *ts);
static bool count_request(void);
static void in_app(bool in);
static void watch_pool(double now);
static void say_going_away(void);
static void lend(struct conn *c);
static void reclaim(struct conn *c);
static void arm_lent(void);
static void on_lent_writable(evutil_socket_t fd, short what, void *arg);
static void send_lent(struct pool_thread *t);
static void unarm(struct cconn *cc);

static const struct conn_io pool_io = {.wait = pool_wait, .lend = lend, .reclaim = reclaim};
static const struct connset_ops gthread_ops = {
	.dispatch = submit,
	.io = &pool_io,
	.tick = watch_pool,
	.read_bodies = true,
	.buffer_responses = true,
	.outside = reactor_event_inflight,
};

int gthread_run(struct worker *w, PyObject *app)
{
	PyThreadState *main_ts;
	size_t busy = 0;
	int rc = WORKER_EXIT_OK;

	g.w = w;
	g.nthreads = w->cfg->threads > 0 ? w->cfg->threads : 1;
	/* Idle pool threads accept: a fresh connection's first request runs
	 * in the thread that accepted it, and the kernel's queue keeps what no
	 * thread can start now (for the other workers). */
	reactor_event_pool();
	if (wsgi_init(app, true, w->cfg->workers > 1, false) < 0 ||
	    connset_init(w, &gthread_ops, &reactor_event) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	g.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g.done_fd < 0) {
		log_error(errno, "eventfd()");
		return WORKER_EXIT_BOOT_ERROR;
	}
	g.done_ev = event_new(reactor_event_base(), g.done_fd, EV_READ | EV_PERSIST, on_done, NULL);
	if (!g.done_ev || event_add(g.done_ev, NULL) < 0) {
		log_critical("cannot watch the pool's eventfd");
		return WORKER_EXIT_BOOT_ERROR;
	}

	g.interp = PyInterpreterState_Get();
	g.threads = xcalloc((size_t)g.nthreads, sizeof(*g.threads));
	for (int i = 0; i < g.nthreads; i++) {
		g.threads[i].out_ev = event_new(reactor_event_base(), -1, 0, NULL, NULL);
		if (!g.threads[i].out_ev) {
			log_critical("cannot create the pool's events");
			return WORKER_EXIT_BOOT_ERROR;
		}
	}
	kirinmod_set_wait_hook(in_app);
	websocket_pool_threads(g.nthreads);
	main_ts = PyEval_SaveThread();
	for (int i = 0; i < g.nthreads; i++) {
		int e = pthread_create(&g.threads[i].id, NULL, pool_main, &g.threads[i]);
		if (e) {
			log_error(e, "pthread_create()");
			g.nthreads = i;
			rc = WORKER_EXIT_BOOT_ERROR;
			break;
		}
	}
	if (rc == WORKER_EXIT_OK)
		busy = connset_run() + reactor_event_inflight();
	if (busy > 0) {
		/* The graceful timeout is over and requests still run: do not
		 * finalize Python under their feet, but do not lose the access
		 * log's buffered lines either. */
		log_warning("%zu request(s) still running after the graceful timeout", busy);
		accesslog_quick_exit(WORKER_EXIT_OK);
		/* A pool thread is ending a response: it exits once its line is
		 * written; a second is more than that takes. */
		sleep(1);
		_exit(WORKER_EXIT_OK);
	}
	pthread_mutex_lock(&g.mu);
	g.shutdown = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	reactor_event_wake(); /* the thread that waits on the listeners */
	for (int i = 0; i < g.nthreads; i++)
		pthread_join(g.threads[i].id, NULL);
	PyEval_RestoreThread(main_ts);
	event_free(g.done_ev);
	close(g.done_fd);
	for (int i = 0; i < g.nthreads; i++)
		event_free(g.threads[i].out_ev);
	free(g.threads);
	connset_free();
	return rc;
}

/*
 * The loop hands over a complete head: queue it for the pool, and wake an
 * idle thread: one waiting on cv, else the one waiting on the listeners.
 */
static void submit(struct cconn *cc)
{
	bool wake;

	cc->qnext = NULL;
	pthread_mutex_lock(&g.mu);
	if (g.jobs_tail)
		g.jobs_tail->qnext = cc;
	else
		g.jobs = cc;
	g.jobs_tail = cc;
	wake = !wake_follower() && g.leader && !g.leader_woken;
	g.leader_woken |= wake;
	pthread_mutex_unlock(&g.mu);
	if (wake)
		reactor_event_wake();
}

/* Under g.mu: wake a thread waiting on cv that no wake-up is on its way to yet. */
static bool wake_follower(void)
{
	if (g.followers <= g.signalled)
		return false;
	g.signalled++;
	pthread_cond_signal(&g.cv);
	return true;
}

/*
 * Connections coming back from the pool: count the request (here, so that
 * the worker's count and stop state are only the loop thread's), then serve
 * the next one, or free.
 */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
	/* The count first: what comes back finds the stop begun at --max-requests. */
	g.w->requests = atomic_load_explicit(&g.requests, memory_order_relaxed);
	connset_counted();
	/* Lent outputs first: a connection coming back was lent before. */
	if (atomic_exchange(&g.lends, false))
		arm_lent();
	connset_drain(g.done_fd, &g.mu, &g.done, done);
}

static void done(struct cconn *cc)
{
	/* A fresh connection a pool thread served joins the set first. */
	if (!cc->served && !reactor_event_join(cc))
		return;
	if (cc->lender)
		unarm(cc);
	if (conn_pending(&cc->c))
		flush_later(cc);
	else
		finish(cc);
}

/*
 * The rest of a response that its client is slow to take: sent from here
 * as the socket drains, --timeout at most for each wait, while the pool
 * thread serves someone else. The connection stays busy until then.
 */
static void flush_later(struct cconn *cc)
{
	struct timeval tv = {g.w->cfg->timeout > 0 ? g.w->cfg->timeout : 30, 0};

	if (event_base_once(reactor_event_base(), cc->c.fd, EV_WRITE, on_writable, cc, &tv) < 0) {
		log_error(errno, "event_base_once() for a response's rest");
		cc->closed = true;
		conn_close(&cc->c);
		finish(cc);
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct cconn *cc = arg;
	int rc = what & EV_TIMEOUT ? -1 : conn_flush(&cc->c);

	if (rc == -2) {
		flush_later(cc);
		return;
	}
	if (rc < 0) {
		cc->closed = true;
		conn_close(&cc->c); /* what is left of the response goes with it */
	}
	finish(cc);
}

/* A response has gone out whole: the next request, or close. */
static void finish(struct cconn *cc)
{
	if (cc->closed && cc->c.fd >= 0)
		conn_finish(&cc->c); /* the pool thread left it to send the rest first */
	if (cc->closed)
		connset_close(cc);
	else
		connset_resume(cc); /* a pipelined request may be buffered already */
}

/*
 * A pool thread: it serves what the loop hands over (run_job()), and while
 * it has none, it waits for it, either on cv or, one thread at a time (the
 * leader), on the listeners, where it accepts and serves a fresh
 * connection itself (serve_fresh()) after handing the lead to another idle
 * thread (leader and followers).
 */
static void *pool_main(void *arg)
{
	PyThreadState *ts = PyThreadState_New(g.interp);

	this_thread = arg;
	for (;;) {
		bool lead;
		struct cconn *cc = next_job(&lead);

		if (cc) {
			run_job(cc, ts);
			continue;
		}
		if (!lead)
			break;
		cc = reactor_event_accept(true);
		pthread_mutex_lock(&g.mu);
		g.leader = g.leader_woken = false;
		if (cc)
			wake_follower(); /* the next leader */
		pthread_mutex_unlock(&g.mu);
		/* Under load the kernel has more queued: take it without a wait
		 * while nothing else is waiting for this thread. */
		while (cc) {
			serve_fresh(cc, ts);
			cc = accept_more() ? reactor_event_accept(false) : NULL;
		}
	}
	PyEval_RestoreThread(ts);
	PyThreadState_Clear(ts);
	PyThreadState_DeleteCurrent();
	return NULL;
}

/*
 * What the calling thread does next: a job from the loop (returned), or,
 * with none, lead (*lead: wait on the listeners) if no thread does, else
 * wait on cv for a job or the lead. NULL and !*lead: the pool shuts down.
 */
static struct cconn *next_job(bool *lead)
{
	struct cconn *cc;

	pthread_mutex_lock(&g.mu);
	while (!g.jobs && !g.shutdown && g.leader) {
		g.followers++;
		pthread_cond_wait(&g.cv, &g.mu);
		g.followers--;
		if (g.signalled > 0)
			g.signalled--;
	}
	cc = g.jobs;
	if (cc) {
		g.jobs = cc->qnext;
		if (!g.jobs)
			g.jobs_tail = NULL;
		if (!g.leader)
			wake_follower(); /* to lead while this one serves */
	}
	*lead = !cc && !g.shutdown;
	if (*lead)
		g.leader = true;
	pthread_mutex_unlock(&g.mu);
	return cc;
}

/* A request the loop handed over, then back to the loop. */
static void run_job(struct cconn *cc, PyThreadState *ts)
{
	in_app(true);
	serve(cc, ts);
	in_app(false);
	hand_back(cc);
}

/*
 * A connection this thread accepted: its first request runs here from
 * accept to close, as in the sync worker, when the first read brings its
 * whole head and body. It goes to the loop when it must wait for its
 * client: for its head (a slow client holds no thread), for the rest of
 * its body, to take the rest of the response, for its next request, or to
 * linger on close; and to be refused (the loop has a pool thread answer).
 */
static void serve_fresh(struct cconn *cc, PyThreadState *ts)
{
	int rc;

	cc->c.defer_close = true; /* a close that lingers is the loop's */
	rc = conn_poll_head(&cc->c);
	if (rc == -2 && conn_idle(&cc->c)) {
		struct pollfd p = {.fd = cc->c.fd, .events = POLLIN};

		if (poll(&p, 1, FRESH_WAIT_MS) > 0)
			rc = conn_poll_head(&cc->c);
	}
	if (rc == 1 && !cc->c.body_done) {
		/* A body that came with its head is read here; the loop reads
		 * the rest of one that did not (rc 1: its head is dispatched). */
		rc = conn_poll_body(&cc->c, (size_t)g.w->cfg->request_body_buffer,
				    (uint64_t)g.w->cfg->request_body_buffer_max);
		if (rc == -2) {
			reactor_event_hand(cc, 1);
			return;
		}
	}
	if (rc != 1) {
		if (rc == 0 || (rc == -1 && !cc->c.error_status)) {
			reactor_event_drop(cc);
			return;
		}
		/* Its buffer back to this thread's spares now, before the next
		 * accept takes another: freed later by the loop, buffers of a
		 * crowd of slow heads would leave this thread's heap in holes. */
		if (rc == -2)
			conn_shrink(&cc->c);
		reactor_event_hand(cc, rc);
		return;
	}
	this_thread->lent_any = false;
	pthread_mutex_lock(&g.out_mu);
	this_thread->fresh = cc; /* for a stop to find, should it become a WebSocket */
	pthread_mutex_unlock(&g.out_mu);
	in_app(true);
	serve(cc, ts);
	in_app(false);
	pthread_mutex_lock(&g.out_mu);
	this_thread->fresh = NULL;
	pthread_mutex_unlock(&g.out_mu);
	if (cc->closed && !cc->c.linger && !conn_pending(&cc->c) && !this_thread->lent_any) {
		reactor_event_drop(cc);
	} else {
		hand_back(cc);
	}
}

/* True when the calling thread, done with a fresh connection, may accept another at once. */
static bool accept_more(void)
{
	bool more;

	pthread_mutex_lock(&g.mu);
	more = !g.jobs && !g.shutdown;
	pthread_mutex_unlock(&g.mu);
	return more;
}

/*
 * cc goes back to the loop. One wake-up per batch: the loop reads the
 * eventfd before it takes the list (connset_drain), so what joins a list
 * not taken yet is taken with it.
 */
static void hand_back(struct cconn *cc)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&g.mu);
	wake = !g.done;
	cc->qnext = g.done;
	g.done = cc;
	pthread_mutex_unlock(&g.mu);
	if (wake && write(g.done_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(errno, "write() on the pool's eventfd");
}

/*
 * One request in a pool thread; the connection goes back to the loop after.
 * Reads no worker state but connset_stopping(): the loop thread owns the rest.
 */
static void serve(struct cconn *cc, PyThreadState *ts)
{
	enum wsgi_outcome out;
	bool keep;

	cc->closed = true;
	if (cc->refuse) {
		conn_refuse(&cc->c, cc->c.error_status);
		channel_count_request(cc->c.error_status, 0);
		return;
	}
	keep = !count_request() && g.w->cfg->keepalive > 0 && !connset_stopping();
	PyEval_RestoreThread(ts);
	out = wsgi_serve(&cc->c, keep);
	PyEval_SaveThread();
	if (out == WSGI_KEEP && keep && conn_next_request(&cc->c) == 0) {
		cc->closed = false;
		return;
	}
	if (out != WSGI_CLOSED && !conn_pending(&cc->c))
		conn_finish(&cc->c); /* else the loop does, once the rest is sent */
}

/*
 * A request begins in a pool thread: count it, as Gunicorn's gthread does.
 * True once --max-requests is reached (it, or one in flight then, closes its
 * connection); the one that reaches it stops the accepting at once and wakes
 * the loop, which begins the graceful stop before it takes anything back.
 */
static bool count_request(void)
{
	uint32_t n = atomic_fetch_add_explicit(&g.requests, 1, memory_order_relaxed) + 1;
	uint64_t one = 1;

	if (!g.w->max_requests || n < g.w->max_requests)
		return false;
	if (n == g.w->max_requests) {
		reactor_event_shut();
		if (write(g.done_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_error(errno, "write() on the pool's eventfd");
	}
	return true;
}

/*
 * The calling pool thread goes into the app or out of it (nothing in
 * other threads). Only the thread writes its count: a plain store, not a
 * locked add; and a step that is already taken is not taken twice, so a
 * wait left by an exception cannot put the count out of step.
 */
static void in_app(bool in)
{
	struct pool_thread *t = this_thread;

	if (t && (t->busy & 1) != in)
		atomic_store_explicit(&t->busy, t->busy + 1, memory_order_relaxed);
}

/*
 * On the loop's tick: take the pool threads' request count; while
 * stopping, tell their WebSockets. A pool thread in the app (not waiting
 * on its client) for longer than a heartbeat interval stops the
 * heartbeats until it comes out, so that one stuck past --timeout gets
 * the worker aborted with its stack logged, while the loop thread itself
 * is well.
 */
static void watch_pool(double now)
{
	double longest = 0;
	bool stalled;

	g.w->requests = atomic_load_explicit(&g.requests, memory_order_relaxed);
	if (connset_stopping())
		say_going_away();
	for (int i = 0; i < g.nthreads; i++) {
		struct pool_thread *t = &g.threads[i];
		unsigned b = atomic_load_explicit(&t->busy, memory_order_relaxed);

		if (b != t->seen) {
			t->seen = b;
			t->since = now;
		} else if ((b & 1) && now - t->since > longest) {
			longest = now - t->since;
		}
	}
	stalled = g.w->cfg->timeout > 0 && longest * 1000 >= worker_beat_interval_ms(g.w);
	if (stalled && !g.w->stalled)
		log_debug("a pool thread is %.1f s into one request: no heartbeat until it ends",
		          longest);
	g.w->stalled = stalled;
}

/*
 * While stopping, on each tick: the WebSockets on fresh connections that
 * pool threads serve on their own (the set does not know them) say their
 * goodbye, as connset's stop has those it knows say theirs.
 */
static void say_going_away(void)
{
	for (int i = 0; i < g.nthreads; i++) {
		struct pool_thread *t = &g.threads[i];

		pthread_mutex_lock(&g.out_mu);
		if (t->fresh && t->fresh->c.upgraded)
			conn_going_away(&t->fresh->c);
		pthread_mutex_unlock(&g.out_mu);
	}
}

/*
 * Pool threads may wait on their client (a body, a slow reader), bounded by
 * c->timeout_ms, and by --request-timeout: its cancellation interrupts.
 */
static int pool_wait(struct conn *c, short events, int timeout_ms)
{
	struct pollfd p = {.fd = c->fd, .events = events};
	int rc;

	/* Waiting on a slow client is not being stuck (bounded by timeout_ms). */
	in_app(false);
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR && !reqtimeout_interrupted());
	in_app(true);
	if (rc == 0)
		errno = ETIMEDOUT;
	return rc > 0 ? 0 : -1;
}

/*
 * A pool thread lends the output of the connection it serves while the
 * app makes the next chunk (conn_io lend): the loop sends what is kept as
 * the client takes it, so that a stream's bytes do not wait for the next
 * chunk.
 */
static void lend(struct conn *c)
{
	uint64_t one = 1;

	this_thread->lent_any = true; /* the loop may arm it: it must see cc back */
	pthread_mutex_lock(&g.out_mu);
	this_thread->lent = (struct cconn *)(void *)c;
	pthread_mutex_unlock(&g.out_mu);
	atomic_store(&g.lends, true);
	if (write(g.done_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(errno, "write() on the pool's eventfd");
}

/* The pool thread takes its output back, once the loop is not sending it. */
static void reclaim(struct conn *c)
{
	pthread_mutex_lock(&g.out_mu);
	this_thread->lent = NULL;
	pthread_mutex_unlock(&g.out_mu);
}

/* In the loop: watch the sockets of the outputs lent since it last looked. */
static void arm_lent(void)
{
	for (int i = 0; i < g.nthreads; i++) {
		struct pool_thread *t = &g.threads[i];
		struct cconn *cc;

		pthread_mutex_lock(&g.out_mu);
		cc = t->lent;
		pthread_mutex_unlock(&g.out_mu);
		if (!cc)
			continue;
		if (t->armed != cc) {
			if (t->armed)
				unarm(t->armed);
			event_assign(t->out_ev, reactor_event_base(), cc->c.fd, EV_WRITE,
				     on_lent_writable, t);
			t->armed = cc;
			cc->lender = t;
		}
		send_lent(t);
	}
}

static void on_lent_writable(evutil_socket_t fd, short what, void *arg)
{
	send_lent(arg);
}

/* Send what t's connection keeps while it is lent; wait for the socket if more is left. */
static void send_lent(struct pool_thread *t)
{
	int rc = 0;

	pthread_mutex_lock(&g.out_mu);
	if (t->lent == t->armed)
		rc = conn_flush(&t->armed->c);
	pthread_mutex_unlock(&g.out_mu);
	if (rc == -2 && event_add(t->out_ev, NULL) < 0)
		log_error(errno, "event_add() for a lent response");
}

/* In the loop: cc's socket is no longer watched for its pool thread. */
static void unarm(struct cconn *cc)
{
	struct pool_thread *t = cc->lender;

	event_del(t->out_ev);
	t->armed = NULL;
	cc->lender = NULL;
}
