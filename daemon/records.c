/* Turning an input document into events.
 *
 * Every document is first tokenized by json_tok.c, which also proves it is one
 * well-formed JSON value nested no deeper than AW_RECORDS_MAX_DEPTH (no allocation for
 * ordinary records); its top-level keys classify it. A Log Analytics record (has a
 * string `Type`) is delivered as its own bytes with those tokens, so the engine does
 * not tokenize it again. Diagnostic-settings records are rebuilt with json-c under
 * Log Analytics column names by records_map.c. */
#include "records.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "json_tok.h"
#include "records_int.h"

#define AW_RECORDS_MAX_DOC ((size_t)16 * 1024 * 1024)
/* Enough for a Log Analytics row of ~250 columns; larger documents count their tokens
 * first and allocate. */
#define AW_RECORDS_STACK_TOKENS 512
/* Records up to this size are copied to the stack to NUL-terminate them. */
#define AW_RECORDS_STACK_COPY 16384
#define AW_RECORDS_MAX_TABLE 256

/* Index of the token after the subtree at i (tokens already validated). */
static int tok_skip(const jsmntok_t *t, int i)
{
	int pending = 1;

	while (pending > 0) {
		pending += t[i].size;
		pending--;
		i++;
	}
	return i;
}

/* Whether key t is the literal s (sizeof s - 1 bytes): every record's every key is
 * classified, so the length is known at compile time and compared first. */
#define TOK_IS(js, t, s)                                                                   \
	((size_t)((t)->end - (t)->start) == sizeof(s) - 1 &&                               \
	 memcmp((js) + (t)->start, (s), sizeof(s) - 1) == 0)

/* ---- delivery ------------------------------------------------------------------- */

/* Map and deliver one record. Returns 1 delivered, 0 when the callback asked to
 * stop (still delivered: *stop set), -1 malformed (why says so). */
static int deliver_mapped(json_object *rec, const char *origin, aw_records_fn fn, void *ud,
			  bool *stop, char *why, size_t whysz)
{
	json_object *out, *type;
	struct aw_event ev = {.tokens = NULL};
	size_t n = 0;

	/* A records array may carry Log Analytics records too: they pass as they are. */
	if (json_object_object_get_ex(rec, "Type", &type) &&
	    json_object_is_type(type, json_type_string) && json_object_get_string_len(type) > 0)
		out = json_object_get(rec);
	else
		out = aw_records_map(rec, why, whysz);
	if (!out)
		return -1;
	ev.json = json_object_to_json_string_length(out, AW_RECORDS_JSON_FLAGS, &n);
	if (!ev.json) {
		json_object_put(out);
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	ev.len = n;
	ev.table = json_object_get_string(json_object_object_get(out, "Type"));
	ev.origin = origin;
	if (fn(ud, &ev) != 0)
		*stop = true;
	json_object_put(out);
	return 1;
}

static int parse_diagnostic(const char *buf, size_t len, const char *origin, bool wrapped,
			    aw_records_fn fn, void *ud, size_t *bad, struct aw_error *err)
{
	/* Nesting was checked by the tokenizer; json-c's own limit only has to be above it. */
	struct json_tokener *tok = json_tokener_new_ex(AW_RECORDS_MAX_DEPTH + 2);
	json_object *doc = NULL, *arr;
	char why[256];
	int delivered = 0;
	bool stop = false;

	if (!tok)
		return aw_error_set(err, "%s: out of memory", origin);
	doc = json_tokener_parse_ex(tok, buf, (int)len);
	if (!doc) {
		delivered = aw_error_set(
			err, "%s: not valid JSON (%s)", origin,
			json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if (!wrapped) {
		if (deliver_mapped(doc, origin, fn, ud, &stop, why, sizeof why) < 0)
			delivered = aw_error_set(err, "%s: %s", origin, why);
		else
			delivered = 1;
		goto out;
	}
	/* The tokenizer classified the document by its first "records" key; json-c
	 * keeps the last. A document that repeats the key with another type is
	 * malformed, not a reason to trust either copy. */
	arr = json_object_object_get(doc, "records");
	if (!json_object_is_type(arr, json_type_array)) {
		delivered = aw_error_set(err, "%s: \"records\" is given more than once, not "
					      "always as an array",
					 origin);
		goto out;
	}
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n && !stop; i++) {
		char sub[512];
		snprintf(sub, sizeof sub, "%s[%zu]", origin, i);
		int r = deliver_mapped(json_object_array_get_idx(arr, i), sub, fn, ud, &stop, why,
				       sizeof why);
		if (r < 0) {
			/* Not a failure of the document: say why, count it, carry on. */
			aw_error_set(err, "%s: record %zu: %s", origin, i, why);
			if (bad)
				(*bad)++;
			continue;
		}
		delivered++;
	}
out:
	json_object_put(doc);
	json_tokener_free(tok);
	return delivered;
}

/* The fast path: the record's own bytes, NUL-terminated in a copy unless the caller
 * vouched for a NUL right after them (nul_end). */
static int deliver_la(const char *buf, size_t len, bool nul_end, jsmntok_t *toks, bool *esc,
		      int ntok, const jsmntok_t *type, const char *origin, aw_records_fn fn,
		      void *ud, struct aw_error *err)
{
	const jsmntok_t *obj = &toks[0];
	struct aw_json_tokens pre;
	char table[AW_RECORDS_MAX_TABLE];
	char stackbuf[AW_RECORDS_STACK_COPY];
	char *copy = stackbuf;
	size_t n = (size_t)(obj->end - obj->start);
	struct aw_event ev;
	size_t tl;

	/* The table name is used as a C string: a \u0000 in it is no table name. */
	if (aw_json_unescape(buf + type->start, (size_t)(type->end - type->start), table,
			     sizeof table - 1, &tl) != 0 ||
	    memchr(table, '\0', tl) != NULL)
		return aw_error_set(err, "%s: Type is not a table name", origin);
	if (tl == 0)
		return aw_error_set(err, "%s: Type is empty", origin);
	table[tl] = '\0';
	if (nul_end && obj->start == 0 && (size_t)obj->end == len) {
		pre = (struct aw_json_tokens){.tok = toks, .esc = esc, .n = ntok};
		ev = (struct aw_event){.json = buf, .len = n, .table = table, .origin = origin,
				       .tokens = &pre};
		fn(ud, &ev);
		return 1;
	}
	if (n + 1 > sizeof stackbuf) {
		copy = malloc(n + 1);
		if (!copy)
			return aw_error_set(err, "%s: out of memory", origin);
	}
	memcpy(copy, buf + obj->start, n);
	copy[n] = '\0';
	/* the copy starts at the object: offsets move with it (after the last use of the
	 * Type token, which may be moved too) */
	if (obj->start != 0) {
		int shift = obj->start;
		for (int i = 0; i < ntok; i++) {
			toks[i].start -= shift;
			toks[i].end -= shift;
		}
	}
	pre = (struct aw_json_tokens){.tok = toks, .esc = esc, .n = ntok};
	ev = (struct aw_event){.json = copy, .len = n, .table = table, .origin = origin,
			       .tokens = &pre};
	fn(ud, &ev);
	if (copy != stackbuf)
		free(copy);
	return 1;
}

static int parse(const char *buf, size_t len, bool nul_end, const char *origin,
		 aw_records_fn fn, void *ud, size_t *bad, struct aw_error *err)
{
	jsmntok_t stack_toks[AW_RECORDS_STACK_TOKENS];
	bool stack_esc[AW_RECORDS_STACK_TOKENS];
	jsmntok_t *toks = stack_toks;
	bool *esc = stack_esc;
	unsigned cap = AW_RECORDS_STACK_TOKENS;
	struct aw_jtok_err jerr;
	int ntok, rc = -1;
	int i_type = -1, i_records = -1;
	bool has_time = false, has_diag_key = false;

	if (!origin)
		origin = "input";
	if (len > AW_RECORDS_MAX_DOC)
		return aw_error_set(err, "%s: document too large (%zu bytes, limit 16 MiB)", origin,
				    len);
	for (;;) {
		ntok = aw_json_tokenize(buf, len, toks, cap, esc, AW_RECORDS_MAX_DEPTH, &jerr);
		if (ntok != AW_JTOK_NOMEM)
			break;
		/* a document with more tokens than bytes/2 cannot exist: bounded growth */
		if (toks != stack_toks) {
			free(toks);
			free(esc);
		}
		cap *= 4;
		toks = malloc((size_t)cap * sizeof *toks);
		esc = malloc((size_t)cap * sizeof *esc);
		if (!toks || !esc) {
			aw_error_set(err, "%s: out of memory (%u JSON tokens)", origin, cap);
			goto out;
		}
	}
	if (ntok == AW_JTOK_DEEP) {
		aw_error_set(err, "%s: nested deeper than %d levels", origin, AW_RECORDS_MAX_DEPTH);
		goto out;
	}
	if (ntok < 0) {
		if (aw_json_skip_ws(buf, 0, len) == len)
			aw_error_set(err, "%s: empty document", origin);
		else
			aw_error_set(err, "%s: not valid JSON (%s at byte %zu)", origin,
				     jerr.early	     ? "ends early"
				     : jerr.trailing ? "trailing data"
						     : "unexpected data",
				     jerr.pos);
		goto out;
	}
	if (toks[0].type != JSMN_OBJECT) {
		aw_error_set(err, "%s: not a JSON object", origin);
		goto out;
	}

	/* By length first: this runs over every key of every record. A Type names a Log
	 * Analytics row whatever else it holds, so the first one ends the search (it is
	 * the second column of most tables). */
	for (int i = 1; i < ntok && i_type < 0; i = tok_skip(toks, i + 1)) {
		const jsmntok_t *k = &toks[i], *v = &toks[i + 1];
		switch (k->end - k->start) {
		case 4:
			if (TOK_IS(buf, k, "Type") && v->type == JSMN_STRING)
				i_type = i + 1;
			else if (TOK_IS(buf, k, "time"))
				has_time = true;
			break;
		case 7:
			if (TOK_IS(buf, k, "records") && v->type == JSMN_ARRAY)
				i_records = i + 1;
			break;
		case 8:
		case 10:
		case 13:
			if (TOK_IS(buf, k, "resourceId") || TOK_IS(buf, k, "category") ||
			    TOK_IS(buf, k, "operationName"))
				has_diag_key = true;
			break;
		default:
			break;
		}
	}
	if (i_type >= 0)
		rc = deliver_la(buf, len, nul_end, toks, esc, ntok, &toks[i_type], origin, fn, ud,
				err);
	else if (i_records >= 0)
		rc = parse_diagnostic(buf, len, origin, true, fn, ud, bad, err);
	else if (has_time && has_diag_key)
		rc = parse_diagnostic(buf, len, origin, false, fn, ud, bad, err);
	else
		aw_error_set(err, "%s: record has neither Type nor records", origin);
out:
	if (toks != stack_toks) {
		free(toks);
		free(esc);
	}
	return rc;
}

int aw_records_parse(const char *buf, size_t len, const char *origin, aw_records_fn fn,
		     void *ud, size_t *bad, struct aw_error *err)
{
	return parse(buf, len, false, origin, fn, ud, bad, err);
}

int aw_records_parse_z(const char *buf, size_t len, const char *origin, aw_records_fn fn,
		       void *ud, size_t *bad, struct aw_error *err)
{
	return parse(buf, len, true, origin, fn, ud, bad, err);
}
