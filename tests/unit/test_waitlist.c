/* Unit tests for the wait lists: order, leaving from anywhere, starting a
 * wait again, and what counts as expired. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workers/waitlist.h"

struct item {
	int id;
	struct wait_node wait;
};

/* The ids in wl from head to tail, checking the links both ways. */
static size_t ids(const struct wait_list *wl, int *out, size_t cap)
{
	size_t n = 0;
	const struct wait_node *prev = NULL;

	for (const struct wait_node *w = wl->head; w; prev = w, w = w->next) {
		assert_ptr_equal(w->prev, prev);
		assert_ptr_equal(w->list, wl);
		assert_true(n < cap);
		out[n++] = waitlist_entry(w, struct item, wait)->id;
	}
	assert_ptr_equal(wl->tail, prev);
	return n;
}

static void test_order_and_removal(void **state)
{
	struct wait_list wl = {.span = 2.0};
	struct item it[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};
	int got[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		waitlist_add(&wl, &it[i].wait, 10.0 + i);
	assert_int_equal(ids(&wl, got, 4), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(got[i], i);
	assert_true(it[2].wait.deadline == 14.0);

	waitlist_remove(&it[1].wait); /* middle */
	waitlist_remove(&it[0].wait); /* head */
	waitlist_remove(&it[3].wait); /* tail */
	waitlist_remove(&it[3].wait); /* not waiting: nothing */
	assert_int_equal(ids(&wl, got, 4), 1);
	assert_int_equal(got[0], 2);
	assert_null(it[1].wait.list);

	waitlist_remove(&it[2].wait);
	assert_null(wl.head);
	assert_null(wl.tail);
}

static void test_wait_again_moves_to_the_tail(void **state)
{
	struct wait_list idle = {.span = 5.0}, heads = {.span = 30.0};
	struct item it[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
	int got[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		waitlist_add(&idle, &it[i].wait, 1.0);
	waitlist_add(&idle, &it[0].wait, 2.0);
	assert_int_equal(ids(&idle, got, 3), 3);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[2], 0);
	assert_true(it[0].wait.deadline == 7.0);

	waitlist_add(&heads, &it[1].wait, 3.0); /* from one list to another */
	assert_int_equal(ids(&idle, got, 3), 2);
	assert_int_equal(ids(&heads, got, 3), 1);
	assert_int_equal(got[0], 1);
}

static void test_expired(void **state)
{
	struct wait_list wl = {.span = 1.0};
	struct item a = {.id = 0}, b = {.id = 1};

	(void)state;
	assert_null(waitlist_expired(&wl, 100.0));
	waitlist_add(&wl, &a.wait, 0.0);
	waitlist_add(&wl, &b.wait, 0.5);
	assert_null(waitlist_expired(&wl, 0.99));
	assert_ptr_equal(waitlist_expired(&wl, 1.0), &a.wait);
	assert_ptr_equal(waitlist_expired(&wl, 1.0), &a.wait); /* stays until removed */
	waitlist_remove(&a.wait);
	assert_null(waitlist_expired(&wl, 1.2));
	assert_ptr_equal(waitlist_expired(&wl, 1.5), &b.wait);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_removal),
		cmocka_unit_test(test_wait_again_moves_to_the_tail),
		cmocka_unit_test(test_expired),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
