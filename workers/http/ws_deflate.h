/*
 * ws_deflate — permessage-deflate (RFC 7692) over zlib: the inflater of
 * client messages and the deflater of server messages, each a raw DEFLATE
 * stream whose messages end with a sync flush, the 00 00 ff ff tail removed
 * on the wire and appended again before inflating.
 *
 * The inflater never produces more than the message limit plus one byte:
 * it stops a deflate bomb at the limit (1009), while inflating, not after.
 * zlib's state is allocated on the first compressed message and kept (reset
 * after each message without context takeover): 2^w + about 7 KiB for the
 * inflater, 2^(w+2) + 2^(8+9) bytes for the deflater (w the window bits;
 * 256 KiB at 15). Without context takeover a caller may free it between
 * messages to save memory on idle connections; the next message allocates
 * it again.
 *
 * Runs in workers, any thread; allocates only through zlib; never blocks,
 * never logs. Return codes: 0 done, -1 error (code holds the close code to
 * send: 1007 corrupt data, 1009 too big, 1011 out of memory), -2 call again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a handshake negotiated (RFC 7692 section 7.1). */
struct ws_deflate_params {
	bool server_no_context_takeover; /* reset our deflater after each message */
	bool client_no_context_takeover; /* the client resets its own */
	unsigned server_max_window_bits; /* our deflater's window, 9..15 (0: 15) */
	unsigned client_max_window_bits; /* the client's window, 8..15 (0: 15) */
};

struct ws_inflater {
	uint64_t max;   /* inflated bytes of one message at most, 0: no limit */
	uint64_t total; /* inflated bytes of the current message so far */

	/* set on -1 */
	uint16_t code;
	const char *error;

	/* private */
	void *z_; /* z_stream, NULL until the first message */
	unsigned bits_;
	bool reset_;   /* no context takeover: reset after each message */
	uint8_t tail_; /* bytes of 00 00 ff ff fed for this message */
	bool failed_;
};

struct ws_deflater {
	void *z_; /* z_stream, NULL until the first message */
	unsigned bits_;
	bool reset_;
};

/*
 * Prepare an inflater for the client's messages under the negotiated
 * params; max is the message limit (0: none). Allocates nothing yet.
 */
void ws_inflater_init(struct ws_inflater *in, const struct ws_deflate_params *params, uint64_t max);

/*
 * Inflate the next compressed payload bytes of a message, data[0..n), into
 * out[0..out_size) (out_size > 0). fin: these bytes end the message's
 * payload (the last ones of its final frame). *consumed and *produced say
 * how much of data was used and of out was filled. Returns 0 when the
 * message is complete (fin, all of data consumed, all output produced: the
 * next call starts a new message), -2 to call again: with data + *consumed
 * when bytes are left or out was filled (output may be pending, even with
 * no input left), else with the message's next bytes. -1 (sticky) on
 * corrupt data (1007), more than max inflated bytes (1009, at most max + 1
 * produced), or no memory (1011); *consumed and *produced still say what
 * was done before the failure, so that out[0..*produced) can be checked
 * (an invalid text found there comes first).
 */
int ws_inflate(struct ws_inflater *in, const uint8_t *data, size_t n, bool fin, uint8_t *out,
	       size_t out_size, size_t *consumed, size_t *produced);

/* Free zlib's state (between messages, or for good); harmless twice. */
void ws_inflater_free(struct ws_inflater *in);

/* Prepare a deflater for the server's messages under the negotiated params. */
void ws_deflater_init(struct ws_deflater *d, const struct ws_deflate_params *params);

/* Bytes of out that ws_deflate() needs, at most, for a message of n bytes. */
size_t ws_deflate_bound(size_t n);

/*
 * Compress a whole message in[0..n) into out[0..out_size), sync-flushed,
 * the 00 00 ff ff tail removed: the payload of a frame with RSV1 set.
 * Returns its length, -1 when zlib cannot allocate its state or out is
 * smaller than ws_deflate_bound(n).
 */
ssize_t ws_deflate(struct ws_deflater *d, const uint8_t *in, size_t n, uint8_t *out,
		   size_t out_size);

/* Free zlib's state (between messages, or for good); harmless twice. */
void ws_deflater_free(struct ws_deflater *d);
