/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Guest TX offload requests (hw/hw_offload.c): the header parsing that turns a guest's
 * partial-checksum and GSO marks into VF TX requests, and the software checksum that finishes
 * what the VF cannot do.
 *
 * An input is a 20-byte control block and a frame. The control block says how the guest's
 * virtio-net header looked (flags, gso type and size, csum_start/csum_offset, either as a
 * well-behaved guest sets them or raw), which offloads the VF has, how the frame is split into
 * segments, and whether the marks come from an emulation of librte_vhost's compliant-mode
 * dequeue (vhost_dequeue_offload() in lib/vhost/virtio_net.c: RX_L4_CKSUM_NONE for NEEDS_CSUM,
 * RX_LRO + tso_segsz for GSO) or are any combination of the marks it can set. The mbuf is built
 * by hand, no EAL: each segment's data is its own allocation of exactly its length with
 * data_off 0, so AddressSanitizer sees a read or write one byte outside the frame.
 *
 * Checked, on top of memory safety:
 * - results are in the documented range, and a frame with no mark is left alone;
 * - after hw_offload_tx_fixup() succeeds, the TX flags left on the mbuf ask nothing the VF
 *   cannot do (hw_offload_tx_unsupported() == 0, and an independent reading of the flags);
 * - no byte of the frame changes except the checksum fields that were computed;
 * - for a well-formed guest that said where its L4 header is (csum_start, as this harness's
 *   own parser of the frame finds it), a checksum computed in software is where
 *   csum_start + csum_offset say and equals an independent RFC 1071 computation with virtio's
 *   semantics: the guest put the pseudo-header sum in the field, the device sums from
 *   csum_start to the end of the L4 payload (IPv4 total length, IPv6 payload length) and
 *   stores the result there; for any other guest the checksum is one 16-bit field;
 * - an IPv4 header checksum computed in software is right, over the header's own length.
 * The VF's RX direction (hw_offload_rx_csum_to_guest()) runs on the same frames.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_net.h>
#include <netinet/in.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_net.h>

#include <vfrelay/hw.h>

#include "fuzz_input.h"

#define CTRL_LEN  20
#define MAX_FRAME 16384
#define MAX_SEGS  3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The VF offloads hw_offload maps, by bit of ctrl[1]. */
static const uint64_t vf_bits[] = {
	RTE_ETH_TX_OFFLOAD_IPV4_CKSUM, RTE_ETH_TX_OFFLOAD_TCP_CKSUM, RTE_ETH_TX_OFFLOAD_UDP_CKSUM,
	RTE_ETH_TX_OFFLOAD_SCTP_CKSUM, RTE_ETH_TX_OFFLOAD_TCP_TSO,   RTE_ETH_TX_OFFLOAD_UDP_TSO,
};

/* ---- the reference: what the guest meant, parsed the slow way ---- */

struct ref_frame {
	bool ok; /* l4off..l4end holds the L4 checksum field: a checksum to get right */
	bool v6;
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint32_t l3off;
	uint32_t l4off; /* = csum_start */
	uint32_t l4end; /* end of the L4 payload as the IP header says; may exceed the frame */
	uint32_t field; /* l4off + csum_offset */
};

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
ref_parse(const uint8_t *f, uint32_t len, struct ref_frame *r)
{
	uint32_t off = 12;
	uint16_t type;
	uint8_t proto;

	memset(r, 0, sizeof(*r));
	if (len < 14)
		return;
	type = be16(f + off);
	off += 2;
	/* an 802.1ad S-tag carries a C-tag; a C-tag alone is 802.1Q */
	if (type == 0x88a8) {
		if (off + 4 > len)
			return;
		type = be16(f + off + 2);
		off += 4;
		if (type != 0x8100)
			goto l3;
	}
	if (type == 0x8100) {
		if (off + 4 > len)
			return;
		type = be16(f + off + 2);
		off += 4;
	}
l3:
	r->l3off = off;
	if (type == 0x0800) {
		uint32_t ihl, total;

		if (off + 20 > len || f[off] >> 4 != 4)
			return;
		ihl = (uint32_t)(f[off] & 0xf) * 4;
		total = be16(f + off + 2);
		if (ihl < 20 || total < ihl)
			return;
		/* fragments have no L4 header to checksum alone */
		if (be16(f + off + 6) & 0x3fff)
			return;
		proto = f[off + 9];
		r->l4off = off + ihl;
		r->l4end = off + total;
	} else if (type == 0x86dd) {
		uint32_t end;

		if (off + 40 > len)
			return;
		proto = f[off + 6];
		end = off + 40 + be16(f + off + 4);
		off += 40;
		/* the extension headers a device has to walk to find the L4 header */
		for (int n = 0; n < 8 && (proto == 0 || proto == 43 || proto == 60); n++) {
			if (off + 2 > len)
				return;
			proto = f[off];
			off += (f[off + 1] + 1u) * 8;
		}
		if (proto == 0 || proto == 43 || proto == 60 || off > end)
			return;
		r->v6 = true;
		r->l4off = off;
		r->l4end = end;
	} else {
		return;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return;
	r->proto = proto;
	r->field = r->l4off + (proto == IPPROTO_TCP ? 16 : 6);
	r->ok = r->l4end >= r->field + 2;
}

/* RFC 1071 sum of 16-bit big-endian words, an odd last byte padded with zero. */
static uint32_t
ref_sum(const uint8_t *p, uint32_t len, uint32_t sum)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
ref_fold(uint32_t sum)
{
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The pseudo-header sum a guest leaves in the field for a partial checksum (not inverted). */
static uint16_t
ref_pseudo(const uint8_t *f, const struct ref_frame *r)
{
	uint32_t l4len = r->l4end - r->l4off;
	uint32_t sum = r->proto;

	if (r->v6)
		sum = ref_sum(f + r->l3off + 8, 32, sum);
	else
		sum = ref_sum(f + r->l3off + 12, 8, sum);
	sum += l4len >> 16;
	sum += l4len & 0xffff;
	return ref_fold(sum);
}

/*
 * What a virtio device writes for NEEDS_CSUM: the fold of the sum from csum_start to the end of
 * the L4 payload, the field holding whatever the guest put there (a correct guest: the
 * pseudo-header sum), inverted; UDP sends 0 as 0xffff.
 */
static uint16_t
ref_l4_csum(const uint8_t *frame, const struct ref_frame *r)
{
	uint16_t c = (uint16_t)~ref_fold(ref_sum(frame + r->l4off, r->l4end - r->l4off, 0));

	if (c == 0 && r->proto == IPPROTO_UDP)
		c = 0xffff;
	return c;
}

/* ---- the mbuf ---- */

static struct rte_mbuf segs[MAX_SEGS] __rte_cache_aligned;
static uint8_t *seg_data[MAX_SEGS];

static void
mbuf_build(const uint8_t *frame, uint32_t len, uint32_t nseg, uint16_t split)
{
	uint32_t cut[MAX_SEGS + 1] = {0};

	cut[nseg] = len;
	for (uint32_t i = 1; i < nseg; i++) {
		uint32_t lo = cut[i - 1];

		cut[i] = lo + (uint32_t)(split * i) % (len - lo + 1);
	}
	memset(segs, 0, sizeof(segs));
	for (uint32_t i = 0; i < nseg; i++) {
		struct rte_mbuf *m = &segs[i];
		uint32_t n = cut[i + 1] - cut[i];

		seg_data[i] = malloc(n ? n : 1);
		if (seg_data[i] == NULL)
			abort();
		memcpy(seg_data[i], frame + cut[i], n);
		m->buf_addr = seg_data[i];
		m->buf_iova = (rte_iova_t)(uintptr_t)seg_data[i];
		m->buf_len = (uint16_t)n;
		m->data_off = 0;
		m->data_len = (uint16_t)n;
		m->nb_segs = 1;
		m->next = i + 1 < nseg ? &segs[i + 1] : NULL;
		rte_mbuf_refcnt_set(m, 1);
	}
	segs[0].nb_segs = (uint16_t)nseg;
	segs[0].pkt_len = len;
}

static void
mbuf_free(uint32_t nseg)
{
	for (uint32_t i = 0; i < nseg; i++)
		free(seg_data[i]);
}

/* The frame back out of the segments. */
static void
mbuf_flatten(uint32_t nseg, uint8_t *out)
{
	for (uint32_t i = 0, off = 0; i < nseg; i++) {
		memcpy(out + off, seg_data[i], segs[i].data_len);
		off += segs[i].data_len;
	}
}

/* librte_vhost 22.11, compliant mbuf flags: the marks its dequeue leaves for our TX path. */
static void
vhost_marks(struct rte_mbuf *m, const struct virtio_net_hdr *hdr)
{
	struct rte_net_hdr_lens lens;
	uint32_t ptype;
	bool l4;

	if (hdr->flags == 0 && hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return;
	m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN;
	ptype = rte_net_get_ptype(m, &lens, RTE_PTYPE_ALL_MASK);
	m->packet_type = ptype;
	l4 = (ptype & RTE_PTYPE_L4_MASK) == RTE_PTYPE_L4_TCP ||
	     (ptype & RTE_PTYPE_L4_MASK) == RTE_PTYPE_L4_UDP ||
	     (ptype & RTE_PTYPE_L4_MASK) == RTE_PTYPE_L4_SCTP;
	/* Otherwise librte_vhost computes the checksum itself: not ours to test. */
	if ((hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    hdr->csum_start <= lens.l2_len + lens.l3_len + lens.l4_len && l4)
		m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
	if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE && hdr->gso_size != 0) {
		switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
		case VIRTIO_NET_HDR_GSO_TCPV4:
		case VIRTIO_NET_HDR_GSO_TCPV6:
			if ((ptype & RTE_PTYPE_L4_MASK) != RTE_PTYPE_L4_TCP)
				break;
			m->ol_flags |= RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
			m->tso_segsz = hdr->gso_size;
			break;
		case VIRTIO_NET_HDR_GSO_UDP:
			if ((ptype & RTE_PTYPE_L4_MASK) != RTE_PTYPE_L4_UDP)
				break;
			m->ol_flags |= RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
			m->tso_segsz = hdr->gso_size;
			break;
		default:
			break;
		}
	}
}

/* ---- checks ---- */

/* The TX requests the VF cannot do, read independently from the flags. */
static bool
ref_vf_can(uint64_t fl, uint64_t vf)
{
	uint64_t l4 = fl & RTE_MBUF_F_TX_L4_MASK;

	if ((fl & RTE_MBUF_F_TX_IP_CKSUM) && !(vf & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM))
		return false;
	if (l4 == RTE_MBUF_F_TX_TCP_CKSUM && !(vf & RTE_ETH_TX_OFFLOAD_TCP_CKSUM))
		return false;
	if (l4 == RTE_MBUF_F_TX_UDP_CKSUM && !(vf & RTE_ETH_TX_OFFLOAD_UDP_CKSUM))
		return false;
	if (l4 == RTE_MBUF_F_TX_SCTP_CKSUM && !(vf & RTE_ETH_TX_OFFLOAD_SCTP_CKSUM))
		return false;
	if ((fl & RTE_MBUF_F_TX_TCP_SEG) && !(vf & RTE_ETH_TX_OFFLOAD_TCP_TSO))
		return false;
	if ((fl & RTE_MBUF_F_TX_UDP_SEG) && !(vf & RTE_ETH_TX_OFFLOAD_UDP_TSO))
		return false;
	return true;
}

static void
check_rx_direction(const uint8_t *frame, uint32_t len, uint32_t nseg, uint16_t split, uint8_t marks)
{
	static const uint64_t l4[] = {RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN, RTE_MBUF_F_RX_L4_CKSUM_BAD,
				      RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_NONE};
	static const uint64_t ip[] = {RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, RTE_MBUF_F_RX_IP_CKSUM_BAD,
				      RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_NONE};
	static uint8_t after[MAX_FRAME];
	struct rte_mbuf *m = &segs[0];
	uint64_t before;
	bool trusted;

	mbuf_build(frame, len, nseg, split);
	m->ol_flags = l4[marks & 3] | ip[(marks >> 2) & 3];
	before = m->ol_flags;
	trusted = hw_offload_rx_csum_to_guest(m);
	if (trusted) {
		FUZZ_CHECK((before & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
				   (before & RTE_MBUF_F_RX_IP_CKSUM_MASK) !=
					   RTE_MBUF_F_RX_IP_CKSUM_BAD,
			   "RX: a frame the VF did not verify is marked for the guest");
		FUZZ_CHECK(!!(m->ol_flags & RTE_MBUF_F_TX_IPV4) +
					   !!(m->ol_flags & RTE_MBUF_F_TX_IPV6) ==
				   1,
			   "RX: not exactly one of IPv4/IPv6");
		FUZZ_CHECK((m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM ||
				   (m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_UDP_CKSUM,
			   "RX: L4 mark 0x%lx", (uint64_t)(m->ol_flags & RTE_MBUF_F_TX_L4_MASK));
	}
	mbuf_flatten(nseg, after);
	FUZZ_CHECK(memcmp(after, frame, len) == 0, "RX: the frame was modified");
	mbuf_free(nseg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[MAX_FRAME], after[MAX_FRAME];
	struct virtio_net_hdr hdr = {0};
	struct rte_mbuf *m = &segs[0];
	struct ref_frame ref;
	const uint8_t *ctrl = data;
	uint64_t vf = 0, marked, fl_req, fl_fix;
	uint32_t len, nseg;
	uint16_t split;
	bool wrote_l4, wrote_ip, sent, declared;
	int req, fix;

	if (size < CTRL_LEN)
		return 0;
	len = (uint32_t)(size - CTRL_LEN < MAX_FRAME ? size - CTRL_LEN : MAX_FRAME);
	memcpy(frame, data + CTRL_LEN, len);
	for (unsigned int i = 0; i < RTE_DIM(vf_bits); i++)
		if (ctrl[1] & (1u << i))
			vf |= vf_bits[i];
	nseg = 1 + ((ctrl[0] >> 3) & 3) % MAX_SEGS;
	split = (uint16_t)(ctrl[10] | ctrl[11] << 8);

	ref_parse(frame, len, &ref);
	/* A guest that keeps its IP lengths consistent with the frame (bit 2), and one that
	 * writes the pseudo-header sum into the field (bit 1), as Linux does for a partial
	 * checksum. The fuzzer is free to leave either out. */
	if ((ctrl[0] & 4) && ref.l3off > 0 && ref.l4off > 0) {
		uint32_t pad = ctrl[12] & 3, end = len > pad ? len - pad : len;

		if (ref.v6 && end >= ref.l3off + 40 && end - ref.l3off - 40 <= UINT16_MAX)
			put_be16(frame + ref.l3off + 4, (uint16_t)(end - ref.l3off - 40));
		else if (!ref.v6 && end - ref.l3off <= UINT16_MAX)
			put_be16(frame + ref.l3off + 2, (uint16_t)(end - ref.l3off));
		if (!ref.v6) {
			uint32_t ihl = (frame[ref.l3off] & 0xf) * 4u;

			if (ref.l3off + ihl <= len) {
				put_be16(frame + ref.l3off + 10, 0);
				put_be16(frame + ref.l3off + 10,
					 (uint16_t)~ref_fold(ref_sum(frame + ref.l3off, ihl, 0)));
			}
		}
		if (ref.proto == IPPROTO_UDP && ref.l4off + 6 <= len && end >= ref.l4off)
			put_be16(frame + ref.l4off + 4, (uint16_t)(end - ref.l4off));
		ref_parse(frame, len, &ref);
	}
	if ((ctrl[0] & 2) && ref.ok && ref.l4end <= len)
		put_be16(frame + ref.field, ref_pseudo(frame, &ref));

	if (ctrl[0] & 0x20)
		check_rx_direction(frame, len, nseg, split, ctrl[13]);

	mbuf_build(frame, len, nseg, split);
	if (ctrl[0] & 1) {
		hdr.flags = ctrl[2];
		hdr.gso_type = ctrl[3];
		hdr.gso_size = (uint16_t)(ctrl[4] | ctrl[5] << 8);
		if ((ctrl[0] & 0x40) && ref.l4off > 0) {
			hdr.csum_start = (uint16_t)ref.l4off;
			hdr.csum_offset = ref.proto == IPPROTO_TCP ? 16 : 6;
		} else {
			hdr.csum_start = (uint16_t)(ctrl[6] | ctrl[7] << 8);
			hdr.csum_offset = (uint16_t)(ctrl[8] | ctrl[9] << 8);
		}
		vhost_marks(m, &hdr);
	} else {
		/* any mix of the marks librte_vhost sets, consistent with the frame or not */
		static const uint64_t l4[] = {0, RTE_MBUF_F_RX_L4_CKSUM_BAD,
					      RTE_MBUF_F_RX_L4_CKSUM_GOOD,
					      RTE_MBUF_F_RX_L4_CKSUM_NONE};

		m->ol_flags = l4[ctrl[14] & 3] | (ctrl[14] & 4 ? RTE_MBUF_F_RX_LRO : 0) |
			      (ctrl[14] & 8 ? RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN : 0);
		m->tso_segsz = (uint16_t)(ctrl[15] | ctrl[16] << 8);
	}
	marked = m->ol_flags;
	/* A well-formed guest said where its L4 header is: the checksum is checked there. */
	declared = (ctrl[0] & 1) && (ctrl[0] & 0x40) && ref.proto != 0;

	req = hw_offload_guest_tx_request(m);
	FUZZ_CHECK(req == 0 || req == HW_OFFLOAD_GUEST_REQUEST || req == HW_OFFLOAD_GUEST_DONE ||
			   req == -EINVAL,
		   "guest_tx_request returned %d", req);
	if ((marked & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_NONE &&
	    !(marked & RTE_MBUF_F_RX_LRO))
		FUZZ_CHECK(req == 0 && m->ol_flags == marked, "no mark, yet request %d flags 0x%lx",
			   req, m->ol_flags);
	fl_req = m->ol_flags;
	if (req > 0) {
		uint64_t l4 = fl_req & RTE_MBUF_F_TX_L4_MASK;

		FUZZ_CHECK(!!(fl_req & RTE_MBUF_F_TX_IPV4) + !!(fl_req & RTE_MBUF_F_TX_IPV6) == 1,
			   "request: not exactly one of IPv4/IPv6 (0x%lx)", fl_req);
		FUZZ_CHECK(!(fl_req & (RTE_MBUF_F_RX_L4_CKSUM_MASK | RTE_MBUF_F_RX_LRO)),
			   "request: RX marks left on a TX mbuf");
		FUZZ_CHECK(!(fl_req & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) ||
				   (marked & RTE_MBUF_F_RX_LRO),
			   "request: segmentation the guest did not ask for");
		if (req == HW_OFFLOAD_GUEST_REQUEST)
			FUZZ_CHECK(l4 == RTE_MBUF_F_TX_TCP_CKSUM || l4 == RTE_MBUF_F_TX_UDP_CKSUM,
				   "request: L4 0x%lx", l4);
		else
			FUZZ_CHECK(!(fl_req & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG |
					       RTE_MBUF_F_TX_UDP_SEG)),
				   "done in software, yet requests left: 0x%lx", fl_req);
	}

	/* As the copy path does: the VF's part of a request, or nothing left to do. */
	fix = 0;
	if (req == HW_OFFLOAD_GUEST_REQUEST)
		fix = hw_offload_tx_fixup(m, vf);
	FUZZ_CHECK(fix == 0 || fix == 1 || fix == -EINVAL, "tx_fixup returned %d", fix);
	fl_fix = m->ol_flags;
	sent = req >= 0 && fix >= 0;
	if (sent) {
		/* What reaches the VF asks only for what it can do. */
		FUZZ_CHECK(hw_offload_tx_unsupported(fl_fix, vf) == 0 && ref_vf_can(fl_fix, vf),
			   "flags 0x%lx left for a VF with offloads 0x%lx", fl_fix, vf);
	}
	wrote_l4 = req == HW_OFFLOAD_GUEST_DONE || (fix == 1 && (fl_req & RTE_MBUF_F_TX_L4_MASK) &&
						    !(fl_fix & RTE_MBUF_F_TX_L4_MASK));
	wrote_ip =
		fix == 1 && (fl_req & RTE_MBUF_F_TX_IP_CKSUM) && !(fl_fix & RTE_MBUF_F_TX_IP_CKSUM);
	FUZZ_CHECK(fix != 1 || wrote_l4 || wrote_ip, "fixup says it computed, but no flag cleared");
	if (wrote_l4 || wrote_ip)
		FUZZ_CHECK(nseg == 1, "software checksum over %u segments", nseg);

	mbuf_flatten(nseg, after);
	if (wrote_ip) {
		/* the IPv4 header where the request said it is */
		uint32_t l3 = m->l2_len, ihl = (frame[l3] & 0xf) * 4u;
		static uint8_t hdr[60];
		uint16_t want;

		FUZZ_CHECK(l3 + 20 <= len && ihl >= 20 && l3 + ihl <= len,
			   "IPv4 header checksum at l2_len %u over %u bytes, frame %u bytes", l3,
			   ihl, len);
		FUZZ_CHECK(!declared || l3 == ref.l3off,
			   "IPv4 header checksum at l2_len %u, the header is at %u", l3, ref.l3off);
		memcpy(hdr, frame + l3, ihl);
		put_be16(hdr + 10, 0);
		want = (uint16_t)~ref_fold(ref_sum(hdr, ihl, 0));
		FUZZ_CHECK(be16(after + l3 + 10) == want ||
				   (be16(after + l3 + 10) ^ want) == 0xffff,
			   "IPv4 header checksum 0x%04x, reference 0x%04x", be16(after + l3 + 10),
			   want);
		put_be16(after + l3 + 10, be16(frame + l3 + 10));
	}
	if (wrote_l4 && declared) {
		FUZZ_CHECK(ref.l4end <= len,
			   "software L4 checksum over a frame cut short: L4 ends at %u, frame %u "
			   "bytes",
			   ref.l4end, len);
		/* Where the guest's csum_start + csum_offset say (the request path also tells the
		 * VF, in the mbuf)... */
		if (req == HW_OFFLOAD_GUEST_REQUEST) {
			uint32_t at =
				m->l2_len + m->l3_len +
				((fl_req & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM ? 16
											     : 6);

			FUZZ_CHECK(at == ref.field,
				   "checksum at offset %u (l2_len %u + l3_len %u), the L4 header "
				   "says %u",
				   at, m->l2_len, m->l3_len, ref.field);
		}
		/* ... and right. An IP length that ends before the checksum field leaves nothing
		 * to be right about: the frame is garbage, only memory safety matters. */
		if (ref.ok)
			FUZZ_CHECK(
				be16(after + ref.field) == ref_l4_csum(frame, &ref),
				"%s %s checksum 0x%04x, reference 0x%04x (L4 %u..%u of %u bytes)",
				ref.v6 ? "IPv6" : "IPv4", ref.proto == IPPROTO_TCP ? "TCP" : "UDP",
				be16(after + ref.field), ref_l4_csum(frame, &ref), ref.l4off,
				ref.l4end, len);
		put_be16(after + ref.field, be16(frame + ref.field));
	} else if (wrote_l4) {
		/* Where the guest left it unsaid (or the frame is one its parser reads another
		 * way), a checksum is at least one 16-bit field and nothing else. */
		uint32_t first = len, last = 0;

		for (uint32_t i = 0; i < len; i++) {
			if (after[i] != frame[i]) {
				first = first < i ? first : i;
				last = i;
			}
		}
		FUZZ_CHECK(first == len || last - first <= 1,
			   "software checksum changed bytes %u..%u", first, last);
		if (first < len)
			memcpy(after + first, frame + first, last - first + 1);
	}
	/* A refused frame is dropped; a sent one differs from what the guest wrote only in the
	 * checksums computed for it. */
	if (sent)
		FUZZ_CHECK(memcmp(after, frame, len) == 0,
			   "bytes other than the checksums changed");
	FUZZ_CHECK(m->pkt_len == len && m->nb_segs == nseg && m->data_off == 0,
		   "the mbuf's shape changed");
	mbuf_free(nseg);
	return 0;
}
