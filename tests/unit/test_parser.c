/*
 * test_parser — unit tests for workers/http/parser.c, the request-head
 * parser.
 *
 * Most cases are rows of a table: the input bytes, the limits, the expected
 * verdict (the head's length, a refusal status, or "incomplete"), and the
 * parts of the request to check. Every row is parsed three ways that must
 * give the same result: whole, fed with len = 1, 2, 3, ... on a buffer that
 * does not move, and fed one byte more each call from a buffer that moves
 * (so the parser rebases its slices). Every input is placed so that its last
 * byte is the last byte before a PROT_NONE page: an over-read crashes the
 * test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/guard.h"
#include "workers/http/parser.h"

#define MAX_FIELDS 200
#define SNAP_SIZE  65536

/* Settings for http_limits_from_settings(): line, fields, field size, body. */
#define LIM(line, fields, size, body) ((const long[]){line, fields, size, body})
#define ROWS(t)                       t, sizeof(t) / sizeof((t)[0])

/* One row: a request head and what parsing it must give. */
struct head_row {
	const char *in;
	size_t len;       /* bytes of in; 0: strlen(in) */
	const long *lim;  /* LIM(...); NULL: the defaults */
	int status;       /* 0: accepted; the refusal's status; HTTP_PARSE_AGAIN: incomplete */
	size_t head;      /* accepted: the head's length; 0: all of in */
	const char *method, *target, *path, *query, *host; /* the slices, when set */
	const char *want; /* words the flattened request shows, e.g. "v=0 ka=1 body=length" */
	const char *const *fields; /* name, value, ..., NULL: exactly these fields */
	unsigned permit;  /* http_limits.permit (Gunicorn's knobs); 0: strict */
	const char *forwarders; /* http_limits.forwarders; NULL: none */
};

/* One parse's outcome, the request flattened to text to compare modes. */
struct outcome {
	ssize_t r;
	struct http_request req;
	struct http_header headers[MAX_FIELDS];
	char snap[SNAP_SIZE];
};

static struct outcome whole_, fixed_, moving_;

static void snapshot(struct outcome *o);
static struct outcome *parse3(const char *in, size_t n, const struct http_limits *lim);
static void check_head(const struct head_row *row);
static void check_heads(const struct head_row *rows, size_t n);
static bool slice_is(const char *p, size_t n, const char *want);
static void limits(struct http_limits *lim, long line, long fields, long size, long body);

/* ---- helpers ---------------------------------------------------------- */

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
	static const char *const bodies[] = {"none", "length", "chunked"};
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
	if (q->host)
		append(&p, end, " host", q->host, q->host_len);
	else
		p += snprintf(p, (size_t)(end - p), " nohost");
	p += snprintf(p, (size_t)(end - p), " v=%d body=%s cl=%llu ka=%d ec=%d ca=%d n=%zu",
		      q->version_minor, bodies[q->body], (unsigned long long)q->content_length,
		      q->keep_alive, q->expect_continue, q->close_after, q->num_headers);
	p += snprintf(p, (size_t)(end - p), " up=%d", q->upgrade);
	if (q->script_name)
		append(&p, end, " sn", q->script_name, q->script_name_len);
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
		moving_.r = http_parse_request(&moving_.req, guard_place(in, k), k, lim);
	snapshot(&moving_);

	/* byte by byte, same buffer */
	buf = guard_place(in, n);
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

/* Whether every space-separated word of want is a word of the snapshot. */
static bool shows(const char *snap, const char *want)
{
	char words[SNAP_SIZE + 2];

	snprintf(words, sizeof(words), " %s ", snap);
	for (const char *w = want; *w;) {
		size_t n = strcspn(w, " ");
		char word[64];

		assert_true(n + 3 <= sizeof(word));
		snprintf(word, sizeof(word), " %.*s ", (int)n, w);
		if (!strstr(words, word))
			return false;
		w += n;
		w += strspn(w, " ");
	}
	return true;
}

static bool fields_are(const struct http_request *q, const char *const *fields)
{
	size_t i = 0;

	for (; fields[2 * i]; i++)
		if (i >= q->num_headers ||
		    !slice_is(q->headers[i].name, q->headers[i].name_len, fields[2 * i]) ||
		    !slice_is(q->headers[i].value, q->headers[i].value_len, fields[2 * i + 1]))
			return false;
	return i == q->num_headers;
}

static void check_head(const struct head_row *row)
{
	struct http_limits lim;
	size_t n = row->len ? row->len : strlen(row->in);
	const struct http_request *q;
	ssize_t want_r;
	bool ok;

	if (row->lim)
		limits(&lim, row->lim[0], row->lim[1], row->lim[2], row->lim[3]);
	else
		http_limits_default(&lim);
	lim.permit = row->permit;
	lim.forwarders = row->forwarders;
	q = &parse3(row->in, n, row->lim || row->permit || row->forwarders ? &lim : NULL)->req;
	if (row->status == HTTP_PARSE_AGAIN)
		want_r = HTTP_PARSE_AGAIN;
	else if (row->status)
		want_r = HTTP_PARSE_ERROR;
	else
		want_r = (ssize_t)(row->head ? row->head : n);
	ok = whole_.r == want_r && (row->status <= 0 || q->status == row->status);
	if (ok && whole_.r > 0)
		ok = (!row->method || slice_is(q->method, q->method_len, row->method)) &&
		     (!row->target || slice_is(q->target, q->target_len, row->target)) &&
		     (!row->path || slice_is(q->path, q->path_len, row->path)) &&
		     (!row->query || slice_is(q->query, q->query_len, row->query)) &&
		     (!row->host || slice_is(q->host, q->host_len, row->host)) &&
		     (!row->want || shows(whole_.snap, row->want)) &&
		     (!row->fields || fields_are(q, row->fields));
	if (!ok)
		print_error("input: %.*s\nexpected: r=%zd status=%d %s\nresult: %s\n", (int)n,
			    row->in, want_r, row->status, row->want ? row->want : "", whole_.snap);
	assert_true(ok);
	if (whole_.r == HTTP_PARSE_ERROR)
		assert_non_null(q->error);
}

static void check_heads(const struct head_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_head(&rows[i]);
}

static bool slice_is(const char *p, size_t n, const char *want)
{
	return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static void limits(struct http_limits *lim, long line, long fields, long size, long body)
{
	http_limits_from_settings(lim, line, fields, size, body);
}

#define assert_slice(p, n, want) assert_true(slice_is((p), (n), (want)))

/* ---- request line ----------------------------------------------------- */

static void test_origin_form(void **state)
{
	static const struct head_row rows[] = {
		{"GET /forums/1/topics/2375?page=1#posts-17408 HTTP/1.1\r\nHost: a\r\n\r\n",
		 .method = "GET", .target = "/forums/1/topics/2375?page=1#posts-17408",
		 .path = "/forums/1/topics/2375", .query = "page=1", .want = "v=1"},
		{"GET /a#frag?not-query HTTP/1.0\r\n\r\n", .path = "/a", .query = "", .want = "v=0"},
		{"GET ///keeping_slashes?x=1?y=\"2\" HTTP/1.1\r\nHost: a\r\n\r\n",
		 .path = "///keeping_slashes", .query = "x=1?y=\"2\""},
		/* obs-text and quotes are visible bytes */
		{"GET /\xc3\xa0%20k/with_\"quotes\" HTTP/1.0\r\n\r\n",
		 .path = "/\xc3\xa0%20k/with_\"quotes\""},
		{"GET /? HTTP/1.0\r\n\r\n", .query = ""},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_absolute_form(void **state)
{
	static const struct head_row rows[] = {
		{"GET http://example.com/foo?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
		 .path = "/foo", .query = "q=1", .target = "http://example.com/foo?q=1"},
		{"GET https://user:pa%20ss@example.com:8080/foo#x HTTP/1.1\r\nHost: a\r\n\r\n",
		 .path = "/foo"},
		{"GET http://[::1]:8080/foo HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", .path = "/foo"},
		/* no path: "/" */
		{"GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n", .path = "/"},
		{"GET http://example.com?a=b HTTP/1.1\r\nHost: a\r\n\r\n", .path = "/", .query = "a=b"},
		{.in = "GET svn+ssh://h.example:/x HTTP/1.1\r\nHost: a\r\n\r\n"},

		{"PUT s://]ufd/: HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET http:///foo HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET http://[::1/foo HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET http://[zz::1]/ HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET http://a:80x/ HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET http://a[b]/ HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET http://u[s]er@a/ HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET foo/bar HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_asterisk_and_authority_form(void **state)
{
	static const struct head_row rows[] = {
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", .path = "*"},
		{"GET * HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},

		{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		 .path = "example.com:443"},
		{.in = "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"},
		{"GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"CONNECT /foo HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"CONNECT u@example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"CONNECT http://a:443 HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_method(void **state)
{
	static const struct head_row rows[] = {
		{"-BLARGH /foo HTTP/1.0\r\n\r\n", .method = "-BLARGH"},
		{.in = "M-SEARCH / HTTP/1.0\r\n\r\n"},
		{.in = "PRO.P$FIND_1 / HTTP/1.0\r\n\r\n"},
		{.in = "ABCDEFGHIJKLMNOPQRST / HTTP/1.0\r\n\r\n"}, /* 20 */
		{.in = "PUT / HTTP/1.0\r\n\r\n"},                  /* 3 */

		{"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.0\r\n\r\n", .status = 400}, /* 21 */
		{"GE / HTTP/1.0\r\n\r\n", .status = 400},
		{"get / HTTP/1.0\r\n\r\n", .status = 400},
		{"Get / HTTP/1.0\r\n\r\n", .status = 400},
		{"-bl /foo HTTP/1.1\r\n\r\n", .status = 400},
		{"bla:rgh /foo HTTP/1.1\r\n\r\n", .status = 400},
		{"GET: / HTTP/1.1\r\n\r\n", .status = 400},
		{"GE#T / HTTP/1.1\r\n\r\n", .status = 400},
		{"GET\xc3\x9f / HTTP/1.1\r\n\r\n", .status = 400},
		{"GE(T / HTTP/1.1\r\n\r\n", .status = 400},
		{" GET / HTTP/1.1\r\n\r\n", .status = 400},
		{"\tGET / HTTP/1.1\r\n\r\n", .status = 400},
		{"GET\t/ HTTP/1.1\r\n\r\n", .status = 400},
		/* a NUL inside the method, as in "GET\0PROXY /foo" */
		{"GET\0PROXY /foo HTTP/1.1\r\n\r\n", 27, .status = 400},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/* Gunicorn's permit_unconventional_http_method: any token, any length. */
static void test_permit_method(void **state)
{
	static const struct head_row rows[] = {
		{"get / HTTP/1.0\r\n\r\n", .method = "get", .permit = HTTP_PERMIT_METHOD},
		{"Get / HTTP/1.0\r\n\r\n", .method = "Get", .permit = HTTP_PERMIT_METHOD},
		{"GE#T / HTTP/1.1\r\nHost: a\r\n\r\n", .method = "GE#T",
		 .permit = HTTP_PERMIT_METHOD},
		{"X / HTTP/1.0\r\n\r\n", .method = "X", .permit = HTTP_PERMIT_METHOD},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.0\r\n\r\n",
		 .method = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", .permit = HTTP_PERMIT_METHOD},
		/* still a token, and still a method */
		{"bla:rgh /foo HTTP/1.1\r\n\r\n", .status = 400, .permit = HTTP_PERMIT_METHOD},
		{"GE(T / HTTP/1.1\r\n\r\n", .status = 400, .permit = HTTP_PERMIT_METHOD},
		{"GET\xc3\x9f / HTTP/1.1\r\n\r\n", .status = 400, .permit = HTTP_PERMIT_METHOD},
		{" GET / HTTP/1.1\r\n\r\n", .status = 400, .permit = HTTP_PERMIT_METHOD},
		{"GET\0PROXY /foo HTTP/1.1\r\n\r\n", 27, .status = 400,
		 .permit = HTTP_PERMIT_METHOD},
		/* the other knobs leave methods strict */
		{"get / HTTP/1.0\r\n\r\n", .status = 400,
		 .permit = HTTP_STRIP_HEADER_SPACES | HTTP_UNDERSCORE_KEEP},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/* Gunicorn's strip_header_spaces: blanks before the colon go, nowhere else. */
static void test_strip_header_spaces(void **state)
{
	const struct head_row rows[] = {
		{"GET / HTTP/1.1\r\nHost : a\r\nX-A\t \t: 1 \r\n\r\n",
		 .permit = HTTP_STRIP_HEADER_SPACES, .host = "a",
		 .fields = (const char *const[]){"Host", "a", "X-A", "1", NULL}},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n",
		 .permit = HTTP_STRIP_HEADER_SPACES, .want = "body=length cl=3"},
		{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", .status = 400},
		/* a name is still needed, and still a token; folding stays refused */
		{"GET / HTTP/1.1\r\nHost: a\r\n : x\r\n\r\n", .status = 400,
		 .permit = HTTP_STRIP_HEADER_SPACES},
		{"GET / HTTP/1.1\r\nHost: a\r\nX A : x\r\n\r\n", .status = 400,
		 .permit = HTTP_STRIP_HEADER_SPACES},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", .status = 400,
		 .permit = HTTP_STRIP_HEADER_SPACES},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A \r\n\r\n", .status = 400,
		 .permit = HTTP_STRIP_HEADER_SPACES},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/* Gunicorn's header_map for names with '_': drop (the default), refuse, dangerous. */
static void test_header_map(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\n"
				 "X-Forwarded-For: 1.2.3.4\r\n\r\n";
	const struct head_row rows[] = {
		{in, .fields = (const char *const[]){"Host", "a", "X-Forwarded-For", "1.2.3.4", NULL}},
		{in, .status = 400, .permit = HTTP_UNDERSCORE_REFUSE},
		{in, .permit = HTTP_UNDERSCORE_KEEP,
		 .fields = (const char *const[]){"Host", "a", "X_Forwarded_For", "6.6.6.6",
						 "X-Forwarded-For", "1.2.3.4", NULL}},
		/* kept, an underscored name is never a framing field nor the Host */
		{"POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\nTransfer_Encoding: chunked"
		 "\r\n\r\n", .permit = HTTP_UNDERSCORE_KEEP, .want = "body=none cl=0 n=3"},
		{"GET / HTTP/1.1\r\nHo_st: a\r\n\r\n", .status = 400,
		 .permit = HTTP_UNDERSCORE_KEEP},
		/* refused or kept, the value must still be valid */
		{"GET / HTTP/1.0\r\nX_Y: a\x01\r\n\r\n", .status = 400,
		 .permit = HTTP_UNDERSCORE_KEEP},
		{"GET / HTTP/1.0\r\nX-Y: a\r\n\r\n", .permit = HTTP_UNDERSCORE_REFUSE,
		 .fields = (const char *const[]){"X-Y", "a", NULL}},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/*
 * Gunicorn's forwarder_headers (limits.forwarders, given for a trusted
 * front-end only): the names listed are kept with their underscore whatever
 * header_map says; a SCRIPT_NAME kept so is the mount point, and the path
 * must be under it (decoded, on whole segments), else 400.
 */
static void test_forwarder_headers(void **state)
{
	static const char in[] = "GET /app/x HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n"
				 "PATH_INFO: /y\r\nX_Other: 1\r\n\r\n";
	static const char *const dflt = "SCRIPT_NAME,PATH_INFO";
	const struct head_row rows[] = {
		/* the default list: X_Other follows header_map (dropped, refused, kept) */
		{in, .forwarders = dflt, .want = "sn[4:/app]",
		 .fields = (const char *const[]){"Host", "a", "SCRIPT_NAME", "/app", "PATH_INFO",
						 "/y", NULL}},
		{in, .forwarders = dflt, .permit = HTTP_UNDERSCORE_REFUSE, .status = 400},
		{in, .forwarders = dflt, .permit = HTTP_UNDERSCORE_KEEP, .want = "sn[4:/app] n=4"},
		/* no list (an untrusted peer): header_map alone, and no mount point */
		{in, .fields = (const char *const[]){"Host", "a", NULL}},
		{in, .permit = HTTP_UNDERSCORE_KEEP, .want = "n=4"},
		{in, .permit = HTTP_UNDERSCORE_REFUSE, .status = 400},
		{in, .forwarders = "", .fields = (const char *const[]){"Host", "a", NULL}},
		/* "*" is every name, and beats refuse */
		{in, .forwarders = "*", .permit = HTTP_UNDERSCORE_REFUSE, .want = "sn[4:/app] n=4"},
		/* names without regard to case, blanks around them ignored */
		{"GET /app HTTP/1.1\r\nHost: a\r\nScript_Name: /app\r\nx_y: 1\r\n\r\n",
		 .forwarders = " X_Y , script_name", .permit = HTTP_UNDERSCORE_REFUSE,
		 .want = "sn[4:/app] n=3"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nREMOTE_USER: bob\r\nSCRIPT_NAME: /\r\n\r\n",
		 .forwarders = "REMOTE_USER", .permit = HTTP_UNDERSCORE_REFUSE, .status = 400},
		{"GET /x HTTP/1.1\r\nHost: a\r\nREMOTE_USER: bob\r\n\r\n",
		 .forwarders = "REMOTE_USER", .permit = HTTP_UNDERSCORE_REFUSE,
		 .fields = (const char *const[]){"Host", "a", "REMOTE_USER", "bob", NULL}},
		/* a dashed Script-Name is any header: no mount point */
		{"GET /x HTTP/1.1\r\nHost: a\r\nScript-Name: /app\r\n\r\n", .forwarders = dflt,
		 .want = "n=2"},
		/* the path must be the mount point or below it */
		{"GET /other/x HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n\r\n",
		 .forwarders = dflt, .status = 400},
		{"GET /application HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n\r\n",
		 .forwarders = dflt, .status = 400},
		{"GET /ap HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n\r\n", .forwarders = dflt,
		 .status = 400},
		{"GET /app?q=1 HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n\r\n",
		 .forwarders = dflt, .want = "sn[4:/app]"},
		{"GET /a%70p/%2e HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n\r\n",
		 .forwarders = dflt, .want = "sn[4:/app]"},
		{"GET /a%2Fb/x HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /a/b\r\n\r\n",
		 .forwarders = dflt, .want = "sn[4:/a/b]"},
		{"GET /app%2 HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n\r\n",
		 .forwarders = dflt, .status = 400},
		/* trailing slashes are not part of it; "/" or "" mounts at the root */
		{"GET /app/ HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app//\r\n\r\n",
		 .forwarders = dflt, .want = "sn[4:/app]"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /\r\n\r\n", .forwarders = dflt,
		 .want = "sn[0:]"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME:\r\n\r\n", .forwarders = dflt,
		 .want = "sn[0:]"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: app\r\n\r\n", .forwarders = dflt,
		 .status = 400},
		/* not a path: nothing to compare */
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n\r\n", .forwarders = dflt,
		 .want = "sn[4:/app]"},
		{"GET http://h/app/x HTTP/1.1\r\nHost: h\r\nSCRIPT_NAME: /app\r\n\r\n",
		 .forwarders = dflt, .want = "sn[4:/app]"},
		{"GET http://h HTTP/1.1\r\nHost: h\r\nSCRIPT_NAME: /app\r\n\r\n",
		 .forwarders = dflt, .status = 400},
		/* one mount point only, and it cannot be folded */
		{"GET /app HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\nscript_name: /app\r\n\r\n",
		 .forwarders = dflt, .status = 400},
		{"GET /app/b HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /app\r\n /b\r\n\r\n",
		 .forwarders = dflt, .permit = HTTP_PERMIT_OBS_FOLD, .status = 400},
		{"GET /app/b HTTP/1.1\r\nHost: a\r\nPATH_INFO: /b\r\n /c\r\n\r\n",
		 .forwarders = dflt, .permit = HTTP_PERMIT_OBS_FOLD, .want = "n=2"},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/*
 * Gunicorn's permit_obsolete_folding: a continuation line extends the field
 * before it, and http_request_unfold() blanks its line break.
 */
static void test_obs_fold(void **state)
{
	const struct head_row rows[] = {
		/* continued twice; blanks around each piece are not part of the value */
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A: one \r\n \t two\r\n\tthree \r\nX-B: b\r\n\r\n",
		 .permit = HTTP_PERMIT_OBS_FOLD,
		 .fields = (const char *const[]){"Host", "a", "X-A", "one \r\n \t two\r\n\tthree",
						 "X-B", "b", NULL}},
		/* a continuation of nothing but blanks adds nothing */
		{"GET / HTTP/1.0\r\nX-A: one\r\n  \r\n\r\n", .permit = HTTP_PERMIT_OBS_FOLD,
		 .fields = (const char *const[]){"X-A", "one", NULL}},
		/* the continuation of a dropped field is dropped */
		{"GET / HTTP/1.0\r\nX_A: one\r\n two\r\nX-B: b\r\n\r\n",
		 .permit = HTTP_PERMIT_OBS_FOLD, .fields = (const char *const[]){"X-B", "b", NULL}},
		/* strict by default */
		{"GET / HTTP/1.0\r\nX-A: one\r\n two\r\n\r\n", .status = 400},
		/* nothing to continue */
		{"GET / HTTP/1.0\r\n two\r\n\r\n", .status = 400, .permit = HTTP_PERMIT_OBS_FOLD},
		/* fields the parser reads are never continued */
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n 2\r\n\r\n", .status = 400,
		 .permit = HTTP_PERMIT_OBS_FOLD},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n",
		 .status = 400, .permit = HTTP_PERMIT_OBS_FOLD},
		{"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", .status = 400,
		 .permit = HTTP_PERMIT_OBS_FOLD},
		{"GET / HTTP/1.0\r\nConnection: close\r\n x\r\n\r\n", .status = 400,
		 .permit = HTTP_PERMIT_OBS_FOLD},
		{"GET / HTTP/1.0\r\nUpgrade: a\r\n b\r\n\r\n", .status = 400,
		 .permit = HTTP_PERMIT_OBS_FOLD},
		{"GET / HTTP/1.0\r\nExpect: 100-continue\r\n b\r\n\r\n", .status = 400,
		 .permit = HTTP_PERMIT_OBS_FOLD},
		{"GET / HTTP/1.0\r\nContent-Type: a\r\n b\r\n\r\n", .status = 400,
		 .permit = HTTP_PERMIT_OBS_FOLD},
		/* ... but a field of the same length after one of them is */
		{"GET / HTTP/1.0\r\nUpgrade: a\r\nX-Grade: a\r\n b\r\n\r\n",
		 .permit = HTTP_PERMIT_OBS_FOLD,
		 .fields = (const char *const[]){"Upgrade", "a", "X-Grade", "a\r\n b", NULL}},
		/* control characters stay refused in a continuation */
		{"GET / HTTP/1.0\r\nX-A: one\r\n t\x01wo\r\n\r\n", .status = 400,
		 .permit = HTTP_PERMIT_OBS_FOLD},
		/* the whole field, CRLFs included, counts against the field size (19) */
		{"GET / HTTP/1.0\r\nX-A: 12345\r\n 6789\r\n\r\n", .lim = LIM(4094, 100, 19, 0),
		 .permit = HTTP_PERMIT_OBS_FOLD},
		{"GET / HTTP/1.0\r\nX-A: 12345\r\n 67890\r\n\r\n", .lim = LIM(4094, 100, 19, 0),
		 .status = 431, .permit = HTTP_PERMIT_OBS_FOLD},
	};
	static const char in[] = "GET / HTTP/1.0\r\nX-A: one \t\r\n \t two\r\n\r\n";
	struct http_limits lim;
	struct outcome *o;

	(void)state;
	check_heads(ROWS(rows));
	/* unfolded in place: one space for the fold and the blanks around it */
	http_limits_default(&lim);
	lim.permit = HTTP_PERMIT_OBS_FOLD;
	o = parse3(in, sizeof(in) - 1, &lim);
	assert_true(o->req.folded);
	http_request_unfold(&o->req, (char *)o->req.method); /* the placed input starts there */
	assert_false(o->req.folded);
	assert_slice(o->req.headers[0].value, o->req.headers[0].value_len, "one two");
}

static void test_request_line_syntax(void **state)
{
	static const struct head_row rows[] = {
		{"GET HTTP/1.1\r\n\r\n", .status = 400},
		{"GET\r\n\r\n", .status = 400},
		{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\t\r\nHost: a\r\n\r\n", .status = 400},
		{"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		{"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		/* line endings: bare LF, bare CR */
		{"GET\n/\nHTTP/1.1\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\nHost: a\n\n", .status = 400},
		{"GET / HTTP/1.1\rHost: a\r\n\r\n", .status = 400},
		{"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", .status = 400},
		/* incomplete stays incomplete */
		{"GET / HTTP/1.1\r", .status = HTTP_PARSE_AGAIN},
		{"GET /foo/bar HTTP/1.0\r\nbaz", .status = HTTP_PARSE_AGAIN},
		{"GET / HTTP/1.0\r\n\r", .status = HTTP_PARSE_AGAIN},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/* RFC 9112 section 2.2: a few empty lines before the request line are skipped. */
static void test_leading_empty_lines(void **state)
{
	static const char get[] = "GET /p?q HTTP/1.1\r\nHost: a\r\n\r\n";
	const struct head_row rows[] = {
		{"\r\nGET / HTTP/1.0\r\n\r\n", .method = "GET", .target = "/"},
		{"\r\n\r\nPOST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
		 .method = "POST", .want = "cl=3"},
		/* empty lines only, or an unfinished one: incomplete */
		{"\r", .status = HTTP_PARSE_AGAIN},
		{"\r\n", .status = HTTP_PARSE_AGAIN},
		{"\r\n\r\n", .status = HTTP_PARSE_AGAIN},
		{"\r\n\r\nGET / HT", .status = HTTP_PARSE_AGAIN},
		/* a bare LF is no line ending, nor a bare CR; blanks make no empty line */
		{"\n", .status = 400},
		{"\nGET / HTTP/1.0\r\n\r\n", .status = 400},
		{"\r\n\nGET / HTTP/1.0\r\n\r\n", .status = 400},
		{"\rGET / HTTP/1.0\r\n\r\n", .status = 400},
		{"\r\n\r\rGET / HTTP/1.0\r\n\r\n", .status = 400},
		{"\r\r\n", .status = 400},
		{" \r\nGET / HTTP/1.0\r\n\r\n", .status = 400},
		{"\t\r\nGET / HTTP/1.0\r\n\r\n", .status = 400},
		{"\0\r\nGET / HTTP/1.0\r\n\r\n", 21, .status = 400},
		/* the request line limit is the request line's alone */
		{"\r\n\r\n\r\nGET /aa HTTP/1.0\r\n\r\n", .lim = LIM(16, 100, 8190, 0)},
		{"\r\n\r\n\r\nGET /aaa HTTP/1.0\r\n\r\n", .lim = LIM(16, 100, 8190, 0), .status = 414},
		/* after the request line an empty line ends the head, as always */
		{"GET / HTTP/1.0\r\n\r\n\r\n", .head = 18},
	};
	char in[2 * (HTTP_MAX_EMPTY_LINES + 2) + sizeof(get)];

	(void)state;
	check_heads(ROWS(rows));
	/* up to the bound, and one more refused; the head counts them */
	for (size_t n = 0; n <= HTTP_MAX_EMPTY_LINES + 1; n++) {
		for (size_t i = 0; i < n; i++)
			memcpy(in + 2 * i, "\r\n", 2);
		memcpy(in + 2 * n, get, sizeof(get));
		if (n <= HTTP_MAX_EMPTY_LINES)
			check_head(&(struct head_row){in, .path = "/p", .query = "q", .host = "a"});
		else
			check_head(&(struct head_row){in, .status = 400});
	}
	/* refused as soon as the empty line too many has come */
	check_head(&(struct head_row){in, 2 * (HTTP_MAX_EMPTY_LINES + 1), .status = 400});
	check_head(&(struct head_row){in, 2 * HTTP_MAX_EMPTY_LINES + 1,
				      .status = HTTP_PARSE_AGAIN});
}

static void test_version(void **state)
{
	static const struct head_row rows[] = {
		{"GET / HTTP/1.0\r\n\r\n", .want = "v=0"},
		{"GET / HTTP/1.9\r\nHost: a\r\n\r\n", .want = "v=9"},

		{"GET /foo FTP/1.1\r\n\r\n", .status = 400},
		{"GET /foo http/1.1\r\n\r\n", .status = 400},
		{"GET /test HTTP/111\r\nHost: a\r\n\r\n", .status = 400},
		{"GET /foo HTTP/0.99\r\n\r\n", .status = 400},
		{"GET /foo HTTP/1.10\r\n\r\n", .status = 400},
		{"GET /foo HTTP/1\r\n\r\n", .status = 400},
		{"GET /foo HTTP/1.\r\n\r\n", .status = 400},
		{"GET /foo HTTP/1.a\r\n\r\n", .status = 400},
		{"GET /foo HTTP/11.1\r\n\r\n", .status = 400},
		{"GET /foo HTTP/1111111111111111111111111111.1\r\n\r\n", .status = 400},
		{"GET /foo HTTP/2.0\r\n\r\n", .status = 505},
		{"GET /foo HTTP/0.9\r\n\r\n", .status = 505},
		{"GET /foo HTTP/3.1\r\nHost: a\r\n\r\n", .status = 505},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_request_line_limit(void **state)
{
	static char line[9000];
	const struct {
		const long *lim; /* NULL: the defaults */
		size_t len;      /* of the request line: "GET /aaa... HTTP/1.0" */
		size_t prefix;   /* parse this much of it only; 0: all */
		int status;
	} rows[] = {
		{LIM(100, 100, 8190, 0), 100, 0, 0},
		{LIM(100, 100, 8190, 0), 101, 0, 414},
		/* refused before its end arrives */
		{LIM(100, 100, 8190, 0), 101, 101, 414},
		{LIM(100, 100, 8190, 0), 101, 100, HTTP_PARSE_AGAIN},
		{LIM(4094, 100, 8190, 0), 4094, 0, 0}, /* Gunicorn's default */
		{LIM(4094, 100, 8190, 0), 4095, 0, 414},
		{LIM(8200, 100, 8190, 0), 8190, 0, 0}, /* clamped to 8190 */
		{LIM(8200, 100, 8190, 0), 8191, 0, 414},
		{LIM(0, 100, 8190, 0), 8191, 0, 0}, /* unlimited: 1 MiB */
		{NULL, 4095, 0, 414},               /* NULL limits are Gunicorn's defaults */
	};
	const struct head_row bare_lf[] = {
		/* a bare LF after the limit is a limit error, before it a syntax error */
		{"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaa\nHTTP/1.0\r\n\r\n", .lim = LIM(20, 100, 8190, 0),
		 .status = 414},
		{"GET /aaa\naaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.0\r\n\r\n", .lim = LIM(20, 100, 8190, 0),
		 .status = 400},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t len = rows[i].len;

		memcpy(line, "GET /", 5);
		memset(line + 5, 'a', len - 14);
		memcpy(line + len - 9, " HTTP/1.0\r\n\r\n", 14);
		check_head(&(struct head_row){line, rows[i].prefix, .lim = rows[i].lim,
					      .status = rows[i].status});
	}
	check_heads(ROWS(bare_lf));
}

/* ---- header fields ---------------------------------------------------- */

static void test_fields(void **state)
{
	const struct head_row rows[] = {
		{"GET / HTTP/1.1\r\n"
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
		 .host = "example.com",
		 .fields = (const char *const[]){"Host", "example.com", "User-Agent",
						 "curl/7.18.0 (i486-pc-linux-gnu)", "Name", "value",
						 "Empty", "", "Blank", "", "X.Custom|Pipe", "ok",
						 "X-Value", "caf\xc3\xa9", "If-Match", "bazinga!",
						 "if-match", "large-sound", "aaaaaaaaaaaaa",
						 "++++++++++", "X-Inner", "a \t b", NULL}},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_fields_invalid(void **state)
{
	static const struct head_row rows[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nName\t: 3\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nNa me: x\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nNa(me: x\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length\xc3\x9f: 3\r\n\r\n", .status = 400},
		/* obs-fold */
		{"GET / HTTP/1.1\r\nLong: one\r\n two\r\nHost: a\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nLong: one\r\n\ttwo\r\nHost: a\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\n Host: a\r\n\r\n", .status = 400},
		/* bare CR, bare LF, control characters in values */
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: x\r\nNewline: a\nContent-Length: 26\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Value: plain\x07injected\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Value: plain\x7finjected\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Value: \x1b[0m\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n", .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 34, .status = 400},
		{"GET / HTTP/1.1\r\nba\0z: bar\r\nHost: a\r\n\r\n", 37, .status = 400},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_underscore_dropped(void **state)
{
	const struct head_row rows[] = {
		{"GET /keep HTTP/1.0\r\n"
		 "Transfer_Encoding: tricked\r\n"
		 "Content-Length: 7\r\n"
		 "Content_Length: -1E23\r\n"
		 "X_Forwarded_For: 6.6.6.6\r\n"
		 "Host_: x\r\n"
		 "\r\n",
		 .want = "body=length cl=7 nohost",
		 .fields = (const char *const[]){"Content-Length", "7", NULL}},
		/* a dropped field is still a field: its value must be valid */
		{"GET / HTTP/1.0\r\nX_Y: a\x01\r\n\r\n", .status = 400},
		/* and a dropped Host does not count as the Host */
		{"GET / HTTP/1.1\r\nHo_st: a\r\n\r\n", .status = 400},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_repeated_framing_fields(void **state)
{
	static const struct head_row rows[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 2\r\n\r\n",
		 .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n",
		 .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n",
		 .status = 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: evil.example.com\r\n\r\n", .status = 400},
		{"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", .status = 400},
		/* other repeats are kept as separate entries */
		{"GET / HTTP/1.1\r\nHost: a\r\nAccept: a\r\nAccept: b\r\n\r\n", .want = "n=3"},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_host_rule(void **state)
{
	static const struct head_row rows[] = {
		{"GET / HTTP/1.1\r\n\r\n", .status = 400},
		{"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", .status = 400},
		{"GET / HTTP/1.0\r\n\r\n", .want = "nohost"},
		{"GET / HTTP/1.1\r\nhOST: \t0.0.0.0=5000 \r\n\r\n", .host = "0.0.0.0=5000"},
		{"GET / HTTP/1.1\r\nHost:\r\n\r\n", .host = ""}, /* empty Host is a Host */
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_field_limits(void **state)
{
	const struct head_row rows[] = {
		/* field_size counts the CRLF: the Accept line below is 13 bytes */
		{"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", .lim = LIM(4094, 100, 13, 0)},
		{"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", .lim = LIM(4094, 100, 12, 0),
		 .status = 431},
		{"GET /test HTTP/1.1\r\nAccept: */*\r\n\r\n", .lim = LIM(4094, 100, 10, 0),
		 .status = 431},
		/* refused before the end of the field arrives */
		{"GET / HTTP/1.0\r\nAccept: */", 25, .lim = LIM(4094, 100, 10, 0), .status = 431},
		/* tiny: no field fits, an empty head does */
		{"GET / HTTP/1.0\r\n\r\n", .lim = LIM(4094, 100, 1, 0)},
		{"GET / HTTP/1.0\r\nA:\r\n\r\n", .lim = LIM(4094, 100, 1, 0), .status = 431},
		/* count: kept and dropped fields alike */
		{"GET / HTTP/1.1\r\nHost: a\r\nA: b\r\n\r\n", .lim = LIM(4094, 2, 8190, 0)},
		{"GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\n\r\n", .lim = LIM(4094, 2, 8190, 0),
		 .status = 431},
		{"GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC_: d\r\n\r\n", .lim = LIM(4094, 2, 8190, 0),
		 .status = 431},
	};
	static char buf[20000];
	size_t n;

	(void)state;
	check_heads(ROWS(rows));

	/* defaults: 100 fields of at most 8190 bytes */
	n = (size_t)sprintf(buf, "GET / HTTP/1.0\r\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(buf + n, "header%d: %d\r\n", i, i);
	strcpy(buf + n, "\r\n");
	check_head(&(struct head_row){buf, .want = "n=100"});
	strcpy(buf + n, "header100: 100\r\n\r\n");
	check_head(&(struct head_row){buf, .status = 431});

	n = (size_t)sprintf(buf, "GET / HTTP/1.0\r\nX: ");
	memset(buf + n, 'y', 8190 - 5);
	strcpy(buf + n + 8190 - 5, "\r\n\r\n"); /* "X: " + value + CRLF = 8190 */
	check_head(&(struct head_row){.in = buf});
	memset(buf + n, 'y', 8190 - 4);
	strcpy(buf + n + 8190 - 4, "\r\n\r\n");
	check_head(&(struct head_row){buf, .status = 431});
	/* 0 means the default, 8190 */
	check_head(&(struct head_row){buf, .lim = LIM(4094, 100, 0, 0), .status = 431});
	/* no upper clamp */
	check_head(&(struct head_row){buf, .lim = LIM(4094, 100, 8210, 0)});
}

static void test_limits_from_settings(void **state)
{
	static const struct {
		long settings[4]; /* --limit-request-line, -fields, -field_size, body */
		size_t request_line, fields, field_size;
		uint64_t body;
	} rows[] = {
		{{4094, 100, 8190, 0}, 4094, 100, 8190, 0},
		{{8190, 32768, 1, 5}, 8190, 32768, 1, 5},
		{{8191, 0, -1, -1}, 8190, 32768, 8190, 0},
		{{-5, -5, 0, 0}, 8190, 32768, 8190, 0},
		{{0, 32769, 100000, 0}, 1024 * 1024, 32768, 100000, 0},
		{{8200, 100, 8190, 0}, 8190, 100, 8190, 0},
		{{-1, 100, 8190, 0}, 8190, 100, 8190, 0},
	};
	struct http_limits lim;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const long *s = rows[i].settings;

		limits(&lim, s[0], s[1], s[2], s[3]);
		assert_int_equal(lim.request_line, rows[i].request_line);
		assert_int_equal(lim.fields, rows[i].fields);
		assert_int_equal(lim.field_size, rows[i].field_size);
		assert_int_equal(lim.body, rows[i].body);
	}

	http_limits_default(&lim);
	assert_int_equal(lim.request_line, 4094);
	assert_int_equal(lim.fields, 100);
	assert_int_equal(lim.field_size, 8190);
	assert_int_equal(lim.body, 0);

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
	const struct head_row rows[] = {
		{"POST / HTTP/1.0\r\nconTENT-Length: 5\r\n\r\n", .want = "body=length cl=5"},
		{"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", .want = "body=none"},
		{"POST / HTTP/1.0\r\n\r\n", .want = "body=none"},
		{"POST / HTTP/1.0\r\nContent-Length: 007\r\n\r\n", .want = "cl=7"},
		{"POST / HTTP/1.0\r\nContent-Length: 18446744073709551615\r\n\r\n",
		 .want = "cl=18446744073709551615"},
		{"POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\n", .lim = LIM(4094, 100, 8190, 10)},
		{"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\n", .lim = LIM(4094, 100, 8190, 10),
		 .status = 413},
	};
	static const char *const bad[] = {
		"-1", "-0", "+1", "0_1", "0 1", "3 1", "5, 5", "", "0x5", "1e3", "bla-bla-bla",
		"18446744073709551616", "99999999999999999999999", "\xd9\xa1",
	};

	(void)state;
	check_heads(ROWS(rows));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char req[200];

		snprintf(req, sizeof(req), "POST / HTTP/1.0\r\nContent-Length: %s\r\n\r\n", bad[i]);
		check_head(&(struct head_row){req, .status = 400});
	}
}

static void test_transfer_encoding(void **state)
{
	static const struct head_row rows[] = {
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		 .want = "body=chunked ca=0 ka=1"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tCHUNKED \r\n\r\n",
		 .want = "body=chunked"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n",
		 .want = "body=chunked"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n",
		 .want = "body=chunked"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n",
		 .want = "ca=1"},
		/* identity alone is ignored: Content-Length frames the body */
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
		 "Content-Length: 5\r\n\r\n",
		 .want = "body=length cl=5"},
		/* across fields */
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		 "Transfer-Encoding: gzip\r\n\r\n",
		 .status = 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n",
		 .status = 400},
		/* with Content-Length, in HTTP/1.0 */
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n",
		 .status = 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		 "Content-Length: 0\r\n\r\n",
		 .status = 400},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .status = 400},
		{"POST / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n", .status = 400},
		/* a dropped Transfer_Encoding does not frame anything */
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n"
		 "Content-Length: 3\r\n\r\n",
		 .want = "body=length"},
	};
	/* the value of one Transfer-Encoding field, and the verdict */
	static const struct {
		const char *te;
		int status;          /* 0: accepted */
		const char *want;
	} codings[] = {
		/* content codings before chunked: the app gets them, the connection closes */
		{"gzip, chunked", 0, "body=chunked ca=1 ka=0"},
		{"gzip,chunked", 0, "body=chunked ca=1 ka=0"},
		{"deflate , chunked", 0, "body=chunked ca=1 ka=0"},
		{"compress,identity,chunked", 0, "body=chunked ca=1 ka=0"},
		{"GZIP, Chunked", 0, "body=chunked ca=1 ka=0"},
		{"chunked, chunked", 400, NULL},
		{"identity, chunked, identity, chunked", 400, NULL},
		{"chunked, gzip", 400, NULL},
		{"chunked, identity", 400, NULL},
		{"gzip", 400, NULL},
		{"identity, gzip", 400, NULL},
		{"gzip,,chunked", 400, NULL},
		{"", 400, NULL},
		{",chunked", 400, NULL},
		{"chunked,", 400, NULL},
		{"foo", 501, NULL},
		{"x-gzip, chunked", 501, NULL},
		{"br, chunked", 501, NULL},
		{"chunked;q=1", 501, NULL},
		{"gzip;level=1, chunked", 501, NULL},
		{"\"chunked\"", 501, NULL},
	};

	(void)state;
	check_heads(ROWS(rows));
	for (size_t i = 0; i < sizeof(codings) / sizeof(*codings); i++) {
		char req[200];

		snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: %s\r\n\r\n",
			 codings[i].te);
		check_head(&(struct head_row){req, .status = codings[i].status,
					      .want = codings[i].want});
	}
}

/* ---- connection ------------------------------------------------------- */

static void test_keep_alive(void **state)
{
	static const struct head_row rows[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", .want = "ka=1"},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", .want = "ka=0"},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", .want = "ka=0"},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nConnection: close\r\n\r\n",
		 .want = "ka=0"},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade,  Keep-Alive\r\n\r\n", .want = "ka=1"},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", .want = "ka=1"},

		{"GET / HTTP/1.0\r\n\r\n", .want = "ka=0"},
		{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", .want = "ka=1"},
		{"GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n", .want = "ka=0"},
		{"GET / HTTP/1.0\r\nKeep-Alive: 300\r\n\r\n", .want = "ka=0"},
	};

	(void)state;
	check_heads(ROWS(rows));
}

static void test_expect(void **state)
{
	static const struct head_row rows[] = {
		{"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", .want = "ec=1"},
		{"POST / HTTP/1.1\r\nHost: a\r\nExpect:  100-Continue \r\n\r\n", .want = "ec=1"},
		{"POST / HTTP/1.1\r\nHost: a\r\n\r\n", .want = "ec=0"},
		{"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", .want = "ec=0"}, /* ignored */

		{"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", .status = 417},
		{"POST / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", .status = 417},
		{"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n", .status = 417},
		{"POST / HTTP/1.0\r\nExpect: foo\r\n\r\n", .status = 417},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/* An Upgrade field is noted (a WebSocket may be asked for); Connection: upgrade alone is not. */
static void test_upgrade(void **state)
{
	static const struct head_row rows[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		 .want = "up=1"},
		{"GET / HTTP/1.1\r\nHost: a\r\nupgrade: h2c\r\n\r\n", .want = "up=1"},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n", .want = "up=0"},
		{"GET / HTTP/1.1\r\nHost: a\r\nUpgrades: websocket\r\n\r\n", .want = "up=0"},
	};

	(void)state;
	check_heads(ROWS(rows));
}

/* ---- incremental use -------------------------------------------------- */

static void test_pipelined(void **state)
{
	static const struct head_row rows[] = {
		{"GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: b\r\n\r\n",
		 .head = 32, .path = "/first"},
		{"GET /second HTTP/1.1\r\nHost: b\r\n\r\n", .path = "/second", .host = "b"},
		/* an old client's CRLF after a POST body belongs to the next head */
		{"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab"
		 "\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
		 .head = 48},
		{"\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n", .path = "/next"},
	};

	(void)state;
	check_heads(ROWS(rows));
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
	assert_int_equal(
		http_parse_request(&req, guard_place(in, sizeof(in) - 1), sizeof(in) - 1, NULL),
		HTTP_PARSE_ERROR);
	assert_int_equal(req.status, 431);
}

static void alarm_handler(int sig)
{
	(void)sig;
	_exit(99); /* quadratic: the test harness sees a failure */
}

/*
 * Every byte value at every offset of a field value, whole and fed byte by
 * byte: refused exactly when it is a control character other than HTAB,
 * or DEL (the scan looks at 8 bytes at a time, and where in a word the
 * byte falls must not matter).
 */
static void test_every_byte_at_every_offset(void **state)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ", post[] = "y\r\n\r\n";
	char in[sizeof(pre) + 24 + sizeof(post)];
	struct http_request req;
	struct http_header hs[4];

	(void)state;
	for (int b = 0; b < 256; b++) {
		for (size_t at = 0; at < 24; at++) {
			size_t n = sizeof(pre) - 1, len;
			bool bad = (b < 0x20 && b != '\t') || b == 0x7f;
			ssize_t r = HTTP_PARSE_AGAIN;
			char *buf;

			memcpy(in, pre, n);
			memset(in + n, 'v', 24);
			in[n + at] = (char)b;
			memcpy(in + n + 24, post, sizeof(post) - 1);
			len = n + 24 + sizeof(post) - 1;
			buf = guard_place(in, len);
			http_request_init(&req, hs, 4);
			assert_int_equal(http_parse_request(&req, buf, len, NULL),
					 bad ? HTTP_PARSE_ERROR : (ssize_t)len);
			http_request_init(&req, hs, 4);
			for (size_t k = 1; k <= len && r == HTTP_PARSE_AGAIN; k++)
				r = http_parse_request(&req, buf, k, NULL);
			assert_int_equal(r, bad ? HTTP_PARSE_ERROR : (ssize_t)len);
		}
	}
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
	buf = guard_place(in, n);
	http_request_init(&req, hs, 100);
	for (k = 1; k <= n && r == HTTP_PARSE_AGAIN; k++)
		r = http_parse_request(&req, buf, k, &lim);
	assert_int_equal(r, (ssize_t)n);

	memcpy(in, "GET / HTTP/1.0\r\nX: ", 19);
	memset(in + 19, 'b', n - 19 - 4);
	memcpy(in + n - 4, "\r\n\r\n", 4);
	limits(&lim, 100, 100, (long)n, 0);
	buf = guard_place(in, n);
	http_request_init(&req, hs, 100);
	r = HTTP_PARSE_AGAIN;
	for (k = 1; k <= n && r == HTTP_PARSE_AGAIN; k++)
		r = http_parse_request(&req, buf, k, &lim);
	assert_int_equal(r, (ssize_t)n);
	alarm(0);
	free(in);
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

/* ---- reason phrases --------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_form),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_asterisk_and_authority_form),
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_permit_method),
		cmocka_unit_test(test_strip_header_spaces),
		cmocka_unit_test(test_header_map),
		cmocka_unit_test(test_forwarder_headers),
		cmocka_unit_test(test_obs_fold),
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
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_buffer_moves),
		cmocka_unit_test(test_request_rebase),
		cmocka_unit_test(test_headers_capacity),
		cmocka_unit_test(test_every_byte_at_every_offset),
		cmocka_unit_test(test_not_quadratic),
		cmocka_unit_test(test_sticky_error),
	};

	return cmocka_run_group_tests(tests, guard_setup, NULL);
}
