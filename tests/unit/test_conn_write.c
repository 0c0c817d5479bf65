/*
 * test_conn_write — unit tests for workers/http/conn_write.c's
 * conn_writev_now(), over a socketpair: everything written at once, a full
 * socket (-2, with what is left said by the advanced iovec, then finished),
 * and a peer gone (-1). It never waits: the connection's wait function
 * fails the test if it is called.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers/http/conn.h"

static int never(struct conn *c, short events, int timeout_ms)
{
	(void)c, (void)events, (void)timeout_ms;
	fail_msg("conn_writev_now() waited");
	return -1;
}

static const struct conn_io io = {.wait = never};

/* c on one end of a non-blocking socketpair; the other end in *peer. */
static void pair(struct conn *c, int *peer)
{
	struct http_limits limits = {.request_line = 8190, .fields = 100, .field_size = 8190};
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	conn_init(c, sv[0], NULL, &io, &limits, 1000);
	*peer = sv[1];
}

static void test_all_at_once(void **state)
{
	struct conn c;
	int peer, n = 2;
	char got[8] = {0};
	struct iovec iov[2] = {{"ab", 2}, {"cde", 3}}, *v = iov;

	(void)state;
	pair(&c, &peer);
	assert_int_equal(conn_writev_now(&c, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(read(peer, got, sizeof(got)), 5);
	assert_string_equal(got, "abcde");
	close(c.fd);
	close(peer);
}

static void test_full_socket(void **state)
{
	enum { SIZE = 4 << 20 };
	struct conn c;
	int peer, n = 2, small = 4096;
	char *big = calloc(1, SIZE), *buf = malloc(65536);
	struct iovec iov[2] = {{"h", 1}, {big, SIZE}}, *v = iov;
	size_t left, drained = 0;
	ssize_t r;

	(void)state;
	pair(&c, &peer);
	setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	assert_int_equal(conn_writev_now(&c, &v, &n), -2);
	assert_int_equal(n, 1); /* the head went, the body in part */
	assert_ptr_equal(v, &iov[1]);
	left = v->iov_len;
	assert_true(left > 0 && left < SIZE);
	while ((r = read(peer, buf, 65536)) > 0)
		drained += (size_t)r;
	assert_int_equal(drained, 1 + SIZE - left);
	/* What is left goes once the peer reads. */
	while (n > 0) {
		int rc = conn_writev_now(&c, &v, &n);

		assert_true(rc == 0 || rc == -2);
		while ((r = read(peer, buf, 65536)) > 0)
			drained += (size_t)r;
	}
	while ((r = read(peer, buf, 65536)) > 0)
		drained += (size_t)r;
	assert_int_equal(drained, 1 + SIZE);
	close(c.fd);
	close(peer);
	free(big);
	free(buf);
}

static void test_peer_gone(void **state)
{
	struct conn c;
	int peer, n = 1;
	struct iovec iov = {"x", 1}, *v = &iov;

	(void)state;
	pair(&c, &peer);
	close(peer);
	assert_int_equal(conn_writev_now(&c, &v, &n), -1);
	assert_int_equal(errno, EPIPE);
	close(c.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_at_once),
		cmocka_unit_test(test_full_socket),
		cmocka_unit_test(test_peer_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
