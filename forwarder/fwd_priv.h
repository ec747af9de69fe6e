/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Forwarder internals shared by main.c, the control thread and the workers. */

#ifndef VFRELAY_FWD_PRIV_H
#define VFRELAY_FWD_PRIV_H

#include <stddef.h>

#include <vfrelay/fwd.h>

/* Empty loop iterations before the first idle sleep (~tens of microseconds). */
#define FWD_IDLE_SPIN_ITERS 1024

#include <vfrelay/log.h>

/** Worker lcore entry point (rte_eal_remote_launch); @p arg is its struct fwd_worker. */
int fwd_worker_main(void *arg);

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
