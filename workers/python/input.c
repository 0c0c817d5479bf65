/* input — see input.h. */
#include "workers/python/input.h"

#include <string.h>
#include <unistd.h>

#include "arbiter/log.h"
#include "workers/http/conn.h"

#define BLOCK 65536

typedef struct {
	PyObject_HEAD
	struct conn *c; /* NULL once detached */
	char *buf;      /* bytes read ahead by readline: buf[off..len) */
	size_t off, len, cap;
} Input;

typedef struct {
	PyObject_HEAD
} Errors;

/* A wsgi.input that no one kept, for this thread's next request. */
static __thread Input *spare_input;

static PyObject *input_read(Input *self, PyObject *args);
static PyObject *input_readline(Input *self, PyObject *args);
static PyObject *input_readlines(Input *self, PyObject *args);
static PyObject *input_iternext(Input *self);
static void input_dealloc(Input *self);
static PyObject *errors_write(Errors *self, PyObject *arg);
static PyObject *errors_writelines(Errors *self, PyObject *arg);
static PyObject *errors_flush(Errors *self, PyObject *unused);

static PyMethodDef input_methods[] = {
	{"read", (PyCFunction)input_read, METH_VARARGS, "read([size]) -> bytes"},
	{"readline", (PyCFunction)input_readline, METH_VARARGS, "readline([size]) -> bytes"},
	{"readlines", (PyCFunction)input_readlines, METH_VARARGS, "readlines([hint]) -> list"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject InputType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.Input",
	.tp_basicsize = sizeof(Input),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.input: the request body, streamed from the client",
	.tp_dealloc = (destructor)input_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)input_iternext,
	.tp_methods = input_methods,
};

static PyMethodDef errors_methods[] = {
	{"write", (PyCFunction)errors_write, METH_O, "write(str)"},
	{"writelines", (PyCFunction)errors_writelines, METH_O, "writelines(seq)"},
	{"flush", (PyCFunction)errors_flush, METH_NOARGS, "flush()"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject ErrorsType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kirin.Errors",
	.tp_basicsize = sizeof(Errors),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.errors: writes to the error log",
	.tp_methods = errors_methods,
};

int input_init_types(void)
{
	if (PyType_Ready(&InputType) < 0 || PyType_Ready(&ErrorsType) < 0)
		return -1;
	return 0;
}

PyObject *input_new(struct conn *c)
{
	Input *in = spare_input;

	spare_input = NULL;
	if (!in && !(in = PyObject_New(Input, &InputType)))
		return NULL;
	in->c = c;
	in->buf = NULL;
	in->off = in->len = in->cap = 0;
	return (PyObject *)in;
}

void input_release(PyObject *input)
{
	Input *in = (Input *)input;

	in->c = NULL;
	if (!spare_input && Py_REFCNT(input) == 1) {
		free(in->buf); /* a body's read-ahead is not kept between requests */
		spare_input = in;
		return;
	}
	Py_DECREF(input);
}

PyObject *errors_new(void)
{
	return (PyObject *)PyObject_New(Errors, &ErrorsType);
}

/* Read more body bytes into the read-ahead buffer; returns bytes added, 0 at end, -1 raised. */
static Py_ssize_t more(Input *self)
{
	ssize_t n;

	if (!self->c)
		return 0;
	if (self->off == self->len)
		self->off = self->len = 0;
	if (self->cap - self->len < BLOCK) {
		size_t cap = self->cap ? self->cap * 2 : BLOCK;
		while (cap - self->len < BLOCK)
			cap *= 2;
		self->buf = xrealloc(self->buf, cap);
		self->cap = cap;
	}
	Py_BEGIN_ALLOW_THREADS;
	n = conn_body_read(self->c, self->buf + self->len, BLOCK);
	Py_END_ALLOW_THREADS;
	if (n < 0) {
		PyErr_SetString(PyExc_OSError, self->c->error_status
							? (self->c->error ? self->c->error : "invalid request body")
							: "client disconnected while sending the body");
		return -1;
	}
	self->len += (size_t)n;
	return n;
}

/* Take up to n buffered bytes as a bytes object (new ref). */
static PyObject *take(Input *self, size_t n)
{
	PyObject *b;

	if (n > self->len - self->off)
		n = self->len - self->off;
	b = PyBytes_FromStringAndSize(self->buf ? self->buf + self->off : "", (Py_ssize_t)n);
	if (b)
		self->off += n;
	return b;
}

static int size_arg(PyObject *args, Py_ssize_t *size)
{
	PyObject *o = Py_None;

	*size = -1;
	if (!PyArg_ParseTuple(args, "|O", &o))
		return -1;
	if (o == Py_None)
		return 0;
	*size = PyLong_AsSsize_t(o);
	return *size == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *input_read(Input *self, PyObject *args)
{
	Py_ssize_t size, r;

	if (size_arg(args, &size) < 0)
		return NULL;
	while (size < 0 || self->len - self->off < (size_t)size) {
		r = more(self);
		if (r < 0)
			return NULL;
		if (r == 0)
			break;
	}
	return take(self, size < 0 ? self->len - self->off : (size_t)size);
}

static PyObject *input_readline(Input *self, PyObject *args)
{
	Py_ssize_t size, r;
	size_t scanned = 0;

	if (size_arg(args, &size) < 0)
		return NULL;
	for (;;) {
		size_t avail = self->len - self->off;
		size_t limit = size >= 0 && (size_t)size < avail ? (size_t)size : avail;
		char *nl = limit > scanned ? memchr(self->buf + self->off + scanned, '\n',
						    limit - scanned)
					   : NULL;
		if (nl)
			return take(self, (size_t)(nl - (self->buf + self->off)) + 1);
		if (size >= 0 && avail >= (size_t)size)
			return take(self, (size_t)size);
		scanned = limit;
		r = more(self);
		if (r < 0)
			return NULL;
		if (r == 0)
			return take(self, avail);
	}
}

static PyObject *input_readlines(Input *self, PyObject *args)
{
	Py_ssize_t hint, total = 0;
	PyObject *list, *line, *none;

	if (size_arg(args, &hint) < 0)
		return NULL;
	list = PyList_New(0);
	none = PyTuple_New(0);
	if (!list || !none)
		goto fail;
	for (;;) {
		line = input_readline(self, none);
		if (!line)
			goto fail;
		if (PyBytes_GET_SIZE(line) == 0) {
			Py_DECREF(line);
			break;
		}
		total += PyBytes_GET_SIZE(line);
		if (PyList_Append(list, line) < 0) {
			Py_DECREF(line);
			goto fail;
		}
		Py_DECREF(line);
		if (hint > 0 && total >= hint)
			break;
	}
	Py_DECREF(none);
	return list;
fail:
	Py_XDECREF(none);
	Py_XDECREF(list);
	return NULL;
}

static PyObject *input_iternext(Input *self)
{
	PyObject *none = PyTuple_New(0), *line;

	if (!none)
		return NULL;
	line = input_readline(self, none);
	Py_DECREF(none);
	if (line && PyBytes_GET_SIZE(line) == 0) {
		Py_DECREF(line);
		return NULL; /* StopIteration */
	}
	return line;
}

static void input_dealloc(Input *self)
{
	free(self->buf);
	PyObject_Free(self);
}

static PyObject *errors_write(Errors *self, PyObject *arg)
{
	Py_ssize_t len;
	const char *s;

	if (!PyUnicode_Check(arg)) {
		PyErr_Format(PyExc_TypeError, "wsgi.errors.write() takes str, not %.100s",
			     Py_TYPE(arg)->tp_name);
		return NULL;
	}
	s = PyUnicode_AsUTF8AndSize(arg, &len);
	if (!s)
		return NULL;
	while (len > 0) {
		ssize_t w = write(log_fd(), s, (size_t)len);
		if (w <= 0)
			break;
		s += w;
		len -= w;
	}
	Py_RETURN_NONE;
}

static PyObject *errors_writelines(Errors *self, PyObject *arg)
{
	PyObject *it = PyObject_GetIter(arg), *item;

	if (!it)
		return NULL;
	while ((item = PyIter_Next(it))) {
		PyObject *r = errors_write(self, item);
		Py_DECREF(item);
		if (!r) {
			Py_DECREF(it);
			return NULL;
		}
		Py_DECREF(r);
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *errors_flush(Errors *self, PyObject *unused)
{
	Py_RETURN_NONE;
}
