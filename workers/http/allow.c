/* allow — see allow.h. */
#include "workers/http/allow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/mem.h"

static int parse_addr(const char *text, int *family, uint8_t addr[16]);

int allow_parse(struct allow *a, const char *const *items, size_t n, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->nets = mem_calloc(n, sizeof(*a->nets));
	for (size_t i = 0; i < n; i++) {
		char text[128];
		char *slash, *end;
		struct allow_net *net = &a->nets[a->n];
		unsigned max;

		if (strcmp(items[i], "*") == 0) {
			a->any = true;
			continue;
		}
		snprintf(text, sizeof(text), "%s", items[i]);
		slash = strchr(text, '/');
		if (slash)
			*slash = '\0';
		if (parse_addr(text, &net->family, net->addr) < 0)
			goto bad;
		max = net->family == AF_INET ? 32 : 128;
		net->prefix = max;
		if (slash) {
			unsigned long p = strtoul(slash + 1, &end, 10);
			if (!slash[1] || *end || p > max)
				goto bad;
			net->prefix = (unsigned)p;
		}
		a->n++;
		continue;
bad:
		snprintf(err, errlen, "invalid address or network '%s'", items[i]);
		allow_free(a);
		return -1;
	}
	return 0;
}

bool allow_match(const struct allow *a, const char *addr)
{
	uint8_t bytes[16];
	int family;

	if (a->any)
		return true;
	if (!addr[0])
		return true; /* a unix socket's peer, as Gunicorn: the file's mode decides who connects */
	if (parse_addr(addr, &family, bytes) < 0)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct allow_net *net = &a->nets[i];
		unsigned full = net->prefix / 8, rest = net->prefix % 8;

		if (net->family != family || memcmp(net->addr, bytes, full) != 0)
			continue;
		if (rest && ((net->addr[full] ^ bytes[full]) & (0xff << (8 - rest))))
			continue;
		return true;
	}
	return false;
}

void allow_free(struct allow *a)
{
	free(a->nets);
	memset(a, 0, sizeof(*a));
}

/* IPv4-mapped IPv6 addresses (::ffff:1.2.3.4) count as the IPv4 address. */
static int parse_addr(const char *text, int *family, uint8_t addr[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (inet_pton(AF_INET, text, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr) == 1) {
		*family = AF_INET6;
		if (memcmp(addr, mapped, 12) == 0) {
			memmove(addr, addr + 12, 4);
			*family = AF_INET;
		}
		return 0;
	}
	return -1;
}
