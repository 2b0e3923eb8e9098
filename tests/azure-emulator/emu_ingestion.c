/* Logs Ingestion API (contract §3): POST /dataCollectionRules/{dcr}/streams/{stream}.
 *
 * Checks in the service's order as far as it is known: token (dispatcher, audience
 * https://monitor.azure.com), api-version, Content-Length against the 1,048,576-byte
 * cap (413 with the real body), the DCR and its stream (404), the caller's role on the
 * DCR (403 OperationFailed), the DCR's rate limit (429 + Retry-After), gzip, the body
 * (a JSON array of objects, else 400). Accepted rows are stored, each column value cut
 * to the field limit as the service does, and read back with GET
 * /_emulator/ingested; a retried batch is stored again (the service does not
 * de-duplicate). Config "ingestion" (README.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "emu.h"
#include "emu_state.h"

#define ING_AUDIENCE	     "https://monitor.azure.com"
#define ING_BODY_MAX	     1048576
#define ING_FIELD_MAX	     65536
#define ING_WINDOW_S	     60
#define ING_REQUESTS_PER_WIN 12000
#define ING_BYTES_PER_WIN    (2LL * 1024 * 1024 * 1024)
#define ING_STORE_MAX_BYTES  ((size_t)256 * 1024 * 1024) /* oldest rows dropped beyond */
#define ING_INFLATE_MAX	     ((size_t)64 * 1024 * 1024)	 /* decompression-bomb bound */
#define ING_RATE_MAX_DCRS    256

/* Rows of one (dcr, stream), oldest first, each a compact JSON object. */
struct ing_bucket {
	char *dcr, *stream;
	char **rows;
	size_t *lens;
	size_t n, head, cap; /* ring: rows[head .. head+n) */
	struct ing_bucket *next;
};

struct ing_rate {
	char dcr[96];
	int64_t window_start_ms;
	int64_t requests, bytes;
};

static pthread_mutex_t ing_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ing_bucket *ing_buckets;
static size_t ing_stored_bytes;
static struct ing_rate ing_rates[ING_RATE_MAX_DCRS];
static size_t ing_nrates;
static struct {
	int64_t requests, accepted, rows, dropped_rows, truncated_fields, throttled;
	int64_t max_content_length, max_uncompressed;
} ing_stats;

/* --- config ---------------------------------------------------------------------------- */

static json_object *cfg_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* The DCR's config (ids compare case-insensitively), or NULL. */
static json_object *find_dcr(json_object *ing, const char *id)
{
	json_object *dcrs = cfg_get(ing, "dcrs");

	if (!dcrs || !json_object_is_type(dcrs, json_type_object))
		return NULL;
	json_object_object_foreach(dcrs, k, v)
	{
		if (!strcasecmp(k, id))
			return v;
	}
	return NULL;
}

static bool list_has(json_object *arr, const char *s, bool ci)
{
	size_t i, n = arr ? json_object_array_length(arr) : 0;

	for (i = 0; i < n; i++) {
		const char *v = json_object_get_string(json_object_array_get_idx(arr, i));

		if (v && (ci ? !strcasecmp(v, s) : !strcmp(v, s)))
			return true;
	}
	return false;
}

static int check_strings(json_object *o, const char *key, const char *where, char *err,
			 size_t errlen)
{
	json_object *a = cfg_get(o, key);
	size_t i;

	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array)) {
		snprintf(err, errlen, "config: %s.%s must be an array of strings", where, key);
		return -1;
	}
	for (i = 0; i < json_object_array_length(a); i++) {
		if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string)) {
			snprintf(err, errlen, "config: %s.%s must be an array of strings", where,
				 key);
			return -1;
		}
	}
	return 0;
}

/* Add " (in where)" to a message a cfg check wrote. */
static int in_where(char *err, size_t errlen, const char *where)
{
	size_t n = strlen(err);

	snprintf(err + n, errlen - n, " (in %s)", where);
	return -1;
}

static int validate(json_object *cfg, char *err, size_t errlen)
{
	json_object *ing, *dcrs;
	char where[256];

	if (aw_emu_cfg_check(cfg, "ingestion", json_type_object, err, errlen) < 0)
		return -1;
	ing = cfg_get(cfg, "ingestion");
	if (!ing)
		return 0;
	if (aw_emu_cfg_check_int(ing, "max_body_bytes", 1, AW_EMU_BODY_MAX, err, errlen) < 0 ||
	    aw_emu_cfg_check_int(ing, "field_max_bytes", 16, AW_EMU_BODY_MAX, err, errlen) < 0 ||
	    aw_emu_cfg_check(ing, "dcrs", json_type_object, err, errlen) < 0)
		return in_where(err, errlen, "ingestion");
	dcrs = cfg_get(ing, "dcrs");
	if (!dcrs)
		return 0;
	if (json_object_object_length(dcrs) > ING_RATE_MAX_DCRS) {
		snprintf(err, errlen, "config: ingestion.dcrs: at most %d data collection rules",
			 ING_RATE_MAX_DCRS);
		return -1;
	}
	json_object_object_foreach(dcrs, id, d)
	{
		snprintf(where, sizeof(where), "ingestion.dcrs.%s", id);
		if (strlen(id) >= sizeof(ing_rates[0].dcr)) {
			snprintf(err, errlen, "config: %s: the id is too long", where);
			return -1;
		}
		if (!json_object_is_type(d, json_type_object)) {
			snprintf(err, errlen, "config: %s must be an object", where);
			return -1;
		}
		if (!cfg_get(d, "streams")) {
			snprintf(err, errlen, "config: %s.streams is required", where);
			return -1;
		}
		if (check_strings(d, "streams", where, err, errlen) < 0 ||
		    check_strings(d, "principals", where, err, errlen) < 0)
			return -1;
		if (aw_emu_cfg_check_int(d, "window_s", 1, 3600, err, errlen) < 0 ||
		    aw_emu_cfg_check_int(d, "requests_per_window", 1, 100000000, err, errlen) < 0 ||
		    aw_emu_cfg_check_int(d, "bytes_per_window", 1, INT64_MAX / 2, err, errlen) <
			0 ||
		    aw_emu_cfg_check_int(d, "retry_after_s", 0, 86400, err, errlen) < 0)
			return in_where(err, errlen, where);
	}
	return 0;
}

/* --- stored rows ------------------------------------------------------------------------- */

static void bucket_free(struct ing_bucket *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->rows[(b->head + i) % b->cap]);
	free(b->rows);
	free(b->lens);
	free(b->dcr);
	free(b->stream);
	free(b);
}

static struct ing_bucket *bucket_get(const char *dcr, const char *stream)
{
	struct ing_bucket *b;

	for (b = ing_buckets; b; b = b->next)
		if (!strcasecmp(b->dcr, dcr) && !strcmp(b->stream, stream))
			return b;
	b = aw_emu_need(calloc(1, sizeof(*b)));
	b->dcr = aw_emu_strdup(dcr);
	b->stream = aw_emu_strdup(stream);
	b->next = ing_buckets;
	ing_buckets = b;
	return b;
}

/* Drop the oldest row of any bucket (the first non-empty one found). */
static void drop_oldest(void)
{
	struct ing_bucket *b;

	for (b = ing_buckets; b; b = b->next) {
		if (b->n) {
			ing_stored_bytes -= b->lens[b->head];
			free(b->rows[b->head]);
			b->head = (b->head + 1) % b->cap;
			b->n--;
			ing_stats.dropped_rows++;
			return;
		}
	}
}

static void bucket_push(struct ing_bucket *b, const char *row, size_t len)
{
	size_t i;

	while (ing_stored_bytes + len > ING_STORE_MAX_BYTES && ing_stored_bytes > 0)
		drop_oldest();
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		char **rows = aw_emu_need(malloc(cap * sizeof(*rows)));
		size_t *lens = aw_emu_need(malloc(cap * sizeof(*lens)));

		for (i = 0; i < b->n; i++) {
			rows[i] = b->rows[(b->head + i) % b->cap];
			lens[i] = b->lens[(b->head + i) % b->cap];
		}
		free(b->rows);
		free(b->lens);
		b->rows = rows;
		b->lens = lens;
		b->head = 0;
		b->cap = cap;
	}
	i = (b->head + b->n) % b->cap;
	b->rows[i] = aw_emu_need(malloc(len + 1));
	memcpy(b->rows[i], row, len + 1);
	b->lens[i] = len;
	b->n++;
	ing_stored_bytes += len;
}

static void reset(struct aw_emu_state *st)
{
	struct ing_bucket *b, *next;

	pthread_mutex_lock(&ing_mu);
	for (b = ing_buckets; b; b = next) {
		next = b->next;
		bucket_free(b);
	}
	ing_buckets = NULL;
	ing_stored_bytes = 0;
	ing_nrates = 0;
	memset(&ing_stats, 0, sizeof(ing_stats));
	pthread_mutex_unlock(&ing_mu);
}

/* --- the request --------------------------------------------------------------------------- */

/* Content-Length as sent (the 413 check compares it), else the bytes received. */
static int64_t content_length(const struct aw_emu_request *rq)
{
	const char *cl = aw_emu_header(rq, "Content-Length");
	char *end;
	long long v;

	if (cl) {
		v = strtoll(cl, &end, 10);
		if (end != cl && *end == '\0' && v >= 0)
			return v;
	}
	return (int64_t)rq->body_len;
}

static void too_large(struct aw_emu_response *resp, int64_t max, int64_t got)
{
	aw_emu_resp_oneapi(resp, 413, "ContentLengthLimitExceeded",
			   "Maximum allowed content length: %lld bytes (1 MB). Provided content "
			   "length: %lld bytes.",
			   (long long)max, (long long)got);
}

/* 0 when admitted; else 429 with Retry-After. Counts the request in its window. */
static int rate_check(json_object *dcr_cfg, const char *dcr, size_t bytes,
		      struct aw_emu_response *resp)
{
	int64_t window_ms = aw_emu_cfg_int(dcr_cfg, "window_s", ING_WINDOW_S) * 1000;
	int64_t max_req = aw_emu_cfg_int(dcr_cfg, "requests_per_window", ING_REQUESTS_PER_WIN);
	int64_t max_bytes = aw_emu_cfg_int(dcr_cfg, "bytes_per_window", ING_BYTES_PER_WIN);
	int64_t fixed = aw_emu_cfg_int(dcr_cfg, "retry_after_s", -1);
	int64_t now = aw_emu_now_ms(), left_s;
	struct ing_rate *r = NULL;
	size_t i;

	for (i = 0; i < ing_nrates; i++)
		if (!strcasecmp(ing_rates[i].dcr, dcr))
			r = &ing_rates[i];
	if (!r) {
		if (ing_nrates == ING_RATE_MAX_DCRS)
			return 0; /* validate bounds the DCRs; cannot happen */
		r = &ing_rates[ing_nrates++];
		snprintf(r->dcr, sizeof(r->dcr), "%s", dcr);
		r->window_start_ms = now;
	}
	if (now - r->window_start_ms >= window_ms) {
		r->window_start_ms = now;
		r->requests = r->bytes = 0;
	}
	if (r->requests >= max_req || r->bytes + (int64_t)bytes > max_bytes) {
		left_s = (r->window_start_ms + window_ms - now + 999) / 1000;
		if (left_s < 1)
			left_s = 1;
		ing_stats.throttled++;
		aw_emu_resp_oneapi(
		    resp, 429, "TooManyRequests",
		    "Rate limit for data collection rule '%s' is exceeded. Try again "
		    "later.",
		    dcr);
		aw_emu_resp_header(resp, "Retry-After", "%lld",
				   (long long)(fixed >= 0 ? fixed : left_s));
		return -1;
	}
	r->requests++;
	r->bytes += (int64_t)bytes;
	return 0;
}

/* Inflate a gzip body into *out (malloc'd, NUL-terminated). 0, -1 when it is not gzip,
 * -2 when it inflates past `max`. */
static int gunzip(const char *in, size_t len, size_t max, char **out, size_t *outlen)
{
	z_stream zs;
	size_t cap = len * 4 + 1024, n = 0;
	char *buf;
	int zrc;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return -1;
	buf = aw_emu_need(malloc(cap));
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		if (cap - n < 2) {
			if (cap > max + 2) {
				inflateEnd(&zs);
				free(buf);
				return -2;
			}
			cap *= 2;
			buf = aw_emu_need(realloc(buf, cap));
		}
		zs.next_out = (Bytef *)buf + n;
		zs.avail_out = (uInt)(cap - n - 1);
		zrc = inflate(&zs, Z_NO_FLUSH);
		n = (size_t)zs.total_out;
		if (zrc == Z_STREAM_END)
			break;
		/* Out of room: grow and go on. Z_OK with input left: go on (it progressed). */
		if ((zrc == Z_OK || zrc == Z_BUF_ERROR) && zs.avail_out == 0)
			continue;
		if (zrc == Z_OK && zs.avail_in > 0)
			continue;
		/* a broken stream, or the input ended before the gzip member did */
		inflateEnd(&zs);
		free(buf);
		return -1;
	}
	inflateEnd(&zs);
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

/* Cut a string at max bytes, backing off to a character start. */
static json_object *cut_string(const char *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return json_object_new_string_len(s, (int)n);
}

/* The service truncates a column value longer than the limit; a dynamic value turns
 * into its cut text. Returns the number of values cut. */
static int64_t cut_fields(json_object *row, size_t max)
{
	int64_t cut = 0;
	json_object_object_foreach(row, k, v)
	{
		size_t len = 0;
		const char *text;

		if (json_object_is_type(v, json_type_string)) {
			len = (size_t)json_object_get_string_len(v);
			if (len <= max)
				continue;
			json_object_object_add(row, k,
					       cut_string(json_object_get_string(v), len, max));
		} else if (json_object_is_type(v, json_type_object) ||
			   json_object_is_type(v, json_type_array)) {
			text = aw_emu_json_text(v, &len);
			if (len <= max)
				continue;
			json_object_object_add(row, k, cut_string(text, len, max));
		} else {
			continue;
		}
		cut++;
	}
	return cut;
}

static void ingest(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	const char *dcr = aw_emu_param(rq, "dcr"), *stream = aw_emu_param(rq, "stream");
	const char *ver = aw_emu_query(rq, "api-version");
	const char *enc = aw_emu_header(rq, "Content-Encoding");
	json_object *cfg = aw_emu_config_acquire(rq->st), *ing, *d, *principals, *rows = NULL;
	int64_t max_body, field_max, clen = content_length(rq);
	const char *body = rq->body;
	size_t body_len = rq->body_len, i, n;
	char *plain = NULL;
	enum json_tokener_error jerr = json_tokener_success;
	int rc;

	ing = cfg_get(cfg, "ingestion");
	max_body = aw_emu_cfg_int(ing, "max_body_bytes", ING_BODY_MAX);
	field_max = aw_emu_cfg_int(ing, "field_max_bytes", ING_FIELD_MAX);
	pthread_mutex_lock(&ing_mu);
	ing_stats.requests++;
	if (clen > ing_stats.max_content_length)
		ing_stats.max_content_length = clen;
	pthread_mutex_unlock(&ing_mu);
	if (!ver) {
		aw_emu_resp_oneapi(
		    resp, 400, "MissingApiVersionParameter",
		    "The api-version query parameter (?api-version=) is required for "
		    "all requests.");
		goto out;
	}
	if (strcmp(ver, "2023-01-01") != 0 && strcmp(ver, "2021-11-01-preview") != 0) {
		aw_emu_resp_oneapi(resp, 400, "InvalidApiVersionParameter",
				   "The api-version '%s' is invalid. The supported versions are "
				   "'2023-01-01,2021-11-01-preview'.",
				   ver);
		goto out;
	}
	if (clen > max_body) {
		too_large(resp, max_body, clen);
		goto out;
	}
	d = find_dcr(ing, dcr);
	if (!d) {
		aw_emu_resp_oneapi(resp, 404, "NotFound",
				   "Data collection rule with immutable Id '%s' not found.", dcr);
		goto out;
	}
	if (!list_has(cfg_get(d, "streams"), stream, false)) {
		aw_emu_resp_oneapi(resp, 404, "InvalidStream",
				   "Stream '%s' is not declared by the data collection rule with "
				   "immutable Id '%s'.",
				   stream, dcr);
		goto out;
	}
	principals = cfg_get(d, "principals");
	if (principals && !list_has(principals, rq->token.sub, true)) {
		aw_emu_resp_oneapi(
		    resp, 403, "OperationFailed",
		    "The authentication token provided does not have access to ingest "
		    "data for the data collection rule with immutable Id '%s'.",
		    dcr);
		goto out;
	}
	pthread_mutex_lock(&ing_mu);
	rc = rate_check(d, dcr, body_len, resp);
	pthread_mutex_unlock(&ing_mu);
	if (rc < 0)
		goto out;
	if (enc && !strcasecmp(enc, "gzip")) {
		rc = gunzip(body, body_len,
			    (size_t)max_body > ING_INFLATE_MAX ? ING_INFLATE_MAX : (size_t)max_body,
			    &plain, &n);
		if (rc == -2) {
			too_large(resp, max_body, max_body + 1);
			goto out;
		}
		if (rc < 0) {
			aw_emu_resp_oneapi(resp, 400, "InvalidContentEncoding",
					   "The request body is not valid gzip.");
			goto out;
		}
		body = plain;
		body_len = n;
	} else if (enc && *enc && strcasecmp(enc, "identity") != 0) {
		aw_emu_resp_oneapi(resp, 400, "InvalidContentEncoding",
				   "Content-Encoding '%s' is not supported (gzip only).", enc);
		goto out;
	}
	if ((int64_t)body_len > max_body) {
		/* The cap holds for the uncompressed body too (contract §3). */
		too_large(resp, max_body, (int64_t)body_len);
		goto out;
	}
	rows = json_tokener_parse_verbose(body, &jerr);
	if (!rows || !json_object_is_type(rows, json_type_array)) {
		aw_emu_resp_oneapi(resp, 400, "InvalidPayload",
				   "The request body must be a JSON array of objects: %s.",
				   rows ? "not an array" : json_tokener_error_desc(jerr));
		goto out;
	}
	n = json_object_array_length(rows);
	for (i = 0; i < n; i++) {
		if (!json_object_is_type(json_object_array_get_idx(rows, i), json_type_object)) {
			aw_emu_resp_oneapi(resp, 400, "InvalidPayload",
					   "Element %zu of the request body is not an object.", i);
			goto out;
		}
	}
	pthread_mutex_lock(&ing_mu);
	if ((int64_t)body_len > ing_stats.max_uncompressed)
		ing_stats.max_uncompressed = (int64_t)body_len;
	struct ing_bucket *b = bucket_get(dcr, stream);
	for (i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(rows, i);
		size_t len;
		const char *text;

		ing_stats.truncated_fields += cut_fields(row, (size_t)field_max);
		text = aw_emu_json_text(row, &len);
		bucket_push(b, text, len);
	}
	ing_stats.accepted++;
	ing_stats.rows += (int64_t)n;
	pthread_mutex_unlock(&ing_mu);
	aw_emu_resp_raw(resp, 204, NULL, "", 0);
out:
	json_object_put(rows);
	free(plain);
	aw_emu_config_release(rq->st, cfg);
}

/* --- reading back ------------------------------------------------------------------------ */

static void get_ingested(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	const char *dcr = aw_emu_query(rq, "dcr"), *stream = aw_emu_query(rq, "stream");
	struct ing_bucket *b;
	size_t total = 2, len = 0, i;
	char *out;

	pthread_mutex_lock(&ing_mu);
	for (b = ing_buckets; b; b = b->next)
		for (i = 0; i < b->n; i++)
			total += b->lens[(b->head + i) % b->cap] + 1;
	out = aw_emu_need(malloc(total + 1));
	out[len++] = '[';
	for (b = ing_buckets; b; b = b->next) {
		if ((dcr && *dcr && strcasecmp(dcr, b->dcr) != 0) ||
		    (stream && *stream && strcmp(stream, b->stream) != 0))
			continue;
		for (i = 0; i < b->n; i++) {
			size_t k = (b->head + i) % b->cap;

			if (len > 1)
				out[len++] = ',';
			memcpy(out + len, b->rows[k], b->lens[k]);
			len += b->lens[k];
		}
	}
	pthread_mutex_unlock(&ing_mu);
	out[len++] = ']';
	out[len] = '\0';
	aw_emu_resp_raw(resp, 200, "application/json; charset=utf-8", out, len);
	free(out);
}

static void get_stats(struct aw_emu_request *rq, struct aw_emu_response *resp)
{
	json_object *o = aw_emu_need(json_object_new_object());

	pthread_mutex_lock(&ing_mu);
	json_object_object_add(o, "requests", json_object_new_int64(ing_stats.requests));
	json_object_object_add(o, "accepted", json_object_new_int64(ing_stats.accepted));
	json_object_object_add(o, "throttled", json_object_new_int64(ing_stats.throttled));
	json_object_object_add(o, "rows", json_object_new_int64(ing_stats.rows));
	json_object_object_add(o, "dropped_rows", json_object_new_int64(ing_stats.dropped_rows));
	json_object_object_add(o, "truncated_fields",
			       json_object_new_int64(ing_stats.truncated_fields));
	json_object_object_add(o, "max_content_length",
			       json_object_new_int64(ing_stats.max_content_length));
	json_object_object_add(o, "max_uncompressed_bytes",
			       json_object_new_int64(ing_stats.max_uncompressed));
	pthread_mutex_unlock(&ing_mu);
	aw_emu_resp_json(resp, 200, o);
}

static const struct aw_emu_route routes[] = {
    {"POST", "/dataCollectionRules/{dcr}/streams/{stream}", ING_AUDIENCE, 0, ingest},
    {"GET", "/_emulator/ingested", NULL, AW_EMU_F_CONTROL, get_ingested},
    {"GET", "/_emulator/ingested/stats", NULL, AW_EMU_F_CONTROL, get_stats},
    {NULL, NULL, NULL, 0, NULL},
};

const struct aw_emu_module aw_emu_ingestion_module = {"ingestion", routes, validate, reset};
