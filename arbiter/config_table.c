/*
 * config_table — kirin's settings, one designated-initializer row each (as
 * tmux's options-table.c): name, flags, INI key, type, offset in struct
 * config, default, range, help. config.c, config_ini.c, config_py.c and
 * config_cli.c walk it for every way a setting arrives, and the
 * documentation tests walk it against --help, the man pages and
 * etc/kirin.ini. A new setting is a row here and a field in struct config.
 * worker_class takes its choices and default from the worker-type table
 * (workers/worker_type.h, the one worker header here).
 */
#include "arbiter/config.h"

#include <ctype.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workers/worker_type.h"

static int clamp_request_line(long v, long *out);
static int clamp_request_fields(long v, long *out);
static int clamp_field_size(long v, long *out);
static int check_keyval(const char *item, char *why, size_t whylen);
static int check_root_path(const char *item, char *why, size_t whylen);
static int check_syslog_addr(const char *item, char *why, size_t whylen);
static int check_user(const char *item, char *why, size_t whylen);
static int check_group(const char *item, char *why, size_t whylen);
static int check_token(const char *item, char *why, size_t whylen);
static int check_address(const char *item, char *why, size_t whylen);
static int check_tags(const char *item, char *why, size_t whylen);
static int check_protocol(const char *item, char *why, size_t whylen);

static const char *const proxy_modes[] = {"off", "v1", "v2", "auto", NULL};
/* Gunicorn's validate_proxy_protocol; true and false were kirin's own values before modes. */
static const char *const proxy_mode_aliases[] = {"false", "off",  "0",    "off", "none", "off",
						 "true",  "auto", "1",    "auto", NULL};
static const char *const header_maps[] = {"drop", "refuse", "dangerous", NULL};
static const char *const reload_engines[] = {"auto", "poll", "inotify", NULL};
static const char *const http_parsers[] = {"auto", "python", "fast", NULL};
static const char *const ssl_versions[] = {"TLS", "TLSv1_2", "TLSv1_3", NULL};
/* Gunicorn's names (and ssl module numbers) for "the best both sides have". */
static const char *const ssl_version_aliases[] = {"TLS_SERVER", "TLS", "SSLv23", "TLS", "2", "TLS",
						  "17", "TLS", "5", "TLSv1_2", NULL};
static const char *const log_levels[] = {"debug", "info", "warning", "error", "critical", NULL};
static const char *const syslog_facilities[] = {
	"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "security",
	"syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4", "local5",
	"local6", "local7", NULL};

/* One designated-initializer row per setting, in --help and --print-config order. */
/* clang-format off */
const struct setting config_settings[] = {
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
		.metavar = "CLASS",
		.help = "The type of worker, or Gunicorn's name for it (sync with more than one "
			"thread means gthread).",
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
			"greenlet, gevent).",
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
			"headers; * trusts every address.",
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
			"header; * allows every address.",
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
	/* python */
	{
		.name = "chdir",
		.long_flag = "--chdir",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, chdir),
		.metavar = "DIR",
		.help = "Change to this directory before loading the application (default: the "
			"current directory).",
	},
	{
		.name = "pythonpath",
		.long_flag = "--pythonpath",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, pythonpath),
		.metavar = "PATHS",
		.help = "Comma-separated directories to put in front of sys.path.",
		.cli_commas = true,
	},
	{
		.name = "raw_env",
		.short_flag = 'e',
		.long_flag = "--env",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, raw_env),
		.metavar = "KEY=VALUE",
		.help = "Set an environment variable for the server and its workers; repeat "
			"for several.",
		.check = check_keyval,
		.keyval = true,
	},
	{
		.name = "virtualenv",
		.long_flag = "--virtualenv",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, virtualenv),
		.metavar = "DIR",
		.help = "Make this virtual environment's site-packages importable (default: "
			"$VIRTUAL_ENV if set).",
	},
	{
		.name = "root_path",
		.long_flag = "--root-path",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, root_path),
		.metavar = "PATH",
		.help = "The URL prefix the application is mounted at: SCRIPT_NAME, stripped "
			"from PATH_INFO (default: $SCRIPT_NAME if set).",
		.check = check_root_path,
	},
	{
		.name = "preload_app",
		.long_flag = "--preload",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, preload_app),
		.def = "false",
		.help = "Import the application in the arbiter before forking the workers; a "
			"reload then does not re-import it.",
	},
	{
		.name = "reload",
		.long_flag = "--reload",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, reload),
		.def = "false",
		.help = "Reload (as on HUP) when a file of the application's modules changes; "
			"for development.",
	},
	{
		.name = "reload_extra_files",
		.long_flag = "--reload-extra-files",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, reload_extra_files),
		.alias = "--reload-extra-file",
		.metavar = "FILES",
		.help = "Comma-separated files that --reload watches too (templates, "
			"configuration); repeat for more.",
		.cli_commas = true,
	},
	{
		.name = "capture_output",
		.long_flag = "--capture-output",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, capture_output),
		.def = "false",
		.help = "Send the application's stdout and stderr to the error log.",
	},
	/* server mechanics */
	{
		.name = "daemon",
		.short_flag = 'D',
		.long_flag = "--daemon",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, daemon),
		.def = "false",
		.help = "Detach from the terminal and run in the background.",
	},
	{
		.name = "pidfile",
		.short_flag = 'p',
		.long_flag = "--pid",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, pidfile),
		.metavar = "FILE",
		.help = "Write the arbiter's process id to this file (default: none).",
	},
	{
		.name = "user",
		.short_flag = 'u',
		.long_flag = "--user",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, user),
		.metavar = "USER",
		.help = "Run the workers as this user (a name or an id) once the arbiter has bound "
			"(default: kirin's own user).",
		.check = check_user,
		.py_int = true,
	},
	{
		.name = "group",
		.short_flag = 'g',
		.long_flag = "--group",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, group),
		.metavar = "GROUP",
		.help = "Run the workers as this group (a name or an id; default: the --user's "
			"group, else kirin's own).",
		.check = check_group,
		.py_int = true,
	},
	{
		.name = "umask",
		.short_flag = 'm',
		.long_flag = "--umask",
		.type = SETTING_INT,
		.offset = offsetof(struct config, umask),
		.def = "0",
		.min = 0,
		.max = 0777,
		.metavar = "INT",
		.help = "The umask the unix sockets are created with (octal with a leading 0, "
			"as 0o22 or 022).",
		.octal = true,
	},
	{
		.name = "initgroups",
		.long_flag = "--initgroups",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, initgroups),
		.def = "false",
		.help = "Give the workers every group of the --user (initgroups(3)), not only "
			"the --group.",
	},
	{
		.name = "worker_tmp_dir",
		.long_flag = "--worker-tmp-dir",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, worker_tmp_dir),
		.metavar = "DIR",
		.help = "Accepted for Gunicorn and unused: kirin's workers send heartbeats "
			"through pipes, not temporary files.",
	},
	{
		.name = "proc_name",
		.short_flag = 'n',
		.long_flag = "--name",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, proc_name),
		.metavar = "NAME",
		.help = "The name ps shows for kirin's processes (default: the APP_MODULE).",
	},
	/* logging */
	{
		.name = "accesslog",
		.long_flag = "--access-logfile",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, accesslog),
		.metavar = "FILE",
		.help = "The access log file; - means stdout (default: no access log).",
	},
	{
		.name = "access_log_format",
		.long_flag = "--access-logformat",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, access_log_format),
		.def = "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"",
		.metavar = "FORMAT",
		.help = "The access log line, with Gunicorn's atoms (%(h)s, %({header}i)s, ...); "
			"json writes one JSON object per line.",
	},
	{
		.name = "errorlog",
		.long_flag = "--error-logfile",
		.alias = "--log-file",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, errorlog),
		.def = "-",
		.metavar = "FILE",
		.help = "The error log file; - means stderr.",
	},
	{
		.name = "loglevel",
		.long_flag = "--log-level",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, loglevel),
		.def = "info",
		.choices = log_levels,
		.metavar = "LEVEL",
		.help = "The error log's level: debug, info, warning, error or critical.",
	},
	{
		.name = "syslog",
		.long_flag = "--log-syslog",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, syslog),
		.def = "false",
		.help = "Also send the error log and the access log to syslog.",
	},
	{
		.name = "syslog_addr",
		.long_flag = "--log-syslog-to",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, syslog_addr),
		.def = "unix:/dev/log",
		.metavar = "ADDRESS",
		.help = "Where syslog lines go: unix:PATH or udp://HOST:PORT.",
		.check = check_syslog_addr,
	},
	{
		.name = "syslog_facility",
		.long_flag = "--log-syslog-facility",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, syslog_facility),
		.def = "user",
		.choices = syslog_facilities,
		.metavar = "FACILITY",
		.help = "The syslog facility: user, daemon, local0 to local7, ...",
	},
	{
		.name = "syslog_prefix",
		.long_flag = "--log-syslog-prefix",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, syslog_prefix),
		.metavar = "PREFIX",
		.help = "The program name in syslog lines is kirin.PREFIX (default: the process "
			"name).",
	},
	/* metrics and control */
	{
		.name = "statsd_host",
		.long_flag = "--statsd-host",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, statsd_host),
		.metavar = "ADDRESS",
		.help = "Send Gunicorn's statsd metrics (gunicorn.requests, "
			"gunicorn.request.duration, ...) once a second to HOST:PORT (UDP) or "
			"unix:PATH (datagram).",
		.check = check_address,
	},
	{
		.name = "statsd_prefix",
		.long_flag = "--statsd-prefix",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, statsd_prefix),
		.metavar = "PREFIX",
		.help = "Put PREFIX. before every statsd metric name.",
	},
	{
		.name = "dogstatsd_tags",
		.long_flag = "--dogstatsd-tags",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, dogstatsd_tags),
		.metavar = "TAGS",
		.help = "Datadog tags for every statsd metric, comma-separated: env:prod,app:shop.",
		.check = check_tags,
	},
	{
		.name = "enable_backlog_metric",
		.long_flag = "--enable-backlog-metric",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, enable_backlog_metric),
		.def = "false",
		.help = "Send statsd gunicorn.backlog once a second: the connections waiting in "
			"the listeners' accept queues.",
	},
	{
		.name = "metrics_bind",
		.long_flag = "--metrics-bind",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, metrics_bind),
		.metavar = "ADDRESS",
		.help = "Serve Prometheus metrics from the arbiter at http://ADDRESS/metrics "
			"(HOST:PORT or unix:PATH).",
		.check = check_address,
	},
	{
		.name = "control_socket",
		.long_flag = "--control-socket",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, control_socket),
		.metavar = "PATH",
		.help = "Listen for `kirin ctl` commands on this unix socket (mode from "
			"--control-socket-mode, owner from --user/--group).",
	},
	{
		.name = "control_socket_mode",
		.long_flag = "--control-socket-mode",
		.type = SETTING_INT,
		.offset = offsetof(struct config, control_socket_mode),
		.def = "0600",
		.min = 0,
		.max = 0777,
		.metavar = "INT",
		.help = "The control socket's file mode (octal, as 0o660 or 0660); only users "
			"who can write to it control kirin.",
		.octal = true,
	},
	/* Gunicorn compatibility (issue 18): its settings that kirin takes as it does, or
	   accepts with no effect where they cannot matter; see docs/gunicorn-settings.md */
	{
		.name = "sendfile",
		.long_flag = "--no-sendfile",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, sendfile),
		.def = "true",
		.flag_clears = true,
		.help = "Send wsgi.file_wrapper files by reading and writing instead of with "
			"sendfile(2) (the flag sets sendfile = false).",
	},
	{
		.name = "enable_stdio_inheritance",
		.short_flag = 'R',
		.long_flag = "--enable-stdio-inheritance",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, enable_stdio_inheritance),
		.def = "false",
		.help = "With --daemon, keep stdout and stderr instead of sending them to "
			"/dev/null.",
	},
	{
		.name = "protocol",
		.long_flag = "--protocol",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, protocol),
		.def = "http",
		.metavar = "PROTOCOL",
		.help = "The protocol spoken on the listeners: http (uwsgi is refused).",
		.check = check_protocol,
	},
	{
		.name = "reload_engine",
		.long_flag = "--reload-engine",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, reload_engine),
		.choices = reload_engines,
		.metavar = "ENGINE",
		.help = "Accepted for Gunicorn; no effect: --reload always watches with "
			"inotify.",
	},
	{
		.name = "disable_redirect_access_to_syslog",
		.long_flag = "--disable-redirect-access-to-syslog",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, disable_redirect_access_to_syslog),
		.def = "false",
		.help = "With --log-syslog, keep the access log out of syslog.",
	},
	{
		.name = "uwsgi_allow_ips",
		.long_flag = "--uwsgi-allow-from",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, uwsgi_allow_ips),
		.def = "127.0.0.1,::1",
		.metavar = "ADDRESSES",
		.help = "Accepted for Gunicorn; no effect: kirin does not speak uwsgi.",
		.cli_commas = true,
	},
	{
		.name = "http_parser",
		.long_flag = "--http-parser",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, http_parser),
		.choices = http_parsers,
		.metavar = "PARSER",
		.help = "Accepted for Gunicorn; no effect: kirin's parser is always its own, "
			"in C.",
	},
	{
		.name = "control_socket_disable",
		.long_flag = "--no-control-socket",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, control_socket_disable),
		.def = "false",
		.help = "Open no control socket, even when control_socket is set.",
	},
	{
		.name = "paste",
		.long_flag = "--paste",
		.alias = "--paster",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, paste),
		.metavar = "FILE",
		.help = "Load the application from this PasteDeploy INI file (FILE#NAME for "
			"another app than main) instead of an APP_MODULE; needs "
			"python3-pastedeploy.",
	},
	{
		.name = "raw_paste_global_conf",
		.long_flag = "--paste-global",
		.type = SETTING_LIST,
		.offset = offsetof(struct config, raw_paste_global_conf),
		.metavar = "KEY=VALUE",
		.help = "A global_conf variable for --paste (the file's %(KEY)s); repeat for "
			"several.",
		.check = check_keyval,
		.keyval = true,
	},
	/* the command line only */
	{
		.name = "config",
		.short_flag = 'c',
		.long_flag = "--config",
		.type = SETTING_STRING,
		.offset = offsetof(struct config, config),
		.metavar = "FILE",
		.help = "Read settings from this file: Python (FILE.py, python:MODULE) or INI "
		        "(default: ./gunicorn.conf.py, else ./kirin.ini, if it exists).",
		.cli_only = true,
	},
	{
		.name = "check_config",
		.long_flag = "--check-config",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, check_config),
		.def = "false",
		.help = "Check the settings and that the application imports, then exit.",
		.cli_only = true,
	},
	{
		.name = "print_config",
		.long_flag = "--print-config",
		.type = SETTING_BOOL,
		.offset = offsetof(struct config, print_config),
		.def = "false",
		.help = "Print the effective settings as an INI file, then exit.",
		.cli_only = true,
	},
	{.name = NULL},
};
/* clang-format on */

/*
 * --help and --version: options, not settings. Same row type so that the
 * parser and config_usage() treat them like the table; offset is unused.
 */
/* clang-format off */
const struct setting config_info_rows[] = {
	{
		.name = "help",
		.short_flag = 'h',
		.long_flag = "--help",
		.type = SETTING_BOOL,
		.help = "Show this help and exit.",
		.cli_only = true,
	},
	{
		.name = "version",
		.short_flag = 'v',
		.long_flag = "--version",
		.type = SETTING_BOOL,
		.help = "Print kirin's version and exit.",
		.cli_only = true,
	},
	{.name = NULL},
};
/* clang-format on */

const char *config_choice(const struct setting *s, size_t i)
{
	return s->choice ? s->choice(i) : s->choices[i];
}

const char *config_default(const struct setting *s)
{
	return s->def || s->type != SETTING_CHOICE ? s->def : config_choice(s, 0);
}

/* ---------------------------------------------------------------- clamps */

/* Gunicorn: a request line limit above 8190 is 8190; 0 means unlimited. */
static int clamp_request_line(long v, long *out)
{
	*out = v > 8190 ? 8190 : v;
	return 0;
}

/* Gunicorn: 0, negative or more than 32768 header fields means 32768. */
static int clamp_request_fields(long v, long *out)
{
	*out = v <= 0 || v > 32768 ? 32768 : v;
	return 0;
}

/* Gunicorn: a header field size of 0 or less means the default, 8190. */
static int clamp_field_size(long v, long *out)
{
	*out = v <= 0 ? 8190 : v;
	return 0;
}

/* raw_env items are KEY=VALUE with a non-empty KEY. */
static int check_keyval(const char *item, char *why, size_t whylen)
{
	const char *eq = strchr(item, '=');

	if (!eq || eq == item) {
		snprintf(why, whylen, "expected KEY=VALUE");
		return -1;
	}
	return 0;
}

/* A WebSocket subprotocol is an HTTP token (RFC 6455 section 4.1). */
static int check_token(const char *item, char *why, size_t whylen)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	for (const char *p = item; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(tchar, *p)) {
			snprintf(why, whylen, "'%c' cannot be in a subprotocol name", *p);
			return -1;
		}
	}
	if (!*item) {
		snprintf(why, whylen, "an empty subprotocol name");
		return -1;
	}
	return 0;
}

/* root_path is a URL path: it starts with '/'. */
static int check_root_path(const char *item, char *why, size_t whylen)
{
	if (item[0] != '/') {
		snprintf(why, whylen, "expected a path starting with '/'");
		return -1;
	}
	return 0;
}

/* A syslog address: unix:PATH (or Gunicorn's unix://PATH) or udp://HOST[:PORT]. */
static int check_syslog_addr(const char *item, char *why, size_t whylen)
{
	const char *host, *port;

	if (strncmp(item, "unix:", 5) == 0) {
		const char *path = item + 5 + (strncmp(item + 5, "//", 2) == 0 ? 2 : 0);
		if (*path && *path != '#')
			return 0;
	} else if (strncmp(item, "udp://", 6) == 0) {
		host = item + 6;
		if (*host == '[')
			host = strchr(host, ']');
		port = host ? strchr(host, ':') : NULL;
		if (host && (!port || (port[1] && strspn(port + 1, "0123456789") == strlen(port + 1) &&
				       atol(port + 1) <= 65535)))
			return 0;
	}
	snprintf(why, whylen, "expected unix:PATH or udp://HOST:PORT");
	return -1;
}

/* --user: a user id, or the name of a user this system knows. */
static int check_user(const char *item, char *why, size_t whylen)
{
	if (strspn(item, "0123456789") == strlen(item) || getpwnam(item))
		return 0;
	snprintf(why, whylen, "no such user");
	return -1;
}

/* --group: a group id, or the name of a group this system knows. */
static int check_group(const char *item, char *why, size_t whylen)
{
	if (strspn(item, "0123456789") == strlen(item) || getgrnam(item))
		return 0;
	snprintf(why, whylen, "no such group");
	return -1;
}

/* --statsd-host, --metrics-bind: HOST:PORT, [IPV6]:PORT or unix:PATH. */
static int check_address(const char *item, char *why, size_t whylen)
{
	const char *port = strrchr(item, ':');

	if (strncmp(item, "unix:", 5) == 0) {
		if (item[5])
			return 0;
	} else if (port && port > item && port[1] &&
		   strspn(port + 1, "0123456789") == strlen(port + 1) && atol(port + 1) <= 65535) {
		return 0;
	}
	snprintf(why, whylen, "expected HOST:PORT or unix:PATH");
	return -1;
}

/* --dogstatsd-tags: tags without the characters that frame a statsd line. */
static int check_tags(const char *item, char *why, size_t whylen)
{
	if (strpbrk(item, "|#\n\r ") == NULL)
		return 0;
	snprintf(why, whylen, "a tag cannot hold '|', '#', a space or a line break");
	return -1;
}

/* --protocol: http; Gunicorn's uwsgi is refused with the reason. */
static int check_protocol(const char *item, char *why, size_t whylen)
{
	if (strcmp(item, "http") == 0)
		return 0;
	if (strcmp(item, "uwsgi") == 0)
		snprintf(why, whylen, "kirin does not speak the uwsgi protocol: use http, "
		                      "behind nginx's proxy_pass");
	else
		snprintf(why, whylen, "expected http");
	return -1;
}
