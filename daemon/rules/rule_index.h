/* The rules of one route indexed by the values their events must have.
 *
 * Most detection rules require some fields to equal, start with, end with or contain
 * one of a few strings (`OperationName: ListKeys`, `ResultSignature: ['401', '403']`,
 * `Resource|startswith: oai-`). Such a rule is filed under each of those fields and
 * strings (case-folded); per event the index reads each indexed field once and yields
 * the candidate rules: those all of whose filed items hold, plus every rule that could
 * not be filed. A whole value is one hash lookup, ASCII prefixes and suffixes one
 * lookup per distinct length, substrings one search per distinct string, whatever the
 * number of rules filed under them, so adding rules of these shapes costs little for
 * events they cannot match. The candidates are a superset: each is still evaluated in
 * full. */
#ifndef AW_RULE_INDEX_H
#define AW_RULE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "event_view.h"

struct aw_rs_rule;
struct aw_rule_index;

/* Index the rules at positions 0..n-1 of a route (rules[order[k]] is position k).
 * NULL on allocation failure (the caller then evaluates every rule). */
struct aw_rule_index *aw_rule_index_build(const struct aw_rs_rule *rules, const size_t *order,
					  size_t n);
void aw_rule_index_free(struct aw_rule_index *ix);

/* Words of the candidate bit set (bit k = route position k). */
size_t aw_rule_index_words(const struct aw_rule_index *ix);
/* How many rules are filed under a value (the rest are always candidates). */
size_t aw_rule_index_filed(const struct aw_rule_index *ix);

/* Fill out[0..aw_rule_index_words) with the event's candidates (the index keeps a
 * per-event scratch count: one event at a time). */
void aw_rule_index_candidates(struct aw_rule_index *ix, struct aw_event_view *ev, uint64_t *out);

#endif
