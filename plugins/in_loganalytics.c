/* The `loganalytics` input: one Log Analytics workspace polled through the query API
 * with the watermark procedure of contract §2, so late records are never skipped and
 * none is evaluated twice (beyond what a crash allows, with the same AlertId).
 *
 * A cycle runs every `interval`: it reads the rows whose ingestion_time() lies in
 * (W - overlap, now - settle_delay], W being the watermark (everything ingested up to
 * W has been handled). The request's timespan covers TimeGenerated from max_lateness
 * before that range, since records are stamped up to days before they are ingested.
 * Rows come back ordered by (ingestion time, _ItemId) and capped at row_cap; a capped
 * answer is followed at once by a query for the rows after its last one. Rows of the
 * overlap that were already handled are recognised by _ItemId (a bounded set) and
 * dropped. An answer with an `error` member (PartialError: truncated or failed
 * shards) is not trusted: its range is read again with half the span and row cap,
 * never skipped. HTTP failures (429 and 504 after the shared retry policy, 4xx, the
 * network) end the cycle; the next one starts again from W.
 *
 * Every row handled leaves a mark (the last sequence number emitted, the watermark it
 * allows); when the pipeline reports a sequence number durable the marks up to it
 * move the durable watermark, which the checkpoint records together with the _ItemIds
 * of the overlap that are durable. A restart reads the overlap again and skips those.
 *
 * This file holds the plugin's callbacks, its metrics and the checkpoint; the rest is
 * in la_conf.c (options), la_poll.c (the cycle), la_query.c (the KQL), la_answer.c
 * (answers and rows), la_cursor.c (the set, marks, checkpoint file), la_limit.c
 * (5 concurrent / 200 per 30 s across instances) and la_time.c; la.h ties them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "la.h"

#define LA_CKPT_NAME	 "checkpoint"
#define LA_CKPT_EVERY_MS 1000

/* --- metrics and readiness ------------------------------------------------------------ */

static struct aw_metric *metric(struct aw_la_input *in, enum aw_metric_type t, const char *name,
				const char *help)
{
	return aw_metric_get(aw_ctx_metrics(in->ctx), t, name, help, "input", aw_la_name(in),
			     (const char *)NULL);
}

static void collect_lag(void *ud)
{
	struct aw_la_input *in = ud;
	int64_t now = aw_la_now_ticks(), newest = in->newest_ing ? in->newest_ing : in->w;

	aw_metric_set(in->m_lag, (double)(now - newest) / AW_LA_TICKS_PER_SEC);
	aw_metric_set(in->m_dedup, (double)aw_la_seen_count(in->seen));
}

static void init_metrics(struct aw_la_input *in)
{
	struct aw_metrics *m = aw_ctx_metrics(in->ctx);

	in->m_rows = metric(in, AW_METRIC_COUNTER, "aiwatch_loganalytics_rows_total",
			    "Rows read from Log Analytics answers (duplicates included)");
	in->m_dups = metric(in, AW_METRIC_COUNTER, "aiwatch_loganalytics_duplicates_total",
			    "Rows dropped because their _ItemId was already handled (overlap)");
	in->m_lag = metric(in, AW_METRIC_GAUGE, "aiwatch_loganalytics_lag_seconds",
			   "Now minus the newest ingestion time read (the watermark before any)");
	in->m_qsec = metric(in, AW_METRIC_GAUGE, "aiwatch_loganalytics_query_duration_seconds",
			    "Duration of the last query, retries included");
	in->m_throttled = metric(in, AW_METRIC_COUNTER, "aiwatch_loganalytics_throttled_total",
				 "Queries still throttled (429) or timed out (504) after the "
				 "retry policy; the next poll waits for Retry-After");
	in->m_partial = metric(in, AW_METRIC_COUNTER, "aiwatch_loganalytics_partial_errors_total",
			       "Answers with a PartialError (or other error member) whose range "
			       "was read again in smaller steps");
	in->m_retries =
	    metric(in, AW_METRIC_COUNTER, "aiwatch_loganalytics_retries_total",
		   "Query attempts repeated by the retry policy (429, 504, 5xx, network)");
	in->m_wm = metric(in, AW_METRIC_GAUGE, "aiwatch_loganalytics_watermark_timestamp_seconds",
			  "The checkpointed ingestion-time watermark (Unix time)");
	in->m_dedup = metric(in, AW_METRIC_GAUGE, "aiwatch_loganalytics_dedup_ids",
			     "_ItemIds remembered for the overlap (bounded by dedup_max)");
	in->m_evicted = metric(in, AW_METRIC_COUNTER, "aiwatch_loganalytics_dedup_evicted_total",
			       "_ItemIds forgotten early because dedup_max was reached");
	in->m_ok = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_loganalytics_queries_total",
				 "Queries by outcome", "input", aw_la_name(in), "result", "ok",
				 (const char *)NULL);
	in->m_failed = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_loganalytics_queries_total",
				     "Queries by outcome", "input", aw_la_name(in), "result",
				     "failed", (const char *)NULL);
	aw_metrics_add_collector(m, collect_lag, in);
}

static int in_la_ready(void *state, char *why, size_t whysz)
{
	struct aw_la_input *in = state;

	if (!in->first_done && !in->why[0]) {
		snprintf(why, whysz, "workspace %s: waiting for the first query",
			 in->conf->workspace_id);
		return 0;
	}
	if (!in->ready_ok) {
		snprintf(why, whysz, "workspace %s: %s", in->conf->workspace_id, in->why);
		return 0;
	}
	return 1;
}

/* --- checkpoint ------------------------------------------------------------------------ */

static void write_checkpoint(struct aw_la_input *in)
{
	struct aw_la_ckpt c = {.watermark = in->ck_w};
	struct aw_error err;

	snprintf(c.workspace, sizeof c.workspace, "%s", in->conf->workspace_id);
	memcpy(c.source_hash, in->source_hash, sizeof c.source_hash);
	in->ck_dirty = false;
	in->last_ckpt_ms = uv_now(in->loop);
	if (aw_la_ckpt_write(aw_ctx_state_dir(in->ctx), LA_CKPT_NAME, &c, in->seen, in->durable_seq,
			     in->ck_w - (int64_t)in->conf->overlap_ms * AW_LA_TICKS_PER_MS,
			     &err) != 0)
		aw_log(AW_LOG_WARN, AW_LA_COMPONENT, "cannot write checkpoint",
		       AW_S("input", aw_la_name(in)), AW_S("error", err.msg));
}

static void ckpt_cb(uv_timer_t *t)
{
	write_checkpoint(t->data);
}

/* At most one write per LA_CKPT_EVERY_MS; close writes the last one. */
static void schedule_checkpoint(struct aw_la_input *in)
{
	uint64_t now = uv_now(in->loop), due = in->last_ckpt_ms + LA_CKPT_EVERY_MS;

	in->ck_dirty = true;
	if (in->closing || uv_is_active((uv_handle_t *)&in->ckpt))
		return;
	uv_timer_start(&in->ckpt, ckpt_cb, due > now ? due - now : 0, 0);
}

static void apply_marks(struct aw_la_input *in)
{
	int64_t w;

	if (aw_la_marks_pop(&in->marks, in->durable_seq, &w) && w > in->ck_w) {
		in->ck_w = w;
		aw_metric_set(in->m_wm, (double)w / AW_LA_TICKS_PER_SEC);
		schedule_checkpoint(in);
	}
}

void aw_la_advance(struct aw_la_input *in, int64_t w)
{
	if (w > in->w)
		in->w = w;
	aw_la_marks_push(&in->marks, in->last_seq, in->w);
	apply_marks(in);
}

static void in_la_durable(void *state, uint64_t seq)
{
	struct aw_la_input *in = state;

	if (seq > in->durable_seq)
		in->durable_seq = seq;
	apply_marks(in);
}

static void load_checkpoint(struct aw_la_input *in)
{
	const char *dir = aw_ctx_state_dir(in->ctx);
	struct aw_la_ckpt c = {0};
	struct aw_error err;
	int64_t start = aw_la_now_ticks() - (int64_t)in->conf->lookback_ms * AW_LA_TICKS_PER_MS;
	char when[AW_LA_TIME_LEN];
	int rc = aw_la_ckpt_read(dir, LA_CKPT_NAME, &c, in->seen, &err);

	if (rc == 0 && strcasecmp(c.workspace, in->conf->workspace_id) != 0) {
		snprintf(err.msg, sizeof err.msg, "%s/%s: written for workspace %s", dir,
			 LA_CKPT_NAME, c.workspace);
		aw_la_seen_prune(in->seen, INT64_MAX);
		rc = -1;
	}
	aw_la_time_format(rc == 0 ? c.watermark : start, when);
	if (rc == 0) {
		in->w = in->ck_w = c.watermark;
		if (strcmp(c.source_hash, in->source_hash) != 0)
			aw_log(AW_LOG_NOTICE, AW_LA_COMPONENT,
			       "tables or query changed since the checkpoint; continuing from it",
			       AW_S("input", aw_la_name(in)), AW_S("watermark", when));
		aw_log(AW_LOG_INFO, AW_LA_COMPONENT, "resuming from checkpoint",
		       AW_S("input", aw_la_name(in)), AW_S("workspace", in->conf->workspace_id),
		       AW_S("watermark", when), AW_U("remembered_ids", aw_la_seen_count(in->seen)));
	} else {
		in->w = in->ck_w = start;
		if (rc < 0)
			aw_log(AW_LOG_WARN, AW_LA_COMPONENT,
			       "ignoring checkpoint; starting from lookback",
			       AW_S("input", aw_la_name(in)), AW_S("error", err.msg),
			       AW_S("from", when));
		else
			aw_log(AW_LOG_INFO, AW_LA_COMPONENT,
			       "no checkpoint; starting from lookback",
			       AW_S("input", aw_la_name(in)),
			       AW_S("workspace", in->conf->workspace_id), AW_S("from", when));
		/* Written now, so a restart before the first durable row keeps this start. */
		write_checkpoint(in);
	}
	aw_metric_set(in->m_wm, (double)in->ck_w / AW_LA_TICKS_PER_SEC);
}

/* --- plugin callbacks ----------------------------------------------------------------------- */

static void free_state(struct aw_la_input *in)
{
	aw_la_answer_free(&in->ans);
	aw_la_seen_free(in->seen);
	aw_la_marks_free(&in->marks);
	if (in->own_auth)
		aw_auth_free(in->own_auth);
	free(in->source);
	free(in->url);
	free(in->component);
	free(in);
}

static int in_la_init(struct aw_plugin_ctx *ctx, const void *conf, void **state,
		      struct aw_error *err)
{
	const struct aw_la_conf *c = conf;
	struct aw_la_input *in = calloc(1, sizeof *in);
	size_t elen;

	if (!in)
		return aw_error_set(err, "out of memory");
	in->ctx = ctx;
	in->conf = c;
	in->loop = aw_ctx_loop(ctx);
	in->http = aw_ctx_http(ctx);
	in->ans.i_ing = in->ans.i_id = in->ans.i_type = -1;
	if (!in->http) {
		free(in);
		return aw_error_set(err, "the daemon's Azure services are not running");
	}
	in->source = aw_la_source(c);
	elen = strlen(c->endpoint);
	while (elen && c->endpoint[elen - 1] == '/')
		elen--;
	if (!in->source ||
	    asprintf(&in->url, "%.*s/v1/workspaces/%s/query", (int)elen, c->endpoint,
		     c->workspace_id) < 0 ||
	    asprintf(&in->component, "%s/%s", AW_LA_COMPONENT, aw_ctx_name(ctx)) < 0) {
		in->url = in->component = NULL;
		goto oom;
	}
	aw_la_hash_hex(in->source, strlen(in->source), in->source_hash);
	snprintf(in->prefer, sizeof in->prefer, "Prefer: wait=%llu",
		 (unsigned long long)(c->query_timeout_ms / 1000));
	if (aw_la_own_credential(&c->credential)) {
		if (aw_auth_new(in->http, aw_ctx_metrics(ctx), &in->own_auth, err) != 0)
			goto fail;
		aw_auth_set_loop(in->own_auth, in->loop);
		if (aw_auth_add(in->own_auth, aw_ctx_name(ctx), &c->credential, &in->cred, err) !=
		    0)
			goto fail;
	} else {
		in->cred = aw_ctx_credential(ctx);
		if (!in->cred) {
			aw_error_set(err, "no credential: set azure.credential or this input's "
					  "credential");
			goto fail;
		}
	}
	in->bearer = aw_credential_bearer(in->cred, c->scope);
	in->seen = aw_la_seen_new((size_t)c->dedup_max);
	if (!in->bearer || !in->seen)
		goto oom;
	in->take_now = (size_t)c->row_cap;
	in->slot.grant = aw_la_grant;
	in->slot.timer = &in->limit;
	uv_timer_init(in->loop, &in->poll);
	uv_timer_init(in->loop, &in->ckpt);
	uv_timer_init(in->loop, &in->step);
	uv_timer_init(in->loop, &in->limit);
	in->poll.data = in->ckpt.data = in->step.data = in->limit.data = in;
	init_metrics(in);
	*state = in;
	return 0;
oom:
	aw_error_set(err, "out of memory");
fail:
	free_state(in);
	return -1;
}

static int in_la_start(void *state, struct aw_error *err)
{
	struct aw_la_input *in = state;

	in->started = true;
	in->last_ckpt_ms = uv_now(in->loop) - LA_CKPT_EVERY_MS;
	load_checkpoint(in);
	aw_la_schedule_poll(in, 0);
	return 0;
}

static void in_la_resume(void *state)
{
	struct aw_la_input *in = state;

	in->paused = false;
	if (in->stopped || in->closing)
		return;
	if (in->phase == AW_LA_EMIT)
		aw_la_emit_some(in);
	else if (in->want_cycle)
		aw_la_begin_cycle(in);
}

static void in_la_stop(void *state)
{
	struct aw_la_input *in = state;

	in->stopped = true;
	uv_timer_stop(&in->poll);
	uv_timer_stop(&in->step);
	uv_timer_stop(&in->limit);
	aw_la_limit_cancel(&in->slot);
	if (in->req)
		aw_http_cancel(in->req); /* on_answer runs later, from the loop */
	/* Rows not handed over yet are read again after a restart: W has not passed them. */
	aw_la_answer_free(&in->ans);
	if (in->phase != AW_LA_QUERY)
		in->phase = AW_LA_IDLE;
}

static void handle_closed(uv_handle_t *h)
{
	aw_la_close_step(h->data);
}

void aw_la_close_step(struct aw_la_input *in)
{
	void (*closed)(struct aw_plugin_ctx *) = in->closed;
	struct aw_plugin_ctx *ctx = in->ctx;

	if (--in->close_pending > 0)
		return;
	if (in->started)
		write_checkpoint(in);
	free_state(in);
	closed(ctx);
}

static void in_la_close(void *state, void (*closed)(struct aw_plugin_ctx *ctx))
{
	struct aw_la_input *in = state;

	in_la_stop(in);
	in->closing = true;
	in->closed = closed;
	in->close_pending = 1; /* released at the end of this function */
	aw_metrics_remove_collector(aw_ctx_metrics(in->ctx), collect_lag, in);
	uv_timer_stop(&in->ckpt);
	in->close_pending += 4;
	uv_close((uv_handle_t *)&in->poll, handle_closed);
	uv_close((uv_handle_t *)&in->ckpt, handle_closed);
	uv_close((uv_handle_t *)&in->step, handle_closed);
	uv_close((uv_handle_t *)&in->limit, handle_closed);
	if (in->req)
		in->close_pending++; /* on_answer steps */
	aw_la_close_step(in);
}

const struct aw_plugin_desc aw_in_loganalytics = {
    .abi = AW_PLUGIN_ABI,
    .name = "loganalytics",
    .kind = AW_PLUGIN_INPUT,
    .summary = "poll a Log Analytics workspace (diagnostic logs, activity, Defender alerts) "
	       "without skipping late records",
    .options = aw_la_options,
    .conf_size = sizeof(struct aw_la_conf),
    .validate = aw_la_validate,
    .init = in_la_init,
    .start = in_la_start,
    .durable = in_la_durable,
    .resume = in_la_resume,
    .stop = in_la_stop,
    .ready = in_la_ready,
    .close = in_la_close,
};
