/*
 * decimal — the unsigned numbers the environment and the system databases
 * hand the arbiter (LISTEN_PID, LISTEN_FDS, WATCHDOG_USEC, numeric user and
 * group ids): digits only, no sign, no spaces, no base prefix.
 *
 * Any thread; never logs.
 */
#pragma once

/* The number text spells, if it is one no larger than max: 0, or -1. */
int decimal_parse(const char *text, unsigned long long max, unsigned long long *out);
