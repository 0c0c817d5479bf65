/*
 * test_policy — unit tests for workers/policy.c: the settings turned into a
 * struct conn_policy (limits, wait bound, trusted peers), and accepting a
 * connection under it on a real loopback listener (also out of descriptors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "workers/policy.h"

/* A struct strlist of the given strings. */
#define LIST(...)                                                                                  \
	((struct strlist){(char *[]){__VA_ARGS__},                                                \
			  sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)})

static const struct conn_io no_io;

static void test_settings(void **state)
{
	struct config cfg = {
		.timeout = 0,
		.limit_request_line = 100,
		.limit_request_fields = 50,
		.limit_request_field_size = 0,
		.limit_request_body = 10,
		.proxy_protocol = (char *)"auto",
	};
	struct conn_policy p;
	char err[128];

	(void)state;
	assert_int_equal(policy_from_config(&p, &cfg, true, err, sizeof(err)), 0);
	assert_int_equal(p.timeout_ms, 30000); /* --timeout 0: 30 s for one wait */
	assert_int_equal(p.limits.request_line, 100);
	assert_int_equal(p.limits.fields, 50);
	assert_int_equal(p.limits.field_size, 8190); /* 0: the default */
	assert_int_equal(p.limits.body, 10);
	assert_int_equal(p.proxy_versions, 3);
	assert_true(p.nodelay);
	assert_false(p.forwarded.any); /* empty lists trust nobody */
	assert_false(allow_match(&p.forwarded, "127.0.0.1"));
	assert_true(allow_match(&p.forwarded, "")); /* a unix peer: trusted, as by Gunicorn */
	assert_null(p.limits.forwarders); /* an empty forwarder_headers keeps no name */
	conn_policy_free(&p);

	cfg.timeout = 5;
	cfg.proxy_protocol = (char *)"off";
	assert_int_equal(policy_from_config(&p, &cfg, false, err, sizeof(err)), 0);
	assert_int_equal(p.timeout_ms, 5000);
	assert_int_equal(p.proxy_versions, 0);
	assert_false(p.nodelay);
	conn_policy_free(&p);
	cfg.proxy_protocol = (char *)"v1";
	assert_int_equal(policy_from_config(&p, &cfg, false, err, sizeof(err)), 0);
	assert_int_equal(p.proxy_versions, 1);
	conn_policy_free(&p);
	cfg.proxy_protocol = (char *)"v2";
	assert_int_equal(policy_from_config(&p, &cfg, false, err, sizeof(err)), 0);
	assert_int_equal(p.proxy_versions, 2);
	conn_policy_free(&p);
}

static void test_allow_lists(void **state)
{
	struct config cfg = {
		.forwarded_allow_ips = LIST("127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/33"),
		.proxy_allow_ips = LIST("*"),
	};
	static const struct {
		const char *addr;
		bool trusted;
	} rows[] = {
		{"127.0.0.1", true},      {"127.0.0.2", false},     {"10.1.2.3", true},
		{"11.0.0.1", false},      {"::ffff:10.0.0.1", true}, {"::1", true},
		{"::2", false},           {"2001:db8:7fff::1", true}, {"2001:db8:8000::1", false},
		{"", true /* a unix peer, as Gunicorn */}, {"not an address", false},
	};
	struct conn_policy p;
	char err[128];

	(void)state;
	assert_int_equal(policy_from_config(&p, &cfg, true, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(allow_match(&p.forwarded, rows[i].addr), rows[i].trusted);
	assert_true(p.proxy.any);
	assert_true(allow_match(&p.proxy, "")); /* "*" trusts unix peers too */
	conn_policy_free(&p);
}

static void test_bad_entry(void **state)
{
	const struct {
		struct strlist forwarded, proxy;
		const char *entry; /* named in the message */
	} rows[] = {
		{LIST("10.0.0.0/33"), LIST("*"), "'10.0.0.0/33'"},
		{LIST("10.0.0.0/"), LIST("*"), "'10.0.0.0/'"},
		{LIST("::1/129"), LIST("*"), "'::1/129'"},
		{LIST("example.com"), LIST("*"), "'example.com'"},
		{LIST("127.0.0.1"), LIST("*", "1.2.3.4/8x"), "'1.2.3.4/8x'"},
	};
	struct conn_policy p;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct config cfg = {.forwarded_allow_ips = rows[i].forwarded,
				     .proxy_allow_ips = rows[i].proxy};

		err[0] = '\0';
		assert_int_equal(policy_from_config(&p, &cfg, true, err, sizeof(err)), -1);
		assert_non_null(strstr(err, rows[i].entry));
	}
}

/* A TCP listener on 127.0.0.1, non-blocking as the arbiter binds it. */
static void tcp_listener(struct listener *l, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	memset(l, 0, sizeof(*l));
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(l->fd >= 0);
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l->fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
	assert_int_equal(listen(l->fd, 8), 0);
	assert_int_equal(getsockname(l->fd, (struct sockaddr *)addr, &len), 0);
	l->family = AF_INET;
	strcpy(l->name, "127.0.0.1:test");
}

static void test_accept(void **state)
{
	struct config cfg = {.forwarded_allow_ips = LIST("127.0.0.1"),
			     .forwarder_headers = LIST("SCRIPT_NAME", "X_Y")};
	struct conn_policy p;
	struct listener l;
	struct sockaddr_in addr;
	struct conn c;
	char err[128];
	int client, one = 0;
	socklen_t ol = sizeof(one);

	(void)state;
	assert_int_equal(policy_from_config(&p, &cfg, true, err, sizeof(err)), 0);
	assert_string_equal(p.limits.forwarders, "SCRIPT_NAME,X_Y");
	tcp_listener(&l, &addr);
	assert_int_equal(policy_accept(&c, &l, &no_io, &p), 0); /* none waiting */

	client = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(client, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(policy_accept(&c, &l, &no_io, &p), 1);
	assert_true(c.listener == &l);
	assert_string_equal(c.peer_addr, "127.0.0.1");
	assert_true(c.forwarded_trusted);
	assert_string_equal(c.limits.forwarders, "SCRIPT_NAME,X_Y"); /* a trusted front-end's */
	assert_false(c.proxy_trusted);
	assert_int_equal(c.timeout_ms, 30000);
	assert_int_equal(getsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, &ol), 0);
	assert_int_equal(one, 1);
	conn_close(&c);
	close(client);

	/* a unix listener: no TCP_NODELAY to set, no address to record, a
	 * trusted peer (as Gunicorn's: the socket's mode decides who connects) */
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	socklen_t ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				   (size_t)snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1,
						    "kirin-test-policy-%d", (int)getpid()));
	struct listener u = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0),
			     .family = AF_UNIX};

	assert_true(u.fd >= 0);
	assert_int_equal(bind(u.fd, (struct sockaddr *)&un, ul), 0);
	assert_int_equal(listen(u.fd, 8), 0);
	client = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(client, (struct sockaddr *)&un, ul), 0);
	assert_int_equal(policy_accept(&c, &u, &no_io, &p), 1);
	assert_string_equal(c.peer_addr, "");
	assert_true(c.forwarded_trusted);
	assert_non_null(c.limits.forwarders);
	conn_close(&c);
	close(client);
	close(u.fd);

	/* an error is logged and reported */
	close(l.fd);
	assert_int_equal(policy_accept(&c, &l, &no_io, &p), -1);
	conn_policy_free(&p);
}

/* Out of descriptors: -2 (the caller backs off), and the connection waits. */
static void test_accept_out_of_descriptors(void **state)
{
	struct config cfg = {0};
	struct conn_policy p;
	struct listener l;
	struct sockaddr_in addr;
	struct rlimit was, low;
	struct conn c;
	char err[128];
	int client, lowest;

	(void)state;
	assert_int_equal(policy_from_config(&p, &cfg, false, err, sizeof(err)), 0);
	tcp_listener(&l, &addr);
	client = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(client, (struct sockaddr *)&addr, sizeof(addr)), 0);
	lowest = dup(0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	low = (struct rlimit){.rlim_cur = (rlim_t)lowest, .rlim_max = was.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(policy_accept(&c, &l, &no_io, &p), -2);
	assert_int_equal(policy_accept(&c, &l, &no_io, &p), -2); /* not logged again */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
	assert_int_equal(policy_accept(&c, &l, &no_io, &p), 1);
	conn_close(&c);
	close(client);
	close(l.fd);
	conn_policy_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_allow_lists),
		cmocka_unit_test(test_bad_entry),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_accept_out_of_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
