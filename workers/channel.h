/*
 * channel — what passes between the arbiter and a worker: the exit codes a
 * worker reports its fate with, and the fixed-size heartbeat record it writes
 * to its end of a socketpair.
 *
 * The only worker header the arbiter includes. Plain data; no functions that
 * allocate or block beyond one send(2).
 */
#pragma once

#include <stdint.h>

/* Worker exit codes, as Gunicorn's workers use them. */
enum worker_exit {
	WORKER_EXIT_OK = 0,
	WORKER_EXIT_BOOT_ERROR = 3, /* anything that stopped the worker booting */
	WORKER_EXIT_APP_LOAD_ERROR = 4, /* the application could not be imported */
};

/* One heartbeat: written at least every timeout/2 while the worker is healthy. */
struct heartbeat {
	uint32_t magic;    /* HEARTBEAT_MAGIC */
	uint32_t requests; /* requests served so far (wraps) */
};

#define HEARTBEAT_MAGIC 0x6b69726eu /* "kirn" */

/*
 * Send one heartbeat on fd (the worker's end of the channel), without
 * blocking and without SIGPIPE. Returns 0, or -1 with errno (EAGAIN when the
 * arbiter is behind, which is harmless; EPIPE when it is gone).
 */
int channel_heartbeat(int fd, uint32_t requests);
