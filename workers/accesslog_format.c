/* accesslog_format — see accesslog_format.h. */
#include "workers/accesslog_format.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arbiter/log.h"
#include "workers/http/conn.h"
#include "workers/http/percent.h"

#define ATOMS "hlutrsmUqHbBfaTDMLp"
#define JSON_SHORT 64 /* string fields are cut to this when a JSON line is too long */
#define VALUE_CAP PIPE_BUF /* a value's room: no line is longer (accesslog.c) */

enum op_kind {
	OP_TEXT,       /* literal bytes */
	OP_ATOM,       /* %(h)s ... */
	OP_HEADER_IN,  /* %({name}i)s */
	OP_HEADER_OUT, /* %({name}o)s */
	OP_ENVIRON,    /* %({name}e)s */
	OP_UNKNOWN,    /* any other key: "-", as Gunicorn */
};

struct op {
	enum op_kind kind;
	char atom;       /* OP_ATOM */
	size_t off, len; /* in text: the literal, or the lowercased name */
};

struct accesslog_format {
	bool json;
	struct op *ops;
	size_t nops;
	char *text;
	size_t text_len;
};

/* Bytes written into p[0..cap), the rest cut. */
struct out {
	char *p;
	size_t len, cap;
};

/* What one line is made of. */
struct line_ctx {
	const struct accesslog_entry *e;
	time_t now;
	long pid;
};

static void add_text(struct accesslog_format *f, const char *s, size_t n);
static void add_key(struct accesslog_format *f, const char *key, size_t n);
static void put(struct out *o, const char *s, size_t n);
static void put_str(struct out *o, const char *s);
static void put_num(struct out *o, uint64_t v);
static void put_escaped(struct out *o, const char *s, size_t n);
static bool value(const struct accesslog_format *f, const struct op *op,
		  const struct line_ctx *x, struct out *v);
static bool atom_value(char a, const struct line_ctx *x, struct out *v);
static bool request_header(const struct conn *c, const char *name, size_t len, bool join,
			   struct out *v);
static bool response_header(const struct accesslog_entry *e, const char *name, size_t len,
			    struct out *v);
static bool basic_user(const struct conn *c, struct out *v);
static int b64(unsigned char ch);
static bool utf8_valid(const unsigned char *s, size_t n);
static void decoded_path(const struct conn *c, struct out *v);
static void clf_time(time_t now, struct out *v);
static void iso_time(time_t now, struct out *v);
static const struct tm *local_tm(time_t now);
static size_t json_line(const struct line_ctx *x, char *buf, size_t cap);
static void json_object_out(const struct line_ctx *x, struct out *o, size_t limit);
static void put_json_string(struct out *o, const char *s, size_t n);
static size_t utf8_char(const unsigned char *s, size_t n);

/* ------------------------------------------------------------- the format */

struct accesslog_format *accesslog_format_new(const char *fmt)
{
	struct accesslog_format *f = xcalloc(1, sizeof(*f));
	size_t n = strlen(fmt);

	if (strcmp(fmt, "json") == 0) {
		f->json = true;
		return f;
	}
	/* Every op consumes at least one byte of fmt and stores at most as many. */
	f->ops = xcalloc(n + 1, sizeof(*f->ops));
	f->text = xmalloc(n + 1);
	for (size_t i = 0; i < n;) {
		if (fmt[i] == '%' && i + 1 < n && fmt[i + 1] == '%') {
			add_text(f, "%", 1);
			i += 2;
			continue;
		}
		if (fmt[i] == '%' && i + 1 < n && fmt[i + 1] == '(') {
			/* Python's rule: the key runs to the matching parenthesis. */
			size_t j = i + 2;
			int depth = 1;

			while (j < n && depth > 0) {
				depth += fmt[j] == '(' ? 1 : fmt[j] == ')' ? -1 : 0;
				j++;
			}
			if (depth == 0 && j < n && strchr("sdi", fmt[j])) {
				add_key(f, fmt + i + 2, j - 1 - (i + 2));
				i = j + 1;
				continue;
			}
		}
		add_text(f, fmt + i, 1);
		i++;
	}
	return f;
}

void accesslog_format_free(struct accesslog_format *f)
{
	if (!f)
		return;
	free(f->ops);
	free(f->text);
	free(f);
}

/* Append literal bytes, merging with a literal just before. */
static void add_text(struct accesslog_format *f, const char *s, size_t n)
{
	struct op *last = f->nops ? &f->ops[f->nops - 1] : NULL;

	if (!last || last->kind != OP_TEXT || last->off + last->len != f->text_len)
		f->ops[f->nops++] = (struct op){.kind = OP_TEXT, .off = f->text_len};
	memcpy(f->text + f->text_len, s, n);
	f->text_len += n;
	f->ops[f->nops - 1].len += n;
}

/*
 * One %(key)s: a one-letter atom (case matters), or "{name}i|o|e" (without
 * case, as Gunicorn lowercases both the keys it offers and the one asked).
 */
static void add_key(struct accesslog_format *f, const char *key, size_t n)
{
	struct op *op = &f->ops[f->nops++];
	char kind = n >= 3 ? (char)(key[n - 1] | 0x20) : 0;

	*op = (struct op){.kind = OP_UNKNOWN};
	if (n == 1 && strchr(ATOMS, key[0])) {
		op->kind = OP_ATOM;
		op->atom = key[0];
	} else if (n >= 3 && key[0] == '{' && key[n - 2] == '}' && strchr("ioe", kind)) {
		op->kind = kind == 'i' ? OP_HEADER_IN : kind == 'o' ? OP_HEADER_OUT : OP_ENVIRON;
		op->off = f->text_len;
		op->len = n - 3;
		for (size_t i = 0; i < n - 3; i++) {
			char ch = key[1 + i];
			f->text[f->text_len++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
		}
	}
}

size_t accesslog_format_line(const struct accesslog_format *f, const struct accesslog_entry *e,
			     time_t now, long pid, char *buf, size_t cap)
{
	struct line_ctx x = {.e = e, .now = now, .pid = pid};
	struct out o = {buf, 0, cap - 1};
	char scratch[VALUE_CAP];

	if (f->json)
		return json_line(&x, buf, cap);
	for (size_t i = 0; i < f->nops; i++) {
		const struct op *op = &f->ops[i];
		struct out v = {scratch, 0, sizeof(scratch)};

		if (op->kind == OP_TEXT)
			put(&o, f->text + op->off, op->len);
		else if (value(f, op, &x, &v))
			put_escaped(&o, v.p, v.len);
		else
			put(&o, "-", 1);
	}
	buf[o.len++] = '\n';
	return o.len;
}

/* ---------------------------------------------------------------- writing */

static void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_num(struct out *o, uint64_t v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, d + i, sizeof(d) - i);
}

/*
 * Gunicorn's escaping: '"' becomes '\"'. Control bytes, which Gunicorn
 * writes as they are, become \xHH so that a value can never end a line.
 */
static void put_escaped(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n && o->len < o->cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"') {
			put(o, "\\\"", 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			char esc[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
			put(o, esc, 4);
		} else {
			o->p[o->len++] = (char)ch;
		}
	}
}

/* ----------------------------------------------------------------- values */

/* The raw value of op into v; false when there is none (written "-"). */
static bool value(const struct accesslog_format *f, const struct op *op,
		  const struct line_ctx *x, struct out *v)
{
	const struct accesslog_entry *e = x->e;
	const char *name = f->text + op->off;
	ssize_t n;

	switch (op->kind) {
	case OP_ATOM:
		return atom_value(op->atom, x, v);
	case OP_HEADER_IN:
		return request_header(e->c, name, op->len, false, v);
	case OP_HEADER_OUT:
		return response_header(e, name, op->len, v);
	case OP_ENVIRON:
		if (!e->environ_get)
			return false;
		n = e->environ_get(e->environ_ctx, name, op->len, v->p + v->len, v->cap - v->len);
		if (n < 0)
			return false;
		v->len += (size_t)n < v->cap - v->len ? (size_t)n : v->cap - v->len;
		return true;
	default:
		return false;
	}
}

static bool atom_value(char a, const struct line_ctx *x, struct out *v)
{
	const struct accesslog_entry *e = x->e;
	const struct http_request *req = &e->c->req;
	uint64_t d = e->duration_us > 0 ? (uint64_t)e->duration_us : 0;
	const char *proto = req->version_minor ? "HTTP/1.1" : "HTTP/1.0";
	char tmp[48];

	switch (a) {
	case 'h':
		if (!e->c->peer_addr[0])
			return false;
		put_str(v, e->c->peer_addr);
		return true;
	case 'u':
		return basic_user(e->c, v);
	case 't':
		clf_time(x->now, v);
		return true;
	case 'r':
		put(v, req->method, req->method_len);
		put(v, " ", 1);
		put(v, req->target, req->target_len);
		put(v, " ", 1);
		put_str(v, proto);
		return true;
	case 's':
		put_num(v, (uint64_t)(e->status > 0 ? e->status : 0));
		return true;
	case 'm':
		put(v, req->method, req->method_len);
		return true;
	case 'U':
		decoded_path(e->c, v);
		return true;
	case 'q':
		put(v, req->query, req->query_len);
		return true;
	case 'H':
		put_str(v, proto);
		return true;
	case 'b':
	case 'B':
		put_num(v, e->body_bytes);
		return true;
	case 'f':
		return request_header(e->c, "referer", 7, true, v);
	case 'a':
		return request_header(e->c, "user-agent", 10, true, v);
	case 'T':
		put_num(v, d / 1000000);
		return true;
	case 'D':
		put_num(v, d);
		return true;
	case 'M':
		put_num(v, d / 1000);
		return true;
	case 'L':
		snprintf(tmp, sizeof(tmp), "%llu.%06llu", (unsigned long long)(d / 1000000),
			 (unsigned long long)(d % 1000000));
		put_str(v, tmp);
		return true;
	case 'p':
		snprintf(tmp, sizeof(tmp), "<%ld>", x->pid);
		put_str(v, tmp);
		return true;
	default: /* 'l', and anything unknown */
		return false;
	}
}

/*
 * A request header by lowercase name. join: every occurrence, joined with
 * "," (what the environ's HTTP_* holds); else the last one (what Gunicorn's
 * %({name}i)s finds).
 */
static bool request_header(const struct conn *c, const char *name, size_t len, bool join,
			   struct out *v)
{
	const struct http_request *req = &c->req;
	const struct http_header *last = NULL;
	bool found = false;

	for (size_t i = 0; i < req->num_headers; i++) {
		const struct http_header *h = &req->headers[i];

		if (h->name_len != len || strncasecmp(h->name, name, len) != 0)
			continue;
		if (join) {
			if (found)
				put(v, ",", 1);
			put(v, h->value, h->value_len);
		}
		found = true;
		last = h;
	}
	if (found && !join)
		put(v, last->value, last->value_len);
	return found;
}

/* A response header by lowercase name, from the head as sent; the last one. */
static bool response_header(const struct accesslog_entry *e, const char *name, size_t len,
			    struct out *v)
{
	const char *p = e->resp_head, *end = p ? p + e->resp_head_len : NULL;
	const char *val = NULL;
	size_t vlen = 0;

	if (!p)
		return false;
	p = memchr(p, '\n', (size_t)(end - p)); /* skip the status line */
	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *colon;
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (n && p[n - 1] == '\r')
			n--;
		colon = memchr(p, ':', n);
		if (colon && (size_t)(colon - p) == len && strncasecmp(p, name, len) == 0) {
			val = colon + 1;
			while (val < p + n && (*val == ' ' || *val == '\t'))
				val++;
			vlen = (size_t)(p + n - val);
		}
		p = eol;
	}
	if (!val)
		return false;
	put(v, val, vlen);
	return true;
}

static int b64(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* The length of the valid UTF-8 character at s[0..n), or 0 when it is not one. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	unsigned char ch = s[0];
	size_t k;
	uint32_t cp;

	if (ch < 0x80)
		return 1;
	if ((ch & 0xe0) == 0xc0) {
		k = 1;
		cp = ch & 31u;
	} else if ((ch & 0xf0) == 0xe0) {
		k = 2;
		cp = ch & 15u;
	} else if ((ch & 0xf8) == 0xf0) {
		k = 3;
		cp = ch & 7u;
	} else {
		return 0;
	}
	if (k > n - 1)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[j] & 63u);
	}
	if ((k == 1 && cp < 0x80) || (k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
	    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k + 1;
}

/* True when s[0..n) is valid UTF-8 (Gunicorn decodes the user name as UTF-8). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k)
		if ((k = utf8_char(s + i, n - i)) == 0)
			return false;
	return true;
}

/*
 * %(u)s as Gunicorn: an Authorization value starting with "basic" (any
 * case), split at its first space, the rest base64-decoded leniently
 * (characters outside the alphabet skipped, the padding required) and cut
 * at the first ':'. The user must be UTF-8 and not empty.
 */
static bool basic_user(const struct conn *c, struct out *v)
{
	const struct http_request *req = &c->req;
	const struct http_header *h = NULL;
	unsigned char user[512];
	size_t n = 0, quad = 0, pads = 0;
	uint32_t acc = 0;
	const char *p, *end;

	for (size_t i = 0; i < req->num_headers && !h; i++)
		if (req->headers[i].name_len == 13 &&
		    strncasecmp(req->headers[i].name, "authorization", 13) == 0)
			h = &req->headers[i];
	if (!h || h->value_len < 5 || strncasecmp(h->value, "basic", 5) != 0)
		return false;
	p = memchr(h->value, ' ', h->value_len);
	if (!p)
		return false;
	end = h->value + h->value_len;
	for (p++; p < end; p++) {
		int d = b64((unsigned char)*p);

		if (*p == '=') {
			if (quad >= 2 && quad + ++pads >= 4)
				break;
			continue;
		}
		if (d < 0)
			continue;
		pads = 0;
		acc = acc << 6 | (uint32_t)d;
		if (++quad == 4) {
			if (n + 3 > sizeof(user))
				return false;
			user[n++] = (unsigned char)(acc >> 16);
			user[n++] = (unsigned char)(acc >> 8);
			user[n++] = (unsigned char)acc;
			quad = 0;
			acc = 0;
		}
	}
	if (quad == 1 || (quad > 1 && quad + pads < 4))
		return false; /* binascii.Error: the padding is wrong */
	if (quad > 1 && n + 2 <= sizeof(user)) {
		acc <<= 6 * (4 - quad);
		user[n++] = (unsigned char)(acc >> 16);
		if (quad == 3)
			user[n++] = (unsigned char)(acc >> 8);
	}
	const unsigned char *colon = memchr(user, ':', n);
	if (colon)
		n = (size_t)(colon - user);
	if (n == 0 || !utf8_valid(user, n))
		return false;
	put(v, (const char *)user, n);
	return true;
}

/* %(U)s: the request path percent-decoded, as PATH_INFO (with the root path). */
static void decoded_path(const struct conn *c, struct out *v)
{
	v->len += percent_decode(v->p + v->len, v->cap - v->len, c->req.path, c->req.path_len);
}

/* localtime_r once per second per thread. */
static const struct tm *local_tm(time_t now)
{
	static __thread time_t at = -1;
	static __thread struct tm tm;

	if (now != at) {
		localtime_r(&now, &tm);
		at = now;
	}
	return &tm;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/*
 * "[23/Nov/2026:12:00:00 +0000]", as Gunicorn's time.strftime in the C
 * locale; formatted once per second per thread.
 */
static void clf_time(time_t now, struct out *v)
{
	static __thread time_t at = -1;
	static __thread char s[48];
	static __thread int n;

	if (now != at) {
		const struct tm *tm = local_tm(now);
		long off = tm->tm_gmtoff / 60;

		n = snprintf(s, sizeof(s), "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]",
			     tm->tm_mday, months[tm->tm_mon], tm->tm_year + 1900, tm->tm_hour,
			     tm->tm_min, tm->tm_sec, off < 0 ? '-' : '+', labs(off) / 60,
			     labs(off) % 60);
		at = now;
	}
	put(v, s, (size_t)n);
}

/* "2026-11-23T12:00:00+00:00" (ISO 8601) for the JSON line. */
static void iso_time(time_t now, struct out *v)
{
	const struct tm *tm = local_tm(now);
	long off = tm->tm_gmtoff / 60;
	char s[48];
	int n = snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
			 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min,
			 tm->tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);

	put(v, s, (size_t)n);
}

/* ------------------------------------------------------------------- JSON */

/* JSON field names for the atoms; the numbers go out as numbers. */
static const struct {
	const char *key;
	char atom;
	bool number;
} json_fields[] = {
	{"remote_addr", 'h', false}, {"remote_user", 'u', false}, {"time", 't', false},
	{"request", 'r', false},     {"method", 'm', false},      {"path", 'U', false},
	{"query", 'q', false},       {"protocol", 'H', false},    {"status", 's', true},
	{"bytes", 'B', true},        {"referer", 'f', false},     {"user_agent", 'a', false},
	{"duration_s", 'T', true},   {"duration_ms", 'M', true},  {"duration_us", 'D', true},
	{"pid", 'p', true},
};

/*
 * One JSON object into o; string values longer than limit bytes are cut
 * (0: no limit). Written by hand: a library's objects cost more than the
 * rest of the request.
 */
static void json_object_out(const struct line_ctx *x, struct out *o, size_t limit)
{
	char scratch[VALUE_CAP];

	put(o, "{", 1);
	for (size_t i = 0; i < sizeof(json_fields) / sizeof(json_fields[0]); i++) {
		struct out v = {scratch, 0, sizeof(scratch)};

		if (i > 0)
			put(o, ",", 1);
		put(o, "\"", 1);
		put_str(o, json_fields[i].key);
		put(o, "\":", 2);
		if (json_fields[i].atom == 'p') {
			put_num(o, (uint64_t)x->pid);
		} else if (json_fields[i].atom == 't') {
			iso_time(x->now, &v);
			put_json_string(o, v.p, v.len);
		} else if (!atom_value(json_fields[i].atom, x, &v)) {
			put(o, "null", 4);
		} else if (json_fields[i].number) {
			put(o, v.p, v.len);
		} else {
			put_json_string(o, v.p, limit && v.len > limit ? limit : v.len);
		}
	}
	put(o, "}", 1);
}

/*
 * A JSON string: '"', '\\' and control characters escaped; UTF-8 kept, and a
 * byte that is not part of a UTF-8 character read as Latin-1 (PEP 3333).
 */
static void put_json_string(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	put(o, "\"", 1);
	for (size_t i = 0, k; i < n && o->len < o->cap; i += k) {
		unsigned char ch = (unsigned char)s[i];

		k = 1;
		if (ch == '"' || ch == '\\') {
			char esc[2] = {'\\', (char)ch};
			put(o, esc, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			put(o, esc, 6);
		} else if (ch < 0x80) {
			o->p[o->len++] = (char)ch;
		} else if ((k = utf8_char((const unsigned char *)s + i, n - i)) > 0) {
			put(o, s + i, k);
		} else {
			char two[2] = {(char)(0xc0 | ch >> 6), (char)(0x80 | (ch & 63))};
			put(o, two, 2);
			k = 1;
		}
	}
	put(o, "\"", 1);
}

/* The JSON line; when it would not fit, again with long strings cut. */
static size_t json_line(const struct line_ctx *x, char *buf, size_t cap)
{
	struct out o = {buf, 0, cap - 1};

	json_object_out(x, &o, 0);
	if (o.len == o.cap) {
		o.len = 0;
		json_object_out(x, &o, JSON_SHORT);
	}
	buf[o.len++] = '\n';
	return o.len;
}
