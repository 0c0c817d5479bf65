/*
 * sslctx — the TLS settings made into an OpenSSL SSL_CTX: certificate chain
 * and key (checked against each other), client CA list and verification
 * (cert_reqs), oldest version, ciphers, ALPN (http/1.1), session tickets,
 * kernel TLS.
 *
 * Runs in the arbiter, at start and on HUP, before anything is forked: a
 * bad file refuses the start (exit 1) or the reload (the running settings,
 * and their context, stay), with a message naming the file. The workers
 * inherit the context across fork (cfg->tls_ctx) and never read the files:
 * every worker of a generation holds the same session-ticket keys, so a
 * session resumes on any of them. Never touches a client connection.
 */
#pragma once

#include <stddef.h>

struct config;
struct ssl_ctx_st;

/*
 * Build cfg->tls_ctx from cfg's TLS settings (nothing when certfile is
 * unset). Returns 0, or -1 with a one-line message in err naming the file
 * or setting at fault (cfg->tls_ctx then NULL). Arbiter only.
 */
int sslctx_load(struct config *cfg, char *err, size_t errlen);

/* Free a context sslctx_load() built; NULL is fine. */
void sslctx_free(struct ssl_ctx_st *ctx);

/*
 * One line for the boot log: whether file responses over TLS go through
 * kernel TLS and sendfile(2), or are encrypted by OpenSSL. Static storage.
 */
const char *sslctx_ktls_state(void);
