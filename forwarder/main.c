/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* vfrelay: parse, wire, run. Nothing else lives here. */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "fwd_priv.h"

VFR_LOG_REGISTER();

#define FWD_EAL_ARGV_MAX 64

static void
fwd_usage(FILE *f)
{
	fprintf(f, "usage: vfrelay --config FILE [--check]\n"
		   "       vfrelay --version\n"
		   "  -c, --config FILE  instance configuration (INI, see vfrelay.ini(5))\n"
		   "      --check        validate FILE and exit\n"
		   "  -V, --version      print the version\n"
		   "Manual: vfrelay(8), vfrelay.ini(5), vfrelayctl(8);\n"
		   "more in " VFRELAY_DOCDIR "\n");
}

/* "0000:3b:02.0", "3b:02.0" or "pci:..." — anything else is a vdev. */
static bool
fwd_devargs_is_pci(const char *dev)
{
	const char *p = dev;
	int colons = 0;

	if (strncmp(dev, "pci:", 4) == 0)
		return true;
	for (; *p != '\0' && *p != ','; p++) {
		if (*p == ':')
			colons++;
		else if (*p != '.' && !isxdigit((unsigned char)*p))
			return false;
	}
	return colons >= 1 && strchr(dev, '.') != NULL;
}

/*
 * EAL arguments are derived from the config, so an operator never repeats
 * the instance name or the lcores. Only listed PCI VFs are probed.
 */
static int
fwd_build_eal_argv(const struct fwd_config *cfg, char *store, size_t store_len, char **argv)
{
	int argc = 0;
	size_t used = 0;
	bool any_pci = false;
	char *tok;
	char *save = NULL;

#define FWD_ARG(...)                                                                               \
	do {                                                                                       \
		int w_ = snprintf(store + used, store_len - used, __VA_ARGS__);                    \
		if (w_ < 0 || (size_t)w_ >= store_len - used || argc >= FWD_EAL_ARGV_MAX - 1)      \
			return -E2BIG;                                                             \
		argv[argc++] = store + used;                                                       \
		used += (size_t)w_ + 1;                                                            \
	} while (0)

	FWD_ARG("vfrelay");
	FWD_ARG("--file-prefix=%s", cfg->name);
	{
		char list[FWD_MAX_LCORES * 5] = "";
		size_t off = 0;

		for (unsigned int i = 0; i < cfg->n_lcores; i++)
			off += snprintf(list + off, sizeof(list) - off, "%s%u", i ? "," : "",
					cfg->lcores[i]);
		FWD_ARG("-l");
		FWD_ARG("%s", list);
		FWD_ARG("--main-lcore=%u", cfg->lcores[0]);
	}
	for (unsigned int i = 0; i < cfg->n_relays; i++) {
		if (fwd_devargs_is_pci(cfg->relays[i].vf)) {
			any_pci = true;
			FWD_ARG("-a");
			FWD_ARG("%s", cfg->relays[i].vf);
		}
	}
	if (!any_pci)
		FWD_ARG("--no-pci");
	{
		char extra[FWD_EAL_ARGS_MAX];

		snprintf(extra, sizeof(extra), "%s", cfg->eal);
		for (tok = strtok_r(extra, " \t", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t", &save))
			FWD_ARG("%s", tok);
	}
#undef FWD_ARG
	argv[argc] = NULL;
	return argc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct fwd_config cfg;
	static struct fwd_instance inst;
	static char eal_store[4096];
	char *eal_argv[FWD_EAL_ARGV_MAX];
	const char *path = NULL;
	bool check = false;
	char err[512];
	int eal_argc;
	int opt;
	int ret;

	while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'V':
			printf("vfrelay %s\n", VFRELAY_VERSION);
			return 0;
		case 'h':
			fwd_usage(stdout);
			return 0;
		default:
			fwd_usage(stderr);
			return FWD_EXIT_CONFIG;
		}
	}
	if (path == NULL || optind != argc) {
		fprintf(stderr, "vfrelay: %s\n",
			path == NULL ? "--config FILE is required" : "unexpected argument");
		fwd_usage(stderr);
		return FWD_EXIT_CONFIG;
	}

	if (fwd_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "vfrelay: %s\n", err);
		return FWD_EXIT_CONFIG;
	}
	if (check) {
		printf("vfrelay: %s: OK (%u relays, %u workers)\n", path, cfg.n_relays,
		       cfg.n_lcores - 1);
		return 0;
	}

	eal_argc = fwd_build_eal_argv(&cfg, eal_store, sizeof(eal_store), eal_argv);
	if (eal_argc < 0) {
		fprintf(stderr, "vfrelay: %s: [vfrelay] eal: too many arguments\n", path);
		return FWD_EXIT_CONFIG;
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr,
			"vfrelay: %s: [vfrelay] eal: DPDK initialisation failed: %s "
			"(check 'lcores' and 'eal'; is instance '%s' already running?)\n",
			path, rte_strerror(rte_errno), cfg.name);
		return FWD_EXIT_CONFIG;
	}
	/* A guest or socket peer must not be able to flood the log through librte_vhost. */
	if (vfr_log_guard_install() < 0)
		VFR_LOG(WARNING, "log rate limiting unavailable");
	if (fwd_telemetry_register() < 0)
		VFR_LOG(WARNING, "telemetry commands could not be registered");

	ret = fwd_ctl_setup(&inst, &cfg, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "vfrelay: %s: %s\n", path, err);
		rte_eal_cleanup();
		return FWD_EXIT_CONFIG;
	}
	ret = fwd_ctl_run(&inst);
	fwd_ctl_teardown(&inst);
	rte_eal_cleanup();
	return ret < 0 ? 1 : 0;
}
