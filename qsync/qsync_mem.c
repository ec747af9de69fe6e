/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Guest memory for zero copy, per relay (control side, under the relay's
 * zc_lock): the translation table of the current memory table, its DMA
 * mapping for the VF, and references that keep the guest's pages allocated
 * while the NIC may hold buffers in them.
 *
 * One object per memory table, shared by every bound queue of the relay and
 * reference-counted: a queue pair the guest disables unmaps nothing another
 * queue's NIC ring still uses, and binding again after a ring reset reuses
 * it instead of pinning and mapping all guest memory again. It goes stale
 * when the memory table changes or the device goes away and is freed when
 * the last binding lets go. A binding whose shells the VF never gave back
 * never lets go: the object, its DMA mapping and its page references then
 * live until the process exits, so the NIC can only ever write memory that
 * is still allocated for it.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_memory.h>
#include <rte_vhost.h>

#include <vfrelay/log.h>

#include "qsync_priv.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

struct qsync_mem_region {
	void *va;      /* our mapping (librte_vhost's mmap), page aligned */
	size_t len;
	size_t pgsz;   /* page size backing it */
	int fd;        /* our own reference to the guest's memory file, -1 if none */
	bool mapped;   /* registered and DMA-mapped for the VF */
};

struct qsync_mem {
	struct qsync_xlate *xlate;
	int vid;
	uint32_t refs;   /* bindings using it */
	bool stale;      /* memory table replaced or device gone: no new binding */
	struct qsync_mem *next; /* orphans: stale, still referenced */
	uint32_t nregions;
	struct qsync_mem_region regions[];
};

const struct qsync_xlate *
qsync_mem_xlate(const struct qsync_mem *mem)
{
	return mem->xlate;
}

/* Does [p, p + len) lie inside one guest region as we map it? */
bool
qsync_mem_contains(const struct qsync_mem *mem, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (uint32_t i = 0; i < mem->xlate->nregions; i++) {
		const struct qsync_xlate_region *r = &mem->xlate->regions[i];

		if (a >= r->hva && a - r->hva <= r->size && len <= r->size - (a - r->hva))
			return true;
	}
	return false;
}

static void
qsync_mem_unmap(const struct hw_port *port, struct qsync_mem *mem)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;

	if (rte_eth_dev_info_get(port->port_id, &info) == 0)
		dev = info.device;
	for (uint32_t i = 0; i < mem->nregions; i++) {
		struct qsync_mem_region *r = &mem->regions[i];

		if (r->mapped && dev != NULL &&
		    rte_dev_dma_unmap(dev, r->va, (uint64_t)(uintptr_t)r->va, r->len) < 0)
			VFR_LOG(WARNING, "%s: DMA unmap of a guest region failed: %s", port->name,
				rte_strerror(rte_errno));
		if (r->mapped)
			rte_extmem_unregister(r->va, r->len);
		r->mapped = false;
	}
}

static void
qsync_mem_free(const struct hw_port *port, struct qsync_mem *mem)
{
	if (mem == NULL)
		return;
	qsync_mem_unmap(port, mem);
	for (uint32_t i = 0; i < mem->nregions; i++)
		if (mem->regions[i].fd >= 0)
			close(mem->regions[i].fd);
	qsync_xlate_free(mem->xlate);
	free(mem);
}

/*
 * IOMMU (IOVA as VA): the VF reaches each region at our address. The region
 * is registered as external memory first (mlx5 registers it as an MR there).
 */
static int
qsync_mem_map(const struct hw_port *port, struct qsync_mem *mem)
{
	struct rte_eth_dev_info info;
	int ret;

	ret = rte_eth_dev_info_get(port->port_id, &info);
	if (ret != 0)
		return ret;
	for (uint32_t i = 0; i < mem->nregions; i++) {
		struct qsync_mem_region *r = &mem->regions[i];

		if (rte_extmem_register(r->va, r->len, NULL, 0, r->pgsz) < 0) {
			VFR_LOG(ERR, "%s: cannot register guest region %u (%zu bytes) as external "
				"memory: %s", port->name, i, r->len, rte_strerror(rte_errno));
			return -EIO;
		}
		if (rte_dev_dma_map(info.device, r->va, (uint64_t)(uintptr_t)r->va, r->len) < 0) {
			VFR_LOG(ERR, "%s: cannot map guest region %u for DMA: %s", port->name, i,
				rte_strerror(rte_errno));
			rte_extmem_unregister(r->va, r->len);
			return -EIO;
		}
		r->mapped = true;
	}
	return 0;
}

/*
 * No IOMMU (IOVA as PA): the VF is given physical addresses, which mean
 * something only for pages that are present and never move. Require hugetlbfs
 * (never swapped or migrated), fault every page in now (the pagemap shows only
 * present pages: librte_vhost's mapping starts empty), and keep our own
 * reference to the file so the pages outlive librte_vhost's mapping while the
 * NIC may hold them.
 */
static int
qsync_mem_prepare_pa(const char *name, struct qsync_mem_region *r, int fd)
{
	struct statfs sfs;

	if (fd < 0 || fstatfs(fd, &sfs) != 0 || (unsigned long)sfs.f_type != HUGETLBFS_MAGIC) {
		VFR_LOG_LIMITED(NOTICE,
				"%s: zero copy without an IOMMU needs hugepage-backed guest memory "
				"(memory-backend-file on hugetlbfs, or memfd with hugetlb=on)",
				name);
		return -ENOTSUP;
	}
	r->pgsz = (size_t)sfs.f_bsize;
	if (madvise(r->va, r->len, MADV_POPULATE_WRITE) != 0) {
		VFR_LOG(ERR, "%s: cannot fault in guest memory (%zu bytes): %s", name, r->len,
			strerror(errno));
		return -errno;
	}
	return 0;
}

static struct qsync_mem *
qsync_mem_build(struct fwd_relay *relay, int vid, enum qsync_fallback *why)
{
	const struct hw_port *port = &relay->port;
	bool dma = !port->ops->software;
	bool pa = dma && rte_eal_iova_mode() == RTE_IOVA_PA;
	struct rte_vhost_memory *table = NULL;
	struct qsync_mem *mem = NULL;
	int pagemap = -1;

	*why = QSYNC_FB_bind_failed;
	if (rte_vhost_get_mem_table(vid, &table) != 0)
		return NULL;
	mem = calloc(1, sizeof(*mem) + table->nregions * sizeof(mem->regions[0]));
	if (mem == NULL)
		goto fail;
	mem->vid = vid;
	for (uint32_t i = 0; i < table->nregions; i++) {
		const struct rte_vhost_mem_region *t = &table->regions[i];
		struct qsync_mem_region *r = &mem->regions[i];

		/* Only regions already set up are undone on failure (fd 0 is not ours). */
		mem->nregions = i + 1;
		r->va = t->mmap_addr;
		r->len = t->mmap_size;
		r->pgsz = (size_t)sysconf(_SC_PAGESIZE);
		r->fd = -1;
		if (!dma)
			continue;
		if (t->fd >= 0)
			r->fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 0);
		if (pa) {
			int ret = qsync_mem_prepare_pa(relay->cfg->name, r, r->fd);

			if (ret < 0) {
				*why = ret == -ENOTSUP ? QSYNC_FB_vf_no_dma : QSYNC_FB_bind_failed;
				goto fail;
			}
		}
	}
	if (pa) {
		pagemap = qsync_xlate_pagemap_open();
		if (pagemap < 0) {
			*why = QSYNC_FB_vf_no_dma;
			goto fail;
		}
	}
	mem->xlate = qsync_xlate_create(table, pa ? QSYNC_IOVA_PA : QSYNC_IOVA_VA, pagemap);
	if (pagemap >= 0)
		close(pagemap);
	if (mem->xlate == NULL) {
		if (errno == EPERM)
			*why = QSYNC_FB_vf_no_dma;
		goto fail;
	}
	if (dma && !pa && qsync_mem_map(port, mem) != 0) {
		*why = QSYNC_FB_vf_no_dma;
		goto fail;
	}
	free(table);
	VFR_LOG(INFO, "%s: guest memory of vid %d: %u regions, %s", relay->cfg->name, vid,
		mem->nregions,
		!dma ? "no DMA (software VF)" : pa ? "physical addresses (no IOMMU)"
						   : "DMA-mapped through the IOMMU");
	return mem;

fail:
	free(table);
	qsync_mem_free(port, mem);
	return NULL;
}

struct qsync_mem *
qsync_mem_get(struct fwd_relay *relay, int vid, enum qsync_fallback *why)
{
	struct qsync_mem *mem = relay->zc_mem;

	if (mem != NULL && !mem->stale && mem->vid == vid) {
		mem->refs++;
		return mem;
	}
	if (mem != NULL)
		qsync_mem_forget(relay);
	mem = qsync_mem_build(relay, vid, why);
	if (mem == NULL)
		return NULL;
	mem->refs = 1;
	relay->zc_mem = mem;
	return mem;
}

void
qsync_mem_put(struct fwd_relay *relay, struct qsync_mem *mem)
{
	if (mem == NULL || --mem->refs != 0 || !mem->stale)
		return;
	/* The last binding of a stale table let go: it may be an orphan. */
	for (struct qsync_mem **p = &relay->zc_mem_orphans; *p != NULL; p = &(*p)->next) {
		if (*p == mem) {
			*p = mem->next;
			break;
		}
	}
	qsync_mem_free(&relay->port, mem);
}

void
qsync_mem_forget(struct fwd_relay *relay)
{
	struct qsync_mem *mem = relay->zc_mem;

	if (mem == NULL)
		return;
	relay->zc_mem = NULL;
	mem->stale = true;
	if (mem->refs == 0) {
		qsync_mem_free(&relay->port, mem);
		return;
	}
	/* Held by a binding the VF has not let go of: keep mapping and pages alive. */
	VFR_LOG(CRIT, "%s: guest memory of vid %d stays mapped: the VF may still hold %u "
		"binding(s) in it", relay->cfg->name, mem->vid, mem->refs);
	mem->next = relay->zc_mem_orphans;
	relay->zc_mem_orphans = mem;
}

void
qsync_mem_release_all(struct fwd_relay *relay)
{
	qsync_mem_forget(relay);
	while (relay->zc_mem_orphans != NULL) {
		struct qsync_mem *mem = relay->zc_mem_orphans;

		relay->zc_mem_orphans = mem->next;
		qsync_mem_free(&relay->port, mem);
	}
}
