/* sslctx — see sslctx.h. */
#include "arbiter/sslctx.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/monotime.h"
#include "workers/python/hooks.h"

#define SESSION_CONTEXT "kirin"
#define TICKET_SLOTS    3 /* the key that encrypts, and the two before it, which still decrypt */

/*
 * Session-ticket keys, in a page shared with every worker (MAP_SHARED,
 * made before the first fork and kept for the arbiter's life, across
 * reloads): a ticket from any worker of any generation resumes on any
 * other. The arbiter writes a new key into the oldest slot every
 * SSLCTX_TICKET_ROTATE seconds, then publishes it by advancing gen; a
 * worker that reads a slot while it is rewritten gets a ticket that does
 * not decrypt, which is a full handshake, never a wrong session.
 */
struct ticket_key {
	unsigned char name[16], aes[32], hmac[32];
};

static struct {
	uint64_t gen; /* key[gen % TICKET_SLOTS] encrypts */
	struct ticket_key key[TICKET_SLOTS];
} * tickets;

static double next_rotation;

static int configure(SSL_CTX *ctx, const struct config *cfg, const char *key, char *err,
                     size_t errlen);
static int tickets_init(char *err, size_t errlen);
static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc);
static int readable(const char *what, const char *path, char *err, size_t errlen);
static int ssl_failed(const char *what, const char *path, char *err, size_t errlen);
static int apply_hook(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen);
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
	if (tickets_init(err, errlen) < 0)
		return -1;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return ssl_failed("SSL_CTX_new()", "", err, errlen);
	if (configure(ctx, cfg, key, err, errlen) < 0 ||
	    (cfg->ssl_context_hook && apply_hook(ctx, cfg, err, errlen) < 0)) {
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
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	return 0;
}

/*
 * Gunicorn's ssl_context hook (a Python config file's): what it changed on
 * the factory's SSLContext, applied to ctx. 0, or -1 with err.
 */
static int apply_hook(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen)
{
	struct hooks_tls t;
	int rc = 0;

	if (hooks_ssl_context(cfg, &t, err, errlen) < 0)
		return -1;
	if ((t.min_version >= 0 && SSL_CTX_set_min_proto_version(ctx, t.min_version) != 1) ||
	    (t.max_version >= 0 && SSL_CTX_set_max_proto_version(ctx, t.max_version) != 1))
		rc = ssl_failed("TLS version from the ssl_context hook", "", err, errlen);
	SSL_CTX_set_options(ctx, t.options_set);
	SSL_CTX_clear_options(ctx, t.options_clear);
	if (rc == 0 && t.ciphers && SSL_CTX_set_cipher_list(ctx, t.ciphers) != 1)
		rc = ssl_failed("ciphers from the ssl_context hook", t.ciphers, err, errlen);
	if (rc == 0 && t.verify > 0 && !cfg->ca_certs) {
		snprintf(err, errlen,
		         "the ssl_context hook verifies client certificates: "
		         "that needs ca_certs");
		rc = -1;
	}
	if (t.verify >= 0)
		SSL_CTX_set_verify(ctx,
		                   t.verify == 0 ? SSL_VERIFY_NONE
		                   : t.verify == 1
		                       ? SSL_VERIFY_PEER
		                       : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		                   NULL);
	free(t.ciphers);
	return rc;
}

void sslctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

void sslctx_rotate(double now)
{
	struct ticket_key k;
	uint64_t gen;

	if (!tickets || now < next_rotation)
		return;
	next_rotation = now + SSLCTX_TICKET_ROTATE;
	if (RAND_bytes((unsigned char *)&k, sizeof(k)) != 1) {
		ERR_clear_error();
		return; /* the current key serves on until the next try */
	}
	gen = tickets->gen + 1;
	tickets->key[gen % TICKET_SLOTS] = k;
	__atomic_store_n(&tickets->gen, gen, __ATOMIC_RELEASE);
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

/* The shared page of ticket keys, once per arbiter, with its first key. */
static int tickets_init(char *err, size_t errlen)
{
	if (tickets)
		return 0;
	tickets =
	    mmap(NULL, sizeof(*tickets), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tickets == MAP_FAILED) {
		tickets = NULL;
		snprintf(err, errlen, "mmap() for the TLS session-ticket keys: %s",
		         strerror(errno));
		return -1;
	}
	if (RAND_bytes((unsigned char *)&tickets->key[0], sizeof(tickets->key[0])) != 1) {
		ERR_clear_error();
		munmap(tickets, sizeof(*tickets));
		tickets = NULL;
		snprintf(err, errlen, "no random bytes for the TLS session-ticket keys");
		return -1;
	}
	next_rotation = monotime_now() + SSLCTX_TICKET_ROTATE;
	return 0;
}

/*
 * OpenSSL's ticket callback (workers): encrypt with the current key;
 * decrypt with whichever kept key named the ticket, asking for a new
 * ticket (2) when it is not the current one. 0: unknown key (a full
 * handshake); -1: failure.
 */
static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
	uint64_t gen = __atomic_load_n(&tickets->gen, __ATOMIC_ACQUIRE);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end(),
	};

	(void)ssl;
	if (enc) {
		const struct ticket_key *k = &tickets->key[gen % TICKET_SLOTS];
		if (RAND_bytes(iv, 16) != 1)
			return -1;
		memcpy(name, k->name, sizeof(k->name));
		if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
		    EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) != 1)
			return -1;
		return 1;
	}
	for (uint64_t age = 0; age < TICKET_SLOTS && age <= gen; age++) {
		const struct ticket_key *k = &tickets->key[(gen - age) % TICKET_SLOTS];
		if (memcmp(name, k->name, sizeof(k->name)) != 0)
			continue;
		if (EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) != 1 ||
		    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
			return -1;
		return age == 0 ? 1 : 2;
	}
	return 0;
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
