/* Alerts: the one JSON schema every output (and the Sentinel table) receives.
 *
 * TimeGenerated, AlertId, RuleId, RuleTitle, Severity, Description, Tactics,
 * Techniques, WindowStart, WindowEnd, EventCount, GroupBy, Entities, ResourceId,
 * SourceTable, Evidence, Host, Version (design.md). AlertId is deterministic: the same
 * rule, group and window always give the same id, so a SIEM can de-duplicate what an
 * at-least-once pipeline delivers twice. Entities are taken from the triggering event
 * by field role, from a table per source table. */
#ifndef AW_ALERT_H
#define AW_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "event.h"
#include "event_view.h"

/* What the rule contributes. level: informational|low|medium|high|critical (Sigma);
 * tags: Sigma tags (attack.t1078.004, attack.credential-access, atlas.aml.t0051...). */
struct aw_alert_rule {
	const char *id;
	const char *title;
	const char *description;
	const char *level;
	const char *const *tags;
	size_t ntags;
};

struct aw_alert_input {
	const struct aw_alert_rule *rule;
	int64_t window_start_ms;
	int64_t window_end_ms;
	uint64_t event_count;
	const char *const *group_fields;   /* group-by field names ... */
	const char *const *group_values;   /* ... and their values */
	size_t ngroup;
	struct aw_event_view *event;        /* the triggering event (entities, ResourceId) */
	const char *source_table;           /* its Type */
	const char *const *item_ids;        /* evidence: _ItemIds (bounded by the caller) */
	size_t nitem_ids;
	const char *const *samples;         /* evidence: a few event JSON texts */
	size_t nsamples;
	bool single_event;                  /* a detection rule's match (not a correlation):
	                                       its id includes the event's _ItemId */
	const char *dedup_key;              /* single events: identifies the finding instead
	                                       of _ItemId (SecurityAlert: SystemAlertId, so
	                                       status updates of one alert share an id) */
	const char *host;                   /* this daemon's host name */
	int64_t now_ms;                     /* TimeGenerated */
};

/* Build the alert as a record: data (the JSON object), id (AlertId), key (the primary
 * entity, for ordered outputs). To stay under max_bytes, samples are dropped first,
 * then item ids, then Description is shortened; no other field is touched. The record's
 * strings are malloc'd; aw_alert_record_free releases them. */
int aw_alert_build(const struct aw_alert_input *in, size_t max_bytes, struct aw_record *out,
		   struct aw_error *err);
void aw_alert_record_free(struct aw_record *r);

/* The deterministic id: hex of SHA-256 over rule id, sorted group pairs and window
 * start (or the triggering event's _ItemId for single-event detections), 32 chars. */
void aw_alert_id(const struct aw_alert_input *in, const char *event_item_id, char out[33]);

/* Severity from a Sigma level: Informational|Low|Medium|High (critical -> High). */
const char *aw_alert_severity(const char *level);

#endif
