/* Paged ARM and Resource Graph reads (see arm_pager.h). */
#include "arm_pager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../daemon/log.h"

#define ARM_DEFAULT_MAX_PAGES	  1000u
#define ARM_DEFAULT_EMPTY_PAGES	  3u
#define ARM_DEFAULT_MAX_THROTTLED 5u
#define ARM_JSON_DEPTH		  64
#define ARM_RG_DEFAULT_RESET_MS	  5000u /* Resource Graph's window when it names none */
#define ARM_429_BASE_MS		  1000u /* a 429 with no delay given: 1 s, doubling */
#define ARM_429_CAP_MS		  60000u

struct aw_arm_pager {
	struct aw_arm_pager_conf conf;
	char *component;
	const struct aw_arm_pager_ops *ops;
	void *ud;
	uv_timer_t timer;
	struct aw_http_req *req; /* in flight */
	bool active;		 /* a listing is running */
	bool due;		 /* its next request should be sent */
	bool paused, closing, timer_closed;
	bool post;
	char *url;	   /* GET: the next link; POST: the endpoint */
	json_object *body; /* POST: the request */
	char *token;	   /* POST: the $skipToken to send, NULL on the first page */
	uint64_t *seen;	   /* hashes of links/tokens followed in this listing */
	size_t nseen, capseen;
	unsigned pages, empty_run, throttled;
	uint32_t listing;  /* counts listings: tells a page callback's listing ended */
	size_t origin_len; /* "scheme://host[:port]" of the first URL, in url then */
	char origin[256];
	uint64_t pause_until; /* loop time before which no request is sent */
	void (*closed)(void *ud);
	void *closed_ud;
};

static const char *const end_names[] = {"complete",  "repeated_link", "empty_pages", "page_cap",
					"truncated", "failed",	      "cancelled"};
static const char *const throttle_names[] = {"retried", "status_429", "quota_low"};

const char *aw_arm_end_name(enum aw_arm_end e)
{
	return (unsigned)e < sizeof end_names / sizeof end_names[0] ? end_names[e] : "?";
}

const char *aw_arm_throttle_name(enum aw_arm_throttle t)
{
	return (unsigned)t < sizeof throttle_names / sizeof throttle_names[0] ? throttle_names[t]
									      : "?";
}

/* FNV-1a: enough to recognise a link seen before within one listing. */
static uint64_t hash_text(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static bool seen_before(const struct aw_arm_pager *pg, uint64_t h)
{
	for (size_t i = 0; i < pg->nseen; i++)
		if (pg->seen[i] == h)
			return true;
	return false;
}

/* Bounded by max_pages + 1: the page cap ends a listing before the list could grow. */
static int remember(struct aw_arm_pager *pg, uint64_t h)
{
	if (pg->nseen == pg->capseen) {
		size_t cap = pg->capseen ? pg->capseen * 2 : 16;
		uint64_t *n;

		if (cap > (size_t)pg->conf.max_pages + 1)
			cap = (size_t)pg->conf.max_pages + 1;
		if (cap <= pg->nseen || !(n = realloc(pg->seen, cap * sizeof *n)))
			return -1;
		pg->seen = n;
		pg->capseen = cap;
	}
	pg->seen[pg->nseen++] = h;
	return 0;
}

static void reset_listing(struct aw_arm_pager *pg)
{
	free(pg->url);
	free(pg->token);
	json_object_put(pg->body);
	pg->url = pg->token = NULL;
	pg->body = NULL;
	pg->nseen = 0;
	pg->pages = pg->empty_run = pg->throttled = 0;
	pg->due = false; /* pause_until stays: a low quota concerns the next list too */
}

static void end_listing(struct aw_arm_pager *pg, enum aw_arm_end e, const char *why)
{
	pg->active = false;
	pg->due = false;
	uv_timer_stop(&pg->timer);
	pg->ops->done(pg->ud, e, why ? why : "");
}

static void kick(struct aw_arm_pager *pg);

static void timer_cb(uv_timer_t *t)
{
	kick(t->data);
}

static void throttled(struct aw_arm_pager *pg, enum aw_arm_throttle k, unsigned n)
{
	if (pg->ops->throttled && n)
		pg->ops->throttled(pg->ud, k, n);
}

static void pause_for(struct aw_arm_pager *pg, uint64_t ms)
{
	uint64_t until = uv_now(pg->conf.loop) + ms;

	if (until > pg->pause_until)
		pg->pause_until = until;
}

/* "hh:mm:ss" (a fraction rounds up) in ms, or -1. */
static int64_t parse_hms(const char *s)
{
	int h = 0, m = 0, sec = 0, n = 0;

	if (!s || sscanf(s, "%d:%d:%d%n", &h, &m, &sec, &n) != 3 || h < 0 || m < 0 || sec < 0)
		return -1;
	return ((int64_t)h * 3600 + m * 60 + sec + (s[n] == '.' ? 1 : 0)) * 1000;
}

static bool header_ll(const struct aw_http_response *r, const char *name, long long *out)
{
	const char *v = aw_http_header(r, name);
	char *end;

	if (!v || !*v)
		return false;
	*out = strtoll(v, &end, 10);
	return end != v && (*end == '\0' || *end == ' ');
}

/* The next request's delay from the throttling headers of this answer. */
static void read_quota(struct aw_arm_pager *pg, const struct aw_http_response *r)
{
	static const char *const arm_headers[] = {
	    "x-ms-ratelimit-remaining-subscription-reads",
	    "x-ms-ratelimit-remaining-subscription-global-reads",
	    "x-ms-ratelimit-remaining-tenant-reads",
	    "x-ms-ratelimit-remaining-subscription-resource-requests",
	    "x-ms-ratelimit-remaining-subscription-resource-entities-read",
	};
	long long v, low = -1;
	int64_t reset;

	for (size_t i = 0; i < sizeof arm_headers / sizeof arm_headers[0]; i++)
		if (header_ll(r, arm_headers[i], &v) && (low < 0 || v < low))
			low = v;
	if (low >= 0 && low < pg->conf.min_remaining_reads) {
		pause_for(pg, AW_ARM_QUOTA_PAUSE_MS);
		throttled(pg, AW_ARM_THR_QUOTA, 1);
	}
	if (header_ll(r, "x-ms-user-quota-remaining", &v) && v <= 0) {
		reset = parse_hms(aw_http_header(r, "x-ms-user-quota-resets-after"));
		pause_for(pg, reset >= 0 ? (uint64_t)reset : ARM_RG_DEFAULT_RESET_MS);
		throttled(pg, AW_ARM_THR_QUOTA, 1);
	}
}

static void url_no_query(const char *url, char *out, size_t sz)
{
	snprintf(out, sz, "%.*s", (int)strcspn(url, "?"), url);
}

static void fail_http(struct aw_arm_pager *pg, const struct aw_http_response *r)
{
	char why[2048], where[512];
	struct aw_azure_error ae;

	url_no_query(pg->url, where, sizeof where);
	if (r->status == 0)
		snprintf(why, sizeof why, "%s %s: %s", pg->post ? "POST" : "GET", where,
			 r->error && *r->error ? r->error : "no response");
	else if (aw_azure_error_parse(r->body, r->body_len, &ae) == 0)
		snprintf(why, sizeof why, "%s %s: HTTP %ld %s: %s (x-ms-request-id %s)",
			 pg->post ? "POST" : "GET", where, r->status, ae.code, ae.message,
			 r->request_id);
	else
		snprintf(why, sizeof why, "%s %s: HTTP %ld (x-ms-request-id %s)",
			 pg->post ? "POST" : "GET", where, r->status, r->request_id);
	end_listing(pg, AW_ARM_END_FAILED, why);
}

static void fail_body(struct aw_arm_pager *pg, const char *what)
{
	char why[2048], where[512];

	url_no_query(pg->url, where, sizeof where);
	snprintf(why, sizeof why, "%s %s: %s", pg->post ? "POST" : "GET", where, what);
	end_listing(pg, AW_ARM_END_FAILED, why);
}

/* A 429 that aw_http_call gave up on: wait what the server asked, then the same
 * request again (the listing keeps its place). */
static bool wait_out_429(struct aw_arm_pager *pg, const struct aw_http_response *r)
{
	int64_t wait = r->retry_after_ms, reset;

	throttled(pg, AW_ARM_THR_429, 1);
	if (++pg->throttled > pg->conf.max_throttled)
		return false;
	reset = parse_hms(aw_http_header(r, "x-ms-user-quota-resets-after"));
	if (reset > wait)
		wait = reset;
	if (wait < 0) {
		wait = (int64_t)ARM_429_BASE_MS << (pg->throttled - 1);
		if (wait > ARM_429_CAP_MS)
			wait = ARM_429_CAP_MS;
	}
	if ((uint64_t)wait > AW_ARM_MAX_THROTTLE_WAIT_MS)
		return false;
	aw_log(AW_LOG_WARN, pg->component, "throttled (429); waiting before asking again",
	       AW_U("wait_ms", wait), AW_S("request_id", r->request_id));
	pause_for(pg, (uint64_t)wait);
	pg->due = true;
	kick(pg);
	return true;
}

static json_object *parse_body(const struct aw_http_response *r)
{
	struct json_tokener *tok = json_tokener_new_ex(ARM_JSON_DEPTH);
	json_object *o = NULL;

	if (!tok)
		return NULL;
	if (r->body_len <= (size_t)INT32_MAX)
		o = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
	if (o && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* "scheme://authority" of url, lower-cased, into out; its length, or 0 when url has
 * none or it does not fit. */
static size_t origin_of(const char *url, char *out, size_t sz)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (!p)
		return 0;
	n = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
	if (n >= sz)
		return 0;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(url[i] >= 'A' && url[i] <= 'Z' ? url[i] + 32 : url[i]);
	out[n] = '\0';
	return n;
}

/* The page's items and continuation; -1 with *what when it is not a page. */
static int read_page(struct aw_arm_pager *pg, json_object *root, json_object **items,
		     const char **next, bool *truncated, const char **what)
{
	json_object *v;

	*next = NULL;
	*truncated = false;
	if (!json_object_is_type(root, json_type_object)) {
		*what = "the answer is not a JSON object";
		return -1;
	}
	if (!json_object_object_get_ex(root, pg->post ? "data" : "value", items) ||
	    !json_object_is_type(*items, json_type_array)) {
		*what = pg->post ? "the answer has no \"data\" array (resultFormat objectArray)"
				 : "the answer has no \"value\" array";
		return -1;
	}
	if (json_object_object_get_ex(root, pg->post ? "$skipToken" : "nextLink", &v) && v) {
		if (!json_object_is_type(v, json_type_string)) {
			*what =
			    pg->post ? "$skipToken is not a string" : "nextLink is not a string";
			return -1;
		}
		if (json_object_get_string_len(v) > 0)
			*next = json_object_get_string(v);
	}
	/* A string enum ("true"/"false"), though some clients send booleans. */
	if (pg->post && json_object_object_get_ex(root, "resultTruncated", &v))
		*truncated = json_object_is_type(v, json_type_boolean)
				 ? json_object_get_boolean(v)
				 : json_object_is_type(v, json_type_string) &&
				       strcmp(json_object_get_string(v), "true") == 0;
	return 0;
}

static void on_response(void *ud, const struct aw_http_response *r)
{
	struct aw_arm_pager *pg = ud;
	json_object *root = NULL, *items = NULL;
	const char *next = NULL, *what = NULL;
	bool truncated = false;
	uint32_t listing;
	char *copy;
	uint64_t h;

	pg->req = NULL;
	if (pg->closing) {
		if (pg->timer_closed)
			aw_arm_pager_close(pg, pg->closed, pg->closed_ud);
		return;
	}
	if (r->cancelled) {
		end_listing(pg, AW_ARM_END_CANCELLED, NULL);
		return;
	}
	if (r->attempts > 1)
		throttled(pg, AW_ARM_THR_RETRIED, r->attempts - 1);
	read_quota(pg, r);
	if (r->status == 429) {
		if (!wait_out_429(pg, r))
			fail_http(pg, r);
		return;
	}
	if (r->status < 200 || r->status > 299) {
		fail_http(pg, r);
		return;
	}
	root = parse_body(r);
	if (!root) {
		fail_body(pg, "the answer is not JSON");
		return;
	}
	if (read_page(pg, root, &items, &next, &truncated, &what) < 0) {
		fail_body(pg, what);
		goto out;
	}
	pg->pages++;
	pg->empty_run = json_object_array_length(items) ? 0 : pg->empty_run + 1;
	listing = pg->listing;
	pg->ops->page(pg->ud, items);
	if (!pg->active || pg->closing || listing != pg->listing)
		goto out; /* cancelled from the page callback */
	if (!next) {
		end_listing(pg, truncated ? AW_ARM_END_TRUNCATED : AW_ARM_END_COMPLETE, NULL);
		goto out;
	}
	/* The bearer token goes with every request: never to another host than the one
	 * the listing started on. */
	if (!pg->post) {
		char o[sizeof pg->origin];
		if (origin_of(next, o, sizeof o) != pg->origin_len || strcmp(o, pg->origin) != 0) {
			fail_body(pg, "nextLink points to another host than the listing; not "
				      "followed");
			goto out;
		}
	}
	h = hash_text(next);
	if (seen_before(pg, h)) {
		end_listing(pg, AW_ARM_END_REPEATED, NULL);
		goto out;
	}
	if (pg->empty_run >= pg->conf.max_empty_pages) {
		end_listing(pg, AW_ARM_END_EMPTY_RUN, NULL);
		goto out;
	}
	if (pg->pages >= pg->conf.max_pages || remember(pg, h) < 0) {
		end_listing(pg, AW_ARM_END_PAGE_CAP, NULL);
		goto out;
	}
	if (!(copy = strdup(next))) {
		fail_body(pg, "out of memory");
		goto out;
	}
	if (pg->post) {
		free(pg->token);
		pg->token = copy;
	} else {
		free(pg->url);
		pg->url = copy;
	}
	pg->throttled = 0;
	pg->due = true;
	kick(pg);
out:
	json_object_put(root);
}

static void send_request(struct aw_arm_pager *pg)
{
	static const char *const get_headers[] = {"Accept: application/json", NULL};
	static const char *const post_headers[] = {"Accept: application/json",
						   "Content-Type: application/json", NULL};
	struct aw_http_request req = {
	    .method = pg->post ? "POST" : "GET",
	    .url = pg->url,
	    .headers = pg->post ? post_headers : get_headers,
	    .timeout_ms = pg->conf.timeout_ms,
	    .max_response_bytes = pg->conf.max_page_bytes,
	    .component = pg->component,
	};
	struct aw_http_policy policy = {.bearer = pg->conf.bearer};
	struct aw_error err;
	json_object *opts = NULL;

	pg->due = false;
	if (pg->post) {
		if (!json_object_object_get_ex(pg->body, "options", &opts) ||
		    !json_object_is_type(opts, json_type_object)) {
			opts = json_object_new_object();
			if (!opts || json_object_object_add(pg->body, "options", opts) != 0) {
				json_object_put(opts);
				fail_body(pg, "out of memory");
				return;
			}
		}
		json_object_object_del(opts, "$skipToken");
		if (pg->token &&
		    json_object_object_add(opts, "$skipToken", json_object_new_string(pg->token)))
			goto oom;
		req.body = json_object_to_json_string_length(
		    pg->body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &req.body_len);
		if (!req.body)
			goto oom;
	}
	if (aw_http_call(pg->conf.http, &req, &policy, on_response, pg, &pg->req, &err) < 0) {
		char why[2048], where[512];

		url_no_query(pg->url, where, sizeof where);
		snprintf(why, sizeof why, "%s %s: %s", req.method, where, err.msg);
		end_listing(pg, AW_ARM_END_FAILED, why);
	}
	return;
oom:
	fail_body(pg, "out of memory");
}

static void kick(struct aw_arm_pager *pg)
{
	if (!pg->active || !pg->due || pg->paused || pg->closing || pg->req ||
	    uv_is_active((uv_handle_t *)&pg->timer))
		return;
	if (pg->pause_until > uv_now(pg->conf.loop)) {
		uv_timer_start(&pg->timer, timer_cb, pg->pause_until - uv_now(pg->conf.loop), 0);
		return;
	}
	send_request(pg);
}

/* --- public ------------------------------------------------------------------------- */

int aw_arm_pager_new(const struct aw_arm_pager_conf *conf, const struct aw_arm_pager_ops *ops,
		     void *ud, struct aw_arm_pager **out, struct aw_error *err)
{
	struct aw_arm_pager *pg = calloc(1, sizeof *pg);

	*out = NULL;
	if (!pg || !(pg->component = strdup(conf->component ? conf->component : "arm"))) {
		free(pg);
		return aw_error_set(err, "out of memory");
	}
	pg->conf = *conf;
	pg->conf.component = pg->component;
	if (!pg->conf.max_pages)
		pg->conf.max_pages = ARM_DEFAULT_MAX_PAGES;
	if (!pg->conf.max_empty_pages)
		pg->conf.max_empty_pages = ARM_DEFAULT_EMPTY_PAGES;
	if (!pg->conf.max_throttled)
		pg->conf.max_throttled = ARM_DEFAULT_MAX_THROTTLED;
	pg->ops = ops;
	pg->ud = ud;
	uv_timer_init(conf->loop, &pg->timer);
	pg->timer.data = pg;
	*out = pg;
	return 0;
}

static int start(struct aw_arm_pager *pg, const char *url, json_object *body, struct aw_error *err)
{
	if (pg->active || pg->closing) {
		json_object_put(body);
		return aw_error_set(err, "%s: a listing is already running", pg->component);
	}
	reset_listing(pg);
	pg->listing++;
	pg->post = body != NULL;
	pg->body = body;
	pg->origin_len = origin_of(url, pg->origin, sizeof pg->origin);
	if (!(pg->url = strdup(url)) || remember(pg, hash_text(url)) < 0) {
		reset_listing(pg);
		return aw_error_set(err, "%s: out of memory", pg->component);
	}
	pg->active = true;
	pg->due = true;
	kick(pg);
	return 0;
}

int aw_arm_pager_get(struct aw_arm_pager *pg, const char *url, struct aw_error *err)
{
	return start(pg, url, NULL, err);
}

int aw_arm_pager_query(struct aw_arm_pager *pg, const char *url, json_object *request,
		       struct aw_error *err)
{
	if (!request)
		return aw_error_set(err, "%s: no Resource Graph request", pg->component);
	return start(pg, url, request, err);
}

bool aw_arm_pager_busy(const struct aw_arm_pager *pg)
{
	return pg->active;
}

void aw_arm_pager_pause(struct aw_arm_pager *pg)
{
	pg->paused = true;
}

void aw_arm_pager_resume(struct aw_arm_pager *pg)
{
	pg->paused = false;
	kick(pg);
}

void aw_arm_pager_cancel(struct aw_arm_pager *pg)
{
	if (!pg->active)
		return;
	if (pg->req)
		aw_http_cancel(pg->req); /* on_response ends the listing */
	else
		end_listing(pg, AW_ARM_END_CANCELLED, NULL);
}

static void timer_closed(uv_handle_t *h)
{
	struct aw_arm_pager *pg = h->data;

	pg->timer_closed = true;
	aw_arm_pager_close(pg, pg->closed, pg->closed_ud);
}

void aw_arm_pager_close(struct aw_arm_pager *pg, void (*closed)(void *ud), void *ud)
{
	if (!pg->closing) {
		pg->closing = true;
		pg->active = false;
		pg->closed = closed;
		pg->closed_ud = ud;
		if (pg->req)
			aw_http_cancel(pg->req);
		uv_close((uv_handle_t *)&pg->timer, timer_closed);
		return;
	}
	if (!pg->timer_closed || pg->req)
		return; /* called again by whichever finishes last */
	reset_listing(pg);
	free(pg->seen);
	free(pg->component);
	free(pg);
	if (closed)
		closed(ud);
}
