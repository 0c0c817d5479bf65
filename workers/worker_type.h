/*
 * worker_type — the table of worker types: for each, its name, the other
 * spellings of -k that select it (Gunicorn's class names), its `kirin`
 * module backend, what runs before the app is imported, and the loop that
 * serves. Worker-type names are spelled here and nowhere else; a new worker
 * type is one file with its run() and one row in worker_type.c.
 *
 * Read in workers (worker_main runs the row, interp_init its hook) and in
 * the arbiter, which checks -k against the same table when it loads its
 * settings (the arbiter includes this header for that and nothing else; it
 * needs no Python to do so). Constant data: no state, no allocation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct kirin_backend;
struct worker;
/* Python's object type, as Python.h declares it, without Python.h. */
typedef struct _object PyObject;

struct worker_type {
	const char *name;       /* what -k, the logs and the docs call it */
	const char *aliases[6]; /* Gunicorn's spellings of -k for it, NULL after the last */
	/* With --threads above 1, this type serves instead (sync: gthread); or NULL. */
	const struct worker_type *threaded;
	/* The `kirin` module's backend; NULL: the blocking one. */
	const struct kirin_backend *(*backend)(void);
	/* In the arbiter, before it forks workers of this type (interp_warm):
	 * import what before_import needs, without running it, so that every
	 * worker inherits the modules (gevent's); NULL: nothing. 0, or -1 with
	 * a Python exception set (the workers then say what is wrong). */
	int (*preimport)(void);
	/* Run once the interpreter is up, before the app is imported (gevent's
	 * monkey-patch), in the worker or, with --preload or --check-config, in
	 * the arbiter; NULL: nothing. 0, or -1 after logging why. */
	int (*before_import)(void);
	/* Serves ASGI apps; the other types refuse one at boot (asgi_detect). */
	bool asgi;
	/* Serve `app` (borrowed) until stopped; a worker exit code (channel.h). */
	int (*run)(struct worker *w, PyObject *app);
};

/*
 * The worker type -k `spelling` selects: a name or an alias, compared
 * without regard to case; NULL spelling is the default type. With `threads`
 * above 1 a type that has a threaded variant gives that (-k sync --threads 4
 * is gthread, as in Gunicorn). Returns a row of the table (static storage),
 * or NULL when no type is spelled so. Any process, any thread.
 */
const struct worker_type *worker_type_find(const char *spelling, int threads);

/*
 * The i-th spelling -k accepts, in the order --help lists them: every
 * type's name (the first is the default), then every alias. NULL past the
 * last. Static storage; any process.
 */
const char *worker_type_spelling(size_t i);
