/* throttle — see throttle.h. */
#include "arbiter/throttle.h"

#include <string.h>

static double oldest(const struct throttle *t);

void throttle_init(struct throttle *t, unsigned burst, double window)
{
	memset(t, 0, sizeof(*t));
	t->burst = burst < THROTTLE_RING ? burst : THROTTLE_RING;
	t->window = window;
}

bool throttle_take(struct throttle *t, double now)
{
	double o = oldest(t);

	if (o >= 0 && now - o < t->window)
		return false;
	t->times[t->next] = now;
	t->next = (t->next + 1) % THROTTLE_RING;
	if (t->count < THROTTLE_RING)
		t->count++;
	return true;
}

double throttle_wait(const struct throttle *t, double now)
{
	double o = oldest(t);

	if (o < 0 || now - o >= t->window)
		return 0;
	return t->window - (now - o);
}

/* The oldest of the last `burst` spawns, or -1 when fewer have happened. */
static double oldest(const struct throttle *t)
{
	if (t->count < t->burst)
		return -1;
	return t->times[(t->next + THROTTLE_RING - t->burst) % THROTTLE_RING];
}
