/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The copy datapath: librte_vhost copies frames between mbufs and guest
 * buffers. Worker lcores only: no locks of ours, no syscalls, no
 * allocation beyond the mempool, counters without atomics.
 *
 * librte_vhost validates the guest's descriptors itself on this path
 * (chains, lengths and addresses against the memory table).
 */

#include <rte_branch_prediction.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_per_lcore.h>
#include <rte_vhost.h>

#include <vfrelay/fwd.h>
#include <vfrelay/hw.h>
#include <vfrelay/vhost_backend.h>

/* The queue this lcore is inside a vhost call for, so guest_notified can count it. */
static RTE_DEFINE_PER_LCORE(struct fwd_queue *, vhost_copy_cur);

/*
 * librte_vhost stops at a descriptor it refuses (a chain loop, an address
 * outside guest memory...) and says nothing: the ring stays stuck until the
 * guest resets it. An episode counts once per run of refusals. TX: polls of
 * a ring with frames posted, many per millisecond, where a message in flight
 * refuses for a moment too. RX: a burst of real frames given to a ring that
 * had buffers posted a moment before (the same lock decides both): the first
 * refusal already is one.
 */
#define VHOST_COPY_TX_STUCK_POLLS 4096
/* Before a sleep: a spin of refusals, not one poll that met a message in flight. */
#define VHOST_COPY_TX_STUCK_SLEEP_POLLS 64
#define VHOST_COPY_RX_STUCK_GIVES 1

static inline void
vhost_copy_note_stuck(uint32_t *polls, uint64_t *episodes, bool stuck, uint32_t run)
{
	if (likely(!stuck)) {
		*polls = 0;
		return;
	}
	if (++*polls == run)
		(*episodes)++;
}

/* How librte_vhost (compliant mode) marks a guest's checksum and GSO requests. */
#define VHOST_COPY_GUEST_OFFLOAD_MASK (RTE_MBUF_F_RX_L4_CKSUM_MASK | RTE_MBUF_F_RX_LRO)

void
vhost_copy_count_notification(void)
{
	struct fwd_queue *q = RTE_PER_LCORE(vhost_copy_cur);

	if (q != NULL)
		q->stats.guest_notifications++;
}

uint16_t
vhost_copy_rx_room(struct fwd_queue *q, int vid)
{
	uint16_t room = rte_vhost_avail_entries(vid, q->qid * 2);
	uint16_t size = atomic_load_explicit(&q->rx_vring_size, memory_order_relaxed);

	/*
	 * librte_vhost trusts avail->idx: an index more than a ring ahead (or
	 * behind) would make it reuse heads the guest never re-posted. Feed
	 * such a ring nothing until the guest resets it; count each episode.
	 */
	if (unlikely(room > size && size != 0)) {
		if (!q->rx_ring_broken)
			q->stats.rx_bad_ring++;
		q->rx_ring_broken = true;
		return 0;
	}
	q->rx_ring_broken = false;
	return room;
}

uint16_t
vhost_copy_rx_take(struct fwd_queue *q, struct rte_mbuf **pkts, uint16_t room)
{
	uint16_t n;

	/*
	 * Never take more from the VF than the guest has posted: what the guest
	 * cannot take stays in the VF ring and drops there, not in host memory.
	 */
	if (room == 0)
		return 0;
	n = rte_eth_rx_burst(q->port_id, q->qid, pkts, RTE_MIN(room, q->burst));
	if (n != 0 && q->vf_rx_csum && q->guest_csum) {
		for (uint16_t i = 0; i < n; i++)
			q->stats.rx_csum_good += hw_offload_rx_csum_to_guest(pkts[i]);
	}
	return n;
}

void
vhost_copy_rx_give(struct fwd_queue *q, int vid, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t vring = q->qid * 2;
	uint16_t sent;
	uint64_t bytes = 0;

	RTE_PER_LCORE(vhost_copy_cur) = q;
	sent = rte_vhost_enqueue_burst(vid, vring, pkts, n);
	RTE_PER_LCORE(vhost_copy_cur) = NULL;

	vhost_copy_note_stuck(&q->rx_stuck_polls, &q->stats.rx_ring_stuck, sent == 0,
			      VHOST_COPY_RX_STUCK_GIVES);
	/* Enqueue is in order: the first `sent` frames reached the guest. */
	for (uint16_t i = 0; i < sent; i++)
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
	q->stats.rx_packets += sent;
	q->stats.rx_copy_packets += sent;
	q->stats.rx_bytes += bytes;
	q->stats.rx_copy_bytes += bytes;
	if (unlikely(sent < n)) {
		/* Mergeable buffers: a large frame can need more heads than counted. */
		if (atomic_load_explicit(&q->rx_enabled, memory_order_relaxed))
			q->stats.rx_drop_no_guest_buf += n - sent;
		else
			q->stats.rx_drop_guest_down += n - sent;
	}
	rte_pktmbuf_free_bulk(pkts, n);
}

unsigned int
vhost_copy_rx_burst(struct fwd_queue *q, int vid)
{
	struct rte_mbuf *pkts[FWD_BURST_MAX];
	uint16_t n = vhost_copy_rx_take(q, pkts, vhost_copy_rx_room(q, vid));

	if (n != 0)
		vhost_copy_rx_give(q, vid, pkts, n);
	return n;
}

/* Drop pkts[i] and close the gap, keeping order. */
static inline uint16_t
vhost_copy_drop_at(struct rte_mbuf **pkts, uint16_t n, uint16_t i)
{
	rte_pktmbuf_free(pkts[i]);
	for (uint16_t j = i + 1; j < n; j++)
		pkts[j - 1] = pkts[j];
	return n - 1;
}

/*
 * librte_vhost consumes a descriptor it cannot make a frame of (no room for
 * the header, a copy that failed) and says nothing: its avail index moves
 * further than the frames it returns. Read lock-free, by the only thread
 * that moves it; a control change in between shows as a step out of range.
 */
static inline uint16_t
vhost_copy_dequeue(struct fwd_queue *q, int vid, struct rte_mbuf **pkts)
{
	uint16_t vring = q->qid * 2 + 1;
	uint16_t a0, a1, u;
	uint16_t taken;
	bool known = rte_vhost_get_vring_base(vid, vring, &a0, &u) == 0;

	taken = rte_vhost_dequeue_burst(vid, vring, q->pool, pkts, q->burst);
	if (known && rte_vhost_get_vring_base(vid, vring, &a1, &u) == 0) {
		uint16_t consumed = (uint16_t)(a1 - a0);

		if (unlikely(consumed > taken) && consumed <= q->burst)
			q->stats.tx_bad_desc += consumed - taken;
	}
	return taken;
}

unsigned int
vhost_copy_tx_burst(struct fwd_queue *q, int vid)
{
	struct rte_mbuf *pkts[FWD_BURST_MAX];
	uint64_t cum_bytes[FWD_BURST_MAX];
	uint16_t n;
	uint16_t taken;
	uint16_t sent;
	uint16_t ok;

	RTE_PER_LCORE(vhost_copy_cur) = q;
	taken = vhost_copy_dequeue(q, vid, pkts);
	RTE_PER_LCORE(vhost_copy_cur) = NULL;
	if (taken == 0)
		return 0;
	q->tx_stuck_polls = 0;
	n = taken;

	/*
	 * Turn the guest's checksum/GSO requests into VF TX requests, and finish
	 * in software what the VF lacks.
	 */
	for (uint16_t i = 0; i < n;) {
		int r;

		if (likely(!(pkts[i]->ol_flags & VHOST_COPY_GUEST_OFFLOAD_MASK))) {
			i++;
			continue;
		}
		r = hw_offload_guest_tx_request(pkts[i]);
		if (r == HW_OFFLOAD_GUEST_REQUEST)
			r = hw_offload_tx_fixup(pkts[i], q->vf_tx_offloads);
		else if (r == HW_OFFLOAD_GUEST_DONE)
			r = 1;
		if (unlikely(r < 0)) {
			q->stats.tx_drop_bad_offload++;
			n = vhost_copy_drop_at(pkts, n, i);
			continue;
		}
		q->stats.tx_sw_csum += (uint64_t)r;
		i++;
	}
	if (q->vf_tx_offloads != 0 && n != 0) {
		ok = rte_eth_tx_prepare(q->port_id, q->qid, pkts, n);
		while (unlikely(ok < n)) {
			q->stats.tx_drop_bad_offload++;
			n = vhost_copy_drop_at(pkts, n, ok);
			ok += rte_eth_tx_prepare(q->port_id, q->qid, &pkts[ok], n - ok);
		}
	}

	/* Lengths before sending: the PMD may free a sent mbuf at any time. */
	for (uint16_t i = 0; i < n; i++)
		cum_bytes[i] = (i ? cum_bytes[i - 1] : 0) + rte_pktmbuf_pkt_len(pkts[i]);

	sent = rte_eth_tx_burst(q->port_id, q->qid, pkts, n);
	for (uint16_t tries = 0; sent < n && tries < q->tx_retries; tries++)
		sent += rte_eth_tx_burst(q->port_id, q->qid, &pkts[sent], n - sent);

	q->stats.tx_packets += sent;
	if (sent != 0)
		q->stats.tx_bytes += cum_bytes[sent - 1];
	if (unlikely(sent < n)) {
		q->stats.tx_drop_vf_full += n - sent;
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
	}
	return taken;
}

void
vhost_copy_tx_idle(struct fwd_queue *q, int vid)
{
	/* avail_entries waits for the vring lock: never inside a zero-copy busy window. */
	vhost_copy_note_stuck(&q->tx_stuck_polls, &q->stats.tx_ring_stuck,
			      rte_vhost_avail_entries(vid, q->qid * 2 + 1) != 0,
			      VHOST_COPY_TX_STUCK_POLLS);
}

void
vhost_copy_tx_sleep(struct fwd_queue *q)
{
	if (q->tx_stuck_polls >= VHOST_COPY_TX_STUCK_SLEEP_POLLS &&
	    q->tx_stuck_polls < VHOST_COPY_TX_STUCK_POLLS) {
		q->tx_stuck_polls = VHOST_COPY_TX_STUCK_POLLS;
		q->stats.tx_ring_stuck++;
	}
}
