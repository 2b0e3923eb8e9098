/* Turning an input document into events.
 *
 * One line (or message) holds either a Log Analytics record (a JSON object with
 * `Type`), a diagnostic-settings document `{"records":[...]}`, or one bare
 * diagnostic-settings record (storage export form). Diagnostic-settings records are
 * mapped to Log Analytics column names (log-schemas.md §0.3: time→TimeGenerated,
 * callerIpAddress→CallerIPAddress, properties→properties_s, resourceId split into
 * SubscriptionId/ResourceGroup/ResourceProvider/Resource, string numbers kept as
 * numbers where the column is numeric) so one rule serves both forms. The Event Hubs
 * input uses the same code. */
#ifndef AW_RECORDS_H
#define AW_RECORDS_H

#include <stddef.h>

#include "error.h"
#include "event.h"

/* Called once per event found; the event is valid only during the call. Return 0 to
 * continue, non-zero to stop. */
typedef int (*aw_records_fn)(void *ud, const struct aw_event *ev);

/* Parse `buf` (len bytes, need not be NUL-terminated). `origin` names it in messages
 * and in each event. Returns the number of events delivered (>= 0), or -1 when the
 * document is malformed as a whole (err names the reason). A document with several
 * records where some are malformed delivers the good ones, adds the count of bad ones
 * to *bad (may be NULL) and returns the count delivered. */
int aw_records_parse(const char *buf, size_t len, const char *origin, aw_records_fn fn,
		     void *ud, size_t *bad, struct aw_error *err);

/* The same for a buffer with a NUL at buf[len] (a line split in place): a Log
 * Analytics record that is the whole line is handed on as it is, not copied. */
int aw_records_parse_z(const char *buf, size_t len, const char *origin, aw_records_fn fn,
		       void *ud, size_t *bad, struct aw_error *err);

#endif
