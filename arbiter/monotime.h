/*
 * monotime — the monotonic clock, in seconds, that every deadline and
 * heartbeat age is measured on (CLOCK_MONOTONIC: not moved by date changes).
 *
 * Any process, any thread; never blocks, never fails.
 */
#pragma once

/* Seconds since an arbitrary fixed point, with nanosecond resolution. */
double monotime_now(void);
