/* loop — see loop.h. */
#include "workers/loop.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/worker.h"

#define TICK_MS 100     /* how often the loop looks at stop flags and heartbeats */
#define ACCEPT_BATCH 64 /* connections taken per wake-up, so workers share */

static struct {
	struct worker *w;
	const struct loop_ops *ops;
	struct event_base *base;
	struct event **accept_ev;
	bool accepting;
	struct event *tick_ev, *channel_ev;
	struct lconn *all;
	size_t nconns, busy;
	size_t fresh;           /* accepted, first request not dispatched yet */
	bool stopping;
	double deadline;
	struct conn_policy policy;
} L;

static void on_accept(evutil_socket_t fd, short what, void *arg);
static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_tick(evutil_socket_t fd, short what, void *arg);
static void on_channel(evutil_socket_t fd, short what, void *arg);
static void dispatch(struct lconn *lc, bool refuse);
static void unbusy(struct lconn *lc);
static void set_accepting(bool on);
static void begin_stop(void);

int loop_init(struct worker *w, const struct loop_ops *ops)
{
	const struct config *cfg = w->cfg;
	struct timeval tick = {0, TICK_MS * 1000};
	char err[256];

	L.w = w;
	L.ops = ops;
	if (conn_policy_init(&L.policy, cfg, true, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		return -1;
	}
	/* With the changelist, a connection's read event removed when it fires
	 * and re-added after its response costs no epoll_ctl() at all. */
	struct event_config *ec = event_config_new();
	if (ec)
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	L.base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	if (!L.base) {
		log_critical("cannot create the event loop");
		return -1;
	}
	L.accept_ev = xcalloc(w->nlisteners, sizeof(*L.accept_ev));
	for (size_t i = 0; i < w->nlisteners; i++)
		L.accept_ev[i] = event_new(L.base, w->listeners[i].fd, EV_READ | EV_PERSIST, on_accept,
					   (void *)&w->listeners[i]);
	L.channel_ev = event_new(L.base, w->channel_fd, EV_READ | EV_PERSIST, on_channel, NULL);
	L.tick_ev = event_new(L.base, -1, EV_PERSIST, on_tick, NULL);
	event_add(L.channel_ev, NULL);
	event_add(L.tick_ev, &tick);
	set_accepting(true);
	return 0;
}

struct event_base *loop_base(void)
{
	return L.base;
}

size_t loop_run(void)
{
	event_base_dispatch(L.base);
	return L.busy;
}

bool loop_stopping(void)
{
	return L.stopping;
}

void loop_resume(struct lconn *lc)
{
	const struct config *cfg = L.w->cfg;

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
		/* Idle between requests: --keep-alive; a head in progress: --timeout. */
		if (lc->c.len == 0) {
			loop_park(lc);
		} else {
			struct timeval tv = {cfg->timeout > 0 ? cfg->timeout : 30, 0};
			event_add(lc->ev, &tv);
		}
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
	struct timeval tv = {L.w->cfg->keepalive > 0 ? L.w->cfg->keepalive : 1, 0};

	unbusy(lc);
	if (L.stopping) {
		loop_close(lc);
		return;
	}
	conn_shrink(&lc->c);
	event_add(lc->ev, &tv);
}

void loop_close(struct lconn *lc)
{
	unbusy(lc);
	if (!lc->served)
		L.fresh--;
	if (lc->prev)
		lc->prev->next = lc->next;
	else
		L.all = lc->next;
	if (lc->next)
		lc->next->prev = lc->prev;
	event_free(lc->ev);
	conn_close(&lc->c);
	free(lc);
	L.nconns--;
	if (!L.accepting && !L.stopping && L.nconns < (size_t)L.w->cfg->worker_connections)
		set_accepting(true);
}

void loop_free(void)
{
	while (L.all)
		loop_close(L.all);
	for (size_t i = 0; i < L.w->nlisteners; i++)
		event_free(L.accept_ev[i]);
	free(L.accept_ev);
	event_free(L.tick_ev);
	event_free(L.channel_ev);
	event_base_free(L.base);
	conn_policy_free(&L.policy);
	memset(&L, 0, sizeof(L));
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	const struct listener *l = arg;

	for (int i = 0; i < ACCEPT_BATCH && L.accepting; i++) {
		struct lconn *lc = xcalloc(1, sizeof(*lc));

		if (conn_accept(&lc->c, l, L.ops->io, &L.policy) <= 0) {
			free(lc);
			return;
		}
		lc->ev = event_new(L.base, lc->c.fd, EV_READ, on_readable, lc);
		lc->next = L.all;
		if (L.all)
			L.all->prev = lc;
		L.all = lc;
		L.fresh++;
		if (++L.nconns >= (size_t)L.w->cfg->worker_connections)
			set_accepting(false);
		lc->busy = true; /* so loop_resume() counts it right */
		L.busy++;
		loop_resume(lc);
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct lconn *lc = arg;

	lc->busy = true;
	L.busy++;
	if (what & EV_TIMEOUT)
		loop_close(lc); /* idle too long, or too slow with a head */
	else
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
	if (!worker_heartbeat(L.w)) {
		log_info("the arbiter is gone: stopping");
		event_base_loopbreak(L.base);
		return;
	}
	if (!L.stopping && worker_stopping(L.w))
		begin_stop();
	if (L.stopping && ((L.busy == 0 && L.fresh == 0) || worker_now() > L.deadline))
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
	struct timeval tv = {L.w->cfg->keepalive > 0 ? L.w->cfg->keepalive : 1, 0};

	L.stopping = true;
	L.deadline = worker_now() + L.w->cfg->graceful_timeout;
	set_accepting(false);
	while (lc) {
		struct lconn *next = lc->next;
		if (!lc->busy && lc->served && lc->c.len == 0)
			loop_close(lc);
		else if (!lc->busy && !lc->served && lc->c.len == 0)
			event_add(lc->ev, &tv);
		lc = next;
	}
}

static void set_accepting(bool on)
{
	for (size_t i = 0; i < L.w->nlisteners; i++) {
		if (on)
			event_add(L.accept_ev[i], NULL);
		else
			event_del(L.accept_ev[i]);
	}
	L.accepting = on;
}
