/*
 * report — the summary rows of a bench program, the ones bench/run.sh
 * gathers into its final table and its --json document.
 *
 * What it owns: up to REPORT_MAX_ROWS rows, kept in order in this module
 * (one table per program), each a headline figure, its same-run baseline,
 * their ratio and the target.  A program adds its rows as it
 * measures and prints them once at the end, either as text or inside its
 * JSON document.
 *
 * The text form is a contract with bench/run.sh: a "summary (...)" header,
 * then one line per row that starts with "  @ ", the program's name, and
 * five " | "-separated fields (measure | figure | baseline | ratio |
 * target).  The JSON form is a "summary" member: an array of objects with
 * name, figure, unit, baseline_name, baseline, baseline_unit, ratio,
 * target and met, null where there is nothing.  Names, units and targets
 * are ASCII and written into JSON unescaped.
 *
 * Who calls it: a bench program's main thread.  Prints to stdout only.
 */
#ifndef FORQ_BENCH_REPORT_H
#define FORQ_BENCH_REPORT_H

#include <stdbool.h>

#define REPORT_MAX_ROWS 32

/* A summary row: a headline figure, its same-run baseline, ratio, target. */
struct report_row {
	char name[64];	    /* what was measured, ASCII */
	double figure;	    /* in @unit */
	char unit[16];	    /* "us", "tasks/s", "%", ... */
	char base_name[48]; /* what the baseline is, "" for none */
	double base;	    /* in @unit (or its own unit, see @base_unit) */
	char base_unit[16]; /* the baseline's unit; "" = @unit */
	double ratio;	    /* figure / base, or NAN */
	char target[48];    /* the target, text; "" for none */
	int met;	    /* 1 met, 0 missed, -1 no target */
};

/*
 * report_add - append a row with no baseline and no target yet.
 * @name, @unit: copied (truncated to the fields' sizes).
 * Returns the row, owned by this module and valid until the program ends;
 * when REPORT_MAX_ROWS rows exist already, the last one is overwritten.
 */
struct report_row *report_add(const char *name, double figure, const char *unit);

/*
 * report_base - set @r's baseline, and the ratio figure / @base (NAN when
 * @base <= 0 or the figure is not finite).
 * @unit: the baseline's unit when it differs from the figure's, else NULL.
 */
void report_base(struct report_row *r, const char *name, double base, const char *unit);

/* report_target - set @r's target text, and whether it was @met. */
void report_target(struct report_row *r, const char *text, bool met);

/*
 * report_print_text - print the header and the "  @ @prog | ..." lines,
 * figures with 3 or 4 significant digits (k/M for large ones).
 */
void report_print_text(const char *prog);

/*
 * report_print_json - print "\"summary\":[...]", with no newline, to go
 * inside the caller's JSON object.
 */
void report_print_json(void);

/* report_jnum - print @v with the printf format @fmt, or null when not finite. */
void report_jnum(const char *fmt, double v);

#endif
