/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Translation table build (control thread). The lookup is in qsync_inline.h. */

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>

#include <vfrelay/log.h>

#include "qsync_xlate.h"

/* /proc/self/pagemap: one little-endian 64-bit entry per virtual page (Documentation/admin-guide
 * /mm/pagemap.rst). */
#define QSYNC_PAGEMAP_PRESENT (UINT64_C(1) << 63)
#define QSYNC_PAGEMAP_PFN_MASK ((UINT64_C(1) << 55) - 1)

/* Entries read per pread(): bounds the stack buffer, not the region size. */
#define QSYNC_PAGEMAP_CHUNK 512

static int
qsync_region_cmp(const void *a, const void *b)
{
	const struct qsync_xlate_region *ra = a;
	const struct qsync_xlate_region *rb = b;

	return (ra->gpa > rb->gpa) - (ra->gpa < rb->gpa);
}

int
qsync_xlate_pagemap_open(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		VFR_LOG(ERR, "open /proc/self/pagemap: %s", strerror(err));
		return -err;
	}
	return fd;
}

/* Fill r->page_iova from the pagemap entries of r's pages. */
static int
qsync_region_read_pagemap(struct qsync_xlate_region *r, int fd, uint32_t shift)
{
	const uint64_t max_pfn = (UINT64_MAX >> shift) - 1;
	uint64_t last_page = (r->hva + r->size - 1) >> shift;
	uint64_t npages = last_page - r->first_page + 1;
	uint64_t entries[QSYNC_PAGEMAP_CHUNK];
	uint64_t done = 0;

	r->page_iova = calloc(npages, sizeof(r->page_iova[0]));
	if (r->page_iova == NULL) {
		VFR_LOG(ERR, "region at guest_phys_addr 0x%" PRIx64
			  ": no memory for %" PRIu64 " page addresses", r->gpa, npages);
		return -ENOMEM;
	}

	while (done < npages) {
		uint64_t n = RTE_MIN(npages - done, (uint64_t)QSYNC_PAGEMAP_CHUNK);
		size_t want = n * sizeof(entries[0]);
		off_t off = (off_t)((r->first_page + done) * sizeof(entries[0]));
		ssize_t got = pread(fd, entries, want, off);

		/* pagemap has an entry for every page of the address space: a short read means
		 * the fd is not a pagemap. */
		if (got != (ssize_t)want) {
			VFR_LOG(ERR, "region at guest_phys_addr 0x%" PRIx64
				  ": pagemap read at page 0x%" PRIx64 " returned %zd of %zu bytes",
				  r->gpa, r->first_page + done, got, want);
			return -EIO;
		}
		for (uint64_t i = 0; i < n; i++) {
			uint64_t e = entries[i];
			uint64_t pfn = e & QSYNC_PAGEMAP_PFN_MASK;

			if (!(e & QSYNC_PAGEMAP_PRESENT)) {
				r->page_iova[done + i] = QSYNC_XLATE_IOVA_NONE;
				continue;
			}
			/* Since Linux 4.2 the PFN reads as 0 without CAP_SYS_ADMIN: every buffer
			 * would point the NIC at physical page 0. */
			if (pfn == 0) {
				VFR_LOG(ERR, "pagemap hides PFNs: PA mode needs CAP_SYS_ADMIN");
				return -EPERM;
			}
			/* Keeps iova + page size below the not-present marker in the lookup. */
			if (pfn >= max_pfn) {
				VFR_LOG(ERR, "region at guest_phys_addr 0x%" PRIx64
					  ": pagemap PFN 0x%" PRIx64 " is not a physical page",
					  r->gpa, pfn);
				return -EIO;
			}
			r->page_iova[done + i] = pfn << shift;
		}
		done += n;
	}
	return 0;
}

struct qsync_xlate *
qsync_xlate_create(const struct rte_vhost_memory *mem, enum qsync_iova_mode mode, int pagemap_fd)
{
	struct qsync_xlate *x;
	uint32_t shift = 0;
	int ret = -EINVAL;

	if (mem == NULL || mem->nregions == 0) {
		VFR_LOG(ERR, "guest memory table has no regions");
		errno = EINVAL;
		return NULL;
	}
	if (mode == QSYNC_IOVA_PA) {
		long ps = sysconf(_SC_PAGESIZE);

		if (ps <= 0 || !rte_is_power_of_2((uint64_t)ps)) {
			VFR_LOG(ERR, "unusable page size %ld", ps);
			errno = EINVAL;
			return NULL;
		}
		shift = rte_log2_u64((uint64_t)ps);
	} else if (mode != QSYNC_IOVA_VA) {
		errno = EINVAL;
		return NULL;
	}

	x = calloc(1, sizeof(*x) + (size_t)mem->nregions * sizeof(x->regions[0]));
	if (x == NULL) {
		VFR_LOG(ERR, "no memory for a %u-region translation table", mem->nregions);
		errno = ENOMEM;
		return NULL;
	}
	x->mode = mode;
	x->page_shift = shift;
	x->nregions = mem->nregions;

	for (uint32_t i = 0; i < mem->nregions; i++) {
		const struct rte_vhost_mem_region *m = &mem->regions[i];
		struct qsync_xlate_region *r = &x->regions[i];

		/* An end of exactly 2^64 is refused too: it keeps every "gpa + size" in range, so
		 * no later comparison needs overflow care. */
		if (m->size == 0 || m->guest_phys_addr + m->size <= m->guest_phys_addr ||
		    m->host_user_addr + m->size <= m->host_user_addr) {
			VFR_LOG(ERR, "region %u: guest_phys_addr 0x%" PRIx64
				  " host_user_addr 0x%" PRIx64 " size 0x%" PRIx64
				  " is empty or wraps",
				  i, m->guest_phys_addr, m->host_user_addr, m->size);
			goto fail;
		}
		r->gpa = m->guest_phys_addr;
		r->size = m->size;
		r->hva = m->host_user_addr;
	}

	qsort(x->regions, x->nregions, sizeof(x->regions[0]), qsync_region_cmp);
	for (uint32_t i = 1; i < x->nregions; i++) {
		const struct qsync_xlate_region *prev = &x->regions[i - 1];
		const struct qsync_xlate_region *cur = &x->regions[i];

		/* Overlap would make a guest address mean two host addresses. */
		if (prev->gpa + prev->size > cur->gpa) {
			VFR_LOG(ERR, "regions at guest_phys_addr 0x%" PRIx64 " (size 0x%" PRIx64
				  ") and 0x%" PRIx64 " overlap",
				  prev->gpa, prev->size, cur->gpa);
			goto fail;
		}
	}

	if (mode == QSYNC_IOVA_PA) {
		for (uint32_t i = 0; i < x->nregions; i++) {
			struct qsync_xlate_region *r = &x->regions[i];

			r->first_page = r->hva >> shift;
			ret = qsync_region_read_pagemap(r, pagemap_fd, shift);
			if (ret < 0)
				goto fail;
		}
	}
	return x;

fail:
	qsync_xlate_free(x);
	errno = -ret;
	return NULL;
}

void
qsync_xlate_free(struct qsync_xlate *x)
{
	if (x == NULL)
		return;
	for (uint32_t i = 0; i < x->nregions; i++)
		free(x->regions[i].page_iova);
	free(x);
}
