/* Diagnostic-settings records under Log Analytics column names (log-schemas.md §0.3).
 *
 * aw_columns[] is the one table of the mapping; the code around it handles what a
 * table cannot say: resourceId split into its columns, properties and identity given
 * as objects or as JSON text, Activity-log categories, AzureDiagnostics' generic
 * <key>_s/_d/_b/_g columns, and a deterministic _ItemId. Unlike a Log Analytics row,
 * which records.c delivers as its own bytes, each record is rebuilt with json-c. */
#include "records_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_scan.h"

#define AW_RECORDS_MAX_COLUMN 256

enum aw_col_conv {
	AW_CONV_COPY,       /* value as is */
	AW_CONV_NUMBER,     /* "9" → 9; a non-numeric string is kept as a string */
	AW_CONV_RESOURCE,   /* resourceId and its split-out columns */
	AW_CONV_CATEGORY,   /* Activity: Action/Write/Delete → Administrative */
	AW_CONV_OPERATION,  /* Activity: upper-case, as OperationNameValue holds it */
	AW_CONV_JSON_TEXT,  /* objects become JSON text */
	AW_CONV_IDENTITY,
	AW_CONV_PROPERTIES,
};

/* One row per diagnostic-settings key (matched case-insensitively): its column in
 * AzureDiagnostics and in AzureActivity. NULL: that table has no such column and the
 * key is kept generically as <key>_s / _d / _b. Shared by the file and Event Hubs
 * inputs (both go through aw_records_parse). */
struct aw_column_map {
	const char *field;
	const char *diag;
	const char *activity;
	enum aw_col_conv conv;
};

static const struct aw_column_map aw_columns[] = {
	{"time", "TimeGenerated", "TimeGenerated", AW_CONV_COPY},
	{"resourceId", "ResourceId", "ResourceId", AW_CONV_RESOURCE},
	{"category", "Category", "CategoryValue", AW_CONV_CATEGORY},
	{"operationName", "OperationName", "OperationNameValue", AW_CONV_OPERATION},
	{"resultType", "ResultType", "ActivityStatusValue", AW_CONV_COPY},
	{"resultSignature", "ResultSignature", "ActivitySubstatusValue", AW_CONV_COPY},
	{"resultDescription", "ResultDescription", NULL, AW_CONV_COPY},
	{"durationMs", "DurationMs", NULL, AW_CONV_NUMBER},
	{"callerIpAddress", "CallerIPAddress", "CallerIpAddress", AW_CONV_COPY},
	{"correlationId", "CorrelationId", "CorrelationId", AW_CONV_COPY},
	{"level", "Level", "Level", AW_CONV_COPY},
	{"operationVersion", "OperationVersion", NULL, AW_CONV_COPY},
	{"location", "location_s", NULL, AW_CONV_COPY}, /* log-schemas.md §0.3 */
	{"identity", "identity_s", NULL, AW_CONV_IDENTITY},
	{"properties", "properties_s", "Properties", AW_CONV_PROPERTIES},
	{"caller", NULL, "Caller", AW_CONV_COPY},
	{"eventDataId", NULL, "EventDataId", AW_CONV_COPY},
	{"httpRequest", NULL, "HTTPRequest", AW_CONV_JSON_TEXT},
	{"authorization", NULL, "Authorization", AW_CONV_JSON_TEXT},
	{"claims", NULL, "Claims", AW_CONV_JSON_TEXT},
};

/* Activity log categories: records in these go to AzureActivity. Event Hubs exports
 * label administrative operations by kind (Action, Write, Delete). */
static const char *const aw_activity_categories[] = {
	"Administrative", "Security", "Policy", "ServiceHealth", "Alert", "Recommendation",
	"Autoscale", "ResourceHealth", "Action", "Write", "Delete", NULL,
};

/* Key Vault AuditEvent property columns whose type AzureDiagnostics fixes. */
static const struct {
	const char *key;
	char suffix;
} aw_keyvault_props[] = {
	{"id", 's'}, {"requestUri", 's'}, {"httpStatusCode", 'd'}, {"clientInfo", 's'},
	{"isAccessPolicyMatch", 'b'},
};

static const struct aw_column_map *column_for(const char *key)
{
	for (size_t i = 0; i < sizeof aw_columns / sizeof aw_columns[0]; i++)
		if (strcasecmp(aw_columns[i].field, key) == 0)
			return &aw_columns[i];
	return NULL;
}

/* Case-insensitive member lookup (exports differ in key casing). */
static json_object *get_ci(json_object *obj, const char *name)
{
	if (!json_object_is_type(obj, json_type_object))
		return NULL;
	json_object_object_foreach(obj, k, v)
	{
		if (strcasecmp(k, name) == 0)
			return v;
	}
	return NULL;
}

static const char *get_str_ci(json_object *obj, const char *name)
{
	json_object *v = get_ci(obj, name);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool is_guid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* Adds val (a new reference) under name; val may be NULL (allocation failure). */
static int put(json_object *out, const char *name, json_object *val)
{
	if (!val)
		return -1;
	if (json_object_object_add(out, name, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

static int put_str(json_object *out, const char *name, const char *s, size_t n)
{
	if (n > INT32_MAX)
		return -1;
	return put(out, name, json_object_new_string_len(s, (int)n));
}

/* JSON text of a value: strings are taken to be JSON text already. */
static int put_json_text(json_object *out, const char *name, json_object *val)
{
	size_t n = 0;
	const char *s;

	if (json_object_is_type(val, json_type_string))
		return put(out, name, json_object_get(val));
	s = json_object_to_json_string_length(val, AW_RECORDS_JSON_FLAGS, &n);
	return s ? put_str(out, name, s, n) : -1;
}

/* Numbers keep their type; numeric strings become numbers; anything else is kept. */
static json_object *as_number(json_object *val)
{
	const char *s;
	char *end;

	if (!json_object_is_type(val, json_type_string))
		return json_object_get(val);
	s = json_object_get_string(val);
	if (*s && !isspace((unsigned char)*s)) {
		errno = 0;
		long long ll = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_object_new_int64(ll);
		errno = 0;
		double d = strtod(s, &end);
		if (errno == 0 && *end == '\0' && isfinite(d))
			return json_object_new_double(d);
	}
	return json_object_get(val);
}

static json_object *as_bool(json_object *val)
{
	if (json_object_is_type(val, json_type_string)) {
		const char *s = json_object_get_string(val);
		if (strcasecmp(s, "true") == 0)
			return json_object_new_boolean(1);
		if (strcasecmp(s, "false") == 0)
			return json_object_new_boolean(0);
	}
	return json_object_get(val);
}

/* prefix + key with every character outside [A-Za-z0-9_] turned into '_' + suffix. */
static int column_name(char *buf, size_t sz, const char *prefix, const char *key,
		       const char *suffix)
{
	size_t o = 0, pl = strlen(prefix), kl = strlen(key), sl = strlen(suffix);

	if (kl == 0 || pl + kl + sl >= sz)
		return -1;
	memcpy(buf, prefix, pl);
	o = pl;
	for (size_t i = 0; i < kl; i++) {
		unsigned char c = (unsigned char)key[i];
		buf[o++] = (isalnum(c) || c == '_') ? (char)c : '_';
	}
	memcpy(buf + o, suffix, sl + 1);
	return 0;
}

/* AzureDiagnostics' rule for keys it has no fixed column for: the type decides the
 * suffix (forced when `force` is not 0). Nulls are dropped; names too long are dropped
 * rather than truncated into a different column. */
static int put_generic(json_object *out, const char *prefix, const char *key,
		       json_object *val, char force)
{
	char name[AW_RECORDS_MAX_COLUMN];
	enum json_type t = json_object_get_type(val);
	char suffix = force;

	if (t == json_type_null)
		return 0;
	if (!suffix) {
		if (t == json_type_boolean)
			suffix = 'b';
		else if (t == json_type_int || t == json_type_double)
			suffix = 'd';
		else if (t == json_type_string && is_guid(json_object_get_string(val)))
			suffix = 'g';
		else
			suffix = 's';
	}
	char sfx[3] = {'_', suffix, '\0'};
	if (column_name(name, sizeof name, prefix, key, sfx) != 0)
		return 0;
	if (suffix == 'd')
		return put(out, name, as_number(val));
	if (suffix == 'b')
		return put(out, name, as_bool(val));
	if (t == json_type_object || t == json_type_array)
		return put_json_text(out, name, val);
	return put(out, name, json_object_get(val));
}

static void upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

/* /SUBSCRIPTIONS/<id>/RESOURCEGROUPS/<rg>/PROVIDERS/<ns>/<type>/<name>[/<type>/<name>]
 * split case-insensitively into the columns AzureDiagnostics derives from it. */
static int put_resource(json_object *out, json_object *val, bool activity)
{
	const char *rid;
	char *up = NULL, *low = NULL, *types = NULL;
	const char *seg[64];
	size_t segl[64], nseg = 0, len, i = 0, tl = 0;
	int rc = -1;

	if (!json_object_is_type(val, json_type_string))
		return put_generic(out, "", "resourceId", val, 0);
	rid = json_object_get_string(val);
	len = strlen(rid);
	up = strdup(rid);
	low = strdup(rid);
	types = malloc(len + 1);
	if (!up || !low || !types)
		goto out;
	upper(up);
	for (char *p = low; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (put(out, "ResourceId", json_object_get(val)) != 0 ||
	    put_str(out, "_ResourceId", low, len) != 0)
		goto out;
	for (char *p = up; *p && nseg < 64;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		seg[nseg] = p;
		while (*p && *p != '/')
			p++;
		segl[nseg] = (size_t)(p - seg[nseg]);
		nseg++;
	}
#define SEG_IS(k, s) (segl[k] == strlen(s) && memcmp(seg[k], s, segl[k]) == 0)
	if (i + 1 < nseg && SEG_IS(i, "SUBSCRIPTIONS")) {
		/* GUIDs are compared lower-case everywhere else. */
		if (put_str(out, "SubscriptionId", low + (seg[i + 1] - up), segl[i + 1]) != 0)
			goto out;
		i += 2;
	}
	if (i + 1 < nseg && SEG_IS(i, "RESOURCEGROUPS")) {
		const char *rg = activity ? rid + (seg[i + 1] - up) : seg[i + 1];
		if (put_str(out, "ResourceGroup", rg, segl[i + 1]) != 0)
			goto out;
		i += 2;
	}
	if (i + 1 < nseg && SEG_IS(i, "PROVIDERS")) {
		if (put_str(out, activity ? "ResourceProviderValue" : "ResourceProvider",
			    seg[i + 1], segl[i + 1]) != 0)
			goto out;
		i += 2;
		/* Nested resources: types joined with '/', the name is the last one. */
		const char *name = NULL;
		size_t namel = 0;
		for (; i < nseg; i += 2) {
			if (tl)
				types[tl++] = '/';
			memcpy(types + tl, seg[i], segl[i]);
			tl += segl[i];
			if (i + 1 < nseg) {
				name = seg[i + 1];
				namel = segl[i + 1];
			}
		}
		if (!activity && tl && put_str(out, "ResourceType", types, tl) != 0)
			goto out;
		if (!activity && name && put_str(out, "Resource", name, namel) != 0)
			goto out;
	}
#undef SEG_IS
	rc = 0;
out:
	free(up);
	free(low);
	free(types);
	return rc;
}

static bool is_activity_category(const char *cat)
{
	if (!cat)
		return false;
	for (size_t i = 0; aw_activity_categories[i]; i++)
		if (strcasecmp(cat, aw_activity_categories[i]) == 0)
			return true;
	return false;
}

/* Parse JSON text held in a string (properties sent as a string). */
static json_object *parse_text(const char *s, size_t n, char *why, size_t whysz)
{
	struct json_tokener *tok = json_tokener_new_ex(AW_RECORDS_MAX_DEPTH);
	json_object *obj = NULL;
	size_t end;

	if (!tok) {
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	if (n > INT32_MAX) {
		snprintf(why, whysz, "too large");
		goto out;
	}
	obj = json_tokener_parse_ex(tok, s, (int)n);
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue) {
		snprintf(why, whysz, "ends early");
		goto out;
	}
	if (!obj) {
		snprintf(why, whysz, "%s", json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	end = aw_json_skip_ws(s, json_tokener_get_parse_end(tok), n);
	if (end < n) {
		snprintf(why, whysz, "trailing data at byte %zu", end);
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
out:
	json_tokener_free(tok);
	return obj;
}

static int map_identity(json_object *out, json_object *val, bool activity, bool audit)
{
	if (activity) {
		json_object *a = get_ci(val, "authorization");
		json_object *c = get_ci(val, "claims");
		if (a && put_json_text(out, "Authorization", a) != 0)
			return -1;
		if (c && put_json_text(out, "Claims", c) != 0)
			return -1;
		return 0;
	}
	if (put_json_text(out, "identity_s", val) != 0)
		return -1;
	/* Key Vault keeps each claim as a column: identity_claim_<name>_<g|s>. */
	json_object *claim = get_ci(val, "claim");
	if (audit && json_object_is_type(claim, json_type_object)) {
		json_object_object_foreach(claim, k, v)
		{
			if (put_generic(out, "identity_claim_", k, v, 0) != 0)
				return -1;
		}
	}
	return 0;
}

static int map_properties(json_object *out, json_object *val, bool activity, bool audit,
			  char *why, size_t whysz)
{
	json_object *parsed = NULL, *p = val;
	int rc = -1;

	if (json_object_is_type(val, json_type_string)) {
		const char *s = json_object_get_string(val);
		size_t n = (size_t)json_object_get_string_len(val);
		if (aw_json_skip_ws(s, 0, n) < n) {
			char reason[128];
			parsed = parse_text(s, n, reason, sizeof reason);
			if (!parsed) {
				snprintf(why, whysz, "properties is not valid JSON (%s)", reason);
				return -1;
			}
		}
		p = parsed;
	}
	if (put_json_text(out, activity ? "Properties" : "properties_s", val) != 0)
		goto out;
	if (activity && json_object_is_type(p, json_type_object)) {
		const char *h = get_str_ci(p, "hierarchy");
		const char *st = get_str_ci(p, "statusCode");
		if (h && put(out, "Hierarchy", json_object_new_string(h)) != 0)
			goto out;
		if (st && !json_object_object_get_ex(out, "ActivitySubstatusValue", NULL) &&
		    put(out, "ActivitySubstatusValue", json_object_new_string(st)) != 0)
			goto out;
	}
	/* AzureDiagnostics flattens Key Vault properties without the "properties_" prefix. */
	if (!activity && audit && json_object_is_type(p, json_type_object)) {
		json_object_object_foreach(p, k, v)
		{
			char force = 0;
			for (size_t i = 0; i < sizeof aw_keyvault_props / sizeof aw_keyvault_props[0];
			     i++)
				if (strcmp(k, aw_keyvault_props[i].key) == 0)
					force = aw_keyvault_props[i].suffix;
			if (put_generic(out, "", k, v, force) != 0)
				goto out;
		}
	}
	rc = 0;
out:
	json_object_put(parsed);
	return rc;
}

/* Caller as AzureActivity shows it: the UPN for users, else the object or app id. */
static int put_activity_caller(json_object *out, json_object *rec)
{
	static const char *const claims[] = {
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
		"upn",
		"http://schemas.microsoft.com/identity/claims/objectidentifier",
		"oid",
		"appid",
	};
	json_object *c = get_ci(get_ci(rec, "identity"), "claims");

	if (json_object_object_get_ex(out, "Caller", NULL) ||
	    !json_object_is_type(c, json_type_object))
		return 0;
	for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
		const char *v = get_str_ci(c, claims[i]);
		if (v && *v)
			return put(out, "Caller", json_object_new_string(v));
	}
	return 0;
}

/* A deterministic _ItemId (RFC 4122 layout, version 8) from the mapped record, so
 * re-reading the same record after a restart yields the same id. */
static int put_item_id(json_object *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n = 0;
	const char *s = json_object_to_json_string_length(out, AW_RECORDS_JSON_FLAGS, &n);
	char id[37];

	if (!s || !EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) || mdlen < 16)
		return -1;
	md[6] = (unsigned char)((md[6] & 0x0F) | 0x80);
	md[8] = (unsigned char)((md[8] & 0x3F) | 0x80);
	snprintf(id, sizeof id,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0],
		 md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
		 md[12], md[13], md[14], md[15]);
	return put(out, "_ItemId", json_object_new_string(id));
}

json_object *aw_records_map(json_object *rec, char *why, size_t whysz)
{
	json_object *out = NULL, *tm;
	const char *cat;
	bool activity, audit;

	if (!json_object_is_type(rec, json_type_object)) {
		snprintf(why, whysz, "record is not an object");
		return NULL;
	}
	tm = get_ci(rec, "time");
	if (!json_object_is_type(tm, json_type_string) || json_object_get_string_len(tm) == 0) {
		snprintf(why, whysz, "record has no time");
		return NULL;
	}
	cat = get_str_ci(rec, "category");
	activity = is_activity_category(cat);
	audit = !activity && cat && strcasecmp(cat, "AuditEvent") == 0;
	out = json_object_new_object();
	if (!out || put(out, "Type", json_object_new_string(activity ? "AzureActivity"
								    : "AzureDiagnostics")) != 0)
		goto oom;
	json_object_object_foreach(rec, k, v)
	{
		const struct aw_column_map *m = column_for(k);
		const char *col = m ? (activity ? m->activity : m->diag) : NULL;
		int r = 0;

		if (json_object_is_type(v, json_type_null))
			continue;
		enum aw_col_conv conv = m ? m->conv : AW_CONV_COPY;

		if (conv == AW_CONV_RESOURCE) {
			r = put_resource(out, v, activity);
		} else if (conv == AW_CONV_IDENTITY) {
			r = map_identity(out, v, activity, audit);
		} else if (conv == AW_CONV_PROPERTIES) {
			if (map_properties(out, v, activity, audit, why, whysz) != 0) {
				json_object_put(out);
				return NULL;
			}
		} else if (!col) {
			r = put_generic(out, "", k, v, 0);
		} else if (conv == AW_CONV_NUMBER) {
			r = put(out, col, as_number(v));
		} else if (conv == AW_CONV_JSON_TEXT) {
			r = put_json_text(out, col, v);
		} else if (activity && conv == AW_CONV_CATEGORY &&
			   json_object_is_type(v, json_type_string) &&
			   (strcasecmp(cat, "Action") == 0 || strcasecmp(cat, "Write") == 0 ||
			    strcasecmp(cat, "Delete") == 0)) {
			r = put(out, col, json_object_new_string("Administrative"));
		} else if (activity && conv == AW_CONV_OPERATION &&
			   json_object_is_type(v, json_type_string)) {
			char *u = strdup(json_object_get_string(v));
			if (u)
				upper(u);
			r = u ? put(out, col, json_object_new_string(u)) : -1;
			free(u);
		} else {
			r = put(out, col, json_object_get(v));
		}
		if (r != 0)
			goto oom;
	}
	if (activity && put_activity_caller(out, rec) != 0)
		goto oom;
	if (!json_object_object_get_ex(out, "SourceSystem", NULL) &&
	    put(out, "SourceSystem", json_object_new_string("Azure")) != 0)
		goto oom;
	if (put_item_id(out) != 0)
		goto oom;
	return out;
oom:
	snprintf(why, whysz, "out of memory");
	json_object_put(out);
	return NULL;
}
