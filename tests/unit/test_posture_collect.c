/* The posture collector against the Azure emulator's estate: 2,500 resources read over
 * three Resource Graph pages with their children and diagnostic settings, every child
 * listing paged, the Defender plan of each subscription (the one a subscription
 * without a plan stands for included), a failed read that makes a check unknown
 * rather than passing, management group scope, a throttled page, the max_resources
 * ceiling, and closing in the middle of a read. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "plugin_harness.h"
#include "posture.h"
#include "posture_conf.h"

#define S1	"11111111-1111-1111-1111-111111111111"
#define S2	"22222222-2222-2222-2222-222222222222"
#define S3	"33333333-3333-3333-3333-333333333333"
#define RG_PATH "/providers/Microsoft.ResourceGraph/resources"
#define LAW                                                                                        \
	"/subscriptions/" S1                                                                       \
	"/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/law"

#define ACCT(sub, n)                                                                               \
	"/subscriptions/" sub                                                                      \
	"/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/" n
#define WS(sub, n)                                                                                 \
	"/subscriptions/" sub                                                                      \
	"/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/" n
#define VAULT(sub, n)                                                                              \
	"/subscriptions/" sub "/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/" n
#define PRICING(sub) "/subscriptions/" sub "/providers/Microsoft.Security/pricings/AI"

static struct aw_test_emu g_emu;

/* --- harness: a loop, the Azure services, one collector ------------------------------- */

struct harness {
	struct aw_test_harness run; /* the loop, its metrics and the Azure services */
	struct aw_posture_scope scope;
	struct aw_posture_collect_conf cc;
	struct aw_posture_collector *c;
	struct aw_posture_inventory *inv;
	unsigned ndone;
	bool closed;
};

/* The loop, its metrics and the Azure services against the emulator: no pipeline. */
static const struct aw_test_harness_conf g_hc = {.emu = &g_emu};

static void strlist(struct aw_strlist *l, const char *a, const char *b)
{
	l->n = 0;
	l->v = calloc(3, sizeof *l->v);
	if (a)
		l->v[l->n++] = strdup(a);
	if (b)
		l->v[l->n++] = strdup(b);
}

static void strlist_free(struct aw_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void h_start(struct harness *h)
{
	memset(h, 0, sizeof *h);
	aw_test_harness_start(&h->run, &g_hc, NULL);
	h->cc = (struct aw_posture_collect_conf){
	    .loop = &h->run.loop,
	    .http = aw_azure_http(h->run.azure),
	    .bearer = aw_credential_bearer(aw_azure_credential(h->run.azure), AW_POSTURE_SCOPE_ARM),
	    .component = "posture-test",
	    .arm_endpoint = g_emu.base,
	    .scope = &h->scope,
	    .children = true,
	    .diagnostics = true,
	};
	ck_assert_ptr_nonnull(h->cc.bearer);
}

static void collected(void *ud, struct aw_posture_inventory *inv)
{
	struct harness *h = ud;

	aw_posture_inventory_free(h->inv);
	h->inv = inv;
	h->ndone++;
}

static void closed_cb(void *ud)
{
	((struct harness *)ud)->closed = true;
}

/* One collection with h->cc; returns the inventory (owned by h) and its duration. */
static struct aw_posture_inventory *collect(struct harness *h, double *seconds)
{
	struct aw_error err = {{0}};
	struct timespec a, b;
	unsigned want;

	if (!h->c)
		ck_assert_msg(aw_posture_collector_new(&h->cc, &h->c, &err) == 0, "%s", err.msg);
	want = h->ndone + 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_msg(aw_posture_collect(h->c, collected, h, &err) == 0, "%s", err.msg);
	if (aw_posture_collecting(h->c)) {
		ck_assert_int_eq(aw_posture_collect(h->c, collected, h, &err), -1);
		ck_assert_msg(strstr(err.msg, "already running"), "%s", err.msg);
	}
	while (h->ndone < want)
		uv_run(&h->run.loop, UV_RUN_ONCE);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (seconds)
		*seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	ck_assert(!aw_posture_collecting(h->c));
	ck_assert_ptr_nonnull(h->inv);
	ck_assert_ptr_nonnull(h->inv->resources);
	return h->inv;
}

static void h_stop(struct harness *h)
{
	if (h->c) {
		aw_posture_collector_close(h->c, closed_cb, h);
		while (!h->closed)
			uv_run(&h->run.loop, UV_RUN_ONCE);
	}
	aw_test_harness_stop(&h->run);
	aw_posture_inventory_free(h->inv);
	strlist_free(&h->scope.subscriptions);
	strlist_free(&h->scope.management_groups);
}

/* --- the inventory --------------------------------------------------------------------- */

static const char *str_of(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *element(const struct aw_posture_inventory *inv, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(inv->resources); i++) {
		json_object *e = json_object_array_get_idx(inv->resources, i);
		const char *eid = str_of(e, "id");
		if (eid && strcasecmp(eid, id) == 0)
			return e;
	}
	return NULL;
}

static size_t count_type(const struct aw_posture_inventory *inv, const char *type)
{
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(inv->resources); i++) {
		const char *t = str_of(json_object_array_get_idx(inv->resources, i), "type");
		if (t && strcasecmp(t, type) == 0)
			n++;
	}
	return n;
}

static json_object *meta(json_object *e)
{
	json_object *m = NULL;

	ck_assert_ptr_nonnull(e);
	json_object_object_get_ex(e, AW_POSTURE_META, &m);
	return m;
}

struct one_result {
	const char *check;
	bool found;
	enum aw_posture_status status;
	char actual[160];
};

static void take_result(void *ud, const struct aw_posture_result *r)
{
	struct one_result *o = ud;

	if (strcmp(aw_posture_check_id(r->check), o->check) == 0) {
		o->found = true;
		o->status = r->status;
		snprintf(o->actual, sizeof o->actual, "%s", r->actual);
	}
}

/* What check `check` says of the element with `id`. */
static struct one_result result_of(const struct aw_posture_inventory *inv, const char *id,
				   const char *check)
{
	struct one_result o = {.check = check};
	json_object *e = element(inv, id);

	ck_assert_msg(e, "%s is not in the inventory", id);
	aw_posture_evaluate(e, take_result, &o);
	ck_assert_msg(o.found, "%s did not apply to %s", check, id);
	return o;
}

static void count_results(void *ud, const struct aw_posture_result *r)
{
	(*(size_t *)ud)++;
}

/* --- the emulator ----------------------------------------------------------------------- */

static void emu_start(const char *estate, const char *arm)
{
	aw_test_emu_start_azure(&g_emu, "\"estate\":%s%s%s", estate, arm ? ",\"arm\":" : "",
				arm ? arm : "");
}

static size_t emu_requests(const char *prefix, const char *part)
{
	return aw_test_emu_requests(&g_emu, prefix, part);
}

/* Fixtures, as ARM holds them. */
/* clang-format off */
#define DIAG_OK "[{\"name\":\"to-law\",\"properties\":{\"workspaceId\":\"" LAW "\"," \
	"\"logs\":[{\"categoryGroup\":\"allLogs\",\"enabled\":true}]}}]"
#define ACCOUNT_OK \
	"\"properties\":{\"publicNetworkAccess\":\"Disabled\",\"disableLocalAuth\":true," \
	"\"networkAcls\":{\"defaultAction\":\"Deny\",\"ipRules\":[]}," \
	"\"restrictOutboundNetworkAccess\":true,\"privateEndpointConnections\":[{\"properties\":" \
	"{\"privateLinkServiceConnectionState\":{\"status\":\"Approved\"}}}]}," \
	"\"identity\":{\"type\":\"SystemAssigned\"}"

/* An account, a workspace and a vault in S1 (children paged two a page), a workspace
 * in S2; plans: S1 Standard, S2 none configured (the emulator answers Free). */
#define SMALL_ESTATE \
	"{\"child_page_size\":2,\"resources\":{" \
	"\"acct\":{\"id\":\"" ACCT(S1, "aoai1") "\",\"name\":\"aoai1\"," \
	"\"type\":\"Microsoft.CognitiveServices/accounts\",\"kind\":\"OpenAI\"," \
	"\"location\":\"eastus\"," ACCOUNT_OK ",\"_emu\":{" \
	"\"deployments\":[{\"name\":\"gpt-4o\",\"properties\":{\"raiPolicyName\":\"Microsoft.DefaultV2\"}}," \
	"{\"name\":\"gpt-4o-mini\",\"properties\":{}}," \
	"{\"name\":\"embed\",\"properties\":{\"raiPolicyName\":\"strict\"}}]," \
	"\"diagnosticSettings\":" DIAG_OK "}}," \
	"\"ws\":{\"id\":\"" WS(S1, "ml1") "\",\"name\":\"ml1\"," \
	"\"type\":\"Microsoft.MachineLearningServices/workspaces\",\"kind\":\"Default\"," \
	"\"properties\":{\"publicNetworkAccess\":\"Enabled\"},\"_emu\":{" \
	"\"computes\":[{\"name\":\"ci1\",\"properties\":{\"computeType\":\"ComputeInstance\"," \
	"\"disableLocalAuth\":true,\"properties\":{\"enableNodePublicIp\":false," \
	"\"idleTimeBeforeShutdown\":\"PT30M\",\"sshSettings\":{\"sshPublicAccess\":\"Disabled\"}}}}]}}," \
	"\"vault\":{\"id\":\"" VAULT(S1, "kv1") "\",\"name\":\"kv1\"," \
	"\"type\":\"Microsoft.KeyVault/vaults\",\"properties\":{\"enableRbacAuthorization\":true}," \
	"\"_emu\":{\"secrets\":[" \
	"{\"name\":\"never\",\"properties\":{\"attributes\":{\"enabled\":true}," \
	"\"value\":\"must-never-be-kept\"}}," \
	"{\"name\":\"expiring\",\"properties\":{\"attributes\":{\"enabled\":true,\"exp\":1924992000}}}]," \
	"\"diagnosticSettings\":[]}}," \
	"\"ws2\":{\"id\":\"" WS(S2, "ml2") "\",\"name\":\"ml2\"," \
	"\"type\":\"Microsoft.MachineLearningServices/workspaces\"," \
	"\"properties\":{\"publicNetworkAccess\":\"Disabled\"}}," \
	"\"other\":{\"id\":\"/subscriptions/" S3 "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1\"," \
	"\"name\":\"st1\",\"type\":\"Microsoft.Storage/storageAccounts\"}}," \
	"\"pricings\":{\"" S1 "\":{\"AI\":{\"properties\":{\"pricingTier\":\"Standard\"}}}}," \
	"\"management_groups\":{\"mg-ai\":[\"" S2 "\",\"" S3 "\"]}}"
/* clang-format on */

/* --- tests -------------------------------------------------------------------------------- */

/* clang-format off */
START_TEST(estate_of_2500_resources_over_three_pages)
{
	struct harness h;
	struct aw_posture_inventory *inv;
	double secs = 0;
	size_t results = 0, accounts = 0;

	emu_start("{\"generate\":[{\"count\":2500,\"subscription\":\"" S1 "\","
		  "\"resource_group\":\"rg-gen\",\"type\":\"Microsoft.CognitiveServices/accounts\","
		  "\"kind\":\"OpenAI\",\"name_prefix\":\"aoai-\",\"properties\":{"
		  "\"publicNetworkAccess\":\"Disabled\",\"disableLocalAuth\":true},"
		  "\"_emu\":{\"deployments\":[{\"name\":\"gpt-4o\",\"properties\":{"
		  "\"raiPolicyName\":\"Microsoft.DefaultV2\"}}],\"diagnosticSettings\":" DIAG_OK "}}]}",
		  NULL);
	h_start(&h);
	strlist(&h.scope.subscriptions, S1, NULL);
	h.cc.concurrency = 8;
	inv = collect(&h, &secs);

	/* Every resource with its child and its settings, and the subscription's plan. */
	ck_assert_msg(inv->complete, "%s", inv->error);
	ck_assert_uint_eq(inv->failed_reads, 0);
	ck_assert_str_eq(inv->error, "");
	ck_assert_uint_eq(count_type(inv, "Microsoft.CognitiveServices/accounts"), 2500);
	ck_assert_uint_eq(count_type(inv, "Microsoft.CognitiveServices/accounts/deployments"), 2500);
	ck_assert_uint_eq(count_type(inv, "Microsoft.Security/pricings"), 1);
	ck_assert_uint_eq(json_object_array_length(inv->resources), 5001);
	/* In id order, each resource followed by its children. */
	json_object *first = json_object_array_get_idx(inv->resources, 0);
	ck_assert_str_eq(str_of(first, "name"), "aoai-00000");
	ck_assert_str_eq(str_of(json_object_array_get_idx(inv->resources, 1), "id"),
			 "/subscriptions/" S1 "/resourceGroups/rg-gen/providers/"
			 "Microsoft.CognitiveServices/accounts/aoai-00000/deployments/gpt-4o");
	ck_assert_str_eq(str_of(json_object_array_get_idx(inv->resources, 4998), "name"),
			 "aoai-02499");
	ck_assert_str_eq(str_of(json_object_array_get_idx(inv->resources, 5000), "id"),
			 PRICING(S1));
	json_object *settings = NULL;
	ck_assert(json_object_object_get_ex(meta(first), "diagnosticSettings", &settings));
	ck_assert_uint_eq(json_object_array_length(settings), 1);

	/* Three Resource Graph pages (1000, 1000, 500): one query and two $skipTokens;
	 * one listing and one settings read per account, one plan read. */
	ck_assert_uint_eq(emu_requests(RG_PATH, NULL), 3);
	char *log = aw_test_emu_get(&g_emu, "/_emulator/requests?path=" RG_PATH);
	ck_assert_uint_eq(aw_test_occurrences(log, "\\\"$skipToken\\\""), 2);
	ck_assert_uint_eq(aw_test_occurrences(log, "\\\"$top\\\":1000"), 3);
	ck_assert_uint_eq(aw_test_occurrences(log, "\\\"resultFormat\\\":\\\"objectArray\\\""), 3);
	ck_assert_uint_eq(aw_test_occurrences(log, "resources | where type in~ ("), 3);
	ck_assert_uint_eq(aw_test_occurrences(log, "order by id asc"), 3);
	free(log);
	ck_assert_uint_eq(emu_requests("/subscriptions/" S1 "/resourceGroups/rg-gen/", "/deployments"), 2500);
	ck_assert_uint_eq(emu_requests("/subscriptions/" S1 "/resourceGroups/rg-gen/",
				       "/providers/Microsoft.Insights/diagnosticSettings"), 2500);
	ck_assert_uint_eq(emu_requests(PRICING(S1), NULL), 1);

	/* Every element is evaluated. */
	for (size_t i = 0; i < json_object_array_length(inv->resources); i++) {
		json_object *e = json_object_array_get_idx(inv->resources, i);
		size_t n = aw_posture_evaluate(e, count_results, &results);
		ck_assert_msg(n > 0, "no check applied to %s", str_of(e, "id"));
		if (strcasecmp(str_of(e, "type"), "microsoft.cognitiveservices/accounts") == 0)
			accounts++;
	}
	ck_assert_uint_eq(accounts, 2500);
	ck_assert_uint_ge(results, 2500 * 9 + 1);
	struct one_result r = result_of(inv, "/subscriptions/" S1 "/resourceGroups/rg-gen/providers/"
					"Microsoft.CognitiveServices/accounts/aoai-01234", "AIW-CS-008");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	ck_assert_uint_eq(aw_test_log_count("msg=\"estate read\""), 1);
	printf("posture: 2,500 resources, 2,500 children, 5,004 requests read in %.2f s\n", secs);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(children_settings_and_plans)
{
	struct harness h;
	struct aw_posture_inventory *inv;
	struct one_result r;

	emu_start(SMALL_ESTATE, NULL);
	/* S3 holds no AI resource and has no plan at all: ARM answers 404, which the
	 * collector stands in for with the Free tier. */
	aw_test_emu_fault(&g_emu, "{\"path\":\"" PRICING(S3) "\",\"status\":404,\"body\":"
				  "\"{\\\"error\\\":{\\\"code\\\":\\\"ResourceNotFound\\\","
				  "\\\"message\\\":\\\"no plan\\\"}}\"}");
	h_start(&h);
	strlist(&h.scope.subscriptions, S1, S2);
	h.scope.subscriptions.v[h.scope.subscriptions.n++] = strdup(S3);
	inv = collect(&h, NULL);
	ck_assert_msg(inv->complete, "%s", inv->error);
	ck_assert_uint_eq(inv->failed_reads, 0);

	/* Only the three types (the storage account is not asked for); children paged. */
	ck_assert_ptr_null(element(inv, "/subscriptions/" S3 "/resourceGroups/rg/providers/"
				   "Microsoft.Storage/storageAccounts/st1"));
	ck_assert_uint_eq(count_type(inv, "Microsoft.CognitiveServices/accounts/deployments"), 3);
	ck_assert_uint_eq(count_type(inv, "Microsoft.MachineLearningServices/workspaces/computes"), 1);
	ck_assert_uint_eq(count_type(inv, "Microsoft.KeyVault/vaults/secrets"), 2);
	ck_assert_uint_eq(emu_requests(ACCT(S1, "aoai1") "/deployments", NULL), 2);
	ck_assert_uint_eq(emu_requests(ACCT(S1, "aoai1"), NULL), 3); /* + settings */
	/* 4 resources + 6 children + 3 plans, each resource before its children */
	ck_assert_uint_eq(json_object_array_length(inv->resources), 13);
	static const char *const order[] = {
	    ACCT(S1, "aoai1"), ACCT(S1, "aoai1") "/deployments/gpt-4o",
	    ACCT(S1, "aoai1") "/deployments/gpt-4o-mini", ACCT(S1, "aoai1") "/deployments/embed",
	    VAULT(S1, "kv1"), VAULT(S1, "kv1") "/secrets/never", VAULT(S1, "kv1") "/secrets/expiring",
	    WS(S1, "ml1"), WS(S1, "ml1") "/computes/ci1", WS(S2, "ml2"),
	    PRICING(S1), PRICING(S2), PRICING(S3)};
	for (size_t i = 0; i < 13; i++)
		ck_assert_str_eq(str_of(json_object_array_get_idx(inv->resources, i), "id"), order[i]);

	/* Children carry their ARM type and their parent's subscription; never a value. */
	json_object *secret = element(inv, VAULT(S1, "kv1") "/secrets/never");
	ck_assert_str_eq(str_of(secret, "type"), "Microsoft.KeyVault/vaults/secrets");
	ck_assert_str_eq(str_of(secret, "subscriptionId"), S1);
	ck_assert_str_eq(str_of(secret, "resourceGroup"), "rg-kv");
	ck_assert_ptr_null(strstr(json_object_to_json_string(inv->resources), "must-never-be-kept"));
	ck_assert_uint_eq(emu_requests("/kv/", NULL), 0);

	/* What the checks make of it. */
	r = result_of(inv, ACCT(S1, "aoai1"), "AIW-CS-008");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	r = result_of(inv, VAULT(S1, "kv1"), "AIW-KV-005"); /* settings read: there are none */
	ck_assert_int_eq(r.status, AW_POSTURE_FAIL);
	r = result_of(inv, WS(S2, "ml2"), "AIW-ML-003");
	ck_assert_int_eq(r.status, AW_POSTURE_FAIL);
	r = result_of(inv, ACCT(S1, "aoai1") "/deployments/gpt-4o-mini", "AIW-CS-101");
	ck_assert_int_eq(r.status, AW_POSTURE_FAIL);
	r = result_of(inv, ACCT(S1, "aoai1") "/deployments/gpt-4o", "AIW-CS-101");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	r = result_of(inv, VAULT(S1, "kv1") "/secrets/never", "AIW-KV-101");
	ck_assert_int_eq(r.status, AW_POSTURE_FAIL);
	r = result_of(inv, VAULT(S1, "kv1") "/secrets/expiring", "AIW-KV-101");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	r = result_of(inv, WS(S1, "ml1") "/computes/ci1", "AIW-ML-102");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);

	/* Plans: S1 Standard; S2 Free as ARM said; S3 the stand-in for no plan. */
	r = result_of(inv, PRICING(S1), "AIW-DEF-001");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	r = result_of(inv, PRICING(S2), "AIW-DEF-001");
	ck_assert_int_eq(r.status, AW_POSTURE_FAIL);
	ck_assert_str_eq(r.actual, "Free");
	r = result_of(inv, PRICING(S3), "AIW-DEF-001");
	ck_assert_int_eq(r.status, AW_POSTURE_FAIL);
	ck_assert_msg(strstr(r.actual, "absent"), "%s", r.actual);
	json_object *free_plan = element(inv, PRICING(S3));
	ck_assert_str_eq(str_of(free_plan, "type"), "Microsoft.Security/pricings");
	ck_assert_str_eq(str_of(free_plan, "name"), "AI");
	ck_assert_str_eq(str_of(free_plan, "subscriptionId"), S3);
	ck_assert_ptr_null(meta(free_plan));

	/* Children and diagnostics off: one Resource Graph query and the plans, and the
	 * logging checks say unknown rather than failing. */
	long st;
	free(aw_test_emu_call(&g_emu, "POST", "/_emulator/reset", "", &st));
	h.cc.children = false;
	h.cc.diagnostics = false;
	aw_posture_collector_close(h.c, NULL, NULL);
	h.c = NULL;
	inv = collect(&h, NULL);
	ck_assert(inv->complete);
	ck_assert_uint_eq(json_object_array_length(inv->resources), 7);
	ck_assert_uint_eq(emu_requests("/subscriptions/", NULL), 3);
	r = result_of(inv, ACCT(S1, "aoai1"), "AIW-CS-008");
	ck_assert_int_eq(r.status, AW_POSTURE_UNKNOWN);
	r = result_of(inv, ACCT(S1, "aoai1"), "AIW-CS-001");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(failed_reads_make_checks_unknown)
{
	struct harness h;
	struct aw_posture_inventory *inv;
	struct one_result r;
	const char *err;

	/* The account's settings answer 403: its logging check is unknown, never a pass
	 * or a fail; its other checks and the rest of the estate are read as usual. */
	emu_start("{\"resources\":{\"acct\":{\"id\":\"" ACCT(S1, "aoai1") "\",\"name\":\"aoai1\","
		  "\"type\":\"Microsoft.CognitiveServices/accounts\"," ACCOUNT_OK ","
		  "\"_emu\":{\"diagnosticSettings\":" DIAG_OK ",\"fail\":{\"diagnosticSettings\":403}}},"
		  "\"acct2\":{\"id\":\"" ACCT(S1, "aoai2") "\",\"name\":\"aoai2\","
		  "\"type\":\"Microsoft.CognitiveServices/accounts\"," ACCOUNT_OK ","
		  "\"_emu\":{\"diagnosticSettings\":" DIAG_OK "}}}}", NULL);
	aw_test_emu_fault(&g_emu, "{\"path\":\"" PRICING(S1) "\",\"status\":403,\"body\":"
				  "\"{\\\"error\\\":{\\\"code\\\":\\\"AuthorizationFailed\\\","
				  "\\\"message\\\":\\\"no access to plans\\\"}}\"}");
	h_start(&h);
	inv = collect(&h, NULL);
	/* Settings and plans do not decide what exists: the inventory is still complete. */
	ck_assert(inv->complete);
	ck_assert_uint_eq(inv->failed_reads, 2);
	/* The first failure, whichever came back first, with the URL and request id. */
	ck_assert_msg((strstr(inv->error, "diagnosticSettings of " ACCT(S1, "aoai1") ": GET http") ||
		       strstr(inv->error, "pricing of " PRICING(S1) ": GET http")) &&
			  strstr(inv->error, "HTTP 403 AuthorizationFailed") &&
			  strstr(inv->error, "x-ms-request-id"),
		      "%s", inv->error);
	err = str_of(meta(element(inv, ACCT(S1, "aoai1"))), "error");
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strncmp(err, "diagnosticSettings: HTTP 403 AuthorizationFailed: The client",
			      60) == 0, "%s", err);
	ck_assert_ptr_null(strstr(err, "x-ms-request-id"));
	r = result_of(inv, ACCT(S1, "aoai1"), "AIW-CS-008");
	ck_assert_int_eq(r.status, AW_POSTURE_UNKNOWN);
	ck_assert_msg(strstr(r.actual, "diagnosticSettings: HTTP 403"), "%s", r.actual);
	r = result_of(inv, ACCT(S1, "aoai1"), "AIW-CS-004");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	r = result_of(inv, ACCT(S1, "aoai2"), "AIW-CS-008");
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	ck_assert_ptr_null(str_of(meta(element(inv, ACCT(S1, "aoai2"))), "error"));
	/* The plan could not be read: unknown, not Free. */
	ck_assert_str_eq(str_of(meta(element(inv, PRICING(S1))), "error"),
			 "pricing: HTTP 403 AuthorizationFailed: no access to plans");
	r = result_of(inv, PRICING(S1), "AIW-DEF-001");
	ck_assert_int_eq(r.status, AW_POSTURE_UNKNOWN);
	ck_assert_uint_eq(aw_test_log_count("read failed; the checks that need it report unknown"),
			  2);

	/* A child listing that fails: children may be missing, so the inventory is not
	 * complete, and the parent says why. */
	long st;
	free(aw_test_emu_call(&g_emu, "POST", "/_emulator/config",
			      "{\"estate\":{\"resources\":{\"acct2\":{\"_emu\":{\"fail\":{"
			      "\"deployments\":403}}}}}}", &st));
	ck_assert_int_eq(st, 200);
	inv = collect(&h, NULL);
	ck_assert(!inv->complete);
	err = str_of(meta(element(inv, ACCT(S1, "aoai2"))), "error");
	ck_assert_msg(err && strncmp(err, "deployments: HTTP 403 AuthorizationFailed", 41) == 0, "%s", err ? err : "-");
	r = result_of(inv, ACCT(S1, "aoai2"), "AIW-CS-008"); /* its settings were read */
	ck_assert_int_eq(r.status, AW_POSTURE_PASS);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(management_group_scope)
{
	struct harness h;
	struct aw_posture_inventory *inv;

	emu_start(SMALL_ESTATE, NULL);
	h_start(&h);
	strlist(&h.scope.management_groups, "mg-ai", NULL);
	inv = collect(&h, NULL);
	ck_assert(inv->complete);
	/* mg-ai holds S2 and S3: only ml2 (S3's storage account is not an AI type), and the
	 * plan of the one subscription that has an AI resource. */
	ck_assert_uint_eq(json_object_array_length(inv->resources), 2);
	ck_assert_ptr_nonnull(element(inv, WS(S2, "ml2")));
	ck_assert_ptr_nonnull(element(inv, PRICING(S2)));
	char *log = aw_test_emu_get(&g_emu, "/_emulator/requests?path=" RG_PATH);
	ck_assert_msg(strstr(log, "\\\"managementGroups\\\":[\\\"mg-ai\\\"]"), "%s", log);
	ck_assert_ptr_null(strstr(log, "\\\"subscriptions\\\""));
	free(log);
	ck_assert_uint_eq(emu_requests(PRICING(S1), NULL), 0);

	/* A group the caller cannot see: Resource Graph refuses, the read fails. */
	free(h.scope.management_groups.v[0]);
	h.scope.management_groups.v[0] = strdup("mg-unknown");
	inv = collect(&h, NULL);
	ck_assert(!inv->complete);
	ck_assert_msg(strstr(inv->error, "Resource Graph: POST ") &&
		      strstr(inv->error, "mg-unknown"), "%s", inv->error);
	ck_assert_uint_eq(json_object_array_length(inv->resources), 0);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

/* More subscriptions than one Resource Graph query should carry (PC_GRAPH_BATCH, 300):
 * one listing per 300, every resource of every batch in the inventory, every plan read. */
START_TEST(subscriptions_in_batches_of_300)
{
	struct harness h;
	struct aw_posture_inventory *inv;
	char id[40];

	emu_start(SMALL_ESTATE, NULL);
	h_start(&h);
	/* S1 first, S2 301st: the second query carries S2 alone */
	h.scope.subscriptions.v = calloc(301, sizeof *h.scope.subscriptions.v);
	ck_assert_ptr_nonnull(h.scope.subscriptions.v);
	h.scope.subscriptions.v[h.scope.subscriptions.n++] = strdup(S1);
	for (int i = 1; i < 300; i++) {
		snprintf(id, sizeof id, "00000000-0000-0000-0000-%012d", i);
		h.scope.subscriptions.v[h.scope.subscriptions.n++] = strdup(id);
	}
	h.scope.subscriptions.v[h.scope.subscriptions.n++] = strdup(S2);
	inv = collect(&h, NULL);
	ck_assert_msg(inv->complete, "%s", inv->error);
	ck_assert_ptr_nonnull(element(inv, ACCT(S1, "aoai1")));
	ck_assert_ptr_nonnull(element(inv, WS(S2, "ml2")));
	ck_assert_uint_eq(emu_requests(RG_PATH, NULL), 2);
	char *log = aw_test_emu_get(&g_emu, "/_emulator/requests?path=" RG_PATH);
	ck_assert_uint_eq(aw_test_occurrences(log, S1), 1);
	ck_assert_uint_eq(aw_test_occurrences(log, S2), 1);
	ck_assert_uint_eq(aw_test_occurrences(log, "00000000-0000-0000-0000-000000000299"), 1);
	free(log);
	/* a plan for every configured subscription, those without resources too */
	ck_assert_uint_eq(emu_requests(PRICING(S2), NULL), 1);
	ck_assert_uint_eq(emu_requests("/subscriptions/00000000-0000-0000-0000-000000000299/", NULL), 1);
	ck_assert_ptr_nonnull(element(inv, PRICING("00000000-0000-0000-0000-000000000150")));
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(throttled_page_still_completes)
{
	struct harness h;
	struct aw_posture_inventory *inv;

	emu_start("{\"generate\":[{\"count\":25,\"subscription\":\"" S1 "\","
		  "\"type\":\"Microsoft.KeyVault/vaults\",\"name_prefix\":\"kv-\","
		  "\"properties\":{\"enablePurgeProtection\":true}}]}", NULL);
	/* The first page answers as usual (a fault that only adds a header), the second
	 * is throttled twice with Retry-After, then answered. */
	aw_test_emu_fault(&g_emu, "[{\"path\":\"" RG_PATH "\",\"headers\":{\"x-test\":\"1\"}},"
				  "{\"path\":\"" RG_PATH "\",\"status\":429,\"retry_after_s\":1,"
				  "\"times\":2,"
				  "\"body\":\"{\\\"error\\\":{\\\"code\\\":\\\"RateLimiting\\\","
				  "\\\"message\\\":\\\"throttled\\\"}}\"}]");
	h_start(&h);
	h.cc.page_size = 10;
	h.cc.children = false;
	inv = collect(&h, NULL);
	ck_assert_msg(inv->complete, "%s", inv->error);
	ck_assert_uint_eq(count_type(inv, "Microsoft.KeyVault/vaults"), 25);
	ck_assert_uint_eq(emu_requests(RG_PATH, NULL), 5); /* 3 pages + 2 throttled */
	char *log = aw_test_emu_get(&g_emu, "/_emulator/requests?path=" RG_PATH);
	ck_assert_uint_eq(aw_test_occurrences(log, "\\\"$top\\\":10"), 5);
	free(log);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(max_resources_is_a_ceiling)
{
	struct harness h;
	struct aw_posture_inventory *inv;

	emu_start("{\"generate\":[{\"count\":30,\"subscription\":\"" S1 "\","
		  "\"type\":\"Microsoft.CognitiveServices/accounts\",\"name_prefix\":\"a-\","
		  "\"_emu\":{\"deployments\":[{\"name\":\"d1\"},{\"name\":\"d2\"}]}}]}", NULL);
	h_start(&h);
	h.cc.page_size = 10;
	h.cc.max_resources = 15;
	h.cc.diagnostics = false;
	inv = collect(&h, NULL);
	ck_assert(!inv->complete);
	ck_assert_msg(strstr(inv->error, "more than 15 resources (max_resources)"), "%s",
		      inv->error);
	/* 15 resources and children in all (and the plan), no page past the ceiling. */
	ck_assert_uint_eq(json_object_array_length(inv->resources), 16);
	ck_assert_uint_le(emu_requests(RG_PATH, NULL), 2);
	/* A resource whose children were not read says so: its checks are not judged on
	 * a partial listing. */
	size_t noted = 0;
	for (size_t i = 0; i < json_object_array_length(inv->resources); i++) {
		const char *e = str_of(meta(json_object_array_get_idx(inv->resources, i)), "error");
		if (e && strstr(e, "max_resources"))
			noted++;
	}
	ck_assert_uint_ge(noted, 1);
	ck_assert_uint_eq(aw_test_log_count("the estate is larger than max_resources"), 1);

	/* The ceiling met on the first page, before any child listing has started, with
	 * one slot: every queued listing is skipped (and says so), the rest still runs. */
	aw_posture_collector_close(h.c, NULL, NULL);
	h.c = NULL;
	h.cc.page_size = 30;
	h.cc.max_resources = 20;
	h.cc.concurrency = 1;
	inv = collect(&h, NULL);
	ck_assert(!inv->complete);
	ck_assert_uint_eq(json_object_array_length(inv->resources), 21);
	for (size_t i = 0; i < 20; i++)
		ck_assert_str_eq(str_of(meta(json_object_array_get_idx(inv->resources, i)), "error"),
				 "diagnosticSettings: not read (diagnostics: false); deployments: "
				 "not read: more than max_resources resources");
	ck_assert_str_eq(str_of(json_object_array_get_idx(inv->resources, 20), "id"), PRICING(S1));
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

static void never(void *ud, struct aw_posture_inventory *inv)
{
	ck_abort_msg("done() after close");
}

START_TEST(close_while_reading)
{
	struct harness h;
	struct aw_error err = {{0}};

	emu_start(SMALL_ESTATE, NULL);
	/* Every settings read takes 3 s: close in the middle of them. */
	aw_test_emu_fault(&g_emu, "{\"path\":\"/subscriptions/\",\"delay_ms\":3000,\"times\":100}");
	h_start(&h);
	strlist(&h.scope.subscriptions, S1, NULL);
	ck_assert_int_eq(aw_posture_collector_new(&h.cc, &h.c, &err), 0);
	ck_assert_int_eq(aw_posture_collect(h.c, never, &h, &err), 0);
	aw_test_run_until(&h.run.loop, NULL, NULL, 800);
	ck_assert(aw_posture_collecting(h.c));
	ck_assert_uint_eq(emu_requests(RG_PATH, NULL), 1);
	h_stop(&h);
	ck_assert(h.closed);
	aw_test_emu_stop(&g_emu);
}
END_TEST
/* clang-format on */

/* --- the input's conf --------------------------------------------------------------------- */

static void check_conf(const char *yaml, const char *want)
{
	struct aw_error_list errs = {0};
	struct aw_doc *doc = NULL;
	struct aw_posture_conf conf;

	memset(&conf, 0, sizeof conf);
	ck_assert_int_eq(aw_doc_load_buffer("t.yaml", yaml, strlen(yaml), &doc, &errs), 0);
	aw_options_apply(aw_posture_options, doc->root, &conf, "inputs[0]", 0600, &errs);
	if (errs.n == 0)
		aw_posture_conf_validate(&conf, "inputs[0]", &errs);
	if (!want) {
		ck_assert_msg(errs.n == 0, "%s: %s", yaml, errs.msgs[0]);
	} else {
		ck_assert_msg(errs.n >= 1, "no error for %s", yaml);
		ck_assert_msg(strstr(errs.msgs[0], want), "%s: got %s", yaml, errs.msgs[0]);
	}
	aw_error_list_free(&errs);
	aw_options_free(aw_posture_options, &conf);
	aw_doc_free(doc);
}

START_TEST(conf_defaults_and_errors)
{
	struct aw_posture_conf c;
	struct aw_posture_collect_conf cc = {0};

	ck_assert_int_eq(aw_options_defaults(aw_posture_options, &c, NULL), 0);
	ck_assert_str_eq(c.arm_endpoint, "https://management.azure.com");
	ck_assert_str_eq(c.token_scope, AW_POSTURE_SCOPE_ARM);
	ck_assert_uint_eq(c.interval_ms, 3600000);
	ck_assert_int_eq(c.page_size, 1000);
	ck_assert_int_eq(c.concurrency, 4);
	ck_assert(c.children && c.diagnostics);
	ck_assert_int_eq(c.max_resources, 100000);
	ck_assert_int_eq(c.max_findings, 200000);
	aw_posture_collect_conf_from(&c, &cc);
	ck_assert_ptr_eq(cc.arm_endpoint, c.arm_endpoint);
	ck_assert_ptr_eq(cc.scope, &c.scope);
	ck_assert_uint_eq(cc.page_size, 1000);
	ck_assert_uint_eq(cc.concurrency, 4);
	ck_assert_uint_eq(cc.max_resources, 100000);
	aw_options_free(aw_posture_options, &c);

	check_conf("interval: 1h\n", NULL);
	check_conf("subscriptions: [" S1 ", " S2 "]\npage_size: 500\n", NULL);
	check_conf("management_groups: [mg-ai]\n", NULL);
	check_conf("subscriptions: [not-a-guid]\n", "inputs[0].subscriptions[0]: 'not-a-guid' is "
						    "not a subscription id");
	check_conf("subscriptions: [" S1 ", " S1 "]\n", "listed twice");
	check_conf("management_groups: [\"bad/group\"]\n", "is not a management group id");
	check_conf("subscriptions: [" S1 "]\nmanagement_groups: [mg]\n",
		   "Resource Graph takes one or the other");
	check_conf("arm_endpoint: ftp://x\n", "inputs[0].arm_endpoint: expected an https:// URL");
	check_conf("page_size: 0\n", "page_size");
	check_conf("concurrency: 100\n", "concurrency");
	check_conf("credential:\n  kind: client_secret\n", "inputs[0].credential");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("posture_collect");
	TCase *t = tcase_create("emulator");

	aw_test_harness_fixture(t);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, estate_of_2500_resources_over_three_pages);
	tcase_add_test(t, children_settings_and_plans);
	tcase_add_test(t, failed_reads_make_checks_unknown);
	tcase_add_test(t, management_group_scope);
	tcase_add_test(t, subscriptions_in_batches_of_300);
	tcase_add_test(t, throttled_page_still_completes);
	tcase_add_test(t, max_resources_is_a_ceiling);
	tcase_add_test(t, close_while_reading);
	tcase_add_test(t, conf_defaults_and_errors);
	suite_add_tcase(s, t);
	return s;
}

AW_TEST_MAIN(suite)
