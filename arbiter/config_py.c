/*
 * config_py — the Python layer of the settings: a Gunicorn configuration
 * file (workers/python/pyconfig.h executes it) whose module-level names are
 * checked as Gunicorn's validators check them and stored through the table.
 * See config_parts.h.
 */
#include "arbiter/config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arbiter/config_parts.h"
#include "workers/python/hooks.h"
#include "workers/python/pyconfig.h"

/*
 * Gunicorn 26.1's setting names (gunicorn/config.py), as data: a name from
 * this list that kirin's table lacks is a Gunicorn setting kirin does not
 * implement, and is worth a warning; any other name is the file's own
 * business and ignored, as Gunicorn ignores it.
 */
/* clang-format off */
static const char *const gunicorn_settings[] = {
	"config", "wsgi_app", "bind", "backlog", "workers", "worker_class", "threads",
	"worker_connections", "max_requests", "max_requests_jitter", "timeout",
	"graceful_timeout", "keepalive", "limit_request_line", "limit_request_fields",
	"limit_request_field_size", "reload", "reload_engine", "reload_extra_files", "spew",
	"check_config", "print_config", "preload_app", "sendfile", "reuse_port", "chdir",
	"daemon", "raw_env", "pidfile", "worker_tmp_dir", "user", "group", "umask",
	"initgroups", "tmp_upload_dir", "secure_scheme_headers", "forwarded_allow_ips",
	"accesslog", "disable_redirect_access_to_syslog", "access_log_format", "errorlog",
	"loglevel", "capture_output", "logger_class", "logconfig", "logconfig_dict",
	"logconfig_json", "syslog_addr", "syslog", "syslog_prefix", "syslog_facility",
	"enable_stdio_inheritance", "statsd_host", "dogstatsd_tags", "statsd_prefix",
	"enable_backlog_metric", "proc_name", "default_proc_name", "pythonpath", "paste",
	"on_starting", "on_reload", "when_ready", "pre_fork", "post_fork", "post_worker_init",
	"worker_int", "worker_abort", "pre_exec", "pre_request", "post_request", "child_exit",
	"worker_exit", "nworkers_changed", "on_exit", "ssl_context", "proxy_protocol",
	"proxy_allow_ips", "protocol", "uwsgi_allow_ips", "keyfile", "certfile", "ssl_version",
	"cert_reqs", "ca_certs", "suppress_ragged_eofs", "do_handshake_on_connect", "ciphers",
	"http_protocols", "http2_cleartext", "http2_max_concurrent_streams",
	"http2_initial_window_size", "http2_max_frame_size", "http2_max_header_list_size",
	"raw_paste_global_conf", "permit_obsolete_folding", "strip_header_spaces",
	"permit_unconventional_http_method", "permit_unconventional_http_version",
	"casefold_http_method", "forwarder_headers", "header_map", "asgi_loop", "asgi_lifespan",
	"asgi_disconnect_grace_period", "http_parser", "root_path", "dirty_apps",
	"dirty_workers", "dirty_timeout", "dirty_threads", "dirty_graceful_timeout",
	"on_dirty_starting", "dirty_post_fork", "dirty_worker_init", "dirty_worker_exit",
	"control_socket", "control_socket_mode", "control_socket_disable", NULL,
};

/*
 * Gunicorn settings a Python file may hold that cannot matter to kirin,
 * accepted without a word (see docs/gunicorn-settings.md): Gunicorn itself
 * never reads tmp_upload_dir, default_proc_name is its own fallback name,
 * and the dirty-arbiter hooks have no dirty arbiters to run in (dirty_apps
 * is refused).
 */
static const char *const noop_settings[] = {
	"tmp_upload_dir", "default_proc_name", "on_dirty_starting", "dirty_post_fork",
	"dirty_worker_init", "dirty_worker_exit", NULL,
};
/* clang-format on */

static int apply(struct config *cfg, const struct setting *s, const struct pyvalue *v, char *why,
                 size_t whylen);
static int expected(const struct pyvalue *v, const char *what, char *why, size_t whylen);
static bool is_gunicorn_setting(const char *name);
static bool is_noop(const char *name);
static bool asks_nothing(const struct pyvalue *v);

int config_py_load(struct config *cfg, const char *location, char *err, size_t errlen)
{
	struct pyconfig pc;
	char why[512], prefix[300];
	int rc = 0;

	if (pyconfig_read(location, &pc, err, errlen) < 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "%s: ", location);
	for (size_t i = 0; i < pc.n && rc == 0; i++) {
		const struct pyvalue *v = &pc.v[i];
		const struct setting *s = config_find(v->name);
		char note[PATH_MAX + 256];

		/* As Gunicorn, the file may ask for check_config and print_config. */
		if (s && (!s->cli_only || s->type == SETTING_BOOL)) {
			rc = apply(cfg, s, v, why, sizeof(why));
			if (rc < 0)
				config_value_error(err, errlen, prefix, v->name,
				                   v->text ? v->text : "", why);
		} else if (strcmp(v->name, "wsgi_app") == 0) {
			if (v->kind == PYVALUE_STR) {
				free(cfg->app_module);
				cfg->app_module = config_strdup(v->text);
			} else if (v->kind != PYVALUE_NONE) {
				config_value_error(err, errlen, prefix, v->name, "",
				                   "expected a string");
				rc = -1;
			}
		} else if (!s && config_refusal(v->name) && asks_nothing(v)) {
			continue;
		} else if (!s && config_refusal(v->name)) {
			snprintf(err, errlen, "%ssetting '%s' is not supported by kirin: %s",
			         prefix, v->name, config_refusal(v->name)->why);
			rc = -2;
		} else if (!s && strcmp(v->name, "ssl_context") == 0 && v->kind != PYVALUE_NONE) {
			/* Gunicorn's example defines it: accepted, but said to be unused. */
			snprintf(note, sizeof(note),
			         "%s'ssl_context' is never called: kirin's TLS is OpenSSL's, set up in "
			         "C from certfile, keyfile, ca_certs, cert_reqs, ciphers and ssl_version",
			         prefix);
			config_list_push(&cfg->notes, note, strlen(note));
		} else if (!s && is_gunicorn_setting(v->name) && !hooks_known(v->name) &&
		           !is_noop(v->name)) {
			snprintf(note, sizeof(note),
			         "%sGunicorn setting '%s' is not supported by kirin: ignored",
			         prefix, v->name);
			config_list_push(&cfg->notes, note, strlen(note));
		}
	}
	pyconfig_free(&pc);
	return rc;
}

/*
 * Store v in row s with Gunicorn's validation: an int setting takes an int
 * (a bool counts) or a string of one, a bool takes True/False or the strings
 * "true"/"false", a string takes a str or None (unset; a choice with
 * aliases takes a bool too: proxy_protocol), a list takes a list
 * of str, a str (one item, or comma-separated where the command line splits
 * too) or an empty value. 0, or -1 with why.
 */
static int apply(struct config *cfg, const struct setting *s, const struct pyvalue *v, char *why,
                 size_t whylen)
{
	switch (s->type) {
	case SETTING_INT:
	case SETTING_LONG:
		if (v->kind == PYVALUE_INT || v->kind == PYVALUE_STR)
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_BOOL)
			return config_set_value(cfg, s, strcmp(v->text, "true") == 0 ? "1" : "0",
			                        FROM_CLI, false, why, whylen);
		return expected(v, "an integer", why, whylen);
	case SETTING_BOOL:
		if (v->kind == PYVALUE_NONE)
			return config_set_value(cfg, s, "false", FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_BOOL ||
		    (v->kind == PYVALUE_STR &&
		     (strcasecmp(v->text, "true") == 0 || strcasecmp(v->text, "false") == 0)))
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		return expected(v, "True or False", why, whylen);
	case SETTING_STRING:
		if (v->kind == PYVALUE_NONE)
			return config_set_value(cfg, s, "", FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_INT && s->py_int)
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		/* fall through */
	case SETTING_CHOICE:
		if (v->kind == PYVALUE_STR || (v->kind == PYVALUE_BOOL && s->aliases) ||
		    (v->kind == PYVALUE_INT && s->py_int))
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		return expected(v, "a string", why, whylen);
	case SETTING_LIST:
		if (v->kind == PYVALUE_NONE)
			return config_set_value(cfg, s, "", FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_STR)
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_DICT && !s->keyval)
			return expected(v, "a list of strings", why, whylen);
		if (v->kind != PYVALUE_LIST && v->kind != PYVALUE_DICT)
			return expected(
			    v, s->keyval ? "a dict or a list of strings" : "a list of strings", why,
			    whylen);
		if (config_set_value(cfg, s, "", FROM_CLI, false, why, whylen) < 0)
			return -1;
		for (size_t i = 0; i < v->items.n; i++)
			if (config_set_value(cfg, s, v->items.v[i], FROM_CLI, true, why, whylen) <
			    0)
				return -1;
		return 0;
	}
	return -1;
}

/* "expected WHAT, got TYPE": the value is not of a kind the setting takes. */
static int expected(const struct pyvalue *v, const char *what, char *why, size_t whylen)
{
	static const char *const kinds[] = {
	    [PYVALUE_NONE] = "None", [PYVALUE_BOOL] = "bool", [PYVALUE_INT] = "int",
	    [PYVALUE_STR] = "str",   [PYVALUE_LIST] = "list", [PYVALUE_DICT] = "dict",
	};

	snprintf(why, whylen, "expected %s, got %s", what,
	         v->kind == PYVALUE_OTHER ? v->type_name : kinds[v->kind]);
	return -1;
}

static bool is_gunicorn_setting(const char *name)
{
	for (size_t i = 0; gunicorn_settings[i]; i++)
		if (strcmp(gunicorn_settings[i], name) == 0)
			return true;
	return false;
}

static bool is_noop(const char *name)
{
	for (size_t i = 0; noop_settings[i]; i++)
		if (strcmp(noop_settings[i], name) == 0)
			return true;
	return false;
}

/* A refused setting's value that asks for nothing: None, an empty list, Gunicorn's default. */
static bool asks_nothing(const struct pyvalue *v)
{
	const struct setting_refusal *r = config_refusal(v->name);

	switch (v->kind) {
	case PYVALUE_NONE:
		return true;
	case PYVALUE_LIST:
	case PYVALUE_DICT:
		return v->items.n == 0;
	case PYVALUE_BOOL:
	case PYVALUE_INT:
	case PYVALUE_STR:
		return config_refusal_asks_nothing(r, v->text);
	default:
		return false;
	}
}
