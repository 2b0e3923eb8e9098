/* The engine end to end on small rule sets: routing, field mappings for foreign rules,
 * rules outside the specification reported, correlation alerts with their window and
 * group, deterministic AlertIds, and correlation state that survives a restart. */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "records.h"
#include "testutil.h"

struct run {
	struct aw_engine *e;
	struct json_object *alerts;
};

static int on_alert(void *ud, const struct aw_record *rec)
{
	struct run *r = ud;
	struct json_object *o = json_tokener_parse(rec->data);

	ck_assert_ptr_nonnull(o);
	/* The record's id is the alert's AlertId. */
	struct json_object *id;
	ck_assert(json_object_object_get_ex(o, "AlertId", &id));
	ck_assert_str_eq(json_object_get_string(id), rec->id);
	json_object_array_add(r->alerts, o);
	return 0;
}

static int on_event(void *ud, const struct aw_event *ev)
{
	struct run *r = ud;
	struct aw_error err;

	ck_assert_msg(aw_engine_eval(r->e, ev, on_alert, r, &err) >= 0, "%s", err.msg);
	return 0;
}

static void feed(struct run *r, const char *lines)
{
	const char *p = lines;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		struct aw_error err;
		if (len)
			ck_assert_msg(aw_records_parse(p, len, "test", on_event, r, NULL, &err) >= 0,
				      "%s", err.msg);
		p += len + (nl ? 1 : 0);
	}
}

static struct aw_engine *engine_for(const char *const *paths, size_t n, const char *const *maps,
				    size_t nmaps, struct aw_error_list *errs)
{
	struct aw_engine_conf conf = {
		.rule_paths = paths,
		.nrule_paths = n,
		.allowed_lateness_ms = 600000,
		.field_mappings = maps,
		.nfield_mappings = nmaps,
		.host = "test",
	};

	return aw_engine_new(&conf, errs);
}

/* An engine for the rules text written to dir/name (*path gets the file's path, the
 * caller frees it); the rules must load without an error. */
static struct aw_engine *engine_from(const char *dir, const char *name, const char *rules,
				     char **path, struct aw_error_list *errs)
{
	ck_assert_int_ge(asprintf(path, "%s/%s", dir, name), 0);
	free(aw_test_write(NULL, *path, rules, 0600));
	const char *paths[] = {*path};
	struct aw_engine *e = engine_for(paths, 1, NULL, 0, errs);
	ck_assert_msg(errs->n == 0, "%s", errs->n ? errs->msgs[0] : "");
	return e;
}

static const char *str_at(struct json_object *alerts, size_t i, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(json_object_array_get_idx(alerts, i), key, &v))
		return NULL;
	return json_object_get_string(v);
}

START_TEST(foreign_rule_matches_with_field_mapping)
{
	char *rule = aw_test_srcpath("tests/data/sigma-foreign/activity_key_listing_hq_style.yml");
	char *data = aw_test_srcpath("tests/data/sigma-foreign/records.jsonl");
	const char *paths[] = {rule};
	const char *maps[] = {"operationName=OperationNameValue",
			      "resourceProvider=ResourceProviderValue",
			      "activityStatus=ActivityStatusValue"};
	struct aw_error_list errs = {0};
	char *text = aw_test_read(data, NULL);
	struct run r = {.alerts = json_object_new_array()};

	r.e = engine_for(paths, 1, maps, 3, &errs);
	ck_assert_ptr_nonnull(r.e);
	ck_assert_uint_eq(errs.n, 0);
	feed(&r, text);
	/* Only the successful listing: the failed one is filtered, the read never matches. */
	ck_assert_uint_eq(json_object_array_length(r.alerts), 1);
	ck_assert_str_eq(str_at(r.alerts, 0, "RuleId"), "6d3c8f5e-2a41-4b7a-9f0e-1c2d3e4f5a61");
	ck_assert_str_eq(str_at(r.alerts, 0, "Severity"), "Medium");
	ck_assert_str_eq(str_at(r.alerts, 0, "WindowStart"), "2026-11-20T10:00:00.000Z");
	aw_engine_free(r.e);
	json_object_put(r.alerts);

	/* Unmapped, the same rule loads but its fields are absent: no alert. */
	r.alerts = json_object_new_array();
	r.e = engine_for(paths, 1, NULL, 0, &errs);
	feed(&r, text);
	ck_assert_uint_eq(json_object_array_length(r.alerts), 0);
	aw_engine_free(r.e);
	json_object_put(r.alerts);
	aw_error_list_free(&errs);
	free(text);
	free(rule);
	free(data);
}
END_TEST

START_TEST(rules_outside_the_spec_are_reported_not_misread)
{
	char *dir = aw_test_srcpath("tests/data/sigma-foreign");
	const char *paths[] = {dir};
	struct aw_error_list errs = {0};
	struct aw_engine *e = engine_for(paths, 1, NULL, 0, &errs);
	struct aw_engine_stats st;
	char all[8192] = "";

	ck_assert_ptr_nonnull(e);
	for (size_t i = 0; i < errs.n; i++) {
		strncat(all, errs.msgs[i], sizeof all - strlen(all) - 2);
		strcat(all, "\n");
	}
	ck_assert_uint_eq(errs.n, 2);
	ck_assert_msg(strstr(all, "uses_obsolete_timeframe.yml:") && strstr(all, "timeframe"), "%s",
		      all);
	ck_assert_msg(strstr(all, "rule 0b7e2f0c-93a1-4a55-8d7e-2f3a4b5c6d71"), "%s", all);
	ck_assert_msg(strstr(all, "uses_time_modifier.yml:") && strstr(all, "hour"), "%s", all);
	/* The good rule in the same directory still loads. */
	aw_engine_stats(e, &st);
	ck_assert_uint_eq(st.detection_rules, 1);
	aw_engine_free(e);
	aw_error_list_free(&errs);
	free(dir);
}
END_TEST

static const char corr_rules[] =
	"title: Key-authenticated request\n"
	"name: keyauth\n"
	"id: 5f1e2d3c-0000-4000-8000-000000000001\n"
	"logsource: {product: azure, service: openai}\n"
	"detection:\n"
	"  sel:\n"
	"    properties_s.objectId: ''\n"
	"    ResultSignature: 200\n"
	"  condition: sel\n"
	"---\n"
	"title: Key used from many networks\n"
	"id: 5f1e2d3c-0000-4000-8000-000000000002\n"
	"level: high\n"
	"tags: [attack.t1078.004, attack.initial-access]\n"
	"correlation:\n"
	"  type: value_count\n"
	"  rules: [keyauth]\n"
	"  group-by: [Resource]\n"
	"  timespan: 10m\n"
	"  condition: {gte: 3, field: CallerIPAddress}\n"
	"---\n"
	"title: Vault rule that must never see OpenAI events\n"
	"id: 5f1e2d3c-0000-4000-8000-000000000003\n"
	"logsource: {product: azure, service: keyvault}\n"
	"detection:\n"
	"  sel: {ResultSignature: 200}\n"
	"  condition: sel\n";

static char *openai_line(int minute, int second, const char *ip, const char *item)
{
	char *s;

	ck_assert_int_ge(
		asprintf(&s,
			 "{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"2026-11-20T10:%02d:%02d.000Z\","
			 "\"_ItemId\":\"%s\",\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\","
			 "\"Category\":\"RequestResponse\",\"Resource\":\"ACCT1\",\"ResultSignature\":\"200\","
			 "\"CallerIPAddress\":\"%s\",\"properties_s\":\"{\\\"objectId\\\":\\\"\\\","
			 "\\\"modelDeploymentName\\\":\\\"gpt\\\"}\"}\n",
			 minute, second, item, ip),
		0);
	return s;
}

static struct run corr_run(const char *dir, bool save_between, const char *state_dir)
{
	char *path;
	struct aw_error_list errs = {0};
	struct aw_error err;
	struct run r = {.alerts = json_object_new_array()};
	const char *ips[] = {"203.0.113.***", "203.0.113.***", "198.51.100.***", "192.0.2.***",
			     "192.0.2.***"};

	ck_assert_int_ge(asprintf(&path, "%s/corr.yml", dir), 0);
	free(aw_test_write(NULL, path, corr_rules, 0600));
	const char *paths[] = {path};
	r.e = engine_for(paths, 1, NULL, 0, &errs);
	ck_assert_msg(errs.n == 0, "%s", errs.n ? errs.msgs[0] : "");
	for (int i = 0; i < 5; i++) {
		char item[16], *l;
		if (save_between && i == 2) {
			/* Restart between the second and third event. */
			ck_assert_int_eq(aw_engine_save_state(r.e, state_dir, &err), 0);
			aw_engine_free(r.e);
			r.e = engine_for(paths, 1, NULL, 0, &errs);
			ck_assert_int_eq(aw_engine_load_state(r.e, state_dir, &err), 0);
		}
		snprintf(item, sizeof item, "it-%d", i);
		l = openai_line(i * 30 / 60, i * 30 % 60, ips[i], item);
		feed(&r, l);
		free(l);
	}
	aw_engine_free(r.e);
	aw_error_list_free(&errs);
	free(path);
	return r;
}

START_TEST(correlation_alert_has_window_group_and_stable_id)
{
	char *dir = aw_test_tmpdir();
	struct run a = corr_run(dir, false, NULL);
	struct run b = corr_run(dir, false, NULL);
	struct json_object *g, *v;

	/* Silent base rule, one correlation alert at the third distinct network, and the
	 * Key Vault rule never routed an OpenAI event. */
	ck_assert_uint_eq(json_object_array_length(a.alerts), 1);
	ck_assert_str_eq(str_at(a.alerts, 0, "RuleId"), "5f1e2d3c-0000-4000-8000-000000000002");
	ck_assert_str_eq(str_at(a.alerts, 0, "Severity"), "High");
	ck_assert_str_eq(str_at(a.alerts, 0, "WindowStart"), "2026-11-20T10:00:00.000Z");
	ck_assert_str_eq(str_at(a.alerts, 0, "WindowEnd"), "2026-11-20T10:01:30.000Z");
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(a.alerts, 0), "GroupBy", &g));
	ck_assert(json_object_object_get_ex(g, "Resource", &v));
	ck_assert_str_eq(json_object_get_string(v), "ACCT1");
	ck_assert_str_eq(str_at(a.alerts, 0, "Techniques") ? "x" : "", "x");
	/* Same input, fresh engine: the same AlertId (what lets a SIEM de-duplicate). */
	ck_assert_uint_eq(json_object_array_length(b.alerts), 1);
	ck_assert_str_eq(str_at(a.alerts, 0, "AlertId"), str_at(b.alerts, 0, "AlertId"));
	json_object_put(a.alerts);
	json_object_put(b.alerts);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(correlation_state_survives_restart)
{
	char *dir = aw_test_tmpdir();
	struct run ref = corr_run(dir, false, NULL);
	struct run r = corr_run(dir, true, dir);

	/* Two events before the restart, three after: the window still fires, with the
	 * same id as an uninterrupted run. */
	ck_assert_uint_eq(json_object_array_length(r.alerts), 1);
	ck_assert_str_eq(str_at(r.alerts, 0, "AlertId"), str_at(ref.alerts, 0, "AlertId"));
	json_object_put(r.alerts);
	json_object_put(ref.alerts);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(defender_alert_rows_share_one_alert_id)
{
	char *dir = aw_test_tmpdir(), *path;
	struct aw_error_list errs = {0};
	struct run r = {.alerts = json_object_new_array()};

	r.e = engine_from(dir, "def.yml",
			  "title: Defender AI alert\n"
			  "id: 5f1e2d3c-0000-4000-8000-0000000000aa\n"
			  "logsource: {product: azure, service: defender_alerts}\n"
			  "detection:\n  sel: {AlertType|startswith: 'AI.Azure_'}\n"
			  "  condition: sel\n",
			  &path, &errs);
	/* The same Defender alert exported twice (New, then InProgress) and another one. */
	feed(&r, "{\"Type\":\"SecurityAlert\",\"TimeGenerated\":\"2026-11-20T10:00:00Z\","
		 "\"_ItemId\":\"row-1\",\"SystemAlertId\":\"sa-1\",\"Status\":\"New\","
		 "\"AlertType\":\"AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt\"}\n"
		 "{\"Type\":\"SecurityAlert\",\"TimeGenerated\":\"2026-11-20T10:00:00Z\","
		 "\"_ItemId\":\"row-2\",\"SystemAlertId\":\"sa-1\",\"Status\":\"InProgress\","
		 "\"AlertType\":\"AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt\"}\n"
		 "{\"Type\":\"SecurityAlert\",\"TimeGenerated\":\"2026-11-20T10:00:00Z\","
		 "\"_ItemId\":\"row-3\",\"SystemAlertId\":\"sa-2\",\"Status\":\"New\","
		 "\"AlertType\":\"AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt\"}\n");
	ck_assert_uint_eq(json_object_array_length(r.alerts), 3);
	ck_assert_str_eq(str_at(r.alerts, 0, "AlertId"), str_at(r.alerts, 1, "AlertId"));
	ck_assert_str_ne(str_at(r.alerts, 0, "AlertId"), str_at(r.alerts, 2, "AlertId"));
	aw_engine_free(r.e);
	json_object_put(r.alerts);
	aw_error_list_free(&errs);
	aw_test_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(event_time_formats)
{
	char *dir = aw_test_tmpdir(), *path;
	struct aw_error_list errs = {0};
	struct run r = {.alerts = json_object_new_array()};

	r.e = engine_from(dir, "t.yml",
			  "title: any vault event\nid: 5f1e2d3c-0000-4000-8000-0000000000bb\n"
			  "logsource: {product: azure, service: keyvault}\n"
			  "detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n",
			  &path, &errs);
	/* Seven fractional digits, an offset, no fraction, a leap-year day. */
	feed(&r, "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
		 "\"TimeGenerated\":\"2026-11-20T10:00:00.1234567Z\",\"_ItemId\":\"a\"}\n"
		 "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
		 "\"TimeGenerated\":\"2026-11-20T12:30:00+02:00\",\"_ItemId\":\"b\"}\n"
		 "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
		 "\"TimeGenerated\":\"2024-02-29T23:59:59Z\",\"_ItemId\":\"c\"}\n");
	ck_assert_uint_eq(json_object_array_length(r.alerts), 3);
	ck_assert_str_eq(str_at(r.alerts, 0, "WindowStart"), "2026-11-20T10:00:00.123Z");
	ck_assert_str_eq(str_at(r.alerts, 1, "WindowStart"), "2026-11-20T10:30:00.000Z");
	ck_assert_str_eq(str_at(r.alerts, 2, "WindowStart"), "2024-02-29T23:59:59.000Z");
	aw_engine_free(r.e);
	json_object_put(r.alerts);
	aw_error_list_free(&errs);
	aw_test_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

/* For each event (its _ItemId "eNN", in the alert's evidence), the rules that alerted
 * on it: the last character of each RuleId, in order. */
static void rules_by_event(struct json_object *alerts, char (*got)[8], size_t nev)
{
	for (size_t i = 0; i < json_object_array_length(alerts); i++) {
		const char *id = str_at(alerts, i, "RuleId");
		const char *e = json_object_to_json_string(json_object_array_get_idx(alerts, i));
		while ((e = strstr(e, "\"e")) &&
		       !(isdigit((unsigned char)e[2]) && isdigit((unsigned char)e[3]) && e[4] == '"'))
			e++;
		ck_assert_ptr_nonnull(id);
		ck_assert_ptr_nonnull(e);
		size_t k = (size_t)((e[2] - '0') * 10 + (e[3] - '0'));
		ck_assert_uint_lt(k, nev);
		size_t n = strlen(got[k]);
		ck_assert_uint_lt(n, 7);
		got[k][n] = id[strlen(id) - 1];
	}
}

static void run_done(struct run *r, struct aw_error_list *errs, char *dir, char *path)
{
	aw_engine_free(r->e);
	json_object_put(r->alerts);
	aw_error_list_free(errs);
	aw_test_rmtree(dir);
	free(dir);
	free(path);
}

/* A group-by value is cut at a NUL byte, which only a value with an escape can hold
 * (\u0000): such a value, read by the general lookup, and the same text read as it is
 * in the record must make one group. */
START_TEST(correlation_key_cut_at_nul)
{
	static const char rules[] =
	    "title: any request\nname: anyreq\nid: 5f1e2d3c-0000-4000-8000-0000000000d1\n"
	    "logsource: {product: azure, service: openai}\n"
	    "detection:\n  sel: {ResultSignature: 200}\n  condition: sel\n"
	    "---\n"
	    "title: three requests\nid: 5f1e2d3c-0000-4000-8000-0000000000d2\nlevel: low\n"
	    "correlation:\n  type: event_count\n  rules: [anyreq]\n  group-by: [Resource]\n"
	    "  timespan: 10m\n  condition: {gte: 3}\n";
	static const char *const resources[] = {"ACCT\\u0000x", "OTHER", "ACCT\\u0000y", "ACCT"};
	char *dir = aw_test_tmpdir(), *path;
	struct aw_error_list errs = {0};
	struct run r = {.alerts = json_object_new_array()};
	struct json_object *g, *v;

	r.e = engine_from(dir, "nul.yml", rules, &path, &errs);
	for (int i = 0; i < 4; i++) {
		char *l;
		ck_assert_int_ge(
		    asprintf(&l,
			     "{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":"
			     "\"2026-11-20T10:00:%02d.000Z\",\"_ItemId\":\"n%d\","
			     "\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\","
			     "\"Category\":\"RequestResponse\",\"Resource\":\"%s\","
			     "\"ResultSignature\":\"200\"}\n",
			     i, i, resources[i]),
		    0);
		feed(&r, l);
		free(l);
		/* the third request of the group comes with the fourth event */
		ck_assert_uint_eq(json_object_array_length(r.alerts), (i == 3 ? 1u : 0u));
	}
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(r.alerts, 0), "GroupBy", &g));
	ck_assert(json_object_object_get_ex(g, "Resource", &v));
	ck_assert_str_eq(json_object_get_string(v), "ACCT");
	run_done(&r, &errs, dir, path);
}
END_TEST

/* A record stamped far in the future (a broken clock upstream) is taken as arriving
 * now; one a few minutes ahead keeps its time. The engine reads the clock only for a
 * record that looks future against its last reading, so both orders are tried. */
START_TEST(future_records_are_taken_as_now)
{
	static const char rules[] =
	    "title: any request\nid: 5f1e2d3c-0000-4000-8000-0000000000e1\nlevel: low\n"
	    "logsource: {product: azure, service: openai}\n"
	    "detection:\n  sel: {ResultSignature: 200}\n  condition: sel\n";
	char *dir = aw_test_tmpdir(), *path, soon[32], today[16];
	struct aw_error_list errs = {0};
	struct run r = {.alerts = json_object_new_array()};
	time_t now = time(NULL);
	time_t ahead = now + 5 * 60;
	struct tm tm;

	strftime(soon, sizeof soon, "%Y-%m-%dT%H:%M:%S.000Z", gmtime_r(&ahead, &tm));
	strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tm));
	r.e = engine_from(dir, "future.yml", rules, &path, &errs);
	const char *times[] = {"2026-11-20T10:00:00.000Z", "2099-01-01T00:00:00.000Z", soon,
			       "2099-01-01T00:00:00.000Z", soon};
	for (int i = 0; i < 5; i++) {
		char *l;
		ck_assert_int_ge(
		    asprintf(&l,
			     "{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"%s\",\"_ItemId\":"
			     "\"f%d\",\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\","
			     "\"Category\":\"RequestResponse\",\"Resource\":\"A\","
			     "\"ResultSignature\":\"200\"}\n",
			     times[i], i),
		    0);
		feed(&r, l);
		free(l);
	}
	ck_assert_uint_eq(json_object_array_length(r.alerts), 5);
	ck_assert_str_eq(str_at(r.alerts, 0, "WindowStart"), "2026-11-20T10:00:00.000Z");
	for (int i = 1; i < 5; i++) {
		const char *ws = str_at(r.alerts, (size_t)i, "WindowStart");
		if (i % 2 == 0)
			ck_assert_str_eq(ws, soon);
		else
			/* now, give or take the test's own run time around midnight */
			ck_assert_msg(strncmp(ws, today, 10) == 0 || strncmp(ws, soon, 10) == 0,
				      "alert %d: %s", i, ws);
	}
	run_done(&r, &errs, dir, path);
}
END_TEST

/* Rules that say the same thing share one result per event; rules that differ only
 * in how their identifiers combine (and/or, a list of maps, not, which one is negated)
 * must not. Every rule is checked against the events it alone should match. Regular
 * expressions keep the rule index from filing the and/or pair, so both are evaluated
 * on every event, one right after the other. */
static const char *const alike_rules =
    "title: a\nid: 5f1e2d3c-0000-4000-8000-0000000000c1\n"
    "logsource: {product: azure, service: keyvault}\n"
    "detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n"
    "---\ntitle: a written again\nid: 5f1e2d3c-0000-4000-8000-0000000000c2\n"
    "logsource: {product: azure, service: keyvault}\n"
    "detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n"
    "---\ntitle: not a\nid: 5f1e2d3c-0000-4000-8000-0000000000c3\n"
    "logsource: {product: azure, service: keyvault}\n"
    "detection:\n  sel: {OperationName: SecretGet}\n  condition: not sel\n"
    "---\ntitle: a and b\nid: 5f1e2d3c-0000-4000-8000-0000000000c4\n"
    "logsource: {product: azure, service: keyvault}\n"
    "detection:\n  sel: {OperationName|re: ^SecretGet$, ResultSignature|re: ^OK$}\n"
    "  condition: sel\n"
    "---\ntitle: a or b\nid: 5f1e2d3c-0000-4000-8000-0000000000c5\n"
    "logsource: {product: azure, service: keyvault}\n"
    "detection:\n  sel:\n    - {OperationName|re: ^SecretGet$}\n"
    "    - {ResultSignature|re: ^OK$}\n"
    "  condition: sel\n"
    "---\ntitle: a and not b\nid: 5f1e2d3c-0000-4000-8000-0000000000c6\n"
    "logsource: {product: azure, service: keyvault}\n"
    "detection:\n  x: {OperationName: SecretGet}\n  y: {ResultSignature: OK}\n"
    "  condition: x and not y\n"
    "---\ntitle: not a and b\nid: 5f1e2d3c-0000-4000-8000-0000000000c7\n"
    "logsource: {product: azure, service: keyvault}\n"
    "detection:\n  x: {OperationName: SecretGet}\n  y: {ResultSignature: OK}\n"
    "  condition: not x and y\n";

START_TEST(rules_written_alike_share_a_result)
{
	char *dir = aw_test_tmpdir(), *path;
	struct aw_error_list errs = {0};
	struct run r = {.alerts = json_object_new_array()};
	/* per event, the rules (last digit of the id) that match it */
	const char *want[] = {"1245", "357", "1256", "3"};
	char got[4][8] = {{0}};

	r.e = engine_from(dir, "alike.yml", alike_rules, &path, &errs);
	feed(&r, "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
		 "\"ResultSignature\":\"OK\",\"TimeGenerated\":\"2026-11-20T10:00:00Z\","
		 "\"_ItemId\":\"e00\"}\n"
		 "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretList\","
		 "\"ResultSignature\":\"OK\",\"TimeGenerated\":\"2026-11-20T10:00:01Z\","
		 "\"_ItemId\":\"e01\"}\n"
		 "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
		 "\"ResultSignature\":\"Forbidden\",\"TimeGenerated\":\"2026-11-20T10:00:02Z\","
		 "\"_ItemId\":\"e02\"}\n"
		 "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretList\","
		 "\"ResultSignature\":\"Forbidden\",\"TimeGenerated\":\"2026-11-20T10:00:03Z\","
		 "\"_ItemId\":\"e03\"}\n");
	rules_by_event(r.alerts, got, 4);
	for (int e = 0; e < 4; e++)
		ck_assert_msg(strcmp(got[e], want[e]) == 0, "event %d: rules %s, want %s", e,
			      got[e], want[e]);
	run_done(&r, &errs, dir, path);
}
END_TEST

/* The log source is remembered from one event to the next: runs of one table and
 * category reuse it, and any change of table, provider or category (in either
 * direction, and in letter case) gives the new event its own. */
START_TEST(log_source_follows_every_change)
{
	char *dir = aw_test_tmpdir(), *path;
	struct aw_error_list errs = {0};
	struct run r = {.alerts = json_object_new_array()};
	static const struct {
		const char *table, *provider, *category, *want;
	} ev[] = {
	    {"AzureDiagnostics", "MICROSOFT.COGNITIVESERVICES", "RequestResponse", "1"},
	    {"AzureDiagnostics", "MICROSOFT.COGNITIVESERVICES", "RequestResponse", "1"},
	    {"AzureDiagnostics", "MICROSOFT.COGNITIVESERVICES", "Audit", "2"},
	    {"AzureDiagnostics", "MICROSOFT.KEYVAULT", "AuditEvent", "3"},
	    {"AzureDiagnostics", "MICROSOFT.KEYVAULT", "AuditEvent", "3"},
	    {"AzureDiagnostics", "microsoft.cognitiveservices", "requestresponse", "1"},
	    {"AzureDiagnostics", "MICROSOFT.STORAGE", "RequestResponse", ""},
	    {"AZKVAuditLogs", NULL, "AuditEvent", "3"},
	    {"AzureDiagnostics", "MICROSOFT.COGNITIVESERVICES", "RequestResponse", "1"},
	    {"AzureDiagnostics", "MICROSOFT.COGNITIVESERVICES", NULL, ""},
	    {"AzureDiagnostics", NULL, "RequestResponse", ""},
	    {"AzureDiagnostics", "MICROSOFT.COGNITIVESERVICES", "Audit", "2"},
	    /* escaped column text reads as its decoded form */
	    {"AzureDiagnostics", "MICROSOFT.KEY\\u0056AULT", "AuditEvent", "3"},
	    {"AzureDiagnostics", "MICROSOFT.COGNITIVE\\u0053ERVICES", "Request\\u0052esponse", "1"},
	};
	size_t nev = sizeof ev / sizeof ev[0];
	char got[16][8] = {{0}};

	ck_assert_int_ge(asprintf(&path, "%s/src.yml", dir), 0);
	free(aw_test_write(
	    NULL, path,
	    "title: c1\nid: 5f1e2d3c-0000-4000-8000-0000000000d1\n"
	    "logsource: {product: azure, service: openai, category: requestresponse}\n"
	    "detection:\n  sel: {OperationName: Op}\n  condition: sel\n"
	    "---\ntitle: c2\nid: 5f1e2d3c-0000-4000-8000-0000000000d2\n"
	    "logsource: {product: azure, service: openai, category: audit}\n"
	    "detection:\n  sel: {OperationName: Op}\n  condition: sel\n"
	    "---\ntitle: c3\nid: 5f1e2d3c-0000-4000-8000-0000000000d3\n"
	    "logsource: {product: azure, service: keyvault}\n"
	    "detection:\n  sel: {OperationName: Op}\n  condition: sel\n",
	    0600));
	const char *paths[] = {path};
	r.e = engine_for(paths, 1, NULL, 0, &errs);
	ck_assert_msg(errs.n == 0, "%s", errs.n ? errs.msgs[0] : "");
	for (size_t i = 0; i < nev; i++) {
		char line[512];
		size_t n = (size_t)snprintf(line, sizeof line,
					    "{\"Type\":\"%s\",\"OperationName\":\"Op\","
					    "\"TimeGenerated\":\"2026-11-20T10:00:%02zuZ\","
					    "\"_ItemId\":\"e%02zu\"",
					    ev[i].table, i, i);
		if (ev[i].provider)
			n += (size_t)snprintf(line + n, sizeof line - n,
					      ",\"ResourceProvider\":\"%s\"", ev[i].provider);
		if (ev[i].category)
			n += (size_t)snprintf(line + n, sizeof line - n, ",\"Category\":\"%s\"",
					      ev[i].category);
		snprintf(line + n, sizeof line - n, "}\n");
		feed(&r, line);
	}
	rules_by_event(r.alerts, got, nev);
	for (size_t i = 0; i < nev; i++)
		ck_assert_msg(strcmp(got[i], ev[i].want) == 0, "event %zu: rules %s, want %s", i,
			      got[i], ev[i].want);
	run_done(&r, &errs, dir, path);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");

	tcase_add_test(tc, foreign_rule_matches_with_field_mapping);
	tcase_add_test(tc, rules_outside_the_spec_are_reported_not_misread);
	tcase_add_test(tc, correlation_alert_has_window_group_and_stable_id);
	tcase_add_test(tc, correlation_state_survives_restart);
	tcase_add_test(tc, correlation_key_cut_at_nul);
	tcase_add_test(tc, future_records_are_taken_as_now);
	tcase_add_test(tc, defender_alert_rows_share_one_alert_id);
	tcase_add_test(tc, event_time_formats);
	tcase_add_test(tc, rules_written_alike_share_a_result);
	tcase_add_test(tc, log_source_follows_every_change);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(engine_suite)
