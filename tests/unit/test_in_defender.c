/* The defender input on a real loop and pipeline (forward mode) against the Azure
 * emulator over HTTP: ARM paging with a repeated nextLink and empty pages that carry a
 * nextLink, Resource Graph paging with resultTruncated "true" beside a $skipToken and
 * its quota headers, events only for new or changed findings (also across a restart with
 * the same state directory), malformed items counted and logged, 429 ridden out,
 * readiness, and a corrupt findings table. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_harness.h"

extern const struct aw_plugin_desc aw_in_defender;

#define S1		 "11111111-1111-1111-1111-111111111111"
#define S2		 "22222222-2222-2222-2222-222222222222"
#define S3		 "33333333-3333-3333-3333-333333333333"
#define ASSESS_PATH(sub) "/subscriptions/" sub "/providers/Microsoft.Security/assessments"
#define ALERTS_PATH(sub) "/subscriptions/" sub "/providers/Microsoft.Security/alerts"
#define RG_PATH		 "/providers/Microsoft.ResourceGraph/resources"

static struct aw_test_emu g_emu;

static const struct aw_test_harness_conf g_hc =
    AW_TEST_ARM_INPUT_CONF(&aw_in_defender, "def", &g_emu);

static void h_start(struct aw_test_harness *h, const char *yaml)
{
	aw_test_harness_start(h, &g_hc, yaml);
}

static void emu_start(const char *arm_json)
{
	aw_test_emu_start_azure(&g_emu, "\"arm\":%s", arm_json);
}

/* Logged requests whose path starts with prefix. */
static size_t emu_requests(const char *prefix)
{
	return aw_test_emu_requests(&g_emu, prefix, NULL);
}

/* Captured events whose text contains needle (and needle2 when not NULL). */
static size_t count_events(const char *needle, const char *needle2)
{
	return aw_test_capture_count(needle, needle2);
}

static json_object *event_with(const char *needle, const char *needle2, size_t nth)
{
	for (size_t i = 0; i < aw_test_cap.n; i++)
		if (strstr(aw_test_cap.recs[i], needle) &&
		    (!needle2 || strstr(aw_test_cap.recs[i], needle2)) && nth-- == 0)
			return json_tokener_parse(aw_test_cap.recs[i]);
	ck_abort_msg("no event %zu with %s %s", nth, needle, needle2 ? needle2 : "");
	return NULL;
}

#define POLLS_OK "aiwatch_defender_polls_total{input=\"def\",result=\"ok\"}"

/* Fixtures, as ARM answers them. */
/* clang-format off */
#define RES(sub, n) \
	"/subscriptions/" sub "/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/" n
#define ASSESSMENT(sub, acct, name, code, changed) \
	"{\"id\":\"" RES(sub, acct) "/providers/Microsoft.Security/assessments/" name "\"," \
	"\"name\":\"" name "\",\"type\":\"Microsoft.Security/assessments\",\"properties\":{" \
	"\"resourceDetails\":{\"source\":\"Azure\",\"id\":\"" RES(sub, acct) "\"}," \
	"\"displayName\":\"Azure AI Services resources should restrict network access\"," \
	"\"status\":{\"code\":\"" code "\",\"firstEvaluationDate\":\"2026-04-01T00:00:00Z\"," \
	"\"statusChangeDate\":\"" changed "\"}," \
	"\"metadata\":{\"displayName\":\"Restrict network access\",\"severity\":\"Medium\"," \
	"\"policyDefinitionId\":\"/providers/Microsoft.Authorization/policyDefinitions/p1\"}}}"
#define ALERT(sub, name, status) \
	"{\"id\":\"/subscriptions/" sub "/resourceGroups/rg-ai/providers/Microsoft.Security/" \
	"locations/westeurope/alerts/" name "\",\"name\":\"" name "\"," \
	"\"type\":\"Microsoft.Security/Locations/alerts\",\"properties\":{" \
	"\"alertType\":\"AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt\"," \
	"\"systemAlertId\":\"" name "\",\"alertDisplayName\":\"Jailbreak blocked\"," \
	"\"severity\":\"Medium\",\"status\":\"" status "\",\"intent\":\"PrivilegeEscalation\"," \
	"\"timeGeneratedUtc\":\"2026-04-02T10:00:00.123Z\"," \
	"\"startTimeUtc\":\"2026-04-02T09:59:00Z\"," \
	"\"productName\":\"Azure Security Center\",\"compromisedEntity\":\"aoai1\"," \
	"\"resourceIdentifiers\":[{\"type\":\"AzureResource\"," \
	"\"azureResourceId\":\"" RES(sub, "aoai1") "\"}]," \
	"\"entities\":[{\"type\":\"ip\",\"address\":\"192.0.2.7\"}],\"techniques\":[\"T1059\"]}}"
/* clang-format on */

/* --- tests ----------------------------------------------------------------------------- */

/* The emulator configurations below are JSON broken by hand at member boundaries, which
 * clang-format would scramble. */
/* clang-format off */

START_TEST(arm_paging_pathologies)
{
	struct aw_test_harness h;

	emu_start("{\"page_size\":2,\"empty_page_at\":1,\"repeat_last_link\":true,"
		  "\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a2\":" ASSESSMENT(S1, "aoai1", "a2", "Healthy", "2026-04-02T00:00:00Z") ","
		  "\"a3\":" ASSESSMENT(S1, "aoai2", "a3", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a4\":" ASSESSMENT(S1, "aoai2", "a4", "NotApplicable", "2026-04-02T00:00:00Z") ","
		  "\"a5\":" ASSESSMENT(S1, "aoai3", "a5", "Unhealthy", "2026-04-02T00:00:00Z") "},"
		  "\"alerts\":{\"x1\":" ALERT(S1, "x1", "Active") ","
		  "\"x2\":" ALERT(S1, "x2", "Active") "}}}}");
	h_start(&h, "subscriptions: [" S1 "]\ninterval: 1s\nmin_remaining_reads: 0\n");

	/* 5 assessments on 3 pages with an empty page (and its nextLink) between the first
	 * two; the last page's nextLink names itself. Every finding once, no loop. */
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityRecommendation\"", NULL), 5);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityAlert\"", NULL), 2);
	for (int i = 1; i <= 5; i++) {
		char needle[64];
		snprintf(needle, sizeof needle, "\"RecommendationName\":\"a%d\"", i);
		ck_assert_uint_eq(count_events(needle, NULL), 1);
	}
	ck_assert_uint_eq(emu_requests(ASSESS_PATH(S1)), 4); /* 3 data pages + the empty one */
	ck_assert_uint_eq(emu_requests(ALERTS_PATH(S1)), 1);
	ck_assert_double_eq(aw_test_harness_metric(&h, POLLS_OK), 1);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"repeated_link\"}"),
	    2);
	ck_assert_double_eq(
	    aw_test_harness_metric(&h, "aiwatch_defender_pages_total{input=\"def\"}"), 5);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_items_total{input=\"def\",kind=\"assessment\"}"),
	    5);

	/* Unchanged findings: no event; the repeated link is logged once, counted each time. */
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 7);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"repeated_link\"}"),
	    4);
	ck_assert_uint_eq(aw_test_log_count("already followed"), 1);

	/* Now an endless run of empty pages that carry a nextLink after the data, and a new
	 * finding: read, and the list ends after max_empty_pages (3) empty pages. */
	aw_test_emu_reset(&g_emu);
	aw_test_emu_configure(
	    &g_emu,
	    "{\"arm\":{\"empty_page_at\":null,\"repeat_last_link\":false,"
	    "\"trailing_empty_pages\":100000,\"subscriptions\":{\"" S1 "\":{"
	    "\"assessments\":{"
	    "\"a6\":" ASSESSMENT(S1, "aoai4", "a6", "Unhealthy", "2026-04-03T00:00:00Z") "}}}}}");
	aw_test_harness_wait_polls(&h, 3);
	ck_assert_uint_eq(aw_test_cap.n, 8);
	ck_assert_uint_eq(count_events("\"RecommendationName\":\"a6\"", NULL), 1);
	ck_assert_uint_eq(emu_requests(ASSESS_PATH(S1)), 6); /* 3 data pages + 3 empty */
	ck_assert_uint_eq(emu_requests(ALERTS_PATH(S1)), 4); /* 1 data page + 3 empty */
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"empty_pages\"}"),
	    2);
	ck_assert_uint_eq(aw_test_log_count("empty pages that still carry a nextLink"), 1);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(resource_graph_skiptoken_with_truncated)
{
	struct aw_test_harness h;

	emu_start("{\"resource_graph\":{\"result_truncated\":\"true\",\"quota\":3,\"window_s\":2},"
		  "\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a2\":" ASSESSMENT(S1, "aoai1", "a2", "Healthy", "2026-04-02T00:00:00Z") ","
		  "\"a3\":" ASSESSMENT(S1, "aoai2", "a3", "Unhealthy", "2026-04-02T00:00:00Z") "},"
		  "\"alerts\":{\"x1\":" ALERT(S1, "x1", "Active") "}},\"" S2 "\":{\"assessments\":{"
		  "\"b1\":" ASSESSMENT(S2, "aoai9", "b1", "Unhealthy", "2026-04-02T00:00:00Z") "},"
		  "\"alerts\":{\"y1\":" ALERT(S2, "y1", "Active") ","
		  "\"y2\":" ALERT(S2, "y2", "Dismissed") "}},\"" S3 "\":{\"assessments\":{"
		  "\"c1\":" ASSESSMENT(S3, "aoai8", "c1", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	h_start(&h, "use_resource_graph: true\nsubscriptions: [" S1 ", " S2 "]\n"
		    "resource_graph_page_size: 2\ninterval: 3s\n");

	/* 7 rows of the two named subscriptions, 2 a page: every page but the last says
	 * resultTruncated "true" beside its $skipToken; all four are read. The quota of 3
	 * queries per 2 s runs out after the third: the input waits for the window, so
	 * the emulator never has to answer 429. */
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 7);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityRecommendation\"", NULL), 4);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityAlert\"", NULL), 3);
	ck_assert_uint_eq(count_events("aoai8", NULL), 0); /* S3 was not asked for */
	ck_assert_uint_eq(emu_requests(RG_PATH), 4);
	char *log = aw_test_emu_get(&g_emu, "/_emulator/requests?path=" RG_PATH);
	ck_assert_uint_eq(aw_test_occurrences(log, "\\\"resultFormat\\\":\\\"objectArray\\\""), 4);
	ck_assert_uint_eq(aw_test_occurrences(log, "\\\"$skipToken\\\""), 3);
	ck_assert_uint_eq(aw_test_occurrences(log, "securityresources"), 4);
	ck_assert_ptr_nonnull(strstr(log, S2));
	free(log);
	char *stats = aw_test_emu_get(&g_emu, "/_emulator/arm");
	ck_assert_msg(strstr(stats, "\"rg_throttled\":0"), "%s", stats);
	free(stats);
	ck_assert_double_ge(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_throttled_total{input=\"def\",reason=\"quota_low\"}"),
	    1);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"truncated\"}"),
	    0);

	/* Rows carry the Log Analytics columns; Resource Graph adds the tenant. */
	json_object *ev = event_with("\"SystemAlertId\":\"y2\"", NULL, 0);
	ck_assert_str_eq(aw_test_col(ev, "Status"), "Dismissed");
	ck_assert_str_eq(aw_test_col(ev, "TenantId"), AW_TEST_TENANT);
	json_object_put(ev);
	ev = event_with("\"SystemAlertId\":\"y1\"", NULL, 0);
	ck_assert_str_eq(aw_test_col(ev, "Status"),
			 "New"); /* Active, as the workspace table says it */
	json_object_put(ev);

	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 7); /* nothing changed */
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

#define FLIP_START                                                                                 \
	"{\"subscriptions\":{\"" S1 "\":{\"assessments\":{"                                        \
	"\"A\":" ASSESSMENT(                                                                       \
	    S1, "aoai1", "flip", "Unhealthy",                                                      \
	    "2026-04-02T00:00:00Z") ","                                                            \
				    "\"B\":" ASSESSMENT(                                           \
					S1, "aoai1", "steady", "Healthy",                          \
					"2026-04-01T00:00:00Z") "},"                               \
								"\"alerts\":{\"X\":" ALERT(        \
								    S1, "x1", "Active") "}}}}"
#define FLIP_YAML "subscriptions: [" S1 "]\ninterval: 1s\nmin_remaining_reads: 0\n"

START_TEST(state_changes_only_also_across_restart)
{
	struct aw_test_harness h;

	emu_start(FLIP_START);
	h_start(&h, FLIP_YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 3); /* all new */
	json_object *a = event_with("\"RecommendationName\":\"flip\"", NULL, 0);
	ck_assert_str_eq(aw_test_col(a, "Type"), "SecurityRecommendation");
	ck_assert_str_eq(aw_test_col(a, "RecommendationState"), "Unhealthy");
	ck_assert_str_eq(aw_test_col(a, "RecommendationSeverity"), "Medium");
	ck_assert_str_eq(aw_test_col(a, "TimeGenerated"), "2026-04-02T00:00:00Z");
	ck_assert_str_eq(aw_test_col(a, "AssessedResourceId"), RES(S1, "aoai1"));
	ck_assert_str_eq(aw_test_col(a, "RecommendationDisplayName"),
			 "Azure AI Services resources should restrict network access");
	ck_assert_int_eq((int)strlen(aw_test_col(a, "_ItemId")), 36);
	char first_item[64];
	snprintf(first_item, sizeof first_item, "%s", aw_test_col(a, "_ItemId"));
	json_object_put(a);
	json_object *x = event_with("\"SystemAlertId\":\"x1\"", NULL, 0);
	ck_assert_str_eq(aw_test_col(x, "Type"), "SecurityAlert");
	ck_assert_str_eq(aw_test_col(x, "AlertType"),
			 "AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt");
	ck_assert_str_eq(aw_test_col(x, "ResourceId"), RES(S1, "aoai1"));
	ck_assert_str_eq(aw_test_col(x, "Entities"),
			 "[{\"Type\":\"ip\",\"Address\":\"192.0.2.7\"}]");
	ck_assert_str_eq(aw_test_col(x, "TimeGenerated"), "2026-04-02T10:00:00.123Z");
	json_object_put(x);
	aw_test_harness_stop(&h);
	char *table, *text;
	ck_assert_int_ge(asprintf(&table, "%s/inputs/def/findings", aw_test_tmp.statedir), 0);
	text = aw_test_read(table, NULL);
	ck_assert_msg(text && strstr(text, "\"Unhealthy\",1"), "findings table: %s",
		      text ? text : "(missing)");
	free(text);
	free(table);

	/* The same state directory: what was reported is remembered. */
	aw_test_capture_reset();
	h_start(&h, FLIP_YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 0);

	aw_test_emu_configure(
	    &g_emu, "{\"arm\":{\"subscriptions\":{\"" S1 "\":{\"assessments\":{\"A\":{"
		    "\"properties\":{\"status\":{\"code\":\"Healthy\","
		    "\"statusChangeDate\":\"2026-04-05T00:00:00Z\"}}}},\"alerts\":{\"X\":{"
		    "\"properties\":{\"status\":\"Resolved\"}}}}}}}");
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_uint_eq(aw_test_cap.n, 2);
	a = event_with("\"RecommendationName\":\"flip\"", NULL, 0);
	ck_assert_str_eq(aw_test_col(a, "RecommendationState"), "Healthy");
	ck_assert_str_eq(aw_test_col(a, "ResolvedTimeUTC"), "2026-04-05T00:00:00Z");
	json_object_put(a);
	ck_assert_uint_eq(count_events("\"SystemAlertId\":\"x1\"", "\"Status\":\"Resolved\""), 1);

	/* Back to Unhealthy, with the same statusChangeDate as the first time: still a
	 * new event with its own _ItemId. */
	aw_test_emu_configure(&g_emu,
			      "{\"arm\":{\"subscriptions\":{\"" S1 "\":{\"assessments\":{\"A\":{"
			      "\"properties\":{\"status\":{\"code\":\"Unhealthy\","
			      "\"statusChangeDate\":\"2026-04-02T00:00:00Z\"}}}}}}}}");
	aw_test_harness_wait_polls(&h, 3);
	ck_assert_uint_eq(aw_test_cap.n, 3);
	a = event_with("\"RecommendationName\":\"flip\"", "\"RecommendationState\":\"Unhealthy\"",
		       0);
	ck_assert_str_ne(aw_test_col(a, "_ItemId"), first_item);
	json_object_put(a);
	aw_test_harness_wait_polls(&h, 4);
	ck_assert_uint_eq(aw_test_cap.n, 3);
	/* flip: Unhealthy (first run), Healthy, Unhealthy; steady: once, in the first run */
	ck_assert_uint_eq(count_events("\"RecommendationName\":\"steady\"", NULL), 0);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_changes_total{input=\"def\",kind=\"assessment\"}"),
	    2);
	ck_assert_double_eq(aw_test_harness_metric(&h, "aiwatch_defender_findings{input=\"def\"}"),
			    3);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(malformed_items_counted_and_logged)
{
	struct aw_test_harness h;
	char why[256];

	emu_start("{\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a-good\":" ASSESSMENT(S1, "aoai1", "good", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"b-string\":\"garbage\",\"c-nostatus\":{"
		  "\"id\":\"" RES(S1, "aoai1") "/providers/Microsoft.Security/assessments/nostatus\","
		  "\"properties\":{\"displayName\":\"x\"}},\"d-noid\":{\"name\":\"n\","
		  "\"properties\":{\"status\":{\"code\":\"Healthy\"}}}},\"alerts\":{"
		  "\"e-ok\":" ALERT(S1, "x1", "Active") ",\"f-numtime\":{"
		  "\"id\":\"/subscriptions/" S1 "/providers/Microsoft.Security/locations/westeurope/"
		  "alerts/numtime\","
		  "\"properties\":{\"status\":\"Active\",\"timeGeneratedUtc\":12345}}}}}}");
	h_start(&h, FLIP_YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 2);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_events_skipped_total{input=\"def\",reason=\"malformed\"}"),
	    4);
	ck_assert_uint_eq(aw_test_log_count("malformed item skipped"), 4);
	ck_assert_uint_eq(aw_test_log_count("resource_id=" RES(S1, "aoai1")
					    "/providers/Microsoft.Security/assessments/nostatus "
					    "reason=\"no status.code\""),
			  1);
	ck_assert_uint_eq(aw_test_log_count("assessments/nostatus"), 1);
	ck_assert_uint_eq(
	    aw_test_log_count(
		"alerts/numtime reason=\"timeGeneratedUtc is not an ISO 8601 time string\""),
	    1);
	ck_assert_uint_eq(aw_test_log_count("reason=\"not a JSON object\""), 1);
	ck_assert_uint_eq(aw_test_log_count("resource_id=\"(no id)\" reason=\"no id\""), 1);
	/* A poll with malformed items is still a good poll. */
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	/* Still there next poll: counted again, not logged again. */
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_events_skipped_total{input=\"def\",reason=\"malformed\"}"),
	    8);
	ck_assert_uint_eq(aw_test_log_count("malformed item skipped"), 4);
	ck_assert_uint_eq(aw_test_cap.n, 2);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(throttling_429_ridden_out)
{
	struct aw_test_harness h;

	/* Two reads in the bucket, one back per second, a page per finding: the third
	 * request meets 429 + Retry-After and the shared HTTP policy waits it out. */
	emu_start("{\"page_size\":1,\"reads_bucket\":2,\"reads_refill_per_s\":1,\"subscriptions\":{"
		  "\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a2\":" ASSESSMENT(S1, "aoai1", "a2", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a3\":" ASSESSMENT(S1, "aoai1", "a3", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	h_start(&h,
		"subscriptions: [" S1 "]\nalerts: false\ninterval: 1m\nmin_remaining_reads: 0\n");
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 3);
	ck_assert_double_eq(aw_test_harness_metric(&h, POLLS_OK), 1);
	char *stats = aw_test_emu_get(&g_emu, "/_emulator/arm");
	json_object *o = json_tokener_parse(stats), *v;
	ck_assert(json_object_object_get_ex(o, "throttled", &v));
	ck_assert_int_ge(json_object_get_int(v), 1);
	json_object_put(o);
	free(stats);
	ck_assert_double_ge(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_throttled_total{input=\"def\",reason=\"retried\"}"),
	    1);
	ck_assert_uint_ge(aw_test_log_count("TooManyRequests"), 1);
	aw_test_harness_stop(&h);

	/* With the low-water mark on, the input slows down instead of meeting a 429. */
	aw_test_capture_reset();
	aw_test_rmtree(aw_test_tmp.statedir);
	ck_assert_int_eq(mkdir(aw_test_tmp.statedir, 0700), 0);
	aw_test_emu_reset(&g_emu);
	h_start(&h,
		"subscriptions: [" S1 "]\nalerts: false\ninterval: 1m\nmin_remaining_reads: 2\n");
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 3);
	ck_assert_double_ge(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_throttled_total{input=\"def\",reason=\"quota_low\"}"),
	    2);
	stats = aw_test_emu_get(&g_emu, "/_emulator/arm");
	ck_assert_msg(strstr(stats, "\"throttled\":0"), "%s", stats);
	free(stats);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(readiness_follows_the_last_poll)
{
	struct aw_test_harness h;
	char why[512];

	emu_start("{\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	aw_test_emu_fault(&g_emu, "{\"path\":\"" ASSESS_PATH(S1) "\",\"status\":403,\"body\":"
				  "\"{\\\"error\\\":{\\\"code\\\":\\\"AuthorizationFailed\\\","
				  "\\\"message\\\":\\\"no access\\\"}}\"}");
	h_start(&h, FLIP_YAML);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "first poll"), "%s", why);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "HTTP 403 AuthorizationFailed: no access"), "%s", why);
	ck_assert_uint_eq(aw_test_cap.n, 0);
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	ck_assert_uint_eq(aw_test_cap.n, 1);

	/* A nextLink to another host would take the ARM token there: not followed. */
	aw_test_emu_fault(&g_emu, "{\"path\":\"" ASSESS_PATH(S1) "\",\"status\":200,\"body\":"
				  "\"{\\\"value\\\":[],\\\"nextLink\\\":"
				  "\\\"https://collector.example/steal?$skipToken=1\\\"}\"}");
	aw_test_harness_wait_polls(&h, 3);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "nextLink points to another host"), "%s", why);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(corrupt_findings_table)
{
	struct aw_test_harness h;

	emu_start(FLIP_START);
	aw_test_put_input_state("def", "findings", "aiwatch-state v1 len=3 crc32=00000000\nxyz");
	h_start(&h, FLIP_YAML);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 3); /* reported once, nothing lost */
	ck_assert_uint_eq(aw_test_log_count("ignoring the findings table"), 1);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(shipped_rules_fire_on_arm_findings)
{
	struct aw_test_harness h;
	struct aw_test_harness_conf alerting = g_hc;

	/* Two Defender for AI jailbreak alerts on one account, read over ARM: the shipped
	 * rules written for the SecurityAlert table see them as they would the workspace
	 * rows: one alert each, and the burst correlation once. */
	alerting.rule_pack = "defender";
	emu_start("{\"subscriptions\":{\"" S1 "\":{\"alerts\":{"
		  "\"x1\":" ALERT(S1, "x1", "Active") ",\"x2\":" ALERT(S1, "x2", "Active") "}}}}");
	aw_test_harness_start(&h, &alerting,
			      "subscriptions: [" S1 "]\nassessments: false\n"
			      "interval: 1s\nmin_remaining_reads: 0\n");
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(count_events("\"RuleTitle\":\"Microsoft Defender For Cloud AI Threat "
				       "Protection Alert\"",
				       NULL),
			  2);
	ck_assert_uint_eq(count_events("\"RuleTitle\":\"Repeated Jailbreak Or Prompt-Injection "
				       "Alerts On One AI Resource\"",
				       NULL),
			  1);
	ck_assert_uint_eq(aw_test_cap.n, 3);
	ck_assert_uint_eq(count_events("\"SourceTable\":\"SecurityAlert\"", NULL), 3);

	/* The alert is resolved: an event, which the rules leave alone (status update). */
	aw_test_emu_configure(&g_emu, "{\"arm\":{\"subscriptions\":{\"" S1 "\":{\"alerts\":{"
				      "\"x1\":{\"properties\":{\"status\":\"Resolved\"}}}}}}}");
	aw_test_harness_wait_polls(&h, 2);
	ck_assert_double_eq(aw_test_harness_metric(
				&h, "aiwatch_defender_changes_total{input=\"def\",kind=\"alert\"}"),
			    3);
	ck_assert_uint_eq(aw_test_cap.n, 3);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(own_credential_managed_identity)
{
	struct aw_test_harness h;
	char *yaml;

	/* The input's own identity (IMDS here), not the daemon's client secret. The scope
	 * with a double slash asks IMDS for resource https://management.azure.com/ (with
	 * the trailing slash, as the contract's table has it); the client-secret tests
	 * ask Entra for https://management.azure.com/.default. ARM takes both. */
	emu_start("{\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	ck_assert_int_ge(asprintf(&yaml,
				  "subscriptions: [" S1 "]\ninterval: 1m\n"
				  "scope: https://management.azure.com//.default\ncredential:\n"
				  "  kind: managed_identity\n  imds_endpoint: %s\n",
				  g_emu.base),
			 0);
	h_start(&h, yaml);
	free(yaml);
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_double_eq(aw_test_harness_metric(&h, POLLS_OK), 1);
	ck_assert_uint_eq(aw_test_cap.n, 1);
	char *stats = aw_test_emu_get(&g_emu, "/_emulator/stats");
	ck_assert_msg(strstr(stats, "\"imds\":1") && strstr(stats, "\"entra\":0"), "%s", stats);
	free(stats);
	char *reqs =
	    aw_test_emu_get(&g_emu, "/_emulator/requests?path=/metadata/identity/oauth2/token");
	ck_assert_msg(strstr(reqs, "resource=https%3A%2F%2Fmanagement.azure.com%2F\""), "%s", reqs);
	free(reqs);
	aw_test_harness_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(page_cap_and_close_in_flight)
{
	struct aw_test_harness h;

	emu_start("{\"page_size\":1,\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a2\":" ASSESSMENT(S1, "aoai1", "a2", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a3\":" ASSESSMENT(S1, "aoai1", "a3", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	h_start(&h, "subscriptions: [" S1 "]\nalerts: false\nmax_pages: 2\ninterval: 1s\n"
		    "min_remaining_reads: 0\n");
	aw_test_harness_wait_polls(&h, 1);
	ck_assert_uint_eq(aw_test_cap.n, 2); /* the third page is left for later */
	ck_assert_uint_eq(count_events("\"RecommendationName\":\"a3\"", NULL), 0);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"page_cap\"}"),
	    1);
	ck_assert_uint_eq(aw_test_log_count("the list still had pages after max_pages"), 1);

	/* The next poll's first page takes 3 s to come: closing meanwhile cancels it,
	 * frees everything and saves what is durable. */
	aw_test_emu_fault(&g_emu, "{\"path\":\"" ASSESS_PATH(S1) "\",\"delay_ms\":3000}");
	aw_test_run_until(&h.loop, NULL, NULL, 1500);
	ck_assert_uint_eq(emu_requests(ASSESS_PATH(S1)), 3); /* 2 + the one held */
	aw_test_harness_stop(&h);
	char *table;
	ck_assert_int_ge(asprintf(&table, "%s/inputs/def/findings", aw_test_tmp.statedir), 0);
	char *text = aw_test_read(table, NULL);
	ck_assert_msg(text && aw_test_occurrences(text, "\"Unhealthy\",1") == 2, "%s",
		      text ? text : "-");
	free(text);
	free(table);
	aw_test_emu_stop(&g_emu);
}
END_TEST

/* clang-format on */

static void check_conf(const char *yaml, const char *want)
{
	struct aw_error_list errs = {0};
	struct aw_doc *doc = NULL;
	void *conf = calloc(1, aw_in_defender.conf_size);

	ck_assert_int_eq(aw_doc_load_buffer("t.yaml", yaml, strlen(yaml), &doc, &errs), 0);
	aw_options_apply(aw_in_defender.options, doc->root, conf, "inputs[0]", 0600, &errs);
	if (errs.n == 0)
		aw_in_defender.validate(conf, "inputs[0]", &errs);
	ck_assert_msg(errs.n >= 1, "no error for %s", yaml);
	ck_assert_msg(strstr(errs.msgs[0], want), "%s: got %s", yaml, errs.msgs[0]);
	aw_error_list_free(&errs);
	aw_options_free(aw_in_defender.options, conf);
	free(conf);
	aw_doc_free(doc);
}

START_TEST(config_errors)
{
	check_conf("interval: 5m\n", "inputs[0].subscriptions: at least one subscription id");
	check_conf("subscriptions: [not-a-guid]\n", "is not a subscription id");
	check_conf("subscriptions: [" S1 ", " S1 "]\n", "listed twice");
	check_conf("subscriptions: [" S1 "]\nassessments: false\nalerts: false\n",
		   "nothing to read");
	check_conf("subscriptions: [" S1 "]\ncredential:\n  kind: client_secret\n",
		   "inputs[0].credential");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("in_defender");
	TCase *t = tcase_create("emulator");

	aw_test_harness_fixture(t);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, arm_paging_pathologies);
	tcase_add_test(t, resource_graph_skiptoken_with_truncated);
	tcase_add_test(t, state_changes_only_also_across_restart);
	tcase_add_test(t, malformed_items_counted_and_logged);
	tcase_add_test(t, throttling_429_ridden_out);
	tcase_add_test(t, readiness_follows_the_last_poll);
	tcase_add_test(t, corrupt_findings_table);
	tcase_add_test(t, shipped_rules_fire_on_arm_findings);
	tcase_add_test(t, own_credential_managed_identity);
	tcase_add_test(t, page_cap_and_close_in_flight);
	tcase_add_test(t, config_errors);
	suite_add_tcase(s, t);
	return s;
}

AW_TEST_MAIN(suite)
