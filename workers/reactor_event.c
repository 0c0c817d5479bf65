/* reactor_event — the libevent reactor; see reactor.h. */
#include "workers/reactor.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "workers/connset.h"
#include "workers/policy.h"
#include "workers/worker.h"

/*
 * A connection with its event: readable, persistent, ignored while busy;
 * and, made when TLS first needs it, a one-shot writable event.
 */
struct econn {
	struct cconn cc; /* first member */
	struct event *ev, *wev;
	bool handed; /* from the pool (reactor_event_hand()), with head_rc */
	int head_rc;
};

/*
 * Accepting happens in a thread of its own that waits on its own epoll set,
 * where the shared listeners carry EPOLLEXCLUSIVE: a new connection wakes
 * one worker, not all of them (Debian's libevent 2.1 cannot ask for that,
 * and an epoll set nested in libevent's would not honour it). The thread
 * never touches Python or the loop: it queues accepted connections and
 * wakes the loop through an eventfd. With reactor_event_pool(), there is no
 * such thread: the worker type's idle threads wait on the same set, one at
 * a time, and accept for themselves.
 */
static struct {
	pthread_t thread;
	bool started;
	int set;                /* its epoll set: the listeners, and ctl_fd */
	int ctl_fd;             /* eventfd: the loop asks it to look at room/quit */
	int ready_fd;           /* eventfd: it tells the loop connections are queued */
	struct event *ready_ev;
	pthread_mutex_t mu;
	struct cconn *queue;    /* accepted, not yet taken by the loop (under mu) */
	size_t room;            /* connections it may still accept (under mu) */
	bool paused;            /* it saw room 0 and left the listeners (under mu) */
	bool listening;         /* the listeners are in the set (the waiting thread's) */
	double resume;          /* out of descriptors: accept nothing until then (under mu) */
	bool pool;              /* reactor_event_pool(): no accept thread */
	size_t inflight;        /* accepted by the pool, not yet the loop's (under mu) */
	size_t next;            /* the listener a pool thread tries first (under mu) */
	bool quit;              /* under mu */
	bool shut;              /* reactor_event_shut(): the room stays 0 (under mu) */
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .set = -1, .ctl_fd = -1, .ready_fd = -1};

static struct {
	const struct worker *w;
	const struct connset_ops *ops;
	const struct conn_policy *policy;
	struct event_base *base;
	struct event *tick_ev, *channel_ev;
} L;

static int ev_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p);
static void ev_run(void);
static void ev_stop(void);
static int ev_watch(struct cconn *cc);
static int ev_watch_write(struct cconn *cc);
static void ev_unwatch(struct cconn *cc);
static void ev_release(struct cconn *cc);
static void ev_room(size_t room, bool add);
static bool ev_drained(void);
static void ev_free(void);
static int acceptor_start(void);
static void *acceptor_main(void *arg);
static bool want_listeners(int *timeout);
static void listen_or_not(bool want);
static struct econn *take_one(size_t i, int *rc);
static struct cconn *taken(struct econn *ec);
static size_t queue_accepted(struct econn *ec);
static void on_accepted(evutil_socket_t fd, short what, void *arg);
static void accepted(struct cconn *cc);
static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_tick(evutil_socket_t fd, short what, void *arg);
static void on_channel(evutil_socket_t fd, short what, void *arg);

const struct reactor reactor_event = {
	.init = ev_init,
	.run = ev_run,
	.stop = ev_stop,
	.watch = ev_watch,
	.watch_write = ev_watch_write,
	.unwatch = ev_unwatch,
	.release = ev_release,
	.room = ev_room,
	.drained = ev_drained,
	.free = ev_free,
};

struct event_base *reactor_event_base(void)
{
	return L.base;
}

static int ev_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p)
{
	struct timeval tick = {0, REACTOR_TICK_MS * 1000};

	L.w = w;
	L.ops = ops;
	L.policy = p;
	/* With the changelist, events removed and re-added within one turn of
	 * the loop cost no epoll_ctl().
	 * Precise timers: libevent's default clock is CLOCK_MONOTONIC_COARSE,
	 * one tick a jiffy (4 ms here), so a greenlet's kirin.sleep(0.1) ended
	 * up to 4 ms early or late, and sleeps ending in the same tick woke
	 * together, keeping a thousand sleepers in lock-step (scenario d). The
	 * price is a timerfd_settime() per loop turn, not per request. */
	struct event_config *ec = event_config_new();
	if (ec)
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST |
		                              EVENT_BASE_FLAG_PRECISE_TIMER);
	L.base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	if (!L.base) {
		log_critical("cannot create the event loop");
		return -1;
	}
	L.channel_ev = event_new(L.base, w->channel_fd, EV_READ | EV_PERSIST, on_channel, NULL);
	L.tick_ev = event_new(L.base, -1, EV_PERSIST, on_tick, NULL);
	if (!L.channel_ev || !L.tick_ev || event_add(L.channel_ev, NULL) < 0 ||
	    event_add(L.tick_ev, &tick) < 0) {
		log_critical("cannot set up the event loop's events");
		return -1;
	}
	return acceptor_start();
}

static void ev_run(void)
{
	if (!L.ops->before_wait) {
		event_base_dispatch(L.base);
		return;
	}
	do
		L.ops->before_wait();
	while (event_base_loop(L.base, EVLOOP_ONCE) == 0 && !event_base_got_break(L.base));
}

static void ev_stop(void)
{
	event_base_loopbreak(L.base);
}

void reactor_event_pool(void)
{
	A.pool = true;
}

struct cconn *reactor_event_accept(bool wait)
{
	struct epoll_event ev;
	struct econn *ec = NULL;
	int rc, timeout = -1;
	bool want = want_listeners(&timeout);

	if (!wait) {
		for (size_t k = 0; want && k < L.w->nlisteners && !ec; k++) {
			size_t i;

			pthread_mutex_lock(&A.mu);
			i = A.next;
			A.next = (i + 1) % L.w->nlisteners;
			pthread_mutex_unlock(&A.mu);
			ec = take_one(i, &rc);
			want = rc == 0;
		}
		return ec ? taken(ec) : NULL;
	}
	listen_or_not(want);
	if (epoll_wait(A.set, &ev, 1, timeout) != 1)
		return NULL;
	if (ev.data.u64 == UINT64_MAX) {
		uint64_t v;

		if (read(A.ctl_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_error(errno, "read() on the acceptor's eventfd");
		return NULL;
	}
	/* Room may have gone to another pool thread since: look again. */
	if (!want_listeners(&timeout))
		return NULL;
	ec = take_one(ev.data.u64, &rc);
	return ec ? taken(ec) : NULL;
}

void reactor_event_wake(void)
{
	uint64_t one = 1;

	if (write(A.ctl_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(errno, "waking the acceptor");
}

void reactor_event_hand(struct cconn *cc, int head_rc)
{
	struct econn *ec = (struct econn *)(void *)cc;
	uint64_t one = 1;

	ec->handed = true;
	ec->head_rc = head_rc;
	pthread_mutex_lock(&A.mu);
	ec->cc.qnext = A.queue;
	A.queue = &ec->cc;
	A.inflight--;
	pthread_mutex_unlock(&A.mu);
	if (write(A.ready_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(errno, "write() on the loop's eventfd");
}

void reactor_event_drop(struct cconn *cc)
{
	bool wake = false;

	cc->c.defer_close = false;
	conn_close(&cc->c);
	free(cc);
	pthread_mutex_lock(&A.mu);
	A.inflight--;
	if (!connset_stopping() && !A.shut) {
		wake = A.room == 0;
		A.room++;
	}
	pthread_mutex_unlock(&A.mu);
	if (wake)
		reactor_event_wake();
}

void reactor_event_shut(void)
{
	pthread_mutex_lock(&A.mu);
	A.shut = true;
	pthread_mutex_unlock(&A.mu);
	ev_room(0, false);
}

bool reactor_event_join(struct cconn *cc)
{
	struct econn *ec = (struct econn *)(void *)cc;

	pthread_mutex_lock(&A.mu);
	A.inflight--;
	pthread_mutex_unlock(&A.mu);
	ec->ev = event_new(L.base, cc->c.fd, EV_READ | EV_PERSIST, on_readable, cc);
	if (!ec->ev) {
		log_error(ENOMEM, "event_new() for a connection");
		cc->c.defer_close = false;
		conn_close(&cc->c);
		ev_release(cc);
		if (!connset_stopping())
			ev_room(1, true);
		return false;
	}
	connset_adopt(cc);
	return true;
}

size_t reactor_event_inflight(void)
{
	size_t n;

	pthread_mutex_lock(&A.mu);
	n = A.inflight;
	pthread_mutex_unlock(&A.mu);
	return n;
}

/*
 * For the one thread that waits on the set: whether the listeners should
 * be in it (room, not quitting, not backing off), and how long to wait
 * (*timeout, ms, left as it is when there is no back-off).
 */
static bool want_listeners(int *timeout)
{
	bool want;

	pthread_mutex_lock(&A.mu);
	want = A.room > 0 && !A.quit;
	if (A.resume > 0) {
		double left = A.resume - monotime_now();

		if (left > 0) {
			want = false;
			*timeout = (int)(left * 1000) + 1;
		} else {
			A.resume = 0;
		}
	}
	pthread_mutex_unlock(&A.mu);
	return want;
}

/*
 * The waiting thread: out of room (the connection cap, or stopping) or
 * backing off, stop being a waiter on the listeners, so the kernel wakes
 * another worker; back in once that is over.
 */
static void listen_or_not(bool want)
{
	const struct worker *w = L.w;

	if (want != A.listening) {
		for (size_t i = 0; i < w->nlisteners; i++) {
			struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = i};
			if (epoll_ctl(A.set, A.listening ? EPOLL_CTL_DEL : EPOLL_CTL_ADD,
				      w->listeners[i].fd, &e) < 0)
				log_error(errno, "epoll_ctl() on %s", w->listeners[i].name);
		}
		A.listening = want;
	}
	pthread_mutex_lock(&A.mu);
	A.paused = !A.listening && A.room == 0;
	pthread_mutex_unlock(&A.mu);
}

/*
 * Accept one connection on listener i: it, or NULL with *rc as
 * policy_accept() said (0: none waiting; -2: out of descriptors, and
 * nothing is accepted for POLICY_ACCEPT_BACKOFF).
 */
static struct econn *take_one(size_t i, int *rc)
{
	struct econn *ec = xcalloc(1, sizeof(*ec));

	*rc = policy_accept(&ec->cc.c, &L.w->listeners[i], L.ops->io, L.policy);
	if (*rc == 1)
		return ec;
	free(ec);
	if (*rc == -2) {
		pthread_mutex_lock(&A.mu);
		A.resume = monotime_now() + POLICY_ACCEPT_BACKOFF;
		pthread_mutex_unlock(&A.mu);
	}
	return NULL;
}

/* ec, accepted by a pool thread, takes room, and is that thread's. */
static struct cconn *taken(struct econn *ec)
{
	pthread_mutex_lock(&A.mu);
	A.room = A.room > 0 ? A.room - 1 : 0;
	A.inflight++;
	pthread_mutex_unlock(&A.mu);
	return &ec->cc;
}

/* In the accept thread: queue ec, just accepted, for the loop. Returns the room left. */
static size_t queue_accepted(struct econn *ec)
{
	size_t room;

	pthread_mutex_lock(&A.mu);
	ec->cc.qnext = A.queue;
	A.queue = &ec->cc;
	room = A.room = A.room > 0 ? A.room - 1 : 0;
	pthread_mutex_unlock(&A.mu);
	return room;
}

static int ev_watch(struct cconn *cc)
{
	if (event_add(((struct econn *)(void *)cc)->ev, NULL) < 0) {
		log_error(errno, "watching a connection");
		return -1;
	}
	return 0;
}

static int ev_watch_write(struct cconn *cc)
{
	struct econn *ec = (struct econn *)(void *)cc;

	if (!ec->wev)
		ec->wev = event_new(L.base, cc->c.fd, EV_WRITE, on_readable, cc);
	if (!ec->wev || event_add(ec->wev, NULL) < 0) {
		log_error(errno ? errno : ENOMEM, "watching a connection for writing");
		return -1;
	}
	return 0;
}

static void ev_unwatch(struct cconn *cc)
{
	struct econn *ec = (struct econn *)(void *)cc;

	event_del(ec->ev);
	if (ec->wev)
		event_del(ec->wev);
}

static void ev_release(struct cconn *cc)
{
	struct econn *ec = (struct econn *)(void *)cc;

	if (ec->ev)
		event_free(ec->ev);
	if (ec->wev)
		event_free(ec->wev);
	free(ec);
}

/*
 * Give the acceptor `room` more connections (add), or set its room (!add).
 * It is woken when it may have left the listeners (room was 0) or must.
 */
static void ev_room(size_t room, bool add)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&A.mu);
	wake = !add || A.room == 0;
	A.room = A.shut ? 0 : add ? A.room + room : room;
	pthread_mutex_unlock(&A.mu);
	if (wake && write(A.ctl_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(errno, "waking the acceptor");
}

/*
 * During a stop: true once the acceptor (or the pool) has left the
 * listeners and the loop has taken everything accepted, so no connection
 * is left unanswered.
 */
static bool ev_drained(void)
{
	bool drained;

	pthread_mutex_lock(&A.mu);
	drained = A.paused && !A.queue && A.inflight == 0;
	pthread_mutex_unlock(&A.mu);
	return drained;
}

static void ev_free(void)
{
	uint64_t one = 1;

	pthread_mutex_lock(&A.mu);
	A.quit = true;
	pthread_mutex_unlock(&A.mu);
	if (A.started && write(A.ctl_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(A.thread, NULL);
	while (A.queue) {
		struct cconn *cc = A.queue;

		A.queue = cc->qnext;
		cc->c.defer_close = false; /* set on one a pool thread handed over */
		conn_close(&cc->c);
		ev_release(cc);
	}
	if (A.ready_ev)
		event_free(A.ready_ev);
	close(A.set);
	close(A.ctl_fd);
	close(A.ready_fd);
	if (L.tick_ev)
		event_free(L.tick_ev);
	if (L.channel_ev)
		event_free(L.channel_ev);
	event_base_free(L.base);
	L.base = NULL;
	L.tick_ev = L.channel_ev = A.ready_ev = NULL;
}

static int acceptor_start(void)
{
	struct epoll_event ctl = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	int e;

	A.room = (size_t)L.w->cfg->worker_connections;
	A.set = epoll_create1(EPOLL_CLOEXEC);
	A.ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	A.ready_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (A.set < 0 || A.ctl_fd < 0 || A.ready_fd < 0 ||
	    epoll_ctl(A.set, EPOLL_CTL_ADD, A.ctl_fd, &ctl) < 0) {
		log_error(errno, "setting up the acceptor");
		return -1;
	}
	A.ready_ev = event_new(L.base, A.ready_fd, EV_READ | EV_PERSIST, on_accepted, NULL);
	if (!A.ready_ev || event_add(A.ready_ev, NULL) < 0) {
		log_critical("cannot watch the acceptor's eventfd");
		return -1;
	}
	if (A.pool)
		return 0; /* the pool's threads accept */
	e = pthread_create(&A.thread, NULL, acceptor_main, NULL);
	if (e) {
		log_error(e, "pthread_create() for the acceptor");
		return -1;
	}
	A.started = true;
	return 0;
}

static void *acceptor_main(void *arg)
{
	for (;;) {
		struct epoll_event ev[8];
		bool quit, accepted = false;
		int n, timeout = -1;

		pthread_mutex_lock(&A.mu);
		quit = A.quit;
		pthread_mutex_unlock(&A.mu);
		if (quit)
			break;
		listen_or_not(want_listeners(&timeout));
		n = epoll_wait(A.set, ev, 8, timeout);
		for (int k = 0; k < n; k++) {
			uint64_t v;
			bool more = want_listeners(&timeout);

			if (ev[k].data.u64 == UINT64_MAX) {
				if (read(A.ctl_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_error(errno, "read() on the acceptor's eventfd");
				continue;
			}
			for (int i = 0; i < WORKER_ACCEPT_BATCH && more; i++) {
				int rc;
				struct econn *ec = take_one(ev[k].data.u64, &rc);

				if (!ec)
					break;
				more = queue_accepted(ec) > 0;
				accepted = true;
			}
		}
		if (accepted) {
			uint64_t one = 1;
			if (write(A.ready_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				log_error(errno, "write() on the loop's eventfd");
		}
	}
	return NULL;
}

/*
 * In the loop: take what the acceptor (or a pool thread) queued, and read
 * (or settle) their first heads.
 */
static void on_accepted(evutil_socket_t fd, short what, void *arg)
{
	connset_drain(A.ready_fd, &A.mu, &A.queue, accepted);
}

static void accepted(struct cconn *cc)
{
	struct econn *ec = (struct econn *)(void *)cc;

	if (ec->handed)
		cc->c.defer_close = false; /* the pool thread's; the set sets it again */

	/* Persistent: a connection stays in the epoll set from accept to
	 * close, so a request costs no epoll_ctl(). */
	ec->ev = event_new(L.base, cc->c.fd, EV_READ | EV_PERSIST, on_readable, cc);
	if (!ec->ev) {
		log_error(ENOMEM, "event_new() for a connection");
		conn_close(&cc->c);
		ev_release(cc);
		if (!connset_stopping())
			ev_room(1, true);
		return;
	}
	if (ec->handed)
		connset_join(cc, ec->head_rc);
	else
		connset_accepted(cc);
}

/* cc's socket is readable, or writable as TLS asked (ev_watch_write). */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct econn *ec = arg;

	if (ec->wev)
		event_del(ec->wev); /* one shot, whichever came first */
	connset_readable(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	connset_tick();
}

static void on_channel(evutil_socket_t fd, short what, void *arg)
{
	connset_channel();
}
