/* Unit tests for the connection greenlets' dispatch, on a fake switch table
 * and a fake reactor: a connection that no greenlet takes (the switch into
 * a parked one fails before it takes it, or a new one cannot be started)
 * is closed, not left open and busy forever. Plain Python objects stand in
 * for greenlets: the pool only holds references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "workers/connset.h"
#include "workers/policy.h"
#include "workers/python/gconn.c"
#include "workers/reactor.h"

static struct {
	int resumes, starts, released;
} F;

static int fake_init(struct worker *w, const struct connset_ops *ops, const struct conn_policy *p)
{
	return 0;
}

static void fake_nothing(void)
{
}

static int fake_watch(struct cconn *cc)
{
	return 0;
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
}

static bool fake_drained(void)
{
	return true;
}

static PyObject *fake_current(void)
{
	return PyLong_FromLong(0);
}

static PyObject *fake_to_hub(void)
{
	return PyLong_FromLong(0);
}

/* The switch fails before the greenlet runs (so it never takes the connection). */
static int failing_resume(PyObject *g)
{
	F.resumes++;
	PyErr_SetString(PyExc_RuntimeError, "cannot switch");
	return -1;
}

static int failing_start(PyObject *run)
{
	F.starts++;
	PyErr_SetString(PyExc_MemoryError, "no greenlet");
	return -1;
}

static const struct reactor fake = {
	.init = fake_init,
	.run = fake_nothing,
	.stop = fake_nothing,
	.watch = fake_watch,
	.unwatch = fake_unwatch,
	.release = fake_release,
	.room = fake_room,
	.drained = fake_drained,
	.free = fake_nothing,
};
static const struct gconn_switch failing = {
	.current = fake_current,
	.to_hub = fake_to_hub,
	.resume = failing_resume,
	.start = failing_start,
};
static const struct conn_io io = {0};
static const struct connset_ops ops = {.dispatch = gconn_dispatch, .io = &io};
static struct config cfg = {.keepalive = 2, .timeout = 30};
static struct worker wk = {.cfg = &cfg, .channel_fd = -1};

static int setup(void **state)
{
	(void)state;
	Py_InitializeEx(0);
	memset(&F, 0, sizeof(F));
	assert_int_equal(gconn_init(&wk, &failing, wsgi_serve), 0);
	assert_int_equal(connset_init(&wk, &ops, &fake), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	connset_free();
	Py_DECREF(G.pool.parked);
	return Py_FinalizeEx();
}

/* A connection whose request head is there: accepting it dispatches it. The client's end. */
static int accept_with_request(void)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct cconn *cc = calloc(1, sizeof(*cc));
	struct conn_policy p;
	char err[64];
	int sv[2];

	assert_non_null(cc);
	assert_int_equal(policy_from_config(&p, &cfg, false, err, sizeof(err)), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(write(sv[1], get, sizeof(get) - 1), (ssize_t)sizeof(get) - 1);
	conn_init(&cc->c, sv[0], NULL, &io, &p.limits, p.timeout_ms);
	conn_policy_free(&p);
	connset_accepted(cc);
	return sv[1];
}

static bool peer_closed(int peer)
{
	char b;

	return read(peer, &b, 1) == 0;
}

static void test_a_parked_greenlet_that_cannot_take_it(void **state)
{
	PyObject *g = PyLong_FromLong(1); /* new ref */
	int peer;

	(void)state;
	assert_int_equal(gpool_put(&G.pool, g), 0);
	Py_DECREF(g);
	peer = accept_with_request();
	assert_int_equal(F.resumes, 1);
	assert_int_equal(F.released, 1);
	assert_null(G.handoff);
	assert_true(peer_closed(peer));
	assert_false(connset_stopping());
	close(peer);
}

static void test_no_greenlet_can_be_started(void **state)
{
	int peer;

	(void)state;
	peer = accept_with_request();
	assert_int_equal(F.starts, 1);
	assert_int_equal(F.released, 1);
	assert_true(peer_closed(peer));
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_parked_greenlet_that_cannot_take_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_greenlet_can_be_started, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
