/*
 * arbiter — the supervising process: forks the workers, reads their
 * heartbeats, reaps and replaces them, and turns signals into actions.
 *
 * Runs only in the arbiter process. A poll() loop over a self-pipe (written
 * by signal handlers that only set flags) and one socketpair per worker; no
 * event library, no Python (except the import with --preload). It survives
 * anything a worker does. Its state is one struct arbiter (arbiter.c), the
 * signal handlers' only way in. The pure helpers below have no side effects
 * and are unit-tested.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct config;
struct listener;

/*
 * Supervise workers serving on the listeners until told to stop. argc/argv
 * are the command line, loaded afresh on HUP (cfg is then replaced in
 * place) from start_dir, the directory kirin was started in, so relative
 * paths mean what they meant at start. Takes ownership of the listeners
 * (closed, unix socket files removed, at exit). Call once per process.
 * Returns the process exit code: 0 after TERM/INT/QUIT, or the worker's
 * boot-error code (3 or 4) when a worker could not boot.
 */
int arbiter_run(struct config *cfg, int argc, char *const argv[], const char *start_dir,
		struct listener *ls, size_t nls);

/* "SIGTERM" for SIGTERM; "signal N" (in a static buffer) for unknown ones. */
const char *arbiter_signal_name(int sig);

/* Describe a wait status: "exit code 1", "signal SIGKILL", "signal SIGSEGV (core dumped)". */
void arbiter_describe_status(int status, char *buf, size_t cap);

/*
 * What a worker's wait status means for the server: its boot-error exit code
 * (3 or 4) when the whole server must stop, else 0 (respawn).
 */
int arbiter_fatal_status(int status);
