/*
 * listener — the listening sockets: parsing --bind addresses, binding them
 * before any worker is forked, and describing them to workers (SERVER_NAME,
 * SERVER_PORT).
 *
 * The arbiter binds and owns the sockets; workers inherit the descriptors
 * across fork and only accept on them. Sockets are non-blocking and
 * close-on-exec. Nothing here forks or logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;

struct listener {
	int fd;
	int family;          /* AF_INET, AF_INET6 or AF_UNIX */
	char name[300];      /* as logged: "127.0.0.1:8000", "[::1]:8000", "unix:/run/k.sock" */
	char host[256];      /* numeric address of a TCP listener (SERVER_NAME) */
	char port[8];        /* its port as text (SERVER_PORT); "" for unix */
	char *spec;          /* the --bind address it was bound from; NULL if adopted on USR2 */
	char *unix_path;     /* path to unlink at exit, NULL if not ours */
	pid_t handed_by;     /* after USR2: the old arbiter that handed it over, 0 if none */
	pid_t handed_to;     /* after USR2: the new arbiter its file went to while it runs, 0 if none */
	bool activated;      /* passed by systemd (LISTEN_FDS): kept for life, its file systemd's */
	char fdname[256];    /* its name in LISTEN_FDNAMES ("" if none, or adopted on USR2) */
};

/*
 * Bind every address of cfg->bind (HOST:PORT, tcp://HOST:PORT, [IPv6]:PORT,
 * HOST, unix:PATH, fd://N) with cfg->backlog and cfg->reuse_port. A stale
 * unix socket file (nobody accepting) is removed first.
 *
 * Under systemd's socket activation (LISTEN_PID our pid, LISTEN_FDS,
 * LISTEN_FDNAMES: sd_listen_fds(3)) the sockets passed are listeners, each
 * marked activated: an address of cfg->bind that names one (the same path,
 * or an address that resolves to its own) takes it instead of binding, and
 * when the bind setting was not given (config_given) they are the only
 * listeners. A passed descriptor that is not a listening stream socket is an
 * error. The LISTEN_* variables are removed from the environment.
 *
 * After USR2 (KIRIN_FDS set), adopt the sockets the old arbiter handed over
 * instead, and the files of those it names in KIRIN_FDS_UNLINK (the unix
 * sockets it created) with them; those in KIRIN_FDS_ACTIVATED are systemd's.
 * Returns a new array of *n listeners, or NULL with a one-line message in err
 * (every socket opened so far closed) and errno EADDRINUSE when a TCP
 * address was in use (worth retrying), else 0. Arbiter only.
 */
struct listener *listener_bind_all(const struct config *cfg, size_t *n, char *err,
				   size_t errlen);

/*
 * A reload's addresses (next->bind), all or nothing. The listeners of old
 * that an address still names (the same --bind text, or for one passed by
 * systemd or adopted on USR2 the same address) are carried
 * over as they are: the same socket, its queue of pending connections kept.
 * The other addresses are bound anew. Every listener systemd passed is kept,
 * named by an address or not, and with the bind setting not given they are
 * all there is.
 * On success returns a new array of *n listeners and frees old, closing
 * those not carried over as listener_close_all(.., true) does. On failure
 * returns NULL with a one-line message in err; old is untouched and every
 * socket opened for the attempt is closed. Arbiter only.
 */
struct listener *listener_rebind(const struct config *next, struct listener *old, size_t nold,
				 size_t *n, char *err, size_t errlen);

/*
 * Stop accepting: close the sockets (fd -1 from then on) and, with
 * unlink_unix, remove the unix socket files listener_close_all() would.
 * The array stays, with the files still handed over on USR2, so that they
 * can be taken back (listener_hand_over) and removed by calling this again.
 * Arbiter only.
 */
void listener_close_sockets(struct listener *ls, size_t n, bool unlink_unix);

/*
 * Close the sockets and free the array. With unlink_unix, remove the unix
 * socket files kirin created (the arbiter at its final exit, or on a reload
 * that changes the addresses), but not those handed over by an old arbiter
 * that is still our parent (it serves them again once we are gone), nor
 * those we handed over to a new arbiter that still runs (it serves them).
 * NULL is fine.
 */
void listener_close_all(struct listener *ls, size_t n, bool unlink_unix);

/*
 * After USR2: the unix socket files we created (those named in
 * KIRIN_FDS_UNLINK) now belong to the new arbiter `successor`, and
 * listener_close_all() leaves them; successor 0 (it exited) makes them ours
 * again. Arbiter only.
 */
void listener_hand_over(struct listener *ls, size_t n, pid_t successor);
