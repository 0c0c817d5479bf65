/*
 * fuzz_websocket — libFuzzer target for the WebSocket reading side:
 * workers/http/ws_message.c over ws_frame.c, utf8.c and ws_deflate.c.
 *
 * The first input byte picks the settings (permessage-deflate or not, the
 * message limit, the inflate output buffer's size); the rest is a client
 * byte stream. It is fed whole and in pseudo-random pieces of 1..16 bytes
 * (the consumed bytes dropped, the rest moved to a new buffer of exactly the
 * right size, so AddressSanitizer sees any over-read); both transcripts of
 * events must be identical, or the target aborts. Each complete text
 * message must be valid UTF-8, each message within the limit, each close
 * code valid. The same bytes also go through the frame parser alone (whole
 * and split must agree) and through the inflater as a compressed payload
 * (whole and byte by byte must give the same verdict, and the same bytes
 * when the message is complete). Last, the bytes are parsed as a request
 * head and, if they are one, go through the opening handshake: every 101
 * head it writes (with each offered subprotocol) must be clean header
 * lines ending in an empty line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/chars.h"
#include "workers/http/parser.h"
#include "workers/http/utf8.h"
#include "workers/http/ws_deflate.h"
#include "workers/http/ws_frame.h"
#include "workers/http/ws_handshake.h"
#include "workers/http/ws_message.h"

/* A growing record of what a run produced. */
struct log {
	uint8_t *p;
	size_t n, cap;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ws_deflate_params params = {
	.server_max_window_bits = 15,
	.client_max_window_bits = 15,
};

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_websocket: %s\n", what);
		abort();
	}
}

static void put(struct log *l, const void *p, size_t n)
{
	if (l->n + n > l->cap) {
		l->cap = (l->n + n) * 2 + 64;
		l->p = realloc(l->p, l->cap);
		check(l->p != NULL, "realloc");
	}
	if (n)
		memcpy(l->p + l->n, p, n);
	l->n += n;
}

static uint32_t next(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/* The next piece's size: all that is left (step 0), else 1..step at random. */
static size_t piece(size_t step, size_t left, uint32_t *seed)
{
	size_t k = step == 0 ? left : 1 + next(seed) % step;

	return k < left ? k : left;
}

/* buf grown by k bytes of in, the held ones first, at its exact size. */
static uint8_t *grow(uint8_t *held, size_t have, const uint8_t *in, size_t k)
{
	uint8_t *buf = malloc(have + k ? have + k : 1);

	check(buf != NULL, "malloc");
	if (have)
		memcpy(buf, held, have);
	if (k)
		memcpy(buf + have, in, k);
	free(held);
	return buf;
}

/*
 * Feed in[0..n) to an assembler in pieces (step 0: whole, else 1..step at
 * random) and log its events; a failed message's partial data is dropped
 * from the log (how much of it came out depends on the split).
 */
static void run_messages(const uint8_t *in, size_t n, uint64_t max, bool deflate, size_t out_size,
			 size_t step, uint32_t seed, struct log *l)
{
	struct ws_message m;
	struct log msg = {0};
	uint8_t *out = malloc(out_size), *buf = NULL;
	size_t have = 0, off = 0, msg_at = 0;
	bool inside = false;

	check(out != NULL, "malloc");
	ws_message_init(&m, max, deflate ? &params : NULL, out, out_size);
	for (;;) {
		size_t k = piece(step, n - off, &seed);
		struct ws_event ev;
		ssize_t r;

		buf = grow(buf, have, in + off, k);
		off += k;
		have += k;
		while ((r = ws_message_feed(&m, buf, have, &ev)) > 0 || ev.kind != WS_EV_NONE) {
			uint8_t kind = (uint8_t)ev.kind;

			check(r >= 0 && (size_t)r <= have, "consumed out of range");
			if (ev.kind == WS_EV_DATA) {
				check(ev.first == !inside, "first flag");
				check(ev.opcode == WS_OP_TEXT || ev.opcode == WS_OP_BINARY,
				      "opcode");
				if (!inside) {
					msg_at = l->n;
					msg.n = 0;
					put(l, &ev.opcode, 1);
				}
				put(l, ev.data, ev.len);
				put(&msg, ev.data, ev.len);
				check(max == 0 || msg.n <= max, "message over the limit");
				inside = !ev.last;
				if (ev.last) {
					check(ev.opcode != WS_OP_TEXT || utf8_valid(msg.p, msg.n),
					      "text not UTF-8");
					put(l, "|", 1);
				}
			} else if (ev.kind == WS_EV_CLOSE) {
				check(ev.code == WS_CLOSE_NO_STATUS ||
					  ws_frame_close_code_valid(ev.code),
				      "close code");
				check(utf8_valid(ev.reason, ev.reason_len), "close reason");
				put(l, &kind, 1);
				put(l, &ev.code, sizeof(ev.code));
				put(l, ev.reason, ev.reason_len);
			} else if (ev.kind != WS_EV_NONE) {
				check(ev.len <= WS_CONTROL_MAX, "control payload too long");
				put(l, &kind, 1);
				put(l, ev.data, ev.len);
			}
			memmove(buf, buf + r, have - (size_t)r);
			have -= (size_t)r;
		}
		if (r < 0) {
			check(m.code == 1002 || m.code == 1007 || m.code == 1009 || m.code == 1011,
			      "failure code");
			if (inside)
				l->n = msg_at;
			put(l, "E", 1);
			put(l, &m.code, sizeof(m.code));
			break;
		}
		if (off == n)
			break;
	}
	free(buf);
	free(out);
	free(msg.p);
	ws_message_free(&m);
}

/* The frame parser alone: headers, payload bytes, verdict. */
static void run_frames(const uint8_t *in, size_t n, size_t step, uint32_t seed, struct log *l)
{
	struct ws_frame_parser p;
	uint8_t *buf = NULL;
	size_t have = 0, off = 0;

	ws_frame_parser_init(&p, WS_RSV1);
	while (off < n || have > 0) {
		size_t k = piece(step, n - off, &seed);
		struct ws_chunk c;
		ssize_t r;

		buf = grow(buf, have, in + off, k);
		off += k;
		have += k;
		r = ws_frame_parse(&p, buf, have, &c);
		if (r < 0) {
			put(l, "E", 1);
			break;
		}
		check((size_t)r <= have && (have == 0 || r > 0), "frame: consumed out of range");
		if (c.header) {
			put(l, "H", 1);
			put(l, &p.frame, sizeof(p.frame));
			check(!(p.frame.opcode & 8) || (p.frame.fin && p.frame.length <= 125),
			      "bad control frame accepted");
		}
		put(l, c.data, c.len);
		if (c.end)
			put(l, "|", 1);
		memmove(buf, buf + r, have - (size_t)r);
		have -= (size_t)r;
	}
	free(buf);
}

/* The bytes as one compressed message, inflated whole or byte by byte. */
static int run_inflate(const uint8_t *in, size_t n, uint64_t max, bool bytewise, struct log *l)
{
	struct ws_inflater z;
	uint8_t out[97];
	size_t off = 0;
	int rc;

	ws_inflater_init(&z, &params, max);
	do {
		size_t k = bytewise && n - off > 0 ? 1 : n - off, took, made;
		uint8_t *piece = grow(NULL, 0, in + off, k);

		rc = ws_inflate(&z, piece, k, off + k == n, out, sizeof(out), &took, &made);
		free(piece);
		check(took <= k && made <= sizeof(out), "inflate: out of range");
		put(l, out, made);
		off += took;
		if (rc == -2)
			check(took > 0 || made > 0 || off < n || k == 0, "inflate: no progress");
	} while (rc == -2);
	if (rc == -1)
		check(z.code == 1007 || z.code == 1009 || z.code == 1011, "inflate: code");
	ws_inflater_free(&z);
	return rc;
}

/* A 101 head: CRLF-terminated lines of clean field bytes, then an empty line. */
static void check_head(const char *h, size_t n)
{
	size_t at = 0;

	check(n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0, "101 head not terminated");
	while (at < n - 2) {
		const char *crlf = memmem(h + at, n - at, "\r\n", 2);

		check(crlf != NULL, "101 head line not terminated");
		check(chars_is_field_value(h + at, (size_t)(crlf - h) - at), "101 head line not clean");
		at = (size_t)(crlf - h) + 2;
	}
}

/* The bytes as a request head, then as an opening handshake. */
static void run_handshake(const uint8_t *in, size_t n)
{
	static struct http_header fields[64];
	struct http_request req;
	struct ws_handshake hs;
	char *buf = malloc(n ? n : 1), out[2048];
	ssize_t r;

	check(buf != NULL, "malloc");
	if (n)
		memcpy(buf, in, n);
	http_request_init(&req, fields, 64);
	if (http_parse_request(&req, buf, n, NULL) > 0 &&
	    ws_handshake_requested(req.headers, req.num_headers)) {
		if (ws_handshake_parse(&hs, req.method, req.method_len, req.version_minor,
				       req.headers, req.num_headers) == 0) {
			check(hs.key_len == 24 && hs.num_protocols <= WS_MAX_PROTOCOLS, "handshake");
			check(!hs.deflate || (hs.params.server_max_window_bits >= 9 &&
					      hs.params.server_max_window_bits <= 15 &&
					      hs.params.client_max_window_bits >= 8 &&
					      hs.params.client_max_window_bits <= 15),
			      "window bits");
			r = ws_handshake_response(&hs, NULL, 0, NULL, 0, out, sizeof(out));
			check(r > 0, "101 head");
			check_head(out, (size_t)r);
			for (size_t i = 0; i < hs.num_protocols; i++) {
				r = ws_handshake_response(&hs, hs.protocols[i].name,
							  hs.protocols[i].len, NULL, 0, out,
							  sizeof(out));
				check(r > 0, "101 head with a protocol");
				check_head(out, (size_t)r);
			}
		} else {
			check(hs.status == 400 || hs.status == 426, "refusal status");
			r = ws_handshake_refusal(&hs, out, sizeof(out));
			check(r > 0, "refusal");
			check_head(out, (size_t)r);
		}
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t outs[] = {1, 7, 64, 4096};
	struct log a = {0}, b = {0};
	uint32_t seed = 1;
	uint64_t max;
	uint8_t ctl;
	bool deflate;
	size_t out_size;
	int ra, rb;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	for (size_t i = 0; i < size && i < 64; i++)
		seed = seed * 31 + data[i];
	deflate = ctl & 1;
	max = (ctl >> 1) & 7 ? 1ULL << (4 + 2 * ((ctl >> 1) & 7)) : 0;
	out_size = outs[(ctl >> 4) & 3];

	run_messages(data, size, max, deflate, out_size, 0, seed, &a);
	run_messages(data, size, max, deflate, out_size, 16, seed, &b);
	check(a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0),
	      "messages differ with the split");

	a.n = b.n = 0;
	run_frames(data, size, 0, seed, &a);
	run_frames(data, size, 16, seed, &b);
	check(a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0),
	      "frames differ with the split");

	a.n = b.n = 0;
	ra = run_inflate(data, size, max ? max : 1 << 20, false, &a);
	rb = run_inflate(data, size, max ? max : 1 << 20, true, &b);
	check(ra == rb, "inflate verdict differs byte by byte");
	if (ra == 0)
		check(a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0),
		      "inflate output differs byte by byte");

	run_handshake(data, size);
	free(a.p);
	free(b.p);
	return 0;
}
