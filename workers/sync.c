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
#include "workers/worker.h"

static int wait_fd(struct conn *c, short events, int timeout_ms);
static int wait_slices(struct conn *c, short events, int timeout_ms);
static bool serve_one(struct worker *w, const struct listener *l);

static struct worker *self;
static const struct conn_io sync_io = {.wait = wait_fd};
static struct conn_policy policy;

int sync_run(struct worker *w, PyObject *app)
{
	size_t n = w->nlisteners;
	struct epoll_event ev[8];
	PyThreadState *ts;
	char err[256];
	int set;

	self = w;
	if (wsgi_init(app, false, w->cfg->workers > 1) < 0)
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
	for (size_t i = 0; i <= n; i++) {
		struct epoll_event e = {.events = EPOLLIN | (i < n ? EPOLLEXCLUSIVE : 0), .data.u64 = i};
		if (epoll_ctl(set, EPOLL_CTL_ADD, i < n ? w->listeners[i].fd : w->channel_fd, &e) < 0) {
			log_error(errno, "epoll_ctl()");
			close(set);
			return WORKER_EXIT_BOOT_ERROR;
		}
	}

	/* The GIL is let go while the worker waits (the app's threads run),
	 * and kept while it serves what one wake-up brought. */
	while (!worker_stopping(w) && worker_heartbeat(w)) {
		int rc;

		ts = PyEval_SaveThread();
		rc = epoll_wait(set, ev, 8, worker_beat_interval_ms(w));
		PyEval_RestoreThread(ts);
		if (rc < 0 && errno != EINTR) {
			log_error(errno, "epoll_wait()");
			break;
		}
		for (int k = 0; k < rc && !worker_stopping(w); k++) {
			if (ev[k].data.u64 == n) {
				if (connset_arbiter_gone(w->channel_fd))
					goto out;
				continue;
			}
			const struct listener *l = &w->listeners[ev[k].data.u64];
			for (int i = 0; i < WORKER_ACCEPT_BATCH && !worker_stopping(w); i++) {
				if (!serve_one(w, l))
					break;
				if (!worker_heartbeat(w))
					goto out;
			}
		}
	}
out:
	conn_policy_free(&policy);
	close(set);
	return WORKER_EXIT_OK;
}

/*
 * Accept one connection and serve its one request, with the GIL (waits on
 * the client let it go). Returns false when none was waiting.
 */
static bool serve_one(struct worker *w, const struct listener *l)
{
	struct conn c = {0};
	int rc;

	if (policy_accept(&c, l, &sync_io, &policy) <= 0)
		return false;
	rc = conn_read_head(&c);
	if (rc <= 0) {
		if (rc < 0 && c.error_status)
			conn_refuse(&c, c.error_status);
		else
			conn_close(&c);
		return true;
	}
	enum wsgi_outcome out = wsgi_serve(&c, false);
	w->requests++;
	if (out != WSGI_CLOSED)
		conn_finish(&c);
	return true;
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
