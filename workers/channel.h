/*
 * channel — the boundary between the arbiter and a worker: what the arbiter
 * hands a worker it has just forked, the exit codes a worker reports its
 * fate with, and the heartbeat it writes to its end of their socketpair.
 *
 * The arbiter includes no other worker header but the Python loader
 * (workers/python/interp.h, for --preload and --check-config), the Python
 * config file reader (workers/python/pyconfig.h) and the worker-type table
 * (workers/worker_type.h, to check -k); it starts a
 * worker only through channel_enter_worker(). The heartbeat is one byte,
 * because the arbiter reads nothing from a beat but that it came: a worker
 * is alive (and booted, after its first beat) while beats arrive. One other
 * byte, CHANNEL_RELOAD, is a beat that also asks for a reload (--reload saw
 * the application's code change). Nothing here allocates or blocks beyond
 * one send(2).
 *
 * The numbers the arbiter reports (metrics, `kirin ctl`) travel another
 * way: a struct channel_stats per worker in a MAP_SHARED mapping the
 * arbiter makes before the fork. The worker counts into it with plain
 * relaxed atomics (no system call per request); the arbiter reads it when
 * asked (/metrics, the control socket, a statsd flush) and keeps the
 * counts of a worker that exits.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arbiter/log.h"

struct config;
struct listener;

/* Worker exit codes, as Gunicorn's workers use them. */
enum worker_exit {
	WORKER_EXIT_OK = 0,
	WORKER_EXIT_BOOT_ERROR = 3,     /* anything that stopped the worker booting */
	WORKER_EXIT_APP_LOAD_ERROR = 4, /* the application could not be imported */
};

#define CHANNEL_BEAT   '\0' /* a heartbeat */
#define CHANNEL_RELOAD 'R'  /* a heartbeat, and please reload as on HUP */

/* Request-duration histogram: upper bounds in microseconds, then +Inf. */
#define CHANNEL_BUCKETS 12
extern const uint64_t channel_bucket_us[CHANNEL_BUCKETS - 1];

/* The codes a status counter exists for: 100 to 599. */
#define CHANNEL_STATUS_MIN 100
#define CHANNEL_STATUS_MAX 599

/* Why a worker left of its own accord (channel_stats.exit_cause). */
enum channel_exit { CHANNEL_EXIT_NONE = 0, CHANNEL_EXIT_MAX_REQUESTS = 1 };

/*
 * One worker's numbers, shared with the arbiter. Counters only grow; the
 * gauges are the worker's latest word. Written by the worker (any of its
 * threads, relaxed atomics), read by the arbiter (torn reads across fields
 * are fine: each field is one aligned word).
 */
struct channel_stats {
	uint64_t requests;                       /* answered, every status */
	uint64_t status[CHANNEL_STATUS_MAX + 1]; /* by status code */
	uint64_t duration_us;                    /* sum over the requests */
	uint64_t buckets[CHANNEL_BUCKETS];       /* by duration, not cumulative */
	uint64_t log_lines[LOG_COUNTS];          /* critical, error, warning lines, exceptions */
	int64_t in_flight;                       /* in the application now */
	int64_t open_conns, idle_conns;          /* open, and of those not in a request */
	uint32_t exit_cause;                     /* enum channel_exit */
};

/* What the arbiter gives a worker it has just forked; the worker keeps it. */
struct channel_start {
	const struct config *cfg;
	const struct listener *listeners;
	size_t nlisteners;
	int fd;       /* the worker's end of the channel */
	unsigned age; /* spawn order, for logs */
	struct channel_stats *stats; /* shared with the arbiter (channel_stats_new) */
};

/*
 * Become a worker (worker_main, workers/worker.h): call in the child right
 * after fork(), with every signal still blocked and the arbiter's own
 * descriptors closed. Never returns: the process exits with a worker_exit
 * code.
 */
_Noreturn void channel_enter_worker(const struct channel_start *start);

/*
 * Send one heartbeat on fd (the worker's end of the channel), without
 * blocking and without SIGPIPE. Returns 0, or -1 with errno (EAGAIN when the
 * arbiter is behind, which is harmless; EPIPE when it is gone).
 */
int channel_heartbeat(int fd);

/*
 * Ask the arbiter to reload (CHANNEL_RELOAD) on fd, like channel_heartbeat().
 * Any thread of a worker.
 */
int channel_ask_reload(int fd);

/*
 * A zeroed struct channel_stats in a shared anonymous mapping, for one
 * worker about to be forked; NULL (logged) when mmap fails. The arbiter
 * owns it: channel_stats_free (NULL does nothing).
 */
struct channel_stats *channel_stats_new(void);
void channel_stats_free(struct channel_stats *s);

/*
 * In a worker: count one answered request (status 100..599, others count
 * only in requests) that took us microseconds. Any thread; no system
 * call. Does nothing before channel_enter_worker.
 */
void channel_count_request(int status, int64_t us);

/* In a worker: a request enters (+1) or leaves (-1) the application. Any thread. */
void channel_in_flight(int delta);

/* In a worker: connections open now, and how many of them are between requests. */
void channel_connections(size_t open, size_t idle);

/* In a worker: it leaves for this reason (enum channel_exit). */
void channel_exit_cause(enum channel_exit why);
