/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Guest memory a front-end truncates under us. librte_vhost maps the files
 * a front-end passes with SET_MEM_TABLE; a front-end that shrinks one
 * afterwards (ftruncate on its memfd) turns every access past the new end
 * into a SIGBUS, which would kill the process and every relay in it. The
 * check at SET_MEM_TABLE (vhost_backend_mem_table_sane) cannot see a later
 * ftruncate. So a SIGBUS inside a registered guest region replaces that
 * whole region with anonymous zero pages (same address, so every pointer
 * into it stays valid) and is counted: the faulting access is restarted and
 * succeeds, the relay carries garbage for a front-end that asked for it,
 * and nothing else notices. A SIGBUS anywhere else takes the default action.
 *
 * With zero copy on an IOMMU the VF's DMA still targets the pages pinned at
 * map time, which the truncation could not free: still safe.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_common.h>
#include <rte_vhost.h>

#include <vfrelay/config.h>
#include <vfrelay/log.h>
#include <vfrelay/vhost_backend.h>

#define VHOST_GUARD_SLOTS (FWD_MAX_RELAYS * 8)

/*
 * One guest region. Written by the vhost event thread (a per-slot sequence
 * count, odd while changing), read by the signal handler, which must not
 * take locks.
 */
struct vhost_guard_slot {
	_Atomic uint32_t seq;
	_Atomic uintptr_t start;
	_Atomic size_t len;
	_Atomic int relay; /* -1: free */
};

static struct vhost_guard_slot vhost_guard_slots[VHOST_GUARD_SLOTS];
static _Atomic uint64_t vhost_guard_faults_of[FWD_MAX_RELAYS];
static uint64_t vhost_guard_reported[FWD_MAX_RELAYS]; /* event thread only */
static struct sigaction vhost_guard_prev;

static void
vhost_guard_slot_write(struct vhost_guard_slot *s, int relay, uintptr_t start, size_t len)
{
	uint32_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);

	atomic_store_explicit(&s->seq, q + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&s->start, start, memory_order_relaxed);
	atomic_store_explicit(&s->len, len, memory_order_relaxed);
	atomic_store_explicit(&s->relay, relay, memory_order_relaxed);
	atomic_store_explicit(&s->seq, q + 2, memory_order_release);
}

static bool
vhost_guard_slot_used(const struct vhost_guard_slot *s)
{
	return atomic_load_explicit(&s->relay, memory_order_relaxed) >= 0;
}

static void
vhost_guard_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	for (unsigned int i = 0; i < VHOST_GUARD_SLOTS; i++) {
		struct vhost_guard_slot *s = &vhost_guard_slots[i];
		uint32_t q = atomic_load_explicit(&s->seq, memory_order_acquire);
		uintptr_t start = atomic_load_explicit(&s->start, memory_order_relaxed);
		size_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
		int relay = atomic_load_explicit(&s->relay, memory_order_relaxed);

		atomic_thread_fence(memory_order_acquire);
		if ((q & 1) || q != atomic_load_explicit(&s->seq, memory_order_relaxed))
			continue; /* being changed: not a mapping anyone may use now */
		if (relay < 0 || a < start || a - start >= len)
			continue;
		/* mmap is not on the async-signal-safe list, but it is a plain syscall here. */
		if (mmap((void *)start, len, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			 0) == MAP_FAILED)
			break;
		atomic_fetch_add_explicit(&vhost_guard_faults_of[relay], 1, memory_order_relaxed);
		return; /* the access is restarted on the zero pages */
	}
	/* Not guest memory: what would have happened without us. */
	if (vhost_guard_prev.sa_flags & SA_SIGINFO && vhost_guard_prev.sa_sigaction != NULL) {
		vhost_guard_prev.sa_sigaction(sig, si, uc);
		return;
	}
	if (vhost_guard_prev.sa_handler != SIG_DFL && vhost_guard_prev.sa_handler != SIG_IGN &&
	    vhost_guard_prev.sa_handler != NULL) {
		vhost_guard_prev.sa_handler(sig);
		return;
	}
	signal(SIGBUS, SIG_DFL); /* returning re-runs the access: the default action, a core */
}

int
vhost_guard_init(void)
{
	struct sigaction sa;

	for (unsigned int i = 0; i < VHOST_GUARD_SLOTS; i++)
		atomic_store_explicit(&vhost_guard_slots[i].relay, -1, memory_order_relaxed);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = vhost_guard_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, &vhost_guard_prev) == 0 ? 0 : -errno;
}

/* Log once per episode what the handler could not (event thread). */
static void
vhost_guard_report(unsigned int relay, const char *name)
{
	uint64_t n = atomic_load_explicit(&vhost_guard_faults_of[relay], memory_order_relaxed);

	if (n != vhost_guard_reported[relay])
		VFR_LOG_LIMITED(WARNING,
				"%s: the front-end truncated guest memory under us: %" PRIu64
				" region(s) replaced with zero pages",
				name, n - vhost_guard_reported[relay]);
	vhost_guard_reported[relay] = n;
}

void
vhost_guard_clear(unsigned int relay, const char *name)
{
	if (relay >= FWD_MAX_RELAYS)
		return;
	for (unsigned int i = 0; i < VHOST_GUARD_SLOTS; i++) {
		struct vhost_guard_slot *s = &vhost_guard_slots[i];

		if (atomic_load_explicit(&s->relay, memory_order_relaxed) == (int)relay)
			vhost_guard_slot_write(s, -1, 0, 0);
	}
	vhost_guard_report(relay, name);
}

int
vhost_guard_set(unsigned int relay, const char *name, int vid)
{
	struct rte_vhost_memory *mem = NULL;
	unsigned int slot = 0;
	int ret = 0;

	vhost_guard_clear(relay, name);
	if (relay >= FWD_MAX_RELAYS || rte_vhost_get_mem_table(vid, &mem) != 0)
		return 0;
	for (uint32_t r = 0; r < mem->nregions; r++) {
		const struct rte_vhost_mem_region *mr = &mem->regions[r];

		if (mr->mmap_addr == NULL || mr->mmap_size == 0)
			continue;
		while (slot < VHOST_GUARD_SLOTS && vhost_guard_slot_used(&vhost_guard_slots[slot]))
			slot++;
		if (slot == VHOST_GUARD_SLOTS) {
			ret = -ENOSPC;
			break;
		}
		vhost_guard_slot_write(&vhost_guard_slots[slot], (int)relay,
				       (uintptr_t)mr->mmap_addr, mr->mmap_size);
	}
	free(mem);
	return ret;
}

uint64_t
vhost_guard_faults(unsigned int relay)
{
	return relay < FWD_MAX_RELAYS
		       ? atomic_load_explicit(&vhost_guard_faults_of[relay], memory_order_relaxed)
		       : 0;
}
