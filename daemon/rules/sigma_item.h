/* Sigma detection items: one `field|modifier|...: value(s)` entry (or a keyword list)
 * compiled to its cheapest matchers, and evaluated against an event view.
 *
 * Every value is compiled once: Sigma wildcards and escapes (sigma.md §1.4) decide the
 * matcher (exact, prefix, suffix, substring, glob, regex); case-insensitive by default
 * (patterns folded once at load, event values folded per comparison without allocation);
 * modifiers per sigma.md §1.5 / §6.1. An unknown modifier or a contradictory chain is a
 * compile error; nothing is silently ignored. */
#ifndef AW_SIGMA_ITEM_H
#define AW_SIGMA_ITEM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "event_view.h"

/* Placeholder table for the `expand` modifier: %name% -> values. */
struct aw_sigma_placeholder {
	const char *name;              /* without the % signs */
	const char *const *values;
	size_t nvalues;
};

/* Field-name mapping for rules written for another schema (e.g. SigmaHQ's
 * `operationName` -> our `OperationNameValue`): applied to rule field names, group-by
 * fields and correlation fields when the rules are compiled. */
struct aw_sigma_field_map {
	const char *from;
	const char *to;
};

struct aw_sigma_compile_ctx {
	const struct aw_sigma_placeholder *placeholders;
	size_t nplaceholders;
	const struct aw_sigma_field_map *field_map;
	size_t nfield_map;
	unsigned regex_match_limit;    /* PCRE2 match limit (0: a safe default) */
	size_t windash_max_variants;   /* cap on windash expansion (0: a safe default) */
};

struct aw_sigma_item;

/* Compile one map entry. `key` is the YAML key as written ("field|contains|all",
 * "|all" or "" for keywords); `value` is its YAML node (scalar, or sequence of
 * scalars; typed like PyYAML: unquoted ints/floats are numbers, true/false booleans,
 * null/~/empty null; quoted scalars are strings). Errors name the modifier or value. */
/* The field name rules should use for `name` after mapping (name itself if unmapped). */
const char *aw_sigma_map_field(const struct aw_sigma_compile_ctx *ctx, const char *name);

int aw_sigma_item_compile(const char *key, const struct aw_node *value,
			  const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_item **out,
			  struct aw_error *err);

/* A keyword search item from a list of plain values (a detection identifier whose
 * definition is a list of scalars): case-insensitive substring over every string leaf. */
int aw_sigma_keywords_compile(const struct aw_node *list, const struct aw_sigma_compile_ctx *ctx,
			      struct aw_sigma_item **out, struct aw_error *err);

/* Whether the event matches the item. Items written alike share an id and their
 * result is kept in the view for the rest of the event (aw_event_view_result). */
bool aw_sigma_item_match(const struct aw_sigma_item *it, struct aw_event_view *ev);

/* The item's id: the same for items with the same key and values (0: none). */
unsigned aw_sigma_item_id(const struct aw_sigma_item *it);

/* A literal (already case-folded) that every matching event's text must contain, for
 * pre-filtering; NULL when there is none (e.g. OR of values, regex, numbers, neq). */
const char *aw_sigma_item_required_literal(const struct aw_sigma_item *it, size_t *len);

/* Whether evaluating the item costs more than a substring search of the whole record
 * (keywords, regular expressions, long value lists): only such rules are pre-filtered
 * by their required literal; for the rest the field lookup is the cheaper test. */
bool aw_sigma_item_costly(const struct aw_sigma_item *it);

/* When the item says only "the field is, starts with, ends with or contains one of
 * these strings" (case-insensitive; no wildcard inside a value, regex, number, neq,
 * `all` or `cased`), the compiled matcher of each value: up to cap of them into out,
 * returning their count; 0 otherwise (or when there are more than cap). The pointers
 * are the item's. Used to index rules by value (rule_index.c), which runs exactly these
 * matchers, so the index and the full evaluation cannot disagree. */
struct aw_sigma_str;
size_t aw_sigma_item_literal_matchers(const struct aw_sigma_item *it,
				      const struct aw_sigma_str **out, size_t cap);
/* Whether the item holds exactly when its field is absent or null (`field: null`);
 * the rule index files such items too. */
bool aw_sigma_item_is_null(const struct aw_sigma_item *it);
/* The compiled field reference (NULL for keywords). */
const struct aw_field_ref *aw_sigma_item_ref(const struct aw_sigma_item *it);

/* The field the item reads (NULL for keywords). */
const char *aw_sigma_item_field(const struct aw_sigma_item *it);

void aw_sigma_item_free(struct aw_sigma_item *it);

#endif
