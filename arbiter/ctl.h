/*
 * ctl — `kirin ctl`, the client of the control socket (--control-socket):
 * status, workers, stats, reload, scale N, and top, a live view of the
 * workers refreshed once a second.
 *
 * Runs in its own short-lived process (main() hands it argv when the first
 * argument is "ctl"), never in the arbiter or a worker. Each command is one
 * connection: a line out, one JSON object back (see arbiter/control.c).
 */
#pragma once

/*
 * Run `kirin ctl ARGS...` (argv[0] is "ctl"). Prints to stdout, errors to
 * stderr. Returns the exit code: 0, 1 when the server cannot be reached or
 * refuses the command, 2 for a usage error.
 */
int ctl_main(int argc, char **argv);
