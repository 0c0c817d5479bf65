/*
 * asgi_scope — the ASGI side of what environ.c is for WSGI: telling an
 * ASGI app from a WSGI one, and building an `http` request's scope from
 * the parsed head (the same proxy rules as WSGI: the peer address after a
 * PROXY header, the scheme a trusted X-Forwarded-Proto gave), with
 * --root-path as root_path, or a trusted front-end's SCRIPT_NAME header
 * (forwarder_headers; path stays whole, as with --root-path); and the
 * awaitable that receive() and send() return when they need not wait.
 *
 * Runs in workers with the GIL held; keys and constant values are built
 * once per process (asgi_scope_init).
 */
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct conn;

/*
 * Whether `app` (borrowed) is an ASGI application: `interface` is
 * --interface (asgi or wsgi force it; auto or NULL: a coroutine function,
 * or a callable whose __call__ is one, or that takes three positional
 * arguments). 1 ASGI, 0 WSGI, -1 after logging why.
 */
int asgi_detect(PyObject *app, const char *interface);

/* Build the keys and constants, after environ_set_root_path(). 0, or -1 with an exception. */
int asgi_scope_init(void);

/*
 * The `http` scope of c's request (new ref), with a shallow copy of
 * `state` (borrowed; NULL: no "state" key), or NULL with an exception.
 * It may be the dict c's last request got, refilled, when no one holds or
 * changed that one since (c keeps it: reactor_asyncio_conn_kept()).
 */
PyObject *asgi_scope_new(const struct conn *c, PyObject *state);

/*
 * extensions["tls"] = the ASGI TLS extension's dict for c (c->ssl set):
 * server_cert, client_cert_chain (the verified client's certificate
 * first, then the chain it sent), client_cert_name (RFC 4514),
 * client_cert_error (None: a certificate that fails verification fails
 * the handshake), tls_version, cipher_suite. 0, or -1 with an exception.
 */
int asgi_tls_extension(const struct conn *c, PyObject *extensions);

/* {"version": "3.0", "spec_version": spec} (new ref), or NULL. */
PyObject *asgi_scope_version(const char *spec);

/*
 * An awaitable that completes at once with `value` (borrowed): what
 * receive() and send() return when they need not wait. New ref, or NULL.
 */
PyObject *asgi_ready(PyObject *value);

/* asgi_ready(value), a new ref it consumes; NULL stays NULL. */
PyObject *asgi_ready_take(PyObject *value);
