/* Alerts: turning a detection into the one alert schema (see alert.h).
 *
 * The alert carries values of the event only through three doors: the entity table
 * (alert_tables.c: named columns, typed), ResourceId, and the evidence samples the
 * caller passes (the raw records, by design). Nothing else of the event is copied, so a
 * column the table does not name (a token, a key) cannot leak into an alert except
 * inside a sample.
 *
 * Output is json-c, serialized plain and without "\/" escapes; every string that comes
 * from outside is made valid UTF-8 first (invalid bytes become U+FFFD), because the
 * Logs Ingestion API and Kafka consumers reject what is not. */
#include "alert.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert_int.h"

#define AW_ALERT_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define AW_ALERT_ID_DOMAIN "aiwatch-alert-v1\n"

/* --- small helpers --------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (n > 0 bytes available). When it is
 * not well-formed, false, and *adv is the length of its maximal invalid subpart, which
 * becomes one U+FFFD (the Unicode recommendation: "\xe2\x80 " gives one, not two). */
static bool utf8_seq(const unsigned char *s, size_t n, size_t *adv)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	*adv = 1;
	if (c < 0x80)
		return true;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF)
		need = 2;
	else if (c >= 0xF0 && c <= 0xF4)
		need = 3;
	else
		return false;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F; /* no UTF-16 surrogates */
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F; /* nothing above U+10FFFF */
	for (i = 1; i <= need; i++) {
		if (i >= n || s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF)) {
			*adv = i;
			return false;
		}
	}
	*adv = need + 1;
	return true;
}

/* A json-c string of s[0..len), invalid UTF-8 replaced by U+FFFD. NULL on OOM. */
static struct json_object *new_str(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	struct json_object *o;
	size_t i = 0, k, o_len;
	char *clean;

	if (!s)
		return json_object_new_string("");
	if (len > (size_t)INT32_MAX / 3)
		return NULL;
	while (i < len && utf8_seq(u + i, len - i, &k))
		i += k;
	if (i == len)
		return json_object_new_string_len(s, (int)len);
	clean = malloc(len * 3 + 1);
	if (!clean)
		return NULL;
	memcpy(clean, s, i);
	o_len = i;
	while (i < len) {
		if (utf8_seq(u + i, len - i, &k)) {
			memcpy(clean + o_len, s + i, k);
			o_len += k;
		} else {
			memcpy(clean + o_len, "\xef\xbf\xbd", 3);
			o_len += 3;
		}
		i += k;
	}
	o = json_object_new_string_len(clean, (int)o_len);
	free(clean);
	return o;
}

static struct json_object *new_cstr(const char *s)
{
	return new_str(s, s ? strlen(s) : 0);
}

/* Add v under key (v may be NULL after a failed allocation); v is freed on failure. */
static int put(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

int aw_alert_push(struct json_object *a, struct json_object *v)
{
	if (!v)
		return -1;
	if (json_object_array_add(a, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

size_t aw_alert_cut(char *dst, const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(dst, s, n);
	memcpy(dst + n, AW_ALERT_ELLIPSIS, sizeof AW_ALERT_ELLIPSIS);
	return n + sizeof AW_ALERT_ELLIPSIS - 1;
}

/* ISO-8601 UTC with milliseconds; floor division so times before 1970 stay right. */
static void iso_ms(int64_t ms, char *out, size_t sz)
{
	int64_t secs = ms / 1000, frac = ms % 1000;
	struct tm tm;
	time_t t;

	if (frac < 0) {
		frac += 1000;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, sz, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, sz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

/* --- severity ---------------------------------------------------------------------- */

/* Sigma levels to the four Sentinel severities. critical folds into High (Sentinel has
 * nothing above it). A missing or unknown level gives Medium: the rule loader rejects
 * unknown levels, and Medium neither buries nor inflates a rule that slipped through. */
const char *aw_alert_severity(const char *level)
{
	static const struct {
		const char *level;
		const char *severity;
	} map[] = {
		{"informational", "Informational"},
		{"low", "Low"},
		{"medium", "Medium"},
		{"high", "High"},
		{"critical", "High"},
	};

	if (level)
		for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
			if (aw_alert_caseeq(level, strlen(level), map[i].level,
					    strlen(map[i].level)))
				return map[i].severity;
	return "Medium";
}

/* --- reading the event ------------------------------------------------------------ */

struct first_str {
	char *s;
	size_t len;
	bool oom;
};

static int take_first(void *ud, const struct aw_val *v)
{
	struct first_str *fs = ud;

	if (v->kind != AW_VAL_STRING || v->len == 0)
		return 0;
	fs->s = malloc(v->len + 1);
	if (!fs->s) {
		fs->oom = true;
		return 1;
	}
	memcpy(fs->s, v->s, v->len);
	fs->s[v->len] = '\0';
	fs->len = v->len;
	return 1;
}

/* The first non-empty string of a top-level column, malloc'd; NULL when none. */
static char *column_string(struct aw_event_view *ev, const char *name, size_t *len, bool *oom)
{
	struct aw_field_ref f = {.name = (char *)name, .len = strlen(name)};
	struct first_str fs = {0};

	aw_event_view_get(ev, &f, take_first, &fs, NULL);
	*oom = fs.oom;
	*len = fs.len;
	return fs.s;
}

/* --- the id ------------------------------------------------------------------------ */

static int id_part(EVP_MD_CTX *c, char tag, const char *s, size_t len)
{
	char hdr[32];
	int n = snprintf(hdr, sizeof hdr, "%c%zu:", tag, len);

	if (EVP_DigestUpdate(c, hdr, (size_t)n) != 1 || EVP_DigestUpdate(c, s, len) != 1 ||
	    EVP_DigestUpdate(c, "\n", 1) != 1)
		return -1;
	return 0;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

static int pair_cmp(const struct aw_alert_input *in, size_t a, size_t b)
{
	int c = strcmp(nz(in->group_fields[a]), nz(in->group_fields[b]));

	if (c == 0)
		c = strcmp(nz(in->group_values[a]), nz(in->group_values[b]));
	if (c == 0)
		c = a < b ? -1 : a > b;
	return c;
}

/* The canonical bytes, each part length-prefixed and tagged so no choice of values can
 * make two different inputs hash alike:
 *
 *   aiwatch-alert-v1\n
 *   R<len>:<rule id>\n
 *   F<len>:<field>\n V<len>:<value>\n     one pair per group field, sorted by field
 *                                         name, then value (bytewise)
 *   W<window start ms>\n
 *   I<len>:<item id>\n                     single-event detections only
 *
 * (or E<len>:<event text>\n in place of I when a single event has no _ItemId). Nothing
 * else goes in: the id does not depend on the host, the time of evaluation, the event
 * count, window end, or the order of the group fields. Pairs are picked by selection
 * (O(n²), n is a handful) so no allocation is needed. */
static int compute_id(const struct aw_alert_input *in, char item_tag, const char *item,
		      size_t item_len, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	const char *rid = in->rule ? nz(in->rule->id) : "";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char num[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t prev = 0;
	int rc = -1;

	out[0] = '\0';
	if (in->ngroup && (!in->group_fields || !in->group_values))
		goto out;
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		goto out;
	if (EVP_DigestUpdate(c, AW_ALERT_ID_DOMAIN, strlen(AW_ALERT_ID_DOMAIN)) != 1 ||
	    id_part(c, 'R', rid, strlen(rid)) < 0)
		goto out;
	for (size_t k = 0; k < in->ngroup; k++) {
		size_t best = in->ngroup;
		for (size_t i = 0; i < in->ngroup; i++)
			if ((k == 0 || pair_cmp(in, i, prev) > 0) &&
			    (best == in->ngroup || pair_cmp(in, i, best) < 0))
				best = i;
		const char *fld = nz(in->group_fields[best]), *v = nz(in->group_values[best]);
		if (id_part(c, 'F', fld, strlen(fld)) < 0 || id_part(c, 'V', v, strlen(v)) < 0)
			goto out;
		prev = best;
	}
	int n = snprintf(num, sizeof num, "W%" PRId64 "\n", in->window_start_ms);
	if (EVP_DigestUpdate(c, num, (size_t)n) != 1)
		goto out;
	if (item && id_part(c, item_tag, item, item_len) < 0)
		goto out;
	if (EVP_DigestFinal_ex(c, md, &mdlen) != 1 || mdlen < 16)
		goto out;
	for (size_t i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

void aw_alert_id(const struct aw_alert_input *in, const char *event_item_id, char out[33])
{
	compute_id(in, 'I', event_item_id, event_item_id ? strlen(event_item_id) : 0, out);
}

/* --- evidence and the size bound ----------------------------------------------------- */

static struct json_object *sample_object(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;

	if (len > (size_t)INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(AW_ALERT_SAMPLE_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o && (json_tokener_get_parse_end(tok) != len ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	/* A sample that is not one valid JSON object is kept as text rather than lost. */
	return o ? o : new_str(s, len);
}

/* Drop elements from the end of arr until `*over` bytes are gone (or arr is empty);
 * the serialized array is "[a,b,c]", so an element costs its length plus a comma. */
static bool trim_array(struct json_object *arr, size_t *over)
{
	bool removed = false;
	size_t n;

	while (*over > 0 && (n = json_object_array_length(arr)) > 0) {
		size_t el = 0;
		json_object_to_json_string_length(json_object_array_get_idx(arr, n - 1),
						  AW_ALERT_JSON_FLAGS, &el);
		el += n > 1 ? 1 : 0;
		*over = el >= *over ? 0 : *over - el;
		json_object_array_del_idx(arr, n - 1, 1);
		removed = true;
	}
	return removed;
}

/* Serialized length of desc's first n bytes, backed off to a character start, plus
 * "…"; SIZE_MAX on OOM. Backing off keeps the length monotonic in n (a split character
 * would otherwise count as U+FFFD), which the bisection below relies on. */
static size_t cut_len(const char *desc, size_t n, char *buf)
{
	struct json_object *o;
	size_t len = SIZE_MAX;

	o = json_object_new_string_len(buf, (int)aw_alert_cut(buf, desc, n));
	if (o && json_object_to_json_string_length(o, AW_ALERT_JSON_FLAGS, &len) == NULL)
		len = SIZE_MAX;
	json_object_put(o);
	return len;
}

/* Shorten Description by at least `over` serialized bytes, ending in "…": the longest
 * prefix that fits, found by bisection on the real serializer. It works on the value
 * already in the alert, which is valid UTF-8, so every cut lands between characters. */
static int truncate_description(struct json_object *root, size_t over)
{
	struct json_object *cur;
	size_t curlen = 0, dlen, lo = 0, hi, target;
	char *desc = NULL, *buf = NULL;
	int rc = -1;

	if (!json_object_object_get_ex(root, "Description", &cur) ||
	    !json_object_to_json_string_length(cur, AW_ALERT_JSON_FLAGS, &curlen))
		return -1;
	target = curlen > over ? curlen - over : 0;
	dlen = (size_t)json_object_get_string_len(cur);
	if (dlen == 0)
		return 0;
	hi = dlen;
	desc = malloc(dlen + 1);
	buf = malloc(dlen + sizeof AW_ALERT_ELLIPSIS);
	if (!desc || !buf)
		goto out;
	memcpy(desc, json_object_get_string(cur), dlen + 1);
	/* invariant: prefixes longer than hi do not fit; lo fits, or is 0 */
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		size_t l = cut_len(desc, mid, buf);
		if (l == SIZE_MAX)
			goto out;
		if (l <= target)
			lo = mid;
		else
			hi = mid - 1;
	}
	rc = put(root, "Description",
		 json_object_new_string_len(buf, (int)aw_alert_cut(buf, desc, lo)));
out:
	free(desc);
	free(buf);
	return rc;
}

/* Serialize root into at most max_bytes (0: no bound), trimming evidence: samples from
 * the end, then item ids, then Description; EvidenceTruncated marks any of it. The
 * trimming counts bytes instead of re-serializing after each element, then the loop
 * re-serializes to check, so a miscount costs a round, never a wrong answer. */
static const char *fit(struct json_object *root, struct json_object *evidence,
		       struct json_object *ids, struct json_object *samples, size_t max_bytes,
		       size_t *len, struct aw_error *err, const char *rule_id)
{
	bool flagged = false, desc_cut = false;

	for (;;) {
		const char *js = json_object_to_json_string_length(root, AW_ALERT_JSON_FLAGS, len);
		if (!js) {
			aw_error_set(err, "alert for rule %s: out of memory", rule_id);
			return NULL;
		}
		if (max_bytes == 0 || *len <= max_bytes)
			return js;
		if (!flagged) {
			if (put(evidence, "EvidenceTruncated", json_object_new_boolean(1)) < 0)
				break;
			flagged = true;
			continue;
		}
		size_t over = *len - max_bytes;
		if (trim_array(samples, &over) || trim_array(ids, &over))
			continue;
		if (!desc_cut) {
			desc_cut = true;
			if (truncate_description(root, *len - max_bytes) < 0)
				break;
			continue;
		}
		aw_error_set(err, "alert for rule %s is %zu bytes without evidence, over the "
				  "%zu-byte limit", rule_id, *len, max_bytes);
		return NULL;
	}
	aw_error_set(err, "alert for rule %s: out of memory", rule_id);
	return NULL;
}

/* --- the alert --------------------------------------------------------------------- */

/* The item that makes a single-event detection its own finding: the first evidence
 * _ItemId, else the event's _ItemId column, else the event text itself (records from
 * files may carry no _ItemId). */
static const char *single_item(const struct aw_alert_input *in, char **owned, size_t *len,
			       char *tag, bool *oom)
{
	*owned = NULL;
	*oom = false;
	*tag = 'I';
	if (!in->single_event)
		return NULL;
	if (in->dedup_key && in->dedup_key[0]) {
		*len = strlen(in->dedup_key);
		return in->dedup_key;
	}
	if (in->nitem_ids > 0 && in->item_ids && in->item_ids[0] && in->item_ids[0][0]) {
		*len = strlen(in->item_ids[0]);
		return in->item_ids[0];
	}
	if (!in->event)
		return NULL;
	*owned = column_string(in->event, "_ItemId", len, oom);
	if (*owned)
		return *owned;
	*tag = 'E';
	return aw_event_view_text(in->event, len);
}

static struct json_object *string_array(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && v && i < n; i++) {
		if (!v[i])
			continue;
		if (aw_alert_push(a, new_cstr(v[i])) < 0) {
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

int aw_alert_build(const struct aw_alert_input *in, size_t max_bytes, struct aw_record *out,
		   struct aw_error *err)
{
	const struct aw_alert_rule *r = in ? in->rule : NULL;
	const char *table = in && in->source_table ? in->source_table : "";
	struct aw_entities es = {0};
	struct json_object *root = NULL, *o = NULL, *evidence = NULL, *ids = NULL;
	struct json_object *samples = NULL, *tactics = NULL, *techniques = NULL;
	char *item_owned = NULL, *resource = NULL, id[33], ts[64];
	const char *item, *key = NULL, *js;
	size_t item_len = 0, res_len = 0, len;
	char item_tag;
	bool oom = false;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!r || !r->id || !r->id[0])
		return aw_error_set(err, "alert: the rule has no id");
	if (in->ngroup && (!in->group_fields || !in->group_values))
		return aw_error_set(err, "alert for rule %s: group values missing", r->id);
	for (size_t i = 0; i < in->ngroup; i++)
		if (!in->group_fields[i])
			return aw_error_set(err, "alert for rule %s: group field %zu has no name",
					    r->id, i);

	item = single_item(in, &item_owned, &item_len, &item_tag, &oom);
	if (oom || compute_id(in, item_tag, item, item_len, id) < 0)
		goto oom;
	if (in->event) {
		aw_alert_collect_entities(in->event, table, &es);
		static const char *const res_cols[] = {"ResourceId", "_ResourceId",
						       "AssessedResourceId"};
		for (size_t i = 0; !resource && !oom && i < sizeof res_cols / sizeof *res_cols; i++)
			resource = column_string(in->event, res_cols[i], &res_len, &oom);
		if (es.oom || oom)
			goto oom;
	}

	/* The record key orders a finding's alerts in Kafka: who acted, else from where,
	 * else on what, else the rule. */
	for (size_t i = 0; !key && i < es.n; i++)
		if (es.e[i].type == AW_ENT_IDENTITY || es.e[i].type == AW_ENT_ACCOUNT)
			key = es.e[i].value;
	for (size_t i = 0; !key && i < es.n; i++)
		if (es.e[i].type == AW_ENT_IP)
			key = es.e[i].value;
	if (!key)
		key = resource ? resource : r->id;

	root = json_object_new_object();
	if (!root)
		goto oom;
	iso_ms(in->now_ms, ts, sizeof ts);
	if (put(root, "TimeGenerated", json_object_new_string(ts)) < 0 ||
	    put(root, "AlertId", json_object_new_string(id)) < 0 ||
	    put(root, "RuleId", new_cstr(r->id)) < 0 ||
	    put(root, "RuleTitle", new_cstr(r->title)) < 0 ||
	    put(root, "Severity", json_object_new_string(aw_alert_severity(r->level))) < 0 ||
	    put(root, "Description", new_cstr(r->description)) < 0)
		goto oom;
	if (put(root, "Tactics", tactics = json_object_new_array()) < 0 ||
	    put(root, "Techniques", techniques = json_object_new_array()) < 0 ||
	    aw_alert_map_tags(r, tactics, techniques) < 0)
		goto oom;
	iso_ms(in->window_start_ms, ts, sizeof ts);
	if (put(root, "WindowStart", json_object_new_string(ts)) < 0)
		goto oom;
	iso_ms(in->window_end_ms, ts, sizeof ts);
	if (put(root, "WindowEnd", json_object_new_string(ts)) < 0 ||
	    put(root, "EventCount", json_object_new_uint64(in->event_count)) < 0 ||
	    put(root, "GroupBy", o = json_object_new_object()) < 0)
		goto oom;
	for (size_t i = 0; i < in->ngroup; i++)
		if (put(o, in->group_fields[i], new_cstr(in->group_values[i])) < 0)
			goto oom;
	if (put(root, "Entities", o = json_object_new_array()) < 0)
		goto oom;
	for (size_t i = 0; i < es.n; i++) {
		char name[256];
		struct json_object *e = json_object_new_object();

		aw_alert_entity_field(&es.e[i], name, sizeof name);
		if (aw_alert_push(o, e) < 0 ||
		    put(e, "Type", json_object_new_string(aw_alert_entity_type(&es.e[i]))) < 0 ||
		    put(e, "Value", new_str(es.e[i].value, es.e[i].len)) < 0 ||
		    put(e, "Field", new_cstr(name)) < 0)
			goto oom;
	}
	if (put(root, "ResourceId", new_str(resource, res_len)) < 0 ||
	    put(root, "SourceTable", new_cstr(table)) < 0 ||
	    put(root, "Evidence", evidence = json_object_new_object()) < 0 ||
	    put(evidence, "ItemIds", ids = string_array(in->item_ids, in->nitem_ids)) < 0 ||
	    put(evidence, "Samples", samples = json_object_new_array()) < 0)
		goto oom;
	for (size_t i = 0; in->samples && i < in->nsamples; i++) {
		const char *smp = in->samples[i];
		if (smp && aw_alert_push(samples, sample_object(smp, strlen(smp))) < 0)
			goto oom;
	}
	if (put(root, "Host", new_cstr(in->host)) < 0 ||
	    put(root, "Version", json_object_new_string(AW_VERSION)) < 0)
		goto oom;

	js = fit(root, evidence, ids, samples, max_bytes, &len, err, r->id);
	if (!js)
		goto out;
	out->data = malloc(len + 1);
	out->id = strdup(id);
	out->key = strdup(key);
	if (!out->data || !out->id || !out->key) {
		aw_alert_record_free(out);
		goto oom;
	}
	memcpy(out->data, js, len + 1);
	out->len = len;
	rc = 0;
	goto out;
oom:
	aw_error_set(err, "alert for rule %s: out of memory", r->id);
out:
	json_object_put(root);
	aw_alert_entities_free(&es);
	free(resource);
	free(item_owned);
	return rc;
}

void aw_alert_record_free(struct aw_record *r)
{
	if (!r)
		return;
	free(r->data);
	free(r->id);
	free(r->key);
	memset(r, 0, sizeof *r);
}
