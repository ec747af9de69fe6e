/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Unit tests of qsync's split-ring access, playing a (sometimes hostile) guest against
 * calloc'd rings and a two-region memory table:
 *
 *   region 0: guest 0x100000..0x110000 -> mem0
 *   region 1: guest 0x110000..0x120000 -> mem1 (adjacent in guest space, not in ours)
 *
 * A good buffer is 2 KiB, device-writable; the VF buffer size is 1536, so a descriptor needs
 * 1536 + the header length.
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
#include "qsync_vring.h"
#include "qsync_xlate.h"

#define GPA0 UINT64_C(0x100000)
#define GPA1 UINT64_C(0x110000)
#define REGION_SIZE UINT64_C(0x10000)
#define BUF_LEN 2048
#define VF_BUF_SIZE 1536

#define F(bit) (UINT64_C(1) << (bit))
#define FEAT_MODERN (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF))

struct guest {
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx; /* the guest's producer index */
	uint8_t *mem0, *mem1;
	struct qsync_xlate *xlate;
	struct qsync_vring *vr;
};

static struct guest *
guest_new_feat(uint16_t size, uint16_t start_idx, uint64_t features)
{
	struct guest *g = calloc(1, sizeof(*g));
	/* A union: rte_vhost_memory ends in a flexible array. */
	union {
		struct rte_vhost_memory m;
		uint8_t room[sizeof(struct rte_vhost_memory) +
			     2 * sizeof(struct rte_vhost_mem_region)];
	} t = {0};
	struct qsync_vring_params p = {0};

	assert_non_null(g);
	g->size = size;
	/* One descriptor more than the ring has, made to look valid below: reading it for a head
	 * equal to the size would then accept it, so the head check is what the tests see. */
	g->desc = calloc(size + 1, sizeof(*g->desc));
	/* used_event lives after the ring; avail_event after the used ring. */
	g->avail = calloc(1, sizeof(*g->avail) + (size + 1) * sizeof(g->avail->ring[0]));
	g->used = calloc(1, sizeof(*g->used) + size * sizeof(g->used->ring[0]) + 2);
	g->mem0 = calloc(1, REGION_SIZE);
	g->mem1 = calloc(1, REGION_SIZE);
	assert_true(g->desc && g->avail && g->used && g->mem0 && g->mem1);

	t.m.nregions = 2;
	t.m.regions[0].guest_phys_addr = GPA0;
	t.m.regions[0].size = REGION_SIZE;
	t.m.regions[0].host_user_addr = (uintptr_t)g->mem0;
	t.m.regions[1].guest_phys_addr = GPA1;
	t.m.regions[1].size = REGION_SIZE;
	t.m.regions[1].host_user_addr = (uintptr_t)g->mem1;
	g->xlate = qsync_xlate_create(&t.m, QSYNC_IOVA_VA, -1);
	assert_non_null(g->xlate);
	g->desc[size].addr = GPA0;
	g->desc[size].len = BUF_LEN;
	g->desc[size].flags = VRING_DESC_F_WRITE;

	g->avail_idx = start_idx;
	g->avail->idx = start_idx;
	g->used->idx = start_idx;
	p.desc = g->desc;
	p.avail = g->avail;
	p.used = g->used;
	p.size = size;
	p.last_avail_idx = start_idx;
	p.last_used_idx = start_idx;
	p.features = features;
	p.buf_size = VF_BUF_SIZE;
	p.xlate = g->xlate;
	g->vr = qsync_vring_create(&p);
	assert_non_null(g->vr);
	return g;
}

static struct guest *
guest_new(uint16_t size, uint16_t start_idx)
{
	return guest_new_feat(size, start_idx, FEAT_MODERN);
}

static void
guest_free(struct guest *g)
{
	qsync_vring_destroy(g->vr);
	qsync_xlate_free(g->xlate);
	free(g->desc);
	free(g->avail);
	free(g->used);
	free(g->mem0);
	free(g->mem1);
	free(g);
}

/* Guest writes descriptor head and makes it available. */
static void
guest_post(struct guest *g, uint16_t head, uint64_t addr, uint32_t len, uint16_t flags)
{
	if (head < g->size) {
		g->desc[head].addr = addr;
		g->desc[head].len = len;
		g->desc[head].flags = flags;
		g->desc[head].next = 0;
	}
	g->avail->ring[g->avail_idx & (g->size - 1)] = head;
	g->avail_idx++;
	__atomic_store_n(&g->avail->idx, g->avail_idx, __ATOMIC_RELEASE);
}

/* A good buffer: descriptor head at region 0 + head * 2 KiB. */
static void
guest_post_good(struct guest *g, uint16_t head)
{
	guest_post(g, head, GPA0 + (uint64_t)head * BUF_LEN, BUF_LEN, VRING_DESC_F_WRITE);
}

static void
assert_used(struct guest *g, uint16_t pos_idx, uint16_t head, uint32_t len)
{
	const struct vring_used_elem *e = &g->used->ring[pos_idx & (g->size - 1)];

	assert_int_equal(e->id, head);
	assert_int_equal(e->len, len);
}

/* ---- header ---- */

static void
test_hdr_len(void **state)
{
	(void)state;
	assert_int_equal(qsync_net_hdr_len(0), 10);
	assert_int_equal(qsync_net_hdr_len(F(VIRTIO_RING_F_EVENT_IDX)), 10);
	assert_int_equal(qsync_net_hdr_len(F(VIRTIO_NET_F_MRG_RXBUF)), 12);
	assert_int_equal(qsync_net_hdr_len(F(VIRTIO_F_VERSION_1)), 12);
	assert_int_equal(qsync_net_hdr_len(FEAT_MODERN), 12);
}

static void
test_hdr_write(void **state)
{
	uint8_t buf[16];
	/* flags, gso_type, hdr_len(2), gso_size(2), csum_start(2), csum_offset(2), num_buffers */
	static const uint8_t want12[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	static const uint8_t want12_valid[12] = {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	static const uint8_t want10[10] = {0};

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	qsync_net_hdr_write(buf, 12, false);
	assert_memory_equal(buf, want12, 12);
	assert_int_equal(buf[12], 0xaa);

	memset(buf, 0xaa, sizeof(buf));
	qsync_net_hdr_write(buf, 12, true);
	assert_memory_equal(buf, want12_valid, 12);

	/* The 10-byte header leaves the frame's first bytes alone. */
	memset(buf, 0xaa, sizeof(buf));
	qsync_net_hdr_write(buf, 10, false);
	assert_memory_equal(buf, want10, 10);
	assert_int_equal(buf[10], 0xaa);
	assert_int_equal(buf[11], 0xaa);
}

/* ---- create ---- */

static void
expect_create_einval(struct qsync_vring_params p)
{
	errno = 0;
	assert_null(qsync_vring_create(&p));
	assert_int_equal(errno, EINVAL);
}

static void
test_create_rejects(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_vring_params good = {
		.desc = g->desc,
		.avail = g->avail,
		.used = g->used,
		.size = 16,
		.features = FEAT_MODERN,
		.buf_size = VF_BUF_SIZE,
		.xlate = g->xlate,
	};
	struct qsync_vring_params p;
	struct qsync_vring *vr;

	(void)state;
	vr = qsync_vring_create(&good);
	assert_non_null(vr);
	assert_int_equal(vr->hdr_len, 12);
	assert_int_equal(vr->min_len, 12 + VF_BUF_SIZE);
	qsync_vring_destroy(vr);
	qsync_vring_destroy(NULL);

	errno = 0;
	assert_null(qsync_vring_create(NULL));
	assert_int_equal(errno, EINVAL);
	p = good, p.desc = NULL;
	expect_create_einval(p);
	p = good, p.xlate = NULL;
	expect_create_einval(p);
	p = good, p.size = 0;
	expect_create_einval(p);
	p = good, p.size = 24;
	expect_create_einval(p);
	p = good, p.size = 65535;
	expect_create_einval(p);
	p = good, p.features |= F(VIRTIO_F_RING_PACKED);
	expect_create_einval(p);
	p = good, p.last_avail_idx = 5, p.last_used_idx = 3;
	expect_create_einval(p);
	p = good, p.buf_size = 0;
	expect_create_einval(p);
	p = good, p.buf_size = 65536;
	expect_create_einval(p);
	guest_free(g);
}

/* ---- pop ---- */

static void
test_pop_good(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_buf b[8];

	(void)state;
	assert_int_equal(qsync_vring_avail_count(g->vr), 0);
	assert_int_equal(qsync_vring_pop(g->vr, b, 8), 0);

	/* Posted out of descriptor order, as a guest recycling buffers does. */
	guest_post_good(g, 3);
	guest_post_good(g, 0);
	guest_post_good(g, 7);
	assert_int_equal(qsync_vring_avail_count(g->vr), 3);
	assert_int_equal(qsync_vring_pop(g->vr, b, 2), 2);
	assert_int_equal(b[0].head, 3);
	assert_int_equal(b[0].hva, (uintptr_t)g->mem0 + 3 * BUF_LEN);
	assert_int_equal(b[0].iova, b[0].hva);
	assert_int_equal(b[0].len, BUF_LEN);
	assert_int_equal(b[1].head, 0);
	assert_int_equal(b[1].hva, (uintptr_t)g->mem0);
	assert_int_equal(qsync_vring_avail_count(g->vr), 1);
	assert_int_equal(qsync_vring_pop(g->vr, b + 2, 6), 1);
	assert_int_equal(b[2].head, 7);
	assert_int_equal(qsync_vring_in_flight(g->vr), 3);
	/* Each buffer in flight has its own slot. */
	for (int i = 0; i < 3; i++) {
		assert_true(b[i].slot < 16);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(b[i].slot, b[j].slot);
	}

	/* The second region works too, and exactly the minimum length is enough. */
	guest_post(g, 9, GPA1 + 0x100, 12 + VF_BUF_SIZE, VRING_DESC_F_WRITE);
	assert_int_equal(qsync_vring_pop(g->vr, b, 8), 1);
	assert_int_equal(b[0].hva, (uintptr_t)g->mem1 + 0x100);
	assert_int_equal(b[0].len, 12 + VF_BUF_SIZE);

	/* Nothing was rejected, nothing written to the used ring or published. */
	assert_int_equal(g->vr->stats.bad_desc + g->vr->stats.desc_too_small, 0);
	assert_int_equal(g->vr->last_used_idx, 0);
	assert_int_equal(g->used->idx, 0);
	guest_free(g);
}

struct hostile_case {
	const char *what;
	uint16_t head;
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	bool too_small; /* counted as desc_too_small rather than bad_desc */
};

/*
 * Each hostile descriptor, posted between two good ones: it is never returned, it is counted by
 * its reason, and it goes back with length 0 at once, ahead of the good ones still in flight.
 */
static void
test_pop_hostile(void **state)
{
	const uint16_t W = VRING_DESC_F_WRITE;
	const struct hostile_case cases[] = {
		{"head >= size", 16, GPA0, BUF_LEN, W, false},
		{"head far out", 0xffff, GPA0, BUF_LEN, W, false},
		{"NEXT", 5, GPA0 + 0x2800, BUF_LEN, W | VRING_DESC_F_NEXT, false},
		{"INDIRECT", 5, GPA0 + 0x2800, BUF_LEN, W | VRING_DESC_F_INDIRECT, false},
		{"read-only", 5, GPA0 + 0x2800, BUF_LEN, 0, false},
		{"too small", 5, GPA0 + 0x2800, 12 + VF_BUF_SIZE - 1, W, true},
		{"empty", 5, GPA0 + 0x2800, 0, W, true},
		{"below all regions", 5, GPA0 - BUF_LEN, BUF_LEN, W, false},
		{"runs past region 0 start", 5, GPA0 - 16, BUF_LEN, W, false},
		{"beyond all regions", 5, GPA1 + REGION_SIZE, BUF_LEN, W, false},
		{"runs off region 1", 5, GPA1 + REGION_SIZE - 1024, BUF_LEN, W, false},
		{"straddles regions", 5, GPA1 - 1024, BUF_LEN, W, false},
		{"wraps 2^64", 5, UINT64_MAX - 1023, BUF_LEN, W, false},
		{"len beyond region", 5, GPA0 + REGION_SIZE / 2, UINT32_MAX, W, false},
	};

	(void)state;
	for (size_t i = 0; i < RTE_DIM(cases); i++) {
		const struct hostile_case *c = &cases[i];
		struct guest *g = guest_new(16, 100);
		struct qsync_buf b[4];
		bool notify;

		print_message("hostile: %s\n", c->what);
		guest_post_good(g, 1);
		guest_post(g, c->head, c->addr, c->len, c->flags);
		guest_post_good(g, 2);
		assert_int_equal(qsync_vring_pop(g->vr, b, 4), 2);
		assert_int_equal(b[0].head, 1);
		assert_int_equal(b[1].head, 2);
		assert_int_equal(g->vr->stats.bad_desc, c->too_small ? 0 : 1);
		assert_int_equal(g->vr->stats.desc_too_small, c->too_small ? 1 : 0);
		assert_int_equal(qsync_vring_in_flight(g->vr), 2);

		/* Written in the pop, invisible until the flush, which does not wait for the
		 * buffers popped around it. */
		assert_int_equal(g->used->idx, 100);
		assert_int_equal(qsync_vring_flush(g->vr, &notify), 1);
		assert_true(notify);
		assert_int_equal(g->used->idx, 101);
		assert_used(g, 100, c->head, 0);

		qsync_vring_complete(g->vr, b[1].slot, 200);
		qsync_vring_complete(g->vr, b[0].slot, 100);
		assert_int_equal(qsync_vring_flush(g->vr, &notify), 2);
		assert_int_equal(g->used->idx, 103);
		assert_used(g, 101, 2, 200);
		assert_used(g, 102, 1, 100);
		assert_int_equal(qsync_vring_in_flight(g->vr), 0);
		guest_free(g);
	}
}

/*
 * A length near 2^32 is used in part: capped before translation, so the buffer handed out,
 * its slot's limit and any completion stay within what can be described and what is memory.
 */
static void
test_pop_huge_len_capped(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_buf b[2];
	bool notify;

	(void)state;
	guest_post(g, 3, GPA0, UINT32_MAX, VRING_DESC_F_WRITE);
	guest_post(g, 4, GPA0, UINT32_MAX - 4000, VRING_DESC_F_WRITE);
	assert_int_equal(qsync_vring_pop(g->vr, b, 2), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(b[i].len, QSYNC_DESC_LEN_MAX);
		assert_int_equal(b[i].hva, (uintptr_t)g->mem0);
	}
	assert_int_equal(g->vr->stats.bad_desc, 0);
	/* A completion claiming more than the capped length is cut to it. */
	qsync_vring_complete(g->vr, b[0].slot, UINT32_MAX);
	qsync_vring_complete(g->vr, b[1].slot, 70000);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 2);
	assert_used(g, 0, 3, QSYNC_DESC_LEN_MAX);
	assert_used(g, 1, 4, QSYNC_DESC_LEN_MAX);
	guest_free(g);
}

/* A rejected entry alone goes back at the next flush by itself. */
static void
test_pop_reject_alone(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_buf b[4];
	bool notify;

	(void)state;
	guest_post(g, 4, GPA0, BUF_LEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	assert_int_equal(qsync_vring_pop(g->vr, b, 4), 0);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1);
	assert_true(notify);
	assert_int_equal(g->used->idx, 1);
	assert_used(g, 0, 4, 0);
	assert_int_equal(qsync_vring_in_flight(g->vr), 0);
	guest_free(g);
}

/* avail->idx more than the ring size ahead is not believed. */
static void
test_avail_jump(void **state)
{
	struct guest *g = guest_new(16, 65530);
	struct qsync_buf b[32];

	(void)state;
	/* Exactly the ring size is legal (and crosses 65535). */
	for (uint16_t i = 0; i < 16; i++)
		guest_post_good(g, i);
	assert_int_equal(g->avail->idx, 10);
	assert_int_equal(qsync_vring_avail_count(g->vr), 16);
	assert_int_equal(g->vr->stats.bad_ring, 0);

	/* One more is not, nor is a guest stepping backwards. */
	g->avail->idx = (uint16_t)(65530 + 17);
	assert_int_equal(qsync_vring_avail_count(g->vr), 0);
	assert_int_equal(qsync_vring_pop(g->vr, b, 32), 0);
	assert_int_equal(g->vr->stats.bad_ring, 2);
	g->avail->idx = 65529;
	assert_int_equal(qsync_vring_avail_count(g->vr), 0);
	assert_int_equal(g->vr->stats.bad_ring, 3);
	assert_int_equal(g->vr->last_avail_idx, 65530);
	assert_int_equal(g->vr->stats.bad_desc, 0);

	/* A sane index again is served normally. */
	g->avail->idx = (uint16_t)(65530 + 16);
	assert_int_equal(qsync_vring_pop(g->vr, b, 32), 16);
	assert_int_equal(g->vr->stats.bad_ring, 3);
	guest_free(g);
}

/*
 * A guest reposting buffers that are in flight (or completed but not yet published) gets
 * nothing more popped: at most a ring's worth beyond what it was shown, so neither a slot nor an
 * unpublished used entry is ever overwritten.
 */
static void
test_pop_ring_full(void **state)
{
	struct guest *g = guest_new(8, 0);
	struct qsync_buf b[16];
	bool notify;

	(void)state;
	for (uint16_t i = 0; i < 8; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 16), 8);
	assert_int_equal(qsync_vring_in_flight(g->vr), 8);
	/* Hostile guest posts its (in-flight) descriptors again. */
	for (uint16_t i = 0; i < 8; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_avail_count(g->vr), 8);
	assert_int_equal(qsync_vring_pop(g->vr, b + 8, 8), 0);
	assert_int_equal(g->vr->last_avail_idx, 8);

	/* Completed but not published: its used entry must survive until the flush. */
	qsync_vring_complete(g->vr, b[5].slot, 64);
	assert_int_equal(qsync_vring_in_flight(g->vr), 7);
	assert_int_equal(qsync_vring_pop(g->vr, b + 8, 8), 0);
	/* Published: one more may be popped, into the slot just freed. */
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1);
	assert_used(g, 0, 5, 64);
	assert_int_equal(qsync_vring_pop(g->vr, b + 8, 8), 1);
	assert_int_equal(b[8].head, 0);
	assert_int_equal(b[8].slot, b[5].slot);
	assert_int_equal(qsync_vring_in_flight(g->vr), 8);
	assert_int_equal(qsync_vring_pop(g->vr, b + 9, 7), 0);
	assert_used(g, 0, 5, 64);
	guest_free(g);
}

/*
 * PA mode: the same ring over a table whose IOVAs come from a fake pagemap. Region 0's pages
 * (at a made-up host address; pop never dereferences it) are frames 0x100, 0x101, 0x500, then
 * not present. A buffer may cross a page boundary only where the frames are consecutive.
 */
static void
test_pop_pa_mode(void **state)
{
	const uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	const uint64_t hva = UINT64_C(0x40000000);
	const uint64_t frames[4] = {0x100, 0x101, 0x500, 0};
	char path[] = "/tmp/qsync-pagemap-XXXXXX";
	struct guest *g = guest_new(16, 0);
	/* A union: rte_vhost_memory ends in a flexible array. */
	union {
		struct rte_vhost_memory m;
		uint8_t room[sizeof(struct rte_vhost_memory) + sizeof(struct rte_vhost_mem_region)];
	} t = {0};
	struct qsync_vring_params p = {0};
	struct qsync_xlate *x;
	struct qsync_vring *vr;
	struct qsync_buf b[8];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t e = frames[i] ? (UINT64_C(1) << 63) | frames[i] : 0;

		assert_int_equal(pwrite(fd, &e, sizeof(e), (off_t)((hva / ps + i) * sizeof(e))),
				 sizeof(e));
	}
	t.m.nregions = 1;
	t.m.regions[0].guest_phys_addr = GPA0;
	t.m.regions[0].size = 4 * ps;
	t.m.regions[0].host_user_addr = hva;
	x = qsync_xlate_create(&t.m, QSYNC_IOVA_PA, fd);
	close(fd);
	assert_non_null(x);

	p.desc = g->desc;
	p.avail = g->avail;
	p.used = g->used;
	p.size = 16;
	p.features = FEAT_MODERN;
	p.buf_size = VF_BUF_SIZE;
	p.xlate = x;
	vr = qsync_vring_create(&p);
	assert_non_null(vr);

	/* Crosses pages 0-1 (consecutive): accepted, IOVA from the frame. */
	guest_post(g, 0, GPA0 + ps - 1024, BUF_LEN, VRING_DESC_F_WRITE);
	/* Crosses pages 1-2 (not consecutive): rejected. */
	guest_post(g, 1, GPA0 + 2 * ps - 1024, BUF_LEN, VRING_DESC_F_WRITE);
	/* Inside page 2. */
	guest_post(g, 2, GPA0 + 2 * ps + 16, BUF_LEN, VRING_DESC_F_WRITE);
	/* In the page that is not present: rejected. */
	guest_post(g, 3, GPA0 + 3 * ps, BUF_LEN, VRING_DESC_F_WRITE);
	assert_int_equal(qsync_vring_pop(vr, b, 8), 2);
	assert_int_equal(b[0].head, 0);
	assert_int_equal(b[0].hva, hva + ps - 1024);
	assert_int_equal(b[0].iova, 0x101 * ps - 1024);
	assert_int_equal(b[1].head, 2);
	assert_int_equal(b[1].iova, 0x500 * ps + 16);
	assert_int_equal(vr->stats.bad_desc, 2);

	qsync_vring_destroy(vr);
	qsync_xlate_free(x);
	guest_free(g);
}

/* ---- completions ---- */

/* The used ring is in completion order, and a flush publishes every completion so far. */
static void
test_completion_order(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_buf b[4];
	bool notify;

	(void)state;
	for (uint16_t i = 0; i < 4; i++)
		guest_post_good(g, 10 + i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 4), 4);

	/* Completed in order 3, 1: written, the guest sees nothing before the flush. */
	qsync_vring_complete(g->vr, b[3].slot, 1003);
	qsync_vring_complete(g->vr, b[1].slot, 1001);
	assert_int_equal(g->used->idx, 0);
	assert_int_equal(qsync_vring_in_flight(g->vr), 2);

	/* Published without waiting for 0 and 2, in the order they completed. */
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 2);
	assert_true(notify);
	assert_int_equal(g->used->idx, 2);
	assert_used(g, 0, 13, 1003);
	assert_used(g, 1, 11, 1001);
	/* Nothing new, nothing published. */
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 0);
	assert_false(notify);

	qsync_vring_complete(g->vr, b[0].slot, 1000);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1);
	assert_used(g, 2, 10, 1000);
	qsync_vring_complete(g->vr, b[2].slot, 1002);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1);
	assert_int_equal(g->used->idx, 4);
	assert_used(g, 3, 12, 1002);
	assert_int_equal(qsync_vring_in_flight(g->vr), 0);
	guest_free(g);
}

/* A completion never claims more than the descriptor holds. */
static void
test_complete_clamps(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_buf b[2];
	bool notify;

	(void)state;
	guest_post_good(g, 0);
	guest_post(g, 1, GPA0 + BUF_LEN, 12 + VF_BUF_SIZE, VRING_DESC_F_WRITE);
	assert_int_equal(qsync_vring_pop(g->vr, b, 2), 2);
	qsync_vring_complete(g->vr, b[1].slot, 12 + VF_BUF_SIZE + 1);
	qsync_vring_complete(g->vr, b[0].slot, BUF_LEN + 1);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 2);
	assert_used(g, 0, 1, 12 + VF_BUF_SIZE);
	assert_used(g, 1, 0, BUF_LEN);
	guest_free(g);
}

/*
 * One buffer held while the guest recycles the others through the ring many times over (a VF
 * buffer written only after the VF ring wraps, a tail buffer given back to the VF): every
 * completion is published at once, the pop never stops at the avail position the held buffer
 * came from, and the held one completes last, in its own place.
 */
static void
test_held_buffer_blocks_nothing(void **state)
{
	struct guest *g = guest_new(8, 65530);
	struct qsync_buf held, b[8];
	uint16_t used_expect = 65530;
	uint16_t heads[7] = {1, 2, 3, 4, 5, 6, 7};
	bool notify;

	(void)state;
	for (uint16_t i = 0; i < 8; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 8), 8);
	held = b[0];
	assert_int_equal(held.head, 0);
	for (int i = 1; i < 8; i++)
		b[i - 1] = b[i];

	for (int round = 0; round < 40; round++) {
		/* Completed in reverse, published now: the held one is in nobody's way. */
		for (int i = 6; i >= 0; i--)
			qsync_vring_complete(g->vr, b[i].slot, (uint32_t)(100 + round));
		assert_int_equal(qsync_vring_flush(g->vr, &notify), 7);
		for (int i = 0; i < 7; i++)
			assert_used(g, (uint16_t)(used_expect + i), heads[6 - i],
				    (uint32_t)(100 + round));
		used_expect += 7;
		assert_int_equal(g->used->idx, used_expect);
		assert_int_equal(qsync_vring_in_flight(g->vr), 1);

		/* The guest takes them and posts them again, in the order they came back. */
		for (int i = 0; i < 7; i++) {
			uint16_t pos = (uint16_t)(used_expect - 7 + i) & 7;
			uint16_t h = (uint16_t)g->used->ring[pos].id;

			heads[i] = h;
			guest_post_good(g, h);
		}
		assert_int_equal(qsync_vring_pop(g->vr, b, 8), 7);
		for (int i = 0; i < 7; i++) {
			assert_int_equal(b[i].head, heads[i]);
			assert_int_not_equal(b[i].slot, held.slot);
		}
	}
	/* 40 rounds of 7 went through the held buffer's avail position 35 times. */
	assert_int_equal(g->vr->last_avail_idx, (uint16_t)(65530 + 8 + 40 * 7));

	qsync_vring_complete(g->vr, held.slot, 777);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1);
	assert_used(g, used_expect, 0, 777);
	assert_int_equal(qsync_vring_in_flight(g->vr), 7);
	guest_free(g);
}

/* Many rounds across the 16-bit wrap, completing each batch in reverse. */
static void
test_wraparound(void **state)
{
	struct guest *g = guest_new(8, 65530);
	uint16_t used_expect = 65530;
	uint16_t head = 0;

	(void)state;
	for (int round = 0; round < 5; round++) {
		struct qsync_buf b[6];
		uint16_t first_head = head;
		bool notify;

		for (int i = 0; i < 6; i++)
			guest_post_good(g, (uint16_t)(head++ % 8));
		assert_int_equal(qsync_vring_avail_count(g->vr), 6);
		assert_int_equal(qsync_vring_pop(g->vr, b, 6), 6);
		for (int i = 5; i >= 0; i--)
			qsync_vring_complete(g->vr, b[i].slot, 100 + i);
		assert_int_equal(qsync_vring_flush(g->vr, &notify), 6);
		for (int i = 0; i < 6; i++) {
			uint16_t h = (uint16_t)(first_head + 5 - i) % 8;

			assert_used(g, (uint16_t)(used_expect + i), h, 100 + 5 - i);
		}
		used_expect += 6;
		assert_int_equal(g->used->idx, used_expect);
		assert_int_equal(g->vr->last_avail_idx, used_expect);
	}
	/* 65530 + 30 wrapped. */
	assert_int_equal(used_expect, 24);
	guest_free(g);
}

/* Small deterministic generator for the model test. */
static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/*
 * A hostile guest that posts whatever it likes (buffers still in flight, bad descriptors, heads
 * that do not exist) at random against random pops, completions in random order and flushes,
 * checked after every step against a model: nothing becomes visible before a flush, every
 * flush shows exactly the completions and rejections since the last one in the order they
 * happened, never more than a ring's worth is popped beyond what was published, and the slot
 * count adds up.
 */
static void
test_hostile_guest_model(void **state)
{
	enum { SIZE = 16, STEPS = 20000 };
/* Descriptors 12..15 are always read-only, 16..19 do not exist: a head's validity is fixed. */
#define BAD_HEAD(h) ((h) >= 12)
	struct guest *g = guest_new(SIZE, 65000);
	struct qsync_buf held[SIZE];
	struct vring_used_elem expect[SIZE]; /* written since the last flush */
	uint16_t n_held = 0, n_expect = 0;
	uint32_t seed = 1;
	uint64_t completions = 0, rejections = 0, max_in_flight = 0;

	(void)state;
	for (int step = 0; step < STEPS; step++) {
		uint32_t what = lcg(&seed) % 8;

		if (what < 3) {
			/* Post 1..4 entries, heads regardless of what is out, up to a ring ahead of
			 * the pop (beyond is bad_ring, tested above). */
			uint32_t k = 1 + lcg(&seed) % 4;

			for (uint32_t i = 0; i < k; i++) {
				uint16_t h = (uint16_t)(lcg(&seed) % (SIZE + 4));

				if ((uint16_t)(g->avail_idx - g->vr->last_avail_idx) == SIZE)
					break;

				guest_post(g, h, GPA0 + (uint64_t)h * BUF_LEN, BUF_LEN,
					   BAD_HEAD(h) ? 0 : VRING_DESC_F_WRITE);
			}
		} else if (what < 5) {
			uint16_t before = g->vr->last_avail_idx;
			struct qsync_buf b[SIZE];
			uint16_t got = qsync_vring_pop(g->vr, b, (uint16_t)(1 + lcg(&seed) % SIZE));
			uint16_t j = 0;

			/* Examined entries are, in avail order, either returned or rejected. */
			for (uint16_t idx = before; idx != g->vr->last_avail_idx; idx++) {
				uint16_t h = g->avail->ring[idx % SIZE];

				if (BAD_HEAD(h)) {
					expect[n_expect++] = (struct vring_used_elem){h, 0};
					rejections++;
				} else {
					assert_true(j < got);
					assert_int_equal(b[j].head, h);
					held[n_held++] = b[j++];
				}
			}
			assert_int_equal(j, got);
		} else if (what < 7 && n_held > 0) {
			/* Complete one at random, claiming a random length. */
			uint16_t i = (uint16_t)(lcg(&seed) % n_held);
			uint32_t len = lcg(&seed) % (2 * BUF_LEN);

			qsync_vring_complete(g->vr, held[i].slot, len);
			expect[n_expect].id = held[i].head;
			expect[n_expect++].len = RTE_MIN(len, (uint32_t)BUF_LEN);
			held[i] = held[--n_held];
			completions++;
		} else if (what == 7) {
			uint16_t before = g->used->idx;
			bool notify;

			assert_int_equal(qsync_vring_flush(g->vr, &notify), n_expect);
			assert_int_equal(g->used->idx, (uint16_t)(before + n_expect));
			for (uint16_t i = 0; i < n_expect; i++)
				assert_used(g, (uint16_t)(before + i), (uint16_t)expect[i].id,
					    expect[i].len);
			n_expect = 0;
		}
		/* Invariants after every step. */
		assert_int_equal(qsync_vring_in_flight(g->vr), n_held);
		assert_int_equal(g->vr->n_free, SIZE - n_held);
		assert_true((uint16_t)(g->vr->last_avail_idx - g->used->idx) <= SIZE);
		assert_int_equal((uint16_t)(g->vr->last_used_idx - g->used->idx), n_expect);
		max_in_flight = RTE_MAX(max_in_flight, (uint64_t)n_held);
	}
	/* The run did reach the interesting states. */
	assert_true(completions > 1000);
	assert_true(rejections > 100);
	assert_int_equal(max_in_flight, SIZE);
	assert_true(g->vr->stats.bad_desc == rejections);
	assert_int_equal(g->vr->stats.bad_ring, 0);
	guest_free(g);
#undef BAD_HEAD
}

/* ---- notification ---- */

static uint16_t
pop_complete_flush(struct guest *g, uint16_t n, bool *notify)
{
	struct qsync_buf b[16] = {0}; /* the pop fills n; gcc -O3 cannot see that */
	uint16_t got;

	for (uint16_t i = 0; i < n; i++)
		guest_post_good(g, i);
	got = qsync_vring_pop(g->vr, b, n);
	assert_int_equal(got, n);
	for (uint16_t i = 0; i < n; i++)
		qsync_vring_complete(g->vr, b[n - 1 - i].slot, 64);
	return qsync_vring_flush(g->vr, notify);
}

static void
test_notify_flags(void **state)
{
	struct guest *g = guest_new_feat(16, 0, FEAT_MODERN);
	bool notify = true;

	(void)state;
	assert_false(g->vr->event_idx);
	assert_int_equal(pop_complete_flush(g, 2, &notify), 2);
	assert_true(notify);
	assert_int_equal(pop_complete_flush(g, 1, &notify), 1);
	assert_true(notify);

	g->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	assert_int_equal(pop_complete_flush(g, 3, &notify), 3);
	assert_false(notify);
	/* used_event means nothing without EVENT_IDX. */
	g->avail->ring[16] = g->vr->last_used_idx;
	assert_int_equal(pop_complete_flush(g, 1, &notify), 1);
	assert_false(notify);

	g->avail->flags = 0;
	assert_int_equal(pop_complete_flush(g, 1, &notify), 1);
	assert_true(notify);
	/* Nothing published, nothing to tell. */
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 0);
	assert_false(notify);
	guest_free(g);
}

static void
check_event_idx(uint16_t start)
{
	struct guest *g = guest_new_feat(16, start, FEAT_MODERN | F(VIRTIO_RING_F_EVENT_IDX));
	uint16_t *used_event = &g->avail->ring[16];
	struct qsync_buf b[4];
	bool notify = false;

	assert_true(g->vr->event_idx);
	/* NO_INTERRUPT is ignored under EVENT_IDX. */
	g->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	/* The guest asks for an interrupt far away: the first flush after a bind still notifies,
	 * since we do not know what the guest was last told. */
	*used_event = start + 1000;
	assert_int_equal(pop_complete_flush(g, 2, &notify), 2);
	assert_true(notify);
	/* Now: used start+2 -> start+4, event far: quiet. */
	assert_int_equal(pop_complete_flush(g, 2, &notify), 2);
	assert_false(notify);

	/* The guest wants to know once entry start+4 is used (event = index of that entry). */
	*used_event = start + 4;
	assert_int_equal(pop_complete_flush(g, 1, &notify), 1); /* used -> start+5 */
	assert_true(notify);
	/* Already told: the same event does not fire again. */
	assert_int_equal(pop_complete_flush(g, 1, &notify), 1); /* -> start+6 */
	assert_false(notify);

	/* A batch that steps over the event fires once. */
	*used_event = start + 8;
	assert_int_equal(pop_complete_flush(g, 4, &notify), 4); /* -> start+10 */
	assert_true(notify);
	/* A batch ending just before the event does not. */
	*used_event = start + 12;
	assert_int_equal(pop_complete_flush(g, 2, &notify), 2); /* -> start+12 */
	assert_false(notify);
	assert_int_equal(pop_complete_flush(g, 1, &notify), 1); /* -> start+13 */
	assert_true(notify);
	assert_int_equal(g->used->idx, (uint16_t)(start + 13));

	/* The decision counts published entries, whichever buffers they are: with the first of
	 * two popped still held, the second's completion reaches the event alone. */
	*used_event = start + 13;
	for (uint16_t i = 0; i < 2; i++)
		guest_post_good(g, 8 + i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 2), 2);
	qsync_vring_complete(g->vr, b[1].slot, 64);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1); /* -> start+14 */
	assert_true(notify);
	assert_used(g, (uint16_t)(start + 13), 9, 64);
	qsync_vring_complete(g->vr, b[0].slot, 64);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1); /* -> start+15 */
	assert_false(notify);
	guest_free(g);
}

static void
test_notify_event_idx(void **state)
{
	(void)state;
	check_event_idx(0);
	/* Indices and the event cross 65535 during the sequence. */
	check_event_idx(65530);
	check_event_idx(65524);
}

/* ---- hand back ---- */

/* The held buffers are the last ones popped: all rewound, the guest sees only what was filled. */
static void
test_hand_back_rewind(void **state)
{
	struct guest *g = guest_new(16, 65534);
	struct qsync_hand_back hb;
	struct qsync_buf b[8];

	(void)state;
	for (uint16_t i = 0; i < 5; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 5), 5);
	/* The first two were filled (not yet flushed); the last three are still with the VF. */
	qsync_vring_complete(g->vr, b[1].slot, 300);
	qsync_vring_complete(g->vr, b[0].slot, 200);

	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 3);
	assert_int_equal(hb.zeroed, 0);
	assert_true(hb.notify);
	/* The filled ones went to the guest, in completion order, across the wrap. */
	assert_int_equal(g->used->idx, 0);
	assert_used(g, 65534, 1, 300);
	assert_used(g, 65535, 0, 200);
	assert_int_equal(hb.last_avail_idx, 0);
	assert_int_equal(hb.last_used_idx, 0);
	assert_int_equal(qsync_vring_in_flight(g->vr), 0);

	/* The held ones are available again, unchanged: the same heads pop. */
	assert_int_equal(qsync_vring_avail_count(g->vr), 3);
	assert_int_equal(qsync_vring_pop(g->vr, b, 8), 3);
	assert_int_equal(b[0].head, 2);
	assert_int_equal(b[1].head, 3);
	assert_int_equal(b[2].head, 4);
	guest_free(g);
}

static void
test_hand_back_all_held(void **state)
{
	struct guest *g = guest_new(16, 7);
	struct qsync_hand_back hb;
	struct qsync_buf b[16];

	(void)state;
	for (uint16_t i = 0; i < 4; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 4), 4);
	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 4);
	assert_int_equal(hb.zeroed, 0);
	assert_false(hb.notify);
	assert_int_equal(hb.last_avail_idx, 7);
	assert_int_equal(hb.last_used_idx, 7);
	/* The guest sees no change at all. */
	assert_int_equal(g->used->idx, 7);
	/* Every slot is free again: a full ring pops. */
	for (uint16_t i = 4; i < 16; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 16), 16);
	assert_int_equal(b[0].head, 0);
	guest_free(g);
}

/* Held buffers with a completed one among them: the run at the end is rewound, the rest zeroed. */
static void
test_hand_back_split(void **state)
{
	struct guest *g = guest_new(16, 65533);
	struct qsync_hand_back hb;
	struct qsync_buf b[8];
	bool notify;

	(void)state;
	for (uint16_t i = 0; i < 6; i++)
		guest_post_good(g, 8 + i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 6), 6);
	/* 1 and 2 filled; 0 held behind them; 3, 4, 5 held at the end. */
	qsync_vring_complete(g->vr, b[2].slot, 502);
	qsync_vring_complete(g->vr, b[1].slot, 501);

	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 3);
	assert_int_equal(hb.zeroed, 1);
	assert_true(hb.notify);
	assert_int_equal(g->used->idx, 0);
	assert_used(g, 65533, 10, 502);
	assert_used(g, 65534, 9, 501);
	assert_used(g, 65535, 8, 0);
	assert_int_equal(hb.last_avail_idx, 0);
	assert_int_equal(hb.last_used_idx, 0);

	/* The rewound ones pop again, and the ring goes on as usual. */
	assert_int_equal(qsync_vring_pop(g->vr, b, 8), 3);
	assert_int_equal(b[0].head, 11);
	assert_int_equal(b[1].head, 12);
	assert_int_equal(b[2].head, 13);
	qsync_vring_complete(g->vr, b[2].slot, 64);
	assert_int_equal(qsync_vring_flush(g->vr, &notify), 1);
	assert_used(g, 0, 13, 64);
	guest_free(g);
}

/* The last buffer popped was filled: nothing can be rewound, every held one goes back empty. */
static void
test_hand_back_zero(void **state)
{
	struct guest *g = guest_new(16, 65533);
	struct qsync_hand_back hb;
	struct qsync_buf b[4];

	(void)state;
	for (uint16_t i = 0; i < 4; i++)
		guest_post_good(g, 8 + i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 4), 4);
	/* 1 and 3 filled, 0 and 2 held. */
	qsync_vring_complete(g->vr, b[3].slot, 503);
	qsync_vring_complete(g->vr, b[1].slot, 501);

	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 0);
	assert_int_equal(hb.zeroed, 2);
	assert_true(hb.notify);
	assert_int_equal(hb.last_avail_idx, 1);
	assert_int_equal(hb.last_used_idx, 1);
	assert_int_equal(g->used->idx, 1);
	assert_used(g, 65533, 11, 503);
	assert_used(g, 65534, 9, 501);
	assert_used(g, 65535, 8, 0);
	assert_used(g, 0, 10, 0);
	assert_int_equal(qsync_vring_avail_count(g->vr), 0);
	guest_free(g);
}

/* Zeroed in avail order even when slot ids were reused in another order. */
static void
test_hand_back_zero_avail_order(void **state)
{
	struct guest *g = guest_new(8, 0);
	struct qsync_hand_back hb;
	struct qsync_buf b[6];

	(void)state;
	for (uint16_t i = 0; i < 6; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 4), 4);
	qsync_vring_complete(g->vr, b[0].slot, 100);
	qsync_vring_complete(g->vr, b[1].slot, 101);
	/* Avail entries 4 and 5 reuse the slots 0 and 1 had. */
	assert_int_equal(qsync_vring_pop(g->vr, b + 4, 2), 2);
	assert_true(b[4].slot == b[0].slot || b[4].slot == b[1].slot);
	qsync_vring_complete(g->vr, b[5].slot, 105);

	/* Held: 2, 3, 4; 5 was filled after them. */
	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 0);
	assert_int_equal(hb.zeroed, 3);
	assert_used(g, 3, 2, 0);
	assert_used(g, 4, 3, 0);
	assert_used(g, 5, 4, 0);
	assert_int_equal(g->used->idx, 6);
	assert_int_equal(hb.last_avail_idx, 6);
	guest_free(g);
}

/* One held for many rings' worth of pops is zeroed; the newest held run is still rewound. */
static void
test_hand_back_long_held(void **state)
{
	struct guest *g = guest_new(8, 100);
	struct qsync_hand_back hb;
	struct qsync_buf b[8];
	bool notify;

	(void)state;
	for (uint16_t i = 0; i < 8; i++)
		guest_post_good(g, i);
	assert_int_equal(qsync_vring_pop(g->vr, b, 8), 8);
	/* Head 0 stays held; 1..7 go round and round. */
	for (int round = 0; round < 10; round++) {
		for (int i = 1; i < 8; i++)
			qsync_vring_complete(g->vr, b[i].slot, 64);
		assert_int_equal(qsync_vring_flush(g->vr, &notify), 7);
		for (uint16_t h = 1; h < 8; h++)
			guest_post_good(g, h);
		assert_int_equal(qsync_vring_pop(g->vr, b + 1, 7), 7);
	}
	/* The first four of the last round filled, the last three held with head 0. */
	for (int i = 1; i < 5; i++)
		qsync_vring_complete(g->vr, b[i].slot, 65);

	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 3);
	assert_int_equal(hb.zeroed, 1);
	assert_int_equal(hb.last_avail_idx, (uint16_t)(100 + 8 + 70 - 3));
	assert_int_equal(hb.last_used_idx, hb.last_avail_idx);
	assert_int_equal(g->used->idx, hb.last_used_idx);
	assert_used(g, (uint16_t)(hb.last_used_idx - 1), 0, 0);
	assert_used(g, (uint16_t)(hb.last_used_idx - 2), 4, 65);
	assert_int_equal(qsync_vring_pop(g->vr, b, 8), 3);
	assert_int_equal(b[0].head, 5);
	assert_int_equal(b[2].head, 7);
	guest_free(g);
}

/* A rejected entry before held ones is published; the held run after it is rewound. */
static void
test_hand_back_after_reject(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_hand_back hb;
	struct qsync_buf b[4];

	(void)state;
	guest_post(g, 3, GPA0, 10, VRING_DESC_F_WRITE); /* too small */
	guest_post_good(g, 4);
	assert_int_equal(qsync_vring_pop(g->vr, b, 4), 1);
	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 1);
	assert_int_equal(hb.zeroed, 0);
	assert_int_equal(hb.last_avail_idx, 1);
	assert_int_equal(g->used->idx, 1);
	assert_used(g, 0, 3, 0);
	guest_free(g);
}

/* A rejected entry after the held one ends the run: the held one cannot be rewound. */
static void
test_hand_back_reject_last(void **state)
{
	struct guest *g = guest_new(16, 0);
	struct qsync_hand_back hb;
	struct qsync_buf b[4];

	(void)state;
	guest_post_good(g, 4);
	guest_post(g, 3, GPA0, BUF_LEN, 0); /* read-only */
	assert_int_equal(qsync_vring_pop(g->vr, b, 4), 1);
	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 0);
	assert_int_equal(hb.zeroed, 1);
	assert_int_equal(hb.last_avail_idx, 2);
	assert_int_equal(hb.last_used_idx, 2);
	assert_int_equal(g->used->idx, 2);
	assert_used(g, 0, 3, 0);
	assert_used(g, 1, 4, 0);
	guest_free(g);
}

static void
test_hand_back_nothing(void **state)
{
	struct guest *g = guest_new(16, 42);
	struct qsync_hand_back hb;

	(void)state;
	qsync_vring_hand_back(g->vr, &hb);
	assert_int_equal(hb.rewound, 0);
	assert_int_equal(hb.zeroed, 0);
	assert_false(hb.notify);
	assert_int_equal(hb.last_avail_idx, 42);
	assert_int_equal(hb.last_used_idx, 42);
	assert_int_equal(g->used->idx, 42);
	guest_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_len),
		cmocka_unit_test(test_hdr_write),
		cmocka_unit_test(test_create_rejects),
		cmocka_unit_test(test_pop_good),
		cmocka_unit_test(test_pop_hostile),
		cmocka_unit_test(test_pop_huge_len_capped),
		cmocka_unit_test(test_pop_reject_alone),
		cmocka_unit_test(test_avail_jump),
		cmocka_unit_test(test_pop_ring_full),
		cmocka_unit_test(test_pop_pa_mode),
		cmocka_unit_test(test_completion_order),
		cmocka_unit_test(test_complete_clamps),
		cmocka_unit_test(test_held_buffer_blocks_nothing),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_hostile_guest_model),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_notify_event_idx),
		cmocka_unit_test(test_hand_back_rewind),
		cmocka_unit_test(test_hand_back_all_held),
		cmocka_unit_test(test_hand_back_split),
		cmocka_unit_test(test_hand_back_zero),
		cmocka_unit_test(test_hand_back_zero_avail_order),
		cmocka_unit_test(test_hand_back_long_held),
		cmocka_unit_test(test_hand_back_after_reject),
		cmocka_unit_test(test_hand_back_reject_last),
		cmocka_unit_test(test_hand_back_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
