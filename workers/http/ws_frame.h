/*
 * ws_frame — WebSocket framing, server side (RFC 6455 section 5): an
 * incremental parser of client frames, the writer of server frames, and the
 * close payload (code and reason) both ways.
 *
 * The parser is zero-copy: it reads frame headers from the caller's buffer
 * and unmasks payload bytes in place as it consumes them. It enforces what a
 * single frame can break (masking, reserved bits, opcodes, control frame
 * size and fragmentation, the 64-bit length); message-level rules
 * (continuations, size limits, UTF-8, compression) belong to ws_message.
 *
 * Runs in workers, any thread, no GIL needed; never allocates, never blocks,
 * never logs.
 *
 * Return codes: >= 0 bytes consumed or written, -1 bad input (the close code
 * to send is in the parser's code field), as everywhere in workers/http/.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opcodes (section 5.2). */
#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xa

/* Reserved bits as they sit in the rsv field (RSV1 is permessage-deflate's). */
#define WS_RSV1 0x4
#define WS_RSV2 0x2
#define WS_RSV3 0x1

#define WS_CONTROL_MAX      125 /* payload bytes of a control frame */
#define WS_CLOSE_REASON_MAX 123 /* bytes of a close reason */
#define WS_HEADER_MAX       10  /* bytes of a server frame header (unmasked) */

/* Close codes (section 7.4.1) kirin sends. */
#define WS_CLOSE_NORMAL         1000
#define WS_CLOSE_GOING_AWAY     1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_NO_STATUS      1005 /* reported for a close frame without a code; never sent */
#define WS_CLOSE_INVALID_DATA   1007
#define WS_CLOSE_POLICY         1008
#define WS_CLOSE_TOO_BIG        1009
#define WS_CLOSE_INTERNAL_ERROR 1011

struct ws_frame {
	bool fin;
	uint8_t rsv; /* WS_RSV1 | WS_RSV2 | WS_RSV3 */
	uint8_t opcode;
	bool masked;     /* always true once parsed: unmasked frames are refused */
	uint64_t length; /* payload bytes, below 2^63 */
	uint8_t mask[4];
};

struct ws_frame_parser {
	struct ws_frame frame; /* the current frame, valid from its header on */
	uint64_t remaining;    /* its payload bytes not consumed yet */
	unsigned rsv_allowed;  /* reserved bits an extension negotiated */

	/* set on -1 */
	uint16_t code; /* close code to send: 1002 */
	const char *error;

	/* private */
	uint8_t head_[14]; /* header bytes of a header split between calls */
	uint8_t have_;     /* how many of them */
	bool in_payload_;  /* the header is done: payload bytes follow */
	bool failed_;
};

/* What one ws_frame_parse() call produced. */
struct ws_chunk {
	bool header;   /* the frame header completed in this call: see p->frame */
	uint8_t *data; /* payload bytes of the current frame, unmasked in place */
	size_t len;
	bool end; /* the current frame's payload is complete */
};

/*
 * Prepare p for a connection's frames; rsv_allowed is the reserved bits
 * negotiated extensions use (WS_RSV1 with permessage-deflate, else 0).
 */
void ws_frame_parser_init(struct ws_frame_parser *p, unsigned rsv_allowed);

/*
 * Parse frames from buf[0..len), the bytes that follow those consumed by the
 * previous calls. One call never crosses a frame boundary: it consumes what
 * is left of the current header (kept in p, so the caller may drop consumed
 * bytes) and as much of the frame's payload as buf holds, unmasks that
 * payload in place and describes it in *c (c->data points into buf). Returns
 * the bytes consumed, at least 1 when len > 0; -1 (sticky) on a frame that
 * breaks section 5 (p->code 1002, p->error): not masked, a reserved bit not
 * in rsv_allowed, an unknown opcode, a fragmented control frame or one over
 * 125 bytes, a 64-bit length with its top bit set. Non-minimal length
 * encodings are accepted, as the RFC allows.
 */
ssize_t ws_frame_parse(struct ws_frame_parser *p, uint8_t *buf, size_t len, struct ws_chunk *c);

/*
 * Unmask n payload bytes in place whose first byte is at offset pos of the
 * payload. Pure function.
 */
void ws_frame_unmask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t pos);

/*
 * Write a server frame header (never masked) into out[0..WS_HEADER_MAX):
 * fin, reserved bits, opcode and the payload length in its shortest
 * encoding. Returns the header length (2, 4 or 10). The payload follows it
 * on the wire as is (writev). Pure function.
 */
size_t ws_frame_header(uint8_t *out, bool fin, unsigned rsv, unsigned opcode, uint64_t length);

/*
 * Write a whole control frame (close, ping, pong) with payload[0..n) into
 * out[0..WS_CONTROL_MAX + 2). Returns its length, -1 when n exceeds
 * WS_CONTROL_MAX or opcode is not a control opcode.
 */
ssize_t ws_frame_control(uint8_t *out, unsigned opcode, const uint8_t *payload, size_t n);

/*
 * Write a close payload into out[0..WS_CONTROL_MAX): code in network order,
 * then reason[0..n). Returns its length, -1 when the code may not be sent
 * (ws_frame_close_code_valid) or the reason is longer than
 * WS_CLOSE_REASON_MAX bytes or not UTF-8.
 */
ssize_t ws_frame_close_payload(uint8_t *out, unsigned code, const char *reason, size_t n);

/*
 * True for the close codes a close frame may carry (section 7.4): 1000-1003,
 * 1007-1014 and 3000-4999. 1004-1006 and 1015 are reserved, the rest
 * unassigned.
 */
bool ws_frame_close_code_valid(unsigned code);

/*
 * Read a received close payload p[0..n): *code (WS_CLOSE_NO_STATUS when
 * empty) and the reason as a slice of p. Returns 0, or -1 with *fail_code the
 * close code to answer: 1002 for a 1-byte payload or an invalid code, 1007
 * for a reason that is not UTF-8.
 */
int ws_frame_close_parse(const uint8_t *p, size_t n, unsigned *code, const uint8_t **reason,
			 size_t *reason_len, unsigned *fail_code);
