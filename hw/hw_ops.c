/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * What each PMD family needs beyond ethdev's generic view. Chosen at runtime
 * by driver name, never by #ifdef, so one binary serves every host.
 */

#include <string.h>

#include <vfrelay/hw.h>

static const struct hw_ops hw_ops_iavf = {
	.name = "iavf",
	.software = false,
	.rx_holds_buffers = true,
	.rx_queue_stop = true, /* frees the ring's mbufs on queue stop */
	/* RX buffer size is programmed in 128-byte units (RXQ ctx dbuff). */
	.rx_buf_align = 128,
};

static const struct hw_ops hw_ops_mlx5 = {
	.name = "mlx5",
	.software = false,
	.rx_holds_buffers = true,
	.rx_queue_stop = true, /* needs MPRQ off: strides of one buffer hold several frames */
	/* Any size; external memory must be registered as an MR before DMA. */
	.rx_buf_align = 1,
};

/* Allocate per burst and hold nothing between bursts (null, af_packet). */
static const struct hw_ops hw_ops_software = {
	.name = "software",
	.software = true,
	.rx_holds_buffers = false,
	.rx_buf_align = 1,
};

/*
 * tap fills its ring at queue setup and releases it only at the next setup;
 * without scatter it reads into the ring's first buffer only.
 */
static const struct hw_ops hw_ops_tap = {
	.name = "tap",
	.software = true,
	.rx_holds_buffers = true,
	.rx_queue_stop = false,
	.rx_setup_releases = true,
	.rx_buf_align = 1,
};

static const struct hw_ops hw_ops_generic = {
	.name = "generic",
	.software = false,
	.rx_holds_buffers = true,
	.rx_queue_stop = true,
	/* Conservative: ixgbe-class devices program 1 KiB units. */
	.rx_buf_align = 1024,
};

static const struct {
	const char *driver;
	const struct hw_ops *ops;
} hw_ops_table[] = {
	{"net_iavf", &hw_ops_iavf},
	{"mlx5_pci", &hw_ops_mlx5},
	{"net_mlx5", &hw_ops_mlx5},
	{"net_null", &hw_ops_software},
	{"net_af_packet", &hw_ops_software},
	{"net_tap", &hw_ops_tap},
	{"net_virtio_user", &hw_ops_software},
	{"net_ring", &hw_ops_software},
	{"net_pcap", &hw_ops_software},
};

const struct hw_ops *
hw_ops_for_driver(const char *driver)
{
	for (size_t i = 0; i < RTE_DIM(hw_ops_table); i++)
		if (strcmp(driver, hw_ops_table[i].driver) == 0)
			return hw_ops_table[i].ops;
	return &hw_ops_generic;
}
