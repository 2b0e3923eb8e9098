/* Internals shared by records.c (checking, classifying and delivering documents) and
 * records_map.c (diagnostic-settings records under Log Analytics column names). Not
 * for other modules: their API is records.h. */
#ifndef AW_RECORDS_INT_H
#define AW_RECORDS_INT_H

#include <json-c/json.h>
#include <stddef.h>

/* Nesting limit of a document, and of JSON text held in one of its strings. */
#define AW_RECORDS_MAX_DEPTH 64
/* How rebuilt records are written out: compact, '/' left unescaped. */
#define AW_RECORDS_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The Log Analytics form of one diagnostic-settings record: a new object the caller
 * releases with json_object_put(), or NULL with the reason in why. rec is borrowed. */
json_object *aw_records_map(json_object *rec, char *why, size_t whysz);

#endif
