/* The posture inventory (posture.h): one Resource Graph query for the AI resources,
 * then ARM reads of what Resource Graph does not hold, at most `concurrency` in flight.
 *
 * Resource Graph pages arrive in id order and each row queues its own reads as it
 * arrives (its children listing, its diagnostic settings), so the fan-out overlaps the
 * paging; the Defender plan of each subscription is queued once the listing has ended
 * and every subscription is known. Each slot of the fan-out owns an arm_pager
 * (nextLink paging, throttling, loop guards); the plan is a single GET through
 * aw_http_call. A read that fails is written on the element it concerns
 * (AW_POSTURE_META.error, "what: why") so that its checks say unknown, never pass;
 * a failed listing of children also makes the inventory incomplete, since children
 * may be missing from it. Diagnostic settings and plans do not decide what exists:
 * their failures leave the inventory complete.
 *
 * The inventory is assembled at the end in a stable order: each resource followed by
 * its children, then one plan element per subscription. Loop thread only. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../daemon/log.h"
#include "arm_pager.h"
#include "posture.h"

#define PC_API_GRAPH	       "2022-10-01"
#define PC_API_DIAGNOSTICS     "2021-05-01-preview"
#define PC_API_PRICING	       "2024-01-01"
#define PC_DEFAULT_PAGE	       1000u
#define PC_DEFAULT_CONCURRENCY 4u
#define PC_MAX_CONCURRENCY     64u
#define PC_DEFAULT_MAX	       100000u
#define PC_MIN_REMAINING_READS 10 /* ARM refills 25 reads a second: pause below this */
#define PC_PRICING_MAX_BYTES   (1u << 20)
#define PC_URL_MAX	       4096
#define PC_LOG_FIRST	       5 /* failed reads logged at warning level per collection */

/* What Resource Graph names the three types (lower case) and their child collection. */
struct pc_type {
	const char *type;
	const char *child;	/* path segment of the child listing */
	const char *child_type; /* ARM type of a child */
	const char *api;	/* api-version of the child listing */
};

static const struct pc_type pc_types[] = {
    {"microsoft.cognitiveservices/accounts", "deployments",
     "Microsoft.CognitiveServices/accounts/deployments", "2024-10-01"},
    {"microsoft.machinelearningservices/workspaces", "computes",
     "Microsoft.MachineLearningServices/workspaces/computes", "2024-04-01"},
    {"microsoft.keyvault/vaults", "secrets", "Microsoft.KeyVault/vaults/secrets", "2023-07-01"},
};
#define PC_NTYPES (sizeof pc_types / sizeof pc_types[0])

enum pc_task_kind { PC_T_CHILDREN, PC_T_DIAG, PC_T_PRICING };
enum pc_task_state { PC_PENDING, PC_RUNNING, PC_DONE };

struct pc_task {
	uint8_t kind, state;
	size_t target; /* index of the resource, or of the subscription for a plan */
};

struct pc_top {
	json_object *obj;      /* the Resource Graph row; owned */
	json_object *children; /* owned array; NULL when none were read */
	const struct pc_type *t;
};

struct pc_sub {
	char *id;
	json_object *pricing; /* owned */
};

struct aw_posture_collector;

struct pc_slot {
	struct aw_posture_collector *c;
	struct aw_arm_pager *pg;
	struct aw_http_req *req; /* a plan read in flight */
	size_t task;
	bool busy;
	bool cut;	    /* the listing was stopped at max_resources */
	json_object *items; /* what the listing returned so far; owned */
};

struct aw_posture_collector {
	struct aw_posture_collect_conf conf;
	char *component, *endpoint;
	struct aw_arm_pager *graph;
	struct pc_slot *slots;
	unsigned nslots;
	/* the collection in progress */
	bool collecting, graph_done, pumping, repump, capped;
	void (*done)(void *ud, struct aw_posture_inventory *inv);
	void *ud;
	struct aw_posture_inventory *inv;
	struct pc_top *tops;
	size_t ntops, captops;
	struct pc_sub *subs;
	size_t nsubs, capsubs;
	struct pc_task *tasks;
	size_t ntasks, captasks, next_task;
	unsigned inflight;
	size_t elements; /* resources and children, against max_resources */
	size_t skipped, logged, nchildren;
	uint64_t start_ms;
	/* closing */
	bool closing;
	unsigned outstanding;
	void (*closed)(void *ud);
	void *closed_ud;
};

static void pump(struct aw_posture_collector *c);

/* --- small helpers --------------------------------------------------------------------- */

static const char *str_member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static const struct pc_type *type_of(const char *type)
{
	for (size_t i = 0; type && i < PC_NTYPES; i++)
		if (strcasecmp(type, pc_types[i].type) == 0)
			return &pc_types[i];
	return NULL;
}

/* The AW_POSTURE_META object of an element, created when missing; NULL when out of
 * memory. */
static json_object *meta_of(json_object *obj)
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
static void mark_error(json_object *obj, const char *what, const char *why)
{
	json_object *m = meta_of(obj);
	const char *old = m ? str_member(m, "error") : NULL;
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
static void read_failed(struct aw_posture_collector *c, json_object *obj, const char *what,
			const char *why)
{
	const char *id = str_member(obj, "id");
	char reason[AW_ERROR_MAX];

	short_reason(why, reason, sizeof reason);
	mark_error(obj, what, reason);
	c->inv->failed_reads++;
	if (!c->inv->error[0])
		snprintf(c->inv->error, sizeof c->inv->error, "%s of %s: %s", what, id ? id : "?",
			 why);
	aw_log(c->logged++ < PC_LOG_FIRST ? AW_LOG_WARN : AW_LOG_DEBUG, c->component,
	       "read failed; the checks that need it report unknown", AW_S("read", what),
	       AW_S("resource_id", id ? id : "?"), AW_S("error", why));
}

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

/* --- growable arrays, each bounded by max_resources ------------------------------------- */

static int grow(void **v, size_t *cap, size_t need, size_t size)
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

static int add_task(struct aw_posture_collector *c, enum pc_task_kind kind, size_t target)
{
	if (grow((void **)&c->tasks, &c->captasks, c->ntasks + 1, sizeof *c->tasks) < 0)
		return -1;
	c->tasks[c->ntasks++] = (struct pc_task){.kind = (uint8_t)kind, .target = target};
	return 0;
}

/* The subscription's index, added when new; -1 when out of memory. */
static long add_sub(struct aw_posture_collector *c, const char *sub)
{
	for (size_t i = 0; i < c->nsubs; i++)
		if (strcasecmp(c->subs[i].id, sub) == 0)
			return (long)i;
	if (grow((void **)&c->subs, &c->capsubs, c->nsubs + 1, sizeof *c->subs) < 0 ||
	    !(c->subs[c->nsubs].id = strdup(sub)))
		return -1;
	c->subs[c->nsubs].pricing = NULL;
	return (long)c->nsubs++;
}

/* The inventory reached max_resources: no more resources or children are read (what
 * is queued for those reads is skipped, the elements saying so), and it says why. */
static void hit_ceiling(struct aw_posture_collector *c)
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

static void maybe_finish(struct aw_posture_collector *c)
{
	if (c->collecting && !c->closing && !c->pumping && c->graph_done && !c->inflight &&
	    c->next_task >= c->ntasks)
		finish(c);
}

/* --- results of the fan-out ------------------------------------------------------------- */

/* A child as ARM lists it, completed with what the inventory needs: its id and type
 * when the answer lacks them, the parent's subscription and resource group. A secret's
 * value is never kept, should an answer ever carry one. */
static int adopt_child(struct aw_posture_collector *c, struct pc_top *t, json_object *child)
{
	const char *pid = str_member(t->obj, "id"), *name = str_member(child, "name");
	const char *id = str_member(child, "id"), *v;
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
	if (!str_member(child, "type"))
		json_object_object_add(child, "type", json_object_new_string(t->t->child_type));
	if (!str_member(child, "subscriptionId") && (v = str_member(t->obj, "subscriptionId")))
		json_object_object_add(child, "subscriptionId", json_object_new_string(v));
	if (!str_member(child, "resourceGroup") && (v = str_member(t->obj, "resourceGroup")))
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
			mark_error(t->obj, t->t->child, why); /* the ceiling, not a failed read */
		else if (!ok)
			read_failed(c, t->obj, t->t->child, why);
		if (!ok)
			c->inv->complete = false;
	} else if (task->kind == PC_T_DIAG) {
		struct pc_top *t = &c->tops[task->target];
		json_object *m = meta_of(t->obj);
		if (ok && m && items)
			json_object_object_add(m, "diagnosticSettings", json_object_get(items));
		else if (!ok)
			read_failed(c, t->obj, "diagnosticSettings", why);
	}
	json_object_put(items);
	pump(c);
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
			hit_ceiling(c);
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

static const struct aw_arm_pager_ops slot_ops = {.page = slot_page, .done = slot_done};

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
		if (!str_member(plan, "type"))
			json_object_object_add(
			    plan, "type", json_object_new_string("Microsoft.Security/pricings"));
		if (!str_member(plan, "name"))
			json_object_object_add(plan, "name", json_object_new_string("AI"));
		if (!str_member(plan, "id")) {
			json_object *f = free_plan(sub->id), *id = NULL;
			if (f && json_object_object_get_ex(f, "id", &id))
				json_object_object_add(plan, "id", json_object_get(id));
			json_object_put(f);
		}
		if (!str_member(plan, "subscriptionId"))
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
		read_failed(c, plan, "pricing", full);
	}
	pump(c);
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
				read_failed(c, plan, "pricing", err.msg);
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
	else if (resource_url(c, str_member(c->tops[task->target].obj, "id"), tail, url,
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
	mark_error(t->obj, t->t->child, "not read: more than max_resources resources");
}

/* Start queued reads while slots are free. Re-entrant: a read that ends at once (its
 * done() runs inside start_task) asks for another round instead of recursing. */
static void pump(struct aw_posture_collector *c)
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
	maybe_finish(c);
}

/* --- Resource Graph ----------------------------------------------------------------------- */

/* Out of memory while listing: stop reading more, as at the ceiling. */
static void oom_stop(struct aw_posture_collector *c)
{
	if (!c->inv->error[0])
		snprintf(c->inv->error, sizeof c->inv->error,
			 "out of memory reading the estate: the rest was not read");
	hit_ceiling(c);
}

static void graph_page(void *ud, json_object *items)
{
	struct aw_posture_collector *c = ud;
	size_t n = json_object_array_length(items);

	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(items, i);
		const char *id = str_member(row, "id"), *sub = str_member(row, "subscriptionId");
		struct pc_top *t;

		if (!id || strncasecmp(id, "/subscriptions/", 15) != 0) {
			c->skipped++;
			continue;
		}
		if (c->elements >= c->conf.max_resources) {
			hit_ceiling(c);
			break;
		}
		if (grow((void **)&c->tops, &c->captops, c->ntops + 1, sizeof *c->tops) < 0 ||
		    !meta_of(row)) {
			oom_stop(c);
			break;
		}
		t = &c->tops[c->ntops];
		t->obj = json_object_get(row);
		t->children = NULL;
		t->t = type_of(str_member(row, "type"));
		c->elements++;
		if (!c->conf.diagnostics)
			mark_error(row, "diagnosticSettings", "not read (diagnostics: false)");
		if (sub && !c->conf.scope->subscriptions.n)
			add_sub(c, sub);
		if ((c->conf.children && t->t && add_task(c, PC_T_CHILDREN, c->ntops) < 0) ||
		    (c->conf.diagnostics && add_task(c, PC_T_DIAG, c->ntops) < 0)) {
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
	pump(c);
}

static void graph_done(void *ud, enum aw_arm_end end, const char *why)
{
	struct aw_posture_collector *c = ud;
	const struct aw_strlist *subs = &c->conf.scope->subscriptions;
	char text[AW_ERROR_MAX];

	if (c->closing)
		return;
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
		if (add_task(c, PC_T_PRICING, i) < 0)
			c->subs[i].pricing = NULL; /* out of memory: the plan stays unread */
	pump(c);
}

static const struct aw_arm_pager_ops graph_ops = {.page = graph_page, .done = graph_done};

/* resources | where type in~ (...) | project ... | order by id asc: `id` projected and a
 * stable order, which Resource Graph's $skipToken paging needs (contract §4.4). */
static json_object *graph_request(const struct aw_posture_collector *c)
{
	const struct aw_posture_scope *sc = c->conf.scope;
	const struct aw_strlist *list =
	    sc->subscriptions.n ? &sc->subscriptions : &sc->management_groups;
	json_object *req = json_object_new_object(), *opts = json_object_new_object(), *arr;
	char query[512];
	size_t n = 0;

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
		for (size_t i = 0; i < list->n; i++)
			if (json_object_array_add(arr, json_object_new_string(list->v[i])) != 0)
				goto oom;
	}
	return req;
oom:
	json_object_put(req);
	return NULL;
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
	if (aw_arm_pager_new(&pc, &graph_ops, c, &c->graph, err) != 0)
		goto fail;
	for (unsigned i = 0; i < c->conf.concurrency; i++) {
		c->slots[i].c = c;
		if (aw_arm_pager_new(&pc, &slot_ops, &c->slots[i], &c->slots[i].pg, err) != 0)
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
	char url[PC_URL_MAX];
	json_object *req;

	if (c->collecting || c->closing)
		return aw_error_set(err, "%s: a collection is already running", c->component);
	c->inv = calloc(1, sizeof *c->inv);
	req = graph_request(c);
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
	snprintf(url, sizeof url,
		 "%s/providers/Microsoft.ResourceGraph/resources?api-version=" PC_API_GRAPH,
		 c->endpoint);
	/* The pager takes the request; a failure to start ends the listing through
	 * graph_done, which then reads the plans of the configured subscriptions. */
	if (aw_arm_pager_query(c->graph, url, req, err) < 0)
		graph_done(c, AW_ARM_END_FAILED, err->msg);
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
