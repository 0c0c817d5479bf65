/*
 * config_py — the Python layer of the settings: a Gunicorn configuration
 * file (workers/python/pyconfig.h executes it) whose module-level names are
 * checked as Gunicorn's validators check them and stored through the table.
 * See config_parts.h.
 */
#include "arbiter/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arbiter/config_parts.h"
#include "workers/python/pyconfig.h"

static int apply(struct config *cfg, const struct setting *s, const struct pyvalue *v, char *why,
                 size_t whylen);
static int expected(const struct pyvalue *v, const char *what, char *why, size_t whylen);
static bool asks_nothing(const struct pyvalue *v);

int config_py_load(struct config *cfg, const char *location, char *err, size_t errlen)
{
	struct pyconfig pc;
	char why[512], prefix[300];
	int rc = 0;

	if (pyconfig_read(location, &pc, err, errlen) < 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "%s: ", location);
	for (size_t i = 0; i < pc.n && rc == 0; i++) {
		const struct pyvalue *v = &pc.v[i];
		const struct setting *s = config_find(v->name);

		/* As Gunicorn, the file may ask for check_config and print_config. */
		if (s && (!s->cli_only || s->type == SETTING_BOOL)) {
			rc = apply(cfg, s, v, why, sizeof(why));
			if (rc < 0)
				config_value_error(err, errlen, prefix, v->name,
				                   v->text ? v->text : "", why);
		} else if (strcmp(v->name, "wsgi_app") == 0) {
			if (v->kind == PYVALUE_STR) {
				free(cfg->app_module);
				cfg->app_module = config_strdup(v->text);
			} else if (v->kind != PYVALUE_NONE) {
				config_value_error(err, errlen, prefix, v->name, "",
				                   "expected a string");
				rc = -1;
			}
		} else if (!s && config_refusal(v->name) && asks_nothing(v)) {
			continue;
		} else if (!s && config_refusal(v->name)) {
			snprintf(err, errlen, "%ssetting '%s' is not supported by kirin: %s",
			         prefix, v->name, config_refusal(v->name)->why);
			rc = -2;
		} else if (!s && strcmp(v->name, "ssl_context") == 0 && v->kind != PYVALUE_NONE) {
			/* Gunicorn's hook: sslctx_load() calls it when TLS is on. */
			cfg->ssl_context_hook = true;
		}
	}
	pyconfig_free(&pc);
	return rc;
}

/*
 * Store v in row s with Gunicorn's validation: an int setting takes an int
 * (a bool counts) or a string of one, a bool takes True/False or the strings
 * "true"/"false", a string takes a str or None (unset; a choice with
 * aliases takes a bool too: proxy_protocol), a list takes a list
 * of str, a str (one item, or comma-separated where the command line splits
 * too) or an empty value. 0, or -1 with why.
 */
static int apply(struct config *cfg, const struct setting *s, const struct pyvalue *v, char *why,
                 size_t whylen)
{
	switch (s->type) {
	case SETTING_INT:
	case SETTING_LONG:
		if (v->kind == PYVALUE_INT || v->kind == PYVALUE_STR)
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_BOOL)
			return config_set_value(cfg, s, strcmp(v->text, "true") == 0 ? "1" : "0",
			                        FROM_CLI, false, why, whylen);
		return expected(v, "an integer", why, whylen);
	case SETTING_BOOL:
		if (v->kind == PYVALUE_NONE)
			return config_set_value(cfg, s, "false", FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_BOOL ||
		    (v->kind == PYVALUE_STR &&
		     (strcasecmp(v->text, "true") == 0 || strcasecmp(v->text, "false") == 0)))
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		return expected(v, "True or False", why, whylen);
	case SETTING_STRING:
		if (v->kind == PYVALUE_NONE)
			return config_set_value(cfg, s, "", FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_INT && s->py_int)
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		/* fall through */
	case SETTING_CHOICE:
		if (v->kind == PYVALUE_STR || (v->kind == PYVALUE_BOOL && s->aliases) ||
		    (v->kind == PYVALUE_INT && s->py_int))
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		return expected(v, "a string", why, whylen);
	case SETTING_LIST:
		if (v->kind == PYVALUE_NONE)
			return config_set_value(cfg, s, "", FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_STR)
			return config_set_value(cfg, s, v->text, FROM_CLI, false, why, whylen);
		if (v->kind == PYVALUE_DICT && !s->keyval)
			return expected(v, "a list of strings", why, whylen);
		if (v->kind != PYVALUE_LIST && v->kind != PYVALUE_DICT)
			return expected(
			    v, s->keyval ? "a dict or a list of strings" : "a list of strings", why,
			    whylen);
		if (config_set_value(cfg, s, "", FROM_CLI, false, why, whylen) < 0)
			return -1;
		for (size_t i = 0; i < v->items.n; i++)
			if (config_set_value(cfg, s, v->items.v[i], FROM_CLI, true, why, whylen) <
			    0)
				return -1;
		return 0;
	}
	return -1;
}

/* "expected WHAT, got TYPE": the value is not of a kind the setting takes. */
static int expected(const struct pyvalue *v, const char *what, char *why, size_t whylen)
{
	static const char *const kinds[] = {
	    [PYVALUE_NONE] = "None", [PYVALUE_BOOL] = "bool", [PYVALUE_INT] = "int",
	    [PYVALUE_STR] = "str",   [PYVALUE_LIST] = "list", [PYVALUE_DICT] = "dict",
	};

	snprintf(why, whylen, "expected %s, got %s", what,
	         v->kind == PYVALUE_OTHER ? v->type_name : kinds[v->kind]);
	return -1;
}

/* A refused setting's value that asks for nothing: None, an empty list, Gunicorn's default. */
static bool asks_nothing(const struct pyvalue *v)
{
	const struct setting_refusal *r = config_refusal(v->name);

	switch (v->kind) {
	case PYVALUE_NONE:
		return true;
	case PYVALUE_LIST:
	case PYVALUE_DICT:
		return v->items.n == 0;
	case PYVALUE_BOOL:
	case PYVALUE_INT:
	case PYVALUE_STR:
		return config_refusal_asks_nothing(r, v->text);
	default:
		return false;
	}
}
