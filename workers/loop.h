/*
 * loop — the event loop shared by the gthread and greenlet workers: accept
 * (up to --worker-connections), idle keep-alive connections, reading and
 * parsing request heads without Python, heartbeats, noticing the arbiter's
 * death, and the graceful stop. What to do with a complete head is the
 * worker type's business (its dispatch function).
 *
 * Runs in a worker process, in the thread that calls loop_run() (the main
 * thread). Every function here must be called from that thread; in the
 * greenlet worker, greenlets of that thread count. Never touches Python:
 * the caller decides about the GIL around loop_run().
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "workers/http/conn.h"
#include "workers/waitlist.h"

struct event_base;
struct worker;

struct lconn {
	struct conn c;
	struct event *ev;           /* readable; persistent, ignored while busy */
	bool watching;              /* ev is added */
	struct wait_node wait;      /* while the loop waits for its bytes */
	struct lconn *prev, *next;  /* every open connection */
	struct lconn *qnext;        /* free for the dispatcher's queues */
	bool busy;                  /* handed to dispatch and not back yet */
	bool served;                /* has been dispatched at least once */
	bool refuse;                /* dispatch: answer c.error_status, then close */
	bool closed;                /* free for the dispatcher */
};

struct loop_ops {
	/*
	 * A complete request head is in lc->c.req (or lc->refuse: an answer
	 * to send, lc->c.error_status). The dispatcher owns lc until it calls
	 * loop_resume(), loop_park() or loop_close().
	 */
	void (*dispatch)(struct lconn *lc);
	/* How dispatched connections wait on their socket. */
	const struct conn_io *io;
	/*
	 * Called before each wait for events, NULL for none: where the
	 * greenlet hub lets go of the GIL it took for the callbacks.
	 */
	void (*before_wait)(void);
	/* Called on every tick of the loop (100 ms) with worker_now(), NULL for none. */
	void (*tick)(double now);
	/*
	 * Dispatched connections are served in other threads: a close there
	 * leaves the descriptor open (conn defer_close) for loop_close() to
	 * close, after the loop stopped watching it. Otherwise the
	 * dispatcher's io must call loop_forget() from its closing hook.
	 */
	bool foreign;
};

/*
 * Set up the loop for w's listeners and channel. Returns 0, or -1 after
 * logging why.
 */
int loop_init(struct worker *w, const struct loop_ops *ops);

/* The event base, for the worker type's own events. */
struct event_base *loop_base(void);

/*
 * Run until a graceful stop has drained (nothing busy, or the graceful
 * timeout passed), the arbiter is gone, or --max-requests was reached and
 * drained. Returns the number of connections still busy.
 */
size_t loop_run(void);

/*
 * True once a graceful stop began: responses should close their connections.
 * The one function here that any thread may call.
 */
bool loop_stopping(void);

/* Back from dispatch: parse what is buffered or arrives, dispatch again or wait. */
void loop_resume(struct lconn *lc);

/*
 * Wait for the next head: --keep-alive while nothing of it has come
 * (conn_idle), --timeout once it has begun. While stopping, a connection
 * that was served is closed instead; a fresh one still gets its first
 * request answered.
 */
void loop_park(struct lconn *lc);

/*
 * The connection's fd is about to be closed (a conn_io closing hook, in
 * the loop's thread): stop watching it, so that a new connection given the
 * same fd number is watched afresh.
 */
void loop_forget(struct conn *c);

/* Close and free (whether busy or not). */
void loop_close(struct lconn *lc);

/*
 * For lists of connections handed to the loop by another thread: read the
 * eventfd that announced them, then take the whole list from *head under
 * mu. Returns the list (linked by qnext), NULL if empty.
 */
struct lconn *loop_take(int efd, pthread_mutex_t *mu, struct lconn **head);

/* Free everything at the end of the worker. */
void loop_free(void);
