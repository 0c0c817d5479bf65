/*
 * config_refusals — Gunicorn 26.1's settings that kirin refuses, each with
 * the reason its error gives (config.h: struct setting_refusal). The
 * command line, INI and Python layers ask config_refusal() about a name
 * that is no row of the settings table. docs/gunicorn-settings.md accounts
 * for all of Gunicorn's settings. Any process; nothing here logs or exits.
 */
#include "arbiter/config.h"

#include <string.h>
#include <strings.h>

#define NO_DIRTY "kirin has no dirty arbiters (Gunicorn's pools for long tasks): run them " \
		 "in a task queue"
#define NO_H2    "kirin speaks HTTP/1.x only: put an HTTP/2 front-end (nginx) before it"
#define NO_PYLOG "kirin's error and access logs are written in C: use --error-logfile, " \
		 "--access-logfile, --access-logformat and --log-syslog"
/* clang-format off */
const struct setting_refusal config_refusals[] = {
	{"spew", "--spew", NULL, "false", "kirin's workers have no line tracer: use a debugger"},
	{"logger_class", "--logger-class", NULL, "gunicorn.glogging.Logger", NO_PYLOG},
	{"logconfig", "--log-config", NULL, NULL, NO_PYLOG},
	{"logconfig_dict", NULL, NULL, NULL, NO_PYLOG},
	{"logconfig_json", "--log-config-json", NULL, NULL, NO_PYLOG},
	{"permit_unconventional_http_version", "--permit-unconventional-http-version", NULL,
	 "false", "kirin serves HTTP/1.0 and HTTP/1.1 only (Gunicorn's default): other versions "
		  "are answered 505"},
	{"http_protocols", "--http-protocols", NULL, "h1", NO_H2},
	{"http2_cleartext", "--http2-cleartext", NULL, "off", NO_H2},
	{"http2_max_concurrent_streams", "--http2-max-concurrent-streams", NULL, "100", NO_H2},
	{"http2_initial_window_size", "--http2-initial-window-size", NULL, "65535", NO_H2},
	{"http2_max_frame_size", "--http2-max-frame-size", NULL, "16384", NO_H2},
	{"http2_max_header_list_size", "--http2-max-header-list-size", NULL, "65536", NO_H2},
	{"dirty_apps", "--dirty-app", NULL, NULL, NO_DIRTY},
	{"dirty_workers", "--dirty-workers", NULL, "0", NO_DIRTY},
	{"dirty_timeout", "--dirty-timeout", NULL, "300", NO_DIRTY},
	{"dirty_threads", "--dirty-threads", NULL, "1", NO_DIRTY},
	{"dirty_graceful_timeout", "--dirty-graceful-timeout", NULL, "30", NO_DIRTY},
	{NULL, NULL, NULL, NULL, NULL},
};
/* clang-format on */

bool config_refusal_asks_nothing(const struct setting_refusal *r, const char *value)
{
	return !value || !*value || strcasecmp(value, "false") == 0 ||
	       (r->off && strcasecmp(value, r->off) == 0);
}

const struct setting_refusal *config_refusal(const char *name)
{
	for (const struct setting_refusal *r = config_refusals; r->name; r++)
		if (strcmp(r->name, name) == 0 || (r->long_flag && strcmp(r->long_flag, name) == 0) ||
		    (r->alias && strcmp(r->alias, name) == 0))
			return r;
	return NULL;
}
