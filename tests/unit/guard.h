/*
 * guard — for the parsers' unit tests: a buffer that ends where a PROT_NONE
 * page begins. An input placed there has its last byte right before the
 * page, so a parser that reads one byte too far crashes the test
 * (picohttpparser's trick).
 */
#pragma once

#include <stddef.h>

/* Map the buffer and its guard page; a cmocka group setup (0, or -1). */
int guard_setup(void **state);

/*
 * Copy in[0..n) (n at most 2 MiB) so that its last byte is the last
 * readable one, and return the copy; n 0 gives the guard page's address.
 * The copy lasts until the next call.
 */
char *guard_place(const char *in, size_t n);
