/*
 * report — the summary rows of a bench program (see report.h).
 *
 * The rows live in one static array: a program has one summary, printed
 * once, from its main thread.  Running out of rows is a programming error
 * that must not crash a benchmark, so the last row is reused instead.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static struct report_row rows[REPORT_MAX_ROWS];
static int nrows;

struct report_row *
report_add(const char *name, double figure, const char *unit)
{
	struct report_row *r;

	if (nrows == REPORT_MAX_ROWS)
		return &rows[REPORT_MAX_ROWS - 1];
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->figure = figure;
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	r->base = NAN;
	r->ratio = NAN;
	r->met = -1;
	return r;
}

void
report_base(struct report_row *r, const char *name, double base, const char *unit)
{
	snprintf(r->base_name, sizeof(r->base_name), "%s", name);
	r->base = base;
	snprintf(r->base_unit, sizeof(r->base_unit), "%s", unit ? unit : "");
	r->ratio = base > 0 && isfinite(r->figure) ? r->figure / base : NAN;
}

void
report_target(struct report_row *r, const char *text, bool met)
{
	snprintf(r->target, sizeof(r->target), "%s", text);
	r->met = met;
}

/* fmt_num - a figure with 3 or 4 significant digits, k/M for large ones. */
static const char *
fmt_num(char *buf, size_t len, double v, const char *unit)
{
	const char *sp = unit && *unit && *unit != '%' ? " " : "";

	if (!isfinite(v))
		snprintf(buf, len, "n/a");
	else if (fabs(v) >= 1e7)
		snprintf(buf, len, "%.1fM%s%s", v / 1e6, sp, unit ? unit : "");
	else if (fabs(v) >= 1e6)
		snprintf(buf, len, "%.2fM%s%s", v / 1e6, sp, unit ? unit : "");
	else if (fabs(v) >= 1e4)
		snprintf(buf, len, "%.1fk%s%s", v / 1e3, sp, unit ? unit : "");
	else if (fabs(v) >= 100)
		snprintf(buf, len, "%.0f%s%s", v, sp, unit ? unit : "");
	else if (fabs(v) >= 10)
		snprintf(buf, len, "%.1f%s%s", v, sp, unit ? unit : "");
	else if (fabs(v) >= 1 || v == 0)
		snprintf(buf, len, "%.2f%s%s", v, sp, unit ? unit : "");
	else
		snprintf(buf, len, "%.3g%s%s", v, sp, unit ? unit : "");
	return buf;
}

void
report_print_text(const char *prog)
{
	char f[48], b[48];

	printf("summary (figure | baseline | ratio | target):\n");
	for (int i = 0; i < nrows; i++) {
		const struct report_row *r = &rows[i];
		char base[112] = "-", ratio[32] = "-";

		if (r->base_name[0]) {
			const char *u = r->base_unit[0] ? r->base_unit : r->unit;

			snprintf(base, sizeof(base), "%s %s", r->base_name,
				 fmt_num(b, sizeof(b), r->base, u));
		}
		if (isfinite(r->ratio))
			snprintf(ratio, sizeof(ratio), "%.3gx", r->ratio);
		printf("  @ %s | %s | %s | %s | %s | %s%s\n", prog, r->name,
		       fmt_num(f, sizeof(f), r->figure, r->unit), base, ratio,
		       r->target[0] ? r->target : "-",
		       r->met == 1   ? " (met)"
		       : r->met == 0 ? " (missed)"
				     : "");
	}
}

void
report_jnum(const char *fmt, double v)
{
	if (isfinite(v))
		printf(fmt, v);
	else
		printf("null");
}

void
report_print_json(void)
{
	printf("\"summary\":[");
	for (int i = 0; i < nrows; i++) {
		const struct report_row *r = &rows[i];

		printf("%s{\"name\":\"%s\",\"figure\":", i ? "," : "", r->name);
		report_jnum("%.6g", r->figure);
		printf(",\"unit\":\"%s\",\"baseline_name\":", r->unit);
		if (r->base_name[0])
			printf("\"%s\"", r->base_name);
		else
			printf("null");
		printf(",\"baseline\":");
		report_jnum("%.6g", r->base);
		printf(",\"baseline_unit\":\"%s\",\"ratio\":",
		       r->base_unit[0] ? r->base_unit : r->unit);
		report_jnum("%.4g", r->ratio);
		printf(",\"target\":");
		if (r->target[0])
			printf("\"%s\"", r->target);
		else
			printf("null");
		printf(",\"met\":%s}", r->met == 1 ? "true" : r->met == 0 ? "false" : "null");
	}
	printf("]");
}
