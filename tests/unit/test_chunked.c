/*
 * test_chunked — unit tests for workers/http/chunked.c, the chunked body
 * decoder.
 *
 * Most cases are rows of a table: the raw body, the limits, and the
 * expected refusal status or decoded body. Every row is decoded whole and in
 * fragments of several sizes (1, 2, and a mix), each fragment placed against
 * a PROT_NONE page so any over-read crashes; all must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tests/unit/guard.h"
#include "workers/http/chunked.h"

/* Settings for http_limits_from_settings(): line, fields, field size, body. */
#define LIM(line, fields, size, body) ((const long[]){line, fields, size, body})
#define ROWS(t)                       t, sizeof(t) / sizeof((t)[0])

enum tri { ANY = 0, NO, YES };

/* One row: a raw chunked body and what decoding it must give. */
struct chunk_row {
	const char *in;
	size_t len;       /* bytes of in; 0: strlen(in) */
	const long *lim;  /* LIM(...); NULL: the defaults */
	int status;       /* the refusal expected (400, 413, 431); 0: none */
	const char *body; /* status 0: the decoded bytes, when set */
	enum tri done;    /* status 0: whether the last chunk and trailers were read */
	size_t consumed;  /* status 0: raw bytes consumed; 0: all of in */
};

/* A body that decodes to `body`, all of it consumed. */
#define BODY(raw, decoded) {raw, .body = decoded, .done = YES}

struct decoded {
	int status;      /* 0, or dec.status after -1 */
	bool done;
	size_t consumed; /* raw bytes */
	size_t len;
	char body[70000];
};

static struct decoded dec_whole, dec_split;

static void decode(const char *in, size_t n, const size_t *steps, size_t nsteps,
		   const struct http_limits *lim, struct decoded *d);
static struct decoded *decode_all(const char *in, size_t n, const struct http_limits *lim);
static void check_chunk(const struct chunk_row *row);
static void check_chunks(const struct chunk_row *rows, size_t n);

/* ---- helpers ---------------------------------------------------------- */

/*
 * Decode in[0..n) in fragments of the sizes in `steps` (cycled; 0 = all at
 * once), each fragment copied against the guard page.
 */
static void decode(const char *in, size_t n, const size_t *steps, size_t nsteps,
		   const struct http_limits *lim, struct decoded *d)
{
	struct http_chunked dec;
	size_t off = 0, s = 0;

	http_chunked_init(&dec);
	memset(d, 0, sizeof(*d) - sizeof(d->body));
	while (off < n && !dec.done) {
		size_t k = steps[s++ % nsteps], out = 99;
		char *buf;
		ssize_t c;

		if (k == 0 || k > n - off)
			k = n - off;
		buf = guard_place(in + off, k);
		c = http_chunked_decode(&dec, buf, k, &out, lim);
		if (c < 0) {
			assert_int_equal(c, HTTP_PARSE_ERROR);
			d->status = dec.status;
			assert_non_null(dec.error);
			/* sticky */
			assert_int_equal(http_chunked_decode(&dec, buf, k, &out, lim),
					 HTTP_PARSE_ERROR);
			return;
		}
		assert_true(out <= (size_t)c);
		assert_true(dec.done || (size_t)c == k); /* everything until done */
		assert_true(d->len + out <= sizeof(d->body));
		memcpy(d->body + d->len, buf, out);
		d->len += out;
		off += (size_t)c;
	}
	d->done = dec.done;
	d->consumed = off;
	if (dec.done) {
		size_t out = 99;

		assert_int_equal(http_chunked_decode(&dec, guard_place(NULL, 0), 0, &out, lim), 0);
		assert_int_equal(out, 0);
	}
}

/* Decode whole and in several splits; all must agree. Returns the whole. */
static struct decoded *decode_all(const char *in, size_t n, const struct http_limits *lim)
{
	static const size_t whole[] = {0}, ones[] = {1}, twos[] = {2}, mixed[] = {3, 1, 7, 2, 5};
	static const struct {
		const size_t *steps;
		size_t n;
	} splits[] = {{ones, 1}, {twos, 1}, {mixed, 5}};

	decode(in, n, whole, 1, lim, &dec_whole);
	for (size_t i = 0; i < sizeof(splits) / sizeof(*splits); i++) {
		decode(in, n, splits[i].steps, splits[i].n, lim, &dec_split);
		assert_int_equal(dec_split.status, dec_whole.status);
		if (dec_whole.status)
			continue;
		assert_int_equal(dec_split.done, dec_whole.done);
		assert_int_equal(dec_split.consumed, dec_whole.consumed);
		assert_int_equal(dec_split.len, dec_whole.len);
		assert_memory_equal(dec_split.body, dec_whole.body, dec_whole.len);
	}
	return &dec_whole;
}

static void check_chunk(const struct chunk_row *row)
{
	struct http_limits lim;
	size_t n = row->len ? row->len : strlen(row->in);
	const struct decoded *d;
	bool ok;

	if (row->lim)
		http_limits_from_settings(&lim, row->lim[0], row->lim[1], row->lim[2],
					  row->lim[3]);
	d = decode_all(row->in, n, row->lim ? &lim : NULL);
	ok = d->status == row->status;
	if (ok && row->status == 0)
		ok = (!row->body || (d->len == strlen(row->body) &&
				     memcmp(d->body, row->body, d->len) == 0)) &&
		     (row->done == ANY || d->done == (row->done == YES)) &&
		     d->consumed == (row->consumed ? row->consumed : n);
	if (!ok)
		print_error("input: %.*s\nexpected status %d, got %d (done %d, %zu consumed, "
			    "%zu decoded)\n",
			    (int)n, row->in, row->status, d->status, d->done, d->consumed, d->len);
	assert_true(ok);
}

static void check_chunks(const struct chunk_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_chunk(&rows[i]);
}

/* ---- tests ------------------------------------------------------------ */

static void test_chunk_sizes(void **state)
{
	static const struct chunk_row rows[] = {
		BODY("1e\r\nall your base are belong to us\r\n0\r\n\r\n",
		     "all your base are belong to us"),
		BODY("5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n", "hello world"),
		BODY("A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
		BODY("a\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
		BODY("0005\r\nhello\r\n0\r\n\r\n", "hello"),
		BODY("0\r\n\r\n", ""),
		BODY("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", "\r\n"), /* data is data */
		/* the rest belongs to the next request */
		{"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", .body = "abc", .done = YES,
		 .consumed = 13},
		/* incomplete: all consumed, not done */
		{"5\r\nhel", .body = "hel", .done = NO},
		{"0\r\n", .done = NO}, /* the final CRLF is missing */
		{"0\r\nX: y\r\n", .done = NO},
	};
	static char big[0x10000 + 100], zs[0x10000 + 1];
	size_t n;

	(void)state;
	check_chunks(ROWS(rows));

	memset(zs, 'z', 0x10000);
	n = (size_t)sprintf(big, "10000\r\n");
	memcpy(big + n, zs, 0x10000);
	n += 0x10000;
	n += (size_t)sprintf(big + n, "\r\n0\r\n\r\n");
	check_chunk(&(struct chunk_row){big, n, .body = zs, .done = YES});
}

static void test_chunk_size_invalid(void **state)
{
	static const char *const bad[] = {
		"\r\nhello\r\n0\r\n\r\n",    " 5\r\nhello\r\n0\r\n\r\n", "5 \r\nhello\r\n0\r\n\r\n",
		"5\t\r\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n",
		"6_0\r\n world\r\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n", "g\r\n",
		"5\nhello\r\n0\r\n\r\n",     "5\n;\r\nhello\r\n0\r\n\r\n", "5\r\rhello\r\n0\r\n\r\n",
		"0 \r\n\r\n",                " ;foo=bar\r\nhello\r\n0\r\n\r\n", ";\r\n",
		"5\r\nhello\r\n\r\n",        "\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		check_chunk(&(struct chunk_row){bad[i], .status = 400});
}

static void test_chunk_size_overflow(void **state)
{
	static char zeros[300];
	const struct chunk_row rows[] = {
		/* sizes stay below 2^60 */
		{"1000000000000000\r\n", .status = 400},
		{"ffffffffffffffffffff\r\n", .status = 400},
		{"fffffffffffffff\r\nabc", .body = "abc", .done = NO},
		/* leading zeros are fine, within the line limit (limits.field_size) */
		BODY("00000000000000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello"),
		{zeros, .lim = LIM(4094, 100, 100, 0), .status = 400},
		{"5;a=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		 "\r\nhello\r\n0\r\n\r\n",
		 .lim = LIM(4094, 100, 100, 0), .status = 400},
	};

	(void)state;
	memset(zeros, '0', sizeof(zeros));
	memcpy(zeros + 250, "5\r\nhello\r\n0\r\n\r\n", sizeof("5\r\nhello\r\n0\r\n\r\n"));
	check_chunks(ROWS(rows));
}

static void test_chunk_extensions(void **state)
{
	static const char *const good[] = {
		"5;a\r\n",
		"5;a=b\r\n",
		"5; some; parameters=stuff\r\n",
		"5 ;a\r\n",
		"5\t; a = b ; c\r\n",
		"5;foo=\"bar baz\"\r\n",
		"5;foo=\"q\\\"uo\\\\te\";x=\"\"\r\n",
		"5;foo=\"caf\xc3\xa9\"\r\n",
		"5;a=b \r\n",
		"5;a \r\n",
		"5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\n",
	};
	static const char *const bad[] = {
		"5;\r\n",          "5; \r\n",           "5;;a\r\n",         "5;=b\r\n",
		"5;a=\r\n",        "5;a= \r\n",         "5;a=b=c\r\n",      "5;a=\"b\r\n",
		"5;a=\"b\x01\"\r\n", "5;a=\"b\"c\r\n",  "5;a b\r\n",        "5;a=b c\r\n",
		"5;ext=val\rue\r\n", "5;a=\"x\r\"\r\n", "5;a=\"\\\x01\"\r\n", "5;a(b)\r\n",
		"5;a=b\n",         "5;a=\"b\"\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		char in[200];

		snprintf(in, sizeof(in), "%shello\r\n0;last\r\n\r\n", good[i]);
		check_chunk(&(struct chunk_row)BODY(in, "hello"));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char in[200];

		snprintf(in, sizeof(in), "%shello\r\n0\r\n\r\n", bad[i]);
		check_chunk(&(struct chunk_row){in, .status = 400});
	}
}

static void test_chunk_data_crlf(void **state)
{
	static const struct chunk_row rows[] = {
		{"5\r\nhelloX\r\n0\r\n\r\n", .status = 400},
		{"5\r\nhello\n0\r\n\r\n", .status = 400},
		{"5\r\nhello\r\r\n0\r\n\r\n", .status = 400},
		{"5\r\nhello world\r\n0\r\n\r\n", .status = 400},
		{"5\r\nhello\r\n0\r\n\r\r", .status = 400},
		{"5\r\nhello\r\n0\r\n\n", .status = 400},
	};

	(void)state;
	check_chunks(ROWS(rows));
}

static void test_trailers(void **state)
{
	const struct chunk_row rows[] = {
		BODY("5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n",
		     "hello world"),
		BODY("5\r\nhello\r\n0\r\nX-Checksum:\tabc \r\nX-Empty:\r\nX_Under: a\r\n\r\n", "hello"),
		/* names that only start like a forbidden one are fine */
		BODY("0\r\nHostname: a\r\nContent-Lengths: 1\r\nT: e\r\n\r\n", ""),
		/* obs-fold */
		{"0\r\nA: b\r\n c\r\n\r\n", .status = 400},
		/* limits: fields and field_size, as for the head */
		{"0\r\nA: b\r\nC: d\r\n\r\n", .lim = LIM(4094, 2, 8190, 0)},
		{"0\r\nA: b\r\nC: d\r\nE: f\r\n\r\n", .lim = LIM(4094, 2, 8190, 0), .status = 431},
		{"0\r\nA: bcd\r\n\r\n", .lim = LIM(4094, 100, 8, 0)}, /* 8 with CRLF */
		{"0\r\nA: bcde\r\n\r\n", .lim = LIM(4094, 100, 8, 0), .status = 431},
		{"0\r\nAbcdefghi: b\r\n\r\n", .lim = LIM(4094, 100, 8, 0), .status = 431},
	};
	static const char *const forbidden[] = {
		"Content-Length: 99", "content-length: 5",   "Transfer-Encoding: chunked",
		"Host: evil.example.com", "TRAILER: x",     "TE: trailers",
		"Connection: close",  "Keep-Alive: 5",       "Upgrade: h2c",
		"Expect: 100-continue", "Authorization: x",  "Proxy-Authorization: x",
		"Cookie: a=b",        "Content-Encoding: gzip", "Content-Range: bytes 0-1/2",
		"Max-Forwards: 1",    "Range: bytes=0-",     "Proxy-Connection: x",
	};
	static const char *const bad[] = {
		"X : y",  "X\t: y",    ": y",      "X y",      " X: y",
		"X: y\rz", "X: \x01", "X: \x7f", "X(: y",     "X: y\n",
	};

	(void)state;
	check_chunks(ROWS(rows));
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(*forbidden); i++) {
		char in[200];

		snprintf(in, sizeof(in), "5\r\nhello\r\n0\r\n%s\r\n\r\n", forbidden[i]);
		check_chunk(&(struct chunk_row){in, .status = 400});
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char in[200];

		snprintf(in, sizeof(in), "0\r\nA: b\r\n%s\r\n\r\n", bad[i]);
		check_chunk(&(struct chunk_row){in, .status = 400});
	}
}

static void test_chunked_body_limit(void **state)
{
	const struct chunk_row rows[] = {
		{"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", .lim = LIM(4094, 100, 8190, 10),
		 .body = "helloworld"},
		{"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", .lim = LIM(4094, 100, 8190, 10),
		 .status = 413},
		{"b\r\n", .lim = LIM(4094, 100, 8190, 10), .status = 413},
		{"fffffffffffffff\r\n", .lim = LIM(4094, 100, 8190, 10), .status = 413},
	};

	(void)state;
	check_chunks(ROWS(rows));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_sizes),
		cmocka_unit_test(test_chunk_size_invalid),
		cmocka_unit_test(test_chunk_size_overflow),
		cmocka_unit_test(test_chunk_extensions),
		cmocka_unit_test(test_chunk_data_crlf),
		cmocka_unit_test(test_trailers),
		cmocka_unit_test(test_chunked_body_limit),
	};

	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
