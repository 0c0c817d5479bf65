/* pyconfig — see pyconfig.h. */
#include "workers/python/pyconfig.h"

#include <stdlib.h>
#include <string.h>

#include "arbiter/log.h"
#include "workers/python/interp.h"

/*
 * The reader, as Gunicorn's get_config_from_filename and
 * get_config_from_module_name: the file is executed as module __config__
 * (whatever its extension), a module is found on sys.path; either way a
 * fresh module each time, so a HUP sees the file as it is now. _run returns
 * (0, values, None), or (1, message, traceback or None). worker_class may
 * be a class, as Gunicorn's validate_class takes: its path is handed back.
 * _worker_class imports a worker class path for pyconfig_worker_class():
 * (0, base, CONFIG_KWARGS items or None, CONFIG_KWARGS's type name when not
 * a dict), or (1, message, traceback or None, None).
 */
/* clang-format off */
static const char reader_src[] =
	"import importlib.machinery, importlib.util, os, sys, traceback\n"
	"class _LoadError(Exception):\n"
	"    pass\n"
	"def _short(v):\n"
	"    r = repr(v)\n"
	"    return r if len(r) <= 80 else r[:77] + '...'\n"
	"def _what(v):\n"
	"    if isinstance(v, (list, tuple)):\n"
	"        bad = next(x for x in v if not isinstance(x, str) or '\\0' in x)\n"
	"        return '%s holding %s' % (type(v).__name__, type(bad).__name__)\n"
	"    if isinstance(v, dict):\n"
	"        return 'dict of %s' % ' and '.join(sorted({type(x).__name__ for x in (*v, *v.values())}))\n"
	"    return type(v).__name__\n"
	"def _value(v):\n"
	"    if v is None:\n"
	"        return ('n', 'None', None, None)\n"
	"    if isinstance(v, bool):\n"
	"        return ('b', 'true' if v else 'false', None, None)\n"
	"    if isinstance(v, int):\n"
	"        if v.bit_length() > 64:\n"
	"            return ('i', ('-' if v < 0 else '') + '9' * 30, None, None)\n"
	"        return ('i', str(v), None, None)\n"
	"    if isinstance(v, str) and '\\0' not in v:\n"
	"        return ('s', v.strip(), None, None)\n"
	"    if isinstance(v, (list, tuple)) and all(isinstance(x, str) and '\\0' not in x for x in v):\n"
	"        return ('l', _short(v), [x.strip() for x in v], None)\n"
	"    if isinstance(v, dict) and all(isinstance(x, str) and '\\0' not in x and '=' not in x\n"
	"                                   and isinstance(y, str) and '\\0' not in y\n"
	"                                   for x, y in v.items()):\n"
	"        return ('d', _short(v), [f'{x.strip()}={y.strip()}' for x, y in v.items()], None)\n"
	"    return ('o', _short(v), None, _what(v))\n"
	"def _class_path(v):\n"
	"    return f'{v.__module__}.{v.__qualname__}' if isinstance(v, type) else v\n"
	"def _module(name):\n"
	"    if os.getcwd() not in sys.path:\n"
	"        sys.path.insert(0, os.getcwd())\n"
	"    try:\n"
	"        spec = importlib.util.find_spec(name)\n"
	"    except ModuleNotFoundError as e:\n"
	"        if not e.name or not name.startswith(e.name):\n"
	"            raise\n"
	"        spec = None\n"
	"    except ValueError:\n"
	"        spec = None\n"
	"    if spec is None:\n"
	"        raise _LoadError(f'config module {name!r} not found on sys.path')\n"
	"    return spec\n"
	"def _read(location):\n"
	"    if location.startswith('python:'):\n"
	"        name = location[len('python:'):]\n"
	"        spec = _module(name)\n"
	"    else:\n"
	"        path = location[len('file:'):] if location.startswith('file:') else location\n"
	"        name = '__config__'\n"
	"        loader = importlib.machinery.SourceFileLoader(name, path)\n"
	"        spec = importlib.util.spec_from_file_location(name, path, loader=loader)\n"
	"    mod = importlib.util.module_from_spec(spec)\n"
	"    sys.modules[name] = sys.modules['__config__'] = mod\n"
	"    spec.loader.exec_module(mod)\n"
	"    return [(k,) + _value(_class_path(v) if k == 'worker_class' else v)\n"
	"            for k, v in vars(mod).items() if not k.startswith('_')]\n"
	"def _run(location):\n"
	"    try:\n"
	"        return (0, _read(location), None)\n"
	"    except _LoadError as e:\n"
	"        return (1, str(e), None)\n"
	"    except SyntaxError as e:\n"
	"        return (1, f'{e.filename}:{e.lineno}: syntax error: {e.msg}', None)\n"
	"    except BaseException as e:\n"
	"        what = ' '.join(''.join(traceback.format_exception_only(type(e), e)).split())\n"
	"        tb = e.__traceback__\n"
	"        while tb and tb.tb_next and tb.tb_frame.f_code.co_filename.startswith('<'):\n"
	"            tb = tb.tb_next\n"
	"        return (1, f'config file {location!r} raised {what}',\n"
	"                ''.join(traceback.format_exception(type(e), e, tb)))\n"
	"def _known_base(cls, known):\n"
	"    for b in cls.__mro__:\n"
	"        name = f'{b.__module__}.{b.__qualname__}'\n"
	"        for alias in known:\n"
	"            mod, _, attr = alias.rpartition('.')\n"
	"            if alias.lower() == name.lower() or (\n"
	"                    mod in sys.modules and getattr(sys.modules[mod], attr, None) is b):\n"
	"                return alias\n"
	"    return None\n"
	"def _class(path, known):\n"
	"    modname, _, attr = path.rpartition('.')\n"
	"    try:\n"
	"        mod = importlib.import_module(modname)\n"
	"    except ModuleNotFoundError as e:\n"
	"        if not e.name or not (modname + '.').startswith(e.name + '.'):\n"
	"            raise\n"
	"        raise _LoadError(f'worker class {path!r}: no module named {e.name!r} on sys.path')\n"
	"    if not hasattr(mod, attr):\n"
	"        raise _LoadError(f'worker class {path!r}: module {modname!r} has no attribute {attr!r}')\n"
	"    cls = getattr(mod, attr)\n"
	"    if not isinstance(cls, type):\n"
	"        raise _LoadError(f'worker class {path!r} is not a class (it is {_short(cls)}, a {type(cls).__name__})')\n"
	"    base = _known_base(cls, known)\n"
	"    if base is None:\n"
	"        bases = ', '.join(f'{b.__module__}.{b.__qualname__}' for b in cls.__mro__[1:])\n"
	"        raise _LoadError(f'worker class {path!r} derives from no worker class kirin knows '\n"
	"                         f'(its bases: {bases or \"none\"})')\n"
	"    if not hasattr(cls, 'CONFIG_KWARGS'):\n"
	"        return (base, None, None)\n"
	"    kw = cls.CONFIG_KWARGS\n"
	"    if not isinstance(kw, dict):\n"
	"        return (base, None, type(kw).__name__)\n"
	"    bad = [k for k in kw if not isinstance(k, str) or '\\0' in k]\n"
	"    if bad:\n"
	"        raise _LoadError(f'worker class {path!r}: CONFIG_KWARGS key {bad[0]!r} is not a name')\n"
	"    return (base, [(k,) + _value(v) for k, v in kw.items()], None)\n"
	"def _worker_class(path, dirs, venv, known):\n"
	"    saved = list(sys.path)\n"
	"    sp = venv and os.path.join(venv, 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages')\n"
	"    if sp and os.path.isdir(sp):\n"
	"        import site\n"
	"        site.addsitedir(sp)\n"
	"    sys.path[:] = dirs + [p for p in sys.path if p not in saved] + saved\n"
	"    try:\n"
	"        return (0,) + _class(path, known)\n"
	"    except _LoadError as e:\n"
	"        return (1, str(e), None, None)\n"
	"    except SyntaxError as e:\n"
	"        return (1, f'worker class {path!r}: {e.filename}:{e.lineno}: syntax error: {e.msg}', None, None)\n"
	"    except BaseException as e:\n"
	"        what = ' '.join(''.join(traceback.format_exception_only(type(e), e)).split())\n"
	"        tb = e.__traceback__\n"
	"        while tb and tb.tb_next and (tb.tb_frame.f_code.co_filename.startswith('<')\n"
	"                                     or tb.tb_frame.f_code.co_filename == importlib.__file__):\n"
	"            tb = tb.tb_next\n"
	"        return (1, f'importing worker class {path!r} raised {what}',\n"
	"                ''.join(traceback.format_exception(type(e), e, tb)), None)\n"
	"    finally:\n"
	"        sys.path[:] = saved\n";
/* clang-format on */

static PyObject *reader; /* reader_src's globals, compiled at the first call (new ref, kept) */

static PyObject *get_reader(const char *fn);
static void log_traceback(PyObject *tb, const char *what);
static PyObject *list_of(const char *const *v, PyObject *(*str)(const char *));
static int convert(PyObject *list, struct pyconfig *out, char *err, size_t errlen);
static char *text_of(PyObject *o, const char *name, char *err, size_t errlen);

bool pyconfig_is_python(const char *location)
{
	size_t n = strlen(location);

	return strncmp(location, "python:", 7) == 0 || strncmp(location, "file:", 5) == 0 ||
	       (n > 3 && strcmp(location + n - 3, ".py") == 0);
}

const char *pyconfig_path(const char *location)
{
	if (strncmp(location, "python:", 7) == 0)
		return NULL;
	return strncmp(location, "file:", 5) == 0 ? location + 5 : location;
}

int pyconfig_read(const char *location, struct pyconfig *out, char *err, size_t errlen)
{
	PyObject *fn, *res = NULL;
	long code;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (interp_start(false) < 0) {
		snprintf(err, errlen, "cannot start Python to read config file '%s'", location);
		return -1;
	}
	fn = get_reader("_run"); /* borrowed */
	if (fn)
		res = PyObject_CallFunction(fn, "s", location); /* new ref */
	if (!res || !PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 3) {
		interp_log_exception("reading a Python config file");
		snprintf(err, errlen, "cannot read config file '%s' (see the error above)",
		         location);
		goto out;
	}
	code = PyLong_AsLong(PyTuple_GET_ITEM(res, 0));
	if (code == 0) {
		rc = convert(PyTuple_GET_ITEM(res, 1), out, err, errlen);
		goto out;
	}
	{
		char what[512];
		snprintf(what, sizeof(what), "Failed to read config file: %s", location);
		log_traceback(PyTuple_GET_ITEM(res, 2), what);
	}
	{
		const char *msg = PyUnicode_AsUTF8(PyTuple_GET_ITEM(res, 1));
		snprintf(err, errlen, "%s", msg ? msg : "cannot read config file");
		PyErr_Clear();
	}
out:
	Py_XDECREF(res);
	if (rc < 0)
		pyconfig_free(out);
	return rc;
}

int pyconfig_worker_class(const char *path, const char *const *dirs, const char *venv,
                          const char *const *known, struct pyworker_class *out, char *err,
                          size_t errlen)
{
	PyObject *fn, *pydirs = NULL, *pyknown = NULL, *res = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (interp_start(false) < 0) {
		snprintf(err, errlen, "cannot start Python to import worker class '%s'", path);
		return -1;
	}
	fn = get_reader("_worker_class");                               /* borrowed */
	pydirs = fn ? list_of(dirs, PyUnicode_DecodeFSDefault) : NULL;  /* new ref */
	pyknown = pydirs ? list_of(known, PyUnicode_FromString) : NULL; /* new ref */
	if (pydirs && pyknown)
		res = PyObject_CallFunction(fn, "sOzO", path, pydirs, venv, pyknown); /* new ref */
	if (!res || !PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 4) {
		interp_log_exception("importing a worker class");
		snprintf(err, errlen, "cannot import worker class '%s' (see the error above)",
		         path);
		goto out;
	}
	if (PyLong_AsLong(PyTuple_GET_ITEM(res, 0)) != 0) {
		const char *msg = PyUnicode_AsUTF8(PyTuple_GET_ITEM(res, 1));
		char what[512];

		snprintf(what, sizeof(what), "Failed to import worker class: %s", path);
		log_traceback(PyTuple_GET_ITEM(res, 2), what);
		snprintf(err, errlen, "%s", msg ? msg : "cannot import the worker class");
		PyErr_Clear();
		goto out;
	}
	out->base = text_of(PyTuple_GET_ITEM(res, 1), "the worker class", err, errlen);
	if (!out->base)
		goto out;
	if (PyTuple_GET_ITEM(res, 3) != Py_None) {
		out->kwargs_type = text_of(PyTuple_GET_ITEM(res, 3), "CONFIG_KWARGS", err, errlen);
		rc = out->kwargs_type ? 0 : -1;
	} else if (PyTuple_GET_ITEM(res, 2) != Py_None) {
		out->has_kwargs = true;
		rc = convert(PyTuple_GET_ITEM(res, 2), &out->kwargs, err, errlen);
	} else {
		rc = 0;
	}
out:
	Py_XDECREF(res);
	Py_XDECREF(pydirs);
	Py_XDECREF(pyknown);
	if (rc < 0)
		pyconfig_worker_class_free(out);
	return rc;
}

void pyconfig_worker_class_free(struct pyworker_class *wc)
{
	free(wc->base);
	free(wc->kwargs_type);
	pyconfig_free(&wc->kwargs);
	memset(wc, 0, sizeof(*wc));
}

void pyconfig_forget(void)
{
	PyObject *modules;

	if (!Py_IsInitialized())
		return;
	modules = PyImport_GetModuleDict(); /* borrowed */
	if (PyDict_GetItemString(modules, "__config__") &&
	    PyDict_DelItemString(modules, "__config__") < 0)
		PyErr_Clear();
}

void pyconfig_free(struct pyconfig *pc)
{
	for (size_t i = 0; i < pc->n; i++) {
		struct pyvalue *v = &pc->v[i];
		free(v->name);
		free(v->text);
		free(v->type_name);
		for (size_t j = 0; j < v->items.n; j++)
			free(v->items.v[j]);
		free(v->items.v);
	}
	free(pc->v);
	memset(pc, 0, sizeof(*pc));
}

/* The function fn of reader_src (borrowed), compiled once; NULL with an exception set. */
static PyObject *get_reader(const char *fn)
{
	PyObject *globals, *res;

	if (!reader) {
		globals = PyDict_New(); /* new ref */
		if (!globals)
			return NULL;
		PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
		res = PyRun_String(reader_src, Py_file_input, globals, globals); /* new ref */
		if (!res) {
			Py_DECREF(globals);
			return NULL;
		}
		Py_DECREF(res);
		reader = globals;
	}
	return PyDict_GetItemString(reader, fn); /* borrowed */
}

/* A new list of str(v[i]) for the NULL-terminated v; NULL with an exception set. */
static PyObject *list_of(const char *const *v, PyObject *(*str)(const char *))
{
	PyObject *list = PyList_New(0); /* new ref */

	for (size_t i = 0; list && v[i]; i++) {
		PyObject *item = str(v[i]); /* new ref */
		if (!item || PyList_Append(list, item) < 0)
			Py_CLEAR(list);
		Py_XDECREF(item);
	}
	return list;
}

/* Log the traceback text tb (a str, or None for nothing) at error level under what. */
static void log_traceback(PyObject *tb, const char *what)
{
	Py_ssize_t len;
	const char *text;

	if (tb == Py_None)
		return;
	text = PyUnicode_AsUTF8AndSize(tb, &len);
	if (text)
		log_block(LOG_ERROR, what, text, (size_t)len);
	PyErr_Clear();
}

/* _run's list of (name, kind, text, items, type name) into out. */
static int convert(PyObject *list, struct pyconfig *out, char *err, size_t errlen)
{
	Py_ssize_t n = PyList_Size(list);

	if (n < 0) {
		PyErr_Clear();
		snprintf(err, errlen, "cannot read the config file's names");
		return -1;
	}
	out->v = calloc((size_t)n + 1, sizeof(*out->v));
	if (!out->v)
		abort();
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *t = PyList_GET_ITEM(list, i); /* borrowed, a 5-tuple */
		PyObject *items = PyTuple_GET_ITEM(t, 3);
		struct pyvalue *v = &out->v[out->n++];
		const char *kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 1));

		v->name = text_of(PyTuple_GET_ITEM(t, 0), "a name", err, errlen);
		if (!v->name || !kind)
			return -1;
		v->kind = kind[0] == 'n'   ? PYVALUE_NONE
		          : kind[0] == 'b' ? PYVALUE_BOOL
		          : kind[0] == 'i' ? PYVALUE_INT
		          : kind[0] == 's' ? PYVALUE_STR
		          : kind[0] == 'l' ? PYVALUE_LIST
		          : kind[0] == 'd' ? PYVALUE_DICT
		                           : PYVALUE_OTHER;
		if (PyTuple_GET_ITEM(t, 2) != Py_None &&
		    !(v->text = text_of(PyTuple_GET_ITEM(t, 2), v->name, err, errlen)))
			return -1;
		if (PyTuple_GET_ITEM(t, 4) != Py_None &&
		    !(v->type_name = text_of(PyTuple_GET_ITEM(t, 4), v->name, err, errlen)))
			return -1;
		if (items == Py_None)
			continue;
		v->items.v = calloc((size_t)PyList_GET_SIZE(items) + 1, sizeof(char *));
		if (!v->items.v)
			abort();
		for (Py_ssize_t j = 0; j < PyList_GET_SIZE(items); j++) {
			char *s = text_of(PyList_GET_ITEM(items, j), v->name, err, errlen);
			if (!s)
				return -1;
			v->items.v[v->items.n++] = s;
		}
	}
	return 0;
}

/* A malloc'd UTF-8 copy of the str o, or NULL with a message naming what it is for. */
static char *text_of(PyObject *o, const char *name, char *err, size_t errlen)
{
	const char *s = PyUnicode_AsUTF8(o);
	char *copy;

	if (!s) {
		PyErr_Clear();
		snprintf(err, errlen, "the value of %s cannot be encoded as UTF-8", name);
		return NULL;
	}
	copy = strdup(s);
	if (!copy)
		abort();
	return copy;
}
