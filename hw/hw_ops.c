/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * What each PMD family needs beyond ethdev's generic view. Chosen at runtime
 * by driver name, never by #ifdef, so one binary serves every host.
 *
 * Where each fact comes from is said next to it: "lab" is the hardware lab
 * (hwlab/, a real DMA engine under an emulated IOMMU), "source" is DPDK
 * 22.11's driver. docs/hardware.md has the table. A PMD not listed gets
 * hw_ops_generic: assumed to keep DMAing into its buffers until the port is
 * stopped, and zero copy stays off for it unless the operator says otherwise.
 */

#include <string.h>

#include <vfrelay/hw.h>

/*
 * iavf (Intel E810/X710 VFs, "ice's VF" too): source. rx_queue_stop disables the
 * queue over virtchnl, then frees the ring's mbufs and resets it
 * (iavf_dev_rx_queue_stop); the buffer size is floored to the RXQ context's
 * 128-byte dbuff unit (iavf_init_rxq); no runtime queue setup; RX interrupts.
 */
static const struct hw_ops hw_ops_iavf = {
	.name = "iavf",
	.known = true,
	.rx_release = HW_RX_RELEASE_QUEUE,
	.rx_buf_align = 128,
	.rx_intr = true,
};

/* i40e and ice PFs: source. Same queue stop and 128-byte unit as iavf. */
static const struct hw_ops hw_ops_i40e = {
	.name = "i40e",
	.known = true,
	.rx_release = HW_RX_RELEASE_QUEUE,
	.rx_buf_align = 128,
	.rx_intr = true,
};

/*
 * mlx5: source. mlx5_rx_queue_stop frees the queue's elements (rxq_free_elts);
 * buffers of any size; external memory must be registered as an MR before DMA
 * (rte_dev_dma_map does); MPRQ must stay off (one stride buffer holds several
 * frames).
 */
static const struct hw_ops hw_ops_mlx5 = {
	.name = "mlx5",
	.known = true,
	.rx_release = HW_RX_RELEASE_QUEUE,
	.rx_buf_align = 1,
	.rx_intr = true,
};

/*
 * igbvf (Intel 82576 VF, QEMU's igb): measured in the lab (hwlab pmd_facts) and
 * matching the source: rx_queue_stop -ENOTSUP (no op: with a claimed one the NIC
 * wrote buffers after they were handed back); dev_stop frees every ring
 * (igb_dev_clear_queues); SRRCTL.BSIZEPKT in 1 KiB units, scatter turned on by
 * the PMD when the frame exceeds it, continuation segments at the headroom of
 * their own buffer; rx_intr_enable -ENOTSUP. dev_stop forgets (does not free) the
 * head of a frame it had not finished assembling (ixgbe, i40e, iavf free theirs).
 */
static const struct hw_ops hw_ops_igbvf = {
	.name = "igbvf",
	.known = true,
	.rx_release = HW_RX_RELEASE_PORT,
	.rx_stop_forgets_partial = true, /* lab guest_kill: 1 shell after dev_stop */
	.rx_buf_align = 1024,
	.rx_intr = false,
};

/* ixgbevf (82599/X540 VFs): source. Like igbvf: no queue stop, port stop frees, 1 KiB units. */
static const struct hw_ops hw_ops_ixgbevf = {
	.name = "ixgbevf",
	.known = true,
	.rx_release = HW_RX_RELEASE_PORT,
	.rx_buf_align = 1024,
	.rx_intr = true,
};

/*
 * Allocate per burst and hold nothing between bursts (null, af_packet): tests.
 * No RX queue interrupts (neither PMD gives its queues an interrupt fd).
 */
static const struct hw_ops hw_ops_software = {
	.name = "software",
	.software = true,
	.known = true,
	.rx_release = HW_RX_RELEASE_NONE,
	.rx_buf_align = 1,
};

/*
 * tap: tests and source. Fills its ring at queue setup and releases it only at
 * the next setup (not at stop); reads (the kernel writes) only inside rx_burst,
 * into the ring's first buffer without scatter. RX interrupts: its queue fds
 * themselves (readable while frames wait; no rx_queue_intr_enable op, nothing
 * to clear); pmd_rx_burst reads only after the fd's O_ASYNC signal ran
 * (tap_trigger), which the waiting worker therefore takes itself.
 */
static const struct hw_ops hw_ops_tap = {
	.name = "tap",
	.software = true,
	.known = true,
	.rx_release = HW_RX_RELEASE_PORT,
	.rx_setup_releases = true,
	.rx_one_buffer = true,
	.rx_buf_align = 1,
	.rx_intr = true,
};

/*
 * virtio_user (and virtio PMDs): source. The RX virtqueue is filled at start and
 * its mbufs stay with the device (the vhost back-end writes them) across stop;
 * only close frees them (virtio_dev_free_mbufs). Zero copy is refused.
 */
static const struct hw_ops hw_ops_virtio = {
	.name = "virtio",
	.software = true,
	.known = true,
	.rx_release = HW_RX_RELEASE_NEVER,
	.rx_buf_align = 1,
	.rx_intr = true,
};

/*
 * Anything else: assume the worst. It may keep DMAing into its buffers until
 * the port stops, and its buffer unit is unknown (1 KiB is the largest common
 * one, so the NIC stays inside the guest buffer if it floors to any smaller).
 */
static const struct hw_ops hw_ops_generic = {
	.name = "generic",
	.known = false,
	.rx_release = HW_RX_RELEASE_PORT,
	.rx_buf_align = 1024,
};

static const struct {
	const char *driver;
	const struct hw_ops *ops;
} hw_ops_table[] = {
	{"net_iavf", &hw_ops_iavf},
	{"net_i40e", &hw_ops_i40e},
	{"net_ice", &hw_ops_i40e},
	{"mlx5_pci", &hw_ops_mlx5},
	{"net_mlx5", &hw_ops_mlx5},
	{"net_e1000_igb_vf", &hw_ops_igbvf},
	{"net_ixgbe_vf", &hw_ops_ixgbevf},
	{"net_null", &hw_ops_software},
	{"net_af_packet", &hw_ops_software},
	{"net_ring", &hw_ops_software},
	{"net_pcap", &hw_ops_software},
	{"net_tap", &hw_ops_tap},
	{"net_virtio_user", &hw_ops_virtio},
	{"net_virtio", &hw_ops_virtio},
};

const struct hw_ops *
hw_ops_for_driver(const char *driver)
{
	for (size_t i = 0; i < RTE_DIM(hw_ops_table); i++)
		if (strcmp(driver, hw_ops_table[i].driver) == 0)
			return hw_ops_table[i].ops;
	return &hw_ops_generic;
}
