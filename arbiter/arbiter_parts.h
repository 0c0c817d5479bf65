/*
 * arbiter_parts — what the files of the arbiter share, and nothing else
 * includes: the arbiter's state (struct arbiter, one per process), the
 * signal handlers that set its flags (signals.c), the USR2 upgrade
 * (upgrade.c), the numbers it reports (stats.c), the control socket and
 * the /metrics endpoint its loop serves (control.c) and the statsd client
 * (statsd.c). arbiter.c owns the loop and everything else.
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
#include "workers/channel.h"

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
	double started_at; /* monotonic time of the fork */
	const char *type;  /* its worker type's name (static) */
	struct channel_stats *stats; /* shared with it; NULL if the mapping failed */
};

/* Why the arbiter replaced a worker it had not retired (kirin_worker_restarts_total). */
enum restart_cause { RESTART_MAX_REQUESTS, RESTART_TIMEOUT, RESTART_CRASH, RESTART_CAUSES };

/* The counters of the workers gone, by worker type: totals never go down. */
#define STATS_TYPES 8
struct stats_retired {
	const char *type;
	struct channel_stats sum;
};

/* A client of the control socket or of /metrics, served by the loop. */
#define CONTROL_CLIENTS 16
struct control_client {
	int fd;
	bool http;       /* /metrics, else a control command */
	double deadline; /* monotonic: closed when not done by then */
	char in[1024];   /* the command line, or the request head */
	size_t inlen;
	char *out;       /* the reply (malloc), while it is written */
	size_t outlen, outoff;
};

struct statsd;

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
	/* what it reports (stats.c, control.c, statsd.c) */
	double started_at;       /* monotonic time arbiter_run began */
	uint64_t restarts[RESTART_CAUSES];
	uint64_t log_lines[LOG_COUNTS]; /* the arbiter's own: critical, error, warning, exception */
	struct stats_retired retired[STATS_TYPES];
	size_t nretired;
	int control_fd, metrics_fd; /* listening; -1: off */
	char *control_path, *metrics_path; /* the unix socket files we made, or NULL */
	struct control_client clients[CONTROL_CLIENTS];
	size_t nclients;
	struct statsd *statsd;   /* NULL: no --statsd-host */
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

/* Add every counter and gauge of s into sum. */
void stats_add(struct channel_stats *sum, const struct channel_stats *s);

/* Slot s's worker is gone: keep its counters in a->retired, by type. */
void stats_retire(struct arbiter *a, const struct slot *s);

/* The sum over the workers gone and alive, of one type (NULL: all). */
void stats_totals(const struct arbiter *a, const char *type, struct channel_stats *out);

/*
 * The reply to a control command, a JSON object (new ref): "status",
 * "workers" (pid, age, requests, in-flight, last beat, RSS) or "stats"
 * (every counter, per worker and totals). NULL for another name.
 */
struct json_t *stats_json(const struct arbiter *a, const char *what);

/*
 * Connections waiting in the kernel's accept queues of all listeners (as
 * Gunicorn's gunicorn.backlog), or -1 when the kernel says for none.
 */
long stats_backlog(const struct arbiter *a);

/* The Prometheus text exposition of everything (malloc'd, *len bytes). */
char *stats_prometheus(const struct arbiter *a, size_t *len);

/*
 * Bind --control-socket and --metrics-bind (either may be unset). 0, or -1
 * with a message in err. Once, before the first worker is forked; a HUP
 * goes through control_prepare().
 */
int control_open(struct arbiter *a, char *err, size_t errlen);

/*
 * HUP: next's --control-socket, --metrics-bind and statsd client, ready
 * before anything changes. control_prepare leaves an address that stays
 * with its socket (its file takes next's mode and owner) and binds or
 * connects a changed one now, so that a bad one fails the reload (0, or -1
 * with err and nothing held); control_commit puts them in place once
 * a->cfg is next, closing what they replace; control_abandon lets them go.
 */
struct control_swap {
	int fd[2];      /* control, metrics: a new listening socket, or -1 */
	char *path[2];  /* the unix socket files those made */
	bool changed[2];
	struct statsd *statsd; /* next's client, NULL: none */
};
int control_prepare(struct arbiter *a, const struct config *next, struct control_swap *s,
		    char *err, size_t errlen);
void control_commit(struct arbiter *a, struct control_swap *s);
void control_abandon(struct control_swap *s);

/* Poll entries for the listening sockets and clients, at most control_npoll(). */
size_t control_npoll(const struct arbiter *a);
size_t control_pollfds(const struct arbiter *a, struct pollfd *p);

/*
 * Serve what poll() found on the entries control_pollfds() filled (n of
 * them), and close the clients past their deadline. Never blocks.
 */
void control_handle(struct arbiter *a, const struct pollfd *p, size_t n, double now);

/* In a freshly forked worker: close the arbiter's control descriptors. */
void control_close_fds(struct arbiter *a);

/* At exit: close everything and remove the socket files. */
void control_close(struct arbiter *a);

/*
 * --statsd-host: statsd_new makes the client cfg asks for (*out; NULL
 * when none), 0 or -1 with a message in err; statsd_replace puts it in
 * a->statsd, freeing the old one: the counts go on where the old one left
 * them, or, with none, from what was counted so far (start) or from now
 * (from_now: a HUP that turns statsd on). statsd_tick sends what changed since the last
 * flush, once a second at most; statsd_close frees a->statsd, statsd_free
 * one that was never put in place.
 */
int statsd_new(const struct config *cfg, struct statsd **out, char *err, size_t errlen);
void statsd_replace(struct arbiter *a, struct statsd *s, bool from_now);
void statsd_tick(struct arbiter *a, double now);
void statsd_close(struct arbiter *a);
void statsd_free(struct statsd *s);
