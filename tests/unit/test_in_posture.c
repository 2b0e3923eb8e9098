/* The posture input on a real loop and pipeline (forward mode) against the Azure
 * emulator's estate: the first pass reports every failing check as Appeared, a fix is
 * Resolved, a value that changes while still failing is Changed, a deleted resource is
 * Resolved, a check that cannot be evaluated changes nothing, a restart with the same
 * state directory reports nothing twice, and a change that never became durable before
 * a crash is reported again under the same _ItemId. Assertions are on the events'
 * columns, as a SIEM sees them. */
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
#include "posture.h"
#include "testutil.h"

extern const struct aw_plugin_desc aw_in_posture;

#define TENANT	"00000000-0000-0000-0000-0000000000aa"
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

/* The one captured event of check on resource (with a Change, when given). */
static json_object *event_of(const char *check, const char *resource, const char *change)
{
	json_object *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < g_cap.n; i++) {
		json_object *ev = json_tokener_parse(g_cap.recs[i]), *v;
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

static const char *col(json_object *ev, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(ev, k, &v))
		return NULL;
	return json_object_get_string(v);
}

/* --- harness: loop + Azure services + pipeline + posture input ---------------------- */

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

/* Start everything with the input (desc: aw_in_posture or a wrapper) configured by
 * `yaml` (the emulator's endpoint is added as arm_endpoint). */
static void h_start(struct harness *h, const struct aw_plugin_desc *desc, const char *yaml)
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
	h->in_conf = calloc(1, desc->conf_size);
	int rc =
	    aw_options_apply(desc->options, h->doc->root, h->in_conf, "inputs[0]", 0600, &errs);
	ck_assert_msg(rc == 0 && errs.n == 0, "config: %s", errs.n ? errs.msgs[0] : "?");
	ck_assert_msg(desc->validate(h->in_conf, "inputs[0]", &errs) == 0, "validate: %s",
		      errs.n ? errs.msgs[0] : "?");
	h->ic_in = (struct aw_instance_conf){.desc = desc, .name = "pos", .conf = h->in_conf};
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
	aw_options_free(aw_in_posture.options, h->in_conf);
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

#define POLLS_OK     "aiwatch_posture_polls_total{input=\"pos\",result=\"ok\"}"
#define POLLS_FAILED "aiwatch_posture_polls_total{input=\"pos\",result=\"failed\"}"
#define EVENTS(c)    "aiwatch_posture_events_total{input=\"pos\",change=\"" c "\"}"
#define RESULTS(r)   "aiwatch_posture_results_total{input=\"pos\",result=\"" r "\"}"
#define FINDINGS(s)  "aiwatch_posture_findings{input=\"pos\",severity=\"" s "\"}"

static double polls(struct harness *h)
{
	return metric(h, POLLS_OK) + metric(h, POLLS_FAILED);
}

static void tick_cb(uv_timer_t *t)
{
}

/* Run the loop until `n` passes have finished and their events are delivered. */
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
	/* Let the pipeline deliver, sync its spool and report durability (the next pass
	 * is at least 0.7 s away in every test). */
	deadline = uv_now(&h->loop) + 300;
	while (uv_now(&h->loop) < deadline)
		uv_run(&h->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&h->loop, UV_RUN_NOWAIT);
	ck_assert_msg(polls(h) >= n, "%g passes finished, want %g", polls(h), n);
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
	char *s = aw_test_read(logpath, NULL);
	size_t n;

	ck_assert_ptr_nonnull(s);
	n = occurrences(s, what);
	free(s);
	return n;
}

/* --- the emulator -------------------------------------------------------------------- */

static void emu_start(const char *estate)
{
	char *cfg;

	ck_assert_int_ge(asprintf(&cfg,
				  "{\"tenant_id\":\"" TENANT "\","
				  "\"clients\":[{\"client_id\":\"app1\",\"client_secret\":"
				  "\"s3cr3t-client\"}],\"estate\":%s}",
				  estate),
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
	struct harness h;
	json_object *ev, *ctl, *v;
	char why[512], first_cs001[64];

	emu_start(ESTATE);
	h_start(&h, &aw_in_posture, YAML);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "first pass not finished"), "%s", why);

	/* Pass 1: every failing check once, as Appeared. */
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 4);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	ev = event_of("AIW-CS-001", ACCT, "Appeared");
	ck_assert_str_eq(col(ev, "Type"), "AIWatchPosture");
	const char *tg = col(ev, "TimeGenerated"); /* the pass's time, ISO 8601 UTC */
	ck_assert_int_eq((int)strlen(tg), 24);
	ck_assert(tg[4] == '-' && tg[10] == 'T' && tg[19] == '.' && tg[23] == 'Z');
	ck_assert_str_lt(tg, "2100");
	ck_assert_str_gt(tg, "2024");
	ck_assert_int_eq((int)strlen(col(ev, "_ItemId")), 32);
	snprintf(first_cs001, sizeof first_cs001, "%s", col(ev, "_ItemId"));
	ck_assert_str_eq(col(ev, "CheckTitle"), "Azure AI account: public network access disabled");
	ck_assert_str_eq(col(ev, "Area"), "Network");
	ck_assert_str_eq(col(ev, "Severity"), "High");
	ck_assert_str_eq(col(ev, "ResourceId"), ACCT);
	ck_assert_str_eq(col(ev, "_ResourceId"), ACCT);
	ck_assert_str_eq(col(ev, "ResourceType"), "Microsoft.CognitiveServices/accounts");
	ck_assert_str_eq(col(ev, "ResourceName"), "aoai1");
	ck_assert_str_eq(col(ev, "SubscriptionId"), S1);
	ck_assert_str_eq(col(ev, "PropertyPath"), "properties.publicNetworkAccess");
	ck_assert_str_eq(col(ev, "Expected"), "Disabled");
	ck_assert_str_eq(col(ev, "Actual"), "Enabled");
	ck_assert_str_eq(col(ev, "PreviousActual"), "");
	ck_assert_str_eq(col(ev, "Status"), "Failed");
	ck_assert_str_eq(col(ev, "Change"), "Appeared");
	ck_assert_str_eq(col(ev, "Baseline"),
			 "Private endpoints with public network access disabled");
	ck_assert_msg(strstr(col(ev, "Remediation"), "publicNetworkAccess=Disabled"), "%s",
		      col(ev, "Remediation"));
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
	ck_assert_str_eq(col(ev, "Actual"), "false");
	json_object_put(ev);
	ev = event_of("AIW-KV-001", VAULT, "Appeared");
	ck_assert_str_eq(col(ev, "Actual"), "absent (default: false)");
	ck_assert_str_eq(col(ev, "ResourceName"), "kv1");
	json_object_put(ev);
	ev = event_of("AIW-KV-101", SECRET, "Appeared");
	ck_assert_str_eq(col(ev, "ResourceType"), "Microsoft.KeyVault/vaults/secrets");
	ck_assert_str_eq(col(ev, "ResourceName"), "never");
	ck_assert_str_eq(col(ev, "SubscriptionId"), S1);
	ck_assert_str_eq(col(ev, "Severity"), "Medium");
	json_object_put(ev);
	ck_assert_double_eq(metric(&h, EVENTS("appeared")), 4);
	ck_assert_double_eq(metric(&h, FINDINGS("High")), 3);
	ck_assert_double_eq(metric(&h, FINDINGS("Medium")), 1);
	ck_assert_double_eq(metric(&h, RESULTS("fail")), 4);
	ck_assert_double_eq(metric(&h, RESULTS("unknown")), 0);
	/* 2 resources, a deployment, a secret, the plan */
	ck_assert_double_eq(metric(&h, "aiwatch_posture_resources{input=\"pos\"}"), 5);

	/* Pass 2, nothing changed: nothing to say. */
	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 4);

	/* Pass 3: public access fixed (Resolved), local auth's value changes while still
	 * failing (Changed: the property is removed, so its default is what counts). */
	emu_config("{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
		   "\"publicNetworkAccess\":\"Disabled\",\"disableLocalAuth\":null}}}}}");
	wait_polls(&h, 3);
	ck_assert_uint_eq(g_cap.n, 6);
	ev = event_of("AIW-CS-001", ACCT, "Resolved");
	ck_assert_str_eq(col(ev, "Status"), "Passed");
	ck_assert_str_eq(col(ev, "Actual"), "Disabled");
	ck_assert_str_eq(col(ev, "PreviousActual"), "");
	ck_assert_str_ne(col(ev, "_ItemId"), first_cs001);
	json_object_put(ev);
	ev = event_of("AIW-CS-004", ACCT, "Changed");
	ck_assert_str_eq(col(ev, "Status"), "Failed");
	ck_assert_str_eq(col(ev, "Actual"), "absent (default: false)");
	ck_assert_str_eq(col(ev, "PreviousActual"), "false");
	json_object_put(ev);

	/* Pass 4: the vault is deleted, with its secret: both Resolved. */
	emu_config("{\"estate\":{\"resources\":{\"vault\":null}}}");
	wait_polls(&h, 4);
	ck_assert_uint_eq(g_cap.n, 8);
	ev = event_of("AIW-KV-001", VAULT, "Resolved");
	ck_assert_str_eq(col(ev, "Actual"), "resource no longer exists");
	ck_assert_str_eq(col(ev, "Status"), "Passed");
	ck_assert_str_eq(col(ev, "ResourceName"), "kv1");
	ck_assert_str_eq(col(ev, "ResourceType"), "Microsoft.KeyVault/vaults");
	ck_assert_str_eq(col(ev, "SubscriptionId"), S1);
	ck_assert_str_eq(col(ev, "CheckTitle"), "Key Vault: purge protection enabled");
	json_object_put(ev);
	ev = event_of("AIW-KV-101", SECRET, "Resolved");
	ck_assert_str_eq(col(ev, "Actual"), "resource no longer exists");
	json_object_put(ev);
	ck_assert_double_eq(metric(&h, EVENTS("resolved")), 3);
	ck_assert_double_eq(metric(&h, EVENTS("changed")), 1);
	ck_assert_double_eq(metric(&h, FINDINGS("High")), 1);
	ck_assert_double_eq(metric(&h, FINDINGS("Medium")), 0);

	/* Pass 5 cannot read Resource Graph: an incomplete pass resolves nothing. */
	emu_fault("{\"path\":\"" RG_PATH "\",\"status\":403}");
	wait_polls(&h, 5);
	ck_assert_double_eq(metric(&h, POLLS_FAILED), 1);
	ck_assert_uint_eq(g_cap.n, 8);
	h_stop(&h);

	/* A restart with the same state directory: what was reported is remembered. */
	char *table, *text;
	ck_assert_int_ge(asprintf(&table, "%s/inputs/pos/findings", statedir), 0);
	text = aw_test_read(table, NULL);
	ck_assert_msg(
	    text && strstr(text, "[\"AIW-CS-004\",\"" ACCT "\",\"absent (default: false)\",2]"),
	    "findings table: %s", text ? text : "(missing)");
	free(text);
	free(table);
	cap_reset();
	h_start(&h, &aw_in_posture, YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 0);
	ck_assert_double_eq(metric(&h, RESULTS("fail")), 1);
	h_stop(&h);

	/* Public access is opened again, and the process dies before the event is durable
	 * (durable() never comes): the state on disk does not have it... */
	emu_config("{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
		   "\"publicNetworkAccess\":\"Enabled\"}}}}}");
	h_start(&h, held_desc(), YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 1);
	ev = event_of("AIW-CS-001", ACCT, "Appeared");
	char again[64];
	snprintf(again, sizeof again, "%s", col(ev, "_ItemId"));
	/* A failure back after it was resolved is a new event, not the first one again. */
	ck_assert_str_ne(again, first_cs001);
	json_object_put(ev);
	h_stop(&h);

	/* ...so the next run reports it again, under the same _ItemId; then never again. */
	cap_reset();
	h_start(&h, &aw_in_posture, YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 1);
	ev = event_of("AIW-CS-001", ACCT, "Appeared");
	ck_assert_str_eq(col(ev, "_ItemId"), again);
	json_object_put(ev);
	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 1);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(unknown_and_failed_passes_change_nothing)
{
	struct harness h;
	char why[1024];

	emu_start(ESTATE);
	h_start(&h, &aw_in_posture, YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 4);

	/* The account's diagnostic settings can no longer be read, and local auth is
	 * turned off meanwhile: the logging check is unknown (no event, counted, logged
	 * once over two passes), the rest is judged as usual. */
	emu_config(
	    "{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
	    "\"disableLocalAuth\":true},\"_emu\":{\"fail\":{\"diagnosticSettings\":403}}}}}}");
	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 5);
	json_object *ev = event_of("AIW-CS-004", ACCT, "Resolved");
	json_object_put(ev);
	ck_assert_double_eq(metric(&h, RESULTS("unknown")), 1);
	ck_assert_double_eq(metric(&h, "aiwatch_posture_failed_reads_total{input=\"pos\"}"), 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	wait_polls(&h, 3);
	ck_assert_uint_eq(g_cap.n, 5);
	ck_assert_double_eq(metric(&h, RESULTS("unknown")), 2);
	ck_assert_uint_eq(log_count("checks not evaluated"), 1);
	ck_assert_uint_eq(log_count("reason=\"diagnosticSettings: HTTP 403 AuthorizationFailed"),
			  1);

	/* Resource Graph refuses: the pass fails, /readyz says why, and an empty inventory
	 * resolves nothing. */
	emu_fault("{\"path\":\"" RG_PATH "\",\"status\":403,\"times\":2,\"body\":"
		  "\"{\\\"error\\\":{\\\"code\\\":\\\"AuthorizationFailed\\\","
		  "\\\"message\\\":\\\"no read on the scope\\\"}}\"}");
	wait_polls(&h, 4);
	ck_assert_double_eq(metric(&h, POLLS_FAILED), 1);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "last pass failed: Resource Graph: POST ") &&
			  strstr(why, "HTTP 403 AuthorizationFailed: no read on the scope"),
		      "%s", why);
	ck_assert_uint_eq(g_cap.n, 5);
	wait_polls(&h, 5);
	ck_assert_uint_eq(g_cap.n, 5);

	/* Back to normal: ready again, and still nothing new to say. */
	wait_polls(&h, 6);
	ck_assert_int_eq(aw_pipeline_ready(h.p, why, sizeof why), 1);
	ck_assert_uint_eq(g_cap.n, 5);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(corrupt_findings_table_reports_once)
{
	struct harness h;
	char *sub;

	emu_start(ESTATE);
	ck_assert_int_ge(asprintf(&sub, "%s/inputs", statedir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(sub);
	ck_assert_int_ge(asprintf(&sub, "%s/inputs/pos", statedir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(aw_test_write(sub, "findings", "aiwatch-state v1 len=3 crc32=00000000\nxyz", 0600));
	free(sub);
	h_start(&h, &aw_in_posture, YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 4); /* reported once, nothing lost */
	ck_assert_uint_eq(log_count("ignoring the findings table"), 1);
	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 4);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

START_TEST(max_findings_bounds_the_table)
{
	struct harness h;

	/* Room for two of the four: the other two are reported on every pass (counted)
	 * until there is room. */
	emu_start(ESTATE);
	h_start(&h, &aw_in_posture, YAML "max_findings: 2\n");
	wait_polls(&h, 1);
	ck_assert_uint_eq(g_cap.n, 4);
	ck_assert_double_eq(metric(&h, "aiwatch_posture_untracked_findings_total{input=\"pos\"}"),
			    2);
	wait_polls(&h, 2);
	ck_assert_uint_eq(g_cap.n, 6);
	ck_assert_uint_ge(log_count("findings table full (max_findings)"), 1);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

/* Captured records whose text contains both needles. */
static size_t count_with(const char *a, const char *b)
{
	size_t n = 0;

	for (size_t i = 0; i < g_cap.n; i++)
		n += strstr(g_cap.recs[i], a) && (!b || strstr(g_cap.recs[i], b));
	return n;
}

START_TEST(shipped_rules_alert_on_drift)
{
	struct harness h;

	/* The rules in conf/rules/posture see the events as any other table: public
	 * access opened on the account alerts, and its fix closes the loop. */
	g_rules = aw_test_srcpath("conf/rules/posture");
	emu_start(ESTATE);
	h_start(&h, &aw_in_posture, YAML);
	wait_polls(&h, 1);
	ck_assert_uint_eq(count_with("\"RuleTitle\":\"Public Network Access Open On An Azure AI "
				     "Account, ML Workspace Or Key Vault\"",
				     "\"ResourceId\":\"" ACCT "\""),
			  1);
	ck_assert_uint_eq(count_with("\"SourceTable\":\"AIWatchPosture\"", NULL), g_cap.n);
	ck_assert_uint_eq(count_with("Azure AI Posture Finding Resolved", NULL), 0);
	emu_config("{\"estate\":{\"resources\":{\"acct\":{\"properties\":{"
		   "\"publicNetworkAccess\":\"Disabled\"}}}}}");
	wait_polls(&h, 2);
	ck_assert_uint_eq(count_with("\"RuleTitle\":\"Azure AI Posture Finding Resolved\"",
				     "\"ResourceId\":\"" ACCT "\""),
			  1);
	h_stop(&h);
	aw_test_emu_stop(&g_emu);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("in_posture");
	TCase *t = tcase_create("emulator");

	tcase_add_checked_fixture(t, setup, teardown);
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
