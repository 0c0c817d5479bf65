/*
 * test_utf8 — unit tests for workers/http/utf8.c.
 *
 * The vectors are Autobahn|Testsuite's section 6 (case6_x_x.py, after
 * Markus Kuhn's UTF-8-test.txt): each is checked whole, fed byte by byte,
 * and split in two at every offset; all must agree with the expected
 * verdict. An invalid text must fail on the very byte where it stops being
 * a prefix of valid UTF-8 (fail fast), which an independent reference
 * decoder (below) locates. Every code point and every surrogate pair is
 * tried too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/utf8.h"

struct vector {
	bool valid;
	const char *s;
	size_t n;
};

#define V(valid, s) {valid, s, sizeof(s) - 1}

/* The fixed vectors of Autobahn's createUtf8TestSequences(), in its order. */
static const struct vector fixed[] = {
	/* 6.5 some valid UTF-8 sequences */
	V(true, "hello\x24world"),
	V(true, "hello\xc2\xa2world"),
	V(true, "hello\xe2\x82\xacworld"),
	V(true, "hello\xf0\xa4\xad\xa2world"),
	V(true, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
	/* 6.7 first possible sequence of a certain length */
	V(true, "\x00"),
	V(true, "\xc2\x80"),
	V(true, "\xe0\xa0\x80"),
	V(true, "\xf0\x90\x80\x80"),
	/* 6.8 first possible sequence of length 5/6 */
	V(false, "\xf8\x88\x80\x80\x80"),
	V(false, "\xfc\x84\x80\x80\x80\x80"),
	/* 6.9 last possible sequence of a certain length */
	V(true, "\x7f"),
	V(true, "\xdf\xbf"),
	V(true, "\xef\xbf\xbf"),
	V(true, "\xf4\x8f\xbf\xbf"),
	/* 6.10 last possible sequence of length 4/5/6 */
	V(false, "\xf7\xbf\xbf\xbf"),
	V(false, "\xfb\xbf\xbf\xbf\xbf"),
	V(false, "\xfd\xbf\xbf\xbf\xbf\xbf"),
	/* 6.11 other boundary conditions */
	V(true, "\xed\x9f\xbf"),
	V(true, "\xee\x80\x80"),
	V(true, "\xef\xbf\xbd"),
	V(true, "\xf4\x8f\xbf\xbf"),
	V(false, "\xf4\x90\x80\x80"),
	/* 6.12 unexpected continuation bytes (the 0x80..0xbe run is built below) */
	V(false, "\x80"),
	V(false, "\xbf"),
	V(false, "\x80\xbf"),
	V(false, "\x80\xbf\x80"),
	V(false, "\x80\xbf\x80\xbf"),
	V(false, "\x80\xbf\x80\xbf\x80"),
	V(false, "\x80\xbf\x80\xbf\x80\xbf"),
	/* 6.14 sequences with the last continuation byte missing */
	V(false, "\xc0"),
	V(false, "\xe0\x80"),
	V(false, "\xf0\x80\x80"),
	V(false, "\xf8\x80\x80\x80"),
	V(false, "\xfc\x80\x80\x80\x80"),
	V(false, "\xdf"),
	V(false, "\xef\xbf"),
	V(false, "\xf7\xbf\xbf"),
	V(false, "\xfb\xbf\xbf\xbf"),
	V(false, "\xfd\xbf\xbf\xbf\xbf"),
	/* 6.15 their concatenation */
	V(false, "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80"
		 "\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf"),
	/* 6.16 impossible bytes */
	V(false, "\xfe"),
	V(false, "\xff"),
	V(false, "\xfe\xfe\xff\xff"),
	/* 6.17 overlong ASCII */
	V(false, "\xc0\xaf"),
	V(false, "\xe0\x80\xaf"),
	V(false, "\xf0\x80\x80\xaf"),
	V(false, "\xf8\x80\x80\x80\xaf"),
	V(false, "\xfc\x80\x80\x80\x80\xaf"),
	/* 6.18 maximum overlong sequences */
	V(false, "\xc1\xbf"),
	V(false, "\xe0\x9f\xbf"),
	V(false, "\xf0\x8f\xbf\xbf"),
	V(false, "\xf8\x87\xbf\xbf\xbf"),
	V(false, "\xfc\x83\xbf\xbf\xbf\xbf"),
	/* 6.19 overlong NUL */
	V(false, "\xc0\x80"),
	V(false, "\xe0\x80\x80"),
	V(false, "\xf0\x80\x80\x80"),
	V(false, "\xf8\x80\x80\x80\x80"),
	V(false, "\xfc\x80\x80\x80\x80\x80"),
	/* 6.20 single UTF-16 surrogates */
	V(false, "\xed\xa0\x80"),
	V(false, "\xed\xad\xbf"),
	V(false, "\xed\xae\x80"),
	V(false, "\xed\xaf\xbf"),
	V(false, "\xed\xb0\x80"),
	V(false, "\xed\xbe\x80"),
	V(false, "\xed\xbf\xbf"),
	/* 6.21 paired UTF-16 surrogates */
	V(false, "\xed\xa0\x80\xed\xb0\x80"),
	V(false, "\xed\xa0\x80\xed\xbf\xbf"),
	V(false, "\xed\xad\xbf\xed\xb0\x80"),
	V(false, "\xed\xad\xbf\xed\xbf\xbf"),
	V(false, "\xed\xae\x80\xed\xb0\x80"),
	V(false, "\xed\xae\x80\xed\xbf\xbf"),
	V(false, "\xed\xaf\xbf\xed\xb0\x80"),
	V(false, "\xed\xaf\xbf\xed\xbf\xbf"),
	/* 6.22 noncharacters EF BF BE/BF (the F0..F4 ones are built below) */
	V(true, "\xef\xbf\xbe"),
	V(true, "\xef\xbf\xbf"),
	/* 6.23 Unicode specials */
	V(true, "\xef\xbf\xb9"),
	V(true, "\xef\xbf\xba"),
	V(true, "\xef\xbf\xbb"),
	V(true, "\xef\xbf\xbc"),
	V(true, "\xef\xbf\xbd"),
	V(true, "\xef\xbf\xbe"),
	V(true, "\xef\xbf\xbf"),
};

static size_t cases; /* vectors checked, Autobahn's and generated */

static size_t reference_prefix(const uint8_t *p, size_t n);
static void check(bool valid, const uint8_t *p, size_t n);

/*
 * The length of the longest prefix of p[0..n) that is a prefix of some valid
 * UTF-8 text: decoded the slow way (values, then range checks), to locate
 * where a fail-fast validator must stop.
 */
static size_t reference_prefix(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], need, cp, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc0 && c < 0xe0)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c < 0xf0)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c < 0xf8)
			need = 3, cp = c & 0x07;
		else
			return i;
		for (k = 0;; k++) {
			unsigned shift = 6 * (need - k), lo, hi;

			if (k > 0) {
				if (i + k == n)
					return n; /* unfinished: what is there is fine */
				if ((p[i + k] & 0xc0) != 0x80)
					return i + k;
				cp = cp << 6 | (p[i + k] & 0x3f);
			}
			/* the smallest and largest code points still reachable */
			lo = cp << shift;
			hi = lo | ((1u << shift) - 1);
			if (hi < (need == 1 ? 0x80u : need == 2 ? 0x800u : 0x10000u) ||
			    lo > 0x10ffff || (lo >= 0xd800 && hi <= 0xdfff))
				return i + k;
			if (k == need)
				break;
		}
		i += need + 1;
	}
	return n;
}

/* Whole, byte by byte, and split in two at every offset. */
static void check(bool valid, const uint8_t *p, size_t n)
{
	size_t stop = reference_prefix(p, n), bad;
	struct utf8 u;
	int r = 0;

	cases++;
	assert_int_equal(utf8_valid(p, n), valid);
	/* byte by byte: the first failure is at the reference's offset */
	utf8_init(&u);
	for (size_t i = 0; i < n; i++) {
		r = utf8_feed(&u, p + i, 1, &bad);
		if (r < 0) {
			assert_int_equal(i, stop);
			break;
		}
	}
	if (r == 0)
		assert_int_equal(stop, n);
	assert_int_equal(utf8_complete(&u), valid);
	/* whole: bad_at is the same offset */
	utf8_init(&u);
	r = utf8_feed(&u, p, n, &bad);
	assert_int_equal(r < 0, stop < n);
	if (r < 0)
		assert_int_equal(bad, stop);
	for (size_t k = 0; k <= n; k++) {
		utf8_init(&u);
		r = utf8_feed(&u, p, k, NULL);
		if (r == 0)
			r = utf8_feed(&u, p + k, n - k, &bad);
		assert_int_equal(r == 0 && utf8_complete(&u), valid);
	}
}

static void test_autobahn_fixed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check(fixed[i].valid, (const uint8_t *)fixed[i].s, fixed[i].n);
}

/* 6.6: every prefix of κόσμε; valid only on a code point boundary. */
static void test_autobahn_prefixes(void **state)
{
	static const uint8_t k[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";

	(void)state;
	for (size_t i = 1; i <= sizeof(k) - 1; i++)
		check(i == 2 || i == 5 || i == 7 || i == 9 || i == 11, k, i);
}

/* 6.12.8: 0x80..0xbe; 6.13: lonely start bytes each followed by a space. */
static void test_autobahn_generated(void **state)
{
	static const uint8_t ranges[][2] = {
		{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}};
	uint8_t s[128];
	size_t n = 0;

	(void)state;
	for (unsigned c = 0x80; c < 0xbf; c++)
		s[n++] = (uint8_t)c;
	check(false, s, n);
	for (size_t r = 0; r < 5; r++) {
		n = 0;
		for (unsigned c = ranges[r][0]; c < ranges[r][1]; c++) {
			s[n++] = (uint8_t)c;
			s[n++] = ' ';
		}
		check(false, s, n);
	}
}

/* 6.22: the noncharacters U+xFFFE and U+xFFFF of the planes 1..16. */
static void test_autobahn_noncharacters(void **state)
{
	static const uint8_t z2s[] = {0x8f, 0x9f, 0xaf, 0xbf};

	(void)state;
	for (unsigned z1 = 0xf0; z1 <= 0xf4; z1++)
		for (size_t j = 0; j < 4; j++) {
			if (z1 == 0xf4 && z2s[j] != 0x8f)
				continue; /* above U+10FFFF */
			for (unsigned z3 = 0xbe; z3 <= 0xbf; z3++) {
				uint8_t s[4] = {(uint8_t)z1, z2s[j], 0xbf, (uint8_t)z3};

				if (z1 == 0xf0 && z2s[j] == 0x8f)
					continue; /* overlong */
				check(true, s, 4);
			}
		}
}

static size_t encode(unsigned cp, uint8_t *s)
{
	if (cp < 0x80) {
		s[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = (uint8_t)(0xc0 | cp >> 6);
		s[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = (uint8_t)(0xe0 | cp >> 12);
		s[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		s[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	s[0] = (uint8_t)(0xf0 | cp >> 18);
	s[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	s[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	s[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* Autobahn's validator test: every code point; surrogates alone and paired. */
static void test_all_code_points(void **state)
{
	uint8_t s[8];

	(void)state;
	for (unsigned cp = 0; cp <= 0x10ffff; cp++) {
		size_t n = encode(cp, s);

		assert_int_equal(utf8_valid(s, n), cp < 0xd800 || cp > 0xdfff);
	}
	/* above U+10FFFF, written as F4 90.. and beyond */
	assert_false(utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
	assert_false(utf8_valid((const uint8_t *)"\xf5\x80\x80\x80", 4));
	for (unsigned hi = 0xd800; hi <= 0xdbff; hi++)
		for (unsigned lo = 0xdc00; lo <= 0xdfff; lo++) {
			encode(hi, s);
			encode(lo, s + 3);
			assert_false(utf8_valid(s, 6));
			encode(lo, s);
			encode(hi, s + 3);
			assert_false(utf8_valid(s, 6));
		}
}

/* Autobahn's incremental test: where a validator fed in pieces fails. */
static void test_incremental(void **state)
{
	struct utf8 u;
	size_t bad;

	(void)state;
	utf8_init(&u);
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc"
							 "\xc3\xa0\xc3\xa1",
				   15, &bad),
			 0);
	assert_true(utf8_complete(&u));

	utf8_init(&u);
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"\xf5", 1, &bad), -1);
	assert_int_equal(bad, 0);

	utf8_init(&u);
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"edited", 6, &bad), 0);
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"\xed\xa0\x80", 3, &bad), -1);
	assert_int_equal(bad, 1);

	utf8_init(&u);
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"edit", 4, &bad), 0);
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"ed\xed\xa0\x80", 5, &bad), -1);
	assert_int_equal(bad, 3);

	utf8_init(&u);
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"edited\xed", 7, &bad), 0);
	assert_false(utf8_complete(&u));
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"\xa0\x80", 2, &bad), -1);
	assert_int_equal(bad, 0);
	/* sticky */
	assert_int_equal(utf8_feed(&u, (const uint8_t *)"a", 1, &bad), -1);
	assert_false(utf8_complete(&u));
}

/* The ASCII fast path meets a multi-byte sequence at every alignment. */
static void test_ascii_runs(void **state)
{
	uint8_t s[40];

	(void)state;
	for (size_t at = 0; at + 3 <= sizeof(s); at++) {
		memset(s, 'a', sizeof(s));
		memcpy(s + at, "\xe2\x82\xac", 3);
		check(true, s, sizeof(s));
		memcpy(s + at, "\xed\xa0\x80", 3);
		check(false, s, sizeof(s));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_autobahn_fixed),
		cmocka_unit_test(test_autobahn_prefixes),
		cmocka_unit_test(test_autobahn_generated),
		cmocka_unit_test(test_autobahn_noncharacters),
		cmocka_unit_test(test_all_code_points),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_ascii_runs),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	printf("# %zu UTF-8 vectors checked three ways\n", cases);
	return failed;
}
