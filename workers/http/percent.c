/* percent — see percent.h. */
#include "workers/http/percent.h"

static int hexval(char ch);

size_t percent_decode(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = 0;
	int hi, lo;

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
