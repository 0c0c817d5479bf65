/*
 * allow — lists of trusted peers (--forwarded-allow-ips, --proxy-allow-from):
 * addresses, CIDR networks, or "*" for anyone.
 *
 * Parsed once per worker from the settings; matching is pure and may run in
 * any thread. Never allocates while matching.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct allow_net {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;    /* bits that must match */
};

struct allow {
	bool any;           /* "*" */
	struct allow_net *nets;
	size_t n;
};

/*
 * Parse the n entries of items, such as "127.0.0.1", "::1", "10.0.0.0/8",
 * "*". Returns 0, or -1 with the bad entry named in err. The result is freed
 * with allow_free(); items is not kept.
 */
int allow_parse(struct allow *a, const char *const *items, size_t n, char *err, size_t errlen);

/*
 * Whether the numeric address text (REMOTE_ADDR) is in the list. A unix
 * socket's peer ("") is in every list, as Gunicorn trusts it: who may
 * connect is the socket file's mode.
 */
bool allow_match(const struct allow *a, const char *addr);

/* Free what allow_parse() allocated and zero a. */
void allow_free(struct allow *a);
