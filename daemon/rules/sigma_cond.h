/* Sigma condition expressions, compiled once per rule.
 *
 * Grammar (sigma.md §1.7): `or` < `and` < `not` < `1 of`/`any of`/`all of` < parentheses;
 * `and`/`or` left-associative, keywords lower-case. Selectors (`1 of sel*`, `all of
 * them`) are expanded at compile time against the rule's identifiers; identifiers that
 * start with `_` only match patterns that start with `_` and are not part of `them`. A
 * selector that matches nothing, an unknown identifier or a syntax error is a compile
 * error that names the column. Evaluation short-circuits and asks the caller for the
 * value of each identifier it needs (the caller memoizes per event). */
#ifndef AW_SIGMA_COND_H
#define AW_SIGMA_COND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct aw_cond;

/* Compile `text` against the identifiers idents[0..n). On error returns -1 and err reads
 * like "condition column 14: unknown identifier 'selction' (known: selection, filter)". */
int aw_cond_compile(const char *text, const char *const *idents, size_t n, struct aw_cond **out,
		    struct aw_error *err);

/* OR of several compiled conditions (a YAML list of conditions). Takes ownership of
 * the parts (and frees them on failure). */
int aw_cond_any(struct aw_cond **parts, size_t n, struct aw_cond **out, struct aw_error *err);

/* The value of identifier idx for the event being evaluated. */
typedef bool (*aw_cond_ident_fn)(void *ud, size_t idx);

bool aw_cond_eval(const struct aw_cond *c, aw_cond_ident_fn ident, void *ud);

/* Identifiers the condition can read (bitmap-free: fills used[idx] = true). */
void aw_cond_used(const struct aw_cond *c, bool *used, size_t n);

/* Identifiers that must ALL be true for the condition to be true (used for literal
 * pre-filtering): fills required[idx] = true for each; conservative (may leave out some). */
void aw_cond_required(const struct aw_cond *c, bool *required, size_t n);

/* Sets of identifiers of which at least one must be true for the condition to be true
 * (`1 of key_auth_*` in `1 of key_auth_* and not filter`): fn gets each `or` of plain
 * identifiers (at most AW_COND_ANY_MAX) that the condition requires. Conservative, as
 * aw_cond_required. */
#define AW_COND_ANY_MAX 8
typedef void (*aw_cond_set_fn)(void *ud, const uint32_t *idents, size_t n);
void aw_cond_required_any(const struct aw_cond *c, aw_cond_set_fn fn, void *ud);

/* Canonical text of the compiled expression, e.g. "(a and (not b))", for tests and
 * `rules list`. malloc'd. */
char *aw_cond_describe(const struct aw_cond *c, const char *const *idents);

void aw_cond_free(struct aw_cond *c);

#endif
