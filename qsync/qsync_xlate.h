/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Guest-physical to host address translation for zero-copy receive.
 *
 * A table is built once per guest memory table on the control thread (bind, or the post-handler
 * of SET_MEM_TABLE) and is read-only afterwards, so any number of datapath lcores may look up in
 * it without synchronisation. The last-hit hint is owned by the caller (one per queue) for the
 * same reason: the table's cache lines are never written after build.
 *
 * The memory table comes from the guest's side of the vhost-user socket and is treated as
 * hostile: build rejects what would make a lookup ambiguous or overflow. The lookup itself is a
 * hot-path helper, static inline in qsync_inline.h.
 */

#ifndef QSYNC_XLATE_H
#define QSYNC_XLATE_H

#include <stdint.h>

#include <rte_vhost.h>

/** How a device sees host memory. */
enum qsync_iova_mode {
	/** IOMMU present: the VF's DMA addresses are our virtual addresses (IOVA == VA). */
	QSYNC_IOVA_VA,
	/** No IOMMU: the VF's DMA addresses are physical addresses, read from pagemap. */
	QSYNC_IOVA_PA,
};

/* A page whose physical address is unknown (not present when the table was built). */
#define QSYNC_XLATE_IOVA_NONE UINT64_MAX

struct qsync_xlate_region {
	uint64_t gpa;  /* first guest-physical byte */
	uint64_t size; /* bytes; non-zero, gpa + size does not wrap */
	uint64_t hva;  /* our virtual address of gpa */
	/*
	 * PA mode only (NULL in VA mode): IOVA of each page of [hva, hva + size), indexed from the
	 * page holding hva, QSYNC_XLATE_IOVA_NONE where the page was not present.
	 */
	uint64_t *page_iova;
	uint64_t first_page; /* PA mode: hva >> page_shift */
};

struct qsync_xlate {
	enum qsync_iova_mode mode;
	uint32_t page_shift; /* PA mode: log2 of the page size */
	uint32_t nregions;
	struct qsync_xlate_region regions[]; /* sorted by gpa, pairwise disjoint */
};

/** One translation: where a guest-physical address is, and how far it stays contiguous. */
struct qsync_xlate_res {
	uint64_t hva;  /**< our virtual address */
	uint64_t iova; /**< the device's DMA address */
	uint64_t len;  /**< bytes contiguous in both from here, capped at what was asked for */
};

/**
 * Build a translation table from a vhost memory table.
 *
 * Regions are sorted by guest-physical address. A region of size zero, one whose guest-physical
 * or host range wraps around 2^64 (or ends exactly at it), and two regions that overlap in
 * guest-physical space are rejected.
 *
 * In PA mode the physical address of every page is read from @p pagemap_fd now, because reading
 * it at lookup time would put a syscall on the datapath. Cost: 8 bytes per page of guest memory,
 * i.e. 2 MiB per GiB with 4 KiB pages (0.2 %), allocated here. PFNs are only stable for pinned
 * memory (hugetlbfs, mlocked, preallocated): binding a guest whose memory can move or is not yet
 * faulted in gives lookups that fail, never wrong addresses, as long as the memory stays pinned.
 *
 * @param mem        the guest memory table (host_user_addr is our mapping)
 * @param mode       VA or PA
 * @param pagemap_fd PA mode: a file in /proc/self/pagemap format (see qsync_xlate_pagemap_open());
 *                   ignored in VA mode
 * @return a table to free with qsync_xlate_free(), or NULL with errno: EINVAL (bad table),
 *         ENOMEM, EIO (pagemap short or unreadable), EPERM (pagemap hides PFNs: the process
 *         lacks CAP_SYS_ADMIN)
 */
struct qsync_xlate *qsync_xlate_create(const struct rte_vhost_memory *mem,
				       enum qsync_iova_mode mode, int pagemap_fd);

/** Free a table from qsync_xlate_create(); NULL is ignored. */
void qsync_xlate_free(struct qsync_xlate *x);

/**
 * Open /proc/self/pagemap for qsync_xlate_create() in PA mode.
 *
 * @return a file descriptor (close it after the build), or -errno
 */
int qsync_xlate_pagemap_open(void);

#endif /* QSYNC_XLATE_H */
