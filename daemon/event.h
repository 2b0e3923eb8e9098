/* Events and records: what moves through the pipeline.
 *
 * An event is one Log Analytics record as a JSON object keyed by column name, with
 * `Type` naming its table. Inputs own the bytes until aw_input_emit() returns; the
 * engine copies what it keeps. A record is what an output delivers (an alert, or in
 * forward mode an event): serialized JSON plus the id and key outputs need. */
#ifndef AW_EVENT_H
#define AW_EVENT_H

#include <stddef.h>

struct aw_json_tokens;

struct aw_event {
	const char *json;       /* one JSON object, NUL-terminated */
	size_t len;             /* strlen(json) */
	const char *table;      /* the `Type` value; "" when absent */
	const char *origin;     /* where it came from, for messages: "path:line" */
	/* Optional (NULL): json's tokens as json_tok.c made them when the input already
	 * validated the record, so the engine does not tokenize it a second time. */
	const struct aw_json_tokens *tokens;
};

struct aw_record {
	char *data;             /* JSON object, NUL-terminated; owned by the pipeline */
	size_t len;
	char *id;               /* AlertId (or _ItemId in forward mode); may be NULL */
	char *key;              /* partition key for ordered outputs (Kafka); may be NULL */
};

#endif
