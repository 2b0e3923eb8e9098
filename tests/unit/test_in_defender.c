/* The defender input on a real loop and pipeline (forward mode) against the Azure
 * emulator over HTTP: ARM paging with a repeated nextLink and empty pages that carry a
 * nextLink, Resource Graph paging with resultTruncated "true" beside a $skipToken and
 * its quota headers, events only for new or changed findings (also across a restart with
 * the same state directory), malformed items counted and logged, 429 ridden out,
 * readiness, and a corrupt findings table. */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azure.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "pipeline.h"
#include "testutil.h"

extern const struct aw_plugin_desc aw_in_defender;

#define TENANT		 "00000000-0000-0000-0000-0000000000aa"
#define S1		 "11111111-1111-1111-1111-111111111111"
#define S2		 "22222222-2222-2222-2222-222222222222"
#define S3		 "33333333-3333-3333-3333-333333333333"
#define ASSESS_PATH(sub) "/subscriptions/" sub "/providers/Microsoft.Security/assessments"
#define ALERTS_PATH(sub) "/subscriptions/" sub "/providers/Microsoft.Security/alerts"
#define RG_PATH		 "/providers/Microsoft.ResourceGraph/resources"

/* --- a capturing output ---------------------------------------------------------- */

#define CAP_MAX 256

static struct {
	struct aw_plugin_ctx *ctx;
	char *recs[CAP_MAX];
	size_t n;
} g_cap;

static int cap_init(struct aw_plugin_ctx *ctx, const void *conf, void **state, struct aw_error *err)
{
	g_cap.ctx = ctx;
	*state = &g_cap;
	return 0;
}

static void cap_submit(void *state, struct aw_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		ck_assert_uint_lt(g_cap.n, CAP_MAX);
		g_cap.recs[g_cap.n++] = strdup(b->records[i].data);
	}
	aw_output_done(g_cap.ctx, b, AW_DONE, 0, NULL);
}

static void cap_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(g_cap.ctx);
}

static const struct aw_option cap_options[] = {AW_OPT_END};

static const struct aw_plugin_desc cap_desc = {
    .abi = AW_PLUGIN_ABI,
    .name = "capture",
    .kind = AW_PLUGIN_OUTPUT,
    .options = cap_options,
    .init = cap_init,
    .submit = cap_submit,
    .close = cap_close,
};

static void cap_reset(void)
{
	for (size_t i = 0; i < g_cap.n; i++)
		free(g_cap.recs[i]);
	memset(&g_cap, 0, sizeof g_cap);
}

/* Captured events whose text contains every needle given (NULL-terminated). */
static size_t count_events(const char *needle, const char *needle2)
{
	size_t n = 0;

	for (size_t i = 0; i < g_cap.n; i++)
		if (strstr(g_cap.recs[i], needle) && (!needle2 || strstr(g_cap.recs[i], needle2)))
			n++;
	return n;
}

static json_object *event_with(const char *needle, const char *needle2, size_t nth)
{
	for (size_t i = 0; i < g_cap.n; i++)
		if (strstr(g_cap.recs[i], needle) && (!needle2 || strstr(g_cap.recs[i], needle2)) &&
		    nth-- == 0)
			return json_tokener_parse(g_cap.recs[i]);
	ck_abort_msg("no event %zu with %s %s", nth, needle, needle2 ? needle2 : "");
	return NULL;
}

static const char *col(json_object *ev, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(ev, k, &v))
		return NULL;
	return json_object_get_string(v);
}

/* --- harness: loop + Azure services + pipeline + defender input -------------------- */

struct harness {
	uv_loop_t loop;
	struct aw_metrics *metrics;
	struct aw_engine *engine;
	struct aw_pipeline *p;
	struct aw_plugin_ctx *in, *out;
	struct aw_instance_conf ic_in, ic_out;
	struct aw_doc *doc;
	void *in_conf;
	struct aw_azure *az;
	struct aw_azure_conf azc;
	char authority[64];
	bool closed, az_closed;
};

static struct aw_test_emu g_emu;
static char *g_rules; /* a rule directory: alerts instead of forwarded events */
static char *dir, *statedir, *logpath;
static int logfd = -1;

static void setup(void)
{
	dir = aw_test_tmpdir();
	ck_assert_int_ge(asprintf(&statedir, "%s/state", dir), 0);
	ck_assert_int_ge(asprintf(&logpath, "%s/log.txt", dir), 0);
	ck_assert_int_eq(mkdir(statedir, 0700), 0);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ge(logfd, 0);
	aw_log_set_fd(logfd);
	cap_reset();
}

static void teardown(void)
{
	free(g_rules);
	g_rules = NULL;
	cap_reset();
	aw_log_set_fd(2);
	close(logfd);
	aw_test_rmtree(dir);
	free(dir);
	free(statedir);
	free(logpath);
}

/* Start everything with the input configured by `yaml` (the emulator's endpoint is
 * added as arm_endpoint). */
static void h_start(struct harness *h, const char *yaml)
{
	struct aw_error err = {{0}};
	struct aw_error_list errs = {0};
	struct aw_pipeline_conf pc = {
	    .max_queue_bytes = 16 * 1024 * 1024,
	    .retry_initial_ms = 10,
	    .retry_max_ms = 100,
	    .retry_max_age_ms = 60000,
	    .forward_events = !g_rules,
	};
	const char *paths[1] = {g_rules};
	struct aw_engine_conf ec = {.forward_events = !g_rules,
				    .rule_paths = paths,
				    .nrule_paths = g_rules ? 1 : 0,
				    .host = "test-host"};
	char *full;

	memset(h, 0, sizeof *h);
	ck_assert_int_eq(uv_loop_init(&h->loop), 0);
	h->metrics = aw_metrics_new();
	snprintf(h->authority, sizeof h->authority, "%s", g_emu.base);
	h->azc.credential.kind = "client_secret";
	h->azc.credential.tenant_id = TENANT;
	h->azc.credential.client_id = "app1";
	h->azc.credential.client_secret.value = "s3cr3t-client";
	h->azc.credential.authority_host = h->authority;
	h->azc.credential.refresh_before_ms = 300000;
	h->azc.insecure_http_for_tests = true;
	ck_assert_msg(aw_azure_start(&h->loop, &h->azc, h->metrics, &h->az, &err) == 0, "%s",
		      err.msg);
	h->engine = aw_engine_new(&ec, &errs);
	ck_assert_msg(h->engine && errs.n == 0, "rules: %s", errs.n ? errs.msgs[0] : "?");
	ck_assert_msg(
	    aw_pipeline_new(&h->loop, &pc, h->metrics, statedir, h->engine, &h->p, &err) == 0, "%s",
	    err.msg);
	h->ic_out = (struct aw_instance_conf){.desc = &cap_desc, .name = "capture"};
	ck_assert_msg(aw_pipeline_add(h->p, &h->ic_out, &h->out, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(h->out, &err) == 0, "%s", err.msg);

	ck_assert_int_ge(asprintf(&full, "%sarm_endpoint: %s\n", yaml, g_emu.base), 0);
	ck_assert_int_eq(aw_doc_load_buffer("test.yaml", full, strlen(full), &h->doc, &errs), 0);
	free(full);
	h->in_conf = calloc(1, aw_in_defender.conf_size);
	int rc = aw_options_apply(aw_in_defender.options, h->doc->root, h->in_conf, "inputs[0]",
				  0600, &errs);
	ck_assert_msg(rc == 0 && errs.n == 0, "config: %s", errs.n ? errs.msgs[0] : "?");
	ck_assert_msg(aw_in_defender.validate(h->in_conf, "inputs[0]", &errs) == 0, "validate: %s",
		      errs.n ? errs.msgs[0] : "?");
	h->ic_in =
	    (struct aw_instance_conf){.desc = &aw_in_defender, .name = "def", .conf = h->in_conf};
	ck_assert_msg(aw_pipeline_add(h->p, &h->ic_in, &h->in, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(h->in, &err) == 0, "%s", err.msg);
	aw_error_list_free(&errs);
}

static void closed_cb(void *ud)
{
	((struct harness *)ud)->closed = true;
}

static void az_closed_cb(void *ud)
{
	((struct harness *)ud)->az_closed = true;
}

static void h_stop(struct harness *h)
{
	aw_pipeline_close(h->p, closed_cb, h);
	while (!h->closed)
		uv_run(&h->loop, UV_RUN_ONCE);
	aw_azure_close(h->az, az_closed_cb, h);
	while (!h->az_closed)
		uv_run(&h->loop, UV_RUN_ONCE);
	uv_run(&h->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&h->loop), 0);
	aw_options_free(aw_in_defender.options, h->in_conf);
	free(h->in_conf);
	aw_doc_free(h->doc);
	aw_engine_free(h->engine);
	aw_metrics_free(h->metrics);
}

/* The value of a metric series (exact text up to the value), or -1 when absent. */
static double metric(struct harness *h, const char *series)
{
	char *m = NULL, *p;
	size_t len = 0;
	double v = -1;

	ck_assert_int_eq(aw_metrics_render(h->metrics, &m, &len), 0);
	for (p = m; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t n = strlen(series);
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	free(m);
	return v;
}

#define POLLS_OK     "aiwatch_defender_polls_total{input=\"def\",result=\"ok\"}"
#define POLLS_FAILED "aiwatch_defender_polls_total{input=\"def\",result=\"failed\"}"

static double polls(struct harness *h)
{
	return metric(h, POLLS_OK) + metric(h, POLLS_FAILED);
}

static void tick_cb(uv_timer_t *t)
{
}

/* Run the loop until `polls` polls have finished (and their events are delivered). */
static void wait_polls(struct harness *h, double n)
{
	uv_timer_t tick;
	uint64_t deadline;

	uv_update_time(&h->loop);
	deadline = uv_now(&h->loop) + 20000;
	uv_timer_init(&h->loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	while (polls(h) < n && uv_now(&h->loop) < deadline)
		uv_run(&h->loop, UV_RUN_ONCE);
	/* Let the pipeline deliver, sync its spool and report durability (the next poll is
	 * at least 0.8 s away in every test). */
	deadline = uv_now(&h->loop) + 300;
	while (uv_now(&h->loop) < deadline)
		uv_run(&h->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&h->loop, UV_RUN_NOWAIT);
	ck_assert_msg(polls(h) >= n, "%g polls finished, want %g", polls(h), n);
}

static char *log_text(void)
{
	char *s = aw_test_read(logpath, NULL);
	ck_assert_ptr_nonnull(s);
	return s;
}

static size_t occurrences(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static size_t log_count(const char *what)
{
	char *s = log_text();
	size_t n = occurrences(s, what);
	free(s);
	return n;
}

/* --- the emulator -------------------------------------------------------------------- */

static void emu_start(const char *arm_json)
{
	char *cfg;

	ck_assert_int_ge(asprintf(&cfg,
				  "{\"tenant_id\":\"" TENANT "\","
				  "\"clients\":[{\"client_id\":\"app1\",\"client_secret\":"
				  "\"s3cr3t-client\"}],\"arm\":%s}",
				  arm_json),
			 0);
	aw_test_emu_start(&g_emu, cfg);
	free(cfg);
}

static void emu_config(const char *patch)
{
	long st = 0;
	char *r = aw_test_emu_call(&g_emu, "POST", "/_emulator/config", patch, &st);
	ck_assert_msg(st == 200, "config refused: %s", r);
	free(r);
}

static void emu_fault(const char *json)
{
	long st = 0;
	char *r = aw_test_emu_call(&g_emu, "POST", "/_emulator/faults", json, &st);
	ck_assert_msg(st == 200, "fault refused: %s", r);
	free(r);
}

/* Logged requests whose path starts with prefix. */
static size_t emu_requests(const char *prefix)
{
	long st = 0;
	char path[512];
	snprintf(path, sizeof path, "/_emulator/requests?path=%s", prefix);
	char *r = aw_test_emu_call(&g_emu, "GET", path, NULL, &st);
	json_object *a = json_tokener_parse(r);
	size_t n;

	ck_assert_int_eq(st, 200);
	ck_assert_ptr_nonnull(a);
	n = json_object_array_length(a);
	json_object_put(a);
	free(r);
	return n;
}

static char *emu_get(const char *path)
{
	long st = 0;
	char *r = aw_test_emu_call(&g_emu, "GET", path, NULL, &st);
	ck_assert_int_eq(st, 200);
	return r;
}

static void emu_reset_log(void)
{
	long st = 0;
	free(aw_test_emu_call(&g_emu, "POST", "/_emulator/reset", "", &st));
	ck_assert_int_eq(st, 200);
}

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
	struct harness h;

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
	wait_polls(&h, 1);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityRecommendation\"", NULL), 5);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityAlert\"", NULL), 2);
	for (int i = 1; i <= 5; i++) {
		char needle[64];
		snprintf(needle, sizeof needle, "\"RecommendationName\":\"a%d\"", i);
		ck_assert_uint_eq(count_events(needle, NULL), 1);
	}
	ck_assert_uint_eq(emu_requests(ASSESS_PATH(S1)), 4); /* 3 data pages + the empty one */
	ck_assert_uint_eq(emu_requests(ALERTS_PATH(S1)), 1);
	ck_assert_double_eq(metric(&h, POLLS_OK), 1);
	ck_assert_double_eq(
	    metric(&h,
		   "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"repeated_link\"}"),
	    2);
	ck_assert_double_eq(metric(&h, "aiwatch_defender_pages_total{input=\"def\"}"), 5);
	ck_assert_double_eq(
	    metric(&h, "aiwatch_defender_items_total{input=\"def\",kind=\"assessment\"}"), 5);

	/* Unchanged findings: no event; the repeated link is logged once, counted each time. */
	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 7);
	ck_assert_double_eq(
	    metric(&h,
		   "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"repeated_link\"}"),
	    4);
	ck_assert_uint_eq(log_count("already followed"), 1);

	/* Now an endless run of empty pages that carry a nextLink after the data, and a new
	 * finding: read, and the list ends after max_empty_pages (3) empty pages. */
	emu_reset_log();
	emu_config("{\"arm\":{\"empty_page_at\":null,\"repeat_last_link\":false,"
		   "\"trailing_empty_pages\":100000,\"subscriptions\":{\"" S1 "\":{"
		   "\"assessments\":{"
		   "\"a6\":" ASSESSMENT(S1, "aoai4", "a6", "Unhealthy", "2026-04-03T00:00:00Z") "}}}}}");
	wait_polls(&h, 3);
	ck_assert_uint_eq(g_cap.n, 8);
	ck_assert_uint_eq(count_events("\"RecommendationName\":\"a6\"", NULL), 1);
	ck_assert_uint_eq(emu_requests(ASSESS_PATH(S1)), 6); /* 3 data pages + 3 empty */
	ck_assert_uint_eq(emu_requests(ALERTS_PATH(S1)), 4); /* 1 data page + 3 empty */
	ck_assert_double_eq(
	    metric(&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"empty_pages\"}"),
	    2);
	ck_assert_uint_eq(log_count("empty pages that still carry a nextLink"), 1);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(resource_graph_skiptoken_with_truncated)
{
	struct harness h;

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
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 7);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityRecommendation\"", NULL), 4);
	ck_assert_uint_eq(count_events("\"Type\":\"SecurityAlert\"", NULL), 3);
	ck_assert_uint_eq(count_events("aoai8", NULL), 0); /* S3 was not asked for */
	ck_assert_uint_eq(emu_requests(RG_PATH), 4);
	char *log = emu_get("/_emulator/requests?path=" RG_PATH);
	ck_assert_uint_eq(occurrences(log, "\\\"resultFormat\\\":\\\"objectArray\\\""), 4);
	ck_assert_uint_eq(occurrences(log, "\\\"$skipToken\\\""), 3);
	ck_assert_uint_eq(occurrences(log, "securityresources"), 4);
	ck_assert_ptr_nonnull(strstr(log, S2));
	free(log);
	char *stats = emu_get("/_emulator/arm");
	ck_assert_msg(strstr(stats, "\"rg_throttled\":0"), "%s", stats);
	free(stats);
	ck_assert_double_ge(
	    metric(&h, "aiwatch_defender_throttled_total{input=\"def\",reason=\"quota_low\"}"), 1);
	ck_assert_double_eq(
	    metric(&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"truncated\"}"),
	    0);

	/* Rows carry the Log Analytics columns; Resource Graph adds the tenant. */
	json_object *ev = event_with("\"SystemAlertId\":\"y2\"", NULL, 0);
	ck_assert_str_eq(col(ev, "Status"), "Dismissed");
	ck_assert_str_eq(col(ev, "TenantId"), TENANT);
	json_object_put(ev);
	ev = event_with("\"SystemAlertId\":\"y1\"", NULL, 0);
	ck_assert_str_eq(col(ev, "Status"), "New"); /* Active, as the workspace table says it */
	json_object_put(ev);

	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 7); /* nothing changed */
	h_stop(&h);
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
	struct harness h;

	emu_start(FLIP_START);
	h_start(&h, FLIP_YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 3); /* all new */
	json_object *a = event_with("\"RecommendationName\":\"flip\"", NULL, 0);
	ck_assert_str_eq(col(a, "Type"), "SecurityRecommendation");
	ck_assert_str_eq(col(a, "RecommendationState"), "Unhealthy");
	ck_assert_str_eq(col(a, "RecommendationSeverity"), "Medium");
	ck_assert_str_eq(col(a, "TimeGenerated"), "2026-04-02T00:00:00Z");
	ck_assert_str_eq(col(a, "AssessedResourceId"), RES(S1, "aoai1"));
	ck_assert_str_eq(col(a, "RecommendationDisplayName"),
			 "Azure AI Services resources should restrict network access");
	ck_assert_int_eq((int)strlen(col(a, "_ItemId")), 36);
	char first_item[64];
	snprintf(first_item, sizeof first_item, "%s", col(a, "_ItemId"));
	json_object_put(a);
	json_object *x = event_with("\"SystemAlertId\":\"x1\"", NULL, 0);
	ck_assert_str_eq(col(x, "Type"), "SecurityAlert");
	ck_assert_str_eq(col(x, "AlertType"), "AI.Azure_Jailbreak.ContentFiltering.BlockedAttempt");
	ck_assert_str_eq(col(x, "ResourceId"), RES(S1, "aoai1"));
	ck_assert_str_eq(col(x, "Entities"), "[{\"Type\":\"ip\",\"Address\":\"192.0.2.7\"}]");
	ck_assert_str_eq(col(x, "TimeGenerated"), "2026-04-02T10:00:00.123Z");
	json_object_put(x);
	h_stop(&h);
	char *table, *text;
	ck_assert_int_ge(asprintf(&table, "%s/inputs/def/findings", statedir), 0);
	text = aw_test_read(table, NULL);
	ck_assert_msg(text && strstr(text, "\"Unhealthy\",1"), "findings table: %s",
		      text ? text : "(missing)");
	free(text);
	free(table);

	/* The same state directory: what was reported is remembered. */
	cap_reset();
	h_start(&h, FLIP_YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 0);

	emu_config("{\"arm\":{\"subscriptions\":{\"" S1 "\":{\"assessments\":{\"A\":{"
		   "\"properties\":{\"status\":{\"code\":\"Healthy\","
		   "\"statusChangeDate\":\"2026-04-05T00:00:00Z\"}}}},\"alerts\":{\"X\":{"
		   "\"properties\":{\"status\":\"Resolved\"}}}}}}}");
	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 2);
	a = event_with("\"RecommendationName\":\"flip\"", NULL, 0);
	ck_assert_str_eq(col(a, "RecommendationState"), "Healthy");
	ck_assert_str_eq(col(a, "ResolvedTimeUTC"), "2026-04-05T00:00:00Z");
	json_object_put(a);
	ck_assert_uint_eq(count_events("\"SystemAlertId\":\"x1\"", "\"Status\":\"Resolved\""), 1);

	/* Back to Unhealthy, with the same statusChangeDate as the first time: still a
	 * new event with its own _ItemId. */
	emu_config("{\"arm\":{\"subscriptions\":{\"" S1 "\":{\"assessments\":{\"A\":{"
		   "\"properties\":{\"status\":{\"code\":\"Unhealthy\","
		   "\"statusChangeDate\":\"2026-04-02T00:00:00Z\"}}}}}}}}");
	wait_polls(&h, 3);
	ck_assert_uint_eq(g_cap.n, 3);
	a = event_with("\"RecommendationName\":\"flip\"", "\"RecommendationState\":\"Unhealthy\"",
		       0);
	ck_assert_str_ne(col(a, "_ItemId"), first_item);
	json_object_put(a);
	wait_polls(&h, 4);
	ck_assert_uint_eq(g_cap.n, 3);
	/* flip: Unhealthy (first run), Healthy, Unhealthy; steady: once, in the first run */
	ck_assert_uint_eq(count_events("\"RecommendationName\":\"steady\"", NULL), 0);
	ck_assert_double_eq(
	    metric(&h, "aiwatch_defender_changes_total{input=\"def\",kind=\"assessment\"}"), 2);
	ck_assert_double_eq(metric(&h, "aiwatch_defender_findings{input=\"def\"}"), 3);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(malformed_items_counted_and_logged)
{
	struct harness h;
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
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 2);
	ck_assert_double_eq(
	    metric(&h, "aiwatch_events_skipped_total{input=\"def\",reason=\"malformed\"}"), 4);
	ck_assert_uint_eq(log_count("malformed item skipped"), 4);
	ck_assert_uint_eq(log_count("resource_id=" RES(S1, "aoai1")
				    "/providers/Microsoft.Security/assessments/nostatus "
				    "reason=\"no status.code\""),
			  1);
	ck_assert_uint_eq(log_count("assessments/nostatus"), 1);
	ck_assert_uint_eq(
	    log_count("alerts/numtime reason=\"timeGeneratedUtc is not an ISO 8601 time string\""),
	    1);
	ck_assert_uint_eq(log_count("reason=\"not a JSON object\""), 1);
	ck_assert_uint_eq(log_count("resource_id=\"(no id)\" reason=\"no id\""), 1);
	/* A poll with malformed items is still a good poll. */
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	/* Still there next poll: counted again, not logged again. */
	wait_polls(&h, 2);
	ck_assert_double_eq(
	    metric(&h, "aiwatch_events_skipped_total{input=\"def\",reason=\"malformed\"}"), 8);
	ck_assert_uint_eq(log_count("malformed item skipped"), 4);
	ck_assert_uint_eq(g_cap.n, 2);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(throttling_429_ridden_out)
{
	struct harness h;

	/* Two reads in the bucket, one back per second, a page per finding: the third
	 * request meets 429 + Retry-After and the shared HTTP policy waits it out. */
	emu_start("{\"page_size\":1,\"reads_bucket\":2,\"reads_refill_per_s\":1,\"subscriptions\":{"
		  "\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a2\":" ASSESSMENT(S1, "aoai1", "a2", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a3\":" ASSESSMENT(S1, "aoai1", "a3", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	h_start(&h,
		"subscriptions: [" S1 "]\nalerts: false\ninterval: 1m\nmin_remaining_reads: 0\n");
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 3);
	ck_assert_double_eq(metric(&h, POLLS_OK), 1);
	char *stats = emu_get("/_emulator/arm");
	json_object *o = json_tokener_parse(stats), *v;
	ck_assert(json_object_object_get_ex(o, "throttled", &v));
	ck_assert_int_ge(json_object_get_int(v), 1);
	json_object_put(o);
	free(stats);
	ck_assert_double_ge(
	    metric(&h, "aiwatch_defender_throttled_total{input=\"def\",reason=\"retried\"}"), 1);
	ck_assert_uint_ge(log_count("TooManyRequests"), 1);
	h_stop(&h);

	/* With the low-water mark on, the input slows down instead of meeting a 429. */
	cap_reset();
	aw_test_rmtree(statedir);
	ck_assert_int_eq(mkdir(statedir, 0700), 0);
	emu_reset_log();
	h_start(&h,
		"subscriptions: [" S1 "]\nalerts: false\ninterval: 1m\nmin_remaining_reads: 2\n");
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 3);
	ck_assert_double_ge(
	    metric(&h, "aiwatch_defender_throttled_total{input=\"def\",reason=\"quota_low\"}"), 2);
	stats = emu_get("/_emulator/arm");
	ck_assert_msg(strstr(stats, "\"throttled\":0"), "%s", stats);
	free(stats);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(readiness_follows_the_last_poll)
{
	struct harness h;
	char why[512];

	emu_start("{\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	emu_fault("{\"path\":\"" ASSESS_PATH(S1) "\",\"status\":403,\"body\":"
		  "\"{\\\"error\\\":{\\\"code\\\":\\\"AuthorizationFailed\\\","
		  "\\\"message\\\":\\\"no access\\\"}}\"}");
	h_start(&h, FLIP_YAML);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "first poll"), "%s", why);
	wait_polls(&h, 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "HTTP 403 AuthorizationFailed: no access"), "%s", why);
	ck_assert_uint_eq(g_cap.n, 0);
	wait_polls(&h, 2);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	ck_assert_uint_eq(g_cap.n, 1);

	/* A nextLink to another host would take the ARM token there: not followed. */
	emu_fault("{\"path\":\"" ASSESS_PATH(S1) "\",\"status\":200,\"body\":"
		  "\"{\\\"value\\\":[],\\\"nextLink\\\":"
		  "\\\"https://collector.example/steal?$skipToken=1\\\"}\"}");
	wait_polls(&h, 3);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "nextLink points to another host"), "%s", why);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(corrupt_findings_table)
{
	struct harness h;
	char *sub;

	emu_start(FLIP_START);
	ck_assert_int_ge(asprintf(&sub, "%s/inputs", statedir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(sub);
	ck_assert_int_ge(asprintf(&sub, "%s/inputs/def", statedir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(aw_test_write(sub, "findings", "aiwatch-state v1 len=3 crc32=00000000\nxyz", 0600));
	free(sub);
	h_start(&h, FLIP_YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 3); /* reported once, nothing lost */
	ck_assert_uint_eq(log_count("ignoring the findings table"), 1);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(shipped_rules_fire_on_arm_findings)
{
	struct harness h;

	/* Two Defender for AI jailbreak alerts on one account, read over ARM: the shipped
	 * rules written for the SecurityAlert table see them as they would the workspace
	 * rows: one alert each, and the burst correlation once. */
	g_rules = aw_test_srcpath("conf/rules/defender");
	emu_start("{\"subscriptions\":{\"" S1 "\":{\"alerts\":{"
		  "\"x1\":" ALERT(S1, "x1", "Active") ",\"x2\":" ALERT(S1, "x2", "Active") "}}}}");
	h_start(&h, "subscriptions: [" S1 "]\nassessments: false\ninterval: 1s\n"
		    "min_remaining_reads: 0\n");
	wait_polls(&h, 1);
	ck_assert_uint_eq(count_events("\"RuleTitle\":\"Microsoft Defender For Cloud AI Threat "
				       "Protection Alert\"",
				       NULL),
			  2);
	ck_assert_uint_eq(count_events("\"RuleTitle\":\"Repeated Jailbreak Or Prompt-Injection "
				       "Alerts On One AI Resource\"",
				       NULL),
			  1);
	ck_assert_uint_eq(g_cap.n, 3);
	ck_assert_uint_eq(count_events("\"SourceTable\":\"SecurityAlert\"", NULL), 3);

	/* The alert is resolved: an event, which the rules leave alone (status update). */
	emu_config("{\"arm\":{\"subscriptions\":{\"" S1 "\":{\"alerts\":{\"x1\":{\"properties\":{"
		   "\"status\":\"Resolved\"}}}}}}}");
	wait_polls(&h, 2);
	ck_assert_double_eq(
	    metric(&h, "aiwatch_defender_changes_total{input=\"def\",kind=\"alert\"}"), 3);
	ck_assert_uint_eq(g_cap.n, 3);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(own_credential_managed_identity)
{
	struct harness h;
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
	wait_polls(&h, 1);
	ck_assert_double_eq(metric(&h, POLLS_OK), 1);
	ck_assert_uint_eq(g_cap.n, 1);
	char *stats = emu_get("/_emulator/stats");
	ck_assert_msg(strstr(stats, "\"imds\":1") && strstr(stats, "\"entra\":0"), "%s", stats);
	free(stats);
	char *reqs = emu_get("/_emulator/requests?path=/metadata/identity/oauth2/token");
	ck_assert_msg(strstr(reqs, "resource=https%3A%2F%2Fmanagement.azure.com%2F\""), "%s", reqs);
	free(reqs);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(page_cap_and_close_in_flight)
{
	struct harness h;

	emu_start("{\"page_size\":1,\"subscriptions\":{\"" S1 "\":{\"assessments\":{"
		  "\"a1\":" ASSESSMENT(S1, "aoai1", "a1", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a2\":" ASSESSMENT(S1, "aoai1", "a2", "Unhealthy", "2026-04-02T00:00:00Z") ","
		  "\"a3\":" ASSESSMENT(S1, "aoai1", "a3", "Unhealthy", "2026-04-02T00:00:00Z") "}}}}");
	h_start(&h, "subscriptions: [" S1 "]\nalerts: false\nmax_pages: 2\ninterval: 1s\n"
		    "min_remaining_reads: 0\n");
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 2); /* the third page is left for later */
	ck_assert_uint_eq(count_events("\"RecommendationName\":\"a3\"", NULL), 0);
	ck_assert_double_eq(
	    metric(&h, "aiwatch_defender_paging_stops_total{input=\"def\",reason=\"page_cap\"}"),
	    1);
	ck_assert_uint_eq(log_count("the list still had pages after max_pages"), 1);

	/* The next poll's first page takes 3 s to come: closing meanwhile cancels it,
	 * frees everything and saves what is durable. */
	emu_fault("{\"path\":\"" ASSESS_PATH(S1) "\",\"delay_ms\":3000}");
	uv_timer_t tick;
	uv_timer_init(&h.loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	uv_update_time(&h.loop);
	uint64_t until = uv_now(&h.loop) + 1500;
	while (uv_now(&h.loop) < until)
		uv_run(&h.loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	ck_assert_uint_eq(emu_requests(ASSESS_PATH(S1)), 3); /* 2 + the one held */
	h_stop(&h);
	char *table;
	ck_assert_int_ge(asprintf(&table, "%s/inputs/def/findings", statedir), 0);
	char *text = aw_test_read(table, NULL);
	ck_assert_msg(text && occurrences(text, "\"Unhealthy\",1") == 2, "%s", text ? text : "-");
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

	tcase_add_checked_fixture(t, setup, teardown);
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
