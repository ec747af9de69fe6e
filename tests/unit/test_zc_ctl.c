/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The zero-copy control state machine alone: the real vhost_backend.c (every
 * librte_vhost callback, the vid -> relay table), qsync's control side (bind,
 * quiesce, detach; per-relay guest memory; the hybrid pool) and hw_port.c /
 * hw_ops.c, against fakes linked in with -Wl,--wrap:
 *
 *  - librte_vhost: a guest (memfd memory in two regions, split rings inside
 *    it) and its connections; the test plays librte_vhost: new_connection,
 *    vring state changes, new_device, messages around the pre-handler with
 *    every vring lock "held" (rte_vhost_vring_call_nonblock then says
 *    -EAGAIN, as it does while librte_vhost applies a message),
 *    destroy_device, destroy_connection;
 *  - ethdev: a NIC whose RX queues keep a ring of mbufs drawn from the
 *    queue's pool (the hybrid pool: shells pointing into guest buffers) the
 *    way the faked PMD does: filled at start (tap: at setup), freed at queue
 *    stop (iavf), at port stop (igbvf, unknown PMDs), at the next setup (tap)
 *    or only at close (virtio_user); it can keep them (a stuck VF) or fail;
 *  - the IOMMU: rte_extmem_register and rte_dev_dma_map, and their undo.
 *
 * What a process cannot time is forced: a fake called under zc_lock starts
 * the other thread's callback and returns once that thread waits for the
 * lock; and pthread_mutex_unlock is wrapped so a call can run right after a
 * thread released zc_lock (the window before destroy_device returns). There
 * are no workers (zc_busy stays 0, a park returns at once): the
 * test reads the zc_req each queue is left with, and plays the worker's and
 * the NIC's part of a burst itself where a case needs frames.
 *
 * The fakes check on every call, in every case: nothing is handed back to
 * librte_vhost (rte_vhost_set_vring_base) while the NIC holds a buffer of
 * the queue (tap, parked, whose ring goes back at the next setup, is counted
 * apart); no guest region is DMA-unmapped while the NIC holds a buffer in
 * it; no ring or memory call reaches a device after its destroy_device; the
 * ethdev rules hold (no RX queue setup on a started port without runtime
 * setup, no queue start on a stopped port, no start over a ring that still
 * holds buffers). The teardown checks every shell, host mbuf, DMA mapping
 * and file descriptor is back.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_vhost.h>

#include <vfrelay/barrier.h>
#include <vfrelay/fwd.h>
#include <vfrelay/hw.h>
#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

#include "qsync_inline.h"
#include "qsync_priv.h"

/* "Has another thread blocked on zc_lock?" reads glibc's lock word (2: locked, waiters). */
#ifndef __GLIBC__
#error "test_zc_ctl reads glibc's pthread mutex word to order threads"
#endif

#define VID_MAX	     4
#define VRING_MAX    (2 * FWD_MAX_QUEUES)
#define RX_RING	     512   /* rx_ring_size: the VF's RX ring in copy mode */
#define GUEST_RING   256   /* the guest's vrings */
#define ZC_RING	     128   /* what the VF ring becomes for zero copy: half the guest's */
#define BUF_LEN	     2048u /* every guest RX buffer */
#define HDR_LEN	     12u   /* virtio-net header with MRG_RXBUF */
#define FRAME_LEN    60u
#define RING_AREA    (1u << 20) /* region 0: the vrings */
#define BUF_AREA     (2u << 20) /* region 1: RX buffers, 512 per queue pair, two pairs */
#define GPA_RINGS    0x0ull
#define GPA_BUFS     0x100000000ull
#define VRING_STRIDE (64u << 10)
#define NIC_RING_MAX 2048
#define SOCK	     "/nonexistent/vfr-zc-ctl.sock" /* client mode: never touched */
#define FEATURES     ((1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_VERSION_1))

/* vhost-user request ids (librte_vhost's enum is private). */
#define MSG_SET_FEATURES     2
#define MSG_SET_MEM_TABLE    5
#define MSG_SET_VRING_ADDR   9
#define MSG_SET_VRING_ENABLE 18

/* ---- what went wrong inside a fake (never asserted there: a fake may run under zc_lock) ---- */

static atomic_uint n_violations;
static char violation[512];

static void __rte_format_printf(1, 2) violate(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&n_violations, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(violation, sizeof(violation), fmt, ap);
	va_end(ap);
}

/* ---- the relay under test ---- */

static struct rte_mempool *backing; /* host mbufs: the relay's pool */
static struct rte_mempool *drained; /* an empty pool */
static struct rte_ring *events;
static _Atomic uint64_t events_lost;
static struct rte_rcu_qsbr *qsv;
static struct fwd_relay_config rcfg;
static struct fwd_relay relay;
static bool relay_up;
static unsigned int fx_seq;
static int fd_baseline;

static struct fwd_queue *
q(uint16_t i)
{
	return &relay.queues[i];
}

static struct qsync_queue *
qq(uint16_t i)
{
	return relay.queues[i].zc;
}

static uint32_t
zc_req(uint16_t i)
{
	return atomic_load(&relay.queues[i].zc_req);
}

static uint32_t
shells_out(uint16_t i)
{
	return qq(i)->n_shells - qq(i)->n_free;
}

/* ---- fake guest: its memory (a memfd in two regions) and split rings inside it ---- */

static struct {
	int fd;
	uint8_t *hva; /* librte_vhost's mapping of the guest's memory now */
	uint16_t size;
	uint16_t nr_vring;
} guest = {.fd = -1};

static struct vring_desc *
g_desc(uint16_t v)
{
	return (struct vring_desc *)(guest.hva + (size_t)v * VRING_STRIDE);
}

static struct vring_avail *
g_avail(uint16_t v)
{
	return (struct vring_avail *)((uint8_t *)g_desc(v) +
				      guest.size * sizeof(struct vring_desc));
}

static struct vring_used *
g_used(uint16_t v)
{
	size_t off =
		RTE_ALIGN_CEIL(guest.size * sizeof(struct vring_desc) + 6 + 2u * guest.size, 4096);

	return (struct vring_used *)((uint8_t *)g_desc(v) + off);
}

static uint16_t
g_used_idx(uint16_t qid)
{
	return __atomic_load_n(&g_used(2 * qid)->idx, __ATOMIC_ACQUIRE);
}

static uint8_t *
guest_map(void)
{
	void *p = mmap(NULL, RING_AREA + BUF_AREA, PROT_READ | PROT_WRITE, MAP_SHARED, guest.fd, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void
guest_create(uint16_t size, uint16_t nr_vring)
{
	assert_true(size <= 512 && nr_vring <= 4);
	guest.size = size;
	guest.nr_vring = nr_vring;
	guest.fd = memfd_create("vfr-zc-ctl-guest", MFD_CLOEXEC);
	assert_true(guest.fd >= 0);
	assert_int_equal(ftruncate(guest.fd, RING_AREA + BUF_AREA), 0);
	guest.hva = guest_map();
}

/* librte_vhost applies a new memory table: the same guest memory, mapped anew elsewhere. */
static void
guest_remap(void)
{
	uint8_t *old = guest.hva;

	guest.hva = guest_map();
	/* Anything still using the old mapping faults from here on. */
	munmap(old, RING_AREA + BUF_AREA);
}

static void
guest_destroy(void)
{
	if (guest.hva != NULL)
		munmap(guest.hva, RING_AREA + BUF_AREA);
	if (guest.fd >= 0)
		close(guest.fd);
	guest.hva = NULL;
	guest.fd = -1;
}

/* The guest posts @p n RX buffers of @p len bytes on queue pair @p qid. */
static void
guest_post(uint16_t qid, uint16_t n, uint32_t len)
{
	uint16_t v = 2 * qid;
	struct vring_avail *a = g_avail(v);
	uint16_t idx = a->idx;

	for (uint16_t i = 0; i < n; i++, idx++) {
		uint16_t head = idx & (guest.size - 1);
		struct vring_desc *d = &g_desc(v)[head];

		/* A guest reuses a descriptor only once the device has used it. */
		assert_true((uint16_t)(idx - g_used_idx(qid)) < guest.size);
		d->addr = GPA_BUFS + ((uint64_t)qid * 512 + head) * BUF_LEN;
		d->len = len;
		d->flags = VRING_DESC_F_WRITE;
		d->next = 0;
		a->ring[idx & (guest.size - 1)] = head;
	}
	__atomic_store_n(&a->idx, idx, __ATOMIC_RELEASE);
}

/* ---- fake librte_vhost ---- */

struct fvq {
	uint16_t last_avail, last_used; /* librte_vhost's indices for the ring */
	unsigned int set_base;		/* rte_vhost_set_vring_base() calls */
	unsigned int calls;		/* guest interrupts sent */
	unsigned int call_tries;
};

struct fdev {
	bool exists;	       /* from new_connection until the connection goes */
	bool running;	       /* ready (new_device) until destroy_device returned */
	atomic_bool in_flight; /* a message is being applied: every vring lock is held */
	uint64_t features;
	const struct rte_vhost_user_extern_ops *ext;
	struct fvq vq[VRING_MAX];
};

static struct {
	const struct rte_vhost_device_ops *ops;
	struct fdev dev[VID_MAX];
	unsigned int mem_table_calls;
	unsigned int tap_held_at_hand_back; /* see __wrap_rte_vhost_set_vring_base() */
} vh;

/* Another thread's callback, started from inside a fake that runs under zc_lock. */
struct interleave {
	void (*fn)(int vid, uint16_t vring);
	int vid;
	uint16_t vring;
	bool vrings_locked; /* a message: librte_vhost holds every vring lock around it */
};

static struct interleave at_mem_table, at_port_stop, at_port_start;
static void interleave_fire(struct interleave *il);

/* Run on the thread that has just released zc_lock, right after it did (once). */
static void (*at_zc_unlock)(void);

int __real_pthread_mutex_unlock(pthread_mutex_t *m);
int __wrap_pthread_mutex_unlock(pthread_mutex_t *m);

int
__wrap_pthread_mutex_unlock(pthread_mutex_t *m)
{
	int ret = __real_pthread_mutex_unlock(m);
	void (*fn)(void) = at_zc_unlock;

	if (m == &relay.zc_lock && fn != NULL) {
		at_zc_unlock = NULL;
		fn();
	}
	return ret;
}

/* A ring or memory call: only on a device that is there and not destroyed. */
static struct fdev *
vh_dev(int vid, const char *what)
{
	if (vid < 0 || vid >= VID_MAX || !vh.dev[vid].exists) {
		violate("%s on vid %d: no such device", what, vid);
		return NULL;
	}
	if (!vh.dev[vid].running) {
		violate("%s on vid %d after destroy_device", what, vid);
		return NULL;
	}
	return &vh.dev[vid];
}

int __wrap_rte_vhost_driver_register(const char *path, uint64_t flags);
int __wrap_rte_vhost_driver_unregister(const char *path);
int __wrap_rte_vhost_driver_disable_features(const char *path, uint64_t features);
int __wrap_rte_vhost_driver_enable_features(const char *path, uint64_t features);
int __wrap_rte_vhost_driver_callback_register(const char *path,
					      struct rte_vhost_device_ops const *const ops);
int __wrap_rte_vhost_driver_start(const char *path);
int __wrap_rte_vhost_driver_get_protocol_features(const char *path, uint64_t *features);
int __wrap_rte_vhost_driver_set_protocol_features(const char *path, uint64_t features);
int __wrap_rte_vhost_extern_callback_register(int vid,
					      struct rte_vhost_user_extern_ops const *const ops,
					      void *ctx);
int __wrap_rte_vhost_get_ifname(int vid, char *buf, size_t len);
int __wrap_rte_vhost_get_negotiated_features(int vid, uint64_t *features);
uint16_t __wrap_rte_vhost_get_vring_num(int vid);
int __wrap_rte_vhost_enable_guest_notification(int vid, uint16_t queue_id, int enable);
int __wrap_rte_vhost_get_mem_table(int vid, struct rte_vhost_memory **mem);
int __wrap_rte_vhost_get_vhost_vring(int vid, uint16_t vring_idx, struct rte_vhost_vring *vring);
int __wrap_rte_vhost_get_vring_base(int vid, uint16_t queue_id, uint16_t *last_avail_idx,
				    uint16_t *last_used_idx);
int __wrap_rte_vhost_set_vring_base(int vid, uint16_t queue_id, uint16_t last_avail_idx,
				    uint16_t last_used_idx);
int __wrap_rte_vhost_vring_call_nonblock(int vid, uint16_t vring_idx);

int
__wrap_rte_vhost_driver_register(const char *path, uint64_t flags)
{
	(void)flags;
	return strcmp(path, SOCK) == 0 ? 0 : -1;
}

int
__wrap_rte_vhost_driver_disable_features(const char *path, uint64_t features)
{
	(void)path;
	(void)features;
	return 0;
}

int
__wrap_rte_vhost_driver_enable_features(const char *path, uint64_t features)
{
	(void)path;
	(void)features;
	return 0;
}

int
__wrap_rte_vhost_driver_callback_register(const char *path,
					  struct rte_vhost_device_ops const *const ops)
{
	(void)path;
	vh.ops = ops;
	return 0;
}

int
__wrap_rte_vhost_driver_start(const char *path)
{
	(void)path;
	return 0;
}

int
__wrap_rte_vhost_driver_get_protocol_features(const char *path, uint64_t *features)
{
	(void)path;
	*features = ~0ULL;
	return 0;
}

int
__wrap_rte_vhost_driver_set_protocol_features(const char *path, uint64_t features)
{
	(void)path;
	(void)features;
	return 0;
}

/* Unregistering destroys every connection of the socket, without destroy_connection. */
int
__wrap_rte_vhost_driver_unregister(const char *path)
{
	(void)path;
	for (int vid = 0; vid < VID_MAX; vid++) {
		struct fdev *d = &vh.dev[vid];

		if (d->running && vh.ops != NULL)
			vh.ops->destroy_device(vid);
		memset(d, 0, sizeof(*d));
	}
	return 0;
}

int
__wrap_rte_vhost_extern_callback_register(int vid,
					  struct rte_vhost_user_extern_ops const *const ops,
					  void *ctx)
{
	(void)ctx;
	if (vid < 0 || vid >= VID_MAX || !vh.dev[vid].exists)
		return -1;
	vh.dev[vid].ext = ops;
	return 0;
}

int
__wrap_rte_vhost_get_ifname(int vid, char *buf, size_t len)
{
	if (vid < 0 || vid >= VID_MAX || !vh.dev[vid].exists)
		return -1;
	snprintf(buf, len, "%s", SOCK);
	return 0;
}

int
__wrap_rte_vhost_get_negotiated_features(int vid, uint64_t *features)
{
	if (vid < 0 || vid >= VID_MAX || !vh.dev[vid].exists) {
		violate("get_negotiated_features on vid %d: no such device", vid);
		return -1;
	}
	*features = vh.dev[vid].features;
	return 0;
}

uint16_t
__wrap_rte_vhost_get_vring_num(int vid)
{
	(void)vid;
	return guest.nr_vring;
}

int
__wrap_rte_vhost_enable_guest_notification(int vid, uint16_t queue_id, int enable)
{
	(void)vid;
	(void)queue_id;
	(void)enable;
	return 0;
}

/* A copy the caller frees, as librte_vhost's. */
int
__wrap_rte_vhost_get_mem_table(int vid, struct rte_vhost_memory **mem)
{
	struct rte_vhost_memory *m;

	vh.mem_table_calls++;
	interleave_fire(&at_mem_table);
	if (vh_dev(vid, "get_mem_table") == NULL)
		return -1;
	m = malloc(sizeof(*m) + 2 * sizeof(m->regions[0]));
	if (m == NULL)
		return -1;
	m->nregions = 2;
	m->regions[0] = (struct rte_vhost_mem_region){
		.guest_phys_addr = GPA_RINGS,
		.guest_user_addr = 0x7f0000000000ull,
		.host_user_addr = (uintptr_t)guest.hva,
		.size = RING_AREA,
		.mmap_addr = guest.hva,
		.mmap_size = RING_AREA,
		.fd = guest.fd,
	};
	m->regions[1] = (struct rte_vhost_mem_region){
		.guest_phys_addr = GPA_BUFS,
		.guest_user_addr = 0x7f0000000000ull + RING_AREA,
		.host_user_addr = (uintptr_t)guest.hva + RING_AREA,
		.size = BUF_AREA,
		.mmap_addr = guest.hva + RING_AREA,
		.mmap_size = BUF_AREA,
		.fd = guest.fd,
	};
	*mem = m;
	return 0;
}

int
__wrap_rte_vhost_get_vhost_vring(int vid, uint16_t vring_idx, struct rte_vhost_vring *vring)
{
	if (vh_dev(vid, "get_vhost_vring") == NULL || vring_idx >= guest.nr_vring)
		return -1;
	memset(vring, 0, sizeof(*vring));
	vring->desc = g_desc(vring_idx);
	vring->avail = g_avail(vring_idx);
	vring->used = g_used(vring_idx);
	vring->size = guest.size;
	vring->callfd = -1;
	vring->kickfd = -1;
	return 0;
}

int
__wrap_rte_vhost_get_vring_base(int vid, uint16_t queue_id, uint16_t *last_avail_idx,
				uint16_t *last_used_idx)
{
	struct fdev *d = vh_dev(vid, "get_vring_base");

	if (d == NULL || queue_id >= guest.nr_vring)
		return -1;
	*last_avail_idx = d->vq[queue_id].last_avail;
	*last_used_idx = d->vq[queue_id].last_used;
	return 0;
}

/* The hand back: librte_vhost owns the ring again from these indices. */
int
__wrap_rte_vhost_set_vring_base(int vid, uint16_t queue_id, uint16_t last_avail_idx,
				uint16_t last_used_idx)
{
	struct fdev *d = vh_dev(vid, "set_vring_base");
	uint16_t qid = queue_id / 2;

	if (d == NULL || queue_id >= guest.nr_vring)
		return -1;
	if (queue_id % 2 == 0 && qid < relay.n_queues && qq(qid) != NULL && shells_out(qid) != 0) {
		/*
		 * tap is the one PMD whose ring goes back at the next queue setup, after
		 * the hand back: it writes only inside a burst and every queue is parked.
		 */
		if (strcmp(relay.port.ops->name, "tap") == 0)
			vh.tap_held_at_hand_back += shells_out(qid);
		else
			violate("vring %u handed back while the NIC holds %u of its buffers",
				queue_id, shells_out(qid));
	}
	d->vq[queue_id].last_avail = last_avail_idx;
	d->vq[queue_id].last_used = last_used_idx;
	d->vq[queue_id].set_base++;
	return 0;
}

/* Tries the vring lock: busy while a message is being applied. */
int
__wrap_rte_vhost_vring_call_nonblock(int vid, uint16_t vring_idx)
{
	struct fdev *d = vh_dev(vid, "vring_call_nonblock");

	if (d == NULL || vring_idx >= guest.nr_vring)
		return -1;
	d->vq[vring_idx].call_tries++;
	if (atomic_load(&d->in_flight))
		return -EAGAIN;
	d->vq[vring_idx].calls++;
	return 0;
}

/* Called by vhost_backend.c's guest_notified, from the copy path: never here. */
void
vhost_copy_count_notification(void)
{
	violate("guest_notified callback in a control test");
}

/* ---- the test plays librte_vhost ---- */

/* librte_vhost takes (or releases) every vring lock of the device around a message. */
static void
vh_lock(int vid)
{
	atomic_store(&vh.dev[vid].in_flight, true);
}

static void
vh_unlock(int vid)
{
	atomic_store(&vh.dev[vid].in_flight, false);
}

/* A front-end connects: librte_vhost made device @p vid and asks whether to keep it. */
static int
vh_connect(int vid)
{
	struct fdev *d = &vh.dev[vid];
	int ret;

	memset(d, 0, sizeof(*d));
	d->exists = true;
	d->features = FEATURES;
	ret = vh.ops->new_connection(vid);
	/* Refused: librte_vhost frees the device, without destroy_connection. */
	if (ret != 0)
		memset(d, 0, sizeof(*d));
	return ret;
}

/* The message pre-handler, as librte_vhost calls it: request at 0, payload at 12. */
static enum rte_vhost_msg_result
vh_pre_msg(int vid, uint32_t req, uint32_t a, uint32_t b)
{
	const struct rte_vhost_user_extern_ops *ext = vh.dev[vid].ext;
	uint8_t msg[64] = {0};

	if (ext == NULL || ext->pre_msg_handle == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	memcpy(msg, &req, sizeof(req));
	memcpy(msg + 12, &a, sizeof(a));
	memcpy(msg + 16, &b, sizeof(b));
	return ext->pre_msg_handle(vid, msg);
}

/* The post-handler: after a handler that succeeded (never after a failed one). */
static enum rte_vhost_msg_result
vh_post_msg(int vid, uint32_t req, uint32_t a, uint32_t b)
{
	const struct rte_vhost_user_extern_ops *ext = vh.dev[vid].ext;
	uint8_t msg[64] = {0};

	if (ext == NULL || ext->post_msg_handle == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	memcpy(msg, &req, sizeof(req));
	memcpy(msg + 12, &a, sizeof(a));
	memcpy(msg + 16, &b, sizeof(b));
	return ext->post_msg_handle(vid, msg);
}

/*
 * SET_VRING_ENABLE as vhost_user_msg_handler() applies it, every vring lock
 * held: pre-handler, handler, post-handler, then the ring's state change.
 */
static void
vh_vring_enable(int vid, uint16_t vring, int enable)
{
	vh_lock(vid);
	vh_pre_msg(vid, MSG_SET_VRING_ENABLE, vring, (uint32_t)enable);
	vh_post_msg(vid, MSG_SET_VRING_ENABLE, vring, (uint32_t)enable);
	vh.ops->vring_state_changed(vid, vring, enable);
	vh_unlock(vid);
}

static int
vh_new_device(int vid)
{
	int ret;

	vh.dev[vid].running = true;
	ret = vh.ops->new_device(vid);
	if (ret != 0)
		vh.dev[vid].running = false;
	return ret;
}

static void
vh_destroy_device(int vid)
{
	if (!vh.dev[vid].running)
		return;
	vh.ops->destroy_device(vid);
	/* librte_vhost may free the rings and unmap guest memory from here on. */
	vh.dev[vid].running = false;
}

/* The socket closes. */
static void
vh_disconnect(int vid)
{
	vh_destroy_device(vid);
	vh.ops->destroy_connection(vid);
	memset(&vh.dev[vid], 0, sizeof(vh.dev[vid]));
}

/* A guest connects as @p vid, posts @p posted buffers on each RX ring, enables them and starts. */
static void
guest_up(int vid, uint16_t posted)
{
	assert_int_equal(vh_connect(vid), 0);
	for (uint16_t i = 0; i < relay.n_queues; i++)
		guest_post(i, posted, BUF_LEN);
	for (uint16_t v = 0; v < guest.nr_vring; v++)
		vh_vring_enable(vid, v, 1);
	assert_int_equal(vh_new_device(vid), 0);
	for (uint16_t i = 0; i < relay.n_queues; i++) {
		assert_int_equal(atomic_load(&q(i)->vid), vid);
		assert_true(atomic_load(&q(i)->zc_rebind) == (qq(i) != NULL));
	}
}

/* ---- fake NIC behind rte_eth_* ---- */

enum fnic_kind {
	FNIC_NONE,   /* a buffer per frame inside rx_burst, none held (null) */
	FNIC_QUEUE,  /* ring filled at start, freed at queue or port stop (iavf) */
	FNIC_PORT,   /* ring filled at start, freed at port stop only (igbvf, unknown) */
	FNIC_TAP,    /* ring filled at queue setup, freed at the next setup */
	FNIC_VIRTIO, /* ring filled at start, freed at close only (virtio_user) */
};

struct fnic_q {
	struct rte_mempool *mp;
	uint16_t nb_desc;
	bool started;
	bool keep;     /* a stuck VF: stopping leaves the ring's buffers where they are */
	/* The head of a scattered frame whose tail has not arrived, out of the ring (igb's
	 * pkt_first_seg): igb's port stop forgets it, other PMDs free it. */
	struct rte_mbuf *partial;
	uint16_t head; /* next descriptor the NIC writes */
	struct rte_mbuf *ring[NIC_RING_MAX];
};

struct frange {
	void *va;
	size_t len;
};

static char fake_device[64]; /* what info.device points to */

static struct {
	const char *driver;
	enum fnic_kind kind;
	uint64_t dev_capa;
	bool started;
	struct fnic_q q[FWD_MAX_QUEUES];
	unsigned int fail_start, fail_stop, fail_rxq_start; /* fail the next N */
	bool setup_fails;				    /* rx queue setup refused (EINVAL) */
	unsigned int port_stops;
	char log[2048];
	/* IOMMU */
	enum rte_iova_mode iova;
	bool dma_map_fails;
	struct frange maps[8], regs[8];
	unsigned int n_maps, n_regs; /* live */
	unsigned int map_calls, unmap_calls;
} nic;

static void __rte_format_printf(1, 2) nic_log(const char *fmt, ...)
{
	size_t len = strlen(nic.log);
	va_list ap;

	if (len != 0 && len + 1 < sizeof(nic.log))
		nic.log[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(nic.log + len, sizeof(nic.log) - len, fmt, ap);
	va_end(ap);
}

static void
nic_release(uint16_t qid)
{
	struct fnic_q *fq = &nic.q[qid];

	for (uint16_t i = 0; i < NIC_RING_MAX; i++) {
		if (fq->ring[i] != NULL)
			rte_pktmbuf_free_seg(fq->ring[i]);
		fq->ring[i] = NULL;
	}
}

/* One buffer per descriptor, like iavf's alloc_rxq_mbufs: all or none. */
static int
nic_fill(uint16_t qid)
{
	struct fnic_q *fq = &nic.q[qid];

	for (uint16_t i = 0; i < NIC_RING_MAX; i++) {
		if (fq->ring[i] != NULL) {
			violate("RX queue %u filled while its ring still holds buffers", qid);
			return -EBUSY;
		}
	}
	for (uint16_t i = 0; i < fq->nb_desc; i++) {
		fq->ring[i] = rte_mbuf_raw_alloc(fq->mp);
		if (fq->ring[i] == NULL) {
			nic_release(qid);
			return -ENOMEM;
		}
	}
	fq->head = 0;
	return 0;
}

static unsigned int
nic_count(uint16_t qid, const struct rte_mempool *mp)
{
	unsigned int n = 0;

	for (uint16_t i = 0; i < NIC_RING_MAX; i++)
		n += nic.q[qid].ring[i] != NULL && nic.q[qid].ring[i]->pool == mp;
	return n;
}

/* Shells (guest buffers) in the NIC's rings, and host mbufs. */
static unsigned int
nic_shells(uint16_t qid)
{
	return nic_count(qid, qq(qid)->pool);
}

static unsigned int
nic_host(uint16_t qid)
{
	return nic_count(qid, backing);
}

/* Buffers the NIC holds inside [va, va + len). */
static unsigned int
nic_buffers_in(const void *va, size_t len)
{
	uintptr_t lo = (uintptr_t)va;
	unsigned int n = 0;

	for (uint16_t i = 0; i < relay.n_queues; i++) {
		for (uint16_t j = 0; qq(i) != NULL && j < NIC_RING_MAX; j++) {
			struct rte_mbuf *m = nic.q[i].ring[j];

			if (m != NULL && m->pool == qq(i)->pool &&
			    qsync_shell_of(m)->hva - lo < len)
				n++;
		}
	}
	return n;
}

static enum fnic_kind
nic_kind_of(const char *driver)
{
	if (strcmp(driver, "net_null") == 0)
		return FNIC_NONE;
	if (strcmp(driver, "net_iavf") == 0)
		return FNIC_QUEUE;
	if (strcmp(driver, "net_tap") == 0)
		return FNIC_TAP;
	if (strcmp(driver, "net_virtio_user") == 0)
		return FNIC_VIRTIO;
	return FNIC_PORT;
}

int __wrap_rte_dev_probe(const char *devargs);
int __wrap_rte_dev_remove(struct rte_device *dev);
int __wrap_rte_eth_iterator_init(struct rte_dev_iterator *iter, const char *devargs);
uint16_t __wrap_rte_eth_iterator_next(struct rte_dev_iterator *iter);
int __wrap_rte_eth_dev_get_name_by_port(uint16_t port_id, char *name);
int __wrap_rte_eth_macaddr_get(uint16_t port_id, struct rte_ether_addr *mac);
int __wrap_rte_eth_dev_info_get(uint16_t port_id, struct rte_eth_dev_info *info);
int __wrap_rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_q, uint16_t nb_tx_q,
				 const struct rte_eth_conf *conf);
int __wrap_rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu);
int __wrap_rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t port_id, uint16_t *nb_rx, uint16_t *nb_tx);
int __wrap_rte_eth_rx_queue_setup(uint16_t port_id, uint16_t qid, uint16_t nb_desc,
				  unsigned int socket_id, const struct rte_eth_rxconf *conf,
				  struct rte_mempool *mp);
int __wrap_rte_eth_tx_queue_setup(uint16_t port_id, uint16_t qid, uint16_t nb_desc,
				  unsigned int socket_id, const struct rte_eth_txconf *conf);
int __wrap_rte_eth_dev_socket_id(uint16_t port_id);
int __wrap_rte_eth_dev_start(uint16_t port_id);
int __wrap_rte_eth_dev_stop(uint16_t port_id);
int __wrap_rte_eth_dev_close(uint16_t port_id);
int __wrap_rte_eth_dev_rx_queue_start(uint16_t port_id, uint16_t qid);
int __wrap_rte_eth_dev_rx_queue_stop(uint16_t port_id, uint16_t qid);
int __wrap_rte_eth_promiscuous_enable(uint16_t port_id);
int __wrap_rte_eth_allmulticast_enable(uint16_t port_id);
int __wrap_rte_eth_dev_rss_reta_update(uint16_t port_id, struct rte_eth_rss_reta_entry64 *reta,
				       uint16_t reta_size);
enum rte_iova_mode __wrap_rte_eal_iova_mode(void);
int __wrap_rte_extmem_register(void *va_addr, size_t len, rte_iova_t iova_addrs[],
			       unsigned int n_pages, size_t page_sz);
int __wrap_rte_extmem_unregister(void *va_addr, size_t len);
int __wrap_rte_dev_dma_map(struct rte_device *dev, void *addr, uint64_t iova, size_t len);
int __wrap_rte_dev_dma_unmap(struct rte_device *dev, void *addr, uint64_t iova, size_t len);

static unsigned int iterated;

int
__wrap_rte_dev_probe(const char *devargs)
{
	(void)devargs;
	return 0;
}

int
__wrap_rte_dev_remove(struct rte_device *dev)
{
	if ((void *)dev != fake_device)
		violate("rte_dev_remove of another device");
	return 0;
}

int
__wrap_rte_eth_iterator_init(struct rte_dev_iterator *iter, const char *devargs)
{
	(void)iter;
	(void)devargs;
	iterated = 0;
	return 0;
}

uint16_t
__wrap_rte_eth_iterator_next(struct rte_dev_iterator *iter)
{
	(void)iter;
	return iterated++ == 0 ? 0 : RTE_MAX_ETHPORTS;
}

int
__wrap_rte_eth_dev_get_name_by_port(uint16_t port_id, char *name)
{
	(void)port_id;
	snprintf(name, RTE_ETH_NAME_MAX_LEN, "fakevf");
	return 0;
}

int
__wrap_rte_eth_macaddr_get(uint16_t port_id, struct rte_ether_addr *mac)
{
	(void)port_id;
	memset(mac, 0, sizeof(*mac));
	return 0;
}

int
__wrap_rte_eth_dev_info_get(uint16_t port_id, struct rte_eth_dev_info *info)
{
	(void)port_id;
	memset(info, 0, sizeof(*info));
	info->driver_name = nic.driver;
	info->device = (struct rte_device *)fake_device;
	info->max_rx_queues = FWD_MAX_QUEUES;
	info->max_tx_queues = FWD_MAX_QUEUES;
	info->min_mtu = 68;
	info->max_mtu = 9000;
	info->max_rx_pktlen = 9018;
	info->rx_desc_lim =
		(struct rte_eth_desc_lim){.nb_max = NIC_RING_MAX, .nb_min = 64, .nb_align = 32};
	info->tx_desc_lim = info->rx_desc_lim;
	info->rx_offload_capa = RTE_ETH_RX_OFFLOAD_SCATTER;
	info->dev_capa = nic.dev_capa;
	return 0;
}

int
__wrap_rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_q, uint16_t nb_tx_q,
			     const struct rte_eth_conf *conf)
{
	(void)port_id;
	(void)nb_rx_q;
	(void)nb_tx_q;
	(void)conf;
	return 0;
}

int
__wrap_rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu)
{
	(void)port_id;
	(void)mtu;
	return 0;
}

int
__wrap_rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t port_id, uint16_t *nb_rx, uint16_t *nb_tx)
{
	(void)port_id;
	(void)nb_rx;
	(void)nb_tx;
	return 0;
}

/* ethdev's checks, then the old queue is released; tap fills its ring here. */
int
__wrap_rte_eth_rx_queue_setup(uint16_t port_id, uint16_t qid, uint16_t nb_desc,
			      unsigned int socket_id, const struct rte_eth_rxconf *conf,
			      struct rte_mempool *mp)
{
	struct fnic_q *fq = &nic.q[qid];

	(void)port_id;
	(void)socket_id;
	(void)conf;
	if (nb_desc < 64 || nb_desc > NIC_RING_MAX || nb_desc % 32 != 0) {
		violate("RX queue %u set up with %u descriptors, outside the limits", qid, nb_desc);
		return -EINVAL;
	}
	if (nic.started && !(nic.dev_capa & RTE_ETH_DEV_CAPA_RUNTIME_RX_QUEUE_SETUP)) {
		violate("RX queue %u set up on a started port without runtime queue setup", qid);
		return -EBUSY;
	}
	if (nic.started && fq->started) {
		violate("RX queue %u set up while it runs", qid);
		return -EBUSY;
	}
	if (nic.setup_fails) {
		nic_log("rxq_setup(%u,%u)=EINVAL", qid, nb_desc);
		return -EINVAL;
	}
	nic_release(qid);
	fq->mp = mp;
	fq->nb_desc = nb_desc;
	nic_log("rxq_setup(%u,%u)", qid, nb_desc);
	return nic.kind == FNIC_TAP ? nic_fill(qid) : 0;
}

int
__wrap_rte_eth_tx_queue_setup(uint16_t port_id, uint16_t qid, uint16_t nb_desc,
			      unsigned int socket_id, const struct rte_eth_txconf *conf)
{
	(void)port_id;
	(void)qid;
	(void)nb_desc;
	(void)socket_id;
	(void)conf;
	return 0;
}

int
__wrap_rte_eth_dev_socket_id(uint16_t port_id)
{
	(void)port_id;
	return 0;
}

int
__wrap_rte_eth_dev_start(uint16_t port_id)
{
	(void)port_id;
	if (nic.started)
		return 0; /* ethdev: already started, the PMD is not called */
	interleave_fire(&at_port_start);
	if (nic.fail_start != 0) {
		nic.fail_start--;
		nic_log("dev_start=EIO");
		return -EIO;
	}
	for (uint16_t i = 0; i < relay.port.n_queues; i++) {
		bool fills = nic.kind == FNIC_QUEUE || nic.kind == FNIC_PORT ||
			     (nic.kind == FNIC_VIRTIO && nic.q[i].ring[0] == NULL);

		if (fills && nic_fill(i) != 0) {
			/* igb_dev_clear_queues / iavf's rollback: nothing stays taken. */
			for (uint16_t j = 0; j < relay.port.n_queues; j++)
				if (nic.kind != FNIC_TAP)
					nic_release(j);
			nic_log("dev_start=ENOMEM");
			return -ENOMEM;
		}
		nic.q[i].started = true;
	}
	nic.started = true;
	nic_log("dev_start");
	return 0;
}

int
__wrap_rte_eth_dev_stop(uint16_t port_id)
{
	(void)port_id;
	if (!nic.started)
		return 0; /* ethdev: already stopped, the PMD is not called */
	interleave_fire(&at_port_stop);
	nic.port_stops++;
	if (nic.fail_stop != 0) {
		nic.fail_stop--;
		nic_log("dev_stop=EIO");
		return -EIO;
	}
	for (uint16_t i = 0; i < relay.port.n_queues; i++) {
		if ((nic.kind == FNIC_QUEUE || nic.kind == FNIC_PORT) && !nic.q[i].keep)
			nic_release(i);
		if (nic.q[i].partial != NULL && strcmp(nic.driver, "net_e1000_igb_vf") != 0)
			rte_pktmbuf_free(nic.q[i].partial);
		nic.q[i].partial = NULL; /* igb: forgotten, never freed */
		nic.q[i].started = false;
	}
	nic.started = false;
	nic_log("dev_stop");
	return 0;
}

int
__wrap_rte_eth_dev_close(uint16_t port_id)
{
	(void)port_id;
	for (uint16_t i = 0; i < FWD_MAX_QUEUES; i++) {
		nic_release(i);
		nic.q[i].started = false;
	}
	nic.started = false;
	nic_log("dev_close");
	return 0;
}

int
__wrap_rte_eth_dev_rx_queue_stop(uint16_t port_id, uint16_t qid)
{
	(void)port_id;
	if (nic.kind != FNIC_QUEUE) {
		nic_log("rxq_stop(%u)=ENOTSUP", qid);
		return -ENOTSUP;
	}
	if (!nic.q[qid].started)
		return 0;
	if (!nic.q[qid].keep)
		nic_release(qid);
	nic.q[qid].started = false;
	nic_log("rxq_stop(%u)", qid);
	return 0;
}

int
__wrap_rte_eth_dev_rx_queue_start(uint16_t port_id, uint16_t qid)
{
	(void)port_id;
	if (!nic.started) {
		violate("RX queue %u started on a stopped port", qid);
		return -EINVAL;
	}
	if (nic.q[qid].started)
		return 0;
	if (nic.fail_rxq_start != 0) {
		nic.fail_rxq_start--;
		nic_log("rxq_start(%u)=EIO", qid);
		return -EIO;
	}
	if (nic.kind == FNIC_QUEUE && nic_fill(qid) != 0) {
		nic_log("rxq_start(%u)=ENOMEM", qid);
		return -ENOMEM;
	}
	nic.q[qid].started = true;
	nic_log("rxq_start(%u)", qid);
	return 0;
}

int
__wrap_rte_eth_promiscuous_enable(uint16_t port_id)
{
	(void)port_id;
	return 0;
}

int
__wrap_rte_eth_allmulticast_enable(uint16_t port_id)
{
	(void)port_id;
	return 0;
}

/* Not the state machine's (the forwarder spreads RSS): no call expected. */
int
__wrap_rte_eth_dev_rss_reta_update(uint16_t port_id, struct rte_eth_rss_reta_entry64 *reta,
				   uint16_t reta_size)
{
	(void)port_id;
	(void)reta;
	violate("RSS redirection table updated (%u entries) by the state machine", reta_size);
	return -ENOTSUP;
}

/* ---- fake IOMMU ---- */

static int
range_find(const struct frange *set, unsigned int n, const void *va, size_t len)
{
	for (unsigned int i = 0; i < n; i++)
		if (set[i].va == va && set[i].len == len)
			return (int)i;
	return -1;
}

static void
range_del(struct frange *set, unsigned int *n, int i)
{
	set[i] = set[--*n];
}

enum rte_iova_mode
__wrap_rte_eal_iova_mode(void)
{
	return nic.iova;
}

int
__wrap_rte_extmem_register(void *va_addr, size_t len, rte_iova_t iova_addrs[], unsigned int n_pages,
			   size_t page_sz)
{
	(void)iova_addrs;
	(void)n_pages;
	(void)page_sz;
	if (range_find(nic.regs, nic.n_regs, va_addr, len) >= 0 ||
	    nic.n_regs == RTE_DIM(nic.regs)) {
		rte_errno = EEXIST;
		return -1;
	}
	nic.regs[nic.n_regs++] = (struct frange){va_addr, len};
	return 0;
}

int
__wrap_rte_extmem_unregister(void *va_addr, size_t len)
{
	int i = range_find(nic.regs, nic.n_regs, va_addr, len);

	if (i < 0) {
		violate("external memory %p+%zu unregistered but never registered", va_addr, len);
		rte_errno = ENOENT;
		return -1;
	}
	range_del(nic.regs, &nic.n_regs, i);
	return 0;
}

int
__wrap_rte_dev_dma_map(struct rte_device *dev, void *addr, uint64_t iova, size_t len)
{
	if ((void *)dev != fake_device || iova != (uintptr_t)addr)
		violate("DMA map of %p for another device or at IOVA %#" PRIx64, addr, iova);
	if (range_find(nic.regs, nic.n_regs, addr, len) < 0)
		violate("DMA map of %p+%zu, not registered as external memory", addr, len);
	if (nic.dma_map_fails) {
		rte_errno = ENOTSUP;
		return -1;
	}
	if (range_find(nic.maps, nic.n_maps, addr, len) >= 0 || nic.n_maps == RTE_DIM(nic.maps)) {
		violate("DMA map of %p+%zu twice", addr, len);
		rte_errno = EEXIST;
		return -1;
	}
	nic.maps[nic.n_maps++] = (struct frange){addr, len};
	nic.map_calls++;
	return 0;
}

int
__wrap_rte_dev_dma_unmap(struct rte_device *dev, void *addr, uint64_t iova, size_t len)
{
	int i = range_find(nic.maps, nic.n_maps, addr, len);
	unsigned int held = nic_buffers_in(addr, len);

	(void)dev;
	(void)iova;
	if (i < 0) {
		violate("DMA unmap of %p+%zu, not mapped", addr, len);
		rte_errno = EINVAL;
		return -1;
	}
	if (held != 0)
		violate("guest region %p+%zu unmapped while the NIC holds %u buffers in it", addr,
			len, held);
	range_del(nic.maps, &nic.n_maps, i);
	nic.unmap_calls++;
	return 0;
}

/* ---- the worker's and the NIC's part of a burst, for cases that need frames ---- */

/*
 * The NIC wrote @p n frames into the buffers at the head of queue @p qid's ring
 * and the worker took them: each completes its slot (a host buffer from copy
 * mode is copied into a popped guest buffer, as qsync_rx_fixup() does), the
 * PMD rearms the descriptor from the pool (a hole if the guest has posted
 * nothing), and the used ring is flushed once. @return frames taken.
 */
static unsigned int
rx_frames(uint16_t qid, unsigned int n)
{
	struct qsync_queue *z = qq(qid);
	struct fnic_q *fq = &nic.q[qid];
	unsigned int got = 0;
	bool notify;

	assert_int_equal(zc_req(qid), FWD_ZC_REQ_ZERO_COPY);
	for (; got < n; got++) {
		uint16_t pos = nic.kind == FNIC_TAP ? 0 : fq->head; /* tap: its first buffer */
		struct rte_mbuf *m = fq->ring[pos];

		if (m == NULL)
			break;
		fq->ring[pos] = rte_mbuf_raw_alloc(fq->mp);
		fq->head = (uint16_t)((fq->head + 1) % fq->nb_desc);
		if (m->pool == z->pool) {
			qsync_vring_complete(z->vr, qsync_shell_of(m)->slot, HDR_LEN + FRAME_LEN);
			qsync_shell_recycle(z, m);
		} else {
			assert_true(qsync_stash_fill(z, 1));
			qsync_vring_complete(z->vr, z->stash[0].slot, HDR_LEN + FRAME_LEN);
			z->n_stash--;
			memmove(z->stash, &z->stash[1], z->n_stash * sizeof(z->stash[0]));
			rte_pktmbuf_free_seg(m);
		}
	}
	qsync_vring_flush(z->vr, &notify);
	return got;
}

/* The NIC drops the frame at its ring's head (bad CRC) and rearms that descriptor. */
static void
nic_drop(uint16_t qid)
{
	struct fnic_q *fq = &nic.q[qid];
	struct rte_mbuf *m = fq->ring[fq->head];
	struct rte_mbuf *fresh = rte_mbuf_raw_alloc(fq->mp);

	assert_non_null(m);
	if (fresh != NULL) {
		fq->ring[fq->head] = fresh;
		rte_pktmbuf_free_seg(m); /* back to the pool: an empty used entry */
	}
	fq->head = (uint16_t)((fq->head + 1) % fq->nb_desc);
}

/* ---- the other thread ---- */

struct side {
	pthread_t tid;
	struct interleave il;
	atomic_bool done;
	bool running;
};

static struct side sides[2];
static const char *interleave_error;

static void *
side_main(void *arg)
{
	struct side *s = arg;

	s->il.fn(s->il.vid, s->il.vring);
	atomic_store(&s->done, true);
	return NULL;
}

static void
sides_join(void)
{
	for (unsigned int i = 0; i < RTE_DIM(sides); i++) {
		if (sides[i].running)
			pthread_join(sides[i].tid, NULL);
		sides[i].running = false;
	}
}

/*
 * Run @p il on another thread and return once it waits for zc_lock, which the
 * caller holds (we are inside a fake the state machine calls under it).
 */
static void
interleave_fire(struct interleave *il)
{
	struct side *s = NULL;
	struct timespec t0, t;

	if (il->fn == NULL)
		return;
	for (unsigned int i = 0; i < RTE_DIM(sides) && s == NULL; i++)
		if (!sides[i].running)
			s = &sides[i];
	if (s == NULL) {
		interleave_error = "no free side thread";
		return;
	}
	s->il = *il;
	il->fn = NULL; /* once */
	atomic_store(&s->done, false);
	if (s->il.vrings_locked)
		vh_lock(s->il.vid);
	if (pthread_create(&s->tid, NULL, side_main, s) != 0) {
		interleave_error = "pthread_create failed";
		return;
	}
	s->running = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&relay.zc_lock.__data.__lock, __ATOMIC_ACQUIRE) != 2) {
		if (atomic_load(&s->done)) {
			interleave_error =
				"the other callback returned without waiting for zc_lock";
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5) {
			interleave_error = "the other callback never reached zc_lock";
			return;
		}
		sched_yield();
	}
}

static void
side_destroy_device(int vid, uint16_t vring)
{
	(void)vring;
	vh_destroy_device(vid);
}

static void
side_set_mem_table(int vid, uint16_t vring)
{
	(void)vring;
	vh_pre_msg(vid, MSG_SET_MEM_TABLE, 0, 0);
}

/* SET_VRING_ENABLE(0) as librte_vhost applies it; the caller releases the vring locks. */
static void
side_vring_disable(int vid, uint16_t vring)
{
	vh_pre_msg(vid, MSG_SET_VRING_ENABLE, vring, 0);
	vh_post_msg(vid, MSG_SET_VRING_ENABLE, vring, 0);
	vh.ops->vring_state_changed(vid, vring, 0);
}

/* ---- fixture: one relay set up the way forwarder/fwd_ctl.c does ---- */

struct fx {
	const char *driver;
	uint16_t queues;       /* default 1 */
	uint16_t guest_ring;   /* default GUEST_RING */
	bool runtime_setup;    /* RTE_ETH_DEV_CAPA_RUNTIME_RX_QUEUE_SETUP */
	enum fwd_zero_copy zc; /* default auto */
	enum fwd_zc_unknown_vf unknown;
};

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
fx_init_queue(uint16_t i)
{
	struct fwd_queue *fq = q(i);

	fq->relay = &relay;
	fq->qid = i;
	fq->burst = 32;
	fq->pool = backing;
	atomic_init(&fq->vid, -1);
	atomic_init(&fq->rx_enabled, false);
	atomic_init(&fq->tx_enabled, false);
	atomic_init(&fq->rx_mode, FWD_RX_MODE_COPY);
	atomic_init(&fq->zc_req, rcfg.zero_copy == FWD_ZC_ON ? FWD_ZC_REQ_PARK : FWD_ZC_REQ_COPY);
	atomic_init(&fq->zc_busy, 0);
	atomic_init(&fq->zc_want_copy, QSYNC_FB_NONE);
	atomic_init(&fq->zc_rebind, false);
	atomic_init(&fq->zc_reason, QSYNC_FB_NONE);
	atomic_init(&fq->zc_notify_vid, -1);
}

static void
fx_up(const struct fx *o)
{
	struct hw_port_params prm = {0};
	char why[256] = "";

	fd_baseline = count_fds();
	atomic_store(&n_violations, 0);
	violation[0] = '\0';
	interleave_error = NULL;
	memset(&vh, 0, sizeof(vh));
	memset(&nic, 0, sizeof(nic));
	nic.driver = o->driver;
	nic.kind = nic_kind_of(o->driver);
	nic.dev_capa = o->runtime_setup ? RTE_ETH_DEV_CAPA_RUNTIME_RX_QUEUE_SETUP : 0;
	nic.iova = RTE_IOVA_VA;

	memset(&rcfg, 0, sizeof(rcfg));
	snprintf(rcfg.name, sizeof(rcfg.name), "zc");
	snprintf(rcfg.vf, sizeof(rcfg.vf), "%s0", o->driver);
	snprintf(rcfg.vhost, sizeof(rcfg.vhost), "%s", SOCK);
	rcfg.vhost_mode = FWD_VHOST_CLIENT;
	rcfg.zero_copy = o->zc;
	rcfg.zero_copy_unknown_vf = o->unknown;
	rcfg.queues = o->queues != 0 ? o->queues : 1;
	/* Fits a VF buffer in every unit the table knows (1 KiB for igbvf and unknown PMDs). */
	rcfg.mtu = 1000;
	rcfg.rx_ring_size = RX_RING;
	rcfg.tx_ring_size = RX_RING;
	guest_create(o->guest_ring != 0 ? o->guest_ring : GUEST_RING, 2 * rcfg.queues);

	memset(&relay, 0, sizeof(relay));
	relay.cfg = &rcfg;
	/* Pools are named by relay index: a case that crashed must not block the next. */
	relay.index = fx_seq++ % FWD_MAX_RELAYS;
	relay.n_queues = rcfg.queues;
	atomic_init(&relay.vid, -1);
	atomic_init(&relay.conn_vid, -1);
	atomic_init(&relay.zc_mode, rcfg.zero_copy);
	pthread_mutex_init(&relay.zc_lock, NULL);
	relay.port.port_id = RTE_MAX_ETHPORTS;
	relay_up = true;

	assert_int_equal(hw_port_open(&relay.port, rcfg.vf, why, sizeof(why)), 0);
	relay.pool = backing;
	prm.n_queues = rcfg.queues;
	prm.mtu = rcfg.mtu;
	prm.rx_ring_size = rcfg.rx_ring_size;
	prm.tx_ring_size = rcfg.tx_ring_size;
	prm.rx_pool = backing;
	for (uint16_t i = 0; i < relay.n_queues; i++) {
		uint16_t buf_size;

		fx_init_queue(i);
		if (rcfg.zero_copy == FWD_ZC_OFF)
			continue;
		buf_size = relay.port.rx_max_write != 0
				   ? (uint16_t)RTE_MIN(relay.port.rx_max_write, 65535u - 256u)
				   : qsync_buf_size(relay.port.ops->rx_buf_align);
		q(i)->zc = qsync_queue_create(q(i), backing, buf_size);
		assert_non_null(q(i)->zc);
		prm.rx_pools[i] = qsync_queue_pool(q(i)->zc);
	}
	assert_int_equal(hw_port_setup(&relay.port, &prm, why, sizeof(why)), 0);
	for (uint16_t i = 0; i < relay.n_queues; i++)
		q(i)->port_id = relay.port.port_id;
	assert_int_equal(hw_port_start(&relay.port, why, sizeof(why)), 0);
	assert_int_equal(vhost_backend_register(&relay, why, sizeof(why)), 0);
	assert_int_equal(vhost_backend_start(&relay, why, sizeof(why)), 0);
	assert_non_null(vh.ops);
	nic.log[0] = '\0'; /* the setup's records */
	nic.port_stops = 0;
}

/* Everything back: shells, host mbufs, DMA mappings, fds; no fake saw a broken rule. */
static int
fx_down(void **state)
{
	unsigned int shells_missing = 0, maps_left, regs_left, host_missing;
	int fds;

	(void)state;
	sides_join();
	if (!relay_up)
		return 0;
	relay_up = false;
	memset(&at_mem_table, 0, sizeof(at_mem_table));
	memset(&at_port_stop, 0, sizeof(at_port_stop));
	memset(&at_port_start, 0, sizeof(at_port_start));
	at_zc_unlock = NULL;
	vh_unlock(0);
	vhost_backend_unregister(&relay);
	hw_port_close(&relay.port); /* closing the port returns its buffers */
	for (uint16_t i = 0; i < relay.n_queues; i++)
		if (qq(i) != NULL)
			shells_missing += shells_out(i);
	qsync_ctl_release(&relay);
	maps_left = nic.n_maps;
	regs_left = nic.n_regs;
	host_missing = rte_mempool_in_use_count(backing);
	for (uint16_t i = 0; i < relay.n_queues; i++) {
		/*
		 * Freeing dequeues every shell through the pool's ops: a host mbuf each
		 * (test_pool_free_takes_no_host_mbufs), or a guest buffer through freed
		 * memory if a binding survived. Make that dequeue harmless here.
		 */
		if (q(i)->zc != NULL) {
			q(i)->zc->backing = drained;
			q(i)->zc->zc = false;
		}
		qsync_queue_free(q(i)->zc);
		q(i)->zc = NULL;
	}
	pthread_mutex_destroy(&relay.zc_lock);
	{
		struct fwd_event ev;

		while (rte_ring_dequeue_elem(events, &ev, sizeof(ev)) == 0)
			;
	}
	guest_destroy();
	fds = count_fds();

	if (atomic_load(&n_violations) != 0)
		fail_msg("%u broken rule(s), first: %s", atomic_load(&n_violations), violation);
	if (interleave_error != NULL)
		fail_msg("interleaving: %s", interleave_error);
	assert_int_equal(shells_missing, 0);
	assert_int_equal(host_missing, 0);
	assert_int_equal(maps_left, 0);
	assert_int_equal(regs_left, 0);
	assert_int_equal(fds, fd_baseline);
	return 0;
}

/* ---- assertions on a queue ---- */

static void
assert_zero_copy(uint16_t i)
{
	assert_int_equal(zc_req(i), FWD_ZC_REQ_ZERO_COPY);
	assert_int_equal(atomic_load(&q(i)->rx_mode), FWD_RX_MODE_ZERO_COPY);
	assert_int_equal(atomic_load(&q(i)->zc_reason), QSYNC_FB_NONE);
	assert_non_null(qq(i)->vr);
	assert_true(qq(i)->zc);
	assert_false(qq(i)->stuck);
}

/* Unbound, RX as @p req (COPY, or PARK for zero_copy = on), @p reason in force. */
static void
assert_unbound(uint16_t i, uint32_t req, enum qsync_fallback reason)
{
	assert_int_equal(zc_req(i), req);
	assert_int_equal(atomic_load(&q(i)->rx_mode), FWD_RX_MODE_COPY);
	assert_int_equal(atomic_load(&q(i)->zc_reason), reason);
	assert_null(qq(i)->vr);
	assert_false(qq(i)->zc);
	assert_false(qq(i)->stuck);
	assert_int_equal(shells_out(i), 0);
}

static void
assert_fallbacks(uint16_t i, enum qsync_fallback reason, uint64_t n)
{
	for (unsigned int f = 0; f < QSYNC_FB_N; f++)
		assert_int_equal(q(i)->zc_fallbacks[f], f == (unsigned int)reason ? n : 0);
}

/* The hand back gave librte_vhost the ring exactly where the guest's used ring is. */
static void
assert_handed_back(uint16_t i, unsigned int times)
{
	const struct fvq *v = &vh.dev[atomic_load(&relay.conn_vid)].vq[2 * i];

	assert_int_equal(v->set_base, times);
	assert_int_equal(v->last_used, g_used_idx(i));
	assert_int_equal(v->last_avail, v->last_used);
}

static void
set_mode(enum fwd_zero_copy mode)
{
	/* What the telemetry command does (fwd_telemetry.c). */
	atomic_store(&relay.zc_mode, mode);
	for (uint16_t i = 0; i < relay.n_queues; i++) {
		atomic_store(&q(i)->zc_reason, QSYNC_FB_NONE);
		atomic_store(&q(i)->zc_rebind, true);
	}
}

/* ---- 1. bind on each release mode ---- */

/* net_null holds nothing between bursts: binding only parks and flips the pool. */
static void
test_bind_none_parks_only(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_null", .queues = 2});
	guest_up(0, GUEST_RING);

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "");
	assert_int_equal(nic.map_calls, 0); /* software VF: nothing to map */
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);
	assert_int_equal(zc_req(1), FWD_ZC_REQ_COPY);
	assert_fallbacks(0, QSYNC_FB_NONE, 0);

	qsync_ctl_quiesce(q(0), QSYNC_FB_NONE, false);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_string_equal(nic.log, "");
	assert_handed_back(0, 1);
}

/* iavf stops one queue: only that one is stopped, set up at half the guest ring, started. */
static void
test_bind_queue_stops_only_that_queue(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .queues = 2, .runtime_setup = true});
	guest_up(0, GUEST_RING);

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "rxq_stop(0) rxq_setup(0,128) rxq_start(0)");
	assert_int_equal(relay.port.rxq_size[0], ZC_RING);
	/* A fresh ring of shells only, in guest order; the other queue keeps its host ring. */
	assert_int_equal(nic_shells(0), ZC_RING);
	assert_int_equal(nic_host(0), 0);
	assert_int_equal(nic_host(1), RX_RING);
	assert_int_equal(zc_req(1), FWD_ZC_REQ_COPY);
	/* The guest's memory: registered and mapped once per region. */
	assert_int_equal(nic.map_calls, 2);
	assert_int_equal(nic.n_regs, 2);
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);

	/* The second queue shares the mapping. */
	nic.log[0] = '\0';
	assert_int_equal(qsync_ctl_bind(q(1), 0), 0);
	assert_zero_copy(1);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "rxq_stop(1) rxq_setup(1,128) rxq_start(1)");
	assert_int_equal(nic.map_calls, 2);
	assert_int_equal(nic.port_stops, 0);

	/* Off again: every shell back before the hand back, at the guest's used index. */
	rx_frames(0, 10);
	nic.log[0] = '\0';
	qsync_ctl_quiesce(q(0), QSYNC_FB_NONE, false);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_string_equal(nic.log, "rxq_stop(0) rxq_start(0)");
	assert_int_equal(g_used_idx(0), 10);
	assert_handed_back(0, 1);
	assert_int_equal(nic_host(0), ZC_RING);
	assert_int_equal(nic.unmap_calls, 0); /* queue 1 still uses the memory */
	assert_zero_copy(1);
}

/* iavf without runtime queue setup: the resize needs a stopped port. */
static void
test_bind_queue_without_runtime_setup_goes_port_wide(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .queues = 2});
	guest_up(0, GUEST_RING);

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,128) dev_start");
	assert_int_equal(nic.port_stops, 1);
	assert_int_equal(nic_shells(0), ZC_RING);
	assert_int_equal(nic_host(1), RX_RING);
	assert_int_equal(zc_req(1), FWD_ZC_REQ_COPY);
}

/* igbvf has no queue stop: port stopped once, ring set up at the zero-copy size, started. */
static void
test_bind_port(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2});
	guest_up(0, GUEST_RING);

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,128) dev_start");
	assert_int_equal(nic.port_stops, 1);
	assert_int_equal(nic_shells(0), ZC_RING);
	assert_int_equal(nic_host(1), RX_RING);
	assert_int_equal(zc_req(1), FWD_ZC_REQ_COPY);
	assert_int_equal(atomic_load(&q(1)->rx_mode), FWD_RX_MODE_COPY);
	assert_int_equal(nic.map_calls, 2);

	/* Off: the port again, the ring back to its configured size. */
	nic.log[0] = '\0';
	qsync_ctl_quiesce(q(0), QSYNC_FB_NONE, false);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,512) dev_start");
	assert_handed_back(0, 1);
	assert_int_equal(nic_host(0), RX_RING);
	assert_int_equal(zc_req(1), FWD_ZC_REQ_COPY);
}

/* tap: its ring comes from host buffers at setup; it then holds one guest buffer. */
static void
test_bind_tap(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_tap"});
	guest_up(0, GUEST_RING);

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,512) dev_start");
	assert_int_equal(nic_host(0), RX_RING);
	assert_int_equal(shells_out(0), 0);
	/* A frame lands in the ring's first buffer, which tap replaces: a guest buffer. */
	assert_int_equal(rx_frames(0, 1), 1);
	assert_int_equal(nic_shells(0), 1);
	assert_int_equal(shells_out(0), 1);

	nic.log[0] = '\0';
	qsync_ctl_quiesce(q(0), QSYNC_FB_NONE, false);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,512) dev_start");
	/* Handed back with that one buffer in tap's ring (parked; the setup then released it). */
	assert_int_equal(vh.tap_held_at_hand_back, 1);
	assert_handed_back(0, 1);
	assert_int_equal(nic_host(0), RX_RING);
}

/* virtio_user keeps its buffers until close: refused, nothing touched. */
static void
test_bind_never_refused(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_virtio_user"});
	guest_up(0, GUEST_RING);

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_vf_holds_buffers);
	assert_fallbacks(0, QSYNC_FB_vf_holds_buffers, 1);
	/* Asked again: the same reason is not counted twice. */
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_fallbacks(0, QSYNC_FB_vf_holds_buffers, 1);
	assert_string_equal(nic.log, "");
	assert_int_equal(vh.mem_table_calls, 0);
}

/* A PMD vfrelay knows nothing of: off unless the operator vouches for its port stop. */
static void
test_bind_unknown_refused(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_foo"});
	guest_up(0, GUEST_RING);

	assert_string_equal(relay.port.ops->name, "generic");
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_vf_unknown);
	assert_fallbacks(0, QSYNC_FB_vf_unknown, 1);
	assert_string_equal(nic.log, "");
	assert_int_equal(vh.mem_table_calls, 0);
}

static void
test_bind_unknown_port_stop(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_foo", .unknown = FWD_ZC_UNKNOWN_PORT_STOP});
	guest_up(0, GUEST_RING);

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,128) dev_start");
	assert_int_equal(nic.map_calls, 2); /* assumed to DMA */
}

/* A guest ring whose half is below the VF's smallest ring. */
static void
test_bind_guest_ring_small(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .guest_ring = 64, .runtime_setup = true});
	guest_up(0, 64);

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_guest_ring_small);
	assert_fallbacks(0, QSYNC_FB_guest_ring_small, 1);
	assert_string_equal(nic.log, "");
}

/* Posted buffers that cannot take a VF buffer: refused before anything is stopped. */
static void
test_bind_guest_buf_small(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	assert_int_equal(vh_connect(0), 0);
	guest_post(0, GUEST_RING, 512);
	vh_vring_enable(0, 0, 1);
	vh_vring_enable(0, 1, 1);
	assert_int_equal(vh_new_device(0), 0);

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_guest_buf_small);
	assert_fallbacks(0, QSYNC_FB_guest_buf_small, 1);
	assert_string_equal(nic.log, "");
	assert_int_equal(vh.mem_table_calls, 0);
}

/* ---- 2. a guest that has not posted what the VF ring takes ---- */

static void
test_bind_waits_for_posted_buffers(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, ZC_RING - 28);

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EAGAIN);
	/* Nothing stopped, parked, mapped or counted. */
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_fallbacks(0, QSYNC_FB_NONE, 0);
	assert_string_equal(nic.log, "");
	assert_int_equal(vh.mem_table_calls, 0);
	assert_int_equal(nic.map_calls, 0);
	assert_int_equal(nic_host(0), RX_RING);

	guest_post(0, 28, BUF_LEN);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_int_equal(nic_shells(0), ZC_RING);
}

/* A PMD that takes a buffer per frame needs none posted: the datapath checks each. */
static void
test_bind_none_needs_nothing_posted(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_null"});
	guest_up(0, 0);

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "");
}

/* ---- 3. destroy_device against a bind ---- */

/* destroy first, then the control thread's pending bind for that device. */
static void
test_destroy_before_pending_bind(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	vh_destroy_device(0);
	assert_int_equal(atomic_load(&q(0)->vid), -1);
	assert_false(atomic_load(&q(0)->zc_rebind));

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EAGAIN);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_string_equal(nic.log, "");
	assert_int_equal(vh.mem_table_calls, 0);
	assert_null(relay.zc_mem);
}

static int late_bind;

static void
bind_q0_now(void)
{
	late_bind = qsync_ctl_bind(q(0), 0);
}

/*
 * The control thread's bind in the window between destroy_device's quiesce
 * releasing zc_lock and destroy_device returning (after which librte_vhost
 * unmaps guest memory): the vid is already unpublished, so it is refused.
 */
static void
test_bind_right_after_destroy_quiesce(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	late_bind = 1;
	at_zc_unlock = bind_q0_now;

	vh_destroy_device(0);
	assert_null(at_zc_unlock);
	assert_int_equal(late_bind, -EAGAIN);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_null(relay.zc_mem);
	assert_int_equal(nic.unmap_calls, 2);
	assert_int_equal(nic.map_calls, 2);
}

/* Common end of a destroy that raced a bind: nothing of the binding survives. */
static void
assert_destroyed_clean(void)
{
	assert_null(interleave_error);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_int_equal(atomic_load(&relay.vid), -1);
	assert_int_equal(atomic_load(&relay.disconnects), 1);
	assert_null(relay.zc_mem);
	assert_null(relay.zc_mem_orphans);
	assert_int_equal(nic.map_calls, 2);
	assert_int_equal(nic.unmap_calls, 2);
	assert_int_equal(nic.n_maps, 0);
	assert_int_equal(vh.dev[0].vq[0].set_base, 1);
	assert_int_equal(vh.dev[0].vq[0].last_avail, 0); /* nothing was used: all rewound */
	assert_int_equal(vh.dev[0].vq[0].last_used, 0);
}

/* destroy_device arrives while the bind reads the memory table (zc_lock held). */
static void
test_destroy_during_bind(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	at_mem_table = (struct interleave){.fn = side_destroy_device, .vid = 0};

	/* The bind completes (the destroy waits for it), then the destroy undoes it. */
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	sides_join();
	assert_destroyed_clean();
	assert_string_equal(nic.log, "rxq_stop(0) rxq_setup(0,128) rxq_start(0) "
				     "rxq_stop(0) rxq_start(0)");
}

/* Likewise, arriving while the port starts again with the new ring (igbvf). */
static void
test_destroy_during_port_start(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf"});
	guest_up(0, GUEST_RING);
	at_port_start = (struct interleave){.fn = side_destroy_device, .vid = 0};

	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	sides_join();
	assert_destroyed_clean();
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,128) dev_start "
				     "dev_stop rxq_setup(0,512) dev_start");
}

/* ---- 4. SET_MEM_TABLE against a bind ---- */

static void
test_set_mem_table_during_bind(void **state)
{
	uint8_t *old;

	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	old = guest.hva;
	at_mem_table =
		(struct interleave){.fn = side_set_mem_table, .vid = 0, .vrings_locked = true};

	/* The pre-handler waits for the bind, then unbinds it and lets go of the memory. */
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	sides_join();
	assert_null(interleave_error);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_true(atomic_load(&q(0)->zc_rebind));
	assert_null(relay.zc_mem);
	assert_int_equal(nic.map_calls, 2);
	assert_int_equal(nic.unmap_calls, 2); /* the old table's regions, once each */
	assert_int_equal(vh.dev[0].vq[0].set_base, 1);

	/* librte_vhost applies the new table; while it does, a bind must not start. */
	guest_remap();
	assert_int_equal(vh_post_msg(0, MSG_SET_MEM_TABLE, 0, 0), RTE_VHOST_MSG_RESULT_NOT_HANDLED);
	nic.log[0] = '\0';
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EAGAIN);
	assert_string_equal(nic.log, "");
	assert_int_equal(nic.map_calls, 2);
	assert_int_equal(zc_req(0), FWD_ZC_REQ_COPY);

	vh_unlock(0);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	/* A new memory object on the new mapping. */
	assert_int_equal(nic.map_calls, 4);
	assert_int_equal(nic.unmap_calls, 2);
	for (unsigned int i = 0; i < nic.n_maps; i++)
		assert_true((uintptr_t)nic.maps[i].va - (uintptr_t)guest.hva <
			    RING_AREA + BUF_AREA);
	assert_ptr_not_equal(guest.hva, old);
	assert_ptr_equal(qq(0)->vr->desc, g_desc(0));
}

/* ---- 5. a ring disable during a port-wide operation for another queue ---- */

static void
test_ring_disable_during_port_wide_bind(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(1), 0), 0);
	nic.log[0] = '\0';

	/* The guest disables queue 1 while the bind of queue 0 has the port stopped. */
	at_port_stop = (struct interleave){
		.fn = side_vring_disable, .vid = 0, .vring = 2, .vrings_locked = true};
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	sides_join();
	vh_unlock(0);
	assert_null(interleave_error);

	/* Serialised: the disable's port-wide pass came after the bind's, whole. */
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,128) dev_start "
				     "dev_stop rxq_setup(1,512) dev_start");
	assert_zero_copy(0);
	assert_unbound(1, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_false(atomic_load(&q(1)->rx_enabled));
	assert_int_equal(nic_host(1), RX_RING);
	assert_int_equal(nic_shells(0), ZC_RING);
	assert_handed_back(1, 2);
	/* One queue going never unmaps memory the other still uses. */
	assert_int_equal(nic.map_calls, 2);
	assert_int_equal(nic.unmap_calls, 0);
	assert_non_null(relay.zc_mem);

	vh_disconnect(0);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_int_equal(nic.unmap_calls, 2);
}

/* ---- 6. a message librte_vhost fails: the pre-handler ran, the post-handler never will ---- */

static void
test_failed_message_then_bind(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);

	/* SET_VRING_ADDR of the RX ring, refused by librte_vhost (a reply with an error). */
	vh_lock(0);
	vh_pre_msg(0, MSG_SET_VRING_ADDR, 0, 0);
	vh_unlock(0);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_true(atomic_load(&q(0)->zc_rebind));
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	/* A ring reset reuses the memory object: nothing pinned or mapped again. */
	assert_int_equal(nic.map_calls, 2);
	assert_int_equal(nic.unmap_calls, 0);

	/* A failed SET_MEM_TABLE: memory let go, bound again from the unchanged table. */
	vh_lock(0);
	vh_pre_msg(0, MSG_SET_MEM_TABLE, 0, 0);
	vh_unlock(0);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_int_equal(nic.unmap_calls, 2);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	assert_int_equal(nic.map_calls, 4);
}

/* ---- 7. a VF that keeps its buffers after a stop ---- */

/* The NIC wrote a frame's first segment; its second has not arrived (scatter). */
static void
nic_partial_frame(uint16_t qid)
{
	struct fnic_q *fq = &nic.q[qid];

	assert_null(fq->partial);
	fq->partial = fq->ring[fq->head];
	assert_non_null(fq->partial);
	fq->ring[fq->head] = rte_mbuf_raw_alloc(fq->mp);
	fq->head = (uint16_t)((fq->head + 1) % fq->nb_desc);
}

/*
 * igb's dev_stop forgets the head of an unfinished scattered frame (found in the lab: one
 * shell held after a guest kill froze the relay for good). Its NIC is done with it: the
 * queue goes off zero copy cleanly, the buffer handed back, nothing left stuck.
 */
static void
test_port_stop_forgets_partial_frame(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf"});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	rx_frames(0, 3);
	nic_partial_frame(0);
	assert_int_equal(shells_out(0), ZC_RING + 1);

	qsync_ctl_quiesce(q(0), QSYNC_FB_NONE, false);
	assert_false(qq(0)->stuck);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_int_equal(shells_out(0), 0);
	assert_handed_back(0, 1);
	/* and zero copy comes back */
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
}

/* More than a frame's head missing after the stop: the NIC may still own them. Stuck. */
static void
test_port_stop_forgetting_more_is_stuck(void **state)
{
	struct rte_mbuf *lost[2];

	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf"});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	nic_partial_frame(0);
	lost[0] = nic.q[0].partial;
	/* a second shell out of the ring that no stop gives back */
	lost[1] = nic.q[0].ring[nic.q[0].head];
	nic.q[0].ring[nic.q[0].head] = NULL;
	nic.q[0].head = (uint16_t)((nic.q[0].head + 1) % nic.q[0].nb_desc);

	qsync_ctl_quiesce(q(0), QSYNC_FB_NONE, false);
	assert_true(qq(0)->stuck);
	assert_int_equal(atomic_load(&q(0)->zc_reason), QSYNC_FB_vf_holds_buffers);
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);
	/* what a close would give back at last */
	rte_pktmbuf_free(lost[0]);
	rte_pktmbuf_free(lost[1]);
}

static void
test_stuck_queue(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	rx_frames(0, 10);
	nic.q[0].keep = true;
	nic.log[0] = '\0';

	vh_vring_enable(0, 0, 0);
	assert_string_equal(nic.log, "rxq_stop(0)");
	/* Parked for good, counted, nothing handed back, memory mapped. */
	assert_int_equal(zc_req(0), FWD_ZC_REQ_PARK);
	assert_int_equal(atomic_load(&q(0)->rx_mode), FWD_RX_MODE_COPY);
	assert_int_equal(atomic_load(&q(0)->zc_reason), QSYNC_FB_vf_holds_buffers);
	assert_fallbacks(0, QSYNC_FB_vf_holds_buffers, 1);
	assert_true(qq(0)->stuck);
	assert_int_equal(nic_shells(0), ZC_RING);
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);
	assert_int_equal(g_used_idx(0), 10);
	assert_int_equal(nic.unmap_calls, 0);
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_int_equal(zc_req(0), FWD_ZC_REQ_PARK);

	/* The guest goes: its memory becomes an orphan, still mapped. */
	vh_disconnect(0);
	assert_null(relay.zc_mem);
	assert_non_null(relay.zc_mem_orphans);
	assert_int_equal(nic.unmap_calls, 0);
	assert_int_equal(nic.n_maps, 2);
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);
	assert_int_equal(zc_req(0), FWD_ZC_REQ_PARK);
}

static void
test_stuck_port(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	nic.q[0].keep = true;
	nic.q[1].keep = true;
	nic.log[0] = '\0';

	vh_vring_enable(0, 0, 0);
	/* Not started again: that would hand the ring, shells included, back to the NIC. */
	assert_string_equal(nic.log, "dev_stop");
	assert_false(nic.started);
	assert_int_equal(zc_req(0), FWD_ZC_REQ_PARK_ALL);
	assert_int_equal(zc_req(1), FWD_ZC_REQ_PARK_ALL);
	assert_int_equal(atomic_load(&q(0)->zc_reason), QSYNC_FB_vf_holds_buffers);
	assert_fallbacks(0, QSYNC_FB_vf_holds_buffers, 1);
	assert_true(qq(0)->stuck);
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);
	assert_int_equal(nic.unmap_calls, 0);

	vh_disconnect(0);
	assert_false(nic.started);
	assert_non_null(relay.zc_mem_orphans);
	assert_int_equal(nic.unmap_calls, 0);
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);
}

/* ---- 8. one front-end per relay ---- */

static void
test_second_front_end_refused(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	nic.log[0] = '\0';

	assert_int_not_equal(vh_connect(1), 0);
	assert_int_equal(atomic_load(&relay.connections_refused), 1);
	assert_null(vh.dev[1].ext); /* its messages never reach our pre-handler */
	/* Its device (were librte_vhost to report one) is not ours. */
	vh.dev[1].exists = true;
	assert_int_not_equal(vh.ops->new_device(1), 0);
	vh.ops->destroy_device(1);
	vh.ops->destroy_connection(1);
	memset(&vh.dev[1], 0, sizeof(vh.dev[1]));
	/* The attached guest lost nothing. */
	assert_int_equal(atomic_load(&relay.conn_vid), 0);
	assert_int_equal(atomic_load(&relay.vid), 0);
	assert_int_equal(atomic_load(&q(0)->vid), 0);
	assert_zero_copy(0);
	assert_string_equal(nic.log, "");
	assert_int_equal(vh.dev[0].vq[0].set_base, 0);
	/* Its callbacks still find the relay by its vid. */
	vh_vring_enable(0, 0, 0);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);

	/* Once it has gone, a new one is accepted and served. */
	vh_disconnect(0);
	assert_int_equal(atomic_load(&relay.conn_vid), -1);
	guest_up(1, 0);
	assert_int_equal(atomic_load(&relay.conn_vid), 1);
	assert_non_null(vh.dev[1].ext);
	assert_int_equal(qsync_ctl_bind(q(0), 1), 0);
	assert_zero_copy(0);
	assert_int_equal(qq(0)->vid, 1);
	assert_int_equal(atomic_load(&relay.connections_refused), 1);
}

/* ---- 9. the guest interrupt a quiesce under the vring locks owes ---- */

static void
test_notification_owed(void **state)
{
	struct fvq *v;

	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	v = &vh.dev[0].vq[0];
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	v->calls = v->call_tries = 0; /* the bind's probe sends one (harmless) */
	/* A dropped frame: its buffer goes back empty at the next flush, so the guest must hear. */
	nic_drop(0);

	vh_lock(0);
	vh.ops->vring_state_changed(0, 0, 0);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_int_equal(g_used_idx(0), 1);
	assert_handed_back(0, 1);
	assert_int_equal(v->call_tries, 0); /* not even tried under the locks */
	assert_int_equal(atomic_load(&q(0)->zc_notify_vid), 0);
	/* The control thread tries while the message is still applied: kept. */
	qsync_ctl_notify_owed(q(0));
	assert_int_equal(v->calls, 0);
	assert_int_equal(atomic_load(&q(0)->zc_notify_vid), 0);
	vh_unlock(0);
	qsync_ctl_notify_owed(q(0));
	assert_int_equal(v->calls, 1);
	assert_int_equal(atomic_load(&q(0)->zc_notify_vid), -1);
	qsync_ctl_notify_owed(q(0));
	assert_int_equal(v->calls, 1);

	/* Not under the locks: sent at once, nothing owed. */
	vh_vring_enable(0, 0, 1);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	v->calls = v->call_tries = 0;
	nic_drop(0);
	qsync_ctl_quiesce(q(0), QSYNC_FB_NONE, false);
	assert_int_equal(v->calls, 1);
	assert_int_equal(atomic_load(&q(0)->zc_notify_vid), -1);

	/* Owed to a device that goes: dropped, never sent. */
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	nic_drop(0);
	vh_lock(0);
	vh.ops->vring_state_changed(0, 0, 0);
	vh_unlock(0);
	assert_int_equal(atomic_load(&q(0)->zc_notify_vid), 0);
	v->call_tries = 0;
	vh_destroy_device(0);
	qsync_ctl_notify_owed(q(0));
	assert_int_equal(atomic_load(&q(0)->zc_notify_vid), -1);
	assert_int_equal(v->call_tries, 0);
}

/* ---- 10. zero_copy changed at runtime ---- */

static void
test_runtime_mode(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);

	/* off: the next bind attempt quiesces; not a fallback. */
	set_mode(FWD_ZC_OFF);
	nic.log[0] = '\0';
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_NONE);
	assert_fallbacks(0, QSYNC_FB_NONE, 0);
	assert_string_equal(nic.log, "rxq_stop(0) rxq_start(0)");
	assert_handed_back(0, 1);
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_int_equal(vh.dev[0].vq[0].set_base, 1);

	/* on: bound again. */
	set_mode(FWD_ZC_ON);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
	/* on, and the guest stops the ring: RX waits, it is never copied. */
	vh_vring_enable(0, 0, 0);
	assert_unbound(0, FWD_ZC_REQ_PARK, QSYNC_FB_NONE);
	/* ... and posts buffers too small when it starts it again. */
	for (uint16_t i = 0; i < guest.size; i++)
		g_desc(0)[i].len = 512;
	vh_vring_enable(0, 0, 1);
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_PARK, QSYNC_FB_guest_buf_small);
	assert_fallbacks(0, QSYNC_FB_guest_buf_small, 1);

	/* auto: the copy path serves it. */
	set_mode(FWD_ZC_AUTO);
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_guest_buf_small);
	assert_fallbacks(0, QSYNC_FB_guest_buf_small, 2);
	/* With good buffers again, zero copy. */
	for (uint16_t i = 0; i < guest.size; i++)
		g_desc(0)[i].len = BUF_LEN;
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_zero_copy(0);
}

/* Dirty logging starts (migration): every queue leaves zero copy, counted once. */
static void
test_dirty_logging_quiesces_relay(void **state)
{
	const uint64_t log_all = 1ULL << 26; /* VHOST_F_LOG_ALL */

	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	nic.log[0] = '\0';

	vh_lock(0);
	vh_pre_msg(0, MSG_SET_FEATURES, (uint32_t)(FEATURES | log_all),
		   (uint32_t)((FEATURES | log_all) >> 32));
	vh.dev[0].features = FEATURES | log_all; /* the handler applies them */
	vh_post_msg(0, MSG_SET_FEATURES, (uint32_t)(FEATURES | log_all),
		    (uint32_t)((FEATURES | log_all) >> 32));
	vh_unlock(0);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,512) dev_start");
	for (uint16_t i = 0; i < 2; i++) {
		assert_unbound(i, FWD_ZC_REQ_COPY, QSYNC_FB_live_migration);
		assert_fallbacks(i, QSYNC_FB_live_migration, 1);
		assert_true(atomic_load(&q(i)->zc_rebind));
	}
	assert_handed_back(0, 1);
	/* The retries it asked for see the features and stay off, not counted again. */
	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_int_equal(qsync_ctl_bind(q(1), 0), -EPERM);
	assert_fallbacks(0, QSYNC_FB_live_migration, 1);
	assert_int_equal(nic.unmap_calls, 0);
}

/* zero_copy = off: no queue state; the messages that would quiesce it move nothing. */
static void
test_zero_copy_off_touches_nothing(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .zc = FWD_ZC_OFF});
	assert_null(qq(0));
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), -ENOTSUP);
	vh_lock(0);
	vh_pre_msg(0, MSG_SET_MEM_TABLE, 0, 0);
	vh_pre_msg(0, MSG_SET_VRING_ADDR, 0, 0);
	vh_unlock(0);
	vh_vring_enable(0, 0, 0);
	vh_disconnect(0);
	assert_string_equal(nic.log, "");
	assert_int_equal(vh.mem_table_calls, 0);
	assert_int_equal(zc_req(0), FWD_ZC_REQ_COPY);
}

/* ---- the VF or the IOMMU refusing ---- */

static void
test_bind_queue_start_fails(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	nic.fail_rxq_start = 1;

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_bind_failed);
	assert_fallbacks(0, QSYNC_FB_bind_failed, 1);
	assert_string_equal(nic.log, "rxq_stop(0) rxq_setup(0,128) rxq_start(0)=EIO rxq_start(0)");
	assert_handed_back(0, 1);
	assert_int_equal(nic_host(0), ZC_RING);
}

static void
test_bind_port_start_fails(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf"});
	guest_up(0, GUEST_RING);
	nic.fail_start = 1;

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_bind_failed);
	assert_string_equal(nic.log, "dev_stop rxq_setup(0,128) dev_start=EIO rxq_setup(0,512) "
				     "dev_start");
	assert_handed_back(0, 1);
	assert_true(nic.started);
	assert_int_equal(nic_host(0), RX_RING);
}

static void
test_bind_dma_map_fails(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	nic.dma_map_fails = true;

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_vf_no_dma);
	assert_fallbacks(0, QSYNC_FB_vf_no_dma, 1);
	assert_string_equal(nic.log, "");
	assert_int_equal(nic.n_regs, 0);
	assert_null(relay.zc_mem);
}

/*
 * No IOMMU: physical addresses need hugepage-backed guest memory (a memfd is
 * not). The refusal closes what it opened and nothing else: fd 0 stands for
 * whatever descriptor a daemon has there (a socket, an eventfd).
 */
static void
test_bind_pa_mode_needs_hugepages(void **state)
{
	int fd0 = -1;

	(void)state;
	if (fcntl(0, F_GETFD) < 0)
		fd0 = open("/dev/null", O_RDONLY); /* becomes fd 0 */
	fx_up(&(struct fx){.driver = "net_iavf", .runtime_setup = true});
	guest_up(0, GUEST_RING);
	nic.iova = RTE_IOVA_PA;

	assert_int_equal(qsync_ctl_bind(q(0), 0), -EPERM);
	assert_true(fcntl(0, F_GETFD) >= 0);
	assert_unbound(0, FWD_ZC_REQ_COPY, QSYNC_FB_vf_no_dma);
	assert_fallbacks(0, QSYNC_FB_vf_no_dma, 1);
	assert_string_equal(nic.log, "");
	assert_int_equal(nic.map_calls, 0);
	if (fd0 >= 0)
		close(fd0);
}

/* ---- found by this test, fixed since ---- */

/*
 * A port stop that fails during a bind from copy mode: no queue was bound, the
 * port still runs on host buffers, so every queue should go on as before.
 */
static void
test_port_stop_fails_relay_carries_on(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2});
	guest_up(0, GUEST_RING);
	nic.fail_stop = 1;

	assert_int_not_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_string_equal(nic.log, "dev_stop=EIO");
	assert_true(nic.started);
	assert_int_equal(zc_req(0), FWD_ZC_REQ_COPY);
	assert_int_equal(zc_req(1), FWD_ZC_REQ_COPY);
}

/*
 * Port-wide, a quiesce of one queue rebinds the others; one whose guest has
 * not reposted enough yet (-EAGAIN) falls to the copy path (with on: parked)
 * and must be retried (it was not: zc_rebind stayed false).
 */
static void
test_port_wide_rebind_retried(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2, .zc = FWD_ZC_ON});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_int_equal(qsync_ctl_bind(q(1), 0), 0);
	atomic_store(&q(0)->zc_rebind, false);
	atomic_store(&q(1)->zc_rebind, false);
	/* Queue 1 takes 200 frames; its guest is slow to post more: 56 left in the VF ring. */
	assert_int_equal(rx_frames(1, 200), 200);
	assert_int_equal(nic_shells(1), 56);

	/* The guest disables queue 0. */
	vh_vring_enable(0, 0, 0);
	assert_unbound(0, FWD_ZC_REQ_PARK, QSYNC_FB_NONE);
	/* Queue 1 could not be bound again just now; it must be, once the guest posts. */
	guest_post(1, 200, BUF_LEN);
	assert_true(zc_req(1) == FWD_ZC_REQ_ZERO_COPY || atomic_load(&q(1)->zc_rebind));
}

/*
 * Port-wide stuck (queue 0 kept its buffers): queue 1, bound and clean, must not
 * stay "bound" on the port left stopped, nor resume on its next bind (it did).
 */
static void
test_stuck_port_neighbour_stays_parked(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_int_equal(qsync_ctl_bind(q(1), 0), 0);
	nic.q[0].keep = true;

	vh_vring_enable(0, 0, 0);
	assert_true(qq(0)->stuck);
	assert_false(nic.started);
	/* The next attempt for queue 1 (a mode change, a ring enable...). */
	qsync_ctl_bind(q(1), 0);
	assert_int_not_equal(zc_req(1), FWD_ZC_REQ_ZERO_COPY);
	assert_false(nic.started);
}

/* ... and the guest leaving must not restart the port over the stuck queue's ring (it did). */
static void
test_stuck_port_never_restarted(void **state)
{
	(void)state;
	fx_up(&(struct fx){.driver = "net_e1000_igb_vf", .queues = 2});
	guest_up(0, GUEST_RING);
	assert_int_equal(qsync_ctl_bind(q(0), 0), 0);
	assert_int_equal(qsync_ctl_bind(q(1), 0), 0);
	nic.q[0].keep = true;

	vh_vring_enable(0, 0, 0);
	assert_true(qq(0)->stuck);
	vh_disconnect(0);
	assert_false(nic.started);
	assert_int_equal(atomic_load(&n_violations), 0);
}

/*
 * Freeing a hybrid pool (qsync_queue_free) must take no host mbuf from the relay's
 * pool: rte_mempool_free() dequeues each element through the pool's ops, and the
 * copy-mode dequeue forwarded that to the backing pool, one mbuf per shell.
 */
static void
test_pool_free_takes_no_host_mbufs(void **state)
{
	unsigned int before;

	(void)state;
	fx_up(&(struct fx){.driver = "net_iavf"});
	hw_port_close(&relay.port);
	before = rte_mempool_in_use_count(backing);
	assert_int_equal(before, 0);
	qsync_queue_free(q(0)->zc);
	q(0)->zc = NULL;
	assert_int_equal(rte_mempool_in_use_count(backing), before);
}

/* ---- main ---- */

/* Outside cmocka: a failed group setup would report "0 tests, PASSED". */
static int
setup(void)
{
	/* clang-format off */
	char *argv[] = {"test_zc_ctl", "--no-huge", "-m", "64", "--no-pci", "--no-shconf",
			"--no-telemetry", "-l", "0", "--file-prefix=vfr_test_zc_ctl",
			"--log-level=*:error", NULL};
	/* clang-format on */
	size_t sz;

	if (rte_eal_init(RTE_DIM(argv) - 1, argv) < 0)
		return -1;
	vfr_barrier_init();
	backing = rte_pktmbuf_pool_create("zc_ctl_host", 4096, 0, 0, 2176, 0);
	events = rte_ring_create_elem("zc_ctl_ev", sizeof(struct fwd_event), 1024, SOCKET_ID_ANY,
				      RING_F_SC_DEQ);
	sz = RTE_ALIGN_CEIL(rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE);
	qsv = aligned_alloc(RTE_CACHE_LINE_SIZE, sz);
	drained = rte_pktmbuf_pool_create("zc_ctl_drained", 63, 0, 0, 128, 0);
	if (backing == NULL || drained == NULL || events == NULL || qsv == NULL ||
	    rte_rcu_qsbr_init(qsv, 1) != 0)
		return -1;
	for (struct rte_mbuf *m; (m = rte_pktmbuf_alloc(drained)) != NULL;)
		;
	vhost_backend_init(&(struct vhost_backend_env){
		.events = events,
		.events_lost = &events_lost,
		.qsv = qsv,
		.ctl_fd = -1, /* no control thread to wake */
	});
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_bind_none_parks_only, fx_down),
		cmocka_unit_test_teardown(test_bind_queue_stops_only_that_queue, fx_down),
		cmocka_unit_test_teardown(test_bind_queue_without_runtime_setup_goes_port_wide,
					  fx_down),
		cmocka_unit_test_teardown(test_bind_port, fx_down),
		cmocka_unit_test_teardown(test_bind_tap, fx_down),
		cmocka_unit_test_teardown(test_bind_never_refused, fx_down),
		cmocka_unit_test_teardown(test_bind_unknown_refused, fx_down),
		cmocka_unit_test_teardown(test_bind_unknown_port_stop, fx_down),
		cmocka_unit_test_teardown(test_bind_guest_ring_small, fx_down),
		cmocka_unit_test_teardown(test_bind_guest_buf_small, fx_down),
		cmocka_unit_test_teardown(test_bind_waits_for_posted_buffers, fx_down),
		cmocka_unit_test_teardown(test_bind_none_needs_nothing_posted, fx_down),
		cmocka_unit_test_teardown(test_destroy_before_pending_bind, fx_down),
		cmocka_unit_test_teardown(test_destroy_during_bind, fx_down),
		cmocka_unit_test_teardown(test_destroy_during_port_start, fx_down),
		cmocka_unit_test_teardown(test_bind_right_after_destroy_quiesce, fx_down),
		cmocka_unit_test_teardown(test_set_mem_table_during_bind, fx_down),
		cmocka_unit_test_teardown(test_ring_disable_during_port_wide_bind, fx_down),
		cmocka_unit_test_teardown(test_failed_message_then_bind, fx_down),
		cmocka_unit_test_teardown(test_stuck_queue, fx_down),
		cmocka_unit_test_teardown(test_port_stop_forgets_partial_frame, fx_down),
		cmocka_unit_test_teardown(test_port_stop_forgetting_more_is_stuck, fx_down),
		cmocka_unit_test_teardown(test_stuck_port, fx_down),
		cmocka_unit_test_teardown(test_second_front_end_refused, fx_down),
		cmocka_unit_test_teardown(test_notification_owed, fx_down),
		cmocka_unit_test_teardown(test_runtime_mode, fx_down),
		cmocka_unit_test_teardown(test_dirty_logging_quiesces_relay, fx_down),
		cmocka_unit_test_teardown(test_zero_copy_off_touches_nothing, fx_down),
		cmocka_unit_test_teardown(test_bind_queue_start_fails, fx_down),
		cmocka_unit_test_teardown(test_bind_port_start_fails, fx_down),
		cmocka_unit_test_teardown(test_bind_dma_map_fails, fx_down),
		cmocka_unit_test_teardown(test_bind_pa_mode_needs_hugepages, fx_down),
		cmocka_unit_test_teardown(test_port_stop_fails_relay_carries_on, fx_down),
		cmocka_unit_test_teardown(test_port_wide_rebind_retried, fx_down),
		cmocka_unit_test_teardown(test_stuck_port_neighbour_stays_parked, fx_down),
		cmocka_unit_test_teardown(test_stuck_port_never_restarted, fx_down),
		cmocka_unit_test_teardown(test_pool_free_takes_no_host_mbufs, fx_down),
	};

	if (setup() != 0) {
		fprintf(stderr, "test_zc_ctl: EAL, pools or ring setup failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("zc_ctl", tests, NULL, NULL);
}
