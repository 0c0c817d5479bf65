/*
 * config_cli — the command-line layers of the settings: KIRIN_CMD_ARGS split
 * as a shell would, GNU-style options read in two passes (syntax, then
 * values), and --help. See config_parts.h.
 */
#include "build-aux/kirin-config.h"

#include "arbiter/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arbiter/config_parts.h"

static bool is_choice(const struct setting *s, const char *word);
static bool is_info_row(const struct setting *s);
static const struct setting *find_short(char c);
static const struct setting *find_long(const char *name, size_t len, const char *prefix, char *err,
                                       size_t errlen);
static void cmdline_push(struct config_cmdline *cl, const struct setting *s, const char *value);
static void pos_push(struct config_cmdline *cl, const char *word);
static int usage_left(const struct setting *s, const char *flag, char *buf, size_t len);
static void usage_row(const struct setting *s, const char *flag, int width, FILE *f);

int config_cli_split(const char *s, char ***words, size_t *n, const char *prefix, char *err,
                     size_t errlen)
{
	struct strlist l = {0};
	char *buf;
	const char *p = s;

	*words = NULL;
	*n = 0;
	if (!s)
		return 0;
	buf = config_alloc(strlen(s) + 1);
	for (;;) {
		size_t len = 0;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\'') {
				const char *q = strchr(p + 1, '\'');
				if (!q)
					goto unterminated;
				memcpy(buf + len, p + 1, (size_t)(q - p - 1));
				len += (size_t)(q - p - 1);
				p = q + 1;
			} else if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && p[1] && strchr("\\\"$`\n", p[1])) {
						if (*++p == '\n')
							continue;
					}
					buf[len++] = *p;
				}
				if (!*p)
					goto unterminated;
				p++;
			} else if (*p == '\\') {
				if (!p[1]) {
					snprintf(err, errlen, "%sbackslash at the end of the value",
					         prefix);
					goto fail;
				}
				if (p[1] != '\n')
					buf[len++] = p[1];
				p += 2;
			} else {
				buf[len++] = *p++;
			}
		}
		config_list_push(&l, buf, len);
	}
	free(buf);
	*words = l.v;
	*n = l.n;
	return 0;
unterminated:
	snprintf(err, errlen, "%sunterminated quote", prefix);
fail:
	free(buf);
	config_list_clear(&l);
	return -1;
}

int config_cli_parse(struct config_cmdline *cl, size_t n, char *const words[], const char *prefix,
                     char *err, size_t errlen)
{
	bool options = true;

	for (size_t i = 0; i < n; i++) {
		const char *w = words[i];
		const struct setting *s;

		if (!options || w[0] != '-' || w[1] == '\0') {
			pos_push(cl, w);
			continue;
		}
		if (strcmp(w, "--") == 0) {
			options = false;
			continue;
		}
		if (w[1] == '-') {
			const char *name = w + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const char *value = eq ? eq + 1 : NULL;

			s = find_long(name, len, prefix, err, errlen);
			if (!s)
				return -1;
			if (s->type == SETTING_BOOL && value) {
				snprintf(err, errlen, "%soption '%s' doesn't allow an argument",
				         prefix, s->long_flag);
				return -1;
			}
			if (s->bare && !value)
				value = i + 1 < n && is_choice(s, words[i + 1]) ? words[++i] : s->bare;
			if (s->type != SETTING_BOOL && !value) {
				if (i + 1 >= n) {
					snprintf(err, errlen, "%soption '%s' requires an argument",
					         prefix, s->long_flag);
					return -1;
				}
				value = words[++i];
			}
			if (is_info_row(s)) {
				cl->action = s->short_flag == 'h' ? CONFIG_HELP : CONFIG_VERSION;
				return 0;
			}
			cmdline_push(cl, s, value);
			continue;
		}
		for (const char *p = w + 1; *p; p++) {
			s = find_short(*p);
			if (!s) {
				snprintf(err, errlen, "%sunrecognized option '-%c'", prefix, *p);
				return -1;
			}
			if (is_info_row(s)) {
				cl->action = s->short_flag == 'h' ? CONFIG_HELP : CONFIG_VERSION;
				return 0;
			}
			if (s->type == SETTING_BOOL) {
				cmdline_push(cl, s, NULL);
				continue;
			}
			if (p[1]) {
				cmdline_push(cl, s, p + 1);
			} else if (i + 1 < n) {
				cmdline_push(cl, s, words[++i]);
			} else {
				snprintf(err, errlen, "%soption '-%c' requires an argument", prefix,
				         *p);
				return -1;
			}
			break;
		}
	}
	return 0;
}

int config_cli_apply(struct config *cfg, const struct config_cmdline *cl, const char *prefix,
                     char *err, size_t errlen)
{
	bool seen[CONFIG_MAX_ROWS] = {false};
	char why[256];

	for (size_t i = 0; i < cl->nargs; i++) {
		const struct setting *s = cl->args[i].s;
		size_t k = config_row_index(s);

		if (config_set_value(cfg, s, cl->args[i].value, FROM_CLI, seen[k], why,
		                     sizeof(why)) < 0) {
			config_value_error(err, errlen, prefix, s->long_flag, cl->args[i].value,
			                   why);
			return -1;
		}
		seen[k] = true;
	}
	if (cl->npos) {
		free(cfg->app_module);
		free(cfg->extra_arg);
		cfg->app_module = config_strdup(cl->pos[0]);
		cfg->extra_arg = cl->npos > 1 ? config_strdup(cl->pos[1]) : NULL;
	}
	return 0;
}

void config_cli_free(struct config_cmdline *cl)
{
	free(cl->args);
	free(cl->pos);
	memset(cl, 0, sizeof(*cl));
}

const char *config_cli_config_path(const struct config_cmdline *cl)
{
	const char *path = NULL;

	for (size_t i = 0; i < cl->nargs; i++)
		if (cl->args[i].s->offset == offsetof(struct config, config) &&
		    cl->args[i].s->type == SETTING_STRING && cl->args[i].s->cli_only)
			path = cl->args[i].value;
	return path;
}

void config_usage(FILE *f)
{
	const struct setting *tables[] = {config_info_rows, config_settings};
	char buf[128];
	int width = 0;

	for (size_t t = 0; t < 2; t++)
		for (const struct setting *s = tables[t]; s->name; s++) {
			int w = usage_left(s, s->long_flag, buf, sizeof(buf));
			if (w > width)
				width = w;
			if (s->alias && (w = usage_left(s, s->alias, buf, sizeof(buf))) > width)
				width = w;
		}
	fprintf(f, "usage: kirin [OPTIONS] APP_MODULE\n"
	           "       kirin ctl [OPTIONS] COMMAND   (kirin ctl --help)\n\n"
	           "Serve the WSGI application APP_MODULE (module:callable) with a prefork "
	           "arbiter and workers, or control a running one through its "
	           "--control-socket.\n\n"
	           "options:\n");
	for (size_t t = 0; t < 2; t++)
		for (const struct setting *s = tables[t]; s->name; s++) {
			usage_row(s, s->long_flag, width, f);
			if (s->alias)
				usage_row(s, s->alias, width, f);
		}
	fprintf(f,
	        "\nSettings are read from the defaults, then the config file (-c FILE, a "
	        "Python file\nwhen it ends in .py or is python:MODULE, else INI; without -c "
	        "./gunicorn.conf.py or\n./kirin.ini), then GUNICORN_CMD_ARGS, then "
	        "KIRIN_CMD_ARGS, then the command line. "
	        "kirin %s; see kirin(1) and kirin.ini(5).\n",
	        PACKAGE_VERSION);
}

/* Is word one of a SETTING_CHOICE row's choices or aliases (so a bare flag takes it)? */
static bool is_choice(const struct setting *s, const char *word)
{
	for (size_t i = 0; config_choice(s, i); i++)
		if (strcasecmp(config_choice(s, i), word) == 0)
			return true;
	for (size_t i = 0; s->aliases && s->aliases[i]; i += 2)
		if (strcasecmp(s->aliases[i], word) == 0)
			return true;
	return false;
}

static bool is_info_row(const struct setting *s)
{
	for (const struct setting *r = config_info_rows; r->name; r++)
		if (r == s)
			return true;
	return false;
}

static const struct setting *find_short(char c)
{
	for (const struct setting *s = config_info_rows; s->name; s++)
		if (s->short_flag == c)
			return s;
	for (const struct setting *s = config_settings; s->name; s++)
		if (s->short_flag == c)
			return s;
	return NULL;
}

/*
 * The row of a long option name (after "--", len bytes): an exact match, or
 * as in getopt_long an unambiguous prefix of one.
 */
static const struct setting *find_long(const char *name, size_t len, const char *prefix, char *err,
                                       size_t errlen)
{
	const struct setting *tables[] = {config_info_rows, config_settings};
	const struct setting *found = NULL;
	const char *flags[2], *first = NULL;
	bool ambiguous = false;
	char other[64] = "", dashed[64];
	const struct setting_refusal *r;

	/* Gunicorn's flags kirin refuses say why, before any prefix matching. */
	snprintf(dashed, sizeof(dashed), "--%.*s", (int)len, name);
	r = config_refusal(dashed);
	if (r) {
		snprintf(err, errlen, "%soption '%s' is not supported by kirin: %s", prefix,
		         dashed, r->why);
		return NULL;
	}

	for (int exact = 1; exact >= 0; exact--) {
		for (size_t t = 0; t < 2; t++) {
			for (const struct setting *s = tables[t]; s->name; s++) {
				flags[0] = s->long_flag;
				flags[1] = s->alias;
				for (size_t k = 0; k < 2; k++) {
					const char *f = flags[k] ? flags[k] + 2 : NULL;
					if (!f || strncmp(f, name, len) != 0)
						continue;
					if (exact && f[len] != '\0')
						continue;
					if (exact)
						return s;
					if (!found) {
						found = s;
						first = flags[k];
					} else if (found != s && !ambiguous) {
						ambiguous = true;
						snprintf(other, sizeof(other), "%s", flags[k]);
					}
				}
			}
		}
	}
	if (ambiguous) {
		snprintf(err, errlen, "%soption '--%.*s' is ambiguous (%s or %s?)", prefix,
		         (int)len, name, first, other);
		return NULL;
	}
	if (!found) {
		char *flag = config_alloc(len + 3);
		const char *hint;

		snprintf(flag, len + 3, "--%.*s", (int)len, name);
		hint = config_suggest(flag, true);
		if (hint)
			snprintf(err, errlen, "%sunrecognized option '%s' (did you mean '%s'?)",
			         prefix, flag, hint);
		else
			snprintf(err, errlen, "%sunrecognized option '%s'", prefix, flag);
		free(flag);
	}
	return found;
}

static void cmdline_push(struct config_cmdline *cl, const struct setting *s, const char *value)
{
	struct config_arg *v = realloc(cl->args, (cl->nargs + 1) * sizeof(*v));

	if (!v)
		abort();
	cl->args = v;
	cl->args[cl->nargs++] = (struct config_arg){.s = s, .value = value};
}

static void pos_push(struct config_cmdline *cl, const char *word)
{
	const char **v = realloc(cl->pos, (cl->npos + 1) * sizeof(*v));

	if (!v)
		abort();
	cl->pos = v;
	cl->pos[cl->npos++] = word;
}

/* The left column of --help for one flag of s; returns its width. */
static int usage_left(const struct setting *s, const char *flag, char *buf, size_t len)
{
	char shortpart[8] = "    ";
	int n;

	if (s->short_flag && flag == s->long_flag)
		snprintf(shortpart, sizeof(shortpart), "-%c, ", s->short_flag);
	n = snprintf(buf, len, "  %s%s%s%s", shortpart, flag, s->metavar ? " " : "",
	             s->metavar ? s->metavar : "");
	return n < 0 ? 0 : n;
}

static void usage_row(const struct setting *s, const char *flag, int width, FILE *f)
{
	char left[128];

	usage_left(s, flag, left, sizeof(left));
	if (flag != s->long_flag) {
		fprintf(f, "%-*s  Same as %s.\n", width, left, s->long_flag);
		return;
	}
	fprintf(f, "%-*s  %s", width, left, s->help);
	for (size_t i = 0; s->choice && config_choice(s, i); i++)
		fprintf(f, "%s%s%s", i ? ", " : " One of: ", config_choice(s, i),
		        config_choice(s, i + 1) ? "" : ".");
	if (config_default(s) && s->type != SETTING_BOOL)
		fprintf(f, " [default: %s]", config_default(s));
	fputc('\n', f);
}
