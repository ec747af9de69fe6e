/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Forwarder internals shared by main.c, the control thread and the workers. */

#ifndef VFRELAY_FWD_PRIV_H
#define VFRELAY_FWD_PRIV_H

#include <stddef.h>

#include <vfrelay/fwd.h>

/* idle = backoff: empty loop iterations before the first sleep (~tens of microseconds). */
#define FWD_IDLE_SPIN_ITERS 1024

/*
 * idle = event: how long a worker keeps polling after its last packet before
 * it arms its wake-ups and sleeps. Long enough for a reply to come back
 * through the same worker without a second wake-up (a ping's answer from the
 * guest), short enough that a worker sharing its CPU with a busy instance
 * takes little from it per wake-up.
 */
#define FWD_EVENT_SPIN_US 50

/* Consecutive wake-ups that found nothing to do before the worker rations them. */
#define FWD_WAKE_STORM_WAKES 32

#include <vfrelay/log.h>

/** Worker lcore entry point (rte_eal_remote_launch); @p arg is its struct fwd_worker. */
int fwd_worker_main(void *arg);

/*
 * idle = event (fwd_wake.c). A queue pair's wake-up sources as its worker last
 * armed them; worker only, but for setup and release by the control thread
 * while no worker runs.
 */
struct fwd_wake_queue {
	uint32_t gen;         /* queue's wake_gen when the kick fds below were taken */
	int vid;              /* device they belong to, -1 */
	int kick_fd[2];       /* our duplicates of the RX and TX vrings' kick fds, -1 */
	int kick_src[2];      /* librte_vhost's fd numbers they duplicate */
	int vf_fd;            /* our duplicate of the VF RX queue's interrupt fd, -1 */
	uint32_t vf_epoch;    /* port epoch it was taken at */
	bool vf_eventfd;      /* it counts interrupts (VFIO): read it to clear */
	bool vf_signals;      /* O_ASYNC: the PMD counts its signals (tap) */
	bool vf_in_set;       /* waited on (else masked in the epoll set) */
	uint8_t armed;        /* FWD_WAKE_ARMED_* */
	int armed_vid;        /* device the guest kicks were armed on */
	uint64_t moved;       /* the queue's packets when last armed */
	uint32_t backoff_us;  /* timer for what cannot wake the worker; doubles while idle */
};

/* Create the worker's epoll set and eventfd (control thread, before it runs). */
int fwd_wake_setup(struct fwd_worker *w, char *err, size_t errlen);

/* Close everything fwd_wake_setup() and the worker opened (worker stopped). */
void fwd_wake_release(struct fwd_worker *w);

/*
 * Arm every wake-up source of the worker's queue pairs (worker, RCU online, no
 * burst window open). Returns 0 when the worker must not sleep now (something
 * changed or is owed), else how long it may sleep at most in microseconds.
 * Whatever returns, fwd_wake_disarm() undoes it.
 */
uint32_t fwd_wake_arm(struct fwd_worker *w);

/*
 * Sleep until a source fires or @p timeout_us passes; RCU offline meanwhile.
 * @p storm: the last wake-ups found nothing to do: wait out a back-off first.
 * @return true if a queue's VF interrupt or guest kick fired.
 */
bool fwd_wake_wait(struct fwd_worker *w, uint32_t timeout_us, bool storm);

/* After fwd_wake_arm(): suppress guest kicks and VF interrupts again (RCU online). */
void fwd_wake_disarm(struct fwd_worker *w);

/**
 * Build everything the config describes, after rte_eal_init(): pools, VF
 * ports, queue assignment, vhost sockets. On failure everything built so
 * far is torn down and @p err names the section and key.
 */
int fwd_ctl_setup(struct fwd_instance *inst, const struct fwd_config *cfg, char *err,
		  size_t errlen);

/** Launch workers, then serve events until SIGINT/SIGTERM. */
int fwd_ctl_run(struct fwd_instance *inst);

/** Stop vhost sockets, workers and ports, in that order. Idempotent. */
void fwd_ctl_teardown(struct fwd_instance *inst);

/**
 * Tell the service manager (sd_notify protocol, $NOTIFY_SOCKET; nothing
 * without it), e.g. fwd_notify("READY=1\nSTATUS=...").
 */
void fwd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Register the /vfrelay/ telemetry commands. */
int fwd_telemetry_register(void);

/** Serve @p inst over telemetry (once it is fully set up). */
void fwd_telemetry_attach(struct fwd_instance *inst);

/** Stop serving the instance; returns once no handler reads it any more. */
void fwd_telemetry_detach(void);

/** Relay named @p name, or NULL. */
struct fwd_relay *fwd_instance_relay_by_name(struct fwd_instance *inst, const char *name);

#endif /* VFRELAY_FWD_PRIV_H */
