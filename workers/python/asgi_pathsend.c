/*
 * asgi_pathsend — the http.response.pathsend extension of the ASGI glue
 * (declared in asgi_req.h): a file as the response body, sent from the
 * page cache with sendfile(2), never through Python.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workers/accesslog.h"
#include "workers/http/conn.h"
#include "workers/python/asgi_req.h"

#define SENDFILE_CHUNK (1 << 20) /* bytes per sendfile(2): other connections get a turn */

PyObject *asgi_pathsend(Req *r, PyObject *msg)
{
	PyObject *path = PyDict_GetItemString(msg, "path"); /* borrowed */
	PyObject *fs = NULL;
	struct iovec iov[1];
	struct stat st;
	uint64_t size;
	int n = 0, fd;

	if (!r->started || r->complete || r->head_sent) {
		PyErr_SetString(PyExc_RuntimeError, "http.response.pathsend must follow "
		                                    "http.response.start, and end the response");
		return NULL;
	}
	if (!path || !PyUnicode_FSConverter(path, &fs)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "http.response.pathsend needs a 'path'");
		return NULL;
	}
	fd = open(PyBytes_AS_STRING(fs), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd), errno = EISDIR;
		PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
		Py_DECREF(fs);
		return NULL;
	}
	Py_DECREF(fs);
	size = (uint64_t)st.st_size;
	response_end_head(&r->resp, (int64_t)size);
	iov[n++] = (struct iovec){r->resp.head, r->resp.head_len};
	r->head_sent = r->complete = true;
	r->c->continue_sent = true;
	if (!r->resp.no_body && r->resp.has_length && r->resp.length < size)
		size = r->resp.length; /* the app said less: only that much */
	r->has_file = true;
	r->file_fd = fd;
	r->file_off = 0;
	r->file_left = r->resp.no_body ? 0 : size;
	r->resp.body_sent = r->file_left;
	if (accesslog_enabled())
		accesslog_hold();
	asgi_settle(&r->recv_fut, NULL, NULL, NULL); /* a waiting receive() hears the end */
	return asgi_req_write(r, iov, n);
}

int asgi_file_pump(Req *r)
{
	while (r->file_left > 0) {
		size_t want = r->file_left < SENDFILE_CHUNK ? (size_t)r->file_left : SENDFILE_CHUNK;
		ssize_t w = sendfile(r->c->fd, r->file_fd, &r->file_off, want);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 1;
		if (w <= 0) { /* an error, or the file got shorter: the response is cut */
			r->broken = true;
			return -1;
		}
		r->file_left -= (uint64_t)w;
	}
	return 0;
}

void asgi_file_close(Req *r)
{
	if (r->has_file)
		close(r->file_fd);
	r->has_file = false;
	r->file_left = 0;
}
