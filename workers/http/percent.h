/*
 * percent — percent-decoding (RFC 3986 section 2.1) of a request path, as
 * PATH_INFO and the access log's %(U)s show it: each %XY with two hex
 * digits (either case) becomes the byte 0xXY, %00 included; a '%' without
 * two hex digits after it stays as it is. Nothing else changes ('+' is
 * '+'), and no other check is made: the parser vetted the bytes already.
 * Also whether a path is under a mount point (SCRIPT_NAME), compared
 * decoded.
 *
 * A leaf of workers/http/: plain C over the caller's buffers, no
 * allocation, no logging, no state; any process, any thread, no GIL needed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Decode src[0..n) into dst, which has room for cap bytes. Returns the
 * decoded length: at most n (decoding never grows) and at most cap (a full
 * dst ends the decoding; a %XY is written whole or not at all). Reads no
 * byte outside src[0..n). dst may be src: decoding in place works, since
 * no byte is written ahead of the bytes read.
 */
size_t percent_decode(char *dst, size_t cap, const char *src, size_t n);

/*
 * Whether src[0..n), decoded as percent_decode() does, starts with
 * root[0..rlen) followed by '/' or by its end: the path is the mount point
 * root or below it, and not merely a string that starts like it ("/app" is
 * not under "/ap"). Always true for rlen 0. Reads no byte outside either.
 */
bool percent_under(const char *src, size_t n, const char *root, size_t rlen);
