/* hooks — see hooks.h. */
#include "workers/python/hooks.h"

#include <string.h>
#include <unistd.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "workers/http/response.h"
#include "workers/python/interp.h"

#define FIELD(cfg, s, type) ((const type *)(const void *)((const char *)(cfg) + (s)->offset))

/* Gunicorn's names, in enum hook's order. */
static const char *const names[HOOK_COUNT] = {
    "on_starting", "when_ready",   "on_reload",  "on_exit",          "nworkers_changed",
    "pre_fork",    "post_fork",    "child_exit", "post_worker_init", "worker_exit",
    "pre_request", "post_request", "pre_exec",   "worker_int",       "worker_abort",
};

/*
 * The objects hooks receive, and the caller: _commit(cfg) takes the hooks
 * from the config module pyconfig left in sys.modules['__config__'];
 * _call(name, args) runs one and returns False when it raised (logged).
 */
/* clang-format off */
static const char hooks_src[] =
	"import os, sys, traceback, types\n"
	"class _Log:\n"
	"    def __init__(self, emit):\n"
	"        self._emit = emit\n"
	"    def _say(self, level, msg, args):\n"
	"        self._emit(level, (str(msg) % args) if args else str(msg))\n"
	"    def debug(self, msg, *args, **kw): self._say(0, msg, args)\n"
	"    def info(self, msg, *args, **kw): self._say(1, msg, args)\n"
	"    def warning(self, msg, *args, **kw): self._say(2, msg, args)\n"
	"    warn = warning\n"
	"    def error(self, msg, *args, **kw): self._say(3, msg, args)\n"
	"    def critical(self, msg, *args, **kw): self._say(4, msg, args)\n"
	"    def exception(self, msg, *args, **kw):\n"
	"        self._say(3, str(msg) + '\\n' + traceback.format_exc().rstrip(), args)\n"
	"    def log(self, lvl, msg, *args, **kw):\n"
	"        self._say(min(4, max(0, lvl // 10 - 1)), msg, args)\n"
	"class _Server:\n"
	"    def __init__(self, cfg, log, num_workers):\n"
	"        self.cfg, self.log, self.num_workers = cfg, log, num_workers\n"
	"        self.pid = os.getpid()\n"
	"class _Worker:\n"
	"    def __init__(self, cfg, log, pid, ppid, age, alive):\n"
	"        self.cfg, self.log = cfg, log\n"
	"        self.pid, self.ppid, self.age, self.alive = pid, ppid, age, alive\n"
	"class _Request:\n"
	"    def __init__(self, env):\n"
	"        self.method = env.get('REQUEST_METHOD')\n"
	"        self.path = env.get('PATH_INFO')\n"
	"        self.query = env.get('QUERY_STRING')\n"
	"        self.uri = env.get('RAW_URI')\n"
	"        proto = env.get('SERVER_PROTOCOL', 'HTTP/1.0')\n"
	"        self.version = tuple(int(x) for x in proto.split('/')[1].split('.'))\n"
	"        self.headers = [(k[5:].replace('_', '-'), v) for k, v in env.items()\n"
	"                        if k.startswith('HTTP_')]\n"
	"        for k in ('CONTENT_TYPE', 'CONTENT_LENGTH'):\n"
	"            if env.get(k):\n"
	"                self.headers.append((k.replace('_', '-'), env[k]))\n"
	"class _ScopeRequest(_Request):\n"
	"    def __init__(self, scope):\n"
	"        self.method, self.path = scope['method'], scope['path']\n"
	"        self.query = scope['query_string'].decode('latin-1')\n"
	"        self.uri = scope['raw_path'].decode('latin-1')\n"
	"        if self.query:\n"
	"            self.uri += '?' + self.query\n"
	"        self.version = tuple(int(x) for x in scope['http_version'].split('.'))\n"
	"        self.headers = [(n.decode('latin-1').upper(), v.decode('latin-1'))\n"
	"                        for n, v in scope['headers']]\n"
	"class _Response:\n"
	"    def __init__(self, status, headers, sent):\n"
	"        self.status = status or '500 Internal Server Error'\n"
	"        self.status_code = int(self.status.split(None, 1)[0])\n"
	"        self.headers = list(headers or [])\n"
	"        self.sent = self.response_length = sent\n"
	"_active = {}\n"
	"_me = None\n"
	"_cfg = None\n"
	"def _commit(names, cfg):\n"
	"    global _active, _cfg\n"
	"    mod = sys.modules.get('__config__')\n"
	"    _active = {n: getattr(mod, n) for n in names if callable(getattr(mod, n, None))}\n"
	"    _cfg = types.SimpleNamespace(**cfg)\n"
	"    return [n in _active for n in names]\n"
	"def _request(name, env, resp, scope=None):\n"
	"    w = _Worker(_cfg, _log, *_me)\n"
	"    req = _Request(env) if scope is None else _ScopeRequest(scope)\n"
	"    if scope is not None and resp is not None:\n"
	"        resp = (resp[0], [(n.decode('latin-1'), v.decode('latin-1'))\n"
	"                          for n, v in resp[1] or ()], resp[2])\n"
	"    args = (w, req) if resp is None else (w, req, env, _Response(*resp))\n"
	"    try:\n"
	"        _active[name](*args)\n"
	"    except Exception:\n"
	"        _log.error('Exception in %s hook\\n%s', name, traceback.format_exc().rstrip())\n"
	"def _call(name, num_workers, worker, ints):\n"
	"    global _me\n"
	"    if name == 'post_worker_init':\n"
	"        _me = worker\n"
	"    if name not in _active:\n"
	"        return True\n"
	"    server = _Server(_cfg, _log, num_workers)\n"
	"    w = _Worker(_cfg, _log, *worker) if worker else None\n"
	"    if name in ('post_worker_init', 'worker_int', 'worker_abort'):\n"
	"        args = (w,)\n"
	"    elif name == 'nworkers_changed':\n"
	"        args = (server,) + ints\n"
	"    elif w is not None:\n"
	"        args = (server, w)\n"
	"    else:\n"
	"        args = (server,)\n"
	"    try:\n"
	"        _active[name](*args)\n"
	"        return True\n"
	"    except Exception:\n"
	"        _log.error('Exception in %s hook\\n%s', name, traceback.format_exc().rstrip())\n"
	"        return False\n"
	"class _Refused(Exception):\n"
	"    pass\n"
	"_UNREADABLE = ('load_cert_chain', 'load_verify_locations', 'load_default_certs',\n"
	"               'set_default_verify_paths', 'set_alpn_protocols', 'set_npn_protocols',\n"
	"               'set_ecdh_curve', 'load_dh_params', 'set_servername_callback')\n"
	"def _tracked(ssl, name):\n"
	"    original = getattr(ssl.SSLContext, name)\n"
	"    def method(self, *args, **kwargs):\n"
	"        if self._kirin_made:\n"
	"            self._kirin_calls += (name,)\n"
	"        return original(self, *args, **kwargs)\n"
	"    return method\n"
	"def _tls12_ciphers(ctx):\n"
	"    return [c['name'] for c in ctx.get_ciphers() if c['protocol'] != 'TLSv1.3']\n"
	"def _version(v, ssl):\n"
	"    return 0 if v in (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED) else int(v)\n"
	"def _ssl_context(cfg):\n"
	"    import ssl\n"
	"    class Context(ssl.SSLContext):\n"
	"        _kirin_made, _kirin_calls = False, ()\n"
	"    for n in _UNREADABLE:\n"
	"        setattr(Context, n, _tracked(ssl, n))\n"
	"    conf, made = types.SimpleNamespace(**cfg), []\n"
	"    def default_ssl_context_factory():\n"
	"        ctx = Context(ssl.PROTOCOL_TLS_SERVER)\n"
	"        if conf.ca_certs:\n"
	"            ctx.load_verify_locations(conf.ca_certs)\n"
	"        ctx.load_cert_chain(conf.certfile, conf.keyfile)\n"
	"        ctx.verify_mode = (ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED)[conf.cert_reqs]\n"
	"        if conf.ciphers:\n"
	"            ctx.set_ciphers(conf.ciphers)\n"
	"        ctx.minimum_version = (ssl.TLSVersion.TLSv1_3 if conf.ssl_version == 'TLSv1_3'\n"
	"                               else ssl.TLSVersion.TLSv1_2)\n"
	"        ctx._kirin_made = True\n"
	"        made.append(ctx)\n"
	"        return ctx\n"
	"    base = default_ssl_context_factory()\n"
	"    ctx = sys.modules['__config__'].ssl_context(conf, default_ssl_context_factory)\n"
	"    if not any(ctx is m for m in made):\n"
	"        raise _Refused('it returned a context default_ssl_context_factory() did not make: '\n"
	"                       'kirin reads back what the hook changes on one')\n"
	"    what = sorted(set(ctx._kirin_calls))\n"
	"    what += [a for a in ('sni_callback', 'keylog_filename') if getattr(ctx, a) is not None]\n"
	"    what += [a for a in ('post_handshake_auth', 'verify_flags', 'num_tickets')\n"
	"             if getattr(ctx, a) != getattr(base, a)]\n"
	"    if ctx.get_ca_certs(True) != base.get_ca_certs(True):\n"
	"        what.append('CA certificates')\n"
	"    if what:\n"
	"        raise _Refused('it sets ' + ', '.join(what) + ', which kirin cannot read back into '\n"
	"                       'its OpenSSL context (it applies versions, options, ciphers, verify_mode)')\n"
	"    changed = lambda a: getattr(ctx, a) != getattr(base, a)\n"
	"    ciphers = _tls12_ciphers(ctx)\n"
	"    return (_version(ctx.minimum_version, ssl) if changed('minimum_version') else -1,\n"
	"            _version(ctx.maximum_version, ssl) if changed('maximum_version') else -1,\n"
	"            int(ctx.options) & ~int(base.options), int(base.options) & ~int(ctx.options),\n"
	"            ':'.join(ciphers) if ciphers != _tls12_ciphers(base) else None,\n"
	"            int(ctx.verify_mode) if changed('verify_mode') else -1)\n";
/* clang-format on */

static PyObject *helpers; /* hooks_src's globals (new ref, kept) */
static unsigned set_mask; /* bit h: hook h is set */

static PyObject *emit(PyObject *self, PyObject *args);
static PyObject *settings_dict(const struct config *cfg);
static int refused(PyObject *g, char *err, size_t errlen);
static PyObject *get_helpers(void);

static PyMethodDef emit_def = {"_emit", emit, METH_VARARGS, "log one message"};

bool hooks_known(const char *name)
{
	for (size_t i = 0; i < HOOK_COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

void hooks_commit(const struct config *cfg)
{
	PyObject *g, *list = NULL, *settings = NULL, *res = NULL;

	if (!Py_IsInitialized())
		return;
	set_mask = 0;
	g = get_helpers(); /* borrowed */
	if (g) {
		list = PyList_New(HOOK_COUNT); /* new ref */
		for (size_t i = 0; list && i < HOOK_COUNT; i++)
			PyList_SET_ITEM(list, i, PyUnicode_FromString(names[i]));
		settings = settings_dict(cfg); /* new ref */
	}
	if (list && settings)
		res = PyObject_CallFunction(PyDict_GetItemString(g, "_commit"), "OO", list,
		                            settings); /* new ref */
	if (!res) {
		interp_log_exception("cannot set up the server hooks");
	} else {
		for (size_t i = 0; i < HOOK_COUNT; i++)
			if (PyObject_IsTrue(PyList_GET_ITEM(res, i)) == 1)
				set_mask |= 1u << i;
	}
	Py_XDECREF(res);
	Py_XDECREF(settings);
	Py_XDECREF(list);
}

int hooks_call(enum hook h, int num_workers, const struct hook_worker *w, int new_value,
               int old_value)
{
	PyObject *worker, *ints, *res;
	PyGILState_STATE gil;
	int rc;

	if (!(set_mask & (1u << h)) && !(h == HOOK_POST_WORKER_INIT && hooks_request_set()))
		return 0;
	gil = PyGILState_Ensure();
	worker = w ? Py_BuildValue("(llIO)", w->pid, w->ppid, w->age, w->alive ? Py_True : Py_False)
	           : Py_NewRef(Py_None);                    /* new ref */
	ints = Py_BuildValue("(ii)", new_value, old_value); /* new ref */
	res = worker && ints ? PyObject_CallFunction(PyDict_GetItemString(helpers, "_call"), "siOO",
	                                             names[h], num_workers, worker, ints)
	                     : NULL; /* new ref */
	if (!res)
		interp_log_exception("calling a server hook");
	rc = res == Py_True ? 0 : -1;
	Py_XDECREF(res);
	Py_XDECREF(ints);
	Py_XDECREF(worker);
	PyGILState_Release(gil);
	return rc;
}

bool hooks_set(enum hook h)
{
	return set_mask & (1u << h);
}

bool hooks_request_set(void)
{
	return set_mask & (1u << HOOK_PRE_REQUEST | 1u << HOOK_POST_REQUEST);
}

void hooks_pre_request(PyObject *environ)
{
	PyObject *r;

	if (!(set_mask & (1u << HOOK_PRE_REQUEST)))
		return;
	r = PyObject_CallFunction(PyDict_GetItemString(helpers, "_request"), "sOO", "pre_request",
	                          environ, Py_None); /* new ref */
	if (!r)
		interp_log_exception("calling the pre_request hook");
	Py_XDECREF(r);
}

void hooks_post_request(PyObject *environ, PyObject *status, PyObject *headers, long sent)
{
	PyObject *r;

	if (!(set_mask & (1u << HOOK_POST_REQUEST)))
		return;
	r = PyObject_CallFunction(PyDict_GetItemString(helpers, "_request"), "sO(OOl)",
	                          "post_request", environ, status ? status : Py_None,
	                          headers ? headers : Py_None, sent); /* new ref */
	if (!r)
		interp_log_exception("calling the post_request hook");
	Py_XDECREF(r);
}

void hooks_pre_request_asgi(PyObject *scope)
{
	PyObject *r;

	if (!(set_mask & (1u << HOOK_PRE_REQUEST)))
		return;
	r = PyObject_CallFunction(PyDict_GetItemString(helpers, "_request"), "sOOO", "pre_request",
	                          Py_None, Py_None, scope); /* new ref */
	if (!r)
		interp_log_exception("calling the pre_request hook");
	Py_XDECREF(r);
}

void hooks_post_request_asgi(PyObject *scope, int status, PyObject *headers, long sent)
{
	PyObject *r;

	if (!(set_mask & (1u << HOOK_POST_REQUEST)))
		return;
	r = PyObject_CallFunction(PyDict_GetItemString(helpers, "_request"), "sO(NOl)O",
	                          "post_request", Py_None,
	                          status ? PyUnicode_FromFormat("%d %s", status, http_reason(status))
	                                 : (Py_INCREF(Py_None), Py_None),
	                          headers ? headers : Py_None, sent, scope); /* new ref */
	if (!r)
		interp_log_exception("calling the post_request hook");
	Py_XDECREF(r);
}

/* _Log's way out: _emit(level, message) to the error log. */
static PyObject *emit(PyObject *self, PyObject *args)
{
	int level;
	const char *msg;
	Py_ssize_t len;

	(void)self;
	if (!PyArg_ParseTuple(args, "is#", &level, &msg, &len))
		return NULL;
	if (level < LOG_DEBUG || level > LOG_CRITICAL)
		level = LOG_INFO;
	if (memchr(msg, '\n', (size_t)len)) {
		const char *nl = memchr(msg, '\n', (size_t)len);
		char head[256];
		snprintf(head, sizeof(head), "%.*s", (int)(nl - msg), msg);
		log_block((enum log_level)level, head, nl + 1, (size_t)(len - (nl + 1 - msg)));
	} else {
		log_msg((enum log_level)level, "%s", msg);
	}
	Py_RETURN_NONE;
}

int hooks_ssl_context(const struct config *cfg, struct hooks_tls *out, char *err, size_t errlen)
{
	PyObject *g = get_helpers();                        /* borrowed */
	PyObject *settings = g ? settings_dict(cfg) : NULL; /* new ref */
	PyObject *r = settings ? PyObject_CallFunctionObjArgs(
	                             PyDict_GetItemString(g, "_ssl_context"), settings, NULL)
	                       : NULL; /* new ref: (min, max, set, clear, ciphers, verify) */
	PyObject *ciphers = NULL;
	int rc = -1;

	if (r && PyArg_ParseTuple(r, "iikkOi", &out->min_version, &out->max_version,
	                          &out->options_set, &out->options_clear, &ciphers, &out->verify)) {
		out->ciphers = NULL;
		if (ciphers != Py_None) {
			const char *s = PyUnicode_AsUTF8(ciphers);
			out->ciphers = s ? strdup(s) : NULL;
		}
		rc = ciphers == Py_None || out->ciphers ? 0 : -1;
	}
	if (rc < 0 && g && refused(g, err, errlen) < 0) {
		interp_log_exception("the ssl_context hook");
		snprintf(err, errlen,
		         "ssl_context hook failed (its traceback is in the error log)");
	}
	PyErr_Clear();
	Py_XDECREF(r);
	Py_XDECREF(settings);
	PyGC_Collect(); /* its context class and objects: no SSLContext subclass outlives it */
	return rc;
}

/* The pending exception is the hook's refusal (_Refused): its reason into err, 0; else -1. */
static int refused(PyObject *g, char *err, size_t errlen)
{
	PyObject *t, *v, *tb, *s;
	int rc = -1;

	if (!PyErr_ExceptionMatches(PyDict_GetItemString(g, "_Refused")))
		return -1;
	PyErr_Fetch(&t, &v, &tb);
	s = v ? PyObject_Str(v) : NULL; /* new ref */
	if (s && PyUnicode_AsUTF8(s)) {
		snprintf(err, errlen, "ssl_context hook: %s", PyUnicode_AsUTF8(s));
		rc = 0;
	}
	Py_XDECREF(s);
	Py_XDECREF(t);
	Py_XDECREF(v);
	Py_XDECREF(tb);
	return rc;
}

/* Every setting as a Python value, for server.cfg (new ref). */
static PyObject *settings_dict(const struct config *cfg)
{
	PyObject *d = PyDict_New(); /* new ref */

	for (const struct setting *s = config_first(); d && s; s = config_next(s)) {
		PyObject *v = NULL;
		const struct strlist *l;

		switch (s->type) {
		case SETTING_INT:
			v = PyLong_FromLong(*FIELD(cfg, s, int));
			break;
		case SETTING_LONG:
			v = PyLong_FromLong(*FIELD(cfg, s, long));
			break;
		case SETTING_BOOL:
			v = PyBool_FromLong(*FIELD(cfg, s, bool));
			break;
		case SETTING_STRING:
		case SETTING_CHOICE:
			v = *FIELD(cfg, s, char *) ? PyUnicode_FromString(*FIELD(cfg, s, char *))
			                           : Py_NewRef(Py_None);
			break;
		case SETTING_LIST:
			l = FIELD(cfg, s, struct strlist);
			v = PyList_New((Py_ssize_t)l->n);
			for (size_t i = 0; v && i < l->n; i++)
				PyList_SET_ITEM(v, i, PyUnicode_FromString(l->v[i]));
			break;
		}
		if (!v || PyDict_SetItemString(d, s->name, v) < 0)
			Py_CLEAR(d);
		Py_XDECREF(v);
	}
	return d;
}

/* hooks_src's globals, run once, with _log bound to emit (borrowed); NULL with an exception. */
static PyObject *get_helpers(void)
{
	PyObject *res, *fn, *log;

	if (helpers)
		return helpers;
	helpers = PyDict_New(); /* new ref, kept */
	if (!helpers)
		return NULL;
	PyDict_SetItemString(helpers, "__builtins__", PyEval_GetBuiltins());
	res = PyRun_String(hooks_src, Py_file_input, helpers, helpers); /* new ref */
	fn = res ? PyCFunction_New(&emit_def, NULL) : NULL;             /* new ref */
	log = fn ? PyObject_CallFunction(PyDict_GetItemString(helpers, "_Log"), "O", fn)
	         : NULL; /* new ref */
	if (log)
		PyDict_SetItemString(helpers, "_log", log);
	Py_XDECREF(log);
	Py_XDECREF(fn);
	Py_XDECREF(res);
	if (!log)
		Py_CLEAR(helpers);
	return helpers;
}
