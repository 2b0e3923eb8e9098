/* The emulated Azure estate for posture (contract §4.4, §5): the AI resources a tenant
 * holds, what protects them, and the reads that find out.
 *
 *   - Resource Graph `resources` rows (emu_arm.c runs the route, with its quota and
 *     $skipToken paging, and asks aw_emu_estate_rg_rows() for the rows);
 *   - GET {account}/deployments, {workspace}/computes, {vault}/secrets: ARM lists paged
 *     with nextLink, child_page_size items a page;
 *   - GET {resource}/providers/Microsoft.Insights/diagnosticSettings;
 *   - GET /subscriptions/{sub}/providers/Microsoft.Security/pricings/{name}: the
 *     configured plan, else the Free tier every subscription starts on;
 *   - GET {resource}: the resource as ARM holds it.
 *
 * Resources are fixtures ("estate.resources") or generated in bulk ("estate.generate":
 * thousands of look-alikes from one template, named <prefix><index>), so a test of
 * paging does not carry a 2,500-entry fixture. What ARM would not show is under each
 * resource's "_emu": its children, its diagnostic settings, and "fail" (a read of that
 * resource answering an ARM error, e.g. 403 on diagnostic settings).
 *
 * The config tree is shared and read-only (and json-c's reference counts are not
 * atomic): answers are built from deep copies, never from references into it. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_estate.h"
#include "emu_state.h"

#define ESTATE_AUDIENCE		"https://management.azure.com/"
#define ESTATE_CHILD_PAGE	50
#define ESTATE_CHILD_PAGE_MAX	1000
#define ESTATE_MAX_GENERATED	100000 /* over every generate entry: rows are built per query */
#define ESTATE_MAX_QUERY_TYPES	64
#define ESTATE_NAME_DIGITS	5
#define ESTATE_ID_MAX		1024
#define ESTATE_DEFAULT_RG	"rg-gen"
#define ESTATE_DEFAULT_LOCATION "eastus"
#define ESTATE_DIAG_SUFFIX	"/providers/Microsoft.Insights/diagnosticSettings"
#define ESTATE_PRICINGS		"/providers/Microsoft.Security/pricings/"

/* The child listings: the path segment under the parent, the parent's type, the child's. */
static const struct estate_child {
	const char *segment;
	const char *parent_type;
	const char *type;
	const char *action; /* what a 403 says was refused */
} estate_children[] = {
    {"deployments", "Microsoft.CognitiveServices/accounts",
     "Microsoft.CognitiveServices/accounts/deployments",
     "Microsoft.CognitiveServices/accounts/deployments/read"},
    {"computes", "Microsoft.MachineLearningServices/workspaces",
     "Microsoft.MachineLearningServices/workspaces/computes",
     "Microsoft.MachineLearningServices/workspaces/computes/read"},
    {"secrets", "Microsoft.KeyVault/vaults", "Microsoft.KeyVault/vaults/secrets",
     "Microsoft.KeyVault/vaults/secrets/read"},
};
#define ESTATE_NCHILDREN (sizeof(estate_children) / sizeof(estate_children[0]))

/* The reads "_emu.fail" can break, besides the child listings. */
#define FAIL_DIAGNOSTICS "diagnosticSettings"
#define FAIL_RESOURCE	 "resource"

/* --- small helpers ---------------------------------------------------------------------------- */

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static json_object *get_ci(json_object *o, const char *key)
{
	if (!json_object_is_type(o, json_type_object))
		return NULL;
	json_object_object_foreach(o, k, v)
	{
		if (!strcasecmp(k, key))
			return v;
	}
	return NULL;
}

/* o.key when it is a string (never json_object_get_string on another type: that
 * serialises into the shared tree). */
static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static json_object *copy(json_object *o)
{
	json_object *c = NULL;

	if (json_object_deep_copy(o, &c, NULL) != 0)
		aw_emu_need(NULL);
	return c;
}

static void set_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, aw_emu_need(json_object_new_string(v)));
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* The items of a fixture list: an array (in order) or an object (label -> item, in
 * label order, so a merge patch can address one). Borrowed pointers, malloc'd array. */
struct estate_labelled {
	const char *label;
	json_object *item;
};

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct estate_labelled *)a)->label,
		      ((const struct estate_labelled *)b)->label);
}

static json_object **items_of(json_object *list, size_t *n)
{
	struct estate_labelled *pairs;
	json_object **v;
	size_t i = 0;

	*n = 0;
	if (json_object_is_type(list, json_type_array)) {
		*n = json_object_array_length(list);
		v = aw_emu_need(calloc(*n + 1, sizeof(*v)));
		for (i = 0; i < *n; i++)
			v[i] = json_object_array_get_idx(list, i);
		return v;
	}
	if (!json_object_is_type(list, json_type_object))
		return aw_emu_need(calloc(1, sizeof(*v)));
	*n = (size_t)json_object_object_length(list);
	pairs = aw_emu_need(calloc(*n + 1, sizeof(*pairs)));
	json_object_object_foreach(list, k, item)
	{
		pairs[i].label = k;
		pairs[i++].item = item;
	}
	qsort(pairs, *n, sizeof(*pairs), cmp_label);
	v = aw_emu_need(calloc(*n + 1, sizeof(*v)));
	for (i = 0; i < *n; i++)
		v[i] = pairs[i].item;
	free(pairs);
	return v;
}

/* "/subscriptions/{sub}/..." -> sub; "" when id is not a subscription-scoped id. */
static void id_subscription(const char *id, char *buf, size_t size)
{
	buf[0] = '\0';
	if (id && !strncasecmp(id, "/subscriptions/", 15))
		snprintf(buf, size, "%.*s", (int)strcspn(id + 15, "/"), id + 15);
}

static void id_resource_group(const char *id, char *buf, size_t size)
{
	const char *rg = id ? strcasestr(id, "/resourceGroups/") : NULL;

	buf[0] = '\0';
	if (rg)
		snprintf(buf, size, "%.*s", (int)strcspn(rg + 16, "/"), rg + 16);
}

static bool ids_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	/* ARM ids are case-insensitive; a trailing slash does not make another id */
	if (la && a[la - 1] == '/')
		la--;
	if (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && !strncasecmp(a, b, la);
}

/* --- generated resources ---------------------------------------------------------------------- */

/* One "generate" entry: `count` resources named <prefix><index, zero-padded>. */
struct estate_gen {
	json_object *entry; /* borrowed */
	const char *sub, *rg, *type;
	char prefix[128];
	int width;
	int64_t count;
};

static void gen_init(json_object *entry, size_t k, struct estate_gen *g)
{
	const char *p = str(entry, "name_prefix");
	int64_t c;

	g->entry = entry;
	g->sub = str(entry, "subscription");
	g->rg = str(entry, "resource_group") ? str(entry, "resource_group") : ESTATE_DEFAULT_RG;
	g->type = str(entry, "type");
	g->count = aw_emu_cfg_int(entry, "count", 0);
	if (p)
		snprintf(g->prefix, sizeof(g->prefix), "%s", p);
	else
		snprintf(g->prefix, sizeof(g->prefix), "gen%zu-", k);
	g->width = ESTATE_NAME_DIGITS;
	for (c = 100000; c < g->count && c > 0; c *= 10)
		g->width++;
}

static void gen_id(const struct estate_gen *g, int64_t i, char *buf, size_t size)
{
	snprintf(buf, size, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s%0*lld", g->sub,
		 g->rg, g->type, g->prefix, g->width, (long long)i);
}

/* Resource i of an entry, as ARM holds it. `props` (an owned copy of the template's
 * properties, or NULL to copy one now) is shared by reference: the rows of one query
 * carry the same template, and nothing outside this request sees them. */
static json_object *gen_resource(const struct estate_gen *g, int64_t i, json_object *props)
{
	json_object *r = aw_emu_need(json_object_new_object());
	char id[ESTATE_ID_MAX];
	static const char *const copied[] = {"identity", "sku", "tags"};
	size_t k;

	gen_id(g, i, id, sizeof(id));
	set_str(r, "id", id);
	set_str(r, "name", strrchr(id, '/') + 1);
	set_str(r, "type", g->type);
	if (str(g->entry, "kind"))
		set_str(r, "kind", str(g->entry, "kind"));
	set_str(r, "location",
		str(g->entry, "location") ? str(g->entry, "location") : ESTATE_DEFAULT_LOCATION);
	if (props)
		json_object_object_add(r, "properties", json_object_get(props));
	else if (get(g->entry, "properties"))
		json_object_object_add(r, "properties", copy(get(g->entry, "properties")));
	else
		json_object_object_add(r, "properties", aw_emu_need(json_object_new_object()));
	for (k = 0; k < sizeof(copied) / sizeof(copied[0]); k++) {
		if (get(g->entry, copied[k]))
			json_object_object_add(r, copied[k], copy(get(g->entry, copied[k])));
	}
	return r;
}

/* Is id one of this entry's resources? */
static bool gen_find(const struct estate_gen *g, const char *id, int64_t *index)
{
	char base[ESTATE_ID_MAX];
	size_t bl, il = strlen(id);
	int64_t v = 0;

	if (!g->sub || !g->type)
		return false;
	snprintf(base, sizeof(base), "/subscriptions/%s/resourceGroups/%s/providers/%s/%s", g->sub,
		 g->rg, g->type, g->prefix);
	bl = strlen(base);
	if (il && id[il - 1] == '/')
		il--;
	if (il != bl + (size_t)g->width || strncasecmp(id, base, bl))
		return false;
	for (size_t i = bl; i < il; i++) {
		if (!isdigit((unsigned char)id[i]))
			return false;
		v = v * 10 + (id[i] - '0');
	}
	if (v >= g->count)
		return false;
	*index = v;
	return true;
}

/* --- finding a resource by id ----------------------------------------------------------------- */

struct estate_found {
	json_object *res; /* the resource: borrowed from the config, or owned */
	bool owned;
	json_object *emu; /* its "_emu" (borrowed), or NULL */
};

static void found_clear(struct estate_found *f)
{
	if (f->owned)
		json_object_put(f->res);
	memset(f, 0, sizeof(*f));
}

static bool find_resource(json_object *est, const char *id, struct estate_found *f)
{
	json_object **items, *gens = get(est, "generate");
	size_t n, i;

	memset(f, 0, sizeof(*f));
	items = items_of(get(est, "resources"), &n);
	for (i = 0; i < n && !f->res; i++) {
		const char *rid = str(items[i], "id");

		if (rid && ids_equal(rid, id)) {
			f->res = items[i];
			f->emu = get(items[i], "_emu");
		}
	}
	free(items);
	for (i = 0; !f->res && json_object_is_type(gens, json_type_array) &&
		    i < json_object_array_length(gens);
	     i++) {
		struct estate_gen g;
		int64_t k;

		gen_init(json_object_array_get_idx(gens, i), i, &g);
		if (gen_find(&g, id, &k)) {
			f->res = gen_resource(&g, k, NULL);
			f->owned = true;
			f->emu = get(g.entry, "_emu");
		}
	}
	return f->res != NULL;
}

/* --- Resource Graph `resources` --------------------------------------------------------------- */

bool aw_emu_estate_rg_table(const char *query)
{
	while (*query == ' ' || *query == '\t' || *query == '\r' || *query == '\n')
		query++;
	return !strncasecmp(query, "resources", 9) && !word_char(query[9]);
}

/* The types a query names: `type in~ ('a','b')`, `type =~ 'a'`, `type == 'a'` keep;
 * `!in~`, `!in`, `!~`, `!=` drop. Anything subtler is ignored (every type passes). */
struct estate_types {
	char *keep[ESTATE_MAX_QUERY_TYPES], *drop[ESTATE_MAX_QUERY_TYPES];
	size_t nkeep, ndrop;
};

static const char *quoted(const char *p, struct estate_types *t, bool drop)
{
	char q = *p;
	const char *e;

	if (q != '\'' && q != '"')
		return NULL;
	if (!(e = strchr(p + 1, q)))
		return NULL;
	if (drop && t->ndrop < ESTATE_MAX_QUERY_TYPES)
		t->drop[t->ndrop++] = aw_emu_need(strndup(p + 1, (size_t)(e - p - 1)));
	else if (!drop && t->nkeep < ESTATE_MAX_QUERY_TYPES)
		t->keep[t->nkeep++] = aw_emu_need(strndup(p + 1, (size_t)(e - p - 1)));
	return e + 1;
}

static void types_parse(const char *q, struct estate_types *t)
{
	static const char *const ops[] = {"!in~", "!in", "in~", "in", "=~", "==", "!~", "!="};
	const char *s = q;

	memset(t, 0, sizeof(*t));
	while ((s = strcasestr(s, "type"))) {
		const char *p = s + 4, *op = NULL;
		size_t k;
		bool drop;

		if ((s > q && (word_char(s[-1]) || s[-1] == '.')) || word_char(*p)) {
			s += 4;
			continue;
		}
		s += 4;
		while (*p == ' ')
			p++;
		for (k = 0; k < sizeof(ops) / sizeof(ops[0]) && !op; k++) {
			size_t l = strlen(ops[k]);

			if (!strncasecmp(p, ops[k], l) &&
			    !(isalpha((unsigned char)ops[k][l - 1]) && word_char(p[l])))
				op = ops[k];
		}
		if (!op)
			continue;
		drop = op[0] == '!';
		p += strlen(op);
		while (*p == ' ')
			p++;
		if (*p != '(') {
			quoted(p, t, drop);
			continue;
		}
		for (p++;;) {
			while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t')
				p++;
			if (!(p = quoted(p, t, drop)))
				break;
		}
	}
}

static bool types_want(const struct estate_types *t, const char *type)
{
	size_t i;
	bool kept = t->nkeep == 0;

	if (!type)
		return false;
	for (i = 0; i < t->nkeep && !kept; i++)
		kept = !strcasecmp(t->keep[i], type);
	for (i = 0; i < t->ndrop && kept; i++)
		kept = strcasecmp(t->drop[i], type) != 0;
	return kept;
}

static void types_free(struct estate_types *t)
{
	size_t i;

	for (i = 0; i < t->nkeep; i++)
		free(t->keep[i]);
	for (i = 0; i < t->ndrop; i++)
		free(t->drop[i]);
}

/* The subscriptions a request covers (*subs, an owned array of strings), or *subs NULL
 * for every one. -1 with resp filled for a management group the estate does not have. */
static int scope_of(json_object *est, json_object *body, json_object **subs,
		    struct aw_emu_response *resp)
{
	json_object *list = get(body, "subscriptions"), *mgs = get(body, "managementGroups");
	size_t i, j;

	*subs = NULL;
	if (json_object_is_type(list, json_type_array) && json_object_array_length(list)) {
		*subs = aw_emu_need(json_object_new_array());
		for (i = 0; i < json_object_array_length(list); i++) {
			json_object *s = json_object_array_get_idx(list, i);

			if (json_object_is_type(s, json_type_string))
				json_object_array_add(*subs, json_object_get(s));
		}
	}
	if (!json_object_is_type(mgs, json_type_array) || !json_object_array_length(mgs))
		return 0;
	if (!*subs)
		*subs = aw_emu_need(json_object_new_array());
	for (i = 0; i < json_object_array_length(mgs); i++) {
		json_object *mg = json_object_array_get_idx(mgs, i), *members;
		const char *name =
		    json_object_is_type(mg, json_type_string) ? json_object_get_string(mg) : "";

		members = get_ci(get(est, "management_groups"), name);
		if (!json_object_is_type(members, json_type_array)) {
			aw_emu_resp_oneapi(resp, 400, "BadRequest",
					   "The management group '%s' could not be found, or the "
					   "caller has no access to it.",
					   name);
			json_object_put(*subs);
			*subs = NULL;
			return -1;
		}
		for (j = 0; j < json_object_array_length(members); j++) {
			json_object *s = json_object_array_get_idx(members, j);

			if (json_object_is_type(s, json_type_string))
				json_object_array_add(*subs, aw_emu_need(json_object_new_string(
								 json_object_get_string(s))));
		}
	}
	return 0;
}

static bool in_scope(json_object *subs, const char *sub)
{
	size_t i;

	if (!subs)
		return true;
	for (i = 0; i < json_object_array_length(subs); i++) {
		if (!strcasecmp(json_object_get_string(json_object_array_get_idx(subs, i)), sub))
			return true;
	}
	return false;
}

/* Turn an owned resource object into its Resource Graph row: no "_emu", the type in
 * lower case, the subscriptionId / resourceGroup / tenantId columns. */
static json_object *rg_row(json_object *r, const char *tenant)
{
	const char *id = str(r, "id"), *type = str(r, "type");
	char buf[256];

	json_object_object_del(r, "_emu");
	if (type) {
		char *t = aw_emu_strdup(type);

		for (char *c = t; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		set_str(r, "type", t);
		free(t);
	}
	if (!str(r, "name") && id)
		set_str(r, "name", strrchr(id, '/') + 1);
	id_subscription(id, buf, sizeof(buf));
	set_str(r, "subscriptionId", buf);
	id_resource_group(id, buf, sizeof(buf));
	set_str(r, "resourceGroup", buf);
	set_str(r, "tenantId", tenant);
	return r;
}

int aw_emu_estate_rg_rows(json_object *cfg, json_object *body, const char *query, json_object *rows,
			  struct aw_emu_response *resp)
{
	json_object *est = get(cfg, "estate"), *subs = NULL, **items, *gens = get(est, "generate");
	const char *tenant = aw_emu_cfg_str(cfg, "tenant_id", AW_EMU_DEFAULT_TENANT);
	struct estate_types types;
	char sub[256];
	size_t n, i;

	if (scope_of(est, body, &subs, resp) < 0)
		return -1;
	types_parse(query, &types);
	items = items_of(get(est, "resources"), &n);
	for (i = 0; i < n; i++) {
		id_subscription(str(items[i], "id"), sub, sizeof(sub));
		if (in_scope(subs, sub) && types_want(&types, str(items[i], "type")))
			json_object_array_add(rows, rg_row(copy(items[i]), tenant));
	}
	free(items);
	for (i = 0;
	     json_object_is_type(gens, json_type_array) && i < json_object_array_length(gens);
	     i++) {
		struct estate_gen g;
		json_object *props;

		gen_init(json_object_array_get_idx(gens, i), i, &g);
		if (!g.sub || !in_scope(subs, g.sub) || !types_want(&types, g.type))
			continue;
		props = get(g.entry, "properties") ? copy(get(g.entry, "properties"))
						   : aw_emu_need(json_object_new_object());
		for (int64_t k = 0; k < g.count; k++)
			json_object_array_add(rows, rg_row(gen_resource(&g, k, props), tenant));
		json_object_put(props);
	}
	types_free(&types);
	json_object_put(subs);
	return 0;
}

/* --- ARM reads -------------------------------------------------------------------------------- */

static void not_found(struct aw_emu_response *resp, const char *id)
{
	const char *p = strcasestr(id, "/providers/");
	char rg[256];

	id_resource_group(id, rg, sizeof(rg));
	aw_emu_resp_oneapi(resp, 404, "ResourceNotFound",
			   "The Resource '%s' under resource group '%s' was not found. For more "
			   "details please go to https://aka.ms/ARMResourceNotFoundFix",
			   p ? p + 11 : id, rg);
}

/* `_emu.fail.<what>` of the resource, when set: answer that ARM error and return true. */
static bool failed(struct aw_emu_request *rq, struct aw_emu_response *resp,
		   const struct estate_found *f, const char *what, const char *action)
{
	json_object *v = get(get(f->emu, "fail"), what);
	const char *id = str(f->res, "id");
	unsigned status;

	if (!json_object_is_type(v, json_type_int))
		return false;
	status = (unsigned)json_object_get_int64(v);
	switch (status) {
	case 403:
		aw_emu_resp_oneapi(
		    resp, 403, "AuthorizationFailed",
		    "The client '%s' with object id '%s' does not have authorization "
		    "to perform action '%s' over scope '%s' or the scope is invalid. If "
		    "access was recently granted, please refresh your credentials.",
		    rq->token.sub, rq->token.sub, action, id ? id : rq->path);
		break;
	case 404:
		not_found(resp, id ? id : rq->path);
		break;
	case 429:
		aw_emu_resp_oneapi(resp, 429, "TooManyRequests",
				   "The request is being throttled as the limit has been reached "
				   "for operation type - Read_ObservationWindow_00:00:01.");
		aw_emu_resp_header(resp, "Retry-After", "1");
		break;
	default:
		aw_emu_resp_default_error(resp, status, 0);
		break;
	}
	return true;
}

static void get_resource(struct aw_emu_request *rq, struct aw_emu_response *resp,
			 const struct estate_found *f)
{
	json_object *r;
	const char *id = str(f->res, "id");
	char action[300];

	snprintf(action, sizeof(action), "%s/read", str(f->res, "type") ? str(f->res, "type") : "");
	if (failed(rq, resp, f, FAIL_RESOURCE, action))
		return;
	r = copy(f->res);
	json_object_object_del(r, "_emu");
	if (!str(r, "name") && id)
		set_str(r, "name", strrchr(id, '/') + 1);
	aw_emu_resp_json(resp, 200, r);
}

static void list_children(struct aw_emu_request *rq, struct aw_emu_response *resp, json_object *est,
			  const struct estate_found *f, const struct estate_child *ch)
{
	const char *tok = aw_emu_query(rq, "$skipToken"), *pid = str(f->res, "id");
	json_object **items, *out, *value;
	int64_t ps = aw_emu_cfg_int(est, "child_page_size", ESTATE_CHILD_PAGE), page = 0, pages;
	size_t n, i;

	if (failed(rq, resp, f, ch->segment, ch->action))
		return;
	if (tok && (page = aw_emu_arm_token_page(tok)) < 0) {
		aw_emu_resp_oneapi(resp, 400, "InvalidSkipToken", "The $skipToken is not valid.");
		return;
	}
	items = items_of(get(f->emu, ch->segment), &n);
	pages = n ? ((int64_t)n + ps - 1) / ps : 1;
	out = aw_emu_need(json_object_new_object());
	value = aw_emu_need(json_object_new_array());
	/* a token past the end (any int64 a client sends) is an empty last page */
	for (i = page < pages ? (size_t)(page * ps) : n; i < n && i < (size_t)((page + 1) * ps);
	     i++) {
		json_object *c = copy(items[i]);
		const char *name = str(c, "name");

		if (!str(c, "id") && name && pid) {
			size_t len = strlen(pid) + strlen(ch->segment) + strlen(name) + 3;
			char *cid = aw_emu_need(malloc(len));

			snprintf(cid, len, "%s/%s/%s", pid, ch->segment, name);
			set_str(c, "id", cid);
			free(cid);
		}
		if (!str(c, "type"))
			set_str(c, "type", ch->type);
		json_object_array_add(value, c);
	}
	json_object_object_add(out, "value", value);
	if (page < pages - 1) {
		char *link = aw_emu_arm_next_link(rq, page + 1);

		set_str(out, "nextLink", link);
		free(link);
	} else {
		json_object_object_add(out, "nextLink", NULL);
	}
	free(items);
	aw_emu_resp_json(resp, 200, out);
}

static void list_diagnostics(struct aw_emu_request *rq, struct aw_emu_response *resp,
			     const struct estate_found *f)
{
	json_object **items, *out, *value;
	const char *rid = str(f->res, "id");
	size_t n, i;

	if (failed(rq, resp, f, FAIL_DIAGNOSTICS, "microsoft.insights/diagnosticSettings/read"))
		return;
	items = items_of(get(f->emu, FAIL_DIAGNOSTICS), &n);
	out = aw_emu_need(json_object_new_object());
	value = aw_emu_need(json_object_new_array());
	for (i = 0; i < n; i++) {
		json_object *c = copy(items[i]);
		const char *name = str(c, "name");

		if (!str(c, "id") && name && rid) {
			size_t len = strlen(rid) + strlen(name) + 64;
			char *cid = aw_emu_need(malloc(len));

			snprintf(cid, len, "%s/providers/microsoft.insights/diagnosticSettings/%s",
				 rid, name);
			set_str(c, "id", cid);
			free(cid);
		}
		if (!str(c, "type"))
			set_str(c, "type", "Microsoft.Insights/diagnosticSettings");
		json_object_array_add(value, c);
	}
	free(items);
	json_object_object_add(out, "value", value);
	aw_emu_resp_json(resp, 200, out);
}

/* A Defender plan: the configured one (estate.pricings.SUB.NAME), else the Free tier. */
static void get_pricing(struct aw_emu_response *resp, json_object *est, const char *sub,
			const char *name)
{
	json_object *p = get_ci(get_ci(get(est, "pricings"), sub), name), *out;
	char id[ESTATE_ID_MAX];

	snprintf(id, sizeof(id), "/subscriptions/%s%s%s", sub, ESTATE_PRICINGS, name);
	if (json_object_is_type(p, json_type_object)) {
		out = copy(p);
	} else {
		json_object *props = aw_emu_need(json_object_new_object());

		out = aw_emu_need(json_object_new_object());
		set_str(props, "pricingTier", "Free");
		json_object_object_add(out, "properties", props);
	}
	if (!str(out, "id"))
		set_str(out, "id", id);
	if (!str(out, "name"))
		set_str(out, "name", name);
	if (!str(out, "type"))
		set_str(out, "type", "Microsoft.Security/pricings");
	aw_emu_resp_json(resp, 200, out);
}

/* Does path end with suffix (any case)? Returns where, or NULL. */
static char *ends_with(char *path, const char *suffix)
{
	size_t lp = strlen(path), ls = strlen(suffix);

	return lp > ls && !strcasecmp(path + lp - ls, suffix) ? path + lp - ls : NULL;
}

/* GET /subscriptions/...: which read it is follows from the path's end. */
static void estate_get(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	json_object *cfg = NULL, *est;
	struct estate_found f = {0};
	char *path = aw_emu_strdup(rq->path), *cut, sub[256], guid[37];
	const struct estate_child *ch = NULL;
	size_t len = strlen(path), i;

	if (!aw_emu_query(rq, "api-version")) {
		aw_emu_resp_oneapi(resp, 400, "MissingApiVersionParameter",
				   "The api-version query parameter (?api-version=) is required "
				   "for all requests.");
		goto out;
	}
	if (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	cfg = aw_emu_config_acquire(rq->st);
	est = get(cfg, "estate");
	id_subscription(path, sub, sizeof(sub));
	/* /subscriptions/{sub}/providers/Microsoft.Security/pricings/{name} */
	cut = path + 15 + strlen(sub);
	if (!strncasecmp(cut, ESTATE_PRICINGS, strlen(ESTATE_PRICINGS)) &&
	    !strchr(cut + strlen(ESTATE_PRICINGS), '/') && cut[strlen(ESTATE_PRICINGS)]) {
		get_pricing(resp, est, sub, cut + strlen(ESTATE_PRICINGS));
		goto out;
	}
	if ((cut = ends_with(path, ESTATE_DIAG_SUFFIX))) {
		*cut = '\0';
		if (!find_resource(est, path, &f))
			not_found(resp, path);
		else
			list_diagnostics(rq, resp, &f);
		goto out;
	}
	cut = strrchr(path, '/');
	for (i = 0; i < ESTATE_NCHILDREN && !ch; i++) {
		if (!strcasecmp(cut + 1, estate_children[i].segment))
			ch = &estate_children[i];
	}
	if (ch) {
		*cut = '\0';
		if (!find_resource(est, path, &f) || !str(f.res, "type") ||
		    strcasecmp(str(f.res, "type"), ch->parent_type) != 0) {
			*cut = '/';
			not_found(resp, path);
		} else {
			list_children(rq, resp, est, &f, ch);
		}
		goto out;
	}
	if (!find_resource(est, path, &f))
		not_found(resp, path);
	else
		get_resource(rq, resp, &f);
out:
	if (resp->status) {
		aw_emu_guid(guid);
		aw_emu_resp_header(resp, "x-ms-correlation-request-id", "%s", guid);
	}
	found_clear(&f);
	free(path);
	if (cfg)
		aw_emu_config_release(rq->st, cfg);
}

/* --- config ----------------------------------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errlen, "config: ");
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_type(json_object *o, const char *key, json_type type)
{
	return !get(o, key) || json_object_is_type(get(o, key), type);
}

/* A list of objects (array, or object of labelled items); with `named`, each needs a name. */
static int check_items(json_object *list, const char *where, bool named, char *err, size_t errlen)
{
	json_object **items;
	size_t n, i;
	int rc = 0;

	if (!json_object_is_type(list, json_type_array) &&
	    !json_object_is_type(list, json_type_object))
		return bad(err, errlen, "%s must be an array or an object (label: item)", where);
	items = items_of(list, &n);
	for (i = 0; i < n && !rc; i++) {
		if (!json_object_is_type(items[i], json_type_object))
			rc = bad(err, errlen, "%s: item %zu must be an object", where, i);
		else if (named && !str(items[i], "name"))
			rc = bad(err, errlen, "%s: item %zu needs a string \"name\"", where, i);
	}
	free(items);
	return rc;
}

static int check_emu(json_object *emu, const char *where, char *err, size_t errlen)
{
	char at[512];
	size_t i;

	if (!emu)
		return 0;
	if (!json_object_is_type(emu, json_type_object))
		return bad(err, errlen, "%s._emu must be an object", where);
	json_object_object_foreach(emu, key, v)
	{
		bool child = false;

		for (i = 0; i < ESTATE_NCHILDREN; i++)
			child = child || !strcmp(key, estate_children[i].segment);
		snprintf(at, sizeof(at), "%s._emu.%s", where, key);
		if (child || !strcmp(key, FAIL_DIAGNOSTICS)) {
			if (check_items(v, at, child, err, errlen) < 0)
				return -1;
			continue;
		}
		if (strcmp(key, "fail"))
			return bad(err, errlen,
				   "%s: unknown key (expected deployments, computes, secrets, "
				   "diagnosticSettings or fail)",
				   at);
		if (!json_object_is_type(v, json_type_object))
			return bad(err, errlen, "%s must be an object (read: status)", at);
		json_object_object_foreach(v, what, status)
		{
			bool known =
			    !strcmp(what, FAIL_DIAGNOSTICS) || !strcmp(what, FAIL_RESOURCE);

			for (i = 0; i < ESTATE_NCHILDREN; i++)
				known = known || !strcmp(what, estate_children[i].segment);
			if (!known)
				return bad(err, errlen,
					   "%s.%s: unknown read (expected deployments, computes, "
					   "secrets, diagnosticSettings or resource)",
					   at, what);
			if (!json_object_is_type(status, json_type_int) ||
			    json_object_get_int64(status) < 400 ||
			    json_object_get_int64(status) > 599)
				return bad(err, errlen, "%s.%s must be an HTTP status 400..599", at,
					   what);
		}
	}
	return 0;
}

static int check_resource(json_object *r, const char *where, char *err, size_t errlen)
{
	const char *id = str(r, "id");
	char sub[256];

	if (!json_object_is_type(r, json_type_object))
		return bad(err, errlen, "%s must be an object", where);
	id_subscription(id, sub, sizeof(sub));
	if (!id || !sub[0])
		return bad(err, errlen, "%s.id must be a string /subscriptions/{sub}/...", where);
	if (!str(r, "type") || !strchr(str(r, "type"), '/'))
		return bad(err, errlen,
			   "%s.type must be a string such as "
			   "Microsoft.CognitiveServices/accounts",
			   where);
	if (!is_type(r, "name", json_type_string))
		return bad(err, errlen, "%s.name must be a string", where);
	return check_emu(get(r, "_emu"), where, err, errlen);
}

static int check_generate(json_object *g, const char *where, int64_t *total, char *err,
			  size_t errlen)
{
	static const struct {
		const char *key;
		json_type type;
	} keys[] = {
	    {"count", json_type_int},
	    {"subscription", json_type_string},
	    {"resource_group", json_type_string},
	    {"type", json_type_string},
	    {"kind", json_type_string},
	    {"location", json_type_string},
	    {"name_prefix", json_type_string},
	    {"properties", json_type_object},
	    {"identity", json_type_object},
	    {"sku", json_type_object},
	    {"tags", json_type_object},
	    {"_emu", json_type_object},
	};
	static const char *const plain[] = {"subscription", "resource_group", "name_prefix"};
	size_t i;
	int64_t count;

	if (!json_object_is_type(g, json_type_object))
		return bad(err, errlen, "%s must be an object", where);
	json_object_object_foreach(g, key, v)
	{
		bool known = false;

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(key, keys[i].key))
				continue;
			known = true;
			if (!json_object_is_type(v, keys[i].type))
				return bad(err, errlen, "%s.%s must be a %s", where, key,
					   json_type_to_name(keys[i].type));
		}
		if (!known)
			return bad(err, errlen, "%s.%s: unknown key", where, key);
	}
	if (!get(g, "count") || !str(g, "subscription") || !str(g, "type"))
		return bad(err, errlen, "%s needs count, subscription and type", where);
	count = json_object_get_int64(get(g, "count"));
	if (count < 0 || count > ESTATE_MAX_GENERATED - *total)
		return bad(err, errlen, "%s.count: at most %d generated resources in all", where,
			   ESTATE_MAX_GENERATED);
	*total += count;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		const char *s = str(g, plain[i]);

		if (s && (!*s || strchr(s, '/') || strlen(s) > 100))
			return bad(err, errlen, "%s.%s must be 1..100 characters without '/'",
				   where, plain[i]);
	}
	if (!strchr(str(g, "type"), '/') || strlen(str(g, "type")) > 200)
		return bad(err, errlen,
			   "%s.type must be a type such as "
			   "Microsoft.CognitiveServices/accounts",
			   where);
	return check_emu(get(g, "_emu"), where, err, errlen);
}

static int validate(json_object *cfg, char *err, size_t errlen)
{
	json_object *est, *v;
	char at[512];
	int64_t total = 0;
	size_t i;

	if (aw_emu_cfg_check(cfg, "estate", json_type_object, err, errlen) < 0)
		return -1;
	if (!(est = get(cfg, "estate")))
		return 0;
	json_object_object_foreach(est, key, val)
	{
		(void)val;
		if (strcmp(key, "resources") && strcmp(key, "pricings") &&
		    strcmp(key, "management_groups") && strcmp(key, "generate") &&
		    strcmp(key, "child_page_size"))
			return bad(err, errlen,
				   "estate.%s: unknown key (expected resources, pricings, "
				   "management_groups, generate or child_page_size)",
				   key);
	}
	if ((v = get(est, "child_page_size")) &&
	    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
	     json_object_get_int64(v) > ESTATE_CHILD_PAGE_MAX))
		return bad(err, errlen, "estate.child_page_size must be an integer 1..%d",
			   ESTATE_CHILD_PAGE_MAX);
	if ((v = get(est, "resources"))) {
		if (json_object_is_type(v, json_type_array)) {
			for (i = 0; i < json_object_array_length(v); i++) {
				snprintf(at, sizeof(at), "estate.resources[%zu]", i);
				if (check_resource(json_object_array_get_idx(v, i), at, err,
						   errlen) < 0)
					return -1;
			}
		} else if (json_object_is_type(v, json_type_object)) {
			json_object_object_foreach(v, label, r)
			{
				snprintf(at, sizeof(at), "estate.resources.%s", label);
				if (check_resource(r, at, err, errlen) < 0)
					return -1;
			}
		} else {
			return bad(err, errlen,
				   "estate.resources must be an array or an object (label: "
				   "resource)");
		}
	}
	if ((v = get(est, "pricings"))) {
		if (!json_object_is_type(v, json_type_object))
			return bad(err, errlen,
				   "estate.pricings must be an object (subscription: "
				   "{plan: pricing})");
		json_object_object_foreach(v, sub, plans)
		{
			if (!json_object_is_type(plans, json_type_object))
				return bad(err, errlen, "estate.pricings.%s must be an object",
					   sub);
			json_object_object_foreach(plans, plan, p)
			{
				if (!json_object_is_type(p, json_type_object))
					return bad(err, errlen,
						   "estate.pricings.%s.%s must be an object", sub,
						   plan);
			}
		}
	}
	if ((v = get(est, "management_groups"))) {
		if (!json_object_is_type(v, json_type_object))
			return bad(err, errlen,
				   "estate.management_groups must be an object "
				   "(group: [subscription, ...])");
		json_object_object_foreach(v, mg, subs)
		{
			bool ok = json_object_is_type(subs, json_type_array);

			for (i = 0; ok && i < json_object_array_length(subs); i++)
				ok = json_object_is_type(json_object_array_get_idx(subs, i),
							 json_type_string);
			if (!ok)
				return bad(err, errlen,
					   "estate.management_groups.%s must be an array of "
					   "subscription ids",
					   mg);
		}
	}
	if ((v = get(est, "generate"))) {
		if (!json_object_is_type(v, json_type_array))
			return bad(err, errlen, "estate.generate must be an array");
		for (i = 0; i < json_object_array_length(v); i++) {
			snprintf(at, sizeof(at), "estate.generate[%zu]", i);
			if (check_generate(json_object_array_get_idx(v, i), at, &total, err,
					   errlen) < 0)
				return -1;
		}
	}
	return 0;
}

/* After the arm module, whose Defender lists share the /subscriptions/ prefix and win. */
static const struct aw_emu_route routes[] = {
    {"GET", "/subscriptions/{path*}", ESTATE_AUDIENCE, 0, estate_get},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_estate_module = {"estate", routes, validate, NULL};
