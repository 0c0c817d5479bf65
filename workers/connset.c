/* connset — see connset.h. */
#include "workers/connset.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "workers/channel.h"
#include "workers/policy.h"
#include "workers/reactor.h"
#include "workers/worker.h"

/* A drop of at least this many connections within a second trims the heap. */
#define TRIM_MIN_DROP 64

static struct {
	struct worker *w;
	const struct connset_ops *ops;
	const struct reactor *r;
	struct cconn *all;
	size_t nconns, busy;
	size_t fresh;            /* accepted, first request not dispatched yet */
	bool stopping;           /* written here only; other threads load it atomically */
	double deadline;
	struct conn_policy policy;
	struct wait_list idle;   /* between requests: --keep-alive */
	struct wait_list head;   /* in the middle of a head: --timeout */
	struct wait_list linger; /* closed, lingering until the client's EOF */
	struct wait_list body;   /* reading a body under --request-timeout: 504 past it */
	size_t body_mem;         /* --request-body-buffer */
	uint64_t body_max;       /* --request-body-buffer-max */
	size_t nlinger;          /* in linger */
	size_t peak;             /* most connections open at once since the last trim check */
	double next_trim;        /* when to compare nconns with the peak again */
} S;

static void settle(struct cconn *cc, int head_rc);
static void enlist(struct cconn *cc);
static void dispatch(struct cconn *cc, bool refuse);
static void read_body(struct cconn *cc);
static void unbusy(struct cconn *cc);
static void begin_stop(void);
static void wait_in(struct cconn *cc, struct wait_list *wl);
static void unwatch(struct cconn *cc);
static void expire(struct wait_list *wl, double now);
static bool linger(struct cconn *cc);
static void linger_end(struct cconn *cc);
static void destroy(struct cconn *cc);
static void trim(double now);

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
	S.linger.span = CONN_LINGER_SECONDS;
	S.body.span = cfg->request_timeout;
	S.body_mem = (size_t)cfg->request_body_buffer;
	S.body_max = (uint64_t)cfg->request_body_buffer_max;
	if (ops->buffer_responses) {
		S.policy.out_mem = (size_t)cfg->response_buffer;
		S.policy.out_max = (size_t)cfg->response_buffer_max;
	}
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
	settle(cc, conn_poll_head(&cc->c));
}

int connset_watch(struct cconn *cc)
{
	if (cc->watching)
		return 0;
	if (S.r->watch(cc) < 0)
		return -1;
	cc->watching = true;
	return 0;
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
	S.nconns--;
	if (!S.stopping)
		S.r->room(1, true);
	if (!cc->c.linger || !linger(cc))
		destroy(cc);
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
	while (S.linger.head)
		linger_end(waitlist_entry(S.linger.head, struct cconn, wait));
	S.r->free();
	conn_policy_free(&S.policy);
	memset(&S, 0, sizeof(S));
}

void connset_accepted(struct cconn *cc)
{
	enlist(cc);
	connset_resume(cc); /* its request may be there already */
}

void connset_join(struct cconn *cc, int head_rc)
{
	enlist(cc);
	settle(cc, head_rc);
}

void connset_adopt(struct cconn *cc)
{
	enlist(cc);
	cc->served = true;
	S.fresh--;
	cc->busy = true;
	S.busy++;
}

void connset_readable(struct cconn *cc)
{
	if (cc->lingering) {
		if (conn_discard(cc->c.deferred_fd) == 0)
			linger_end(cc);
		return;
	}
	if (cc->body) {
		read_body(cc);
		return;
	}
	if (cc->busy) {
		/* Bytes while the dispatcher has the connection: they are its
		 * to read. Stop watching until the connection comes back. */
		if (!S.ops->busy_readable || !S.ops->busy_readable(cc))
			unwatch(cc);
		return;
	}
	waitlist_remove(&cc->wait);
	connset_resume(cc);
}

void connset_tick(void)
{
	struct wait_node *n;
	double now;

	channel_connections(S.nconns + (S.ops->outside ? S.ops->outside() : 0), S.nconns - S.busy);
	if (!worker_heartbeat(S.w)) {
		log_info("the arbiter is gone: stopping");
		S.r->stop();
		return;
	}
	if (!S.stopping && worker_stopping(S.w))
		begin_stop();
	now = monotime_now();
	expire(&S.idle, now); /* idle too long */
	expire(&S.head, now); /* too slow with a head, or a body */
	while ((n = waitlist_expired(&S.body, now))) {
		/* Past --request-timeout before its body came: 504, as the app's. */
		struct cconn *cc = waitlist_entry(n, struct cconn, wait);

		waitlist_remove(n);
		cc->body = false;
		cc->c.error_status = 504;
		cc->refuse = true;
		S.ops->dispatch(cc);
	}
	while ((n = waitlist_expired(&S.linger, now)))
		linger_end(waitlist_entry(n, struct cconn, wait)); /* lingered long enough */
	if (S.ops->tick)
		S.ops->tick(now);
	trim(now);
	if (S.stopping && ((S.busy == 0 && S.fresh == 0 && S.r->drained()) || now > S.deadline))
		S.r->stop();
}

void connset_counted(void)
{
	if (!S.stopping && worker_stopping(S.w))
		begin_stop();
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

/* What conn_poll_head() said for cc decides: dispatch, wait, refuse or close. */
static void settle(struct cconn *cc, int head_rc)
{
	switch (head_rc) {
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

/* A new connection joins the open list, fresh. */
static void enlist(struct cconn *cc)
{
	cc->c.defer_close = true; /* connset_close() closes, after unwatching */
	cc->next = S.all;
	if (S.all)
		S.all->prev = cc;
	S.all = cc;
	S.fresh++;
	if (++S.nconns > S.peak)
		S.peak = S.nconns;
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
	if (!refuse && S.ops->read_bodies && !cc->c.body_done)
		read_body(cc);
	else
		S.ops->dispatch(cc);
}

/*
 * Busy reading the body of the request in cc, before its dispatch: what
 * has come, then wait for more (at most --timeout for each read; a stop
 * lets it finish, like a request the app runs). Dispatched once complete
 * or --request-body-buffer-max bytes of it are in (the app reads the rest
 * from the client), or to be refused.
 */
static void read_body(struct cconn *cc)
{
	int rc = conn_poll_body(&cc->c, S.body_mem, S.body_max);

	if (rc == -2) {
		/* --request-timeout bounds the whole request from its head on,
		 * so the whole body; else --timeout each wait for more of it. */
		if (S.body.span <= 0)
			wait_in(cc, &S.head);
		else if (!cc->body)
			wait_in(cc, &S.body);
		cc->body = true;
		return;
	}
	cc->body = false;
	waitlist_remove(&cc->wait);
	if (rc == 1 || cc->c.error_status) {
		cc->refuse = rc != 1;
		S.ops->dispatch(cc);
	} else {
		connset_close(cc);
	}
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
	/* A TLS handshake or read that must write first (tls.h). */
	if (conn_read_wants(&cc->c) == POLLOUT && S.r->watch_write(cc) < 0) {
		connset_close(cc);
		return;
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

/*
 * Let closed cc linger (conn_close() left its descriptor, shut down for
 * writing): watched until the client's EOF or the linger bound. False when
 * it cannot (the cap is reached, or watching fails): close it at once.
 */
static bool linger(struct cconn *cc)
{
	if (S.nlinger >= CONN_LINGER_MAX)
		return false;
	if (!cc->watching) {
		if (S.r->watch(cc) < 0)
			return false;
		cc->watching = true;
	}
	cc->lingering = true;
	S.nlinger++;
	waitlist_add(&S.linger, &cc->wait, monotime_now());
	return true;
}

/* A lingering close is over: close and free. */
static void linger_end(struct cconn *cc)
{
	waitlist_remove(&cc->wait);
	S.nlinger--;
	destroy(cc);
}

/* The end of a close: stop watching (before the descriptor goes), close, free. */
static void destroy(struct cconn *cc)
{
	unwatch(cc);
	cc->c.defer_close = false;
	conn_close(&cc->c);
	S.r->release(cc);
}

/*
 * Once a second: when most of the connections of the last second are gone
 * (a crowd of slow clients left), give the heap's free pages back to the
 * system, so that the worker's memory returns to what it serves now.
 */
static void trim(double now)
{
	if (now < S.next_trim)
		return;
	if (S.peak >= TRIM_MIN_DROP && S.nconns < S.peak / 2)
		malloc_trim(0);
	S.peak = S.nconns;
	S.next_trim = now + 1;
}
