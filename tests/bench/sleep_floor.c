/*
 * sleep_floor — the floor of scenario (d): a bare libevent server in C that
 * answers every request 100 ms after its head arrives, with no Python and
 * no HTTP beyond finding the end of a head. What it reaches against the
 * ideal (connections / 0.1 s) is what this machine and wrk allow any
 * server; bench.py shows each sleeper as a share of it.
 *
 *   sleep_floor PORT       listens on 127.0.0.1:PORT until killed
 *
 * One request at a time per connection (wrk does not pipeline). Built by
 * `make bench`; not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DELAY_US 100000
#define BACKLOG  4096

struct client {
	int fd;
	struct event *read_ev, *timer_ev;
	char tail[3]; /* the last bytes read, for a head's end split across reads */
};

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 6\r\n\r\nslept\n";
static struct event_base *base;

static void client_free(struct client *c)
{
	event_free(c->read_ev);
	event_free(c->timer_ev);
	close(c->fd);
	free(c);
}

/* True when the bytes read, after the previous ones, hold a head's end. */
static int head_ended(struct client *c, const char *buf, size_t n)
{
	char joined[sizeof(c->tail) + 4096];

	memcpy(joined, c->tail, sizeof(c->tail));
	memcpy(joined + sizeof(c->tail), buf, n);
	memcpy(c->tail, joined + n, sizeof(c->tail));
	return memmem(joined, n + sizeof(c->tail), "\r\n\r\n", 4) != NULL;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if (write(c->fd, RESPONSE, sizeof(RESPONSE) - 1) != (ssize_t)sizeof(RESPONSE) - 1) {
		client_free(c);
		return;
	}
	event_add(c->read_ev, NULL);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct timeval delay = {0, DELAY_US};
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(c);
		return;
	}
	if (!head_ended(c, buf, (size_t)n))
		return;
	/* From now, not from the loop turn's cached time. */
	event_base_update_cache_time(base);
	event_del(c->read_ev);
	event_add(c->timer_ev, &delay);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;
		struct client *c;

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
		c->timer_ev = evtimer_new(base, on_timer, c);
		event_add(c->read_ev, NULL);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct event_config *ec = event_config_new();
	int lfd, one = 1;

	if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
		fprintf(stderr, "usage: sleep_floor PORT\n");
		return 2;
	}
	addr.sin_port = htons((unsigned short)atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, BACKLOG) < 0) {
		perror("sleep_floor: cannot listen");
		return 1;
	}
	/* As kirin's loop: a precise clock, not CLOCK_MONOTONIC_COARSE. */
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!base) {
		fprintf(stderr, "sleep_floor: cannot create the event loop\n");
		return 1;
	}
	event_add(event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL), NULL);
	return event_base_dispatch(base) < 0;
}
