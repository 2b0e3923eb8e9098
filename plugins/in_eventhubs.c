/* The `eventhubs` input: diagnostic settings streamed to Azure Event Hubs, read through
 * its Kafka endpoint (any Kafka cluster works the same way).
 *
 * A librdkafka consumer in a consumer group, served on the loop (kafka_client.c). Each
 * message is a diagnostic-settings document {"records":[...]} (or one Log Analytics
 * record, as the two-stage mode's internal topic carries); aw_records_parse maps it to
 * Log Analytics columns exactly as the file input does, and every event goes to the
 * pipeline. Back-pressure pauses the assigned partitions; resume() resumes them.
 *
 * Offsets: never committed automatically. A message's offset is committed only when
 * every event of it and of every earlier message of its partition is durable (in every
 * output's spool): eh_offsets.c keeps the marks. A malformed message is counted,
 * logged with topic/partition/offset, and skipped; its offset is committed with the
 * messages around it. So a crash reads again at most what was not yet durable
 * (at-least-once; a re-read event yields the same AlertIds).
 *
 * Scale-out: instances in one group share the partitions. The default assignor is
 * roundrobin, an eager one: every rebalance revokes every partition. On a revocation
 * what is durable is committed at once and the rest is dropped (the next owner reads
 * it from the committed offset: events still in flight here may be evaluated twice,
 * never lost); partitions whose ownership was already lost commit nothing. An
 * assigned partition starts at its committed offset (start_at when the group has
 * none). The cooperative protocol (rdkafka: partition.assignment.strategy=
 * cooperative-sticky) works the same way for the partitions that move, and leaves
 * the others flowing; it is not the default because librdkafka's mock cluster, which
 * the tests run against, and older librdkafka releases rebalance it less reliably. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/records.h"
#include "eh.h"

#define TICK_MIN_MS	     10
#define ERR_LOG_EVERY_MS     60000
#define SKIP_LOG_FIRST	     10
#define SKIP_LOG_EVERY	     1000
#define RESTART_DELAY_MIN_MS 1000
#define RESTART_DELAY_MAX_MS 60000

static const char *in_name(const struct aw_eh *in)
{
	return aw_ctx_name(in->ctx);
}

static rd_kafka_t *rk_of(struct aw_eh *in)
{
	return in->kc ? aw_kafka_client_rk(in->kc) : NULL;
}

void aw_eh_origin(const rd_kafka_message_t *m, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s/%d@%lld", m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
		 (int)m->partition, (long long)m->offset);
}

void aw_eh_skip(struct aw_eh *in, struct aw_eh_part *p, const rd_kafka_message_t *m, size_t n,
		const char *why)
{
	bool log = false;

	for (size_t i = 0; i < n; i++) {
		aw_input_skipped(in->ctx, "malformed");
		p->bad++;
		if (p->bad <= SKIP_LOG_FIRST || p->bad % SKIP_LOG_EVERY == 0)
			log = true;
	}
	if (log)
		aw_log(AW_LOG_WARN, "in_eventhubs", "malformed message skipped",
		       AW_S("input", in_name(in)), AW_S("topic", p->topic),
		       AW_I("partition", p->partition), AW_I("offset", m->offset),
		       AW_S("reason", why), AW_U("records", n),
		       AW_U("skipped_in_partition", p->bad));
}

/* --- partitions -------------------------------------------------------------------- */

static rd_kafka_topic_partition_list_t *assigned_list(struct aw_eh *in)
{
	rd_kafka_topic_partition_list_t *l =
	    rd_kafka_topic_partition_list_new(in->parts.n ? (int)in->parts.n : 1);

	for (size_t i = 0; l && i < in->parts.n; i++)
		if (in->parts.v[i].assigned)
			rd_kafka_topic_partition_list_add(l, in->parts.v[i].topic,
							  in->parts.v[i].partition);
	return l;
}

/* Stop (or start again) fetching every assigned partition. Messages already fetched
 * for a paused partition are not delivered: librdkafka fetches again from the last one
 * handed over when it resumes. */
static void set_fetching(struct aw_eh *in, const rd_kafka_topic_partition_list_t *only, bool on)
{
	rd_kafka_topic_partition_list_t *l = only ? NULL : assigned_list(in);
	const rd_kafka_topic_partition_list_t *which = only ? only : l;
	rd_kafka_t *rk = rk_of(in);

	if (rk && which && which->cnt > 0) {
		rd_kafka_topic_partition_list_t *copy = rd_kafka_topic_partition_list_copy(which);
		if (copy) {
			if (on)
				rd_kafka_resume_partitions(rk, copy);
			else
				rd_kafka_pause_partitions(rk, copy);
			rd_kafka_topic_partition_list_destroy(copy);
		}
	}
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
}

void aw_eh_set_fetching(struct aw_eh *in, bool on)
{
	set_fetching(in, NULL, on);
}

static size_t count_assigned(const struct aw_eh *in)
{
	size_t n = 0;

	for (size_t i = 0; i < in->parts.n; i++)
		n += in->parts.v[i].assigned;
	return n;
}

/* --- commits ----------------------------------------------------------------------- */

/* Commit what is durable (in `only`, or every assigned partition). Asynchronous: the
 * answer comes through on_committed(); a failure is committed again on the next tick. */
static void commit_durable(struct aw_eh *in, const rd_kafka_topic_partition_list_t *only)
{
	rd_kafka_t *rk = rk_of(in);
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;

	if (!rk || !(l = aw_eh_commit_list(&in->parts, only)))
		return;
	err = rd_kafka_commit(rk, l, 1);
	if (err) {
		aw_metric_inc(in->m_commit_failed);
		aw_log(AW_LOG_WARN, "in_eventhubs", "cannot commit offsets; trying again",
		       AW_S("input", in_name(in)), AW_S("error", rd_kafka_err2str(err)));
		aw_eh_commit_failed(&in->parts, l);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

static bool rebalance_error(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
	       e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
	       e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR__STATE;
}

static void on_committed(void *ud, rd_kafka_resp_err_t err,
			 const rd_kafka_topic_partition_list_t *offs)
{
	struct aw_eh *in = ud;
	rd_kafka_resp_err_t first = err;

	for (int i = 0; !first && offs && i < offs->cnt; i++)
		first = offs->elems[i].err;
	if (!first || first == RD_KAFKA_RESP_ERR__NO_OFFSET) {
		aw_metric_inc(in->m_commit_ok);
		return;
	}
	aw_metric_inc(in->m_commit_failed);
	if (err) {
		aw_eh_commit_failed(&in->parts, offs);
	} else {
		rd_kafka_topic_partition_list_t *bad = rd_kafka_topic_partition_list_new(offs->cnt);
		for (int i = 0; bad && i < offs->cnt; i++)
			if (offs->elems[i].err)
				rd_kafka_topic_partition_list_add(bad, offs->elems[i].topic,
								  offs->elems[i].partition)
				    ->offset = offs->elems[i].offset;
		aw_eh_commit_failed(&in->parts, bad ? bad : offs);
		if (bad)
			rd_kafka_topic_partition_list_destroy(bad);
	}
	/* During a rebalance a commit may be refused: the partition's next owner reads
	 * from the last commit that went through. */
	aw_log(rebalance_error(first) ? AW_LOG_INFO : AW_LOG_WARN, "in_eventhubs",
	       "offset commit failed; what is durable is committed again",
	       AW_S("input", in_name(in)), AW_S("error", rd_kafka_err2str(first)));
}

static void tick_cb(uv_timer_t *t)
{
	struct aw_eh *in = t->data;

	commit_durable(in, NULL);
	aw_metric_set(in->m_brokers_up, in->kc ? aw_kafka_client_brokers_up(in->kc) : 0);
	aw_metric_set(in->m_assigned, (double)count_assigned(in));
	aw_eh_lag_tick(in);
}

/* --- messages ---------------------------------------------------------------------- */

static int on_event(void *ud, const struct aw_event *ev)
{
	struct aw_eh *in = ud;
	bool pause = false;

	in->last_seq = aw_input_emit(in->ctx, ev, &pause);
	aw_metric_inc(in->m_records);
	if (pause)
		in->paused = true;
	return 0;
}

static void consumer_error(struct aw_eh *in, const rd_kafka_message_t *m)
{
	uint64_t now = uv_now(in->loop);

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return;
	if (m->err == in->last_err && now - in->last_err_ms < ERR_LOG_EVERY_MS)
		return;
	in->last_err = m->err;
	in->last_err_ms = now;
	aw_log(AW_LOG_WARN, "in_eventhubs", "Kafka consumer error", AW_S("input", in_name(in)),
	       AW_S("topic", m->rkt ? rd_kafka_topic_name(m->rkt) : ""),
	       AW_I("partition", m->partition), AW_S("error", rd_kafka_err2name(m->err)),
	       AW_S("reason", rd_kafka_message_errstr(m)));
}

static void on_consumed(void *ud, const rd_kafka_message_t *m)
{
	struct aw_eh *in = ud;
	struct aw_eh_part *p;
	struct aw_error err = {{0}};
	char origin[320];
	size_t bad = 0;
	bool was_paused = in->paused;
	int r;

	if (m->err) {
		consumer_error(in, m);
		return;
	}
	p = m->rkt ? aw_eh_part_find(&in->parts, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
	/* Not ours (any more), or stopping: whoever owns it next reads it again. */
	if (!p || !p->assigned || in->stopped)
		return;
	if (p->check_first)
		aw_eh_part_first(p, m->offset);
	if (m->offset < p->skip_below)
		return; /* read before this partition was revoked: in flight already */
	aw_metric_inc(in->m_messages);
	aw_metric_add(in->m_bytes, (double)m->len);
	if (in->rp) {
		aw_eh_repart_message(in->rp, p, m);
		return;
	}
	aw_eh_origin(m, origin, sizeof origin);
	r = aw_records_parse(m->payload ? m->payload : "", m->len, origin, on_event, in, &bad,
			     &err);
	if (r < 0)
		aw_eh_skip(in, p, m, 1, err.msg);
	else if (bad)
		aw_eh_skip(in, p, m, bad, err.msg);
	aw_eh_part_mark(p, in->last_seq, m->offset + 1, in->durable_seq);
	if (in->paused && !was_paused)
		set_fetching(in, NULL, false);
}

/* --- rebalances -------------------------------------------------------------------- */

static void on_assigned(void *ud, const rd_kafka_topic_partition_list_t *parts)
{
	struct aw_eh *in = ud;

	aw_metric_inc(in->m_assign);
	for (int i = 0; i < parts->cnt; i++) {
		struct aw_eh_part *p =
		    aw_eh_part_get(&in->parts, parts->elems[i].topic, parts->elems[i].partition);
		if (!p) {
			/* Never read, so never committed: another instance, or a restart,
			 * reads it. */
			aw_log(AW_LOG_ERR, "in_eventhubs",
			       "too many partitions (or out of memory); partition not read",
			       AW_S("input", in_name(in)), AW_S("topic", parts->elems[i].topic),
			       AW_I("partition", parts->elems[i].partition));
			continue;
		}
		if (p->parked && !in->rp)
			aw_eh_part_unpark(p);
		else
			aw_eh_part_reset(p, true);
	}
	if (in->paused || in->stopped || (in->rp && aw_eh_repart_blocked(in->rp)))
		set_fetching(in, parts, false);
	aw_metric_set(in->m_assigned, (double)count_assigned(in));
	aw_log(AW_LOG_INFO, "in_eventhubs", "partitions assigned", AW_S("input", in_name(in)),
	       AW_I("count", parts->cnt), AW_U("owned", count_assigned(in)));
}

static void on_revoked(void *ud, const rd_kafka_topic_partition_list_t *parts, bool lost)
{
	struct aw_eh *in = ud;

	aw_metric_inc(lost ? in->m_lost : in->m_revoke);
	if (!lost)
		commit_durable(in, parts);
	for (int i = 0; i < parts->cnt; i++) {
		struct aw_eh_part *p =
		    aw_eh_part_find(&in->parts, parts->elems[i].topic, parts->elems[i].partition);
		if (!p)
			continue;
		if (in->rp) {
			aw_eh_repart_forget(in->rp, p);
			aw_eh_part_reset(p, false);
		} else {
			aw_eh_part_park(p);
		}
		aw_metric_set(p->m_lag, 0);
	}
	aw_metric_set(in->m_assigned, (double)count_assigned(in));
	aw_log(lost ? AW_LOG_WARN : AW_LOG_INFO, "in_eventhubs",
	       lost ? "partitions lost (the group gave them away); events not yet durable are "
		      "read again by the new owner"
		    : "partitions revoked; what is durable was committed",
	       AW_S("input", in_name(in)), AW_I("count", parts->cnt),
	       AW_U("owned", count_assigned(in)));
}

static void on_stats(void *ud, json_object *root)
{
	aw_eh_lag_stats(ud, root);
}

/* --- the consumer -------------------------------------------------------------------- */

static void restart_consumer(struct aw_eh *in, const char *reason);
static void retire_consumer(struct aw_eh *in, uint64_t drain_ms);

static void on_fatal(void *ud, const char *reason)
{
	struct aw_eh *in = ud;

	in->restart_pending = true;
	snprintf(in->fatal_reason, sizeof in->fatal_reason, "%s", reason);
}

static void on_served(void *ud)
{
	struct aw_eh *in = ud;

	if (in->restart_pending)
		restart_consumer(in, in->fatal_reason);
}

static const struct aw_kafka_client_ops eh_ops = {
    .served = on_served,
    .fatal = on_fatal,
    .consumed = on_consumed,
    .assigned = on_assigned,
    .revoked = on_revoked,
    .committed = on_committed,
    .stats = on_stats,
};

static int create_consumer(struct aw_eh *in, struct aw_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(in->tmpl);
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t e;

	uv_timer_stop(&in->restart_timer);
	if (!conf)
		return aw_error_set(err, "out of memory");
	if (aw_kafka_client_new_ex(in->loop, RD_KAFKA_CONSUMER, conf, in_name(in), &eh_ops, in,
				   in->tokens.credential ? &in->tokens : NULL, &in->kc, err) != 0)
		return -1;
	topics = rd_kafka_topic_partition_list_new((int)in->conf->topics.n);
	for (size_t i = 0; topics && i < in->conf->topics.n; i++)
		rd_kafka_topic_partition_list_add(topics, in->conf->topics.v[i],
						  RD_KAFKA_PARTITION_UA);
	e = topics ? rd_kafka_subscribe(aw_kafka_client_rk(in->kc), topics)
		   : RD_KAFKA_RESP_ERR__NOENT;
	if (topics)
		rd_kafka_topic_partition_list_destroy(topics);
	if (e) {
		aw_error_set(err, "cannot subscribe to the topics: %s",
			     topics ? rd_kafka_err2str(e) : "out of memory");
		retire_consumer(in, 0);
		return -1;
	}
	return 0;
}

static void finish_close(struct aw_eh *in)
{
	void (*closed)(struct aw_plugin_ctx *) = in->closed;
	struct aw_plugin_ctx *ctx = in->ctx;

	aw_metric_set(in->m_brokers_up, 0);
	aw_metric_set(in->m_assigned, 0);
	for (size_t i = 0; i < in->parts.n; i++)
		aw_metric_set(in->parts.v[i].m_lag, 0);
	aw_eh_parts_free(&in->parts);
	rd_kafka_conf_destroy(in->tmpl);
	free(in);
	closed(ctx);
}

static void closed_one(struct aw_eh *in)
{
	if (--in->closing_handles == 0 && in->closing)
		finish_close(in);
}

static void consumer_retired(void *ud)
{
	closed_one(ud);
}

static void handle_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

static void repart_closed(struct aw_eh *in)
{
	closed_one(in);
}

/* The consumer goes (in->kc is NULL at once); while a watermark query still uses the
 * handle on the thread pool, the close waits for it (aw_eh_lag_query_done). */
static void retire_consumer(struct aw_eh *in, uint64_t drain_ms)
{
	struct aw_kafka_client *kc = in->kc;

	in->kc = NULL;
	if (!kc)
		return;
	in->closing_handles++;
	if (in->lag_busy) {
		in->kc_retiring = kc;
		in->retire_drain_ms = drain_ms;
		return;
	}
	aw_kafka_client_close(kc, drain_ms, consumer_retired, in);
}

void aw_eh_lag_query_done(struct aw_eh *in)
{
	struct aw_kafka_client *kc = in->kc_retiring;

	if (!kc)
		return;
	in->kc_retiring = NULL;
	aw_kafka_client_close(kc, in->retire_drain_ms, consumer_retired, in);
}

static void restart_timer_cb(uv_timer_t *t)
{
	struct aw_eh *in = t->data;
	struct aw_error err;

	if (in->kc || in->closing)
		return;
	if (create_consumer(in, &err) != 0) {
		aw_log(AW_LOG_ERR, "in_eventhubs", "cannot create a Kafka consumer; trying again",
		       AW_S("input", in_name(in)), AW_S("error", err.msg),
		       AW_U("delay_ms", in->restart_delay_ms));
		retire_consumer(in, 0);
		uv_timer_start(&in->restart_timer, restart_timer_cb, in->restart_delay_ms, 0);
		in->restart_delay_ms = in->restart_delay_ms * 2 > RESTART_DELAY_MAX_MS
					   ? RESTART_DELAY_MAX_MS
					   : in->restart_delay_ms * 2;
	}
}

/* A consumer that failed fatally can do nothing more: its partitions are as good as
 * lost (their events in flight are read again by whoever takes them), and a new
 * consumer joins the group after a pause that doubles while failures repeat. */
static void restart_consumer(struct aw_eh *in, const char *reason)
{
	in->restart_pending = false;
	aw_metric_inc(in->m_restarts);
	aw_log(AW_LOG_ERR, "in_eventhubs", "Kafka consumer failed fatally; replacing it",
	       AW_S("input", in_name(in)), AW_S("error", reason),
	       AW_U("delay_ms", in->restart_delay_ms));
	for (size_t i = 0; i < in->parts.n; i++) {
		if (in->rp && in->parts.v[i].assigned)
			aw_eh_repart_forget(in->rp, &in->parts.v[i]);
		aw_eh_part_reset(&in->parts.v[i], false);
	}
	retire_consumer(in, 0);
	uv_timer_start(&in->restart_timer, restart_timer_cb, in->restart_delay_ms, 0);
	in->restart_delay_ms = in->restart_delay_ms * 2 > RESTART_DELAY_MAX_MS
				   ? RESTART_DELAY_MAX_MS
				   : in->restart_delay_ms * 2;
}

/* --- plugin callbacks ------------------------------------------------------------------ */

static int in_eh_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		      struct aw_error *err)
{
	const struct aw_eh_conf *c = conf;
	struct aw_eh *in = calloc(1, sizeof *in);
	struct aw_metrics *m = aw_ctx_metrics(ctx);
	const char *name = aw_ctx_name(ctx);
	const char *rb = "aiwatch_kafka_consumer_rebalances_total";
	const char *rb_help = "Partitions assigned, revoked, or lost to the group, per rebalance";
	const char *cm = "aiwatch_kafka_consumer_commits_total";
	const char *cm_help = "Offset commits of durable messages, by outcome";

	if (!in)
		return aw_error_set(err, "out of memory");
	in->ctx = ctx;
	in->conf = c;
	in->loop = aw_ctx_loop(ctx);
	in->restart_delay_ms = RESTART_DELAY_MIN_MS;
	if (aw_eh_uses_entra(c, in->scope, sizeof in->scope)) {
		in->tokens.credential = aw_ctx_credential(ctx);
		in->tokens.scope = in->scope;
		if (!in->tokens.credential) {
			free(in);
			return aw_error_set(err, "SASL OAUTHBEARER needs the daemon's Azure "
						 "credential (the azure: section), which is not "
						 "available");
		}
	}
	in->tmpl = aw_eh_consumer_conf(c, name, err);
	if (!in->tmpl) {
		free(in);
		return -1;
	}
	uv_timer_init(in->loop, &in->tick);
	uv_timer_init(in->loop, &in->restart_timer);
	in->tick.data = in->restart_timer.data = in;
	in->m_messages =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_kafka_consumer_messages_total",
			  "Kafka messages read by each input", "input", name, NULL);
	in->m_records = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_kafka_consumer_records_total",
				      "Records (events) read from Kafka messages by each input",
				      "input", name, NULL);
	in->m_bytes = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_input_bytes_total",
				    "Bytes read by each input", "input", name, NULL);
	in->m_assigned =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_kafka_consumer_partitions",
			  "Partitions assigned to each Kafka input", "input", name, NULL);
	in->m_brokers_up =
	    aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_kafka_consumer_brokers_up",
			  "Kafka brokers with a connection up, per input", "input", name, NULL);
	in->m_assign = aw_metric_get(m, AW_METRIC_COUNTER, rb, rb_help, "input", name, "event",
				     "assigned", NULL);
	in->m_revoke = aw_metric_get(m, AW_METRIC_COUNTER, rb, rb_help, "input", name, "event",
				     "revoked", NULL);
	in->m_lost =
	    aw_metric_get(m, AW_METRIC_COUNTER, rb, rb_help, "input", name, "event", "lost", NULL);
	in->m_commit_ok =
	    aw_metric_get(m, AW_METRIC_COUNTER, cm, cm_help, "input", name, "result", "ok", NULL);
	in->m_commit_failed = aw_metric_get(m, AW_METRIC_COUNTER, cm, cm_help, "input", name,
					    "result", "failed", NULL);
	in->m_restarts =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_kafka_consumer_restarts_total",
			  "Consumers replaced after a fatal librdkafka error", "input", name, NULL);
	*state = in;
	return 0;
}

static int in_eh_start(void *state, struct aw_error *err)
{
	struct aw_eh *in = state;
	uint64_t every = in->conf->commit_interval_ms;

	if (in->conf->repartition.rule_set && !in->rp && aw_eh_repart_new(in, &in->rp, err) != 0)
		return -1;
	if (!in->kc && create_consumer(in, err) != 0)
		return -1;
	in->started = true;
	uv_timer_start(&in->tick, tick_cb, every < TICK_MIN_MS ? TICK_MIN_MS : every,
		       every < TICK_MIN_MS ? TICK_MIN_MS : every);
	aw_log(AW_LOG_INFO, "in_eventhubs", "consuming", AW_S("input", in_name(in)),
	       AW_S("group", in->conf->group), AW_U("topics", in->conf->topics.n),
	       AW_S("auth", in->conf->connection_string.value ? "connection_string"
			    : in->tokens.credential	      ? "entra"
							      : "rdkafka"));
	return 0;
}

static void in_eh_durable(void *state, uint64_t seq)
{
	struct aw_eh *in = state;

	if (seq <= in->durable_seq)
		return;
	in->durable_seq = seq;
	for (size_t i = 0; i < in->parts.n; i++)
		if (in->parts.v[i].assigned || in->parts.v[i].parked)
			aw_eh_part_advance(&in->parts.v[i], seq);
}

static void in_eh_resume(void *state)
{
	struct aw_eh *in = state;

	if (!in->paused)
		return;
	in->paused = false;
	if (!in->stopped && !(in->rp && aw_eh_repart_blocked(in->rp)))
		set_fetching(in, NULL, true);
}

/* Emitting ends here; durable() keeps coming and the tick keeps committing until
 * close. */
static void in_eh_stop(void *state)
{
	struct aw_eh *in = state;

	if (in->stopped)
		return;
	in->stopped = true;
	set_fetching(in, NULL, false);
}

static int in_eh_ready(void *state, char *why, size_t whysz)
{
	struct aw_eh *in = state;

	if (!in->kc) {
		snprintf(why, whysz, "no Kafka consumer (being replaced after a fatal error)");
		return 0;
	}
	if (!aw_kafka_client_ready(in->kc, why, whysz))
		return 0;
	return in->rp ? aw_eh_repart_ready(in->rp, why, whysz) : 1;
}

static void close_now(struct aw_eh *in)
{
	uv_timer_stop(&in->restart_timer);
	in->closing_handles++; /* released at the end of this function */
	/* The last commit goes out before the consumer leaves its group (librdkafka
	 * finishes commits in flight before it does). */
	commit_durable(in, NULL);
	retire_consumer(in, in->conf->close_timeout_ms);
	if (in->rp) {
		in->closing_handles++;
		aw_eh_repart_close(in->rp, in->conf->close_timeout_ms, repart_closed);
		in->rp = NULL;
	}
	in->closing_handles += 2;
	uv_close((uv_handle_t *)&in->tick, handle_closed);
	uv_close((uv_handle_t *)&in->restart_timer, handle_closed);
	closed_one(in);
}

/* First stage: the delivery reports still due commit their source messages. */
static void close_wait_cb(uv_timer_t *t)
{
	struct aw_eh *in = t->data;

	if (aw_eh_repart_inflight(in->rp) == 0 || uv_now(in->loop) >= in->close_deadline)
		close_now(in);
}

static void in_eh_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct aw_eh *in = state;

	in_eh_stop(in);
	in->closing = true;
	in->closed = closed;
	in->restart_pending = false;
	uv_timer_stop(&in->restart_timer);
	if (in->rp && in->kc && aw_eh_repart_inflight(in->rp) > 0) {
		in->close_deadline = uv_now(in->loop) + in->conf->close_timeout_ms;
		uv_timer_start(&in->restart_timer, close_wait_cb, 10, 10);
		return;
	}
	close_now(in);
}

const struct aw_plugin_desc aw_in_eventhubs = {
    .abi = AW_PLUGIN_ABI,
    .name = "eventhubs",
    .kind = AW_PLUGIN_INPUT,
    .summary = "reads diagnostic settings from Azure Event Hubs (or any Kafka) in a consumer "
	       "group; offsets committed once events are durable",
    .options = aw_eh_options,
    .conf_size = sizeof(struct aw_eh_conf),
    .validate = aw_eh_validate,
    .init = in_eh_init,
    .start = in_eh_start,
    .durable = in_eh_durable,
    .resume = in_eh_resume,
    .stop = in_eh_stop,
    .ready = in_eh_ready,
    .close = in_eh_close,
};
