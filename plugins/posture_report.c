/* The posture report (posture_report.h): the inventory evaluated once, then written as
 * text here, as JSON in posture_report_json.c and as HTML in posture_report_html.c. */
#include "posture_report_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "posture_json.h"

const char *const aw_pr_areas[PR_NAREAS] = {
    "Network", "Identity", "Data protection", "Logging", "Threat protection", "Compute",
};

static const char *const fw_titles[AW_FW_COUNT] = {
    "Microsoft cloud security benchmark v1",
    "NIST SP 800-53 Rev. 5",
    "ISO/IEC 27001:2022 Annex A",
    "AICPA SOC 2 Trust Services Criteria (2017, revised points of focus 2022)",
};

const char *aw_posture_framework_title(enum aw_posture_framework fw)
{
	return (unsigned)fw < AW_FW_COUNT ? fw_titles[fw] : "unknown framework";
}

const char *aw_pr_status_word(enum aw_posture_status s)
{
	return s == AW_POSTURE_PASS ? "PASS" : s == AW_POSTURE_FAIL ? "FAIL" : "UNKNOWN";
}

const char *aw_pr_status_name(enum aw_posture_status s)
{
	return s == AW_POSTURE_PASS ? "passed" : s == AW_POSTURE_FAIL ? "failed" : "unknown";
}

static void count(struct aw_posture_counts *c, enum aw_posture_status s)
{
	if (s == AW_POSTURE_PASS)
		c->passed++;
	else if (s == AW_POSTURE_FAIL)
		c->failed++;
	else
		c->unknown++;
}

static int area_index(const char *area)
{
	for (int i = 0; i < PR_NAREAS; i++)
		if (strcmp(aw_pr_areas[i], area) == 0)
			return i;
	return -1;
}

static unsigned check_index(const struct aw_posture_check *c)
{
	for (size_t i = 0; i < aw_posture_check_count(); i++)
		if (aw_posture_check_at(i) == c)
			return (unsigned)i;
	return 0;
}

/* --- building ----------------------------------------------------------------------- */

static void subscription_of(struct pr_resource *p)
{
	const char *s = aw_posture_str(p->obj, "subscriptionId");

	if (s && *s) {
		snprintf(p->sub, sizeof p->sub, "%s", s);
		return;
	}
	if (strncasecmp(p->id, "/subscriptions/", 15) == 0) {
		const char *b = p->id + 15;
		size_t n = strcspn(b, "/");

		snprintf(p->sub, sizeof p->sub, "%.*s", (int)(n < sizeof p->sub ? n : 0), b);
	}
}

static int by_id(const void *a, const void *b)
{
	const struct pr_resource *x = a, *y = b;
	int c = strcasecmp(x->id, y->id);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

struct builder {
	struct aw_posture_report *r;
	size_t res;
	int failed; /* the ceiling was hit, or memory ran out */
};

static void add_result(void *ud, const struct aw_posture_result *res)
{
	struct builder *b = ud;
	struct aw_posture_report *r = b->r;
	struct pr_result *x;

	if (b->failed)
		return;
	if (r->nresults == r->capresults) {
		size_t cap = r->capresults ? r->capresults * 2 : 256;
		struct pr_result *n;

		if (r->nresults >= AW_POSTURE_REPORT_MAX_RESULTS) {
			b->failed = 1;
			return;
		}
		if (cap > AW_POSTURE_REPORT_MAX_RESULTS)
			cap = AW_POSTURE_REPORT_MAX_RESULTS;
		n = realloc(r->results, cap * sizeof *n);
		if (!n) {
			b->failed = 2;
			return;
		}
		r->results = n;
		r->capresults = cap;
	}
	x = &r->results[r->nresults];
	x->check = check_index(res->check);
	x->res = b->res;
	x->status = res->status;
	x->absent = res->absent;
	x->actual = strdup(res->actual);
	if (!x->actual) {
		b->failed = 2;
		return;
	}
	r->nresults++;
}

static int by_check(const void *a, const void *b, void *ud)
{
	const struct aw_posture_report *r = ud;
	const struct pr_result *x = &r->results[*(const size_t *)a];
	const struct pr_result *y = &r->results[*(const size_t *)b];

	if (x->check != y->check)
		return x->check < y->check ? -1 : 1;
	return x->res < y->res ? -1 : x->res > y->res;
}

static void tally(struct aw_posture_report *r)
{
	for (size_t i = 0; i < r->nresults; i++) {
		const struct pr_result *x = &r->results[i];
		int a = area_index(aw_posture_check_area(aw_posture_check_at(x->check)));

		count(&r->total, x->status);
		count(&r->check[x->check], x->status);
		if (a >= 0)
			count(&r->area[a], x->status);
		r->by_check[i] = i;
	}
	qsort_r(r->by_check, r->nresults, sizeof *r->by_check, by_check, r);
	for (size_t i = r->nresults; i-- > 0;) {
		unsigned c = r->results[r->by_check[i]].check;

		r->check_first[c] = i;
		r->check_n[c]++;
	}
}

static void format_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "%lld", (long long)t);
}

int aw_posture_report_new(json_object *inventory, const struct aw_posture_report_info *info,
			  struct aw_posture_report **out, struct aw_error *err)
{
	struct aw_posture_report *r = NULL;
	struct builder b = {0};
	size_t n;

	*out = NULL;
	if (aw_posture_check_count() > PR_MAX_CHECKS)
		return aw_error_set(err, "posture report: more checks than the report can hold");
	if (!json_object_is_type(inventory, json_type_array))
		return aw_error_set(err, "posture report: the inventory is not a JSON array");
	r = calloc(1, sizeof *r);
	if (!r)
		goto oom;
	r->inventory = json_object_get(inventory);
	n = r->elements = json_object_array_length(inventory);
	r->source = strdup(info && info->source ? info->source : "");
	r->error = strdup(info && info->error ? info->error : "");
	r->res = calloc(n ? n : 1, sizeof *r->res);
	if (!r->source || !r->error || !r->res)
		goto oom;
	r->complete = info ? info->complete : true;
	r->failed_reads = info ? info->failed_reads : 0;
	format_time(info ? info->generated : 0, r->generated, sizeof r->generated);

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(inventory, i);
		struct pr_resource *p = &r->res[r->nres];

		if (!json_object_is_type(o, json_type_object)) {
			r->skipped++;
			continue;
		}
		p->obj = o;
		p->pos = i;
		p->id = aw_posture_str(o, "id");
		if (!p->id || !*p->id)
			p->id = "(no id)";
		p->name = aw_posture_str(o, "name");
		if (!p->name)
			p->name = "";
		subscription_of(p);
		r->nres++;
	}
	qsort(r->res, r->nres, sizeof *r->res, by_id);

	/* Evaluate in id order, dropping elements no check applies to. */
	b.r = r;
	for (size_t i = 0, kept = 0; i < r->nres; i++) {
		struct pr_resource p = r->res[i];

		b.res = kept;
		p.first = r->nresults;
		p.n = aw_posture_evaluate(p.obj, add_result, &b);
		if (b.failed)
			break;
		if (p.n == 0) {
			r->skipped++;
		} else {
			p.type =
			    aw_posture_check_type(aw_posture_check_at(r->results[p.first].check));
			r->res[kept++] = p;
		}
		if (i + 1 == r->nres) {
			r->nres = kept;
			break;
		}
	}
	if (b.failed == 1) {
		aw_error_set(err, "posture report: more than %d results (the report's ceiling)",
			     AW_POSTURE_REPORT_MAX_RESULTS);
		goto fail;
	}
	if (b.failed)
		goto oom;
	r->by_check = malloc((r->nresults ? r->nresults : 1) * sizeof *r->by_check);
	if (!r->by_check)
		goto oom;
	tally(r);
	*out = r;
	return 0;
oom:
	aw_error_set(err, "posture report: out of memory");
fail:
	aw_posture_report_free(r);
	return -1;
}

void aw_posture_report_free(struct aw_posture_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nresults; i++)
		free(r->results[i].actual);
	free(r->results);
	free(r->by_check);
	free(r->res);
	free(r->source);
	free(r->error);
	json_object_put(r->inventory);
	free(r);
}

struct aw_posture_counts aw_posture_report_totals(const struct aw_posture_report *r)
{
	return r->total;
}

size_t aw_posture_report_resources(const struct aw_posture_report *r)
{
	return r->nres;
}

/* --- controls --------------------------------------------------------------------------- */

/* Control ids compared with their numbers as numbers: "AC-3" < "AC-17", "A.8.9" <
 * "A.8.20", "CC6.1" < "CC7.2". */
static int natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			unsigned long long x = strtoull(a, (char **)&a, 10);
			unsigned long long y = strtoull(b, (char **)&b, 10);

			if (x != y)
				return x < y ? -1 : 1;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++, b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

static int control_cmp(const void *a, const void *b)
{
	return natural_cmp(((const struct pr_control *)a)->id, ((const struct pr_control *)b)->id);
}

static bool check_has_control(unsigned ci, enum aw_posture_framework fw, const char *control)
{
	const char *const *ctl = aw_posture_check_controls(aw_posture_check_at(ci), fw);

	for (; *ctl; ctl++)
		if (strcmp(*ctl, control) == 0)
			return true;
	return false;
}

size_t aw_pr_controls(const struct aw_posture_report *r, enum aw_posture_framework fw,
		      struct pr_control *out)
{
	size_t n = 0;

	for (unsigned ci = 0; ci < aw_posture_check_count(); ci++) {
		const char *const *ctl;

		if (!r->check_n[ci])
			continue;
		for (ctl = aw_posture_check_controls(aw_posture_check_at(ci), fw); *ctl; ctl++) {
			size_t k = 0;

			while (k < n && strcmp(out[k].id, *ctl) != 0)
				k++;
			if (k == n) {
				if (n == PR_MAX_CONTROLS)
					continue;
				out[n].id = *ctl;
				memset(&out[n].counts, 0, sizeof out[n].counts);
				n++;
			}
			out[k].counts.passed += r->check[ci].passed;
			out[k].counts.failed += r->check[ci].failed;
			out[k].counts.unknown += r->check[ci].unknown;
		}
	}
	qsort(out, n, sizeof *out, control_cmp);
	return n;
}

const struct pr_result *aw_pr_control_next(const struct aw_posture_report *r,
					   enum aw_posture_framework fw, const char *control,
					   struct pr_cursor *cur)
{
	for (; cur->check < aw_posture_check_count(); cur->check++, cur->k = 0) {
		unsigned ci = cur->check;

		if (cur->k == 0 && (!r->check_n[ci] || !check_has_control(ci, fw, control)))
			continue;
		if (cur->k < r->check_n[ci])
			return &r->results[r->by_check[r->check_first[ci] + cur->k++]];
	}
	return NULL;
}

/* --- text ------------------------------------------------------------------------------- */

/* Text from the inventory or a server, for a terminal: control characters (an escape
 * sequence in a property value) are shown as '?', never sent. */
static void tx(FILE *out, const char *s)
{
	for (; s && *s; s++)
		fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, out);
}

static void text_header(const struct aw_posture_report *r, int fw, FILE *out)
{
	fprintf(out, "aiwatch posture report\n");
	fprintf(out, "Generated: %s\n", r->generated);
	if (*r->source) {
		fputs("Source: ", out);
		tx(out, r->source);
		fputc('\n', out);
	}
	fprintf(out, "Inventory: %zu element%s, %s", r->elements, r->elements == 1 ? "" : "s",
		r->complete ? "complete" : "INCOMPLETE");
	if (r->failed_reads)
		fprintf(out, ", %zu read%s failed", r->failed_reads,
			r->failed_reads == 1 ? "" : "s");
	if (*r->error) {
		fputs(" (first: ", out);
		tx(out, r->error);
		fputc(')', out);
	}
	fprintf(out, "\n");
	if (fw >= 0)
		fprintf(out, "Framework: %s (%s)\n", aw_posture_framework_title(fw),
			aw_posture_framework_name(fw));
	fprintf(out,
		"Summary: %zu check%s on %zu resource%s: %zu passed, %zu failed, %zu unknown\n",
		r->nresults, r->nresults == 1 ? "" : "s", r->nres, r->nres == 1 ? "" : "s",
		r->total.passed, r->total.failed, r->total.unknown);
	fprintf(out, "\n%-20s %7s %7s %7s\n", "Area", "Passed", "Failed", "Unknown");
	for (int a = 0; a < PR_NAREAS; a++)
		fprintf(out, "%-20s %7zu %7zu %7zu\n", aw_pr_areas[a], r->area[a].passed,
			r->area[a].failed, r->area[a].unknown);
}

static void text_result(const struct pr_result *x, FILE *out)
{
	const struct aw_posture_check *c = aw_posture_check_at(x->check);

	fprintf(out, "  %-8s %-12s %-7s %s\n", aw_pr_status_word(x->status), aw_posture_check_id(c),
		aw_posture_check_severity(c), aw_posture_check_title(c));
	fputs("           actual: ", out);
	tx(out, x->actual);
	if (x->status == AW_POSTURE_FAIL)
		fprintf(out, "; expected: %s", aw_posture_check_expected(c));
	fputc('\n', out);
}

static void text_by_resource(const struct aw_posture_report *r, FILE *out)
{
	fprintf(out, "\nResources\n");
	for (size_t i = 0; i < r->nres; i++) {
		const struct pr_resource *p = &r->res[i];

		fputc('\n', out);
		tx(out, p->id);
		fprintf(out, "\n  %s", p->type);
		if (*p->sub) {
			fputs(", subscription ", out);
			tx(out, p->sub);
		}
		fputc('\n', out);
		for (size_t k = 0; k < p->n; k++)
			text_result(&r->results[p->first + k], out);
	}
}

static void text_by_control(const struct aw_posture_report *r, enum aw_posture_framework fw,
			    const struct pr_control *ctl, size_t nctl, FILE *out)
{
	fprintf(out, "\nControls\n");
	for (size_t i = 0; i < nctl; i++) {
		const char *title = aw_posture_control_title(fw, ctl[i].id);
		struct pr_cursor cur = {0};
		const struct pr_result *x;

		fprintf(out, "\n%s  %s\n  %zu passed, %zu failed, %zu unknown\n", ctl[i].id,
			title ? title : "", ctl[i].counts.passed, ctl[i].counts.failed,
			ctl[i].counts.unknown);
		while ((x = aw_pr_control_next(r, fw, ctl[i].id, &cur))) {
			fprintf(out, "  %-8s %-12s ", aw_pr_status_word(x->status),
				aw_posture_check_id(aw_posture_check_at(x->check)));
			tx(out, r->res[x->res].id);
			fputs(": ", out);
			tx(out, x->actual);
			fputc('\n', out);
		}
	}
}

static void text_remediation(const struct aw_posture_report *r, FILE *out)
{
	if (!r->total.failed)
		return;
	fprintf(out, "\nRemediation\n");
	for (unsigned ci = 0; ci < aw_posture_check_count(); ci++) {
		const struct aw_posture_check *c = aw_posture_check_at(ci);

		if (!r->check[ci].failed)
			continue;
		fprintf(out, "\n%s  %s\n  failed on %zu resource%s\n  %s\n", aw_posture_check_id(c),
			aw_posture_check_title(c), r->check[ci].failed,
			r->check[ci].failed == 1 ? "" : "s", aw_posture_check_remediation(c));
	}
}

static int write_text(const struct aw_posture_report *r, int fw, FILE *out)
{
	text_header(r, fw, out);
	if (fw < 0) {
		text_by_resource(r, out);
	} else {
		struct pr_control *ctl = calloc(PR_MAX_CONTROLS, sizeof *ctl);

		if (!ctl)
			return -1;
		text_by_control(r, fw, ctl, aw_pr_controls(r, fw, ctl), out);
		free(ctl);
	}
	text_remediation(r, out);
	return 0;
}

int aw_posture_report_write(const struct aw_posture_report *r, enum aw_posture_format fmt,
			    int framework, FILE *out, struct aw_error *err)
{
	if (framework >= AW_FW_COUNT)
		framework = -1;
	errno = 0;
	switch (fmt) {
	case AW_POSTURE_TEXT:
		if (write_text(r, framework, out) != 0)
			return aw_error_set(err, "posture report: out of memory");
		break;
	case AW_POSTURE_JSON: {
		json_object *root = aw_pr_report_json(r, framework);
		const char *s = json_object_to_json_string_ext(
		    root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (!s) {
			json_object_put(root);
			return aw_error_set(err, "posture report: out of memory");
		}
		fprintf(out, "%s\n", s);
		json_object_put(root);
		break;
	}
	case AW_POSTURE_HTML:
		if (aw_pr_write_html(r, framework, out) != 0)
			return aw_error_set(err, "posture report: out of memory");
		break;
	}
	if (fflush(out) != 0 || ferror(out))
		return aw_error_set(err, "writing the report: %s", strerror(errno ? errno : EIO));
	return 0;
}
