/* Unit tests for the spool: bytes come out in order whether they stay in
 * memory or spill to the temporary file, while reads and writes interleave;
 * sending (on a non-blocking socket, as every connection is) empties it;
 * a full socket is EAGAIN, not a loss. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "workers/http/spool.h"

#define TOTAL 200000

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/* Write TOTAL patterned bytes in pieces of `piece`, reading `piece` / 2 after each. */
static void round_trip(size_t mem_max, size_t piece, bool spills)
{
	struct spool s;
	unsigned char *in = malloc(TOTAL), *out = malloc(TOTAL);
	size_t w = 0, r = 0;

	for (size_t i = 0; i < TOTAL; i++)
		in[i] = pattern(i);
	spool_init(&s, mem_max);
	while (w < TOTAL) {
		size_t n = TOTAL - w < piece ? TOTAL - w : piece;
		ssize_t got;

		assert_int_equal(spool_write(&s, in + w, n), 0);
		w += n;
		got = spool_read(&s, out + r, piece / 2);
		assert_true(got > 0);
		r += (size_t)got;
		assert_int_equal(spool_size(&s), w - r);
	}
	assert_int_equal(s.fd >= 0, spills);
	for (ssize_t got; (got = spool_read(&s, out + r, 4096)) > 0;)
		r += (size_t)got;
	assert_int_equal(r, TOTAL);
	assert_memory_equal(in, out, TOTAL);
	assert_int_equal(spool_read(&s, out, 1), 0);
	spool_free(&s);
	assert_int_equal(s.fd, -1);
	assert_null(s.mem);
	free(in);
	free(out);
}

static void test_in_memory(void **state)
{
	(void)state;
	round_trip(1 << 20, 3000, false);
}

static void test_spilled(void **state)
{
	(void)state;
	round_trip(10000, 3000, true);
}

static void test_send_until_the_socket_is_full(void **state)
{
	struct spool s;
	int sv[2];
	size_t sent = 0, got = 0;
	static unsigned char buf[TOTAL];
	ssize_t n;
	int small = 4096;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	spool_init(&s, 1000);
	for (size_t i = 0; i < TOTAL; i++)
		buf[i] = pattern(i);
	assert_int_equal(spool_write(&s, buf, 500), 0);
	assert_int_equal(spool_send(&s, sv[0]), 500);                 /* from memory */
	assert_int_equal(spool_write(&s, buf + 500, TOTAL - 500), 0); /* spills */
	assert_true(s.fd >= 0);
	while ((n = spool_send(&s, sv[0])) > 0)
		sent += (size_t)n;
	assert_int_equal(n, -1);
	assert_int_equal(errno, EAGAIN);
	assert_true(sent < TOTAL - 500); /* the socket filled before the end */
	memset(buf, 0, sizeof(buf));
	for (;;) {
		while (got < TOTAL && (n = recv(sv[1], buf + got, TOTAL - got, MSG_DONTWAIT)) > 0)
			got += (size_t)n;
		if (spool_size(&s) == 0)
			break;
		assert_true(spool_send(&s, sv[0]) > 0);
	}
	while (got < TOTAL && (n = recv(sv[1], buf + got, TOTAL - got, MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	assert_int_equal(got, TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		assert_int_equal(buf[i], pattern(i));
	spool_free(&s);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_memory),
	    cmocka_unit_test(test_spilled),
	    cmocka_unit_test(test_send_until_the_socket_is_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
