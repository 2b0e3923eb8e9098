/* The first stage of the two-stage mode (eh.h, doc/streaming.md).
 *
 * Correlation rules count events per group-by key; with several instances sharing a
 * topic's partitions, one key's events are spread over all of them and no instance
 * sees the whole count. The first stage fixes that: it evaluates nothing, it maps each
 * source message's records to Log Analytics form (as the direct mode does) and writes
 * each event to the internal topic aiwatch.repartition.<rule_set>, keyed by its
 * correlation key (the first of key_fields that the event has). Kafka's partitioner
 * sends a key to one partition, and the second stage, an ordinary eventhubs input
 * reading the internal topic, therefore has all events of a key on one instance.
 *
 * Offsets: a source message's mark waits for the broker's delivery report of every
 * event it produced (idempotent producer, acks=all); only then may its offset be
 * committed. A report that failed (after librdkafka's own retries) rewinds the
 * partition to its commit point: the messages from there are read and produced again
 * (the second stage may see those events twice; their alerts carry the same ids).
 * When librdkafka's queue is full the rest waits in a backlog and the source
 * partitions are paused until the next delivery reports make room: nothing blocks,
 * nothing is dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/records.h"
#include "eh.h"

/* Opaque of a produced message: the partition's index in the table (below
 * AW_EH_MAX_PARTS = 2^12) and the mark's id. */
#define IDX_BITS 12
#define IDX_MASK ((uintptr_t)((1u << IDX_BITS) - 1))
/* Events waiting for room in librdkafka's queue; past this the partitions are
 * paused anyway (a message's events always go in whole). */
#define BACKLOG_SOFT_MAX 100000

struct rp_event {
	char *json;
	size_t len;
	char *key;
	size_t part; /* index in in->parts */
	uint64_t id; /* the source message's mark */
};

struct aw_eh_repart {
	struct aw_eh *in;
	char topic[300];
	struct aw_kafka_client *kc;
	struct rp_event *q; /* backlog: a ring */
	size_t qhead, qlen, qcap;
	bool blocked;	   /* source partitions paused until the backlog is produced */
	uint64_t inflight; /* produced, no delivery report yet */
	void (*done)(struct aw_eh *in);
	/* the message being parsed */
	struct rp_event *cur;
	size_t ncur, capcur;
	struct aw_metric *m_delivered, *m_failed, *m_rewinds;
};

static const char *in_name(const struct aw_eh_repart *rp)
{
	return aw_ctx_name(rp->in->ctx);
}

static void event_free(struct rp_event *e)
{
	free(e->json);
	free(e->key);
}

/* --- the correlation key --------------------------------------------------------------- */

static char *event_key(const struct aw_eh_repart *rp, const char *json)
{
	const struct aw_strlist *f = &rp->in->conf->repartition.key_fields;
	json_object *o = json_tokener_parse(json), *v;
	char *key = NULL;

	for (size_t i = 0; o && !key && i < f->n; i++) {
		if (!json_object_object_get_ex(o, f->v[i], &v) ||
		    json_object_is_type(v, json_type_null))
			continue;
		const char *s = json_object_get_string(v);
		if (s && *s)
			key = strdup(s);
	}
	json_object_put(o);
	return key;
}

/* --- the backlog ------------------------------------------------------------------------- */

static struct rp_event *q_at(struct aw_eh_repart *rp, size_t i)
{
	return &rp->q[(rp->qhead + i) % rp->qcap];
}

static int q_push(struct aw_eh_repart *rp, const struct rp_event *e)
{
	if (rp->qlen == rp->qcap) {
		size_t ncap = rp->qcap ? rp->qcap * 2 : 256;
		struct rp_event *nq = malloc(ncap * sizeof *nq);
		if (!nq)
			return -1;
		for (size_t i = 0; i < rp->qlen; i++)
			nq[i] = *q_at(rp, i);
		free(rp->q);
		rp->q = nq;
		rp->qhead = 0;
		rp->qcap = ncap;
	}
	*q_at(rp, rp->qlen) = *e;
	rp->qlen++;
	return 0;
}

/* Drop what the backlog holds for partition idx (or everything, idx SIZE_MAX). */
static void q_drop(struct aw_eh_repart *rp, size_t idx)
{
	size_t keep = 0;

	for (size_t i = 0; i < rp->qlen; i++) {
		struct rp_event *e = q_at(rp, i);
		if (idx == SIZE_MAX || e->part == idx)
			event_free(e);
		else
			*q_at(rp, keep++) = *e;
	}
	rp->qlen = keep;
}

/* --- producing ------------------------------------------------------------------------- */

static void confirm(struct aw_eh_repart *rp, size_t idx, uint64_t id)
{
	struct aw_eh *in = rp->in;
	struct aw_eh_part *p;

	if (idx >= in->parts.n)
		return;
	p = &in->parts.v[idx];
	if (p->assigned && aw_eh_part_confirm(p, id))
		aw_eh_part_advance(p, UINT64_MAX);
}

/* Produce the backlog until it is empty or librdkafka's queue is full. */
static void flush(struct aw_eh_repart *rp)
{
	rd_kafka_t *rk = rp->kc ? aw_kafka_client_rk(rp->kc) : NULL;
	struct aw_eh *in = rp->in;

	while (rk && rp->qlen) {
		struct rp_event *e = q_at(rp, 0);
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(rp->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
		    RD_KAFKA_V_VALUE(e->json, e->len),
		    RD_KAFKA_V_KEY(e->key, e->key ? strlen(e->key) : 0),
		    RD_KAFKA_V_OPAQUE(
			(void *)((uintptr_t)e->part | (uintptr_t)(e->id << IDX_BITS))),
		    RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		if (err) {
			/* Refused outright (larger than message.max.bytes, say): read again,
			 * it would fail again, so it is skipped like a malformed record. */
			aw_input_skipped(in->ctx, "produce_failed");
			aw_log(AW_LOG_WARN, "in_eventhubs",
			       "event not written to the internal topic; skipped",
			       AW_S("input", in_name(rp)), AW_S("topic", rp->topic),
			       AW_S("error", rd_kafka_err2str(err)), AW_U("bytes", e->len));
			free(e->json);
			confirm(rp, e->part, e->id);
		} else {
			rp->inflight++;
		}
		free(e->key); /* librdkafka copied the key; it owns json now (F_FREE) */
		rp->qhead = (rp->qhead + 1) % rp->qcap;
		rp->qlen--;
	}
	if (rp->qlen && !rp->blocked) {
		rp->blocked = true;
		aw_eh_set_fetching(in, false);
	} else if (!rp->qlen && rp->blocked) {
		rp->blocked = false;
		if (!in->paused && !in->stopped)
			aw_eh_set_fetching(in, true);
	}
}

/* A source partition whose events could not be written goes back to its commit point
 * (the start of what was read, if nothing was committed yet). */
static void rewind_part(struct aw_eh_repart *rp, struct aw_eh_part *p, const char *why)
{
	struct aw_eh *in = rp->in;
	int64_t to = p->durable >= 0 ? p->durable : p->start;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_error_t *e;

	if (to < 0 || !in->kc)
		return;
	aw_metric_inc(rp->m_rewinds);
	aw_log(AW_LOG_WARN, "in_eventhubs",
	       "writing to the internal topic failed; reading the partition again from its "
	       "commit point",
	       AW_S("input", in_name(rp)), AW_S("topic", p->topic), AW_I("partition", p->partition),
	       AW_I("offset", to), AW_S("error", why));
	q_drop(rp, (size_t)(p - in->parts.v));
	aw_eh_part_reset(p, true);
	l = rd_kafka_topic_partition_list_new(1);
	if (!l)
		return;
	rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = to;
	e = rd_kafka_seek_partitions(aw_kafka_client_rk(in->kc), l, 0);
	if (e) {
		aw_log(AW_LOG_ERR, "in_eventhubs", "cannot rewind the partition",
		       AW_S("input", in_name(rp)), AW_S("topic", p->topic),
		       AW_I("partition", p->partition), AW_S("error", rd_kafka_error_string(e)));
		rd_kafka_error_destroy(e);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

static void on_delivered(void *ud, const rd_kafka_message_t *m)
{
	struct aw_eh_repart *rp = ud;
	struct aw_eh *in = rp->in;
	uintptr_t o = (uintptr_t)m->_private;
	size_t idx = (size_t)(o & IDX_MASK);
	uint64_t id = (uint64_t)(o >> IDX_BITS);

	if (rp->inflight)
		rp->inflight--;
	if (!m->err) {
		aw_metric_inc(rp->m_delivered);
		confirm(rp, idx, id);
		return;
	}
	aw_metric_inc(rp->m_failed);
	if (idx < in->parts.n && in->parts.v[idx].assigned)
		rewind_part(rp, &in->parts.v[idx], rd_kafka_err2str(m->err));
}

static void on_served(void *ud)
{
	flush(ud);
}

static const struct aw_kafka_client_ops rp_ops = {
    .delivered = on_delivered,
    .served = on_served,
};

/* --- messages ---------------------------------------------------------------------------- */

static int collect(void *ud, const struct aw_event *ev)
{
	struct aw_eh_repart *rp = ud;
	struct rp_event e = {.len = ev->len};

	if (rp->ncur == rp->capcur) {
		size_t ncap = rp->capcur ? rp->capcur * 2 : 16;
		struct rp_event *nc = realloc(rp->cur, ncap * sizeof *nc);
		if (!nc)
			return 1; /* stop: the rest of the message is read again later */
		rp->cur = nc;
		rp->capcur = ncap;
	}
	e.json = malloc(ev->len + 1);
	if (!e.json)
		return 1;
	memcpy(e.json, ev->json, ev->len + 1);
	e.key = event_key(rp, ev->json);
	rp->cur[rp->ncur++] = e;
	aw_metric_inc(rp->in->m_records);
	return 0;
}

void aw_eh_repart_message(struct aw_eh_repart *rp, struct aw_eh_part *p,
			  const rd_kafka_message_t *m)
{
	struct aw_eh *in = rp->in;
	struct aw_error err = {{0}};
	char origin[320];
	size_t bad = 0, idx = (size_t)(p - in->parts.v);
	uint64_t id;
	int r;

	rp->ncur = 0;
	aw_eh_origin(m, origin, sizeof origin);
	r = aw_records_parse(m->payload ? m->payload : "", m->len, origin, collect, rp, &bad, &err);
	if (r < 0)
		aw_eh_skip(in, p, m, 1, err.msg);
	else if (bad)
		aw_eh_skip(in, p, m, bad, err.msg);
	id = aw_eh_part_mark_pending(p, m->offset + 1, (uint32_t)rp->ncur);
	for (size_t i = 0; i < rp->ncur; i++) {
		rp->cur[i].part = idx;
		rp->cur[i].id = id;
		if (q_push(rp, &rp->cur[i]) != 0) {
			/* No memory for the backlog: this event is lost to the second stage
			 * unless the message is read again, so the partition goes back. */
			for (size_t k = i; k < rp->ncur; k++)
				event_free(&rp->cur[k]);
			rp->ncur = 0;
			rewind_part(rp, p, "out of memory");
			return;
		}
	}
	rp->ncur = 0;
	flush(rp);
	if (rp->qlen > BACKLOG_SOFT_MAX && !rp->blocked) {
		rp->blocked = true;
		aw_eh_set_fetching(in, false);
	}
}

void aw_eh_repart_forget(struct aw_eh_repart *rp, const struct aw_eh_part *p)
{
	q_drop(rp, (size_t)(p - rp->in->parts.v));
}

bool aw_eh_repart_blocked(const struct aw_eh_repart *rp)
{
	return rp->blocked;
}

uint64_t aw_eh_repart_inflight(const struct aw_eh_repart *rp)
{
	return rp->inflight + rp->qlen;
}

int aw_eh_repart_ready(struct aw_eh_repart *rp, char *why, size_t whysz)
{
	char inner[256];

	if (aw_kafka_client_ready(rp->kc, inner, sizeof inner))
		return 1;
	snprintf(why, whysz, "internal topic %.100s: %.140s", rp->topic, inner);
	return 0;
}

/* --- lifecycle ----------------------------------------------------------------------------- */

int aw_eh_repart_new(struct aw_eh *in, struct aw_eh_repart **out, struct aw_error *err)
{
	struct aw_eh_repart *rp = calloc(1, sizeof *rp);
	struct aw_metrics *m = aw_ctx_metrics(in->ctx);
	const char *name = aw_ctx_name(in->ctx);
	const char *fam = "aiwatch_kafka_repartition_messages_total";
	const char *help = "Events written to the two-stage mode's internal topic, by delivery "
			   "report outcome";
	char buf[300];
	rd_kafka_conf_t *conf;

	if (!rp)
		return aw_error_set(err, "out of memory");
	rp->in = in;
	snprintf(rp->topic, sizeof rp->topic, "%s",
		 aw_eh_repartition_topic(in->conf, buf, sizeof buf));
	conf = aw_eh_producer_conf(in->conf, name, err);
	if (!conf) {
		free(rp);
		return -1;
	}
	if (aw_kafka_client_new_ex(in->loop, RD_KAFKA_PRODUCER, conf, name, &rp_ops, rp,
				   in->tokens.credential ? &in->tokens : NULL, &rp->kc, err) != 0) {
		free(rp);
		return -1;
	}
	rp->m_delivered = aw_metric_get(m, AW_METRIC_COUNTER, fam, help, "input", name, "result",
					"delivered", NULL);
	rp->m_failed =
	    aw_metric_get(m, AW_METRIC_COUNTER, fam, help, "input", name, "result", "failed", NULL);
	rp->m_rewinds =
	    aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_kafka_repartition_rewinds_total",
			  "Source partitions read again after a failed write to the "
			  "internal topic",
			  "input", name, NULL);
	aw_log(AW_LOG_INFO, "in_eventhubs", "two-stage mode: first stage", AW_S("input", name),
	       AW_S("internal_topic", rp->topic));
	*out = rp;
	return 0;
}

static void producer_closed(void *ud)
{
	struct aw_eh_repart *rp = ud;
	struct aw_eh *in = rp->in;
	void (*done)(struct aw_eh *) = rp->done;

	free(rp->q);
	free(rp->cur);
	free(rp);
	done(in);
}

void aw_eh_repart_close(struct aw_eh_repart *rp, uint64_t drain_ms, void (*done)(struct aw_eh *in))
{
	rp->done = done;
	q_drop(rp, SIZE_MAX);
	aw_kafka_client_close(rp->kc, drain_ms, producer_closed, rp);
}
