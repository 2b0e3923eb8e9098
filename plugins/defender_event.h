/* Defender for Cloud findings read over ARM or Resource Graph, turned into events with
 * the Log Analytics column names (log-schemas.md §4): an assessment becomes a
 * `SecurityRecommendation` row, an alert a `SecurityAlert` row, so the rules written for
 * Defender's continuous export to a workspace serve the ARM path unchanged.
 *
 * aw_def_finding_read() checks an item and picks out what identifies it (its ARM id and
 * the resource it is about) and its state (assessment status.code, alert status);
 * aw_def_event_json() writes the event. Strings in a finding point into the item. */
#ifndef AW_DEFENDER_EVENT_H
#define AW_DEFENDER_EVENT_H

#include <json-c/json.h>
#include <stddef.h>

#define AW_DEF_STATE_MAX 48 /* longer status values are malformed */

enum aw_def_kind { AW_DEF_ASSESSMENT, AW_DEF_ALERT };

struct aw_def_finding {
	enum aw_def_kind kind;
	const char *id;	      /* the ARM id */
	const char *resource; /* the assessed / alerted resource id, or "" */
	const char *state;    /* Healthy | Unhealthy | NotApplicable; Active | InProgress | ... */
	const char *time;     /* the finding's own time for TimeGenerated, or NULL */
	char resbuf[1024];    /* resource derived from the id when the item names none */
};

/* "SecurityRecommendation" / "SecurityAlert"; "assessment" / "alert". */
const char *aw_def_table(enum aw_def_kind k);
const char *aw_def_kind_name(enum aw_def_kind k);

/* The kind of a Resource Graph row from its `type`; -1 when it is neither. */
int aw_def_kind_of_type(const char *type);

/* Check an item and fill *f. 0, or -1 with a reason in why (whysz bytes) when the item
 * is malformed: not an object, no id, no properties, no status, a status too long, a
 * datetime that is not an ISO 8601 string. */
int aw_def_finding_read(json_object *item, enum aw_def_kind kind, struct aw_def_finding *f,
			char *why, size_t whysz);

/* The id of an item for messages: its "id" when it is a string, else "(no id)". */
const char *aw_def_item_name(json_object *item);

/* The event for a finding read from item, malloc'd JSON text (*len bytes), or NULL
 * when out of memory. item_id is its _ItemId; now_iso is TimeGenerated when the
 * finding carries no time of its own. */
char *aw_def_event_json(json_object *item, const struct aw_def_finding *f, const char *item_id,
			const char *now_iso, size_t *len);

#endif
