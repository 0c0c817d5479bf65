/*
 * waitlist — connections waiting for bytes under one timeout, oldest first.
 * Everyone in a list waits as long (--keep-alive, or --timeout for the rest
 * of a head), so appending keeps a list sorted by deadline and a periodic
 * tick finds every expired wait at its head: no timer per connection, and
 * starting or ending a wait costs a few pointer moves.
 *
 * Runs in workers, in the thread of the event loop that owns the lists.
 * Allocates nothing: the nodes live inside the connections.
 */
#pragma once

#include <stddef.h>

struct wait_list;

struct wait_node {
	struct wait_node *prev, *next;
	struct wait_list *list; /* the list it waits in; NULL: not waiting */
	double deadline;        /* when its wait is over */
};

struct wait_list {
	struct wait_node *head, *tail;
	double span; /* seconds each wait lasts */
};

/* The struct holding node n as its member `member`. */
#define waitlist_entry(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

/* Start n's wait at now, at the tail of wl (leaving any list it was in). */
void waitlist_add(struct wait_list *wl, struct wait_node *n, double now);

/* End n's wait, if it is waiting. */
void waitlist_remove(struct wait_node *n);

/* The oldest wait of wl if it is over at now, else NULL (it stays listed). */
struct wait_node *waitlist_expired(const struct wait_list *wl, double now);
