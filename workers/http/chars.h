/*
 * chars — the character classes of HTTP/1.1 (RFC 9110, RFC 9112, RFC 3986):
 * one table of 256 entries, one bit per class, read by the request parser,
 * the chunked decoder and the response writer.
 *
 * Pure data and pure functions: any process, any thread. Never allocates.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CHARS_TCHAR  0x01 /* token character (RFC 9110 5.6.2) */
#define CHARS_VALUE  0x02 /* field-value byte: HTAB, SP, VCHAR, obs-text */
#define CHARS_HEX    0x04 /* HEXDIG */
#define CHARS_METHOD 0x08 /* tchar without lowercase letters and '#' (Gunicorn) */
#define CHARS_QDTEXT 0x10 /* qdtext of a quoted-string */
#define CHARS_HOST   0x20 /* reg-name: unreserved, '%', sub-delims (RFC 3986) */

/* The classes of each byte: chars_table[(unsigned char)c] & CHARS_TCHAR. */
extern const unsigned char chars_table[256];

/* True when s[0..n) is a token (RFC 9110 5.6.2), as a field name must be. */
bool chars_is_token(const char *s, size_t n);

/*
 * True when every byte of s[0..n) may appear in a field value: HTAB, SP,
 * VCHAR, obs-text; no CR, LF, NUL or other control character.
 */
bool chars_is_field_value(const char *s, size_t n);
