/*
 * test_proxy — unit tests for workers/http/proxy.c, the PROXY protocol
 * header parser (v1 and v2).
 *
 * Each case is a row: the bytes, the expected result (bytes consumed, 0 for
 * "not a PROXY header", -1, -2) and the addresses. Every row is parsed whole
 * and on each of its proper prefixes, each placed against a PROT_NONE page
 * so any over-read crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/unit/guard.h"
#include "workers/http/proxy.h"

#define ROWS(t) t, sizeof(t) / sizeof((t)[0])

/* One row: a PROXY header (or not) and what parsing it must give. */
struct proxy_row {
	const char *in;
	size_t len;          /* bytes of in; 0: strlen(in) */
	ssize_t r;           /* the result expected */
	int family;          /* r > 0: the family expected */
	const char *src, *dst; /* r > 0, when set: the addresses... */
	unsigned sport, dport; /* ... and, with src, the ports */
};

static ssize_t proxy(const char *in, size_t n, struct http_proxy *p);
static void check_proxy(const struct proxy_row *row);
static void check_proxies(const struct proxy_row *rows, size_t n);

/* ---- helpers ---------------------------------------------------------- */

/*
 * Parse a PROXY header whole, and check every proper prefix: -2 while it
 * is shorter than the header, the same verdict once it holds it; for 0 and
 * -1, -2 until the prefix shows it.
 */
static ssize_t proxy(const char *in, size_t n, struct http_proxy *p)
{
	ssize_t r = http_proxy_parse(p, guard_place(in, n), n);

	for (size_t k = 0; k < n; k++) {
		struct http_proxy q;
		ssize_t rk = http_proxy_parse(&q, guard_place(in, k), k);

		if (r > 0 && (size_t)r > k)
			assert_int_equal(rk, HTTP_PARSE_AGAIN);
		else if (r > 0)
			assert_int_equal(rk, r);
		else
			assert_true(rk == HTTP_PARSE_AGAIN || rk == r);
	}
	return r;
}

static void check_proxy(const struct proxy_row *row)
{
	struct http_proxy p;
	size_t n = row->len ? row->len : strlen(row->in);
	ssize_t r = proxy(row->in, n, &p);
	bool ok = r == row->r;

	if (ok && r > 0)
		ok = p.family == row->family &&
		     (!row->src || (strcmp(p.src_addr, row->src) == 0 && p.src_port == row->sport &&
				    p.dst_port == row->dport)) &&
		     (!row->dst || strcmp(p.dst_addr, row->dst) == 0);
	if (!ok)
		print_error("input: %.*s\nexpected %zd, got %zd (family %d, %s:%u -> %s:%u)\n",
			    (int)n, row->in, row->r, r, p.family, p.src_addr, p.src_port,
			    p.dst_addr, p.dst_port);
	assert_true(ok);
}

static void check_proxies(const struct proxy_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_proxy(&rows[i]);
}

/* ---- v1 --------------------------------------------------------------- */

static void test_proxy_v1(void **state)
{
	static const struct proxy_row rows[] = {
		{"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /", .r = 47,
		 .family = AF_INET, .src = "192.168.0.1", .dst = "192.168.0.11", .sport = 56324,
		 .dport = 443},
		{"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n", .r = 36, .family = AF_INET6,
		 .src = "2001:db8::1", .dst = "::1", .sport = 0, .dport = 65535},
		{"PROXY UNKNOWN\r\n", .r = 15, .family = AF_UNSPEC},
		{"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", .r = 35, .family = AF_UNSPEC},
		/* the longest TCP line: 104 bytes */
		{"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		 .r = 104, .family = AF_INET6},
		/* the longest line of all: 107 bytes; one more is refused */
		{"PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxx\r\n",
		 .r = 107, .family = AF_UNSPEC},
		{"PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxx\r\n",
		 .r = HTTP_PARSE_ERROR},
		{"PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxx\r\n",
		 106, .r = HTTP_PARSE_ERROR},

		/* not a PROXY header */
		{"GET / HTTP/1.1\r\n", .r = 0},
		{"POST / HTTP/1.1\r\n", .r = 0},
		{"PROXZ", .r = 0},
		{"PROXY", .r = HTTP_PARSE_AGAIN},
		{"P", .r = HTTP_PARSE_AGAIN},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", .r = HTTP_PARSE_AGAIN},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", .r = HTTP_PARSE_AGAIN},
	};
	static const char *const bad[] = {
		"PROXY TCP4 192.168.0.1 192.16...\r\n",
		"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
		"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
		"PROXY TCP4 ::1 ::1 1 2\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY UNKNOWNX\r\n",
		"PROXY \r\n",
		"PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n",
	};

	(void)state;
	check_proxies(ROWS(rows));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		check_proxy(&(struct proxy_row){bad[i], .r = HTTP_PARSE_ERROR});
}

/* ---- v2 --------------------------------------------------------------- */

#define SIG "\r\n\r\n\0\r\nQUIT\n"

static void test_proxy_v2(void **state)
{
	static const struct proxy_row rows[] = {
		/* TCP over IPv4, then a request */
		{SIG "\x21\x11\x00\x0c\xc0\xa8\x01\x0a\xc0\xa8\x01\x01\x30\x39\x01\xbbGET /", 33,
		 .r = 28, .family = AF_INET, .src = "192.168.1.10", .dst = "192.168.1.1",
		 .sport = 12345, .dport = 443},
		/* TCP over IPv6 with a TLV after the addresses */
		{SIG "\x21\x21\x00\x28"
		     "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
		     "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02"
		     "\xd4\x31\x00\x50\x04\x00\x01\x00",
		 56, .r = 56, .family = AF_INET6, .src = "2001:db8::1", .dst = "::2",
		 .sport = 54321, .dport = 80},
		/* LOCAL, UNSPEC */
		{SIG "\x20\x00\x00\x00", 16, .r = 16, .family = AF_UNSPEC},
		{SIG "\x20\x11\x00\x03xyz", 19, .r = 19, .family = AF_UNSPEC},
		{SIG "\x21\x00\x00\x00", 16, .r = 16, .family = AF_UNSPEC},
		/* incomplete */
		{SIG "\x21\x11\x00\x0c\xc0", 17, .r = HTTP_PARSE_AGAIN},
		{"\r\n\r\n\0\r\nQUI", 10, .r = HTTP_PARSE_AGAIN},
		{"\r\n\r\n\0\r\nQUIT\r", 12, .r = 0},
		{"\r\n\r\nGET", 7, .r = 0},
	};
	static const struct {
		const char *head; /* version/command, family/protocol, length */
		size_t len;
	} bad[] = {
		{"\x11\x11\x00\x0c", 12}, /* version 1 */
		{"\x31\x11\x00\x0c", 12}, /* version 3 */
		{"\x22\x11\x00\x0c", 12}, /* command 2 */
		{"\x21\x12\x00\x0c", 12}, /* UDP */
		{"\x21\x22\x00\x24", 36}, /* UDP over IPv6 */
		{"\x21\x31\x00\x0c", 12}, /* UNIX */
		{"\x21\x41\x00\x0c", 12}, /* family 4 */
		{"\x21\x11\x00\x08", 8},  /* too short for IPv4 */
		{"\x21\x21\x00\x0c", 12}, /* too short for IPv6 */
	};
	char in[200];

	(void)state;
	check_proxies(ROWS(rows));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memcpy(in, SIG, 12);
		memcpy(in + 12, bad[i].head, 4);
		memset(in + 16, 1, bad[i].len);
		check_proxy(&(struct proxy_row){in, 16 + bad[i].len, .r = HTTP_PARSE_ERROR});
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_v1),
		cmocka_unit_test(test_proxy_v2),
	};

	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
