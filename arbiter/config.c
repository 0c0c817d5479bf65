/*
 * config — the settings table walked for the values it holds: config_load()
 * layers the defaults, the config file (config_ini.c or config_py.c),
 * GUNICORN_CMD_ARGS, KIRIN_CMD_ARGS and the command line (config_cli.c); values are turned from text into fields here
 * and printed back (--print-config). See config.h for the contract and
 * config_parts.h for what the three files share.
 */
#include "arbiter/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arbiter/config_parts.h"
#include "arbiter/sslctx.h"


#include "workers/python/pyconfig.h"
#include "workers/worker_type.h"

#define NENV                2   /* GUNICORN_CMD_ARGS and KIRIN_CMD_ARGS */
#define DEFAULT_PY          "gunicorn.conf.py"
#define DEFAULT_INI         "kirin.ini"
#define MAX_PRINT_LINE      160 /* longer list lines are printed one item per line */
#define FIELD(cfg, s, type) ((type *)(void *)((char *)(cfg) + (s)->offset))

static size_t distance(const char *a, const char *b);
static int parse_long(const char *text, bool octal, long *out);
static int parse_bool(const char *text, bool *out);
static bool starts_keyval(const char *p);
static bool dotted_path(const char *value);
static int set_list(struct strlist *l, const struct setting *s, const char *value,
                    enum config_source src, bool append, char *why, size_t whylen);
static int set_value(struct config *cfg, const struct setting *s, const char *value,
                     enum config_source src, bool append, char *why, size_t whylen);
static int load_defaults(struct config *cfg, char *err, size_t errlen);
static int load_file(struct config *cfg, const char *path, char *err, size_t errlen);
static int check_readable(const char *path, char *err, size_t errlen);
static void print_value(const struct config *cfg, const struct setting *s, FILE *f);

/* ---------------------------------------------------------------- the API */

enum config_action config_load(struct config *cfg, int argc, char *const argv[], char *err,
                               size_t errlen)
{
	/* The command lines, lowest precedence first. */
	static const char *const env_names[NENV] = {"GUNICORN_CMD_ARGS", "KIRIN_CMD_ARGS"};
	static const char *const env_prefixes[NENV] = {"GUNICORN_CMD_ARGS: ", "KIRIN_CMD_ARGS: "};
	struct config_cmdline env[NENV] = {{0}}, cli = {0};
	char **words[NENV] = {NULL};
	size_t nwords[NENV] = {0};
	const char *path;
	enum config_action rc = CONFIG_ERROR;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	/* Syntax first: a bad flag anywhere fails before any file is read. */
	rc = CONFIG_USAGE;
	for (size_t i = 0; i < NENV; i++)
		if (config_cli_split(getenv(env_names[i]), &words[i], &nwords[i], env_prefixes[i],
		                     err, errlen) < 0)
			goto out;
	if (config_cli_parse(&cli, argc > 1 ? (size_t)argc - 1 : 0, argv + (argc > 0), "", err,
	                     errlen) < 0)
		goto out;
	if (cli.action != CONFIG_RUN) {
		rc = cli.action;
		goto out;
	}
	for (size_t i = 0; i < NENV; i++) {
		if (config_cli_parse(&env[i], nwords[i], words[i], env_prefixes[i], err, errlen) < 0)
			goto out;
		if (env[i].action != CONFIG_RUN) {
			rc = env[i].action;
			goto out;
		}
	}

	rc = CONFIG_ERROR;
	if (load_defaults(cfg, err, errlen) < 0)
		goto out;
	path = config_cli_config_path(&cli);
	for (size_t i = NENV; !path && i-- > 0;)
		path = config_cli_config_path(&env[i]);
	switch (load_file(cfg, path, err, errlen)) {
	case -2:
		rc = CONFIG_USAGE; /* a Gunicorn setting kirin refuses */
		/* fall through */
	case -1:
		goto out;
	}
	for (size_t i = 0; i < NENV; i++)
		if (config_cli_apply(cfg, &env[i], env_prefixes[i], err, errlen) < 0)
			goto out;
	if (config_cli_apply(cfg, &cli, "", err, errlen) < 0)
		goto out;
	if (config_class_resolve(cfg, err, errlen) < 0)
		goto out;
	rc = CONFIG_RUN;
out:
	for (size_t i = 0; i < NENV; i++) {
		config_cli_free(&env[i]);
		for (size_t j = 0; j < nwords[i]; j++)
			free(words[i][j]);
		free(words[i]);
	}
	config_cli_free(&cli);
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
	if (cfg->paste && cfg->app_module) {
		snprintf(err, errlen, "both --paste '%s' and APP_MODULE '%s' name the application",
		         cfg->paste, cfg->app_module);
		return -1;
	}
	if (cfg->paste) {
		/* relative to --chdir, where the workers load it */
		bool rel = cfg->chdir && cfg->paste[0] != '/';
		size_t n = (rel ? strlen(cfg->chdir) + 1 : 0) + strcspn(cfg->paste, "#");
		char *file = config_alloc(n + 1);
		struct stat st;

		snprintf(file, n + 1, "%s%s%s", rel ? cfg->chdir : "", rel ? "/" : "", cfg->paste);
		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "--paste: '%s' not found", file);
			free(file);
			return -1;
		}
		free(file);
	} else if (!cfg->app_module && !cfg->print_config) {
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

void config_print(const struct config *cfg, FILE *f)
{
	fprintf(f, "[kirin]\n");
	for (const struct setting *s = config_first(); s; s = config_next(s))
		if (!s->cli_only)
			print_value(cfg, s, f);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (const struct setting *s = config_first(); s; s = config_next(s)) {
		switch (s->type) {
		case SETTING_STRING:
		case SETTING_CHOICE:
			free(*FIELD(cfg, s, char *));
			break;
		case SETTING_LIST:
			config_list_clear(FIELD(cfg, s, struct strlist));
			break;
		default:
			break;
		}
	}
	free(cfg->app_module);
	free(cfg->extra_arg);
	free(cfg->worker_subclass);
	config_list_clear(&cfg->infos);
	sslctx_free(cfg->tls_ctx);
	config_list_clear(&cfg->notes);
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
		key = config_strndup(kv, (size_t)(eq - kv));
		setenv(key, eq + 1, 1);
		free(key);
	}
}

const struct setting *config_find(const char *name)
{
	for (const struct setting *s = config_first(); s; s = config_next(s))
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

bool config_given(const struct config *cfg, const char *name)
{
	const struct setting *s = config_find(name);

	assert(s);
	return cfg->given[config_row_index(s)];
}

const char *config_app_name(const struct config *cfg)
{
	return cfg->app_module ? cfg->app_module : cfg->paste;
}

const char *config_worker_class(const struct config *cfg)
{
	const struct worker_type *t = worker_type_find(cfg->worker_class, cfg->threads);

	return t ? t->name : cfg->worker_class;
}

/* ---------------------------------------------------------------- the table walk */

void *config_alloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

char *config_strndup(const char *s, size_t n)
{
	char *p = config_alloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *config_strdup(const char *s)
{
	return s ? config_strndup(s, strlen(s)) : NULL;
}

void config_list_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void config_list_push(struct strlist *l, const char *s, size_t n)
{
	/* Room doubles when the count reaches a power of two: a file of 100,000
	   raw_env items costs 17 reallocations, not 100,000. */
	if ((l->n & (l->n - 1)) == 0) {
		char **v = realloc(l->v, (l->n ? 2 * l->n : 1) * sizeof(*v));

		if (!v)
			abort();
		l->v = v;
	}
	l->v[l->n++] = config_strndup(s, n);
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

const char *config_suggest(const char *name, bool flags)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (const struct setting *s = config_first(); s; s = config_next(s)) {
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

/*
 * A decimal integer, surrounding blanks allowed; with octal, as Gunicorn's
 * auto_int: a leading 0 or 0o means octal, 0x hex. 0, -1 not a number,
 * -2 out of range.
 */
static int parse_long(const char *text, bool octal, long *out)
{
	char *end;
	int base = 10;

	while (isspace((unsigned char)*text))
		text++;
	if (octal && text[0] == '0' && (text[1] == 'o' || text[1] == 'O')) {
		text += 2;
		base = 8;
	} else if (octal && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
		text += 2;
		base = 16;
	} else if (octal && text[0] == '0') {
		base = 8;
	}
	if (!*text || (base != 10 && (*text == '-' || *text == '+')))
		return -1;
	errno = 0;
	*out = strtol(text, &end, base);
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
 * Does the text after a comma in a raw_env (or secure_scheme_headers) value
 * start a new KEY=, KEY being letters, digits, '_' and '-'? (So that
 * "A=1,2, B=3" is A=1,2 and B=3.)
 */
static bool starts_keyval(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	if (!(isalpha((unsigned char)*p) || *p == '_'))
		return false;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '=';
}

/*
 * Put a list value into l: replacing it, or appending when this layer has
 * already set it. The value is split on commas unless it comes from a
 * command-line flag that takes one item; items are trimmed and empty ones
 * skipped. Checks every item before changing l.
 */
static int set_list(struct strlist *l, const struct setting *s, const char *value,
                    enum config_source src, bool append, char *why, size_t whylen)
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
			config_list_push(&items, b, (size_t)(e - b));
		p = *end ? end + 1 : end;
	}
	for (size_t i = 0; s->check && i < items.n; i++) {
		if (s->check(items.v[i], why, whylen) < 0) {
			config_list_clear(&items);
			return -1;
		}
	}
	if (!append)
		config_list_clear(l);
	for (size_t i = 0; i < items.n; i++) {
		config_list_push(l, items.v[i], strlen(items.v[i]));
	}
	config_list_clear(&items);
	return 0;
}

int config_set_value(struct config *cfg, const struct setting *s, const char *value,
                     enum config_source src, bool append, char *why, size_t whylen)
{
	if (set_value(cfg, s, value, src, append, why, whylen) < 0)
		return -1;
	if (src != FROM_DEFAULT)
		cfg->given[config_row_index(s)] = true;
	return 0;
}

/* Whether value reads as "package.module.Class": identifiers joined by dots, two or more. */
static bool dotted_path(const char *value)
{
	size_t parts = 0;

	for (const char *p = value;; p++) {
		const char *start = p;

		while (*p == '_' || isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)
			p++;
		if (p == start || isdigit((unsigned char)*start))
			return false;
		parts++;
		if (*p != '.')
			return *p == '\0' && parts >= 2;
	}
}

/* config_set_value() but for the record of what was given. */
static int set_value(struct config *cfg, const struct setting *s, const char *value,
                     enum config_source src, bool append, char *why, size_t whylen)
{
	long v;
	int rc;

	switch (s->type) {
	case SETTING_INT:
	case SETTING_LONG:
		rc = parse_long(value, s->octal, &v);
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
			*FIELD(cfg, s, bool) = !s->flag_clears;
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
		*FIELD(cfg, s, char *) = value[0] ? config_strdup(value) : NULL;
		return 0;
	case SETTING_CHOICE:
		for (size_t i = 0; s->aliases && s->aliases[i]; i += 2)
			if (strcasecmp(s->aliases[i], value) == 0)
				value = s->aliases[i + 1];
		for (size_t i = 0; config_choice(s, i); i++) {
			if (strcasecmp(config_choice(s, i), value) == 0) {
				free(*FIELD(cfg, s, char *));
				*FIELD(cfg, s, char *) = config_strdup(config_choice(s, i));
				return 0;
			}
		}
		if (s->python_path && dotted_path(value)) {
			free(*FIELD(cfg, s, char *));
			*FIELD(cfg, s, char *) = config_strdup(value);
			return 0;
		}
		rc = snprintf(why, whylen, "expected one of:");
		for (size_t i = 0; config_choice(s, i) && rc >= 0 && (size_t)rc < whylen; i++)
			rc += snprintf(why + rc, whylen - (size_t)rc, "%s %s", i ? "," : "",
			               config_choice(s, i));
		if (s->python_path && rc >= 0 && (size_t)rc < whylen)
			snprintf(why + rc, whylen - (size_t)rc,
			         "; or the Python path of a subclass of one of those classes");
		return -1;
	case SETTING_LIST:
		return set_list(FIELD(cfg, s, struct strlist), s, value, src, append, why, whylen);
	}
	return -1;
}

void config_value_error(char *err, size_t errlen, const char *prefix, const char *name,
                        const char *value, const char *why)
{
	snprintf(err, errlen, "%sinvalid value for %s: '%s' (%s)", prefix, name, value, why);
}

/*
 * The table's defaults, with WEB_CONCURRENCY, PORT and FORWARDED_ALLOW_IPS
 * as Gunicorn reads them.
 */
static int load_defaults(struct config *cfg, char *err, size_t errlen)
{
	const char *wc = getenv("WEB_CONCURRENCY"), *port = getenv("PORT");
	const char *fwd = getenv("FORWARDED_ALLOW_IPS");
	char why[512], bind[300];

	for (const struct setting *s = config_first(); s; s = config_next(s)) {
		const char *def = config_default(s), *name = s->name;

		if (strcmp(s->name, "workers") == 0 && wc && *wc) {
			def = wc;
			name = "WEB_CONCURRENCY";
		} else if (strcmp(s->name, "forwarded_allow_ips") == 0 && fwd) {
			def = fwd;
			name = "FORWARDED_ALLOW_IPS";
		} else if (strcmp(s->name, "bind") == 0 && port && *port) {
			snprintf(bind, sizeof(bind), "0.0.0.0:%s", port);
			def = bind;
			name = "PORT";
		}
		if (!def)
			continue;
		if (config_set_value(cfg, s, def, FROM_DEFAULT, false, why, sizeof(why)) < 0) {
			config_value_error(err, errlen, "", name, def, why);
			return -1;
		}
	}
	return 0;
}

/*
 * The file layer: path (Python or INI by its name), or without one
 * ./gunicorn.conf.py as Gunicorn reads it, else ./kirin.ini; neither is fine.
 */
static int load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char note[200];

	if (!path && stat(DEFAULT_PY, &st) == 0) {
		if (stat(DEFAULT_INI, &st) == 0) {
			snprintf(note, sizeof(note),
			         "both ./%s and ./%s exist: using ./%s (as Gunicorn), ignoring ./%s",
			         DEFAULT_PY, DEFAULT_INI, DEFAULT_PY, DEFAULT_INI);
			config_list_push(&cfg->notes, note, strlen(note));
		}
		path = DEFAULT_PY;
	} else if (!path && stat(DEFAULT_INI, &st) == 0) {
		path = DEFAULT_INI;
	}
	if (!path || !pyconfig_is_python(path))
		pyconfig_forget(); /* a HUP without the .py: its hooks go too */
	if (!path)
		return 0;
	if (pyconfig_path(path) && check_readable(pyconfig_path(path), err, errlen) < 0)
		return -1;
	if (pyconfig_is_python(path))
		return config_py_load(cfg, path, err, errlen);
	return config_ini_load(cfg, path, err, errlen);
}

/* A config file must exist, be a file and be readable: said plainly. */
static int check_readable(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	int fd;

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
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read config file '%s': %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
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
		fprintf(f, s->octal ? "%s = 0%03o\n" : "%s = %d\n", s->name, *FIELD(cfg, s, int));
		return;
	case SETTING_LONG:
		fprintf(f, "%s = %ld\n", s->name, *FIELD(cfg, s, long));
		return;
	case SETTING_BOOL:
		fprintf(f, "%s = %s\n", s->name, *FIELD(cfg, s, bool) ? "true" : "false");
		return;
	case SETTING_STRING:
	case SETTING_CHOICE:
		if (s->python_path && cfg->worker_subclass)
			fprintf(f, "%s = %s\n", s->name, cfg->worker_subclass);
		else if (*FIELD(cfg, s, char *))
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
