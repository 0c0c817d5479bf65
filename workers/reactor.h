/*
 * reactor — what the connection set (connset.h) waits through, as a table
 * of functions (Redis ae's eventop pattern): accepting on the worker's
 * listeners within a room of connections, watching a connection's socket
 * for reading, a tick timer, the worker's channel, run and stop. Two
 * implementations: reactor_event (libevent, with an accept thread, or
 * the gthread pool's idle threads accepting: the gthread and greenlet
 * workers; declared here) and reactor_gevent
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

/* libevent; the accepting threads' epoll set carries EPOLLEXCLUSIVE on the listeners. */
extern const struct reactor reactor_event;

/* The libevent reactor's event base, for the worker type's own events. */
struct event_base *reactor_event_base(void);

/*
 * No accept thread: the worker type's own threads accept
 * (reactor_event_accept()), so that a request on a new connection can run
 * start to finish in the thread that accepted it, and a worker takes from
 * the kernel's queue only what an idle thread can start at once (a worker
 * that dies takes at most its busy threads' connections with it). Before
 * the reactor's init, in its thread.
 */
void reactor_event_pool(void);

/*
 * In a pool thread: a new connection, which the caller owns (the set does
 * not know it yet: reactor_event_hand(), reactor_event_drop() or
 * reactor_event_join() ends that), or NULL. wait: wait on the listeners
 * (EPOLLEXCLUSIVE: one worker is woken for a connection) until one comes,
 * or reactor_event_wake(), or the room or the back-off changes; one thread
 * at a time (the caller's business). !wait: only what the kernel has
 * queued now. Takes nothing while out of room, stopping, or backing off
 * after EMFILE.
 */
struct cconn *reactor_event_accept(bool wait);

/* Make the thread waiting in reactor_event_accept() return. Any thread. */
void reactor_event_wake(void);

/*
 * In a pool thread: cc (from reactor_event_accept()) goes to the loop
 * before its first request is dispatched; head_rc is what conn_poll_head()
 * last said (connset_join()). cc->c.defer_close is set.
 */
void reactor_event_hand(struct cconn *cc, int head_rc);

/* In a pool thread: close and free cc (from reactor_event_accept()), done with. */
void reactor_event_drop(struct cconn *cc);

/*
 * Accept nothing more, for good, whatever room is given back: the worker
 * stops (--max-requests was reached in a pool thread; the loop's graceful
 * stop follows). Any thread.
 */
void reactor_event_shut(void);

/*
 * In the loop: cc (from reactor_event_accept()), served in a pool thread,
 * joins the set as dispatched (connset_adopt()). False when it could not:
 * cc is closed and freed.
 */
bool reactor_event_join(struct cconn *cc);

/* Connections the pool accepted that the loop does not know yet. Any thread. */
size_t reactor_event_inflight(void);
