/*
 * ws_handshake — the server's side of the WebSocket opening handshake (RFC
 * 6455 section 4.2): validating an upgrade request, computing
 * Sec-WebSocket-Accept, listing the subprotocols the client offers (the
 * application chooses), negotiating permessage-deflate (RFC 7692 section
 * 7), and writing the 101 response head or the refusal.
 *
 * Works on a parsed request head (workers/http/parser.h's header slices);
 * the results are slices of the same bytes, valid as long as they are.
 * Runs in workers, any thread, no GIL needed; never allocates, never blocks,
 * never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "workers/http/parser.h"
#include "workers/http/ws_deflate.h"

#define WS_MAX_PROTOCOLS 16 /* subprotocols one request may offer */
#define WS_ACCEPT_LEN    28 /* base64 of a SHA-1 */

struct ws_protocol {
	const char *name; /* a token, as the client spelled it */
	size_t len;
};

struct ws_handshake {
	const char *key; /* Sec-WebSocket-Key as sent (24 characters) */
	size_t key_len;
	const char *origin; /* Origin, NULL if none */
	size_t origin_len;
	struct ws_protocol protocols[WS_MAX_PROTOCOLS]; /* offered, in order */
	size_t num_protocols;
	bool deflate;                    /* permessage-deflate accepted ... */
	struct ws_deflate_params params; /* ... with these parameters */

	/* set on -1 */
	int status; /* 400, or 426 for a version other than 13 */
	const char *error;

	/* private: what the response must echo */
	bool server_bits_; /* server_max_window_bits was offered */
	bool client_bits_; /* client_max_window_bits was offered with a value */
};

/*
 * True when the request asks for a WebSocket: an Upgrade field lists the
 * "websocket" protocol. Other requests are plain HTTP.
 */
bool ws_handshake_requested(const struct http_header *headers, size_t n);

/*
 * Validate an upgrade request: method GET, HTTP/1.1 or later, Upgrade
 * listing websocket, Connection listing upgrade, Sec-WebSocket-Version 13
 * (else 426), one Sec-WebSocket-Key that base64-decodes to 16 bytes, well
 * formed Sec-WebSocket-Protocol and Sec-WebSocket-Extensions lists. Fills
 * hs: the key, the origin, the offered subprotocols, and the first
 * acceptable permessage-deflate offer (offers with unknown, repeated or
 * invalid parameters, or server_max_window_bits=8 which zlib cannot honour,
 * are declined). Returns 0, or -1 with hs->status and hs->error.
 */
int ws_handshake_parse(struct ws_handshake *hs, const char *method, size_t method_len,
		       int version_minor, const struct http_header *headers, size_t n);

/*
 * Sec-WebSocket-Accept for key[0..len): base64(SHA-1(key + the RFC's GUID))
 * into out[0..WS_ACCEPT_LEN], NUL-terminated. Returns 0, -1 if libcrypto
 * fails.
 */
int ws_handshake_accept(const char *key, size_t len, char *out);

/*
 * Write the 101 Switching Protocols head for hs into out[0..size): Upgrade,
 * Connection, Sec-WebSocket-Accept, Sec-WebSocket-Protocol when protocol is
 * not NULL (the application's choice: one of hs->protocols), the
 * permessage-deflate answer when hs->deflate, then extra[0..extra_len)
 * (complete "Name: value\r\n" lines, or nothing) and the empty line.
 * Returns its length, -1 when out is too small, protocol was not offered or
 * libcrypto fails.
 */
ssize_t ws_handshake_response(const struct ws_handshake *hs, const char *protocol,
			      size_t protocol_len, const char *extra, size_t extra_len, char *out,
			      size_t size);

/*
 * Write the refusal of a failed handshake (hs->status: 400, or 426 with
 * Sec-WebSocket-Version: 13) into out[0..size), a complete response with an
 * empty body after which the connection closes. Returns its length, -1 when
 * out is too small.
 */
ssize_t ws_handshake_refusal(const struct ws_handshake *hs, char *out, size_t size);
