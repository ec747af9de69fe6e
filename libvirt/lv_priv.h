/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The libvirt glue (vfrelay-hook, vfrelay-reconcile): host config, domain XML, the VF
 * pool, instance configs, real-VF setup and starting/stopping instances. No DPDK and no
 * libvirt API here: the hook must never call back into libvirt, so only
 * lv_reconcile_main.c links libvirt.
 *
 * Every function returns 0 or -errno and, on failure, writes one line without a newline
 * into @err that names what is wrong (file and key, or domain and interface).
 */

#ifndef VFRELAY_LV_PRIV_H
#define VFRELAY_LV_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <vfrelay/config.h>

/** XML namespace of the domain metadata: <vfrelay:relay mac='..' vf='..' zero_copy='..'/>. */
#define LV_NS_URI "https://vfrelay.dev/xmlns/libvirt/1"

#define LV_POOL_MAX	     256	/**< VFs in vf_pool */
#define LV_DOMAIN_NAME_MAX   256	/**< domain names kept for messages, with NUL */
#define LV_UUID_LEN	     36		/**< "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define LV_MAC_LEN	     17		/**< "52:54:00:12:34:56" */
#define LV_XML_MAX	     (8u << 20) /**< largest domain XML read from stdin */
#define LV_ERR_MAX	     768	/**< size of every error buffer */
#define LV_VALUE_MAX	     64		/**< host.conf instance defaults, as text */
#define LV_LCORES_MAX	     256	/**< host.conf lcores, as text */
#define LV_INSTANCE_TEXT_MAX 16384	/**< a rendered instance config */

#define LV_EXIT_CONFIG FWD_EXIT_CONFIG /**< bad host.conf or domain XML */
#define LV_EXIT_FAIL   1	       /**< anything else */

/** Program name in messages and in hook.log ("vfrelay-hook", "vfrelay-reconcile"). */
extern const char *lv_prog;

/* -- paths ------------------------------------------------------------------------------ */

/**
 * Where things are. Fixed at build time (meson options); the VFRELAY_HOST_CONF,
 * VFRELAY_RUN_DIR, VFRELAY_LOG_DIR, VFRELAY_BIN and VFRELAY_SYSFS environment variables
 * override them for runs by hand and tests (libvirt passes hooks no such variables).
 */
struct lv_paths {
	char host_conf[PATH_MAX];
	char run_dir[PATH_MAX]; /**< instance configs, pidfiles, claims/ */
	char log_dir[PATH_MAX]; /**< <instance>.log of spawned instances, hook.log */
	char vfrelay[PATH_MAX]; /**< the daemon */
	char sysfs[PATH_MAX];	/**< "/sys" */
};

void lv_paths_init(struct lv_paths *p);

/** "<run_dir>/<instance><suffix>" (suffix ".ini", ".pid", ".notify"). */
int lv_path_instance(const struct lv_paths *p, const char *instance, const char *suffix, char *buf,
		     size_t len);

/** Append one line to <log_dir>/hook.log (best effort: never fails the caller). */
void lv_log(const struct lv_paths *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** printf into @err (truncating); returns @rc so callers can `return lv_err(...)`. */
int lv_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/** Control characters (a newline in a hostile value) become '?': messages stay one line. */
void lv_one_line(char *s);

/** mkdir -p with @mode for every missing component. */
int lv_mkdirs(const char *path, mode_t mode);

/** Write @text to @path through a temporary file and rename(): readers see old or new. */
int lv_write_atomic(const char *path, const char *text, mode_t mode, char *err, size_t errlen);

/* -- host.conf -------------------------------------------------------------------------- */

enum lv_launcher {
	LV_LAUNCH_AUTO = 0, /**< systemd when it is PID 1, else direct */
	LV_LAUNCH_SYSTEMD,  /**< systemctl start vfrelay@<instance> */
	LV_LAUNCH_DIRECT,   /**< the hook spawns vfrelay itself */
};

/** Instance defaults: [host] keys copied into every instance config. */
enum lv_default {
	LV_DEF_IDLE = 0, /* [vfrelay] */
	LV_DEF_IDLE_BACKOFF,
	LV_DEF_IDLE_SLEEP_MAX_US,
	LV_DEF_BURST,
	LV_DEF_TX_RETRIES,
	LV_DEF_ZERO_COPY, /* [relay ...] from here on */
	LV_DEF_MTU,
	LV_DEF_RX_RING_SIZE,
	LV_DEF_TX_RING_SIZE,
	LV_DEF_COUNT,
};

/** The [host] section of host.conf. */
struct lv_host {
	char path[PATH_MAX];		      /**< the file it came from, for messages */
	char socket_dir[FWD_SOCKET_PATH_MAX]; /**< no trailing slash */
	unsigned int n_pool;
	char pool[LV_POOL_MAX][FWD_DEVARGS_MAX]; /**< vf_pool, in file order */
	char lcores[LV_LCORES_MAX];		 /**< "" = the first two CPUs we may run on */
	char eal[FWD_EAL_ARGS_MAX];
	char defaults[LV_DEF_COUNT][LV_VALUE_MAX]; /**< "" = the instance config's default */
	enum lv_launcher launcher;
	unsigned int start_timeout_ms; /**< readiness wait, key start_timeout (s) */
};

/** Read and validate @path; -ENOENT/-errno if unreadable, -EINVAL if invalid. */
int lv_host_load(const char *path, struct lv_host *h, char *err, size_t errlen);

/** Same on text; @origin names it in messages. */
int lv_host_parse_string(const char *text, const char *origin, struct lv_host *h, char *err,
			 size_t errlen);

/** Index of @vf in vf_pool, or -1. */
int lv_host_pool_index(const struct lv_host *h, const char *vf);

/** lcores for instance configs: host.conf's, else the first two CPUs we may run on. */
int lv_host_lcores(const struct lv_host *h, char *buf, size_t len);

/** Key name of an instance default ("mtu"). */
const char *lv_default_key(enum lv_default d);

/** "auto" / "systemd" / "direct" resolved for this host: never LV_LAUNCH_AUTO. */
enum lv_launcher lv_launcher_resolve(enum lv_launcher l);

/* -- domain XML ------------------------------------------------------------------------- */

/** One managed interface: vhostuser, mode='server', socket under socket_dir. */
struct lv_iface {
	unsigned int xml_index;	  /**< position among all <interface>s, from 0 */
	char mac[LV_MAC_LEN + 1]; /**< lower case, "" if the XML has none */
	char socket[FWD_SOCKET_PATH_MAX];
	uint16_t queues;	  /**< <driver queues='N'>, default 1 */
	uint16_t mtu;		  /**< <mtu size='N'/>, 0 = host default */
	char vf[FWD_DEVARGS_MAX]; /**< from metadata, else filled by the pool */
	bool vf_from_metadata;
	char zero_copy[8]; /**< from metadata, "" = host default */
};

struct lv_domain {
	char name[LV_DOMAIN_NAME_MAX];
	char uuid[LV_UUID_LEN + 1];
	char instance[FWD_NAME_MAX]; /**< name with [^A-Za-z0-9_] -> '_' */
	unsigned int n_vhostuser;    /**< every vhostuser interface, managed or not */
	unsigned int n_ifaces;	     /**< managed ones, in XML order: net0, net1... */
	struct lv_iface ifaces[FWD_MAX_RELAYS];
};

/**
 * Parse a domain XML. With @socket_dir NULL only name, uuid, instance and n_vhostuser
 * are filled (enough to know whether host.conf is needed at all); otherwise the managed
 * interfaces and their <metadata><vfrelay:relay/> too. -EINVAL with @err naming the
 * domain, the interface and the attribute.
 */
int lv_domain_parse(const char *xml, size_t len, const char *socket_dir, struct lv_domain *d,
		    char *err, size_t errlen);

/** Instance name of a domain name; -EINVAL if empty, -ENAMETOOLONG past 31 characters. */
int lv_instance_name(const char *domain, char *out, size_t len);

/** "52:54:00:AB:cd:0f" -> bytes; -EINVAL unless six hex pairs separated by ':'. */
int lv_mac_parse(const char *s, uint8_t mac[6]);

/** True for a canonical RFC 4122 text UUID (what libvirt prints). */
bool lv_uuid_valid(const char *s);

/* -- the VF pool ------------------------------------------------------------------------ */

/** What one domain holds: <run_dir>/claims/<uuid>. */
struct lv_claim {
	char uuid[LV_UUID_LEN + 1];
	char instance[FWD_NAME_MAX];
	char domain[LV_DOMAIN_NAME_MAX];
	unsigned int n_vfs;
	char vfs[FWD_MAX_RELAYS][FWD_DEVARGS_MAX]; /**< net0, net1... */
	time_t since;				   /**< when it was written */
};

struct lv_claims {
	unsigned int n;
	struct lv_claim *v;
};

/**
 * Take the pool lock (flock on <run_dir>/claims.lock), retrying for at most
 * @timeout_ms so a stuck holder never hangs libvirt. Returns the fd or -errno.
 */
int lv_pool_lock(const struct lv_paths *p, unsigned int timeout_ms, char *err, size_t errlen);
void lv_pool_unlock(int fd);

/** Every claim file (caller holds the lock). lv_claims_free() even on failure. */
int lv_claims_read(const struct lv_paths *p, struct lv_claims *c, char *err, size_t errlen);
void lv_claims_free(struct lv_claims *c);
const struct lv_claim *lv_claims_find(const struct lv_claims *c, const char *uuid);

int lv_claim_write(const struct lv_paths *p, const struct lv_claim *cl, char *err, size_t errlen);
int lv_claim_remove(const struct lv_paths *p, const char *uuid);

/**
 * Give every managed interface of @d a VF: the one its metadata names (it must be in
 * vf_pool and held by no other domain) or the first free one of vf_pool. Pure: reads
 * @c, fills d->ifaces[].vf. -EBUSY (taken, pool empty), -EINVAL (unknown VF, instance
 * name held by another domain).
 */
int lv_pool_assign(const struct lv_host *h, const struct lv_claims *c, struct lv_domain *d,
		   char *err, size_t errlen);

/** Lock, read, assign, write this domain's claim, unlock. */
int lv_pool_claim(const struct lv_paths *p, const struct lv_host *h, struct lv_domain *d, char *err,
		  size_t errlen);

/* -- instance config -------------------------------------------------------------------- */

/** The instance config for @d (VFs assigned) as INI text. */
int lv_instance_render(const struct lv_host *h, const struct lv_domain *d, char *buf, size_t len,
		       char *err, size_t errlen);

/** Validate @text with vfrelay's own parser (forwarder/fwd_config.c). */
int lv_instance_check(const char *text, const char *origin, char *err, size_t errlen);

/* -- real VFs --------------------------------------------------------------------------- */

/** Same rule as vfrelay's EAL wiring: a PCI address (probed with -a), else a vdev. */
bool lv_vf_is_pci(const char *vf);

/** The PF of an SR-IOV VF, from sysfs physfn and virtfn<N>. */
struct lv_vf_pf {
	char pf_pci[64];
	char pf_ifname[16]; /**< IFNAMSIZ */
	unsigned int vf_index;
};

/** -ENODEV if @vf_pci is no SR-IOV VF (no physfn): nothing to set then. */
int lv_vf_resolve(const char *sysfs, const char *vf_pci, struct lv_vf_pf *out, char *err,
		  size_t errlen);

/** RTM_SETLINK on the PF: IFLA_VFINFO_LIST/IFLA_VF_INFO/IFLA_VF_MAC. Returns its length. */
size_t lv_vf_msg_set_mac(void *buf, size_t len, int pf_ifindex, unsigned int vf,
			 const uint8_t mac[6], uint32_t seq);

/** `ip link set <pf> vf <n> mac <mac>` over rtnetlink. */
int lv_vf_set_mac(const struct lv_vf_pf *pf, const uint8_t mac[6], char *err, size_t errlen);

/** MTU of the PF's netdev (sysfs), which bounds the VF's on most NICs. */
int lv_vf_pf_mtu(const char *sysfs, const struct lv_vf_pf *pf, unsigned int *mtu);

/* -- starting and stopping instances ---------------------------------------------------- */

/**
 * Start instance @instance from <run_dir>/<instance>.ini: systemctl, or spawned fully
 * detached (own session, stdin /dev/null, stdout/stderr <log_dir>/<instance>.log,
 * pidfile) with a NOTIFY_SOCKET of our own, waiting at most h->start_timeout_ms for
 * READY=1 or its exit (then @err carries the daemon's own error line).
 */
int lv_launch_start(const struct lv_paths *p, const struct lv_host *h, const char *instance,
		    char *err, size_t errlen);

/** Stop it (SIGTERM, then SIGKILL after a bounded wait) and remove its pidfile. */
int lv_launch_stop(const struct lv_paths *p, const struct lv_host *h, const char *instance,
		   char *err, size_t errlen);

/** pid of the running instance, 0 if none runs. */
pid_t lv_launch_pid(const struct lv_paths *p, const struct lv_host *h, const char *instance);

/**
 * Instances running now (live pidfiles, or active vfrelay@ units): up to @max names into
 * @names, their number into @n.
 */
int lv_launch_list(const struct lv_paths *p, const struct lv_host *h, char (*names)[FWD_NAME_MAX],
		   unsigned int max, unsigned int *n);

/* -- what the hook and reconcile do ----------------------------------------------------- */

/** prepare: claim VFs, write and check the instance config, set VF MACs, start it. */
int lv_op_prepare(const struct lv_paths *p, const struct lv_host *h, struct lv_domain *d, char *err,
		  size_t errlen);

/**
 * stopped (@free false) / release (@free true): stop the instance of the domain with
 * @uuid and, with @free, give its VFs back. Only what this domain's claim names is
 * touched. @uuid NULL: the claim whose instance is @instance.
 */
int lv_op_stop(const struct lv_paths *p, const struct lv_host *h, const char *uuid,
	       const char *instance, bool free_vfs, char *err, size_t errlen);

/* -- reconcile ------------------------------------------------------------------------ */

/** One running domain as reconcile saw it. */
struct lv_live_dom {
	char uuid[LV_UUID_LEN + 1];
	bool parsed;   /**< false: its XML was refused (@err says why); its state is kept */
	bool starting; /**< libvirt is still starting it: the hook is at work */
	struct lv_domain d;
};

struct lv_live {
	unsigned int n;
	struct lv_live_dom *v;
};

struct lv_rec_stats {
	unsigned int served;  /**< domains whose instance runs */
	unsigned int started; /**< instances (re)started */
	unsigned int stopped; /**< orphan instances stopped */
	unsigned int freed;   /**< claims of domains that are gone, released */
	unsigned int failed;  /**< actions that failed */
};

/**
 * Make the instances match @live: start a missing instance of a running domain (not of
 * one libvirt is still starting), stop and release what a domain that no longer runs
 * holds (claims older than @grace_s only: a younger one may be a start in progress),
 * stop instances nobody claims. Writes one
 * line per action to @out; with @dry_run only says what it would do.
 */
int lv_reconcile_pass(const struct lv_paths *p, const struct lv_host *h, const struct lv_live *live,
		      bool dry_run, unsigned int grace_s, FILE *out, struct lv_rec_stats *st);

#endif /* VFRELAY_LV_PRIV_H */
