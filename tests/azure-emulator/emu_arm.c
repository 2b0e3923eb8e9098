/* ARM reads for Defender for Cloud and Azure Resource Graph (contract §4, checklist §9).
 *
 * GET /subscriptions/{sub}/providers/Microsoft.Security/{assessments|alerts} pages a
 * fixture list with nextLink (and the pathological modes: an empty page that still
 * carries a nextLink, a run of them after the data, a last page whose nextLink is its
 * own URL), counting x-ms-ratelimit-remaining-subscription-reads down from a token
 * bucket per subscription and answering 429 TooManyRequests + Retry-After when it is
 * empty. POST /providers/Microsoft.ResourceGraph/resources answers `securityresources`
 * queries from the same fixtures with $skipToken paging, resultTruncated as a string,
 * and the x-ms-user-quota-* headers of a per-window quota.
 *
 * Fixtures live in the config ("arm": see README.md) so /_emulator/config can change a
 * status between two polls. Items are served sorted by their label. The config tree is
 * shared and read-only: items are deep-copied into answers, never referenced. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_estate.h"
#include "emu_state.h"

#define ARM_AUDIENCE	    "https://management.azure.com/"
#define ARM_PAGE_DEFAULT    100
#define ARM_BUCKET_DEFAULT  250 /* reads per subscription (2024 token bucket) */
#define ARM_REFILL_DEFAULT  25	/* reads refilled per second */
#define ARM_MAX_BUCKETS	    256
#define ARM_MAX_PAGES	    1000000
#define RG_TOP_DEFAULT	    100
#define RG_TOP_MAX	    1000
#define RG_QUOTA_DEFAULT    15
#define RG_WINDOW_DEFAULT_S 5
#define ARM_GLOBAL_FACTOR   15 /* global subscription limits are 15x the per-principal ones */

struct arm_bucket {
	char sub[64];
	double tokens;
	int64_t t_ms;
};

/* What the module counts and throttles; cleared by /_emulator/reset. */
static struct {
	pthread_mutex_t mu;
	struct arm_bucket buckets[ARM_MAX_BUCKETS];
	size_t nbuckets;
	int64_t rg_window_ms;
	int64_t rg_used;
	uint64_t pages, throttled, rg_pages, rg_throttled;
} arm = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct arm_item {
	const char *label;
	json_object *v; /* in the config tree: read only */
	const char *sort;
};

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

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct arm_item *)a)->sort, ((const struct arm_item *)b)->sort);
}

/* The fixtures of one kind in a subscription's entry: an object (label -> item, served
 * in label order) or an array (served as listed). *n items in a malloc'd array. */
static struct arm_item *collect(json_object *list, size_t *n)
{
	struct arm_item *v;
	size_t i = 0;

	*n = 0;
	if (json_object_is_type(list, json_type_array)) {
		*n = json_object_array_length(list);
		v = aw_emu_need(calloc(*n + 1, sizeof(*v)));
		for (i = 0; i < *n; i++) {
			v[i].v = json_object_array_get_idx(list, i);
			v[i].label = v[i].sort = "";
		}
		return v;
	}
	if (!json_object_is_type(list, json_type_object))
		return aw_emu_need(calloc(1, sizeof(*v)));
	*n = (size_t)json_object_object_length(list);
	v = aw_emu_need(calloc(*n + 1, sizeof(*v)));
	json_object_object_foreach(list, k, item)
	{
		v[i].label = v[i].sort = k;
		v[i++].v = item;
	}
	qsort(v, *n, sizeof(*v), cmp_item);
	return v;
}

/* --- throttling ------------------------------------------------------------------------ */

/* Take one read from the subscription's bucket. Returns the reads left, or -1 with
 * *retry_s set when it is empty. */
static int64_t bucket_take(const char *sub, int64_t size, int64_t refill, int64_t *retry_s)
{
	int64_t now = aw_emu_now_ms(), left;
	struct arm_bucket *b = NULL;
	size_t i;

	pthread_mutex_lock(&arm.mu);
	for (i = 0; i < arm.nbuckets && !b; i++) {
		if (!strcasecmp(arm.buckets[i].sub, sub))
			b = &arm.buckets[i];
	}
	if (!b) {
		b = &arm.buckets[arm.nbuckets < ARM_MAX_BUCKETS ? arm.nbuckets++ : 0];
		snprintf(b->sub, sizeof(b->sub), "%s", sub);
		b->tokens = (double)size;
		b->t_ms = now;
	}
	b->tokens += (double)(now - b->t_ms) * (double)refill / 1000.0;
	if (b->tokens > (double)size)
		b->tokens = (double)size;
	b->t_ms = now;
	if (b->tokens < 1.0) {
		arm.throttled++;
		/* whole seconds until one read is back, rounded up */
		*retry_s = refill > 0 ? (int64_t)((1.0 - b->tokens) / (double)refill) + 1 : 60;
		left = -1;
	} else {
		b->tokens -= 1.0;
		left = (int64_t)b->tokens;
		arm.pages++;
	}
	pthread_mutex_unlock(&arm.mu);
	return left;
}

static void remaining_headers(struct aw_emu_response *resp, int64_t left)
{
	aw_emu_resp_header(resp, "x-ms-ratelimit-remaining-subscription-reads", "%lld",
			   (long long)left);
	aw_emu_resp_header(resp, "x-ms-ratelimit-remaining-subscription-global-reads", "%lld",
			   (long long)left * ARM_GLOBAL_FACTOR);
}

/* --- ARM lists ---------------------------------------------------------------------------- */

/* $skipToken values are opaque to clients: base64url of {"page":N}. */
static char *page_token(int64_t page)
{
	char js[64];

	snprintf(js, sizeof(js), "{\"page\":%lld}", (long long)page);
	return aw_emu_b64url_encode((const unsigned char *)js, strlen(js));
}

static int64_t page_from_token(const char *tok)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	json_object *o, *p;
	int64_t page = -1;

	if (aw_emu_b64url_decode(tok, strlen(tok), &raw, &len) < 0)
		return -1;
	o = json_tokener_parse((const char *)raw);
	if ((p = get(o, "page")) && json_object_is_type(p, json_type_int))
		page = json_object_get_int64(p);
	json_object_put(o);
	free(raw);
	return page;
}

/* The request's own URL with its $skipToken replaced by `token` (NULL: kept as is). */
static char *link_for(const struct aw_emu_request *rq, const char *token)
{
	size_t cap = strlen(rq->path) + strlen(rq->query) + (token ? strlen(token) : 0) + 64;
	char *out = aw_emu_need(malloc(cap));
	const char *q = rq->query;
	size_t n;

	n = (size_t)snprintf(out, cap, "http://127.0.0.1:%u%s", rq->st->port, rq->path);
	if (!token) {
		if (*q)
			snprintf(out + n, cap - n, "?%s", q);
		return out;
	}
	out[n++] = '?';
	out[n] = '\0';
	while (*q) {
		const char *e = strchrnul(q, '&');
		size_t len = (size_t)(e - q);

		if (len && strncasecmp(q, "$skipToken=", 11) != 0 &&
		    strncasecmp(q, "%24skipToken=", 13) != 0) {
			memcpy(out + n, q, len);
			n += len;
			out[n++] = '&';
			out[n] = '\0';
		}
		q = *e ? e + 1 : e;
	}
	snprintf(out + n, cap - n, "$skipToken=%s", token);
	return out;
}

/* The paging above, for the estate's child listings (emu_estate.h). */
char *aw_emu_arm_next_link(const struct aw_emu_request *rq, int64_t page)
{
	char *t = page_token(page), *link = link_for(rq, t);

	free(t);
	return link;
}

int64_t aw_emu_arm_token_page(const char *token)
{
	return page_from_token(token);
}

/* An item as ARM answers it: metadata and links only when $expand asks for them. */
static json_object *served_item(json_object *item, const char *expand, bool assessment)
{
	json_object *copy = NULL, *props;

	if (json_object_deep_copy(item, &copy, NULL) != 0)
		aw_emu_need(NULL);
	if (!assessment || !(props = get(copy, "properties")) ||
	    !json_object_is_type(props, json_type_object))
		return copy;
	if (!expand || !strcasestr(expand, "metadata"))
		json_object_object_del(props, "metadata");
	if (!expand || !strcasestr(expand, "links"))
		json_object_object_del(props, "links");
	return copy;
}

static void list_findings(struct aw_emu_request *rq, struct aw_emu_response *resp, bool assessment)
{
	const char *sub = aw_emu_param(rq, "sub"), *tok = aw_emu_query(rq, "$skipToken");
	json_object *cfg = NULL, *conf, *subs, *entry, *out, *value;
	struct arm_item *items = NULL;
	int64_t ps, empty_at, trailing, pages, data_pages, page = 0, d, left, retry_s = 0;
	size_t n = 0, i;
	bool empty;

	if (!aw_emu_query(rq, "api-version")) {
		aw_emu_resp_oneapi(resp, 400, "MissingApiVersionParameter",
				   "The api-version query parameter (?api-version=) is required "
				   "for all requests.");
		return;
	}
	cfg = aw_emu_config_acquire(rq->st);
	conf = get(cfg, "arm");
	subs = get(conf, "subscriptions");
	entry = get_ci(subs, sub);
	if (!entry) {
		aw_emu_resp_oneapi(resp, 404, "SubscriptionNotFound",
				   "The subscription '%s' could not be found.", sub);
		goto out;
	}
	left =
	    bucket_take(sub, aw_emu_cfg_int(conf, "reads_bucket", ARM_BUCKET_DEFAULT),
			aw_emu_cfg_int(conf, "reads_refill_per_s", ARM_REFILL_DEFAULT), &retry_s);
	if (left < 0) {
		aw_emu_resp_oneapi(resp, 429, "TooManyRequests",
				   "The request is being throttled as the limit has been reached "
				   "for operation type - Read_ObservationWindow_00:00:01.");
		aw_emu_resp_header(resp, "Retry-After", "%lld", (long long)retry_s);
		remaining_headers(resp, 0);
		goto out;
	}
	if (tok && (page = page_from_token(tok)) < 0) {
		aw_emu_resp_oneapi(resp, 400, "InvalidSkipToken", "The $skipToken is not valid.");
		goto out;
	}
	items = collect(get(entry, assessment ? "assessments" : "alerts"), &n);
	ps = aw_emu_cfg_int(conf, "page_size", ARM_PAGE_DEFAULT);
	empty_at = aw_emu_cfg_int(conf, "empty_page_at", -1);
	trailing = aw_emu_cfg_int(conf, "trailing_empty_pages", 0);
	data_pages = n ? ((int64_t)n + ps - 1) / ps : 1;
	if (empty_at >= data_pages)
		empty_at = -1;
	pages = data_pages + (empty_at >= 0 ? 1 : 0) + trailing;
	if (page >= pages) {
		/* a token this listing never handed out (and d * ps below must not overflow) */
		aw_emu_resp_oneapi(resp, 400, "InvalidSkipToken", "The $skipToken is not valid.");
		goto out;
	}
	/* Page `page` of the virtual sequence: data pages, with one empty page before data
	 * page empty_at, then `trailing` empty pages. */
	d = page - (empty_at >= 0 && page > empty_at ? 1 : 0);
	empty = (empty_at >= 0 && page == empty_at) || d >= data_pages;
	out = aw_emu_need(json_object_new_object());
	value = aw_emu_need(json_object_new_array());
	for (i = empty ? n : (size_t)(d * ps); i < n && i < (size_t)((d + 1) * ps); i++)
		json_object_array_add(
		    value, served_item(items[i].v, aw_emu_query(rq, "$expand"), assessment));
	json_object_object_add(out, "value", value);
	if (page + 1 < pages) {
		char *t = page_token(page + 1), *link = link_for(rq, t);

		json_object_object_add(out, "nextLink", json_object_new_string(link));
		free(t);
		free(link);
	} else if (json_object_get_boolean(get(conf, "repeat_last_link"))) {
		/* A link that never advances: the last page names itself again. */
		char *link = link_for(rq, NULL);

		json_object_object_add(out, "nextLink", json_object_new_string(link));
		free(link);
	} else {
		json_object_object_add(out, "nextLink", NULL);
	}
	aw_emu_resp_json(resp, 200, out);
	remaining_headers(resp, left);
out:
	if (resp->status) {
		char guid[37];

		aw_emu_guid(guid);
		aw_emu_resp_header(resp, "x-ms-correlation-request-id", "%s", guid);
	}
	free(items);
	aw_emu_config_release(rq->st, cfg);
}

static void list_assessments(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	list_findings(rq, resp, true);
}

static void list_alerts(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	list_findings(rq, resp, false);
}

/* --- Resource Graph ------------------------------------------------------------------------- */

/* Take one query from the per-window quota: the queries left, or -1 when exhausted.
 * *reset_ms: until the window ends. */
static int64_t rg_take(int64_t quota, int64_t window_s, int64_t *reset_ms)
{
	int64_t now = aw_emu_now_ms(), left;

	pthread_mutex_lock(&arm.mu);
	if (!arm.rg_window_ms || now - arm.rg_window_ms >= window_s * 1000) {
		arm.rg_window_ms = now;
		arm.rg_used = 0;
	}
	*reset_ms = arm.rg_window_ms + window_s * 1000 - now;
	if (arm.rg_used >= quota) {
		arm.rg_throttled++;
		left = -1;
	} else {
		left = quota - ++arm.rg_used;
		arm.rg_pages++;
	}
	pthread_mutex_unlock(&arm.mu);
	return left;
}

static void quota_headers(struct aw_emu_response *resp, int64_t left, int64_t reset_ms)
{
	int64_t s = (reset_ms + 999) / 1000;

	aw_emu_resp_header(resp, "x-ms-user-quota-remaining", "%lld", (long long)left);
	aw_emu_resp_header(resp, "x-ms-user-quota-resets-after", "%02lld:%02lld:%02lld",
			   (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
}

/* Does the query's last `project` list keep `id`? (No projection keeps every column.) */
static bool projects_id(const char *q)
{
	const char *p = NULL, *s = q;

	while ((s = strcasestr(s, "project ")))
		p = s++;
	if (!p)
		return true;
	for (p += 8;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p || *p == '|')
			return false;
		size_t len = strcspn(p, " ,|");
		if (len == 2 && !strncasecmp(p, "id", 2))
			return true;
		p += len;
	}
}

/* The row `securityresources` holds for a fixture: ARM's item with ARG's columns. */
static json_object *rg_row(json_object *item, const char *sub)
{
	json_object *row = NULL, *id = get(item, "id"), *type = get(item, "type");
	const char *rg;
	char *t, buf[256];

	if (!json_object_is_type(item, json_type_object) ||
	    json_object_deep_copy(item, &row, NULL) != 0)
		return served_item(item, NULL, false);
	if (type && json_object_is_type(type, json_type_string)) {
		t = aw_emu_strdup(json_object_get_string(type));
		for (char *c = t; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		json_object_object_add(row, "type", json_object_new_string(t));
		free(t);
	}
	json_object_object_add(row, "subscriptionId", json_object_new_string(sub));
	buf[0] = '\0';
	if (id && json_object_is_type(id, json_type_string) &&
	    (rg = strcasestr(json_object_get_string(id), "/resourceGroups/")))
		snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(rg + 16, "/"), rg + 16);
	json_object_object_add(row, "resourceGroup", json_object_new_string(buf));
	json_object_object_add(row, "tenantId", json_object_new_string(AW_EMU_DEFAULT_TENANT));
	return row;
}

static const char *row_sort_key(json_object *row, const char *label)
{
	json_object *id = get(row, "id");

	return id && json_object_is_type(id, json_type_string) ? json_object_get_string(id) : label;
}

static bool wanted_sub(json_object *list, const char *sub)
{
	size_t i;

	if (!json_object_is_type(list, json_type_array))
		return true;
	for (i = 0; i < json_object_array_length(list); i++) {
		if (!strcasecmp(json_object_get_string(json_object_array_get_idx(list, i)), sub))
			return true;
	}
	return false;
}

static int cmp_row(const void *a, const void *b)
{
	return strcasecmp(((const struct arm_item *)a)->sort, ((const struct arm_item *)b)->sort);
}

static void rg_query(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	json_object *body = NULL, *cfg, *conf, *rgc, *opts, *q, *v, *out, *data;
	struct arm_item *rows = NULL;
	size_t nrows = 0, i, off = 0, top;
	int64_t left, reset_ms;
	const char *query;
	bool with_id;

	if (!aw_emu_query(rq, "api-version")) {
		aw_emu_resp_oneapi(resp, 400, "MissingApiVersionParameter",
				   "The api-version query parameter (?api-version=) is required "
				   "for all requests.");
		return;
	}
	cfg = aw_emu_config_acquire(rq->st);
	conf = get(cfg, "arm");
	rgc = get(conf, "resource_graph");
	left = rg_take(aw_emu_cfg_int(rgc, "quota", RG_QUOTA_DEFAULT),
		       aw_emu_cfg_int(rgc, "window_s", RG_WINDOW_DEFAULT_S), &reset_ms);
	if (left < 0) {
		aw_emu_resp_oneapi(resp, 429, "RateLimiting",
				   "Please provide below info when asking for support: timestamp "
				   "and correlation id. Client application has been throttled.");
		quota_headers(resp, 0, reset_ms);
		if (json_object_get_boolean(get(rgc, "retry_after")))
			aw_emu_resp_header(resp, "Retry-After", "%lld",
					   (long long)((reset_ms + 999) / 1000));
		goto out;
	}
	body = json_tokener_parse(rq->body);
	q = get(body, "query");
	if (!q || !json_object_is_type(q, json_type_string)) {
		aw_emu_resp_oneapi(resp, 400, "BadRequest", "The request has no query string.");
		goto out;
	}
	query = json_object_get_string(q);
	opts = get(body, "options");
	if ((v = get(opts, "resultFormat")) &&
	    strcasecmp(json_object_get_string(v), "objectArray")) {
		aw_emu_resp_oneapi(resp, 400, "BadRequest",
				   "The emulator answers resultFormat objectArray only.");
		goto out;
	}
	top = (v = get(opts, "$top")) ? (size_t)json_object_get_int64(v) : RG_TOP_DEFAULT;
	if (top < 1 || top > RG_TOP_MAX)
		top = top < 1 ? 1 : RG_TOP_MAX;
	if ((v = get(rgc, "page_size")) && (size_t)json_object_get_int64(v) < top)
		top = (size_t)json_object_get_int64(v);
	if ((v = get(opts, "$skipToken"))) {
		int64_t p = page_from_token(json_object_get_string(v));

		if (p < 0) {
			aw_emu_resp_oneapi(resp, 400, "BadRequest", "The $skipToken is not valid.");
			goto out;
		}
		off = (size_t)p;
	} else if ((v = get(opts, "$skip"))) {
		off = (size_t)json_object_get_int64(v);
	}
	/* The tiny KQL this speaks: the `resources` table is the estate's (emu_estate.c);
	 * in `securityresources`, which of the two types the query names. */
	if (aw_emu_estate_rg_table(query)) {
		json_object *list = aw_emu_need(json_object_new_array());
		int rc = aw_emu_estate_rg_rows(cfg, body, query, list, resp);

		nrows = rc < 0 ? 0 : json_object_array_length(list);
		rows = aw_emu_need(calloc(nrows + 1, sizeof(*rows)));
		for (i = 0; i < nrows; i++) {
			rows[i].v = json_object_get(json_object_array_get_idx(list, i));
			rows[i].sort = row_sort_key(rows[i].v, "");
		}
		json_object_put(list);
		if (rc < 0)
			goto out;
	} else if (strcasestr(query, "securityresources") &&
	    json_object_is_type(get(conf, "subscriptions"), json_type_object)) {
		json_object_object_foreach(get(conf, "subscriptions"), sub, entry)
		{
			static const char *const kinds[2] = {"assessments", "alerts"};
			static const char *const types[2] = {"microsoft.security/assessments",
							     "microsoft.security/locations/alerts"};

			if (!wanted_sub(get(body, "subscriptions"), sub))
				continue;
			for (int k = 0; k < 2; k++) {
				size_t m = 0;
				struct arm_item *it;

				if (!strcasestr(query, types[k]))
					continue;
				it = collect(get(entry, kinds[k]), &m);
				rows = aw_emu_need(realloc(rows, (nrows + m + 1) * sizeof(*rows)));
				for (i = 0; i < m; i++) {
					rows[nrows].v = rg_row(it[i].v, sub);
					rows[nrows].sort = row_sort_key(rows[nrows].v, it[i].label);
					nrows++;
				}
				free(it);
			}
		}
	}
	if (nrows) /* rows is NULL when no fixture matched */
		qsort(rows, nrows, sizeof(*rows), cmp_row);
	with_id = projects_id(query);
	out = aw_emu_need(json_object_new_object());
	data = aw_emu_need(json_object_new_array());
	for (i = off; i < nrows && i < off + top; i++)
		json_object_array_add(data, json_object_get(rows[i].v));
	json_object_object_add(out, "totalRecords", json_object_new_int64((int64_t)nrows));
	json_object_object_add(out, "count",
			       json_object_new_int64((int64_t)json_object_array_length(data)));
	if (off + top < nrows && with_id) {
		char *t = page_token((int64_t)(off + top));

		json_object_object_add(
		    out, "resultTruncated",
		    json_object_new_string(aw_emu_cfg_str(rgc, "result_truncated", "false")));
		json_object_object_add(out, "$skipToken", json_object_new_string(t));
		free(t);
	} else {
		/* Without `id` in the projection ARG cannot page: the rest is cut off. */
		json_object_object_add(
		    out, "resultTruncated",
		    json_object_new_string(off + top < nrows ? "true" : "false"));
	}
	json_object_object_add(out, "facets", json_object_new_array());
	json_object_object_add(out, "data", data);
	aw_emu_resp_json(resp, 200, out);
	quota_headers(resp, left, reset_ms);
out:
	for (i = 0; i < nrows; i++)
		json_object_put(rows[i].v);
	free(rows);
	json_object_put(body);
	aw_emu_config_release(rq->st, cfg);
}

/* --- control, config, reset ---------------------------------------------------------------- */

static void get_stats(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	json_object *o = aw_emu_need(json_object_new_object());

	pthread_mutex_lock(&arm.mu);
	json_object_object_add(o, "pages", json_object_new_int64((int64_t)arm.pages));
	json_object_object_add(o, "throttled", json_object_new_int64((int64_t)arm.throttled));
	json_object_object_add(o, "rg_pages", json_object_new_int64((int64_t)arm.rg_pages));
	json_object_object_add(o, "rg_throttled", json_object_new_int64((int64_t)arm.rg_throttled));
	pthread_mutex_unlock(&arm.mu);
	aw_emu_resp_json(resp, 200, o);
}

static void reset(struct aw_emu_state *st)
{
	pthread_mutex_lock(&arm.mu);
	arm.nbuckets = 0;
	arm.rg_window_ms = 0;
	arm.rg_used = 0;
	arm.pages = arm.throttled = arm.rg_pages = arm.rg_throttled = 0;
	pthread_mutex_unlock(&arm.mu);
}

static int check_in(json_object *obj, const char *where, const char *key, json_type type, char *err,
		    size_t errlen)
{
	json_object *v = get(obj, key);

	if (v && !json_object_is_type(v, type)) {
		snprintf(err, errlen, "config: %s.%s must be a %s", where, key,
			 json_type_to_name(type));
		return -1;
	}
	return 0;
}

static int check_int_in(json_object *obj, const char *where, const char *key, int64_t lo,
			int64_t hi, char *err, size_t errlen)
{
	if (aw_emu_cfg_check_int(obj, key, lo, hi, err, errlen) < 0) {
		char inner[256];

		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "%s (in %s)", inner, where);
		return -1;
	}
	return 0;
}

static int validate(json_object *cfg, char *err, size_t errlen)
{
	json_object *conf, *subs, *rgc, *v;

	if (aw_emu_cfg_check(cfg, "arm", json_type_object, err, errlen) < 0)
		return -1;
	if (!(conf = get(cfg, "arm")))
		return 0;
	if (check_int_in(conf, "arm", "page_size", 1, 1000, err, errlen) < 0 ||
	    check_int_in(conf, "arm", "empty_page_at", -1, ARM_MAX_PAGES, err, errlen) < 0 ||
	    check_int_in(conf, "arm", "trailing_empty_pages", 0, ARM_MAX_PAGES, err, errlen) < 0 ||
	    check_int_in(conf, "arm", "reads_bucket", 1, 1000000, err, errlen) < 0 ||
	    check_int_in(conf, "arm", "reads_refill_per_s", 0, 1000000, err, errlen) < 0 ||
	    check_in(conf, "arm", "repeat_last_link", json_type_boolean, err, errlen) < 0 ||
	    check_in(conf, "arm", "subscriptions", json_type_object, err, errlen) < 0 ||
	    check_in(conf, "arm", "resource_graph", json_type_object, err, errlen) < 0)
		return -1;
	if ((rgc = get(conf, "resource_graph")) &&
	    (check_int_in(rgc, "arm.resource_graph", "page_size", 1, RG_TOP_MAX, err, errlen) < 0 ||
	     check_int_in(rgc, "arm.resource_graph", "quota", 1, 1000000, err, errlen) < 0 ||
	     check_int_in(rgc, "arm.resource_graph", "window_s", 1, 3600, err, errlen) < 0 ||
	     check_in(rgc, "arm.resource_graph", "retry_after", json_type_boolean, err, errlen) <
		 0 ||
	     check_in(rgc, "arm.resource_graph", "result_truncated", json_type_string, err,
		      errlen) < 0))
		return -1;
	if ((v = get(rgc, "result_truncated")) && strcmp(json_object_get_string(v), "true") &&
	    strcmp(json_object_get_string(v), "false")) {
		snprintf(
		    err, errlen,
		    "config: arm.resource_graph.result_truncated must be \"true\" or \"false\"");
		return -1;
	}
	if (!(subs = get(conf, "subscriptions")))
		return 0;
	json_object_object_foreach(subs, sub, entry)
	{
		if (!json_object_is_type(entry, json_type_object)) {
			snprintf(err, errlen, "config: arm.subscriptions.%s must be an object",
				 sub);
			return -1;
		}
		json_object_object_foreach(entry, kind, list)
		{
			if (strcmp(kind, "assessments") && strcmp(kind, "alerts")) {
				snprintf(err, errlen,
					 "config: arm.subscriptions.%s.%s: expected assessments "
					 "or alerts",
					 sub, kind);
				return -1;
			}
			if (!json_object_is_type(list, json_type_object) &&
			    !json_object_is_type(list, json_type_array)) {
				snprintf(err, errlen,
					 "config: arm.subscriptions.%s.%s must be an object "
					 "(label: item) or an array",
					 sub, kind);
				return -1;
			}
		}
	}
	return 0;
}

static const struct aw_emu_route routes[] = {
    {"GET", "/subscriptions/{sub}/providers/Microsoft.Security/assessments", ARM_AUDIENCE, 0,
     list_assessments},
    {"GET", "/subscriptions/{sub}/providers/Microsoft.Security/alerts", ARM_AUDIENCE, 0,
     list_alerts},
    {"POST", "/providers/Microsoft.ResourceGraph/resources", ARM_AUDIENCE, 0, rg_query},
    {"GET", "/_emulator/arm", NULL, AW_EMU_F_CONTROL, get_stats},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_arm_module = {"arm", routes, validate, reset};
