/* A rule set: every loaded Sigma document, with references resolved and rules routed.
 *
 * Routing: each event's log source (service, category) is derived from its table and a
 * field or two (aw_ruleset_classify, one table in ruleset.c), and only the detection
 * rules of that source meet the event; a rule's category is compared once per event
 * and route (a bit mask), not once per rule. A costly rule (keywords, regular
 * expressions, long value lists) also carries the literal its condition requires, if
 * any, so it is skipped with one substring search when the record lacks it.
 * Correlations are linked to the rules they reference (by id or name); referenced rules
 * are silent unless a correlation says `generate: true`. Filters are attached to the
 * rules they name (or every rule of their log source with `rules: any`). */
#ifndef AW_RULESET_H
#define AW_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "correlation.h"
#include "error.h"
#include "event_view.h"
#include "sigma_rule.h"

struct aw_ruleset_conf {
	const char *const *paths;      /* rule files or directories */
	size_t npaths;
	struct aw_sigma_compile_ctx compile;
	uint64_t allowed_lateness_ms;
	size_t max_groups_per_rule;
	size_t max_groups_total;
};

/* A correlation's link to one rule (detection or correlation) that feeds it. */
struct aw_rs_feed {
	size_t corr;                   /* index in rs->corrs */
	size_t pos;                    /* position of the referenced rule in its `rules` */
};

struct aw_rs_rule {
	struct aw_sigma_rule *rule;    /* owned by rs->all */
	bool silent;                   /* referenced by a correlation without generate */
	struct aw_sigma_rule **filters;
	size_t nfilters;
	struct aw_rs_feed *feeds;      /* correlations this rule's matches go to */
	size_t nfeeds;
	char *literal;                 /* folded literal every match contains, or NULL */
	size_t literal_len;
	bool costly;                   /* worth the literal search before evaluating */
	int cat;                       /* index in its route's cats; -1: any category */
};

struct aw_rs_corr {
	struct aw_sigma_rule *rule;
	struct aw_corr *state;
	bool silent;                   /* referenced by another correlation */
	struct aw_rs_feed *feeds;      /* parent correlations (chains) */
	size_t nfeeds;
	/* per referenced rule, the group-by fields to read (aliases resolved) */
	struct aw_field_ref **group_fields; /* [nrefs][ngroup_by] */
	struct aw_field_ref value_field;
	bool has_value_field;
};

/* Categories are compared once per event, not once per rule: the route lists the
 * distinct ones its rules name, and aw_ruleset_category_mask says which of them an
 * event has (bit i = cats[i]; rules whose index is AW_RS_MAX_CATS or more compare
 * their own). */
#define AW_RS_MAX_CATS 64
struct aw_rs_route {
	char *service;
	size_t *rules;                 /* indices into rs->rules */
	size_t n;
	char **cats;
	size_t ncats;
	struct aw_rule_index *index;   /* candidates by value (rule_index.h); may be NULL */
};

struct aw_ruleset {
	struct aw_sigma_rules all;
	struct aw_rs_rule *rules;      /* detection rules */
	size_t nrules;
	struct aw_rs_corr *corrs;
	size_t ncorrs;
	struct aw_rs_route *routes;
	size_t nroutes;
	size_t unrouted;               /* rules whose log source no event has */
	struct aw_corr_budget budget;
};

/* Which of route's categories equal (ASCII case-insensitively) category. */
uint64_t aw_ruleset_category_mask(const struct aw_rs_route *rt, const char *category);

/* Load every path. Returns the rule set (possibly with some rules missing) and adds
 * every problem to errs; NULL only on allocation failure. */
struct aw_ruleset *aw_ruleset_load(const struct aw_ruleset_conf *conf, struct aw_error_list *errs);
void aw_ruleset_free(struct aw_ruleset *rs);

/* What classifying an event read and concluded, kept by the caller between events. */
struct aw_class_memo {
	bool have;
	char table[64];
	char provider[64]; /* the columns' text as read (at most the buffer's size - 1) */
	size_t plen;
	char category[128];
	size_t clen;
	int entry; /* the table entry that applied, or -1 */
	bool by_provider; /* the table's entries tell providers apart */
	const char *service;
	const struct aw_rs_route *route;
	uint64_t catmask; /* aw_ruleset_category_mask(route, category) */
};

/* The log source of an event, from its table name and the columns that narrow it
 * (ResourceProvider, the category column): the event's route (NULL when none) and its
 * category mask, as aw_ruleset_route and aw_ruleset_category_mask give them for the
 * service and category the table says; m->service is the service, m->category the
 * category. m remembers the answer, and an event whose table and classifying columns
 * read the same as the last one's gets it without the lookups. m starts zeroed and
 * belongs to one rule set. */
const struct aw_rs_route *aw_ruleset_classify(const struct aw_ruleset *rs, const char *table,
					      struct aw_event_view *ev, struct aw_class_memo *m,
					      uint64_t *catmask);

const struct aw_rs_route *aw_ruleset_route(const struct aw_ruleset *rs, const char *service);

#endif
