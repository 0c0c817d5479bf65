/* waitlist — see waitlist.h. */
#include "workers/waitlist.h"

void waitlist_add(struct wait_list *wl, struct wait_node *n, double now)
{
	waitlist_remove(n);
	n->deadline = now + wl->span;
	n->list = wl;
	n->prev = wl->tail;
	n->next = NULL;
	if (wl->tail)
		wl->tail->next = n;
	else
		wl->head = n;
	wl->tail = n;
}

void waitlist_remove(struct wait_node *n)
{
	struct wait_list *wl = n->list;

	if (!wl)
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		wl->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		wl->tail = n->prev;
	n->list = NULL;
	n->prev = n->next = NULL;
}

struct wait_node *waitlist_expired(const struct wait_list *wl, double now)
{
	return wl->head && wl->head->deadline <= now ? wl->head : NULL;
}
