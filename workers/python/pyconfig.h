/*
 * pyconfig — a Gunicorn-style Python configuration file (gunicorn.conf.py,
 * -c FILE.py, -c python:module) executed by this process's interpreter, its
 * module-level names handed back as plain C values for the settings layer
 * (arbiter/config_py.c) to validate; and a worker class given by its Python
 * path (-k myproject.workers.MyWorker), imported to find which known worker
 * class it derives from and its CONFIG_KWARGS (arbiter/config_class.c).
 *
 * Runs in the arbiter, at start and on HUP, before any worker exists: the
 * first call starts the interpreter (interp_start), which then stays, so the
 * workers fork from an arbiter whose Python state the file made, as with
 * Gunicorn. Knows nothing of the settings table; a file that raises or does
 * not parse is one line in err and its traceback in the error log.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "arbiter/config.h"

/* What a module-level value is, as far as settings care. */
enum pyvalue_kind {
	PYVALUE_NONE,  /* None */
	PYVALUE_BOOL,  /* text is "true" or "false" */
	PYVALUE_INT,   /* text is the decimal value */
	PYVALUE_STR,   /* text is the string, stripped as Gunicorn's validators do */
	PYVALUE_LIST,  /* a list or tuple of strings: items, each stripped */
	PYVALUE_DICT,  /* a dict of strings (keys without '='): items KEY=VALUE, each
			  side stripped */
	PYVALUE_OTHER, /* anything else: text is a short repr, type_name what it is */
};

struct pyvalue {
	char *name;
	enum pyvalue_kind kind;
	char *text;           /* the value; a short repr for NONE, LIST and OTHER */
	struct strlist items; /* LIST only */
	char *type_name;      /* "float", "list of int", ...: for messages */
};

/* The names a configuration file defined, in definition order. */
struct pyconfig {
	struct pyvalue *v;
	size_t n;
};

/*
 * Is location a Python configuration rather than an INI file: "python:MOD",
 * "file:PATH" (Gunicorn's prefixes) or a path ending in ".py"?
 */
bool pyconfig_is_python(const char *location);

/* The file a location names (after "file:"), or NULL for "python:MODULE". */
const char *pyconfig_path(const char *location);

/*
 * Execute location (a path, "file:PATH" or "python:MODULE", the module found
 * on sys.path with the current directory first; a file the caller has
 * checked is readable) in a fresh module, as
 * Gunicorn does, and fill out with its public module-level names (those not
 * starting with '_'). Starts the interpreter if this process has none yet.
 * Returns 0, or -1 with a one-line message in err (the traceback of an
 * exception is logged at error level) and out empty. Arbiter only; holds the
 * GIL from then on.
 */
int pyconfig_read(const char *location, struct pyconfig *out, char *err, size_t errlen);

/* A worker class named by its Python path, as pyconfig_worker_class() found it. */
struct pyworker_class {
	char *base;             /* the first of `known` in its __mro__ */
	bool has_kwargs;        /* it has CONFIG_KWARGS, a dict: kwargs holds its items */
	struct pyconfig kwargs; /* CONFIG_KWARGS's items, name and value as a file's names */
	char *kwargs_type;      /* CONFIG_KWARGS is not a dict: the name of its type; else NULL */
};

/*
 * Import the worker class at path ("package.module.Class") as Gunicorn's
 * load_class: the module, then the class attribute, with the directories
 * dirs (NULL-terminated) first on sys.path for the import only, then the
 * site-packages of the virtualenv at venv (an absolute path, or NULL), as
 * a worker's sys.path will have them (interp.h). Walk its
 * __mro__ for the first class that is one of known (NULL-terminated class
 * paths): spelled so as "module.qualname", or the object known's module
 * holds under that name when the module is imported (a re-export). Starts
 * the interpreter if this process has none yet; the module stays imported
 * (workers inherit it). Returns 0 with out filled (the caller frees it with
 * pyconfig_worker_class_free), or -1 with a one-line message in err naming
 * the class and why (not found, not a class, no known base, raised: the
 * traceback is logged at error level). Arbiter only.
 */
int pyconfig_worker_class(const char *path, const char *const *dirs, const char *venv,
                          const char *const *known, struct pyworker_class *out, char *err,
                          size_t errlen);

/* Free what pyconfig_worker_class() filled; zeroes wc. */
void pyconfig_worker_class_free(struct pyworker_class *wc);

/*
 * The settings come from no Python file (any more): drop the module the
 * last pyconfig_read() left as sys.modules['__config__'] (hooks.h takes its
 * hooks from there). Nothing when this process runs no Python.
 */
void pyconfig_forget(void);

/* Free what pyconfig_read() filled; zeroes pc. */
void pyconfig_free(struct pyconfig *pc);
