/* Consumer lag of an `eventhubs` input (eh.h): per assigned partition, the high
 * watermark minus the position, in aiwatch_kafka_consumer_lag_messages.
 *
 * The position is the offset after the last message handed on, or before the first
 * one librdkafka's next fetch offset. The high watermark comes with every fetch
 * response, so the statistics (once a second) carry it for a partition being read;
 * a paused partition (back-pressure, the very moment lag matters) or one not fetched
 * yet has none, or a stale one: for those the broker is asked with
 * rd_kafka_query_watermark_offsets(), which blocks, so it runs on libuv's thread
 * pool, one query at a time, every few seconds. */
#include <stdlib.h>
#include <string.h>

#include "eh.h"

#define LAG_QUERY_EVERY_MS   3000
#define LAG_QUERY_TIMEOUT_MS 5000

struct lag_query {
	struct aw_eh *in;
	rd_kafka_t *rk;
	size_t n;
	struct {
		char *topic;
		int32_t partition;
		int64_t hi;
	} v[];
};

static int64_t stat_i64(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

void aw_eh_lag_stats(struct aw_eh *in, json_object *root)
{
	json_object *topics, *parts;

	if (!json_object_object_get_ex(root, "topics", &topics) ||
	    !json_object_is_type(topics, json_type_object))
		return;
	json_object_object_foreach(topics, tname, t)
	{
		if (!json_object_object_get_ex(t, "partitions", &parts) ||
		    !json_object_is_type(parts, json_type_object))
			continue;
		json_object_object_foreach(parts, pname, st)
		{
			char *end;
			long id = strtol(pname, &end, 10);
			struct aw_eh_part *p;
			int64_t hi, next;

			if (*end || id < 0 || id > INT32_MAX)
				continue; /* "-1": librdkafka's internal unassigned partition */
			p = aw_eh_part_find(&in->parts, tname, (int32_t)id);
			if (!p || !p->assigned)
				continue;
			if ((hi = stat_i64(st, "hi_offset")) >= 0)
				p->stat_hi = hi;
			if ((next = stat_i64(st, "next_offset")) >= 0)
				p->stat_next = next;
		}
	}
	aw_eh_lag_tick(in);
}

static struct aw_metric *lag_metric(struct aw_eh *in, const struct aw_eh_part *p)
{
	char part[16];

	snprintf(part, sizeof part, "%d", (int)p->partition);
	return aw_metric_get(
	    aw_ctx_metrics(in->ctx), AW_METRIC_GAUGE, "aiwatch_kafka_consumer_lag_messages",
	    "Messages between a partition's high watermark and the input's "
	    "position in it",
	    "input", aw_ctx_name(in->ctx), "topic", p->topic, "partition", part, NULL);
}

static void query_work(uv_work_t *w)
{
	struct lag_query *q = w->data;

	for (size_t i = 0; i < q->n; i++) {
		int64_t lo = -1, hi = -1;
		if (rd_kafka_query_watermark_offsets(q->rk, q->v[i].topic, q->v[i].partition, &lo,
						     &hi, LAG_QUERY_TIMEOUT_MS) != 0)
			hi = -1;
		q->v[i].hi = hi;
	}
}

static void query_after(uv_work_t *w, int status)
{
	struct lag_query *q = w->data;
	struct aw_eh *in = q->in;

	for (size_t i = 0; i < q->n; i++) {
		struct aw_eh_part *p =
		    aw_eh_part_find(&in->parts, q->v[i].topic, q->v[i].partition);
		if (status == 0 && p && p->assigned && q->v[i].hi >= 0 && !in->kc_retiring)
			p->query_hi = q->v[i].hi;
		free(q->v[i].topic);
	}
	free(q);
	in->lag_busy = false;
	aw_eh_lag_query_done(in);
	if (!in->closing && in->kc)
		aw_eh_lag_tick(in);
}

/* Ask the broker for the watermarks of partitions the statistics say nothing about. */
static void maybe_query(struct aw_eh *in)
{
	uint64_t now = uv_now(in->loop);
	struct lag_query *q;
	size_t n = 0;

	if (in->lag_busy || !in->kc || in->closing || now < in->lag_next_query_ms)
		return;
	for (size_t i = 0; i < in->parts.n; i++) {
		const struct aw_eh_part *p = &in->parts.v[i];
		n += p->assigned && (in->paused || in->stopped || p->stat_hi < 0);
	}
	if (n == 0)
		return;
	in->lag_next_query_ms = now + LAG_QUERY_EVERY_MS;
	q = calloc(1, sizeof *q + n * sizeof q->v[0]);
	if (!q)
		return;
	q->in = in;
	q->rk = aw_kafka_client_rk(in->kc);
	for (size_t i = 0; i < in->parts.n; i++) {
		const struct aw_eh_part *p = &in->parts.v[i];
		if (!p->assigned || !(in->paused || in->stopped || p->stat_hi < 0))
			continue;
		q->v[q->n].topic = strdup(p->topic);
		q->v[q->n].partition = p->partition;
		if (!q->v[q->n].topic)
			break;
		q->n++;
	}
	in->lag_work.data = q;
	if (uv_queue_work(in->loop, &in->lag_work, query_work, query_after) != 0) {
		for (size_t i = 0; i < q->n; i++)
			free(q->v[i].topic);
		free(q);
		return;
	}
	in->lag_busy = true;
}

void aw_eh_lag_tick(struct aw_eh *in)
{
	for (size_t i = 0; i < in->parts.n; i++) {
		struct aw_eh_part *p = &in->parts.v[i];
		int64_t hi = p->stat_hi > p->query_hi ? p->stat_hi : p->query_hi;
		int64_t pos = p->position >= 0 ? p->position : p->stat_next;

		if (!p->assigned || hi < 0 || pos < 0)
			continue;
		if (!p->m_lag)
			p->m_lag = lag_metric(in, p);
		aw_metric_set(p->m_lag, (double)(hi > pos ? hi - pos : 0));
	}
	maybe_query(in);
}
