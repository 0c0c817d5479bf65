/* channel — see channel.h. */
#include "workers/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include "workers/worker.h"

_Noreturn void channel_enter_worker(const struct channel_start *start)
{
	struct worker w = {
		.cfg = start->cfg,
		.listeners = start->listeners,
		.nlisteners = start->nlisteners,
		.channel_fd = start->fd,
		.arbiter_pid = getppid(),
		.age = start->age,
	};

	worker_main(&w);
}

int channel_heartbeat(int fd)
{
	static const char beat = CHANNEL_BEAT;

	return send(fd, &beat, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int channel_ask_reload(int fd)
{
	static const char ask = CHANNEL_RELOAD;

	return send(fd, &ask, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 ? 0 : -1;
}
