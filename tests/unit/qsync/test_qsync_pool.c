/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The hybrid mempool as a PMD sees it: rte_mempool_get_bulk()/put_bulk() on
 * a real DPDK mempool (EAL in memory, no hugepages) whose ops hand out shells
 * pointing into a calloc'd "guest" behind a calloc'd split ring.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_net.h>
#include <linux/virtio_config.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

#define GPA	  0x100000ull
#define GUEST_MEM (1u << 20)
#define RING	  64
#define DESC_LEN  2060u
#define BUF_SIZE  1524u
#define HDR	  12u

static struct rte_mempool *backing;
static struct fwd_relay_config rcfg = {.name = "t", .rx_ring_size = 64, .mtu = 1500};
static struct fwd_relay relay;
static struct fwd_queue fq;
static struct qsync_queue *qq;
static struct qsync_xlate *xlate;

static uint8_t *gmem;
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;

/* The guest posts descriptor @head of @len bytes at a fixed place in its memory. */
static void
post(uint16_t head, uint32_t len, uint16_t flags)
{
	desc[head].addr = GPA + (uint64_t)head * 4096;
	desc[head].len = len;
	desc[head].flags = flags;
	avail->ring[avail->idx % RING] = head;
	__atomic_store_n(&avail->idx, avail->idx + 1, __ATOMIC_RELEASE);
}

static int
bind_ring(void **state)
{
	union {
		struct rte_vhost_memory m;
		uint8_t room[sizeof(struct rte_vhost_memory) + sizeof(struct rte_vhost_mem_region)];
	} mt = {0};
	struct qsync_vring_params p = {0};

	(void)state;
	memset(gmem, 0, GUEST_MEM);
	memset(desc, 0, RING * sizeof(*desc));
	memset(avail, 0, sizeof(*avail) + (RING + 1) * sizeof(uint16_t));
	memset(used, 0, sizeof(*used) + RING * sizeof(used->ring[0]) + 2);
	mt.m.nregions = 1;
	mt.m.regions[0].guest_phys_addr = GPA;
	mt.m.regions[0].host_user_addr = (uintptr_t)gmem;
	mt.m.regions[0].size = GUEST_MEM;
	xlate = qsync_xlate_create(&mt.m, QSYNC_IOVA_VA, -1);
	assert_non_null(xlate);

	p.desc = desc;
	p.avail = avail;
	p.used = used;
	p.size = RING;
	p.features = (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_VERSION_1);
	p.buf_size = BUF_SIZE;
	p.xlate = xlate;
	qq->vr = qsync_vring_create(&p);
	assert_non_null(qq->vr);
	qq->hdr_len = HDR;
	qq->n_stash = 0;
	qq->gen++;
	qq->zc = true;
	qq->quiescing = false;
	return 0;
}

static int
unbind_ring(void **state)
{
	(void)state;
	qsync_vring_destroy(qq->vr);
	qq->vr = NULL;
	qsync_xlate_free(xlate);
	xlate = NULL;
	qq->zc = false;
	qq->n_stash = 0;
	assert_int_equal(qq->n_free, qq->n_shells);
	return 0;
}

static void
test_shell_points_into_guest_buffer(void **state)
{
	struct rte_mbuf *m;

	(void)state;
	post(5, DESC_LEN, VRING_DESC_F_WRITE);
	assert_int_equal(rte_mempool_get(qq->pool, (void **)&m), 0);
	/* What a PMD does after allocating: the frame then lands right after the header. */
	rte_pktmbuf_reset(m);
	assert_ptr_equal(rte_pktmbuf_mtod(m, uint8_t *), gmem + 5 * 4096 + HDR);
	assert_int_equal(m->buf_iova + m->data_off, (uintptr_t)gmem + 5 * 4096 + HDR);
	/* The room after data_off is exactly the guest buffer's, never more. */
	assert_int_equal(rte_pktmbuf_tailroom(m), DESC_LEN - HDR);
	assert_ptr_equal(m->pool, qq->pool);
	assert_int_equal(qsync_shell_of(m)->bound, 1);
	rte_pktmbuf_free(m);
}

/* A length near 2^32 gives a shell of at most what 16 bits describe, pointing where it should. */
static void
test_huge_descriptor_makes_a_sane_shell(void **state)
{
	struct rte_mbuf *m;

	(void)state;
	post(2, UINT32_MAX - 8, VRING_DESC_F_WRITE);
	assert_int_equal(rte_mempool_get(qq->pool, (void **)&m), 0);
	rte_pktmbuf_reset(m);
	assert_ptr_equal(rte_pktmbuf_mtod(m, uint8_t *), gmem + 2 * 4096 + HDR);
	assert_int_equal(m->buf_len, QSYNC_DESC_LEN_MAX - HDR + RTE_PKTMBUF_HEADROOM);
	assert_int_equal(rte_pktmbuf_tailroom(m), QSYNC_DESC_LEN_MAX - HDR);
	assert_int_equal(qsync_shell_of(m)->len, QSYNC_DESC_LEN_MAX);
	rte_pktmbuf_free(m);
}

static void
test_bulk_is_all_or_nothing(void **state)
{
	struct rte_mbuf *m[4];
	uint32_t free_before = qq->n_free;

	(void)state;
	for (uint16_t i = 0; i < 3; i++)
		post(i, DESC_LEN, VRING_DESC_F_WRITE);
	/* 3 posted, 4 asked: nothing handed out, the 3 wait in the stash */
	assert_int_not_equal(rte_mempool_get_bulk(qq->pool, (void **)m, 4), 0);
	assert_int_equal(qq->n_free, free_before);
	assert_int_equal(qq->n_stash, 3);
	post(3, DESC_LEN, VRING_DESC_F_WRITE);
	assert_int_equal(rte_mempool_get_bulk(qq->pool, (void **)m, 4), 0);
	assert_int_equal(qq->n_stash, 0);
	/* handed out in pop order */
	for (uint16_t i = 0; i < 4; i++)
		assert_int_equal(qsync_shell_of(m[i])->hva, (uintptr_t)gmem + i * 4096);
	rte_mempool_put_bulk(qq->pool, (void **)m, 4);
}

static void
test_dropped_shell_goes_back_empty(void **state)
{
	struct rte_mbuf *m[2];
	bool notify;

	(void)state;
	post(7, DESC_LEN, VRING_DESC_F_WRITE);
	post(9, DESC_LEN, VRING_DESC_F_WRITE);
	assert_int_equal(rte_mempool_get_bulk(qq->pool, (void **)m, 2), 0);
	/* A PMD frees them without delivering (frame too long, error) */
	rte_pktmbuf_free(m[0]);
	rte_pktmbuf_free(m[1]);
	assert_int_equal(qsync_vring_flush(qq->vr, &notify), 2);
	assert_int_equal(used->idx, 2);
	assert_int_equal(used->ring[0].id, 7);
	assert_int_equal(used->ring[0].len, 0);
	assert_int_equal(used->ring[1].id, 9);
	assert_int_equal(qsync_shell_of(m[0])->bound, 0);
}

static void
test_quiesce_keeps_returned_shells_held_for_rewind(void **state)
{
	struct rte_mbuf *m[3];
	struct qsync_hand_back hb;

	(void)state;
	for (uint16_t i = 0; i < 3; i++)
		post(i, DESC_LEN, VRING_DESC_F_WRITE);
	assert_int_equal(rte_mempool_get_bulk(qq->pool, (void **)m, 3), 0);
	/* The VF queue is stopped: the PMD releases its ring */
	qq->quiescing = true;
	rte_mempool_put_bulk(qq->pool, (void **)m, 3);
	qsync_vring_hand_back(qq->vr, &hb);
	/* The guest sees nothing: its buffers are available again, no used entry */
	assert_int_equal(hb.rewound, 3);
	assert_int_equal(hb.zeroed, 0);
	assert_int_equal(hb.last_avail_idx, 0);
	assert_int_equal(used->idx, 0);
}

static void
test_refused_descriptors_never_reach_the_pmd(void **state)
{
	struct rte_mbuf *m[2];
	bool notify;

	(void)state;
	post(1, HDR + BUF_SIZE - 1, VRING_DESC_F_WRITE);	   /* too small */
	post(2, DESC_LEN, 0);					   /* device may not write */
	post(3, DESC_LEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT); /* chained */
	post(4, DESC_LEN, VRING_DESC_F_WRITE);
	post(6, DESC_LEN, VRING_DESC_F_WRITE);
	assert_int_equal(rte_mempool_get_bulk(qq->pool, (void **)m, 2), 0);
	assert_int_equal(qsync_shell_of(m[0])->hva, (uintptr_t)gmem + 4 * 4096);
	assert_int_equal(qsync_shell_of(m[1])->hva, (uintptr_t)gmem + 6 * 4096);
	assert_int_equal(qq->vr->stats.desc_too_small, 1);
	assert_int_equal(qq->vr->stats.bad_desc, 2);
	/* The refused ones go back empty at once, before either good one is filled */
	assert_int_equal(qsync_vring_flush(qq->vr, &notify), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(used->ring[i].id, i + 1);
		assert_int_equal(used->ring[i].len, 0);
	}
	/* The later good one, filled first, is next in the used ring */
	qsync_vring_complete(qq->vr, qsync_shell_of(m[1])->slot, HDR + 60);
	qsync_shell_of(m[1])->bound = 0;
	assert_int_equal(qsync_vring_flush(qq->vr, &notify), 1);
	assert_int_equal(used->ring[3].id, 6);
	assert_int_equal(used->ring[3].len, HDR + 60);
	qq->quiescing = true;
	rte_mempool_put_bulk(qq->pool, (void **)m, 2);
}

static void
test_copy_mode_hands_out_host_mbufs(void **state)
{
	struct rte_mbuf *m[8];
	unsigned int avail_before = rte_mempool_avail_count(backing);

	(void)state;
	qq->zc = false;
	post(0, DESC_LEN, VRING_DESC_F_WRITE);
	assert_int_equal(rte_mempool_get_bulk(qq->pool, (void **)m, 8), 0);
	for (int i = 0; i < 8; i++)
		assert_ptr_equal(m[i]->pool, backing);
	/* the guest ring was not touched */
	assert_int_equal(qq->vr->last_avail_idx, 0);
	/* freeing goes straight back to the backing pool */
	for (int i = 0; i < 8; i++)
		rte_pktmbuf_free(m[i]);
	assert_int_equal(rte_mempool_avail_count(backing), avail_before);
	qq->zc = true;
}

static void
test_buf_size_follows_device_granularity(void **state)
{
	(void)state;
	/* Linux's smallest mergeable buffer (1536) less the 12-byte header */
	assert_int_equal(qsync_buf_size(1), 1524);
	assert_int_equal(qsync_buf_size(128), 1408);
	assert_int_equal(qsync_buf_size(1024), 1024);
}

static void
test_features_decide_fallback(void **state)
{
	uint64_t ok = (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_VERSION_1);

	(void)state;
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_NONE);
	assert_int_equal(qsync_check_features(&fq, 1ULL << VIRTIO_F_VERSION_1),
			 QSYNC_FB_no_mrg_rxbuf);
	assert_int_equal(qsync_check_features(&fq, ok | (1ULL << VIRTIO_F_IN_ORDER)),
			 QSYNC_FB_in_order);
	assert_int_equal(qsync_check_features(&fq, ok | (1ULL << VIRTIO_F_RING_PACKED)),
			 QSYNC_FB_packed_ring);
	assert_int_equal(qsync_check_features(&fq, ok | (1ULL << VIRTIO_F_IOMMU_PLATFORM)),
			 QSYNC_FB_iommu_platform);
	assert_int_equal(qsync_check_features(&fq, ok | (1ULL << 26 /* VHOST_F_LOG_ALL */)),
			 QSYNC_FB_live_migration);

	/* a full-MTU frame must fit two VF buffers (the tail is copied into the first guest
	 * buffer); a software VF writes one, of rx_max_write bytes */
	rcfg.mtu = 1600;
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_NONE);
	rcfg.mtu = 2 * BUF_SIZE - 18 + 1;
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_mtu_exceeds_buf);
	rcfg.mtu = 1600;
	relay.port.rx_max_write = BUF_SIZE + 1;
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_mtu_exceeds_buf);
	relay.port.rx_max_write = 0;
	rcfg.mtu = 1500;

	/* tap holds its RX ring but releases it when the queue is set up again */
	relay.port.ops = hw_ops_for_driver("net_tap");
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_NONE);
	/* a PMD that only gives its buffers back at close */
	relay.port.ops = hw_ops_for_driver("net_virtio_user");
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_vf_holds_buffers);
	/* one we know nothing of: off, unless the operator vouches for its port stop */
	relay.port.ops = hw_ops_for_driver("net_foo");
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_vf_unknown);
	rcfg.zero_copy_unknown_vf = FWD_ZC_UNKNOWN_PORT_STOP;
	assert_int_equal(qsync_check_features(&fq, ok), QSYNC_FB_NONE);
	rcfg.zero_copy_unknown_vf = FWD_ZC_UNKNOWN_OFF;
	relay.port.ops = hw_ops_for_driver("net_af_packet");
	assert_string_equal(qsync_fallback_name(QSYNC_FB_guest_buf_small), "guest_buf_small");
	assert_string_equal(qsync_fallback_name(QSYNC_FB_NONE), "none");
}

/* Outside cmocka: a failed group setup would report "0 tests, PASSED". */
static int
setup(void)
{
	/* clang-format off */
	char *argv[] = {"test", "--no-huge", "-m", "64", "--no-pci", "-l", "0",
			"--file-prefix=test_qsync_pool", "--log-level=*:error", NULL};
	/* clang-format on */

	if (rte_eal_init(RTE_DIM(argv) - 1, argv) < 0)
		return -1;
	backing = rte_pktmbuf_pool_create("back", 512, 0, 0, 2176, 0);
	if (backing == NULL)
		return -1;
	relay.cfg = &rcfg;
	relay.port.ops = hw_ops_for_driver("net_af_packet");
	fq.relay = &relay;
	qq = qsync_queue_create(&fq, backing, BUF_SIZE);
	if (qq == NULL)
		return -1;
	fq.zc = qq;
	gmem = aligned_alloc(4096, GUEST_MEM);
	desc = calloc(RING, sizeof(*desc));
	avail = calloc(1, sizeof(*avail) + (RING + 1) * sizeof(uint16_t));
	used = calloc(1, sizeof(*used) + RING * sizeof(used->ring[0]) + 2);
	return gmem && desc && avail && used ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shell_points_into_guest_buffer, bind_ring,
						unbind_ring),
		cmocka_unit_test_setup_teardown(test_huge_descriptor_makes_a_sane_shell, bind_ring,
						unbind_ring),
		cmocka_unit_test_setup_teardown(test_bulk_is_all_or_nothing, bind_ring,
						unbind_ring),
		cmocka_unit_test_setup_teardown(test_dropped_shell_goes_back_empty, bind_ring,
						unbind_ring),
		cmocka_unit_test_setup_teardown(test_quiesce_keeps_returned_shells_held_for_rewind,
						bind_ring, unbind_ring),
		cmocka_unit_test_setup_teardown(test_refused_descriptors_never_reach_the_pmd,
						bind_ring, unbind_ring),
		cmocka_unit_test_setup_teardown(test_copy_mode_hands_out_host_mbufs, bind_ring,
						unbind_ring),
		cmocka_unit_test(test_buf_size_follows_device_granularity),
		cmocka_unit_test(test_features_decide_fallback),
	};
	if (setup() != 0) {
		fprintf(stderr, "test_qsync_pool: EAL or pool setup failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
