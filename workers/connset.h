/*
 * connset — the connection core of the event-loop workers (gthread,
 * greenlet, gevent): the set of open connections, how many are fresh
 * (accepted, first head not dispatched yet) and busy (handed to the worker
 * type), the two wait lists (--keep-alive between requests, --timeout in
 * the middle of a head), the graceful stop with its deadline, and lingering
 * closes (a closed connection whose client may still send is watched in the
 * background until it is done: the thread that served it never waits for
 * that). It reads and parses request heads without Python; what to do with a complete head
 * is the worker type's business (its dispatch function). It waits and
 * accepts through a reactor (reactor.h): libevent, or gevent's hub.
 *
 * Runs in a worker process, in the reactor's thread; every function here
 * must be called from that thread (greenlets of it count), except
 * connset_stopping(). Never touches Python: the caller decides about the
 * GIL around connset_run().
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "workers/http/conn.h"
#include "workers/waitlist.h"

struct reactor;
struct worker;

/* One open connection. A reactor embeds it first in a struct of its own. */
struct cconn {
	struct conn c;              /* first member: conn hooks get a cconn */
	struct wait_node wait;      /* while the set waits for its bytes */
	struct cconn *prev, *next;  /* every open connection */
	struct cconn *qnext;        /* free for the reactor's and dispatcher's queues */
	bool watching;              /* the reactor watches its socket */
	bool busy;                  /* handed to dispatch and not back yet */
	bool served;                /* has been dispatched at least once */
	bool refuse;                /* dispatch: answer c.error_status, then close */
	bool body;                  /* busy reading its body, before dispatch (read_bodies) */
	bool closed;                /* free for the dispatcher */
	void *lender;               /* free for the dispatcher */
	bool lingering;             /* closed; its descriptor waits for the client's EOF */
	void *request;              /* the dispatcher's state of the request it serves, or NULL */
};

struct connset_ops {
	/*
	 * A complete request head is in cc->c.req (or cc->refuse: an answer
	 * to send, cc->c.error_status). The dispatcher owns cc until it calls
	 * connset_resume(), connset_park() or connset_close().
	 */
	void (*dispatch)(struct cconn *cc);
	/*
	 * cc's socket is readable while it is dispatched, NULL for nothing to
	 * do. False: the set stops watching it until it comes back (its bytes
	 * are the dispatcher's to read). True: the dispatcher handed it back
	 * (or closed it) meanwhile; the set no longer touches it here.
	 */
	bool (*busy_readable)(struct cconn *cc);
	/* How dispatched connections wait on their socket. */
	const struct conn_io *io;
	/*
	 * Called before each wait for events, NULL for none: where the
	 * greenlet hub lets go of the GIL it took for the callbacks
	 * (the libevent reactor only).
	 */
	void (*before_wait)(void);
	/* Called on every tick (REACTOR_TICK_MS) with monotime_now(), NULL for none. */
	void (*tick)(double now);
	/*
	 * A fresh connection with nothing sent waits --timeout for its first
	 * head (gevent), not --keep-alive (the libevent workers). During a
	 * stop it gets --keep-alive either way.
	 */
	bool fresh_waits_timeout;
	/*
	 * Read each request's body in the reactor before dispatch
	 * (conn_poll_body(), up to --request-body-buffer bytes in memory,
	 * the rest in a temporary file, --request-body-buffer-max in all:
	 * the app reads what is past it), waiting --timeout at most for each
	 * of its bytes: a slow body then holds no thread (gthread).
	 */
	bool read_bodies;
	/*
	 * Connections write ahead what a slow client does not take at once
	 * (conn_writev(): --response-buffer in memory, then a temporary file,
	 * at most --response-buffer-max): the dispatcher sends the rest
	 * (conn_flush()) before it resumes or closes them (gthread).
	 */
	bool buffer_responses;
	/*
	 * Connections the worker type serves that the set does not know yet
	 * (a gthread pool thread's fresh ones, reactor_event_inflight()), NULL
	 * for none: counted as open and busy. Any thread.
	 */
	size_t (*outside)(void);
};

/*
 * Set up the set for w's listeners and channel on reactor r. Returns 0, or
 * -1 after logging why.
 */
int connset_init(struct worker *w, const struct connset_ops *ops, const struct reactor *r);

/*
 * Run the reactor until a graceful stop has drained (nothing busy or fresh,
 * or the graceful timeout passed), the arbiter is gone, or --max-requests
 * was reached and drained. Returns the number of connections still busy.
 */
size_t connset_run(void);

/* True once a graceful stop began: responses should close their connections. Any thread. */
bool connset_stopping(void);

/*
 * The worker's request count (w->requests) went up: once it reaches
 * --max-requests, the graceful stop begins now, so that no connection is
 * accepted after it (not at the next tick). The loop's thread.
 */
void connset_counted(void);

/* Back from dispatch: parse what is buffered or arrives, dispatch again or wait. */
void connset_resume(struct cconn *cc);

/*
 * While cc is dispatched: watch its socket (when it is not yet), so that
 * ops->busy_readable hears of it once. 0, or -1 after logging why.
 */
int connset_watch(struct cconn *cc);

/*
 * Wait for the next head: --keep-alive while nothing of it has come
 * (conn_idle), --timeout once it has begun. While stopping, a connection
 * that was served is closed instead; a fresh one still gets its first
 * request answered.
 */
void connset_park(struct cconn *cc);

/*
 * Close and free (whether busy or not). A dispatched connection's own
 * conn_close() (in a pool thread or a greenlet) leaves the descriptor open
 * (conn defer_close) for this call to close, after the reactor stopped
 * watching it; when the close should linger (conn linger), it lingers in
 * the background instead: the descriptor stays watched, what arrives is
 * discarded, and it closes at the client's EOF, after CONN_LINGER_SECONDS,
 * or at once when CONN_LINGER_MAX connections linger already.
 */
void connset_close(struct cconn *cc);

/*
 * For lists of connections handed over by another thread: read the eventfd
 * that announced them, take the whole list from *head under mu, and call
 * each() on every one (linked by qnext), in the reactor's thread.
 */
void connset_drain(int efd, pthread_mutex_t *mu, struct cconn **head,
		   void (*each)(struct cconn *cc));

/* Free everything at the end of the worker. */
void connset_free(void);

/*
 * For reactors: a new connection (accepted on one of w's listeners with
 * the set's policy and the dispatcher's io); the set owns it from now on.
 */
void connset_accepted(struct cconn *cc);

/*
 * For reactors whose dispatcher accepted cc itself and read from it
 * (reactor_event_hand()): cc joins the set as connset_accepted() would,
 * with head_rc what conn_poll_head() last said for it, not read again.
 */
void connset_join(struct cconn *cc, int head_rc);

/*
 * For reactors whose dispatcher accepted cc itself and served its first
 * request (reactor_event_join()): cc joins the set as dispatched, for the
 * dispatcher to resume, park or close.
 */
void connset_adopt(struct cconn *cc);

/* For reactors: cc's socket is readable. */
void connset_readable(struct cconn *cc);

/* For reactors: every REACTOR_TICK_MS, heartbeats, timeouts, the stop. */
void connset_tick(void);

/* For reactors: the worker's channel is readable (the arbiter closed it, or a stray byte). */
void connset_channel(void);

/*
 * True when the arbiter is gone, once fd (a worker's channel) polled
 * readable: the arbiter never writes, so readable means it closed its end.
 * Any worker type, any thread.
 */
bool connset_arbiter_gone(int fd);
