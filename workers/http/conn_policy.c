/* conn_policy — what a listener's connections share (conn_policy_*): see conn.h. */
#include "workers/http/conn.h"

#include <stdlib.h>
#include <string.h>

int conn_policy_add_scheme(struct conn_policy *p, const char *name, size_t name_len,
			   const char *value, size_t value_len)
{
	struct conn_scheme *v = realloc(p->secure, (p->nsecure + 1) * sizeof(*v));

	if (!v)
		return -1;
	p->secure = v;
	v = &p->secure[p->nsecure];
	v->name = strndup(name, name_len);
	v->value = strndup(value, value_len);
	if (!v->name || !v->value) {
		free(v->name);
		free(v->value);
		return -1;
	}
	v->name_len = name_len;
	v->value_len = value_len;
	p->nsecure++;
	return 0;
}

void conn_policy_free(struct conn_policy *p)
{
	allow_free(&p->forwarded);
	allow_free(&p->proxy);
	for (size_t i = 0; i < p->nsecure; i++) {
		free(p->secure[i].name);
		free(p->secure[i].value);
	}
	free(p->secure);
	p->secure = NULL;
	p->nsecure = 0;
	free(p->forwarders);
	p->limits.forwarders = p->forwarders = NULL;
}
