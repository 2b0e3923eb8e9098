/* The pipeline: instances, the engine between inputs and outputs, and the
 * bookkeeping that tells each input when its events are durable (delivery.c holds the
 * output side: batches from the spools, backoff, dead-letter; spool.c the spools).
 *
 * Durability: during aw_input_emit every record the engine produces is appended to each
 * output's spool (spool.h); the event is tagged with the open epoch. The idle pass
 * closes the epoch: it flushes every spool (write(2)) and, with spool_fsync "batch",
 * fdatasyncs them on the thread pool; when that is done every event of the epoch is
 * durable and inputs learn, in order, the highest sequence number below which
 * everything is. Delivery is independent of it: an output that never answers does not
 * hold any input's checkpoint, and its records are delivered again after a restart.
 * Callbacks into plugins (submit, durable, resume) are never made from inside a
 * plugin's own call into the core: they are deferred to one uv_idle handle, so a
 * plugin never sees re-entrant calls. */
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pipeline_int.h"
#include "spool_segment.h"
#include "state.h"

/* --- tracker ------------------------------------------------------------------- */

struct pl_sync {
	uv_work_t req;
	struct aw_pipeline *p;
	int *fds;
	size_t n, cap;
	uint64_t epoch;
	int err;                    /* errno of the first failed sync */
};

static struct pl_track *track_new(struct aw_plugin_ctx *ctx)
{
	struct pl_track *t = calloc(1, sizeof *t);

	if (t)
		t->ctx = ctx;
	return t;
}

/* Highest seq below which everything is durable. */
static uint64_t track_durable(const struct pl_track *t)
{
	uint64_t d = t->len == 0 ? t->issued : t->spans[t->head].first - 1;

	return t->held && d >= t->held ? t->held - 1 : d;
}

/* Event seq put records into the spools during `epoch`. */
static void track_note(struct pl_track *t, uint64_t seq, uint64_t epoch)
{
	if (t->len) {
		struct pl_span *last = &t->spans[(t->head + t->len - 1) % PL_TRACK_SPANS];
		/* Merging into a later epoch only makes the span wait longer: safe. */
		if (last->epoch == epoch || t->len == PL_TRACK_SPANS) {
			last->last = seq;
			if (epoch > last->epoch)
				last->epoch = epoch;
			return;
		}
	}
	t->spans[(t->head + t->len) % PL_TRACK_SPANS] =
		(struct pl_span){.first = seq, .last = seq, .epoch = epoch};
	t->len++;
}

/* Every epoch up to `epoch` is settled: durable (ok) or not (a write or sync failed:
 * hold the checkpoint before the first event concerned, so a restart reads it again). */
static void track_settle(struct pl_track *t, uint64_t epoch, bool ok)
{
	while (t->len && t->spans[t->head].epoch <= epoch) {
		if (!ok && (!t->held || t->spans[t->head].first < t->held))
			t->held = t->spans[t->head].first;
		t->head = (t->head + 1) % PL_TRACK_SPANS;
		t->len--;
	}
}

static void settle_epoch(struct aw_pipeline *p, uint64_t epoch, bool ok)
{
	if (!ok)
		aw_log(AW_LOG_ERR, "pipeline",
		       "spool write or sync failed; inputs keep their checkpoints before the "
		       "events concerned until a restart evaluates them again",
		       AW_U("epoch", epoch));
	for (struct aw_plugin_ctx *c = p->head; c; c = c->next)
		if (c->desc->kind == AW_PLUGIN_INPUT && c->track)
			track_settle(c->track, epoch, ok);
	aw_pl_kick(p);
}

/* --- closing an epoch: flush and sync the spools --------------------------------------- */

static void pipeline_finish_close(struct aw_pipeline *p);

static void sync_work(uv_work_t *req)
{
	struct pl_sync *sy = req->data;

	for (size_t i = 0; i < sy->n; i++) {
		if (fdatasync(sy->fds[i]) != 0 && !sy->err)
			sy->err = errno;
		close(sy->fds[i]);
	}
}

static void sync_free(struct pl_sync *sy)
{
	free(sy->fds);
	free(sy);
}

static void sync_done(uv_work_t *req, int status)
{
	struct pl_sync *sy = req->data;
	struct aw_pipeline *p = sy->p;

	p->sync = NULL;
	if (sy->err)
		aw_log(AW_LOG_ERR, "pipeline", "fdatasync of a spool failed",
		       AW_S("error", strerror(sy->err)));
	settle_epoch(p, sy->epoch, status == 0 && sy->err == 0);
	sync_free(sy);
	if (p->finish_after_jobs)
		pipeline_finish_close(p);
}

/* Make every record of the open epoch durable: flush each spool now and, with
 * spool_fsync "batch", sync them on the thread pool (one at a time: the next epoch
 * waits for this one). */
static void close_epoch(struct aw_pipeline *p)
{
	struct pl_sync *sy;
	struct aw_error err;
	uint64_t epoch;
	bool failed;

	if (p->sync || !p->epoch_used)
		return;
	epoch = p->epoch_open++;
	failed = p->epoch_failed;
	p->epoch_used = p->epoch_failed = false;
	sy = calloc(1, sizeof *sy);
	if (!sy)
		failed = true;
	for (struct pl_spool *ps = p->spools; ps; ps = ps->next) {
		if (aw_spool_flush(ps->s, &err) != 0)
			failed = true;
		else if (sy && aw_spool_take_sync_fds(ps->s, &sy->fds, &sy->n, &sy->cap) != 0)
			failed = true;
	}
	if (!failed && sy && sy->n) {
		sy->p = p;
		sy->epoch = epoch;
		sy->req.data = sy;
		if (uv_queue_work(p->loop, &sy->req, sync_work, sync_done) == 0) {
			p->sync = sy;
			return;
		}
		sync_work(&sy->req); /* no thread pool: do it here rather than not at all */
		failed = sy->err != 0;
		sy->n = 0;
	}
	if (sy) {
		for (size_t i = 0; i < sy->n; i++)
			close(sy->fds[i]);
		sync_free(sy);
	}
	settle_epoch(p, epoch, !failed);
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

static void ctx_begin_close(struct aw_plugin_ctx *c);

static void idle_cb(uv_idle_t *h)
{
	struct aw_pipeline *p = h->data;
	bool over;

	uv_idle_stop(&p->idle);
	p->idle_active = false;
	for (struct aw_plugin_ctx *c = p->head, *next; c; c = next) {
		next = c->next; /* a retired output leaves the list */
		if (c->desc->kind != AW_PLUGIN_OUTPUT)
			continue;
		aw_pl_deliver(p, c);
		if (c->retiring && !c->inflight && !c->done_pending)
			ctx_begin_close(c);
	}
	close_epoch(p);
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
	uint32_t produced;          /* records appended, over all outputs */
	int failed;
	struct aw_error err;
};

static int emit_record(void *ud, const struct aw_record *rec)
{
	struct emit_ctx *e = ud;
	struct aw_pipeline *p = e->in->p;

	for (struct aw_plugin_ctx *o = p->head; o; o = o->next) {
		if (o->desc->kind != AW_PLUGIN_OUTPUT || o->phase == PL_CLOSING || o->retiring ||
		    !o->spool)
			continue;
		if (aw_spool_append(o->spool, rec, e->failed ? NULL : &e->err) != 0) {
			/* Records buffered before it may be gone too: the whole epoch fails. */
			e->failed = 1;
			p->epoch_failed = true;
			continue;
		}
		aw_metric_inc(o->m_records);
		e->produced++;
	}
	return 0;
}

uint64_t aw_input_emit(struct aw_plugin_ctx *ctx, const struct aw_event *ev, bool *pause)
{
	struct aw_pipeline *p = ctx->p;
	struct pl_track *t = ctx->track;
	struct emit_ctx e = {.in = ctx};
	uint64_t seq = ++t->issued;
	struct aw_error err;

	aw_metric_inc(ctx->m_events);
	if (aw_engine_eval(p->engine, ev, emit_record, &e, &err) < 0) {
		aw_metric_inc(p->m_engine_errors);
		aw_log(AW_LOG_ERR, "pipeline", "engine failed on an event",
		       AW_S("input", ctx->name), AW_S("origin", ev->origin), AW_S("error", err.msg));
	}
	if (e.failed && !t->held) {
		/* This event's records are not all in the spools. Hold the input's
		 * checkpoint before it, so a restart evaluates it again. */
		t->held = seq;
		aw_log(AW_LOG_ERR, "pipeline",
		       "cannot spool an event's records; the input's checkpoint stays before it "
		       "until a restart",
		       AW_S("input", ctx->name), AW_S("origin", ev->origin),
		       AW_S("error", e.err.msg));
	}
	if (e.produced) {
		track_note(t, seq, p->epoch_open);
		p->epoch_used = true;
	}
	if (pause && !*pause && aw_pl_outputs_over_limit(p)) {
		*pause = true;
		if (!ctx->paused) {
			ctx->paused = true;
			aw_metric_set(ctx->m_paused, 1);
			aw_log(AW_LOG_INFO, "pipeline",
			       "input paused: an output's spool is full (pipeline.spool_max_bytes or "
			       "spool_max_age) or failing",
			       AW_S("input", ctx->name));
		}
	} else if (pause && ctx->paused) {
		*pause = true;
	}
	aw_pl_kick(p);
	return seq;
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
	uint64_t now = aw_spool_wall_ms();

	for (struct aw_plugin_ctx *c = p->head; c; c = c->next) {
		if (c->desc->kind != AW_PLUGIN_OUTPUT || !c->ps || c->ps->owner != c)
			continue;
		aw_metric_set(c->m_pend_bytes, (double)aw_spool_bytes(c->spool));
		aw_metric_set(c->m_pend_recs, (double)aw_spool_records(c->spool));
		aw_metric_set(c->m_oldest, aw_spool_oldest_age(c->spool, now));
	}
}

/* --- writing ack positions on the thread pool ------------------------------------------ */

struct pl_ack_item {
	struct pl_spool *ps;        /* held (a reference) until the write is back */
	char *dir;
	uint64_t acked;
	int rc;
	struct aw_error err;
};

struct pl_ackjob {
	uv_work_t req;
	struct aw_pipeline *p;
	struct pl_ack_item *items;
	size_t n;
};

static void spool_unref(struct aw_pipeline *p, struct pl_spool *ps);

static void ack_work(uv_work_t *req)
{
	struct pl_ackjob *j = req->data;

	for (size_t i = 0; i < j->n; i++)
		j->items[i].rc = aw_spool_write_ack(j->items[i].dir, j->items[i].acked,
						    &j->items[i].err);
}

static void ack_done(uv_work_t *req, int status)
{
	struct pl_ackjob *j = req->data;
	struct aw_pipeline *p = j->p;

	p->ackjob = NULL;
	for (size_t i = 0; i < j->n; i++) {
		struct pl_ack_item *it = &j->items[i];
		if (status == 0 && it->rc == 0)
			aw_spool_ack_written(it->ps->s, it->acked);
		else
			aw_log(AW_LOG_WARN, "pipeline",
			       "cannot write an acknowledged position; will retry",
			       AW_S("output", it->ps->name),
			       AW_S("error", status ? uv_strerror(status) : it->err.msg));
		free(it->dir);
		spool_unref(p, it->ps);
	}
	free(j->items);
	free(j);
	if (p->finish_after_jobs)
		pipeline_finish_close(p);
}

/* Write every ack position that moved, off the loop (state files are fsynced). */
static void start_ack_job(struct aw_pipeline *p)
{
	struct pl_ackjob *j;
	size_t n = 0;
	uint64_t acked;

	if (p->ackjob || p->closing)
		return;
	for (struct pl_spool *ps = p->spools; ps; ps = ps->next)
		n += aw_spool_ack_pending(ps->s, &acked);
	if (!n || !(j = calloc(1, sizeof *j)) || !(j->items = calloc(n, sizeof *j->items))) {
		if (n)
			free(j);
		return;
	}
	for (struct pl_spool *ps = p->spools; ps && j->n < n; ps = ps->next) {
		if (!aw_spool_ack_pending(ps->s, &acked))
			continue;
		struct pl_ack_item *it = &j->items[j->n];
		if (!(it->dir = strdup(aw_spool_dir(ps->s))))
			continue;
		it->ps = ps;
		it->acked = acked;
		ps->refs++;
		j->n++;
	}
	j->p = p;
	j->req.data = j;
	p->ackjob = j;
	if (uv_queue_work(p->loop, &j->req, ack_work, ack_done) != 0) {
		ack_work(&j->req);
		ack_done(&j->req, 0);
	}
}

/* Every PL_TICK_MS: ack positions, and age bounds and paused inputs again. */
static void tick_cb(uv_timer_t *h)
{
	struct aw_pipeline *p = h->data;

	start_ack_job(p);
	aw_pl_kick(p);
}

void aw_pl_spool_conf(const struct aw_pipeline *p, struct aw_spool_conf *sc)
{
	const struct aw_pipeline_conf *c = &p->conf;

	*sc = (struct aw_spool_conf){
		.max_bytes = c->spool_max_bytes ? c->spool_max_bytes : c->max_queue_bytes,
		.max_age_ms = c->spool_max_age_ms,
		.segment_bytes = c->spool_segment_bytes,
		.cache_bytes = c->max_queue_bytes,
		.full = c->spool_full,
		.fsync = c->spool_fsync,
	};
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
				     "Records spooled for each output", "output", c->name, NULL);
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
	uv_timer_init(loop, &p->tick);
	p->tick.data = p;
	uv_timer_start(&p->tick, tick_cb, PL_TICK_MS, PL_TICK_MS);
	uv_unref((uv_handle_t *)&p->tick);
	p->handles_open = 2;
	p->epoch_open = 1;
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
	struct aw_spool_conf sc;

	p->conf = *conf;
	aw_pl_spool_conf(p, &sc);
	for (struct pl_spool *ps = p->spools; ps; ps = ps->next)
		aw_spool_set_conf(ps->s, &sc);
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

/* The spool of output `c`: shared with a same-named instance still closing (it stays
 * the owner until it has), else opened. */
static int spool_acquire(struct aw_plugin_ctx *c, struct aw_error *err)
{
	struct aw_pipeline *p = c->p;
	struct pl_spool *ps;
	struct aw_spool_conf sc;
	char *dir;
	int rc;

	for (ps = p->spools; ps; ps = ps->next)
		if (strcmp(ps->name, c->name) == 0)
			break;
	if (!ps) {
		ps = calloc(1, sizeof *ps);
		if (!ps || !(ps->name = strdup(c->name)) ||
		    asprintf(&dir, "%s/%s", c->state_dir, AW_SPOOL_SUBDIR) < 0) {
			if (ps)
				free(ps->name);
			free(ps);
			return aw_error_set(err, "%s: out of memory", c->name);
		}
		aw_pl_spool_conf(p, &sc);
		rc = aw_spool_open(dir, c->name, &sc, p->metrics, &ps->s, err);
		free(dir);
		if (rc != 0) {
			free(ps->name);
			free(ps);
			return -1;
		}
		ps->next = p->spools;
		p->spools = ps;
	}
	ps->refs++;
	if (!ps->owner)
		ps->owner = c;
	c->ps = ps;
	c->spool = ps->s;
	return 0;
}

/* Output c is gone: hand its spool to the same-named instance that replaced it, or
 * close it (flush, sync, ack position) when c was the last. */
static void spool_release(struct aw_plugin_ctx *c)
{
	struct aw_pipeline *p = c->p;
	struct pl_spool *ps = c->ps;

	if (!ps)
		return;
	c->ps = NULL;
	c->spool = NULL;
	if (ps->owner == c) {
		ps->owner = NULL;
		for (struct aw_plugin_ctx *o = p->head; o; o = o->next)
			if (o != c && o->ps == ps && o->phase != PL_CLOSING && !o->retiring) {
				ps->owner = o;
				break;
			}
	}
	spool_unref(p, ps);
}

static void spool_unref(struct aw_pipeline *p, struct pl_spool *ps)
{
	struct pl_spool **pp;
	struct aw_error err;

	if (--ps->refs > 0) {
		aw_pl_kick(p);
		return;
	}
	if (aw_spool_close(ps->s, &err) != 0) {
		p->epoch_failed = true;
		aw_log(AW_LOG_ERR, "pipeline", "closing an output's spool failed",
		       AW_S("output", ps->name), AW_S("error", err.msg));
	}
	for (pp = &p->spools; *pp; pp = &(*pp)->next)
		if (*pp == ps) {
			*pp = ps->next;
			break;
		}
	aw_spool_free(ps->s);
	free(ps->name);
	free(ps);
}

static void ctx_free(struct aw_plugin_ctx *c)
{
	if (c->owned_conf) {
		aw_options_free(c->desc->options, c->owned_conf);
		free(c->owned_conf);
	}
	spool_release(c);
	free(c->track);
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
	if (c->desc->kind == AW_PLUGIN_OUTPUT && spool_acquire(c, err) != 0) {
		ctx_free(c);
		return aw_error_prefix(err, "%s %s", kind, ic->name);
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
	/* What the output never delivered stays in its spool for the next start (or the
	 * instance that replaces it on reload). */
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

static void retire_deadline_cb(uv_timer_t *t)
{
	struct aw_plugin_ctx *c = t->data;

	aw_log(AW_LOG_WARN, "pipeline",
	       "removed output did not answer its batch in time; its replacement (or the next "
	       "start) sends it again",
	       AW_S("output", c->name));
	ctx_begin_close(c);
	aw_pl_kick(c->p);
}

void aw_pipeline_remove(struct aw_plugin_ctx *ctx, void *owned_conf)
{
	ctx->owned_conf = owned_conf;
	ctx->ic = NULL;
	aw_log(AW_LOG_INFO, "pipeline", "removing instance", AW_S("name", ctx->name));
	if (ctx->desc->kind == AW_PLUGIN_OUTPUT && ctx->phase == PL_RUNNING &&
	    (ctx->inflight || ctx->done_pending)) {
		/* Let the batch it has out be answered first (bounded), so what it delivered
		 * is acknowledged rather than sent again by its replacement. */
		ctx->retiring = true;
		ctx->phase = PL_STOPPED;
		ctx->waiting_retry = false;
		uv_timer_stop(&ctx->retry_timer);
		uv_timer_start(&ctx->retry_timer, retire_deadline_cb, PL_RETIRE_MS, 0);
		return;
	}
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
	struct aw_error err;

	for (struct aw_plugin_ctx *c = p->head; c; c = c->next)
		if (c->desc->kind == AW_PLUGIN_OUTPUT && c->desc->reopen && !c->retiring)
			c->desc->reopen(c->state);
	/* Batches put back by `aiwatchd dead-letter replay`. */
	for (struct pl_spool *ps = p->spools; ps; ps = ps->next)
		if (aw_spool_import(ps->s, &err) < 0)
			aw_log(AW_LOG_ERR, "pipeline", "cannot import replayed dead-letter batches",
			       AW_S("output", ps->name), AW_S("error", err.msg));
	aw_pl_kick(p);
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
	/* Nothing undelivered, and every event already reported durable. */
	if (p->epoch_used || p->sync)
		return false;
	for (const struct pl_spool *ps = p->spools; ps; ps = ps->next)
		if (aw_spool_records(ps->s))
			return false;
	return true;
}

size_t aw_pipeline_pending(const struct aw_pipeline *p)
{
	size_t n = 0;

	for (const struct pl_spool *ps = p->spools; ps; ps = ps->next)
		n += (size_t)aw_spool_records(ps->s);
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
	uint64_t now = aw_spool_wall_ms();

	for (struct aw_plugin_ctx *c = p->head; c; c = c->next) {
		char reason[200] = "";
		if (c->retiring)
			continue;
		if (c->phase != PL_RUNNING) {
			snprintf(why, whysz, "%s is not running", c->name);
			return 0;
		}
		if (c->desc->kind == AW_PLUGIN_OUTPUT && aw_pl_output_full(p, c, now)) {
			snprintf(why, whysz, "%s: spool %s", c->name,
				 aw_spool_failing(c->spool, now) ? "cannot be written"
								 : "is full");
			return 0;
		}
		if (c->desc->ready && !c->desc->ready(c->state, reason, sizeof reason)) {
			snprintf(why, whysz, "%s: %s", c->name, reason);
			return 0;
		}
	}
	return 1;
}

static void handle_closed(uv_handle_t *h)
{
	struct aw_pipeline *p = h->data;
	void (*done)(void *) = p->done_fn;
	void *ud = p->done_ud;

	if (--p->handles_open > 0)
		return;
	aw_metrics_remove_collector(p->metrics, collect, p);
	free(p->state_dir);
	free(p);
	if (done)
		done(ud);
}

static void pipeline_finish_close(struct aw_pipeline *p)
{
	if (p->sync || p->ackjob) {
		/* their callbacks come back here; p must live until then */
		p->finish_after_jobs = true;
		return;
	}
	p->finish_after_jobs = false;
	p->idle_live = false;
	uv_idle_stop(&p->idle);
	uv_timer_stop(&p->tick);
	uv_close((uv_handle_t *)&p->idle, handle_closed);
	uv_close((uv_handle_t *)&p->tick, handle_closed);
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
