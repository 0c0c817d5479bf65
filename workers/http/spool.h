/*
 * spool — a first-in first-out store of bytes, in memory up to a threshold
 * and in an unlinked temporary file past it (as waitress's buffers): a
 * request body the event loop reads ahead of the app, or a response the app
 * writes ahead of a slow client. The file is created in $TMPDIR (/tmp when
 * unset) with O_TMPFILE, so nothing is left behind whatever ends the process.
 *
 * Runs in workers, any thread, one thread at a time: whoever owns the
 * connection. Never waits on a socket; reading or writing the file is disk
 * I/O.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool {
	char *mem; /* unread bytes at mem[head..len) while in memory */
	size_t head, len, cap;
	size_t mem_max;   /* past this many bytes, everything goes to the file */
	int fd;           /* the temporary file, -1 until the bytes spill */
	off_t rpos, wpos; /* unread bytes at [rpos, wpos) of the file */
};

/* An empty spool that keeps up to mem_max bytes in memory. */
void spool_init(struct spool *s, size_t mem_max);

/* Bytes written and not read yet. */
uint64_t spool_size(const struct spool *s);

/*
 * Append p[0..n). Returns 0, or -1 when the temporary file cannot be
 * created or written (errno set; the spool is unchanged).
 */
int spool_write(struct spool *s, const void *p, size_t n);

/*
 * Take up to n of the oldest bytes into out. Returns the bytes taken, 0 when
 * the spool is empty, -1 when the file cannot be read (errno set).
 */
ssize_t spool_read(struct spool *s, void *out, size_t n);

/*
 * Send the oldest bytes on socket sock without waiting (send(), or
 * sendfile() from the file) and drop what went. Returns the bytes sent,
 * -1 with errno (EAGAIN: the socket is full).
 */
ssize_t spool_send(struct spool *s, int sock);

/* Free the memory, close the file; the spool is empty (spool_init()'s state) again. */
void spool_free(struct spool *s);
