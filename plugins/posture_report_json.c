/* The posture report as JSON (posture_report.h's AW_POSTURE_JSON): the same content as
 * the text, for tools: totals, each resource with its results, the controls of a
 * framework when one is asked for, and each check that applied. */
#include <stdlib.h>

#include "posture_report_int.h"

/* json-c's adders fail only when memory runs out; a report missing a member then is
 * caught by the NULL check of the final string. */
static void put(json_object *o, const char *k, json_object *v)
{
	if (json_object_object_add(o, k, v) != 0)
		json_object_put(v);
}

static void push(json_object *a, json_object *v)
{
	if (json_object_array_add(a, v) != 0)
		json_object_put(v);
}

static json_object *counts_json(const struct aw_posture_counts *c)
{
	json_object *o = json_object_new_object();

	put(o, "passed", json_object_new_int64((int64_t)c->passed));
	put(o, "failed", json_object_new_int64((int64_t)c->failed));
	put(o, "unknown", json_object_new_int64((int64_t)c->unknown));
	return o;
}

static json_object *check_json(unsigned ci, const struct aw_posture_report *r)
{
	const struct aw_posture_check *c = aw_posture_check_at(ci);
	json_object *o = json_object_new_object(), *ctl = json_object_new_object();

	put(o, "title", json_object_new_string(aw_posture_check_title(c)));
	put(o, "area", json_object_new_string(aw_posture_check_area(c)));
	put(o, "severity", json_object_new_string(aw_posture_check_severity(c)));
	put(o, "type", json_object_new_string(aw_posture_check_type(c)));
	put(o, "path", json_object_new_string(aw_posture_check_path(c)));
	put(o, "expected", json_object_new_string(aw_posture_check_expected(c)));
	put(o, "default", json_object_new_string(aw_posture_check_default(c)));
	put(o, "baseline", json_object_new_string(aw_posture_check_baseline(c)));
	put(o, "remediation", json_object_new_string(aw_posture_check_remediation(c)));
	for (int fw = 0; fw < AW_FW_COUNT; fw++) {
		json_object *a = json_object_new_array();

		for (const char *const *p = aw_posture_check_controls(c, fw); *p; p++)
			push(a, json_object_new_string(*p));
		put(ctl, aw_posture_framework_name(fw), a);
	}
	put(o, "controls", ctl);
	put(o, "counts", counts_json(&r->check[ci]));
	return o;
}

json_object *aw_pr_report_json(const struct aw_posture_report *r, int fw)
{
	json_object *root = json_object_new_object(), *o, *a;

	put(root, "report", json_object_new_string("aiwatch posture"));
	put(root, "generated", json_object_new_string(r->generated));
	put(root, "source", json_object_new_string(r->source));
	o = json_object_new_object();
	put(o, "elements", json_object_new_int64((int64_t)r->elements));
	put(o, "complete", json_object_new_boolean(r->complete));
	put(o, "failed_reads", json_object_new_int64((int64_t)r->failed_reads));
	put(o, "error", json_object_new_string(r->error));
	put(root, "inventory", o);
	put(root, "framework",
	    fw >= 0 ? json_object_new_string(aw_posture_framework_name(fw)) : NULL);

	o = counts_json(&r->total);
	put(o, "resources", json_object_new_int64((int64_t)r->nres));
	put(o, "checks", json_object_new_int64((int64_t)r->nresults));
	a = json_object_new_array();
	for (int i = 0; i < PR_NAREAS; i++) {
		json_object *e = counts_json(&r->area[i]);

		put(e, "area", json_object_new_string(aw_pr_areas[i]));
		push(a, e);
	}
	put(o, "areas", a);
	put(root, "summary", o);

	a = json_object_new_array();
	for (size_t i = 0; i < r->nres; i++) {
		const struct pr_resource *p = &r->res[i];
		json_object *e = json_object_new_object(), *res = json_object_new_array();

		put(e, "id", json_object_new_string(p->id));
		put(e, "name", json_object_new_string(p->name));
		put(e, "type", json_object_new_string(p->type));
		put(e, "subscription", json_object_new_string(p->sub));
		for (size_t k = 0; k < p->n; k++) {
			const struct pr_result *x = &r->results[p->first + k];
			json_object *j = json_object_new_object();

			put(j, "check",
			    json_object_new_string(
				aw_posture_check_id(aw_posture_check_at(x->check))));
			put(j, "status", json_object_new_string(aw_pr_status_name(x->status)));
			put(j, "actual", json_object_new_string(x->actual));
			put(j, "absent", json_object_new_boolean(x->absent));
			push(res, j);
		}
		put(e, "results", res);
		push(a, e);
	}
	put(root, "resources", a);

	if (fw >= 0) {
		struct pr_control *ctl = calloc(PR_MAX_CONTROLS, sizeof *ctl);
		size_t n = ctl ? aw_pr_controls(r, fw, ctl) : 0;

		a = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			json_object *e = counts_json(&ctl[i].counts),
				    *res = json_object_new_array();
			const char *title = aw_posture_control_title(fw, ctl[i].id);
			struct pr_cursor cur = {0};
			const struct pr_result *x;

			put(e, "control", json_object_new_string(ctl[i].id));
			put(e, "title", json_object_new_string(title ? title : ""));
			while ((x = aw_pr_control_next(r, fw, ctl[i].id, &cur))) {
				json_object *j = json_object_new_object();

				put(j, "check",
				    json_object_new_string(
					aw_posture_check_id(aw_posture_check_at(x->check))));
				put(j, "resource", json_object_new_string(r->res[x->res].id));
				put(j, "status",
				    json_object_new_string(aw_pr_status_name(x->status)));
				push(res, j);
			}
			put(e, "results", res);
			push(a, e);
		}
		free(ctl);
		put(root, "controls", a);
	}

	o = json_object_new_object();
	for (unsigned ci = 0; ci < aw_posture_check_count(); ci++)
		if (r->check_n[ci])
			put(o, aw_posture_check_id(aw_posture_check_at(ci)), check_json(ci, r));
	put(root, "checks", o);
	return root;
}
