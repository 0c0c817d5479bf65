/*
 * worker — the common life of a worker process: after fork, reset signals,
 * boot the embedded interpreter and the app, run the loop of the worker type
 * the settings select (worker_type.h), heartbeat, and exit with the code the
 * arbiter understands (channel.h).
 *
 * Runs in worker processes (a fork of the arbiter, no exec). The worker
 * types (worker_type.h) call the helpers below from their loops; they never
 * touch signals themselves. Their clock is arbiter/monotime.h's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct listener;

/*
 * Connections a worker accepts per wake-up, every worker type: while
 * clients queue, the next accept() comes without another wait, and the
 * bound lets the other workers (and the worker's own timers and channel)
 * have their turn.
 */
#define WORKER_ACCEPT_BATCH 64

struct worker {
	const struct config *cfg;
	const struct listener *listeners;
	size_t nlisteners;
	int channel_fd;     /* our end of the socketpair with the arbiter */
	pid_t arbiter_pid;
	unsigned age;       /* spawn order, for logs */
	uint32_t requests;  /* served so far */
	uint32_t max_requests; /* exit gracefully after this many (0: never) */
	double last_beat;   /* monotonic time of the last heartbeat sent */
	bool stalled;       /* set by the worker type: one of its threads is stuck, beat no more */
	bool skip_finalize; /* exit without Py_FinalizeEx (suspended greenlets) */
};

/*
 * Become a worker: called in the child right after fork with signals still
 * blocked. Never returns: exits 0 after a graceful or quick stop, 3 on a boot
 * failure, 4 when the app cannot be imported.
 */
_Noreturn void worker_main(struct worker *w);

/*
 * Send a heartbeat if half the timeout (or one second) has passed since the
 * last one, unless w->stalled: then the arbiter finds the worker silent
 * and aborts it (SIGABRT: every thread's stack is logged). Cheap enough to
 * call on every loop iteration. Returns false when
 * the arbiter is gone (its end of the channel closed, or our parent changed):
 * the caller must stop serving and return.
 */
bool worker_heartbeat(struct worker *w);

/* The longest a worker loop may sleep between heartbeats, in milliseconds. */
int worker_beat_interval_ms(const struct worker *w);

/*
 * True once the worker should stop taking requests: a graceful stop (TERM)
 * was requested or --max-requests was reached. The loop finishes the request
 * in hand and returns.
 */
bool worker_stopping(const struct worker *w);
