/*
 * utf8 — an incremental UTF-8 validator (RFC 3629): the text messages of
 * WebSocket (RFC 6455 section 8.1) arrive in pieces, and a server must fail
 * the connection on the first invalid byte, not at the end of the message.
 *
 * Overlong forms, UTF-16 surrogates (U+D800..U+DFFF), code points above
 * U+10FFFF and the bytes C0, C1, F5..FF are invalid; noncharacters (U+FFFE)
 * are valid, as RFC 3629 says. A code point split between two calls is
 * accepted. Pure functions on caller state: any process, any thread; never
 * allocates, blocks or logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validator state; zero it (or utf8_init) before the first byte of a text. */
struct utf8 {
	uint8_t need_; /* continuation bytes still expected */
	uint8_t lo_;   /* the range of the next continuation byte */
	uint8_t hi_;
	bool bad_; /* an invalid byte was seen: sticky */
};

/* Zero u for a new text. */
void utf8_init(struct utf8 *u);

/*
 * Validate the next n bytes of a text. Returns 0 while the text is valid so
 * far (possibly in the middle of a code point), -1 from the first invalid
 * byte on (sticky); *bad_at (if not NULL) is then the offset in p of that
 * byte, or 0 when the text was already invalid.
 */
int utf8_feed(struct utf8 *u, const uint8_t *p, size_t n, size_t *bad_at);

/* True when the text fed so far is valid and ends on a code point boundary. */
bool utf8_complete(const struct utf8 *u);

/* True when p[0..n) is a whole valid UTF-8 text. */
bool utf8_valid(const uint8_t *p, size_t n);
