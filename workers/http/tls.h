/*
 * tls — a connection's TLS layer over OpenSSL: the non-blocking handshake
 * (with plain HTTP sent to the TLS port told apart), reading, writing,
 * file bodies (kernel TLS and sendfile(2) when the kernel encrypts, else
 * SSL_write from the file), the close_notify, and the client certificate
 * for the environ.
 *
 * Runs in workers, in whichever thread owns the connection (a WebSocket's
 * reader and writer may be two threads: OpenSSL calls are serialised per
 * connection, c->tls_lock). conn.c calls it
 * for a connection with c->ssl set, and never otherwise: plain TCP pays one
 * branch. Like conn, never touches Python; a call that "may wait" waits
 * through c->io->wait() for what OpenSSL asked (c->tls_wants: POLLIN or
 * POLLOUT: a read may need to write, and a write to read). The SSL_CTX is
 * the arbiter's (arbiter/sslctx.h), inherited across fork.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct conn;
struct ssl_ctx_st;

/*
 * Give c (freshly accepted) a TLS session of ctx, server side. The
 * handshake must finish within c->timeout_ms from now. Returns 0, or -1
 * when OpenSSL cannot (out of memory): close the connection. Never waits.
 */
int tls_attach(struct conn *c, struct ssl_ctx_st *ctx);

/*
 * Drive the handshake, never waiting. Returns 1 when it is done, -2 when
 * it needs c->tls_wants first, 0 when the client closed before sending
 * anything, -1 when it failed: c->error_status is then 400 when the client
 * spoke plain HTTP (c->ssl is gone: answer in plain text, then close), else
 * 0 (close silently: not TLS, a bad or refused handshake, too slow).
 */
int tls_handshake(struct conn *c);

/*
 * Before the handshake, when c->expect_proxy: a PROXY header sent in the
 * clear ahead of the ClientHello (HAProxy's send-proxy, nginx's
 * proxy_protocol), read into c->buf and never a byte past its end.
 * Returns 1 when c->buf holds the whole header, or nothing when the client
 * starts otherwise (then the handshake comes; a header may still come
 * inside TLS, where Gunicorn reads it); -2 to wait for c->tls_wants, 0 on
 * EOF before anything, -1 when it is malformed or too long: close.
 */
int tls_read_proxy(struct conn *c);

/*
 * Read up to n bytes of plaintext. Returns the bytes read, 0 at the end of
 * the stream, -1 with errno: EAGAIN when OpenSSL needs c->tls_wants first,
 * else the connection failed. Never waits.
 */
ssize_t tls_recv(struct conn *c, void *buf, size_t n);

/* True when OpenSSL holds plaintext (or a record) that no socket event will announce. */
bool tls_pending(struct conn *c);

/*
 * Write all of iov[0..n) (the array is modified), as records of up to
 * 16 KiB (small pieces gathered into one). Returns 0, or -1 when the peer
 * is gone or a wait timed out. May wait.
 */
int tls_writev(struct conn *c, struct iovec *iov, int n);

/*
 * Write up to len bytes of buf (len > 0), never waiting. Returns the bytes
 * written, or -1 with errno: EAGAIN when the socket is full (call again
 * when it is writable, with the same bytes first: the buffer may move and
 * grow, never shrink), else the connection failed.
 */
ssize_t tls_send(struct conn *c, const void *buf, size_t len);

/*
 * Send *left bytes of the regular file fd from *off: sendfile(2) through
 * kernel TLS when OpenSSL turned it on for this connection, else read and
 * SSL_write. Advances *off and *left. Returns 0, or -1 (peer gone, a wait
 * timed out, a read error, the file shrank). May wait.
 */
int tls_sendfile(struct conn *c, int fd, off_t *off, uint64_t *left);

/* Send a close_notify if the session is healthy, never waiting. */
void tls_shutdown(struct conn *c);

/* Free c's TLS session (c->ssl NULL afterwards); the socket stays. */
void tls_free(struct conn *c);

/*
 * The client certificate, when one was sent and verified: its subject
 * (RFC 2253, as nginx's $ssl_client_s_dn) as a new text in *dn, its length
 * in *dnlen, and unless pem is NULL a new PEM text in *pem with its length
 * in *pemlen (free() both). Returns 1, 0 when there is none, -1 when out
 * of memory. Never waits.
 */
int tls_peer(const struct conn *c, char **dn, size_t *dnlen, char **pem, size_t *pemlen);

/*
 * c's session as the ASGI TLS extension tells it: the protocol version
 * (0x0304 for TLS 1.3) and the cipher suite's IANA number (0x1301 for
 * TLS_AES_128_GCM_SHA256; -1 when unknown). Never waits.
 */
void tls_session(const struct conn *c, int *version, int *cipher);

/*
 * A certificate of c's session as a new PEM text in *pem (free() it), its
 * length in *pemlen: which 0 is the server's own, 1 the client's (when it
 * was verified), 2.. the chain the client sent with it. Returns 1, 0 when
 * there is none, -1 when out of memory. Never waits.
 */
int tls_cert(const struct conn *c, int which, char **pem, size_t *pemlen);
