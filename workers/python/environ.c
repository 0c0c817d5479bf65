/* environ — see environ.h. */
#include "workers/python/environ.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <strings.h>

#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "workers/http/conn.h"
#include "workers/http/percent.h"
#include "workers/http/tls.h"
#include "workers/python/input.h"

#define KEY_CACHE 128 /* distinct header names whose environ key is kept */
#define KEY_PROBES 8
#define ENV_ROOM 22   /* keys that make a dict's table grow to 64 slots (42 keys fit) */
#define PEER_SETS  128 /* x PEER_WAYS TCP peers whose environ base is kept (keep-alive conns) */
#define PEER_WAYS  4

/* The str last built from some bytes, kept to be used again for the same bytes. */
struct kept_str {
	size_t len;
	char bytes[64];
	PyObject *str; /* NULL: none kept */
};

static PyObject *template_env;
/*
 * Per header name: its environ key, and the last value seen with it (a
 * client sends the same Host, User-Agent, Accept... on every request).
 */
static struct {
	uint32_t hash;
	size_t len;
	char name[48];
	PyObject *key;
	struct kept_str value;
} key_cache[KEY_CACHE];
static struct kept_str last_peer; /* REMOTE_ADDR: most requests come from few addresses */
/* The last request target: its RAW_URI and PATH_INFO (clients repeat a few URLs). */
static struct {
	struct kept_str raw;
	PyObject *path; /* NULL: none kept */
} last_target;
/*
 * Per TCP peer (listener, address, port: in effect per keep-alive
 * connection): the template with SERVER_NAME, SERVER_PORT, REMOTE_ADDR and
 * REMOTE_PORT set, built on the peer's second request (a connection that
 * closes after one request never pays for it) and copied from then on.
 * Four ways a set (wrk's 100 connections in 256 single slots: ~20 pairs
 * that evicted each other on every request), the least recent replaced.
 */
static struct peer {
	const struct listener *l;
	uint32_t hash, used; /* of addr and port; peer_clock when last used */
	char addr[64], port[8];
	PyObject *base; /* NULL: the peer was seen once */
} peer_cache[PEER_SETS][PEER_WAYS];
static uint32_t peer_clock;
static PyObject *k_method, *k_path_info, *k_script_name, *k_query, *k_raw_uri, *k_protocol,
	*k_server_name, *k_server_port, *k_remote_addr, *k_remote_port, *k_scheme, *k_input,
	*k_input_terminated;
static PyObject *v_http10, *v_http11, *v_http, *v_empty, *v_get;
static char *root_path; /* SCRIPT_NAME as bytes, no trailing '/'; NULL: none */
static size_t root_len;

static PyObject *latin1(const char *s, size_t n);
static PyObject *env_copy(const struct conn *c);
static int set_peer(PyObject *env, const struct conn *c);
static PyObject *kept_latin1(struct kept_str *k, const char *s, size_t n);
static PyObject *method_str(const char *m, size_t n);
static int listener_strs(const struct listener *l, PyObject **name, PyObject **port);
static PyObject *path_info(const char *s, size_t n, const char *root, size_t rlen);
static int set_target(PyObject *env, const struct http_request *req, const char *root,
		      size_t rlen);
static int make_room(PyObject *d);
static int set_header(PyObject *env, const struct http_header *h);
static int set_str(PyObject *env, PyObject *key, const char *s, size_t n);
static int set_new(PyObject *env, PyObject *key, PyObject *v);
static int set_tls(PyObject *env, const struct conn *c);

void environ_set_root_path(const char *root)
{
	size_t n;

	free(root_path);
	root_path = NULL;
	root_len = 0;
	if (!root)
		return;
	n = strlen(root);
	while (n > 0 && root[n - 1] == '/')
		n--;
	root_path = xmalloc(n + 1);
	memcpy(root_path, root, n);
	root_path[n] = '\0';
	root_len = n;
}

const char *environ_root_path(size_t *len)
{
	*len = root_len;
	return root_path ? root_path : "";
}

int environ_init(bool multithread, bool multiprocess, PyObject *file_wrapper)
{
	PyObject *version, *errors;

	if (!root_path)
		environ_set_root_path(getenv("SCRIPT_NAME"));

	k_method = PyUnicode_InternFromString("REQUEST_METHOD");
	k_path_info = PyUnicode_InternFromString("PATH_INFO");
	k_script_name = PyUnicode_InternFromString("SCRIPT_NAME");
	k_query = PyUnicode_InternFromString("QUERY_STRING");
	k_raw_uri = PyUnicode_InternFromString("RAW_URI");
	k_protocol = PyUnicode_InternFromString("SERVER_PROTOCOL");
	k_server_name = PyUnicode_InternFromString("SERVER_NAME");
	k_server_port = PyUnicode_InternFromString("SERVER_PORT");
	k_remote_addr = PyUnicode_InternFromString("REMOTE_ADDR");
	k_remote_port = PyUnicode_InternFromString("REMOTE_PORT");
	k_scheme = PyUnicode_InternFromString("wsgi.url_scheme");
	k_input = PyUnicode_InternFromString("wsgi.input");
	k_input_terminated = PyUnicode_InternFromString("wsgi.input_terminated");
	v_http10 = PyUnicode_InternFromString("HTTP/1.0");
	v_http11 = PyUnicode_InternFromString("HTTP/1.1");
	v_http = PyUnicode_InternFromString("http");
	v_empty = PyUnicode_InternFromString("");
	template_env = PyDict_New();
	version = Py_BuildValue("(ii)", 1, 0);
	errors = errors_new();
	if (!template_env || !version || !errors || !v_empty)
		return -1;
	/*
	 * Every request sets these: holding them already, a copy replaces
	 * their values in place instead of adding entries.
	 */
	PyObject *always[] = {k_path_info, k_raw_uri, k_input, k_server_name,
			      k_server_port, k_remote_addr, k_remote_port};
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (PyDict_SetItem(template_env, always[i], v_empty) < 0)
			return -1;
	PyDict_SetItemString(template_env, "wsgi.version", version);
	PyDict_SetItemString(template_env, "wsgi.multithread", multithread ? Py_True : Py_False);
	PyDict_SetItemString(template_env, "wsgi.multiprocess", multiprocess ? Py_True : Py_False);
	PyDict_SetItemString(template_env, "wsgi.run_once", Py_False);
	PyDict_SetItemString(template_env, "wsgi.errors", errors);
	PyDict_SetItem(template_env, k_input_terminated, Py_True);
	PyDict_SetItem(template_env, k_scheme, v_http);
	v_get = method_str("GET", 3);
	if (!v_get || PyDict_SetItem(template_env, k_method, v_get) < 0 ||
	    PyDict_SetItem(template_env, k_protocol, v_http11) < 0 ||
	    PyDict_SetItem(template_env, k_query, v_empty) < 0)
		return -1;
	if (file_wrapper)
		PyDict_SetItemString(template_env, "wsgi.file_wrapper", file_wrapper);
	PyObject *software = PyUnicode_FromString("kirin");
	if (!software || PyDict_SetItemString(template_env, "SERVER_SOFTWARE", software) < 0)
		return -1;
	Py_DECREF(software);
	PyObject *sn = latin1(root_path ? root_path : "", root_len);
	if (!sn)
		return -1;
	PyDict_SetItem(template_env, k_script_name, sn);
	Py_DECREF(sn);
	Py_DECREF(version);
	Py_DECREF(errors);
	return make_room(template_env);
}

/*
 * Grow d's table to 64 slots, so that a copy takes a request's headers
 * without growing. _PyDict_NewPresized() would, but its table has the
 * general layout (24 bytes an entry, 1,104 bytes in all: past both
 * pymalloc and glibc's per-thread cache, so every copy went to malloc's
 * slow path); grown by str keys, d keeps the str-only layout (768 bytes).
 * The keys added to make it grow are deleted. 0, or -1 with an exception.
 */
static int make_room(PyObject *d)
{
	PyObject *fill[ENV_ROOM];
	Py_ssize_t n = 0;
	int rc = 0;

	while (rc == 0 && PyDict_GET_SIZE(d) < ENV_ROOM) {
		fill[n] = PyUnicode_FromFormat("kirin.room.%zd", n);
		if (!fill[n] || PyDict_SetItem(d, fill[n], Py_None) < 0)
			rc = -1;
		n += fill[n] != NULL;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		if (rc == 0 && PyDict_DelItem(d, fill[i]) < 0)
			rc = -1;
		Py_DECREF(fill[i]);
	}
	return rc;
}

PyObject *environ_new(const struct conn *c, PyObject *input)
{
	const struct http_request *req = &c->req;
	PyObject *env = env_copy(c); /* new ref */
	PyObject *method = method_str(req->method, req->method_len); /* borrowed */

	if (!env || !method) {
		Py_XDECREF(env);
		return NULL;
	}
	/* A trusted front-end's SCRIPT_NAME (forwarder_headers) replaces the root path. */
	const char *root = req->script_name ? req->script_name : root_path;
	size_t rlen = req->script_name ? req->script_name_len : root_len;
	if (req->script_name && set_str(env, k_script_name, root, rlen) < 0)
		goto fail;
	/* The template holds GET, HTTP/1.1 and an empty query: set only what differs. */
	if (set_target(env, req, root, rlen) < 0 ||
	    (method != v_get && PyDict_SetItem(env, k_method, method) < 0) ||
	    (req->query_len && set_str(env, k_query, req->query, req->query_len) < 0) ||
	    (!req->version_minor && PyDict_SetItem(env, k_protocol, v_http10) < 0) ||
	    PyDict_SetItem(env, k_input, input) < 0 ||
	    (c->https && set_str(env, k_scheme, "https", 5) < 0))
		goto fail;
	if (c->listener->family == AF_UNIX) {
		/* No address to speak of: take the name the client asked for. */
		const char *host = req->host ? req->host : "localhost";
		size_t hl = req->host ? req->host_len : 9;
		const char *colon = hl && host[0] != '[' ? memchr(host, ':', hl) : NULL;
		if (host[0] == '[') {
			const char *close = memchr(host, ']', hl);
			colon = close && close + 1 < host + hl && close[1] == ':' ? close + 1 : NULL;
		}
		if (set_str(env, k_server_name, host, colon ? (size_t)(colon - host) : hl) < 0 ||
		    set_str(env, k_server_port, colon ? colon + 1 : "80",
			    colon ? hl - (size_t)(colon - host) - 1 : 2) < 0 ||
		    set_peer(env, c) < 0)
			goto fail;
	}
	if (c->ssl && set_tls(env, c) < 0)
		goto fail;
	for (size_t i = 0; i < req->num_headers; i++)
		if (set_header(env, &req->headers[i]) < 0)
			goto fail;
	return env;
fail:
	Py_DECREF(env);
	return NULL;
}

/*
 * A new dict: the template, and for a TCP listener also SERVER_NAME,
 * SERVER_PORT, REMOTE_ADDR and REMOTE_PORT, copied from the peer's base
 * when it has one. New ref, or NULL with an exception set.
 */
static PyObject *env_copy(const struct conn *c)
{
	PyObject *name, *port; /* borrowed, from listener_strs() */
	PyObject *env;
	uint32_t hash = 2166136261u;
	struct peer *set, *pe;
	size_t way;
	bool hit;

	if (c->listener->family == AF_UNIX)
		return PyDict_Copy(template_env);
	for (const char *p = c->peer_port; *p; p++)
		hash = (hash ^ (uint8_t)*p) * 16777619u;
	for (const char *p = c->peer_addr; *p; p++)
		hash = (hash ^ (uint8_t)*p) * 16777619u;
	set = peer_cache[hash % PEER_SETS];
	for (way = 0; way < PEER_WAYS; way++)
		if (set[way].hash == hash && set[way].l == c->listener &&
		    strcmp(set[way].port, c->peer_port) == 0 && strcmp(set[way].addr, c->peer_addr) == 0)
			break;
	hit = way < PEER_WAYS;
	if (!hit) {
		way = 0; /* an empty way, else the least recently used */
		for (size_t i = 0; i < PEER_WAYS && set[way].l; i++)
			if (!set[i].l || peer_clock - set[i].used > peer_clock - set[way].used)
				way = i;
	}
	pe = &set[way];
	pe->used = ++peer_clock;
	if (hit && pe->base)
		return PyDict_Copy(pe->base);
	if (!hit) {
		/* First seen (or its way taken over): remember it, build directly. */
		Py_CLEAR(pe->base);
		pe->l = c->listener;
		pe->hash = hash;
		snprintf(pe->addr, sizeof(pe->addr), "%s", c->peer_addr);
		snprintf(pe->port, sizeof(pe->port), "%s", c->peer_port);
	}
	env = PyDict_Copy(template_env);
	if (!env || listener_strs(c->listener, &name, &port) < 0 ||
	    PyDict_SetItem(env, k_server_name, name) < 0 ||
	    PyDict_SetItem(env, k_server_port, port) < 0 || set_peer(env, c) < 0) {
		Py_XDECREF(env);
		return NULL;
	}
	if (!hit)
		return env;
	pe->base = env;
	return PyDict_Copy(env);
}

/* REMOTE_ADDR and REMOTE_PORT. 0, or -1 with an exception set. */
static int set_peer(PyObject *env, const struct conn *c)
{
	if (set_new(env, k_remote_addr,
		    kept_latin1(&last_peer, c->peer_addr, strlen(c->peer_addr))) < 0 ||
	    set_str(env, k_remote_port, c->peer_port, strlen(c->peer_port)) < 0)
		return -1;
	return 0;
}

/*
 * REQUEST_METHOD: the common methods are interned once; others are built
 * per request. Borrowed reference, or NULL with an exception set.
 */
static PyObject *method_str(const char *m, size_t n)
{
	static const char *const names[] = {"GET",     "POST",  "HEAD",   "PUT",
					    "DELETE",  "PATCH", "OPTIONS"};
	static PyObject *interned[sizeof(names) / sizeof(names[0])];
	static __thread PyObject *other;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) != n || memcmp(names[i], m, n) != 0)
			continue;
		if (!interned[i])
			interned[i] = PyUnicode_InternFromString(names[i]);
		return interned[i];
	}
	Py_XDECREF(other);
	other = latin1(m, n);
	return other;
}

/*
 * SERVER_NAME and SERVER_PORT of a TCP listener, built once per listener
 * (a worker has few). Borrowed references; 0, or -1 with an exception set.
 */
static int listener_strs(const struct listener *l, PyObject **name, PyObject **port)
{
	static struct {
		const struct listener *l;
		PyObject *name, *port;
	} cache[16];
	size_t i;

	for (i = 0; i < sizeof(cache) / sizeof(cache[0]) && cache[i].l; i++) {
		if (cache[i].l == l) {
			*name = cache[i].name;
			*port = cache[i].port;
			return 0;
		}
	}
	if (i == sizeof(cache) / sizeof(cache[0]))
		i = 0; /* more listeners than slots: reuse the first */
	Py_XDECREF(cache[i].name);
	Py_XDECREF(cache[i].port);
	cache[i].name = latin1(l->host, strlen(l->host));
	cache[i].port = latin1(l->port, strlen(l->port));
	cache[i].l = cache[i].name && cache[i].port ? l : NULL;
	*name = cache[i].name;
	*port = cache[i].port;
	return cache[i].l ? 0 : -1;
}

static PyObject *latin1(const char *s, size_t n)
{
	return PyUnicode_DecodeLatin1(s, (Py_ssize_t)n, NULL);
}

/*
 * latin1(), but the str k kept is used again when the bytes are the same;
 * a new one is kept in its place, if short. New ref.
 */
static PyObject *kept_latin1(struct kept_str *k, const char *s, size_t n)
{
	PyObject *v;

	if (k->str && k->len == n && memcmp(k->bytes, s, n) == 0) {
		Py_INCREF(k->str);
		return k->str;
	}
	v = latin1(s, n);
	if (v && n <= sizeof(k->bytes)) {
		Py_XSETREF(k->str, v);
		Py_INCREF(v);
		memcpy(k->bytes, s, n);
		k->len = n;
	}
	return v;
}

static int set_str(PyObject *env, PyObject *key, const char *s, size_t n)
{
	return set_new(env, key, n ? latin1(s, n) : (Py_INCREF(v_empty), v_empty));
}

/* env[key] = v, a new reference it consumes; NULL (an exception is set): -1. */
static int set_new(PyObject *env, PyObject *key, PyObject *v)
{
	int rc = v ? PyDict_SetItem(env, key, v) : -1;

	Py_XDECREF(v);
	return rc;
}

/*
 * RAW_URI and PATH_INFO (without root[0..rlen)), from the last request's
 * strs when its target had the same bytes and the root was the usual one.
 * 0, or -1 with an exception set.
 */
static int set_target(PyObject *env, const struct http_request *req, const char *root,
		      size_t rlen)
{
	struct kept_str *k = &last_target.raw;
	bool usual_root = !req->script_name;
	PyObject *raw, *path;
	int rc = -1;

	if (usual_root && k->str && last_target.path && k->len == req->target_len &&
	    memcmp(k->bytes, req->target, k->len) == 0) {
		raw = Py_NewRef(k->str);
		path = Py_NewRef(last_target.path);
	} else {
		path = path_info(req->path, req->path_len, root, rlen);           /* new ref */
		raw = path ? kept_latin1(k, req->target, req->target_len) : NULL; /* new ref */
		if (raw && raw == k->str && usual_root)
			Py_XSETREF(last_target.path, Py_NewRef(path)); /* kept with the target */
		else if (raw)
			Py_CLEAR(last_target.path); /* too long to keep, or another root */
	}
	if (raw && PyDict_SetItem(env, k_raw_uri, raw) == 0 &&
	    PyDict_SetItem(env, k_path_info, path) == 0)
		rc = 0;
	Py_XDECREF(raw);
	Py_XDECREF(path);
	return rc;
}

/*
 * PATH_INFO: percent-decoded, then latin-1 decoded (PEP 3333 native string),
 * without the root path root[0..rlen) (which must be a whole leading segment
 * of it).
 */
static PyObject *path_info(const char *s, size_t n, const char *root, size_t rlen)
{
	char stack[1024];
	char *out = n <= sizeof(stack) ? stack : malloc(n);
	size_t o;
	PyObject *r;

	if (!out)
		return PyErr_NoMemory();
	if (n == 0) {
		Py_INCREF(v_empty);
		return v_empty;
	}
	o = percent_decode(out, n, s, n);
	if (rlen == 0 || out[0] != '/') {
		r = latin1(out, o); /* no root path, or "*" (OPTIONS) */
	} else if (o >= rlen && memcmp(out, root, rlen) == 0 && (o == rlen || out[rlen] == '/')) {
		r = latin1(out + rlen, o - rlen);
	} else {
		PyObject *whole = latin1(out, o), *mount = latin1(root, rlen);
		if (whole && mount)
			PyErr_Format(PyExc_ValueError,
				     "request path %R is not under the root path %R (SCRIPT_NAME)",
				     whole, mount);
		Py_XDECREF(whole);
		Py_XDECREF(mount);
		r = NULL;
	}
	if (out != stack)
		free(out);
	return r;
}

/*
 * The environ key of a header name ("User-Agent" -> HTTP_USER_AGENT):
 * built once per distinct name and kept, interned, in a small table (the
 * GIL serialises access); names beyond it are built per request, so
 * clients cannot grow the table. New ref; *slot is its entry in key_cache,
 * or -1 when it has none.
 */
static PyObject *header_key(const char *name, size_t len, int *slot_out)
{
	uint32_t hash = 2166136261u;
	char stack[128], *key;
	size_t k = 0, slot = 0;
	PyObject *kobj;

	*slot_out = -1;
	for (size_t i = 0; i < len; i++)
		hash = (hash ^ (uint8_t)(name[i] | 0x20)) * 16777619u;
	for (size_t probe = 0; probe < KEY_PROBES && len < sizeof(key_cache[0].name); probe++) {
		slot = (hash + probe) % KEY_CACHE;
		if (!key_cache[slot].key)
			break;
		if (key_cache[slot].hash == hash && key_cache[slot].len == len &&
		    strncasecmp(key_cache[slot].name, name, len) == 0) {
			*slot_out = (int)slot;
			Py_INCREF(key_cache[slot].key);
			return key_cache[slot].key;
		}
	}
	key = len + 6 <= sizeof(stack) ? stack : xmalloc(len + 6);
	if (!((len == 12 && strncasecmp(name, "content-type", 12) == 0) ||
	      (len == 14 && strncasecmp(name, "content-length", 14) == 0))) {
		memcpy(key, "HTTP_", 5);
		k = 5;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		key[k++] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
	}
	kobj = PyUnicode_FromStringAndSize(key, (Py_ssize_t)k);
	if (key != stack)
		free(key);
	if (kobj && len < sizeof(key_cache[0].name) && !key_cache[slot].key) {
		PyUnicode_InternInPlace(&kobj);
		key_cache[slot].hash = hash;
		key_cache[slot].len = len;
		memcpy(key_cache[slot].name, name, len);
		key_cache[slot].key = kobj;
		Py_INCREF(kobj);
		*slot_out = (int)slot;
	}
	return kobj;
}

/* HTTP_NAME (or CONTENT_TYPE / CONTENT_LENGTH); a repeat is joined with ",". */
static int set_header(PyObject *env, const struct http_header *h)
{
	int slot, rc;
	PyObject *kobj = header_key(h->name, h->name_len, &slot); /* new ref */
	PyObject *v, *old;

	if (!kobj)
		return -1;
	v = slot < 0 ? latin1(h->value, h->value_len)
		     : kept_latin1(&key_cache[slot].value, h->value, h->value_len); /* new ref */
	/* One lookup: the dict grows unless the name came before (a kept str may be the same). */
	size_t had = (size_t)PyDict_GET_SIZE(env);
	old = v ? PyDict_SetDefault(env, kobj, v) : NULL; /* borrowed */
	if (!old) {
		rc = -1;
	} else if ((size_t)PyDict_GET_SIZE(env) == had) {
		rc = set_new(env, kobj, PyUnicode_FromFormat("%U,%U", old, v));
	} else {
		rc = 0;
	}
	Py_XDECREF(v);
	Py_DECREF(kobj);
	return rc;
}

/*
 * Over TLS: HTTPS "on" and, when the client sent a verified certificate,
 * SSL_CLIENT_VERIFY "SUCCESS", its subject SSL_CLIENT_S_DN (RFC 2253) and
 * SSL_CLIENT_CERT (PEM), as nginx and uWSGI name them. 0, or -1 with an
 * exception set.
 */
static int set_tls(PyObject *env, const struct conn *c)
{
	static PyObject *on, *success; /* interned once */
	char *dn = NULL, *pem = NULL;
	size_t dnlen = 0, pemlen = 0;
	int rc;

	if (!on) {
		on = PyUnicode_InternFromString("on");
		success = PyUnicode_InternFromString("SUCCESS");
		if (!on || !success)
			return -1;
	}
	rc = tls_peer(c, &dn, &dnlen, &pem, &pemlen);
	if (rc < 0) {
		PyErr_NoMemory();
		return -1;
	}
	if (PyDict_SetItemString(env, "HTTPS", on) < 0) {
		rc = -1;
	} else if (rc == 1) {
		PyObject *sdn = PyUnicode_DecodeUTF8(dn, (Py_ssize_t)dnlen, "replace");
		PyObject *cert = PyUnicode_FromStringAndSize(pem, (Py_ssize_t)pemlen);
		rc = sdn && cert && PyDict_SetItemString(env, "SSL_CLIENT_VERIFY", success) == 0 &&
				     PyDict_SetItemString(env, "SSL_CLIENT_S_DN", sdn) == 0 &&
				     PyDict_SetItemString(env, "SSL_CLIENT_CERT", cert) == 0
			     ? 0
			     : -1;
		Py_XDECREF(sdn);
		Py_XDECREF(cert);
	}
	free(dn);
	free(pem);
	return rc < 0 ? -1 : 0;
}

ssize_t environ_lookup(void *ctx, const char *name, size_t len, char *out, size_t cap)
{
	PyObject *key, *value;
	Py_ssize_t pos = 0;

	if (!ctx)
		return -1;
	while (PyDict_Next((PyObject *)ctx, &pos, &key, &value)) { /* borrowed */
		Py_ssize_t kl, n;
		const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8AndSize(key, &kl) : NULL;
		PyObject *text;
		const char *s;

		if (!k) {
			PyErr_Clear();
			continue;
		}
		if ((size_t)kl != len || strncasecmp(k, name, len) != 0)
			continue;
		text = PyObject_Str(value); /* new ref */
		s = text ? PyUnicode_AsUTF8AndSize(text, &n) : NULL;
		if (!s) {
			PyErr_Clear();
			Py_XDECREF(text);
			return -1;
		}
		if ((size_t)n > cap)
			n = (Py_ssize_t)cap;
		memcpy(out, s, (size_t)n);
		Py_DECREF(text);
		return n;
	}
	return -1;
}
