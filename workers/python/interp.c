/* interp — see interp.h. */
#include "workers/python/interp.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "workers/python/kirinmod.h"
#include "workers/channel.h"
#include "workers/worker_type.h"

/*
 * The application loader, as Gunicorn's util.import_app: "module",
 * "module:name", "module:a.b" and "module:factory(literal args)". Loader
 * mistakes raise _LoadError (logged as one line); anything the app's own
 * import raises propagates with its traceback.
 */
static const char loader_src[] =
	"import ast, importlib, sys\n"
	"class _LoadError(Exception):\n"
	"    pass\n"
	"def _call_args(node):\n"
	"    try:\n"
	"        args = [ast.literal_eval(a) for a in node.args]\n"
	"        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}\n"
	"    except ValueError:\n"
	"        raise _LoadError('application factory arguments must be literals') from None\n"
	"    return args, kwargs\n"
	"def _load(spec):\n"
	"    module, _, expr = spec.partition(':')\n"
	"    if not module or (':' in expr):\n"
	"        raise _LoadError(f'invalid APP_MODULE {spec!r}: expected module:callable')\n"
	"    try:\n"
	"        mod = importlib.import_module(module)\n"
	"    except ModuleNotFoundError as e:\n"
	"        if e.name and (module == e.name or module.startswith(e.name + '.')):\n"
	"            raise _LoadError(f'no module named {e.name!r} (APP_MODULE {spec!r}, sys.path: {sys.path})') from None\n"
	"        raise\n"
	"    names = [expr] if expr else ['application', 'app']\n"
	"    for name in names:\n"
	"        try:\n"
	"            node = ast.parse(name, mode='eval').body\n"
	"        except SyntaxError:\n"
	"            raise _LoadError(f'failed to parse {name!r} as an attribute name or function call') from None\n"
	"        args = kwargs = None\n"
	"        if isinstance(node, ast.Call):\n"
	"            args, kwargs = _call_args(node)\n"
	"            node = node.func\n"
	"        path = []\n"
	"        while isinstance(node, ast.Attribute):\n"
	"            path.insert(0, node.attr)\n"
	"            node = node.value\n"
	"        if not isinstance(node, ast.Name):\n"
	"            raise _LoadError(f'failed to parse {name!r} as an attribute name or function call')\n"
	"        path.insert(0, node.id)\n"
	"        obj = mod\n"
	"        try:\n"
	"            for part in path:\n"
	"                obj = getattr(obj, part)\n"
	"        except AttributeError:\n"
	"            if expr:\n"
	"                raise _LoadError(f'failed to find attribute {name!r} in {module!r}') from None\n"
	"            continue\n"
	"        if args is not None:\n"
	"            if not callable(obj):\n"
	"                raise _LoadError(f'{name!r} in {module!r} is not callable, so it cannot be called as a factory')\n"
	"            obj = obj(*args, **kwargs)\n"
	"        if obj is None:\n"
	"            raise _LoadError(f'{name!r} in {module!r} is None: the factory must return the application')\n"
	"        if not callable(obj):\n"
	"            raise _LoadError(f'application object {name!r} in {module!r} must be callable')\n"
	"        return obj\n"
	"    raise _LoadError(f'failed to find application object in {module!r}: it has neither application nor app')\n"
	"def _load_paste(uri, global_conf):\n"
	"    import configparser, logging.config, os\n"
	"    path = os.path.abspath(uri.split('#')[0])\n"
	"    try:\n"
	"        from paste.deploy import loadapp\n"
	"    except ImportError:\n"
	"        raise _LoadError('--paste needs PasteDeploy (Debian: python3-pastedeploy)') from None\n"
	"    parser = configparser.ConfigParser()\n"
	"    parser.read([path])\n"
	"    if parser.has_section('loggers'):\n"
	"        logging.config.fileConfig(path, disable_existing_loggers=False)\n"
	"    uri = os.path.abspath(uri)\n"
	"    return loadapp(uri if ':' in uri else 'config:' + uri, relative_to=os.getcwd(),\n"
	"                   global_conf=global_conf)\n";

/*
 * A virtualenv made by another Python is used by its site-packages, as its
 * own interpreter's site module would: ahead of the system's (which are
 * dropped unless pyvenv.cfg includes them), .pth files processed, and
 * sys.prefix pointing at it.
 */
static const char venv_src[] =
	"import os, site, sys\n"
	"class _LoadError(Exception):\n"
	"    pass\n"
	"def _venv(path):\n"
	"    path = os.path.abspath(path)\n"
	"    if not os.path.isdir(path):\n"
	"        raise _LoadError(f'virtualenv {path!r}: no such directory')\n"
	"    ver = 'python%d.%d' % sys.version_info[:2]\n"
	"    sp = os.path.join(path, 'lib', ver, 'site-packages')\n"
	"    if not os.path.isdir(sp):\n"
	"        import glob\n"
	"        other = sorted(os.path.basename(os.path.dirname(d)) for d in\n"
	"                       glob.glob(os.path.join(path, 'lib', 'python*', 'site-packages')))\n"
	"        if other:\n"
	"            raise _LoadError(f'virtualenv {path!r} was made for {\", \".join(other)}, '\n"
	"                             f'but kirin runs {ver}')\n"
	"        raise _LoadError(f'virtualenv {path!r} has no lib/{ver}/site-packages')\n"
	"    system = True\n"
	"    try:\n"
	"        with open(os.path.join(path, 'pyvenv.cfg')) as f:\n"
	"            for line in f:\n"
	"                k, eq, v = line.partition('=')\n"
	"                if eq and k.strip().lower() == 'include-system-site-packages':\n"
	"                    system = v.strip().lower() == 'true'\n"
	"    except OSError:\n"
	"        pass\n"
	"    known = set(site.getsitepackages())\n"
	"    known.add(site.getusersitepackages())\n"
	"    if not system:\n"
	"        sys.path[:] = [p for p in sys.path if p not in known]\n"
	"    before = set(sys.path)\n"
	"    site.addsitedir(sp)\n"
	"    added = [p for p in sys.path if p not in before]\n"
	"    rest = [p for p in sys.path if p in before]\n"
	"    at = next((i for i, p in enumerate(rest) if p in known), len(rest))\n"
	"    sys.path[:] = rest[:at] + added + rest[at:]\n"
	"    sys.prefix = sys.exec_prefix = path\n"
	"    return sp\n";

/*
 * interp_warm's bracket: _save() keeps sys.path, sys.prefix and the names
 * in sys.modules; restore() puts the first two back and returns the names
 * of the modules imported since.
 */
static const char warm_src[] =
	"import sys\n"
	"class _LoadError(Exception):\n"
	"    pass\n"
	"class _save:\n"
	"    def __init__(self):\n"
	"        self.path, self.prefix = list(sys.path), (sys.prefix, sys.exec_prefix)\n"
	"        self.before = set(sys.modules)\n"
	"    def restore(self):\n"
	"        sys.path[:] = self.path\n"
	"        sys.prefix, sys.exec_prefix = self.prefix\n"
	"        return [m for m in sys.modules if m not in self.before]\n";

static PyObject *preloaded; /* --preload: the app the arbiter imported */
/* interp_warm: what the modules were imported for (NULL: none are), and their names. */
static char *warm_key;
static PyObject *warm_modules;

static int set_paths(const struct config *cfg);
static char *paths_key(const struct config *cfg, const struct worker_type *type);
static void forget_warm(void);
static void gc_call(const char *method);
static int prepend_path(PyObject *sys_path, const char *dir);
static int unbuffer_stdio(void);
static PyObject *run_py(const char *src, const char *func, PyObject *args, const char *refused,
			const char *raised);

int interp_start(bool unbuffered)
{
	PyConfig pc;
	PyStatus st;

	if (Py_IsInitialized())
		return 0;
	PyConfig_InitPythonConfig(&pc);
	pc.install_signal_handlers = 0;
	pc.parse_argv = 0;
	pc.safe_path = 1;
	if (unbuffered)
		pc.buffered_stdio = 0;
	st = PyConfig_SetBytesString(&pc, &pc.program_name, "kirin");
	kirinmod_register();
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&pc);
	PyConfig_Clear(&pc);
	if (PyStatus_Exception(st)) {
		log_critical("cannot initialise Python: %s", st.err_msg ? st.err_msg : "unknown error");
		return -1;
	}
	return 0;
}

int interp_init(const struct config *cfg)
{
	const struct worker_type *type;
	PyObject *fh, *r;

	if (Py_IsInitialized()) {
		/* Started by the arbiter (a Python config file, interp_warm), buffered. */
		if (cfg->capture_output && unbuffer_stdio() < 0)
			return -1;
	} else if (interp_start(cfg->capture_output) < 0) {
		return -1;
	}
	if (set_paths(cfg) < 0)
		return -1;
	fh = PyImport_ImportModule("faulthandler"); /* new ref */
	r = fh ? PyObject_CallMethod(fh, "enable", "ii", log_fd(), 1) : NULL; /* new ref */
	Py_XDECREF(r);
	Py_XDECREF(fh);
	if (!r)
		interp_log_exception("enabling faulthandler");
	type = worker_type_find(cfg->worker_class, cfg->threads);
	if (type && type->before_import && type->before_import() < 0)
		return -1;
	return 0;
}

void interp_warm(const struct config *cfg)
{
	const struct worker_type *type = worker_type_find(cfg->worker_class, cfg->threads);
	bool want = type && type->preimport && !preloaded;
	char *key = want ? paths_key(cfg, type) : NULL;
	PyObject *args, *saved, *r;

	if (warm_key && key && strcmp(key, warm_key) == 0) {
		free(key);
		return;
	}
	forget_warm();
	if (!want || interp_start(false) < 0) {
		free(key);
		return;
	}
	warm_key = key;
	/* The worker's sys.path, for as long as the import takes. */
	args = PyTuple_New(0); /* new ref */
	saved = run_py(warm_src, "_save", args, "cannot save sys.path",
		       "exception while saving sys.path"); /* new ref */
	Py_XDECREF(args);
	if (!saved)
		return;
	if (set_paths(cfg) == 0 && type->preimport() < 0) {
		log_debug("the arbiter could not import %s's modules; the workers will say why",
			  type->name);
		PyErr_Clear();
	}
	r = PyObject_CallMethod(saved, "restore", NULL); /* new ref: the new modules' names */
	if (r)
		warm_modules = r;
	else
		interp_log_exception("cannot restore the arbiter's sys.path");
	Py_DECREF(saved);
	/* Out of the workers' collections and their scans of gc.get_objects()
	 * (gevent's patch_all walks them all for held locks: none is held here). */
	gc_call("freeze");
}

PyObject *interp_load_app(const struct config *cfg)
{
	PyObject *args, *conf = PyDict_New(), *app; /* new refs */

	for (size_t i = 0; conf && cfg->paste && i < cfg->raw_paste_global_conf.n; i++) {
		const char *kv = cfg->raw_paste_global_conf.v[i], *eq = strchr(kv, '=');
		PyObject *k = PyUnicode_FromStringAndSize(kv, eq - kv); /* new ref */
		PyObject *v = PyUnicode_FromString(eq + 1);           /* new ref */
		if (!k || !v || PyDict_SetItem(conf, k, v) < 0)
			Py_CLEAR(conf);
		Py_XDECREF(k);
		Py_XDECREF(v);
	}
	if (cfg->paste)
		args = conf ? Py_BuildValue("(sO)", cfg->paste, conf) : NULL;
	else
		args = Py_BuildValue("(s)", cfg->app_module);
	app = run_py(loader_src, cfg->paste ? "_load_paste" : "_load", args,
		     "cannot load application", "exception while loading the application");
	Py_XDECREF(args);
	Py_XDECREF(conf);
	return app;
}

int interp_preload(const struct config *cfg)
{
	if (interp_init(cfg) < 0)
		return WORKER_EXIT_BOOT_ERROR;
	preloaded = interp_load_app(cfg);
	if (!preloaded)
		return WORKER_EXIT_APP_LOAD_ERROR;
	log_info("Application %s preloaded (pid: %ld)", config_app_name(cfg), (long)getpid());
	return 0;
}

PyObject *interp_preloaded_app(void)
{
	Py_XINCREF(preloaded);
	return preloaded;
}

void interp_before_fork(void)
{
	if (Py_IsInitialized())
		PyOS_BeforeFork();
}

void interp_after_fork_parent(void)
{
	if (Py_IsInitialized())
		PyOS_AfterFork_Parent();
}

void interp_after_fork_child(void)
{
	if (Py_IsInitialized())
		PyOS_AfterFork_Child();
}

int interp_after_faulthandler(int signum, void (*handler)(int))
{
	PyGILState_STATE gil = PyGILState_Ensure();
	PyObject *fh = PyImport_ImportModule("faulthandler");                 /* new ref */
	PyObject *r = fh ? PyObject_CallMethod(fh, "disable", NULL) : NULL; /* new ref */
	struct sigaction sa = {.sa_handler = handler};
	int rc = 0;

	/* faulthandler keeps the handler it found to pass the signal on to. */
	sigemptyset(&sa.sa_mask);
	sigaction(signum, &sa, NULL);
	if (r) {
		Py_DECREF(r);
		r = PyObject_CallMethod(fh, "enable", "ii", log_fd(), 1); /* new ref */
	}
	if (!r) {
		interp_log_exception("chaining a signal handler behind faulthandler");
		rc = -1;
	}
	Py_XDECREF(r);
	Py_XDECREF(fh);
	PyGILState_Release(gil);
	return rc;
}

void interp_log_exception(const char *what)
{
	PyObject *t, *v, *tb, *mod = NULL, *lines = NULL, *empty = NULL, *text = NULL;

	PyErr_Fetch(&t, &v, &tb);
	if (!t) {
		log_exception(what, NULL, 0);
		return;
	}
	PyErr_NormalizeException(&t, &v, &tb);
	mod = PyImport_ImportModule("traceback"); /* new ref */
	if (mod)
		lines = PyObject_CallMethod(mod, "format_exception", "OOO", t, v ? v : Py_None,
					    tb ? tb : Py_None); /* new ref */
	if (lines)
		empty = PyUnicode_FromString(""); /* new ref */
	if (empty)
		text = PyUnicode_Join(empty, lines); /* new ref */
	Py_ssize_t len = 0;
	const char *s = text ? PyUnicode_AsUTF8AndSize(text, &len) : NULL;
	if (s) {
		log_exception(what, s, (size_t)len);
	} else {
		char header[512];
		snprintf(header, sizeof(header), "%s (and the traceback could not be formatted)", what);
		log_exception(header, NULL, 0);
	}
	PyErr_Clear();
	Py_XDECREF(text);
	Py_XDECREF(empty);
	Py_XDECREF(lines);
	Py_XDECREF(mod);
	Py_XDECREF(t);
	Py_XDECREF(v);
	Py_XDECREF(tb);
}

void interp_finish(PyObject *app)
{
	Py_XDECREF(app);
	if (Py_FinalizeEx() < 0)
		log_warning("errors while finalizing Python");
}

/*
 * The virtualenv's site-packages (--virtualenv or $VIRTUAL_ENV) ahead of the
 * system's, then the current directory and --pythonpath first on sys.path.
 * 0, or -1 after logging why.
 */
static int set_paths(const struct config *cfg)
{
	PyObject *sys_path;
	char cwd[4096];
	const char *venv = cfg->virtualenv ? cfg->virtualenv : getenv("VIRTUAL_ENV");

	if (venv && venv[0]) {
		PyObject *args = Py_BuildValue("(s)", venv); /* new ref */
		PyObject *sp = run_py(venv_src, "_venv", args, "cannot use the virtualenv",
				      "exception while setting up the virtualenv"); /* new ref */
		Py_XDECREF(args);
		if (!sp)
			return -1;
		log_debug("virtualenv: %s", PyUnicode_AsUTF8(sp));
		Py_DECREF(sp);
	}
	sys_path = PySys_GetObject("path"); /* borrowed */
	if (!sys_path || !getcwd(cwd, sizeof(cwd))) {
		log_critical("cannot set sys.path");
		return -1;
	}
	for (size_t i = cfg->pythonpath.n; i-- > 0;)
		if (prepend_path(sys_path, cfg->pythonpath.v[i]) < 0)
			return -1;
	return prepend_path(sys_path, cwd);
}

/*
 * What decides which files a worker of cfg imports: its type, virtualenv,
 * --pythonpath, directory and environment (-e). A new string.
 */
static char *paths_key(const struct config *cfg, const struct worker_type *type)
{
	const char *venv = cfg->virtualenv ? cfg->virtualenv : getenv("VIRTUAL_ENV");
	char cwd[4096];
	size_t len, n = strlen(type->name) + (venv ? strlen(venv) : 0) + sizeof(cwd) + 4;
	char *key;

	for (size_t i = 0; i < cfg->pythonpath.n; i++)
		n += strlen(cfg->pythonpath.v[i]) + 1;
	for (size_t i = 0; i < cfg->raw_env.n; i++)
		n += strlen(cfg->raw_env.v[i]) + 1;
	key = xmalloc(n);
	len = (size_t)snprintf(key, n, "%s\n%s\n%s\n", type->name, venv ? venv : "",
			       getcwd(cwd, sizeof(cwd)) ? cwd : "");
	for (size_t i = 0; i < cfg->pythonpath.n; i++)
		len += (size_t)snprintf(key + len, n - len, "%s\n", cfg->pythonpath.v[i]);
	for (size_t i = 0; i < cfg->raw_env.n; i++)
		len += (size_t)snprintf(key + len, n - len, "%s\n", cfg->raw_env.v[i]);
	return key;
}

/* Drop what interp_warm imported from sys.modules: the next workers import afresh. */
static void forget_warm(void)
{
	PyObject *modules = warm_modules ? PyImport_GetModuleDict() : NULL; /* borrowed */

	if (modules)
		gc_call("unfreeze"); /* the dropped modules can be collected */
	for (Py_ssize_t i = 0; modules && i < PyList_GET_SIZE(warm_modules); i++)
		if (PyDict_DelItem(modules, PyList_GET_ITEM(warm_modules, i)) < 0)
			PyErr_Clear();
	Py_CLEAR(warm_modules);
	free(warm_key);
	warm_key = NULL;
}

/* gc.freeze() or gc.unfreeze(), as Python documents them around fork(). */
static void gc_call(const char *method)
{
	PyObject *gc = PyImport_ImportModule("gc");                      /* new ref */
	PyObject *r = gc ? PyObject_CallMethod(gc, method, NULL) : NULL; /* new ref */

	if (!r)
		interp_log_exception("cannot freeze or unfreeze the collector's objects");
	Py_XDECREF(r);
	Py_XDECREF(gc);
}

static int prepend_path(PyObject *sys_path, const char *dir)
{
	PyObject *s = PyUnicode_DecodeFSDefault(dir); /* new ref */
	int rc = s ? PyList_Insert(sys_path, 0, s) : -1;

	Py_XDECREF(s);
	if (rc < 0)
		interp_log_exception("cannot extend sys.path");
	return rc;
}

/* --capture-output in an interpreter started buffered: write through. */
static int unbuffer_stdio(void)
{
	PyObject *main_dict = PyModule_GetDict(PyImport_AddModule("__main__")); /* borrowed */
	PyObject *r = PyRun_String("import sys\n"
				   "for _f in (sys.stdout, sys.stderr):\n"
				   "    if _f is not None:\n"
				   "        _f.reconfigure(write_through=True)\n",
				   Py_file_input, main_dict, main_dict); /* new ref */

	if (!r) {
		interp_log_exception("cannot make sys.stdout and sys.stderr unbuffered");
		return -1;
	}
	Py_DECREF(r);
	return 0;
}

/*
 * Run src (in fresh globals, defining exception class _LoadError) and call
 * func(arg). Returns its result (new ref), or NULL after logging: a
 * _LoadError as one line after `refused`, anything else with its traceback
 * under `raised`.
 */
/* src's func(*args) (args: a tuple, borrowed, or NULL for an exception already set). */
static PyObject *run_py(const char *src, const char *func, PyObject *args, const char *refused,
			const char *raised)
{
	PyObject *globals = PyDict_New(); /* new ref */
	PyObject *res, *fn, *out = NULL;

	if (!globals)
		goto fail;
	PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
	res = args ? PyRun_String(src, Py_file_input, globals, globals) : NULL; /* new ref */
	if (!res)
		goto fail;
	Py_DECREF(res);
	fn = PyDict_GetItemString(globals, func); /* borrowed */
	out = PyObject_CallObject(fn, args); /* new ref */
	if (!out) {
		PyObject *type = PyErr_Occurred(); /* borrowed */
		PyObject *load_error = PyDict_GetItemString(globals, "_LoadError"); /* borrowed */
		if (type && load_error && PyErr_GivenExceptionMatches(type, load_error)) {
			PyObject *t, *v, *tb;
			PyErr_Fetch(&t, &v, &tb);
			PyObject *msg = v ? PyObject_Str(v) : NULL; /* new ref */
			const char *text = msg ? PyUnicode_AsUTF8(msg) : NULL;
			log_critical("%s: %s", refused, text ? text : "unknown error");
			Py_XDECREF(msg);
			Py_XDECREF(t);
			Py_XDECREF(v);
			Py_XDECREF(tb);
			PyErr_Clear();
		} else {
			interp_log_exception(raised);
		}
	}
	Py_DECREF(globals);
	return out;
fail:
	Py_XDECREF(globals);
	interp_log_exception("cannot set up the embedded Python helpers");
	return NULL;
}
