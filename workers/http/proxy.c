/* proxy — see proxy.h. */
#include "workers/http/proxy.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

/* PROXY protocol (haproxy's proxy-protocol.txt). */
#define PROXY_V1_MAX  107 /* a v1 line, CRLF included */
#define PROXY_V2_HEAD 16

static const char v2_signature[12] = "\r\n\r\n\0\r\nQUIT\n";

static ssize_t parse_v1(struct http_proxy *p, const char *buf, size_t len);
static ssize_t parse_v2(struct http_proxy *p, const unsigned char *buf, size_t len);
static int parse_port(const char *s, size_t n, unsigned *port);
static int parse_addr(int family, const char *s, size_t n, char *out);

ssize_t http_proxy_parse(struct http_proxy *p, const char *buf, size_t len)
{
	size_t n;

	memset(p, 0, sizeof(*p));
	p->family = AF_UNSPEC;
	if (len == 0)
		return HTTP_PARSE_AGAIN;
	n = len < sizeof(v2_signature) ? len : sizeof(v2_signature);
	if (memcmp(buf, v2_signature, n) == 0)
		return n < sizeof(v2_signature) ? HTTP_PARSE_AGAIN
						: parse_v2(p, (const unsigned char *)buf, len);
	n = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", n) == 0)
		return n < 6 ? HTTP_PARSE_AGAIN : parse_v1(p, buf, len);
	return 0;
}

/* "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport CRLF, or UNKNOWN. */
static ssize_t parse_v1(struct http_proxy *p, const char *buf, size_t len)
{
	size_t scan = len < PROXY_V1_MAX - 1 ? len : PROXY_V1_MAX - 1;
	const char *cr = memchr(buf, '\r', scan);
	const char *f[5], *end;
	size_t flen[5], k = 0;
	int family;

	if (memchr(buf, '\n', cr ? (size_t)(cr - buf) : scan))
		return HTTP_PARSE_ERROR;
	if (!cr)
		return len >= PROXY_V1_MAX - 1 ? HTTP_PARSE_ERROR : HTTP_PARSE_AGAIN;
	if ((size_t)(cr - buf) + 1 == len)
		return HTTP_PARSE_AGAIN;
	if (cr[1] != '\n')
		return HTTP_PARSE_ERROR;
	end = cr;
	if (end - buf >= 13 && memcmp(buf + 6, "UNKNOWN", 7) == 0 &&
	    (end - buf == 13 || buf[13] == ' '))
		return cr + 2 - buf; /* the addresses may be anything: ignored */
	/* five fields after "PROXY ", separated by single spaces */
	for (const char *s = buf + 6; k < 5; k++) {
		const char *sp = k < 4 ? memchr(s, ' ', (size_t)(end - s)) : end;

		if (!sp || sp == s)
			return HTTP_PARSE_ERROR;
		f[k] = s;
		flen[k] = (size_t)(sp - s);
		s = sp + 1;
	}
	if (memchr(f[4], ' ', flen[4]))
		return HTTP_PARSE_ERROR;
	if (flen[0] == 4 && memcmp(f[0], "TCP4", 4) == 0)
		family = AF_INET;
	else if (flen[0] == 4 && memcmp(f[0], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return HTTP_PARSE_ERROR;
	if (parse_addr(family, f[1], flen[1], p->src_addr) < 0 ||
	    parse_addr(family, f[2], flen[2], p->dst_addr) < 0 ||
	    parse_port(f[3], flen[3], &p->src_port) < 0 ||
	    parse_port(f[4], flen[4], &p->dst_port) < 0) {
		memset(p, 0, sizeof(*p));
		p->family = AF_UNSPEC;
		return HTTP_PARSE_ERROR;
	}
	p->family = family;
	return cr + 2 - buf;
}

/* 12-byte signature, version/command, family/protocol, length, addresses, TLVs. */
static ssize_t parse_v2(struct http_proxy *p, const unsigned char *buf, size_t len)
{
	size_t alen, total;
	const unsigned char *a = buf + PROXY_V2_HEAD;

	if (len < PROXY_V2_HEAD)
		return HTTP_PARSE_AGAIN;
	if ((buf[12] >> 4) != 2 || (buf[12] & 0x0f) > 1)
		return HTTP_PARSE_ERROR;
	alen = (size_t)buf[14] << 8 | buf[15];
	total = PROXY_V2_HEAD + alen;
	if (len < total)
		return HTTP_PARSE_AGAIN;
	if ((buf[12] & 0x0f) == 0) /* LOCAL: the proxy's own connection */
		return (ssize_t)total;
	switch (buf[13]) {
	case 0x00: /* UNSPEC */
		return (ssize_t)total;
	case 0x11: /* TCP over IPv4 */
		if (alen < 12)
			return HTTP_PARSE_ERROR;
		inet_ntop(AF_INET, a, p->src_addr, sizeof(p->src_addr));
		inet_ntop(AF_INET, a + 4, p->dst_addr, sizeof(p->dst_addr));
		p->src_port = (unsigned)a[8] << 8 | a[9];
		p->dst_port = (unsigned)a[10] << 8 | a[11];
		p->family = AF_INET;
		return (ssize_t)total;
	case 0x21: /* TCP over IPv6 */
		if (alen < 36)
			return HTTP_PARSE_ERROR;
		inet_ntop(AF_INET6, a, p->src_addr, sizeof(p->src_addr));
		inet_ntop(AF_INET6, a + 16, p->dst_addr, sizeof(p->dst_addr));
		p->src_port = (unsigned)a[32] << 8 | a[33];
		p->dst_port = (unsigned)a[34] << 8 | a[35];
		p->family = AF_INET6;
		return (ssize_t)total;
	default:
		return HTTP_PARSE_ERROR;
	}
}

/* 1-5 digits, no sign, no leading zero, at most 65535. */
static int parse_port(const char *s, size_t n, unsigned *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* A textual address of `family`, copied to out (46 bytes) when inet_pton takes it. */
static int parse_addr(int family, const char *s, size_t n, char *out)
{
	unsigned char addr[16];

	if (n >= INET6_ADDRSTRLEN)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return inet_pton(family, out, addr) == 1 ? 0 : -1;
}
