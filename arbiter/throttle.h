/*
 * throttle — a spawn rate limit: at most `burst` spawns in any `window`
 * seconds, so a worker that crashes right after boot is not respawned in a
 * tight loop.
 *
 * Used by the arbiter. Plain arithmetic on the times it is given (the
 * caller's clock): no state outside the struct, no system calls.
 */
#pragma once

#include <stdbool.h>

#define THROTTLE_RING 16 /* the largest burst a throttle remembers */

struct throttle {
	double window;
	unsigned burst;
	double times[THROTTLE_RING]; /* ring of recent spawn times */
	unsigned count;              /* spawns recorded, saturating at the ring size */
	unsigned next;
};

/* Start empty: the first `burst` spawns are allowed at once (burst capped at THROTTLE_RING). */
void throttle_init(struct throttle *t, unsigned burst, double window);

/* True when a spawn at `now` is allowed; records it when it is. */
bool throttle_take(struct throttle *t, double now);

/* Seconds until a spawn is allowed again (0 if now). */
double throttle_wait(const struct throttle *t, double now);
