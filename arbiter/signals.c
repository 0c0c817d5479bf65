/* signals — the arbiter's signal handlers; see arbiter_parts.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "arbiter/arbiter_parts.h"

/* The one arbiter of this process (on_signal() may run after arbiter_run returns). */
static struct arbiter *the_arbiter;

static void on_signal(int sig);

static void on_signal(int sig)
{
	int saved = errno;

	switch (sig) {
	case SIGTERM:
		the_arbiter->sig.term = 1;
		break;
	case SIGINT:
	case SIGQUIT:
		the_arbiter->sig.quick = 1;
		break;
	case SIGCHLD:
		the_arbiter->sig.chld = 1;
		break;
	case SIGUSR1:
		the_arbiter->sig.usr1 = 1;
		break;
	case SIGUSR2:
		the_arbiter->sig.usr2 = 1;
		break;
	case SIGHUP:
		the_arbiter->sig.hup = 1;
		break;
	case SIGTTIN:
		the_arbiter->sig.ttin = 1;
		break;
	case SIGTTOU:
		the_arbiter->sig.ttou = 1;
		break;
	case SIGWINCH:
		the_arbiter->sig.winch = 1;
		break;
	default:
		break;
	}
	if (write(the_arbiter->self_pipe[1], "", 1) < 0) {
		/* full pipe: the loop is already due to wake */
	}
	errno = saved;
}

int signals_install(struct arbiter *a)
{
	struct sigaction sa = {0};
	static const int handled[] = {SIGTERM, SIGINT,  SIGQUIT, SIGCHLD,
				      SIGUSR1, SIGUSR2, SIGHUP,  SIGTTIN, SIGTTOU, SIGWINCH};

	if (pipe2(a->self_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	the_arbiter = a;
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
