/*
 * test_ws_deflate — unit tests for workers/http/ws_deflate.c.
 *
 * RFC 7692 section 7.2.3's examples inflate to "Hello"; messages of several
 * sizes and kinds go through ws_deflate and back through ws_inflate, the
 * input fed whole and byte by byte, into output buffers of 1, 7 and 4096
 * bytes; context takeover, window bits, corrupt input and the size limit
 * (a deflate bomb must stop at max + 1 bytes) are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/http/ws_deflate.h"

static const struct ws_deflate_params defaults = {
	.server_max_window_bits = 15,
	.client_max_window_bits = 15,
};

/*
 * Inflate one message in[0..n) in pieces of step bytes (0: whole) into
 * out buffers of out_step bytes, appending to got (*got_len). Returns 0, or
 * -1 with the inflater's code.
 */
static int inflate_all(struct ws_inflater *in, const uint8_t *data, size_t n, size_t step,
		       size_t out_step, uint8_t *got, size_t *got_len, size_t got_cap)
{
	size_t off = 0;
	uint8_t *out = malloc(out_step);

	assert_non_null(out);
	*got_len = 0;
	for (;;) {
		size_t k = step == 0 || n - off < step ? n - off : step, took, made;
		int rc = ws_inflate(in, data + off, k, off + k == n, out, out_step, &took, &made);

		if (rc == -1) {
			free(out);
			return -1;
		}
		assert_true(took <= k && made <= out_step);
		assert_true(*got_len + made <= got_cap);
		memcpy(got + *got_len, out, made);
		*got_len += made;
		off += took;
		if (rc == 0) {
			assert_int_equal(off, n);
			break;
		}
		/* -2 with nothing taken and nothing made would spin */
		assert_true(took > 0 || made > 0 || k == 0 || off < n);
	}
	free(out);
	return 0;
}

static void expect_inflate(const uint8_t *data, size_t n, const char *want)
{
	static const size_t steps[] = {0, 1, 3};
	static const size_t outs[] = {1, 7, 4096};
	uint8_t got[256];
	size_t got_len;

	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 3; j++) {
			struct ws_inflater in;

			ws_inflater_init(&in, &defaults, 0);
			assert_int_equal(inflate_all(&in, data, n, steps[i], outs[j], got, &got_len,
						     sizeof(got)),
					 0);
			assert_int_equal(got_len, strlen(want));
			assert_memory_equal(got, want, got_len);
			ws_inflater_free(&in);
		}
}

/* RFC 7692 section 7.2.3: every example payload of "Hello". */
static void test_rfc_examples(void **state)
{
	static const uint8_t compressed[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
	static const uint8_t shared[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
	static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
					 0x65, 0x6c, 0x6c, 0x6f, 0x00};
	static const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
	static const uint8_t two_blocks[] = {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
					     0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00};
	static const uint8_t empty[] = {0x00};
	struct ws_inflater in;
	uint8_t got[64];
	size_t got_len;

	(void)state;
	expect_inflate(compressed, sizeof(compressed), "Hello");
	expect_inflate(stored, sizeof(stored), "Hello");
	expect_inflate(bfinal, sizeof(bfinal), "Hello");
	expect_inflate(two_blocks, sizeof(two_blocks), "Hello");
	expect_inflate(empty, sizeof(empty), "");
	/* 7.2.3.2: the second message refers to the first one's window */
	ws_inflater_init(&in, &defaults, 0);
	assert_int_equal(inflate_all(&in, compressed, sizeof(compressed), 0, 64, got, &got_len, 64),
			 0);
	assert_int_equal(inflate_all(&in, shared, sizeof(shared), 1, 1, got, &got_len, 64), 0);
	assert_int_equal(got_len, 5);
	assert_memory_equal(got, "Hello", 5);
	ws_inflater_free(&in);
	/* ... which a client without context takeover may not do */
	{
		struct ws_deflate_params p = defaults;

		p.client_no_context_takeover = true;
		ws_inflater_init(&in, &p, 0);
		assert_int_equal(
		    inflate_all(&in, compressed, sizeof(compressed), 0, 64, got, &got_len, 64), 0);
		assert_int_equal(inflate_all(&in, shared, sizeof(shared), 0, 64, got, &got_len, 64),
				 -1);
		assert_int_equal(in.code, 1007);
		ws_inflater_free(&in);
	}
}

static void fill(uint8_t *p, size_t n, int kind)
{
	uint32_t x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = kind == 0 ? (uint8_t)(x >> 16) : kind == 1 ? (uint8_t) "abcabd"[i % 6] : 0;
	}
}

/* Our deflater's messages inflate back, whatever the sizes and pieces. */
static void test_round_trip(void **state)
{
	static const size_t sizes[] = {0, 1, 100, 5000, 70000, 300000};
	static const unsigned bits[] = {9, 12, 15};
	size_t cap = ws_deflate_bound(300000);
	uint8_t *msg = malloc(300000), *z = malloc(cap), *got = malloc(300000);

	(void)state;
	assert_true(msg && z && got);
	for (size_t b = 0; b < 3; b++)
		for (int kind = 0; kind < 3; kind++) {
			struct ws_deflate_params p = defaults;
			struct ws_deflater d;
			struct ws_inflater in;

			p.server_max_window_bits = bits[b];
			p.client_max_window_bits = bits[b];
			ws_deflater_init(&d, &p);
			/* the client's messages are our server's: same params both ways */
			ws_inflater_init(
			    &in, &(struct ws_deflate_params){.client_max_window_bits = bits[b]}, 0);
			for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
				ssize_t zn;
				size_t got_len;

				fill(msg, sizes[i], kind);
				zn = ws_deflate(&d, msg, sizes[i], z, cap);
				assert_true(zn >= 1);
				assert_true((size_t)zn <= ws_deflate_bound(sizes[i]));
				assert_int_equal(
				    inflate_all(&in, z, (size_t)zn, sizes[i] < 6000 ? 1 : 0,
						i % 2 ? 4096 : 7, got, &got_len, 300000),
				    0);
				assert_int_equal(got_len, sizes[i]);
				assert_memory_equal(got, msg, sizes[i]);
			}
			ws_deflater_free(&d);
			ws_deflater_free(&d);
			ws_inflater_free(&in);
		}
	assert_int_equal(ws_deflate(&(struct ws_deflater){0}, msg, 100, z, 10), -1);
	free(msg);
	free(z);
	free(got);
}

/* With context takeover a repeated message shrinks; without, it does not. */
static void test_context_takeover(void **state)
{
	uint8_t msg[200], z[400];
	struct ws_deflater d;
	struct ws_deflate_params p = defaults;
	ssize_t first, second;

	(void)state;
	fill(msg, sizeof(msg), 0);
	ws_deflater_init(&d, &p);
	first = ws_deflate(&d, msg, sizeof(msg), z, sizeof(z));
	second = ws_deflate(&d, msg, sizeof(msg), z, sizeof(z));
	assert_true(second < first / 4);
	ws_deflater_free(&d);
	p.server_no_context_takeover = true;
	ws_deflater_init(&d, &p);
	first = ws_deflate(&d, msg, sizeof(msg), z, sizeof(z));
	second = ws_deflate(&d, msg, sizeof(msg), z, sizeof(z));
	assert_int_equal(second, first);
	/* freed between messages (no takeover): allocated again on use */
	ws_deflater_free(&d);
	assert_int_equal(ws_deflate(&d, msg, sizeof(msg), z, sizeof(z)), first);
	ws_deflater_free(&d);
}

/* A deflate bomb stops at the limit: max + 1 bytes at most, 1009. */
static void test_limit(void **state)
{
	size_t big = 8 << 20, cap = ws_deflate_bound(big), took, made, total = 0, in_used = 0;
	uint8_t *msg = calloc(1, big), *z = malloc(cap), out[4096];
	struct ws_deflater d;
	struct ws_inflater in;
	ssize_t zn;
	int rc;

	(void)state;
	assert_true(msg && z);
	ws_deflater_init(&d, &defaults);
	zn = ws_deflate(&d, msg, big, z, cap);
	assert_true(zn > 0 && zn < 16384);
	ws_inflater_init(&in, &defaults, 1 << 20);
	do {
		rc = ws_inflate(&in, z + in_used, (size_t)zn - in_used, true, out, sizeof(out),
				&took, &made);
		in_used += took;
		total += made;
	} while (rc == -2);
	assert_int_equal(rc, -1);
	assert_int_equal(in.code, 1009);
	assert_int_equal(total, (1 << 20) + 1);
	assert_true(in_used < (size_t)zn); /* stopped before reading it all */
	/* sticky */
	assert_int_equal(ws_inflate(&in, z, 1, true, out, sizeof(out), &took, &made), -1);
	ws_inflater_free(&in);

	ws_deflater_free(&d);

	/* exactly max passes, one byte more does not */
	for (size_t extra = 0; extra < 2; extra++) {
		uint8_t got[5000];
		size_t got_len;

		ws_deflater_init(&d, &defaults);
		zn = ws_deflate(&d, msg, 4096 + extra, z, cap);
		ws_deflater_free(&d);
		ws_inflater_init(&in, &defaults, 4096);
		assert_int_equal(
		    inflate_all(&in, z, (size_t)zn, 0, 100, got, &got_len, sizeof(got)),
		    extra ? -1 : 0);
		if (extra)
			assert_int_equal(in.code, 1009);
		ws_inflater_free(&in);
	}
	free(msg);
	free(z);
}

/* Zeroed params mean 15-bit windows: far back-references inflate. */
static void test_default_window(void **state)
{
	static uint8_t msg[20000], z[30000], got[20000];
	struct ws_deflate_params zero = {0};
	struct ws_deflater d;
	struct ws_inflater in;
	size_t got_len;
	ssize_t zn;

	(void)state;
	fill(msg, 10000, 0);
	memcpy(msg + 10000, msg, 10000); /* a match 10000 bytes back */
	ws_deflater_init(&d, &zero);
	zn = ws_deflate(&d, msg, sizeof(msg), z, sizeof(z));
	assert_true(zn > 0 && zn < 12000);
	ws_inflater_init(&in, &zero, 0);
	assert_int_equal(inflate_all(&in, z, (size_t)zn, 0, 4096, got, &got_len, sizeof(got)), 0);
	assert_int_equal(got_len, sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	ws_deflater_free(&d);
	ws_inflater_free(&in);
}

static void test_corrupt(void **state)
{
	static const uint8_t bad_type[] = {0x07, 0x00};                  /* BTYPE 11 */
	static const uint8_t bad_len[] = {0x00, 0x05, 0x00, 0x00, 0x00}; /* NLEN wrong */
	struct ws_inflater in;
	uint8_t got[64];
	size_t got_len;

	(void)state;
	ws_inflater_init(&in, &defaults, 0);
	assert_int_equal(inflate_all(&in, bad_type, sizeof(bad_type), 1, 64, got, &got_len, 64),
			 -1);
	assert_int_equal(in.code, 1007);
	assert_non_null(in.error);
	ws_inflater_free(&in);
	ws_inflater_init(&in, &defaults, 0);
	assert_int_equal(inflate_all(&in, bad_len, sizeof(bad_len), 0, 64, got, &got_len, 64), -1);
	assert_int_equal(in.code, 1007);
	ws_inflater_free(&in);
	ws_inflater_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_context_takeover),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_default_window),
		cmocka_unit_test(test_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
