/* The engine: turns events into records (alerts) for the outputs.
 *
 * It routes each event to the Sigma rules of its log source, evaluates them, feeds
 * correlations, and yields an alert per match (detection rules that no correlation
 * silences) or per firing window (correlations) through a callback, synchronously, on
 * the loop thread. With forward_events it also yields each event itself, which is how
 * a pipeline without rules is tested end to end. */
#ifndef AW_ENGINE_H
#define AW_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "event.h"

struct aw_engine;

struct aw_engine_conf {
	bool forward_events;
	const char *const *rule_paths;   /* files or directories of Sigma rules */
	size_t nrule_paths;
	uint64_t allowed_lateness_ms;    /* correlation windows accept events this late */
	size_t max_groups_per_rule;      /* correlation groups per rule (0: 100000) */
	size_t max_groups_total;         /* across all correlations (0: 1000000) */
	size_t alert_max_bytes;          /* evidence is trimmed to keep alerts under this */
	const char *const *field_mappings; /* "RuleField=OurColumn" for foreign rule sets */
	size_t nfield_mappings;
	const char *const *placeholders;   /* "name=v1,v2" for the Sigma `expand` modifier */
	size_t nplaceholders;
	const char *host;                /* Host in alerts (NULL: gethostname) */
};

/* Called for each record an event produces; the record's fields are copied by the
 * callee. Returns 0, or -1 when the record could not be queued. */
typedef int (*aw_engine_emit_fn)(void *ud, const struct aw_record *rec);

/* Load the rules. Every rule that fails is reported in errs (file:line: rule id:
 * reason) and left out; the engine runs with the rest. NULL only when nothing could be
 * set up at all (errs says why). */
struct aw_engine *aw_engine_new(const struct aw_engine_conf *conf, struct aw_error_list *errs);
void aw_engine_free(struct aw_engine *e);

/* Evaluate one event. Returns the number of records yielded (>= 0) or -1 with err
 * when the event is not a JSON object. */
int aw_engine_eval(struct aw_engine *e, const struct aw_event *ev, aw_engine_emit_fn emit,
		   void *ud, struct aw_error *err);

/* Count alerts in aiwatch_alerts_total{rule,severity} (and engine gauges) in m. */
struct aw_metrics;
void aw_engine_set_metrics(struct aw_engine *e, struct aw_metrics *m);

/* Counts for `rules list` and metrics. */
struct aw_engine_stats {
	size_t detection_rules, correlation_rules, filters, unrouted;
	size_t correlation_groups;
	uint64_t evicted_groups, too_late, dropped;
};
void aw_engine_stats(const struct aw_engine *e, struct aw_engine_stats *st);

/* Print every loaded rule and where it is routed (aiwatchd rules list). */
void aw_engine_describe(const struct aw_engine *e, FILE *out);

/* Save / restore correlation state in dir (one file per correlation): on restart, open
 * windows continue where they were. A missing file is not an error; a corrupt one is
 * logged and that correlation starts empty. */
int aw_engine_save_state(const struct aw_engine *e, const char *dir, struct aw_error *err);
int aw_engine_load_state(struct aw_engine *e, const char *dir, struct aw_error *err);

#endif
