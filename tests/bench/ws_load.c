/*
 * ws_load — the WebSocket load client of bench.py's scenario (i): CONNS
 * connections to 127.0.0.1:PORT, each sending a masked text message of
 * SIZE bytes and waiting for its echo, again and again, for SECONDS after
 * every handshake is done. Prints the round trips, the seconds, and the
 * client's own CPU seconds (so the harness can tell when the client, not
 * the server, is the limit). One thread, epoll, no library: a Python client
 * tops out below the servers it measures.
 *
 *   ws_load PORT CONNS SECONDS SIZE
 *   -> roundtrips=N seconds=S cpu=C errors=E
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_MAX 65536

struct wsconn {
	int fd;
	int open; /* the 101 came */
	size_t len;
	unsigned char in[IN_MAX];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* One whole write of a small buffer; the kernel has room for it. */
static int put(int fd, const void *p, size_t n)
{
	ssize_t w = write(fd, p, n);

	return w == (ssize_t)n ? 0 : -1;
}

/* The length of the frame at in[0..len), 0 while incomplete. */
static size_t frame_len(const unsigned char *in, size_t len)
{
	size_t n, at = 2;

	if (len < 2)
		return 0;
	n = in[1] & 0x7f;
	if (n == 126) {
		if (len < 4)
			return 0;
		n = (size_t)in[2] << 8 | in[3];
		at = 4;
	} else if (n == 127) {
		return (size_t)-1; /* larger than this client sends */
	}
	return len >= at + n ? at + n : 0;
}

int main(int argc, char **argv)
{
	static const char hs[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n\r\n";
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct epoll_event ev[256];
	unsigned char *msg;
	size_t size, mlen;
	int port, conns, seconds, ep, opened = 0, errors = 0, one = 1;
	unsigned long long rounds = 0;
	double start = 0, cpu0 = 0, end = 0;
	struct wsconn *cs;

	if (argc != 5) {
		fprintf(stderr, "usage: ws_load PORT CONNS SECONDS SIZE\n");
		return 2;
	}
	port = atoi(argv[1]);
	conns = atoi(argv[2]);
	seconds = atoi(argv[3]);
	size = (size_t)atol(argv[4]);
	if (conns < 1 || seconds < 1 || size > 65535) {
		fprintf(stderr, "ws_load: CONNS >= 1, SECONDS >= 1, SIZE <= 65535\n");
		return 2;
	}
	/* The message, masked with a zero key (a mask is required, not its value). */
	msg = malloc(size + 8);
	mlen = 0;
	msg[mlen++] = 0x81;
	if (size < 126) {
		msg[mlen++] = 0x80 | (unsigned char)size;
	} else {
		msg[mlen++] = 0x80 | 126;
		msg[mlen++] = (unsigned char)(size >> 8);
		msg[mlen++] = (unsigned char)size;
	}
	memset(msg + mlen, 0, 4);
	mlen += 4;
	memset(msg + mlen, 'x', size);
	mlen += size;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ep = epoll_create1(0);
	cs = calloc((size_t)conns, sizeof(*cs));
	for (int i = 0; i < conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    put(fd, hs, sizeof(hs) - 1) < 0) {
			perror("ws_load: connect");
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cs[i].fd = fd;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = &cs[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
	}
	for (;;) {
		int n = epoll_wait(ep, ev, 256, 1000);
		double t = now();

		if (start > 0 && t >= end)
			break;
		if (n == 0 && start == 0) {
			fprintf(stderr, "ws_load: %d of %d handshakes answered in 1 s\n", opened,
				conns);
			return 1;
		}
		for (int k = 0; k < n; k++) {
			struct wsconn *c = ev[k].data.ptr;
			ssize_t r = read(c->fd, c->in + c->len, IN_MAX - c->len);

			if (r <= 0) {
				errors++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			c->len += (size_t)r;
			if (!c->open) {
				unsigned char *e = memmem(c->in, c->len, "\r\n\r\n", 4);
				if (!e)
					continue;
				if (memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
					fprintf(stderr, "ws_load: handshake refused: %.40s\n", c->in);
					return 1;
				}
				c->open = 1;
				c->len -= (size_t)(e + 4 - c->in);
				memmove(c->in, e + 4, c->len);
				if (++opened == conns) {
					/* Every connection is open: the window starts. */
					start = now();
					end = start + seconds;
					cpu0 = cpu();
					for (int i = 0; i < conns; i++)
						if (put(cs[i].fd, msg, mlen) < 0)
							errors++;
				}
				continue;
			}
			for (;;) {
				size_t fl = frame_len(c->in, c->len);

				if (fl == (size_t)-1) {
					fprintf(stderr, "ws_load: an unexpected large frame\n");
					return 1;
				}
				if (fl == 0)
					break;
				rounds++;
				c->len -= fl;
				memmove(c->in, c->in + fl, c->len);
				if (put(c->fd, msg, mlen) < 0)
					errors++;
			}
		}
	}
	printf("roundtrips=%llu seconds=%.3f cpu=%.3f errors=%d\n", rounds, now() - start,
	       cpu() - cpu0, errors);
	return 0;
}
