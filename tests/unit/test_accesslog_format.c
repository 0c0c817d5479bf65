/* Unit tests for the access log's format compiler (workers/accesslog_format.c):
 * every atom, headers, environ variables, unknown keys, %%, Gunicorn's
 * escaping, Basic auth user names, the JSON line, long lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "workers/accesslog_format.h"
#include "workers/http/conn.h"

#define NOW 1795435200 /* 2026-11-23 12:00:00 UTC */
#define PID 4242L

/* A request as the parser would leave it; names and values point at literals. */
struct fixture {
	struct conn c;
	struct http_header h[16];
	struct accesslog_entry e;
	char line[8192];
};

static void add_header(struct fixture *f, const char *name, const char *value)
{
	struct http_header *h = &f->h[f->c.req.num_headers++];

	h->name = name;
	h->name_len = strlen(name);
	h->value = value;
	h->value_len = strlen(value);
}

/* GET /a%20b/c?x=1&y=2 HTTP/1.1 from 10.0.0.7 with a referer and a user agent. */
static void setup(struct fixture *f)
{
	static const char target[] = "/a%20b/c?x=1&y=2";

	memset(f, 0, sizeof(*f));
	strcpy(f->c.peer_addr, "10.0.0.7");
	strcpy(f->c.peer_port, "50123");
	f->c.req.method = "GET";
	f->c.req.method_len = 3;
	f->c.req.target = target;
	f->c.req.target_len = strlen(target);
	f->c.req.path = target;
	f->c.req.path_len = 8;
	f->c.req.query = target + 9;
	f->c.req.query_len = 7;
	f->c.req.version_minor = 1;
	f->c.req.headers = f->h;
	f->c.req.max_headers = 16;
	add_header(f, "Host", "example.com");
	add_header(f, "Referer", "http://example.com/from");
	add_header(f, "User-Agent", "curl/8.0");
	f->e.c = &f->c;
	f->e.status = 200;
	f->e.body_bytes = 14;
	f->e.duration_us = 1234567;
}

/* Format with fmt; the line without its newline (checked present). */
static const char *fmt_line(struct fixture *f, const char *fmt)
{
	struct accesslog_format *af = accesslog_format_new(fmt);
	size_t n = accesslog_format_line(af, &f->e, NOW, PID, f->line, sizeof(f->line));

	accesslog_format_free(af);
	assert_true(n >= 1 && n < sizeof(f->line));
	assert_int_equal(f->line[n - 1], '\n');
	f->line[n - 1] = '\0';
	assert_null(memchr(f->line, '\n', n - 1));
	return f->line;
}

static void test_default_format_is_gunicorns(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f);
	assert_string_equal(
		fmt_line(&f, "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""),
		"10.0.0.7 - - [23/Nov/2026:12:00:00 +0000] \"GET /a%20b/c?x=1&y=2 HTTP/1.1\" 200 14 "
		"\"http://example.com/from\" \"curl/8.0\"");
}

static void test_every_atom(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f);
	assert_string_equal(fmt_line(&f, "h=%(h)s l=%(l)s u=%(u)s t=%(t)s r=%(r)s s=%(s)s "
					 "m=%(m)s U=%(U)s q=%(q)s H=%(H)s b=%(b)s B=%(B)s "
					 "f=%(f)s a=%(a)s T=%(T)s D=%(D)s M=%(M)s L=%(L)s p=%(p)s"),
			    "h=10.0.0.7 l=- u=- t=[23/Nov/2026:12:00:00 +0000] "
			    "r=GET /a%20b/c?x=1&y=2 HTTP/1.1 s=200 m=GET U=/a b/c q=x=1&y=2 "
			    "H=HTTP/1.1 b=14 B=14 f=http://example.com/from a=curl/8.0 T=1 "
			    "D=1234567 M=1234 L=1.234567 p=<4242>");
}

static void test_atoms_without_values(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f);
	f.c.peer_addr[0] = '\0'; /* a unix socket */
	f.c.req.num_headers = 1; /* no referer, no user agent */
	f.c.req.query_len = 0;
	f.c.req.version_minor = 0;
	f.e.body_bytes = 0;
	f.e.status = 304;
	f.e.duration_us = 42;
	/* As Gunicorn: b is "0" for an empty body, q is empty, not "-". */
	assert_string_equal(fmt_line(&f, "%(h)s|%(f)s|%(a)s|%(q)s|%(b)s|%(H)s|%(s)s|%(T)s|%(L)s"),
			    "-|-|-||0|HTTP/1.0|304|0|0.000042");
}

static void test_unknown_keys_and_percent(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f);
	/* Unknown keys become "-"; atoms are case-sensitive; d and i work as s. */
	assert_string_equal(fmt_line(&f, "%(x)s %(zz)s %(S)s %({foo}x)s %()s %(s)d %(s)i"),
			    "- - - - - 200 200");
	/* %% is a percent sign; what Python would not format stays as written. */
	assert_string_equal(fmt_line(&f, "100%% %(s)r %s % %(h %(h)"), "100% %(s)r %s % %(h %(h)");
	assert_string_equal(fmt_line(&f, "%"), "%");
	assert_string_equal(fmt_line(&f, ""), "");
	assert_string_equal(fmt_line(&f, "plain text"), "plain text");
	/* Python's key runs to the matching parenthesis. */
	assert_string_equal(fmt_line(&f, "%(a(b)c)s|%(s)s"), "-|200");
}

static ssize_t env_get(void *ctx, const char *name, size_t len, char *out, size_t cap)
{
	static const char *const vars[][2] = {
		{"SCRIPT_NAME", "/app"},
		{"wsgi.url_scheme", "http"},
		{"HTTP_X_EVIL", "a\"b\nc\x01"},
	};

	(void)ctx;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		size_t n = strlen(vars[i][1]);
		if (strlen(vars[i][0]) == len && strncasecmp(vars[i][0], name, len) == 0) {
			n = n < cap ? n : cap;
			memcpy(out, vars[i][1], n);
			return (ssize_t)n;
		}
	}
	return -1;
}

static void test_headers_and_environ(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				   "X-Trace:  abc \r\nX-Trace: def\r\nContent-Length: 14\r\n\r\n";
	struct fixture f;

	(void)state;
	setup(&f);
	add_header(&f, "X-Forwarded-For", "1.2.3.4");
	add_header(&f, "X-Dup", "first");
	add_header(&f, "x-dup", "second");
	f.e.resp_head = head;
	f.e.resp_head_len = strlen(head);
	f.e.environ_get = env_get;
	/* Names without case; a repeated request header: the last, as Gunicorn's dict. */
	assert_string_equal(fmt_line(&f, "%({x-forwarded-for}i)s %({X-Forwarded-For}i)s "
					 "%({X-DUP}I)s %({missing}i)s"),
			    "1.2.3.4 1.2.3.4 second -");
	assert_string_equal(fmt_line(&f, "%({content-type}o)s|%({CONTENT-LENGTH}o)s|"
					 "%({x-trace}o)s|%({date}o)s"),
			    "text/plain|14|def|-");
	assert_string_equal(fmt_line(&f, "%({script_name}e)s %({WSGI.URL_SCHEME}e)s %({nope}e)s"),
			    "/app http -");
	/* Escaping: '"' as Gunicorn, control bytes as \xHH so a line stays a line. */
	assert_string_equal(fmt_line(&f, "\"%({http_x_evil}e)s\""), "\"a\\\"b\\x0ac\\x01\"");
	/* No head (the app never answered), no environ: "-". */
	f.e.resp_head = NULL;
	f.e.environ_get = NULL;
	assert_string_equal(fmt_line(&f, "%({content-type}o)s %({script_name}e)s"), "- -");
}

static void test_escaping(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f);
	f.c.req.num_headers = 1;
	add_header(&f, "User-Agent", "Mozilla/5.0 (\"quoted\") \\back");
	add_header(&f, "Referer", "http://x/\x7f");
	/* A backslash stays as it is (Gunicorn escapes only the quote). */
	assert_string_equal(fmt_line(&f, "\"%(a)s\" \"%(f)s\""),
			    "\"Mozilla/5.0 (\\\"quoted\\\") \\back\" \"http://x/\\x7f\"");
	/* Repeated headers reach f and a joined with ",", as the environ has them. */
	add_header(&f, "referer", "http://y/");
	assert_string_equal(fmt_line(&f, "%(f)s"), "http://x/\\x7f,http://y/");
	/* A decoded path may hold anything. */
	f.c.req.path = "/%0a%22%zz%4";
	f.c.req.path_len = strlen(f.c.req.path);
	assert_string_equal(fmt_line(&f, "%(U)s"), "/\\x0a\\\"%zz%4");
}

static void test_basic_auth_user(void **state)
{
	static const struct {
		const char *header, *user;
	} cases[] = {
		{"Basic YWxpY2U6c2VjcmV0", "alice"},             /* alice:secret */
		{"basic YWxpY2U6c2VjcmV0", "alice"},             /* any case */
		{"BASIC  YWxpY2U6c2VjcmV0  ", "alice"},          /* spaces stripped */
		{"Basic Ym9i", "bob"},                           /* no colon */
		{"Basic Ym9iOg==", "bob"},                       /* bob: */
		{"Basic Ym9iOmE6Yg==", "bob"},                   /* bob:a:b */
		{"Basic YWxp\"Y2U6c2VjcmV0", "alice"},           /* junk skipped */
		{"Basic Ym9iOg", "-"},                           /* missing padding */
		{"Basic Y", "-"},                                /* one char too many */
		{"Basic OnNlY3JldA==", "-"},                     /* empty user */
		{"Basic", "-"},                                  /* no space */
		{"Bearer YWxpY2U6c2VjcmV0", "-"},                /* not basic */
		{"Basic w6lsw6huZTp4", "\xc3\xa9l\xc3\xa8ne"},   /* UTF-8 */
		{"Basic 6Xg6eA==", "-"},                         /* not UTF-8 */
	};
	struct fixture f;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup(&f);
		add_header(&f, "Authorization", cases[i].header);
		assert_string_equal(fmt_line(&f, "%(u)s"), cases[i].user);
	}
}

static void test_json_line(void **state)
{
	struct fixture f;
	json_error_t err;
	json_t *o;

	(void)state;
	setup(&f);
	add_header(&f, "Authorization", "Basic YWxpY2U6c2VjcmV0");
	f.c.req.headers[1].value = "http://x/\"q\"";
	f.c.req.headers[1].value_len = strlen(f.c.req.headers[1].value);
	o = json_loads(fmt_line(&f, "json"), 0, &err);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "remote_addr")), "10.0.0.7");
	assert_string_equal(json_string_value(json_object_get(o, "remote_user")), "alice");
	assert_string_equal(json_string_value(json_object_get(o, "time")),
			    "2026-11-23T12:00:00+00:00");
	assert_string_equal(json_string_value(json_object_get(o, "request")),
			    "GET /a%20b/c?x=1&y=2 HTTP/1.1");
	assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(o, "path")), "/a b/c");
	assert_string_equal(json_string_value(json_object_get(o, "query")), "x=1&y=2");
	assert_string_equal(json_string_value(json_object_get(o, "protocol")), "HTTP/1.1");
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "bytes")), 14);
	assert_string_equal(json_string_value(json_object_get(o, "referer")), "http://x/\"q\"");
	assert_string_equal(json_string_value(json_object_get(o, "user_agent")), "curl/8.0");
	assert_int_equal(json_integer_value(json_object_get(o, "duration_s")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "duration_ms")), 1234);
	assert_int_equal(json_integer_value(json_object_get(o, "duration_us")), 1234567);
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), PID);
	json_decref(o);

	/* Missing facts are null; bytes that are not UTF-8 are read as Latin-1. */
	setup(&f);
	f.c.req.num_headers = 1;
	add_header(&f, "User-Agent", "caf\xe9");
	f.c.peer_addr[0] = '\0';
	o = json_loads(fmt_line(&f, "json"), 0, &err);
	assert_non_null(o);
	assert_true(json_is_null(json_object_get(o, "referer")));
	assert_true(json_is_null(json_object_get(o, "remote_user")));
	assert_true(json_is_null(json_object_get(o, "remote_addr")));
	assert_string_equal(json_string_value(json_object_get(o, "user_agent")), "caf\xc3\xa9");
	json_decref(o);

	/* Escapes: quote, backslash, control bytes; UTF-8 kept, a stray byte as Latin-1. */
	setup(&f);
	f.c.req.num_headers = 1;
	add_header(&f, "User-Agent", "a\\b\"c\x01\x7f\xc3\xa9\xff\xe2\x82");
	o = json_loads(fmt_line(&f, "json"), 0, &err);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "user_agent")),
			    "a\\b\"c\x01\x7f\xc3\xa9\xc3\xbf\xc3\xa2\xc2\x82");
	json_decref(o);
}

static void test_long_lines_are_cut(void **state)
{
	static char target[9000];
	struct fixture f;
	struct accesslog_format *af;
	char buf[4096];
	size_t n;
	json_error_t err;
	json_t *o;

	(void)state;
	setup(&f);
	memset(target, 'a', sizeof(target) - 1);
	target[0] = '/';
	f.c.req.target = f.c.req.path = target;
	f.c.req.target_len = f.c.req.path_len = sizeof(target) - 1;
	f.c.req.query_len = 0;
	af = accesslog_format_new("%(h)s \"%(r)s\" %(s)s");
	n = accesslog_format_line(af, &f.e, NOW, PID, buf, sizeof(buf));
	accesslog_format_free(af);
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(buf[n - 1], '\n');
	assert_memory_equal(buf, "10.0.0.7 \"GET /aaa", 18);
	/* JSON stays JSON: long strings are shortened instead. */
	af = accesslog_format_new("json");
	n = accesslog_format_line(af, &f.e, NOW, PID, buf, sizeof(buf));
	accesslog_format_free(af);
	assert_true(n <= sizeof(buf));
	assert_int_equal(buf[n - 1], '\n');
	o = json_loadb(buf, n, 0, &err);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_format_is_gunicorns),
		cmocka_unit_test(test_every_atom),
		cmocka_unit_test(test_atoms_without_values),
		cmocka_unit_test(test_unknown_keys_and_percent),
		cmocka_unit_test(test_headers_and_environ),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_basic_auth_user),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_long_lines_are_cut),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
