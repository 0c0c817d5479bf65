/* Unit tests for the counters a worker shares with the arbiter
 * (workers/channel.c: buckets, status codes) and for arbiter/stats.c: totals
 * that keep a gone worker's counts, the Prometheus text and the JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workers/channel.c" /* to reach its block pointer, `mine` */

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "arbiter/arbiter_parts.h"

static struct arbiter with_slots(struct slot *slots, size_t n)
{
	return (struct arbiter){.slots = slots, .nslots = n, .target_workers = (int)n,
				.control_fd = -1, .metrics_fd = -1};
}

static void test_request_buckets_and_status(void **state)
{
	struct channel_stats *s = channel_stats_new();

	(void)state;
	assert_non_null(s);
	channel_count_request(200, 1); /* nothing before a block is ours */
	assert_int_equal(s->requests, 0);
	mine = s;
	channel_count_request(200, 5000);     /* le 0.005: the bound is inclusive */
	channel_count_request(200, 5001);     /* le 0.01 */
	channel_count_request(404, 10000000); /* le 10 */
	channel_count_request(503, 10000001); /* +Inf */
	channel_count_request(999, -7);       /* counted, no status; a negative time is 0 */
	assert_int_equal(s->requests, 5);
	assert_int_equal(s->status[200], 2);
	assert_int_equal(s->status[404], 1);
	assert_int_equal(s->status[503], 1);
	assert_int_equal(s->buckets[0], 2);
	assert_int_equal(s->buckets[1], 1);
	assert_int_equal(s->buckets[CHANNEL_BUCKETS - 2], 1);
	assert_int_equal(s->buckets[CHANNEL_BUCKETS - 1], 1);
	assert_int_equal(s->duration_us, 5000 + 5001 + 10000000 + 10000001);
	channel_in_flight(1);
	channel_in_flight(1);
	channel_in_flight(-1);
	channel_connections(7, 3);
	assert_int_equal(s->in_flight, 1);
	assert_int_equal(s->open_conns, 7);
	assert_int_equal(s->idle_conns, 3);
	mine = NULL;
	channel_stats_free(s);
}

static void test_totals_keep_the_counts_of_workers_gone(void **state)
{
	struct channel_stats *a = channel_stats_new(), *b = channel_stats_new(), t;
	struct slot slots[2] = {{.pid = 10, .type = "sync", .stats = a},
				{.pid = 11, .type = "gthread", .stats = b}};
	struct arbiter arb = with_slots(slots, 2);

	(void)state;
	a->requests = 3;
	a->status[200] = 3;
	a->in_flight = 1;
	b->requests = 2;
	b->status[500] = 2;
	stats_totals(&arb, NULL, &t);
	assert_int_equal(t.requests, 5);
	assert_int_equal(t.in_flight, 1);
	/* Slot 0 exits: its counters stay in the sync totals, its gauges go. */
	stats_retire(&arb, &slots[0]);
	slots[0] = slots[1];
	arb.nslots = 1;
	channel_stats_free(a);
	stats_totals(&arb, NULL, &t);
	assert_int_equal(t.requests, 5);
	assert_int_equal(t.in_flight, 0);
	stats_totals(&arb, "sync", &t);
	assert_int_equal(t.status[200], 3);
	stats_totals(&arb, "gthread", &t);
	assert_int_equal(t.status[500], 2);
	assert_int_equal(t.status[200], 0);
	channel_stats_free(b);
}

static void test_prometheus_text(void **state)
{
	struct channel_stats *a = channel_stats_new();
	struct slot slots[1] = {{.pid = 10, .type = "sync", .booted = true, .stats = a}};
	struct arbiter arb = with_slots(slots, 1);
	size_t len;
	char *text;

	(void)state;
	a->status[204] = 2;
	a->status[302] = 1;
	a->status[404] = 4;
	a->buckets[0] = 5;
	a->buckets[3] = 1;
	a->buckets[CHANNEL_BUCKETS - 1] = 1;
	a->duration_us = 2500000;
	arb.restarts[RESTART_TIMEOUT] = 2;
	text = stats_prometheus(&arb, &len);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "kirin_requests_total{worker_type=\"sync\",status_class=\"2xx\"} 2\n"));
	assert_non_null(strstr(text, "kirin_requests_total{worker_type=\"sync\",status_class=\"3xx\"} 1\n"));
	assert_non_null(strstr(text, "kirin_requests_total{worker_type=\"sync\",status_class=\"4xx\"} 4\n"));
	/* Buckets are cumulative; +Inf is the count. */
	assert_non_null(strstr(text, "_bucket{worker_type=\"sync\",le=\"0.005\"} 5\n"));
	assert_non_null(strstr(text, "_bucket{worker_type=\"sync\",le=\"0.025\"} 5\n"));
	assert_non_null(strstr(text, "_bucket{worker_type=\"sync\",le=\"0.05\"} 6\n"));
	assert_non_null(strstr(text, "_bucket{worker_type=\"sync\",le=\"10\"} 6\n"));
	assert_non_null(strstr(text, "_bucket{worker_type=\"sync\",le=\"+Inf\"} 7\n"));
	assert_non_null(strstr(text, "kirin_request_duration_seconds_count{worker_type=\"sync\"} 7\n"));
	assert_non_null(strstr(text, "kirin_request_duration_seconds_sum{worker_type=\"sync\"} 2.500000\n"));
	assert_non_null(strstr(text, "kirin_workers{state=\"alive\"} 1\n"));
	assert_non_null(strstr(text, "kirin_worker_restarts_total{cause=\"timeout\"} 2\n"));
	free(text);
	channel_stats_free(a);
}

static void test_json_documents(void **state)
{
	struct channel_stats *a = channel_stats_new();
	struct slot slots[1] = {{.pid = 10, .type = "sync", .stats = a}};
	struct arbiter arb = with_slots(slots, 1);
	json_t *doc, *w;

	(void)state;
	a->requests = 9;
	a->status[201] = 9;
	assert_null(stats_json(&arb, "nonsense"));
	doc = stats_json(&arb, "status");
	assert_int_equal(json_integer_value(json_object_get(doc, "requests")), 9);
	assert_int_equal(json_integer_value(json_object_get(doc, "booting")), 1);
	assert_null(json_object_get(doc, "worker_list"));
	json_decref(doc);
	doc = stats_json(&arb, "workers");
	w = json_array_get(json_object_get(doc, "worker_list"), 0);
	assert_int_equal(json_integer_value(json_object_get(w, "pid")), 10);
	assert_null(json_object_get(w, "counters"));
	json_decref(doc);
	doc = stats_json(&arb, "stats");
	w = json_object_get(json_object_get(json_object_get(doc, "totals"), "status"), "201");
	assert_int_equal(json_integer_value(w), 9);
	w = json_array_get(json_object_get(doc, "worker_list"), 0);
	assert_non_null(json_object_get(w, "counters"));
	json_decref(doc);
	channel_stats_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_buckets_and_status),
		cmocka_unit_test(test_totals_keep_the_counts_of_workers_gone),
		cmocka_unit_test(test_prometheus_text),
		cmocka_unit_test(test_json_documents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
