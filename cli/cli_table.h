/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * Text tables: row 0 is the header, cells are pushed left to right. Values stay unformatted
 * (no thousands separators, no units in cells) so `grep` and `awk` see the daemon's numbers.
 */

#ifndef VFRELAY_CLI_TABLE_H
#define VFRELAY_CLI_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct cli_table {
	size_t ncols;
	size_t n; /* cells pushed */
	size_t cap;
	char **cells;   /* owned */
	uint64_t right; /* bit c: right-align column c */
};

void cli_table_init(struct cli_table *t, size_t ncols, uint64_t right);
/* Push a cell the table takes ownership of. */
void cli_table_push(struct cli_table *t, char *owned);
void cli_table_pushs(struct cli_table *t, const char *s);
void cli_table_pushf(struct cli_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON real formatted with @p fmt, or "-" for anything else (a rate not known yet). */
void cli_table_push_real(struct cli_table *t, const json_t *v, const char *fmt);

/*
 * Print @p t. When too wide for @p max_width (0: unlimited), columns after the first are split
 * into several tables, each repeating the first column, so every line still names its row.
 */
void cli_table_print(const struct cli_table *t, size_t max_width);
void cli_table_free(struct cli_table *t);

/* Terminal width when a human is looking, 0 (never wrap) when a script or grep is. */
size_t cli_output_width(void);

#endif /* VFRELAY_CLI_TABLE_H */
