/* Sigma documents compiled into rules: detection rules, correlation rules, filters.
 *
 * aw_sigma_load_path() reads a rule file (one or several YAML documents) or a directory
 * of them (*.yml, *.yaml, recursively, in name order) and appends one struct
 * aw_sigma_rule per valid document. A document that fails is reported as
 * "file:line: rule <id or title>: reason" and skipped; the others still load, so one
 * bad rule never stops the rest (and `aiwatchd check` lists every error). References
 * between documents (correlation -> rules, filter -> rules) are resolved later, over
 * the whole set, by the rule set. The caller owns the vector (aw_sigma_rules_free). */
#ifndef AW_SIGMA_RULE_H
#define AW_SIGMA_RULE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "correlation.h"
#include "error.h"
#include "sigma_cond.h"
#include "sigma_item.h"

enum aw_sigma_kind { AW_SIGMA_DETECTION, AW_SIGMA_CORRELATION, AW_SIGMA_FILTER };

/* One search identifier: an OR of groups, each group an AND of items. */
struct aw_sigma_group {
	struct aw_sigma_item **items;
	size_t nitems;
};

struct aw_sigma_ident {
	char *name;
	struct aw_sigma_group *groups;
	size_t ngroups;
};

struct aw_sigma_detection {
	struct aw_sigma_ident *idents;
	size_t nidents;
	struct aw_cond *cond;
	/* aw_result_id of the detection's canonical text (its condition over its items'
	 * ids), so rules that say the same thing are evaluated once per event (the view
	 * keeps the result); 0 when an item has no id */
	unsigned id;
};

struct aw_sigma_rule {
	enum aw_sigma_kind kind;
	char *file;
	unsigned line;

	char *id, *name, *title, *description, *level, *status;
	char **tags;
	size_t ntags;
	char **falsepositives;
	size_t nfalsepositives;

	/* logsource (lower-case); NULL when absent */
	char *product, *service, *category;

	/* detection rules and filters */
	struct aw_sigma_detection det;

	/* correlation rules */
	struct aw_corr_spec corr;
	char **refs;              /* referenced rule ids or names (filters: `rules`) */
	size_t nrefs;
	bool refs_any;            /* filters: `rules: any` or empty */
	char **group_by;
	size_t ngroup_by;
	char *corr_field;         /* value_count / value_sum / value_avg / first_seen */
	/* aliases: alias name -> per referenced rule the field it maps to */
	struct aw_sigma_alias {
		char *alias;
		char **rule;      /* rule name */
		char **field;
		size_t n;
	} *aliases;
	size_t naliases;
	bool generate;
};

struct aw_sigma_rules {
	struct aw_sigma_rule **v;
	size_t n, cap;
};

/* Load a file or a directory. Returns the number of documents that failed (0 = all
 * loaded); errors go to errs. Never stops at the first bad rule. */
int aw_sigma_load_path(const char *path, const struct aw_sigma_compile_ctx *ctx,
		       struct aw_sigma_rules *out, struct aw_error_list *errs);

/* Compile one parsed YAML document (exposed for tests and the fuzz target). */
int aw_sigma_rule_compile(const struct aw_node *root, const char *file,
			  const struct aw_sigma_compile_ctx *ctx, struct aw_sigma_rule **out,
			  struct aw_error *err);

/* Evaluate a detection (or filter) against an event. */
bool aw_sigma_detection_match(const struct aw_sigma_detection *d, struct aw_event_view *ev);

void aw_sigma_rule_free(struct aw_sigma_rule *r);
void aw_sigma_rules_free(struct aw_sigma_rules *rs);

#endif
