/*
 * ws_message — the reading side of a server WebSocket connection: client
 * frames (ws_frame) assembled into messages (RFC 6455 section 5.4), control
 * frames interleaved with fragments, text validated as UTF-8 while it
 * arrives (1007 on the first invalid byte), permessage-deflate inflated
 * (ws_deflate), and the message size limit (1009) checked as bytes arrive,
 * on the wire and after inflating.
 *
 * Zero-copy for uncompressed data: message bytes are delivered as slices of
 * the caller's read buffer, unmasked in place. Inflated bytes go to the
 * caller's output buffer. Control payloads (at most 125 bytes) are kept in
 * the struct. Pings and pongs are only reported: answering a ping (a pong
 * with the same payload, ws_frame_control) is the caller's job.
 *
 * Runs in workers, any thread, no GIL needed; never blocks, never logs;
 * allocates only zlib's state for a compressed message (ws_deflate).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "workers/http/utf8.h"
#include "workers/http/ws_deflate.h"
#include "workers/http/ws_frame.h"

enum ws_event_kind {
	WS_EV_NONE = 0, /* nothing yet: need more bytes */
	WS_EV_DATA,     /* a piece of a message */
	WS_EV_PING,     /* data/len: the ping's payload, to echo in a pong */
	WS_EV_PONG,
	WS_EV_CLOSE, /* the client's close: code, reason; nothing follows */
};

struct ws_event {
	enum ws_event_kind kind;
	uint8_t opcode;      /* WS_EV_DATA: WS_OP_TEXT or WS_OP_BINARY */
	bool first;          /* WS_EV_DATA: the message's first piece */
	bool last;           /* WS_EV_DATA: its last piece: the message is complete */
	const uint8_t *data; /* the piece (may be empty), or a control payload */
	size_t len;
	unsigned code;         /* WS_EV_CLOSE: the close code, WS_CLOSE_NO_STATUS if none */
	const uint8_t *reason; /* WS_EV_CLOSE: UTF-8, not NUL-terminated */
	size_t reason_len;
};

struct ws_message {
	uint64_t max; /* bytes of one message at most (inflated), 0: no limit */

	/* set on -1 */
	uint16_t code; /* the close code to send: 1002, 1007, 1009, 1011 */
	const char *error;

	/* private */
	struct ws_frame_parser frames_;
	struct ws_inflater inflater_;
	bool deflate_; /* permessage-deflate negotiated */
	uint8_t *out_; /* the caller's buffer for inflated bytes */
	size_t out_size_;
	uint8_t opcode_; /* the message in progress (TEXT, BINARY), 0 if none */
	bool fin_;       /* its current data frame is its last */
	bool compressed_;
	bool first_;        /* no piece of it delivered yet */
	bool payload_done_; /* its final frame's payload is all consumed */
	bool draining_;     /* the inflater filled out_: more may be pending */
	uint64_t wire_;     /* its payload bytes on the wire so far */
	size_t pending_;    /* unmasked compressed bytes at the start of the
			       next buf that the inflater has not taken yet */
	struct utf8 utf8_;
	uint8_t ctl_[WS_CONTROL_MAX];
	uint8_t ctl_len_;
	bool closed_;
	bool failed_;
};

/*
 * Prepare m for a connection's client frames. max: the message limit in
 * bytes (0: none). deflate: the negotiated permessage-deflate parameters, or
 * NULL; then out[0..out_size) (out_size > 0) receives inflated bytes, and
 * may be shared by connections that are fed one at a time, since an event's
 * data is only valid until the next call.
 */
void ws_message_init(struct ws_message *m, uint64_t max, const struct ws_deflate_params *deflate,
		     uint8_t *out, size_t out_size);

/*
 * Consume client bytes buf[0..len), those that follow what earlier calls
 * consumed, and report at most one event in *ev; the event's data stays
 * valid until the next call (a slice of buf, of out, or of m). Returns the
 * bytes consumed (0 .. len): the caller drops them, keeps the rest at the
 * start of the next call's buf (the rest may already be unmasked: do not
 * change it), and calls again while the call consumed bytes or reported an
 * event; 0 with WS_EV_NONE means "need more bytes". After WS_EV_CLOSE the
 * rest is ignored (0, WS_EV_NONE). -1 (sticky) when the connection must
 * fail: m->code is the close code to send (1002 protocol error, 1007
 * invalid UTF-8 or compressed data, 1009 over max, 1011 out of memory),
 * m->error a short reason.
 */
ssize_t ws_message_feed(struct ws_message *m, uint8_t *buf, size_t len, struct ws_event *ev);

/*
 * True when the bytes fed so far end inside a frame (its header or its
 * payload): the client owes the rest of it. Between frames (even between
 * the fragments of a message) it may be idle for as long as it likes.
 */
bool ws_message_in_frame(const struct ws_message *m);

/* Free what m holds (zlib's state); m can be dropped after. */
void ws_message_free(struct ws_message *m);
