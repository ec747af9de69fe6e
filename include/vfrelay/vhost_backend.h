/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * vhost-user glue (vhost_backend_*: control plane, librte_vhost callbacks)
 * and the copy datapath (vhost_copy_*: worker lcores only).
 *
 * Named vhost_backend_ / vhost_copy_ because librte_vhost 22.11 exports
 * internal vhost_* symbols that would clash.
 */

#ifndef VFRELAY_VHOST_BACKEND_H
#define VFRELAY_VHOST_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct fwd_relay;
struct fwd_queue;
struct rte_mbuf;
struct rte_rcu_qsbr;
struct rte_ring;

/** What the callbacks need from the process (vhost_backend_init()). */
struct vhost_backend_env {
	struct rte_ring *events;       /**< struct fwd_event to the control thread */
	_Atomic uint64_t *events_lost; /**< counts events the full ring dropped */
	struct rte_rcu_qsbr *qsv;      /**< the workers' quiescent states */
	int ctl_fd;                    /**< eventfd the control thread sleeps on (-1: none):
					    written after an event or a zero-copy request is
					    left for it */
};

/**
 * Set what the callbacks use, once, before the first vhost_backend_register().
 * The callbacks find a relay by its connection (vid) in a table this module
 * owns, filled when a connection is accepted; nothing else maps a vid to a relay.
 */
void vhost_backend_init(const struct vhost_backend_env *env);

/**
 * Register @p relay's vhost-user socket (client or server as configured),
 * withhold the virtio features its VF cannot honour and hook the callbacks.
 * The relay's VF must be set up (its offloads decide the features).
 *
 * One front-end per relay: while a connection is attached, a further one
 * (another process on a server socket) is refused and counted in
 * relay->connections_refused; the attached guest is not disturbed.
 * @return 0 or -errno with a one-line reason starting with the config key.
 */
int vhost_backend_register(struct fwd_relay *relay, char *err, size_t errlen);

/** Start listening / connecting. @return 0 or -errno with a reason in @p err. */
int vhost_backend_start(struct fwd_relay *relay, char *err, size_t errlen);

/**
 * Unregister the socket. If a guest is attached librte_vhost calls
 * destroy_device first, which returns only when no worker uses the device.
 */
void vhost_backend_unregister(struct fwd_relay *relay);

/**
 * Guest memory truncated by its front-end (vhost_guard.c): a SIGBUS inside a
 * registered region replaces the region with zero pages and is counted
 * instead of killing the process. init installs the handler (once, before any
 * guest connects); set registers the regions of @p vid's memory table for
 * relay @p relay (replacing its previous ones), clear drops them before
 * librte_vhost unmaps them. Event thread only. @return 0 or -errno.
 */
int vhost_guard_init(void);
int vhost_guard_set(unsigned int relay, const char *name, int vid);
void vhost_guard_clear(unsigned int relay, const char *name);
/** Regions of relay @p relay replaced so far (any thread). */
uint64_t vhost_guard_faults(unsigned int relay);

/** VF RX queue -> guest RX vring 2*qid. @return packets taken from the VF. */
unsigned int vhost_copy_rx_burst(struct fwd_queue *q, int vid);

/**
 * vhost_copy_rx_burst() in three steps, for a worker that must not wait on a
 * vring lock while the control side may be parking it: the room the guest
 * has posted (waits for the vring's lock), take at most that many frames from
 * the VF into @p pkts (FWD_BURST_MAX entries; no vhost call), give them to
 * the guest (waits for the vring's lock; frees the mbufs).
 */
uint16_t vhost_copy_rx_room(struct fwd_queue *q, int vid);
uint16_t vhost_copy_rx_take(struct fwd_queue *q, struct rte_mbuf **pkts, uint16_t room);
void vhost_copy_rx_give(struct fwd_queue *q, int vid, struct rte_mbuf **pkts, uint16_t n);

/**
 * vhost_copy_tx_burst() took nothing: a ring with frames posted that gives
 * none for long is stuck (counted once per episode). Waits for the vring's
 * lock: call it outside a zero-copy busy window.
 */
void vhost_copy_tx_idle(struct fwd_queue *q, int vid);

/**
 * @p q's worker goes to sleep: a TX ring it took nothing from for its whole spin
 * though frames were posted is stuck now (a sleeping worker never polls its way
 * to the run vhost_copy_tx_idle() counts). Worker lcore only.
 */
void vhost_copy_tx_sleep(struct fwd_queue *q);

/** Guest TX vring 2*qid+1 -> VF TX queue. @return packets taken from the guest. */
unsigned int vhost_copy_tx_burst(struct fwd_queue *q, int vid);

/** Count a guest interrupt against the queue this lcore is serving. */
void vhost_copy_count_notification(void);

#endif /* VFRELAY_VHOST_BACKEND_H */
