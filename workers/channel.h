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
 */
#pragma once

#include <stddef.h>

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

/* What the arbiter gives a worker it has just forked; the worker keeps it. */
struct channel_start {
	const struct config *cfg;
	const struct listener *listeners;
	size_t nlisteners;
	int fd;       /* the worker's end of the channel */
	unsigned age; /* spawn order, for logs */
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
