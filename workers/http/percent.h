/*
 * percent — percent-decoding (RFC 3986 section 2.1) of a request path, as
 * PATH_INFO and the access log's %(U)s show it: each %XY with two hex
 * digits (either case) becomes the byte 0xXY, %00 included; a '%' without
 * two hex digits after it stays as it is. Nothing else changes ('+' is
 * '+'), and no other check is made: the parser vetted the bytes already.
 *
 * A leaf of workers/http/: plain C over the caller's buffers, no
 * allocation, no logging, no state; any process, any thread, no GIL needed.
 */
#pragma once

#include <stddef.h>

/*
 * Decode src[0..n) into dst, which has room for cap bytes. Returns the
 * decoded length: at most n (decoding never grows) and at most cap (a full
 * dst ends the decoding; a %XY is written whole or not at all). Reads no
 * byte outside src[0..n). dst may be src: decoding in place works, since
 * no byte is written ahead of the bytes read.
 */
size_t percent_decode(char *dst, size_t cap, const char *src, size_t n);
