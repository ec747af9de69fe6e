/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Zero-copy descriptor intake against a reference model.
 *
 * One input is one guest: a memory table of 1-4 regions (edge addresses: near 0, ending at or
 * near 2^64, adjacent, overlapping, page-unaligned on both sides), VA or PA mode (PA with a
 * synthetic pagemap in a memfd), a split ring with any size, features, VF buffer size and start
 * indices, and then a sequence of operations: the guest posts buffers or rewrites any byte of
 * its rings, the datapath pops, completes in any order, flushes and decides on notifications,
 * the control thread hands back, and raw translations are looked up.
 *
 * The model is written plainly and independently (linear region scan, per-page contiguity,
 * its own copy of the pagemap) and predicts every result exactly: which avail entries are given
 * out and with which address, IOVA and length, every counter, every used entry and index, every
 * notification decision, what a hand back does. On top of the exact comparison the properties
 * that matter are checked directly: a buffer handed out lies inside one region at the offset
 * its guest address says and is long enough for header + VF buffer; the simulated VF writes
 * exactly that much into it; a flush writes only the used entries it publishes and moves
 * used->idx forward by what was completed; in-flight never exceeds the ring; a used length
 * never exceeds the descriptor's.
 *
 * Guest memory is real memory of exactly the region's size (the rest of its pages poisoned),
 * and each ring part is its own allocation, so AddressSanitizer sees any stray access.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sanitizer/asan_interface.h>

#include <rte_log.h>

#include "qsync_inline.h"
#include "qsync_vring.h"
#include "qsync_xlate.h"

#include "fuzz_input.h"

#define MAX_REGIONS 4
#define MAX_OPS	    512
#define MAX_POP	    256
#define PM_PRESENT  (UINT64_C(1) << 63)
#define PM_PFN_MASK ((UINT64_C(1) << 55) - 1)

/* pagemap covers the user address space of x86-64 (47 bits) */
#define PAGEMAP_SIZE ((UINT64_C(1) << 47) >> 12 << 3)

static uint64_t page_size;
static uint32_t page_shift;
static int pagemap_fd = -1;	  /* sparse memfd, one entry per virtual page */
static int short_pagemap_fd = -1; /* empty memfd: every read is short */

struct region {
	uint8_t *block; /* page-aligned allocation holding the region */
	size_t block_len;
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;	     /* inside block */
	uint64_t first_page; /* hva >> page_shift */
	uint64_t npages;
	uint64_t *pm; /* the model's copy of the pagemap entries of its pages */
};

/* The model's record of a buffer given to the VF, by the slot id the ring chose. */
struct mslot {
	bool held; /* given to the VF, not completed */
	uint16_t head;
	uint32_t max_len;
	uint64_t seq; /* its avail entry's number since the bind */
};

struct world {
	struct region reg[MAX_REGIONS];
	uint32_t nreg;
	enum qsync_iova_mode mode;
	struct qsync_xlate *x;

	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	size_t desc_bytes, avail_bytes, used_bytes;
	uint16_t size;
	uint16_t mask;
	struct qsync_vring *vr;

	/* model */
	uint64_t avail_seq;  /* avail entries popped since the bind (its low 16 bits: last avail) */
	uint16_t last_avail; /* next avail entry to pop */
	uint16_t last_used;  /* next used entry to write */
	uint16_t used_idx;   /* used->idx as the last flush published it */
	uint16_t signalled;
	bool signalled_valid;
	bool event_idx;
	uint32_t min_len;
	struct qsync_vring_stats stats;
	struct mslot *slots; /* by slot id */
	uint16_t *held;	     /* slot ids given to the VF, in no particular order */
	uint32_t nheld;

	/* the guest's own bookkeeping */
	uint16_t guest_avail;
	uint16_t guest_next_desc;
	uint32_t lookup_hint;
};

/* FUZZ_VERBOSE=1: one line per input saying what it did, to check that a seed does what it
 * was written for. */
static bool verbose;
static struct {
	unsigned long given, rejected, completed, published, rewound, zeroed, lookups;
} tally;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	long ps = sysconf(_SC_PAGESIZE);

	(void)argc;
	(void)argv;
	page_size = (uint64_t)ps;
	page_shift = (uint32_t)__builtin_ctzll(page_size);
	pagemap_fd = memfd_create("fuzz-pagemap", MFD_CLOEXEC);
	short_pagemap_fd = memfd_create("fuzz-pagemap-short", MFD_CLOEXEC);
	if (pagemap_fd < 0 || short_pagemap_fd < 0 || ftruncate(pagemap_fd, PAGEMAP_SIZE) != 0)
		abort();
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	/* Refused tables are logged by the code under test: expected, and noise here. */
	rte_log_set_global_level(RTE_LOG_EMERG);
	return 0;
}

/* ---- guest memory ---- */

static uint64_t
pick_size(struct fuzz_input *in)
{
	switch (fuzz_u8(in) % 5) {
	case 0:
		return 1 + fuzz_u8(in);
	case 1:
		return page_size * (1 + fuzz_u8(in) % 4);
	case 2:
		return 0; /* refused by the build */
	case 3:
		return 1 + fuzz_u16(in) % (5 * page_size);
	default:
		/* around QSYNC_DESC_LEN_MAX, where a longer descriptor is used in part */
		return QSYNC_DESC_LEN_MAX - 128 + fuzz_u8(in);
	}
}

static uint64_t
pick_gpa(struct fuzz_input *in, const struct world *w, uint32_t i, uint64_t size)
{
	const struct region *prev = i > 0 ? &w->reg[i - 1] : NULL;

	switch (fuzz_u8(in) % 7) {
	case 0:
		return fuzz_u16(in); /* near 0 */
	case 1:
		if (prev != NULL)
			return prev->gpa + prev->size; /* adjacent */
		return 0;
	case 2:
		/* ends k bytes below 2^64; k == 0 ends exactly at 2^64 (refused) */
		return UINT64_MAX - size + 1 - fuzz_u8(in);
	case 3:
		if (prev != NULL && prev->size > 0)
			return prev->gpa + fuzz_u64(in) % prev->size; /* overlap */
		return fuzz_u64(in);
	case 4:
		return (UINT64_C(1) << 32) - fuzz_u16(in); /* around the 4 GiB hole */
	case 5:
		return fuzz_u64(in) & ~(page_size - 1);
	default:
		return fuzz_u64(in);
	}
}

/* Pagemap entries for a region's pages; written to the memfd and kept for the model. */
static void
fill_pagemap(struct fuzz_input *in, struct region *r)
{
	const uint64_t max_pfn = (UINT64_MAX >> page_shift) - 1;
	uint8_t kind = fuzz_u8(in) % 6;
	uint64_t pfn;

	switch (fuzz_u8(in) % 3) {
	case 0:
		pfn = 1 + fuzz_u32(in);
		break;
	case 1:
		pfn = max_pfn - r->npages + fuzz_u8(in) % 4; /* the highest usable pages */
		break;
	default:
		pfn = 1 + (fuzz_u64(in) & PM_PFN_MASK) % (max_pfn + 8);
		break;
	}
	for (uint64_t p = 0; p < r->npages; p++) {
		uint64_t e = PM_PRESENT | (pfn & PM_PFN_MASK);

		switch (kind) {
		case 0: /* consecutive physical pages */
		case 1:
			break;
		case 2: /* a hole or a jump now and then */
			if (fuzz_u8(in) % 4 == 0)
				e = fuzz_u8(in) & 1 ? 0 : PM_PRESENT | (fuzz_u32(in) + 1ull);
			break;
		case 3: /* not present at all */
			e = 0;
			break;
		case 4: /* PFNs hidden, as without CAP_SYS_ADMIN: refused */
			e = PM_PRESENT;
			break;
		default: /* anything, soft-dirty and exclusive bits included */
			e = fuzz_u64(in);
			break;
		}
		r->pm[p] = e;
		pfn = (e & PM_PFN_MASK) + 1;
	}
	if (pwrite(pagemap_fd, r->pm, r->npages * 8, (off_t)(r->first_page * 8)) !=
	    (ssize_t)(r->npages * 8))
		abort();
}

static void
regions_free(struct world *w)
{
	for (uint32_t i = 0; i < w->nreg; i++) {
		ASAN_UNPOISON_MEMORY_REGION(w->reg[i].block, w->reg[i].block_len);
		free(w->reg[i].block);
		free(w->reg[i].pm);
	}
	w->nreg = 0;
}

static void
regions_build(struct fuzz_input *in, struct world *w)
{
	w->nreg = 1 + fuzz_u8(in) % MAX_REGIONS;
	for (uint32_t i = 0; i < w->nreg; i++) {
		struct region *r = &w->reg[i];
		uint64_t off, alloc_size;

		r->size = pick_size(in);
		off = fuzz_u8(in) & 1 ? fuzz_u16(in) % page_size : 0;
		alloc_size = r->size > 0 ? r->size : 1;
		r->block_len = (off + alloc_size + page_size - 1) & ~(page_size - 1);
		r->block = aligned_alloc(page_size, r->block_len);
		if (r->block == NULL)
			abort();
		r->hva = (uint64_t)(uintptr_t)r->block + off;
		/* Only the region's own bytes are addressable. */
		ASAN_POISON_MEMORY_REGION(r->block, off);
		ASAN_POISON_MEMORY_REGION(r->block + off + r->size, r->block_len - off - r->size);
		r->gpa = pick_gpa(in, w, i, r->size);
		r->first_page = r->hva >> page_shift;
		r->npages = ((r->hva + alloc_size - 1) >> page_shift) - r->first_page + 1;
		r->pm = calloc(r->npages, sizeof(r->pm[0]));
		if (r->pm == NULL)
			abort();
	}
}

/* The rules qsync_xlate_create() documents, checked the slow way. */
static bool
model_table_valid(const struct world *w)
{
	for (uint32_t i = 0; i < w->nreg; i++) {
		const struct region *a = &w->reg[i];

		if (a->size == 0 || a->gpa + a->size <= a->gpa || a->hva + a->size <= a->hva)
			return false;
	}
	for (uint32_t i = 0; i < w->nreg; i++) {
		for (uint32_t j = i + 1; j < w->nreg; j++) {
			const struct region *a = &w->reg[i], *b = &w->reg[j];

			if (a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size)
				return false;
		}
	}
	return true;
}

/* PA mode: the errno the build reports, in the order it reads (regions by gpa, pages). */
static int
model_pagemap_errno(const struct world *w)
{
	const uint64_t max_pfn = (UINT64_MAX >> page_shift) - 1;
	bool used[MAX_REGIONS] = {false};

	for (uint32_t n = 0; n < w->nreg; n++) {
		const struct region *r = NULL;
		uint32_t k = 0;

		for (uint32_t i = 0; i < w->nreg; i++) {
			if (!used[i] && (r == NULL || w->reg[i].gpa < r->gpa)) {
				r = &w->reg[i];
				k = i;
			}
		}
		used[k] = true;
		for (uint64_t p = 0; p < r->npages; p++) {
			uint64_t e = r->pm[p], pfn = e & PM_PFN_MASK;

			if (!(e & PM_PRESENT))
				continue;
			if (pfn == 0)
				return EPERM;
			if (pfn >= max_pfn)
				return EIO;
		}
	}
	return 0;
}

static const struct region *
model_region_of(const struct world *w, uint64_t gpa)
{
	for (uint32_t i = 0; i < w->nreg; i++) {
		const struct region *r = &w->reg[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

static uint64_t
model_pm(const struct region *r, uint64_t hva)
{
	return r->pm[(hva >> page_shift) - r->first_page];
}

/*
 * The translation a correct table gives: -EFAULT, or hva/iova and how far (at most want) both
 * stay contiguous.
 */
static int
model_lookup(const struct world *w, uint64_t gpa, uint64_t want, struct qsync_xlate_res *res)
{
	const struct region *r = model_region_of(w, gpa);
	uint64_t off, e, contig, hva;

	if (r == NULL)
		return -EFAULT;
	off = gpa - r->gpa;
	if (want > r->size - off)
		want = r->size - off;
	hva = r->hva + off;
	res->hva = hva;
	if (w->mode == QSYNC_IOVA_VA) {
		res->iova = hva;
		res->len = want;
		return 0;
	}
	e = model_pm(r, hva);
	if (!(e & PM_PRESENT))
		return -EFAULT;
	res->iova = ((e & PM_PFN_MASK) << page_shift) + (hva & (page_size - 1));
	contig = page_size - (hva & (page_size - 1));
	for (uint64_t page = hva >> page_shift; contig < want; page++) {
		uint64_t cur = model_pm(r, page << page_shift);
		uint64_t next = model_pm(r, (page + 1) << page_shift);

		if (!(next & PM_PRESENT) || (next & PM_PFN_MASK) != (cur & PM_PFN_MASK) + 1)
			break;
		contig += page_size;
	}
	res->len = contig < want ? contig : want;
	return 0;
}

/* ---- the ring ---- */

static bool
ring_build(struct fuzz_input *in, struct world *w)
{
	struct qsync_vring_params p = {0};
	uint8_t f = fuzz_u8(in);
	bool valid;
	uint16_t size;

	if (fuzz_u8(in) % 16 == 0)
		size = fuzz_u16(in); /* anything, mostly refused */
	else
		size = (uint16_t)(1u << (fuzz_u8(in) % 11));
	switch (fuzz_u8(in) % 4) {
	case 0:
		p.buf_size = fuzz_u32(in);
		break;
	case 1:
		p.buf_size = 1 + fuzz_u8(in);
		break;
	case 2:
		p.buf_size = 1 + fuzz_u16(in) % (2 * page_size);
		break;
	default:
		p.buf_size = 1536 - 12 * (f & 1);
		break;
	}
	p.features = (f & 2 ? UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX : 0) |
		     (f & 4 ? UINT64_C(1) << VIRTIO_NET_F_MRG_RXBUF : 0) |
		     (f & 8 ? UINT64_C(1) << VIRTIO_F_VERSION_1 : 0) |
		     ((f & 0xf0) == 0xf0 ? UINT64_C(1) << VIRTIO_F_RING_PACKED : 0);
	p.last_avail_idx = fuzz_u16(in);
	p.last_used_idx = fuzz_u8(in) % 16 == 0 ? fuzz_u16(in) : p.last_avail_idx;

	/* Ring memory sized for the smallest valid ring of this size; at least one entry. */
	w->size = size;
	w->desc_bytes = sizeof(struct vring_desc) * (size ? size : 1);
	w->avail_bytes = sizeof(struct vring_avail) + sizeof(uint16_t) * ((size_t)size + 1);
	w->used_bytes = sizeof(struct vring_used) + sizeof(struct vring_used_elem) * size +
			sizeof(uint16_t);
	w->desc = calloc(1, w->desc_bytes);
	w->avail = calloc(1, w->avail_bytes);
	w->used = calloc(1, w->used_bytes);
	w->slots = calloc(size ? size : 1, sizeof(w->slots[0]));
	w->held = calloc(size ? size : 1, sizeof(w->held[0]));
	if (!w->desc || !w->avail || !w->used || !w->slots || !w->held)
		abort();
	w->avail->idx = p.last_avail_idx;
	w->used->idx = p.last_used_idx;
	w->guest_avail = p.last_avail_idx;

	p.desc = w->desc;
	p.avail = w->avail;
	p.used = w->used;
	p.size = size;
	p.xlate = w->x;
	w->vr = qsync_vring_create(&p);

	valid = size != 0 && size <= 32768 && (size & (size - 1)) == 0 &&
		!(p.features & (UINT64_C(1) << VIRTIO_F_RING_PACKED)) &&
		p.last_avail_idx == p.last_used_idx && p.buf_size != 0 && p.buf_size <= UINT16_MAX;
	FUZZ_CHECK((w->vr != NULL) == valid, "vring_create: got %p, model says %s", (void *)w->vr,
		   valid ? "valid" : "invalid");
	if (w->vr == NULL) {
		FUZZ_CHECK(errno == EINVAL, "vring_create errno %d", errno);
		return false;
	}
	w->mask = size - 1;
	w->last_avail = w->last_used = w->used_idx = p.last_avail_idx;
	w->avail_seq = p.last_avail_idx;
	w->event_idx = p.features & (UINT64_C(1) << VIRTIO_RING_F_EVENT_IDX);
	w->min_len = (p.features & ((UINT64_C(1) << VIRTIO_NET_F_MRG_RXBUF) |
				    (UINT64_C(1) << VIRTIO_F_VERSION_1))
			      ? 12
			      : 10) +
		     p.buf_size;
	FUZZ_CHECK(w->vr->min_len == w->min_len, "min_len %u, want %u", w->vr->min_len, w->min_len);
	return true;
}

static uint16_t
model_in_flight(const struct world *w)
{
	return (uint16_t)(w->last_avail - w->last_used);
}

static void
check_state(const struct world *w)
{
	const struct qsync_vring *vr = w->vr;

	FUZZ_CHECK(vr->last_avail_idx == w->last_avail && vr->last_used_idx == w->last_used &&
			   vr->used_idx == w->used_idx,
		   "indices avail %u used %u published %u, model %u %u %u", vr->last_avail_idx,
		   vr->last_used_idx, vr->used_idx, w->last_avail, w->last_used, w->used_idx);
	FUZZ_CHECK(qsync_vring_in_flight(vr) == w->nheld && w->nheld <= w->size,
		   "in flight %u, model %u, ring size %u", qsync_vring_in_flight(vr), w->nheld,
		   w->size);
	/* Popped but unpublished entries (held, or written and not flushed) fit in the used ring:
	 * a used entry never lands on one the guest has not been shown yet. */
	FUZZ_CHECK((uint16_t)(w->last_avail - w->used_idx) <= w->size,
		   "%u avail entries popped beyond used->idx, ring size %u",
		   (uint16_t)(w->last_avail - w->used_idx), w->size);
	FUZZ_CHECK(vr->stats.bad_ring == w->stats.bad_ring &&
			   vr->stats.bad_desc == w->stats.bad_desc &&
			   vr->stats.desc_too_small == w->stats.desc_too_small,
		   "stats bad_ring %lu bad_desc %lu too_small %lu, model %lu %lu %lu",
		   vr->stats.bad_ring, vr->stats.bad_desc, vr->stats.desc_too_small,
		   w->stats.bad_ring, w->stats.bad_desc, w->stats.desc_too_small);
}

/* The used ring as an operation must leave it: @p want starts as a copy taken before it. */
static uint8_t want_used[sizeof(struct vring_used) + 8 * 32768 + 2];

static void
want_begin(const struct world *w)
{
	memcpy(want_used, w->used, w->used_bytes);
}

/* The model writes the next used entry (seen by the guest at the next flush). */
static void
want_used_entry(struct world *w, uint16_t head, uint32_t len)
{
	struct vring_used *u = (struct vring_used *)want_used;

	u->ring[w->last_used & w->mask].id = head;
	u->ring[w->last_used & w->mask].len = len;
	w->last_used++;
}

/* Every byte of the used ring is what the model says: the entries it wrote, used->idx only
 * moved by a flush, nothing else touched. */
static void
want_check(const struct world *w, const char *op)
{
	FUZZ_CHECK(
		memcmp(want_used, w->used, w->used_bytes) == 0,
		"%s: the used ring differs from the model (an entry, used->idx, or bytes it must "
		"not write)",
		op);
}

/* ---- the guest ---- */

static uint64_t
pick_addr(struct fuzz_input *in, const struct world *w, uint32_t len)
{
	const struct region *r = &w->reg[fuzz_u8(in) % w->nreg];

	switch (fuzz_u8(in) % 8) {
	case 0:
		return r->gpa;
	case 1:
		return r->gpa + r->size - len; /* ends at the region's end */
	case 2:
		return r->gpa + r->size - len + 1 + fuzz_u8(in) % 8; /* one past */
	case 3:
		return r->gpa - 1 - fuzz_u8(in) % 8; /* just before */
	case 4:
		return r->gpa + r->size; /* the next region, if adjacent */
	case 5:
		return r->gpa + (r->size ? fuzz_u64(in) % r->size : 0);
	case 6:
		/* a page boundary inside the region (PA contiguity) */
		return r->gpa + ((page_size - (r->hva & (page_size - 1))) & (page_size - 1)) -
		       len / 2;
	default:
		return fuzz_u64(in);
	}
}

static uint32_t
pick_len(struct fuzz_input *in, const struct world *w)
{
	const struct region *r = &w->reg[fuzz_u8(in) % w->nreg];

	switch (fuzz_u8(in) % 7) {
	case 0:
		return w->min_len;
	case 1:
		return w->min_len - 1;
	case 2:
		return (uint32_t)r->size;
	case 3:
		return 0;
	case 4:
		return UINT32_MAX - fuzz_u8(in);
	case 5:
		return w->min_len + fuzz_u16(in) % page_size;
	default:
		return fuzz_u32(in);
	}
}

static uint16_t
pick_flags(struct fuzz_input *in)
{
	switch (fuzz_u8(in) % 8) {
	case 0:
		return VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	case 1:
		return VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT;
	case 2:
		return 0;
	case 3:
		return fuzz_u16(in);
	default:
		return VRING_DESC_F_WRITE;
	}
}

static void
guest_post(struct fuzz_input *in, struct world *w)
{
	uint32_t n = 1 + fuzz_u8(in) % 16;

	for (uint32_t i = 0; i < n; i++) {
		uint16_t head;
		uint32_t len;

		if (fuzz_u8(in) % 8 == 0)
			head = fuzz_u16(in); /* anything, out of range included */
		else
			head = w->guest_next_desc++ & w->mask;
		if (head < w->size) {
			struct vring_desc *d = &w->desc[head];

			len = pick_len(in, w);
			d->len = len;
			d->addr = pick_addr(in, w, len);
			d->flags = pick_flags(in);
			d->next = fuzz_u16(in);
		}
		w->avail->ring[w->guest_avail & w->mask] = head;
		w->guest_avail++;
	}
	__atomic_store_n(&w->avail->idx, w->guest_avail, __ATOMIC_RELEASE);
}

/* The guest may write anything anywhere in its rings between two calls. */
static void
guest_scribble(struct fuzz_input *in, struct world *w)
{
	uint8_t *area;
	size_t len;
	uint32_t n = 1 + fuzz_u8(in) % 16;

	switch (fuzz_u8(in) % 3) {
	case 0:
		area = (uint8_t *)w->desc;
		len = w->desc_bytes;
		break;
	case 1:
		area = (uint8_t *)w->avail;
		len = w->avail_bytes;
		break;
	default:
		area = (uint8_t *)w->used;
		len = w->used_bytes;
		break;
	}
	for (size_t off = fuzz_u32(in) % len; n > 0 && off < len; n--, off++)
		area[off] = fuzz_u8(in);
}

static void
guest_control(struct fuzz_input *in, struct world *w)
{
	switch (fuzz_u8(in) % 4) {
	case 0: /* avail->idx jumps anywhere */
		w->guest_avail = fuzz_u16(in);
		w->avail->idx = w->guest_avail;
		break;
	case 1:
		w->avail->flags = fuzz_u16(in) & 1 ? VRING_AVAIL_F_NO_INTERRUPT : 0;
		break;
	case 2: /* used_event: around where used->idx is, or anything */
		w->avail->ring[w->size] = fuzz_u8(in) & 1
						  ? (uint16_t)(w->last_used + fuzz_u8(in) - 128)
						  : fuzz_u16(in);
		break;
	default: /* the guest forgets what it posted: its idx falls back to ours */
		w->guest_avail = w->last_avail;
		break;
	}
}

/* ---- datapath operations against the model ---- */

static bool
model_desc_ok(struct world *w, uint16_t head, struct qsync_buf *b)
{
	const struct vring_desc *d;
	struct qsync_xlate_res res;
	const char *why;
	uint32_t len;

	if (head >= w->size) {
		why = "head out of range";
		goto bad;
	}
	d = &w->desc[head];
	if ((d->flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) ||
	    !(d->flags & VRING_DESC_F_WRITE)) {
		why = "chained, indirect or read-only";
		goto bad;
	}
	/* A longer descriptor is used in part: only what is used must be guest memory. */
	len = d->len < QSYNC_DESC_LEN_MAX ? d->len : QSYNC_DESC_LEN_MAX;
	if (len < w->min_len) {
		w->stats.desc_too_small++;
		if (verbose)
			fprintf(stderr, "  desc %u: len %u < %u\n", head, len, w->min_len);
		return false;
	}
	if (model_lookup(w, d->addr, len, &res) != 0 || res.len < len) {
		why = "not contiguous guest memory";
		goto bad;
	}
	b->hva = res.hva;
	b->iova = res.iova;
	b->len = len;
	b->head = head;
	return true;
bad:
	w->stats.bad_desc++;
	if (verbose)
		fprintf(stderr, "  desc %u: %s\n", head, why);
	return false;
}

/* What a buffer handed to the VF must be, checked against the regions directly. */
static void
check_buf(const struct world *w, const struct qsync_buf *b)
{
	const struct vring_desc *d = &w->desc[b->head];
	const struct region *r = model_region_of(w, d->addr);

	FUZZ_CHECK(r != NULL, "buffer gpa 0x%lx in no region", (uint64_t)d->addr);
	FUZZ_CHECK(b->hva >= r->hva && b->len <= r->size && b->hva - r->hva <= r->size - b->len,
		   "buffer hva 0x%lx len %u outside region hva 0x%lx size 0x%lx", b->hva, b->len,
		   r->hva, r->size);
	FUZZ_CHECK(b->hva - r->hva == d->addr - r->gpa, "buffer hva 0x%lx for gpa 0x%lx", b->hva,
		   (uint64_t)d->addr);
	FUZZ_CHECK(b->len <= d->len && b->len <= QSYNC_DESC_LEN_MAX,
		   "buffer len %u, descriptor %u, cap %u", b->len, d->len, QSYNC_DESC_LEN_MAX);
	FUZZ_CHECK(b->len >= w->min_len, "buffer len %u < header + VF buffer %u", b->len,
		   w->min_len);
	if (w->mode == QSYNC_IOVA_VA)
		FUZZ_CHECK(b->iova == b->hva, "VA mode iova 0x%lx != hva 0x%lx", b->iova, b->hva);
	/* The VF writes header + its buffer size, the datapath the header first: that memory
	 * must be the guest's. */
	memset((void *)(uintptr_t)b->hva, 0xa5, w->min_len);
	qsync_net_hdr_write((void *)(uintptr_t)b->hva, w->vr->hdr_len, b->len & 1);
}

static void
op_pop(struct fuzz_input *in, struct world *w)
{
	static struct qsync_buf got[MAX_POP], want[MAX_POP];
	uint16_t n = (uint16_t)(fuzz_u8(in) % 4 == 0 ? 1 + fuzz_u8(in) : 1 + fuzz_u8(in) % 32);
	uint16_t idx = w->avail->idx;
	uint16_t cnt = (uint16_t)(idx - w->last_avail);
	uint16_t budget, nwant = 0, ngot;
	uint64_t seqs[MAX_POP];

	/* model first: the call writes only used entries, slots and our stats */
	want_begin(w);
	if (cnt > w->size) {
		w->stats.bad_ring++;
		cnt = 0;
	}
	/* never more popped beyond used->idx than the ring holds */
	budget = (uint16_t)(w->size - (uint16_t)(w->last_avail - w->used_idx));
	if (cnt < budget)
		budget = cnt;
	while (nwant < n && budget > 0) {
		uint16_t head = w->avail->ring[w->last_avail & w->mask];

		budget--;
		if (model_desc_ok(w, head, &want[nwant]))
			seqs[nwant++] = w->avail_seq;
		else
			want_used_entry(w, head, 0); /* rejected: back to the guest, empty */
		w->avail_seq++;
		w->last_avail++;
	}

	ngot = qsync_vring_pop(w->vr, got, n);
	tally.given += ngot;
	FUZZ_CHECK(ngot == nwant, "pop %u returned %u, model %u", n, ngot, nwant);
	want_check(w, "pop");
	for (uint16_t i = 0; i < ngot; i++) {
		struct mslot *s;

		FUZZ_CHECK(got[i].hva == want[i].hva && got[i].iova == want[i].iova &&
				   got[i].len == want[i].len && got[i].head == want[i].head,
			   "pop[%u]: hva 0x%lx iova 0x%lx len %u head %u; model 0x%lx 0x%lx %u %u",
			   i, got[i].hva, got[i].iova, got[i].len, got[i].head, want[i].hva,
			   want[i].iova, want[i].len, want[i].head);
		/* the slot id is the ring's choice: below the ring size, not one still held */
		FUZZ_CHECK(got[i].slot < w->size && !w->slots[got[i].slot].held,
			   "pop[%u]: slot %u (ring size %u) %s", i, got[i].slot, w->size,
			   got[i].slot < w->size ? "is still held" : "out of range");
		s = &w->slots[got[i].slot];
		s->held = true;
		s->head = got[i].head;
		s->max_len = got[i].len;
		s->seq = seqs[i];
		w->held[w->nheld++] = got[i].slot;
		check_buf(w, &got[i]);
	}
}

static uint32_t
pick_used_len(struct fuzz_input *in, const struct mslot *s)
{
	switch (fuzz_u8(in) % 4) {
	case 0:
		return s->max_len;
	case 1:
		return s->max_len + 1 + fuzz_u8(in); /* a caller bug: clamped */
	case 2:
		return 0;
	default:
		return fuzz_u32(in);
	}
}

static void
complete_one(struct fuzz_input *in, struct world *w, uint32_t i)
{
	uint16_t id = w->held[i];
	struct mslot *s = &w->slots[id];
	uint32_t len = pick_used_len(in, s);

	/* any order: the used entry is written in completion order, never claiming more than
	 * the descriptor holds */
	want_begin(w);
	want_used_entry(w, s->head, len < s->max_len ? len : s->max_len);
	qsync_vring_complete(w->vr, id, len);
	tally.completed++;
	want_check(w, "complete");
	s->held = false;
	w->held[i] = w->held[--w->nheld];
}

static void
op_complete(struct fuzz_input *in, struct world *w)
{
	uint32_t n = fuzz_u8(in) % 4 == 0 ? w->nheld : 1 + fuzz_u8(in) % 8;

	while (n-- > 0 && w->nheld > 0)
		complete_one(in, w, fuzz_u32(in) % w->nheld);
}

static bool
model_notify(struct world *w)
{
	if (w->event_idx) {
		uint16_t event = w->avail->ring[w->size];
		uint16_t old = w->signalled;
		bool valid = w->signalled_valid;

		w->signalled = w->used_idx;
		w->signalled_valid = true;
		/* virtio 1.x 2.7.10: notify when used->idx passed used_event since the last one */
		return !valid ||
		       (uint16_t)(w->used_idx - event - 1) < (uint16_t)(w->used_idx - old);
	}
	return !(w->avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
}

static uint16_t
checked_flush(struct world *w, bool *notify)
{
	uint16_t n = (uint16_t)(w->last_used - w->used_idx), got;
	bool want_notify = false;

	want_begin(w);
	if (n > 0) {
		((struct vring_used *)want_used)->idx = w->last_used;
		w->used_idx = w->last_used;
		want_notify = model_notify(w);
	}
	got = qsync_vring_flush(w->vr, notify);
	tally.published += got;
	FUZZ_CHECK(got == n, "flush published %u, model %u", got, n);
	FUZZ_CHECK(n <= w->size, "published %u > ring size", n);
	/* used->idx moved forward by exactly what was written since the last flush */
	want_check(w, "flush");
	FUZZ_CHECK(*notify == want_notify, "notify %d, model %d", *notify, want_notify);
	return n;
}

static void
op_flush(struct world *w)
{
	bool notify;

	checked_flush(w, &notify);
}

static int
seq_cmp(const void *a, const void *b, void *arg)
{
	const struct mslot *slots = arg;
	uint64_t x = slots[*(const uint16_t *)a].seq, y = slots[*(const uint16_t *)b].seq;

	return (x > y) - (x < y);
}

static void
op_hand_back(struct world *w)
{
	struct qsync_hand_back out;
	bool notify = false;
	uint32_t run = 0;

	/* Model: the held buffers by age; the newest ones that are also the last avail entries
	 * popped are rewound (read again next time), every other one is completed empty, oldest
	 * first; then one flush publishes it all. */
	want_begin(w);
	qsort_r(w->held, w->nheld, sizeof(w->held[0]), seq_cmp, w->slots);
	while (run < w->nheld &&
	       w->slots[w->held[w->nheld - 1 - run]].seq == w->avail_seq - 1 - run)
		run++;
	for (uint32_t i = 0; i < w->nheld - run; i++)
		want_used_entry(w, w->slots[w->held[i]].head, 0);
	for (uint32_t i = 0; i < w->nheld; i++)
		w->slots[w->held[i]].held = false;
	w->avail_seq -= run;
	w->last_avail = (uint16_t)w->avail_seq;
	FUZZ_CHECK(w->last_avail == w->last_used, "model: hand back leaves %u in flight",
		   model_in_flight(w));
	if (w->last_used != w->used_idx) {
		((struct vring_used *)want_used)->idx = w->last_used;
		w->used_idx = w->last_used;
		notify = model_notify(w);
	}

	qsync_vring_hand_back(w->vr, &out);
	tally.rewound += out.rewound;
	tally.zeroed += out.zeroed;
	FUZZ_CHECK(out.rewound == run && out.zeroed == w->nheld - run,
		   "hand back rewound %u zeroed %u, model %u %u", out.rewound, out.zeroed, run,
		   w->nheld - run);
	w->nheld = 0;
	FUZZ_CHECK(out.last_avail_idx == w->last_avail && out.last_used_idx == w->last_used &&
			   out.last_avail_idx == out.last_used_idx,
		   "hand back indices %u %u, model %u", out.last_avail_idx, out.last_used_idx,
		   w->last_avail);
	FUZZ_CHECK(out.notify == notify, "hand back notify %d, model %d", out.notify, notify);
	want_check(w, "hand back");
}

static void
op_lookup(struct fuzz_input *in, struct world *w)
{
	struct qsync_xlate_res got, want;
	uint64_t gpa, len;
	int rc, mrc;

	len = fuzz_u8(in) % 4 == 0 ? fuzz_u64(in) : fuzz_u16(in);
	gpa = pick_addr(in, w, (uint32_t)len);
	if (fuzz_u8(in) % 8 == 0)
		w->lookup_hint = fuzz_u32(in); /* any hint is safe */
	rc = qsync_xlate_lookup(w->x, gpa, len, &w->lookup_hint, &got);
	tally.lookups += rc == 0;
	mrc = model_lookup(w, gpa, len, &want);
	FUZZ_CHECK(rc == mrc, "lookup 0x%lx+%lu: %d, model %d", gpa, len, rc, mrc);
	if (rc != 0)
		return;
	FUZZ_CHECK(got.hva == want.hva && got.iova == want.iova && got.len == want.len,
		   "lookup 0x%lx+%lu: hva 0x%lx iova 0x%lx len %lu; model 0x%lx 0x%lx %lu", gpa,
		   len, got.hva, got.iova, got.len, want.hva, want.iova, want.len);
	FUZZ_CHECK(got.len <= len, "lookup gave %lu > %lu asked", got.len, len);
	if (got.len > 0) {
		/* what it returns is memory of that region: touch both ends */
		((uint8_t *)(uintptr_t)got.hva)[0] ^= 0x5a;
		((uint8_t *)(uintptr_t)got.hva)[got.len - 1] ^= 0x5a;
	}
}

static void
op_avail_count(struct world *w)
{
	uint16_t cnt = (uint16_t)(w->avail->idx - w->last_avail);
	uint16_t got = qsync_vring_avail_count(w->vr);

	if (cnt > w->size) {
		w->stats.bad_ring++;
		cnt = 0;
	}
	FUZZ_CHECK(got == cnt, "avail count %u, model %u", got, cnt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	struct rte_vhost_memory *mem;
	struct fuzz_input in;
	bool valid;
	int pm_fd, want_errno = 0;

	memset(&w, 0, sizeof(w));
	fuzz_input_init(&in, data, size);
	w.mode = fuzz_u8(&in) & 1 ? QSYNC_IOVA_PA : QSYNC_IOVA_VA;
	regions_build(&in, &w);
	pm_fd = pagemap_fd;
	if (w.mode == QSYNC_IOVA_PA) {
		for (uint32_t i = 0; i < w.nreg; i++)
			fill_pagemap(&in, &w.reg[i]);
		if (fuzz_u8(&in) == 0xff)
			pm_fd = short_pagemap_fd;
	}

	mem = calloc(1, sizeof(*mem) + w.nreg * sizeof(mem->regions[0]));
	if (mem == NULL)
		abort();
	mem->nregions = w.nreg;
	for (uint32_t i = 0; i < w.nreg; i++) {
		mem->regions[i].guest_phys_addr = w.reg[i].gpa;
		mem->regions[i].size = w.reg[i].size;
		mem->regions[i].host_user_addr = w.reg[i].hva;
		mem->regions[i].fd = -1;
	}
	w.x = qsync_xlate_create(mem, w.mode, pm_fd);
	free(mem);
	valid = model_table_valid(&w);
	if (valid && w.mode == QSYNC_IOVA_PA)
		want_errno = pm_fd == short_pagemap_fd ? EIO : model_pagemap_errno(&w);
	else if (!valid)
		want_errno = EINVAL;
	FUZZ_CHECK((w.x != NULL) == (want_errno == 0), "xlate_create: %p, model errno %d",
		   (void *)w.x, want_errno);
	if (w.x == NULL) {
		FUZZ_CHECK(errno == want_errno, "xlate_create errno %d, model %d", errno,
			   want_errno);
		goto out;
	}
	FUZZ_CHECK(w.x->nregions == w.nreg, "table has %u regions, want %u", w.x->nregions, w.nreg);

	if (!ring_build(&in, &w))
		goto out;

	for (unsigned int ops = 0; ops < MAX_OPS && !fuzz_done(&in); ops++) {
		uint8_t op = fuzz_u8(&in) % 12;

		if (verbose)
			fprintf(stderr, " op %u\n", op);
		switch (op) {
		case 0:
		case 1:
			guest_post(&in, &w);
			break;
		case 2:
			guest_scribble(&in, &w);
			break;
		case 3:
			guest_control(&in, &w);
			break;
		case 4:
		case 5:
			op_pop(&in, &w);
			break;
		case 6:
		case 7:
			op_complete(&in, &w);
			break;
		case 8:
			op_flush(&w);
			break;
		case 9:
			op_hand_back(&w);
			break;
		case 10:
			op_lookup(&in, &w);
			break;
		default:
			op_avail_count(&w);
			break;
		}
		check_state(&w);
	}

out:
	if (verbose)
		fprintf(stderr,
			"qsync_vring: %s, %u regions, table %s, ring %u %s; given %lu, completed "
			"%lu, "
			"published %lu, rewound %lu, zeroed %lu, lookups hit %lu; bad_ring %lu "
			"bad_desc %lu desc_too_small %lu\n",
			w.mode == QSYNC_IOVA_PA ? "PA" : "VA", w.nreg, w.x ? "ok" : "refused",
			w.size, w.vr ? "bound" : "refused", tally.given, tally.completed,
			tally.published, tally.rewound, tally.zeroed, tally.lookups,
			w.stats.bad_ring, w.stats.bad_desc, w.stats.desc_too_small);
	memset(&tally, 0, sizeof(tally));
	qsync_vring_destroy(w.vr);
	qsync_xlate_free(w.x);
	free(w.desc);
	free(w.avail);
	free(w.used);
	free(w.slots);
	free(w.held);
	regions_free(&w);
	return 0;
}
