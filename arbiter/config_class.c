/*
 * config_class — a worker class given by its Python path (-k
 * myproject.workers.MyUvicornWorker): imported in the arbiter
 * (workers/python/pyconfig.h) to find the known worker class it derives
 * from, which then serves it, and, for a uvicorn subclass, its
 * CONFIG_KWARGS turned into settings. See config_parts.h.
 */
#include "arbiter/config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arbiter/config_parts.h"
#include "workers/python/pyconfig.h"
#include "workers/worker_type.h"

#define MAX_KNOWN 64 /* bound on the dotted spellings of the worker-type table */

/*
 * uvicorn's Config keywords kirin honours: those with a setting of kirin's
 * (its values are the row's: its choices, or an int), and those whose
 * uvicorn implementations kirin's C code replaces (values: the names
 * uvicorn takes, an info line says what serves instead).
 */
struct kwarg {
	const char *key;
	const char *setting;       /* kirin's row, or NULL */
	const char *const *values; /* setting NULL: the names uvicorn takes */
	const char *served_by;     /* setting NULL: what serves instead */
};

static const char *const http_impls[] = {"auto", "h11", "httptools", NULL};
/* "none" turns uvicorn's WebSocket off, which kirin's cannot be: a warning. */
static const char *const ws_impls[] = {"auto", "none", "websockets", "wsproto", "websockets-sansio",
                                       NULL};

static const struct kwarg kwargs[] = {
    {.key = "loop", .setting = "asgi_loop"},
    {.key = "lifespan", .setting = "asgi_lifespan"},
    /* uvicorn's Gunicorn worker passes --keep-alive as this: the same seconds. */
    {.key = "timeout_keep_alive", .setting = "keepalive"},
    {.key = "http", .values = http_impls, .served_by = "kirin's C HTTP/1.1"},
    {.key = "ws", .values = ws_impls, .served_by = "kirin's C WebSocket"},
};

static char *search_dirs(const struct config *cfg, char ***dirs);
static char *joined(const char *base, const char *path);
static void known_classes(const char **known);
static int apply_kwargs(struct config *cfg, const struct pyconfig *kw, char *err, size_t errlen);
static int apply_one(struct config *cfg, const struct kwarg *k, const struct pyvalue *v, char *err,
                     size_t errlen);
static bool one_of(const char *const *values, const char *s);
static void note(struct strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int config_class_resolve(struct config *cfg, char *err, size_t errlen)
{
	const char *known[MAX_KNOWN + 1];
	const struct worker_type *type;
	struct pyworker_class wc;
	char **dirs, *venv;
	bool asgi;
	int rc;

	if (!cfg->worker_class || worker_type_find(cfg->worker_class, 1))
		return 0;
	venv = search_dirs(cfg, &dirs);
	known_classes(known);
	rc = pyconfig_worker_class(cfg->worker_class, (const char *const *)dirs, venv, known, &wc,
	                           err, errlen);
	for (size_t i = 0; dirs[i]; i++)
		free(dirs[i]);
	free(dirs);
	free(venv);
	if (rc < 0) {
		size_t n = strlen(err);
		const char *sep = "; kirin serves subclasses of: ";

		for (size_t i = 0; known[i] && n + 3 < errlen; i++, sep = ", ")
			n += (size_t)snprintf(err + n, errlen - n, "%s%s", sep, known[i]);
		return -1;
	}
	cfg->worker_subclass = cfg->worker_class;
	cfg->worker_class = config_strdup(wc.base);
	type = worker_type_find(wc.base, cfg->threads); /* sync with --threads 2 is gthread */
	asgi = type->asgi;
	note(&cfg->infos,
	     "worker class %s, a subclass of %s: kirin's %s worker serves it (the class's own "
	     "Python methods are not called: kirin's C worker replaces them)",
	     cfg->worker_subclass, wc.base, type->name);
	rc = 0;
	/* CONFIG_KWARGS is uvicorn's: Gunicorn's own worker classes have none. */
	if (asgi && wc.kwargs_type) {
		snprintf(err, errlen, "worker class '%s': CONFIG_KWARGS is a %s, not a dict",
		         cfg->worker_subclass, wc.kwargs_type);
		rc = -1;
	} else if (asgi && wc.has_kwargs) {
		rc = apply_kwargs(cfg, &wc.kwargs, err, errlen);
	}
	pyconfig_worker_class_free(&wc);
	return rc;
}

/*
 * Where the class is imported from, as the app: each --pythonpath entry
 * (relative to --chdir), then --chdir (relative to here), or here: a
 * NULL-terminated array of new strings in dirs. Returns the virtualenv
 * (--virtualenv, relative to --chdir, or $VIRTUAL_ENV) as a new absolute
 * path, or NULL for none.
 */
static char *search_dirs(const struct config *cfg, char ***dirs)
{
	const char *venv = cfg->virtualenv ? cfg->virtualenv : getenv("VIRTUAL_ENV");
	char cwd[PATH_MAX], *base;
	size_t n = 0;

	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), ".");
	base = cfg->chdir ? joined(cwd, cfg->chdir) : config_strdup(cwd);
	*dirs = config_alloc((cfg->pythonpath.n + 2) * sizeof(char *));
	for (size_t i = 0; i < cfg->pythonpath.n; i++)
		(*dirs)[n++] = joined(base, cfg->pythonpath.v[i]);
	(*dirs)[n++] = base;
	(*dirs)[n] = NULL;
	return venv && venv[0] ? joined(base, venv) : NULL;
}

/* path, relative to the directory base unless absolute: a new string. */
static char *joined(const char *base, const char *path)
{
	char *p = config_alloc(strlen(base) + strlen(path) + 2);

	if (path[0] == '/')
		strcpy(p, path);
	else
		sprintf(p, "%s/%s", base, path);
	return p;
}

/* The worker-type table's class paths (its dotted spellings), NULL-terminated. */
static void known_classes(const char **known)
{
	size_t n = 0;
	const char *s;

	for (size_t i = 0; (s = worker_type_spelling(i)) && n < MAX_KNOWN; i++)
		if (strchr(s, '.') && !strchr(s, ':'))
			known[n++] = s;
	known[n] = NULL;
}

/* A uvicorn subclass's CONFIG_KWARGS (kw) over cfg, item by item. 0, or -1 with err. */
static int apply_kwargs(struct config *cfg, const struct pyconfig *kw, char *err, size_t errlen)
{
	for (size_t i = 0; i < kw->n; i++) {
		const struct kwarg *k = NULL;

		for (size_t j = 0; j < sizeof(kwargs) / sizeof(kwargs[0]); j++)
			if (strcmp(kwargs[j].key, kw->v[i].name) == 0)
				k = &kwargs[j];
		if (!k)
			note(&cfg->notes,
			     "worker class %s: CONFIG_KWARGS '%s' is not applied (kirin has no "
			     "such setting)",
			     cfg->worker_subclass, kw->v[i].name);
		else if (apply_one(cfg, k, &kw->v[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

/*
 * One CONFIG_KWARGS item v, known as k: checked, then stored unless a
 * config file or a command line gave the setting (that value wins: a
 * warning when the two differ). 0, or -1 with err.
 */
static int apply_one(struct config *cfg, const struct kwarg *k, const struct pyvalue *v, char *err,
                     size_t errlen)
{
	const struct setting *s = k->setting ? config_find(k->setting) : NULL;
	const char *text = v->text ? v->text : "";
	char why[512], given[32], shown[300];
	struct config scratch = {0};
	const char *now;
	int rc;

	/* The value as the class spells it: a string quoted. */
	snprintf(shown, sizeof(shown), v->kind == PYVALUE_STR ? "'%s'" : "%s", text);

	if (!s) {
		if (v->kind != PYVALUE_STR || !one_of(k->values, text))
			goto bad;
		if (strcmp(k->key, "ws") == 0 && strcmp(text, "none") == 0)
			note(&cfg->notes,
			     "worker class %s: CONFIG_KWARGS ws='none' is not applied: %s stays "
			     "on (an app that does not accept a WebSocket refuses it)",
			     cfg->worker_subclass, k->served_by);
		else
			note(&cfg->infos, "worker class %s: CONFIG_KWARGS %s=%s: %s serves instead",
			     cfg->worker_subclass, k->key, shown, k->served_by);
		return 0;
	}
	if (s->type == SETTING_CHOICE ? v->kind != PYVALUE_STR : v->kind != PYVALUE_INT)
		goto bad;
	/* Checked as the setting's own value would be, on a scratch config. */
	rc = config_set_value(&scratch, s, text, FROM_DEFAULT, false, why, sizeof(why));
	config_free(&scratch);
	if (rc < 0) {
		snprintf(err, errlen, "worker class '%s': invalid CONFIG_KWARGS %s=%s for %s (%s)",
		         cfg->worker_subclass, k->key, shown, s->long_flag, why);
		return -1;
	}
	if (!config_given(cfg, s->name))
		return config_set_value(cfg, s, text, FROM_DEFAULT, false, err, errlen);
	if (s->type == SETTING_CHOICE) {
		now = *(char **)(void *)((char *)cfg + s->offset);
	} else {
		snprintf(given, sizeof(given), "%d", *(int *)(void *)((char *)cfg + s->offset));
		now = given;
	}
	if (!now || strcasecmp(now, text) != 0)
		note(&cfg->notes,
		     "worker class %s: CONFIG_KWARGS %s=%s is not applied: %s is given as %s, "
		     "and a given setting wins over the class",
		     cfg->worker_subclass, k->key, shown, s->long_flag, now ? now : "(unset)");
	return 0;
bad:
	if (!s) {
		size_t n = 0;
		for (size_t i = 0; k->values[i] && n < sizeof(why); i++)
			n += (size_t)snprintf(why + n, sizeof(why) - n, "%s%s", i ? ", " : "",
			                      k->values[i]);
	}
	snprintf(err, errlen, "worker class '%s': invalid CONFIG_KWARGS %s=%s (expected %s%s)",
	         cfg->worker_subclass, k->key, shown,
	         !s                          ? "one of: "
	         : s->type == SETTING_CHOICE ? "a string"
	                                     : "an integer number of seconds",
	         !s ? why : "");
	return -1;
}

/* Whether s is one of the NULL-terminated values. */
static bool one_of(const char *const *values, const char *s)
{
	for (size_t i = 0; values[i]; i++)
		if (strcmp(values[i], s) == 0)
			return true;
	return false;
}

/* Append one formatted line to l. */
static void note(struct strlist *l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	config_list_push(l, line, strlen(line));
}
