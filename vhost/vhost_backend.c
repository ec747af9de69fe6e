/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * vhost-user sockets and librte_vhost callbacks.
 *
 * The callbacks run on librte_vhost's event thread. They take none of our
 * locks (a lock shared with code that calls into librte_vhost is how OVS got
 * its ABBA deadlock) and do only lock-free publication: store the device id
 * into the relay's queue pairs, or unpublish it and wait with RCU until every
 * worker has passed a quiescent state. Everything else (logging, operator
 * state) goes to the control thread through a ring.
 */

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_log.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_vhost.h>

#include <vfrelay/fwd.h>
#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

RTE_LOG_REGISTER_DEFAULT(vhost_backend_logtype, INFO);
#define VB_LOG(level, ...) rte_log(RTE_LOG_##level, vhost_backend_logtype, "vhost: " __VA_ARGS__)

static struct fwd_relay *
vhost_backend_relay_of(int vid)
{
	char path[PATH_MAX];

	if (fwd_current == NULL || rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return NULL;
	return fwd_instance_relay_by_path(fwd_current, path);
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

	if (rte_ring_mp_enqueue_elem(fwd_current->events, &ev, sizeof(ev)) != 0)
		atomic_fetch_add_explicit(&fwd_current->events_lost, 1, memory_order_relaxed);
}

static int
vhost_backend_new_device(int vid)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);
	uint64_t features = 0;
	uint16_t nr_vring;

	if (relay == NULL) {
		VB_LOG(ERR, "new device %d on an unknown socket\n", vid);
		return -1;
	}
	if (rte_vhost_get_negotiated_features(vid, &features) < 0) {
		VB_LOG(ERR, "%s: cannot read negotiated features\n", relay->cfg->name);
		return -1;
	}
	nr_vring = rte_vhost_get_vring_num(vid);

	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *q = &relay->queues[i];

		/* A guest with fewer queue pairs than configured leaves the rest idle. */
		if (2u * i + 1 >= nr_vring)
			break;
		q->guest_csum = features & (1ULL << VIRTIO_NET_F_GUEST_CSUM);
		/* We poll: the guest need not kick us, saving it a VM exit per burst. */
		rte_vhost_enable_guest_notification(vid, 2 * i, 0);
		rte_vhost_enable_guest_notification(vid, 2 * i + 1, 0);
		atomic_store_explicit(&q->vid, vid, memory_order_release);
		/* The control thread tries zero copy; until then the copy path serves. */
		if (q->zc != NULL)
			atomic_store_explicit(&q->zc_rebind, true, memory_order_release);
	}
	atomic_store_explicit(&relay->features, features, memory_order_relaxed);
	atomic_store_explicit(&relay->vid, vid, memory_order_release);
	atomic_fetch_add_explicit(&relay->connects, 1, memory_order_relaxed);
	vhost_backend_post(relay, FWD_EV_GUEST_UP, vid, nr_vring, 0, features);
	return 0;
}

static void
vhost_backend_destroy_device(int vid)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);

	if (relay == NULL)
		return;
	/* The VF must stop writing into guest buffers before they go away. */
	qsync_ctl_quiesce_relay(relay, QSYNC_FB_NONE, false);
	for (uint16_t i = 0; i < relay->n_queues; i++) {
		struct fwd_queue *q = &relay->queues[i];

		atomic_store_explicit(&q->vid, -1, memory_order_release);
		atomic_store_explicit(&q->zc_rebind, false, memory_order_relaxed);
		atomic_store_explicit(&q->rx_enabled, false, memory_order_relaxed);
		atomic_store_explicit(&q->tx_enabled, false, memory_order_relaxed);
	}
	atomic_store_explicit(&relay->vid, -1, memory_order_release);
	/*
	 * librte_vhost frees the device and unmaps guest memory right after we
	 * return: wait until no worker can still be inside a burst on it.
	 * Workers never wait on us, so this cannot deadlock.
	 */
	rte_rcu_qsbr_synchronize(fwd_current->qsv, RTE_QSBR_THRID_INVALID);
	atomic_fetch_add_explicit(&relay->disconnects, 1, memory_order_relaxed);
	vhost_backend_post(relay, FWD_EV_GUEST_DOWN, vid, 0, 0, 0);
}

/*
 * Runs with every virtqueue lock held: only flag stores here, never a wait
 * on a worker (it may be spinning on one of those locks in enqueue).
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
			/* Waits only for a zero-copy burst, which takes no vhost lock. */
			if (!enable)
				qsync_ctl_quiesce(q, QSYNC_FB_NONE, true);
			atomic_store_explicit(&q->rx_enabled, enable != 0, memory_order_relaxed);
			if (enable && q->zc != NULL)
				atomic_store_explicit(&q->zc_rebind, true, memory_order_release);
		}
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

/* Zero copy must hear of SET_MEM_TABLE & co before librte_vhost applies them. */
static int
vhost_backend_new_connection(int vid)
{
	struct fwd_relay *relay = vhost_backend_relay_of(vid);

	if (relay == NULL)
		return 0;
	if (qsync_ctl_connection(relay, vid) != 0) {
		VB_LOG(ERR, "%s: cannot hook vhost-user messages; refusing the connection\n",
		       relay->cfg->name);
		return -1;
	}
	return 0;
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
	.guest_notified = vhost_backend_guest_notified,
};

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

	disable = hw_offload_virtio_features_to_disable(relay->port.tx_offloads);
	/*
	 * Zero copy serves split rings and publishes completions itself; the
	 * copy path loses nothing without in-order or packed rings, so do not
	 * offer what would force the fallback.
	 */
	if (cfg->zero_copy != FWD_ZC_OFF)
		disable |= (1ULL << VIRTIO_F_IN_ORDER) | (1ULL << VIRTIO_F_RING_PACKED);
	if (rte_vhost_driver_disable_features(cfg->vhost, disable) != 0 ||
	    rte_vhost_driver_enable_features(cfg->vhost, 1ULL << VIRTIO_NET_F_MRG_RXBUF) != 0 ||
	    rte_vhost_driver_callback_register(cfg->vhost, &vhost_backend_ops) != 0) {
		snprintf(err, errlen, "vhost: cannot set up features and callbacks, got '%s'",
			 cfg->vhost);
		vhost_backend_unregister(relay);
		return -EINVAL;
	}
	return 0;
}

int
vhost_backend_start(struct fwd_relay *relay, char *err, size_t errlen)
{
	if (rte_vhost_driver_start(relay->cfg->vhost) != 0) {
		snprintf(err, errlen, "vhost: cannot %s the socket, got '%s'",
			 relay->cfg->vhost_mode == FWD_VHOST_SERVER ? "listen on" : "start",
			 relay->cfg->vhost);
		return -EIO;
	}
	VB_LOG(INFO, "%s: %s on %s\n", relay->cfg->name,
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
		VB_LOG(WARNING, "%s: unregistering %s failed\n", relay->cfg->name,
		       relay->cfg->vhost);
	relay->registered = false;
	if (relay->cfg->vhost_mode == FWD_VHOST_SERVER)
		unlink(relay->cfg->vhost);
}
