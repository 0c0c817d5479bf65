/*
 * config — everything that walks the settings table (config_table.c):
 * defaults (with WEB_CONCURRENCY and PORT), the INI file, KIRIN_CMD_ARGS,
 * the command line, --help and --print-config. See config.h for the
 * contract.
 */
#include "build-aux/kirin-config.h"

#include "arbiter/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "workers/worker_type.h"

#define MAX_ROWS            64  /* bound on the table, for per-layer bitmaps */
#define MAX_PRINT_LINE      160 /* longer list lines are printed one item per line */
#define FIELD(cfg, s, type) ((type *)(void *)((char *)(cfg) + (s)->offset))

/* Where a value comes from: decides how a list value is split. */
enum source {
	FROM_DEFAULT,
	FROM_INI,
	FROM_CLI, /* argv or KIRIN_CMD_ARGS */
};

/* One option found on a command line; value borrowed from argv or the words. */
struct arg {
	const struct setting *s;
	const char *value; /* NULL for a flag */
};

/* A command line (argv or KIRIN_CMD_ARGS) after the syntax pass. */
struct cmdline {
	struct arg *args;
	size_t nargs;
	const char **pos; /* positionals, borrowed */
	size_t npos;
	enum config_action action; /* CONFIG_HELP or CONFIG_VERSION when asked */
};

/* State of one INI file being read through inih. */
struct ini_state {
	struct config *cfg;
	const char *path;
	FILE *fp;
	int lineno;    /* lines handed to inih so far */
	int stopline;  /* line of an error found by the reader (stops inih) */
	int errline;   /* line of the first error found by the handler */
	char why[512]; /* message for stopline or errline, after "FILE:LINE: " */
	bool seen[MAX_ROWS];
};

static void *xalloc(size_t n);
static char *dup_range(const char *s, size_t n);
static char *dup_str(const char *s);
static void list_clear(struct strlist *l);
static void list_push(struct strlist *l, const char *s, size_t n);
static size_t row_index(const struct setting *s);
static bool is_info_row(const struct setting *s);
static size_t distance(const char *a, const char *b);
static const char *suggest(const char *name, bool flags);
static int parse_long(const char *text, long *out);
static int parse_bool(const char *text, bool *out);
static bool starts_keyval(const char *p);
static int set_list(struct strlist *l, const struct setting *s, const char *value, enum source src,
                    bool append, char *why, size_t whylen);
static int set_value(struct config *cfg, const struct setting *s, const char *value,
                     enum source src, bool append, char *why, size_t whylen);
static void value_error(char *err, size_t errlen, const char *prefix, const char *name,
                        const char *value, const char *why);
static int load_defaults(struct config *cfg, char *err, size_t errlen);
static char *read_line(char *str, int num, void *stream);
static int on_key(void *user, const char *section, const char *name, const char *value);
static int load_ini(struct config *cfg, const char *path, char *err, size_t errlen);
static int split_words(const char *s, char ***words, size_t *n, char *err, size_t errlen);
static const struct setting *find_short(char c);
static const struct setting *find_long(const char *name, size_t len, const char *prefix, char *err,
                                       size_t errlen);
static void cmdline_push(struct cmdline *cl, const struct setting *s, const char *value);
static void pos_push(struct cmdline *cl, const char *word);
static int parse_cmdline(struct cmdline *cl, size_t n, char *const words[], const char *prefix,
                         char *err, size_t errlen);
static int apply_cmdline(struct config *cfg, const struct cmdline *cl, const char *prefix,
                         char *err, size_t errlen);
static void cmdline_free(struct cmdline *cl);
static const char *find_config_path(const struct cmdline *cl);
static void print_value(const struct config *cfg, const struct setting *s, FILE *f);
static void usage_row(const struct setting *s, const char *flag, int width, FILE *f);
static int usage_left(const struct setting *s, const char *flag, char *buf, size_t len);

/* ---------------------------------------------------------------- the API */

enum config_action config_load(struct config *cfg, int argc, char *const argv[], char *err,
                               size_t errlen)
{
	struct cmdline env = {0}, cli = {0};
	char **words = NULL;
	size_t nwords = 0;
	const char *path;
	struct stat st;
	enum config_action rc = CONFIG_ERROR;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	/* Syntax first: a bad flag anywhere fails before any file is read. */
	if (split_words(getenv("KIRIN_CMD_ARGS"), &words, &nwords, err, errlen) < 0)
		goto out;
	if (parse_cmdline(&cli, argc > 1 ? (size_t)argc - 1 : 0, argv + (argc > 0), "", err,
	                  errlen) < 0)
		goto out;
	if (cli.action != CONFIG_RUN) {
		rc = cli.action;
		goto out;
	}
	if (parse_cmdline(&env, nwords, words, "KIRIN_CMD_ARGS: ", err, errlen) < 0)
		goto out;
	if (env.action != CONFIG_RUN) {
		rc = env.action;
		goto out;
	}

	if (load_defaults(cfg, err, errlen) < 0)
		goto out;
	path = find_config_path(&cli);
	if (!path)
		path = find_config_path(&env);
	if (path) {
		if (load_ini(cfg, path, err, errlen) < 0)
			goto out;
	} else if (stat("kirin.ini", &st) == 0) {
		if (load_ini(cfg, "kirin.ini", err, errlen) < 0)
			goto out;
	}
	if (apply_cmdline(cfg, &env, "KIRIN_CMD_ARGS: ", err, errlen) < 0)
		goto out;
	if (apply_cmdline(cfg, &cli, "", err, errlen) < 0)
		goto out;
	rc = CONFIG_RUN;
out:
	cmdline_free(&env);
	cmdline_free(&cli);
	for (size_t i = 0; i < nwords; i++)
		free(words[i]);
	free(words);
	if (rc != CONFIG_RUN)
		config_free(cfg);
	return rc;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->extra_arg) {
		snprintf(err, errlen,
		         "unexpected argument '%s' (APP_MODULE is '%s'; only one "
		         "is allowed)",
		         cfg->extra_arg, cfg->app_module);
		return -1;
	}
	if (!cfg->app_module && !cfg->print_config) {
		snprintf(err, errlen, "no APP_MODULE given; usage: kirin [OPTIONS] APP_MODULE");
		return -1;
	}
	if (cfg->app_module && (cfg->app_module[0] == '\0' || cfg->app_module[0] == ':')) {
		snprintf(err, errlen, "invalid APP_MODULE '%s' (expected module:callable)",
		         cfg->app_module);
		return -1;
	}
	if (!cfg->worker_class) {
		snprintf(err, errlen, "no worker class set");
		return -1;
	}
	if (!worker_type_find(cfg->worker_class, cfg->threads)) {
		snprintf(err, errlen, "unknown worker class '%s'", cfg->worker_class);
		return -1;
	}
	if (cfg->bind.n == 0) {
		snprintf(err, errlen, "no address to bind (the bind setting is empty)");
		return -1;
	}
	return 0;
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
	fprintf(f, "usage: kirin [OPTIONS] APP_MODULE\n\n"
	           "Serve the WSGI application APP_MODULE (module:callable) with a prefork "
	           "arbiter and workers.\n\n"
	           "options:\n");
	for (size_t t = 0; t < 2; t++)
		for (const struct setting *s = tables[t]; s->name; s++) {
			usage_row(s, s->long_flag, width, f);
			if (s->alias)
				usage_row(s, s->alias, width, f);
		}
	fprintf(f,
	        "\nSettings are read from the defaults, then the INI file (-c FILE or "
	        "./kirin.ini), then\nKIRIN_CMD_ARGS, then the command line. "
	        "kirin %s; see kirin(1) and kirin.ini(5).\n",
	        PACKAGE_VERSION);
}

void config_print(const struct config *cfg, FILE *f)
{
	fprintf(f, "[kirin]\n");
	for (const struct setting *s = config_settings; s->name; s++)
		if (!s->cli_only)
			print_value(cfg, s, f);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (const struct setting *s = config_settings; s->name; s++) {
		switch (s->type) {
		case SETTING_STRING:
		case SETTING_CHOICE:
			free(*FIELD(cfg, s, char *));
			break;
		case SETTING_LIST:
			list_clear(FIELD(cfg, s, struct strlist));
			break;
		default:
			break;
		}
	}
	free(cfg->app_module);
	free(cfg->extra_arg);
	memset(cfg, 0, sizeof(*cfg));
}

void config_export_env(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->raw_env.n; i++) {
		const char *kv = cfg->raw_env.v[i];
		const char *eq = strchr(kv, '=');
		char *key;

		if (!eq)
			continue; /* refused when loading (check_keyval) */
		key = dup_range(kv, (size_t)(eq - kv));
		setenv(key, eq + 1, 1);
		free(key);
	}
}

const struct setting *config_find(const char *name)
{
	for (const struct setting *s = config_settings; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

const char *config_worker_class(const struct config *cfg)
{
	const struct worker_type *t = worker_type_find(cfg->worker_class, cfg->threads);

	return t ? t->name : cfg->worker_class;
}

/* ---------------------------------------------------------------- helpers */

/* Out of memory while parsing settings is not recoverable: abort. */
static void *xalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

static char *dup_range(const char *s, size_t n)
{
	char *p = xalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *dup_str(const char *s)
{
	return s ? dup_range(s, strlen(s)) : NULL;
}

static void list_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void list_push(struct strlist *l, const char *s, size_t n)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		abort();
	l->v = v;
	l->v[l->n++] = dup_range(s, n);
}

static size_t row_index(const struct setting *s)
{
	size_t i = (size_t)(s - config_settings);

	assert(i < MAX_ROWS);
	return i;
}

static bool is_info_row(const struct setting *s)
{
	for (const struct setting *r = config_info_rows; r->name; r++)
		if (r == s)
			return true;
	return false;
}

/* Edit distance, for "did you mean" hints; names are short. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

/* The closest INI key (flags false) or long flag (true), or NULL if none is close. */
static const char *suggest(const char *name, bool flags)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (const struct setting *s = config_settings; s->name; s++) {
		const char *cand = flags ? s->long_flag : s->name;
		size_t d;

		if (!flags && s->cli_only)
			continue;
		d = distance(name, cand);
		if (d < bestd) {
			bestd = d;
			best = cand;
		}
	}
	return best;
}

/* A decimal integer, surrounding blanks allowed. 0, -1 not a number, -2 out of range. */
static int parse_long(const char *text, long *out)
{
	char *end;

	while (isspace((unsigned char)*text))
		text++;
	if (!*text)
		return -1;
	errno = 0;
	*out = strtol(text, &end, 10);
	if (end == text)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	return errno == ERANGE ? -2 : 0;
}

static int parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

/*
 * Does the text after a comma in a raw_env value start a new KEY=? (So that
 * "A=1,2, B=3" is A=1,2 and B=3.)
 */
static bool starts_keyval(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	if (!(isalpha((unsigned char)*p) || *p == '_'))
		return false;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	return *p == '=';
}

/*
 * Put a list value into l: replacing it, or appending when this layer has
 * already set it. The value is split on commas unless it comes from a
 * command-line flag that takes one item; items are trimmed and empty ones
 * skipped. Checks every item before changing l.
 */
static int set_list(struct strlist *l, const struct setting *s, const char *value, enum source src,
                    bool append, char *why, size_t whylen)
{
	struct strlist items = {0};
	bool split = src != FROM_CLI || s->cli_commas;
	const char *p = value;

	while (*p) {
		const char *end = p, *b, *e;

		if (split) {
			for (end = strchr(p, ','); end; end = strchr(end + 1, ','))
				if (!s->keyval || starts_keyval(end + 1))
					break;
			if (!end)
				end = p + strlen(p);
		} else {
			end = p + strlen(p);
		}
		for (b = p; b < end && isspace((unsigned char)*b); b++)
			;
		for (e = end; e > b && isspace((unsigned char)e[-1]); e--)
			;
		if (e > b)
			list_push(&items, b, (size_t)(e - b));
		p = *end ? end + 1 : end;
	}
	for (size_t i = 0; s->check && i < items.n; i++) {
		if (s->check(items.v[i], why, whylen) < 0) {
			list_clear(&items);
			return -1;
		}
	}
	if (!append)
		list_clear(l);
	for (size_t i = 0; i < items.n; i++) {
		list_push(l, items.v[i], strlen(items.v[i]));
	}
	list_clear(&items);
	return 0;
}

/*
 * Store one value of row s in cfg. value is NULL for a bare command-line
 * flag (a bool set to true). Returns 0, or -1 with the reason in why and cfg
 * unchanged.
 */
static int set_value(struct config *cfg, const struct setting *s, const char *value,
                     enum source src, bool append, char *why, size_t whylen)
{
	long v;
	int rc;

	switch (s->type) {
	case SETTING_INT:
	case SETTING_LONG:
		rc = parse_long(value, &v);
		if (rc == -1) {
			snprintf(why, whylen, "expected an integer");
			return -1;
		}
		if (rc == -2) {
			snprintf(why, whylen, "out of range");
			return -1;
		}
		if (s->clamp && s->clamp(v, &v) < 0) {
			snprintf(why, whylen, "out of range");
			return -1;
		}
		if (v < s->min || v > s->max) {
			bool unbounded = s->max == INT_MAX || s->max == LONG_MAX;
			if (unbounded && v < s->min)
				snprintf(why, whylen, "must be at least %ld", s->min);
			else if (unbounded)
				snprintf(why, whylen, "must be at most %ld", s->max);
			else
				snprintf(why, whylen, "must be between %ld and %ld", s->min,
				         s->max);
			return -1;
		}
		if (s->type == SETTING_INT)
			*FIELD(cfg, s, int) = (int)v;
		else
			*FIELD(cfg, s, long) = v;
		return 0;
	case SETTING_BOOL:
		if (!value) {
			*FIELD(cfg, s, bool) = true;
			return 0;
		}
		if (parse_bool(value, FIELD(cfg, s, bool)) < 0) {
			snprintf(why, whylen, "expected true or false");
			return -1;
		}
		return 0;
	case SETTING_STRING:
		if (value[0] && s->check && s->check(value, why, whylen) < 0)
			return -1;
		free(*FIELD(cfg, s, char *));
		/* An empty value unsets: "chdir =" in a printed config is NULL. */
		*FIELD(cfg, s, char *) = value[0] ? dup_str(value) : NULL;
		return 0;
	case SETTING_CHOICE:
		for (size_t i = 0; config_choice(s, i); i++) {
			if (strcasecmp(config_choice(s, i), value) == 0) {
				free(*FIELD(cfg, s, char *));
				*FIELD(cfg, s, char *) = dup_str(config_choice(s, i));
				return 0;
			}
		}
		rc = snprintf(why, whylen, "expected one of:");
		for (size_t i = 0; config_choice(s, i) && rc >= 0 && (size_t)rc < whylen; i++)
			rc += snprintf(why + rc, whylen - (size_t)rc, "%s %s", i ? "," : "",
			               config_choice(s, i));
		return -1;
	case SETTING_LIST:
		return set_list(FIELD(cfg, s, struct strlist), s, value, src, append, why, whylen);
	}
	return -1;
}

static void value_error(char *err, size_t errlen, const char *prefix, const char *name,
                        const char *value, const char *why)
{
	snprintf(err, errlen, "%sinvalid value for %s: '%s' (%s)", prefix, name, value, why);
}

/* The table's defaults, with WEB_CONCURRENCY and PORT as Gunicorn reads them. */
static int load_defaults(struct config *cfg, char *err, size_t errlen)
{
	const char *wc = getenv("WEB_CONCURRENCY"), *port = getenv("PORT");
	char why[256], bind[300];

	for (const struct setting *s = config_settings; s->name; s++) {
		const char *def = config_default(s), *name = s->name;

		if (strcmp(s->name, "workers") == 0 && wc && *wc) {
			def = wc;
			name = "WEB_CONCURRENCY";
		} else if (strcmp(s->name, "bind") == 0 && port && *port) {
			snprintf(bind, sizeof(bind), "0.0.0.0:%s", port);
			def = bind;
			name = "PORT";
		}
		if (!def)
			continue;
		if (set_value(cfg, s, def, FROM_DEFAULT, false, why, sizeof(why)) < 0) {
			value_error(err, errlen, "", name, def, why);
			return -1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- INI */

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
	char why[256];

	if (st->errline)
		return 0;
	if (section[0] == '\0') {
		snprintf(st->why, sizeof(st->why), "'%s' is outside the [kirin] section", name);
	} else if (!s || s->cli_only) {
		const char *hint = suggest(name, false);
		if (s)
			snprintf(st->why, sizeof(st->why),
			         "unknown setting '%s' (it is a command-line option only)", name);
		else if (hint)
			snprintf(st->why, sizeof(st->why),
			         "unknown setting '%s' (did you mean '%s'?)", name, hint);
		else
			snprintf(st->why, sizeof(st->why), "unknown setting '%s'", name);
	} else if (set_value(st->cfg, s, value, FROM_INI, st->seen[row_index(s)], why,
	                     sizeof(why)) < 0) {
		value_error(st->why, sizeof(st->why), "", name, value, why);
	} else {
		st->seen[row_index(s)] = true;
		return 1;
	}
	st->errline = st->lineno;
	return 0;
}

/*
 * Read one INI file over cfg. Settings it names replace the lower layer's
 * (lists too; a key repeated in the file appends). Errors name the file and
 * line.
 */
static int load_ini(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct ini_state st = {.cfg = cfg, .path = path};
	struct stat sb;
	int rc, line;

	if (stat(path, &sb) < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "config file '%s' not found", path);
		else
			snprintf(err, errlen, "cannot read config file '%s': %s", path,
			         strerror(errno));
		return -1;
	}
	if (S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "config file '%s' is a directory", path);
		return -1;
	}
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
	return -1;
}

/* ---------------------------------------------------------------- command lines */

/*
 * Split s into words as a POSIX shell would, without expansion: blanks
 * separate, '...' is literal, "..." honours \\ \" \$ \` and backslash-newline,
 * a bare backslash quotes the next character. NULL or blank gives no words.
 */
static int split_words(const char *s, char ***words, size_t *n, char *err, size_t errlen)
{
	struct strlist l = {0};
	char *buf;
	const char *p = s;

	*words = NULL;
	*n = 0;
	if (!s)
		return 0;
	buf = xalloc(strlen(s) + 1);
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
					snprintf(
					    err, errlen,
					    "KIRIN_CMD_ARGS: backslash at the end of the value");
					goto fail;
				}
				if (p[1] != '\n')
					buf[len++] = p[1];
				p += 2;
			} else {
				buf[len++] = *p++;
			}
		}
		list_push(&l, buf, len);
	}
	free(buf);
	*words = l.v;
	*n = l.n;
	return 0;
unterminated:
	snprintf(err, errlen, "KIRIN_CMD_ARGS: unterminated quote");
fail:
	free(buf);
	list_clear(&l);
	return -1;
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
	char other[64] = "";

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
		char *flag = xalloc(len + 3);
		const char *hint;

		snprintf(flag, len + 3, "--%.*s", (int)len, name);
		hint = suggest(flag, true);
		if (hint)
			snprintf(err, errlen, "%sunrecognized option '%s' (did you mean '%s'?)",
			         prefix, flag, hint);
		else
			snprintf(err, errlen, "%sunrecognized option '%s'", prefix, flag);
		free(flag);
	}
	return found;
}

static void cmdline_push(struct cmdline *cl, const struct setting *s, const char *value)
{
	struct arg *v = realloc(cl->args, (cl->nargs + 1) * sizeof(*v));

	if (!v)
		abort();
	cl->args = v;
	cl->args[cl->nargs++] = (struct arg){.s = s, .value = value};
}

static void pos_push(struct cmdline *cl, const char *word)
{
	const char **v = realloc(cl->pos, (cl->npos + 1) * sizeof(*v));

	if (!v)
		abort();
	cl->pos = v;
	cl->pos[cl->npos++] = word;
}

/*
 * The syntax pass, GNU style: -w 3, -w3, --workers 3, --workers=3, bundled
 * short flags (-Dw3), options after positionals, "--" ends options. Stops at
 * --help or --version (cl->action). Values are checked later, by
 * apply_cmdline().
 */
static int parse_cmdline(struct cmdline *cl, size_t n, char *const words[], const char *prefix,
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

/*
 * Apply a parsed command line over cfg: a list it names replaces the lower
 * layer's list, and a repeated flag appends. Its positionals, if any, replace
 * APP_MODULE.
 */
static int apply_cmdline(struct config *cfg, const struct cmdline *cl, const char *prefix,
                         char *err, size_t errlen)
{
	bool seen[MAX_ROWS] = {false};
	char why[256];

	for (size_t i = 0; i < cl->nargs; i++) {
		const struct setting *s = cl->args[i].s;
		size_t k = row_index(s);

		if (set_value(cfg, s, cl->args[i].value, FROM_CLI, seen[k], why, sizeof(why)) < 0) {
			value_error(err, errlen, prefix, s->long_flag, cl->args[i].value, why);
			return -1;
		}
		seen[k] = true;
	}
	if (cl->npos) {
		free(cfg->app_module);
		free(cfg->extra_arg);
		cfg->app_module = dup_str(cl->pos[0]);
		cfg->extra_arg = cl->npos > 1 ? dup_str(cl->pos[1]) : NULL;
	}
	return 0;
}

static void cmdline_free(struct cmdline *cl)
{
	free(cl->args);
	free(cl->pos);
	memset(cl, 0, sizeof(*cl));
}

/* The last -c FILE on a command line, or NULL. */
static const char *find_config_path(const struct cmdline *cl)
{
	const char *path = NULL;

	for (size_t i = 0; i < cl->nargs; i++)
		if (cl->args[i].s->offset == offsetof(struct config, config) &&
		    cl->args[i].s->type == SETTING_STRING && cl->args[i].s->cli_only)
			path = cl->args[i].value;
	return path;
}

/* ---------------------------------------------------------------- output */

/*
 * One "key = value" line; a list is comma-joined when that reads back the
 * same and fits a line, else one line per item. An unset string or empty
 * list prints "key =", which reads back as unset.
 */
static void print_value(const struct config *cfg, const struct setting *s, FILE *f)
{
	const struct strlist *l;
	size_t total = 0;
	bool join = true;

	switch (s->type) {
	case SETTING_INT:
		fprintf(f, "%s = %d\n", s->name, *FIELD(cfg, s, int));
		return;
	case SETTING_LONG:
		fprintf(f, "%s = %ld\n", s->name, *FIELD(cfg, s, long));
		return;
	case SETTING_BOOL:
		fprintf(f, "%s = %s\n", s->name, *FIELD(cfg, s, bool) ? "true" : "false");
		return;
	case SETTING_STRING:
	case SETTING_CHOICE:
		if (*FIELD(cfg, s, char *))
			fprintf(f, "%s = %s\n", s->name, *FIELD(cfg, s, char *));
		else
			fprintf(f, "%s =\n", s->name);
		return;
	case SETTING_LIST:
		break;
	}
	l = FIELD(cfg, s, struct strlist);
	if (l->n == 0) {
		fprintf(f, "%s =\n", s->name);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		total += strlen(l->v[i]) + 2;
		if (strchr(l->v[i], ','))
			join = false;
	}
	if (join && total + strlen(s->name) + 3 <= MAX_PRINT_LINE) {
		fprintf(f, "%s = ", s->name);
		for (size_t i = 0; i < l->n; i++)
			fprintf(f, "%s%s", i ? ", " : "", l->v[i]);
		fputc('\n', f);
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s = %s\n", s->name, l->v[i]);
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
