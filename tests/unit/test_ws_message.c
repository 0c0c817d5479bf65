/*
 * test_ws_message — unit tests for workers/http/ws_message.c.
 *
 * Each client byte stream is fed whole and in pieces of 1, 2, 3, 7 and 13
 * bytes (consumed bytes dropped, the rest kept at the start of the next,
 * exactly sized buffer), with inflate output buffers of 1, 7 and 4096
 * bytes; every way must give the same transcript of messages, control
 * frames and verdict. The cases follow Autobahn|Testsuite's server cases
 * (sections 1-7, 9 and 12-13), each named by its number where it has one.
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
#include "workers/http/ws_message.h"

#define TRANSCRIPT (1 << 20)
#define STREAM     (1 << 20)

/* κόσμε */
#define KOSME "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

/* A client stream being built. */
struct stream {
	uint8_t *p;
	size_t n;
};

static const struct ws_deflate_params deflate_params = {
	.server_max_window_bits = 15,
	.client_max_window_bits = 15,
};

static size_t cases;

static struct stream *stream_new(void);
static void add(struct stream *s, uint8_t b0, const void *payload, size_t n);
static void feed(const uint8_t *in, size_t n, uint64_t max, bool deflate, size_t step,
		 size_t out_size, char *t);
static void expect(const struct stream *s, uint64_t max, bool deflate, const char *want);

static struct stream *stream_new(void)
{
	static struct stream s;
	static uint8_t buf[STREAM];

	s.p = buf;
	s.n = 0;
	return &s;
}

static void add(struct stream *s, uint8_t b0, const void *payload, size_t n)
{
	assert_true(s->n + n + 14 <= STREAM);
	s->n += ws_client_frame(s->p + s->n, b0, payload, n, 0, true);
}

static void put_bytes(char *t, size_t *tl, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && *tl + 8 < TRANSCRIPT; i++)
		*tl += (size_t)snprintf(t + *tl, TRANSCRIPT - *tl,
					p[i] >= 0x20 && p[i] < 0x7f ? "%c" : "\\%02x", p[i]);
}

/*
 * Feed in[0..n) in pieces of step bytes (0: whole) into a transcript:
 * "T<text>|" or "B<bytes>|" per message, "P<payload>|" for a ping,
 * "O<payload>|" for a pong, "C<code>:<reason>|" for a close, "E<code>" on
 * failure (what a failed message delivered before is left out: it depends
 * on the split), "+" when the input ended inside a message.
 */
static void feed(const uint8_t *in, size_t n, uint64_t max, bool deflate, size_t step,
		 size_t out_size, char *t)
{
	struct ws_message m;
	uint8_t *out = malloc(out_size), *held = NULL;
	size_t have = 0, off = 0, tl = 0, msg_at = 0;
	bool inside = false;

	assert_non_null(out);
	ws_message_init(&m, max, deflate ? &deflate_params : NULL, out, out_size);
	t[0] = '\0';
	for (;;) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		uint8_t *buf = ws_client_refill(held, have, in + off, k);
		struct ws_event ev;
		ssize_t r;

		assert_non_null(buf);
		off += k;
		have += k;
		held = buf;
		/* as a worker would: call until nothing is consumed or reported */
		while ((r = ws_message_feed(&m, buf, have, &ev)) > 0 || ev.kind != WS_EV_NONE) {
			assert_true(r <= (ssize_t)have);
			switch (ev.kind) {
			case WS_EV_DATA:
				assert_int_equal(ev.first, !inside);
				if (!inside)
					msg_at = tl;
				if (!inside)
					tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "%c",
							       ev.opcode == WS_OP_TEXT ? 'T' : 'B');
				/* zero-copy: uncompressed data lies in buf */
				assert_true(ev.len == 0 ||
					    (ev.data >= out && ev.data < out + out_size) ||
					    (ev.data >= buf && ev.data + ev.len <= buf + r));
				put_bytes(t, &tl, ev.data, ev.len);
				inside = !ev.last;
				if (ev.last)
					tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "|");
				break;
			case WS_EV_PING:
			case WS_EV_PONG:
				tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "%c",
						       ev.kind == WS_EV_PING ? 'P' : 'O');
				put_bytes(t, &tl, ev.data, ev.len);
				tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "|");
				break;
			case WS_EV_CLOSE:
				tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "C%u:", ev.code);
				put_bytes(t, &tl, ev.reason, ev.reason_len);
				tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "|");
				break;
			case WS_EV_NONE:
				break;
			}
			memmove(buf, buf + r, have - (size_t)r);
			have -= (size_t)r;
		}
		if (r < 0) {
			assert_non_null(m.error);
			/* how much of a failed message came before is the split's business */
			if (inside)
				tl = msg_at;
			tl += (size_t)snprintf(t + tl, TRANSCRIPT - tl, "E%u", m.code);
			assert_int_equal(ws_message_feed(&m, buf, have, &ev), -1);
			inside = false;
			break;
		}
		if (off == n)
			break;
	}
	if (inside)
		snprintf(t + tl, TRANSCRIPT - tl, "+");
	free(held);
	free(out);
	ws_message_free(&m);
}

static void expect(const struct stream *s, uint64_t max, bool deflate, const char *want)
{
	static const size_t steps[] = {0, 1, 2, 3, 7, 13};
	static const size_t outs[] = {4096, 1, 7};
	char *got = malloc(TRANSCRIPT);

	assert_non_null(got);
	cases++;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		for (size_t j = 0; j < (deflate ? 3 : 1); j++) {
			/* long streams: whole and byte by byte only */
			if (s->n > 100000 && steps[i] > 1)
				continue;
			feed(s->p, s->n, max, deflate, steps[i], outs[j], got);
			if (strcmp(got, want) != 0)
				fail_msg("step %zu out %zu:\ngot  %s\nwant %s", steps[i], outs[j],
					 got, want);
		}
	free(got);
}

/* Autobahn 1.1/1.2: text and binary of the lengths around the encodings. */
static void test_section1_framing(void **state)
{
	static const size_t lengths[] = {0, 125, 126, 127, 128, 65535, 65536};
	char *want = malloc(TRANSCRIPT);
	uint8_t *payload = malloc(65536);

	(void)state;
	memset(payload, '*', 65536);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		struct stream *s = stream_new();

		add(s, 0x81, payload, lengths[i]);
		add(s, 0x82, payload, lengths[i]);
		snprintf(want, TRANSCRIPT, "T%.*s|B%.*s|", (int)lengths[i], payload,
			 (int)lengths[i], payload);
		expect(s, 0, false, want);
	}
	free(want);
	free(payload);
}

/* Autobahn 2.x: pings and pongs. */
static void test_section2_ping_pong(void **state)
{
	struct stream *s;
	uint8_t p[126];

	(void)state;
	memset(p, 0xfe, sizeof(p));
	s = stream_new(); /* 2.1 */
	add(s, 0x89, "", 0);
	expect(s, 0, false, "P|");
	s = stream_new(); /* 2.2 */
	add(s, 0x89, "Hello, world!", 13);
	expect(s, 0, false, "PHello, world!|");
	s = stream_new(); /* 2.3 */
	add(s, 0x89, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8);
	expect(s, 0, false, "P\\00\\ff\\fe\\fd\\fc\\fb\\00\\ff|");
	s = stream_new(); /* 2.4 */
	add(s, 0x89, p, 125);
	{
		char want[600] = "P";

		for (int i = 0; i < 125; i++)
			strcat(want, "\\fe");
		strcat(want, "|");
		expect(s, 0, false, want);
	}
	s = stream_new(); /* 2.5 */
	add(s, 0x89, p, 126);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 2.7, 2.8 */
	add(s, 0x8a, "", 0);
	add(s, 0x8a, "unsolicited pong payload", 24);
	expect(s, 0, false, "O|Ounsolicited pong payload|");
	s = stream_new(); /* 2.9 */
	add(s, 0x8a, "unsolicited pong payload", 24);
	add(s, 0x89, "ping payload", 12);
	expect(s, 0, false, "Ounsolicited pong payload|Pping payload|");
	s = stream_new(); /* 2.10 */
	for (int i = 0; i < 10; i++)
		add(s, 0x89, "payload-0", 9);
	expect(s, 0, false,
	       "Ppayload-0|Ppayload-0|Ppayload-0|Ppayload-0|Ppayload-0|Ppayload-0|Ppayload-0|"
	       "Ppayload-0|Ppayload-0|Ppayload-0|");
}

/* Autobahn 3.x: reserved bits without an extension. */
static void test_section3_reserved(void **state)
{
	struct stream *s;

	(void)state;
	s = stream_new(); /* 3.1 */
	add(s, 0x81 | 0x40, "Hello, world!", 13);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 3.2 */
	add(s, 0x81, "Hello, world!", 13);
	add(s, 0x81 | 0x20, "Hello, world!", 13);
	add(s, 0x89, "", 0);
	expect(s, 0, false, "THello, world!|E1002");
	s = stream_new(); /* 3.3 */
	add(s, 0x81, "Hello, world!", 13);
	add(s, 0x81 | 0x30, "Hello, world!", 13);
	expect(s, 0, false, "THello, world!|E1002");
	s = stream_new(); /* 3.4 */
	add(s, 0x81 | 0x10, "Hello, world!", 13);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 3.5 */
	add(s, 0x82 | 0x50, "\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 3.6 */
	add(s, 0x89 | 0x60, "Hello, world!", 13);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 3.7 */
	add(s, 0x88 | 0x70, "", 0);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* RSV1 on a control frame even with deflate */
	add(s, 0x89 | 0x40, "x", 1);
	expect(s, 0, true, "E1002");
}

/* Autobahn 4.x: reserved opcodes, alone and after a good message. */
static void test_section4_opcodes(void **state)
{
	static const uint8_t ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};

	(void)state;
	for (size_t i = 0; i < sizeof(ops); i++) {
		struct stream *s = stream_new();

		add(s, 0x80 | ops[i], "reserved", 8);
		expect(s, 0, false, "E1002");
		s = stream_new();
		add(s, 0x81, "Hello, world!", 13);
		add(s, 0x80 | ops[i], "reserved", 8);
		add(s, 0x89, "", 0);
		expect(s, 0, false, "THello, world!|E1002");
	}
}

/* Autobahn 5.x: fragmentation, with control frames between fragments. */
static void test_section5_fragmentation(void **state)
{
	struct stream *s;

	(void)state;
	s = stream_new(); /* 5.1 */
	add(s, 0x09, "fragment1", 9);
	add(s, 0x80, "fragment2", 9);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 5.2 */
	add(s, 0x0a, "fragment1", 9);
	add(s, 0x80, "fragment2", 9);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 5.3-5.5 */
	add(s, 0x01, "fragment1", 9);
	add(s, 0x80, "fragment2", 9);
	expect(s, 0, false, "Tfragment1fragment2|");
	s = stream_new(); /* 5.6-5.8 */
	add(s, 0x01, "fragment1", 9);
	add(s, 0x89, "ping payload", 12);
	add(s, 0x80, "fragment2", 9);
	expect(s, 0, false, "Tfragment1Pping payload|fragment2|");
	s = stream_new(); /* 5.9-5.11: a continuation first */
	add(s, 0x80, "non-continuation payload", 24);
	add(s, 0x81, "Hello, world!", 13);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 5.12-5.14 */
	add(s, 0x00, "non-continuation payload", 24);
	add(s, 0x81, "Hello, world!", 13);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 5.15 */
	add(s, 0x01, "fragment1", 9);
	add(s, 0x80, "fragment2", 9);
	add(s, 0x00, "fragment3", 9);
	add(s, 0x80, "fragment4", 9);
	expect(s, 0, false, "Tfragment1fragment2|E1002");
	s = stream_new(); /* 5.16 */
	add(s, 0x00, "fragment1", 9);
	add(s, 0x01, "fragment2", 9);
	add(s, 0x80, "fragment3", 9);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 5.17 */
	add(s, 0x80, "fragment1", 9);
	add(s, 0x01, "fragment2", 9);
	add(s, 0x80, "fragment3", 9);
	expect(s, 0, false, "E1002");
}

/* Autobahn 5.18-5.20: a new message inside one, pings between fragments. */
static void test_section5_new_message_inside(void **state)
{
	struct stream *s = stream_new(); /* 5.18: the first fragment, then the failure */

	(void)state;
	add(s, 0x01, "fragment1", 9);
	add(s, 0x81, "fragment2", 9);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 5.19/5.20: pings between fragments */
	add(s, 0x01, "fragment1", 9);
	add(s, 0x00, "fragment2", 9);
	add(s, 0x89, "pongme 1!", 9);
	add(s, 0x00, "fragment3", 9);
	add(s, 0x89, "pongme 2!", 9);
	add(s, 0x80, "fragment5", 9);
	expect(s, 0, false, "Tfragment1fragment2Ppongme 1!|fragment3Ppongme 2!|fragment5|");
}

/* Autobahn 6.1-6.4: UTF-8 in text messages, across fragments, fail fast. */
static void test_section6_utf8(void **state)
{
	static const char hello[] = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0"
				    "\xc3\xa1-UTF-8!!";
	static const char bad[] = KOSME "\xed\xa0\x80"
					"edited";
	struct stream *s;
	size_t n;

	(void)state;
	s = stream_new(); /* 6.1.1 */
	add(s, 0x81, "", 0);
	expect(s, 0, false, "T|");
	s = stream_new(); /* 6.1.2 */
	add(s, 0x01, "", 0);
	add(s, 0x00, "", 0);
	add(s, 0x80, "", 0);
	expect(s, 0, false, "T|");
	s = stream_new(); /* 6.1.3 */
	add(s, 0x01, "", 0);
	add(s, 0x00, "middle frame payload", 20);
	add(s, 0x80, "", 0);
	expect(s, 0, false, "Tmiddle frame payload|");
	s = stream_new(); /* 6.2.1 */
	add(s, 0x81, hello, sizeof(hello) - 1);
	expect(s, 0, false,
	       "THello-\\c2\\b5@\\c3\\9f\\c3\\b6\\c3\\a4\\c3\\bc\\c3\\a0\\c3\\a1-UTF-8!!|");
	s = stream_new(); /* 6.2.2: two fragments, split at a code point */
	add(s, 0x01, hello, 8);
	add(s, 0x80, hello + 8, sizeof(hello) - 1 - 8);
	expect(s, 0, false,
	       "THello-\\c2\\b5@\\c3\\9f\\c3\\b6\\c3\\a4\\c3\\bc\\c3\\a0\\c3\\a1-UTF-8!!|");
	s = stream_new(); /* 6.2.3/6.2.4: one byte per fragment, code points split */
	for (size_t i = 0; i < sizeof(KOSME) - 1; i++)
		add(s, i == 0 ? 0x01 : i == sizeof(KOSME) - 2 ? 0x80 : 0x00, KOSME + i, 1);
	expect(s, 0, false, "T\\ce\\ba\\e1\\bd\\b9\\cf\\83\\ce\\bc\\ce\\b5|");
	s = stream_new(); /* 6.3.1 */
	add(s, 0x81, bad, sizeof(bad) - 1);
	expect(s, 0, false, "E1007");
	s = stream_new(); /* 6.3.2: one byte per fragment */
	for (size_t i = 0; i < sizeof(bad) - 1; i++)
		add(s, i == 0 ? 0x01 : i == sizeof(bad) - 2 ? 0x80 : 0x00, bad + i, 1);
	expect(s, 0, false, "E1007");

	/* 6.4.1: three fragments, the second invalid: fail before the third */
	s = stream_new();
	add(s, 0x01, KOSME, 11);
	add(s, 0x00, "\xf4\x90\x80\x80", 4);
	expect(s, 0, false, "E1007");
	/* 6.4.2: the invalid byte is the first of the second fragment */
	s = stream_new();
	add(s, 0x01, KOSME "\xf4", 12);
	n = s->n;
	add(s, 0x00, "\x90\x80\x80", 3);
	s->n = n + 2 + 4 + 1; /* the fragment's header and first byte only */
	expect(s, 0, false, "E1007");
	/* 6.4.3: one frame, its payload cut after the invalid sequence */
	s = stream_new();
	add(s, 0x81,
	    KOSME "\xf4\x90\x80\x80"
		  "edited",
	    21);
	s->n -= 6;
	expect(s, 0, false, "E1007");
	/* 6.4.4: cut just after the first invalid byte (0x90 after 0xf4) */
	s->n -= 2;
	expect(s, 0, false, "E1007");
	/* a text ending inside a code point */
	s = stream_new();
	add(s, 0x81, KOSME, 10);
	expect(s, 0, false, "E1007");
	/* binary is not checked */
	s = stream_new();
	add(s, 0x82, "\xed\xa0\x80", 3);
	expect(s, 0, false, "B\\ed\\a0\\80|");
}

/* Autobahn 7.x: the close frame, and what follows it. */
static void test_section7_close(void **state)
{
	struct stream *s;
	uint8_t reason[126];

	(void)state;
	s = stream_new(); /* 7.1.1 */
	add(s, 0x81, "Hello World!", 12);
	add(s, 0x88, "\x03\xe8", 2);
	expect(s, 0, false, "THello World!|C1000:|");
	s = stream_new(); /* 7.1.2-7.1.4: nothing after a close counts */
	add(s, 0x88, "\x03\xe8", 2);
	add(s, 0x88, "\x03\xe8", 2);
	add(s, 0x89, "", 0);
	add(s, 0x81, "Hello World!", 12);
	add(s, 0x8f, "", 0);
	expect(s, 0, false, "C1000:|");
	s = stream_new(); /* 7.1.5: a close inside a fragmented message */
	add(s, 0x01, "fragment1", 9);
	add(s, 0x88, "\x03\xe8", 2);
	add(s, 0x80, "fragment2", 9);
	expect(s, 0, false, "Tfragment1C1000:|+");
	s = stream_new(); /* 7.1.6: a long message, a ping, a close, a ping */
	{
		static char want[300000];
		static uint8_t big[262144];

		memset(big, 'B', sizeof(big));
		add(s, 0x81, big, sizeof(big));
		add(s, 0x89, "Hello World!", 12);
		add(s, 0x88, "\x03\xe8", 2);
		add(s, 0x89, "Hello World!", 12);
		snprintf(want, sizeof(want), "T%.*s|PHello World!|C1000:|", (int)sizeof(big),
			 (const char *)big);
		expect(s, 0, false, want);
	}
	s = stream_new(); /* 7.3.1 */
	add(s, 0x88, "", 0);
	expect(s, 0, false, "C1005:|");
	s = stream_new(); /* 7.3.2 */
	add(s, 0x88, "\x03", 1);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 7.3.4 */
	add(s, 0x88, "\x03\xe8Hello World!", 14);
	expect(s, 0, false, "C1000:Hello World!|");
	memset(reason, '*', sizeof(reason));
	reason[0] = 0x03;
	reason[1] = 0xe8;
	s = stream_new(); /* 7.3.5: a reason of 123 bytes */
	add(s, 0x88, reason, 125);
	expect(s, 0, false,
	       "C1000:*****************************************************************"
	       "**********************************************************|");
	s = stream_new(); /* 7.3.6: 124 bytes: the frame is too long */
	add(s, 0x88, reason, 126);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* 7.5.1 */
	add(s, 0x88,
	    "\x03\xe8" KOSME "\xed\xa0\x80"
	    "edited",
	    22);
	expect(s, 0, false, "E1007");
	s = stream_new(); /* 7.7.1, 7.9.1, 7.13.1 */
	add(s, 0x88, "\x0b\xb8", 2);
	expect(s, 0, false, "C3000:|");
	s = stream_new();
	add(s, 0x88, "\x03\xed", 2);
	expect(s, 0, false, "E1002");
	s = stream_new();
	add(s, 0x88, "\x13\x88", 2);
	expect(s, 0, false, "E1002");
}

/* Autobahn 9.x in miniature: the message limit, checked at each header. */
static void test_section9_limits(void **state)
{
	struct stream *s;
	uint8_t big[200], head[16];
	char want[256];

	(void)state;
	memset(big, 'x', sizeof(big));
	s = stream_new();
	add(s, 0x82, big, 100);
	snprintf(want, sizeof(want), "B%.100s|", (const char *)big);
	expect(s, 100, false, want);
	s = stream_new();
	add(s, 0x82, big, 101);
	expect(s, 100, false, "E1009");
	/* refused from the header alone, before any payload */
	s = stream_new();
	s->n = ws_client_frame(head, 0x82, NULL, 1ULL << 40, 0, true);
	memcpy(s->p, head, s->n);
	expect(s, 16 << 20, false, "E1009");
	/* fragments: the sum counts; control frames do not */
	s = stream_new();
	add(s, 0x01, big, 60);
	add(s, 0x89, big, 100);
	add(s, 0x80, big, 41);
	expect(s, 100, false, "E1009");
	s = stream_new();
	add(s, 0x01, big, 60);
	add(s, 0x89, big, 100);
	add(s, 0x80, big, 40);
	snprintf(want, sizeof(want), "T%.60sP%.100s|%.40s|", (const char *)big, (const char *)big,
		 (const char *)big);
	expect(s, 100, false, want);
	/* each message counts from zero */
	s = stream_new();
	add(s, 0x81, big, 3);
	add(s, 0x81, big, 3);
	expect(s, 3, false, "Txxx|Txxx|");
}

/* Client-side compression for the tests: ws_deflate plays the client. */
static size_t compress(const void *msg, size_t n, uint8_t *z, bool reset)
{
	static struct ws_deflater d;
	static bool ready;
	ssize_t zn;

	if (reset || !ready) {
		ws_deflater_free(&d);
		ws_deflater_init(&d, &deflate_params);
		ready = true;
	}
	zn = ws_deflate(&d, msg, n, z, ws_deflate_bound(n));
	assert_true(zn > 0);
	return (size_t)zn;
}

/* Autobahn 12.x/13.x: permessage-deflate messages, fragmented or not. */
static void test_section12_deflate(void **state)
{
	static uint8_t z[70000], msg[65536];
	struct stream *s;
	size_t zn;

	(void)state;
	s = stream_new();
	zn = compress("Hello", 5, z, true);
	add(s, 0xc1, z, zn);
	zn = compress("Hello", 5, z, false); /* context takeover */
	add(s, 0xc1, z, zn);
	add(s, 0x81, "plain", 5); /* RSV1 clear: not compressed */
	zn = compress("", 0, z, false);
	add(s, 0xc2, z, zn);
	expect(s, 0, true, "THello|THello|Tplain|B|");

	/* fragmented, with a ping in between; RSV1 on the first frame only */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)('a' + (i * 7 + i / 13) % 26);
	zn = compress(msg, 300, z, true);
	s = stream_new();
	add(s, 0x41, z, zn / 3);
	add(s, 0x89, "ping", 4);
	add(s, 0x00, z + zn / 3, zn / 3);
	add(s, 0x80, z + 2 * (zn / 3), zn - 2 * (zn / 3));
	{
		char *got = malloc(TRANSCRIPT);
		size_t outs[] = {1, 7, 4096};

		for (size_t j = 0; j < 3; j++) {
			char *p, *q;

			feed(s->p, s->n, 0, true, j + 1, outs[j], got);
			/* remove the ping, which lands between pieces of the text */
			p = strstr(got, "Pping|");
			assert_non_null(p);
			memmove(p, p + 6, strlen(p + 6) + 1);
			q = got;
			assert_int_equal(*q, 'T');
			assert_int_equal(strlen(q), 1 + 300 + 1);
			assert_memory_equal(q + 1, msg, 300);
		}
		free(got);
		cases++;
	}

	s = stream_new(); /* RSV1 on a continuation */
	zn = compress("Hello", 5, z, true);
	add(s, 0x41, z, zn);
	add(s, 0xc0, "", 0);
	expect(s, 0, true, "E1002");
	s = stream_new(); /* RSV1 without the extension */
	add(s, 0xc1, z, zn);
	expect(s, 0, false, "E1002");
	s = stream_new(); /* inflated text that is not UTF-8 */
	zn = compress(KOSME "\xed\xa0\x80", 14, z, true);
	add(s, 0xc1, z, zn);
	expect(s, 0, true, "E1007");
	s = stream_new(); /* corrupt compressed data */
	add(s, 0xc1, "\x07\x00", 2);
	expect(s, 0, true, "E1007");
}

/* A deflate bomb: the message limit applies to inflated bytes, as they come. */
static void test_section13_bomb(void **state)
{
	size_t big = 4 << 20, zn;
	uint8_t *msg = calloc(1, big), *z = malloc(ws_deflate_bound(big));
	struct stream *s = stream_new();
	char *got = malloc(TRANSCRIPT);

	(void)state;
	zn = compress(msg, big, z, true);
	add(s, 0xc2, z, zn);
	/* the payload cut in half: the limit is hit before the frame ends */
	s->n -= zn / 2;
	feed(s->p, s->n, 65536, true, 0, 4096, got);
	assert_string_equal(got, "E1009");
	feed(s->p, s->n, 65536, true, 1, 7, got);
	assert_string_equal(got, "E1009");
	/* within the limit: the whole message */
	s = stream_new();
	zn = compress(msg, 65536, z, true);
	add(s, 0xc2, z, zn);
	for (size_t step = 0; step < 3; step++) {
		feed(s->p, s->n, 65536, true, step, 4096, got);
		assert_null(strstr(got, "E"));
		assert_int_equal(strlen(got), 1 + 3 * 65536 + 1); /* "\\00" per byte */
	}
	/* a text both invalid and too big: what comes first in it decides */
	memset(msg, 'a', 200);
	memcpy(msg + 20, "\xff", 1);
	zn = compress(msg, 200, z, true);
	s = stream_new();
	add(s, 0xc1, z, zn);
	expect(s, 64, true, "E1007");
	memcpy(msg + 20, "a", 1);
	memcpy(msg + 100, "\xff", 1);
	zn = compress(msg, 200, z, true);
	s = stream_new();
	add(s, 0xc1, z, zn);
	expect(s, 64, true, "E1009");
	cases += 2;
	free(msg);
	free(z);
	free(got);
}

/*
 * ws_message_in_frame: false between frames (also between the fragments of
 * a message), true from a frame's first byte to its last, fed byte by byte.
 */
static void test_in_frame(void **state)
{
	uint8_t in[64];
	size_t n = ws_client_frame(in, 0x01, "frag", 4, 0, true);
	struct ws_message m;
	struct ws_event ev;

	(void)state;
	n += ws_client_frame(in + n, 0x80, "ment", 4, 0, true);
	ws_message_init(&m, 0, NULL, NULL, 0);
	assert_false(ws_message_in_frame(&m));
	for (size_t i = 0; i < n; i++) {
		ssize_t r;

		do
			r = ws_message_feed(&m, in + i, 1, &ev);
		while (r == 0 && ev.kind != WS_EV_NONE);
		assert_int_equal(r, 1);
		/* the first frame ends at byte 9 (2 header, 4 mask, 4 payload) */
		assert_int_equal(ws_message_in_frame(&m), i != 9 && i != n - 1);
	}
	ws_message_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_section1_framing),
		cmocka_unit_test(test_section2_ping_pong),
		cmocka_unit_test(test_section3_reserved),
		cmocka_unit_test(test_section4_opcodes),
		cmocka_unit_test(test_section5_fragmentation),
		cmocka_unit_test(test_section5_new_message_inside),
		cmocka_unit_test(test_section6_utf8),
		cmocka_unit_test(test_section7_close),
		cmocka_unit_test(test_section9_limits),
		cmocka_unit_test(test_section12_deflate),
		cmocka_unit_test(test_section13_bomb),
		cmocka_unit_test(test_in_frame),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	printf("# %zu client streams checked\n", cases);
	return failed;
}
