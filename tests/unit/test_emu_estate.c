/* The emulator's Azure estate (tests/azure-emulator/emu_estate.c), over real HTTP as the
 * posture collector will read it: Resource Graph `resources` rows (paging, type and
 * scope filters), ARM child listings with nextLink, diagnostic settings, Defender
 * pricings, the `_emu.fail` switch, and the errors ARM gives (404, 400, 401). Tokens are
 * never printed. */
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define ARM_AUD	  "https://management.azure.com/"
#define VAULT_AUD "https://vault.azure.net"
#define SUB_A	  "11111111-1111-1111-1111-111111111111"
#define SUB_B	  "22222222-2222-2222-2222-222222222222"
#define SUB_C	  "33333333-3333-3333-3333-333333333333"
#define RG_PATH	  "/subscriptions/" SUB_A "/resourceGroups/rg-ai/providers/"
#define ACCOUNT	  RG_PATH "Microsoft.CognitiveServices/accounts/aoai-prod"
#define WORKSPACE RG_PATH "Microsoft.MachineLearningServices/workspaces/mlw-prod"
#define VAULT	  RG_PATH "Microsoft.KeyVault/vaults/kv-prod"
#define STORAGE	  RG_PATH "Microsoft.Storage/storageAccounts/stprod"
#define RG_URL	  "/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01"
#define API	  "?api-version=2024-10-01"

static struct aw_test_emu g_emu;

/* --- HTTP ------------------------------------------------------------------------------------- */

struct ans {
	long status;
	char *body;
	char *headers;
	json_object *j; /* the body parsed, or NULL */
};

/* One request to the emulator: `where` is a path, or a whole URL (a nextLink). */
static void call(const char *method, const char *where, const char *token, const char *body,
		 struct ans *a)
{
	struct aw_test_resp r;
	const char *headers[3] = {NULL};
	char url[4096], auth[4096];
	size_t n = 0;

	if (!strncmp(where, "http", 4))
		snprintf(url, sizeof(url), "%s", where);
	else
		snprintf(url, sizeof(url), "%s%s", g_emu.base, where);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers[n++] = auth;
	}
	if (body)
		headers[n++] = "Content-Type: application/json";
	aw_test_http(method, url, headers, body, 60000, &r);
	ck_assert_int_eq(r.rc, CURLE_OK);
	*a = (struct ans){.status = r.status, .body = r.body, .headers = r.headers};
	a->j = json_tokener_parse(a->body);
}

static void ans_free(struct ans *a)
{
	free(a->body);
	free(a->headers);
	json_object_put(a->j);
	memset(a, 0, sizeof(*a));
}

static bool has_header(const struct ans *a, const char *name)
{
	char needle[128];

	snprintf(needle, sizeof(needle), "\n%s:", name);
	return strcasestr(a->headers, needle) != NULL;
}

static json_object *jget(json_object *j, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(j, key, &v), "no \"%s\" in %s", key,
		      j ? json_object_to_json_string(j) : "(not JSON)");
	return v;
}

static const char *jstr(json_object *j, const char *key)
{
	json_object *v = jget(j, key);

	return v ? json_object_get_string(v) : "(null)";
}

static void assert_error(const struct ans *a, long status, const char *code)
{
	ck_assert_msg(a->status == status, "want %ld %s, got %ld %s", status, code, a->status,
		      a->body);
	ck_assert_str_eq(jstr(jget(a->j, "error"), "code"), code);
}

/* A Resource Graph query; `scope` is the body's scope member (or ""). */
static void rg(const char *token, const char *scope, const char *query, const char *skip,
	       struct ans *a)
{
	char body[4096];

	snprintf(body, sizeof(body),
		 "{%s%s\"query\":\"%s\",\"options\":{\"$top\":1000,\"resultFormat\":\"objectArray\""
		 "%s%s%s}}",
		 scope, *scope ? "," : "", query, skip ? ",\"$skipToken\":\"" : "",
		 skip ? skip : "", skip ? "\"" : "");
	call("POST", RG_URL, token, body, a);
}

/* The ids of a Resource Graph answer's rows, comma-joined, into buf. */
static const char *row_names(const struct ans *a, char *buf, size_t size)
{
	json_object *data = jget(a->j, "data");
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(data); i++)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", i ? "," : "",
				      jstr(json_object_array_get_idx(data, i), "name"));
	return buf;
}

/* --- fixtures --------------------------------------------------------------------------------- */

/* clang-format off */
#define ACCOUNT_FIX                                                                                \
	"{\"id\":\"" ACCOUNT "\",\"name\":\"aoai-prod\","                                          \
	"\"type\":\"Microsoft.CognitiveServices/accounts\",\"kind\":\"OpenAI\","                   \
	"\"location\":\"eastus\",\"properties\":{\"publicNetworkAccess\":\"Enabled\"},"            \
	"\"_emu\":{\"diagnosticSettings\":[{\"name\":\"to-la\",\"properties\":{"                   \
	"\"workspaceId\":\"/subscriptions/" SUB_A "/resourceGroups/rg-sec/providers/"              \
	"Microsoft.OperationalInsights/workspaces/la\","                                           \
	"\"logs\":[{\"categoryGroup\":\"allLogs\",\"enabled\":true}]}}]}}"
#define WORKSPACE_FIX                                                                              \
	"{\"id\":\"" WORKSPACE "\",\"name\":\"mlw-prod\","                                         \
	"\"type\":\"Microsoft.MachineLearningServices/workspaces\",\"properties\":{},"             \
	"\"_emu\":{\"computes\":[{\"name\":\"ci-1\",\"properties\":{"                              \
	"\"computeType\":\"ComputeInstance\"}},{\"name\":\"cluster-1\",\"properties\":{"           \
	"\"computeType\":\"AmlCompute\"}}]}}"
#define VAULT_FIX                                                                                  \
	"{\"id\":\"" VAULT "\",\"name\":\"kv-prod\",\"type\":\"Microsoft.KeyVault/vaults\","       \
	"\"properties\":{\"enablePurgeProtection\":true},\"_emu\":{\"secrets\":[{"                 \
	"\"name\":\"api-key\",\"properties\":{\"attributes\":{\"enabled\":true}}}]}}"
#define STORAGE_FIX                                                                                \
	"{\"id\":\"" STORAGE "\",\"name\":\"stprod\","                                             \
	"\"type\":\"Microsoft.Storage/storageAccounts\",\"properties\":{}}"

/* clang-format on */

static const char *const four_resources =
    ACCOUNT_FIX "," WORKSPACE_FIX "," VAULT_FIX "," STORAGE_FIX;

static void start_four(void)
{
	char cfg[8192];

	snprintf(cfg, sizeof(cfg), "{\"estate\":{\"resources\":[%s]}}", four_resources);
	aw_test_emu_start(&g_emu, cfg);
}

/* --- Resource Graph --------------------------------------------------------------------------- */

START_TEST(rg_pages_2500_generated_resources_in_three_pages)
{
	char *tok, *skip = NULL, *prev = NULL;
	size_t counts[4] = {0}, pages = 0, total = 0;

	aw_test_emu_start(
	    &g_emu,
	    "{\"estate\":{\"generate\":[{\"count\":2500,\"subscription\":\"" SUB_A "\","
	    "\"resource_group\":\"rg-gen\",\"type\":\"Microsoft.CognitiveServices/accounts\","
	    "\"kind\":\"OpenAI\",\"properties\":{\"publicNetworkAccess\":\"Enabled\"}}],"
	    "\"resources\":[{\"id\":\"/subscriptions/" SUB_B "/resourceGroups/rg/providers/"
	    "Microsoft.CognitiveServices/accounts/other\",\"type\":\"Microsoft."
	    "CognitiveServices/accounts\"}]}}");
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	do {
		struct ans a;
		json_object *data, *v;

		rg(tok, "\"subscriptions\":[\"" SUB_A "\"]",
		   "resources | where type in~ ('microsoft.cognitiveservices/accounts') | project "
		   "id, name, type, kind, properties, subscriptionId | order by id asc",
		   skip, &a);
		ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
		ck_assert(has_header(&a, "x-ms-user-quota-remaining"));
		ck_assert_int_eq(json_object_get_int64(jget(a.j, "totalRecords")), 2500);
		ck_assert(json_object_is_type(jget(a.j, "resultTruncated"), json_type_string));
		ck_assert_str_eq(jstr(a.j, "resultTruncated"), "false");
		data = jget(a.j, "data");
		ck_assert_uint_lt(pages, 4);
		counts[pages++] = json_object_array_length(data);
		for (size_t i = 0; i < json_object_array_length(data); i++) {
			json_object *row = json_object_array_get_idx(data, i);
			const char *id = jstr(row, "id");

			/* ordered by id, no repeats across pages */
			ck_assert_msg(!prev || strcasecmp(prev, id) < 0, "%s before %s", prev, id);
			free(prev);
			prev = strdup(id);
			total++;
		}
		if (pages == 1) {
			json_object *row = json_object_array_get_idx(data, 0);

			ck_assert_str_eq(jstr(row, "id"),
					 "/subscriptions/" SUB_A "/resourceGroups/rg-gen/providers/"
					 "Microsoft.CognitiveServices/accounts/gen0-00000");
			ck_assert_str_eq(jstr(row, "type"), "microsoft.cognitiveservices/accounts");
			ck_assert_str_eq(jstr(row, "subscriptionId"), SUB_A);
			ck_assert_str_eq(jstr(row, "resourceGroup"), "rg-gen");
			ck_assert_str_eq(jstr(row, "tenantId"),
					 "00000000-0000-0000-0000-0000000000aa");
			ck_assert_str_eq(jstr(row, "kind"), "OpenAI");
			ck_assert_str_eq(jstr(jget(row, "properties"), "publicNetworkAccess"),
					 "Enabled");
		}
		free(skip);
		skip = json_object_object_get_ex(a.j, "$skipToken", &v)
			   ? strdup(json_object_get_string(v))
			   : NULL;
		ans_free(&a);
	} while (skip);
	ck_assert_uint_eq(pages, 3);
	ck_assert_uint_eq(counts[0], 1000);
	ck_assert_uint_eq(counts[1], 1000);
	ck_assert_uint_eq(counts[2], 500);
	ck_assert_uint_eq(total, 2500);
	ck_assert_str_eq(prev, "/subscriptions/" SUB_A "/resourceGroups/rg-gen/providers/"
			       "Microsoft.CognitiveServices/accounts/gen0-02499");
	{
		/* generated resources answer ARM reads too; one past the count does not exist */
		struct ans a;
		char path[512];

		snprintf(path, sizeof(path), "%s/providers/Microsoft.Insights/diagnosticSettings%s",
			 prev, API);
		call("GET", path, tok, NULL, &a);
		ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
		ck_assert_uint_eq(json_object_array_length(jget(a.j, "value")), 0);
		ans_free(&a);
		call("GET",
		     "/subscriptions/" SUB_A "/resourceGroups/rg-gen/providers/Microsoft."
		     "CognitiveServices/accounts/gen0-02500/deployments" API,
		     tok, NULL, &a);
		assert_error(&a, 404, "ResourceNotFound");
		ans_free(&a);
	}
	free(prev);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(rg_filters_on_the_types_the_query_names)
{
	char *tok, names[1024];
	struct ans a;

	start_four();
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	rg(tok, "",
	   "resources | where type in~ ('microsoft.cognitiveservices/accounts', "
	   "'Microsoft.KeyVault/vaults') | order by id asc",
	   NULL, &a);
	ck_assert_str_eq(row_names(&a, names, sizeof(names)), "aoai-prod,kv-prod");
	/* what ARM never shows stays out of the rows */
	ck_assert(!json_object_object_get_ex(json_object_array_get_idx(jget(a.j, "data"), 0),
					     "_emu", NULL));
	ans_free(&a);
	rg(tok, "", "Resources | where type =~ 'microsoft.machinelearningservices/workspaces'",
	   NULL, &a);
	ck_assert_str_eq(row_names(&a, names, sizeof(names)), "mlw-prod");
	ans_free(&a);
	rg(tok, "", "resources | project id, name, type", NULL, &a);
	ck_assert_str_eq(row_names(&a, names, sizeof(names)), "aoai-prod,kv-prod,mlw-prod,stprod");
	ans_free(&a);
	rg(tok, "", "resources | where type !in~ ('microsoft.storage/storageaccounts')", NULL, &a);
	ck_assert_str_eq(row_names(&a, names, sizeof(names)), "aoai-prod,kv-prod,mlw-prod");
	ans_free(&a);
	/* another table is not the estate's */
	rg(tok, "", "securityresources | where type == 'microsoft.security/assessments'", NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_int_eq(json_object_get_int64(jget(a.j, "totalRecords")), 0);
	ans_free(&a);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(rg_scope_subscriptions_and_management_groups)
{
	char *tok, names[1024];
	struct ans a;

	aw_test_emu_start(&g_emu,
			  "{\"estate\":{\"resources\":["
			  "{\"id\":\"/subscriptions/" SUB_A
			  "/resourceGroups/r/providers/Microsoft.KeyVault/vaults/"
			  "kv-a\",\"type\":\"Microsoft.KeyVault/vaults\"},"
			  "{\"id\":\"/subscriptions/" SUB_B
			  "/resourceGroups/r/providers/Microsoft.KeyVault/vaults/"
			  "kv-b\",\"type\":\"Microsoft.KeyVault/vaults\"},"
			  "{\"id\":\"/subscriptions/" SUB_C
			  "/resourceGroups/r/providers/Microsoft.KeyVault/vaults/"
			  "kv-c\",\"type\":\"Microsoft.KeyVault/vaults\"}],"
			  "\"management_groups\":{\"mg-ai\":[\"" SUB_A "\",\"" SUB_C "\"]}}}");
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	rg(tok, "", "resources | order by id asc", NULL, &a);
	ck_assert_str_eq(row_names(&a, names, sizeof(names)), "kv-a,kv-b,kv-c");
	ans_free(&a);
	/* subscription ids compare case-insensitively */
	rg(tok, "\"subscriptions\":[\"22222222-2222-2222-2222-222222222222\"]", "resources", NULL,
	   &a);
	ck_assert_str_eq(row_names(&a, names, sizeof(names)), "kv-b");
	ans_free(&a);
	rg(tok, "\"managementGroups\":[\"MG-AI\"]", "resources", NULL, &a);
	ck_assert_str_eq(row_names(&a, names, sizeof(names)), "kv-a,kv-c");
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(a.j, "data"), 1), "subscriptionId"),
			 SUB_C);
	ans_free(&a);
	rg(tok, "\"managementGroups\":[\"mg-nope\"]", "resources", NULL, &a);
	assert_error(&a, 400, "BadRequest");
	ck_assert_ptr_nonnull(strstr(a.body, "mg-nope"));
	ans_free(&a);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

/* --- ARM reads -------------------------------------------------------------------------------- */

START_TEST(child_listings_page_with_next_link)
{
	char *cfg, *tok, *next = NULL, *log;
	size_t cap = 64 * 1024, n, pages = 0, seen = 0;
	struct ans a;
	json_object *reqs;

	cfg = malloc(cap);
	ck_assert_ptr_nonnull(cfg);
	n = (size_t)snprintf(cfg, cap,
			     "{\"estate\":{\"child_page_size\":50,\"resources\":[{\"id\":\"" ACCOUNT
			     "\",\"type\":\"Microsoft.CognitiveServices/accounts\",\"_emu\":{"
			     "\"deployments\":[{\"name\":\"given\",\"id\":\"" ACCOUNT
			     "/deployments/given\",\"type\":\"Custom/type\"}");
	for (int i = 1; i < 120; i++)
		n += (size_t)snprintf(cfg + n, cap - n,
				      ",{\"name\":\"d%03d\",\"properties\":{\"raiPolicyName\":"
				      "\"Microsoft.Default\"}}",
				      i);
	snprintf(cfg + n, cap - n, "]}}," WORKSPACE_FIX "," VAULT_FIX "]}}");
	aw_test_emu_start(&g_emu, cfg);
	free(cfg);
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	next = strdup(ACCOUNT "/deployments" API);
	while (next) {
		json_object *value, *link;

		call("GET", next, tok, NULL, &a);
		ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
		ck_assert(has_header(&a, "x-ms-correlation-request-id"));
		value = jget(a.j, "value");
		ck_assert_uint_eq(json_object_array_length(value), pages < 2 ? 50 : 20);
		for (size_t i = 0; i < json_object_array_length(value); i++, seen++) {
			json_object *d = json_object_array_get_idx(value, i);
			char want[64], id[512];

			if (seen == 0) {
				ck_assert_str_eq(jstr(d, "type"), "Custom/type");
				continue;
			}
			snprintf(want, sizeof(want), "d%03zu", seen);
			ck_assert_str_eq(jstr(d, "name"), want);
			snprintf(id, sizeof(id), ACCOUNT "/deployments/%s", want);
			ck_assert_str_eq(jstr(d, "id"), id);
			ck_assert_str_eq(jstr(d, "type"),
					 "Microsoft.CognitiveServices/accounts/deployments");
		}
		pages++;
		free(next);
		link = jget(a.j, "nextLink");
		next = link ? strdup(json_object_get_string(link)) : NULL;
		/* a nextLink is followed as given: it keeps the api-version */
		ck_assert(!next || strstr(next, "api-version=2024-10-01"));
		ans_free(&a);
	}
	ck_assert_uint_eq(pages, 3);
	ck_assert_uint_eq(seen, 120);
	log = aw_test_emu_call(&g_emu, "GET", "/_emulator/requests?path=" ACCOUNT "/deployments",
			       NULL, NULL);
	reqs = json_tokener_parse(log);
	ck_assert_uint_eq(json_object_array_length(reqs), 3);
	json_object_put(reqs);
	free(log);

	call("GET", WORKSPACE "/computes" API, tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_uint_eq(json_object_array_length(jget(a.j, "value")), 2);
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(a.j, "value"), 1), "id"),
			 WORKSPACE "/computes/cluster-1");
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(a.j, "value"), 1), "type"),
			 "Microsoft.MachineLearningServices/workspaces/computes");
	ck_assert(json_object_get_type(jget(a.j, "nextLink")) == json_type_null);
	ans_free(&a);
	call("GET", VAULT "/secrets" API, tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(jstr(json_object_array_get_idx(jget(a.j, "value"), 0), "type"),
			 "Microsoft.KeyVault/vaults/secrets");
	ans_free(&a);
	/* a $skipToken not of ours, and one past the end */
	call("GET", ACCOUNT "/deployments" API "&$skipToken=garbage!", tok, NULL, &a);
	assert_error(&a, 400, "InvalidSkipToken");
	ans_free(&a);
	call("GET", ACCOUNT "/deployments" API "&$skipToken=eyJwYWdlIjo5MjIzMzcyMDM2ODU0Nzc1ODA3fQ", tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_uint_eq(json_object_array_length(jget(a.j, "value")), 0);
	ck_assert(json_object_get_type(jget(a.j, "nextLink")) == json_type_null);
	ans_free(&a);
	/* a vault has no deployments */
	call("GET", VAULT "/deployments" API, tok, NULL, &a);
	assert_error(&a, 404, "ResourceNotFound");
	ans_free(&a);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(diagnostic_settings_and_pricings)
{
	char *tok;
	struct ans a;
	json_object *s;
	char cfg[8192];

	snprintf(cfg, sizeof(cfg),
		 "{\"estate\":{\"resources\":[%s],\"pricings\":{\"" SUB_B "\":{\"AI\":{"
		 "\"properties\":{\"pricingTier\":\"Standard\"}}}}}}",
		 four_resources);
	aw_test_emu_start(&g_emu, cfg);
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	call("GET", ACCOUNT "/providers/Microsoft.Insights/diagnosticSettings" API, tok, NULL, &a);
	ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
	s = json_object_array_get_idx(jget(a.j, "value"), 0);
	ck_assert_str_eq(jstr(s, "id"),
			 ACCOUNT "/providers/microsoft.insights/diagnosticSettings/to-la");
	ck_assert_str_eq(jstr(s, "type"), "Microsoft.Insights/diagnosticSettings");
	ck_assert_ptr_nonnull(strstr(jstr(jget(s, "properties"), "workspaceId"), "/workspaces/la"));
	ans_free(&a);
	/* the provider segment is case-insensitive, as in ARM */
	call("GET", VAULT "/providers/microsoft.insights/diagnosticSettings" API, tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_uint_eq(json_object_array_length(jget(a.j, "value")), 0);
	ans_free(&a);

	/* no plan configured: the Free tier */
	call("GET", "/subscriptions/" SUB_A "/providers/Microsoft.Security/pricings/AI" API, tok,
	     NULL, &a);
	ck_assert_msg(a.status == 200, "%ld %s", a.status, a.body);
	ck_assert_str_eq(jstr(jget(a.j, "properties"), "pricingTier"), "Free");
	ck_assert_str_eq(jstr(a.j, "id"),
			 "/subscriptions/" SUB_A "/providers/Microsoft.Security/pricings/AI");
	ck_assert_str_eq(jstr(a.j, "name"), "AI");
	ck_assert_str_eq(jstr(a.j, "type"), "Microsoft.Security/pricings");
	ans_free(&a);
	call("GET", "/subscriptions/" SUB_B "/providers/Microsoft.Security/pricings/AI" API, tok,
	     NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(jstr(jget(a.j, "properties"), "pricingTier"), "Standard");
	ck_assert_str_eq(jstr(a.j, "name"), "AI");
	ans_free(&a);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(fail_switch_breaks_one_read_of_one_resource)
{
	char *tok;
	struct ans a;

	aw_test_emu_start(
	    &g_emu,
	    "{\"estate\":{\"resources\":{"
	    "\"aoai\":{\"id\":\"" ACCOUNT "\",\"type\":\"Microsoft.CognitiveServices/accounts\","
	    "\"_emu\":{\"deployments\":[{\"name\":\"gpt\"}],\"fail\":{\"diagnosticSettings\":"
	    "403}}},"
	    "\"kv\":{\"id\":\"" VAULT "\",\"type\":\"Microsoft.KeyVault/vaults\",\"_emu\":{"
	    "\"fail\":{\"secrets\":500}}}}}}");
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	call("GET", ACCOUNT "/providers/Microsoft.Insights/diagnosticSettings" API, tok, NULL, &a);
	assert_error(&a, 403, "AuthorizationFailed");
	ck_assert_ptr_nonnull(strstr(a.body, "microsoft.insights/diagnosticSettings/read"));
	ck_assert_ptr_nonnull(strstr(a.body, ACCOUNT));
	ans_free(&a);
	/* only that read: the account's deployments still list */
	call("GET", ACCOUNT "/deployments" API, tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ans_free(&a);
	call("GET", VAULT "/secrets" API, tok, NULL, &a);
	assert_error(&a, 500, "InternalServerError");
	ans_free(&a);
	call("GET", VAULT "/providers/Microsoft.Insights/diagnosticSettings" API, tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ans_free(&a);
	/* resources as labelled objects: a merge patch clears one switch */
	aw_test_emu_configure(&g_emu,
			      "{\"estate\":{\"resources\":{\"aoai\":{\"_emu\":{\"fail\":null}}}}}");
	call("GET", ACCOUNT "/providers/Microsoft.Insights/diagnosticSettings" API, tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ans_free(&a);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(unknown_resource_is_404)
{
	char *tok;
	struct ans a;

	start_four();
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	call("GET", RG_PATH "Microsoft.CognitiveServices/accounts/nope/deployments" API, tok, NULL,
	     &a);
	assert_error(&a, 404, "ResourceNotFound");
	ck_assert_ptr_nonnull(strstr(a.body, "Microsoft.CognitiveServices/accounts/nope"));
	ck_assert_ptr_nonnull(strstr(a.body, "'rg-ai'"));
	ans_free(&a);
	call("GET",
	     RG_PATH "Microsoft.KeyVault/vaults/nope/providers/Microsoft.Insights/"
		     "diagnosticSettings" API,
	     tok, NULL, &a);
	assert_error(&a, 404, "ResourceNotFound");
	ans_free(&a);
	call("GET", RG_PATH "Microsoft.KeyVault/vaults/nope" API, tok, NULL, &a);
	assert_error(&a, 404, "ResourceNotFound");
	ans_free(&a);
	/* a known one reads as ARM holds it, without the emulator's own member */
	call("GET", VAULT API, tok, NULL, &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(jstr(a.j, "type"), "Microsoft.KeyVault/vaults");
	ck_assert(!json_object_object_get_ex(a.j, "_emu", NULL));
	ans_free(&a);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(api_version_and_arm_audience_required)
{
	char *tok, *kv;
	struct ans a;

	start_four();
	tok = aw_test_imds_token(g_emu.base, ARM_AUD);
	kv = aw_test_imds_token(g_emu.base, VAULT_AUD);
	call("GET", ACCOUNT "/deployments", tok, NULL, &a);
	assert_error(&a, 400, "MissingApiVersionParameter");
	ans_free(&a);
	call("GET", "/subscriptions/" SUB_A "/providers/Microsoft.Security/pricings/AI", tok, NULL,
	     &a);
	assert_error(&a, 400, "MissingApiVersionParameter");
	ans_free(&a);
	call("POST", "/providers/Microsoft.ResourceGraph/resources", tok,
	     "{\"query\":\"resources\"}", &a);
	assert_error(&a, 400, "MissingApiVersionParameter");
	ans_free(&a);
	call("GET", ACCOUNT "/deployments" API, NULL, NULL, &a);
	assert_error(&a, 401, "AuthenticationFailed");
	ans_free(&a);
	call("GET", ACCOUNT "/providers/Microsoft.Insights/diagnosticSettings" API, kv, NULL, &a);
	assert_error(&a, 401, "InvalidAuthenticationTokenAudience");
	ans_free(&a);
	rg(kv, "", "resources", NULL, &a);
	assert_error(&a, 401, "InvalidAuthenticationTokenAudience");
	ans_free(&a);
	free(kv);
	free(tok);
	aw_test_emu_stop(&g_emu);
}
END_TEST

/* --- config ----------------------------------------------------------------------------------- */

static void assert_rejected(const char *patch, const char *names)
{
	long st = 0;
	char *r = aw_test_emu_call(&g_emu, "POST", "/_emulator/config", patch, &st);

	ck_assert_msg(st == 400, "accepted: %s", patch);
	ck_assert_msg(strstr(r, names), "the error does not name %s: %s", names, r);
	free(r);
}

START_TEST(bad_estate_config_is_rejected_naming_the_key)
{
	char *dir, *cfg, *port;
	int status = 0;
	pid_t pid;

	aw_test_emu_start(&g_emu, "{\"estate\":{\"child_page_size\":10}}");
	assert_rejected("{\"estate\":[]}", "estate");
	assert_rejected("{\"estate\":{\"child_page_size\":0}}", "estate.child_page_size");
	assert_rejected("{\"estate\":{\"colour\":1}}", "estate.colour");
	assert_rejected("{\"estate\":{\"generate\":[{\"count\":10,\"subscription\":\"s\"}]}}",
			"estate.generate[0]");
	assert_rejected("{\"estate\":{\"generate\":[{\"count\":10,\"subscription\":\"s\","
			"\"type\":\"a/b\",\"cuont\":1}]}}",
			"estate.generate[0].cuont");
	assert_rejected("{\"estate\":{\"generate\":[{\"count\":1000001,\"subscription\":\"s\","
			"\"type\":\"a/b\"}]}}",
			"estate.generate[0].count");
	assert_rejected("{\"estate\":{\"resources\":[{\"type\":\"a/b\"}]}}",
			"estate.resources[0].id");
	assert_rejected(
	    "{\"estate\":{\"resources\":[{\"id\":\"/subscriptions/s/r\",\"type\":\"a/b\","
	    "\"_emu\":{\"fail\":{\"diagnosticSettings\":200}}}]}}",
	    "estate.resources[0]._emu.fail.diagnosticSettings");
	assert_rejected("{\"estate\":{\"resources\":{\"x\":{\"id\":\"/subscriptions/s/r\","
			"\"type\":\"a/b\",\"_emu\":{\"deployments\":[{\"nom\":\"d\"}]}}}}}",
			"estate.resources.x._emu.deployments");
	assert_rejected("{\"estate\":{\"management_groups\":{\"mg\":\"s\"}}}",
			"estate.management_groups.mg");
	assert_rejected("{\"estate\":{\"pricings\":{\"s\":{\"AI\":\"Standard\"}}}}",
			"estate.pricings.s.AI");
	aw_test_emu_stop(&g_emu);

	/* at start-up: a message on stderr and exit status 2 */
	dir = aw_test_tmpdir();
	cfg = aw_test_write(dir, "bad.json", "{\"estate\":{\"child_page_size\":\"x\"}}", 0600);
	if (asprintf(&port, "%s/port", dir) < 0)
		ck_abort_msg("asprintf");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(126);
		execl(getenv("AW_EMULATOR"), "aw-azure-emulator", "--listen", "127.0.0.1:0",
		      "--port-file", port, "--config", cfg, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 2);
	free(port);
	free(cfg);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *emu_estate_suite(void)
{
	Suite *s = suite_create("emu_estate");
	TCase *rg_tc = tcase_create("resource_graph");
	TCase *arm = tcase_create("arm");

	tcase_set_timeout(rg_tc, 120);
	tcase_add_test(rg_tc, rg_pages_2500_generated_resources_in_three_pages);
	tcase_add_test(rg_tc, rg_filters_on_the_types_the_query_names);
	tcase_add_test(rg_tc, rg_scope_subscriptions_and_management_groups);
	suite_add_tcase(s, rg_tc);
	tcase_set_timeout(arm, 60);
	tcase_add_test(arm, child_listings_page_with_next_link);
	tcase_add_test(arm, diagnostic_settings_and_pricings);
	tcase_add_test(arm, fail_switch_breaks_one_read_of_one_resource);
	tcase_add_test(arm, unknown_resource_is_404);
	tcase_add_test(arm, api_version_and_arm_audience_required);
	tcase_add_test(arm, bad_estate_config_is_rejected_naming_the_key);
	suite_add_tcase(s, arm);
	return s;
}

AW_TEST_MAIN(emu_estate_suite)
