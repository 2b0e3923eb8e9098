/* The posture input on a real loop and pipeline (forward mode) against the Azure
 * emulator's estate: the first pass reports every failing check as Appeared, a fix is
 * Resolved, a value that changes while still failing is Changed, a deleted resource is
 * Resolved, a check that cannot be evaluated changes nothing, a restart with the same
 * state directory reports nothing twice, and a change that never became durable before
 * a crash is reported again under the same _ItemId. Assertions are on the events'
 * columns, as a SIEM sees them. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_harness.h"
#include "posture.h"

extern const struct aw_plugin_desc aw_in_posture;

#define S1	"11111111-1111-1111-1111-111111111111"
#define RG_PATH "/providers/Microsoft.ResourceGraph/resources"
#define LAW                                                                                        \
	"/subscriptions/" S1                                                                       \
	"/resourceGroups/rg-sec/providers/Microsoft.OperationalInsights/workspaces/law"
#define ACCT                                                                                       \
	"/subscriptions/" S1                                                                       \
	"/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai1"
#define VAULT  "/subscriptions/" S1 "/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv1"
#define SECRET VAULT "/secrets/never"

static struct aw_test_emu g_emu;

static const struct aw_test_harness_conf g_hc =
    AW_TEST_ARM_INPUT_CONF(&aw_in_posture, "pos", &g_emu);

/* Start everything with the input (desc: aw_in_posture or a wrapper) configured by
 * `yaml` (the emulator's endpoint is added as arm_endpoint). */
static void h_start(struct aw_test_harness *h, const struct aw_plugin_desc *desc, const char *yaml)
{
	struct aw_test_harness_conf c = g_hc;

	c.input = desc;
	aw_test_harness_start(h, &c, yaml);
}

static void emu_start(const char *estate)
{
	aw_test_emu_start_azure(&g_emu, "\"estate\":%s", estate);
}

/* The one captured event of check on resource (with a Change, when given). */
static json_object *event_of(const char *check, const char *resource, const char *change)
{
	json_object *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < aw_test_cap.n; i++) {
		json_object *ev = json_tokener_parse(aw_test_cap.recs[i]), *v;
		bool match = ev && json_object_object_get_ex(ev, "CheckId", &v) &&
			     strcmp(json_object_get_string(v), check) == 0 &&
			     json_object_object_get_ex(ev, "ResourceId", &v) &&
			     strcmp(json_object_get_string(v), resource) == 0 &&
			     (!change || (json_object_object_get_ex(ev, "Change", &v) &&
					  strcmp(json_object_get_string(v), change) == 0));
		if (match && !found) {
			found = ev;
			n++;
			continue;
		}
		n += match;
		json_object_put(ev);
	}
	ck_assert_msg(n == 1, "%zu events for %s on %s (%s)", n, check, resource,
		      change ? change : "any");
	return found;
}

#define POLLS_FAILED "aiwatch_posture_polls_total{input=\"pos\",result=\"failed\"}"
#define EVENTS(c)    "aiwatch_posture_events_total{input=\"pos\",change=\"" c "\"}"
#define RESULTS(r)   "aiwatch_posture_results_total{input=\"pos\",result=\"" r "\"}"
#define FINDINGS(s)  "aiwatch_posture_findings{input=\"pos\",severity=\"" s "\"}"

/* An account and a vault in S1, hardened but for four things: the account's public
 * network access (Enabled) and local auth (false), the vault's purge protection
 * (absent: false), and a secret that never expires. */
/* clang-format off */
#define DIAG_OK "[{\"name\":\"to-law\",\"properties\":{\"workspaceId\":\"" LAW "\"," \
	"\"logs\":[{\"categoryGroup\":\"allLogs\",\"enabled\":true}]}}]"
#define ESTATE \
	"{\"resources\":{" \
	"\"acct\":{\"id\":\"" ACCT "\",\"name\":\"aoai1\"," \
	"\"type\":\"Microsoft.CognitiveServices/accounts\",\"kind\":\"OpenAI\"," \
	"\"properties\":{\"publicNetworkAccess\":\"Enabled\",\"disableLocalAuth\":false," \
	"\"networkAcls\":{\"defaultAction\":\"Deny\",\"ipRules\":[]}," \
	"\"restrictOutboundNetworkAccess\":true,\"privateEndpointConnections\":[{\"properties\":" \
	"{\"privateLinkServiceConnectionState\":{\"status\":\"Approved\"}}}]}," \
	"\"identity\":{\"type\":\"SystemAssigned\"},\"_emu\":{" \
	"\"deployments\":[{\"name\":\"gpt-4o\",\"properties\":{\"raiPolicyName\":\"Microsoft.DefaultV2\"}}]," \
	"\"diagnosticSettings\":" DIAG_OK "}}," \
	"\"vault\":{\"id\":\"" VAULT "\",\"name\":\"kv1\",\"type\":\"Microsoft.KeyVault/vaults\"," \
	"\"properties\":{\"enableRbacAuthorization\":true,\"publicNetworkAccess\":\"Disabled\"," \
	"\"enableSoftDelete\":true},\"_emu\":{\"secrets\":[{\"name\":\"never\",\"properties\":" \
	"{\"attributes\":{\"enabled\":true}}}],\"diagnosticSettings\":" DIAG_OK "}}}," \
	"\"pricings\":{\"" S1 "\":{\"AI\":{\"properties\":{\"pricingTier\":\"Standard\"}}}}}"
#define YAML "subscriptions: [" S1 "]\ninterval: 1s\n"
/* clang-format on */

/* --- tests ------------------------------------------------------------------------------ */

/* The input with durable() held back by the test: as if the spool never confirmed
 * before the process died. */
static struct aw_plugin_desc g_held_desc;

static void held_durable(void *state, uint64_t seq)
{
}

static const struct aw_plugin_desc *held_desc(void)
{
	g_held_desc = aw_in_posture;
	g_held_desc.durable = held_durable;
	return &g_held_desc;
}

START_TEST(appeared_changed_resolved_across_restarts)
{
	struct aw_test_harness h;
	json_object *ev, *ctl, *v;
	char why[512], first_cs001[64];

	emu_start(ESTATE);
	h_start(&h, &aw_in_posture, YAML);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "first pass not finished"), "%s", why);

	/* Pass 1: every failing check once, as Appeared. */
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 4);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	ev = event_of("AIW-CS-001", ACCT, "Appeared");
	ck_assert_str_eq(aw_test_col(ev, "Type"), "AIWatchPosture");
	const char *tg = aw_test_col(ev, "TimeGenerated"); /* the pass's time, ISO 8601 UTC */
	ck_assert_int_eq((int)strlen(tg), 24);
	ck_assert(tg[4] == '-' && tg[10] == 'T' && tg[19] == '.' && tg[23] == 'Z');
	ck_assert_str_lt(tg, "2100");
	ck_assert_str_gt(tg, "2024");
	ck_assert_int_eq((int)strlen(aw_test_col(ev, "_ItemId")), 32);
	snprintf(first_cs001, sizeof first_cs001, "%s", aw_test_col(ev, "_ItemId"));
	ck_assert_str_eq(aw_test_col(ev, "CheckTitle"),
			 "Azure AI account: public network access disabled");
	ck_assert_str_eq(aw_test_col(ev, "Area"), "Network");
	ck_assert_str_eq(aw_test_col(ev, "Severity"), "High");
	ck_assert_str_eq(aw_test_col(ev, "ResourceId"), ACCT);
	ck_assert_str_eq(aw_test_col(ev, "_ResourceId"), ACCT);
	ck_assert_str_eq(aw_test_col(ev, "ResourceType"), "Microsoft.CognitiveServices/accounts");
	ck_assert_str_eq(aw_test_col(ev, "ResourceName"), "aoai1");
	ck_assert_str_eq(aw_test_col(ev, "SubscriptionId"), S1);
	ck_assert_str_eq(aw_test_col(ev, "PropertyPath"), "properties.publicNetworkAccess");
	ck_assert_str_eq(aw_test_col(ev, "Expected"), "Disabled");
	ck_assert_str_eq(aw_test_col(ev, "Actual"), "Enabled");
	ck_assert_str_eq(aw_test_col(ev, "PreviousActual"), "");
	ck_assert_str_eq(aw_test_col(ev, "Status"), "Failed");
	ck_assert_str_eq(aw_test_col(ev, "Change"), "Appeared");
	ck_assert_str_eq(aw_test_col(ev, "Baseline"),
			 "Private endpoints with public network access disabled");
	ck_assert_msg(strstr(aw_test_col(ev, "Remediation"), "publicNetworkAccess=Disabled"), "%s",
		      aw_test_col(ev, "Remediation"));
	ck_assert(json_object_object_get_ex(ev, "Controls", &ctl));
	ck_assert(json_object_is_type(ctl, json_type_object));
	for (int fw = 0; fw < AW_FW_COUNT; fw++) {
		const struct aw_posture_check *c = aw_posture_check_find("AIW-CS-001");
		const char *const *want =
		    aw_posture_check_controls(c, (enum aw_posture_framework)fw);
		size_t n = 0;

		ck_assert(json_object_object_get_ex(
		    ctl, aw_posture_framework_name((enum aw_posture_framework)fw), &v));
		for (; want && want[n]; n++)
			ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, n)),
					 want[n]);
		ck_assert_uint_eq(json_object_array_length(v), n);
		ck_assert_uint_ge(n, 1);
	}
	json_object_put(ev);
	ev = event_of("AIW-CS-004", ACCT, "Appeared");
	ck_assert_str_eq(aw_test_col(ev, "Actual"), "false");
	json_object_put(ev);
	ev = event_of("AIW-KV-001", VAULT, "Appeared");
	ck_assert_str_eq(aw_test_col(ev, "Actual"), "absent (default: false)");
	ck_assert_str_eq(aw_test_col(ev, "ResourceName"), "kv1");
	json_object_put(ev);
	ev = event_of("AIW-KV-101", SECRET, "Appeared");
	ck_assert_str_eq(aw_test_col(ev, "ResourceType"), "Microsoft.KeyVault/vaults/secrets");
	ck_assert_str_eq(aw_test_col(ev, "ResourceName"), "never");
	ck_assert_str_eq(aw_test_col(ev, "SubscriptionId"), S1);
	ck_assert_str_eq(aw_test_col(ev, "Severity"), "Medium");
	json_object_put(ev);
	ck_assert_double_eq(aw_test_harness_metric(&h, EVENTS("appeared")), 4);
	ck_assert_double_eq(aw_test_harness_metric(&h, FINDINGS("High")), 3);
	ck_assert_double_eq(aw_test_harness_metric(&h, FINDINGS("Medium")), 1);
	ck_assert_double_eq(aw_test_harness_metric(&h, RESULTS("fail")), 4);
	ck_assert_double_eq(aw_test_harness_metric(&h, RESULTS("unknown")), 0);
	/* 2 resources, a deployment, a secret, the plan */
	ck_assert_double_eq(aw_test_harness_metric(&h, "aiwatch_posture_resources{input=\"pos\"}"),
			    5);

	/* Pass 2, nothing changed: nothing to say. */
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 4);

	/* Pass 3: public access fixed (Resolved), local auth's value changes while still
	 * failing (Changed: the property is removed, so its default is what counts). */
	aw_test_emu_configure(
	    &g_emu, "{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
		    "\"publicNetworkAccess\":\"Disabled\",\"disableLocalAuth\":null}}}}}");
	aw_test_harness_wait_polls(&h, 3);
	ck_assert_uint_eq(aw_test_cap.n, 6);
	ev = event_of("AIW-CS-001", ACCT, "Resolved");
	ck_assert_str_eq(aw_test_col(ev, "Status"), "Passed");
	ck_assert_str_eq(aw_test_col(ev, "Actual"), "Disabled");
	ck_assert_str_eq(aw_test_col(ev, "PreviousActual"), "");
	ck_assert_str_ne(aw_test_col(ev, "_ItemId"), first_cs001);
	json_object_put(ev);
	ev = event_of("AIW-CS-004", ACCT, "Changed");
	ck_assert_str_eq(aw_test_col(ev, "Status"), "Failed");
	ck_assert_str_eq(aw_test_col(ev, "Actual"), "absent (default: false)");
	ck_assert_str_eq(aw_test_col(ev, "PreviousActual"), "false");
	json_object_put(ev);

	/* Pass 4: the vault is deleted, with its secret: both Resolved. */
	aw_test_emu_configure(&g_emu, "{\"estate\":{\"resources\":{\"vault\":null}}}");
	aw_test_harness_wait_polls(&h, 4);
	ck_assert_uint_eq(aw_test_cap.n, 8);
	ev = event_of("AIW-KV-001", VAULT, "Resolved");
	ck_assert_str_eq(aw_test_col(ev, "Actual"), "resource no longer exists");
	ck_assert_str_eq(aw_test_col(ev, "Status"), "Passed");
	ck_assert_str_eq(aw_test_col(ev, "ResourceName"), "kv1");
	ck_assert_str_eq(aw_test_col(ev, "ResourceType"), "Microsoft.KeyVault/vaults");
	ck_assert_str_eq(aw_test_col(ev, "SubscriptionId"), S1);
	ck_assert_str_eq(aw_test_col(ev, "CheckTitle"), "Key Vault: purge protection enabled");
	json_object_put(ev);
	ev = event_of("AIW-KV-101", SECRET, "Resolved");
	ck_assert_str_eq(aw_test_col(ev, "Actual"), "resource no longer exists");
	json_object_put(ev);
	ck_assert_double_eq(aw_test_harness_metric(&h, EVENTS("resolved")), 3);
	ck_assert_double_eq(aw_test_harness_metric(&h, EVENTS("changed")), 1);
	ck_assert_double_eq(aw_test_harness_metric(&h, FINDINGS("High")), 1);
	ck_assert_double_eq(aw_test_harness_metric(&h, FINDINGS("Medium")), 0);

	/* Pass 5 cannot read Resource Graph: an incomplete pass resolves nothing. */
	aw_test_emu_fault(&g_emu, "{\"path\":\"" RG_PATH "\",\"status\":403}");
	aw_test_harness_wait_polls(&h, 5);
	ck_assert_double_eq(aw_test_harness_metric(&h, POLLS_FAILED), 1);
	ck_assert_uint_eq(aw_test_cap.n, 8);
	aw_test_harness_stop(&h);

	/* A restart with the same state directory: what was reported is remembered. */
	char *table, *text;
	ck_assert_int_ge(asprintf(&table, "%s/inputs/pos/findings", aw_test_tmp.statedir), 0);
	text = aw_test_read(table, NULL);
	ck_assert_msg(
	    text && strstr(text, "[\"AIW-CS-004\",\"" ACCT "\",\"absent (default: false)\",2]"),
	    "findings table: %s", text ? text : "(missing)");
	free(text);
	free(table);
	aw_test_capture_reset();
	h_start(&h, &aw_in_posture, YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 0);
	ck_assert_double_eq(aw_test_harness_metric(&h, RESULTS("fail")), 1);
	aw_test_harness_stop(&h);

	/* Public access is opened again, and the process dies before the event is durable
	 * (durable() never comes): the state on disk does not have it... */
	aw_test_emu_configure(&g_emu, "{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
				      "\"publicNetworkAccess\":\"Enabled\"}}}}}");
	h_start(&h, held_desc(), YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 1);
	ev = event_of("AIW-CS-001", ACCT, "Appeared");
	char again[64];
	snprintf(again, sizeof again, "%s", aw_test_col(ev, "_ItemId"));
	/* A failure back after it was resolved is a new event, not the first one again. */
	ck_assert_str_ne(again, first_cs001);
	json_object_put(ev);
	aw_test_harness_stop(&h);

	/* ...so the next run reports it again, under the same _ItemId; then never again. */
	aw_test_capture_reset();
	h_start(&h, &aw_in_posture, YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 1);
	ev = event_of("AIW-CS-001", ACCT, "Appeared");
	ck_assert_str_eq(aw_test_col(ev, "_ItemId"), again);
	json_object_put(ev);
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 1);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(unknown_and_failed_passes_change_nothing)
{
	struct aw_test_harness h;
	char why[1024];

	emu_start(ESTATE);
	h_start(&h, &aw_in_posture, YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 4);

	/* The account's diagnostic settings can no longer be read, and local auth is
	 * turned off meanwhile: the logging check is unknown (no event, counted, logged
	 * once over two passes), the rest is judged as usual. */
	aw_test_emu_configure(
	    &g_emu,
	    "{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
	    "\"disableLocalAuth\":true},\"_emu\":{\"fail\":{\"diagnosticSettings\":403}}}}}}");
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 5);
	json_object *ev = event_of("AIW-CS-004", ACCT, "Resolved");
	json_object_put(ev);
	ck_assert_double_eq(aw_test_harness_metric(&h, RESULTS("unknown")), 1);
	ck_assert_double_eq(
	    aw_test_harness_metric(&h, "aiwatch_posture_failed_reads_total{input=\"pos\"}"), 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	aw_test_harness_wait_polls(&h, 3);
	ck_assert_uint_eq(aw_test_cap.n, 5);
	ck_assert_double_eq(aw_test_harness_metric(&h, RESULTS("unknown")), 2);
	ck_assert_uint_eq(aw_test_log_count("checks not evaluated"), 1);
	ck_assert_uint_eq(
	    aw_test_log_count("reason=\"diagnosticSettings: HTTP 403 AuthorizationFailed"), 1);

	/* Resource Graph refuses: the pass fails, /readyz says why, and an empty inventory
	 * resolves nothing. */
	aw_test_emu_fault(&g_emu, "{\"path\":\"" RG_PATH "\",\"status\":403,\"times\":2,\"body\":"
				  "\"{\\\"error\\\":{\\\"code\\\":\\\"AuthorizationFailed\\\","
				  "\\\"message\\\":\\\"no read on the scope\\\"}}\"}");
	aw_test_harness_wait_polls(&h, 4);
	ck_assert_double_eq(aw_test_harness_metric(&h, POLLS_FAILED), 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "last pass failed: Resource Graph: POST ") &&
			  strstr(why, "HTTP 403 AuthorizationFailed: no read on the scope"),
		      "%s", why);
	ck_assert_uint_eq(aw_test_cap.n, 5);
	aw_test_harness_wait_polls(&h, 5);
	ck_assert_uint_eq(aw_test_cap.n, 5);

	/* Back to normal: ready again, and still nothing new to say. */
	aw_test_harness_wait_polls(&h, 6);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	ck_assert_uint_eq(aw_test_cap.n, 5);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(corrupt_findings_table_reports_once)
{
	struct aw_test_harness h;

	emu_start(ESTATE);
	aw_test_put_input_state("pos", "findings", "aiwatch-state v1 len=3 crc32=00000000\nxyz");
	h_start(&h, &aw_in_posture, YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 4); /* reported once, nothing lost */
	ck_assert_uint_eq(aw_test_log_count("ignoring the findings table"), 1);
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 4);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(max_findings_bounds_the_table)
{
	struct aw_test_harness h;

	/* Room for two of the four: the other two are reported on every pass (counted)
	 * until there is room. */
	emu_start(ESTATE);
	h_start(&h, &aw_in_posture, YAML "max_findings: 2\n");
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 4);
	ck_assert_double_eq(
	    aw_test_harness_metric(&h, "aiwatch_posture_untracked_findings_total{input=\"pos\"}"),
	    2);
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 6);
	ck_assert_uint_ge(aw_test_log_count("findings table full (max_findings)"), 1);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(shipped_rules_alert_on_drift)
{
	struct aw_test_harness h;
	struct aw_test_harness_conf alerting = g_hc;

	/* The rules in conf/rules/posture see the events as any other table: public
	 * access opened on the account alerts, and its fix closes the loop. */
	alerting.rule_pack = "posture";
	emu_start(ESTATE);
	aw_test_harness_start(&h, &alerting, YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_capture_count("\"RuleTitle\":\"Public Network Access Open On An "
						"Azure AI Account, ML Workspace Or Key Vault\"",
						"\"ResourceId\":\"" ACCT "\""),
			  1);
	ck_assert_uint_eq(aw_test_capture_count("\"SourceTable\":\"AIWatchPosture\"", NULL),
			  aw_test_cap.n);
	ck_assert_uint_eq(aw_test_capture_count("Azure AI Posture Finding Resolved", NULL), 0);
	aw_test_emu_configure(&g_emu, "{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
				      "\"publicNetworkAccess\":\"Disabled\"}}}}}");
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(
	    aw_test_capture_count("\"RuleTitle\":\"Azure AI Posture Finding Resolved\"",
				  "\"ResourceId\":\"" ACCT "\""),
	    1);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("in_posture");
	TCase *t = tcase_create("emulator");

	aw_test_harness_fixture(t);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, appeared_changed_resolved_across_restarts);
	tcase_add_test(t, unknown_and_failed_passes_change_nothing);
	tcase_add_test(t, corrupt_findings_table_reports_once);
	tcase_add_test(t, max_findings_bounds_the_table);
	tcase_add_test(t, shipped_rules_alert_on_drift);
	suite_add_tcase(s, t);
	return s;
}

AW_TEST_MAIN(suite)
