/* ctl — see ctl.h. */
#include "arbiter/ctl.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "arbiter/monotime.h"

#define DEFAULT_SOCKET "kirin.ctl"
#define REPLY_TIMEOUT_MS 10000
#define REPLY_MAX (16 << 20)
#define TOP_PIDS 256

static const char usage[] =
	"usage: kirin ctl [OPTIONS] COMMAND\n"
	"options:\n"
	"  -s, --socket PATH   the server's --control-socket (default: $KIRIN_CONTROL_SOCKET,\n"
	"                      else ./kirin.ctl)\n"
	"  --json              print the server's JSON answer as it is\n"
	"  -h, --help          this help\n"
	"commands:\n"
	"  status      the arbiter: pid, uptime, workers, requests\n"
	"  workers     one line per worker: pid, age, requests, in flight, last beat, RSS\n"
	"  stats       every counter, per worker and in total (JSON)\n"
	"  reload      re-read the configuration and replace the workers (as HUP)\n"
	"  scale N     run N workers (until the next reload)\n"
	"  top         a live view of the workers, once a second (q quits)\n";

static volatile sig_atomic_t quit;

static json_t *ask(const char *path, const char *line);
static void print_status(const json_t *doc);
static void print_workers(const json_t *doc);
static int top(const char *path);
static void on_quit(int sig);
static double num(const json_t *o, const char *key);

int ctl_main(int argc, char **argv)
{
	const char *path = getenv("KIRIN_CONTROL_SOCKET"), *cmd;
	char line[64];
	bool json = false;
	json_t *doc, *error;
	int i;

	if (!path || !*path)
		path = DEFAULT_SOCKET;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--socket") == 0) && i + 1 < argc) {
			path = argv[++i];
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			path = argv[i] + 9;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "kirin ctl: unknown option %s\n%s", argv[i], usage);
			return 2;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[i];
	if (strcmp(cmd, "top") == 0 && i + 1 == argc)
		return top(path);
	if (strcmp(cmd, "scale") == 0 && i + 2 == argc && strlen(argv[i + 1]) < 16) {
		snprintf(line, sizeof(line), "scale %s\n", argv[i + 1]);
	} else if (i + 1 == argc && (strcmp(cmd, "status") == 0 || strcmp(cmd, "workers") == 0 ||
				     strcmp(cmd, "stats") == 0 || strcmp(cmd, "reload") == 0)) {
		snprintf(line, sizeof(line), "%s\n", cmd);
	} else {
		fprintf(stderr, "kirin ctl: bad command\n%s", usage);
		return 2;
	}
	doc = ask(path, line);
	if (!doc)
		return 1;
	error = json_object_get(doc, "error");
	if (error) {
		fprintf(stderr, "kirin ctl: %s\n", json_string_value(error));
		json_decref(doc);
		return 1;
	}
	if (json || strcmp(cmd, "stats") == 0) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | (json ? 0 : JSON_SORT_KEYS));
		putchar('\n');
	} else if (strcmp(cmd, "status") == 0) {
		print_status(doc);
	} else if (strcmp(cmd, "workers") == 0) {
		print_workers(doc);
	} else if (strcmp(cmd, "reload") == 0) {
		printf("reload started\n");
	} else {
		printf("workers: %.0f -> %.0f\n", num(doc, "previous"), num(doc, "workers"));
	}
	json_decref(doc);
	return 0;
}

/* Send line, read the one JSON reply. NULL (said on stderr) on any failure. */
static json_t *ask(const char *path, const char *line)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	double deadline = monotime_now() + REPLY_TIMEOUT_MS / 1000.0;
	json_error_t jerr;
	json_t *doc = NULL;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "kirin ctl: socket path too long: %s\n", path);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "kirin ctl: cannot connect to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "kirin ctl: sending to %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)((deadline - monotime_now()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0) {
			fprintf(stderr, "kirin ctl: no answer from %s\n", path);
			goto out;
		}
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > REPLY_MAX || !(buf = realloc(buf, cap))) {
				fprintf(stderr, "kirin ctl: the answer is too large\n");
				goto out;
			}
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	doc = json_loadb(buf ? buf : "", len, 0, &jerr);
	if (!doc)
		fprintf(stderr, "kirin ctl: bad answer from %s: %s\n", path, jerr.text);
out:
	free(buf);
	close(fd);
	return doc;
}

static void print_status(const json_t *doc)
{
	const json_t *r = json_object_get(doc, "restarts");

	printf("kirin %s, arbiter pid %.0f, up %.0f s\n",
	       json_string_value(json_object_get(doc, "version")), num(doc, "pid"),
	       num(doc, "uptime"));
	printf("workers: %.0f (wanted %.0f, booting %.0f, retiring %.0f)\n", num(doc, "workers"),
	       num(doc, "wanted"), num(doc, "booting"), num(doc, "retiring"));
	printf("requests: %.0f, in flight %.0f\n", num(doc, "requests"), num(doc, "in_flight"));
	printf("restarts: max_requests %.0f, timeout %.0f, crash %.0f\n", num(r, "max_requests"),
	       num(r, "timeout"), num(r, "crash"));
}

static void print_workers(const json_t *doc)
{
	const json_t *w;
	size_t i;

	printf("%-8s %8s %10s %9s %9s %10s  %s\n", "PID", "AGE", "REQUESTS", "IN-FLIGHT",
	       "LAST-BEAT", "RSS(KiB)", "STATE");
	json_array_foreach(json_object_get(doc, "worker_list"), i, w) {
		printf("%-8.0f %7.0fs %10.0f %9.0f %8.1fs %10.0f  %s\n", num(w, "pid"), num(w, "age"),
		       num(w, "requests"), num(w, "in_flight"), num(w, "last_beat"),
		       num(w, "rss") / 1024,
		       json_is_true(json_object_get(w, "retiring")) ? "retiring"
		       : json_is_true(json_object_get(w, "booted")) ? "serving"
								    : "booting");
	}
	printf("total: %.0f workers\n", num(doc, "workers"));
}

/*
 * The live view: a stats query a second, each worker's requests per second
 * from the difference with the previous one. Quits on q, INT or TERM, or
 * when the server goes away (exit 1).
 */
static int top(const char *path)
{
	struct {
		long pid;
		double requests;
	} prev[TOP_PIDS], cur[TOP_PIDS];
	size_t nprev = 0;
	double prev_at = 0, prev_total = -1;
	struct termios saved, raw;
	bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
	struct sigaction sa = {.sa_handler = on_quit};
	int rc = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (tty) {
		raw = saved;
		raw.c_lflag &= ~(ICANON | ECHO);
		tcsetattr(0, TCSANOW, &raw);
	}
	while (!quit) {
		json_t *doc = ask(path, "stats\n"), *w;
		double now = monotime_now(), dt = now - prev_at, total, rss = 0;
		size_t i, ncur = 0;
		char clock[16];
		time_t t = time(NULL);
		struct pollfd p = {.fd = 0, .events = POLLIN};

		if (!doc) {
			rc = 1;
			break;
		}
		strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&t));
		total = num(doc, "requests");
		printf("\033[H\033[2Jkirin top - arbiter %.0f, up %.0f s, %.0f workers (%.0f wanted)"
		       "   %s\n",
		       num(doc, "pid"), num(doc, "uptime"), num(doc, "workers"), num(doc, "wanted"),
		       clock);
		printf("%-8s %9s %9s %10s %9s %7s  %s\n", "PID", "REQ/S", "IN-FLIGHT", "REQUESTS",
		       "RSS(MiB)", "AGE", "STATE");
		json_array_foreach(json_object_get(doc, "worker_list"), i, w) {
			long pid = (long)num(w, "pid");
			double req = num(w, "requests"), rate = -1;

			for (size_t j = 0; j < nprev; j++)
				if (prev[j].pid == pid && dt > 0)
					rate = (req - prev[j].requests) / dt;
			if (ncur < TOP_PIDS)
				cur[ncur++] = (typeof(cur[0])){pid, req};
			rss += num(w, "rss") > 0 ? num(w, "rss") : 0;
			if (rate < 0)
				printf("%-8ld %9s ", pid, "-");
			else
				printf("%-8ld %9.1f ", pid, rate);
			printf("%9.0f %10.0f %9.1f %6.0fs  %s\n", num(w, "in_flight"), req,
			       num(w, "rss") / 1048576.0, num(w, "age"),
			       json_is_true(json_object_get(w, "retiring")) ? "retiring"
			       : json_is_true(json_object_get(w, "booted")) ? "serving"
									    : "booting");
		}
		if (prev_total >= 0 && dt > 0)
			printf("%-8s %9.1f ", "TOTAL", (total - prev_total) / dt);
		else
			printf("%-8s %9s ", "TOTAL", "-");
		printf("%9.0f %10.0f %9.1f\n\nq: quit\n", num(doc, "in_flight"), total,
		       rss / 1048576.0);
		fflush(stdout);
		memcpy(prev, cur, ncur * sizeof(cur[0]));
		nprev = ncur;
		prev_at = now;
		prev_total = total;
		json_decref(doc);
		if (poll(&p, 1, 1000) > 0) {
			char c;
			if (read(0, &c, 1) <= 0 || c == 'q' || c == 'Q')
				break;
		}
	}
	if (tty)
		tcsetattr(0, TCSANOW, &saved);
	return rc;
}

static void on_quit(int sig)
{
	quit = 1;
}

/* A number member of o, 0 when absent. */
static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}
