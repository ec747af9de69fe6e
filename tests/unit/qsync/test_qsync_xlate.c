/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests of qsync address translation: table build from hostile memory tables, lookups with
 * the last-hit hint, and PA mode through a fake pagemap file.
 *
 * Host addresses here are never dereferenced by the code under test, so VA-mode tables use
 * made-up host addresses that make expected values easy to read.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qsync_inline.h"
#include "qsync_xlate.h"

#define KiB UINT64_C(1024)
#define MiB (KiB * KiB)

#define PM_PRESENT (UINT64_C(1) << 63)

#define MAX_REGIONS 8

/* A memory table with room for 8 regions (a union: rte_vhost_memory ends in a flexible array). */
struct mem_table {
	union {
		struct rte_vhost_memory m;
		uint8_t room[sizeof(struct rte_vhost_memory) +
			     MAX_REGIONS * sizeof(struct rte_vhost_mem_region)];
	};
};

static void
set_region(struct mem_table *t, uint32_t i, uint64_t gpa, uint64_t size, uint64_t hva)
{
	memset(&t->m.regions[i], 0, sizeof(t->m.regions[i]));
	t->m.regions[i].guest_phys_addr = gpa;
	t->m.regions[i].size = size;
	t->m.regions[i].host_user_addr = hva;
	t->m.regions[i].fd = -1;
	if (t->m.nregions < i + 1)
		t->m.nregions = i + 1;
}

/* The usual two-region guest: low memory and memory above a hole, given in reverse order so the
 * build has to sort. */
static struct qsync_xlate *
two_region_va(void)
{
	struct mem_table t = {0};

	set_region(&t, 0, 4 * MiB, 1 * MiB, 0x7f0000000000);
	set_region(&t, 1, 0, 2 * MiB, 0x7e0000000000);
	return qsync_xlate_create(&t.m, QSYNC_IOVA_VA, -1);
}

static void
test_va_lookup(void **state)
{
	struct qsync_xlate *x = two_region_va();
	struct qsync_xlate_res res;
	uint32_t hint = 0;

	(void)state;
	assert_non_null(x);
	assert_int_equal(x->nregions, 2);
	assert_true(x->regions[0].gpa < x->regions[1].gpa);

	/* Start of the low region. */
	assert_int_equal(qsync_xlate_lookup(x, 0, 4096, &hint, &res), 0);
	assert_int_equal(res.hva, 0x7e0000000000);
	assert_int_equal(res.iova, res.hva);
	assert_int_equal(res.len, 4096);

	/* Inside the high region: len is what was asked for... */
	assert_int_equal(qsync_xlate_lookup(x, 4 * MiB + 0x1234, 100, &hint, &res), 0);
	assert_int_equal(res.hva, 0x7f0000001234);
	assert_int_equal(res.iova, 0x7f0000001234);
	assert_int_equal(res.len, 100);

	/* ...and never beyond the region's end. */
	assert_int_equal(qsync_xlate_lookup(x, 5 * MiB - 16, 4096, &hint, &res), 0);
	assert_int_equal(res.len, 16);
	assert_int_equal(qsync_xlate_lookup(x, 2 * MiB - 1, UINT64_MAX, &hint, &res), 0);
	assert_int_equal(res.len, 1);
	qsync_xlate_free(x);
}

static void
test_va_outside(void **state)
{
	struct qsync_xlate *x = two_region_va();
	struct qsync_xlate_res res;
	uint32_t hint = 0;

	(void)state;
	assert_non_null(x);
	/* Just past the low region, in the hole, just past the high one, the top of the space. */
	assert_int_equal(qsync_xlate_lookup(x, 2 * MiB, 1, &hint, &res), -EFAULT);
	assert_int_equal(qsync_xlate_lookup(x, 3 * MiB, 1, &hint, &res), -EFAULT);
	assert_int_equal(qsync_xlate_lookup(x, 4 * MiB - 1, 1, &hint, &res), -EFAULT);
	assert_int_equal(qsync_xlate_lookup(x, 5 * MiB, 1, &hint, &res), -EFAULT);
	assert_int_equal(qsync_xlate_lookup(x, UINT64_MAX - 0xfff, 0x2000, &hint, &res), -EFAULT);
	assert_int_equal(qsync_xlate_lookup(x, UINT64_MAX, 1, &hint, &res), -EFAULT);
	/* The hint is only moved by hits. */
	assert_int_equal(hint, 0);
	qsync_xlate_free(x);
}

static void
test_hint(void **state)
{
	struct qsync_xlate *x = two_region_va();
	struct qsync_xlate_res res;
	uint32_t hint = 0;

	(void)state;
	assert_non_null(x);
	/* Miss on the hint: found by search, hint now names the high region. */
	assert_int_equal(qsync_xlate_lookup(x, 4 * MiB, 1, &hint, &res), 0);
	assert_int_equal(hint, 1);
	assert_int_equal(res.hva, 0x7f0000000000);
	/* Hit: same answer, hint unchanged. */
	assert_int_equal(qsync_xlate_lookup(x, 4 * MiB + 8, 1, &hint, &res), 0);
	assert_int_equal(hint, 1);
	assert_int_equal(res.hva, 0x7f0000000008);
	/* A hinted region must not capture an address below its start (unsigned wrap). */
	assert_int_equal(qsync_xlate_lookup(x, 4096, 1, &hint, &res), 0);
	assert_int_equal(hint, 0);
	assert_int_equal(res.hva, 0x7e0000001000);
	/* A garbage hint is harmless. */
	hint = 12345;
	assert_int_equal(qsync_xlate_lookup(x, 4 * MiB + 16, 1, &hint, &res), 0);
	assert_int_equal(res.hva, 0x7f0000000010);
	assert_int_equal(hint, 1);
	qsync_xlate_free(x);
}

/* Binary search over the maximum vhost-user region count, every hint wrong. */
static void
test_many_regions(void **state)
{
	struct mem_table t = {0};
	struct qsync_xlate *x;
	struct qsync_xlate_res res;

	(void)state;
	/* Shuffled order, 1 MiB regions every 16 MiB. */
	static const uint32_t order[8] = {5, 2, 7, 0, 3, 6, 1, 4};
	for (uint32_t i = 0; i < 8; i++)
		set_region(&t, i, order[i] * 16 * MiB, MiB, 0x100000000000 + order[i] * MiB);
	x = qsync_xlate_create(&t.m, QSYNC_IOVA_VA, -1);
	assert_non_null(x);
	for (uint32_t k = 0; k < 8; k++) {
		for (uint32_t h = 0; h < 9; h++) {
			uint64_t gpa = k * 16 * MiB;
			uint32_t hint = h;

			assert_int_equal(qsync_xlate_lookup(x, gpa + 5, 1, &hint, &res), 0);
			assert_int_equal(res.hva, 0x100000000000 + k * MiB + 5);
			assert_int_equal(hint, k);
			hint = h;
			assert_int_equal(qsync_xlate_lookup(x, gpa + MiB, 1, &hint, &res), -EFAULT);
		}
	}
	qsync_xlate_free(x);
}

/* Adjacent in both guest-physical and host space, yet not merged: a range crossing the boundary
 * is cut at it, so the caller rejects it. */
static void
test_straddle(void **state)
{
	struct mem_table t = {0};
	struct qsync_xlate *x;
	struct qsync_xlate_res res;
	uint32_t hint = 0;

	(void)state;
	set_region(&t, 0, 0x100000, 0x10000, 0x500000);
	set_region(&t, 1, 0x110000, 0x10000, 0x510000);
	x = qsync_xlate_create(&t.m, QSYNC_IOVA_VA, -1);
	assert_non_null(x);
	assert_int_equal(qsync_xlate_lookup(x, 0x10f800, 0x1000, &hint, &res), 0);
	assert_int_equal(res.len, 0x800);
	assert_int_equal(qsync_xlate_lookup(x, 0x110000, 0x1000, &hint, &res), 0);
	assert_int_equal(res.hva, 0x510000);
	assert_int_equal(res.len, 0x1000);
	qsync_xlate_free(x);
}

static void
expect_rejected(struct mem_table *t)
{
	errno = 0;
	assert_null(qsync_xlate_create(&t->m, QSYNC_IOVA_VA, -1));
	assert_int_equal(errno, EINVAL);
}

static void
test_hostile_tables(void **state)
{
	struct mem_table t;

	(void)state;
	/* No regions at all. */
	memset(&t, 0, sizeof(t));
	expect_rejected(&t);
	errno = 0;
	assert_null(qsync_xlate_create(NULL, QSYNC_IOVA_VA, -1));
	assert_int_equal(errno, EINVAL);

	/* A zero-size region, even next to a good one. */
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, 0, MiB, 0x1000000);
	set_region(&t, 1, 2 * MiB, 0, 0x2000000);
	expect_rejected(&t);

	/* Guest-physical range wrapping around 2^64, or ending exactly there. */
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, UINT64_MAX - MiB + 1, 2 * MiB, 0x1000000);
	expect_rejected(&t);
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, UINT64_MAX - MiB + 1, MiB, 0x1000000);
	expect_rejected(&t);

	/* Host range wrapping. */
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, 0, 2 * MiB, UINT64_MAX - MiB + 1);
	expect_rejected(&t);

	/* Overlap by one byte, given in either order. */
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, 0, MiB + 1, 0x1000000);
	set_region(&t, 1, MiB, MiB, 0x2000000);
	expect_rejected(&t);
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, MiB, MiB, 0x2000000);
	set_region(&t, 1, 0, MiB + 1, 0x1000000);
	expect_rejected(&t);

	/* Same start; one region inside another (not adjacent after sorting). */
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, 8 * MiB, MiB, 0x1000000);
	set_region(&t, 1, 8 * MiB, 4096, 0x2000000);
	expect_rejected(&t);
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, 0, 16 * MiB, 0x1000000);
	set_region(&t, 1, 20 * MiB, MiB, 0x3000000);
	set_region(&t, 2, 4 * MiB, MiB, 0x2000000);
	expect_rejected(&t);

	/* Touching is not overlapping. */
	memset(&t, 0, sizeof(t));
	set_region(&t, 0, MiB, MiB, 0x2000000);
	set_region(&t, 1, 0, MiB, 0x1000000);
	struct qsync_xlate *x = qsync_xlate_create(&t.m, QSYNC_IOVA_VA, -1);
	assert_non_null(x);
	qsync_xlate_free(x);
	qsync_xlate_free(NULL);
}

/* ---- PA mode through a fake pagemap ---- */

static uint64_t page_size;

struct fake_pagemap {
	char path[64];
	int fd;
};

static void
pm_open(struct fake_pagemap *pm)
{
	strcpy(pm->path, "/tmp/qsync-pagemap-XXXXXX");
	pm->fd = mkstemp(pm->path);
	assert_true(pm->fd >= 0);
	unlink(pm->path);
}

/* Write the entry of the page holding hva, as the kernel would lay it out. */
static void
pm_set(struct fake_pagemap *pm, uint64_t hva, uint64_t entry)
{
	off_t off = (off_t)(hva / page_size * sizeof(entry));

	assert_int_equal(pwrite(pm->fd, &entry, sizeof(entry), off), sizeof(entry));
}

/*
 * One 8-page region at host 0x40000000 (guest 0x100000): pages 0-2 are physical frames
 * 0x100-0x102, page 3 is frame 0x200, page 4 is not present, pages 5-7 are frames 0x300-0x302.
 * A second region of 2 pages (guest 0x200000, host 0x50000000) at frames 0x400-0x401.
 */
#define PA_HVA0 UINT64_C(0x40000000)
#define PA_GPA0 UINT64_C(0x100000)
#define PA_HVA1 UINT64_C(0x50000000)
#define PA_GPA1 UINT64_C(0x200000)

static struct qsync_xlate *
pa_table(struct fake_pagemap *pm)
{
	static const uint64_t pfn[8] = {0x100, 0x101, 0x102, 0x200, 0, 0x300, 0x301, 0x302};
	struct mem_table t = {0};
	struct qsync_xlate *x;

	pm_open(pm);
	for (uint64_t i = 0; i < 8; i++)
		pm_set(pm, PA_HVA0 + i * page_size, i == 4 ? 0 : (PM_PRESENT | pfn[i]));
	pm_set(pm, PA_HVA1, PM_PRESENT | 0x400);
	pm_set(pm, PA_HVA1 + page_size, PM_PRESENT | 0x401);
	set_region(&t, 0, PA_GPA1, 2 * page_size, PA_HVA1);
	set_region(&t, 1, PA_GPA0, 8 * page_size, PA_HVA0);
	x = qsync_xlate_create(&t.m, QSYNC_IOVA_PA, pm->fd);
	close(pm->fd);
	return x;
}

static void
test_pa_contiguous(void **state)
{
	struct fake_pagemap pm;
	struct qsync_xlate *x = pa_table(&pm);
	struct qsync_xlate_res res;
	uint32_t hint = 0;

	(void)state;
	assert_non_null(x);
	assert_int_equal(x->mode, QSYNC_IOVA_PA);

	/* Across pages 0 and 1 (consecutive frames), ending inside page 2. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + 0x10, 2 * page_size, &hint, &res), 0);
	assert_int_equal(res.hva, PA_HVA0 + 0x10);
	assert_int_equal(res.iova, 0x100 * page_size + 0x10);
	assert_int_equal(res.len, 2 * page_size);

	/* Within one page. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + 5 * page_size + 100, 200, &hint, &res), 0);
	assert_int_equal(res.iova, 0x300 * page_size + 100);
	assert_int_equal(res.len, 200);

	/* The second region, to its last byte. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA1 + 1, 2 * page_size - 1, &hint, &res), 0);
	assert_int_equal(res.hva, PA_HVA1 + 1);
	assert_int_equal(res.iova, 0x400 * page_size + 1);
	assert_int_equal(res.len, 2 * page_size - 1);
	qsync_xlate_free(x);
}

static void
test_pa_discontiguous(void **state)
{
	struct fake_pagemap pm;
	struct qsync_xlate *x = pa_table(&pm);
	struct qsync_xlate_res res;
	uint32_t hint = 0;

	(void)state;
	assert_non_null(x);
	/* From page 1 + 0x100: pages 1 and 2 are consecutive, page 3 jumps. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + page_size + 0x100, 4 * page_size, &hint,
					    &res), 0);
	assert_int_equal(res.iova, 0x101 * page_size + 0x100);
	assert_int_equal(res.len, 2 * page_size - 0x100);

	/* Last bytes of page 2 into page 3: cut at the page end. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + 3 * page_size - 8, 16, &hint, &res), 0);
	assert_int_equal(res.iova, 0x103 * page_size - 8);
	assert_int_equal(res.len, 8);

	/* Pages 5-7 are consecutive, then the region ends. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + 5 * page_size, 16 * page_size, &hint,
					    &res), 0);
	assert_int_equal(res.len, 3 * page_size);
	qsync_xlate_free(x);
}

static void
test_pa_not_present(void **state)
{
	struct fake_pagemap pm;
	struct qsync_xlate *x = pa_table(&pm);
	struct qsync_xlate_res res;
	uint32_t hint = 0;

	(void)state;
	assert_non_null(x);
	/* A not-present page fails the translation, wherever in it the address is. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + 4 * page_size, 1, &hint, &res), -EFAULT);
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + 5 * page_size - 1, 1, &hint, &res),
			 -EFAULT);
	/* A range running into it stops before it. */
	assert_int_equal(qsync_xlate_lookup(x, PA_GPA0 + 3 * page_size, 2 * page_size, &hint, &res),
			 0);
	assert_int_equal(res.iova, 0x200 * page_size);
	assert_int_equal(res.len, page_size);
	qsync_xlate_free(x);
}

/* A region whose host address is not page aligned: pages are counted from the one holding it. */
static void
test_pa_unaligned(void **state)
{
	struct fake_pagemap pm;
	struct mem_table t = {0};
	struct qsync_xlate *x;
	struct qsync_xlate_res res;
	uint32_t hint = 0;
	const uint64_t hva = PA_HVA0 + page_size / 2;

	(void)state;
	pm_open(&pm);
	pm_set(&pm, PA_HVA0, PM_PRESENT | 0x700);
	pm_set(&pm, PA_HVA0 + page_size, PM_PRESENT | 0x701);
	set_region(&t, 0, 0, page_size, hva);
	x = qsync_xlate_create(&t.m, QSYNC_IOVA_PA, pm.fd);
	close(pm.fd);
	assert_non_null(x);
	assert_int_equal(qsync_xlate_lookup(x, 0, page_size, &hint, &res), 0);
	assert_int_equal(res.hva, hva);
	assert_int_equal(res.iova, 0x700 * page_size + page_size / 2);
	assert_int_equal(res.len, page_size);
	qsync_xlate_free(x);
}

static void
expect_pa_build_error(uint64_t entry, int err)
{
	struct fake_pagemap pm;
	struct mem_table t = {0};

	pm_open(&pm);
	pm_set(&pm, PA_HVA0, PM_PRESENT | 0x100);
	pm_set(&pm, PA_HVA0 + page_size, entry);
	set_region(&t, 0, 0, 2 * page_size, PA_HVA0);
	errno = 0;
	assert_null(qsync_xlate_create(&t.m, QSYNC_IOVA_PA, pm.fd));
	assert_int_equal(errno, err);
	close(pm.fd);
}

static void
test_pa_build_errors(void **state)
{
	struct fake_pagemap pm;
	struct mem_table t = {0};

	(void)state;
	/* Present with PFN 0: what an unprivileged process reads. */
	expect_pa_build_error(PM_PRESENT, EPERM);
	/* A PFN whose address would not fit 64 bits. */
	expect_pa_build_error(PM_PRESENT | ((UINT64_C(1) << 55) - 1), EIO);

	/* A file shorter than the region: not a pagemap. */
	pm_open(&pm);
	pm_set(&pm, PA_HVA0, PM_PRESENT | 0x100);
	set_region(&t, 0, 0, 2 * page_size, PA_HVA0);
	errno = 0;
	assert_null(qsync_xlate_create(&t.m, QSYNC_IOVA_PA, pm.fd));
	assert_int_equal(errno, EIO);
	close(pm.fd);

	/* Not a file at all. */
	errno = 0;
	assert_null(qsync_xlate_create(&t.m, QSYNC_IOVA_PA, -1));
	assert_int_equal(errno, EIO);
}

/* The real pagemap on a real buffer: root sees frames, others get EPERM, never a bad table. */
static void
test_pa_real_pagemap(void **state)
{
	struct mem_table t = {0};
	struct qsync_xlate *x;
	struct qsync_xlate_res res = {0};
	uint32_t hint = 0;
	uint8_t *buf = NULL;
	int fd;

	(void)state;
	assert_int_equal(posix_memalign((void **)&buf, page_size, 2 * page_size), 0);
	memset(buf, 1, 2 * page_size); /* fault the pages in */
	fd = qsync_xlate_pagemap_open();
	assert_true(fd >= 0);
	set_region(&t, 0, 0, 2 * page_size, (uintptr_t)buf);
	errno = 0;
	x = qsync_xlate_create(&t.m, QSYNC_IOVA_PA, fd);
	close(fd);
	if (x == NULL) {
		assert_int_equal(errno, EPERM);
	} else {
		assert_int_equal(qsync_xlate_lookup(x, 100, 1, &hint, &res), 0);
		assert_int_equal(res.hva, (uintptr_t)buf + 100);
		assert_int_equal(res.iova % page_size, 100);
		assert_true(res.iova >= page_size);
		qsync_xlate_free(x);
	}
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_va_lookup),
		cmocka_unit_test(test_va_outside),
		cmocka_unit_test(test_hint),
		cmocka_unit_test(test_many_regions),
		cmocka_unit_test(test_straddle),
		cmocka_unit_test(test_hostile_tables),
		cmocka_unit_test(test_pa_contiguous),
		cmocka_unit_test(test_pa_discontiguous),
		cmocka_unit_test(test_pa_not_present),
		cmocka_unit_test(test_pa_unaligned),
		cmocka_unit_test(test_pa_build_errors),
		cmocka_unit_test(test_pa_real_pagemap),
	};

	page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
