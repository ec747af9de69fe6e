/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The zero-copy RX datapath against a fake NIC that behaves like a DMA engine
 * with a buffer unit: it keeps a ring of shells from the hybrid pool, floors
 * the pool's data room to its unit as a real PMD programs SRRCTL/RXDCTL, and
 * scatters a frame over as many ring buffers as it needs. A fake Linux
 * driver posts 1536-byte mergeable buffers, reassembles what the used ring
 * says and compares every byte; the NIC asserts it never writes outside the
 * guest buffer a shell points into.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

#define GPA	  0x100000ull
#define GUEST_MEM (1u << 20)
#define RING	  64
#define HDR	  12u
#define NIC_RING  48
#define PORT	  3
#define POISON	  0xa5

static struct rte_mempool *backing;
static struct fwd_relay_config rcfg = {.name = "t", .rx_ring_size = NIC_RING, .mtu = 1500};
static struct fwd_relay relay;
static struct fwd_queue fq;
static struct qsync_queue *qq;
static struct qsync_xlate *xlate;

static uint8_t *gmem;
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;
static uint32_t guest_buf_len;
static uint16_t guest_used_seen;

/* ---- fake librte_vhost: the notification calls need a real device ---- */

static unsigned int calls;

int __wrap_rte_vhost_set_vring_base(int vid, uint16_t q, uint16_t a, uint16_t u);
int __wrap_rte_vhost_vring_call_nonblock(int vid, uint16_t q);

int
__wrap_rte_vhost_set_vring_base(int vid, uint16_t q, uint16_t a, uint16_t u)
{
	(void)vid, (void)q, (void)a, (void)u;
	return 0;
}

int
__wrap_rte_vhost_vring_call_nonblock(int vid, uint16_t q)
{
	(void)vid, (void)q;
	calls++;
	return 0;
}

/* ---- fake NIC ---- */

static struct {
	uint16_t unit;
	struct rte_mbuf *ring[NIC_RING]; /* posted buffers, in descriptor order */
	uint16_t head;			 /* next descriptor the NIC writes */
	/* the wire: frames waiting to be received */
	uint32_t wire_len[256];
	uint32_t wire_seed[256];
	unsigned int wire_head, wire_tail;
	bool lie_tail_len; /* report a tail longer than the buffer it is in */
} nic;

static void *nic_queue_ptrs[RTE_MAX_QUEUES_PER_PORT];
static void *nic_callbacks[RTE_MAX_QUEUES_PER_PORT];

static uint8_t
frame_byte(uint32_t seed, uint32_t off)
{
	return (uint8_t)(seed * 131u + off * 7u + (off >> 8));
}

/* What the NIC was programmed with: the pool's data room floored to its unit. */
static uint32_t
nic_seg_size(void)
{
	uint32_t room = rte_pktmbuf_data_room_size(qq->pool) - RTE_PKTMBUF_HEADROOM;

	return room / nic.unit * nic.unit;
}

static void
nic_refill(void)
{
	for (unsigned int i = 0; i < NIC_RING; i++) {
		unsigned int d = (nic.head + i) % NIC_RING;

		if (nic.ring[d] == NULL && (nic.ring[d] = rte_mbuf_raw_alloc(qq->pool)) == NULL)
			break; /* refill in order, as descriptor rings do */
	}
}

static void
nic_write(struct rte_mbuf *m, uint32_t seed, uint32_t off, uint32_t n)
{
	struct qsync_shell *sh = qsync_shell_of(m);
	uint8_t *dst = (uint8_t *)m->buf_addr + RTE_PKTMBUF_HEADROOM;

	/* DMA stays inside the guest buffer, after the header the forwarder writes. */
	assert_true(m->pool == qq->pool && sh->bound);
	assert_true((uintptr_t)dst >= sh->hva + HDR);
	assert_true((uintptr_t)dst + n <= sh->hva + sh->len);
	assert_true((uintptr_t)dst + nic_seg_size() <= sh->hva + sh->len);
	for (uint32_t i = 0; i < n; i++)
		dst[i] = frame_byte(seed, off + i);
}

static uint16_t
nic_rx_burst(void *rxq, struct rte_mbuf **pkts, uint16_t n)
{
	uint32_t seg = nic_seg_size();
	uint16_t got = 0;

	(void)rxq;
	nic_refill();
	while (got < n && nic.wire_head != nic.wire_tail) {
		unsigned int w = nic.wire_head % RTE_DIM(nic.wire_len);
		uint32_t len = nic.wire_len[w];
		uint16_t nseg = (uint16_t)((len + seg - 1) / seg);
		struct rte_mbuf *first = NULL, *prev = NULL;

		for (uint16_t s = 0; s < nseg; s++)
			if (nic.ring[(nic.head + s) % NIC_RING] == NULL)
				return got; /* no buffers posted: the frame waits on the wire */
		for (uint16_t s = 0; s < nseg; s++) {
			struct rte_mbuf *m = nic.ring[nic.head];
			uint32_t off = s * seg;
			uint32_t chunk = RTE_MIN(seg, len - off);

			nic.ring[nic.head] = NULL;
			nic.head = (nic.head + 1) % NIC_RING;
			nic_write(m, nic.wire_seed[w], off, chunk);
			m->data_off = RTE_PKTMBUF_HEADROOM;
			m->data_len = (uint16_t)chunk;
			m->next = NULL;
			m->nb_segs = 1;
			m->ol_flags = 0;
			if (first == NULL)
				first = m;
			else
				prev->next = m;
			prev = m;
		}
		if (nic.lie_tail_len && nseg == 2)
			prev->data_len = (uint16_t)(qsync_shell_of(prev)->len + 64);
		first->nb_segs = nseg;
		first->pkt_len = len;
		if (nic.lie_tail_len && nseg == 2)
			first->pkt_len = first->data_len + prev->data_len;
		pkts[got++] = first;
		nic.wire_head++;
	}
	return got;
}

static void
wire_send(uint32_t len, uint32_t seed)
{
	unsigned int w = nic.wire_tail % RTE_DIM(nic.wire_len);

	assert_true(nic.wire_tail - nic.wire_head < RTE_DIM(nic.wire_len));
	nic.wire_len[w] = len;
	nic.wire_seed[w] = seed;
	nic.wire_tail++;
}

/* The queue stops: every shell the NIC holds goes back to the pool. */
static void
nic_stop(void)
{
	for (unsigned int i = 0; i < NIC_RING; i++) {
		if (nic.ring[i] != NULL)
			rte_pktmbuf_free(nic.ring[i]);
		nic.ring[i] = NULL;
	}
	nic.head = 0;
}

/* ---- fake guest driver ---- */

static void
guest_post(uint16_t head)
{
	desc[head].addr = GPA + (uint64_t)head * 4096;
	desc[head].len = guest_buf_len;
	desc[head].flags = VRING_DESC_F_WRITE;
	memset(gmem + (size_t)head * 4096, POISON, 4096);
	avail->ring[avail->idx % RING] = head;
	__atomic_store_n(&avail->idx, avail->idx + 1, __ATOMIC_RELEASE);
}

struct guest_report {
	unsigned int frames;
	unsigned int two_buffer_frames;
	unsigned int empty_buffers;
};

/*
 * Used entries come in the order their buffers were posted: a relay restarted
 * after a crash resumes at used->idx (librte_vhost does), which is only right
 * if every buffer posted before it, and none after it, came back. Position @p
 * of the used ring answers avail entry @p (both start at 0 here).
 */
static void
assert_in_posted_order(uint16_t p, uint32_t id)
{
	assert_int_equal(id, avail->ring[p % RING]);
}

/* Read every new used entry as Linux's receive_mergeable() would; repost the buffers. */
static void
guest_receive(struct guest_report *rep, const uint32_t *exp_len, const uint32_t *exp_seed,
	      unsigned int *next_exp)
{
	uint16_t idx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);

	while (guest_used_seen != idx) {
		const struct vring_used_elem *e = &used->ring[guest_used_seen % RING];
		const uint8_t *buf = gmem + (size_t)e->id * 4096;
		const struct virtio_net_hdr_mrg_rxbuf *h = (const void *)buf;
		uint32_t len, off;
		uint16_t nbuf;

		assert_in_posted_order(guest_used_seen, e->id);
		guest_used_seen++;
		if (e->len == 0) {
			rep->empty_buffers++;
			guest_post((uint16_t)e->id);
			continue;
		}
		assert_true(e->len >= HDR && e->len <= guest_buf_len);
		assert_int_equal(h->hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		nbuf = h->num_buffers;
		assert_true(nbuf == 1 || nbuf == 2);
		len = exp_len[*next_exp];
		off = e->len - HDR;
		for (uint32_t i = 0; i < off; i++)
			assert_int_equal(buf[HDR + i], frame_byte(exp_seed[*next_exp], i));
		guest_post((uint16_t)e->id);
		if (nbuf == 2) {
			const struct vring_used_elem *e2;
			const uint8_t *b2;

			assert_int_not_equal(guest_used_seen, idx); /* consecutive entries */
			e2 = &used->ring[guest_used_seen % RING];
			assert_in_posted_order(guest_used_seen, e2->id);
			guest_used_seen++;
			b2 = gmem + (size_t)e2->id * 4096;
			assert_true(e2->len > 0 && e2->len <= guest_buf_len);
			for (uint32_t i = 0; i < e2->len; i++)
				assert_int_equal(b2[i], frame_byte(exp_seed[*next_exp], off + i));
			off += e2->len;
			guest_post((uint16_t)e2->id);
			rep->two_buffer_frames++;
		}
		assert_int_equal(off, len);
		(*next_exp)++;
		rep->frames++;
	}
}

/* ---- fixture ---- */

static void
queue_bind(uint16_t unit, uint32_t buf_len)
{
	union {
		struct rte_vhost_memory m;
		uint8_t room[sizeof(struct rte_vhost_memory) + sizeof(struct rte_vhost_mem_region)];
	} mt = {0};
	struct qsync_vring_params p = {0};

	memset(desc, 0, RING * sizeof(*desc));
	memset(avail, 0, sizeof(*avail) + (RING + 1) * sizeof(uint16_t));
	memset(used, 0, sizeof(*used) + RING * sizeof(used->ring[0]) + 2);
	guest_used_seen = 0;
	guest_buf_len = buf_len;
	mt.m.nregions = 1;
	mt.m.regions[0].guest_phys_addr = GPA;
	mt.m.regions[0].host_user_addr = (uintptr_t)gmem;
	mt.m.regions[0].size = GUEST_MEM;
	xlate = qsync_xlate_create(&mt.m, QSYNC_IOVA_VA, -1);
	assert_non_null(xlate);

	qq = qsync_queue_create(&fq, backing, qsync_buf_size(unit));
	assert_non_null(qq);
	assert_true(qq->pmd_holds_buffers);
	fq.zc = qq;
	p.desc = desc;
	p.avail = avail;
	p.used = used;
	p.size = RING;
	p.features = (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_VERSION_1);
	p.buf_size = qq->buf_size;
	p.xlate = xlate;
	qq->vr = qsync_vring_create(&p);
	assert_non_null(qq->vr);
	qq->hdr_len = HDR;
	qq->gen++;
	qq->zc = true;
	memset(&fq.stats, 0, sizeof(fq.stats));
	memset(&nic, 0, sizeof(nic));
	nic.unit = unit;
	for (uint16_t i = 0; i < RING; i++)
		guest_post(i);
}

static void
queue_unbind(void)
{
	struct qsync_hand_back hb;

	nic_stop();
	qsync_vring_hand_back(qq->vr, &hb);
	qsync_vring_destroy(qq->vr);
	qq->vr = NULL;
	qq->zc = false;
	qq->n_stash = 0;
	assert_int_equal(qq->n_free, qq->n_shells);
	qsync_queue_free(qq);
	qq = NULL;
	fq.zc = NULL;
	qsync_xlate_free(xlate);
	xlate = NULL;
}

/* Frame lengths that straddle every unit's boundary, then a mix up to a tagged full frame. */
static uint32_t
frame_len(unsigned int i)
{
	static const uint32_t edges[] = {60,   64,   128,  129,  1023, 1024, 1025, 1100, 1407,
					 1408, 1409, 1500, 1514, 1518, 1523, 1524, 60,	 1518};

	if (i < RTE_DIM(edges))
		return edges[i];
	return 60 + (i * 2654435761u) % (1518 - 60 + 1);
}

/*
 * Push @n frames through, a few per burst as the wire delivers them; the guest
 * reads and reposts after every burst. Returns the report; checks the counters.
 */
static struct guest_report
run(unsigned int n, unsigned int per_burst)
{
	static uint32_t exp_len[4096], exp_seed[4096];
	struct guest_report rep = {0};
	uint32_t seg = nic_seg_size();
	uint64_t tail_bytes = 0, bytes = 0;
	unsigned int tails = 0, next = 0, sent = 0;

	assert_true(n <= RTE_DIM(exp_len));
	for (unsigned int i = 0; i < n; i++) {
		exp_len[i] = frame_len(i);
		exp_seed[i] = i + 1;
		bytes += exp_len[i];
		if (exp_len[i] > seg) {
			tails++;
			tail_bytes += exp_len[i] - seg;
		}
	}
	for (unsigned int spins = 0; rep.frames < n; spins++) {
		assert_true(spins < 100 * n); /* a stall is a failure, not a hang */
		/* The wire holds what the NIC's ring could not take yet, within bounds. */
		for (unsigned int k = 0;
		     k < per_burst && sent < n && nic.wire_tail - nic.wire_head < 64; k++, sent++)
			wire_send(exp_len[sent], exp_seed[sent]);
		qsync_rx_burst(&fq, 0);
		guest_receive(&rep, exp_len, exp_seed, &next);
	}
	assert_int_equal(fq.stats.rx_packets, n);
	assert_int_equal(fq.stats.rx_bytes, bytes);
	assert_int_equal(fq.stats.rx_zc_packets, n);
	assert_int_equal(fq.stats.rx_copy_packets, 0);
	assert_int_equal(fq.stats.rx_zc_tail_packets, tails);
	assert_int_equal(fq.stats.rx_copy_bytes, tail_bytes);
	assert_int_equal(fq.stats.rx_drop_no_guest_buf, 0);
	return rep;
}

static void
test_unit_1_never_splits(void **state)
{
	struct guest_report rep;

	(void)state;
	queue_bind(1, 1536);
	assert_int_equal(nic_seg_size(), 1524);
	rep = run(600, 8);
	assert_int_equal(fq.stats.rx_zc_tail_packets, 0);
	assert_int_equal(fq.stats.rx_copy_bytes, 0);
	assert_int_equal(rep.empty_buffers, 0);
	assert_int_equal(rep.two_buffer_frames, 0);
	queue_unbind();
}

/* iavf: 1408 of the 1524 bytes; a longer frame's tail (<= 110 B) takes a second buffer. */
static void
test_unit_128_spills_into_a_second_buffer(void **state)
{
	struct guest_report rep;

	(void)state;
	queue_bind(128, 1536);
	assert_int_equal(nic_seg_size(), 1408);
	rep = run(600, 8);
	assert_true(fq.stats.rx_zc_tail_packets > 0);
	assert_int_equal(rep.two_buffer_frames, fq.stats.rx_zc_tail_packets);
	assert_int_equal(rep.empty_buffers, 0);
	queue_unbind();
}

/* igb: 1 KiB units; frames of a unit or less are never touched (run() counts the bytes). */
static void
test_unit_1024_spills_into_a_second_buffer(void **state)
{
	struct guest_report rep;

	(void)state;
	queue_bind(1024, 1536);
	assert_int_equal(nic_seg_size(), 1024);
	rep = run(600, 8);
	assert_true(fq.stats.rx_zc_tail_packets > 100);
	assert_int_equal(rep.two_buffer_frames, fq.stats.rx_zc_tail_packets);
	assert_int_equal(rep.empty_buffers, 0);
	queue_unbind();
}

/* Full bursts: every frame of a burst split, the ring still answered in posted order. */
static void
test_unit_1024_full_bursts(void **state)
{
	struct guest_report rep;

	(void)state;
	queue_bind(1024, 1536);
	rep = run(2000, 32);
	assert_int_equal(rep.empty_buffers, 0);
	queue_unbind();
}

/* Guest buffers barely over the unit: the same, with little room left in the first. */
static void
test_small_guest_buffers_take_two(void **state)
{
	struct guest_report rep;

	(void)state;
	queue_bind(1024, 1100);
	rep = run(600, 8);
	assert_int_equal(rep.two_buffer_frames, fq.stats.rx_zc_tail_packets);
	assert_int_equal(rep.empty_buffers, 0);
	queue_unbind();
}

/* A PMD that reports a segment longer than its buffer: nothing is read past it. */
static void
test_lying_tail_length_is_dropped(void **state)
{
	struct guest_report rep = {0};
	uint32_t len[1] = {1400}, seed[1] = {7};
	unsigned int next = 0;

	(void)state;
	queue_bind(1024, 1536);
	nic.lie_tail_len = true;
	wire_send(1400, 7);
	qsync_rx_burst(&fq, 0);
	assert_int_equal(fq.stats.rx_packets, 0);
	assert_int_equal(fq.stats.rx_drop_no_guest_buf, 1);
	assert_int_equal(fq.stats.rx_copy_bytes, 0);
	/* both guest buffers came back empty, none carried a frame */
	guest_receive(&rep, len, seed, &next);
	assert_int_equal(rep.frames, 0);
	assert_int_equal(rep.empty_buffers, 2);
	nic.lie_tail_len = false;
	queue_unbind();
}

/* Outside cmocka: a failed group setup would report "0 tests, PASSED". */
static int
setup(void)
{
	/* clang-format off */
	char *argv[] = {"test", "--no-huge", "-m", "64", "--no-pci", "-l", "0",
			"--file-prefix=test_qsync_rx", "--log-level=*:error", NULL};
	/* clang-format on */

	if (rte_eal_init(RTE_DIM(argv) - 1, argv) < 0)
		return -1;
	backing = rte_pktmbuf_pool_create("back", 512, 0, 0, 2176, 0);
	if (backing == NULL)
		return -1;
	relay.cfg = &rcfg;
	relay.port.ops = hw_ops_for_driver("net_e1000_igb_vf");
	fq.relay = &relay;
	fq.port_id = PORT;
	fq.qid = 0;
	fq.burst = 32;
	rte_eth_fp_ops[PORT].rx_pkt_burst = nic_rx_burst;
	rte_eth_fp_ops[PORT].rxq.data = nic_queue_ptrs;
	rte_eth_fp_ops[PORT].rxq.clbk = nic_callbacks;
	nic_queue_ptrs[0] = &nic;
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
		cmocka_unit_test(test_unit_1_never_splits),
		cmocka_unit_test(test_unit_128_spills_into_a_second_buffer),
		cmocka_unit_test(test_unit_1024_spills_into_a_second_buffer),
		cmocka_unit_test(test_unit_1024_full_bursts),
		cmocka_unit_test(test_small_guest_buffers_take_two),
		cmocka_unit_test(test_lying_tail_length_is_dropped),
	};
	if (setup() != 0) {
		fprintf(stderr, "test_qsync_rx: EAL or pool setup failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
