/* connset — see connset.h. */
#include "workers/connset.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "workers/policy.h"
#include "workers/reactor.h"
#include "workers/worker.h"

static struct {
	struct worker *w;
	const struct connset_ops *ops;
	const struct reactor *r;
	struct cconn *all;
	size_t nconns, busy;
	size_t fresh;           /* accepted, first request not dispatched yet */
	bool stopping;          /* written here only; other threads load it atomically */
	double deadline;
	struct conn_policy policy;
	struct wait_list idle;  /* between requests: --keep-alive */
	struct wait_list head;  /* in the middle of a head: --timeout */
} S;

static void dispatch(struct cconn *cc, bool refuse);
static void unbusy(struct cconn *cc);
static void begin_stop(void);
static void wait_in(struct cconn *cc, struct wait_list *wl);
static void unwatch(struct cconn *cc);
static void expire(struct wait_list *wl, double now);

int connset_init(struct worker *w, const struct connset_ops *ops, const struct reactor *r)
{
	const struct config *cfg = w->cfg;
	char err[256];

	S.w = w;
	S.ops = ops;
	S.r = r;
	if (policy_from_config(&S.policy, cfg, true, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		return -1;
	}
	S.idle.span = cfg->keepalive > 0 ? cfg->keepalive : 1;
	S.head.span = S.policy.timeout_ms / 1000.0;
	return r->init(w, ops, &S.policy);
}

size_t connset_run(void)
{
	S.r->run();
	return S.busy;
}

bool connset_stopping(void)
{
	return __atomic_load_n(&S.stopping, __ATOMIC_RELAXED);
}

void connset_resume(struct cconn *cc)
{
	unbusy(cc);
	if (S.stopping && cc->served) {
		connset_close(cc);
		return;
	}
	switch (conn_poll_head(&cc->c)) {
	case 1:
		dispatch(cc, false);
		break;
	case -2:
		connset_park(cc);
		break;
	case -1:
		if (cc->c.error_status) {
			dispatch(cc, true); /* the answer and lingering close may wait */
			break;
		}
		/* fall through */
	default:
		connset_close(cc);
		break;
	}
}

void connset_park(struct cconn *cc)
{
	bool idle = conn_idle(&cc->c);

	unbusy(cc);
	if (S.stopping && cc->served) {
		connset_close(cc);
		return;
	}
	conn_shrink(&cc->c);
	/* Idle between requests: --keep-alive; a head in progress: --timeout. */
	if (idle && !cc->served && S.ops->fresh_waits_timeout && !S.stopping)
		idle = false;
	wait_in(cc, idle ? &S.idle : &S.head);
}

void connset_forget(struct conn *c)
{
	unwatch((struct cconn *)(void *)c); /* c is the cconn's first member */
}

void connset_close(struct cconn *cc)
{
	unbusy(cc);
	waitlist_remove(&cc->wait);
	if (!cc->served)
		S.fresh--;
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		S.all = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	unwatch(cc); /* before the fd goes: conn_close() may call connset_forget() */
	cc->c.defer_close = false; /* a close in another thread left the descriptor to us */
	conn_close(&cc->c);
	S.r->release(cc);
	S.nconns--;
	if (!S.stopping)
		S.r->room(1, true);
}

void connset_drain(int efd, pthread_mutex_t *mu, struct cconn **head,
		   void (*each)(struct cconn *cc))
{
	struct cconn *list;
	uint64_t v;

	if (read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_error(errno, "read() on an eventfd of the connection set");
	pthread_mutex_lock(mu);
	list = *head;
	*head = NULL;
	pthread_mutex_unlock(mu);
	while (list) {
		struct cconn *cc = list;

		list = cc->qnext;
		each(cc);
	}
}

void connset_free(void)
{
	/* Closing connections below gives the reactor no room. */
	__atomic_store_n(&S.stopping, true, __ATOMIC_RELAXED);
	while (S.all)
		connset_close(S.all);
	S.r->free();
	conn_policy_free(&S.policy);
	memset(&S, 0, sizeof(S));
}

void connset_accepted(struct cconn *cc)
{
	cc->c.defer_close = S.ops->foreign;
	cc->next = S.all;
	if (S.all)
		S.all->prev = cc;
	S.all = cc;
	S.fresh++;
	S.nconns++;
	connset_resume(cc); /* its request may be there already */
}

void connset_readable(struct cconn *cc)
{
	if (cc->busy) {
		/* Bytes while the dispatcher has the connection: they are its
		 * to read. Stop watching until the connection comes back. */
		unwatch(cc);
		return;
	}
	waitlist_remove(&cc->wait);
	connset_resume(cc);
}

void connset_tick(void)
{
	double now;

	if (!worker_heartbeat(S.w)) {
		log_info("the arbiter is gone: stopping");
		S.r->stop();
		return;
	}
	if (!S.stopping && worker_stopping(S.w))
		begin_stop();
	now = monotime_now();
	expire(&S.idle, now); /* idle too long */
	expire(&S.head, now); /* too slow with a head */
	if (S.ops->tick)
		S.ops->tick(now);
	if (S.stopping && ((S.busy == 0 && S.fresh == 0 && S.r->drained()) || now > S.deadline))
		S.r->stop();
}

void connset_channel(void)
{
	if (connset_arbiter_gone(S.w->channel_fd)) {
		log_info("the arbiter is gone: stopping");
		S.r->stop();
	}
}

bool connset_arbiter_gone(int fd)
{
	char b;
	ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);

	return r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR);
}

static void dispatch(struct cconn *cc, bool refuse)
{
	if (!cc->served) {
		cc->served = true;
		S.fresh--;
	}
	cc->busy = true;
	S.busy++;
	cc->refuse = refuse;
	S.ops->dispatch(cc);
}

static void unbusy(struct cconn *cc)
{
	if (cc->busy) {
		cc->busy = false;
		S.busy--;
	}
}

/*
 * Graceful stop: accept nothing more, let requests finish, close connections
 * idle between requests, tell WebSockets to say goodbye (they never finish
 * by themselves). A connection accepted but not yet asked anything gets
 * --keep-alive seconds to send its request, which is then answered with
 * Connection: close: the client connected to us, not to our successor.
 */
static void begin_stop(void)
{
	struct cconn *cc = S.all;

	__atomic_store_n(&S.stopping, true, __ATOMIC_RELAXED); /* pool threads read it */
	S.deadline = monotime_now() + S.w->cfg->graceful_timeout;
	S.r->room(0, false);
	while (cc) {
		struct cconn *next = cc->next;

		if (cc->busy && cc->c.upgraded)
			conn_going_away(&cc->c);
		else if (!cc->busy && cc->served && conn_idle(&cc->c))
			connset_close(cc);
		else if (!cc->busy && !cc->served && conn_idle(&cc->c))
			wait_in(cc, &S.idle);
		cc = next;
	}
}

/* Wait for cc's bytes (again) from now on: closed if none come within wl's span. */
static void wait_in(struct cconn *cc, struct wait_list *wl)
{
	if (!cc->watching) {
		if (S.r->watch(cc) < 0) {
			connset_close(cc);
			return;
		}
		cc->watching = true;
	}
	waitlist_add(wl, &cc->wait, monotime_now());
}

/* Stop watching cc's socket (wait_in() watches it again). */
static void unwatch(struct cconn *cc)
{
	if (cc->watching) {
		cc->watching = false;
		S.r->unwatch(cc);
	}
}

/* Close the connections of wl whose wait is over. */
static void expire(struct wait_list *wl, double now)
{
	struct wait_node *n;

	while ((n = waitlist_expired(wl, now)))
		connset_close(waitlist_entry(n, struct cconn, wait));
}
