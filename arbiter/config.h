/*
 * config — kirin's settings: one table drives the command line, the INI file
 * (inih), a Gunicorn Python config file, the KIRIN_CMD_ARGS and
 * GUNICORN_CMD_ARGS environment variables, --print-config and the
 * documentation tests.
 *
 * Runs in the arbiter (at start and on HUP); workers read the resulting
 * struct config, inherited across fork, and never parse anything themselves.
 * Loading is all or nothing: config_load() fills a fresh struct and on any
 * error leaves a one-line message and no half-applied settings. Nothing here
 * logs (warnings are handed back in cfg->notes, info lines in cfg->infos),
 * exits or touches a socket;
 * only a Python config file starts the interpreter in the arbiter
 * (workers/python/pyconfig.h), and its traceback is logged. The worker class is checked against the
 * worker-type table (workers/worker_type.h), which also gives its choices
 * and default; a worker class given as a Python path is imported to find
 * the known class it derives from (pyconfig.h, config_class.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct strlist {
	char **v;
	size_t n;
};

enum setting_type {
	SETTING_INT,    /* int, clamped or checked against [min, max] */
	SETTING_BOOL,   /* flag on the command line, true/false in INI */
	SETTING_STRING, /* char *, NULL when unset */
	SETTING_LIST,   /* struct strlist; repeatable flag, comma-separated or repeated INI key */
	SETTING_CHOICE, /* char *, one of choices[] */
	SETTING_LONG,   /* long, checked like SETTING_INT (limit_request_body) */
};

enum setting_clamp {
	CLAMP_REFUSE = 0, /* out of range is an error */
	CLAMP_GUNICORN,   /* out of range follows the row's clamp function */
};

struct config;

struct setting {
	const char *name;       /* Gunicorn's setting name, also the INI key */
	char short_flag;        /* 'b' for -b, 0 for none */
	const char *long_flag;  /* "--bind" */
	enum setting_type type;
	size_t offset;          /* offsetof(struct config, field) */
	const char *def;        /* default, as text ("30", "127.0.0.1:8000", NULL) */
	long min, max;          /* for SETTING_INT */
	int (*clamp)(long v, long *out); /* for SETTING_INT: maps any value to the stored one */
	const char *const *choices; /* for SETTING_CHOICE, NULL-terminated */
	/* SETTING_CHOICE whose choices are another module's table (worker_class:
	   the worker types), instead of choices[]: the i-th, NULL past the last;
	   the first is the default when def is NULL */
	const char *(*choice)(size_t i);
	const char *metavar;    /* "ADDRESS", "INT", ...; NULL for flags */
	const char *help;       /* one sentence for --help and the docs */
	bool cli_only;          /* --config, --check-config, ...: no INI key */
	const char *alias;      /* a second long flag ("--log-file"), or NULL */
	bool cli_commas;        /* SETTING_LIST: a command-line value is comma-separated
				   too (--pythonpath a,b); INI values always are */
	/* SETTING_LIST and SETTING_STRING: refuse a bad item (raw_env without '=');
	   returns 0, or -1 with the reason in why */
	int (*check)(const char *item, char *why, size_t whylen);
	bool keyval;            /* SETTING_LIST of KEY=VALUE items: a comma splits two items
				   only where another KEY= follows (raw_env) */
	bool octal;             /* SETTING_INT read as Gunicorn's auto_int (umask): 022 and
				   0o22 are octal, 0x12 hex; printed in octal */
	bool py_int;            /* SETTING_STRING or SETTING_CHOICE that a Python config file
				   may give as an int (user, group: an id; ssl_version:
				   an ssl.PROTOCOL_* number, one of its aliases) */
	/* SETTING_CHOICE: other spellings, NULL-terminated pairs "alias", "choice"
	   ("true", "auto"); a row with aliases also takes a Python bool */
	const char *const *aliases;
	/* SETTING_CHOICE: the value of the bare long flag when the next word is not
	   a choice (--proxy-protocol alone is auto) */
	const char *bare;
	bool flag_clears;       /* SETTING_BOOL: the bare flag sets false (--no-sendfile) */
	/* SETTING_CHOICE: also takes a dotted Python path that is none of the
	   choices (worker_class: a subclass of a known worker class, which
	   config_load() imports to find the choice it stands for) */
	bool python_path;
};

/*
 * A Gunicorn setting kirin refuses, and why: its name (the INI key and the
 * Python file's name) and Gunicorn's flags. Its flag on a command line, or a
 * config file giving it a value that asks for something, is an error that
 * exits 2 with the reason (config_load() returns CONFIG_USAGE); a file may
 * hold Gunicorn's default for it (Gunicorn's example config sets spew =
 * False), which asks for nothing.
 */
struct setting_refusal {
	const char *name;
	const char *long_flag; /* NULL when Gunicorn has none */
	const char *alias;     /* a second long flag, or NULL */
	const char *off;       /* Gunicorn's default as text ("h1", "0"), or NULL */
	const char *why;       /* "kirin speaks HTTP/1.x only" */
};

#define CONFIG_MAX_ROWS 256 /* bound on the settings table (Gunicorn has 119) */

struct config {
	/* server socket */
	struct strlist bind;
	int backlog;
	bool reuse_port;
	/* worker processes */
	int workers;
	char *worker_class;    /* a choice: for a subclass, the known class it derives from */
	char *worker_subclass; /* -k's Python path of a subclass, or NULL (config_class.c) */
	int threads;
	int worker_connections;
	int max_requests;
	int max_requests_jitter;
	int timeout;
	int request_timeout;
	int graceful_timeout;
	int keepalive;
	int websocket_ping;
	struct strlist websocket_protocols;
	/* security / HTTP limits */
	int limit_request_line;
	int limit_request_fields;
	int limit_request_field_size;
	long limit_request_body;
	long request_body_buffer;
	long request_body_buffer_max;
	long response_buffer;
	long response_buffer_max;
	long websocket_max_message;
	struct strlist forwarded_allow_ips;
	struct strlist secure_scheme_headers; /* HEADER=VALUE */
	char *proxy_protocol; /* off, v1, v2 or auto */
	struct strlist proxy_allow_ips;
	bool permit_unconventional_http_method;
	bool casefold_http_method;
	bool strip_header_spaces;
	bool permit_obsolete_folding;
	char *header_map;  /* drop, refuse or dangerous */
	struct strlist forwarder_headers; /* kept with '_' from forwarded_allow_ips peers */
	/* TLS */
	char *keyfile;
	char *certfile;    /* NULL: plain HTTP */
	char *ssl_version; /* TLS, TLSv1_2 or TLSv1_3: the oldest version accepted */
	int cert_reqs;     /* 0 none, 1 optional, 2 required */
	char *ca_certs;
	bool suppress_ragged_eofs;
	bool do_handshake_on_connect;
	char *ciphers;
	struct ssl_ctx_st *tls_ctx; /* built by sslctx_load() from the above; workers inherit it */
	bool ssl_context_hook;      /* a Python config file defines Gunicorn's ssl_context (hooks.h) */
	/* python */
	char *chdir;
	struct strlist pythonpath;
	struct strlist raw_env;
	char *virtualenv;  /* --virtualenv; NULL: $VIRTUAL_ENV if set */
	char *root_path;   /* --root-path (SCRIPT_NAME); NULL: $SCRIPT_NAME if set */
	/* the asyncio worker */
	char *asgi_loop;     /* auto, asyncio or uvloop */
	char *asgi_lifespan; /* auto, on or off */
	char *interface;     /* auto, asgi or wsgi */
	int asgi_disconnect_grace; /* seconds a request runs on after its client left */
	bool preload_app;
	bool reload;       /* --reload: workers watch the app's files (workers/reloader.h) */
	struct strlist reload_extra_files;
	bool capture_output;
	/* server mechanics */
	bool daemon;
	char *pidfile;
	char *user;        /* --user for the workers; NULL: no change */
	char *group;       /* --group; NULL: the user's group, or no change */
	int umask;         /* for the unix sockets */
	bool initgroups;
	char *worker_tmp_dir; /* accepted, unused */
	char *proc_name;   /* NULL: the APP_MODULE names the processes */
	/* logging */
	char *accesslog;   /* --access-logfile; NULL: no access log ("-": stdout) */
	char *access_log_format;
	char *errorlog;
	char *loglevel;
	bool syslog;
	char *syslog_addr;
	char *syslog_facility;
	char *syslog_prefix; /* NULL: the process name */
	/* metrics and control (read at start; a HUP keeps them) */
	char *statsd_host;    /* HOST:PORT or unix:PATH; NULL: no statsd */
	char *statsd_prefix;  /* before every statsd name ("" none) */
	char *dogstatsd_tags; /* "k:v,k2:v2" appended to every statsd line; NULL: none */
	bool enable_backlog_metric; /* statsd gets gunicorn.backlog, the accept queues' sum */
	char *metrics_bind;   /* HOST:PORT or unix:PATH serving Prometheus /metrics; NULL: off */
	char *control_socket; /* PATH of the control socket (kirin ctl); NULL: off */
	int control_socket_mode; /* its file mode (0600) */
	/* Gunicorn compatibility (issue 18) */
	bool sendfile;     /* false: wsgi.file_wrapper iterates instead of sendfile(2) */
	bool enable_stdio_inheritance; /* -D keeps stdout and stderr */
	char *reload_engine; /* accepted, unused: --reload always uses inotify */
	bool disable_redirect_access_to_syslog; /* --log-syslog takes the error log only */
	char *protocol;    /* "http"; uwsgi is refused */
	struct strlist uwsgi_allow_ips; /* accepted, unused */
	char *http_parser; /* accepted, unused: the parser is kirin's C one */
	bool control_socket_disable; /* no control socket even when control_socket is set */
	char *paste;       /* --paste FILE[#NAME]: the app through PasteDeploy, no APP_MODULE */
	struct strlist raw_paste_global_conf; /* --paste-global KEY=VALUE */
	/* the command line itself */
	char *config;      /* -c FILE; NULL means ./kirin.ini if it exists */
	bool check_config;
	bool print_config;
	char *app_module;  /* the positional APP_MODULE */
	char *extra_arg;   /* a second positional, NULL if none: config_validate() refuses it */
	bool given[CONFIG_MAX_ROWS]; /* [config_row_index(row)]: set by a config file or a command line */
	struct strlist notes; /* warnings from loading, for the caller to log once the log is open */
	struct strlist infos; /* what loading did that is worth an info line (a worker subclass) */
};

/*
 * The table (config_table.c): its first row, and the row after s (NULL
 * after the last), in --help and --print-config order:
 * for (const struct setting *s = config_first(); s; s = config_next(s)).
 */
const struct setting *config_first(void);
const struct setting *config_next(const struct setting *s);

/* Gunicorn's settings kirin refuses (config_table.c), terminated by a NULL name. */
extern const struct setting_refusal config_refusals[];

/* The refusal named name (a setting name, or a long flag with its "--"), or NULL. */
const struct setting_refusal *config_refusal(const char *name);

/*
 * Does a config file's value for r ask for nothing: unset (NULL or ""),
 * false, or Gunicorn's default (r->off)? Case-insensitive.
 */
bool config_refusal_asks_nothing(const struct setting_refusal *r, const char *value);

/* --help and --version: options, not settings, in rows of the same shape. */
extern const struct setting config_info_rows[];

/* A SETTING_CHOICE row's i-th choice (from choices[] or choice()), NULL past the last. */
const char *config_choice(const struct setting *s, size_t i);

/* A row's default as text: def, or a choice row's first choice; NULL for none. */
const char *config_default(const struct setting *s);

/*
 * What the command line asked for besides running: config_load() returns one
 * of these (or CONFIG_ERROR).
 */
enum config_action {
	CONFIG_RUN = 0,
	CONFIG_HELP,
	CONFIG_VERSION,
	CONFIG_ERROR = -1, /* a setting's value, a file: exit status 1 */
	CONFIG_USAGE = -2, /* the command line's syntax (an unknown option, a missing
			      argument, here or in *_CMD_ARGS): exit status 2, as Gunicorn */
};

/*
 * Build a configuration from, in increasing precedence: the table's defaults
 * (with WEB_CONCURRENCY and PORT honoured as Gunicorn does), the config file
 * (-c FILE; without -c ./gunicorn.conf.py, else ./kirin.ini, when it
 * exists; a Python file when its name ends in .py or starts with python: or
 * file:, else INI), GUNICORN_CMD_ARGS, KIRIN_CMD_ARGS (both split as a shell
 * would, without expansion), and argv. Warnings (a Gunicorn setting kirin
 * lacks, a ./kirin.ini ignored for ./gunicorn.conf.py) are in cfg->notes.
 * `cfg` must be zeroed or freshly freed; on CONFIG_ERROR or CONFIG_USAGE
 * (a syntax error on a command line) a one-line message without trailing
 * newline is in err
 * (e.g. "kirin.ini:12: unknown setting 'wrokers'") and cfg has been freed.
 * Does not check that APP_MODULE is present (see config_validate).
 */
enum config_action config_load(struct config *cfg, int argc, char *const argv[],
			       char *err, size_t errlen);

/*
 * Cross-field checks after loading: an APP_MODULE is present, the worker class
 * exists, ... Returns 0 or -1 with a message in err.
 */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* Write --help text (usage line and one line per option) to f. */
void config_usage(FILE *f);

/* Write the effective settings as a loadable INI file ([kirin] section). */
void config_print(const struct config *cfg, FILE *f);

/*
 * Put the --env KEY=VALUE pairs (raw_env) into this process's environment,
 * for the arbiter and, through fork, every worker.
 */
void config_export_env(const struct config *cfg);

/* Free everything config_load() allocated; zeroes cfg. NULL is fine. */
void config_free(struct config *cfg);

/* The row whose name (INI key) is `name`, or NULL. Any process. */
const struct setting *config_find(const char *name);

/*
 * True when the setting `name` (a row of the table) was set by the INI file,
 * KIRIN_CMD_ARGS or the command line; false when it holds its default (also
 * one from WEB_CONCURRENCY or PORT). Any process.
 */
bool config_given(const struct config *cfg, const char *name);

/*
 * What names the application by default (process titles, syslog): the
 * APP_MODULE, or with --paste its file, as Gunicorn's default_proc_name.
 * Any process.
 */
const char *config_app_name(const struct config *cfg);

/*
 * The name of the worker type the settings select (worker_type_find: an
 * alias gives its type, and sync with threads > 1 is gthread, as Gunicorn).
 * Static storage.
 */
const char *config_worker_class(const struct config *cfg);
