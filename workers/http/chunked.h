/*
 * chunked — the decoder of chunked request bodies (RFC 9112 section 7.1):
 * incremental, in place, strict about sizes, extensions and trailers.
 *
 * Runs in workers, in any thread, without the GIL; never allocates, never
 * blocks, never logs. Return codes and limits as in parser.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "workers/http/parser.h"

/* Incremental chunked-body decoder state; zero it (or http_chunked_init). */
struct http_chunked {
	int state_;
	uint64_t remaining_; /* bytes left in the current chunk */
	size_t line_;        /* length of the size/trailer line scanned so far */
	size_t trailers_;    /* trailer fields seen */
	uint64_t total_;     /* decoded body bytes so far (limits.body) */
	char name_[24];      /* trailer name, lower-cased, to spot forbidden ones */
	bool done;           /* the last chunk and the trailer section were read */
	int status;          /* on -1 */
	const char *error;
};

/* Zero dec for a new chunked body. */
void http_chunked_init(struct http_chunked *dec);

/*
 * Decode chunked framing in place. buf[0..len) are raw bytes that follow
 * what earlier calls consumed. On return, buf[0..*out) holds decoded body
 * data, and the function returns the number of raw bytes consumed: all of
 * len until dec->done (partial size lines, extensions and trailers are kept
 * in dec, so the caller may drop consumed bytes), then less than len: the
 * rest belongs to the next request. -1 on a framing error (dec->status 400,
 * 413 beyond limits.body decoded bytes, 431 for trailers over limits.fields
 * or limits.field_size; dec->error); -1 is sticky. 0 consumed with *out 0
 * and !done means need more (only when len is 0). Chunk sizes are 1*HEXDIG
 * below 2^60; a size line (with its extensions) is at most
 * limits.field_size bytes; extensions follow RFC 9112 section 7.1.1 and are
 * discarded. Trailer fields are validated (framing and routing fields such
 * as Content-Length, Transfer-Encoding, Host, Trailer, TE, Connection are
 * refused) and discarded. lim NULL means the defaults.
 */
ssize_t http_chunked_decode(struct http_chunked *dec, char *buf, size_t len, size_t *out,
			    const struct http_limits *lim);
