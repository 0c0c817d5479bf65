/* conn_write — the writing half of conn: see conn.h. */
#include "workers/http/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers/http/mem.h"
#include "workers/http/tls.h"

static bool buffering(const struct conn *c);
static int keep(struct conn *c, struct iovec *iov, int n);
static int drain_out(struct conn *c, size_t to);
static void advance(struct iovec **iov, int *n, size_t w);
static int flushed(struct conn *c, ssize_t w);

int conn_writev(struct conn *c, struct iovec *iov, int n)
{
	if (c->ssl)
		return tls_writev(c, iov, n); /* never kept: see buffering() */
	if (conn_pending(c)) {
		/* Behind what waits already: keep it too, or (an upgraded
		 * connection, or a file range in the way) send what waits first. */
		if (buffering(c) && c->out_file < 0 && conn_flush(c) == -2)
			return keep(c, iov, n);
		if (drain_out(c, 0) < 0)
			return -1;
	}
	while (n > 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && buffering(c))
				return keep(c, iov, n);
			if (errno == EAGAIN && c->io->wait(c, POLLOUT, c->timeout_ms) == 0)
				continue;
			return -1;
		}
		advance(&iov, &n, (size_t)w);
	}
	return 0;
}

int conn_writev_now(struct conn *c, struct iovec **iov, int *n)
{
	if (c->ssl || conn_pending(c))
		return -2;
	while (*n > 0) {
		struct msghdr msg = {.msg_iov = *iov, .msg_iovlen = (size_t)*n};
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN ? -2 : -1;
		advance(iov, n, (size_t)w);
	}
	return 0;
}

ssize_t conn_send_some(struct conn *c, const void *buf, size_t len)
{
	ssize_t w;

	if (c->ssl)
		return tls_send(c, buf, len);
	do
		w = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	return w;
}

/* Drop the w bytes written from the front of (*iov)[0..*n). */
static void advance(struct iovec **iov, int *n, size_t w)
{
	while (*n > 0 && w >= (*iov)->iov_len) {
		w -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + w;
		(*iov)->iov_len -= w;
	}
}

int conn_sendfile(struct conn *c, int fd, off_t *off, uint64_t *left)
{
	if (c->ssl)
		return tls_sendfile(c, fd, off, left);
	if (conn_pending(c) && (!buffering(c) || c->out_file >= 0) && drain_out(c, 0) < 0)
		return -1;
	while (*left > 0) {
		size_t step = *left > (1 << 30) ? (1 << 30) : (size_t)*left;
		ssize_t n = conn_pending(c) ? -1 : sendfile(c->fd, fd, off, step);

		if (n > 0) {
			*left -= (uint64_t)n;
		} else if (n == 0) {
			return -1; /* the file is shorter than it was */
		} else if (!conn_pending(c) && errno == EINTR) {
			continue;
		} else if ((conn_pending(c) || errno == EAGAIN) && buffering(c)) {
			int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);

			if (dup >= 0) {
				/* The loop sends the rest (conn_flush()). */
				c->out_file = dup;
				c->out_off = *off;
				c->out_left = *left;
				*off += (off_t)*left;
				*left = 0;
				return 0;
			}
			if (drain_out(c, 0) < 0 || c->io->wait(c, POLLOUT, c->timeout_ms) < 0)
				return -1;
		} else if (errno != EAGAIN || c->io->wait(c, POLLOUT, c->timeout_ms) < 0) {
			return -1;
		}
	}
	return 0;
}

bool conn_pending(const struct conn *c)
{
	return (c->out && spool_size(c->out) > 0) || c->out_file >= 0;
}

bool conn_lend(struct conn *c)
{
	if (!c->io->lend || !conn_pending(c))
		return false;
	c->io->lend(c);
	return true;
}

int conn_flush(struct conn *c)
{
	int rc;

	while (c->out && spool_size(c->out) > 0)
		if ((rc = flushed(c, spool_send(c->out, c->fd))) <= 0)
			return rc;
	while (c->out_file >= 0 && c->out_left > 0) {
		ssize_t w = sendfile(c->fd, c->out_file, &c->out_off,
				     c->out_left > (1 << 30) ? (1 << 30) : c->out_left);

		if ((rc = flushed(c, w)) <= 0)
			return rc;
		if (w > 0)
			c->out_left -= (uint64_t)w;
	}
	conn_drop_output(c);
	return 0;
}

/*
 * What one send of conn_flush() (w bytes, or -1 with errno) means: 1 go
 * on, -2 wait for the socket, -1 the connection failed (its output
 * dropped).
 */
static int flushed(struct conn *c, ssize_t w)
{
	if (w > 0 || (w < 0 && errno == EINTR))
		return 1;
	if (w < 0 && errno == EAGAIN)
		return -2;
	conn_drop_output(c);
	return -1;
}

/*
 * Output is written ahead for this connection: out_max set, not upgraded,
 * and plain HTTP (what the loop sends goes straight to the socket).
 */
static bool buffering(const struct conn *c)
{
	return c->out_max > 0 && !c->upgraded && !c->ssl;
}

/*
 * Keep iov[0..n) to send later (conn_writev()), then wait while more than
 * c->out_max bytes are kept. Returns 0, or -1 as conn_writev().
 */
static int keep(struct conn *c, struct iovec *iov, int n)
{
	if (!c->out) {
		c->out = mem_alloc(sizeof(*c->out));
		spool_init(c->out, c->out_mem);
	}
	for (int i = 0; i < n; i++) {
		if (spool_write(c->out, iov[i].iov_base, iov[i].iov_len) < 0) {
			/* No room on disk: wait for the client instead. */
			if (drain_out(c, 0) < 0)
				return -1;
			c->out_max = 0;
			return conn_writev(c, iov + i, n - i);
		}
	}
	return spool_size(c->out) > c->out_max ? drain_out(c, c->out_max) : 0;
}

/*
 * Send what is kept, waiting for the socket, until at most `to` bytes are
 * left (and no file range). Returns 0, or -1 when the peer is gone or a
 * wait timed out (what is kept is dropped).
 */
static int drain_out(struct conn *c, size_t to)
{
	while (conn_pending(c) && (c->out_file >= 0 || !c->out || spool_size(c->out) > to)) {
		int rc = conn_flush(c);

		if (rc == -1)
			return -1;
		if (rc == -2 && c->io->wait(c, POLLOUT, c->timeout_ms) < 0) {
			conn_drop_output(c);
			return -1;
		}
	}
	return 0;
}

void conn_drop_output(struct conn *c)
{
	if (c->out) {
		spool_free(c->out);
		free(c->out);
		c->out = NULL;
	}
	if (c->out_file >= 0) {
		close(c->out_file);
		c->out_file = -1;
	}
	c->out_left = 0;
}

int conn_drain(struct conn *c)
{
	return drain_out(c, 0);
}
