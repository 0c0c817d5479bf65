/* worker — see worker.h. */
#include "workers/worker.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "arbiter/process.h"
#include "workers/accesslog.h"
#include "workers/channel.h"
#include "workers/python/environ.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"
#include "workers/python/kirinmod.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/websocket.h"
#include "workers/reloader.h"
#include "workers/worker_type.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;

static void on_term(int sig);
static void on_quit(int sig);
static void on_usr1(int sig);
static void setup_signals(void);

_Noreturn void worker_main(struct worker *w)
{
	const struct worker_type *type = worker_type_find(w->cfg->worker_class, w->cfg->threads);
	struct rlimit nocore = {0, 0};
	PyObject *app;
	char err[256];
	int rc;

	assert(type); /* the arbiter checked -k when it loaded the settings */
	setup_signals();
	process_set_title("kirin: worker [%s]",
			  w->cfg->proc_name ? w->cfg->proc_name : w->cfg->app_module);
	/* --max-requests N with --max-requests-jitter J: N + random(0..J), so
	 * workers started together do not all restart together. */
	if (w->cfg->max_requests > 0) {
		srandom((unsigned)getpid() ^ (unsigned)time(NULL));
		w->max_requests = (uint32_t)w->cfg->max_requests +
				  (w->cfg->max_requests_jitter > 0
					   ? (uint32_t)(random() % (w->cfg->max_requests_jitter + 1))
					   : 0);
	}
	/* A timed-out worker is killed with SIGABRT to get its Python stack;
	 * that is no reason to leave a core file behind. */
	setrlimit(RLIMIT_CORE, &nocore);
	if (type->backend)
		kirinmod_set_backend(type->backend());
	/* Open what needs kirin's own rights, then become --user/--group. */
	if (accesslog_open(w->cfg) < 0)
		exit(WORKER_EXIT_BOOT_ERROR);
	if (process_drop_privileges(w->cfg, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		exit(WORKER_EXIT_BOOT_ERROR);
	}
	/* With --preload the arbiter imported the app and we inherited it. */
	app = interp_preloaded_app();
	if (!app) {
		if (interp_init(w->cfg) < 0)
			exit(WORKER_EXIT_BOOT_ERROR);
		app = interp_load_app(w->cfg->app_module);
		if (!app)
			exit(WORKER_EXIT_APP_LOAD_ERROR);
	}
	environ_set_root_path(w->cfg->root_path ? w->cfg->root_path : getenv("SCRIPT_NAME"));
	websocket_configure((uint64_t)w->cfg->websocket_max_message, w->cfg->websocket_ping);
	if (reqtimeout_init(w->cfg) < 0)
		exit(WORKER_EXIT_BOOT_ERROR);
	if (w->cfg->reload)
		reloader_start(w->cfg, w->channel_fd);
	hooks_call(HOOK_POST_WORKER_INIT, w->cfg->workers,
		   &(struct hook_worker){(long)getpid(), (long)w->arbiter_pid, w->age, true}, 0, 0);
	w->last_beat = monotime_now();
	channel_heartbeat(w->channel_fd);
	rc = type->run(w, app);
	reqtimeout_stop();
	accesslog_close();
	hooks_call(HOOK_WORKER_EXIT, w->cfg->workers,
		   &(struct hook_worker){(long)getpid(), (long)w->arbiter_pid, w->age, false}, 0, 0);
	if (!w->skip_finalize)
		interp_finish(app);
	log_info("Worker exiting (pid: %ld)", (long)getpid());
	exit(rc);
}

bool worker_heartbeat(struct worker *w)
{
	double now = monotime_now();

	if (reopen_requested) {
		reopen_requested = 0;
		if (log_reopen() < 0)
			log_error(errno, "reopening the error log");
		if (accesslog_reopen() < 0)
			log_error(errno, "reopening the access log");
	}
	accesslog_tick();
	if (now - w->last_beat >= worker_beat_interval_ms(w) / 1000.0) {
		if (getppid() != w->arbiter_pid)
			return false;
		if (!w->stalled && channel_heartbeat(w->channel_fd) < 0 && errno != EAGAIN)
			return false;
		w->last_beat = now;
	}
	return true;
}

int worker_beat_interval_ms(const struct worker *w)
{
	int t = w->cfg->timeout;

	/* Half the timeout, and at least once a second so the arbiter's view is fresh. */
	return t > 0 && t < 2 ? t * 500 : 1000;
}

bool worker_stopping(const struct worker *w)
{
	if (w->max_requests && w->requests >= w->max_requests) {
		if (!stop_requested) {
			log_info("Autorestarting worker after %u requests", w->requests);
			channel_exit_cause(CHANNEL_EXIT_MAX_REQUESTS);
		}
		stop_requested = 1;
	}
	return stop_requested;
}

static void on_term(int sig)
{
	stop_requested = 1;
}

/* Quick stop: exit now, but not without the access-log lines still buffered. */
static void on_quit(int sig)
{
	accesslog_quick_exit(0);
}

static void on_usr1(int sig)
{
	reopen_requested = 1;
}

/* The arbiter forked us with every signal blocked: install ours, then unblock. */
static void setup_signals(void)
{
	struct sigaction sa = {0};
	sigset_t all;
	static const int ignored[] = {SIGPIPE, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR2, SIGWINCH};

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	/* One quick stop at a time: INT from a terminal and the arbiter's QUIT
	 * come together, and a nested handler would find the log's lock taken. */
	sa.sa_handler = on_quit;
	sigaddset(&sa.sa_mask, SIGQUIT);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
}
