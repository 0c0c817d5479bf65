/* ws_message — see ws_message.h. */
#include "workers/http/ws_message.h"

#include <assert.h>
#include <string.h>

/*
 * Compressed payload may exceed the inflated size a little (stored blocks:
 * 5 bytes per 64 KiB, a few more per flush): its wire limit is this much
 * above max, so that a message of max bytes always passes.
 */
#define WIRE_SLACK(max) ((max) / 256 + 1024)

static ssize_t fail(struct ws_message *m, uint16_t code, const char *error);
static int start_frame(struct ws_message *m);
static ssize_t control(struct ws_message *m, const struct ws_chunk *c, ssize_t used,
		       struct ws_event *ev);
static int deliver(struct ws_message *m, const uint8_t *data, size_t n, bool last,
		   struct ws_event *ev);
static ssize_t inflate_step(struct ws_message *m, const uint8_t *data, size_t n,
			    struct ws_event *ev);

void ws_message_init(struct ws_message *m, uint64_t max, const struct ws_deflate_params *deflate,
		     uint8_t *out, size_t out_size)
{
	memset(m, 0, sizeof(*m));
	m->max = max;
	ws_frame_parser_init(&m->frames_, deflate ? WS_RSV1 : 0);
	if (deflate) {
		assert(out != NULL && out_size > 0);
		m->deflate_ = true;
		ws_inflater_init(&m->inflater_, deflate, max);
		m->out_ = out;
		m->out_size_ = out_size;
	}
}

bool ws_message_in_frame(const struct ws_message *m)
{
	return m->frames_.have_ > 0 || (m->frames_.in_payload_ && m->frames_.remaining > 0);
}

void ws_message_free(struct ws_message *m)
{
	ws_inflater_free(&m->inflater_);
}

static ssize_t fail(struct ws_message *m, uint16_t code, const char *error)
{
	m->failed_ = true;
	m->code = code;
	m->error = error;
	return -1;
}

/* Message-level rules for the frame whose header just arrived. */
static int start_frame(struct ws_message *m)
{
	const struct ws_frame *f = &m->frames_.frame;
	uint64_t limit = m->max;

	if (f->opcode & 0x8) {
		if (f->rsv)
			return (int)fail(m, WS_CLOSE_PROTOCOL_ERROR,
					 "reserved bit on a control frame");
		m->ctl_len_ = 0;
		return 0;
	}
	if (f->opcode == WS_OP_CONT) {
		if (m->opcode_ == 0)
			return (int)fail(m, WS_CLOSE_PROTOCOL_ERROR,
					 "continuation without a message");
		if (f->rsv & WS_RSV1)
			return (int)fail(m, WS_CLOSE_PROTOCOL_ERROR,
					 "RSV1 on a continuation frame");
	} else {
		if (m->opcode_ != 0)
			return (int)fail(m, WS_CLOSE_PROTOCOL_ERROR,
					 "new message inside a fragmented one");
		m->opcode_ = f->opcode;
		m->compressed_ = f->rsv & WS_RSV1;
		m->first_ = true;
		m->payload_done_ = false;
		m->wire_ = 0;
		utf8_init(&m->utf8_);
	}
	m->fin_ = f->fin;
	if (m->compressed_ && limit)
		limit += WIRE_SLACK(limit);
	if (limit && (f->length > limit || m->wire_ > limit - f->length))
		return (int)fail(m, WS_CLOSE_TOO_BIG, "message over the limit");
	m->wire_ += f->length;
	return 0;
}

/* A piece of control payload; the event once the frame is complete. */
static ssize_t control(struct ws_message *m, const struct ws_chunk *c, ssize_t used,
		       struct ws_event *ev)
{
	const struct ws_frame *f = &m->frames_.frame;
	unsigned fail_code;

	memcpy(m->ctl_ + m->ctl_len_, c->data, c->len);
	m->ctl_len_ = (uint8_t)(m->ctl_len_ + c->len);
	if (!c->end)
		return used;
	ev->data = m->ctl_;
	ev->len = m->ctl_len_;
	if (f->opcode == WS_OP_PING) {
		ev->kind = WS_EV_PING;
	} else if (f->opcode == WS_OP_PONG) {
		ev->kind = WS_EV_PONG;
	} else {
		if (ws_frame_close_parse(m->ctl_, m->ctl_len_, &ev->code, &ev->reason,
					 &ev->reason_len, &fail_code) < 0)
			return fail(m, (uint16_t)fail_code, "bad close frame");
		ev->kind = WS_EV_CLOSE;
		m->closed_ = true;
	}
	return used;
}

/*
 * Report data[0..n) of the current message (validated as UTF-8 if text);
 * last: the message ends with it. Empty pieces are reported only when last.
 */
static int deliver(struct ws_message *m, const uint8_t *data, size_t n, bool last,
		   struct ws_event *ev)
{
	if (m->opcode_ == WS_OP_TEXT &&
	    (utf8_feed(&m->utf8_, data, n, NULL) < 0 || (last && !utf8_complete(&m->utf8_))))
		return (int)fail(m, WS_CLOSE_INVALID_DATA, "text message not UTF-8");
	if (n == 0 && !last)
		return 0;
	ev->kind = WS_EV_DATA;
	ev->opcode = m->opcode_;
	ev->first = m->first_;
	ev->last = last;
	ev->data = data;
	ev->len = n;
	m->first_ = false;
	if (last)
		m->opcode_ = 0;
	return 0;
}

/*
 * Inflate the next n unmasked compressed bytes (m->pending_ of them belong
 * to the current message); returns how many the inflater took, -1.
 */
static ssize_t inflate_step(struct ws_message *m, const uint8_t *data, size_t n,
			    struct ws_event *ev)
{
	size_t took, made;
	bool fin = m->payload_done_ && n == m->pending_;
	int rc = ws_inflate(&m->inflater_, data, n, fin, m->out_, m->out_size_, &took, &made);

	if (rc == -1) {
		/* the bytes inflated before the failure come first in the stream */
		if (m->opcode_ == WS_OP_TEXT && utf8_feed(&m->utf8_, m->out_, made, NULL) < 0)
			return fail(m, WS_CLOSE_INVALID_DATA, "text message not UTF-8");
		return fail(m, m->inflater_.code, m->inflater_.error);
	}
	m->pending_ -= took;
	m->draining_ = rc == -2 && made == m->out_size_;
	if (deliver(m, m->out_, made, rc == 0, ev) < 0)
		return -1;
	return (ssize_t)took;
}

ssize_t ws_message_feed(struct ws_message *m, uint8_t *buf, size_t len, struct ws_event *ev)
{
	struct ws_chunk c;
	ssize_t used;
	size_t head;

	memset(ev, 0, sizeof(*ev));
	if (m->failed_)
		return -1;
	if (m->closed_)
		return 0;
	if (m->compressed_ && (m->pending_ > 0 || m->draining_)) {
		used = inflate_step(m, buf, len < m->pending_ ? len : m->pending_, ev);
		if (used != 0 || ev->kind != WS_EV_NONE)
			return used;
	}
	if (len == 0)
		return 0;
	used = ws_frame_parse(&m->frames_, buf, len, &c);
	if (used < 0)
		return fail(m, m->frames_.code, m->frames_.error);
	if (!c.header && c.len == 0 && !c.end)
		return used; /* a header still incomplete */
	if (c.header && start_frame(m) < 0)
		return -1;
	if (m->frames_.frame.opcode & 0x8)
		return control(m, &c, used, ev);
	if (!m->compressed_) {
		if (deliver(m, c.data, c.len, c.end && m->fin_, ev) < 0)
			return -1;
		return used;
	}
	/* compressed: what the inflater does not take now stays pending */
	head = (size_t)used - c.len;
	m->pending_ = c.len;
	m->payload_done_ = c.end && m->fin_;
	used = inflate_step(m, c.data, c.len, ev);
	if (used < 0)
		return -1;
	return (ssize_t)head + used;
}
