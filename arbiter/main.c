/*
 * main — the kirin command: load the settings, answer --help, --version,
 * --print-config and --check-config, bind the listeners, then hand over to
 * the arbiter. Errors before the arbiter starts are one line on stderr and
 * exit code 1 (2 for a usage error: an unknown option, as Gunicorn).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/arbiter.h"
#include "arbiter/config.h"
#include "arbiter/ctl.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/notify.h"
#include "arbiter/process.h"
#include "arbiter/sslctx.h"
#include "build-aux/kirin-config.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"

#define BIND_ATTEMPTS 5 /* for an address in use, 1 s apart */

static int fail(const char *msg);
static int apply_environment(const struct config *cfg);
static int check_config(const struct config *cfg);
static void log_notes(const struct config *cfg);

int main(int argc, char **argv)
{
	struct config cfg = {0};
	char err[1024], start_dir[4096];
	struct listener *ls;
	size_t nls;
	bool upgraded;
	int rc;

	/* `kirin ctl ...`: a client of a running server's control socket. */
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return ctl_main(argc - 1, argv + 1);
	process_title_init(argc, argv);
	switch (config_load(&cfg, argc, argv, err, sizeof(err))) {
	case CONFIG_ERROR:
		return fail(err);
	case CONFIG_USAGE:
		fail(err);
		return 2;
	case CONFIG_HELP:
		config_usage(stdout);
		return 0;
	case CONFIG_VERSION:
		printf("kirin %s\n", PACKAGE_VERSION);
		return 0;
	case CONFIG_RUN:
		break;
	}
	if (cfg.print_config) {
		log_notes(&cfg);
		config_print(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	if (config_validate(&cfg, err, sizeof(err)) < 0)
		return fail(err);
	if (!getcwd(start_dir, sizeof(start_dir))) {
		snprintf(err, sizeof(err), "cannot tell the current directory: %s", strerror(errno));
		return fail(err);
	}
	if (apply_environment(&cfg) < 0)
		return 1;
	/* Certificates are read after --chdir, as Gunicorn reads them. */
	if (sslctx_load(&cfg, err, sizeof(err)) < 0) {
		config_free(&cfg);
		return fail(err);
	}
	log_capture_stdio(cfg.capture_output && !cfg.check_config);
	if (log_open(cfg.errorlog, cfg.loglevel) < 0) {
		snprintf(err, sizeof(err), "cannot open error log '%s': %s", cfg.errorlog,
			 strerror(errno));
		return fail(err);
	}
	log_notes(&cfg);
	if (cfg.syslog && log_syslog_open(cfg.syslog_addr, cfg.syslog_facility,
					  cfg.syslog_prefix ? cfg.syslog_prefix
					  : cfg.proc_name  ? cfg.proc_name
							   : config_app_name(&cfg)) < 0)
		log_error(errno, "cannot reach syslog at %s (retrying)", cfg.syslog_addr);
	if (cfg.check_config)
		return check_config(&cfg);
	/* The workers open the access log; say now, once, if they cannot. */
	if (cfg.accesslog && strcmp(cfg.accesslog, "-") != 0) {
		int fd = open(cfg.accesslog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			snprintf(err, sizeof(err), "cannot open access log '%s': %s", cfg.accesslog,
				 strerror(errno));
			return fail(err);
		}
		close(fd);
	}

	if (notify_init(err, sizeof(err)) < 0)
		return fail(err);
	/* Gunicorn's on_starting: before anything is bound; raising stops the server. */
	hooks_commit(&cfg);
	if (hooks_call(HOOK_ON_STARTING, cfg.workers, NULL, 0, 0) < 0)
		return fail("the on_starting hook raised an exception (logged above)");
	/* Started by an old arbiter on USR2 (it hands us its sockets): see below. */
	upgraded = getenv("KIRIN_FDS") != NULL;
	/* A busy address may be an old server still stopping: Gunicorn tries 5 times, 1 s apart. */
	for (int attempt = 1; !(ls = listener_bind_all(&cfg, &nls, err, sizeof(err))); attempt++) {
		if (errno != EADDRINUSE || attempt == BIND_ATTEMPTS)
			return fail(err);
		log_warning("%s (retrying in 1 second)", err);
		sleep(1);
	}
	/*
	 * After USR2 we are already detached (the old arbiter was): detaching
	 * again would make the old arbiter see its child exit 0 and take the
	 * upgrade for failed. Stay its child, as Gunicorn and Unicorn do.
	 */
	if (cfg.daemon && !upgraded && process_daemonize(cfg.enable_stdio_inheritance) < 0) {
		snprintf(err, sizeof(err), "cannot daemonize: %s", strerror(errno));
		return fail(err);
	}
	if (cfg.pidfile && process_pidfile_write(cfg.pidfile, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		listener_close_all(ls, nls, true);
		return 1;
	}
	process_set_title("kirin: master [%s]", cfg.proc_name ? cfg.proc_name : config_app_name(&cfg));
	log_info("Starting kirin %s", PACKAGE_VERSION);
	for (size_t i = 0; i < nls; i++)
		log_info("Listening at: %s%s (%ld)%s%s%s",
			 ls[i].family == AF_UNIX ? "" : cfg.tls_ctx ? "https://" : "http://",
			 ls[i].name, (long)getpid(), ls[i].activated ? ", passed by systemd" : "",
			 ls[i].fdname[0] ? " as " : "", ls[i].fdname);
	log_info("Using worker: %s", config_worker_class(&cfg));
	if (cfg.tls_ctx)
		log_info("TLS: %s", sslctx_ktls_state());
	if (geteuid() == 0 && !cfg.user)
		log_warning("running as root without --user: the workers, and the application, "
			    "run as root too");
	/* --preload: import the app here, once; the workers inherit it. */
	if (cfg.preload_app && (rc = interp_preload(&cfg)) != 0) {
		log_critical("cannot preload the application: shutting down");
		listener_close_all(ls, nls, true);
		process_pidfile_remove(cfg.pidfile);
		config_free(&cfg);
		return rc;
	}
	rc = arbiter_run(&cfg, argc, argv, start_dir, ls, nls);
	process_pidfile_remove(cfg.pidfile);
	config_free(&cfg);
	return rc;
}

static int fail(const char *msg)
{
	fprintf(stderr, "kirin: error: %s\n", msg);
	return 1;
}

/* --env and --chdir apply to the arbiter, so every worker inherits them. */
static int apply_environment(const struct config *cfg)
{
	char err[1024];

	config_export_env(cfg);
	if (cfg->chdir && chdir(cfg->chdir) < 0) {
		snprintf(err, sizeof(err), "cannot change directory to '%s': %s", cfg->chdir,
			 strerror(errno));
		return fail(err);
	}
	return 0;
}

/* What loading the settings did and found worth a warning (config.h: infos, notes). */
static void log_notes(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->infos.n; i++)
		log_info("%s", cfg->infos.v[i]);
	for (size_t i = 0; i < cfg->notes.n; i++)
		log_warning("%s", cfg->notes.v[i]);
}

/* --check-config: the settings loaded; now import the app once, here. */
static int check_config(const struct config *cfg)
{
	PyObject *app;

	if (interp_init(cfg) < 0)
		return 1;
	app = interp_load_app(cfg);
	if (!app)
		return 1;
	Py_DECREF(app);
	printf("kirin: configuration OK, application %s loaded\n", config_app_name(cfg));
	return 0;
}
