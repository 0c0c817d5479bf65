/* utf8 — see utf8.h. */
#include "workers/http/utf8.h"

#include <string.h>

#define ASCII_MASK 0x8080808080808080ULL

static int lead(struct utf8 *u, uint8_t c);

void utf8_init(struct utf8 *u)
{
	memset(u, 0, sizeof(*u));
}

/*
 * A lead byte: how many continuation bytes follow, and the range of the first
 * one, which is where overlongs (E0, F0), surrogates (ED) and code points
 * above U+10FFFF (F4) are cut off (RFC 3629 section 4). -1 when c cannot
 * start a sequence.
 */
static int lead(struct utf8 *u, uint8_t c)
{
	u->lo_ = 0x80;
	u->hi_ = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		u->need_ = 1;
	else if (c >= 0xe0 && c <= 0xef)
		u->need_ = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		u->need_ = 3;
	else
		return -1;
	if (c == 0xe0)
		u->lo_ = 0xa0;
	else if (c == 0xed)
		u->hi_ = 0x9f;
	else if (c == 0xf0)
		u->lo_ = 0x90;
	else if (c == 0xf4)
		u->hi_ = 0x8f;
	return 0;
}

int utf8_feed(struct utf8 *u, const uint8_t *p, size_t n, size_t *bad_at)
{
	size_t i = 0;

	if (bad_at)
		*bad_at = 0;
	if (u->bad_)
		return -1;
	while (i < n) {
		uint8_t c = p[i];

		if (u->need_ == 0) {
			uint64_t w;

			/* eight ASCII bytes at a time between code points */
			if (n - i >= 8) {
				memcpy(&w, p + i, 8);
				if ((w & ASCII_MASK) == 0) {
					i += 8;
					continue;
				}
			}
			if (c < 0x80) {
				i++;
				continue;
			}
			if (lead(u, c) < 0)
				break;
		} else {
			if (c < u->lo_ || c > u->hi_)
				break;
			u->need_--;
			u->lo_ = 0x80;
			u->hi_ = 0xbf;
		}
		i++;
	}
	if (i == n)
		return 0;
	u->bad_ = true;
	if (bad_at)
		*bad_at = i;
	return -1;
}

bool utf8_complete(const struct utf8 *u)
{
	return !u->bad_ && u->need_ == 0;
}

bool utf8_valid(const uint8_t *p, size_t n)
{
	struct utf8 u;

	utf8_init(&u);
	return utf8_feed(&u, p, n, NULL) == 0 && utf8_complete(&u);
}
