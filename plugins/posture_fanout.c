/* The ARM reads of the posture collector (posture_collector.h) that follow its Resource
 * Graph listing: each resource's children (deployments, computes, secrets) and
 * diagnostic settings, and each subscription's Defender for AI plan, at most
 * `concurrency` in flight. Each slot of the fan-out owns an arm_pager (nextLink paging,
 * throttling, loop guards); the plan is a single GET through aw_http_call. A read that
 * fails is written on its element (aw_pc_read_failed). Loop thread only. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../daemon/log.h"
#include "posture_collector.h"

#define PC_API_DIAGNOSTICS   "2021-05-01-preview"
#define PC_API_PRICING	     "2024-01-01"
#define PC_PRICING_MAX_BYTES (1u << 20)

/* Characters an ARM id may hold in a URL path as they are; anything else is
 * percent-encoded. */
static bool path_char(unsigned char ch)
{
	return isalnum(ch) || strchr("-._~/()!$&'*+,;=:@", ch);
}

/* endpoint + encoded id + tail into out; -1 when it does not fit. */
static int resource_url(const struct aw_posture_collector *c, const char *id, const char *tail,
			char *out, size_t sz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = (size_t)snprintf(out, sz, "%s", c->endpoint);

	for (const unsigned char *p = (const unsigned char *)id; *p && n + 4 < sz; p++) {
		if (path_char(*p)) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (n + 4 >= sz)
		return -1;
	out[n] = '\0';
	return snprintf(out + n, sz - n, "%s", tail) >= (int)(sz - n) ? -1 : 0;
}

int aw_pc_add_task(struct aw_posture_collector *c, enum pc_task_kind kind, size_t target)
{
	if (aw_pc_grow((void **)&c->tasks, &c->captasks, c->ntasks + 1, sizeof *c->tasks) < 0)
		return -1;
	c->tasks[c->ntasks++] = (struct pc_task){.kind = (uint8_t)kind, .target = target};
	return 0;
}

/* --- results of the fan-out ------------------------------------------------------------- */

/* A child as ARM lists it, completed with what the inventory needs: its id and type
 * when the answer lacks them, the parent's subscription and resource group. A secret's
 * value is never kept, should an answer ever carry one. */
static int adopt_child(struct aw_posture_collector *c, struct pc_top *t, json_object *child)
{
	const char *pid = aw_posture_str(t->obj, "id"), *name = aw_posture_str(child, "name");
	const char *id = aw_posture_str(child, "id"), *v;
	json_object *props = NULL;
	char buf[PC_URL_MAX];

	if (!json_object_is_type(child, json_type_object) || (!id && !name)) {
		c->skipped++;
		return 1;
	}
	if (!id) {
		snprintf(buf, sizeof buf, "%s/%s/%s", pid, t->t->child, name);
		json_object_object_add(child, "id", json_object_new_string(buf));
	} else if (!name) {
		const char *slash = strrchr(id, '/');
		json_object_object_add(child, "name",
				       json_object_new_string(slash ? slash + 1 : id));
	}
	if (!aw_posture_str(child, "type"))
		json_object_object_add(child, "type", json_object_new_string(t->t->child_type));
	if (!aw_posture_str(child, "subscriptionId") &&
	    (v = aw_posture_str(t->obj, "subscriptionId")))
		json_object_object_add(child, "subscriptionId", json_object_new_string(v));
	if (!aw_posture_str(child, "resourceGroup") &&
	    (v = aw_posture_str(t->obj, "resourceGroup")))
		json_object_object_add(child, "resourceGroup", json_object_new_string(v));
	if (json_object_object_get_ex(child, "properties", &props) &&
	    json_object_is_type(props, json_type_object))
		json_object_object_del(props, "value");
	return 0;
}

static void children_read(struct aw_posture_collector *c, struct pc_top *t, json_object *items)
{
	size_t n = json_object_array_length(items);

	if (!t->children && !(t->children = json_object_new_array()))
		return;
	for (size_t i = 0; i < n; i++) {
		json_object *ch = json_object_array_get_idx(items, i);
		if (adopt_child(c, t, ch) == 0) {
			json_object_array_add(t->children, json_object_get(ch));
			c->nchildren++;
		}
	}
}

/* One task ended: ok, or failed with why (items read before a failure are kept for
 * children: they exist). */
static void task_finished(struct pc_slot *s, bool ok, const char *why)
{
	struct aw_posture_collector *c = s->c;
	struct pc_task *task = &c->tasks[s->task];
	json_object *items = s->items;

	s->items = NULL;
	s->busy = false;
	task->state = PC_DONE;
	c->inflight--;
	if (task->kind == PC_T_CHILDREN) {
		struct pc_top *t = &c->tops[task->target];
		if (items)
			children_read(c, t, items);
		if (!ok && s->cut)
			aw_pc_mark_error(t->obj, t->t->child,
					 why); /* the ceiling, not a failed read */
		else if (!ok)
			aw_pc_read_failed(c, t->obj, t->t->child, why);
		if (!ok)
			c->inv->complete = false;
	} else if (task->kind == PC_T_DIAG) {
		struct pc_top *t = &c->tops[task->target];
		json_object *m = aw_pc_meta(t->obj);
		if (ok && m && items)
			json_object_object_add(m, "diagnosticSettings", json_object_get(items));
		else if (!ok)
			aw_pc_read_failed(c, t->obj, "diagnosticSettings", why);
	}
	json_object_put(items);
	aw_pc_pump(c);
}

static void slot_page(void *ud, json_object *items)
{
	struct pc_slot *s = ud;
	struct aw_posture_collector *c = s->c;
	struct pc_task *task = &c->tasks[s->task];
	size_t n = json_object_array_length(items);
	size_t max = c->conf.max_resources;

	for (size_t i = 0; i < n && s->items; i++) {
		if (task->kind == PC_T_CHILDREN && c->elements >= max) {
			aw_pc_hit_ceiling(c);
			s->cut = true;
			aw_arm_pager_cancel(s->pg); /* done() runs now */
			return;
		}
		if (json_object_array_add(
			s->items, json_object_get(json_object_array_get_idx(items, i))) != 0)
			break;
		if (task->kind == PC_T_CHILDREN)
			c->elements++;
	}
}

static void slot_done(void *ud, enum aw_arm_end end, const char *why)
{
	struct pc_slot *s = ud;
	char text[AW_ERROR_MAX];

	if (s->c->closing || !s->busy)
		return;
	switch (end) {
	case AW_ARM_END_COMPLETE:
		task_finished(s, true, NULL);
		return;
	case AW_ARM_END_FAILED:
		task_finished(s, false, why);
		return;
	case AW_ARM_END_CANCELLED:
		snprintf(text, sizeof text, "%s",
			 s->cut ? "not all read: more than max_resources resources" : "cancelled");
		break;
	default:
		snprintf(text, sizeof text, "the listing ended early (%s)", aw_arm_end_name(end));
		break;
	}
	task_finished(s, false, text);
}

const struct aw_arm_pager_ops aw_pc_slot_ops = {.page = slot_page, .done = slot_done};

/* --- the Defender for AI plan ----------------------------------------------------------- */

/* The element that stands for a subscription without a plan (posture.h): evaluated
 * as the Free tier. */
static json_object *free_plan(const char *sub)
{
	json_object *o = json_object_new_object();
	char id[256];

	if (!o)
		return NULL;
	snprintf(id, sizeof id, "/subscriptions/%s/providers/Microsoft.Security/pricings/AI", sub);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "name", json_object_new_string("AI"));
	json_object_object_add(o, "type", json_object_new_string("Microsoft.Security/pricings"));
	json_object_object_add(o, "subscriptionId", json_object_new_string(sub));
	json_object_object_add(o, "properties", json_object_new_object());
	return o;
}

static json_object *parse_object(const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	json_object *o = NULL;

	if (!tok)
		return NULL;
	if (len <= (size_t)INT32_MAX)
		o = json_tokener_parse_ex(tok, body, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static void pricing_done(void *ud, const struct aw_http_response *r)
{
	struct pc_slot *s = ud;
	struct aw_posture_collector *c = s->c;
	struct pc_task *task;
	struct pc_sub *sub;
	struct aw_azure_error ae;
	json_object *plan = NULL;
	char why[AW_ERROR_MAX];
	bool have_code;

	s->req = NULL;
	if (c->closing) {
		if (--c->outstanding == 0)
			aw_posture_collector_close(c, c->closed, c->closed_ud);
		return;
	}
	task = &c->tasks[s->task];
	sub = &c->subs[task->target];
	have_code = r->status && aw_azure_error_parse(r->body, r->body_len, &ae) == 0;
	why[0] = '\0';
	if (r->status == 200) {
		if (!(plan = parse_object(r->body, r->body_len)))
			snprintf(why, sizeof why, "the answer is not a JSON object");
	} else if (r->status == 404 &&
		   !(have_code && strcasecmp(ae.code, "SubscriptionNotFound") == 0)) {
		/* No plan: the Free tier. */
	} else if (r->status == 0) {
		snprintf(why, sizeof why, "%s",
			 r->cancelled		 ? "cancelled"
			 : r->error && *r->error ? r->error
						 : "no response");
	} else if (have_code) {
		snprintf(why, sizeof why, "HTTP %ld %s: %s (x-ms-request-id %s)", r->status,
			 ae.code, ae.message, r->request_id);
	} else {
		snprintf(why, sizeof why, "HTTP %ld (x-ms-request-id %s)", r->status,
			 r->request_id);
	}
	if (plan) {
		if (!aw_posture_str(plan, "type"))
			json_object_object_add(
			    plan, "type", json_object_new_string("Microsoft.Security/pricings"));
		if (!aw_posture_str(plan, "name"))
			json_object_object_add(plan, "name", json_object_new_string("AI"));
		if (!aw_posture_str(plan, "id")) {
			json_object *f = free_plan(sub->id), *id = NULL;
			if (f && json_object_object_get_ex(f, "id", &id))
				json_object_object_add(plan, "id", json_object_get(id));
			json_object_put(f);
		}
		if (!aw_posture_str(plan, "subscriptionId"))
			json_object_object_add(plan, "subscriptionId",
					       json_object_new_string(sub->id));
	} else {
		plan = free_plan(sub->id);
	}
	sub->pricing = plan;
	s->busy = false;
	task->state = PC_DONE;
	c->inflight--;
	if (why[0] && plan) {
		char full[2 * AW_ERROR_MAX];
		snprintf(full, sizeof full,
			 "GET %s/subscriptions/%s/providers/Microsoft.Security/"
			 "pricings/AI: %s",
			 c->endpoint, sub->id, why);
		aw_pc_read_failed(c, plan, "pricing", full);
	}
	aw_pc_pump(c);
}

/* --- the fan-out ------------------------------------------------------------------------- */

static void start_task(struct pc_slot *s, size_t ti)
{
	struct aw_posture_collector *c = s->c;
	struct pc_task *task = &c->tasks[ti];
	struct aw_error err = {{0}};
	char url[PC_URL_MAX], tail[256];
	int rc = -1;

	task->state = PC_RUNNING;
	s->task = ti;
	s->busy = true;
	s->cut = false;
	c->inflight++;
	if (task->kind == PC_T_PRICING) {
		static const char *const headers[] = {"Accept: application/json", NULL};
		struct aw_http_request req = {
		    .method = "GET",
		    .url = url,
		    .headers = headers,
		    .max_response_bytes = PC_PRICING_MAX_BYTES,
		    .component = c->component,
		};
		struct aw_http_policy policy = {.bearer = c->conf.bearer};
		const char *sub = c->subs[task->target].id;

		req.timeout_ms = c->conf.timeout_ms;

		if (snprintf(url, sizeof url,
			     "%s/subscriptions/%s/providers/Microsoft.Security/pricings/"
			     "AI?api-version=" PC_API_PRICING,
			     c->endpoint, sub) >= (int)sizeof url)
			aw_error_set(&err, "URL too long");
		else
			rc = aw_http_call(c->conf.http, &req, &policy, pricing_done, s, &s->req,
					  &err);
		if (rc < 0) {
			json_object *plan = free_plan(sub);
			c->subs[task->target].pricing = plan;
			s->busy = false;
			task->state = PC_DONE;
			c->inflight--;
			if (plan)
				aw_pc_read_failed(c, plan, "pricing", err.msg);
		}
		return;
	}
	s->items = json_object_new_array();
	if (task->kind == PC_T_CHILDREN)
		snprintf(tail, sizeof tail, "/%s?api-version=%s", c->tops[task->target].t->child,
			 c->tops[task->target].t->api);
	else
		snprintf(tail, sizeof tail,
			 "/providers/Microsoft.Insights/"
			 "diagnosticSettings?api-version=" PC_API_DIAGNOSTICS);
	if (!s->items)
		aw_error_set(&err, "out of memory");
	else if (resource_url(c, aw_posture_str(c->tops[task->target].obj, "id"), tail, url,
			      sizeof url) < 0)
		aw_error_set(&err, "the resource id makes a URL over %d bytes", PC_URL_MAX);
	else
		rc = aw_arm_pager_get(s->pg, url, &err);
	if (rc < 0)
		task_finished(s, false, err.msg);
}

/* A queued read that will not run (max_resources reached): the element says so. */
static void skip_task(struct aw_posture_collector *c, struct pc_task *task)
{
	struct pc_top *t = &c->tops[task->target];

	task->state = PC_DONE;
	c->inv->complete = false;
	aw_pc_mark_error(t->obj, t->t->child, "not read: more than max_resources resources");
}

/* Start queued reads while slots are free. Re-entrant: a read that ends at once (its
 * done() runs inside start_task) asks for another round instead of recursing. */
void aw_pc_pump(struct aw_posture_collector *c)
{
	if (c->pumping) {
		c->repump = true;
		return;
	}
	c->pumping = true;
	do {
		c->repump = false;
		for (unsigned i = 0; i < c->nslots && !c->closing; i++) {
			/* A skipped read, or one that ended at once, leaves the slot free. */
			while (!c->slots[i].busy && c->next_task < c->ntasks && !c->closing) {
				struct pc_task *task = &c->tasks[c->next_task++];

				if (task->kind == PC_T_CHILDREN && c->capped)
					skip_task(c, task);
				else
					start_task(&c->slots[i], c->next_task - 1);
			}
		}
	} while (c->repump && !c->closing);
	c->pumping = false;
	aw_pc_maybe_finish(c);
}
