/*
 * process — what makes the arbiter a well-behaved Unix daemon: detaching
 * (--daemon), the pid file (--pid), process titles visible in ps
 * ("kirin: master [NAME]", "kirin: worker [NAME]"), and the user and group
 * the workers run as (--user, --group, --initgroups).
 *
 * process_title_init() runs in the arbiter before anything reads environ;
 * process_set_title() in the arbiter and in workers after fork. The pid file
 * belongs to the arbiter alone; privileges are dropped by workers alone.
 * Nothing here logs: errors come back as a message for the caller.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;

/*
 * Claim the memory of argv (and the environment strings after it) so titles
 * longer than the original command line fit; the environment is copied
 * first. Call once, at the top of main().
 */
void process_title_init(int argc, char **argv);

/* Set the title shown by ps; truncated to the space claimed. */
void process_set_title(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Detach from the terminal: fork twice, setsid, stdin/stdout/stderr to
 * /dev/null (the error log, if it is a file, stays; with keep_stdio,
 * --enable-stdio-inheritance, only stdin goes). Returns 0 in the
 * daemon (the parents exit 0), -1 with errno on failure.
 */
int process_daemonize(bool keep_stdio);

/*
 * Write our pid to path (atomically: a temp file renamed over it). A file
 * naming a live process is refused: "already running as pid N". Returns 0,
 * or -1 with a message in err.
 */
int process_pidfile_write(const char *path, char *err, size_t errlen);

/*
 * USR2: move the pid file aside to FILE.oldbin, so the new arbiter can
 * write FILE; back again when the new arbiter could not start or has gone.
 * A NULL path does nothing. Return 0, or -1 with errno (nothing to move:
 * ENOENT).
 */
int process_pidfile_move_aside(const char *path);
int process_pidfile_move_back(const char *path);

/*
 * Remove the pid file if it still names us, and FILE.oldbin if that does
 * (where USR2 moved ours). NULL path is fine.
 */
void process_pidfile_remove(const char *path);

/*
 * A numeric user or group id, as --user and --group may give one: digits
 * only, below (uid_t)-1. True with *id.
 */
bool process_id_parse(const char *text, unsigned long long *id);

/*
 * The ids --user and --group name (a name or a number; without --group the
 * user's own group when the system knows the user), (uid_t)-1 and
 * (gid_t)-1 for what is not set. Returns 0, or -1 with a message in err.
 * Any process.
 */
int process_owner(const struct config *cfg, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/*
 * In a worker, after fork: become --group and --user, with every group of
 * the user's (--initgroups) or only --group as supplementary groups. Does
 * nothing when neither is set. Returns 0, or -1 with a message in err (the
 * worker cannot boot).
 */
int process_drop_privileges(const struct config *cfg, char *err, size_t errlen);
