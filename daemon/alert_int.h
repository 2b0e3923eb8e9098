/* Internals of alerts, shared by alert.c (the alert itself: id, JSON, size bound) and
 * alert_tables.c (the tables from rule tags to tactics and techniques, and from source
 * columns to entities). Not for other modules: their API is alert.h. */
#ifndef AW_ALERT_INT_H
#define AW_ALERT_INT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "alert.h"
#include "event_view.h"

#define AW_ALERT_MAX_ENTITIES	  32
#define AW_ALERT_MAX_ENTITY_BYTES 1024		 /* longer values are cut, with "…" */
#define AW_ALERT_MAX_TAG_IDS	  64		 /* per Tactics / Techniques array */
#define AW_ALERT_SAMPLE_DEPTH	  64		 /* JSON nesting accepted in a sample */
#define AW_ALERT_ELLIPSIS	  "\xe2\x80\xa6" /* U+2026 */

/* --- alert.c: helpers both files use ---------------------------------------------- */

static inline char aw_alert_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static inline bool aw_alert_caseeq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (aw_alert_lower(a[i]) != aw_alert_lower(b[i]))
			return false;
	return true;
}

/* Append v to array a (v may be NULL after a failed allocation); v is freed on failure. */
int aw_alert_push(struct json_object *a, struct json_object *v);

/* Write s's first n bytes, backed off to the start of a character (s[n] must be
 * readable), then "…" and a NUL to dst, which has room for n + sizeof AW_ALERT_ELLIPSIS.
 * Returns the length written, without the NUL. */
size_t aw_alert_cut(char *dst, const char *s, size_t n);

/* --- alert_tables.c: tactics and techniques ----------------------------------------- */

/* Add the rule's tactic and technique ids to the two arrays, each id once and at most
 * AW_ALERT_MAX_TAG_IDS per array; tags that are neither are ignored. -1 on OOM. */
int aw_alert_map_tags(const struct aw_alert_rule *r, struct json_object *tactics,
		      struct json_object *techniques);

/* --- alert_tables.c: entities ------------------------------------------------------- */

enum aw_entity_type {
	AW_ENT_IP,
	AW_ENT_ACCOUNT,
	AW_ENT_IDENTITY,
	AW_ENT_RESOURCE,
	AW_ENT_DEPLOYMENT,
	AW_ENT_SECRET,
	AW_ENT_USER_AGENT,
	AW_ENT_DEFENDER, /* SecurityAlert Entities: a JSON array of typed entities */
};

struct aw_entity_src; /* one row of the entity table */

struct aw_entity {
	enum aw_entity_type type;
	char *value; /* malloc'd, NUL-terminated, at most AW_ALERT_MAX_ENTITY_BYTES + "…" */
	size_t len;
	const struct aw_entity_src *src;
};

/* The entities of one event, in table order, de-duplicated per type. */
struct aw_entities {
	struct aw_entity e[AW_ALERT_MAX_ENTITIES];
	size_t n;
	bool oom; /* a value was lost to OOM: the caller fails the alert */
};

/* Fill es (zeroed by the caller) from the event's columns for its source table;
 * aw_alert_entities_free releases the values. */
void aw_alert_collect_entities(struct aw_event_view *ev, const char *table, struct aw_entities *es);
void aw_alert_entities_free(struct aw_entities *es);

/* The entity's Type in the alert ("ip", "account", ...). */
const char *aw_alert_entity_type(const struct aw_entity *e);
/* The column path it came from ("Claims.appid"), cut to fit name (size sz). */
void aw_alert_entity_field(const struct aw_entity *e, char *name, size_t sz);

#endif
