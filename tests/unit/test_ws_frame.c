/*
 * test_ws_frame — unit tests for workers/http/ws_frame.c.
 *
 * Every frame stream is parsed whole and in pieces of 1, 2, 3, 5 and 7
 * bytes (the consumed bytes dropped, the rest moved to the start of the next
 * buffer, which is allocated at its exact size); every way must give the
 * same transcript of headers, payloads and verdict. The vectors are RFC 6455
 * section 5.7's examples and Autobahn|Testsuite's framing cases (sections
 * 1-5 and 7: lengths, reserved bits, opcodes, control frames, close codes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ws_client.h"
#include "workers/http/ws_frame.h"

#define TRANSCRIPT 4096

static void parse(const uint8_t *in, size_t n, unsigned rsv_allowed, size_t step, char *t);
static void expect(const uint8_t *in, size_t n, unsigned rsv_allowed, const char *want);

/*
 * Parse in[0..n) in pieces of step bytes (0: whole) into a transcript:
 * "<opcode>/<fin><rsv>[payload]" per frame, "E<code>" on failure, "+" when
 * the input ended inside a frame.
 */
static void parse(const uint8_t *in, size_t n, unsigned rsv_allowed, size_t step, char *t)
{
	struct ws_frame_parser p;
	uint8_t *held = NULL;
	size_t have = 0, off = 0, tl = 0;
	bool inside = false;

	ws_frame_parser_init(&p, rsv_allowed);
	t[0] = '\0';
	while (off < n || have > 0) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		uint8_t *buf = ws_client_refill(held, have, in + off, k);
		struct ws_chunk c;
		ssize_t r;

		assert_non_null(buf);
		off += k;
		have += k;
		held = buf;
		r = ws_frame_parse(&p, buf, have, &c);
		if (r < 0) {
			assert_int_equal(p.code, 1002);
			assert_non_null(p.error);
			tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "E%u", p.code);
			/* sticky */
			assert_int_equal(ws_frame_parse(&p, buf, have, &c), -1);
			free(held);
			return;
		}
		assert_true(r <= (ssize_t)have && (have == 0 || r > 0));
		if (c.header) {
			tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "%x/%d%d[", p.frame.opcode,
					       p.frame.fin, p.frame.rsv);
			inside = true;
		}
		assert_true(c.len == 0 || (c.data >= buf && c.data + c.len <= buf + r));
		for (size_t i = 0; i < c.len && tl + 4 < TRANSCRIPT; i++)
			tl += (size_t)snprintf(
			    t + tl, TRANSCRIPT - tl,
			    c.data[i] >= 0x20 && c.data[i] < 0x7f ? "%c" : "\\%02x", c.data[i]);
		if (c.end) {
			tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "]");
			inside = false;
		}
		memmove(buf, buf + r, have - (size_t)r);
		have -= (size_t)r;
		if (r == 0 && off == n)
			break;
	}
	free(held);
	if (inside || p.have_)
		snprintf(t + tl, TRANSCRIPT - tl, "+");
}

static void expect(const uint8_t *in, size_t n, unsigned rsv_allowed, const char *want)
{
	static const size_t steps[] = {1, 2, 3, 5, 7};
	char whole[TRANSCRIPT], piece[TRANSCRIPT];

	parse(in, n, rsv_allowed, 0, whole);
	if (strcmp(whole, want) != 0)
		fail_msg("got   %s\nwant  %s", whole, want);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		parse(in, n, rsv_allowed, steps[i], piece);
		if (strcmp(piece, want) != 0)
			fail_msg("step %zu: got %s\nwant %s", steps[i], piece, want);
	}
}

/* RFC 6455 section 5.7: "Hello", masked, and a masked ping. */
static void test_rfc_examples(void **state)
{
	static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					0x7f, 0x9f, 0x4d, 0x51, 0x58};
	uint8_t f[64];
	size_t n;

	(void)state;
	expect(hello, sizeof(hello), 0, "1/10[Hello]");
	n = ws_client_frame(f, 0x01, "Hel", 3, 0, true);
	n += ws_client_frame(f + n, 0x80, "lo", 2, 0, true);
	expect(f, n, 0, "1/00[Hel]0/10[lo]");
	n = ws_client_frame(f, 0x89, "Hello", 5, 0, true);
	expect(f, n, 0, "9/10[Hello]");
	n = ws_client_frame(f, 0x8a, "Hello", 5, 0, true);
	expect(f, n, 0, "a/10[Hello]");
}

/* Autobahn 1.1.x/1.2.x lengths: 0, 125, 126, 127, 128, 65535, 65536. */
static void test_lengths(void **state)
{
	static const uint64_t lengths[] = {0, 1, 125, 126, 127, 128, 65535, 65536};
	uint8_t *f = malloc(70000), *payload = malloc(65536);
	char *want = malloc(70000);

	(void)state;
	assert_true(f && payload && want);
	memset(payload, '*', 65536);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		size_t n = ws_client_frame(f, 0x82, payload, lengths[i], 0, true);

		snprintf(want, 70000, "2/10[%.*s]", (int)(lengths[i] < 64 ? lengths[i] : 0),
			 (const char *)payload);
		if (lengths[i] < 64) {
			expect(f, n, 0, want);
		} else {
			/* long payloads: byte by byte once, checking the bytes */
			struct ws_frame_parser p;
			struct ws_chunk c;
			uint64_t got = 0;

			ws_frame_parser_init(&p, 0);
			for (size_t off = 0; off < n;) {
				ssize_t r =
				    ws_frame_parse(&p, f + off, off < 100 ? 1 : n - off, &c);

				assert_true(r > 0);
				for (size_t j = 0; j < c.len; j++)
					assert_int_equal(c.data[j], '*');
				got += c.len;
				off += (size_t)r;
			}
			assert_true(c.end);
			assert_int_equal(got, lengths[i]);
			assert_int_equal(p.frame.length, lengths[i]);
		}
	}
	free(f);
	free(payload);
	free(want);
}

/* The RFC allows non-minimal length encodings: 5 bytes in 16 and 64 bits. */
static void test_non_minimal_lengths(void **state)
{
	uint8_t f[64];
	size_t n;

	(void)state;
	n = ws_client_frame(f, 0x81, "hello", 5, 16, true);
	assert_int_equal(n, 2 + 2 + 4 + 5);
	expect(f, n, 0, "1/10[hello]");
	n = ws_client_frame(f, 0x81, "hello", 5, 64, true);
	assert_int_equal(n, 2 + 8 + 4 + 5);
	expect(f, n, 0, "1/10[hello]");
	n = ws_client_frame(f, 0x89, "", 0, 16, true);
	expect(f, n, 0, "9/10[]");
}

static void test_unmasked(void **state)
{
	uint8_t f[64];
	size_t n = ws_client_frame(f, 0x81, "Hello", 5, 0, false);

	(void)state;
	expect(f, n, 0, "E1002");
	/* refused from the second byte on, before any payload */
	expect(f, 2, 0, "E1002");
}

/* Autobahn 3.x: reserved bits without an extension; RSV1 with deflate. */
static void test_reserved_bits(void **state)
{
	uint8_t f[64];
	size_t n;

	(void)state;
	for (unsigned rsv = 1; rsv < 8; rsv++) {
		n = ws_client_frame(f, (uint8_t)(0x81 | rsv << 4), "x", 1, 0, true);
		expect(f, n, 0, "E1002");
		expect(f, 1, 0, "E1002");
		if (rsv == WS_RSV1)
			expect(f, n, WS_RSV1, "1/14[x]");
		else
			expect(f, n, WS_RSV1, "E1002");
	}
}

/* Autobahn 4.x: opcodes 3-7 and 0xb-0xf are refused at the first byte. */
static void test_opcodes(void **state)
{
	uint8_t f[64];
	size_t n;

	(void)state;
	for (unsigned op = 0; op < 16; op++) {
		bool known = op <= 2 || (op >= 8 && op <= 0xa);
		char want[32];

		n = ws_client_frame(f, (uint8_t)(0x80 | op), "ab", 2, 0, true);
		snprintf(want, sizeof(want), "%x/10[ab]", op);
		expect(f, n, 0, known ? want : "E1002");
		if (!known)
			expect(f, 1, 0, "E1002");
	}
}

/* Autobahn 2.4/2.5, 5.1/5.2: control frames are short and never fragmented. */
static void test_control_frames(void **state)
{
	uint8_t f[512], payload[126];
	char want[160];
	size_t n;

	(void)state;
	memset(payload, 'p', sizeof(payload));
	n = ws_client_frame(f, 0x89, payload, 125, 0, true);
	snprintf(want, sizeof(want), "9/10[%.125s]", (const char *)payload);
	expect(f, n, 0, want);
	n = ws_client_frame(f, 0x89, payload, 126, 0, true);
	expect(f, n, 0, "E1002");
	expect(f, 8, 0, "E1002"); /* refused with the header, before the payload */
	n = ws_client_frame(f, 0x89, payload, 3, 16, true); /* 16-bit form, short: fine */
	expect(f, n, 0, "9/10[ppp]");
	n = ws_client_frame(f, 0x09, "ab", 2, 0, true);
	expect(f, n, 0, "E1002");
	expect(f, 1, 0, "E1002");
	n = ws_client_frame(f, 0x0a, "ab", 2, 0, true);
	expect(f, n, 0, "E1002");
	n = ws_client_frame(f, 0x08, "", 0, 0, true);
	expect(f, n, 0, "E1002");
}

/* A 64-bit length with its most significant bit set is refused at once. */
static void test_length_top_bit(void **state)
{
	uint8_t f[16] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1};

	(void)state;
	expect(f, 10, 0, "E1002");
	expect(f, 3, 0, "E1002");
	f[2] = 0x7f; /* the largest allowed: parsed, then incomplete */
	memcpy(f + 10, ws_client_key, 4);
	expect(f, 14, 0, "2/10[+");
}

/* Frames back to back, partial input, and the unmask offset across pieces. */
static void test_stream(void **state)
{
	uint8_t f[256];
	size_t n = 0;

	(void)state;
	n += ws_client_frame(f + n, 0x01, "abcdefg", 7, 0, true);
	n += ws_client_frame(f + n, 0x89, "ping", 4, 0, true);
	n += ws_client_frame(f + n, 0x00, "hijklmnopq", 10, 0, true);
	n += ws_client_frame(f + n, 0x80, "", 0, 0, true);
	n += ws_client_frame(f + n, 0x88,
			     "\x03\xe8"
			     "bye",
			     5, 0, true);
	expect(f, n, 0, "1/00[abcdefg]9/10[ping]0/00[hijklmnopq]0/10[]8/10[\\03\\e8bye]");
	expect(f, 1, 0, "+");
	expect(f, 6, 0, "1/00[+");
	expect(f, 9, 0, "1/00[abc+");
}

/* ws_frame_unmask at every offset and length, against the slow way. */
static void test_unmask(void **state)
{
	uint8_t a[64], b[64];

	(void)state;
	for (size_t pos = 0; pos < 8; pos++)
		for (size_t n = 0; n <= 40; n++) {
			for (size_t i = 0; i < n; i++)
				a[i] = b[i] = (uint8_t)(i * 7 + pos);
			ws_frame_unmask(a, n, ws_client_key, pos);
			for (size_t i = 0; i < n; i++)
				assert_int_equal(a[i], b[i] ^ ws_client_key[(pos + i) & 3]);
		}
}

static void test_writer(void **state)
{
	uint8_t h[WS_HEADER_MAX], f[WS_CONTROL_MAX + 2], payload[126];

	(void)state;
	assert_int_equal(ws_frame_header(h, true, 0, WS_OP_TEXT, 0), 2);
	assert_memory_equal(h, "\x81\x00", 2);
	assert_int_equal(ws_frame_header(h, false, WS_RSV1, WS_OP_BINARY, 125), 2);
	assert_memory_equal(h, "\x42\x7d", 2);
	assert_int_equal(ws_frame_header(h, true, 0, WS_OP_CONT, 126), 4);
	assert_memory_equal(h, "\x80\x7e\x00\x7e", 4);
	assert_int_equal(ws_frame_header(h, true, 0, WS_OP_BINARY, 65535), 4);
	assert_memory_equal(h, "\x82\x7e\xff\xff", 4);
	assert_int_equal(ws_frame_header(h, true, 0, WS_OP_BINARY, 65536), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(ws_frame_header(h, true, 0, WS_OP_BINARY, 1ULL << 40), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x01\x00\x00\x00\x00\x00", 10);

	assert_int_equal(ws_frame_control(f, WS_OP_PONG, (const uint8_t *)"Hello", 5), 7);
	assert_memory_equal(f, "\x8a\x05Hello", 7);
	assert_int_equal(ws_frame_control(f, WS_OP_PING, NULL, 0), 2);
	assert_memory_equal(f, "\x89\x00", 2);
	memset(payload, 'x', sizeof(payload));
	assert_int_equal(ws_frame_control(f, WS_OP_PING, payload, 125), 127);
	assert_int_equal(ws_frame_control(f, WS_OP_PING, payload, 126), -1);
	assert_int_equal(ws_frame_control(f, WS_OP_TEXT, payload, 1), -1);
	assert_int_equal(ws_frame_control(f, 0xb, payload, 1), -1);
}

static void test_close_payload(void **state)
{
	uint8_t out[WS_CONTROL_MAX];
	char reason[130];

	(void)state;
	assert_int_equal(ws_frame_close_payload(out, 1000, "bye", 3), 5);
	assert_memory_equal(out,
			    "\x03\xe8"
			    "bye",
			    5);
	assert_int_equal(ws_frame_close_payload(out, 4999, NULL, 0), 2);
	assert_memory_equal(out, "\x13\x87", 2);
	memset(reason, 'r', sizeof(reason));
	assert_int_equal(ws_frame_close_payload(out, 1001, reason, 123), 125);
	assert_int_equal(ws_frame_close_payload(out, 1001, reason, 124), -1);
	assert_int_equal(ws_frame_close_payload(out, 1000, "\xed\xa0\x80", 3), -1);
	assert_int_equal(ws_frame_close_payload(out, 1005, NULL, 0), -1);
	assert_int_equal(ws_frame_close_payload(out, 1006, NULL, 0), -1);
	assert_int_equal(ws_frame_close_payload(out, 999, NULL, 0), -1);
}

/* Autobahn 7.3, 7.5, 7.7, 7.9, 7.13: close payloads as received. */
static void test_close_parse(void **state)
{
	/* 7.7.x, and 1012-1014 registered since */
	static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
					 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
	/* 7.9.x, 7.13.x, and the rest of the reserved ranges' edges */
	static const unsigned invalid[] = {0,    999,  1004, 1005, 1006,  1016, 1100,
					   2000, 2999, 1015, 5000, 65535, 1,    1999};
	const uint8_t *reason;
	size_t rlen;
	unsigned code, fail;
	uint8_t p[WS_CONTROL_MAX] = {0};

	(void)state;
	/* 7.3.1: empty: no status */
	assert_int_equal(ws_frame_close_parse(p, 0, &code, &reason, &rlen, &fail), 0);
	assert_int_equal(code, WS_CLOSE_NO_STATUS);
	assert_int_equal(rlen, 0);
	/* 7.3.2: one byte */
	p[0] = 0x03;
	assert_int_equal(ws_frame_close_parse(p, 1, &code, &reason, &rlen, &fail), -1);
	assert_int_equal(fail, 1002);
	/* 7.3.3-7.3.5: a code, with a reason up to 123 bytes */
	memcpy(p, "\x03\xe8Hello World!", 14);
	assert_int_equal(ws_frame_close_parse(p, 2, &code, &reason, &rlen, &fail), 0);
	assert_int_equal(code, 1000);
	assert_int_equal(ws_frame_close_parse(p, 14, &code, &reason, &rlen, &fail), 0);
	assert_int_equal(rlen, 12);
	assert_memory_equal(reason, "Hello World!", 12);
	memset(p + 2, '*', 123);
	assert_int_equal(ws_frame_close_parse(p, 125, &code, &reason, &rlen, &fail), 0);
	assert_int_equal(rlen, 123);
	/* 7.5.1: a reason that is not UTF-8 */
	memcpy(p + 2,
	       "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
	       "edited",
	       20);
	assert_int_equal(ws_frame_close_parse(p, 22, &code, &reason, &rlen, &fail), -1);
	assert_int_equal(fail, 1007);
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		p[0] = (uint8_t)(valid[i] >> 8);
		p[1] = (uint8_t)valid[i];
		assert_int_equal(ws_frame_close_parse(p, 2, &code, &reason, &rlen, &fail), 0);
		assert_int_equal(code, valid[i]);
		assert_true(ws_frame_close_code_valid(valid[i]));
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		p[0] = (uint8_t)(invalid[i] >> 8);
		p[1] = (uint8_t)invalid[i];
		assert_int_equal(ws_frame_close_parse(p, 2, &code, &reason, &rlen, &fail), -1);
		assert_int_equal(fail, 1002);
		assert_false(ws_frame_close_code_valid(invalid[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_non_minimal_lengths),
		cmocka_unit_test(test_unmasked),
		cmocka_unit_test(test_reserved_bits),
		cmocka_unit_test(test_opcodes),
		cmocka_unit_test(test_control_frames),
		cmocka_unit_test(test_length_top_bit),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_unmask),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_close_payload),
		cmocka_unit_test(test_close_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
