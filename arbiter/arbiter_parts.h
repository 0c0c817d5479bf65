/*
 * arbiter_parts — what the files of the arbiter share, and nothing else
 * includes: the arbiter's state (struct arbiter, one per process), the
 * signal handlers that set its flags (signals.c) and the USR2 upgrade
 * (upgrade.c). arbiter.c owns the loop and everything else.
 *
 * Runs in the arbiter process only.
 */
#pragma once

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "arbiter/throttle.h"

struct config;
struct listener;

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

/* Signals caught and not yet handled: set by on_signal(), cleared by the loop. */
struct pending {
	volatile sig_atomic_t term, quick, chld, usr1, usr2, hup, ttin, ttou, winch;
};

/* Everything the arbiter knows, from arbiter_run() to its return. */
struct arbiter {
	struct config *cfg;
	int argc; /* the command line, for HUP and USR2 */
	char *const *argv;
	const char *start_dir; /* where kirin started: relative paths mean what they meant then */
	struct listener *listeners;
	size_t nlisteners;
	struct slot *slots; /* the workers, in no order */
	size_t nslots, slots_cap;
	struct pollfd *pfd; /* poll()'s set: the self-pipe, then one per slot */
	size_t pfd_cap;
	unsigned next_age;   /* age of the next worker spawned */
	unsigned generation; /* configuration generation, one more per HUP */
	double reloaded_at;
	bool stopping;      /* in stop(): the listeners' sockets are closed */
	bool announce_ready;       /* tell systemd READY=1 once this generation has booted */
	size_t announced_workers;  /* the worker count systemd was last told (STATUS=) */
	int target_workers; /* --workers, moved by TTIN/TTOU/WINCH */
	struct throttle respawn;
	int fatal_code;          /* a worker's boot-error exit code: stop the server */
	bool preloaded;          /* --preload at start: workers inherit that app */
	bool reload_asked;       /* a worker of this generation asked (--reload) */
	bool gen_failed;         /* --reload: this generation cannot boot, the previous serves */
	char exe_path[PATH_MAX]; /* the binary, for USR2 */
	pid_t upgrade_pid;       /* the re-executed arbiter while it runs */
	int self_pipe[2];        /* written by on_signal() to wake poll() */
	struct pending sig;
};

/*
 * Catch the arbiter's signals for a (the handlers set a->sig flags and
 * write a byte to a->self_pipe, which this creates), ignore SIGPIPE, and
 * unblock every signal (an old arbiter's USR2 execs us with all blocked).
 * Once per process; a must live until the process exits. 0, or -1 with
 * errno.
 */
int signals_install(struct arbiter *a);

/*
 * USR2: fork and re-execute the binary with the listening sockets handed
 * over (KIRIN_FDS...); sets a->upgrade_pid. Logs and does nothing while a
 * previous upgrade still runs or when the binary's path is unknown.
 */
void upgrade_start(struct arbiter *a);
