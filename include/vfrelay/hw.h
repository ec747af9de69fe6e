/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * VF ports: probing a device string, ethdev setup, offload negotiation and the
 * per-PMD quirks behind an ops table chosen at runtime.
 */

#ifndef VFRELAY_HW_H
#define VFRELAY_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ethdev.h>

#include <vfrelay/config.h>

struct rte_mbuf;
struct rte_mempool;

/** What a PMD needs that ethdev does not tell (control plane only). */
struct hw_ops {
	const char *name;          /**< "iavf", "mlx5", "software", "generic" */
	bool software;             /**< no DMA: memory needs no mapping */
	bool rx_holds_buffers;     /**< keeps RX buffers in its ring between bursts */
	bool rx_queue_stop;        /**< can stop (and release the buffers of) one RX queue */
	/** else releases them when its RX queue is set up again (port stopped) */
	bool rx_setup_releases;
	uint16_t rx_buf_align;     /**< NIC RX buffer size granularity in bytes */
};

/** A probed, configured VF port. */
struct hw_port {
	uint16_t port_id;
	char name[RTE_ETH_NAME_MAX_LEN];
	char driver[64];
	const struct hw_ops *ops;
	bool probed_by_us;         /**< we hot-plugged it, so we detach it */
	bool started;
	uint16_t n_queues;
	uint16_t mtu;
	uint64_t rx_offloads;      /**< enabled on the port */
	uint64_t tx_offloads;      /**< enabled on the port */
	/*
	 * Bytes the PMD writes per RX buffer whatever the buffer's size, for
	 * software PMDs that ignore the pool's data room (af_packet: its frame
	 * size; null: its packet size). 0: the device honours the data room.
	 */
	uint32_t rx_max_write;
	/* Largest frame the PMD can deliver whole (af_packet: its slot); 0: no such limit. */
	uint32_t rx_frame_max;
	struct rte_ether_addr mac;
	/* What the RX queues were set up with, to set them up again (hw_port_rx_reset). */
	uint16_t nb_rxd;
	struct rte_eth_rxconf rxconf;
	struct rte_mempool *rx_pools[FWD_MAX_QUEUES];
};

struct hw_port_params {
	uint16_t n_queues;
	uint16_t mtu;
	uint16_t rx_ring_size;
	uint16_t tx_ring_size;
	struct rte_mempool *rx_pool;                 /**< default RX pool */
	/** Per-queue override (zero copy's pools), or NULL for rx_pool. */
	struct rte_mempool *rx_pools[FWD_MAX_QUEUES];
};

/**
 * Probe @p devargs (PCI address or vdev string) and find its ethdev port.
 * @return 0, or -errno with a reason in @p err (no trailing newline).
 */
int hw_port_open(struct hw_port *port, const char *devargs, char *err, size_t errlen);

/**
 * Configure queues, MTU and offloads: RX checksum and TX checksum/TSO are
 * enabled where the device has them (the software fallback covers the rest).
 * @return 0, or -errno with a reason in @p err.
 */
int hw_port_setup(struct hw_port *port, const struct hw_port_params *params, char *err,
		  size_t errlen);

/** Start the port. @return 0 or -errno with a reason in @p err. */
int hw_port_start(struct hw_port *port, char *err, size_t errlen);

/**
 * Stop the port, set every RX queue up again with its pool (the PMD releases
 * the buffers it held and takes fresh ones), start it again. Every queue of
 * the port must be idle. @return 0 or -errno (logged).
 */
int hw_port_rx_reset(struct hw_port *port);

/** Stop, close and (when we probed it) detach the port. Idempotent. */
void hw_port_close(struct hw_port *port);

/** The quirks table for a PMD driver name ("net_iavf", "mlx5_pci", "net_null"...). */
const struct hw_ops *hw_ops_for_driver(const char *driver);

/*
 * Offload mapping between virtio (as librte_vhost's compliant mbuf flags)
 * and the VF. Pure functions on flags, unit-tested.
 */

/** Virtio features to withhold from the guest because the VF cannot honour them. */
uint64_t hw_offload_virtio_features_to_disable(uint64_t vf_tx_offloads);

/** hw_offload_guest_tx_request() turned the guest's marks into TX requests. */
#define HW_OFFLOAD_GUEST_REQUEST 1
/** hw_offload_guest_tx_request() finished the checksum itself (no request left). */
#define HW_OFFLOAD_GUEST_DONE 2

/**
 * librte_vhost in compliant mode marks a guest's frame the way a NIC marks a
 * received one: a partial checksum (NEEDS_CSUM) as RX_L4_CKSUM_NONE, a GSO
 * frame as RX_LRO with tso_segsz. Turn those marks into the TX requests
 * (RTE_MBUF_F_TX_*, header lengths) a VF understands, or finish the checksum
 * in software where no VF could be told how (IPv6 extension headers, headers
 * longer than the mbuf's length fields).
 * @return 0 nothing asked, HW_OFFLOAD_GUEST_REQUEST, HW_OFFLOAD_GUEST_DONE, or
 *         -EINVAL for what neither a VF nor we can finish (the frame is dropped)
 */
int hw_offload_guest_tx_request(struct rte_mbuf *m);

/** TX offload flags (RTE_MBUF_F_TX_*) the VF cannot do, for a packet's @p ol_flags. */
uint64_t hw_offload_tx_unsupported(uint64_t ol_flags, uint64_t vf_tx_offloads);

/**
 * Finish in software what the guest asked for and the VF cannot do (L4
 * checksum, IPv4 header checksum), and clear those flags. An L4 checksum
 * follows virtio's NEEDS_CSUM: the field holds the guest's pseudo-header sum
 * and the sum runs from the L4 header to the end of the IP packet.
 * @return 0, 1 if a checksum was computed, or -EINVAL for a request we cannot
 *         honour (TSO on a VF without it: the packet must be dropped).
 */
int hw_offload_tx_fixup(struct rte_mbuf *m, uint64_t vf_tx_offloads);

/**
 * Turn a VF's RX "L4 checksum good" mark into what librte_vhost turns into
 * a virtio header the guest trusts (partial checksum, which a Linux guest
 * takes as verified). @p m must be a parsed IPv4/IPv6 TCP/UDP frame.
 * @return true if the packet now carries the mark for the guest.
 */
bool hw_offload_rx_csum_to_guest(struct rte_mbuf *m);

#endif /* VFRELAY_HW_H */
