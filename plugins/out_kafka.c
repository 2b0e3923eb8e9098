/* out_kafka: alerts to a Kafka topic (or an Azure Event Hub through its Kafka endpoint).
 *
 * A batch is confirmed only by librdkafka's delivery reports: AW_DONE when every message
 * of the batch has a successful report, AW_RETRY as soon as all reports are in and one
 * failed (the pipeline resends the whole batch; the duplicates carry the same AlertId).
 * Messages are produced with acks=all and enable.idempotence=true, so what librdkafka
 * retries by itself is neither duplicated nor reordered. When librdkafka's queue is full
 * the rest of the batch is produced after the next delivery reports, never by waiting.
 * A fatal librdkafka error (the idempotent producer can raise one) retires the producer
 * and creates another; the batch in flight is answered AW_RETRY.
 *
 * The message key picks the partition, so one entity's alerts stay in order: by default
 * the alert's primary entity (the record's key, computed by the alert builder: the
 * identity or account that acted, else the client IP, else the resource, else the rule
 * id). Records without a key (forwarded events, say) get the same choice read back from
 * their JSON. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_common.h"
#include "plugin.h"

/* Pause before replacing a producer that failed fatally; doubles up to the maximum. */
#define RESTART_DELAY_MIN_MS 1000
#define RESTART_DELAY_MAX_MS 60000

enum out_kafka_key { KEY_ENTITY, KEY_ALERT_ID, KEY_RULE, KEY_NONE };
enum out_kafka_codec { CODEC_AUTO, CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD };

static const char *const key_choices[] = {"entity", "alert_id", "rule", "none", NULL};
static const char *const codec_choices[] = {"auto", "none", "gzip", "snappy", "lz4", "zstd", NULL};

struct out_kafka_conf {
	struct aw_strlist brokers;
	char *topic;
	int key;
	int compression;
	uint64_t message_timeout_ms;
	uint64_t close_timeout_ms;
	struct aw_strlist rdkafka;
	struct aw_kafka_secrets secrets;
};

static const struct aw_option out_kafka_options[] = {
    AW_OPT_LIST("brokers", struct out_kafka_conf, brokers, AW_OPT_REQUIRED,
		"bootstrap brokers as host:port, a list or one comma-separated string; "
		"for Event Hubs <namespace>.servicebus.windows.net:9093"),
    AW_OPT_STR("topic", struct out_kafka_conf, topic, NULL, AW_OPT_REQUIRED,
	       "topic the alerts are written to (on Event Hubs: the event hub)"),
    AW_OPT_CHOICE("key", struct out_kafka_conf, key, "entity", key_choices,
		  "message key, which picks the partition: entity (the alert's primary "
		  "entity: identity or account, else client IP, else resource, else rule "
		  "id; one entity's alerts stay in order on one partition), alert_id, "
		  "rule (the rule id) or none"),
    AW_OPT_CHOICE("compression", struct out_kafka_conf, compression, "auto", codec_choices,
		  "auto: gzip for Event Hubs (the only codec it accepts), else lz4 "
		  "(every broker since Kafka 0.10 reads it; zstd needs 2.1)"),
    AW_OPT_DUR("message_timeout", struct out_kafka_conf, message_timeout_ms, "2m", 1000, 86400000,
	       "how long librdkafka retries a message by itself before the batch goes "
	       "back to the pipeline's backoff (message.timeout.ms)"),
    AW_OPT_DUR("close_timeout", struct out_kafka_conf, close_timeout_ms, "2s", 0, 60000,
	       "on shutdown or removal, how long messages already sent may finish before "
	       "the rest is purged (unconfirmed alerts are sent again after a restart)"),
    AW_OPT_LIST("rdkafka", struct out_kafka_conf, rdkafka, 0,
		"librdkafka properties as name=value, passed as they are "
		"(security.protocol=SASL_SSL, sasl.mechanism=PLAIN, sasl.username=..., "
		"ssl.ca.location=...); secrets go in rdkafka_secrets"),
    AW_OPT_SUB("rdkafka_secrets", struct out_kafka_conf, secrets, aw_kafka_secret_options,
	       "secret librdkafka properties, each {file: PATH}, {credential: NAME} or "
	       "{env: VAR}"),
    AW_OPT_END,
};

/* What `rdkafka:` may not set, and why. */
static const struct aw_kafka_reserved out_kafka_reserved[] = {
    {"bootstrap.servers", "use brokers"},
    {"metadata.broker.list", "use brokers"},
    {"compression.codec", "use compression"},
    {"compression.type", "use compression"},
    {"message.timeout.ms", "use message_timeout"},
    {"delivery.timeout.ms", "use message_timeout"},
    {"acks", "acks=all with enable.idempotence=true is fixed: nothing lost, nothing "
	     "reordered"},
    {"request.required.acks", "acks=all with enable.idempotence=true is fixed: nothing "
			      "lost, nothing reordered"},
    {"enable.idempotence", "acks=all with enable.idempotence=true is fixed: nothing lost, "
			   "nothing reordered"},
    {"transactional.id", "transactions are not used (Event Hubs does not support them)"},
    {"log.queue", "log lines must come out on the event loop"},
    {"enabled_events", "aiwatch serves librdkafka's callbacks itself"},
    {"statistics.interval.ms", "statistics tell /readyz whether a broker is up"},
    {"plugin.library.paths", "aiwatch does not load librdkafka plugins"},
    {NULL, NULL},
};

struct out_kafka {
	struct aw_plugin_ctx *ctx;
	const struct out_kafka_conf *conf;
	rd_kafka_conf_t *tmpl;	    /* every producer is made from a copy */
	struct aw_kafka_client *kc; /* NULL between a fatal error and the next producer */
	unsigned closing_handles;   /* producers still closing, and the timer */
	bool restart_pending;	    /* fatal error seen inside a drain */
	char fatal_reason[256];
	uv_timer_t restart_timer;  /* makes the next producer after a fatal error */
	uint64_t restart_delay_ms; /* doubles while producers keep failing fatally */
	bool closing;
	void (*closed)(struct aw_plugin_ctx *ctx);

	/* The batch being delivered. Message opaques carry gen, so a report that
	 * belongs to an earlier batch is recognised and ignored. */
	struct aw_batch *batch;
	uintptr_t gen;
	size_t next;	    /* next record to produce */
	size_t outstanding; /* produced, no report yet */
	size_t ok, failed;
	bool too_large;
	char err[256]; /* the first failure */

	struct aw_metric *m_delivered, *m_failed, *m_too_large, *m_inflight, *m_restarts;
	struct aw_metric *m_queue_full, *m_brokers_up;
};

/* snprintf that may cut the text (messages only), without truncation warnings. */
__attribute__((format(printf, 3, 4))) static void fmt(char *dst, size_t sz, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	if (vsnprintf(dst, sz, f, ap) < 0)
		dst[0] = '\0';
	va_end(ap);
}

/* --- message keys -------------------------------------------------------------------- */

static const char *json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The primary entity of an alert's JSON, with the precedence the alert builder uses
 * for the record key: identity or account, else ip, else ResourceId, else RuleId. */
static const char *entity_key(struct json_object *root)
{
	static const char *const order[][2] = {{"identity", "account"}, {"ip", NULL}};
	struct json_object *ents;
	const char *s;

	if (json_object_object_get_ex(root, "Entities", &ents) &&
	    json_object_is_type(ents, json_type_array)) {
		size_t n = json_object_array_length(ents);
		for (size_t pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i < n; i++) {
				struct json_object *e = json_object_array_get_idx(ents, i);
				const char *t = json_str(e, "Type"), *v = json_str(e, "Value");
				if (!t || !v || !*v)
					continue;
				if (strcmp(t, order[pass][0]) == 0 ||
				    (order[pass][1] && strcmp(t, order[pass][1]) == 0))
					return v;
			}
		}
	}
	if ((s = json_str(root, "ResourceId")) && *s)
		return s;
	return json_str(root, "RuleId");
}

/* The key for rec, or NULL for none; *owned is set when the caller must free it. */
static const char *record_key(const struct out_kafka *o, const struct aw_record *rec, char **owned)
{
	struct json_tokener *tok;
	struct json_object *root;
	const char *k = NULL;

	*owned = NULL;
	switch (o->conf->key) {
	case KEY_NONE:
		return NULL;
	case KEY_ENTITY:
		if (rec->key)
			return rec->key;
		break;
	case KEY_ALERT_ID:
		if (rec->id)
			return rec->id;
		break;
	default:
		break;
	}
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	root = json_tokener_parse_ex(tok, rec->data, (int)rec->len);
	json_tokener_free(tok);
	if (!root)
		return NULL;
	if (json_object_is_type(root, json_type_object)) {
		k = o->conf->key == KEY_ENTITY	   ? entity_key(root)
		    : o->conf->key == KEY_ALERT_ID ? json_str(root, "AlertId")
						   : json_str(root, "RuleId");
		if (k)
			k = *owned = strdup(k);
	}
	json_object_put(root);
	return k;
}

/* --- the batch ------------------------------------------------------------------------ */

static void note_failure(struct out_kafka *o, rd_kafka_resp_err_t err)
{
	o->failed++;
	if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
		o->too_large = true;
		aw_metric_inc(o->m_too_large);
	} else {
		aw_metric_inc(o->m_failed);
	}
	if (!o->err[0])
		fmt(o->err, sizeof o->err, "Kafka delivery failed: %s: %s", rd_kafka_err2name(err),
		    rd_kafka_err2str(err));
}

/* Answer the batch once nothing of it is left in librdkafka. */
static void maybe_finish(struct out_kafka *o)
{
	struct aw_batch *b = o->batch;
	char reason[320];

	if (!b || o->outstanding)
		return;
	if (!o->failed && o->next < b->n)
		return; /* the queue was full: the rest is produced on the next drain */
	o->batch = NULL;
	aw_metric_set(o->m_inflight, 0);
	if (!o->failed) {
		aw_output_done(o->ctx, b, AW_DONE, 0, NULL);
		return;
	}
	if (o->too_large) {
		aw_output_done(o->ctx, b, AW_RETRY, 0, AW_REASON_TOO_LARGE);
		return;
	}
	fmt(reason, sizeof reason, "%s (%zu of %zu messages not confirmed)", o->err, b->n - o->ok,
	    b->n);
	aw_output_done(o->ctx, b, AW_RETRY, 0, reason);
}

static void restart_producer(struct out_kafka *o, const char *reason);

/* Produce until the batch is out, librdkafka's queue is full, or a message fails (the
 * whole batch is retried then, so producing the rest would only add duplicates). */
static void produce_more(struct out_kafka *o)
{
	struct aw_batch *b = o->batch;
	rd_kafka_t *rk = o->kc ? aw_kafka_client_rk(o->kc) : NULL;

	while (b && rk && o->next < b->n && !o->failed) {
		const struct aw_record *rec = &b->records[o->next];
		char *owned;
		const char *key = record_key(o, rec, &owned);
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(o->conf->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_VALUE(rec->data, rec->len),
		    RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_OPAQUE((void *)o->gen),
		    RD_KAFKA_V_END);
		free(owned);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			aw_metric_inc(o->m_queue_full);
			/* Full with nothing of ours in it: this message alone is larger
			 * than queue.buffering.max.kbytes, and no report will make room.
			 * Too large, then: the pipeline splits the batch down to it and
			 * dead-letters it, instead of retrying it for ever. */
			if (o->outstanding == 0)
				note_failure(o, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
			break;
		}
		if (err == RD_KAFKA_RESP_ERR__FATAL) {
			char why[256];
			rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
			fmt(o->fatal_reason, sizeof o->fatal_reason, "%s: %s",
			    rd_kafka_err2name(orig), why);
			restart_producer(o, o->fatal_reason);
			return;
		}
		if (err) {
			note_failure(o, err);
			break;
		}
		o->next++;
		o->outstanding++;
	}
	aw_metric_set(o->m_inflight, (double)o->outstanding);
}

static void on_delivered(void *ud, const rd_kafka_message_t *m)
{
	struct out_kafka *o = ud;

	if (!o->batch || (uintptr_t)m->_private != o->gen)
		return; /* a batch already answered */
	o->outstanding--;
	if (m->err) {
		/* not rd_kafka_message_errstr(): for a report that is the payload */
		note_failure(o, m->err);
		return;
	}
	o->ok++;
	o->restart_delay_ms = RESTART_DELAY_MIN_MS;
	aw_metric_inc(o->m_delivered);
}

static void on_fatal(void *ud, const char *reason)
{
	struct out_kafka *o = ud;

	o->restart_pending = true;
	fmt(o->fatal_reason, sizeof o->fatal_reason, "%s", reason);
}

static void on_served(void *ud)
{
	struct out_kafka *o = ud;

	if (o->restart_pending) {
		restart_producer(o, o->fatal_reason);
		return;
	}
	aw_metric_set(o->m_brokers_up, o->kc ? aw_kafka_client_brokers_up(o->kc) : 0);
	produce_more(o);
	maybe_finish(o);
}

/* --- producers ------------------------------------------------------------------------ */

static const struct aw_kafka_client_ops out_kafka_ops = {
    .delivered = on_delivered,
    .served = on_served,
    .fatal = on_fatal,
};

static int create_producer(struct out_kafka *o, struct aw_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(o->tmpl);

	uv_timer_stop(&o->restart_timer);
	if (!conf)
		return aw_error_set(err, "out of memory");
	return aw_kafka_client_new(aw_ctx_loop(o->ctx), RD_KAFKA_PRODUCER, conf,
				   aw_ctx_name(o->ctx), &out_kafka_ops, o, &o->kc, err);
}

static void finish_close(struct out_kafka *o)
{
	void (*closed)(struct aw_plugin_ctx *) = o->closed;
	struct aw_plugin_ctx *ctx = o->ctx;

	aw_metric_set(o->m_inflight, 0);
	aw_metric_set(o->m_brokers_up, 0);
	rd_kafka_conf_destroy(o->tmpl);
	free(o);
	closed(ctx);
}

static void closed_one(struct out_kafka *o)
{
	if (--o->closing_handles == 0 && o->closing)
		finish_close(o);
}

static void producer_retired(void *ud)
{
	closed_one(ud);
}

static void timer_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

static void retire_producer(struct out_kafka *o, uint64_t drain_ms)
{
	struct aw_kafka_client *kc = o->kc;

	o->kc = NULL;
	if (!kc)
		return;
	o->closing_handles++;
	aw_kafka_client_close(kc, drain_ms, producer_retired, o);
}

static void restart_timer_cb(uv_timer_t *t)
{
	struct out_kafka *o = t->data;
	struct aw_error err;

	if (o->kc)
		return;
	if (create_producer(o, &err) != 0)
		aw_log(AW_LOG_ERR, "out_kafka",
		       "cannot create a Kafka producer; the next batch tries again",
		       AW_S("output", aw_ctx_name(o->ctx)), AW_S("error", err.msg));
}

/* The idempotent producer cannot go on after a fatal error (fluent-bit #9495 lost data
 * there): retire it, purging its messages, and answer the batch AW_RETRY. The next
 * producer is made by the next batch (paced by the pipeline's backoff) or by a timer
 * whose delay doubles while producers keep failing, so a broker that fails every new
 * producer (say, authorization) does not make us spawn one after another. */
static void restart_producer(struct out_kafka *o, const char *reason)
{
	struct aw_batch *b = o->batch;

	o->restart_pending = false;
	aw_metric_inc(o->m_restarts);
	aw_log(AW_LOG_ERR, "out_kafka", "Kafka producer failed fatally; replacing it",
	       AW_S("output", aw_ctx_name(o->ctx)), AW_S("error", reason),
	       AW_U("delay_ms", o->restart_delay_ms));
	retire_producer(o, 0);
	uv_timer_start(&o->restart_timer, restart_timer_cb, o->restart_delay_ms, 0);
	o->restart_delay_ms = o->restart_delay_ms * 2 > RESTART_DELAY_MAX_MS
				  ? RESTART_DELAY_MAX_MS
				  : o->restart_delay_ms * 2;
	o->batch = NULL;
	aw_metric_set(o->m_inflight, 0);
	if (b) {
		char msg[320];
		fmt(msg, sizeof msg, "Kafka producer fatal error (%s); a new producer takes over",
		    reason);
		aw_output_done(o->ctx, b, AW_RETRY, 0, msg);
	}
}

/* --- plugin callbacks ------------------------------------------------------------------ */

static void out_kafka_submit(void *state, struct aw_batch *b)
{
	struct out_kafka *o = state;
	struct aw_error err;

	if (!o->kc && create_producer(o, &err) != 0) {
		aw_output_done(o->ctx, b, AW_RETRY, 0, err.msg);
		return;
	}
	o->batch = b;
	o->gen++;
	o->next = o->outstanding = o->ok = o->failed = 0;
	o->too_large = false;
	o->err[0] = '\0';
	produce_more(o);
	maybe_finish(o);
}

static int out_kafka_ready(void *state, char *why, size_t whysz)
{
	struct out_kafka *o = state;

	if (!o->kc) {
		snprintf(why, whysz, "no Kafka producer (being replaced after a fatal error)");
		return 0;
	}
	return aw_kafka_client_ready(o->kc, why, whysz);
}

static const char *codec_name(const struct out_kafka_conf *c, const char *brokers)
{
	if (c->compression != CODEC_AUTO)
		return codec_choices[c->compression];
	if (aw_kafka_is_event_hubs(brokers))
		return "gzip";
	return aw_kafka_has_feature("lz4") ? "lz4" : "gzip";
}

/* The producer configuration: ours, then Event Hubs' needs, then the user's. */
static rd_kafka_conf_t *build_conf(const struct out_kafka_conf *c, const char *name,
				   struct aw_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char *brokers = NULL, timeout[32], client_id[160];
	int rc = -1;

	if (!conf || !(brokers = aw_kafka_join_brokers(&c->brokers, NULL))) {
		aw_error_set(err, "out of memory");
		goto out;
	}
	snprintf(timeout, sizeof timeout, "%llu", (unsigned long long)c->message_timeout_ms);
	snprintf(client_id, sizeof client_id, "aiwatchd-%s", name);
	const char *const settings[][2] = {
	    {"bootstrap.servers", brokers},
	    {"client.id", client_id},
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	    {"compression.codec", codec_name(c, brokers)},
	    {"message.timeout.ms", timeout},
	    /* the Java client's partitioner: a key lands where Java producers put it */
	    {"partitioner", "murmur2_random"},
	    /* idle disconnects are routine (Event Hubs: after 240 s) */
	    {"log.connection.close", "false"},
	};
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if (aw_kafka_conf_set(conf, settings[i][0], settings[i][1], err) != 0)
			goto out;
	if (aw_kafka_is_event_hubs(brokers) && aw_kafka_event_hubs_defaults(conf, err) != 0)
		goto out;
	if (aw_kafka_apply_properties(conf, &c->rdkafka, &c->secrets, err) != 0)
		goto out;
	rc = 0;
out:
	free(brokers);
	if (rc != 0 && conf) {
		rd_kafka_conf_destroy(conf);
		conf = NULL;
	}
	return conf;
}

static int out_kafka_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
			  struct aw_error *err)
{
	struct out_kafka *o = calloc(1, sizeof *o);
	struct aw_metrics *m = aw_ctx_metrics(ctx);
	const char *name = aw_ctx_name(ctx);
	const char *msgs = "aiwatch_kafka_messages_total";
	const char *msgs_help = "Kafka messages by delivery report outcome";

	if (!o)
		return aw_error_set(err, "out of memory");
	o->ctx = ctx;
	o->conf = conf;
	o->restart_delay_ms = RESTART_DELAY_MIN_MS;
	o->tmpl = build_conf(conf, name, err);
	if (!o->tmpl) {
		free(o);
		return -1;
	}
	uv_timer_init(aw_ctx_loop(ctx), &o->restart_timer);
	o->restart_timer.data = o;
	o->m_delivered = aw_metric_get(m, AW_METRIC_COUNTER, msgs, msgs_help, "output", name,
				       "result", "delivered", NULL);
	o->m_failed = aw_metric_get(m, AW_METRIC_COUNTER, msgs, msgs_help, "output", name, "result",
				    "failed", NULL);
	o->m_too_large = aw_metric_get(m, AW_METRIC_COUNTER, msgs, msgs_help, "output", name,
				       "result", "too_large", NULL);
	o->m_inflight = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_kafka_inflight_messages",
				      "Messages handed to librdkafka and not yet confirmed",
				      "output", name, NULL);
	o->m_restarts = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_kafka_producer_restarts_total",
				      "Producers replaced after a fatal librdkafka error", "output",
				      name, NULL);
	o->m_queue_full = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_kafka_queue_full_total",
					"Times librdkafka's queue was full (the rest of the batch "
					"waited for delivery reports)",
					"output", name, NULL);
	o->m_brokers_up = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_kafka_brokers_up",
					"Kafka brokers with a connection up", "output", name, NULL);
	*state = o;
	return 0;
}

static int out_kafka_start(void *state, struct aw_error *err)
{
	struct out_kafka *o = state;

	return o->kc ? 0 : create_producer(o, err);
}

static void out_kafka_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct out_kafka *o = state;

	o->closing = true;
	o->closed = closed;
	o->batch = NULL; /* abandoned: the pipeline keeps it */
	o->restart_pending = false;
	retire_producer(o, o->conf->close_timeout_ms);
	o->closing_handles++;
	uv_close((uv_handle_t *)&o->restart_timer, timer_closed);
}

static bool topic_name_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int out_kafka_validate(const void *conf, const char *where, struct aw_error_list *errs)
{
	const struct out_kafka_conf *c = conf;
	size_t before = aw_error_list_count(errs), nbrokers = 0;
	char *brokers = aw_kafka_join_brokers(&c->brokers, &nbrokers);

	if (!brokers)
		return aw_error_list_add(errs, "%s: out of memory", where);
	if (nbrokers == 0)
		aw_error_list_add(errs,
				  "%s.brokers: needs at least one host:port, and no empty "
				  "entry",
				  where);
	if (c->topic && !topic_name_ok(c->topic))
		aw_error_list_add(errs,
				  "%s.topic: '%.64s' is not a Kafka topic name (1 to 249 of "
				  "letters, digits, '.', '_' and '-')",
				  where, c->topic);
	if (aw_kafka_is_event_hubs(brokers)) {
		if (c->compression != CODEC_AUTO && c->compression != CODEC_NONE &&
		    c->compression != CODEC_GZIP)
			aw_error_list_add(errs,
					  "%s.compression: Event Hubs accepts only gzip or none, "
					  "not %s",
					  where, codec_choices[c->compression]);
		aw_kafka_check_event_hubs(&c->rdkafka, where, "rdkafka", errs);
	}
	if (c->compression > CODEC_GZIP && !aw_kafka_has_feature(codec_choices[c->compression]))
		aw_error_list_add(errs, "%s.compression: this librdkafka was built without %s",
				  where, codec_choices[c->compression]);
	aw_kafka_validate_properties(&c->rdkafka, &c->secrets, out_kafka_reserved, where, "rdkafka",
				     errs);
	/* Each piece is fine: now the whole producer configuration, as init builds it. */
	if (aw_error_list_count(errs) == before) {
		struct aw_error err;
		rd_kafka_conf_t *whole = build_conf(c, "check", &err);
		if (!whole)
			aw_error_list_add(errs, "%s: %s", where, err.msg);
		else
			rd_kafka_conf_destroy(whole);
	}
	free(brokers);
	return aw_error_list_count(errs) == before ? 0 : -1;
}

const struct aw_plugin_desc aw_out_kafka = {
    .abi = AW_PLUGIN_ABI,
    .name = "kafka",
    .kind = AW_PLUGIN_OUTPUT,
    .summary = "produces alerts to a Kafka topic or an Event Hub, confirmed by delivery "
	       "reports",
    .options = out_kafka_options,
    .conf_size = sizeof(struct out_kafka_conf),
    .validate = out_kafka_validate,
    .init = out_kafka_init,
    .start = out_kafka_start,
    .submit = out_kafka_submit,
    .ready = out_kafka_ready,
    .close = out_kafka_close,
    .max_batch_records = 1000,
};
