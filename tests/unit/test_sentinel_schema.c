/* conf/sentinel against the alerts out_sentinel sends: the ARM template's table and
 * stream declaration must have exactly the alert's fields with the types they carry,
 * the DCR must route the output's default stream into the table, and the sample
 * analytics rule must only use columns its query makes. A field added to (or renamed
 * in) daemon/alert.c without the template, or the other way round, fails here. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "registry.h"
#include "sentinel_body.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_COLS 64

struct col {
	char name[64];
	char type[16];
};

struct cols {
	struct col c[MAX_COLS];
	size_t n;
};

/* --- a real alert -------------------------------------------------------------------- */

static const char event[] =
    "{\"TimeGenerated\":\"2026-11-29T04:35:20.123Z\",\"Type\":\"AzureDiagnostics\","
    "\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\",\"Category\":\"RequestResponse\","
    "\"OperationName\":\"ChatCompletions_Create\",\"ResultSignature\":\"200\","
    "\"CallerIPAddress\":\"203.0.113.7\","
    "\"ResourceId\":\"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/"
    "RG-AI/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/PROD-AOAI\","
    "\"properties_s\":\"{\\\"objectId\\\":\\\"\\\",\\\"modelDeploymentName\\\":"
    "\\\"gpt4o-prod\\\"}\",\"_ItemId\":\"item-0001\"}";

static const char *const tags[] = {"attack.initial-access", "attack.t1078.004", "atlas.aml.t0051"};

static const struct aw_alert_rule rule = {
    .id = "aw-aoai-001",
    .title = "API key use from a new network",
    .description = "Key-authenticated calls from a network not seen before.",
    .level = "high",
    .tags = tags,
    .ntags = NELEM(tags),
};

/* An alert as the engine makes it; with a large sample when pad > 0. */
static char *make_alert(size_t pad)
{
	static const char *const gf[] = {"CallerIPAddress"}, *const gv[] = {"203.0.113.7"};
	static const char *const ids[] = {"item-0001", "item-0002"};
	struct aw_event_view *v = aw_event_view_new(4096);
	struct aw_error err = {{0}};
	struct aw_record rec;
	char *sample = NULL, *out;
	const char *samples[1];

	ck_assert_ptr_nonnull(v);
	ck_assert_msg(aw_event_view_reset(v, event, strlen(event), &err) == 0, "%s", err.msg);
	if (pad) {
		sample = malloc(pad + 64);
		ck_assert_ptr_nonnull(sample);
		int n = snprintf(sample, pad + 64, "{\"Type\":\"AzureDiagnostics\",\"Pad\":\"");
		memset(sample + n, 'x', pad);
		snprintf(sample + n + pad, 64, "\"}");
	}
	samples[0] = sample ? sample : event;
	struct aw_alert_input in = {
	    .rule = &rule,
	    .window_start_ms = 1795926600000,
	    .window_end_ms = 1795926920123,
	    .event_count = 2,
	    .group_fields = gf,
	    .group_values = gv,
	    .ngroup = 1,
	    .event = v,
	    .source_table = "AzureDiagnostics",
	    .item_ids = ids,
	    .nitem_ids = 2,
	    .samples = samples,
	    .nsamples = 1,
	    .host = "sensor-1",
	    .now_ms = 1795926961456,
	};
	ck_assert_msg(aw_alert_build(&in, 0, &rec, &err) == 0, "%s", err.msg);
	out = strdup(rec.data);
	aw_alert_record_free(&rec);
	aw_event_view_free(v);
	free(sample);
	return out;
}

static bool is_datetime(const char *s)
{
	/* what the alert builder writes: 2026-11-29T04:35:20.123Z */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (strlen(s) != strlen(shape))
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	return true;
}

/* The Log Analytics column type of each field of the alert JSON. */
static void alert_columns(const char *alert, struct cols *out)
{
	struct json_object *o = json_tokener_parse(alert);

	ck_assert_msg(o && json_object_is_type(o, json_type_object), "not an object: %s", alert);
	out->n = 0;
	json_object_object_foreach(o, k, v)
	{
		const char *t;

		switch (json_object_get_type(v)) {
		case json_type_string:
			t = is_datetime(json_object_get_string(v)) ? "datetime" : "string";
			break;
		case json_type_int:
			t = "long";
			break;
		case json_type_double:
			t = "real";
			break;
		case json_type_boolean:
			t = "boolean";
			break;
		case json_type_object:
		case json_type_array:
			t = "dynamic";
			break;
		default:
			ck_abort_msg("alert field %s is null", k);
			return;
		}
		ck_assert_uint_lt(out->n, MAX_COLS);
		snprintf(out->c[out->n].name, sizeof out->c[0].name, "%s", k);
		snprintf(out->c[out->n].type, sizeof out->c[0].type, "%s", t);
		out->n++;
	}
	json_object_put(o);
}

/* --- the template ---------------------------------------------------------------------- */

static struct json_object *load_json(const char *rel)
{
	char *path = aw_test_srcpath(rel);
	struct json_object *o = json_object_from_file(path);

	ck_assert_msg(o != NULL, "%s is not valid JSON: %s", path, json_util_get_last_err());
	free(path);
	return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(o && json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
		      o ? json_object_to_json_string(o) : "(null)");
	return v;
}

/* "[variables('x')]" resolves to the template's variable x; anything else is itself. */
static struct json_object *resolve(struct json_object *tmpl, struct json_object *v)
{
	const char *s = json_object_get_string(v), *pre = "[variables('";
	char name[128];

	if (!json_object_is_type(v, json_type_string) || strncmp(s, pre, strlen(pre)) != 0)
		return v;
	s += strlen(pre);
	size_t n = strcspn(s, "'");
	ck_assert_uint_lt(n, sizeof name);
	memcpy(name, s, n);
	name[n] = '\0';
	ck_assert_str_eq(s + n, "')]");
	return get(get(tmpl, "variables"), name);
}

static struct json_object *resource(struct json_object *tmpl, const char *type)
{
	struct json_object *rs = get(tmpl, "resources");

	for (size_t i = 0; i < json_object_array_length(rs); i++) {
		struct json_object *r = json_object_array_get_idx(rs, i);
		if (strcmp(json_object_get_string(get(r, "type")), type) == 0)
			return r;
	}
	ck_abort_msg("no %s resource in the template", type);
	return NULL;
}

static void template_columns(struct json_object *tmpl, struct json_object *arr, struct cols *out)
{
	arr = resolve(tmpl, arr);
	ck_assert(json_object_is_type(arr, json_type_array));
	out->n = 0;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *c = json_object_array_get_idx(arr, i);
		ck_assert_uint_lt(out->n, MAX_COLS);
		snprintf(out->c[out->n].name, sizeof out->c[0].name, "%s",
			 json_object_get_string(get(c, "name")));
		snprintf(out->c[out->n].type, sizeof out->c[0].type, "%s",
			 json_object_get_string(get(c, "type")));
		out->n++;
	}
}

static const char *type_of(const struct cols *cs, const char *name)
{
	for (size_t i = 0; i < cs->n; i++)
		if (strcmp(cs->c[i].name, name) == 0)
			return cs->c[i].type;
	return NULL;
}

/* Same names, same types, nothing more on either side. */
static void assert_same(const struct cols *alert, const struct cols *tmpl, const char *what)
{
	for (size_t i = 0; i < alert->n; i++) {
		const char *t = type_of(tmpl, alert->c[i].name);
		ck_assert_msg(t != NULL, "%s has no column %s (alert field of type %s)", what,
			      alert->c[i].name, alert->c[i].type);
		ck_assert_msg(strcmp(t, alert->c[i].type) == 0,
			      "%s: column %s is %s, the alert carries %s", what, alert->c[i].name,
			      t, alert->c[i].type);
	}
	for (size_t i = 0; i < tmpl->n; i++)
		ck_assert_msg(type_of(alert, tmpl->c[i].name) != NULL,
			      "%s: column %s is not a field of the alert", what, tmpl->c[i].name);
	ck_assert_uint_eq(alert->n, tmpl->n);
}

/* Log Analytics column names: a letter, then up to 44 letters, digits or _; not one of
 * the reserved names (contract §3). */
static void assert_column_names(const struct cols *cs)
{
	static const char *const reserved[] = {
	    "_ResourceId", "id", "_SubscriptionId", "TenantId", "Type", "UniqueId", "Title"};

	for (size_t i = 0; i < cs->n; i++) {
		const char *n = cs->c[i].name;
		ck_assert_msg((n[0] >= 'A' && n[0] <= 'Z') || (n[0] >= 'a' && n[0] <= 'z'),
			      "column %s does not start with a letter", n);
		ck_assert_msg(strlen(n) <= 45, "column %s is longer than 45", n);
		ck_assert_msg(strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789_") == strlen(n),
			      "column %s has characters Log Analytics refuses", n);
		for (size_t k = 0; k < NELEM(reserved); k++)
			ck_assert_msg(strcmp(n, reserved[k]) != 0, "column %s is reserved", n);
	}
}

static const char *default_stream(void)
{
	const struct aw_plugin_desc *d = aw_plugin_find(AW_PLUGIN_OUTPUT, "sentinel");

	ck_assert_msg(d != NULL, "the sentinel output is not registered");
	for (const struct aw_option *o = d->options; o->key; o++)
		if (strcmp(o->key, "stream") == 0)
			return o->defval;
	ck_abort_msg("the sentinel output has no stream option");
	return NULL;
}

START_TEST(table_and_stream_match_the_alert)
{
	struct json_object *tmpl = load_json("conf/sentinel/azuredeploy.json");
	struct json_object *table =
	    resource(tmpl, "Microsoft.OperationalInsights/workspaces/tables");
	struct json_object *dcr = resource(tmpl, "Microsoft.Insights/dataCollectionRules");
	struct json_object *props = get(dcr, "properties"), *flow;
	char *alert = make_alert(0);
	struct cols want, have;
	const char *stream = default_stream();

	alert_columns(alert, &want);
	ck_assert_uint_ge(want.n, 18);
	assert_column_names(&want);

	template_columns(tmpl, get(get(get(table, "properties"), "schema"), "columns"), &have);
	assert_same(&want, &have, "the table AIWatchAlerts_CL");
	ck_assert_str_eq(json_object_get_string(
			     resolve(tmpl, get(get(get(table, "properties"), "schema"), "name"))),
			 "AIWatchAlerts_CL");

	/* The stream out_sentinel posts to by default is the one the DCR declares ... */
	template_columns(tmpl, get(get(get(props, "streamDeclarations"), stream), "columns"),
			 &have);
	assert_same(&want, &have, "the DCR's stream declaration");

	/* ... and its data flow takes that stream, unchanged, into the table. */
	flow = json_object_array_get_idx(get(props, "dataFlows"), 0);
	ck_assert_ptr_nonnull(flow);
	ck_assert_str_eq(json_object_get_string(
			     resolve(tmpl, json_object_array_get_idx(get(flow, "streams"), 0))),
			 stream);
	ck_assert_str_eq(json_object_get_string(resolve(tmpl, get(flow, "outputStream"))),
			 "Custom-AIWatchAlerts_CL");
	ck_assert_str_eq(json_object_get_string(get(flow, "transformKql")), "source");
	ck_assert_str_eq(json_object_get_string(get(dcr, "kind")), "Direct");

	/* The outputs are what the output's configuration asks for. */
	get(get(tmpl, "outputs"), "endpoint");
	get(get(tmpl, "outputs"), "dcrImmutableId");
	free(alert);
	json_object_put(tmpl);
}
END_TEST

/* Evidence trimmed for the 64 KB column limit keeps the schema: same fields and
 * types, Evidence still an object. */
START_TEST(trimmed_alert_keeps_the_schema)
{
	char *alert = make_alert(150000), *trimmed = NULL;
	size_t len = 0;
	struct cols before, after;
	struct aw_error err = {{0}};

	alert_columns(alert, &before);
	ck_assert_int_eq(aw_sentinel_trim_evidence(alert, strlen(alert), AW_SENTINEL_FIELD_MAX,
						   &trimmed, &len, &err),
			 1);
	alert_columns(trimmed, &after);
	assert_same(&before, &after, "the trimmed alert");
	ck_assert_uint_lt(len, AW_SENTINEL_FIELD_MAX);
	free(alert);
	free(trimmed);
}
END_TEST

/* The analytics rule reads the table and only maps columns its query projects. */
START_TEST(analytics_rule_uses_projected_columns)
{
	struct json_object *tmpl = load_json("conf/sentinel/analytics-rule-high.json");
	struct json_object *r = resource(tmpl, "Microsoft.SecurityInsights/alertRules");
	struct json_object *p = get(r, "properties"), *maps, *cd;
	const char *q = json_object_get_string(get(p, "query")), *proj;

	ck_assert_str_eq(json_object_get_string(get(r, "kind")), "Scheduled");
	ck_assert_str_eq(json_object_get_string(get(p, "severity")), "High");
	ck_assert(json_object_get_boolean(get(get(p, "incidentConfiguration"), "createIncident")));
	ck_assert_msg(strncmp(q, "AIWatchAlerts_CL\n", 17) == 0, "%s", q);
	ck_assert_ptr_nonnull(strstr(q, "Severity == \"High\""));
	proj = strstr(q, "| project ");
	ck_assert_ptr_nonnull(proj);
	maps = get(p, "entityMappings");
	for (size_t i = 0; i < json_object_array_length(maps); i++) {
		struct json_object *fm = get(json_object_array_get_idx(maps, i), "fieldMappings");
		for (size_t k = 0; k < json_object_array_length(fm); k++) {
			const char *c = json_object_get_string(
			    get(json_object_array_get_idx(fm, k), "columnName"));
			ck_assert_msg(strstr(proj, c), "entity column %s is not projected", c);
		}
	}
	cd = get(p, "customDetails");
	json_object_object_foreach(cd, k, v)
	{
		ck_assert_msg(strstr(proj, json_object_get_string(v)),
			      "custom detail %s: column %s is not projected", k,
			      json_object_get_string(v));
	}
	json_object_put(tmpl);
}
END_TEST

static Suite *sentinel_schema_suite(void)
{
	Suite *s = suite_create("sentinel_schema");
	TCase *tc = tcase_create("schema");

	tcase_add_test(tc, table_and_stream_match_the_alert);
	tcase_add_test(tc, trimmed_alert_keeps_the_schema);
	tcase_add_test(tc, analytics_rule_uses_projected_columns);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(sentinel_schema_suite)
