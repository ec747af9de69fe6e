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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ethdev.h>

#include <vfrelay/config.h>

struct rte_mbuf;
struct rte_mempool;

/**
 * How a PMD stops writing into the RX buffers it was given and gives them
 * back: what zero copy relies on before a guest buffer is returned or its
 * memory unmapped.
 */
enum hw_rx_release {
	/** Holds none between bursts: a buffer per frame inside rx_burst (null, af_packet). */
	HW_RX_RELEASE_NONE = 0,
	/** rte_eth_dev_rx_queue_stop() stops the queue's DMA and frees its ring (iavf, mlx5). */
	HW_RX_RELEASE_QUEUE,
	/**
	 * Only rte_eth_dev_stop() stops DMA and frees the rings, of every queue (igbvf,
	 * ixgbevf, any PMD we know nothing of); with rx_setup_releases the rings are freed
	 * when the queues are set up again instead (tap).
	 */
	HW_RX_RELEASE_PORT,
	/** Only closing the device gives the buffers back (virtio_user): no zero copy. */
	HW_RX_RELEASE_NEVER,
};

/** What a PMD needs that ethdev does not tell (control plane only). */
struct hw_ops {
	const char *name;              /**< "iavf", "mlx5", "software", "generic" */
	bool software;                 /**< no DMA: memory needs no mapping */
	bool known;                    /**< facts below from the lab or DPDK 22.11's source */
	enum hw_rx_release rx_release;
	/** The rings go back when the RX queues are set up again, not at port stop (tap). */
	bool rx_setup_releases;
	/**
	 * Fills its ring at setup but writes only the ring's first buffer, taking a new one
	 * per frame (tap without scatter): set up from host buffers, it then holds a single
	 * guest buffer at a time, whatever the ring size.
	 */
	bool rx_one_buffer;
	/**
	 * Port stop drops, without freeing, the first segments of a scattered frame
	 * whose last segment had not arrived (igb: igb_reset_rx_queue clears
	 * pkt_first_seg). The NIC wrote them and never will again.
	 */
	bool rx_stop_forgets_partial;
	uint16_t rx_buf_align;         /**< NIC RX buffer size granularity in bytes */
	/**
	 * RX queue interrupts: with intr_conf.rxq the PMD gives each RX queue a file
	 * descriptor (rte_eth_dev_rx_intr_ctl_q_get_fd()) that becomes readable when
	 * frames arrive, armed by rte_eth_dev_rx_intr_enable() where the PMD has that op.
	 */
	bool rx_intr;
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
	bool rss;                  /**< RSS spreads frames over the RX queues */
	uint16_t reta_size;        /**< entries in its redirection table (0: none) */
	/*
	 * Bytes the PMD writes per RX buffer whatever the buffer's size, for
	 * software PMDs that ignore the pool's data room (af_packet: its frame
	 * size; null: its packet size). 0: the device honours the data room.
	 */
	uint32_t rx_max_write;
	/* Largest frame the PMD can deliver whole (af_packet: its slot); 0: no such limit. */
	uint32_t rx_frame_max;
	struct rte_ether_addr mac;
	/* What the RX queues were set up with, to set them up again. */
	uint16_t nb_rxd;                       /**< ring size the config asked for (adjusted) */
	uint16_t rxq_size[FWD_MAX_QUEUES];     /**< ring size each RX queue has now */
	struct rte_eth_desc_lim rx_desc_lim;
	bool runtime_rx_setup;                 /**< an RX queue can be set up on a started port */
	struct rte_eth_rxconf rxconf;
	struct rte_mempool *rx_pools[FWD_MAX_QUEUES];
	/*
	 * RX queue interrupts are configured and every RX queue has its fd
	 * (rte_eth_dev_rx_intr_ctl_q_get_fd() >= 0 while the port runs). Set by
	 * hw_port_start(), read-only afterwards.
	 */
	bool rx_intr;
	/*
	 * Bumped by every stop, start and RX queue setup: a queue's interrupt fd
	 * may have been closed and replaced (VFIO eventfds live from start to stop).
	 * Control thread: wo (release), workers: ro (acquire).
	 */
	_Atomic uint32_t epoch;
	/* How the port was configured, to configure it again without RX interrupts. */
	struct rte_eth_conf conf;
	struct rte_eth_txconf txconf;
	uint16_t nb_txd;
	uint16_t mtu_set;          /**< MTU given to rte_eth_dev_set_mtu(), 0: none */
};

struct hw_port_params {
	uint16_t n_queues;
	uint16_t mtu;
	uint16_t rx_ring_size;
	uint16_t tx_ring_size;
	/** Ask for RX queue interrupts where the PMD has them (hw_ops.rx_intr). */
	bool rx_intr;
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

/**
 * Start the port. If it does not start with the RX interrupts hw_port_setup()
 * asked for, it is configured again without them and started (logged; the
 * workers then poll it on a timer, see port->rx_intr).
 * @return 0 or -errno with a reason in @p err.
 */
int hw_port_start(struct hw_port *port, char *err, size_t errlen);

/*
 * Primitives zero copy sequences (control side, every queue of the port idle
 * for the port-wide ones, the queue idle for the per-queue ones). Each logs
 * its failure and returns 0 or -errno.
 */

/** Stop the port: every queue's DMA stops and the PMD frees (or keeps) its rings. */
int hw_port_stop(struct hw_port *port);

/** Start the port again; the PMD fills its RX rings from the queues' pools. */
int hw_port_restart(struct hw_port *port);

/** Stop RX queue @p qid (HW_RX_RELEASE_QUEUE: DMA stops, the ring is freed). */
int hw_port_rx_queue_stop(struct hw_port *port, uint16_t qid);

/** Start RX queue @p qid; the PMD fills its ring from the queue's pool. */
int hw_port_rx_queue_start(struct hw_port *port, uint16_t qid);

/**
 * Set RX queue @p qid up again with @p nb_rxd descriptors (0: the configured
 * size) and its pool: the port must be stopped, or the queue stopped on a PMD
 * with runtime queue setup. With rx_setup_releases the old ring goes back here.
 */
int hw_port_rx_queue_setup(struct hw_port *port, uint16_t qid, uint16_t nb_rxd);

/**
 * Point the VF's RSS redirection table at the RX queues in @p queues (a bit
 * per queue; at least one): traffic follows the queue pairs the guest uses.
 * @return 0, -ENOTSUP (single queue, no RSS, or the PMD has no table), -errno
 */
int hw_port_rss_spread(struct hw_port *port, uint32_t queues);

/**
 * The largest RX ring size the PMD accepts that is at most @p want, or 0 if
 * even its smallest is larger.
 */
uint16_t hw_port_rx_ring_fit(const struct hw_port *port, uint16_t want);

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
