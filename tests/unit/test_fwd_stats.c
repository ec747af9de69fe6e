/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vfrelay/stats.h>

static void
test_names_match_struct(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct fwd_queue_stats), FWD_QUEUE_N_COUNTERS * sizeof(uint64_t));
	assert_string_equal(fwd_queue_counter_names[0], "rx_packets");
	/* names the operator contract promises */
	const char *must[] = {"rx_packets", "rx_bytes", "rx_zc_packets", "rx_copy_packets",
			      "rx_copy_bytes", "rx_drop_no_guest_buf", "rx_drop_guest_down",
			      "tx_packets", "tx_bytes", "tx_drop_vf_full", "guest_notifications"};
	for (size_t m = 0; m < sizeof(must) / sizeof(must[0]); m++) {
		bool found = false;
		for (size_t i = 0; i < FWD_QUEUE_N_COUNTERS; i++)
			found |= strcmp(fwd_queue_counter_names[i], must[m]) == 0;
		assert_true(found);
	}
}

static void
test_get_follows_names(void **state)
{
	struct fwd_queue_stats s;
	uint64_t *raw = (uint64_t *)&s;

	(void)state;
	for (size_t i = 0; i < FWD_QUEUE_N_COUNTERS; i++)
		raw[i] = 1000 + i;
	for (size_t i = 0; i < FWD_QUEUE_N_COUNTERS; i++)
		assert_int_equal(fwd_queue_stats_get(&s, i), 1000 + i);
	assert_int_equal(s.rx_packets, fwd_queue_stats_get(&s, 0));
	assert_int_equal(fwd_queue_stats_get(&s, FWD_QUEUE_N_COUNTERS), 0);
}

static void
test_add_sums_every_counter(void **state)
{
	struct fwd_queue_stats q[3];
	struct fwd_queue_stats total = {0};

	(void)state;
	memset(q, 0, sizeof(q));
	q[0].rx_packets = 10;
	q[1].rx_packets = 5;
	q[2].tx_drop_vf_full = 7;
	q[1].guest_notifications = UINT64_C(1) << 40;
	q[0].guest_notifications = 1;
	for (int i = 0; i < 3; i++)
		fwd_queue_stats_add(&total, &q[i]);
	assert_int_equal(total.rx_packets, 15);
	assert_int_equal(total.tx_drop_vf_full, 7);
	assert_int_equal(total.guest_notifications, (UINT64_C(1) << 40) + 1);
	for (size_t i = 0; i < FWD_QUEUE_N_COUNTERS; i++)
		assert_int_equal(fwd_queue_stats_get(&total, i),
				 fwd_queue_stats_get(&q[0], i) + fwd_queue_stats_get(&q[1], i) +
					 fwd_queue_stats_get(&q[2], i));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_match_struct),
		cmocka_unit_test(test_get_follows_names),
		cmocka_unit_test(test_add_sums_every_counter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
