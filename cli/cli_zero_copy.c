/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* vfrelayctl zero-copy RELAY auto|on|off: change a relay's zero-copy mode at runtime. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void
cli_zero_copy_check(const struct cli_ctx *ctx, int argc, char **argv)
{
	const char *mode = argv[1];

	(void)ctx;
	(void)argc;
	if (strcmp(mode, "auto") != 0 && strcmp(mode, "on") != 0 && strcmp(mode, "off") != 0)
		cli_usage_error("zero-copy MODE is auto, on or off, not '%s'", mode);
	if (!cli_relay_name_ok(argv[0]))
		cli_usage_error("'%s' is not a relay name", argv[0]);
}

int
cli_zero_copy_run(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *relay = argv[0], *mode = argv[1], *now;
	char *cmd = cli_xasprintf(CLI_CMD_ZERO_COPY ",%s,%s", relay, mode);
	json_t *reply;
	int ret = cli_tel_query(&ctx->tel, cmd, &reply);

	(void)argc;
	free(cmd);
	if (ret < 0)
		return ret;
	if (!json_is_object(reply)) {
		json_decref(reply);
		fprintf(stderr,
			CLI_PROG ": instance '%s' refused: no relay '%s', or it was started with "
				 "zero_copy = off (its queues have no zero-copy pools)\n",
			ctx->tel.name, relay);
		return -ENOENT;
	}
	if (ctx->json) {
		cli_print_json(reply, JSON_INDENT(2));
	} else {
		now = json_string_value(json_object_get(reply, "zero_copy"));
		printf("%s: zero_copy = %s\n", relay, now != NULL ? now : "?");
	}
	json_decref(reply);
	return 0;
}
