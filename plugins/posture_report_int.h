/* Inside the posture report: the evaluated inventory that posture_report.c builds and
 * writes as text, posture_report_json.c as JSON and posture_report_html.c as a page. */
#ifndef AW_POSTURE_REPORT_INT_H
#define AW_POSTURE_REPORT_INT_H

#include "posture_report.h"

#define PR_NAREAS     6
#define PR_MAX_CHECKS 64 /* the table has 24; the report keeps a fixed index per check */

extern const char *const aw_pr_areas[PR_NAREAS];

struct pr_result {
	unsigned check; /* index in the check table */
	size_t res;	/* index in r->res */
	enum aw_posture_status status;
	bool absent;
	char *actual; /* owned */
};

struct pr_resource {
	json_object *obj; /* borrowed from the inventory the report holds */
	const char *id;	  /* "(no id)" when the element has none */
	const char *name;
	const char *type; /* the check table's spelling */
	char sub[64];	  /* subscription id, "" when unknown */
	size_t first, n;  /* its results */
	size_t pos;	  /* position in the inventory */
};

/* One control of a framework with what its checks found. */
struct pr_control {
	const char *id;
	struct aw_posture_counts counts;
};

struct aw_posture_report {
	json_object *inventory; /* a reference */
	size_t elements, skipped;
	struct pr_resource *res;
	size_t nres;
	struct pr_result *results;
	size_t nresults, capresults;
	size_t *by_check;		   /* result indexes ordered by check, then resource */
	size_t check_first[PR_MAX_CHECKS]; /* range of by_check per check */
	size_t check_n[PR_MAX_CHECKS];
	struct aw_posture_counts total;
	struct aw_posture_counts area[PR_NAREAS];
	struct aw_posture_counts check[PR_MAX_CHECKS];
	char *source;
	char generated[32];
	bool complete;
	size_t failed_reads;
	char *error;
};

/* The controls of framework fw that at least one result touches, in the framework's
 * natural order (AC-3 before AC-17, A.8.9 before A.8.20). out holds PR_MAX_CONTROLS;
 * returns how many. */
#define PR_MAX_CONTROLS (PR_MAX_CHECKS * AW_POSTURE_MAX_CONTROLS)
size_t aw_pr_controls(const struct aw_posture_report *r, enum aw_posture_framework fw,
		      struct pr_control *out);
/* The results of the checks that support control in fw, one per call, by check then
 * resource; NULL after the last. Start with a zeroed cursor. */
struct pr_cursor {
	unsigned check;
	size_t k;
};
const struct pr_result *aw_pr_control_next(const struct aw_posture_report *r,
					   enum aw_posture_framework fw, const char *control,
					   struct pr_cursor *cur);

const char *aw_pr_status_word(enum aw_posture_status s); /* "PASS" "FAIL" "UNKNOWN" */
const char *aw_pr_status_name(enum aw_posture_status s); /* "passed" "failed" "unknown" */

int aw_pr_write_html(const struct aw_posture_report *r, int framework, FILE *out);
/* The report as a JSON document (posture_report_json.c); framework -1: no controls. */
json_object *aw_pr_report_json(const struct aw_posture_report *r, int framework);

#endif
