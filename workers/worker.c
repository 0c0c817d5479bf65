/* worker — see worker.h. */
#include "workers/worker.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
#include "workers/python/asgi_scope.h"
#include "workers/python/environ.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"
#include "workers/python/kirinmod.h"
#include "workers/python/reqtimeout.h"
#include "workers/python/websocket.h"
#include "workers/python/wsgi.h"
#include "workers/reloader.h"
#include "workers/worker_type.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;
static int hook_pipe[2] = {-1, -1}; /* on_hook_signal() -> hook_thread(): the signal's letter */

static void on_term(int sig);
static void on_quit(int sig);
static void on_usr1(int sig);
static void on_hook_signal(int sig);
static void setup_signals(void);
static void arm_hook_signals(struct worker *w);
static void *hook_thread(void *arg);

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
			  w->cfg->proc_name ? w->cfg->proc_name : config_app_name(w->cfg));
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
	if (!app && interp_init(w->cfg) < 0)
		exit(WORKER_EXIT_BOOT_ERROR);
	/* As Gunicorn's, worker_int and worker_abort hold from the app's import on. */
	arm_hook_signals(w);
	if (!app && !(app = interp_load_app(w->cfg)))
		exit(WORKER_EXIT_APP_LOAD_ERROR);
	/* An ASGI app on a WSGI-only type would answer 500 to every request. */
	if (!type->asgi && (rc = asgi_detect(app, w->cfg->interface)) != 0) {
		if (rc > 0)
			log_critical("%s is an ASGI app: use -k asyncio (or --interface wsgi "
				     "if it is WSGI)",
				     config_app_name(w->cfg));
		exit(WORKER_EXIT_BOOT_ERROR);
	}
	environ_set_root_path(w->cfg->root_path ? w->cfg->root_path : getenv("SCRIPT_NAME"));
	wsgi_set_sendfile(w->cfg->sendfile);
	websocket_configure((uint64_t)w->cfg->websocket_max_message, w->cfg->websocket_ping,
			    w->cfg->websocket_protocols.v, w->cfg->websocket_protocols.n);
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

/*
 * Gunicorn's worker_int and worker_abort: a Python hook cannot run in a
 * signal handler, so when the config file sets either, the quick stop
 * (SIGINT, SIGQUIT) and the timeout's SIGABRT only wake hook_thread(),
 * which takes the GIL, calls the hook, then ends the worker as the handler
 * would have: the access log flushed and exit 0, or (SIGABRT, after
 * faulthandler logged every thread's stack) death by SIGABRT. A hook that
 * never returns is the arbiter's to kill, as a stuck worker is.
 */
static void arm_hook_signals(struct worker *w)
{
	struct sigaction sa = {.sa_handler = on_hook_signal, .sa_flags = SA_RESTART};
	sigset_t all, old;
	pthread_t t;
	int rc;

	if (!hooks_set(HOOK_WORKER_INT) && !hooks_set(HOOK_WORKER_ABORT))
		return;
	if (pipe2(hook_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error(errno, "pipe2() for the worker_int and worker_abort hooks");
		return;
	}
	/* The thread takes no signal: they go to the threads that serve. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&t, NULL, hook_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error(rc, "starting the thread of the worker_int and worker_abort hooks");
		return;
	}
	pthread_detach(t);
	if (hooks_set(HOOK_WORKER_INT)) {
		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, SIGQUIT);
		sigaddset(&sa.sa_mask, SIGINT);
		sigaction(SIGQUIT, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	if (hooks_set(HOOK_WORKER_ABORT))
		interp_after_faulthandler(SIGABRT, on_hook_signal);
}

/* SIGINT, SIGQUIT or SIGABRT once the hooks are armed: one letter to hook_thread(). */
static void on_hook_signal(int sig)
{
	int saved = errno;
	char c = sig == SIGABRT ? 'A' : 'I';

	ssize_t n = write(hook_pipe[1], &c, 1); /* full: hook_thread() has a letter already */

	(void)n;
	errno = saved;
}

static void *hook_thread(void *arg)
{
	struct worker *w = arg;
	struct pollfd pfd = {.fd = hook_pipe[0], .events = POLLIN};
	char c = 0;

	while (read(hook_pipe[0], &c, 1) != 1)
		poll(&pfd, 1, -1);
	/* The serving threads go on meanwhile: were they told to stop, the
	 * worker could exit before the hook had the GIL. */
	hooks_call(c == 'A' ? HOOK_WORKER_ABORT : HOOK_WORKER_INT, w->cfg->workers,
		   &(struct hook_worker){(long)getpid(), (long)w->arbiter_pid, w->age, false}, 0, 0);
	if (c == 'A') {
		signal(SIGABRT, SIG_DFL);
		abort();
	}
	accesslog_quick_exit(0);
	return NULL;
}
