/* A small KQL subset for the emulator's Log Analytics route (emu_loganalytics.c):
 * enough for the daemon's own queries and simple hand-written ones.
 *
 *   source   T | union [isfuzzy=true] [withsource=C] leg, leg, ...
 *   leg      T | (T | op | op ...)
 *   ops      where EXPR; extend C = EXPR, ...; project C, ...; order|sort by C [asc|desc], ...;
 *            take|limit N
 *   EXPR     and, or, not(...), parentheses; == != < <= > >= =~ !~; in, in~, !in, !in~
 *            (list); has, contains, startswith (case-insensitive); literals "s" 's' 12
 *            1.5 true false; datetime(ISO); functions ingestion_time(), now(),
 *            strcmp(a, b), isempty(x), isnotempty(x), tostring(x)
 *
 * Rows are JSON objects (the config's records, `Type` naming the table) plus their
 * ingestion time. A string compared with a datetime is read as one. Thread-safe: no
 * global state. */
#ifndef AW_EMU_KQL_H
#define AW_EMU_KQL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AW_EMU_TICKS_PER_SEC 10000000LL

/* ISO 8601 UTC ("Z" or "+00:00", up to 7 fractional digits used) to 100 ns ticks since
 * the epoch; 0 or -1. */
int aw_emu_time_parse(const char *s, int64_t *ticks);
/* "2026-05-01T10:00:01.1234567Z" */
void aw_emu_time_format(int64_t ticks, char buf[32]);

struct aw_emu_kql;

/* NULL with err filled when text is outside the subset. */
struct aw_emu_kql *aw_emu_kql_parse(const char *text, char *err, size_t errlen);
void aw_emu_kql_free(struct aw_emu_kql *q);

struct aw_emu_kql_row {
	json_object *obj; /* borrowed: the record */
	int64_t ing;	  /* its ingestion time */
	json_object *ext; /* columns made by extend (owned by the result), or NULL */
};

struct aw_emu_kql_result {
	struct aw_emu_kql_row **rows; /* the answer, in order */
	size_t n;
	struct aw_emu_kql_row *all; /* storage */
	size_t nall;
	char **ext_cols; /* extended columns, in order of appearance */
	size_t n_ext;
	char **project; /* project's columns (NULL: every column) */
	size_t n_project;
};

/* Run q over the records (each row's table is its "Type"). 0, or -1 with err. */
int aw_emu_kql_run(const struct aw_emu_kql *q, const struct aw_emu_kql_row *rows, size_t n,
		   struct aw_emu_kql_result *res, char *err, size_t errlen);
void aw_emu_kql_result_free(struct aw_emu_kql_result *res);

#endif
