/* The pipeline: instances, the engine between inputs and outputs, and the
 * bookkeeping that tells each input when its events are durable (delivery.c holds the
 * output side: queues, batches, backoff, dead-letter).
 *
 * Ownership: a record produced by the engine is copied once into a shared, refcounted
 * struct pl_rec; every output queue holds a reference. A record points at the
 * acknowledgement tracker of the input that produced it (struct pl_track, refcounted
 * separately so an input removed on reload does not leave records pointing at freed
 * memory). Callbacks into plugins (submit, durable, resume) are never made from inside
 * a plugin's own call into the core: they are deferred to one uv_idle handle, so a
 * plugin never sees re-entrant calls. */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pipeline_int.h"
#include "state.h"

static void pipeline_finish_close(struct aw_pipeline *p);

/* --- tracker ------------------------------------------------------------------- */

static struct pl_track *track_new(struct aw_plugin_ctx *ctx)
{
	struct pl_track *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->refs = 1;
	t->ctx = ctx;
	return t;
}

static void track_unref(struct pl_track *t)
{
	if (t && --t->refs == 0) {
		free(t->ring);
		free(t);
	}
}

static struct pl_pending *track_at(struct pl_track *t, size_t i)
{
	return &t->ring[(t->head + i) % t->cap];
}

static int track_push(struct pl_track *t, uint64_t seq, uint32_t n)
{
	if (t->len == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct pl_pending *nr = malloc(ncap * sizeof *nr);
		if (!nr)
			return -1;
		for (size_t i = 0; i < t->len; i++)
			nr[i] = *track_at(t, i);
		free(t->ring);
		t->ring = nr;
		t->head = 0;
		t->cap = ncap;
	}
	t->ring[(t->head + t->len) % t->cap] = (struct pl_pending){.seq = seq, .remaining = n};
	t->len++;
	return 0;
}

/* Highest seq below which everything is durable. */
static uint64_t track_durable(const struct pl_track *t)
{
	uint64_t d = t->len == 0 ? t->issued : t->ring[t->head].seq - 1;

	return t->held && d >= t->held ? t->held - 1 : d;
}

/* One record of event `seq` is acknowledged by one output. */
void aw_pl_track_ack(struct aw_pipeline *p, struct pl_track *t, uint64_t seq)
{
	size_t lo = 0, hi = t->len;

	while (lo < hi) { /* binary search: pending seqs are increasing */
		size_t mid = lo + (hi - lo) / 2;
		if (track_at(t, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->len || track_at(t, lo)->seq != seq || track_at(t, lo)->remaining == 0) {
		aw_log(AW_LOG_ERR, "pipeline", "acknowledgement for an unknown event (bug)",
		       AW_U("seq", seq));
		return;
	}
	track_at(t, lo)->remaining--;
	while (t->len && t->ring[t->head].remaining == 0) {
		t->head = (t->head + 1) % t->cap;
		t->len--;
	}
	if (t->ctx && track_durable(t) > t->reported)
		aw_pl_kick(p);
}

/* --- shared records -------------------------------------------------------------- */

void aw_pl_rec_unref(struct pl_rec *r)
{
	if (r && --r->refs == 0) {
		free(r->rec.data);
		free(r->rec.id);
		free(r->rec.key);
		track_unref(r->track);
		free(r);
	}
}

static struct pl_rec *rec_copy(const struct aw_record *src)
{
	struct pl_rec *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->refs = 1;
	r->rec.data = malloc(src->len + 1);
	if (!r->rec.data)
		goto fail;
	memcpy(r->rec.data, src->data, src->len);
	r->rec.data[src->len] = '\0';
	r->rec.len = src->len;
	if (src->id && !(r->rec.id = strdup(src->id)))
		goto fail;
	if (src->key && !(r->rec.key = strdup(src->key)))
		goto fail;
	return r;
fail:
	free(r->rec.data);
	free(r->rec.id);
	free(r);
	return NULL;
}

/* --- services for plugins ----------------------------------------------------------- */

uv_loop_t *aw_ctx_loop(struct aw_plugin_ctx *ctx)
{
	return ctx->p->loop;
}

const char *aw_ctx_name(struct aw_plugin_ctx *ctx)
{
	return ctx->name;
}

const char *aw_ctx_state_dir(struct aw_plugin_ctx *ctx)
{
	return ctx->state_dir;
}

struct aw_metrics *aw_ctx_metrics(struct aw_plugin_ctx *ctx)
{
	return ctx->p->metrics;
}

/* --- the idle pass: deferred callbacks ---------------------------------------------- */

static void idle_cb(uv_idle_t *h)
{
	struct aw_pipeline *p = h->data;
	bool over;

	uv_idle_stop(&p->idle);
	p->idle_active = false;
	for (struct aw_plugin_ctx *c = p->head; c; c = c->next) {
		if (c->desc->kind == AW_PLUGIN_OUTPUT)
			aw_pl_deliver(p, c);
	}
	over = aw_pl_outputs_over_limit(p);
	for (struct aw_plugin_ctx *c = p->head; c; c = c->next) {
		if (c->desc->kind != AW_PLUGIN_INPUT || !c->track || c->phase == PL_CLOSING)
			continue;
		uint64_t d = track_durable(c->track);
		if (d > c->track->reported) {
			c->track->reported = d;
			if (c->desc->durable)
				c->desc->durable(c->state, d);
		}
		if (c->paused && !over && c->phase == PL_RUNNING) {
			c->paused = false;
			aw_metric_set(c->m_paused, 0);
			aw_log(AW_LOG_INFO, "pipeline", "input resumed", AW_S("input", c->name));
			if (c->desc->resume)
				c->desc->resume(c->state);
		}
	}
	if (p->on_idle_fn && aw_pipeline_idle(p)) {
		void (*fn)(void *) = p->on_idle_fn;
		p->on_idle_fn = NULL;
		fn(p->on_idle_ud);
	}
}

void aw_pl_kick(struct aw_pipeline *p)
{
	if (p->idle_live && !p->idle_active) {
		p->idle_active = true;
		uv_idle_start(&p->idle, idle_cb);
	}
}

/* --- emit --------------------------------------------------------------------- */

struct emit_ctx {
	struct aw_plugin_ctx *in;
	uint64_t seq;
	uint32_t produced;
	int failed;
};

static int emit_record(void *ud, const struct aw_record *rec)
{
	struct emit_ctx *e = ud;
	struct aw_pipeline *p = e->in->p;
	struct pl_rec *r = rec_copy(rec);
	unsigned outputs = 0;

	if (!r) {
		e->failed = 1;
		return -1;
	}
	r->track = e->in->track;
	r->track->refs++;
	r->seq = e->seq;
	r->queued_ms = aw_pl_now_ms(p);
	for (struct aw_plugin_ctx *o = p->head; o; o = o->next) {
		if (o->desc->kind != AW_PLUGIN_OUTPUT || o->phase == PL_CLOSING)
			continue;
		if (aw_pl_q_push(o, r) != 0) {
			e->failed = 1;
			continue;
		}
		aw_metric_inc(o->m_records);
		outputs++;
	}
	e->produced += outputs;
	aw_pl_rec_unref(r);
	return 0;
}

uint64_t aw_input_emit(struct aw_plugin_ctx *ctx, const struct aw_event *ev, bool *pause)
{
	struct aw_pipeline *p = ctx->p;
	struct pl_track *t = ctx->track;
	struct emit_ctx e = {.in = ctx, .seq = t->issued + 1};
	struct aw_error err;

	t->issued = e.seq;
	aw_metric_inc(ctx->m_events);
	/* The pending entry exists before the engine queues records; its count is set
	 * once they are queued (nothing is acknowledged during the evaluation: answers
	 * are handled in the idle pass). */
	if (track_push(t, e.seq, 0) != 0)
		e.failed = 1;
	if (aw_engine_eval(p->engine, ev, emit_record, &e, &err) < 0) {
		aw_metric_inc(p->m_engine_errors);
		aw_log(AW_LOG_ERR, "pipeline", "engine failed on an event",
		       AW_S("input", ctx->name), AW_S("origin", ev->origin), AW_S("error", err.msg));
	}
	if (e.failed && !t->held) {
		/* Out of memory: this event's alerts are not all queued. Hold the
		 * input's checkpoint before it, so a restart evaluates it again. */
		t->held = e.seq;
		aw_log(AW_LOG_ERR, "pipeline",
		       "out of memory queueing an event's records; the input's checkpoint stays "
		       "before it until a restart",
		       AW_S("input", ctx->name), AW_S("origin", ev->origin));
	}
	if (t->len && t->ring[(t->head + t->len - 1) % t->cap].seq == e.seq) {
		struct pl_pending *pe = &t->ring[(t->head + t->len - 1) % t->cap];
		pe->remaining = e.produced;
		if (e.produced == 0 && t->len == 1) {
			t->head = (t->head + 1) % t->cap;
			t->len--;
		}
		/* Zero-record events behind a pending one stay (remaining 0) until the
		 * front drains; track_ack pops them then. */
	}
	if (pause && !*pause && aw_pl_outputs_over_limit(p)) {
		*pause = true;
		if (!ctx->paused) {
			ctx->paused = true;
			aw_metric_set(ctx->m_paused, 1);
			aw_log(AW_LOG_INFO, "pipeline",
			       "input paused: an output queue is above pipeline.max_queue_bytes",
			       AW_S("input", ctx->name));
		}
	} else if (pause && ctx->paused) {
		*pause = true;
	}
	aw_pl_kick(p);
	return e.seq;
}

void aw_input_skipped(struct aw_plugin_ctx *ctx, const char *reason)
{
	struct aw_metric *m = aw_metric_get(ctx->p->metrics, AW_METRIC_COUNTER,
					    "aiwatch_events_skipped_total",
					    "Records an input skipped as malformed, by reason",
					    "input", ctx->name, "reason", reason ? reason : "malformed",
					    NULL);
	aw_metric_inc(m);
}

/* --- metrics collector ------------------------------------------------------------ */

static void collect(void *ud)
{
	struct aw_pipeline *p = ud;
	uint64_t now = aw_pl_now_ms(p);

	for (struct aw_plugin_ctx *c = p->head; c; c = c->next) {
		if (c->desc->kind != AW_PLUGIN_OUTPUT)
			continue;
		aw_metric_set(c->m_pend_bytes, (double)c->qbytes);
		aw_metric_set(c->m_pend_recs, (double)c->qlen);
		aw_metric_set(c->m_oldest,
			      c->qlen ? (double)(now - aw_pl_q_at(c, 0)->queued_ms) / 1000.0 : 0.0);
	}
}

/* --- instances ------------------------------------------------------------------ */

static void ctx_metrics(struct aw_plugin_ctx *c)
{
	struct aw_metrics *m = c->p->metrics;

	if (c->desc->kind == AW_PLUGIN_INPUT) {
		c->m_events = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_events_total",
					    "Events read by each input", "input", c->name, NULL);
		c->m_paused = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_input_paused",
					    "1 while the input is paused by back-pressure",
					    "input", c->name, NULL);
		return;
	}
	c->m_records = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_output_records_total",
				     "Records queued for each output", "output", c->name, NULL);
	c->m_delivered = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_output_delivered_total",
				       "Records the destination confirmed", "output", c->name, NULL);
	c->m_retries = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_output_retries_total",
				     "Batches scheduled for another attempt", "output", c->name,
				     NULL);
	c->m_rejected = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_output_rejected_total",
				      "Records the destination rejected permanently", "output",
				      c->name, NULL);
	c->m_dead = aw_metric_get(m, AW_METRIC_COUNTER, "aiwatch_dead_lettered_total",
				  "Records written to the dead-letter folder", "output", c->name,
				  NULL);
	c->m_pend_bytes = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_output_pending_bytes",
					"Bytes of records not yet acknowledged by the destination",
					"output", c->name, NULL);
	c->m_pend_recs = aw_metric_get(m, AW_METRIC_GAUGE, "aiwatch_output_pending_records",
				       "Records not yet acknowledged by the destination", "output",
				       c->name, NULL);
	c->m_oldest = aw_metric_get(m, AW_METRIC_GAUGE,
				    "aiwatch_output_oldest_pending_age_seconds",
				    "Age of the oldest record not yet acknowledged", "output",
				    c->name, NULL);
}

int aw_pipeline_new(uv_loop_t *loop, const struct aw_pipeline_conf *conf,
		    struct aw_metrics *metrics, const char *state_dir, struct aw_engine *engine,
		    struct aw_pipeline **out, struct aw_error *err)
{
	struct aw_pipeline *p = calloc(1, sizeof *p);

	if (!p)
		return aw_error_set(err, "pipeline: out of memory");
	p->loop = loop;
	p->conf = *conf;
	p->metrics = metrics;
	p->engine = engine;
	p->state_dir = strdup(state_dir);
	if (!p->state_dir) {
		free(p);
		return aw_error_set(err, "pipeline: out of memory");
	}
	uv_idle_init(loop, &p->idle);
	p->idle.data = p;
	p->idle_live = true;
	p->m_engine_errors = aw_metric_get(metrics, AW_METRIC_COUNTER,
					   "aiwatch_engine_errors_total",
					   "Events the engine failed to evaluate", NULL);
	aw_metrics_add_collector(metrics, collect, p);
	srandom((unsigned)(uv_hrtime() ^ (uint64_t)getpid()));
	*out = p;
	return 0;
}

void aw_pipeline_set_conf(struct aw_pipeline *p, const struct aw_pipeline_conf *conf)
{
	p->conf = *conf;
	aw_pl_kick(p);
}

void aw_pipeline_set_engine(struct aw_pipeline *p, struct aw_engine *engine)
{
	p->engine = engine;
}

static void link_ctx(struct aw_pipeline *p, struct aw_plugin_ctx *c)
{
	/* Append, so outputs keep configuration order and inputs follow them. */
	struct aw_plugin_ctx **pp = &p->head, *prev = NULL;

	while (*pp) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	c->prev = prev;
	*pp = c;
}

static void unlink_ctx(struct aw_pipeline *p, struct aw_plugin_ctx *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		p->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

static void ctx_free(struct aw_plugin_ctx *c)
{
	if (c->owned_conf) {
		aw_options_free(c->desc->options, c->owned_conf);
		free(c->owned_conf);
	}
	free(c->q);
	free(c->batch_recs);
	free(c->name);
	free(c->state_dir);
	free(c);
}

static void timer_closed_free(uv_handle_t *h)
{
	ctx_free(h->data);
}

int aw_pipeline_add(struct aw_pipeline *p, const struct aw_instance_conf *ic,
		    struct aw_plugin_ctx **out, struct aw_error *err)
{
	struct aw_plugin_ctx *c = calloc(1, sizeof *c);
	const char *kind;

	if (!c)
		return aw_error_set(err, "%s: out of memory", ic->name);
	c->p = p;
	c->ic = ic;
	c->desc = ic->desc;
	kind = c->desc->kind == AW_PLUGIN_INPUT ? "inputs" : "outputs";
	c->name = strdup(ic->name);
	if (!c->name || asprintf(&c->state_dir, "%s/%s/%s", p->state_dir, kind, ic->name) < 0) {
		c->state_dir = NULL;
		ctx_free(c);
		return aw_error_set(err, "%s: out of memory", ic->name);
	}
	if (aw_state_mkdir(c->state_dir, err) != 0) {
		ctx_free(c);
		return aw_error_prefix(err, "%s %s", kind, ic->name);
	}
	if (c->desc->kind == AW_PLUGIN_INPUT && !(c->track = track_new(c))) {
		ctx_free(c);
		return aw_error_set(err, "%s: out of memory", ic->name);
	}
	ctx_metrics(c);
	if (c->desc->kind == AW_PLUGIN_OUTPUT) {
		uv_timer_init(p->loop, &c->retry_timer);
		c->retry_timer.data = c;
		c->timer_live = true;
	}
	link_ctx(p, c);
	if (c->desc->init(c, ic->conf, &c->state, err) != 0) {
		unlink_ctx(p, c);
		if (c->track) {
			c->track->ctx = NULL;
			track_unref(c->track);
			c->track = NULL;
		}
		if (c->timer_live)
			uv_close((uv_handle_t *)&c->retry_timer, timer_closed_free);
		else
			ctx_free(c);
		return aw_error_prefix(err, "%s %s", kind, ic->name);
	}
	*out = c;
	return 0;
}

int aw_pipeline_start(struct aw_plugin_ctx *ctx, struct aw_error *err)
{
	if (ctx->desc->start && ctx->desc->start(ctx->state, err) != 0)
		return aw_error_prefix(err, "%s %s",
				       ctx->desc->kind == AW_PLUGIN_INPUT ? "input" : "output",
				       ctx->name);
	ctx->phase = PL_RUNNING;
	aw_pl_kick(ctx->p);
	return 0;
}

/* A ctx is freed when both its retry timer (outputs) and the plugin are closed. */
static void ctx_close_step(struct aw_plugin_ctx *c)
{
	struct aw_pipeline *p = c->p;

	if (--c->close_pending > 0)
		return;
	/* Records an output never delivered: release them. On reload the output is
	 * gone, so its inputs must not wait for it; on shutdown the inputs are
	 * already closed and their checkpoints stay where they were. */
	if (c->desc->kind == AW_PLUGIN_OUTPUT)
		aw_pl_q_ack_front(p, c, c->qlen);
	if (c->track) {
		c->track->ctx = NULL;
		track_unref(c->track);
	}
	ctx_free(c);
	p->closing_ctx--;
	if (p->closing && p->closing_ctx == 0)
		pipeline_finish_close(p);
}

static void timer_closed(uv_handle_t *h)
{
	ctx_close_step(h->data);
}

static void plugin_closed(struct aw_plugin_ctx *ctx)
{
	ctx_close_step(ctx);
}

static void ctx_begin_close(struct aw_plugin_ctx *c)
{
	struct aw_pipeline *p = c->p;

	if (c->phase == PL_CLOSING)
		return;
	if (c->desc->kind == AW_PLUGIN_INPUT && c->phase == PL_RUNNING && c->desc->stop)
		c->desc->stop(c->state);
	c->phase = PL_CLOSING;
	unlink_ctx(p, c);
	p->closing_ctx++;
	c->close_pending = 1;
	if (c->timer_live) {
		c->close_pending++;
		uv_timer_stop(&c->retry_timer);
		uv_close((uv_handle_t *)&c->retry_timer, timer_closed);
	}
	if (c->desc->close)
		c->desc->close(c->state, plugin_closed);
	else
		ctx_close_step(c);
}

void aw_pipeline_remove(struct aw_plugin_ctx *ctx, void *owned_conf)
{
	ctx->owned_conf = owned_conf;
	ctx->ic = NULL;
	aw_log(AW_LOG_INFO, "pipeline", "removing instance", AW_S("name", ctx->name));
	ctx_begin_close(ctx);
	aw_pl_kick(ctx->p);
}

void aw_pipeline_rebind(struct aw_plugin_ctx *ctx, const struct aw_instance_conf *ic)
{
	ctx->ic = ic;
}

void aw_pipeline_foreach(struct aw_pipeline *p, void (*fn)(struct aw_plugin_ctx *, void *),
			 void *ud)
{
	struct aw_plugin_ctx *c = p->head, *next;

	for (; c; c = next) {
		next = c->next; /* fn may remove c */
		fn(c, ud);
	}
}

const struct aw_instance_conf *aw_ctx_instance_conf(struct aw_plugin_ctx *ctx)
{
	return ctx->ic;
}

void aw_pipeline_reopen_outputs(struct aw_pipeline *p)
{
	for (struct aw_plugin_ctx *c = p->head; c; c = c->next)
		if (c->desc->kind == AW_PLUGIN_OUTPUT && c->desc->reopen)
			c->desc->reopen(c->state);
}

void aw_pipeline_stop_inputs(struct aw_pipeline *p)
{
	for (struct aw_plugin_ctx *c = p->head; c; c = c->next) {
		if (c->desc->kind == AW_PLUGIN_INPUT && c->phase == PL_RUNNING) {
			if (c->desc->stop)
				c->desc->stop(c->state);
			c->phase = PL_STOPPED;
		}
	}
	aw_pl_kick(p);
}

bool aw_pipeline_idle(const struct aw_pipeline *p)
{
	for (const struct aw_plugin_ctx *c = p->head; c; c = c->next)
		if (c->desc->kind == AW_PLUGIN_OUTPUT && c->qlen)
			return false;
	return true;
}

size_t aw_pipeline_pending(const struct aw_pipeline *p)
{
	size_t n = 0;

	for (const struct aw_plugin_ctx *c = p->head; c; c = c->next)
		if (c->desc->kind == AW_PLUGIN_OUTPUT)
			n += c->qlen;
	return n;
}

void aw_pipeline_on_idle(struct aw_pipeline *p, void (*fn)(void *ud), void *ud)
{
	p->on_idle_fn = fn;
	p->on_idle_ud = ud;
	aw_pl_kick(p);
}

int aw_pipeline_ready(struct aw_pipeline *p, char *why, size_t whysz)
{
	for (struct aw_plugin_ctx *c = p->head; c; c = c->next) {
		char reason[200] = "";
		if (c->phase != PL_RUNNING) {
			snprintf(why, whysz, "%s is not running", c->name);
			return 0;
		}
		if (c->desc->ready && !c->desc->ready(c->state, reason, sizeof reason)) {
			snprintf(why, whysz, "%s: %s", c->name, reason);
			return 0;
		}
	}
	return 1;
}

static void idle_closed(uv_handle_t *h)
{
	struct aw_pipeline *p = h->data;
	void (*done)(void *) = p->done_fn;
	void *ud = p->done_ud;

	aw_metrics_remove_collector(p->metrics, collect, p);
	free(p->state_dir);
	free(p);
	if (done)
		done(ud);
}

static void pipeline_finish_close(struct aw_pipeline *p)
{
	p->idle_live = false;
	uv_idle_stop(&p->idle);
	uv_close((uv_handle_t *)&p->idle, idle_closed);
}

void aw_pipeline_close(struct aw_pipeline *p, void (*done)(void *ud), void *ud)
{
	struct aw_plugin_ctx *c;

	p->done_fn = done;
	p->done_ud = ud;
	p->closing = true;
	p->on_idle_fn = NULL;
	p->closing_ctx++; /* held until every close has been started */
	/* Inputs first: their final checkpoints must not include what outputs drop. */
	for (int pass = 0; pass < 2; pass++) {
		enum aw_plugin_kind kind = pass == 0 ? AW_PLUGIN_INPUT : AW_PLUGIN_OUTPUT;
		struct aw_plugin_ctx *next;
		for (c = p->head; c; c = next) {
			next = c->next;
			if (c->desc->kind != kind || c->phase == PL_CLOSING)
				continue;
			ctx_begin_close(c);
		}
	}
	if (--p->closing_ctx == 0)
		pipeline_finish_close(p);
}
