/* A Log Analytics query answer (contract §2): {"tables":[{"name","columns":[{name,
 * type}],"rows":[[...]]}], "error"?}.
 *
 * Rows are positional; they become events by column name, typed by the column's type:
 * datetimes stay ISO strings, numbers stay numbers, dynamic values stay JSON text (a
 * string the engine parses lazily when a rule asks for `Col.path`), null values are
 * left out (a union of several tables is mostly nulls). A row is malformed, and
 * skipped, when its length is not the number of columns, a datetime is not an ISO
 * string, or a dynamic value (or a string column known to hold JSON text, such as
 * properties_s) looks like JSON but does not parse. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "la.h"

#define LA_NEST_MAX 64 /* JSON nesting accepted in an answer and in JSON text */

/* String columns that carry JSON text in the tables we read (log-schemas.md). */
static const char *const la_json_text_cols[] = {
    "properties_s",  "Properties",
    "Claims",	     "Authorization",
    "HTTPRequest",   "ExtendedProperties",
    "Entities",	     "RemediationSteps",
    "ExtendedLinks", "AdditionalFields",
    "Identity",	     "IdentityData_s",
    "identity_s",    NULL,
};

static enum aw_la_type type_of(const char *t)
{
	if (!t || !strcmp(t, "string"))
		return AW_LA_T_STRING;
	if (!strcmp(t, "datetime"))
		return AW_LA_T_DATETIME;
	if (!strcmp(t, "bool") || !strcmp(t, "boolean"))
		return AW_LA_T_BOOL;
	if (!strcmp(t, "int") || !strcmp(t, "long"))
		return AW_LA_T_INT;
	if (!strcmp(t, "real") || !strcmp(t, "double"))
		return AW_LA_T_REAL;
	if (!strcmp(t, "dynamic"))
		return AW_LA_T_DYNAMIC;
	return AW_LA_T_OTHER;
}

static bool json_text_col(const char *name)
{
	for (size_t i = 0; la_json_text_cols[i]; i++)
		if (!strcmp(name, la_json_text_cols[i]))
			return true;
	return false;
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *get_str(json_object *o, const char *k)
{
	json_object *v = get(o, k);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Parse len bytes as one JSON value (trailing whitespace allowed). */
static json_object *parse_exact(const char *s, size_t len, const char **why)
{
	struct json_tokener *tok = json_tokener_new_ex(LA_NEST_MAX);
	json_object *o;
	size_t off;

	*why = "out of memory";
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);
		*why = e == json_tokener_continue ? "truncated" : json_tokener_error_desc(e);
		json_tokener_free(tok);
		return NULL;
	}
	off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (off < len && isspace((unsigned char)s[off]))
		off++;
	if (off < len) {
		json_object_put(o);
		*why = "text after the JSON value";
		return NULL;
	}
	return o;
}

/* --- the error member ------------------------------------------------------------ */

/* Whether one detail (and its innererror chain) says Warning, and its innermost message. */
static bool detail_is_warning(json_object *d, const char **msg)
{
	const char *sevname = NULL;
	int64_t sev = -1;
	bool found = false;

	for (int depth = 0; d && depth < 8; depth++) {
		const char *m = get_str(d, "message");
		json_object *s = get(d, "severity");
		if (m)
			*msg = m;
		if (!found && get_str(d, "severityName")) {
			sevname = get_str(d, "severityName");
			found = true;
		}
		if (!found && json_object_is_type(s, json_type_int)) {
			sev = json_object_get_int64(s);
			found = true;
		}
		d = get(d, "innererror");
	}
	if (sevname)
		return !strcasecmp(sevname, "Warning");
	/* Kusto severities: 2 error, 3 warning, 4 informational */
	return sev >= 3;
}

static void parse_error(json_object *e, struct aw_la_answer *a)
{
	json_object *details = get(e, "details");
	const char *code = get_str(e, "code"), *msg = get_str(e, "message");
	const char *worst = NULL, *any = NULL;
	size_t n =
	    json_object_is_type(details, json_type_array) ? json_object_array_length(details) : 0;

	a->has_error = true;
	snprintf(a->error_code, sizeof a->error_code, "%s", code ? code : "unknown");
	a->warnings_only = n > 0;
	for (size_t i = 0; i < n; i++) {
		const char *m = NULL;
		bool w = detail_is_warning(json_object_array_get_idx(details, i), &m);
		if (!w) {
			a->warnings_only = false;
			if (!worst)
				worst = m;
		}
		if (!any)
			any = m;
	}
	if (!json_object_is_type(e, json_type_object))
		a->warnings_only = false;
	snprintf(a->error_detail, sizeof a->error_detail, "%s",
		 worst ? worst
		 : any ? any
		 : msg ? msg
		       : "no details");
}

/* --- the answer ------------------------------------------------------------------- */

void aw_la_answer_free(struct aw_la_answer *a)
{
	json_object_put(a->root);
	free(a->cols);
	memset(a, 0, sizeof *a);
	a->i_ing = a->i_id = a->i_type = -1;
}

int aw_la_answer_parse(const char *body, size_t len, struct aw_la_answer *a, struct aw_error *err)
{
	json_object *tables, *t, *cols, *e;
	const char *why;
	size_t i = 0;

	memset(a, 0, sizeof *a);
	a->i_ing = a->i_id = a->i_type = -1;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len)
		return 0; /* an empty 200: no rows */
	a->root = parse_exact(body, len, &why);
	if (!a->root)
		return aw_error_set(err, "the answer is not JSON (%s)", why);
	if (!json_object_is_type(a->root, json_type_object)) {
		aw_la_answer_free(a);
		return aw_error_set(err, "the answer is not a JSON object");
	}
	e = get(a->root, "error");
	if (e && !json_object_is_type(e, json_type_null))
		parse_error(e, a);
	tables = get(a->root, "tables");
	if (!json_object_is_type(tables, json_type_array) ||
	    json_object_array_length(tables) == 0) {
		if (a->has_error)
			return 0; /* an error with no rows at all */
		aw_la_answer_free(a);
		return aw_error_set(err, "the answer has no \"tables\"");
	}
	t = json_object_array_get_idx(tables, 0);
	cols = get(t, "columns");
	a->rows = get(t, "rows");
	if (!json_object_is_type(cols, json_type_array) ||
	    !json_object_is_type(a->rows, json_type_array)) {
		aw_la_answer_free(a);
		return aw_error_set(err, "the answer's table has no \"columns\" or \"rows\" array");
	}
	a->ncols = json_object_array_length(cols);
	a->nrows = json_object_array_length(a->rows);
	a->cols = calloc(a->ncols ? a->ncols : 1, sizeof *a->cols);
	if (!a->cols) {
		aw_la_answer_free(a);
		return aw_error_set(err, "out of memory");
	}
	for (size_t c = 0; c < a->ncols; c++) {
		json_object *col = json_object_array_get_idx(cols, c);
		const char *name = get_str(col, "name");
		if (!name || !*name) {
			aw_la_answer_free(a);
			return aw_error_set(err, "column %zu of the answer has no name", c);
		}
		a->cols[c].name = name;
		a->cols[c].type = type_of(get_str(col, "type"));
		a->cols[c].json_text = a->cols[c].type == AW_LA_T_STRING && json_text_col(name);
		if (!strcmp(name, "_aw_ingested"))
			a->i_ing = (int)c;
		else if (!strcmp(name, "_ItemId"))
			a->i_id = (int)c;
		else if (!strcmp(name, "Type"))
			a->i_type = (int)c;
	}
	if (a->nrows && a->i_ing < 0) {
		aw_la_answer_free(a);
		return aw_error_set(err, "the answer has no _aw_ingested column (does the query "
					 "project it away?)");
	}
	return 0;
}

/* --- rows -------------------------------------------------------------------------- */

static void row_key_from(json_object *row, size_t len, const struct aw_la_answer *a,
			 struct aw_la_row *out)
{
	json_object *v;

	out->has_ing = false;
	out->has_id = false;
	snprintf(out->item_id, sizeof out->item_id, "unknown");
	out->table[0] = '\0';
	if (a->i_id >= 0 && (size_t)a->i_id < len) {
		v = json_object_array_get_idx(row, (size_t)a->i_id);
		if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0) {
			snprintf(out->item_id, sizeof out->item_id, "%s",
				 json_object_get_string(v));
			if ((size_t)json_object_get_string_len(v) < AW_LA_KEY_MAX) {
				snprintf(out->key, sizeof out->key, "%s",
					 json_object_get_string(v));
				out->has_id = true;
			}
		}
	}
	if (a->i_type >= 0 && (size_t)a->i_type < len) {
		v = json_object_array_get_idx(row, (size_t)a->i_type);
		if (json_object_is_type(v, json_type_string))
			snprintf(out->table, sizeof out->table, "%s", json_object_get_string(v));
	}
	if (a->i_ing >= 0 && (size_t)a->i_ing < len) {
		v = json_object_array_get_idx(row, (size_t)a->i_ing);
		if (json_object_is_type(v, json_type_string) &&
		    aw_la_time_parse(json_object_get_string(v),
				     (size_t)json_object_get_string_len(v), &out->ing) == 0)
			out->has_ing = true;
	}
	if (!out->has_id) {
		/* No usable _ItemId: the row's own text identifies it. */
		size_t n = 0;
		const char *txt =
		    json_object_to_json_string_length(row, JSON_C_TO_STRING_PLAIN, &n);
		char hex[17];
		aw_la_hash_hex(txt ? txt : "", txt ? n : 0, hex);
		snprintf(out->key, sizeof out->key, "h:%s", hex);
	}
}

void aw_la_row_key(const struct aw_la_answer *a, size_t i, struct aw_la_row *out)
{
	json_object *row = json_object_array_get_idx(a->rows, i);
	size_t len = json_object_is_type(row, json_type_array) ? json_object_array_length(row) : 0;

	row_key_from(row, len, a, out);
}

static bool looks_like_json(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return *s == '{' || *s == '[';
}

/* A value cell() made: "oom" when it could not be allocated. */
static json_object *made(json_object *o, const char **reason)
{
	if (!o)
		*reason = "oom";
	return o;
}

/* The value of one cell as the event carries it; NULL with *reason when malformed (or
 * "oom"), NULL without it for a null cell. The result holds a new reference. */
static json_object *cell(const struct aw_la_col *col, json_object *v, const char **reason,
			 char *why, size_t whysz)
{
	const char *s, *jwhy;
	json_object *parsed;

	if (!v || json_object_is_type(v, json_type_null))
		return NULL;
	switch (col->type) {
	case AW_LA_T_DATETIME:
		if (!json_object_is_type(v, json_type_string)) {
			*reason = "bad_datetime";
			snprintf(why, whysz, "column %s: a datetime that is not a string",
				 col->name);
			return NULL;
		}
		if (json_object_get_string_len(v) == 0)
			return NULL;
		int64_t t;
		if (aw_la_time_parse(json_object_get_string(v),
				     (size_t)json_object_get_string_len(v), &t) != 0) {
			*reason = "bad_datetime";
			snprintf(why, whysz, "column %s: \"%.40s\" is not an ISO 8601 UTC datetime",
				 col->name, json_object_get_string(v));
			return NULL;
		}
		return json_object_get(v);
	case AW_LA_T_DYNAMIC:
		if (json_object_is_type(v, json_type_object) ||
		    json_object_is_type(v, json_type_array)) {
			/* Already parsed by someone: keep it as the JSON text it stands for. */
			const char *txt = json_object_to_json_string_ext(
			    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
			return made(txt ? json_object_new_string(txt) : NULL, reason);
		}
		/* a string holding JSON text is checked like a JSON-text column */
		__attribute__((fallthrough));
	case AW_LA_T_STRING:
		if (!json_object_is_type(v, json_type_string))
			return json_object_get(v);
		if (col->type == AW_LA_T_STRING && !col->json_text)
			return json_object_get(v);
		s = json_object_get_string(v);
		if (!looks_like_json(s))
			return json_object_get(v);
		parsed = parse_exact(s, (size_t)json_object_get_string_len(v), &jwhy);
		if (!parsed) {
			*reason = "bad_json";
			snprintf(why, whysz, "column %s: JSON text does not parse (%s)", col->name,
				 jwhy);
			return NULL;
		}
		json_object_put(parsed);
		return json_object_get(v);
	case AW_LA_T_BOOL:
		if (json_object_is_type(v, json_type_int))
			return made(json_object_new_boolean(json_object_get_int64(v) != 0), reason);
		if (json_object_is_type(v, json_type_string)) {
			s = json_object_get_string(v);
			if (!strcasecmp(s, "true") || !strcasecmp(s, "false"))
				return made(json_object_new_boolean(!strcasecmp(s, "true")),
					    reason);
		}
		return json_object_get(v);
	case AW_LA_T_INT:
		if (json_object_is_type(v, json_type_string)) {
			char *end;
			s = json_object_get_string(v);
			errno = 0;
			long long n = strtoll(s, &end, 10);
			if (*s && !*end && errno == 0)
				return made(json_object_new_int64(n), reason);
		}
		return json_object_get(v);
	case AW_LA_T_REAL:
	case AW_LA_T_OTHER:
		return json_object_get(v);
	}
	return json_object_get(v);
}

int aw_la_row_event(const struct aw_la_answer *a, size_t i, const char *default_type,
		    struct aw_la_row *out)
{
	json_object *row = json_object_array_get_idx(a->rows, i), *ev = NULL;
	size_t len;
	const char *txt;

	out->json = NULL;
	out->len = 0;
	out->reason = NULL;
	out->why[0] = '\0';
	if (!json_object_is_type(row, json_type_array)) {
		row_key_from(row, 0, a, out);
		out->reason = "bad_row";
		snprintf(out->why, sizeof out->why, "the row is not an array");
		return -1;
	}
	len = json_object_array_length(row);
	row_key_from(row, len, a, out);
	if (len != a->ncols) {
		out->reason = "column_count";
		snprintf(out->why, sizeof out->why, "the row has %zu values for %zu columns", len,
			 a->ncols);
		return -1;
	}
	if (!out->has_ing) {
		out->reason = "bad_datetime";
		snprintf(out->why, sizeof out->why, "no valid _aw_ingested (ingestion time)");
		return -1;
	}
	ev = json_object_new_object();
	if (!ev)
		goto oom;
	for (size_t c = 0; c < a->ncols; c++) {
		const char *reason = NULL;
		json_object *v = cell(&a->cols[c], json_object_array_get_idx(row, c), &reason,
				      out->why, sizeof out->why);
		if (reason && !strcmp(reason, "oom"))
			goto oom;
		if (reason) {
			out->reason = reason;
			json_object_put(ev);
			return -1;
		}
		if (v && json_object_object_add(ev, a->cols[c].name, v) != 0) {
			json_object_put(v);
			goto oom;
		}
	}
	if (!out->table[0] && default_type && *default_type) {
		snprintf(out->table, sizeof out->table, "%s", default_type);
		if (json_object_object_add(ev, "Type", json_object_new_string(default_type)) != 0)
			goto oom;
	}
	txt = json_object_to_json_string_length(
	    ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &out->len);
	if (!txt || !(out->json = malloc(out->len + 1)))
		goto oom;
	memcpy(out->json, txt, out->len + 1);
	json_object_put(ev);
	return 0;
oom:
	json_object_put(ev);
	out->reason = NULL;
	snprintf(out->why, sizeof out->why, "out of memory");
	return -2;
}
