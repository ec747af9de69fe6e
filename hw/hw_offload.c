/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Offload mapping between the guest (librte_vhost with
 * RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS, so mbuf flags mean what ethdev
 * means) and the VF. What the VF cannot do is finished here in software or,
 * for segmentation, never offered to the guest in the first place.
 */

#include <errno.h>
#include <string.h>
#include <linux/virtio_net.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_net.h>

#include <vfrelay/hw.h>

/* mbuf TX request -> the port offload that satisfies it */
static const struct {
	uint64_t ol_flag;
	uint64_t vf_offload;
} hw_offload_tx_map[] = {
	{RTE_MBUF_F_TX_IP_CKSUM, RTE_ETH_TX_OFFLOAD_IPV4_CKSUM},
	{RTE_MBUF_F_TX_TCP_CKSUM, RTE_ETH_TX_OFFLOAD_TCP_CKSUM},
	{RTE_MBUF_F_TX_UDP_CKSUM, RTE_ETH_TX_OFFLOAD_UDP_CKSUM},
	{RTE_MBUF_F_TX_SCTP_CKSUM, RTE_ETH_TX_OFFLOAD_SCTP_CKSUM},
	{RTE_MBUF_F_TX_TCP_SEG, RTE_ETH_TX_OFFLOAD_TCP_TSO},
	{RTE_MBUF_F_TX_UDP_SEG, RTE_ETH_TX_OFFLOAD_UDP_TSO},
};

uint64_t
hw_offload_virtio_features_to_disable(uint64_t vf_tx_offloads)
{
	uint64_t disable = 0;

	/*
	 * Segmenting a 64 KiB super-frame in software costs more than letting
	 * the guest kernel do it, so withhold TSO rather than emulate it.
	 */
	if (!(vf_tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO))
		disable |= (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
			   (1ULL << VIRTIO_NET_F_HOST_ECN);
	if (!(vf_tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_TSO))
		disable |= 1ULL << VIRTIO_NET_F_HOST_UFO;
	/* We never produce GSO frames towards the guest: the VF runs without LRO. */
	disable |= (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
		   (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO);
	return disable;
}

uint64_t
hw_offload_tx_unsupported(uint64_t ol_flags, uint64_t vf_tx_offloads)
{
	uint64_t missing = 0;

	for (size_t i = 0; i < RTE_DIM(hw_offload_tx_map); i++) {
		uint64_t f = hw_offload_tx_map[i].ol_flag;

		/* TX_L4_MASK values are a 2-bit enum, not independent bits. */
		if (f & RTE_MBUF_F_TX_L4_MASK) {
			if ((ol_flags & RTE_MBUF_F_TX_L4_MASK) != f)
				continue;
		} else if (!(ol_flags & f)) {
			continue;
		}
		if (!(vf_tx_offloads & hw_offload_tx_map[i].vf_offload))
			missing |= f;
	}
	return missing;
}

/*
 * Where the L4 payload ends, from the IP header (never the frame length: short
 * frames are padded), or 0 if the headers do not describe a frame that fits.
 */
static uint32_t
hw_offload_l4_end(const struct rte_mbuf *m, uint32_t l2_len, uint32_t l4_off)
{
	uint32_t len = rte_pktmbuf_data_len(m);
	uint32_t end;

	if (m->ol_flags & RTE_MBUF_F_TX_IPV4) {
		const struct rte_ipv4_hdr *ip;

		if (l2_len + sizeof(*ip) > len)
			return 0;
		ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, l2_len);
		end = l2_len + rte_be_to_cpu_16(ip->total_length);
	} else if (m->ol_flags & RTE_MBUF_F_TX_IPV6) {
		const struct rte_ipv6_hdr *ip6;

		if (l2_len + sizeof(*ip6) > len)
			return 0;
		ip6 = rte_pktmbuf_mtod_offset(m, const struct rte_ipv6_hdr *, l2_len);
		/* payload_len counts extension headers too: it ends where the IPv6 packet does */
		end = l2_len + sizeof(*ip6) + rte_be_to_cpu_16(ip6->payload_len);
	} else {
		return 0;
	}
	return end <= len && end > l4_off ? end : 0;
}

/*
 * Finish an L4 checksum the way virtio defines NEEDS_CSUM: the guest has put
 * the pseudo-header sum in the checksum field, the device sums from the L4
 * header to the end of the L4 payload and stores the result there. The
 * guest's stack chose the pseudo-header (upper-layer length, final
 * destination), so extension headers and routing headers need nothing here.
 */
static int
hw_offload_sw_l4_csum(struct rte_mbuf *m, uint64_t l4_kind, uint32_t l2_len, uint32_t l4_off)
{
	uint32_t field;
	uint32_t end;
	uint16_t csum;
	uint8_t *l4;

	switch (l4_kind) {
	case RTE_MBUF_F_TX_TCP_CKSUM:
		field = 16; /* offsetof(struct rte_tcp_hdr, cksum) */
		break;
	case RTE_MBUF_F_TX_UDP_CKSUM:
		field = 6; /* offsetof(struct rte_udp_hdr, dgram_cksum) */
		break;
	default:
		return -EINVAL; /* SCTP CRC in software is not worth carrying */
	}
	/* The guest controls every length here: the sum must stay inside the frame. */
	if (m->nb_segs != 1 || l2_len == 0)
		return -EINVAL;
	end = hw_offload_l4_end(m, l2_len, l4_off);
	if (end == 0 || l4_off + field + 2u > end)
		return -EINVAL;
	l4 = rte_pktmbuf_mtod_offset(m, uint8_t *, l4_off);
	csum = (uint16_t)~rte_raw_cksum(l4, end - l4_off);
	/* UDP: 0 means "no checksum"; its ones' complement twin says the same sum. */
	if (csum == 0 && l4_kind == RTE_MBUF_F_TX_UDP_CKSUM)
		csum = 0xffff;
	memcpy(l4 + field, &csum, sizeof(csum));
	return 0;
}

int
hw_offload_tx_fixup(struct rte_mbuf *m, uint64_t vf_tx_offloads)
{
	uint64_t missing = hw_offload_tx_unsupported(m->ol_flags, vf_tx_offloads);
	int done = 0;

	if (likely(missing == 0))
		return 0;
	/* L4 requests are a 2-bit enum: compare, never AND, against SCTP. */
	if ((missing & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) ||
	    (missing & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_SCTP_CKSUM)
		return -EINVAL;

	if (missing & RTE_MBUF_F_TX_L4_MASK) {
		if (m->l3_len == 0 || hw_offload_sw_l4_csum(m, m->ol_flags & RTE_MBUF_F_TX_L4_MASK,
							    m->l2_len,
							    (uint32_t)m->l2_len + m->l3_len) < 0)
			return -EINVAL;
		m->ol_flags &= ~RTE_MBUF_F_TX_L4_MASK;
		done = 1;
	}
	if (missing & RTE_MBUF_F_TX_IP_CKSUM) {
		struct rte_ipv4_hdr *ip;

		if (m->nb_segs != 1 || m->l3_len < sizeof(*ip) ||
		    (uint32_t)m->l2_len + m->l3_len > rte_pktmbuf_data_len(m))
			return -EINVAL;
		ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, m->l2_len);
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		m->ol_flags &= ~RTE_MBUF_F_TX_IP_CKSUM;
		done = 1;
	}
	return done;
}

int
hw_offload_guest_tx_request(struct rte_mbuf *m)
{
	uint64_t f = m->ol_flags;
	bool partial = (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_NONE;
	bool gso = (f & RTE_MBUF_F_RX_LRO) != 0;
	struct rte_net_hdr_lens lens;
	uint32_t ptype;

	if (likely(!partial && !gso))
		return 0;
	/* The RX-style marks mean nothing to a TX queue: replace them. */
	m->ol_flags &=
		~(RTE_MBUF_F_RX_L4_CKSUM_MASK | RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_LRO);
	ptype = rte_net_get_ptype(m, &lens,
				  RTE_PTYPE_L2_MASK | RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK);
	if (RTE_ETH_IS_IPV4_HDR(ptype))
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
	else if (RTE_ETH_IS_IPV6_HDR(ptype))
		m->ol_flags |= RTE_MBUF_F_TX_IPV6;
	else
		return -EINVAL;
	/*
	 * A VF is told the L2/L3 lengths in 7/9-bit mbuf fields, and DPDK's
	 * pseudo-header preparation for it (rte_net_intel_cksum_prepare) takes
	 * IPv6's next header as the L4 protocol: IPv6 with extension headers, or
	 * headers too long for the fields, are finished here in software.
	 */
	if (lens.l2_len > 127 || lens.l3_len > 511 ||
	    (RTE_ETH_IS_IPV6_HDR(ptype) && lens.l3_len != sizeof(struct rte_ipv6_hdr))) {
		uint64_t kind;

		if (gso)
			return -EINVAL;
		switch (ptype & RTE_PTYPE_L4_MASK) {
		case RTE_PTYPE_L4_TCP:
			kind = RTE_MBUF_F_TX_TCP_CKSUM;
			break;
		case RTE_PTYPE_L4_UDP:
			kind = RTE_MBUF_F_TX_UDP_CKSUM;
			break;
		default:
			return -EINVAL;
		}
		if (hw_offload_sw_l4_csum(m, kind, lens.l2_len,
					  (uint32_t)lens.l2_len + lens.l3_len) < 0)
			return -EINVAL;
		return HW_OFFLOAD_GUEST_DONE;
	}
	m->l2_len = lens.l2_len;
	m->l3_len = lens.l3_len;
	m->l4_len = lens.l4_len;
	switch (ptype & RTE_PTYPE_L4_MASK) {
	case RTE_PTYPE_L4_TCP:
		m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
		if (gso) /* segments need their own IPv4 header checksums too */
			m->ol_flags |=
				RTE_MBUF_F_TX_TCP_SEG |
				(m->ol_flags & RTE_MBUF_F_TX_IPV4 ? RTE_MBUF_F_TX_IP_CKSUM : 0);
		break;
	case RTE_PTYPE_L4_UDP:
		m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
		if (gso)
			m->ol_flags |=
				RTE_MBUF_F_TX_UDP_SEG |
				(m->ol_flags & RTE_MBUF_F_TX_IPV4 ? RTE_MBUF_F_TX_IP_CKSUM : 0);
		break;
	default:
		/* SCTP's CRC or an unknown protocol: nothing we can finish. */
		return -EINVAL;
	}
	return HW_OFFLOAD_GUEST_REQUEST;
}

bool
hw_offload_rx_csum_to_guest(struct rte_mbuf *m)
{
	struct rte_net_hdr_lens lens;
	uint32_t ptype;

	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return false;
	/* IPv4 header checksum must be good too, or the guest would trust a bad frame. */
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return false;

	ptype = rte_net_get_ptype(m, &lens,
				  RTE_PTYPE_L2_MASK | RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK);
	if (RTE_ETH_IS_IPV4_HDR(ptype))
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
	else if (RTE_ETH_IS_IPV6_HDR(ptype))
		m->ol_flags |= RTE_MBUF_F_TX_IPV6;
	else
		return false;

	/*
	 * librte_vhost only writes a header the guest trusts for a partial
	 * checksum (NEEDS_CSUM), never DATA_VALID: a Linux guest takes
	 * CHECKSUM_PARTIAL as verified, and recomputes it if it forwards.
	 */
	switch (ptype & RTE_PTYPE_L4_MASK) {
	case RTE_PTYPE_L4_TCP:
		m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
		break;
	case RTE_PTYPE_L4_UDP:
		m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
		break;
	default:
		m->ol_flags &= ~(RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6);
		return false;
	}
	m->l2_len = lens.l2_len;
	m->l3_len = lens.l3_len;
	return true;
}
