/* The posture report as one self-contained HTML page: inline CSS, an inline SVG chart of
 * passed / failed / unknown checks per area, no script and no external asset, so it can
 * be mailed or archived as evidence and opened anywhere. Every string that comes from
 * the inventory or the tables is escaped. */
#include "posture_report_int.h"

#include <stdlib.h>
#include <string.h>

#define COLOR_PASS    "#2e7d32"
#define COLOR_FAIL    "#c62828"
#define COLOR_UNKNOWN "#757575"

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "margin:24px;color:#1b1b1b;background:#fafafa}\n"
    "h1{margin:0 0 6px;font-size:24px}\n"
    "h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}\n"
    "h3{font-size:14px;margin:16px 0 4px}\n"
    ".meta{color:#555;font-size:13px;margin:2px 0}\n"
    ".warn{background:#fff3e0;border:1px solid #ffb74d;padding:8px;border-radius:4px}\n"
    ".tiles{display:flex;gap:12px;margin:12px 0;flex-wrap:wrap}\n"
    ".tile{padding:10px 16px;border-radius:6px;color:#fff;min-width:110px;font-size:13px}\n"
    ".tile b{display:block;font-size:26px}\n"
    ".tile.res{background:#1565c0}.tile.pass{background:" COLOR_PASS "}"
    ".tile.fail{background:" COLOR_FAIL "}.tile.unknown{background:" COLOR_UNKNOWN "}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px;background:#fff;margin:4px 0}\n"
    "th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}\n"
    "th{background:#eee}\n"
    ".id,code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;"
    "word-break:break-all}\n"
    ".check{white-space:nowrap}\n"
    ".st-passed{color:" COLOR_PASS ";font-weight:bold}"
    ".st-failed{color:" COLOR_FAIL ";font-weight:bold}"
    ".st-unknown{color:" COLOR_UNKNOWN ";font-weight:bold}\n"
    ".sev-High{color:#b71c1c;font-weight:bold}.sev-Medium{color:#e65100}"
    ".sev-Low{color:#33691e}\n"
    "footer{margin-top:32px;color:#777;font-size:12px}\n";

/* Text as HTML: the five special characters as entities, other control characters as
 * U+FFFD (they are not allowed in HTML text). */
static void esc(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		switch (ch) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f)
				fputs("\xEF\xBF\xBD", out);
			else
				fputc(ch, out);
		}
	}
}

static void cell(FILE *out, const char *cls, const char *text)
{
	if (cls)
		fprintf(out, "<td class=\"%s\">", cls);
	else
		fputs("<td>", out);
	esc(out, text);
	fputs("</td>", out);
}

static void status_cell(FILE *out, enum aw_posture_status s)
{
	fprintf(out, "<td class=\"st-%s\">%s</td>", aw_pr_status_name(s), aw_pr_status_word(s));
}

static void severity_cell(FILE *out, const struct aw_posture_check *c)
{
	const char *sev = aw_posture_check_severity(c);

	fprintf(out, "<td class=\"sev-%s\">%s</td>", sev, sev);
}

static void header(const struct aw_posture_report *r, int fw, FILE *out)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>aiwatch posture report</title>\n<style>\n",
	      out);
	fputs(css, out);
	fputs("</style>\n</head>\n<body>\n<header>\n<h1>aiwatch posture report</h1>\n", out);
	fprintf(out, "<p class=\"meta\" id=\"generated\">Generated %s</p>\n", r->generated);
	if (*r->source) {
		fputs("<p class=\"meta\" id=\"source\">Source: ", out);
		esc(out, r->source);
		fputs("</p>\n", out);
	}
	fprintf(out, "<p class=\"meta\" id=\"inventory\">Inventory: %zu element%s, %s", r->elements,
		r->elements == 1 ? "" : "s", r->complete ? "complete" : "incomplete");
	if (r->failed_reads)
		fprintf(out, ", %zu read%s failed", r->failed_reads,
			r->failed_reads == 1 ? "" : "s");
	fputs("</p>\n", out);
	if (!r->complete || *r->error) {
		fputs("<p class=\"warn\" id=\"read-errors\">", out);
		fputs(r->complete
			  ? "Some reads failed; the checks that depend on them are unknown. "
			  : "The inventory is incomplete: resources may be missing. ",
		      out);
		if (*r->error) {
			fputs("First failure: ", out);
			esc(out, r->error);
		}
		fputs("</p>\n", out);
	}
	if (fw >= 0) {
		fputs("<p class=\"meta\" id=\"framework\">Framework: ", out);
		esc(out, aw_posture_framework_title(fw));
		fputs("</p>\n", out);
	}
	fputs("</header>\n", out);
}

/* One horizontal stacked bar per area, scaled to the largest area so the bars compare. */
static void chart(const struct aw_posture_report *r, FILE *out)
{
	const double x0 = 150, width = 420, row = 34, bar = 22;
	size_t max = 0;
	double h = 20 + row * PR_NAREAS + 30;

	for (int a = 0; a < PR_NAREAS; a++) {
		size_t t = r->area[a].passed + r->area[a].failed + r->area[a].unknown;

		if (t > max)
			max = t;
	}
	fprintf(out,
		"<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" "
		"height=\"%.0f\" viewBox=\"0 0 760 %.0f\" role=\"img\" "
		"aria-labelledby=\"chart-title\" font-family=\"sans-serif\" font-size=\"13\">\n"
		"<title id=\"chart-title\">Checks passed, failed and unknown per area</title>\n"
		"<rect x=\"0\" y=\"0\" width=\"760\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
		h, h, h);
	for (int a = 0; a < PR_NAREAS; a++) {
		const struct aw_posture_counts *c = &r->area[a];
		double y = 10 + row * a, x = x0;
		double parts[3] = {(double)c->passed, (double)c->failed, (double)c->unknown};
		static const char *const fill[3] = {COLOR_PASS, COLOR_FAIL, COLOR_UNKNOWN};
		static const char *const cls[3] = {"passed", "failed", "unknown"};

		fprintf(out, "<text x=\"8\" y=\"%.0f\" fill=\"#1b1b1b\">%s</text>\n", y + 16,
			aw_pr_areas[a]);
		fprintf(
		    out,
		    "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#f0f0f0\" "
		    "stroke=\"#cccccc\"/>\n",
		    x0, y, width, bar);
		for (int k = 0; k < 3 && max; k++) {
			double w = width * parts[k] / (double)max;

			if (w <= 0)
				continue;
			fprintf(out,
				"<rect class=\"bar-%s\" data-area=\"%s\" x=\"%.1f\" y=\"%.0f\" "
				"width=\"%.1f\" height=\"%.0f\" fill=\"%s\"/>\n",
				cls[k], aw_pr_areas[a], x, y, w, bar, fill[k]);
			x += w;
		}
		fprintf(out,
			"<text x=\"%.0f\" y=\"%.0f\" fill=\"#1b1b1b\">%zu passed, %zu failed, %zu "
			"unknown</text>\n",
			x0 + width + 10, y + 16, c->passed, c->failed, c->unknown);
	}
	{
		double y = 10 + row * PR_NAREAS + 8;
		static const char *const fill[3] = {COLOR_PASS, COLOR_FAIL, COLOR_UNKNOWN};
		static const char *const word[3] = {"passed", "failed", "unknown"};

		for (int k = 0; k < 3; k++) {
			fprintf(out,
				"<rect x=\"%d\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\"/>"
				"<text x=\"%d\" y=\"%.0f\" fill=\"#1b1b1b\">%s</text>\n",
				150 + 110 * k, y, fill[k], 170 + 110 * k, y + 12, word[k]);
		}
	}
	fputs("</svg>\n", out);
}

static void summary(const struct aw_posture_report *r, FILE *out)
{
	fputs("<section id=\"summary\">\n<h2>Summary</h2>\n", out);
	fprintf(out,
		"<p id=\"summary-line\">%zu check%s on %zu resource%s: %zu passed, %zu failed, "
		"%zu unknown</p>\n",
		r->nresults, r->nresults == 1 ? "" : "s", r->nres, r->nres == 1 ? "" : "s",
		r->total.passed, r->total.failed, r->total.unknown);
	fprintf(out,
		"<div class=\"tiles\"><div class=\"tile res\"><b>%zu</b>resources</div>"
		"<div class=\"tile pass\"><b id=\"count-passed\">%zu</b>passed</div>"
		"<div class=\"tile fail\"><b id=\"count-failed\">%zu</b>failed</div>"
		"<div class=\"tile unknown\"><b id=\"count-unknown\">%zu</b>unknown</div></div>\n",
		r->nres, r->total.passed, r->total.failed, r->total.unknown);
	chart(r, out);
	fputs("<table class=\"areas\"><thead><tr><th>Area</th><th>Passed</th><th>Failed</th>"
	      "<th>Unknown</th></tr></thead><tbody>\n",
	      out);
	for (int a = 0; a < PR_NAREAS; a++)
		fprintf(out, "<tr><td>%s</td><td>%zu</td><td>%zu</td><td>%zu</td></tr>\n",
			aw_pr_areas[a], r->area[a].passed, r->area[a].failed, r->area[a].unknown);
	fputs("</tbody></table>\n</section>\n", out);
}

/* Every result with one status, most severe checks first. */
static void listing(const struct aw_posture_report *r, enum aw_posture_status st, const char *id,
		    const char *heading, size_t n, FILE *out)
{
	static const char *const sev[] = {"High", "Medium", "Low"};

	if (!n)
		return;
	fprintf(out,
		"<section id=\"%s\">\n<h2>%s (%zu)</h2>\n<table><thead><tr><th>Check</th>"
		"<th>Severity</th><th>Title</th><th>Resource</th><th>Actual</th><th>Expected</th>"
		"</tr></thead><tbody>\n",
		id, heading, n);
	for (size_t s = 0; s < sizeof sev / sizeof sev[0]; s++) {
		for (unsigned ci = 0; ci < aw_posture_check_count(); ci++) {
			const struct aw_posture_check *c = aw_posture_check_at(ci);

			if (strcmp(aw_posture_check_severity(c), sev[s]) != 0)
				continue;
			for (size_t k = 0; k < r->check_n[ci]; k++) {
				const struct pr_result *x =
				    &r->results[r->by_check[r->check_first[ci] + k]];

				if (x->status != st)
					continue;
				fprintf(out, "<tr class=\"%s\" data-check=\"%s\" data-resource=\"",
					aw_pr_status_name(st), aw_posture_check_id(c));
				esc(out, r->res[x->res].id);
				fputs("\">", out);
				cell(out, "id check", aw_posture_check_id(c));
				severity_cell(out, c);
				cell(out, NULL, aw_posture_check_title(c));
				cell(out, "id", r->res[x->res].id);
				cell(out, NULL, x->actual);
				cell(out, NULL, aw_posture_check_expected(c));
				fputs("</tr>\n", out);
			}
		}
	}
	fputs("</tbody></table>\n</section>\n", out);
}

static void by_resource(const struct aw_posture_report *r, FILE *out)
{
	fputs("<section id=\"resources\">\n<h2>Resources</h2>\n", out);
	for (size_t i = 0; i < r->nres; i++) {
		const struct pr_resource *p = &r->res[i];

		fputs("<div class=\"resource\">\n<h3 class=\"id\">", out);
		esc(out, p->id);
		fputs("</h3>\n<p class=\"meta\">", out);
		esc(out, p->type);
		if (*p->sub) {
			fputs(", subscription ", out);
			esc(out, p->sub);
		}
		fputs("</p>\n<table><thead><tr><th>Status</th><th>Check</th><th>Severity</th>"
		      "<th>Title</th><th>Actual</th><th>Expected</th></tr></thead><tbody>\n",
		      out);
		for (size_t k = 0; k < p->n; k++) {
			const struct pr_result *x = &r->results[p->first + k];
			const struct aw_posture_check *c = aw_posture_check_at(x->check);

			fputs("<tr>", out);
			status_cell(out, x->status);
			cell(out, "id check", aw_posture_check_id(c));
			severity_cell(out, c);
			cell(out, NULL, aw_posture_check_title(c));
			cell(out, NULL, x->actual);
			cell(out, NULL, aw_posture_check_expected(c));
			fputs("</tr>\n", out);
		}
		fputs("</tbody></table>\n</div>\n", out);
	}
	fputs("</section>\n", out);
}

static int by_control(const struct aw_posture_report *r, enum aw_posture_framework fw, FILE *out)
{
	struct pr_control *ctl = calloc(PR_MAX_CONTROLS, sizeof *ctl);
	size_t n;

	if (!ctl)
		return -1;
	n = aw_pr_controls(r, fw, ctl);
	fputs("<section id=\"controls\">\n<h2>Controls: ", out);
	esc(out, aw_posture_framework_title(fw));
	fputs("</h2>\n", out);
	for (size_t i = 0; i < n; i++) {
		const char *title = aw_posture_control_title(fw, ctl[i].id);
		struct pr_cursor cur = {0};
		const struct pr_result *x;

		fputs("<div class=\"control\">\n<h3>", out);
		esc(out, ctl[i].id);
		fputs(" ", out);
		esc(out, title ? title : "");
		fprintf(out,
			"</h3>\n<p class=\"meta\">%zu passed, %zu failed, %zu unknown</p>\n"
			"<table><thead><tr><th>Status</th><th>Check</th><th>Resource</th>"
			"<th>Actual</th></tr></thead><tbody>\n",
			ctl[i].counts.passed, ctl[i].counts.failed, ctl[i].counts.unknown);
		while ((x = aw_pr_control_next(r, fw, ctl[i].id, &cur))) {
			fputs("<tr>", out);
			status_cell(out, x->status);
			cell(out, "id check", aw_posture_check_id(aw_posture_check_at(x->check)));
			cell(out, "id", r->res[x->res].id);
			cell(out, NULL, x->actual);
			fputs("</tr>\n", out);
		}
		fputs("</tbody></table>\n</div>\n", out);
	}
	fputs("</section>\n", out);
	free(ctl);
	return 0;
}

static void remediation(const struct aw_posture_report *r, FILE *out)
{
	if (!r->total.failed)
		return;
	fputs("<section id=\"remediation\">\n<h2>Remediation</h2>\n", out);
	for (unsigned ci = 0; ci < aw_posture_check_count(); ci++) {
		const struct aw_posture_check *c = aw_posture_check_at(ci);

		if (!r->check[ci].failed)
			continue;
		fprintf(out, "<div class=\"fix\" id=\"fix-%s\">\n<h3>", aw_posture_check_id(c));
		esc(out, aw_posture_check_id(c));
		fputs(" ", out);
		esc(out, aw_posture_check_title(c));
		fprintf(out, "</h3>\n<p class=\"meta\">Failed on %zu resource%s. Baseline: ",
			r->check[ci].failed, r->check[ci].failed == 1 ? "" : "s");
		esc(out, aw_posture_check_baseline(c));
		fputs("</p>\n<p><code>", out);
		esc(out, aw_posture_check_remediation(c));
		fputs("</code></p>\n</div>\n", out);
	}
	fputs("</section>\n", out);
}

int aw_pr_write_html(const struct aw_posture_report *r, int framework, FILE *out)
{
	header(r, framework, out);
	summary(r, out);
	listing(r, AW_POSTURE_FAIL, "failed", "Failed checks", r->total.failed, out);
	listing(r, AW_POSTURE_UNKNOWN, "unknown", "Checks that could not be evaluated",
		r->total.unknown, out);
	if (framework >= 0) {
		if (by_control(r, framework, out) != 0)
			return -1;
	} else {
		by_resource(r, out);
	}
	remediation(r, out);
	fputs("<footer>aiwatch posture report. The control mapping is aiwatch's own judgement "
	      "of which control each setting supports; see doc/posture.md for its sources."
	      "</footer>\n</body>\n</html>\n",
	      out);
	return 0;
}
