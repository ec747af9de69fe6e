/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * idle = event: what an idle worker sleeps on (worker lcore only, but for
 * setup and release). Every queue pair of the worker is in one epoll set:
 *
 *  - the VF RX queue's interrupt fd, armed with rte_eth_dev_rx_intr_enable()
 *    while the guest can take what the VF brings;
 *  - the guest's kick fds: the TX vring's always, the RX vring's while the
 *    worker waits for the guest to post buffers; guest notifications are
 *    enabled only while the worker sleeps (librte_vhost's call, or qsync's
 *    for a ring zero copy serves, whose librte_vhost indices are stale);
 *  - the worker's own eventfd, written by whoever changes what the worker
 *    armed from (fwd_queue_wake_worker()), by a worker handing this one
 *    redirected frames, and at stop.
 *
 * Races are closed the standard way: arm, poll once more, then sleep; disarm
 * on waking. Every fd in the set is our own duplicate, so librte_vhost or a
 * PMD closing and reusing theirs never leaves a stale number in the set; a
 * changed wake_gen (kick fds) or port epoch (VF fds) makes the worker take
 * them again. Edge-triggered: a fd that stays readable (a tap queue holding
 * frames, a kick pipe a hostile front-end closed) wakes the worker once, not
 * forever.
 *
 * What cannot wake the worker (a PMD without RX interrupts, a kick fd that
 * cannot be waited on, a full redirection ring) is polled on a timer that
 * doubles up to idle_sleep_max_us while the queue stays idle.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_atomic.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_vhost.h>

#include <vfrelay/barrier.h>
#include <vfrelay/qsync.h>
#include <vfrelay/vhost_backend.h>

#include "fwd_priv.h"

/* epoll data: queue index (in the worker) << 8 | source. */
enum {
	FWD_WAKE_SRC_CTL = 0,
	FWD_WAKE_SRC_VF,
	FWD_WAKE_SRC_KICK, /* + 0: RX vring, + 1: TX vring */
};
#define FWD_WAKE_DATA(i, src) (((uint64_t)(i) << 8) | (uint64_t)(src))

/* What fwd_wake_arm() armed for a queue, for fwd_wake_disarm(). */
#define FWD_WAKE_ARMED_TX_KICK	  0x01u /* TX vring kicks, through librte_vhost */
#define FWD_WAKE_ARMED_RX_KICK	  0x02u /* RX vring kicks, through librte_vhost */
#define FWD_WAKE_ARMED_RX_KICK_ZC 0x04u /* RX vring kicks, through qsync (bound ring) */
#define FWD_WAKE_ARMED_VF	  0x08u /* VF RX interrupt enabled */
#define FWD_WAKE_FIRED_VF	  0x10u /* ...and it fired */

/*
 * The longest sleep with nothing to time: a wake-up lost to a PMD whose
 * interrupt does not fire as it should costs at most this, and shows as a
 * timer wake-up, which an idle event-mode worker otherwise never counts.
 * Long, so that tests see a lost wake-up as the failure it is.
 */
#define FWD_WAKE_SAFETY_US 10000000u

#define FWD_WAKE_EVENTS 32

/* epoll_pwait2() needs Linux 5.11; older kernels get ppoll() on the epoll fd. */
static bool fwd_wake_no_pwait2;

int
fwd_wake_setup(struct fwd_worker *w, char *err, size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
				 .data.u64 = FWD_WAKE_DATA(0, FWD_WAKE_SRC_CTL)};

	w->epfd = -1;
	w->waker.fd = -1;
	atomic_init(&w->waker.sleeping, false);
	w->wake = calloc(RTE_MAX(w->n_queues, 1u), sizeof(*w->wake));
	if (w->wake == NULL) {
		snprintf(err, errlen, "[vfrelay] idle: out of memory");
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < w->n_queues; i++) {
		struct fwd_wake_queue *wq = &w->wake[i];

		wq->vid = -1;
		wq->armed_vid = -1;
		wq->vf_fd = -1;
		for (int r = 0; r < 2; r++) {
			wq->kick_fd[r] = -1;
			wq->kick_src[r] = -1;
		}
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->waker.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->waker.fd < 0 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->waker.fd, &ev) != 0) {
		snprintf(err, errlen, "[vfrelay] idle: cannot set up wake-ups for lcore %u: %s",
			 w->lcore, strerror(errno));
		return -errno;
	}
	return 0;
}

static void
fwd_wake_drop_fd(struct fwd_worker *w, int *fd)
{
	if (*fd < 0)
		return;
	/* Out of the set first: it stays in it while librte_vhost's or the PMD's fd lives. */
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

void
fwd_wake_release(struct fwd_worker *w)
{
	for (unsigned int i = 0; w->wake != NULL && i < w->n_queues; i++) {
		fwd_wake_drop_fd(w, &w->wake[i].vf_fd);
		for (int r = 0; r < 2; r++)
			fwd_wake_drop_fd(w, &w->wake[i].kick_fd[r]);
	}
	free(w->wake);
	w->wake = NULL;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->waker.fd >= 0)
		close(w->waker.fd);
	w->epfd = -1;
	w->waker.fd = -1;
}

/* Our own duplicate of @p src, waited on edge-triggered; -1 if it cannot be waited on. */
static int
fwd_wake_add_dup(struct fwd_worker *w, int src, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = data};
	int fd;

	if (src < 0)
		return -1;
	fd = fcntl(src, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A regular file or a directory (a hostile front-end's "kick fd"): EPERM. */
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* An eventfd counts (VFIO interrupts); anything else (a tap queue) holds data we must not eat. */
static bool
fwd_wake_is_eventfd(int fd)
{
	char path[32];
	char link[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

/*
 * A PMD that learns of frames from the fd's O_ASYNC signal (tap: its rx_burst
 * reads nothing until its signal handler ran since the last burst) must have
 * that signal run before the woken worker polls: the kernel sends it before
 * it wakes epoll, so while the worker sleeps the signal goes to the worker
 * thread itself, not to the process (where a thread on a busy CPU might take
 * it late, and the frame would wait for the next wake-up). While it polls,
 * the process takes them again as before: a signal per frame is not for the
 * thread that forwards them.
 */
static void
fwd_wake_own_signals(int fd, bool worker)
{
	struct f_owner_ex owner = {.type = worker ? F_OWNER_TID : F_OWNER_PID,
				   .pid = worker ? gettid() : getpid()};

	fcntl(fd, F_SETOWN_EX, &owner);
}

static bool
fwd_wake_signals(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_ASYNC);
}

/* Take the vrings' kick fds again if the device or its fds changed (RCU online). */
static void
fwd_wake_refresh_kicks(struct fwd_worker *w, unsigned int i, int vid, uint32_t gen)
{
	struct fwd_queue *q = w->queues[i];
	struct fwd_wake_queue *wq = &w->wake[i];
	bool all = wq->gen != gen || wq->vid != vid;

	for (int r = 0; r < 2; r++) {
		struct rte_vhost_vring vr;
		int src = -1;

		if (vid >= 0 &&
		    rte_vhost_get_vhost_vring(vid, (uint16_t)(q->qid * 2 + r), &vr) == 0)
			src = vr.kickfd;
		if (!all && src == wq->kick_src[r] && (src < 0) == (wq->kick_fd[r] < 0))
			continue;
		fwd_wake_drop_fd(w, &wq->kick_fd[r]);
		wq->kick_src[r] = src;
		wq->kick_fd[r] = fwd_wake_add_dup(w, src, FWD_WAKE_DATA(i, FWD_WAKE_SRC_KICK + r));
		if (src >= 0 && wq->kick_fd[r] < 0)
			VFR_LOG_LIMITED(WARNING,
					"%s q%u: the guest's %s kick fd cannot be waited "
					"on (%s): that ring is polled on a timer when idle",
					q->relay->cfg->name, q->qid, r ? "TX" : "RX",
					strerror(errno));
	}
	wq->gen = gen;
	wq->vid = vid;
}

/* Mask or unmask the VF fd in the set (a masked edge-triggered fd reports nothing). */
static void
fwd_wake_vf_in_set(struct fwd_worker *w, unsigned int i, bool in)
{
	struct fwd_wake_queue *wq = &w->wake[i];
	struct epoll_event ev = {.events = EPOLLET | (in ? EPOLLIN : 0),
				 .data.u64 = FWD_WAKE_DATA(i, FWD_WAKE_SRC_VF)};

	if (wq->vf_fd < 0 || wq->vf_in_set == in)
		return;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, wq->vf_fd, &ev) == 0)
		wq->vf_in_set = in;
}

/*
 * Arm the VF RX queue's interrupt (for a zero-copy queue inside its window,
 * RX allowed: the port runs). @return false if the VF cannot wake us.
 */
static bool
fwd_wake_arm_vf(struct fwd_worker *w, unsigned int i, bool want)
{
	struct fwd_queue *q = w->queues[i];
	struct fwd_wake_queue *wq = &w->wake[i];
	const struct hw_port *port = &q->relay->port;
	uint32_t epoch;
	int ret;

	if (!want) {
		fwd_wake_vf_in_set(w, i, false);
		return true;
	}
	if (!port->rx_intr)
		return false;
	epoch = atomic_load_explicit(&port->epoch, memory_order_acquire);
	if (wq->vf_fd < 0 || wq->vf_epoch != epoch) {
		/* The port stopped or a queue was set up again since: its fd may be new. */
		fwd_wake_drop_fd(w, &wq->vf_fd);
		wq->vf_fd =
			fwd_wake_add_dup(w, rte_eth_dev_rx_intr_ctl_q_get_fd(q->port_id, q->qid),
					 FWD_WAKE_DATA(i, FWD_WAKE_SRC_VF));
		wq->vf_epoch = epoch;
		wq->vf_in_set = wq->vf_fd >= 0;
		wq->vf_eventfd = wq->vf_fd >= 0 && fwd_wake_is_eventfd(wq->vf_fd);
		wq->vf_signals = wq->vf_fd >= 0 && fwd_wake_signals(wq->vf_fd);
	}
	if (wq->vf_fd < 0)
		return false;
	fwd_wake_vf_in_set(w, i, true);
	/* tap has no enable op: its fd is readable whenever frames wait. */
	ret = rte_eth_dev_rx_intr_enable(q->port_id, q->qid);
	if (ret != 0 && ret != -ENOTSUP)
		return false;
	if (wq->vf_signals)
		fwd_wake_own_signals(wq->vf_fd, true);
	wq->armed |= FWD_WAKE_ARMED_VF;
	return true;
}

/* A guest kick on vring @p r (0 RX, 1 TX) of queue @p i, through librte_vhost. */
static bool
fwd_wake_arm_kick(struct fwd_worker *w, unsigned int i, int vid, int r)
{
	struct fwd_queue *q = w->queues[i];

	if (w->wake[i].kick_fd[r] < 0 ||
	    rte_vhost_enable_guest_notification(vid, (uint16_t)(q->qid * 2 + r), 1) != 0)
		return false;
	w->wake[i].armed |= r ? FWD_WAKE_ARMED_TX_KICK : FWD_WAKE_ARMED_RX_KICK;
	return true;
}

/*
 * Arm what can wake the worker for queue pair @p i. @return 0: do not sleep
 * now; UINT32_MAX: nothing to time; else the timer it needs, in microseconds.
 */
static uint32_t
fwd_wake_arm_queue(struct fwd_worker *w, unsigned int i)
{
	struct fwd_queue *q = w->queues[i];
	struct fwd_wake_queue *wq = &w->wake[i];
	uint32_t gen = atomic_load_explicit(&q->wake_gen, memory_order_acquire);
	int vid = atomic_load_explicit(&q->vid, memory_order_acquire);
	int redirect = atomic_load_explicit(&q->rx_redirect, memory_order_relaxed);
	uint32_t req = q->zc != NULL ? atomic_load_explicit(&q->zc_req, memory_order_acquire)
				     : FWD_ZC_REQ_COPY;
	bool rx_on = vid >= 0 && atomic_load_explicit(&q->rx_enabled, memory_order_relaxed);
	bool tx_on = vid >= 0 && atomic_load_explicit(&q->tx_enabled, memory_order_relaxed) &&
		     req != FWD_ZC_REQ_PARK_ALL;
	uint64_t moved = q->stats.rx_packets + q->stats.tx_packets;
	bool event = q->relay->port.rx_intr;
	bool timer = false;
	bool want_vf = false;
	bool again = false;
	int mode;

	wq->armed = 0;
	wq->armed_vid = vid;
	/* Zero copy asked for the copy path (qsync, while forwarding): tell the control side. */
	if (q->zc != NULL &&
	    atomic_load_explicit(&q->zc_want_copy, memory_order_relaxed) != QSYNC_FB_NONE)
		fwd_waker_wake(w->ctl);
	/* The timer of a queue that moved packets since the last sleep starts over. */
	if (moved != wq->moved) {
		wq->moved = moved;
		wq->backoff_us = 0;
	}
	fwd_wake_refresh_kicks(w, i, vid, gen);
	if (tx_on && !fwd_wake_arm_kick(w, i, vid, 1)) {
		timer = true;
		event = false;
	}
	if (rx_on && req == FWD_ZC_REQ_COPY) {
		uint16_t room = vhost_copy_rx_room(q, vid);

		/* No buffers: the guest's kick says they came; frames meanwhile wait in the VF. */
		if (room == 0) {
			if (fwd_wake_arm_kick(w, i, vid, 0)) {
				rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
				room = vhost_copy_rx_room(q, vid);
			} else {
				timer = true;
				event = false;
			}
		}
		want_vf = room != 0;
	}
	if (redirect >= 0 && req == FWD_ZC_REQ_COPY) {
		/* This ring is off: what the VF queue gets goes to another queue's ring. */
		if (rte_ring_free_count(q->relay->queues[redirect].redirect_in) >= q->burst)
			want_vf = true;
		else
			timer = true;
	}

	if (q->zc != NULL) {
		/* The zero-copy window: the control side may stop the port outside it. */
		atomic_store_explicit(&q->zc_busy, 1, memory_order_relaxed);
		vfr_light_barrier();
		if (atomic_load_explicit(&q->zc_req, memory_order_acquire) != req) {
			again = true; /* changed meanwhile: look again */
		} else if (req == FWD_ZC_REQ_ZERO_COPY && vid >= 0) {
			if (qsync_rx_notify_owed(q)) {
				again = true;
			} else if (qsync_rx_room(q) == 0) {
				if (wq->kick_fd[0] < 0) {
					timer = true;
					event = false;
				} else {
					wq->armed |= FWD_WAKE_ARMED_RX_KICK_ZC;
					again = qsync_rx_guest_kicks(q, true) != 0;
				}
			}
			/* A NIC may hold guest buffers of its own to fill. */
			want_vf = true;
		}
		if (req != FWD_ZC_REQ_COPY && req != FWD_ZC_REQ_ZERO_COPY) {
			/* Parked: nobody takes the VF's frames; they must not wake us either (the
			 * control side wakes us when it is done). Only the set changes. */
			fwd_wake_vf_in_set(w, i, false);
		} else if (!again && !fwd_wake_arm_vf(w, i, want_vf)) {
			timer = true;
			event = false;
		}
		atomic_store_explicit(&q->zc_busy, 0, memory_order_release);
	} else if (!fwd_wake_arm_vf(w, i, want_vf)) {
		timer = true;
		event = false;
	}

	mode = event ? FWD_IDLE_EVENT : FWD_IDLE_BACKOFF;
	if (atomic_load_explicit(&q->wake_mode, memory_order_relaxed) != mode)
		atomic_store_explicit(&q->wake_mode, mode, memory_order_relaxed);
	if (again)
		return 0;
	if (!timer)
		return UINT32_MAX;
	wq->backoff_us =
		wq->backoff_us == 0 ? 1 : RTE_MIN(wq->backoff_us * 2, w->idle_sleep_max_us);
	return wq->backoff_us;
}

uint32_t
fwd_wake_arm(struct fwd_worker *w)
{
	uint32_t timeout = FWD_WAKE_SAFETY_US;

	atomic_store_explicit(&w->waker.sleeping, true, memory_order_relaxed);
	/* Workers handing us frames check `sleeping` after their enqueue; we look after this. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < w->n_queues; i++) {
		uint32_t t = fwd_wake_arm_queue(w, i);

		if (t == 0)
			return 0;
		timeout = RTE_MIN(timeout, t);
	}
	for (unsigned int i = 0; i < w->n_queues; i++)
		vhost_copy_tx_sleep(w->queues[i]);
	/* Every flag and interrupt enable before the caller's last poll. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	return timeout;
}

static int
fwd_wake_epoll(int epfd, struct epoll_event *ev, int n, uint32_t timeout_us)
{
	struct timespec ts = {.tv_sec = timeout_us / 1000000,
			      .tv_nsec = (long)(timeout_us % 1000000) * 1000};
	struct pollfd pfd = {.fd = epfd, .events = POLLIN};
	int ret;

	if (!fwd_wake_no_pwait2) {
		ret = epoll_pwait2(epfd, ev, n, &ts, NULL);
		if (ret >= 0 || errno != ENOSYS)
			return ret;
		fwd_wake_no_pwait2 = true;
	}
	ret = ppoll(&pfd, 1, &ts, NULL);
	return ret <= 0 ? ret : epoll_wait(epfd, ev, n, 0);
}

bool
fwd_wake_wait(struct fwd_worker *w, uint32_t timeout_us, bool storm)
{
	struct fwd_lcore_stats *st = &w->stats;
	struct epoll_event ev[FWD_WAKE_EVENTS];
	bool vf = false, kick = false, ctl = false;
	int n;

	st->sleeps++;
	rte_rcu_qsbr_thread_offline(w->qsv, w->rcu_id);
	if (storm) {
		/* Something keeps waking us for nothing (a guest kicking an empty ring): ration. */
		w->storm_us = w->storm_us == 0 ? 1 : RTE_MIN(w->storm_us * 2, w->idle_sleep_max_us);
		rte_delay_us_sleep(w->storm_us);
	} else {
		w->storm_us = 0;
	}
	n = fwd_wake_epoll(w->epfd, ev, FWD_WAKE_EVENTS, timeout_us);
	rte_rcu_qsbr_thread_online(w->qsv, w->rcu_id);

	st->wakeups++;
	if (n == 0)
		st->wake_timer++;
	for (int k = 0; k < n; k++) {
		unsigned int src = (unsigned int)(ev[k].data.u64 & 0xff);
		unsigned int i = (unsigned int)(ev[k].data.u64 >> 8);

		if (src == FWD_WAKE_SRC_CTL) {
			uint64_t cnt;

			ctl = true;
			(void)!read(w->waker.fd, &cnt, sizeof(cnt));
		} else if (src == FWD_WAKE_SRC_VF && i < w->n_queues) {
			vf = true;
			w->wake[i].armed |= FWD_WAKE_FIRED_VF;
		} else {
			kick = true;
		}
	}
	st->wake_vf += vf;
	st->wake_kick += kick;
	st->wake_ctl += ctl;
	return vf || kick;
}

static void
fwd_wake_disarm_vf(struct fwd_worker *w, unsigned int i)
{
	struct fwd_queue *q = w->queues[i];
	struct fwd_wake_queue *wq = &w->wake[i];

	rte_eth_dev_rx_intr_disable(q->port_id, q->qid);
	if (wq->vf_signals)
		fwd_wake_own_signals(wq->vf_fd, false);
	/* VFIO counts interrupts in an eventfd: clear it, as DPDK's own epoll path does. */
	if ((wq->armed & FWD_WAKE_FIRED_VF) && wq->vf_eventfd) {
		uint64_t cnt;

		(void)!read(wq->vf_fd, &cnt, sizeof(cnt));
	}
}

static void
fwd_wake_disarm_queue(struct fwd_worker *w, unsigned int i)
{
	struct fwd_queue *q = w->queues[i];
	struct fwd_wake_queue *wq = &w->wake[i];
	int vid = atomic_load_explicit(&q->vid, memory_order_acquire);
	/* A device destroyed while we slept is gone; one with the same number needs nothing. */
	bool same = vid >= 0 && vid == wq->armed_vid;
	uint8_t a = wq->armed;

	if (a == 0)
		return;
	if (q->zc != NULL && (a & (FWD_WAKE_ARMED_VF | FWD_WAKE_ARMED_RX_KICK_ZC))) {
		uint32_t req;

		atomic_store_explicit(&q->zc_busy, 1, memory_order_relaxed);
		vfr_light_barrier();
		req = atomic_load_explicit(&q->zc_req, memory_order_acquire);
		if (req == FWD_ZC_REQ_ZERO_COPY && (a & FWD_WAKE_ARMED_RX_KICK_ZC)) {
			qsync_rx_guest_kicks(q, false);
			a &= ~FWD_WAKE_ARMED_RX_KICK_ZC;
		}
		/* Parked: the port may be stopped; it comes back with interrupts reset. */
		if ((a & FWD_WAKE_ARMED_VF) &&
		    (req == FWD_ZC_REQ_COPY || req == FWD_ZC_REQ_ZERO_COPY))
			fwd_wake_disarm_vf(w, i);
		atomic_store_explicit(&q->zc_busy, 0, memory_order_release);
	} else if (a & FWD_WAKE_ARMED_VF) {
		fwd_wake_disarm_vf(w, i);
	}
	/*
	 * Outside the window (these take the vring lock). A ring qsync no longer
	 * serves is librte_vhost's again; suppressing never needs its indices.
	 */
	if (same && (a & (FWD_WAKE_ARMED_RX_KICK | FWD_WAKE_ARMED_RX_KICK_ZC)))
		rte_vhost_enable_guest_notification(vid, q->qid * 2, 0);
	if (same && (a & FWD_WAKE_ARMED_TX_KICK))
		rte_vhost_enable_guest_notification(vid, q->qid * 2 + 1, 0);
	wq->armed = 0;
}

void
fwd_wake_disarm(struct fwd_worker *w)
{
	for (unsigned int i = 0; i < w->n_queues; i++)
		fwd_wake_disarm_queue(w, i);
	atomic_store_explicit(&w->waker.sleeping, false, memory_order_relaxed);
}
