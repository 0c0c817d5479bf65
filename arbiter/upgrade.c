/* upgrade — USR2, re-executing the binary; see arbiter_parts.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arbiter/arbiter_parts.h"
#include "arbiter/config.h"
#include "arbiter/listener.h"
#include "arbiter/log.h"
#include "arbiter/notify.h"
#include "arbiter/process.h"
#include "workers/python/hooks.h"
#include "workers/python/interp.h"

static void hand_over_fd(const char *name, int fd);

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
 * has its handlers and unblocks (signals_install).
 */
void upgrade_start(struct arbiter *a)
{
	char fds[512] = "", unlink_fds[512] = "", activated_fds[512] = "";
	sigset_t all, old;
	bool aside;
	pid_t pid;

	if (a->upgrade_pid > 0) {
		log_warning("USR2 ignored: the upgraded arbiter (pid %ld) is still running",
			    (long)a->upgrade_pid);
		return;
	}
	if (!a->exe_path[0]) {
		log_msg(LOG_ERROR, "USR2 ignored: the kirin binary's path is unknown");
		return;
	}
	aside = process_pidfile_move_aside(a->cfg->pidfile) == 0;
	if (!aside)
		log_error(errno, "moving pid file %s aside", a->cfg->pidfile);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	interp_before_fork();
	pid = fork();
	if (pid != 0) {
		interp_after_fork_parent();
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (pid < 0) {
		log_error(errno, "fork() for USR2");
		if (aside && process_pidfile_move_back(a->cfg->pidfile) < 0)
			log_error(errno, "moving pid file %s back", a->cfg->pidfile);
		return;
	}
	if (pid == 0) {
		interp_after_fork_child();
		hooks_call(HOOK_PRE_EXEC, a->target_workers, NULL, 0, 0);
		for (size_t i = 0; i < a->nlisteners; i++) {
			size_t len = strlen(fds), ulen = strlen(unlink_fds), alen = strlen(activated_fds);
			fcntl(a->listeners[i].fd, F_SETFD, 0);
			snprintf(fds + len, sizeof(fds) - len, "%s%d", i ? "," : "", a->listeners[i].fd);
			if (a->listeners[i].unix_path)
				snprintf(unlink_fds + ulen, sizeof(unlink_fds) - ulen, "%s%d",
					 ulen ? "," : "", a->listeners[i].fd);
			if (a->listeners[i].activated)
				snprintf(activated_fds + alen, sizeof(activated_fds) - alen, "%s%d",
					 alen ? "," : "", a->listeners[i].fd);
		}
		hand_over_fd("KIRIN_CONTROL_FD", a->control_fd);
		hand_over_fd("KIRIN_METRICS_FD", a->metrics_fd);
		setenv("KIRIN_FDS", fds, 1);
		setenv("KIRIN_FDS_UNLINK", unlink_fds, 1);
		setenv("KIRIN_FDS_ACTIVATED", activated_fds, 1);
		notify_export();
		/* Not from --chdir, where we are: a relative --chdir, -c or ./kirin.ini
		 * would be looked up there a second time. */
		if (chdir(a->start_dir) < 0) {
			log_error(errno, "USR2: cannot return to %s", a->start_dir);
			_exit(127);
		}
		execv(a->exe_path, a->argv);
		log_error(errno, "USR2: cannot execute %s", a->exe_path);
		_exit(127);
	}
	a->upgrade_pid = pid;
	/* Its files now: a reload that changes the addresses must leave them. */
	listener_hand_over(a->listeners, a->nlisteners, pid);
	log_info("Started upgraded arbiter (pid: %ld) from %s", (long)pid, a->exe_path);
}

/* In the child about to exec: keep fd open across exec and name it in $name (-1: none). */
static void hand_over_fd(const char *name, int fd)
{
	char num[16];

	if (fd < 0)
		return;
	fcntl(fd, F_SETFD, 0);
	snprintf(num, sizeof(num), "%d", fd);
	setenv(name, num, 1);
}
