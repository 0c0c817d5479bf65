/* policy — see policy.h. */
#include "workers/policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"

static int allow_list(struct allow *a, const struct strlist *list, char *err, size_t errlen);
static char *joined(const struct strlist *list);
static int starved(const struct listener *l, int err);

/* Accepts that failed for want of descriptors or memory, reported once a second. */
static __thread struct {
	unsigned failed; /* since the last report */
	double next;     /* when the next report may come */
} starving;

int policy_from_config(struct conn_policy *p, const struct config *cfg, bool nodelay, char *err,
		       size_t errlen)
{
	const char *mode;

	memset(p, 0, sizeof(*p));
	if (allow_list(&p->forwarded, &cfg->forwarded_allow_ips, err, errlen) < 0)
		return -1;
	if (allow_list(&p->proxy, &cfg->proxy_allow_ips, err, errlen) < 0) {
		allow_free(&p->forwarded);
		return -1;
	}
	for (size_t i = 0; i < cfg->secure_scheme_headers.n; i++) {
		const char *item = cfg->secure_scheme_headers.v[i], *eq = strchr(item, '=');
		size_t nlen = eq ? (size_t)(eq - item) : 0, vlen;
		const char *v = eq ? eq + 1 : "";

		while (nlen && (item[nlen - 1] == ' ' || item[nlen - 1] == '\t'))
			nlen--;
		v += strspn(v, " \t");
		vlen = strlen(v);
		if (eq && conn_policy_add_scheme(p, item, nlen, v, vlen) < 0) {
			snprintf(err, errlen, "out of memory");
			conn_policy_free(p);
			return -1;
		}
	}
	http_limits_from_settings(&p->limits, cfg->limit_request_line, cfg->limit_request_fields,
				  cfg->limit_request_field_size, cfg->limit_request_body);
	p->limits.permit =
		(cfg->permit_unconventional_http_method ? HTTP_PERMIT_METHOD : 0) |
		(cfg->strip_header_spaces ? HTTP_STRIP_HEADER_SPACES : 0) |
		(cfg->permit_obsolete_folding ? HTTP_PERMIT_OBS_FOLD : 0) |
		(cfg->header_map && strcmp(cfg->header_map, "refuse") == 0 ? HTTP_UNDERSCORE_REFUSE
									    : 0) |
		(cfg->header_map && strcmp(cfg->header_map, "dangerous") == 0 ? HTTP_UNDERSCORE_KEEP
									       : 0);
	if (cfg->forwarder_headers.n) {
		p->forwarders = joined(&cfg->forwarder_headers);
		p->limits.forwarders = p->forwarders;
	}
	p->casefold_method = cfg->casefold_http_method;
	p->timeout_ms = cfg->timeout > 0 ? cfg->timeout * 1000 : 30000;
	/* NULL (a zeroed struct config) is off, like the default. */
	mode = cfg->proxy_protocol ? cfg->proxy_protocol : "off";
	p->proxy_versions = strcmp(mode, "v1") == 0     ? 1
			    : strcmp(mode, "v2") == 0   ? 2
			    : strcmp(mode, "auto") == 0 ? 3
							: 0;
	p->nodelay = nodelay;
	p->tls = cfg->tls_ctx;
	return 0;
}

int policy_accept(struct conn *c, const struct listener *l, const struct conn_io *io,
		  const struct conn_policy *p)
{
	int rc = conn_accept(c, l->fd, l, io, p);

	if (rc < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM))
		return starved(l, errno);
	if (rc < 0)
		log_error(errno, "accept4() on %s", l->name);
	return rc;
}

/* One more accept failed for want of resources: report it if a second has passed. Returns -2. */
static int starved(const struct listener *l, int err)
{
	double now = monotime_now();

	starving.failed++;
	if (now >= starving.next) {
		log_error(err, "accept4() on %s: %u accept(s) failed since the last report; "
			       "pausing accepts %.0f ms at a time",
			  l->name, starving.failed, POLICY_ACCEPT_BACKOFF * 1000);
		starving.failed = 0;
		starving.next = now + 1;
	}
	return -2;
}

static int allow_list(struct allow *a, const struct strlist *list, char *err, size_t errlen)
{
	return allow_parse(a, (const char *const *)list->v, list->n, err, errlen);
}

/* The items of list, comma-separated, in a new string. */
static char *joined(const struct strlist *list)
{
	size_t n = 1;
	char *s, *p;

	for (size_t i = 0; i < list->n; i++)
		n += strlen(list->v[i]) + 1;
	p = s = xmalloc(n);
	for (size_t i = 0; i < list->n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", list->v[i]);
	*p = '\0';
	return s;
}
