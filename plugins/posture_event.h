/* The AIWatchPosture event of one finding change (the columns in posture_spec: check,
 * resource, change, values, baseline, remediation, controls), as in_posture.c emits it.
 * Its _ItemId is a digest of what the change says and the finding's change count, so a
 * crash re-reports a change under the same id. */
#ifndef AW_POSTURE_EVENT_H
#define AW_POSTURE_EVENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "posture.h"
#include "posture_known.h"

struct aw_posture_change {
	const struct aw_posture_check *check;
	const char *resource_id;
	json_object *resource; /* the inventory element; NULL when it is gone */
	enum aw_pk_change change;
	const char *actual;   /* the value now (or why the finding is resolved) */
	const char *previous; /* CHANGED: the value last reported */
	uint32_t n;	      /* the number of this change of the finding */
};

/* The event's text (malloc'd, *len its length), TimeGenerated time_generated; NULL when
 * out of memory. */
char *aw_posture_event_json(const struct aw_posture_change *c, const char *time_generated,
			    size_t *len);

#endif
