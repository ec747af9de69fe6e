/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/* Text tables for the human-readable output: see cli_table.h. */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "cli_table.h"

void
cli_table_init(struct cli_table *t, size_t ncols, uint64_t right)
{
	*t = (struct cli_table){ .ncols = ncols, .right = right };
}

void
cli_table_push(struct cli_table *t, char *owned)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = realloc(t->cells, t->cap * sizeof(*t->cells));
		if (t->cells == NULL)
			cli_oom();
	}
	t->cells[t->n++] = owned;
}

void
cli_table_pushs(struct cli_table *t, const char *s)
{
	cli_table_push(t, cli_xstrdup(s));
}

void
cli_table_pushf(struct cli_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (ret < 0)
		cli_oom();
	cli_table_push(t, s);
}

void
cli_table_push_real(struct cli_table *t, const json_t *v, const char *fmt)
{
	if (json_is_real(v))
		cli_table_pushf(t, fmt, json_real_value(v));
	else
		cli_table_pushs(t, "-");
}

static void
cli_table_cell(const struct cli_table *t, size_t col, const char *s, size_t w, bool last)
{
	bool right = t->right & (UINT64_C(1) << col);

	if (right)
		printf("%*s", (int)w, s);
	else if (last)
		fputs(s, stdout);
	else
		printf("%-*s", (int)w, s);
}

void
cli_table_print(const struct cli_table *t, size_t max_width)
{
	size_t nrows = t->n / t->ncols;
	size_t *w = calloc(t->ncols, sizeof(*w));
	size_t c0, c1, r, c, width;

	if (w == NULL)
		cli_oom();
	for (r = 0; r < nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t len = strlen(t->cells[r * t->ncols + c]);

			if (len > w[c])
				w[c] = len;
		}
	for (c0 = 1; c0 < t->ncols || (c0 == 1 && t->ncols == 1); c0 = c1) {
		width = w[0];
		c1 = c0;
		while (c1 < t->ncols &&
		       (c1 == c0 || max_width == 0 || width + 2 + w[c1] <= max_width))
			width += 2 + w[c1++];
		if (c0 > 1)
			putchar('\n');
		for (r = 0; r < nrows; r++) {
			cli_table_cell(t, 0, t->cells[r * t->ncols], w[0], c0 == c1);
			for (c = c0; c < c1; c++) {
				fputs("  ", stdout);
				cli_table_cell(t, c, t->cells[r * t->ncols + c], w[c], c + 1 == c1);
			}
			putchar('\n');
		}
		if (c1 == c0)
			break;
	}
	free(w);
}

void
cli_table_free(struct cli_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n = t->cap = 0;
}

size_t
cli_output_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}
