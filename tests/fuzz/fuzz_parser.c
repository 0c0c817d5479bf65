/*
 * fuzz_parser — libFuzzer target for the parsers of workers/http/: the
 * request head (parser.c), chunked bodies (chunked.c) and PROXY headers
 * (proxy.c).
 *
 * The first input byte picks limits (with the defaults, also a
 * forwarder_headers list: none, Gunicorn's default, "*" or a custom one); the
 * rest is a request stream. Each input
 * is parsed whole and in a pseudo-random split (the same bytes, len growing
 * by 1..16 per call, half of the calls from a moved copy of the buffer); the
 * two outcomes must be identical, or the target aborts. After a complete head
 * with a chunked body, the rest is decoded whole and in pieces, which must
 * agree too. The input is also run through the chunked decoder directly and
 * through the PROXY header parser. Every buffer is malloc'd at its exact size
 * so AddressSanitizer catches any over-read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/chunked.h"
#include "workers/http/parser.h"
#include "workers/http/proxy.h"

#define FIELDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_parser: %s\n", what);
		abort();
	}
}

/* A copy of data[0..n) in a buffer of exactly n bytes (at least 1). */
static char *copy(const uint8_t *data, size_t n)
{
	char *p = malloc(n ? n : 1);

	check(p != NULL, "malloc");
	memcpy(p, data, n);
	return p;
}

static uint32_t next(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

static int same_slice(const char *a, size_t al, const char *b, size_t bl)
{
	if (al != bl || (a == NULL) != (b == NULL))
		return 0;
	return a == NULL || memcmp(a, b, al) == 0;
}

static void same_request(const struct http_request *a, const struct http_request *b,
			 const struct http_limits *lim)
{
	check(a->status == b->status, "status differs");
	check(a->version_minor == b->version_minor, "version differs");
	check(a->body == b->body && a->content_length == b->content_length, "framing differs");
	check(a->keep_alive == b->keep_alive && a->expect_continue == b->expect_continue &&
		      a->close_after == b->close_after,
	      "flags differ");
	check(same_slice(a->method, a->method_len, b->method, b->method_len), "method differs");
	check(same_slice(a->target, a->target_len, b->target, b->target_len), "target differs");
	check(same_slice(a->path, a->path_len, b->path, b->path_len), "path differs");
	check(same_slice(a->query, a->query_len, b->query, b->query_len), "query differs");
	check(same_slice(a->host, a->host ? a->host_len : 0, b->host, b->host ? b->host_len : 0),
	      "host differs");
	check(a->num_headers == b->num_headers, "header count differs");
	for (size_t i = 0; i < a->num_headers; i++) {
		const struct http_header *x = &a->headers[i], *y = &b->headers[i];

		check(same_slice(x->name, x->name_len, y->name, y->name_len) &&
			      same_slice(x->value, x->value_len, y->value, y->value_len),
		      "header differs");
		check(memchr(x->name, '_', x->name_len) == NULL || lim->forwarders,
		      "underscore kept");
	}
	check(same_slice(a->script_name, a->script_name_len, b->script_name, b->script_name_len),
	      "script_name differs");
	check(!a->script_name || lim->forwarders, "a mount point without forwarder_headers");
}

/* Decode raw[0..n) in pieces of 1..step bytes (0: at once); returns consumed, or -1. */
static ssize_t decode_split(const uint8_t *raw, size_t n, size_t step, uint32_t seed,
			    const struct http_limits *lim, char *body, size_t *body_len, int *status)
{
	struct http_chunked dec;
	size_t off = 0;

	http_chunked_init(&dec);
	*body_len = 0;
	while (off < n && !dec.done) {
		size_t k = step ? 1 + next(&seed) % step : n - off, out;
		char *buf;
		ssize_t c;

		if (k > n - off)
			k = n - off;
		buf = copy(raw + off, k);
		c = http_chunked_decode(&dec, buf, k, &out, lim);
		if (c < 0) {
			free(buf);
			*status = dec.status;
			return -1;
		}
		check(out <= (size_t)c && (dec.done || (size_t)c == k), "decoder contract");
		memcpy(body + *body_len, buf, out);
		*body_len += out;
		off += (size_t)c;
		free(buf);
	}
	*status = dec.done ? 0 : -2;
	return (ssize_t)off;
}

static void chunked(const uint8_t *raw, size_t n, uint32_t seed, const struct http_limits *lim)
{
	char *a = malloc(n + 1), *b = malloc(n + 1);
	size_t al, bl;
	int as, bs;
	ssize_t ac, bc;

	check(a && b, "malloc");
	ac = decode_split(raw, n, 0, seed, lim, a, &al, &as);
	bc = decode_split(raw, n, 1 + seed % 9, seed, lim, b, &bl, &bs);
	check(ac == bc && as == bs, "chunked verdict differs with the split");
	if (ac >= 0)
		check(al == bl && memcmp(a, b, al) == 0, "chunked body differs with the split");
	free(a);
	free(b);
}

static void proxy(const uint8_t *data, size_t n)
{
	struct http_proxy p;
	char *buf = copy(data, n);
	ssize_t r = http_proxy_parse(&p, buf, n);

	check(r >= -2 && r <= (ssize_t)n, "proxy result out of range");
	free(buf);
	for (size_t k = 0; k < n && k < 120; k++) {
		ssize_t rk;

		buf = copy(data, k);
		rk = http_proxy_parse(&p, buf, k);
		free(buf);
		if (r > 0)
			check(rk == ((size_t)r > k ? HTTP_PARSE_AGAIN : r), "proxy prefix differs");
		else
			check(rk == HTTP_PARSE_AGAIN || rk == r, "proxy prefix differs");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_header ha[FIELDS], hb[FIELDS];
	struct http_request a, b;
	struct http_limits lim;
	uint32_t seed = 1;
	char *whole, *moving = NULL;
	ssize_t ra, rb = HTTP_PARSE_AGAIN;
	size_t k = 0;
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	for (size_t i = 0; i < size && i < 64; i++)
		seed = seed * 31 + data[i];
	if (ctl & 1) {
		static const char *const lists[] = {NULL, "SCRIPT_NAME,PATH_INFO", "*",
						    " x_y, Script_Name"};

		http_limits_from_settings(&lim, 4094, 100, 8190, 0);
		lim.forwarders = lists[ctl >> 1 & 3];
	} else {
		http_limits_from_settings(&lim, 8 + (ctl >> 2), 1 + (ctl >> 5), 4 + (ctl >> 1),
					  ctl & 2 ? 0 : 64);
	}

	whole = copy(data, size);
	http_request_init(&a, ha, FIELDS);
	ra = http_parse_request(&a, whole, size, &lim);
	check(ra == HTTP_PARSE_ERROR || ra == HTTP_PARSE_AGAIN || (ra > 0 && (size_t)ra <= size),
	      "result out of range");
	check(ra != HTTP_PARSE_ERROR || (a.status >= 400 && a.status < 600 && a.error),
	      "error without status");

	/* the same bytes, growing by 1..16, the buffer moving on odd steps */
	http_request_init(&b, hb, FIELDS);
	while (rb == HTTP_PARSE_AGAIN && k < size) {
		k += 1 + next(&seed) % 16;
		if (k > size)
			k = size;
		if (next(&seed) & 1) {
			free(moving);
			moving = copy(data, k);
			rb = http_parse_request(&b, moving, k, &lim);
		} else {
			rb = http_parse_request(&b, whole, k, &lim);
		}
	}
	check(ra == rb, "verdict differs with the split");
	if (ra > 0)
		same_request(&a, &b, &lim);
	else if (ra == HTTP_PARSE_ERROR)
		check(a.status == b.status, "status differs with the split");

	if (ra > 0 && a.body == HTTP_BODY_CHUNKED)
		chunked(data + ra, size - (size_t)ra, seed, &lim);
	chunked(data, size, seed, &lim);
	proxy(data, size);

	free(moving);
	free(whole);
	return 0;
}
