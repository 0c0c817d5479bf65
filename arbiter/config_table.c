/*
 * config_table — kirin's settings, one designated-initializer row each (as
 * tmux's options-table.c): name, flags, INI key, type, offset in struct
 * config, default, range, help. The rows sit in two sections, serving
 * (config_rows_serving.c) and running (config_rows_running.c), walked in
 * that order by config_first()/config_next(); this file holds the walk, the
 * checks the rows name and the --help/--version rows. config.c,
 * config_ini.c, config_py.c and config_cli.c walk the table for every way a
 * setting arrives, and the documentation tests walk it against --help, the
 * man pages and etc/kirin.ini. A new setting is a row in a section and a
 * field in struct config.
 */
#include "arbiter/config_rows.h"

#include <assert.h>
#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arbiter/config_parts.h"
#include "arbiter/process.h"

/* The sections, in order; each ends with a row whose name is NULL. */
static const struct setting *const sections[] = {config_rows_serving, config_rows_running};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static int token(const char *item, const char *what, char *why, size_t whylen);

const struct setting *config_first(void)
{
	return sections[0];
}

const struct setting *config_next(const struct setting *s)
{
	if (s[1].name)
		return s + 1;
	for (size_t i = 0; i + 1 < NSECTIONS; i++) {
		const struct setting *e = sections[i];

		while (e->name)
			e++;
		if (e == s + 1)
			return sections[i + 1];
	}
	return NULL;
}

size_t config_row_index(const struct setting *s)
{
	size_t base = 0;

	for (size_t i = 0; i < NSECTIONS; i++) {
		size_t n = 0;

		while (sections[i][n].name)
			n++;
		if (s >= sections[i] && s < sections[i] + n) {
			assert(base + (size_t)(s - sections[i]) < CONFIG_MAX_ROWS);
			return base + (size_t)(s - sections[i]);
		}
		base += n;
	}
	assert(!"a row of the settings table");
	return 0;
}
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
int clamp_request_line(long v, long *out)
{
	*out = v > 8190 ? 8190 : v;
	return 0;
}

/* Gunicorn: 0, negative or more than 32768 header fields means 32768. */
int clamp_request_fields(long v, long *out)
{
	*out = v <= 0 || v > 32768 ? 32768 : v;
	return 0;
}

/* Gunicorn: a header field size of 0 or less means the default, 8190. */
int clamp_field_size(long v, long *out)
{
	*out = v <= 0 ? 8190 : v;
	return 0;
}

/* raw_env items are KEY=VALUE with a non-empty KEY. */
int check_keyval(const char *item, char *why, size_t whylen)
{
	const char *eq = strchr(item, '=');

	if (!eq || eq == item) {
		snprintf(why, whylen, "expected KEY=VALUE");
		return -1;
	}
	return 0;
}

/* item is an HTTP token (RFC 9110 section 5.6.2); what names it in the reason. */
static int token(const char *item, const char *what, char *why, size_t whylen)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	for (const char *p = item; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(tchar, *p)) {
			snprintf(why, whylen, "'%c' cannot be in a %s", *p, what);
			return -1;
		}
	}
	if (!*item) {
		snprintf(why, whylen, "an empty %s", what);
		return -1;
	}
	return 0;
}

/* A WebSocket subprotocol is an HTTP token (RFC 6455 section 4.1). */
int check_token(const char *item, char *why, size_t whylen)
{
	return token(item, "subprotocol name", why, whylen);
}

/* forwarder_headers: a header field name (a token), or "*" for every name. */
int check_header_name(const char *item, char *why, size_t whylen)
{
	return strcmp(item, "*") == 0 ? 0 : token(item, "header name", why, whylen);
}

/* root_path is a URL path: it starts with '/'. */
int check_root_path(const char *item, char *why, size_t whylen)
{
	if (item[0] != '/') {
		snprintf(why, whylen, "expected a path starting with '/'");
		return -1;
	}
	return 0;
}

/* A syslog address: unix:PATH (or Gunicorn's unix://PATH) or udp://HOST[:PORT]. */
int check_syslog_addr(const char *item, char *why, size_t whylen)
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
int check_user(const char *item, char *why, size_t whylen)
{
	unsigned long long id;

	if (process_id_parse(item, &id) || getpwnam(item))
		return 0;
	snprintf(why, whylen, "no such user");
	return -1;
}

/* --group: a group id, or the name of a group this system knows. */
int check_group(const char *item, char *why, size_t whylen)
{
	unsigned long long id;

	if (process_id_parse(item, &id) || getgrnam(item))
		return 0;
	snprintf(why, whylen, "no such group");
	return -1;
}

/* --statsd-host, --metrics-bind: HOST:PORT, [IPV6]:PORT or unix:PATH. */
int check_address(const char *item, char *why, size_t whylen)
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
int check_tags(const char *item, char *why, size_t whylen)
{
	if (strpbrk(item, "|#\n\r ") == NULL)
		return 0;
	snprintf(why, whylen, "a tag cannot hold '|', '#', a space or a line break");
	return -1;
}

/* --protocol: http; Gunicorn's uwsgi is refused with the reason. */
int check_protocol(const char *item, char *why, size_t whylen)
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
