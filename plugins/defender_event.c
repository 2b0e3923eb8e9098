/* Defender findings as Log Analytics rows (see defender_event.h).
 *
 * Column by column, what the continuous export would have written: camelCase ARM
 * properties become the table's PascalCase columns, times keep ARM's ISO 8601 text,
 * and arrays/objects (RemediationSteps, ExtendedProperties, Entities, ...) become JSON
 * text, as the Log Analytics query API returns them, so rules address them the same
 * way on both paths. Columns without a source in the ARM item are left out rather than
 * invented. */
#include "defender_event.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEF_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

const char *aw_def_table(enum aw_def_kind k)
{
	return k == AW_DEF_ALERT ? "SecurityAlert" : "SecurityRecommendation";
}

const char *aw_def_kind_name(enum aw_def_kind k)
{
	return k == AW_DEF_ALERT ? "alert" : "assessment";
}

int aw_def_kind_of_type(const char *type)
{
	if (!type)
		return -1;
	if (strcasecmp(type, "microsoft.security/assessments") == 0)
		return AW_DEF_ASSESSMENT;
	if (strcasecmp(type, "microsoft.security/locations/alerts") == 0 ||
	    strcasecmp(type, "microsoft.security/alerts") == 0)
		return AW_DEF_ALERT;
	return -1;
}

static json_object *member(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

static const char *str_at(json_object *o, const char *k)
{
	json_object *v = member(o, k);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static json_object *obj_at(json_object *o, const char *k)
{
	json_object *v = member(o, k);

	return json_object_is_type(v, json_type_object) ? v : NULL;
}

const char *aw_def_item_name(json_object *item)
{
	const char *id = str_at(item, "id");

	return id && *id ? id : "(no id)";
}

/* YYYY-MM-DDThh:mm:ss at least: what the engine can read as an event time. */
static bool iso_time(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";

	if (strlen(s) < sizeof shape - 1)
		return false;
	for (size_t i = 0; i < sizeof shape - 1; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i])
				    : (s[i] != shape[i] && !(i == 10 && s[i] == ' ')))
			return false;
	}
	return true;
}

/* A datetime member: absent and null are fine, anything but an ISO string is not. */
static int check_time(json_object *o, const char *k, char *why, size_t whysz)
{
	json_object *v = member(o, k);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string) || !iso_time(json_object_get_string(v))) {
		snprintf(why, whysz, "%s is not an ISO 8601 time string", k);
		return -1;
	}
	return 0;
}

/* The resource an assessment id is about: the id up to its Microsoft.Security part. */
static const char *resource_from_id(const char *id, char *buf, size_t sz)
{
	const char *p = strcasestr(id, "/providers/Microsoft.Security/assessments/");

	if (!p || (size_t)(p - id) >= sz)
		return "";
	snprintf(buf, sz, "%.*s", (int)(p - id), id);
	return buf;
}

static const char *alert_resource(json_object *props)
{
	json_object *ids = member(props, "resourceIdentifiers");

	if (!json_object_is_type(ids, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		json_object *e = json_object_array_get_idx(ids, i);
		const char *t = str_at(e, "type"), *r = str_at(e, "azureResourceId");
		if (t && r && strcasecmp(t, "AzureResource") == 0)
			return r;
	}
	return NULL;
}

static json_object *alert_workspace(json_object *props)
{
	json_object *ids = member(props, "resourceIdentifiers");

	if (!json_object_is_type(ids, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(ids); i++) {
		json_object *e = json_object_array_get_idx(ids, i);
		const char *t = str_at(e, "type");
		if (t && strcasecmp(t, "LogAnalytics") == 0)
			return e;
	}
	return NULL;
}

int aw_def_finding_read(json_object *item, enum aw_def_kind kind, struct aw_def_finding *f,
			char *why, size_t whysz)
{
	static const char *const alert_times[] = {"timeGeneratedUtc", "startTimeUtc", "endTimeUtc",
						  "processingEndTimeUtc"};
	json_object *props, *status = NULL, *details;
	const char *res;

	memset(f, 0, sizeof *f);
	f->kind = kind;
	if (!json_object_is_type(item, json_type_object))
		return snprintf(why, whysz, "not a JSON object"), -1;
	f->id = str_at(item, "id");
	if (!f->id || !*f->id)
		return snprintf(why, whysz, "no id"), -1;
	props = obj_at(item, "properties");
	if (!props)
		return snprintf(why, whysz, "no properties object"), -1;
	if (kind == AW_DEF_ASSESSMENT) {
		status = obj_at(props, "status");
		f->state = str_at(status, "code");
		if (check_time(status, "firstEvaluationDate", why, whysz) < 0 ||
		    check_time(status, "statusChangeDate", why, whysz) < 0)
			return -1;
		f->time = str_at(status, "statusChangeDate");
		if (!f->time)
			f->time = str_at(status, "firstEvaluationDate");
		details = member(props, "resourceDetails");
		if (details && !json_object_is_type(details, json_type_object))
			return snprintf(why, whysz, "resourceDetails is not an object"), -1;
		res = str_at(details, "id");
		if (!res)
			res = str_at(details, "ResourceId"); /* on-premises resources */
		f->resource = res ? res : resource_from_id(f->id, f->resbuf, sizeof f->resbuf);
	} else {
		f->state = str_at(props, "status");
		for (size_t i = 0; i < sizeof alert_times / sizeof alert_times[0]; i++)
			if (check_time(props, alert_times[i], why, whysz) < 0)
				return -1;
		for (size_t i = 0; i < sizeof alert_times / sizeof alert_times[0] && !f->time; i++)
			if (i != 2) /* endTimeUtc is not when the alert happened */
				f->time = str_at(props, alert_times[i]);
		res = alert_resource(props);
		f->resource = res ? res : "";
	}
	if (!f->state || !*f->state)
		return snprintf(why, whysz, "%s",
				kind == AW_DEF_ASSESSMENT ? "no status.code" : "no status"),
		       -1;
	if (strlen(f->state) >= AW_DEF_STATE_MAX)
		return snprintf(why, whysz, "status longer than %d bytes", AW_DEF_STATE_MAX - 1),
		       -1;
	return 0;
}

/* --- the event ---------------------------------------------------------------------- */

struct ev {
	json_object *o;
	bool oom;
};

static void put(struct ev *e, const char *col, json_object *v)
{
	if (!v || json_object_object_add(e->o, col, v) != 0) {
		json_object_put(v);
		e->oom = true;
	}
}

static void put_str(struct ev *e, const char *col, const char *s)
{
	if (s)
		put(e, col, json_object_new_string(s));
}

/* Arrays and objects travel as JSON text, as the query API returns dynamic columns. */
static void put_text(struct ev *e, const char *col, json_object *v)
{
	const char *t;

	if (!v || json_object_is_type(v, json_type_null))
		return;
	if (json_object_is_type(v, json_type_string)) {
		put_str(e, col, json_object_get_string(v));
		return;
	}
	t = json_object_to_json_string_ext(v, DEF_JSON_FLAGS);
	if (!t) {
		e->oom = true;
		return;
	}
	put_str(e, col, t);
}

static void put_lower(struct ev *e, const char *col, const char *s)
{
	char *l;

	if (!s || !*s)
		return;
	if (!(l = strdup(s))) {
		e->oom = true;
		return;
	}
	for (char *c = l; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	put_str(e, col, l);
	free(l);
}

/* ARM entities are camelCase ({"type":"ip","address":...}); the SecurityAlert column
 * holds them PascalCase ({"Type":"ip","Address":...}), which alert entity extraction
 * and rules expect. Only each entity's own keys change. */
static json_object *entities_la(json_object *arm)
{
	json_object *out;

	if (!json_object_is_type(arm, json_type_array))
		return NULL;
	if (!(out = json_object_new_array()))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(arm); i++) {
		json_object *e = json_object_array_get_idx(arm, i), *n = NULL;
		if (json_object_is_type(e, json_type_object)) {
			if (!(n = json_object_new_object()))
				goto oom;
			json_object_object_foreach(e, k, v)
			{
				char key[128];
				snprintf(key, sizeof key, "%s", k);
				key[0] = (char)toupper((unsigned char)key[0]);
				if (json_object_object_add(n, key, json_object_get(v)) != 0)
					goto oom_n;
			}
		} else {
			n = json_object_get(e);
		}
		if (json_object_array_add(out, n) != 0)
			goto oom_n;
		continue;
	oom_n:
		json_object_put(n);
		goto oom;
	}
	return out;
oom:
	json_object_put(out);
	return NULL;
}

static void assessment_columns(struct ev *e, json_object *item, const struct aw_def_finding *f)
{
	json_object *props = obj_at(item, "properties"), *status = obj_at(props, "status");
	json_object *meta = obj_at(props, "metadata");
	const char *name = str_at(item, "name"), *display = str_at(props, "displayName");
	bool healthy = strcmp(f->state, "Healthy") == 0;

	put_str(e, "RecommendationId", name);
	put_str(e, "RecommendationName", name);
	put_str(e, "RecommendationDisplayName", display ? display : str_at(meta, "displayName"));
	put_str(e, "Description", str_at(meta, "description"));
	put_str(e, "RemediationDescription", str_at(meta, "remediationDescription"));
	put_str(e, "RecommendationState", f->state);
	put_str(e, "RecommendationSeverity", str_at(meta, "severity"));
	put_str(e, "PolicyDefinitionId", str_at(meta, "policyDefinitionId"));
	if (strcmp(f->state, "NotApplicable") == 0)
		put_str(e, "NotApplicableReason", str_at(status, "cause"));
	put_str(e, "AssessedResourceId", f->resource);
	put_str(e, "RecommendationLink", str_at(obj_at(props, "links"), "azurePortalUri"));
	put(e, "IsSnapshot", json_object_new_boolean(0));
	put_text(e, "RecommendationAdditionalData", member(props, "additionalData"));
	put_str(e, "FirstEvaluationDate", str_at(status, "firstEvaluationDate"));
	put_str(e, "StatusChangeDate", str_at(status, "statusChangeDate"));
	put_str(e, "DiscoveredTimeUTC", str_at(status, "firstEvaluationDate"));
	if (healthy)
		put_str(e, "ResolvedTimeUTC", str_at(status, "statusChangeDate"));
}

static void alert_columns(struct ev *e, json_object *item, const struct aw_def_finding *f)
{
	json_object *props = obj_at(item, "properties"), *ws = alert_workspace(props), *v;
	const char *display = str_at(props, "alertDisplayName"),
		   *product = str_at(props, "productName");
	const char *sysid = str_at(props, "systemAlertId");

	put_str(e, "DisplayName", display);
	put_str(e, "AlertName", display);
	put_str(e, "AlertSeverity", str_at(props, "severity"));
	put_str(e, "Description", str_at(props, "description"));
	put_str(e, "ProviderName", product);
	put_str(e, "VendorName", str_at(props, "vendorName"));
	put_str(e, "VendorOriginalId", str_at(item, "name"));
	put_str(e, "SystemAlertId", sysid ? sysid : str_at(item, "name"));
	if (*f->resource)
		put_str(e, "ResourceId", f->resource);
	put_str(e, "AlertType", str_at(props, "alertType"));
	if ((v = member(props, "isIncident")) && json_object_is_type(v, json_type_boolean))
		put(e, "IsIncident", json_object_new_boolean(json_object_get_boolean(v)));
	put_str(e, "StartTime", str_at(props, "startTimeUtc"));
	put_str(e, "EndTime", str_at(props, "endTimeUtc"));
	put_str(e, "ProcessingEndTime", str_at(props, "processingEndTimeUtc"));
	put_text(e, "RemediationSteps", member(props, "remediationSteps"));
	put_text(e, "ExtendedProperties", member(props, "extendedProperties"));
	if ((v = member(props, "entities"))) {
		json_object *la = entities_la(v);
		if (!la && json_object_is_type(v, json_type_array))
			e->oom = true;
		put_text(e, "Entities", la);
		json_object_put(la);
	}
	put_str(e, "SourceSystem", "Detection");
	put_str(e, "WorkspaceSubscriptionId", str_at(ws, "workspaceSubscriptionId"));
	put_str(e, "WorkspaceResourceGroup", str_at(ws, "workspaceResourceGroup"));
	put_text(e, "ExtendedLinks", member(props, "extendedLinks"));
	put_str(e, "ProductName", product);
	put_str(e, "ProductComponentName", str_at(props, "productComponentName"));
	put_str(e, "AlertLink", str_at(props, "alertUri"));
	/* The workspace table calls an active alert "New". */
	put_str(e, "Status", strcmp(f->state, "Active") == 0 ? "New" : f->state);
	put_str(e, "CompromisedEntity", str_at(props, "compromisedEntity"));
	put_str(e, "Tactics", str_at(props, "intent"));
	put_text(e, "Techniques", member(props, "techniques"));
	put_text(e, "SubTechniques", member(props, "subTechniques"));
}

char *aw_def_event_json(json_object *item, const struct aw_def_finding *f, const char *item_id,
			const char *now_iso, size_t *len)
{
	struct ev e = {.o = json_object_new_object()};
	const char *txt;
	char *out = NULL;
	size_t n = 0;

	if (!e.o)
		return NULL;
	put_str(&e, "TimeGenerated", f->time ? f->time : now_iso);
	put_str(&e, "TenantId", str_at(item, "tenantId")); /* Resource Graph rows carry it */
	if (f->kind == AW_DEF_ASSESSMENT)
		assessment_columns(&e, item, f);
	else
		alert_columns(&e, item, f);
	put_str(&e, "Type", aw_def_table(f->kind));
	put_str(&e, "_ItemId", item_id);
	put_lower(&e, "_ResourceId", f->resource);
	if (!e.oom && (txt = json_object_to_json_string_length(e.o, DEF_JSON_FLAGS, &n)))
		out = strndup(txt, n);
	json_object_put(e.o);
	if (out && len)
		*len = n;
	return out;
}
