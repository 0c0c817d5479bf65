/* sslctx — see sslctx.h. */
#include "arbiter/sslctx.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/config.h"

#define SESSION_CONTEXT "kirin"

static int configure(SSL_CTX *ctx, const struct config *cfg, const char *key, char *err,
                     size_t errlen);
static int readable(const char *what, const char *path, char *err, size_t errlen);
static int ssl_failed(const char *what, const char *path, char *err, size_t errlen);
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg);

int sslctx_load(struct config *cfg, char *err, size_t errlen)
{
	const char *key = cfg->keyfile ? cfg->keyfile : cfg->certfile;
	SSL_CTX *ctx;

	cfg->tls_ctx = NULL;
	if (!cfg->certfile) {
		if (cfg->keyfile) {
			snprintf(err, errlen, "keyfile '%s' is set but certfile is not",
			         cfg->keyfile);
			return -1;
		}
		return 0;
	}
	if (cfg->cert_reqs > 0 && !cfg->ca_certs) {
		snprintf(err, errlen,
		         "cert_reqs %d verifies client certificates: it needs ca_certs",
		         cfg->cert_reqs);
		return -1;
	}
	if (readable("certfile", cfg->certfile, err, errlen) < 0 ||
	    readable("keyfile", key, err, errlen) < 0 ||
	    (cfg->ca_certs && readable("ca_certs", cfg->ca_certs, err, errlen) < 0))
		return -1;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return ssl_failed("SSL_CTX_new()", "", err, errlen);
	if (configure(ctx, cfg, key, err, errlen) < 0) {
		SSL_CTX_free(ctx);
		return -1;
	}
	cfg->tls_ctx = ctx;
	return 0;
}

/* Everything sslctx_load() sets on a new context. 0, or -1 with err. */
static int configure(SSL_CTX *ctx, const struct config *cfg, const char *key, char *err,
                     size_t errlen)
{
	int verify = SSL_VERIFY_NONE;

	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->certfile) != 1)
		return ssl_failed("certfile", cfg->certfile, err, errlen);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return ssl_failed("keyfile", key, err, errlen);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ssl_failed("keyfile (does not match the certificate)", key, err, errlen);
	if (cfg->ca_certs) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_certs);
		if (!names || SSL_CTX_load_verify_locations(ctx, cfg->ca_certs, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			return ssl_failed("ca_certs", cfg->ca_certs, err, errlen);
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (cfg->ciphers && SSL_CTX_set_cipher_list(ctx, cfg->ciphers) != 1)
		return ssl_failed("ciphers", cfg->ciphers, err, errlen);
	if (cfg->cert_reqs == 1)
		verify = SSL_VERIFY_PEER;
	else if (cfg->cert_reqs == 2)
		verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, verify, NULL);
	SSL_CTX_set_min_proto_version(
	    ctx, cfg->ssl_version && strcmp(cfg->ssl_version, "TLSv1_3") == 0 ? TLS1_3_VERSION
	                                                                      : TLS1_2_VERSION);
	/* Renegotiation is refused; a close without close_notify is an EOF
	 * when suppress_ragged_eofs (Gunicorn's default); file bodies go
	 * through the kernel when it can encrypt them. */
	SSL_CTX_set_options(ctx,
	                    SSL_OP_NO_RENEGOTIATION | SSL_OP_ENABLE_KTLS |
	                        (cfg->suppress_ragged_eofs ? SSL_OP_IGNORE_UNEXPECTED_EOF : 0));
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	/* Sessions resume through tickets only: their keys, made here, are
	 * every worker's (a per-process cache would miss on other workers). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_CONTEXT,
	                               sizeof(SESSION_CONTEXT) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	return 0;
}

void sslctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

const char *sslctx_ktls_state(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc, e;

	if (fd < 0)
		return "file responses over TLS: SSL_write (no socket to probe kernel TLS)";
	/* The kernel's TLS module answers ENOTCONN on a socket not connected
	 * yet; without it, ENOENT. */
	rc = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3);
	e = errno;
	close(fd);
	if (rc == 0 || e == ENOTCONN)
		return "file responses over TLS: kernel TLS (TLS_TX) and sendfile(2) when the "
		       "cipher allows, else SSL_write";
	return "file responses over TLS: SSL_write from the file (the kernel has no TLS "
	       "module: kernel TLS unavailable)";
}

/* The file can be opened for reading; else a message naming it. */
static int readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* OpenSSL refused `path`: a message with its reason. Returns -1 (the caller frees the context). */
static int ssl_failed(const char *what, const char *path, char *err, size_t errlen)
{
	unsigned long e = ERR_peek_last_error();
	char why[256];

	ERR_error_string_n(e, why, sizeof(why));
	snprintf(err, errlen, "invalid %s '%s': %s", what, path, e ? why : "refused by OpenSSL");
	ERR_clear_error();
	return -1;
}

/* ALPN: http/1.1 when the client offers it; else no protocol named (plain HTTP/1.1 anyway). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}
