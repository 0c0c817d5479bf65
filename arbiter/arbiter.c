/* arbiter — see arbiter.h. */
#include "arbiter/arbiter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arbiter/arbiter_parts.h"
#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "arbiter/notify.h"
#include "arbiter/process.h"
#include "arbiter/sslctx.h"
#include "arbiter/throttle.h"
#include "workers/channel.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"
#include "workers/worker_type.h"

#define RESPAWN_BURST 5     /* respawns allowed ... */
#define RESPAWN_WINDOW 1.0  /* ... per this many seconds */
#define QUICK_STOP_GRACE 5  /* seconds a quick stop waits before SIGKILL */
#define ABORT_GRACE 5       /* seconds between SIGABRT and SIGKILL for a timed-out worker */
#define RELOAD_BOOT_WAIT 30 /* seconds old workers wait for new ones to boot on HUP */
#define STALL_S 0.5         /* poll() back this much later than asked: the arbiter stalled */

/* The one arbiter of this process (static: its signal handlers outlive arbiter_run). */
static struct arbiter the_arbiter;

static void handle_signals(struct arbiter *a);
static void poll_channels(struct arbiter *a);
static void start_workers(struct arbiter *a);
static void spawn(struct arbiter *a);
static void maintain(struct arbiter *a, double now);
static void announce(struct arbiter *a);
static void retire(struct slot *s, double now);
static void check_timeouts(struct arbiter *a, double now);
static void reload(struct arbiter *a);
static int prepare_reload(struct arbiter *a, struct config *next, struct control_swap *swap,
			  char *err, size_t errlen);
static void remove_slot(struct arbiter *a, size_t i);
static void count_restart(struct arbiter *a, const struct slot *s, int status);
static void reap(struct arbiter *a);
static bool keeps_serving(const struct arbiter *a, size_t i);
static void signal_all(const struct arbiter *a, int sig);
static int stop(struct arbiter *a, enum stop_mode mode);
static void drain_self_pipe(const struct arbiter *a);

int arbiter_run(struct config *cfg, int argc, char *const argv[], const char *start_dir,
		struct listener *ls, size_t nls)
{
	struct arbiter *a = &the_arbiter;
	enum stop_mode mode = RUNNING;
	struct statsd *statsd;
	char err[512];

	a->cfg = cfg;
	a->argc = argc;
	a->argv = argv;
	a->start_dir = start_dir;
	a->listeners = ls;
	a->nlisteners = nls;
	a->target_workers = a->cfg->workers;
	a->preloaded = a->cfg->preload_app;
	a->announce_ready = true;
	a->started_at = monotime_now();
	a->control_fd = a->metrics_fd = -1;
	log_count_into(a->log_lines);
	throttle_init(&a->respawn, RESPAWN_BURST, RESPAWN_WINDOW);
	if (readlink("/proc/self/exe", a->exe_path, sizeof(a->exe_path) - 1) < 0)
		a->exe_path[0] = '\0';
	if (signals_install(a) < 0) {
		log_error(errno, "setting up signals");
		return 1;
	}
	if (control_open(a, err, sizeof(err)) < 0 || statsd_new(a->cfg, &statsd, err, sizeof(err)) < 0) {
		log_critical("%s", err);
		control_close(a);
		return 1;
	}
	statsd_replace(a, statsd, false);
	log_info("Arbiter booted (pid: %ld)", (long)getpid());
	hooks_call(HOOK_WHEN_READY, a->target_workers, NULL, 0, 0);
	start_workers(a);

	while (mode == RUNNING) {
		double now;

		poll_channels(a);
		/* Signals, in a fixed order. */
		if (a->sig.chld) {
			a->sig.chld = 0;
			reap(a);
		}
		if (a->fatal_code) {
			log_critical("worker failed to boot: shutting down");
			return stop(a, STOP_QUICK);
		}
		if (a->sig.quick) {
			mode = STOP_QUICK;
			break;
		}
		if (a->sig.term) {
			mode = STOP_GRACEFUL;
			break;
		}
		handle_signals(a);
		now = monotime_now();
		check_timeouts(a, now);
		maintain(a, now);
		statsd_tick(a, now);
		notify_watchdog(now);
		sslctx_rotate(now);
	}
	return stop(a, mode);
}

const char *arbiter_signal_name(int sig)
{
	static char buf[32];
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
		{SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
		{SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"}, {SIGPIPE, "SIGPIPE"},
		{SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"}, {SIGTTIN, "SIGTTIN"},
		{SIGTTOU, "SIGTTOU"}, {SIGWINCH, "SIGWINCH"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	snprintf(buf, sizeof(buf), "signal %d", sig);
	return buf;
}

void arbiter_describe_status(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(buf, cap, "exit code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "signal %s%s", arbiter_signal_name(WTERMSIG(status)),
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, cap, "status 0x%x", (unsigned)status);
}

int arbiter_fatal_status(int status)
{
	if (!WIFEXITED(status))
		return 0;
	switch (WEXITSTATUS(status)) {
	case WORKER_EXIT_BOOT_ERROR:
	case WORKER_EXIT_APP_LOAD_ERROR:
		return WEXITSTATUS(status);
	default:
		return 0;
	}
}

/*
 * The first workers start at once, throttle or not. They count against it
 * all the same, so a worker that crashes right after boot is replaced no
 * faster than any other.
 */
static void start_workers(struct arbiter *a)
{
	for (int i = 0; i < a->target_workers; i++) {
		throttle_take(&a->respawn, monotime_now());
		spawn(a);
	}
}

/*
 * Fork one worker, whatever the throttle says (the callers ask it). Signals
 * stay blocked across fork so the child cannot run the arbiter's handlers;
 * the child resets them (channel_enter_worker).
 */
static void spawn(struct arbiter *a)
{
	struct channel_stats *stats;
	int sv[2];
	sigset_t all, old;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error(errno, "socketpair()");
		return;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	interp_warm(a->cfg);
	stats = channel_stats_new();
	hooks_call(HOOK_PRE_FORK, a->target_workers,
		   &(struct hook_worker){0, (long)getpid(), a->next_age, true}, 0, 0);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	interp_before_fork();
	pid = fork();
	if (pid == 0) {
		interp_after_fork_child();
		hooks_call(HOOK_POST_FORK, a->target_workers,
			   &(struct hook_worker){(long)getpid(), (long)getppid(), a->next_age, true},
			   0, 0);
		/* Close what is the arbiter's: the self-pipe and every other
		 * worker's channel end (so their EOF reaches them if we die). */
		close(sv[0]);
		close(a->self_pipe[0]);
		close(a->self_pipe[1]);
		for (size_t i = 0; i < a->nslots; i++) {
			close(a->slots[i].fd);
			channel_stats_free(a->slots[i].stats);
		}
		control_close_fds(a);
		statsd_close(a);
		channel_enter_worker(&(struct channel_start){
			.cfg = a->cfg,
			.listeners = a->listeners,
			.nlisteners = a->nlisteners,
			.fd = sv[1],
			.age = a->next_age,
			.stats = stats,
		});
	}
	interp_after_fork_parent();
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		log_error(errno, "fork()");
		close(sv[0]);
		channel_stats_free(stats);
		return;
	}
	if (a->nslots == a->slots_cap) {
		a->slots_cap = a->slots_cap ? a->slots_cap * 2 : 8;
		a->slots = xrealloc(a->slots, a->slots_cap * sizeof(*a->slots));
	}
	a->slots[a->nslots++] = (struct slot){.pid = pid,
					      .fd = sv[0],
					      .last_beat = monotime_now(),
					      .age = a->next_age++,
					      .gen = a->generation,
					      .started_at = monotime_now(),
					      .type = worker_type_find(a->cfg->worker_class,
								       a->cfg->threads)->name,
					      .stats = stats};
	log_info("Booting worker with pid: %ld", (long)pid);
}

/*
 * Bring the serving workers of the current generation to target_workers:
 * spawn as fast as the throttle allows, retire the oldest when there are too
 * many, and retire the previous generation once the new one has booted.
 */
static void maintain(struct arbiter *a, double now)
{
	size_t serving = 0, booted = 0, old = 0;
	struct slot *oldest = NULL;

	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];
		if (s->retired_at > 0)
			continue;
		if (s->gen != a->generation) {
			old++;
			continue;
		}
		serving++;
		booted += s->booted;
		if (!oldest || s->age < oldest->age)
			oldest = s;
	}
	while (!a->gen_failed && (size_t)a->target_workers > serving &&
	       throttle_take(&a->respawn, now)) {
		size_t before = a->nslots;
		spawn(a);
		if (a->nslots == before)
			break;
		serving++;
	}
	if (serving > (size_t)a->target_workers && oldest)
		retire(oldest, now);
	if (old > 0 && !a->gen_failed &&
	    (booted >= (size_t)a->target_workers || now - a->reloaded_at > RELOAD_BOOT_WAIT)) {
		for (size_t i = 0; i < a->nslots; i++)
			if (a->slots[i].gen != a->generation && a->slots[i].retired_at == 0)
				retire(&a->slots[i], now);
	}
	announce(a);
}

/*
 * Tell systemd: READY=1 once the workers of the current generation have
 * all booted (at start, and after a HUP), and a STATUS= line whenever the
 * number of booted workers serving changes.
 */
static void announce(struct arbiter *a)
{
	size_t up = 0, fresh = 0;
	bool ready;

	for (size_t i = 0; i < a->nslots; i++) {
		if (a->slots[i].retired_at > 0 || !a->slots[i].booted)
			continue;
		up++;
		fresh += a->slots[i].gen == a->generation;
	}
	ready = a->announce_ready && fresh >= (size_t)a->target_workers;
	if (!ready && up == a->announced_workers)
		return;
	notify_send("%sSTATUS=%zu worker%s serving (%d wanted)", ready ? "READY=1\n" : "", up,
		    up == 1 ? "" : "s", a->target_workers);
	a->announced_workers = up;
	if (ready)
		a->announce_ready = false;
}

/* Ask a worker to stop gracefully; it is killed if it outlives the graceful timeout. */
static void retire(struct slot *s, double now)
{
	log_info("Retiring worker (pid: %ld)", (long)s->pid);
	s->retired_at = now;
	kill(s->pid, SIGTERM);
}

/*
 * A worker silent for longer than --timeout gets SIGABRT (it logs its
 * Python stack and dies), then SIGKILL if it is still there; a retired
 * worker that outlives the graceful timeout gets SIGKILL.
 */
static void check_timeouts(struct arbiter *a, double now)
{
	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];

		if (s->aborted_at > 0) {
			if (now - s->aborted_at > ABORT_GRACE)
				kill(s->pid, SIGKILL);
			continue;
		}
		if (s->retired_at > 0 && now - s->retired_at > a->cfg->graceful_timeout) {
			log_warning("Worker (pid:%ld) did not stop within the graceful timeout: killing",
				    (long)s->pid);
			kill(s->pid, SIGKILL);
			s->aborted_at = now;
			continue;
		}
		if (a->cfg->timeout > 0 && now - s->last_beat > a->cfg->timeout) {
			log_critical("WORKER TIMEOUT (pid:%ld): no heartbeat for %d s, sending SIGABRT",
				     (long)s->pid, a->cfg->timeout);
			kill(s->pid, SIGABRT);
			s->aborted_at = now;
		}
	}
}

/*
 * HUP: load the settings afresh from the same command line, all or
 * nothing; on success start a new generation of workers (which import the
 * app anew) and retire the old ones once the new ones have booted.
 */
static void reload(struct arbiter *a)
{
	struct config *next = xcalloc(1, sizeof(*next));
	struct control_swap swap;
	char err[1024];

	a->reload_asked = false;
	a->gen_failed = false;
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading",
		    (unsigned long long)(monotime_now() * 1e6));
	if (prepare_reload(a, next, &swap, err, sizeof(err)) < 0) {
		log_msg(LOG_ERROR, "reload failed, keeping the running configuration: %s", err);
		notify_send("READY=1\nSTATUS=Reload failed, running as before: %s", err);
		if (a->cfg->chdir && chdir(a->cfg->chdir) < 0)
			log_error(errno, "returning to %s", a->cfg->chdir);
		free(next);
		return;
	}
	if (log_open(next->errorlog, next->loglevel) < 0)
		log_error(errno, "reload: cannot open error log '%s', keeping the old one",
			  next->errorlog);
	if (log_syslog_open(next->syslog ? next->syslog_addr : NULL, next->syslog_facility,
			    next->syslog_prefix ? next->syslog_prefix
			    : next->proc_name  ? next->proc_name
					       : config_app_name(next)) < 0)
		log_error(errno, "reload: cannot reach syslog at %s (retrying)", next->syslog_addr);
	for (size_t i = 0; i < next->infos.n; i++)
		log_info("%s", next->infos.v[i]);
	for (size_t i = 0; i < next->notes.n; i++)
		log_warning("%s", next->notes.v[i]);
	config_export_env(next);
	if (a->preloaded)
		log_info("reload: the application was preloaded, so the new workers run the "
			 "code the arbiter imported at start (restart to load new code)");
	config_free(a->cfg);
	*a->cfg = *next;
	free(next);
	control_commit(a, &swap);
	a->generation++;
	a->reloaded_at = monotime_now();
	a->target_workers = a->cfg->workers;
	hooks_commit(a->cfg);
	hooks_call(HOOK_ON_RELOAD, a->target_workers, NULL, 0, 0);
	a->announce_ready = true;
}

/*
 * Everything of a reload that can fail, before anything changes: read and
 * check next (from the start directory), enter its --chdir, open its
 * access log once, make its control, metrics and statsd endpoints (swap)
 * and bind its addresses (listener_rebind: the unchanged ones carried
 * over). 0, or -1 with err and next freed; on -1 only the working
 * directory may have moved.
 */
static int prepare_reload(struct arbiter *a, struct config *next, struct control_swap *swap,
			  char *err, size_t errlen)
{
	struct listener *ls;
	size_t n;
	bool same;
	int fd;

	if (chdir(a->start_dir) < 0) {
		snprintf(err, errlen, "cannot return to %s: %s", a->start_dir, strerror(errno));
		return -1;
	}
	if (config_load(next, a->argc, a->argv, err, errlen) != CONFIG_RUN ||
	    config_validate(next, err, errlen) < 0)
		goto failed;
	if (next->chdir && chdir(next->chdir) < 0) {
		snprintf(err, errlen, "cannot change directory to '%s': %s", next->chdir,
			 strerror(errno));
		goto failed;
	}
	/* A certificate that cannot be loaded keeps the running one (and its settings). */
	if (sslctx_load(next, err, errlen) < 0)
		goto failed;
	/* The new workers open it: a path they cannot open would stop us. */
	if (next->accesslog && strcmp(next->accesslog, "-") != 0) {
		fd = open(next->accesslog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			snprintf(err, errlen, "cannot open access log '%s': %s", next->accesslog,
				 strerror(errno));
			goto failed;
		}
		close(fd);
	}
	if (control_prepare(a, next, swap, err, errlen) < 0)
		goto failed;
	same = next->bind.n == a->cfg->bind.n;
	for (size_t i = 0; same && i < next->bind.n; i++)
		same = strcmp(next->bind.v[i], a->cfg->bind.v[i]) == 0;
	ls = listener_rebind(next, a->listeners, a->nlisteners, &n, err, errlen);
	if (!ls) {
		control_abandon(swap);
		goto failed;
	}
	for (size_t i = 0; !same && i < n; i++)
		log_info("Listening at: %s%s (%ld)",
			 ls[i].family == AF_UNIX ? "" : next->tls_ctx ? "https://" : "http://",
			 ls[i].name, (long)getpid());
	a->listeners = ls;
	a->nlisteners = n;
	return 0;
failed:
	config_free(next);
	return -1;
}

static void remove_slot(struct arbiter *a, size_t i)
{
	stats_retire(a, &a->slots[i]);
	channel_stats_free(a->slots[i].stats);
	close(a->slots[i].fd);
	a->slots[i] = a->slots[--a->nslots];
}

static void reap(struct arbiter *a)
{
	int status;
	pid_t pid;
	char how[64];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == a->upgrade_pid) {
			arbiter_describe_status(status, how, sizeof(how));
			log_warning("Upgraded arbiter (pid:%ld) exited with %s", (long)pid, how);
			a->upgrade_pid = 0;
			listener_hand_over(a->listeners, a->nlisteners, 0);
			/* Gone while we stop: its socket files are ours again, and stale. */
			if (a->stopping)
				listener_close_sockets(a->listeners, a->nlisteners, true);
			process_pidfile_move_back(a->cfg->pidfile);
			continue;
		}
		for (size_t i = 0; i < a->nslots; i++) {
			if (a->slots[i].pid != pid)
				continue;
			/* A clean exit was logged by the worker itself. */
			arbiter_describe_status(status, how, sizeof(how));
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warning("Worker (pid:%ld) exited with %s", (long)pid, how);
			if (!a->fatal_code && arbiter_fatal_status(status) && keeps_serving(a, i)) {
				log_msg(LOG_ERROR, "the edited application cannot boot: the workers "
					  "that loaded it before serve on until the code changes again "
					  "(--reload)");
				a->gen_failed = true;
			} else if (!a->fatal_code) {
				a->fatal_code = arbiter_fatal_status(status);
			}
			count_restart(a, &a->slots[i], status);
			hooks_call(HOOK_CHILD_EXIT, a->target_workers,
				   &(struct hook_worker){(long)pid, (long)getpid(), a->slots[i].age,
							 false},
				   0, 0);
			remove_slot(a, i);
			break;
		}
	}
}

/* A worker the arbiter did not retire is gone: why (kirin_worker_restarts_total). */
static void count_restart(struct arbiter *a, const struct slot *s, int status)
{
	if (s->retired_at > 0 || a->stopping)
		return;
	if (s->aborted_at > 0)
		a->restarts[RESTART_TIMEOUT]++;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && s->stats &&
		 s->stats->exit_cause == CHANNEL_EXIT_MAX_REQUESTS)
		a->restarts[RESTART_MAX_REQUESTS]++;
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		a->restarts[RESTART_CRASH]++;
}

/*
 * --reload: slot i failed to boot, but other workers, booted before the
 * edit, still serve; an edit with a mistake in it must not stop the server.
 */
static bool keeps_serving(const struct arbiter *a, size_t i)
{
	if (!a->cfg->reload)
		return false;
	for (size_t j = 0; j < a->nslots; j++)
		if (j != i && a->slots[j].booted && a->slots[j].retired_at == 0)
			return true;
	return false;
}

/*
 * Wait for a signal or a heartbeat: up to a second, or until the throttle
 * allows the spawn of a missing worker. Then drain the self-pipe and take
 * in the beats: a worker is alive, and booted, while they arrive.
 */
static void poll_channels(struct arbiter *a)
{
	int timeout = 1000;
	double now, watchdog, asked;

	size_t nctl;

	if (a->nslots + 1 + control_npoll(a) > a->pfd_cap) {
		a->pfd_cap = (a->nslots + 1 + control_npoll(a)) * 2;
		a->pfd = xrealloc(a->pfd, a->pfd_cap * sizeof(*a->pfd));
	}
	a->pfd[0] = (struct pollfd){.fd = a->self_pipe[0], .events = POLLIN};
	for (size_t i = 0; i < a->nslots; i++)
		a->pfd[i + 1] = (struct pollfd){.fd = a->slots[i].fd, .events = POLLIN};
	nctl = control_pollfds(a, a->pfd + a->nslots + 1);
	if ((size_t)a->target_workers > a->nslots) {
		double wait = throttle_wait(&a->respawn, monotime_now());
		timeout = wait > 0 ? (int)(wait * 1000) + 1 : 0;
	}
	watchdog = notify_watchdog_wait(monotime_now());
	if (watchdog >= 0 && watchdog * 1000 < timeout)
		timeout = (int)(watchdog * 1000);
	asked = monotime_now() + timeout / 1000.0;
	if (poll(a->pfd, a->nslots + 1 + nctl, timeout) < 0 && errno != EINTR)
		log_error(errno, "poll()");
	if (a->pfd[0].revents)
		drain_self_pipe(a);
	now = monotime_now();
	/* Back much later than asked: the arbiter itself did not run (a stalled
	 * machine, SIGSTOP), and cannot tell a stuck worker from one that did
	 * not run either. Each worker gets --timeout from now to beat again. */
	if (now - asked > STALL_S)
		for (size_t i = 0; i < a->nslots; i++)
			if (a->slots[i].last_beat < now)
				a->slots[i].last_beat = now;
	for (size_t i = 0; i < a->nslots; i++) {
		char beats[64];
		ssize_t n;

		if (!a->pfd[i + 1].revents)
			continue;
		while ((n = recv(a->slots[i].fd, beats, sizeof(beats), MSG_DONTWAIT)) > 0) {
			a->slots[i].last_beat = now;
			a->slots[i].booted = true;
			/* --reload: once per generation, however many workers ask. */
			if (memchr(beats, CHANNEL_RELOAD, (size_t)n) &&
			    (a->slots[i].gen == a->generation || a->gen_failed) && !a->reload_asked) {
				log_info("Worker (pid:%ld) saw the code change: reloading",
					 (long)a->slots[i].pid);
				a->reload_asked = true;
				a->sig.hup = 1;
			}
		}
	}
	control_handle(a, a->pfd + a->nslots + 1, nctl, now);
}

/* HUP, USR1, USR2, TTIN, TTOU and WINCH, in that order. */
static void handle_signals(struct arbiter *a)
{
	if (a->sig.hup) {
		a->sig.hup = 0;
		log_info("Handling signal: hup");
		reload(a);
	}
	if (a->sig.usr1) {
		a->sig.usr1 = 0;
		log_info("Handling signal: usr1");
		if (log_reopen() < 0)
			log_error(errno, "reopening the error log");
		signal_all(a, SIGUSR1);
	}
	if (a->sig.usr2) {
		a->sig.usr2 = 0;
		log_info("Handling signal: usr2");
		upgrade_start(a);
	}
	if (a->sig.ttin) {
		a->sig.ttin = 0;
		a->target_workers++;
		log_info("Handling signal: ttin (%d workers)", a->target_workers);
		hooks_call(HOOK_NWORKERS_CHANGED, a->target_workers, NULL, a->target_workers,
			   a->target_workers - 1);
	}
	if (a->sig.ttou) {
		a->sig.ttou = 0;
		if (a->target_workers > 1) {
			a->target_workers--;
			hooks_call(HOOK_NWORKERS_CHANGED, a->target_workers, NULL,
				   a->target_workers, a->target_workers + 1);
		}
		log_info("Handling signal: ttou (%d workers)", a->target_workers);
	}
	if (a->sig.winch) {
		a->sig.winch = 0;
		if (a->cfg->daemon) {
			log_info("Handling signal: winch: stopping all workers gracefully");
			a->target_workers = 0;
		} else {
			log_info("SIGWINCH ignored: not daemonized");
		}
	}
}

static void signal_all(const struct arbiter *a, int sig)
{
	for (size_t i = 0; i < a->nslots; i++)
		kill(a->slots[i].pid, sig);
}

/*
 * Stop: close the listeners (nothing new is accepted), tell the workers
 * (TERM: finish in-flight requests; QUIT: now), wait up to the graceful
 * timeout, then SIGKILL whoever is left. Returns the exit code.
 */
static int stop(struct arbiter *a, enum stop_mode mode)
{
	int grace = mode == STOP_GRACEFUL ? a->cfg->graceful_timeout : QUICK_STOP_GRACE;
	double deadline = monotime_now() + grace;

	log_info(mode == STOP_GRACEFUL ? "Handling signal: term" : "Shutting down: quick");
	/* After USR2 the service goes on in the new arbiter: systemd is told to follow it. */
	if (a->upgrade_pid > 0)
		notify_send("MAINPID=%ld\nSTATUS=Handed over to the upgraded arbiter (pid %ld)",
			    (long)a->upgrade_pid, (long)a->upgrade_pid);
	else
		notify_send("STOPPING=1\nSTATUS=Stopping");
	/* Files handed over on USR2 stay while the new arbiter runs (listener_hand_over);
	 * should it exit before we do, reap() removes them. */
	a->stopping = true;
	listener_close_sockets(a->listeners, a->nlisteners, true);
	signal_all(a, mode == STOP_GRACEFUL ? SIGTERM : SIGQUIT);
	while (a->nslots > 0 && monotime_now() < deadline) {
		struct pollfd p = {.fd = a->self_pipe[0], .events = POLLIN};
		poll(&p, 1, 100);
		drain_self_pipe(a);
		reap(a);
		notify_watchdog(monotime_now());
	}
	if (a->nslots > 0) {
		log_warning("%zu worker(s) still running after %d s: killing", a->nslots, grace);
		signal_all(a, SIGKILL);
		while (a->nslots > 0) {
			int status;
			pid_t pid = waitpid(-1, &status, 0);
			if (pid < 0 && errno == ECHILD)
				break;
			for (size_t i = 0; i < a->nslots; i++) {
				if (a->slots[i].pid == pid) {
					remove_slot(a, i);
					break;
				}
			}
		}
	}
	control_close(a);
	statsd_close(a);
	listener_close_all(a->listeners, a->nlisteners, true);
	a->listeners = NULL;
	a->nlisteners = 0;
	free(a->slots);
	a->slots = NULL;
	free(a->pfd);
	a->pfd = NULL;
	hooks_call(HOOK_ON_EXIT, 0, NULL, 0, 0);
	log_info("Shutting down: Master");
	return a->fatal_code ? a->fatal_code : 0;
}

static void drain_self_pipe(const struct arbiter *a)
{
	char buf[64];

	while (read(a->self_pipe[0], buf, sizeof(buf)) > 0)
		;
}
