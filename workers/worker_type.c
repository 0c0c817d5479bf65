/* worker_type — see worker_type.h. */
#include "workers/worker_type.h"

#include <stdbool.h>
#include <strings.h>

#include "workers/asyncio.h"
#include "workers/gevent.h"
#include "workers/greenlet.h"
#include "workers/gthread.h"
#include "workers/python/interp.h"
#include "workers/sync.h"

static bool spelled(const struct worker_type *t, const char *spelling);
static int gevent_monkey_patch(void);

/*
 * One row per worker type. The aliases are Gunicorn's: its class path, and
 * egg:gunicorn#NAME, which Gunicorn resolves through its entry point NAME in
 * the gunicorn.workers group, the same NAME as kirin's. greenlet has no
 * Gunicorn counterpart; asyncio answers to uvicorn's worker classes, which
 * Gunicorn deployments name with -k.
 */
static const struct worker_type gthread_type = {
	.name = "gthread",
	.aliases = {"egg:gunicorn#gthread", "gunicorn.workers.gthread.ThreadWorker"},
	.run = gthread_run,
};

static const struct worker_type sync_type = {
	.name = "sync",
	.aliases = {"egg:gunicorn#sync", "gunicorn.workers.sync.SyncWorker"},
	.threaded = &gthread_type,
	.run = sync_run,
};

static const struct worker_type greenlet_type = {
	.name = "greenlet",
	.backend = greenlet_backend,
	.run = greenlet_run,
};

static const struct worker_type gevent_type = {
	.name = "gevent",
	.aliases = {"egg:gunicorn#gevent", "gunicorn.workers.ggevent.GeventWorker"},
	.backend = gevent_backend,
	.before_import = gevent_monkey_patch,
	.run = gevent_run,
};

static const struct worker_type asyncio_type = {
	.name = "asyncio",
	.aliases = {"uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker"},
	.backend = asyncio_backend,
	.run = asyncio_run,
};

/* The table, the default first. */
static const struct worker_type *const types[] = {
	&sync_type,
	&gthread_type,
	&greenlet_type,
	&gevent_type,
	&asyncio_type,
	NULL,
};

#define NALIASES (sizeof(sync_type.aliases) / sizeof(sync_type.aliases[0]))

const struct worker_type *worker_type_find(const char *spelling, int threads)
{
	const struct worker_type *t = spelling ? NULL : types[0];

	for (size_t i = 0; !t && types[i]; i++)
		if (spelled(types[i], spelling))
			t = types[i];
	if (t && threads > 1 && t->threaded)
		t = t->threaded;
	return t;
}

const char *worker_type_spelling(size_t i)
{
	size_t n = 0;

	while (types[n])
		n++;
	if (i < n)
		return types[i]->name;
	i -= n;
	for (size_t t = 0; t < n; t++)
		for (size_t a = 0; a < NALIASES && types[t]->aliases[a]; a++)
			if (i-- == 0)
				return types[t]->aliases[a];
	return NULL;
}

/* Whether spelling names t or one of its aliases. */
static bool spelled(const struct worker_type *t, const char *spelling)
{
	if (strcasecmp(t->name, spelling) == 0)
		return true;
	for (size_t a = 0; a < NALIASES && t->aliases[a]; a++)
		if (strcasecmp(t->aliases[a], spelling) == 0)
			return true;
	return false;
}

/* As Gunicorn's gevent worker: patch before the app imports anything. */
static int gevent_monkey_patch(void)
{
	PyObject *monkey = PyImport_ImportModule("gevent.monkey"); /* new ref */
	PyObject *r = monkey ? PyObject_CallMethod(monkey, "patch_all", NULL) : NULL; /* new ref */

	Py_XDECREF(monkey);
	if (!r) {
		interp_log_exception("cannot monkey-patch with gevent (is python3-gevent installed?)");
		return -1;
	}
	Py_DECREF(r);
	return 0;
}
