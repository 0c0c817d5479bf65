/* ws_handshake — see ws_handshake.h. */
#include "workers/http/ws_handshake.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "workers/http/chars.h"

#define KEY_LEN   24 /* base64 of 16 bytes: 22 characters and "==" */
#define MAX_BITS  15
#define MIN_BITS  8
#define VALUE_MAX 16 /* a parameter value longer than this is no window size */

/* The parameters of one permessage-deflate offer (RFC 7692 section 7.1). */
struct offer {
	bool server_nct, client_nct; /* *_no_context_takeover */
	unsigned server_bits;        /* server_max_window_bits, 0 if absent */
	bool client_bits_seen;
	unsigned client_bits; /* its value, 0 if none */
	bool ok;              /* no parameter made it unacceptable */
};

/* A response being written into the caller's buffer. */
struct out {
	char *p;
	size_t size, len;
	bool overflow;
};

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int refuse(struct ws_handshake *hs, int status, const char *error);
static bool ieq(const char *s, size_t n, const char *lower);
static bool list_has(const char *p, size_t n, const char *lower);
static const char *skip_ows(const char *p, const char *e);
static size_t token_len(const char *p, const char *e);
static bool valid_key(const char *k, size_t n);
static int add_protocols(struct ws_handshake *hs, const char *p, size_t n);
static int extensions(struct ws_handshake *hs, const char *p, size_t n);
static const char *param_value(const char *p, const char *e, char *v, size_t *vlen);
static unsigned window_bits(const char *v, size_t n);
static void deflate_param(struct offer *o, const char *name, size_t nlen, bool has_value,
			  const char *v, size_t vlen);
static void accept_offer(struct ws_handshake *hs, const struct offer *o);
static void put(struct out *o, const char *s, size_t n);
static void put_str(struct out *o, const char *s);

static int refuse(struct ws_handshake *hs, int status, const char *error)
{
	hs->status = status;
	hs->error = error;
	return -1;
}

/* s[0..n) equals lower, ASCII case ignored. */
static bool ieq(const char *s, size_t n, const char *lower)
{
	size_t i;

	for (i = 0; i < n && lower[i]; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 'a' - 'A');
		if (c != lower[i])
			return false;
	}
	return i == n && lower[i] == '\0';
}

static const char *skip_ows(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static size_t token_len(const char *p, const char *e)
{
	size_t n = 0;

	while (p + n < e && chars_is_token(p + n, 1))
		n++;
	return n;
}

/* A comma-separated list p[0..n) has an element equal to lower (case ignored). */
static bool list_has(const char *p, size_t n, const char *lower)
{
	const char *e = p + n;

	while (p < e) {
		const char *c = memchr(p, ',', (size_t)(e - p)), *end = c ? c : e;

		p = skip_ows(p, end);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (ieq(p, (size_t)(end - p), lower))
			return true;
		p = c ? c + 1 : e;
	}
	return false;
}

bool ws_handshake_requested(const struct http_header *headers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ieq(headers[i].name, headers[i].name_len, "upgrade") &&
		    list_has(headers[i].value, headers[i].value_len, "websocket"))
			return true;
	return false;
}

/* 22 base64 characters and "==": 16 bytes (RFC 6455 section 4.1, item 7). */
static bool valid_key(const char *k, size_t n)
{
	if (n != KEY_LEN || k[22] != '=' || k[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		char c = k[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

/* Sec-WebSocket-Protocol = 1#token; empty elements are skipped. */
static int add_protocols(struct ws_handshake *hs, const char *p, size_t n)
{
	const char *e = p + n;

	while (p < e) {
		size_t t;

		p = skip_ows(p, e);
		t = token_len(p, e);
		if (t > 0) {
			if (hs->num_protocols == WS_MAX_PROTOCOLS)
				return refuse(hs, 400, "too many subprotocols");
			hs->protocols[hs->num_protocols].name = p;
			hs->protocols[hs->num_protocols++].len = t;
			p = skip_ows(p + t, e);
		}
		if (p < e && *p++ != ',')
			return refuse(hs, 400, "bad Sec-WebSocket-Protocol");
	}
	return 0;
}

/*
 * A parameter value after '=': a token or a quoted-string (RFC 6455 section
 * 9.1), unescaped into v[0..VALUE_MAX) (*vlen VALUE_MAX + 1 when longer).
 * Returns what follows it, NULL on a syntax error.
 */
static const char *param_value(const char *p, const char *e, char *v, size_t *vlen)
{
	size_t t;

	*vlen = 0;
	if (p < e && *p == '"') {
		for (p++; p < e && *p != '"'; p++) {
			if (*p == '\\' && ++p == e)
				return NULL;
			if (!chars_is_field_value(p, 1))
				return NULL;
			if (*vlen < VALUE_MAX)
				v[*vlen] = *p;
			if (*vlen <= VALUE_MAX)
				(*vlen)++;
		}
		return p < e ? p + 1 : NULL;
	}
	t = token_len(p, e);
	if (t == 0)
		return NULL;
	*vlen = t > VALUE_MAX ? VALUE_MAX + 1 : t;
	memcpy(v, p, t > VALUE_MAX ? VALUE_MAX : t);
	return p + t;
}

/* 8..15 written without leading zeros (RFC 7692 section 7.1.2), else 0. */
static unsigned window_bits(const char *v, size_t n)
{
	if (n == 1 && (v[0] == '8' || v[0] == '9'))
		return (unsigned)(v[0] - '0');
	if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
		return 10 + (unsigned)(v[1] - '0');
	return 0;
}

/* One parameter of a permessage-deflate offer (RFC 7692 section 7.1). */
static void deflate_param(struct offer *o, const char *name, size_t nlen, bool has_value,
			  const char *v, size_t vlen)
{
	unsigned bits = has_value ? window_bits(v, vlen) : 0;

	if (ieq(name, nlen, "server_no_context_takeover")) {
		o->ok = o->ok && !o->server_nct && !has_value;
		o->server_nct = true;
	} else if (ieq(name, nlen, "client_no_context_takeover")) {
		o->ok = o->ok && !o->client_nct && !has_value;
		o->client_nct = true;
	} else if (ieq(name, nlen, "server_max_window_bits")) {
		/* zlib's raw deflate has no 8-bit window: decline such offers */
		o->ok = o->ok && !o->server_bits && bits > MIN_BITS;
		o->server_bits = bits ? bits : MAX_BITS;
	} else if (ieq(name, nlen, "client_max_window_bits")) {
		o->ok = o->ok && !o->client_bits_seen && (!has_value || bits);
		o->client_bits_seen = true;
		o->client_bits = bits;
	} else {
		o->ok = false;
	}
}

static void accept_offer(struct ws_handshake *hs, const struct offer *o)
{
	hs->deflate = true;
	hs->params.server_no_context_takeover = o->server_nct;
	hs->params.client_no_context_takeover = o->client_nct;
	hs->params.server_max_window_bits = o->server_bits ? o->server_bits : MAX_BITS;
	hs->params.client_max_window_bits = o->client_bits ? o->client_bits : MAX_BITS;
	hs->server_bits_ = o->server_bits != 0;
	hs->client_bits_ = o->client_bits != 0;
}

/*
 * Sec-WebSocket-Extensions = 1#( token *( ";" token [ "=" (token |
 * quoted-string) ] ) ) with OWS around separators; the first acceptable
 * permessage-deflate offer is taken, other extensions are ignored.
 */
static int extensions(struct ws_handshake *hs, const char *p, size_t n)
{
	const char *e = p + n;

	for (;;) {
		struct offer o = {.ok = true};
		size_t t;
		bool deflate;

		p = skip_ows(p, e);
		if (p == e)
			return 0;
		if (*p == ',') {
			p++;
			continue;
		}
		t = token_len(p, e);
		if (t == 0)
			return refuse(hs, 400, "bad Sec-WebSocket-Extensions");
		deflate = ieq(p, t, "permessage-deflate");
		p = skip_ows(p + t, e);
		while (p < e && *p == ';') {
			const char *name = skip_ows(p + 1, e);
			char v[VALUE_MAX];
			size_t nlen = token_len(name, e), vlen = 0;
			bool has_value = false;

			if (nlen == 0)
				return refuse(hs, 400, "bad Sec-WebSocket-Extensions");
			p = skip_ows(name + nlen, e);
			if (p < e && *p == '=') {
				p = param_value(skip_ows(p + 1, e), e, v, &vlen);
				if (p == NULL)
					return refuse(hs, 400, "bad Sec-WebSocket-Extensions");
				has_value = true;
				p = skip_ows(p, e);
			}
			if (deflate)
				deflate_param(&o, name, nlen, has_value, v, vlen);
		}
		if (p < e && *p != ',')
			return refuse(hs, 400, "bad Sec-WebSocket-Extensions");
		if (deflate && o.ok && !hs->deflate)
			accept_offer(hs, &o);
	}
}

int ws_handshake_parse(struct ws_handshake *hs, const char *method, size_t method_len,
		       int version_minor, const struct http_header *headers, size_t n)
{
	bool upgrade = false, connection = false, v13 = false;
	size_t versions = 0, keys = 0;

	memset(hs, 0, sizeof(*hs));
	if (method_len != 3 || memcmp(method, "GET", 3) != 0)
		return refuse(hs, 400, "WebSocket upgrade not a GET");
	if (version_minor < 1)
		return refuse(hs, 400, "WebSocket upgrade needs HTTP/1.1");
	for (size_t i = 0; i < n; i++) {
		const char *name = headers[i].name, *v = headers[i].value;
		size_t nl = headers[i].name_len, vl = headers[i].value_len;

		if (ieq(name, nl, "upgrade")) {
			upgrade = upgrade || list_has(v, vl, "websocket");
		} else if (ieq(name, nl, "connection")) {
			connection = connection || list_has(v, vl, "upgrade");
		} else if (ieq(name, nl, "sec-websocket-version")) {
			versions++;
			v13 = vl == 2 && memcmp(v, "13", 2) == 0;
		} else if (ieq(name, nl, "sec-websocket-key")) {
			keys++;
			hs->key = v;
			hs->key_len = vl;
		} else if (ieq(name, nl, "origin")) {
			hs->origin = v;
			hs->origin_len = vl;
		} else if (ieq(name, nl, "sec-websocket-protocol")) {
			if (add_protocols(hs, v, vl) < 0)
				return -1;
		} else if (ieq(name, nl, "sec-websocket-extensions")) {
			if (extensions(hs, v, vl) < 0)
				return -1;
		}
	}
	if (!upgrade)
		return refuse(hs, 400, "no Upgrade: websocket");
	if (!connection)
		return refuse(hs, 400, "no Connection: upgrade");
	if (versions != 1 || !v13)
		return refuse(hs, 426, "Sec-WebSocket-Version is not 13");
	if (keys != 1 || !valid_key(hs->key, hs->key_len))
		return refuse(hs, 400, "bad Sec-WebSocket-Key");
	return 0;
}

int ws_handshake_accept(const char *key, size_t len, char *out)
{
	unsigned char in[64], md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (len + sizeof(guid) - 1 > sizeof(in))
		return -1;
	memcpy(in, key, len);
	memcpy(in + len, guid, sizeof(guid) - 1);
	if (!EVP_Digest(in, len + sizeof(guid) - 1, md, &md_len, EVP_sha1(), NULL) || md_len != 20)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, md, 20) == WS_ACCEPT_LEN ? 0 : -1;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (o->overflow || n > o->size - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

ssize_t ws_handshake_response(const struct ws_handshake *hs, const char *protocol,
			      size_t protocol_len, const char *extra, size_t extra_len, char *out,
			      size_t size)
{
	struct out o = {.p = out, .size = size};
	char accept[WS_ACCEPT_LEN + 1], num[8];
	bool offered = false;

	for (size_t i = 0; protocol && i < hs->num_protocols; i++)
		offered = offered || (hs->protocols[i].len == protocol_len &&
				      memcmp(hs->protocols[i].name, protocol, protocol_len) == 0);
	if ((protocol && !offered) || ws_handshake_accept(hs->key, hs->key_len, accept) < 0)
		return -1;
	put_str(&o, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
	put(&o, accept, WS_ACCEPT_LEN);
	if (protocol) {
		put_str(&o, "\r\nSec-WebSocket-Protocol: ");
		put(&o, protocol, protocol_len);
	}
	if (hs->deflate) {
		put_str(&o, "\r\nSec-WebSocket-Extensions: permessage-deflate");
		if (hs->params.server_no_context_takeover)
			put_str(&o, "; server_no_context_takeover");
		if (hs->params.client_no_context_takeover)
			put_str(&o, "; client_no_context_takeover");
		if (hs->server_bits_) {
			snprintf(num, sizeof(num), "%u", hs->params.server_max_window_bits);
			put_str(&o, "; server_max_window_bits=");
			put_str(&o, num);
		}
		if (hs->client_bits_) {
			snprintf(num, sizeof(num), "%u", hs->params.client_max_window_bits);
			put_str(&o, "; client_max_window_bits=");
			put_str(&o, num);
		}
	}
	put_str(&o, "\r\n");
	put(&o, extra, extra_len);
	put_str(&o, "\r\n");
	return o.overflow ? -1 : (ssize_t)o.len;
}

ssize_t ws_handshake_refusal(const struct ws_handshake *hs, char *out, size_t size)
{
	struct out o = {.p = out, .size = size};

	if (hs->status == 426)
		put_str(&o, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n");
	else
		put_str(&o, "HTTP/1.1 400 Bad Request\r\n");
	put_str(&o, "Connection: close\r\nContent-Length: 0\r\n\r\n");
	return o.overflow ? -1 : (ssize_t)o.len;
}
