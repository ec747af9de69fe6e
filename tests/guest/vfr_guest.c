/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vfr-guest: the guest side of vfrelay's tests. It runs net_virtio_user (given as EAL
 * --vdev), checks every byte of every frame the host delivers and catches a host that
 * writes into a buffer after handing it back. See tests/guest/README.md for the frame
 * format, the options and the report.
 *
 * One thread does everything: the checks are the point, not the packet rate.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_ring.h>

#define VG_ETHERTYPE		0x88b5		/* IEEE 802 local experimental 1 */
#define VG_MAGIC		0x56465231u	/* "VFR1" */
#define VG_HDR_OFF		RTE_ETHER_HDR_LEN
#define VG_PAYLOAD_OFF		(VG_HDR_OFF + (uint32_t)sizeof(struct vg_hdr))
#define VG_POISON		0xa5
#define VG_MAX_QUEUES		16
#define VG_MAX_BURST		256
#define VG_MAX_SIZES		64
#define VG_NB_FLOWS		65536
#define VG_SEQ_WINDOW		512		/* seqs per flow remembered: dup or late? */
#define VG_MAX_REPORTS		5		/* detail lines per kind of problem */
/* virtio_net_hdr_mrg_rxbuf; 10 bytes without MRG_RXBUF and VERSION_1, so 12 is the bound. */
#define VG_VNET_HDR_MAX		12
#define VG_CLOSE_TIMEOUT_S	10
#define VG_MAX_GROWS		8		/* --grow-mem entries */

#define VG_EXIT_FOUND		1	/* the run completed and found corruption */
#define VG_EXIT_SETUP		2	/* usage or setup error: nothing was checked */
#define VG_EXIT_HUNG		3	/* the host never answered the device reset */

/* After the Ethernet header; every field big-endian. */
struct vg_hdr {
	rte_be32_t magic;
	rte_be32_t seq;		/* per flow, from 0 */
	rte_be16_t flow;
	rte_be16_t reserved;
	rte_be32_t length;	/* whole frame, Ethernet header included, no FCS */
} __rte_packed;

struct vg_opts {
	bool tx;		/* generate --count frames */
	bool echo;		/* send every received frame back, MACs swapped */
	uint16_t queues;
	uint16_t rxd;
	uint16_t txd;
	uint16_t burst;
	uint32_t nb_mbufs;
	uint16_t mbuf_size;	/* RX data room, headroom included */
	uint16_t mtu;		/* 0: the PMD's default */
	uint64_t count;
	uint16_t sizes[VG_MAX_SIZES];
	unsigned int nb_sizes;
	uint32_t flows;
	uint64_t rate;		/* frames per second; 0: as fast as the rings take them */
	uint64_t expect;	/* stop once this many valid frames arrived; 0: never */
	double duration;	/* seconds; 0: until SIGINT/SIGTERM */
	uint32_t repost_delay_us;
	uint32_t idle_us;
	uint32_t settle_ms;
	const char *report;
	struct rte_ether_addr dst;
	bool inject_stale;
	/* --grow-mem MB@SEC: allocate MB MiB of DPDK memory SEC s into the run */
	struct {
		uint32_t mb;
		double at_s;
	} grow[VG_MAX_GROWS];
	unsigned int nb_grows;
	/* --queues-at N@SEC: go down (or up) to N enabled queue pairs SEC s into the run */
	uint16_t qat_pairs;	/* 0: not asked */
	double qat_s;
};

/* What one --grow-mem did. */
struct vg_grow_done {
	bool ok;		/* the allocation succeeded */
	double at_s;		/* when it started */
	double took_ms;		/* rte_malloc + touching it, SET_MEM_TABLE round trips included */
	uint64_t mem_events;	/* RTE_MEM_EVENT_ALLOC seen during it: the heap mapped pages */
	uint64_t mapped;	/* bytes those events mapped */
	uint64_t rx_ok_before;
	uint64_t heap_before;	/* heap_totalsz_bytes of all sockets */
	uint64_t heap_after;
};

struct vg_stats {
	uint64_t rx_ok;
	uint64_t rx_bad;
	uint64_t rx_other;
	uint64_t rx_dup;
	uint64_t rx_reorder;
	uint64_t rx_gap;	/* seqs currently missing; a late arrival takes one back */
	uint64_t rx_bytes;	/* of rx_ok frames */
	uint64_t rx_multiseg;	/* frames of our format spread over several buffers */
	uint64_t rx_oob;	/* buffers written before the start of the posted descriptor */
	uint64_t tx_sent;
	uint64_t tx_fail;
	uint64_t per_queue_rx[VG_MAX_QUEUES];
};

/*
 * What the poison pool saw. Updated from the mempool ops, i.e. by whichever thread
 * allocates or frees an RX mbuf: the main lcore in practice, but virtio_user may touch
 * its rings from the EAL interrupt thread on reconnect, so relaxed atomics.
 */
struct vg_pool_watch {
	atomic_bool armed;		/* objects initialised and poisoned (not during populate) */
	atomic_uint_least64_t stale_writes;
	atomic_uint_least64_t checked;	/* buffers verified still poisoned */
	atomic_uint_least64_t not_returned; /* objects outside the pool at the final scan */
	atomic_uint printed;
};

/* Per mbuf, in its private area: where the object is, as the pool ops see it. */
enum vg_obj_state {
	VG_OBJ_UNARMED = 0,	/* rte_pktmbuf_init zeroes the private area */
	VG_OBJ_IN_POOL,		/* poisoned; nobody may write its data area */
	VG_OBJ_OUT,		/* allocated: posted to the host or held by us */
};

struct vg_mbuf_priv {
	uint32_t state;
	uint32_t reserved;
};

#define VG_PRIV_SIZE	RTE_ALIGN(sizeof(struct vg_mbuf_priv), RTE_MBUF_PRIV_ALIGN)

struct vg_flow {
	uint32_t next;		/* one past the highest seq seen */
	uint64_t seen[VG_SEQ_WINDOW / 64];	/* bit s % W: seq s in [next - W, next) arrived */
};

struct vg_held {
	struct rte_mbuf *m;
	uint64_t due;		/* TSC */
	bool ok;		/* verified at arrival: recheck before letting go */
	uint16_t queue;
};

struct vg_ctx {
	const struct vg_opts *o;
	uint16_t port;
	struct rte_ether_addr mac;
	struct rte_mempool *rx_pool;
	struct rte_mempool *tx_pool;
	struct vg_pool_watch watch;
	struct vg_stats st;
	unsigned int bad_printed;
	uint64_t hz;
	/* sequence tracking of received frames */
	struct vg_flow *flows;
	/* transmit */
	uint32_t *tx_seq;
	uint64_t tx_gen;	/* frames generated so far */
	uint64_t tx_start;
	struct rte_mbuf *txb[VG_MAX_QUEUES][VG_MAX_BURST];
	uint16_t nb_txb[VG_MAX_QUEUES];
	/* --repost-delay-us: a FIFO of received mbufs not yet freed */
	struct vg_held *held;
	uint32_t held_cap;
	uint32_t held_head;
	uint32_t held_tail;
	uint32_t held_mbufs;
	uint32_t held_max_mbufs;
	bool injected;
	bool link_up;
	uint64_t pmd_rx_errors;
	uint64_t pmd_rx_nombuf;
	/* --grow-mem */
	struct vg_grow_done grows[VG_MAX_GROWS];
	void *grow_mem[VG_MAX_GROWS];	/* held until exit: a free would re-send the table */
	unsigned int nb_grown;
	atomic_uint_least64_t mem_alloc_events;	/* since start, from our mem event callback */
	atomic_uint_least64_t mem_alloc_bytes;
	/* queue pairs polled; --queues-at changes it */
	uint16_t active_queues;
	struct rte_eth_conf conf;	/* as configured, for --queues-at */
	int qat_result;		/* 1: not done yet, else 0 or -errno */
};

static atomic_bool vg_stop_requested;	/* signal handler: wo, main loop: ro */

/*
 * The payload byte i of flow f, seq s is (s * 31 + i * 7 + f) mod 256. With
 * base = s * 31 + f that is 7 * (i + 183 * base) mod 256, since 7 * 183 = 1281 = 1 mod 256:
 * every payload is a window of one table, so checking and building are memcmp/memcpy.
 */
static uint8_t vg_pattern[256 + UINT16_MAX + 1];

static void
vg_pattern_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(vg_pattern); i++)
		vg_pattern[i] = (uint8_t)(i * 7);
}

static inline uint8_t
vg_base(uint32_t seq, uint16_t flow)
{
	return (uint8_t)(seq * 31u + flow);
}

/* The expected payload from payload offset @i0 on; valid for up to 65536 bytes. */
static inline const uint8_t *
vg_expected(uint8_t base, uint32_t i0)
{
	return &vg_pattern[(i0 + 183u * base) & 0xff];
}

/* Offset of the first byte of @p[0..len) that is not the poison, or @len. */
static uint32_t
vg_unpoisoned(const uint8_t *p, uint32_t len)
{
	const uint64_t word = 0x0101010101010101ull * VG_POISON;
	uint32_t i = 0;
	uint64_t v;

	for (; i + sizeof(v) <= len; i += sizeof(v)) {
		memcpy(&v, p + i, sizeof(v));
		if (v != word)
			break;
	}
	for (; i < len; i++)
		if (p[i] != VG_POISON)
			return i;
	return len;
}

static inline struct vg_mbuf_priv *
vg_priv(struct rte_mbuf *m)
{
	return rte_mbuf_to_priv(m);
}

/* ------------------------------------------------------------------------------------------
 * The poison pool
 *
 * The claim to test: once the guest owns a buffer again (the host marked it used, or the
 * device was reset), the host never writes it. Design:
 *
 * - The RX pool uses our own mempool ops with cache size 0, so every free and every
 *   allocation passes through vg_pool_enqueue/vg_pool_dequeue; no object hides in a
 *   per-lcore cache.
 * - Enqueue (any free: ours after checking a frame, the PMD's on an error path, and the
 *   ring buffers virtio_dev_close frees) fills the whole data area, buf_addr to
 *   buf_addr + buf_len, with 0xA5. Poisoning here rather than in our RX loop is what keeps
 *   false positives out: the buffers the PMD frees on its own carry legitimate host data
 *   and would otherwise look like stale writes.
 * - Dequeue (the PMD refilling its ring) checks the object is still all 0xA5 before it is
 *   posted again; so does a scan of every pooled object at exit. Any other byte was
 *   written while the guest owned the buffer: a stale write.
 * - Is poisoning at free ever too early? A buffer is freed only after the host gave it
 *   back in the used ring, or by rte_eth_dev_close after virtio_user's reset has had every
 *   GET_VRING_BASE answered; after either the host must not write it. rte_eth_dev_stop
 *   does not stop the host (virtio only marks the port stopped), so the exit path closes
 *   the port before the final scan.
 * - Nothing else writes a data area: the virtio PMD writes only mbuf headers (we do not
 *   enable VLAN strip, the one RX offload that moves data) and TX mbufs, ours and echoes,
 *   come from a separate pool.
 * ------------------------------------------------------------------------------------------
 */

static void
vg_stale_report(struct vg_pool_watch *w, const uint8_t *buf, uint32_t len, uint32_t first,
		const char *when)
{
	uint32_t i, n = 0;

	atomic_fetch_add_explicit(&w->stale_writes, 1, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&w->printed, 1, memory_order_relaxed) >= VG_MAX_REPORTS)
		return;
	for (i = first; i < len; i++)
		n += buf[i] != VG_POISON;
	fprintf(stderr, "vfr-guest: STALE WRITE %s: buffer %p: %u byte(s) not 0x%02x, first at "
		"buf offset %u (data offset %d) = 0x%02x\n", when, (const void *)buf, n, VG_POISON,
		first, (int)first - RTE_PKTMBUF_HEADROOM, buf[first]);
}

static void
vg_obj_release(struct rte_mbuf *m)
{
	memset(m->buf_addr, VG_POISON, m->buf_len);
	vg_priv(m)->state = VG_OBJ_IN_POOL;
}

static void
vg_obj_take(struct vg_pool_watch *w, struct rte_mbuf *m)
{
	struct vg_mbuf_priv *priv = vg_priv(m);
	uint32_t off;

	if (priv->state == VG_OBJ_IN_POOL) {
		off = vg_unpoisoned(m->buf_addr, m->buf_len);
		if (off < m->buf_len)
			vg_stale_report(w, m->buf_addr, m->buf_len, off,
					"found when the buffer was reused");
		atomic_fetch_add_explicit(&w->checked, 1, memory_order_relaxed);
	}
	priv->state = VG_OBJ_OUT;
}

static int
vg_pool_alloc(struct rte_mempool *mp)
{
	struct rte_ring *r;

	/* One such pool per process, so a fixed ring name. */
	r = rte_ring_create("vfr_guest_rx", mp->size, mp->socket_id, RING_F_EXACT_SZ);
	if (r == NULL)
		return -rte_errno;
	mp->pool_data = r;
	return 0;
}

static void
vg_pool_free(struct rte_mempool *mp)
{
	rte_ring_free(mp->pool_data);
}

static int
vg_pool_enqueue(struct rte_mempool *mp, void * const *objs, unsigned int n)
{
	struct vg_pool_watch *w = mp->pool_config;
	unsigned int i;

	/* populate enqueues every object before rte_pktmbuf_init: buf_addr is not set yet. */
	if (atomic_load_explicit(&w->armed, memory_order_acquire))
		for (i = 0; i < n; i++)
			vg_obj_release(objs[i]);
	return rte_ring_enqueue_bulk(mp->pool_data, objs, n, NULL) == n ? 0 : -ENOBUFS;
}

static int
vg_pool_dequeue(struct rte_mempool *mp, void **objs, unsigned int n)
{
	struct vg_pool_watch *w = mp->pool_config;
	unsigned int i;

	if (rte_ring_dequeue_bulk(mp->pool_data, objs, n, NULL) != n)
		return -ENOBUFS;
	if (atomic_load_explicit(&w->armed, memory_order_acquire))
		for (i = 0; i < n; i++)
			vg_obj_take(w, objs[i]);
	return 0;
}

static unsigned int
vg_pool_count(const struct rte_mempool *mp)
{
	return rte_ring_count(mp->pool_data);
}

static struct rte_mempool_ops vg_pool_ops = {
	.name = "vfr_guest_poison",
	.alloc = vg_pool_alloc,
	.free = vg_pool_free,
	.enqueue = vg_pool_enqueue,
	.dequeue = vg_pool_dequeue,
	.get_count = vg_pool_count,
};

RTE_MEMPOOL_REGISTER_OPS(vg_pool_ops);

static void
vg_obj_arm(struct rte_mempool *mp __rte_unused, void *opaque __rte_unused, void *obj,
	   unsigned int idx __rte_unused)
{
	vg_obj_release(obj);
}

static struct rte_mempool *
vg_rx_pool_create(const struct vg_opts *o, struct vg_pool_watch *w)
{
	struct rte_pktmbuf_pool_private pp = {
		.mbuf_data_room_size = o->mbuf_size,
		.mbuf_priv_size = VG_PRIV_SIZE,
	};
	struct rte_mempool *mp;

	mp = rte_mempool_create_empty("vfr_guest_rx", o->nb_mbufs,
				      sizeof(struct rte_mbuf) + VG_PRIV_SIZE + o->mbuf_size,
				      0, sizeof(pp), rte_socket_id(), 0);
	if (mp == NULL)
		return NULL;
	if (rte_mempool_set_ops_byname(mp, vg_pool_ops.name, w) != 0)
		goto fail;
	rte_pktmbuf_pool_init(mp, &pp);
	if (rte_mempool_populate_default(mp) < 0)
		goto fail;
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	/* Every object starts poisoned, so even a never-used one is checkable. */
	rte_mempool_obj_iter(mp, vg_obj_arm, NULL);
	atomic_store_explicit(&w->armed, true, memory_order_release);
	return mp;
fail:
	rte_mempool_free(mp);
	return NULL;
}

static void
vg_obj_final(struct rte_mempool *mp __rte_unused, void *opaque, void *obj,
	     unsigned int idx __rte_unused)
{
	struct vg_pool_watch *w = opaque;
	struct rte_mbuf *m = obj;
	uint32_t off;

	if (vg_priv(m)->state != VG_OBJ_IN_POOL) {
		atomic_fetch_add_explicit(&w->not_returned, 1, memory_order_relaxed);
		return;
	}
	off = vg_unpoisoned(m->buf_addr, m->buf_len);
	if (off < m->buf_len)
		vg_stale_report(w, m->buf_addr, m->buf_len, off, "found by the exit scan");
	atomic_fetch_add_explicit(&w->checked, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------------------------------
 */

enum vg_verdict {
	VG_OTHER,
	VG_OK,
	VG_BAD,
};

struct vg_frame {
	bool hdr_ok;		/* the magic matched: seq and flow can be trusted */
	uint32_t seq;
	uint16_t flow;
	/* the first mismatch */
	const char *what;
	uint32_t off;		/* frame offset */
	uint32_t want;
	uint32_t got;
};

static enum vg_verdict
vg_bad(struct vg_frame *f, const char *what, uint32_t off, uint32_t want, uint32_t got)
{
	f->what = what;
	f->off = off;
	f->want = want;
	f->got = got;
	return VG_BAD;
}

static enum vg_verdict
vg_verify(const struct rte_mbuf *m, struct vg_frame *f)
{
	const struct rte_mbuf *seg;
	const struct vg_hdr *h;
	const rte_be16_t *et;
	const uint8_t *p, *exp;
	struct vg_hdr hbuf;
	rte_be16_t etbuf;
	uint32_t sum = 0, s, e, i, len;
	uint8_t base;

	memset(f, 0, sizeof(*f));
	/* Lengths come from the host's used ring: check them before reading a byte. */
	for (seg = m; seg != NULL; seg = seg->next) {
		if ((uint32_t)seg->data_off + seg->data_len > seg->buf_len)
			return vg_bad(f, "segment overruns its buffer, data_len", sum,
				      seg->buf_len - seg->data_off, seg->data_len);
		sum += seg->data_len;
	}
	if (sum != m->pkt_len)
		return vg_bad(f, "sum of segment lengths vs pkt_len", 0, m->pkt_len, sum);
	if (m->pkt_len < RTE_ETHER_HDR_LEN)
		return VG_OTHER;
	et = rte_pktmbuf_read(m, offsetof(struct rte_ether_hdr, ether_type), sizeof(etbuf),
			      &etbuf);
	if (*et != RTE_BE16(VG_ETHERTYPE))
		return VG_OTHER;
	if (m->pkt_len < VG_PAYLOAD_OFF)
		return vg_bad(f, "frame shorter than the test header, pkt_len", 0, VG_PAYLOAD_OFF,
			      m->pkt_len);
	h = rte_pktmbuf_read(m, VG_HDR_OFF, sizeof(hbuf), &hbuf);
	if (h->magic != RTE_BE32(VG_MAGIC))
		return vg_bad(f, "magic", VG_HDR_OFF, VG_MAGIC, rte_be_to_cpu_32(h->magic));
	f->hdr_ok = true;
	f->seq = rte_be_to_cpu_32(h->seq);
	f->flow = rte_be_to_cpu_16(h->flow);
	if (rte_be_to_cpu_32(h->length) != m->pkt_len)
		return vg_bad(f, "length field vs pkt_len", VG_HDR_OFF + 12, m->pkt_len,
			      rte_be_to_cpu_32(h->length));

	/* Payload, segment by segment: mergeable buffers split a frame anywhere. */
	base = vg_base(f->seq, f->flow);
	e = 0;
	for (seg = m; seg != NULL; seg = seg->next) {
		p = rte_pktmbuf_mtod(seg, const uint8_t *);
		s = e;
		e = s + seg->data_len;
		if (e <= VG_PAYLOAD_OFF)
			continue;
		if (s < VG_PAYLOAD_OFF) {
			p += VG_PAYLOAD_OFF - s;
			s = VG_PAYLOAD_OFF;
		}
		len = e - s;
		exp = vg_expected(base, s - VG_PAYLOAD_OFF);
		if (memcmp(p, exp, len) != 0) {
			for (i = 0; p[i] == exp[i]; i++)
				;
			return vg_bad(f, "payload byte", s + i, exp[i], p[i]);
		}
	}
	return VG_OK;
}

static struct rte_mbuf *
vg_build(struct vg_ctx *c, uint16_t flow, uint32_t seq, uint16_t size)
{
	struct rte_ether_hdr *eth;
	struct rte_mbuf *m;
	struct vg_hdr *h;
	uint8_t *p;

	m = rte_pktmbuf_alloc(c->tx_pool);
	if (m == NULL)
		return NULL;
	p = (uint8_t *)rte_pktmbuf_append(m, size);
	eth = (struct rte_ether_hdr *)p;
	rte_ether_addr_copy(&c->o->dst, &eth->dst_addr);
	rte_ether_addr_copy(&c->mac, &eth->src_addr);
	eth->ether_type = RTE_BE16(VG_ETHERTYPE);
	h = (struct vg_hdr *)(p + VG_HDR_OFF);
	h->magic = RTE_BE32(VG_MAGIC);
	h->seq = rte_cpu_to_be_32(seq);
	h->flow = rte_cpu_to_be_16(flow);
	h->reserved = 0;
	h->length = rte_cpu_to_be_32(size);
	memcpy(p + VG_PAYLOAD_OFF, vg_expected(vg_base(seq, flow), 0), size - VG_PAYLOAD_OFF);
	return m;
}

/* ------------------------------------------------------------------------------------------
 * Receive
 * ------------------------------------------------------------------------------------------
 */

static inline bool
vg_seen_test(const struct vg_flow *fl, uint32_t seq)
{
	uint32_t b = seq % VG_SEQ_WINDOW;

	return fl->seen[b / 64] & (1ull << (b % 64));
}

static inline void
vg_seen_set(struct vg_flow *fl, uint32_t seq, bool on)
{
	uint32_t b = seq % VG_SEQ_WINDOW;

	if (on)
		fl->seen[b / 64] |= 1ull << (b % 64);
	else
		fl->seen[b / 64] &= ~(1ull << (b % 64));
}

/* Sequence numbers start at 0 per flow; wrap-around at 2^32 is not handled. */
static void
vg_track(struct vg_ctx *c, uint16_t flow, uint32_t seq)
{
	struct vg_flow *fl = &c->flows[flow];
	uint32_t s;

	if (seq >= fl->next) {
		c->st.rx_gap += seq - fl->next;
		if (seq - fl->next >= VG_SEQ_WINDOW)
			memset(fl->seen, 0, sizeof(fl->seen));
		else
			for (s = fl->next; s != seq; s++)
				vg_seen_set(fl, s, false);
		vg_seen_set(fl, seq, true);
		fl->next = seq + 1;
	} else if (fl->next - seq > VG_SEQ_WINDOW) {
		/* Too old to tell a duplicate from a late frame; the gap stays counted. */
		c->st.rx_reorder++;
	} else if (vg_seen_test(fl, seq)) {
		c->st.rx_dup++;
	} else {
		vg_seen_set(fl, seq, true);
		c->st.rx_reorder++;
		c->st.rx_gap--;		/* counted missing when a later seq overtook it */
	}
}

static void
vg_print_bad(struct vg_ctx *c, uint16_t q, const struct rte_mbuf *m, const struct vg_frame *f)
{
	if (c->bad_printed++ >= VG_MAX_REPORTS)
		return;
	if (f->hdr_ok)
		fprintf(stderr, "vfr-guest: BAD frame q%u flow %u seq %u pkt_len %u segs %u: %s at "
			"frame offset %u (payload offset %d): expected 0x%02x got 0x%02x\n", q,
			f->flow, f->seq, m->pkt_len, m->nb_segs, f->what, f->off,
			(int)f->off - (int)VG_PAYLOAD_OFF, f->want, f->got);
	else
		fprintf(stderr, "vfr-guest: BAD frame q%u pkt_len %u segs %u: %s at frame offset "
			"%u: expected 0x%x got 0x%x\n", q, m->pkt_len, m->nb_segs, f->what, f->off,
			f->want, f->got);
}

/*
 * The host writes a segment from the descriptor start, buf_addr + RTE_PKTMBUF_HEADROOM -
 * vnet header, on. Anything before is out of bounds (a zero-copy shell with the wrong
 * buf_addr arithmetic, say); it is still poison because we poison before posting.
 */
static void
vg_check_before_desc(struct vg_ctx *c, uint16_t q, const struct rte_mbuf *m)
{
	const uint32_t len = RTE_PKTMBUF_HEADROOM - VG_VNET_HDR_MAX;
	const struct rte_mbuf *seg;
	const uint8_t *buf;
	uint32_t off;
	unsigned int i = 0;

	for (seg = m; seg != NULL; seg = seg->next, i++) {
		buf = seg->buf_addr;
		off = vg_unpoisoned(buf, len);
		if (off == len)
			continue;
		c->st.rx_oob++;
		if (c->bad_printed++ < VG_MAX_REPORTS)
			fprintf(stderr, "vfr-guest: OUT OF BOUNDS write q%u segment %u: "
				"buf offset %u = 0x%02x, before the descriptor start "
				"(buf offset >= %u)\n", q, i, off, buf[off], len);
		return;
	}
}

static void
vg_tx_flush(struct vg_ctx *c, uint16_t q)
{
	struct rte_mbuf **pkts = c->txb[q];
	uint16_t n = c->nb_txb[q], sent = 0;
	uint64_t deadline = rte_rdtsc() + c->hz / 1000;

	/* A full ring gets 1 ms to drain; after that the frames are dropped and counted. */
	while (sent < n) {
		sent += rte_eth_tx_burst(c->port, q, pkts + sent, n - sent);
		if (sent < n && rte_rdtsc() > deadline)
			break;
		rte_pause();
	}
	c->st.tx_sent += sent;
	if (sent < n) {
		c->st.tx_fail += n - sent;
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
	}
	c->nb_txb[q] = 0;
}

static void
vg_echo(struct vg_ctx *c, uint16_t q, const struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth;
	struct rte_ether_addr tmp;
	struct rte_mbuf *copy;

	/* A copy from the TX pool: an RX mbuf freed by the TX path would skip the poison. */
	copy = rte_pktmbuf_copy(m, c->tx_pool, 0, UINT32_MAX);
	if (copy == NULL || copy->data_len < RTE_ETHER_HDR_LEN) {
		rte_pktmbuf_free(copy);
		c->st.tx_fail++;
		return;
	}
	eth = rte_pktmbuf_mtod(copy, struct rte_ether_hdr *);
	rte_ether_addr_copy(&eth->src_addr, &tmp);
	rte_ether_addr_copy(&eth->dst_addr, &eth->src_addr);
	rte_ether_addr_copy(&tmp, &eth->dst_addr);
	c->txb[q][c->nb_txb[q]++] = copy;
	if (c->nb_txb[q] == VG_MAX_BURST)
		vg_tx_flush(c, q);
}

/* Hand a received mbuf back; the pool poisons it. */
static void
vg_free_rx(struct vg_ctx *c, struct rte_mbuf *m)
{
	uint8_t *victim = NULL;

	/* --inject-stale-write: play a host that DMAs into a buffer it already gave back. */
	if (c->o->inject_stale && !c->injected) {
		victim = (uint8_t *)m->buf_addr + m->buf_len / 2;
		c->injected = true;
	}
	rte_pktmbuf_free(m);
	if (victim != NULL) {
		*victim = (uint8_t)~VG_POISON;
		fprintf(stderr, "vfr-guest: injected a stale write at %p\n", (void *)victim);
	}
}

static void
vg_release_held(struct vg_ctx *c, struct vg_held *h)
{
	struct vg_frame f;
	uint32_t off;

	/* A frame that was right on arrival and differs now was written while we held it. */
	if (h->ok && vg_verify(h->m, &f) != VG_OK) {
		off = f.off;
		atomic_fetch_add_explicit(&c->watch.stale_writes, 1, memory_order_relaxed);
		if (atomic_fetch_add_explicit(&c->watch.printed, 1, memory_order_relaxed) <
		    VG_MAX_REPORTS)
			fprintf(stderr, "vfr-guest: STALE WRITE while the guest held the "
				"frame: q%u flow %u seq %u changed: %s at frame offset %u: "
				"expected 0x%02x got 0x%02x\n", h->queue, f.flow, f.seq, f.what,
				off, f.want, f.got);
	}
	c->held_mbufs -= h->m->nb_segs;
	vg_free_rx(c, h->m);
}

static void
vg_release_due(struct vg_ctx *c, uint64_t now, bool all)
{
	struct vg_held *h;

	while (c->held_head != c->held_tail) {
		h = &c->held[c->held_head];
		if (!all && h->due > now && c->held_mbufs <= c->held_max_mbufs)
			break;
		vg_release_held(c, h);
		c->held_head = (c->held_head + 1) % c->held_cap;
	}
}

static void
vg_rx_one(struct vg_ctx *c, uint16_t q, struct rte_mbuf *m, uint64_t now)
{
	enum vg_verdict v;
	struct vg_frame f;
	struct vg_held *h;

	c->st.per_queue_rx[q]++;
	vg_check_before_desc(c, q, m);
	v = vg_verify(m, &f);
	switch (v) {
	case VG_OTHER:
		c->st.rx_other++;
		break;
	case VG_OK:
		c->st.rx_ok++;
		c->st.rx_bytes += m->pkt_len;
		break;
	case VG_BAD:
		c->st.rx_bad++;
		vg_print_bad(c, q, m, &f);
		break;
	}
	if (v != VG_OTHER && m->nb_segs > 1)
		c->st.rx_multiseg++;
	if (f.hdr_ok)
		vg_track(c, f.flow, f.seq);
	if (c->o->echo)
		vg_echo(c, q, m);

	if (c->o->repost_delay_us == 0) {
		vg_free_rx(c, m);
		return;
	}
	h = &c->held[c->held_tail];
	h->m = m;
	h->due = now + c->o->repost_delay_us * c->hz / 1000000;
	h->ok = v == VG_OK;
	h->queue = q;
	c->held_tail = (c->held_tail + 1) % c->held_cap;
	c->held_mbufs += m->nb_segs;
	/* Never starve the ring: past the cap the oldest go back early. */
	if (c->held_mbufs > c->held_max_mbufs)
		vg_release_due(c, now, false);
}

static uint16_t
vg_rx_queue(struct vg_ctx *c, uint16_t q, uint64_t now)
{
	struct rte_mbuf *pkts[VG_MAX_BURST];
	uint16_t n, i;

	n = rte_eth_rx_burst(c->port, q, pkts, c->o->burst);
	for (i = 0; i < n; i++)
		vg_rx_one(c, q, pkts[i], now);
	if (c->nb_txb[q] != 0)
		vg_tx_flush(c, q);
	return n;
}

/* ------------------------------------------------------------------------------------------
 * Transmit
 * ------------------------------------------------------------------------------------------
 */

/* Frame k: queue k % Q, flow k % F, the next seq of that flow, size sizes[k % n]. */
static uint16_t
vg_tx_gen(struct vg_ctx *c, uint64_t now)
{
	const struct vg_opts *o = c->o;
	uint64_t todo = o->count - c->tx_gen, allowed, k;
	struct rte_mbuf *m;
	uint16_t q, flow;
	uint32_t i;

	if (todo == 0)
		return 0;
	if (o->rate != 0) {
		allowed = (uint64_t)((double)(now - c->tx_start) / (double)c->hz * (double)o->rate);
		if (allowed <= c->tx_gen)
			return 0;
		todo = RTE_MIN(todo, allowed - c->tx_gen);
	}
	todo = RTE_MIN(todo, (uint64_t)o->burst);
	for (i = 0; i < todo; i++) {
		k = c->tx_gen++;
		q = k % c->active_queues;
		flow = k % o->flows;
		m = vg_build(c, flow, c->tx_seq[flow]++, o->sizes[k % o->nb_sizes]);
		if (m == NULL) {
			c->st.tx_fail++;
			continue;
		}
		c->txb[q][c->nb_txb[q]++] = m;
		if (c->nb_txb[q] == VG_MAX_BURST)
			vg_tx_flush(c, q);
	}
	for (q = 0; q < c->active_queues; q++)
		if (c->nb_txb[q] != 0)
			vg_tx_flush(c, q);
	return todo;
}

/* ------------------------------------------------------------------------------------------
 * Port
 * ------------------------------------------------------------------------------------------
 */

static int
vg_port_setup(struct vg_ctx *c)
{
	const struct vg_opts *o = c->o;
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t rxd = o->rxd, txd = o->txd, q, port, nb_ports = 0;
	uint32_t mtu = o->mtu != 0 ? o->mtu : RTE_ETHER_MTU;
	int ret;

	RTE_ETH_FOREACH_DEV(port) {
		if (nb_ports++ == 0)
			c->port = port;
	}
	if (nb_ports != 1) {
		fprintf(stderr, "vfr-guest: expected exactly one port "
			"(--vdev=net_virtio_user0,...), found %u\n", nb_ports);
		return -ENODEV;
	}
	ret = rte_eth_dev_info_get(c->port, &info);
	if (ret != 0)
		goto err;
	if (o->queues > info.max_rx_queues || o->queues > info.max_tx_queues) {
		fprintf(stderr, "vfr-guest: --queues %u: the port has %u rx / %u tx queues (the "
			"virtio_user queues= devarg)\n", o->queues, info.max_rx_queues,
			info.max_tx_queues);
		return -EINVAL;
	}
	if (o->mtu != 0) {
		if (o->mtu > info.max_mtu) {
			fprintf(stderr, "vfr-guest: --mtu %u: the port allows at most %u\n", o->mtu,
				info.max_mtu);
			return -EINVAL;
		}
		conf.rxmode.mtu = o->mtu;
	}
	/* The virtio PMD's own bound: VLAN tag and vnet header count against the buffer. */
	if (mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + VG_VNET_HDR_MAX >
	    (uint32_t)o->mbuf_size - RTE_PKTMBUF_HEADROOM) {
		if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)) {
			fprintf(stderr, "vfr-guest: mtu %u does not fit a %u-byte mbuf and the "
				"port cannot scatter (mrg_rxbuf=0, or the host refused "
				"MRG_RXBUF)\n", mtu, o->mbuf_size);
			return -EINVAL;
		}
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;

	c->conf = conf;
	c->active_queues = o->queues;
	c->qat_result = 1;
	ret = rte_eth_dev_configure(c->port, o->queues, o->queues, &conf);
	if (ret != 0)
		goto err;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(c->port, &rxd, &txd);
	if (ret != 0)
		goto err;
	for (q = 0; q < o->queues; q++) {
		ret = rte_eth_rx_queue_setup(c->port, q, rxd, rte_eth_dev_socket_id(c->port),
					     NULL, c->rx_pool);
		if (ret != 0)
			goto err;
		ret = rte_eth_tx_queue_setup(c->port, q, txd, rte_eth_dev_socket_id(c->port),
					     NULL);
		if (ret != 0)
			goto err;
	}
	ret = rte_eth_macaddr_get(c->port, &c->mac);
	if (ret != 0)
		goto err;
	ret = rte_eth_dev_start(c->port);
	if (ret != 0)
		goto err;
	return 0;
err:
	fprintf(stderr, "vfr-guest: port %u setup: %s\n", c->port, rte_strerror(-ret));
	return ret;
}

static bool
vg_link_up(uint16_t port)
{
	struct rte_eth_link link;

	return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

/*
 * --queues-at: what a guest driver does for `ethtool -L`. Stop the port, configure it
 * with @n pairs (the queues above stay set up in virtio's rings, their buffers posted:
 * virtio has no queue release, close frees them), start it: virtio's start sends
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, and virtio_user enables pairs < n and disables the
 * others (SET_VRING_ENABLE 0) while the host keeps running.
 */
static int
vg_set_queues(struct vg_ctx *c, uint16_t n)
{
	int ret;

	for (uint16_t q = 0; q < c->active_queues; q++)
		vg_tx_flush(c, q);
	ret = rte_eth_dev_stop(c->port);
	if (ret == 0)
		ret = rte_eth_dev_configure(c->port, n, n, &c->conf);
	if (ret == 0)
		ret = rte_eth_dev_start(c->port);
	if (ret == 0)
		c->active_queues = n;
	return ret;
}

/*
 * Stop, close, wait, scan. Close is what tells the host to stop (virtio_user's reset sends
 * GET_VRING_BASE and waits for each reply); it then frees the posted buffers into the pool,
 * which poisons them. The settle time lets a late write land before the scan looks.
 */
static void
vg_port_shutdown(struct vg_ctx *c)
{
	struct rte_eth_stats es;

	if (rte_eth_stats_get(c->port, &es) == 0) {
		c->pmd_rx_errors = es.ierrors;
		c->pmd_rx_nombuf = es.rx_nombuf;
	}
	vg_release_due(c, 0, true);
	alarm(VG_CLOSE_TIMEOUT_S);
	if (rte_eth_dev_stop(c->port) != 0)
		fprintf(stderr, "vfr-guest: port stop failed\n");
	if (rte_eth_dev_close(c->port) != 0)
		fprintf(stderr, "vfr-guest: port close failed\n");
	alarm(0);
	rte_delay_us_sleep(c->o->settle_ms * 1000);
	rte_mempool_obj_iter(c->rx_pool, vg_obj_final, &c->watch);
}

/* ------------------------------------------------------------------------------------------
 * Report
 * ------------------------------------------------------------------------------------------
 */

static void
vg_report_json(const struct vg_ctx *c, FILE *f, double elapsed)
{
	const struct vg_stats *s = &c->st;
	uint16_t q;

	fprintf(f, "{\"rx_ok\": %" PRIu64 ", \"rx_bad\": %" PRIu64 ", \"rx_other\": %" PRIu64
		", \"rx_dup\": %" PRIu64 ", \"rx_reorder\": %" PRIu64 ", \"rx_gap\": %" PRIu64
		", \"rx_bytes\": %" PRIu64 ", \"rx_multiseg\": %" PRIu64 ", \"rx_oob\": %" PRIu64
		", \"stale_writes\": %" PRIu64
		", \"bufs_checked\": %" PRIu64 ", \"bufs_not_returned\": %" PRIu64
		", \"tx_sent\": %" PRIu64 ", \"tx_fail\": %" PRIu64 ", \"pmd_rx_errors\": %" PRIu64
		", \"pmd_rx_nombuf\": %" PRIu64 ", \"per_queue_rx\": [",
		s->rx_ok, s->rx_bad, s->rx_other, s->rx_dup, s->rx_reorder, s->rx_gap, s->rx_bytes,
		s->rx_multiseg, s->rx_oob, (uint64_t)atomic_load(&c->watch.stale_writes),
		(uint64_t)atomic_load(&c->watch.checked),
		(uint64_t)atomic_load(&c->watch.not_returned), s->tx_sent, s->tx_fail,
		c->pmd_rx_errors, c->pmd_rx_nombuf);
	for (q = 0; q < c->o->queues; q++)
		fprintf(f, "%s%" PRIu64, q == 0 ? "" : ", ", s->per_queue_rx[q]);
	fprintf(f, "], \"grows\": [");
	for (unsigned int i = 0; i < c->nb_grown; i++) {
		const struct vg_grow_done *g = &c->grows[i];

		fprintf(f,
			"%s{\"mb\": %u, \"ok\": %s, \"at_s\": %.3f, \"took_ms\": %.1f, "
			"\"mem_events\": %" PRIu64 ", \"mapped\": %" PRIu64
			", \"rx_ok_before\": %" PRIu64 ", \"heap_before\": %" PRIu64
			", \"heap_after\": %" PRIu64 "}",
			i == 0 ? "" : ", ", c->o->grow[i].mb, g->ok ? "true" : "false", g->at_s,
			g->took_ms, g->mem_events, g->mapped, g->rx_ok_before, g->heap_before,
			g->heap_after);
	}
	fprintf(f, "], \"active_queues\": %u, \"queues_at\": %d, \"link_up\": %s, "
		"\"elapsed_s\": %.3f}\n", c->active_queues, c->qat_result == 1 ? 0 : c->qat_result,
		c->link_up ? "true" : "false", elapsed);
}

/* Written to a temporary name and renamed, so a test polling for the file never reads half. */
static int
vg_report_write(const struct vg_ctx *c, const char *path, double elapsed)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	vg_report_json(c, f, elapsed);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}

static void
vg_progress(const struct vg_ctx *c, double t, bool link_up)
{
	const struct vg_stats *s = &c->st;

	fprintf(stderr, "vfr-guest: %.0fs rx_ok %" PRIu64 " bad %" PRIu64 " other %" PRIu64
		" gap %" PRIu64 " dup %" PRIu64 " reorder %" PRIu64 " oob %" PRIu64
		" stale %" PRIu64 " tx %" PRIu64 " tx_fail %" PRIu64 " link %s\n", t, s->rx_ok,
		s->rx_bad, s->rx_other, s->rx_gap, s->rx_dup, s->rx_reorder, s->rx_oob,
		(uint64_t)atomic_load_explicit(&c->watch.stale_writes, memory_order_relaxed),
		s->tx_sent, s->tx_fail, link_up ? "up" : "down");
}

/* ------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------
 */

static void
vg_usage(FILE *f)
{
	fprintf(f,
		"usage: vfr-guest EAL-ARGS --vdev=net_virtio_user0,path=SOCK,server=1,...\n"
		"                 -- [OPTIONS]\n"
		"  --mode LIST           rx, tx, echo, comma separated (default rx; every mode\n"
		"                        receives and checks)\n"
		"  --queues Q            rx/tx queue pairs (default 1, at most %u)\n"
		"  --rxd N / --txd N     ring sizes (default 256)\n"
		"  --burst N             rx/tx burst (default 32, at most %u)\n"
		"  --mbufs N             RX pool size (default 4096)\n"
		"  --mbuf-size N         RX data room incl. %u bytes headroom (default %u)\n"
		"  --mtu N               port MTU; scatter on when a frame can outgrow an mbuf\n"
		"  --count N             tx: frames to send\n"
		"  --size S | --sizes A,B,...  tx: frame sizes, cycled (default 64; >= %u)\n"
		"  --flows F             tx: flows, round-robin (default 1)\n"
		"  --rate PPS            tx: pacing (default 0: unpaced)\n"
		"  --dst-mac MAC         tx: destination (default ff:ff:ff:ff:ff:ff)\n"
		"  --expect N            exit once N valid frames were received\n"
		"  --duration SEC        exit after SEC seconds\n"
		"  --report FILE         write the JSON report there too\n"
		"  --repost-delay-us N   hold received buffers N us, recheck, then free\n"
		"  --idle-us N           sleep N us when idle (default 0: busy poll)\n"
		"  --settle-ms N         wait after closing the port before the final scan (200)\n"
		"  --inject-stale-write  self-test: write into one buffer after freeing it\n"
		"  --grow-mem MB@SEC     allocate MB MiB of DPDK memory SEC s into the run\n"
		"  --queues-at N@SEC     SEC s into the run, keep N queue pairs enabled (the\n"
		"                        others are disabled, like ethtool -L; needs cq=1)\n"
		"                        (repeatable, up to %u); with hugepages and dynamic\n"
		"                        memory virtio_user re-sends the memory table\n"
		"exit: 0 clean, 1 corruption found (rx_bad, rx_oob or stale_writes),\n"
		"      2 setup error, 3 the host did not answer the device reset\n",
		VG_MAX_QUEUES, VG_MAX_BURST, RTE_PKTMBUF_HEADROOM, RTE_MBUF_DEFAULT_BUF_SIZE,
		VG_PAYLOAD_OFF, VG_MAX_GROWS);
}

static int
vg_parse_u64(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, "vfr-guest: --%s: expected an integer in %" PRIu64 "..%" PRIu64
			", got '%s'\n", opt, min, max, arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

#define VG_PARSE(opt, arg, min, max, field) do {					\
	uint64_t v_;									\
	if (vg_parse_u64(opt, arg, min, max, &v_) != 0)					\
		return -EINVAL;								\
	field = v_;									\
} while (0)

static int
vg_parse_sizes(const char *opt, const char *arg, struct vg_opts *o)
{
	char buf[1024], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf)) {
		fprintf(stderr, "vfr-guest: --%s: list too long\n", opt);
		return -EINVAL;
	}
	strcpy(buf, arg);
	o->nb_sizes = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (o->nb_sizes == VG_MAX_SIZES) {
			fprintf(stderr, "vfr-guest: --%s: at most %u sizes\n", opt, VG_MAX_SIZES);
			return -EINVAL;
		}
		VG_PARSE(opt, tok, VG_PAYLOAD_OFF, UINT16_MAX - RTE_PKTMBUF_HEADROOM,
			 o->sizes[o->nb_sizes]);
		o->nb_sizes++;
	}
	if (o->nb_sizes == 0) {
		fprintf(stderr, "vfr-guest: --%s: no size given\n", opt);
		return -EINVAL;
	}
	return 0;
}

static int
vg_parse_mode(const char *arg, struct vg_opts *o)
{
	char buf[64], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		goto bad;
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "tx") == 0)
			o->tx = true;
		else if (strcmp(tok, "echo") == 0)
			o->echo = true;
		else if (strcmp(tok, "rx") != 0)
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "vfr-guest: --mode: expected rx, tx, echo or a comma list, got '%s'\n",
		arg);
	return -EINVAL;
}

/* MB@SEC, kept in the order given (they run in time order anyway). */
static int
vg_parse_grow(const char *arg, struct vg_opts *o)
{
	char buf[64], *at, *end;
	uint64_t mb;
	double sec;

	if (o->nb_grows == VG_MAX_GROWS) {
		fprintf(stderr, "vfr-guest: --grow-mem: at most %u\n", VG_MAX_GROWS);
		return -EINVAL;
	}
	if (strlen(arg) >= sizeof(buf) || (at = strchr(strcpy(buf, arg), '@')) == NULL)
		goto bad;
	*at = '\0';
	if (vg_parse_u64("grow-mem", buf, 1, 65536, &mb) != 0)
		return -EINVAL;
	errno = 0;
	sec = strtod(at + 1, &end);
	if (errno != 0 || end == at + 1 || *end != '\0' || !(sec >= 0))
		goto bad;
	o->grow[o->nb_grows].mb = (uint32_t)mb;
	o->grow[o->nb_grows].at_s = sec;
	o->nb_grows++;
	return 0;
bad:
	fprintf(stderr, "vfr-guest: --grow-mem: expected MB@SEC (e.g. 64@3), got '%s'\n", arg);
	return -EINVAL;
}

/* N@SEC */
static int
vg_parse_queues_at(const char *arg, struct vg_opts *o)
{
	char buf[64], *at, *end;
	double sec;

	if (strlen(arg) >= sizeof(buf) || (at = strchr(strcpy(buf, arg), '@')) == NULL)
		goto bad;
	*at = '\0';
	VG_PARSE("queues-at", buf, 1, VG_MAX_QUEUES, o->qat_pairs);
	errno = 0;
	sec = strtod(at + 1, &end);
	if (errno != 0 || end == at + 1 || *end != '\0' || !(sec >= 0))
		goto bad;
	o->qat_s = sec;
	return 0;
bad:
	fprintf(stderr, "vfr-guest: --queues-at: expected N@SEC (e.g. 1@5), got '%s'\n", arg);
	return -EINVAL;
}

enum {
	OPT_MODE = 256, OPT_QUEUES, OPT_RXD, OPT_TXD, OPT_BURST, OPT_MBUFS, OPT_MBUF_SIZE,
	OPT_MTU, OPT_COUNT, OPT_SIZE, OPT_SIZES, OPT_FLOWS, OPT_RATE, OPT_DST_MAC, OPT_EXPECT,
	OPT_DURATION, OPT_REPORT, OPT_REPOST_DELAY, OPT_IDLE, OPT_SETTLE, OPT_INJECT, OPT_GROW,
	OPT_QUEUES_AT, OPT_HELP,
};

static const struct option vg_longopts[] = {
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "rxd", required_argument, NULL, OPT_RXD },
	{ "txd", required_argument, NULL, OPT_TXD },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "mbufs", required_argument, NULL, OPT_MBUFS },
	{ "mbuf-size", required_argument, NULL, OPT_MBUF_SIZE },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "sizes", required_argument, NULL, OPT_SIZES },
	{ "flows", required_argument, NULL, OPT_FLOWS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "dst-mac", required_argument, NULL, OPT_DST_MAC },
	{ "expect", required_argument, NULL, OPT_EXPECT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "report", required_argument, NULL, OPT_REPORT },
	{ "repost-delay-us", required_argument, NULL, OPT_REPOST_DELAY },
	{ "idle-us", required_argument, NULL, OPT_IDLE },
	{ "settle-ms", required_argument, NULL, OPT_SETTLE },
	{ "inject-stale-write", no_argument, NULL, OPT_INJECT },
	{ "grow-mem", required_argument, NULL, OPT_GROW },
	{ "queues-at", required_argument, NULL, OPT_QUEUES_AT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char *
vg_optname(int val)
{
	const struct option *lo;

	for (lo = vg_longopts; lo->name != NULL; lo++)
		if (lo->val == val)
			return lo->name;
	return "?";
}

static int
vg_parse_args(int argc, char **argv, struct vg_opts *o)
{
	uint64_t frame_max;
	char *end;
	int opt;

	*o = (struct vg_opts){
		.queues = 1, .rxd = 256, .txd = 256, .burst = 32, .nb_mbufs = 4096,
		.mbuf_size = RTE_MBUF_DEFAULT_BUF_SIZE, .sizes = { 64 }, .nb_sizes = 1,
		.flows = 1, .settle_ms = 200,
	};
	memset(&o->dst, 0xff, sizeof(o->dst));

	while ((opt = getopt_long(argc, argv, "", vg_longopts, NULL)) != -1) {
		const char *name = vg_optname(opt);

		switch (opt) {
		case OPT_MODE:
			if (vg_parse_mode(optarg, o) != 0)
				return -EINVAL;
			break;
		case OPT_QUEUES:
			VG_PARSE(name, optarg, 1, VG_MAX_QUEUES, o->queues);
			break;
		case OPT_RXD:
			VG_PARSE(name, optarg, 1, 32768, o->rxd);
			break;
		case OPT_TXD:
			VG_PARSE(name, optarg, 1, 32768, o->txd);
			break;
		case OPT_BURST:
			VG_PARSE(name, optarg, 1, VG_MAX_BURST, o->burst);
			break;
		case OPT_MBUFS:
			VG_PARSE(name, optarg, 64, 1u << 20, o->nb_mbufs);
			break;
		case OPT_MBUF_SIZE:
			VG_PARSE(name, optarg, RTE_PKTMBUF_HEADROOM + 64, UINT16_MAX, o->mbuf_size);
			break;
		case OPT_MTU:
			VG_PARSE(name, optarg, RTE_ETHER_MIN_MTU, 9702, o->mtu);
			break;
		case OPT_COUNT:
			VG_PARSE(name, optarg, 0, UINT64_MAX, o->count);
			break;
		case OPT_SIZE:
		case OPT_SIZES:
			if (vg_parse_sizes(name, optarg, o) != 0)
				return -EINVAL;
			break;
		case OPT_FLOWS:
			VG_PARSE(name, optarg, 1, VG_NB_FLOWS, o->flows);
			break;
		case OPT_RATE:
			VG_PARSE(name, optarg, 0, 100000000, o->rate);
			break;
		case OPT_DST_MAC:
			if (rte_ether_unformat_addr(optarg, &o->dst) != 0) {
				fprintf(stderr, "vfr-guest: --dst-mac: expected "
					"xx:xx:xx:xx:xx:xx, got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_EXPECT:
			VG_PARSE(name, optarg, 0, UINT64_MAX, o->expect);
			break;
		case OPT_DURATION:
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(o->duration >= 0)) {
				fprintf(stderr, "vfr-guest: --duration: expected seconds >= 0, got "
					"'%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_REPORT:
			o->report = optarg;
			break;
		case OPT_REPOST_DELAY:
			VG_PARSE(name, optarg, 0, 10000000, o->repost_delay_us);
			break;
		case OPT_IDLE:
			VG_PARSE(name, optarg, 0, 100000, o->idle_us);
			break;
		case OPT_SETTLE:
			VG_PARSE(name, optarg, 0, 60000, o->settle_ms);
			break;
		case OPT_INJECT:
			o->inject_stale = true;
			break;
		case OPT_GROW:
			if (vg_parse_grow(optarg, o) != 0)
				return -EINVAL;
			break;
		case OPT_QUEUES_AT:
			if (vg_parse_queues_at(optarg, o) != 0)
				return -EINVAL;
			break;
		case OPT_HELP:
			vg_usage(stdout);
			exit(0);
		default:
			vg_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vfr-guest: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	for (unsigned int i = 1; i < o->nb_grows; i++)
		if (o->grow[i].at_s < o->grow[i - 1].at_s) {
			fprintf(stderr, "vfr-guest: --grow-mem: give them in time order\n");
			return -EINVAL;
		}
	if (o->qat_pairs > o->queues) {
		fprintf(stderr, "vfr-guest: --queues-at %u: at most --queues (%u)\n", o->qat_pairs,
			o->queues);
		return -EINVAL;
	}
	if (o->tx && o->count == 0) {
		fprintf(stderr, "vfr-guest: --mode tx needs --count N\n");
		return -EINVAL;
	}
	/* Twice the posted buffers leaves room to hold frames and lets freed ones age. */
	if (o->nb_mbufs < 2u * o->queues * (o->rxd + o->burst)) {
		fprintf(stderr, "vfr-guest: --mbufs %u: need at least 2 * queues * (rxd + burst) = "
			"%u\n", o->nb_mbufs, 2u * o->queues * (o->rxd + o->burst));
		return -EINVAL;
	}
	frame_max = (o->mtu != 0 ? o->mtu : RTE_ETHER_MTU) + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN;
	for (unsigned int i = 0; i < o->nb_sizes; i++)
		frame_max = RTE_MAX(frame_max, (uint64_t)o->sizes[i]);
	if (frame_max + RTE_PKTMBUF_HEADROOM > UINT16_MAX) {
		fprintf(stderr, "vfr-guest: frames of %" PRIu64 " bytes do not fit one TX mbuf\n",
			frame_max);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------------------------
 */

static void
vg_on_signal(int sig __rte_unused)
{
	atomic_store_explicit(&vg_stop_requested, true, memory_order_relaxed);
}

static void
vg_on_alarm(int sig __rte_unused)
{
	static const char msg[] = "vfr-guest: closing the port hangs: the host does not answer "
				  "GET_VRING_BASE\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing left to tell */
	}
	_exit(VG_EXIT_HUNG);
}

/* Application options follow "--"; parse them first so a typo fails before EAL blocks
 * waiting for the host (net_virtio_user in server mode probes only once it connects). */
static int
vg_parse_app_args(int argc, char **argv, struct vg_opts *o)
{
	char *app_argv[argc + 1];
	int i, app_argc = 1, ret;

	app_argv[0] = argv[0];
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		;
	for (i++; i < argc; i++)
		app_argv[app_argc++] = argv[i];
	app_argv[app_argc] = NULL;
	ret = vg_parse_args(app_argc, app_argv, o);
	optind = 1;
	return ret;
}

static int
vg_tx_pool_create(struct vg_ctx *c)
{
	const struct vg_opts *o = c->o;
	uint32_t room = RTE_MBUF_DEFAULT_BUF_SIZE, n;
	unsigned int i;

	room = RTE_MAX(room, (uint32_t)(o->mtu != 0 ? o->mtu : RTE_ETHER_MTU) +
			     RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + RTE_PKTMBUF_HEADROOM);
	for (i = 0; i < o->nb_sizes; i++)
		room = RTE_MAX(room, (uint32_t)o->sizes[i] + RTE_PKTMBUF_HEADROOM);
	n = o->queues * (o->txd + 2 * VG_MAX_BURST) + 512;
	c->tx_pool = rte_pktmbuf_pool_create("vfr_guest_tx", n, 64, 0, room, rte_socket_id());
	if (c->tx_pool == NULL) {
		fprintf(stderr, "vfr-guest: TX pool of %u x %u bytes: %s\n", n, room,
			rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

/*
 * --grow-mem. With hugepages and dynamic memory (no --no-huge, no --legacy-mem) a heap
 * that runs short maps more pages and runs the memory event callbacks; virtio_user's
 * disables its queue pairs, re-sends SET_MEM_TABLE and enables them again
 * (virtio_user_mem_event_cb), all inside our rte_malloc(), while the host keeps running.
 */
static void
vg_mem_event(enum rte_mem_event type, const void *addr __rte_unused, size_t len, void *arg)
{
	struct vg_ctx *c = arg;

	if (type != RTE_MEM_EVENT_ALLOC)
		return;
	atomic_fetch_add_explicit(&c->mem_alloc_events, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->mem_alloc_bytes, len, memory_order_relaxed);
}

static int
vg_grow_setup(struct vg_ctx *c)
{
	if (c->o->nb_grows == 0)
		return 0;
	if (rte_mem_event_callback_register("vfr_guest_grow", vg_mem_event, c) != 0) {
		fprintf(stderr, "vfr-guest: --grow-mem: no memory events here (%s): with --no-huge "
			"or --legacy-mem the heap never grows and virtio_user never re-sends the "
			"memory table\n", rte_strerror(rte_errno));
		return -ENOTSUP;
	}
	return 0;
}

static uint64_t
vg_heap_total(void)
{
	struct rte_malloc_socket_stats st;
	uint64_t total = 0;

	for (unsigned int i = 0; i < rte_socket_count(); i++)
		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0)
			total += st.heap_totalsz_bytes;
	return total;
}

static void
vg_grow(struct vg_ctx *c, double t)
{
	unsigned int i = c->nb_grown;
	struct vg_grow_done *g = &c->grows[i];
	size_t len = (size_t)c->o->grow[i].mb << 20;
	uint64_t ev0 = atomic_load(&c->mem_alloc_events);
	uint64_t b0 = atomic_load(&c->mem_alloc_bytes);
	uint64_t t0 = rte_rdtsc();

	g->at_s = t;
	g->rx_ok_before = c->st.rx_ok;
	g->heap_before = vg_heap_total();
	c->grow_mem[i] = rte_malloc("vfr_guest_grow", len, 0);
	if (c->grow_mem[i] != NULL)
		memset(c->grow_mem[i], 0x5a, len);
	g->took_ms = (double)(rte_rdtsc() - t0) * 1e3 / (double)c->hz;
	g->ok = c->grow_mem[i] != NULL;
	g->heap_after = vg_heap_total();
	g->mem_events = atomic_load(&c->mem_alloc_events) - ev0;
	g->mapped = atomic_load(&c->mem_alloc_bytes) - b0;
	c->nb_grown++;
	fprintf(stderr, "vfr-guest: grow-mem %u MiB at %.1fs: %s in %.1f ms, %" PRIu64
		" memory event(s) mapping %" PRIu64 " MiB, heap %" PRIu64 " -> %" PRIu64
		" MiB, rx_ok %" PRIu64 "\n", c->o->grow[i].mb, t,
		g->ok ? "allocated" : "FAILED", g->took_ms, g->mem_events, g->mapped >> 20,
		g->heap_before >> 20, g->heap_after >> 20, g->rx_ok_before);
}

int
main(int argc, char **argv)
{
	static struct vg_ctx ctx;
	struct vg_ctx *c = &ctx;
	uint64_t start, now, next_progress, end = UINT64_MAX, idle = 0;
	struct sigaction sa = { .sa_handler = vg_on_signal };
	struct vg_opts o;
	uint16_t q, n;
	bool corrupt;
	int ret;

	if (vg_parse_app_args(argc, argv, &o) != 0)
		return VG_EXIT_SETUP;
	vg_pattern_init();
	c->o = &o;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "vfr-guest: EAL init: %s\n", rte_strerror(rte_errno));
		return VG_EXIT_SETUP;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGALRM, vg_on_alarm);

	c->hz = rte_get_tsc_hz();
	c->flows = calloc(VG_NB_FLOWS, sizeof(*c->flows));
	c->tx_seq = calloc(VG_NB_FLOWS, sizeof(*c->tx_seq));
	c->held_cap = o.nb_mbufs + 1;
	c->held = calloc(c->held_cap, sizeof(*c->held));
	c->held_max_mbufs = (o.nb_mbufs - o.queues * o.rxd) / 2;
	if (c->flows == NULL || c->tx_seq == NULL || c->held == NULL) {
		fprintf(stderr, "vfr-guest: out of memory\n");
		return VG_EXIT_SETUP;
	}
	c->rx_pool = vg_rx_pool_create(&o, &c->watch);
	if (c->rx_pool == NULL) {
		fprintf(stderr, "vfr-guest: RX pool of %u x %u bytes: %s\n", o.nb_mbufs,
			o.mbuf_size, rte_strerror(rte_errno));
		return VG_EXIT_SETUP;
	}
	if (vg_tx_pool_create(c) != 0 || vg_port_setup(c) != 0 || vg_grow_setup(c) != 0)
		return VG_EXIT_SETUP;

	/* In server mode the host is connected by now; give the link a moment anyway. */
	start = rte_rdtsc();
	while (!vg_link_up(c->port) && rte_rdtsc() - start < 10 * c->hz &&
	       !atomic_load_explicit(&vg_stop_requested, memory_order_relaxed))
		rte_delay_us_sleep(10000);
	fprintf(stderr, "vfr-guest: ready: port %u " RTE_ETHER_ADDR_PRT_FMT " link %s, "
		"%u queue(s), mbuf data room %u, mode rx%s%s\n", c->port,
		RTE_ETHER_ADDR_BYTES(&c->mac), vg_link_up(c->port) ? "up" : "down", o.queues,
		o.mbuf_size, o.tx ? ",tx" : "", o.echo ? ",echo" : "");

	start = rte_rdtsc();
	c->tx_start = start;
	next_progress = start + c->hz;
	if (o.duration > 0)
		end = start + (uint64_t)(o.duration * (double)c->hz);
	while (!atomic_load_explicit(&vg_stop_requested, memory_order_relaxed)) {
		now = rte_rdtsc();
		n = 0;
		if (o.tx)
			n += vg_tx_gen(c, now);
		for (q = 0; q < c->active_queues; q++)
			n += vg_rx_queue(c, q, now);
		if (c->held_head != c->held_tail)
			vg_release_due(c, now, false);
		if (o.expect != 0 && c->st.rx_ok >= o.expect)
			break;
		if (now >= end)
			break;
		if (c->nb_grown < o.nb_grows &&
		    now - start >= (uint64_t)(o.grow[c->nb_grown].at_s * (double)c->hz))
			vg_grow(c, (double)(now - start) / (double)c->hz);
		if (o.qat_pairs != 0 && c->qat_result == 1 &&
		    now - start >= (uint64_t)(o.qat_s * (double)c->hz)) {
			c->qat_result = vg_set_queues(c, o.qat_pairs);
			fprintf(stderr,
				"vfr-guest: queues-at %.1fs: %u queue pair(s) enabled: %s\n",
				(double)(now - start) / (double)c->hz, c->active_queues,
				c->qat_result == 0 ? "ok" : rte_strerror(-c->qat_result));
		}
		if (now >= next_progress) {
			vg_progress(c, (double)(now - start) / (double)c->hz, vg_link_up(c->port));
			next_progress += c->hz;
		}
		if (n != 0) {
			idle = 0;
		} else if (o.idle_us != 0 && ++idle > 1024) {
			rte_delay_us_sleep(o.idle_us);
		}
	}

	now = rte_rdtsc();
	c->link_up = vg_link_up(c->port);
	vg_port_shutdown(c);
	vg_progress(c, (double)(now - start) / (double)c->hz, c->link_up);
	vg_report_json(c, stdout, (double)(now - start) / (double)c->hz);
	fflush(stdout);
	if (o.report != NULL) {
		ret = vg_report_write(c, o.report, (double)(now - start) / (double)c->hz);
		if (ret != 0)
			fprintf(stderr, "vfr-guest: --report %s: %s\n", o.report, strerror(-ret));
	}
	corrupt = c->st.rx_bad != 0 || c->st.rx_oob != 0 || atomic_load(&c->watch.stale_writes);
	/*
	 * No rte_eal_cleanup(): after a server-mode reconnect DPDK 22.11's virtio_user leaves a
	 * stale interrupt source ("interrupt unregister failed"), and the cleanup's alarm
	 * teardown makes the interrupt thread re-add that closed fd and panic. The verdict is
	 * in the report already; the exit code must not depend on teardown.
	 */
	return corrupt ? VG_EXIT_FOUND : 0;
}
