/*
 * reactor — what the connection set (connset.h) waits through, as a table
 * of functions (Redis ae's eventop pattern): accepting on the worker's
 * listeners within a room of connections, watching a connection's socket
 * for reading, a tick timer, the worker's channel, run and stop. Two
 * implementations: reactor_event (libevent, with an accept thread: the
 * gthread and greenlet workers; declared here) and reactor_gevent
 * (gevent's hub: the gevent worker; reactor_gevent.h).
 *
 * Runs in a worker process, in the thread that runs the reactor; only the
 * connection set calls the table. A reactor calls back connset_accepted(),
 * connset_readable(), connset_tick() and connset_channel().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct conn_policy;
struct connset_ops;
struct cconn;
struct event_base;
struct worker;

/* How often the reactor calls connset_tick(). */
#define REACTOR_TICK_MS 100

struct reactor {
	/*
	 * Accept on w's listeners (conn_accept with p and ops->io) into
	 * connset_accepted(), at most --worker-connections until room() gives
	 * more; watch w's channel; tick. 0, or -1 after logging why.
	 */
	int (*init)(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p);
	/* Wait for and run events until stop(). */
	void (*run)(void);
	/* Make run() return (from a callback of this reactor). */
	void (*stop)(void);
	/* Call connset_readable(cc) whenever cc's socket is readable. 0, or -1 logged. */
	int (*watch)(struct cconn *cc);
	/*
	 * Call connset_readable(cc) also once cc's socket is writable (TLS:
	 * OpenSSL must send before it can read on). One shot: the next
	 * readable call, or unwatch(), cancels it. 0, or -1 logged.
	 */
	int (*watch_write)(struct cconn *cc);
	/* Stop watching cc's socket (for either). */
	void (*unwatch)(struct cconn *cc);
	/* Free cc (closed, unwatched) with what the reactor keeps for it. */
	void (*release)(struct cconn *cc);
	/* Room for `room` more connections (add), or for exactly `room` (!add). */
	void (*room)(size_t room, bool add);
	/* True when no accepted connection is still on its way to connset_accepted(). */
	bool (*drained)(void);
	/* Free the reactor (its connections are closed). */
	void (*free)(void);
};

/* libevent; the accept thread carries EPOLLEXCLUSIVE on the listeners. */
extern const struct reactor reactor_event;

/* The libevent reactor's event base, for the worker type's own events. */
struct event_base *reactor_event_base(void);

/*
 * Hold at most `credits` connections whose first request is not answered
 * yet (0: no such bound, the default): each new connection takes a
 * credit, and gives it back once its first answer is made
 * (reactor_event_unpace()), or it waits for its client's bytes, or it
 * closes. Out of credits the acceptor leaves the kernel's queue alone,
 * for the other workers, until half of them are back; when answers gave
 * them back, the loop accepts in its stead while the kernel has
 * connections queued, so that under load the acceptor needs no wake-up. A worker that dies takes at
 * most `credits` unanswered connections with it. Before the reactor runs,
 * in its thread.
 */
void reactor_event_pace(size_t credits);

/* cc's first answer is made: its credit goes back, if it holds one. In the loop. */
void reactor_event_unpace(struct cconn *cc);
