/* percent — see percent.h. */
#include "workers/http/percent.h"

static size_t decode_one(const char *src, size_t n, char *out);
static int hexval(char ch);

size_t percent_decode(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = 0;
	int hi, lo;

	/* decode_one() inline: through its pointer, a decode took a quarter longer */
	for (size_t i = 0; i < n && o < cap; i++) {
		if (src[i] == '%' && n - i > 2 && (hi = hexval(src[i + 1])) >= 0 &&
		    (lo = hexval(src[i + 2])) >= 0) {
			dst[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dst[o++] = src[i];
		}
	}
	return o;
}

bool percent_under(const char *src, size_t n, const char *root, size_t rlen)
{
	size_t i = 0, k = 0;
	char ch;

	if (rlen == 0)
		return true;
	for (; i < n; k++) {
		i += decode_one(src + i, n - i, &ch);
		if (k == rlen)
			return ch == '/';
		if (ch != root[k])
			return false;
	}
	return k == rlen;
}

/* The byte src[0..n) (n > 0) starts with, decoded, in *out; returns the bytes it took (1 or 3). */
static size_t decode_one(const char *src, size_t n, char *out)
{
	int hi, lo;

	if (src[0] == '%' && n > 2 && (hi = hexval(src[1])) >= 0 && (lo = hexval(src[2])) >= 0) {
		*out = (char)(hi << 4 | lo);
		return 3;
	}
	*out = src[0];
	return 1;
}

/* The value of one hex digit, or -1. */
static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}
