/*
 * notify — telling systemd how the server is doing (sd_notify(3), without
 * libsystemd): READY=1, RELOADING=1, STOPPING=1, STATUS=, MAINPID= as one
 * datagram each to $NOTIFY_SOCKET (a path, or '@' for the abstract
 * namespace), and WATCHDOG=1 every WATCHDOG_USEC/2 when the service has a
 * watchdog (WATCHDOG_PID, when set, naming us).
 *
 * Arbiter only. notify_init() takes the variables out of the environment so
 * that workers and the application neither see nor use them; the module
 * keeps them (one set per process). Without NOTIFY_SOCKET every call does
 * nothing. Never blocks; a failed send is logged, once.
 */
#pragma once

#include <stddef.h>

/*
 * Read and remove NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Returns 0,
 * or -1 with a one-line message in err when one of them is malformed (a
 * socket address neither absolute nor '@', or too long; a WATCHDOG_USEC or
 * WATCHDOG_PID that is not a positive number). Call once, at start.
 */
int notify_init(char *err, size_t errlen);

/*
 * Send one state message, printf-style: "READY=1\nSTATUS=...". Does
 * nothing without NOTIFY_SOCKET.
 */
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Seconds from now (monotime) until the next WATCHDOG=1 is due, 0 when it
 * is, or -1 when there is no watchdog.
 */
double notify_watchdog_wait(double now);

/* Send WATCHDOG=1 if it is due (see notify_watchdog_wait). */
void notify_watchdog(double now);

/*
 * In the child of a USR2 fork, before exec: put the variables back, with
 * WATCHDOG_PID naming this process, so that the new arbiter can take over
 * the notifications (and the watchdog) once systemd makes it the main
 * process.
 */
void notify_export(void);
