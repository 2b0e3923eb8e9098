/* out_sentinel against the emulator's Logs Ingestion API, through the real pipeline:
 * alerts made by a Sigma rule from events, spooled, batched by the core and posted by
 * the output over HTTP with a client-secret token from the emulator's Entra endpoint.
 * What a user would check in Log Analytics is checked in the emulator's stored rows
 * (every AlertId produced arrives; duplicates allowed) and request log (no call over
 * the 1 MiB cap). Also: the emulator's route itself, and the body builder. */
#include <curl/curl.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "azure.h"
#include "config.h"
#include "deadletter.h"
#include "engine.h"
#include "pipeline.h"
#include "registry.h"
#include "sentinel_body.h"
#include "spool_segment.h"
#include "testutil.h"

#define TENANT	"00000000-0000-0000-0000-0000000000aa"
#define DCR	"dcr-0123456789abcdef0123456789abcdef"
#define STREAM	"Custom-AIWatchAlerts_CL"
#define CAP	1048576
#define WAIT_MS 30000

static const char rule_yaml[] = "title: Key Vault secret read\n"
				"id: aw-test-kv-001\n"
				"level: high\n"
				"description: A secret was read from a vault.\n"
				"tags: [attack.credential-access, attack.t1555.006]\n"
				"logsource: {product: azure, service: keyvault}\n"
				"detection:\n"
				"  sel: {OperationName: SecretGet}\n"
				"  condition: sel\n";

/* The emulator as a user would set it up: app1 may publish to the DCR's stream. */
static const char emu_base_config[] =
    "{\"tenant_id\":\"" TENANT "\","
    "\"clients\":[{\"client_id\":\"app1\",\"client_secret\":\"s3cr3t-client\"}],"
    "\"ingestion\":{\"dcrs\":{\"" DCR "\":{\"streams\":[\"" STREAM "\"],"
    "\"principals\":[\"app1\"]%s}}%s}}";

/* --- a test input ------------------------------------------------------------------ */

static struct aw_plugin_ctx *g_in;

static int t_in_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		     struct aw_error *err)
{
	g_in = ctx;
	*state = ctx;
	return 0;
}

static void t_in_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(state);
}

static const struct aw_option no_options[] = {AW_OPT_END};

static const struct aw_plugin_desc t_in_desc = {
    .abi = AW_PLUGIN_ABI,
    .name = "t_in",
    .kind = AW_PLUGIN_INPUT,
    .options = no_options,
    .init = t_in_init,
    .close = t_in_close,
};

/* --- events, and the alerts they must give ------------------------------------------- */

/* A Key Vault SecretGet with `pad` bytes of noise (so alerts have a realistic size and
 * gzip has work to do); its sample becomes the alert's Evidence. */
static char *event_json(unsigned i, size_t pad)
{
	size_t cap = pad + 512, n;
	char *s = malloc(cap);
	uint32_t x = 2463534242u ^ i;

	ck_assert_ptr_nonnull(s);
	n = (size_t)snprintf(
	    s, cap,
	    "{\"Type\":\"AZKVAuditLogs\",\"TimeGenerated\":\"2026-11-20T10:%02u:%02uZ\","
	    "\"OperationName\":\"SecretGet\",\"_ItemId\":\"item-%06u\","
	    "\"CallerIPAddress\":\"203.0.113.%u\",\"Pad\":\"",
	    (i / 60) % 60, i % 60, i, i % 250);
	for (size_t k = 0; k < pad; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		s[n++] = "abcdefghijklmnopqrstuvwxyz012345"[x % 32];
	}
	snprintf(s + n, cap - n, "\"}");
	return s;
}

struct idset {
	char **v;
	size_t n, cap;
};

static void idset_add(struct idset *s, const char *id)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		ck_assert_ptr_nonnull(s->v);
	}
	s->v[s->n] = strdup(id);
	ck_assert_ptr_nonnull(s->v[s->n]);
	s->n++;
}

static void idset_free(struct idset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop repeats; returns how many were repeats. */
static size_t idset_unique(struct idset *s)
{
	size_t w = 0, dups = 0;

	qsort(s->v, s->n, sizeof *s->v, cmp_str);
	for (size_t i = 0; i < s->n; i++) {
		if (w > 0 && strcmp(s->v[w - 1], s->v[i]) == 0) {
			free(s->v[i]);
			dups++;
			continue;
		}
		s->v[w++] = s->v[i];
	}
	s->n = w;
	return dups;
}

static int collect_id(void *ud, const struct aw_record *rec)
{
	ck_assert_ptr_nonnull(rec->id);
	idset_add(ud, rec->id);
	return 0;
}

/* --- fixture: emulator, Azure services, engine, pipeline, the output ------------------- */

struct fx {
	struct aw_test_emu emu;
	uv_loop_t loop;
	uv_timer_t tick;
	struct aw_metrics *m;
	struct aw_azure_conf azc;
	struct aw_azure *az;
	struct aw_engine_conf ec;
	struct aw_engine *engine;
	struct aw_pipeline_conf pc;
	struct aw_pipeline *p;
	struct aw_instance_conf in_ic, out_ic;
	void *out_conf;
	char *dir, *rule_path;
	const char *rule_paths[1];
	char authority[64];
	struct idset produced;
	bool closed;
};

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static void emu_setup(struct fx *f, const char *dcr_extra, const char *ing_extra)
{
	char cfg[2048];

	snprintf(cfg, sizeof cfg, emu_base_config, dcr_extra ? dcr_extra : "",
		 ing_extra ? ing_extra : "");
	aw_test_emu_start(&f->emu, cfg);
}

/* out_conf_extra: YAML lines for the output beyond endpoint and DCR. */
static void fx_start(struct fx *f, const char *out_conf_extra, size_t alert_max_bytes)
{
	struct aw_error err;
	struct aw_error_list errs = {0};
	struct aw_plugin_ctx *ctx;
	struct aw_doc *doc = NULL;
	const struct aw_plugin_desc *d = aw_plugin_find(AW_PLUGIN_OUTPUT, "sentinel");
	char yaml[1024];

	ck_assert_ptr_nonnull(d);
	f->dir = aw_test_tmpdir();
	f->rule_path = aw_test_write(f->dir, "rule.yml", rule_yaml, 0600);
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	ck_assert_int_eq(uv_timer_init(&f->loop, &f->tick), 0);
	ck_assert_int_eq(uv_timer_start(&f->tick, tick_cb, 5, 5), 0);
	f->m = aw_metrics_new();

	/* The daemon's identity: an app registration with a secret, Entra = the emulator. */
	snprintf(f->authority, sizeof f->authority, "%s", f->emu.base);
	f->azc.credential.kind = "client_secret";
	f->azc.credential.tenant_id = TENANT;
	f->azc.credential.client_id = "app1";
	f->azc.credential.client_secret.value = "s3cr3t-client";
	f->azc.credential.authority_host = f->authority;
	f->azc.credential.refresh_before_ms = 300000;
	f->azc.insecure_http_for_tests = true;
	ck_assert_msg(aw_azure_start(&f->loop, &f->azc, f->m, &f->az, &err) == 0, "%s", err.msg);

	f->rule_paths[0] = f->rule_path;
	f->ec = (struct aw_engine_conf){.rule_paths = f->rule_paths,
					.nrule_paths = 1,
					.alert_max_bytes = alert_max_bytes,
					.host = "sensor-1"};
	f->engine = aw_engine_new(&f->ec, &errs);
	ck_assert_ptr_nonnull(f->engine);
	ck_assert_msg(errs.n == 0, "%s", errs.n ? errs.msgs[0] : "");
	aw_error_list_free(&errs);

	f->pc = (struct aw_pipeline_conf){
	    .max_queue_bytes = 64 << 20,
	    .retry_initial_ms = 10,
	    .retry_max_ms = 200,
	    .spool_max_bytes = 256 << 20,
	    .spool_segment_bytes = 8 << 20,
	};
	ck_assert_msg(aw_pipeline_new(&f->loop, &f->pc, f->m, f->dir, f->engine, &f->p, &err) == 0,
		      "%s", err.msg);

	/* The output's options, through its own table, as the config loader does. */
	snprintf(yaml, sizeof yaml, "endpoint: %s/\ndcr_immutable_id: %s\n%s", f->emu.base, DCR,
		 out_conf_extra ? out_conf_extra : "");
	ck_assert_int_eq(aw_doc_load_buffer("out.yaml", yaml, strlen(yaml), &doc, &errs), 0);
	f->out_conf = calloc(1, d->conf_size);
	ck_assert_ptr_nonnull(f->out_conf);
	int rc = aw_options_apply(d->options, doc->root, f->out_conf, "outputs[0]", 0600, &errs);
	if (rc == 0)
		rc = d->validate(f->out_conf, "outputs[0]", &errs);
	ck_assert_msg(rc == 0 && errs.n == 0, "%s", errs.n ? errs.msgs[0] : "");
	aw_doc_free(doc);
	aw_error_list_free(&errs);

	f->out_ic = (struct aw_instance_conf){.desc = d, .name = "sentinel", .conf = f->out_conf};
	f->in_ic = (struct aw_instance_conf){.desc = &t_in_desc, .name = "in"};
	ck_assert_msg(aw_pipeline_add(f->p, &f->out_ic, &ctx, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(ctx, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_add(f->p, &f->in_ic, &ctx, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(ctx, &err) == 0, "%s", err.msg);
}

static void on_closed(void *ud)
{
	*(bool *)ud = true;
}

static void tick_closed(uv_handle_t *h)
{
	(void)h;
}

static void fx_stop(struct fx *f)
{
	bool az_closed = false;

	if (f->p) {
		uv_close((uv_handle_t *)&f->tick, tick_closed);
		aw_pipeline_close(f->p, on_closed, &f->closed);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		ck_assert(f->closed);
	}
	aw_azure_close(f->az, on_closed, &az_closed);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert(az_closed);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	aw_options_free(f->out_ic.desc->options, f->out_conf);
	free(f->out_conf);
	aw_engine_free(f->engine);
	aw_metrics_free(f->m);
	aw_test_emu_stop(&f->emu);
	aw_test_rmtree(f->dir);
	free(f->dir);
	free(f->rule_path);
	idset_free(&f->produced);
}

static void spin(struct fx *f, int ms)
{
	uint64_t end;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + (uint64_t)ms;
	while (uv_now(&f->loop) < end) {
		uv_run(&f->loop, UV_RUN_ONCE);
		uv_update_time(&f->loop);
	}
}

/* Emit events first..first+n-1 into the pipeline, and note the AlertIds they must give
 * (worked out by a second engine with the same rule: ids are deterministic). */
static void emit_events(struct fx *f, unsigned first, unsigned n, size_t pad)
{
	struct aw_error_list errs = {0};
	struct aw_engine *ref = aw_engine_new(&f->ec, &errs);
	struct aw_error err;

	ck_assert_ptr_nonnull(ref);
	aw_error_list_free(&errs);
	for (unsigned i = first; i < first + n; i++) {
		char *js = event_json(i, pad);
		struct aw_event ev = {
		    .json = js, .len = strlen(js), .table = "AZKVAuditLogs", .origin = "test"};
		bool pause = false;

		ck_assert_int_eq(aw_engine_eval(ref, &ev, collect_id, &f->produced, &err), 1);
		aw_input_emit(g_in, &ev, &pause);
		if (pause)
			spin(f, 20);
		free(js);
	}
	aw_engine_free(ref);
}

static double metric(struct fx *f, const char *name, const char *k, const char *v)
{
	struct aw_metric *s =
	    k ? aw_metric_get(f->m, AW_METRIC_COUNTER, name, "", "output", "sentinel", k, v, NULL)
	      : aw_metric_get(f->m, AW_METRIC_COUNTER, name, "", "output", "sentinel", NULL);

	return aw_metric_value(s);
}

static double batches(struct fx *f, const char *result)
{
	return metric(f, "aiwatch_sentinel_batches_total", "result", result);
}

/* Spin until the output has had n records accepted; returns the milliseconds taken. */
static uint64_t wait_records(struct fx *f, double n, int ms)
{
	uint64_t start, end;

	uv_update_time(&f->loop);
	start = uv_now(&f->loop);
	end = start + (uint64_t)ms;
	while (metric(f, "aiwatch_sentinel_records_total", NULL, NULL) < n &&
	       uv_now(&f->loop) < end) {
		uv_run(&f->loop, UV_RUN_ONCE);
		uv_update_time(&f->loop);
	}
	ck_assert_msg(metric(f, "aiwatch_sentinel_records_total", NULL, NULL) >= n,
		      "only %.0f of %.0f records accepted in %d ms (done %.0f, retry %.0f, "
		      "throttled %.0f, too_large %.0f, forbidden %.0f, rejected %.0f)",
		      metric(f, "aiwatch_sentinel_records_total", NULL, NULL), n, ms,
		      batches(f, "done"), batches(f, "retry"), batches(f, "throttled"),
		      batches(f, "too_large"), batches(f, "forbidden"), batches(f, "rejected"));
	return uv_now(&f->loop) - start;
}

static void wait_batches(struct fx *f, const char *result, double n, int ms)
{
	uint64_t end;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + (uint64_t)ms;
	while (batches(f, result) < n && uv_now(&f->loop) < end) {
		uv_run(&f->loop, UV_RUN_ONCE);
		uv_update_time(&f->loop);
	}
	ck_assert_msg(batches(f, result) >= n, "%.0f %s batches, wanted %.0f", batches(f, result),
		      result, n);
}

static struct json_object *emu_json(struct fx *f, const char *path)
{
	long st = 0;
	char *body = aw_test_emu_call(&f->emu, "GET", path, NULL, &st);
	struct json_object *o;

	ck_assert_int_eq(st, 200);
	o = json_tokener_parse(body);
	ck_assert_msg(o != NULL, "not JSON from %s", path);
	free(body);
	return o;
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return v;
}

static int64_t emu_stat(struct fx *f, const char *key)
{
	struct json_object *o = emu_json(f, "/_emulator/ingested/stats");
	int64_t v = json_object_get_int64(jget(o, key));

	json_object_put(o);
	return v;
}

/* The rows stored for the DCR's stream. */
static struct json_object *stored_rows(struct fx *f)
{
	return emu_json(f, "/_emulator/ingested?dcr=" DCR "&stream=" STREAM);
}

/* Every produced AlertId is stored, and nothing else; returns the duplicate count. */
static size_t assert_rows_match(struct fx *f)
{
	struct json_object *rows = stored_rows(f);
	struct idset got = {0};
	size_t n = json_object_array_length(rows), dups;

	for (size_t i = 0; i < n; i++)
		idset_add(&got, json_object_get_string(
				    jget(json_object_array_get_idx(rows, i), "AlertId")));
	json_object_put(rows);
	dups = idset_unique(&got);
	idset_unique(&f->produced);
	ck_assert_msg(got.n == f->produced.n, "%zu distinct AlertIds stored, %zu produced", got.n,
		      f->produced.n);
	for (size_t i = 0; i < got.n; i++)
		ck_assert_str_eq(got.v[i], f->produced.v[i]);
	idset_free(&got);
	return dups;
}

/* The ingestion calls in the emulator's request log. */
static struct json_object *ingestion_requests(struct fx *f)
{
	return emu_json(f, "/_emulator/requests?path=/dataCollectionRules/");
}

static const char *req_header(struct json_object *req, const char *name)
{
	struct json_object *h = jget(req, "headers");

	json_object_object_foreach(h, k, v)
	{
		if (strcasecmp(k, name) == 0)
			return json_object_get_string(v);
	}
	return NULL;
}

static void post_faults(struct fx *f, const char *faults)
{
	long st = 0;
	char *body = aw_test_emu_call(&f->emu, "POST", "/_emulator/faults", faults, &st);

	ck_assert_msg(st == 200, "faults refused: %s", body);
	free(body);
}

/* s as a number in [lo, hi], else def. */
static long num_or(const char *s, long def, long lo, long hi)
{
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	return *end == '\0' && v >= lo && v <= hi ? v : def;
}

/* --- a large set arrives complete, in calls under the cap ---------------------------- */

static void large_set(const char *compression)
{
	struct fx f = {0};
	struct json_object *reqs;
	char extra[64];
	size_t n, dups;
	uint64_t ms;
	int64_t biggest = 0;
	/* AW_SENTINEL_ALERTS=N measures throughput on a larger set. */
	const unsigned alerts = (unsigned)num_or(getenv("AW_SENTINEL_ALERTS"), 1500, 1500, 1000000);

	emu_setup(&f, NULL, NULL);
	snprintf(extra, sizeof extra, "compression: %s\n", compression);
	fx_start(&f, extra, 0);
	emit_events(&f, 0, alerts, 1200);
	ms = wait_records(&f, alerts, WAIT_MS);
	dups = assert_rows_match(&f);
	ck_assert_uint_eq(dups, 0);

	/* Several calls, none over the cap: the request log holds what went on the wire. */
	reqs = ingestion_requests(&f);
	n = json_object_array_length(reqs);
	ck_assert_uint_ge(n, 3);
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(reqs, i);
		int64_t bytes = json_object_get_int64(jget(r, "body_bytes"));
		const char *enc = req_header(r, "Content-Encoding");

		ck_assert_int_le(bytes, CAP);
		if (bytes > biggest)
			biggest = bytes;
		ck_assert_str_eq(json_object_get_string(jget(r, "query")),
				 "api-version=2023-01-01");
		if (strcmp(compression, "gzip") == 0)
			ck_assert_msg(enc && strcmp(enc, "gzip") == 0, "not gzipped");
		else
			ck_assert_ptr_null(enc);
	}
	json_object_put(reqs);
	/* The array before compression stayed under the cap as well. */
	ck_assert_int_le(emu_stat(&f, "max_uncompressed_bytes"), CAP);
	ck_assert_int_gt(emu_stat(&f, "max_uncompressed_bytes"), CAP / 2);
	ck_assert_int_eq(emu_stat(&f, "truncated_fields"), 0);
	ck_assert_double_eq(batches(&f, "done"), (double)n);
	ck_assert_double_ge(metric(&f, "aiwatch_sentinel_sent_bytes_total", "form", "json"),
			    1.5 * 1024 * 1024);
	printf("out_sentinel (%s): %u alerts, %zu calls, largest %lld bytes on the wire, "
	       "%llu ms: %.0f alerts/s delivered to the emulator\n",
	       compression, alerts, n, (long long)biggest, (unsigned long long)ms,
	       ms ? alerts * 1000.0 / (double)ms : 0.0);
	fx_stop(&f);
}

START_TEST(large_set_arrives_in_calls_under_the_cap)
{
	large_set("none");
}
END_TEST

START_TEST(large_set_gzipped)
{
	large_set("gzip");
}
END_TEST

/* --- 429 with Retry-After, 5xx and a dropped connection are ridden out ---------------- */

START_TEST(server_errors_are_ridden_out)
{
	struct fx f = {0};
	struct json_object *reqs;
	int64_t t0, t1;

	emu_setup(&f, NULL, NULL);
	fx_start(&f, NULL, 0);
	post_faults(&f, "[{\"path\":\"/dataCollectionRules/\",\"status\":429,\"retry_after_s\":1},"
			"{\"path\":\"/dataCollectionRules/\",\"status\":503,\"times\":2},"
			"{\"path\":\"/dataCollectionRules/\",\"status\":500},"
			"{\"path\":\"/dataCollectionRules/\",\"status\":502,\"action\":\"cut\"},"
			"{\"path\":\"/dataCollectionRules/\",\"action\":\"reset\"}]");
	emit_events(&f, 0, 20, 1200);
	wait_records(&f, 20, WAIT_MS);
	assert_rows_match(&f);
	ck_assert_double_eq(batches(&f, "throttled"), 1);
	/* 503, 503, 500, the cut answer; curl itself reconnects once after the reset of a
	 * reused connection, so that one need not reach the output. */
	ck_assert_double_ge(batches(&f, "retry"), 4);
	ck_assert_double_eq(batches(&f, "rejected"), 0);
	ck_assert_double_eq(batches(&f, "done"), 1);

	/* The call after the 429 waited for its Retry-After (1 s). */
	reqs = ingestion_requests(&f);
	ck_assert_uint_ge(json_object_array_length(reqs), 6);
	t0 = json_object_get_int64(jget(json_object_array_get_idx(reqs, 0), "time_ms"));
	t1 = json_object_get_int64(jget(json_object_array_get_idx(reqs, 1), "time_ms"));
	ck_assert_msg(t1 - t0 >= 980, "retried %lld ms after a 429 with Retry-After: 1",
		      (long long)(t1 - t0));
	json_object_put(reqs);
	fx_stop(&f);
}
END_TEST

START_TEST(rate_limit_is_ridden_out)
{
	struct fx f = {0};

	/* One call a second per DCR: each batch after the first in a window gets the
	 * service's own 429 with Retry-After. */
	emu_setup(&f, ",\"requests_per_window\":1,\"window_s\":1,\"retry_after_s\":1", NULL);
	fx_start(&f, NULL, 0);
	emit_events(&f, 0, 1100, 1200); /* three batches */
	wait_records(&f, 1100, WAIT_MS);
	ck_assert_uint_eq(assert_rows_match(&f), 0);
	ck_assert_int_ge(emu_stat(&f, "throttled"), 2);
	ck_assert_double_ge(batches(&f, "throttled"), 2);
	ck_assert_double_eq(batches(&f, "done"), 3);
	ck_assert_double_eq(batches(&f, "rejected"), 0);
	fx_stop(&f);
}
END_TEST

/* --- 413: the core halves the batch until it fits ----------------------------------- */

START_TEST(too_large_splits)
{
	struct fx f = {0};

	/* A service with a smaller cap: every full batch is refused with the real 413. */
	emu_setup(&f, NULL, ",\"max_body_bytes\":300000");
	fx_start(&f, "compression: none\n", 0);
	emit_events(&f, 0, 600, 1200);
	wait_records(&f, 600, WAIT_MS);
	ck_assert_double_ge(batches(&f, "too_large"), 2);
	ck_assert_double_eq(batches(&f, "rejected"), 0);
	/* Refused calls store nothing: each alert arrived exactly once. */
	ck_assert_uint_eq(assert_rows_match(&f), 0);
	ck_assert_int_le(emu_stat(&f, "max_uncompressed_bytes"), 300000);
	fx_stop(&f);
}
END_TEST

/* --- 400: dead-letter, then a replay delivers it ----------------------------------- */

static char *only_file(const char *dir)
{
	char *cmd, *list, *path, *nl;

	ck_assert_int_ge(asprintf(&cmd, "ls %s/dead-letter/sentinel/*.jsonl > %s/ls.txt", dir, dir),
			 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	ck_assert_int_ge(asprintf(&path, "%s/ls.txt", dir), 0);
	list = aw_test_read(path, NULL);
	free(path);
	ck_assert_ptr_nonnull(list);
	nl = strchr(list, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	ck_assert_msg(nl[1] == '\0', "more than one dead-letter file: %s", list);
	return list;
}

START_TEST(bad_request_is_dead_lettered_and_replayed)
{
	struct fx f = {0};
	struct aw_deadletter dl;
	struct aw_error err;
	char *path, *spool;
	struct json_object *rows;

	emu_setup(&f, NULL, NULL);
	fx_start(&f, NULL, 0);
	post_faults(&f,
		    "{\"path\":\"/dataCollectionRules/\",\"status\":400,\"body\":"
		    "\"{\\\"error\\\":{\\\"code\\\":\\\"RecordsTimeRangeIsMoreThan30Minutes\\\","
		    "\\\"message\\\":\\\"The time duration between DataEndTime and DataStartTime "
		    "should be within the range of 0 to 30 minutes.\\\"}}\"}");
	emit_events(&f, 0, 50, 300);
	wait_batches(&f, "rejected", 1, WAIT_MS);
	spin(&f, 50); /* the core writes the file from its idle pass */

	path = only_file(f.dir);
	ck_assert_msg(aw_deadletter_read(path, &dl, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(dl.output, "sentinel");
	ck_assert_int_eq(dl.status, 400);
	ck_assert_ptr_nonnull(dl.body);
	ck_assert_ptr_nonnull(strstr(dl.body, "RecordsTimeRangeIsMoreThan30Minutes"));
	ck_assert_uint_eq(dl.n, 50);
	ck_assert_ptr_nonnull(strstr(dl.recs[0].data, "\"AlertId\""));

	/* Later alerts are not held up by the rejected batch. */
	emit_events(&f, 50, 10, 300);
	wait_records(&f, 10, WAIT_MS);
	rows = stored_rows(&f);
	ck_assert_uint_eq(json_object_array_length(rows), 10);
	json_object_put(rows);

	/* The cause fixed, the batch is replayed (what `aiwatchd dead-letter replay` does:
	 * into the output's spool, picked up on SIGHUP) and arrives. */
	ck_assert_int_ge(asprintf(&spool, "%s/outputs/sentinel/spool", f.dir), 0);
	ck_assert_int_eq(aw_spool_write_incoming(spool, dl.recs, dl.n, NULL, 0, &err), 0);
	aw_deadletter_free(&dl);
	aw_pipeline_reopen_outputs(f.p);
	wait_records(&f, 60, WAIT_MS);
	ck_assert_uint_eq(assert_rows_match(&f), 0);
	free(spool);
	free(path);
	fx_stop(&f);
}
END_TEST

/* --- Evidence over the 64 KB column limit is trimmed, not cut by the service --------- */

START_TEST(huge_evidence_is_trimmed_and_accepted)
{
	struct fx f = {0};
	struct json_object *rows, *ev, *v;
	size_t found = 0;

	emu_setup(&f, NULL, NULL);
	fx_start(&f, NULL, 512 * 1024); /* the engine lets the big sample through */
	emit_events(&f, 0, 2, 200);
	emit_events(&f, 2, 1, 150000);
	wait_records(&f, 3, WAIT_MS);
	assert_rows_match(&f);
	ck_assert_int_eq(emu_stat(&f, "truncated_fields"), 0); /* nothing for the service to cut */
	ck_assert_double_eq(metric(&f, "aiwatch_sentinel_trimmed_records_total", NULL, NULL), 1);

	rows = stored_rows(&f);
	for (size_t i = 0; i < json_object_array_length(rows); i++) {
		size_t len = 0;

		ev = jget(json_object_array_get_idx(rows, i), "Evidence");
		ck_assert(json_object_is_type(ev, json_type_object));
		json_object_to_json_string_length(ev, JSON_C_TO_STRING_PLAIN, &len);
		ck_assert_uint_lt(len, 64000);
		if (json_object_object_get_ex(ev, "OriginalBytes", &v)) {
			found++;
			ck_assert_int_gt(json_object_get_int64(v), 150000);
			ck_assert(json_object_get_boolean(jget(ev, "EvidenceTruncated")));
			ck_assert_uint_eq(json_object_array_length(jget(ev, "Samples")), 0);
			ck_assert_uint_eq(json_object_array_length(jget(ev, "ItemIds")), 1);
		}
	}
	ck_assert_uint_eq(found, 1);
	json_object_put(rows);
	fx_stop(&f);
}
END_TEST

/* --- 403: one clear error, not ready, delivered once the role is granted ------------- */

static size_t count_in_file(const char *path, const char *needle)
{
	char *s = aw_test_read(path, NULL), *p;
	size_t n = 0;

	if (!s)
		return 0;
	for (p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(s);
	return n;
}

START_TEST(forbidden_until_the_role_is_granted)
{
	struct fx f = {0};
	char why[256] = "", *log_path;
	int fd;
	long st;

	/* Someone else holds the role on the DCR; app1 not (yet). */
	emu_setup(&f, NULL, NULL);
	char *body = aw_test_emu_call(&f.emu, "POST", "/_emulator/config",
				      "{\"ingestion\":{\"dcrs\":{\"" DCR "\":{\"principals\":"
				      "[\"someone-else\"]}}}}",
				      &st);
	ck_assert_int_eq(st, 200);
	free(body);
	fx_start(&f, "forbidden_retry: 1s\n", 0);
	log_path = aw_test_write(f.dir, "log.txt", "", 0600);
	fd = open(log_path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	aw_log_set_fd(fd);

	emit_events(&f, 0, 5, 100);
	wait_batches(&f, "forbidden", 2, WAIT_MS);
	ck_assert_int_eq(aw_pipeline_ready(f.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "Monitoring Metrics Publisher"), "ready says: %s", why);
	ck_assert_msg(strstr(why, DCR), "ready says: %s", why);
	ck_assert_uint_eq(count_in_file(log_path, "Monitoring Metrics Publisher"), 1);
	ck_assert_double_eq(metric(&f, "aiwatch_sentinel_records_total", NULL, NULL), 0);

	/* The assignment propagates: delivered at the next try, ready again. */
	body = aw_test_emu_call(
	    &f.emu, "POST", "/_emulator/config",
	    "{\"ingestion\":{\"dcrs\":{\"" DCR "\":{\"principals\":[\"app1\"]}}}}", &st);
	ck_assert_int_eq(st, 200);
	free(body);
	wait_records(&f, 5, WAIT_MS);
	assert_rows_match(&f);
	ck_assert_int_eq(aw_pipeline_ready(f.p, why, sizeof why), 1);
	ck_assert_double_eq(batches(&f, "rejected"), 0);
	ck_assert_uint_eq(count_in_file(log_path, "delivering again"), 1);
	aw_log_set_fd(-1);
	close(fd);
	free(log_path);
	fx_stop(&f);
}
END_TEST

/* --- 404: an unknown stream is a configuration error, retried slowly, not dropped ---- */

START_TEST(unknown_stream_is_not_ready)
{
	struct fx f = {0};
	char why[256] = "", *dl;
	struct stat stbuf;

	emu_setup(&f, NULL, NULL);
	fx_start(&f, "stream: Custom-Other_CL\nforbidden_retry: 1s\n", 0);
	emit_events(&f, 0, 3, 100);
	wait_batches(&f, "not_found", 1, WAIT_MS);
	ck_assert_int_eq(aw_pipeline_ready(f.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "Custom-Other_CL"), "ready says: %s", why);
	ck_assert_double_eq(batches(&f, "rejected"), 0);
	ck_assert_int_ge(asprintf(&dl, "%s/dead-letter/sentinel", f.dir), 0);
	ck_assert_int_ne(stat(dl, &stbuf), 0);
	free(dl);
	fx_stop(&f);
}
END_TEST

/* --- 401: the token is fetched anew once, within the same batch ---------------------- */

START_TEST(expired_token_is_refreshed)
{
	struct fx f = {0};
	struct json_object *reqs, *stats;
	const char *a0, *a1;

	emu_setup(&f, NULL, NULL);
	fx_start(&f, NULL, 0);
	post_faults(&f, "{\"path\":\"/dataCollectionRules/\",\"action\":\"expired_token\"}");
	emit_events(&f, 0, 5, 100);
	wait_records(&f, 5, WAIT_MS);
	assert_rows_match(&f);
	ck_assert_double_eq(batches(&f, "done"), 1);
	ck_assert_double_eq(batches(&f, "unauthorized"), 0);
	ck_assert_double_eq(batches(&f, "retry"), 0);

	stats = emu_json(&f, "/_emulator/stats");
	ck_assert_int_eq(json_object_get_int64(jget(jget(stats, "tokens_issued"), "entra")), 2);
	json_object_put(stats);
	/* Two calls, the second with the new token (compared, never printed). */
	reqs = ingestion_requests(&f);
	ck_assert_uint_eq(json_object_array_length(reqs), 2);
	a0 = req_header(json_object_array_get_idx(reqs, 0), "Authorization");
	a1 = req_header(json_object_array_get_idx(reqs, 1), "Authorization");
	ck_assert(a0 && a1 && strncmp(a0, "Bearer ", 7) == 0);
	ck_assert_msg(strcmp(a0, a1) != 0, "the refused token was sent again");
	json_object_put(reqs);
	fx_stop(&f);
}
END_TEST

/* --- shutdown with a call in flight: cancelled, nothing acknowledged, nothing leaked --- */

START_TEST(close_with_a_call_in_flight)
{
	struct fx f = {0};
	uint64_t t0;

	emu_setup(&f, NULL, NULL);
	fx_start(&f, NULL, 0);
	post_faults(&f, "{\"path\":\"/dataCollectionRules/\",\"delay_ms\":5000}");
	emit_events(&f, 0, 5, 2000); /* gzipped: the pool thread runs first */
	spin(&f, 300);
	ck_assert_uint_eq(aw_pipeline_pending(f.p), 5);
	ck_assert_double_eq(metric(&f, "aiwatch_sentinel_records_total", NULL, NULL), 0);
	uv_update_time(&f.loop);
	t0 = uv_now(&f.loop);
	uv_close((uv_handle_t *)&f.tick, tick_closed);
	aw_pipeline_close(f.p, on_closed, &f.closed);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	ck_assert(f.closed);
	uv_update_time(&f.loop);
	ck_assert_uint_lt(uv_now(&f.loop) - t0, 2000); /* not held by the slow answer */
	f.p = NULL;
	fx_stop(&f);
}
END_TEST

/* Closed while the body is being gzipped on the thread pool. */
START_TEST(close_while_compressing)
{
	struct fx f = {0};

	emu_setup(&f, NULL, NULL);
	fx_start(&f, NULL, 0);
	emit_events(&f, 0, 400, 2000);
	/* The first idle pass submits the batch, which goes to the pool at once; the close
	 * comes while the pool deflates the ~800 KB body (tens of milliseconds). */
	uv_run(&f.loop, UV_RUN_NOWAIT);
	ck_assert(!aw_pipeline_idle(f.p));
	fx_stop(&f);
}
END_TEST

/* --- the emulator's route, spoken to directly ------------------------------------------- */

struct reply {
	long status;
	char *body;
	size_t len;
	char retry_after[32];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	ck_assert_ptr_nonnull(nb);
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = sz * n;

	if (len > 13 && strncasecmp(p, "Retry-After: ", 13) == 0)
		snprintf(r->retry_after, sizeof r->retry_after, "%.*s",
			 (int)strcspn(p + 13, "\r\n"), p + 13);
	return len;
}

static struct reply post(const struct aw_test_emu *e, const char *path, const char *token,
			 const char *ctype, const char *enc, const void *body, size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct reply r = {0};
	char url[512], line[4096];

	ck_assert_ptr_nonnull(c);
	snprintf(url, sizeof url, "%s%s", e->base, path);
	if (token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", token);
		h = curl_slist_append(h, line);
	}
	snprintf(line, sizeof line, "Content-Type: %s", ctype);
	h = curl_slist_append(h, line);
	if (enc) {
		snprintf(line, sizeof line, "Content-Encoding: %s", enc);
		h = curl_slist_append(h, line);
	}
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (!r.body)
		r.body = strdup("");
	return r;
}

static char *token_for(const struct aw_test_emu *e, const char *scope)
{
	char form[512];
	struct reply r;
	struct json_object *o;
	char *tok;

	snprintf(form, sizeof form,
		 "grant_type=client_credentials&client_id=app1&client_secret=s3cr3t-client&"
		 "scope=%s",
		 scope);
	r = post(e, "/" TENANT "/oauth2/v2.0/token", NULL, "application/x-www-form-urlencoded",
		 NULL, form, strlen(form));
	ck_assert_int_eq(r.status, 200);
	o = json_tokener_parse(r.body);
	tok = strdup(json_object_get_string(jget(o, "access_token")));
	json_object_put(o);
	free(r.body);
	return tok;
}

static void expect(struct reply r, long status, const char *needle)
{
	ck_assert_msg(r.status == status, "status %ld, wanted %ld: %s", r.status, status, r.body);
	if (needle)
		ck_assert_msg(strstr(r.body, needle), "no %s in %s", needle, r.body);
	free(r.body);
}

#define ING "/dataCollectionRules/" DCR "/streams/" STREAM "?api-version=2023-01-01"

START_TEST(emulator_speaks_logs_ingestion)
{
	struct aw_test_emu e;
	char *tok, *vault_tok, *big, cfg[2048];
	unsigned char gz[256];
	uLongf gzlen = sizeof gz;
	const char rows[] =
	    "[{\"AlertId\":\"a1\",\"Evidence\":{\"x\":\"0123456789abcdef\"}},{\"AlertId\":\"a1\"}]";
	struct reply r;
	long st;
	z_stream zs;

	snprintf(cfg, sizeof cfg, emu_base_config, ",\"requests_per_window\":3,\"window_s\":60",
		 ",\"field_max_bytes\":16");
	aw_test_emu_start(&e, cfg);
	tok = token_for(&e, "https%3A%2F%2Fmonitor.azure.com%2F.default");
	vault_tok = token_for(&e, "https%3A%2F%2Fvault.azure.net%2F.default");

	/* gzip accepted, 204 and no body; both rows stored, duplicate AlertId too. */
	memset(&zs, 0, sizeof zs);
	ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)rows;
	zs.avail_in = sizeof rows - 1;
	zs.next_out = gz;
	zs.avail_out = sizeof gz;
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	gzlen = zs.total_out;
	deflateEnd(&zs);
	r = post(&e, ING, tok, "application/json", "gzip", gz, gzlen);
	ck_assert_int_eq(r.len, 0);
	expect(r, 204, NULL);
	char *back = aw_test_emu_call(&e, "GET", "/_emulator/ingested?dcr=" DCR, NULL, &st);
	ck_assert_int_eq(st, 200);
	/* a dynamic value over field_max_bytes (16 here) is cut to text, as the service does */
	ck_assert_str_eq(back, "[{\"AlertId\":\"a1\",\"Evidence\":\"{\\\"x\\\":\\\"0123456789\"},"
			       "{\"AlertId\":\"a1\"}]");
	free(back);
	/* A gzip member cut short is refused, not half stored. */
	expect(post(&e, ING, tok, "application/json", "gzip", gz, gzlen / 2), 400,
	       "InvalidContentEncoding");

	/* The cap is on Content-Length: the service's own 413 body. */
	big = malloc(CAP + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', CAP + 1);
	big[0] = '[';
	big[CAP] = ']';
	expect(post(&e, ING, tok, "application/json", NULL, big, CAP + 1), 413,
	       "{\"error\":{\"code\":\"ContentLengthLimitExceeded\",\"message\":\"Maximum allowed "
	       "content length: 1048576 bytes (1 MB). Provided content length: 1048577 bytes.\"}}");
	free(big);

	/* Unknown DCR or stream, a token for another audience, no api-version, not an array. */
	expect(post(&e, "/dataCollectionRules/dcr-ffff/streams/" STREAM "?api-version=2023-01-01",
		    tok, "application/json", NULL, "[]", 2),
	       404, "dcr-ffff");
	expect(post(&e, "/dataCollectionRules/" DCR "/streams/Custom-X_CL?api-version=2023-01-01",
		    tok, "application/json", NULL, "[]", 2),
	       404, "Custom-X_CL");
	expect(post(&e, ING, vault_tok, "application/json", NULL, "[]", 2), 401,
	       "InvalidAuthenticationTokenAudience");
	expect(post(&e, ING, NULL, "application/json", NULL, "[]", 2), 401, "AuthenticationFailed");
	/* The third admitted call of the window (of 3): the next is throttled. */
	expect(post(&e, ING, tok, "application/json", NULL, "{}", 2), 400, "InvalidPayload");
	r = post(&e, ING, tok, "application/json", NULL, "[]", 2);
	ck_assert_msg(num_or(r.retry_after, 0, 1, 3600) >= 1, "Retry-After: '%s'", r.retry_after);
	expect(r, 429, "TooManyRequests");

	/* A principal without the role. */
	char *b = aw_test_emu_call(
	    &e, "POST", "/_emulator/config",
	    "{\"ingestion\":{\"dcrs\":{\"" DCR "\":{\"principals\":[\"x\"]}}}}", &st);
	ck_assert_int_eq(st, 200);
	free(b);
	expect(post(&e, ING, tok, "application/json", NULL, "[]", 2), 403, "OperationFailed");

	/* Reset clears what was stored. */
	b = aw_test_emu_call(&e, "POST", "/_emulator/reset", "", &st);
	free(b);
	back = aw_test_emu_call(&e, "GET", "/_emulator/ingested", NULL, &st);
	ck_assert_str_eq(back, "[]");
	free(back);
	free(tok);
	free(vault_tok);
	aw_test_emu_stop(&e);
}
END_TEST

/* --- the body builder ------------------------------------------------------------------------ */

START_TEST(body_stays_under_the_cap)
{
	struct aw_sentinel_body b = {0};
	struct aw_error err;
	struct aw_record recs[3];
	char *data[3];
	size_t sizes[3] = {500000, 500000, 48574}; /* with [ , , ] exactly 1048578 */

	for (int i = 0; i < 3; i++) {
		data[i] = malloc(sizes[i] + 1);
		memset(data[i], 'x', sizes[i]);
		memcpy(data[i], "{\"a\":\"", 6);
		memcpy(data[i] + sizes[i] - 2, "\"}", 2);
		data[i][sizes[i]] = '\0';
		recs[i] = (struct aw_record){.data = data[i], .len = sizes[i]};
	}
	/* 2 bytes over: too large, so the core splits. */
	ck_assert_int_eq(aw_sentinel_body_build(&b, recs, 3, &err), 1);
	/* 2 bytes shorter: exactly at the cap, accepted. */
	recs[2].len -= 2;
	memcpy(data[2] + recs[2].len - 2, "\"}", 2);
	ck_assert_int_eq(aw_sentinel_body_build(&b, recs, 3, &err), 0);
	ck_assert_uint_eq(b.len, CAP);
	ck_assert_int_eq(b.json[0], '[');
	ck_assert_int_eq(b.json[b.len - 1], ']');

	/* gzip: a gzip member that inflates back to the array. */
	ck_assert_int_eq(aw_sentinel_body_gzip(&b, &err), 0);
	ck_assert_uint_lt(b.gz_len, b.len / 10);
	ck_assert_int_eq(b.gz[0], 0x1f);
	ck_assert_int_eq(b.gz[1], 0x8b);
	{
		z_stream zs;
		char *out = malloc(b.len + 1);
		memset(&zs, 0, sizeof zs);
		ck_assert_int_eq(inflateInit2(&zs, 31), Z_OK);
		zs.next_in = b.gz;
		zs.avail_in = (uInt)b.gz_len;
		zs.next_out = (Bytef *)out;
		zs.avail_out = (uInt)b.len + 1;
		ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
		ck_assert_uint_eq(zs.total_out, b.len);
		ck_assert_int_eq(memcmp(out, b.json, b.len), 0);
		inflateEnd(&zs);
		free(out);
	}
	/* Records whose fields are all small are sent byte for byte. */
	recs[0] = (struct aw_record){.data = "{\"AlertId\":\"a\",\"Evidence\":{}}", .len = 29};
	recs[1] = (struct aw_record){.data = "{\"AlertId\":\"b\"}", .len = 15};
	ck_assert_int_eq(aw_sentinel_body_build(&b, recs, 2, &err), 0);
	ck_assert_str_eq(b.json, "[{\"AlertId\":\"a\",\"Evidence\":{}},{\"AlertId\":\"b\"}]");
	ck_assert_uint_eq(b.trimmed, 0);
	aw_sentinel_body_free(&b);
	for (int i = 0; i < 3; i++)
		free(data[i]);
}
END_TEST

START_TEST(evidence_trimming)
{
	char *big = malloc(200000), *out = NULL;
	size_t n = 0, outlen = 0;
	struct aw_error err;
	struct json_object *o, *ev;

	/* Two samples of 40 KB and 100 ids: the samples go (from the end), ids stay. */
	n +=
	    (size_t)snprintf(big + n, 200000 - n, "{\"AlertId\":\"x\",\"Evidence\":{\"ItemIds\":[");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(big + n, 200000 - n, "%s\"item-%03d\"", i ? "," : "", i);
	n += (size_t)snprintf(big + n, 200000 - n, "],\"Samples\":[");
	for (int s = 0; s < 2; s++) {
		n += (size_t)snprintf(big + n, 200000 - n, "%s{\"Pad\":\"", s ? "," : "");
		memset(big + n, 'a' + s, 40000);
		n += 40000;
		n += (size_t)snprintf(big + n, 200000 - n, "\"}");
	}
	n += (size_t)snprintf(big + n, 200000 - n, "]},\"Host\":\"h\"}");
	ck_assert_int_eq(
	    aw_sentinel_trim_evidence(big, n, AW_SENTINEL_FIELD_MAX, &out, &outlen, &err), 1);
	o = json_tokener_parse(out);
	ck_assert_ptr_nonnull(o);
	ev = jget(o, "Evidence");
	ck_assert_uint_eq(json_object_array_length(jget(ev, "Samples")), 1);
	ck_assert_str_eq(
	    json_object_get_string(jget(json_object_array_get_idx(jget(ev, "Samples"), 0), "Pad")) +
		39990,
	    "aaaaaaaaaa");
	ck_assert_uint_eq(json_object_array_length(jget(ev, "ItemIds")), 100);
	ck_assert(json_object_get_boolean(jget(ev, "EvidenceTruncated")));
	ck_assert_int_eq(json_object_get_int64(jget(ev, "OriginalBytes")),
			 (int64_t)(strstr(big, ",\"Host\"") - (strstr(big, "\"Evidence\":") + 11)));
	ck_assert_str_eq(json_object_get_string(jget(o, "Host")), "h");
	ck_assert_uint_lt(outlen, AW_SENTINEL_FIELD_MAX + 100);
	json_object_put(o);
	free(out);

	/* With a limit below what the ids alone need, ids go too; the marks remain. */
	ck_assert_int_eq(aw_sentinel_trim_evidence(big, n, 500, &out, &outlen, &err), 1);
	o = json_tokener_parse(out);
	ev = jget(o, "Evidence");
	ck_assert_uint_eq(json_object_array_length(jget(ev, "Samples")), 0);
	ck_assert_uint_lt(json_object_array_length(jget(ev, "ItemIds")), 40);
	json_object_put(o);
	free(out);

	/* Small, or not JSON: left alone. */
	ck_assert_int_eq(
	    aw_sentinel_trim_evidence("{\"Evidence\":{}}", 15, 64000, &out, &outlen, &err), 0);
	memset(big, 'x', 100000);
	ck_assert_int_eq(aw_sentinel_trim_evidence(big, 100000, 64000, &out, &outlen, &err), 0);
	ck_assert_ptr_null(out);
	free(big);
}
END_TEST

/* --- options ---------------------------------------------------------------------------- */

static int check_conf(const char *yaml, struct aw_error_list *errs)
{
	const struct aw_plugin_desc *d = aw_plugin_find(AW_PLUGIN_OUTPUT, "sentinel");
	struct aw_doc *doc = NULL;
	void *conf = calloc(1, d->conf_size);
	int rc;

	ck_assert_int_eq(aw_doc_load_buffer("o.yaml", yaml, strlen(yaml), &doc, errs), 0);
	rc = aw_options_apply(d->options, doc->root, conf, "outputs[0]", 0600, errs);
	if (rc == 0)
		rc = d->validate(conf, "outputs[0]", errs);
	aw_options_free(d->options, conf);
	free(conf);
	aw_doc_free(doc);
	return rc;
}

START_TEST(options_are_checked)
{
	struct aw_error_list errs = {0};

	ck_assert_int_eq(check_conf("endpoint: https://x.eastus-1.ingest.monitor.azure.com\n"
				    "dcr_immutable_id: " DCR "\n",
				    &errs),
			 0);
	ck_assert_int_ne(check_conf("endpoint: https://x.ingest.monitor.azure.com/"
				    "dataCollectionRules/" DCR "/streams/x\n"
				    "dcr_immutable_id: my-dcr\nstream: Table_CL\n"
				    "scope: https://monitor.azure.com\n",
				    &errs),
			 0);
	ck_assert_uint_eq(errs.n, 4);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "outputs[0].endpoint"));
	ck_assert_ptr_nonnull(strstr(errs.msgs[1], "outputs[0].dcr_immutable_id"));
	ck_assert_ptr_nonnull(strstr(errs.msgs[2], "outputs[0].stream"));
	ck_assert_ptr_nonnull(strstr(errs.msgs[3], "outputs[0].scope"));
	aw_error_list_free(&errs);
	/* An own credential is checked like azure.credential. */
	ck_assert_int_ne(check_conf("endpoint: https://x.ingest.monitor.azure.com\n"
				    "dcr_immutable_id: " DCR "\n"
				    "credential:\n  kind: client_secret\n",
				    &errs),
			 0);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "outputs[0].credential"));
	aw_error_list_free(&errs);
}
END_TEST

static Suite *out_sentinel_suite(void)
{
	Suite *s = suite_create("out_sentinel");
	TCase *tc = tcase_create("delivery");
	TCase *unit = tcase_create("parts");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, large_set_arrives_in_calls_under_the_cap);
	tcase_add_test(tc, large_set_gzipped);
	tcase_add_test(tc, server_errors_are_ridden_out);
	tcase_add_test(tc, rate_limit_is_ridden_out);
	tcase_add_test(tc, too_large_splits);
	tcase_add_test(tc, bad_request_is_dead_lettered_and_replayed);
	tcase_add_test(tc, huge_evidence_is_trimmed_and_accepted);
	tcase_add_test(tc, forbidden_until_the_role_is_granted);
	tcase_add_test(tc, unknown_stream_is_not_ready);
	tcase_add_test(tc, expired_token_is_refreshed);
	tcase_add_test(tc, close_with_a_call_in_flight);
	tcase_add_test(tc, close_while_compressing);
	suite_add_tcase(s, tc);
	tcase_add_test(unit, emulator_speaks_logs_ingestion);
	tcase_add_test(unit, body_stays_under_the_cap);
	tcase_add_test(unit, evidence_trimming);
	tcase_add_test(unit, options_are_checked);
	suite_add_tcase(s, unit);
	return s;
}

AW_TEST_MAIN(out_sentinel_suite)
