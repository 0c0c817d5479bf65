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
	return send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 ? 0 : -1;
}
