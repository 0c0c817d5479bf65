/*
 * config_rows_running — the settings of running: the Python
 * side, server mechanics, logging, metrics and control, Gunicorn
 * compatibility, and the command line only
 * (see config_table.c, which walks the sections in order).
 */
#include "arbiter/config_rows.h"

#include <limits.h>
#include <stddef.h>

static const char *const asgi_loops[] = {"auto", "asyncio", "uvloop", NULL};
static const char *const asgi_lifespans[] = {"auto", "on", "off", NULL};
static const char *const interfaces[] = {"auto", "asgi", "wsgi", NULL};
static const char *const reload_engines[] = {"auto", "poll", "inotify", NULL};
static const char *const http_parsers[] = {"auto", "python", "fast", NULL};
static const char *const log_levels[] = {"debug", "info", "warning", "error", "critical", NULL};
static const char *const syslog_facilities[] = {
	"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "security",
	"syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4", "local5",
	"local6", "local7", NULL};

/* One designated-initializer row per setting, in --help and --print-config order. */
/* clang-format off */
const struct setting config_rows_running[] = {
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
	/* the asyncio worker */
	{
		.name = "asgi_loop",
		.long_flag = "--asgi-loop",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, asgi_loop),
		.def = "auto",
		.choices = asgi_loops,
		.metavar = "LOOP",
		.help = "The asyncio worker's event loop: uvloop, asyncio, or auto (uvloop when "
			"importable).",
	},
	{
		.name = "asgi_lifespan",
		.long_flag = "--asgi-lifespan",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, asgi_lifespan),
		.def = "auto",
		.choices = asgi_lifespans,
		.metavar = "MODE",
		.help = "ASGI lifespan events: on (a failed startup stops the server), off, or "
			"auto (an app that fails on them does without).",
	},
	{
		.name = "asgi_disconnect_grace_period",
		.long_flag = "--asgi-disconnect-grace-period",
		.type = SETTING_INT,
		.offset = offsetof(struct config, asgi_disconnect_grace),
		.def = "3",
		.min = 0,
		.max = INT_MAX,
		.metavar = "INT",
		.help = "Seconds an ASGI request runs on after its client went away (it receives "
			"http.disconnect), before its task is cancelled; 0 cancels at once.",
	},
	{
		.name = "interface",
		.long_flag = "--interface",
		.type = SETTING_CHOICE,
		.offset = offsetof(struct config, interface),
		.def = "auto",
		.choices = interfaces,
		.metavar = "INTERFACE",
		.help = "What the asyncio worker calls the app as: asgi, wsgi, or auto (ASGI for a "
			"coroutine function or a callable of three arguments). The other worker "
			"types serve WSGI only: an ASGI app stops them at boot.",
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
