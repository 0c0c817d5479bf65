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

/*
 * gevent.events imports pkg_resources for one function, iter_entry_points
 * (gevent's plugins): building pkg_resources' working set costs a process
 * ~0.1 s of CPU, more than the rest of gevent, and importlib.metadata
 * imports half the standard library to answer the same. A stand-in module
 * with that function is importable while gevent.events is imported, and
 * gone after (an app that imports pkg_resources gets the real one). It
 * reads the entry_points.txt of each distribution on sys.path once, the
 * first of a name winning, as pkg_resources and importlib.metadata do.
 */
static const char gevent_src[] =
	"import importlib, os, sys, types\n"
	"class _EntryPoint:\n"
	"    def __init__(self, name, value):\n"
	"        self.name, self.value = name, value.split('[')[0].strip()\n"
	"    def load(self):\n"
	"        module, _, attrs = self.value.partition(':')\n"
	"        obj = importlib.import_module(module.strip())\n"
	"        for attr in filter(None, attrs.strip().split('.')):\n"
	"            obj = getattr(obj, attr)\n"
	"        return obj\n"
	"def _entry_points():\n"
	"    groups, seen = {}, set()\n"
	"    for d in sys.path:\n"
	"        try:\n"
	"            names = sorted(os.listdir(d or '.'))\n"
	"        except OSError:\n"
	"            continue\n"
	"        for n in names:\n"
	"            stem, dot, kind = n.rpartition('.')\n"
	"            dist = stem.split('-')[0].lower().replace('_', '-')\n"
	"            if kind not in ('dist-info', 'egg-info') or dist in seen:\n"
	"                continue\n"
	"            seen.add(dist)\n"
	"            try:\n"
	"                with open(os.path.join(d or '.', n, 'entry_points.txt')) as f:\n"
	"                    text = f.read()\n"
	"            except OSError:\n"
	"                continue\n"
	"            group = None\n"
	"            for line in text.splitlines():\n"
	"                line = line.strip()\n"
	"                if line.startswith('[') and line.endswith(']'):\n"
	"                    group = groups.setdefault(line[1:-1].strip(), [])\n"
	"                elif group is not None and '=' in line and line[0] not in '#;':\n"
	"                    name, _, value = line.partition('=')\n"
	"                    group.append(_EntryPoint(name.strip(), value))\n"
	"    return groups\n"
	"def _import(names):\n"
	"    if 'gevent.events' not in sys.modules and 'pkg_resources' not in sys.modules:\n"
	"        groups = _entry_points()\n"
	"        shim = types.ModuleType('pkg_resources')\n"
	"        shim.iter_entry_points = lambda group, name=None: iter(\n"
	"            [e for e in groups.get(group, ()) if name is None or e.name == name])\n"
	"        sys.modules['pkg_resources'] = shim\n"
	"        try:\n"
	"            importlib.import_module('gevent.events')\n"
	"        finally:\n"
	"            if sys.modules.get('pkg_resources') is shim:\n"
	"                del sys.modules['pkg_resources']\n"
	"    for name in names.split():\n"
	"        importlib.import_module(name)\n";

/*
 * What gevent.monkey.patch_all() imports, then what a worker's hub and
 * patch_thread() import (gevent's format_context setting, pprint.saferepr;
 * threading.local's module), for the arbiter to import first.
 */
#define GEVENT_MODULES                                                                      \
	"gevent.monkey gevent.socket gevent.ssl gevent.select gevent.selectors gevent.thread " \
	"gevent.threading gevent.subprocess gevent.signal gevent.time gevent.os gevent.queue " \
	"pprint _threading_local"

static bool spelled(const struct worker_type *t, const char *spelling);
static int gevent_import(const char *names);
static int gevent_preimport(void);
static int gevent_monkey_patch(void);

/*
 * One row per worker type. The aliases are Gunicorn's: its class path, and
 * egg:gunicorn#NAME, which Gunicorn resolves through its entry point NAME in
 * the gunicorn.workers group, the same NAME as kirin's. greenlet has no
 * Gunicorn counterpart; asyncio answers to uvicorn's worker classes, which
 * Gunicorn deployments name with -k. Gunicorn's gevent_pywsgi (also
 * gevent_wsgi, its GeventPyWSGIWorker) is its gevent worker with gevent's
 * pywsgi doing the HTTP: kirin's gevent worker, whose HTTP is C, serves it.
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
	.aliases = {"egg:gunicorn#gevent", "gunicorn.workers.ggevent.GeventWorker", "gevent_pywsgi",
		    "gevent_wsgi", "gunicorn.workers.ggevent.GeventPyWSGIWorker"},
	.backend = gevent_backend,
	.preimport = gevent_preimport,
	.before_import = gevent_monkey_patch,
	.run = gevent_run,
};

static const struct worker_type asyncio_type = {
	.name = "asyncio",
	/* uvicorn.workers is deprecated since uvicorn 0.30 for the uvicorn-worker package's. */
	.aliases = {"uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker",
		    "uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornH11Worker"},
	.backend = asyncio_backend,
	.asgi = true,
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

/*
 * Import the modules named in `names` through gevent_src's _import, compiled
 * once (in the arbiter, whose workers inherit it). 0, or -1 with an
 * exception set.
 */
static int gevent_import(const char *names)
{
	static PyObject *import_fn; /* kept for the process's life */
	PyObject *globals, *res = NULL;

	if (!import_fn) {
		globals = PyDict_New(); /* new ref */
		if (globals &&
		    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0)
			res = PyRun_String(gevent_src, Py_file_input, globals, globals); /* new ref */
		import_fn = res ? PyDict_GetItemString(globals, "_import") : NULL; /* borrowed */
		Py_XINCREF(import_fn);
		Py_XDECREF(res);
		Py_XDECREF(globals);
		if (!import_fn)
			return -1;
	}
	res = PyObject_CallFunction(import_fn, "s", names); /* new ref */
	if (!res)
		return -1;
	Py_DECREF(res);
	return 0;
}

static int gevent_preimport(void)
{
	return gevent_import(GEVENT_MODULES);
}

/* As Gunicorn's gevent worker: patch before the app imports anything. */
static int gevent_monkey_patch(void)
{
	PyObject *monkey = gevent_import("gevent.monkey") == 0
				   ? PyImport_ImportModule("gevent.monkey")
				   : NULL; /* new ref */
	PyObject *r = monkey ? PyObject_CallMethod(monkey, "patch_all", NULL) : NULL; /* new ref */

	Py_XDECREF(monkey);
	if (!r) {
		interp_log_exception("cannot monkey-patch with gevent (is python3-gevent installed?)");
		return -1;
	}
	Py_DECREF(r);
	return 0;
}
