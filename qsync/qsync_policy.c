/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * When zero copy is possible, and with what buffer size: pure decisions on
 * negotiated features, configuration and VF capabilities (unit-tested).
 */

#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include <rte_ether.h>

#include "qsync_priv.h"

/* Linux's smallest mergeable RX buffer: ALIGN(12 + 1518, 64). */
#define QSYNC_GUEST_MIN_BUF 1536

static const char *const qsync_fallback_names[] = {"none",
#define QSYNC_X_NAME(name) #name,
						   QSYNC_FALLBACK_REASONS(QSYNC_X_NAME)
#undef QSYNC_X_NAME
};

const char *
qsync_fallback_name(enum qsync_fallback fb)
{
	return (unsigned int)fb < QSYNC_FB_N ? qsync_fallback_names[fb] : "?";
}

uint16_t
qsync_buf_size(uint16_t rx_buf_align)
{
	uint16_t room = QSYNC_GUEST_MIN_BUF - sizeof(struct virtio_net_hdr_mrg_rxbuf);

	if (rx_buf_align <= 1)
		return room;
	return (uint16_t)(room / rx_buf_align * rx_buf_align);
}

enum qsync_fallback
qsync_check_features(const struct fwd_queue *fq, uint64_t features)
{
	const struct fwd_relay *r = fq->relay;
	const struct qsync_queue *qq = fq->zc;
	/*
	 * The most the VF writes into one buffer: what a software PMD always
	 * writes, or the largest frame the MTU allows (one VLAN tag, no FCS).
	 */
	uint32_t frame = r->port.rx_max_write != 0 ? r->port.rx_max_write
						   : (uint32_t)r->cfg->mtu + RTE_ETHER_HDR_LEN + 4;

	if (!(features & (1ULL << VIRTIO_NET_F_MRG_RXBUF)))
		return QSYNC_FB_no_mrg_rxbuf;
	if (features & (1ULL << VIRTIO_F_IN_ORDER))
		return QSYNC_FB_in_order;
	if (features & (1ULL << VIRTIO_F_RING_PACKED))
		return QSYNC_FB_packed_ring;
	if (features & (1ULL << VIRTIO_F_IOMMU_PLATFORM))
		return QSYNC_FB_iommu_platform;
	if (features & (1ULL << VHOST_F_LOG_ALL))
		return QSYNC_FB_live_migration;
	if (r->port.ops->rx_release == HW_RX_RELEASE_NEVER)
		return QSYNC_FB_vf_holds_buffers;
	if (!r->port.ops->known && r->cfg->zero_copy_unknown_vf != FWD_ZC_UNKNOWN_PORT_STOP)
		return QSYNC_FB_vf_unknown;
	/*
	 * A frame longer than one VF buffer is scattered over two and its tail
	 * copied into the first guest buffer (qsync_rx.c); three are not handled.
	 * A software VF writes one buffer whatever it is given: rx_max_write.
	 */
	if (qq != NULL && frame > (r->port.rx_max_write != 0 ? 1u : 2u) * qq->buf_size)
		return QSYNC_FB_mtu_exceeds_buf;
	return QSYNC_FB_NONE;
}
