/*
 * test_parser — unit tests for workers/http/parser.c.
 *
 * Every request head is parsed three ways and must give the same result:
 * whole, fed with len = 1, 2, 3, ... on a buffer that does not move, and fed
 * one byte more each call from a buffer that moves (so the parser rebases its
 * slices). Every input is placed so that its last byte is the last byte before
 * a PROT_NONE page: an over-read crashes the test. Chunked bodies are decoded
 * whole and in fragments of several sizes, each fragment against the guard
 * page too; PROXY headers are also tried on every prefix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers/http/chars.h"
#include "workers/http/chunked.h"
#include "workers/http/parser.h"
#include "workers/http/proxy.h"

#define GUARD_SPACE (2 * 1024 * 1024) /* the largest input a test places */
#define MAX_FIELDS  200
#define SNAP_SIZE   65536

static char *guard_end; /* the PROT_NONE page starts here */

/* One parse's outcome, the request flattened to text to compare modes. */
struct outcome {
	ssize_t r;
	struct http_request req;
	struct http_header headers[MAX_FIELDS];
	char snap[SNAP_SIZE];
};

static struct outcome whole_, fixed_, moving_;

static char *place(const char *in, size_t n);
static void snapshot(struct outcome *o);
static struct outcome *parse3(const char *in, size_t n, const struct http_limits *lim);
static ssize_t parse_str(const char *in, const struct http_limits *lim);
static void expect_status(const char *in, const struct http_limits *lim, int status);
static void expect_ok(const char *in, const struct http_limits *lim);
static bool slice_is(const char *p, size_t n, const char *want);
static const struct http_header *header(size_t i);
static void limits(struct http_limits *lim, long line, long fields, long size, long body);

/* ---- helpers ---------------------------------------------------------- */

static int setup(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	char *base = mmap(NULL, GUARD_SPACE + (size_t)page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	if (base == MAP_FAILED)
		return -1;
	guard_end = base + GUARD_SPACE;
	return mprotect(guard_end, (size_t)page, PROT_NONE);
}

/* Copy in so that its last byte is the last readable byte. */
static char *place(const char *in, size_t n)
{
	assert_true(n <= GUARD_SPACE);
	memmove(guard_end - n, in, n);
	return guard_end - n;
}

static void append(char **p, char *end, const char *what, const char *s, size_t n)
{
	int w = snprintf(*p, (size_t)(end - *p), "%s[%zu:", what, n);

	assert_true(w > 0 && *p + w + n + 2 < end);
	*p += w;
	memcpy(*p, s ? s : "", s ? n : 0);
	*p += s ? n : 0;
	*(*p)++ = ']';
	**p = '\0';
}

static void snapshot(struct outcome *o)
{
	const struct http_request *q = &o->req;
	char *p = o->snap, *end = o->snap + sizeof(o->snap);

	p += snprintf(p, (size_t)(end - p), "r=%zd", o->r);
	if (o->r == HTTP_PARSE_ERROR) {
		snprintf(p, (size_t)(end - p), " status=%d error=%s", q->status, q->error);
		return;
	}
	if (o->r == HTTP_PARSE_AGAIN)
		return;
	append(&p, end, " method", q->method, q->method_len);
	append(&p, end, " target", q->target, q->target_len);
	append(&p, end, " path", q->path, q->path_len);
	append(&p, end, " query", q->query, q->query_len);
	append(&p, end, " host", q->host, q->host ? q->host_len : 0);
	p += snprintf(p, (size_t)(end - p), " v=%d body=%d cl=%llu ka=%d ec=%d ca=%d n=%zu",
		      q->version_minor, (int)q->body, (unsigned long long)q->content_length,
		      q->keep_alive, q->expect_continue, q->close_after, q->num_headers);
	for (size_t i = 0; i < q->num_headers; i++) {
		append(&p, end, " ", q->headers[i].name, q->headers[i].name_len);
		append(&p, end, "=", q->headers[i].value, q->headers[i].value_len);
	}
}

/*
 * Parse in[0..n) whole, then byte by byte on a fixed buffer, then byte by
 * byte on a moving one; all three must agree. Returns the whole parse,
 * whose slices stay valid until the next call.
 */
static struct outcome *parse3(const char *in, size_t n, const struct http_limits *lim)
{
	char *buf;

	/* byte by byte, the buffer moving each call (each prefix at the guard) */
	http_request_init(&moving_.req, moving_.headers, MAX_FIELDS);
	moving_.r = HTTP_PARSE_AGAIN;
	for (size_t k = 1; k <= n && moving_.r == HTTP_PARSE_AGAIN; k++)
		moving_.r = http_parse_request(&moving_.req, place(in, k), k, lim);
	snapshot(&moving_);

	/* byte by byte, same buffer */
	buf = place(in, n);
	http_request_init(&fixed_.req, fixed_.headers, MAX_FIELDS);
	fixed_.r = HTTP_PARSE_AGAIN;
	for (size_t k = 1; k <= n && fixed_.r == HTTP_PARSE_AGAIN; k++)
		fixed_.r = http_parse_request(&fixed_.req, buf, k, lim);
	snapshot(&fixed_);

	/* whole, last: its slices point into the placed input */
	http_request_init(&whole_.req, whole_.headers, MAX_FIELDS);
	whole_.r = http_parse_request(&whole_.req, buf, n, lim);
	snapshot(&whole_);

	assert_string_equal(whole_.snap, fixed_.snap);
	assert_string_equal(whole_.snap, moving_.snap);
	/* a verdict is final: asking again gives it again */
	assert_int_equal(http_parse_request(&whole_.req, buf, n, lim), whole_.r);
	return &whole_;
}

static ssize_t parse_str(const char *in, const struct http_limits *lim)
{
	return parse3(in, strlen(in), lim)->r;
}

static void expect_status(const char *in, const struct http_limits *lim, int status)
{
	ssize_t r = parse_str(in, lim);

	if (r != HTTP_PARSE_ERROR || whole_.req.status != status)
		print_error("input: %s\nresult: %s\n", in, whole_.snap);
	assert_int_equal(r, HTTP_PARSE_ERROR);
	assert_int_equal(whole_.req.status, status);
	assert_non_null(whole_.req.error);
}

static void expect_ok(const char *in, const struct http_limits *lim)
{
	ssize_t r = parse_str(in, lim);

	if (r != (ssize_t)strlen(in))
		print_error("input: %s\nresult: %s\n", in, whole_.snap);
	assert_int_equal(r, (ssize_t)strlen(in));
}

static bool slice_is(const char *p, size_t n, const char *want)
{
	return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static const struct http_header *header(size_t i)
{
	assert_true(i < whole_.req.num_headers);
	return &whole_.req.headers[i];
}

static void limits(struct http_limits *lim, long line, long fields, long size, long body)
{
	http_limits_from_settings(lim, line, fields, size, body);
}

#define assert_slice(p, n, want) assert_true(slice_is((p), (n), (want)))

/* ---- request line ----------------------------------------------------- */

static void test_origin_form(void **state)
{
	(void)state;
	expect_ok("GET /forums/1/topics/2375?page=1#posts-17408 HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
	assert_slice(whole_.req.method, whole_.req.method_len, "GET");
	assert_slice(whole_.req.target, whole_.req.target_len,
		     "/forums/1/topics/2375?page=1#posts-17408");
	assert_slice(whole_.req.path, whole_.req.path_len, "/forums/1/topics/2375");
	assert_slice(whole_.req.query, whole_.req.query_len, "page=1");
	assert_int_equal(whole_.req.version_minor, 1);

	expect_ok("GET /a#frag?not-query HTTP/1.0\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "/a");
	assert_int_equal(whole_.req.query_len, 0);
	assert_int_equal(whole_.req.version_minor, 0);

	expect_ok("GET ///keeping_slashes?x=1?y=\"2\" HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "///keeping_slashes");
	assert_slice(whole_.req.query, whole_.req.query_len, "x=1?y=\"2\"");

	/* obs-text and quotes are visible bytes */
	expect_ok("GET /\xc3\xa0%20k/with_\"quotes\" HTTP/1.0\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "/\xc3\xa0%20k/with_\"quotes\"");
	expect_ok("GET /? HTTP/1.0\r\n\r\n", NULL);
	assert_int_equal(whole_.req.query_len, 0);
}

static void test_absolute_form(void **state)
{
	(void)state;
	expect_ok("GET http://example.com/foo?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "/foo");
	assert_slice(whole_.req.query, whole_.req.query_len, "q=1");
	assert_slice(whole_.req.target, whole_.req.target_len, "http://example.com/foo?q=1");

	expect_ok("GET https://user:pa%20ss@example.com:8080/foo#x HTTP/1.1\r\nHost: a\r\n\r\n",
		  NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "/foo");
	expect_ok("GET http://[::1]:8080/foo HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "/foo");

	/* no path: "/" */
	expect_ok("GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "/");
	expect_ok("GET http://example.com?a=b HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "/");
	assert_slice(whole_.req.query, whole_.req.query_len, "a=b");
	expect_ok("GET svn+ssh://h.example:/x HTTP/1.1\r\nHost: a\r\n\r\n", NULL);

	expect_status("PUT s://]ufd/: HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET http:///foo HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET http://[::1/foo HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET http://[zz::1]/ HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET http://a:80x/ HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET http://a[b]/ HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET http://u[s]er@a/ HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET foo/bar HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
}

static void test_asterisk_and_authority_form(void **state)
{
	(void)state;
	expect_ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "*");
	expect_status("GET * HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);

	expect_ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", NULL);
	assert_slice(whole_.req.path, whole_.req.path_len, "example.com:443");
	expect_ok("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", NULL);
	expect_status("GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("CONNECT /foo HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("CONNECT u@example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("CONNECT http://a:443 HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
}

static void test_method(void **state)
{
	(void)state;
	expect_ok("-BLARGH /foo HTTP/1.0\r\n\r\n", NULL);
	assert_slice(whole_.req.method, whole_.req.method_len, "-BLARGH");
	expect_ok("M-SEARCH / HTTP/1.0\r\n\r\n", NULL);
	expect_ok("PRO.P$FIND_1 / HTTP/1.0\r\n\r\n", NULL);
	expect_ok("ABCDEFGHIJKLMNOPQRST / HTTP/1.0\r\n\r\n", NULL); /* 20 */
	expect_ok("PUT / HTTP/1.0\r\n\r\n", NULL);                  /* 3 */

	expect_status("ABCDEFGHIJKLMNOPQRSTU / HTTP/1.0\r\n\r\n", NULL, 400); /* 21 */
	expect_status("GE / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("get / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("Get / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("-bl /foo HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("bla:rgh /foo HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GET: / HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GE#T / HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GET\xc3\x9f / HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GE(T / HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status(" GET / HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("\tGET / HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GET\t/ HTTP/1.1\r\n\r\n", NULL, 400);
	/* a NUL inside the method, as in "GET\0PROXY /foo" */
	assert_int_equal(parse3("GET\0PROXY /foo HTTP/1.1\r\n\r\n", 27, NULL)->r,
			 HTTP_PARSE_ERROR);
	assert_int_equal(whole_.req.status, 400);
}

static void test_request_line_syntax(void **state)
{
	(void)state;
	expect_status("GET HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GET\r\n\r\n", NULL, 400);
	expect_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\t\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	/* line endings: bare LF, bare CR */
	expect_status("GET\n/\nHTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\nHost: a\n\n", NULL, 400);
	expect_status("GET / HTTP/1.1\rHost: a\r\n\r\n", NULL, 400);
	expect_status("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 400);
	/* incomplete stays incomplete */
	assert_int_equal(parse_str("GET / HTTP/1.1\r", NULL), HTTP_PARSE_AGAIN);
	assert_int_equal(parse_str("GET /foo/bar HTTP/1.0\r\nbaz", NULL), HTTP_PARSE_AGAIN);
	assert_int_equal(parse_str("GET / HTTP/1.0\r\n\r", NULL), HTTP_PARSE_AGAIN);
}

/* RFC 9112 section 2.2: a few empty lines before the request line are skipped. */
static void test_leading_empty_lines(void **state)
{
	static const char get[] = "GET /p?q HTTP/1.1\r\nHost: a\r\n\r\n";
	char in[2 * (HTTP_MAX_EMPTY_LINES + 2) + sizeof(get)];
	struct http_limits lim;

	(void)state;
	expect_ok("\r\nGET / HTTP/1.0\r\n\r\n", NULL);
	assert_slice(whole_.req.method, whole_.req.method_len, "GET");
	assert_slice(whole_.req.target, whole_.req.target_len, "/");
	expect_ok("\r\n\r\nPOST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", NULL);
	assert_slice(whole_.req.method, whole_.req.method_len, "POST");
	assert_int_equal(whole_.req.content_length, 3);

	/* up to the bound, and one more refused; the head counts them */
	for (size_t n = 0; n <= HTTP_MAX_EMPTY_LINES + 1; n++) {
		for (size_t i = 0; i < n; i++)
			memcpy(in + 2 * i, "\r\n", 2);
		memcpy(in + 2 * n, get, sizeof(get));
		if (n <= HTTP_MAX_EMPTY_LINES) {
			expect_ok(in, NULL);
			assert_slice(whole_.req.path, whole_.req.path_len, "/p");
			assert_slice(whole_.req.query, whole_.req.query_len, "q");
			assert_slice(whole_.req.host, whole_.req.host_len, "a");
		} else {
			expect_status(in, NULL, 400);
		}
	}
	/* refused as soon as the empty line too many has come */
	assert_int_equal(parse3(in, 2 * (HTTP_MAX_EMPTY_LINES + 1), NULL)->r, HTTP_PARSE_ERROR);
	assert_int_equal(whole_.req.status, 400);
	assert_int_equal(parse3(in, 2 * HTTP_MAX_EMPTY_LINES + 1, NULL)->r, HTTP_PARSE_AGAIN);

	/* empty lines only, or an unfinished one: incomplete */
	assert_int_equal(parse_str("\r", NULL), HTTP_PARSE_AGAIN);
	assert_int_equal(parse_str("\r\n", NULL), HTTP_PARSE_AGAIN);
	assert_int_equal(parse_str("\r\n\r\n", NULL), HTTP_PARSE_AGAIN);
	assert_int_equal(parse_str("\r\n\r\nGET / HT", NULL), HTTP_PARSE_AGAIN);

	/* a bare LF is no line ending, nor a bare CR; blanks make no empty line */
	expect_status("\n", NULL, 400);
	expect_status("\nGET / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("\r\n\nGET / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("\rGET / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("\r\n\r\rGET / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("\r\r\n", NULL, 400);
	expect_status(" \r\nGET / HTTP/1.0\r\n\r\n", NULL, 400);
	expect_status("\t\r\nGET / HTTP/1.0\r\n\r\n", NULL, 400);
	assert_int_equal(parse3("\0\r\nGET / HTTP/1.0\r\n\r\n", 21, NULL)->r, HTTP_PARSE_ERROR);
	assert_int_equal(whole_.req.status, 400);

	/* the request line limit is the request line's alone */
	limits(&lim, 16, 100, 8190, 0);
	expect_ok("\r\n\r\n\r\nGET /aa HTTP/1.0\r\n\r\n", &lim);
	expect_status("\r\n\r\n\r\nGET /aaa HTTP/1.0\r\n\r\n", &lim, 414);

	/* after the request line an empty line ends the head, as always */
	assert_int_equal(parse_str("GET / HTTP/1.0\r\n\r\n\r\n", NULL), 18);
}

static void test_version(void **state)
{
	(void)state;
	expect_ok("GET / HTTP/1.0\r\n\r\n", NULL);
	assert_int_equal(whole_.req.version_minor, 0);
	expect_ok("GET / HTTP/1.9\r\nHost: a\r\n\r\n", NULL);
	assert_int_equal(whole_.req.version_minor, 9);

	expect_status("GET /foo FTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GET /foo http/1.1\r\n\r\n", NULL, 400);
	expect_status("GET /test HTTP/111\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/0.99\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/1.10\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/1\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/1.\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/1.a\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/11.1\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/1111111111111111111111111111.1\r\n\r\n", NULL, 400);
	expect_status("GET /foo HTTP/2.0\r\n\r\n", NULL, 505);
	expect_status("GET /foo HTTP/0.9\r\n\r\n", NULL, 505);
	expect_status("GET /foo HTTP/3.1\r\nHost: a\r\n\r\n", NULL, 505);
}

static void test_request_line_limit(void **state)
{
	struct http_limits lim;
	char line[9000];

	(void)state;
	/* "GET /aaa... HTTP/1.0" of exactly `len` bytes */
#define LINE(len)                                                                   \
	do {                                                                        \
		memcpy(line, "GET /", 5);                                           \
		memset(line + 5, 'a', (len) - 14);                                  \
		memcpy(line + (len) - 9, " HTTP/1.0\r\n\r\n", 14);                  \
	} while (0)
	limits(&lim, 100, 100, 8190, 0);
	LINE(100);
	expect_ok(line, &lim);
	LINE(101);
	expect_status(line, &lim, 414);
	/* refused before its end arrives */
	assert_int_equal(parse3(line, 101, &lim)->r, HTTP_PARSE_ERROR);
	assert_int_equal(parse3(line, 100, &lim)->r, HTTP_PARSE_AGAIN);

	limits(&lim, 4094, 100, 8190, 0); /* Gunicorn's default */
	LINE(4094);
	expect_ok(line, &lim);
	LINE(4095);
	expect_status(line, &lim, 414);

	limits(&lim, 8200, 100, 8190, 0); /* clamped to 8190 */
	assert_int_equal(lim.request_line, 8190);
	LINE(8190);
	expect_ok(line, &lim);
	LINE(8191);
	expect_status(line, &lim, 414);
	limits(&lim, -1, 100, 8190, 0);
	assert_int_equal(lim.request_line, 8190);
	limits(&lim, 0, 100, 8190, 0); /* unlimited: 1 MiB */
	assert_int_equal(lim.request_line, 1024 * 1024);
	LINE(8191);
	expect_ok(line, &lim);

	/* NULL limits are Gunicorn's defaults */
	LINE(4095);
	expect_status(line, NULL, 414);
	/* a bare LF after the limit is a limit error, before it a syntax error */
	limits(&lim, 20, 100, 8190, 0);
	expect_status("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaa\nHTTP/1.0\r\n\r\n", &lim, 414);
	expect_status("GET /aaa\naaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.0\r\n\r\n", &lim, 400);
#undef LINE
}

/* ---- header fields ---------------------------------------------------- */

static void test_fields(void **state)
{
	(void)state;
	expect_ok("GET / HTTP/1.1\r\n"
		  "Host: example.com\r\n"
		  "User-Agent: curl/7.18.0 (i486-pc-linux-gnu)\r\n"
		  "Name: \t value \t \r\n"
		  "Empty:\r\n"
		  "Blank:  \t \r\n"
		  "X.Custom|Pipe: ok\r\n"
		  "X-Value: caf\xc3\xa9\r\n"
		  "If-Match: bazinga!\r\n"
		  "if-match: large-sound\r\n"
		  "aaaaaaaaaaaaa:++++++++++\r\n"
		  "X-Inner: a \t b\r\n"
		  "\r\n",
		  NULL);
	assert_int_equal(whole_.req.num_headers, 11);
	assert_slice(header(0)->name, header(0)->name_len, "Host");
	assert_slice(header(1)->value, header(1)->value_len, "curl/7.18.0 (i486-pc-linux-gnu)");
	assert_slice(header(2)->value, header(2)->value_len, "value");
	assert_int_equal(header(3)->value_len, 0);
	assert_int_equal(header(4)->value_len, 0);
	assert_slice(header(5)->name, header(5)->name_len, "X.Custom|Pipe");
	assert_slice(header(6)->value, header(6)->value_len, "caf\xc3\xa9");
	assert_slice(header(7)->value, header(7)->value_len, "bazinga!");
	assert_slice(header(8)->name, header(8)->name_len, "if-match");
	assert_slice(header(9)->value, header(9)->value_len, "++++++++++");
	assert_slice(header(10)->value, header(10)->value_len, "a \t b");
	assert_slice(whole_.req.host, whole_.req.host_len, "example.com");
}

static void test_fields_invalid(void **state)
{
	(void)state;
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nName\t: 3\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nNa me: x\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nNa(me: x\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length\xc3\x9f: 3\r\n\r\n", NULL, 400);
	/* obs-fold */
	expect_status("GET / HTTP/1.1\r\nLong: one\r\n two\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nLong: one\r\n\ttwo\r\nHost: a\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\n Host: a\r\n\r\n", NULL, 400);
	/* bare CR, bare LF, control characters in values */
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nNewline: a\nContent-Length: 26\r\n\r\n", NULL,
		      400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nX-Value: plain\x07injected\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nX-Value: plain\x7finjected\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nX-Value: \x1b[0m\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\n\n", NULL, 400);
	assert_int_equal(parse3("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 34, NULL)->r,
			 HTTP_PARSE_ERROR);
	assert_int_equal(whole_.req.status, 400);
	assert_int_equal(parse3("GET / HTTP/1.1\r\nba\0z: bar\r\nHost: a\r\n\r\n", 37, NULL)->r,
			 HTTP_PARSE_ERROR);
	assert_int_equal(whole_.req.status, 400);
}

static void test_underscore_dropped(void **state)
{
	(void)state;
	expect_ok("GET /keep HTTP/1.0\r\n"
		  "Transfer_Encoding: tricked\r\n"
		  "Content-Length: 7\r\n"
		  "Content_Length: -1E23\r\n"
		  "X_Forwarded_For: 6.6.6.6\r\n"
		  "Host_: x\r\n"
		  "\r\n",
		  NULL);
	assert_int_equal(whole_.req.num_headers, 1);
	assert_slice(header(0)->name, header(0)->name_len, "Content-Length");
	assert_int_equal(whole_.req.body, HTTP_BODY_LENGTH);
	assert_int_equal(whole_.req.content_length, 7);
	assert_null(whole_.req.host);
	/* a dropped field is still a field: its value must be valid */
	expect_status("GET / HTTP/1.0\r\nX_Y: a\x01\r\n\r\n", NULL, 400);
	/* and a dropped Host does not count as the Host */
	expect_status("GET / HTTP/1.1\r\nHo_st: a\r\n\r\n", NULL, 400);
}

static void test_repeated_framing_fields(void **state)
{
	(void)state;
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 2\r\n\r\n",
		      NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n",
		      NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n",
		      NULL, 400);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: evil.example.com\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", NULL, 400);
	/* other repeats are kept as separate entries */
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nAccept: a\r\nAccept: b\r\n\r\n", NULL);
	assert_int_equal(whole_.req.num_headers, 3);
}

static void test_host_rule(void **state)
{
	(void)state;
	expect_status("GET / HTTP/1.1\r\n\r\n", NULL, 400);
	expect_status("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", NULL, 400);
	expect_ok("GET / HTTP/1.0\r\n\r\n", NULL);
	assert_null(whole_.req.host);
	expect_ok("GET / HTTP/1.1\r\nhOST: \t0.0.0.0=5000 \r\n\r\n", NULL);
	assert_slice(whole_.req.host, whole_.req.host_len, "0.0.0.0=5000");
	expect_ok("GET / HTTP/1.1\r\nHost:\r\n\r\n", NULL); /* empty Host is a Host */
	assert_non_null(whole_.req.host);
	assert_int_equal(whole_.req.host_len, 0);
}

static void test_field_limits(void **state)
{
	struct http_limits lim;
	char buf[20000];
	size_t n;

	(void)state;
	/* field_size counts the CRLF: the Accept line below is 13 bytes */
	limits(&lim, 4094, 100, 13, 0);
	expect_ok("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", &lim);
	limits(&lim, 4094, 100, 12, 0);
	expect_status("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", &lim, 431);
	limits(&lim, 4094, 100, 10, 0);
	expect_status("GET /test HTTP/1.1\r\nAccept: */*\r\n\r\n", &lim, 431);
	/* refused before the end of the field arrives */
	assert_int_equal(parse3("GET / HTTP/1.0\r\nAccept: */", 25, &lim)->r, HTTP_PARSE_ERROR);
	assert_int_equal(whole_.req.status, 431);
	limits(&lim, 4094, 100, 1, 0); /* tiny: no field fits, an empty head does */
	expect_ok("GET / HTTP/1.0\r\n\r\n", &lim);
	expect_status("GET / HTTP/1.0\r\nA:\r\n\r\n", &lim, 431);

	/* count: kept and dropped fields alike */
	limits(&lim, 4094, 2, 8190, 0);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nA: b\r\n\r\n", &lim);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\n\r\n", &lim, 431);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC_: d\r\n\r\n", &lim, 431);

	/* defaults: 100 fields of at most 8190 bytes */
	n = (size_t)sprintf(buf, "GET / HTTP/1.0\r\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(buf + n, "header%d: %d\r\n", i, i);
	strcpy(buf + n, "\r\n");
	expect_ok(buf, NULL);
	assert_int_equal(whole_.req.num_headers, 100);
	strcpy(buf + n, "header100: 100\r\n\r\n");
	expect_status(buf, NULL, 431);

	n = (size_t)sprintf(buf, "GET / HTTP/1.0\r\nX: ");
	memset(buf + n, 'y', 8190 - 5);
	strcpy(buf + n + 8190 - 5, "\r\n\r\n"); /* "X: " + value + CRLF = 8190 */
	expect_ok(buf, NULL);
	memset(buf + n, 'y', 8190 - 4);
	strcpy(buf + n + 8190 - 4, "\r\n\r\n");
	expect_status(buf, NULL, 431);
	limits(&lim, 4094, 100, 0, 0); /* 0 means the default, 8190 */
	expect_status(buf, &lim, 431);
	limits(&lim, 4094, 100, 8210, 0); /* no upper clamp */
	expect_ok(buf, &lim);
}

static void test_limits_from_settings(void **state)
{
	struct http_limits lim;

	(void)state;
	limits(&lim, 4094, 100, 8190, 0);
	assert_int_equal(lim.request_line, 4094);
	assert_int_equal(lim.fields, 100);
	assert_int_equal(lim.field_size, 8190);
	assert_int_equal(lim.body, 0);
	limits(&lim, 8190, 32768, 1, 5);
	assert_int_equal(lim.request_line, 8190);
	assert_int_equal(lim.fields, 32768);
	assert_int_equal(lim.field_size, 1);
	assert_int_equal(lim.body, 5);
	limits(&lim, 8191, 0, -1, -1);
	assert_int_equal(lim.request_line, 8190);
	assert_int_equal(lim.fields, 32768);
	assert_int_equal(lim.field_size, 8190);
	assert_int_equal(lim.body, 0);
	limits(&lim, -5, -5, 0, 0);
	assert_int_equal(lim.request_line, 8190);
	assert_int_equal(lim.fields, 32768);
	assert_int_equal(lim.field_size, 8190);
	limits(&lim, 0, 32769, 100000, 0);
	assert_int_equal(lim.request_line, 1024 * 1024);
	assert_int_equal(lim.fields, 32768);
	assert_int_equal(lim.field_size, 100000);

	limits(&lim, 4094, 100, 8190, 0);
	assert_int_equal(http_max_head(&lim), 2 * HTTP_MAX_EMPTY_LINES + 4094 + 2 + 100 * 8190 + 2);
	lim.field_size = SIZE_MAX / 2;
	assert_int_equal(http_max_head(&lim), SIZE_MAX);
	lim.fields = 0;
	lim.request_line = SIZE_MAX - 1;
	assert_int_equal(http_max_head(&lim), SIZE_MAX);
}

/* ---- framing: Content-Length, Transfer-Encoding ------------------------ */

static void test_content_length(void **state)
{
	struct http_limits lim;

	(void)state;
	expect_ok("POST / HTTP/1.0\r\nconTENT-Length: 5\r\n\r\n", NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_LENGTH);
	assert_int_equal(whole_.req.content_length, 5);
	expect_ok("POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_NONE);
	expect_ok("POST / HTTP/1.0\r\n\r\n", NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_NONE);
	expect_ok("POST / HTTP/1.0\r\nContent-Length: 007\r\n\r\n", NULL);
	assert_int_equal(whole_.req.content_length, 7);
	expect_ok("POST / HTTP/1.0\r\nContent-Length: 18446744073709551615\r\n\r\n", NULL);
	assert_true(whole_.req.content_length == UINT64_MAX);

	static const char *const bad[] = {
		"-1", "-0", "+1", "0_1", "0 1", "3 1", "5, 5", "", "0x5", "1e3", "bla-bla-bla",
		"18446744073709551616", "99999999999999999999999", "\xd9\xa1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char req[200];

		snprintf(req, sizeof(req), "POST / HTTP/1.0\r\nContent-Length: %s\r\n\r\n", bad[i]);
		expect_status(req, NULL, 400);
	}

	limits(&lim, 4094, 100, 8190, 10);
	expect_ok("POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\n", &lim);
	expect_status("POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\n", &lim, 413);
}

static void test_transfer_encoding(void **state)
{
	(void)state;
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_CHUNKED);
	assert_false(whole_.req.close_after);
	assert_true(whole_.req.keep_alive);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tCHUNKED \r\n\r\n", NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_CHUNKED);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_CHUNKED);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n",
		  NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_CHUNKED);

	/* content codings before chunked: the app gets them, the connection closes */
	static const char *const coded[] = {
		"gzip, chunked", "gzip,chunked", "deflate , chunked", "compress,identity,chunked",
		"GZIP, Chunked",
	};
	for (size_t i = 0; i < sizeof(coded) / sizeof(*coded); i++) {
		char req[200];

		snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: %s\r\n\r\n",
			 coded[i]);
		expect_ok(req, NULL);
		assert_int_equal(whole_.req.body, HTTP_BODY_CHUNKED);
		assert_true(whole_.req.close_after);
		assert_false(whole_.req.keep_alive);
	}
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n",
		  NULL);
	assert_true(whole_.req.close_after);

	/* identity alone is ignored: Content-Length frames the body */
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
		  "Content-Length: 5\r\n\r\n",
		  NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_LENGTH);
	assert_int_equal(whole_.req.content_length, 5);

	static const struct {
		const char *te;
		int status;
	} bad[] = {
		{"chunked, chunked", 400},   {"identity, chunked, identity, chunked", 400},
		{"chunked, gzip", 400},      {"chunked, identity", 400},
		{"gzip", 400},               {"identity, gzip", 400},
		{"gzip,,chunked", 400},      {"", 400},
		{",chunked", 400},           {"chunked,", 400},
		{"foo", 501},                {"x-gzip, chunked", 501},
		{"br, chunked", 501},        {"chunked;q=1", 501},
		{"gzip;level=1, chunked", 501}, {"\"chunked\"", 501},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char req[200];

		snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: %s\r\n\r\n",
			 bad[i].te);
		expect_status(req, NULL, bad[i].status);
	}
	/* across fields */
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		      "Transfer-Encoding: gzip\r\n\r\n",
		      NULL, 400);
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n",
		      NULL, 400);
	/* with Content-Length, in HTTP/1.0 */
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n",
		      NULL, 400);
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		      "Content-Length: 0\r\n\r\n",
		      NULL, 400);
	expect_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", NULL, 400);
	expect_status("POST / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n", NULL, 400);
	/* a dropped Transfer_Encoding does not frame anything */
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n"
		  "Content-Length: 3\r\n\r\n",
		  NULL);
	assert_int_equal(whole_.req.body, HTTP_BODY_LENGTH);
}

/* ---- connection ------------------------------------------------------- */

static void test_keep_alive(void **state)
{
	(void)state;
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
	assert_true(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", NULL);
	assert_false(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", NULL);
	assert_false(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nConnection: close\r\n\r\n",
		  NULL);
	assert_false(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade,  Keep-Alive\r\n\r\n", NULL);
	assert_true(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", NULL);
	assert_true(whole_.req.keep_alive);

	expect_ok("GET / HTTP/1.0\r\n\r\n", NULL);
	assert_false(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", NULL);
	assert_true(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n", NULL);
	assert_false(whole_.req.keep_alive);
	expect_ok("GET / HTTP/1.0\r\nKeep-Alive: 300\r\n\r\n", NULL);
	assert_false(whole_.req.keep_alive);
}

static void test_expect(void **state)
{
	(void)state;
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", NULL);
	assert_true(whole_.req.expect_continue);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nExpect:  100-Continue \r\n\r\n", NULL);
	assert_true(whole_.req.expect_continue);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\n\r\n", NULL);
	assert_false(whole_.req.expect_continue);
	expect_ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", NULL); /* ignored */
	assert_false(whole_.req.expect_continue);

	expect_status("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", NULL, 417);
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", NULL, 417);
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n", NULL, 417);
	expect_status("POST / HTTP/1.0\r\nExpect: foo\r\n\r\n", NULL, 417);
}

/* ---- incremental use -------------------------------------------------- */

static void test_pipelined(void **state)
{
	static const char two[] = "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
				  "GET /second HTTP/1.1\r\nHost: b\r\n\r\n";
	size_t first = sizeof("GET /first HTTP/1.1\r\nHost: a\r\n\r\n") - 1;
	struct outcome *o;

	(void)state;
	o = parse3(two, sizeof(two) - 1, NULL);
	assert_int_equal(o->r, (ssize_t)first);
	assert_slice(o->req.path, o->req.path_len, "/first");
	o = parse3(two + first, sizeof(two) - 1 - first, NULL);
	assert_int_equal(o->r, (ssize_t)(sizeof(two) - 1 - first));
	assert_slice(o->req.path, o->req.path_len, "/second");
	assert_slice(o->req.host, o->req.host_len, "b");

	/* an old client's CRLF after a POST body belongs to the next head */
	static const char post[] = "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab"
				   "\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t body = sizeof("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab") - 1;
	o = parse3(post, sizeof(post) - 1, NULL);
	assert_int_equal(o->r, (ssize_t)(body - 2));
	o = parse3(post + body, sizeof(post) - 1 - body, NULL);
	assert_int_equal(o->r, (ssize_t)(sizeof(post) - 1 - body));
	assert_slice(o->req.path, o->req.path_len, "/next");
}

static void test_buffer_moves(void **state)
{
	static const char in[] = "GET http://h/p?q HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
	struct http_request req;
	struct http_header hs[10];
	char a[sizeof(in)], b[sizeof(in)];

	(void)state;
	http_request_init(&req, hs, 10);
	memcpy(a, in, sizeof(in));
	assert_int_equal(http_parse_request(&req, a, 40, NULL), HTTP_PARSE_AGAIN);
	memcpy(b, in, sizeof(in));
	memset(a, 'x', sizeof(a)); /* the old buffer is gone */
	assert_int_equal(http_parse_request(&req, b, sizeof(in) - 1, NULL), sizeof(in) - 1);
	assert_true(req.method == b);
	assert_slice(req.path, req.path_len, "/p");
	assert_slice(req.query, req.query_len, "q");
	assert_slice(req.host, req.host_len, "h");
	assert_slice(hs[1].name, hs[1].name_len, "A");
	assert_slice(hs[1].value, hs[1].value_len, "b");

	/* absolute-form without a path: the static "/" is not rebased */
	static const char in2[] = "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n";
	http_request_init(&req, hs, 10);
	memcpy(a, in2, sizeof(in2));
	assert_int_equal(http_parse_request(&req, a, 20, NULL), HTTP_PARSE_AGAIN);
	memcpy(b, in2, sizeof(in2));
	assert_int_equal(http_parse_request(&req, b, sizeof(in2) - 1, NULL), sizeof(in2) - 1);
	assert_slice(req.path, req.path_len, "/");
}

/* A caller that moves a parsed head (conn.c's realloc) rebases it once. */
static void test_request_rebase(void **state)
{
	static const char in[] = "GET http://h?q HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
	struct http_request req;
	struct http_header hs[10];
	char *a = malloc(sizeof(in)), b[sizeof(in)];

	(void)state;
	assert_non_null(a);
	memcpy(a, in, sizeof(in));
	http_request_init(&req, hs, 10);
	assert_int_equal(http_parse_request(&req, a, sizeof(in) - 1, NULL), sizeof(in) - 1);
	memcpy(b, a, sizeof(in));
	free(a); /* the old buffer is gone: only its address is used */
	http_request_rebase(&req, b);
	assert_true(req.method == b);
	assert_true(req.target == b + 4);
	assert_slice(req.path, req.path_len, "/"); /* the static "/" stays */
	assert_true(req.query == b + 13);
	assert_slice(req.query, req.query_len, "q");
	assert_true(req.host == b + 31);
	assert_true(hs[1].name == b + 34 && hs[1].value == b + 37);
	/* the parser knows where the head is now: asking again moves nothing */
	assert_int_equal(http_parse_request(&req, b, sizeof(in) - 1, NULL), sizeof(in) - 1);
	assert_true(req.method == b && hs[1].value == b + 37);
	/* rebasing onto where it already is changes nothing */
	http_request_rebase(&req, b);
	assert_true(req.method == b && req.host == b + 31);
	assert_slice(req.path, req.path_len, "/");
}

static void test_headers_capacity(void **state)
{
	struct http_request req;
	struct http_header hs[2];
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nB: c\r\nD: e\r\n\r\n";

	(void)state;
	/* fewer slots than limits.fields: the slots win */
	http_request_init(&req, hs, 2);
	assert_int_equal(http_parse_request(&req, place(in, sizeof(in) - 1), sizeof(in) - 1, NULL),
			 HTTP_PARSE_ERROR);
	assert_int_equal(req.status, 431);
}

static void alarm_handler(int sig)
{
	(void)sig;
	_exit(99); /* quadratic: the test harness sees a failure */
}

static void test_not_quadratic(void **state)
{
	struct http_limits lim;
	struct http_request req;
	struct http_header hs[100];
	size_t n = 1000 * 1000, k;
	char *in = malloc(n), *buf;
	ssize_t r = HTTP_PARSE_AGAIN;

	(void)state;
	/* a 1 MB request line, then a 1 MB field, fed one byte at a time */
	assert_non_null(in);
	memcpy(in, "GET /", 5);
	memset(in + 5, 'a', n - 5 - 13);
	memcpy(in + n - 13, " HTTP/1.0\r\n\r\n", 13);
	limits(&lim, 0, 100, 8190, 0);
	signal(SIGALRM, alarm_handler);
	alarm(20);
	buf = place(in, n);
	http_request_init(&req, hs, 100);
	for (k = 1; k <= n && r == HTTP_PARSE_AGAIN; k++)
		r = http_parse_request(&req, buf, k, &lim);
	assert_int_equal(r, (ssize_t)n);

	memcpy(in, "GET / HTTP/1.0\r\nX: ", 19);
	memset(in + 19, 'b', n - 19 - 4);
	memcpy(in + n - 4, "\r\n\r\n", 4);
	limits(&lim, 100, 100, (long)n, 0);
	buf = place(in, n);
	http_request_init(&req, hs, 100);
	r = HTTP_PARSE_AGAIN;
	for (k = 1; k <= n && r == HTTP_PARSE_AGAIN; k++)
		r = http_parse_request(&req, buf, k, &lim);
	assert_int_equal(r, (ssize_t)n);
	alarm(0);
	free(in);
}

/* ---- chunked decoder -------------------------------------------------- */

struct decoded {
	int status;      /* 0, or dec.status after -1 */
	bool done;
	size_t consumed; /* raw bytes */
	size_t len;
	char body[70000];
};

/*
 * Decode in[0..n) in fragments of the sizes in `steps` (cycled; 0 = all at
 * once), each fragment copied against the guard page.
 */
static void decode(const char *in, size_t n, const size_t *steps, size_t nsteps,
		   const struct http_limits *lim, struct decoded *d)
{
	struct http_chunked dec;
	size_t off = 0, s = 0;

	http_chunked_init(&dec);
	memset(d, 0, sizeof(*d) - sizeof(d->body));
	while (off < n && !dec.done) {
		size_t k = steps[s++ % nsteps], out = 99;
		char *buf;
		ssize_t c;

		if (k == 0 || k > n - off)
			k = n - off;
		buf = place(in + off, k);
		c = http_chunked_decode(&dec, buf, k, &out, lim);
		if (c < 0) {
			assert_int_equal(c, HTTP_PARSE_ERROR);
			d->status = dec.status;
			assert_non_null(dec.error);
			/* sticky */
			assert_int_equal(http_chunked_decode(&dec, buf, k, &out, lim),
					 HTTP_PARSE_ERROR);
			return;
		}
		assert_true(out <= (size_t)c);
		assert_true(dec.done || (size_t)c == k); /* everything until done */
		assert_true(d->len + out <= sizeof(d->body));
		memcpy(d->body + d->len, buf, out);
		d->len += out;
		off += (size_t)c;
	}
	d->done = dec.done;
	d->consumed = off;
	if (dec.done) {
		size_t out = 99;

		assert_int_equal(http_chunked_decode(&dec, guard_end, 0, &out, lim), 0);
		assert_int_equal(out, 0);
	}
}

static struct decoded dec_whole, dec_split;

/* Decode whole and in several splits; all must agree. Returns the whole. */
static struct decoded *decode_all(const char *in, size_t n, const struct http_limits *lim)
{
	static const size_t whole[] = {0}, ones[] = {1}, twos[] = {2}, mixed[] = {3, 1, 7, 2, 5};
	static const struct {
		const size_t *steps;
		size_t n;
	} splits[] = {{ones, 1}, {twos, 1}, {mixed, 5}};

	decode(in, n, whole, 1, lim, &dec_whole);
	for (size_t i = 0; i < sizeof(splits) / sizeof(*splits); i++) {
		decode(in, n, splits[i].steps, splits[i].n, lim, &dec_split);
		assert_int_equal(dec_split.status, dec_whole.status);
		if (dec_whole.status)
			continue;
		assert_int_equal(dec_split.done, dec_whole.done);
		assert_int_equal(dec_split.consumed, dec_whole.consumed);
		assert_int_equal(dec_split.len, dec_whole.len);
		assert_memory_equal(dec_split.body, dec_whole.body, dec_whole.len);
	}
	return &dec_whole;
}

static struct decoded *decode_str(const char *in, const struct http_limits *lim)
{
	return decode_all(in, strlen(in), lim);
}

static void expect_body(const char *in, const char *body)
{
	struct decoded *d = decode_all(in, strlen(in), NULL);

	if (d->status || !d->done)
		print_error("input: %s\nstatus %d done %d\n", in, d->status, d->done);
	assert_int_equal(d->status, 0);
	assert_true(d->done);
	assert_int_equal(d->consumed, strlen(in));
	assert_int_equal(d->len, strlen(body));
	assert_memory_equal(d->body, body, d->len);
}

static void expect_chunk_status(const char *in, const struct http_limits *lim, int status)
{
	struct decoded *d = decode_all(in, strlen(in), lim);

	if (d->status != status)
		print_error("input: %s\nstatus %d, expected %d\n", in, d->status, status);
	assert_int_equal(d->status, status);
}

static void test_chunk_sizes(void **state)
{
	char big[0x10000 + 100];
	size_t n;
	struct decoded *d;

	(void)state;
	expect_body("1e\r\nall your base are belong to us\r\n0\r\n\r\n",
		    "all your base are belong to us");
	expect_body("5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n", "hello world");
	expect_body("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	expect_body("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
	expect_body("0005\r\nhello\r\n0\r\n\r\n", "hello");
	expect_body("0\r\n\r\n", "");
	expect_body("1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", "\r\n"); /* data is data */

	n = (size_t)sprintf(big, "10000\r\n");
	memset(big + n, 'z', 0x10000);
	n += 0x10000;
	n += (size_t)sprintf(big + n, "\r\n0\r\n\r\n");
	d = decode_all(big, n, NULL);
	assert_int_equal(d->status, 0);
	assert_true(d->done);
	assert_int_equal(d->len, 0x10000);

	/* the rest belongs to the next request */
	d = decode_str("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", NULL);
	assert_true(d->done);
	assert_int_equal(d->consumed, 13);
	assert_int_equal(d->len, 3);

	/* incomplete: all consumed, not done */
	d = decode_str("5\r\nhel", NULL);
	assert_int_equal(d->status, 0);
	assert_false(d->done);
	assert_int_equal(d->consumed, 6);
	assert_int_equal(d->len, 3);
	d = decode_str("0\r\n", NULL); /* the final CRLF is missing */
	assert_false(d->done);
	d = decode_str("0\r\nX: y\r\n", NULL);
	assert_false(d->done);
}

static void test_chunk_size_invalid(void **state)
{
	static const char *const bad[] = {
		"\r\nhello\r\n0\r\n\r\n",    " 5\r\nhello\r\n0\r\n\r\n", "5 \r\nhello\r\n0\r\n\r\n",
		"5\t\r\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n",
		"6_0\r\n world\r\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n", "g\r\n",
		"5\nhello\r\n0\r\n\r\n",     "5\n;\r\nhello\r\n0\r\n\r\n", "5\r\rhello\r\n0\r\n\r\n",
		"0 \r\n\r\n",                " ;foo=bar\r\nhello\r\n0\r\n\r\n", ";\r\n",
		"5\r\nhello\r\n\r\n",        "\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_chunk_status(bad[i], NULL, 400);
}

static void test_chunk_size_overflow(void **state)
{
	struct decoded *d;
	struct http_limits lim;
	char zeros[300];

	(void)state;
	/* sizes stay below 2^60 */
	expect_chunk_status("1000000000000000\r\n", NULL, 400);
	expect_chunk_status("ffffffffffffffffffff\r\n", NULL, 400);
	d = decode_str("fffffffffffffff\r\nabc", NULL);
	assert_int_equal(d->status, 0);
	assert_int_equal(d->len, 3);
	/* leading zeros are fine, within the line limit (limits.field_size) */
	expect_body("00000000000000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello");
	limits(&lim, 4094, 100, 100, 0);
	memset(zeros, '0', sizeof(zeros));
	memcpy(zeros + 250, "5\r\nhello\r\n0\r\n\r\n", sizeof("5\r\nhello\r\n0\r\n\r\n"));
	expect_chunk_status(zeros, &lim, 400);
	expect_chunk_status("5;a=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
			    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
			    "\r\nhello\r\n0\r\n\r\n",
			    &lim, 400);
}

static void test_chunk_extensions(void **state)
{
	static const char *const good[] = {
		"5;a\r\n",
		"5;a=b\r\n",
		"5; some; parameters=stuff\r\n",
		"5 ;a\r\n",
		"5\t; a = b ; c\r\n",
		"5;foo=\"bar baz\"\r\n",
		"5;foo=\"q\\\"uo\\\\te\";x=\"\"\r\n",
		"5;foo=\"caf\xc3\xa9\"\r\n",
		"5;a=b \r\n",
		"5;a \r\n",
		"5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\n",
	};
	static const char *const bad[] = {
		"5;\r\n",          "5; \r\n",           "5;;a\r\n",         "5;=b\r\n",
		"5;a=\r\n",        "5;a= \r\n",         "5;a=b=c\r\n",      "5;a=\"b\r\n",
		"5;a=\"b\x01\"\r\n", "5;a=\"b\"c\r\n",  "5;a b\r\n",        "5;a=b c\r\n",
		"5;ext=val\rue\r\n", "5;a=\"x\r\"\r\n", "5;a=\"\\\x01\"\r\n", "5;a(b)\r\n",
		"5;a=b\n",         "5;a=\"b\"\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		char in[200];

		snprintf(in, sizeof(in), "%shello\r\n0;last\r\n\r\n", good[i]);
		expect_body(in, "hello");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char in[200];

		snprintf(in, sizeof(in), "%shello\r\n0\r\n\r\n", bad[i]);
		expect_chunk_status(in, NULL, 400);
	}
}

static void test_chunk_data_crlf(void **state)
{
	(void)state;
	expect_chunk_status("5\r\nhelloX\r\n0\r\n\r\n", NULL, 400);
	expect_chunk_status("5\r\nhello\n0\r\n\r\n", NULL, 400);
	expect_chunk_status("5\r\nhello\r\r\n0\r\n\r\n", NULL, 400);
	expect_chunk_status("5\r\nhello world\r\n0\r\n\r\n", NULL, 400);
	expect_chunk_status("5\r\nhello\r\n0\r\n\r\r", NULL, 400);
	expect_chunk_status("5\r\nhello\r\n0\r\n\n", NULL, 400);
}

static void test_trailers(void **state)
{
	struct http_limits lim;

	(void)state;
	expect_body("5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n",
		    "hello world");
	expect_body("5\r\nhello\r\n0\r\nX-Checksum:\tabc \r\nX-Empty:\r\nX_Under: a\r\n\r\n", "hello");

	static const char *const forbidden[] = {
		"Content-Length: 99", "content-length: 5",   "Transfer-Encoding: chunked",
		"Host: evil.example.com", "TRAILER: x",     "TE: trailers",
		"Connection: close",  "Keep-Alive: 5",       "Upgrade: h2c",
		"Expect: 100-continue", "Authorization: x",  "Proxy-Authorization: x",
		"Cookie: a=b",        "Content-Encoding: gzip", "Content-Range: bytes 0-1/2",
		"Max-Forwards: 1",    "Range: bytes=0-",     "Proxy-Connection: x",
	};
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(*forbidden); i++) {
		char in[200];

		snprintf(in, sizeof(in), "5\r\nhello\r\n0\r\n%s\r\n\r\n", forbidden[i]);
		expect_chunk_status(in, NULL, 400);
	}
	/* names that only start like a forbidden one are fine */
	expect_body("0\r\nHostname: a\r\nContent-Lengths: 1\r\nT: e\r\n\r\n", "");

	static const char *const bad[] = {
		"X : y",  "X\t: y",    ": y",      "X y",      " X: y",
		"X: y\rz", "X: \x01", "X: \x7f", "X(: y",     "X: y\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char in[200];

		snprintf(in, sizeof(in), "0\r\nA: b\r\n%s\r\n\r\n", bad[i]);
		expect_chunk_status(in, NULL, 400);
	}
	/* obs-fold */
	expect_chunk_status("0\r\nA: b\r\n c\r\n\r\n", NULL, 400);

	/* limits: fields and field_size, as for the head */
	limits(&lim, 4094, 2, 8190, 0);
	assert_int_equal(decode_str("0\r\nA: b\r\nC: d\r\n\r\n", &lim)->status, 0);
	expect_chunk_status("0\r\nA: b\r\nC: d\r\nE: f\r\n\r\n", &lim, 431);
	limits(&lim, 4094, 100, 8, 0);
	assert_int_equal(decode_str("0\r\nA: bcd\r\n\r\n", &lim)->status, 0); /* 8 with CRLF */
	expect_chunk_status("0\r\nA: bcde\r\n\r\n", &lim, 431);
	expect_chunk_status("0\r\nAbcdefghi: b\r\n\r\n", &lim, 431);
}

static void test_chunked_body_limit(void **state)
{
	struct http_limits lim;
	struct decoded *d;

	(void)state;
	limits(&lim, 4094, 100, 8190, 10);
	d = decode_str("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &lim);
	assert_int_equal(d->status, 0);
	assert_int_equal(d->len, 10);
	expect_chunk_status("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", &lim, 413);
	expect_chunk_status("b\r\n", &lim, 413);
	expect_chunk_status("fffffffffffffff\r\n", &lim, 413);
}

/* ---- PROXY protocol --------------------------------------------------- */

/*
 * Parse a PROXY header whole, and check every proper prefix: -2 while it
 * is shorter than the header, the same verdict once it holds it; for 0 and
 * -1, -2 until the prefix shows it.
 */
static ssize_t proxy(const char *in, size_t n, struct http_proxy *p)
{
	ssize_t r = http_proxy_parse(p, place(in, n), n);

	for (size_t k = 0; k < n; k++) {
		struct http_proxy q;
		ssize_t rk = http_proxy_parse(&q, place(in, k), k);

		if (r > 0 && (size_t)r > k)
			assert_int_equal(rk, HTTP_PARSE_AGAIN);
		else if (r > 0)
			assert_int_equal(rk, r);
		else
			assert_true(rk == HTTP_PARSE_AGAIN || rk == r);
	}
	return r;
}

static ssize_t proxy_str(const char *in, struct http_proxy *p)
{
	return proxy(in, strlen(in), p);
}

static void test_proxy_v1(void **state)
{
	struct http_proxy p;
	static const char tcp4[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /";
	static const char tcp6[] = "PROXY TCP6 2001:db8::1 ::1 0 65535\r\n";

	(void)state;
	assert_int_equal(proxy_str(tcp4, &p), sizeof(tcp4) - 1 - 5);
	assert_int_equal(p.family, AF_INET);
	assert_string_equal(p.src_addr, "192.168.0.1");
	assert_string_equal(p.dst_addr, "192.168.0.11");
	assert_int_equal(p.src_port, 56324);
	assert_int_equal(p.dst_port, 443);
	assert_int_equal(proxy_str(tcp6, &p), sizeof(tcp6) - 1);
	assert_int_equal(p.family, AF_INET6);
	assert_string_equal(p.src_addr, "2001:db8::1");
	assert_int_equal(p.src_port, 0);
	assert_int_equal(p.dst_port, 65535);
	assert_int_equal(proxy_str("PROXY UNKNOWN\r\n", &p), 15);
	assert_int_equal(p.family, AF_UNSPEC);
	assert_int_equal(proxy_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &p), 35);
	assert_int_equal(p.family, AF_UNSPEC);

	/* the longest line: 107 bytes */
	static const char longest[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
				      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	assert_int_equal(sizeof(longest) - 1, 104);
	assert_int_equal(proxy_str(longest, &p), 104);
	char unknown[120];
	memcpy(unknown, "PROXY UNKNOWN ", 14);
	memset(unknown + 14, 'x', 91);
	memcpy(unknown + 105, "\r\n", 2);
	assert_int_equal(proxy(unknown, 107, &p), 107);
	unknown[105] = 'x';
	memcpy(unknown + 106, "\r\n", 2);
	assert_int_equal(proxy(unknown, 108, &p), HTTP_PARSE_ERROR);
	assert_int_equal(proxy(unknown, 106, &p), HTTP_PARSE_ERROR);

	/* not a PROXY header */
	assert_int_equal(proxy_str("GET / HTTP/1.1\r\n", &p), 0);
	assert_int_equal(proxy_str("POST / HTTP/1.1\r\n", &p), 0);
	assert_int_equal(proxy_str("PROXZ", &p), 0);
	assert_int_equal(proxy_str("PROXY", &p), HTTP_PARSE_AGAIN);
	assert_int_equal(proxy_str("P", &p), HTTP_PARSE_AGAIN);
	assert_int_equal(proxy_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2", &p), HTTP_PARSE_AGAIN);
	assert_int_equal(proxy_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", &p), HTTP_PARSE_AGAIN);

	static const char *const bad[] = {
		"PROXY TCP4 192.168.0.1 192.16...\r\n",
		"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
		"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
		"PROXY TCP4 ::1 ::1 1 2\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY UNKNOWNX\r\n",
		"PROXY \r\n",
		"PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (proxy_str(bad[i], &p) != HTTP_PARSE_ERROR)
			print_error("accepted: %s\n", bad[i]);
		assert_int_equal(proxy_str(bad[i], &p), HTTP_PARSE_ERROR);
	}
}

static void test_proxy_v2(void **state)
{
	struct http_proxy p;
	char in[200];
	size_t n;

	(void)state;
	/* TCP over IPv4, then a request */
	static const char v4[] = "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c"
				 "\xc0\xa8\x01\x0a\xc0\xa8\x01\x01\x30\x39\x01\xbbGET /";
	assert_int_equal(proxy(v4, sizeof(v4) - 1, &p), 28);
	assert_int_equal(p.family, AF_INET);
	assert_string_equal(p.src_addr, "192.168.1.10");
	assert_string_equal(p.dst_addr, "192.168.1.1");
	assert_int_equal(p.src_port, 12345);
	assert_int_equal(p.dst_port, 443);

	/* TCP over IPv6 with a TLV after the addresses */
	memcpy(in, "\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x28", 16);
	memset(in + 16, 0, 32);
	in[16] = 0x20, in[17] = 0x01, in[18] = 0x0d, in[19] = (char)0xb8, in[31] = 1;
	in[47] = 2;
	memcpy(in + 48, "\xd4\x31\x00\x50\x04\x00\x01\x00", 8);
	assert_int_equal(proxy(in, 56, &p), 56);
	assert_int_equal(p.family, AF_INET6);
	assert_string_equal(p.src_addr, "2001:db8::1");
	assert_string_equal(p.dst_addr, "::2");
	assert_int_equal(p.src_port, 54321);
	assert_int_equal(p.dst_port, 80);

	/* LOCAL, UNSPEC */
	assert_int_equal(proxy("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16, &p), 16);
	assert_int_equal(p.family, AF_UNSPEC);
	assert_int_equal(proxy("\r\n\r\n\0\r\nQUIT\n\x20\x11\x00\x03xyz", 19, &p), 19);
	assert_int_equal(p.family, AF_UNSPEC);
	assert_int_equal(proxy("\r\n\r\n\0\r\nQUIT\n\x21\x00\x00\x00", 16, &p), 16);
	assert_int_equal(p.family, AF_UNSPEC);

	/* incomplete */
	assert_int_equal(proxy("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xc0", 17, &p), HTTP_PARSE_AGAIN);
	assert_int_equal(proxy("\r\n\r\n\0\r\nQUI", 10, &p), HTTP_PARSE_AGAIN);
	assert_int_equal(proxy("\r\n\r\n\0\r\nQUIT\r", 12, &p), 0);
	assert_int_equal(proxy("\r\n\r\nGET", 7, &p), 0);

	static const struct {
		const char *head; /* version/command, family/protocol, length */
		size_t len;
	} bad[] = {
		{"\x11\x11\x00\x0c", 12}, /* version 1 */
		{"\x31\x11\x00\x0c", 12}, /* version 3 */
		{"\x22\x11\x00\x0c", 12}, /* command 2 */
		{"\x21\x12\x00\x0c", 12}, /* UDP */
		{"\x21\x22\x00\x24", 36}, /* UDP over IPv6 */
		{"\x21\x31\x00\x0c", 12}, /* UNIX */
		{"\x21\x41\x00\x0c", 12}, /* family 4 */
		{"\x21\x11\x00\x08", 8},  /* too short for IPv4 */
		{"\x21\x21\x00\x0c", 12}, /* too short for IPv6 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memcpy(in, "\r\n\r\n\0\r\nQUIT\n", 12);
		memcpy(in + 12, bad[i].head, 4);
		memset(in + 16, 1, bad[i].len);
		n = 16 + bad[i].len;
		assert_int_equal(proxy(in, n, &p), HTTP_PARSE_ERROR);
	}
}

/* ---- misc ------------------------------------------------------------- */

static void test_reason(void **state)
{
	(void)state;
	assert_string_equal(http_reason(100), "Continue");
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(204), "No Content");
	assert_string_equal(http_reason(304), "Not Modified");
	assert_string_equal(http_reason(400), "Bad Request");
	assert_string_equal(http_reason(403), "Forbidden");
	assert_string_equal(http_reason(404), "Not Found");
	assert_string_equal(http_reason(405), "Method Not Allowed");
	assert_string_equal(http_reason(408), "Request Timeout");
	assert_string_equal(http_reason(413), "Content Too Large");
	assert_string_equal(http_reason(414), "URI Too Long");
	assert_string_equal(http_reason(417), "Expectation Failed");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(500), "Internal Server Error");
	assert_string_equal(http_reason(501), "Not Implemented");
	assert_string_equal(http_reason(503), "Service Unavailable");
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_reason(299), "Unknown");
	assert_string_equal(http_reason(-1), "Unknown");
}

/* What the response writer checks an application's header names and values with. */
static void test_token_and_field_value(void **state)
{
	static const char *const tokens[] = {"Content-Type", "X-A_b.c~d!#$%&'*+^`|", "a", "0"};
	static const char *const not_tokens[] = {"", "Content Type", "a:b", "a\r\nb", "(x)",
						 "a/b", "\x80"};
	static const char *const values[] = {"", "text/plain; charset=utf-8", "a\tb", "\x80\xff",
					     "~!@#$%^&*()_+"};
	static const char *const not_values[] = {"a\r\nSet-Cookie: x", "a\nb", "a\rb", "\x7f",
						 "\x01"};

	(void)state;
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		assert_true(chars_is_token(tokens[i], strlen(tokens[i])));
	for (size_t i = 0; i < sizeof(not_tokens) / sizeof(not_tokens[0]); i++)
		assert_false(chars_is_token(not_tokens[i], strlen(not_tokens[i])));
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		assert_true(chars_is_field_value(values[i], strlen(values[i])));
	for (size_t i = 0; i < sizeof(not_values) / sizeof(not_values[0]); i++)
		assert_false(chars_is_field_value(not_values[i], strlen(not_values[i])));
	assert_false(chars_is_field_value("a\0b", 3));
}

static void test_sticky_error(void **state)
{
	struct http_request req;
	struct http_header hs[4];
	char in[] = "get / HTTP/1.1\r\nHost: a\r\n\r\n";

	(void)state;
	http_request_init(&req, hs, 4);
	assert_int_equal(http_parse_request(&req, in, sizeof(in) - 1, NULL), HTTP_PARSE_ERROR);
	in[0] = 'G', in[1] = 'E', in[2] = 'T';
	assert_int_equal(http_parse_request(&req, in, sizeof(in) - 1, NULL), HTTP_PARSE_ERROR);
	http_request_init(&req, hs, 4);
	assert_int_equal(http_parse_request(&req, in, sizeof(in) - 1, NULL), sizeof(in) - 1);
	assert_int_equal(http_parse_request(&req, in, 0, NULL), sizeof(in) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_form),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_asterisk_and_authority_form),
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_request_line_syntax),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_request_line_limit),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_fields_invalid),
		cmocka_unit_test(test_underscore_dropped),
		cmocka_unit_test(test_repeated_framing_fields),
		cmocka_unit_test(test_host_rule),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_limits_from_settings),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_expect),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_buffer_moves),
		cmocka_unit_test(test_request_rebase),
		cmocka_unit_test(test_headers_capacity),
		cmocka_unit_test(test_not_quadratic),
		cmocka_unit_test(test_chunk_sizes),
		cmocka_unit_test(test_chunk_size_invalid),
		cmocka_unit_test(test_chunk_size_overflow),
		cmocka_unit_test(test_chunk_extensions),
		cmocka_unit_test(test_chunk_data_crlf),
		cmocka_unit_test(test_trailers),
		cmocka_unit_test(test_chunked_body_limit),
		cmocka_unit_test(test_proxy_v1),
		cmocka_unit_test(test_proxy_v2),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_token_and_field_value),
		cmocka_unit_test(test_sticky_error),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
