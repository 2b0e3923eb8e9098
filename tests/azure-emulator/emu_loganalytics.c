/* Log Analytics query API (contract §2): POST /v1/workspaces/{workspace}/query.
 *
 * Records come from config "loganalytics": {"WORKSPACE": {"rows": ..., "columns": ...,
 * "row_cap": N}}; the query runs over them with the KQL subset of emu_kql.c, the
 * request's `timespan` (body and query string, intersected) filtering TimeGenerated.
 * The answer is the `tables` format: columns named and typed, rows positional, dynamic
 * values as JSON text. A workspace without records answers 204; a request without a
 * JSON Content-Type or body answers an empty 200, as the service does. Past `row_cap`
 * rows the answer is cut and carries a PartialError (E_QUERY_RESULT_SET_TOO_LARGE).
 *
 * Behaviours for the next queries of a workspace are queued with
 * POST /_emulator/loganalytics/next {"workspace", "partial_error": N, "warning": N,
 * "no_content": N, "empty": N}: a PartialError that drops the second half of the rows,
 * a complete answer carrying a warning-only error, a 204, an empty 200. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_kql.h"
#include "emu_state.h"

#define LA_AUDIENCE	  "https://api.loganalytics.io"
#define LA_MAX_WORKSPACES 64

/* Keys of a record that are not columns. */
static const char *const la_hidden[] = {"ingestion_time", "_raw_row", "_override", NULL};

static const char *const la_types[] = {"string",  "datetime", "bool",	  "int",     "long", "real",
				       "decimal", "guid",     "timespan", "dynamic", NULL};

struct la_next {
	char workspace[64];
	int64_t partial_error, warning, no_content, empty;
};

static struct {
	pthread_mutex_t mu;
	struct la_next ws[LA_MAX_WORKSPACES];
	size_t n;
} la_q = {.mu = PTHREAD_MUTEX_INITIALIZER};

static bool hidden(const char *k)
{
	for (size_t i = 0; la_hidden[i]; i++)
		if (!strcmp(la_hidden[i], k))
			return true;
	return false;
}

static json_object *find_ci(json_object *obj, const char *key)
{
	if (!json_object_is_type(obj, json_type_object))
		return NULL;
	json_object_object_foreach(obj, k, v)
	{
		if (!strcasecmp(k, key))
			return v;
	}
	return NULL;
}

/* --- behaviours --------------------------------------------------------------------- */

enum la_behaviour { LA_NORMAL, LA_PARTIAL, LA_WARNING, LA_NO_CONTENT, LA_EMPTY };

static enum la_behaviour take_behaviour(const char *ws)
{
	enum la_behaviour b = LA_NORMAL;

	pthread_mutex_lock(&la_q.mu);
	for (size_t i = 0; i < la_q.n; i++) {
		struct la_next *q = &la_q.ws[i];
		if (strcasecmp(q->workspace, ws))
			continue;
		if (q->no_content > 0) {
			q->no_content--;
			b = LA_NO_CONTENT;
		} else if (q->empty > 0) {
			q->empty--;
			b = LA_EMPTY;
		} else if (q->partial_error > 0) {
			q->partial_error--;
			b = LA_PARTIAL;
		} else if (q->warning > 0) {
			q->warning--;
			b = LA_WARNING;
		}
		break;
	}
	pthread_mutex_unlock(&la_q.mu);
	return b;
}

static void control_error(struct aw_emu_response *resp, const char *msg)
{
	json_object *o = aw_emu_need(json_object_new_object());

	json_object_object_add(o, "error", json_object_new_string(msg));
	aw_emu_resp_json(resp, 400, o);
}

static json_object *next_json(void)
{
	json_object *arr = aw_emu_need(json_object_new_array());

	for (size_t i = 0; i < la_q.n; i++) {
		json_object *o = aw_emu_need(json_object_new_object());
		json_object_object_add(o, "workspace",
				       json_object_new_string(la_q.ws[i].workspace));
		json_object_object_add(o, "partial_error",
				       json_object_new_int64(la_q.ws[i].partial_error));
		json_object_object_add(o, "warning", json_object_new_int64(la_q.ws[i].warning));
		json_object_object_add(o, "no_content",
				       json_object_new_int64(la_q.ws[i].no_content));
		json_object_object_add(o, "empty", json_object_new_int64(la_q.ws[i].empty));
		json_object_array_add(arr, o);
	}
	return arr;
}

static void post_next(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	static const char *const keys[] = {"partial_error", "warning", "no_content", "empty", NULL};
	json_object *o = json_tokener_parse(rq->body), *v;
	const char *ws;
	int64_t add[4] = {0};
	struct la_next *q = NULL;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "workspace", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		json_object_put(o);
		control_error(resp,
			      "loganalytics/next: the body must be an object with \"workspace\"");
		return;
	}
	ws = json_object_get_string(v);
	json_object_object_foreach(o, k, val)
	{
		size_t i = 0;
		if (!strcmp(k, "workspace"))
			continue;
		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (!keys[i] || !json_object_is_type(val, json_type_int) ||
		    json_object_get_int64(val) < 0 || json_object_get_int64(val) > 1000) {
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "loganalytics/next: \"%s\" is not one of "
				 "partial_error, warning, no_content, empty (0..1000)",
				 k);
			json_object_put(o);
			control_error(resp, msg);
			return;
		}
		add[i] = json_object_get_int64(val);
	}
	pthread_mutex_lock(&la_q.mu);
	for (size_t i = 0; i < la_q.n && !q; i++)
		if (!strcasecmp(la_q.ws[i].workspace, ws))
			q = &la_q.ws[i];
	if (!q && la_q.n < LA_MAX_WORKSPACES) {
		q = &la_q.ws[la_q.n++];
		memset(q, 0, sizeof(*q));
		snprintf(q->workspace, sizeof(q->workspace), "%s", ws);
	}
	if (q) {
		q->partial_error += add[0];
		q->warning += add[1];
		q->no_content += add[2];
		q->empty += add[3];
	}
	json_object *state = next_json();
	pthread_mutex_unlock(&la_q.mu);
	json_object_put(o);
	if (!q) {
		json_object_put(state);
		control_error(resp, "loganalytics/next: too many workspaces");
		return;
	}
	aw_emu_resp_json(resp, 200, state);
}

static void get_next(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	pthread_mutex_lock(&la_q.mu);
	json_object *state = next_json();
	pthread_mutex_unlock(&la_q.mu);
	aw_emu_resp_json(resp, 200, state);
}

static void reset(struct aw_emu_state *st)
{
	pthread_mutex_lock(&la_q.mu);
	la_q.n = 0;
	pthread_mutex_unlock(&la_q.mu);
}

/* --- timespan ---------------------------------------------------------------------------- */

/* ISO 8601 duration: PnD, PTnHnMnS, PnW, combinations; whole numbers only. */
static int duration_parse(const char *s, size_t len, int64_t *ticks)
{
	int64_t total = 0, n = 0;
	bool in_time = false, any = false;

	if (len < 2 || s[0] != 'P')
		return -1;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (c == 'T') {
			in_time = true;
		} else if (isdigit((unsigned char)c)) {
			n = n * 10 + (c - '0');
			any = true;
		} else {
			int64_t unit = c == 'W'		     ? 604800
				       : c == 'D'	     ? 86400
				       : c == 'H' && in_time ? 3600
				       : c == 'M' && in_time ? 60
				       : c == 'S' && in_time ? 1
							     : 0;
			if (!unit)
				return -1;
			total += n * unit;
			n = 0;
		}
	}
	if (!any)
		return -1;
	*ticks = total * AW_EMU_TICKS_PER_SEC;
	return 0;
}

static int time_part(const char *s, size_t len, int64_t *t)
{
	char buf[64];

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return aw_emu_time_parse(buf, t);
}

/* "start/end", "start/duration", "duration/end" or "duration" (ending now). */
static int timespan_parse(const char *s, int64_t now, int64_t *lo, int64_t *hi)
{
	const char *slash = strchr(s, '/');
	int64_t a, b;

	if (!slash) {
		if (duration_parse(s, strlen(s), &a))
			return -1;
		*lo = now - a;
		*hi = now;
		return 0;
	}
	size_t la = (size_t)(slash - s), lb = strlen(slash + 1);
	if (!time_part(s, la, &a)) {
		if (!time_part(slash + 1, lb, &b)) {
			*lo = a;
			*hi = b;
		} else if (!duration_parse(slash + 1, lb, &b)) {
			*lo = a;
			*hi = a + b;
		} else {
			return -1;
		}
		return 0;
	}
	if (!duration_parse(s, la, &a) && !time_part(slash + 1, lb, &b)) {
		*lo = b - a;
		*hi = b;
		return 0;
	}
	return -1;
}

/* --- the answer ------------------------------------------------------------------------------ */

static int64_t now_ticks(void)
{
	return aw_emu_now_ms() * (AW_EMU_TICKS_PER_SEC / 1000);
}

static int row_ingestion(json_object *row, int64_t *t)
{
	json_object *v;

	if (json_object_object_get_ex(row, "ingestion_time", &v) ||
	    json_object_object_get_ex(row, "TimeGenerated", &v))
		return json_object_is_type(v, json_type_string)
			   ? aw_emu_time_parse(json_object_get_string(v), t)
			   : -1;
	return -1;
}

static bool has_col(json_object *cols, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(cols); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(cols, i)), name))
			return true;
	return false;
}

static const char *infer_type(const char *name, json_object *v, bool extended)
{
	int64_t t;

	if (!strcmp(name, "TimeGenerated"))
		return "datetime";
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return "bool";
	case json_type_int:
		return "long";
	case json_type_double:
		return "real";
	case json_type_object:
	case json_type_array:
		return "dynamic";
	case json_type_string:
		return extended && !aw_emu_time_parse(json_object_get_string(v), &t) ? "datetime"
										     : "string";
	case json_type_null:
		break;
	}
	return NULL;
}

static json_object *value_of(const struct aw_emu_kql_row *r, const char *name)
{
	json_object *v = NULL;

	if (r->ext && json_object_object_get_ex(r->ext, name, &v))
		return v;
	if (!hidden(name) && json_object_object_get_ex(r->obj, name, &v))
		return v;
	return NULL;
}

static json_object *partial_error(bool warning)
{
	json_object *e = aw_emu_need(json_object_new_object());
	json_object *details = aw_emu_need(json_object_new_array());
	json_object *d = aw_emu_need(json_object_new_object());
	json_object *inner = aw_emu_need(json_object_new_object());

	json_object_object_add(inner, "code",
			       json_object_new_string(warning ? "-2133196790" : "-2133196797"));
	json_object_object_add(
	    inner, "message",
	    json_object_new_string(
		warning ? "union: Failed to resolve table expression (warning injected by the "
			  "emulator)"
			: "Query result set has exceeded the internal data size limit 64000000 "
			  "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)"));
	json_object_object_add(inner, "severity", json_object_new_int(warning ? 3 : 2));
	json_object_object_add(inner, "severityName",
			       json_object_new_string(warning ? "Warning" : "Error"));
	json_object_object_add(d, "code", json_object_new_string("EngineError"));
	json_object_object_add(
	    d, "message",
	    json_object_new_string("Something went wrong processing your query on the server."));
	json_object_object_add(d, "innererror", inner);
	json_object_array_add(details, d);
	json_object_object_add(e, "code", json_object_new_string("PartialError"));
	json_object_object_add(
	    e, "message",
	    json_object_new_string("There were some errors when processing your query."));
	json_object_object_add(e, "details", details);
	return e;
}

/* The `tables` answer for the result's first n rows. */
static json_object *answer(json_object *ws, const struct aw_emu_kql_result *res, size_t n)
{
	json_object *overrides = find_ci(ws, "columns");
	json_object *names = aw_emu_need(json_object_new_array());
	json_object *cols = aw_emu_need(json_object_new_array());
	json_object *rows = aw_emu_need(json_object_new_array());
	json_object *table = aw_emu_need(json_object_new_object());
	json_object *tables = aw_emu_need(json_object_new_array());
	json_object *root = aw_emu_need(json_object_new_object());
	size_t nc;

	if (res->project) {
		for (size_t i = 0; i < res->n_project; i++)
			json_object_array_add(names, json_object_new_string(res->project[i]));
	} else {
		for (size_t r = 0; r < n; r++) {
			json_object_object_foreach(res->rows[r]->obj, k, v)
			{
				(void)v;
				if (!hidden(k) && !has_col(names, k))
					json_object_array_add(names, json_object_new_string(k));
			}
		}
		for (size_t i = 0; i < res->n_ext; i++)
			if (!has_col(names, res->ext_cols[i]))
				json_object_array_add(names,
						      json_object_new_string(res->ext_cols[i]));
	}
	nc = json_object_array_length(names);
	const char **types = aw_emu_need(calloc(nc ? nc : 1, sizeof(*types)));
	for (size_t c = 0; c < nc; c++) {
		const char *name = json_object_get_string(json_object_array_get_idx(names, c));
		json_object *o = find_ci(overrides, name);
		bool extended = false;
		for (size_t i = 0; i < res->n_ext; i++)
			extended = extended || !strcmp(res->ext_cols[i], name);
		if (o)
			types[c] = json_object_get_string(o);
		for (size_t r = 0; r < n && !types[c]; r++)
			types[c] = infer_type(name, value_of(res->rows[r], name), extended);
		if (!types[c])
			types[c] = "string";
		json_object *col = aw_emu_need(json_object_new_object());
		json_object_object_add(col, "name", json_object_new_string(name));
		json_object_object_add(col, "type", json_object_new_string(types[c]));
		json_object_array_add(cols, col);
	}
	for (size_t r = 0; r < n; r++) {
		const struct aw_emu_kql_row *row = res->rows[r];
		json_object *raw, *ovr = NULL, *out;
		if (json_object_object_get_ex(row->obj, "_raw_row", &raw)) {
			json_object_array_add(rows, json_object_get(raw));
			continue;
		}
		json_object_object_get_ex(row->obj, "_override", &ovr);
		out = aw_emu_need(json_object_new_array());
		for (size_t c = 0; c < nc; c++) {
			const char *name =
			    json_object_get_string(json_object_array_get_idx(names, c));
			json_object *v;
			if (ovr && json_object_object_get_ex(ovr, name, &v)) {
				json_object_array_add(out, json_object_get(v));
				continue;
			}
			v = value_of(row, name);
			if (!strcmp(types[c], "dynamic") &&
			    (json_object_is_type(v, json_type_object) ||
			     json_object_is_type(v, json_type_array)))
				/* dynamic values travel as JSON text */
				json_object_array_add(
				    out, json_object_new_string(aw_emu_json_text(v, NULL)));
			else
				json_object_array_add(out, json_object_get(v));
		}
		json_object_array_add(rows, out);
	}
	free(types);
	json_object_put(names);
	json_object_object_add(table, "name", json_object_new_string("PrimaryResult"));
	json_object_object_add(table, "columns", cols);
	json_object_object_add(table, "rows", rows);
	json_object_array_add(tables, table);
	json_object_object_add(root, "tables", tables);
	return root;
}

static void bad_argument(struct aw_emu_response *resp, const char *inner, const char *msg)
{
	json_object *o = aw_emu_need(json_object_new_object());
	json_object *e = aw_emu_need(json_object_new_object());
	json_object *ie = aw_emu_need(json_object_new_object());

	json_object_object_add(ie, "code", json_object_new_string(inner));
	json_object_object_add(ie, "message", json_object_new_string(msg));
	json_object_object_add(e, "message",
			       json_object_new_string("The request had some invalid properties"));
	json_object_object_add(e, "code", json_object_new_string("BadArgumentError"));
	json_object_object_add(e, "innererror", ie);
	json_object_object_add(o, "error", e);
	aw_emu_resp_json(resp, 400, o);
}

/* Records of a workspace: "rows" as an array, or an object keyed by _ItemId. */
static size_t collect_rows(json_object *ws, json_object ***out)
{
	json_object *rows = find_ci(ws, "rows");
	size_t n = 0;

	if (json_object_is_type(rows, json_type_array)) {
		n = json_object_array_length(rows);
		*out = aw_emu_need(calloc(n ? n : 1, sizeof(**out)));
		for (size_t i = 0; i < n; i++)
			(*out)[i] = json_object_array_get_idx(rows, i);
	} else if (json_object_is_type(rows, json_type_object)) {
		*out =
		    aw_emu_need(calloc((size_t)json_object_object_length(rows) + 1, sizeof(**out)));
		json_object_object_foreach(rows, k, v)
		{
			(void)k;
			(*out)[n++] = v;
		}
	} else {
		*out = aw_emu_need(calloc(1, sizeof(**out)));
	}
	return n;
}

static void query(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	const char *wsid = aw_emu_param(rq, "workspace"),
		   *ctype = aw_emu_header(rq, "Content-Type");
	json_object *cfg = aw_emu_config_acquire(rq->st), *ws, *body = NULL, *v, **recs = NULL;
	struct aw_emu_kql *q = NULL;
	struct aw_emu_kql_result res = {0};
	struct aw_emu_kql_row *rows = NULL;
	char err[512];
	int64_t lo = INT64_MIN, hi = INT64_MAX, now = now_ticks(), a, b;
	size_t nrecs, nrows = 0, n;
	enum la_behaviour beh;
	bool partial = false;

	ws = find_ci(find_ci(cfg, "loganalytics"), wsid);
	if (!ws) {
		aw_emu_resp_oneapi(resp, 404, "PathNotFoundError",
				   "The requested path does not exist: workspace %s", wsid);
		goto out;
	}
	if (!ctype || !strstr(ctype, "json") || rq->body_len == 0) {
		/* what the service does without a JSON body: an empty 200 */
		aw_emu_resp_raw(resp, 200, "application/json; charset=utf-8", "", 0);
		goto out;
	}
	body = json_tokener_parse(rq->body);
	if (!json_object_is_type(body, json_type_object) ||
	    !json_object_object_get_ex(body, "query", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		bad_argument(resp, "QueryValidationError",
			     "The body must be a JSON object with a "
			     "\"query\" string.");
		goto out;
	}
	q = aw_emu_kql_parse(json_object_get_string(v), err, sizeof(err));
	if (!q) {
		bad_argument(resp, "SyntaxError", err);
		goto out;
	}
	/* timespan in the body and in the query string: the intersection counts */
	const char *spans[2] = {aw_emu_query(rq, "timespan"), NULL};
	if (json_object_object_get_ex(body, "timespan", &v) &&
	    json_object_is_type(v, json_type_string))
		spans[1] = json_object_get_string(v);
	for (size_t i = 0; i < 2; i++) {
		if (!spans[i])
			continue;
		if (timespan_parse(spans[i], now, &a, &b) != 0) {
			bad_argument(resp, "InvalidTimespan",
				     "The timespan is not an ISO 8601 interval.");
			goto out;
		}
		lo = a > lo ? a : lo;
		hi = b < hi ? b : hi;
	}
	beh = take_behaviour(wsid);
	if (beh == LA_NO_CONTENT) {
		aw_emu_resp_raw(resp, 204, NULL, "", 0);
		goto out;
	}
	if (beh == LA_EMPTY) {
		aw_emu_resp_raw(resp, 200, "application/json; charset=utf-8", "", 0);
		goto out;
	}
	nrecs = collect_rows(ws, &recs);
	if (nrecs == 0) {
		aw_emu_resp_raw(resp, 204, NULL, "", 0); /* a workspace with no data */
		goto out;
	}
	rows = aw_emu_need(calloc(nrecs, sizeof(*rows)));
	for (size_t i = 0; i < nrecs; i++) {
		int64_t ing, tg;
		if (row_ingestion(recs[i], &ing) != 0)
			continue;
		/* timespan filters TimeGenerated */
		if (json_object_object_get_ex(recs[i], "TimeGenerated", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    !aw_emu_time_parse(json_object_get_string(v), &tg) && (tg < lo || tg >= hi))
			continue;
		rows[nrows].obj = recs[i];
		rows[nrows].ing = ing;
		nrows++;
	}
	aw_emu_kql_run(q, rows, nrows, &res, err, sizeof(err));
	n = res.n;
	int64_t cap = aw_emu_cfg_int(ws, "row_cap", 0);
	if (cap > 0 && n > (size_t)cap) {
		n = (size_t)cap;
		partial = true;
	}
	if (beh == LA_PARTIAL) {
		n /= 2;
		partial = true;
	}
	json_object *root = answer(ws, &res, n);
	if (partial || beh == LA_WARNING)
		json_object_object_add(root, "error", partial_error(!partial));
	aw_emu_resp_json(resp, 200, root);
out:
	if (res.all)
		aw_emu_kql_result_free(&res);
	free(rows);
	free(recs);
	aw_emu_kql_free(q);
	json_object_put(body);
	aw_emu_config_release(rq->st, cfg);
}

/* --- configuration ---------------------------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *ws, const char *what)
{
	snprintf(err, errlen, "config: loganalytics.%s: %s", ws, what);
	return -1;
}

static int validate_row(json_object *row, const char *ws, char *err, size_t errlen)
{
	json_object *v;
	int64_t t;
	char what[256];

	if (!json_object_is_type(row, json_type_object))
		return bad(err, errlen, ws, "every row must be an object");
	if (!json_object_object_get_ex(row, "Type", &v) ||
	    !json_object_is_type(v, json_type_string))
		return bad(err, errlen, ws, "every row needs \"Type\" (its table)");
	if (row_ingestion(row, &t) != 0) {
		snprintf(what, sizeof(what),
			 "a %s row needs an ISO 8601 \"ingestion_time\" (or TimeGenerated)",
			 json_object_get_string(v));
		return bad(err, errlen, ws, what);
	}
	if (json_object_object_get_ex(row, "_raw_row", &v) &&
	    !json_object_is_type(v, json_type_array))
		return bad(err, errlen, ws, "\"_raw_row\" must be an array");
	if (json_object_object_get_ex(row, "_override", &v) &&
	    !json_object_is_type(v, json_type_object))
		return bad(err, errlen, ws, "\"_override\" must be an object");
	return 0;
}

static int validate(json_object *cfg, char *err, size_t errlen)
{
	json_object *la, *rows, *cols;

	if (aw_emu_cfg_check(cfg, "loganalytics", json_type_object, err, errlen) < 0)
		return -1;
	if (!json_object_object_get_ex(cfg, "loganalytics", &la))
		return 0;
	json_object_object_foreach(la, ws, w)
	{
		if (!json_object_is_type(w, json_type_object))
			return bad(err, errlen, ws, "must be an object");
		if (aw_emu_cfg_check_int(w, "row_cap", 1, 10000000, err, errlen) < 0)
			return -1;
		if (json_object_object_get_ex(w, "columns", &cols)) {
			if (!json_object_is_type(cols, json_type_object))
				return bad(err, errlen, ws, "\"columns\" must map names to types");
			json_object_object_foreach(cols, name, type)
			{
				size_t i = 0;
				const char *t = json_object_get_string(type);
				while (la_types[i] &&
				       (!json_object_is_type(type, json_type_string) ||
					strcmp(la_types[i], t)))
					i++;
				if (!la_types[i]) {
					char what[160];
					snprintf(what, sizeof(what), "columns.%s: unknown type",
						 name);
					return bad(err, errlen, ws, what);
				}
			}
		}
		if (!json_object_object_get_ex(w, "rows", &rows))
			continue;
		if (json_object_is_type(rows, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(rows); i++)
				if (validate_row(json_object_array_get_idx(rows, i), ws, err,
						 errlen))
					return -1;
		} else if (json_object_is_type(rows, json_type_object)) {
			json_object_object_foreach(rows, key, row)
			{
				(void)key;
				if (validate_row(row, ws, err, errlen))
					return -1;
			}
		} else {
			return bad(err, errlen, ws,
				   "\"rows\" must be an array or an object of rows");
		}
	}
	return 0;
}

static const struct aw_emu_route routes[] = {
    {"POST", "/v1/workspaces/{workspace}/query", LA_AUDIENCE, 0, query},
    {"POST", "/_emulator/loganalytics/next", NULL, AW_EMU_F_CONTROL, post_next},
    {"GET", "/_emulator/loganalytics/next", NULL, AW_EMU_F_CONTROL, get_next},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_loganalytics_module = {"loganalytics", routes, validate, reset};
