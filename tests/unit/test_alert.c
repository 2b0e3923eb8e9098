/* Alerts: the exact JSON a SIEM receives, the deterministic AlertId, tags to ATT&CK /
 * ATLAS, entities per source table, the record key and the size bound. Records are
 * hand-written from log-schemas.md. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- fixtures ---------------------------------------------------------------------- */

/* Azure OpenAI RequestResponse, key-authenticated (empty objectId), masked caller IP. */
static const char aoai_event[] =
	"{\"TimeGenerated\":\"2026-11-29T04:35:20.123Z\",\"Type\":\"AzureDiagnostics\","
	"\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\",\"Category\":\"RequestResponse\","
	"\"OperationName\":\"ChatCompletions_Create\",\"ResultSignature\":\"200\","
	"\"CallerIPAddress\":\"203.0.113.***\","
	"\"ResourceId\":\"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/"
	"RG-AI/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/PROD-AOAI\","
	"\"_ResourceId\":\"/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/"
	"rg-ai/providers/microsoft.cognitiveservices/accounts/prod-aoai\","
	"\"properties_s\":\"{\\\"apiName\\\":\\\"Azure OpenAI API version 2024-02-01\\\","
	"\\\"objectId\\\":\\\"\\\",\\\"modelDeploymentName\\\":\\\"gpt4o-prod\\\","
	"\\\"requestLength\\\":512}\",\"_ItemId\":\"item-0001\"}";

#define RES_UPPER                                                                          \
	"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/RG-AI/PROVIDERS/" \
	"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/PROD-AOAI"

static const char *const golden_tags[] = {
	"attack.initial-access", "attack.t1078.004", "atlas.aml.t0051",
	"atlas.ml-model-access", "attack.g0016",     "attack.initial_access",
};

static const struct aw_alert_rule golden_rule = {
	.id = "aw-aoai-001",
	.title = "API key use from a new network",
	.description = "Key-authenticated calls to \"prod-aoai\" from a network not seen before.",
	.level = "high",
	.tags = golden_tags,
	.ntags = NELEM(golden_tags),
};

static const char *const golden_fields[] = {"Resource", "CallerIPAddress"};
static const char *const golden_values[] = {"PROD-AOAI", "203.0.113.***"};
static const char *const golden_ids[] = {"item-0001", "item-0002"};

struct fixture {
	struct aw_event_view *view;
	const char *samples[1];
	struct aw_alert_input in;
};

static struct aw_event_view *view_of(const char *json)
{
	struct aw_event_view *v = aw_event_view_new(4096);
	struct aw_error err = {{0}};

	ck_assert_ptr_nonnull(v);
	ck_assert_msg(aw_event_view_reset(v, json, strlen(json), &err) == 0, "%s", err.msg);
	return v;
}

static void golden_input(struct fixture *f)
{
	f->view = view_of(aoai_event);
	f->samples[0] = aoai_event;
	f->in = (struct aw_alert_input){
		.rule = &golden_rule,
		.window_start_ms = 1795926600000,  /* 2026-11-29T04:30:00.000Z */
		.window_end_ms = 1795926920123,    /* 2026-11-29T04:35:20.123Z */
		.event_count = 2,
		.group_fields = golden_fields,
		.group_values = golden_values,
		.ngroup = 2,
		.event = f->view,
		.source_table = "AzureDiagnostics",
		.item_ids = golden_ids,
		.nitem_ids = 2,
		.samples = f->samples,
		.nsamples = 1,
		.host = "sensor-1",
		.now_ms = 1795926961456,           /* 2026-11-29T04:36:01.456Z */
	};
}

static void build_ok(const struct aw_alert_input *in, size_t max, struct aw_record *rec)
{
	struct aw_error err = {{0}};

	ck_assert_msg(aw_alert_build(in, max, rec, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(rec->data);
	ck_assert_uint_eq(strlen(rec->data), rec->len);
}

static struct json_object *parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	ck_assert_msg(o != NULL, "not JSON: %s", s);
	return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return v;
}

/* "Type=Value@Field;..." for the alert's entities: one comparable string. */
static char *entities_str(const char *alert)
{
	struct json_object *o = parse(alert), *es = get(o, "Entities");
	size_t cap = 8192, n = 0;
	char *out = calloc(1, cap);

	for (size_t i = 0; i < json_object_array_length(es); i++) {
		struct json_object *e = json_object_array_get_idx(es, i);
		n += (size_t)snprintf(out + n, cap - n, "%s%s=%s@%s", i ? ";" : "",
				      json_object_get_string(get(e, "Type")),
				      json_object_get_string(get(e, "Value")),
				      json_object_get_string(get(e, "Field")));
		ck_assert_uint_lt(n, cap);
	}
	json_object_put(o);
	return out;
}

/* Build an alert for one event of `table` with rule "r1" and return its entities. */
static char *entities_of(const char *table, const char *json, char **key)
{
	static const struct aw_alert_rule r = {.id = "r1", .title = "t", .level = "low"};
	struct aw_event_view *v = view_of(json);
	struct aw_alert_input in = {.rule = &r, .event = v, .source_table = table,
				    .event_count = 1, .host = "h"};
	struct aw_record rec;
	char *s;

	build_ok(&in, 0, &rec);
	s = entities_str(rec.data);
	if (key)
		*key = strdup(rec.key);
	aw_alert_record_free(&rec);
	aw_event_view_free(v);
	return s;
}

/* --- the whole alert ----------------------------------------------------------------- */

START_TEST(golden_json)
{
	/* AlertId computed independently (Python hashlib) from the canonical form in
	 * alert.c: "aiwatch-alert-v1\nR11:aw-aoai-001\nF15:CallerIPAddress\n
	 * V13:203.0.113.***\nF8:Resource\nV9:PROD-AOAI\nW1795926600000\n". */
	static const char expected[] =
		"{\"TimeGenerated\":\"2026-11-29T04:36:01.456Z\","
		"\"AlertId\":\"40faad76abe6c6c1f0c16d4430b66573\","
		"\"RuleId\":\"aw-aoai-001\","
		"\"RuleTitle\":\"API key use from a new network\","
		"\"Severity\":\"High\","
		"\"Description\":\"Key-authenticated calls to \\\"prod-aoai\\\" from a network not "
		"seen before.\","
		"\"Tactics\":[\"InitialAccess\",\"MLModelAccess\"],"
		"\"Techniques\":[\"T1078.004\",\"AML.T0051\"],"
		"\"WindowStart\":\"2026-11-29T04:30:00.000Z\","
		"\"WindowEnd\":\"2026-11-29T04:35:20.123Z\","
		"\"EventCount\":2,"
		"\"GroupBy\":{\"Resource\":\"PROD-AOAI\",\"CallerIPAddress\":\"203.0.113.***\"},"
		"\"Entities\":["
		"{\"Type\":\"ip\",\"Value\":\"203.0.113.***\",\"Field\":\"CallerIPAddress\"},"
		"{\"Type\":\"resource\",\"Value\":\"" RES_UPPER "\",\"Field\":\"ResourceId\"},"
		"{\"Type\":\"deployment\",\"Value\":\"gpt4o-prod\","
		"\"Field\":\"properties_s.modelDeploymentName\"}],"
		"\"ResourceId\":\"" RES_UPPER "\","
		"\"SourceTable\":\"AzureDiagnostics\","
		"\"Evidence\":{\"ItemIds\":[\"item-0001\",\"item-0002\"],\"Samples\":[";
	static const char tail[] = "]},\"Host\":\"sensor-1\",\"Version\":\"" AW_VERSION "\"}";
	struct fixture f;
	struct aw_record rec;
	char *want;
	size_t n;

	golden_input(&f);
	build_ok(&f.in, 60000, &rec);
	n = strlen(expected) + strlen(aoai_event) + strlen(tail) + 1;
	want = malloc(n);
	snprintf(want, n, "%s%s%s", expected, aoai_event, tail);
	ck_assert_str_eq(rec.data, want);
	ck_assert_str_eq(rec.id, "40faad76abe6c6c1f0c16d4430b66573");
	/* key auth: no identity, so the record key is the caller IP */
	ck_assert_str_eq(rec.key, "203.0.113.***");
	free(want);
	aw_alert_record_free(&rec);
	ck_assert_ptr_null(rec.data);
	aw_event_view_free(f.view);
}
END_TEST

START_TEST(build_id_matches_aw_alert_id)
{
	struct fixture f;
	struct aw_record rec;
	char id[33];

	golden_input(&f);
	build_ok(&f.in, 0, &rec);
	aw_alert_id(&f.in, NULL, id);
	ck_assert_str_eq(rec.id, id);
	aw_alert_record_free(&rec);
	aw_event_view_free(f.view);
}
END_TEST

START_TEST(no_event_no_group)
{
	static const struct aw_alert_rule r = {.id = "lonely", .title = "T"};
	struct aw_alert_input in = {.rule = &r, .window_start_ms = 0, .window_end_ms = 999,
				    .event_count = 3};
	struct aw_record rec;
	struct json_object *o;

	build_ok(&in, 0, &rec);
	o = parse(rec.data);
	ck_assert_str_eq(json_object_get_string(get(o, "TimeGenerated")),
			 "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(json_object_get_string(get(o, "WindowEnd")), "1970-01-01T00:00:00.999Z");
	ck_assert_str_eq(json_object_get_string(get(o, "Description")), "");
	ck_assert_str_eq(json_object_get_string(get(o, "Severity")), "Medium");
	ck_assert_str_eq(json_object_get_string(get(o, "ResourceId")), "");
	ck_assert_str_eq(json_object_get_string(get(o, "Host")), "");
	ck_assert_uint_eq(json_object_array_length(get(o, "Entities")), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(get(o, "GroupBy"), JSON_C_TO_STRING_PLAIN),
			 "{}");
	/* nothing to name: the rule is the key */
	ck_assert_str_eq(rec.key, "lonely");
	json_object_put(o);
	aw_alert_record_free(&rec);
}
END_TEST

START_TEST(times_before_epoch)
{
	static const struct aw_alert_rule r = {.id = "r"};
	struct aw_alert_input in = {.rule = &r, .window_start_ms = -1, .window_end_ms = 5,
				    .now_ms = -86400000};
	struct aw_record rec;
	struct json_object *o;

	build_ok(&in, 0, &rec);
	o = parse(rec.data);
	ck_assert_str_eq(json_object_get_string(get(o, "WindowStart")),
			 "1969-12-31T23:59:59.999Z");
	ck_assert_str_eq(json_object_get_string(get(o, "TimeGenerated")),
			 "1969-12-31T00:00:00.000Z");
	json_object_put(o);
	aw_alert_record_free(&rec);
}
END_TEST

START_TEST(rule_without_id_is_an_error)
{
	static const struct aw_alert_rule r = {.title = "untitled"};
	struct aw_alert_input in = {.rule = &r};
	struct aw_record rec;
	struct aw_error err = {{0}};

	ck_assert_int_lt(aw_alert_build(&in, 0, &rec, &err), 0);
	ck_assert_str_eq(err.msg, "alert: the rule has no id");
	ck_assert_ptr_null(rec.data);
}
END_TEST

START_TEST(invalid_utf8_and_bad_samples)
{
	static const struct aw_alert_rule r = {.id = "r", .title = "bad \xff byte",
					       .description = "cut \xe2\x80 here"};
	const char *samples[] = {"not json", "[1,2]", "{\"a\":1.50,\"b\":\"x/y\"}"};
	struct aw_alert_input in = {.rule = &r, .samples = samples, .nsamples = 3};
	struct aw_record rec;
	struct json_object *o;

	build_ok(&in, 0, &rec);
	ck_assert_ptr_nonnull(strstr(rec.data, "\"RuleTitle\":\"bad \xef\xbf\xbd byte\""));
	ck_assert_ptr_nonnull(strstr(rec.data, "\"Description\":\"cut \xef\xbf\xbd here\""));
	/* what is not one JSON object stays as text; objects keep their number forms */
	ck_assert_ptr_nonnull(strstr(rec.data,
		"\"Samples\":[\"not json\",\"[1,2]\",{\"a\":1.50,\"b\":\"x/y\"}]"));
	o = parse(rec.data);
	json_object_put(o);
	aw_alert_record_free(&rec);
}
END_TEST

/* --- severity ---------------------------------------------------------------------- */

START_TEST(severity_mapping)
{
	ck_assert_str_eq(aw_alert_severity("informational"), "Informational");
	ck_assert_str_eq(aw_alert_severity("low"), "Low");
	ck_assert_str_eq(aw_alert_severity("medium"), "Medium");
	ck_assert_str_eq(aw_alert_severity("high"), "High");
	ck_assert_str_eq(aw_alert_severity("critical"), "High");
	ck_assert_str_eq(aw_alert_severity("CRITICAL"), "High");
	ck_assert_str_eq(aw_alert_severity("severe"), "Medium");
	ck_assert_str_eq(aw_alert_severity(""), "Medium");
	ck_assert_str_eq(aw_alert_severity(NULL), "Medium");
}
END_TEST

/* --- the id ------------------------------------------------------------------------ */

static void id_of(const struct aw_alert_rule *r, const char *const *gf, const char *const *gv,
		  size_t ng, int64_t start, const char *item, char out[33])
{
	struct aw_alert_input in = {.rule = r, .window_start_ms = start, .window_end_ms = start,
				    .group_fields = gf, .group_values = gv, .ngroup = ng};

	aw_alert_id(&in, item, out);
	ck_assert_uint_eq(strlen(out), 32);
	ck_assert_uint_eq(strspn(out, "0123456789abcdef"), 32);
}

START_TEST(id_deterministic)
{
	static const struct aw_alert_rule r1 = {.id = "rule-1"}, r2 = {.id = "rule-2"};
	const char *f[] = {"Caller", "CallerIpAddress"};
	const char *v[] = {"alice@contoso.example", "198.51.100.7"};
	const char *fr[] = {"CallerIpAddress", "Caller"};
	const char *vr[] = {"198.51.100.7", "alice@contoso.example"};
	char a[33], b[33], c[33];

	id_of(&r1, f, v, 2, 1000, NULL, a);
	id_of(&r1, f, v, 2, 1000, NULL, b);
	ck_assert_str_eq(a, b);
	/* the order of the group fields does not matter */
	id_of(&r1, fr, vr, 2, 1000, NULL, b);
	ck_assert_str_eq(a, b);
	/* a different window, rule, group value or item is a different finding */
	id_of(&r1, f, v, 2, 1001, NULL, b);
	ck_assert_str_ne(a, b);
	id_of(&r2, f, v, 2, 1000, NULL, b);
	ck_assert_str_ne(a, b);
	v[1] = "198.51.100.8";
	id_of(&r1, f, v, 2, 1000, NULL, b);
	ck_assert_str_ne(a, b);
	id_of(&r1, NULL, NULL, 0, 1000, "item-a", b);
	id_of(&r1, NULL, NULL, 0, 1000, "item-b", c);
	ck_assert_str_ne(b, c);
	id_of(&r1, NULL, NULL, 0, 1000, NULL, c);
	ck_assert_str_ne(b, c);
}
END_TEST

START_TEST(id_encoding_unambiguous)
{
	static const struct aw_alert_rule r = {.id = "r"};
	const char *f1[] = {"ab"}, *v1[] = {"c"};
	const char *f2[] = {"a"}, *v2[] = {"bc"};
	const char *f3[] = {"a=b"}, *v3[] = {"c"};
	const char *f4[] = {"a"}, *v4[] = {"b=c"};
	const char *f5[] = {"a", "b"}, *v5[] = {"x\nF1:b\nV1:y", ""};
	const char *f6[] = {"a"}, *v6[] = {"x\nF1:b\nV1:y"};
	char x[33], y[33];

	id_of(&r, f1, v1, 1, 0, NULL, x);
	id_of(&r, f2, v2, 1, 0, NULL, y);
	ck_assert_str_ne(x, y);
	id_of(&r, f3, v3, 1, 0, NULL, x);
	id_of(&r, f4, v4, 1, 0, NULL, y);
	ck_assert_str_ne(x, y);
	id_of(&r, f5, v5, 2, 0, NULL, x);
	id_of(&r, f6, v6, 1, 0, NULL, y);
	ck_assert_str_ne(x, y);
}
END_TEST

START_TEST(id_ignores_host_time_and_count)
{
	struct fixture f;
	struct aw_record a, b;

	golden_input(&f);
	build_ok(&f.in, 0, &a);
	f.in.host = "another-host";
	f.in.now_ms += 3600000;
	f.in.event_count = 7;
	f.in.window_end_ms += 60000;
	f.in.nitem_ids = 1;
	build_ok(&f.in, 0, &b);
	ck_assert_str_eq(a.id, b.id);
	ck_assert_str_ne(a.data, b.data);
	aw_alert_record_free(&a);
	aw_alert_record_free(&b);
	aw_event_view_free(f.view);
}
END_TEST

START_TEST(id_duplicate_group_fields)
{
	static const struct aw_alert_rule r = {.id = "r"};
	const char *f[] = {"k", "k", "a"}, *v1[] = {"1", "2", "z"}, *v2[] = {"2", "1", "z"};
	const char *fa[] = {"a", "k", "k"}, *va[] = {"z", "1", "2"};
	char x[33], y[33];

	id_of(&r, f, v1, 3, 0, NULL, x);
	id_of(&r, f, v2, 3, 0, NULL, y);
	ck_assert_str_eq(x, y);
	id_of(&r, fa, va, 3, 0, NULL, y);
	ck_assert_str_eq(x, y);
}
END_TEST

/* A single-event detection (one event, no groups, zero-length window) is its own
 * finding: two events at the same millisecond must not share an id. */
START_TEST(single_event_ids)
{
	static const struct aw_alert_rule r = {.id = "kv-secret-purge", .level = "high"};
	static const char ev1[] = "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretPurge\","
				  "\"_ItemId\":\"kv-item-1\"}";
	static const char ev2[] = "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretPurge\","
				  "\"_ItemId\":\"kv-item-2\"}";
	static const char ev3[] = "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretPurge\"}";
	static const char ev4[] = "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretDelete\"}";
	const char *ids[] = {"kv-item-1"};
	struct aw_event_view *v1 = view_of(ev1), *v2 = view_of(ev2), *v3 = view_of(ev3),
			     *v4 = view_of(ev4);
	struct aw_alert_input in = {.rule = &r, .window_start_ms = 5000, .window_end_ms = 5000,
				    .event_count = 1, .source_table = "AZKVAuditLogs",
				    .single_event = true};
	struct aw_record a, b, c, d, e;
	char want[33];

	/* the evidence item id, as the engine passes it */
	in.event = v1;
	in.item_ids = ids;
	in.nitem_ids = 1;
	build_ok(&in, 0, &a);
	aw_alert_id(&in, "kv-item-1", want);
	ck_assert_str_eq(a.id, want);
	/* no evidence ids: the event's own _ItemId column */
	in.nitem_ids = 0;
	build_ok(&in, 0, &b);
	ck_assert_str_eq(b.id, want);
	in.event = v2;
	build_ok(&in, 0, &c);
	ck_assert_str_ne(c.id, want);
	/* no _ItemId at all (file input): the event text decides */
	in.event = v3;
	build_ok(&in, 0, &d);
	in.event = v4;
	build_ok(&in, 0, &e);
	ck_assert_str_ne(d.id, e.id);
	ck_assert_str_ne(d.id, a.id);
	aw_alert_record_free(&a);
	aw_alert_record_free(&b);
	aw_alert_record_free(&c);
	aw_alert_record_free(&d);
	aw_alert_record_free(&e);
	aw_event_view_free(v1);
	aw_event_view_free(v2);
	aw_event_view_free(v3);
	aw_event_view_free(v4);
}
END_TEST

/* --- tags ------------------------------------------------------------------------- */

static char *tag_arrays(const char *const *tags, size_t n)
{
	struct aw_alert_rule r = {.id = "r", .tags = tags, .ntags = n};
	struct aw_alert_input in = {.rule = &r};
	struct aw_record rec;
	struct json_object *o;
	char *s;
	size_t sz = 2048;

	build_ok(&in, 0, &rec);
	o = parse(rec.data);
	s = malloc(sz);
	snprintf(s, sz, "%s %s",
		 json_object_to_json_string_ext(get(o, "Tactics"), JSON_C_TO_STRING_PLAIN),
		 json_object_to_json_string_ext(get(o, "Techniques"), JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	aw_alert_record_free(&rec);
	return s;
}

START_TEST(tags_mapping)
{
	static const struct {
		const char *tags[6];
		const char *want;
	} cases[] = {
		{{"attack.t1078"}, "[] [\"T1078\"]"},
		{{"attack.t1078.004", "attack.T1078.004"}, "[] [\"T1078.004\"]"},
		{{"attack.credential-access", "attack.credential_access"},
		 "[\"CredentialAccess\"] []"},
		{{"attack.command-and-control", "attack.resource-development",
		  "attack.reconnaissance", "attack.lateral-movement"},
		 "[\"CommandAndControl\",\"ResourceDevelopment\",\"Reconnaissance\","
		 "\"LateralMovement\"] []"},
		{{"atlas.aml.t0051", "atlas.aml.t0051.000", "ATLAS.AML.T0024.002"},
		 "[] [\"AML.T0051\",\"AML.T0051.000\",\"AML.T0024.002\"]"},
		{{"atlas.ml-attack-staging", "atlas.ai-attack-staging", "atlas.ai-model-access",
		  "atlas.exfiltration", "attack.exfiltration", "atlas.impact"},
		 "[\"MLAttackStaging\",\"MLModelAccess\",\"Exfiltration\",\"Impact\"] []"},
		/* ignored: groups, software, ATLAS-only tactics under attack., bad numbers */
		{{"attack.g0016", "attack.s0002", "attack.ml-model-access", "attack.t10",
		  "attack.t1078.0041", "atlas.aml.t51"},
		 "[] []"},
		{{"cve.2021-44228", "car.2016-04-005", "tlp.white", "attack.", "atlas.", "attack"},
		 "[] []"},
		{{"attack.privilege-escalation", "attack.t1548", "atlas.privilege-escalation",
		  "attack.defense-evasion", "attack.t1548"},
		 "[\"PrivilegeEscalation\",\"DefenseEvasion\"] [\"T1548\"]"},
	};

	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t n = 0;
		while (n < 6 && cases[i].tags[n])
			n++;
		char *got = tag_arrays(cases[i].tags, n);
		ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu: got %s want %s", i, got,
			      cases[i].want);
		free(got);
	}
}
END_TEST

/* --- entities per table -------------------------------------------------------------- */

START_TEST(entities_openai_entra)
{
	char *key;
	char *s = entities_of("AzureDiagnostics",
		"{\"Type\":\"AzureDiagnostics\",\"Category\":\"RequestResponse\","
		"\"CallerIPAddress\":\"198.51.100.***\",\"ResourceId\":\"/SUBSCRIPTIONS/S1/"
		"RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/A1\","
		"\"properties_s\":\"{\\\"objectId\\\":\\\"5d3c4e1a-0000-4000-8000-00000000a11c\\\","
		"\\\"modelDeploymentName\\\":\\\"chat\\\"}\"}", &key);

	ck_assert_str_eq(s,
		"identity=5d3c4e1a-0000-4000-8000-00000000a11c@properties_s.objectId;"
		"ip=198.51.100.***@CallerIPAddress;"
		"resource=/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICRO"
		"SOFT.COGNITIVESERVICES/"
		"ACCOUNTS/A1@ResourceId;"
		"deployment=chat@properties_s.modelDeploymentName");
	ck_assert_str_eq(key, "5d3c4e1a-0000-4000-8000-00000000a11c");
	free(s);
	free(key);
}
END_TEST

START_TEST(entities_keyvault_diagnostics)
{
	char *key;
	char *s = entities_of("AzureDiagnostics",
		"{\"Type\":\"AzureDiagnostics\",\"ResourceProvider\":\"MICROSOFT.KEYVAULT\","
		"\"OperationName\":\"SecretGet\",\"CallerIPAddress\":\"192.0.2.10\","
		"\"identity_claim_oid_g\":\"0b7e1c52-0000-4000-8000-000000000b0b\","
		"\"identity_claim_upn_s\":\"bob@contoso.example\","
		"\"identity_claim_appid_g\":\"04b07795-8ddb-461a-bbee-02f9e1bf7b46\","
		"\"identity_claim_ipaddr_s\":\"192.0.2.10\","
		"\"id_s\":\"https://kv-ai.vault.azure.net/secrets/openai-key/0123abcd\","
		"\"requestUri_s\":\"https://kv-ai.vault.azure.net/secrets/ope"
		"nai-key/?api-version=7.4\","
		"\"clientInfo_s\":\"azsdk-python-keyvault-secrets/4.7.0 Python/3.11.2\","
		"\"ResourceId\":\"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/"
		"VAULTS/KV-AI\"}", &key);

	ck_assert_str_eq(s,
		"identity=0b7e1c52-0000-4000-8000-000000000b0b@identity_claim_oid_g;"
		"account=bob@contoso.example@identity_claim_upn_s;"
		"identity=04b07795-8ddb-461a-bbee-02f9e1bf7b46@identity_claim_appid_g;"
		"ip=192.0.2.10@CallerIPAddress;"
		"resource=/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/"
		"KV-AI@ResourceId;"
		"secret=https://kv-ai.vault.azure.net/secrets/openai-key/0123abcd@id_s;"
		"secret=https://kv-ai.vault.azure.net/secrets/openai-key/?api-version=7.4"
		"@requestUri_s;"
		"user_agent=azsdk-python-keyvault-secrets/4.7.0 Python/3.11.2@clientInfo_s");
	ck_assert_str_eq(key, "0b7e1c52-0000-4000-8000-000000000b0b");
	free(s);
	free(key);
}
END_TEST

START_TEST(entities_keyvault_long_claim_columns)
{
	char *s = entities_of("AzureDiagnostics",
		"{\"identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g\":"
		"\"11111111-0000-4000-8000-000000000001\","
		"\"identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s\":"
		"\"carol@contoso.example\"}", NULL);

	ck_assert_str_eq(s,
		"identity=11111111-0000-4000-8000-000000000001@identity_claim"
		"_http_schemas_microsoft_"
		"com_identity_claims_objectidentifier_g;"
		"account=carol@contoso.example@identity_claim_http_schemas_xmlsoap_org_ws_2005_05_"
		"identity_claims_upn_s");
	free(s);
}
END_TEST

START_TEST(entities_activity)
{
	char *key;
	/* ResourceId is empty in real exports; Claims is JSON text whose keys hold dots */
	char *s = entities_of("AzureActivity",
		"{\"Type\":\"AzureActivity\","
		"\"OperationNameValue\":\"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION\","
		"\"Caller\":\"mallory@contoso.example\",\"CallerIpAddress\":\"198.51.100.23\","
		"\"ResourceId\":\"\",\"_ResourceId\":\"/subscriptions/s1/reso"
		"urcegroups/rg/providers/"
		"microsoft.cognitiveservices/accounts/a1\","
		"\"Claims\":\"{\\\"appid\\\":\\\"04b07795-8ddb-461a-bbee-02f9e1bf7b46\\\","
		"\\\"http://schemas.microsoft.com/identity/claims/objectidentifier\\\":"
		"\\\"22222222-0000-4000-8000-000000000002\\\",\\\"ipaddr\\\":"
		"\\\"198.51.100.23\\\"}\","
		"\"Authorization\":\"{\\\"evidence\\\":{\\\"principalId\\\":"
		"\\\"22222222000040008000000000000002\\\",\\\"role\\\":\\\"Contributor\\\"}}\"}",
		&key);

	ck_assert_str_eq(s,
		"account=mallory@contoso.example@Caller;"
		"identity=22222222-0000-4000-8000-000000000002@Claims.http://schemas.microsoft.com/"
		"identity/claims/objectidentifier;"
		"identity=04b07795-8ddb-461a-bbee-02f9e1bf7b46@Claims.appid;"
		"identity=22222222000040008000000000000002@Authorization.evidence.principalId;"
		"ip=198.51.100.23@CallerIpAddress;"
		"resource=/subscriptions/s1/resourcegroups/rg/providers/micro"
		"soft.cognitiveservices/"
		"accounts/a1@_ResourceId");
	ck_assert_str_eq(key, "mallory@contoso.example");
	free(s);
	free(key);
}
END_TEST

START_TEST(entities_azkv)
{
	char *s = entities_of("AZKVAuditLogs",
		"{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
		"\"CallerIpAddress\":\"192.0.2.77\","
		"\"Identity\":{\"claim\":{\"oid\":\"33333333-0000-4000-8000-000000000003\","
		"\"upn\":\"dave@contoso.example\",\"appid\":\"\"}},"
		"\"Id\":\"https://kv2.vault.azure.net/secrets/db-conn/99\","
		"\"RequestUri\":\"https://kv2.vault.azure.net/secrets/db-conn?api-version=7.4\","
		"\"ClientInfo\":\"curl/8.4.0\",\"_ResourceId\":\"/subscriptio"
		"ns/s1/resourcegroups/rg/"
		"providers/microsoft.keyvault/vaults/kv2\"}", NULL);

	ck_assert_str_eq(s,
		"identity=33333333-0000-4000-8000-000000000003@Identity.claim.oid;"
		"account=dave@contoso.example@Identity.claim.upn;"
		"ip=192.0.2.77@CallerIpAddress;"
		"resource=/subscriptions/s1/resourcegroups/rg/providers/microsoft.keyvault/vaults/"
		"kv2@_ResourceId;"
		"secret=https://kv2.vault.azure.net/secrets/db-conn/99@Id;"
		"secret=https://kv2.vault.azure.net/secrets/db-conn?api-version=7.4@RequestUri;"
		"user_agent=curl/8.4.0@ClientInfo");
	free(s);
}
END_TEST

START_TEST(entities_aml_endpoint)
{
	char *key;
	char *s = entities_of("AmlOnlineEndpointTrafficLog",
		"{\"Type\":\"AmlOnlineEndpointTrafficLog\",\"EndpointName\":\"fraud-ep\","
		"\"DeploymentName\":\"blue\",\"AuthType\":\"Key\",\"IdentityData\":\"\","
		"\"ResponseCode\":401,\"UserAgent\":\"python-requests/2.31.0\","
		"\"_ResourceId\":\"/subscriptions/s1/resourcegroups/rg/providers/"
		"microsoft.machinelearningservices/workspaces/ws-prod/onlineendpoints/fraud-ep\"}",
		&key);

	ck_assert_str_eq(s,
		"resource=/subscriptions/s1/resourcegroups/rg/providers/"
		"microsoft.machinelearningservices/workspaces/ws-prod/onlineendpoints/fraud-ep"
		"@_ResourceId;"
		"deployment=blue@DeploymentName;"
		"user_agent=python-requests/2.31.0@UserAgent");
	/* no identity (key auth), no IP column: the resource is the key */
	ck_assert_str_eq(key, "/subscriptions/s1/resourcegroups/rg/providers/"
			      "microsoft.machinelearningservices/workspaces/ws-prod/"
			      "onlineendpoints/fraud-ep");
	free(s);
	free(key);
}
END_TEST

START_TEST(entities_security_alert)
{
	char *key;
	/* Entities as Log Analytics stores it: JSON text; a $ref, a host and an empty
	 * address are skipped, a repeated IP is one entity. */
	char *s = entities_of("SecurityAlert",
		"{\"Type\":\"SecurityAlert\",\"AlertType\":\"AI.Azure_Jailbreak.ContentFiltering."
		"BlockedAttempt\",\"CompromisedEntity\":\"prod-aoai\","
		"\"ResourceId\":\"/subscriptions/s1/resourceGroups/rg/providers/"
		"Microsoft.CognitiveServices/accounts/prod-aoai\","
		"\"Entities\":\"[{\\\"$id\\\":\\\"2\\\",\\\"Address\\\":\\\"203.0.113.9\\\","
		"\\\"Type\\\":\\\"ip\\\"},{\\\"$id\\\":\\\"3\\\",\\\"Name\\\":\\\"erin\\\","
		"\\\"UPNSuffix\\\":\\\"contoso.example\\\",\\\"AadUserId\\\":"
		"\\\"44444444-0000-4000-8000-000000000004\\\",\\\"Type\\\":\\\"account\\\"},"
		"{\\\"$id\\\":\\\"4\\\",\\\"ResourceId\\\":\\\"/subscriptions/s1/resourceGroups/rg/"
		"providers/Microsoft.CognitiveServices/accounts/prod-aoai\\\","
		"\\\"Type\\\":\\\"azure-resource\\\"},{\\\"$ref\\\":\\\"2\\\"},"
		"{\\\"HostName\\\":\\\"vm1\\\",\\\"Type\\\":\\\"host\\\"},"
		"{\\\"Address\\\":\\\"\\\",\\\"Type\\\":\\\"ip\\\"},"
		"{\\\"Address\\\":\\\"203.0.113.9\\\",\\\"Type\\\":\\\"ip\\\"}]\"}", &key);

	ck_assert_str_eq(s,
		"ip=203.0.113.9@Entities;"
		"account=erin@Entities;"
		"identity=44444444-0000-4000-8000-000000000004@Entities;"
		"resource=/subscriptions/s1/resourceGroups/rg/providers/Micro"
		"soft.CognitiveServices/"
		"accounts/prod-aoai@Entities;"
		"resource=prod-aoai@CompromisedEntity");
	ck_assert_str_eq(key, "erin");
	free(s);
	free(key);
}
END_TEST

START_TEST(entities_security_alert_arm_form)
{
	/* Defender read over ARM: Entities is a real array */
	char *s = entities_of("SecurityAlert",
		"{\"Type\":\"SecurityAlert\",\"Entities\":[{\"type\":\"ip\","
		"\"address\":\"198.51.100.98\"},{\"Type\":\"ip\",\"Address\":\"198.51.100.99\"}],"
		"\"CompromisedEntity\":\"\"}", NULL);

	ck_assert_str_eq(s, "ip=198.51.100.98@Entities;ip=198.51.100.99@Entities");
	free(s);
}
END_TEST

START_TEST(entities_recommendation_and_posture)
{
	char *s = entities_of("SecurityRecommendation",
		"{\"Type\":\"SecurityRecommendation\",\"RecommendationDisplay"
		"Name\":\"Disable local "
		"auth\",\"AssessedResourceId\":\"/subscriptions/s1/resourcegroups/rg/providers/"
		"microsoft.cognitiveservices/accounts/a1\"}", NULL);

	ck_assert_str_eq(s, "resource=/subscriptions/s1/resourcegroups/rg/providers/"
			    "microsoft.cognitiveservices/accounts/a1@AssessedResourceId");
	free(s);
	s = entities_of("AIWatchPosture",
		"{\"Type\":\"AIWatchPosture\",\"Check\":\"disableLocalAuth\",\"ResourceId\":"
		"\"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv\"}",
		NULL);
	ck_assert_str_eq(s, "resource=/subscriptions/s1/resourceGroups/rg/providers/"
			    "Microsoft.KeyVault/vaults/kv@ResourceId");
	free(s);
}
END_TEST

START_TEST(entities_other_table_and_secrets_stay_out)
{
	/* a table without its own rows gets the generic ones; columns the table does not
	 * name (a key, a token) never become entities */
	char *s = entities_of("AmlComputeInstanceEvent",
		"{\"Type\":\"AmlComputeInstanceEvent\",\"CallerIPAddress\":\"192.0.2.1\","
		"\"_ResourceId\":\"/subscriptions/s1/x\",\"key1\":\"c2VjcmV0LWtleQ==\","
		"\"AccessToken\":\"eyJhbGciOi.secret\"}", NULL);

	ck_assert_str_eq(s, "ip=192.0.2.1@CallerIpAddress;"
			    "resource=/subscriptions/s1/x@_ResourceId");
	free(s);
}
END_TEST

START_TEST(entities_dedup_and_resource_id)
{
	struct fixture f;
	struct aw_record rec;
	struct json_object *o;
	char *s;

	/* ResourceId (upper case) and _ResourceId (lower case) are one resource; the alert's
	 * ResourceId is the ResourceId column */
	golden_input(&f);
	build_ok(&f.in, 0, &rec);
	s = entities_str(rec.data);
	ck_assert_ptr_null(strstr(s, "@_ResourceId"));
	o = parse(rec.data);
	ck_assert_str_eq(json_object_get_string(get(o, "ResourceId")), RES_UPPER);
	json_object_put(o);
	free(s);
	aw_alert_record_free(&rec);
	aw_event_view_free(f.view);
}
END_TEST

START_TEST(entities_bounded)
{
	char *json = malloc(16384), *s;
	size_t n = 0, count = 1;

	n += (size_t)snprintf(json + n, 16384 - n, "{\"Type\":\"SecurityAlert\",\"Entities\":[");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(json + n, 16384 - n,
				      "%s{\"Type\":\"ip\",\"Address\":\"10.0.0.%d\"}", i ? "," : "",
				      i);
	snprintf(json + n, 16384 - n, "],\"ResourceId\":\"/subscriptions/s1/r\"}");
	s = entities_of("SecurityAlert", json, NULL);
	for (const char *p = s; (p = strchr(p, ';')); p++)
		count++;
	ck_assert_uint_eq(count, 32);
	ck_assert_ptr_nonnull(strstr(s, "ip=10.0.0.31@Entities"));
	ck_assert_ptr_null(strstr(s, "10.0.0.32"));
	free(s);
	free(json);
}
END_TEST

START_TEST(entities_long_value_cut)
{
	char *json = malloc(4096), *s;
	char ua[2001];

	memset(ua, 'A', 2000);
	ua[2000] = '\0';
	snprintf(json, 4096, "{\"UserAgent\":\"%s\"}", ua);
	s = entities_of("AmlOnlineEndpointTrafficLog", json, NULL);
	/* "user_agent=" + 1024 bytes + "…" + "@UserAgent" */
	ck_assert_uint_eq(strlen(s), 11 + 1024 + 3 + 10);
	ck_assert_ptr_nonnull(strstr(s, "AAA\xe2\x80\xa6@UserAgent"));
	free(s);
	free(json);
}
END_TEST

/* --- the size bound ------------------------------------------------------------------ */

START_TEST(evidence_fits_untouched)
{
	struct fixture f;
	struct aw_record rec;

	golden_input(&f);
	build_ok(&f.in, 0, &rec);
	size_t full = rec.len;
	aw_alert_record_free(&rec);
	build_ok(&f.in, full, &rec);
	ck_assert_uint_eq(rec.len, full);
	ck_assert_ptr_null(strstr(rec.data, "EvidenceTruncated"));
	aw_alert_record_free(&rec);
	aw_event_view_free(f.view);
}
END_TEST

static size_t array_len(const char *alert, const char *key)
{
	struct json_object *o = parse(alert);
	size_t n = json_object_array_length(get(get(o, "Evidence"), key));

	json_object_put(o);
	return n;
}

START_TEST(evidence_trimmed)
{
	static const char flag[] = ",\"EvidenceTruncated\":true";
	struct fixture f;
	struct aw_record rec;
	const char *samples[3];
	const char *ids[] = {"item-0001", "item-0002", "item-0003", "item-0004"};
	size_t full, no_samples, bare;
	struct aw_error err = {{0}};

	golden_input(&f);
	samples[0] = samples[1] = samples[2] = aoai_event;
	f.in.samples = samples;
	f.in.nsamples = 3;
	f.in.item_ids = ids;
	f.in.nitem_ids = 4;
	build_ok(&f.in, 0, &rec);
	full = rec.len;
	aw_alert_record_free(&rec);

	/* one byte too many: the last sample goes */
	build_ok(&f.in, full - 1, &rec);
	ck_assert_uint_le(rec.len, full - 1);
	ck_assert_uint_eq(array_len(rec.data, "Samples"), 2);
	ck_assert_uint_eq(array_len(rec.data, "ItemIds"), 4);
	ck_assert_ptr_nonnull(strstr(rec.data, flag));
	ck_assert_uint_eq(rec.len, full - strlen(aoai_event) - 1 + strlen(flag));
	aw_alert_record_free(&rec);

	/* the exact size without samples: all samples go, ids stay */
	no_samples = full - 3 * strlen(aoai_event) - 2 + strlen(flag);
	build_ok(&f.in, no_samples, &rec);
	ck_assert_uint_eq(rec.len, no_samples);
	ck_assert_uint_eq(array_len(rec.data, "Samples"), 0);
	ck_assert_uint_eq(array_len(rec.data, "ItemIds"), 4);
	aw_alert_record_free(&rec);

	/* then item ids, from the end */
	build_ok(&f.in, no_samples - 1, &rec);
	ck_assert_uint_eq(array_len(rec.data, "ItemIds"), 3);
	ck_assert_ptr_nonnull(strstr(rec.data, "\"ItemIds\":[\"item-0001\",\"item-0002\","
					       "\"item-0003\"]"));
	aw_alert_record_free(&rec);

	/* then the description, cut with an ellipsis */
	bare = no_samples - 4 * strlen("\"item-0001\"") - 3;
	build_ok(&f.in, bare - 10, &rec);
	ck_assert_uint_le(rec.len, bare - 10);
	ck_assert_uint_ge(rec.len, bare - 10 - 3);
	ck_assert_uint_eq(array_len(rec.data, "ItemIds"), 0);
	ck_assert_ptr_nonnull(strstr(rec.data, "\"Description\":\"Key-authenticated calls to "
					       "\\\"prod-aoai\\\" from a network not"));
	ck_assert_ptr_nonnull(strstr(rec.data, "\xe2\x80\xa6\",\"Tactics\""));
	ck_assert_ptr_nonnull(strstr(rec.data, flag));
	/* every other field is intact */
	ck_assert_ptr_nonnull(strstr(rec.data, "\"AlertId\":\"40faad76abe6c6c1f0c16d4430b66573\""));
	ck_assert_ptr_nonnull(strstr(rec.data, "\"Host\":\"sensor-1\""));
	aw_alert_record_free(&rec);

	/* nothing left to drop: a clear error, no record */
	ck_assert_int_lt(aw_alert_build(&f.in, 300, &rec, &err), 0);
	ck_assert_ptr_null(rec.data);
	ck_assert_msg(strstr(err.msg, "alert for rule aw-aoai-001 is ") &&
			      strstr(err.msg, "bytes without evidence, over the 300-byte limit"),
		      "%s", err.msg);
	aw_event_view_free(f.view);
}
END_TEST

START_TEST(description_cut_on_utf8_boundary)
{
	char desc[61];
	struct aw_alert_rule r = {.id = "r", .description = desc};
	struct aw_alert_input in = {.rule = &r};
	struct aw_record rec;

	for (int i = 0; i < 30; i++)
		memcpy(desc + 2 * i, "\xc3\xa9", 2); /* é */
	desc[60] = '\0';
	build_ok(&in, 0, &rec);
	size_t full = rec.len;
	aw_alert_record_free(&rec);
	/* each bound needs the flag and a shorter description: the cut falls between
	 * characters whatever the byte count */
	for (size_t cut = 1; cut < 8; cut++) {
		struct json_object *o;
		build_ok(&in, full - cut, &rec);
		ck_assert_uint_le(rec.len, full - cut);
		ck_assert_uint_ge(rec.len, full - cut - 2);
		ck_assert_ptr_nonnull(strstr(rec.data, ",\"EvidenceTruncated\":true"));
		o = parse(rec.data);
		const char *d = json_object_get_string(get(o, "Description"));
		size_t dl = strlen(d);
		ck_assert_uint_ge(dl, 3);
		ck_assert_str_eq(d + dl - 3, "\xe2\x80\xa6");
		ck_assert_uint_eq((dl - 3) % 2, 0);
		for (size_t k = 0; k + 3 < dl; k += 2)
			ck_assert_int_eq(memcmp(d + k, "\xc3\xa9", 2), 0);
		json_object_put(o);
		aw_alert_record_free(&rec);
	}
}
END_TEST

static Suite *alert_suite(void)
{
	Suite *s = suite_create("alert");
	TCase *json = tcase_create("json");
	TCase *id = tcase_create("id");
	TCase *tags = tcase_create("tags");
	TCase *ent = tcase_create("entities");
	TCase *size = tcase_create("size");

	tcase_add_test(json, golden_json);
	tcase_add_test(json, build_id_matches_aw_alert_id);
	tcase_add_test(json, no_event_no_group);
	tcase_add_test(json, times_before_epoch);
	tcase_add_test(json, rule_without_id_is_an_error);
	tcase_add_test(json, invalid_utf8_and_bad_samples);
	tcase_add_test(json, severity_mapping);
	suite_add_tcase(s, json);

	tcase_add_test(id, id_deterministic);
	tcase_add_test(id, id_encoding_unambiguous);
	tcase_add_test(id, id_ignores_host_time_and_count);
	tcase_add_test(id, id_duplicate_group_fields);
	tcase_add_test(id, single_event_ids);
	suite_add_tcase(s, id);

	tcase_add_test(tags, tags_mapping);
	suite_add_tcase(s, tags);

	tcase_add_test(ent, entities_openai_entra);
	tcase_add_test(ent, entities_keyvault_diagnostics);
	tcase_add_test(ent, entities_keyvault_long_claim_columns);
	tcase_add_test(ent, entities_activity);
	tcase_add_test(ent, entities_azkv);
	tcase_add_test(ent, entities_aml_endpoint);
	tcase_add_test(ent, entities_security_alert);
	tcase_add_test(ent, entities_security_alert_arm_form);
	tcase_add_test(ent, entities_recommendation_and_posture);
	tcase_add_test(ent, entities_other_table_and_secrets_stay_out);
	tcase_add_test(ent, entities_dedup_and_resource_id);
	tcase_add_test(ent, entities_bounded);
	tcase_add_test(ent, entities_long_value_cut);
	suite_add_tcase(s, ent);

	tcase_add_test(size, evidence_fits_untouched);
	tcase_add_test(size, evidence_trimmed);
	tcase_add_test(size, description_cut_on_utf8_boundary);
	suite_add_tcase(s, size);
	return s;
}

AW_TEST_MAIN(alert_suite)
