/* sync — see sync.h. */
#include "workers/sync.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "workers/channel.h"
#include "workers/connset.h"
#include "workers/http/conn.h"
#include "workers/policy.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/wsgi.h"
#include "workers/waitlist.h"
#include "workers/worker.h"

/* A socket in a lingering close (conn.h), in the worker's epoll set. */
struct lingerer {
	int fd;
	struct wait_node wait;
};

static int wait_fd(struct conn *c, short events, int timeout_ms);
static int wait_slices(struct conn *c, short events, int timeout_ms);
static int serve_one(struct worker *w, const struct listener *l);
static int listen_on(bool on);
static void finish(struct conn *c);
static int linger_add(int fd);
static void linger_readable(size_t slot);
static void linger_end(struct lingerer *lg);
static int wait_ms(void);

static struct worker *self;
static const struct conn_io sync_io = {.wait = wait_fd};
static struct conn_policy policy;

/*
 * The worker's epoll set holds the listeners (events carry their index),
 * the channel (n, the number of listeners), and the sockets that linger
 * (answered, writing shut down, the client may still send; events carry
 * slot + S.base): those are served between requests, so the next client
 * never waits for them.
 */
static struct {
	int set;
	double resume;                       /* out of descriptors: listeners left until then */
	uint64_t base;                       /* epoll data of lingering slot 0 */
	struct lingerer slot[CONN_LINGER_MAX];
	size_t free[CONN_LINGER_MAX], nfree; /* free lingering slots */
	struct wait_list list;               /* lingering, by deadline */
} S;

int sync_run(struct worker *w, PyObject *app)
{
	size_t n = w->nlisteners;
	struct epoll_event ev[8];
	PyThreadState *ts;
	char err[256];
	int set;

	self = w;
	if (wsgi_init(app, false, w->cfg->workers > 1, false) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	if (policy_from_config(&policy, w->cfg, false, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		return WORKER_EXIT_BOOT_ERROR;
	}
	/*
	 * Our own epoll set, waited on directly: with EPOLLEXCLUSIVE on the
	 * shared listeners a new connection wakes one idle worker, not every
	 * worker (a herd that costs each of them a wake-up and a failed
	 * accept). A busy worker is not waiting, so the kernel passes it by.
	 */
	set = epoll_create1(EPOLL_CLOEXEC);
	if (set < 0) {
		log_error(errno, "epoll_create1()");
		return WORKER_EXIT_BOOT_ERROR;
	}
	S.set = set;
	S.base = n + 1;
	S.list.span = CONN_LINGER_SECONDS;
	for (S.nfree = 0; S.nfree < CONN_LINGER_MAX; S.nfree++)
		S.free[S.nfree] = CONN_LINGER_MAX - 1 - S.nfree;
	struct epoll_event ce = {.events = EPOLLIN, .data.u64 = n};
	if (epoll_ctl(set, EPOLL_CTL_ADD, w->channel_fd, &ce) < 0) {
		log_error(errno, "epoll_ctl() on the channel");
		close(set);
		return WORKER_EXIT_BOOT_ERROR;
	}
	if (listen_on(true) < 0) { /* logged */
		close(set);
		return WORKER_EXIT_BOOT_ERROR;
	}

	/* The GIL is let go while the worker waits (the app's threads run),
	 * and kept while it serves what one wake-up brought. */
	while (!worker_stopping(w) && worker_heartbeat(w)) {
		int rc;

		ts = PyEval_SaveThread();
		rc = epoll_wait(set, ev, 8, wait_ms());
		PyEval_RestoreThread(ts);
		if (rc < 0 && errno != EINTR) {
			log_error(errno, "epoll_wait()");
			break;
		}
		for (int k = 0; k < rc && !worker_stopping(w); k++) {
			if (ev[k].data.u64 >= S.base) {
				linger_readable(ev[k].data.u64 - S.base);
				continue;
			}
			if (ev[k].data.u64 == n) {
				if (connset_arbiter_gone(w->channel_fd))
					goto out;
				continue;
			}
			const struct listener *l = &w->listeners[ev[k].data.u64];
			for (int i = 0; i < WORKER_ACCEPT_BATCH && !worker_stopping(w); i++) {
				int served = serve_one(w, l);

				if (served == -2 && S.resume == 0 && listen_on(false) == 0)
					S.resume = monotime_now() + POLICY_ACCEPT_BACKOFF;
				if (served <= 0)
					break;
				if (!worker_heartbeat(w))
					goto out;
			}
		}
		if (S.resume > 0 && monotime_now() >= S.resume && listen_on(true) == 0)
			S.resume = 0;
		if (S.list.head) {
			struct wait_node *wn;
			double now = monotime_now();

			while ((wn = waitlist_expired(&S.list, now)))
				linger_end(waitlist_entry(wn, struct lingerer, wait));
		}
	}
out:
	conn_policy_free(&policy);
	close(set);
	return WORKER_EXIT_OK;
}

/*
 * Accept one connection and serve its one request, with the GIL (waits on
 * the client let it go). Returns 1, 0 when none was waiting, -1 on an
 * error, -2 when out of descriptors (policy_accept()).
 */
static int serve_one(struct worker *w, const struct listener *l)
{
	struct conn c = {0};
	int rc = policy_accept(&c, l, &sync_io, &policy);

	if (rc <= 0)
		return rc;
	c.defer_close = true; /* finish() decides whether the close lingers */
	channel_connections(1, 0);
	rc = conn_read_head(&c);
	if (rc <= 0) {
		if (rc < 0 && c.error_status) {
			conn_refuse(&c, c.error_status);
			channel_count_request(c.error_status, 0);
		}
	} else if (wsgi_serve(&c, false) != WSGI_CLOSED) {
		conn_finish(&c);
	}
	if (rc > 0)
		w->requests++;
	finish(&c);
	channel_connections(0, 0);
	return 1;
}

/*
 * Be a waiter on the listeners (EPOLLEXCLUSIVE: a new connection wakes one
 * idle worker, not all of them), or stop being one, for a backoff. 0, or -1
 * logged.
 */
static int listen_on(bool on)
{
	for (size_t i = 0; i < self->nlisteners; i++) {
		struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = i};

		int op = on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL;

		if (epoll_ctl(S.set, op, self->listeners[i].fd, &e) < 0) {
			log_error(errno, "epoll_ctl() on %s", self->listeners[i].name);
			return -1;
		}
	}
	return 0;
}

/* Close c: in the background when it should linger and a slot is free, else now. */
static void finish(struct conn *c)
{
	conn_close(c); /* the descriptor stays, in c->deferred_fd */
	if (c->linger && linger_add(c->deferred_fd) == 0)
		c->deferred_fd = -1; /* the reaper's now */
	c->defer_close = false;
	conn_close(c);
}

/* Watch fd (shut down for writing) until the client's EOF or the linger bound. */
static int linger_add(int fd)
{
	struct lingerer *lg;
	size_t slot;

	if (S.nfree == 0)
		return -1;
	slot = S.free[--S.nfree];
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = S.base + slot};
	if (epoll_ctl(S.set, EPOLL_CTL_ADD, fd, &e) < 0) {
		log_error(errno, "epoll_ctl() for a lingering close");
		S.nfree++;
		return -1;
	}
	lg = &S.slot[slot];
	lg->fd = fd;
	waitlist_add(&S.list, &lg->wait, monotime_now());
	return 0;
}

static void linger_readable(size_t slot)
{
	struct lingerer *lg = &S.slot[slot];

	/* A slot ended earlier in the same batch of events is not waiting. */
	if (lg->wait.list && conn_discard(lg->fd) == 0)
		linger_end(lg);
}

/* The close is over: the descriptor leaves the epoll set as it closes. */
static void linger_end(struct lingerer *lg)
{
	waitlist_remove(&lg->wait);
	close(lg->fd);
	S.free[S.nfree++] = (size_t)(lg - S.slot);
}

/*
 * How long epoll_wait() may wait: a heartbeat interval, or until the first
 * linger or a backoff ends.
 */
static int wait_ms(void)
{
	int ms = worker_beat_interval_ms(self);
	double until = S.list.head ? S.list.head->deadline : 0;

	if (S.resume > 0 && (until == 0 || S.resume < until))
		until = S.resume;
	if (until > 0) {
		double left = (until - monotime_now()) * 1000;
		if (left < ms)
			ms = left > 0 ? (int)left + 1 : 0;
	}
	return ms;
}

/*
 * Wait for the client in slices, heartbeating meanwhile: waiting is
 * healthy; until the request's --request-timeout cancels it. Without the
 * GIL: the app's threads run meanwhile.
 */
static int wait_fd(struct conn *c, short events, int timeout_ms)
{
	PyThreadState *ts = PyGILState_Check() ? PyEval_SaveThread() : NULL;
	int rc = wait_slices(c, events, timeout_ms);

	if (ts)
		PyEval_RestoreThread(ts);
	return rc;
}

static int wait_slices(struct conn *c, short events, int timeout_ms)
{
	struct pollfd p = {.fd = c->fd, .events = events};
	double deadline = monotime_now() + timeout_ms / 1000.0;

	for (;;) {
		double left = deadline - monotime_now();
		int slice = worker_beat_interval_ms(self);
		int rc;

		/* A graceful stop: a WebSocket sees EOF and says 1001, as on the
		 * other workers, instead of holding the worker until it is killed. */
		if (c->upgraded && !c->going_away && worker_stopping(self))
			conn_going_away(c);
		if (timeout_ms >= 0 && left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (timeout_ms >= 0 && left * 1000 < slice)
			slice = (int)(left * 1000) + 1;
		rc = poll(&p, 1, slice);
		if (rc > 0)
			return 0;
		if (rc < 0 && (errno != EINTR || reqtimeout_interrupted()))
			return -1;
		if (!worker_heartbeat(self)) {
			errno = EPIPE;
			return -1;
		}
	}
}
