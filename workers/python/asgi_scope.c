/* asgi_scope — see asgi_scope.h. */
#include "workers/python/asgi_scope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "arbiter/listener.h"
#include "workers/http/conn.h"
#include "workers/http/percent.h"
#include "workers/http/tls.h"
#include "workers/python/environ.h"
#include "workers/python/interp.h"
#include "workers/reactor_asyncio.h"

#define NAME_CACHE  64 /* lowercased header names kept as bytes */
#define NAME_CACHED 32 /* the longest name kept */
#define PAIR_CACHE  64 /* (name, value) tuples kept */
#define PAIR_VALUE  64 /* the longest value kept in one */
/* What a scope holds that differs from the template (scope_base), and what is kept. */
#define SET_HTTP10 0x01u
#define SET_METHOD 0x02u
#define SET_QUERY  0x04u
#define SET_ROOT   0x08u
#define SET_STATE  0x10u
#define KEPT_LAST  0x80u /* k->obj is the last scope given, not a base */
#define KEEP_MAX   1024  /* a larger request's scope is not kept with its connection */
#define LOWER(ch)   ((ch) >= 'A' && (ch) <= 'Z' ? (char)((ch) | 0x20) : (ch)) /* ASCII only */

static struct {
	PyObject *asgi;       /* {"version": "3.0", "spec_version": "2.4"} */
	PyObject *extensions; /* {"http.response.pathsend": {}} */
	PyObject *root_path;
	/* What every scope starts from: the constants, and GET, HTTP/1.1, http
	 * and an empty query, set again only when a request differs. */
	PyObject *template;
	PyObject *unix_base; /* the template with no server and no client */
	PyObject *k_type, *k_asgi, *k_http_version, *k_server, *k_client, *k_scheme, *k_method,
	    *k_root_path, *k_path, *k_raw_path, *k_query, *k_headers, *k_state, *k_extensions;
	PyObject *v_http, *v_https, *v_10, *v_11, *v_get, *v_empty;
	PyObject *names[NAME_CACHE]; /* header names: most requests send the same few */
	PyObject *pairs[PAIR_CACHE]; /* (name, value) tuples: a client sends the same again */
	PyObject *last_path, *last_raw; /* the last request's path and raw_path (both immutable) */
} S;

/* An awaitable done at once (asgi_ready()). */
typedef struct {
	PyObject_HEAD PyObject *value;
} Ready;

static PyObject *headers_list(const struct http_request *req);
static int headers_refill(PyObject *list, const struct http_request *req);
static PyObject *ready_await(Ready *self);
static PyObject *ready_next(Ready *self);
static void ready_dealloc(Ready *self);
static PyObject *addr_tuple(const char *host, const char *port);
static PyObject *scope_base(const struct conn *c, struct reactor_asyncio_kept *k, unsigned *set);
static PyObject *new_base(const struct conn *c);
static size_t head_bytes(const struct http_request *req);
static bool same_path(const char *raw, size_t n);
static PyObject *cert_text(const struct conn *c, int which);
static PyObject *client_name(const struct conn *c);
static int set_new(PyObject *d, const char *key, PyObject *v);
static int new_path(const char *raw, size_t n);
static PyObject *header_pair(const struct http_header *h);
static PyObject *header_name(const char *name, size_t n);
static int detect_from_code(PyObject *app);

static PyAsyncMethods ready_async = {.am_await = (unaryfunc)ready_await};
static PyTypeObject ReadyType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.Ready",
    .tp_basicsize = sizeof(Ready),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)ready_dealloc,
    .tp_as_async = &ready_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)ready_next,
};

int asgi_detect(PyObject *app, const char *interface)
{
	PyObject *inspect, *r = NULL, *call;
	int asgi = -1;

	if (interface && strcmp(interface, "asgi") == 0)
		return 1;
	if (interface && strcmp(interface, "wsgi") == 0)
		return 0;
	asgi = detect_from_code(app);
	if (asgi >= 0)
		return asgi;
	inspect = PyImport_ImportModule("inspect"); /* new ref */
	if (!inspect)
		goto out;
	r = PyObject_CallMethod(inspect, "iscoroutinefunction", "O", app);
	if (r && !PyObject_IsTrue(r) && PyObject_HasAttrString(app, "__call__")) {
		call = PyObject_GetAttrString(app, "__call__"); /* new ref */
		Py_XSETREF(r, call ? PyObject_CallMethod(inspect, "iscoroutinefunction", "O", call)
		                   : NULL);
		Py_XDECREF(call);
	}
	if (r && PyObject_IsTrue(r)) {
		asgi = 1;
	} else if (r) {
		/* Takes (scope, receive, send), and not two arguments (a WSGI
		 * app with an optional third one takes both). */
		PyObject *sig = PyObject_CallMethod(inspect, "signature", "O", app);
		PyObject *three = sig ? PyObject_CallMethod(sig, "bind", "iii", 1, 2, 3) : NULL;
		PyObject *two = three ? PyObject_CallMethod(sig, "bind", "ii", 1, 2) : NULL;

		asgi = three && !two;
		Py_XDECREF(sig);
		Py_XDECREF(three);
		Py_XDECREF(two);
		PyErr_Clear(); /* no signature (a builtin), or a call that does not bind */
	}
out:
	Py_XDECREF(r);
	Py_XDECREF(inspect);
	if (asgi < 0)
		interp_log_exception(
		    "cannot tell whether the app is ASGI or WSGI (use --interface)");
	return asgi;
}

/*
 * What inspect would say (below), read from the code object of a plain
 * function, a bound method, or an instance of a class whose __call__ is a
 * function, without importing inspect (tens of milliseconds at boot): 1
 * ASGI, 0 WSGI, -1 when only inspect can tell (a class, a partial, a
 * builtin, a wrapper with __wrapped__ or __signature__).
 */
static int detect_from_code(PyObject *app)
{
	PyObject *f = app, *call = NULL;
	PyCodeObject *co;
	int self = 0, asgi = -1;

	if (PyType_Check(app) || PyObject_HasAttrString(app, "__wrapped__") ||
	    PyObject_HasAttrString(app, "__signature__"))
		goto out;
	if (!PyFunction_Check(f) && !PyMethod_Check(f)) {
		call = PyObject_GetAttrString((PyObject *)Py_TYPE(app), "__call__"); /* new ref */
		if (!call || !PyFunction_Check(call))
			goto out;
		f = call;
		self = 1;
	}
	if (PyMethod_Check(f)) {
		f = PyMethod_GET_FUNCTION(f);
		self = 1;
	}
	if (!PyFunction_Check(f) || PyObject_HasAttrString(f, "__wrapped__") ||
	    PyObject_HasAttrString(f, "__signature__"))
		goto out;
	co = (PyCodeObject *)PyFunction_GET_CODE(f);
	if (co->co_flags & CO_COROUTINE) {
		asgi = 1;
	} else if (co->co_argcount >= self) {
		PyObject *defs = PyFunction_GET_DEFAULTS(f),
		         *kwdefs = PyFunction_GET_KW_DEFAULTS(f);
		int positional = co->co_argcount - self;
		int required = positional - (defs ? (int)PyTuple_GET_SIZE(defs) : 0);
		bool varargs = co->co_flags & CO_VARARGS;
		/* A keyword-only argument without a default binds neither call. */
		bool kw_required =
		    co->co_kwonlyargcount > (kwdefs ? (int)PyDict_GET_SIZE(kwdefs) : 0);
		bool three = !kw_required && required <= 3 && (varargs || positional >= 3);
		bool two = !kw_required && required <= 2 && (varargs || positional >= 2);

		asgi = three && !two;
	}
out:
	PyErr_Clear();
	Py_XDECREF(call);
	return asgi;
}

int asgi_scope_init(void)
{
	size_t rl;
	const char *root = environ_root_path(&rl);

	S.asgi = asgi_scope_version("2.4");
	S.extensions = Py_BuildValue("{s:{}}", "http.response.pathsend");
	S.root_path = PyUnicode_DecodeUTF8(root, (Py_ssize_t)rl, "replace");
#define INTERN(f, s) (S.f = PyUnicode_InternFromString(s))
	INTERN(k_type, "type"), INTERN(k_asgi, "asgi"), INTERN(k_http_version, "http_version");
	INTERN(k_server, "server"), INTERN(k_client, "client"), INTERN(k_scheme, "scheme");
	INTERN(k_method, "method"), INTERN(k_root_path, "root_path"), INTERN(k_path, "path");
	INTERN(k_raw_path, "raw_path"), INTERN(k_query, "query_string");
	INTERN(k_headers, "headers"), INTERN(k_state, "state"), INTERN(k_extensions, "extensions"),
	    INTERN(v_http, "http");
	INTERN(v_https, "https"), INTERN(v_10, "1.0"), INTERN(v_11, "1.1");
	INTERN(v_get, "GET");
#undef INTERN
	S.v_empty = PyBytes_FromStringAndSize("", 0);
	S.template = _PyDict_NewPresized(16);
	if (PyType_Ready(&ReadyType) < 0 || !S.asgi || !S.extensions || !S.root_path || !S.v_get ||
	    !S.v_empty || !S.template || PyDict_SetItem(S.template, S.k_type, S.v_http) < 0 ||
	    PyDict_SetItem(S.template, S.k_asgi, S.asgi) < 0 ||
	    PyDict_SetItem(S.template, S.k_http_version, S.v_11) < 0 ||
	    PyDict_SetItem(S.template, S.k_scheme, S.v_http) < 0 ||
	    PyDict_SetItem(S.template, S.k_method, S.v_get) < 0 ||
	    PyDict_SetItem(S.template, S.k_query, S.v_empty) < 0 ||
	    PyDict_SetItem(S.template, S.k_root_path, S.root_path) < 0 ||
	    PyDict_SetItem(S.template, S.k_extensions, S.extensions) < 0)
		return -1;
	S.unix_base = PyDict_Copy(S.template);
	if (!S.unix_base || PyDict_SetItem(S.unix_base, S.k_server, Py_None) < 0 ||
	    PyDict_SetItem(S.unix_base, S.k_client, Py_None) < 0)
		return -1;
	return 0;
}

PyObject *asgi_scope_version(const char *spec)
{
	return Py_BuildValue("{s:s,s:s}", "version", "3.0", "spec_version", spec);
}

PyObject *asgi_scope_new(const struct conn *c, PyObject *state)
{
	const struct http_request *req = &c->req;
	struct reactor_asyncio_kept *k = reactor_asyncio_conn_kept((struct cconn *)(void *)c);
	unsigned set = 0;
	PyObject *d = scope_base(c, k, &set), *v;
	int bad = !d;

#define SET(k, val)          (bad |= (v = (val)) == NULL || PyDict_SetItem(d, S.k, v) < 0, Py_XDECREF(v))
#define SET_BORROWED(k, val) (bad |= PyDict_SetItem(d, S.k, (val)) < 0)
/* A value that differs from the template's, set for this request, put back for the next. */
#define DIFFERS(bit, cond, k, val, base) \
	do { \
		if (cond) { \
			SET(k, val); \
			set |= (bit); \
		} else if (set & (bit)) { \
			SET_BORROWED(k, base); \
			set &= ~(unsigned)(bit); \
		} \
	} while (0)
	if (bad)
		goto out;
	DIFFERS(SET_HTTP10, !req->version_minor, k_http_version, Py_NewRef(S.v_10), S.v_11);
	DIFFERS(SET_METHOD, req->method_len != 3 || memcmp(req->method, "GET", 3) != 0, k_method,
	        PyUnicode_DecodeLatin1(req->method, (Py_ssize_t)req->method_len, NULL), S.v_get);
	if (!same_path(req->path, req->path_len) && new_path(req->path, req->path_len) < 0) {
		bad = 1;
		goto out;
	}
	SET_BORROWED(k_path, S.last_path);
	SET_BORROWED(k_raw_path, S.last_raw);
	DIFFERS(SET_QUERY, req->query_len, k_query,
	        PyBytes_FromStringAndSize(req->query, (Py_ssize_t)req->query_len), S.v_empty);
	/* a trusted front-end's SCRIPT_NAME (forwarder_headers) */
	DIFFERS(SET_ROOT, req->script_name, k_root_path,
	        PyUnicode_DecodeUTF8(req->script_name, (Py_ssize_t)req->script_name_len,
	                             "replace"),
	        S.root_path);
	/* The reused dict's list, if it alone holds it: refilled in place. */
	v = d == k->obj ? PyDict_GetItemWithError(d, S.k_headers) : NULL; /* borrowed */
	if (v && PyList_CheckExact(v) && Py_REFCNT(v) == 1 &&
	    PyList_GET_SIZE(v) == (Py_ssize_t)req->num_headers)
		bad |= headers_refill(v, req) < 0;
	else
		SET(k_headers, headers_list(req));
	if (state) {
		SET(k_state, PyDict_Copy(state));
		set |= SET_STATE;
	} else if (set & SET_STATE) {
		bad |= PyDict_DelItem(d, S.k_state) < 0;
		set &= ~(unsigned)SET_STATE;
	}
#undef DIFFERS
#undef SET
#undef SET_BORROWED
out:
	if (bad && !PyErr_Occurred())
		PyErr_NoMemory();
	if (bad) {
		if (d == k->obj)
			Py_CLEAR(k->obj);
		Py_CLEAR(d);
	} else if (d == k->obj && head_bytes(req) > KEEP_MAX) {
		/* Not kept while the connection idles: the next request starts afresh. */
		Py_SETREF(k->obj, Py_NewRef(Py_None));
	} else if (d == k->obj) {
		k->version = ((PyDictObject *)d)->ma_version_tag;
		k->flags = set | KEPT_LAST;
	}
	return d;
}

/* The bytes of req's target and header fields: what its scope holds, about. */
static size_t head_bytes(const struct http_request *req)
{
	size_t n = req->path_len + req->query_len;

	for (size_t i = 0; i < req->num_headers; i++)
		n += req->headers[i].name_len + req->headers[i].value_len;
	return n;
}

/*
 * A scope dict for c's next request (new ref, or NULL with an exception),
 * and in *set which of its values differ from the template's. On a
 * keep-alive connection, from its second request on, the connection keeps
 * the last scope it gave (k->obj, with its dict version when given): if
 * no one changed it since, the next scope is that dict again when no one
 * else holds it (nothing to copy or free), or a copy of it; the request's
 * own values are then set over the last one's. A scope the app changed
 * (frameworks add their keys) makes the connection keep a base instead,
 * the template with c's server, client and scheme, copied for each
 * request. A connection that asks once, or waits idle after its first
 * request, keeps nothing but the mark that it asked (None); nor does one
 * after a request of more than KEEP_MAX bytes of target and headers (an
 * idle connection holds at most that much of its last request).
 */
static PyObject *scope_base(const struct conn *c, struct reactor_asyncio_kept *k, unsigned *set)
{
	PyObject *d;

	if (k->obj && k->obj != Py_None && k->flags & KEPT_LAST) {
		if (((PyDictObject *)k->obj)->ma_version_tag == k->version) {
			*set = k->flags & ~KEPT_LAST;
			if (Py_REFCNT(k->obj) == 1)
				return Py_NewRef(k->obj);
			d = PyDict_Copy(k->obj);
			if (d)
				Py_SETREF(k->obj, Py_NewRef(d));
			return d;
		}
		Py_SETREF(k->obj, new_base(c)); /* a base to copy from now on */
		k->flags = 0;
		return k->obj ? PyDict_Copy(k->obj) : NULL;
	}
	if (k->obj && k->obj != Py_None)
		return PyDict_Copy(k->obj);
	d = new_base(c);
	if (d && k->obj) { /* the second request: its scope is kept */
		Py_SETREF(k->obj, Py_NewRef(d));
		k->flags = KEPT_LAST;
	} else if (d) {
		k->obj = Py_NewRef(Py_None);
	}
	return d;
}

/*
 * A new dict: the template with c's server, client and scheme (and the
 * TLS extension, the same for all of c's requests), or NULL with an
 * exception.
 */
static PyObject *new_base(const struct conn *c)
{
	bool local = c->listener->family == AF_UNIX;
	PyObject *base = PyDict_Copy(local ? S.unix_base : S.template), *v = NULL;

	if (!base)
		return NULL;
	if (!local) {
		v = addr_tuple(c->listener->host, c->listener->port);
		if (!v || PyDict_SetItem(base, S.k_server, v) < 0)
			goto fail;
		Py_SETREF(v, c->peer_addr[0] ? addr_tuple(c->peer_addr, c->peer_port)
		                             : Py_NewRef(Py_None));
		if (!v || PyDict_SetItem(base, S.k_client, v) < 0)
			goto fail;
		Py_CLEAR(v);
	}
	if (c->https && PyDict_SetItem(base, S.k_scheme, S.v_https) < 0)
		goto fail;
	if (c->ssl) {
		v = PyDict_Copy(S.extensions);
		if (!v || asgi_tls_extension(c, v) < 0 || PyDict_SetItem(base, S.k_extensions, v) < 0)
			goto fail;
		Py_CLEAR(v);
	}
	return base;
fail:
	Py_XDECREF(v);
	Py_DECREF(base);
	return NULL;
}

int asgi_tls_extension(const struct conn *c, PyObject *extensions)
{
	PyObject *tls = PyDict_New(), *chain = PyList_New(0), *pem;
	int version, cipher, rc = -1;

	tls_session(c, &version, &cipher);
	if (!tls || !chain || set_new(tls, "server_cert", cert_text(c, 0)) < 0 ||
	    PyDict_SetItemString(tls, "client_cert_chain", chain) < 0 ||
	    set_new(tls, "client_cert_name", client_name(c)) < 0 ||
	    PyDict_SetItemString(tls, "client_cert_error", Py_None) < 0 ||
	    set_new(tls, "tls_version", PyLong_FromLong(version)) < 0 ||
	    set_new(tls, "cipher_suite",
	            cipher < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(cipher)) < 0)
		goto out;
	for (int which = 1; (pem = cert_text(c, which)) != Py_None; which++) {
		int failed = !pem || PyList_Append(chain, pem) < 0;

		Py_XDECREF(pem);
		if (failed)
			goto out;
	}
	Py_DECREF(pem);
	rc = PyDict_SetItemString(extensions, "tls", tls);
out:
	Py_XDECREF(tls);
	Py_XDECREF(chain);
	return rc;
}

/* Certificate `which` of c's session (tls_cert()) as a str, or None: a new ref, or NULL. */
static PyObject *cert_text(const struct conn *c, int which)
{
	char *pem;
	size_t len;
	int rc = tls_cert(c, which, &pem, &len);
	PyObject *s;

	if (rc <= 0)
		return rc == 0 ? Py_NewRef(Py_None) : PyErr_NoMemory();
	s = PyUnicode_DecodeASCII(pem, (Py_ssize_t)len, NULL);
	free(pem);
	return s;
}

/* The verified client certificate's subject (RFC 4514), or None: a new ref, or NULL. */
static PyObject *client_name(const struct conn *c)
{
	char *dn;
	size_t len;
	int rc = tls_peer(c, &dn, &len, NULL, NULL);
	PyObject *name;

	if (rc <= 0)
		return rc == 0 ? Py_NewRef(Py_None) : PyErr_NoMemory();
	name = PyUnicode_DecodeUTF8(dn, (Py_ssize_t)len, "replace");
	free(dn);
	return name;
}

/* d[key] = v, consuming the new ref v (NULL: an exception is set). 0, or -1. */
static int set_new(PyObject *d, const char *key, PyObject *v)
{
	int rc = v ? PyDict_SetItemString(d, key, v) : -1;

	Py_XDECREF(v);
	return rc;
}

/* raw (n bytes) is the raw_path of the last request: its path and raw_path serve again. */
static bool same_path(const char *raw, size_t n)
{
	return S.last_raw && (size_t)PyBytes_GET_SIZE(S.last_raw) == n &&
	       memcmp(PyBytes_AS_STRING(S.last_raw), raw, n) == 0;
}

/* The last path and raw_path made from raw (n bytes). 0, or -1 with an exception. */
static int new_path(const char *raw, size_t n)
{
	char stack[1024];
	char *path = n <= sizeof(stack) ? stack : malloc(n);
	PyObject *str = NULL, *bytes = NULL;

	if (path) {
		size_t plen = percent_decode(path, n, raw, n);

		str = PyUnicode_DecodeUTF8(path, (Py_ssize_t)plen, "replace");
		bytes = str ? PyBytes_FromStringAndSize(raw, (Py_ssize_t)n) : NULL;
	}
	if (path != stack)
		free(path);
	if (!bytes) {
		Py_XDECREF(str);
		if (!PyErr_Occurred())
			PyErr_NoMemory();
		return -1;
	}
	Py_XSETREF(S.last_path, str);
	Py_XSETREF(S.last_raw, bytes);
	return 0;
}

/* [(name lowercased, value), ...] as bytes. New ref, or NULL. */
static PyObject *headers_list(const struct http_request *req)
{
	PyObject *list = PyList_New((Py_ssize_t)req->num_headers);

	for (size_t i = 0; list && i < req->num_headers; i++) {
		PyObject *t = header_pair(&req->headers[i]);

		if (!t) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, (Py_ssize_t)i, t);
	}
	return list;
}

/* The items of list (as long as req's headers) made req's. 0, or -1 with an exception. */
static int headers_refill(PyObject *list, const struct http_request *req)
{
	for (size_t i = 0; i < req->num_headers; i++) {
		PyObject *t = header_pair(&req->headers[i]);

		if (!t)
			return -1;
		Py_SETREF(((PyListObject *)list)->ob_item[i], t);
	}
	return 0;
}

/*
 * (name lowercased, value) as bytes (new ref, or NULL): the same tuple as
 * for the same short header before (both are immutable, so requests may
 * share them), while it stays in its slot.
 */
static PyObject *header_pair(const struct http_header *h)
{
	PyObject *name = header_name(h->name, h->name_len), *value, *t, **slot = NULL;
	uint64_t head = 0, tail = 0;
	size_t n = h->value_len;

	if (!name)
		return NULL;
	if (h->name_len <= NAME_CACHED && n <= PAIR_VALUE) {
		/* The value's length and first and last 8 bytes pick the slot. */
		memcpy(&head, h->value, n < 8 ? n : 8);
		if (n > 8)
			memcpy(&tail, h->value + n - 8, 8);
		slot = &S.pairs[((uintptr_t)name / 16 + n + head * 31 + tail * 131) % PAIR_CACHE];
		t = *slot;
		if (t && PyTuple_GET_ITEM(t, 0) == name &&
		    PyBytes_GET_SIZE(PyTuple_GET_ITEM(t, 1)) == (Py_ssize_t)n &&
		    memcmp(PyBytes_AS_STRING(PyTuple_GET_ITEM(t, 1)), h->value, n) == 0) {
			Py_DECREF(name);
			return Py_NewRef(t);
		}
	}
	value = PyBytes_FromStringAndSize(h->value, (Py_ssize_t)n);
	t = value ? PyTuple_Pack(2, name, value) : NULL;
	Py_DECREF(name);
	Py_XDECREF(value);
	if (t && slot)
		Py_XSETREF(*slot, Py_NewRef(t));
	return t;
}

/* A header name lowercased, as bytes (new ref, or NULL): the same object for a name seen before. */
static PyObject *header_name(const char *name, size_t n)
{
	char low[NAME_CACHED];
	uint32_t hash = 2166136261u;
	PyObject *b, **slot;

	if (n > NAME_CACHED) {
		b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
		for (size_t k = 0; b && k < n; k++)
			PyBytes_AS_STRING(b)[k] = LOWER(name[k]);
		return b;
	}
	for (size_t k = 0; k < n; k++) {
		low[k] = LOWER(name[k]);
		hash = (hash ^ (uint8_t)low[k]) * 16777619u;
	}
	slot = &S.names[hash % NAME_CACHE];
	if (*slot && (size_t)PyBytes_GET_SIZE(*slot) == n &&
	    memcmp(PyBytes_AS_STRING(*slot), low, n) == 0)
		return (Py_INCREF(*slot), *slot);
	b = PyBytes_FromStringAndSize(low, (Py_ssize_t)n);
	if (b) {
		Py_INCREF(b);
		Py_XSETREF(*slot, b);
	}
	return b;
}

/* (host, int(port)): new ref, or NULL. */
static PyObject *addr_tuple(const char *host, const char *port)
{
	return Py_BuildValue("(si)", host, atoi(port));
}

PyObject *asgi_ready(PyObject *value)
{
	Ready *r = PyObject_New(Ready, &ReadyType);

	if (!r)
		return NULL;
	Py_INCREF(value);
	r->value = value;
	return (PyObject *)r;
}

PyObject *asgi_ready_take(PyObject *value)
{
	PyObject *r = value ? asgi_ready(value) : NULL;

	Py_XDECREF(value);
	return r;
}

static PyObject *ready_await(Ready *self)
{
	Py_INCREF(self);
	return (PyObject *)self;
}

/* Done at once: StopIteration(value). */
static PyObject *ready_next(Ready *self)
{
	if (self->value != Py_None)
		_PyGen_SetStopIterationValue(self->value);
	return NULL;
}

static void ready_dealloc(Ready *self)
{
	Py_XDECREF(self->value);
	PyObject_Free(self);
}
