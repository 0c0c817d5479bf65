/*
 * policy — where the settings meet the HTTP library: turns a struct config
 * into the struct conn_policy that conn.c applies to every connection, and
 * accepts connections on a listener under it.
 *
 * Runs in workers: policy_from_config() once at boot, policy_accept() in
 * the thread that watches the listener. The HTTP library (workers/http/)
 * never sees a struct config or a struct listener's fields; this module is
 * the only one that hands them over.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "workers/http/conn.h"

struct config;
struct listener;

/*
 * Fill p from cfg: the --limit-request-* limits (clamped as Gunicorn
 * does), the wait bound (--timeout, 30 s when 0), --proxy-protocol and the
 * --proxy-allow-from and --forwarded-allow-ips lists, --secure-scheme-headers,
 * --forwarder-headers (limits.forwarders, for conn_accept() to keep from
 * peers not in --forwarded-allow-ips),
 * Gunicorn's parser knobs (--permit-unconventional-http-method,
 * --casefold-http-method, --strip-header-spaces, --header-map,
 * --permit-obsolete-folding); nodelay sets
 * TCP_NODELAY on accepted TCP connections. Returns 0, or -1 with a message
 * in err. Free with conn_policy_free().
 */
int policy_from_config(struct conn_policy *p, const struct config *cfg, bool nodelay, char *err,
		       size_t errlen);

/*
 * How long a worker stops accepting after policy_accept() returned -2:
 * long enough not to spin on a listener that stays readable, short enough
 * to resume soon after descriptors free up.
 */
#define POLICY_ACCEPT_BACKOFF 0.1 /* seconds */

/*
 * conn_accept() on l's socket: returns 1 with a connection in c, 0 when
 * none is waiting, -1 on an error (logged, naming l), -2 when the process
 * or the system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM): the caller stops accepting for POLICY_ACCEPT_BACKOFF. Those
 * are logged at most once a second per thread, with how many accepts
 * failed since the last report. Never waits.
 */
int policy_accept(struct conn *c, const struct listener *l, const struct conn_io *io,
		  const struct conn_policy *p);
