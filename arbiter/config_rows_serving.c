/*
 * config_rows_serving — the settings of serving: sockets,
 * worker processes, HTTP limits and proxies, TLS
 * (see config_table.c, which walks the sections in order). worker_class
 * takes its choices from the worker-type table (workers/worker_type.h).
 */
#include "arbiter/config_rows.h"

#include <limits.h>
#include <stddef.h>

#include "workers/worker_type.h"

static const char *const proxy_modes[] = {"off", "v1", "v2", "auto", NULL};
/* Gunicorn's validate_proxy_protocol; true and false were kirin's own values before modes. */
static const char *const proxy_mode_aliases[] = {"false", "off",  "0",    "off", "none", "off",
						 "true",  "auto", "1",    "auto", NULL};
static const char *const header_maps[] = {"drop", "refuse", "dangerous", NULL};
static const char *const ssl_versions[] = {"TLS", "TLSv1_2", "TLSv1_3", NULL};
/* Gunicorn's names (and ssl module numbers) for "the best both sides have". */
static const char *const ssl_version_aliases[] = {"TLS_SERVER", "TLS", "SSLv23", "TLS", "2", "TLS",
						  "17", "TLS", "5", "TLSv1_2", NULL};

/* One designated-initializer row per setting, in --help and --print-config order. */
/* clang-format off */
const struct setting config_rows_serving[] = {
	/* server socket */
	{
		.name = "bind",
		.short_flag = 'b',
		.long_flag = "--bind",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, bind),
		.def = "127.0.0.1:8000",
		.metavar = "ADDRESS",
		.help = "The socket to bind: HOST, HOST:PORT, tcp://HOST:PORT, [IPV6]:PORT, "
			"unix:PATH or fd://FD; "
			"repeat for several (PORT in the environment makes the default "
			"0.0.0.0:$PORT).",
	},
	{
		.name = "backlog",
		.long_flag = "--backlog",
		.type = SETTING_INT,
		.offset = offsetof(struct config, backlog),
		.def = "2048",
		.min = 1,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "The maximum number of pending connections on each listening socket.",
	},
	{
		.name = "reuse_port",
		.long_flag = "--reuse-port",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, reuse_port),
		.def = "false",
		.help = "Set SO_REUSEPORT on the listening sockets.",
	},
	/* worker processes */
	{
		.name = "workers",
		.short_flag = 'w',
		.long_flag = "--workers",
		.type = SETTING_INT,
		.offset = offsetof(struct config, workers),
		.def = "1",
		.min = 1,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "The number of worker processes (WEB_CONCURRENCY in the environment "
			"changes the default).",
	},
	{
		.name = "worker_class",
		.short_flag = 'k',
		.long_flag = "--worker-class",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, worker_class),
		.choice = worker_type_spelling,
		.python_path = true,
		.metavar = "CLASS",
		.help = "The type of worker, or Gunicorn's name for it (sync with more than one "
			"thread means gthread), or the Python path of a subclass of one of those "
			"classes, served by the worker of its base (its own methods are not "
			"called; a uvicorn subclass's CONFIG_KWARGS sets --asgi-loop, "
			"--asgi-lifespan and --keep-alive where they are not given).",
	},
	{
		.name = "threads",
		.long_flag = "--threads",
		.type = SETTING_INT,
		.offset = offsetof(struct config, threads),
		.def = "1",
		.min = 1,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "The number of threads per worker that run the application (gthread).",
	},
	{
		.name = "worker_connections",
		.long_flag = "--worker-connections",
		.type = SETTING_INT,
		.offset = offsetof(struct config, worker_connections),
		.def = "1000",
		.min = 1,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "The maximum number of simultaneous clients per worker (gthread, "
			"greenlet, gevent, asyncio).",
	},
	{
		.name = "max_requests",
		.long_flag = "--max-requests",
		.type = SETTING_INT,
		.offset = offsetof(struct config, max_requests),
		.def = "0",
		.min = 0,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "Restart a worker after it has served this many requests; 0 never "
			"restarts.",
	},
	{
		.name = "max_requests_jitter",
		.long_flag = "--max-requests-jitter",
		.type = SETTING_INT,
		.offset = offsetof(struct config, max_requests_jitter),
		.def = "0",
		.min = 0,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "Add a random number of requests, from 0 to this value, to max_requests "
			"so that workers do not all restart at once.",
	},
	{
		.name = "timeout",
		.short_flag = 't',
		.long_flag = "--timeout",
		.type = SETTING_INT,
		.offset = offsetof(struct config, timeout),
		.def = "30",
		.min = 0,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "Kill and replace a worker that has been silent for this many seconds; "
			"0 disables.",
	},
	{
		.name = "request_timeout",
		.long_flag = "--request-timeout",
		.type = SETTING_INT,
		.offset = offsetof(struct config, request_timeout),
		.def = "0",
		.min = 0,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "Cancel a request whose app call and body have run this many seconds "
			"(504, or a closed connection); 0 disables.",
	},
	{
		.name = "graceful_timeout",
		.long_flag = "--graceful-timeout",
		.type = SETTING_INT,
		.offset = offsetof(struct config, graceful_timeout),
		.def = "30",
		.min = 0,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "Seconds a worker gets to finish its requests after a graceful stop or "
			"reload, before it is killed.",
	},
	{
		.name = "keepalive",
		.long_flag = "--keep-alive",
		.type = SETTING_INT,
		.offset = offsetof(struct config, keepalive),
		.def = "2",
		.min = 0,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "Seconds to wait for the next request on a keep-alive connection.",
	},
	{
		.name = "websocket_ping",
		.long_flag = "--websocket-ping",
		.type = SETTING_INT,
		.offset = offsetof(struct config, websocket_ping),
		.def = "0",
		.min = 0,
		.max = INT_MAX,
		.metavar = "SECONDS",
		.help = "Seconds of silence from a WebSocket client after which the server pings "
			"it; a ping unanswered as long closes the connection. 0 disables.",
	},
	{
		.name = "websocket_protocols",
		.long_flag = "--websocket-protocols",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, websocket_protocols),
		.metavar = "NAMES",
		.help = "Comma-separated WebSocket subprotocols the server speaks, in its order of "
			"preference: the first of them that a client offers is answered, unless the "
			"app chooses.",
		.cli_commas = true,
		.check = check_token,
	},
	/* security and HTTP limits */
	{
		.name = "limit_request_line",
		.long_flag = "--limit-request-line",
		.type = SETTING_INT,
		.offset = offsetof(struct config, limit_request_line),
		.def = "4094",
		.min = 0,
		.max = 8190,
		.clamp = clamp_request_line,
		.metavar = "INT",
		.help = "The maximum size of the request line in bytes; 0 means unlimited, "
			"more than 8190 means 8190.",
	},
	{
		.name = "limit_request_fields",
		.long_flag = "--limit-request-fields",
		.type = SETTING_INT,
		.offset = offsetof(struct config, limit_request_fields),
		.def = "100",
		.min = 1,
		.max = 32768,
		.clamp = clamp_request_fields,
		.metavar = "INT",
		.help = "The maximum number of header fields in a request; 0, negative or more "
			"than 32768 means 32768.",
	},
	{
		.name = "limit_request_field_size",
		.long_flag = "--limit-request-field_size",
		.type = SETTING_INT,
		.offset = offsetof(struct config, limit_request_field_size),
		.def = "8190",
		.min = 1,
		.max = INT_MAX,
		.clamp = clamp_field_size,
		.metavar = "INT",
		.help = "The maximum size of one header field in bytes; 0 or negative means "
			"8190.",
	},
	{
		.name = "limit_request_body",
		.long_flag = "--limit-request-body",
		.type = SETTING_LONG,
		.offset = offsetof(struct config, limit_request_body),
		.def = "0",
		.min = 0,
		.max = LONG_MAX,
		.metavar = "INT",
		.help = "The maximum size of a request body in bytes; 0 means unlimited.",
	},
	{
		.name = "request_body_buffer",
		.long_flag = "--request-body-buffer",
		.type = SETTING_LONG,
		.offset = offsetof(struct config, request_body_buffer),
		.def = "524288",
		.min = 0,
		.max = LONG_MAX,
		.metavar = "BYTES",
		.help = "gthread reads each request body before the app runs: up to this many "
			"bytes in memory, the rest in an unlinked temporary file in $TMPDIR.",
	},
	{
		.name = "request_body_buffer_max",
		.long_flag = "--request-body-buffer-max",
		.type = SETTING_LONG,
		.offset = offsetof(struct config, request_body_buffer_max),
		.def = "16777216",
		.min = 0,
		.max = LONG_MAX,
		.metavar = "BYTES",
		.help = "gthread: past this many bytes of a body read ahead (memory and file), "
			"the app runs and reads the rest from the client; 0 reads none ahead.",
	},
	{
		.name = "response_buffer",
		.long_flag = "--response-buffer",
		.type = SETTING_LONG,
		.offset = offsetof(struct config, response_buffer),
		.def = "262144",
		.min = 0,
		.max = LONG_MAX,
		.metavar = "BYTES",
		.help = "gthread keeps what a slow client does not take at once and its loop "
			"sends it: up to this many bytes in memory, the rest in an unlinked "
			"temporary file in $TMPDIR.",
	},
	{
		.name = "response_buffer_max",
		.long_flag = "--response-buffer-max",
		.type = SETTING_LONG,
		.offset = offsetof(struct config, response_buffer_max),
		.def = "16777216",
		.min = 0,
		.max = LONG_MAX,
		.metavar = "BYTES",
		.help = "gthread: past this many bytes kept for one slow client, the pool thread "
			"waits for the client instead; 0 never keeps any.",
	},
	{
		.name = "websocket_max_message",
		.long_flag = "--websocket-max-message",
		.type = SETTING_LONG,
		.offset = offsetof(struct config, websocket_max_message),
		.def = "16777216",
		.min = 0,
		.max = LONG_MAX,
		.metavar = "BYTES",
		.help = "The maximum size of a WebSocket message in bytes (after inflating); a "
			"larger one closes the connection with 1009. 0 means unlimited.",
	},
	{
		.name = "forwarded_allow_ips",
		.long_flag = "--forwarded-allow-ips",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, forwarded_allow_ips),
		.def = "127.0.0.1,::1",
		.metavar = "ADDRESSES",
		.help = "Comma-separated front-end addresses trusted to set the X-Forwarded-* "
			"headers; * trusts every address. A peer on a unix socket is trusted "
			"always, as by Gunicorn: the socket's mode decides who connects.",
		.cli_commas = true,
	},
	{
		.name = "secure_scheme_headers",
		.long_flag = "--secure-scheme-headers",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, secure_scheme_headers),
		.def = "X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on",
		.metavar = "HEADER=VALUE",
		.help = "A header from a --forwarded-allow-ips front-end that makes "
			"wsgi.url_scheme https when it has this value (http with another); "
			"comma-separated or repeated (a dict in a Python file).",
		.check = check_keyval,
		.keyval = true,
		.cli_commas = true,
	},
	{
		.name = "proxy_protocol",
		.long_flag = "--proxy-protocol",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, proxy_protocol),
		.choices = proxy_modes,
		.aliases = proxy_mode_aliases,
		.bare = "auto",
		.metavar = "MODE",
		.help = "Expect a PROXY protocol header from the front-ends in proxy_allow_ips: "
			"off, v1 (text), v2 (binary) or auto (either; the flag alone); true and "
			"false are auto and off.",
	},
	{
		.name = "proxy_allow_ips",
		.long_flag = "--proxy-allow-from",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, proxy_allow_ips),
		.def = "127.0.0.1,::1",
		.metavar = "ADDRESSES",
		.help = "Comma-separated front-end addresses allowed to send a PROXY protocol "
			"header; * allows every address. A peer on a unix socket is allowed "
			"always, as by Gunicorn.",
		.cli_commas = true,
	},
	{
		.name = "permit_unconventional_http_method",
		.long_flag = "--permit-unconventional-http-method",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, permit_unconventional_http_method),
		.def = "false",
		.help = "Accept any token as a method (by default a method has 3 to 20 "
			"characters, no lowercase letter and no '#', as Gunicorn's).",
	},
	{
		.name = "casefold_http_method",
		.long_flag = "--casefold-http-method",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, casefold_http_method),
		.def = "false",
		.help = "Uppercase the method before the application sees it (with "
			"--permit-unconventional-http-method: get is GET).",
	},
	{
		.name = "strip_header_spaces",
		.long_flag = "--strip-header-spaces",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, strip_header_spaces),
		.def = "false",
		.help = "Drop spaces between a header name and its colon instead of answering "
			"400 (dangerous behind a proxy that reads them otherwise).",
	},
	{
		.name = "permit_obsolete_folding",
		.long_flag = "--permit-obsolete-folding",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, permit_obsolete_folding),
		.def = "false",
		.help = "Take a header line that starts with a space or tab as the continuation "
			"of the header before it (obs-fold) instead of answering 400.",
	},
	{
		.name = "header_map",
		.long_flag = "--header-map",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, header_map),
		.choices = header_maps,
		.metavar = "MODE",
		.help = "A header whose name has an underscore: drop it, refuse the request "
			"(400), or keep it (dangerous: X_Forwarded_For passes for "
			"X-Forwarded-For).",
	},
	{
		.name = "forwarder_headers",
		.long_flag = "--forwarder-headers",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, forwarder_headers),
		.def = "SCRIPT_NAME,PATH_INFO",
		.metavar = "NAMES",
		.help = "Comma-separated header names with an underscore that a "
			"--forwarded-allow-ips front-end may send whatever --header-map says "
			"(the app sees HTTP_SCRIPT_NAME, ...); * is every name. Its SCRIPT_NAME "
			"is the mount point (SCRIPT_NAME, root_path), and a path not under it "
			"is answered 400.",
		.check = check_header_name,
		.cli_commas = true,
	},
	/* TLS (HTTPS): every listener speaks TLS once certfile is set */
	{
		.name = "keyfile",
		.long_flag = "--keyfile",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, keyfile),
		.metavar = "FILE",
		.help = "The PEM private key of the certificate (default: none; the certfile "
			"holds it).",
	},
	{
		.name = "certfile",
		.long_flag = "--certfile",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, certfile),
		.metavar = "FILE",
		.help = "Serve HTTPS with this PEM certificate (chain) on every listener "
			"(default: none, plain HTTP); HUP reloads it.",
	},
	{
		.name = "ssl_version",
		.long_flag = "--ssl-version",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, ssl_version),
		.choices = ssl_versions,
		.aliases = ssl_version_aliases,
		.py_int = true,
		.metavar = "VERSION",
		.help = "The oldest TLS version accepted: TLS (1.2 and 1.3, 1.3 preferred), "
			"TLSv1_2 or TLSv1_3; Gunicorn's TLS_SERVER and SSLv23 are TLS.",
	},
	{
		.name = "cert_reqs",
		.long_flag = "--cert-reqs",
		.type = SETTING_INT,
		.offset = offsetof(struct config, cert_reqs),
		.def = "0",
		.min = 0,
		.max = 2,
		.metavar = "INT",
		.help = "Client certificates: 0 not asked for, 1 optional (verified when "
			"sent), 2 required (mutual TLS); verified against ca_certs.",
	},
	{
		.name = "ca_certs",
		.long_flag = "--ca-certs",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, ca_certs),
		.metavar = "FILE",
		.help = "PEM file of the CA certificates that client certificates are "
			"verified against (default: none).",
	},
	{
		.name = "suppress_ragged_eofs",
		.long_flag = "--suppress-ragged-eofs",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, suppress_ragged_eofs),
		.def = "true",
		.help = "Take a client's close without a TLS close_notify for an end of "
			"file (false: for an error).",
	},
	{
		.name = "do_handshake_on_connect",
		.long_flag = "--do-handshake-on-connect",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, do_handshake_on_connect),
		.def = "false",
		.help = "Accepted for Gunicorn; the TLS handshake always comes first, without "
			"blocking a thread.",
	},
	{
		.name = "ciphers",
		.long_flag = "--ciphers",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, ciphers),
		.metavar = "LIST",
		.help = "OpenSSL cipher list for TLS 1.2 (default: OpenSSL's); TLS 1.3 keeps "
			"its suites.",
	},
	{.name = NULL},
};
/* clang-format on */
