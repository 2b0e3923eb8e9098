/* Interim engine (forward mode only) while the rule engine's modules are being
 * integrated; replaced by the full engine in the next commit. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

struct aw_engine {
	bool forward_events;
};

struct aw_engine *aw_engine_new(const struct aw_engine_conf *conf, struct aw_error_list *errs)
{
	struct aw_engine *e = calloc(1, sizeof *e);

	if (!e) {
		aw_error_list_add(errs, "engine: out of memory");
		return NULL;
	}
	e->forward_events = conf->forward_events;
	return e;
}

void aw_engine_free(struct aw_engine *e)
{
	free(e);
}

int aw_engine_eval(struct aw_engine *e, const struct aw_event *ev, aw_engine_emit_fn emit,
		   void *ud, struct aw_error *err)
{
	struct aw_record rec = {0};

	if (!e->forward_events)
		return 0;
	rec.data = (char *)ev->json;
	rec.len = ev->len;
	if (emit(ud, &rec) != 0)
		return aw_error_set(err, "%s: record could not be queued", ev->origin);
	return 1;
}
