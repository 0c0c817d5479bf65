/*
 * proxy — the PROXY protocol header (haproxy's v1 text line and v2 binary
 * block) that a load balancer may send before a connection's first request.
 *
 * Runs in workers, in any thread; never allocates, never blocks, never
 * logs. Return codes as in parser.h.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "workers/http/parser.h"

/* Where the proxy's client connected from and to. */
struct http_proxy {
	int family;
	char src_addr[46];
	unsigned src_port;
	char dst_addr[46];
	unsigned dst_port;
};

/*
 * PROXY protocol v1/v2 header at the start of a connection. Returns bytes
 * consumed (the address fields filled, family AF_INET/AF_INET6, or AF_UNSPEC
 * for LOCAL/UNKNOWN), 0 if buf does not start with a PROXY header (and cannot
 * become one), -1 bad header, -2 need more. v1 ("PROXY TCP4|TCP6|UNKNOWN",
 * at most 107 bytes) keeps the addresses as sent (validated by inet_pton),
 * ports are 1-5 digits without leading zeros, at most 65535. v2 accepts
 * LOCAL, and PROXY over TCP (INET, INET6) or UNSPEC; addresses are printed
 * with inet_ntop; TLVs are skipped. Pure function; never blocks.
 */
ssize_t http_proxy_parse(struct http_proxy *p, const char *buf, size_t len);
