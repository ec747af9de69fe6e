/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <vfrelay/fwd.h>

static unsigned int where[FWD_MAX_RELAYS * FWD_MAX_QUEUES];

#define AT(r, q) where[(r) * FWD_MAX_QUEUES + (q)]

static void
test_one_worker_takes_everything(void **state)
{
	const uint16_t qs[] = {2, 3};

	(void)state;
	assert_int_equal(fwd_assign_queues(qs, 2, 1, where), 0);
	for (unsigned int r = 0; r < 2; r++)
		for (unsigned int q = 0; q < qs[r]; q++)
			assert_int_equal(AT(r, q), 0);
}

static void
test_relay_queues_spread_over_workers(void **state)
{
	const uint16_t qs[] = {4};

	(void)state;
	assert_int_equal(fwd_assign_queues(qs, 1, 2, where), 0);
	/* q0,q2 on one worker, q1,q3 on the other */
	assert_int_not_equal(AT(0, 0), AT(0, 1));
	assert_int_equal(AT(0, 0), AT(0, 2));
	assert_int_equal(AT(0, 1), AT(0, 3));
}

static void
test_load_is_balanced(void **state)
{
	const uint16_t qs[] = {1, 1, 3, 2};
	unsigned int load[3] = {0};

	(void)state;
	assert_int_equal(fwd_assign_queues(qs, 4, 3, where), 0);
	for (unsigned int r = 0; r < 4; r++)
		for (unsigned int q = 0; q < qs[r]; q++) {
			assert_true(AT(r, q) < 3);
			load[AT(r, q)]++;
		}
	/* 7 queue pairs over 3 workers: 3,2,2 in some order */
	for (unsigned int w = 0; w < 3; w++)
		assert_true(load[w] == 2 || load[w] == 3);
	assert_int_equal(load[0] + load[1] + load[2], 7);
	/* every relay's first queue on a different worker where possible */
	assert_int_not_equal(AT(0, 0), AT(1, 0));
	assert_int_not_equal(AT(1, 0), AT(2, 0));
}

static void
test_bad_input_rejected(void **state)
{
	const uint16_t zero[] = {0};
	const uint16_t huge[] = {FWD_MAX_QUEUES + 1};
	const uint16_t one[] = {1};

	(void)state;
	assert_int_equal(fwd_assign_queues(one, 1, 0, where), -EINVAL);
	assert_int_equal(fwd_assign_queues(zero, 1, 1, where), -EINVAL);
	assert_int_equal(fwd_assign_queues(huge, 1, 1, where), -EINVAL);
	assert_int_equal(fwd_assign_queues(one, FWD_MAX_RELAYS + 1, 1, where), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_worker_takes_everything),
		cmocka_unit_test(test_relay_queues_spread_over_workers),
		cmocka_unit_test(test_load_is_balanced),
		cmocka_unit_test(test_bad_input_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
