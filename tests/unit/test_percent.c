/*
 * Unit tests for workers/http/percent.c: valid %XY in either case, invalid
 * and truncated escapes kept as they are, %00, decoding once, in place, and
 * every input and every output placed against a guard page (as
 * picohttpparser's tests do), so a read past the input or a write past the
 * room given crashes the test. Also percent_under(), the mount-point test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "workers/http/percent.h"

struct decode_case {
	const char *in;
	const char *out;
	size_t out_len; /* strlen(out) unless out holds a NUL */
};

static const struct decode_case cases[] = {
	{"", "", 0},
	{"/a/b", "/a/b", 4},
	{"/a%20b", "/a b", 4},
	{"%41%62%7a%7A", "Abzz", 4},
	{"%2F%2f", "//", 2},
	{"%ff%80", "\xff\x80", 2},
	{"%00", "\0", 1},
	{"a%00b", "a\0b", 3},
	{"%zz", "%zz", 3},
	{"%4g", "%4g", 3},
	{"%g4", "%g4", 3},
	{"% 41", "% 41", 4},
	{"%", "%", 1},
	{"%4", "%4", 2},
	{"a%", "a%", 2},
	{"a%4", "a%4", 3},
	{"%%41", "%A", 2},
	{"%2541", "%41", 3},
	{"+a+", "+a+", 3},
	{"/caf%C3%A9?", "/caf\xc3\xa9?", 7},
};

static char *page;       /* two pages: [0, psize) usable, then PROT_NONE */
static size_t psize;

static int setup(void **state)
{
	(void)state;
	psize = (size_t)sysconf(_SC_PAGESIZE);
	page = mmap(NULL, 2 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || mprotect(page + psize, psize, PROT_NONE) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return munmap(page, 2 * psize);
}

/* n bytes of s copied so that the last one is the last byte before the guard page. */
static const char *at_edge(const char *s, size_t n)
{
	return memcpy(page + psize - n, s, n);
}

static void test_cases(void **state)
{
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decode_case *c = &cases[i];
		size_t n = strlen(c->in);
		size_t r = percent_decode(out, sizeof(out), c->in, n);

		assert_int_equal(r, c->out_len);
		assert_memory_equal(out, c->out, r);
		assert_true(r <= n);
	}
}

/* The input ends at the guard page: a look past its end for hex digits crashes. */
static void test_input_at_the_edge(void **state)
{
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decode_case *c = &cases[i];
		size_t n = strlen(c->in);
		size_t r = percent_decode(out, sizeof(out), at_edge(c->in, n), n);

		assert_int_equal(r, c->out_len);
		assert_memory_equal(out, c->out, r);
	}
}

/* Every room from none to enough, the room ending at the guard page: a
 * full output stops the decoding, and what was written is the decoded
 * prefix. */
static void test_output_at_the_edge(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decode_case *c = &cases[i];
		size_t n = strlen(c->in);

		for (size_t cap = 0; cap <= c->out_len; cap++) {
			char *dst = page + psize - cap;
			size_t r = percent_decode(dst, cap, c->in, n);

			assert_int_equal(r, cap);
			assert_memory_equal(dst, c->out, r);
		}
	}
}

/* Decoding in place: the input's own buffer, ending at the guard page. */
static void test_in_place(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decode_case *c = &cases[i];
		size_t n = strlen(c->in);
		char *buf = (char *)at_edge(c->in, n);
		size_t r = percent_decode(buf, n, buf, n);

		assert_int_equal(r, c->out_len);
		assert_memory_equal(buf, c->out, r);
	}
}

/* Every escape from %00 to %FF, in both cases, decodes to its byte. */
static void test_every_byte(void **state)
{
	static const char hex[] = "0123456789abcdef", HEX[] = "0123456789ABCDEF";
	char in[3] = {'%'}, out[4];

	for (int b = 0; b < 256; b++) {
		in[1] = hex[b >> 4];
		in[2] = hex[b & 15];
		assert_int_equal(percent_decode(out, sizeof(out), in, 3), 1);
		assert_int_equal((unsigned char)out[0], b);
		in[1] = HEX[b >> 4];
		in[2] = HEX[b & 15];
		assert_int_equal(percent_decode(out, sizeof(out), in, 3), 1);
		assert_int_equal((unsigned char)out[0], b);
	}
}

/*
 * percent_under(): the decoded path is the mount point or below it, on
 * whole segments; the path sits against the guard page.
 */
static void test_under(void **state)
{
	static const struct {
		const char *path, *root;
		bool under;
	} rows[] = {
		{"/app", "/app", true},        {"/app/", "/app", true},
		{"/app/x/y", "/app", true},    {"/application", "/app", false},
		{"/ap", "/app", false},        {"/other/app", "/app", false},
		{"/a%70p/x", "/app", true},    {"/a%2Fb", "/a/b", true},
		{"/app%2Fx", "/app", true},    {"/app%2", "/app", false},
		{"/app%", "/app", false},      {"/a%20b/c", "/a b", true},
		{"/anything", "", true},       {"", "", true},
		{"", "/app", false},           {"/", "/app", false},
		{"/app%2f", "/app/", true},    {"/%41pp", "/App", true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].path);
		const char *p = at_edge(rows[i].path, n);

		assert_int_equal(percent_under(p, n, rows[i].root, strlen(rows[i].root)),
				 rows[i].under);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_under),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_input_at_the_edge),
	    cmocka_unit_test(test_output_at_the_edge),
	    cmocka_unit_test(test_in_place),
	    cmocka_unit_test(test_every_byte),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
