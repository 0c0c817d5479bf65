/*
 * sslctx — the TLS settings made into an OpenSSL SSL_CTX: certificate chain
 * and key (checked against each other), client CA list and verification
 * (cert_reqs), oldest version, ciphers, ALPN (http/1.1), session tickets,
 * kernel TLS.
 *
 * Runs in the arbiter, at start and on HUP, before anything is forked: a
 * bad file refuses the start (exit 1) or the reload (the running settings,
 * and their context, stay), with a message naming the file. The workers
 * inherit the context across fork (cfg->tls_ctx) and never read the files.
 * Session tickets are encrypted with keys the arbiter makes and rotates in
 * a page shared with the workers (sslctx_rotate): a session resumes on any
 * worker, also after a reload. Never touches a client connection.
 */
#pragma once

#include <stddef.h>

struct config;
struct ssl_ctx_st;

/*
 * Build cfg->tls_ctx from cfg's TLS settings (nothing when certfile is
 * unset). Returns 0, or -1 with a one-line message in err naming the file
 * or setting at fault (cfg->tls_ctx then NULL). With a Python config
 * file's ssl_context hook (cfg->ssl_context_hook), what it changes is
 * applied (hooks_ssl_context), or refused. Arbiter only.
 */
int sslctx_load(struct config *cfg, char *err, size_t errlen);

/* Seconds between new session-ticket keys; a ticket decrypts for 2 to 3 of them. */
#define SSLCTX_TICKET_ROTATE 3600.0

/*
 * In the arbiter's loop (at least once a second): when SSLCTX_TICKET_ROTATE
 * seconds have passed, a new ticket key, for every worker at once. `now`
 * is monotime_now(). Never blocks.
 */
void sslctx_rotate(double now);

/* Free a context sslctx_load() built; NULL is fine. */
void sslctx_free(struct ssl_ctx_st *ctx);

/*
 * One line for the boot log: whether file responses over TLS go through
 * kernel TLS and sendfile(2), or are encrypted by OpenSSL. Static storage.
 */
const char *sslctx_ktls_state(void);
