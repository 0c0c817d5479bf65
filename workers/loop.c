/* loop — see loop.h. */
#include "workers/loop.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/worker.h"

#define TICK_MS 100     /* how often the loop looks at stop flags and heartbeats */

/*
 * Accepting happens in a thread of its own that waits on its own epoll set,
 * where the shared listeners carry EPOLLEXCLUSIVE: a new connection wakes
 * one worker, not all of them (Debian's libevent 2.1 cannot ask for that,
 * and an epoll set nested in libevent's would not honour it). The thread
 * never touches Python or the loop: it queues accepted connections and
 * wakes the loop through an eventfd.
 */
static struct {
	pthread_t thread;
	bool started;
	int set;                /* its epoll set: the listeners, and ctl_fd */
	int ctl_fd;             /* eventfd: the loop asks it to look at room/quit */
	int ready_fd;           /* eventfd: it tells the loop connections are queued */
	struct event *ready_ev;
	pthread_mutex_t mu;
	struct lconn *queue;    /* accepted, not yet taken by the loop (under mu) */
	size_t room;            /* connections it may still accept (under mu) */
	bool paused;            /* it saw room 0 and left the listeners (under mu) */
	bool quit;              /* under mu */
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .set = -1, .ctl_fd = -1, .ready_fd = -1};

static struct {
	struct worker *w;
	const struct loop_ops *ops;
	struct event_base *base;
	struct event *tick_ev, *channel_ev;
	struct lconn *all;
	size_t nconns, busy;
	size_t fresh;           /* accepted, first request not dispatched yet */
	bool stopping;
	double deadline;
	struct conn_policy policy;
	struct wait_list idle;  /* between requests: --keep-alive */
	struct wait_list head;  /* in the middle of a head: --timeout */
} L;

static void on_accepted(evutil_socket_t fd, short what, void *arg);
static void *acceptor_main(void *arg);
static int acceptor_start(void);
static void acceptor_room(size_t room, bool add);
static bool acceptor_drained(void);
static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_tick(evutil_socket_t fd, short what, void *arg);
static void on_channel(evutil_socket_t fd, short what, void *arg);
static void dispatch(struct lconn *lc, bool refuse);
static void unbusy(struct lconn *lc);
static void begin_stop(void);
static void wait_in(struct lconn *lc, struct wait_list *wl);
static void unwatch(struct lconn *lc);
static void expire(struct wait_list *wl, double now);

int loop_init(struct worker *w, const struct loop_ops *ops)
{
	const struct config *cfg = w->cfg;
	struct timeval tick = {0, TICK_MS * 1000};
	char err[256];

	L.w = w;
	L.ops = ops;
	L.idle.span = cfg->keepalive > 0 ? cfg->keepalive : 1;
	L.head.span = cfg->timeout > 0 ? cfg->timeout : 30;
	if (conn_policy_init(&L.policy, cfg, true, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		return -1;
	}
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
	event_add(L.channel_ev, NULL);
	event_add(L.tick_ev, &tick);
	return acceptor_start();
}

struct event_base *loop_base(void)
{
	return L.base;
}

size_t loop_run(void)
{
	if (!L.ops->before_wait) {
		event_base_dispatch(L.base);
		return L.busy;
	}
	do
		L.ops->before_wait();
	while (event_base_loop(L.base, EVLOOP_ONCE) == 0 && !event_base_got_break(L.base));
	return L.busy;
}

bool loop_stopping(void)
{
	return __atomic_load_n(&L.stopping, __ATOMIC_RELAXED);
}

void loop_resume(struct lconn *lc)
{
	unbusy(lc);
	if (L.stopping && lc->served) {
		loop_close(lc);
		return;
	}
	switch (conn_poll_head(&lc->c)) {
	case 1:
		dispatch(lc, false);
		break;
	case -2:
		loop_park(lc);
		break;
	case -1:
		if (lc->c.error_status) {
			dispatch(lc, true); /* the answer and lingering close may wait */
			break;
		}
		/* fall through */
	default:
		loop_close(lc);
		break;
	}
}

void loop_park(struct lconn *lc)
{
	unbusy(lc);
	if (L.stopping && lc->served) {
		loop_close(lc);
		return;
	}
	conn_shrink(&lc->c);
	/* Idle between requests: --keep-alive; a head in progress: --timeout. */
	wait_in(lc, conn_idle(&lc->c) ? &L.idle : &L.head);
}

void loop_forget(struct conn *c)
{
	unwatch((struct lconn *)((char *)c - offsetof(struct lconn, c)));
}

void loop_close(struct lconn *lc)
{
	unbusy(lc);
	waitlist_remove(&lc->wait);
	if (!lc->served)
		L.fresh--;
	if (lc->prev)
		lc->prev->next = lc->next;
	else
		L.all = lc->next;
	if (lc->next)
		lc->next->prev = lc->prev;
	unwatch(lc); /* before the event goes: conn_close() may call loop_forget() */
	event_free(lc->ev);
	lc->c.defer_close = false; /* a close in another thread left the descriptor to us */
	conn_close(&lc->c);
	free(lc);
	L.nconns--;
	if (!L.stopping)
		acceptor_room(1, true);
}

struct lconn *loop_take(int efd, pthread_mutex_t *mu, struct lconn **head)
{
	struct lconn *list;
	uint64_t v;

	if (read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_error(errno, "read() on an eventfd of the loop");
	pthread_mutex_lock(mu);
	list = *head;
	*head = NULL;
	pthread_mutex_unlock(mu);
	return list;
}

void loop_free(void)
{
	uint64_t one = 1;

	/* Closing connections below gives the acceptor no room. */
	__atomic_store_n(&L.stopping, true, __ATOMIC_RELAXED);
	pthread_mutex_lock(&A.mu);
	A.quit = true;
	pthread_mutex_unlock(&A.mu);
	if (A.started && write(A.ctl_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(A.thread, NULL);
	while (A.queue) {
		struct lconn *lc = A.queue;
		A.queue = lc->qnext;
		conn_close(&lc->c);
		free(lc);
	}
	event_free(A.ready_ev);
	close(A.set);
	close(A.ctl_fd);
	close(A.ready_fd);
	while (L.all)
		loop_close(L.all);
	event_free(L.tick_ev);
	event_free(L.channel_ev);
	event_base_free(L.base);
	conn_policy_free(&L.policy);
	memset(&L, 0, sizeof(L));
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
	event_add(A.ready_ev, NULL);
	e = pthread_create(&A.thread, NULL, acceptor_main, NULL);
	if (e) {
		log_error(e, "pthread_create() for the acceptor");
		return -1;
	}
	A.started = true;
	return 0;
}

/*
 * Give the acceptor `room` more connections (add), or set its room (!add).
 * It is woken when it may have left the listeners (room was 0) or must.
 */
static void acceptor_room(size_t room, bool add)
{
	uint64_t one = 1;
	bool wake;

	pthread_mutex_lock(&A.mu);
	wake = !add || A.room == 0;
	A.room = add ? A.room + room : room;
	pthread_mutex_unlock(&A.mu);
	if (wake && write(A.ctl_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(errno, "waking the acceptor");
}

/*
 * During a stop: true once the acceptor has left the listeners and the loop
 * has taken everything it accepted, so no connection is left unanswered.
 */
static bool acceptor_drained(void)
{
	bool drained;

	pthread_mutex_lock(&A.mu);
	drained = A.paused && !A.queue;
	pthread_mutex_unlock(&A.mu);
	return drained;
}

static void *acceptor_main(void *arg)
{
	const struct worker *w = L.w;
	bool listening = false;

	for (;;) {
		struct epoll_event ev[8];
		size_t room;
		bool quit, accepted = false;
		int n;

		pthread_mutex_lock(&A.mu);
		room = A.room;
		quit = A.quit;
		pthread_mutex_unlock(&A.mu);
		if (quit)
			break;
		/* Out of room (the connection cap, or stopping): stop being a
		 * waiter on the listeners, so the kernel wakes another worker. */
		if ((room > 0) != listening) {
			for (size_t i = 0; i < w->nlisteners; i++) {
				struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = i};
				if (epoll_ctl(A.set, listening ? EPOLL_CTL_DEL : EPOLL_CTL_ADD,
					      w->listeners[i].fd, &e) < 0)
					log_error(errno, "epoll_ctl() on %s", w->listeners[i].name);
			}
			listening = !listening;
		}
		pthread_mutex_lock(&A.mu);
		A.paused = !listening && A.room == 0;
		pthread_mutex_unlock(&A.mu);
		n = epoll_wait(A.set, ev, 8, -1);
		for (int k = 0; k < n; k++) {
			uint64_t v;

			if (ev[k].data.u64 == UINT64_MAX) {
				if (read(A.ctl_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_error(errno, "read() on the acceptor's eventfd");
				continue;
			}
			for (int i = 0; i < WORKER_ACCEPT_BATCH && room > 0; i++) {
				struct lconn *lc = xcalloc(1, sizeof(*lc));

				if (conn_accept(&lc->c, &w->listeners[ev[k].data.u64], L.ops->io,
						&L.policy) <= 0) {
					free(lc);
					break;
				}
				pthread_mutex_lock(&A.mu);
				lc->qnext = A.queue;
				A.queue = lc;
				room = A.room = A.room > 0 ? A.room - 1 : 0;
				pthread_mutex_unlock(&A.mu);
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

/* In the loop: take what the acceptor queued and read their first heads. */
static void on_accepted(evutil_socket_t fd, short what, void *arg)
{
	struct lconn *list = loop_take(A.ready_fd, &A.mu, &A.queue);

	while (list) {
		struct lconn *lc = list;

		list = lc->qnext;
		/* Persistent: a connection stays in the epoll set from accept to
		 * close, so a request costs no epoll_ctl(). */
		lc->ev = event_new(L.base, lc->c.fd, EV_READ | EV_PERSIST, on_readable, lc);
		lc->c.defer_close = L.ops->foreign;
		lc->next = L.all;
		if (L.all)
			L.all->prev = lc;
		L.all = lc;
		L.fresh++;
		L.nconns++;
		lc->busy = true; /* so loop_resume() counts it right */
		L.busy++;
		loop_resume(lc);
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct lconn *lc = arg;

	if (lc->busy) {
		/* Bytes while the dispatcher has the connection: they are its
		 * to read. Stop watching until the connection comes back. */
		unwatch(lc);
		return;
	}
	waitlist_remove(&lc->wait);
	lc->busy = true;
	L.busy++;
	loop_resume(lc);
}

static void dispatch(struct lconn *lc, bool refuse)
{
	if (!lc->served) {
		lc->served = true;
		L.fresh--;
	}
	lc->busy = true;
	L.busy++;
	lc->refuse = refuse;
	L.ops->dispatch(lc);
}

static void unbusy(struct lconn *lc)
{
	if (lc->busy) {
		lc->busy = false;
		L.busy--;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	double now;

	if (!worker_heartbeat(L.w)) {
		log_info("the arbiter is gone: stopping");
		event_base_loopbreak(L.base);
		return;
	}
	if (!L.stopping && worker_stopping(L.w))
		begin_stop();
	now = worker_now();
	expire(&L.idle, now); /* idle too long */
	expire(&L.head, now); /* too slow with a head */
	if (L.ops->tick)
		L.ops->tick(now);
	if (L.stopping && ((L.busy == 0 && L.fresh == 0 && acceptor_drained()) ||
			   now > L.deadline))
		event_base_loopbreak(L.base);
}

static void on_channel(evutil_socket_t fd, short what, void *arg)
{
	char b;
	ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		log_info("the arbiter is gone: stopping");
		event_base_loopbreak(L.base);
	}
}

/*
 * Graceful stop: accept nothing more, let requests finish, close connections
 * idle between requests. A connection accepted but not yet asked anything
 * gets --keep-alive seconds to send its request, which is then answered
 * with Connection: close: the client connected to us, not to our successor.
 */
static void begin_stop(void)
{
	struct lconn *lc = L.all;

	__atomic_store_n(&L.stopping, true, __ATOMIC_RELAXED); /* pool threads read it */
	L.deadline = worker_now() + L.w->cfg->graceful_timeout;
	acceptor_room(0, false);
	while (lc) {
		struct lconn *next = lc->next;
		if (!lc->busy && lc->served && conn_idle(&lc->c))
			loop_close(lc);
		else if (!lc->busy && !lc->served && conn_idle(&lc->c))
			wait_in(lc, &L.idle);
		lc = next;
	}
}

/* Wait for lc's bytes (again) from now on: closed if none come within wl's span. */
static void wait_in(struct lconn *lc, struct wait_list *wl)
{
	if (!lc->watching) {
		event_add(lc->ev, NULL);
		lc->watching = true;
	}
	waitlist_add(wl, &lc->wait, worker_now());
}

/* Stop watching lc's socket (wait_in() watches it again). */
static void unwatch(struct lconn *lc)
{
	if (lc->watching) {
		event_del(lc->ev);
		lc->watching = false;
	}
}

/* Close the connections of wl whose wait is over. */
static void expire(struct wait_list *wl, double now)
{
	struct wait_node *n;

	while ((n = waitlist_expired(wl, now)))
		loop_close(waitlist_entry(n, struct lconn, wait));
}
