/*
 * config_ini — the INI layer of the settings: one file read through inih,
 * with errors that name the file and line. See config_parts.h.
 */
#include "arbiter/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

#include "arbiter/config_parts.h"

/* State of one INI file being read through inih. */
struct ini_state {
	struct config *cfg;
	const char *path;
	FILE *fp;
	int lineno;    /* lines handed to inih so far */
	int stopline;  /* line of an error found by the reader (stops inih) */
	int errline;   /* line of the first error found by the handler */
	char why[768]; /* message for stopline or errline, after "FILE:LINE: " */
	bool refused;  /* errline names a setting kirin refuses (config_refusals) */
	bool seen[CONFIG_MAX_ROWS];
};

static char *read_line(char *str, int num, void *stream);
static int on_key(void *user, const char *section, const char *name, const char *value);

int config_ini_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct ini_state st = {.cfg = cfg, .path = path};
	int rc, line;

	st.fp = fopen(path, "r");
	if (!st.fp) {
		snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(read_line, &st, on_key, &st);
	if (ferror(st.fp)) {
		snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
		fclose(st.fp);
		return -1;
	}
	fclose(st.fp);
	if (rc == 0 && !st.stopline)
		return 0;
	if (rc < 0) {
		snprintf(err, errlen, "cannot read config file '%s': out of memory", path);
		return -1;
	}
	/* The first error wins: inih's own (syntax), the handler's, the reader's. */
	line = st.stopline;
	if (st.errline && (!line || st.errline < line))
		line = st.errline;
	if (rc > 0 && rc != st.errline && (!line || rc < line)) {
		snprintf(err, errlen, "%s:%d: syntax error (expected 'key = value' or '[kirin]')",
		         path, rc);
		return -1;
	}
	snprintf(err, errlen, "%s:%d: %s", path, line, st.why);
	return st.refused && line == st.errline ? -2 : -1;
}

/*
 * fgets for inih that counts lines (so the handler knows its line), refuses
 * lines longer than inih's buffer instead of letting inih split them, and
 * refuses any section but [kirin], even an empty one.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct ini_state *st = stream;
	size_t len;
	const char *p;

	if (st->stopline || !fgets(str, num, st->fp))
		return NULL;
	st->lineno++;
	len = strlen(str);
	if (len && str[len - 1] != '\n') {
		/* Full buffer: fine only if the line ends right here. */
		int c = getc(st->fp);
		if (c == '\r')
			c = getc(st->fp);
		if (c != EOF && c != '\n') {
			st->stopline = st->lineno;
			snprintf(st->why, sizeof(st->why),
			         "line too long (more than %d characters)", num - 1);
			return NULL;
		}
	}
	p = str;
	if (st->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		size_t n;

		if (end) {
			p++;
			while (p < end && isspace((unsigned char)*p))
				p++;
			for (n = (size_t)(end - p); n && isspace((unsigned char)p[n - 1]); n--)
				;
			if (n != 5 || strncmp(p, "kirin", 5) != 0) {
				st->stopline = st->lineno;
				snprintf(st->why, sizeof(st->why),
				         "unknown section '[%.*s]' (kirin reads only [kirin])",
				         (int)(n > 100 ? 100 : n), p);
				return NULL;
			}
		}
	}
	return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;
	const struct setting *s = config_find(name);
	char why[512];

	if (st->errline)
		return 0;
	if (section[0] == '\0') {
		snprintf(st->why, sizeof(st->why), "'%s' is outside the [kirin] section", name);
	} else if (!s && config_refusal(name) &&
	           config_refusal_asks_nothing(config_refusal(name), value)) {
		return 1;
	} else if (!s && config_refusal(name)) {
		snprintf(st->why, sizeof(st->why), "setting '%s' is not supported by kirin: %s",
		         name, config_refusal(name)->why);
		st->refused = true;
	} else if (!s || s->cli_only) {
		const char *hint = config_suggest(name, false);
		if (s)
			snprintf(st->why, sizeof(st->why),
			         "unknown setting '%s' (it is a command-line option only)", name);
		else if (hint)
			snprintf(st->why, sizeof(st->why),
			         "unknown setting '%s' (did you mean '%s'?)", name, hint);
		else
			snprintf(st->why, sizeof(st->why), "unknown setting '%s'", name);
	} else if (config_set_value(st->cfg, s, value, FROM_INI, st->seen[config_row_index(s)], why,
	                            sizeof(why)) < 0) {
		config_value_error(st->why, sizeof(st->why), "", name, value, why);
	} else {
		st->seen[config_row_index(s)] = true;
		return 1;
	}
	st->errline = st->lineno;
	return 0;
}
