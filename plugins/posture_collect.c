/* The posture inventory (posture.h): one Resource Graph query for the AI resources
 * (posture_graph.c), then ARM reads of what Resource Graph does not hold
 * (posture_fanout.c), at most `concurrency` in flight. This file holds the collector's
 * life, what a failed read leaves on an element, and the end of a collection.
 *
 * A read that fails is written on the element it concerns (AW_POSTURE_META.error, "what:
 * why") so that its checks say unknown, never pass; a failed listing of children also
 * makes the inventory incomplete, since children may be missing from it. Diagnostic
 * settings and plans do not decide what exists: their failures leave the inventory
 * complete.
 *
 * The inventory is assembled at the end in a stable order: each resource followed by
 * its children, then one plan element per subscription. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/log.h"
#include "posture_collector.h"

#define PC_DEFAULT_PAGE	       1000u
#define PC_DEFAULT_CONCURRENCY 4u
#define PC_MAX_CONCURRENCY     64u
#define PC_DEFAULT_MAX	       100000u
#define PC_MIN_REMAINING_READS 10 /* ARM refills 25 reads a second: pause below this */

/* --- what the parts write on an element ------------------------------------------------ */

/* The AW_POSTURE_META object of an element, created when missing; NULL when out of
 * memory. */
json_object *aw_pc_meta(json_object *obj)
{
	json_object *m = NULL;

	if (json_object_object_get_ex(obj, AW_POSTURE_META, &m) &&
	    json_object_is_type(m, json_type_object))
		return m;
	m = json_object_new_object();
	if (!m || json_object_object_add(obj, AW_POSTURE_META, m) != 0) {
		json_object_put(m);
		return NULL;
	}
	return m;
}

/* Azure's reason without the URL and request id a pager message carries ("GET URL:
 * HTTP 403 Code: message (x-ms-request-id X)" -> "HTTP 403 Code: message"), so the
 * text on an element is the same from one read to the next. */
static void short_reason(const char *why, char *out, size_t sz)
{
	const char *p = strstr(why, ": HTTP ");
	const char *end;

	p = p ? p + 2 : why;
	end = strstr(p, " (x-ms-request-id");
	snprintf(out, sz, "%.*s", (int)(end ? (size_t)(end - p) : strlen(p)), p);
}

/* Add "what: why" to the element's error (several are joined with "; "). */
void aw_pc_mark_error(json_object *obj, const char *what, const char *why)
{
	json_object *m = aw_pc_meta(obj);
	const char *old = m ? aw_posture_str(m, "error") : NULL;
	char text[AW_ERROR_MAX];

	if (!m)
		return;
	if (old)
		snprintf(text, sizeof text, "%s; %s: %s", old, what, why);
	else
		snprintf(text, sizeof text, "%s: %s", what, why);
	json_object_object_add(m, "error", json_object_new_string(text));
}

/* A read failed: on the element, in the inventory's count and first error, logged
 * (the first few at warning level). */
void aw_pc_read_failed(struct aw_posture_collector *c, json_object *obj, const char *what,
		       const char *why)
{
	const char *id = aw_posture_str(obj, "id");
	char reason[AW_ERROR_MAX];

	short_reason(why, reason, sizeof reason);
	aw_pc_mark_error(obj, what, reason);
	c->inv->failed_reads++;
	if (!c->inv->error[0])
		snprintf(c->inv->error, sizeof c->inv->error, "%s of %s: %s", what, id ? id : "?",
			 why);
	aw_log(c->logged++ < PC_LOG_FIRST ? AW_LOG_WARN : AW_LOG_DEBUG, c->component,
	       "read failed; the checks that need it report unknown", AW_S("read", what),
	       AW_S("resource_id", id ? id : "?"), AW_S("error", why));
}

/* --- growable arrays, each bounded by max_resources ------------------------------------- */

int aw_pc_grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	if (!(nv = realloc(*v, ncap * size)))
		return -1;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* The inventory reached max_resources: no more resources or children are read (what
 * is queued for those reads is skipped, the elements saying so), and it says why. */
void aw_pc_hit_ceiling(struct aw_posture_collector *c)
{
	char text[256];

	if (c->capped)
		return;
	c->capped = true;
	c->inv->complete = false;
	snprintf(text, sizeof text,
		 "more than %zu resources (max_resources): the rest were not read",
		 c->conf.max_resources);
	if (!c->inv->error[0])
		snprintf(c->inv->error, sizeof c->inv->error, "%s", text);
	aw_log(AW_LOG_WARN, c->component, "the estate is larger than max_resources",
	       AW_S("error", text));
	if (!c->graph_done)
		aw_arm_pager_cancel(c->graph); /* graph_done() runs now or when it returns */
}

/* --- the collection's end ---------------------------------------------------------------- */

static void clear_collection(struct aw_posture_collector *c)
{
	for (size_t i = 0; i < c->ntops; i++) {
		json_object_put(c->tops[i].obj);
		json_object_put(c->tops[i].children);
	}
	for (size_t i = 0; i < c->nsubs; i++) {
		free(c->subs[i].id);
		json_object_put(c->subs[i].pricing);
	}
	free(c->tops);
	free(c->subs);
	free(c->tasks);
	c->tops = NULL;
	c->subs = NULL;
	c->tasks = NULL;
	c->ntops = c->captops = c->nsubs = c->capsubs = 0;
	c->ntasks = c->captasks = c->next_task = 0;
	c->elements = c->skipped = c->logged = c->nchildren = 0;
	c->graph_done = c->capped = false;
	c->graph_batch = 0;
	for (unsigned i = 0; i < c->nslots; i++) {
		json_object_put(c->slots[i].items);
		c->slots[i].items = NULL;
	}
	aw_posture_inventory_free(c->inv);
	c->inv = NULL;
}

/* Move everything into the inventory's array, in its stable order. */
static int assemble(struct aw_posture_collector *c)
{
	json_object *arr = json_object_new_array_ext((int)(c->elements + c->nsubs + 1));

	if (!arr)
		return -1;
	for (size_t i = 0; i < c->ntops; i++) {
		struct pc_top *t = &c->tops[i];
		size_t n = t->children ? json_object_array_length(t->children) : 0;

		if (json_object_array_add(arr, t->obj) != 0)
			goto oom;
		t->obj = NULL;
		for (size_t k = 0; k < n; k++) {
			json_object *ch = json_object_array_get_idx(t->children, k);
			if (json_object_array_add(arr, json_object_get(ch)) != 0) {
				json_object_put(ch);
				goto oom;
			}
		}
	}
	for (size_t i = 0; i < c->nsubs; i++) {
		if (!c->subs[i].pricing)
			continue;
		if (json_object_array_add(arr, c->subs[i].pricing) != 0)
			goto oom;
		c->subs[i].pricing = NULL;
	}
	c->inv->resources = arr;
	return 0;
oom:
	json_object_put(arr);
	return -1;
}

static void finish(struct aw_posture_collector *c)
{
	void (*done)(void *, struct aw_posture_inventory *) = c->done;
	void *ud = c->ud;
	struct aw_posture_inventory *inv;
	uint64_t ms = uv_now(c->conf.loop) - c->start_ms;
	size_t ntops = c->ntops, nsubs = c->nsubs, nchildren = c->nchildren;

	if (assemble(c) < 0) {
		c->inv->complete = false;
		snprintf(c->inv->error, sizeof c->inv->error,
			 "out of memory assembling the inventory");
		c->inv->resources = json_object_new_array();
	}
	inv = c->inv;
	c->inv = NULL;
	if (c->skipped)
		aw_log(AW_LOG_WARN, c->component, "items without an id were left out",
		       AW_U("skipped", c->skipped));
	if (inv->failed_reads > (size_t)PC_LOG_FIRST)
		aw_log(AW_LOG_WARN, c->component, "more reads failed",
		       AW_U("failed_reads", inv->failed_reads));
	aw_log(AW_LOG_INFO, c->component, "estate read", AW_U("resources", ntops),
	       AW_U("children", nchildren), AW_U("subscriptions", nsubs),
	       AW_U("failed_reads", inv->failed_reads),
	       AW_S("complete", inv->complete ? "true" : "false"), AW_U("duration_ms", ms));
	clear_collection(c);
	c->collecting = false;
	done(ud, inv); /* may start the next collection, or close */
}

void aw_pc_maybe_finish(struct aw_posture_collector *c)
{
	if (c->collecting && !c->closing && !c->pumping && c->graph_done && !c->inflight &&
	    c->next_task >= c->ntasks)
		finish(c);
}

/* --- public --------------------------------------------------------------------------------- */

void aw_posture_inventory_free(struct aw_posture_inventory *inv)
{
	if (!inv)
		return;
	json_object_put(inv->resources);
	free(inv);
}

static const struct aw_posture_scope no_scope;

int aw_posture_collector_new(const struct aw_posture_collect_conf *conf,
			     struct aw_posture_collector **out, struct aw_error *err)
{
	struct aw_posture_collector *c = calloc(1, sizeof *c);
	struct aw_arm_pager_conf pc;
	size_t elen;

	*out = NULL;
	if (!c)
		return aw_error_set(err, "out of memory");
	c->conf = *conf;
	if (!c->conf.scope)
		c->conf.scope = &no_scope;
	if (!c->conf.page_size || c->conf.page_size > 1000)
		c->conf.page_size = PC_DEFAULT_PAGE;
	if (!c->conf.concurrency)
		c->conf.concurrency = PC_DEFAULT_CONCURRENCY;
	if (c->conf.concurrency > PC_MAX_CONCURRENCY)
		c->conf.concurrency = PC_MAX_CONCURRENCY;
	if (!c->conf.max_resources)
		c->conf.max_resources = PC_DEFAULT_MAX;
	c->component = strdup(conf->component ? conf->component : "posture");
	c->endpoint =
	    strdup(conf->arm_endpoint ? conf->arm_endpoint : "https://management.azure.com");
	c->slots = calloc(c->conf.concurrency, sizeof *c->slots);
	if (!c->component || !c->endpoint || !c->slots) {
		aw_error_set(err, "out of memory");
		goto fail;
	}
	c->conf.component = c->component;
	c->conf.arm_endpoint = c->endpoint;
	elen = strlen(c->endpoint);
	while (elen && c->endpoint[elen - 1] == '/')
		c->endpoint[--elen] = '\0';
	pc = (struct aw_arm_pager_conf){
	    .loop = conf->loop,
	    .http = conf->http,
	    .bearer = conf->bearer,
	    .component = c->component,
	    .min_remaining_reads = PC_MIN_REMAINING_READS,
	    .timeout_ms = conf->timeout_ms,
	};
	if (aw_arm_pager_new(&pc, &aw_pc_graph_ops, c, &c->graph, err) != 0)
		goto fail;
	for (unsigned i = 0; i < c->conf.concurrency; i++) {
		c->slots[i].c = c;
		if (aw_arm_pager_new(&pc, &aw_pc_slot_ops, &c->slots[i], &c->slots[i].pg, err) != 0)
			goto fail;
		c->nslots++;
	}
	*out = c;
	return 0;
fail:
	/* Nothing has run on the loop yet, but pagers own timers: close them properly. */
	if (c->graph || c->nslots) {
		aw_posture_collector_close(c, NULL, NULL);
		return -1;
	}
	free(c->slots);
	free(c->component);
	free(c->endpoint);
	free(c);
	return -1;
}

int aw_posture_collect(struct aw_posture_collector *c,
		       void (*done)(void *ud, struct aw_posture_inventory *inv), void *ud,
		       struct aw_error *err)
{
	json_object *req;

	if (c->collecting || c->closing)
		return aw_error_set(err, "%s: a collection is already running", c->component);
	c->inv = calloc(1, sizeof *c->inv);
	req = aw_pc_graph_request(c);
	if (!c->inv || !req) {
		json_object_put(req);
		free(c->inv);
		c->inv = NULL;
		return aw_error_set(err, "%s: out of memory", c->component);
	}
	c->inv->complete = true;
	c->collecting = true;
	c->done = done;
	c->ud = ud;
	c->start_ms = uv_now(c->conf.loop);
	aw_pc_graph_start(c, req);
	return 0;
}

bool aw_posture_collecting(const struct aw_posture_collector *c)
{
	return c->collecting;
}

static void part_closed(void *ud)
{
	struct aw_posture_collector *c = ud;

	if (--c->outstanding == 0)
		aw_posture_collector_close(c, c->closed, c->closed_ud);
}

/* First call: stop everything and count what must still report back (the pagers, the
 * plan reads in flight). Called again from part_closed / pricing_done when the last
 * has: free. */
void aw_posture_collector_close(struct aw_posture_collector *c, void (*closed)(void *ud), void *ud)
{
	if (!c->closing) {
		c->closing = true;
		c->closed = closed;
		c->closed_ud = ud;
		c->outstanding = 1; /* this call's own, dropped below */
		for (unsigned i = 0; i < c->nslots; i++) {
			if (c->slots[i].req) {
				c->outstanding++;
				aw_http_cancel(c->slots[i].req);
			}
		}
		if (c->graph) {
			c->outstanding++;
			aw_arm_pager_close(c->graph, part_closed, c);
		}
		for (unsigned i = 0; i < c->nslots; i++) {
			c->outstanding++;
			aw_arm_pager_close(c->slots[i].pg, part_closed, c);
		}
		if (--c->outstanding > 0)
			return;
	}
	clear_collection(c);
	free(c->slots);
	free(c->component);
	free(c->endpoint);
	free(c);
	if (closed)
		closed(ud);
}
