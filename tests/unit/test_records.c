/* Documents to events: Log Analytics records pass through byte for byte;
 * diagnostic-settings records come out under Log Analytics column names. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "testutil.h"

#define MAX_EVENTS 16

struct got {
	size_t n;
	char *json[MAX_EVENTS];
	char *table[MAX_EVENTS];
	char *origin[MAX_EVENTS];
	int stop_after;      /* 0: never ask to stop */
};

static int collect(void *ud, const struct aw_event *ev)
{
	struct got *g = ud;

	ck_assert_uint_lt(g->n, MAX_EVENTS);
	ck_assert_uint_eq(strlen(ev->json), ev->len);
	g->json[g->n] = strdup(ev->json);
	g->table[g->n] = strdup(ev->table);
	g->origin[g->n] = strdup(ev->origin);
	g->n++;
	return g->stop_after && (int)g->n >= g->stop_after;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->json[i]);
		free(g->table[i]);
		free(g->origin[i]);
	}
	memset(g, 0, sizeof *g);
}

static int parse(const char *doc, struct got *g, size_t *bad, struct aw_error *err)
{
	return aw_records_parse(doc, strlen(doc), "t.jsonl:7", collect, g, bad, err);
}

/* Parse event i of g into a json-c object (caller puts). */
static json_object *ev_obj(struct got *g, size_t i)
{
	json_object *o;
	ck_assert_uint_lt(i, g->n);
	o = json_tokener_parse(g->json[i]);
	ck_assert_msg(o != NULL, "event %zu is not JSON: %s", i, g->json[i]);
	return o;
}

static const char *field_str(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v))
		return NULL;
	ck_assert_msg(json_object_is_type(v, json_type_string), "%s is not a string", k);
	return json_object_get_string(v);
}

#define ASSERT_FIELD(o, k, want)                                                          \
	do {                                                                              \
		const char *got_ = field_str((o), (k));                                   \
		ck_assert_msg(got_ != NULL, "missing column %s", (k));                    \
		ck_assert_str_eq(got_, (want));                                           \
	} while (0)

static void assert_number(json_object *o, const char *k, long long want)
{
	json_object *v;
	ck_assert_msg(json_object_object_get_ex(o, k, &v), "missing column %s", k);
	ck_assert_msg(json_object_is_type(v, json_type_int), "%s is not an integer", k);
	ck_assert_int_eq(json_object_get_int64(v), want);
}

static void assert_absent(json_object *o, const char *k)
{
	ck_assert_msg(!json_object_object_get_ex(o, k, NULL), "unexpected column %s", k);
}

static void assert_guid(const char *s)
{
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			ck_assert_int_eq(s[i], '-');
		else
			ck_assert_ptr_nonnull(strchr("0123456789abcdef", s[i]));
	}
}

/* --- Log Analytics form ------------------------------------------------------- */

START_TEST(la_record_passes_through)
{
	const char *doc = "  {\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"2025-03-01T10:00:00Z\","
			  "\"DurationMs\":12,\"properties_s\":\"{\\\"objectId\\\":\\\"\\\"}\"}\r\n";
	struct got g = {0};
	struct aw_error err = {{0}};
	size_t bad = 0;

	ck_assert_int_eq(parse(doc, &g, &bad, &err), 1);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_str_eq(g.json[0], "{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":"
				    "\"2025-03-01T10:00:00Z\",\"DurationMs\":12,\"properties_s\":"
				    "\"{\\\"objectId\\\":\\\"\\\"}\"}");
	ck_assert_str_eq(g.table[0], "AzureDiagnostics");
	ck_assert_str_eq(g.origin[0], "t.jsonl:7");
	ck_assert_uint_eq(bad, 0);
	got_free(&g);
}
END_TEST

START_TEST(la_record_not_nul_terminated)
{
	/* The record is a slice of a larger buffer: the event must still end at '}'. */
	const char *line = "{\"Type\":\"SecurityAlert\",\"AlertSeverity\":\"High\"}{\"junk\":";
	size_t len = strlen("{\"Type\":\"SecurityAlert\",\"AlertSeverity\":\"High\"}");
	struct got g = {0};
	struct aw_error err = {{0}};

	ck_assert_int_eq(aw_records_parse(line, len, "x", collect, &g, NULL, &err), 1);
	ck_assert_str_eq(g.json[0], "{\"Type\":\"SecurityAlert\",\"AlertSeverity\":\"High\"}");
	ck_assert_str_eq(g.table[0], "SecurityAlert");
	got_free(&g);
}
END_TEST

static int same_bytes(void *ud, const struct aw_event *ev)
{
	const char **where = ud;

	*where = ev->json;
	return 0;
}

START_TEST(la_record_nul_ended_line_not_copied)
{
	/* A line split in place (replay): the record is handed on where it is, and the
	 * same line with a blank before it, or through the plain call, is copied. */
	char line[] = "{\"Type\":\"SecurityAlert\",\"AlertSeverity\":\"High\"}";
	char padded[] = " {\"Type\":\"SecurityAlert\"}";
	const char *where = NULL;
	struct aw_error err = {{0}};

	ck_assert_int_eq(aw_records_parse_z(line, strlen(line), "x", same_bytes, &where, NULL,
					    &err), 1);
	ck_assert_ptr_eq(where, line);
	ck_assert_int_eq(aw_records_parse(line, strlen(line), "x", same_bytes, &where, NULL,
					  &err), 1);
	ck_assert_ptr_ne(where, line);
	ck_assert_int_eq(aw_records_parse_z(padded, strlen(padded), "x", same_bytes, &where,
					    NULL, &err), 1);
	ck_assert_ptr_ne(where, padded + 1);

	/* a bad line is still reported the same way */
	char bad[] = "{\"Type\":\"SecurityAlert\",}";
	ck_assert_int_lt(aw_records_parse_z(bad, strlen(bad), "t.jsonl:3", same_bytes, &where,
					    NULL, &err), 0);
	ck_assert_msg(strstr(err.msg, "t.jsonl:3: not valid JSON") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(la_type_is_unescaped)
{
	struct got g = {0};
	struct aw_error err = {{0}};

	ck_assert_int_eq(parse("{\"Type\":\"Azure\\u0041ctivity\",\"Caller\":\"a\\/b\"}", &g,
			       NULL, &err),
			 1);
	ck_assert_str_eq(g.table[0], "AzureActivity");
	ck_assert_str_eq(g.json[0], "{\"Type\":\"Azure\\u0041ctivity\",\"Caller\":\"a\\/b\"}");
	got_free(&g);
}
END_TEST

START_TEST(la_large_record)
{
	/* Over the stack token budget and the stack copy: the slow path gives the same. */
	size_t cap = 200000, n = 0;
	char *doc = malloc(cap);
	struct got g = {0};
	struct aw_error err = {{0}};

	n += (size_t)snprintf(doc + n, cap - n, "{\"Type\":\"AzureDiagnostics\"");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(doc + n, cap - n, ",\"col%d_s\":\"value %d\"", i, i);
	n += (size_t)snprintf(doc + n, cap - n, "}");
	ck_assert_int_eq(aw_records_parse(doc, n, "big", collect, &g, NULL, &err), 1);
	ck_assert_uint_eq(strlen(g.json[0]), n);
	ck_assert_mem_eq(g.json[0], doc, n);
	got_free(&g);
	free(doc);
}
END_TEST

START_TEST(la_type_wins_over_records)
{
	struct got g = {0};
	struct aw_error err = {{0}};

	ck_assert_int_eq(parse("{\"records\":[],\"Type\":\"X\"}", &g, NULL, &err), 1);
	ck_assert_str_eq(g.table[0], "X");
	got_free(&g);
	/* of two Type columns the first counts, as for every column rules read (a Type
	 * that is not a string names nothing) */
	ck_assert_int_eq(
	    parse("{\"Type\":1,\"Type\":\"A\",\"Type\":\"B\"}", &g, NULL, &err), 1);
	ck_assert_str_eq(g.table[0], "A");
	got_free(&g);
}
END_TEST

/* --- errors ------------------------------------------------------------------- */

static void expect_error(const char *doc, const char *msg)
{
	struct got g = {0};
	struct aw_error err = {{0}};

	ck_assert_msg(parse(doc, &g, NULL, &err) == -1, "accepted: %s", doc);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_msg(strstr(err.msg, msg) != NULL, "for %s: got \"%s\", want \"%s\"", doc,
		      err.msg, msg);
	ck_assert_msg(strncmp(err.msg, "t.jsonl:7: ", 11) == 0, "no origin in \"%s\"", err.msg);
}

START_TEST(malformed_documents)
{
	expect_error("", "empty document");
	expect_error("   \n", "empty document");
	expect_error("not json", "not valid JSON");
	expect_error("{\"Type\":\"X\"", "not valid JSON (ends early");
	expect_error("[{\"Type\":\"X\"}]", "not a JSON object");
	expect_error("\"Type\"", "not a JSON object");
	expect_error("{\"foo\":1}", "record has neither Type nor records");
	expect_error("{\"Type\":1}", "record has neither Type nor records");
	expect_error("{\"records\":{}}", "record has neither Type nor records");
	expect_error("{\"Type\":\"\"}", "Type is empty");
	expect_error("{\"Type\":\"X\"} trailing", "not valid JSON (unexpected data at byte 13)");
	expect_error("{\"Type\":\"X\"} \"s\"", "trailing data");
	expect_error("{\"Type\":\"X\",\"a\":\"unterminated", "ends early");
	expect_error("{\"Type\":\"X\"}{\"Type\":\"Y\"}", "trailing data");
	/* What jsmn alone would let through. */
	expect_error("{\"Type\":\"X\",}", "not valid JSON");
	expect_error("{,\"Type\":\"X\"}", "not valid JSON");
	expect_error("{\"Type\":\"X\" \"b\":1}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\":[1,,2]}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\":tru}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\":01}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\":1.}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\":1:2}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\":\"x\ty\"}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\"}", "not valid JSON");
	expect_error("{\"Type\":\"X\",\"b\":\"\\q\"}", "not valid JSON");
	expect_error("{\"Type\":\"X\"]", "not valid JSON");
	/* A repeated key whose last value is not an array (json-c keeps the last). */
	expect_error("{\"records\":[],\"records\":{}}", "\"records\" is given more than once");
	expect_error("{\"records\":[{}],\"records\":1}", "\"records\" is given more than once");
}
END_TEST

START_TEST(nul_byte_inside)
{
	const char doc[] = "{\"Type\":\"X\"}\0{}";
	struct got g = {0};
	struct aw_error err = {{0}};

	ck_assert_int_eq(aw_records_parse(doc, sizeof doc - 1, "o", collect, &g, NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "not valid JSON"));
	ck_assert_uint_eq(g.n, 0);
}
END_TEST

START_TEST(depth_limit)
{
	char doc[1024];
	size_t n = 0;
	struct got g = {0};
	struct aw_error err = {{0}};

	/* 64 levels (the record itself is level 1): accepted. */
	n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"Type\":\"X\",\"a\":");
	for (int i = 0; i < 62; i++)
		doc[n++] = '[';
	doc[n++] = '{';
	doc[n++] = '}';
	for (int i = 0; i < 62; i++)
		doc[n++] = ']';
	doc[n++] = '}';
	ck_assert_int_eq(aw_records_parse(doc, n, "d", collect, &g, NULL, &err), 1);
	got_free(&g);

	/* 65 levels: refused. */
	n = 0;
	n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"Type\":\"X\",\"a\":");
	for (int i = 0; i < 63; i++)
		doc[n++] = '[';
	doc[n++] = '{';
	doc[n++] = '}';
	for (int i = 0; i < 63; i++)
		doc[n++] = ']';
	doc[n++] = '}';
	ck_assert_int_eq(aw_records_parse(doc, n, "d", collect, &g, NULL, &err), -1);
	ck_assert_str_eq(err.msg, "d: nested deeper than 64 levels");
	ck_assert_uint_eq(g.n, 0);
}
END_TEST

START_TEST(size_limit)
{
	size_t n = 16u * 1024u * 1024u + 1;
	char *doc = malloc(n);
	struct got g = {0};
	struct aw_error err = {{0}};

	memset(doc, ' ', n);
	doc[0] = '{';
	doc[n - 1] = '}';
	ck_assert_int_eq(aw_records_parse(doc, n, "huge", collect, &g, NULL, &err), -1);
	ck_assert_str_eq(err.msg, "huge: document too large (16777217 bytes, limit 16 MiB)");
	free(doc);
}
END_TEST

/* --- diagnostic-settings form ------------------------------------------------- */

#define RID_OPENAI                                                                         \
	"/SUBSCRIPTIONS/0A1B2C3D-0000-4000-8000-00000000AB01/RESOURCEGROUPS/RG-AI-PROD/"    \
	"PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/CONTOSO-OAI-EAST"

static const char *request_response =
	"{\"time\":\"2025-03-01T10:00:01.1230000Z\",\"resourceId\":\"" RID_OPENAI "\","
	"\"category\":\"RequestResponse\",\"operationName\":\"ChatCompletions_Create\","
	"\"resultSignature\":\"200\",\"durationMs\":640,\"callerIpAddress\":\"203.0.113.***\","
	"\"correlationId\":\"11111111-2222-4333-8444-555555555555\",\"event\":\"ShoeboxCallResult\","
	"\"location\":\"eastus\",\"Tenant\":\"eastus\",\"properties\":{\"apiName\":\"Azure OpenAI API "
	"version 2024-06-01\",\"objectId\":\"\",\"modelDeploymentName\":\"gpt4o-prod\","
	"\"requestLength\":310}}";

START_TEST(diag_request_response)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	char doc[4096];
	size_t bad = 0;

	snprintf(doc, sizeof doc, "{\"records\":[%s]}", request_response);
	ck_assert_int_eq(parse(doc, &g, &bad, &err), 1);
	ck_assert_uint_eq(bad, 0);
	ck_assert_str_eq(g.table[0], "AzureDiagnostics");
	ck_assert_str_eq(g.origin[0], "t.jsonl:7[0]");
	json_object *o = ev_obj(&g, 0);
	ASSERT_FIELD(o, "Type", "AzureDiagnostics");
	ASSERT_FIELD(o, "TimeGenerated", "2025-03-01T10:00:01.1230000Z");
	ASSERT_FIELD(o, "ResourceId", RID_OPENAI);
	ASSERT_FIELD(o, "_ResourceId",
		     "/subscriptions/0a1b2c3d-0000-4000-8000-00000000ab01/resourcegroups/"
		     "rg-ai-prod/providers/microsoft.cognitiveservices/accounts/contoso-oai-east");
	ASSERT_FIELD(o, "SubscriptionId", "0a1b2c3d-0000-4000-8000-00000000ab01");
	ASSERT_FIELD(o, "ResourceGroup", "RG-AI-PROD");
	ASSERT_FIELD(o, "ResourceProvider", "MICROSOFT.COGNITIVESERVICES");
	ASSERT_FIELD(o, "ResourceType", "ACCOUNTS");
	ASSERT_FIELD(o, "Resource", "CONTOSO-OAI-EAST");
	ASSERT_FIELD(o, "Category", "RequestResponse");
	ASSERT_FIELD(o, "OperationName", "ChatCompletions_Create");
	ASSERT_FIELD(o, "ResultSignature", "200");
	assert_number(o, "DurationMs", 640);
	ASSERT_FIELD(o, "CallerIPAddress", "203.0.113.***");
	ASSERT_FIELD(o, "CorrelationId", "11111111-2222-4333-8444-555555555555");
	ASSERT_FIELD(o, "location_s", "eastus");
	ASSERT_FIELD(o, "event_s", "ShoeboxCallResult");
	ASSERT_FIELD(o, "Tenant_s", "eastus");
	ASSERT_FIELD(o, "SourceSystem", "Azure");
	ASSERT_FIELD(o, "properties_s",
		     "{\"apiName\":\"Azure OpenAI API version 2024-06-01\",\"objectId\":\"\","
		     "\"modelDeploymentName\":\"gpt4o-prod\",\"requestLength\":310}");
	assert_absent(o, "time");
	assert_absent(o, "properties");
	assert_guid(field_str(o, "_ItemId"));
	json_object_put(o);
	got_free(&g);
}
END_TEST

START_TEST(diag_properties_string_kept)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	const char *doc =
		"{\"time\":\"2025-03-01T10:00:02Z\",\"resourceId\":\"" RID_OPENAI "\","
		"\"category\":\"RequestResponse\",\"operationName\":\"Embeddings_Create\","
		"\"durationMs\":\"-12\",\"properties\":\"{\\\"apiName\\\":\\\"v1\\\",  "
		"\\\"objectId\\\":\\\"\\\"}\"}";

	/* A bare record (storage export form): one event. */
	ck_assert_int_eq(parse(doc, &g, NULL, &err), 1);
	json_object *o = ev_obj(&g, 0);
	ASSERT_FIELD(o, "properties_s", "{\"apiName\":\"v1\",  \"objectId\":\"\"}");
	assert_number(o, "DurationMs", -12);
	ck_assert_str_eq(g.origin[0], "t.jsonl:7");
	json_object_put(o);
	got_free(&g);
}
END_TEST

START_TEST(diag_item_id_is_deterministic)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	char doc[4096];

	snprintf(doc, sizeof doc, "{\"records\":[%s,%s]}", request_response, request_response);
	ck_assert_int_eq(parse(doc, &g, NULL, &err), 2);
	ck_assert_int_eq(parse(request_response, &g, NULL, &err), 1);
	json_object *a = ev_obj(&g, 0), *b = ev_obj(&g, 1), *c = ev_obj(&g, 2);
	ck_assert_str_eq(field_str(a, "_ItemId"), field_str(b, "_ItemId"));
	ck_assert_str_eq(field_str(a, "_ItemId"), field_str(c, "_ItemId"));
	json_object_put(a);
	json_object_put(b);
	json_object_put(c);

	/* One changed byte: another id. */
	char *other = strdup(request_response);
	*strstr(other, "640") = '7';
	ck_assert_int_eq(parse(other, &g, NULL, &err), 1);
	a = ev_obj(&g, 0);
	b = ev_obj(&g, 3);
	ck_assert_str_ne(field_str(a, "_ItemId"), field_str(b, "_ItemId"));
	json_object_put(a);
	json_object_put(b);
	free(other);
	got_free(&g);
}
END_TEST

START_TEST(diag_keyvault_audit)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	const char *doc =
		"{\"records\":[{\"time\":\"2025-03-01T11:00:00Z\",\"category\":\"AuditEvent\","
		"\"operationName\":\"SecretGet\",\"resultType\":\"Success\",\"resultSignature\":\"OK\","
		"\"durationMs\":\"9\",\"operationVersion\":\"7.4\",\"callerIpAddress\":\"198.51.100.23\","
		"\"identity\":{\"claim\":{\"oid\":\"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\","
		"\"upn\":\"mallory@contoso.example\",\"http://schemas.microsoft.com/identity/claims/"
		"scope\":\"user_impersonation\"}},\"properties\":{\"id\":\"https://kv-ai.vault.azure.net/"
		"secrets/openai-key/0123\",\"clientInfo\":\"python-requests/2.31\","
		"\"httpStatusCode\":200,\"requestUri\":\"https://kv-ai.vault.azure.net/secrets/"
		"openai-key?api-version=7.4\",\"isAccessPolicyMatch\":\"true\",\"tlsVersion\":\"TLS1_3\"},"
		"\"resourceId\":\"/SUBSCRIPTIONS/0A1B2C3D-0000-4000-8000-00000000AB01/RESOURCEGROUPS/"
		"rg-sec/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/kv-ai\"}]}";

	ck_assert_int_eq(parse(doc, &g, NULL, &err), 1);
	json_object *o = ev_obj(&g, 0);
	ASSERT_FIELD(o, "Type", "AzureDiagnostics");
	ASSERT_FIELD(o, "Category", "AuditEvent");
	ASSERT_FIELD(o, "ResourceProvider", "MICROSOFT.KEYVAULT");
	ASSERT_FIELD(o, "ResourceType", "VAULTS");
	ASSERT_FIELD(o, "Resource", "KV-AI");
	ASSERT_FIELD(o, "ResourceGroup", "RG-SEC");
	ASSERT_FIELD(o, "OperationVersion", "7.4");
	assert_number(o, "DurationMs", 9);
	ASSERT_FIELD(o, "id_s", "https://kv-ai.vault.azure.net/secrets/openai-key/0123");
	ASSERT_FIELD(o, "requestUri_s",
		     "https://kv-ai.vault.azure.net/secrets/openai-key?api-version=7.4");
	ASSERT_FIELD(o, "clientInfo_s", "python-requests/2.31");
	ASSERT_FIELD(o, "tlsVersion_s", "TLS1_3");
	assert_number(o, "httpStatusCode_d", 200);
	json_object *b;
	ck_assert(json_object_object_get_ex(o, "isAccessPolicyMatch_b", &b));
	ck_assert(json_object_is_type(b, json_type_boolean));
	ck_assert(json_object_get_boolean(b));
	ASSERT_FIELD(o, "identity_claim_oid_g", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
	ASSERT_FIELD(o, "identity_claim_upn_s", "mallory@contoso.example");
	ASSERT_FIELD(o, "identity_claim_http___schemas_microsoft_com_identity_claims_scope_s",
		     "user_impersonation");
	ck_assert_ptr_nonnull(strstr(field_str(o, "identity_s"), "\"upn\":\"mallory@"));
	ck_assert_ptr_nonnull(strstr(g.json[0], "https://kv-ai.vault.azure.net/secrets/"));
	json_object_put(o);
	got_free(&g);
}
END_TEST

START_TEST(diag_activity_event_hubs)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	const char *doc =
		"{\"records\":[{\"time\":\"2025-03-01T09:58:00Z\",\"resourceId\":\"/subscriptions/"
		"0a1b2c3d-0000-4000-8000-00000000ab01/resourceGroups/rg-ai-prod/providers/"
		"Microsoft.CognitiveServices/accounts/contoso-oai-east\",\"operationName\":"
		"\"Microsoft.CognitiveServices/accounts/listKeys/action\",\"category\":\"Action\","
		"\"resultType\":\"Success\",\"resultSignature\":\"Succeeded.OK\","
		"\"callerIpAddress\":\"192.0.2.77\",\"correlationId\":\"c0ffee00-0000-4000-8000-"
		"000000000001\",\"level\":\"Information\",\"identity\":{\"authorization\":{\"action\":"
		"\"Microsoft.CognitiveServices/accounts/listKeys/action\",\"evidence\":{\"role\":"
		"\"Cognitive Services User\",\"principalType\":\"ServicePrincipal\"}},\"claims\":{"
		"\"appid\":\"99999999-8888-4777-8666-555555555555\",\"http://schemas.microsoft.com/"
		"identity/claims/objectidentifier\":\"12121212-3434-4565-8787-909090909090\"}},"
		"\"properties\":{\"statusCode\":\"OK\",\"hierarchy\":\"tenant/mg/sub\"}}]}";

	ck_assert_int_eq(parse(doc, &g, NULL, &err), 1);
	ck_assert_str_eq(g.table[0], "AzureActivity");
	json_object *o = ev_obj(&g, 0);
	ASSERT_FIELD(o, "Type", "AzureActivity");
	ASSERT_FIELD(o, "CategoryValue", "Administrative");
	ASSERT_FIELD(o, "OperationNameValue",
		     "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION");
	ASSERT_FIELD(o, "ActivityStatusValue", "Success");
	ASSERT_FIELD(o, "ActivitySubstatusValue", "Succeeded.OK");
	ASSERT_FIELD(o, "CallerIpAddress", "192.0.2.77");
	ASSERT_FIELD(o, "Caller", "12121212-3434-4565-8787-909090909090");
	ASSERT_FIELD(o, "ResourceProviderValue", "MICROSOFT.COGNITIVESERVICES");
	ASSERT_FIELD(o, "ResourceGroup", "rg-ai-prod");
	ASSERT_FIELD(o, "SubscriptionId", "0a1b2c3d-0000-4000-8000-00000000ab01");
	ASSERT_FIELD(o, "_ResourceId",
		     "/subscriptions/0a1b2c3d-0000-4000-8000-00000000ab01/resourcegroups/"
		     "rg-ai-prod/providers/microsoft.cognitiveservices/accounts/contoso-oai-east");
	ASSERT_FIELD(o, "Hierarchy", "tenant/mg/sub");
	ASSERT_FIELD(o, "Level", "Information");
	ASSERT_FIELD(o, "Properties", "{\"statusCode\":\"OK\",\"hierarchy\":\"tenant/mg/sub\"}");
	ck_assert_ptr_nonnull(strstr(field_str(o, "Authorization"), "\"role\":\"Cognitive "));
	ck_assert_ptr_nonnull(strstr(field_str(o, "Claims"), "\"appid\":\"99999999-"));
	assert_absent(o, "OperationName");
	assert_absent(o, "Category");
	assert_absent(o, "identity_s");
	json_object_put(o);
	got_free(&g);
}
END_TEST

START_TEST(diag_activity_administrative_keeps_category)
{
	struct got g = {0};
	struct aw_error err = {{0}};

	ck_assert_int_eq(parse("{\"time\":\"2025-03-01T00:00:00Z\",\"category\":\"Policy\","
			       "\"caller\":\"ops@contoso.example\",\"operationName\":\"x/y\"}",
			       &g, NULL, &err),
			 1);
	json_object *o = ev_obj(&g, 0);
	ASSERT_FIELD(o, "Type", "AzureActivity");
	ASSERT_FIELD(o, "CategoryValue", "Policy");
	ASSERT_FIELD(o, "Caller", "ops@contoso.example");
	ASSERT_FIELD(o, "OperationNameValue", "X/Y");
	json_object_put(o);
	got_free(&g);
}
END_TEST

START_TEST(diag_nested_resource_and_generic_columns)
{
	struct got g = {0};
	struct aw_error err = {{0}};

	ck_assert_int_eq(
		parse("{\"time\":\"2025-03-01T00:00:00Z\",\"resourceId\":\"/SUBSCRIPTIONS/S1/"
		      "RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.SQL/SERVERS/SRV1/DATABASES/DB1\","
		      "\"category\":\"SQLSecurityAuditEvents\",\"count\":3,\"ratio\":0.5,\"ok\":true,"
		      "\"nothing\":null,\"tags\":[\"a\",\"b\"],\"weird key!\":\"v\","
		      "\"durationMs\":\"n/a\"}",
		      &g, NULL, &err),
		1);
	json_object *o = ev_obj(&g, 0);
	ASSERT_FIELD(o, "ResourceType", "SERVERS/DATABASES");
	ASSERT_FIELD(o, "Resource", "DB1");
	ASSERT_FIELD(o, "SubscriptionId", "s1");
	assert_number(o, "count_d", 3);
	json_object *v;
	ck_assert(json_object_object_get_ex(o, "ratio_d", &v));
	ck_assert(json_object_get_double(v) == 0.5);
	ck_assert(json_object_object_get_ex(o, "ok_b", &v));
	ck_assert(json_object_get_boolean(v));
	assert_absent(o, "nothing_s");
	ASSERT_FIELD(o, "tags_s", "[\"a\",\"b\"]");
	ASSERT_FIELD(o, "weird_key__s", "v");
	/* Not a number: kept as given rather than dropped. */
	ASSERT_FIELD(o, "DurationMs", "n/a");
	json_object_put(o);
	got_free(&g);
}
END_TEST

START_TEST(diag_bad_records_skipped_and_counted)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	size_t bad = 5;
	char doc[8192];

	snprintf(doc, sizeof doc,
		 "{\"records\":[%s, 42, {\"category\":\"Audit\"}, {\"time\":\"t\","
		 "\"properties\":\"{not json\"}, {\"time\":\"2025-03-01T00:00:00Z\",\"category\":"
		 "\"Audit\",\"operationName\":\"ListKey\"}]}",
		 request_response);
	ck_assert_int_eq(parse(doc, &g, &bad, &err), 2);
	ck_assert_uint_eq(bad, 5 + 3); /* added to what the caller had */
	ck_assert_str_eq(g.origin[0], "t.jsonl:7[0]");
	ck_assert_str_eq(g.origin[1], "t.jsonl:7[4]");
	ck_assert_ptr_nonnull(strstr(err.msg, "record 3: properties is not valid JSON"));
	got_free(&g);

	/* The same problems in a bare record fail the document. */
	ck_assert_int_eq(parse("{\"time\":\"t\",\"category\":\"Audit\",\"properties\":\"{x\"}", &g,
			       &bad, &err),
			 -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "t.jsonl:7: properties is not valid JSON"));
	ck_assert_int_eq(parse("{\"time\":5,\"category\":\"Audit\"}", &g, &bad, &err), -1);
	ck_assert_str_eq(err.msg, "t.jsonl:7: record has no time");
	ck_assert_uint_eq(g.n, 0);
}
END_TEST

START_TEST(la_records_inside_records_array)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	size_t bad = 0;

	ck_assert_int_eq(parse("{\"records\":[{\"Type\":\"SecurityAlert\",\"AlertSeverity\":"
			       "\"High\",\"Url\":\"https://x/y\"},{\"Type\":\"\"}]}",
			       &g, &bad, &err),
			 1);
	ck_assert_uint_eq(bad, 1); /* an empty Type is neither form */
	ck_assert_str_eq(g.table[0], "SecurityAlert");
	ck_assert_str_eq(g.json[0],
			 "{\"Type\":\"SecurityAlert\",\"AlertSeverity\":\"High\",\"Url\":\"https://x/y\"}");
	got_free(&g);
}
END_TEST

START_TEST(diag_empty_records)
{
	struct got g = {0};
	struct aw_error err = {{0}};
	size_t bad = 0;

	ck_assert_int_eq(parse("{\"records\":[]}", &g, &bad, &err), 0);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(g.n, 0);
}
END_TEST

START_TEST(callback_can_stop)
{
	struct got g = {.stop_after = 1};
	struct aw_error err = {{0}};
	char doc[8192];

	snprintf(doc, sizeof doc, "{\"records\":[%s,%s,%s]}", request_response, request_response,
		 request_response);
	ck_assert_int_eq(parse(doc, &g, NULL, &err), 1);
	ck_assert_uint_eq(g.n, 1);
	got_free(&g);
}
END_TEST

static Suite *records_suite(void)
{
	Suite *s = suite_create("records");
	TCase *la = tcase_create("log_analytics");
	TCase *bad = tcase_create("malformed");
	TCase *diag = tcase_create("diagnostic_settings");

	tcase_add_test(la, la_record_passes_through);
	tcase_add_test(la, la_record_not_nul_terminated);
	tcase_add_test(la, la_record_nul_ended_line_not_copied);
	tcase_add_test(la, la_type_is_unescaped);
	tcase_add_test(la, la_large_record);
	tcase_add_test(la, la_type_wins_over_records);
	tcase_add_test(bad, malformed_documents);
	tcase_add_test(bad, nul_byte_inside);
	tcase_add_test(bad, depth_limit);
	tcase_add_test(bad, size_limit);
	tcase_add_test(diag, diag_request_response);
	tcase_add_test(diag, diag_properties_string_kept);
	tcase_add_test(diag, diag_item_id_is_deterministic);
	tcase_add_test(diag, diag_keyvault_audit);
	tcase_add_test(diag, diag_activity_event_hubs);
	tcase_add_test(diag, diag_activity_administrative_keeps_category);
	tcase_add_test(diag, diag_nested_resource_and_generic_columns);
	tcase_add_test(diag, diag_bad_records_skipped_and_counted);
	tcase_add_test(diag, diag_empty_records);
	tcase_add_test(diag, la_records_inside_records_array);
	tcase_add_test(diag, callback_can_stop);
	suite_add_tcase(s, la);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, diag);
	return s;
}

AW_TEST_MAIN(records_suite)
