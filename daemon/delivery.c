/* Delivery: each output's batches, taken in order from the front of its spool; the
 * retry timing (full-jitter backoff, Retry-After, splitting on "too large",
 * retry_max_age), the dead-letter folder and the spool's full policy. Answers from
 * outputs are handled in the pipeline's idle pass, never inside the plugin's own call.
 * A batch's records are the spool's cached records (valid until acknowledged); AW_DONE
 * and a successful dead-letter acknowledge them, which moves the spool's ack position. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadletter.h"
#include "log.h"
#include "pipeline_int.h"
#include "spool_segment.h"

bool aw_pl_output_full(const struct aw_pipeline *p, const struct aw_plugin_ctx *c, uint64_t now)
{
	if (c->phase == PL_CLOSING || c->retiring || !c->spool || !aw_spool_over(c->spool, now))
		return false;
	/* drop_oldest makes room itself, except over a batch that is out with the output:
	 * that one cannot be taken back, so the inputs wait for its answer. */
	return p->conf.spool_full != AW_SPOOL_FULL_DROP_OLDEST || c->inflight ||
	       aw_spool_failing(c->spool, now);
}

bool aw_pl_outputs_over_limit(const struct aw_pipeline *p)
{
	uint64_t now = aw_spool_wall_ms();

	for (const struct aw_plugin_ctx *c = p->head; c; c = c->next)
		if (c->desc->kind == AW_PLUGIN_OUTPUT && aw_pl_output_full(p, c, now))
			return true;
	return false;
}

/* --- dead-letter ----------------------------------------------------------------- */

/* Write the in-flight batch to dead-letter/<output>/. This is the one blocking write in
 * the delivery path: it happens only for rejected batches, and losing a rejected batch
 * silently is exactly what it exists to prevent. Returns 0 when the batch is safely on
 * disk. */
static int dead_letter(struct aw_pipeline *p, struct aw_plugin_ctx *o, const char *reason)
{
	char path[4096] = "";
	struct aw_error err;

	if (aw_deadletter_write(p->state_dir, o->name, o->batch_recs, o->inflight, o->attempt,
				reason, path, sizeof path, &err) != 0) {
		aw_log(AW_LOG_ERR, "pipeline", "cannot write dead-letter file; batch kept for retry",
		       AW_S("output", o->name), AW_S("error", err.msg));
		return -1;
	}
	aw_metric_add(o->m_dead, (double)o->inflight);
	aw_log(AW_LOG_WARN, "pipeline", "batch dead-lettered", AW_S("output", o->name),
	       AW_U("records", o->inflight), AW_S("reason", reason ? reason : ""),
	       AW_S("path", path));
	return 0;
}

/* --- delivery ------------------------------------------------------------------- */

static void retry_timer_cb(uv_timer_t *t)
{
	struct aw_plugin_ctx *o = t->data;

	o->waiting_retry = false;
	aw_pl_kick(o->p);
}

/* Full jitter: a uniformly random delay in [0, min(cap, initial * 2^attempt)], but never
 * sooner than the server asked (Retry-After). */
static uint64_t backoff_ms(const struct aw_pipeline *p, unsigned attempt, uint64_t retry_after)
{
	uint64_t ceil = p->conf.retry_initial_ms ? p->conf.retry_initial_ms : 1000;
	uint64_t d;

	for (unsigned i = 1; i < attempt && ceil < p->conf.retry_max_ms; i++)
		ceil *= 2;
	if (p->conf.retry_max_ms && ceil > p->conf.retry_max_ms)
		ceil = p->conf.retry_max_ms;
	d = ceil ? ((uint64_t)random() << 31 ^ (uint64_t)random()) % (ceil + 1) : 0;
	return d > retry_after ? d : retry_after;
}

static void finish_batch(struct aw_pipeline *p, struct aw_plugin_ctx *o)
{
	enum aw_result r = o->done_r;
	const char *reason = o->done_reason[0] ? o->done_reason : NULL;
	size_t n = o->inflight;

	o->done_pending = false;
	if (r == AW_RETRY && reason && strcmp(reason, AW_REASON_TOO_LARGE) == 0) {
		if (n > 1) {
			/* Halve and resend at once: the destination told us the size, not
			 * that it is unwell, so no backoff. */
			o->split_limit = n / 2;
			o->inflight = 0;
			aw_log(AW_LOG_INFO, "pipeline", "batch too large; splitting",
			       AW_S("output", o->name), AW_U("records", n));
			aw_pl_kick(p);
			return;
		}
		r = AW_REJECT; /* one record that can never fit */
		reason = "a single record is larger than the destination accepts";
	}
	if (r == AW_RETRY && p->conf.retry_max_age_ms &&
	    aw_pl_now_ms(p) - o->first_try_ms >= p->conf.retry_max_age_ms) {
		char last[sizeof o->done_reason];
		int w;
		/* reason may point into done_reason: copy before rewriting it */
		memcpy(last, o->done_reason, sizeof last);
		r = AW_REJECT;
		w = snprintf(o->done_reason, sizeof o->done_reason,
			     "retry_max_age reached after %u attempts (last: %.180s)", o->attempt,
			     last[0] ? last : "no reason given");
		(void)w;
		reason = o->done_reason;
	}
	switch (r) {
	case AW_DONE:
		aw_metric_add(o->m_delivered, (double)n);
		aw_spool_ack(o->spool, n);
		o->inflight = 0;
		o->attempt = 0;
		/* Keep batches small until the backlog that was too large has gone;
		 * growing back at once would hit the same limit on every other batch. */
		if (aw_spool_records(o->spool) == 0)
			o->split_limit = 0;
		break;
	case AW_REJECT:
		aw_metric_add(o->m_rejected, (double)n);
		if (dead_letter(p, o, reason) == 0) {
			aw_spool_ack(o->spool, n);
			o->inflight = 0;
			o->attempt = 0;
			break;
		}
		/* could not dead-letter: keep the records and retry the delivery */
		/* fall through */
	case AW_RETRY: {
		uint64_t d = backoff_ms(p, o->attempt, o->done_retry_ms);
		aw_metric_inc(o->m_retries);
		aw_log(o->attempt <= 1 ? AW_LOG_WARN : AW_LOG_INFO, "pipeline",
		       "delivery failed; will retry", AW_S("output", o->name),
		       AW_U("records", n), AW_U("attempt", o->attempt), AW_U("delay_ms", d),
		       AW_S("reason", reason ? reason : ""));
		o->inflight = 0;
		o->waiting_retry = true;
		uv_timer_start(&o->retry_timer, retry_timer_cb, d, 0);
		break;
	}
	}
	aw_pl_kick(p);
}

static void submit_next(struct aw_pipeline *p, struct aw_plugin_ctx *o)
{
	size_t maxn = o->desc->max_batch_records ? o->desc->max_batch_records
						 : PL_DEFAULT_BATCH_RECORDS;
	size_t maxb = o->desc->max_batch_bytes ? o->desc->max_batch_bytes : PL_DEFAULT_BATCH_BYTES;
	size_t n = 0, bytes = 0, cached;
	struct aw_error err;

	if (o->phase != PL_RUNNING || o->inflight || o->waiting_retry || o->done_pending ||
	    o->ps->owner != o)
		return;
	if (aw_spool_fill(o->spool, &err) != 0) {
		aw_log(AW_LOG_ERR, "pipeline", "cannot read the spool back; will retry",
		       AW_S("output", o->name), AW_S("error", err.msg));
		p->epoch_failed = true; /* it flushes first: this epoch's writes are in doubt */
	}
	cached = aw_spool_cached(o->spool);
	if (cached == 0)
		return;
	if (o->split_limit && o->split_limit < maxn)
		maxn = o->split_limit;
	while (n < cached && n < maxn) {
		size_t len = aw_spool_at(o->spool, n)->rec.len;
		if (n > 0 && bytes + len > maxb)
			break;
		bytes += len;
		n++;
	}
	struct aw_record *recs = realloc(o->batch_recs, n * sizeof *recs);
	if (!recs) {
		aw_log(AW_LOG_ERR, "pipeline", "out of memory building a batch",
		       AW_S("output", o->name));
		return;
	}
	o->batch_recs = recs;
	for (size_t i = 0; i < n; i++)
		recs[i] = aw_spool_at(o->spool, i)->rec;
	if (o->attempt == 0)
		o->first_try_ms = aw_pl_now_ms(p);
	o->attempt++;
	o->inflight = n;
	o->batch = (struct aw_batch){
		.records = recs, .n = n, .bytes = bytes, .attempt = o->attempt, .priv = o};
	o->in_submit = true;
	o->desc->submit(o->state, &o->batch);
	o->in_submit = false;
}

void aw_output_done(struct aw_plugin_ctx *ctx, struct aw_batch *batch, enum aw_result r,
		    uint64_t retry_after_ms, const char *reason)
{
	if (ctx->phase == PL_CLOSING || batch != &ctx->batch || !ctx->inflight ||
	    ctx->done_pending)
		return; /* late answer after close, or a double answer: ignore */
	ctx->done_pending = true;
	ctx->done_r = r;
	ctx->done_retry_ms = retry_after_ms;
	snprintf(ctx->done_reason, sizeof ctx->done_reason, "%s", reason ? reason : "");
	/* Handle it from the idle pass, never inside the plugin's own call stack. */
	aw_pl_kick(ctx->p);
}

void aw_pl_deliver(struct aw_pipeline *p, struct aw_plugin_ctx *o)
{
	if (o->done_pending)
		finish_batch(p, o);
	/* The front batch may be among what is dropped: it starts afresh. */
	if (!o->inflight && o->phase == PL_RUNNING && o->ps->owner == o &&
	    aw_spool_enforce(o->spool, aw_spool_wall_ms()) > 0)
		o->attempt = 0;
	submit_next(p, o);
}
