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
	uint8_t buf[2048];
};

static struct frame fr;

/* Ethernet + IPv4 (or IPv6) + UDP/TCP with a payload pattern; checksums left as the guest leaves
 * them. */
static struct rte_mbuf *
build(bool v6, uint8_t proto, uint16_t payload)
{
	uint8_t *p;
	uint16_t l4len =
		(proto == IPPROTO_UDP ? sizeof(struct rte_udp_hdr) : sizeof(struct rte_tcp_hdr)) +
		payload;
	uint16_t l3len = v6 ? sizeof(struct rte_ipv6_hdr) : sizeof(struct rte_ipv4_hdr);
	struct rte_ether_hdr *eth;

	memset(&fr, 0, sizeof(fr));
	fr.m.buf_addr = fr.buf;
	fr.m.buf_len = sizeof(fr.buf);
	fr.m.data_off = RTE_PKTMBUF_HEADROOM;
	fr.m.nb_segs = 1;
	rte_mbuf_refcnt_set(&fr.m, 1);
	p = rte_pktmbuf_mtod(&fr.m, uint8_t *);
	eth = (struct rte_ether_hdr *)p;
	eth->ether_type = rte_cpu_to_be_16(v6 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4);
	p += sizeof(*eth);
	if (v6) {
		struct rte_ipv6_hdr *ip6 = (void *)p;

		ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip6->payload_len = rte_cpu_to_be_16(l4len);
		ip6->proto = proto;
		ip6->hop_limits = 64;
		ip6->src_addr[15] = 1;
		ip6->dst_addr[15] = 2;
	} else {
		struct rte_ipv4_hdr *ip = (void *)p;

		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16(l3len + l4len);
		ip->time_to_live = 64;
		ip->next_proto_id = proto;
		ip->src_addr = rte_cpu_to_be_32(0x0a000001);
		ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
	p += l3len;
	if (proto == IPPROTO_UDP) {
		struct rte_udp_hdr *u = (void *)p;

		u->src_port = rte_cpu_to_be_16(1234);
		u->dst_port = rte_cpu_to_be_16(5678);
		u->dgram_len = rte_cpu_to_be_16(l4len);
		u->dgram_cksum = 0xbeef; /* garbage, as a partial checksum would be */
		p += sizeof(*u);
	} else {
		struct rte_tcp_hdr *t = (void *)p;

		t->data_off = 5 << 4;
		t->cksum = 0xbeef;
		p += sizeof(*t);
	}
	for (uint16_t i = 0; i < payload; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	fr.m.data_len = (uint16_t)(sizeof(*eth) + l3len + l4len);
	fr.m.pkt_len = fr.m.data_len;
	fr.m.l2_len = sizeof(*eth);
	fr.m.l3_len = l3len;
	return &fr.m;
}

static int
l4_verify(struct rte_mbuf *m, bool v6)
{
	void *l3 = rte_pktmbuf_mtod_offset(m, void *, m->l2_len);
	void *l4 = rte_pktmbuf_mtod_offset(m, void *, m->l2_len + m->l3_len);

	return v6 ? rte_ipv6_udptcp_cksum_verify(l3, l4) : rte_ipv4_udptcp_cksum_verify(l3, l4);
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

	(void)state;
	m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
	assert_int_equal(hw_offload_tx_fixup(m, RTE_ETH_TX_OFFLOAD_TCP_CKSUM), 0);
	/* the VF computes it: the frame and the request are untouched */
	assert_int_equal(m->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
	assert_int_equal(rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, 34)->cksum, 0xbeef);
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
		cmocka_unit_test(test_rx_csum_good_reaches_guest),
		cmocka_unit_test(test_rx_csum_not_good_is_not_trusted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
