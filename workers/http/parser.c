/* parser — see parser.h. */
#include "workers/http/parser.h"

#include <arpa/inet.h>
#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "workers/http/chars.h"
#include "workers/http/percent.h"

/* Gunicorn's limits (gunicorn/http/message.py). */
#define MAX_REQUEST_LINE       8190
#define UNLIMITED_REQUEST_LINE (1024 * 1024)
#define DEFAULT_REQUEST_LINE   4094
#define MAX_FIELDS             32768
#define DEFAULT_FIELDS         100
#define DEFAULT_FIELD_SIZE     8190
#define METHOD_MIN             3
#define METHOD_MAX             20

/* req->flags_ */
#define F_DONE        0x001 /* the head was parsed: scanned_ is its length */
#define F_FAILED      0x002 /* -1 was returned: status and error are set */
#define F_HOST        0x004
#define F_CL          0x008 /* Content-Length */
#define F_CT          0x010 /* Content-Type */
#define F_TE          0x020 /* a Transfer-Encoding field */
#define F_CHUNKED     0x040 /* ... whose codings include chunked */
#define F_CODING      0x080 /* ... and a content coding (gzip, deflate, compress) */
#define F_CLOSE       0x100 /* Connection: close */
#define F_KEEPALIVE   0x200 /* Connection: keep-alive */
#define F_EXPECT      0x400 /* Expect: 100-continue */
#define F_STATIC_PATH 0x800 /* path is the static "/", not a slice of buf */
#define F_FOLD_KEPT   0x1000 /* the last field is the last header, and may be continued */
#define F_FOLD_DROP   0x2000 /* the last field was dropped: so is a continuation */

/* What find_line() saw. */
enum line_scan { LINE_OK, LINE_AGAIN, LINE_BAD, LINE_LONG };

static ssize_t fail(struct http_request *req, int status, const char *error);
static enum line_scan find_line(const char *buf, size_t len, size_t start, size_t *pos,
				size_t max, bool tab, size_t *end);
static const unsigned char *find_ctl(const unsigned char *p, const unsigned char *e, bool tab);
static int parse_request_line(struct http_request *req, const char *line, size_t n,
			      unsigned permit);
static int parse_target(struct http_request *req, const char *t, size_t n);
static void split_path(struct http_request *req, const char *s, size_t n);
static int check_authority(const char *s, size_t n, bool connect);
static int parse_field(struct http_request *req, const char *line, size_t n,
		       const struct http_limits *lim);
static bool forwarded(const char *list, const char *name, size_t nlen);
static int fold(struct http_request *req, const char *buf, size_t start, size_t end,
		const struct http_limits *lim);
static int field_semantics(struct http_request *req, const char *name, size_t nlen,
			   const char *v, size_t vlen);
static int transfer_codings(struct http_request *req, const char *v, size_t n);
static void connection_options(struct http_request *req, const char *v, size_t n);
static int finish(struct http_request *req, const struct http_limits *lim);
static bool ieq(const char *s, size_t n, const char *lower);
static const char *next_element(const char *p, const char *e, const char **el, size_t *el_len);

void http_limits_from_settings(struct http_limits *lim, long request_line, long fields,
			       long field_size, long body)
{
	if (request_line < 0 || request_line > MAX_REQUEST_LINE)
		lim->request_line = MAX_REQUEST_LINE;
	else if (request_line == 0)
		lim->request_line = UNLIMITED_REQUEST_LINE;
	else
		lim->request_line = (size_t)request_line;
	lim->fields = fields <= 0 || fields > MAX_FIELDS ? MAX_FIELDS : (size_t)fields;
	lim->field_size = field_size <= 0 ? DEFAULT_FIELD_SIZE : (size_t)field_size;
	lim->body = body <= 0 ? 0 : (uint64_t)body;
	lim->permit = 0;
	lim->forwarders = NULL;
}

void http_limits_default(struct http_limits *lim)
{
	http_limits_from_settings(lim, DEFAULT_REQUEST_LINE, DEFAULT_FIELDS, DEFAULT_FIELD_SIZE, 0);
}

size_t http_max_head(const struct http_limits *lim)
{
	size_t fields;

	if (lim->fields && lim->field_size > SIZE_MAX / lim->fields)
		return SIZE_MAX;
	fields = lim->fields * lim->field_size;
	if (lim->request_line > SIZE_MAX - 4 - 2 * HTTP_MAX_EMPTY_LINES - fields)
		return SIZE_MAX;
	return 2 * HTTP_MAX_EMPTY_LINES + lim->request_line + 2 + fields + 2;
}

void http_request_init(struct http_request *req, struct http_header *headers,
		       size_t max_headers)
{
	memset(req, 0, sizeof(*req));
	req->headers = headers;
	req->max_headers = max_headers;
}

/*
 * One line at a time: the request line, then each field line, each parsed
 * once when its CRLF has arrived. scanned_ is where the current line starts,
 * pos_ how far it was searched, so no byte is searched twice. Empty lines
 * before the request line are skipped: until it comes, scanned_ is twice
 * the number skipped.
 */
ssize_t http_parse_request(struct http_request *req, const char *buf, size_t len,
			   const struct http_limits *lim)
{
	struct http_limits store;
	size_t max_fields, field_max;

	if (req->flags_ & F_FAILED)
		return HTTP_PARSE_ERROR;
	if (req->base_ && req->base_ != buf)
		http_request_rebase(req, buf);
	req->base_ = buf;
	if (req->flags_ & F_DONE)
		return (ssize_t)req->scanned_;
	if (!lim) {
		http_limits_default(&store);
		lim = &store;
	}
	max_fields = lim->fields < req->max_headers ? lim->fields : req->max_headers;
	field_max = lim->field_size > 2 ? lim->field_size - 2 : 0; /* without CRLF */

	while (req->scanned_ < len) {
		size_t start = req->scanned_, end = 0;
		enum line_scan r;

		if (req->method == NULL) {
			if (buf[start] == '\r') {
				if (start + 1 == len)
					return HTTP_PARSE_AGAIN;
				if (buf[start + 1] == '\n') {
					if (start / 2 >= HTTP_MAX_EMPTY_LINES)
						return fail(req, 400,
							    "too many empty lines before the request line");
					req->scanned_ = req->pos_ = start + 2;
					continue;
				}
				/* a bare CR: find_line() refuses it */
			}
			r = find_line(buf, len, start, &req->pos_, lim->request_line, false, &end);
			if (r == LINE_LONG)
				return fail(req, 414, "request line too long");
			if (r == LINE_BAD)
				return fail(req, 400, "control character in the request line");
			if (r == LINE_AGAIN)
				return HTTP_PARSE_AGAIN;
			if (parse_request_line(req, buf + start, end - start, lim->permit) < 0)
				return HTTP_PARSE_ERROR;
		} else {
			if (buf[start] == '\r') {
				if (start + 1 == len)
					return HTTP_PARSE_AGAIN;
				if (buf[start + 1] != '\n')
					return fail(req, 400, "bare CR after the header fields");
				req->scanned_ = start + 2;
				if (finish(req, lim) < 0)
					return HTTP_PARSE_ERROR;
				return (ssize_t)req->scanned_;
			}
			if (req->fields_ >= max_fields)
				return fail(req, 431, "too many header fields");
			r = find_line(buf, len, start, &req->pos_, field_max, true, &end);
			if (r == LINE_LONG)
				return fail(req, 431, "header field too large");
			if (r == LINE_BAD)
				return fail(req, 400, "control character in a header field");
			if (r == LINE_AGAIN)
				return HTTP_PARSE_AGAIN;
			if ((lim->permit & HTTP_PERMIT_OBS_FOLD) &&
			    (buf[start] == ' ' || buf[start] == '\t')) {
				if (fold(req, buf, start, end, lim) < 0)
					return HTTP_PARSE_ERROR;
			} else {
				req->field_at_ = start;
				if (parse_field(req, buf + start, end - start, lim) < 0)
					return HTTP_PARSE_ERROR;
				req->fields_++;
			}
		}
		req->scanned_ = req->pos_ = end + 2;
	}
	return HTTP_PARSE_AGAIN;
}

void http_request_rebase(struct http_request *req, const char *buf)
{
	uintptr_t from = (uintptr_t)req->base_, to = (uintptr_t)buf; /* base_ may be freed */

#define MOVE(ptr)                                                                   \
	do {                                                                        \
		if (ptr)                                                            \
			ptr = (const char *)((uintptr_t)(ptr) - from + to);        \
	} while (0)
	MOVE(req->method);
	MOVE(req->target);
	if (!(req->flags_ & F_STATIC_PATH))
		MOVE(req->path);
	MOVE(req->query);
	MOVE(req->host);
	MOVE(req->script_name);
	for (size_t i = 0; i < req->num_headers; i++) {
		MOVE(req->headers[i].name);
		MOVE(req->headers[i].value);
	}
#undef MOVE
	req->base_ = buf;
}

static ssize_t fail(struct http_request *req, int status, const char *error)
{
	req->status = status;
	req->error = error;
	req->flags_ |= F_FAILED;
	return HTTP_PARSE_ERROR;
}

/*
 * Look for the CRLF that ends the line starting at buf[start], searching
 * from *pos, in one pass that also refuses every control character (HTAB
 * allowed when tab) and DEL, so that the line's bytes need no other check
 * but the grammar. The line may hold at most `max` bytes before its CRLF.
 * Whatever the split of the input, the verdict depends only on the bytes:
 * the first of "a control character" and "more than max bytes" wins; a CR
 * must be followed by LF.
 */
static enum line_scan find_line(const char *buf, size_t len, size_t start, size_t *pos,
				size_t max, bool tab, size_t *end)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t at = (size_t)(find_ctl(b + *pos, b + len, tab) - b);

	if (at - start > max)
		return LINE_LONG;
	if (at == len) {
		*pos = len;
		return LINE_AGAIN;
	}
	if (b[at] != '\r')
		return LINE_BAD;
	if (at + 1 == len) {
		*pos = at; /* the CR is looked at again */
		return LINE_AGAIN;
	}
	if (b[at + 1] != '\n')
		return LINE_BAD;
	*end = at;
	return LINE_OK;
}

/*
 * The first byte in [p, e) below 0x20 (HTAB excepted when tab) or DEL, e if
 * none; never reads at or beyond e. 8 bytes at a time (SWAR: such a byte
 * sets the high bit of its lane; a borrow only reaches lanes after a match).
 */
static const unsigned char *find_ctl(const unsigned char *p, const unsigned char *e, bool tab)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;

	while (e - p >= 8) {
		uint64_t w, d, m;

		memcpy(&w, p, 8);
		w = le64toh(w); /* the first byte in the lowest lane */
		d = w ^ (ones * 0x7f);
		m = (((w - ones * 0x20) & ~w) | ((d - ones) & ~d)) & highs;
		p += m ? (unsigned)__builtin_ctzll(m) / 8 : 8;
		if (m && !(tab && *p == '\t'))
			return p;
		p += m != 0;
	}
	for (; p < e; p++)
		if ((*p < 0x20 && !(tab && *p == '\t')) || *p == 0x7f)
			return p;
	return e;
}

/*
 * method SP request-target SP HTTP-version, without its CRLF. The target is
 * any visible bytes (VCHAR, obs-text). The method is a token, and unless
 * permit has HTTP_PERMIT_METHOD one of Gunicorn's conventional shape.
 */
static int parse_request_line(struct http_request *req, const char *line, size_t n,
			      unsigned permit)
{
	const unsigned char *p = (const unsigned char *)line, *e = p + n, *t, *v;

	while (p < e && (chars_table[*p] & CHARS_TCHAR))
		p++;
	if (p == e)
		return (int)fail(req, 400, "invalid request line");
	if (*p != ' ' || p == (const unsigned char *)line)
		return (int)fail(req, 400, "invalid method");
	for (const unsigned char *m = (const unsigned char *)line;
	     m < p && !(permit & HTTP_PERMIT_METHOD); m++)
		if (!(chars_table[*m] & CHARS_METHOD))
			return (int)fail(req, 400, "invalid method");
	if (!(permit & HTTP_PERMIT_METHOD) && (p - (const unsigned char *)line < METHOD_MIN ||
					       p - (const unsigned char *)line > METHOD_MAX))
		return (int)fail(req, 400, "invalid method");
	req->method = line;
	req->method_len = (size_t)(p - (const unsigned char *)line);

	/* find_line() let no control character, DEL or HTAB through */
	t = ++p;
	p = memchr(t, ' ', (size_t)(e - t));
	if (!p)
		return (int)fail(req, 400, "invalid request line");
	if (p == t)
		return (int)fail(req, 400, "invalid request target");
	req->target = (const char *)t;
	req->target_len = (size_t)(p - t);

	v = p + 1;
	if (e - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return (int)fail(req, 400, "invalid HTTP version");
	req->version_minor = v[7] - '0';
	if (parse_target(req, req->target, req->target_len) < 0)
		return -1;
	if (v[5] != '1')
		return (int)fail(req, 505, "HTTP version not supported");
	return 0;
}

/*
 * The four forms of RFC 9112 section 3.2: origin-form, absolute-form (path
 * after the authority), authority-form with CONNECT only, and "*" with
 * OPTIONS only. Fills path and query; a '#fragment' is left out of both.
 */
static int parse_target(struct http_request *req, const char *t, size_t n)
{
	bool options = req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0;
	bool connect = req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0;
	size_t i, a;

	if (connect) {
		if (check_authority(t, n, true) < 0)
			return (int)fail(req, 400, "CONNECT needs an authority-form target");
		req->path = t;
		req->path_len = n;
		req->query = t + n;
		return 0;
	}
	if (t[0] == '/') {
		split_path(req, t, n);
		return 0;
	}
	if (n == 1 && t[0] == '*') {
		if (!options)
			return (int)fail(req, 400, "'*' target without OPTIONS");
		req->path = t;
		req->path_len = 1;
		req->query = t + 1;
		return 0;
	}
	/* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
	i = 0;
	if (!((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z'))
		return (int)fail(req, 400, "invalid request target");
	while (i < n && (((t[i] | 0x20) >= 'a' && (t[i] | 0x20) <= 'z') ||
			 (t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '-' ||
			 t[i] == '.'))
		i++;
	if (n - i < 3 || memcmp(t + i, "://", 3) != 0)
		return (int)fail(req, 400, "invalid request target");
	a = i += 3;
	while (i < n && t[i] != '/' && t[i] != '?' && t[i] != '#')
		i++;
	if (check_authority(t + a, i - a, false) < 0)
		return (int)fail(req, 400, "invalid authority in the request target");
	split_path(req, t + i, n - i);
	if (req->path_len == 0) {
		req->path = "/";
		req->path_len = 1;
		req->flags_ |= F_STATIC_PATH;
	}
	return 0;
}

static void split_path(struct http_request *req, const char *s, size_t n)
{
	size_t i = 0, j;

	while (i < n && s[i] != '?' && s[i] != '#')
		i++;
	req->path = s;
	req->path_len = i;
	req->query = s + i;
	req->query_len = 0;
	if (i < n && s[i] == '?') {
		for (j = i + 1; j < n && s[j] != '#'; j++)
			;
		req->query = s + i + 1;
		req->query_len = j - i - 1;
	}
}

/*
 * authority = [ userinfo "@" ] host [ ":" port ] (RFC 3986), host a reg-name
 * or an IP literal in brackets (checked with inet_pton). For CONNECT
 * (authority-form): no userinfo, and a port is required.
 */
static int check_authority(const char *s, size_t n, bool connect)
{
	const char *e = s + n, *p;
	char ip[INET6_ADDRSTRLEN];
	unsigned char addr[16];

	if (!connect) {
		for (p = e; p > s && p[-1] != '@'; p--)
			;
		if (p > s) {
			for (const char *u = s; u < p - 1; u++)
				if (!(chars_table[(unsigned char)*u] & CHARS_HOST) && *u != ':')
					return -1;
			s = p;
		}
	}
	if (s == e)
		return -1;
	if (*s == '[') {
		const char *close = memchr(s, ']', (size_t)(e - s));

		if (!close || (size_t)(close - s - 1) >= sizeof(ip))
			return -1;
		memcpy(ip, s + 1, (size_t)(close - s - 1));
		ip[close - s - 1] = '\0';
		if (inet_pton(AF_INET6, ip, addr) != 1)
			return -1;
		p = close + 1;
	} else {
		for (p = s; p < e && (chars_table[(unsigned char)*p] & CHARS_HOST); p++)
			;
		if (p == s)
			return -1;
	}
	if (p == e)
		return connect ? -1 : 0;
	if (*p != ':')
		return -1;
	if (++p == e && connect)
		return -1;
	for (; p < e; p++)
		if (*p < '0' || *p > '9')
			return -1;
	return 0;
}

/*
 * field-name ":" OWS field-value OWS, without its CRLF; with
 * HTTP_STRIP_HEADER_SPACES, SP and HTAB may come before the colon. A name
 * with '_' is kept when it is one of lim->forwarders (Gunicorn's
 * forwarder_headers), else dropped, or refused or kept as lim->permit says
 * (header_map).
 */
static int parse_field(struct http_request *req, const char *line, size_t n,
		       const struct http_limits *lim)
{
	const unsigned char *p = (const unsigned char *)line, *e = p + n, *v;
	unsigned permit = lim->permit;
	bool underscore = false, fwd, script;
	size_t nlen;

	if (*p == ' ' || *p == '\t')
		return (int)fail(req, 400, "obsolete line folding");
	while (p < e && (chars_table[*p] & CHARS_TCHAR))
		underscore |= *p++ == '_';
	nlen = (size_t)(p - (const unsigned char *)line);
	while ((permit & HTTP_STRIP_HEADER_SPACES) && p < e && (*p == ' ' || *p == '\t'))
		p++;
	if (p == e || *p != ':')
		return (int)fail(req, 400, "invalid header name");
	if (nlen == 0)
		return (int)fail(req, 400, "empty header name");
	fwd = underscore && lim->forwarders && forwarded(lim->forwarders, line, nlen);
	if (underscore && !fwd && (permit & HTTP_UNDERSCORE_REFUSE))
		return (int)fail(req, 400, "underscore in a header name");
	p++;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	v = p; /* find_line() let only HTAB, SP, VCHAR and obs-text through */
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	req->flags_ &= ~(F_FOLD_KEPT | F_FOLD_DROP);
	if (underscore && !fwd && !(permit & HTTP_UNDERSCORE_KEEP)) {
		req->flags_ |= F_FOLD_DROP;
		return 0; /* dropped: X_Forwarded_For must not pass for X-Forwarded-For */
	}
	if (req->num_headers >= req->max_headers)
		return (int)fail(req, 431, "too many header fields");
	script = fwd && ieq(line, nlen, "script_name");
	if (script) {
		if (req->script_name)
			return (int)fail(req, 400, "more than one SCRIPT_NAME");
		req->script_name = (const char *)v;
		for (req->script_name_len = (size_t)(e - v);
		     req->script_name_len && v[req->script_name_len - 1] == '/';)
			req->script_name_len--;
	}
	req->headers[req->num_headers++] = (struct http_header){
		.name = line,
		.name_len = nlen,
		.value = (const char *)v,
		.value_len = (size_t)(e - v),
	};
	int rc = field_semantics(req, line, nlen, (const char *)v, (size_t)(e - v));
	if (rc == 0 && !script)
		req->flags_ |= F_FOLD_KEPT; /* a field the parser acts on cannot be folded */
	return rc < 0 ? -1 : 0;
}

/* Is the field name one of the comma-separated list, or is "*" in it? */
static bool forwarded(const char *list, const char *name, size_t nlen)
{
	const char *p = list, *el;
	size_t len;

	do {
		p = next_element(p, p + strlen(p), &el, &len);
		if ((len == 1 && *el == '*') || (len == nlen && strncasecmp(el, name, nlen) == 0))
			return true;
	} while (p);
	return false;
}

/*
 * HTTP_PERMIT_OBS_FOLD: buf[start..end) starts with SP or HTAB and
 * continues the field before it: that header's value now runs to this
 * line's last visible byte (http_request_unfold() blanks the line breaks).
 */
static int fold(struct http_request *req, const char *buf, size_t start, size_t end,
		const struct http_limits *lim)
{
	const char *p = buf + start, *e = buf + end;
	struct http_header *h;

	if (!(req->flags_ & (F_FOLD_KEPT | F_FOLD_DROP)))
		return (int)fail(req, 400, "obsolete line folding");
	if (end + 2 - req->field_at_ > lim->field_size)
		return (int)fail(req, 431, "header field too large");
	if (req->flags_ & F_FOLD_DROP)
		return 0;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (p == e)
		return 0; /* only blanks: nothing to add */
	h = &req->headers[req->num_headers - 1];
	h->value_len = (size_t)(e - h->value);
	req->folded = true;
	return 0;
}

/*
 * The fields the parser itself acts on: 1 for one of them, 0 for any other
 * field, -1 when refused.
 */
static int field_semantics(struct http_request *req, const char *name, size_t nlen,
			   const char *v, size_t vlen)
{
	switch (nlen) {
	case 4:
		if (!ieq(name, nlen, "host"))
			return 0;
		if (req->flags_ & F_HOST)
			return (int)fail(req, 400, "more than one Host");
		req->flags_ |= F_HOST;
		req->host = v;
		req->host_len = vlen;
		return 1;
	case 6:
		if (!ieq(name, nlen, "expect"))
			return 0;
		if (!ieq(v, vlen, "100-continue"))
			return (int)fail(req, 417, "unsupported expectation");
		req->flags_ |= F_EXPECT;
		return 1;
	case 7:
		if (!ieq(name, nlen, "upgrade"))
			return 0;
		req->upgrade = true;
		return 1;
	case 10:
		if (!ieq(name, nlen, "connection"))
			return 0;
		connection_options(req, v, vlen);
		return 1;
	case 12:
		if (!ieq(name, nlen, "content-type"))
			return 0;
		if (req->flags_ & F_CT)
			return (int)fail(req, 400, "more than one Content-Type");
		req->flags_ |= F_CT;
		return 1;
	case 14: {
		uint64_t cl = 0;

		if (!ieq(name, nlen, "content-length"))
			return 0;
		if (req->flags_ & F_CL)
			return (int)fail(req, 400, "more than one Content-Length");
		if (vlen == 0)
			return (int)fail(req, 400, "invalid Content-Length");
		for (size_t i = 0; i < vlen; i++) {
			unsigned d = (unsigned char)v[i] - '0';

			if (d > 9 || cl > (UINT64_MAX - d) / 10)
				return (int)fail(req, 400, "invalid Content-Length");
			cl = cl * 10 + d;
		}
		req->flags_ |= F_CL;
		req->content_length = cl;
		return 1;
	}
	case 17:
		if (!ieq(name, nlen, "transfer-encoding"))
			return 0;
		return transfer_codings(req, v, vlen) < 0 ? -1 : 1;
	default:
		return 0;
	}
}

/*
 * Gunicorn 26's reading of Transfer-Encoding, across all its fields:
 * chunked once and last, identity ignored (but not after chunked), gzip,
 * deflate and compress before chunked (the connection then closes), any
 * other coding 501.
 */
static int transfer_codings(struct http_request *req, const char *v, size_t n)
{
	const char *p = v, *e = v + n, *el;
	size_t len;

	req->flags_ |= F_TE;
	do {
		p = next_element(p, e, &el, &len);
		if (len == 0)
			return (int)fail(req, 400, "empty transfer coding");
		if (req->flags_ & F_CHUNKED)
			return (int)fail(req, 400, "chunked is not the last transfer coding");
		if (ieq(el, len, "chunked"))
			req->flags_ |= F_CHUNKED;
		else if (ieq(el, len, "gzip") || ieq(el, len, "deflate") ||
			 ieq(el, len, "compress"))
			req->flags_ |= F_CODING;
		else if (!ieq(el, len, "identity"))
			return (int)fail(req, 501, "unsupported transfer coding");
	} while (p);
	return 0;
}

static void connection_options(struct http_request *req, const char *v, size_t n)
{
	const char *p = v, *e = v + n, *el;
	size_t len;

	do {
		p = next_element(p, e, &el, &len);
		if (ieq(el, len, "close"))
			req->flags_ |= F_CLOSE;
		else if (ieq(el, len, "keep-alive"))
			req->flags_ |= F_KEEPALIVE;
	} while (p);
}

/*
 * One element of a comma-separated list in [p, e), OWS trimmed. Returns
 * where the next one starts, NULL after the last (so "a," has two).
 */
static const char *next_element(const char *p, const char *e, const char **el, size_t *el_len)
{
	const char *comma = memchr(p, ',', (size_t)(e - p));
	const char *end = comma ? comma : e;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	*el = p;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*el_len = (size_t)(end - p);
	return comma ? comma + 1 : NULL;
}

/* The head is complete: the rules that need every field. */
static int finish(struct http_request *req, const struct http_limits *lim)
{
	unsigned f = req->flags_;

	if (req->version_minor >= 1 && !(f & F_HOST))
		return (int)fail(req, 400, "HTTP/1.1 request without Host");
	if (req->script_name && req->path[0] == '/' &&
	    !percent_under(req->path, req->path_len, req->script_name, req->script_name_len))
		return (int)fail(req, 400, "request path not under the forwarded SCRIPT_NAME");
	if (f & F_TE) {
		if (req->version_minor == 0)
			return (int)fail(req, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if ((f & F_CHUNKED) && (f & F_CL))
			return (int)fail(req, 400, "both Content-Length and Transfer-Encoding");
		if ((f & F_CODING) && !(f & F_CHUNKED))
			return (int)fail(req, 400, "Transfer-Encoding without chunked");
	}
	if (f & F_CHUNKED) {
		req->body = HTTP_BODY_CHUNKED;
	} else if ((f & F_CL) && req->content_length > 0) {
		if (lim->body && req->content_length > lim->body)
			return (int)fail(req, 413, "request body too large");
		req->body = HTTP_BODY_LENGTH;
	}
	req->close_after = (f & F_CODING) != 0;
	if (req->version_minor >= 1)
		req->keep_alive = !(f & F_CLOSE);
	else
		req->keep_alive = (f & F_KEEPALIVE) && !(f & F_CLOSE);
	if (req->close_after)
		req->keep_alive = false;
	req->expect_continue = (f & F_EXPECT) && req->version_minor >= 1;
	req->flags_ |= F_DONE;
	return 0;
}

void http_request_unfold(struct http_request *req, char *buf)
{
	for (size_t i = 0; req->folded && i < req->num_headers; i++) {
		struct http_header *h = &req->headers[i];
		char *v = buf + (h->value - req->base_);
		size_t w = 0, r = 0;

		while (r < h->value_len) {
			if (v[r] != '\r') {
				v[w++] = v[r++];
				continue;
			}
			/* CRLF (find_line() let no other CR through) and the blanks around it */
			while (w > 0 && (v[w - 1] == ' ' || v[w - 1] == '\t'))
				w--;
			for (r += 2; r < h->value_len && (v[r] == ' ' || v[r] == '\t'); r++)
				;
			v[w++] = ' ';
		}
		h->value_len = w;
	}
	req->folded = false;
}

/* s[0..n) equals the lowercase string `lower`, ignoring ASCII case. */
static bool ieq(const char *s, size_t n, const char *lower)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (lower[i] == '\0' || (c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)lower[i])
			return false;
	}
	return lower[i] == '\0';
}
