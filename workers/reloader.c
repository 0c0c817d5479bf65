/* reloader — see reloader.h. */
#include "workers/reloader.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "workers/channel.h"
#include "workers/python/interp.h"

/*
 * What a file's change looks like, including an editor's rename over it
 * (the old file is deleted). Not IN_ATTRIB: a worker reading a fresh file
 * updates its atime, which would look like a change to the others.
 */
#define WATCH_MASK (IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF)
#define SETTLE_US  100000 /* let a burst of writes end before asking */

/* The watch: the inotify descriptor, and the file each watch descriptor names. */
struct watch {
	int fd;
	int channel_fd;
	char **names; /* indexed by watch descriptor */
	size_t cap;
};

static int add(struct watch *w, const char *path);
static void *run(void *arg);

/* The modules' files, as Gunicorn's reloader lists them. */
static const char files_src[] =
    "import sys\n"
    "_files = sorted({f for m in list(sys.modules.values())\n"
    "                 for f in [getattr(m, '__file__', None)] if isinstance(f, str)})\n";

int reloader_start(const struct config *cfg, int channel_fd)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	PyObject *globals = PyDict_New(); /* new ref */
	PyObject *res = NULL, *files;
	pthread_t t;
	size_t n = 0;

	w->channel_fd = channel_fd;
	w->fd = inotify_init1(IN_CLOEXEC);
	if (w->fd < 0) {
		log_error(errno, "--reload: inotify_init1()");
		goto fail;
	}
	if (globals) {
		PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
		res = PyRun_String(files_src, Py_file_input, globals, globals); /* new ref */
	}
	files = res ? PyDict_GetItemString(globals, "_files") : NULL; /* borrowed */
	if (!files) {
		interp_log_exception("--reload: listing the application's modules");
		goto fail;
	}
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(files); i++) {
		const char *path = PyUnicode_AsUTF8(PyList_GET_ITEM(files, i));
		if (!path) {
			PyErr_Clear();
			continue;
		}
		n += add(w, path) == 0;
	}
	for (size_t i = 0; i < cfg->reload_extra_files.n; i++) {
		if (add(w, cfg->reload_extra_files.v[i]) < 0)
			log_warning("--reload: cannot watch %s: %s", cfg->reload_extra_files.v[i],
			            strerror(errno));
		else
			n++;
	}
	Py_XDECREF(res);
	Py_XDECREF(globals);
	log_debug("--reload: watching %zu files", n);
	if (pthread_create(&t, NULL, run, w) != 0) {
		log_error(errno, "--reload: pthread_create()");
		return -1;
	}
	pthread_detach(t);
	return 0;
fail:
	Py_XDECREF(res);
	Py_XDECREF(globals);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
	return -1;
}

/* Watch path; remember its name under its watch descriptor. 0, or -1 with errno. */
static int add(struct watch *w, const char *path)
{
	int wd = inotify_add_watch(w->fd, path, WATCH_MASK);

	if (wd < 0)
		return -1;
	if ((size_t)wd >= w->cap) {
		size_t cap = (size_t)wd * 2 + 16;
		w->names = xrealloc(w->names, cap * sizeof(*w->names));
		memset(w->names + w->cap, 0, (cap - w->cap) * sizeof(*w->names));
		w->cap = cap;
	}
	free(w->names[wd]);
	w->names[wd] = xstrdup(path);
	return 0;
}

/*
 * The thread: wait for a change, let the burst settle, drain it, log the
 * first file named and ask the arbiter for a reload. Forever: the worker's
 * exit ends it.
 */
static void *run(void *arg)
{
	struct watch *w = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t len = read(w->fd, buf, sizeof(buf));
		const struct inotify_event *ev = (const void *)buf;
		const char *name;

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0) {
			log_error(errno, "--reload: reading inotify events");
			return NULL;
		}
		name = ev->wd >= 0 && (size_t)ev->wd < w->cap && w->names[ev->wd]
		           ? w->names[ev->wd]
		           : "a watched file";
		log_info("Worker reloading: %s modified", name);
		usleep(SETTLE_US);
		/* The rest of the burst is the same change. */
		while (poll(&(struct pollfd){.fd = w->fd, .events = POLLIN}, 1, 0) > 0 &&
		       read(w->fd, buf, sizeof(buf)) > 0)
			;
		channel_ask_reload(w->channel_fd);
	}
	return NULL;
}
