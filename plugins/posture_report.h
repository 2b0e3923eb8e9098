/* The posture report: every check run once over an inventory (posture.h), written as
 * text, JSON or one self-contained HTML page, by resource or grouped by the controls of
 * one framework. Used by `aiwatchd posture` (posture_main.c).
 *
 * Resources appear in id order (case-insensitive) whatever order the inventory had,
 * each with its checks in table order, so a report of the same estate is the same text.
 * The report holds a reference on the inventory; the caller keeps its own. */
#ifndef AW_POSTURE_REPORT_H
#define AW_POSTURE_REPORT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../daemon/error.h"
#include "posture.h"

/* A ceiling on results kept for one report (about 60 bytes each). */
#define AW_POSTURE_REPORT_MAX_RESULTS 2000000

enum aw_posture_format {
	AW_POSTURE_TEXT,
	AW_POSTURE_JSON,
	AW_POSTURE_HTML,
};

/* What the report says about where its data came from. Strings are copied. */
struct aw_posture_report_info {
	const char *source;  /* "config FILE, input NAME" or "inventory FILE" */
	int64_t generated;   /* Unix seconds, shown as the report's time */
	bool complete;	     /* every listing was read to its end */
	size_t failed_reads; /* reads that failed (their checks are unknown) */
	const char *error;   /* the first failure; NULL or "" when none */
};

struct aw_posture_counts {
	size_t passed, failed, unknown;
};

struct aw_posture_report;

/* Evaluate every element of the inventory (a JSON array). Elements that are not
 * objects, or that no check applies to, are counted and left out. -1 (err says why)
 * when inventory is not an array or the results would pass the ceiling. */
int aw_posture_report_new(json_object *inventory, const struct aw_posture_report_info *info,
			  struct aw_posture_report **out, struct aw_error *err);
void aw_posture_report_free(struct aw_posture_report *r);

struct aw_posture_counts aw_posture_report_totals(const struct aw_posture_report *r);
/* Resources with at least one check. */
size_t aw_posture_report_resources(const struct aw_posture_report *r);

/* Write the report. framework: an enum aw_posture_framework to group by its controls,
 * or -1 for by resource. -1 when writing failed (err names the cause). */
int aw_posture_report_write(const struct aw_posture_report *r, enum aw_posture_format fmt,
			    int framework, FILE *out, struct aw_error *err);

/* "Microsoft cloud security benchmark v1", ... (the framework's own name). */
const char *aw_posture_framework_title(enum aw_posture_framework fw);

#endif
