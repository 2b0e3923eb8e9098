/* in_eventhubs against librdkafka's mock cluster (the real Kafka protocol over TCP),
 * driven through the real pipeline: diagnostic-settings documents produced to a topic
 * are read by the input, mapped, evaluated by the engine and spooled to out_file.
 *
 * What a user relies on, and what each test shows:
 *   - the Event Hubs path raises the same alerts (same AlertIds, same fields but Host
 *     and the alert's own TimeGenerated) as the file input reading the same records in
 *     Log Analytics form, with the shipped rule pack;
 *   - an offset is committed only once the pipeline reported every event of its
 *     message, and of every earlier message of the partition, durable: the test holds
 *     durable() back and reads the group's committed offsets from the broker;
 *   - a restart resumes at the committed offset (nothing lost; after a clean stop
 *     nothing read twice; after events that never became durable, those are read
 *     again, with the same AlertIds);
 *   - two instances in one group share the partitions; when one leaves mid-stream,
 *     every record is still evaluated at least once and duplicates carry the same
 *     AlertId;
 *   - malformed messages are counted, logged with topic/partition/offset, skipped,
 *     and committed past. */
#include <fcntl.h>
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azure.h"
#include "config.h"
#include "engine.h"
#include "kafka_common.h"
#include "log.h"
#include "pipeline.h"
#include "records.h"
#include "testutil.h"

extern const struct aw_plugin_desc aw_in_eventhubs;
extern const struct aw_plugin_desc aw_in_file;
extern const struct aw_plugin_desc aw_out_file;

#define TOPIC	   "diag"
#define PARTITIONS 4
#define GROUP	   "aiwatch-test"

/* --- the mock cluster ----------------------------------------------------------------- */

struct mock {
	rd_kafka_t *rk; /* a handle only to own the cluster */
	rd_kafka_mock_cluster_t *mc;
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
	snprintf(m->bootstraps, sizeof m->bootstraps, "%s",
		 rd_kafka_mock_cluster_bootstraps(m->mc));
	ck_assert_int_eq(rd_kafka_mock_topic_create(m->mc, TOPIC, PARTITIONS, 1), 0);
}

static void mock_stop(struct mock *m)
{
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
}

/* --- producing documents ---------------------------------------------------------------- */

static rd_kafka_t *producer_new(const char *bootstraps)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set_log_cb(c, quiet_log);
	ck_assert_int_eq(rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof err), 0);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
	ck_assert_msg(rk, "%s", err);
	return rk;
}

static void produce(rd_kafka_t *rk, int partition, const char *payload, size_t len)
{
	rd_kafka_resp_err_t e;

	do {
		e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(partition),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				      RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
	} while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
	ck_assert_int_eq(e, 0);
}

static void producer_flush(rd_kafka_t *rk)
{
	ck_assert_int_eq(rd_kafka_flush(rk, 20000), 0);
}

/* --- records: one list, two forms ------------------------------------------------------- */

#define SUB "/SUBSCRIPTIONS/0A1B2C3D-0000-4000-8000-00000000AB01/RESOURCEGROUPS/RG-AI/PROVIDERS/"

struct rec {
	char *json;    /* diagnostic-settings form */
	int partition; /* where its correlation group lives */
};

struct corpus {
	struct rec *v;
	size_t n, cap;
};

static void corpus_add(struct corpus *c, int partition, char *json)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		ck_assert_ptr_nonnull(c->v);
	}
	c->v[c->n++] = (struct rec){.json = json, .partition = partition};
}

static void corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].json);
	free(c->v);
}

static void when(unsigned t, char *buf, size_t sz)
{
	snprintf(buf, sz, "2026-05-01T%02u:%02u:%02u.%03uZ", 10 + t / 3600, (t / 60) % 60, t % 60,
		 t % 1000);
}

/* A Key Vault AuditEvent read (or other operation) by identity `who`. */
static char *kv_record(unsigned t, const char *op, unsigned who, unsigned secret, const char *tag)
{
	char ts[40], *s;

	when(t, ts, sizeof ts);
	ck_assert_int_ge(
	    asprintf(&s,
		     "{\"time\":\"%s\",\"resourceId\":\"" SUB "MICROSOFT.KEYVAULT/VAULTS/KV-AI\","
		     "\"category\":\"AuditEvent\",\"operationName\":\"%s\",\"resultType\":"
		     "\"Success\",\"resultSignature\":\"OK\",\"durationMs\":\"9\","
		     "\"callerIpAddress\":\"10.1.0.%u\",\"correlationId\":\"c0ffee00-0000-4000-"
		     "8000-%012u\",\"identity\":{\"claim\":{\"oid\":\"aaaaaaaa-0000-4000-8000-"
		     "%012u\"}},\"properties\":{\"id\":\"https://kv-ai.vault.azure.net/secrets/"
		     "s%u/0\",\"httpStatusCode\":200},\"tag\":\"%s\"}",
		     ts, op, who, t, who, secret, tag),
	    0);
	return s;
}

/* An Azure OpenAI request refused with `status`; properties as JSON text, as the
 * service writes them. */
static char *oai_record(unsigned t, unsigned account, const char *status)
{
	char ts[40], *s;

	when(t, ts, sizeof ts);
	ck_assert_int_ge(
	    asprintf(
		&s,
		"{\"time\":\"%s\",\"resourceId\":\"" SUB
		"MICROSOFT.COGNITIVESERVICES/ACCOUNTS/OAI-%u\",\"category\":\"RequestResponse\","
		"\"operationName\":\"ChatCompletions_Create\",\"resultSignature\":\"%s\","
		"\"callerIpAddress\":\"81.2.69.***\",\"durationMs\":12,\"correlationId\":"
		"\"0a1e0000-0000-4000-8000-%012u\",\"properties\":\"{\\\"apiName\\\":\\\"Azure "
		"OpenAI API version 2024-02-01\\\",\\\"modelDeploymentName\\\":\\\"gpt-4o\\\"}\"}",
		ts, account, status, t),
	    0);
	return s;
}

/* Correlation groups, each on its partition, in event-time order: two identities that
 * read 25 secrets (mass retrieval), one that reads 5, one that deletes 3 (sensitive
 * operations), an OpenAI account with 30 refusals in 10 minutes (burst) and one with 5. */
static void corpus_alerting(struct corpus *c)
{
	unsigned t = 0;
	char tag[32];

	for (unsigned who = 0; who < 3; who++)
		for (unsigned s = 0; s < (who < 2 ? 25u : 5u); s++) {
			snprintf(tag, sizeof tag, "r%zu", c->n);
			corpus_add(c, (int)who, kv_record(t += 7, "SecretGet", who, s, tag));
		}
	for (unsigned s = 0; s < 3; s++) {
		snprintf(tag, sizeof tag, "r%zu", c->n);
		corpus_add(c, 3, kv_record(t += 5, "SecretDelete", 3, s, tag));
	}
	for (unsigned a = 0; a < 2; a++)
		for (unsigned i = 0; i < (a == 0 ? 30u : 5u); i++)
			corpus_add(c, (int)(a + 1) % PARTITIONS,
				   oai_record(t += 3, a, i % 3 ? "401" : "403"));
}

/* n Key Vault reads, each its own tag r<i>, spread over the partitions. */
static void corpus_reads(struct corpus *c, size_t n)
{
	char tag[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(tag, sizeof tag, "r%zu", c->n);
		corpus_add(c, (int)(c->n % PARTITIONS),
			   kv_record((unsigned)c->n % 3000, "SecretGet", (unsigned)(c->n % 7),
				     (unsigned)c->n, tag));
	}
}

/* Produce records [from, to) as {"records":[...]} documents of up to per_doc records
 * of one partition each. Returns the number of messages. */
static size_t produce_corpus(rd_kafka_t *rk, const struct corpus *c, size_t from, size_t to,
			     size_t per_doc)
{
	size_t msgs = 0;

	for (int part = 0; part < PARTITIONS; part++) {
		char *doc = NULL;
		size_t in_doc = 0, len = 0;
		FILE *f = NULL;
		for (size_t i = from; i <= to; i++) {
			bool end = i == to;
			if (!end && c->v[i].partition != part)
				continue;
			if (f && (end || in_doc == per_doc)) {
				fputs("]}", f);
				fclose(f);
				produce(rk, part, doc, len);
				free(doc);
				f = NULL;
				msgs++;
			}
			if (end)
				break;
			if (!f) {
				f = open_memstream(&doc, &len);
				fputs("{\"records\":[", f);
				in_doc = 0;
			}
			fprintf(f, "%s%s", in_doc ? "," : "", c->v[i].json);
			in_doc++;
		}
	}
	producer_flush(rk);
	return msgs;
}

static int la_line(void *ud, const struct aw_event *ev)
{
	fprintf(ud, "%s\n", ev->json);
	return 0;
}

/* The same records in Log Analytics form, one per line, in corpus order. */
static char *write_la_file(const char *dir, const struct corpus *c)
{
	char *path, *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct aw_error err;

	for (size_t i = 0; i < c->n; i++)
		ck_assert_int_eq(aw_records_parse(c->v[i].json, strlen(c->v[i].json), "corpus",
						  la_line, f, NULL, &err),
				 1);
	fclose(f);
	path = aw_test_write(dir, "la.jsonl", text, 0600);
	free(text);
	return path;
}

/* --- a node: pipeline + engine + input + output ------------------------------------------ */

struct node {
	uv_loop_t *loop;
	struct aw_metrics *metrics;
	struct aw_engine *engine;
	struct aw_pipeline *p;
	char *dir;
	const struct aw_plugin_desc *in_desc, *out_desc;
	void *in_conf, *out_conf;
	struct aw_instance_conf in_ic, out_ic;
	struct aw_plugin_ctx *in_ctx, *out_ctx;
	struct aw_pipeline_conf pc;
	bool closed;
};

static void *plugin_conf(const struct aw_plugin_desc *d, const char *yaml)
{
	struct aw_error_list errs = {0};
	struct aw_doc *doc = NULL;
	void *conf = calloc(1, d->conf_size);

	ck_assert_int_eq(aw_doc_load_buffer("t.yaml", yaml, strlen(yaml), &doc, &errs), 0);
	if (aw_options_apply(d->options, doc->root, conf, "inputs[0]", 0600, &errs) == 0 &&
	    d->validate)
		d->validate(conf, "inputs[0]", &errs);
	ck_assert_msg(errs.n == 0, "%s", errs.n ? errs.msgs[0] : "");
	aw_doc_free(doc);
	aw_error_list_free(&errs);
	return conf;
}

/* Per-output spool bound for the next node_open (0: the default, 64 MiB). */
static uint64_t g_spool_max;

/* rules: a file or directory of Sigma rules; NULL: forward every event as a record. */
static void node_open(struct node *n, uv_loop_t *loop, const char *dir, const char *host,
		      const struct aw_plugin_desc *in_desc, const char *in_yaml,
		      const struct aw_plugin_desc *out_desc, const char *out_yaml,
		      const char *rules)
{
	struct aw_error_list errs = {0};
	struct aw_error err;
	const char *paths[] = {rules};
	struct aw_engine_conf ec = {
	    .forward_events = rules == NULL,
	    .rule_paths = rules ? paths : NULL,
	    .nrule_paths = rules ? 1 : 0,
	    .allowed_lateness_ms = 86400000,
	    .host = host,
	};
	struct aw_pipeline_conf pc = {
	    .max_queue_bytes = 64 << 20,
	    .retry_initial_ms = 20,
	    .retry_max_ms = 200,
	    .forward_events = rules == NULL,
	    .spool_max_bytes = g_spool_max,
	    .spool_fsync = 1, /* never: these tests do not cut the power */
	};

	memset(n, 0, sizeof *n);
	n->pc = pc;
	n->loop = loop;
	n->dir = strdup(dir);
	n->metrics = aw_metrics_new();
	n->engine = aw_engine_new(&ec, &errs);
	ck_assert_ptr_nonnull(n->engine);
	ck_assert_msg(errs.n == 0, "%s", errs.n ? errs.msgs[0] : "");
	aw_engine_set_metrics(n->engine, n->metrics);
	n->in_desc = in_desc;
	n->out_desc = out_desc;
	n->in_conf = plugin_conf(in_desc, in_yaml);
	n->out_conf = plugin_conf(out_desc, out_yaml);
	ck_assert_int_eq(aw_pipeline_new(loop, &pc, n->metrics, dir, n->engine, &n->p, &err), 0);
	n->out_ic = (struct aw_instance_conf){.desc = out_desc, .name = "out", .conf = n->out_conf};
	n->in_ic = (struct aw_instance_conf){.desc = in_desc, .name = "eh", .conf = n->in_conf};
	ck_assert_msg(aw_pipeline_add(n->p, &n->out_ic, &n->out_ctx, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(n->out_ctx, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_add(n->p, &n->in_ic, &n->in_ctx, &err) == 0, "%s", err.msg);
	ck_assert_msg(aw_pipeline_start(n->in_ctx, &err) == 0, "%s", err.msg);
}

static void on_closed(void *ud)
{
	((struct node *)ud)->closed = true;
}

static void wake_cb(uv_timer_t *t)
{
}

/* Run the loop until done(ud) or timeout_ms; returns done(ud). */
static bool run_until(uv_loop_t *loop, bool (*done)(void *ud), void *ud, int timeout_ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)timeout_ms * 1000000;
	uv_timer_t t;

	/* a timer so that UV_RUN_ONCE never waits past the deadline by much */
	uv_timer_init(loop, &t);
	uv_timer_start(&t, wake_cb, 50, 50);
	while (!done(ud) && uv_hrtime() < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return done(ud);
}

static bool never(void *ud)
{
	return false;
}

static void run_for(uv_loop_t *loop, int ms)
{
	run_until(loop, never, NULL, ms);
}

static bool node_idle(void *ud)
{
	return aw_pipeline_idle(((struct node *)ud)->p);
}

static bool node_closed(void *ud)
{
	return ((struct node *)ud)->closed;
}

/* The daemon's shutdown: stop the input, let what was emitted become durable, close. */
static void node_close(struct node *n)
{
	aw_pipeline_stop_inputs(n->p);
	run_until(n->loop, node_idle, n, 5000);
	aw_pipeline_close(n->p, on_closed, n);
	ck_assert(run_until(n->loop, node_closed, n, 20000));
	aw_options_free(n->in_desc->options, n->in_conf);
	aw_options_free(n->out_desc->options, n->out_conf);
	free(n->in_conf);
	free(n->out_conf);
	aw_engine_free(n->engine);
	aw_metrics_free(n->metrics);
	free(n->dir);
}

static double node_metric(struct node *n, enum aw_metric_type t, const char *name, const char *k2,
			  const char *v2)
{
	return aw_metric_value(
	    k2 ? aw_metric_get(n->metrics, t, name, "", "input", "eh", k2, v2, NULL)
	       : aw_metric_get(n->metrics, t, name, "", "input", "eh", NULL));
}

#define MESSAGES(n)                                                                                \
	node_metric(n, AW_METRIC_COUNTER, "aiwatch_kafka_consumer_messages_total", NULL, NULL)
#define RECORDS(n)                                                                                 \
	node_metric(n, AW_METRIC_COUNTER, "aiwatch_kafka_consumer_records_total", NULL, NULL)
#define PARTS(n) node_metric(n, AW_METRIC_GAUGE, "aiwatch_kafka_consumer_partitions", NULL, NULL)
#define SKIPPED(n)                                                                                 \
	node_metric(n, AW_METRIC_COUNTER, "aiwatch_events_skipped_total", "reason", "malformed")

static double g_want;

static bool read_all(void *ud)
{
	struct node *n = ud;
	return MESSAGES(n) >= g_want && aw_pipeline_idle(n->p);
}

static bool msgs_read(void *ud)
{
	return MESSAGES((struct node *)ud) >= g_want;
}

/* --- the group's committed offsets, as the broker has them ------------------------------ */

static void committed_offsets(const char *bootstraps, int64_t out[PARTITIONS])
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
	char err[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set_log_cb(c, quiet_log);
	ck_assert_int_eq(rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "group.id", GROUP, err, sizeof err), 0);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
	ck_assert_msg(rk, "%s", err);
	for (int p = 0; p < PARTITIONS; p++)
		rd_kafka_topic_partition_list_add(l, TOPIC, p);
	ck_assert_int_eq(rd_kafka_committed(rk, l, 10000), 0);
	for (int p = 0; p < PARTITIONS; p++)
		out[p] = l->elems[p].offset;
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(rk);
}

/* --- alerts written by out_file ---------------------------------------------------------- */

struct alerts {
	json_object *by_id; /* AlertId -> alert without Host and TimeGenerated */
	json_object *items; /* _ItemId of the triggering event -> AlertId */
	size_t lines;
	bool conflict; /* one _ItemId, two AlertIds */
};

static void alerts_read(struct alerts *a, const char *path)
{
	char *text = aw_test_read(path, NULL), *next;

	if (!a->by_id) {
		a->by_id = json_object_new_object();
		a->items = json_object_new_object();
	}
	if (!text)
		return;
	for (char *line = text; *line; line = next) {
		json_object *o, *id, *ev, *ids, *prev;
		next = strchr(line, '\n');
		next = next ? (*next = '\0', next + 1) : line + strlen(line);
		if (!*line)
			continue;
		o = json_tokener_parse(line);
		ck_assert_msg(o, "not JSON: %s", line);
		a->lines++;
		ck_assert(json_object_object_get_ex(o, "AlertId", &id));
		const char *aid = json_object_get_string(id);
		if (json_object_object_get_ex(o, "Evidence", &ev) &&
		    json_object_object_get_ex(ev, "ItemIds", &ids) &&
		    json_object_array_length(ids) == 1) {
			const char *item =
			    json_object_get_string(json_object_array_get_idx(ids, 0));
			if (json_object_object_get_ex(a->items, item, &prev) &&
			    strcmp(json_object_get_string(prev), aid) != 0)
				a->conflict = true;
			json_object_object_add(a->items, item, json_object_new_string(aid));
		}
		json_object_object_del(o, "Host");
		json_object_object_del(o, "TimeGenerated");
		json_object_object_add(a->by_id, aid, o);
	}
	free(text);
}

static void alerts_free(struct alerts *a)
{
	json_object_put(a->by_id);
	json_object_put(a->items);
}

static size_t alerts_of_rule(const struct alerts *a, const char *rule_id)
{
	size_t n = 0;

	json_object_object_foreach(a->by_id, k, o)
	{
		json_object *r;
		(void)k;
		if (json_object_object_get_ex(o, "RuleId", &r) &&
		    strcmp(json_object_get_string(r), rule_id) == 0)
			n++;
	}
	return n;
}

/* _ItemIds of a corpus's records, as the mapping gives them. */
static int collect_item(void *ud, const struct aw_event *ev)
{
	json_object *o = json_tokener_parse(ev->json), *id;

	ck_assert(json_object_object_get_ex(o, "_ItemId", &id));
	json_object_object_add(ud, json_object_get_string(id), NULL);
	json_object_put(o);
	return 0;
}

static json_object *corpus_items(const struct corpus *c)
{
	json_object *set = json_object_new_object();
	struct aw_error err;

	for (size_t i = 0; i < c->n; i++)
		aw_records_parse(c->v[i].json, strlen(c->v[i].json), "corpus", collect_item, set,
				 NULL, &err);
	return set;
}

/* --- yaml --------------------------------------------------------------------------------- */

static char *eh_yaml(const struct mock *m, const char *extra)
{
	char *y;

	ck_assert_int_ge(asprintf(&y,
				  "brokers: %s\ntopics: [" TOPIC "]\ngroup: " GROUP "\n"
				  "commit_interval: 50ms\nclose_timeout: 5s\n"
				  "rdkafka: [session.timeout.ms=3000, heartbeat.interval.ms=300, "
				  "topic.metadata.refresh.interval.ms=1000]\n%s",
				  m->bootstraps, extra ? extra : ""),
			 0);
	return y;
}

static char *file_out_yaml(const char *path)
{
	char *y;

	ck_assert_int_ge(asprintf(&y, "path: %s\nfsync: never\n", path), 0);
	return y;
}

static const char read_rule[] = "title: every vault secret read\n"
				"id: 5f1e2d3c-0000-4000-8000-0000000000e1\n"
				"level: low\n"
				"logsource: {product: azure, service: keyvault}\n"
				"detection:\n  sel: {OperationName: SecretGet}\n  condition: sel\n";

/* --- the same alerts as the file input ---------------------------------------------------- */

#define RULE_MASS_RETRIEVAL "05398370-2e6e-4a95-928f-cb3f9ed946a8"
#define RULE_SENSITIVE_OP   "9197f075-3eea-484a-bf0a-b9684f835d0e"
#define RULE_AUTH_BURST	    "07641455-8e2f-4b36-96ea-db4d27b1a8fa"

static bool file_read_all(void *ud)
{
	struct node *n = ud;

	return aw_metric_value(aw_metric_get(n->metrics, AW_METRIC_COUNTER, "aiwatch_events_total",
					     "", "input", "eh", NULL)) >= g_want &&
	       aw_pipeline_idle(n->p);
}

START_TEST(documents_raise_the_same_alerts_as_the_file_input)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	struct alerts eh = {0}, file = {0};
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *rules = aw_test_srcpath("conf/rules"), *y, *oy, *la, *ehdir,
	     *fdir, *eh_alerts, *f_alerts;
	rd_kafka_t *prod;
	size_t msgs;

	mock_start(&m, 3);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_alerting(&c);
	prod = producer_new(m.bootstraps);
	msgs = produce_corpus(prod, &c, 0, c.n, 7);
	rd_kafka_destroy(prod);

	/* Event Hubs path */
	ck_assert_int_ge(asprintf(&ehdir, "%s/eh", dir), 0);
	ck_assert_int_ge(asprintf(&eh_alerts, "%s/eh-alerts.jsonl", dir), 0);
	ck_assert_int_eq(mkdir(ehdir, 0700), 0);
	y = eh_yaml(&m, NULL);
	oy = file_out_yaml(eh_alerts);
	node_open(&n, &loop, ehdir, "eh-host", &aw_in_eventhubs, y, &aw_out_file, oy, rules);
	g_want = (double)msgs;
	ck_assert_msg(run_until(&loop, read_all, &n, 30000), "read %.0f of %zu messages",
		      MESSAGES(&n), msgs);
	ck_assert_double_eq(RECORDS(&n), (double)c.n);
	node_close(&n);
	free(y);
	free(oy);

	/* File path, Log Analytics form */
	la = write_la_file(dir, &c);
	ck_assert_int_ge(asprintf(&fdir, "%s/file", dir), 0);
	ck_assert_int_ge(asprintf(&f_alerts, "%s/file-alerts.jsonl", dir), 0);
	ck_assert_int_eq(mkdir(fdir, 0700), 0);
	ck_assert_int_ge(asprintf(&y, "paths: [%s]\nfollow: false\n", la), 0);
	oy = file_out_yaml(f_alerts);
	node_open(&n, &loop, fdir, "file-host", &aw_in_file, y, &aw_out_file, oy, rules);
	g_want = (double)c.n;
	ck_assert(run_until(&loop, file_read_all, &n, 30000));
	node_close(&n);
	free(y);
	free(oy);

	alerts_read(&eh, eh_alerts);
	alerts_read(&file, f_alerts);
	/* The corpus was made to trip these: the comparison is not of two empty sets. */
	ck_assert_uint_eq(alerts_of_rule(&file, RULE_MASS_RETRIEVAL), 2);
	ck_assert_uint_eq(alerts_of_rule(&file, RULE_SENSITIVE_OP), 3);
	ck_assert_uint_ge(alerts_of_rule(&file, RULE_AUTH_BURST), 1);
	ck_assert_int_eq(json_object_object_length(eh.by_id),
			 json_object_object_length(file.by_id));
	json_object_object_foreach(file.by_id, id, fa)
	{
		json_object *ea;
		ck_assert_msg(json_object_object_get_ex(eh.by_id, id, &ea),
			      "alert %s (%s) missing on the Event Hubs path", id,
			      json_object_to_json_string(fa));
		ck_assert_msg(json_object_equal(ea, fa),
			      "alert %s differs:\n  eh:   %s\n  file: %s", id,
			      json_object_to_json_string(ea), json_object_to_json_string(fa));
	}
	printf("in_eventhubs: %zu records in %zu messages -> %d alerts, identical to in_file's\n",
	       c.n, msgs, json_object_object_length(eh.by_id));

	alerts_free(&eh);
	alerts_free(&file);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
	free(rules);
	free(la);
	free(ehdir);
	free(fdir);
	free(eh_alerts);
	free(f_alerts);
}
END_TEST

/* --- commits follow durability ------------------------------------------------------------ */

/* The input with durable() held back by the test: g_asked is what the pipeline said,
 * release() passes a value on. */
static struct aw_plugin_desc g_held_desc;
static void *g_eh_state;
static uint64_t g_asked;

static int held_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		     struct aw_error *err)
{
	int rc = aw_in_eventhubs.init(ctx, conf, state, err);

	g_eh_state = *state;
	return rc;
}

static void held_durable(void *state, uint64_t seq)
{
	g_asked = seq;
}

static void release(uint64_t seq)
{
	aw_in_eventhubs.durable(g_eh_state, seq);
}

static const struct aw_plugin_desc *held_desc(void)
{
	g_held_desc = aw_in_eventhubs;
	g_held_desc.init = held_init;
	g_held_desc.durable = held_durable;
	g_asked = 0;
	return &g_held_desc;
}

/* An output that records each record's tag (tag_s, from the diagnostic record's `tag`)
 * in the order records reach it: the order of their sequence numbers. */
static struct {
	struct aw_plugin_ctx *ctx;
	char *tags[4096];
	size_t n;
	bool hold;	       /* never answer: a slow destination */
	struct aw_batch *held; /* the batch not answered */
} g_out;

static int tag_out_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			struct aw_error *err)
{
	g_out.ctx = ctx;
	*state = &g_out;
	return 0;
}

static void tag_out_submit(void *state, struct aw_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		json_object *o = json_tokener_parse(b->records[i].data), *t;
		ck_assert(json_object_object_get_ex(o, "tag_s", &t));
		ck_assert(g_out.n < 4096);
		g_out.tags[g_out.n++] = strdup(json_object_get_string(t));
		json_object_put(o);
	}
	if (!g_out.hold)
		aw_output_done(g_out.ctx, b, AW_DONE, 0, NULL);
	else
		g_out.held = b;
}

static void tag_out_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	closed(g_out.ctx);
}

static const struct aw_option no_options[] = {AW_OPT_END};

static const struct aw_plugin_desc tag_out_desc = {
    .abi = AW_PLUGIN_ABI,
    .name = "tags",
    .kind = AW_PLUGIN_OUTPUT,
    .options = no_options,
    .init = tag_out_init,
    .submit = tag_out_submit,
    .close = tag_out_close,
};

static void tags_free(void)
{
	for (size_t i = 0; i < g_out.n; i++)
		free(g_out.tags[i]);
	memset(&g_out, 0, sizeof g_out);
}

static bool all_tags(void *ud)
{
	return g_out.n >= *(size_t *)ud;
}

/* The offsets the group must have committed when everything up to seq is durable:
 * per partition, the first message with an event numbered above seq (records of a
 * message are r<first>..; seq i is the i-th record to reach the output). */
static void expected_commits(const struct corpus *c, size_t per_doc, uint64_t seq,
			     int64_t out[PARTITIONS])
{
	for (int p = 0; p < PARTITIONS; p++) {
		int64_t offset = 0, in_doc = 0;
		bool stop = false;
		out[p] = 0;
		for (size_t i = 0; i < c->n && !stop; i++) {
			char tag[32];
			uint64_t s = 0;
			if (c->v[i].partition != p)
				continue;
			snprintf(tag, sizeof tag, "r%zu", i);
			for (size_t k = 0; k < g_out.n; k++)
				if (strcmp(g_out.tags[k], tag) == 0)
					s = k + 1;
			ck_assert_msg(s > 0, "record %s never reached the output", tag);
			if (s > seq)
				stop = true;
			if (++in_doc == (int64_t)per_doc) {
				in_doc = 0;
				if (!stop)
					out[p] = ++offset;
			}
		}
		if (!stop && in_doc)
			out[p] = ++offset; /* the partition's last, shorter document */
		if (out[p] == 0)
			out[p] = RD_KAFKA_OFFSET_INVALID;
	}
}

START_TEST(offsets_are_committed_only_once_durable)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y;
	rd_kafka_t *prod;
	int64_t got[PARTITIONS], want[PARTITIONS];
	const size_t per_doc = 3;
	size_t want_tags;

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_reads(&c, 60);
	prod = producer_new(m.bootstraps);
	produce_corpus(prod, &c, 0, c.n, per_doc);
	rd_kafka_destroy(prod);
	y = eh_yaml(&m, NULL);
	node_open(&n, &loop, dir, "h", held_desc(), y, &tag_out_desc, "{}", NULL);

	/* Everything read and evaluated, nothing reported durable: nothing committed. */
	want_tags = c.n;
	ck_assert(run_until(&loop, all_tags, &want_tags, 30000));
	run_for(&loop, 300);
	ck_assert_uint_eq(g_asked, c.n); /* the pipeline would have said so */
	committed_offsets(m.bootstraps, got);
	for (int p = 0; p < PARTITIONS; p++)
		ck_assert_int_eq(got[p], RD_KAFKA_OFFSET_INVALID);

	/* Durable in steps: each partition commits exactly up to its first message with
	 * an event that is not durable yet. */
	for (uint64_t seq = 1; seq <= c.n; seq += 17) {
		release(seq);
		run_for(&loop, 250);
		committed_offsets(m.bootstraps, got);
		expected_commits(&c, per_doc, seq, want);
		for (int p = 0; p < PARTITIONS; p++)
			ck_assert_msg(got[p] == want[p],
				      "durable up to %llu: partition %d committed %lld, want %lld",
				      (unsigned long long)seq, p, (long long)got[p],
				      (long long)want[p]);
	}
	release(c.n);
	run_for(&loop, 250);
	committed_offsets(m.bootstraps, got);
	expected_commits(&c, per_doc, c.n, want);
	for (int p = 0; p < PARTITIONS; p++)
		ck_assert_int_eq(got[p], want[p]);

	node_close(&n);
	tags_free();
	free(y);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* A destination that never answers does not hold commits back: durable means spooled.
 * A restart delivers what it left in the spool, and reads nothing again. */
START_TEST(slow_output_does_not_hold_commits_and_loses_nothing)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y;
	rd_kafka_t *prod;
	int64_t got[PARTITIONS];
	size_t msgs, want_tags;
	json_object *seen;

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_reads(&c, 40);
	prod = producer_new(m.bootstraps);
	msgs = produce_corpus(prod, &c, 0, c.n, 4);
	rd_kafka_destroy(prod);
	y = eh_yaml(&m, NULL);
	g_out.hold = true;
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &tag_out_desc, "{}", NULL);
	g_want = (double)msgs;
	ck_assert(run_until(&loop, msgs_read, &n, 30000));
	run_for(&loop, 300);
	ck_assert_uint_eq(aw_pipeline_pending(n.p), c.n); /* nothing delivered */
	committed_offsets(m.bootstraps, got);
	for (int p = 0; p < PARTITIONS; p++)
		ck_assert_int_eq(got[p], 3); /* 10 records a partition: documents of 4, 4, 2 */
	/* The batch in flight is abandoned at close; the spool keeps every record. */
	aw_pipeline_close(n.p, on_closed, &n);
	ck_assert(run_until(&loop, node_closed, &n, 20000));
	aw_options_free(n.in_desc->options, n.in_conf);
	free(n.in_conf);
	free(n.out_conf);
	aw_engine_free(n.engine);
	aw_metrics_free(n.metrics);
	free(n.dir);
	tags_free();

	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &tag_out_desc, "{}", NULL);
	want_tags = c.n;
	ck_assert(run_until(&loop, all_tags, &want_tags, 30000));
	run_for(&loop, 1500);
	ck_assert_double_eq(MESSAGES(&n), 0); /* resumed at the committed offsets */
	seen = json_object_new_object();
	for (size_t i = 0; i < g_out.n; i++)
		json_object_object_add(seen, g_out.tags[i], NULL);
	ck_assert_int_eq(json_object_object_length(seen), (int)c.n);
	json_object_put(seen);
	node_close(&n);
	tags_free();
	free(y);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* Another consumer joins the group for a moment: the eager protocol revokes every
 * partition and hands them back. Events read before, still in flight (not durable
 * yet), are neither dropped nor read twice, and are committed once durable. */
static rd_kafka_t *g_ext;

static void ext_poll(uv_timer_t *t)
{
	rd_kafka_message_t *m;

	while ((m = rd_kafka_consumer_poll(g_ext, 0)))
		rd_kafka_message_destroy(m);
}

static bool ext_has_partitions(void *ud)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	bool has;

	rd_kafka_assignment(g_ext, &l);
	has = l && l->cnt > 0 && PARTS((struct node *)ud) > 0 &&
	      PARTS((struct node *)ud) < PARTITIONS;
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	return has;
}

static bool owns_all(void *ud)
{
	return PARTS((struct node *)ud) == PARTITIONS;
}

START_TEST(rebalance_keeps_events_in_flight_without_reading_them_twice)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	uv_loop_t loop;
	uv_timer_t poll;
	char *dir = aw_test_tmpdir(), *y, err[256];
	rd_kafka_t *prod;
	rd_kafka_conf_t *ec = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	int64_t got[PARTITIONS];
	size_t msgs, want_tags;

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_reads(&c, 60);
	prod = producer_new(m.bootstraps);
	msgs = produce_corpus(prod, &c, 0, c.n, 3);
	rd_kafka_destroy(prod);
	y = eh_yaml(&m, NULL);
	node_open(&n, &loop, dir, "h", held_desc(), y, &tag_out_desc, "{}", NULL);
	want_tags = c.n;
	ck_assert(run_until(&loop, all_tags, &want_tags, 30000));

	rd_kafka_conf_set_log_cb(ec, quiet_log);
	ck_assert_int_eq(rd_kafka_conf_set(ec, "bootstrap.servers", m.bootstraps, err, sizeof err),
			 0);
	ck_assert_int_eq(rd_kafka_conf_set(ec, "group.id", GROUP, err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_conf_set(ec, "enable.auto.commit", "false", err, sizeof err), 0);
	ck_assert_int_eq(
	    rd_kafka_conf_set(ec, "partition.assignment.strategy", "roundrobin", err, sizeof err),
	    0);
	ck_assert_int_eq(rd_kafka_conf_set(ec, "session.timeout.ms", "3000", err, sizeof err), 0);
	g_ext = rd_kafka_new(RD_KAFKA_CONSUMER, ec, err, sizeof err);
	ck_assert_msg(g_ext, "%s", err);
	rd_kafka_poll_set_consumer(g_ext);
	rd_kafka_topic_partition_list_add(sub, TOPIC, RD_KAFKA_PARTITION_UA);
	ck_assert_int_eq(rd_kafka_subscribe(g_ext, sub), 0);
	rd_kafka_topic_partition_list_destroy(sub);
	uv_timer_init(&loop, &poll);
	uv_timer_start(&poll, ext_poll, 20, 20);
	ck_assert(run_until(&loop, ext_has_partitions, &n, 30000));
	uv_timer_stop(&poll);
	uv_close((uv_handle_t *)&poll, NULL);
	rd_kafka_consumer_close(g_ext);
	rd_kafka_destroy(g_ext);
	ck_assert(run_until(&loop, owns_all, &n, 30000));
	run_for(&loop, 1000);
	ck_assert_double_eq(MESSAGES(&n), (double)msgs); /* nothing read twice */
	ck_assert_uint_eq(g_out.n, c.n);
	ck_assert_double_ge(node_metric(&n, AW_METRIC_COUNTER,
					"aiwatch_kafka_consumer_rebalances_total", "event",
					"revoked"),
			    2);
	committed_offsets(m.bootstraps, got);
	for (int p = 0; p < PARTITIONS; p++)
		ck_assert_int_eq(got[p], RD_KAFKA_OFFSET_INVALID);
	release(g_asked);
	run_for(&loop, 300);
	committed_offsets(m.bootstraps, got);
	for (int p = 0; p < PARTITIONS; p++)
		ck_assert_int_eq(got[p], 5); /* 15 records a partition, documents of 3 */

	node_close(&n);
	tags_free();
	free(y);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- restarts ----------------------------------------------------------------------------- */

START_TEST(restart_resumes_from_the_committed_offset)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	struct alerts a = {0};
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y, *oy, *out, *rule;
	rd_kafka_t *prod;
	size_t first, second, held_msgs;
	json_object *items;

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_reads(&c, 120);
	rule = aw_test_write(dir, "rule.yml", read_rule, 0600);
	ck_assert_int_ge(asprintf(&out, "%s/alerts.jsonl", dir), 0);
	y = eh_yaml(&m, NULL);
	oy = file_out_yaml(out);
	prod = producer_new(m.bootstraps);

	/* Run 1: read 40 records, stop cleanly. */
	first = produce_corpus(prod, &c, 0, 40, 5);
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &aw_out_file, oy, rule);
	g_want = (double)first;
	ck_assert(run_until(&loop, read_all, &n, 30000));
	node_close(&n);

	/* Run 2: 40 more while stopped; only those are read (nothing twice). */
	second = produce_corpus(prod, &c, 40, 80, 5);
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &aw_out_file, oy, rule);
	g_want = (double)second;
	ck_assert(run_until(&loop, read_all, &n, 30000));
	run_for(&loop, 500);
	ck_assert_double_eq(MESSAGES(&n), (double)second);
	node_close(&n);

	/* Run 3: 40 more, read but never reported durable (as if the spool's disk
	 * hung and the process died): nothing of them is committed... */
	held_msgs = produce_corpus(prod, &c, 80, 120, 5);
	node_open(&n, &loop, dir, "h", held_desc(), y, &aw_out_file, oy, rule);
	g_want = (double)held_msgs;
	ck_assert(run_until(&loop, read_all, &n, 30000));
	ck_assert_double_eq(MESSAGES(&n), (double)held_msgs);
	node_close(&n);

	/* ...so run 4 reads them again: duplicates, with the same AlertIds. */
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &aw_out_file, oy, rule);
	g_want = (double)held_msgs;
	ck_assert(run_until(&loop, read_all, &n, 30000));
	ck_assert_double_eq(MESSAGES(&n), (double)held_msgs);
	node_close(&n);

	alerts_read(&a, out);
	items = corpus_items(&c);
	ck_assert_int_eq(json_object_object_length(a.items), json_object_object_length(items));
	json_object_object_foreach(items, k, v)
	{
		(void)v;
		ck_assert_msg(json_object_object_get_ex(a.items, k, NULL), "record %s lost", k);
	}
	ck_assert(!a.conflict);
	ck_assert_uint_eq(a.lines, 160); /* 120 records, the last 40 twice */
	ck_assert_int_eq(json_object_object_length(a.by_id), 120);

	json_object_put(items);
	alerts_free(&a);
	rd_kafka_destroy(prod);
	free(y);
	free(oy);
	free(out);
	free(rule);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- two instances in one group ------------------------------------------------------------ */

struct pair {
	struct node *a, *b;
	bool b_gone;
};

static bool both_own_partitions(void *ud)
{
	struct pair *p = ud;

	return PARTS(p->a) > 0 && PARTS(p->b) > 0 && PARTS(p->a) + PARTS(p->b) == PARTITIONS;
}

static bool a_owns_all(void *ud)
{
	struct pair *p = ud;

	return PARTS(p->a) == PARTITIONS;
}

static const char *g_files[2];
static json_object *g_items;
static uint64_t g_next_look;

/* Every record has an alert in one of the two files (looked at every 200 ms). */
static bool all_evaluated(void *ud)
{
	struct alerts al = {0};
	bool all = true;
	static bool last;

	if (uv_hrtime() < g_next_look)
		return last;
	g_next_look = uv_hrtime() + 200000000;
	alerts_read(&al, g_files[0]);
	alerts_read(&al, g_files[1]);
	json_object_object_foreach(g_items, k, v)
	{
		(void)v;
		if (!json_object_object_get_ex(al.items, k, NULL)) {
			all = false;
			break;
		}
	}
	alerts_free(&al);
	last = all && aw_pipeline_idle(((struct pair *)ud)->a->p);
	return last;
}

START_TEST(two_instances_share_partitions_and_a_leaving_one_loses_nothing)
{
	struct mock m;
	struct corpus c = {0};
	struct node a, b;
	struct pair pr = {.a = &a, .b = &b};
	struct alerts al = {0};
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y, *oya, *oyb, *outa, *outb, *rule, *da, *db;
	rd_kafka_t *prod;
	size_t sent = 0, b_msgs;
	int64_t got[PARTITIONS];
	json_object *items;

	mock_start(&m, 3);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_reads(&c, 800);
	rule = aw_test_write(dir, "rule.yml", read_rule, 0600);
	ck_assert_int_ge(asprintf(&outa, "%s/a.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&outb, "%s/b.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&da, "%s/a", dir), 0);
	ck_assert_int_ge(asprintf(&db, "%s/b", dir), 0);
	ck_assert_int_eq(mkdir(da, 0700), 0);
	ck_assert_int_eq(mkdir(db, 0700), 0);
	y = eh_yaml(&m, NULL);
	oya = file_out_yaml(outa);
	oyb = file_out_yaml(outb);
	prod = producer_new(m.bootstraps);

	sent += produce_corpus(prod, &c, 0, 200, 4);
	node_open(&a, &loop, da, "node-a", &aw_in_eventhubs, y, &aw_out_file, oya, rule);
	node_open(&b, &loop, db, "node-b", &aw_in_eventhubs, y, &aw_out_file, oyb, rule);
	ck_assert_msg(run_until(&loop, both_own_partitions, &pr, 30000),
		      "partitions: a %.0f, b %.0f", PARTS(&a), PARTS(&b));
	/* Mid-stream: more records while both read, then b leaves. */
	for (size_t from = 200; from < 600; from += 100) {
		sent += produce_corpus(prod, &c, from, from + 100, 4);
		run_for(&loop, 150);
	}
	b_msgs = (size_t)MESSAGES(&b);
	ck_assert_uint_gt(b_msgs, 0);
	ck_assert_uint_gt((size_t)MESSAGES(&a), 0);
	node_close(&b);
	ck_assert(run_until(&loop, a_owns_all, &pr, 30000));
	sent += produce_corpus(prod, &c, 600, 800, 4);
	/* a reads what b had not committed again. */
	items = corpus_items(&c);
	g_items = items;
	g_files[0] = outa;
	g_files[1] = outb;
	ck_assert_msg(run_until(&loop, all_evaluated, &pr, 30000), "a read %.0f, b %zu of %zu",
		      MESSAGES(&a), b_msgs, sent);
	run_for(&loop, 300);
	committed_offsets(m.bootstraps, got);
	for (int p = 0; p < PARTITIONS; p++)
		ck_assert_int_eq(got[p], (int64_t)(sent / PARTITIONS));
	printf("in_eventhubs: group of two: a read %.0f messages, b %zu (of %zu); b left "
	       "mid-stream, a re-read %.0f\n",
	       MESSAGES(&a), b_msgs, sent, MESSAGES(&a) + (double)b_msgs - (double)sent);
	node_close(&a);

	alerts_read(&al, outa);
	alerts_read(&al, outb);
	json_object_object_foreach(items, k, v)
	{
		(void)v;
		ck_assert_msg(json_object_object_get_ex(al.items, k, NULL), "record %s lost", k);
	}
	ck_assert_msg(!al.conflict, "one record, two AlertIds");
	ck_assert_int_eq(json_object_object_length(al.by_id), (int)c.n);

	json_object_put(items);
	alerts_free(&al);
	rd_kafka_destroy(prod);
	free(y);
	free(oya);
	free(oyb);
	free(outa);
	free(outb);
	free(rule);
	free(da);
	free(db);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- the two-stage mode ---------------------------------------------------------------------- */

#define INTERNAL "aiwatch.repartition.kv"

/* n identities each read `reads` distinct secrets; read r goes to partition r % 4, so
 * each identity's reads are spread evenly over every partition. */
static void corpus_spread(struct corpus *c, unsigned identities, unsigned reads)
{
	char tag[32];

	for (unsigned r = 0; r < reads; r++)
		for (unsigned who = 0; who < identities; who++) {
			snprintf(tag, sizeof tag, "r%zu", c->n);
			corpus_add(c, (int)(r % PARTITIONS),
				   kv_record((unsigned)c->n * 2, "SecretGet", 10 + who, r, tag));
		}
}

static char *group_yaml(const struct mock *m, const char *group, const char *topic,
			const char *extra)
{
	char *y;

	ck_assert_int_ge(asprintf(&y,
				  "brokers: %s\ntopics: [%s]\ngroup: %s\n"
				  "commit_interval: 50ms\nclose_timeout: 5s\n"
				  "rdkafka: [session.timeout.ms=3000, heartbeat.interval.ms=300, "
				  "topic.metadata.refresh.interval.ms=1000]\n%s",
				  m->bootstraps, topic, group, extra ? extra : ""),
			 0);
	return y;
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_object_get_string(*(json_object *const *)a),
		      json_object_get_string(*(json_object *const *)b));
}

/* (RuleId, GroupBy) of every alert of rule_id, as one sorted text. */
static char *alert_groups(const struct alerts *a, const char *rule_id)
{
	json_object *set = json_object_new_object(), *keys = json_object_new_array();
	char *out;

	json_object_object_foreach(a->by_id, k, o)
	{
		json_object *r, *g;
		(void)k;
		if (json_object_object_get_ex(o, "RuleId", &r) &&
		    strcmp(json_object_get_string(r), rule_id) == 0 &&
		    json_object_object_get_ex(o, "GroupBy", &g))
			json_object_object_add(set, json_object_to_json_string(g), NULL);
	}
	json_object_object_foreach(set, g, v)
	{
		(void)v;
		json_object_array_add(keys, json_object_new_string(g));
	}
	json_object_array_sort(keys, cmp_json_str);
	out = strdup(json_object_to_json_string(keys));
	json_object_put(keys);
	json_object_put(set);
	return out;
}

struct quad {
	struct node *n[4];
	size_t count;
	double want_records; /* read by the last two (second stage, or direct readers) */
};

static bool split_between(void *ud)
{
	struct quad *q = ud;

	for (size_t i = 0; i < q->count; i += 2)
		if (!(PARTS(q->n[i]) > 0 && PARTS(q->n[i + 1]) > 0 &&
		      PARTS(q->n[i]) + PARTS(q->n[i + 1]) == PARTITIONS))
			return false;
	return true;
}

static bool last_two_read(void *ud)
{
	struct quad *q = ud;
	struct node *a = q->n[q->count - 2], *b = q->n[q->count - 1];

	return RECORDS(a) + RECORDS(b) >= q->want_records && aw_pipeline_idle(a->p) &&
	       aw_pipeline_idle(b->p);
}

static void mkdirf(char **out, const char *dir, const char *name)
{
	ck_assert_int_ge(asprintf(out, "%s/%s", dir, name), 0);
	ck_assert_int_eq(mkdir(*out, 0700), 0);
}

/* A correlation that counts per identity (20 distinct secrets in an hour) over a topic
 * whose records of one identity are spread over all partitions: one instance raises
 * every alert; two instances reading directly each see about half and raise none;
 * two instances in the two-stage mode raise exactly the single instance's alerts. */
START_TEST(two_stage_mode_keeps_correlation_counts_of_a_single_instance)
{
	struct mock m;
	struct corpus c = {0};
	struct node s1a, s1b, s2a, s2b, da, db, single;
	struct quad direct = {.n = {&da, &db}, .count = 2};
	struct quad staged = {.n = {&s1a, &s1b, &s2a, &s2b}, .count = 4};
	struct alerts a_direct = {0}, a_staged = {0}, a_single = {0};
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(),
	     *rule =
		 aw_test_srcpath("conf/rules/keyvault/azure_keyvault_mass_secret_retrieval.yml");
	char *d[7], *out[7], *y1, *y2, *yd, *oy, *la, *fy, *g_single, *g_staged, *g_direct;
	rd_kafka_t *prod;
	const char *names[7] = {"s1a", "s1b", "s2a", "s2b", "da", "db", "single"};

	mock_start(&m, 1);
	ck_assert_int_eq(rd_kafka_mock_topic_create(m.mc, INTERNAL, PARTITIONS, 1), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_spread(&c, 6, 24);
	for (int i = 0; i < 7; i++) {
		mkdirf(&d[i], dir, names[i]);
		ck_assert_int_ge(asprintf(&out[i], "%s/%s.jsonl", dir, names[i]), 0);
	}
	prod = producer_new(m.bootstraps);

	/* Direct: two instances share the source topic. */
	yd = group_yaml(&m, "direct", TOPIC, NULL);
	oy = file_out_yaml(out[4]);
	node_open(&da, &loop, d[4], "da", &aw_in_eventhubs, yd, &aw_out_file, oy, rule);
	free(oy);
	oy = file_out_yaml(out[5]);
	node_open(&db, &loop, d[5], "db", &aw_in_eventhubs, yd, &aw_out_file, oy, rule);
	free(oy);
	/* Two-stage: two first stages re-key onto the internal topic, two second
	 * stages evaluate it. */
	y1 = group_yaml(&m, "stage1", TOPIC,
			"repartition: {rule_set: kv, key_fields: [identity_claim_oid_g]}\n");
	y2 = group_yaml(&m, "stage2", INTERNAL, NULL);
	oy = file_out_yaml(out[0]);
	node_open(&s1a, &loop, d[0], "s1a", &aw_in_eventhubs, y1, &aw_out_file, oy, rule);
	free(oy);
	oy = file_out_yaml(out[1]);
	node_open(&s1b, &loop, d[1], "s1b", &aw_in_eventhubs, y1, &aw_out_file, oy, rule);
	free(oy);
	oy = file_out_yaml(out[2]);
	node_open(&s2a, &loop, d[2], "s2a", &aw_in_eventhubs, y2, &aw_out_file, oy, rule);
	free(oy);
	oy = file_out_yaml(out[3]);
	node_open(&s2b, &loop, d[3], "s2b", &aw_in_eventhubs, y2, &aw_out_file, oy, rule);
	free(oy);
	/* Split, and settled: the mock's coordinator may rebalance once more after the
	 * first assignment, which could hand one direct reader every partition's
	 * records. */
	for (int tries = 0;; tries++) {
		double before = 0, after = 0;
		ck_assert(tries < 10);
		ck_assert(run_until(&loop, split_between, &direct, 30000));
		ck_assert(run_until(&loop, split_between, &staged, 30000));
		for (int i = 0; i < 2; i++)
			before += node_metric(direct.n[i], AW_METRIC_COUNTER,
					      "aiwatch_kafka_consumer_rebalances_total", "event",
					      "assigned");
		run_for(&loop, 2500);
		for (int i = 0; i < 2; i++)
			after += node_metric(direct.n[i], AW_METRIC_COUNTER,
					     "aiwatch_kafka_consumer_rebalances_total", "event",
					     "assigned");
		if (before == after && split_between(&direct) && split_between(&staged))
			break;
	}

	produce_corpus(prod, &c, 0, c.n, 4);
	direct.want_records = staged.want_records = (double)c.n;
	ck_assert_msg(run_until(&loop, last_two_read, &direct, 30000), "direct read %.0f + %.0f",
		      RECORDS(&da), RECORDS(&db));
	ck_assert_msg(run_until(&loop, last_two_read, &staged, 30000),
		      "second stage read %.0f + %.0f", RECORDS(&s2a), RECORDS(&s2b));
	ck_assert_double_gt(RECORDS(&s2a), 0);
	ck_assert_double_gt(RECORDS(&s2b), 0);
	/* The first stages evaluate nothing: every event went to the internal topic. */
	ck_assert_double_eq(RECORDS(&s1a) + RECORDS(&s1b), (double)c.n);
	ck_assert_double_eq(
	    aw_metric_value(aw_metric_get(s1a.metrics, AW_METRIC_COUNTER,
					  "aiwatch_kafka_repartition_messages_total", "", "input",
					  "eh", "result", "delivered", NULL)) +
		aw_metric_value(aw_metric_get(s1b.metrics, AW_METRIC_COUNTER,
					      "aiwatch_kafka_repartition_messages_total", "",
					      "input", "eh", "result", "delivered", NULL)),
	    (double)c.n);
	run_for(&loop, 300);
	for (int i = 0; i < 6; i++)
		node_close(staged.n[0] == &s1a && i < 4 ? staged.n[i] : direct.n[i - 4]);

	/* One instance, the reference. */
	la = write_la_file(dir, &c);
	ck_assert_int_ge(asprintf(&fy, "paths: [%s]\nfollow: false\n", la), 0);
	oy = file_out_yaml(out[6]);
	node_open(&single, &loop, d[6], "single", &aw_in_file, fy, &aw_out_file, oy, rule);
	g_want = (double)c.n;
	ck_assert(run_until(&loop, file_read_all, &single, 30000));
	node_close(&single);

	alerts_read(&a_single, out[6]);
	alerts_read(&a_staged, out[0]);
	alerts_read(&a_staged, out[1]);
	alerts_read(&a_staged, out[2]);
	alerts_read(&a_staged, out[3]);
	alerts_read(&a_direct, out[4]);
	alerts_read(&a_direct, out[5]);
	g_single = alert_groups(&a_single, RULE_MASS_RETRIEVAL);
	g_staged = alert_groups(&a_staged, RULE_MASS_RETRIEVAL);
	g_direct = alert_groups(&a_direct, RULE_MASS_RETRIEVAL);
	ck_assert_uint_eq(alerts_of_rule(&a_single, RULE_MASS_RETRIEVAL), 6);
	ck_assert_str_eq(g_staged, g_single);
	ck_assert_uint_eq(alerts_of_rule(&a_staged, RULE_MASS_RETRIEVAL), 6);
	ck_assert_uint_lt(alerts_of_rule(&a_direct, RULE_MASS_RETRIEVAL), 6);
	printf("in_eventhubs: correlation over %zu records spread on %d partitions: one "
	       "instance %zu alerts, two direct %zu, two-stage %zu\n",
	       c.n, PARTITIONS, alerts_of_rule(&a_single, RULE_MASS_RETRIEVAL),
	       alerts_of_rule(&a_direct, RULE_MASS_RETRIEVAL),
	       alerts_of_rule(&a_staged, RULE_MASS_RETRIEVAL));

	free(g_single);
	free(g_staged);
	free(g_direct);
	alerts_free(&a_single);
	alerts_free(&a_staged);
	alerts_free(&a_direct);
	rd_kafka_destroy(prod);
	for (int i = 0; i < 7; i++) {
		free(d[i]);
		free(out[i]);
	}
	free(y1);
	free(y2);
	free(yd);
	free(oy);
	free(la);
	free(fy);
	free(rule);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- malformed messages ------------------------------------------------------------------- */

START_TEST(malformed_messages_are_counted_logged_and_skipped)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	struct alerts a = {0};
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y, *oy, *out, *rule, *log, *text, *doc;
	rd_kafka_t *prod;
	int fd;
	int64_t got[PARTITIONS];
	static const char *const bad[] = {
	    "this is not JSON",
	    "{\"records\":\"not an array\"}",
	    "",
	    "[1,2,3]",
	};

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_reads(&c, 4);
	rule = aw_test_write(dir, "rule.yml", read_rule, 0600);
	ck_assert_int_ge(asprintf(&out, "%s/alerts.jsonl", dir), 0);
	ck_assert_int_ge(asprintf(&log, "%s/log", dir), 0);
	prod = producer_new(m.bootstraps);
	/* partition 1: good, bad x4, a document with one bad record among good, good */
	produce(prod, 1, c.v[0].json, strlen(c.v[0].json));
	for (size_t i = 0; i < 4; i++)
		produce(prod, 1, bad[i], strlen(bad[i]));
	ck_assert_int_ge(
	    asprintf(&doc, "{\"records\":[%s,{\"no\":\"time\"},%s]}", c.v[1].json, c.v[2].json), 0);
	produce(prod, 1, doc, strlen(doc));
	produce(prod, 1, c.v[3].json, strlen(c.v[3].json));
	producer_flush(prod);
	rd_kafka_destroy(prod);

	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	aw_log_set_fd(fd);
	y = eh_yaml(&m, NULL);
	oy = file_out_yaml(out);
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &aw_out_file, oy, rule);
	g_want = 7;
	ck_assert(run_until(&loop, read_all, &n, 30000));
	run_for(&loop, 300);
	ck_assert_double_eq(SKIPPED(&n), 5);
	ck_assert_double_eq(RECORDS(&n), 4);
	committed_offsets(m.bootstraps, got);
	ck_assert_int_eq(got[1], 7); /* skipped, and committed past */
	node_close(&n);
	aw_log_set_fd(-1);
	close(fd);

	text = aw_test_read(log, NULL);
	ck_assert_ptr_nonnull(strstr(text, "msg=\"malformed message skipped\""));
	ck_assert_msg(strstr(text, "topic=diag partition=1 offset=1 "), "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "partition=1 offset=4 "));
	ck_assert_ptr_nonnull(strstr(text, "reason=\"diag/1@5: record 1: record has no time\""));
	alerts_read(&a, out);
	ck_assert_int_eq(json_object_object_length(a.by_id), 4);

	alerts_free(&a);
	free(text);
	free(doc);
	free(y);
	free(oy);
	free(out);
	free(rule);
	free(log);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- readiness, back-pressure ----------------------------------------------------------- */

static bool node_ready(void *ud)
{
	char why[256];
	return aw_pipeline_ready(((struct node *)ud)->p, why, sizeof why) == 1;
}

START_TEST(readyz_follows_the_brokers)
{
	struct mock m;
	struct node n;
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y, why[256];

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	y = eh_yaml(&m, NULL);
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &tag_out_desc, "{}", NULL);
	ck_assert(run_until(&loop, node_ready, &n, 10000));
	ck_assert_int_eq(rd_kafka_mock_broker_set_down(m.mc, 1), 0);
	run_for(&loop, 2500);
	ck_assert_int_eq(aw_pipeline_ready(n.p, why, sizeof why), 0);
	ck_assert_msg(strstr(why, "eh: no Kafka broker is up"), "%s", why);
	ck_assert_int_eq(rd_kafka_mock_broker_set_up(m.mc, 1), 0);
	ck_assert(run_until(&loop, node_ready, &n, 15000));
	node_close(&n);
	tags_free();
	free(y);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

static double lag_total(struct node *n)
{
	double sum = 0;

	for (int p = 0; p < PARTITIONS; p++) {
		char part[8];
		snprintf(part, sizeof part, "%d", p);
		sum += aw_metric_value(aw_metric_get(
		    n->metrics, AW_METRIC_GAUGE, "aiwatch_kafka_consumer_lag_messages", "", "input",
		    "eh", "topic", TOPIC, "partition", part, NULL));
	}
	return sum;
}

static bool paused_with_lag(void *ud)
{
	struct node *n = ud;

	return g_out.held && MESSAGES(n) > 0 && lag_total(n) > 0 &&
	       lag_total(n) + MESSAGES(n) == g_want;
}

static bool caught_up(void *ud)
{
	struct node *n = ud;

	return MESSAGES(n) >= g_want && lag_total(n) == 0 && aw_pipeline_idle(n->p);
}

/* A full spool pauses the input's partitions (nothing more is fetched, nothing is
 * dropped); the lag gauges show what is left; once the output drains, reading goes
 * on to the end. */
START_TEST(back_pressure_pauses_partitions_and_lag_shows_the_rest)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y;
	rd_kafka_t *prod;
	size_t msgs, want_tags;
	double read_paused;

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	corpus_reads(&c, 2000);
	prod = producer_new(m.bootstraps);
	msgs = produce_corpus(prod, &c, 0, c.n, 5);
	rd_kafka_destroy(prod);
	y = eh_yaml(&m, NULL);
	g_out.hold = true;
	g_spool_max = 64 * 1024; /* about 60 records */
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &tag_out_desc, "{}", NULL);
	g_spool_max = 0;
	g_want = (double)msgs;
	ck_assert_msg(run_until(&loop, paused_with_lag, &n, 30000), "read %.0f, lag %.0f of %zu",
		      MESSAGES(&n), lag_total(&n), msgs);
	read_paused = MESSAGES(&n);
	run_for(&loop, 1000);
	ck_assert_double_eq(MESSAGES(&n), read_paused); /* paused: nothing more read */
	ck_assert_double_lt(read_paused, (double)msgs / 2);
	ck_assert_double_eq(node_metric(&n, AW_METRIC_GAUGE, "aiwatch_input_paused", NULL, NULL),
			    1);

	/* The destination is back, and the spool bound is lifted (a small bound would
	 * only make the rest a long series of pauses). */
	n.pc.spool_max_bytes = 0;
	aw_pipeline_set_conf(n.p, &n.pc);
	g_out.hold = false;
	aw_output_done(g_out.ctx, g_out.held, AW_DONE, 0, NULL);
	ck_assert_msg(run_until(&loop, caught_up, &n, 30000), "read %.0f, lag %.0f of %zu",
		      MESSAGES(&n), lag_total(&n), msgs);
	want_tags = c.n;
	ck_assert(all_tags(&want_tags));
	node_close(&n);
	tags_free();
	free(y);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- throughput ----------------------------------------------------------------------------- */

static bool first_message(void *ud)
{
	return MESSAGES((struct node *)ud) > 0;
}

START_TEST(throughput_with_the_rule_pack)
{
	struct mock m;
	struct corpus c = {0};
	struct node n;
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *rules = aw_test_srcpath("conf/rules"), *y, *oy, *out;
	rd_kafka_t *prod;
	size_t msgs;
	uint64_t t0;
	double secs;

	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	/* The mock cluster keeps about 5 MB per partition (older messages are deleted, as
	 * retention would): 20000 records of ~650 bytes over 4 partitions stay below. */
	corpus_reads(&c, 20000);
	prod = producer_new(m.bootstraps);
	msgs = produce_corpus(prod, &c, 0, c.n, 50);
	rd_kafka_destroy(prod);
	ck_assert_int_ge(asprintf(&out, "%s/alerts.jsonl", dir), 0);
	y = eh_yaml(&m, NULL);
	oy = file_out_yaml(out);
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &aw_out_file, oy, rules);
	ck_assert(run_until(&loop, first_message, &n, 30000));
	t0 = uv_hrtime();
	g_want = (double)msgs;
	ck_assert(run_until(&loop, read_all, &n, 60000));
	secs = (double)(uv_hrtime() - t0) / 1e9;
	printf("in_eventhubs: %zu records (%zu messages of 50) consumed, mapped, evaluated with "
	       "conf/rules and spooled in %.2f s: %.0f events/s (one instance)\n",
	       c.n, msgs, secs, (double)c.n / secs);
	node_close(&n);
	free(y);
	free(oy);
	free(out);
	free(rules);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	mock_stop(&m);
	corpus_free(&c);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- Entra ID tokens for SASL OAUTHBEARER ----------------------------------------------- */

#define TENANT "00000000-0000-0000-0000-0000000000aa"

static const char *g_log_path;

static bool log_has_token(void *ud)
{
	char *text = aw_test_read(g_log_path, NULL);
	bool found = text && strstr(text, "msg=\"OAUTHBEARER token set\"");

	free(text);
	return found;
}

static void azure_closed(void *ud)
{
	*(bool *)ud = true;
}

static bool flag_set(void *ud)
{
	return *(bool *)ud;
}

/* librdkafka asks for a token; the input gets one for the Event Hubs scope from the
 * daemon's credential (here the emulator's Entra ID endpoint) without blocking, and
 * hands it over with the expiry from its claims. The mock cluster speaks no SASL, so
 * the test stops at the hand-over. */
START_TEST(entra_tokens_are_handed_to_librdkafka)
{
	struct aw_test_emu emu;
	struct mock m;
	struct node n;
	struct aw_azure_conf az = {0};
	struct aw_azure *azure;
	struct aw_metrics *azm = aw_metrics_new();
	struct aw_error err;
	uv_loop_t loop;
	char *dir = aw_test_tmpdir(), *y, *log, *text, *reqs, authority[96];
	bool az_closed = false;
	long status;
	int fd;

	aw_test_emu_start(&emu, "{\"tenant_id\":\"" TENANT "\",\"clients\":[{\"client_id\":"
				"\"app1\",\"client_secret\":\"s3cr3t-client\"}]}");
	mock_start(&m, 1);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	snprintf(authority, sizeof authority, "%s", emu.base);
	az.insecure_http_for_tests = true;
	az.credential.kind = "client_secret";
	az.credential.tenant_id = TENANT;
	az.credential.client_id = "app1";
	az.credential.client_secret.value = "s3cr3t-client";
	az.credential.authority_host = authority;
	az.credential.refresh_before_ms = 300000;
	ck_assert_msg(aw_azure_start(&loop, &az, azm, &azure, &err) == 0, "%s", err.msg);
	ck_assert_int_ge(asprintf(&log, "%s/log", dir), 0);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	aw_log_configure(AW_LOG_DEBUG, AW_LOG_LOGFMT);
	aw_log_set_fd(fd);
	g_log_path = log;
	ck_assert_int_ge(asprintf(&y,
				  "brokers: %s\ntopics: [" TOPIC "]\ngroup: " GROUP "\n"
				  "close_timeout: 1s\n"
				  "rdkafka: [security.protocol=SASL_PLAINTEXT, "
				  "sasl.mechanism=OAUTHBEARER]\n"
				  "entra_scope: https://ns1.servicebus.windows.net/.default\n",
				  m.bootstraps),
			 0);
	node_open(&n, &loop, dir, "h", &aw_in_eventhubs, y, &tag_out_desc, "{}", NULL);
	ck_assert(run_until(&loop, log_has_token, NULL, 10000));
	node_close(&n);
	aw_azure_close(azure, azure_closed, &az_closed);
	ck_assert(run_until(&loop, flag_set, &az_closed, 10000));
	aw_log_set_fd(-1);
	close(fd);

	text = aw_test_read(log, NULL);
	ck_assert_msg(strstr(text, "msg=\"OAUTHBEARER token set\" client=eh "
				   "scope=https://ns1.servicebus.windows.net/.default expires_on="),
		      "%s", text);
	ck_assert_msg(!strstr(text, "emu1."), "a token reached the log");
	reqs = aw_test_emu_call(&emu, "GET", "/_emulator/requests?path=/" TENANT "/oauth2", NULL,
				&status);
	ck_assert_int_eq(status, 200);
	ck_assert_msg(strstr(reqs, "scope=https%3A%2F%2Fns1.servicebus.windows.net%2F.default"),
		      "%s", reqs);

	free(reqs);
	free(text);
	free(y);
	free(log);
	tags_free();
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	aw_metrics_free(azm);
	mock_stop(&m);
	aw_test_emu_stop(&emu);
	aw_test_rmtree(dir);
	free(dir);
}
END_TEST

/* --- pieces ---------------------------------------------------------------------------------- */

START_TEST(token_claims_and_scope)
{
	char principal[64], scope[256];
	int64_t exp = 0;
	/* {"aud":"https://ns.servicebus.windows.net","oid":"o-1","exp":1900000000} */
	const char *tok = "eyJhbGciOiJub25lIn0."
			  "eyJhdWQiOiJodHRwczovL25zLnNlcnZpY2VidXMud2luZG93cy5uZXQiLCJvaWQiOiJvLTEi"
			  "LCJleHAiOjE5MDAwMDAwMDB9.sig";

	ck_assert_int_eq(aw_kafka_token_claims(tok, &exp, principal, sizeof principal), 0);
	ck_assert_int_eq(exp, 1900000000);
	ck_assert_str_eq(principal, "o-1");
	ck_assert_int_eq(aw_kafka_token_claims("opaque-token", &exp, principal, sizeof principal),
			 -1);
	ck_assert_str_eq(principal, "aiwatchd");
	ck_assert_int_eq(aw_kafka_event_hubs_scope("k1:9092, NS1.ServiceBus.Windows.net:9093",
						   scope, sizeof scope),
			 0);
	ck_assert_str_eq(scope, "https://ns1.servicebus.windows.net/.default");
	ck_assert_int_eq(aw_kafka_event_hubs_scope("k1:9092", scope, sizeof scope), -1);
}
END_TEST

/* --- configuration --------------------------------------------------------------------------- */

static char *g_dir;
static struct aw_error_list g_errs;

static int load_config(const char *inputs_item)
{
	char *body;
	int rc;

	ck_assert_int_ge(asprintf(&body,
				  "inputs:\n%s"
				  "outputs:\n  - type: file\n    path: /tmp/x.jsonl\n",
				  inputs_item),
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

#define EH_ITEM "  - type: eventhubs\n    brokers: ns1.servicebus.windows.net:9093\n"

START_TEST(config_errors_name_the_setting)
{
	g_dir = aw_test_tmpdir();
	setenv("AW_TEST_EH_CS",
	       "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=r;"
	       "SharedAccessKey=c2VjcmV0LWtleQ==",
	       1);
	setenv("AW_TEST_EH_BAD", "HostName=wrong-kind-of-string;Key=zzsecretzz", 1);

	ck_assert_int_eq(load_config(EH_ITEM "    topics: [insights-logs-audit]\n"
					     "    connection_string: {env: AW_TEST_EH_CS}\n"),
			 0);
	ck_assert_int_eq(load_config(EH_ITEM "    topics: [hub1]\n    entra: true\n"), 0);

	ck_assert_int_eq(load_config(EH_ITEM), -1);
	want_error("missing required key 'topics'", NULL);

	ck_assert_int_eq(load_config(EH_ITEM "    topics: [a/b, hub, hub]\n"), -1);
	want_error("inputs[0].topics[0]: 'a/b' is not a Kafka topic name", NULL);
	want_error("inputs[0].topics[2]: 'hub' is listed twice", NULL);

	ck_assert_int_eq(load_config(EH_ITEM
				     "    topics: [hub]\n"
				     "    rdkafka: [enable.auto.commit=true, group.id=x]\n"),
			 -1);
	want_error("'enable.auto.commit' is set by aiwatch", "durable");
	want_error("'group.id' is set by aiwatch: use group", NULL);

	ck_assert_int_eq(load_config(EH_ITEM "    topics: [hub]\n"
					     "    connection_string: {env: AW_TEST_EH_CS}\n"
					     "    entra: true\n"
					     "    rdkafka: [sasl.mechanism=PLAIN]\n"),
			 -1);
	want_error("connection_string and entra are two ways to authenticate", NULL);
	want_error("inputs[0].rdkafka: 'sasl.mechanism' is set by connection_string", NULL);
	no_error_mentions("c2VjcmV0LWtleQ");

	ck_assert_int_eq(load_config(EH_ITEM "    topics: [hub]\n"
					     "    connection_string: {env: AW_TEST_EH_BAD}\n"),
			 -1);
	want_error("inputs[0].connection_string (env AW_TEST_EH_BAD): not an Event Hubs "
		   "connection string",
		   NULL);
	no_error_mentions("zzsecretzz");

	ck_assert_int_eq(load_config("  - type: eventhubs\n    brokers: [k1:9092]\n"
				     "    topics: [t]\n    entra: true\n"),
			 -1);
	want_error("inputs[0].entra_scope: needed when the brokers are not an Event Hubs "
		   "namespace",
		   NULL);
	ck_assert_int_eq(load_config("  - type: eventhubs\n    brokers: [k1:9092]\n"
				     "    topics: [t]\n"
				     "    rdkafka: [security.protocol=SASL_SSL, "
				     "sasl.mechanism=OAUTHBEARER]\n"
				     "    entra_scope: api://kafka-app/.default\n"),
			 0);

	ck_assert_int_eq(load_config(EH_ITEM "    topics: [hub]\n"
					     "    rdkafka: [request.timeout.ms=5000]\n"),
			 -1);
	want_error("request.timeout.ms=5000 must be above 20000 for Event Hubs", NULL);

	ck_assert_int_eq(load_config(EH_ITEM "    topics: [hub]\n    start_at: middle\n"), -1);
	want_error("inputs[0].start_at: 'middle' is not one of: earliest, latest", NULL);
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
	p = strstr(text, "\n  #- type: eventhubs\n");
	ck_assert_msg(p, "no eventhubs example in conf/aiwatchd.yaml");
	item = calloc(1, strlen(p) + 1);
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
	cred = aw_test_write(g_dir, "eventhubs-connection",
			     "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=r;"
			     "SharedAccessKey=k\n",
			     0600);
	setenv("CREDENTIALS_DIRECTORY", g_dir, 1);
	if (load_config(item) != 0) {
		fprintf(stderr, "%s", item);
		want_error("(none expected)", NULL);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	free(cred);
	aw_error_list_free(&g_errs);
	aw_test_rmtree(g_dir);
	free(g_dir);
	free(item);
	free(text);
	free(src);
}
END_TEST

/* AW_TEST_ONLY=<test name> runs one test (the Check runner selects suites and cases). */
#define ADD(tc, fn)                                                                                \
	do {                                                                                       \
		const char *only_ = getenv("AW_TEST_ONLY");                                        \
		if (!only_ || strcmp(only_, #fn) == 0)                                             \
			tcase_add_test(tc, fn);                                                    \
	} while (0)

static Suite *in_eventhubs_suite(void)
{
	Suite *s = suite_create("in_eventhubs");
	TCase *tc = tcase_create("streaming");
	TCase *cc = tcase_create("config");

	tcase_set_timeout(tc, 90);
	ADD(tc, documents_raise_the_same_alerts_as_the_file_input);
	ADD(tc, offsets_are_committed_only_once_durable);
	ADD(tc, slow_output_does_not_hold_commits_and_loses_nothing);
	ADD(tc, rebalance_keeps_events_in_flight_without_reading_them_twice);
	ADD(tc, restart_resumes_from_the_committed_offset);
	ADD(tc, two_instances_share_partitions_and_a_leaving_one_loses_nothing);
	ADD(tc, two_stage_mode_keeps_correlation_counts_of_a_single_instance);
	ADD(tc, malformed_messages_are_counted_logged_and_skipped);
	ADD(tc, readyz_follows_the_brokers);
	ADD(tc, back_pressure_pauses_partitions_and_lag_shows_the_rest);
	/* a measurement, not a check: tests/bench runs it (AW_BENCH=1) */
	if (getenv("AW_BENCH"))
		ADD(tc, throughput_with_the_rule_pack);
	ADD(tc, entra_tokens_are_handed_to_librdkafka);
	ADD(cc, token_claims_and_scope);
	ADD(cc, config_errors_name_the_setting);
	ADD(cc, documented_example_loads);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, cc);
	return s;
}

AW_TEST_MAIN(in_eventhubs_suite)
