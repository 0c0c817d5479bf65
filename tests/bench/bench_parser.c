/*
 * bench_parser — how many typical browser requests http_parse_request()
 * parses per second on one core (after picohttpparser's benchmark request:
 * about 500 bytes, 8 fields), and how fast http_chunked_decode() decodes a body.
 * Not part of make check: `make bench-parser && tests/bench/bench_parser [s]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workers/http/chunked.h"
#include "workers/http/parser.h"

#define FIELDS 100

static const char request[] =
	"GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
	"Host: www.kittyhell.com\r\n"
	"User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_6_6) AppleWebKit/533.19.4 "
	"(KHTML, like Gecko) Version/5.0.3 Safari/533.19.4\r\n"
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
	"Accept-Language: ja,en-US;q=0.9,en;q=0.8\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Connection: keep-alive\r\n"
	"Referer: http://www.kittyhell.com/\r\n"
	"Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; "
	"__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x\r\n"
	"\r\n";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct http_header headers[FIELDS];
	struct http_request req;
	struct http_limits lim;
	double seconds = argc > 1 ? atof(argv[1]) : 3.0, start, elapsed;
	unsigned long n = 0;
	size_t len = sizeof(request) - 1;
	static char body[1 << 20], raw[(1 << 20) + 4096];
	size_t rawlen = 0, out;
	struct http_chunked dec;
	unsigned long rounds = 0;

	http_limits_from_settings(&lim, 4094, FIELDS, 8190, 0);
	http_request_init(&req, headers, FIELDS);
	if (http_parse_request(&req, request, len, &lim) != (ssize_t)len || req.num_headers != 8) {
		fprintf(stderr, "bench_parser: the benchmark request does not parse\n");
		return 1;
	}

	start = now();
	do {
		for (int i = 0; i < 10000; i++) {
			http_request_init(&req, headers, FIELDS);
			if (http_parse_request(&req, request, len, &lim) != (ssize_t)len)
				return 1;
		}
		n += 10000;
		elapsed = now() - start;
	} while (elapsed < seconds);
	printf("%zu-byte request, %zu fields: %.0f requests parsed per second (%.1f ns each, "
	       "%.2f GB/s)\n",
	       len, req.num_headers, (double)n / elapsed, elapsed * 1e9 / (double)n,
	       (double)n * (double)len / elapsed / 1e9);

	/* a 1 MiB body in 16 KiB chunks with an extension each */
	memset(body, 'x', sizeof(body));
	for (size_t off = 0; off < sizeof(body); off += 16384) {
		rawlen += (size_t)sprintf(raw + rawlen, "4000;n=%zu\r\n", off / 16384);
		memcpy(raw + rawlen, body + off, 16384);
		rawlen += 16384;
		memcpy(raw + rawlen, "\r\n", 2);
		rawlen += 2;
	}
	rawlen += (size_t)sprintf(raw + rawlen, "0\r\n\r\n");
	static char work[sizeof(raw)];
	start = now();
	do {
		memcpy(work, raw, rawlen); /* decoding is in place */
		http_chunked_init(&dec);
		if (http_chunked_decode(&dec, work, rawlen, &out, &lim) != (ssize_t)rawlen ||
		    !dec.done || out != sizeof(body))
			return 1;
		rounds++;
		elapsed = now() - start;
	} while (elapsed < seconds / 3);
	printf("chunked body: %.2f GB/s decoded in place (memcpy of the input included)\n",
	       (double)rounds * (double)sizeof(body) / elapsed / 1e9);
	return 0;
}
