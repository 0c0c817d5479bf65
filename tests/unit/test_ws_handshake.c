/*
 * test_ws_handshake — unit tests for workers/http/ws_handshake.c.
 *
 * Each request is parsed by workers/http/parser.c twice, whole and fed one
 * byte more per call, and the handshake must come out the same from both.
 * Vectors: RFC 6455 section 1.3/4.2's example (the key
 * dGhlIHNhbXBsZSBub25jZQ== and its accept value), RFC 7692 section 7's
 * negotiation rules for permessage-deflate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/parser.h"
#include "workers/http/ws_handshake.h"

#define FIELDS 64
#define BASE                                                                                       \
	"Host: server.example.com\r\n"                                                             \
	"Upgrade: websocket\r\n"                                                                   \
	"Connection: Upgrade\r\n"                                                                  \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                          \
	"Sec-WebSocket-Version: 13\r\n"

static struct http_request req;
static struct http_header headers[FIELDS];

static int handshake(struct ws_handshake *hs, const char *raw);
static void expect_refused(const char *raw, int status);
static void expect_deflate(const char *offer, const char *answer);

/*
 * Parse the request raw whole and byte by byte, run the handshake on both
 * heads; they must agree. Returns the handshake's result (hs from the whole
 * parse, its slices valid until the next call).
 */
static int handshake(struct ws_handshake *hs, const char *raw)
{
	static char whole[4096], grown[4096];
	static struct http_header h2[FIELDS];
	struct http_request r2;
	struct ws_handshake hs2;
	size_t n = strlen(raw);
	ssize_t r = HTTP_PARSE_AGAIN;
	int a, b;

	assert_true(n < sizeof(whole));
	memcpy(whole, raw, n);
	http_request_init(&req, headers, FIELDS);
	assert_true(http_parse_request(&req, whole, n, NULL) == (ssize_t)n);
	memcpy(grown, raw, n);
	http_request_init(&r2, h2, FIELDS);
	for (size_t k = 1; k <= n && r == HTTP_PARSE_AGAIN; k++)
		r = http_parse_request(&r2, grown, k, NULL);
	assert_int_equal(r, n);
	a = ws_handshake_parse(hs, req.method, req.method_len, req.version_minor, req.headers,
			       req.num_headers);
	b = ws_handshake_parse(&hs2, r2.method, r2.method_len, r2.version_minor, r2.headers,
			       r2.num_headers);
	assert_int_equal(a, b);
	assert_int_equal(hs->status, hs2.status);
	assert_int_equal(hs->num_protocols, hs2.num_protocols);
	assert_int_equal(hs->deflate, hs2.deflate);
	assert_memory_equal(&hs->params, &hs2.params, sizeof(hs->params));
	assert_int_equal(ws_handshake_requested(req.headers, req.num_headers),
			 ws_handshake_requested(r2.headers, r2.num_headers));
	return a;
}

static void expect_refused(const char *raw, int status)
{
	struct ws_handshake hs;

	assert_int_equal(handshake(&hs, raw), -1);
	assert_int_equal(hs.status, status);
	assert_non_null(hs.error);
}

/* RFC 6455: the example request, its accept value, the 101 response. */
static void test_rfc_example(void **state)
{
	struct ws_handshake hs;
	char accept[WS_ACCEPT_LEN + 1], out[512];
	ssize_t n;

	(void)state;
	assert_int_equal(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, accept), 0);
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(handshake(&hs, "GET /chat HTTP/1.1\r\n" BASE
					"Origin: http://example.com\r\n"
					"Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"),
			 0);
	assert_true(ws_handshake_requested(req.headers, req.num_headers));
	assert_int_equal(hs.key_len, 24);
	assert_memory_equal(hs.key, "dGhlIHNhbXBsZSBub25jZQ==", 24);
	assert_int_equal(hs.origin_len, 18);
	assert_memory_equal(hs.origin, "http://example.com", 18);
	assert_int_equal(hs.num_protocols, 2);
	assert_memory_equal(hs.protocols[0].name, "chat", 4);
	assert_int_equal(hs.protocols[1].len, 9);
	assert_memory_equal(hs.protocols[1].name, "superchat", 9);
	assert_false(hs.deflate);
	n = ws_handshake_response(&hs, "chat", 4, NULL, 0, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, "HTTP/1.1 101 Switching Protocols\r\n"
				 "Upgrade: websocket\r\n"
				 "Connection: Upgrade\r\n"
				 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
				 "Sec-WebSocket-Protocol: chat\r\n\r\n");
	/* no protocol chosen; extra header lines */
	n = ws_handshake_response(&hs, NULL, 0, "X-A: b\r\n", 8, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, "HTTP/1.1 101 Switching Protocols\r\n"
				 "Upgrade: websocket\r\n"
				 "Connection: Upgrade\r\n"
				 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
				 "X-A: b\r\n\r\n");
	/* a protocol the client did not offer, a buffer too small */
	assert_int_equal(ws_handshake_response(&hs, "chatter", 7, NULL, 0, out, sizeof(out)), -1);
	assert_int_equal(ws_handshake_response(&hs, "Chat", 4, NULL, 0, out, sizeof(out)), -1);
	for (size_t size = 0; size < (size_t)n; size++)
		assert_int_equal(ws_handshake_response(&hs, NULL, 0, "X-A: b\r\n", 8, out, size),
				 -1);
	assert_int_equal(ws_handshake_response(&hs, NULL, 0, "X-A: b\r\n", 8, out, (size_t)n), n);
}

/* Tokens and lists are matched without regard to case, wherever they sit. */
static void test_lenient_forms(void **state)
{
	struct ws_handshake hs;

	(void)state;
	assert_int_equal(handshake(&hs, "GET / HTTP/1.1\r\n"
					"host: a\r\n"
					"upgrade: WebSocket\r\n"
					"connection: keep-alive, UPGRADE\r\n"
					"sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
					"sec-websocket-version: 13\r\n\r\n"),
			 0);
	assert_null(hs.origin);
	assert_int_equal(hs.num_protocols, 0);
	/* Connection and Upgrade over several lines */
	assert_int_equal(handshake(&hs, "GET / HTTP/1.1\r\n"
					"Host: a\r\n"
					"Upgrade: h2c\r\n"
					"Upgrade: foo/2, websocket\r\n"
					"Connection: keep-alive\r\n"
					"Connection: Upgrade\r\n"
					"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
					"Sec-WebSocket-Version: 13\r\n\r\n"),
			 0);
}

/* RFC 6455 section 4.2.1: each requirement, and its refusal. */
static void test_refusals(void **state)
{
	struct ws_handshake hs;
	char out[256];
	ssize_t n;

	(void)state;
	expect_refused("POST / HTTP/1.1\r\n" BASE "Content-Length: 0\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.0\r\n" BASE "\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		       "Sec-WebSocket-Version: 13\r\n\r\n",
		       400);
	assert_false(ws_handshake_requested(req.headers, req.num_headers));
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
		       "Connection: keep-alive\r\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		       "Sec-WebSocket-Version: 13\r\n\r\n",
		       400);
	assert_true(ws_handshake_requested(req.headers, req.num_headers));
	/* versions other than 13, none, or two: 426 */
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		       "Sec-WebSocket-Version: 8\r\n\r\n",
		       426);
	assert_int_equal(handshake(&hs, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
					"Connection: Upgrade\r\n"
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
			 -1);
	assert_int_equal(hs.status, 426);
	n = ws_handshake_refusal(&hs, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
				 "Connection: close\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(ws_handshake_refusal(&hs, out, (size_t)n - 1), -1);
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Version: 13\r\n\r\n", 426);
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Version: 7, 13\r\n\r\n", 426);
	/* keys: 16 bytes in base64, exactly one */
	assert_int_equal(handshake(&hs, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
					"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"),
			 -1);
	assert_int_equal(hs.status, 400);
	n = ws_handshake_refusal(&hs, out, sizeof(out));
	out[n] = '\0';
	assert_string_equal(out, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
				 "Content-Length: 0\r\n\r\n");
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Version: 13\r\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Version: 13\r\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZS*ub25jZQ==\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Version: 13\r\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=A\r\n\r\n",
		       400);
}

static void test_protocols(void **state)
{
	struct ws_handshake hs;
	char raw[2048] = "GET / HTTP/1.1\r\n" BASE;

	(void)state;
	assert_int_equal(handshake(&hs, "GET / HTTP/1.1\r\n" BASE
					"Sec-WebSocket-Protocol: a, , b\r\n"
					"Sec-WebSocket-Protocol: v2.json.example\r\n\r\n"),
			 0);
	assert_int_equal(hs.num_protocols, 3);
	assert_int_equal(hs.protocols[2].len, 15);
	assert_memory_equal(hs.protocols[2].name, "v2.json.example", 15);
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Protocol: a b\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Protocol: a, \"b\"\r\n\r\n", 400);
	for (int i = 0; i < WS_MAX_PROTOCOLS; i++)
		snprintf(raw + strlen(raw), sizeof(raw) - strlen(raw),
			 "Sec-WebSocket-Protocol: p%d\r\n", i);
	strcat(raw, "\r\n");
	assert_int_equal(handshake(&hs, raw), 0);
	assert_int_equal(hs.num_protocols, WS_MAX_PROTOCOLS);
	strcpy(raw + strlen(raw) - 2, "Sec-WebSocket-Protocol: one-too-many\r\n\r\n");
	expect_refused(raw, 400);
}

/* Negotiate offer; answer is the expected Sec-WebSocket-Extensions, or NULL. */
static void expect_deflate(const char *offer, const char *answer)
{
	struct ws_handshake hs;
	char raw[1024], out[512], want[512];
	ssize_t n;

	snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\n" BASE "%s\r\n", offer);
	assert_int_equal(handshake(&hs, raw), 0);
	n = ws_handshake_response(&hs, NULL, 0, NULL, 0, out, sizeof(out));
	assert_true(n > 0);
	out[n] = '\0';
	snprintf(want, sizeof(want),
		 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		 "%s%s%s\r\n",
		 answer ? "Sec-WebSocket-Extensions: " : "", answer ? answer : "",
		 answer ? "\r\n" : "");
	if (strcmp(out, want) != 0)
		fail_msg("offer %s\ngot  %s\nwant %s", offer, out, want);
	assert_int_equal(hs.deflate, answer != NULL);
}

/* RFC 7692 section 7: the offers a server accepts, and how it answers. */
static void test_deflate_negotiation(void **state)
{
	struct ws_handshake hs;

	(void)state;
	expect_deflate("", NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate\r\n", "permessage-deflate");
	assert_int_equal(handshake(&hs, "GET / HTTP/1.1\r\n" BASE
					"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
			 0);
	assert_false(hs.params.server_no_context_takeover);
	assert_false(hs.params.client_no_context_takeover);
	assert_int_equal(hs.params.server_max_window_bits, 15);
	assert_int_equal(hs.params.client_max_window_bits, 15);
	/* the usual browser offer */
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
		       "permessage-deflate");
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n",
		       "permessage-deflate; client_max_window_bits=10");
	assert_int_equal(handshake(&hs, "GET / HTTP/1.1\r\n" BASE
					"Sec-WebSocket-Extensions: permessage-deflate; "
					"server_max_window_bits=9; client_max_window_bits=8\r\n\r\n"),
			 0);
	assert_int_equal(hs.params.server_max_window_bits, 9);
	assert_int_equal(hs.params.client_max_window_bits, 8);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n",
		       "permessage-deflate; server_max_window_bits=10");
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate;server_no_context_takeover;"
		       "client_no_context_takeover\r\n",
		       "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate ; client_max_window_bits = "
		       "\"12\"\r\n",
		       "permessage-deflate; client_max_window_bits=12");
	/* declined offers: the first acceptable one wins */
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8, "
		       "permessage-deflate; client_no_context_takeover\r\n",
		       "permessage-deflate; client_no_context_takeover");
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=7\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=010\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; "
		       "server_no_context_takeover=1\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
		       "server_no_context_takeover\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; "
		       "client_max_window_bits=9\r\n",
		       NULL);
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; mystery\r\n", NULL);
	expect_deflate("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", NULL);
	expect_deflate("Sec-WebSocket-Extensions: foo; bar=\"a,b\", permessage-deflate\r\n",
		       "permessage-deflate");
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate; mystery\r\n"
		       "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
		       "permessage-deflate; server_no_context_takeover");
	expect_deflate("Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate; "
		       "server_no_context_takeover\r\n",
		       "permessage-deflate");
	/* syntax errors refuse the handshake */
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Extensions: permessage-deflate;\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\n" BASE
		       "Sec-WebSocket-Extensions: permessage-deflate; =1\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Extensions: permessage-deflate x\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\n" BASE
		       "Sec-WebSocket-Extensions: permessage-deflate; a=\"1\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\n" BASE
		       "Sec-WebSocket-Extensions: permessage-deflate; a=\r\n\r\n",
		       400);
	expect_refused("GET / HTTP/1.1\r\n" BASE "Sec-WebSocket-Extensions: ;a\r\n\r\n", 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_lenient_forms),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_deflate_negotiation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
