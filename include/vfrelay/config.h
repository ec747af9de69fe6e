/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/**
 * @file
 * Instance configuration: the parsed form of the INI file given to
 * `vfrelay --config`. Parsing and validation live in forwarder/fwd_config.c;
 * every other module only reads this struct.
 */

#ifndef VFRELAY_CONFIG_H
#define VFRELAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FWD_MAX_RELAYS 16      /**< [relay ...] sections per instance */
#define FWD_MAX_QUEUES 16      /**< queue pairs per relay */
#define FWD_MAX_LCORES 64      /**< entries in `lcores` */
#define FWD_NAME_MAX 32        /**< instance and relay names, with NUL */
#define FWD_DEVARGS_MAX 128    /**< `vf` device string, with NUL (what telemetry can carry) */
#define FWD_SOCKET_PATH_MAX 108 /**< sizeof(sockaddr_un.sun_path) */
#define FWD_EAL_ARGS_MAX 512   /**< `eal`, with NUL */
#define FWD_MTU_MIN 68
#define FWD_MTU_MAX 9000

/** Exit code for bad configuration or an unusable device (the file names the field). */
#define FWD_EXIT_CONFIG 2

enum fwd_vhost_mode {
	FWD_VHOST_CLIENT = 0, /**< we connect; QEMU is the server; reconnect forever */
	FWD_VHOST_SERVER,     /**< we listen on the socket path */
};

enum fwd_zero_copy {
	FWD_ZC_AUTO = 0, /**< zero copy where safe, copy path otherwise */
	FWD_ZC_ON,       /**< zero copy or refuse to start the queue */
	FWD_ZC_OFF,      /**< copy path only */
};

/** What zero copy may assume of a PMD vfrelay has no facts for (`zero_copy_unknown_vf`). */
enum fwd_zc_unknown_vf {
	FWD_ZC_UNKNOWN_OFF = 0,    /**< nothing: zero copy stays off on it */
	FWD_ZC_UNKNOWN_PORT_STOP,  /**< it stops DMA and frees its RX rings when the port stops */
};

/** What a worker does when it finds no work (`idle`). */
enum fwd_idle_mode {
	FWD_IDLE_EVENT = 0, /**< sleep until a VF interrupt, a guest kick or the control side */
	FWD_IDLE_BACKOFF,   /**< sleep for a doubling interval up to idle_sleep_max_us */
	FWD_IDLE_POLL,      /**< never sleep */
};

/** One `[relay NAME]` section: one vNIC, one VF, one vhost-user socket. */
struct fwd_relay_config {
	char name[FWD_NAME_MAX];
	char vf[FWD_DEVARGS_MAX];           /**< DPDK device string (PCI address or vdev) */
	char vhost[FWD_SOCKET_PATH_MAX];    /**< vhost-user socket path */
	enum fwd_vhost_mode vhost_mode;
	enum fwd_zero_copy zero_copy;
	enum fwd_zc_unknown_vf zero_copy_unknown_vf;
	uint16_t queues;                    /**< queue pairs, 1..FWD_MAX_QUEUES */
	uint16_t mtu;                       /**< FWD_MTU_MIN..FWD_MTU_MAX, default 1500 */
	uint16_t rx_ring_size;              /**< VF RX descriptors per queue, default 1024 */
	uint16_t tx_ring_size;              /**< VF TX descriptors per queue, default 1024 */
	/* Server mode only: who may connect. (uid_t)-1 / (gid_t)-1 leave ours. */
	uid_t socket_uid;                   /**< `socket_user`, name or number */
	gid_t socket_gid;                   /**< `socket_group`, name or number */
	mode_t socket_mode;                 /**< `socket_mode`, octal, default 0660 */
};

/** The `[vfrelay]` section plus every relay. */
struct fwd_config {
	char name[FWD_NAME_MAX];            /**< DPDK --file-prefix and telemetry dir */
	unsigned int lcores[FWD_MAX_LCORES]; /**< [0] = control thread, rest = workers */
	unsigned int n_lcores;              /**< >= 2 */
	char eal[FWD_EAL_ARGS_MAX];         /**< extra EAL arguments, whitespace separated */
	enum fwd_idle_mode idle;            /**< `idle` (or its old spelling `idle_backoff`) */
	uint32_t idle_sleep_max_us;         /**< back-off ceiling, default 1000 */
	uint16_t burst;                     /**< packets per burst, 1..64, default 32 */
	uint16_t tx_retries;                /**< partial VF TX retries before drop, default 4 */
	struct fwd_relay_config relays[FWD_MAX_RELAYS];
	unsigned int n_relays;              /**< >= 1 */
};

/**
 * Parse and validate a configuration file.
 *
 * Checks syntax, every key and value, cross-field rules (unique names,
 * sockets and VFs) and what can be checked without DPDK: the socket's
 * directory exists, the lcores exist in this process's CPU set.
 *
 * @param path  file to read
 * @param cfg   filled on success; zeroed and defaulted first
 * @param err   on failure, one line without trailing newline naming the
 *              file, section and key, e.g.
 *              "vm1.ini: [relay net0] queues: must be 1..16, got '0'"
 * @param errlen size of @p err
 * @return 0, or -EINVAL (bad content) / -ENOENT (file missing) / -errno
 */
int fwd_config_load(const char *path, struct fwd_config *cfg, char *err, size_t errlen);

/** Same as fwd_config_load() on an in-memory INI text; @p origin names it in errors. */
int fwd_config_parse_string(const char *text, const char *origin, struct fwd_config *cfg,
			    char *err, size_t errlen);

/** Set every default; fwd_config_load() calls it first. */
void fwd_config_defaults(struct fwd_config *cfg);

/** "client" / "server" */
const char *fwd_vhost_mode_str(enum fwd_vhost_mode mode);
/** "auto" / "on" / "off" */
const char *fwd_zero_copy_str(enum fwd_zero_copy zc);
/** "event" / "backoff" / "poll" */
const char *fwd_idle_mode_str(enum fwd_idle_mode mode);

#endif /* VFRELAY_CONFIG_H */
