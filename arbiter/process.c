/* process — see process.h. */
#include "arbiter/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arbiter/config.h"
#include "arbiter/decimal.h"
#include "arbiter/log.h"

extern char **environ;

static void oldbin_path(const char *path, char *buf, size_t cap);
static void remove_if_ours(const char *path);

static char *title_start; /* the original argv[0] */
static size_t title_cap;  /* bytes we may overwrite there */

void process_title_init(int argc, char **argv)
{
	char *start, *end;
	size_t n = 0;
	char **env;

	if (argc < 1 || !argv[0])
		return;
	start = argv[0];
	end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end = argv[i] + strlen(argv[i]) + 1;
	/* The environment strings usually follow argv: move them out of the way. */
	while (environ[n])
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		if (environ[i] == end)
			end = environ[i] + strlen(environ[i]) + 1;
		env[i] = xstrdup(environ[i]);
	}
	environ = env;
	/* The settings loader still reads argv: give it copies. */
	for (int i = 0; i < argc; i++)
		argv[i] = xstrdup(argv[i]);
	title_start = start;
	title_cap = (size_t)(end - start);
}

void process_set_title(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	prctl(PR_SET_NAME, buf, 0, 0, 0); /* the short name in /proc/PID/comm */
	if (!title_start || title_cap < 2)
		return;
	memset(title_start, 0, title_cap);
	memcpy(title_start, buf, strnlen(buf, title_cap - 1));
}

int process_daemonize(bool keep_stdio)
{
	pid_t pid;
	int fd;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	umask(022);
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, 0);
	if (!keep_stdio)
		dup2(fd, 1);
	if (!keep_stdio && log_fd() != 2)
		dup2(fd, 2);
	if (fd > 2)
		close(fd);
	return 0;
}

int process_pidfile_write(const char *path, char *err, size_t errlen)
{
	char tmp[4096], buf[32];
	FILE *f = fopen(path, "r");
	long old = 0;
	int fd, n;

	if (f) {
		if (fscanf(f, "%ld", &old) == 1 && old > 0 && old != getpid() &&
		    (kill((pid_t)old, 0) == 0 || errno == EPERM)) {
			fclose(f);
			snprintf(err, errlen, "pid file %s: already running as pid %ld", path, old);
			return -1;
		}
		fclose(f);
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	bool written = write(fd, buf, (size_t)n) == n;
	if (close(fd) < 0 || !written || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write pid file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int process_pidfile_move_aside(const char *path)
{
	char oldbin[PATH_MAX + 8];

	if (!path)
		return 0;
	oldbin_path(path, oldbin, sizeof(oldbin));
	return rename(path, oldbin);
}

int process_pidfile_move_back(const char *path)
{
	char oldbin[PATH_MAX + 8];

	if (!path)
		return 0;
	oldbin_path(path, oldbin, sizeof(oldbin));
	return rename(oldbin, path);
}

void process_pidfile_remove(const char *path)
{
	char oldbin[PATH_MAX + 8];

	if (!path)
		return;
	/* After USR2 this arbiter's pid is in FILE.oldbin, the new one's in FILE. */
	oldbin_path(path, oldbin, sizeof(oldbin));
	remove_if_ours(path);
	remove_if_ours(oldbin);
}

bool process_id_parse(const char *text, unsigned long long *id)
{
	/* (uid_t)-1 means "no change" to setresuid(2), and nothing may wrap. */
	return decimal_parse(text, UINT32_MAX - 1, id) == 0;
}

int process_owner(const struct config *cfg, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	unsigned long long id;
	bool numeric;
	struct passwd *pw = NULL;
	struct group *gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (cfg->user) {
		numeric = process_id_parse(cfg->user, &id);
		pw = numeric ? getpwuid((uid_t)id) : getpwnam(cfg->user);
		if (!pw && !numeric) {
			snprintf(err, errlen, "no such user: '%s'", cfg->user);
			return -1;
		}
		*uid = pw ? pw->pw_uid : (uid_t)id;
		if (pw)
			*gid = pw->pw_gid;
	}
	if (cfg->group) {
		numeric = process_id_parse(cfg->group, &id);
		gr = numeric ? NULL : getgrnam(cfg->group);
		if (!gr && !numeric) {
			snprintf(err, errlen, "no such group: '%s'", cfg->group);
			return -1;
		}
		*gid = gr ? gr->gr_gid : (gid_t)id;
	}
	return 0;
}

int process_drop_privileges(const struct config *cfg, char *err, size_t errlen)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (process_owner(cfg, &uid, &gid, err, errlen) < 0)
		return -1;
	if (gid != (gid_t)-1) {
		pw = cfg->initgroups && uid != (uid_t)-1 ? getpwuid(uid) : NULL;
		if (pw ? initgroups(pw->pw_name, gid) < 0
		       : geteuid() == 0 && setgroups(1, &gid) < 0) {
			snprintf(err, errlen, "cannot set the supplementary groups: %s",
				 strerror(errno));
			return -1;
		}
		if (setgid(gid) < 0) {
			snprintf(err, errlen, "cannot switch to group %ld: %s", (long)gid,
				 strerror(errno));
			return -1;
		}
	}
	if (uid != (uid_t)-1 && setuid(uid) < 0) {
		snprintf(err, errlen, "cannot switch to user %ld: %s", (long)uid, strerror(errno));
		return -1;
	}
	return 0;
}

/* Where USR2 moves the pid file at path. */
static void oldbin_path(const char *path, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s.oldbin", path);
}

/* Unlink the pid file at path if it names this process. */
static void remove_if_ours(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;

	if (!f)
		return;
	if (fscanf(f, "%ld", &pid) == 1 && pid == getpid())
		unlink(path);
	fclose(f);
}
