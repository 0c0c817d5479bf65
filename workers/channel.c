/* channel — see channel.h. */
#include "workers/channel.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arbiter/log.h"
#include "workers/worker.h"

#define ADD(field, v) __atomic_fetch_add(&(field), (v), __ATOMIC_RELAXED)

/* 5 ms, 10 ms, 25 ms ... 10 s: Prometheus clients' default buckets. */
const uint64_t channel_bucket_us[CHANNEL_BUCKETS - 1] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

/* This worker's block (NULL in the arbiter, and in a worker whose mapping failed). */
static struct channel_stats *mine;

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

	mine = start->stats;
	if (mine)
		log_count_into(mine->log_lines);
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

struct channel_stats *channel_stats_new(void)
{
	void *p = mmap(NULL, sizeof(struct channel_stats), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		log_error(errno, "mmap() for a worker's counters");
		return NULL;
	}
	return p;
}

void channel_stats_free(struct channel_stats *s)
{
	if (s)
		munmap(s, sizeof(*s));
}

void channel_count_request(int status, int64_t us)
{
	size_t b = 0;

	if (!mine)
		return;
	if (us < 0)
		us = 0;
	while (b < CHANNEL_BUCKETS - 1 && (uint64_t)us > channel_bucket_us[b])
		b++;
	ADD(mine->requests, 1);
	if (status >= CHANNEL_STATUS_MIN && status <= CHANNEL_STATUS_MAX)
		ADD(mine->status[status], 1);
	ADD(mine->duration_us, (uint64_t)us);
	ADD(mine->buckets[b], 1);
}

void channel_in_flight(int delta)
{
	if (mine)
		ADD(mine->in_flight, delta);
}

void channel_connections(size_t open, size_t idle)
{
	if (!mine)
		return;
	__atomic_store_n(&mine->open_conns, (int64_t)open, __ATOMIC_RELAXED);
	__atomic_store_n(&mine->idle_conns, (int64_t)idle, __ATOMIC_RELAXED);
}

void channel_exit_cause(enum channel_exit why)
{
	if (mine)
		__atomic_store_n(&mine->exit_cause, (uint32_t)why, __ATOMIC_RELAXED);
}
