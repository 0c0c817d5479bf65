/* spool — see spool.h. */
#include "workers/http/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers/http/mem.h"

static int spill(struct spool *s);
static int write_all(int fd, const char *p, size_t n, off_t at);
static int open_tmp(void);

void spool_init(struct spool *s, size_t mem_max)
{
	memset(s, 0, sizeof(*s));
	s->mem_max = mem_max;
	s->fd = -1;
}

uint64_t spool_size(const struct spool *s)
{
	return (uint64_t)(s->len - s->head) + (uint64_t)(s->wpos - s->rpos);
}

int spool_write(struct spool *s, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (s->fd < 0 && s->len - s->head + n > s->mem_max && spill(s) < 0)
		return -1;
	if (s->fd >= 0) {
		if (write_all(s->fd, p, n, s->wpos) < 0)
			return -1;
		s->wpos += (off_t)n;
		return 0;
	}
	if (s->head > 0 && s->len + n > s->cap) {
		/* Move what is unread to the front before growing. */
		memmove(s->mem, s->mem + s->head, s->len - s->head);
		s->len -= s->head;
		s->head = 0;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		s->mem = mem_realloc(s->mem, cap);
		s->cap = cap;
	}
	memcpy(s->mem + s->len, p, n);
	s->len += n;
	return 0;
}

ssize_t spool_read(struct spool *s, void *out, size_t n)
{
	if (s->fd < 0) {
		if (n > s->len - s->head)
			n = s->len - s->head;
		memcpy(out, s->mem + s->head, n);
		s->head += n;
		if (s->head == s->len)
			s->head = s->len = 0;
		return (ssize_t)n;
	}
	if ((off_t)n > s->wpos - s->rpos)
		n = (size_t)(s->wpos - s->rpos);
	for (;;) {
		ssize_t r = pread(s->fd, out, n, s->rpos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 && n > 0) {
			errno = EIO; /* the file is shorter than what was written */
			return -1;
		}
		s->rpos += r;
		return r;
	}
}

ssize_t spool_send(struct spool *s, int sock)
{
	ssize_t w;

	if (s->fd < 0) {
		w = send(sock, s->mem + s->head, s->len - s->head, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			s->head += (size_t)w;
			if (s->head == s->len)
				s->head = s->len = 0;
		}
		return w;
	}
	w = sendfile(sock, s->fd, &s->rpos, (size_t)(s->wpos - s->rpos));
	if (w >= 0 && s->rpos == s->wpos) {
		/* Empty again: give the file's blocks back, start over. */
		if (ftruncate(s->fd, 0) == 0)
			s->rpos = s->wpos = 0;
	}
	return w;
}

void spool_free(struct spool *s)
{
	free(s->mem);
	if (s->fd >= 0)
		close(s->fd);
	spool_init(s, s->mem_max);
}

/* Past the memory threshold: move what is unread to a new temporary file. */
static int spill(struct spool *s)
{
	int fd = open_tmp();

	if (fd < 0)
		return -1;
	if (write_all(fd, s->mem + s->head, s->len - s->head, 0) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	s->fd = fd;
	s->rpos = 0;
	s->wpos = (off_t)(s->len - s->head);
	free(s->mem);
	s->mem = NULL;
	s->head = s->len = s->cap = 0;
	return 0;
}

static int write_all(int fd, const char *p, size_t n, off_t at)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, at);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		at += w;
	}
	return 0;
}

/* An unnamed file in $TMPDIR or /tmp (a named one, unlinked at once, where O_TMPFILE is not
 * supported). */
static int open_tmp(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (snprintf(path, sizeof(path), "%s/kirin-spool-XXXXXX", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}
