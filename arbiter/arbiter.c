/* arbiter — see arbiter.h. */
#include "arbiter/arbiter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/monotime.h"
#include "arbiter/process.h"
#include "workers/channel.h"
#include "workers/python/interp.h"

#define RESPAWN_BURST 5     /* respawns allowed ... */
#define RESPAWN_WINDOW 1.0  /* ... per this many seconds */
#define QUICK_STOP_GRACE 5  /* seconds a quick stop waits before SIGKILL */
#define ABORT_GRACE 5       /* seconds between SIGABRT and SIGKILL for a timed-out worker */
#define RELOAD_BOOT_WAIT 30 /* seconds old workers wait for new ones to boot on HUP */

struct slot {
	pid_t pid;
	int fd;            /* our end of the channel */
	double last_beat;  /* monotonic time of the last heartbeat */
	unsigned age;      /* spawn order: the lowest is the oldest */
	unsigned gen;      /* configuration generation it was started with */
	bool booted;       /* sent its first heartbeat (the app is loaded) */
	double retired_at; /* sent TERM to retire it (0: serving) */
	double aborted_at; /* sent SIGABRT for a timeout (0: not) */
};

enum stop_mode { RUNNING = 0, STOP_GRACEFUL, STOP_QUICK };

static volatile sig_atomic_t sig_term, sig_quick, sig_chld, sig_usr1, sig_usr2, sig_hup,
	sig_ttin, sig_ttou, sig_winch;
static int self_pipe[2] = {-1, -1};

static struct config *cfg;
static int cfg_argc;
static char *const *cfg_argv;
static const char *cfg_start_dir;
static struct listener *listeners;
static size_t nlisteners;
static struct slot *slots;
static size_t nslots, slots_cap;
static unsigned next_age;
static unsigned generation;
static double reloaded_at;
static int target_workers;
static struct throttle respawn;
static int fatal_code;
static bool preloaded;          /* --preload at start: workers inherit that app */
static char exe_path[PATH_MAX]; /* the binary, for USR2 */
static pid_t upgrade_pid;       /* the re-executed arbiter while it runs */

static void on_signal(int sig);
static int setup_signals(void);
static void spawn(void);
static void maintain(double now);
static void retire(struct slot *s, double now);
static void check_timeouts(double now);
static void reload(void);
static int prepare_reload(struct config *next, char *err, size_t errlen);
static void upgrade(void);
static void remove_slot(size_t i);
static void reap(void);
static void read_heartbeats(struct pollfd *pfd, size_t n);
static void signal_all(int sig);
static int stop(enum stop_mode mode);
static void drain_self_pipe(void);

int arbiter_run(struct config *c, int argc, char *const argv[], const char *start_dir,
		struct listener *ls, size_t nls)
{
	enum stop_mode mode = RUNNING;

	cfg = c;
	cfg_argc = argc;
	cfg_argv = argv;
	cfg_start_dir = start_dir;
	listeners = ls;
	nlisteners = nls;
	target_workers = cfg->workers;
	preloaded = cfg->preload_app;
	throttle_init(&respawn, RESPAWN_BURST, RESPAWN_WINDOW);
	if (readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1) < 0)
		exe_path[0] = '\0';
	if (setup_signals() < 0) {
		log_error(errno, "setting up signals");
		return 1;
	}
	log_info("Arbiter booted (pid: %ld)", (long)getpid());
	for (int i = 0; i < target_workers; i++)
		spawn();

	while (mode == RUNNING) {
		struct pollfd *pfd = xcalloc(nslots + 1, sizeof(*pfd));
		double now;
		int timeout = 1000;

		pfd[0] = (struct pollfd){.fd = self_pipe[0], .events = POLLIN};
		for (size_t i = 0; i < nslots; i++)
			pfd[i + 1] = (struct pollfd){.fd = slots[i].fd, .events = POLLIN};
		if ((size_t)target_workers > nslots) {
			double wait = throttle_wait(&respawn, monotime_now());
			timeout = wait > 0 ? (int)(wait * 1000) + 1 : 0;
		}
		if (poll(pfd, nslots + 1, timeout) < 0 && errno != EINTR)
			log_error(errno, "poll()");
		if (pfd[0].revents)
			drain_self_pipe();
		read_heartbeats(pfd + 1, nslots);
		free(pfd);

		/* Signals, in a fixed order. */
		if (sig_chld) {
			sig_chld = 0;
			reap();
		}
		if (fatal_code) {
			log_critical("worker failed to boot: shutting down");
			return stop(STOP_QUICK);
		}
		if (sig_quick) {
			mode = STOP_QUICK;
			break;
		}
		if (sig_term) {
			mode = STOP_GRACEFUL;
			break;
		}
		if (sig_hup) {
			sig_hup = 0;
			log_info("Handling signal: hup");
			reload();
		}
		if (sig_usr1) {
			sig_usr1 = 0;
			log_info("Handling signal: usr1");
			if (log_reopen() < 0)
				log_error(errno, "reopening the error log");
			signal_all(SIGUSR1);
		}
		if (sig_usr2) {
			sig_usr2 = 0;
			log_info("Handling signal: usr2");
			upgrade();
		}
		if (sig_ttin) {
			sig_ttin = 0;
			target_workers++;
			log_info("Handling signal: ttin (%d workers)", target_workers);
		}
		if (sig_ttou) {
			sig_ttou = 0;
			if (target_workers > 1)
				target_workers--;
			log_info("Handling signal: ttou (%d workers)", target_workers);
		}
		if (sig_winch) {
			sig_winch = 0;
			if (cfg->daemon) {
				log_info("Handling signal: winch: stopping all workers gracefully");
				target_workers = 0;
			} else {
				log_info("SIGWINCH ignored: not daemonized");
			}
		}
		now = monotime_now();
		check_timeouts(now);
		maintain(now);
	}
	return stop(mode);
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

void throttle_init(struct throttle *t, unsigned burst, double window)
{
	memset(t, 0, sizeof(*t));
	t->burst = burst < 16 ? burst : 16;
	t->window = window;
}

/* The oldest of the last `burst` spawns, or -1 when fewer have happened. */
static double oldest(const struct throttle *t)
{
	if (t->count < t->burst)
		return -1;
	return t->times[(t->next + 16 - t->burst) % 16];
}

bool throttle_take(struct throttle *t, double now)
{
	double o = oldest(t);

	if (o >= 0 && now - o < t->window)
		return false;
	t->times[t->next] = now;
	t->next = (t->next + 1) % 16;
	if (t->count < 16)
		t->count++;
	return true;
}

double throttle_wait(const struct throttle *t, double now)
{
	double o = oldest(t);

	if (o < 0 || now - o >= t->window)
		return 0;
	return t->window - (now - o);
}

static void on_signal(int sig)
{
	int saved = errno;

	switch (sig) {
	case SIGTERM:
		sig_term = 1;
		break;
	case SIGINT:
	case SIGQUIT:
		sig_quick = 1;
		break;
	case SIGCHLD:
		sig_chld = 1;
		break;
	case SIGUSR1:
		sig_usr1 = 1;
		break;
	case SIGUSR2:
		sig_usr2 = 1;
		break;
	case SIGHUP:
		sig_hup = 1;
		break;
	case SIGTTIN:
		sig_ttin = 1;
		break;
	case SIGTTOU:
		sig_ttou = 1;
		break;
	case SIGWINCH:
		sig_winch = 1;
		break;
	default:
		break;
	}
	if (write(self_pipe[1], "", 1) < 0) {
		/* full pipe: the loop is already due to wake */
	}
	errno = saved;
}

static int setup_signals(void)
{
	struct sigaction sa = {0};
	static const int handled[] = {SIGTERM, SIGINT,  SIGQUIT, SIGCHLD,
				      SIGUSR1, SIGUSR2, SIGHUP,  SIGTTIN, SIGTTOU, SIGWINCH};

	if (pipe2(self_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		if (sigaction(handled[i], &sa, NULL) < 0)
			return -1;
	/* An old arbiter's USR2 execs us with every signal blocked. */
	sigemptyset(&sa.sa_mask);
	return sigprocmask(SIG_SETMASK, &sa.sa_mask, NULL);
}

/*
 * Fork one worker. Signals stay blocked across fork so the child cannot
 * run the arbiter's handlers; the child resets them (channel_enter_worker).
 */
static void spawn(void)
{
	int sv[2];
	sigset_t all, old;
	pid_t pid;

	if (!throttle_take(&respawn, monotime_now()) && next_age >= (unsigned)cfg->workers)
		return; /* the first workers start at once; replacements are throttled */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error(errno, "socketpair()");
		return;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	interp_before_fork();
	pid = fork();
	if (pid == 0) {
		interp_after_fork_child();
		/* Close what is the arbiter's: the self-pipe and every other
		 * worker's channel end (so their EOF reaches them if we die). */
		close(sv[0]);
		close(self_pipe[0]);
		close(self_pipe[1]);
		for (size_t i = 0; i < nslots; i++)
			close(slots[i].fd);
		channel_enter_worker(&(struct channel_start){
			.cfg = cfg,
			.listeners = listeners,
			.nlisteners = nlisteners,
			.fd = sv[1],
			.age = next_age,
		});
	}
	interp_after_fork_parent();
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		log_error(errno, "fork()");
		close(sv[0]);
		return;
	}
	if (nslots == slots_cap) {
		slots_cap = slots_cap ? slots_cap * 2 : 8;
		slots = xrealloc(slots, slots_cap * sizeof(*slots));
	}
	slots[nslots++] = (struct slot){
		.pid = pid, .fd = sv[0], .last_beat = monotime_now(), .age = next_age++, .gen = generation};
	log_info("Booting worker with pid: %ld", (long)pid);
}

/*
 * Bring the serving workers of the current generation to target_workers:
 * spawn as fast as the throttle allows, retire the oldest when there are too
 * many, and retire the previous generation once the new one has booted.
 */
static void maintain(double now)
{
	size_t serving = 0, booted = 0, old = 0;
	struct slot *oldest = NULL;

	for (size_t i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		if (s->retired_at > 0)
			continue;
		if (s->gen != generation) {
			old++;
			continue;
		}
		serving++;
		booted += s->booted;
		if (!oldest || s->age < oldest->age)
			oldest = s;
	}
	while ((size_t)target_workers > serving && throttle_wait(&respawn, now) == 0) {
		size_t before = nslots;
		spawn();
		if (nslots == before)
			break;
		serving++;
	}
	if (serving > (size_t)target_workers && oldest)
		retire(oldest, now);
	if (old > 0 && (booted >= (size_t)target_workers || now - reloaded_at > RELOAD_BOOT_WAIT)) {
		for (size_t i = 0; i < nslots; i++)
			if (slots[i].gen != generation && slots[i].retired_at == 0)
				retire(&slots[i], now);
	}
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
static void check_timeouts(double now)
{
	for (size_t i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];

		if (s->aborted_at > 0) {
			if (now - s->aborted_at > ABORT_GRACE)
				kill(s->pid, SIGKILL);
			continue;
		}
		if (s->retired_at > 0 && now - s->retired_at > cfg->graceful_timeout) {
			log_warning("Worker (pid:%ld) did not stop within the graceful timeout: killing",
				    (long)s->pid);
			kill(s->pid, SIGKILL);
			s->aborted_at = now;
			continue;
		}
		if (cfg->timeout > 0 && now - s->last_beat > cfg->timeout) {
			log_critical("WORKER TIMEOUT (pid:%ld): no heartbeat for %d s, sending SIGABRT",
				     (long)s->pid, cfg->timeout);
			kill(s->pid, SIGABRT);
			s->aborted_at = now;
		}
	}
}

/*
 * USR2: re-execute the binary, in the directory kirin was started in and
 * with the same command line, with the listening sockets passed in
 * KIRIN_FDS, and in KIRIN_FDS_UNLINK those whose unix socket files we
 * created (the new arbiter removes them when it exits after us). The new
 * arbiter starts its own workers; this one keeps serving until told
 * WINCH/TERM, and its pid file moves aside to FILE.oldbin.
 *
 * Signals stay blocked from before fork to after exec (exec keeps the
 * mask): one sent to the new pid in between would otherwise run our
 * handlers in the child, or the default action once exec reset them (TTIN
 * stops a process, HUP ends it). It waits, pending, until the new arbiter
 * has its handlers and unblocks (setup_signals).
 */
static void upgrade(void)
{
	char fds[512] = "", unlink_fds[512] = "";
	sigset_t all, old;
	bool aside;
	pid_t pid;

	if (upgrade_pid > 0) {
		log_warning("USR2 ignored: the upgraded arbiter (pid %ld) is still running",
			    (long)upgrade_pid);
		return;
	}
	if (!exe_path[0]) {
		log_msg(LOG_ERROR, "USR2 ignored: the kirin binary's path is unknown");
		return;
	}
	aside = process_pidfile_move_aside(cfg->pidfile) == 0;
	if (!aside)
		log_error(errno, "moving pid file %s aside", cfg->pidfile);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_error(errno, "fork() for USR2");
		if (aside && process_pidfile_move_back(cfg->pidfile) < 0)
			log_error(errno, "moving pid file %s back", cfg->pidfile);
		return;
	}
	if (pid == 0) {
		for (size_t i = 0; i < nlisteners; i++) {
			size_t len = strlen(fds), ulen = strlen(unlink_fds);
			fcntl(listeners[i].fd, F_SETFD, 0);
			snprintf(fds + len, sizeof(fds) - len, "%s%d", i ? "," : "", listeners[i].fd);
			if (listeners[i].unix_path)
				snprintf(unlink_fds + ulen, sizeof(unlink_fds) - ulen, "%s%d",
					 ulen ? "," : "", listeners[i].fd);
		}
		setenv("KIRIN_FDS", fds, 1);
		setenv("KIRIN_FDS_UNLINK", unlink_fds, 1);
		/* Not from --chdir, where we are: a relative --chdir, -c or ./kirin.ini
		 * would be looked up there a second time. */
		if (chdir(cfg_start_dir) < 0) {
			log_error(errno, "USR2: cannot return to %s", cfg_start_dir);
			_exit(127);
		}
		execv(exe_path, cfg_argv);
		log_error(errno, "USR2: cannot execute %s", exe_path);
		_exit(127);
	}
	upgrade_pid = pid;
	/* Its files now: a reload that changes the addresses must leave them. */
	listener_hand_over(listeners, nlisteners, pid);
	log_info("Started upgraded arbiter (pid: %ld) from %s", (long)pid, exe_path);
}

/*
 * HUP: load the settings afresh from the same command line, all or
 * nothing; on success start a new generation of workers (which import the
 * app anew) and retire the old ones once the new ones have booted.
 */
static void reload(void)
{
	struct config *next = xcalloc(1, sizeof(*next));
	char err[1024];

	if (prepare_reload(next, err, sizeof(err)) < 0) {
		log_msg(LOG_ERROR, "reload failed, keeping the running configuration: %s", err);
		if (cfg->chdir && chdir(cfg->chdir) < 0)
			log_error(errno, "returning to %s", cfg->chdir);
		free(next);
		return;
	}
	if (log_open(next->errorlog, next->loglevel) < 0)
		log_error(errno, "reload: cannot open error log '%s', keeping the old one",
			  next->errorlog);
	if (log_syslog_open(next->syslog ? next->syslog_addr : NULL, next->syslog_facility,
			    next->syslog_prefix ? next->syslog_prefix
			    : next->proc_name  ? next->proc_name
					       : next->app_module) < 0)
		log_error(errno, "reload: cannot reach syslog at %s (retrying)", next->syslog_addr);
	config_export_env(next);
	if (preloaded)
		log_info("reload: the application was preloaded, so the new workers run the "
			 "code the arbiter imported at start (restart to load new code)");
	config_free(cfg);
	*cfg = *next;
	free(next);
	generation++;
	reloaded_at = monotime_now();
	target_workers = cfg->workers;
}

/*
 * Everything of a reload that can fail, before anything changes: read and
 * check next (from the start directory), enter its --chdir, open its
 * access log once, and bind its addresses (listener_rebind: the unchanged
 * ones carried over). 0, or -1 with err and next freed; on -1 only the
 * working directory may have moved.
 */
static int prepare_reload(struct config *next, char *err, size_t errlen)
{
	struct listener *ls;
	size_t n;
	bool same;
	int fd;

	if (chdir(cfg_start_dir) < 0) {
		snprintf(err, errlen, "cannot return to %s: %s", cfg_start_dir, strerror(errno));
		return -1;
	}
	if (config_load(next, cfg_argc, cfg_argv, err, errlen) != CONFIG_RUN ||
	    config_validate(next, err, errlen) < 0)
		goto failed;
	if (next->chdir && chdir(next->chdir) < 0) {
		snprintf(err, errlen, "cannot change directory to '%s': %s", next->chdir,
			 strerror(errno));
		goto failed;
	}
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
	same = next->bind.n == cfg->bind.n;
	for (size_t i = 0; same && i < next->bind.n; i++)
		same = strcmp(next->bind.v[i], cfg->bind.v[i]) == 0;
	ls = listener_rebind(next, listeners, nlisteners, &n, err, errlen);
	if (!ls)
		goto failed;
	for (size_t i = 0; !same && i < n; i++)
		log_info("Listening at: %s%s (%ld)", ls[i].family == AF_UNIX ? "" : "http://",
			 ls[i].name, (long)getpid());
	listeners = ls;
	nlisteners = n;
	return 0;
failed:
	config_free(next);
	return -1;
}

static void remove_slot(size_t i)
{
	close(slots[i].fd);
	slots[i] = slots[--nslots];
}

static void reap(void)
{
	int status;
	pid_t pid;
	char how[64];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == upgrade_pid) {
			arbiter_describe_status(status, how, sizeof(how));
			log_warning("Upgraded arbiter (pid:%ld) exited with %s", (long)pid, how);
			upgrade_pid = 0;
			listener_hand_over(listeners, nlisteners, 0);
			process_pidfile_move_back(cfg->pidfile);
			continue;
		}
		for (size_t i = 0; i < nslots; i++) {
			if (slots[i].pid != pid)
				continue;
			/* A clean exit was logged by the worker itself. */
			arbiter_describe_status(status, how, sizeof(how));
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warning("Worker (pid:%ld) exited with %s", (long)pid, how);
			if (!fatal_code)
				fatal_code = arbiter_fatal_status(status);
			remove_slot(i);
			break;
		}
	}
}

static void read_heartbeats(struct pollfd *pfd, size_t n)
{
	double now = monotime_now();

	for (size_t i = 0; i < n; i++) {
		char beats[64];

		if (!pfd[i].revents)
			continue;
		for (size_t k = 0; k < nslots; k++) {
			if (slots[k].fd != pfd[i].fd)
				continue;
			while (recv(slots[k].fd, beats, sizeof(beats), MSG_DONTWAIT) > 0) {
				slots[k].last_beat = now;
				slots[k].booted = true;
			}
			break;
		}
	}
}

static void signal_all(int sig)
{
	for (size_t i = 0; i < nslots; i++)
		kill(slots[i].pid, sig);
}

/*
 * Stop: close the listeners (nothing new is accepted), tell the workers
 * (TERM: finish in-flight requests; QUIT: now), wait up to the graceful
 * timeout, then SIGKILL whoever is left. Returns the exit code.
 */
static int stop(enum stop_mode mode)
{
	int grace = mode == STOP_GRACEFUL ? cfg->graceful_timeout : QUICK_STOP_GRACE;
	double deadline = monotime_now() + grace;

	log_info(mode == STOP_GRACEFUL ? "Handling signal: term" : "Shutting down: quick");
	/* Files handed over on USR2 stay while the new arbiter runs (listener_hand_over). */
	listener_close_all(listeners, nlisteners, true);
	listeners = NULL;
	nlisteners = 0;
	signal_all(mode == STOP_GRACEFUL ? SIGTERM : SIGQUIT);
	while (nslots > 0 && monotime_now() < deadline) {
		struct pollfd p = {.fd = self_pipe[0], .events = POLLIN};
		poll(&p, 1, 100);
		drain_self_pipe();
		reap();
	}
	if (nslots > 0) {
		log_warning("%zu worker(s) still running after %d s: killing", nslots, grace);
		signal_all(SIGKILL);
		while (nslots > 0) {
			int status;
			pid_t pid = waitpid(-1, &status, 0);
			if (pid < 0 && errno == ECHILD)
				break;
			for (size_t i = 0; i < nslots; i++) {
				if (slots[i].pid == pid) {
					remove_slot(i);
					break;
				}
			}
		}
	}
	free(slots);
	slots = NULL;
	log_info("Shutting down: Master");
	return fatal_code ? fatal_code : 0;
}

static void drain_self_pipe(void)
{
	char buf[64];

	while (read(self_pipe[0], buf, sizeof(buf)) > 0)
		;
}
