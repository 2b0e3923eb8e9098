/* The engine: turns events into records (alerts) for the outputs.
 *
 * Until the Sigma engine lands (its own issue), the engine can forward each event as a
 * record (pipeline.forward_events), which is how the file-to-file pipeline and the
 * demo run. The interface is what the rule engine implements: evaluate one event,
 * yield zero or more records through a callback, synchronously, on the loop thread. */
#ifndef AW_ENGINE_H
#define AW_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "event.h"

struct aw_engine;

/* Called for each record an event produces; the record's fields are copied by the
 * callee. Returns 0, or -1 when the record could not be queued. */
typedef int (*aw_engine_emit_fn)(void *ud, const struct aw_record *rec);

struct aw_engine *aw_engine_new(bool forward_events, struct aw_error *err);
void aw_engine_free(struct aw_engine *e);

/* Evaluate one event. Returns the number of records yielded (>= 0) or -1 with err. */
int aw_engine_eval(struct aw_engine *e, const struct aw_event *ev, aw_engine_emit_fn emit,
		   void *ud, struct aw_error *err);

#endif
