/* A read-only view of one event for rule evaluation.
 *
 * aw_event_view_reset() tokenizes the event's JSON object once (json_tok.c, no tree;
 * or adopts the tokens the input already made); a field is then found by column name: the literal key first, then as a dotted
 * path through nested objects and through columns that hold JSON text (properties_s,
 * Properties, Claims, ExtendedProperties, Entities, ...), which are tokenized lazily, at
 * most once per event. Arrays are traversed element-wise (a rule value matches if any
 * element matches). When no key matches exactly, a case-insensitive match is tried.
 * The view owns reusable buffers (tokens, unescaped strings) grown up to a ceiling, so
 * evaluating an event allocates nothing once the view is warm. Not thread-safe. */
#ifndef AW_EVENT_VIEW_H
#define AW_EVENT_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum aw_val_kind {
	AW_VAL_NULL = 1,   /* JSON null */
	AW_VAL_STRING,     /* s/len: the unescaped bytes */
	AW_VAL_NUMBER,     /* s/len: the literal; num: its value */
	AW_VAL_BOOL,       /* s/len: "true"/"false"; b */
	AW_VAL_OBJECT,     /* s/len: the compact JSON text as it appears in the event */
	AW_VAL_ARRAY,      /* s/len: likewise (an array is also visited element-wise) */
};

/* One value of a field. Pointers are valid until the next reset or lookup callback
 * returns. num is set for a NUMBER; for a STRING ask aw_val_number(). */
struct aw_val {
	enum aw_val_kind kind;
	const char *s;
	size_t len;
	double num;
	bool b;
};

/* The value as a number: a NUMBER, or a STRING whose whole text is one ("42",
 * "-1.5e3"; Log Analytics often carries numbers as strings), so numeric comparisons
 * work on either form. Computed on demand: most strings an event shows the rules
 * (ids, addresses, names) are never compared as numbers. */
bool aw_val_number(const struct aw_val *v, double *out);

/* A field name compiled once (rule load): the literal name and its dot-separated path. */
struct aw_field_ref {
	char *name;           /* as written in the rule */
	size_t len;
	char **seg;           /* path segments, when the name contains dots */
	size_t *seglen;       /* their lengths */
	size_t nseg;
	unsigned id;          /* aw_field_id() of name, for the view's per-event memo;
				 0 when none was left */
	unsigned id0;         /* aw_field_id() of seg[0], when there are segments */
};

int aw_field_ref_init(struct aw_field_ref *f, const char *name, struct aw_error *err);
void aw_field_ref_free(struct aw_field_ref *f);

struct aw_event_view;

/* max_tokens bounds the tokens of one event (top level plus nested JSON text); an event
 * over the bound is reported by reset as malformed ("too many JSON tokens"). */
struct aw_event_view *aw_event_view_new(size_t max_tokens);
void aw_event_view_free(struct aw_event_view *v);

/* Point the view at a new event (the bytes are borrowed until the next reset). Returns
 * 0, or -1 when the event is not one JSON object (err says why). */
int aw_event_view_reset(struct aw_event_view *v, const char *json, size_t len,
			struct aw_error *err);

/* The same, with the tokens json_tok.c already made for this text (an input that
 * validated the record); NULL, or tokens that do not cover the text, means tokenize. */
struct aw_json_tokens;
int aw_event_view_reset_tokens(struct aw_event_view *v, const char *json, size_t len,
			       const struct aw_json_tokens *pre, struct aw_error *err);

/* Called for each value found; return non-zero to stop the iteration. */
typedef int (*aw_val_fn)(void *ud, const struct aw_val *val);

/* Visit every value of field f: the field itself, and when it is an array, each
 * element (recursively). Returns 1 if the field exists (even when null), 0 if absent;
 * *stopped (may be NULL) is set when fn stopped the iteration. */
int aw_event_view_get(struct aw_event_view *v, const struct aw_field_ref *f, aw_val_fn fn,
		      void *ud, bool *stopped);

/* The value of field f when it is a top-level string column without escapes, the
 * commonest case, found without a callback or the memo: 1 with its bytes in *s and
 * *len, 0 when f is absent, -1 when it is anything else (then ask aw_event_view_get,
 * which also sees arrays, escapes and paths). */
int aw_event_view_peek_string(struct aw_event_view *v, const struct aw_field_ref *f,
			      const char **s, size_t *len);

/* Results callers computed from the current event, by id. The view begins with this
 * (a pointer to the view is a pointer to it), so the checks below are inlined where
 * rules run: there are several per rule and event. */
struct aw_view_results {
	uint64_t gen; /* the current event; 0 while the view holds none */
	struct aw_view_result {
		uint64_t gen; /* the event it was computed for */
		bool r;
	} *v;
	size_t cap;
};

void aw_view_results_grow(struct aw_view_results *rs, unsigned id, bool r);

/* A result a caller computed from this event, kept for the rest of it under an id from
 * aw_result_id (a Sigma item's text: rules repeat items): 1 true, 0 false, -1 not
 * known for this event. set_result fails quietly when it cannot grow (the caller
 * then computes again). */
static inline int aw_event_view_result(const struct aw_event_view *v, unsigned id)
{
	const struct aw_view_results *rs = (const struct aw_view_results *)(const void *)v;

	if (id >= rs->cap || rs->v[id].gen != rs->gen || rs->gen == 0)
		return -1;
	return rs->v[id].r;
}

static inline void aw_event_view_set_result(struct aw_event_view *v, unsigned id, bool r)
{
	struct aw_view_results *rs = (struct aw_view_results *)(void *)v;

	if (rs->gen == 0)
		return;
	if (id < rs->cap)
		rs->v[id] = (struct aw_view_result){.gen = rs->gen, .r = r};
	else
		aw_view_results_grow(rs, id, r);
}

/* Visit every string leaf of the event, nested JSON text included (keyword search). */
void aw_event_view_each_string(struct aw_event_view *v, aw_val_fn fn, void *ud);

/* Bytes the view holds in its reusable buffers (tests check a warm view stops growing). */
size_t aw_event_view_footprint(const struct aw_event_view *v);

/* The whole event text (for literal pre-filters). */
const char *aw_event_view_text(const struct aw_event_view *v, size_t *len);

#endif
