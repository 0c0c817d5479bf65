/* ws_deflate — see ws_deflate.h. */
#include "workers/http/ws_deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "workers/http/ws_frame.h"

#define MEM_LEVEL 8 /* zlib's default: memory for speed and ratio */
#define MIN_BITS  9 /* zlib's raw deflate has no 256-byte window */

static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

static int inflate_fail(struct ws_inflater *in, uint16_t code, const char *error);
static unsigned window_bits(unsigned bits);

/* A negotiated window size as zlib takes it: 0 (unset) is 15, 8 is 9. */
static unsigned window_bits(unsigned bits)
{
	if (bits == 0 || bits > 15)
		return 15;
	return bits < MIN_BITS ? MIN_BITS : bits;
}

void ws_inflater_init(struct ws_inflater *in, const struct ws_deflate_params *params, uint64_t max)
{
	memset(in, 0, sizeof(*in));
	in->max = max;
	/* a client told 8 may still use zlib's 9 */
	in->bits_ = window_bits(params->client_max_window_bits);
	in->reset_ = params->client_no_context_takeover;
}

static int inflate_fail(struct ws_inflater *in, uint16_t code, const char *error)
{
	in->failed_ = true;
	in->code = code;
	in->error = error;
	return -1;
}

int ws_inflate(struct ws_inflater *in, const uint8_t *data, size_t n, bool fin, uint8_t *out,
	       size_t out_size, size_t *consumed, size_t *produced)
{
	z_stream *z = in->z_;
	size_t room = out_size;
	bool in_tail = false;
	int rc;

	*consumed = 0;
	*produced = 0;
	if (in->failed_)
		return -1;
	if (z == NULL) {
		z = calloc(1, sizeof(*z));
		if (z == NULL || inflateInit2(z, -(int)in->bits_) != Z_OK) {
			free(z);
			return inflate_fail(in, WS_CLOSE_INTERNAL_ERROR, "no memory for inflate");
		}
		in->z_ = z;
	}
	if (n > UINT32_MAX) {
		n = UINT32_MAX;
		fin = false;
	}
	/* never room for more than one byte beyond the limit */
	if (in->max && in->max - in->total < room)
		room = (size_t)(in->max - in->total) + 1;
	z->next_out = out;
	z->avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
	z->next_in = (Bytef *)(uintptr_t)data;
	z->avail_in = (uInt)n;
	for (;;) {
		/* called even without input: output may be pending from the last call */
		rc = inflate(z, Z_SYNC_FLUSH);
		if (in_tail)
			in->tail_ = (uint8_t)(sizeof(tail) - z->avail_in);
		if (rc == Z_STREAM_END)
			inflateReset(z); /* a block with BFINAL set: a new stream follows */
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			break;
		if (z->avail_out == 0)
			break;
		if (z->avail_in > 0) {
			if (rc == Z_BUF_ERROR)
				break; /* cannot happen with room and input; never spin */
			continue;
		}
		if (in_tail || !fin || in->tail_ == sizeof(tail))
			break;
		/* the message's payload is all in: its tail next */
		in_tail = true;
		z->next_in = (Bytef *)(uintptr_t)(tail + in->tail_);
		z->avail_in = (uInt)(sizeof(tail) - in->tail_);
	}
	/* what was done is reported even on failure: the caller checks it first */
	*consumed = in_tail ? n : (size_t)(z->next_in - data);
	*produced = (size_t)(z->next_out - out);
	in->total += *produced;
	if (rc == Z_MEM_ERROR)
		return inflate_fail(in, WS_CLOSE_INTERNAL_ERROR, "no memory for inflate");
	if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END)
		return inflate_fail(in, WS_CLOSE_INVALID_DATA, "corrupt deflate data");
	if (in->max && in->total > in->max)
		return inflate_fail(in, WS_CLOSE_TOO_BIG, "inflated message over the limit");
	if (!fin || *consumed < n || in->tail_ < sizeof(tail) || z->avail_out == 0)
		return -2;
	in->total = 0;
	in->tail_ = 0;
	if (in->reset_)
		inflateReset(z);
	return 0;
}

void ws_inflater_free(struct ws_inflater *in)
{
	if (in->z_) {
		inflateEnd(in->z_);
		free(in->z_);
		in->z_ = NULL;
	}
}

void ws_deflater_init(struct ws_deflater *d, const struct ws_deflate_params *params)
{
	memset(d, 0, sizeof(*d));
	d->bits_ = window_bits(params->server_max_window_bits);
	d->reset_ = params->server_no_context_takeover;
}

size_t ws_deflate_bound(size_t n)
{
	/* zlib's conservative deflateBound() for any memLevel and window, plus a
	   sync flush: an empty stored block and the bits before it */
	return n + ((n + 7) >> 3) + ((n + 63) >> 6) + 5 + 16;
}

ssize_t ws_deflate(struct ws_deflater *d, const uint8_t *in, size_t n, uint8_t *out,
		   size_t out_size)
{
	z_stream *z = d->z_;
	size_t len;

	if (out_size < ws_deflate_bound(n) || n > UINT32_MAX || out_size > UINT32_MAX)
		return -1;
	if (n == 0) {
		/* RFC 7692 section 7.2.3.6: the start of an empty stored block
		   (zlib will not flush twice without input in between) */
		out[0] = 0x00;
		return 1;
	}
	if (z == NULL) {
		z = calloc(1, sizeof(*z));
		if (z == NULL || deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -(int)d->bits_,
					      MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
			free(z);
			return -1;
		}
		d->z_ = z;
	}
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)n;
	z->next_out = out;
	z->avail_out = (uInt)out_size;
	if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0 || z->avail_out == 0)
		return -1;
	len = (size_t)(z->next_out - out);
	/* a sync flush ends with an empty stored block: 00 00 ff ff is its end */
	if (len < sizeof(tail) || memcmp(out + len - sizeof(tail), tail, sizeof(tail)) != 0)
		return -1;
	if (d->reset_)
		deflateReset(z);
	return (ssize_t)(len - sizeof(tail));
}

void ws_deflater_free(struct ws_deflater *d)
{
	if (d->z_) {
		deflateEnd(d->z_);
		free(d->z_);
		d->z_ = NULL;
	}
}
