/* tls — see tls.h. */
#include "workers/http/tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "workers/http/conn.h"
#include "workers/http/mem.h"
#include "workers/http/proxy.h"

#define RECORD           16384 /* the most plaintext one TLS record carries */
#define GATHER_BELOW     4096  /* iovec pieces smaller than this are gathered into one record */
#define FILE_CHUNK       65536 /* file bytes read per SSL_write when the kernel cannot encrypt */
#define HANDSHAKE_RECORD 0x16  /* the first byte of a ClientHello's record */
#define PROXY_PEEK       128   /* bytes looked at for a PROXY header: a v1 line is at most 107 */
#define PROXY_V2_FIXED   16    /* a v2 header's signature, command and length */

static void lock(struct conn *c);
static void unlock(struct conn *c);
static int64_t now_ms(void);
static int failed(struct conn *c, int err);
static int wait_for(struct conn *c, int ssl_error);
static int pem_of(X509 *x, char **pem, size_t *pemlen);

int tls_attach(struct conn *c, struct ssl_ctx_st *ctx)
{
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		tls_free(c);
		return -1;
	}
	SSL_set_accept_state(c->ssl);
	c->tls_deadline_ms = now_ms() + (c->timeout_ms > 0 ? c->timeout_ms : 30000);
	return 0;
}

int tls_handshake(struct conn *c)
{
	int r, e;

	if (!c->tls_started) {
		unsigned char first;
		ssize_t n;

		/* Look before OpenSSL reads: plain HTTP gets a plain answer. */
		do
			n = recv(c->fd, &first, 1, MSG_PEEK);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno == EAGAIN) {
			c->tls_wants = POLLIN;
			return -2;
		}
		if (n <= 0)
			return n == 0 ? 0 : -1;
		if (first != HANDSHAKE_RECORD) {
			if (first >= 'A' && first <= 'Z') {
				tls_free(c);
				c->plain_on_tls = true;
				c->error_status = 400;
				c->error = "The plain HTTP request was sent to HTTPS port";
			}
			return -1;
		}
		c->tls_started = true;
	}
	if (now_ms() > c->tls_deadline_ms)
		return -1; /* a handshake that trickles in: as slow a head is */
	lock(c);
	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
	unlock(c);
	switch (e) {
	case SSL_ERROR_NONE:
		c->tls_ready = true;
		return 1;
	case SSL_ERROR_WANT_READ:
		c->tls_wants = POLLIN;
		return -2;
	case SSL_ERROR_WANT_WRITE:
		c->tls_wants = POLLOUT;
		return -2;
	default:
		failed(c, EPROTO);
		return -1;
	}
}

int tls_read_proxy(struct conn *c)
{
	struct http_proxy px;

	for (;;) {
		char peek[PROXY_PEEK];
		const char *start = c->len ? c->buf : peek, *nl;
		size_t want;
		ssize_t n = recv(c->fd, peek, sizeof(peek), MSG_PEEK), r;

		if (now_ms() > c->tls_deadline_ms)
			return -1; /* the header trickles in: as slow a handshake is */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			c->tls_wants = POLLIN;
			return -2;
		}
		if (n <= 0)
			return n == 0 && c->len == 0 ? 0 : -1;
		if (c->len == 0 && (r = http_proxy_parse(&px, peek, (size_t)n)) <= 0 &&
		    r != HTTP_PARSE_AGAIN)
			return r == 0 ? 1 : -1;
		/* What is certainly header: v1 up to its LF, v2 up to the length it gives. */
		if (start[0] == 'P') {
			nl = memchr(peek, '\n', (size_t)n);
			want = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
		} else if (c->len < PROXY_V2_FIXED) {
			want = PROXY_V2_FIXED - c->len;
		} else {
			want = PROXY_V2_FIXED + ((size_t)(unsigned char)c->buf[14] << 8 |
						 (unsigned char)c->buf[15]) - c->len;
		}
		if (want > (size_t)n)
			want = (size_t)n;
		if (c->len + want > c->max_head || conn_reserve(c, c->len + want) < 0)
			return -1;
		do
			n = recv(c->fd, c->buf + c->len, want, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		r = http_proxy_parse(&px, c->buf, c->len);
		if (r != HTTP_PARSE_AGAIN)
			return r > 0 ? 1 : -1;
	}
}

ssize_t tls_recv(struct conn *c, void *buf, size_t n)
{
	int r, e;

	lock(c);
	ERR_clear_error();
	r = SSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
	unlock(c);
	switch (e) {
	case SSL_ERROR_NONE:
		c->tls_wants = POLLIN; /* a reader's next wait, unless OpenSSL says otherwise */
		return r;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		c->tls_wants = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify, or a ragged EOF with suppress_ragged_eofs */
	case SSL_ERROR_SYSCALL:
		return failed(c, errno ? errno : ECONNRESET);
	default:
		return failed(c, EPROTO);
	}
}

bool tls_pending(struct conn *c)
{
	int r;

	lock(c);
	r = SSL_has_pending(c->ssl);
	unlock(c);
	return r == 1;
}

int tls_writev(struct conn *c, struct iovec *iov, int n)
{
	char gather[RECORD];

	while (n > 0) {
		const void *p = iov->iov_base;
		size_t len = iov->iov_len, w;
		int e;

		if (len < GATHER_BELOW && n > 1) {
			/* Small pieces (a head, a chunk size) go out as one record. */
			len = 0;
			for (int i = 0; i < n && len < sizeof(gather); i++) {
				size_t k = iov[i].iov_len;
				if (k > sizeof(gather) - len)
					k = sizeof(gather) - len;
				memcpy(gather + len, iov[i].iov_base, k);
				len += k;
			}
			p = gather;
		}
		if (len == 0) {
			iov++;
			n--;
			continue;
		}
		lock(c);
		ERR_clear_error();
		e = SSL_write_ex(c->ssl, p, len, &w) == 1 ? SSL_ERROR_NONE
		                                          : SSL_get_error(c->ssl, 0);
		unlock(c);
		if (e == SSL_ERROR_NONE) {
			while (n > 0 && w >= iov->iov_len) {
				w -= iov->iov_len;
				iov++;
				n--;
			}
			if (n > 0) {
				iov->iov_base = (char *)iov->iov_base + w;
				iov->iov_len -= w;
			}
			continue;
		}
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return failed(c, e == SSL_ERROR_SYSCALL && errno ? errno : EPIPE);
		if (wait_for(c, e) < 0)
			return -1;
	}
	return 0;
}

ssize_t tls_send(struct conn *c, const void *buf, size_t len)
{
	size_t w = 0;
	int e;

	lock(c);
	ERR_clear_error();
	e = SSL_write_ex(c->ssl, buf, len, &w) == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, 0);
	unlock(c);
	if (e == SSL_ERROR_NONE)
		return (ssize_t)w;
	if (e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	/* Wanting to read first needs a renegotiation, which is refused. */
	return failed(c, e == SSL_ERROR_SYSCALL && errno ? errno : EPIPE);
}

int tls_sendfile(struct conn *c, int fd, off_t *off, uint64_t *left)
{
	char *buf;
	int rc = 0;

	if (BIO_get_ktls_send(SSL_get_wbio(c->ssl))) {
		while (*left > 0) {
			size_t want = *left > (1u << 30) ? (1u << 30) : (size_t)*left;
			ossl_ssize_t s;
			int e;

			lock(c);
			ERR_clear_error();
			s = SSL_sendfile(c->ssl, fd, *off, want, 0);
			e = s > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, (int)s);
			unlock(c);
			if (s > 0) {
				*off += s;
				*left -= (uint64_t)s;
				continue;
			}
			if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
				return failed(c, errno ? errno : EPIPE);
			if (wait_for(c, e) < 0)
				return -1;
		}
		return 0;
	}
	buf = mem_alloc(FILE_CHUNK);
	while (*left > 0 && rc == 0) {
		size_t want = *left > FILE_CHUNK ? FILE_CHUNK : (size_t)*left;
		ssize_t r = pread(fd, buf, want, *off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = -1; /* a read error, or the file shrank */
			break;
		}
		struct iovec iov = {buf, (size_t)r};
		rc = tls_writev(c, &iov, 1);
		if (rc == 0) {
			*off += r;
			*left -= (uint64_t)r;
		}
	}
	free(buf);
	return rc;
}

void tls_shutdown(struct conn *c)
{
	if (c->ssl && c->tls_ready && !c->tls_failed && !c->tls_closed) {
		c->tls_closed = true;
		lock(c);
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		ERR_clear_error();
		unlock(c);
	}
}

void tls_free(struct conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
}

int tls_peer(const struct conn *c, char **dn, size_t *dnlen, char **pem, size_t *pemlen)
{
	X509 *x = c->ssl ? SSL_get0_peer_certificate(c->ssl) : NULL;
	BIO *m;
	char *data;
	long len;
	int rc = -1;

	if (!x || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return 0;
	m = BIO_new(BIO_s_mem());
	if (m && X509_NAME_print_ex(m, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(m, &data);
		*dn = mem_alloc((size_t)len + 1);
		memcpy(*dn, data, (size_t)len);
		(*dn)[len] = '\0';
		*dnlen = (size_t)len;
		rc = pem ? pem_of(x, pem, pemlen) : 1;
		if (rc < 0) {
			free(*dn);
			*dn = NULL;
		}
	}
	BIO_free(m);
	ERR_clear_error();
	return rc;
}

void tls_session(const struct conn *c, int *version, int *cipher)
{
	const SSL_CIPHER *sc = SSL_get_current_cipher(c->ssl);

	*version = SSL_version(c->ssl);
	*cipher = sc ? (int)SSL_CIPHER_get_protocol_id(sc) : -1;
}

int tls_cert(const struct conn *c, int which, char **pem, size_t *pemlen)
{
	STACK_OF(X509) *chain;
	X509 *x;

	if (which == 0)
		x = SSL_get_certificate(c->ssl);
	else if (SSL_get_verify_result(c->ssl) != X509_V_OK)
		x = NULL;
	else if (which == 1)
		x = SSL_get0_peer_certificate(c->ssl);
	else if ((chain = SSL_get_peer_cert_chain(c->ssl)) && which - 2 < sk_X509_num(chain))
		x = sk_X509_value(chain, which - 2);
	else
		x = NULL;
	return x ? pem_of(x, pem, pemlen) : 0;
}

/* x as PEM text in a new buffer *pem (NUL-terminated), its length in *pemlen: 1, or -1. */
static int pem_of(X509 *x, char **pem, size_t *pemlen)
{
	BIO *m = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = -1;

	if (m && PEM_write_bio_X509(m, x) == 1) {
		len = BIO_get_mem_data(m, &data);
		*pem = mem_alloc((size_t)len + 1);
		memcpy(*pem, data, (size_t)len);
		(*pem)[len] = '\0';
		*pemlen = (size_t)len;
		rc = 1;
	}
	BIO_free(m);
	ERR_clear_error();
	return rc;
}

/*
 * One thread in c's OpenSSL session at a time: a WebSocket may be read by
 * one thread while another writes to it (gthread), which a plain socket
 * allows and an SSL object does not. Held only across one non-blocking
 * OpenSSL call, never across a wait; uncontended but for such sockets.
 */
static void lock(struct conn *c)
{
	while (__atomic_test_and_set(&c->tls_lock, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void unlock(struct conn *c)
{
	__atomic_clear(&c->tls_lock, __ATOMIC_RELEASE);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The session is broken (no close_notify will be sent): errno = err, returns -1. */
static int failed(struct conn *c, int err)
{
	c->tls_failed = true;
	ERR_clear_error();
	errno = err;
	return -1;
}

/*
 * A writer waits for what OpenSSL asked (SSL_ERROR_WANT_READ or _WRITE),
 * within c->timeout_ms: 0, or -1. (Not through c->tls_wants, which is the
 * reader's.)
 */
static int wait_for(struct conn *c, int ssl_error)
{
	return c->io->wait(c, ssl_error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, c->timeout_ms);
}
