/* The loganalytics input on a real loop, engine (with a Sigma rule) and pipeline,
 * against the Azure emulator's query API: records ingested minutes after their
 * TimeGenerated, some arriving after the polls that first covered them, each
 * evaluated exactly once across polls, overlaps and row-cap follow-ups; PartialError
 * answers re-read, never skipped; a restart (and a kill -9) resuming from the
 * checkpoint; malformed rows counted and logged; 429 ridden out; readiness. */
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "la.h"
#include "log.h"
#include "plugin_harness.h"
#include "state.h"

extern const struct aw_plugin_desc aw_in_loganalytics;

#define WS     "11111111-2222-4333-8444-555555555555"
#define SEC    AW_LA_TICKS_PER_SEC

static struct aw_test_emu emu;
static char *ruledir;

static bool is_alert(const char *rec)
{
	return strstr(rec, "\"AlertId\":") != NULL;
}

/* Event records (forwarded events) carrying _ItemId `id`. */
static size_t events_of(char *const *recs, size_t n, const char *id)
{
	char needle[128];
	size_t c = 0;

	snprintf(needle, sizeof needle, "\"_ItemId\":\"%s\"", id);
	for (size_t i = 0; i < n; i++)
		if (!is_alert(recs[i]) && strstr(recs[i], needle))
			c++;
	return c;
}

static size_t count_events(void)
{
	size_t c = 0;

	for (size_t i = 0; i < aw_test_cap.n; i++)
		c += !is_alert(aw_test_cap.recs[i]);
	return c;
}

static size_t count_alerts(void)
{
	return aw_test_cap.n - count_events();
}

/* --- harness: emulator + Azure services + pipeline + the input ---------------------------- */

/* The input, with a Sigma rule and the Azure services against the emulator; events are
 * forwarded beside the rule's alerts. */
static struct aw_test_harness_conf g_hc = {
    .input = &aw_in_loganalytics,
    .name = "la",
    .allowed_lateness_ms = 3600000,
    .host = "test",
    .emu = &emu,
};

static const char rule_text[] = "title: Key-authenticated OpenAI request (test)\n"
				"id: 7c1d2e3f-0000-4000-8000-00000000a001\n"
				"level: medium\n"
				"logsource: {product: azure, service: openai}\n"
				"detection:\n"
				"  sel: {properties_s.objectId: ''}\n"
				"  condition: sel\n";

/* After the harness's fixture: the rule, in the test's scratch directory. */
static void setup(void)
{
	ck_assert_int_ge(asprintf(&ruledir, "%s/rules", aw_test_tmp.dir), 0);
	ck_assert_int_eq(mkdir(ruledir, 0700), 0);
	free(aw_test_write(ruledir, "keyauth.yml", rule_text, 0600));
	g_hc.rules = ruledir;
	if (getenv("AW_TEST_DEBUG"))
		aw_log_configure(AW_LOG_DEBUG, AW_LOG_LOGFMT);
}

static void teardown(void)
{
	free(ruledir);
}

/* The input's YAML with the test's short timings; lines of `extra` replace or add keys. */
static char *input_yaml(const char *extra)
{
	static const char *const defaults[] = {"interval: 300ms\n", "settle_delay: 1s\n",
					       "overlap: 4s\n",	    "lookback: 1h\n",
					       "row_cap: 5\n",	    NULL};
	char *y, *acc;

	ck_assert_int_ge(
	    asprintf(&acc, "workspace_id: " WS "\nendpoint: %s/\n%s", emu.base, extra ? extra : ""),
	    0);
	for (size_t i = 0; defaults[i]; i++) {
		size_t klen = (size_t)(strchr(defaults[i], ':') - defaults[i]) + 1;
		char key[32];
		snprintf(key, sizeof key, "%.*s", (int)klen, defaults[i]);
		if (extra && (!strncmp(extra, key, klen) || strstr(extra, key)))
			continue;
		ck_assert_int_ge(asprintf(&y, "%s%s", acc, defaults[i]), 0);
		free(acc);
		acc = y;
	}
	return acc;
}

static void h_start(struct aw_test_harness *h, const char *yaml)
{
	aw_test_harness_start(h, &g_hc, yaml);
}

static bool events_captured(void *ud)
{
	return count_events() >= *(size_t *)ud;
}

/* Run the loop until `events` distinct-or-not event records arrived (0: just run) or
 * `ms` passed. */
static void run_for(struct aw_test_harness *h, size_t events, unsigned ms)
{
	aw_test_run_until(&h->loop, events ? events_captured : NULL, &events, ms);
}

static void wait_events(struct aw_test_harness *h, size_t n)
{
	run_for(h, n, 20000);
	if (count_events() < n) {
		char *log = aw_test_log();
		size_t len = strlen(log);
		ck_assert_msg(0, "got %zu events, want %zu; log ends:\n%s", count_events(), n,
			      len > 3000 ? log + len - 3000 : log);
	}
}

/* --- records in the emulator ----------------------------------------------------------- */

static char *iso(int64_t t)
{
	char *s = malloc(AW_LA_TIME_LEN);

	aw_la_time_format(t, s);
	return s;
}

static void item_id(char out[40], char tag, int k)
{
	snprintf(out, 40, "%c0000000-0000-4000-8000-%012d", tag, k);
}

/* An Azure OpenAI RequestResponse record; key-authenticated ones match the rule. */
static char *openai_row(const char *id, int64_t tg, int64_t ing, bool keyauth)
{
	char *s, *a = iso(tg), *b = iso(ing);

	ck_assert_int_ge(
	    asprintf(
		&s,
		"\"%s\":{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"%s\",\"_ItemId\":\"%s\","
		"\"ingestion_time\":\"%s\",\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\","
		"\"Category\":\"RequestResponse\",\"Resource\":\"ACCT1\",\"ResultSignature\":"
		"\"200\","
		"\"CallerIPAddress\":\"203.0.113.***\",\"DurationMs\":812,"
		"\"properties_s\":\"{\\\"objectId\\\":\\\"%s\\\",\\\"modelDeploymentName\\\":"
		"\\\"gpt\\\"}\"}",
		id, a, id, b, keyauth ? "" : "5f1e2d3c-aaaa-4000-8000-000000000001"),
	    0);
	free(a);
	free(b);
	return s;
}

static char *table_row(const char *id, const char *table, int64_t tg, int64_t ing,
		       const char *extra)
{
	char *s, *a = iso(tg), *b = iso(ing);

	ck_assert_int_ge(
	    asprintf(&s,
		     "\"%s\":{\"Type\":\"%s\",\"TimeGenerated\":\"%s\",\"_ItemId\":\"%s\","
		     "\"ingestion_time\":\"%s\"%s}",
		     id, table, a, id, b, extra ? extra : ""),
	    0);
	free(a);
	free(b);
	return s;
}

/* {"tenant..", "clients": .., "loganalytics": {WS: {"rows": {rows}, extra}}} */
static char *emu_config(const char *rows, const char *ws_extra)
{
	return aw_test_emu_config("\"loganalytics\":{\"" WS "\":{\"rows\":{%s}%s}}", rows,
				  ws_extra ? ws_extra : "");
}

/* Add rows at run time (a merge patch adds keys to the rows object). */
static void emu_add_rows(const char *rows)
{
	char *body;

	ck_assert_int_ge(asprintf(&body, "{\"loganalytics\":{\"" WS "\":{\"rows\":{%s}}}}", rows),
			 0);
	aw_test_emu_configure(&emu, body);
	free(body);
}

static void join(char **acc, char *piece)
{
	char *s;

	ck_assert_int_ge(asprintf(&s, "%s%s%s", *acc ? *acc : "", *acc && **acc ? "," : "", piece),
			 0);
	free(*acc);
	free(piece);
	*acc = s;
}

static json_object *emu_queries(void)
{
	return aw_test_emu_request_log(&emu, "/v1/workspaces/");
}

/* The KQL of logged request i. */
static const char *query_text(json_object *log, size_t i, json_object **hold)
{
	json_object *e = json_object_array_get_idx(log, i), *b, *q;

	ck_assert(json_object_object_get_ex(e, "body", &b));
	*hold = json_tokener_parse(json_object_get_string(b));
	ck_assert(json_object_object_get_ex(*hold, "query", &q));
	return json_object_get_string(q);
}

/* --- pure parts --------------------------------------------------------------------------- */

START_TEST(datetimes_keep_seven_digits)
{
	int64_t t;
	char buf[AW_LA_TIME_LEN];

	ck_assert_int_eq(aw_la_time_parse("2026-05-01T10:00:01.1234567Z", 28, &t), 0);
	aw_la_time_format(t, buf);
	ck_assert_str_eq(buf, "2026-05-01T10:00:01.1234567Z");
	aw_la_time_format(t - 1, buf);
	ck_assert_str_eq(buf, "2026-05-01T10:00:01.1234566Z");
	ck_assert_int_eq(aw_la_time_parse("2024-02-29T23:59:59Z", 20, &t), 0);
	aw_la_time_format(t + SEC, buf);
	ck_assert_str_eq(buf, "2024-03-01T00:00:00.0000000Z");
	ck_assert_int_eq(aw_la_time_parse("2026-05-01T10:00:01+00:00", 25, &t), 0);
	ck_assert_int_eq(aw_la_time_parse("2026-05-01 10:00", 16, &t), -1);
	ck_assert_int_eq(aw_la_time_parse("2026-05-01T10:00:01+02:00", 25, &t), -1);
}
END_TEST

START_TEST(answers_rows_and_errors)
{
	static const char body[] =
	    "{\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":["
	    "{\"name\":\"Props\",\"type\":\"dynamic\"},{\"name\":\"_ItemId\",\"type\":\"string\"},"
	    "{\"name\":\"DurationMs\",\"type\":\"long\"},{\"name\":\"Type\",\"type\":\"string\"},"
	    "{\"name\":\"_aw_ingested\",\"type\":\"datetime\"},{\"name\":\"Gone\",\"type\":"
	    "\"string\"}],"
	    "\"rows\":[[\"{\\\"model\\\":\\\"gpt-4o\\\"}\",\"id-1\",\"812\",\"AzureDiagnostics\","
	    "\"2026-05-01T10:00:01.1234567Z\",null],"
	    "[\"{bad\",\"id-2\",1,\"AzureDiagnostics\",\"2026-05-01T10:00:02Z\",null],"
	    "[\"{}\",\"id-3\"]]}],"
	    "\"error\":{\"code\":\"PartialError\",\"details\":[{\"code\":\"EngineError\","
	    "\"innererror\":{\"message\":\"w\",\"severity\":3,\"severityName\":\"Warning\"}}]}}";
	struct aw_la_answer a;
	struct aw_la_row r;
	struct aw_error err;

	ck_assert_int_eq(aw_la_answer_parse(body, strlen(body), &a, &err), 0);
	ck_assert(a.has_error && a.warnings_only);
	ck_assert_uint_eq(a.nrows, 3);
	/* by name, typed: dynamic stays JSON text, "812" in a long column is a number, null
	 * values are left out */
	ck_assert_int_eq(aw_la_row_event(&a, 0, NULL, &r), 0);
	ck_assert_str_eq(r.json,
			 "{\"Props\":\"{\\\"model\\\":\\\"gpt-4o\\\"}\",\"_ItemId\":\"id-1\","
			 "\"DurationMs\":812,\"Type\":\"AzureDiagnostics\","
			 "\"_aw_ingested\":\"2026-05-01T10:00:01.1234567Z\"}");
	ck_assert_str_eq(r.key, "id-1");
	free(r.json);
	ck_assert_int_eq(aw_la_row_event(&a, 1, NULL, &r), -1);
	ck_assert_str_eq(r.reason, "bad_json");
	ck_assert_str_eq(r.item_id, "id-2");
	ck_assert_str_eq(r.table, "AzureDiagnostics");
	ck_assert_int_eq(aw_la_row_event(&a, 2, NULL, &r), -1);
	ck_assert_str_eq(r.reason, "column_count");
	aw_la_answer_free(&a);

	/* an Error-severity detail means the rows may be cut */
	static const char cut[] =
	    "{\"tables\":[],\"error\":{\"code\":\"PartialError\",\"details\":[{\"code\":"
	    "\"EngineError\","
	    "\"innererror\":{\"message\":\"E_QUERY_RESULT_SET_TOO_LARGE\",\"severity\":2,"
	    "\"severityName\":\"Error\"}}]}}";
	ck_assert_int_eq(aw_la_answer_parse(cut, strlen(cut), &a, &err), 0);
	ck_assert(a.has_error && !a.warnings_only);
	ck_assert_str_eq(a.error_detail, "E_QUERY_RESULT_SET_TOO_LARGE");
	aw_la_answer_free(&a);
	ck_assert_int_eq(aw_la_answer_parse("", 0, &a, &err), 0);
	ck_assert_uint_eq(a.nrows, 0);
	ck_assert_int_eq(aw_la_answer_parse("{\"x\":1}", 7, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "no \"tables\""));
}
END_TEST

START_TEST(dedup_set_is_bounded_and_prunes_by_ingestion)
{
	struct aw_la_seen *s = aw_la_seen_new(100);
	char k[32];

	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(aw_la_seen_add(s, k, i, 1), 0);
	}
	ck_assert_int_eq(aw_la_seen_add(s, "k100", 100, 1), 1); /* full: k0 forgotten */
	ck_assert(!aw_la_seen_has(s, "k0"));
	ck_assert(aw_la_seen_has(s, "k1") && aw_la_seen_has(s, "k100"));
	aw_la_seen_prune(s, 50);
	ck_assert_uint_eq(aw_la_seen_count(s), 50);
	ck_assert(!aw_la_seen_has(s, "k50") && aw_la_seen_has(s, "k51"));
	for (int i = 51; i <= 100; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_msg(aw_la_seen_has(s, k), "%s lost by deletions", k);
	}
	aw_la_seen_free(s);
}
END_TEST

START_TEST(query_names_the_range_and_covers_late_time_generated)
{
	struct aw_la_range r = {.lo = 1000 * SEC, .hi = 2000 * SEC, .take = 7};
	struct aw_strlist t = {.v = (char *[]){"AZKVAuditLogs", "AzureActivity | where X == 1"},
			       .n = 2};
	char *src = aw_la_tables_source(&t), *body;
	json_object *o, *q, *span;

	ck_assert_str_eq(src,
			 "union isfuzzy=true\n  AZKVAuditLogs,\n  (AzureActivity | where X == 1)");
	body = aw_la_request_body(src, &r, 3LL * 86400 * SEC, 86400 * SEC);
	o = json_tokener_parse(body);
	ck_assert(json_object_object_get_ex(o, "query", &q));
	ck_assert(json_object_object_get_ex(o, "timespan", &span));
	ck_assert_ptr_nonnull(
	    strstr(json_object_get_string(q),
		   "| where ingestion_time() > datetime(1970-01-01T00:16:40.0000000Z) "
		   "and ingestion_time() <= datetime(1970-01-01T00:33:20.0000000Z)"));
	ck_assert_ptr_nonnull(strstr(json_object_get_string(q), "| take 7"));
	/* TimeGenerated from 3 days before the range to a day after it */
	ck_assert_str_eq(json_object_get_string(span),
			 "1969-12-29T00:16:40.0000000Z/1970-01-02T00:33:20.0000000Z");
	json_object_put(o);
	free(body);
	r.keyset = true;
	snprintf(r.lo_id, sizeof r.lo_id, "abc-1");
	body = aw_la_request_body(src, &r, 0, 0);
	ck_assert_ptr_nonnull(strstr(body, "strcmp(_ItemId, \\\"abc-1\\\") > 0"));
	free(body);
	free(src);
}
END_TEST

static size_t n_granted;
static struct aw_la_slot *granted_to[AW_LA_MAX_PER_WINDOW + 1];

static void on_grant(struct aw_la_slot *s)
{
	ck_assert_uint_le(n_granted, AW_LA_MAX_PER_WINDOW);
	granted_to[n_granted++] = s;
}

START_TEST(limiter_keeps_five_in_flight_and_two_hundred_per_window)
{
	uv_loop_t loop;
	struct aw_la_slot slots[7];
	uv_timer_t timers[7];

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	memset(slots, 0, sizeof slots);
	for (size_t i = 0; i < 7; i++) {
		uv_timer_init(&loop, &timers[i]);
		slots[i].grant = on_grant;
		slots[i].timer = &timers[i];
		aw_la_limit_request(&slots[i]);
	}
	/* five at once; the others wait their turn, first come first served */
	ck_assert_uint_eq(n_granted, AW_LA_MAX_CONCURRENT);
	aw_la_limit_release(&slots[0]);
	ck_assert_uint_eq(n_granted, 6);
	ck_assert_ptr_eq(granted_to[5], &slots[5]);
	aw_la_limit_cancel(&slots[6]); /* leaves the queue */
	aw_la_limit_release(&slots[1]);
	ck_assert_uint_eq(n_granted, 6);
	for (size_t i = 2; i < 6; i++)
		aw_la_limit_release(&slots[i]);
	/* 200 queries in 30 s, then the next waits on its timer */
	while (n_granted < AW_LA_MAX_PER_WINDOW) {
		aw_la_limit_request(&slots[0]);
		aw_la_limit_release(&slots[0]);
	}
	aw_la_limit_request(&slots[0]);
	ck_assert_uint_eq(n_granted, AW_LA_MAX_PER_WINDOW);
	ck_assert(uv_is_active((uv_handle_t *)&timers[0]));
	aw_la_limit_cancel(&slots[0]);
	for (size_t i = 0; i < 7; i++)
		uv_close((uv_handle_t *)&timers[i], NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* --- against the emulator ------------------------------------------------------------------- */

START_TEST(late_records_evaluated_exactly_once)
{
	struct aw_test_harness h;
	int64_t t0 = aw_la_now_ticks();
	char *rows = NULL, id[40], *yaml;
	size_t alerts_expected = 0;

	/* 12 OpenAI records ingested 7 minutes after their TimeGenerated, one activity record
	 * stamped 47 hours before it was ingested */
	for (int i = 1; i <= 12; i++) {
		item_id(id, 'a', i);
		int64_t ing = t0 - (61 - i) * SEC;
		join(&rows, openai_row(id, ing - 7 * 60 * SEC, ing, i % 2 == 0));
		alerts_expected += i % 2 == 0;
	}
	item_id(id, 'a', 13);
	join(&rows,
	     table_row(
		 id, "AzureActivity", t0 - 30 * SEC - 47 * 3600 * SEC, t0 - 30 * SEC,
		 ",\"OperationNameValue\":\"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/LISTKEYS/ACTION\","
		 "\"ResourceProviderValue\":\"MICROSOFT.COGNITIVESERVICES\""));
	char *cfg = emu_config(rows, NULL);
	aw_test_emu_start(&emu, cfg);
	free(cfg);
	free(rows);
	rows = NULL;
	yaml = input_yaml(NULL);
	h_start(&h, yaml);
	wait_events(&h, 13);

	/* Late arrivals: one whose ingestion time is already behind the watermark (only
	 * the overlap sees it), one ingested in the future, one not settled yet. */
	int64_t t1 = aw_la_now_ticks();
	item_id(id, 'a', 14);
	join(&rows, openai_row(id, t1 - 10 * 60 * SEC, t1 - 25 * SEC / 10, true));
	item_id(id, 'a', 15);
	join(&rows, openai_row(id, t1 - 15 * 60 * SEC, t1 + 15 * SEC / 10, true));
	item_id(id, 'a', 16);
	join(&rows, table_row(id, "AZKVAuditLogs", t1 - 3 * 60 * SEC, t1 - SEC / 2,
			      ",\"OperationName\":\"SecretGet\""));
	alerts_expected += 2;
	emu_add_rows(rows);
	free(rows);
	wait_events(&h, 16);
	run_for(&h, 0, 2500); /* more polls: the overlap re-reads the late ones */

	for (int i = 1; i <= 16; i++) {
		item_id(id, 'a', i);
		ck_assert_msg(events_of(aw_test_cap.recs, aw_test_cap.n, id) == 1,
			      "%s evaluated %zu times", id,
			      events_of(aw_test_cap.recs, aw_test_cap.n, id));
	}
	ck_assert_uint_eq(count_events(), 16);
	/* one alert per key-authenticated request, each once */
	ck_assert_uint_eq(count_alerts(), alerts_expected);
	ck_assert_double_gt(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_duplicates_total{input=\"la\"}"), 0);
	ck_assert_double_ge(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_rows_total{input=\"la\"}"), 16);
	ck_assert_double_ge(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_lag_seconds{input=\"la\"}"), 0);
	ck_assert_double_eq(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_partial_errors_total{input=\"la\"}"),
	    0);

	/* the row cap (5) forced follow-ups after the last row of each full answer */
	json_object *log = emu_queries(), *hold;
	bool follow_up = false;
	for (size_t i = 0; i < json_object_array_length(log); i++) {
		const char *q = query_text(log, i, &hold);
		ck_assert_ptr_nonnull(strstr(q, "| extend _aw_ingested = ingestion_time()"));
		ck_assert_ptr_nonnull(strstr(q, "| take 5"));
		follow_up =
		    follow_up ||
		    strstr(q, "strcmp(_ItemId, \"a0000000-0000-4000-8000-000000000005\") > 0");
		json_object_put(hold);
	}
	ck_assert_msg(follow_up, "no follow-up query after the first full answer");
	json_object_put(log);
	char why[256];
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	aw_test_harness_stop(&h);
	free(yaml);
	aw_test_emu_stop(&emu);
}
END_TEST

START_TEST(partial_error_loses_nothing)
{
	struct aw_test_harness h;
	int64_t t0 = aw_la_now_ticks();
	char *rows = NULL, id[40], *yaml, *cfg;
	long st;

	for (int i = 1; i <= 8; i++) {
		item_id(id, 'b', i);
		join(&rows, openai_row(id, t0 - 10 * 60 * SEC, t0 - (20 - i) * SEC, false));
	}
	/* and the service's own limit: past 3 rows an answer is cut (PartialError) */
	cfg = emu_config(rows, ",\"row_cap\":3");
	aw_test_emu_start(&emu, cfg);
	free(aw_test_emu_call(&emu, "POST", "/_emulator/loganalytics/next",
			      "{\"workspace\":\"" WS "\",\"partial_error\":2,\"warning\":1}", &st));
	ck_assert_int_eq(st, 200);
	yaml = input_yaml("row_cap: 8\n");
	h_start(&h, yaml);
	wait_events(&h, 8);
	run_for(&h, 0, 1000);

	for (int i = 1; i <= 8; i++) {
		item_id(id, 'b', i);
		ck_assert_msg(events_of(aw_test_cap.recs, aw_test_cap.n, id) == 1,
			      "%s evaluated %zu times", id,
			      events_of(aw_test_cap.recs, aw_test_cap.n, id));
	}
	ck_assert_uint_eq(count_events(), 8);
	ck_assert_double_ge(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_partial_errors_total{input=\"la\"}"),
	    2);
	aw_test_assert_logged("partial answer; reading the range again in smaller steps");
	aw_test_assert_logged("E_QUERY_RESULT_SET_TOO_LARGE");
	aw_test_assert_logged("answer carries warnings only; its rows are complete");
	aw_test_harness_stop(&h);
	free(yaml);
	free(rows);
	free(cfg);
	aw_test_emu_stop(&emu);
}
END_TEST

static json_object *read_checkpoint(void)
{
	char *sub, *data = NULL;
	size_t len;
	struct aw_error err;
	json_object *o;

	ck_assert_int_ge(asprintf(&sub, "%s/inputs/la", aw_test_tmp.statedir), 0);
	ck_assert_msg(aw_state_read(sub, "checkpoint", &data, &len, &err) == 0, "%s", err.msg);
	o = json_tokener_parse(data);
	ck_assert_ptr_nonnull(o);
	free(data);
	free(sub);
	return o;
}

START_TEST(restart_resumes_from_checkpoint)
{
	struct aw_test_harness h;
	int64_t t0 = aw_la_now_ticks(), wm;
	char *rows = NULL, id[40], *yaml, *cfg;
	json_object *ck, *v, *log, *hold;
	long st;

	for (int i = 1; i <= 6; i++) {
		item_id(id, 'c', i);
		join(&rows, openai_row(id, t0 - 5 * 60 * SEC, t0 - (21 - i) * SEC, i % 2 == 0));
	}
	cfg = emu_config(rows, NULL);
	free(rows);
	rows = NULL;
	aw_test_emu_start(&emu, cfg);
	/* a 30 s overlap: the restart reads all six again */
	yaml = input_yaml("overlap: 30s\n");
	h_start(&h, yaml);
	wait_events(&h, 6);
	run_for(&h, 0, 500);
	ck_assert_uint_eq(count_alerts(), 3);
	aw_test_harness_stop(&h);

	/* the checkpoint: the watermark, and the overlap's _ItemIds that were durable */
	ck = read_checkpoint();
	ck_assert(json_object_object_get_ex(ck, "watermark", &v));
	ck_assert_int_eq(
	    aw_la_time_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), &wm),
	    0);
	ck_assert_int_ge(wm, t0 - 16 * SEC);
	ck_assert(json_object_object_get_ex(ck, "seen", &v));
	ck_assert_uint_eq(json_object_array_length(v), 6);
	json_object_put(ck);

	/* new records while it was down; a fresh instance on the same state directory */
	int64_t t1 = aw_la_now_ticks();
	for (int i = 7; i <= 9; i++) {
		item_id(id, 'c', i);
		join(&rows, openai_row(id, t1 - 60 * SEC, t1 - (10 - i) * SEC / 2, true));
	}
	emu_add_rows(rows);
	free(rows);
	free(aw_test_emu_call(&emu, "POST", "/_emulator/reset", NULL, &st));
	aw_test_capture_reset();
	h_start(&h, yaml);
	wait_events(&h, 3);
	run_for(&h, 0, 1000);
	for (int i = 1; i <= 9; i++) {
		item_id(id, 'c', i);
		ck_assert_msg(events_of(aw_test_cap.recs, aw_test_cap.n, id) == (i >= 7 ? 1u : 0u),
			      "%s evaluated %zu times after the restart", id,
			      events_of(aw_test_cap.recs, aw_test_cap.n, id));
	}
	ck_assert_uint_eq(count_alerts(), 3);
	/* the overlap was read again (and recognised), nothing before it */
	ck_assert_double_ge(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_duplicates_total{input=\"la\"}"), 6);
	log = emu_queries();
	char *lo = iso(wm - 30 * SEC), want[128];
	snprintf(want, sizeof want, "ingestion_time() > datetime(%s)", lo);
	const char *q = query_text(log, 0, &hold);
	ck_assert_msg(strstr(q, want) != NULL, "first query after the restart:\n%s\nwant %s", q,
		      want);
	json_object_put(hold);
	json_object_put(log);
	free(lo);
	aw_test_assert_logged("resuming from checkpoint");
	aw_test_harness_stop(&h);
	free(yaml);
	free(cfg);
	aw_test_emu_stop(&emu);
}
END_TEST

/* Alert ids by the _ItemId that produced them, from records (one per line or array). */
static void alert_ids(char *const *recs, size_t n, json_object *map)
{
	for (size_t i = 0; i < n; i++) {
		json_object *o, *id, *ev, *ids;
		if (!is_alert(recs[i]))
			continue;
		o = json_tokener_parse(recs[i]);
		ck_assert(json_object_object_get_ex(o, "AlertId", &id));
		ck_assert(json_object_object_get_ex(o, "Evidence", &ev));
		ck_assert(json_object_object_get_ex(ev, "ItemIds", &ids));
		const char *item = json_object_get_string(json_object_array_get_idx(ids, 0));
		json_object *prev;
		if (json_object_object_get_ex(map, item, &prev))
			ck_assert_str_eq(json_object_get_string(prev), json_object_get_string(id));
		else
			json_object_object_add(map, item,
					       json_object_new_string(json_object_get_string(id)));
		json_object_put(o);
	}
}

START_TEST(kill_between_polls_loses_nothing)
{
	struct aw_test_harness h;
	int64_t t0 = aw_la_now_ticks();
	char *rows = NULL, id[40], *yaml, *cfg, *teepath, *tee;
	pid_t pid;

	for (int i = 1; i <= 8; i++) {
		item_id(id, 'd', i);
		join(&rows, openai_row(id, t0 - 5 * 60 * SEC, t0 - (30 - i) * SEC, i % 2 == 1));
	}
	cfg = emu_config(rows, NULL);
	free(rows);
	rows = NULL;
	aw_test_emu_start(&emu, cfg);
	yaml = input_yaml("overlap: 30s\n");
	ck_assert_int_ge(asprintf(&teepath, "%s/first-run.jsonl", aw_test_tmp.dir), 0);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The first daemon: its output never confirms, so its records live only in
		 * the spool when it dies. */
		aw_test_cap.hold = true;
		aw_test_cap.tee_fd = open(teepath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		h_start(&h, yaml);
		for (;;)
			run_for(&h, 0, 1000);
	}
	/* Kill it once its checkpoint has moved past all eight: from then on they exist
	 * only in its output's spool (nothing was confirmed). */
	bool committed = false;
	for (int waited = 0; waited < 20000 && !committed; waited += 20) {
		char *sub, *data = NULL;
		size_t len;
		struct aw_error err;
		ck_assert_int_ge(asprintf(&sub, "%s/inputs/la", aw_test_tmp.statedir), 0);
		if (aw_state_read(sub, "checkpoint", &data, &len, &err) == 0) {
			json_object *o = json_tokener_parse(data), *seen;
			committed = json_object_object_get_ex(o, "seen", &seen) &&
				    json_object_array_length(seen) == 8;
			json_object_put(o);
		}
		free(data);
		free(sub);
		if (!committed)
			aw_test_sleep_ms(20);
	}
	ck_assert_msg(committed, "the first run never checkpointed the eight records");
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);

	int64_t t1 = aw_la_now_ticks();
	for (int i = 9; i <= 10; i++) {
		item_id(id, 'd', i);
		join(&rows, openai_row(id, t1 - 60 * SEC, t1 - (12 - i) * SEC / 2, true));
	}
	emu_add_rows(rows);
	free(rows);
	h_start(&h, yaml);
	run_for(&h, 0, 3000);

	/* Everything reached an output: the first run's (from the spool, after the
	 * restart) or the second's; an alert produced twice carries the same AlertId. */
	size_t nfirst = 0;
	char **first = calloc(AW_TEST_CAPTURE_MAX, sizeof *first);
	tee = aw_test_read(teepath, NULL);
	for (char *line = tee, *nl; line && *line && nfirst < AW_TEST_CAPTURE_MAX;
	     line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		first[nfirst++] = nl ? strndup(line, (size_t)(nl - line)) : strdup(line);
	}
	free(tee);
	for (int i = 1; i <= 10; i++) {
		item_id(id, 'd', i);
		ck_assert_msg(events_of(aw_test_cap.recs, aw_test_cap.n, id) >= 1,
			      "%s lost (first run had it %zu times)", id,
			      events_of(first, nfirst, id));
	}
	/* the second run read the overlap again and recognised the first run's records */
	ck_assert_double_ge(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_duplicates_total{input=\"la\"}"), 8);
	json_object *map = json_object_new_object();
	alert_ids(first, nfirst, map);
	alert_ids(aw_test_cap.recs, aw_test_cap.n, map);
	ck_assert_int_eq(json_object_object_length(map), 6); /* d1 d3 d5 d7 d9 d10 */
	json_object_put(map);
	for (size_t i = 0; i < nfirst; i++)
		free(first[i]);
	free(first);
	aw_test_harness_stop(&h);
	free(teepath);
	free(yaml);
	free(cfg);
	aw_test_emu_stop(&emu);
}
END_TEST

START_TEST(malformed_rows_counted_and_logged)
{
	struct aw_test_harness h;
	int64_t t0 = aw_la_now_ticks();
	char *rows = NULL, id[40], *yaml, *cfg, *a = iso(t0 - 2 * SEC);

	/* the first row in answer order lists Type, TimeGenerated, _ItemId first, so a
	 * short raw row still names its table and id */
	char *m1;
	ck_assert_int_ge(
	    asprintf(&m1,
		     "\"m1\":{\"Type\":\"AzureDiagnostics\",\"TimeGenerated\":\"%s\","
		     "\"_ItemId\":\"m0000000-0000-4000-8000-000000000001\","
		     "\"ingestion_time\":\"%s\",\"_raw_row\":[\"AzureDiagnostics\",\"%s\","
		     "\"m0000000-0000-4000-8000-000000000001\"],"
		     "\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\",\"Category\":\"Audit\"}",
		     a, a, a),
	    0);
	join(&rows, m1);
	item_id(id, 'm', 2);
	join(&rows,
	     table_row(
		 id, "AzureDiagnostics", t0 - 60 * SEC, t0 - 19 * SEC / 10,
		 ",\"ResourceProvider\":\"MICROSOFT.COGNITIVESERVICES\",\"Category\":\"Audit\","
		 "\"properties_s\":\"{\\\"objectId\\\": oops}\""));
	item_id(id, 'm', 3);
	join(&rows, table_row(id, "SecurityAlert", t0 - 60 * SEC, t0 - 18 * SEC / 10,
			      ",\"_override\":{\"TimeGenerated\":1714557601}"));
	item_id(id, 'm', 4);
	join(&rows, table_row(id, "AmlOnlineEndpointTrafficLog", t0 - 60 * SEC, t0 - 17 * SEC / 10,
			      ",\"Extra\":\"{bad\""));
	item_id(id, 'g', 1);
	join(&rows, openai_row(id, t0 - 60 * SEC, t0 - 16 * SEC / 10, false));
	item_id(id, 'g', 2);
	join(&rows, openai_row(id, t0 - 60 * SEC, t0 - 15 * SEC / 10, false));
	cfg = emu_config(rows, ",\"columns\":{\"Extra\":\"dynamic\"}");
	aw_test_emu_start(&emu, cfg);
	yaml = input_yaml("row_cap: 50\n");
	h_start(&h, yaml);
	wait_events(&h, 2);
	run_for(&h, 0, 1500);

	ck_assert_uint_eq(count_events(), 2);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_events_skipped_total{input=\"la\",reason=\"column_count\"}"),
	    1);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_events_skipped_total{input=\"la\",reason=\"bad_json\"}"),
	    2);
	ck_assert_double_eq(
	    aw_test_harness_metric(
		&h, "aiwatch_events_skipped_total{input=\"la\",reason=\"bad_datetime\"}"),
	    1);
	/* each logged once (re-reads of the overlap are recognised), naming table and id */
	char *log = aw_test_log();
	ck_assert_ptr_nonnull(
	    strstr(log, "table=AzureDiagnostics _ItemId=m0000000-0000-4000-8000-000000000001 "
			"reason=column_count"));
	ck_assert_ptr_nonnull(
	    strstr(log, "table=AzureDiagnostics _ItemId=m0000000-0000-4000-8000-000000000002 "
			"reason=bad_json"));
	ck_assert_ptr_nonnull(
	    strstr(log, "table=SecurityAlert _ItemId=m0000000-0000-4000-8000-000000000003 "
			"reason=bad_datetime"));
	ck_assert_ptr_nonnull(
	    strstr(log, "table=AmlOnlineEndpointTrafficLog "
			"_ItemId=m0000000-0000-4000-8000-000000000004 reason=bad_json"));
	size_t lines = 0;
	for (char *p = log; (p = strstr(p, "malformed row skipped")); p++)
		lines++;
	ck_assert_uint_eq(lines, 4);
	free(log);
	aw_test_harness_stop(&h);
	free(a);
	free(yaml);
	free(rows);
	free(cfg);
	aw_test_emu_stop(&emu);
}
END_TEST

START_TEST(throttled_query_is_ridden_out)
{
	struct aw_test_harness h;
	int64_t t0 = aw_la_now_ticks();
	char *rows = NULL, id[40], *yaml, *cfg;
	long st;

	for (int i = 1; i <= 3; i++) {
		item_id(id, 't', i);
		join(&rows, openai_row(id, t0 - 60 * SEC, t0 - (10 - i) * SEC, false));
	}
	cfg = emu_config(rows, NULL);
	aw_test_emu_start(&emu, cfg);
	free(aw_test_emu_call(&emu, "POST", "/_emulator/faults",
			      "{\"path\":\"/v1/workspaces/\",\"status\":429,\"retry_after_s\":1,"
			      "\"body\":\"{\\\"error\\\":{\\\"code\\\":\\\"ThrottledError\\\","
			      "\\\"message\\\":\\\"Too many requests\\\"}}\"}",
			      &st));
	ck_assert_int_eq(st, 200);
	yaml = input_yaml(NULL);
	h_start(&h, yaml);
	wait_events(&h, 3);
	run_for(&h, 0, 600);
	ck_assert_uint_eq(count_events(), 3);
	ck_assert_double_ge(
	    aw_test_harness_metric(&h, "aiwatch_loganalytics_retries_total{input=\"la\"}"), 1);
	/* the second attempt waited for Retry-After */
	json_object *log = emu_queries(), *t;
	ck_assert_uint_ge(json_object_array_length(log), 2);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(log, 0), "time_ms", &t));
	int64_t first = json_object_get_int64(t);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(log, 1), "time_ms", &t));
	ck_assert_int_ge(json_object_get_int64(t) - first, 990);
	json_object_put(log);
	aw_test_harness_stop(&h);
	free(yaml);
	free(rows);
	free(cfg);
	aw_test_emu_stop(&emu);
}
END_TEST

START_TEST(readiness_follows_the_last_poll)
{
	struct aw_test_harness h;
	char *yaml, *cfg, why[256];
	long st;

	/* a workspace with no data answers 204, a body-less 200 is empty: no rows, and
	 * both are successful polls */
	cfg = emu_config("", NULL);
	aw_test_emu_start(&emu, cfg);
	free(aw_test_emu_call(
	    &emu, "POST", "/_emulator/faults",
	    "{\"path\":\"/v1/workspaces/\",\"status\":403,\"body\":"
	    "\"{\\\"error\\\":{\\\"code\\\":\\\"InsufficientAccessError\\\","
	    "\\\"message\\\":\\\"The provided credentials have insufficient access\\\"}}\"}",
	    &st));
	free(aw_test_emu_call(&emu, "POST", "/_emulator/loganalytics/next",
			      "{\"workspace\":\"" WS "\",\"empty\":1}", &st));
	ck_assert_int_eq(st, 200);
	/* a corrupt checkpoint: a warning, and a start from the look-back */
	aw_test_put_input_state("la", "checkpoint", "garbage");
	yaml = input_yaml(NULL);
	h_start(&h, yaml);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_ptr_nonnull(strstr(why, "waiting for the first query"));
	for (int i = 0; i < 100 && strstr(why, "waiting for the first query"); i++) {
		run_for(&h, 0, 20);
		aw_pipeline_ready(h.p, why, sizeof why);
	}
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "last query failed: HTTP 403 InsufficientAccessError: The "
				  "provided credentials have insufficient access") != NULL,
		      "%s", why);
	for (int i = 0; i < 100 && aw_pipeline_ready(h.p, why, sizeof why) == 0; i++)
		run_for(&h, 0, 50);
	ck_assert_msg(aw_pipeline_ready(h.p, why, sizeof why) == 1, "%s", why);
	run_for(&h, 0, 700);
	ck_assert_msg(aw_pipeline_ready(h.p, why, sizeof why) == 1, "%s", why);
	aw_test_assert_logged("workspace has no data (204); no rows");
	aw_test_assert_logged("empty answer (200); no rows");
	aw_test_assert_logged("ignoring checkpoint; starting from lookback");
	aw_test_assert_logged("query failed; polling again later");
	aw_test_harness_stop(&h);
	free(yaml);
	free(cfg);
	aw_test_emu_stop(&emu);
}
END_TEST

START_TEST(config_errors_name_the_key)
{
	struct aw_error_list errs = {0};
	struct aw_doc *doc;
	const char *y = "workspace_id: not-a-guid\n"
			"endpoint: http://logs.example.com\n"
			"query: AzureActivity | where X == 'open\n"
			"tables: [\"AzureActivity; drop\"]\n";
	void *conf = calloc(1, aw_in_loganalytics.conf_size);
	char all[4096] = "";

	ck_assert_int_eq(aw_doc_load_buffer("t.yaml", y, strlen(y), &doc, &errs), 0);
	ck_assert_int_eq(
	    aw_options_apply(aw_in_loganalytics.options, doc->root, conf, "inputs[0]", 0600, &errs),
	    0);
	ck_assert_int_ne(aw_in_loganalytics.validate(conf, "inputs[0]", &errs), 0);
	for (size_t i = 0; i < errs.n; i++) {
		strncat(all, errs.msgs[i], sizeof all - strlen(all) - 2);
		strcat(all, "\n");
	}
	ck_assert_msg(strstr(all, "inputs[0].workspace_id: 'not-a-guid' is not a workspace GUID"),
		      "%s", all);
	ck_assert_msg(
	    strstr(all, "inputs[0].endpoint: 'http://logs.example.com' is not an https:// URL"),
	    "%s", all);
	ck_assert_msg(strstr(all, "inputs[0]: set either tables or query, not both"), "%s", all);
	ck_assert_msg(strstr(all, "inputs[0].query: unterminated string"), "%s", all);
	ck_assert_msg(strstr(all, "inputs[0].tables[0]: ';' is not allowed"), "%s", all);
	aw_error_list_free(&errs);
	aw_options_free(aw_in_loganalytics.options, conf);
	free(conf);
	aw_doc_free(doc);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("in_loganalytics");
	TCase *pure = tcase_create("parts");
	TCase *tc = tcase_create("emulator");

	tcase_add_test(pure, datetimes_keep_seven_digits);
	tcase_add_test(pure, answers_rows_and_errors);
	tcase_add_test(pure, dedup_set_is_bounded_and_prunes_by_ingestion);
	tcase_add_test(pure, query_names_the_range_and_covers_late_time_generated);
	tcase_add_test(pure, config_errors_name_the_key);
	tcase_add_test(pure, limiter_keeps_five_in_flight_and_two_hundred_per_window);
	suite_add_tcase(s, pure);
	aw_test_harness_fixture(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, late_records_evaluated_exactly_once);
	tcase_add_test(tc, partial_error_loses_nothing);
	tcase_add_test(tc, restart_resumes_from_checkpoint);
	tcase_add_test(tc, kill_between_polls_loses_nothing);
	tcase_add_test(tc, malformed_rows_counted_and_logged);
	tcase_add_test(tc, throttled_query_is_ridden_out);
	tcase_add_test(tc, readiness_follows_the_last_poll);
	suite_add_tcase(s, tc);
	return s;
}

AW_TEST_MAIN(suite)
