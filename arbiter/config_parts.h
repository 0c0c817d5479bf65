/*
 * config_parts — what the files of the config module share, and nothing
 * else includes: config.c walks the settings table (values from text into
 * struct config, the defaults, output), config_ini.c reads the INI layer,
 * config_cli.c the command-line layers (KIRIN_CMD_ARGS and argv) and writes
 * --help, config_py.c the Python file layer (gunicorn.conf.py).
 * config_load() (config.c) stacks the layers.
 *
 * Same rules as config.h: runs in the arbiter, never logs, exits or touches
 * a socket; out of memory aborts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "arbiter/config.h"

/* Where a value comes from: decides how a list value is split. */
enum config_source {
	FROM_DEFAULT,
	FROM_INI,
	FROM_CLI, /* argv, KIRIN_CMD_ARGS, GUNICORN_CMD_ARGS, or one value of a Python file */
};

/* One option found on a command line; value borrowed from argv or the words. */
struct config_arg {
	const struct setting *s;
	const char *value; /* NULL for a flag */
};

/* A command line (argv or KIRIN_CMD_ARGS) after the syntax pass. */
struct config_cmdline {
	struct config_arg *args;
	size_t nargs;
	const char **pos; /* positionals, borrowed */
	size_t npos;
	enum config_action action; /* CONFIG_HELP or CONFIG_VERSION when asked */
};

/* ---------------------------------------------------------------- config.c: the table walk */

/* malloc (at least one byte) that aborts when out of memory: settings cannot load without it. */
void *config_alloc(size_t n);

/* A NUL-terminated copy of the n bytes at s; caller frees. */
char *config_strndup(const char *s, size_t n);

/* A copy of the string s, or NULL when s is NULL; caller frees. */
char *config_strdup(const char *s);

/* Append a copy of the n bytes at s to l. */
void config_list_push(struct strlist *l, const char *s, size_t n);

/* Free l's items and empty it. */
void config_list_clear(struct strlist *l);

/* The index of row s in the table, in config_next() order (below CONFIG_MAX_ROWS). */
size_t config_row_index(const struct setting *s);

/* The closest INI key (flags false) or long flag (true) to name, or NULL if none is close. */
const char *config_suggest(const char *name, bool flags);

/*
 * Store one value of row s in cfg, from text. value is NULL for a bare
 * command-line flag (a bool set to true). A list value replaces the list,
 * or appends to it when append is true (this layer has set it already).
 * Returns 0, or -1 with the reason in why and cfg unchanged.
 */
int config_set_value(struct config *cfg, const struct setting *s, const char *value,
                     enum config_source src, bool append, char *why, size_t whylen);

/* The message for a refused value: "PREFIXinvalid value for NAME: 'VALUE' (WHY)". */
void config_value_error(char *err, size_t errlen, const char *prefix, const char *name,
                        const char *value, const char *why);

/* ---------------------------------------------------------------- config_ini.c */

/*
 * Read the INI file at path (which config_load() has found to be a readable
 * file) over cfg. Settings it names replace the lower
 * layer's (lists too; a key repeated in the file appends). Returns 0, or -1
 * with a message naming the file and line in err (-2 when that is a Gunicorn
 * setting kirin refuses; cfg may then hold part of the file: the caller
 * frees it).
 */
int config_ini_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* ---------------------------------------------------------------- config_py.c */

/*
 * Execute the Python configuration at location ("FILE.py", "file:FILE",
 * "python:MODULE"; a file config_load() has found readable) and store its
 * module-level names that are settings (and check_config, print_config, as
 * Gunicorn) over cfg, as Gunicorn validates them: each replaces the lower
 * layer's value. Unknown names are ignored; a Gunicorn setting kirin lacks
 * adds a warning to cfg->notes. Starts the interpreter in this process (the
 * arbiter) on the first call. Returns 0, or -1 with a message naming the
 * file and the setting in err (-2 for a Gunicorn setting kirin refuses) (cfg may then hold part of the file: the
 * caller frees it).
 */
int config_py_load(struct config *cfg, const char *location, char *err, size_t errlen);

/* ---------------------------------------------------------------- config_class.c */

/*
 * When worker_class is a Python path that is none of the worker-type
 * table's spellings (a subclass, as -k myproject.workers.MyWorker), import
 * it (pyconfig_worker_class: --chdir and --pythonpath first on sys.path),
 * keep the path in worker_subclass and set worker_class to the known class
 * it derives from; for a uvicorn subclass, apply its CONFIG_KWARGS where
 * kirin has the setting and the layers above did not give it. What it did
 * goes to cfg->infos, what it did not apply to cfg->notes. Nothing (no
 * Python) when worker_class is a known spelling. Returns 0, or -1 with a
 * message naming the class in err.
 */
int config_class_resolve(struct config *cfg, char *err, size_t errlen);

/* ---------------------------------------------------------------- config_cli.c */

/*
 * Split s into words as a POSIX shell would, without expansion: blanks
 * separate, '...' is literal, "..." honours \\ \" \$ \` and backslash-newline,
 * a bare backslash quotes the next character. NULL or blank gives no words.
 * The caller frees each word and the array. Returns 0, or -1 with a message
 * in err after prefix (unterminated quote, trailing backslash).
 */
int config_cli_split(const char *s, char ***words, size_t *n, const char *prefix, char *err,
                     size_t errlen);

/*
 * The syntax pass over n words, GNU style: -w 3, -w3, --workers 3,
 * --workers=3, bundled short flags (-Dw3), options after positionals, "--"
 * ends options. Stops at --help or --version (cl->action). Values are
 * borrowed from words and checked later, by config_cli_apply(). prefix starts
 * every message ("KIRIN_CMD_ARGS: " or ""). Returns 0, or -1 with a message
 * in err; either way cl is the caller's to config_cli_free().
 */
int config_cli_parse(struct config_cmdline *cl, size_t n, char *const words[], const char *prefix,
                     char *err, size_t errlen);

/*
 * Apply a parsed command line over cfg: a list it names replaces the lower
 * layer's list, and a repeated flag appends. Its positionals, if any, replace
 * APP_MODULE. Returns 0, or -1 with a message in err.
 */
int config_cli_apply(struct config *cfg, const struct config_cmdline *cl, const char *prefix,
                     char *err, size_t errlen);

/* Free what config_cli_parse() allocated (not the borrowed words); zeroes cl. */
void config_cli_free(struct config_cmdline *cl);

/* The last -c FILE on a parsed command line (borrowed), or NULL. */
const char *config_cli_config_path(const struct config_cmdline *cl);
