/* out_kafka against librdkafka's mock cluster (the real Kafka protocol over TCP),
 * driven through the real pipeline: a test input emits Key Vault events, a Sigma rule
 * turns each into an alert, out_kafka produces them, and a real consumer reads them
 * back. The pipeline counts a record in aiwatch_output_delivered_total, and stops
 * counting it in aw_pipeline_pending(), only when the output answered AW_DONE for its
 * batch: that is how "nothing acknowledged early" is observed. */
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "pipeline.h"
#include "testutil.h"

extern const struct aw_plugin_desc aw_out_kafka;

#define TOPIC	   "alerts"
#define PARTITIONS 4
/* Kafka API keys (the protocol's numbers; librdkafka does not install its table). */
#define API_PRODUCE	     0
#define API_INIT_PRODUCER_ID 22

/* --- the mock cluster ---------------------------------------------------------------- */

struct mock {
	rd_kafka_t *rk; /* a handle only to own the cluster */
	rd_kafka_mock_cluster_t *mc;
	int brokers;
	char bootstraps[256];
};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
}

static void mock_start(struct mock *m, int brokers)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];

	rd_kafka_conf_set_log_cb(c, quiet_log);
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
	ck_assert_msg(m->rk, "%s", err);
	m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
	ck_assert_ptr_nonnull(m->mc);
	m->brokers = brokers;
	snprintf(m->bootstraps, sizeof m->bootstraps, "%s",
		 rd_kafka_mock_cluster_bootstraps(m->mc));
	ck_assert_int_eq(rd_kafka_mock_topic_create(m->mc, TOPIC, PARTITIONS, 1), 0);
}

static void mock_stop(struct mock *m)
{
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
}

static void mock_all_brokers(struct mock *m, bool up)
{
	for (int id = 1; id <= m->brokers; id++)
		ck_assert_int_eq(up ? rd_kafka_mock_broker_set_up(m->mc, id)
				    : rd_kafka_mock_broker_set_down(m->mc, id),
				 0);
}

/* --- reading the topic back ----------------------------------------------------------- */

struct got {
	char *key;
	char *value;
	int partition;
	char *alert_id;
	char *item; /* the triggering event's _ItemId, from Evidence.ItemIds */
};

struct topic_content {
	struct got *v;
	size_t n;
};

static char *evidence_item(struct json_object *o)
{
	struct json_object *ev, *ids;

	if (json_object_object_get_ex(o, "Evidence", &ev) &&
	    json_object_object_get_ex(ev, "ItemIds", &ids) && json_object_array_length(ids) > 0)
		return strdup(json_object_get_string(json_object_array_get_idx(ids, 0)));
	return NULL;
}

/* Read every partition from the beginning until `unique` distinct AlertIds (or
 * messages, for records that have none) were seen or timeout_ms passed. */
static struct topic_content consume(const char *bootstraps, size_t unique, int timeout_ms)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
	struct topic_content tc = {.v = calloc(unique * 4 + 16, sizeof(struct got))};
	size_t cap = unique * 4 + 16, seen = 0;
	struct json_object *ids = json_object_new_object();
	char err[256];
	rd_kafka_t *rk;
	uint64_t end = uv_hrtime() + (uint64_t)timeout_ms * 1000000;

	rd_kafka_conf_set_log_cb(c, quiet_log);
	ck_assert_int_eq(rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "group.id", "test-reader", err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err), 0);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
	ck_assert_msg(rk, "%s", err);
	for (int p = 0; p < PARTITIONS; p++)
		rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	ck_assert_int_eq(rd_kafka_assign(rk, parts), 0);
	rd_kafka_topic_partition_list_destroy(parts);
	while (seen < unique && uv_hrtime() < end && tc.n < cap) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		struct json_object *o, *id;
		struct got *g;
		if (!m)
			continue;
		if (m->err) {
			rd_kafka_message_destroy(m);
			continue;
		}
		g = &tc.v[tc.n++];
		g->partition = m->partition;
		g->key = m->key ? strndup(m->key, m->key_len) : NULL;
		g->value = strndup(m->payload, m->len);
		o = json_tokener_parse(g->value);
		ck_assert_msg(o, "not JSON: %s", g->value);
		if (json_object_object_get_ex(o, "AlertId", &id)) {
			g->alert_id = strdup(json_object_get_string(id));
			if (!json_object_object_get_ex(ids, g->alert_id, NULL)) {
				json_object_object_add(ids, g->alert_id, NULL);
				seen++;
			}
		} else {
			seen++;
		}
		g->item = evidence_item(o);
		json_object_put(o);
		rd_kafka_message_destroy(m);
	}
	json_object_put(ids);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return tc;
}

static void topic_content_free(struct topic_content *tc)
{
	for (size_t i = 0; i < tc->n; i++) {
		free(tc->v[i].key);
		free(tc->v[i].value);
		free(tc->v[i].alert_id);
		free(tc->v[i].item);
	}
	free(tc->v);
}

/* Distinct items among what was read. */
static size_t distinct_items(const struct topic_content *tc)
{
	struct json_object *set = json_object_new_object();
	size_t n;

	for (size_t i = 0; i < tc->n; i++)
		if (tc->v[i].item)
			json_object_object_add(set, tc->v[i].item, NULL);
	n = (size_t)json_object_object_length(set);
	json_object_put(set);
	return n;
}

/* --- a test input ----------------------------------------------------------------------- */

struct t_in {
	struct aw_plugin_ctx *ctx;
	uint64_t durable;
};

static struct t_in g_in;

static int t_in_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		     struct aw_error *err)
{
	g_in.ctx = ctx;
	*state = &g_in;
	return 0;
}

static void t_in_durable(void *state, uint64_t seq)
{
	g_in.durable = seq;
}

static void t_in_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(g_in.ctx);
}

static const struct aw_option no_options[] = {AW_OPT_END};

static const struct aw_plugin_desc t_in_desc = {
    .abi = AW_PLUGIN_ABI,
    .name = "t_in",
    .kind = AW_PLUGIN_INPUT,
    .options = no_options,
    .init = t_in_init,
    .durable = t_in_durable,
    .close = t_in_close,
};

/* --- fixture: pipeline + engine + out_kafka ---------------------------------------------- */

static const char rule[] = "title: any vault secret read\n"
			   "id: 5f1e2d3c-0000-4000-8000-00000000c0de\n"
			   "level: medium\n"
			   "logsource: {product: azure, service: keyvault}\n"
			   "detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n";

struct fx {
	uv_loop_t loop;
	struct aw_metrics *metrics;
	struct aw_engine *engine;
	struct aw_pipeline *p;
	char *dir, *rule_path;
	struct aw_instance_conf in_ic, out_ic;
	void *kconf;
	struct aw_plugin_ctx *out;
	struct mock m;
	bool closed;
};

/* out_kafka's configuration from YAML (the body of an outputs item), validated. */
static void *kafka_conf(const char *yaml, struct aw_error_list *errs)
{
	struct aw_doc *doc = NULL;
	void *conf = calloc(1, aw_out_kafka.conf_size);

	ck_assert_int_eq(aw_doc_load_buffer("t.yaml", yaml, strlen(yaml), &doc, errs), 0);
	if (aw_options_apply(aw_out_kafka.options, doc->root, conf, "outputs[0]", 0600, errs) == 0)
		aw_out_kafka.validate(conf, "outputs[0]", errs);
	aw_doc_free(doc);
	return conf;
}

/* A pipeline on f->dir with out_kafka ("kafka") and the test input ("in"). */
static void fx_open_pipeline(struct fx *f, bool forward)
{
	struct aw_error err;
	struct aw_pipeline_conf pc = {
	    .max_queue_bytes = 64 << 20,
	    .retry_initial_ms = 20,
	    .retry_max_ms = 200,
	    .forward_events = forward,
	    .spool_fsync = 1, /* never: these tests do not cut the power */
	};
	struct aw_plugin_ctx *ctx;

	f->closed = false;
	ck_assert_int_eq(aw_pipeline_new(&f->loop, &pc, f->metrics, f->dir, f->engine, &f->p, &err),
			 0);
	f->out_ic =
	    (struct aw_instance_conf){.desc = &aw_out_kafka, .name = "kafka", .conf = f->kconf};
	f->in_ic = (struct aw_instance_conf){.desc = &t_in_desc, .name = "in"};
	ck_assert_msg(aw_pipeline_add(f->p, &f->out_ic, &f->out, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(f->out, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(aw_pipeline_add(f->p, &f->in_ic, &ctx, &err), 0);
	ck_assert_int_eq(aw_pipeline_start(ctx, &err), 0);
}

/* prepare (may be NULL) runs on the mock cluster before out_kafka starts. */
static void fx_init_with(struct fx *f, int brokers, bool forward, const char *extra_yaml,
			 void (*prepare)(struct mock *m))
{
	struct aw_error_list errs = {0};
	char *yaml;

	memset(f, 0, sizeof *f);
	memset(&g_in, 0, sizeof g_in);
	mock_start(&f->m, brokers);
	if (prepare)
		prepare(&f->m);
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->metrics = aw_metrics_new();
	f->dir = aw_test_tmpdir();
	f->rule_path = aw_test_write(f->dir, "rule.yml", rule, 0600);
	const char *paths[] = {f->rule_path};
	struct aw_engine_conf ec = {
	    .forward_events = forward,
	    .rule_paths = forward ? NULL : paths,
	    .nrule_paths = forward ? 0 : 1,
	    .allowed_lateness_ms = 600000,
	    .host = "test",
	};
	f->engine = aw_engine_new(&ec, &errs);
	ck_assert_ptr_nonnull(f->engine);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_int_ge(asprintf(&yaml, "brokers: %s\ntopic: " TOPIC "\nmessage_timeout: 30s\n%s",
				  f->m.bootstraps, extra_yaml ? extra_yaml : ""),
			 0);
	f->kconf = kafka_conf(yaml, &errs);
	free(yaml);
	ck_assert_msg(errs.n == 0, "%s", errs.n ? errs.msgs[0] : "");
	aw_error_list_free(&errs);
	fx_open_pipeline(f, forward);
}

static void fx_init(struct fx *f, int brokers, bool forward, const char *extra_yaml)
{
	fx_init_with(f, brokers, forward, extra_yaml, NULL);
}

static void on_closed(void *ud)
{
	((struct fx *)ud)->closed = true;
}

static void fx_free(struct fx *f)
{
	aw_pipeline_close(f->p, on_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert(f->closed);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	aw_options_free(aw_out_kafka.options, f->kconf);
	free(f->kconf);
	aw_engine_free(f->engine);
	aw_metrics_free(f->metrics);
	mock_stop(&f->m);
	aw_test_rmtree(f->dir);
	free(f->dir);
	free(f->rule_path);
}

/* Run the loop until done(f) or timeout_ms; returns done(f). */
static bool run_until(struct fx *f, bool (*done)(struct fx *f), int timeout_ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)timeout_ms * 1000000;

	while (!done(f) && uv_hrtime() < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	return done(f);
}

static bool never(struct fx *f)
{
	return false;
}

static uint64_t g_want;

static double metric(struct fx *f, enum aw_metric_type t, const char *name, const char *k2,
		     const char *v2);

/* Every record so far acknowledged: the output answered AW_DONE for all of them. */
static bool all_delivered(struct fx *f)
{
	return metric(f, AW_METRIC_COUNTER, "aiwatch_output_delivered_total", NULL, NULL) >=
		   (double)g_want &&
	       aw_pipeline_pending(f->p) == 0;
}

static bool is_ready(struct fx *f)
{
	char why[256];
	return aw_pipeline_ready(f->p, why, sizeof why) == 1;
}

static double metric(struct fx *f, enum aw_metric_type t, const char *name, const char *k2,
		     const char *v2)
{
	return aw_metric_value(
	    k2 ? aw_metric_get(f->metrics, t, name, "", "output", "kafka", k2, v2, NULL)
	       : aw_metric_get(f->metrics, t, name, "", "output", "kafka", NULL));
}

#define DELIVERED(f)	 metric(f, AW_METRIC_COUNTER, "aiwatch_output_delivered_total", NULL, NULL)
#define KAFKA_MSGS(f, r) metric(f, AW_METRIC_COUNTER, "aiwatch_kafka_messages_total", "result", r)

/* The entity for event i: five client addresses, and an account on every third event
 * of the first address (the account outranks the address as the primary entity). */
static void entity_of(unsigned i, char *ip, size_t ipsz, const char **upn)
{
	snprintf(ip, ipsz, "10.0.0.%u", i % 5);
	*upn = (i % 5 == 0 && i % 3 == 0) ? "alice@contoso.example" : NULL;
}

/* Emit a Key Vault SecretGet; its alert carries item-<i> in Evidence.ItemIds. */
static void emit_vault_event(unsigned i)
{
	char json[512], ip[32], ident[128] = "";
	const char *upn;
	bool pause = false;

	entity_of(i, ip, sizeof ip, &upn);
	if (upn)
		snprintf(ident, sizeof ident, ",\"Identity\":{\"claim\":{\"upn\":\"%s\"}}", upn);
	struct aw_event ev = {.json = json, .table = "AZKVAuditLogs", .origin = "test"};
	ev.len = (size_t)snprintf(json, sizeof json,
				  "{\"Type\":\"AZKVAuditLogs\",\"OperationName\":\"SecretGet\","
				  "\"TimeGenerated\":\"2026-11-20T10:%02u:%02u.000Z\","
				  "\"_ItemId\":\"item-%05u\",\"CallerIpAddress\":\"%s\"%s}",
				  (i / 60) % 60, i % 60, i, ip, ident);
	aw_input_emit(g_in.ctx, &ev, &pause);
}

static void emit_many(unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++)
		emit_vault_event(i);
}

/* Every alert 0..n-1 was read; keys are the primary entity; each key lives on one
 * partition with its alerts in the order they were emitted (duplicates allowed when
 * `exact` is false, which retries can make). */
static void check_topic(const struct topic_content *tc, unsigned n, bool exact)
{
	char ip[32], item[32];
	const char *upn;
	int part_of[6];
	long last[6];

	ck_assert_uint_eq(distinct_items(tc), n);
	if (exact)
		ck_assert_uint_eq(tc->n, n);
	for (int k = 0; k < 6; k++) {
		part_of[k] = -1;
		last[k] = -1;
	}
	for (size_t i = 0; i < tc->n; i++) {
		const struct got *g = &tc->v[i];
		unsigned idx;
		ck_assert_ptr_nonnull(g->item);
		ck_assert_int_eq(sscanf(g->item, "item-%u", &idx), 1);
		entity_of(idx, ip, sizeof ip, &upn);
		ck_assert_ptr_nonnull(g->key);
		ck_assert_str_eq(g->key, upn ? upn : ip);
		snprintf(item, sizeof item, "item-%05u", idx);
		ck_assert_str_eq(g->item, item);
		int k = upn ? 5 : (int)(idx % 5);
		if (part_of[k] < 0)
			part_of[k] = g->partition;
		ck_assert_int_eq(g->partition, part_of[k]); /* one entity, one partition */
		if (exact)
			ck_assert_int_gt((long)idx, last[k]); /* in order */
		last[k] = (long)idx;
	}
}

/* --- delivery -------------------------------------------------------------------------- */

START_TEST(all_alerts_arrive_keyed_and_in_order)
{
	struct fx f;
	const unsigned n = 10000;
	uint64_t t0, t1;
	double ms;

	fx_init(&f, 3, false, NULL);
	ck_assert(run_until(&f, is_ready, 10000));
	/* The first alert pays for the topic's metadata and the leaders' connections. */
	emit_many(0, 1);
	g_want = 1;
	ck_assert(run_until(&f, all_delivered, 10000));
	t0 = uv_hrtime();
	emit_many(1, n - 1);
	t1 = uv_hrtime();
	g_want = n;
	ck_assert_msg(run_until(&f, all_delivered, 60000), "delivered %.0f of %u", DELIVERED(&f),
		      n);
	ms = (double)(uv_hrtime() - t1) / 1e6;
	/* Emitting evaluates the rule and builds every alert first; what follows is
	 * out_kafka alone: produce, delivery reports, acknowledgement. */
	printf("out_kafka: %u alerts built in %.0f ms, then confirmed by the mock cluster "
	       "(3 brokers, %d partitions, batches of %zu) in %.0f ms: %.0f alerts/s delivered\n",
	       n - 1, (double)(t1 - t0) / 1e6, PARTITIONS, aw_out_kafka.max_batch_records, ms,
	       (n - 1) / (ms / 1000.0));
	ck_assert_double_eq(DELIVERED(&f), n);
	ck_assert_double_eq(KAFKA_MSGS(&f, "delivered"), n);
	ck_assert_double_eq(KAFKA_MSGS(&f, "failed"), 0);
	ck_assert_double_eq(
	    metric(&f, AW_METRIC_GAUGE, "aiwatch_kafka_inflight_messages", NULL, NULL), 0);
	struct topic_content tc = consume(f.m.bootstraps, n, 30000);
	check_topic(&tc, n, true);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

START_TEST(broker_down_nothing_acknowledged_until_it_returns)
{
	struct fx f;
	char why[256];
	const unsigned n = 50;

	fx_init(&f, 3, false, NULL);
	ck_assert(run_until(&f, is_ready, 10000));
	mock_all_brokers(&f.m, false);
	emit_many(0, n);
	run_until(&f, never, 2500);
	/* Submitted, not confirmed: nothing is acknowledged. */
	ck_assert_double_eq(DELIVERED(&f), 0);
	ck_assert_uint_eq(aw_pipeline_pending(f.p), n);
	ck_assert_double_eq(KAFKA_MSGS(&f, "delivered"), 0);
	ck_assert_double_eq(
	    metric(&f, AW_METRIC_GAUGE, "aiwatch_kafka_inflight_messages", NULL, NULL), n);
	ck_assert_int_eq(aw_pipeline_ready(f.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "kafka: no Kafka broker is up"), "%s", why);
	mock_all_brokers(&f.m, true);
	g_want = n;
	ck_assert(run_until(&f, all_delivered, 30000));
	ck_assert_double_eq(DELIVERED(&f), n);
	ck_assert(run_until(&f, is_ready, 5000));
	struct topic_content tc = consume(f.m.bootstraps, n, 20000);
	check_topic(&tc, n, false);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

/* Stopping while the broker is down: the close is prompt (a short drain, then purge),
 * nothing is acknowledged, and the next start delivers the alerts from the spool. */
START_TEST(shutdown_with_broker_down_leaves_alerts_for_the_next_start)
{
	struct fx f;
	const unsigned n = 30;
	uint64_t t0;
	double ms;

	fx_init(&f, 1, false, "close_timeout: 300ms\n");
	ck_assert(run_until(&f, is_ready, 10000));
	mock_all_brokers(&f.m, false);
	emit_many(0, n);
	run_until(&f, never, 500);
	ck_assert_double_eq(DELIVERED(&f), 0);
	t0 = uv_hrtime();
	aw_pipeline_close(f.p, on_closed, &f);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	ms = (double)(uv_hrtime() - t0) / 1e6;
	ck_assert(f.closed);
	printf("out_kafka: closed with the broker down in %.0f ms\n", ms);
	ck_assert_msg(ms < 3000, "close took %.0f ms", ms);
	ck_assert_double_eq(DELIVERED(&f), 0);

	mock_all_brokers(&f.m, true);
	fx_open_pipeline(&f, false);
	g_want = n;
	ck_assert(run_until(&f, all_delivered, 30000));
	struct topic_content tc = consume(f.m.bootstraps, n, 20000);
	check_topic(&tc, n, false);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

START_TEST(failed_delivery_reports_retry_the_batch)
{
	struct fx f;
	const unsigned n = 40;

	fx_init(&f, 1, false, NULL);
	ck_assert(run_until(&f, is_ready, 10000));
	/* A permanent error librdkafka does not retry by itself: the reports fail. */
	rd_kafka_mock_push_request_errors(f.m.mc, API_PRODUCE, 2,
					  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
					  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	emit_many(0, n);
	g_want = n;
	ck_assert(run_until(&f, all_delivered, 30000));
	ck_assert_double_ge(KAFKA_MSGS(&f, "failed"), 1);
	ck_assert_double_ge(
	    metric(&f, AW_METRIC_COUNTER, "aiwatch_output_retries_total", NULL, NULL), 1);
	ck_assert_double_eq(DELIVERED(&f), n);
	struct topic_content tc = consume(f.m.bootstraps, n, 20000);
	check_topic(&tc, n, false);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

START_TEST(message_too_large_splits_the_batch)
{
	struct fx f;
	const unsigned n = 64;

	fx_init(&f, 1, false, NULL);
	ck_assert(run_until(&f, is_ready, 10000));
	rd_kafka_mock_push_request_errors(f.m.mc, API_PRODUCE, 1,
					  RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
	emit_many(0, n);
	g_want = n;
	ck_assert(run_until(&f, all_delivered, 30000));
	/* Answered "too large": the pipeline halved the batch and sent it again. */
	ck_assert_double_ge(KAFKA_MSGS(&f, "too_large"), 1);
	ck_assert_double_eq(DELIVERED(&f), n);
	struct topic_content tc = consume(f.m.bootstraps, n, 20000);
	check_topic(&tc, n, false);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

START_TEST(queue_full_produces_the_rest_later)
{
	struct fx f;
	const unsigned n = 200;

	fx_init(&f, 1, false, "rdkafka:\n  - queue.buffering.max.messages=7\n");
	ck_assert(run_until(&f, is_ready, 10000));
	emit_many(0, n);
	g_want = n;
	ck_assert(run_until(&f, all_delivered, 30000));
	ck_assert_double_ge(
	    metric(&f, AW_METRIC_COUNTER, "aiwatch_kafka_queue_full_total", NULL, NULL), 1);
	ck_assert_double_eq(KAFKA_MSGS(&f, "delivered"), n);
	struct topic_content tc = consume(f.m.bootstraps, n, 20000);
	check_topic(&tc, n, true);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

/* A record larger than librdkafka's whole queue can never be produced: it is answered
 * "too large", so the pipeline isolates it and dead-letters it; the rest is delivered. */
START_TEST(record_larger_than_the_queue_is_dead_lettered)
{
	struct fx f;
	bool pause = false;
	char big[4096];
	const char *small = "{\"Type\":\"X\",\"RuleId\":\"small\"}";

	fx_init(&f, 1, true, "rdkafka: [queue.buffering.max.kbytes=2]\n");
	ck_assert(run_until(&f, is_ready, 10000));
	snprintf(big, sizeof big, "{\"Type\":\"X\",\"RuleId\":\"big\",\"pad\":\"%3000d\"}", 0);
	struct aw_event ev = {.json = big, .len = strlen(big), .table = "X", .origin = "test"};
	aw_input_emit(g_in.ctx, &ev, &pause);
	ev = (struct aw_event){.json = small, .len = strlen(small), .table = "X", .origin = "test"};
	aw_input_emit(g_in.ctx, &ev, &pause);
	g_want = 1;
	ck_assert(run_until(&f, all_delivered, 20000));
	ck_assert_double_eq(
	    metric(&f, AW_METRIC_COUNTER, "aiwatch_dead_lettered_total", NULL, NULL), 1);
	struct topic_content tc = consume(f.m.bootstraps, 1, 20000);
	ck_assert_uint_eq(tc.n, 1);
	ck_assert_str_eq(tc.v[0].value, small);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

/* The idempotent producer's InitProducerId fails in a way librdkafka treats as fatal. */
static void fail_init_producer_id(struct mock *m)
{
	rd_kafka_mock_push_request_errors(m->mc, API_INIT_PRODUCER_ID, 1,
					  RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
}

static bool restarted(struct fx *f)
{
	return metric(f, AW_METRIC_COUNTER, "aiwatch_kafka_producer_restarts_total", NULL, NULL) >=
	       1;
}

START_TEST(fatal_error_replaces_the_producer)
{
	struct fx f;
	const unsigned n = 20;
	char why[256];

	/* Idle: the error event alone retires the producer; a new one follows. */
	fx_init_with(&f, 1, false, NULL, fail_init_producer_id);
	ck_assert(run_until(&f, restarted, 10000));
	ck_assert_int_eq(aw_pipeline_ready(f.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "being replaced"), "%s", why);
	ck_assert(run_until(&f, is_ready, 10000));
	emit_many(0, n);
	g_want = n;
	ck_assert(run_until(&f, all_delivered, 30000));
	fx_free(&f);

	/* With a batch in flight: the batch is retried on the next producer. */
	fx_init_with(&f, 1, false, NULL, fail_init_producer_id);
	emit_many(0, n);
	g_want = n;
	ck_assert(run_until(&f, all_delivered, 30000));
	ck_assert(restarted(&f));
	ck_assert_double_ge(
	    metric(&f, AW_METRIC_COUNTER, "aiwatch_output_retries_total", NULL, NULL), 1);
	struct topic_content tc = consume(f.m.bootstraps, n, 20000);
	check_topic(&tc, n, false);
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

/* Records without a key (forwarded events, or alerts from elsewhere) are keyed from
 * their JSON the way the alert builder keys alerts. */
START_TEST(records_without_a_key_are_keyed_from_their_json)
{
	struct fx f;
	bool pause = false;
	static const char *const docs[] = {
	    "{\"Type\":\"X\",\"RuleId\":\"r1\",\"Entities\":[{\"Type\":\"ip\",\"Value\":"
	    "\"192.0.2.7\"},{\"Type\":\"account\",\"Value\":\"bob@contoso.example\"}]}",
	    "{\"Type\":\"X\",\"RuleId\":\"r2\",\"Entities\":[{\"Type\":\"ip\",\"Value\":"
	    "\"192.0.2.8\"}],\"ResourceId\":\"/subscriptions/s/rg\"}",
	    "{\"Type\":\"X\",\"RuleId\":\"r3\",\"Entities\":[],\"ResourceId\":\"/subscriptions/s/"
	    "x\"}",
	    "{\"Type\":\"X\",\"RuleId\":\"r4\"}",
	};
	static const char *const keys[] = {"bob@contoso.example", "192.0.2.8", "/subscriptions/s/x",
					   "r4"};

	fx_init(&f, 1, true, NULL);
	for (size_t i = 0; i < 4; i++) {
		struct aw_event ev = {
		    .json = docs[i], .len = strlen(docs[i]), .table = "X", .origin = "test"};
		aw_input_emit(g_in.ctx, &ev, &pause);
	}
	g_want = 4;
	ck_assert(run_until(&f, all_delivered, 20000));
	struct topic_content tc = consume(f.m.bootstraps, 4, 20000);
	ck_assert_uint_eq(tc.n, 4);
	for (size_t i = 0; i < 4; i++) {
		bool found = false;
		for (size_t j = 0; j < tc.n; j++)
			if (strcmp(tc.v[j].value, docs[i]) == 0) {
				ck_assert_ptr_nonnull(tc.v[j].key);
				ck_assert_str_eq(tc.v[j].key, keys[i]);
				found = true;
			}
		ck_assert_msg(found, "record %zu not delivered", i);
	}
	topic_content_free(&tc);
	fx_free(&f);
}
END_TEST

/* The SASL password reaches librdkafka, never the log, even with librdkafka's debug
 * output on (its configuration dump, its SASL handshake). */
START_TEST(secret_never_reaches_the_log)
{
	struct fx f;
	char *log_dir = aw_test_tmpdir(), *log_path, *log;
	int fd;

	setenv("AW_TEST_SASL_PW", "Sup3r-s3cret-passw0rd", 1);
	log_path = aw_test_write(log_dir, "log", "", 0600);
	fd = open(log_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	aw_log_configure(AW_LOG_DEBUG, AW_LOG_LOGFMT);
	aw_log_set_fd(fd);
	fx_init(&f, 1, false,
		"rdkafka:\n"
		"  - security.protocol=SASL_PLAINTEXT\n"
		"  - sasl.mechanism=PLAIN\n"
		"  - sasl.username=aiwatch\n"
		"  - debug=conf,security,broker,protocol\n"
		"rdkafka_secrets:\n"
		"  sasl.password: {env: AW_TEST_SASL_PW}\n");
	emit_many(0, 1);
	run_until(&f, never, 1500);
	fx_free(&f);
	aw_log_set_fd(-1);
	aw_log_configure(AW_LOG_INFO, AW_LOG_LOGFMT);
	close(fd);
	log = aw_test_read(log_path, NULL);
	ck_assert_ptr_nonnull(log);
	/* librdkafka did talk, about this very property... */
	ck_assert_msg(strstr(log, "sasl.password"), "no librdkafka debug output captured");
	/* ...and the value is nowhere. */
	ck_assert_msg(!strstr(log, "Sup3r-s3cret"), "the password is in the log");
	free(log);
	free(log_path);
	aw_test_rmtree(log_dir);
	free(log_dir);
}
END_TEST

/* --- configuration ------------------------------------------------------------------- */

static char *g_dir;
static struct aw_error_list g_errs;

static int load_config(const char *outputs_item)
{
	char *body;
	int rc;

	ck_assert_int_ge(asprintf(&body,
				  "inputs:\n  - type: file\n    paths: [/var/log/in.jsonl]\n"
				  "outputs:\n%s",
				  outputs_item),
			 0);
	rc = aw_test_config_load(g_dir, body, &g_errs);
	free(body);
	return rc;
}

static void want_error(const char *a, const char *b)
{
	aw_test_want_error(&g_errs, a, b);
}

static void no_error_mentions(const char *s)
{
	aw_test_no_error_mentions(&g_errs, s);
}

#define KAFKA_ITEM "  - type: kafka\n    brokers: [k1:9092, \"k2:9092,k3:9092\"]\n    topic: t\n"

START_TEST(config_errors_name_the_property)
{
	g_dir = aw_test_tmpdir();

	ck_assert_int_eq(load_config(KAFKA_ITEM), 0);

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka:\n      - linger.ms=5\n"
						"      - foo.bar=1\n"),
			 -1);
	want_error("aiwatchd.yaml:", "outputs[0].rdkafka[1]: librdkafka rejects 'foo.bar': "
				     "No such configuration property: \"foo.bar\"");

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka: [linger.ms=soon]\n"), -1);
	want_error("outputs[0].rdkafka[0]: librdkafka rejects 'linger.ms'", "Invalid value");

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka: [security.protocol]\n"), -1);
	want_error("outputs[0].rdkafka[0]: expected name=value", NULL);

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka: [acks=1]\n"), -1);
	want_error("outputs[0].rdkafka[0]: 'acks' is set by aiwatch", "enable.idempotence=true");

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka: [compression.codec=snappy]\n"), -1);
	want_error("'compression.codec' is set by aiwatch: use compression", NULL);

	ck_assert_int_eq(load_config("  - type: kafka\n    topic: t\n"), -1);
	want_error("missing required key 'brokers'", NULL);

	ck_assert_int_eq(
	    load_config("  - type: kafka\n    brokers: \"k1:9092,,k2\"\n    topic: t\n"), -1);
	want_error("outputs[0].brokers: needs at least one host:port, and no empty entry", NULL);

	ck_assert_int_eq(load_config(KAFKA_ITEM "    key: partition\n"), -1);
	want_error("outputs[0].key: 'partition' is not one of: entity, alert_id, rule, none", NULL);

	ck_assert_int_eq(load_config("  - type: kafka\n    brokers: [k1:9092]\n    topic: a/b\n"),
			 -1);
	want_error("outputs[0].topic: 'a/b' is not a Kafka topic name", NULL);
	aw_error_list_free(&g_errs);
	aw_test_rmtree(g_dir);
	free(g_dir);
}
END_TEST

START_TEST(secrets_never_inline_and_never_quoted)
{
	g_dir = aw_test_tmpdir();

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka:\n"
						"      - security.protocol=SASL_SSL\n"
						"      - sasl.password=hunter2-in-the-clear\n"),
			 -1);
	want_error("outputs[0].rdkafka[1]: 'sasl.password' is a secret and may not be written "
		   "in the rdkafka list: set it under rdkafka_secrets",
		   NULL);
	no_error_mentions("hunter2");

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka: [\"ssl.key.password = x1y2z3w4\"]\n"),
			 -1);
	want_error("'ssl.key.password' is a secret", NULL);
	no_error_mentions("x1y2z3w4");

	ck_assert_int_eq(
	    load_config(KAFKA_ITEM "    rdkafka: [sasl.oauthbearer.client.secret=s3cr3t-value]\n"),
	    -1);
	want_error("'sasl.oauthbearer.client.secret' is a secret", NULL);
	no_error_mentions("s3cr3t-value");

	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka: [my.password=p4ssw0rd-value]\n"), -1);
	want_error("'my.password' looks like a secret", NULL);
	no_error_mentions("p4ssw0rd-value");

	/* From rdkafka_secrets, through the environment: accepted. */
	setenv("AW_TEST_KAFKA_PW", "correct-horse-battery", 1);
	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka:\n"
						"      - security.protocol=SASL_SSL\n"
						"      - sasl.mechanism=PLAIN\n"
						"      - sasl.username=$ConnectionString\n"
						"    rdkafka_secrets:\n"
						"      sasl.password: {env: AW_TEST_KAFKA_PW}\n"),
			 0);
	/* A misspelt secret name is an unknown key, with a suggestion. */
	ck_assert_int_eq(load_config(KAFKA_ITEM "    rdkafka_secrets:\n"
						"      sasl.pasword: {env: AW_TEST_KAFKA_PW}\n"),
			 -1);
	want_error("unknown key 'outputs[0].rdkafka_secrets.sasl.pasword' (did you mean "
		   "'sasl.password'?)",
		   NULL);
	no_error_mentions("correct-horse");
	aw_error_list_free(&g_errs);
	aw_test_rmtree(g_dir);
	free(g_dir);
}
END_TEST

START_TEST(event_hubs_settings_are_checked)
{
	g_dir = aw_test_tmpdir();

	ck_assert_int_eq(
	    load_config("  - type: kafka\n"
			"    brokers: ns1.servicebus.windows.net:9093\n"
			"    topic: alerts\n"
			"    compression: zstd\n"
			"    rdkafka: [request.timeout.ms=5000, metadata.max.age.ms=300000]\n"),
	    -1);
	want_error("outputs[0].compression: Event Hubs accepts only gzip or none, not zstd", NULL);
	want_error("request.timeout.ms=5000 must be above 20000 for Event Hubs", NULL);
	want_error("metadata.max.age.ms=300000 must stay below 240000", NULL);
	ck_assert_int_eq(load_config("  - type: kafka\n"
				     "    brokers: ns1.servicebus.windows.net:9093\n"
				     "    topic: alerts\n"
				     "    compression: gzip\n"),
			 0);
	aw_error_list_free(&g_errs);
	aw_test_rmtree(g_dir);
	free(g_dir);
}
END_TEST

/* The commented example in conf/aiwatchd.yaml is a configuration that loads. */
START_TEST(documented_example_loads)
{
	char *src = aw_test_srcpath("conf/aiwatchd.yaml");
	char *text = aw_test_read(src, NULL), *item = NULL, *cred;
	const char *p;
	size_t len = 0;

	g_dir = aw_test_tmpdir();
	ck_assert_ptr_nonnull(text);
	p = strstr(text, "\n  #- type: kafka\n");
	ck_assert_msg(p, "no out_kafka example in conf/aiwatchd.yaml");
	item = calloc(1, strlen(p) + 1);
	/* Uncomment "  #" lines up to the first bare "  #" (the end of the block). */
	for (p++; strncmp(p, "  #", 3) == 0;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == 3)
			break;
		memcpy(item + len, "  ", 2);
		memcpy(item + len + 2, p + 3, l - 3);
		len += l - 1;
		item[len++] = '\n';
		p += l + (nl ? 1 : 0);
	}
	cred = aw_test_write(g_dir, "kafka-password", "from-a-credential\n", 0600);
	setenv("CREDENTIALS_DIRECTORY", g_dir, 1);
	if (load_config(item) != 0) {
		fprintf(stderr, "%s", item);
		want_error("(none expected)", NULL);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	aw_error_list_free(&g_errs);
	aw_test_rmtree(g_dir);
	free(g_dir);
	free(cred);
	free(item);
	free(text);
	free(src);
}
END_TEST

static Suite *out_kafka_suite(void)
{
	Suite *s = suite_create("out_kafka");
	TCase *tc = tcase_create("delivery");
	TCase *cc = tcase_create("config");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, all_alerts_arrive_keyed_and_in_order);
	tcase_add_test(tc, broker_down_nothing_acknowledged_until_it_returns);
	tcase_add_test(tc, shutdown_with_broker_down_leaves_alerts_for_the_next_start);
	tcase_add_test(tc, failed_delivery_reports_retry_the_batch);
	tcase_add_test(tc, message_too_large_splits_the_batch);
	tcase_add_test(tc, queue_full_produces_the_rest_later);
	tcase_add_test(tc, record_larger_than_the_queue_is_dead_lettered);
	tcase_add_test(tc, fatal_error_replaces_the_producer);
	tcase_add_test(tc, records_without_a_key_are_keyed_from_their_json);
	tcase_add_test(tc, secret_never_reaches_the_log);
	tcase_add_test(cc, config_errors_name_the_property);
	tcase_add_test(cc, secrets_never_inline_and_never_quoted);
	tcase_add_test(cc, event_hubs_settings_are_checked);
	tcase_add_test(cc, documented_example_loads);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, cc);
	return s;
}

AW_TEST_MAIN(out_kafka_suite)
