/* Unit tests for the connection set on a fake reactor: the wait lists and
 * their spans (the head timeout from the policy), dispatch, the graceful
 * stop, lingering closes, and a connection closed when it cannot be
 * watched, and a TLS connection waiting to write; plus the
 * libevent reactor closing a connection whose event_new() fails. The .c
 * files are included to reach their statics; event_new is renamed in
 * reactor_event.c so a test can make it fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workers/connset.c"
#define event_new fake_event_new
#include "workers/reactor_event.c"
#undef event_new

struct event *event_new(struct event_base *base, evutil_socket_t fd, short what,
			event_callback_fn cb, void *arg);

/* What the fake reactor and dispatcher saw. */
static struct {
	int watch_rc;         /* what watch() and watch_write() return */
	int watches, write_watches, released, stops;
	size_t room;
	bool room_add;
	struct cconn *dispatched;
	bool fail_event_new;
} F;

static int fake_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p)
{
	return 0;
}

static void fake_run(void)
{
}

static void fake_stop(void)
{
	F.stops++;
}

static int fake_watch(struct cconn *cc)
{
	F.watches++;
	return F.watch_rc;
}

static int fake_watch_write(struct cconn *cc)
{
	F.write_watches++;
	return F.watch_rc;
}

static void fake_unwatch(struct cconn *cc)
{
}

static void fake_release(struct cconn *cc)
{
	F.released++;
	free(cc);
}

static void fake_room(size_t room, bool add)
{
	F.room = room;
	F.room_add = add;
}

static bool fake_drained(void)
{
	return true;
}

static void fake_free(void)
{
}

static void fake_dispatch(struct cconn *cc)
{
	F.dispatched = cc;
}

struct event *fake_event_new(struct event_base *base, evutil_socket_t fd, short what,
			     event_callback_fn cb, void *arg)
{
	return F.fail_event_new ? NULL : event_new(base, fd, what, cb, arg);
}

static const struct reactor fake = {
	.init = fake_init,
	.run = fake_run,
	.stop = fake_stop,
	.watch = fake_watch,
	.watch_write = fake_watch_write,
	.unwatch = fake_unwatch,
	.release = fake_release,
	.room = fake_room,
	.drained = fake_drained,
	.free = fake_free,
};
static const struct conn_io io = {0};
static struct connset_ops ops = {.dispatch = fake_dispatch, .io = &io};
static struct config cfg;
static struct worker wk = {.cfg = &cfg, .channel_fd = -1};

static int setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	memset(&cfg, 0, sizeof(cfg));
	cfg.keepalive = 3;
	cfg.timeout = 7;
	cfg.graceful_timeout = 30;
	ops.fresh_waits_timeout = false;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	connset_free();
	return 0;
}

/* A connection accepted into the set; *peer is the client's end. */
static struct cconn *accept_one(int *peer, const char *sent)
{
	struct cconn *cc = calloc(1, sizeof(*cc));
	int sv[2];

	assert_non_null(cc);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	if (sent)
		assert_int_equal(write(sv[1], sent, strlen(sent)), (ssize_t)strlen(sent));
	conn_init(&cc->c, sv[0], NULL, &io, &S.policy.limits, S.policy.timeout_ms);
	*peer = sv[1];
	connset_accepted(cc);
	return cc;
}

/* True once the set closed the server's end: the client reads EOF. */
static bool peer_closed(int peer)
{
	char b;

	return read(peer, &b, 1) == 0;
}

static void test_spans_come_from_the_settings(void **state)
{
	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	assert_int_equal(S.policy.timeout_ms, 7000);
	assert_true(S.head.span == 7.0);
	assert_true(S.idle.span == 3.0);
	connset_free();
	cfg.timeout = 0; /* the policy's default */
	cfg.keepalive = 0;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	assert_true(S.head.span == S.policy.timeout_ms / 1000.0);
	assert_true(S.idle.span == 1.0);
}

static void test_where_connections_wait(void **state)
{
	int silent_peer, half_peer;
	struct cconn *silent, *half;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	silent = accept_one(&silent_peer, NULL);
	half = accept_one(&half_peer, "GET / HT");
	assert_ptr_equal(silent->wait.list, &S.idle); /* --keep-alive to begin */
	assert_ptr_equal(half->wait.list, &S.head);   /* --timeout within a head */
	assert_true(silent->watching && half->watching);
	assert_int_equal(S.fresh, 2);
	assert_int_equal(S.nconns, 2);
	/* gevent's choice: a silent fresh connection waits --timeout. */
	ops.fresh_waits_timeout = true;
	connset_park(silent);
	assert_ptr_equal(silent->wait.list, &S.head);
	close(silent_peer);
	close(half_peer);
}

/* OpenSSL asked to write first (a handshake's flight larger than the socket takes). */
static void test_tls_that_must_write_waits_for_writing(void **state)
{
	int peer;
	struct cconn *cc;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	cc = accept_one(&peer, NULL);
	assert_int_equal(F.write_watches, 0);
	cc->c.ssl = (struct ssl_st *)&F; /* never dereferenced by the set */
	cc->c.tls_wants = POLLOUT;
	connset_park(cc);
	assert_int_equal(F.write_watches, 1);
	assert_ptr_equal(cc->wait.list, &S.idle);
	cc->c.tls_wants = POLLIN;
	connset_park(cc);
	assert_int_equal(F.write_watches, 1);
	cc->c.ssl = NULL;
	cc->c.tls_wants = POLLOUT;
	connset_park(cc);
	assert_int_equal(F.write_watches, 1); /* plain TCP: never */
	close(peer);
}

static void test_a_complete_head_is_dispatched(void **state)
{
	int peer;
	struct cconn *cc;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	cc = accept_one(&peer, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_ptr_equal(F.dispatched, cc);
	assert_true(cc->busy && cc->served && !cc->refuse);
	assert_null(cc->wait.list);
	assert_int_equal(S.busy, 1);
	assert_int_equal(S.fresh, 0);
	/* Back from the dispatcher with nothing buffered: idle, not busy. */
	assert_int_equal(conn_next_request(&cc->c), 0);
	connset_park(cc);
	assert_int_equal(S.busy, 0);
	assert_ptr_equal(cc->wait.list, &S.idle);
	close(peer);
}

static void test_stop_closes_idle_and_keeps_fresh(void **state)
{
	int served_peer, fresh_peer;
	struct cconn *served, *fresh;

	(void)state;
	ops.fresh_waits_timeout = true;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	served = accept_one(&served_peer, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(conn_next_request(&served->c), 0);
	connset_park(served);
	fresh = accept_one(&fresh_peer, NULL);
	assert_ptr_equal(fresh->wait.list, &S.head);
	begin_stop();
	assert_true(connset_stopping());
	assert_true(F.room == 0 && !F.room_add); /* accept nothing more */
	assert_true(peer_closed(served_peer));
	assert_int_equal(F.released, 1);
	assert_ptr_equal(fresh->wait.list, &S.idle); /* --keep-alive from now */
	assert_int_equal(S.nconns, 1);
	close(served_peer);
	close(fresh_peer);
}

static void test_a_connection_that_cannot_be_watched_is_closed(void **state)
{
	int peer;

	(void)state;
	F.watch_rc = -1;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	accept_one(&peer, NULL);
	assert_int_equal(F.watches, 1);
	assert_int_equal(F.released, 1);
	assert_int_equal(S.nconns, 0);
	assert_int_equal(S.fresh, 0);
	assert_true(F.room == 1 && F.room_add); /* its room goes back */
	assert_true(peer_closed(peer));
	close(peer);
}

/* A head that trickles in waits small, and is parsed from its start when the rest comes. */
static void test_a_trickling_head_waits_small(void **state)
{
	const char *rest = "Host: x\r\n\r\n";
	int peer;
	struct cconn *cc;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	cc = accept_one(&peer, "GET /slow HTTP/1.1\r\n");
	assert_ptr_equal(cc->wait.list, &S.head);
	assert_null(cc->c.headers);
	assert_int_equal(cc->c.cap, CONN_PARKED_HEAD);
	assert_int_equal(write(peer, rest, strlen(rest)), (ssize_t)strlen(rest));
	connset_readable(cc);
	assert_ptr_equal(F.dispatched, cc);
	assert_int_equal(cc->c.req.path_len, 5);
	assert_memory_equal(cc->c.req.path, "/slow", 5);
	assert_int_equal(cc->c.req.num_headers, 1);
	close(peer);
}

/* A refused connection, answered by the dispatcher and closed: it lingers. */
static struct cconn *refuse_one(int *peer)
{
	struct cconn *cc = accept_one(peer, "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n");
	char answer[512];

	assert_ptr_equal(F.dispatched, cc);
	assert_true(cc->refuse);
	conn_refuse(&cc->c, cc->c.error_status);
	connset_close(cc);
	assert_true(read(*peer, answer, sizeof(answer)) > 0); /* the 400 */
	return cc;
}

static void test_a_lingering_close_ends_at_the_clients_eof(void **state)
{
	int peer;
	struct cconn *cc;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	cc = refuse_one(&peer);
	assert_true(cc->lingering && cc->watching);
	assert_ptr_equal(cc->wait.list, &S.linger);
	assert_int_equal(S.nlinger, 1);
	assert_int_equal(F.released, 0);
	assert_int_equal(S.nconns, 0); /* no longer a connection: its room is back */
	assert_true(F.room == 1 && F.room_add);
	assert_true(peer_closed(peer)); /* writing is shut down */
	/* What the client still sends is discarded; the close waits on. */
	assert_int_equal(write(peer, "more body", 9), 9);
	connset_readable(cc);
	assert_int_equal(F.released, 0);
	assert_int_equal(S.nlinger, 1);
	close(peer);
	connset_readable(cc);
	assert_int_equal(F.released, 1);
	assert_int_equal(S.nlinger, 0);
}

static void test_a_lingering_close_ends_at_its_bound(void **state)
{
	int peer;
	struct cconn *cc;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	assert_true(S.linger.span == CONN_LINGER_SECONDS);
	cc = refuse_one(&peer);
	wk.last_beat = 1e12; /* no heartbeat due in the tick */
	connset_tick();
	assert_int_equal(F.released, 0);
	cc->wait.deadline = 0; /* as if CONN_LINGER_SECONDS passed */
	connset_tick();
	wk.last_beat = 0;
	assert_int_equal(F.released, 1);
	assert_int_equal(S.nlinger, 0);
	close(peer);
}

static void test_past_the_cap_a_close_does_not_linger(void **state)
{
	int peer;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	S.nlinger = CONN_LINGER_MAX;
	refuse_one(&peer);
	assert_int_equal(F.released, 1);
	assert_int_equal(S.nlinger, CONN_LINGER_MAX);
	S.nlinger = 0;
	close(peer);
}

static void test_the_end_closes_lingering_connections(void **state)
{
	int peer;

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	refuse_one(&peer);
	connset_free();
	assert_int_equal(F.released, 1);
	close(peer);
	assert_int_equal(connset_init(&wk, &ops, &fake), 0); /* for the teardown */
}

/* reactor_event: a connection whose event cannot be made is closed, its room given back. */
static void test_event_new_failure_closes_the_connection(void **state)
{
	struct econn *ec = xcalloc(1, sizeof(*ec));
	int sv[2];

	(void)state;
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	L.base = event_base_new();
	assert_non_null(L.base);
	A.room = 5;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	conn_init(&ec->cc.c, sv[0], NULL, &io, &S.policy.limits, S.policy.timeout_ms);
	F.fail_event_new = true;
	accepted(&ec->cc);
	assert_true(peer_closed(sv[1]));
	assert_int_equal(S.nconns, 0);
	assert_int_equal(A.room, 6);
	event_base_free(L.base);
	L.base = NULL;
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spans_come_from_the_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_where_connections_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_that_must_write_waits_for_writing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_complete_head_is_dispatched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_closes_idle_and_keeps_fresh, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_connection_that_cannot_be_watched_is_closed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_new_failure_closes_the_connection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_trickling_head_waits_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_lingering_close_ends_at_the_clients_eof,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_lingering_close_ends_at_its_bound, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_past_the_cap_a_close_does_not_linger, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_end_closes_lingering_connections, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
