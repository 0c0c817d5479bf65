/* channel — see channel.h. */
#include "workers/channel.h"

#include <sys/socket.h>

int channel_heartbeat(int fd, uint32_t requests)
{
	struct heartbeat hb = {.magic = HEARTBEAT_MAGIC, .requests = requests};

	return send(fd, &hb, sizeof(hb), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(hb) ? 0
											       : -1;
}
