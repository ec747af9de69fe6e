/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Offload mapping guest <-> VF, on hand-built frames (no EAL needed). */

#include <linux/virtio_net.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>
#include <rte_tcp.h>

#include <vfrelay/hw.h>

struct frame {
	struct rte_mbuf m;
	uint8_t buf[4096];
};

static struct frame fr;

/* Ones' complement sum of big-endian 16-bit words, not folded. */
static uint32_t
sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The pseudo-header sum (RFC 768/793, RFC 8200 8.1), folded, in network order. */
static uint16_t
pseudo_sum(const uint8_t *src, const uint8_t *dst, size_t alen, uint8_t proto, uint32_t l4len)
{
	uint8_t tail[8] = {0, 0, 0, 0, 0, 0, 0, proto};
	uint32_t s;

	tail[0] = (uint8_t)(l4len >> 24);
	tail[1] = (uint8_t)(l4len >> 16);
	tail[2] = (uint8_t)(l4len >> 8);
	tail[3] = (uint8_t)l4len;
	s = sum16(src, alen, 0);
	s = sum16(dst, alen, s);
	s = sum16(tail, sizeof(tail), s);
	return rte_cpu_to_be_16(fold(s));
}

/*
 * Ethernet + IPv4 (or IPv6 with @ext bytes of destination-options headers) + UDP/TCP with
 * a payload pattern. The checksum field holds what a guest puts there with NEEDS_CSUM: the
 * pseudo-header sum. The bytes after the frame are not zero, so a sum that reads past the
 * end comes out wrong.
 */
static struct rte_mbuf *
build_ext(bool v6, uint8_t proto, uint16_t payload, uint16_t ext)
{
	uint8_t *p;
	uint16_t l4len =
		(proto == IPPROTO_UDP ? sizeof(struct rte_udp_hdr) : sizeof(struct rte_tcp_hdr)) +
		payload;
	uint16_t l3len = (v6 ? sizeof(struct rte_ipv6_hdr) : sizeof(struct rte_ipv4_hdr)) + ext;
	struct rte_ether_hdr *eth;
	uint16_t seed;

	memset(&fr, 0, sizeof(fr));
	memset(fr.buf, 0xa5, sizeof(fr.buf));
	fr.m.buf_addr = fr.buf;
	fr.m.buf_len = sizeof(fr.buf);
	fr.m.data_off = RTE_PKTMBUF_HEADROOM;
	fr.m.nb_segs = 1;
	rte_mbuf_refcnt_set(&fr.m, 1);
	p = rte_pktmbuf_mtod(&fr.m, uint8_t *);
	memset(p, 0, sizeof(*eth) + l3len + l4len);
	eth = (struct rte_ether_hdr *)p;
	eth->ether_type = rte_cpu_to_be_16(v6 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4);
	p += sizeof(*eth);
	if (v6) {
		struct rte_ipv6_hdr *ip6 = (void *)p;
		uint8_t *opt = p + sizeof(*ip6);

		ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip6->payload_len = rte_cpu_to_be_16(ext + l4len);
		ip6->proto = ext ? IPPROTO_DSTOPTS : proto;
		ip6->hop_limits = 64;
		ip6->src_addr[15] = 1;
		ip6->dst_addr[15] = 2;
		/* Destination options of at most 2048 bytes each (PadN fills them). */
		for (uint16_t left = ext; left != 0;) {
			uint16_t n = RTE_MIN(left, (uint16_t)2048);

			opt[0] = left == n ? proto : IPPROTO_DSTOPTS;
			opt[1] = (uint8_t)(n / 8 - 1);
			opt[2] = 1; /* PadN */
			opt[3] = (uint8_t)(n - 4);
			opt += n;
			left -= n;
		}
		seed = pseudo_sum(ip6->src_addr, ip6->dst_addr, 16, proto, l4len);
	} else {
		struct rte_ipv4_hdr *ip = (void *)p;

		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16(l3len + l4len);
		ip->time_to_live = 64;
		ip->next_proto_id = proto;
		ip->src_addr = rte_cpu_to_be_32(0x0a000001);
		ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		seed = pseudo_sum((const uint8_t *)&ip->src_addr, (const uint8_t *)&ip->dst_addr, 4,
				  proto, l4len);
	}
	p += l3len;
	if (proto == IPPROTO_UDP) {
		struct rte_udp_hdr *u = (void *)p;

		u->src_port = rte_cpu_to_be_16(1234);
		u->dst_port = rte_cpu_to_be_16(5678);
		u->dgram_len = rte_cpu_to_be_16(l4len);
		u->dgram_cksum = seed;
		p += sizeof(*u);
	} else {
		struct rte_tcp_hdr *t = (void *)p;

		t->data_off = 5 << 4;
		t->cksum = seed;
		p += sizeof(*t);
	}
	for (uint16_t i = 0; i < payload; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	fr.m.data_len = (uint16_t)(sizeof(*eth) + l3len + l4len);
	fr.m.pkt_len = fr.m.data_len;
	fr.m.l2_len = sizeof(*eth);
	fr.m.l3_len = l3len & 0x1ff;
	return &fr.m;
}

static struct rte_mbuf *
build(bool v6, uint8_t proto, uint16_t payload)
{
	return build_ext(v6, proto, payload, 0);
}

/*
 * 0 if the L4 checksum of the frame built last verifies, by an independent reference: the
 * ones' complement sum of pseudo-header and L4 segment is 0xffff. Independent of mbuf
 * length fields, which a test may have changed.
 */
static int
l4_verify_frame(bool v6, uint8_t proto, uint16_t l3len)
{
	const uint8_t *l3 = fr.buf + RTE_PKTMBUF_HEADROOM + sizeof(struct rte_ether_hdr);
	const uint8_t *l4 = l3 + l3len;
	uint32_t l4len;
	uint32_t s;

	if (v6) {
		const struct rte_ipv6_hdr *ip6 = (const void *)l3;

		l4len = sizeof(*ip6) + rte_be_to_cpu_16(ip6->payload_len) - l3len;
		s = rte_be_to_cpu_16(pseudo_sum(ip6->src_addr, ip6->dst_addr, 16, proto, l4len));
	} else {
		const struct rte_ipv4_hdr *ip = (const void *)l3;

		l4len = rte_be_to_cpu_16(ip->total_length) - l3len;
		s = rte_be_to_cpu_16(pseudo_sum((const uint8_t *)&ip->src_addr,
						(const uint8_t *)&ip->dst_addr, 4, proto, l4len));
	}
	return fold(sum16(l4, l4len, s)) == 0xffff ? 0 : -1;
}

static int
l4_verify(struct rte_mbuf *m, bool v6)
{
	void *l3 = rte_pktmbuf_mtod_offset(m, void *, m->l2_len);
	uint8_t proto = v6 ? ((struct rte_ipv6_hdr *)l3)->proto
			   : ((struct rte_ipv4_hdr *)l3)->next_proto_id;

	return l4_verify_frame(v6, proto, m->l3_len);
}

static void
test_unsupported_mask(void **state)
{
	(void)state;
	assert_int_equal(hw_offload_tx_unsupported(RTE_MBUF_F_TX_TCP_CKSUM, 0),
			 RTE_MBUF_F_TX_TCP_CKSUM);
	assert_int_equal(
		hw_offload_tx_unsupported(RTE_MBUF_F_TX_TCP_CKSUM, RTE_ETH_TX_OFFLOAD_TCP_CKSUM),
		0);
	/* UDP is value 3 of the 2-bit L4 field: TCP (1) support must not satisfy it */
	assert_int_equal(
		hw_offload_tx_unsupported(RTE_MBUF_F_TX_UDP_CKSUM, RTE_ETH_TX_OFFLOAD_TCP_CKSUM),
		RTE_MBUF_F_TX_UDP_CKSUM);
	assert_int_equal(hw_offload_tx_unsupported(RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM |
							   RTE_MBUF_F_TX_IP_CKSUM,
						   RTE_ETH_TX_OFFLOAD_TCP_CKSUM),
			 RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IP_CKSUM);
	assert_int_equal(hw_offload_tx_unsupported(0, 0), 0);
}

static void
test_features_withheld_without_tso(void **state)
{
	uint64_t d;

	(void)state;
	d = hw_offload_virtio_features_to_disable(RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
	assert_true(d & (1ULL << VIRTIO_NET_F_HOST_TSO4));
	assert_true(d & (1ULL << VIRTIO_NET_F_HOST_TSO6));
	assert_true(d & (1ULL << VIRTIO_NET_F_HOST_UFO));
	/* checksum offload stays offered: we finish it in software */
	assert_false(d & (1ULL << VIRTIO_NET_F_CSUM));
	assert_false(d & (1ULL << VIRTIO_NET_F_GUEST_CSUM));
	assert_false(d & (1ULL << VIRTIO_NET_F_MRG_RXBUF));

	d = hw_offload_virtio_features_to_disable(RTE_ETH_TX_OFFLOAD_TCP_TSO);
	assert_false(d & (1ULL << VIRTIO_NET_F_HOST_TSO4));
}

static void
test_sw_udp4_checksum(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_UDP, 333);

	(void)state;
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
	assert_int_not_equal(l4_verify(m, false), 0);
	assert_int_equal(hw_offload_tx_fixup(m, 0), 1);
	assert_int_equal(l4_verify(m, false), 0);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, 0);
}

static void
test_sw_tcp6_checksum(void **state)
{
	struct rte_mbuf *m = build(true, IPPROTO_TCP, 1000);

	(void)state;
	m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM;
	assert_int_equal(hw_offload_tx_fixup(m, RTE_ETH_TX_OFFLOAD_UDP_CKSUM), 1);
	assert_int_equal(l4_verify(m, true), 0);
}

static void
test_vf_offload_left_alone(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_TCP, 10);
	uint16_t seed = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34)->cksum;

	(void)state;
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
	assert_int_equal(hw_offload_tx_fixup(m, RTE_ETH_TX_OFFLOAD_TCP_CKSUM), 0);
	/* the VF computes it: the frame and the request are untouched */
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
	assert_int_equal(rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34)->cksum, seed);
}

static void
test_ip_header_checksum(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_UDP, 20);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);

	(void)state;
	ip->hdr_checksum = 0x1234;
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	assert_int_equal(hw_offload_tx_fixup(m, 0), 1);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM, 0);
	uint16_t got = ip->hdr_checksum;
	ip->hdr_checksum = 0;
	assert_int_equal(rte_ipv4_cksum(ip), got);
	assert_int_not_equal(got, 0x1234);
}

static void
test_hostile_lengths_rejected(void **state)
{
	struct rte_mbuf *m;

	(void)state;
	/* l3_len pointing the checksum field past the end of the frame */
	m = build(false, IPPROTO_UDP, 4);
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
	m->l3_len = 200;
	assert_int_equal(hw_offload_tx_fixup(m, 0), -EINVAL);

	/* IPv4 total_length larger than the frame */
	m = build(false, IPPROTO_UDP, 4);
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->total_length =
		rte_cpu_to_be_16(1500);
	assert_int_equal(hw_offload_tx_fixup(m, 0), -EINVAL);

	/* neither IPv4 nor IPv6 said */
	m = build(false, IPPROTO_UDP, 4);
	m->ol_flags = RTE_MBUF_F_TX_UDP_CKSUM;
	assert_int_equal(hw_offload_tx_fixup(m, 0), -EINVAL);

	/* IPv6 payload_len larger than the frame */
	m = build(true, IPPROTO_TCP, 4);
	m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM;
	rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14)->payload_len = rte_cpu_to_be_16(9000);
	assert_int_equal(hw_offload_tx_fixup(m, 0), -EINVAL);

	/* SCTP's CRC is not done in software */
	m = build(false, IPPROTO_UDP, 4);
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_SCTP_CKSUM;
	assert_int_equal(hw_offload_tx_fixup(m, 0), -EINVAL);

	/* segmentation the VF cannot do is never emulated */
	m = build(false, IPPROTO_TCP, 100);
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
	assert_int_equal(hw_offload_tx_fixup(m, RTE_ETH_TX_OFFLOAD_TCP_CKSUM), -EINVAL);
}

static void
test_guest_partial_csum_becomes_tx_request(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_UDP, 100);

	(void)state;
	m->l2_len = m->l3_len = 0;
	/* what librte_vhost (compliant mode) sets for NEEDS_CSUM */
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE;
	assert_int_equal(hw_offload_guest_tx_request(m), 1);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_UDP_CKSUM);
	assert_true(m->ol_flags & RTE_MBUF_F_TX_IPV4);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);
	assert_int_equal(m->l4_len, 8);
	/* and the software fallback then completes it */
	assert_int_equal(hw_offload_tx_fixup(m, 0), 1);
	assert_int_equal(l4_verify(m, false), 0);
}

static void
test_guest_gso_becomes_tso_request(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_TCP, 1000);

	(void)state;
	m->ol_flags = RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
	m->tso_segsz = 500;
	assert_int_equal(hw_offload_guest_tx_request(m), 1);
	assert_true(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG);
	assert_true(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM);
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
	assert_int_equal(m->l4_len, 20);
	/* a VF without TSO never gets it: the frame is refused (and counted) */
	assert_int_equal(hw_offload_tx_fixup(m, RTE_ETH_TX_OFFLOAD_TCP_CKSUM), -EINVAL);
}

static void
test_guest_request_without_l4_refused(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_UDP, 64);

	(void)state;
	m->ol_flags = 0;
	assert_int_equal(hw_offload_guest_tx_request(m), 0);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->next_proto_id = IPPROTO_ICMP;
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE;
	assert_int_equal(hw_offload_guest_tx_request(m), -EINVAL);
}

/* The review's reproducer: IPv6 with extension headers over a VF without L4 offload. */
static void
test_guest_ipv6_ext_headers_csum(void **state)
{
	static const uint16_t exts[] = {8, 64, 464, 472, 608, 2048 + 64};
	static const uint8_t protos[] = {IPPROTO_UDP, IPPROTO_TCP};

	(void)state;
	for (size_t i = 0; i < RTE_DIM(exts); i++) {
		for (size_t j = 0; j < RTE_DIM(protos); j++) {
			uint16_t l3len = sizeof(struct rte_ipv6_hdr) + exts[i];
			struct rte_mbuf *m = build_ext(true, protos[j], 300, exts[i]);
			uint64_t vf;

			/* Finished in software whatever the VF offers: no VF can be told how. */
			vf = j ? RTE_ETH_TX_OFFLOAD_TCP_CKSUM : RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
			m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE;
			assert_int_equal(hw_offload_guest_tx_request(m), HW_OFFLOAD_GUEST_DONE);
			assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, 0);
			assert_int_equal(hw_offload_tx_fixup(m, vf), 0);
			assert_int_equal(l4_verify_frame(true, protos[j], l3len), 0);
		}
	}

	/* GSO with headers the mbuf cannot describe: refused, never cut short. */
	{
		struct rte_mbuf *m = build_ext(true, IPPROTO_TCP, 1000, 608);

		m->ol_flags = RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
		m->tso_segsz = 500;
		assert_int_equal(hw_offload_guest_tx_request(m), -EINVAL);
	}
	/* An IPv6 payload_len past the frame: refused, nothing summed. */
	{
		struct rte_mbuf *m = build_ext(true, IPPROTO_UDP, 100, 16);

		rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, 14)->payload_len =
			rte_cpu_to_be_16(1000);
		m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE;
		assert_int_equal(hw_offload_guest_tx_request(m), -EINVAL);
	}
}

/* Short frames are padded to 60 bytes: the sum must stop where IP says. */
static void
test_padded_frame_csum(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_UDP, 2);

	(void)state;
	m->data_len = m->pkt_len = 60;
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_NONE;
	assert_int_equal(hw_offload_guest_tx_request(m), HW_OFFLOAD_GUEST_REQUEST);
	assert_int_equal(hw_offload_tx_fixup(m, 0), 1);
	assert_int_equal(l4_verify(m, false), 0);
}

static void
test_rx_csum_good_reaches_guest(void **state)
{
	struct rte_mbuf *m = build(false, IPPROTO_UDP, 64);

	(void)state;
	m->l2_len = m->l3_len = 0;
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD | RTE_MBUF_F_RX_IP_CKSUM_GOOD;
	assert_true(hw_offload_rx_csum_to_guest(m));
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_UDP_CKSUM);
	assert_true(m->ol_flags & RTE_MBUF_F_TX_IPV4);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);

	m = build(true, IPPROTO_TCP, 64);
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	assert_true(hw_offload_rx_csum_to_guest(m));
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
	assert_int_equal(m->l3_len, 40);
}

static void
test_rx_csum_not_good_is_not_trusted(void **state)
{
	struct rte_mbuf *m;

	(void)state;
	m = build(false, IPPROTO_UDP, 64);
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_BAD;
	assert_false(hw_offload_rx_csum_to_guest(m));
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, 0);

	m = build(false, IPPROTO_UDP, 64);
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN;
	assert_false(hw_offload_rx_csum_to_guest(m));

	m = build(false, IPPROTO_UDP, 64);
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD | RTE_MBUF_F_RX_IP_CKSUM_BAD;
	assert_false(hw_offload_rx_csum_to_guest(m));

	/* not TCP/UDP: nothing to mark */
	m = build(false, IPPROTO_UDP, 64);
	rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14)->next_proto_id = IPPROTO_ICMP;
	m->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	assert_false(hw_offload_rx_csum_to_guest(m));
	assert_int_equal(m->ol_flags & (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_L4_MASK), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsupported_mask),
		cmocka_unit_test(test_features_withheld_without_tso),
		cmocka_unit_test(test_sw_udp4_checksum),
		cmocka_unit_test(test_sw_tcp6_checksum),
		cmocka_unit_test(test_vf_offload_left_alone),
		cmocka_unit_test(test_ip_header_checksum),
		cmocka_unit_test(test_hostile_lengths_rejected),
		cmocka_unit_test(test_guest_partial_csum_becomes_tx_request),
		cmocka_unit_test(test_guest_gso_becomes_tso_request),
		cmocka_unit_test(test_guest_request_without_l4_refused),
		cmocka_unit_test(test_guest_ipv6_ext_headers_csum),
		cmocka_unit_test(test_padded_frame_csum),
		cmocka_unit_test(test_rx_csum_good_reaches_guest),
		cmocka_unit_test(test_rx_csum_not_good_is_not_trusted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
