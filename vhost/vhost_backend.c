/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vhost-user sockets and every librte_vhost callback.
 *
 * This module owns the connection of each relay: a connection is accepted in
 * new_connection (one per relay; any further one is refused and counted) and
 * entered in a vid -> relay table, and every later callback acts only
 * through that table, so a second front-end on a server socket can neither
 * take the relay over nor disturb the attached one.
 *
 * The callbacks run on librte_vhost's event thread. They publish and
 * unpublish the device lock-free and wait for the workers with RCU; the one
 * lock they take is a relay's zc_lock, through qsync's quiesce, which never
 * waits for anything that could be blocked on a vhost lock (see qsync.h).
 * Everything else (logging, operator state) goes to the control thread
 * through a ring.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <grp.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/vhost.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_vhost.h>

#include <vfrelay/fwd.h>
#include <vfrelay/log.h>
#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

VFR_LOG_REGISTER();

/* vhost-user request ids (the message struct is private to librte_vhost). */
enum {
	VB_MSG_GET_FEATURES = 1,
	VB_MSG_SET_FEATURES = 2,
	VB_MSG_SET_OWNER = 3,
	VB_MSG_SET_MEM_TABLE = 5,
	VB_MSG_SET_LOG_BASE = 6,
	VB_MSG_SET_LOG_FD = 7,
	VB_MSG_SET_VRING_NUM = 8,
	VB_MSG_SET_VRING_ADDR = 9,
	VB_MSG_SET_VRING_BASE = 10,
	VB_MSG_GET_VRING_BASE = 11,
	VB_MSG_SET_VRING_KICK = 12,
	VB_MSG_SET_VRING_CALL = 13,
	VB_MSG_SET_VRING_ERR = 14,
	VB_MSG_GET_PROTOCOL_FEATURES = 15,
	VB_MSG_SET_PROTOCOL_FEATURES = 16,
	VB_MSG_GET_QUEUE_NUM = 17,
	VB_MSG_SET_VRING_ENABLE = 18,
	VB_MSG_SEND_RARP = 19,
	VB_MSG_NET_SET_MTU = 20,
	VB_MSG_SET_SLAVE_REQ_FD = 21,
	VB_MSG_GET_CONFIG = 24,
	VB_MSG_POSTCOPY_ADVISE = 28,
	VB_MSG_GET_INFLIGHT_FD = 31,
	VB_MSG_SET_INFLIGHT_FD = 32,
	VB_MSG_GET_MAX_MEM_SLOTS = 36,
	VB_MSG_GET_STATUS = 40,
	VB_MSG_LAST = 40, /* VHOST_USER_GET_STATUS: the last request librte_vhost 22.11 knows */
};

/* Message flags (u32 after the request): the front-end wants an ack. */
#define VB_MSG_FLAG_NEED_REPLY (1u << 3)

/* A front-end gets this long to finish a message, or to read a reply, before it is cut off. */
#define VB_SOCKET_TIMEOUT_S 2

/* Message layout: request, flags, size (u32 each), then the payload. */
#define VB_MSG_PAYLOAD_OFF 12

static struct vhost_backend_env vb_env;

/* Relays by socket, for new_connection only (control thread: wo before the socket starts). */
static struct fwd_relay *_Atomic vb_relays[FWD_MAX_RELAYS];

/* The accepted connection of each relay, by vid (vhost-events: rw; control: wo at unregister). */
static struct fwd_relay *_Atomic vb_conns[RTE_MAX_VHOST_DEVICE];

void
vhost_backend_init(const struct vhost_backend_env *env)
{
	vb_env = *env;
	if (vhost_guard_init() != 0)
		VFR_LOG(WARNING, "cannot install the SIGBUS guard: a front-end that truncates "
			"guest memory can kill the process");
}

static struct fwd_relay *
vhost_backend_relay_of(int vid)
{
	if (vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)
		return NULL;
	return atomic_load_explicit(&vb_conns[vid], memory_order_acquire);
}

static struct fwd_relay *
vhost_backend_relay_by_path(const char *path)
{
	for (unsigned int i = 0; i < FWD_MAX_RELAYS; i++) {
		struct fwd_relay *r = atomic_load_explicit(&vb_relays[i], memory_order_acquire);

		if (r != NULL && strcmp(r->cfg->vhost, path) == 0)
			return r;
	}
	return NULL;
}

/* The control thread has work (an event, a bind to try, an interrupt a quiesce owes). */
static void
vhost_backend_wake_ctl(void)
{
	static const uint64_t one = 1;

	if (vb_env.ctl_fd >= 0)
		(void)!write(vb_env.ctl_fd, &one, sizeof(one));
}

static void
vhost_backend_post(const struct fwd_relay *relay, uint32_t type, int vid, uint16_t vring,
		   uint16_t enable, uint64_t features)
{
	struct fwd_event ev = {
		.type = type,
		.relay = relay->index,
		.vid = vid,
		.vring = vring,
		.enable = enable,
		.features = features,
	};

	if (rte_ring_mp_enqueue_elem(vb_env.events, &ev, sizeof(ev)) != 0)
		atomic_fetch_add_explicit(vb_env.events_lost, 1, memory_order_relaxed);
	vhost_backend_wake_ctl();
}

static void
vhost_backend_want_rebind(struct fwd_relay *relay, int qid)
{
	bool any = false;

	for (uint16_t i = 0; i < relay->n_queues; i++) {
		if (relay->queues[i].zc != NULL && (qid < 0 || qid == i)) {
			atomic_store_explicit(&relay->queues[i].zc_rebind, true,
					      memory_order_release);
			any = true;
		}
	}
	if (any)
		vhost_backend_wake_ctl();
}

/* The copy path checks the guest's avail index against the ring's size. */
static void
vhost_backend_note_rx_size(struct fwd_queue *q, int vid)
{
	struct rte_vhost_vring vr;

	if (rte_vhost_get_vhost_vring(vid, q->qid * 2, &vr) == 0)
		atomic_store_explicit(&q->rx_vring_size, vr.size, memory_order_relaxed);
}

static int
vhost_backend_new_device(int vid)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);
	uint64_t features = 0;
	uint16_t nr_vring;

	if (relay == NULL) {
		VFR_LOG_LIMITED(ERR, "new device %d on a connection we did not accept", vid);
		return -1;
	}
	if (rte_vhost_get_negotiated_features(vid, &features) < 0) {
		VFR_LOG(ERR, "%s: cannot read negotiated features", relay->cfg->name);
		return -1;
	}
	nr_vring = rte_vhost_get_vring_num(vid);

	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *q = &relay->queues[i];

		/* A guest with fewer queue pairs than configured leaves the rest idle. */
		if (2u * i + 1 >= nr_vring)
			break;
		q->guest_csum = features & (1ULL << VIRTIO_NET_F_GUEST_CSUM);
		/*
		 * We poll: the guest need not kick us, saving it a VM exit per burst.
		 * An idle worker enables kicks only while it sleeps (forwarder/). No
		 * vring lock is held here, and no worker uses the device yet.
		 */
		rte_vhost_enable_guest_notification(vid, 2 * i, 0);
		rte_vhost_enable_guest_notification(vid, 2 * i + 1, 0);
		vhost_backend_note_rx_size(q, vid);
		atomic_store_explicit(&q->vid, vid, memory_order_release);
	}
	/* The control thread tries zero copy; until then the copy path serves. */
	vhost_backend_want_rebind(relay, -1);
	atomic_store_explicit(&relay->features, features, memory_order_relaxed);
	atomic_store_explicit(&relay->vid, vid, memory_order_release);
	atomic_fetch_add_explicit(&relay->connects, 1, memory_order_relaxed);
	relay->conn_ran = true;
	/* A sleeping worker arms this device's kicks and the VF now. */
	fwd_relay_wake_workers(relay);
	vhost_backend_post(relay, FWD_EV_GUEST_UP, vid, nr_vring, 0, features);
	return 0;
}

static void
vhost_backend_destroy_device(int vid)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);

	if (relay == NULL || atomic_load_explicit(&relay->vid, memory_order_acquire) != vid)
		return;
	/*
	 * Unpublish first: a bind pending on the control thread checks the vid
	 * under zc_lock, so from here on it can no longer bind this device, and
	 * the quiesce below (which takes zc_lock) undoes one that already did.
	 */
	/*
	 * The rings' enable bits stay: a front-end that stops and restarts one
	 * vring (GET_VRING_BASE destroys the device) announces only that one
	 * again, the others are still enabled. A new connection clears them.
	 */
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *q = &relay->queues[i];

		atomic_store_explicit(&q->vid, -1, memory_order_release);
		atomic_store_explicit(&q->zc_rebind, false, memory_order_relaxed);
	}
	atomic_store_explicit(&relay->vid, -1, memory_order_release);
	/* The VF must stop writing into guest buffers before they go away. */
	qsync_ctl_detach(relay, false);
	/*
	 * librte_vhost frees the device and unmaps guest memory right after we
	 * return: wait until no worker can still be inside a burst on it.
	 * Workers never wait on us, so this cannot deadlock.
	 */
	rte_rcu_qsbr_synchronize(vb_env.qsv, RTE_QSBR_THRID_INVALID);
	/* A sleeping worker lets go of the kick fds it waits on (its own duplicates). */
	fwd_relay_wake_workers(relay);
	/* The connection is closing: librte_vhost unmaps guest memory next. */
	if (relay->guard_closing)
		vhost_guard_clear(relay->index, relay->cfg->name);
	relay->guard_closing = false;
	atomic_fetch_add_explicit(&relay->disconnects, 1, memory_order_relaxed);
	vhost_backend_post(relay, FWD_EV_GUEST_DOWN, vid, 0, 0, 0);
}

/*
 * Runs with every virtqueue lock held: only flag stores here, and quiesce,
 * which waits only for a zero-copy burst (it takes no vhost lock).
 */
static int
vhost_backend_vring_state_changed(int vid, uint16_t vring, int enable)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);
	uint16_t qid = vring / 2;

	if (relay == NULL)
		return 0;
	if (qid < relay->n_queues) {
		struct fwd_queue *q = &relay->queues[qid];

		if (vring & 1) {
			atomic_store_explicit(&q->tx_enabled, enable != 0, memory_order_relaxed);
		} else {
			int running = atomic_load_explicit(&relay->vid, memory_order_relaxed);

			if (!enable)
				qsync_ctl_quiesce(q, QSYNC_FB_NONE, true);
			if (enable && running == vid)
				vhost_backend_note_rx_size(q, vid); /* re-sized while stopped */
			atomic_store_explicit(&q->rx_enabled, enable != 0, memory_order_relaxed);
			if (enable)
				vhost_backend_want_rebind(relay, qid);
		}
		/* Its worker arms this ring's kick, or stops waiting on it (an eventfd write). */
		fwd_queue_wake_worker(q);
	}
	vhost_backend_post(relay, FWD_EV_VRING, vid, vring, enable != 0, 0);
	return 0;
}

static int
vhost_backend_features_changed(int vid, uint64_t features)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);

	if (relay == NULL)
		return 0;
	atomic_store_explicit(&relay->features, features, memory_order_relaxed);
	vhost_backend_post(relay, FWD_EV_FEATURES, vid, 0, 0, features);
	return 0;
}

/*
 * Messages librte_vhost 22.11 mishandles in ways a front-end can use against
 * the process, none of which a virtio-net front-end needs: inflight tracking
 * (GET_INFLIGHT_FD allocates and clears num_queues x queue_size bytes it was
 * told, SET_INFLIGHT_FD writes past a mapping it was given; it is for block
 * devices and is not offered), and a dirty log with a nonzero mmap_offset
 * (mapped at the offset, then offset again: a wild write; QEMU sends 0).
 * Refused: librte_vhost answers an error, or closes the connection.
 */
static bool
vhost_backend_refuse(struct fwd_relay *relay, uint32_t req, const uint8_t *m)
{
	uint64_t log_offset;
	const char *what = NULL;

	switch (req) {
	case VB_MSG_GET_INFLIGHT_FD:
	case VB_MSG_SET_INFLIGHT_FD:
		what = "inflight tracking (not offered)";
		break;
	case 0:
		what = "no such request";
		break;
	case VB_MSG_SET_LOG_BASE:
		/* VhostUserLog: mmap_size, then mmap_offset (u64 each). */
		memcpy(&log_offset, m + VB_MSG_PAYLOAD_OFF + 8, sizeof(log_offset));
		if (log_offset != 0)
			what = "a dirty log at a nonzero offset";
		break;
	default:
		if (req > VB_MSG_LAST)
			what = "no such request";
		break;
	}
	if (what == NULL)
		return false;
	atomic_fetch_add_explicit(&relay->messages_refused, 1, memory_order_relaxed);
	VFR_LOG_LIMITED(WARNING, "%s: refused vhost-user request %u: %s", relay->cfg->name, req,
			what);
	return true;
}

/* Does librte_vhost answer @p req (flags @p flags)? */
static bool
vhost_backend_msg_replies(uint32_t req, uint32_t flags)
{
	switch (req) {
	case VB_MSG_GET_FEATURES:
	case VB_MSG_GET_VRING_BASE:
	case VB_MSG_GET_PROTOCOL_FEATURES:
	case VB_MSG_GET_QUEUE_NUM:
	case VB_MSG_GET_CONFIG:
	case VB_MSG_POSTCOPY_ADVISE:
	case VB_MSG_GET_MAX_MEM_SLOTS:
	case VB_MSG_GET_STATUS:
		return true;
	default:
		return (flags & VB_MSG_FLAG_NEED_REPLY) != 0;
	}
}

/*
 * A front-end that sends requests and never reads the replies: librte_vhost
 * ignores a reply it could not send, so each would hold the event thread
 * (every relay's control plane) for the send timeout, message after message.
 * Once the connection has no room for a reply, close it: the request fails
 * without an ack (which would block again) and librte_vhost drops the
 * connection.
 */
static bool
vhost_backend_replies_unread(struct fwd_relay *relay, uint32_t req, uint8_t *m)
{
	struct pollfd pfd = {.fd = relay->conn_fd, .events = POLLOUT};
	uint32_t flags;

	memcpy(&flags, m + 4, sizeof(flags));
	if (relay->conn_fd < 0 || !vhost_backend_msg_replies(req, flags) || poll(&pfd, 1, 0) != 0)
		return false;
	flags &= ~VB_MSG_FLAG_NEED_REPLY;
	memcpy(m + 4, &flags, sizeof(flags));
	atomic_fetch_add_explicit(&relay->messages_refused, 1, memory_order_relaxed);
	VFR_LOG_LIMITED(WARNING, "%s: the vhost-user front-end does not read its replies "
			"(request %u): connection closed", relay->cfg->name, req);
	return true;
}

/*
 * Before librte_vhost applies a message. For the messages it applies with
 * every vring lock held (the list in vhost_user_msg_handler()), quiesce what
 * the message would pull from under the VF, and in any case pass through
 * zc_lock: a bind in progress finishes before the message is applied, and
 * one that starts later sees the locks held (qsync_ctl_bind() probes them)
 * and waits. Rebinding is asked for here, not after the message: a message
 * that fails skips the post-handler.
 */
static enum rte_vhost_msg_result
vhost_backend_pre_msg(int vid, void *msg)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);
	const uint8_t *m = msg;
	uint32_t req;
	uint32_t index;
	uint32_t num;
	uint64_t u64;

	if (relay == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	memcpy(&req, m, sizeof(req));
	memcpy(&index, m + VB_MSG_PAYLOAD_OFF, sizeof(index));
	memcpy(&num, m + VB_MSG_PAYLOAD_OFF + 4, sizeof(num));
	memcpy(&u64, m + VB_MSG_PAYLOAD_OFF, sizeof(u64));
	/* SET_VRING_ADDR's index is a bare u32; SET_VRING_ENABLE's likewise. */
	index &= 0xff;

	if (vhost_backend_refuse(relay, req, m) || vhost_backend_replies_unread(relay, req, msg))
		return RTE_VHOST_MSG_RESULT_ERR;
	switch (req) {
	case VB_MSG_SET_MEM_TABLE:
		qsync_ctl_detach(relay, true);
		vhost_backend_want_rebind(relay, -1);
		fwd_relay_wake_workers(relay);
		/* librte_vhost unmaps the old regions (every vring lock held: no worker in). */
		vhost_guard_clear(relay->index, relay->cfg->name);
		break;
	case VB_MSG_SET_VRING_ADDR:
		if (index % 2 == 0 && index / 2 < relay->n_queues) {
			qsync_ctl_quiesce(&relay->queues[index / 2], QSYNC_FB_NONE, true);
			vhost_backend_want_rebind(relay, (int)(index / 2));
			fwd_queue_wake_worker(&relay->queues[index / 2]);
		} else {
			qsync_ctl_sync(relay);
		}
		break;
	case VB_MSG_SET_VRING_ENABLE:
		if (num == 0 && index % 2 == 0 && index / 2 < relay->n_queues) {
			qsync_ctl_quiesce(&relay->queues[index / 2], QSYNC_FB_NONE, true);
			fwd_queue_wake_worker(&relay->queues[index / 2]);
			/* The interrupt the quiesce could not send under the locks. */
			vhost_backend_wake_ctl();
		} else {
			qsync_ctl_sync(relay);
		}
		break;
	case VB_MSG_SET_FEATURES:
		/* Dirty logging starts: every completion would have to be logged. */
		if (u64 & (1ULL << VHOST_F_LOG_ALL)) {
			qsync_ctl_quiesce_relay(relay, QSYNC_FB_live_migration, true);
			fwd_relay_wake_workers(relay);
		} else {
			qsync_ctl_sync(relay);
		}
		vhost_backend_want_rebind(relay, -1);
		break;
	case VB_MSG_SET_LOG_BASE:
		qsync_ctl_quiesce_relay(relay, QSYNC_FB_live_migration, true);
		vhost_backend_want_rebind(relay, -1);
		fwd_relay_wake_workers(relay);
		break;
	case VB_MSG_SET_OWNER:
	case VB_MSG_SET_LOG_FD:
	case VB_MSG_SET_VRING_NUM:
	case VB_MSG_SET_VRING_BASE:
	case VB_MSG_SET_VRING_KICK:
	case VB_MSG_SET_VRING_CALL:
	case VB_MSG_SET_VRING_ERR:
	case VB_MSG_SET_PROTOCOL_FEATURES:
	case VB_MSG_SEND_RARP:
	case VB_MSG_NET_SET_MTU:
	case VB_MSG_SET_SLAVE_REQ_FD:
		qsync_ctl_sync(relay);
		break;
	default:
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/*
 * Every region must lie inside its file: librte_vhost maps what it is told,
 * and an access past the end of a memory file is a SIGBUS for the process.
 */
static bool
vhost_backend_mem_table_sane(struct fwd_relay *relay, int vid)
{
	struct rte_vhost_memory *mem = NULL;
	bool ok = true;

	if (rte_vhost_get_mem_table(vid, &mem) != 0)
		return true; /* nothing mapped */
	for (uint32_t i = 0; i < mem->nregions && ok; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];
		struct stat st;

		if (r->fd >= 0 && fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size < r->mmap_size) {
			VFR_LOG_LIMITED(ERR, "%s: memory region %u maps %" PRIu64 " bytes of a "
					"%lld-byte file: connection closed", relay->cfg->name, i,
					r->mmap_size, (long long)st.st_size);
			ok = false;
		}
	}
	free(mem);
	return ok;
}

/*
 * After librte_vhost applied a message, still under its vring locks, so no
 * worker has used what it set up yet. The guest interrupt fd becomes
 * non-blocking: librte_vhost writes it from the worker (a pipe or an eventfd
 * at its maximum would stall every relay the worker serves). QEMU's event
 * notifiers are non-blocking already.
 */
static enum rte_vhost_msg_result
vhost_backend_post_msg(int vid, void *msg)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);
	const uint8_t *m = msg;
	struct rte_vhost_vring vring;
	uint32_t req;
	uint64_t u64;

	if (relay == NULL)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	memcpy(&req, m, sizeof(req));
	memcpy(&u64, m + VB_MSG_PAYLOAD_OFF, sizeof(u64));
	switch (req) {
	case VB_MSG_SET_VRING_CALL:
	case VB_MSG_SET_VRING_KICK:
		if (rte_vhost_get_vhost_vring(vid, (uint16_t)(u64 & 0xff), &vring) == 0) {
			int fd = req == VB_MSG_SET_VRING_CALL ? vring.callfd : vring.kickfd;
			int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

			if (fl >= 0 && !(fl & O_NONBLOCK))
				fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		}
		/* A new kick fd: a sleeping worker must wait on it, not on the old one. */
		if (req == VB_MSG_SET_VRING_KICK && (u64 & 0xff) / 2 < relay->n_queues)
			fwd_queue_wake_worker(&relay->queues[(u64 & 0xff) / 2]);
		break;
	case VB_MSG_SET_MEM_TABLE:
		if (!vhost_backend_mem_table_sane(relay, vid)) {
			atomic_fetch_add_explicit(&relay->messages_refused, 1,
						  memory_order_relaxed);
			return RTE_VHOST_MSG_RESULT_ERR;
		}
		if (vhost_guard_set(relay->index, relay->cfg->name, vid) != 0)
			VFR_LOG_LIMITED(WARNING, "%s: guest memory not guarded (no slot free)",
					relay->cfg->name);
		break;
	default:
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops vhost_backend_extern_ops = {
	.pre_msg_handle = vhost_backend_pre_msg,
	.post_msg_handle = vhost_backend_post_msg,
};

/*
 * librte_vhost reads and writes a connection with blocking calls on its one
 * event thread, shared by every relay: a front-end that sends half a message,
 * or stops reading replies, would stall all of them (and shutdown). Give the
 * relay's sockets a receive and send timeout: a legitimate front-end writes
 * whole messages and reads its replies. librte_vhost does not say which fd a
 * connection is, so find the sockets bound or connected to the relay's path.
 */
/* Is @p fd's local (or peer's) address the unix socket at @p path? */
static bool
vhost_backend_socket_at(int fd, const char *path, bool peer)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int ret = peer ? getpeername(fd, (struct sockaddr *)&sa, &len)
		       : getsockname(fd, (struct sockaddr *)&sa, &len);

	return ret == 0 && sa.sun_family == AF_UNIX &&
	       strncmp(sa.sun_path, path, sizeof(sa.sun_path)) == 0;
}

/* @return the connected socket at @p path (the connection just accepted), or -1. */
static int
vhost_backend_guard_sockets(const char *path)
{
	int conn = -1;
	const struct timeval tv = {.tv_sec = VB_SOCKET_TIMEOUT_S};
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_un peer;
		socklen_t plen = sizeof(peer);
		struct timeval old;
		socklen_t olen = sizeof(old);
		struct stat st;
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end != '\0' || fd < 0 || fd == dirfd(d) || fstat((int)fd, &st) != 0 ||
		    !S_ISSOCK(st.st_mode))
			continue;
		/* Server mode: ours is the local address; client mode: the peer's. */
		if (!vhost_backend_socket_at((int)fd, path, false) &&
		    !vhost_backend_socket_at((int)fd, path, true))
			continue;
		/*
		 * The new connection: connected (the listening socket has no peer),
		 * and no timeout yet (an older one closing has one from its scan).
		 */
		if (getpeername((int)fd, (struct sockaddr *)&peer, &plen) == 0 &&
		    getsockopt((int)fd, SOL_SOCKET, SO_SNDTIMEO, &old, &olen) == 0 &&
		    old.tv_sec == 0 && old.tv_usec == 0)
			conn = (int)fd;
		setsockopt((int)fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt((int)fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	closedir(d);
	return conn;
}

/*
 * A new connection on the relay's socket. Accept it only if the relay has
 * none: the second front-end on a server socket gets closed right away (by
 * librte_vhost, as we return an error) before it can send any message.
 */
static int
vhost_backend_new_connection(int vid)
{
	char path[PATH_MAX];
	struct fwd_relay *relay;
	int attached;

	if (vid < 0 || vid >= RTE_MAX_VHOST_DEVICE ||
	    rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return -1;
	relay = vhost_backend_relay_by_path(path);
	if (relay == NULL) {
		VFR_LOG_LIMITED(ERR, "connection %d on an unknown socket %s: refused", vid, path);
		return -1;
	}
	attached = atomic_load_explicit(&relay->conn_vid, memory_order_acquire);
	if (attached >= 0) {
		atomic_fetch_add_explicit(&relay->connections_refused, 1, memory_order_relaxed);
		VFR_LOG_LIMITED(WARNING,
				"%s: refused a further vhost-user connection on %s: connection %d "
				"is attached (one front-end per relay)",
				relay->cfg->name, path, attached);
		return -1;
	}
	/* Zero copy and the checks above must see messages before librte_vhost applies them. */
	if (rte_vhost_extern_callback_register(vid, &vhost_backend_extern_ops, NULL) != 0) {
		VFR_LOG(ERR, "%s: cannot hook vhost-user messages; refusing the connection",
			relay->cfg->name);
		return -1;
	}
	relay->conn_fd = vhost_backend_guard_sockets(path);
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		atomic_store_explicit(&relay->queues[i].rx_enabled, false, memory_order_relaxed);
		atomic_store_explicit(&relay->queues[i].tx_enabled, false, memory_order_relaxed);
	}
	relay->conn_ran = false;
	atomic_store_explicit(&vb_conns[vid], relay, memory_order_release);
	atomic_store_explicit(&relay->conn_vid, vid, memory_order_release);
	VFR_LOG(INFO, "%s: connection %d accepted", relay->cfg->name, vid);
	return 0;
}

/* After destroy_device (if the device ran): the connection is gone. */
static void
vhost_backend_destroy_connection(int vid)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);
	int expected = vid;

	if (relay == NULL)
		return;
	/* A front-end that gave up, or sent what librte_vhost refuses before our hooks. */
	if (!relay->conn_ran)
		atomic_fetch_add_explicit(&relay->connections_failed, 1, memory_order_relaxed);
	/*
	 * librte_vhost unmaps guest memory after this; a running device is
	 * destroyed first and still in use until then (destroy_device clears).
	 */
	if (atomic_load_explicit(&relay->vid, memory_order_acquire) == vid)
		relay->guard_closing = true;
	else
		vhost_guard_clear(relay->index, relay->cfg->name);
	atomic_store_explicit(&vb_conns[vid], NULL, memory_order_release);
	relay->conn_fd = -1;
	atomic_compare_exchange_strong_explicit(&relay->conn_vid, &expected, -1,
						memory_order_acq_rel, memory_order_relaxed);
}

/* Called from inside enqueue/dequeue on the worker that caused the interrupt. */
static void
vhost_backend_guest_notified(int vid)
{
	RTE_SET_USED(vid);
	vhost_copy_count_notification();
}

static const struct rte_vhost_device_ops vhost_backend_ops = {
	.new_device = vhost_backend_new_device,
	.destroy_device = vhost_backend_destroy_device,
	.vring_state_changed = vhost_backend_vring_state_changed,
	.features_changed = vhost_backend_features_changed,
	.new_connection = vhost_backend_new_connection,
	.destroy_connection = vhost_backend_destroy_connection,
	.guest_notified = vhost_backend_guest_notified,
};

/*
 * A server socket's directory must not let other users swap the socket for
 * theirs (world-writable without the sticky bit), and an existing file at
 * the path must be ours: someone else's socket is never removed.
 */
static int
vhost_backend_check_path(const char *path, char *err, size_t errlen)
{
	char dir[FWD_SOCKET_PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL)
		slash[slash == dir ? 1 : 0] = '\0';
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "vhost: directory '%s' is not usable: %s, got '%s'", dir,
			 strerror(errno), path);
		return -errno;
	}
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, errlen,
			 "vhost: directory '%s' is writable by every user (mode %04o, no sticky "
			 "bit): any user could replace the socket, got '%s'",
			 dir, (unsigned int)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid() && (st.st_mode & (S_IWUSR | S_IWGRP))) {
		snprintf(err, errlen,
			 "vhost: directory '%s' belongs to uid %u, who could replace the socket, "
			 "got '%s'",
			 dir, (unsigned int)st.st_uid, path);
		return -EPERM;
	}
	if (lstat(path, &st) == 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "vhost: path exists and belongs to uid %u, got '%s'",
			 (unsigned int)st.st_uid, path);
		return -EPERM;
	}
	return 0;
}

/*
 * In server mode a socket file left by a crashed instance makes bind() fail.
 * Remove it only when nobody answers on it; a live one is another instance.
 */
static int
vhost_backend_clear_stale_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;
	int ret;

	ret = vhost_backend_check_path(path, err, errlen);
	if (ret < 0)
		return ret;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "vhost: path exists and is not a socket, got '%s'", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (ret == 0) {
		snprintf(err, errlen, "vhost: another process is listening on the socket, got '%s'",
			 path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "vhost: cannot remove stale socket: %s, got '%s'",
			 strerror(errno), path);
		return -errno;
	}
	return 0;
}

int
vhost_backend_register(struct fwd_relay *relay, char *err, size_t errlen)
{
	const struct fwd_relay_config *cfg = relay->cfg;
	uint64_t flags = RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS;
	uint64_t proto = 0;
	uint64_t disable;
	int ret;

	if (cfg->vhost_mode == FWD_VHOST_CLIENT) {
		/* QEMU is the server; librte_vhost retries the connection every second. */
		flags |= RTE_VHOST_USER_CLIENT;
	} else {
		ret = vhost_backend_clear_stale_socket(cfg->vhost, err, errlen);
		if (ret < 0)
			return ret;
	}

	if (rte_vhost_driver_register(cfg->vhost, flags) != 0) {
		snprintf(err, errlen, "vhost: cannot register the vhost-user socket, got '%s'",
			 cfg->vhost);
		return -EINVAL;
	}
	relay->registered = true;
	relay->conn_fd = -1;
	atomic_store_explicit(&relay->conn_vid, -1, memory_order_relaxed);
	atomic_store_explicit(&vb_relays[relay->index], relay, memory_order_release);

	disable = hw_offload_virtio_features_to_disable(relay->port.tx_offloads);
	/*
	 * Zero copy serves split rings and publishes completions itself; the
	 * copy path loses nothing without in-order or packed rings, so do not
	 * offer what would force the fallback.
	 */
	if (cfg->zero_copy != FWD_ZC_OFF)
		disable |= (1ULL << VIRTIO_F_IN_ORDER) | (1ULL << VIRTIO_F_RING_PACKED);
	if (rte_vhost_driver_get_protocol_features(cfg->vhost, &proto) != 0 ||
	    rte_vhost_driver_set_protocol_features(
		    cfg->vhost, proto & ~(1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)) != 0 ||
	    rte_vhost_driver_disable_features(cfg->vhost, disable) != 0 ||
	    rte_vhost_driver_enable_features(cfg->vhost, 1ULL << VIRTIO_NET_F_MRG_RXBUF) != 0 ||
	    rte_vhost_driver_callback_register(cfg->vhost, &vhost_backend_ops) != 0) {
		snprintf(err, errlen, "vhost: cannot set up features and callbacks, got '%s'",
			 cfg->vhost);
		vhost_backend_unregister(relay);
		return -EINVAL;
	}
	return 0;
}

/* Server mode: the socket as configured, never reachable by others even for a moment. */
static int
vhost_backend_start_server(struct fwd_relay *relay, char *err, size_t errlen)
{
	const struct fwd_relay_config *cfg = relay->cfg;
	/* bind() creates the socket with the umask applied: none but us until chmod. */
	mode_t old = umask(0177);
	int ret = rte_vhost_driver_start(cfg->vhost);

	umask(old);
	if (ret != 0) {
		snprintf(err, errlen, "vhost: cannot listen on the socket, got '%s'", cfg->vhost);
		return -EIO;
	}
	if (chown(cfg->vhost, cfg->socket_uid, cfg->socket_gid) != 0) {
		snprintf(err, errlen, "socket_user: cannot give the socket to %d:%d: %s, got '%s'",
			 (int)cfg->socket_uid, (int)cfg->socket_gid, strerror(errno), cfg->vhost);
		return -errno;
	}
	if (chmod(cfg->vhost, cfg->socket_mode) != 0) {
		snprintf(err, errlen, "socket_mode: cannot set %04o: %s, got '%s'",
			 (unsigned int)cfg->socket_mode, strerror(errno), cfg->vhost);
		return -errno;
	}
	return 0;
}

int
vhost_backend_start(struct fwd_relay *relay, char *err, size_t errlen)
{
	if (relay->cfg->vhost_mode == FWD_VHOST_SERVER) {
		int ret = vhost_backend_start_server(relay, err, errlen);

		if (ret < 0)
			return ret;
	} else if (rte_vhost_driver_start(relay->cfg->vhost) != 0) {
		snprintf(err, errlen, "vhost: cannot start the socket, got '%s'",
			 relay->cfg->vhost);
		return -EIO;
	}
	VFR_LOG(INFO, "%s: %s on %s", relay->cfg->name,
		relay->cfg->vhost_mode == FWD_VHOST_SERVER ? "listening" : "connecting",
		relay->cfg->vhost);
	return 0;
}

void
vhost_backend_unregister(struct fwd_relay *relay)
{
	if (!relay->registered)
		return;
	/* Calls destroy_device for an attached guest, which waits for the workers. */
	if (rte_vhost_driver_unregister(relay->cfg->vhost) != 0)
		VFR_LOG(WARNING, "%s: unregistering %s failed", relay->cfg->name,
			relay->cfg->vhost);
	relay->registered = false;
	atomic_store_explicit(&vb_relays[relay->index], NULL, memory_order_release);
	/* Unregistering destroys connections without destroy_connection: forget them here. */
	for (unsigned int v = 0; v < RTE_MAX_VHOST_DEVICE; v++) {
		struct fwd_relay *expected = relay;

		atomic_compare_exchange_strong_explicit(&vb_conns[v], &expected, NULL,
							memory_order_acq_rel, memory_order_relaxed);
	}
	atomic_store_explicit(&relay->conn_vid, -1, memory_order_release);
	relay->conn_fd = -1;
	if (relay->cfg->vhost_mode == FWD_VHOST_SERVER)
		unlink(relay->cfg->vhost);
}
