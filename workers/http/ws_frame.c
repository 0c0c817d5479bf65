/* ws_frame — see ws_frame.h. */
#include "workers/http/ws_frame.h"

#include <string.h>

#include "workers/http/utf8.h"

/* First header byte. */
#define B0_FIN    0x80
#define B0_RSV    0x70
#define B0_OPCODE 0x0f
/* Second header byte. */
#define B1_MASK 0x80
#define B1_LEN  0x7f

#define LEN16 126 /* a 16-bit length follows */
#define LEN64 127 /* a 64-bit length follows */

static ssize_t fail(struct ws_frame_parser *p, const char *error);
static bool is_control(unsigned opcode);
static bool known_opcode(unsigned opcode);
static size_t header_size(const uint8_t *h);
static int check_start(struct ws_frame_parser *p, const uint8_t *h, size_t have);
static void decode_header(struct ws_frame_parser *p, const uint8_t *h);

void ws_frame_parser_init(struct ws_frame_parser *p, unsigned rsv_allowed)
{
	memset(p, 0, sizeof(*p));
	p->rsv_allowed = rsv_allowed;
}

static ssize_t fail(struct ws_frame_parser *p, const char *error)
{
	p->failed_ = true;
	p->code = WS_CLOSE_PROTOCOL_ERROR;
	p->error = error;
	return -1;
}

static bool is_control(unsigned opcode)
{
	return opcode & 0x8;
}

static bool known_opcode(unsigned opcode)
{
	return opcode <= WS_OP_BINARY || (opcode >= WS_OP_CLOSE && opcode <= WS_OP_PONG);
}

/* The header's length from its first two bytes: 2 + extended length + mask. */
static size_t header_size(const uint8_t *h)
{
	size_t n = 2 + ((h[1] & B1_MASK) ? 4 : 0);

	if ((h[1] & B1_LEN) == LEN16)
		n += 2;
	else if ((h[1] & B1_LEN) == LEN64)
		n += 8;
	return n;
}

/* What can be refused from the first header bytes, as soon as they arrive. */
static int check_start(struct ws_frame_parser *p, const uint8_t *h, size_t have)
{
	unsigned opcode = h[0] & B0_OPCODE;

	if (((h[0] & B0_RSV) >> 4) & ~p->rsv_allowed)
		return (int)fail(p, "reserved bit set");
	if (!known_opcode(opcode))
		return (int)fail(p, "unknown opcode");
	if (is_control(opcode) && !(h[0] & B0_FIN))
		return (int)fail(p, "fragmented control frame");
	if (have < 2)
		return 0;
	if (!(h[1] & B1_MASK))
		return (int)fail(p, "client frame not masked");
	if (have >= 3 && (h[1] & B1_LEN) == LEN64 && (h[2] & 0x80))
		return (int)fail(p, "64-bit length with the top bit set");
	return 0;
}

/* Fill p->frame from a complete header h (already checked). */
static void decode_header(struct ws_frame_parser *p, const uint8_t *h)
{
	struct ws_frame *f = &p->frame;
	const uint8_t *m = h + 2;
	uint64_t len = h[1] & B1_LEN;

	f->fin = h[0] & B0_FIN;
	f->rsv = (h[0] & B0_RSV) >> 4;
	f->opcode = h[0] & B0_OPCODE;
	f->masked = true;
	if (len == LEN16) {
		len = (uint64_t)h[2] << 8 | h[3];
		m += 2;
	} else if (len == LEN64) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
		m += 8;
	}
	f->length = len;
	memcpy(f->mask, m, 4);
	p->remaining = len;
	p->in_payload_ = true;
}

ssize_t ws_frame_parse(struct ws_frame_parser *p, uint8_t *buf, size_t len, struct ws_chunk *c)
{
	size_t used = 0;

	memset(c, 0, sizeof(*c));
	if (p->failed_)
		return -1;
	if (len == 0)
		return 0;
	if (!p->in_payload_) {
		const uint8_t *h = p->head_;

		if (p->have_ == 0 && len >= 2 && len >= header_size(buf)) {
			/* the whole header is here (the usual case): checked and read in place */
			used = header_size(buf);
			if (check_start(p, buf, used) < 0)
				return -1;
			h = buf;
		} else {
			/* gather the header in head_: at most 14 bytes, the size known from 2 */
			size_t need = p->have_ < 2 ? 2 : header_size(p->head_);

			while (p->have_ < need && used < len) {
				p->head_[p->have_++] = buf[used++];
				if (check_start(p, p->head_, p->have_) < 0)
					return -1;
				if (p->have_ == 2)
					need = header_size(p->head_);
			}
			if (p->have_ < need)
				return (ssize_t)used;
		}
		decode_header(p, h);
		p->have_ = 0;
		/* decoded first: a short length in a longer form is fine */
		if (is_control(p->frame.opcode) && p->frame.length > WS_CONTROL_MAX)
			return fail(p, "control frame over 125 bytes");
		c->header = true;
	}
	c->data = buf + used;
	c->len = len - used < p->remaining ? len - used : (size_t)p->remaining;
	ws_frame_unmask(c->data, c->len, p->frame.mask, p->frame.length - p->remaining);
	p->remaining -= c->len;
	used += c->len;
	if (p->remaining == 0) {
		c->end = true;
		p->in_payload_ = false;
	}
	return (ssize_t)used;
}

void ws_frame_unmask(uint8_t *data, size_t n, const uint8_t mask[4], uint64_t pos)
{
	size_t i = 0;

	for (; i < n && ((pos + i) & 3); i++)
		data[i] ^= mask[(pos + i) & 3];
	if (n - i >= 8) {
		uint8_t m8[8];
		uint64_t m, w;

		memcpy(m8, mask, 4);
		memcpy(m8 + 4, mask, 4);
		memcpy(&m, m8, 8);
		for (; n - i >= 8; i += 8) {
			memcpy(&w, data + i, 8);
			w ^= m;
			memcpy(data + i, &w, 8);
		}
	}
	for (; i < n; i++)
		data[i] ^= mask[(pos + i) & 3];
}

size_t ws_frame_header(uint8_t *out, bool fin, unsigned rsv, unsigned opcode, uint64_t length)
{
	size_t n = 2;

	out[0] = (uint8_t)((fin ? B0_FIN : 0) | (rsv & 0x7) << 4 | (opcode & B0_OPCODE));
	if (length <= WS_CONTROL_MAX) {
		out[1] = (uint8_t)length;
	} else if (length <= 0xffff) {
		out[1] = LEN16;
		out[2] = (uint8_t)(length >> 8);
		out[3] = (uint8_t)length;
		n = 4;
	} else {
		out[1] = LEN64;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(length >> (56 - 8 * i));
		n = 10;
	}
	return n;
}

ssize_t ws_frame_control(uint8_t *out, unsigned opcode, const uint8_t *payload, size_t n)
{
	size_t h;

	if (n > WS_CONTROL_MAX || !is_control(opcode) || !known_opcode(opcode))
		return -1;
	h = ws_frame_header(out, true, 0, opcode, n);
	if (n)
		memcpy(out + h, payload, n);
	return (ssize_t)(h + n);
}

ssize_t ws_frame_close_payload(uint8_t *out, unsigned code, const char *reason, size_t n)
{
	if (!ws_frame_close_code_valid(code) || n > WS_CLOSE_REASON_MAX ||
	    !utf8_valid((const uint8_t *)reason, n))
		return -1;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (n)
		memcpy(out + 2, reason, n);
	return (ssize_t)(2 + n);
}

bool ws_frame_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

int ws_frame_close_parse(const uint8_t *p, size_t n, unsigned *code, const uint8_t **reason,
			 size_t *reason_len, unsigned *fail_code)
{
	*code = WS_CLOSE_NO_STATUS;
	*reason = p;
	*reason_len = 0;
	*fail_code = 0;
	if (n == 0)
		return 0;
	if (n == 1) {
		*fail_code = WS_CLOSE_PROTOCOL_ERROR;
		return -1;
	}
	*code = (unsigned)p[0] << 8 | p[1];
	if (!ws_frame_close_code_valid(*code)) {
		*fail_code = WS_CLOSE_PROTOCOL_ERROR;
		return -1;
	}
	if (!utf8_valid(p + 2, n - 2)) {
		*fail_code = WS_CLOSE_INVALID_DATA;
		return -1;
	}
	*reason = p + 2;
	*reason_len = n - 2;
	return 0;
}
