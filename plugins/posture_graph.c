/* The Resource Graph listing of the posture collector (posture_collector.h): one query
 * for the AI resources (one per PC_GRAPH_BATCH subscriptions), in id order, paged with
 * $skipToken. Each row queues its own ARM
 * reads as it arrives (its children listing, its diagnostic settings), so the fan-out
 * (posture_fanout.c) overlaps the paging; the Defender plan of each subscription is
 * queued once the listing has ended and every subscription is known. Loop thread
 * only. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../daemon/log.h"
#include "posture_collector.h"

#define PC_API_GRAPH "2022-10-01"

/* What Resource Graph names the three types (lower case) and their child collection. */
static const struct pc_type pc_types[] = {
    {"microsoft.cognitiveservices/accounts", "deployments",
     "Microsoft.CognitiveServices/accounts/deployments", "2024-10-01"},
    {"microsoft.machinelearningservices/workspaces", "computes",
     "Microsoft.MachineLearningServices/workspaces/computes", "2024-04-01"},
    {"microsoft.keyvault/vaults", "secrets", "Microsoft.KeyVault/vaults/secrets", "2023-07-01"},
};
#define PC_NTYPES (sizeof pc_types / sizeof pc_types[0])

static const struct pc_type *type_of(const char *type)
{
	for (size_t i = 0; type && i < PC_NTYPES; i++)
		if (strcasecmp(type, pc_types[i].type) == 0)
			return &pc_types[i];
	return NULL;
}

/* The subscription's index, added when new; -1 when out of memory. */
static long add_sub(struct aw_posture_collector *c, const char *sub)
{
	for (size_t i = 0; i < c->nsubs; i++)
		if (strcasecmp(c->subs[i].id, sub) == 0)
			return (long)i;
	if (aw_pc_grow((void **)&c->subs, &c->capsubs, c->nsubs + 1, sizeof *c->subs) < 0 ||
	    !(c->subs[c->nsubs].id = strdup(sub)))
		return -1;
	c->subs[c->nsubs].pricing = NULL;
	return (long)c->nsubs++;
}

/* Out of memory while listing: stop reading more, as at the ceiling. */
static void oom_stop(struct aw_posture_collector *c)
{
	if (!c->inv->error[0])
		snprintf(c->inv->error, sizeof c->inv->error,
			 "out of memory reading the estate: the rest was not read");
	aw_pc_hit_ceiling(c);
}

static void graph_page(void *ud, json_object *items)
{
	struct aw_posture_collector *c = ud;
	size_t n = json_object_array_length(items);

	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(items, i);
		const char *id = aw_posture_str(row, "id"),
			   *sub = aw_posture_str(row, "subscriptionId");
		struct pc_top *t;

		if (!id || strncasecmp(id, "/subscriptions/", 15) != 0) {
			c->skipped++;
			continue;
		}
		if (c->elements >= c->conf.max_resources) {
			aw_pc_hit_ceiling(c);
			break;
		}
		if (aw_pc_grow((void **)&c->tops, &c->captops, c->ntops + 1, sizeof *c->tops) < 0 ||
		    !aw_pc_meta(row)) {
			oom_stop(c);
			break;
		}
		t = &c->tops[c->ntops];
		t->obj = json_object_get(row);
		t->children = NULL;
		t->t = type_of(aw_posture_str(row, "type"));
		c->elements++;
		if (!c->conf.diagnostics)
			aw_pc_mark_error(row, "diagnosticSettings",
					 "not read (diagnostics: false)");
		if (sub && !c->conf.scope->subscriptions.n)
			add_sub(c, sub);
		if ((c->conf.children && t->t && aw_pc_add_task(c, PC_T_CHILDREN, c->ntops) < 0) ||
		    (c->conf.diagnostics && aw_pc_add_task(c, PC_T_DIAG, c->ntops) < 0)) {
			/* Not kept: neither are the reads already queued for it. */
			while (c->ntasks > c->next_task &&
			       c->tasks[c->ntasks - 1].target == c->ntops)
				c->ntasks--;
			json_object_put(t->obj);
			c->elements--;
			oom_stop(c);
			break;
		}
		c->ntops++;
	}
	aw_pc_pump(c);
}

static void graph_done(void *ud, enum aw_arm_end end, const char *why)
{
	struct aw_posture_collector *c = ud;
	const struct aw_strlist *subs = &c->conf.scope->subscriptions;
	char text[AW_ERROR_MAX];

	if (c->closing)
		return;
	/* The next batch of subscriptions, while every listing so far read to its end. */
	if (end == AW_ARM_END_COMPLETE && !c->capped &&
	    subs->n > (c->graph_batch + 1) * PC_GRAPH_BATCH) {
		json_object *req;
		c->graph_batch++;
		if ((req = aw_pc_graph_request(c))) {
			aw_pc_graph_start(c, req);
			return;
		}
		end = AW_ARM_END_FAILED;
		why = "out of memory building the next Resource Graph query";
	}
	c->graph_done = true;
	if (end != AW_ARM_END_COMPLETE && !(end == AW_ARM_END_CANCELLED && c->capped)) {
		snprintf(text, sizeof text, "Resource Graph: %s",
			 end == AW_ARM_END_FAILED ? why : aw_arm_end_name(end));
		aw_log(AW_LOG_WARN, c->component, "the Resource Graph listing did not end",
		       AW_S("error", text));
		c->inv->complete = false;
		if (!c->inv->error[0])
			snprintf(c->inv->error, sizeof c->inv->error, "%s", text);
	}
	for (size_t i = 0; i < subs->n; i++)
		add_sub(c, subs->v[i]);
	for (size_t i = 0; i < c->nsubs; i++)
		if (aw_pc_add_task(c, PC_T_PRICING, i) < 0)
			c->subs[i].pricing = NULL; /* out of memory: the plan stays unread */
	aw_pc_pump(c);
}

const struct aw_arm_pager_ops aw_pc_graph_ops = {.page = graph_page, .done = graph_done};

/* resources | where type in~ (...) | project ... | order by id asc: `id` projected and a
 * stable order, which Resource Graph's $skipToken paging needs (contract §4.4). */
json_object *aw_pc_graph_request(const struct aw_posture_collector *c)
{
	const struct aw_posture_scope *sc = c->conf.scope;
	const struct aw_strlist *list =
	    sc->subscriptions.n ? &sc->subscriptions : &sc->management_groups;
	json_object *req = json_object_new_object(), *opts = json_object_new_object(), *arr;
	char query[512];
	size_t n = 0, from = 0, to = list->n;

	if (sc->subscriptions.n) {
		from = c->graph_batch * PC_GRAPH_BATCH;
		to = from + PC_GRAPH_BATCH < list->n ? from + PC_GRAPH_BATCH : list->n;
	}

	if (!req || !opts || json_object_object_add(req, "options", opts) != 0) {
		json_object_put(opts);
		goto oom;
	}
	n = (size_t)snprintf(query, sizeof query, "resources | where type in~ (");
	for (size_t i = 0; i < PC_NTYPES; i++)
		n += (size_t)snprintf(query + n, sizeof query - n, "%s'%s'", i ? "," : "",
				      pc_types[i].type);
	snprintf(query + n, sizeof query - n,
		 ") | project id, name, type, kind, location, subscriptionId, resourceGroup, "
		 "properties, identity, sku | order by id asc");
	if (json_object_object_add(req, "query", json_object_new_string(query)) != 0 ||
	    json_object_object_add(opts, "$top", json_object_new_int64(c->conf.page_size)) != 0 ||
	    json_object_object_add(opts, "resultFormat", json_object_new_string("objectArray")))
		goto oom;
	if (list->n) {
		if (!(arr = json_object_new_array()) ||
		    json_object_object_add(
			req, sc->subscriptions.n ? "subscriptions" : "managementGroups", arr) !=
			0) {
			json_object_put(arr);
			goto oom;
		}
		for (size_t i = from; i < to; i++)
			if (json_object_array_add(arr, json_object_new_string(list->v[i])) != 0)
				goto oom;
	}
	return req;
oom:
	json_object_put(req);
	return NULL;
}

void aw_pc_graph_start(struct aw_posture_collector *c, json_object *req)
{
	struct aw_error err = {{0}};
	char url[PC_URL_MAX];

	snprintf(url, sizeof url,
		 "%s/providers/Microsoft.ResourceGraph/resources?api-version=" PC_API_GRAPH,
		 c->endpoint);
	/* The pager takes the request; a failure to start ends the listing through
	 * graph_done, which then reads the plans of the configured subscriptions. */
	if (aw_arm_pager_query(c->graph, url, req, &err) < 0)
		graph_done(c, AW_ARM_END_FAILED, err.msg);
}
