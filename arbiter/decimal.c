#include "arbiter/decimal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int decimal_parse(const char *text, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;

	if (!*text || strspn(text, "0123456789") != strlen(text))
		return -1;
	errno = 0;
	v = strtoull(text, NULL, 10);
	if (errno || v > max)
		return -1;
	*out = v;
	return 0;
}
